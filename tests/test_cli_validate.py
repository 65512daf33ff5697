"""`streamt validate`, `envs`, `lineage` run as a user runs them: a subprocess."""
import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHOP = os.path.join(ROOT, "examples", "shop")
PROJECTS = os.path.join(HERE, "projects")


def run(*args, **kw):
    env = dict(os.environ)
    for k in ("STREAMT_ENV", "STREAMT_PROJECT_DIR", "KAFKA_PASSWORD", "SCHEMA_REGISTRY_PASSWORD",
              "ARCHIVE_FILE"):
        env.pop(k, None)
    env.update(kw.pop("env", {}))
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "streamt.py")] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, env=env, cwd=kw.pop("cwd", ROOT))
    out, err = p.communicate()
    p.stdout_text, p.stderr_text = out, err
    return p


def test_valid_project_exit_0_message_on_stdout():
    r = run("validate", "-p", SHOP, "-e", "dev")
    assert r.returncode == 0, r.stderr_text
    assert "Project 'shop' (dev) is valid" in r.stdout_text
    assert "2 sources, 4 models, 1 test, 1 exposure" in r.stdout_text
    assert r.stderr_text == ""


def test_invalid_project_exit_3_located_errors_on_stderr():
    r = run("validate", "-p", os.path.join(PROJECTS, "broken", "sql"))
    assert r.returncode == 3
    assert "stream_project.yml:" in r.stderr_text and "SOURCE_NOT_FOUND" in r.stderr_text
    assert "hint:" in r.stderr_text
    assert "is valid" not in r.stdout_text
    assert "Traceback" not in r.stderr_text


def test_env_check_and_no_env_check():
    r = run("validate", "-p", SHOP, "-e", "prod")
    assert r.returncode == 3
    for name in ("KAFKA_PASSWORD", "SCHEMA_REGISTRY_PASSWORD", "ARCHIVE_FILE"):
        assert name in r.stderr_text
    assert "--no-env-check" in r.stderr_text
    r = run("validate", "-p", SHOP, "-e", "prod", "--no-env-check")
    assert r.returncode == 0, r.stderr_text
    r = run("validate", "-p", SHOP, "-e", "prod",
            env={"KAFKA_PASSWORD": "a", "SCHEMA_REGISTRY_PASSWORD": "b", "ARCHIVE_FILE": "/x"})
    assert r.returncode == 0, r.stderr_text


def test_json_report_shape():
    r = run("validate", "-p", os.path.join(PROJECTS, "broken", "access"), "--format", "json")
    assert r.returncode == 3
    doc = json.loads(r.stdout_text)
    assert sorted(doc) == ["diagnostics", "environment", "project", "summary", "valid"]
    assert doc["valid"] is False and doc["project"] == "access" and doc["environment"] == "default"
    (d,) = [x for x in doc["diagnostics"] if x["code"] == "ACCESS_DENIED"]
    assert sorted(d) == ["code", "column", "file", "level", "line", "message", "suggestion"]
    with open(os.path.join(PROJECTS, "broken", "access", "stream_project.yml")) as f:
        marked = [i for i, line in enumerate(f, 1) if "expect: ACCESS_DENIED" in line]
    assert (d["level"], d["file"], d["line"]) == ("error", "stream_project.yml", marked[0])
    assert doc["summary"]["errors"] == 1 and doc["summary"]["models"] == 2


def test_json_of_a_project_that_does_not_load():
    r = run("validate", "-p", os.path.join(PROJECTS, "broken", "wrong_types"), "--format", "json")
    assert r.returncode == 3
    doc = json.loads(r.stdout_text)
    assert doc["valid"] is False
    with open(os.path.join(PROJECTS, "broken", "wrong_types", "stream_project.yml")) as f:
        marked = [i for i, line in enumerate(f, 1) if "expect: INVALID_TYPE" in line]
    assert [x["line"] for x in doc["diagnostics"] if x["code"] == "INVALID_TYPE"] == marked
    r = run("validate", "-p", os.path.join(PROJECTS, "nowhere"), "--format", "json")
    doc = json.loads(r.stdout_text)
    assert r.returncode == 3 and doc["diagnostics"][0]["code"] == "PROJECT_ERROR"


def test_all_envs():
    r = run("validate", "-p", SHOP, "--all-envs", "--no-env-check")
    assert r.returncode == 0, r.stderr_text
    assert "All 2 environments are valid" in r.stdout_text
    r = run("validate", "-p", SHOP, "--all-envs", "--format", "json")
    assert r.returncode == 3
    doc = json.loads(r.stdout_text)
    assert [(e["environment"], e["valid"]) for e in doc["environments"]] == [
        ("dev", True), ("prod", False)]
    r = run("validate", "-p", os.path.join(PROJECTS, "valid", "sinks"), "--all-envs")
    assert r.returncode == 2 and "multi-environment" in r.stderr_text


def test_all_envs_does_not_leak_dotenv_between_environments(tmp_path):
    root = str(tmp_path / "p")
    shutil.copytree(os.path.join(PROJECTS, "valid", "multi_env"), root)
    # dev's .env.dev sets the password prod needs: prod must still miss it
    with open(os.path.join(root, ".env.dev"), "a") as f:
        f.write("KAFKA_PASSWORD=from-dev\n")
    os.remove(os.path.join(root, ".env.prod"))
    r = run("validate", "-p", root, "--all-envs", "--format", "json")
    doc = json.loads(r.stdout_text)
    prod = [e for e in doc["environments"] if e["environment"] == "prod"][0]
    assert [d["code"] for d in prod["diagnostics"]] == ["ENV_VAR_NOT_SET"]
    assert "KAFKA_PASSWORD" in prod["diagnostics"][0]["message"]


def test_strict_turns_warnings_into_failure():
    proj = os.path.join(PROJECTS, "valid", "readme_legacy")
    r = run("validate", "-p", proj)
    assert r.returncode == 0 and "warning:" in r.stderr_text and "DEPRECATED_KEY" in r.stderr_text
    r = run("validate", "-p", proj, "--strict")
    assert r.returncode == 3


def test_validate_reports_what_build_refuses(tmp_path):
    """validate runs build's compile too: a project build refuses is not called valid."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "stream_project.yml").write_text(
        "project:\n  name: p\n"
        "runtime:\n  kafka:\n    bootstrap_servers: localhost:9092\n"
        "  flink:\n    default: local\n    clusters:\n      local:\n"
        "        rest_url: http://localhost:8082\n"
        "        sql_gateway_url: http://localhost:8084\n"
        "sources:\n  - name: raw\n    topic: raw.v1\n"
        "    columns:\n      - name: a\n        type: INT\n"
        "models:\n  - name: one\n    description: d\n    materialized: flink\n"
        "    sql: SELECT a FROM {{ source(\"raw\") }}\n"
        "tests:\n  - name: t\n    model: one\n    type: continuous\n    assertions:\n"
        "      - range:\n          column: a\n          min: abc\n")
    b = run("build", "-p", str(root), "-o", str(tmp_path / "out"))
    assert b.returncode == 3 and "range min must be a number" in b.stderr_text
    r = run("validate", "-p", str(root))
    assert r.returncode == 3, r.stdout_text + r.stderr_text
    assert "range min must be a number, not 'abc' [COMPILE_ERROR]" in r.stderr_text
    doc = json.loads(run("validate", "-p", str(root), "--format", "json").stdout_text)
    assert not doc["valid"] and [d["code"] for d in doc["diagnostics"]] == ["COMPILE_ERROR"]


def test_usage_errors_exit_2():
    assert run("validate", "-p", SHOP, "-e", "dev", "--all-envs").returncode == 2
    assert run("validate", "--format", "xml").returncode == 2
    r = run("validate", "-p", SHOP)
    assert r.returncode == 2 and "Available: dev, prod" in r.stderr_text
    r = run("validate", "-p", SHOP, "-e", "../etc")
    assert r.returncode == 2 and "Invalid environment name" in r.stderr_text


def test_project_dir_defaults_to_cwd_then_env_var():
    r = run("validate", "-e", "dev", cwd=SHOP)
    assert r.returncode == 0, r.stderr_text
    r = run("validate", "-e", "dev", env={"STREAMT_PROJECT_DIR": SHOP})
    assert r.returncode == 0, r.stderr_text


def test_no_ansi_when_piped():
    r = run("validate", "-p", os.path.join(PROJECTS, "broken", "sql"))
    assert "\033[" not in r.stderr_text + r.stdout_text


def _stderr_on_a_tty(extra_env):
    import pty
    master, slave = pty.openpty()
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env.update(extra_env)
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "streamt.py"), "validate", "-p",
                          os.path.join(PROJECTS, "broken", "sql")],
                         stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    p.communicate()
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return p.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_colour_on_a_terminal_unless_no_color():
    code, text = _stderr_on_a_tty({})
    assert code == 3 and "\033[31m" in text
    code, text = _stderr_on_a_tty({"NO_COLOR": "1"})
    assert code == 3 and "SOURCE_NOT_FOUND" in text and "\033[" not in text


@pytest.mark.parametrize("cmd", [["validate"], ["envs"], ["envs", "list"], ["envs", "show"],
                                 ["lineage"]])
def test_help_has_an_example(cmd):
    r = run(*(cmd + ["--help"]))
    assert r.returncode == 0
    assert "example" in r.stdout_text and "streamt " + cmd[0] in r.stdout_text


def test_envs_list_and_show():
    r = run("envs", "list", "-p", SHOP)
    assert r.returncode == 0
    lines = r.stdout_text.splitlines()
    assert lines[0].split()[0] == "dev" and lines[1].startswith("prod")
    assert lines[1].endswith("[protected]") and "[protected]" not in lines[0]
    r = run("envs", "show", "prod", "-p", SHOP)
    assert r.returncode == 0
    out = r.stdout_text
    assert "Protected: yes" in out
    assert "sasl_password: ${KAFKA_PASSWORD}" in out  # placeholders as written
    assert "confirm_apply: true" in out and "allow_destructive: false" in out
    r = run("envs", "list", "-p", os.path.join(PROJECTS, "valid", "sinks"))
    assert r.returncode == 0 and "single-environment" in r.stdout_text
    r = run("envs", "show", "staging", "-p", SHOP)
    assert r.returncode == 2 and "Available: dev, prod" in r.stderr_text


def test_envs_show_masks_literal_secrets(tmp_path):
    root = str(tmp_path / "p")
    shutil.copytree(os.path.join(PROJECTS, "valid", "multi_env"), root)
    with open(os.path.join(root, "environments", "dev.yml"), "a") as f:
        f.write("  schema_registry:\n    url: http://sr\n    password: hunter2\n")
    r = run("envs", "show", "dev", "-p", root)
    assert r.returncode == 0
    assert "hunter2" not in r.stdout_text and "password: ****" in r.stdout_text


def test_lineage_text_json_mermaid():
    r = run("lineage", "-p", SHOP, "-e", "dev")
    assert r.returncode == 0, r.stderr_text
    lines = r.stdout_text.splitlines()
    names = [l.strip().split(" ")[0] for l in lines]
    for up, down in [("orders", "orders_clean"), ("orders_clean", "revenue_per_minute"),
                     ("revenue_per_minute", "revenue_archive"),
                     ("customer_totals", "finance_dashboard")]:
        assert names.index(up) < names.index(down)
    r2 = run("lineage", "-p", SHOP, "-e", "dev")
    assert r2.stdout_text == r.stdout_text
    r = run("lineage", "-p", SHOP, "-e", "dev", "--format", "json")
    doc = json.loads(r.stdout_text)
    assert {"from": "orders", "to": "orders_clean"} in doc["edges"]
    node = [n for n in doc["nodes"] if n["name"] == "orders_clean"][0]
    assert node["upstream"] == ["orders"] and node["materialized"] == "flink"
    r = run("lineage", "-p", SHOP, "-e", "dev", "-m", "customer_totals", "--format", "mermaid")
    assert r.stdout_text.startswith("flowchart LR")
    assert "customers (source)" not in r.stdout_text and "revenue_archive" not in r.stdout_text
    assert "orders_clean" in r.stdout_text and "finance_dashboard" in r.stdout_text
    r = run("lineage", "-p", SHOP, "-e", "dev", "-m", "orders_cleen")
    assert r.returncode == 2 and "orders_clean" in r.stderr_text


def test_all_envs_reports_an_environment_file_with_a_bad_name(tmp_path):
    root = str(tmp_path / "p")
    shutil.copytree(os.path.join(PROJECTS, "valid", "multi_env"), root)
    shutil.copy(os.path.join(root, "environments", "dev.yml"),
                os.path.join(root, "environments", "my_env.yml"))
    r = run("validate", "-p", root, "--all-envs", "--no-env-check")
    assert r.returncode == 3
    assert "Invalid environment name 'my_env'" in r.stderr_text
    assert "rename environments/my_env.yml (e.g. to environments/my-env.yml)" in r.stderr_text
    assert "Project 'multi' (dev) is valid" in r.stdout_text
    assert "Project 'multi' (prod) is valid" in r.stdout_text


_STATELESS = """project:
  name: views
runtime:
  kafka:
    bootstrap_servers: localhost:9092
  flink:
    default: local
    clusters:
      local:
        rest_url: http://localhost:8081
%s
sources:
  - name: s
    topic: s
    columns:
      - name: a
        type: INT
models:
  - name: clean
    materialized: flink
    sql: SELECT a FROM {{ source("s") }} WHERE a > 1
  - name: stateless
    sql: SELECT a FROM {{ ref("clean") }} WHERE a > 2
"""

_GATEWAY = """  conduktor:
    gateway:
      admin_url: http://localhost:8888
      proxy_bootstrap: localhost:6969"""


@pytest.mark.parametrize("gateway,deployed", [(False, "flink"), (True, "virtual_topic")])
def test_lineage_and_the_docs_page_show_what_build_deploys(tmp_path, gateway, deployed):
    # (issue 18) without a Gateway a stateless model is compiled to a Flink job, but
    # lineage called it a virtual topic
    import streamt
    root = tmp_path / "p"
    root.mkdir()
    (root / "stream_project.yml").write_text(_STATELESS % (_GATEWAY if gateway else ""))
    project = streamt.load_project(str(root), environ={})
    state = streamt.compile_project(project)
    jobs = [j["model"] for j in state["flink_jobs"] if j.get("kind") == "model"]
    assert ("stateless" in jobs) == (deployed == "flink")
    assert bool(state.get("gateway")) == (deployed == "virtual_topic")
    r = run("lineage", "-p", str(root), "--format", "json")
    assert r.returncode == 0, r.stderr_text
    mats = dict((n["name"], n["materialized"]) for n in json.loads(r.stdout_text)["nodes"])
    assert mats["stateless"] == deployed and mats["clean"] == "flink"
    assert "stateless (model:%s)" % deployed in run("lineage", "-p", str(root)).stdout_text
    page = streamt.DocsPage.from_project(project)
    assert [n["materialized"] for n in page.doc["models"] if n["name"] == "stateless"] == [
        deployed]
    # the page of the built artifact says the same
    r = run("build", "-p", str(root), "-o", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr_text
    page = streamt.DocsPage.from_artifact(streamt.read_artifact(str(tmp_path / "a")))
    assert [n["materialized"] for n in page.doc["models"] if n["name"] == "stateless"] == [
        deployed]
