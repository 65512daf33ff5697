"""Helpers of the hostile-input tests: a project with every kind of user string,
run the CLI in-process, read back what a build wrote."""
import copy
import io
import json
import os

import yaml

import streamt

PROJECT_FILE = "stream_project.yml"


def base_project():
    """A single-environment project in which every place a user string reaches an output
    is used once: sources (topic, columns, schema), a Flink model, a sink connector, a
    virtual-topic model, a continuous test with accepted values and custom SQL, an
    exposure, topic config."""
    return {
        "project": {"name": "hostile", "version": "1"},
        "runtime": {
            "kafka": {"bootstrap_servers": "k1:9092", "sasl_username": "u",
                      "sasl_password": "${KAFKA_PASSWORD}"},
            "schema_registry": {"url": "http://sr:8081", "username": "u",
                                "password": "${SR_PASSWORD}"},
            "flink": {"default": "local", "clusters": {"local": {
                "rest_url": "http://flink:8081", "sql_gateway_url": "http://flink:8083"}}},
            "connect": {"default": "local", "clusters": {"local": {"rest_url": "http://connect:8083"}}},
            "conduktor": {"gateway": {"admin_url": "http://gw:8888", "username": "admin",
                                      "password": "${GATEWAY_PASSWORD}",
                                      "virtual_cluster": "passthrough"}},
        },
        "sources": [{
            "name": "orders", "topic": "orders.v1",
            "columns": [{"name": "id", "type": "STRING"}, {"name": "status", "type": "STRING"},
                        {"name": "amount", "type": "DOUBLE"}],
            "schema": {"format": "avro", "subject": "orders.v1-value", "definition": json.dumps(
                {"type": "record", "name": "Order", "doc": "an order",
                 "fields": [{"name": "id", "type": "string"}]})},
        }],
        "models": [
            {"name": "clean", "materialized": "flink",
             "sql": 'SELECT * FROM {{ source("orders") }} WHERE amount > 0',
             "advanced": {"topic": {"name": "orders.clean.v1", "partitions": 1,
                                    "config": {"retention.ms": "1000"}}}},
            {"name": "archive", "from": [{"ref": "clean"}],
             "sink": {"connector": "org.apache.kafka.connect.jdbc.JdbcSinkConnector",
                      "config": {"connection.url": "jdbc:postgresql://db/x",
                                 "connection.password": "${DB_PASSWORD}", "tasks.max": "1"}}},
            {"name": "eu", "sql": 'SELECT id, status FROM {{ source("orders") }} WHERE status = \'eu\'',
             "gateway": {"virtual_topic": {"name": "orders-eu"}}},
        ],
        "tests": [{"name": "clean_quality", "model": "clean", "type": "continuous",
                   "assertions": [{"accepted_values": {"column": "status", "values": ["new", "paid"]}},
                                  {"custom_sql": {"where": "amount > 1000000"}}]}],
        "exposures": [{"name": "dash", "type": "dashboard", "consumes": [{"ref": "clean"}]}],
    }


SECRET_VARS = ("KAFKA_PASSWORD", "SR_PASSWORD", "GATEWAY_PASSWORD", "DB_PASSWORD")


def write_project(root, data, files=None):
    """Write ``data`` as stream_project.yml (and ``files``: {relative path: text or bytes})."""
    if not os.path.isdir(root):
        os.makedirs(root)
    with io.open(os.path.join(root, PROJECT_FILE), "w", encoding="utf-8") as f:
        f.write(yaml.safe_dump(data, allow_unicode=False, default_flow_style=False, width=1 << 30))
    for rel, text in sorted((files or {}).items()):
        path = os.path.join(root, rel)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode("utf-8"))
    return root


class Result(object):
    def __init__(self, code, out, err):
        self.returncode, self.stdout, self.stderr = code, out, err

    def __repr__(self):
        return "Result(%r, stdout=%r, stderr=%r)" % (self.returncode, self.stdout[-2000:],
                                                     self.stderr[-2000:])


def cli(*args, **kw):
    """streamt.main in this process, stdout/stderr captured.  An exception that is not
    a StreamtError escapes (the test fails with its traceback: a user would see one).
    ``environ`` replaces os.environ for the run."""
    environ = kw.get("environ")
    out, err = io.StringIO(), io.StringIO()
    saved = None
    if environ is not None:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(environ)
    try:
        code = streamt.main(list(args), streamt.Output(out, err, {"NO_COLOR": "1"}))
    finally:
        if saved is not None:
            os.environ.clear()
            os.environ.update(saved)
    return Result(code, out.getvalue(), err.getvalue())


def clean_environ(**extra):
    """os.environ without STREAMT_* / project variables, plus ``extra``."""
    env = dict((k, v) for k, v in os.environ.items()
               if not k.startswith("STREAMT_") and k not in SECRET_VARS)
    env["SOURCE_DATE_EPOCH"] = "0"
    env.update(extra)
    return env


def artifact_files(out):
    """{relative path: bytes} of an artifact directory (every regular file)."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(out):
        for fn in filenames:
            path = os.path.join(dirpath, fn)
            files[os.path.relpath(path, out).replace(os.sep, "/")] = open(path, "rb").read()
    return files


def sql_shape(text, hostile=None, plain=None):
    """The significant tokens of a Flink SQL file as (kind, value) with ``hostile``
    written back as ``plain`` in every quoted value: two builds that differ only by
    that value must give the same shape when it was escaped correctly."""
    shape = []
    for t in streamt.sql_tokens(text, comments=False):
        value = streamt.token_value(t) if t.kind in ("string", "qident", "dqident") else t.text
        if hostile is not None and isinstance(value, str):
            value = value.replace(hostile, plain)
        shape.append((t.kind, value if t.kind != "ident" else value.upper()))
    return shape


def json_back(obj, hostile, plain):
    """``obj`` with ``hostile`` replaced by ``plain`` in every string (keys too)."""
    if isinstance(obj, str):
        return obj.replace(hostile, plain)
    if isinstance(obj, dict):
        return dict((json_back(k, hostile, plain), json_back(v, hostile, plain))
                    for k, v in obj.items())
    if isinstance(obj, list):
        return [json_back(v, hostile, plain) for v in obj]
    return obj


def deep(data):
    return copy.deepcopy(data)


def best_time(fn, repeat=3):
    """The shortest of ``repeat`` runs of ``fn(k)`` (k = 0, 1, ...: a caller varies its
    input with k so that no cache of an earlier run answers), in seconds."""
    import time
    best = None
    for k in range(repeat):
        t = time.perf_counter()
        fn(k)
        t = time.perf_counter() - t
        best = t if best is None else min(best, t)
    return best


def bounded_ratio(hostile, baseline, repeat=3):
    """time(hostile) / time(baseline), both measured here: a bounded-work test asserts
    this ratio (never absolute seconds)."""
    base = best_time(baseline, repeat)
    return best_time(hostile, repeat) / max(base, 1e-4)


def peak_memory(fn):
    """The peak of the memory Python allocated while ``fn()`` ran (tracemalloc), in bytes,
    and what ``fn()`` returned: a bounded-memory test compares it with a baseline run
    (a ceiling proportional to the input, never an absolute figure)."""
    import tracemalloc
    tracemalloc.start()
    try:
        got = fn()
        return tracemalloc.get_traced_memory()[1], got
    finally:
        tracemalloc.stop()
