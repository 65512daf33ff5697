"""The README's promises, run for real.

- The quickstart code block runs, command by command, in a fresh directory against the real
  services of the harness, and every command succeeds; the deploy creates what the artifact
  holds, and the services then really have it (topic, running Flink job, connector).
- Every `streamt` command line of the README (code blocks *and* inline code) parses with the real
  argument parser; tests/test_docs.py checks the code blocks of the README and the CI templates.
- The first code block is the two commands of a fresh clone.

The quickstart is run as written except for three lines that belong to a developer's machine and
are replaced, explicitly, by what the test session already has:
  `make services-up`                      -> the session's `kafka`, `flink`, `connect` fixtures
  `eval "$(... tests.services up --exports)"` -> the `services_env` fixture's variables
  `.venv/bin/python`                      -> this interpreter (the one with the test packages)
If the README changes these lines, the test fails and says which substitution no longer matches.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import pytest

import streamt
from tests.test_docs import check_parses, streamt_invocations

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")


def _readme():
    with open(README) as f:
        return f.read()


def _code_blocks(text):
    return re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, re.S)


def quickstart_commands(text):
    """The command lines of the first code block under '## Quickstart', comments stripped."""
    m = re.search(r"^## Quickstart\n(.*?)(?=^## )", text, re.S | re.M)
    assert m, "README.md has no '## Quickstart' section"
    blocks = _code_blocks(m.group(1))
    assert blocks, "the Quickstart section has no code block"
    commands = []
    for line in blocks[0].splitlines():
        # a comment starts at "#" preceded by whitespace, outside quotes: let shlex find it
        if not line.strip() or line.strip().startswith("#"):
            continue
        words = shlex.split(line, comments=True)
        # keep the shell text (for $(...) and quotes) up to where the comment starts
        cut = re.search(r"\s+#\s", line)
        shell = line[:cut.start()] if cut else line
        assert shlex.split(shell) == words, "cannot separate the comment of %r" % line
        commands.append(shell.strip())
    return commands


def _run(shell, cwd, env, timeout=300):
    p = subprocess.Popen(["bash", "-c", shell], cwd=cwd, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail("README quickstart: `%s` did not finish in %d s\nstdout:\n%s\nstderr:\n%s"
                    % (shell, timeout, out, err))
    return p.returncode, out, err


def _http_json(url, method="GET"):
    import urllib.request
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=20) as r:
        body = r.read().decode("utf-8")
    return json.loads(body) if body.strip() else None


# --- without services -------------------------------------------------------------------------

def test_first_code_block_is_the_fresh_clone_commands():
    first = _code_blocks(_readme())[0]
    lines = [ln.split("#")[0].strip() for ln in first.splitlines() if ln.strip()]
    assert lines == ["python3 streamt.py build -p examples/shop -e dev -o dist/shop-dev", "make test"]
    # `make test` must be the whole suite that CI runs
    with open(os.path.join(ROOT, "Makefile")) as f:
        assert re.search(r"^test:", f.read(), re.M)


def test_first_command_works_on_a_clean_copy(tmp_path):
    # the example and the module, copied as a fresh clone would have them
    shutil.copy(os.path.join(ROOT, "streamt.py"), str(tmp_path))
    shutil.copytree(os.path.join(ROOT, "examples"), str(tmp_path / "examples"))
    first = _code_blocks(_readme())[0].splitlines()[0].split("#")[0]
    rc, out, err = _run(first, str(tmp_path), dict(os.environ))
    assert rc == 0, err
    assert (tmp_path / "dist" / "shop-dev" / "manifest.json").is_file()
    assert streamt.read_artifact(str(tmp_path / "dist" / "shop-dev")).manifest


def test_every_streamt_command_in_the_readme_parses():
    text = _readme()
    inline = re.findall(r"`(python3 \S*streamt\.pyz? [^`]+)`", text)
    # a table row `validate [-p DIR] ...` is a synopsis, not a command line: only real lines here
    assert inline, "the README has no inline streamt command"
    for cmd in inline:
        argv = shlex.split(cmd)[2:]
        check_parses(argv, "README.md (inline)")
    for block in _code_blocks(text):
        for line in block.splitlines():
            m = re.search(r"python3 \S*streamt\.pyz? (.*)$", line)
            if m:
                argv = shlex.split(re.split(r"\s(?:\||>|&&|;)\s?", m.group(1))[0], comments=True)
                if argv == ["--version"]:
                    continue              # argparse prints the version and exits 0
                check_parses(argv, "README.md")


def _subparsers(parser, prefix=()):
    """(command words, parser) of every command and subcommand."""
    for action in parser._actions:
        if getattr(action, "choices", None) and hasattr(action, "_name_parser_map"):
            for name, sub in sorted(action.choices.items()):
                yield prefix + (name,), sub
                for item in _subparsers(sub, prefix + (name,)):
                    yield item


def test_every_help_example_parses():
    """The examples in `--help` are what a newcomer copies first: each must be a real command line."""
    seen = set()
    for words, sub in _subparsers(streamt.build_parser()):
        calls = streamt_invocations(sub.epilog or "")
        for argv in calls:
            check_parses(argv, "`streamt %s --help`" % " ".join(words))
            seen.add(tuple(argv[:2]) if argv[0] in ("artifact", "envs", "docs") else (argv[0],))
    # every leaf command shows at least one example
    leaves = {w for w, sub in _subparsers(streamt.build_parser())
              if not any(len(o) > len(w) and o[:len(w)] == w for o, _ in _subparsers(streamt.build_parser()))}
    assert leaves - seen == set(), "commands whose --help shows no example: %s" % sorted(leaves - seen)


def test_quickstart_has_the_promised_steps():
    cmds = quickstart_commands(_readme())
    steps = []
    for c in cmds:
        m = re.match(r"python3 streamt\.py (\S+)(.*)$", c)
        if m:
            steps.append(m.group(1) + (" --dry-run" if "--dry-run" in m.group(2) else "")
                         + (" --confirm" if "--confirm" in m.group(2) else ""))
    order = ["init", "validate", "build", "artifact", "deploy --dry-run", "deploy --confirm"]
    positions = [steps.index(s) for s in order]
    assert positions == sorted(positions), steps


def test_quickstart_project_is_not_recorded_as_a_dirty_state_of_this_repository(tmp_path):
    # (issue 18) `init myflow` inside a clone made artifacts that recorded this repository's
    # commit, "dirty" because the new project's files are in none of its commits
    clone = tmp_path / "clone"
    clone.mkdir()
    shutil.copy(os.path.join(ROOT, "streamt.py"), str(clone))
    env = dict(os.environ, GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@b", GIT_COMMITTER_NAME="a",
               GIT_COMMITTER_EMAIL="a@b")
    env.pop("STREAMT_ENV", None)
    env.pop("STREAMT_PROJECT_DIR", None)
    for cmd in ("git init -q", "git add -A", "git commit -q -m clone"):
        assert _run(cmd, str(clone), env)[0] == 0
    cmds = quickstart_commands(_readme())
    offline = cmds[:cmds.index(SERVICES_UP)]
    for cmd in offline:
        rc, out, err = _run(cmd, str(clone), env)
        assert rc == 0, (cmd, out, err)
    built = [c for c in offline if re.match(r"python3 streamt\.py build ", c)][0]
    out_dir = shlex.split(built)[shlex.split(built).index("-o") + 1]
    manifest = streamt.read_artifact(os.path.join(str(clone), out_dir)).manifest
    assert manifest["git"] is None, manifest["git"]
    assert _run("git status --porcelain", str(clone), env)[1] == ""   # the clone stays clean


# --- the quickstart against the harness services -----------------------------------------------

SERVICES_UP = "make services-up"
EXPORTS = re.compile(r'^eval "\$\(\.venv/bin/python -m tests\.services up --exports\)"$')
VENV_PY = ".venv/bin/python "


@pytest.mark.services
def test_quickstart_runs_against_the_harness(tmp_path, services_env, kafka, flink, connect):
    cmds = quickstart_commands(_readme())
    assert SERVICES_UP in cmds, "the quickstart no longer says `%s`: update this test" % SERVICES_UP
    assert any(EXPORTS.match(c) for c in cmds), "the quickstart's `eval ... --exports` line changed"
    assert any(c.startswith(VENV_PY) for c in cmds)

    work = str(tmp_path / "clone")   # the project goes next to it (../myflow)
    os.mkdir(work)
    shutil.copy(os.path.join(ROOT, "streamt.py"), work)   # `python3 streamt.py` as in a clone
    env = dict(os.environ)
    env.pop("STREAMT_ENV", None)
    env.pop("STREAMT_PROJECT_DIR", None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")   # for `-m tests.services`
    results = []
    for cmd in cmds:
        if cmd == SERVICES_UP:
            continue                      # the fixtures started them
        if EXPORTS.match(cmd):
            env.update(services_env)      # what `up --exports` prints for the same services
            continue
        shell = cmd
        if shell.startswith(VENV_PY):
            shell = shlex.quote(sys.executable) + " " + shell[len(VENV_PY):]
        t0 = time.time()
        rc, out, err = _run(shell, work, env)
        results.append((cmd, rc, out, err))
        assert rc == 0, ("README quickstart: `%s` exited %d after %.0f s\nstdout:\n%s\nstderr:\n%s"
                         % (cmd, rc, time.time() - t0, out, err))

    # the artifact the quickstart built: what deploy must have created
    built = [c for c in cmds if re.match(r"python3 streamt\.py build ", c)][0]
    out_dir = shlex.split(built)[shlex.split(built).index("-o") + 1]
    desired = streamt.read_artifact(os.path.join(work, out_dir)).desired
    topics = sorted(t["name"] for t in desired["topics"])
    jobs = sorted(j["name"] for j in desired["flink_jobs"])
    pipelines = sorted(j["pipeline_name"] for j in desired["flink_jobs"])
    connectors = sorted(c["name"] for c in desired["connectors"])
    assert topics and jobs and connectors, "the quickstart project should deploy all three kinds"

    try:
        confirm = [r for r in results if "deploy" in r[0] and "--confirm" in r[0]][-1]
        _, _, out, err = confirm
        for kind, names in (("topic", topics), ("flink_job", jobs), ("connector", connectors)):
            for name in names:
                assert re.search(r"^\+ %s %s$" % (kind, re.escape(name)), out, re.M), (kind, name, out)
                assert "applied create %s:%s" % (kind, name) in err, (kind, name, err)
        n = len(topics) + len(jobs) + len(connectors)
        assert "Applied %d change(s)." % n in out, out

        dry = [r for r in results if "deploy" in r[0] and "--dry-run" in r[0]][-1]
        assert "Plan: %d to create" % n in dry[2], dry[2]

        # the services really have it
        from kafka.admin import KafkaAdminClient
        admin = KafkaAdminClient(bootstrap_servers=services_env["KAFKA_BOOTSTRAP"])
        try:
            live_topics = set(admin.list_topics())
        finally:
            admin.close()
        assert set(topics) <= live_topics
        live_conn = _http_json(services_env["CONNECT_URL"] + "/connectors")
        assert set(connectors) <= set(live_conn)
        overview = _http_json(flink.rest_url + "/jobs/overview")["jobs"]
        running = [j for j in overview if j["state"] == "RUNNING"]
        for pipeline in pipelines:
            assert any(j["name"].startswith(pipeline) for j in running), (pipeline, overview)

        # status, if the quickstart ends with it, sees nothing to do
        status = [r for r in results if re.match(r"python3 streamt\.py status ", r[0])]
        if status:
            assert "Plan: 0 to create, 0 to update" in status[-1][2], status[-1][2]
    finally:
        _cleanup(services_env, flink, connectors, pipelines)


def _cleanup(services_env, flink, connectors, pipelines):
    """Free the Flink slots and the connector for the rest of the session (best effort)."""
    import urllib.error
    for name in connectors:
        try:
            _http_json(services_env["CONNECT_URL"] + "/connectors/" + name, method="DELETE")
        except (urllib.error.URLError, OSError, ValueError):
            pass
    try:
        overview = _http_json(flink.rest_url + "/jobs/overview")["jobs"]
    except (urllib.error.URLError, OSError, ValueError):
        return
    for j in overview:
        if j["state"] in ("RUNNING", "CREATED", "RESTARTING") and any(j["name"].startswith(n) for n in pipelines):
            try:
                _http_json(flink.rest_url + "/jobs/%s?mode=cancel" % j["jid"], method="PATCH")
            except (urllib.error.URLError, OSError, ValueError):
                pass
