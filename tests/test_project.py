"""Loading a project: discovery, environments, .env files, ${VAR}s, schema warnings."""
import os
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streamt

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHOP = os.path.join(ROOT, "examples", "shop")

RUNTIME = """
runtime:
  kafka:
    bootstrap_servers: localhost:9092
"""


def write(root, files):
    for rel, text in files.items():
        path = os.path.join(str(root), rel)
        d = os.path.dirname(path)
        if not os.path.isdir(d):
            os.makedirs(d)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text).lstrip("\n"))
    return str(root)


def model(name):
    return "models:\n  - name: %s\n    sql: SELECT * FROM t\n" % name


# -- discovery ------------------------------------------------------------------

def test_split_files_are_read_recursively_in_sorted_path_order(tmp_path):
    root = write(tmp_path, {
        "stream_project.yml": "project: {name: p}\n" + RUNTIME + model("from_project_file"),
        "models/b.yml": model("b"),
        "models/a.yaml": model("a_yaml"),
        "models/a/z.yml": model("a_dir_z"),
        "models/staging/deep/x.yml": model("staging_deep_x"),
        "models/.hidden.yml": model("hidden"),
        "models/notes.txt": "not yaml",
    })
    p = streamt.load_project(root, environ={})
    assert [m["name"] for m in p.models] == [
        "from_project_file", "a_yaml", "a_dir_z", "b", "staging_deep_x"]
    assert p.files == ["models/a.yaml", "models/a/z.yml", "models/b.yml",
                       "models/staging/deep/x.yml", "stream_project.yml"]


def test_every_element_keeps_its_file_and_line(tmp_path):
    root = write(tmp_path, {
        "stream_project.yml": "project: {name: p}\n" + RUNTIME,
        "models/m.yml": "# a comment\nmodels:\n  - name: first\n    sql: SELECT 1 FROM t\n"
                        "  - name: second\n    sql: SELECT 2 FROM t\n",
    })
    p = streamt.load_project(root, environ={})
    assert str(p.models[1].key_loc("name")).startswith("models/m.yml:5")
    assert str(p.models[0].key_loc("sql")).startswith("models/m.yml:4")


def test_missing_project_file_says_where_and_what_to_do(tmp_path):
    with pytest.raises(streamt.ProjectError) as e:
        streamt.load_project(str(tmp_path), environ={})
    assert "No stream_project.yml found in %s" % tmp_path in e.value.message
    assert "-p" in e.value.hint


def test_stream_project_yaml_is_accepted(tmp_path):
    root = write(tmp_path, {"stream_project.yaml": "project: {name: p}\n" + RUNTIME})
    assert streamt.load_project(root, environ={}).name == "p"


def test_empty_split_file_is_fine(tmp_path):
    root = write(tmp_path, {"stream_project.yml": "project: {name: p}\n" + RUNTIME,
                            "sources/empty.yml": ""})
    assert streamt.load_project(root, environ={}).sources == []


# -- unknown keys, legacy spellings, wrong types ----------------------------------

def test_unknown_key_is_a_warning_with_suggestion_and_line(tmp_path):
    root = write(tmp_path, {"stream_project.yml": "project: {name: p}\n" + RUNTIME + """
models:
  - name: m
    sql: SELECT COUNT(*) FROM t
    advanced:
      flink:
        checkpoint_interval: 1000
    descripton: typo
"""})
    p = streamt.load_project(root, environ={})
    warns = dict((d.message.split("'")[1], d) for d in p.diagnostics if d.code == "UNKNOWN_KEY")
    assert warns["checkpoint_interval"].location.line == 12
    assert "checkpoint_interval_ms" in warns["checkpoint_interval"].suggestion
    assert warns["descripton"].location.line == 13
    assert "'description'" in warns["descripton"].suggestion
    assert all(d.level == "warning" for d in p.diagnostics)


def test_strict_makes_load_warnings_errors(tmp_path):
    root = write(tmp_path, {"stream_project.yml": "project: {name: p}\ngovernance: {}\n" + RUNTIME})
    streamt.load_project(root, environ={})  # fine without strict
    with pytest.raises(streamt.ProjectError) as e:
        streamt.load_project(root, environ={}, strict=True)
    assert "governance" in e.value.message and e.value.location.line == 2


def test_legacy_topic_string_is_the_topic_name(tmp_path):
    root = write(tmp_path, {"stream_project.yml": "project: {name: p}\n" + RUNTIME +
                            "models:\n  - name: m\n    sql: SELECT * FROM t\n    topic: m.v1\n"})
    p = streamt.load_project(root, environ={})
    assert p.models[0]["advanced"] == {"topic": {"name": "m.v1"}}
    assert [d.code for d in p.diagnostics] == ["DEPRECATED_KEY"]


def test_legacy_spellings_become_advanced_with_deprecation_warning(tmp_path):
    root = write(tmp_path, {"stream_project.yml": "project: {name: p}\n" + RUNTIME + """
models:
  - name: m
    sql: SELECT COUNT(*) FROM t
    topic: {name: m.v1, partitions: 3}
    flink: {parallelism: 2}
  - name: s
    from: [{ref: m}]
    connector:
      type: FileStreamSink
      config: {file: /tmp/x}
sources:
  - name: src
    topic: t
    columns: [{name: ts, type: TIMESTAMP(3)}]
    advanced:
      event_time: {column: ts}
"""})
    p = streamt.load_project(root, environ={})
    m, s = p.models
    assert m["advanced"] == {"topic": {"name": "m.v1", "partitions": 3}, "flink": {"parallelism": 2}}
    assert "topic" not in m and "flink" not in m
    assert s["sink"] == {"connector": "FileStreamSink", "config": {"file": "/tmp/x"}}
    assert p.sources[0]["event_time"] == {"column": "ts"}
    assert "advanced" not in p.sources[0]
    dep = sorted((d.location.line, d.message) for d in p.diagnostics if d.code == "DEPRECATED_KEY")
    assert [line for line, _m in dep] == [10, 11, 14, 22]
    assert "advanced.topic" in dep[0][1]
    # the moved value keeps pointing at where it was written
    assert m["advanced"].key_loc("topic").line == 10


@pytest.mark.parametrize("snippet,line,words", [
    ("  - name: s\n    from: orders_clean\n    sink: {connector: x}\n", 8, ["from", "list", "- ref: orders_clean"]),
    ("  - name: m\n    sql: SELECT 1 FROM t\n    advanced:\n      topic:\n        partitions: three\n",
     11, ["partitions", "integer", "'three'"]),
    ("  - name: m\n    tags: finance\n", 8, ["tags", "list"]),
    ("  - name: 12\n", 7, ["name", "string"]),
    ("  - name: m\n    sql: SELECT 1 FROM t\n    advanced:\n      topic:\n        config:\n"
     "          retention.ms:\n", 12, ["retention.ms", "null", "write a value"]),
])
def test_wrong_types_are_located_errors(tmp_path, snippet, line, words):
    root = write(tmp_path, {"stream_project.yml": "project: {name: p}\n" + RUNTIME + "models:\n" + snippet})
    with pytest.raises(streamt.ProjectError) as e:
        streamt.load_project(root, environ={})
    d = [x for x in e.value.diagnostics if x.code == "INVALID_TYPE"][0]
    assert (d.location.file, d.location.line) == ("stream_project.yml", line)
    text = d.message + " " + (d.suggestion or "")
    for w in words:
        assert w in text


def test_all_type_errors_are_reported_at_once(tmp_path):
    root = write(tmp_path, {"stream_project.yml": "project: {name: p}\n" + RUNTIME + """
models:
  - name: a
    from: x
  - name: b
    from: y
"""})
    with pytest.raises(streamt.ProjectError) as e:
        streamt.load_project(root, environ={})
    assert len([d for d in e.value.diagnostics if d.code == "INVALID_TYPE"]) == 2
    assert e.value.exit_code == streamt.EXIT_INVALID


def test_yaml_error_names_file_and_line(tmp_path):
    root = write(tmp_path, {"stream_project.yml": "project: {name: p}\n" + RUNTIME,
                            "sources/s.yml": "sources:\n  - name: [\n"})
    with pytest.raises(streamt.ProjectError) as e:
        streamt.load_project(root, environ={})
    assert e.value.location.file == "sources/s.yml"


# -- environments ---------------------------------------------------------------

def multi(tmp_path, extra=None):
    files = {
        "stream_project.yml": "project: {name: p}\n",
        "environments/dev.yml": "environment: {name: dev, description: Dev}\n" + RUNTIME,
        "environments/prod.yml": "environment: {name: prod, protected: true}\n" + RUNTIME,
        "environments/README.md": "not an environment",
    }
    files.update(extra or {})
    return write(tmp_path, files)


def test_single_env_project_is_default(tmp_path):
    root = write(tmp_path, {"stream_project.yml": "project: {name: p}\n" + RUNTIME})
    p = streamt.load_project(root, environ={})
    assert (p.env, p.multi_env, p.environments) == ("default", False, [])
    assert p.environment == {"name": "default", "description": None, "protected": False,
                             "safety": {"confirm_apply": False, "allow_destructive": True,
                                        "require_signature": False}}
    assert p.runtime == {"kafka": {"bootstrap_servers": "localhost:9092"}}


def test_single_env_with_env_flag_is_a_usage_error(tmp_path):
    root = write(tmp_path, {"stream_project.yml": "project: {name: p}\n" + RUNTIME})
    with pytest.raises(streamt.UsageError) as e:
        streamt.load_project(root, env="dev", environ={})
    assert "No environments configured" in e.value.message


def test_single_env_ignores_streamt_env_with_a_warning(tmp_path):
    root = write(tmp_path, {"stream_project.yml": "project: {name: p}\n" + RUNTIME})
    p = streamt.load_project(root, environ={"STREAMT_ENV": "prod"})
    assert [d.code for d in p.diagnostics] == ["STREAMT_ENV_IGNORED"]
    assert "STREAMT_ENV='prod' ignored" in p.diagnostics[0].message


def test_multi_env_selection(tmp_path):
    root = multi(tmp_path)
    assert streamt.list_environments(root) == ["dev", "prod"]
    with pytest.raises(streamt.UsageError) as e:
        streamt.load_project(root, environ={})
    assert "Available: dev, prod" in e.value.message
    assert streamt.load_project(root, environ={"STREAMT_ENV": "prod"}).env == "prod"
    assert streamt.load_project(root, env="dev", environ={"STREAMT_ENV": "prod"}).env == "dev"
    with pytest.raises(streamt.UsageError) as e:
        streamt.load_project(root, env="staging", environ={})
    assert "Environment 'staging' not found. Available: dev, prod" in e.value.message
    for bad in ("../x", "dev_1", "-dev", "dev.x", ""):
        with pytest.raises(streamt.UsageError) as e:
            streamt.load_project(root, env=bad or None, environ={"STREAMT_ENV": bad} if not bad else {})
        if bad:
            assert "Invalid environment name" in e.value.message


def test_protected_env_defaults(tmp_path):
    root = multi(tmp_path)
    prod = streamt.load_project(root, env="prod", environ={})
    assert prod.environment["protected"] is True
    assert prod.environment["safety"] == {"confirm_apply": True, "allow_destructive": True,
                                          "require_signature": False}
    dev = streamt.load_project(root, env="dev", environ={})
    assert dev.environment["description"] == "Dev"
    assert dev.environment["safety"]["confirm_apply"] is False
    assert dev.env_file == "environments/dev.yml"


def test_project_runtime_is_ignored_in_multi_env_with_warning(tmp_path):
    root = multi(tmp_path, {"stream_project.yml": "project: {name: p}\nruntime:\n  kafka:\n"
                                                  "    bootstrap_servers: other:1\n"})
    p = streamt.load_project(root, env="dev", environ={})
    assert p.runtime["kafka"]["bootstrap_servers"] == "localhost:9092"
    assert [(d.code, d.location.line) for d in p.diagnostics] == [("RUNTIME_IGNORED", 2)]


def test_empty_environments_directory(tmp_path):
    root = write(tmp_path, {"stream_project.yml": "project: {name: p}\n"})
    os.makedirs(os.path.join(root, "environments"))
    with pytest.raises(streamt.ProjectError) as e:
        streamt.load_project(root, env="dev", environ={})
    assert "No environment files found" in e.value.message
    assert "environments/dev.yml" in e.value.hint


# -- .env files and variables ---------------------------------------------------

def test_dotenv_precedence_real_env_over_env_file_over_dotenv(tmp_path):
    root = multi(tmp_path, {
        ".env": "A=from_env\nB=from_env\nC=from_env\n",
        ".env.dev": "B=from_env_dev\nC=from_env_dev\n",
        "environments/dev.yml": "environment: {name: dev}\nruntime:\n  kafka:\n"
                                "    bootstrap_servers: ${A}-${B}-${C}\n",
    })
    p = streamt.load_project(root, env="dev", environ={"C": "real", "UNRELATED": "x"})
    assert p.variables == {"A": "from_env", "B": "from_env_dev", "C": "real"}
    assert streamt.Variables.substitute(p.runtime, p.variables) == {
        "kafka": {"bootstrap_servers": "from_env-from_env_dev-real"}}
    assert ".env" in p.files and ".env.dev" in p.files


def test_no_leakage_between_environments_and_os_environ_untouched(tmp_path):
    root = multi(tmp_path, {".env.dev": "DEV_SECRET=abc\n", ".env.prod": "PROD_ONLY=1\n"})
    before = dict(os.environ)
    dev = streamt.load_project(root, env="dev")
    prod = streamt.load_project(root, env="prod")
    assert dev.variables.get("DEV_SECRET") == "abc"
    assert "DEV_SECRET" not in prod.variables and prod.variables.get("PROD_ONLY") == "1"
    assert dict(os.environ) == before


def test_single_env_reads_only_dotenv(tmp_path):
    root = write(tmp_path, {"stream_project.yml": "project: {name: p}\n" + RUNTIME,
                            ".env": "A=1\n", ".env.default": "B=2\n"})
    assert streamt.load_project(root, environ={}).variables == {"A": "1"}


def test_malformed_dotenv_line_is_located(tmp_path):
    root = write(tmp_path, {"stream_project.yml": "project: {name: p}\n" + RUNTIME,
                            ".env": "A=1\n\nthis is not an assignment\n"})
    with pytest.raises(streamt.ProjectError) as e:
        streamt.load_project(root, environ={})
    assert (e.value.location.file, e.value.location.line) == (".env", 3)


DOTENV = r'''
# comment
export EXPORTED=yes
PLAIN = value with spaces   # trailing comment
EMPTY=
HASH=a#b
SINGLE='no ${PLAIN} here \n'
DOUBLE="tab\there \"quoted\" ${PLAIN} \$PLAIN"
MULTI="line1
line2"
REF=${EXPORTED}-${MISSING}-${MISSING:-dflt}
FROMENV=${HOME_DIR}
'''


def test_dotenv_syntax():
    values = streamt.parse_dotenv(DOTENV, ".env", {"HOME_DIR": "/home/me"}.get)
    assert values == {
        "EXPORTED": "yes", "PLAIN": "value with spaces", "EMPTY": "", "HASH": "a#b",
        "SINGLE": "no ${PLAIN} here \\n",
        "DOUBLE": 'tab\there "quoted" value with spaces $PLAIN',
        "MULTI": "line1\nline2", "REF": "yes--dflt", "FROMENV": "/home/me"}


@pytest.mark.parametrize("text,line", [('A="open\n', 1), ("A=1\nB='x' y\n", 2), ("=1\n", 1),
                                       ("A=1\n1A=2\n", 2)])
def test_dotenv_errors(text, line):
    with pytest.raises(streamt.ProjectError) as e:
        streamt.parse_dotenv(text, ".env.dev")
    assert e.value.location == streamt.Location(".env.dev", line)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("AB_=#'\"\\$ {}:-x\n\t export")), max_size=60))
def test_dotenv_parser_fuzz_gives_values_or_project_error(text):
    try:
        values = streamt.parse_dotenv(text)
    except streamt.ProjectError as e:
        assert e.location is not None and e.location.line >= 1
    else:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())


# -- ${VAR} ---------------------------------------------------------------------

def test_find_vars_and_substitute():
    obj = {"a": "${X}:${Y}", "b": ["$${X} is literal", "cost $5", {"c": "${Z}"}], "n": 3}
    assert streamt.Variables.names(obj) == ["X", "Y", "Z"]
    assert streamt.Variables.substitute(obj, {"X": "1", "Y": "", "Z": "z"}) == {
        "a": "1:", "b": ["${X} is literal", "cost $5", {"c": "z"}], "n": 3}
    with pytest.raises(streamt.ProjectError) as e:
        streamt.Variables.substitute(obj, {"Y": "y"})
    assert "Environment variables not set: X, Z" in e.value.message


def test_vars_are_kept_symbolic_in_model_config():
    p = streamt.load_project(SHOP, env="dev", environ={})
    sink = p.model("revenue_archive")["sink"]
    assert sink["config"]["file"] == "${ARCHIVE_FILE}"
    assert p.runtime["kafka"]["bootstrap_servers"] == "${KAFKA_BOOTSTRAP}"
    assert p.variables["ARCHIVE_FILE"] == "/tmp/shop-revenue-archive.txt"


def test_mask_secrets_matches_key_names_exactly():
    masked = streamt.mask_secrets({"sasl_password": "hunter2", "api_key": "k",
                                   "keystore_type": "PKCS12", "password": "${PW}",
                                   "nested": {"secret": "s", "url": "http://x"}})
    assert masked == {"sasl_password": "****", "api_key": "****", "keystore_type": "PKCS12",
                      "password": "${PW}", "nested": {"secret": "****", "url": "http://x"}}


def test_read_environment_alone(tmp_path):
    root = multi(tmp_path)
    info = streamt.read_environment(root, "prod")
    assert info["protected"] is True and info["file"] == "environments/prod.yml"
    with pytest.raises(streamt.UsageError):
        streamt.read_environment(root, "nope")
