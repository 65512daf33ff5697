"""Switching from the original conduktor/streamt: the commands its users already type
(compile, apply --force, lineage --format ascii/--upstream/--downstream, status --filter,
validate --check-schemas) and the messages that tell them the one flag to add."""
import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

import streamt
from tests._projects import write_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOP = os.path.join(ROOT, "examples", "shop")


def cli(*args, **kw):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("STREAMT_"))
    env.update(kw.pop("env", None) or {})
    return subprocess.run([sys.executable, os.path.join(ROOT, "streamt.py")] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          universal_newlines=True, env=env, timeout=600, **kw)


def shop_copy(tmp_path):
    dst = str(tmp_path / "shop")
    shutil.copytree(SHOP, dst)
    return dst


# -- compile ----------------------------------------------------------------------

def test_compile_writes_generated_in_the_project_and_replaces_its_own_output(tmp_path):
    shop = shop_copy(tmp_path)
    r = cli("compile", "-p", shop, "-e", "dev")
    assert r.returncode == 0, r.stderr
    gen = os.path.join(shop, "generated")
    assert os.path.isfile(os.path.join(gen, "flink", "customer_totals.sql"))
    assert json.load(open(os.path.join(gen, "manifest.json")))["project"]["name"] == "shop"
    # a file of a previous compile (a model since removed) does not survive the next one
    stale = os.path.join(gen, "flink", "removed_model.sql")
    open(stale, "w").write("INSERT ...")
    r = cli("compile", "-p", shop, "-e", "dev")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(stale)
    assert os.path.isfile(os.path.join(gen, "flink", "orders_clean.sql"))


def test_compile_dry_run_lists_and_writes_nothing(tmp_path):
    out = str(tmp_path / "gen")
    r = cli("compile", "-p", SHOP, "-e", "dev", "-o", out, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "flink/orders_clean.sql" in r.stdout and "Dry run" in r.stdout
    assert not os.path.exists(out)


def test_compile_never_replaces_a_directory_it_did_not_write(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = cli("compile", "-p", SHOP, "-e", "dev", "-o", str(out))
    assert r.returncode == streamt.EXIT_FAILURE
    assert "not the output of a compile" in r.stderr
    assert (out / "notes.txt").read_text() == "keep me"


def test_compile_replaces_the_original_tools_generated_directory(tmp_path):
    out = tmp_path / "generated"
    (out / "flink").mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps({"version": "1", "project": "shop",
                                                   "compiled_at": "2025-01-01T00:00:00",
                                                   "artifacts": {"topics": []}}))
    (out / "flink" / "old_processor.sql").write_text("INSERT ...")
    r = cli("compile", "-p", SHOP, "-e", "dev", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert not (out / "flink" / "old_processor.sql").exists()
    assert (out / "flink" / "orders_clean.sql").exists()


def test_compile_help_says_how_it_relates_to_build():
    r = cli("compile", "--help")
    assert r.returncode == 0
    assert "build" in r.stdout and "--dry-run" in r.stdout and "generated/" in r.stdout


# -- apply: the stricter defaults, and the one flag to add --------------------------

def test_apply_without_a_tty_names_the_flag_a_switching_user_adds():
    r = cli("apply", "-p", SHOP, "-e", "dev")
    assert r.returncode == streamt.EXIT_USAGE
    assert "add --confirm" in r.stderr and "original streamt" in r.stderr
    assert "Traceback" not in r.stderr


def test_apply_force_does_not_replace_confirm_on_a_protected_environment():
    r = cli("apply", "-p", SHOP, "-e", "prod", "--force")
    assert r.returncode == streamt.EXIT_REFUSED
    assert "--confirm is required" in r.stderr


# -- lineage ----------------------------------------------------------------------

def test_lineage_ascii_is_the_text_format():
    a = cli("lineage", "-p", SHOP, "-e", "dev", "--format", "ascii")
    t = cli("lineage", "-p", SHOP, "-e", "dev")
    assert a.returncode == 0, a.stderr
    assert a.stdout == t.stdout and "orders_clean" in a.stdout


def lineage_names(*args):
    r = cli("lineage", "-p", SHOP, "-e", "dev", "--format", "json", *args)
    assert r.returncode == 0, r.stderr
    return sorted(n["name"] for n in json.loads(r.stdout)["nodes"])


def test_lineage_upstream_and_downstream_do_what_they_say():
    assert lineage_names("-m", "revenue_per_minute", "--upstream") == [
        "orders", "orders_clean", "revenue_per_minute"]
    assert lineage_names("-m", "revenue_per_minute", "--downstream") == [
        "finance_dashboard", "revenue_archive", "revenue_per_minute"]
    both = lineage_names("-m", "revenue_per_minute")
    assert both == lineage_names("-m", "revenue_per_minute", "--upstream", "--downstream")
    assert len(both) == 5
    r = cli("lineage", "-p", SHOP, "-e", "dev", "--upstream")
    assert r.returncode == streamt.EXIT_USAGE and "-m MODEL" in r.stderr


@pytest.mark.parametrize("command,options", [
    ("compile", ["--dry-run", "--output"]),
    ("apply", ["--force", "--select", "--exclude", "--target"]),
    ("plan", ["--select", "--exclude", "--target"]),
    ("deploy", ["--select", "--exclude", "--target"]),
    ("build", ["--select", "--exclude", "--target"]),
    ("status", ["--filter", "--select", "--exclude", "--target"]),
    ("lineage", ["--upstream", "--downstream", "ascii", "--select"]),
    ("validate", ["--check-schemas"]),
])
def test_each_command_help_shows_the_new_options(command, options):
    r = cli(command, "--help")
    assert r.returncode == 0
    for o in options:
        assert o in r.stdout, (command, o)


# -- against the real services ------------------------------------------------------

def write_project(root, files):
    return write_files(root, files)


def topics_project(tmp_path, name, config_a):
    return write_project(tmp_path / name, {
        "stream_project.yml": """\
project:
  name: %s
models:
  - name: a
    materialized: topic
    advanced: {topic: {name: %s.a, partitions: 1, config: %s}}
  - name: b
    materialized: topic
    advanced: {topic: {name: %s.b, partitions: 1}}
""" % (name, name, config_a, name),
        "environments/stage.yml": """\
environment:
  name: stage
runtime:
  kafka:
    bootstrap_servers: ${KAFKA_BOOTSTRAP}
safety:
  allow_destructive: false
"""})


@pytest.mark.services
def test_apply_force_opens_the_destructive_gate_and_says_so(kafka, tmp_path):
    name = "f" + uuid.uuid4().hex[:6]
    env = {"KAFKA_BOOTSTRAP": kafka.bootstrap}
    first = topics_project(tmp_path, name, "{retention.ms: 3600000}")
    r = cli("apply", "-p", first, "-e", "stage", "--confirm", env=env)
    assert r.returncode == 0, r.stderr
    # the project stops setting retention.ms: resetting it is destructive
    second = topics_project(tmp_path / "v2", name, "{}")
    r = cli("apply", "-p", second, "-e", "stage", "--confirm", "--prune-config", env=env)
    assert r.returncode == streamt.EXIT_REFUSED
    assert "does not allow destructive changes" in r.stderr
    r = cli("apply", "-p", second, "-e", "stage", "--confirm", "--prune-config", "--force",
            env=env)
    assert r.returncode == 0, r.stderr
    assert "--force (as in the original streamt)" in r.stderr
    admin = streamt.KafkaAdmin({"bootstrap_servers": kafka.bootstrap})
    try:
        cfg = admin.describe_configs([name + ".a"])[name + ".a"]
    finally:
        admin.close()
    assert cfg["retention.ms"]["source"] != "TOPIC"     # the reset went through


@pytest.mark.services
def test_status_filter_shows_only_matching_names(kafka, tmp_path):
    name = "s" + uuid.uuid4().hex[:6]
    env = {"KAFKA_BOOTSTRAP": kafka.bootstrap}
    proj = topics_project(tmp_path, name, "{}")
    r = cli("status", "-p", proj, "-e", "stage", env=env)
    assert r.returncode == 0, r.stderr
    assert "%s.a" % name in r.stdout and "%s.b" % name in r.stdout
    r = cli("status", "-p", proj, "-e", "stage", "--filter", "*.b", env=env)
    assert r.returncode == 0, r.stderr
    assert "%s.b" % name in r.stdout and "%s.a" % name not in r.stdout


def schema_project(root, sr, subject, fields):
    schema = json.dumps({"type": "record", "name": "Order", "fields": fields})
    return write_project(root, {"stream_project.yml": """\
project:
  name: sc
runtime:
  kafka:
    bootstrap_servers: 127.0.0.1:1
  schema_registry:
    url: %s
    username: %s
    password: ${SR_PASSWORD}
sources:
  - name: orders
    topic: sc.orders
    schema:
      subject: %s
      format: avro
      definition: '%s'
""" % (sr.url, sr.username, subject, schema)})


@pytest.mark.services
def test_validate_check_schemas_asks_the_registry_and_registers_nothing(schema_registry,
                                                                        tmp_path):
    subject = "sc-%s-value" % uuid.uuid4().hex[:6]
    http = streamt.HttpClient(schema_registry.url, username=schema_registry.username,
                              password=schema_registry.password)
    old = [{"name": "id", "type": "string"}]
    http.request("PUT", "/config/%s" % subject, body={"compatibility": "BACKWARD"},
                 content_type="application/json")
    http.request("POST", "/subjects/%s/versions" % subject,
                 body={"schema": json.dumps({"type": "record", "name": "Order", "fields": old})},
                 content_type="application/json")
    env = {"SR_PASSWORD": schema_registry.password}
    # a new required field without a default cannot read the old records (BACKWARD)
    bad = schema_project(tmp_path / "bad", schema_registry, subject,
                         old + [{"name": "amount", "type": "double"}])
    r = cli("validate", "-p", bad, env=env)
    assert r.returncode == 0, r.stderr             # without the flag: no registry contacted
    r = cli("validate", "-p", bad, "--check-schemas", env=env)
    assert r.returncode == streamt.EXIT_INVALID, r.stderr
    assert "SCHEMA_INCOMPATIBLE" in r.stderr and subject in r.stderr
    good = schema_project(tmp_path / "good", schema_registry, subject,
                          old + [{"name": "amount", "type": "double", "default": 0.0}])
    r = cli("validate", "-p", good, "--check-schemas", env=env)
    assert r.returncode == 0, r.stderr
    assert "compatible" in r.stderr
    assert http.get_json("/subjects/%s/versions" % subject) == [1]   # read-only


@pytest.mark.services
def test_a_selection_never_reports_or_deletes_what_it_left_out(connect, tmp_path):
    project = "p" + uuid.uuid4().hex[:6]
    env = {"CONNECT_URL": connect.url}

    def conn(n):
        return {"name": "%s_%s" % (project, n), "cluster": "w", "config": {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "file": os.path.join(connect.work_dir, "%s_%s.txt" % (project, n)),
            "topics": "t_" + n, "tasks.max": "1"}}

    def artifact(connectors, out):
        desired = {"topics": [], "schemas": [], "flink_jobs": [], "gateway": [],
                   "connectors": connectors,
                   "environment": {"name": "stage", "protected": False, "safety": {},
                                   "runtime": {"connect": {"default": "w", "clusters": {
                                       "w": {"rest_url": "${CONNECT_URL}"}}}}}}
        streamt.write_artifact(desired, str(out), project_name=project)
        return str(out)

    both = artifact([conn("a"), conn("b")], tmp_path / "both")
    r = cli("deploy", both, "--confirm", env=env)
    assert r.returncode == 0, r.stderr
    only_a = artifact([conn("a")], tmp_path / "only_a")
    r = cli("deploy", only_a, "--dry-run", env=env)          # control: b is an orphan
    assert "? connector %s_b (orphan)" % project in r.stdout
    r = cli("deploy", both, "--select", "%s_a" % project, "--confirm", "--allow-delete",
            "connectors", "--format", "json", env=env)
    assert r.returncode == 0, r.stderr
    changes = json.loads(r.stdout)["plan"]["changes"]
    assert [c["name"] for c in changes] == ["%s_a" % project]
    r = cli("deploy", both, "--exclude", "%s_a" % project, "--dry-run", env=env)
    assert r.returncode == 0, r.stderr
    assert "orphan" not in r.stdout.replace("0 orphan(s)", "")
    live = streamt.HttpClient(connect.url).get_json("/connectors")
    assert "%s_a" % project in live and "%s_b" % project in live
    for n in ("a", "b"):
        streamt.HttpClient(connect.url).request("DELETE", "/connectors/%s_%s" % (project, n),
                                                expect=(204, 404))
