"""The harness's own failure paths: they must fail loudly, with the reason (no services needed)."""
import hashlib
import os

import pytest

from tests.services import harness


@pytest.fixture
def fake_repo(tmp_path, monkeypatch):
    """A Maven-layout repository on disk (file:// URLs work with urllib) and an empty cache."""
    repo = tmp_path / "repo"
    (repo / "g" / "a" / "1").mkdir(parents=True)
    jar = repo / "g" / "a" / "1" / "a-1.jar"
    jar.write_bytes(b"jar bytes")
    monkeypatch.setattr(harness, "MAVEN_REPO", "file://" + str(repo))
    monkeypatch.setenv("STREAMT_SERVICES_CACHE", str(tmp_path / "cache"))
    pins = tmp_path / "pins.txt"
    monkeypatch.setattr(harness, "PINS", str(pins))

    def pin(sha, rel="g/a/1/a-1.jar"):
        pins.write_text("# test\n%s  x/a-1.jar  maven:%s\n" % (sha, rel))

    return jar, pin


def test_a_pinned_file_is_fetched_verified_and_reused(fake_repo):
    jar, pin = fake_repo
    pin(hashlib.sha256(b"jar bytes").hexdigest())
    (path,) = harness.ensure_files("x/")
    with open(path, "rb") as f:
        assert f.read() == b"jar bytes"
    jar.unlink()  # the cache is used from now on: no download needed
    assert harness.ensure_files("x/") == [path]


def test_a_download_says_what_it_fetches_and_how_much(fake_repo, capsys):
    """`make services-up` on a fresh machine: the first run says it downloads, from where,
    and how much it got, instead of staying silent; a run from the cache says nothing."""
    jar, pin = fake_repo
    pin(hashlib.sha256(b"jar bytes").hexdigest())
    harness.ensure_files("x/")
    err = capsys.readouterr().err
    assert "fetching 1 pinned file(s) for x into" in err and "390 MB" in err
    assert "1 jar(s) from Maven Central" in err and "jars: 0.0 MB in" in err
    harness.ensure_files("x/")
    assert capsys.readouterr().err == ""


def test_a_checksum_mismatch_fails_with_the_reason(fake_repo):
    _, pin = fake_repo
    pin("0" * 64)
    with pytest.raises(harness.ServiceError, match="checksum mismatch for x/a-1.jar"):
        harness.ensure_files("x/")
    cache = os.environ["STREAMT_SERVICES_CACHE"]
    assert os.path.exists(os.path.join(cache, "x", "a-1.jar.bad"))  # kept aside for a look, never used
    assert not os.path.exists(os.path.join(cache, "x", "a-1.jar"))


def test_a_missing_download_fails_with_the_url(fake_repo):
    _, pin = fake_repo
    pin("0" * 64, rel="g/a/2/a-2.jar")
    with pytest.raises(harness.ServiceError, match="cannot download g/a/2/a-2.jar"):
        harness.ensure_files("x/")


def test_port_clashes_are_retried_then_reported():
    calls = []

    def start():
        calls.append(1)
        if len(calls) < 3:
            raise harness.PortClash("Address already in use")
        return "started"

    assert harness.with_port_retries(start) == "started"
    calls[:] = [0, 0]  # from now on every attempt clashes

    def always():
        raise harness.PortClash("java.net.BindException: Address already in use")

    with pytest.raises(harness.ServiceError, match="port clash 3 times in a row: .*BindException"):
        harness.with_port_retries(always)


def test_a_service_that_dies_fails_with_its_log_tail(tmp_path):
    run = harness.Run()
    try:
        proc = run.spawn("dies", ["sh", "-c", "echo 'something went wrong: reason 42'; exit 3"])
        with pytest.raises(harness.ServiceError, match="(?s)exited with code 3.*reason 42"):
            harness.wait_until("dies", lambda: False, [proc], timeout=10)
    finally:
        run.stop()


def _slots_needed(project_dir, env=None):
    """Slots the project's Flink jobs take when all run at once (one per parallel task)."""
    import streamt
    names = ("KAFKA_BOOTSTRAP", "KAFKA_PASSWORD", "SCHEMA_REGISTRY_URL", "SCHEMA_REGISTRY_USERNAME",
             "SCHEMA_REGISTRY_PASSWORD", "FLINK_REST_URL", "FLINK_SQL_GATEWAY_URL", "CONNECT_URL",
             "ARCHIVE_FILE")
    project = streamt.load_project(project_dir, env=env, environ=dict((n, "x") for n in names))
    jobs = streamt.compile_project(project)["flink_jobs"]
    return sum(int(j.get("parallelism") or 1) for j in jobs)


def test_flink_has_slots_for_the_largest_project_and_the_example(monkeypatch):
    # (issue 18) one TaskManager with 8 slots could not run a project of more than 8 jobs
    monkeypatch.delenv("STREAMT_FLINK_TASK_SLOTS", raising=False)
    need = (_slots_needed(os.path.join(harness.ROOT, "tests", "projects", "acceptance")) +
            _slots_needed(os.path.join(harness.ROOT, "examples", "shop"), "dev"))
    assert need > 8
    assert harness.flink_task_slots() >= need
    monkeypatch.setenv("STREAMT_FLINK_TASK_SLOTS", "40")
    assert harness.flink_task_slots() == 40
    monkeypatch.setenv("STREAMT_FLINK_TASK_SLOTS", "many")
    with pytest.raises(harness.ServiceError, match="STREAMT_FLINK_TASK_SLOTS"):
        harness.flink_task_slots()
