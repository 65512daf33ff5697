"""CLI robustness: garbage arguments, unreadable files, a directory where a file is
expected and the reverse, non-UTF-8 files, read-only outputs, an output inside the
project, `-o -` into a closed pipe.  Always a clear error with its exit code, never a
traceback."""
import json
import os
import shutil
import subprocess
import sys

import pytest

import streamt
from tests._hostile import base_project, clean_environ, cli, write_project

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOP = os.path.join(ROOT, "examples", "shop")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def check(r, *codes):
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r
    assert r.returncode in codes, r
    if r.returncode != 0:
        assert r.stderr.strip(), "an error without a message: %r" % (r,)


@pytest.fixture
def proj(tmp_path):
    return write_project(str(tmp_path / "p"), base_project())


@pytest.fixture
def artifact(tmp_path, proj):
    out = str(tmp_path / "art")
    r = cli("build", "-p", proj, "-o", out, environ=clean_environ())
    assert r.returncode == 0, r
    return out


GARBAGE = [
    ["--nope"], ["validate", "--nope"], ["validate", "--format", "xml"], ["validate", "-e"],
    ["validate", "-e", "dev", "--all-envs"], ["envs"], ["envs", "nope"], ["envs", "show"],
    ["lineage", "--format", "xml"], ["lineage", "-m"], ["build"], ["build", "-o"],
    ["artifact"], ["artifact", "nope"], ["artifact", "inspect"], ["artifact", "diff", "a"],
    ["deploy"], ["deploy", "a", "--confirm", "--dry-run"], ["plan", "--allow-delete"],
    ["apply", "--confirm", "--dry-run"], ["status", "a", "b"], ["init", "--name"],
    ["validate", "\x00"], ["build", "-o", "x", "-p", "\udcff"], ["--version", "extra"],
]


@pytest.mark.parametrize("args", GARBAGE, ids=[" ".join(a)[:30] for a in GARBAGE])
def test_garbage_arguments_are_usage_errors(args):
    r = cli(*args, environ=clean_environ())
    check(r, streamt.EXIT_USAGE, streamt.EXIT_INVALID, streamt.EXIT_FAILURE,
          streamt.EXIT_INTEGRITY, 0)
    assert r.returncode != 0 or args[0] == "--version"


@pytest.mark.parametrize("cmd", [["validate"], ["lineage"], ["envs", "list"], ["build", "-o", "OUT"],
                                 ["plan"], ["apply", "--dry-run"], ["status"]])
@pytest.mark.parametrize("where", ["missing", "file", "empty-dir", "project-file-is-dir",
                                   "non-utf8", "binary", "empty-file"])
def test_project_dir_problems(tmp_path, cmd, where):
    p = str(tmp_path / "p")
    if where == "file":
        open(p, "w").write("project: {name: x}\n")
    elif where == "empty-dir":
        os.makedirs(p)
    elif where == "project-file-is-dir":
        os.makedirs(os.path.join(p, "stream_project.yml"))
    elif where == "non-utf8":
        os.makedirs(p)
        open(os.path.join(p, "stream_project.yml"), "wb").write(
            b"project:\n  name: caf\xe9\nruntime: {kafka: {bootstrap_servers: k:1}}\n")
    elif where == "binary":
        os.makedirs(p)
        open(os.path.join(p, "stream_project.yml"), "wb").write(os.urandom(4096))
    elif where == "empty-file":
        os.makedirs(p)
        open(os.path.join(p, "stream_project.yml"), "w").close()
    args = [a if a != "OUT" else str(tmp_path / "out") for a in cmd]
    r = cli(*(args + ["-p", p]), environ=clean_environ())
    ok = (0,) if cmd == ["envs", "list"] and where in ("non-utf8", "binary", "empty-file") else ()
    check(r, streamt.EXIT_USAGE, streamt.EXIT_INVALID, streamt.EXIT_FAILURE, *ok)
    assert not os.path.exists(str(tmp_path / "out"))
    if where == "non-utf8" and r.returncode:
        assert "stream_project.yml" in r.stderr


def test_non_utf8_model_file_names_its_file(proj):
    os.makedirs(os.path.join(proj, "models"))
    with open(os.path.join(proj, "models", "bad.yml"), "wb") as f:
        f.write(b"models:\n  - name: m\n    sql: SELECT '\xff\xfe' FROM x\n")
    r = cli("validate", "-p", proj, environ=clean_environ())
    check(r, streamt.EXIT_INVALID)
    assert "models/bad.yml" in r.stderr


@pytest.mark.skipif(IS_ROOT, reason="root reads any file")
def test_unreadable_project_file(proj):
    path = os.path.join(proj, "stream_project.yml")
    os.chmod(path, 0)
    try:
        r = cli("validate", "-p", proj, environ=clean_environ())
    finally:
        os.chmod(path, 0o644)
    check(r, streamt.EXIT_INVALID, streamt.EXIT_FAILURE)


@pytest.mark.skipif(IS_ROOT, reason="root writes anywhere")
def test_read_only_output_dir(tmp_path, proj):
    ro = str(tmp_path / "ro")
    os.makedirs(ro)
    os.chmod(ro, 0o555)
    try:
        for o in (os.path.join(ro, "a"), os.path.join(ro, "a.tar.gz")):
            r = cli("build", "-p", proj, "-o", o, environ=clean_environ())
            check(r, streamt.EXIT_FAILURE, streamt.EXIT_USAGE)
    finally:
        os.chmod(ro, 0o755)


@pytest.mark.parametrize("output", ["file", "file.tar.gz-is-dir", "parent-is-file", "dot",
                                    "inside-project", "the-project"])
def test_build_outputs(tmp_path, proj, output):
    if output == "file":
        o = str(tmp_path / "exists")
        open(o, "w").write("keep me")
    elif output == "file.tar.gz-is-dir":
        o = str(tmp_path / "x.tar.gz")
        os.makedirs(o)
    elif output == "parent-is-file":
        open(str(tmp_path / "f"), "w").write("x")
        o = str(tmp_path / "f" / "out")
    elif output == "dot":
        o = "."
    elif output == "inside-project":
        o = os.path.join(proj, "dist")
    else:
        o = proj
    before = sorted(os.listdir(proj))
    r = cli("build", "-p", proj, "-o", o, environ=clean_environ())
    check(r, 0, streamt.EXIT_FAILURE, streamt.EXIT_USAGE)
    if output == "file":
        assert open(o).read() == "keep me"
    if output in ("the-project", "dot"):
        assert r.returncode != 0, "build wrote over a project directory"
        assert sorted(os.listdir(proj)) == before
    if output == "inside-project" and r.returncode == 0:
        # the project still validates and builds again the same
        r2 = cli("build", "-p", proj, "-o", str(tmp_path / "again"), environ=clean_environ())
        check(r2, 0)


@pytest.mark.parametrize("what", ["missing", "empty-dir", "not-tar", "empty-file", "project-dir",
                                  "manifest-non-utf8", "manifest-is-dir", "manifest-not-json"])
@pytest.mark.parametrize("cmd", [["artifact", "inspect"], ["artifact", "verify"],
                                 ["artifact", "diff", "A"], ["deploy", "--dry-run"], ["status"]])
def test_artifact_problems(tmp_path, artifact, proj, cmd, what):
    a = str(tmp_path / "bad")
    if what == "empty-dir":
        os.makedirs(a)
    elif what == "not-tar":
        open(a, "wb").write(b"\x1f\x8b" + os.urandom(200))
    elif what == "empty-file":
        open(a, "w").close()
    elif what == "project-dir":
        a = proj
    elif what.startswith("manifest"):
        shutil.copytree(artifact, a)
        m = os.path.join(a, "manifest.json")
        os.remove(m)
        if what == "manifest-non-utf8":
            open(m, "wb").write(b'{"x": "\xff"}')
        elif what == "manifest-is-dir":
            os.makedirs(m)
        else:
            open(m, "w").write("{not json")
    args = [x if x != "A" else artifact for x in cmd] + [a]
    r = cli(*args, environ=clean_environ())
    check(r, streamt.EXIT_INTEGRITY, streamt.EXIT_USAGE, streamt.EXIT_FAILURE)


@pytest.mark.parametrize("what", ["missing", "dir", "non-utf8", "garbage"])
def test_env_file_and_key_file_problems(tmp_path, artifact, what):
    f = str(tmp_path / "f")
    if what == "dir":
        os.makedirs(f)
    elif what == "non-utf8":
        open(f, "wb").write(b"A=\xff\xfe\n")
    elif what == "garbage":
        open(f, "wb").write(b"this is not = a valid \"line\n-----BEGIN\n")
    for args in (["deploy", artifact, "--dry-run", "--env-file", f],
                 ["deploy", artifact, "--dry-run", "--allowed-signers", f],
                 ["artifact", "verify", artifact, "--allowed-signers", f],
                 ["build", "-p", SHOP, "-e", "dev", "-o", str(tmp_path / "o"), "--sign-key", f]):
        r = cli(*args, environ=clean_environ())
        check(r, streamt.EXIT_USAGE, streamt.EXIT_INTEGRITY, streamt.EXIT_FAILURE,
              streamt.EXIT_INVALID)
    assert not os.path.exists(str(tmp_path / "o"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX special files")
@pytest.mark.parametrize("what", ["fifo", "dev-zero", "big"])
def test_env_file_and_key_files_must_be_regular_files(tmp_path, artifact, what):
    """--env-file, --sign-key and --allowed-signers were opened and read whole: a FIFO hung
    the command forever (open() waits for a writer), /dev/zero read until MemoryError (or,
    for allowed_signers, 1 MiB of NULs ended in a signature error).  Each is now read as
    project files are -- a regular file, 1 MiB at most, refused before it is read -- and a
    usage error (exit 2) names the file.  Each run has a timeout: a hang fails the test."""
    f = str(tmp_path / "named")
    if what == "fifo":
        os.mkfifo(f)
    elif what == "dev-zero":
        os.symlink("/dev/zero", f)
    else:  # one byte over the cap, sparse
        with open(f, "wb") as fh:
            fh.write(b"A=1\n#")
            fh.truncate((1 << 20) + 1)
    for args in (["deploy", artifact, "--dry-run", "--env-file", f],
                 ["plan", "-p", SHOP, "-e", "dev", "--env-file", f],
                 ["deploy", artifact, "--dry-run", "--allowed-signers", f],
                 ["artifact", "verify", artifact, "--allowed-signers", f],
                 ["build", "-p", SHOP, "-e", "dev", "-o", str(tmp_path / "o"), "--sign-key", f]):
        r = subprocess.run([sys.executable, streamt.__file__] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
                           env=clean_environ())
        check(r, streamt.EXIT_USAGE)
        assert f in r.stderr, (args, r.stderr)
        assert ("not a regular file" in r.stderr if what != "big"
                else "larger than 1024 KiB" in r.stderr), (args, r.stderr)
    assert not os.path.exists(str(tmp_path / "o"))


@pytest.mark.parametrize("target", ["file", "non-empty", "inside-file"])
def test_init_into_bad_places(tmp_path, target):
    t = str(tmp_path / "t")
    if target == "file":
        open(t, "w").write("x")
    elif target == "non-empty":
        write_project(t, base_project())
    else:
        open(t, "w").write("x")
        t = os.path.join(t, "sub")
    r = cli("init", t, environ=clean_environ())
    check(r, streamt.EXIT_USAGE, streamt.EXIT_FAILURE, streamt.EXIT_INVALID)


def _run(args, **kw):
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "streamt.py")] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=clean_environ(), **kw)


@pytest.mark.parametrize("args", [["build", "-p", SHOP, "-e", "dev", "-o", "-"],
                                  ["lineage", "-p", SHOP, "-e", "dev", "--format", "json"],
                                  ["validate", "-p", SHOP, "--all-envs", "--no-env-check",
                                   "--format", "json"]])
def test_output_into_a_closed_pipe(args):
    p = _run(args)
    p.stdout.close()  # the reader went away (`streamt ... | head -c0`)
    err = p.stderr.read().decode("utf-8", "replace")
    code = p.wait(timeout=120)
    assert "Traceback" not in err, err
    assert code in (0, 1, 141, -13), (code, err)


def test_stdin_artifact_garbage():
    p = _run(["artifact", "inspect", "-"], stdin=subprocess.PIPE)
    out, err = p.communicate(os.urandom(5000), timeout=120)
    assert "Traceback" not in err.decode("utf-8", "replace")
    assert p.returncode == streamt.EXIT_INTEGRITY


def _tree(path):
    """{relative path: bytes} of every file under ``path`` (what a user would lose)."""
    out = {}
    for dirpath, _dirs, files in os.walk(path):
        for fn in files:
            full = os.path.join(dirpath, fn)
            out[os.path.relpath(full, path)] = open(full, "rb").read()
    return out


@pytest.mark.parametrize("target", ["the-project", "parent-of-project", "notes.txt",
                                    "notes.tar.gz", "other-dir", "symlink-to-project"])
@pytest.mark.parametrize("cmd", ["build", "compile"])
def test_force_replaces_only_what_streamt_wrote(tmp_path, proj, cmd, target):
    """`build -o X --force` and `compile -o X` used to replace any path: the project
    itself was deleted, a notes file became a directory.  Now both refuse with exit 1
    and leave it exactly as it was."""
    if target == "the-project":
        o = proj
    elif target == "parent-of-project":
        o = os.path.dirname(proj)
    elif target in ("notes.txt", "notes.tar.gz"):
        o = str(tmp_path / target)
        open(o, "w").write("my notes, not an artifact\n")
    elif target == "other-dir":
        o = str(tmp_path / "docs")
        os.makedirs(o)
        open(os.path.join(o, "README"), "w").write("keep\n")
    else:
        o = str(tmp_path / "link")
        os.symlink(proj, o)
    before_proj, before_out = _tree(proj), (_tree(o) if os.path.isdir(o) else open(o, "rb").read())
    args = ["build", "--force"] if cmd == "build" else ["compile"]
    r = cli(*(args + ["-p", proj, "-o", o]), environ=clean_environ())
    check(r, streamt.EXIT_FAILURE)
    assert r.returncode == streamt.EXIT_FAILURE, r
    assert _tree(proj) == before_proj
    assert (_tree(o) if os.path.isdir(o) else open(o, "rb").read()) == before_out
    if cmd == "build" and target != "symlink-to-project":
        assert "will not replace" in r.stderr, r


@pytest.mark.parametrize("output", ["dist", "dist.tar.gz", "dist.tar"])
def test_force_still_replaces_a_streamt_artifact_and_an_empty_file(tmp_path, proj, output):
    o = str(tmp_path / output)
    for _ in range(2):  # the second build replaces the first one's artifact
        r = cli("build", "--force", "-p", proj, "-o", o, environ=clean_environ())
        check(r, 0)
    if output != "dist":
        os.remove(o)
        open(o, "w").close()
        check(cli("build", "--force", "-p", proj, "-o", o, environ=clean_environ()), 0)
        assert os.path.getsize(o) > 0


def _make_not_a_file(path, what, outside):
    if what == "dev-zero":
        os.symlink("/dev/zero", path)
    elif what == "fifo":
        os.mkfifo(path)
    elif what == "dev-null":
        os.symlink("/dev/null", path)
    elif what == "outside":
        open(outside, "w").write("models:\n  - name: stolen\n    sql: SELECT 1 AS x\n")
        os.symlink(outside, path)
    else:  # big: one byte over the cap, written sparse (no 16 MiB in the test's memory)
        with open(path, "wb") as f:
            f.write(b"models: []\n#")
            f.truncate(streamt._ProjectFiles.MAX_FILE + 1)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX special files")
@pytest.mark.parametrize("what", ["dev-zero", "fifo", "dev-null", "outside", "big"])
@pytest.mark.parametrize("rel", ["models/x.yml", "stream_project.yml", ".env"])
def test_project_files_must_be_regular_files_inside_the_project(tmp_path, proj, rel, what):
    """models/x.yml linked to /dev/zero read until MemoryError, a FIFO hung forever, a
    link to a file outside the project was compiled in silently.  Each is now refused
    before it is read, with the file's name, and exit 3."""
    path = os.path.join(proj, rel)
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path))
    if os.path.exists(path):
        os.remove(path)
    _make_not_a_file(path, what, str(tmp_path / "outside.yml"))
    r = subprocess.run([sys.executable, streamt.__file__, "validate", "-p", proj, "--no-env-check"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       timeout=60, env=clean_environ())
    check(r, streamt.EXIT_INVALID)
    assert rel in r.stderr, r.stderr
    assert ("not a regular file" in r.stderr or "leads out of the project" in r.stderr or
            "larger than 16 MiB" in r.stderr), r.stderr


def test_a_symlink_inside_the_project_is_read(tmp_path, proj):
    os.makedirs(os.path.join(proj, "shared"))
    open(os.path.join(proj, "shared", "m.yml"), "w").write(
        "models:\n  - name: linked\n    sql: SELECT id FROM {{ source(\"orders\") }}\n")
    os.makedirs(os.path.join(proj, "models"))
    os.symlink(os.path.join(proj, "shared", "m.yml"), os.path.join(proj, "models", "m.yml"))
    r = cli("lineage", "-p", proj, environ=clean_environ())
    check(r, 0)
    assert "linked" in r.stdout


SENTINEL = "zzS3cr3tSentinelzz"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_credentials_of_a_malformed_url_are_not_printed(tmp_path, fmt):
    """`htp://user:pw@host` was printed whole in the error (stderr) and in the JSON
    report; now the credentials are <redacted> in both."""
    data = base_project()
    data["runtime"]["schema_registry"]["url"] = "htp://user:%s@host" % SENTINEL
    root = write_project(str(tmp_path / "p"), data)
    r = cli("plan", "-p", root, "--format", fmt,
            environ=clean_environ(KAFKA_PASSWORD="k1234", SR_PASSWORD="s1234",
                                  GATEWAY_PASSWORD="g1234", DB_PASSWORD="d1234"))
    check(r, streamt.EXIT_FAILURE, streamt.EXIT_USAGE)
    assert "invalid URL" in r.stderr, r
    assert SENTINEL not in r.stdout + r.stderr, r


def test_the_value_of_a_pass_variable_is_a_secret_wherever_it_is_printed(tmp_path):
    """${DB_PASS} was not taken for a secret (only *password*, *secret*, ... and `pass`
    alone): its value, written in by --resolve-secrets under a key that is not secret, was
    printed by `artifact inspect`.  A `pass`/`pwd` word in a variable's name makes its
    value secret, masked in every line streamt prints."""
    data = base_project()
    data["models"][1]["sink"]["config"]["connection.url"] = "jdbc:postgresql://db/x?pw=${DB_PASS}"
    root = write_project(str(tmp_path / "p"), data)
    env = clean_environ(DB_PASS=SENTINEL, KAFKA_PASSWORD="k1234", SR_PASSWORD="s1234",
                        GATEWAY_PASSWORD="g1234", DB_PASSWORD="d1234")
    out = str(tmp_path / "a")
    check(cli("build", "-p", root, "-o", out, "--resolve-secrets", environ=env), 0)
    for fmt in ("text", "json"):
        r = cli("artifact", "inspect", out, "--component", "connectors", "--format", fmt,
                environ=env)
        check(r, 0)
        assert "connection.url" in r.stdout, r
        assert SENTINEL not in r.stdout + r.stderr, r
    assert streamt.SecretPolicy.is_secret_key("DB_PASS")
    assert streamt.SecretPolicy.is_secret_key("smtp.pwd")
    assert not streamt.SecretPolicy.is_secret_key("bypass_cache")


def test_a_secret_named_variable_holding_a_json_word_does_not_break_json_output(proj):
    """The scrubber masks secret values in every line; `SOME_TOKEN=true` in the environment
    must not turn the report's `true` into the mark."""
    r = cli("validate", "-p", proj, "--no-env-check", "--format", "json",
            environ=clean_environ(SOME_TOKEN="true", OTHER_PASS="false", N_SECRET="1234"))
    check(r, 0)
    assert json.loads(r.stdout)["valid"] is True


# What a terminal acts on or shows misleadingly: direction overrides and isolates, line and
# paragraph separators, C1 controls (NEL, CSI), DEL, a tag character beyond the BMP.
TERMINAL_HOSTILE = "\u202e\u2066\u2069\u2028\u2029\x85\x9b\x7f\U000e0001"


class _HostileService(object):
    """An HTTP service whose every answer is an error carrying TERMINAL_HOSTILE raw
    (UTF-8 JSON, not \\u-escaped): what a careless or hostile service may send."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                body = json.dumps({"error_code": 500, "message": "boom" + TERMINAL_HOSTILE},
                                  ensure_ascii=False).encode("utf-8")
                self.send_response(500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *a):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever)
        self.thread.daemon = True
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _json_documents(text):
    """Every JSON document of ``text`` (one, or one per item for inspect --component)."""
    docs, dec, i = [], json.JSONDecoder(), 0
    while text[i:].strip():
        while text[i].isspace():
            i += 1
        doc, i = dec.raw_decode(text, i)
        docs.append(doc)
    return docs


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            for s in _strings(v):
                yield s
    elif isinstance(obj, list):
        for v in obj:
            for s in _strings(v):
                yield s


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_nothing_a_terminal_acts_on_is_printed_raw_in_either_format(tmp_path, fmt):
    """A project value (validate quotes an unknown materialization back), an artifact value
    (inspect, diff: a connector's config) and a service's error message (plan, status)
    carrying direction overrides, U+2028/U+2029, C1 controls and DEL.  Text output escaped
    them already; --format json let them through raw (JSON only escapes C0), and the JSON
    that plan/status/test/inspect --component wrote through the text path escaped them
    as Python escapes (\\x85), which is not JSON.  Now every byte goes through Output: the
    JSON is valid, holds the very characters once parsed, and none reaches the terminal."""
    service = _HostileService()
    try:
        env = clean_environ(KAFKA_PASSWORD="k1234", SR_PASSWORD="s1234",
                            GATEWAY_PASSWORD="g1234", DB_PASSWORD="d1234")
        bad = base_project()
        bad["models"][0]["materialized"] = "flink" + TERMINAL_HOSTILE
        bad_root = write_project(str(tmp_path / "bad"), bad)
        data = base_project()
        runtime = data["runtime"]
        runtime["schema_registry"]["url"] = service.url
        runtime["connect"]["clusters"]["local"]["rest_url"] = service.url
        runtime["flink"]["clusters"]["local"] = {"rest_url": service.url,
                                                 "sql_gateway_url": service.url}
        runtime["conduktor"]["gateway"]["admin_url"] = service.url
        plain_root = write_project(str(tmp_path / "plain"), data)
        data["models"][1]["sink"]["config"]["connection.url"] += TERMINAL_HOSTILE
        root = write_project(str(tmp_path / "p"), data)
        plain, art = str(tmp_path / "plain-art"), str(tmp_path / "art")
        check(cli("build", "-p", plain_root, "-o", plain, environ=env), 0)
        check(cli("build", "-p", root, "-o", art, environ=env), 0)
        runs = [(("validate", "-p", bad_root), streamt.EXIT_INVALID, True),
                (("artifact", "inspect", art, "--component", "connectors"), 0, True),
                (("artifact", "inspect", art), 0, False),  # (no config values)
                (("artifact", "diff", plain, art), 0, True),
                (("plan", "-p", root), streamt.EXIT_FAILURE, True),
                (("status", art), streamt.EXIT_FAILURE, True)]
        for args, code, shows in runs:
            r = cli(*(args + ("--format", fmt)), environ=env)
            assert r.returncode == code and "Traceback" not in r.stderr, (args, r)
            for c in TERMINAL_HOSTILE:
                assert c not in r.stdout + r.stderr, (args, hex(ord(c)), r)
            if fmt == "json":
                seen = "".join(_strings(_json_documents(r.stdout)))  # valid JSON
                assert TERMINAL_HOSTILE in seen or not shows, (args, r)  # escaped, not lost
            else:
                assert "\\u202e" in r.stdout + r.stderr or not shows, (args, r)
    finally:
        service.close()


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\x9b", "\u200b"])
def test_a_name_holding_a_non_printable_character_is_refused_before_build(tmp_path, char):
    """A model named with a direction override (or a CSI control, a zero-width space)
    validated and built, and then every command reading that artifact (inspect, diff,
    deploy) refused it: names in an artifact are printable text.  validate now refuses
    the name (INVALID_NAME, escaped), so nothing is built that streamt would refuse."""
    data = base_project()
    name = "clean" + char
    data["models"][0]["name"] = name
    data["models"][1]["from"] = [{"ref": name}]
    data["tests"][0]["model"] = name
    data["exposures"][0]["consumes"] = [{"ref": name}]
    root = write_project(str(tmp_path / "p"), data)
    r = cli("validate", "-p", root, "--no-env-check", environ=clean_environ())
    check(r, streamt.EXIT_INVALID)
    assert "INVALID_NAME" in r.stderr + r.stdout and "non-printable" in r.stderr + r.stdout, r
    assert char not in r.stdout + r.stderr
    out = str(tmp_path / "art")
    check(cli("build", "-p", root, "-o", out, environ=clean_environ()), streamt.EXIT_INVALID)
    assert not os.path.exists(out)
    data["models"][0]["name"] = data["models"][1]["from"][0]["ref"] = "café"
    data["tests"][0]["model"] = data["exposures"][0]["consumes"][0]["ref"] = "café"
    root = write_project(str(tmp_path / "ok"), data)
    check(cli("validate", "-p", root, "--no-env-check", environ=clean_environ()), 0)


def test_a_custom_sql_test_of_a_model_whose_columns_are_unknown_is_skipped(tmp_path):
    """A model reading a table the project does not declare (`SELECT * FROM t`) has no
    known columns; a continuous test's custom_sql assertion took the first of them for
    its detail column, and validate and build died with a StopIteration traceback.
    The assertion is now skipped, and build warns naming the test."""
    data = base_project()
    data["models"][0]["sql"] = "SELECT * FROM some_table"
    root = write_project(str(tmp_path / "p"), data)
    for args in (("validate", "-p", root, "--no-env-check"),
                 ("build", "-p", root, "-o", str(tmp_path / "art"))):
        r = cli(*args, environ=clean_environ(KAFKA_PASSWORD="k1234", SR_PASSWORD="s1234",
                                             GATEWAY_PASSWORD="g1234", DB_PASSWORD="d1234"))
        assert "Traceback" not in r.stderr, r
        assert r.returncode == 0, r
    assert "test 'clean_quality': custom_sql: the columns of 'clean' are unknown" in r.stderr, r
