"""Artifacts: build, read, verify, inspect, diff; determinism, hostile archives, git metadata."""
import copy
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile

import pytest

import streamt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOP = os.path.join(ROOT, "examples", "shop")
STREAMT = os.path.join(ROOT, "streamt.py")
HAVE_GIT = shutil.which("git") is not None

DESIRED = {
    "topics": [
        {"name": "Shop.Orders", "partitions": 1, "replication_factor": 1, "config": {},
         "model": None},
        {"name": "shop.orders", "partitions": 1, "replication_factor": 1, "config": {},
         "model": None},
        {"name": "shop.orders.clean.v1", "partitions": 3, "replication_factor": 1,
         "config": {"cleanup.policy": "delete", "retention.ms": "604800000"},
         "model": "orders_clean"},
    ],
    "schemas": [
        {"subject": "shop.orders.v1-value", "schema_type": "AVRO",
         "schema": '{"type": "record", "name": "Order", "fields": []}',
         "compatibility": "BACKWARD", "source": "orders"},
        {"subject": "shop.proto-value", "schema_type": "PROTOBUF",
         "schema": 'syntax = "proto3";\nmessage A { string a = 1; }\n',
         "compatibility": None, "source": "p"},
    ],
    "flink_jobs": [
        {"name": "orders_clean", "model": "orders_clean", "kind": "model", "cluster": "local",
         "pipeline_name": "streamt.shop.orders_clean", "fingerprint": "sha256:" + "0" * 64,
         "on_upgrade": "savepoint",
         "sql": "CREATE TABLE `x` (a STRING) WITH ("
                "'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP}');\n"
                "INSERT INTO `y` SELECT a FROM `x`;\n"},
    ],
    "connectors": [
        {"name": "revenue archive/\u00e9", "cluster": "local",
         "config": {"connector.class": "FileStreamSink", "file": "${ARCHIVE_FILE}",
                    "tasks.max": "1"}},
    ],
    "gateway": [
        {"apiVersion": "gateway/v2", "kind": "AliasTopic", "metadata": {"name": "orders"},
         "spec": {"physicalName": "shop.orders.v1"}},
    ],
    "environment": {
        "name": "dev", "protected": False,
        "safety": {"confirm_apply": False, "allow_destructive": True,
                   "require_signature": False},
        "runtime": {"kafka": {"bootstrap_servers": "${KAFKA_BOOTSTRAP}",
                              "sasl_password": "${KAFKA_PASSWORD}"}},
    },
}


def run_cli(*args, **kw):
    env = kw.pop("env", None)
    cwd = kw.pop("cwd", ROOT)
    full_env = dict(os.environ)
    full_env.pop("SOURCE_DATE_EPOCH", None)
    full_env.pop("STREAMT_SIGNING_KEY_FILE", None)
    for k, v in (env or {}).items():
        if v is None:
            full_env.pop(k, None)
        else:
            full_env[k] = v
    return subprocess.run([sys.executable, STREAMT] + list(args), cwd=cwd, env=full_env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def write(desired, out, **kw):
    kw.setdefault("project_name", "shop")
    kw.setdefault("project_version", "1.2.0")
    kw.setdefault("build_epoch", 1700000000)
    return streamt.write_artifact(desired, str(out), **kw)


def git(cwd, *args, **kw):
    env = dict(os.environ)
    env.update({"GIT_AUTHOR_DATE": "2024-01-02T03:04:05Z",
                "GIT_COMMITTER_DATE": "2024-01-02T03:04:05Z",
                "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd)})
    env.update(kw.pop("env", {}))
    return subprocess.check_output(["git", "-c", "init.defaultBranch=main",
                                    "-c", "commit.gpgsign=false"] + list(args),
                                   cwd=str(cwd), env=env).decode()


@pytest.fixture
def repo(tmp_path):
    """A git repository holding a copy of the example project under proj/."""
    if not HAVE_GIT:
        pytest.skip("needs git to create the repository")
    top = tmp_path / "repo"
    top.mkdir()
    shutil.copytree(SHOP, str(top / "proj"))
    (top / "README").write_text("outside the project\n")
    git(top, "init", "-q")
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", "first")
    return top


# -- round trip, layout ------------------------------------------------------------

@pytest.mark.parametrize("name", ["d", "d.tar.gz", "d.tgz", "d.tar.xz", "d.tar"])
def test_read_gives_back_exactly_the_desired_state(tmp_path, name):
    write(DESIRED, tmp_path / name)
    art = streamt.read_artifact(str(tmp_path / name))
    assert art.desired == DESIRED
    assert art.problems == []
    streamt.verify_artifact(art)


def test_directory_and_tarballs_hold_the_same_files(tmp_path):
    for name in ("d", "d.tar.gz", "d.tar.xz", "d.tar"):
        write(DESIRED, tmp_path / name)
    arts = [streamt.read_artifact(str(tmp_path / n)) for n in ("d", "d.tar.gz", "d.tar.xz",
                                                               "d.tar")]
    assert all(a.files == arts[0].files for a in arts)
    assert all(a.manifest == arts[0].manifest for a in arts)


def test_layout_and_manifest_fields(tmp_path):
    files, _ = write(DESIRED, tmp_path / "d")
    names = sorted(files)
    for required in ("manifest.json", "SHA256SUMS", "environment.json",
                     "gateway/virtual_topics.json", "flink/orders_clean.sql",
                     "topics/shop.orders.clean.v1.json", "schemas/shop.orders.v1-value.avsc",
                     "schemas/shop.proto-value.proto"):
        assert required in names
    m = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert m["version"] == "1.0.0"
    assert m["build_time"] == "2023-11-14T22:13:20Z"
    assert m["project"] == {"name": "shop", "version": "1.2.0"}
    assert m["environment"] == "dev"
    assert m["secrets_resolved"] is False
    assert m["required_env"] == ["ARCHIVE_FILE", "KAFKA_BOOTSTRAP", "KAFKA_PASSWORD"]
    assert m["generator"]["name"] == "streamt"
    assert m["components"]["topics"] == ["Shop.Orders", "shop.orders", "shop.orders.clean.v1"]
    # checksums cover every file but the manifest, SHA256SUMS and signatures
    assert sorted(m["checksums"]) == sorted(set(names) - {"manifest.json", "SHA256SUMS"})
    for path, digest in m["checksums"].items():
        data = (tmp_path / "d" / path).read_bytes()
        assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
    raw = (tmp_path / "d" / "manifest.json").read_text()
    assert raw == streamt.canonical_json(m)  # canonical: sorted, 2-space, final newline
    # the SQL file is the SQL, as is
    assert (tmp_path / "d" / "flink" / "orders_clean.sql").read_text() == \
        DESIRED["flink_jobs"][0]["sql"]
    conn = json.loads((tmp_path / "d" / m["resources"]["connectors"][0]["file"]).read_text())
    assert conn == {"name": "revenue archive/\u00e9", "config": DESIRED["connectors"][0]["config"]}


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs sha256sum")
def test_sha256sum_accepts_the_built_directory(tmp_path):
    write(DESIRED, tmp_path / "d")
    r = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=str(tmp_path / "d"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"manifest.json: OK" in r.stdout


def test_file_names_are_safe_distinct_and_reversible():
    names = ["orders", "Orders", "a/b", "..", ".hidden", "con", "NUL.txt", "x" * 300,
             "caf\u00e9", "a b%c", "", "trailing."]
    for n in names:
        f = streamt.artifact_file_name(n)
        assert set(f) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                             "0123456789._-%~")
        assert not f.startswith(".") and not f.endswith(".") and len(f) <= 80
        assert f.split(".")[0].lower() not in ("con", "nul")
        if "~" not in f:
            assert streamt._FileNames.unescape(f) == n
    files = streamt.render_artifact({"topics": [
        {"name": n, "partitions": 1, "replication_factor": 1, "config": {}}
        for n in ("orders", "Orders", "ORDERS", "x" * 300, "x" * 299 + "y")]})
    topic_files = [p for p in files if p.startswith("topics/")]
    assert len(topic_files) == 5
    assert len(set(p.lower() for p in topic_files)) == 5  # also on case-insensitive disks


# -- determinism --------------------------------------------------------------------

def _tar_bytes(path):
    data = open(path, "rb").read()
    import gzip
    return gzip.decompress(data) if path.endswith(".gz") else data


def test_tar_members_are_normalised(tmp_path):
    write(DESIRED, tmp_path / "a.tar.gz")
    with tarfile.open(str(tmp_path / "a.tar.gz")) as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    assert names[0] == "SHA256SUMS" and "topics" in names
    assert names.index("topics") < names.index("topics/shop.orders.clean.v1.json")
    for m in members:
        assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", 1700000000)
        assert m.mode == (0o755 if m.isdir() else 0o644)
    raw = open(str(tmp_path / "a.tar.gz"), "rb").read()
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert raw[3] & 0x08 == 0  # no file name in the gzip header


def test_gzip_is_level_6_in_a_fixed_header():
    # The tarball is deflated at level 6 (build time; docs/artifact-format.md) inside a
    # header written by hand: the same 10 bytes on every Python, and from 3.7 on exactly
    # what gzip.GzipFile(compresslevel=6, mtime=0, filename="") writes.
    import gzip
    tar = streamt.deterministic_tar(streamt.render_artifact(DESIRED, build_epoch=1700000000))
    data = streamt.Archive.compress(tar, "tar.gz")
    assert data[:10] == b"\x1f\x8b\x08\x00\0\0\0\0\x00\xff"
    assert gzip.decompress(data) == tar
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=0, filename="") as gz:
        gz.write(tar)
    assert data == buf.getvalue()
    for tar in (b"", b"x" * 100000):
        assert gzip.decompress(streamt.Archive.compress(tar, "tar.gz")) == tar


def test_same_input_same_bytes_whatever_cwd_tz_umask(tmp_path, repo):
    outs = []
    for i, (tz, umask, lc) in enumerate([("UTC", 0o022, "C"), ("Asia/Tokyo", 0o077, "C.UTF-8"),
                                         ("America/New_York", 0o002, "POSIX")]):
        cwd = tmp_path / ("cwd%d" % i)
        cwd.mkdir()
        out = cwd / "out.tar.gz"
        r = run_cli("build", "-p", str(repo / "proj"), "-e", "dev", "-o", str(out), cwd=str(cwd),
                    env={"TZ": tz, "LC_ALL": lc},
                    preexec_fn=lambda m=umask: os.umask(m))
        assert r.returncode == 0, r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]
    m = json.loads(tarfile.open(fileobj=io.BytesIO(outs[0])).extractfile("manifest.json").read())
    assert m["build_time"] == "2024-01-02T03:04:05Z"  # the commit time, not the clock
    # SOURCE_DATE_EPOCH set to the commit time gives the very same bytes
    out = tmp_path / "sde.tar.gz"
    r = run_cli("build", "-p", str(repo / "proj"), "-e", "dev", "-o", str(out),
                env={"SOURCE_DATE_EPOCH": "1704164645"})
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == outs[0]
    # another SOURCE_DATE_EPOCH only changes the recorded time
    r = run_cli("build", "-p", str(repo / "proj"), "-e", "dev", "-o", str(tmp_path / "o2"),
                env={"SOURCE_DATE_EPOCH": "0"})
    m2 = json.loads((tmp_path / "o2" / "manifest.json").read_text())
    assert m2["build_time"] == "1970-01-01T00:00:00Z"


def test_directory_build_matches_tarball_and_stdout(tmp_path, repo):
    proj = str(repo / "proj")
    assert run_cli("build", "-p", proj, "-e", "dev", "-o", str(tmp_path / "d")).returncode == 0
    assert run_cli("build", "-p", proj, "-e", "dev", "-o",
                   str(tmp_path / "t.tar.gz")).returncode == 0
    r = run_cli("build", "-p", proj, "-e", "dev", "-o", "-")
    assert r.returncode == 0
    assert r.stdout == (tmp_path / "t.tar.gz").read_bytes()
    a = streamt.read_artifact(str(tmp_path / "d"))
    b = streamt.read_artifact(str(tmp_path / "t.tar.gz"))
    assert a.files == b.files
    for dirpath, dirs, files in os.walk(str(tmp_path / "d")):
        for f in files:
            assert stat.S_IMODE(os.stat(os.path.join(dirpath, f)).st_mode) == 0o644


def test_outside_git_without_source_date_epoch_uses_epoch_zero(tmp_path):
    proj = tmp_path / "proj"
    shutil.copytree(SHOP, str(proj))
    r = run_cli("build", "-p", str(proj), "-e", "dev", "-o", str(tmp_path / "d"),
                cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert m["git"] is None and m["build_time"] == "1970-01-01T00:00:00Z"


# -- output handling, errors --------------------------------------------------------

def test_existing_output_needs_force_and_is_replaced_atomically(tmp_path):
    out = tmp_path / "d"
    assert run_cli("build", "-p", SHOP, "-e", "dev", "-o", str(out)).returncode == 0
    (out / "old").write_text("x")  # an earlier artifact (--force replaces only those)
    r = run_cli("build", "-p", SHOP, "-e", "dev", "-o", str(out))
    assert r.returncode == 1 and b"--force" in r.stderr
    assert (out / "old").exists()
    r = run_cli("build", "-p", SHOP, "-e", "dev", "-o", str(out), "--force")
    assert r.returncode == 0, r.stderr
    assert not (out / "old").exists() and (out / "manifest.json").exists()
    assert sorted(os.listdir(str(tmp_path))) == ["d"]  # no temporary left behind


def test_invalid_project_exits_3_and_writes_nothing(tmp_path):
    proj = tmp_path / "proj"
    shutil.copytree(SHOP, str(proj))
    with open(str(proj / "models" / "orders.yml"), "a") as f:
        f.write("\n  - name: broken\n    sql: SELECT * FROM {{ ref(\"nope\") }}\n")
    r = run_cli("build", "-p", str(proj), "-e", "dev", "-o", str(tmp_path / "out" / "d"))
    assert r.returncode == 3
    assert b"nope" in r.stderr and b"Traceback" not in r.stderr
    assert not (tmp_path / "out").exists() or os.listdir(str(tmp_path / "out")) == []


# -- secrets ------------------------------------------------------------------------

def test_resolve_secrets_needs_every_variable_and_names_them_all(tmp_path):
    proj = tmp_path / "proj"
    shutil.copytree(SHOP, str(proj))
    for name in os.listdir(str(proj)):
        if name.startswith(".env"):
            os.remove(str(proj / name))
    env = dict((k, None) for k in ("KAFKA_BOOTSTRAP", "SCHEMA_REGISTRY_URL", "CONNECT_URL",
                                   "ARCHIVE_FILE", "FLINK_REST_URL", "FLINK_SQL_GATEWAY_URL"))
    r = run_cli("build", "-p", str(proj), "-e", "dev", "-o", str(tmp_path / "d"),
                "--resolve-secrets", env=env)
    assert r.returncode == 1, r.stderr
    for name in ("KAFKA_BOOTSTRAP", "SCHEMA_REGISTRY_URL", "CONNECT_URL", "ARCHIVE_FILE"):
        assert name.encode() in r.stderr
    assert not (tmp_path / "d").exists()


def test_resolve_secrets_writes_private_files_and_warns(tmp_path):
    env = {"KAFKA_BOOTSTRAP": "k:9092", "ARCHIVE_FILE": "/tmp/pa$$word$x"}
    r = run_cli("build", "-p", SHOP, "-e", "dev", "-o", str(tmp_path / "d"),
                "--resolve-secrets", env=env)
    assert r.returncode == 0, r.stderr
    assert b"CONTAINS SECRETS" in r.stderr
    for dirpath, dirs, files in os.walk(str(tmp_path / "d")):
        assert stat.S_IMODE(os.stat(dirpath).st_mode) == 0o700
        for f in files:
            assert stat.S_IMODE(os.stat(os.path.join(dirpath, f)).st_mode) == 0o600
    art = streamt.read_artifact(str(tmp_path / "d"))
    assert art.manifest["secrets_resolved"] is True and art.manifest["required_env"] == []
    assert streamt.Variables.names(art.desired) == []
    sql = "".join(j["sql"] for j in art.desired["flink_jobs"])
    assert "k:9092" in sql and "${KAFKA_BOOTSTRAP}" not in sql
    # deploy substitutes the artifact as usual and gets the exact value back
    conn = streamt.Variables.substitute(art.desired["connectors"][0]["config"], {})
    assert conn["file"] == "/tmp/pa$$word$x"
    r = run_cli("build", "-p", SHOP, "-e", "dev", "-o", str(tmp_path / "t.tar.gz"),
                "--resolve-secrets", env=env)
    assert stat.S_IMODE(os.stat(str(tmp_path / "t.tar.gz")).st_mode) == 0o600
    with tarfile.open(str(tmp_path / "t.tar.gz")) as tf:
        assert set(m.mode for m in tf.getmembers()) == {0o600, 0o700}


# -- hostile archives -----------------------------------------------------------------

def _tar_with(path, members):
    with tarfile.open(str(path), "w:gz", format=tarfile.PAX_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)


def _reg(name, data=b"x"):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    return ti, data


def _special(name, kind, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = linkname
    return ti, None


HOSTILE = {
    "absolute": [_reg("manifest.json", b"{}"), _reg("/etc/evil")],
    "dotdot": [_reg("manifest.json", b"{}"), _reg("topics/../../evil")],
    "symlink": [_reg("manifest.json", b"{}"), _special("topics/x.json", tarfile.SYMTYPE,
                                                       "/etc/passwd")],
    "hardlink": [_reg("manifest.json", b"{}"), _special("topics/x.json", tarfile.LNKTYPE,
                                                        "manifest.json")],
    "device": [_reg("manifest.json", b"{}"), _special("dev", tarfile.CHRTYPE)],
    "fifo": [_reg("manifest.json", b"{}"), _special("fifo", tarfile.FIFOTYPE)],
    "duplicate": [_reg("manifest.json", b"{}"), _reg("manifest.json", b"{\"a\": 1}")],
    "non-utf8": [_reg("manifest.json", b"{}"), _reg(b"caf\xe9".decode("utf-8",
                                                                     "surrogateescape"))],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused_and_nothing_is_written(tmp_path, case):
    path = tmp_path / "evil.tar.gz"
    _tar_with(path, HOSTILE[case])
    before = sorted(os.listdir(str(tmp_path)))
    with pytest.raises(streamt.IntegrityError) as e:
        streamt.read_artifact(str(path))
    assert e.value.details
    for cmd in (["artifact", "verify", str(path)], ["artifact", "inspect", str(path)]):
        r = run_cli(*cmd, cwd=str(tmp_path))
        assert r.returncode == 4, r.stderr
        assert b"refused" in r.stderr and b"Traceback" not in r.stderr
    assert sorted(os.listdir(str(tmp_path))) == before
    assert not os.path.exists("/etc/evil")


def test_every_hostile_member_is_listed(tmp_path):
    path = tmp_path / "evil.tar"
    members = HOSTILE["absolute"] + HOSTILE["symlink"][1:] + HOSTILE["fifo"][1:]
    _tar_with(path, members)
    with pytest.raises(streamt.IntegrityError) as e:
        streamt.read_artifact(str(path))
    assert len(e.value.details) == 3


def test_size_and_count_limits(tmp_path, monkeypatch):
    path = tmp_path / "big.tar.gz"
    _tar_with(path, [_reg("manifest.json", b"{}"), _reg("big", b"\0" * 5000)])
    monkeypatch.setattr(streamt, "ARTIFACT_MAX_MEMBER", 4096)
    with pytest.raises(streamt.IntegrityError, match="refused"):
        streamt.read_artifact(str(path))
    monkeypatch.setattr(streamt, "ARTIFACT_MAX_MEMBER", 1 << 20)
    monkeypatch.setattr(streamt, "ARTIFACT_MAX_TOTAL", 8000)  # also the gzip-bomb guard
    with pytest.raises(streamt.IntegrityError, match="more than"):
        streamt.read_artifact(str(path))
    monkeypatch.setattr(streamt, "ARTIFACT_MAX_TOTAL", 1 << 20)
    many = tmp_path / "many.tar"
    _tar_with(many, [_reg("manifest.json", b"{}")] + [_reg("f%d" % i) for i in range(30)])
    monkeypatch.setattr(streamt, "ARTIFACT_MAX_MEMBERS", 20)
    with pytest.raises(streamt.IntegrityError) as e:
        streamt.read_artifact(str(many))
    assert "more than 20 members" in str(e.value)


def test_symlink_in_a_directory_artifact_is_refused(tmp_path):
    write(DESIRED, tmp_path / "d")
    os.symlink("/etc/passwd", str(tmp_path / "d" / "topics" / "evil.json"))
    r = run_cli("artifact", "verify", str(tmp_path / "d"))
    assert r.returncode == 4 and b"links are not allowed" in r.stderr


# -- verify ---------------------------------------------------------------------------

def test_verify_lists_every_problem(tmp_path):
    write(DESIRED, tmp_path / "d")
    d = tmp_path / "d"
    (d / "topics" / "shop.orders.clean.v1.json").write_text('{"name": "changed"}\n')
    (d / "flink" / "orders_clean.sql").unlink()
    (d / "topics" / "extra.json").write_text("{}\n")
    sums = (d / "SHA256SUMS").read_text().replace("environment.json", "environment.jsonx")
    (d / "SHA256SUMS").write_text(sums)
    r = run_cli("artifact", "verify", str(d))
    assert r.returncode == 4
    err = r.stderr.decode()
    assert "topics/shop.orders.clean.v1.json: checksum mismatch" in err
    assert "flink/orders_clean.sql: listed in the manifest but missing" in err
    assert "topics/extra.json: not listed in the manifest" in err
    assert "SHA256SUMS: environment.json is missing" in err
    assert "Traceback" not in err


def test_verify_ok_and_json(tmp_path):
    write(DESIRED, tmp_path / "d.tar.xz")
    r = run_cli("artifact", "verify", str(tmp_path / "d.tar.xz"), "--format", "json")
    assert r.returncode == 0
    doc = json.loads(r.stdout.decode())
    assert doc["ok"] is True and doc["signature"] is None
    r = run_cli("artifact", "verify", str(tmp_path / "d.tar.xz"), "--require-signature")
    assert r.returncode == 4 and b"not signed" in r.stderr


def _keypair(tmp_path):
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs ssh-keygen to make a key")
    key = tmp_path / "key"
    subprocess.check_call(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci@example.com",
                           "-f", str(key)])
    pub = (tmp_path / "key.pub").read_text().split()
    signers = tmp_path / "allowed_signers"
    signers.write_text("ci@example.com %s %s\n" % (pub[0], pub[1]))
    return key, signers


def test_signed_build_verifies_and_tampering_is_caught(tmp_path):
    key, signers = _keypair(tmp_path)
    out = tmp_path / "d"
    r = run_cli("build", "-p", SHOP, "-e", "dev", "-o", str(out), "--sign-key", str(key))
    assert r.returncode == 0, r.stderr
    assert (out / "manifest.json.sig").exists()
    r = run_cli("artifact", "verify", str(out), "--allowed-signers", str(signers),
                "--require-signature")
    assert r.returncode == 0, r.stderr
    assert b"ci@example.com" in r.stdout
    # ssh-keygen itself accepts the signature of manifest.json
    v = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", "ci@example.com",
                        "-n", "streamt", "-s", str(out / "manifest.json.sig")],
                       stdin=open(str(out / "manifest.json"), "rb"), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    assert v.returncode == 0, v.stderr
    r = run_cli("artifact", "inspect", str(out))
    assert b"signed with ssh-ed25519 SHA256:" in r.stdout
    # a manifest changed after signing: checksums still match themselves, signature fails
    m = json.loads((out / "manifest.json").read_text())
    m["environment"] = "prod"
    (out / "manifest.json").write_text(streamt.canonical_json(m))
    r = run_cli("artifact", "verify", str(out), "--allowed-signers", str(signers))
    assert r.returncode == 4 and b"signature" in r.stderr
    # an unknown signer
    other = tmp_path / "other_signers"
    other.write_text("x@example.com ssh-ed25519 "
                     "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ\n")
    r = run_cli("build", "-p", SHOP, "-e", "dev", "-o", str(tmp_path / "e"), "--sign-key",
                str(key))
    r = run_cli("artifact", "verify", str(tmp_path / "e"), "--allowed-signers", str(other))
    assert r.returncode == 4


# -- inspect, diff -----------------------------------------------------------------------

def test_inspect_text_json_and_components(tmp_path):
    write(DESIRED, tmp_path / "d.tgz")
    r = run_cli("artifact", "inspect", str(tmp_path / "d.tgz"))
    assert r.returncode == 0
    text = r.stdout.decode()
    for want in ("shop 1.2.0", "environment  dev", "2023-11-14T22:13:20Z", "unsigned",
                 "deploy needs ARCHIVE_FILE, KAFKA_BOOTSTRAP, KAFKA_PASSWORD",
                 "shop.orders.clean.v1  partitions=3", "AliasTopic/orders"):
        assert want in text
    r = run_cli("artifact", "inspect", str(tmp_path / "d.tgz"), "--component", "flink")
    assert "INSERT INTO `y` SELECT a FROM `x`;" in r.stdout.decode()
    r = run_cli("artifact", "inspect", str(tmp_path / "d.tgz"), "--format", "json")
    doc = json.loads(r.stdout.decode())
    assert doc["counts"]["topics"] == 3 and doc["environment"] == "dev"
    assert doc["components"]["connectors"] == ["revenue archive/\u00e9"]


def test_inspect_lists_the_data_tests_an_artifact_carries(tmp_path):
    # what `streamt test ARTIFACT` will run is visible before going to the bastion
    r = run_cli("build", "-p", "examples/shop", "-e", "dev", "-o", str(tmp_path / "shop"))
    assert r.returncode == 0, r.stderr
    r = run_cli("artifact", "inspect", str(tmp_path / "shop"))
    text = r.stdout.decode()
    assert "tests (1)\n  orders_clean_quality  continuous on model:orders_clean" in text, text
    r = run_cli("artifact", "inspect", str(tmp_path / "shop"), "--format", "json")
    assert json.loads(r.stdout.decode())["tests"] == ["orders_clean_quality"]
    old = os.path.join(os.path.dirname(__file__), "corpus", "artifact", "shop-dev.tar")
    r = run_cli("artifact", "inspect", old)   # built before artifacts carried tests.json
    assert "tests: none carried" in r.stdout.decode() and "rebuild" in r.stdout.decode()
    assert json.loads(run_cli("artifact", "inspect", old, "--format", "json")
                      .stdout.decode())["tests"] is None


def test_diff_counts_removed_comment_lines_of_the_sql(tmp_path):
    # (issue 18) a removed "-- ..." line shows as "---" in a unified diff and was
    # skipped as if it were the file header: "+2 -1 lines" for two removed, two added
    old = copy.deepcopy(DESIRED)
    old["flink_jobs"][0]["sql"] = "-- fingerprint: aaa\n" + old["flink_jobs"][0]["sql"]
    new = copy.deepcopy(DESIRED)
    new["flink_jobs"][0]["sql"] = "-- fingerprint: bbb\n" + new["flink_jobs"][0]["sql"].replace(
        "SELECT a", "SELECT b")
    write(old, tmp_path / "a")
    write(new, tmp_path / "b")
    r = run_cli("artifact", "diff", str(tmp_path / "a"), str(tmp_path / "b"))
    text = r.stdout.decode()
    assert "sql: +2 -2 lines" in text, text
    assert "--- fingerprint: aaa" in text and "+-- fingerprint: bbb" in text
    r = run_cli("artifact", "diff", str(tmp_path / "a"), str(tmp_path / "b"), "--format", "json")
    sql = [c for c in json.loads(r.stdout.decode())["changes"] if c["kind"] == "flink_jobs"][0]["sql"]
    assert (sql["added"], sql["removed"]) == (2, 2)


def test_diff_reports_what_changed_and_redacts_secrets(tmp_path):
    new = copy.deepcopy(DESIRED)
    new["topics"][2]["partitions"] = 6
    new["topics"] = new["topics"][1:]  # Shop.Orders removed
    new["connectors"].append({"name": "added", "cluster": "local", "config": {}})
    new["flink_jobs"][0]["sql"] = new["flink_jobs"][0]["sql"].replace("SELECT a", "SELECT b")
    new["environment"]["runtime"]["kafka"]["sasl_password"] = "hunter2"
    write(DESIRED, tmp_path / "a")
    write(new, tmp_path / "b.tar.gz")
    r = run_cli("artifact", "diff", str(tmp_path / "a"), str(tmp_path / "b.tar.gz"))
    assert r.returncode == 0
    text = r.stdout.decode()
    assert "partitions: 3 -> 6" in text
    assert "- topic Shop.Orders (removed)" in text
    assert "+ connector added (added)" in text
    assert "sql: +1 -1 lines" in text and "+INSERT INTO `y` SELECT b" in text
    assert "hunter2" not in text and "<redacted>" in text
    r = run_cli("artifact", "diff", str(tmp_path / "a"), str(tmp_path / "b.tar.gz"),
                "--detailed-exitcode", "--format", "json")
    assert r.returncode == 8
    changes = json.loads(r.stdout.decode())["changes"]
    assert {(c["kind"], c["name"], c["change"]) for c in changes} >= {
        ("topics", "shop.orders.clean.v1", "changed"), ("topics", "Shop.Orders", "removed"),
        ("connectors", "added", "added"), ("flink_jobs", "orders_clean", "changed")}
    r = run_cli("artifact", "diff", str(tmp_path / "a"), str(tmp_path / "a"),
                "--detailed-exitcode")
    assert r.returncode == 0 and b"no differences" in r.stdout


def test_diff_prints_values_in_its_own_format(tmp_path):
    """artifact diff quotes text and says (none) for a key that is not there (the plan's
    "(unset)" and bare text are the plan's format, not the diff's)."""
    new = copy.deepcopy(DESIRED)
    cfg = new["topics"][2]["config"]
    cfg["cleanup.policy"] = "compact"
    cfg["max.message.bytes"] = "200000"
    write(DESIRED, tmp_path / "a")
    write(new, tmp_path / "b", project_version="1.3.0")
    r = run_cli("artifact", "diff", str(tmp_path / "a"), str(tmp_path / "b"))
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    assert 'config.cleanup.policy: "delete" -> "compact"' in text
    assert 'config.max.message.bytes: (none) -> "200000"' in text
    assert '"version": "1.2.0"' in text and '"version": "1.3.0"' in text  # the # project line
    assert "(unset)" not in text


# -- git metadata -------------------------------------------------------------------------

def _both(path, files=None):
    a = streamt.git_info(str(path), files=files, use_binary=True)
    b = streamt.git_info(str(path), files=files, use_binary=False)
    assert a == b
    return b


def test_git_clean_branch_commit_time(repo):
    info = _both(repo / "proj", ["models/orders.yml"])
    assert info["branch"] == "main" and info["dirty"] is False
    assert info["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert info["time"] == 1704164645


def test_git_dirty_worktree_staged_and_untracked_inputs(repo):
    proj = repo / "proj"
    (repo / "README").write_text("changed outside the project\n")
    assert _both(proj)["dirty"] is False  # only the project directory counts
    with open(str(proj / "models" / "orders.yml"), "a") as f:
        f.write("# edit\n")
    assert _both(proj)["dirty"] is True
    git(repo, "add", "-A")
    assert _both(proj)["dirty"] is True  # staged, not committed
    git(repo, "commit", "-q", "-m", "second")
    assert _both(proj)["dirty"] is False
    (proj / "models" / "new.yml").write_text("models: []\n")
    assert _both(proj)["dirty"] is False  # untracked and not read
    assert _both(proj, ["models/new.yml"])["dirty"] is True  # untracked but read by the build
    os.remove(str(proj / "sources" / "orders.yml"))
    assert _both(proj)["dirty"] is True


def test_git_packed_refs_packed_objects_detached_head(repo):
    for _ in range(3):
        with open(str(repo / "proj" / "models" / "orders.yml"), "a") as f:
            f.write("# more\n")
        git(repo, "commit", "-q", "-am", "more")
    git(repo, "gc", "-q", "--aggressive")
    git(repo, "pack-refs", "--all")
    assert not os.path.exists(str(repo / ".git" / "refs" / "heads" / "main"))
    info = _both(repo / "proj")
    assert info["branch"] == "main" and info["dirty"] is False and info["time"] == 1704164645
    first = git(repo, "rev-list", "--max-parents=0", "HEAD").strip()
    git(repo, "checkout", "-q", first)
    info = _both(repo / "proj")
    assert info["commit"] == first and info["branch"] is None and info["dirty"] is False


def test_git_worktree(repo, tmp_path):
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(wt))
    assert (wt / ".git").is_file()
    info = _both(wt / "proj")
    assert info["branch"] == "feature" and info["dirty"] is False
    (wt / "proj" / "stream_project.yml").write_text("project: {name: x}\n")
    assert _both(wt / "proj")["dirty"] is True


def test_outside_a_repository(tmp_path):
    assert _both(tmp_path) is None


def test_build_without_a_git_binary_records_the_same_git(tmp_path, repo):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(sys.executable, str(bindir / "python3"))
    with open(str(repo / "proj" / "models" / "orders.yml"), "a") as f:
        f.write("# dirty\n")
    r1 = run_cli("build", "-p", str(repo / "proj"), "-e", "dev", "-o", str(tmp_path / "a"))
    r2 = run_cli("build", "-p", str(repo / "proj"), "-e", "dev", "-o", str(tmp_path / "b"),
                 env={"PATH": str(bindir)})
    assert r1.returncode == 0 and r2.returncode == 0, r2.stderr
    m1 = json.loads((tmp_path / "a" / "manifest.json").read_text())
    m2 = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert m1["git"] == m2["git"]
    assert m1["git"]["dirty"] is True and m1["git"]["branch"] == "main"
    assert (tmp_path / "a" / "manifest.json").read_bytes() == \
        (tmp_path / "b" / "manifest.json").read_bytes()


def test_example_build_command_of_the_readme(tmp_path):
    r = run_cli("build", "-p", "examples/shop", "-e", "dev", "-o", str(tmp_path / "shop-dev"))
    assert r.returncode == 0, r.stderr
    art = streamt.read_artifact(str(tmp_path / "shop-dev"))
    streamt.verify_artifact(art)
    project = streamt.load_project(SHOP, env="dev")
    assert art.desired == streamt.compile_project(project)


def test_with_state_records_the_observed_snapshot(tmp_path, monkeypatch):
    seen = {}

    def fake_observe(desired, runtime, project=None, **kw):
        seen["runtime"] = runtime
        return {"topics": {"shop.orders.clean.v1": {"partitions": 3}}, "schemas": {}}
    monkeypatch.setattr(streamt, "observe_state", fake_observe, raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "broker:9092")
    out = tmp_path / "s.tar.gz"
    assert streamt.main(["build", "-p", SHOP, "-e", "dev", "-o", str(out), "--with-state"]) == 0
    assert seen["runtime"]["kafka"]["bootstrap_servers"] == "broker:9092"  # observed resolved
    art = streamt.read_artifact(str(out))
    assert art.state == {"topics": {"shop.orders.clean.v1": {"partitions": 3}}, "schemas": {}}
    assert sorted(p for p in art.files if p.startswith("state/")) == \
        ["state/schemas.json", "state/topics.json"]
    assert "${KAFKA_BOOTSTRAP}" in art.files["environment.json"].decode()  # still a reference
    streamt.verify_artifact(art)
    assert streamt.inspect_artifact(art)["state"] == ["schemas", "topics"]


def test_inspect_and_diff_of_a_resolved_artifact_do_not_print_the_secrets(tmp_path):
    env = {"KAFKA_PASSWORD": "kafka-s3cret", "SCHEMA_REGISTRY_PASSWORD": "sr-s3cret",
           "ARCHIVE_FILE": "/a"}
    r = run_cli("build", "-p", SHOP, "-e", "prod", "-o", str(tmp_path / "p"),
                "--resolve-secrets", env=env)
    assert r.returncode == 0, r.stderr
    files = streamt.read_artifact(str(tmp_path / "p")).files
    assert any(b"kafka-s3cret" in data for data in files.values())  # it is in there...
    for comp in (None, "flink", "topics", "connectors"):
        args = ["artifact", "inspect", str(tmp_path / "p")]
        if comp:
            args += ["--component", comp]
        for fmt in ("text", "json"):
            r = run_cli(*(args + ["--format", fmt]))
            assert r.returncode == 0, r.stderr
            assert b"kafka-s3cret" not in r.stdout and b"sr-s3cret" not in r.stdout  # ...not shown
    env["KAFKA_PASSWORD"] = "other-s3cret"
    run_cli("build", "-p", SHOP, "-e", "prod", "-o", str(tmp_path / "q"), "--resolve-secrets",
            env=env)
    r = run_cli("artifact", "diff", str(tmp_path / "p"), str(tmp_path / "q"), "--detailed-exitcode")
    assert r.returncode == 8
    assert b"s3cret" not in r.stdout and b"<redacted>" in r.stdout


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar")
def test_a_directory_repacked_with_tar_still_verifies(tmp_path):
    write(DESIRED, tmp_path / "d")
    for name, args in (("dot.tar.gz", ["-czf", str(tmp_path / "dot.tar.gz"), "-C",
                                       str(tmp_path / "d"), "."]),
                       ("plain.tar", ["-cf", str(tmp_path / "plain.tar"), "-C",
                                      str(tmp_path / "d")] + sorted(os.listdir(str(tmp_path / "d"))))):
        subprocess.check_call(["tar"] + args)
        r = run_cli("artifact", "verify", str(tmp_path / name))
        assert r.returncode == 0, r.stderr
        assert streamt.read_artifact(str(tmp_path / name)).desired == DESIRED


def test_artifact_without_subcommand_and_missing_path(tmp_path):
    r = run_cli("artifact")
    assert r.returncode == 2
    r = run_cli("artifact", "inspect", str(tmp_path / "missing"))
    assert r.returncode == 4 and b"no such artifact" in r.stderr
    (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    r = run_cli("artifact", "verify", str(tmp_path / "junk.tar.gz"))
    assert r.returncode == 4 and b"Traceback" not in r.stderr


def test_git_split_index_and_index_v4(repo):
    git(repo, "update-index", "--index-version", "4")
    assert _both(repo / "proj")["dirty"] is False
    with open(str(repo / "proj" / "models" / "orders.yml"), "a") as f:
        f.write("# v4\n")
    assert _both(repo / "proj")["dirty"] is True
    git(repo, "checkout", "--", "proj/models/orders.yml")
    git(repo, "update-index", "--split-index")
    info = streamt.git_info(str(repo / "proj"), use_binary=False)
    assert info["dirty"] in (None, False)  # never a wrong "dirty" from half an index
    assert streamt.git_info(str(repo / "proj"), use_binary=True)["dirty"] is False


def test_git_info_skips_git_only_where_no_repository_can_be(tmp_path, repo, monkeypatch):
    # git_info answers None without running git when no .git / HEAD is above the path
    # (_may_be_in_git); everywhere, the same answer as with that shortcut switched off
    os.symlink(str(repo / "proj"), str(tmp_path / "link"))
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    (tmp_path / "plain" / "sub").mkdir(parents=True)
    paths = [repo, repo / "proj", repo / "proj" / "models", repo / "nope", repo / ".git",
             repo / ".git" / "refs", tmp_path / "link", tmp_path / "link" / "models",
             bare, bare / "refs", tmp_path / "plain", tmp_path / "plain" / "sub",
             tmp_path / "absent"]
    for path in paths:
        for use_binary in (None, True, False):
            monkeypatch.setattr(streamt.FastPaths, "artifact", False)
            want = streamt.git_info(str(path), use_binary=use_binary)
            monkeypatch.setattr(streamt.FastPaths, "artifact", True)
            assert streamt.git_info(str(path), use_binary=use_binary) == want, path
    assert streamt.git_info(str(tmp_path / "link")) is not None  # git sees the real path

    def no_git(*a, **kw):
        raise AssertionError("git was run")
    monkeypatch.setattr(subprocess, "Popen", no_git)
    for path in (tmp_path / "plain", tmp_path / "plain" / "sub", tmp_path / "absent"):
        assert streamt.git_info(str(path)) is None


TESTS = [{"name": "orders_ok", "type": "sample", "model": "orders", "node": "source:orders",
          "topic": "shop.orders", "sample_size": 50, "columns": [], "job": None,
          "failures_topic": None,
          "assertions": [{"custom_sql": {"name": "neg", "where": "amount < ${MIN_AMOUNT}"}}]}]


def test_tests_round_trip_are_diffed_and_their_variables_required(tmp_path, monkeypatch):
    """tests.json: read back as written, its ${VAR}s in required_env (fast and general
    paths), a changed assertion in `artifact diff`; the resources are the same files."""
    with_tests = dict(DESIRED, tests=TESTS)
    made = []
    for fast in (False, True):
        monkeypatch.setattr(streamt.FastPaths, "artifact", fast)
        made.append(streamt.render_artifact(with_tests, "shop", "1.2.0", None, 1700000000))
    assert made[0] == made[1]
    write(with_tests, tmp_path / "a")
    art = streamt.read_artifact(str(tmp_path / "a"))
    assert art.desired == with_tests
    assert "MIN_AMOUNT" in art.manifest["required_env"]
    write(DESIRED, tmp_path / "plain")
    plain = streamt.read_artifact(str(tmp_path / "plain"))
    assert set(art.files) - set(plain.files) == {"tests.json"}
    for path in plain.files:
        if path not in ("manifest.json", "SHA256SUMS"):
            assert art.files[path] == plain.files[path], path
    changed = dict(with_tests, tests=[dict(TESTS[0], assertions=[
        {"custom_sql": {"name": "neg", "where": "amount <= 0"}}])])
    write(changed, tmp_path / "b")
    diff = streamt.diff_artifacts(art, streamt.read_artifact(str(tmp_path / "b")))
    assert [(c["kind"], c["name"], c["change"]) for c in diff] == [
        ("tests", "orders_ok", "changed")]
    assert "~ test orders_ok (changed)" in streamt.render_diff(diff)
    assert [(c["kind"], c["change"]) for c in streamt.diff_artifacts(plain, art)] == [
        ("tests", "added")]
