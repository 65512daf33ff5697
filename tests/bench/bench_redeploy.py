#!/usr/bin/env python3
"""Benchmark: a converged re-deploy of examples/shop against the real services.

Starts Kafka, the Schema Registry fake, Flink (with its SQL Gateway) and Kafka Connect
through tests/services, builds examples/shop for `dev`, deploys it once, then times
further deploys of the same artifact: they must change nothing (exit 0 with
--detailed-exitcode, no mutating call) and their time is what an operator waits for
"nothing to do".  streamt runs as shipped, from dist/streamt.pyz (rebuilt here): run as
a script, streamt.py would first compile the whole module at every deploy.

    python tests/bench/bench_redeploy.py [--runs 3]
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import streamt  # noqa: E402


PYZ = os.path.join(ROOT, "dist", "streamt.pyz")


def cli(args, env, timeout=600):
    """(wall s, CPU s of the streamt process, CompletedProcess)"""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.run([sys.executable, PYZ] + args,
                       env=dict(os.environ, **env), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p


def create_source_topic(bootstrap):
    # sources are external: streamt only reads shop.orders.v1
    admin = streamt.KafkaAdmin({"bootstrap_servers": bootstrap})
    try:
        admin.create_topics([{"name": "shop.orders.v1", "partitions": 1,
                              "replication_factor": 1, "config": {}}])
        end = time.time() + 30
        while "shop.orders.v1" not in admin.describe_topics(["shop.orders.v1"]) \
                and time.time() < end:
            time.sleep(0.2)
    finally:
        admin.close()


def shop_variant(tmp):
    """examples/shop as tests/test_deploy.py deploys it: Schema Registry credentials in
    dev.yml (the harness's fake has basic auth on) and the `orders` source read as JSON
    (the harness's Flink has no avro-confluent format jar)."""
    project = os.path.join(tmp, "shop")
    shutil.copytree(os.path.join(ROOT, "examples", "shop"), project)
    path = os.path.join(project, "environments", "dev.yml")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("    url: ${SCHEMA_REGISTRY_URL}\n",
                             "    url: ${SCHEMA_REGISTRY_URL}\n"
                             "    username: ${SCHEMA_REGISTRY_USERNAME}\n"
                             "    password: ${SCHEMA_REGISTRY_PASSWORD}\n"))
    path = os.path.join(project, "sources", "orders.yml")
    with open(path) as f:
        lines = f.read().split("\n")
    start, end = lines.index("    schema:"), lines.index("    columns:")
    with open(path, "w") as f:
        f.write("\n".join(lines[:start] + lines[end:]))
    return project


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    subprocess.check_call([sys.executable, os.path.join(ROOT, "build_zipapp.py")],
                          stdout=subprocess.DEVNULL)
    from tests.services import harness
    run = harness.Run()
    tmp = tempfile.mkdtemp(prefix="streamt-redeploy-")
    try:
        t0 = time.perf_counter()
        kafka = harness.start_kafka(run)
        sr = harness.start_schema_registry(run)
        flink = harness.start_flink(run, kafka)
        connect = harness.start_connect(run, kafka)
        env = harness.dev_env(kafka, sr, flink, connect)
        print("services started in %.0f s   python %s" % (time.perf_counter() - t0,
                                                          sys.version.split()[0]))
        create_source_topic(kafka.bootstrap)
        project = shop_variant(tmp)
        art = os.path.join(tmp, "art")
        t, _, p = cli(["build", "-p", project, "-e", "dev", "-o", art], env)
        if p.returncode != 0:
            print("build failed:\n" + p.stderr)
            return 1
        first, _, p = cli(["deploy", art, "-e", "dev", "--confirm", "--format", "json"], env)
        if p.returncode != 0:
            print("first deploy failed (%d):\n%s" % (p.returncode, p.stderr[-3000:]))
            return 1
        again, cpus, ok = [], [], True
        for _ in range(args.runs):
            t, c, p = cli(["deploy", art, "-e", "dev", "--confirm", "--detailed-exitcode",
                        "--format", "json"], env)
            again.append(t)
            cpus.append(c)
            try:
                report = json.loads(p.stdout)
                calls = report["result"].get("mutating_calls")
            except (ValueError, KeyError, TypeError):
                calls = None
            if p.returncode != 0 or calls != 0:
                ok = False
                print("re-deploy changed something or failed (exit %d, mutating calls %r):\n%s"
                      % (p.returncode, calls, p.stderr[-2000:]))
        print("| deploy | s |\n|---|---:|")
        print("| first (creates everything) | %.2f |" % first)
        print("| converged re-deploy, median of %d | %.2f |" % (len(again),
                                                              statistics.median(again)))
        print("| its CPU time (streamt process), median | %.2f |" % statistics.median(cpus))
        print("converged re-deploy changes nothing: %s" % ("yes" if ok else "NO"))
        print(json.dumps({"first_deploy_s": first, "redeploy_median_s": statistics.median(again),
                          "redeploy_runs_s": again,
                          "redeploy_cpu_median_s": statistics.median(cpus), "unchanged": ok}, sort_keys=True))
        return 0 if ok else 1
    finally:
        run.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
