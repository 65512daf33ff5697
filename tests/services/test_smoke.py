"""Smoke tests of the services harness itself: each service really works as the fixtures say."""

import pytest

pytestmark = pytest.mark.services



def _client_config(rt):
    """kafka-python settings for a streamt runtime.kafka mapping (what a user would configure)."""
    cfg = {"bootstrap_servers": rt["bootstrap_servers"], "security_protocol": rt["security_protocol"],
           "request_timeout_ms": 20000}
    if "sasl_mechanism" in rt:
        cfg.update(sasl_mechanism=rt["sasl_mechanism"], sasl_plain_username=rt["sasl_username"],
                   sasl_plain_password=rt["sasl_password"])
    if "ssl_cafile" in rt:
        cfg.update(ssl_cafile=rt["ssl_cafile"], ssl_check_hostname=rt["ssl_check_hostname"])
    return cfg


def produce_consume(rt, topic, values):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    cfg = _client_config(rt)
    admin = KafkaAdminClient(**cfg)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(**cfg)
    for v in values:
        producer.send(topic, v)
    producer.flush(20)
    producer.close()
    consumer = KafkaConsumer(consumer_timeout_ms=10000, **cfg)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        got = []
        for msg in consumer:
            got.append(msg.value)
            if len(got) == len(values):
                break
        return got
    finally:
        consumer.close()


LISTENERS = [("PLAINTEXT", None), ("SSL", None)] + [
    (lst, mech) for lst in ("SASL_PLAINTEXT", "SASL_SSL") for mech in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")]


@pytest.mark.parametrize("listener,mechanism", LISTENERS)
def test_kafka_produce_consume_on_every_listener(kafka, listener, mechanism):
    rt = kafka.runtime(listener, mechanism)
    topic = "smoke.%s.%s" % (listener.lower(), (mechanism or "none").lower())
    values = [("%s-%d" % (topic, i)).encode() for i in range(5)]
    assert produce_consume(rt, topic, values) == values


def test_kafka_rejects_a_wrong_password(kafka):
    import time

    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    # kafka-python reports a failed SASL login only as "Unable to bootstrap": the broker's log says why
    rt = dict(kafka.runtime("SASL_PLAINTEXT", "SCRAM-SHA-256"), sasl_password="wrong")
    cfg = dict(_client_config(rt), request_timeout_ms=3000, bootstrap_timeout_ms=3000)
    with pytest.raises(KafkaError):
        KafkaAdminClient(**cfg).close()
    deadline = time.time() + 10
    while "invalid credentials with SASL mechanism SCRAM-SHA-256" not in _read(kafka.proc.log):
        assert time.time() < deadline, "no authentication failure in the broker log"
        time.sleep(0.2)
    # the right password on the same listener works
    KafkaAdminClient(**dict(cfg, sasl_plain_password=kafka.users["SCRAM-SHA-256"][1])).close()


def _read(path):
    with open(path, errors="replace") as f:
        return f.read()


def test_kafka_ssl_listener_needs_the_ca(kafka):
    import socket
    import ssl

    host, port = kafka.listeners["SSL"].rsplit(":", 1)
    ctx = ssl.create_default_context()  # system CAs only: the test CA is not among them
    with pytest.raises(ssl.SSLError):
        with socket.create_connection((host, int(port)), timeout=5) as s:
            ctx.wrap_socket(s, server_hostname="localhost")
    ctx = ssl.create_default_context(cafile=kafka.ca_file)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            assert t.version()


def test_kafka_cluster_id_is_reported(kafka):
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(**_client_config(kafka.runtime()))
    try:
        assert admin.describe_cluster()["cluster_id"] == kafka.cluster_id
    finally:
        admin.close()




# ---- Flink: a Kafka -> Kafka SQL job through the SQL Gateway REST API --------------------------

def _gateway_statement(gw, session, sql, timeout=60):
    """Run one statement in a gateway session; return (status, result pages)."""
    import time

    from tests.services.harness import http_json

    op = http_json("%s/v1/sessions/%s/statements" % (gw, session), "POST", {"statement": sql})["operationHandle"]
    base = "%s/v1/sessions/%s/operations/%s" % (gw, session, op)
    deadline = time.time() + timeout
    while True:
        status = http_json(base + "/status")["status"]
        if status not in ("RUNNING", "PENDING", "INITIALIZED"):
            break
        assert time.time() < deadline, "statement still %s after %ds: %s" % (status, timeout, sql)
        time.sleep(0.2)
    assert status == "FINISHED", "statement %s: %s\n%s" % (status, sql, _gateway_error(base))
    return http_json(base.replace(gw + "/v1/", gw + "/v2/") + "/result/0?rowFormat=JSON")


def _gateway_error(base):
    import urllib.error

    from tests.services.harness import http_json

    try:
        http_json(base + "/result/0")
    except urllib.error.HTTPError as e:
        return e.read().decode(errors="replace")[-3000:]
    return ""


def test_flink_sql_job_moves_rows_from_kafka_to_kafka(flink, kafka):
    import json
    import os
    import time

    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    from tests.services.harness import http_json

    cfg = _client_config(kafka.runtime())
    admin = KafkaAdminClient(**cfg)
    admin.create_topics([NewTopic("smoke.flink.in", 1, 1), NewTopic("smoke.flink.out", 1, 1)])
    admin.close()
    producer = KafkaProducer(**cfg)
    for i in range(10):
        producer.send("smoke.flink.in", json.dumps({"id": i, "amount": i * 10}).encode())
    producer.flush(20)
    producer.close()

    gw = flink.gateway_url
    session = http_json(gw + "/v1/sessions", "POST", {"properties": {}})["sessionHandle"]
    common = "'connector'='kafka','properties.bootstrap.servers'='%s','format'='json'" % flink.kafka_bootstrap
    _gateway_statement(gw, session, "CREATE TABLE src (id INT, amount INT) WITH (%s, 'topic'='smoke.flink.in', "
                       "'scan.startup.mode'='earliest-offset', 'properties.group.id'='smoke')" % common)
    _gateway_statement(gw, session, "CREATE TABLE snk (id INT, doubled INT) WITH (%s, 'topic'='smoke.flink.out')" % common)
    _gateway_statement(gw, session, "SET 'pipeline.name' = 'smoke-kafka-to-kafka'")
    page = _gateway_statement(gw, session, "INSERT INTO snk SELECT id, amount * 2 FROM src WHERE id % 2 = 0")
    job_id = page.get("jobID")
    assert job_id, page
    try:
        consumer = KafkaConsumer(consumer_timeout_ms=60000, **cfg)
        tp = TopicPartition("smoke.flink.out", 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        rows = []
        for msg in consumer:
            rows.append(json.loads(msg.value))
            if len(rows) == 5:
                break
        consumer.close()
        assert sorted((r["id"], r["doubled"]) for r in rows) == [(i, i * 20) for i in range(0, 10, 2)]
        jobs = http_json(flink.rest_url + "/jobs/overview")["jobs"]
        assert [j["state"] for j in jobs if j["jid"] == job_id] == ["RUNNING"]
        assert [j["name"] for j in jobs if j["jid"] == job_id] == ["smoke-kafka-to-kafka"]
        # stop with a savepoint into the fixture's savepoint directory
        trigger = http_json("%s/jobs/%s/stop" % (flink.rest_url, job_id), "POST",
                            {"targetDirectory": "file://" + flink.savepoint_dir, "drain": False})
        deadline = time.time() + 60
        while True:
            sp = http_json("%s/jobs/%s/savepoints/%s" % (flink.rest_url, job_id, trigger["request-id"]))
            if sp["status"]["id"] == "COMPLETED":
                break
            assert time.time() < deadline, sp
            time.sleep(0.3)
        location = sp["operation"]["location"]  # "file:/dir/savepoint-..." or "file:///dir/..."
        path = "/" + location.split(":", 1)[1].lstrip("/")
        assert path.startswith(flink.savepoint_dir + "/savepoint-") and os.path.isdir(path), location
        job_id = None
    finally:
        if job_id:
            http_json("%s/jobs/%s?mode=cancel" % (flink.rest_url, job_id), "PATCH")


# ---- the Schema Registry fake ------------------------------------------------------------------

def _http(method, url, body=None, auth=None):
    """(status, decoded JSON) without raising on HTTP errors."""
    import base64
    import json
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def _avro(*fields, name="Order"):
    import json

    return json.dumps({"type": "record", "name": name, "namespace": "shop", "fields": list(fields)})


class SR:
    def __init__(self, sr, subject):
        self.sr, self.subject = sr, subject
        self.auth = (sr.username, sr.password)

    def call(self, method, path, body=None):
        return _http(method, self.sr.url + path, body, self.auth)

    def register(self, schema, **kw):
        return self.call("POST", "/subjects/%s/versions" % self.subject, dict(schema=schema, **kw))

    def check(self, schema, version="latest"):
        return self.call("POST", "/compatibility/subjects/%s/versions/%s?verbose=true" % (self.subject, version),
                         {"schema": schema})

    def level(self, level):
        assert self.call("PUT", "/config/" + self.subject, {"compatibility": level}) == (200, {"compatibility": level})


def _subject(prefix):
    import uuid

    return "%s-%s-value" % (prefix, uuid.uuid4().hex[:8])


ID = {"name": "id", "type": "int"}


def test_schema_registry_register_is_idempotent_and_ids_are_shared(schema_registry):
    a, b = SR(schema_registry, _subject("a")), SR(schema_registry, _subject("b"))
    status, first = a.register(_avro(ID))
    assert status == 200
    # same schema, other spacing/key order -> same id, no new version
    assert a.register('{"fields": [{"type": "int", "name": "id"}], "namespace": "shop", "name": "Order", '
                      '"type": "record"}') == (200, first)
    assert a.call("GET", "/subjects/%s/versions" % a.subject) == (200, [1])
    assert b.register(_avro(ID)) == (200, first)
    status, doc = a.call("GET", "/subjects/%s/versions/latest" % a.subject)
    assert (doc["version"], doc["id"], doc["subject"]) == (1, first["id"], a.subject)
    assert "schemaType" not in doc  # AVRO is implied, as in the real registry
    status, found = a.call("POST", "/subjects/" + a.subject, {"schema": _avro(ID)})
    assert (status, found["id"], found["version"]) == (200, first["id"], 1)
    assert a.call("POST", "/subjects/" + a.subject, {"schema": _avro(ID, name="Other")})[1]["error_code"] == 40403
    assert _http("GET", "%s/schemas/ids/%d" % (schema_registry.url, first["id"]), auth=a.auth)[1]["schema"] == _avro(ID)


@pytest.mark.parametrize("level,old,new,compatible", [
    # a field added with a default is readable both ways; without one, the new reader lacks data
    ("BACKWARD", [ID], [ID, {"name": "note", "type": "string", "default": ""}], True),
    ("BACKWARD", [ID], [ID, {"name": "note", "type": "string"}], False),
    ("FULL", [ID], [ID, {"name": "note", "type": ["null", "string"], "default": None}], True),
    ("FULL", [ID], [ID, {"name": "note", "type": "string"}], False),
    # a removed field: the new reader skips it; an old reader without a default misses it
    ("BACKWARD", [ID, {"name": "x", "type": "int"}], [ID], True),
    ("FORWARD", [ID, {"name": "x", "type": "int"}], [ID], False),
    ("FORWARD", [ID, {"name": "x", "type": "int", "default": 0}], [ID], True),
    # promotions int -> long -> float -> double, string <-> bytes, never narrowing
    ("BACKWARD", [ID], [{"name": "id", "type": "long"}], True),
    ("BACKWARD", [{"name": "id", "type": "long"}], [ID], False),
    ("BACKWARD", [{"name": "id", "type": "float"}], [{"name": "id", "type": "double"}], True),
    ("BACKWARD", [{"name": "id", "type": "string"}], [{"name": "id", "type": "bytes"}], True),
    ("BACKWARD", [ID], [{"name": "id", "type": "string"}], False),
    # unions: widening to a nullable type is backward but not forward compatible
    ("BACKWARD", [ID], [{"name": "id", "type": ["null", "int"], "default": None}], True),
    ("FORWARD", [ID], [{"name": "id", "type": ["null", "int"], "default": None}], False),
    # enums: a new symbol is fine for the new reader, not for an old reader without a default
    ("BACKWARD", [{"name": "s", "type": {"type": "enum", "name": "S", "symbols": ["A"]}}],
     [{"name": "s", "type": {"type": "enum", "name": "S", "symbols": ["A", "B"]}}], True),
    ("FORWARD", [{"name": "s", "type": {"type": "enum", "name": "S", "symbols": ["A"]}}],
     [{"name": "s", "type": {"type": "enum", "name": "S", "symbols": ["A", "B"]}}], False),
    ("FORWARD", [{"name": "s", "type": {"type": "enum", "name": "S", "symbols": ["A", "Z"], "default": "Z"}}],
     [{"name": "s", "type": {"type": "enum", "name": "S", "symbols": ["A", "B"]}}], True),
    # nested records are resolved field by field
    ("BACKWARD", [{"name": "c", "type": {"type": "record", "name": "C", "fields": [ID]}}],
     [{"name": "c", "type": {"type": "record", "name": "C", "fields": [ID, {"name": "y", "type": "int"}]}}], False),
    ("BACKWARD", [{"name": "c", "type": {"type": "record", "name": "C", "fields": [ID]}}],
     [{"name": "c", "type": {"type": "record", "name": "D", "fields": [ID]}}], False),
    ("NONE", [ID], [{"name": "id", "type": "string"}], True),
])
def test_schema_registry_avro_compatibility(schema_registry, level, old, new, compatible):
    sr = SR(schema_registry, _subject("compat"))
    sr.level(level)
    assert sr.register(_avro(*old))[0] == 200
    status, doc = sr.check(_avro(*new))
    assert status == 200 and doc["is_compatible"] is compatible, doc
    assert bool(doc["messages"]) is not compatible
    status, doc = sr.register(_avro(*new))
    if compatible:
        assert status == 200 and sr.call("GET", "/subjects/%s/versions" % sr.subject)[1] == [1, 2]
    else:
        assert (status, doc["error_code"]) == (409, 409), doc
        assert sr.call("GET", "/subjects/%s/versions" % sr.subject)[1] == [1]


def test_schema_registry_transitive_levels_check_every_version(schema_registry):
    v1 = _avro(ID)
    v2 = _avro(ID, {"name": "b", "type": "int", "default": 0})
    v3 = _avro(ID, {"name": "b", "type": "int"})  # readable from v2, not from v1
    for level, ok in (("BACKWARD", True), ("BACKWARD_TRANSITIVE", False)):
        sr = SR(schema_registry, _subject(level.lower()))
        sr.level(level)
        assert sr.register(v1)[0] == 200 and sr.register(v2)[0] == 200
        assert sr.check(v3)[1]["is_compatible"] is ok
        assert sr.check(v3, version="1")[1]["is_compatible"] is False  # against v1 only
        assert sr.check(v3, version="2")[1]["is_compatible"] is True


def test_schema_registry_errors_and_config(schema_registry):
    sr = SR(schema_registry, _subject("err"))
    s = sr.subject
    assert sr.call("GET", "/subjects/%s/versions" % s)[1]["error_code"] == 40401
    assert sr.register('{"type": "record", "name": "X"}')[1]["error_code"] == 42201  # no fields
    assert sr.register('{"type": "record", "name": "X", "fields": [{"name": "a", "type": "int", "default": "x"}]}'
                       )[1]["error_code"] == 42201
    assert sr.register("not json")[1]["error_code"] == 42201
    assert sr.register(_avro(ID))[0] == 200
    assert sr.call("GET", "/subjects/%s/versions/7" % s)[1]["error_code"] == 40402
    assert sr.call("GET", "/subjects/%s/versions/zero" % s)[1]["error_code"] == 42202
    assert sr.call("GET", "/config/" + s)[1]["error_code"] == 40408
    assert sr.call("GET", "/config/%s?defaultToGlobal=true" % s) == (200, {"compatibilityLevel": "BACKWARD"})
    assert sr.call("PUT", "/config/" + s, {"compatibility": "SIDEWAYS"})[1]["error_code"] == 42203
    sr.level("FULL_TRANSITIVE")
    assert sr.call("GET", "/config/" + s) == (200, {"compatibilityLevel": "FULL_TRANSITIVE"})
    assert sr.call("DELETE", "/config/" + s) == (200, {"compatibilityLevel": "FULL_TRANSITIVE"})
    assert sr.call("GET", "/config/" + s)[1]["error_code"] == 40408
    assert _http("GET", schema_registry.url + "/subjects")[0] == 401
    assert _http("GET", schema_registry.url + "/subjects", auth=(sr.auth[0], "wrong"))[1]["error_code"] == 401


def test_schema_registry_json_and_protobuf_and_url_decoding(schema_registry):
    import json
    import urllib.parse

    raw = "weird/name %s" % _subject("x")
    quoted = urllib.parse.quote(raw, safe="")
    sr = SR(schema_registry, quoted)
    js = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}
    status, doc = sr.register(json.dumps(js), schemaType="JSON")
    assert status == 200
    assert sr.call("GET", "/subjects/%s/versions/1" % quoted)[1]["schemaType"] == "JSON"
    assert raw in sr.call("GET", "/subjects")[1]
    js2 = dict(js, properties={"id": {"type": "string"}})
    assert sr.call("POST", "/compatibility/subjects/%s/versions/latest" % quoted,
                   {"schema": json.dumps(js2), "schemaType": "JSON"})[1]["is_compatible"] is False
    p = SR(schema_registry, _subject("proto"))
    proto = 'syntax = "proto3";\nmessage Order {\n  int32 id = 1;\n  string note = 2;\n}\n'
    assert p.register(proto, schemaType="PROTOBUF")[0] == 200
    assert p.call("POST", "/compatibility/subjects/%s/versions/latest" % p.subject,
                  {"schema": proto.replace("string note", "int64 note"), "schemaType": "PROTOBUF"}
                  )[1]["is_compatible"] is False
    assert p.register("message {", schemaType="PROTOBUF")[1]["error_code"] == 42201


def test_schema_registry_soft_then_hard_delete(schema_registry):
    sr = SR(schema_registry, _subject("del"))
    s = sr.subject
    first = sr.register(_avro(ID))[1]["id"]
    assert sr.call("DELETE", "/subjects/%s?permanent=true" % s)[1]["error_code"] == 40405
    assert sr.call("DELETE", "/subjects/" + s) == (200, [1])
    assert s not in sr.call("GET", "/subjects")[1]
    assert s in sr.call("GET", "/subjects?deleted=true")[1]
    assert sr.call("GET", "/subjects/%s/versions" % s)[1]["error_code"] == 40401
    # registering again after a soft delete keeps the id and continues the version numbers
    assert sr.register(_avro(ID)) == (200, {"id": first})
    assert sr.call("GET", "/subjects/%s/versions" % s) == (200, [2])
    assert sr.call("DELETE", "/subjects/" + s) == (200, [2])
    assert sr.call("DELETE", "/subjects/%s?permanent=true" % s) == (200, [1, 2])
    assert s not in sr.call("GET", "/subjects?deleted=true")[1]
    assert sr.call("DELETE", "/subjects/" + s)[1]["error_code"] == 40401


# ---- the Conduktor Gateway fake ----------------------------------------------------------------

def _interceptor(name, scope=None, priority=100):
    doc = {"kind": "Interceptor", "apiVersion": "gateway/v2", "metadata": {"name": name},
           "spec": {"pluginClass": "io.conduktor.gateway.interceptor.VirtualSqlTopicPlugin", "priority": priority,
                    "config": {"virtualTopic": "v", "statement": "SELECT * FROM \"t\" WHERE a = 1"}}}
    if scope is not None:
        doc["metadata"]["scope"] = scope
    return doc


def test_gateway_interceptors_upsert_dry_mode_and_scoped_delete(conduktor_gateway):
    import uuid

    gw = conduktor_gateway
    auth = (gw.username, gw.password)
    base = gw.url + "/gateway/v2/interceptor"
    name = "smoke-" + uuid.uuid4().hex[:6]
    assert _http("PUT", base + "?dryMode=true", _interceptor(name), auth)[1]["upsertResult"] == "Created"
    assert _http("GET", base + "?name=" + name, auth=auth) == (200, [])  # dry mode stored nothing
    assert _http("PUT", base, _interceptor(name), auth)[1]["upsertResult"] == "Created"
    assert _http("PUT", base, _interceptor(name), auth)[1]["upsertResult"] == "NotChanged"
    assert _http("PUT", base, _interceptor(name, priority=1), auth)[1]["upsertResult"] == "Updated"
    assert _http("PUT", base, _interceptor(name, {"vCluster": "vc1", "username": "bob"}), auth)[0] == 200
    assert len(_http("GET", base + "?name=" + name, auth=auth)[1]) == 2
    # delete needs the exact scope: the wrong one is 404, the right one removes only that one
    assert _http("DELETE", "%s/%s" % (base, name), {"vCluster": "vc1"}, auth)[0] == 404
    assert _http("DELETE", "%s/%s" % (base, name), {"vCluster": "vc1", "username": "bob"}, auth)[0] == 200
    left = _http("GET", base + "?name=" + name, auth=auth)[1]
    assert [i["metadata"]["scope"] for i in left] == [{"vCluster": None, "group": None, "username": None}]
    assert left[0]["spec"]["priority"] == 1
    assert _http("PUT", base, dict(_interceptor(name), spec={"priority": 1}), auth)[0] == 400


def test_gateway_alias_topics_auth_and_health(conduktor_gateway):
    gw = conduktor_gateway
    auth = (gw.username, gw.password)
    base = gw.url + "/gateway/v2/alias-topic"
    alias = {"kind": "AliasTopic", "apiVersion": "gateway/v2", "metadata": {"name": "orders-v"},
             "spec": {"physicalName": "shop.orders"}}
    assert _http("GET", base)[0] == 401
    assert _http("GET", base, auth=(gw.username, "nope"))[0] == 401
    assert _http("GET", gw.url + "/health") == (200, {"status": "UP"})
    assert _http("PUT", base, alias, auth)[1]["upsertResult"] == "Created"
    got = _http("GET", base, auth=auth)[1]
    assert [(a["metadata"], a["spec"]) for a in got] == [({"name": "orders-v", "vCluster": "passthrough"},
                                                         {"physicalName": "shop.orders"})]
    assert _http("DELETE", base, {"name": "orders-v", "vCluster": "other"}, auth)[0] == 404
    assert _http("DELETE", base, {"name": "orders-v", "vCluster": "passthrough"}, auth)[0] == 200
    assert _http("GET", base, auth=auth) == (200, [])


# ---- Kafka Connect: a FileStreamSink writes records to a file ---------------------------------

def test_connect_file_sink_writes_records(connect):
    import os
    import time

    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    from tests.services.harness import http_json

    cfg = _client_config(connect.kafka.runtime())
    admin = KafkaAdminClient(**cfg)
    admin.create_topics([NewTopic("smoke.connect", 1, 1)])
    admin.close()
    producer = KafkaProducer(**cfg)
    for i in range(5):
        producer.send("smoke.connect", ("line-%d" % i).encode())
    producer.flush(20)
    producer.close()

    out = os.path.join(connect.work_dir, "smoke-sink.txt")
    conv = "org.apache.kafka.connect.storage.StringConverter"
    created = http_json(connect.url + "/connectors", "POST", {"name": "smoke-sink", "config": {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "tasks.max": "1",
        "topics": "smoke.connect", "file": out, "key.converter": conv, "value.converter": conv}})
    assert created["name"] == "smoke-sink"
    try:
        deadline = time.time() + 60
        lines = []
        while time.time() < deadline:
            if os.path.exists(out):
                with open(out) as f:
                    lines = f.read().splitlines()
                if len(lines) >= 5:
                    break
            time.sleep(0.5)
        assert lines == ["line-%d" % i for i in range(5)]
        status = http_json(connect.url + "/connectors/smoke-sink/status")
        assert status["connector"]["state"] == "RUNNING"
        assert [t["state"] for t in status["tasks"]] == ["RUNNING"]
    finally:
        http_json(connect.url + "/connectors/smoke-sink", "DELETE")


# ---- Tansu ------------------------------------------------------------------------------------

def test_tansu_produce_consume_and_cluster_id(tansu):
    from kafka.admin import KafkaAdminClient

    rt = tansu.runtime()
    values = [b"a", b"b", b"c"]
    assert produce_consume(rt, "smoke.tansu", values) == values
    admin = KafkaAdminClient(**_client_config(rt))
    try:
        assert admin.describe_cluster()["cluster_id"] == tansu.cluster_id
    finally:
        admin.close()


def test_services_env_points_at_the_services(services_env, kafka, schema_registry, flink, connect):
    import os

    from tests.services import harness
    from tests.services.harness import http_json

    assert services_env["KAFKA_BOOTSTRAP"] == kafka.bootstrap
    auth = (services_env["SCHEMA_REGISTRY_USERNAME"], services_env["SCHEMA_REGISTRY_PASSWORD"])
    assert isinstance(http_json(services_env["SCHEMA_REGISTRY_URL"] + "/subjects", auth=auth), list)
    overview = http_json(services_env["FLINK_REST_URL"] + "/overview")
    assert overview["taskmanagers"] == 1
    assert overview["slots-total"] == harness.flink_task_slots()   # (the setting is applied)
    assert http_json(services_env["FLINK_SQL_GATEWAY_URL"] + "/v1/info")["productName"] == "Apache Flink"
    assert http_json(services_env["CONNECT_URL"] + "/")["kafka_cluster_id"] == kafka.cluster_id
    assert os.path.isdir(os.path.dirname(services_env["ARCHIVE_FILE"]))


# ---- the harness leaves no process behind -----------------------------------------------------

_CHILD = """
import signal, sys, time
# as in a terminal session: a test run started under nohup hands SIGHUP down ignored, and the
# harness (rightly) leaves an ignored signal alone
signal.signal(signal.SIGHUP, signal.SIG_DFL)
from tests.services import harness
run = harness.Run()
svc = harness.start_tansu(run)
print(svc.proc.pid, run.name, run.marker, flush=True)
if sys.argv[1] == "detach":
    run.detached = True
    run.save()
    sys.exit(0)
time.sleep(120)
"""


def _child(mode):
    import os
    import subprocess
    import sys

    from tests.services.harness import ROOT

    p = subprocess.Popen([sys.executable, "-c", _CHILD, mode], cwd=ROOT, stdout=subprocess.PIPE,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    pid, name, marker = p.stdout.readline().decode().split()
    return p, int(pid), name, marker


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_stopped_run_leaves_no_process_behind(signame):
    import signal

    from tests.services.harness import _carries_marker

    p, pid, _, marker = _child("wait")
    assert _carries_marker(pid, marker)
    p.send_signal(getattr(signal, signame))
    p.wait(30)
    assert not _carries_marker(pid, marker)


def test_down_stops_the_recorded_processes_of_a_detached_run():
    import io

    from tests.services import harness

    p, pid, name, marker = _child("detach")
    assert p.wait(30) == 0
    assert harness._carries_marker(pid, marker)  # still running after its starter exited
    out = io.StringIO()
    harness.down(out, runs=[name])
    assert not harness._carries_marker(pid, marker)
    assert "stopped tansu" in out.getvalue()


def test_a_new_run_reaps_the_services_of_a_killed_session():
    import signal

    from tests.services import harness

    p, pid, name, marker = _child("wait")
    p.send_signal(signal.SIGKILL)  # no atexit, no handler: its Tansu is orphaned
    p.wait(30)
    assert harness._carries_marker(pid, marker)
    run = harness.Run()
    try:
        assert not harness._carries_marker(pid, marker)
    finally:
        run.stop()


def test_kafka_certificate_verifies_on_every_supported_python(kafka):
    """streamt runs on CPython 3.6-3.13; 3.13 verifies certificates strictly (VERIFY_X509_STRICT)."""
    import glob
    import os
    import subprocess
    import sys

    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    def version(path):
        return tuple(int(x) for x in path.split(os.sep)[-3].split(".")[:2] if x.isdigit())

    pythons = [p for p in glob.glob(os.path.join(root, "versions", "3.*", "bin", "python")) if version(p) >= (3, 6)]
    pythons = sorted(pythons) or [sys.executable]
    host, port = kafka.listeners["SSL"].rsplit(":", 1)
    code = ("import ssl, socket, sys; c = ssl.create_default_context(cafile=sys.argv[1]); "
            "s = c.wrap_socket(socket.create_connection((sys.argv[2], int(sys.argv[3])), 5), server_hostname=sys.argv[4]); "
            "print(s.version())")
    for py in pythons:
        for name in ("localhost", "127.0.0.1"):
            r = subprocess.run([py, "-c", code, kafka.ca_file, host, port, name], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, check=False)
            assert r.returncode == 0 and b"TLS" in r.stdout, (py, name, r.stdout.decode(errors="replace"))
