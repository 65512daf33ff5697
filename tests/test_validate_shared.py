"""Validation and compile with their quick paths (``FastPaths.validate``,
``FastPaths.compile``) against the general code they shortcut: the same diagnostics (codes,
messages, file:line:col, hints, order) and the same desired state, byte for byte, on
every fixture project, a generated bench project and hostile variants of it.

Also: two different projects validated and compiled in one process never see each
other's facts (nothing of one project is kept for the next)."""
import os
import random
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streamt
from tests._projects import fixture_projects

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "bench"))
import gen_project  # noqa: E402


def diag_view(diags):
    return [(d.level, d.code, d.message, str(d.location), repr(d.location), d.suggestion)
            for d in diags]


def run_validate(project, fast):
    with streamt.FastPaths.off(*(() if fast else ("validate",))):
        return diag_view(streamt.validate_project(project))


def run_compile(project, fast):
    with streamt.FastPaths.off(*(() if fast else ("compile",))):
        warnings = []
        try:
            state = streamt.compile_project(project, warnings=warnings)
        except streamt.StreamtError as e:
            return ("error", type(e).__name__, str(e), e.hint, str(e.location))
        return streamt.canonical_json(state), warnings


def both_ways(project):
    """validate and compile, quick then general, each on a freshly loaded copy when
    ``project`` is a directory (so that nothing a first run kept can help the second)."""
    load = (lambda: streamt.load_project(project)) if isinstance(project, str) else (
        lambda: project)
    p = load()
    fast = run_validate(p, True), run_compile(p, True)
    p = load()
    slow = run_validate(p, False), run_compile(p, False)
    return fast, slow


def test_every_fixture_project():
    n = 0
    for d, env, p in fixture_projects():
        fast = run_validate(p, True), run_compile(p, True)
        slow = run_validate(p, False), run_compile(p, False)
        assert fast == slow, (d, env)
        n += 1
    assert n > 10


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("bench") / "p")
    gen_project.generate(300, d)
    return d


def test_generated_bench_project(bench_dir, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "k:9092")
    monkeypatch.setenv("DB_PASSWORD", "bench")
    fast, slow = both_ways(bench_dir)
    assert fast == slow
    assert fast[1][0].startswith("{")  # it compiled


def _mutate(project, rnd, seed):
    """Break or bend a loaded project in ways validation and compile report on."""
    models = project.models
    names = [m.get("name") for m in models]
    for m in rnd.sample(models, min(len(models), 25)):
        k = rnd.randrange(12)
        if k == 0 and m.get("sql"):  # a reference to a later model (cycles)
            m["sql"] = m["sql"].replace("FROM", "FROM {{ ref(\"%s\") }} x JOIN" % rnd.choice(names), 1)
        elif k == 1:
            m["advanced"] = {"topic": {"name": "bench.%s" % rnd.choice(names), "partitions": 0}}
        elif k == 2:
            m["materialized"] = rnd.choice(["topic", "virtual_topic", "flink", "sink", "bogus"])
        elif k == 3:
            m["sql"] = "SELECT 1; SELECT 2 FROM {{ source(\"nope\") }}"
        elif k == 4:
            m["security"] = {"policies": [{"mask": {"column": "account", "method": "hash"}},
                                          {"allow": ["x"]}],
                             "classification": {"account": "sensitive", "x": "bogus"}}
        elif k == 5:
            m["advanced"] = {"flink": {"state_ttl_ms": rnd.choice([0, 10, 5000]),
                                       "parallelism": rnd.choice([0, 2]),
                                       "startup_mode": rnd.choice(["latest", "x"]),
                                       "on_upgrade": rnd.choice(["stateless", "nope"])},
                             "flink_cluster": rnd.choice(["main", "other"])}
        elif k == 6:
            m["from"] = [{"ref": rnd.choice(names)}, {"source": "src_0"}, "junk"]
        elif k == 7:
            m["sql"] = (m.get("sql") or "SELECT 1") + " -- ${NOT_SET} {{ config(x) }}"
        elif k == 8:
            m["access"] = rnd.choice(["private", "public", "weird"])
            m["group"] = rnd.choice(["a", "b"])
        elif k == 9:
            m["name"] = rnd.choice(names)  # a duplicate
        elif k == 10:
            m["sql"] = "SELECT * FROM {{ ref(\"%s\") }}" % rnd.choice(names)
        else:
            m["sql"] = "SELECT 'unterminated FROM x"
    for s in rnd.sample(project.sources, min(len(project.sources), 5)):
        for c in s.get("columns") or []:
            c["classification"] = rnd.choice(["sensitive", "public", None])
            c["name"] = c["name"] + rnd.choice(["", "", "\x07", "\x1f", " ", "\u00e9"])
    rules = {"topics": {"min_partitions": 7, "naming_pattern": "bench\\.m_[0-9]+",
                        "forbidden_prefixes": ["bench.m_1"],
                        "required_config": {"retention.ms": "1"}},
             "models": {"require_description": True, "require_tests": True,
                        "max_dependencies": 1, "min_tests": 1,
                        "allowed_materializations": ["flink", "topic"]},
             "sources": {"require_schema": True, "require_owner": True},
             "security": {"sensitive_columns_require_masking": True,
                          "allowed_classifications": ["public"]}}
    # each group of rules on its own, and all of them (the checks skip what no rule asks)
    groups = sorted(rules)
    pick = [groups[seed % len(groups)]] if seed < len(groups) else groups
    project.rules = dict((g, rules[g]) for g in pick)


@pytest.mark.parametrize("seed", range(6))
def test_mutated_bench_projects(bench_dir, seed, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "k:9092")
    views = []
    for fast in (True, False):
        p = streamt.load_project(bench_dir)
        _mutate(p, random.Random(seed), seed)
        views.append((run_validate(p, fast), run_compile(p, fast)))
    assert views[0] == views[1]
    assert any(d[0] == "error" for d in views[0][0])


def test_two_projects_in_one_process(tmp_path, monkeypatch):
    """A project validated and compiled after another is judged on its own: each gives
    exactly what it gives alone in a fresh process (same names, other SQL/topics)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "k:9092")
    monkeypatch.setenv("DB_PASSWORD", "x")
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    gen_project.generate(40, a)
    gen_project.generate(40, b)
    # b: the same model names, another shape (a stateful SQL, other topics, no defaults)
    for f in os.listdir(os.path.join(b, "models")):
        path = os.path.join(b, "models", f)
        with open(path) as fh:
            text = fh.read()
        text = text.replace("WHERE amount >", "GROUP BY id HAVING SUM(amount) >").replace(
            "name: bench.", "name: other.")
        with open(path, "w") as fh:
            fh.write(text)
    alone = {}
    for d in (a, b):
        import subprocess
        code = ("import sys, streamt; sys.path.insert(0, %r); from tests.test_validate_shared "
                "import one; print(repr(one(%r)))" % (ROOT, d))
        alone[d] = subprocess.check_output([sys.executable, "-c", code], cwd=ROOT,
                                           env=dict(os.environ, PYTHONPATH=ROOT)).decode()
    for d in (a, b, a):
        assert repr(one(d)) + "\n" == alone[d], d


def one(d):
    p = streamt.load_project(d)
    return run_validate(p, True), run_compile(p, True)


# -- _cycles: skipping nodes that cannot be on a cycle -------------------------------

GRAPHS = st.integers(1, 12).flatmap(lambda n: st.dictionaries(
    st.integers(0, n - 1).map(lambda i: "n%02d" % i),
    st.lists(st.integers(0, n + 1).map(lambda i: "n%02d" % i), unique=True, max_size=4),
    max_size=n))


# an acyclic head ("a.." nodes, each pointing to later ones) before a dense tail ("z.."
# nodes, many cycles): the steps spent on the head decide how far the tail's search goes
HEAD_TAIL = st.tuples(st.integers(0, 8), st.integers(2, 6)).flatmap(lambda nm: st.tuples(
    st.lists(st.lists(st.integers(0, nm[0] + nm[1] - 1), max_size=6), min_size=nm[0],
             max_size=nm[0]),
    st.lists(st.lists(st.integers(0, nm[1] - 1), min_size=1, max_size=nm[1]),
             min_size=nm[1], max_size=nm[1])))


def _head_tail_graph(spec):
    head, tail = spec
    names = ["a%02d" % i for i in range(len(head))] + ["z%02d" % i for i in range(len(tail))]
    graph = {}
    for i, succ in enumerate(head):
        graph[names[i]] = sorted(set(names[j] for j in succ if j > i))
    for i, succ in enumerate(tail):
        graph["z%02d" % i] = sorted(set("z%02d" % j for j in succ))
    return graph


@settings(max_examples=400, deadline=None)
@given(st.one_of(GRAPHS, HEAD_TAIL.map(_head_tail_graph)), st.integers(1, 6),
       st.integers(1, 80))
def test_cycles_quick_skip(graph, limit, budget):
    graph = dict((k, sorted(v)) for k, v in graph.items())
    fast = streamt._Graph.cycles(graph, limit, budget)
    with streamt.FastPaths.off("validate"):
        slow = streamt._Graph.cycles(graph, limit, budget)
    assert fast == slow


def _compile_variants(project, rnd):
    """Valid changes that make one relation be read in several ways: other startup
    modes, another Flink cluster (other Kafka options), readers of updating (keyed)
    models, continuous tests on models and sources."""
    rt = project.runtime
    rt["kafka"]["sasl_mechanism"] = "PLAIN"
    rt["kafka"]["sasl_username"] = "u"
    rt["kafka"]["sasl_password"] = "${PW}"
    rt["flink"]["clusters"]["other"] = {"rest_url": "http://o:8081",
                                        "sql_gateway_url": "http://o:8083",
                                        "kafka_connector_shaded": False}
    rt["schema_registry"] = {"url": "http://sr:8081"}
    for s in rnd.sample(project.sources, 5):
        s["schema"] = {"format": "avro"}
    with_sql = [m for m in project.models if m.get("sql")]
    for m in rnd.sample(with_sql, min(len(with_sql), 60)):
        adv = m.setdefault("advanced", {})
        fl = adv.setdefault("flink", {})
        mode = rnd.choice(["earliest", "latest", "group-offsets", None])
        if mode:
            fl["startup_mode"] = mode
        if rnd.random() < 0.3:
            adv["flink_cluster"] = "other"
    keyed = [m for m in with_sql if "GROUP BY" in m["sql"]][:6]
    for i, m in enumerate(keyed):
        for j in range(3):
            project.models.append({
                "name": "reader_%d_%d" % (i, j), "materialized": "flink",
                "sql": "SELECT * FROM {{ ref(\"%s\") }} WHERE 1 = 1" % m["name"],
                "advanced": {"flink": {"startup_mode": rnd.choice(["latest", "earliest"])}}})
        project.tests.append({"name": "t_%d" % i, "model": m["name"], "type": "continuous",
                              "assertions": [{"not_null": {"columns": ["account"]}}]})
    for i, s in enumerate(project.sources[:3]):
        project.tests.append({"name": "ts_%d" % i, "model": s["name"], "type": "continuous",
                              "assertions": [{"not_null": {"columns": ["id"]}}]})


@pytest.mark.parametrize("seed", range(3))
def test_compile_variants(bench_dir, seed, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "k:9092")
    views = []
    for fast in (True, False):
        p = streamt.load_project(bench_dir)
        _compile_variants(p, random.Random(seed))
        views.append(run_compile(p, fast))
    assert views[0] == views[1]
    assert views[0][0].startswith("{"), views[0]  # it compiled
    assert "upsert-kafka" in views[0][0] and "latest-offset" in views[0][0]


def test_table_ddl_every_variant_of_one_relation(bench_dir, monkeypatch):
    """table_ddl's memo on a relation against the full statement, for every way of
    reading it (callers today vary the startup mode and group id only)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "k:9092")
    p = streamt.load_project(bench_dir)
    c = streamt.Compiler(p)
    rel = c.source_relation("src_1")
    variants = [(sink, startup, group, upsert, wm, fmt)
                for sink in (False, True) for startup in (None, "latest-offset")
                for group in (None, "g1", "g2") for upsert in (None, ["id"], ["id", "ts"])
                for wm in (True, False) for fmt in (None, "json", "avro-confluent")]
    random.Random(1).shuffle(variants)
    for sink, startup, group, upsert, wm, fmt in variants * 2:
        got = []
        for fast in (True, False):
            monkeypatch.setattr(streamt.FastPaths, "compile", fast)
            got.append(c.table_ddl("t", rel, sink=sink, startup=startup, group_id=group,
                                   upsert=upsert, watermark=wm, fmt=fmt))
        assert got[0] == got[1]
