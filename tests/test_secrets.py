"""Secrets never leak: distinctive secret values in .env, .env.<env> and the process
environment, every command that prints, and a scan of stdout/stderr for the value and
its base64 / URL-encoded / basic-auth forms.  An artifact built without
--resolve-secrets holds no secret byte."""
import base64
import json
import os
import threading
import uuid

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover
    from urllib import quote

import pytest

import streamt
from tests._hostile import artifact_files, base_project, clean_environ, cli, write_project

import yaml


def _secret(tag):
    return "S3cr3t-%s-%s" % (tag, uuid.uuid4().hex[:12])


def leak_forms(secret, user="u"):
    forms = {secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode(),
             base64.b64encode(("%s:%s" % (user, secret)).encode()).decode(),
             json.dumps(secret)[1:-1], secret.replace("-", "_")}
    return forms


def assert_no_leak(secrets, *texts):
    for s in secrets:
        for form in leak_forms(s):
            for t in texts:
                assert form not in t, "secret %r (as %r) printed:\n%s" % (s, form, t[-3000:])


class EchoServer(object):
    """An HTTP service that answers every request with an error echoing the request
    (method, path, headers, body) -- as careless services do."""

    def __init__(self, status=500):
        from http.server import BaseHTTPRequestHandler, HTTPServer

        class Handler(BaseHTTPRequestHandler):
            def _echo(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
                text = json.dumps({"error_code": status, "message": "rejected %s %s headers=%s body=%s" % (
                    self.command, self.path, dict(self.headers), body)}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _echo

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


@pytest.fixture
def echo():
    s = EchoServer()
    yield s
    s.close()


def _closed_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def multi_env_project(root, url, kafka):
    """A two-environment project whose runtime passwords are ${VAR}s; returns the
    secrets and where each came from."""
    data = base_project()
    runtime = data.pop("runtime")
    runtime["kafka"]["bootstrap_servers"] = kafka
    runtime["schema_registry"]["url"] = url
    runtime["flink"]["clusters"]["local"] = {"rest_url": url, "sql_gateway_url": url}
    runtime["connect"]["clusters"]["local"]["rest_url"] = url
    runtime["conduktor"]["gateway"]["admin_url"] = url
    secrets = {"KAFKA_PASSWORD": _secret("kafka"), "SR_PASSWORD": _secret("sr"),
               "GATEWAY_PASSWORD": _secret("gw"), "DB_PASSWORD": _secret("db")}
    env_yml = yaml.safe_dump({"environment": {"name": "dev"}, "runtime": runtime,
                              "safety": {"allow_destructive": True}})
    files = {
        "environments/dev.yml": env_yml,
        ".env": "KAFKA_PASSWORD=%s\n" % secrets["KAFKA_PASSWORD"],
        ".env.dev": "SR_PASSWORD='%s'\nGATEWAY_PASSWORD=\"%s\"\n" % (
            secrets["SR_PASSWORD"], secrets["GATEWAY_PASSWORD"]),
    }
    write_project(root, data, files)
    # DB_PASSWORD comes from the process environment
    return secrets


@pytest.fixture
def project(tmp_path, echo):
    root = str(tmp_path / "p")
    secrets = multi_env_project(root, echo.url, "127.0.0.1:%d" % _closed_port())
    environ = clean_environ(DB_PASSWORD=secrets["DB_PASSWORD"])
    return root, secrets, environ


def _run_all(args_list, secrets, environ):
    seen = []
    for args in args_list:
        r = cli(*args, environ=environ)
        assert "Traceback" not in r.stderr, (args, r)
        assert_no_leak(secrets.values(), r.stdout, r.stderr)
        seen.append((args, r))
    return seen


def test_project_commands_never_print_a_secret(project):
    root, secrets, environ = project
    seen = _run_all([
        ("validate", "-p", root, "-e", "dev"),
        ("validate", "-p", root, "-e", "dev", "--format", "json"),
        ("validate", "-p", root, "--all-envs", "--strict"),
        ("envs", "list", "-p", root),
        ("envs", "show", "dev", "-p", root),
        ("lineage", "-p", root, "-e", "dev"),
        ("lineage", "-p", root, "-e", "dev", "--format", "json"),
        ("lineage", "-p", root, "-e", "dev", "--format", "mermaid"),
    ], secrets, environ)
    assert seen[0][1].returncode == 0, seen[0][1]


def test_build_without_resolve_holds_no_secret_byte(project, tmp_path):
    root, secrets, environ = project
    out = str(tmp_path / "a")
    tgz = str(tmp_path / "a.tar.gz")
    for o in (out, tgz):
        r = _run_all([("build", "-p", root, "-e", "dev", "-o", o)], secrets, environ)[0][1]
        assert r.returncode == 0, r
    blob = b"".join(artifact_files(out).values())
    for s in secrets.values():
        for form in leak_forms(s):
            assert form.encode() not in blob
    import gzip
    with open(tgz, "rb") as f:
        raw = gzip.decompress(f.read())
    for s in secrets.values():
        assert s.encode() not in raw


def test_build_with_resolve_secrets_writes_them_but_never_prints_them(project, tmp_path):
    root, secrets, environ = project
    out = str(tmp_path / "resolved")
    old = str(tmp_path / "plain")
    seen = _run_all([
        ("build", "-p", root, "-e", "dev", "-o", out, "--resolve-secrets"),
        ("build", "-p", root, "-e", "dev", "-o", old),
        ("artifact", "inspect", out),
        ("artifact", "inspect", out, "--component", "flink"),
        ("artifact", "inspect", out, "--component", "connectors"),
        ("artifact", "verify", out),
        ("artifact", "diff", old, out),
        ("artifact", "diff", out, old),
    ], secrets, environ)
    assert seen[0][1].returncode == 0, seen[0][1]
    blob = b"".join(artifact_files(out).values())
    # the artifact does hold them (else the test would prove nothing about printing)
    assert secrets["DB_PASSWORD"].encode() in blob
    assert secrets["SR_PASSWORD"].encode() in blob
    # and only its owner can read the files
    for dirpath, _d, files in os.walk(out):
        for fn in files:
            assert os.stat(os.path.join(dirpath, fn)).st_mode & 0o077 == 0


def test_build_to_stdout_with_resolve_secrets_prints_them_only_in_the_tarball(project, tmp_path):
    root, secrets, environ = project
    r = cli("build", "-p", root, "-e", "dev", "-o", "-", "--resolve-secrets", environ=environ)
    assert "Traceback" not in r.stderr
    assert_no_leak(secrets.values(), r.stderr)


def test_deploy_paths_never_print_a_secret(project, tmp_path):
    """plan / deploy --dry-run / status against services that fail and echo the request
    (Kafka on a closed port, HTTP services answering 500 with the request in the body)."""
    root, secrets, environ = project
    out = str(tmp_path / "a")
    resolved = str(tmp_path / "r")
    assert cli("build", "-p", root, "-e", "dev", "-o", out, environ=environ).returncode == 0
    assert cli("build", "-p", root, "-e", "dev", "-o", resolved, "--resolve-secrets",
               environ=environ).returncode == 0
    envfile = str(tmp_path / "deploy.env")
    with open(envfile, "w") as f:
        f.write("".join("%s=%s\n" % kv for kv in sorted(secrets.items())))
    env_all = dict(environ, **secrets)
    seen = []
    for args, env in [
        (("plan", "-p", root, "-e", "dev"), environ),
        (("plan", "-p", root, "-e", "dev", "--format", "json"), environ),
        (("deploy", out, "--dry-run"), env_all),
        (("deploy", out, "--dry-run", "--format", "json"), env_all),
        (("deploy", out, "--dry-run", "--env-file", envfile), clean_environ()),
        (("deploy", resolved, "--dry-run"), clean_environ()),
        (("deploy", out, "--confirm"), env_all),
        (("apply", "-p", root, "-e", "dev", "--dry-run"), environ),
        (("status", out), env_all),
        (("status", out, "--format", "json"), env_all),
        (("status", "-p", root, "-e", "dev"), environ),
    ]:
        r = cli(*args, environ=env)
        assert "Traceback" not in r.stderr, (args, r)
        assert_no_leak(secrets.values(), r.stdout, r.stderr)
        seen.append(r)
    # the services were reached and failed: the commands did report failures
    assert all(r.returncode != 0 for r in seen)


def test_wrong_password_error_does_not_echo_it(project, tmp_path, echo):
    """A wrong password given through the environment (which wins over .env)."""
    root, secrets, environ = project
    wrong = dict(secrets, SR_PASSWORD=_secret("wrong"), KAFKA_PASSWORD=_secret("wrongk"))
    out = str(tmp_path / "a")
    assert cli("build", "-p", root, "-e", "dev", "-o", out, environ=environ).returncode == 0
    r = cli("deploy", out, "--dry-run", environ=dict(environ, **wrong))
    assert "Traceback" not in r.stderr
    assert_no_leak(list(wrong.values()) + list(secrets.values()), r.stdout, r.stderr)


def test_dotenv_parse_error_does_not_print_the_value(tmp_path):
    secret = _secret("dotenv")
    data = base_project()
    root = write_project(str(tmp_path / "p"), data, {
        ".env": "KAFKA_PASSWORD='%s\nSR_PASSWORD=\"%s\" trailing\n" % (secret, secret)})
    for args in (("validate", "-p", root), ("build", "-p", root, "-o", str(tmp_path / "o"))):
        r = cli(*args, environ=clean_environ())
        assert "Traceback" not in r.stderr
        assert r.returncode == streamt.EXIT_INVALID, r
        assert_no_leak([secret], r.stdout, r.stderr)


def test_secret_in_a_hostile_position_is_not_printed_back(tmp_path):
    """A secret pasted where a name belongs (a classic mistake): the refusal message must
    not print a runtime password value -- here the variable is only referenced."""
    secret = _secret("env")
    data = base_project()
    data["runtime"]["kafka"]["sasl_password"] = secret  # written inline, not as ${VAR}
    root = write_project(str(tmp_path / "p"), data)
    for args in (("validate", "-p", root), ("validate", "-p", root, "--format", "json"),
                 ("lineage", "-p", root)):
        r = cli(*args, environ=clean_environ())
        assert "Traceback" not in r.stderr
        assert_no_leak([secret], r.stdout, r.stderr)


SECRET_NAMES = ["basic.auth.user.info", "key", "access_key", "ssl.key", "sasl.jaas.config",
                "connection.password", "ssl.key.password", "api_key", "client_secret", "pass"]
PLAIN_NAMES = ["keystore_type", "ssl.keystore.type", "key.converter", "partitions", "url"]


def test_every_surface_hides_the_same_keys():
    """envs show, artifacts (inspect/diff) and plan agree on what is a secret: one policy."""
    values = dict((k, "value-of-%s" % k) for k in SECRET_NAMES + PLAIN_NAMES)
    shown_by_envs = streamt.mask_secrets(values)
    shown_by_artifact = streamt._InspectDiff.redact(values)
    policy = streamt.PlanPolicy("p")
    shown_by_plan = dict((k[len("config."):], new) for k, (old, new)
                         in streamt._TargetParts.changes_of({}, values, policy, "config.").items())
    for k in SECRET_NAMES:
        assert shown_by_envs[k] == "****", k
        assert shown_by_artifact[k] == "<redacted>", k
        assert shown_by_plan[k] == "<redacted>", k
    for k in PLAIN_NAMES:
        assert shown_by_envs[k] == shown_by_artifact[k] == shown_by_plan[k] == values[k], k


def test_plan_hides_a_secret_value_under_any_key():
    policy = streamt.PlanPolicy("p", secrets=streamt.SecretPolicy.values_of(
        {"DB_PASSWORD": "hunter22", "DB_USER": "admin"}))
    changes = streamt._TargetParts.changes_of({}, {"connection.url": "jdbc:pg://admin:hunter22@db/x"},
                                  policy, "config.")
    assert changes["config.connection.url"][1] == "jdbc:pg://admin:<redacted>@db/x"


def test_the_working_directory_is_not_a_secret(tmp_path):
    """PWD (the shell's working directory) matches the pass/pwd rule by name, but masking it
    would hide every path under the current directory (savepoints, artifacts, files)."""
    assert not streamt.SecretPolicy.is_secret_key("PWD")
    assert not streamt.SecretPolicy.is_secret_key("OLDPWD")
    assert streamt.SecretPolicy.is_secret_key("DB_PWD")
    scrub = streamt.SecretPolicy.scrubber({"PWD": str(tmp_path), "DB_PWD": "hunter22"})
    text = "restored from %s/savepoints/sp-1 with hunter22" % tmp_path
    assert scrub(text) == "restored from %s/savepoints/sp-1 with <redacted>" % tmp_path


def _written(root):
    """Every byte of every file under ``root`` (nothing when it does not exist)."""
    blob = b""
    for dirpath, _d, files in os.walk(root):
        for fn in files:
            with open(os.path.join(dirpath, fn), "rb") as f:
                blob += f.read()
    return blob


@pytest.mark.parametrize("where", ["load", "validate"])
@pytest.mark.parametrize("source", [".env", "--env-file", "environment"])
def test_a_secret_value_quoted_back_by_an_error_is_masked_whatever_its_source(
        tmp_path, source, where):
    """A password pasted where a value belongs (partitions: the loader quotes it back;
    a topic name: validation does) while it is also the value of DB_PASSWORD.  Only the
    process environment's values were masked before the command resolved its variables:
    the value from .env or --env-file was printed by validate, build, compile, test and
    plan, in text and in JSON.  Now every source is read first and masked in every
    byte printed, and no file written holds it."""
    secret = _secret("quoted")
    data = base_project()
    if where == "load":
        data["models"][0]["advanced"]["topic"]["partitions"] = secret
    else:
        data["models"][0]["advanced"]["topic"]["name"] = secret + " v1"
    files = {".env": "DB_PASSWORD=%s\n" % secret} if source == ".env" else {}
    root = write_project(str(tmp_path / "p"), data, files)
    environ = clean_environ(KAFKA_PASSWORD="k1234", SR_PASSWORD="s1234", GATEWAY_PASSWORD="g1234")
    env_file = []
    if source == "environment":
        environ["DB_PASSWORD"] = secret
    elif source == "--env-file":
        path = str(tmp_path / "deploy.env")
        with open(path, "w") as f:
            f.write("DB_PASSWORD='%s'\n" % secret)
        env_file = ["--env-file", path]
    out = str(tmp_path / "out")
    runs = [("plan", "-p", root), ("test", "-p", root, "--junit-xml", str(tmp_path / "out-junit.xml"))]
    if source != "--env-file":  # (the commands without --env-file)
        runs += [("validate", "-p", root), ("build", "-p", root, "-o", out + "-build"),
                 ("compile", "-p", root, "-o", out + "-compile")]
    for args in runs:
        for fmt in ("text", "json"):
            extra = ("--format", fmt) if args[0] in ("plan", "test", "validate") else ()
            if fmt == "json" and not extra:
                continue
            r = cli(*(args + extra + tuple(env_file if args[0] in ("plan", "test") else ())),
                    environ=environ)
            assert "Traceback" not in r.stderr, (args, r)
            assert r.returncode == streamt.EXIT_INVALID, (args, r)
            assert_no_leak([secret], r.stdout, r.stderr)
            assert streamt.REDACTED in r.stdout + r.stderr, (args, r)  # it was quoted: masked
    blob = b"".join(_written(str(tmp_path / n)) for n in ("out-build", "out-compile"))
    if os.path.exists(str(tmp_path / "out-junit.xml")):
        blob += open(str(tmp_path / "out-junit.xml"), "rb").read()
    for form in leak_forms(secret):
        assert form.encode() not in blob


def test_a_secret_with_quotes_and_backslashes_is_masked_in_json_too(tmp_path):
    """JSON writes `"` and `\\` in a string escaped, so a password holding them was not
    found (and not masked) in a --format json report; the scrubber also looks for the
    JSON and the repr spelling of each secret value."""
    secret = 'pa"ss\\w0rd-' + uuid.uuid4().hex[:8]
    data = base_project()
    data["models"][0]["advanced"]["topic"]["name"] = secret
    root = write_project(str(tmp_path / "p"), data, {".env": "DB_PASSWORD='%s'\n" % secret})
    environ = clean_environ(KAFKA_PASSWORD="k1234", SR_PASSWORD="s1234", GATEWAY_PASSWORD="g1234")
    r = cli("validate", "-p", root, "--format", "json", environ=environ)
    assert r.returncode == streamt.EXIT_INVALID, r
    messages = " ".join(d["message"] for d in json.loads(r.stdout)["diagnostics"])
    assert streamt.REDACTED in messages, messages
    assert_no_leak([secret, secret[:-9]], r.stdout, r.stderr)


def test_the_junit_report_is_masked_and_stays_xml(tmp_path):
    """`test --junit-xml` wrote its report without the scrubber: a secret value standing
    in it (here the project is named like DB_PASSWORD's value in .env) was written in
    clear.  The report's data is now scrubbed before it is rendered, so the mark is
    XML-escaped like any value and the file still parses."""
    import xml.etree.ElementTree as ET
    secret = "S3cr3tJunit" + uuid.uuid4().hex[:10]
    data = base_project()
    data["project"]["name"] = secret
    root = write_project(str(tmp_path / "p"), data, {".env": "DB_PASSWORD=%s\n" % secret})
    junit = str(tmp_path / "junit.xml")
    r = cli("test", "-p", root, "--type", "sample", "--junit-xml", junit,   # none: an empty run
            environ=clean_environ(KAFKA_PASSWORD="k1234", SR_PASSWORD="s1234",
                                  GATEWAY_PASSWORD="g1234"))
    assert r.returncode == 0, r
    with open(junit, "rb") as f:
        body = f.read()
    assert secret.encode() not in body, body
    names = [e.get("name") for e in ET.fromstring(body).iter("testsuite")]
    assert names == [streamt.REDACTED + " (default)"], names
    assert_no_leak([secret], r.stdout, r.stderr)


def test_a_secret_with_a_control_character_is_masked_as_json_writes_it():
    """The scrubber spells each secret as a JSON string would (only when that differs
    from the value itself): a tab or a line break in a password is `\\t`/`\\n` in a
    --format json report, and must be masked there too."""
    secret = "pa\tss\nw0rd-" + uuid.uuid4().hex[:8]
    scrub = streamt.SecretPolicy.scrubber({"DB_PASSWORD": secret})
    report = json.dumps({"message": "rejected %s" % secret}, ensure_ascii=False)
    assert secret.replace("\t", "\\t").replace("\n", "\\n") in report
    assert json.loads(scrub(report)) == {"message": "rejected " + streamt.REDACTED}


def test_json_as_is_is_exactly_when_json_writes_the_value_unchanged():
    """SecretPolicy.json_as_is lets the scrubber skip json.dumps (and importing json at
    every command start): it must be true exactly when a JSON string holds the value as
    it is, or a secret's JSON spelling would go unmasked."""
    from hypothesis import given, settings, strategies as st

    @settings(max_examples=500, deadline=None)
    @given(st.text())
    def check(value):
        same = json.dumps(value, ensure_ascii=False)[1:-1] == value
        assert streamt.SecretPolicy.json_as_is(value) is same, repr(value)
    check()
    for value in ("plain-1234", "\x7f\u2028\u202e\x85", "a\"b", "a\\b", "\x00", "\x1f", "é€𝄞"):
        same = json.dumps(value, ensure_ascii=False)[1:-1] == value
        assert streamt.SecretPolicy.json_as_is(value) is same, repr(value)


def test_a_command_start_with_plain_secrets_does_not_import_json(tmp_path):
    """A CI runner's environment holds secret-named variables (GITHUB_TOKEN, a
    password): building the scrubber for them imported the json module on every
    command (~2 ms of start-up) only to spell values JSON writes unchanged."""
    import subprocess
    import sys
    data = base_project()
    del data["sources"][0]["schema"]  # (a JSON schema is read with the json module)
    root = write_project(str(tmp_path / "p"), data)
    environ = clean_environ(KAFKA_PASSWORD="k1234", SR_PASSWORD="s1234", GATEWAY_PASSWORD="g1234",
                            GITHUB_TOKEN="ghp_" + "a" * 36, DB_PASSWORD="s3cr3t-pw")
    environ["PYTHONPATH"] = os.path.dirname(os.path.abspath(streamt.__file__))
    code = ("import sys, streamt\n"
            "out = streamt.Output()\n"
            "rc = streamt.main(['validate', '-p', sys.argv[1]], out)\n"
            "sys.stderr.write('json imported: %s\\n' % ('json' in sys.modules))\n"
            "sys.exit(rc)\n")
    p = subprocess.run([sys.executable, "-c", code, root], env=environ,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert p.returncode in (streamt.EXIT_OK, streamt.EXIT_INVALID), p.stderr
    assert "json imported: False" in p.stderr, p.stderr
