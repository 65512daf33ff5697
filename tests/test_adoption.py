"""Issue 19: the first `streamt apply` against services the original conduktor/streamt has
been deploying to adopts what it finds there (its Flink jobs, topics, connectors and
continuous-test jobs) instead of starting a second copy.  The original's side is played
as it does it (reference: streamt-format.md, "Deployment"): its SQL shape, one shared SQL
Gateway session, no pipeline.name, its topics created with their config, its connectors
PUT under their names without our ownership key."""
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

import streamt
from tests._projects import write_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, **kw):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("STREAMT_"))
    env.update(kw.pop("env", None) or {})
    return subprocess.run([sys.executable, os.path.join(ROOT, "streamt.py")] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          universal_newlines=True, env=env, timeout=600)


def submit_like_the_original(flink, statements):
    """As conduktor/streamt submits: one SQL Gateway session, no pipeline.name, each
    statement polled until FINISHED; Flink names the INSERT job after its sink table."""
    gw = streamt.HttpClient(flink.gateway_url)
    session = gw.request("POST", "/v1/sessions", body={}, idempotent=False).json()["sessionHandle"]
    for stmt in statements:
        op = gw.request("POST", "/v1/sessions/%s/statements" % session,
                        body={"statement": stmt}, idempotent=False).json()["operationHandle"]
        base = "/v1/sessions/%s/operations/%s" % (session, op)
        end = time.time() + 60
        while gw.get_json(base + "/status")["status"] not in ("FINISHED", "ERROR"):
            assert time.time() < end, stmt
            time.sleep(0.3)
        assert gw.get_json(base + "/status")["status"] == "FINISHED", stmt


def wait_running(flink, name, timeout=60):
    """The job named ``name`` RUNNING with all its tasks (a savepoint needs them)."""
    rest = streamt.HttpClient(flink.rest_url)
    end = time.time() + timeout
    while True:
        for j in rest.get_json("/jobs/overview")["jobs"]:
            if j["name"] == name and j["state"] == "RUNNING":
                vs = rest.get_json("/jobs/%s" % j["jid"])["vertices"]
                if all(v["status"] == "RUNNING" for v in vs):
                    return j
        assert time.time() < end, "job %s did not start" % name
        time.sleep(0.5)


def running_jobs(flink):
    rest = streamt.HttpClient(flink.rest_url)
    return [j for j in rest.get_json("/jobs/overview")["jobs"] if j["state"] == "RUNNING"]


def cancel_jobs(flink, match):
    """The test cluster's task slots are few: cancel this test's jobs whatever happened."""
    rest = streamt.HttpClient(flink.rest_url)
    for j in running_jobs(flink):
        if match(j["name"]):
            rest.request("PATCH", "/jobs/%s" % j["jid"], query={"mode": "cancel"},
                         expect=(202, 404))


def original_create_topic(bootstrap, name, partitions, config):
    """As the original's KafkaDeployer: create_topics(NewTopic(name, partitions, rf, config))."""
    admin = streamt.KafkaAdmin({"bootstrap_servers": bootstrap})
    try:
        admin.create_topics([{"name": name, "partitions": partitions, "replication_factor": 1,
                              "config": config}])
        end = time.time() + 30
        while name not in admin.describe_topics([name]):
            assert time.time() < end
            time.sleep(0.2)
    finally:
        admin.close()


def produce(bootstrap, topic, records):
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=bootstrap)
    for r in records:
        p.send(topic, json.dumps(r).encode())
    p.flush()
    p.close()


def consume(bootstrap, topic, until, timeout=90):
    """The values of a topic, read from the start until ``until(values)``."""
    from kafka import KafkaConsumer
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      enable_auto_commit=False, group_id="t-" + uuid.uuid4().hex,
                      consumer_timeout_ms=1000)
    out = []
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            out.extend(json.loads(m.value) for m in c)
            if until(out):
                return out
    finally:
        c.close()
    raise AssertionError("%s: condition not met; read %r" % (topic, out[-20:]))


# -- a windowed count the original has been running: adopted by our first apply ----------

WINDOW_PROJECT = """\
project:
  name: %(project)s
sources:
  - name: clicks
    topic: %(project)s.clicks
    columns:
      - name: user_id
        type: STRING
      - name: ts
        type: TIMESTAMP(3)
    event_time:
      column: ts
      watermark:
        max_out_of_orderness_ms: 1000
models:
  - name: clicks_per_window
    materialized: flink
    advanced:
      topic:
        name: %(project)s.clicks_per_window
        partitions: 1
        replication_factor: 1
        config:
          retention.ms: 86400000
    sql: |
      SELECT window_start, window_end, COUNT(*) AS clicks
      FROM TABLE(TUMBLE(TABLE {{ source("clicks") }}, DESCRIPTOR(ts), INTERVAL '10' SECOND))
      GROUP BY window_start, window_end
"""

ENVIRONMENT = """\
environment:
  name: stage
runtime:
  kafka:
    bootstrap_servers: ${KAFKA_BOOTSTRAP}
  flink:
    default: local
    clusters:
      local:
        rest_url: ${FLINK_REST_URL}
        sql_gateway_url: ${FLINK_SQL_GATEWAY_URL}
"""


def the_originals_window_job(flink, project):
    """The statements the original compiles for clicks_per_window (§3.3 of the reference:
    CREATE TABLE IF NOT EXISTS, source alias = source name, sink table = topic with '.'
    made '_' plus _sink, 'format' = 'json', no group id, no pipeline.name)."""
    kafka = "'properties.bootstrap.servers' = '%s'" % flink.kafka_bootstrap
    sink = "%s_clicks_per_window_sink" % project
    return sink, [
        "CREATE TABLE IF NOT EXISTS clicks (\n    `user_id` STRING,\n    `ts` TIMESTAMP(3),\n"
        "    WATERMARK FOR `ts` AS `ts` - INTERVAL '1' SECOND\n) WITH (\n"
        "    'connector' = 'kafka',\n    'topic' = '%s.clicks',\n    %s,\n"
        "    'scan.startup.mode' = 'earliest-offset',\n    'format' = 'json'\n)" % (project, kafka),
        "CREATE TABLE IF NOT EXISTS %s (\n    `window_start` TIMESTAMP(3),\n"
        "    `window_end` TIMESTAMP(3),\n    `clicks` BIGINT\n) WITH (\n"
        "    'connector' = 'kafka',\n    'topic' = '%s.clicks_per_window',\n    %s,\n"
        "    'format' = 'json'\n)" % (sink, project, kafka),
        "INSERT INTO %s\nSELECT window_start, window_end, COUNT(*) AS clicks\n"
        "FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '10' SECOND))\n"
        "GROUP BY window_start, window_end" % sink]


def click(second):
    return {"user_id": "u%d" % second, "ts": "2026-01-01 00:00:%02d" % second}


@pytest.mark.services
@pytest.mark.slow
def test_first_apply_adopts_the_originals_windowed_job_and_its_state(kafka, flink, tmp_path):
    project = "a" + uuid.uuid4().hex[:8]
    root = write_files(tmp_path / project, {
        "stream_project.yml": WINDOW_PROJECT % {"project": project},
        "environments/stage.yml": ENVIRONMENT})
    env = {"KAFKA_BOOTSTRAP": kafka.bootstrap, "FLINK_REST_URL": flink.rest_url,
           "FLINK_SQL_GATEWAY_URL": flink.gateway_url}
    out = project + ".clicks_per_window"
    sink, statements = the_originals_window_job(flink, project)
    original = "insert-into_default_catalog.default_database." + sink
    try:
        # what the original's `apply` left running: its topics, its job, a window emitted
        # (00:00:00-10: 3 clicks) and the next one half counted (00:00:10-20: 2 so far)
        original_create_topic(kafka.bootstrap, project + ".clicks", 1, {})
        original_create_topic(kafka.bootstrap, out, 1, {"retention.ms": "86400000"})
        produce(kafka.bootstrap, project + ".clicks", [click(s) for s in (1, 3, 5, 10, 12)])
        submit_like_the_original(flink, statements)
        old = wait_running(flink, original)
        assert consume(kafka.bootstrap, out, lambda vs: len(vs) >= 1) == [
            {"window_start": "2026-01-01 00:00:00", "window_end": "2026-01-01 00:00:10",
             "clicks": 3}]

        r = cli("plan", "-p", root, "-e", "stage", env=env)
        assert r.returncode == 0, r.stderr
        assert "~ flink_job clicks_per_window" in r.stdout, r.stdout
        assert "adopted from the previous tool" in r.stdout, r.stdout
        # its topic, the same config: unchanged, and adopted with the job that writes it
        r = cli("plan", "-p", root, "-e", "stage", "--format", "json", env=env)
        (topic,) = [c for c in json.loads(r.stdout)["plan"]["changes"] if c["kind"] == "topic"]
        assert topic["action"] == "unchanged", topic
        assert [n for n in topic["notes"] if "adopted from the previous tool" in n] == [
            "adopted from the previous tool (the original streamt): its job %r writes this "
            "topic; compared with the project and changed in place, never recreated" % original]

        r = cli("apply", "-p", root, "-e", "stage", "--confirm", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "adopted from the previous tool" in r.stdout, r.stdout
        assert "restored from the savepoint" in r.stdout, r.stdout

        # one job for the model, ours, restored from the original's savepoint
        rest = streamt.HttpClient(flink.rest_url)
        states = [j["state"] for j in rest.get_json("/jobs/overview")["jobs"]
                  if j["jid"] == old["jid"]]
        assert states == ["FINISHED"]             # stopped with a savepoint, not cancelled
        mine = [j for j in running_jobs(flink) if project in j["name"] or j["name"] == original]
        assert [j["name"].split(" [")[0] for j in mine] == [
            "streamt.%s.clicks_per_window" % project], mine
        restored = rest.get_json("/jobs/%s/checkpoints" % mine[0]["jid"])["latest"]["restored"]
        assert restored["is_savepoint"] is True

        # the half-counted window goes on from 2: 2 + 2 more = 4, and the window the
        # original emitted is not emitted again
        produce(kafka.bootstrap, project + ".clicks", [click(s) for s in (15, 17, 31)])
        consume(kafka.bootstrap, out, lambda vs: len(vs) >= 2)
        time.sleep(3)    # a duplicate would come late: read again after a while
        rows = consume(kafka.bootstrap, out, lambda vs: len(vs) >= 2)
        assert [(v["window_start"][-8:], v["clicks"]) for v in rows] == [
            ("00:00:00", 3), ("00:00:10", 4)]

        # a second run changes nothing
        r = cli("plan", "-p", root, "-e", "stage", "--detailed-exitcode", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        r = cli("apply", "-p", root, "-e", "stage", "--confirm", "--format", "json", env=env)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["result"]["mutating_calls"] == 0
        assert len([j for j in running_jobs(flink) if project in j["name"]]) == 1
    finally:
        cancel_jobs(flink, lambda n: project in n or n == original)


# -- the plan logic on recorded live states (no service) --------------------------------

class Bare(streamt.FlinkTarget):
    """The plan logic only: no cluster (plan() is pure)."""

    def __init__(self):
        self.clusters = {}


def continuous_job(test="orders_quality", fp="a" * 64):
    """A continuous test's job as the artifact lists it (kind "test", "model" = the test)."""
    return {"name": "test_" + test, "model": test, "kind": "test", "cluster": "local",
            "pipeline_name": "streamt.shop.test." + test, "fingerprint": "sha256:" + fp,
            "on_upgrade": "savepoint", "sql": ""}


def recorded(ours=(), previous=()):
    """What FlinkTarget.observe returns: our jobs (by marker), the unmarked running ones."""
    return {"jobs": {"local": [dict(id=i, pipeline_name=n, fp=fp, state=st, start=k, end=0)
                               for k, (i, n, fp, st) in enumerate(ours)]},
            "previous": {"local": [dict(id=i, name=n, state="RUNNING", start=k)
                                   for k, (i, n) in enumerate(previous)]}}


ORIGINAL_TEST_JOB = "insert-into_default_catalog.default_database.test_failures_orders_quality"


def test_the_originals_continuous_test_job_is_cancelled_and_ours_started():
    (c,) = Bare().plan([continuous_job()], recorded(previous=[("t1", ORIGINAL_TEST_JOB),
                                                        ("x", "insert-into_default_catalog."
                                                              "default_database.other_sink")]),
                       streamt.PlanPolicy("shop"))
    # no savepoint of a test job: cancelled, ours submitted fresh; the other job is left
    assert c.action == "create" and c.data["cancel"] == ["t1"] and not c.data["stop"]
    assert c.changes["adopted"] == (ORIGINAL_TEST_JOB, "streamt.shop.test.orders_quality")
    (note,) = c.notes
    assert note.startswith("adopted from the previous tool") and "'%s'" % ORIGINAL_TEST_JOB in note
    assert "no state worth a savepoint" in note
    # the name its artifact gives the job is recognised too, whatever on_upgrade says
    j = dict(continuous_job(), on_upgrade="refuse")
    (c,) = Bare().plan([j], recorded(previous=[("t2", "test_orders_quality")]),
                       streamt.PlanPolicy("shop"))
    assert c.mutating and c.data["cancel"] == ["t2"]


def test_ours_running_beside_the_originals_test_job_cancels_it_only():
    fp = "a" * 16
    (c,) = Bare().plan([continuous_job()], recorded(
        ours=[("1", "streamt.shop.test.orders_quality", fp, "RUNNING")],
        previous=[("t1", ORIGINAL_TEST_JOB)]), streamt.PlanPolicy("shop"))
    assert c.action == "update" and c.data["cancel"] == ["t1"] and not c.data["stop"]
    # a model called like the test is not the test's job, and the reverse
    model = {"name": "orders_quality", "model": "orders_quality", "kind": "model",
             "cluster": "local", "pipeline_name": "streamt.shop.orders_quality",
             "fingerprint": "sha256:" + "a" * 64, "on_upgrade": "savepoint", "sql": ""}
    (c,) = Bare().plan([model], recorded(previous=[("t1", ORIGINAL_TEST_JOB)]),
                       streamt.PlanPolicy("shop"))
    assert c.action == "create" and not c.data["cancel"]


def test_a_topic_written_by_an_adopted_job_says_it_is_adopted():
    t = Bare()
    t.model_topics = {"clean": ["orders.clean"]}
    job = {"name": "clean", "model": "clean", "kind": "model", "cluster": "local",
           "pipeline_name": "streamt.shop.clean", "fingerprint": "sha256:" + "a" * 64,
           "on_upgrade": "savepoint", "sql": ""}
    original = "insert-into_default_catalog.default_database.orders_clean_sink"
    changes = [streamt.Change("topic", "orders.clean", "unchanged"),
               streamt.Change("topic", "orders.other", "unchanged")]
    changes += t.plan([job], recorded(previous=[("9", original)]), streamt.PlanPolicy("shop"))
    streamt.FlinkTarget.note_adopted_topics(changes, t.model_topics)
    assert changes[0].notes == [
        "adopted from the previous tool (the original streamt): its job %r writes this topic; "
        "compared with the project and changed in place, never recreated" % original]
    assert changes[1].notes == []


# -- its topic and connector: compared and changed in place ------------------------------

SINK_PROJECT = """\
project:
  name: %(project)s
models:
  - name: events
    materialized: topic
    advanced:
      topic:
        name: %(project)s.events
        partitions: 1
        replication_factor: 1
        config:
          retention.ms: 86400000
  - name: %(project)s_archive
    from:
      - ref: events
    sink:
      connector: org.apache.kafka.connect.file.FileStreamSinkConnector
      config:
        file: ${ARCHIVE_FILE}
        tasks.max: "1"
"""

CONNECT_ENVIRONMENT = """\
environment:
  name: stage
runtime:
  kafka:
    bootstrap_servers: ${KAFKA_BOOTSTRAP}
  connect:
    default: local
    clusters:
      local:
        rest_url: ${CONNECT_URL}
"""


def archived_ids(path):
    """The ids the FileStream sink wrote, one line per record ({id=3})."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [int(line.strip()[4:-1]) for line in f if line.strip()]


def wait_archived(path, n, timeout=60):
    end = time.time() + timeout
    while len(archived_ids(path)) < n:
        assert time.time() < end, archived_ids(path)
        time.sleep(0.5)


@pytest.mark.services
def test_first_apply_adopts_the_originals_topic_and_connector_in_place(kafka, connect,
                                                                       tmp_path):
    project = "c" + uuid.uuid4().hex[:8]
    topic, name = project + ".events", project + "_archive"
    archive = os.path.join(connect.work_dir, project + ".txt")
    root = write_files(tmp_path / project, {
        "stream_project.yml": SINK_PROJECT % {"project": project},
        "environments/stage.yml": CONNECT_ENVIRONMENT})
    env = {"KAFKA_BOOTSTRAP": kafka.bootstrap, "CONNECT_URL": connect.url,
           "ARCHIVE_FILE": archive}
    http = streamt.HttpClient(connect.url)
    try:
        # what the original left: the topic, created when the project kept 1 hour, and
        # its connector, POSTed with the artifact's config (no streamt.project key)
        original_create_topic(kafka.bootstrap, topic, 1, {"retention.ms": "3600000"})
        produce(kafka.bootstrap, topic, [{"id": i} for i in range(5)])
        http.request("POST", "/connectors", body={"name": name, "config": {
            "name": name, "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "topics": topic, "file": archive, "tasks.max": "1"}}, expect=(201,),
            idempotent=False)
        wait_archived(archive, 5)
        time.sleep(3)    # its offsets committed (offset.flush.interval.ms = 1 s)

        r = cli("plan", "-p", root, "-e", "stage", "--format", "json", env=env)
        assert r.returncode == 0, r.stderr
        changes = dict((c["kind"], c) for c in json.loads(r.stdout)["plan"]["changes"])
        assert sorted(changes) == ["connector", "topic"]
        assert changes["topic"]["action"] == "update"       # in place, not created again
        assert changes["topic"]["changes"] == {
            "config.retention.ms": {"old": "3600000", "new": "86400000"}}
        conn = changes["connector"]
        assert conn["action"] == "update" and not conn["destructive"], conn
        assert conn["changes"]["streamt.project"] == {"old": None, "new": project}
        assert any(n.startswith("adopted from the previous tool") and "never deleted" in n
                   for n in conn["notes"]), conn["notes"]
        r = cli("plan", "-p", root, "-e", "stage", env=env)
        assert "~ connector %s\n" % name in r.stdout and \
            "adopted from the previous tool" in r.stdout, r.stdout

        r = cli("apply", "-p", root, "-e", "stage", "--confirm", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "adopted from the previous tool" in r.stdout, r.stdout
        cfg = http.get_json("/connectors/%s/config" % name)
        assert cfg["streamt.project"] == project and cfg["file"] == archive

        # the same connector goes on where the original's stopped: no record again, none lost
        produce(kafka.bootstrap, topic, [{"id": i} for i in range(5, 10)])
        wait_archived(archive, 10)
        time.sleep(3)    # a duplicate would come late
        assert archived_ids(archive) == list(range(10))
        # and the same topic: its first records are still there, with the new retention
        assert [v["id"] for v in consume(kafka.bootstrap, topic, lambda vs: len(vs) >= 10)] \
            == list(range(10))
        admin = streamt.KafkaAdmin({"bootstrap_servers": kafka.bootstrap})
        try:
            assert admin.describe_configs([topic])[topic]["retention.ms"]["value"] == "86400000"
        finally:
            admin.close()

        # ours now: the next plan has nothing to do, and says nothing of the previous tool
        r = cli("plan", "-p", root, "-e", "stage", "--detailed-exitcode", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "previous tool" not in r.stdout
    finally:
        http.request("DELETE", "/connectors/%s" % name, expect=(204, 404))


# -- its continuous-test job: cancelled, ours started ----------------------------------

TEST_PROJECT = """\
project:
  name: %(project)s
defaults:
  topic:
    partitions: 3
    replication_factor: 1
sources:
  - name: events
    topic: %(project)s.events
    columns:
      - name: id
        type: INT
      - name: status
        type: STRING
tests:
  - name: %(test)s
    model: events
    type: continuous
    assertions:
      - accepted_values:
          column: status
          values: [ok]
"""


def the_originals_test_job(flink, project, test):
    """The statements the original compiles for a continuous test (§3.4 of the reference)."""
    kafka = "'properties.bootstrap.servers' = '%s'" % flink.kafka_bootstrap
    return [
        "CREATE TABLE IF NOT EXISTS test_source_%s (`id` STRING, `status` STRING) WITH ("
        "'connector' = 'kafka', 'topic' = '%s.events', %s, 'scan.startup.mode' = "
        "'latest-offset', 'format' = 'json')" % (test, project, kafka),
        "CREATE TABLE IF NOT EXISTS test_failures_%s (`test_name` STRING, `violation_type` "
        "STRING, `violation_details` STRING, `record` STRING, `detected_at` TIMESTAMP(3)) "
        "WITH ('connector' = 'kafka', 'topic' = '_streamt_test_failures', %s, "
        "'format' = 'json')" % (test, kafka),
        "INSERT INTO test_failures_%s\nSELECT '%s' AS test_name, 'accepted_values:status' AS "
        "violation_type, CAST(`status` AS STRING) AS violation_details,\n    '' AS record, "
        "CURRENT_TIMESTAMP AS detected_at FROM test_source_%s WHERE `status` NOT IN ('ok')"
        % (test, test, test)]


@pytest.mark.services
def test_first_apply_replaces_the_originals_continuous_test_job(kafka, flink, tmp_path):
    project = "t" + uuid.uuid4().hex[:8]
    test = "q" + uuid.uuid4().hex[:8]
    root = write_files(tmp_path / project, {
        "stream_project.yml": TEST_PROJECT % {"project": project, "test": test},
        "environments/stage.yml": ENVIRONMENT})
    env = {"KAFKA_BOOTSTRAP": kafka.bootstrap, "FLINK_REST_URL": flink.rest_url,
           "FLINK_SQL_GATEWAY_URL": flink.gateway_url}
    original = "insert-into_default_catalog.default_database.test_failures_" + test

    def failures():
        return [v["violation_details"] for v in consume(
            kafka.bootstrap, "_streamt_test_failures", lambda vs: True, timeout=5)
            if v.get("test_name") == test]

    def until_reported(first):
        """Produce violations until one is reported (the job reads from the latest
        offset it found at its start); the ones produced are returned."""
        sent, end = [], time.time() + 60
        while not set(sent) & set(failures()):
            assert time.time() < end, "no failure reported for %r" % sent
            sent.append("bad-%d" % (first + len(sent)))
            produce(kafka.bootstrap, project + ".events", [{"id": 1, "status": sent[-1]}])
            time.sleep(1)
        return sent

    try:
        original_create_topic(kafka.bootstrap, project + ".events", 1, {})
        original_create_topic(kafka.bootstrap, "_streamt_test_failures", 3, {})
        submit_like_the_original(flink, the_originals_test_job(flink, project, test))
        old = wait_running(flink, original)
        before = until_reported(0)

        r = cli("apply", "-p", root, "-e", "stage", "--confirm", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "+ flink_job test_%s" % test in r.stdout, r.stdout
        assert "adopted from the previous tool" in r.stdout, r.stdout
        assert "no state worth a savepoint" in r.stdout, r.stdout

        rest = streamt.HttpClient(flink.rest_url)
        assert [j["state"] for j in rest.get_json("/jobs/overview")["jobs"]
                if j["jid"] == old["jid"]] == ["CANCELED"]
        mine = [j["name"].split(" [")[0] for j in running_jobs(flink)
                if project in j["name"] or j["name"] == original]
        assert mine == ["streamt.%s.test.%s" % (project, test)]

        # ours reports the violations now, each once: not two copies checking the rows
        after = until_reported(len(before))
        time.sleep(3)
        reported = failures()
        assert sorted(set(reported)) == sorted(reported), reported
        assert set(after) & set(reported)

        r = cli("plan", "-p", root, "-e", "stage", "--detailed-exitcode", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        cancel_jobs(flink, lambda n: project in n or n == original)
