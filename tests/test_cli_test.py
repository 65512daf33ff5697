"""`streamt test --type sample` on the real Kafka: records produced by kafka-python (a
test-only dependency), one planted record per broken assertion; the failing test names it
by partition and offset, in text and JSON, and exits 1."""
import json
import os
import subprocess
import sys
import uuid

import pytest

import streamt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, **kw):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("STREAMT_"))
    env.update(kw.pop("env", None) or {})
    return subprocess.run([sys.executable, os.path.join(ROOT, "streamt.py")] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          universal_newlines=True, env=env, timeout=600, **kw)


def project(root, name):
    files = {"stream_project.yml": """\
project:
  name: %(n)s
sources:
  - name: orders
    topic: %(n)s.orders
  - name: clean
    topic: %(n)s.clean
tests:
  - name: orders_sample
    model: orders
    type: sample
    sample_size: 50
    assertions:
      - not_null: {columns: [order_id]}
      - accepted_values: {column: status, values: [new, paid]}
      - range: {column: amount, min: 0, max: 1000}
      - unique_key: {key: order_id}
      - custom_sql: {name: positive, where: "amount > 0"}
  - name: orders_schema
    model: orders
    type: schema
    assertions:
      - not_null: {columns: [order_id]}
  - name: clean_sample
    model: clean
    type: sample
    assertions:
      - not_null: {columns: [order_id, status]}
      - accepted_types: {types: {amount: double, order_id: int}}
      - range: {column: amount, min: 0}
""" % {"n": name},
             "environments/stage.yml": """\
environment:
  name: stage
runtime:
  kafka:
    bootstrap_servers: ${KAFKA_BOOTSTRAP}
"""}
    for rel, text in files.items():
        path = os.path.join(str(root), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return str(root)


def good(i):
    return {"order_id": i, "status": "paid" if i % 2 else "new", "amount": 10.5 + i}


@pytest.mark.services
def test_sample_tests_find_the_planted_records_by_partition_and_offset(kafka, tmp_path):
    from kafka import KafkaProducer
    name = "t" + uuid.uuid4().hex[:6]
    with streamt.KafkaAdmin(kafka.runtime(), timeout=20) as admin:
        admin.create_topics([{"name": "%s.%s" % (name, t), "partitions": 2,
                              "replication_factor": 1} for t in ("orders", "clean")])
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, compression_type="gzip")
    planted = {}

    def send(topic, value, partition, label=None):
        meta = producer.send("%s.%s" % (name, topic), value=value, partition=partition).get(30)
        if label:
            planted[label] = (meta.partition, meta.offset)

    for i in range(20):
        send("orders", json.dumps(good(i)).encode(), i % 2)
        send("clean", json.dumps(good(i)).encode(), i % 2)
    send("orders", json.dumps({"order_id": None, "status": "new", "amount": 1}).encode(), 0,
         "null")
    send("orders", json.dumps(dict(good(100), status="lost")).encode(), 1, "status")
    send("orders", json.dumps(dict(good(101), amount=-3)).encode(), 0, "amount")
    send("orders", json.dumps(good(7)).encode(), 1, "duplicate")
    send("orders", b"not json {", 0, "json")
    producer.flush(30)
    producer.close(10)
    proj = project(tmp_path / "p", name)
    env = {"KAFKA_BOOTSTRAP": kafka.bootstrap}

    r = cli("test", "-p", proj, "-e", "stage", "--type", "sample", "--format", "json", env=env)
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert report["summary"] == {"passed": 1, "failed": 1, "not_run": 0}
    tests = dict((t["name"], t) for t in report["tests"])
    assert tests["clean_sample"]["status"] == "pass" and tests["clean_sample"]["records"] == 20
    orders = tests["orders_sample"]
    assert orders["status"] == "fail" and orders["records"] == 25
    found = dict((a["assertion"], (a["status"], [(f["partition"], f["offset"])
                                                 for f in a["failures"]]))
                 for a in orders["assertions"])
    assert found == {
        "json_value": ("fail", [planted["json"]]),
        "not_null:order_id": ("fail", [planted["null"]]),
        "accepted_values:status": ("fail", [planted["status"]]),
        "range:amount": ("fail", [planted["amount"]]),
        "unique_key:order_id": ("fail", [planted["duplicate"]]),
        "custom_sql": ("not_checked", []),
    }

    junit = str(tmp_path / "results.xml")
    r = cli("test", "-p", proj, "-e", "stage", "--junit-xml", junit, env=env)
    assert r.returncode == 1, r.stderr
    from junitparser import Failure, JUnitXml
    xml = JUnitXml.fromfile(junit)
    assert isinstance(xml, JUnitXml)
    (suite,) = list(xml)
    assert (suite.tests, suite.failures, suite.skipped) == (3, 1, 1)
    cases = dict((c.name, c) for c in suite)
    assert sorted(cases) == ["clean_sample", "orders_sample", "orders_schema"]
    assert cases["clean_sample"].is_passed and cases["orders_schema"].is_skipped
    (failure,) = cases["orders_sample"].result
    assert isinstance(failure, Failure)
    assert "range:amount: 1 record(s)" in failure.message
    assert "partition %d offset %d: amount = -3 < 0" % planted["amount"] in failure.text
    assert "FAIL  orders_sample: 25 record(s) of %s.orders" % name in r.stdout
    assert "partition %d offset %d: amount = -3 < 0" % planted["amount"] in r.stdout
    assert "1 passed, 1 failed, 1 not run" in r.stdout
    assert "SKIP  orders_schema (schema)" in r.stdout
    r = cli("test", "-p", proj, "-e", "stage", "-m", "clean", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS  clean_sample" in r.stdout
    # the last records only: the planted ones at the end of partition 0 are still there
    r = cli("test", "-p", proj, "-e", "stage", "-m", "orders", "--from", "latest",
            "--format", "json", env=env)
    assert r.returncode == 1
