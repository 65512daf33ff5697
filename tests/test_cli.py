import subprocess
import sys

import streamt

ROOT = streamt.__file__.rsplit("/", 1)[0]


def run(*args, **kw):
    return subprocess.run([sys.executable, "streamt.py"] + list(args), cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kw)


def test_version_names_the_tool_and_python():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("streamt %s" % streamt.__version__)


def test_unknown_command_is_a_usage_error_with_a_hint():
    r = run("no-such-command")
    assert r.returncode == streamt.EXIT_USAGE
    assert "hint:" in r.stderr and "Traceback" not in r.stderr
