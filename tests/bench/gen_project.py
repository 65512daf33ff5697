"""Generate a synthetic streamt project of N models (for benchmarks).

Sources have typed columns and event time; models mix filters, windowed aggregations,
joins, upsert aggregations and sinks, with refs several levels deep. Deterministic for a
given N.

    python tests/bench/gen_project.py 1000 /tmp/p1000
"""
import os
import sys

PER_FILE = 50


def generate(n_models, root):
    n_sources = max(2, n_models // 10)
    os.makedirs(os.path.join(root, "sources"))
    os.makedirs(os.path.join(root, "models"))
    with open(os.path.join(root, "stream_project.yml"), "w") as f:
        f.write("project:\n  name: bench\n  version: '1.0.0'\n"
                "runtime:\n  kafka:\n    bootstrap_servers: ${KAFKA_BOOTSTRAP}\n"
                "  flink:\n    default: main\n    clusters:\n      main:\n"
                "        rest_url: http://flink:8081\n        sql_gateway_url: http://flink:8083\n"
                "  connect:\n    default: main\n    clusters:\n      main:\n"
                "        rest_url: http://connect:8083\n"
                "defaults:\n  topic:\n    partitions: 6\n    replication_factor: 3\n")
    with open(os.path.join(root, "sources", "sources.yml"), "w") as f:
        f.write("sources:\n")
        for i in range(n_sources):
            f.write("  - name: src_%d\n    topic: bench.src.%d\n    description: source %d\n"
                    "    columns:\n"
                    "      - {name: id, type: STRING}\n"
                    "      - {name: account, type: STRING}\n"
                    "      - {name: amount, type: 'DECIMAL(10, 2)'}\n"
                    "      - {name: qty, type: INT}\n"
                    "      - {name: ts, type: 'TIMESTAMP(3)'}\n"
                    "    event_time:\n      column: ts\n      watermark:\n"
                    "        max_out_of_orderness_ms: %d\n" % (i, i, i, 1000 + i))
    models = []
    for i in range(n_models):
        kind = i % 5
        src = "src_%d" % (i % n_sources)
        # filters read sources or earlier filters: chains several levels deep
        if kind == 0 or i < 5:
            up = "{{ source(\"%s\") }}" % src if i < 10 or i % 3 else "{{ ref(\"m_%d\") }}" % (i - 5)
            sql = ("SELECT id, account, amount, qty, ts FROM %s\n"
                   "      WHERE amount > %d AND account IS NOT NULL" % (up, i % 100))
            models.append(("m_%d" % i, "flink", sql, None))
        elif kind == 1:
            sql = ("SELECT window_start, window_end, account, SUM(amount) AS total, COUNT(*) AS n\n"
                   "      FROM TABLE(TUMBLE(TABLE {{ ref(\"m_%d\") }}, DESCRIPTOR(ts), INTERVAL '1' MINUTE))\n"
                   "      GROUP BY window_start, window_end, account" % (i - 1))
            models.append(("m_%d" % i, None, sql, None))
        elif kind == 2:
            sql = ("SELECT a.id, a.account, a.amount, b.qty\n"
                   "      FROM {{ ref(\"m_%d\") }} a JOIN {{ source(\"%s\") }} b ON a.id = b.id"
                   % (i - 2, src))
            models.append(("m_%d" % i, None, sql, None))
        elif kind == 3:
            sql = ("SELECT account, SUM(qty) AS qty, MAX(amount) AS biggest\n"
                   "      FROM {{ source(\"%s\") }} GROUP BY account" % src)
            models.append(("m_%d" % i, None, sql, None))
        else:
            models.append(("m_%d" % i, "sink", None, "m_%d" % (i - 4)))
    for start in range(0, len(models), PER_FILE):
        with open(os.path.join(root, "models", "models_%04d.yml" % (start // PER_FILE)), "w") as f:
            f.write("models:\n")
            for name, mat, sql, sink_from in models[start:start + PER_FILE]:
                f.write("  - name: %s\n    description: model %s\n" % (name, name))
                if mat and mat != "sink":
                    f.write("    materialized: %s\n" % mat)
                if sink_from:
                    f.write("    from:\n      - ref: %s\n    sink:\n"
                            "      connector: jdbc-sink\n      config:\n"
                            "        connection.url: jdbc:postgresql://db/bench\n"
                            "        connection.password: ${DB_PASSWORD}\n" % sink_from)
                    continue
                f.write("    sql: |\n      %s\n" % sql)
                f.write("    advanced:\n      topic:\n        name: bench.%s\n" % name)
    return root


if __name__ == "__main__":
    generate(int(sys.argv[1]), sys.argv[2])
