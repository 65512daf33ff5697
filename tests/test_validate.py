"""Validation: every diagnostic code, on small fixture projects under tests/projects/.

The expected diagnostics are written in the fixture files themselves, as a comment
on the line a user would be pointed at:  ``# expect: CODE level[, CODE level]`` (or
``-- expect: ...`` inside SQL).  A broken project must produce each of them at that
file:line, and no error that is not expected."""
import os
import re
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamt

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECTS = os.path.join(HERE, "projects")
ROOT = os.path.dirname(HERE)

_EXPECT = re.compile(r"(?:#|--)\s*expect:\s*(.+)$")


def expectations(project_dir):
    """{(file, line, code, level)} written as `expect:` comments in the project's files."""
    out = set()
    for dirpath, _dirs, files in os.walk(project_dir):
        for fn in files:
            path = os.path.join(dirpath, fn)
            if not os.path.isfile(path):
                continue
            rel = os.path.relpath(path, project_dir).replace(os.sep, "/")
            with open(path) as f:
                for i, line in enumerate(f, 1):
                    m = _EXPECT.search(line)
                    if not m:
                        continue
                    for part in m.group(1).split(","):
                        code, level = part.split()
                        out.add((rel, i, code, level))
    return out


def diagnose(project_dir, env=None, environ=None):
    """All diagnostics a user gets from `streamt validate` (load errors included)."""
    try:
        project = streamt.load_project(project_dir, env=env, environ=environ or {})
    except streamt.ProjectError as e:
        return list(getattr(e, "diagnostics", None) or [
            streamt.Diagnostic("error", "PROJECT_ERROR", e.message, e.location, e.hint)])
    return streamt.validate_project(project)


# (project, env, extra expectations not expressible as a comment: (file, line, code, level))
BROKEN = [
    ("names", None, []),
    ("sql", None, []),
    ("ml", None, []),
    ("materialization", None, []),
    ("advanced", None, []),
    ("runtime", None, []),
    ("tests_exposures", None, []),
    ("cycles", None, []),
    ("access", None, []),
    ("rules", None, []),
    ("bad_regex", None, []),
    ("wrong_types", None, []),
    ("yaml_error", None, []),
    ("no_project", None, []),
    ("no_name", None, []),
    ("no_runtime", None, []),
    ("conflicting", None, []),
    ("env_mismatch", "dev", []),
    ("env_no_runtime", "dev", []),
    ("env_vars", None, []),
    ("warnings", None, []),
    ("two_project_files", None, []),
]


def _key(d):
    loc = d.location or streamt.Location()
    return (loc.file, loc.line, d.code, d.level)


@pytest.mark.parametrize("name,env,extra", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_project_gives_located_diagnostics(name, env, extra):
    project_dir = os.path.join(PROJECTS, "broken", name)
    expected = expectations(project_dir) | set(extra)
    assert expected, "the fixture declares what it expects"
    diags = diagnose(project_dir, env)
    got = set(_key(d) for d in diags)
    missing = expected - got
    assert not missing, "expected but not reported: %s\nreported: %s" % (
        sorted(missing, key=str), "\n".join(d.render() for d in diags))
    unexpected = [d for d in diags if d.is_error and _key(d) not in expected]
    assert not unexpected, "unexpected errors:\n" + "\n".join(d.render() for d in unexpected)
    assert any(d.is_error for d in diags) or all(e[3] == "warning" for e in expected)
    for d in diags:
        assert d.code in streamt.DIAGNOSTIC_CODES, d.code
        assert d.message and "Traceback" not in d.message


def test_every_code_is_covered_by_a_fixture():
    covered = set()
    for name, _env, extra in BROKEN:
        covered |= set(e[2] for e in expectations(os.path.join(PROJECTS, "broken", name)))
        covered |= set(e[2] for e in extra)
    # STREAMT_ENV_IGNORED has no file location: tests/test_project.py covers it;
    # PROJECT_ERROR is the CLI's wrapper of an unlocated load error: test_cli_validate.py;
    # FILE_UNREADABLE needs a broken symlink, made at test time below (a committed one
    # would trip every tool that walks the repository)
    covered |= {"STREAMT_ENV_IGNORED", "PROJECT_ERROR", "FILE_UNREADABLE"}
    assert sorted(set(streamt.DIAGNOSTIC_CODES) - covered) == []


def test_unreadable_file_is_an_error_naming_it(tmp_path):
    shutil.copytree(os.path.join(PROJECTS, "valid", "sinks"), str(tmp_path / "p"))
    os.makedirs(str(tmp_path / "p" / "models"))
    os.symlink("does-not-exist.yml", str(tmp_path / "p" / "models" / "gone.yml"))
    diags = diagnose(str(tmp_path / "p"))
    assert [(d.code, d.level, d.location.file) for d in diags] == [
        ("FILE_UNREADABLE", "error", "models/gone.yml")]


def test_codes_have_the_declared_level():
    for name, env, _extra in BROKEN:
        for d in diagnose(os.path.join(PROJECTS, "broken", name), env):
            assert d.level == streamt.DIAGNOSTIC_CODES[d.code][0], d.render()


VALID = [("valid/readme_legacy", None), ("valid/multi_env", "dev"), ("valid/multi_env", "prod"),
         ("valid/sinks", None), ("valid/gateway", None), ("valid/continuous_tests", None),
         ("../../examples/shop", "dev")]


@pytest.mark.parametrize("name,env", VALID, ids=["%s-%s" % v for v in VALID])
def test_valid_projects_validate_without_errors(name, env):
    environ = {"KAFKA_PASSWORD": "x"} if env == "prod" else {}
    diags = diagnose(os.path.join(PROJECTS, name), env, environ)
    errors = [d.render() for d in diags if d.is_error]
    assert errors == []


def test_readme_legacy_example_warns_about_each_legacy_spelling():
    diags = diagnose(os.path.join(PROJECTS, "valid", "readme_legacy"))
    deprecated = sorted((d.location.line, d.message) for d in diags if d.code == "DEPRECATED_KEY")
    assert [m.split("'")[1] for _l, m in deprecated] == ["topic", "flink", "connector"]
    p = streamt.load_project(os.path.join(PROJECTS, "valid", "readme_legacy"), environ={})
    m = p.model("payments_validated")
    assert m["advanced"]["topic"] == {"partitions": 6}
    assert m["advanced"]["flink"]["parallelism"] == 2
    assert "topic" not in m and "flink" not in m
    sink = p.model("payments_to_warehouse")["sink"]
    assert sink["connector"] == "snowflake-sink"
    assert sink["config"] == {"snowflake.database.name": "ANALYTICS"}


def test_shop_example_is_clean_in_dev():
    diags = diagnose(os.path.join(ROOT, "examples", "shop"), "dev")
    assert [d.render() for d in diags] == []


def test_stateless_fallback_models_get_topic_rules():
    # the original skipped models that fall back from virtual_topic to Flink
    d = os.path.join(PROJECTS, "valid", "sinks")
    p = streamt.load_project(d, environ={})
    p.rules = {"topics": {"min_partitions": 4}}
    p.models.append({"name": "filtered", "sql": 'SELECT * FROM {{ source("clicks") }} WHERE x > 1'})
    codes = [(x.code, x.message) for x in streamt.validate_project(p) if x.is_error]
    assert any(c == "RULE_MIN_PARTITIONS" and "'filtered'" in m for c, m in codes)
    assert any(c == "RULE_MIN_PARTITIONS" and "'clicks_per_page'" in m for c, m in codes)


def test_naming_pattern_must_match_the_whole_name():
    d = os.path.join(PROJECTS, "valid", "sinks")
    p = streamt.load_project(d, environ={})
    p.rules = {"topics": {"naming_pattern": "clicks_[a-z_]+"}}
    bad = [x.message for x in streamt.validate_project(p) if x.code == "RULE_NAMING_PATTERN"]
    # 'clicks_per_page' matches entirely; a prefix match is not enough
    assert bad == []
    p.models[0]["name"] = "clicks_per_page; DROP"
    bad = [x.message for x in streamt.validate_project(p) if x.code == "RULE_NAMING_PATTERN"]
    assert len(bad) == 1


def test_each_distinct_cycle_is_reported_once():
    diags = diagnose(os.path.join(PROJECTS, "broken", "cycles"))
    cycles = sorted(d.message.split(": ", 1)[1] for d in diags if d.code == "CYCLE_DETECTED")
    # "x -> y": x reads from y.  d reads f, f reads d and e, e reads d.
    assert cycles == ["a -> b -> a", "c -> c", "d -> f -> d", "d -> f -> e -> d"]


def test_missing_variables_are_all_named_with_their_files():
    diags = diagnose(os.path.join(PROJECTS, "broken", "env_vars"))
    msgs = sorted(d.message for d in diags if d.code == "ENV_VAR_NOT_SET")
    assert len(msgs) == 2
    assert "NOT_SET_BOOTSTRAP" in msgs[0] and "stream_project.yml" in msgs[0]
    assert "NOT_SET_FILE" in msgs[1]
    p = streamt.load_project(os.path.join(PROJECTS, "broken", "env_vars"), environ={})
    assert [d for d in streamt.validate_project(p, check_env=False) if d.is_error] == []
    p = streamt.load_project(os.path.join(PROJECTS, "broken", "env_vars"),
                             environ={"NOT_SET_BOOTSTRAP": "", "NOT_SET_FILE": "/x"})
    assert streamt.check_variables(p) == []  # set-but-empty counts as set


def test_diagnostics_are_sorted_by_file_line_code():
    diags = diagnose(os.path.join(PROJECTS, "broken", "rules"))
    keys = [(d.location.file or "", d.location.line or 0) for d in diags]
    assert keys == sorted(keys)


def test_suggestions_name_the_close_match():
    diags = diagnose(os.path.join(PROJECTS, "broken", "sql"))
    nf = [d for d in diags if d.code == "SOURCE_NOT_FOUND"][0]
    assert "orders" in nf.suggestion
    warn = [d for d in diagnose(os.path.join(PROJECTS, "broken", "warnings"))
            if d.code == "UNKNOWN_KEY" and "checkpoint_interval" in d.message][0]
    assert "checkpoint_interval_ms" in warn.suggestion


@pytest.mark.parametrize("name", ["../x", "a/b", "a'b", "a`b", "a\x00b", "a\nb", ".hidden",
                                  "x" * 201, "", "a b", "a\\b"])
def test_unsafe_names_are_refused(name):
    assert streamt.name_problem(name)


@pytest.mark.parametrize("name", ["orders", "orders_clean", "shop.orders.v1", "a-b", "X" * 200])
def test_safe_names_pass(name):
    assert streamt.name_problem(name) is None


@pytest.mark.parametrize("topic,ok", [("a.b_c-D9", True), (".", False), ("..", False),
                                      ("x" * 249, True), ("x" * 250, False), ("a b", False),
                                      ("a/b", False), ("${TOPIC}", True), ("é", False)])
def test_kafka_topic_names(topic, ok):
    assert (streamt.topic_problem(topic) is None) == ok


# -- robustness: any project file gives diagnostics or a ProjectError, never a crash ---


_KEYS = ["name", "sql", "from", "topic", "ref", "source", "advanced", "flink", "sink",
         "connector", "config", "materialized", "partitions", "gateway", "virtual_topic",
         "security", "policies", "mask", "column", "columns", "event_time", "watermark",
         "strategy", "schema", "definition", "format", "type", "model", "on_failure",
         "actions", "dlq", "consumes", "produces", "depends_on", "sla", "access", "group",
         "state_ttl_ms", "flink_cluster", "clusters", "default", "x"]
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.sampled_from(
    ["orders", "m", "SELECT * FROM {{ source(\"orders\") }}", "{{ ref('m') }}", "{% if %}",
     "flink", "sink", "topic", "virtual_topic", "../x", "${VAR}", "", "a b", "{", "continuous"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)),
    max_leaves=12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=5), max_size=2),
       models=st.lists(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=6), max_size=3),
       tests=st.lists(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=4), max_size=2),
       runtime=st.dictionaries(st.sampled_from(["kafka", "flink", "connect", "conduktor", "x"]),
                               _VALUES, max_size=3))
def test_arbitrary_projects_never_crash(tmp_path_factory, sources, models, tests, runtime):
    import json
    root = str(tmp_path_factory.mktemp("fuzz"))
    doc = {"project": {"name": "fuzz"}, "runtime": runtime, "sources": sources,
           "models": models, "tests": tests}
    with open(os.path.join(root, "stream_project.yml"), "w") as f:
        f.write(json.dumps(doc))  # JSON is YAML
    try:
        p = streamt.load_project(root, environ={})
    except streamt.ProjectError as e:
        assert e.diagnostics or e.location or e.message
        return
    for d in streamt.validate_project(p):
        assert d.code in streamt.DIAGNOSTIC_CODES
    streamt.lineage_graph(p)


_REPORT = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import streamt
out = {}
base = sys.argv[2]
for kind in ("broken", "valid"):
    for name in sorted(os.listdir(os.path.join(base, kind))):
        d = os.path.join(base, kind, name)
        env = "dev" if os.path.isdir(os.path.join(d, "environments")) else None
        try:
            diags = streamt.validate_project(streamt.load_project(d, env=env, environ={}))
        except streamt.ProjectError as e:
            diags = e.diagnostics
        out[kind + "/" + name] = [d.to_dict() for d in diags]
sys.stdout.write(streamt.canonical_json(out))
"""


def test_old_and_new_pythons_report_identically():
    import glob
    import subprocess
    import sys
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    pythons = [sorted(glob.glob(os.path.join(root, "versions", v + ".*", "bin", "python")))[-1:]
               for v in ("3.6", "3.13")]
    pythons = [p[0] for p in pythons if p]
    if not pythons:
        pytest.skip("no pyenv interpreters 3.6/3.13 on this machine")
    outs = set()
    for py in [sys.executable] + pythons:
        p = subprocess.Popen([py, "-c", _REPORT, ROOT, PROJECTS], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        out, err = p.communicate()
        assert p.returncode == 0, err.decode()
        outs.add(out)
    assert len(outs) == 1
    assert b"ACCESS_DENIED" in outs.pop()


def test_docs_list_every_code_with_its_level():
    with open(os.path.join(ROOT, "docs", "validation.md")) as f:
        text = f.read()
    for code, (level, _meaning) in streamt.DIAGNOSTIC_CODES.items():
        assert "| `%s` | %s |" % (code, level) in text, code


_ML = """project:
  name: ml
runtime:
  kafka:
    bootstrap_servers: localhost:9092
  flink:
    default: cc
    clusters:
      cc:
        type: confluent
sources:
  - name: txns
    topic: txns
models:
  - name: scored
    sql: %s
    ml_outputs:
      FraudModel:
        columns:
          - name: score
            type: DOUBLE
"""


@pytest.mark.parametrize("call,warned", [
    # Confluent: the model is the first argument, a column the second
    ("ML_PREDICT('FraudModel', amount)", None),
    ("ML_PREDICT('OtherModel', amount)", "OtherModel"),
    # Flink: ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(...))
    ("ML_PREDICT(TABLE {{ source('txns') }}, MODEL FraudModel, DESCRIPTOR(amount))", None),
    ("ML_PREDICT(TABLE {{ source('txns') }}, MODEL `Other`, DESCRIPTOR(amount))", "Other"),
    # the form the fixture project uses: TABLE t, then the model
    ("ML_PREDICT(TABLE {{ source('txns') }}, 'FraudModel')", None),
])
def test_ml_predict_names_the_model_argument(tmp_path, call, warned):
    # (issue 18) the second argument was taken as the model: a column was named in the
    # warning, and a declared ml_outputs was warned about
    sql = "SELECT * FROM {{ source('txns') }}, LATERAL TABLE(%s)" % call
    if call.startswith("ML_PREDICT(TABLE"):
        sql = "SELECT * FROM %s" % call
    (tmp_path / "stream_project.yml").write_text(_ML % ('"%s"' % sql))
    diags = [d for d in diagnose(str(tmp_path)) if d.code == "ML_PREDICT_OPAQUE_OUTPUT"]
    if warned is None:
        assert diags == [], [d.render() for d in diags]
    else:
        assert len(diags) == 1 and "with '%s'" % warned in diags[0].message


def test_a_virtual_topic_over_two_relations_is_refused_with_a_gateway(tmp_path):
    # (issue 18) with a Gateway, an explicit virtual topic over a comma join compiled to a
    # VirtualSqlTopicPlugin statement over two topics, which a Gateway cannot run
    root = tmp_path / "p"
    shutil.copytree(os.path.join(PROJECTS, "valid", "gateway"), str(root))
    path = root / "stream_project.yml"
    text = path.read_text()
    old = "    sql: SELECT id, country FROM {{ source(\"customers\") }} WHERE country = 'FR'\n"
    assert old in text
    path.write_text(text.replace(old, "    materialized: virtual_topic\n    sql: SELECT a.id FROM "
                                      "{{ source(\"customers\") }} a, {{ source(\"customers\") }} b"
                                      " WHERE a.id = b.id\n"))
    codes = [d.code for d in diagnose(str(root)) if d.is_error]
    assert codes == ["VIRTUAL_TOPIC_NEEDS_FLINK"], codes


@pytest.mark.parametrize("name", ["sql", "access", "ml"])
def test_validation_reads_no_file_again(name, tmp_path):
    """Validation works on what the loader read: with the project's files gone after the
    load, the diagnostics (SQL errors placed on their lines inside `sql: |` blocks
    included) are exactly those of a project whose files are still there."""
    src = os.path.join(HERE, "projects", "broken", name)
    copy = str(tmp_path / name)
    shutil.copytree(src, copy)
    want = [(d.code, str(d.location)) for d in streamt.validate_project(
        streamt.load_project(src, environ={}))]
    project = streamt.load_project(copy, environ={})
    shutil.rmtree(copy)
    got = [(d.code, str(d.location)) for d in streamt.validate_project(project)]
    assert got == want
    assert any(code.startswith("SQL_") or code == "ACCESS_DENIED" or "ML" in code
               for code, loc in got)
