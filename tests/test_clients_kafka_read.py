"""The read path of the Kafka client (KafkaReader): record batches as a real producer writes
them, every codec, transactions, bounded samples, committed group offsets.

Batches come from kafka-python (a test-only dependency, as are lz4, python-snappy and
zstandard, which it needs to compress): offline through its batch builder, and on the real
broker through its producer.  streamt itself reads them with the standard library only.
"""
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import streamt
from streamt import KafkaAdmin, KafkaError, KafkaReader

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

# what every test writes: keys and values of every shape a record may have
SAMPLES = [(b"k%d" % i, (b'{"id": %d, "name": "n%d"}' % (i, i)) * (1 + i % 7),
            [("h", b"v%d" % i)] if i % 3 == 0 else []) for i in range(200)]
SAMPLES += [(None, b"no key", []), (b"no value", None, [("null", None)]), (b"", b"", [])]


def _batch(codec, records=SAMPLES, base_offset=0, transactional=False, pid=-1):
    """One v2 record batch as kafka-python's producer builds it."""
    from kafka.record.default_records import DefaultRecordBatchBuilder
    b = DefaultRecordBatchBuilder(magic=2, compression_type=CODEC_IDS[codec],
                                  is_transactional=transactional, producer_id=pid,
                                  producer_epoch=0 if pid >= 0 else -1,
                                  base_sequence=0 if pid >= 0 else -1, batch_size=1 << 24)
    for i, (k, v, h) in enumerate(records):
        b.append(i, timestamp=1700000000000 + i, key=k, value=v, headers=h)
    data = bytes(b.build())
    # the builder leaves the base offset at 0: a broker sets it when it appends the batch
    return (base_offset.to_bytes(8, "big", signed=True) + data[8:]) if base_offset else data


def _as_tuples(records):
    return [(r.key, r.value, [(k, v) for k, v in r.headers]) for r in records]


# -- offline: batches built by kafka-python --------------------------------------------

@pytest.mark.parametrize("codec", CODECS)
def test_a_batch_written_by_kafka_python_reads_back_exactly(codec):
    records, next_offset = KafkaReader.decode_records(_batch(codec), "t", 0)
    assert _as_tuples(records) == [(k, v, h) for k, v, h in SAMPLES]
    assert [r.offset for r in records] == list(range(len(SAMPLES)))
    assert [r.timestamp for r in records] == [1700000000000 + i for i in range(len(SAMPLES))]
    assert next_offset == len(SAMPLES)


def test_records_before_the_fetch_offset_and_a_partial_last_batch_are_left_out():
    data = _batch("lz4", base_offset=100) + _batch("gzip", base_offset=100 + len(SAMPLES))
    records, next_offset = KafkaReader.decode_records(data[:-10], "t", 0, offset=150)
    assert [r.offset for r in records] == list(range(150, 100 + len(SAMPLES)))
    assert next_offset == 100 + len(SAMPLES)   # the cut batch is fetched again


def test_snappy_raw_and_lz4_linked_blocks_with_checksums():
    import lz4.frame
    import snappy
    data = b"".join(b"%08d some text that repeats " % i for i in range(20000)) + bytes(range(256)) * 300
    assert streamt._KafkaCodecs.snappy(snappy.compress(data), 1 << 24) == data
    framed = lz4.frame.compress(data, block_linked=True, block_checksum=True,
                                content_checksum=True, store_size=True,
                                block_size=lz4.frame.BLOCKSIZE_MAX64KB)
    assert streamt._KafkaCodecs.lz4(framed, 1 << 24) == data
    with pytest.raises(ValueError):   # a bomb stops at the limit
        streamt._KafkaCodecs.lz4(framed, 1000)


def test_a_corrupt_batch_is_a_clear_error_naming_the_partition_and_offset():
    data = bytearray(_batch("gzip", base_offset=42))
    data[-5] ^= 0xFF
    with pytest.raises(KafkaError) as e:
        KafkaReader.decode_records(bytes(data), "orders", 3)
    assert e.value.name == "CORRUPT"
    assert "orders-3" in str(e.value) and "offset 42" in str(e.value) and "CRC" in str(e.value)


def test_zstd_without_a_module_is_a_clear_error(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "zstandard", None)
    monkeypatch.setitem(sys.modules, "compression.zstd", None)
    with pytest.raises(KafkaError) as e:
        KafkaReader.decode_records(_batch("zstd", base_offset=7), "orders", 1)
    msg = str(e.value)
    assert e.value.name == "UNSUPPORTED"
    assert "orders-1" in msg and "offset 7" in msg and "zstd" in msg


def test_crc32c_equals_kafka_pythons_at_every_length_and_start():
    # the sixteen-bytes-a-step loop and its byte-wise tail, against kafka-python's CRC-32C
    from kafka.record import _crc32c
    data = bytes(range(256)) * 3
    assert streamt._KafkaRecords.crc32c(b"123456789", 0, 9) == 0xE3069283
    for start in range(0, 17):
        for end in range(start, start + 70):
            assert (streamt._KafkaRecords.crc32c(data, start, end)
                    == _crc32c.crc(data[start:end])), (start, end)


def _legacy_message_set(magic, base_offset, values):
    """A v0 or v1 message set, as brokers before 0.11 stored it (Kafka 4 refuses to write one,
    so it is built here by hand): offset, size, CRC-32, magic, attributes, [timestamp], key,
    value for each message."""
    import struct
    import zlib
    out = b""
    for i, v in enumerate(values):
        body = struct.pack(">bb", magic, 0) + (struct.pack(">q", 1700000000000 + i)
                                                if magic == 1 else b"")
        body += struct.pack(">i", -1) + struct.pack(">i", len(v)) + v
        message = struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF) + body
        out += struct.pack(">qi", base_offset + i, len(message)) + message
    return out


@pytest.mark.parametrize("magic", [0, 1])
def test_a_legacy_message_set_is_refused_naming_its_format_and_place(magic):
    data = _legacy_message_set(magic, 42, [b'{"id": 1}', b'{"id": 2}'])
    with pytest.raises(KafkaError) as e:
        KafkaReader.decode_records(data, "orders", 3, offset=42)
    assert e.value.message == ("orders-3: the message set at offset 42 is in message format v%d, "
                            "written by a broker older than 0.11; not supported" % magic)
    assert e.value.name == "UNSUPPORTED" and "message format v2" in e.value.hint


def test_an_lz4_frame_with_a_dictionary_id_is_a_clear_error():
    import struct
    batch = bytearray(_batch("lz4", SAMPLES[:3], base_offset=7))
    frame = batch[61:]
    assert frame[:4] == b"\x04\x22\x4d\x18"   # the LZ4 frame magic
    # set the dictionary-id flag and put an id after the descriptor (before the header
    # checksum, which the reader does not check), then make the batch's length and CRC right
    flg = frame[4] | 0x01
    head = 7 + (8 if flg & 0x08 else 0)
    frame = frame[:4] + bytes([flg]) + frame[5:head - 1] + struct.pack("<I", 1234) + frame[head - 1:]
    batch = batch[:61] + frame
    batch[8:12] = struct.pack(">i", len(batch) - 12)
    batch[17:21] = struct.pack(">I", streamt._KafkaRecords.crc32c(bytes(batch), 21, len(batch)))
    with pytest.raises(KafkaError) as e:
        KafkaReader.decode_records(bytes(batch), "orders", 3)
    assert e.value.message == ("orders-3: the record batch at offset 7 does not decode: lz4: the "
                            "LZ4 frame names dictionary id 1234, which Kafka never writes; "
                            "not supported")


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4"])
def test_a_compressed_body_cut_anywhere_is_corrupt_even_with_a_right_crc(codec):
    # a writer that cut its own compressed bytes, then framed and checksummed them
    import struct
    whole = bytearray(_batch(codec, SAMPLES[:20], base_offset=5))
    for keep in range(0, len(whole) - 61, 3):
        batch = whole[:61 + keep]
        batch[8:12] = struct.pack(">i", len(batch) - 12)
        batch[17:21] = struct.pack(">I", streamt._KafkaRecords.crc32c(bytes(batch), 21,
                                                                      len(batch)))
        with pytest.raises(KafkaError) as e:
            KafkaReader.decode_records(bytes(batch), "orders", 2)
        assert e.value.name == "CORRUPT" and "orders-2" in e.value.message, keep


BATCHES = dict((c, _batch(c, SAMPLES[:40])) for c in CODECS if c != "zstd")


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(codec=st.sampled_from(sorted(BATCHES)), check_crc=st.booleans(),
       edits=st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert", "set"]),
                                st.integers(0, 1 << 16), st.integers(0, 255)),
                      min_size=1, max_size=4))
def test_fuzz_mutated_batches_decode_or_fail_clearly(codec, check_crc, edits):
    data = bytearray(BATCHES[codec])
    for op, where, byte in edits:
        where %= max(1, len(data))
        if not data:
            data = bytearray([byte])
        elif op == "flip":
            data[where] ^= (byte or 1)
        elif op == "cut":
            del data[where:]
        elif op == "insert":
            data[where:where] = bytes([byte])
        else:
            data[where] = byte
    if not check_crc and len(data) >= 61:   # reach the decoders: make the CRC right again
        body = bytes(data[21:])
        data[17:21] = streamt._KafkaRecords.crc32c(body, 0, len(body)).to_bytes(4, "big")
    start = time.time()
    try:
        records, _ = KafkaReader.decode_records(bytes(data), "t", 0, check_crc=True,
                                                max_batch_bytes=1 << 20)
    except KafkaError as e:
        assert e.name in ("CORRUPT", "UNSUPPORTED") and "t-0" in str(e)
    else:
        assert all(isinstance(r, streamt.KafkaRecord) for r in records)
    assert time.time() - start < 2.0


# -- a partition without a leader: a fake broker ----------------------------------------
# A one-node Kafka leads every partition itself and does not report leader -1 on demand
# (it takes a broker down or an election under way), so these tests run
# against a small fake *of Kafka* that speaks just the non-flexible ApiVersions v0,
# Metadata v4, ListOffsets v1 and Fetch v4 it advertises, over a real socket.

class _FakeBroker(object):
    """One broker (node 0) holding topic 'orders', one partition of 5 records.  The first
    ``leaderless`` Metadata answers say leader -1 (None: all of them); Fetch answers the
    error codes of ``fetch_errors`` in turn (its last one for ever when ``fetch_stuck``)."""

    def __init__(self, leaderless=0, fetch_errors=(), fetch_stuck=False):
        import socketserver
        import threading
        self.leaderless, self.fetch_errors = leaderless, list(fetch_errors)
        self.fetch_stuck = fetch_stuck
        self.asked = {"Metadata": 0, "ListOffsets": 0, "Fetch": 0}
        self.batch = _batch("none", SAMPLES[:5])
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                while True:
                    head = self._exactly(4)
                    if head is None:
                        return
                    req = self._exactly(int.from_bytes(head, "big"))
                    if req is None:
                        return
                    body = fake.answer(req)
                    self.request.sendall(len(body).to_bytes(4, "big") + body)

            def _exactly(self, n):
                buf = b""
                while len(buf) < n:
                    chunk = self.request.recv(n - len(buf))
                    if not chunk:
                        return None
                    buf += chunk
                return buf

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def runtime(self):
        return {"bootstrap_servers": "127.0.0.1:%d" % self.port}

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, req):
        import struct
        key, _version, corr = struct.unpack_from(">hhi", req, 0)
        i16, i32, i64 = (lambda v: struct.pack(">h", v)), (lambda v: struct.pack(">i", v)), (
            lambda v: struct.pack(">q", v))

        def text(t):
            return i16(len(t)) + t.encode()
        out = i32(corr)
        if key == 18:    # ApiVersions: UNSUPPORTED_VERSION in the v0 layout, with our ranges
            apis = [(18, 0, 0), (3, 4, 4), (2, 1, 1), (1, 4, 4)]
            return out + i16(35) + i32(len(apis)) + b"".join(
                i16(k) + i16(lo) + i16(hi) for k, lo, hi in apis)
        if key == 3:     # Metadata v4
            self.asked["Metadata"] += 1
            leader = -1 if (self.leaderless is None
                            or self.asked["Metadata"] <= self.leaderless) else 0
            return out + i32(0) + i32(1) + i32(0) + text("127.0.0.1") + i32(self.port) + i16(-1) + (
                text("fake") + i32(0) + i32(1) + i16(0) + text("orders") + b"\0" + i32(1)
                + i16(5 if leader < 0 else 0) + i32(0) + i32(leader) + i32(1) + i32(0)
                + (i32(0) if leader < 0 else i32(1) + i32(0)))
        if key == 2:     # ListOffsets v1: the earliest (0) or the latest (5)
            self.asked["ListOffsets"] += 1
            client_id = struct.unpack_from(">h", req, 8)[0]
            pos = 10 + max(client_id, 0) + 4 + 4                  # replica id, 1 topic
            pos += 2 + struct.unpack_from(">h", req, pos)[0] + 4  # name, 1 partition
            stamp = struct.unpack_from(">q", req, pos + 4)[0]
            return out + i32(1) + text("orders") + i32(1) + i32(0) + i16(0) + i64(-1) + i64(
                0 if stamp == -2 else 5)
        if key == 1:     # Fetch v4
            self.asked["Fetch"] += 1
            code = 0
            if self.fetch_errors:
                code = self.fetch_errors[0]
                if len(self.fetch_errors) > 1 or not self.fetch_stuck:
                    self.fetch_errors.pop(0)
            records = b"" if code else self.batch
            return out + i32(0) + i32(1) + text("orders") + i32(1) + i32(0) + i16(code) + i64(
                5) + i64(5) + i32(-1) + i32(len(records)) + records
        raise AssertionError("the fake broker does not speak api %d" % key)


def _fake(request, **kw):
    broker = _FakeBroker(**kw)
    request.addfinalizer(broker.close)
    return broker


def test_a_partition_without_a_leader_is_read_once_metadata_names_one(request):
    broker = _fake(request, leaderless=3)
    with KafkaReader(broker.runtime(), timeout=10, backoff=0.01) as reader:
        got = reader.sample("orders", count=10)
    assert [r.value for r in got["records"]] == [v for _, v, _ in SAMPLES[:5]]
    assert got["complete"] and broker.asked["Metadata"] >= 4


def test_a_partition_that_never_gets_a_leader_is_a_clear_error_in_time(request):
    broker = _fake(request, leaderless=None)
    start = time.time()
    with KafkaReader(broker.runtime(), timeout=1.0, backoff=0.01) as reader:
        with pytest.raises(KafkaError) as e:
            reader.sample("orders", count=10)
    assert time.time() - start < 4.0
    msg = str(e.value)
    assert "orders-0 has no leader" in msg and "leader -1 after 1 s" in msg, msg
    assert e.value.code == 5 and "kafka-topics --describe --topic orders" in e.value.hint
    assert broker.asked["Metadata"] > 2   # asked again in the meantime


def test_a_fetch_from_a_former_leader_asks_again_with_fresh_metadata(request):
    broker = _fake(request, fetch_errors=[6, 5])   # NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE
    with KafkaReader(broker.runtime(), timeout=10, backoff=0.01) as reader:
        records, complete = reader.read("orders", 0, 0, 5)
    assert [r.offset for r in records] == [0, 1, 2, 3, 4] and complete
    assert broker.asked["Fetch"] == 3 and broker.asked["Metadata"] >= 3


def test_a_fetch_refused_by_every_leader_fails_in_time_naming_the_partition(request):
    broker = _fake(request, fetch_errors=[6], fetch_stuck=True)
    start = time.time()
    with KafkaReader(broker.runtime(), timeout=1.0, backoff=0.01) as reader:
        with pytest.raises(KafkaError) as e:
            reader.read("orders", 0, 0, 5)
    assert time.time() - start < 4.0
    assert str(e.value).startswith("cannot fetch orders-0 at offset 0 (still after 1 s, with "
                                   "the leaders read again): NOT_LEADER_OR_FOLLOWER"), str(e.value)
    assert broker.asked["Fetch"] > 2


# -- on the real broker ------------------------------------------------------------------

def _name(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def _topic(kafka, partitions=3):
    name = _name("read")
    with KafkaAdmin(kafka.runtime(), timeout=20) as admin:
        assert admin.create_topics([{"name": name, "partitions": partitions,
                                     "replication_factor": 1}]) == {name: None}
    return name


def _produce(kafka, topic, codec, per_partition):
    """Send SAMPLES-like records to partitions 0 and 1 with kafka-python; what it acked."""
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap,
                             compression_type=None if codec == "none" else codec,
                             linger_ms=50, batch_size=64 * 1024)
    sent = []
    try:
        futures = []
        for p in (0, 1):
            for i, (k, v, h) in enumerate(SAMPLES[:per_partition]):
                futures.append((p, k, v, h, producer.send(topic, key=k, value=v, headers=h,
                                                          partition=p,
                                                          timestamp_ms=1700000000000 + i)))
        producer.flush(30)
        for p, k, v, h, f in futures:
            meta = f.get(30)
            sent.append((p, meta.offset, k, v, h))
    finally:
        producer.close(10)
    return sorted(sent, key=lambda s: (s[0], s[1]))


@pytest.mark.services
@pytest.mark.parametrize("codec", CODECS)
def test_reads_back_what_kafka_python_produced(kafka, codec):
    topic = _topic(kafka)
    sent = _produce(kafka, topic, codec, per_partition=150)
    with KafkaReader(kafka.runtime(), timeout=20) as reader:
        got = reader.sample(topic, count=1000, start="earliest")
        assert got["complete"]
        assert [(r.partition, r.offset, r.key, r.value, list(r.headers))
                for r in got["records"]] == [(p, o, k, v, list(h)) for p, o, k, v, h in sent]
        assert got["partitions"][2] == {"start": 0, "end": 0, "read": 0}   # the empty one
        last = reader.sample(topic, count=5, start="latest")
        assert [(r.partition, r.offset) for r in last["records"]] == (
            [(0, o) for o in range(145, 150)] + [(1, o) for o in range(145, 150)])
        assert reader.offsets(topic, "latest") == {0: 150, 1: 150, 2: 0}
        assert reader.offsets(topic, "earliest") == {0: 0, 1: 0, 2: 0}


@pytest.mark.services
def test_read_committed_skips_the_aborted_transaction_and_the_markers(kafka):
    from kafka import KafkaProducer
    topic = _topic(kafka, partitions=1)
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, transactional_id=_name("tx"),
                             compression_type="lz4")
    try:
        producer.init_transactions()
        for label, commit in (("a", True), ("b", False), ("c", True)):
            producer.begin_transaction()
            for i in range(5):
                producer.send(topic, value=b"%s%d" % (label.encode(), i), partition=0)
            producer.flush(30)
            if commit:
                producer.commit_transaction()
            else:
                producer.abort_transaction()
    finally:
        producer.close(10)
    with KafkaReader(kafka.runtime(), timeout=20) as reader:
        got = reader.sample(topic, count=100)["records"]
        assert [r.value for r in got] == [b"a%d" % i for i in range(5)] + [b"c%d" % i for i in range(5)]
    with KafkaReader(kafka.runtime(), timeout=20, isolation="read_uncommitted") as reader:
        got = reader.sample(topic, count=100)["records"]
        assert [r.value for r in got] == [b"%s%d" % (c, i) for c in (b"a", b"b", b"c")
                                          for i in range(5)]
        # three commit/abort markers hold offsets, and are never records
        assert reader.offsets(topic, "latest") == {0: 18}


@pytest.mark.services
@pytest.mark.parametrize("listener, mechanism", [("SASL_SSL", "SCRAM-SHA-512"), ("SSL", None)])
def test_reads_over_tls_and_sasl_like_the_admin(kafka, listener, mechanism):
    topic = _topic(kafka, partitions=2)
    sent = _produce(kafka, topic, "gzip", per_partition=3)
    with KafkaReader(kafka.runtime(listener, mechanism), timeout=20) as reader:
        got = reader.sample(topic, count=10)["records"]
        assert [(r.partition, r.offset, r.value) for r in got] == [
            (p, o, v) for p, o, _k, v, _h in sent]


# the highest non-flexible version of each API the read path uses (Kafka 4.x accepts them)
CLASSIC = {"ApiVersions": 2, "Metadata": 8, "ListOffsets": 5, "Fetch": 11,
           "FindCoordinator": 2, "OffsetFetch": 5, "ListGroups": 2}


@pytest.mark.services
def test_classic_versions_read_the_same_and_the_time_limit_holds(kafka):
    topic = _topic(kafka, partitions=2)
    sent = _produce(kafka, topic, "snappy", per_partition=20)
    reader = KafkaReader(kafka.runtime(), timeout=20)
    reader.version_caps = dict(CLASSIC)
    with reader:
        got = reader.sample(topic, count=100)
        assert [(r.partition, r.offset, r.key, r.value) for r in got["records"]] == [
            (p, o, k, v) for p, o, k, v, _h in sent]
        assert all(c.versions["Fetch"] == 11 for c in reader._conns.values())
        assert reader.sample(topic, count=100, time_limit=0)["complete"] is False


@pytest.mark.services
def test_committed_offsets_and_groups_are_what_kafka_python_committed(kafka):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    topic = _topic(kafka, partitions=3)
    _produce(kafka, topic, "none", per_partition=10)
    group = _name("group")
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(7, "", -1),
                         TopicPartition(topic, 1): OffsetAndMetadata(10, "", -1)})
        theirs = dict((tp.partition, consumer.committed(tp))
                      for tp in (TopicPartition(topic, p) for p in range(3)))
    finally:
        consumer.close()
    with KafkaReader(kafka.runtime("SASL_PLAINTEXT", "SCRAM-SHA-256"), timeout=20) as reader:
        assert reader.committed(group) == {topic: {0: 7, 1: 10}}
        assert reader.committed(group, [topic]) == {topic: {0: 7, 1: 10}}
        assert theirs == {0: 7, 1: 10, 2: None}
        assert group in [g["group_id"] for g in reader.list_groups()]
        assert reader.committed(_name("nobody")) == {}


PY36_READ = r"""
import json, sys, streamt
runtime, topic = json.loads(sys.argv[1]), sys.argv[2]
with streamt.KafkaReader(runtime, timeout=20) as reader:
    got = reader.sample(topic, count=100)
    print(json.dumps([[r.partition, r.offset, r.value.decode()] for r in got["records"]]))
"""


@pytest.mark.services
@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4"])
def test_python36_reads_over_sasl_ssl(kafka, codec):
    import json
    import os
    import subprocess
    from tests.test_clients_kafka import _python36
    topic = _topic(kafka, partitions=2)
    sent = _produce(kafka, topic, codec, per_partition=5)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.check_output(
        [_python36(), "-c", PY36_READ, json.dumps(kafka.runtime("SASL_SSL", "SCRAM-SHA-256")),
         topic], cwd=root, env=dict(os.environ, PYTHONPATH=root))
    assert json.loads(out.decode()) == [[p, o, v.decode()] for p, o, _k, v, _h in sent]


@pytest.mark.services
def test_a_compacted_topic_reads_its_gaps_exactly(kafka):
    """After the log cleaner ran, offsets have gaps inside batches: the reader returns the
    surviving records at their own offsets and reads on past the holes."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    name = _name("compact")
    with KafkaAdmin(kafka.runtime(), timeout=20) as admin:
        assert admin.create_topics([{"name": name, "partitions": 1, "replication_factor": 1,
                                     "config": {"cleanup.policy": "compact", "segment.ms": "100",
                                                "min.cleanable.dirty.ratio": "0.001",
                                                "min.compaction.lag.ms": "0",
                                                "delete.retention.ms": "100"}}]) == {name: None}
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, compression_type="lz4",
                             linger_ms=20)
    for round_ in range(5):
        for k in range(4):
            producer.send(name, key=b"k%d" % k, value=b"v%d-%d" % (k, round_), partition=0)
        producer.flush(30)
        time.sleep(0.3)   # the next send rolls the segment, so the cleaner may take this one
    with KafkaReader(kafka.runtime(), timeout=20) as reader:
        deadline = time.time() + 90
        while time.time() < deadline:
            producer.send(name, key=b"roll", value=b"x", partition=0)
            producer.flush(30)
            got = reader.sample(name, count=1000)["records"]
            if len(got) < 5 * 4:
                break
            time.sleep(2)
        producer.close(10)
        assert len(got) < 5 * 4, "the log cleaner did not run in 90 s"
        consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest",
                                 enable_auto_commit=False, consumer_timeout_ms=3000)
        tp = TopicPartition(name, 0)
        consumer.assign([tp])
        end = reader.offsets(name, "latest")[0]
        theirs = []
        for m in consumer:
            theirs.append((m.offset, m.key, m.value))
            if m.offset >= end - 1:
                break
        consumer.close()
        ours = [(r.offset, r.key, r.value) for r in reader.read(name, 0, 0, end)[0]]
        assert ours == theirs
        offsets = [o for o, _k, _v in ours]
        # the cleaner removed records: offsets are missing (inside, or the whole head when
        # it compacted a prefix away; which one depends on when it ran)
        assert offsets != list(range(0, offsets[-1] + 1))


@pytest.mark.services
def test_a_read_below_the_log_start_moves_up_to_it(kafka):
    """Records deleted under a reader (retention, DeleteRecords) make the offset it holds
    OFFSET_OUT_OF_RANGE: it goes on from the new log start instead of failing."""
    from kafka import KafkaAdminClient, TopicPartition
    topic = _topic(kafka, partitions=2)
    sent = _produce(kafka, topic, "none", per_partition=12)
    sent = [s for s in sent if s[0] == 0]
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        admin.delete_records({TopicPartition(topic, 0): 5})
    finally:
        admin.close()
    with KafkaReader(kafka.runtime(), timeout=20) as reader:
        records, complete = reader.read(topic, 0, 0, 12)
        assert complete
        assert [(r.offset, r.value) for r in records] == [(o, v) for _p, o, _k, v, _h in sent[5:]]
        with pytest.raises(KafkaError) as e:   # a single fetch says what happened
            reader.fetch(topic, 0, 2)
        assert e.value.name == "OFFSET_OUT_OF_RANGE"
