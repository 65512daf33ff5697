"""Hostile input: every place a user string reaches a generated file, fed with SQL
injection, path traversal, shell metacharacters, control characters, look-alikes and
huge sizes.  Each value must be REFUSED (exit 3, naming the file and line) or come out
ESCAPED: the generated Flink SQL has the same statements and the same tables as with a
harmless value, the JSON files give back the value, file names stay inside the artifact
and SHA256SUMS keeps one line per file."""
import json
import os
import re

import pytest

import streamt
from tests._hostile import (artifact_files, base_project, clean_environ, cli, deep,
                            json_back, sql_shape, write_project)

PLAIN = "zzplainzz"

# Values that try to leave their context.  A name-like position gets PLAIN + payload so
# that a refusal is about the payload, not about the shape of the rest of the name.
PAYLOADS = [
    "'", "''", "`", '"', "\\", ";", "--", "/*", "*/", "x;DROP TABLE t;--",
    "'; DROP TABLE t; --", "`; DROP TABLE t; --", "\nDROP TABLE t;\n", "\r\n", "\t",
    "\x00", "\x7f", "\u2028", "\u0085", "\u202e", "\ufeff", "\u043e",  # Cyrillic o
    "\uff07",  # fullwidth apostrophe
    "$(id)", "`id`", "|", "&&", "${NOPE}", "$$", "{{ ref('x') }}", "{% if %}",
    "../x", "/abs", "..\\x", ".", "..", "CON", "nul", "x" * 300, "\u00e9\u0301",
    "a\"b'c`d", "%2e%2e%2f", "*", "?", ":",
]
PAYLOAD_IDS = [repr(p)[:24] for p in PAYLOADS]


def _source(d):
    return d["sources"][0]


def _model(d, name):
    return [m for m in d["models"] if m["name"] == name][0]


def _rename_source(d, v):
    _source(d)["name"] = v
    for m in d["models"]:
        if m.get("sql"):
            m["sql"] = m["sql"].replace('source("orders")', "source(%s)" % json.dumps(v))


def _rename_model(d, v):
    _model(d, "clean")["name"] = v
    _model(d, "archive")["from"] = [{"ref": v}]
    d["tests"][0]["model"] = v
    d["exposures"][0]["consumes"] = [{"ref": v}]


def _set_column(d, v):
    _source(d)["columns"][1]["name"] = v
    d["tests"][0]["assertions"][0]["accepted_values"]["column"] = v
    _model(d, "eu")["sql"] = 'SELECT id FROM {{ source("orders") }}'


def _set_type(d, v):
    _source(d)["columns"][1]["type"] = v


def _set_schema_def(d, v):
    _source(d)["schema"]["definition"] = json.dumps(
        {"type": "record", "name": "Order", "doc": v, "fields": [{"name": "id", "type": "string"}]})


# position -> how to put the value there
POSITIONS = {
    "project_name": lambda d, v: d["project"].__setitem__("name", v),
    "source_name": _rename_source,
    "model_name": _rename_model,
    "test_name": lambda d, v: d["tests"][0].__setitem__("name", v),
    "exposure_name": lambda d, v: d["exposures"][0].__setitem__("name", v),
    "source_topic": lambda d, v: _source(d).__setitem__("topic", v),
    "model_topic": lambda d, v: _model(d, "clean")["advanced"]["topic"].__setitem__("name", v),
    "topic_config_key": lambda d, v: _model(d, "clean")["advanced"]["topic"]["config"].__setitem__(v, "1"),
    "topic_config_value": lambda d, v: _model(d, "clean")["advanced"]["topic"]["config"].__setitem__("retention.ms", v),
    "column_name": _set_column,
    "column_type": _set_type,
    "accepted_value": lambda d, v: d["tests"][0]["assertions"][0]["accepted_values"].__setitem__("values", ["new", v]),
    "connector_key": lambda d, v: _model(d, "archive")["sink"]["config"].__setitem__(v, "1"),
    "connector_value": lambda d, v: _model(d, "archive")["sink"]["config"].__setitem__("connection.url", v),
    "schema_subject": lambda d, v: _source(d)["schema"].__setitem__("subject", v),
    "schema_definition": _set_schema_def,
    "gateway_topic": lambda d, v: _model(d, "eu")["gateway"]["virtual_topic"].__setitem__("name", v),
    "custom_sql": lambda d, v: d["tests"][0]["assertions"][1]["custom_sql"].__setitem__(
        "where", "amount > 0 OR status = " + v),
    "flink_cluster": lambda d, v: d["runtime"]["flink"].update(
        {"default": v, "clusters": {v: d["runtime"]["flink"]["clusters"]["local"]}}),
}


def _build(tmp_path, data, tag, files=None, *extra):
    root = write_project(str(tmp_path / ("p_" + tag)), data, files)
    out = str(tmp_path / ("out_" + tag))
    r = cli("build", "-p", root, "-o", out, *extra, environ=clean_environ())
    return r, out


_BASELINES = {}


def _baseline(tmp_path_factory, position):
    if position not in _BASELINES:
        data = base_project()
        POSITIONS[position](data, PLAIN)
        r, out = _build(tmp_path_factory.mktemp("base"), data, "base")
        assert r.returncode == 0, r
        _BASELINES[position] = artifact_files(out)
    return _BASELINES[position]


def _statements(text):
    """[(first word, table name)] of each statement of a Flink SQL file."""
    out = []
    for stmt in streamt.split_statements(text):
        toks = [t for t in streamt.sql_tokens(stmt, comments=False)]
        words = [t.text.upper() for t in toks if t.kind == "ident"][:3]
        table = None
        for i, t in enumerate(toks[:-1]):
            if t.kind == "ident" and t.text.upper() in ("TABLE", "INTO") and toks[i + 1].kind == "qident":
                table = streamt.token_value(toks[i + 1])
                break
        out.append((words[0] if words else None, table))
    return out


def assert_refused_with_location(r):
    assert r.returncode == streamt.EXIT_INVALID, r
    assert "Traceback" not in r.stderr
    assert re.search(r"stream_project\.yml:\d+", r.stderr), \
        "the refusal does not say file:line: %s" % r.stderr


# Positions whose value is SQL by design (a type, a condition): it cannot be quoted, so
# what must hold is the structure -- the same statements on the same tables.
SQL_POSITIONS = ("column_type", "custom_sql")


def assert_escaped(files, base, value, sql_is_code=False):
    """The artifact of `value` is the baseline's with PLAIN replaced by `value`."""
    # every file inside, one SHA256SUMS line per file
    sums = files["SHA256SUMS"].decode("utf-8").splitlines()
    listed = sorted(line.split("  ", 1)[1] for line in sums)
    assert listed == sorted(p for p in files if p not in ("SHA256SUMS", "manifest.json.sig"))
    assert len(files) == len(base)
    for path in files:
        assert not path.startswith("/") and ".." not in path.split("/"), path
        assert "\n" not in path and "\x00" not in path
    # Flink SQL: same statements, same tables, same tokens once the value is put back
    sql_files = sorted(p for p in files if p.endswith(".sql"))
    base_sql = sorted(p for p in base if p.endswith(".sql"))
    assert len(sql_files) == len(base_sql)
    base_by_shape = {}
    for p in base_sql:
        text = base[p].decode("utf-8")
        base_by_shape.setdefault(len(streamt.split_statements(text)), []).append(
            sql_shape(text))
    if sql_is_code:
        got = sorted(_statements(files[p].decode("utf-8")) for p in sql_files)
        want = sorted(_statements(base[p].decode("utf-8")) for p in base_sql)
        assert got == want
        sql_files = []
    for p in sql_files:
        text = files[p].decode("utf-8")
        shape = sql_shape(text, value, PLAIN)
        assert any(shape == b for bs in base_by_shape.values() for b in bs), \
            "%s does not have the statements of the baseline:\n%s" % (p, text)
    # JSON: parses, and gives back the baseline with the value in PLAIN's place
    base_json = sorted(json.dumps(json_back(json.loads(base[p].decode("utf-8")), PLAIN, PLAIN),
                                  sort_keys=True)
                       for p in base if p.endswith(".json") and p != "manifest.json")
    got_json = sorted(json.dumps(json_back(json.loads(files[p].decode("utf-8")), value, PLAIN),
                                 sort_keys=True)
                      for p in files if p.endswith(".json") and p != "manifest.json")
    assert got_json == base_json
    json.loads(files["manifest.json"].decode("utf-8"))


@pytest.mark.parametrize("payload", PAYLOADS, ids=PAYLOAD_IDS)
@pytest.mark.parametrize("position", sorted(POSITIONS))
def test_hostile_value_is_refused_or_escaped(tmp_path, tmp_path_factory, position, payload):
    value = PLAIN + payload
    data = base_project()
    POSITIONS[position](data, value)
    r, out = _build(tmp_path, data, "h")
    assert "Traceback" not in r.stderr
    if r.returncode != 0:
        assert_refused_with_location(r)
        assert not os.path.exists(out), "an invalid project wrote an artifact"
        return
    assert_escaped(artifact_files(out), _baseline(tmp_path_factory, position), value,
                   sql_is_code=position in SQL_POSITIONS)
