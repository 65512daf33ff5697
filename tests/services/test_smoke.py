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
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    rt = dict(kafka.runtime("SASL_PLAINTEXT", "SCRAM-SHA-256"), sasl_password="wrong")
    with pytest.raises(KafkaError):
        KafkaAdminClient(**_client_config(rt)).close()


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
    finally:
        http_json("%s/jobs/%s?mode=cancel" % (flink.rest_url, job_id), "PATCH")
        deadline = time.time() + 30
        while time.time() < deadline and http_json("%s/jobs/%s" % (flink.rest_url, job_id))["state"] != "CANCELED":
            time.sleep(0.2)
