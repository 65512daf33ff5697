"""Typed artifacts: every JSON file of an artifact is held to its declared shape
(docs/artifact-format.md, "Shapes").  An artifact whose checksums all agree but whose
values have the wrong types is refused by every command that reads it, with exit 4 and
a message naming the file and the JSON path -- never a traceback."""
import hashlib
import json
import os
import tarfile

import pytest

import streamt
from tests._hostile import cli

HERE = os.path.dirname(os.path.abspath(__file__))
SHOP_TAR = os.path.join(HERE, "corpus", "artifact", "shop-dev.tar")


def unpack(dest):
    with tarfile.open(SHOP_TAR) as t:
        for m in t.getmembers():
            path = os.path.join(dest, m.name)
            if m.isdir():
                os.makedirs(path)
            else:
                if not os.path.isdir(os.path.dirname(path)):
                    os.makedirs(os.path.dirname(path))
                with open(path, "wb") as f:
                    f.write(t.extractfile(m).read())
    return dest


def reseal(root, manifest, files=None):
    """Write `files` ({path: bytes}) and `manifest`, with consistent checksums and
    SHA256SUMS: the artifact is damaged in its values only, never in its digests."""
    for rel, data in (files or {}).items():
        path = os.path.join(root, rel)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(data)
    sums = {}
    for dirpath, _dirs, names in os.walk(root):
        for fn in names:
            rel = os.path.relpath(os.path.join(dirpath, fn), root).replace(os.sep, "/")
            if rel not in ("manifest.json", "SHA256SUMS", "manifest.json.sig"):
                with open(os.path.join(root, rel), "rb") as f:
                    sums[rel] = hashlib.sha256(f.read()).hexdigest()
    if isinstance(manifest, dict):
        manifest["checksums"] = dict((k, "sha256:" + v) for k, v in sums.items())
        mbytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    else:
        mbytes = manifest
    with open(os.path.join(root, "manifest.json"), "wb") as f:
        f.write(mbytes)
    sums["manifest.json"] = hashlib.sha256(mbytes).hexdigest()
    with open(os.path.join(root, "SHA256SUMS"), "w") as f:
        f.write("".join("%s  %s\n" % (sums[k], k) for k in sorted(sums)))


def manifest_of(root):
    with open(os.path.join(root, "manifest.json")) as f:
        return json.load(f)


def _deep(n):
    return "[" * n + "]" * n


# (case, how to damage the artifact, what the message names)
def _topics_five(m):
    m["resources"]["topics"] = 5
    return {}


def _state_without_name(m):
    m["resources"]["state"] = [{"file": "state/kafka.json"}]
    return {"state/kafka.json": b"{}"}


def _partitions_string(m):
    return {"topics/shop.orders.clean.v1.json": json.dumps(
        {"name": "shop.orders.clean.v1", "partitions": "3", "replication_factor": 1,
         "config": {}, "model": "orders_clean"}).encode()}


def _config_not_a_map(m):
    return {"connectors/revenue_archive.json": b'{"name": "revenue_archive", "config": [1]}'}


def _environment_a_list(m):
    return {"environment.json": b"[]"}


def _gateway_an_object(m):
    return {"gateway/virtual_topics.json": b'{"kind": 5}'}


def _meta_a_list(m):
    m["resources"]["flink_jobs"][0]["meta"] = ["x"]
    return {}


def _required_env_ints(m):
    m["required_env"] = [1, 2]
    return {}


def _runtime_deep(m):
    return {"environment.json": ('{"name": "dev", "runtime": {"x": %s}}' % _deep(500)).encode()}


def _state_deep(m):
    m["resources"]["state"] = [{"name": "kafka", "file": "state/kafka.json"}]
    return {"state/kafka.json": _deep(100000).encode()}


def _tests_assertions_a_string(m):
    m["resources"]["tests"] = {"file": "tests.json"}
    return {"tests.json": json.dumps([{
        "name": "t", "type": "sample", "model": "orders", "node": "source:orders",
        "topic": "shop.orders.raw.v1", "assertions": "not_null"}]).encode()}


def _tests_sample_size_text(m):
    m["resources"]["tests"] = {"file": "tests.json"}
    return {"tests.json": json.dumps([{
        "name": "t", "type": "sample", "model": "orders", "node": "source:orders",
        "topic": None, "sample_size": "100", "assertions": []}]).encode()}


CASES = [
    ("resources.topics: 5", _topics_five, "manifest.json: $.resources.topics: expected an array"),
    ("state entry without name", _state_without_name, "manifest.json: $.resources.state[0].name: missing"),
    ("partitions as a string", _partitions_string,
     "topics/shop.orders.clean.v1.json: $.partitions: expected an integer, found a string"),
    ("connector config a list", _config_not_a_map,
     "connectors/revenue_archive.json: $.config: expected an object, found an array"),
    ("environment.json a list", _environment_a_list, "environment.json: $: expected an object"),
    ("gateway an object", _gateway_an_object, "gateway/virtual_topics.json: $: expected an array"),
    ("flink meta a list", _meta_a_list, "manifest.json: $.resources.flink_jobs[0].meta: expected an object"),
    ("required_env numbers", _required_env_ints, "manifest.json: $.required_env[0]: expected a string"),
    ("runtime 500 deep", _runtime_deep, "environment.json: $.runtime.x: nested more than 64 deep"),
    ("state 100k deep", _state_deep, "state/kafka.json: nested too deep to read"),
    ("tests assertions a string", _tests_assertions_a_string,
     "tests.json: $[0].assertions: expected an array, found a string"),
    ("tests sample_size a string", _tests_sample_size_text,
     "tests.json: $[0].sample_size: expected an integer or null, found a string"),
]


@pytest.mark.parametrize("case,damage,said", CASES, ids=[c[0] for c in CASES])
def test_a_wrong_shape_is_refused_by_every_reader(tmp_path, case, damage, said):
    good = unpack(str(tmp_path / "good"))
    bad = unpack(str(tmp_path / "bad"))
    m = manifest_of(bad)
    reseal(bad, m, damage(m))
    for args in (["artifact", "verify", bad], ["artifact", "inspect", bad],
                 ["artifact", "inspect", bad, "--component", "topics", "--format", "json"],
                 ["artifact", "diff", good, bad], ["artifact", "diff", bad, good],
                 ["artifact", "docs", bad, "-o", str(tmp_path / "page")],
                 ["deploy", bad, "--dry-run"], ["status", bad], ["test", bad]):
        r = cli(*args)
        assert r.returncode == streamt.EXIT_INTEGRITY, (args, r)
        assert said in r.stderr, (args, r)
    with pytest.raises(streamt.IntegrityError):
        streamt.read_artifact(bad)
    assert not os.path.exists(str(tmp_path / "page"))


def test_the_shop_artifact_has_its_shape(tmp_path):
    """The declared shapes accept what `streamt build` writes."""
    good = unpack(str(tmp_path / "good"))
    r = cli("artifact", "verify", good)
    assert r.returncode == 0, r
    for name in ("shop-dev.tar.gz", "shop-dev.tar.xz"):
        art = streamt.read_artifact(os.path.join(HERE, "corpus", "artifact", name))
        assert streamt.verify_artifact(art)["files"] == 13


def test_a_manifest_nested_100k_deep_is_refused(tmp_path):
    bad = unpack(str(tmp_path / "bad"))
    reseal(bad, ('{"version": "1.0.0", "x": %s}' % _deep(100000)).encode())
    r = cli("artifact", "verify", bad)
    assert r.returncode == streamt.EXIT_INTEGRITY, r
    assert "manifest.json is nested too deep" in r.stderr


def test_a_directory_1500_levels_deep_is_refused(tmp_path):
    bad = unpack(str(tmp_path / "bad"))
    made = [bad]
    for _ in range(1500):  # os.makedirs and shutil.rmtree recurse: one level at a time
        made.append(os.path.join(made[-1], "d"))
        os.mkdir(made[-1])
    try:
        r = cli("artifact", "verify", bad)
    finally:
        for path in reversed(made[1:]):
            os.rmdir(path)
    assert r.returncode == streamt.EXIT_INTEGRITY, r
    assert "directories nested more than 8 deep" in r.stderr


def test_a_build_carries_its_tests_in_the_declared_shape(tmp_path):
    """tests.json: what `streamt test ARTIFACT` needs; an artifact built before it has no
    tests, and `streamt test` says so rather than passing nothing."""
    out = str(tmp_path / "shop")
    r = cli("build", "-p", os.path.join(HERE, "..", "examples", "shop"), "-e", "dev", "-o", out)
    assert r.returncode == 0, r
    art = streamt.read_artifact(out)
    streamt.verify_artifact(art)
    assert "tests.json" in art.files
    (t,) = art.desired["tests"]
    assert (t["name"], t["type"], t["node"], t["topic"], t["job"], t["failures_topic"]) == (
        "orders_clean_quality", "continuous", "model:orders_clean", "shop.orders.clean.v1",
        "streamt.shop.test.orders_clean_quality", "_streamt_test_failures")
    assert art.manifest["resources"]["tests"] == {"file": "tests.json"}
    assert art.manifest["components"]["tests"] == ["orders_clean_quality"]
    old = unpack(str(tmp_path / "old"))
    assert "tests" not in streamt.read_artifact(old).desired
    r = cli("test", old)
    assert r.returncode == streamt.EXIT_USAGE, r
    assert "the artifact holds no tests" in r.stderr and "rebuild it" in r.stderr
