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


