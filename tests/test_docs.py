"""The CI templates and the README must only use commands and flags that exist."""
import os
import re
import shlex

import pytest
import yaml

import streamt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CI_DIR = os.path.join(ROOT, "docs", "ci")


def streamt_invocations(text):
    """Every `streamt.pyz ARGS` / `streamt.py ARGS` / `$streamt ARGS` command line in a text."""
    # join shell continuation lines first
    text = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        m = re.search(r"(?:python3?\s+\S*streamt\.pyz?|\$streamt|^\s*(?:- )?streamt)\s+([a-z].*)$", line)
        if not m:
            continue
        rest = m.group(1)
        rest = re.split(r"\s(?:\||>|&&|;)\s?", rest)[0]       # drop pipes and redirections
        rest = re.sub(r"\$\{\{[^}]*\}\}", "X", rest)            # GitHub expressions
        found.append(shlex.split(rest, comments=True))
    return found


def check_parses(argv, where):
    parser = streamt.build_parser()
    try:
        parser.parse_args(argv)
    except streamt.UsageError as e:
        pytest.fail("%s: `streamt %s` does not parse: %s" % (where, " ".join(argv), e.message))


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_templates_are_valid_yaml_and_use_real_flags(name):
    text = open(os.path.join(CI_DIR, name)).read()
    assert yaml.safe_load(text)  # the CI system must be able to read it
    calls = streamt_invocations(text)
    assert {c[0] for c in calls} >= {"validate", "build"}, calls
    for argv in calls:
        check_parses(argv, name)


def test_bastion_script_uses_real_flags_and_is_valid_shell():
    path = os.path.join(CI_DIR, "bastion-deploy.sh")
    import subprocess
    assert subprocess.call(["sh", "-n", path]) == 0
    calls = streamt_invocations(open(path).read())
    assert {c[0] for c in calls} >= {"artifact", "deploy"}
    for argv in calls:
        check_parses(argv, "bastion-deploy.sh")


def test_readme_commands_parse():
    text = open(os.path.join(ROOT, "README.md")).read()
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, re.S)
    calls = [c for b in blocks for c in streamt_invocations(b)]
    assert calls, "the README shows no streamt command"
    for argv in calls:
        check_parses(argv, "README.md")


def test_migrating_guide_commands_parse():
    """docs/migrating.md: every command of the side-by-side table (inline code) and of its
    code blocks is a real streamt command line, and every row of the table is covered."""
    text = open(os.path.join(ROOT, "docs", "migrating.md")).read()
    inline = [shlex.split(c) for c in re.findall(r"`streamt ([a-z][^`]*)`", text)]
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    calls = inline + [argv for b in blocks for argv in streamt_invocations(b)]
    commands = set(argv[0] for argv in calls)
    assert {"validate", "compile", "plan", "apply", "lineage", "status", "docs", "envs", "build",
            "artifact", "deploy"} <= commands, commands
    for argv in calls:
        check_parses(argv, "docs/migrating.md")
