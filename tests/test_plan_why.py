"""Issue 19: switching from the original conduktor/streamt, the plan says what differs from
what the original deployed and why (text and --format json), on recorded live states: the
Kafka admin answers and the Flink job list as the services gave them after the original's
deploy."""
import json
import time
import uuid

import pytest

import streamt
from tests._projects import write_files

PROJECT = """
project:
  name: shop
runtime:
  kafka:
    bootstrap_servers: kafka:9092
  schema_registry:
    url: http://sr:8081
  flink:
    default: local
    clusters:
      local:
        rest_url: http://flink:8081
        sql_gateway_url: http://flink:8083
defaults:
  topic:
    partitions: 3
    replication_factor: 1
sources:
  - name: orders
    topic: shop.orders
    schema:
      format: %s
    columns:
      - name: order_id
        type: STRING
      - name: customer_id
        type: STRING
      - name: amount
        type: DOUBLE
models:
  - name: totals
    materialized: flink
    sql: |
      SELECT customer_id, SUM(amount) AS total, COUNT(*) AS n
      FROM {{ source("orders") }}
      GROUP BY customer_id
    advanced:
      topic:
        name: shop.totals
  - name: clean
    materialized: flink
    sql: |
      SELECT order_id, customer_id, amount FROM {{ source("orders") }} WHERE amount > 0
    advanced:
      topic:
        name: shop.clean
"""


def desired_state(tmp_path, fmt="json"):
    root = write_files(tmp_path, {"stream_project.yml": PROJECT % fmt})
    return streamt.compile_project(streamt.load_project(root))


class RecordedAdmin(object):
    """KafkaAdmin's answers as the broker gave them: topics the original created with
    the project's config only (no cleanup.policy: the broker's default, delete)."""

    def __init__(self, topics):
        self.topics = topics

    def cluster(self):
        return {"cluster_id": "rec"}

    def list_topics(self):
        return sorted(self.topics)

    def describe_topics(self, names):
        return dict((n, {"partitions": self.topics[n][0], "replication_factor": 1})
                    for n in names if n in self.topics)

    def describe_configs(self, names):
        return dict((n, dict((k, {"value": v, "source": "DYNAMIC_TOPIC_CONFIG",
                                  "is_default": False, "sensitive": False})
                             for k, v in self.topics[n][1].items()))
                    for n in names if n in self.topics)

    def close(self):
        pass


class RecordedFlink(streamt.FlinkTarget):
    """FlinkTarget.observe's answer as recorded (the plan logic is the real one)."""

    def __init__(self, previous=(), state="RUNNING"):
        self.clusters = {}
        self.state = {"jobs": {"local": []}, "slots": {},
                      "previous": {"local": [dict(id=i, name=n, state=state, start=k)
                                             for k, (i, n) in enumerate(previous)]}}

    def hosts(self):
        return ["flink:8081"]

    def observe(self, items, policy):
        return self.state


def plan_of(desired, topics, previous=(), state="RUNNING"):
    runtime = desired["environment"]["runtime"]
    targets = {"topic": streamt.KafkaTarget(runtime, admin=RecordedAdmin(topics)),
               "flink_job": RecordedFlink(previous, state)}
    desired = dict(desired, schemas=[], connectors=[], gateway=[])
    return streamt.plan_deploy(desired, runtime, streamt.PlanPolicy("shop"), targets=targets)


def change(plan, kind, name):
    (c,) = [c for c in plan.changes if (c.kind, c.name) == (kind, name)]
    return c


def test_an_updating_query_the_original_could_not_run_says_why_the_sink_and_topic_change(
        tmp_path):
    # The original wrote `totals` (a GROUP BY: an updating query) into a plain 'kafka'
    # sink: Flink refused the INSERT, so no job of it runs; its topic exists, created
    # with the project's config only.
    plan = plan_of(desired_state(tmp_path), {"shop.orders": (3, {}), "shop.totals": (3, {}),
                                             "shop.clean": (3, {})})
    topic = change(plan, "topic", "shop.totals")
    assert topic.action == "update"
    assert topic.changes["config.cleanup.policy"] == (None, "compact")
    (why,) = topic.why
    assert why.startswith("config.cleanup.policy -> compact: ")
    assert "updating" in why and "(customer_id)" in why

    job = change(plan, "flink_job", "totals")
    assert job.action == "create"
    (why,) = job.why
    assert why.startswith("sink: ")
    assert "plain 'kafka' sink" in why and "refuses" in why
    assert "'upsert-kafka' keyed by (customer_id)" in why

    # the text plan shows each reason under its change, the JSON plan carries them
    text = plan.render()
    assert "    # why: sink: the original streamt" in text
    assert "    # why: config.cleanup.policy -> compact" in text
    out = json.loads(streamt.canonical_json(plan.to_json()))
    by_ref = dict(((c["kind"], c["name"]), c) for c in out["changes"])
    assert by_ref[("flink_job", "totals")]["why"] == job.why
    assert by_ref[("topic", "shop.totals")]["why"] == topic.why
    # what follows from the project alone has no "why"
    assert by_ref[("topic", "shop.clean")]["why"] == []
    assert by_ref[("flink_job", "clean")]["why"] == []


def test_a_topic_streamt_made_itself_and_a_job_it_never_ran_say_nothing_of_the_switch(
        tmp_path):
    # an earlier streamt apply created the topics (compacted) and stopped before Flink
    plan = plan_of(desired_state(tmp_path), {"shop.orders": (3, {}), "shop.clean": (3, {}),
                                             "shop.totals": (3, {"cleanup.policy": "compact"})})
    assert change(plan, "topic", "shop.totals").action == "unchanged"
    job = change(plan, "flink_job", "totals")
    assert job.action == "create" and job.why == []
    assert "# why" not in plan.render()


def test_an_adopted_job_says_it_reads_an_avro_source_as_avro_now(tmp_path):
    # the original read every topic as 'json', whatever the source's schema format: its
    # job for `clean` (a filter, not updating) fails on each Avro record and restarts (an
    # active state: it is adopted); ours reads the source through the Schema Registry
    desired = desired_state(tmp_path, fmt="avro")
    original = "insert-into_default_catalog.default_database.shop_clean_sink"
    plan = plan_of(desired, {"shop.orders": (3, {}), "shop.clean": (3, {}),
                             "shop.totals": (3, {})}, previous=[("9", original)],
                   state="RESTARTING")
    job = change(plan, "flink_job", "clean")
    assert job.changes["adopted"] == (original, "streamt.shop.clean")
    (why,) = job.why
    assert why.startswith("format: the original streamt read shop.orders as 'json'")
    assert why.endswith("streamt reads it as 'avro-confluent'")
    assert "# why: format: " in plan.render()


def test_an_adopted_job_whose_sink_is_the_same_has_no_why(tmp_path):
    original = "insert-into_default_catalog.default_database.shop_clean_sink"
    plan = plan_of(desired_state(tmp_path), {"shop.orders": (3, {}), "shop.clean": (3, {}),
                                             "shop.totals": (3, {})}, previous=[("9", original)])
    job = change(plan, "flink_job", "clean")
    assert "adopted" in job.changes and job.why == []


# -- on the real Kafka and Flink -------------------------------------------------------

def run_like_the_original(flink, statements):
    """As conduktor/streamt submits (one SQL Gateway session, each statement polled):
    the status and, for an ERROR, Flink's message, of each statement."""
    gw = streamt.HttpClient(flink.gateway_url)
    session = gw.request("POST", "/v1/sessions", body={}, idempotent=False).json()["sessionHandle"]
    out = []
    for stmt in statements:
        op = gw.request("POST", "/v1/sessions/%s/statements" % session,
                        body={"statement": stmt}, idempotent=False).json()["operationHandle"]
        base = "/v1/sessions/%s/operations/%s" % (session, op)
        end = time.time() + 60
        while gw.get_json(base + "/status")["status"] not in ("FINISHED", "ERROR"):
            assert time.time() < end, stmt
            time.sleep(0.3)
        status = gw.get_json(base + "/status")["status"]
        text = ""
        if status == "ERROR":
            text = gw.request("GET", base + "/result/0", expect=(200, 400, 500)).text
        out.append((status, text))
    gw.request("DELETE", "/v1/sessions/%s" % session, expect=(200, 404))
    return out


@pytest.mark.services
def test_the_switch_of_an_updating_query_on_the_real_kafka_and_flink(kafka, flink, tmp_path):
    from tests.test_flink_acceptance import consume, create_topics, produce
    tag = uuid.uuid4().hex[:8]
    project, prefix = "p" + tag, "w%s." % tag
    text = (PROJECT % "json").replace("shop.", prefix).replace(
        "name: shop\n", "name: %s\n" % project).replace("kafka:9092", kafka.bootstrap).replace(
        "http://flink:8081", flink.rest_url).replace("http://flink:8083", flink.gateway_url)
    root = write_files(tmp_path, {"stream_project.yml": text})
    desired = streamt.compile_project(streamt.load_project(root))
    desired = dict(desired, schemas=[], connectors=[], gateway=[],
                   topics=[t for t in desired["topics"] if t["model"] == "totals"],
                   flink_jobs=[j for j in desired["flink_jobs"] if j["model"] == "totals"])
    src, out = prefix + "orders", prefix + "totals"

    # the original's deploy: the topics with the project's config only, then its SQL
    # (reference: source and sink tables in 'json', the sink a plain 'kafka' one)
    create_topics(kafka.bootstrap, [src, out])
    produce(kafka.bootstrap, src, [{"order_id": "o%d" % i, "customer_id": "c%d" % (i % 2),
                                    "amount": 1.0} for i in range(6)])
    sink = out.replace(".", "_") + "_sink"
    common = ("'connector' = 'kafka', 'properties.bootstrap.servers' = '%s', 'format' = 'json'"
              % flink.kafka_bootstrap)
    results = run_like_the_original(flink, [
        "CREATE TABLE IF NOT EXISTS orders_%s (`order_id` STRING, `customer_id` STRING, "
        "`amount` DOUBLE) WITH (%s, 'topic' = '%s', 'scan.startup.mode' = 'earliest-offset')"
        % (tag, common, src),
        "CREATE TABLE IF NOT EXISTS %s (`customer_id` STRING, `total` DOUBLE, `n` BIGINT) "
        "WITH (%s, 'topic' = '%s')" % (sink, common, out),
        "INSERT INTO %s SELECT customer_id, SUM(amount) AS total, COUNT(*) AS n FROM "
        "orders_%s GROUP BY customer_id" % (sink, tag)])
    assert [s for s, _ in results] == ["FINISHED", "FINISHED", "ERROR"], results
    assert "doesn't support consuming update changes" in results[2][1]

    runtime = desired["environment"]["runtime"]
    policy = streamt.PlanPolicy(project)
    plan = streamt.plan_deploy(desired, runtime, policy)
    topic = change(plan, "topic", out)
    assert topic.changes["config.cleanup.policy"] == (None, "compact")
    assert topic.why and "(customer_id)" in topic.why[0]
    job = change(plan, "flink_job", "totals")
    assert job.action == "create", job.notes
    assert len(job.why) == 1 and "'upsert-kafka' keyed by (customer_id)" in job.why[0]
    assert "# why: sink: the original streamt wrote this updating query" in plan.render()

    rest = streamt.HttpClient(flink.rest_url)
    try:
        streamt.apply_plan(plan)
        # streamt's job runs where the original's could not: one row per customer, keyed
        rows = consume(kafka.bootstrap, out, lambda rs: {(k or {}).get("customer_id") for k, v
                                                         in rs if v and v["n"] == 3}
                       == {"c0", "c1"})
        assert all(k for k, _v in rows)
        again = streamt.plan_deploy(desired, runtime, policy)
        assert [(c.action, c.why) for c in again.changes] == [("unchanged", [])] * 2
    finally:
        for j in rest.get_json("/jobs/overview")["jobs"]:
            if j["state"] == "RUNNING" and j["name"].startswith("streamt.%s." % project):
                rest.request("PATCH", "/jobs/%s" % j["jid"], query={"mode": "cancel"},
                             expect=(202, 404))
