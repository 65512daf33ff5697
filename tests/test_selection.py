"""--select / --exclude / --target: one Selection used by plan, apply, build, deploy,
status and lineage.  The semantics on a graph with a diamond and tags:

    raw -> a -> b -> d -> e (sink), d -> dash (exposure), d tested by d_ok
              \\-> c -/
    other -> lone
"""
import os
import subprocess
import sys

import pytest

import streamt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROJECT = """\
project:
  name: dia
runtime:
  kafka:
    bootstrap_servers: ${KAFKA_BOOTSTRAP}
  flink:
    default: local
    clusters:
      local:
        rest_url: ${SVC_URL}
        sql_gateway_url: ${SVC_URL}
  connect:
    default: local
    clusters:
      local:
        rest_url: ${SVC_URL}
sources:
  - name: raw
    topic: dia.raw
    tags: [ingest]
    columns:
      - {name: id, type: STRING}
      - {name: v, type: INT}
  - name: other
    topic: dia.other
    columns:
      - {name: id, type: STRING}
models:
  - name: a
    tags: [core]
    materialized: flink
    advanced: {topic: {name: dia.a}}
    sql: SELECT id, v FROM {{ source("raw") }}
  - name: b
    tags: [core, x]
    materialized: flink
    advanced: {topic: {name: dia.b}}
    sql: SELECT id, v FROM {{ ref("a") }} WHERE v > 0
  - name: c
    tags: [y]
    materialized: flink
    advanced: {topic: {name: dia.c}}
    sql: SELECT id, v FROM {{ ref("a") }} WHERE v < 0
  - name: d
    materialized: flink
    advanced: {topic: {name: dia.d}}
    sql: |
      SELECT id, v FROM {{ ref("b") }}
      UNION ALL
      SELECT id, v FROM {{ ref("c") }}
  - name: e
    from: [{ref: d}]
    sink:
      connector: org.apache.kafka.connect.file.FileStreamSinkConnector
      config: {file: /tmp/x.txt}
  - name: lone
    materialized: flink
    advanced: {topic: {name: dia.lone}}
    sql: SELECT id FROM {{ source("other") }}
tests:
  - name: d_ok
    model: d
    type: continuous
    assertions:
      - not_null: {columns: [id]}
  - name: raw_sample
    model: raw
    type: sample
    assertions:
      - not_null: {columns: [id]}
  - name: d_schema
    model: d
    type: schema
  - name: lone_schema
    model: lone
    type: schema
exposures:
  - name: dash
    type: dashboard
    consumes: [{ref: d}]
"""


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("diamond")
    (d / "stream_project.yml").write_text(PROJECT)
    return str(d)


@pytest.fixture(scope="module")
def project(project_dir):
    return streamt.load_project(project_dir, environ={"KAFKA_BOOTSTRAP": "k:1",
                                                      "SVC_URL": "http://h:1"})


def selected(project, select=(), exclude=()):
    sel = streamt.Selection(select, exclude)
    keys = sel.nodes(streamt.lineage_graph(project), streamt.Selection.tags_of(project))
    return sorted(k.split(":", 1)[1] for k in keys)


ALL = ["a", "b", "c", "d", "dash", "e", "lone", "other", "raw"]


@pytest.mark.parametrize("select,exclude,want", [
    ([], [], ALL),                                     # no selector: everything
    (["d"], [], ["d"]),                                # a name: that node only
    (["+d"], [], ["a", "b", "c", "d", "raw"]),         # upstream through both sides of the diamond
    (["d+"], [], ["d", "dash", "e"]),                  # downstream: the sink and the exposure
    (["+d+"], [], ["a", "b", "c", "d", "dash", "e", "raw"]),
    (["b+"], [], ["b", "d", "dash", "e"]),             # one side of the diamond, not the other
    (["+b"], [], ["a", "b", "raw"]),
    (["tag:core"], [], ["a", "b"]),
    (["tag:core+"], [], ["a", "b", "c", "d", "dash", "e"]),
    (["+tag:y"], [], ["a", "c", "raw"]),
    (["b c"], [], ["b", "c"]),                         # several in one argument: a union
    (["b", "lone"], [], ["b", "lone"]),                # repeated: a union
    (["tag:core,b+"], [], ["b"]),                      # a comma intersects
    (["a+"], ["c"], ["a", "b", "d", "dash", "e"]),     # exclude after the union
    (["a+"], ["d+"], ["a", "b", "c"]),
    ([], ["tag:core"], ["c", "d", "dash", "e", "lone", "other", "raw"]),
    (["model:*"], [], ["a", "b", "c", "d", "e", "lone"]),   # a kind, a shell pattern
    (["source:raw+"], [], ["a", "b", "c", "d", "dash", "e", "raw"]),
    (["l*"], [], ["lone"]),
])
def test_selection_semantics(project, select, exclude, want):
    assert selected(project, select, exclude) == want


@pytest.mark.parametrize("select", [["nope"], ["tag:nope"], ["+bb"], ["kind:x"]])
def test_a_selector_that_matches_nothing_is_a_usage_error(project, select):
    with pytest.raises(streamt.UsageError) as e:
        selected(project, select)
    assert e.value.exit_code == streamt.EXIT_USAGE


def names(desired):
    return dict((k, sorted(streamt._resource_name(kind, it) for it in desired[k]))
                for k, kind in (("topics", "topic"), ("flink_jobs", "flink_job"),
                                ("connectors", "connector"), ("schemas", "schema")))


def test_resources_follow_their_node_and_tests_their_model(project):
    desired = streamt.compile_project(project)
    got = names(streamt.Selection(["d+"]).desired(desired, project))
    assert got == {"topics": ["_streamt_test_failures", "dia.d"],
                   "flink_jobs": ["d", "test_d_ok"], "connectors": ["e"], "schemas": []}
    got = names(streamt.Selection(["b"], targets=["connector:e"]).desired(desired, project))
    assert got == {"topics": ["dia.b"], "flink_jobs": ["b"], "connectors": ["e"], "schemas": []}
    got = names(streamt.Selection(targets=["topic:dia.c"]).desired(desired, project))
    assert got == {"topics": ["dia.c"], "flink_jobs": [], "connectors": [], "schemas": []}


def test_an_artifact_is_selected_through_the_topics_its_jobs_read(project):
    """Without the project (deploy, status of an artifact) the graph comes from the
    resources: the same answers for names, none for tags."""
    desired = streamt.compile_project(project)
    with_project = names(streamt.Selection(["+d"]).desired(desired, project))
    alone = names(streamt.Selection(["+d"]).desired(desired))
    assert alone == with_project
    assert alone["flink_jobs"] == ["a", "b", "c", "d", "test_d_ok"]
    with pytest.raises(streamt.UsageError):
        streamt.Selection(["tag:core"]).desired(desired)


def test_unknown_target_names_the_candidates(project):
    desired = streamt.compile_project(project)
    with pytest.raises(streamt.UsageError) as e:
        streamt.Selection(targets=["topic:dia.dd"]).desired(desired, project)
    assert "did you mean 'dia.d'" in e.value.render()
    with pytest.raises(streamt.UsageError):
        streamt.Selection(targets=["table:x"])


def cli(*args):
    env = dict(os.environ, KAFKA_BOOTSTRAP="k:1", SVC_URL="http://h:1")
    return subprocess.run([sys.executable, os.path.join(ROOT, "streamt.py")] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env)


def test_lineage_and_build_take_the_selection(project_dir, tmp_path):
    r = cli("lineage", "-p", project_dir, "--select", "+d", "--exclude", "c", "--format", "json")
    assert r.returncode == 0, r.stderr
    import json
    doc = json.loads(r.stdout)
    assert sorted(n["name"] for n in doc["nodes"]) == ["a", "b", "d", "raw"]
    out = str(tmp_path / "art")
    r = cli("build", "-p", project_dir, "-o", out, "-s", "lone")
    assert r.returncode == 0, r.stderr
    assert "1 topic, 0 schemas, 1 Flink job, 0 connectors" in r.stdout
    r = cli("build", "-p", project_dir, "-o", str(tmp_path / "x"), "-s", "lonely")
    assert r.returncode == streamt.EXIT_USAGE
    assert "did you mean 'lone'" in r.stderr


def names_of(tests):
    return sorted(t["name"] for t in tests)


@pytest.mark.parametrize("select,exclude,want", [
    ([], [], ["d_ok", "d_schema", "lone_schema", "raw_sample"]),
    (["d"], [], ["d_ok", "d_schema"]),                # the tests of the model
    (["+d"], [], ["d_ok", "d_schema", "raw_sample"]),  # and of what feeds it
    (["raw"], [], ["raw_sample"]),                    # a source's
    (["d+"], ["d"], []),                              # the sink and the exposure have none
    (["model:*"], ["lone"], ["d_ok", "d_schema"]),
])
def test_a_test_is_selected_with_its_model_or_source(project, select, exclude, want):
    desired = streamt.compile_project(project)
    sel = streamt.Selection(select, exclude)
    assert names_of(streamt.DataTests.specs(desired, sel, project)) == want
    if select != ["+d"]:  # an artifact's graph has no edge from a source to a model
        assert names_of(streamt.DataTests.specs(desired, sel)) == want
    # a selected artifact holds the tests of the selected nodes only
    if want and select and select != ["raw"]:  # (a source without a schema: no resource)
        assert names_of(sel.desired(desired, project)["tests"]) == want


def test_tests_are_selected_without_the_project_but_not_by_tag_or_target(project):
    desired = streamt.compile_project(project)
    with pytest.raises(streamt.UsageError):
        streamt.DataTests.specs(desired, streamt.Selection(["tag:core"]))
    with pytest.raises(streamt.UsageError) as e:
        streamt.DataTests.specs(desired, streamt.Selection(targets=["topic:dia.d"]), project)
    assert "--target selects resources, not tests" in e.value.message
    with pytest.raises(streamt.UsageError):
        streamt.DataTests.specs(desired, streamt.Selection(["dd"]), project)


def test_the_test_command_takes_the_selection_from_a_project_and_an_artifact(project_dir,
                                                                           tmp_path):
    import json
    art = str(tmp_path / "art")
    r = cli("build", "-p", project_dir, "-o", art)
    assert r.returncode == 0, r.stderr
    for source in (["-p", project_dir], [art]):
        for args, want in ((["--select", "+d"], ["d_schema"]), (["-s", "lone"], ["lone_schema"]),
                           (["-m", "lone"], ["lone_schema"]),
                           (["--exclude", "lone"], ["d_schema"]), ([], ["d_schema",
                                                                       "lone_schema"])):
            r = cli("test", *(source + args + ["--type", "schema", "--format", "json"]))
            assert r.returncode == 0, r.stderr
            got = json.loads(r.stdout)
            assert names_of(got["tests"]) == want, (source, args)
            # no schema registry in this environment: said per test, nothing passes
            assert set(t["status"] for t in got["tests"]) == {"not_run"}
        r = cli("test", *(source + ["--select", "nope"]))
        assert r.returncode == 2 and "selector 'nope' matches nothing" in r.stderr
        r = cli("test", *(source + ["--target", "topic:dia.d"]))
        assert r.returncode == 2
