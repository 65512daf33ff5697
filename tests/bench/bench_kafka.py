#!/usr/bin/env python3
"""Benchmark: creating and re-checking N topics costs a number of Kafka requests independent of N.

For N in 10, 100, 500 against a real Apache Kafka (started through the services harness, or
the broker given with --bootstrap): create N topics with configs in one batch, then re-check
them the way `plan` does (describe topics + describe configs), then delete them.  Prints the
requests sent and the time of each phase.

    python tests/bench/bench_kafka.py            # starts Kafka through tests/services
    python tests/bench/bench_kafka.py --bootstrap 127.0.0.1:9092 [--sizes 10,100]
"""
import argparse
import os
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import streamt  # noqa: E402


def bench(runtime, n):
    admin = streamt.KafkaAdmin(runtime, timeout=60)
    prefix = "bench-%s-" % uuid.uuid4().hex[:8]
    topics = [{"name": "%s%04d" % (prefix, i), "partitions": 3, "replication_factor": 1,
               "config": {"retention.ms": str(3600000 + i), "cleanup.policy": "delete"}}
              for i in range(n)]
    names = [t["name"] for t in topics]
    admin.cluster()                      # connection set-up, not counted below
    out = {"n": n}
    r0, t0 = admin.requests_sent, time.perf_counter()
    res = admin.create_topics(topics)
    out["create_s"] = time.perf_counter() - t0
    out["create_requests"] = admin.requests_sent - r0
    failed = [k for k, v in res.items() if v is not None]
    if failed:
        raise SystemExit("creating failed: %s" % res[failed[0]])
    r0, w0, t0 = admin.requests_sent, admin.requests_waiting, time.perf_counter()
    described = admin.describe_topics(names)
    out["visible_s"] = time.perf_counter() - t0
    configs = admin.describe_configs(names)
    out["check_s"] = time.perf_counter() - t0
    out["check_waiting"] = admin.requests_waiting - w0
    out["check_requests"] = admin.requests_sent - r0 - out["check_waiting"]
    assert len(described) == n and len(configs) == n, (len(described), len(configs))
    assert all(configs[t["name"]]["retention.ms"]["value"] == t["config"]["retention.ms"]
               for t in topics)
    r0, t0 = admin.requests_sent, time.perf_counter()
    res = admin.delete_topics(names)
    out["delete_s"] = time.perf_counter() - t0
    out["delete_requests"] = admin.requests_sent - r0
    admin.close()
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", help="an already running broker (PLAINTEXT host:port)")
    p.add_argument("--sizes", default="10,100,500")
    args = p.parse_args(argv)
    run = None
    if args.bootstrap:
        runtime = {"bootstrap_servers": args.bootstrap}
        broker = args.bootstrap
    else:
        from tests.services import harness
        run = harness.Run()
        kafka = harness.start_kafka(run)
        runtime = kafka.runtime()
        broker = "Apache Kafka %s (harness, KRaft, 1 node)" % harness.KAFKA_VERSION
    try:
        print("broker: %s   python %s" % (broker, sys.version.split()[0]))
        print("%6s | %9s %9s | %9s %9s %9s %9s | %9s %9s" % (
            "N", "create rq", "create s", "check rq", "+ polls", "visible s", "check s",
            "delete rq", "delete s"))
        rows = [bench(runtime, int(n)) for n in args.sizes.split(",")]
        for r in rows:
            print("%6d | %9d %9.3f | %9d %9d %9.3f %9.3f | %9d %9.3f" % (
                r["n"], r["create_requests"], r["create_s"], r["check_requests"],
                r["check_waiting"], r["visible_s"], r["check_s"], r["delete_requests"],
                r["delete_s"]))
        counts = set((r["create_requests"], r["check_requests"], r["delete_requests"])
                     for r in rows)
        print("check rq: Metadata + DescribeConfigs; + polls: Metadata re-reads while the broker "
              "publishes the new topics\n(CreateTopics returns once the controller committed; "
              "the broker answering reads may lag behind)")
        print("requests independent of N: %s" % ("yes" if len(counts) == 1 else "NO"))
        return 0 if len(counts) == 1 else 1
    finally:
        if run is not None:
            run.stop()


if __name__ == "__main__":
    sys.exit(main())
