"""Topics: the diff logic (pure) and the Kafka target against the real broker."""
import uuid

import pytest

import streamt


def policy(**kw):
    return streamt.PlanPolicy("shop", **kw)


def live_topic(partitions=3, rf=1, overrides=None, effective=None):
    return {"partitions": partitions, "replication_factor": rf, "overrides": dict(overrides or {}),
            "effective": dict(effective or {}), "sensitive": set()}


def topic(name="shop.a", partitions=3, rf=1, config=None):
    return {"name": name, "partitions": partitions, "replication_factor": rf,
            "config": dict(config or {}), "model": "a"}


def by_name(changes):
    return dict((c.name, c) for c in changes)


def test_missing_topic_is_created_with_its_config():
    (c,) = streamt.plan_topics([topic(config={"retention.ms": "1000"})], {"topics": {}}, policy())
    assert c.action == "create"
    assert c.changes["config.retention.ms"] == (None, "1000")
    assert c.changes["partitions"] == (None, 3)


def test_same_values_as_kafka_strings_are_unchanged():
    # YAML true / 1000 vs Kafka "true" / "1000": the original's perpetual diff
    live = {"topics": {"shop.a": live_topic(overrides={"retention.ms": "1000",
                                                       "unclean.leader.election.enable": "true"})}}
    desired = [topic(config={"retention.ms": 1000, "unclean.leader.election.enable": True})]
    (c,) = streamt.plan_topics(desired, live, policy())
    assert c.action == "unchanged" and not c.mutating


def test_a_value_equal_to_the_default_but_not_overridden_is_set():
    live = {"topics": {"shop.a": live_topic(effective={"retention.ms": "604800000"})}}
    (c,) = streamt.plan_topics([topic(config={"retention.ms": "604800000"})], live, policy())
    assert c.action == "update"
    assert c.changes["config.retention.ms"] == (None, "604800000")
    assert c.data["config"] == {"retention.ms": "604800000"}


def test_partition_increase_is_an_update_and_decrease_is_refused_at_plan_time():
    live = {"topics": {"shop.a": live_topic(partitions=3), "shop.b": live_topic(partitions=6)}}
    ch = by_name(streamt.plan_topics([topic("shop.a", partitions=6), topic("shop.b", partitions=3)],
                                     live, policy()))
    assert ch["shop.a"].changes["partitions"] == (3, 6) and not ch["shop.a"].refused
    assert ch["shop.b"].refused and "6 -> 3" in ch["shop.b"].refused
    assert not ch["shop.b"].mutating


def test_the_shared_test_failures_topic_keeps_the_size_another_project_gave_it():
    # every project's continuous tests write to one topic: a project whose defaults are
    # 1 partition / rf 1 must not be refused because another one created it with 3 / 3
    name = streamt.Compiler.TEST_FAILURES_TOPIC
    live = {"topics": {name: live_topic(partitions=3, rf=3), "shop.a": live_topic(partitions=3)}}
    ch = by_name(streamt.plan_topics([topic(name, partitions=1, rf=1), topic("shop.a", partitions=1)],
                                     live, policy()))
    assert not ch[name].refused and ch[name].action == "unchanged" and not ch[name].mutating
    assert any("shared by the continuous tests" in n and "kept at 3 partitions" in n
               for n in ch[name].notes)
    assert ch["shop.a"].refused and "3 -> 1" in ch["shop.a"].refused   # other topics as before
    (grow,) = streamt.plan_topics([topic(name, partitions=6, rf=3)],
                                  {"topics": {name: live_topic(partitions=3, rf=3)}}, policy())
    assert grow.changes["partitions"] == (3, 6)                          # growing it still works


def test_replication_factor_change_is_refused():
    live = {"topics": {"shop.a": live_topic(rf=1)}}
    (c,) = streamt.plan_topics([topic(rf=3)], live, policy())
    assert c.refused and "replication_factor 1 -> 3" in c.refused


def test_keys_no_longer_managed_are_listed_not_reset_unless_pruned():
    live = {"topics": {"shop.a": live_topic(overrides={"retention.ms": "5", "segment.ms": "9"})}}
    (c,) = streamt.plan_topics([topic(config={"retention.ms": "5"})], live, policy())
    assert c.action == "unchanged"
    assert any("segment.ms=9" in n and "--prune-config" in n for n in c.notes)
    (c,) = streamt.plan_topics([topic(config={"retention.ms": "5"})], live, policy(prune_config=True))
    assert c.action == "update" and c.destructive
    assert c.data["config"] == {"segment.ms": None}
    assert c.changes["config.segment.ms"] == ("9", None)


def test_secret_config_values_are_redacted_in_the_plan():
    live = {"topics": {"shop.a": live_topic(overrides={"some.password": "old-secret"})}}
    (c,) = streamt.plan_topics([topic(config={"some.password": "new-secret"})], live, policy())
    assert c.changes["config.some.password"] == ("<redacted>", "<redacted>")
    assert "secret" not in repr(c.to_json())


# -- against the real broker ------------------------------------------------------

@pytest.mark.services
def test_kafka_target_converges_and_records_the_cluster_id(kafka):
    rt = {"kafka": kafka.runtime()}
    name = "shop.t%s" % uuid.uuid4().hex[:8]
    desired = {"topics": [topic(name, partitions=2, config={"retention.ms": 86400000,
                                                            "cleanup.policy": "delete"})]}
    plan = streamt.plan_deploy(desired, rt, policy())
    assert [c.action for c in plan.changes] == ["create"]
    assert plan.cluster_id == kafka.cluster_id
    assert plan.targets["topic"].validate(plan.pending) == []   # validate_only
    # validate_only created nothing
    again = streamt.plan_deploy(desired, rt, policy())
    assert [c.action for c in again.changes] == ["create"]
    streamt.apply_plan(again)
    third = streamt.plan_deploy(desired, rt, policy())
    assert [c.action for c in third.changes] == ["unchanged"], third.render()
    # more partitions + a changed key: one update
    desired["topics"][0]["partitions"] = 4
    desired["topics"][0]["config"]["retention.ms"] = "3600000"
    plan = streamt.plan_deploy(desired, rt, policy())
    (c,) = plan.changes
    assert c.changes == {"partitions": (2, 4), "config.retention.ms": ("86400000", "3600000")}
    streamt.apply_plan(plan)
    assert [c.action for c in streamt.plan_deploy(desired, rt, policy()).changes] == ["unchanged"]
    # fewer partitions: refused when planning
    desired["topics"][0]["partitions"] = 1
    (c,) = streamt.plan_deploy(desired, rt, policy()).changes
    assert c.refused and "4 -> 1" in c.refused


@pytest.mark.services
def test_kafka_dry_run_reports_the_brokers_refusal(kafka):
    rt = {"kafka": kafka.runtime()}
    bad = {"topics": [topic("shop.bad%s" % uuid.uuid4().hex[:6], config={"cleanup.policy": "nonsense"})]}
    plan = streamt.plan_deploy(bad, rt, policy())
    errors = plan.targets["topic"].validate(plan.pending)
    assert errors and "cleanup.policy" in " ".join(errors) or "nonsense" in " ".join(errors)
