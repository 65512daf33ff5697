"""Benchmark: reading records over the network from a real broker, streamt against kafka-python.

Not a pytest test: run ``python tests/bench/bench_kafka_read_net.py [--records N] [--runs N]
[--bootstrap HOST:PORT]``.  For each codec (none, gzip, lz4) one single-partition topic holds
``--records`` JSON records (~60 bytes each) written by kafka-python's producer with that
compression.  Both readers read the whole partition from offset 0 off the broker, from a
fresh connection, the CRC checked, 1 MiB a Fetch (kafka-python's default
max_partition_fetch_bytes; streamt's fetch size): streamt's ``KafkaReader.read`` (pure
Python throughout) and kafka-python's ``KafkaConsumer`` (assign, seek, poll; its record loop
is pure Python, its lz4 the C module).  Kafka comes from the services harness
(tests/services), or is the broker given with ``--bootstrap``.  Prints a table and a JSON
line: records/s and CPU time of each (the best of several runs, taken in turn) and the ratios
kafka-python's time / streamt's, wall and CPU (above 1: streamt faster).  Exits 0 with a
"skipped:" line when kafka-python is missing or Kafka cannot be started.
"""
import argparse
import json
import os
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import streamt  # noqa: E402

CODECS = ("none", "gzip", "lz4")


def fill(bootstrap, runtime, codec, n):
    """A new one-partition topic with n JSON records compressed with codec; its name."""
    from kafka import KafkaProducer
    topic = "bench-read-%s-%s" % (codec, uuid.uuid4().hex[:8])
    with streamt.KafkaAdmin(runtime, timeout=60) as admin:
        res = admin.create_topics([{"name": topic, "partitions": 1, "replication_factor": 1}])
        if res[topic] is not None:
            raise SystemExit("cannot create %s: %s" % (topic, res[topic]))
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024,
                             compression_type=None if codec == "none" else codec)
    try:
        for k in range(n):
            producer.send(topic, partition=0, key=b"k%d" % k,
                          value=b'{"id": %d, "name": "customer %d", "amount": %d.5}'
                          % (k, k, k % 1000))
        producer.flush(120)
    finally:
        producer.close(30)
    return topic


def delete(runtime, topics):
    with streamt.KafkaAdmin(runtime, timeout=60) as admin:
        admin.delete_topics(topics)


def ours(runtime, topic, n):
    with streamt.KafkaReader(runtime, timeout=30) as reader:
        end = reader.offsets(topic, "latest")[0]
        records, complete = reader.read(topic, 0, 0, end)
    assert complete and len(records) == n, (len(records), n)
    return len(records)


def theirs(bootstrap, topic, n):
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, check_crcs=True)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        got = 0
        deadline = time.time() + 120
        while got < n and time.time() < deadline:
            for records in consumer.poll(timeout_ms=1000, max_records=100000).values():
                got += len(records)
    finally:
        consumer.close()
    assert got == n, (got, n)
    return got


def best_times(runtime, bootstrap, topic, n, runs):
    """The best of ``runs`` runs of each reader, taken in turn (the machine is shared: the
    best run is the one least disturbed, and alternating exposes both to the same load)."""
    times = {"streamt": [], "kafka-python": []}
    cpu = {"streamt": [], "kafka-python": []}
    for _ in range(runs):
        for name, fn in (("streamt", lambda: ours(runtime, topic, n)),
                         ("kafka-python", lambda: theirs(bootstrap, topic, n))):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return (min(times["streamt"]), min(times["kafka-python"]), min(cpu["streamt"]),
            min(cpu["kafka-python"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bootstrap", help="an already running broker (PLAINTEXT host:port)")
    ap.add_argument("--codecs", default=",".join(CODECS))
    args = ap.parse_args(argv)
    try:
        import kafka as kafka_python
    except ImportError:
        print("skipped: kafka-python is not installed (pip install kafka-python lz4)")
        return 0
    run = None
    if args.bootstrap:
        bootstrap, broker = args.bootstrap, args.bootstrap
    else:
        try:
            from tests.services import harness
            run = harness.Run()
            service = harness.start_kafka(run)
        except Exception as e:   # no Java, no downloads: say so rather than fail make bench
            if run is not None:
                run.stop()
            print("skipped: Kafka could not be started through tests/services: %s" % e)
            return 0
        bootstrap = service.bootstrap
        broker = "Apache Kafka %s (harness, KRaft, 1 node)" % harness.KAFKA_VERSION
    runtime = {"bootstrap_servers": bootstrap}
    results = {"records": args.records, "runs": args.runs}
    topics = []
    try:
        print("broker: %s   python %s   kafka-python %s" % (
            broker, sys.version.split()[0], kafka_python.__version__))
        print("Reading %d JSON records from one partition (best of %d runs each, in turn)"
              % (args.records, args.runs))
        print("%-6s %10s %14s %8s | %10s %14s %8s | %6s %6s" % (
            "codec", "streamt s", "records/s", "CPU s", "kafka-py s", "records/s", "CPU s",
            "ratio", "CPU"))
        for codec in args.codecs.split(","):
            try:
                topic = fill(bootstrap, runtime, codec, args.records)
            except Exception as e:   # kafka-python without the codec's module
                print("%-6s skipped: %s" % (codec, e))
                continue
            topics.append(topic)
            a, b, ca, cb = best_times(runtime, bootstrap, topic, args.records, args.runs)
            results[codec] = {"streamt_s": a, "kafka_python_s": b, "streamt_cpu_s": ca,
                              "kafka_python_cpu_s": cb,
                              "streamt_records_per_s": args.records / a,
                              "kafka_python_records_per_s": args.records / b, "ratio": b / a,
                              "cpu_ratio": cb / ca}
            print("%-6s %10.3f %14.0f %8.3f | %10.3f %14.0f %8.3f | %6.2f %6.2f" % (
                codec, a, args.records / a, ca, b, args.records / b, cb, b / a, cb / ca))
        print("ratio: kafka-python's time / streamt's, wall and CPU of the reading process "
              "(above 1: streamt reads faster)")
        print(json.dumps(results, sort_keys=True))
        return 0
    finally:
        if topics:
            try:
                delete(runtime, topics)
            except Exception:
                pass
        if run is not None:
            run.stop()


if __name__ == "__main__":
    sys.exit(main())
