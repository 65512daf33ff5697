"""What artifact commands print: nothing read from an artifact reaches the terminal
unescaped (a name cannot forge an "OK ... signature verified" line or move the cursor);
inspect and diff verify first and say loudly when an artifact does not verify; the
--allowed-signers FILE is always a file."""
import io
import json
import os
import tarfile

import streamt
from tests._hostile import cli
from tests.test_artifact_shape import manifest_of, reseal, unpack

HERE = os.path.dirname(os.path.abspath(__file__))
SSHSIG = os.path.join(HERE, "corpus", "sshsig")
FORGED = "OK a.tar: 13 files match the manifest; signature verified: ci@example.com"


def _no_forged_line(r):
    for line in (r.stdout + r.stderr).split("\n"):
        assert not line.startswith("OK "), r
        assert "\x1b" not in line and "\r" not in line and "\u202e" not in line, r


def _tar_with_extra(tmp_path, name):
    files = streamt.read_artifact(os.path.join(HERE, "corpus", "artifact", "shop-dev.tar")).files
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, data in sorted(files.items()) + [(name, b"x")]:
            m = tarfile.TarInfo(path)
            m.size = len(data)
            t.addfile(m, io.BytesIO(data))
    path = str(tmp_path / "a.tar")
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    return path


def test_a_member_name_cannot_forge_a_line(tmp_path):
    for name in ("flink/x\n" + FORGED, "flink/x\r" + FORGED, "flink/\x1b[2J\x1b[H" + FORGED,
                 "flink/\u202e" + FORGED):
        path = _tar_with_extra(tmp_path, name)
        for args in (["artifact", "verify", path], ["artifact", "inspect", path]):
            r = cli(*args)
            assert r.returncode == streamt.EXIT_INTEGRITY, r
            assert "not listed in the manifest" in r.stderr, r
            _no_forged_line(r)


def test_a_manifest_field_cannot_forge_a_line(tmp_path):
    """Every name the manifest gives is printable text (its declared shape); config values,
    which may hold anything, are escaped when printed."""
    bad = unpack(str(tmp_path / "bad"))
    m = manifest_of(bad)
    m["project"]["name"] = "shop\n" + FORGED
    reseal(bad, m)
    r = cli("artifact", "inspect", bad)
    assert r.returncode == streamt.EXIT_INTEGRITY, r
    assert "manifest.json: $.project.name: a control or other non-printable character" in r.stderr
    _no_forged_line(r)
    ok = unpack(str(tmp_path / "ok"))
    topic = "topics/shop.orders.clean.v1.json"
    with open(os.path.join(ok, topic)) as f:
        doc = json.load(f)
    doc["config"]["retention.ms"] = "1\x1b[2J\n" + FORGED
    reseal(ok, manifest_of(ok), {topic: json.dumps(doc).encode()})
    for args in (["artifact", "inspect", ok], ["artifact", "diff", unpack(str(tmp_path / "g")), ok],
                 ["artifact", "inspect", ok, "--component", "topics"]):
        r = cli(*args)
        assert r.returncode == 0, (args, r)
        _no_forged_line(r)
    assert "retention.ms=1\\x1b[2J\\n" + FORGED in cli("artifact", "inspect", ok).stdout


def test_inspect_and_diff_say_loudly_that_an_artifact_does_not_verify(tmp_path):
    good = unpack(str(tmp_path / "good"))
    bad = unpack(str(tmp_path / "bad"))
    with open(os.path.join(bad, "flink", "orders_clean.sql"), "a") as f:
        f.write("-- changed after the build\n")
    r = cli("artifact", "inspect", bad)
    assert r.returncode == streamt.EXIT_INTEGRITY, r
    assert "project      shop 1.2.0" in r.stdout  # still shown...
    assert "DOES NOT VERIFY" in r.stderr.split("\n")[0]  # ...said first
    assert "flink/orders_clean.sql: checksum mismatch" in r.stderr
    assert r.stderr.rstrip().endswith("THE ARTIFACT ABOVE DOES NOT VERIFY: do not trust or "
                                      "deploy it")  # ...and last
    doc = json.loads(cli("artifact", "inspect", bad, "--format", "json").stdout)
    assert doc["verified"] is False and any("checksum mismatch" in p for p in doc["problems"])
    assert json.loads(cli("artifact", "inspect", good, "--format", "json").stdout)["verified"]
    for args in (["artifact", "diff", good, bad], ["artifact", "diff", bad, good, "--format", "json"]):
        r = cli(*args)
        assert r.returncode == streamt.EXIT_INTEGRITY, r
        assert "%s DOES NOT VERIFY" % bad in r.stderr
        assert "checksum mismatch" in r.stderr
    r = cli("artifact", "diff", good, good)
    assert r.returncode == 0 and "DOES NOT VERIFY" not in r.stderr


def _signed(tmp_path):
    art = unpack(str(tmp_path / "signed"))
    with open(os.path.join(SSHSIG, "test_key")) as f:
        key = f.read()
    with open(os.path.join(art, "manifest.json"), "rb") as f:
        sig = streamt.ssh_sign(f.read(), key)
    with open(os.path.join(art, "manifest.json.sig"), "w") as f:
        f.write(sig)
    return art


def test_allowed_signers_is_always_a_file(tmp_path):
    art = _signed(tmp_path)
    with open(os.path.join(SSHSIG, "test_key.pub")) as f:
        pub = f.read().strip()
    spaced = tmp_path / "my keys"
    spaced.mkdir()
    signers = str(spaced / "allowed signers")
    with open(signers, "w") as f:
        f.write("ci@example.com " + pub + "\n")
    r = cli("artifact", "verify", art, "--allowed-signers", signers, "--require-signature")
    assert r.returncode == 0, r
    assert "signature verified: ci@example.com" in r.stdout
    missing = str(spaced / "nope")
    for args in (["artifact", "verify", art], ["artifact", "docs", art, "-o", str(tmp_path / "d")],
                 ["deploy", art, "--dry-run"]):
        r = cli(*(args + ["--allowed-signers", missing]))
        assert r.returncode == streamt.EXIT_USAGE, (args, r)
        assert "cannot read the allowed signers file %s: No such file or directory" % missing \
            in r.stderr, r
