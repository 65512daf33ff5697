"""The Kafka wire client (section "Clients: Kafka wire protocol").

Unit tests: every request/response layout we use, against byte sequences written by hand
from the upstream message definitions (apache/kafka clients/src/main/resources/common/
message/*.json) -- never produced by our own encoder; SCRAM against the RFC test vectors;
the error table; settings; unreachable and silent brokers (real sockets).

Integration tests (@pytest.mark.services): the same operations against a real Apache Kafka
on its four listeners, and against Tansu for what it implements.
"""
import socket
import struct
import threading
import time
import uuid

import pytest

import streamt
from streamt import (KafkaAdmin, KafkaError, _Scram)
_KAFKA_APIS = streamt._KafkaWire.APIS
_kafka_decode_response = streamt._KafkaWire.decode_response
_kafka_encode_request = streamt._KafkaWire.encode_request
_kafka_decode_versions_v0 = streamt._KafkaWire.decode_versions_v0
_KWriter = streamt._KafkaWire.Writer
_KReader = streamt._KafkaWire.Reader


def hx(text):
    """Bytes from hex written with spaces/newlines and '|' separators for readability."""
    return bytes(bytearray.fromhex(text.replace("|", " ")))


def frame(hexbody):
    body = hx(hexbody)
    return struct.pack(">i", len(body)) + body


def enc(api, version, body, corr=7, client="streamt"):
    key, _ours, flex, req, _resp = _KAFKA_APIS[api]
    return _kafka_encode_request(key, version, corr, client, version >= flex, req, body)


def dec(api, version, hexdata):
    _key, _ours, flex, _req, resp = _KAFKA_APIS[api]
    flexible = version >= flex
    body, corr = _kafka_decode_response(hx(hexdata), version, flexible,
                                        flexible and api != "ApiVersions", resp)
    return body, corr


STREAMT = "0007 73747265616d74"           # client id "streamt", int16 length (header v1/v2)
RETENTION = "72 65 74 65 6e 74 69 6f 6e 2e 6d 73"          # "retention.ms" (12 bytes)
CLEANUP = "63 6c 65 61 6e 75 70 2e 70 6f 6c 69 63 79"      # "cleanup.policy" (14 bytes)


# -- primitives -------------------------------------------------------------------

@pytest.mark.parametrize("n, hexbytes", [(0, "00"), (1, "01"), (127, "7f"), (128, "80 01"),
                                         (300, "ac 02"), (16384, "80 80 01")])
def test_unsigned_varint(n, hexbytes):
    w = _KWriter(True)
    w.uvarint(n)
    assert w.getvalue() == hx(hexbytes)
    assert _KReader(hx(hexbytes)).uvarint() == n


def test_tagged_fields_are_skipped():
    # two tagged fields (tag 0, 2 bytes; tag 5, 1 byte) then an int16
    r = _KReader(hx("02 | 00 02 ab cd | 05 01 ee | 00 2a"))
    r.skip_tags()
    assert r.int16() == 42


def test_truncated_response_is_an_error_not_garbage():
    with pytest.raises((ValueError, struct.error)):
        dec("SaslHandshake", 1, "00000001 | 0000 | 00000001 | 0005 504c41")  # "PLA" of "PLAIN"


# -- ApiVersions ------------------------------------------------------------------

def test_api_versions_v0_request_matches_the_reference_bytes():
    # the readiness probe of docs/test-services (§1.3): size | key 18 | v0 | corr 1 | "ready"
    assert enc("ApiVersions", 0, {}, corr=1, client="ready") == hx(
        "0000000f 0012 0000 00000001 0005 7265616479")


def test_api_versions_v3_request_is_flexible_with_header_v2():
    got = enc("ApiVersions", 3, {"client_software_name": "streamt",
                                 "client_software_version": "0.1.0"})
    assert got == frame("0012 0003 00000007 " + STREAMT + " 00"   # header v2: + tagged fields
                        "| 08 73747265616d74 | 06 302e312e30 | 00")


def test_api_versions_v3_response_uses_header_v0_and_compact_arrays():
    body, corr = dec("ApiVersions", 3, "00000001 | 0000 | 03 | 0012 0000 0004 00 |"
                     " 0003 0000 000c 00 | 00000000 | 01 03 01 00")
    assert corr == 1
    assert body["error_code"] == 0
    assert body["api_keys"] == [{"api_key": 18, "min_version": 0, "max_version": 4},
                                {"api_key": 3, "min_version": 0, "max_version": 12}]


def test_api_versions_unsupported_version_answer_in_v0_layout():
    # what a broker answers to an ApiVersions version it does not know: error 35, v0 body
    keys = _kafka_decode_versions_v0(hx("00000001 | 0023 | 00000001 | 0012 0000 0002"))
    assert keys == [{"api_key": 18, "min_version": 0, "max_version": 2}]


def test_api_versions_v1_response():
    body, _ = dec("ApiVersions", 1, "00000002 | 0000 | 00000001 | 0013 0002 0007 | 00000064")
    assert body == {"error_code": 0, "throttle_time_ms": 100,
                    "api_keys": [{"api_key": 19, "min_version": 2, "max_version": 7}]}


# -- Metadata ---------------------------------------------------------------------

def test_metadata_v4_request_classic():
    got = enc("Metadata", 4, {"topics": [{"name": "t"}], "allow_auto_topic_creation": False})
    assert got == frame("0003 0004 00000007 " + STREAMT + "| 00000001 0001 74 | 00")


def test_metadata_v4_request_null_topics_means_all():
    got = enc("Metadata", 4, {"topics": None, "allow_auto_topic_creation": False})
    assert got == frame("0003 0004 00000007 " + STREAMT + "| ffffffff | 00")


def test_metadata_v12_request_flexible():
    got = enc("Metadata", 12, {"topics": [{"name": "t", "topic_id": None}],
                               "allow_auto_topic_creation": False,
                               "include_topic_authorized_operations": False})
    assert got == frame("0003 000c 00000007 " + STREAMT + " 00 | 02 | "
                        "00000000000000000000000000000000 02 74 00 | 00 | 00 | 00")
    null = enc("Metadata", 12, {"topics": None})
    assert null == frame("0003 000c 00000007 " + STREAMT + " 00 | 00 | 00 | 00 | 00")


def test_metadata_v8_request_has_both_authorized_operation_flags():
    got = enc("Metadata", 8, {"topics": [], "allow_auto_topic_creation": False})
    assert got == frame("0003 0008 00000007 " + STREAMT + "| 00000000 | 00 | 00 | 00")


def test_metadata_v4_response():
    body, corr = dec("Metadata", 4, "00000005 | 00000000 |"
                     " 00000001 | 00000001 0009 3132372e302e302e31 00002384 ffff |"
                     " 0004 61626364 | 00000001 |"
                     " 00000001 | 0000 0001 74 00 | 00000001 | 0000 00000000 00000001"
                     " 00000001 00000001 00000001 00000001")
    assert corr == 5
    assert body["brokers"] == [{"node_id": 1, "host": "127.0.0.1", "port": 9092, "rack": None}]
    assert body["cluster_id"] == "abcd" and body["controller_id"] == 1
    t = body["topics"][0]
    assert (t["name"], t["error_code"], t["is_internal"]) == ("t", 0, False)
    assert t["partitions"] == [{"error_code": 0, "partition_index": 0, "leader_id": 1,
                                "replica_nodes": [1], "isr_nodes": [1]}]


def test_metadata_v12_response_flexible_with_topic_id_and_tags():
    body, corr = dec("Metadata", 12, "00000009 00 | 00000000 |"
                     " 02 | 00000001 0a 3132372e302e302e31 00002384 00 00 |"
                     " 05 61626364 | 00000001 |"
                     " 02 | 0003 02 78 | 000102030405060708090a0b0c0d0e0f | 00 | 01 |"
                     " 80000000 00 |"
                     " 01 00 02 beef")   # a tagged field at the end, unknown to us
    assert corr == 9
    assert body["brokers"][0]["host"] == "127.0.0.1" and body["brokers"][0]["rack"] is None
    t = body["topics"][0]
    assert t["error_code"] == 3 and t["name"] == "x"
    assert t["topic_id"] == "000102030405060708090a0b0c0d0e0f"
    assert t["partitions"] == []


# -- CreateTopics -----------------------------------------------------------------

CREATE_BODY = {"topics": [{"name": "t", "num_partitions": 3, "replication_factor": 1,
                           "assignments": [], "configs": [{"name": "retention.ms",
                                                           "value": "1000"}]}],
               "timeout_ms": 30000, "validate_only": True}


def test_create_topics_v3_request_classic():
    assert enc("CreateTopics", 3, CREATE_BODY) == frame(
        "0013 0003 00000007 " + STREAMT +
        "| 00000001 | 0001 74 | 00000003 | 0001 | 00000000 | 00000001 | 000c " + RETENTION +
        " 0004 31303030 | 00007530 | 01")


def test_create_topics_v5_request_flexible():
    assert enc("CreateTopics", 5, CREATE_BODY) == frame(
        "0013 0005 00000007 " + STREAMT + " 00"
        "| 02 | 02 74 | 00000003 | 0001 | 01 | 02 | 0d " + RETENTION +
        " 05 31303030 00 | 00 | 00007530 | 01 | 00")


def test_create_topics_null_config_value():
    body = {"topics": [{"name": "t", "num_partitions": -1, "replication_factor": -1,
                        "assignments": [], "configs": [{"name": "a", "value": None}]}],
            "timeout_ms": 1, "validate_only": False}
    assert enc("CreateTopics", 2, body) == frame(
        "0013 0002 00000007 " + STREAMT +
        "| 00000001 | 0001 74 | ffffffff | ffff | 00000000 | 00000001 | 0001 61 ffff |"
        " 00000001 | 00")


def test_create_topics_v2_response():
    body, _ = dec("CreateTopics", 2, "00000007 | 00000000 | 00000002 |"
                  " 0001 61 0000 ffff | 0001 62 0026 0004 6e6f7065")
    assert body["topics"] == [
        {"name": "a", "error_code": 0, "error_message": None},
        {"name": "b", "error_code": 38, "error_message": "nope"}]


def test_create_topics_v7_response_with_configs_and_tagged_config_error():
    body, corr = dec("CreateTopics", 7, "00000007 00 | 00000000 | 02 |"
                     " 02 74 | 0102030405060708090a0b0c0d0e0f10 | 0000 | 00 | 00000003 | 0001 |"
                     " 02 | 0d " + RETENTION + " 05 31303030 00 01 00 00 |"
                     " 01 00 02 0000 |"    # TopicConfigErrorCode: tag 0, 2 bytes
                     " 00")
    assert corr == 7
    assert body["topics"] == [{
        "name": "t", "topic_id": "0102030405060708090a0b0c0d0e0f10", "error_code": 0,
        "error_message": None, "num_partitions": 3, "replication_factor": 1,
        "configs": [{"name": "retention.ms", "value": "1000", "read_only": False,
                     "config_source": 1, "is_sensitive": False}]}]


# -- DeleteTopics, CreatePartitions ---------------------------------------------------

def test_delete_topics_requests():
    body = {"topic_names": ["a", "b"], "timeout_ms": 30000}
    assert enc("DeleteTopics", 1, body) == frame(
        "0014 0001 00000007 " + STREAMT + "| 00000002 0001 61 0001 62 | 00007530")
    assert enc("DeleteTopics", 4, body) == frame(
        "0014 0004 00000007 " + STREAMT + " 00 | 03 02 61 02 62 | 00007530 | 00")


def test_delete_topics_v5_response():
    body, _ = dec("DeleteTopics", 5, "00000003 00 | 00000000 | 03 |"
                  " 02 61 0000 00 00 | 02 62 0003 06 676f6e652e 00 | 00")
    assert body["responses"] == [
        {"name": "a", "error_code": 0, "error_message": None},
        {"name": "b", "error_code": 3, "error_message": "gone."}]


def test_delete_topics_v1_response():
    body, _ = dec("DeleteTopics", 1, "00000003 | 00000000 | 00000001 | 0001 61 0049")
    assert body["responses"] == [{"name": "a", "error_code": 73}]


def test_create_partitions_requests():
    body = {"topics": [{"name": "t", "count": 5, "assignments": None}], "timeout_ms": 30000,
            "validate_only": False}
    assert enc("CreatePartitions", 1, body) == frame(
        "0025 0001 00000007 " + STREAMT + "| 00000001 0001 74 00000005 ffffffff | 00007530 | 00")
    assert enc("CreatePartitions", 2, body) == frame(
        "0025 0002 00000007 " + STREAMT + " 00 | 02 02 74 00000005 00 00 | 00007530 | 00 | 00")


def test_create_partitions_v0_response():
    body, _ = dec("CreatePartitions", 0, "00000004 | 00000000 | 00000001 |"
                  " 0001 74 0025 0003 626164")
    assert body["results"] == [{"name": "t", "error_code": 37, "error_message": "bad"}]


# -- DescribeConfigs ----------------------------------------------------------------

def test_describe_configs_requests_send_a_null_key_list():
    body = {"resources": [{"resource_type": 2, "resource_name": "t",
                           "configuration_keys": None}],
            "include_synonyms": True, "include_documentation": False}
    assert enc("DescribeConfigs", 1, body) == frame(
        "0020 0001 00000007 " + STREAMT + "| 00000001 02 0001 74 ffffffff | 01")
    assert enc("DescribeConfigs", 3, body) == frame(
        "0020 0003 00000007 " + STREAMT + "| 00000001 02 0001 74 ffffffff | 01 | 00")
    assert enc("DescribeConfigs", 4, body) == frame(
        "0020 0004 00000007 " + STREAMT + " 00 | 02 02 02 74 00 00 | 01 | 00 | 00")


def test_describe_configs_v1_response_with_sources_and_synonyms():
    body, _ = dec("DescribeConfigs", 1,
                  "00000002 | 00000000 | 00000001 | 0000 ffff 02 0001 74 | 00000002 |"
                  " 000c " + RETENTION + " 0004 31303030 00 01 00 |"
                  "   00000001 000c " + RETENTION + " 0004 31303030 01 |"
                  " 000e " + CLEANUP + " 0006 64656c657465 00 05 00 | 00000000")
    res = body["results"][0]
    assert (res["error_code"], res["resource_type"], res["resource_name"]) == (0, 2, "t")
    assert res["configs"] == [
        {"name": "retention.ms", "value": "1000", "read_only": False, "config_source": 1,
         "is_sensitive": False,
         "synonyms": [{"name": "retention.ms", "value": "1000", "source": 1}]},
        {"name": "cleanup.policy", "value": "delete", "read_only": False, "config_source": 5,
         "is_sensitive": False, "synonyms": []}]


def test_describe_configs_v4_response_flexible():
    body, _ = dec("DescribeConfigs", 4,
                  "00000002 00 | 00000000 | 02 | 0000 00 02 02 74 | 02 |"
                  " 0d " + RETENTION + " 05 31303030 00 01 00 01 05 00 00 | 00 | 00")
    assert body["results"][0]["configs"] == [
        {"name": "retention.ms", "value": "1000", "read_only": False, "config_source": 1,
         "is_sensitive": False, "synonyms": [], "config_type": 5, "documentation": None}]


# -- AlterConfigs, IncrementalAlterConfigs ------------------------------------------

INCREMENTAL = {"resources": [{"resource_type": 2, "resource_name": "t", "configs": [
    {"name": "retention.ms", "config_operation": 0, "value": "1000"},
    {"name": "cleanup.policy", "config_operation": 1, "value": None}]}], "validate_only": False}


def test_incremental_alter_configs_requests():
    assert enc("IncrementalAlterConfigs", 0, INCREMENTAL) == frame(
        "002c 0000 00000007 " + STREAMT + "| 00000001 02 0001 74 00000002 |"
        " 000c " + RETENTION + " 00 0004 31303030 | 000e " + CLEANUP + " 01 ffff | 00")
    assert enc("IncrementalAlterConfigs", 1, INCREMENTAL) == frame(
        "002c 0001 00000007 " + STREAMT + " 00 | 02 02 02 74 03 |"
        " 0d " + RETENTION + " 00 05 31303030 00 | 0f " + CLEANUP + " 01 00 00 | 00 | 00 | 00")


def test_alter_configs_v0_request():
    body = {"resources": [{"resource_type": 2, "resource_name": "t", "configs": [
        {"name": "retention.ms", "value": "1000"}]}], "validate_only": True}
    assert enc("AlterConfigs", 0, body) == frame(
        "0021 0000 00000007 " + STREAMT + "| 00000001 02 0001 74 00000001 000c " + RETENTION +
        " 0004 31303030 | 01")


def test_alter_configs_responses():
    for api in ("AlterConfigs", "IncrementalAlterConfigs"):
        body, _ = dec(api, 0, "00000001 | 00000000 | 00000001 | 0028 0003 626164 02 0001 74")
        assert body["responses"] == [{"error_code": 40, "error_message": "bad",
                                      "resource_type": 2, "resource_name": "t"}]
    body, _ = dec("IncrementalAlterConfigs", 1, "00000001 00 | 00000000 | 02 |"
                  " 0000 01 02 02 74 00 | 00")
    assert body["responses"] == [{"error_code": 0, "error_message": "", "resource_type": 2,
                                  "resource_name": "t"}]


# -- SASL ---------------------------------------------------------------------------

def test_sasl_handshake_v1():
    assert enc("SaslHandshake", 1, {"mechanism": "PLAIN"}) == frame(
        "0011 0001 00000007 " + STREAMT + "| 0005 504c41494e")
    body, _ = dec("SaslHandshake", 1, "00000007 | 0021 | 00000002 | 0005 504c41494e |"
                  " 000d 534352414d2d5348412d323536")
    assert body == {"error_code": 33, "mechanisms": ["PLAIN", "SCRAM-SHA-256"]}


def test_sasl_authenticate():
    assert enc("SaslAuthenticate", 1, {"auth_bytes": b"abc"}) == frame(
        "0024 0001 00000007 " + STREAMT + "| 00000003 616263")
    assert enc("SaslAuthenticate", 2, {"auth_bytes": b"abc"}) == frame(
        "0024 0002 00000007 " + STREAMT + " 00 | 04 616263 | 00")
    body, _ = dec("SaslAuthenticate", 1, "00000007 | 003a | 0004 6e6f7065 | 00000000 |"
                  " 0000000000000000")
    assert body == {"error_code": 58, "error_message": "nope", "auth_bytes": b"",
                    "session_lifetime_ms": 0}
    body, _ = dec("SaslAuthenticate", 2, "00000007 00 | 0000 | 00 | 03 7879 |"
                  " 00000000000036ee | 00")
    assert body == {"error_code": 0, "error_message": None, "auth_bytes": b"xy",
                    "session_lifetime_ms": 14062}


# RFC 5802 section 5 (SCRAM-SHA-1) and RFC 7677 section 3 (SCRAM-SHA-256): user "user",
# password "pencil", fixed client nonce.
SCRAM_VECTORS = [
    ("SCRAM-SHA-1", "fyko+d2lbbFgONRv9qkxdawL",
     "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
     "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
     "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
    ("SCRAM-SHA-256", "rOprNGfwEbeRWgbNEkqO",
     "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
     "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
     "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
     "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
]


@pytest.mark.parametrize("mech, nonce, server_first, client_final, server_final", SCRAM_VECTORS)
def test_scram_rfc_vectors(mech, nonce, server_first, client_final, server_final):
    s = _Scram(mech, "user", "pencil", nonce=nonce)
    assert s.first() == ("n,,n=user,r=" + nonce).encode()
    assert s.final(server_first.encode()) == client_final.encode()
    s.verify(server_final.encode())  # raises when the server signature is wrong


def test_scram_rejects_a_wrong_server_signature_and_a_foreign_nonce():
    mech, nonce, server_first, _cf, _sf = SCRAM_VECTORS[1]
    s = _Scram(mech, "user", "pencil", nonce=nonce)
    s.final(server_first.encode())
    with pytest.raises(streamt._KafkaSettings.ScramError):
        s.verify(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    with pytest.raises(streamt._KafkaSettings.ScramError):
        _Scram(mech, "user", "pencil", nonce="abc").final(b"r=xyz,s=QSXCR+Q6sek8bf92,i=4096")
    with pytest.raises(streamt._KafkaSettings.ScramError, match="unknown-user"):
        _Scram(mech, "user", "pencil", nonce="abc").final(b"e=unknown-user")


def test_scram_escapes_the_user_name():
    assert _Scram("SCRAM-SHA-512", "a=b,c", "x", nonce="n").first() == b"n,,n=a=3Db=2Cc,r=n"


# -- errors, settings, version choice ---------------------------------------------------

def test_error_table():
    assert streamt.kafka_error_name(36) == "TOPIC_ALREADY_EXISTS"
    assert streamt.kafka_error_name(-1) == "UNKNOWN_SERVER_ERROR"
    assert streamt.kafka_error_name(41) == "NOT_CONTROLLER"
    assert streamt.kafka_error_name(58) == "SASL_AUTHENTICATION_FAILED"
    assert streamt.kafka_error_name(9999) == "UNKNOWN_ERROR_9999"
    # the table is complete: every code from -1 to the newest we know has a name
    assert sorted(streamt.KAFKA_ERRORS) == list(range(-1, 134))
    assert len(set(streamt.KAFKA_ERRORS.values())) == len(streamt.KAFKA_ERRORS)
    e = KafkaError("x", code=38)
    assert (e.code, e.name, e.exit_code) == (38, "INVALID_REPLICATION_FACTOR", 1)
    assert isinstance(e, streamt.ServiceError)


def test_per_topic_error_hints():
    admin = KafkaAdmin({"bootstrap_servers": "h:1", "security_protocol": "SASL_SSL",
                        "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "alice",
                        "sasl_password": "pw"})
    admin._meta = {"brokers": [{"node_id": 1}, {"node_id": 2}]}
    e = admin._error(38, "Unable to replicate the partition 3 time(s)", "cannot create topic 't'")
    assert e.name == "INVALID_REPLICATION_FACTOR"
    assert "Unable to replicate" in e.message and "2 broker(s)" in e.hint
    e = admin._error(29, None, "cannot create topic 't'", topic="t", operation="CREATE")
    assert "User:alice" in e.hint and "Topic:t" in e.hint
    e = admin._error(36, "No error.", "x")
    assert "No error" not in e.message


@pytest.mark.parametrize("config, message", [
    ({}, "bootstrap_servers is missing"),
    ({"bootstrap_servers": "nohostport"}, "is not host:port"),
    ({"bootstrap_servers": "h:1", "security_protocol": "TLS"}, "unknown value 'TLS'"),
    ({"bootstrap_servers": "h:1", "security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI",
      "sasl_username": "u", "sasl_password": "p"}, "'GSSAPI' is not supported"),
    ({"bootstrap_servers": "h:1", "security_protocol": "SASL_PLAINTEXT"},
     "needs sasl_username and sasl_password"),
    ({"bootstrap_servers": "h:1", "ssl_check_hostname": "maybe"}, "must be true or false"),
])
def test_bad_settings_say_which_key(config, message):
    with pytest.raises(KafkaError, match=message):
        KafkaAdmin(config)


def test_settings_parse_lists_and_ipv6():
    s = KafkaAdmin({"bootstrap_servers": "a:1, b:2,[::1]:3", "security_protocol": "ssl",
                    "ssl_check_hostname": "false"}).settings
    assert s["bootstrap"] == [("a", 1), ("b", 2), ("::1", 3)]
    assert s["tls"] and not s["sasl"] and s["ssl_check_hostname"] is False
    s = KafkaAdmin({"bootstrap_servers": ["SASL_SSL://x:9096"], "security_protocol": "SASL_SSL",
                    "sasl_username": "u", "sasl_password": "p"}).settings
    assert s["bootstrap"] == [("x", 9096)] and s["mechanism"] == "PLAIN"


def test_version_choice_is_the_highest_common_and_refuses_clearly():
    admin = KafkaAdmin({"bootstrap_servers": "h:1"})
    conn = streamt._KafkaConnection(admin, "h", 1)
    conn._choose_versions({19: (2, 7), 3: (0, 13), 32: (1, 2), 37: (0, 0), 20: (6, 9)})
    assert conn.version("CreateTopics") == 7
    assert conn.version("Metadata") == 12
    assert conn.version("DescribeConfigs") == 2
    assert conn.version("CreatePartitions") == 0
    with pytest.raises(KafkaError, match="DeleteTopics versions 6-9 and streamt versions 1-5"):
        conn.version("DeleteTopics")
    with pytest.raises(KafkaError, match="does not support AlterConfigs"):
        conn.version("AlterConfigs")
    admin.version_caps = {"CreateTopics": 4}
    conn._choose_versions({19: (2, 7)})
    assert conn.version("CreateTopics") == 4


# -- network failures (real sockets, no broker) ----------------------------------------

def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_broker_says_so():
    port = _free_port()
    admin = KafkaAdmin({"bootstrap_servers": "127.0.0.1:%d" % port}, timeout=2)
    with pytest.raises(KafkaError) as info:
        admin.list_topics()
    text = info.value.render()
    assert "cannot connect to Kafka broker 127.0.0.1:%d" % port in text
    assert "refused" in text.lower()
    assert "bootstrap_servers" in text


def test_every_bootstrap_server_is_tried_and_listed():
    p1, p2 = _free_port(), _free_port()
    admin = KafkaAdmin({"bootstrap_servers": "127.0.0.1:%d,127.0.0.1:%d" % (p1, p2)}, timeout=2)
    with pytest.raises(KafkaError) as info:
        admin.cluster()
    text = info.value.render()
    assert "cannot reach any Kafka bootstrap server" in text
    assert str(p1) in text and str(p2) in text


class _SilentServer(object):
    """Accepts connections and never answers (a hung broker)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._run)
        self.thread.daemon = True
        self.thread.start()

    def _run(self):
        try:
            while True:
                c, _ = self.sock.accept()
                self.conns.append(c)
        except OSError:
            pass

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


def test_a_silent_broker_times_out_with_a_clear_message():
    server = _SilentServer()
    try:
        admin = KafkaAdmin({"bootstrap_servers": "127.0.0.1:%d" % server.port}, timeout=0.5)
        t0 = time.time()
        with pytest.raises(KafkaError) as info:
            admin.list_topics()
        assert time.time() - t0 < 5
        assert "timed out after 0.5s waiting for Kafka broker 127.0.0.1:%d to answer ApiVersions" \
            % server.port in info.value.render()
    finally:
        server.close()


def test_tls_against_a_silent_listener_times_out_in_the_handshake():
    server = _SilentServer()
    try:
        admin = KafkaAdmin({"bootstrap_servers": "127.0.0.1:%d" % server.port,
                            "security_protocol": "SSL"}, timeout=0.5)
        with pytest.raises(KafkaError, match="timed out during the TLS handshake"):
            admin.list_topics()
    finally:
        server.close()


# =====================================================================================
# Integration: Apache Kafka (the `kafka` fixture) and Tansu (the `tansu` fixture)
# =====================================================================================

# The highest non-flexible version of each API: run the suite once with these to cover the
# classic encoding on a real broker (Kafka 4.x still accepts them).
CLASSIC = {"ApiVersions": 2, "Metadata": 8, "CreateTopics": 4, "DeleteTopics": 3,
           "DescribeConfigs": 3, "AlterConfigs": 1, "IncrementalAlterConfigs": 0,
           "CreatePartitions": 1, "SaslAuthenticate": 1}

LISTENERS = [("PLAINTEXT", None), ("SASL_PLAINTEXT", "SCRAM-SHA-512"),
             ("SASL_SSL", "PLAIN"), ("SSL", None)]


def _name(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def _admin(runtime, classic=False, **kw):
    admin = KafkaAdmin(runtime, timeout=20, **kw)
    if classic:
        admin.version_caps = dict(CLASSIC)
    return admin


@pytest.mark.services
@pytest.mark.parametrize("listener, mechanism", LISTENERS)
def test_kafka_topic_lifecycle(kafka, listener, mechanism):
    _lifecycle(kafka, kafka.runtime(listener, mechanism), classic=False)


@pytest.mark.services
def test_kafka_topic_lifecycle_classic_versions(kafka):
    _lifecycle(kafka, kafka.runtime("SASL_PLAINTEXT", "SCRAM-SHA-256"), classic=True)


def _lifecycle(kafka, runtime, classic):
    admin = _admin(runtime, classic)
    try:
        info = admin.cluster()
        assert info["cluster_id"] == kafka.cluster_id
        assert [b["node_id"] for b in info["brokers"]] == [1]
        assert info["controller_id"] == 1
        conn = admin._any()
        if classic:
            assert conn.version("CreateTopics") == 4 and conn.version("Metadata") == 8
        else:
            assert conn.version("CreateTopics") >= 5  # flexible on Kafka 4

        a, b = _name("life-a"), _name("life-b")
        topics = [{"name": a, "partitions": 3, "replication_factor": 1,
                   "config": {"retention.ms": "3600000", "cleanup.policy": "compact"}},
                  {"name": b, "partitions": 1, "replication_factor": 1, "config": {}}]

        # validate-only: the broker checks, nothing is created
        assert admin.create_topics(topics, validate_only=True) == {a: None, b: None}
        assert admin.describe_topics([a, b]) == {}
        bad = admin.create_topics([{"name": _name("rf"), "partitions": 1,
                                    "replication_factor": 3, "config": {}}],
                                  validate_only=True)
        err = list(bad.values())[0]
        assert err.name == "INVALID_REPLICATION_FACTOR"
        assert "the cluster has 1 broker(s)" in err.render()

        assert admin.create_topics(topics) == {a: None, b: None}
        again = admin.create_topics(topics[:1])[a]
        assert again.name == "TOPIC_ALREADY_EXISTS" and again.code == 36
        assert a in again.render()

        assert {a, b} <= set(admin.list_topics())
        assert admin.describe_topics([a, b, _name("missing")]) == {
            a: {"partitions": 3, "replication_factor": 1},
            b: {"partitions": 1, "replication_factor": 1}}

        configs = admin.describe_configs([a, b])
        assert configs[a]["retention.ms"]["value"] == "3600000"
        assert configs[a]["retention.ms"]["source"] == "TOPIC"
        assert configs[a]["retention.ms"]["is_default"] is False
        # defaults are reported as such, not mistaken for settings
        assert configs[b]["cleanup.policy"]["source"] in ("DEFAULT", "BROKER")
        assert configs[b]["segment.bytes"]["is_default"] is True
        assert not [k for k, c in configs[b].items() if c["source"] == "TOPIC"]

        # incremental alter: set one key, reset another; validate-only changes nothing
        assert admin.alter_configs({a: {"retention.ms": "7200000"}}, validate_only=True) == {a: None}
        assert admin.describe_configs([a])[a]["retention.ms"]["value"] == "3600000"
        assert admin.alter_configs({a: {"retention.ms": "7200000", "cleanup.policy": None}}) == \
            {a: None}
        now = admin.describe_configs([a])[a]
        assert now["retention.ms"]["value"] == "7200000" and now["retention.ms"]["source"] == "TOPIC"
        assert now["cleanup.policy"]["source"] != "TOPIC"
        bad = admin.alter_configs({a: {"retention.ms": "soon"}})[a]
        assert bad.name == "INVALID_CONFIG" and "retention.ms" in bad.render()

        # partitions: validate-only, then for real; decreasing is refused
        assert admin.create_partitions({a: 5}, validate_only=True) == {a: None}
        assert admin.describe_topics([a])[a]["partitions"] == 3
        assert admin.create_partitions({a: 5}) == {a: None}
        assert admin.describe_topics([a])[a]["partitions"] == 5
        assert admin.create_partitions({a: 2})[a].name == "INVALID_PARTITIONS"

        assert admin.delete_topics([a, b]) == {a: None, b: None}
        assert admin.describe_topics([a, b]) == {}
        gone = admin.delete_topics([a])[a]
        assert gone.name == "UNKNOWN_TOPIC_OR_PARTITION"
    finally:
        admin.close()


@pytest.mark.services
def test_kafka_legacy_alter_configs_keeps_the_other_settings(kafka):
    """AlterConfigs replaces a topic's whole dynamic config: the fallback must send the full set."""
    admin = _admin(kafka.runtime(), incremental_alter=False)
    t = _name("legacy")
    try:
        assert admin.create_topics([{"name": t, "partitions": 1, "replication_factor": 1,
                                     "config": {"retention.ms": "3600000",
                                                "max.message.bytes": "200000"}}]) == {t: None}
        before = admin.requests_sent
        assert admin.alter_configs({t: {"retention.ms": "60000", "cleanup.policy": "compact"}}) \
            == {t: None}
        # the legacy path: one DescribeConfigs + one AlterConfigs (+ metadata/connection set-up)
        assert admin.requests_sent - before <= 4
        c = admin.describe_configs([t])[t]
        assert c["retention.ms"]["value"] == "60000"
        assert c["cleanup.policy"]["value"] == "compact"
        assert c["max.message.bytes"]["value"] == "200000"      # kept, not wiped
        assert c["max.message.bytes"]["source"] == "TOPIC"
        assert admin.alter_configs({t: {"max.message.bytes": None}}) == {t: None}
        c = admin.describe_configs([t])[t]
        assert c["max.message.bytes"]["source"] != "TOPIC"
        assert c["retention.ms"]["value"] == "60000"
        assert admin.alter_configs({t: {"retention.ms": "120000"}}, validate_only=True) == {t: None}
        assert admin.describe_configs([t])[t]["retention.ms"]["value"] == "60000"
    finally:
        admin.delete_topics([t])
        admin.close()


@pytest.mark.services
@pytest.mark.parametrize("incremental", [True, False])
def test_kafka_read_after_a_config_reset_does_not_wait_out_the_timeout(kafka, incremental):
    """A reset key is expected back as "no longer set on the topic": the read after it sees
    the default at once instead of re-reading until the time-out (the reset used to be
    remembered as the text "None", which no broker ever returns)."""
    admin = _admin(kafka.runtime(), incremental_alter=incremental)   # timeout=20
    t = _name("reset")
    try:
        assert admin.create_topics([{"name": t, "partitions": 1, "replication_factor": 1,
                                     "config": {"retention.ms": "3600000",
                                                "cleanup.policy": "compact"}}]) == {t: None}
        assert admin.describe_configs([t])[t]["cleanup.policy"]["value"] == "compact"
        waiting = admin.requests_waiting
        assert admin.alter_configs({t: {"cleanup.policy": None}}) == {t: None}
        c = admin.describe_configs([t])[t]
        assert c["cleanup.policy"]["source"] != "TOPIC"
        assert c["cleanup.policy"]["value"] == "delete"           # Kafka's default
        assert c["retention.ms"]["value"] == "3600000"
        # waiting out 20 s is ~23 re-reads (0.05 s doubling to 1 s); a broker catching
        # up with the change takes one or two
        assert admin.requests_waiting - waiting <= 5
    finally:
        admin.delete_topics([t])
        admin.close()


@pytest.mark.services
@pytest.mark.parametrize("listener, mechanism", [("SASL_PLAINTEXT", "SCRAM-SHA-512"),
                                                 ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
                                                 ("SASL_SSL", "PLAIN")])
def test_kafka_wrong_password_is_reported_plainly(kafka, listener, mechanism):
    rt = dict(kafka.runtime(listener, mechanism), sasl_password="not-the-password")
    with pytest.raises(KafkaError) as info:
        _admin(rt).list_topics()
    text = info.value.render()
    user = kafka.users[mechanism][0]
    assert "SASL %s authentication as user %r" % (mechanism, user) in text
    assert "failed" in text
    assert "sasl_password" in text          # the hint says what to check
    assert "not-the-password" not in text   # never echo a secret


@pytest.mark.services
@pytest.mark.parametrize("listener", ["SSL", "SASL_SSL"])
def test_kafka_unknown_ca_is_reported_plainly(kafka, listener, tmp_path):
    rt = dict(kafka.runtime(listener))
    rt.pop("ssl_cafile")   # the system trust store does not know the test CA
    with pytest.raises(KafkaError) as info:
        _admin(rt).list_topics()
    text = info.value.render()
    assert "TLS: the certificate of Kafka broker %s is not trusted" % rt["bootstrap_servers"] in text
    assert "ssl_cafile" in text
    assert info.value.name == "TLS_VERIFY"


@pytest.mark.services
def test_kafka_wrong_security_protocol_is_not_a_traceback(kafka):
    # PLAINTEXT client against the TLS listener, and TLS against the plaintext listener
    rt = {"bootstrap_servers": kafka.listeners["SSL"], "security_protocol": "PLAINTEXT"}
    with pytest.raises(KafkaError) as info:
        _admin(rt, ).list_topics()
    assert "security_protocol" in info.value.render()
    rt = {"bootstrap_servers": kafka.bootstrap, "security_protocol": "SSL",
          "ssl_cafile": kafka.ca_file}
    with pytest.raises(KafkaError) as info:
        KafkaAdmin(rt, timeout=5).list_topics()
    assert "TLS" in info.value.render()


@pytest.mark.services
def test_kafka_bootstrap_falls_back_to_the_next_server(kafka):
    dead = _free_port()
    rt = dict(kafka.runtime(), bootstrap_servers="127.0.0.1:%d,%s" % (dead, kafka.bootstrap))
    assert _admin(rt).cluster()["cluster_id"] == kafka.cluster_id


@pytest.mark.services
def test_kafka_request_count_does_not_grow_with_topics(kafka):
    counts = {}
    for n in (3, 30):
        admin = _admin(kafka.runtime())
        names = [_name("count") for _ in range(n)]
        admin.cluster()
        start, waiting = admin.requests_sent, admin.requests_waiting
        res = admin.create_topics([{"name": x, "partitions": 1, "replication_factor": 1,
                                    "config": {"retention.ms": "60000"}} for x in names])
        assert all(v is None for v in res.values())
        assert len(admin.describe_topics(names)) == n
        assert len(admin.describe_configs(names)) == n
        # re-reads while the broker publishes the new topics depend on its load, not on n
        counts[n] = admin.requests_sent - start - (admin.requests_waiting - waiting)
        admin.delete_topics(names)
        admin.close()
    assert counts[3] == counts[30] == 3


# -- Tansu ----------------------------------------------------------------------------

@pytest.mark.services
def test_tansu_topic_lifecycle(tansu):
    admin = _admin(tansu.runtime())
    try:
        assert admin.cluster()["cluster_id"] == tansu.cluster_id
        a = _name("tansu")
        assert admin.create_topics([{"name": a, "partitions": 2, "replication_factor": 1,
                                     "config": {"retention.ms": "3600000"}}]) == {a: None}
        assert admin.create_topics([{"name": a, "partitions": 2, "replication_factor": 1}])[a] \
            .name == "TOPIC_ALREADY_EXISTS"
        assert a in admin.list_topics()
        assert admin.describe_topics([a, _name("missing")]) == {
            a: {"partitions": 2, "replication_factor": 1}}
        c = admin.describe_configs([a])[a]
        # Tansu reports only the values set on the topic, all as DEFAULT_CONFIG: we read
        # them as topic settings (that is what they are)
        assert c["retention.ms"] == {"value": "3600000", "source": "TOPIC", "is_default": False,
                                     "sensitive": False, "read_only": False}
        assert admin.alter_configs({a: {"retention.ms": "60000", "cleanup.policy": "compact"}}) \
            == {a: None}
        assert admin.alter_configs({a: {"cleanup.policy": None}}) == {a: None}
        c = admin.describe_configs([a])[a]
        assert c["retention.ms"]["value"] == "60000" and "cleanup.policy" not in c

        # Tansu lacks CreatePartitions and AlterConfigs: a clear error, nothing sent
        with pytest.raises(KafkaError, match="does not support adding partitions"):
            admin.create_partitions({a: 4})
        legacy = _admin(tansu.runtime(), incremental_alter=False)
        with pytest.raises(KafkaError, match="does not support changing topic configs"):
            legacy.alter_configs({a: {"retention.ms": "1"}})
        legacy.close()
        # Tansu ignores validate_only: refuse instead of creating/changing for real
        v = _name("tansu-validate")
        with pytest.raises(KafkaError) as info:
            admin.create_topics([{"name": v, "partitions": 1, "replication_factor": 1}],
                                validate_only=True)
        assert info.value.name == "VALIDATE_ONLY_IGNORED"
        assert admin.describe_topics([v]) == {}
        with pytest.raises(KafkaError, match="ignores validate_only"):
            admin.alter_configs({a: {"retention.ms": "1"}}, validate_only=True)
        assert admin.describe_configs([a])[a]["retention.ms"]["value"] == "60000"

        assert admin.delete_topics([a]) == {a: None}
        assert admin.describe_topics([a]) == {}
        assert admin.delete_topics([a])[a].name == "UNKNOWN_TOPIC_OR_PARTITION"
    finally:
        admin.close()


@pytest.mark.services
def test_tansu_classic_versions(tansu):
    admin = _admin(tansu.runtime(), classic=True)
    t = _name("tansu-classic")
    try:
        assert admin.create_topics([{"name": t, "partitions": 1, "replication_factor": 1,
                                     "config": {"retention.ms": "1000"}}]) == {t: None}
        assert admin.describe_configs([t])[t]["retention.ms"]["value"] == "1000"
        assert admin.alter_configs({t: {"retention.ms": "2000"}}) == {t: None}
        assert admin.describe_configs([t])[t]["retention.ms"]["value"] == "2000"
        assert admin.delete_topics([t]) == {t: None}
    finally:
        admin.close()


PY36_SCRIPT = r"""
import json, sys, streamt
runtime, name = json.loads(sys.argv[1]), sys.argv[2]
admin = streamt.KafkaAdmin(runtime, timeout=20)
try:
    assert admin.create_topics([{"name": name, "partitions": 2, "replication_factor": 1,
                                 "config": {"retention.ms": "1000"}}]) == {name: None}
    print(admin.describe_topics([name])[name]["partitions"],
          admin.describe_configs([name])[name]["retention.ms"]["value"],
          admin.delete_topics([name])[name])
except streamt.KafkaError as e:
    print("KafkaError:", e.render())
"""


def _python36():
    import os
    import subprocess
    try:
        root = subprocess.check_output(["pyenv", "root"]).decode().strip()
    except (OSError, subprocess.CalledProcessError):
        root = os.path.expanduser("~/.pyenv")
    py36 = os.path.join(root, "versions", "3.6.15", "bin", "python")
    if not os.path.exists(py36):
        pytest.skip("no Python 3.6 interpreter here (pyenv versions/3.6.15)")
    return py36


def _run36(runtime):
    import json
    import os
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.check_output([_python36(), "-c", PY36_SCRIPT, json.dumps(runtime),
                                   _name("py36")], cwd=root, env=dict(os.environ, PYTHONPATH=root))
    return out.decode()


@pytest.mark.services
def test_python36_against_tansu(tansu):
    assert _run36(tansu.runtime()).split() == ["2", "1000", "None"]


@pytest.mark.services
def test_python36_against_kafka_tls_and_scram(kafka):
    assert _run36(kafka.runtime("SASL_SSL", "SCRAM-SHA-256")).split() == ["2", "1000", "None"]
    rt = dict(kafka.runtime("SSL"))
    rt.pop("ssl_cafile")
    out = _run36(rt)
    assert "KafkaError: TLS: the certificate of Kafka broker" in out and "not trusted" in out


# -- ApiVersions against an old broker (none runs here: a scripted one) --------------------

class _OldBroker(object):
    """Answers ApiVersions like a Kafka that knows versions 0-2 only: an unknown version gets
    UNSUPPORTED_VERSION in the v0 layout, with its ranges (Kafka >= 2.4) or without them
    (older brokers, then the client must ask again with v0)."""

    RANGES = [(18, 0, 2), (3, 0, 7), (19, 0, 3), (20, 0, 3), (32, 0, 2), (33, 0, 1),
              (37, 0, 1)]

    def __init__(self, with_ranges):
        self.with_ranges = with_ranges
        self.seen = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        t = threading.Thread(target=self._serve)
        t.daemon = True
        t.start()

    def _serve(self):
        conn, _ = self.sock.accept()
        try:
            while True:
                head = conn.recv(4)
                if len(head) < 4:
                    return
                size = struct.unpack(">i", head)[0]
                data = b""
                while len(data) < size:
                    data += conn.recv(size - len(data))
                key, version, corr = struct.unpack_from(">hhi", data)
                self.seen.append((key, version))
                ranges = b"".join(struct.pack(">hhh", *r) for r in self.RANGES)
                if version > 2:
                    body = struct.pack(">ih", corr, 35) + (
                        struct.pack(">i", len(self.RANGES)) + ranges if self.with_ranges
                        else struct.pack(">i", 0))
                else:
                    body = struct.pack(">ihi", corr, 0, len(self.RANGES)) + ranges
                    if version >= 1:
                        body += struct.pack(">i", 0)
                conn.sendall(struct.pack(">i", len(body)) + body)
        finally:
            conn.close()
            self.sock.close()


@pytest.mark.parametrize("with_ranges", [True, False])
def test_api_versions_fallback_for_old_brokers(with_ranges):
    broker = _OldBroker(with_ranges)
    admin = KafkaAdmin({"bootstrap_servers": "127.0.0.1:%d" % broker.port}, timeout=5)
    conn = admin._any()
    assert broker.seen[0] == (18, 3)
    assert broker.seen[1:] == ([] if with_ranges else [(18, 0)])
    assert conn.versions["Metadata"] == 7 and conn.versions["CreateTopics"] == 3
    assert conn.versions["DescribeConfigs"] == 2 and conn.versions["AlterConfigs"] == 1
    assert not conn.supports("IncrementalAlterConfigs")
    admin.close()


def test_unreadable_tls_files_are_named():
    server = _SilentServer()
    try:
        admin = KafkaAdmin({"bootstrap_servers": "127.0.0.1:%d" % server.port,
                            "security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"},
                           timeout=2)
        with pytest.raises(KafkaError) as info:
            admin.list_topics()
        assert "cannot load the TLS files" in info.value.render()
        assert "/nonexistent/ca.pem" in info.value.render()
    finally:
        server.close()


# -- controller routing and retries (two scripted brokers) ---------------------------------

def _s(text):
    data = text.encode()
    return struct.pack(">h", len(data)) + data


class _ScriptedBroker(object):
    """A broker speaking ApiVersions 0-2, Metadata 0-7 and CreateTopics 0-3 (classic
    encoding), answering from a script: metadata from a shared function, CreateTopics with
    the next error code of its list."""

    def __init__(self, node_id, metadata, create_errors, on_create=None):
        self.node_id, self.metadata, self.create_errors = node_id, metadata, list(create_errors)
        self.on_create = on_create
        self.seen = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        t = threading.Thread(target=self._accept)
        t.daemon = True
        t.start()

    def _accept(self):
        try:
            while True:
                conn, _ = self.sock.accept()
                t = threading.Thread(target=self._serve, args=(conn,))
                t.daemon = True
                t.start()
        except OSError:
            pass

    def _serve(self, conn):
        try:
            while True:
                head = conn.recv(4)
                if len(head) < 4:
                    return
                size = struct.unpack(">i", head)[0]
                data = b""
                while len(data) < size:
                    data += conn.recv(size - len(data))
                key, version, corr = struct.unpack_from(">hhi", data)
                self.seen.append(key)
                if key == 18 and version > 2:
                    ranges = [(18, 0, 2), (3, 0, 7), (19, 0, 3)]
                    body = struct.pack(">hi", 35, 3) + b"".join(struct.pack(">hhh", *r)
                                                                for r in ranges)
                elif key == 3:
                    body = self.metadata()
                elif key == 19:
                    code = self.create_errors.pop(0)
                    if self.on_create:
                        self.on_create()
                    body = struct.pack(">ii", 0, 1) + _s("t") + struct.pack(">hh", code, -1)
                else:
                    return
                conn.sendall(struct.pack(">ii", len(body) + 4, corr) + body)
        finally:
            conn.close()

    def close(self):
        self.sock.close()


def test_writes_go_to_the_controller_and_follow_it_when_it_moves():
    state = {"controller": 2}
    brokers = {}

    def metadata():   # Metadata v7: both brokers, the current controller, no topics
        out = struct.pack(">ii", 0, 2)
        for node in (1, 2):
            out += struct.pack(">i", node) + _s("127.0.0.1") + \
                struct.pack(">ih", brokers[node].port, -1)
        return out + _s("scripted") + struct.pack(">ii", state["controller"], 0)

    def move():
        state["controller"] = 1

    brokers[1] = _ScriptedBroker(1, metadata, [0])
    # node 2 answers NOT_CONTROLLER: the controller has just moved to node 1
    brokers[2] = _ScriptedBroker(2, metadata, [41], on_create=move)
    try:
        admin = KafkaAdmin({"bootstrap_servers": "127.0.0.1:%d" % brokers[1].port},
                           timeout=5, backoff=0.01)
        assert admin.cluster() == {"cluster_id": "scripted", "controller_id": 2, "brokers": [
            {"node_id": 1, "host": "127.0.0.1", "port": brokers[1].port, "rack": None},
            {"node_id": 2, "host": "127.0.0.1", "port": brokers[2].port, "rack": None}]}
        # the first CreateTopics goes to node 2, which says NOT_CONTROLLER; after a
        # Metadata refresh the retry goes to node 1
        res = admin.create_topics([{"name": "t", "partitions": 1, "replication_factor": 1}])
        assert res == {"t": None}
        assert brokers[2].seen.count(19) == 1 and brokers[1].seen.count(19) == 1
        admin.close()
    finally:
        brokers[1].close()
        brokers[2].close()


def test_retriable_errors_are_retried_then_reported():
    def metadata():
        return (struct.pack(">ii", 0, 1) + struct.pack(">i", 1) + _s("127.0.0.1") +
                struct.pack(">ih", broker.port, -1) + _s("c") + struct.pack(">ii", 1, 0))
    # throttled three times, then a time-out (which is not retried: the creation may still
    # complete, and a second try would only say TOPIC_ALREADY_EXISTS)
    broker = _ScriptedBroker(1, metadata, [89, 89, 89, 7])
    try:
        admin = KafkaAdmin({"bootstrap_servers": "127.0.0.1:%d" % broker.port}, timeout=5,
                           retries=2, backoff=0.01)
        topic = {"name": "t", "partitions": 1, "replication_factor": 1}
        err = admin.create_topics([topic])["t"]
        assert err.name == "THROTTLING_QUOTA_EXCEEDED" and "throttles" in err.render()
        assert broker.seen.count(19) == 3   # the first try and two retries
        err = admin.create_topics([topic])["t"]
        assert err.name == "REQUEST_TIMED_OUT" and "may still complete" in err.render()
        assert broker.seen.count(19) == 4
        admin.close()
    finally:
        broker.close()
