"""main() builds the parser of the first word's command alone (build_parser(only=...)):
on any command line starting with a command's name it must parse, fail and print help
exactly as the parser of every command does."""
import contextlib
import io

import pytest

import streamt

COMMANDS = [c[0] for c in streamt._COMMANDS]
LINES = [
    [], ["build"], ["build", "-o", "x.tar"], ["build", "-p", "d", "-e", "prod", "-o", "-",
                                               "--force", "--resolve-secrets"],
    ["build", "-o"], ["build", "--bogus", "-o", "x"], ["build", "-o", "x", "extra"],
    ["build", "-o", "x", "--sign"], ["build", "--help"], ["build", "-h", "-o", "x"],
    ["validate"], ["validate", "--all-envs", "-e", "x"], ["validate", "--format", "yaml"],
    ["validate", "--format", "json", "--strict", "--no-env-check"], ["validate", "-h"],
    ["artifact"], ["artifact", "inspect"], ["artifact", "inspect", "p", "--component", "flink"],
    ["artifact", "verify", "p", "--require-signature"], ["artifact", "diff", "a"],
    ["artifact", "diff", "a", "b", "--detailed-exitcode"], ["artifact", "bogus"],
    ["artifact", "--help"], ["artifact", "inspect", "--help"],
    ["build", "validate"], ["build", "--version"], ["build", "-o", "x", "--", "y"],
    ["build", "--out", "x"], ["build", "--outp=x"], ["build", "--output=x", "--force=1"],
] + [[c] for c in COMMANDS] + [[c, "--help"] for c in COMMANDS] + [
    [c, "--no-such-option"] for c in COMMANDS] + [[c, "-p", "d", "x"] for c in COMMANDS]


def outcome(parser, argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = parser.parse_args(argv)
        except streamt.UsageError as e:
            result = ("usage error", e.render())
        except SystemExit as e:
            result = ("exit", e.code)
        else:
            result = ("args", sorted((k, v) for k, v in vars(args).items() if k != "_run"),
                      getattr(args, "_run", None) is not None)
    return result, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv", LINES, ids=lambda a: " ".join(a) or "(none)")
def test_the_parser_of_one_command_is_the_parser_of_all(argv):
    want = outcome(streamt.build_parser(), argv)
    only = argv[0] if argv and argv[0] in COMMANDS else None
    assert outcome(streamt.build_parser(only=only), argv) == want


def test_main_uses_the_one_command_parser(monkeypatch):
    seen = []
    real = streamt.build_parser

    def spy(only=None):
        seen.append(only)
        return real(only)
    monkeypatch.setattr(streamt, "build_parser", spy)
    err = io.StringIO()
    assert streamt.main(["build"], output=streamt.Output(io.StringIO(), err)) == 2
    assert seen == ["build"] and "required: -o/--output" in err.getvalue()
