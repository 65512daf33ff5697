"""Issue 19: switching from the original conduktor/streamt, the plan says what differs from
what the original deployed and why (text and --format json), on recorded live states: the
Kafka admin answers and the Flink job list as the services gave them after the original's
deploy."""
import json

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
