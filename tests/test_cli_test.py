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
from tests._projects import write_files

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
      - custom_sql: {name: negative, where: "amount < 0", detail_column: order_id}
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
    return write_files(root, files)


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
        "custom_sql:negative": ("fail", [planted["amount"]]),
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

    # from an artifact, on a "bastion" with no project: the same tests, the same records
    art, tgz = str(tmp_path / "art"), str(tmp_path / "art.tar.gz")
    for out in (art, tgz):
        r = cli("build", "-p", proj, "-e", "stage", "-o", out)
        assert r.returncode == 0, r.stderr
    import shutil
    shutil.rmtree(proj)
    env_file = tmp_path / "stage.env"
    env_file.write_text("KAFKA_BOOTSTRAP=%s\n" % kafka.bootstrap)
    bastion = tmp_path / "bastion"
    bastion.mkdir()
    r = cli("test", art, "--env-file", str(env_file), "--select", "orders", "--format", "json",
            cwd=str(bastion))
    assert r.returncode == 1, r.stderr
    assert "artifact verified" in r.stderr
    doc = json.loads(r.stdout)
    assert (doc["project"], doc["environment"]) == (name, "stage")
    tests = dict((t["name"], t) for t in doc["tests"])
    assert sorted(tests) == ["orders_sample", "orders_schema"]   # clean's are not selected
    assert dict((a["assertion"], (a["status"], [(f["partition"], f["offset"])
                                                for f in a["failures"]]))
                for a in tests["orders_sample"]["assertions"]) == found
    r = cli("test", tgz, "--env-file", str(env_file), "--select", "clean", cwd=str(bastion))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS  clean_sample: 20 record(s) of %s.clean" % name in r.stdout
    r = cli("test", tgz, "--select", "clean", cwd=str(bastion))   # no ${KAFKA_BOOTSTRAP}
    assert r.returncode != 0 and "KAFKA_BOOTSTRAP" in r.stderr


@pytest.mark.services
def test_sample_tests_read_avro_values_through_the_registry(kafka, schema_registry, tmp_path):
    """Values in the Confluent wire format (magic 0, schema id, Avro written by fastavro, a
    test-only dependency) are decoded with the writer schema fetched from the registry."""
    import base64
    import io
    import struct
    import urllib.request
    import fastavro
    from kafka import KafkaProducer
    name = "a" + uuid.uuid4().hex[:6]
    schema = {"type": "record", "name": "Order", "fields": [
        {"name": "order_id", "type": "long"},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["new", "paid"]}},
        {"name": "amount", "type": "double"}, {"name": "note", "type": ["null", "string"]}]}
    req = urllib.request.Request(
        "%s/subjects/%s.orders-value/versions" % (schema_registry.url, name), method="POST",
        data=json.dumps({"schema": json.dumps(schema)}).encode(),
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json",
                 "Authorization": "Basic " + base64.b64encode(("%s:%s" % (
                     schema_registry.username, schema_registry.password)).encode()).decode()})
    with urllib.request.urlopen(req, timeout=30) as resp:
        sid = json.loads(resp.read().decode())["id"]
    parsed = fastavro.parse_schema(schema)

    def avro(record, schema_id=sid):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, record)
        return b"\0" + struct.pack(">i", schema_id) + buf.getvalue()

    with streamt.KafkaAdmin(kafka.runtime(), timeout=20) as admin:
        admin.create_topics([{"name": name + ".orders", "partitions": 1, "replication_factor": 1}])
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    offsets = {}
    for i in range(10):
        producer.send(name + ".orders", value=avro({"order_id": i, "status": "paid",
                                                    "amount": 5.0 + i, "note": None}))
    offsets["negative"] = producer.send(name + ".orders", value=avro(
        {"order_id": 99, "status": "new", "amount": -1.0, "note": "x"})).get(30).offset
    offsets["unknown id"] = producer.send(name + ".orders", value=avro(
        {"order_id": 98, "status": "new", "amount": 1.0, "note": None}, 987654)).get(30).offset
    offsets["cut"] = producer.send(name + ".orders", value=avro(
        {"order_id": 97, "status": "new", "amount": 1.0, "note": "y"})[:-3]).get(30).offset
    producer.flush(30)
    producer.close(10)
    proj = os.path.join(str(tmp_path), "p")
    os.makedirs(os.path.join(proj, "environments"))
    with open(os.path.join(proj, "stream_project.yml"), "w") as f:
        f.write("""\
project:
  name: %(n)s
sources:
  - name: orders
    topic: %(n)s.orders
tests:
  - name: avro_sample
    model: orders
    type: sample
    assertions:
      - not_null: {columns: [order_id, status]}
      - accepted_values: {column: status, values: [new, paid]}
      - range: {column: amount, min: 0}
""" % {"n": name})
    with open(os.path.join(proj, "environments", "stage.yml"), "w") as f:
        f.write("""\
environment:
  name: stage
runtime:
  kafka:
    bootstrap_servers: ${KAFKA_BOOTSTRAP}
  schema_registry:
    url: ${SR_URL}
    username: ${SR_USER}
    password: ${SR_PASSWORD}
""")
    env = {"KAFKA_BOOTSTRAP": kafka.bootstrap, "SR_URL": schema_registry.url,
           "SR_USER": schema_registry.username, "SR_PASSWORD": schema_registry.password}
    r = cli("test", "-p", proj, "-e", "stage", "--format", "json", env=env)
    assert r.returncode == 1, r.stderr
    (t,) = json.loads(r.stdout)["tests"]
    found = dict((a["assertion"], a) for a in t["assertions"])
    assert t["records"] == 13
    assert found["json_value"]["failures"][0]["detail"].startswith("schema id 987654: ")
    assert "404" in found["json_value"]["failures"][0]["detail"]
    assert [f["offset"] for f in found["json_value"]["failures"]] == [offsets["unknown id"],
                                                                      offsets["cut"]]
    assert found["json_value"]["failures"][1]["detail"].startswith(
        "does not decode as Avro with schema id %d" % sid)
    assert [f["offset"] for f in found["range:amount"]["failures"]] == [offsets["negative"]]
    assert found["not_null:order_id"]["status"] == "pass"
    assert found["accepted_values:status"]["status"] == "pass"


def _register(registry, subject, schema_type, schema):
    import base64
    import urllib.request
    req = urllib.request.Request(
        "%s/subjects/%s/versions" % (registry.url, subject), method="POST",
        data=json.dumps({"schemaType": schema_type, "schema": schema}).encode(),
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json",
                 "Authorization": "Basic " + base64.b64encode(("%s:%s" % (
                     registry.username, registry.password)).encode()).decode()})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read().decode())["id"]


@pytest.mark.services
def test_protobuf_values_are_skipped_by_name_and_json_schema_values_are_checked(
        kafka, schema_registry, tmp_path):
    """Confluent wire-format values: JSON Schema ones are JSON after the schema id and are
    checked; Protobuf ones (message indexes, then protobuf) are not decoded, and the report
    says so with their partition and offset instead of failing or passing on them."""
    import struct
    from kafka import KafkaProducer
    name = "pb" + uuid.uuid4().hex[:6]
    proto_id = _register(schema_registry, name + ".proto-value", "PROTOBUF",
                         'syntax = "proto3";\nmessage Order { int64 order_id = 1; }\n')
    json_id = _register(schema_registry, name + ".mixed-value", "JSON", json.dumps(
        {"type": "object", "properties": {"order_id": {"type": "integer"},
                                          "amount": {"type": "number"}}}))

    def wire(sid, payload):
        return b"\0" + struct.pack(">i", sid) + payload

    def proto(i):   # message index [0], then field 1 (varint) = i
        return wire(proto_id, b"\0" + b"\x08" + bytes([i]))

    with streamt.KafkaAdmin(kafka.runtime(), timeout=20) as admin:
        admin.create_topics([{"name": name + t, "partitions": 1, "replication_factor": 1}
                             for t in (".proto", ".mixed")])
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    for i in range(7):
        producer.send(name + ".proto", value=proto(i))
    offsets = {}
    for i in range(4):
        producer.send(name + ".mixed", value=wire(json_id, json.dumps(
            {"order_id": i, "amount": 1.5 + i}).encode()))
    offsets["proto"] = producer.send(name + ".mixed", value=proto(9)).get(30).offset
    offsets["negative"] = producer.send(name + ".mixed", value=wire(json_id, json.dumps(
        {"order_id": 5, "amount": -1}).encode())).get(30).offset
    producer.flush(30)
    producer.close(10)
    proj = write_files(tmp_path / "p", {"stream_project.yml": """\
project:
  name: %(n)s
sources:
  - name: proto
    topic: %(n)s.proto
  - name: mixed
    topic: %(n)s.mixed
tests:
  - name: proto_sample
    model: proto
    type: sample
    assertions:
      - not_null: {columns: [order_id]}
  - name: mixed_sample
    model: mixed
    type: sample
    assertions:
      - not_null: {columns: [order_id]}
      - range: {column: amount, min: 0}
""" % {"n": name}, "environments/stage.yml": """\
environment:
  name: stage
runtime:
  kafka:
    bootstrap_servers: ${KAFKA_BOOTSTRAP}
  schema_registry:
    url: ${SR_URL}
    username: ${SR_USER}
    password: ${SR_PASSWORD}
"""})
    env = {"KAFKA_BOOTSTRAP": kafka.bootstrap, "SR_URL": schema_registry.url,
           "SR_USER": schema_registry.username, "SR_PASSWORD": schema_registry.password}
    r = cli("test", "-p", proj, "-e", "stage", "--format", "json", env=env)
    assert r.returncode == 1, r.stderr   # the negative amount of the JSON Schema values
    report = json.loads(r.stdout)
    tests = dict((t["name"], t) for t in report["tests"])
    why = ("not decoded: protobuf values are not supported; the test's value assertions are "
           "skipped (schema id %d)" % proto_id)
    # all Protobuf: not run (not a pass on nothing), each record named (the first five)
    p = tests["proto_sample"]
    found = dict((a["assertion"], a) for a in p["assertions"])
    assert p["status"] == "not_run" and p["records"] == 7
    assert "protobuf values are not supported" in p["reason"]
    assert found["value_format"]["status"] == "not_checked"
    assert found["value_format"]["reason"] == ("7 record(s) not decoded: protobuf values are not "
                                               "supported; the test's value assertions are skipped")
    assert [(f["partition"], f["offset"], f["detail"]) for f in found["value_format"]["failures"]
            ] == [(0, o, why) for o in range(5)]
    assert found["not_null:order_id"]["status"] == "not_checked"
    assert found["json_value"]["status"] == "not_checked"
    # JSON Schema values decoded and checked; the one Protobuf value among them skipped by name
    m = tests["mixed_sample"]
    found = dict((a["assertion"], a) for a in m["assertions"])
    assert m["status"] == "fail" and m["records"] == 6
    assert found["json_value"] == dict(found["json_value"], status="pass", checked=5)
    assert [(f["offset"], f["detail"]) for f in found["value_format"]["failures"]] == [
        (offsets["proto"], why)]
    assert found["not_null:order_id"]["status"] == "pass"
    assert [f["offset"] for f in found["range:amount"]["failures"]] == [offsets["negative"]]
    assert report["summary"] == {"passed": 0, "failed": 1, "not_run": 1}
    r = cli("test", "-p", proj, "-e", "stage", env=env)
    assert r.returncode == 1, r.stderr
    assert "SKIP  proto_sample (sample): no record could be checked: 7 record(s) not decoded" in r.stdout
    assert "          partition 0 offset %d: %s" % (offsets["proto"], why) in r.stdout
    assert "Traceback" not in r.stderr


ALL_TYPES = {"type": "record", "name": "Order", "namespace": "shop", "fields": [
    {"name": "order_id", "type": "long"},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["new", "paid"]}},
    {"name": "amount", "type": "double"}, {"name": "note", "type": ["null", "string"]},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "attrs", "type": {"type": "map", "values": "int"}},
    {"name": "f", "type": {"type": "fixed", "name": "F2", "size": 2}},
    {"name": "again", "type": ["null", "Status"]}, {"name": "ok", "type": "boolean"},
    {"name": "fl", "type": "float"}, {"name": "raw", "type": "bytes"}]}


def test_avro_values_written_by_fastavro_decode_exactly():
    import io
    import fastavro
    parsed = fastavro.parse_schema(ALL_TYPES)
    for rec in ({"order_id": -5, "status": "paid", "amount": 1.5, "note": None, "tags": ["a", "b"],
                 "attrs": {"x": 1, "y": -2}, "f": b"ab", "again": "new", "ok": True, "fl": 0.5,
                 "raw": b"\x00\xff"},
                {"order_id": 1 << 40, "status": "new", "amount": -2.25, "note": "h\u00e9",
                 "tags": [], "attrs": {}, "f": b"zz", "again": None, "ok": False, "fl": 2.0,
                 "raw": b""}):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, rec)
        got = streamt.AvroBinary(ALL_TYPES).decode(buf.getvalue())
        assert got == dict(rec, f=rec["f"].decode("latin-1"), raw=rec["raw"].decode("latin-1"))


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=300, deadline=1000)
@given(st.binary(max_size=200))
def test_avro_decoding_of_any_bytes_is_a_value_or_a_value_error(data):
    try:
        streamt.AvroBinary(ALL_TYPES).decode(data)
    except (ValueError, UnicodeDecodeError):
        pass


@pytest.mark.services
def test_continuous_test_passes_while_clean_and_fails_with_the_planted_row(kafka, flink,
                                                                             tmp_path):
    """The continuous test's Flink job, deployed by `apply`, must be RUNNING and have written
    no failure since it started; a planted row makes it fail, showing the row."""
    import time
    from kafka import KafkaProducer
    name = "c" + uuid.uuid4().hex[:6]
    proj = os.path.join(str(tmp_path), "p")
    os.makedirs(os.path.join(proj, "environments"))
    with open(os.path.join(proj, "stream_project.yml"), "w") as f:
        f.write("""\
project:
  name: %(n)s
sources:
  - name: payments
    topic: %(n)s.payments
    columns:
      - {name: payment_id, type: STRING}
      - {name: amount, type: DOUBLE}
tests:
  - name: payments_watch
    model: payments
    type: continuous
    assertions:
      - not_null: {columns: [payment_id]}
      - range: {column: amount, min: 0}
""" % {"n": name})
    with open(os.path.join(proj, "environments", "stage.yml"), "w") as f:
        f.write("""\
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
""")
    env = {"KAFKA_BOOTSTRAP": kafka.bootstrap, "FLINK_REST_URL": flink.rest_url,
           "FLINK_SQL_GATEWAY_URL": flink.gateway_url}
    with streamt.KafkaAdmin(kafka.runtime(), timeout=20) as admin:
        admin.create_topics([{"name": name + ".payments", "partitions": 1,
                              "replication_factor": 1}])
    r = cli("test", "-p", proj, "-e", "stage", "--type", "continuous", env=env)
    assert r.returncode == 1 and "is not running (no job): deploy it" in r.stdout, r.stdout + r.stderr
    r = cli("apply", "-p", proj, "-e", "stage", "--confirm", env=env)
    assert r.returncode == 0, r.stderr
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    for i in range(5):
        producer.send(name + ".payments", value=json.dumps(
            {"payment_id": "p%d" % i, "amount": 1.0 + i}).encode())
    producer.flush(30)
    r = cli("test", "-p", proj, "-e", "stage", "--type", "continuous", "--format", "json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    (t,) = json.loads(r.stdout)["tests"]
    assert t["status"] == "pass" and t["assertions"][0]["reason"].endswith(
        "RUNNING since %d" % int(t["assertions"][0]["reason"].split()[-1]))
    deadline = time.time() + 180
    while time.time() < deadline:   # the job reads from the latest offset once it runs
        producer.send(name + ".payments", value=json.dumps(
            {"payment_id": "bad", "amount": -7.5}).encode())
        producer.flush(30)
        r = cli("test", "-p", proj, "-e", "stage", "--type", "continuous", env=env)
        if r.returncode == 1:
            break
        time.sleep(3)
    producer.close(10)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL  payments_watch" in r.stdout
    assert "range_min:amount: \"-7.5\"" in r.stdout, r.stdout


@pytest.mark.services
def test_schema_tests_check_the_columns_against_the_registered_schema(kafka, schema_registry,
                                                                      tmp_path):
    name = "s" + uuid.uuid4().hex[:6]
    schema = {"type": "record", "name": "Payment", "fields": [
        {"name": "payment_id", "type": "string"}, {"name": "amount", "type": "double"},
        {"name": "method", "type": {"type": "enum", "name": "Method",
                                    "symbols": ["card", "cash", "iou"]}},
        {"name": "note", "type": ["null", "string"], "default": None}]}
    proj = os.path.join(str(tmp_path), "p")
    os.makedirs(os.path.join(proj, "environments"))
    with open(os.path.join(proj, "stream_project.yml"), "w") as f:
        f.write("""\
project:
  name: %(n)s
sources:
  - name: payments
    topic: %(n)s.payments
    schema:
      format: avro
      definition: '%(s)s'
    columns:
      - {name: payment_id, type: STRING}
      - {name: amount, type: DOUBLE}
      - {name: method, type: STRING}
      - {name: note, type: STRING}
tests:
  - name: payments_shape
    model: payments
    type: schema
    assertions:
      - not_null: {columns: [payment_id, amount]}
      - accepted_values: {column: method, values: [card, cash, iou]}
      - range: {column: amount, min: 0}
  - name: payments_strict
    model: payments
    type: schema
    assertions:
      - not_null: {columns: [note]}
      - accepted_values: {column: method, values: [card, cash]}
""" % {"n": name, "s": json.dumps(schema)})
    with open(os.path.join(proj, "environments", "stage.yml"), "w") as f:
        f.write("""\
environment:
  name: stage
runtime:
  kafka:
    bootstrap_servers: ${KAFKA_BOOTSTRAP}
  schema_registry:
    url: ${SR_URL}
    username: ${SR_USER}
    password: ${SR_PASSWORD}
""")
    env = {"KAFKA_BOOTSTRAP": kafka.bootstrap, "SR_URL": schema_registry.url,
           "SR_USER": schema_registry.username, "SR_PASSWORD": schema_registry.password}
    r = cli("test", "-p", proj, "-e", "stage", "--type", "schema", env=env)
    assert r.returncode == 1 and "is not registered: deploy it" in r.stdout, r.stdout + r.stderr
    r = cli("apply", "-p", proj, "-e", "stage", "--confirm", env=env)
    assert r.returncode == 0, r.stderr
    r = cli("test", "-p", proj, "-e", "stage", "--type", "schema", "--format", "json", env=env)
    assert r.returncode == 1, r.stderr
    tests = dict((t["name"], t) for t in json.loads(r.stdout)["tests"])
    shape = dict((a["assertion"], a["status"]) for a in tests["payments_shape"]["assertions"])
    assert shape == {"registered": "pass", "column:payment_id": "pass", "column:amount": "pass",
                     "column:method": "pass", "column:note": "pass",
                     "not_null:payment_id": "pass", "not_null:amount": "pass",
                     "accepted_values:method": "pass", "range": "not_checked"}
    assert tests["payments_shape"]["status"] == "pass"
    strict = dict((a["assertion"], (a["status"], a["reason"]))
                  for a in tests["payments_strict"]["assertions"])
    assert strict["not_null:note"][0] == "fail" and "nullable" in strict["not_null:note"][1]
    assert strict["accepted_values:method"] == ("fail", "the schema also allows iou")
    # someone registers another version behind the project's back: amount became a string
    import base64
    import urllib.request
    auth = "Basic " + base64.b64encode(("%s:%s" % (schema_registry.username,
                                                    schema_registry.password)).encode()).decode()
    subject = "%s.payments-value" % name
    for method, path, body in (
            ("PUT", "/config/" + subject, {"compatibility": "NONE"}),
            ("POST", "/subjects/%s/versions" % subject, {"schema": json.dumps(dict(
                schema, fields=[dict(f, type="string") if f["name"] == "amount" else f
                                for f in schema["fields"]]))})):
        req = urllib.request.Request(schema_registry.url + path, method=method,
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/vnd.schemaregistry.v1+json",
                                              "Authorization": auth})
        urllib.request.urlopen(req, timeout=30).close()
    r = cli("test", "-p", proj, "-e", "stage", "-m", "payments", "--type", "schema",
            "--format", "json", env=env)
    tests = dict((t["name"], t) for t in json.loads(r.stdout)["tests"])
    shape = dict((a["assertion"], (a["status"], a["reason"]))
                 for a in tests["payments_shape"]["assertions"])
    assert shape["registered"][0] == "fail" and "differs from" in shape["registered"][1]
    assert shape["column:amount"] == ("fail", "declared DOUBLE, registered string")
