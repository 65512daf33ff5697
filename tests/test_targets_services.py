"""Schema Registry, Kafka Connect and Conduktor Gateway targets against the real Connect
worker and the services harness's Schema Registry / Gateway fakes."""
import json
import os
import uuid

import pytest

import streamt

pytestmark = pytest.mark.services

ORDER_V1 = {"type": "record", "name": "Order", "namespace": "shop",
            "fields": [{"name": "id", "type": "string"}]}


def sr_runtime(sr):
    return {"schema_registry": {"url": sr.url, "username": sr.username, "password": sr.password}}


def schema(subject, body, compatibility=None, indent=None):
    return {"subject": subject, "schema_type": "AVRO", "schema": json.dumps(body, indent=indent),
            "compatibility": compatibility, "source": "orders"}


def actions(plan):
    return [(c.action, c.name) for c in plan.changes]


def test_schema_registry_register_unchanged_compatible_and_refused(schema_registry):
    rt = sr_runtime(schema_registry)
    pol = streamt.PlanPolicy("shop")
    subject = "shop/orders:%s-value" % uuid.uuid4().hex[:6]   # needs URL-encoding
    desired = {"schemas": [schema(subject, ORDER_V1, compatibility="BACKWARD")]}
    plan = streamt.plan_deploy(desired, rt, pol)
    assert actions(plan) == [("create", subject)]
    streamt.apply_plan(plan)
    # the same schema written differently (indentation, key order) is unchanged
    reordered = dict(reversed(list(ORDER_V1.items())))
    desired = {"schemas": [schema(subject, reordered, compatibility="BACKWARD", indent=4)]}
    plan = streamt.plan_deploy(desired, rt, pol)
    assert actions(plan) == [("unchanged", subject)]
    streamt.apply_plan(plan)
    assert plan.targets["schema"].http.mutations == 0
    # a compatible evolution (new field with a default) is a new version
    v2 = dict(ORDER_V1, fields=ORDER_V1["fields"] + [{"name": "note", "type": "string",
                                                      "default": ""}])
    plan = streamt.plan_deploy({"schemas": [schema(subject, v2, "BACKWARD")]}, rt, pol)
    (c,) = plan.changes
    assert c.action == "update" and not c.refused
    streamt.apply_plan(plan)
    http = streamt.HttpClient(schema_registry.url, username=schema_registry.username,
                              password=schema_registry.password)
    versions = http.get_json("/subjects/%s/versions" % streamt.Http.quote(subject))
    assert versions == [1, 2]
    # an incompatible one (new required field) is refused when planning, nothing is sent
    v3 = dict(ORDER_V1, fields=ORDER_V1["fields"] + [{"name": "must", "type": "string"}])
    plan = streamt.plan_deploy({"schemas": [schema(subject, v3, "BACKWARD")]}, rt, pol)
    (c,) = plan.changes
    assert c.refused and "incompatible" in c.refused
    assert plan.targets["schema"].http.mutations == 0


def test_schema_registry_wrong_password_is_a_clear_error(schema_registry):
    rt = {"schema_registry": {"url": schema_registry.url, "username": schema_registry.username,
                              "password": "wrong"}}
    with pytest.raises(streamt.HttpError) as e:
        streamt.plan_deploy({"schemas": [schema("x-value", ORDER_V1)]}, rt,
                            streamt.PlanPolicy("shop"))
    assert e.value.status == 401 and "credentials" in e.value.hint


def connect_runtime(connect):
    return {"connect": {"default": "w", "clusters": {"w": {"rest_url": connect.url}}}}


def sink(name, connect, topic, **extra):
    cfg = {"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
           "file": os.path.join(connect.work_dir, name + ".txt"), "topics": topic,
           "tasks.max": "1",
           "key.converter": "org.apache.kafka.connect.storage.StringConverter",
           "value.converter": "org.apache.kafka.connect.storage.StringConverter"}
    cfg.update(extra)
    return {"name": name, "cluster": "w", "config": cfg}


def test_connect_create_unchanged_update_validate_and_orphan(connect):
    project = "p" + uuid.uuid4().hex[:6]
    pol = streamt.PlanPolicy(project)
    rt = connect_runtime(connect)
    name = project + "_sink"
    desired = {"connectors": [sink(name, connect, "t1")]}
    plan = streamt.plan_deploy(desired, rt, pol)
    assert actions(plan) == [("create", name)]
    assert plan.targets["connector"].validate(plan.pending) == []
    streamt.apply_plan(plan)
    plan = streamt.plan_deploy(desired, rt, pol)
    assert actions(plan) == [("unchanged", name)]
    assert plan.targets["connector"].http_clients()[0].mutations == 0
    desired = {"connectors": [sink(name, connect, "t2")]}
    plan = streamt.plan_deploy(desired, rt, pol)
    (c,) = plan.changes
    assert c.action == "update" and c.changes == {"topics": ("t1", "t2")}
    streamt.apply_plan(plan)
    status = streamt.HttpClient(connect.url).get_json("/connectors/%s/status" % name)
    assert status["connector"]["state"] == "RUNNING"
    # the service's own validation catches a bad config in a dry run
    bad = {"connectors": [sink(name, connect, "t2", **{"tasks.max": "zero"})]}
    plan = streamt.plan_deploy(bad, rt, pol)
    errors = plan.targets["connector"].validate(plan.pending)
    assert errors and "tasks.max" in errors[0]
    # gone from the artifact: an orphan (it carries our marker), deleted only when allowed
    target = streamt.ConnectTarget(rt, ["w"])
    changes = target.plan([], target.observe([], pol), pol)
    assert [(c.action, c.name) for c in changes] == [("orphan", name)]
    other = streamt.PlanPolicy("someone-else")
    assert target.plan([], target.observe([], other), other) == []
    pol_del = streamt.PlanPolicy(project, allow_delete=["connectors"])
    changes = target.plan([], target.observe([], pol_del), pol_del)
    target.apply(changes, lambda c: None)
    assert name not in streamt.HttpClient(connect.url).get_json("/connectors")


def test_connect_failed_task_is_reported_with_its_first_trace_line(connect):
    pol = streamt.PlanPolicy("p" + uuid.uuid4().hex[:6])
    name = pol.project + "_broken"
    # a file in a directory that does not exist: the task fails on start
    bad = sink(name, connect, "t1", file="/nonexistent-dir/x/y.txt")
    plan = streamt.plan_deploy({"connectors": [bad]}, connect_runtime(connect), pol)
    plan.targets["connector"].wait_timeout = 30
    with pytest.raises(streamt.PartialDeployError) as e:
        streamt.apply_plan(plan)
    text = e.value.render()
    assert "failed" in text and "task 0:" in text
    assert "\tat " not in text


def gw_runtime(gw):
    return {"conduktor": {"gateway": {"admin_url": gw.url, "username": gw.username,
                                      "password": gw.password}}}


def interceptor(name, vcluster=None, priority=100):
    md = {"name": name}
    if vcluster:
        md["scope"] = {"vCluster": vcluster}
    return {"apiVersion": "gateway/v2", "kind": "Interceptor", "metadata": md,
            "spec": {"pluginClass": "io.conduktor.gateway.interceptor.VirtualSqlTopicPlugin",
                     "priority": priority, "config": {"virtualTopic": name,
                                                      "statement": "SELECT * FROM t"}}}


def test_gateway_interceptors_and_alias_topics_with_scope(conduktor_gateway):
    project = "p" + uuid.uuid4().hex[:6]
    pol = streamt.PlanPolicy(project)
    rt = gw_runtime(conduktor_gateway)
    alias = {"apiVersion": "gateway/v2", "kind": "AliasTopic",
             "metadata": {"name": project + "-alias", "vCluster": "passthrough"},
             "spec": {"physicalName": "shop.orders.v1"}}
    desired = {"gateway": [interceptor(project + "-a", "vc1"), alias]}
    plan = streamt.plan_deploy(desired, rt, pol)
    assert sorted(c.action for c in plan.changes) == ["create", "create"]
    assert plan.targets["gateway"].validate(plan.pending) == []
    streamt.apply_plan(plan)
    plan = streamt.plan_deploy(desired, rt, pol)
    assert [c.action for c in plan.changes] == ["unchanged", "unchanged"]
    desired = {"gateway": [interceptor(project + "-a", "vc1", priority=5), alias]}
    plan = streamt.plan_deploy(desired, rt, pol)
    changed = [c for c in plan.changes if c.action == "update"]
    assert len(changed) == 1 and changed[0].changes == {"spec.priority": (100, 5)}
    streamt.apply_plan(plan)
    # removed: orphans, deleted with their scope when allowed
    target = streamt.GatewayTarget(rt)
    pol_del = streamt.PlanPolicy(project, allow_delete=["gateway"])
    changes = target.plan([], target.observe([], pol_del), pol_del)
    assert sorted(c.action for c in changes) == ["delete", "delete"]
    target.apply(changes, lambda c: None)
    left = target.observe([], pol)["resources"]
    assert not [k for k in left if k[1].startswith(project)]


def test_a_secret_the_real_connect_echoes_back_is_masked(connect, tmp_path):
    """A ${VAR} whose value is a password, put where Connect validates the value (here
    tasks.max, by mistake): Connect's own validation (apply --dry-run) quotes the value
    back in its error, and streamt prints that error.  The password is masked in all
    streamt prints, whether it came from --env-file or from the project's .env."""
    from tests._hostile import cli, clean_environ, write_project
    secret = "S3cr3t-connect-%s" % uuid.uuid4().hex[:12]
    cfg = {"file": os.path.join(connect.work_dir, "echo.txt"), "tasks.max": "${DB_PASSWORD}",
           "key.converter": "org.apache.kafka.connect.storage.StringConverter",
           "value.converter": "org.apache.kafka.connect.storage.StringConverter"}
    # the echo is real: Connect's answer holds the value (else this test proves nothing)
    raw = streamt.HttpClient(connect.url).request(
        "PUT", "/connector-plugins/FileStreamSinkConnector/config/validate", mutating=False,
        body=dict(cfg, **{"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                          "name": "echo", "topics": "t", "tasks.max": secret}))
    assert secret in raw.text, raw.text
    topic = "echo-%s" % uuid.uuid4().hex[:6]
    data = {"project": {"name": "echo%s" % uuid.uuid4().hex[:6], "version": "1"},
            "runtime": {"kafka": {"bootstrap_servers": connect.kafka.bootstrap},
                        "connect": {"default": "w", "clusters": {"w": {"rest_url": connect.url}}}},
            "sources": [{"name": "orders", "topic": topic}],
            "models": [{"name": "archive", "from": [{"source": "orders"}],
                        "sink": {"connector": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                                 "config": cfg}}]}
    env_file = str(tmp_path / "deploy.env")
    with open(env_file, "w") as f:
        f.write("DB_PASSWORD=%s\n" % secret)
    from_file = write_project(str(tmp_path / "a"), data)
    from_dotenv = write_project(str(tmp_path / "b"), data, {".env": "DB_PASSWORD=%s\n" % secret})
    for args in (("apply", "-p", from_file, "--dry-run", "--env-file", env_file),
                 ("apply", "-p", from_file, "--dry-run", "--env-file", env_file, "--format", "json"),
                 ("apply", "-p", from_dotenv, "--dry-run"),
                 ("apply", "-p", from_dotenv, "--dry-run", "--format", "json")):
        r = cli(*args, environ=clean_environ())
        assert "Traceback" not in r.stderr, r
        assert "tasks.max" in r.stdout + r.stderr, r  # Connect's error is printed ...
        assert secret not in r.stdout + r.stderr, r
        assert streamt.REDACTED in r.stdout + r.stderr, r  # ... with the value masked


def test_build_with_state_writes_no_secret_value_the_live_config_holds(connect, tmp_path):
    """A connector deployed with a password inside a value whose key is not secret (a
    file name here, a JDBC URL in life): `build --with-state` (no --resolve-secrets)
    wrote the live config into state/connectors.json with the password in it, since
    the snapshot redacted by key only.  The snapshot now masks the secret values of
    the project's variables too, and deploy --check-drift (which observes the same
    way) still finds no drift."""
    from tests._hostile import artifact_files, cli, clean_environ, write_project
    secret = "S3cr3t-state-%s" % uuid.uuid4().hex[:12]
    name = "state%s" % uuid.uuid4().hex[:6]
    data = {"project": {"name": name, "version": "1"},
            "runtime": {"kafka": {"bootstrap_servers": connect.kafka.bootstrap},
                        "connect": {"default": "w", "clusters": {"w": {"rest_url": connect.url}}}},
            "sources": [{"name": "orders", "topic": "%s-orders" % name}],
            "models": [{"name": name + "-sink", "from": [{"source": "orders"}],
                        "sink": {"connector": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                                 "config": {"file": os.path.join(connect.work_dir,
                                                                 "out-${DB_PASSWORD}.txt"),
                                            "tasks.max": "1"}}}]}
    root = write_project(str(tmp_path / "p"), data, {".env": "DB_PASSWORD=%s\n" % secret})
    env_file = str(tmp_path / "deploy.env")
    with open(env_file, "w") as f:
        f.write("DB_PASSWORD=%s\n" % secret)
    try:
        r = cli("apply", "-p", root, "--confirm", environ=clean_environ())
        assert r.returncode == 0, r
        config = streamt.HttpClient(connect.url).get_json("/connectors/%s-sink/config" % name)
        assert secret in json.dumps(config)  # the live config does hold it
        out = str(tmp_path / "art")
        r = cli("build", "-p", root, "-o", out, "--with-state", environ=clean_environ())
        assert r.returncode == 0, r
        files = artifact_files(out)
        assert any(p.startswith("state/") for p in files), sorted(files)
        for path, body in sorted(files.items()):
            assert secret.encode() not in body, path
        assert secret not in r.stdout + r.stderr
        r = cli("deploy", out, "--dry-run", "--check-drift", "--env-file", env_file,
                environ=clean_environ())
        assert r.returncode == 0 and "no drift since the build" in r.stderr, r
        assert secret not in r.stdout + r.stderr
    finally:
        streamt.HttpClient(connect.url).request("DELETE", "/connectors/%s-sink" % name,
                                                  expect=(200, 204, 404))
