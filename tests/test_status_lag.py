"""`streamt status --lag`: the consumer groups of a project's Flink jobs and sink
connectors, their committed offsets against the log end, compared with what kafka-python's
admin client and consumer report for the same groups (a test-only dependency)."""
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

import streamt
from tests._projects import write_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOP = os.path.join(ROOT, "examples", "shop")


def cli(*args, **kw):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("STREAMT_"))
    env.update(kw.pop("env", None) or {})
    return subprocess.run([sys.executable, os.path.join(ROOT, "streamt.py")] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          universal_newlines=True, env=env, timeout=600, **kw)


def shop_desired(bootstrap="127.0.0.1:1"):
    environ = {"KAFKA_BOOTSTRAP": bootstrap, "ARCHIVE_FILE": "/dev/null",
               "SCHEMA_REGISTRY_URL": "http://127.0.0.1:1", "SCHEMA_REGISTRY_USERNAME": "u",
               "SCHEMA_REGISTRY_PASSWORD": "p", "FLINK_REST_URL": "http://127.0.0.1:1",
               "FLINK_SQL_GATEWAY_URL": "http://127.0.0.1:1", "CONNECT_URL": "http://127.0.0.1:1"}
    return streamt.compile_project(streamt.load_project(SHOP, env="dev", environ=environ))


def test_the_groups_of_the_bundled_example():
    groups = streamt.ConsumerLag.groups(shop_desired())
    assert [(g["kind"], g["owner"], g["group"], g["topics"]) for g in groups] == [
        ("connector", "revenue_archive", "connect-revenue_archive",
         ["shop.revenue.per_minute.v1"]),
        ("flink_job", "customer_totals", "streamt.shop.customer_totals", ["shop.orders.clean.v1"]),
        ("flink_job", "orders_clean", "streamt.shop.orders_clean", ["shop.orders.v1"]),
        ("flink_job", "revenue_per_minute", "streamt.shop.revenue_per_minute",
         ["shop.orders.clean.v1"]),
        ("flink_job", "test_orders_clean_quality", "streamt.shop.test.orders_clean_quality",
         ["shop.orders.clean.v1"]),
    ]


def _kafka_python_view(bootstrap, group, topics):
    """{topic: {partition: (committed or None, end)}} as kafka-python reports them."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group) or {}
        committed = dict((tp, om.offset) for tp, om in offsets.items() if om.offset >= 0)
        out = {}
        for t in topics:
            tps = [TopicPartition(t, p) for p in sorted(consumer.partitions_for_topic(t))]
            ends = consumer.end_offsets(tps)
            out[t] = dict((tp.partition, (committed.get(tp), ends[tp])) for tp in tps)
        return out
    finally:
        admin.close()
        consumer.close()


def _ours(report, group):
    (g,) = [x for x in report["groups"] if x["group"] == group]
    return dict((t, dict((x["partition"], (x["committed"], x["end"])) for x in parts))
                for t, parts in g["topics"].items()), g["total"]


@pytest.mark.services
def test_lag_of_the_shop_groups_matches_kafka_python(kafka):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    # the example's topics and groups under a name of this test's own: the broker is shared
    # with tests that deploy the example itself (its topics may exist, with data)
    prefix = "lag%s." % uuid.uuid4().hex[:8]

    def n(text):
        return text.replace("shop.", prefix).replace("revenue_archive",
                                                     prefix[:-1] + "_revenue_archive")
    desired = json.loads(n(json.dumps(shop_desired(kafka.bootstrap))))
    with streamt.KafkaAdmin(kafka.runtime(), timeout=20) as admin:
        admin.create_topics([{"name": t, "partitions": 2, "replication_factor": 1}
                             for t in (n("shop.orders.v1"), n("shop.orders.clean.v1"),
                                       n("shop.revenue.per_minute.v1"))])
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    for i in range(30):
        producer.send(n("shop.orders.v1"), value=b'{"i": %d}' % i, partition=i % 2)
        producer.send(n("shop.revenue.per_minute.v1"), value=b"{}", partition=0)
    producer.flush(30)
    producer.close(10)
    commits = {n("streamt.shop.orders_clean"): {TopicPartition(n("shop.orders.v1"), 0): 4,
                                             TopicPartition(n("shop.orders.v1"), 1): 15},
               n("connect-revenue_archive"): {TopicPartition(n("shop.revenue.per_minute.v1"), 0): 1}}
    for group, offsets in commits.items():
        c = KafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=group,
                          enable_auto_commit=False)
        c.commit(dict((tp, OffsetAndMetadata(o, "", -1)) for tp, o in offsets.items()))
        c.close()
    report = streamt.ConsumerLag.measure(desired, {"kafka": kafka.runtime()})
    for g in streamt.ConsumerLag.groups(desired):
        ours, total = _ours(report, g["group"])
        theirs = _kafka_python_view(kafka.bootstrap, g["group"], g["topics"])
        assert ours == theirs, g["group"]
        assert total == sum(e - c for parts in theirs.values() for c, e in parts.values()
                            if c is not None)
    assert _ours(report, n("streamt.shop.orders_clean"))[1] == (15 - 4) + (15 - 15) + 0 * 30
    # the age of the oldest unconsumed record: the timestamp of the record after the commit
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    tp = TopicPartition(n("shop.orders.v1"), 0)
    consumer.assign([tp])
    consumer.seek(tp, 4)
    (first,) = consumer.poll(timeout_ms=10000, max_records=1)[tp]
    consumer.close()
    (g,) = [x for x in report["groups"] if x["group"] == n("streamt.shop.orders_clean")]
    parts = dict((x["partition"], x) for x in g["topics"][n("shop.orders.v1")])
    assert parts[0]["oldest_unconsumed"] == first.timestamp
    assert parts[1]["oldest_unconsumed"] is None    # nothing left to read there
    assert "lag 11  oldest unconsumed 60s old" in streamt.ConsumerLag.render(
        report, now_ms=first.timestamp + 60000)
    assert report["total"] == sum(g["total"] for g in report["groups"])
    text = streamt.ConsumerLag.render(report)
    assert n("shop.orders.v1[0]  committed 4  end") in text
    assert n("flink_job customer_totals  group streamt.shop.customer_totals") in text


def _connector_project(root, name, archive):
    files = {"stream_project.yml": """\
project:
  name: %(n)s
sources:
  - name: raw
    topic: %(n)s.raw
models:
  - name: archive
    from:
      - source: raw
    sink:
      connector: org.apache.kafka.connect.file.FileStreamSinkConnector
      config:
        file: %(f)s
        tasks.max: "1"
""" % {"n": name, "f": archive},
             "environments/stage.yml": """\
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
"""}
    return write_files(root, files)


@pytest.mark.services
def test_status_lag_of_a_paused_sink_connector_matches_kafka_python(kafka, connect, tmp_path):
    from kafka import KafkaProducer
    name = "lag" + uuid.uuid4().hex[:6]
    env = {"KAFKA_BOOTSTRAP": kafka.bootstrap, "CONNECT_URL": connect.url}
    proj = _connector_project(tmp_path / "p", name, str(tmp_path / "archive.txt"))
    with streamt.KafkaAdmin(kafka.runtime(), timeout=20) as admin:
        admin.create_topics([{"name": name + ".raw", "partitions": 2, "replication_factor": 1}])
    r = cli("apply", "-p", proj, "-e", "stage", "--confirm", env=env)
    assert r.returncode == 0, r.stderr
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)

    def produce(n):
        for i in range(n):
            producer.send(name + ".raw", value=b'{"i": %d}' % i, partition=i % 2)
        producer.flush(30)

    produce(20)
    group = "connect-archive"
    deadline = time.time() + 120
    while time.time() < deadline:   # the worker commits every second (offset.flush.interval.ms)
        view = _kafka_python_view(kafka.bootstrap, group, [name + ".raw"])[name + ".raw"]
        if view == {0: (10, 10), 1: (10, 10)}:
            break
        time.sleep(1)
    assert view == {0: (10, 10), 1: (10, 10)}
    req = urllib.request.Request(connect.url + "/connectors/archive/pause", method="PUT")
    urllib.request.urlopen(req, timeout=30).close()
    time.sleep(3)   # let the task stop before writing what it must not read
    produce(6)
    producer.close(10)

    r = cli("status", "-p", proj, "-e", "stage", "--lag", "--format", "json", env=env)
    assert r.returncode == 0, r.stderr
    lag = json.loads(r.stdout)["lag"]
    theirs = _kafka_python_view(kafka.bootstrap, group, [name + ".raw"])
    ours, total = _ours(lag, group)
    assert ours == theirs
    assert theirs[name + ".raw"] == {0: (10, 13), 1: (10, 13)} and total == 6 == lag["total"]
    r = cli("status", "-p", proj, "-e", "stage", "--lag", env=env)
    assert r.returncode == 0, r.stderr
    assert "connector archive  group connect-archive  lag 6" in r.stdout
    assert "%s.raw[1]  committed 10  end 13  lag 3" % name in r.stdout
    # without --lag, status reads no offsets
    r = cli("status", "-p", proj, "-e", "stage", "--format", "json", env=env)
    assert r.returncode == 0 and "lag" not in json.loads(r.stdout)


@pytest.mark.services
def test_lag_of_a_group_whose_topic_is_gone_is_empty_not_an_error(kafka):
    with streamt.KafkaReader(kafka.runtime(), timeout=20) as reader:
        lag = reader.lag("streamt.gone", ["no-such-topic-%s" % uuid.uuid4().hex[:6]])
    assert list(lag["topics"].values()) == [{}] and lag["total"] == 0


def _consumer_groups_tool(bootstrap, group):
    """{topic: {partition: (CURRENT-OFFSET, LOG-END-OFFSET, LAG)}} as Kafka's own
    kafka-consumer-groups tool prints them (``--describe``; its class run from the jars the
    services harness starts the broker with: the harness has no bin/ scripts)."""
    from tests.services import harness
    libs = os.path.dirname(harness.ensure_files("kafka-%s/libs/" % harness.KAFKA_VERSION)[0])
    r = subprocess.run([harness.java()] + harness.JAVA_SMALL + [
        "-cp", libs + "/*", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "--bootstrap-server", bootstrap, "--describe", "--group", group],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [x.split() for x in r.stdout.splitlines() if x.strip()]
    (header,) = [x for x in lines if x[:2] == ["GROUP", "TOPIC"]]
    rows = [dict(zip(header, x)) for x in lines[lines.index(header) + 1:]]
    out = {}
    for row in rows:
        assert row["GROUP"] == group, r.stdout
        out.setdefault(row["TOPIC"], {})[int(row["PARTITION"])] = tuple(
            None if row[k] == "-" else int(row[k])
            for k in ("CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"))
    return out


@pytest.mark.services
def test_status_lag_matches_kafkas_consumer_groups_tool(kafka, connect, tmp_path):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    # a sink connector that is never deployed: its group (set by consumer.override.group.id)
    # is committed by kafka-python, so the numbers hold still while the two tools read them
    name = "lagtool" + uuid.uuid4().hex[:6]
    group = name + ".sink"
    proj = _connector_project(tmp_path / "p", name, str(tmp_path / "archive.txt"))
    path = os.path.join(proj, "stream_project.yml")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace('tasks.max: "1"',
                             'tasks.max: "1"\n        consumer.override.group.id: ' + group))
    topic = name + ".raw"
    with streamt.KafkaAdmin(kafka.runtime(), timeout=20) as admin:
        admin.create_topics([{"name": topic, "partitions": 4, "replication_factor": 1}])
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    for i in range(76):   # 19 records on each partition
        producer.send(topic, value=b'{"i": %d}' % i, partition=i % 4)
    producer.flush(30)
    producer.close(10)
    c = KafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=group, enable_auto_commit=False)
    c.commit({TopicPartition(topic, 0): OffsetAndMetadata(0, "", -1),
              TopicPartition(topic, 1): OffsetAndMetadata(7, "", -1),
              TopicPartition(topic, 2): OffsetAndMetadata(19, "", -1)})   # 3: no commit
    c.close()
    # a transaction left open on partition 1: its log end (what the tool calls LOG-END-OFFSET,
    # the high watermark) is 5 past its last stable offset
    tx = KafkaProducer(bootstrap_servers=kafka.bootstrap, transactional_id=name + ".tx")
    tx.init_transactions()
    tx.begin_transaction()
    for i in range(5):
        tx.send(topic, value=b"open", partition=1)
    tx.flush(30)
    try:
        env = {"KAFKA_BOOTSTRAP": kafka.bootstrap, "CONNECT_URL": connect.url}
        r = cli("status", "-p", proj, "-e", "stage", "--lag", "--format", "json", env=env)
        assert r.returncode == 0, r.stderr
        theirs = _consumer_groups_tool(kafka.bootstrap, group)
    finally:
        tx.abort_transaction()
        tx.close(10)
    (g,) = [x for x in json.loads(r.stdout)["lag"]["groups"] if x["group"] == group]
    ours = dict((t, dict((x["partition"], (x["committed"], x["end"], x["lag"])) for x in parts))
                for t, parts in g["topics"].items())
    # the tool lists the partitions a group without members committed to; we list every
    # partition, one without a commit with committed and lag null
    assert ours[topic].pop(3) == (None, 19, None)
    assert ours == theirs == {topic: {0: (0, 19, 19), 1: (7, 24, 17), 2: (19, 19, 0)}}
    assert g["total"] == 36 == sum(lag for parts in theirs.values() for _, _, lag in parts.values())
