#!/usr/bin/env python3
"""streamt: build and deploy streaming pipelines (Kafka, Schema Registry, Flink SQL,
Kafka Connect, Conduktor Gateway) from a YAML + SQL project.

One file, standard library only, CPython 3.6 to 3.13.  The file is organised in
banner-separated sections in data-flow order; a section uses only the sections above it:

    errors & output . yaml . project . sql . validate . compile . artifact .
    clients (http, kafka wire) . targets . plan & deploy . cli

Run ``python3 streamt.py --help`` (or ``python3 streamt.pyz --help``).
"""

import sys

if sys.version_info < (3, 6):  # keep this guard parseable by old interpreters
    sys.stderr.write("streamt needs Python 3.6 or newer\n")
    sys.exit(1)

import collections
import datetime
import hashlib
import json
import os
import re
import string

# Heavier modules (argparse, ssl, socket, tarfile, gzip, lzma, zipfile, urllib.request,
# http.client, hmac, base64, difflib, uuid, ...) are imported inside the functions that
# use them: `streamt --version` must start within 3x a bare interpreter.

__version__ = "0.1.0"
__all__ = []  # filled by the sections: public names only


###############################################################################
# Errors & output #############################################################
###############################################################################
#
# Every failure a user can meet is a StreamtError with an exit code from the
# table below, a message saying what went wrong, where (file:line for project
# files) and, when we know it, a hint saying what to do.

EXIT_OK = 0
EXIT_FAILURE = 1       # failure not listed below
EXIT_USAGE = 2         # bad command line
EXIT_INVALID = 3       # the project is invalid
EXIT_INTEGRITY = 4     # artifact integrity or signature failure
EXIT_REFUSED = 5       # environment mismatch, protected env, destructive change, wrong cluster
EXIT_DRIFT = 6         # live state no longer matches the artifact's snapshot
EXIT_PARTIAL = 7       # partial deploy
EXIT_CHANGES = 8       # changes pending (only with --detailed-exitcode)


class Location(object):
    """Where something is written: a file, a 1-based line and column (both optional)."""

    __slots__ = ("file", "line", "col")

    def __init__(self, file=None, line=None, col=None):
        self.file, self.line, self.col = file, line, col

    def __str__(self):
        out = self.file or "<input>"
        if self.line:
            out += ":%d" % self.line
            if self.col:
                out += ":%d" % self.col
        return out

    def __repr__(self):
        return "Location(%r, %r, %r)" % (self.file, self.line, self.col)

    def __eq__(self, other):
        return isinstance(other, Location) and (self.file, self.line, self.col) == (
            other.file, other.line, other.col)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.file, self.line, self.col))


class StreamtError(Exception):
    """Base of every error streamt reports to a user (never shown as a traceback)."""

    exit_code = EXIT_FAILURE

    def __init__(self, message, hint=None, location=None, details=None):
        Exception.__init__(self, message)
        self.message = message
        self.hint = hint
        self.location = location
        self.details = list(details or [])

    def render(self):
        """The text shown to a user: location, message, details, hint."""
        head = self.message
        if self.location is not None:
            head = "%s: %s" % (self.location, head)
        lines = [head]
        lines.extend("  " + d for d in self.details)
        if self.hint:
            lines.append("hint: " + self.hint)
        return "\n".join(lines)

    def __str__(self):
        return self.render()


class UsageError(StreamtError):
    exit_code = EXIT_USAGE


class ProjectError(StreamtError):
    """The project cannot be loaded or is invalid."""
    exit_code = EXIT_INVALID


class IntegrityError(StreamtError):
    """An artifact is damaged, incomplete, hostile, or its signature does not verify."""
    exit_code = EXIT_INTEGRITY


class RefusedError(StreamtError):
    """streamt refuses to go on: environment mismatch, protected env, destructive change."""
    exit_code = EXIT_REFUSED


class DriftError(StreamtError):
    exit_code = EXIT_DRIFT


class PartialDeployError(StreamtError):
    exit_code = EXIT_PARTIAL


class ServiceError(StreamtError):
    """A service (Kafka, Flink, Connect, Schema Registry, Gateway) failed or is unreachable."""
    exit_code = EXIT_FAILURE


__all__ += ["EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_INVALID", "EXIT_INTEGRITY",
            "EXIT_REFUSED", "EXIT_DRIFT", "EXIT_PARTIAL", "EXIT_CHANGES", "Location",
            "StreamtError", "UsageError", "ProjectError", "IntegrityError", "RefusedError",
            "DriftError", "PartialDeployError", "ServiceError", "canonical_json",
            "Output"]


def canonical_json(obj):
    """Canonical JSON text: sorted keys, UTF-8 (no escaping), 2-space indent, final newline."""
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False,
                      separators=(",", ": ")) + "\n"


class Output(object):
    """Where results (stdout) and diagnostics/progress (stderr) go.

    Colour only when the stream is a TTY and NO_COLOR is not set."""

    COLORS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1", "dim": "2"}

    def __init__(self, out=None, err=None, environ=None):
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        env = os.environ if environ is None else environ
        self.no_color = "NO_COLOR" in env

    def _colored(self, stream, text, color):
        if color and not self.no_color and getattr(stream, "isatty", lambda: False)():
            return "\033[%sm%s\033[0m" % (self.COLORS[color], text)
        return text

    def result(self, text="", color=None):
        """A line of the command's result, on stdout."""
        self.out.write(self._colored(self.out, text, color) + "\n")

    def info(self, text="", color=None):
        """A line of progress or diagnostics, on stderr."""
        self.err.write(self._colored(self.err, text, color) + "\n")

    def warn(self, text):
        self.info("warning: " + text, "yellow")

    def error(self, text):
        self.info("error: " + text, "red")

# (end of errors & output)


###############################################################################
# YAML ########################################################################
###############################################################################
#
# A YAML loader that means what PyYAML's safe_load means (see vendor-notes.md).

# (end of yaml)


###############################################################################
# Project #####################################################################
###############################################################################
#
# Finding and loading a project: stream_project.yml, split files, environments,
# .env files and ${VAR} references.

# (end of project)


###############################################################################
# SQL #########################################################################
###############################################################################
#
# A Flink SQL tokenizer, template calls ({{ source() }} / {{ ref() }}), quoting,
# materialization inference and column type inference.
#
# Everything here works on *tokens*: a string literal or a comment can never be
# mistaken for SQL, and a name or value we write into SQL goes through
# quote_ident()/quote_string() so that it can never end a statement.

__all__ += ["SqlError", "Token", "sql_tokens", "template_calls", "render_sql",
            "quote_ident", "quote_string", "split_statements", "infer_materialization",
            "is_keyword", "significant_tokens", "token_value", "is_stateful"]


class SqlError(ProjectError):
    """SQL (or a template call in it) that streamt cannot read."""


# A token: kind, its exact text, 1-based line and column, and its [start, end)
# offsets in the text.  Kinds:
#   ident    a bare word (keyword or name)         qident   `back-quoted`  (value: unquoted)
#   dqident  "double-quoted"                       string   'single-quoted' (value: unquoted)
#   number   12, 1.5, .5, 1e3                      op       operators and punctuation
#   comment  -- ...  or  /* ... */                 template {{ ... }}
#   block    {% ... %} or {# ... #} (never supported: reported by template_calls)
Token = collections.namedtuple("Token", "kind text line col start end")

# Multi-character operators first: the tokenizer takes the longest match.
_SQL_OPERATORS = ("<>", "!=", "<=", ">=", "||", "::", "=>", "->")


def sql_tokens(text, comments=True):
    """Tokens of a Flink SQL text (whitespace left out).

    ``{{ ... }}`` template calls are single tokens of kind ``template``; ``{% %}`` and
    ``{# #}`` are tokens of kind ``block``.  An unterminated string, quoted identifier,
    comment or template raises SqlError with the line and column where it starts.
    With ``comments=False`` comment tokens are dropped."""
    out = []
    i, n = 0, len(text)
    line, line_start = 1, 0
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            line_start = i + 1
            i += 1
            continue
        if c.isspace():
            i += 1
            continue
        start, col, tline = i, i - line_start + 1, line
        two = text[i:i + 2]
        if two == "--":
            j = text.find("\n", i)
            j = n if j < 0 else j
            kind = "comment"
        elif two == "/*":
            j = text.find("*/", i + 2)
            if j < 0:
                raise SqlError("unterminated /* comment", location=Location(None, tline, col),
                               hint="close the comment with */")
            j += 2
            kind = "comment"
        elif two in ("{{", "{%", "{#"):
            close = {"{{": "}}", "{%": "%}", "{#": "#}"}[two]
            j = _template_end(text, i + 2, close)
            if j < 0:
                raise SqlError("unterminated template %s ... %s" % (two, close),
                               location=Location(None, tline, col),
                               hint="close it with %s" % close)
            kind = "template" if two == "{{" else "block"
        elif c in "'`\"":
            j = i + 1
            while True:
                k = text.find(c, j)
                if k < 0:
                    what = {"'": "string literal", "`": "quoted identifier",
                            '"': "double-quoted identifier"}[c]
                    raise SqlError("unterminated %s" % what, location=Location(None, tline, col),
                                   hint="close it with %s (write %s%s for the character itself)"
                                   % (c, c, c))
                if text[k + 1:k + 2] == c:  # doubled quote: the character itself
                    j = k + 2
                    continue
                j = k + 1
                break
            kind = {"'": "string", "`": "qident", '"': "dqident"}[c]
        elif c.isdigit() or (c == "." and text[i + 1:i + 2].isdigit()):
            m = _NUMBER_RE.match(text, i)
            j = m.end()
            kind = "number"
        elif c.isalpha() or c == "_" or c == "$":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_$"):
                j += 1
            kind = "ident"
        else:
            j = i + 1
            for op in _SQL_OPERATORS:
                if text.startswith(op, i):
                    j = i + len(op)
                    break
            kind = "op"
        tok_text = text[start:j]
        if kind != "comment" or comments:
            out.append(Token(kind, tok_text, tline, col, start, j))
        # keep the line count right across multi-line tokens
        nl = tok_text.count("\n")
        if nl:
            line += nl
            line_start = start + tok_text.rfind("\n") + 1
        i = j
    return out


def significant_tokens(text_or_tokens):
    """The tokens without comments."""
    toks = sql_tokens(text_or_tokens) if isinstance(text_or_tokens, str) else text_or_tokens
    return [t for t in toks if t.kind != "comment"]


def is_keyword(tok, *words):
    """True if ``tok`` is a bare word equal (case-insensitively) to one of ``words``."""
    return tok is not None and tok.kind == "ident" and tok.text.upper() in words


def token_value(tok):
    """The value of a token: a quoted identifier or string without its quotes."""
    if tok.kind in ("qident", "string", "dqident"):
        q = tok.text[0]
        return tok.text[1:-1].replace(q + q, q)
    return tok.text


def template_calls(sql):
    """``[(kind, name, line, col)]`` of the template calls of ``sql`` in order.

    ``kind`` is ``"source"`` or ``"ref"`` for ``{{ source("x") }}`` / ``{{ ref('y') }}``
    (whitespace tolerant, single or double quotes).  Anything else inside ``{{ }}``,
    and every ``{% %}`` / ``{# #}``, is returned with kind ``"unsupported"`` and its
    text as the name, so that validation reports it (it is never passed through).
    An unreadable SQL text raises SqlError."""
    out = []
    for tok in sql_tokens(sql):
        if tok.kind == "template":
            call = _parse_template_call(tok.text)
            if call:
                out.append((call[0], call[1], tok.line, tok.col))
            else:
                out.append(("unsupported", tok.text, tok.line, tok.col))
        elif tok.kind == "block":
            out.append(("unsupported", tok.text, tok.line, tok.col))
    return out


def render_sql(sql, resolver):
    """``sql`` with every template call replaced by ``quote_ident(resolver(kind, name))``.

    Comments are kept.  An unsupported template raises SqlError (validation reports it
    with its location first)."""
    out, pos = [], 0
    for tok in sql_tokens(sql):
        if tok.kind not in ("template", "block"):
            continue
        call = _parse_template_call(tok.text) if tok.kind == "template" else None
        if not call:
            raise SqlError("unsupported template %s" % tok.text,
                           location=Location(None, tok.line, tok.col),
                           hint='only {{ source("name") }} and {{ ref("name") }} are supported')
        out.append(sql[pos:tok.start])
        out.append(quote_ident(resolver(call[0], call[1])))
        pos = tok.end
    out.append(sql[pos:])
    return "".join(out)


def quote_ident(name):
    """A back-quoted Flink SQL identifier (back-quotes doubled)."""
    return "`" + str(name).replace("`", "``") + "`"


def quote_string(value):
    """A single-quoted Flink SQL string literal (quotes doubled).

    Flink string literals have no backslash escapes, so nothing else can end them."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return "'" + str(value).replace("'", "''") + "'"


def split_statements(text):
    """The statements of a SQL script: split on ``;`` outside strings, quoted names and
    comments.  Comments before a statement are dropped; empty statements are left out.
    Each statement is returned without its ``;``."""
    out = []
    first = None  # first significant token of the current statement
    for tok in sql_tokens(text):
        if tok.kind == "comment":
            continue
        if tok.kind == "op" and tok.text == ";":
            if first is not None:
                out.append(text[first.start:tok.start].rstrip())
            first = None
            continue
        if first is None:
            first = tok
    if first is not None:
        out.append(text[first.start:].rstrip())
    return out


# Words that make a query stateful (Flink keeps state for them), checked as
# `WORD (` for functions.
_WINDOW_TVFS = ("TUMBLE", "HOP", "SESSION", "CUMULATE")
_STATEFUL_FUNCS = ("ROW_NUMBER", "LAG", "LEAD", "RANK", "DENSE_RANK", "FIRST_VALUE",
                   "LAST_VALUE", "NTH_VALUE", "COUNT", "SUM", "AVG", "MIN", "MAX", "COLLECT",
                   "LISTAGG", "ML_PREDICT", "ML_EVALUATE", "ARRAY_AGG", "STDDEV_POP",
                   "STDDEV_SAMP", "VAR_POP", "VAR_SAMP") + _WINDOW_TVFS
MATERIALIZATIONS = ("topic", "virtual_topic", "flink", "sink")


def infer_materialization(model, project=None):
    """``(declared, effective)`` materialization of a model (reference §1.8).

    ``declared`` is the explicit ``materialized`` or the inferred type; ``effective`` is
    what compile builds: an inferred ``virtual_topic`` without a Conduktor Gateway in the
    runtime (and without ``gateway.virtual_topic``) is compiled as a Flink job (validation
    reports AMBIGUOUS_MATERIALIZATION).  The SQL is judged on tokens: words inside
    strings, quoted names and comments do not count.  Unreadable SQL counts as ``flink``
    (validation reports the SQL error)."""
    explicit = model.get("materialized")
    if explicit:
        return explicit, explicit
    sql = model.get("sql")
    gateway = model.get("gateway") or {}
    if model.get("from") and not sql:
        return "sink", "sink"
    if isinstance(gateway, dict) and gateway.get("virtual_topic"):
        return "virtual_topic", "virtual_topic"
    if not sql:
        return "topic", "topic"
    try:
        toks = significant_tokens(sql)
    except SqlError:
        return "flink", "flink"
    if is_stateful(toks):
        return "flink", "flink"
    if _is_plain_select_star(toks):
        return "topic", "topic"
    if _has_gateway(project):
        return "virtual_topic", "virtual_topic"
    return "virtual_topic", "flink"


def is_stateful(tokens):
    """True if the query (tokens) needs Flink state: windows, GROUP BY, joins, DISTINCT,
    ORDER BY, OVER, MATCH_RECOGNIZE, aggregate/analytic functions."""
    toks = [t for t in tokens if t.kind != "comment"]
    for i, t in enumerate(toks):
        if t.kind != "ident":
            continue
        w = t.text.upper()
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if w in ("JOIN", "OVER", "MATCH_RECOGNIZE"):
            return True
        if w in ("GROUP", "ORDER") and is_keyword(nxt, "BY"):
            return True
        if w == "SELECT" and is_keyword(nxt, "DISTINCT"):
            return True
        if w in _STATEFUL_FUNCS and nxt is not None and nxt.kind == "op" and nxt.text == "(":
            return True
    return False


def _is_plain_select_star(toks):
    if len(toks) < 4 or not (is_keyword(toks[0], "SELECT") and toks[1].text == "*"
                             and is_keyword(toks[2], "FROM")):
        return False
    return not any(is_keyword(t, "WHERE", "LIMIT") for t in toks)


def _has_gateway(project):
    runtime = getattr(project, "runtime", None) or {}
    conduktor = runtime.get("conduktor") if isinstance(runtime, dict) else None
    return bool(isinstance(conduktor, dict) and conduktor.get("gateway"))


_NUMBER_RE = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_TEMPLATE_CALL_RE = re.compile(
    r"""\A\s*(source|ref)\s*\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\)\s*\Z""")


def _template_end(text, i, close):
    """Offset just after the ``close`` of a template opened before ``i`` (quotes inside
    the template are skipped), or -1."""
    n = len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            k = i + 1
            while k < n and text[k] != c:
                k += 2 if text[k] == "\\" else 1
            i = k + 1
            continue
        if text.startswith(close, i):
            return i + len(close)
        i += 1
    return -1


def _parse_template_call(template_text):
    """``(kind, name)`` for ``{{ source("x") }}`` / ``{{ ref('y') }}``, else None."""
    m = _TEMPLATE_CALL_RE.match(template_text[2:-2])
    if not m:
        return None
    raw = m.group(2) if m.group(2) is not None else m.group(3)
    name = re.sub(r"\\(.)", r"\1", raw)
    if not name:
        return None
    return m.group(1), name

# (end of sql)


###############################################################################
# Validate ####################################################################
###############################################################################

# (end of validate)


###############################################################################
# Compile #####################################################################
###############################################################################
#
# A project to its desired state: topics, schemas, Flink jobs, connectors,
# Gateway resources (docs/internals.md describes the shapes).

# (end of compile)


###############################################################################
# Artifact ####################################################################
###############################################################################
#
# Build, read, verify, inspect and diff artifacts; Ed25519/SSHSIG signatures.

# -- artifact: signatures (Ed25519, OpenSSH keys, SSHSIG, allowed_signers) ------

# (end of artifact: signatures)

# -- artifact: build, read, verify, inspect, diff -------------------------------

# (end of artifact)


###############################################################################
# Clients: HTTP ###############################################################
###############################################################################

# (end of clients: http)


###############################################################################
# Clients: Kafka wire protocol ################################################
###############################################################################

# (end of clients: kafka)


###############################################################################
# Targets #####################################################################
###############################################################################
#
# One per service, same shape: observe the live state, diff, apply.

# (end of targets)


###############################################################################
# Plan & deploy ###############################################################
###############################################################################

# (end of plan & deploy)


###############################################################################
# CLI #########################################################################
###############################################################################
#
# Each command registers itself with @command; main() builds the parser from
# the registry, runs the command, and turns StreamtError into its exit code.

_COMMANDS = []


def command(name, help, description=None, epilog=None):
    """Register a sub-command.  The decorated function is ``f(parser)`` that adds the
    command's arguments and returns the handler ``run(args, output) -> exit code``."""
    def register(setup):
        _COMMANDS.append((name, help, description, epilog, setup))
        return setup
    return register


# -- cli: validate, envs, lineage ----------------------------------------------

# (end of cli: validate)

# -- cli: build, artifact ------------------------------------------------------

# (end of cli: build)

# -- cli: deploy, plan, apply, status ------------------------------------------

# (end of cli: deploy)

# -- cli: init -----------------------------------------------------------------

# (end of cli: init)


def build_parser():
    import argparse

    class _ArgumentParser(argparse.ArgumentParser):
        def error(self, message):
            raise UsageError("%s: %s" % (self.prog, message),
                             hint="run '%s --help' for usage" % self.prog)

    parser = _ArgumentParser(
        prog="streamt",
        description="Build and deploy streaming pipelines from a YAML + SQL project.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version="streamt %s (Python %s)" % (__version__, sys.version.split()[0]))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter
    for name, help_text, description, epilog, setup in _COMMANDS:
        p = sub.add_parser(name, help=help_text, description=description or help_text,
                           epilog=epilog, formatter_class=fmt)
        p.set_defaults(_run=setup(p))
    return parser


def main(argv=None, output=None):
    """Run streamt; returns the exit code (never raises for user errors)."""
    output = output or Output()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            parser.print_help(output.err)
            return EXIT_USAGE
        code = args._run(args, output)
        return EXIT_OK if code is None else code
    except StreamtError as e:
        output.error(e.render())
        return e.exit_code
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else EXIT_OK
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.modules.setdefault("streamt", sys.modules[__name__])
    sys.exit(main())
