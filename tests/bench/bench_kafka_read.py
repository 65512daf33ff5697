"""Benchmark: decoding Kafka record batches, streamt against kafka-python.

Not a pytest test: run ``python tests/bench/bench_kafka_read.py [--records N] [--runs N]``.
100,000 JSON records (~60 bytes each, 2,000 per batch) are written by kafka-python's own
batch builder, uncompressed, gzip, snappy and lz4; both readers decode the same bytes with
the CRC checked (kafka-python: MemoryRecords + validate_crc, its pure-Python record path and,
for snappy/lz4, the C modules it needs; streamt: pure Python throughout).  Prints a table
and a JSON line: the best of several runs and the ratio kafka-python / streamt (above 1: streamt faster).
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import streamt  # noqa: E402

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3}


def batches(codec, n, per=2000):
    from kafka.record.default_records import DefaultRecordBatchBuilder
    out, offset = [], 0
    for start in range(0, n, per):
        b = DefaultRecordBatchBuilder(2, CODECS[codec], False, -1, -1, -1, 1 << 26)
        for i in range(min(per, n - start)):
            k = start + i
            b.append(i, timestamp=1700000000000 + i, key=b"k%d" % k, headers=[],
                     value=b'{"id": %d, "name": "customer %d", "amount": %d.5}' % (k, k, i))
        data = bytes(b.build())
        out.append(offset.to_bytes(8, "big") + data[8:])
        offset += min(per, n - start)
    return b"".join(out)


def ours(data):
    return len(streamt.KafkaReader.decode_records(data, "bench", 0)[0])


def theirs(data):
    from kafka.record.memory_records import MemoryRecords
    records, n = MemoryRecords(data), 0
    while records.has_next():
        batch = records.next_batch()
        assert batch.validate_crc()
        for _ in batch:
            n += 1
    return n


def best_times(data, runs, expect):
    """The best of ``runs`` runs of each reader, taken in turn (the machine is shared: the
    best run is the one least disturbed, and alternating exposes both to the same load)."""
    times = {ours: [], theirs: []}
    for _ in range(runs):
        for fn in (ours, theirs):
            start = time.perf_counter()
            assert fn(data) == expect
            times[fn].append(time.perf_counter() - start)
    return min(times[ours]), min(times[theirs])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    results = {"records": args.records, "runs": args.runs}
    print("Decoding %d JSON records (best of %d runs each, in turn)" % (args.records, args.runs))
    print("%-8s %10s %10s %14s %12s %10s" % ("codec", "bytes", "streamt s", "records/s",
                                             "kafka-py s", "ratio"))
    for codec in CODECS:
        try:
            data = batches(codec, args.records)
        except Exception as e:   # kafka-python without the codec's module
            print("%-8s skipped: %s" % (codec, e))
            continue
        a, b = best_times(data, args.runs, args.records)
        results[codec] = {"bytes": len(data), "streamt_s": a, "kafka_python_s": b,
                          "records_per_s": args.records / a, "ratio": b / a}
        print("%-8s %10d %10.3f %14.0f %12.3f %10.2f" % (codec, len(data), a, args.records / a,
                                                         b, b / a))
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
