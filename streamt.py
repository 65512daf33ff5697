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


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def _parse_template_call(template_text):
    """``(kind, name)`` for ``{{ source("x") }}`` / ``{{ ref('y') }}``, else None."""
    m = _TEMPLATE_CALL_RE.match(template_text[2:-2])
    if not m:
        return None
    raw = m.group(2) if m.group(2) is not None else m.group(3)
    name = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), raw)
    if not name:
        return None
    return m.group(1), name


# -- sql: types and column inference -------------------------------------------
#
# The compiler writes a CREATE TABLE for every job's sink, so it must know the
# columns and types a SELECT produces.  analyze_query() reads the top-level SELECT
# on tokens with a small recursive-descent expression typer (Flink's typing rules,
# simplified; see _FUNC_TYPES).  What it cannot type is reported and becomes STRING
# (the compiler then casts it explicitly so that the INSERT is still valid).

__all__ += ["Column", "QueryInfo", "normalize_type", "analyze_query"]


class Column(object):
    """An output column: name, Flink type text, and ``rowtime``: the watermark delay in
    milliseconds when the column is an event-time attribute (else None)."""

    __slots__ = ("name", "type", "rowtime", "proctime")

    def __init__(self, name, type, rowtime=None, proctime=False):
        self.name, self.type, self.rowtime, self.proctime = name, type, rowtime, proctime

    def __repr__(self):
        return "Column(%r, %r%s)" % (self.name, self.type,
                                     ", rowtime=%r" % self.rowtime if self.rowtime is not None
                                     else "")

    def __eq__(self, other):
        return isinstance(other, Column) and (self.name, self.type, self.rowtime) == (
            other.name, other.type, other.rowtime)

    def __ne__(self, other):
        return not self == other


class QueryInfo(object):
    """What analyze_query() found out about a query.

    ``columns`` – [Column] of the result; ``untyped`` – names typed STRING by default;
    ``items`` – [(output name, start, end)] offsets of each select item in the text
    (``None`` name for a ``*``), ``star`` – [(start, end, [Column])] of ``*`` items;
    ``updating`` – True if the result is an updating (changelog) stream; ``key`` –
    the output columns that identify a row of an updating result (may be empty);
    ``windowed`` – True for a window aggregation; ``warnings`` – [str]."""

    def __init__(self):
        self.columns, self.untyped, self.items, self.star = [], [], [], []
        self.updating, self.key, self.windowed, self.warnings = False, [], False, []
        self.exprs = []  # [(name, start, expr_end, has_alias)] of the non-* items


def normalize_type(text):
    """A Flink SQL type written canonically (``decimal(10,2)`` → ``DECIMAL(10, 2)``).

    Only type syntax is accepted – words, numbers, back-quoted field names and
    ``( ) < > ,`` – so a type can never end a statement or a column list early.
    Raises SqlError otherwise."""
    text = str(text)
    try:
        toks = significant_tokens(text)
    except SqlError as e:
        raise SqlError("invalid SQL type %r: %s" % (text, e.message))
    depth = 0
    for t in toks:
        ok = t.kind in ("ident", "number", "qident") or (
            t.kind == "op" and t.text in ("(", ")", "<", ">", ","))
        if not ok:
            raise SqlError("invalid SQL type %r: unexpected %r" % (text, t.text),
                           hint="write a Flink SQL type such as STRING, BIGINT, "
                                "DECIMAL(10, 2), TIMESTAMP(3) or ARRAY<STRING>")
        if t.text in ("(", "<"):
            depth += 1
        elif t.text in (")", ">"):
            depth -= 1
            if depth < 0:
                break
    if not toks or depth != 0 or toks[0].kind != "ident":
        raise SqlError("invalid SQL type %r" % text,
                       hint="write a Flink SQL type such as STRING, BIGINT, DECIMAL(10, 2)")
    return _join_type_tokens(toks)


def analyze_query(sql, relation):
    """Analyze the top-level SELECT of ``sql`` (templates not rendered).

    ``relation(kind, name)`` gives the input a template call stands for:
    ``(columns, updating, key)`` or None when unknown.  Returns a QueryInfo."""
    info = QueryInfo()
    toks = significant_tokens(sql)
    _analyze(toks, relation, info)
    return info


# Type families, for promotion and aggregate rules.
_INT_TYPES = ("TINYINT", "SMALLINT", "INT", "INTEGER", "BIGINT")
_NUMERIC_RANK = {"TINYINT": 1, "SMALLINT": 2, "INT": 3, "INTEGER": 3, "BIGINT": 4,
                 "DECIMAL": 5, "NUMERIC": 5, "DEC": 5, "FLOAT": 6, "REAL": 6, "DOUBLE": 7}
_STRING_TYPES = ("STRING", "VARCHAR", "CHAR", "CHARACTER")
_WINDOW_COLUMNS = ("window_start", "window_end", "window_time")
_CLAUSE_WORDS = ("FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "WINDOW", "UNION",
                 "EXCEPT", "INTERSECT", "QUALIFY", "OFFSET", "FETCH", "MINUS")
_JOIN_WORDS = ("JOIN", "LEFT", "RIGHT", "FULL", "INNER", "CROSS", "OUTER", "ON", "USING",
               "NATURAL", "LATERAL", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "UNION",
               "FOR", "MATCH_RECOGNIZE", "WINDOW", "AS")

# Functions: a fixed result type, or a rule name handled in _call_type.
_FUNC_TYPES = {}
for _names, _t in (
        ("COUNT ROW_NUMBER RANK DENSE_RANK NTILE UNIX_TIMESTAMP YEAR MONTH DAY HOUR MINUTE "
         "SECOND QUARTER WEEK DAYOFWEEK DAYOFMONTH DAYOFYEAR EXTRACT", "BIGINT"),
        ("CHAR_LENGTH CHARACTER_LENGTH POSITION LOCATE INSTR ASCII CARDINALITY ARRAY_POSITION "
         "TIMESTAMPDIFF HASH_CODE BIT_LENGTH OCTET_LENGTH", "INT"),
        ("UPPER LOWER TRIM LTRIM RTRIM BTRIM CONCAT CONCAT_WS SUBSTRING SUBSTR REPLACE "
         "REGEXP_REPLACE REGEXP_EXTRACT INITCAP LPAD RPAD REPEAT REVERSE SPLIT_INDEX MD5 SHA1 "
         "SHA224 SHA256 SHA384 SHA512 SHA2 TO_BASE64 FROM_BASE64 DATE_FORMAT JSON_VALUE "
         "JSON_QUERY JSON_STRING JSON_OBJECT JSON_ARRAY JSON_OBJECTAGG JSON_ARRAYAGG UUID CHR "
         "LEFT RIGHT OVERLAY TRANSLATE LISTAGG HEX FROM_UNIXTIME CONVERT_TZ URL_DECODE "
         "URL_ENCODE PARSE_URL PRINTF ELT TYPEOF", "STRING"),
        ("JSON_EXISTS REGEXP ARRAY_CONTAINS IS_ALPHA IS_DECIMAL IS_DIGIT", "BOOLEAN"),
        ("RAND POWER POW SQRT EXP LN LOG LOG10 LOG2 SIN COS TAN COT ASIN ACOS ATAN ATAN2 SINH "
         "COSH TANH DEGREES RADIANS PI E STDDEV_POP STDDEV_SAMP VAR_POP VAR_SAMP STDDEV VARIANCE",
         "DOUBLE"),
        ("TO_TIMESTAMP TUMBLE_START TUMBLE_END HOP_START HOP_END SESSION_START SESSION_END "
         "CUMULATE_START CUMULATE_END LOCALTIMESTAMP", "TIMESTAMP(3)"),
        ("TO_TIMESTAMP_LTZ NOW CURRENT_TIMESTAMP PROCTIME CURRENT_ROW_TIMESTAMP",
         "TIMESTAMP_LTZ(3)"),
        ("TO_DATE CURRENT_DATE", "DATE"),
        ("CURRENT_TIME LOCALTIME", "TIME(0)"),
        ("MIN MAX FIRST_VALUE LAST_VALUE LAG LEAD NTH_VALUE ANY_VALUE ABS ROUND FLOOR CEIL "
         "CEILING TRUNCATE MOD SIGN", "@first"),
        ("COALESCE IFNULL NVL GREATEST LEAST", "@merge"),
        ("NULLIF", "@first"),
        ("IF", "@if"),
        ("SUM", "@sum"),
        ("AVG", "@avg"),
        ("TUMBLE_ROWTIME HOP_ROWTIME SESSION_ROWTIME", "@rowtime"),
        ("TIMESTAMPADD", "@third"),
        ("COLLECT", "@multiset"),
        ("ARRAY_AGG", "@array")):
    for _n in _names.split():
        _FUNC_TYPES[_n] = _t
# Words typed without parentheses.
_NILADIC = ("CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME", "LOCALTIMESTAMP",
            "LOCALTIME", "CURRENT_ROW_TIMESTAMP")


def _join_type_tokens(toks):
    out = []
    prev = None
    for t in toks:
        text = t.text if t.kind == "qident" else t.text.upper()
        if prev is not None and not (text in (",", ")", "(", "<", ">") or prev in ("(", "<")):
            out.append(" ")
        out.append(text)
        prev = text
    return "".join(out)


def _base(type_text):
    """The base name of a type: ``DECIMAL(10, 2)`` → ``DECIMAL``."""
    if not type_text:
        return None
    return re.split(r"[\s(<]", type_text, 1)[0].upper()


def _depth_split(toks, sep=","):
    """Split tokens on ``sep`` at parenthesis/bracket depth 0."""
    parts, cur, depth = [], [], 0
    for t in toks:
        if _opens(t):
            depth += 1
        elif _closes(t):
            depth -= 1
        if depth == 0 and t.kind == "op" and t.text == sep:
            parts.append(cur)
            cur = []
        else:
            cur.append(t)
    parts.append(cur)
    return parts


def _top_level(toks):
    """Indices of the tokens at depth 0."""
    out, depth = [], 0
    for i, t in enumerate(toks):
        if _closes(t):
            depth -= 1
        if depth == 0:
            out.append(i)
        if _opens(t):
            depth += 1
    return out


def _opens(t):
    return (t.kind == "op" and t.text in ("(", "[")) or is_keyword(t, "CASE")


def _closes(t):
    return (t.kind == "op" and t.text in (")", "]")) or is_keyword(t, "END")


def _matching(toks, i):
    """Index of the parenthesis closing the one at ``i``."""
    depth = 0
    for j in range(i, len(toks)):
        if _opens(toks[j]):
            depth += 1
        elif _closes(toks[j]):
            depth -= 1
            if depth == 0:
                return j
    return len(toks) - 1


def _ident_name(tok):
    if tok.kind == "ident":
        return tok.text
    if tok.kind in ("qident", "dqident"):
        return token_value(tok)
    return None


class _Scope(object):
    """Columns visible in a FROM clause: by name and by ``alias.name``."""

    def __init__(self):
        self.columns = []          # [(alias, Column)]
        self.updating = False
        self.keys = []             # key column names of updating inputs
        self.known = True          # False if some input's columns are unknown
        self.windowed = False

    def lookup(self, name, qualifier=None):
        lname = name.lower()
        for alias, col in self.columns:
            if col.name.lower() == lname and (qualifier is None or (
                    alias is not None and alias.lower() == qualifier.lower())):
                return col
        return None

    def expand(self, qualifier=None):
        seen, out = set(), []
        for alias, col in self.columns:
            if qualifier is not None and (alias or "").lower() != qualifier.lower():
                continue
            if col.name.lower() in seen:
                continue
            seen.add(col.name.lower())
            out.append(col)
        return out


def _analyze(toks, relation, info):
    """Fill ``info`` from the query ``toks`` (significant tokens); returns the scope."""
    level = _top_level(toks)
    sel = next((i for i in level if is_keyword(toks[i], "SELECT")), None)
    if sel is None:
        info.warnings.append("no SELECT found: the result columns are unknown")
        return _Scope()
    clause = {}
    for i in level:
        if i <= sel:
            continue
        w = toks[i].text.upper() if toks[i].kind == "ident" else None
        if w in _CLAUSE_WORDS and w not in clause:
            if w in ("GROUP", "ORDER") and not is_keyword(toks[i + 1] if i + 1 < len(toks)
                                                          else None, "BY"):
                continue
            clause[w] = i
    ends = sorted(clause.values()) + [len(toks)]

    def span(word):
        if word not in clause:
            return []
        start = clause[word]
        end = min(e for e in ends if e > start)
        return toks[start + 1:end]

    if "UNION" in clause or "EXCEPT" in clause or "INTERSECT" in clause:
        # the first SELECT names the result; the parts after it are not read
        cut = min(clause[w] for w in ("UNION", "EXCEPT", "INTERSECT") if w in clause)
        ends = [e for e in ends if e <= cut]
        toks = toks[:cut]
    scope = _from_scope(span("FROM"), relation, info)
    select_start = sel + 1
    distinct = False
    if select_start < len(toks) and is_keyword(toks[select_start], "DISTINCT", "ALL"):
        distinct = toks[select_start].text.upper() == "DISTINCT"
        select_start += 1
    select_end = clause.get("FROM", len(toks))
    items = _depth_split(toks[select_start:select_end])
    names_seen = set()
    group = [g for g in _depth_split(span("GROUP")[1:]) if g] if "GROUP" in clause else []
    group_cols = set()
    for g in group:
        ref = _column_ref(g)
        if ref:
            group_cols.add(ref[1].lower())
    windowed = scope.windowed and bool(group_cols & set(_WINDOW_COLUMNS))
    legacy_window = any(is_keyword(t, "TUMBLE", "HOP", "SESSION") for g in group for t in g[:1])
    aggregated = bool(group) or any(_has_aggregate(item) for item in items)
    for n, item in enumerate(items):
        if not item:
            continue
        start, end = item[0].start, item[-1].end
        if len(item) == 1 and item[0].text == "*" or (
                len(item) == 3 and item[1].text == "." and item[2].text == "*"):
            qual = _ident_name(item[0]) if len(item) == 3 else None
            cols = scope.expand(qual)
            if not scope.known or not cols:
                info.warnings.append("SELECT %s: the columns of the input are unknown"
                                     % "".join(t.text for t in item))
            info.star.append((start, end, cols))
            info.items.append((None, start, end))
            for c in cols:
                names_seen.add(c.name.lower())
                info.columns.append(Column(c.name, c.type, c.rowtime if not aggregated else None))
            continue
        expr, alias = _split_alias(item)
        name = alias
        ref = _column_ref(expr)
        if name is None and ref:
            name = ref[1]
        if name is None:
            name = "EXPR$%d" % n
            info.warnings.append("select item %d (%s) has no name: it is written as `%s`; "
                                 "give it an alias with AS" % (n + 1, _snippet(expr), name))
        if name.lower() in names_seen:
            info.warnings.append("duplicate result column %r" % name)
        names_seen.add(name.lower())
        rowtime = None
        if ref:
            col = scope.lookup(ref[1], ref[0])
            typ = col.type if col else None
            if col is not None and col.rowtime is not None and (
                    not aggregated or ref[1].lower() == "window_time"):
                rowtime = col.rowtime
            if col is None and scope.known:
                info.warnings.append("column %r is not a column of the input" % ref[1])
        else:
            typ = _expr_type(expr, scope)
            if typ == "@rowtime":
                typ, rowtime = "TIMESTAMP(3)", 0
        if not typ or typ in ("NULL", "INTERVAL"):
            info.untyped.append(name)
            info.warnings.append("cannot infer the type of %r (%s): written as STRING"
                                 % (name, _snippet(expr)))
            typ = "STRING"
        info.columns.append(Column(name, typ, rowtime))
        info.items.append((name, start, end))
        info.exprs.append((name, start, expr[-1].end if expr else end, alias is not None))
    # updating or append-only result, and its key
    info.windowed = windowed or legacy_window
    outer_join = any(is_keyword(t, "LEFT", "RIGHT", "FULL") for t in span("FROM")
                     if t.kind == "ident") and any(is_keyword(t, "JOIN") for t in span("FROM"))
    top_n = any(is_keyword(t, "ROW_NUMBER", "RANK", "DENSE_RANK") for t in toks)
    if aggregated and not info.windowed:
        info.updating = True
        info.key = _key_from_group(items, group_cols)
    elif distinct:
        info.updating = True
        info.key = [c.name for c in info.columns]
    elif scope.updating or outer_join or (top_n and not info.windowed):
        info.updating = True
        info.key = [k for k in scope.keys if any(c.name == k for c in info.columns)]
    if info.updating and not info.key:
        info.key = [c.name for c in info.columns]
        info.warnings.append("the result is updating but no key could be derived: "
                             "every column is used as the key")
    return scope


def _key_from_group(items, group_cols):
    """Output names of the select items that are GROUP BY columns."""
    out = []
    for item in items:
        if not item:
            continue
        expr, alias = _split_alias(item)
        ref = _column_ref(expr)
        if ref and ref[1].lower() in group_cols:
            out.append(alias or ref[1])
    return out


def _snippet(toks, limit=40):
    text = " ".join(t.text for t in toks)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _split_alias(item):
    """``(expr tokens, alias or None)`` of a select item."""
    if len(item) >= 3 and is_keyword(item[-2], "AS") and item[-1].kind in (
            "ident", "qident", "dqident"):
        return item[:-2], _ident_name(item[-1])
    if len(item) >= 2 and item[-1].kind in ("ident", "qident") and (
            item[-2].kind in ("ident", "qident", "number", "string") or item[-2].text == ")"):
        if item[-1].kind == "qident" or not is_keyword(item[-1], "END", "NULL", "TRUE",
                                                       "FALSE"):
            if not (len(item) == 2 and is_keyword(item[0], "DISTINCT", "INTERVAL")):
                return item[:-1], _ident_name(item[-1])
    return item, None


def _column_ref(expr):
    """``(qualifier, name)`` when ``expr`` is a plain column reference."""
    if len(expr) == 1 and expr[0].kind in ("ident", "qident") and not is_keyword(
            expr[0], "NULL", "TRUE", "FALSE", *_NILADIC):
        return None, _ident_name(expr[0])
    if len(expr) == 3 and expr[1].text == "." and all(
            t.kind in ("ident", "qident") for t in (expr[0], expr[2])):
        return _ident_name(expr[0]), _ident_name(expr[2])
    return None


def _has_aggregate(toks):
    for i, t in enumerate(toks[:-1]):
        if is_keyword(t, "COUNT", "SUM", "AVG", "MIN", "MAX", "COLLECT", "LISTAGG",
                      "ARRAY_AGG", "STDDEV_POP", "STDDEV_SAMP", "VAR_POP", "VAR_SAMP",
                      "JSON_OBJECTAGG", "JSON_ARRAYAGG") and toks[i + 1].text == "(":
            # ... OVER (...) is an analytic function, not a GROUP BY aggregate
            close = _matching(toks, i + 1)
            if close + 1 < len(toks) and is_keyword(toks[close + 1], "OVER"):
                continue
            return True
    return False


def _from_scope(toks, relation, info):
    """The scope of a FROM clause: every input's columns under its alias."""
    scope = _Scope()
    i = 0
    while i < len(toks):
        t = toks[i]
        cols = None
        if t.kind == "template":
            call = _parse_template_call(t.text)
            rel = relation(call[0], call[1]) if call else None
            if rel is None:
                scope.known = False
                cols = []
            else:
                cols, upd, key = rel
                scope.updating = scope.updating or upd
                scope.keys.extend(key or [])
            default_alias = call[1] if call else None
            j = i + 1
        elif t.kind == "op" and t.text == "(" and i + 1 < len(toks) and is_keyword(
                toks[i + 1], "SELECT", "WITH"):
            close = _matching(toks, i)
            sub = QueryInfo()
            _analyze(toks[i + 1:close], relation, sub)
            info.warnings.extend(sub.warnings)
            cols = sub.columns
            scope.updating = scope.updating or sub.updating
            scope.keys.extend(sub.key)
            default_alias = None
            j = close + 1
        else:
            if is_keyword(t, *_WINDOW_TVFS) and i + 1 < len(toks) and toks[i + 1].text == "(":
                scope.windowed = True
            i += 1
            continue
        alias = default_alias
        while j < len(toks) and toks[j].text == ")":
            j += 1  # TABLE(TUMBLE(TABLE x, ...)) : the alias comes after the closing parens
        if j < len(toks) and is_keyword(toks[j], "AS"):
            j += 1
        if j < len(toks) and toks[j].kind in ("ident", "qident") and not is_keyword(
                toks[j], *_JOIN_WORDS):
            alias = _ident_name(toks[j])
        for c in cols:
            scope.columns.append((alias, c))
        i += 1
    if scope.windowed:
        rt = [c.rowtime for _a, c in scope.columns if c.rowtime is not None]
        delay = rt[0] if rt else 0
        for name in _WINDOW_COLUMNS:
            if scope.lookup(name) is None:
                scope.columns.append((None, Column(name, "TIMESTAMP(3)",
                                                   delay if name == "window_time" else None)))
    return scope


def _merge_types(types):
    types = [t for t in types if t and t not in ("NULL", "@rowtime")]
    if not types:
        return None
    first = types[0]
    if all(t == first for t in types):
        return first
    bases = [_base(t) for t in types]
    if all(b in _NUMERIC_RANK for b in bases):
        best = max(zip(bases, types), key=lambda bt: _NUMERIC_RANK[bt[0]])
        if best[0] in ("DECIMAL", "NUMERIC", "DEC"):
            decs = [t for b, t in zip(bases, types) if b == best[0]]
            return decs[0] if all(d == decs[0] for d in decs) else "DECIMAL(38, 18)"
        return best[1]
    if all(b in _STRING_TYPES for b in bases):
        return "STRING"
    if all(b in ("TIMESTAMP", "TIMESTAMP_LTZ") for b in bases):
        return first
    return None


def _expr_type(toks, scope):
    """The Flink type of an expression (tokens), or None if unknown."""
    while toks and toks[0].text == "(" and _matching(toks, 0) == len(toks) - 1:
        if len(toks) > 1 and is_keyword(toks[1], "SELECT"):
            return None
        toks = toks[1:-1]
    if not toks:
        return None
    if is_keyword(toks[0], "CASE") and _matching(toks, 0) == len(toks) - 1:
        inner = toks[1:-1]
        level = _top_level(inner)
        branches = []
        for i in level:
            if is_keyword(inner[i], "THEN", "ELSE"):
                nxt = [j for j in level if j > i and is_keyword(inner[j], "WHEN", "ELSE")]
                branches.append(_expr_type(inner[i + 1:nxt[0] if nxt else len(inner)], scope))
        return _merge_types(branches)
    level = _top_level(toks)
    words = [(i, toks[i].text.upper()) for i in level if toks[i].kind == "ident"]
    ops = [(i, toks[i].text) for i in level if toks[i].kind == "op"]
    wordset = set(w for _i, w in words)
    # boolean operators and predicates
    if wordset & {"OR", "AND", "NOT", "IS", "IN", "LIKE", "BETWEEN", "SIMILAR", "EXISTS"}:
        return "BOOLEAN"
    if any(op in ("=", "<>", "!=", "<", ">", "<=", ">=") for _i, op in ops):
        return "BOOLEAN"
    if any(op == "||" for _i, op in ops):
        return "STRING"
    # binary + - (rightmost at depth 0, not unary)
    for prec in (("+", "-"), ("*", "/", "%")):
        for i, op in reversed(ops):
            if op in prec and i > 0 and not (toks[i - 1].kind == "op" and toks[i - 1].text
                                             not in (")", "]")):
                left = _expr_type(toks[:i], scope)
                right = _expr_type(toks[i + 1:], scope)
                if _base(left) in ("TIMESTAMP", "TIMESTAMP_LTZ", "DATE") and op in "+-":
                    return left
                if _base(left) == "INTERVAL":
                    return right
                merged = _merge_types([left, right])
                if op == "/" and _base(merged) in _INT_TYPES:
                    return merged
                return merged if _base(merged) in _NUMERIC_RANK else None
    if toks[0].text in ("-", "+") and len(toks) > 1:
        return _expr_type(toks[1:], scope)
    t0 = toks[0]
    if len(toks) == 1:
        if t0.kind == "number":
            if re.search(r"[eE]", t0.text):
                return "DOUBLE"
            if "." in t0.text:
                return "DOUBLE"
            return "INT" if int(t0.text) <= 2147483647 else "BIGINT"
        if t0.kind == "string":
            return "STRING"
        if is_keyword(t0, "TRUE", "FALSE", "UNKNOWN"):
            return "BOOLEAN"
        if is_keyword(t0, "NULL"):
            return "NULL"
        if is_keyword(t0, *_NILADIC):
            return _FUNC_TYPES[t0.text.upper()]
    ref = _column_ref(toks)
    if ref:
        col = scope.lookup(ref[1], ref[0])
        return col.type if col else None
    if is_keyword(t0, "INTERVAL"):
        return "INTERVAL"
    if is_keyword(t0, "TIMESTAMP") and len(toks) == 2 and toks[1].kind == "string":
        return "TIMESTAMP(3)"
    if is_keyword(t0, "DATE") and len(toks) == 2 and toks[1].kind == "string":
        return "DATE"
    if t0.kind in ("ident", "qident") and len(toks) >= 3 and toks[1].text == "(" and \
            _matching(toks, 1) == len(toks) - 1:
        return _call_type(t0.text.upper() if t0.kind == "ident" else "", toks[2:-1], scope)
    if t0.kind in ("ident", "qident") and len(toks) >= 4 and toks[1].text == "(" and \
            is_keyword(toks[_matching(toks, 1) + 1] if _matching(toks, 1) + 1 < len(toks)
                       else None, "OVER"):
        return _call_type(t0.text.upper(), toks[2:_matching(toks, 1)], scope)
    if is_keyword(t0, "ARRAY") and len(toks) > 2 and toks[1].text == "[":
        inner = _merge_types([_expr_type(a, scope) for a in _depth_split(toks[2:-1])])
        return "ARRAY<%s>" % inner if inner else None
    if is_keyword(t0, "MAP") and len(toks) > 2 and toks[1].text == "[":
        parts = _depth_split(toks[2:-1])
        k = _merge_types([_expr_type(a, scope) for a in parts[0::2]])
        v = _merge_types([_expr_type(a, scope) for a in parts[1::2]])
        return "MAP<%s, %s>" % (k, v) if k and v else None
    return None


def _call_type(name, args_toks, scope):
    if name in ("CAST", "TRY_CAST"):
        level = _top_level(args_toks)
        as_i = [i for i in level if is_keyword(args_toks[i], "AS")]
        if not as_i:
            return None
        try:
            return normalize_type(" ".join(t.text for t in args_toks[as_i[-1] + 1:]))
        except SqlError:
            return None
    args = [a for a in _depth_split(args_toks) if a]
    if args and is_keyword(args[0][0], "DISTINCT", "ALL"):
        args[0] = args[0][1:]
    rule = _FUNC_TYPES.get(name)
    if rule is None:
        return None
    if not rule.startswith("@"):
        return rule
    types = [_expr_type(a, scope) for a in args]
    first = types[0] if types else None
    if rule == "@first":
        return first
    if rule == "@merge":
        return _merge_types(types)
    if rule == "@if":
        return _merge_types(types[1:])
    if rule == "@third":
        return types[2] if len(types) > 2 else None
    if rule == "@rowtime":
        return "@rowtime"
    if rule == "@sum":
        b = _base(first)
        if b in _INT_TYPES:
            return "BIGINT"
        if b in ("DECIMAL", "NUMERIC", "DEC"):
            m = re.search(r",\s*(\d+)", first)
            return "DECIMAL(38, %s)" % (m.group(1) if m else "0")
        return "DOUBLE"
    if rule == "@avg":
        b = _base(first)
        if b in ("DECIMAL", "NUMERIC", "DEC"):
            return None  # Flink widens the scale; cast it to say what you want
        return "DOUBLE"
    if rule == "@multiset":
        return "MULTISET<%s>" % first if first else None
    if rule == "@array":
        return "ARRAY<%s>" % first if first else None
    return None

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

__all__ += ["CompileError", "compile_project", "parse_schema_definition", "model_topic_name",
            "flink_duration", "kafka_config_value", "jaas_config"]


class CompileError(ProjectError):
    """The project cannot be compiled (validation reports most causes first)."""


def compile_project(project, warnings=None):
    """The desired state of ``project`` (a Project from load_project), as described in
    docs/internals.md: topics, schemas, flink_jobs, connectors, gateway, environment.

    Every list is sorted by its key; nothing depends on the clock or on hash order.
    ``${VAR}`` references stay references.  Warnings (untyped columns, masks that do
    not apply, ...) are appended to ``warnings`` when a list is given."""
    compiler = _Compiler(project)
    state = compiler.run()
    if warnings is not None:
        warnings.extend(compiler.warnings)
    return state


def parse_schema_definition(fmt, definition):
    """``(schema_type, normalised text)`` of a source's ``schema.definition``.

    AVRO and JSON definitions must parse as JSON; they are written as canonical JSON
    (sorted keys, no spaces).  PROTOBUF text is kept with line ends normalised and
    trailing spaces removed.  Raises SchemaError (a ProjectError) when the definition
    does not parse or the format is unknown."""
    schema_type = _schema_type(fmt)
    text = definition if isinstance(definition, str) else None
    if schema_type == "PROTOBUF":
        if text is None:
            raise SchemaError("a Protobuf schema definition must be text")
        lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
        out = "\n".join(lines).strip("\n")
        if not out:
            raise SchemaError("the Protobuf schema definition is empty")
        return schema_type, out + "\n"
    if text is None:
        obj = definition  # a definition written as YAML rather than JSON text
    else:
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise SchemaError("the %s schema definition is not valid JSON: %s" % (schema_type, e),
                              hint="write the definition as JSON text (a YAML block "
                                   "scalar `definition: |` keeps it as written)")
    if schema_type == "AVRO":
        _check_avro(obj)
    elif not isinstance(obj, (dict, bool)):
        raise SchemaError("a JSON Schema must be an object")
    return schema_type, json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"),
                                   ensure_ascii=False)


class SchemaError(CompileError):
    """A schema definition that does not parse."""


__all__ += ["SchemaError"]


def model_topic_name(model, effective=None):
    """The Kafka topic a model writes (``advanced.topic.name`` or its name); for a
    virtual topic, ``gateway.virtual_topic.name`` first."""
    if effective == "virtual_topic":
        vt = _get(model, "gateway", "virtual_topic")
        if isinstance(vt, dict) and vt.get("name"):
            return str(vt["name"])
    name = _get(model, "advanced", "topic", "name")
    return str(name) if name else str(model.get("name"))


def flink_duration(ms):
    """A Flink duration for ``ms`` milliseconds in the largest exact unit: ``168 h``,
    ``10 min``, ``5 s``, ``5500 ms``."""
    ms = int(ms)
    for unit, size in (("h", 3600000), ("min", 60000), ("s", 1000)):
        if ms and ms % size == 0:
            return "%d %s" % (ms // size, unit)
    return "%d ms" % ms


def kafka_config_value(value):
    """A topic/connector config value in Kafka's string form: ``true`` (not ``True``),
    integers in decimal, lists comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join(kafka_config_value(v) for v in value)
    if value is None:
        raise CompileError("a config value is empty (null)",
                           hint="write a value, or remove the key")
    return str(value)


def jaas_config(mechanism, username, password):
    """The ``sasl.jaas.config`` of a Kafka client for PLAIN or SCRAM-SHA-*.

    Values are written as JAAS quoted strings (``\\`` and ``"`` escaped); ``${VAR}``
    references stay as written."""
    mech = (mechanism or "").upper()
    if mech == "PLAIN":
        module = "org.apache.kafka.common.security.plain.PlainLoginModule"
    elif mech.startswith("SCRAM-"):
        module = "org.apache.kafka.common.security.scram.ScramLoginModule"
    else:
        raise CompileError("unsupported SASL mechanism %r" % mechanism,
                           hint="use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")

    def q(v):
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "%s required username=%s password=%s;" % (module, q(username or ""), q(password or ""))


# -- compile: helpers ------------------------------------------------------------

_CONNECTOR_ALIASES = {
    "snowflake-sink": "com.snowflake.kafka.connector.SnowflakeSinkConnector",
    "jdbc-sink": "io.confluent.connect.jdbc.JdbcSinkConnector",
    "s3-sink": "io.confluent.connect.s3.S3SinkConnector",
    "elasticsearch-sink": "io.confluent.connect.elasticsearch.ElasticsearchSinkConnector",
    "bigquery-sink": "com.wepay.kafka.connect.bigquery.BigQuerySinkConnector",
}
_STARTUP_MODES = {"earliest": "earliest-offset", "latest": "latest-offset",
                  "earliest-offset": "earliest-offset", "latest-offset": "latest-offset",
                  "group-offsets": "group-offsets", "group": "group-offsets"}
_MASK_METHODS = ("hash", "sha256", "md5", "redact", "partial", "null")
_TEST_FAILURES_TOPIC = "_streamt_test_failures"
# Words that would make custom_sql more than a condition.
_STATEMENT_WORDS = ("INSERT", "CREATE", "DROP", "ALTER", "SET", "RESET", "EXECUTE", "DELETE",
                    "UPDATE", "USE", "LOAD", "UNLOAD", "TRUNCATE", "GRANT", "REVOKE", "SHOW",
                    "DESCRIBE", "EXPLAIN", "BEGIN", "ADD", "REMOVE", "STOP", "CALL", "ANALYZE",
                    "UNION", "EXCEPT", "INTERSECT", "MERGE")


def _get(obj, *path):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _plain(obj):
    """Plain dicts/lists (YamlMap/YamlSeq → dict/list), keys as strings."""
    if isinstance(obj, dict):
        return dict((str(k), _plain(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _schema_type(fmt):
    t = str(fmt or "avro").strip().upper()
    if t not in ("AVRO", "JSON", "PROTOBUF"):
        raise SchemaError("unknown schema format %r" % fmt, hint="use avro, json or protobuf")
    return t


def _check_avro(obj):
    if isinstance(obj, str):
        return
    if isinstance(obj, list):
        for o in obj:
            _check_avro(o)
        return
    if not isinstance(obj, dict) or "type" not in obj:
        raise SchemaError("an Avro schema must be a type name, a union or an object "
                          "with a \"type\"")
    if obj["type"] in ("record", "error"):
        if not isinstance(obj.get("name"), str) or not isinstance(obj.get("fields"), list):
            raise SchemaError("an Avro record needs a \"name\" and a \"fields\" list")
        for f in obj["fields"]:
            if not isinstance(f, dict) or not isinstance(f.get("name"), str) or "type" not in f:
                raise SchemaError("every field of Avro record %r needs a \"name\" and a "
                                  "\"type\"" % obj["name"])
            _check_avro(f["type"])
    elif obj["type"] in ("array",):
        _check_avro(obj.get("items", "null"))
    elif obj["type"] in ("map",):
        _check_avro(obj.get("values", "null"))


def _avro_type(flink_type):
    """The Avro type of a Flink type (generated schemas)."""
    b = _base(flink_type)
    t = flink_type.upper()
    if b in ("STRING", "VARCHAR", "CHAR", "CHARACTER"):
        return "string"
    if b == "BOOLEAN":
        return "boolean"
    if b in ("TINYINT", "SMALLINT", "INT", "INTEGER"):
        return "int"
    if b == "BIGINT":
        return "long"
    if b in ("FLOAT", "REAL"):
        return "float"
    if b == "DOUBLE":
        return "double"
    if b in ("DECIMAL", "NUMERIC", "DEC"):
        m = re.match(r"\w+\s*\(\s*(\d+)\s*(?:,\s*(\d+))?", t)
        p, sc = (int(m.group(1)), int(m.group(2) or 0)) if m else (10, 0)
        return {"type": "bytes", "logicalType": "decimal", "precision": p, "scale": sc}
    if b == "DATE":
        return {"type": "int", "logicalType": "date"}
    if b == "TIME":
        return {"type": "int", "logicalType": "time-millis"}
    if b in ("TIMESTAMP", "TIMESTAMP_LTZ"):
        m = re.match(r"\w+\s*\(\s*(\d+)", t)
        micros = m and int(m.group(1)) > 3
        ltz = b == "TIMESTAMP_LTZ" or "LOCAL TIME ZONE" in t
        logical = ("timestamp-micros" if micros else "timestamp-millis") if ltz else (
            "local-timestamp-micros" if micros else "local-timestamp-millis")
        return {"type": "long", "logicalType": logical}
    if b in ("BYTES", "VARBINARY", "BINARY"):
        return "bytes"
    if b == "ARRAY":
        inner = t[t.index("<") + 1:t.rindex(">")] if "<" in t else "STRING"
        return {"type": "array", "items": ["null", _avro_type(inner)]}
    if b == "MAP":
        inner = t[t.index("<") + 1:t.rindex(">")] if "<" in t else "STRING, STRING"
        value = _depth_split(significant_tokens(inner))[-1]
        return {"type": "map", "values": ["null", _avro_type(_join_type_tokens(value))]}
    return "string"


def _json_schema_type(flink_type):
    b = _base(flink_type)
    if b in _INT_TYPES:
        return "integer"
    if b in _NUMERIC_RANK:
        return "number"
    if b == "BOOLEAN":
        return "boolean"
    if b == "ARRAY":
        return "array"
    if b in ("MAP", "ROW"):
        return "object"
    return "string"


def _watermark_interval(ms):
    """``INTERVAL '1.5' SECOND``: exact milliseconds (never truncated)."""
    ms = int(ms)
    if ms % 1000 == 0:
        return "INTERVAL '%d' SECOND" % (ms // 1000)
    return "INTERVAL '%d.%03d' SECOND" % (ms // 1000, ms % 1000)


def _comment(text):
    """Text safe inside a ``--`` comment: no line breaks or control characters."""
    return "".join(c if c.isprintable() else "\\x%02x" % ord(c) if ord(c) < 256
                   else "\\u%04x" % ord(c) for c in str(text))


class _Relation(object):
    """What a job needs to read a source or a model's output: topic, columns, whether
    it is an updating (upsert) stream and its key, the value format."""

    def __init__(self, kind, name, topic, columns, updating=False, key=(), fmt="json",
                 raw=False, view=None):
        self.kind, self.name, self.topic = kind, name, topic
        self.columns, self.updating, self.key = columns, updating, list(key)
        self.fmt, self.raw, self.view = fmt, raw, view


class _Compiler(object):

    def __init__(self, project):
        self.project = project
        self.name = str(getattr(project, "name", None) or "project")
        self.env = str(getattr(project, "env", None) or "default")
        self.runtime = getattr(project, "runtime", None) or {}
        self.defaults = getattr(project, "defaults", None) or {}
        self.sources = dict((str(s.get("name")), s) for s in getattr(project, "sources", []) or [])
        self.models = dict((str(m.get("name")), m) for m in getattr(project, "models", []) or [])
        self.tests = list(getattr(project, "tests", []) or [])
        self.warnings = []
        self._outputs = {}
        self._busy = set()

    def warn(self, what, name, message):
        self.warnings.append("%s '%s': %s" % (what, name, message))

    # -- materialization and outputs ---------------------------------------------

    def effective(self, model):
        return infer_materialization(model, self.project)[1]

    def source_relation(self, name):
        if ("source", name) not in self._outputs:
            self._outputs[("source", name)] = self._source_relation(name)
        return self._outputs[("source", name)]

    def _source_relation(self, name):
        src = self.sources.get(name)
        if src is None:
            return None
        cols = []
        et = src.get("event_time") if isinstance(src.get("event_time"), dict) else {}
        et_col = et.get("column")
        delay = None
        if et_col:
            wm = et.get("watermark") if isinstance(et.get("watermark"), dict) else {}
            strategy = str(wm.get("strategy") or "bounded_out_of_orderness")
            if strategy.startswith("monoton") or strategy == "ascending":
                delay = 0
            else:
                delay = int(wm.get("max_out_of_orderness_ms") or 5000)
        for c in src.get("columns") or []:
            cname = str(c.get("name"))
            if c.get("proctime"):
                cols.append(Column(cname, "TIMESTAMP_LTZ(3)", proctime=True))
                continue
            ctype = c.get("type")
            try:
                ctype = normalize_type(ctype) if ctype else "STRING"
            except SqlError as e:
                raise CompileError("source '%s', column '%s': %s" % (name, cname, e.message),
                                   hint=e.hint)
            if cname == et_col:
                if _base(ctype) not in ("TIMESTAMP", "TIMESTAMP_LTZ"):
                    self.warn("source", name, "event-time column %r is declared %s; it is "
                              "read as TIMESTAMP(3)" % (cname, ctype))
                    ctype = "TIMESTAMP(3)"
                cols.append(Column(cname, ctype, delay))
            else:
                cols.append(Column(cname, ctype))
        if et_col and not any(c.name == et_col for c in cols):
            cols.append(Column(str(et_col), "TIMESTAMP(3)", delay))
        fmt = "json"
        sformat = str(_get(src, "schema", "format") or "").lower()
        if sformat == "avro" and _get(self.runtime, "schema_registry", "url"):
            fmt = "avro-confluent"
        raw = not cols
        if raw:
            self.warn("source", name, "no columns declared: read as one raw STRING column "
                      "`_raw`")
            cols = [Column("_raw", "STRING")]
            fmt = "raw"
        return _Relation("source", name, str(src.get("topic") or name), cols, fmt=fmt, raw=raw)

    def model_relation(self, name):
        """The output of model ``name`` as an input of another job (memoized)."""
        if name in self._outputs:
            return self._outputs[name]
        model = self.models.get(name)
        if model is None:
            return None
        if name in self._busy:
            raise CompileError("circular dependency through model '%s'" % name,
                               hint="validate the project: it reports the cycle")
        self._busy.add(name)
        try:
            rel = self._model_relation(model)
        finally:
            self._busy.discard(name)
        self._outputs[name] = rel
        return rel

    def _model_relation(self, model):
        name = str(model.get("name"))
        eff = self.effective(model)
        if eff == "sink":
            return None
        topic = model_topic_name(model, eff)
        sql = model.get("sql")
        if not sql:
            cols = []
            for c in model.get("columns") or []:
                if isinstance(c, dict) and c.get("name"):
                    cols.append(Column(str(c["name"]), normalize_type(c.get("type") or "STRING")))
            if cols:
                return _Relation("model", name, topic, cols)
            self.warn("model", name, "no SQL and no columns: read as one raw STRING column "
                      "`_raw`")
            return _Relation("model", name, topic, [Column("_raw", "STRING")], fmt="raw",
                             raw=True)
        info = self.analyze(model)
        cols = self.masked_columns(model, info)
        rel = _Relation("model", name, topic, cols, info.updating, info.key)
        if eff == "virtual_topic":
            rel.view = model  # read through its definition (the topic is virtual)
        return rel

    def relation(self, kind, name):
        return self.source_relation(name) if kind == "source" else self.model_relation(name)

    def analyze(self, model):
        def rel(kind, name):
            r = self.relation(kind, name)
            return None if r is None else (r.columns, r.updating, r.key)
        info = analyze_query(model.get("sql"), rel)
        return info

    def masks(self, model):
        out = []
        for p in _get(model, "security", "policies") or []:
            m = p.get("mask") if isinstance(p, dict) else None
            if isinstance(m, dict) and m.get("column"):
                method = str(m.get("method") or "hash").lower()
                if method not in _MASK_METHODS:
                    raise CompileError("model '%s': unknown mask method %r for column %r"
                                       % (model.get("name"), method, m.get("column")),
                                       hint="use one of: " + ", ".join(_MASK_METHODS))
                out.append((str(m["column"]), method))
        return out

    def masked_columns(self, model, info):
        masks = dict((c.lower(), m) for c, m in self.masks(model))
        out = []
        for c in info.columns:
            m = masks.get(c.name.lower())
            if m is None:
                out.append(c)
            elif m == "null":
                out.append(Column(c.name, c.type))
            else:
                out.append(Column(c.name, "STRING"))
        return out

    # -- run -------------------------------------------------------------------------

    def run(self):
        topics, jobs, connectors, gateway = [], [], [], []
        for name in sorted(self.models):
            model = self.models[name]
            eff = self.effective(model)
            if eff in ("topic", "flink"):
                topics.append(self.topic(model))
                if model.get("sql"):
                    jobs.append(self.model_job(model))
            elif eff == "sink":
                connectors.append(self.connector(model))
            elif eff == "virtual_topic":
                gateway.extend(self.gateway_resources(model))
        for test in self.tests:
            if str(test.get("type")) == "continuous":
                job = self.test_job(test)
                if job is not None:
                    jobs.append(job)
        for what, items, key in (("topic", topics, "name"), ("Flink job", jobs, "name"),
                                 ("connector", connectors, "name")):
            seen = {}
            for it in items:
                if it[key] in seen:
                    raise CompileError("two resources write the %s %r" % (what, it[key]),
                                       hint="give each model its own advanced.topic.name / "
                                            "name")
                seen[it[key]] = it
        env = getattr(self.project, "environment", None) or {}
        safety = env.get("safety") or {}
        return {
            "topics": sorted(topics, key=lambda t: t["name"]),
            "schemas": sorted(self.schemas(), key=lambda s: s["subject"]),
            "flink_jobs": sorted(jobs, key=lambda j: j["name"]),
            "connectors": sorted(connectors, key=lambda c: c["name"]),
            "gateway": sorted(gateway, key=lambda g: (g["kind"], g["metadata"]["name"])),
            "environment": {
                "name": str(env.get("name") or self.env),
                "protected": bool(env.get("protected", False)),
                "safety": _plain(safety),
                "runtime": _plain(self.runtime),
            },
        }

    # -- topics and schemas -------------------------------------------------------

    def topic(self, model):
        adv = _get(model, "advanced", "topic") or {}
        d = self.defaults.get("topic") if isinstance(self.defaults.get("topic"), dict) else None
        if d is None:
            d = _get(self.defaults, "models", "topic") or {}
        partitions = adv.get("partitions") or d.get("partitions") or 1
        rf = adv.get("replication_factor") or d.get("replication_factor") or 1
        config = {}
        for k, v in sorted((adv.get("config") or {}).items()):
            try:
                config[str(k)] = kafka_config_value(v)
            except CompileError as e:
                raise CompileError("model '%s', topic config %r: %s" % (model.get("name"), k,
                                                                        e.message), hint=e.hint)
        eff = self.effective(model)
        if model.get("sql") and "cleanup.policy" not in config:
            info = self.analyze(model)
            if info.updating:
                # an upsert topic keeps the latest row per key
                config["cleanup.policy"] = "compact"
        return {"name": model_topic_name(model, eff), "partitions": int(partitions),
                "replication_factor": int(rf), "config": config, "model": str(model.get("name"))}

    def schemas(self):
        out = []
        for name in sorted(self.sources):
            src = self.sources[name]
            schema = src.get("schema")
            if not isinstance(schema, dict):
                continue
            topic = str(src.get("topic") or name)
            subject = str(schema.get("subject") or topic + "-value")
            definition = schema.get("definition")
            try:
                if definition:
                    stype, text = parse_schema_definition(schema.get("format"), definition)
                else:
                    stype, text = self.generated_schema(src, schema)
            except SchemaError as e:
                raise SchemaError("source '%s': %s" % (name, e.message), hint=e.hint,
                                  location=getattr(src, "loc", None))
            if text is None:
                continue
            compat = schema.get("compatibility")
            out.append({"subject": subject, "schema_type": stype, "schema": text,
                        "compatibility": str(compat).upper() if compat else None,
                        "source": name})
        return out

    def generated_schema(self, src, schema):
        """A schema generated from the source's columns (no definition written):
        AVRO → a record of nullable fields; JSON → an object schema; PROTOBUF → none."""
        stype = _schema_type(schema.get("format"))
        cols = [c for c in src.get("columns") or [] if not c.get("proctime")]
        name = str(src.get("name"))
        if not cols:
            return stype, None
        if stype == "PROTOBUF":
            self.warn("source", name, "no Protobuf definition: no schema is registered")
            return stype, None
        if stype == "AVRO":
            fields = []
            for c in cols:
                f = {"name": re.sub(r"[^A-Za-z0-9_]", "_", str(c.get("name"))),
                     "type": ["null", _avro_type(normalize_type(c.get("type") or "STRING"))],
                     "default": None}
                if c.get("description"):
                    f["doc"] = str(c["description"])
                fields.append(f)
            rec = re.sub(r"[^A-Za-z0-9_]", "_", name)
            if not re.match(r"[A-Za-z_]", rec):
                rec = "_" + rec
            obj = {"type": "record", "name": rec, "namespace": "streamt", "fields": fields}
        else:
            props = {}
            for c in cols:
                props[str(c.get("name"))] = {
                    "type": [_json_schema_type(normalize_type(c.get("type") or "STRING")),
                             "null"]}
            obj = {"$schema": "http://json-schema.org/draft-07/schema#", "title": name,
                   "type": "object", "properties": props}
        return stype, json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    # -- Flink jobs ------------------------------------------------------------------

    def kafka_properties(self):
        kafka = self.runtime.get("kafka") or {}
        props = {}
        bootstrap = kafka.get("bootstrap_servers_internal") or kafka.get("bootstrap_servers")
        if bootstrap:
            props["properties.bootstrap.servers"] = str(bootstrap)
        proto = kafka.get("security_protocol")
        if proto:
            props["properties.security.protocol"] = str(proto).upper()
        mech = kafka.get("sasl_mechanism")
        if mech:
            props["properties.sasl.mechanism"] = str(mech).upper()
            props["properties.sasl.jaas.config"] = jaas_config(
                mech, kafka.get("sasl_username"), kafka.get("sasl_password"))
        if kafka.get("ssl_cafile"):
            props["properties.ssl.truststore.type"] = "PEM"
            props["properties.ssl.truststore.location"] = str(kafka["ssl_cafile"])
        if kafka.get("ssl_certfile") and kafka.get("ssl_keyfile"):
            self.warnings.append("runtime.kafka: ssl_certfile/ssl_keyfile (mutual TLS) are "
                                 "not passed to Flink; configure a keystore on the cluster")
        if kafka.get("ssl_check_hostname") is False:
            props["properties.ssl.endpoint.identification.algorithm"] = ""
        return props

    def format_options(self, fmt, prefix="value."):
        out = {prefix + "format": fmt}
        if fmt == "avro-confluent":
            sr = self.runtime.get("schema_registry") or {}
            out[prefix + "avro-confluent.url"] = str(sr.get("url"))
            if sr.get("username") and sr.get("password"):
                out[prefix + "avro-confluent.basic-auth.credentials-source"] = "USER_INFO"
                out[prefix + "avro-confluent.basic-auth.user-info"] = "%s:%s" % (
                    sr["username"], sr["password"])
        return out

    def table_ddl(self, table, rel, sink=False, startup=None, group_id=None, upsert=None,
                  watermark=True, fmt=None):
        """CREATE TEMPORARY TABLE for reading (or, with sink=True, writing) ``rel``."""
        fmt = fmt or rel.fmt
        key = list(upsert if upsert is not None else (rel.key if rel.updating else []))
        lines = []
        for c in rel.columns:
            if c.proctime and not sink:
                lines.append("%s AS PROCTIME()" % quote_ident(c.name))
            else:
                lines.append("%s %s" % (quote_ident(c.name), c.type))
        if watermark and not sink:
            rt = [c for c in rel.columns if c.rowtime is not None and not c.proctime]
            if rt:
                c = rt[0]
                if c.rowtime:
                    lines.append("WATERMARK FOR %s AS %s - %s" % (
                        quote_ident(c.name), quote_ident(c.name), _watermark_interval(c.rowtime)))
                else:
                    lines.append("WATERMARK FOR %s AS %s" % (quote_ident(c.name),
                                                            quote_ident(c.name)))
        if key:
            lines.append("PRIMARY KEY (%s) NOT ENFORCED" % ", ".join(quote_ident(k) for k in key))
        opts = {"topic": rel.topic}
        opts.update(self.kafka_properties())
        if key:
            connector = "upsert-kafka"
            opts.update(self.format_options("json", "key."))
            opts.update(self.format_options(fmt))
            if fmt != "json":
                opts["value.fields-include"] = "ALL"
        else:
            connector = "kafka"
            opts.update(self.format_options(fmt))
            if not sink:
                opts["scan.startup.mode"] = startup or "earliest-offset"
        if not sink and group_id:
            opts["properties.group.id"] = group_id
        with_lines = ["  %s = %s" % (quote_string("connector"), quote_string(connector))]
        with_lines += ["  %s = %s" % (quote_string(k), quote_string(v))
                       for k, v in sorted(opts.items())]
        return "CREATE TEMPORARY TABLE %s (\n  %s\n) WITH (\n%s\n)" % (
            quote_ident(table), ",\n  ".join(lines), ",\n".join(with_lines))

    def model_job(self, model):
        name = str(model.get("name"))
        flink = _get(model, "advanced", "flink") or {}
        pipeline = "streamt.%s.%s" % (self.name, name)
        startup = self.startup_mode(model, flink)
        statements = self.settings(model, pipeline, flink)
        tables = _TableNames()
        inputs = self.input_tables(model, tables, statements, startup, pipeline)
        info = self.analyze(model)
        for w in info.warnings:
            self.warn("model", name, w)
        rel = self.model_relation(name)
        sink_rel = _Relation("model", name, model_topic_name(model, self.effective(model)),
                             rel.columns, rel.updating, rel.key)
        sink = tables.name(("sink", name), name + "__sink")
        statements.append(self.table_ddl(sink, sink_rel, sink=True))
        select = self.select_text(model, info, inputs)
        statements.append("INSERT INTO %s\n%s" % (quote_ident(sink), select))
        return self.job(name, name, "model", model, pipeline, flink, statements)

    def startup_mode(self, model, flink):
        mode = flink.get("startup_mode") or flink.get("scan_startup_mode")
        if not mode:
            return "earliest-offset"
        m = _STARTUP_MODES.get(str(mode).lower())
        if m is None:
            raise CompileError("model '%s': unknown advanced.flink.startup_mode %r"
                               % (model.get("name"), mode),
                               hint="use earliest, latest or group-offsets")
        return m

    def settings(self, owner, pipeline, flink):
        sets = [("pipeline.name", pipeline)]
        extra = []
        if flink.get("parallelism"):
            extra.append(("parallelism.default", str(int(flink["parallelism"]))))
        if flink.get("checkpoint_interval_ms"):
            extra.append(("execution.checkpointing.interval",
                          flink_duration(flink["checkpoint_interval_ms"])))
        if flink.get("state_ttl_ms"):
            extra.append(("table.exec.state.ttl", flink_duration(flink["state_ttl_ms"])))
        if flink.get("state_backend"):
            backend = str(flink["state_backend"]).lower()
            backend = {"rocksdb": "rocksdb", "hashmap": "hashmap", "memory": "hashmap",
                       "filesystem": "hashmap", "heap": "hashmap"}.get(backend, backend)
            extra.append(("state.backend.type", backend))
        if flink.get("idle_timeout_ms"):
            extra.append(("table.exec.source.idle-timeout",
                          flink_duration(flink["idle_timeout_ms"])))
        sets.extend(sorted(extra))
        return ["SET %s = %s" % (quote_string(k), quote_string(v)) for k, v in sets]

    def input_tables(self, model, tables, statements, startup, group_id):
        """Add the CREATE statements of every input of ``model``; returns
        {(kind, name): table name}."""
        mapping = {}
        for kind, ref, _line, _col in template_calls(model.get("sql") or ""):
            if kind == "unsupported":
                raise CompileError("model '%s': unsupported template %s" % (model.get("name"),
                                                                             ref),
                                   hint='use {{ source("name") }} or {{ ref("name") }}')
            if (kind, ref) in mapping:
                continue
            rel = self.relation(kind, ref)
            if rel is None:
                raise CompileError("model '%s': %s '%s' is not defined or has no output topic"
                                   % (model.get("name"), kind, ref),
                                   hint="validate the project")
            table = tables.name((kind, ref), ref)
            if rel.view is not None:
                inner = self.input_tables(rel.view, tables, statements, startup, group_id)
                vinfo = self.analyze(rel.view)
                statements.append("CREATE TEMPORARY VIEW %s AS\n%s" % (
                    quote_ident(table), self.select_text(rel.view, vinfo, inner)))
            else:
                statements.append(self.table_ddl(table, rel, startup=startup,
                                                 group_id=group_id))
            mapping[(kind, ref)] = table
        return mapping

    def select_text(self, model, info, inputs):
        """The model's SQL with template calls replaced by table names, masks applied to
        the select list and untyped or unnamed items given a type and a name."""
        sql = model.get("sql")
        repl = []
        for tok in sql_tokens(sql):
            if tok.kind == "template":
                call = _parse_template_call(tok.text)
                repl.append((tok.start, tok.end, quote_ident(inputs[call])))
        masks = dict((c.lower(), m) for c, m in self.masks(model))
        types = dict((c.name, c.type) for c in info.columns)
        applied = set()
        for start, end, cols in info.star:
            if not any(c.name.lower() in masks for c in cols):
                continue
            qual = sql[start:end][:-1]  # "t." or ""
            parts = []
            for c in cols:
                ref = qual + quote_ident(c.name)
                m = masks.get(c.name.lower())
                if m:
                    applied.add(c.name.lower())
                    parts.append("%s AS %s" % (_mask_expr(m, ref, c.type), quote_ident(c.name)))
                else:
                    parts.append(ref)
            repl.append((start, end, ", ".join(parts)))
        for name, start, expr_end, has_alias in info.exprs:
            expr = sql[start:expr_end]
            m = masks.get(name.lower())
            if m:
                applied.add(name.lower())
                repl.append((start, _item_end(info, start),
                             "%s AS %s" % (_mask_expr(m, expr, types.get(name, "STRING")),
                                           quote_ident(name))))
            elif name in info.untyped:
                repl.append((start, _item_end(info, start),
                             "CAST(%s AS STRING) AS %s" % (expr, quote_ident(name))))
            elif not has_alias and name.startswith("EXPR$") and not _is_ref(sql, start,
                                                                              expr_end):
                repl.append((expr_end, expr_end, " AS %s" % quote_ident(name)))
        for col, _m in self.masks(model):
            if col.lower() not in applied:
                if info.star and any(not cols for _s, _e, cols in info.star):
                    raise CompileError("model '%s': cannot mask column %r: the columns of "
                                       "SELECT * are unknown" % (model.get("name"), col),
                                       hint="list the columns in the SELECT")
                self.warn("model", model.get("name"), "masked column %r is not in the "
                          "result" % col)
        out, pos = [], 0
        for start, end, text in sorted(repl):
            if start < pos:
                continue  # overlapping (a template inside a masked item): already replaced
            out.append(sql[pos:start])
            out.append(text)
            pos = end
        out.append(sql[pos:])
        text = "".join(out).strip()
        # a trailing ';' would end the INSERT early; a trailing comment would hide ours
        toks = sql_tokens(text)
        sig = [t for t in toks if t.kind != "comment"]
        while sig and sig[-1].kind == "op" and sig[-1].text == ";":
            text = text[:sig[-1].start].rstrip()
            toks = sql_tokens(text)
            sig = [t for t in toks if t.kind != "comment"]
        if any(t.kind == "op" and t.text == ";" for t in toks):
            raise CompileError("model '%s': the SQL holds more than one statement"
                               % model.get("name"),
                               hint="a model is one SELECT; remove the ';'")
        if toks and toks[-1].kind == "comment" and toks[-1].text.startswith("--"):
            text += "\n"
        return text

    def job(self, name, owner, kind, spec, pipeline, flink, statements):
        on_upgrade = str(flink.get("on_upgrade") or "savepoint").lower()
        if on_upgrade not in ("savepoint", "stateless", "refuse"):
            raise CompileError("%s '%s': unknown advanced.flink.on_upgrade %r"
                               % ("model" if kind == "model" else "test", owner, on_upgrade),
                               hint="use savepoint, stateless or refuse")
        body = ";\n\n".join(statements) + ";\n"
        fingerprint = "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()
        cluster = (spec.get("flink_cluster") or _get(spec, "advanced", "flink_cluster")
                   or _get(self.runtime, "flink", "default"))
        header = ["-- Generated by streamt %s" % __version__,
                  "-- Project: %s" % _comment(self.name),
                  ("-- Model: %s" if kind == "model" else "-- Test: %s") % _comment(owner),
                  "-- Environment: %s" % _comment(self.env),
                  "-- Pipeline: %s" % _comment(pipeline),
                  "-- On upgrade: %s" % on_upgrade,
                  "-- Fingerprint: %s" % fingerprint]
        return {"name": name, "model": owner, "kind": kind,
                "cluster": str(cluster) if cluster else None, "pipeline_name": pipeline,
                "fingerprint": fingerprint, "on_upgrade": on_upgrade,
                "sql": "\n".join(header) + "\n\n" + body}

    # -- continuous tests -----------------------------------------------------------

    def test_job(self, test):
        tname = str(test.get("name"))
        target = str(test.get("model"))
        rel = self.model_relation(target) if target in self.models else \
            self.source_relation(target)
        if rel is None:
            raise CompileError("test '%s': %r is neither a model with an output topic nor "
                               "a source" % (tname, target), hint="validate the project")
        flink = test.get("flink") if isinstance(test.get("flink"), dict) else {}
        pipeline = "streamt.%s.test.%s" % (self.name, tname)
        statements = self.settings(test, pipeline, flink)
        cols = dict((c.name.lower(), c) for c in rel.columns)
        conds = []
        for a in test.get("assertions") or []:
            if not isinstance(a, dict):
                continue
            for kind, spec in sorted(a.items()):
                conds.extend(self.test_conditions(tname, kind, spec or {}, cols, rel))
        if not conds:
            self.warn("test", tname, "no assertion applies: no Flink job is generated")
            return None
        src_table = "test_source"
        # the test reads the topic as an append stream (the changes of an upsert topic)
        src = _Relation(rel.kind, rel.name, rel.topic, rel.columns, fmt=rel.fmt)
        statements.append(self.table_ddl(src_table, src, startup="latest-offset",
                                         group_id=pipeline, watermark=False))
        failures = _Relation("test", tname, _TEST_FAILURES_TOPIC, [
            Column("test_name", "STRING"), Column("violation_type", "STRING"),
            Column("violation_details", "STRING"), Column("record", "STRING"),
            Column("detected_at", "TIMESTAMP_LTZ(3)")])
        statements.append(self.table_ddl("test_failures", failures, sink=True, fmt="json"))
        selects = []
        for vtype, detail, cond in conds:
            selects.append(
                "SELECT %s AS `test_name`, %s AS `violation_type`, CAST(%s AS STRING) AS "
                "`violation_details`, CAST(NULL AS STRING) AS `record`, CURRENT_TIMESTAMP AS "
                "`detected_at`\nFROM %s\nWHERE %s" % (
                    quote_string(tname), quote_string(vtype), detail, quote_ident(src_table),
                    cond))
        statements.append("INSERT INTO `test_failures`\n" + "\nUNION ALL\n".join(selects))
        return self.job("test_" + tname, tname, "test", test, pipeline, flink, statements)

    def test_conditions(self, tname, kind, spec, cols, rel):
        def col(c):
            if c is None or str(c).lower() not in cols:
                self.warn("test", tname, "%s: column %r is not a column of %r: skipped"
                          % (kind, c, rel.name))
                return None
            return quote_ident(cols[str(c).lower()].name)
        out = []
        if kind == "not_null":
            for c in spec.get("columns") or ([spec.get("column")] if spec.get("column") else []):
                q = col(c)
                if q:
                    out.append(("not_null:%s" % c, q, "%s IS NULL" % q))
        elif kind == "accepted_values":
            q = col(spec.get("column"))
            values = spec.get("values") or []
            if q and values:
                # compared as text: values are written as string literals whatever their type
                out.append(("accepted_values:%s" % spec.get("column"), q,
                            "CAST(%s AS STRING) NOT IN (%s)" % (
                                q, ", ".join(quote_string(kafka_config_value(v))
                                             for v in values))))
        elif kind == "range":
            q = col(spec.get("column"))
            if q:
                for bound, op in (("min", "<"), ("max", ">")):
                    v = spec.get(bound)
                    if v is None:
                        continue
                    if isinstance(v, bool) or not isinstance(v, (int, float)):
                        raise CompileError("test '%s': range %s must be a number, not %r"
                                           % (tname, bound, v))
                    out.append(("range_%s:%s" % (bound, spec.get("column")), q,
                                "CAST(%s AS DOUBLE) %s %s" % (q, op, repr(float(v)) if
                                                              isinstance(v, float) else v)))
        elif kind == "accepted_types":
            for c, t in sorted((spec.get("types") or {}).items()):
                q = col(c)
                ft = _ACCEPTED_TYPES.get(str(t).lower())
                if q and ft:
                    out.append(("accepted_types:%s" % c, q, "TRY_CAST(CAST(%s AS STRING) AS %s) "
                                "IS NULL AND %s IS NOT NULL" % (q, ft, q)))
                elif q:
                    self.warn("test", tname, "accepted_types: unknown type %r: skipped" % t)
        elif kind == "custom_sql":
            where = spec.get("where")
            if not where:
                return out
            cond = _check_condition(tname, str(where))
            detail = spec.get("detail_column")
            q = col(detail) if detail else quote_ident(next(iter(
                c.name for c in rel.columns)))
            if q:
                out.append(("custom_sql:%s" % (spec.get("name") or "custom"), q,
                            "(\n%s\n)" % cond))
        else:
            self.warn("test", tname, "assertion %r is not checked by a continuous test" % kind)
        return out

    # -- connectors and gateway ---------------------------------------------------------

    def input_topics(self, model):
        topics, fmts = [], []
        refs = []
        if model.get("sql"):
            refs = [(k, n) for k, n, _l, _c in template_calls(model["sql"]) if k != "unsupported"]
        else:
            for item in model.get("from") or []:
                if isinstance(item, dict):
                    if item.get("source"):
                        refs.append(("source", str(item["source"])))
                    elif item.get("ref"):
                        refs.append(("ref", str(item["ref"])))
        for kind, name in refs:
            rel = self.relation(kind, name)
            if rel is None:
                raise CompileError("model '%s': %s '%s' is not defined or has no topic"
                                   % (model.get("name"), kind, name),
                                   hint="validate the project")
            if rel.topic not in topics:
                topics.append(rel.topic)
                fmts.append(rel.fmt)
        return topics, fmts

    def connector(self, model):
        name = str(model.get("name"))
        sink = model.get("sink") or {}
        cls = str(sink.get("connector") or sink.get("type") or "")
        if not cls:
            raise CompileError("model '%s': the sink has no connector class" % name,
                               hint="set sink.connector")
        topics, fmts = self.input_topics(model)
        if not topics:
            raise CompileError("model '%s': the sink reads no topic" % name,
                               hint="add from: [{ref: model}] or from: [{source: name}]")
        config = {"name": name, "connector.class": _CONNECTOR_ALIASES.get(cls, cls),
                  "topics": ",".join(topics)}
        user = dict((str(k), kafka_config_value(v)) for k, v in (sink.get("config") or {}).items())
        for k in ("name", "topics", "connector.class"):
            if k in user and user[k] != config[k]:
                self.warn("model", name, "sink config %r is set by streamt (%r)" % (k, config[k]))
                user.pop(k)
        # the data written by Flink: schemaless JSON, keys as strings
        if "avro-confluent" in fmts:
            sr = self.runtime.get("schema_registry") or {}
            conv = {"value.converter": "io.confluent.connect.avro.AvroConverter",
                    "value.converter.schema.registry.url": str(sr.get("url"))}
        else:
            conv = {"value.converter": "org.apache.kafka.connect.json.JsonConverter",
                    "value.converter.schemas.enable": "false"}
        conv["key.converter"] = "org.apache.kafka.connect.storage.StringConverter"
        if "value.converter" in user:
            conv = dict((k, v) for k, v in conv.items() if not k.startswith("value.converter"))
        if "key.converter" in user:
            conv.pop("key.converter", None)
        config.update(conv)
        config.update(user)
        masks = self.masks(model)
        if masks:
            names = [t.strip() for t in config.get("transforms", "").split(",") if t.strip()]
            for i, (col, _m) in enumerate(masks):
                t = "streamt_mask%d" % i
                names.append(t)
                config["transforms.%s.type" % t] = "org.apache.kafka.connect.transforms.MaskField$Value"
                config["transforms.%s.fields" % t] = col
            config["transforms"] = ",".join(names)
        cluster = _get(model, "advanced", "connect_cluster") or _get(self.runtime, "connect",
                                                                      "default")
        return {"name": name, "cluster": str(cluster) if cluster else None,
                "config": dict(sorted(config.items()))}

    def gateway_resources(self, model):
        name = str(model.get("name"))
        vtopic = model_topic_name(model, "virtual_topic")
        topics, _fmts = self.input_topics(model)
        if not topics:
            raise CompileError("model '%s': a virtual topic needs a physical topic to read"
                               % name, hint='read it with {{ source("x") }} or {{ ref("x") }}')
        physical = topics[0]
        vcluster = _get(self.runtime, "conduktor", "gateway", "virtual_cluster")
        out = []
        sql = model.get("sql") or "SELECT * FROM x"
        toks = significant_tokens(sql)
        if _is_plain_select_star(toks):
            meta = {"name": vtopic}
            if vcluster:
                meta["vCluster"] = str(vcluster)
            out.append({"apiVersion": "gateway/v2", "kind": "AliasTopic", "metadata": meta,
                        "spec": {"physicalName": physical}})
        else:
            parts = []
            for t in toks:
                if t.kind == "template":
                    call = _parse_template_call(t.text)
                    rel = self.relation(*call)
                    parts.append('"%s"' % rel.topic.replace('"', '""'))
                else:
                    parts.append(t.text)
            statement = " ".join(parts).replace(" , ", ", ").replace(" ,", ",")
            out.append(self._interceptor(
                "streamt-%s-virtual-sql" % name, vcluster,
                "io.conduktor.gateway.interceptor.VirtualSqlTopicPlugin",
                {"virtualTopic": vtopic, "statement": statement}))
        masks = self.masks(model)
        if masks:
            policies = [{"name": "mask_%s" % col, "rule": {"type": "MASK_ALL",
                                                          "maskingChar": "*"},
                         "fields": [col]} for col, _m in masks]
            out.append(self._interceptor(
                "streamt-%s-mask" % name, vcluster,
                "io.conduktor.gateway.interceptor.FieldLevelDataMaskingPlugin",
                {"topic": "^%s$" % re.escape(vtopic), "policies": policies}))
        return out

    @staticmethod
    def _interceptor(name, vcluster, plugin, config):
        meta = {"name": name}
        if vcluster:
            meta["scope"] = {"vCluster": str(vcluster)}
        return {"apiVersion": "gateway/v2", "kind": "Interceptor", "metadata": meta,
                "spec": {"pluginClass": plugin, "priority": 100, "config": config}}


_ACCEPTED_TYPES = {"string": "STRING", "str": "STRING", "text": "STRING", "number": "DOUBLE",
                   "numeric": "DOUBLE", "double": "DOUBLE", "float": "DOUBLE", "int": "INT",
                   "integer": "INT", "bigint": "BIGINT", "long": "BIGINT", "bool": "BOOLEAN",
                   "boolean": "BOOLEAN", "timestamp": "TIMESTAMP(3)",
                   "datetime": "TIMESTAMP(3)", "date": "DATE", "time": "TIME"}


class _TableNames(object):
    """Unique table names within one job."""

    def __init__(self):
        self.used = {}

    def name(self, key, wanted):
        if key in self.used:
            return self.used[key]
        taken = set(self.used.values())
        name, i = wanted, 2
        while name.lower() in set(t.lower() for t in taken):
            name = "%s__%d" % (wanted, i)
            i += 1
        self.used[key] = name
        return name


def _item_end(info, start):
    for _name, s, e in info.items:
        if s == start:
            return e
    raise AssertionError("no select item at %d" % start)


def _is_ref(sql, start, end):
    return _column_ref(significant_tokens(sql[start:end])) is not None


def _mask_expr(method, expr, typ):
    s = "CAST(%s AS STRING)" % expr
    if method in ("hash", "sha256"):
        return "SHA256(%s)" % s
    if method == "md5":
        return "MD5(%s)" % s
    if method == "redact":
        return "'***'"
    if method == "partial":
        return ("CONCAT(REPEAT('*', GREATEST(CHAR_LENGTH(%s) - 4, 0)), "
                "SUBSTR(%s, GREATEST(CHAR_LENGTH(%s) - 3, 1)))" % (s, s, s))
    if method == "null":
        return "CAST(NULL AS %s)" % typ
    raise AssertionError(method)


def _check_condition(tname, where):
    """User SQL of a custom_sql assertion: one boolean condition, nothing more."""
    try:
        toks = sql_tokens(where)
    except SqlError as e:
        raise CompileError("test '%s': custom_sql where: %s" % (tname, e.message), hint=e.hint)
    depth = 0
    for t in toks:
        bad = None
        if t.kind == "op" and t.text == ";":
            bad = "';'"
        elif t.kind in ("template", "block"):
            bad = "a template"
        elif is_keyword(t, *_STATEMENT_WORDS):
            bad = "the keyword %s" % t.text.upper()
        elif t.kind == "op" and t.text == "(":
            depth += 1
        elif t.kind == "op" and t.text == ")":
            depth -= 1
            if depth < 0:
                bad = "an unbalanced ')'"
        if bad:
            raise CompileError("test '%s': custom_sql where may not contain %s" % (tname, bad),
                               location=Location(None, t.line, t.col),
                               hint="write one condition, e.g. amount > 0 AND status <> 'x'")
    if depth:
        raise CompileError("test '%s': custom_sql where has an unclosed '('" % tname)
    return where.strip()

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
