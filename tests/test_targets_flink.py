"""Flink jobs: the plan logic (pure) and the target against the real Flink + SQL Gateway."""
import time
import uuid

import pytest

import streamt


def job(name="j", fp="a" * 64, on_upgrade="savepoint", sql="", cluster="c"):
    return {"name": name, "model": name, "kind": "model", "cluster": cluster,
            "pipeline_name": "streamt.shop." + name, "fingerprint": "sha256:" + fp,
            "on_upgrade": on_upgrade, "sql": sql}


def live(*jobs):
    return {"jobs": {"c": [dict(id=i, pipeline_name="streamt.shop." + n, fp=fp, state=st,
                                start=k, end=0) for k, (i, n, fp, st) in enumerate(jobs)]}}


class Bare(streamt.FlinkTarget):
    """The plan logic only: no cluster (plan() is pure)."""

    def __init__(self):
        self.clusters = {}


def plan(items, live_state, **kw):
    return Bare().plan(items, live_state, streamt.PlanPolicy("shop", **kw))


FP_A, FP_B = "a" * 16, "b" * 16


def test_running_with_the_same_fingerprint_is_unchanged():
    (c,) = plan([job()], live(("1", "j", FP_A, "RUNNING")))
    assert c.action == "unchanged"


def test_changed_sql_stops_with_a_savepoint_by_default():
    (c,) = plan([job(fp="b" * 64)], live(("1", "j", FP_A, "RUNNING")))
    assert c.action == "update" and c.data["stop"] == "1" and not c.refused
    assert c.changes["fingerprint"] == (FP_A, FP_B)


def test_on_upgrade_stateless_cancels_and_refuse_refuses_at_plan_time():
    (c,) = plan([job(fp="b" * 64, on_upgrade="stateless")], live(("1", "j", FP_A, "RUNNING")))
    assert c.data["cancel"] == ["1"] and not c.data["stop"]
    (c,) = plan([job(fp="b" * 64, on_upgrade="refuse")], live(("1", "j", FP_A, "RUNNING")))
    assert c.refused and not c.mutating


def test_failed_or_cancelled_job_is_resubmitted_from_its_last_run():
    (c,) = plan([job()], live(("1", "j", FP_A, "FAILED")))
    assert c.action == "update" and c.data["restore_from"] == "1"
    (c,) = plan([job(on_upgrade="stateless")], live(("1", "j", FP_A, "CANCELED")))
    assert c.data["restore_from"] is None


def test_duplicates_are_cancelled_keeping_one():
    (c,) = plan([job()], live(("1", "j", FP_A, "RUNNING"), ("2", "j", FP_A, "RUNNING")))
    assert c.action == "update" and c.data["cancel"] == ["1"]


def test_orphans_are_only_jobs_of_this_project_and_deleted_only_when_allowed():
    state = live(("1", "gone", FP_A, "RUNNING"), ("2", "old", FP_A, "FINISHED"))
    (c,) = plan([], state)
    assert (c.action, c.name) == ("orphan", "streamt.shop.gone") and not c.mutating
    (c,) = plan([], state, allow_delete=["flink_jobs"])
    assert c.action == "delete" and c.destructive and c.data["cancel"] == ["1"]


def previous(state, *jobs):
    """The original streamt's running jobs (no streamt marker in their names)."""
    state["previous"] = {"c": [dict(id=i, name=n, state="RUNNING", start=k)
                               for k, (i, n) in enumerate(jobs)]}
    return state


def test_the_original_streamts_job_is_adopted_not_doubled():
    t = Bare()
    t.model_topics = {"clean": ["orders.clean"]}
    original = "insert-into_default_catalog.default_database.orders_clean_sink"
    (c,) = t.plan([job("clean")], previous(live(), ("9", original)), streamt.PlanPolicy("shop"))
    assert c.action == "update" and c.data["stop"] == "9" and not c.data["cancel"]
    assert any("adopted from the previous tool" in n for n in c.notes), c.notes
    assert c.changes["adopted"] == (original, "streamt.shop.clean")
    # its artifact's name works too; the original's suffix match does not ('clean'
    # is not orders_clean_sink when the topic is 'clean')
    (c,) = plan([job("clean")], previous(live(), ("8", "clean_processor")))
    assert c.data["stop"] == "8"
    (c,) = plan([job("clean")], previous(live(), ("9", original)))
    assert c.action == "create" and not c.data["cancel"]


def test_ours_running_beside_the_originals_cancels_the_original():
    (c,) = plan([job("clean")], previous(live(("1", "clean", FP_A, "RUNNING")),
                                         ("9", "clean_processor")))
    assert c.action == "update" and c.data["cancel"] == ["9"] and not c.data["stop"]
    assert c.changes["copies"] == (2, 1)
    (c,) = plan([job("clean", on_upgrade="refuse")], previous(live(), ("9", "clean")))
    assert c.refused and "previous tool" in c.refused and not c.mutating


def test_statement_splitting_and_owned_settings():
    sql = ("-- header; with a semicolon\nSET 'pipeline.name' = 'x';\n"
           "CREATE TABLE t (s STRING) WITH ('a' = 'x;y');\nINSERT INTO t SELECT 'a;b';\n")
    stmts = streamt._TargetParts.sql_statements(sql)
    assert len(stmts) == 3 and stmts[1].startswith("CREATE TABLE")
    assert streamt._TargetParts.sets_key(stmts[0], "pipeline.name")


# -- against the real Flink --------------------------------------------------------

SQL = """SET 'parallelism.default' = '1';
CREATE TEMPORARY TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '%d');
CREATE TEMPORARY TABLE snk (id BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO snk SELECT id FROM src;
"""


def runtime(flink):
    return {"flink": {"default": "c", "clusters": {"c": {
        "rest_url": flink.rest_url, "sql_gateway_url": flink.gateway_url}}}}


def overview(flink, pipeline):
    rest = streamt.HttpClient(flink.rest_url)
    return [j for j in rest.get_json("/jobs/overview")["jobs"] if j["name"].startswith(pipeline + " [")]


def restored_from_savepoint(flink, jid, timeout=20):
    """Flink fills the checkpoint statistics' "restored" entry shortly after the start."""
    rest = streamt.HttpClient(flink.rest_url)
    end = time.time() + timeout
    while time.time() < end:
        restored = (rest.get_json("/jobs/%s/checkpoints" % jid).get("latest") or {}).get("restored")
        if restored:
            return restored.get("is_savepoint") is True
        time.sleep(0.5)
    return False


@pytest.fixture
def cancel_afterwards(flink):
    """Cancel the test's jobs whatever happens: the test cluster's slots are limited."""
    prefixes = []
    yield prefixes
    rest = streamt.HttpClient(flink.rest_url)
    for j in rest.get_json("/jobs/overview")["jobs"]:
        if j["state"] == "RUNNING" and any(j["name"].startswith(p) for p in prefixes):
            rest.request("PATCH", "/jobs/%s" % j["jid"], query={"mode": "cancel"}, expect=(202, 404))


@pytest.mark.services
def test_flink_job_lifecycle_on_the_real_cluster(flink, cancel_afterwards):
    project = "p" + uuid.uuid4().hex[:8]
    pol = streamt.PlanPolicy(project)
    rt = runtime(flink)
    j = job("lc", fp="1" * 64, sql=SQL % 5)
    j["pipeline_name"] = project + ".lc"
    cancel_afterwards.append(project + ".")
    desired = {"flink_jobs": [j]}
    plan = streamt.plan_deploy(desired, rt, pol)
    assert [c.action for c in plan.changes] == ["create"]
    streamt.apply_plan(plan)
    (first,) = [x for x in overview(flink, j["pipeline_name"]) if x["state"] == "RUNNING"]

    # a second run: nothing to do, and no mutating HTTP call
    plan = streamt.plan_deploy(desired, rt, pol)
    assert [c.action for c in plan.changes] == ["unchanged"]
    streamt.apply_plan(plan)
    assert sum(h.mutations for h in plan.targets["flink_job"].http_clients()) == 0

    # changed SQL: stop with savepoint, resubmit from it, exactly one running copy
    j.update(sql=SQL % 6, fingerprint="sha256:" + "2" * 64)
    plan = streamt.plan_deploy(desired, rt, pol)
    (c,) = plan.changes
    assert c.action == "update" and c.data["stop"] == first["jid"]
    streamt.apply_plan(plan)
    jobs = overview(flink, j["pipeline_name"])
    running = [x for x in jobs if x["state"] == "RUNNING"]
    assert len(running) == 1 and running[0]["jid"] != first["jid"]
    assert "fp=2222222222222222" in running[0]["name"]
    assert restored_from_savepoint(flink, running[0]["jid"])

    # killed between "stop" and "submit": the re-run resubmits from that savepoint
    target = plan.targets["flink_job"]
    target._stop_with_savepoint(target.clusters["c"], running[0]["jid"])
    plan = streamt.plan_deploy(desired, rt, pol)
    (c,) = plan.changes
    assert c.action == "update" and c.data["restore_from"] == running[0]["jid"]
    streamt.apply_plan(plan)
    assert any("restored from the savepoint file:" in n for n in c.notes), c.notes
    running2 = [x for x in overview(flink, j["pipeline_name"]) if x["state"] == "RUNNING"]
    assert len(running2) == 1
    assert restored_from_savepoint(flink, running2[0]["jid"])

    # removed from the artifact: an orphan, cancelled only with --allow-delete
    # (the runtime configures Flink, so Flink is observed even with no job in the artifact)
    plan = streamt.plan_deploy({"flink_jobs": []}, rt, pol)
    assert [(c.action, c.name) for c in plan.changes] == [("orphan", j["pipeline_name"])]
    assert not plan.pending
    pol_del = streamt.PlanPolicy(project, allow_delete=["flink_jobs"])
    plan = streamt.plan_deploy({"flink_jobs": []}, rt, pol_del)
    assert [(c.action, c.destructive) for c in plan.changes] == [("delete", True)]
    streamt.apply_plan(plan)
    assert not [x for x in overview(flink, j["pipeline_name"]) if x["state"] == "RUNNING"]


@pytest.mark.services
def test_a_bad_statement_shows_flinks_root_cause_and_the_statement(flink):
    pol = streamt.PlanPolicy("p" + uuid.uuid4().hex[:8])
    j = job("bad", sql="CREATE TEMPORARY TABLE s (id BIGINT) WITH ('connector' = 'datagen');\n"
                       "INSERT INTO no_such_table SELECT id FROM s;")
    plan = streamt.plan_deploy({"flink_jobs": [j]}, runtime(flink), pol)
    with pytest.raises(streamt.PartialDeployError) as e:
        streamt.apply_plan(plan)
    text = e.value.render()
    assert e.value.exit_code == streamt.EXIT_PARTIAL
    assert "no_such_table" in text and "INSERT INTO no_such_table" in text
    assert "\tat org.apache" not in text and "Caused by" not in text
    assert e.value.report["not_applied"] == ["flink_job:bad"]


def submit_like_the_original(flink, statements):
    """As conduktor/streamt submits: one SQL Gateway session, no pipeline.name, each
    statement polled until FINISHED; Flink names the INSERT job after its sink table."""
    gw = streamt.HttpClient(flink.gateway_url)
    session = gw.request("POST", "/v1/sessions", body={}, idempotent=False).json()["sessionHandle"]
    for stmt in statements:
        op = gw.request("POST", "/v1/sessions/%s/statements" % session,
                        body={"statement": stmt}, idempotent=False).json()["operationHandle"]
        base = "/v1/sessions/%s/operations/%s" % (session, op)
        end = time.time() + 60
        while gw.get_json(base + "/status")["status"] not in ("FINISHED", "ERROR"):
            assert time.time() < end, stmt
            time.sleep(0.3)
        assert gw.get_json(base + "/status")["status"] == "FINISHED", stmt


@pytest.mark.services
def test_the_original_streamts_running_job_is_adopted_on_the_real_cluster(
        flink, cancel_afterwards):
    project = "p" + uuid.uuid4().hex[:8]
    model = "m" + uuid.uuid4().hex[:8]
    original = "insert-into_default_catalog.default_database.%s_sink" % model
    cancel_afterwards.extend([project + ".", original])
    submit_like_the_original(flink, [
        "CREATE TABLE IF NOT EXISTS src_%s (id BIGINT) WITH ('connector' = 'datagen', "
        "'rows-per-second' = '5')" % model,
        "CREATE TABLE IF NOT EXISTS %s_sink (id BIGINT) WITH ('connector' = 'blackhole')" % model,
        "INSERT INTO %s_sink SELECT id FROM src_%s" % (model, model)])
    rest = streamt.HttpClient(flink.rest_url)
    end = time.time() + 60
    while True:
        old = [j for j in rest.get_json("/jobs/overview")["jobs"]
               if j["name"] == original and j["state"] == "RUNNING"]
        if old:
            break
        assert time.time() < end, "the original's job did not start"
        time.sleep(0.5)
    time.sleep(2)   # its tasks deployed: a savepoint needs them running

    rt = runtime(flink)
    pol = streamt.PlanPolicy(project)
    j = job(model, fp="1" * 64, sql=SQL % 5)
    j["pipeline_name"] = project + "." + model
    plan = streamt.plan_deploy({"flink_jobs": [j]}, rt, pol)
    (c,) = plan.changes
    assert c.action == "update" and c.data["stop"] == old[0]["jid"], c.notes
    assert "adopted from the previous tool" in plan.render()
    streamt.apply_plan(plan)

    jobs = rest.get_json("/jobs/overview")["jobs"]
    assert [x["state"] for x in jobs if x["jid"] == old[0]["jid"]] == ["FINISHED"]
    running = [x for x in overview(flink, j["pipeline_name"]) if x["state"] == "RUNNING"]
    assert len(running) == 1
    assert not [x for x in jobs if x["name"] == original and x["state"] == "RUNNING"]
    assert restored_from_savepoint(flink, running[0]["jid"])

    # a second apply changes nothing
    plan = streamt.plan_deploy({"flink_jobs": [j]}, rt, pol)
    assert [c.action for c in plan.changes] == ["unchanged"]


@pytest.mark.services
def test_adoption_neither_loses_nor_duplicates_rows(kafka, flink, cancel_afterwards):
    from tests.test_flink_acceptance import consume, create_topics, produce
    project = "p" + uuid.uuid4().hex[:8]
    model = "m" + uuid.uuid4().hex[:8]
    src, out = model + ".in", model + ".out"
    original = "insert-into_default_catalog.default_database.%s_out_sink" % model
    cancel_afterwards.extend([project + ".", original])
    create_topics(kafka.bootstrap, [src, out])
    produce(kafka.bootstrap, src, [{"id": i} for i in range(10)])

    def table(name, topic, source):
        return ("CREATE TABLE IF NOT EXISTS %s (id BIGINT) WITH ('connector' = 'kafka', "
                "'topic' = '%s', 'properties.bootstrap.servers' = '%s', %s"
                "'value.format' = 'json')"
                % (name, topic, flink.kafka_bootstrap,
                   "'properties.group.id' = '%s', 'scan.startup.mode' = 'earliest-offset', "
                   % model if source else ""))
    # the original's shape: sink table named after the topic, one shared session
    submit_like_the_original(flink, [
        table("%s_in" % model, src, True), table("%s_out_sink" % model, out, False),
        "INSERT INTO %s_out_sink SELECT id FROM %s_in" % (model, model)])
    consume(kafka.bootstrap, out, lambda rs: len(rs) >= 10)
    time.sleep(2)

    sql = ";\n".join([table("`%s`" % model, src, True), table("`%s__sink`" % model, out, False),
                      "INSERT INTO `%s__sink` SELECT id FROM `%s`" % (model, model)]) + ";\n"
    j = job(model, fp="1" * 64, sql=sql)
    j["pipeline_name"] = project + "." + model
    rt = runtime(flink)
    pol = streamt.PlanPolicy(project)
    # the model's topic tells the plan the original's sink table name (Flink only here)
    t = streamt.make_targets({"flink_jobs": [j]}, rt)
    desired = {"flink_jobs": [j], "topics": [{"name": out, "model": model}]}
    plan = streamt.plan_deploy(desired, rt, pol, targets=t)
    (c,) = [c for c in plan.changes if c.kind == "flink_job"]
    assert c.action == "update" and c.data["stop"], c.notes
    streamt.apply_plan(plan)
    produce(kafka.bootstrap, src, [{"id": i} for i in range(10, 20)])
    consume(kafka.bootstrap, out, lambda rs: len(rs) >= 20)
    time.sleep(5)   # a duplicate would arrive late: read again after a while
    rows = consume(kafka.bootstrap, out, lambda rs: len(rs) >= 20)
    assert sorted(v["id"] for _k, v in rows) == list(range(20))


def test_the_plan_says_why_the_last_run_failed_and_what_to_do():
    # (issue 18) a job that found no task slot was resubmitted with no word of why
    state = live(("1", "j", FP_A, "FAILED"))
    state["jobs"]["c"][0]["failure"] = ("org.apache.flink.runtime.jobmanager.scheduler."
                                        "NoResourceAvailableException: Could not acquire the "
                                        "minimum required resources.")
    (c,) = plan([job()], state)
    assert c.action == "update"
    assert "last run 1 is FAILED: org.apache.flink.runtime.jobmanager.scheduler." \
           "NoResourceAvailableException" in c.notes[0]
    assert "add TaskManagers" in c.notes[1] and "taskmanager.numberOfTaskSlots" in c.notes[1]


def test_the_plan_says_when_the_jobs_it_starts_will_not_get_task_slots():
    wide = job("w", sql="SET 'parallelism.default' = '3';\nINSERT INTO x SELECT 1;")
    state = live(("1", "up", FP_A, "RUNNING"))
    state["slots"] = {"c": {"total": 4, "available": 3}}
    up = job("up", fp="b" * 64)    # an upgrade in place reuses its run's slots
    changes = dict((c.name, c) for c in plan([job("a"), wide, up], state))
    assert not any("task slot" in n for n in changes["a"].notes + changes["up"].notes)
    (note,) = [n for n in changes["w"].notes if "task slot" in n]
    assert note.startswith("needs 3 task slots, Flink has 2 free of 4: it will not start")
    state["slots"] = {"c": {"total": 4, "available": 4}}
    assert not any("task slot" in n for c in plan([job("a"), wide], state) for n in c.notes)


def test_a_run_that_failed_for_slots_is_not_resubmitted_while_they_are_missing():
    """(issue 18) a scheduler may fail a slot-starved job at once: resubmitting it while the
    slots are still missing would leave one more FAILED run per retry, so it is refused."""
    wide = job("w", sql="SET 'parallelism.default' = '30';\nINSERT INTO x SELECT 1;")
    state = live(("9", "w", FP_A, "FAILED"))
    state["jobs"]["c"][0]["failure"] = "NoResourceAvailableException: Could not acquire"
    state["slots"] = {"c": {"total": 24, "available": 24}}
    (c,) = plan([wide], state)
    assert c.action == "update" and "its last run failed for want of task slots" in c.refused
    state["jobs"]["c"][0]["failure"] = "RuntimeException: something else"   # not for slots:
    (c,) = plan([wide], state)                                             # a note only
    assert not c.refused and any(n.startswith("needs 30 task slots") for n in c.notes)
    state["jobs"]["c"][0]["failure"] = "NoResourceAvailableException: Could not acquire"
    state["slots"] = {"c": {"total": 48, "available": 40}}    # room made: resubmitted
    (c,) = plan([wide], state)
    assert not c.refused
