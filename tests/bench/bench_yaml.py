"""Benchmark: streamt.yaml_load against PyYAML on a ~20,000-line project file.

Not a pytest test: run ``python tests/bench/bench_yaml.py [--lines N] [--runs N]``.
Prints a table and a JSON line: medians of several runs for our loader, PyYAML's
pure-Python SafeLoader and (if built) PyYAML's CSafeLoader, and the speed ratios.
"""
import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import streamt  # noqa: E402


def project_text(target_lines=20000):
    """A realistic project file: sources, models with SQL block scalars, tests, anchors."""
    out = ["# generated benchmark project", "project:", "  name: bench",
           "  version: '1.0.0'", "  description: >", "    A generated project used to",
           "    measure the YAML loader.", "",
           "defaults: &defaults", "  partitions: 6", "  replication_factor: 3",
           "  config:", "    retention.ms: 604800000", "    cleanup.policy: delete", "",
           "sources:"]
    i = 0
    while len(out) < target_lines * 0.3:
        out += ["  - name: source_%d" % i,
                "    topic: shop.raw.source_%d.v1" % i,
                "    description: \"Raw events number %d, as produced\"" % i,
                "    owner: team-%d" % (i % 7),
                "    freshness: {warn_after: 10m, error_after: 1h}",
                "    columns:",
                "      - {name: id, type: STRING, nullable: false}",
                "      - name: amount",
                "        type: 'DECIMAL(10, 2)'",
                "        description: Amount in cents  # trailing comment",
                "      - name: created_at",
                "        type: TIMESTAMP(3)",
                "    tags: [raw, pii, 'team-%d']" % (i % 5), ""]
        i += 1
    out.append("models:")
    i = 0
    while len(out) < target_lines * 0.85:
        out += ["  - name: model_%d" % i,
                "    description: Model %d, cleaned and enriched" % i,
                "    materialized: flink",
                "    enabled: yes",
                "    sql: |",
                "      SELECT id, customer_id, amount, created_at",
                "      FROM {{ source(\"source_%d\") }}" % i,
                "      WHERE amount > 0",
                "        AND status <> 'cancelled'",
                "      -- comment inside SQL",
                "      GROUP BY id, customer_id, amount, created_at",
                "    advanced:",
                "      topic:",
                "        <<: *defaults",
                "        name: shop.model_%d.v1" % i,
                "      flink:",
                "        parallelism: %d" % (1 + i % 4),
                "        checkpoint_interval_ms: 60_000",
                "        state_ttl: 1.5e+3",
                "", ]
        i += 1
    out.append("tests:")
    i = 0
    while len(out) < target_lines:
        out += ["  - name: test_%d" % i,
                "    model: model_%d" % i,
                "    type: schema",
                "    assertions:",
                "      - not_null: {columns: [id, amount]}",
                "      - accepted_values:",
                "          column: status",
                "          values: [\"new\", \"paid\", \"shipped\"]",
                "      - range: {column: amount, min: 0, max: 1000000}",
                "    on_failure:",
                "      actions:",
                "        - alert: {channel: '#data', when: 2024-01-15T10:00:00Z}", ""]
        i += 1
    return "\n".join(out) + "\n"


def median_time(fn, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    text = project_text(args.lines)
    results = {"lines": text.count("\n"), "runs": args.runs}
    ours = streamt.yaml_load(text)
    results["streamt"] = median_time(lambda: streamt.yaml_load(text), args.runs)
    results["streamt_located"] = median_time(lambda: streamt.yaml_load_located(text), args.runs)
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is not None:
        pure = yaml.SafeLoader
        assert pure.__module__ == "yaml.loader", "SafeLoader must be the pure-Python one"
        assert yaml.load(text, Loader=pure) == ours, "results differ from PyYAML"
        results["pyyaml_pure"] = median_time(lambda: yaml.load(text, Loader=pure), args.runs)
        results["ratio_pure"] = results["pyyaml_pure"] / results["streamt"]
        if getattr(yaml, "CSafeLoader", None) is not None:
            results["pyyaml_c"] = median_time(lambda: yaml.load(text, Loader=yaml.CSafeLoader),
                                              args.runs)
            results["ratio_c"] = results["pyyaml_c"] / results["streamt"]
    print("YAML load of a %d-line project file (median of %d runs)" % (results["lines"], args.runs))
    print("%-28s %10s %10s" % ("loader", "seconds", "x streamt"))
    for name, key in (("streamt.yaml_load", "streamt"),
                      ("streamt.yaml_load_located", "streamt_located"),
                      ("PyYAML SafeLoader (pure)", "pyyaml_pure"),
                      ("PyYAML CSafeLoader", "pyyaml_c")):
        if key in results:
            print("%-28s %10.4f %10.2f" % (name, results[key], results[key] / results["streamt"]))
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
