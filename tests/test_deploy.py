"""deploy / plan / apply / status: refusals before any connection, drift, and the bundled
example end to end on the real services."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

import streamt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOP = os.path.join(ROOT, "examples", "shop")
VARS = ("KAFKA_BOOTSTRAP", "SCHEMA_REGISTRY_URL", "FLINK_REST_URL", "FLINK_SQL_GATEWAY_URL",
        "CONNECT_URL", "ARCHIVE_FILE", "SCHEMA_REGISTRY_USERNAME", "SCHEMA_REGISTRY_PASSWORD")


def cli(args, env=None, timeout=600):
    e = dict((k, v) for k, v in os.environ.items() if k not in VARS and not k.endswith("_proxy"))
    e.update(env or {})
    return subprocess.run([sys.executable, os.path.join(ROOT, "streamt.py")] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=e, timeout=timeout)


class Counter(object):
    """A listening socket that records every connection it accepts (and closes it)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def env(self, tmp_path):
        url = "http://127.0.0.1:%d" % self.port
        return {"KAFKA_BOOTSTRAP": "127.0.0.1:%d" % self.port, "SCHEMA_REGISTRY_URL": url,
                "SCHEMA_REGISTRY_USERNAME": "u", "SCHEMA_REGISTRY_PASSWORD": "p",
                "FLINK_REST_URL": url, "FLINK_SQL_GATEWAY_URL": url, "CONNECT_URL": url,
                "ARCHIVE_FILE": str(tmp_path / "archive.txt")}

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def counter():
    c = Counter()
    yield c
    c.close()


def shop_copy(tmp_path, name="shop"):
    """A private copy of examples/shop (tests edit their copy)."""
    dst = str(tmp_path / name)
    shutil.copytree(SHOP, dst)
    return dst


def build(project_dir, out, env="dev", environ=None, edit=None, state=None):
    p = streamt.load_project(project_dir, env=env, environ=environ or {})
    desired = streamt.compile_project(p)
    if edit:
        edit(desired)
    streamt.write_artifact(desired, str(out), project_name=p.name, project_version=p.version,
                           state=state, force=True)
    return desired


# -- refused before any connection -------------------------------------------------

def test_positive_control_the_counter_sees_a_deploy(tmp_path, counter):
    art = tmp_path / "art"
    build(shop_copy(tmp_path), art)
    r = cli(["deploy", str(art), "-e", "dev", "--dry-run"], env=counter.env(tmp_path), timeout=120)
    assert r.returncode == streamt.EXIT_FAILURE, r.stderr
    assert counter.accepted > 0
    assert "Traceback" not in r.stderr


def test_tampered_artifact_is_refused_before_any_connection(tmp_path, counter):
    art = tmp_path / "art"
    build(shop_copy(tmp_path), art)
    sql = art / "flink" / "orders_clean.sql"
    sql.write_text(sql.read_text().replace("amount > 0", "amount > -1"))
    r = cli(["deploy", str(art), "-e", "dev", "--confirm"], env=counter.env(tmp_path))
    assert r.returncode == streamt.EXIT_INTEGRITY, r.stderr
    assert "orders_clean.sql" in r.stderr
    assert counter.accepted == 0


def test_environment_mismatch_is_refused_before_any_connection(tmp_path, counter):
    art = tmp_path / "art"
    build(shop_copy(tmp_path), art)
    r = cli(["deploy", str(art), "-e", "prod", "--confirm"], env=counter.env(tmp_path))
    assert r.returncode == streamt.EXIT_REFUSED
    assert "'dev'" in r.stderr and "'prod'" in r.stderr
    assert counter.accepted == 0


def test_protected_environment_needs_confirm(tmp_path, counter):
    art = tmp_path / "art"

    def protect(desired):
        desired["environment"]["protected"] = True
    build(shop_copy(tmp_path), art, edit=protect)
    r = cli(["deploy", str(art), "-e", "dev"], env=counter.env(tmp_path))
    assert r.returncode == streamt.EXIT_REFUSED
    assert "--confirm" in r.stderr and "protected" in r.stderr
    assert counter.accepted == 0


def test_missing_variables_are_all_named_before_any_connection(tmp_path, counter):
    art = tmp_path / "art"
    build(shop_copy(tmp_path), art)
    env = counter.env(tmp_path)
    del env["CONNECT_URL"], env["FLINK_REST_URL"]
    r = cli(["deploy", str(art), "-e", "dev", "--confirm"], env=env)
    assert r.returncode == streamt.EXIT_FAILURE
    assert "CONNECT_URL" in r.stderr and "FLINK_REST_URL" in r.stderr
    assert counter.accepted == 0
    # --env-file provides them
    envfile = tmp_path / "vars.env"
    envfile.write_text("CONNECT_URL=http://127.0.0.1:%d\nexport FLINK_REST_URL='http://127.0.0.1:%d'\n"
                       % (counter.port, counter.port))
    r = cli(["deploy", str(art), "-e", "dev", "--dry-run", "--env-file", str(envfile)], env=env,
            timeout=120)
    assert "not set" not in r.stderr and counter.accepted > 0


def test_unsigned_artifact_is_refused_when_a_signature_is_required(tmp_path, counter):
    art = tmp_path / "art"
    build(shop_copy(tmp_path), art)
    r = cli(["deploy", str(art), "--confirm", "--require-signature"], env=counter.env(tmp_path))
    assert r.returncode == streamt.EXIT_INTEGRITY
    assert counter.accepted == 0


def test_neither_confirm_nor_dry_run_is_a_usage_error(tmp_path, counter):
    art = tmp_path / "art"
    build(shop_copy(tmp_path), art)
    r = cli(["deploy", str(art)], env=counter.env(tmp_path))
    assert r.returncode == streamt.EXIT_USAGE and counter.accepted == 0


# -- drift ---------------------------------------------------------------------------

@pytest.mark.services
def test_check_drift_refuses_after_an_out_of_band_topic_change(kafka, tmp_path):
    name = "drift.t%s" % uuid.uuid4().hex[:6]
    desired = {"topics": [{"name": name, "partitions": 1, "replication_factor": 1,
                           "config": {"retention.ms": "3600000"}, "model": "m"}],
               "schemas": [], "flink_jobs": [], "connectors": [], "gateway": [],
               "environment": {"name": "dev", "protected": False,
                               "safety": {"allow_destructive": True},
                               "runtime": {"kafka": {"bootstrap_servers": "${KB}"}}}}
    rt = {"kafka": {"bootstrap_servers": kafka.bootstrap}}
    pol = streamt.PlanPolicy("drift")
    streamt.apply_plan(streamt.plan_deploy(desired, rt, pol))
    state = streamt.observe_state(desired, rt, "drift")        # what build --with-state stores
    art = tmp_path / "art"
    streamt.write_artifact(desired, str(art), project_name="drift", state=state)
    env = {"KB": kafka.bootstrap}
    r = cli(["deploy", str(art), "--check-drift", "--dry-run", "--detailed-exitcode"], env=env)
    assert r.returncode == 0, r.stderr   # nothing moved, nothing to change
    r = cli(["status", str(art)], env=env)
    assert r.returncode == 0 and "No drift since the build." in r.stdout, r.stdout + r.stderr
    admin = streamt.KafkaAdmin({"bootstrap_servers": kafka.bootstrap})
    try:
        admin.alter_configs({name: {"retention.ms": "60000"}})
    finally:
        admin.close()
    r = cli(["deploy", str(art), "--check-drift", "--confirm", "--format", "json"], env=env)
    assert r.returncode == streamt.EXIT_DRIFT, r.stderr
    report = json.loads(r.stdout)
    assert any(name in d and "retention.ms" in d and "60000" in d for d in report["drift"])
    # (issue 18) status saw nothing ("drift": []): it shows the same drift, read-only
    r = cli(["status", str(art), "--format", "json"], env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["drift"] == report["drift"]
    r = cli(["status", str(art)], env=env)
    assert r.returncode == 0, r.stderr
    assert "Drift since the build (what deploy --check-drift refuses):" in r.stdout
    assert all(("  " + d) in r.stdout for d in report["drift"])


# -- the bundled example, end to end --------------------------------------------------

def produce(bootstrap, topic, values):
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=bootstrap)
    for v in values:
        p.send(topic, json.dumps(v).encode())
    p.flush(20)
    p.close()


def consume(bootstrap, topic, want, timeout=90):
    from kafka import KafkaConsumer
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      consumer_timeout_ms=2000, group_id="t" + uuid.uuid4().hex[:6])
    got, end = [], time.time() + timeout
    try:
        while time.time() < end and len(got) < want:
            for m in c:
                got.append(json.loads(m.value.decode()) if m.value else None)
    finally:
        c.close()
    return got


def json_report(r):
    assert r.stdout.strip(), r.stderr
    return json.loads(r.stdout)


def _create_source_topics(bootstrap):
    """Sources are external: the shop's web site owns shop.orders.v1, streamt only reads it."""
    admin = streamt.KafkaAdmin({"bootstrap_servers": bootstrap})
    try:
        admin.create_topics([{"name": "shop.orders.v1", "partitions": 1, "replication_factor": 1,
                              "config": {}}])
        end = time.time() + 30
        while "shop.orders.v1" not in admin.describe_topics(["shop.orders.v1"]) and time.time() < end:
            time.sleep(0.2)
    finally:
        admin.close()


def _deploy_flow(project_dir, services_env, kafka, flink, connect, tmp_path):
    _create_source_topics(kafka.bootstrap)
    art = tmp_path / "art1"
    build(project_dir, art, environ=services_env)
    r = cli(["deploy", str(art), "-e", "dev", "--confirm", "--format", "json"], env=services_env)
    assert r.returncode == 0, r.stderr
    assert json_report(r)["result"]["status"] == "applied"

    # records produced into the source topic come out transformed
    orders = [{"order_id": "o%d" % i, "customer_id": "c%d" % (i % 2), "amount": 10.0 * i,
               "card_number": "4111-%d" % i, "order_time": "2026-01-01 00:00:%02d" % (i + 1)}
              for i in range(-1, 5)]
    produce(kafka.bootstrap, "shop.orders.v1", orders)
    clean = consume(kafka.bootstrap, "shop.orders.clean.v1", 4)
    assert sorted(o["order_id"] for o in clean) == ["o1", "o2", "o3", "o4"]  # amount > 0
    assert all(o["card_number"] != "4111-%s" % o["order_id"][1:] for o in clean)  # hashed
    # the Connect sink writes the per-minute revenue to its file.  The window closes when
    # the watermark moves on in *every* partition of shop.orders.clean.v1 (orders_clean's
    # sink fills one partition at a time), so a later event goes to each partition.
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    for part in range(3):
        late = dict(clean[0], order_id="late%d" % part, order_time="2026-01-01 00:05:00")
        producer.send("shop.orders.clean.v1", json.dumps(late).encode(), partition=part)
    producer.flush(20)
    producer.close()
    archive = services_env["ARCHIVE_FILE"]
    end = time.time() + 120
    while time.time() < end and not (os.path.exists(archive) and os.path.getsize(archive)):
        time.sleep(1)
    assert os.path.exists(archive) and os.path.getsize(archive) > 0

    # a second deploy: nothing to change, zero mutating calls, exit 0 with --detailed-exitcode
    r = cli(["deploy", str(art), "-e", "dev", "--confirm", "--detailed-exitcode",
             "--format", "json"], env=services_env)
    assert r.returncode == 0, r.stderr
    assert json_report(r)["result"]["mutating_calls"] == 0
    r = cli(["status", str(art), "--format", "json"], env=services_env)
    assert r.returncode == 0 and json_report(r)["result"]["status"] == "no-changes"
    assert all(c["action"] == "unchanged" for c in json_report(r)["plan"]["changes"])
    r = cli(["plan", "-p", project_dir, "-e", "dev", "--detailed-exitcode"], env=services_env)
    assert r.returncode == 0, r.stdout + r.stderr

    # one model's SQL changes: exactly that job is upgraded through a savepoint
    models = os.path.join(project_dir, "models", "orders.yml")
    with open(models) as f:
        text = f.read()
    with open(models, "w") as f:
        f.write(text.replace("GROUP BY customer_id", "GROUP BY customer_id\n      HAVING COUNT(*) > 0"))
    r = cli(["plan", "-p", project_dir, "-e", "dev", "--detailed-exitcode"], env=services_env)
    assert r.returncode == streamt.EXIT_CHANGES, r.stderr
    assert "~ flink_job customer_totals" in r.stdout
    art2 = tmp_path / "art2"
    build(project_dir, art2, environ=services_env)
    r = cli(["deploy", str(art2), "-e", "dev", "--confirm", "--format", "json"], env=services_env)
    assert r.returncode == 0, r.stderr
    rep = json_report(r)
    changed = [(c["kind"], c["name"]) for c in rep["plan"]["changes"] if c["action"] != "unchanged"]
    assert changed == [("flink_job", "customer_totals")]
    rest = streamt.HttpClient(flink.rest_url)
    jobs = rest.get_json("/jobs/overview")["jobs"]
    running = [j for j in jobs if j["name"].startswith("streamt.shop.customer_totals [")
               and j["state"] == "RUNNING"]
    assert len(running) == 1
    cp = rest.get_json("/jobs/%s/checkpoints" % running[0]["jid"])
    assert cp["latest"]["restored"]["is_savepoint"] is True
    return art2


def _kill_midway_then_converge(art, services_env, flink):
    """Cancel every job, start a deploy, SIGKILL it after its first Flink job, re-run."""
    rest = streamt.HttpClient(flink.rest_url)
    for j in rest.get_json("/jobs/overview")["jobs"]:
        if j["name"].startswith("streamt.shop.") and j["state"] == "RUNNING":
            rest.request("PATCH", "/jobs/%s" % j["jid"], query={"mode": "cancel"}, expect=(202,))
    time.sleep(3)
    e = dict(os.environ)
    e.update(services_env)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "streamt.py"), "deploy", str(art),
                             "-e", "dev", "--confirm"], env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    for line in proc.stderr:
        if line.startswith("applied") and "flink_job:" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    r = cli(["deploy", str(art), "-e", "dev", "--confirm"], env=services_env)
    assert r.returncode == 0, r.stderr
    r = cli(["deploy", str(art), "-e", "dev", "--dry-run", "--detailed-exitcode"], env=services_env)
    assert r.returncode == 0, r.stdout + r.stderr
    names = [j["name"].split(" [")[0] for j in rest.get_json("/jobs/overview")["jobs"]
             if j["state"] == "RUNNING" and j["name"].startswith("streamt.shop.")]
    assert sorted(names) == sorted(set(names)) and len(names) == 4


def _cancel_shop_jobs(flink):
    """The test cluster has a limited number of slots: leave them free for the next tests."""
    rest = streamt.HttpClient(flink.rest_url)
    for j in rest.get_json("/jobs/overview")["jobs"]:
        if j["name"].startswith("streamt.shop.") and j["state"] == "RUNNING":
            rest.request("PATCH", "/jobs/%s" % j["jid"], query={"mode": "cancel"},
                         expect=(202, 404))


@pytest.mark.services
@pytest.mark.slow
def test_bundled_example_end_to_end(services_env, kafka, flink, connect, tmp_path):
    try:
        art = _deploy_flow(shop_copy(tmp_path), services_env, kafka, flink, connect, tmp_path)
        _kill_midway_then_converge(art, services_env, flink)
    finally:
        _cancel_shop_jobs(flink)


@pytest.mark.services
def test_allow_destructive_false_blocks_only_plans_with_deletes(connect, tmp_path):
    project = "p" + uuid.uuid4().hex[:6]
    env = {"CONNECT_URL": connect.url}

    def artifact(connectors, out):
        desired = {"topics": [], "schemas": [], "flink_jobs": [], "gateway": [],
                   "connectors": connectors,
                   "environment": {"name": "stage", "protected": False,
                                   "safety": {"allow_destructive": False},
                                   "runtime": {"connect": {"default": "w", "clusters": {
                                       "w": {"rest_url": "${CONNECT_URL}"}}}}}}
        streamt.write_artifact(desired, str(out), project_name=project)
        return str(out)

    cfg = {"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
           "file": os.path.join(connect.work_dir, project + ".txt"), "topics": "t1",
           "tasks.max": "1"}
    one = artifact([{"name": project + "_a", "cluster": "w", "config": cfg}], tmp_path / "a1")
    r = cli(["deploy", one, "--confirm"], env=env)
    assert r.returncode == 0, r.stderr          # no destructive change: not blocked
    none = artifact([], tmp_path / "a2")
    r = cli(["deploy", none, "--confirm", "--detailed-exitcode"], env=env)
    assert r.returncode == 0, r.stderr          # the orphan is listed, kept
    assert "? connector %s_a (orphan)" % project in r.stdout
    r = cli(["deploy", none, "--confirm", "--allow-delete", "connectors"], env=env)
    assert r.returncode == streamt.EXIT_REFUSED
    assert "does not allow destructive changes" in r.stderr
    assert "would delete connector:%s_a" % project in r.stderr
    assert project + "_a" in streamt.HttpClient(connect.url).get_json("/connectors")


def test_drift_between_names_each_moved_value():
    before = {"topics": {"cluster_id": "x", "topics": {"a": {"partitions": 3, "config": {"r": "1"}}}},
              "connectors": {"c": {"config": {"k": "v"}}}}
    now = {"topics": {"cluster_id": "x", "topics": {"a": {"partitions": 6, "config": {"r": "1"}},
                                                    "b": {"partitions": 1, "config": {}}}},
           "connectors": {}}
    lines = streamt.drift_between(before, now)
    assert "topics.topics.a.partitions: 3 -> 6" in lines
    assert any(line.startswith("topics.topics.b: appeared") for line in lines)
    assert any(line.startswith("connectors.c: disappeared") for line in lines)
    assert streamt.drift_between(before, json.loads(json.dumps(before))) == []


def test_resolved_secrets_never_show_in_a_plan():
    pol = streamt.PlanPolicy("shop", secrets=["s3cr3t-value"])
    target = streamt.ConnectTarget.__new__(streamt.ConnectTarget)
    item = {"name": "c", "cluster": None,
            "config": {"connection.password": "s3cr3t-value",
                       "connection.url": "jdbc:postgresql://db/x?password=s3cr3t-value"}}
    (c,) = target.plan([item], {"connectors": {}}, pol)
    text = json.dumps(c.to_json())
    assert "s3cr3t-value" not in text
    assert c.changes["connection.password"] == (None, "<redacted>")
    assert "password=<redacted>" in c.changes["connection.url"][1]


def test_source_topics_are_what_jobs_and_connectors_read_but_the_artifact_does_not_make():
    p = streamt.load_project(SHOP, env="dev", environ={})
    desired = streamt.compile_project(p)
    assert streamt.source_topics(desired) == ["shop.orders.v1"]
    desired["connectors"].append({"name": "x", "config": {"topics": "ext.a, shop.orders.clean.v1"}})
    assert streamt.source_topics(desired) == ["ext.a", "shop.orders.v1"]


@pytest.mark.services
def test_a_missing_source_topic_is_refused_at_plan_time(kafka):
    """Without this, deploy submits the job, which fails ~30 s later: a partial deploy."""
    present = "src-" + uuid.uuid4().hex[:8]
    absent = "src-" + uuid.uuid4().hex[:8]
    target = streamt.KafkaTarget({"kafka": kafka.runtime()})
    try:
        target.admin.create_topics([{"name": present, "partitions": 1, "replication_factor": 1,
                                     "config": {}}])
        sql = ("CREATE TEMPORARY TABLE `a` (`x` STRING) WITH ('connector' = 'kafka', "
               "'topic' = '%s');\nCREATE TEMPORARY TABLE `b` (`x` STRING) WITH ("
               "'connector' = 'kafka', 'topic' = '%s');\nINSERT INTO `c` SELECT x FROM `a`;"
               % (present, absent))
        desired = {"topics": [{"name": "out", "partitions": 1, "replication_factor": 1}],
                   "flink_jobs": [{"name": "j", "sql": sql}], "connectors": []}
        (change,) = streamt.missing_source_topics(desired, target)
        assert (change.kind, change.name, change.action) == ("topic", absent, "missing")
        assert "does not exist" in change.refused
        plan = streamt.Plan([change], {}, {}, streamt.PlanPolicy("p"))
        assert plan.refused and "! topic %s (source, missing)" % absent in plan.render()
    finally:
        target.close()


@pytest.mark.parametrize("command", [["plan", "-e", "prod"], ["apply", "-e", "prod", "--dry-run"],
                                     ["status", "-e", "prod"]])
def test_project_commands_find_the_project_through_streamt_project_dir(command, tmp_path):
    """Like validate and build: the project comes from -p, else $STREAMT_PROJECT_DIR."""
    env = dict(os.environ, STREAMT_PROJECT_DIR=SHOP)
    for k in ("KAFKA_PASSWORD", "SCHEMA_REGISTRY_PASSWORD", "ARCHIVE_FILE"):
        env.pop(k, None)
    r = subprocess.run([sys.executable, os.path.abspath(streamt.__file__)] + command,
                       cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, env=env)
    assert "compiled shop for prod" in r.stderr, r.stderr
    # prod's secrets are not set here: refused before any connection, naming them all
    assert r.returncode == streamt.EXIT_FAILURE
    assert "KAFKA_PASSWORD" in r.stderr and "SCHEMA_REGISTRY_PASSWORD" in r.stderr


def _warned_project(tmp_path, topic):
    """A project whose only finding is a warning (a legacy spelling) and whose one
    resource is a topic."""
    root = tmp_path / "warned"
    root.mkdir()
    (root / "stream_project.yml").write_text(
        "project:\n  name: warned\n"
        "runtime:\n  kafka:\n    bootstrap_servers: ${KAFKA_BOOTSTRAP}\n"
        "models:\n  - name: events\n    description: events as they come\n"
        "    topic:\n      name: %s\n      partitions: 2\n      replication_factor: 1\n" % topic)
    return str(root)


@pytest.mark.services
def test_plan_apply_status_of_a_project_with_a_warning(kafka, tmp_path):
    """plan/apply/status -p read the project as build does: a warning is printed, not a
    crash (they used to die with "TypeError: 'bool' object is not callable")."""
    topic = "warned.t%s" % uuid.uuid4().hex[:8]
    project = _warned_project(tmp_path, topic)
    env = {"KAFKA_BOOTSTRAP": kafka.bootstrap}
    r = cli(["plan", "-p", project], env=env)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "warning: " in r.stderr and "[DEPRECATED_KEY]" in r.stderr
    assert "+ topic %s\n    partitions: 2\n" % topic in r.stdout
    assert "Plan: 1 to create" in r.stdout
    r = cli(["apply", "-p", project, "--confirm"], env=env)
    assert r.returncode == 0, r.stderr
    assert "[DEPRECATED_KEY]" in r.stderr
    r = cli(["status", "-p", project, "--format", "json"], env=env)
    assert r.returncode == 0, r.stderr
    assert "[DEPRECATED_KEY]" in r.stderr
    (change,) = [c for c in json_report(r)["plan"]["changes"] if c["name"] == topic]
    assert change["action"] == "unchanged"
    admin = streamt.KafkaAdmin({"bootstrap_servers": kafka.bootstrap})
    try:
        assert admin.describe_topics([topic])[topic]["partitions"] == 2
        admin.delete_topics([topic])
    finally:
        admin.close()


_FLINK_PROJECT = """project:
  name: %(name)s
runtime:
  kafka:
    bootstrap_servers: ${KAFKA_BOOTSTRAP}
  flink:
    default: local
    clusters:
      local:
        rest_url: ${FLINK_REST_URL}
        sql_gateway_url: ${FLINK_SQL_GATEWAY_URL}
sources:
  - name: src
    topic: %(src)s
    columns:
      - name: k
        type: STRING
      - name: n
        type: INT
models:
  - name: totals
    sql: SELECT k, SUM(n) AS total FROM {{ source("src") }} GROUP BY k%(having)s
%(extra)s"""


def _flink_project(tmp_path, kafka, having="", extra=""):
    """A one-source project of Flink jobs on the harness, its source topic created."""
    name = "p" + uuid.uuid4().hex[:8]
    src = name + ".src"
    root = tmp_path / name
    if not root.exists():
        root.mkdir()
    admin = streamt.KafkaAdmin({"bootstrap_servers": kafka.bootstrap})
    try:
        admin.create_topics([{"name": src, "partitions": 1, "replication_factor": 1,
                              "config": {}}])
    finally:
        admin.close()

    def write(having="", extra=""):
        (root / "stream_project.yml").write_text(_FLINK_PROJECT % dict(
            name=name, src=src, having=having, extra=extra))
    write(having, extra)
    return str(root), name, write


def _flink_env(kafka, flink):
    return {"KAFKA_BOOTSTRAP": kafka.bootstrap, "FLINK_REST_URL": flink.rest_url,
            "FLINK_SQL_GATEWAY_URL": flink.gateway_url}


def _cancel_project_jobs(flink, name):
    rest = streamt.HttpClient(flink.rest_url)
    for j in rest.get_json("/jobs/overview")["jobs"]:
        if "[streamt project=%s " % name in j["name"] and \
                j["state"] in ("RUNNING", "CREATED", "RESTARTING", "INITIALIZING"):
            rest.request("PATCH", "/jobs/%s" % j["jid"], query={"mode": "cancel"},
                         expect=(202, 404))


@pytest.mark.services
def test_deploy_says_which_savepoint_each_job_was_restored_from(kafka, flink, tmp_path):
    # (issue 18) an upgrade through a savepoint never said which savepoint it used
    root, name, write = _flink_project(tmp_path, kafka)
    env = _flink_env(kafka, flink)
    try:
        r = cli(["apply", "-p", root, "--confirm", "--format", "json"], env=env)
        assert r.returncode == 0, r.stderr
        assert json_report(r)["result"]["restored_from"] == {"flink_job:totals": None}
        write(having="\n      HAVING SUM(n) > 0")
        r = cli(["apply", "-p", root, "--confirm"], env=env)
        assert r.returncode == 0, r.stderr
        rest = streamt.HttpClient(flink.rest_url)
        running = [j for j in rest.get_json("/jobs/overview")["jobs"]
                   if j["state"] == "RUNNING" and "[streamt project=%s " % name in j["name"]]
        assert len(running) == 1, running
        restored = rest.get_json("/jobs/%s/checkpoints" % running[0]["jid"])["latest"]["restored"]
        path = restored["external_path"]
        assert "flink_job:totals restored from the savepoint %s" % path in r.stdout, r.stdout
        write(having="\n      HAVING SUM(n) > 1")
        r = cli(["apply", "-p", root, "--confirm", "--format", "json"], env=env)
        assert r.returncode == 0, r.stderr
        (savepoint,) = json_report(r)["result"]["restored_from"].values()
        assert savepoint and savepoint != path and "savepoint" in savepoint
    finally:
        _cancel_project_jobs(flink, name)


@pytest.mark.services
@pytest.mark.slow
def test_a_job_without_task_slots_is_explained_and_leaves_no_failed_job(kafka, flink, tmp_path):
    # (issue 18) a job that could not get task slots stayed waiting, failed later with
    # NoResourceAvailable, and every retry left one more FAILED job behind
    wide = """  - name: wide
    sql: SELECT k, COUNT(*) AS c FROM {{ source("src") }} GROUP BY k
    advanced:
      flink:
        parallelism: 500
"""
    root, name, _write = _flink_project(tmp_path, kafka, extra=wide)
    env = _flink_env(kafka, flink)
    rest = streamt.HttpClient(flink.rest_url)
    try:
        r = cli(["plan", "-p", root, "--format", "json"], env=env)
        assert r.returncode == 0, r.stderr
        (change,) = [c for c in json_report(r)["plan"]["changes"]
                     if c["kind"] == "flink_job" and c["name"] == "wide"]
        assert any(n.startswith("needs 500 task slots, Flink has ") and "NoResourceAvailable" in n
                   for n in change["notes"]), change["notes"]
        r = cli(["apply", "-p", root, "--confirm"], env=env)
        assert r.returncode == streamt.EXIT_PARTIAL, r.stderr
        # Flink either lets it wait (streamt cancels it after its wait) or fails it at
        # once, depending on the scheduler and the machine: the same explanation either way
        assert "got no task slots" in r.stderr and "it needs 500" in r.stderr, r.stderr
        assert "taskmanager.numberOfTaskSlots" in r.stderr
        mine = [j for j in rest.get_json("/jobs/overview")["jobs"]
                if "[streamt project=%s " % name in j["name"] and ".wide " in j["name"]]
        assert len(mine) == 1 and mine[0]["state"] in ("CANCELED", "FAILED"), mine
        r = cli(["plan", "-p", root], env=env)
        # (a FAILED run also says why: "... is FAILED: NoResourceAvailableException ...")
        last = "resubmit (last run %s is %s" % (mine[0]["jid"], mine[0]["state"])
        assert last in r.stdout, r.stdout
        assert "needs 500 task slots" in r.stdout
        if mine[0]["state"] == "FAILED":
            # a run Flink failed for want of slots is not resubmitted while they are missing:
            # a retry would only leave one more FAILED run behind
            assert r.returncode == streamt.EXIT_REFUSED, r.stderr
            assert "its last run failed for want of task slots" in r.stdout + r.stderr
            r = cli(["apply", "-p", root, "--confirm"], env=env)
            assert r.returncode == streamt.EXIT_REFUSED, r.stderr
            again = [j for j in rest.get_json("/jobs/overview")["jobs"]
                     if "[streamt project=%s " % name in j["name"] and ".wide " in j["name"]]
            assert len(again) == 1, again
    finally:
        _cancel_project_jobs(flink, name)
