"""Benchmark: load_project + validate_project on a generated project.

Not a pytest test: run ``python tests/bench/bench_validate.py [--models N] [--runs N]``.
The project has N/4 sources, N models (each reading a source and the previous model,
so the dependency chain is N long), N/2 tests, a dense cycle of 12 models (many
elementary cycles) and governance rules.  Prints medians and a JSON line.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import streamt  # noqa: E402


def make_project(root, n):
    out = ["project:", "  name: bench", "runtime:", "  kafka:", "    bootstrap_servers: k:9092",
           "  flink:", "    default: f", "    clusters:", "      f:",
           "        sql_gateway_url: http://f", "rules:", "  topics:", "    min_partitions: 1",
           "    naming_pattern: '[a-z0-9_.]+'", "  models:", "    require_description: true",
           "sources:"]
    for i in range(max(1, n // 4)):
        out += ["  - name: src_%d" % i, "    topic: raw.src_%d" % i, "    columns:",
                "      - {name: id, type: STRING}", "      - {name: ts, type: TIMESTAMP(3)}",
                "    event_time: {column: ts}"]
    out.append("models:")
    for i in range(n):
        prev = ' JOIN {{ ref("m_%d") }} ON true' % (i - 1) if i else ""
        out += ["  - name: m_%d" % i, "    description: model %d" % i, "    sql: |",
                '      SELECT id, COUNT(*) AS c FROM {{ source("src_%d") }}%s' % (i % max(1, n // 4), prev),
                "      GROUP BY id"]
    for i in range(12):  # a dense strongly connected component
        refs = " JOIN ".join('{{ ref("cyc_%d") }}' % j for j in range(12) if j != i)
        out += ["  - name: cyc_%d" % i, "    description: cycle", "    sql: SELECT * FROM " + refs]
    out.append("tests:")
    for i in range(n // 2):
        out += ["  - {name: t_%d, model: m_%d, type: schema}" % (i, i)]
    with open(os.path.join(root, "stream_project.yml"), "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    root = tempfile.mkdtemp()
    try:
        make_project(root, args.models)
        loads, validates, ndiag = [], [], 0
        for _ in range(args.runs):
            t0 = time.perf_counter()
            p = streamt.load_project(root, environ={})
            t1 = time.perf_counter()
            diags = streamt.validate_project(p)
            t2 = time.perf_counter()
            loads.append(t1 - t0)
            validates.append(t2 - t1)
            ndiag = len(diags)
        res = {"models": args.models, "load_s": round(statistics.median(loads), 3),
               "validate_s": round(statistics.median(validates), 3), "diagnostics": ndiag}
        print("models %(models)d: load %(load_s).3f s, validate %(validate_s).3f s, "
              "%(diagnostics)d diagnostics" % res)
        print(json.dumps(res, sort_keys=True))
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
