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
#
# load_project() reads the files of the original streamt's format (see
# /work/shared/reference/streamt-format.md section 1) with these deliberate
# differences: split directories are read recursively in sorted order, unknown
# keys are warnings with a suggestion (not silently ignored), legacy spellings
# are normalised with a deprecation warning, wrong types are located errors,
# and .env files are parsed here and never written into os.environ.

ENV_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]*$")

# Names whose values `envs show` masks.  Matched exactly (lower-case), not as a
# substring: the original masked `keystore_type` because it contains "key".
SECRET_KEYS = frozenset([
    "password", "passwd", "secret", "token", "api_key", "api_secret", "apikey", "key",
    "sasl_password", "ssl_password", "ssl_key_password", "private_key", "client_secret",
    "access_token", "auth_token", "bearer_token", "credentials", "credential",
    "secret_key", "access_key", "key_password", "keystore_password", "truststore_password",
    "basic_auth_user_info", "sasl.jaas.config", "connection.password",
])


class Diagnostic(object):
    """One finding about a project: ``level`` ("error"/"warning"), ``code``
    (e.g. ``MODEL_NOT_FOUND``), ``message``, ``location`` (a Location or None)
    and ``suggestion`` (what to do, or None)."""

    __slots__ = ("level", "code", "message", "location", "suggestion")

    def __init__(self, level, code, message, location=None, suggestion=None):
        self.level, self.code, self.message = level, code, message
        self.location, self.suggestion = location, suggestion

    @property
    def is_error(self):
        return self.level == "error"

    def sort_key(self):
        loc = self.location or Location()
        return (loc.file or "", loc.line or 0, loc.col or 0, self.code, self.message)

    def to_dict(self):
        loc = self.location or Location()
        return {"level": self.level, "code": self.code, "message": self.message,
                "file": loc.file, "line": loc.line, "column": loc.col,
                "suggestion": self.suggestion}

    def render(self):
        head = "%s: %s [%s]" % (self.level, self.message, self.code)
        if self.location is not None and self.location.file:
            head = "%s: %s" % (self.location, head)
        if self.suggestion:
            head += "\n  hint: " + self.suggestion
        return head

    def __repr__(self):
        return "Diagnostic(%r, %r, %r, %r)" % (self.level, self.code, self.message, self.location)


class Project(object):
    """A loaded project (docs/internals.md, "project").  Plain attributes:

    root, name, version, description, env, multi_env, environments (all names),
    environment, runtime, defaults, rules, sources, models, tests, exposures,
    variables, diagnostics (load warnings), files (relative, sorted),
    project_file and env_file (relative paths)."""

    def __init__(self, **kw):
        self.root = self.name = self.version = self.description = None
        self.env = "default"
        self.multi_env = False
        self.environments = []
        self.environment = {}
        self.runtime = {}
        self.defaults, self.rules = {}, {}
        self.sources, self.models, self.tests, self.exposures = [], [], [], []
        self.variables = {}
        self.diagnostics = []
        self.files = []
        self.project_file = self.env_file = None
        self.__dict__.update(kw)

    def source(self, name):
        for s in self.sources:
            if s.get("name") == name:
                return s
        return None

    def model(self, name):
        for m in self.models:
            if m.get("name") == name:
                return m
        return None

    def __repr__(self):
        return "<Project %r env=%r>" % (self.name, self.env)


def load_project(root, env=None, environ=None, strict=False):
    """Load the project in directory ``root`` for environment ``env``.

    ``env`` falls back to ``environ["STREAMT_ENV"]`` (``environ`` defaults to
    os.environ, which is only read).  Raises ProjectError (exit 3) for a project
    that cannot be loaded -- its ``diagnostics`` attribute then lists every
    located error found -- and UsageError (exit 2) for a bad environment choice.
    With ``strict``, load warnings (unknown keys, deprecated spellings) are
    errors too."""
    environ = dict(os.environ if environ is None else environ)
    loader = _Loader(root, environ)
    return loader.load(env, strict)


def list_environments(root):
    """Sorted environment names of the project at ``root`` ([] in single-env mode)."""
    return sorted(_env_files(os.path.abspath(root)))


def read_environment(root, name):
    """The environment file ``name`` of the project at ``root``, read on its own:
    ``{"name", "description", "protected", "safety", "runtime", "file", "diagnostics"}``.
    Raises UsageError for an unknown or ill-formed name, ProjectError for a bad file."""
    root = os.path.abspath(root)
    files = _env_files(root)
    if not os.path.isdir(os.path.join(root, "environments")):
        raise UsageError("No environments configured (single-environment mode)",
                         hint="create environments/<name>.yml files to use environments")
    _check_env_name(name, files)
    diags = []
    errors = []
    info = _read_env_file(root, files[name], name, diags, errors)
    if errors:
        _raise_errors(errors, diags)
    info["diagnostics"] = diags
    return info


_VAR_RE = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)\})")


def find_vars(obj):
    """The sorted list of ``${NAME}`` references in the strings of ``obj``
    (mappings, sequences, strings; ``$$`` is an escaped dollar, not a reference)."""
    names = set()
    for text in _strings(obj):
        for m in _VAR_RE.finditer(text):
            if m.group(2):
                names.add(m.group(2))
    return sorted(names)


def substitute(obj, values):
    """A copy of ``obj`` with every ``${NAME}`` replaced by ``values[NAME]`` and
    ``$$`` by ``$``.  Mappings become dicts, sequences lists.  Raises ProjectError
    naming *all* missing variables at once.  Set-but-empty counts as set."""
    missing = sorted(n for n in find_vars(obj) if n not in values)
    if missing:
        raise ProjectError(
            "Environment variable%s not set: %s" % ("s" if len(missing) > 1 else "",
                                                   ", ".join(missing)),
            hint="set %s in the environment, in .env or in .env.<env>"
                 % ("them" if len(missing) > 1 else "it"))
    return _subst(obj, values)


def parse_dotenv(text, filename=".env", lookup=None):
    """Parse the text of a .env file into an ordered dict.

    Understood: blank lines, ``# comments`` (whole line, or after whitespace in
    an unquoted value), ``export KEY=value``, unquoted values (trimmed), single
    quotes (literal), double quotes (escapes ``\\n \\t \\r \\" \\\\ \\$``, may
    span lines), and ``${X}`` / ``${X:-default}`` interpolation in unquoted and
    double-quoted values, resolved from ``lookup(name)`` (or None) then from
    earlier keys of this file; an unknown name gives "".  Anything else is a
    ProjectError pointing at file:line."""
    return _DotenvParser(text, filename, lookup).parse()


__all__ += ["Diagnostic", "Project", "load_project", "list_environments", "read_environment",
            "find_vars", "substitute", "parse_dotenv", "mask_secrets", "ENV_NAME_RE",
            "SECRET_KEYS", "PROJECT_SCHEMA", "ENV_FILE_SCHEMA"]


def mask_secrets(obj):
    """A copy of ``obj`` where the string values of secret-like keys (SECRET_KEYS,
    exact lower-case match, or ending in ``_password``/``_secret``/``_token``) are
    ``****`` -- unless the value is only a ``${VAR}`` reference, shown as written."""
    if isinstance(obj, dict):
        out = collections.OrderedDict()
        for k, v in obj.items():
            if isinstance(v, str) and _is_secret_key(k) and not _only_refs(v):
                out[k] = "****"
            else:
                out[k] = mask_secrets(v)
        return out
    if isinstance(obj, list):
        return [mask_secrets(v) for v in obj]
    return obj


# -- the schema of known keys ----------------------------------------------------
#
# One description, used both to warn about unknown keys (with a suggestion) and to
# report wrong types with their location.  A schema node is
#   "str" | "int" | "num" | "bool" | "scalar" | "any"   a leaf
#   {key: node, ...}                                     a mapping with these keys
#   ("list", node)                                       a sequence of node
#   ("mapof", node)                                      a mapping of any keys to node
# Non-string leaves also accept a string holding a ${VAR} reference.

_COLUMN = {"name": "str", "type": "str", "description": "str", "classification": "str",
           "proctime": "bool", "tags": ("list", "str"), "nullable": "bool"}
_TOPIC = {"name": "str", "partitions": "int", "replication_factor": "int",
          "config": ("mapof", "scalar")}
_FLINK_OPTS = {"parallelism": "int", "checkpoint_interval_ms": "int", "state_backend": "str",
               "state_ttl_ms": "int", "on_upgrade": "str"}
_SINK = {"connector": "str", "config": ("mapof", "scalar")}
_REFS = ("list", {"source": "str", "ref": "str"})
_STRS = ("list", "str")

_RUNTIME = {
    "kafka": {"bootstrap_servers": "str", "bootstrap_servers_internal": "str",
              "security_protocol": "str", "sasl_mechanism": "str", "sasl_username": "str",
              "sasl_password": "str", "ssl_cafile": "str", "ssl_certfile": "str",
              "ssl_keyfile": "str", "ssl_check_hostname": "bool"},
    "schema_registry": {"url": "str", "username": "str", "password": "str"},
    "flink": {"default": "str",
              "clusters": ("mapof", {"type": "str", "rest_url": "str", "sql_gateway_url": "str",
                                     "version": "str", "environment": "str", "api_key": "str",
                                     "api_secret": "str"})},
    "connect": {"default": "str", "clusters": ("mapof", {"rest_url": "str"})},
    "conduktor": {"gateway": {"admin_url": "str", "proxy_bootstrap": "str", "username": "str",
                              "password": "str", "virtual_cluster": "str"},
                  "console": {"url": "str", "api_key": "str"}},
}

_SOURCE = {
    "name": "str", "topic": "str", "description": "str", "owner": "str", "cluster": "str",
    "tags": _STRS,
    "schema": {"registry": "str", "subject": "str", "format": "str", "definition": "str",
               "compatibility": "str"},
    "columns": ("list", _COLUMN),
    "freshness": {"max_lag_seconds": "int", "warn_after_seconds": "int"},
    "event_time": {"column": "str", "allowed_lateness_ms": "int",
                   "watermark": {"strategy": "str", "max_out_of_orderness_ms": "int"}},
}

_MODEL = {
    "name": "str", "description": "str", "owner": "str", "group": "str", "tags": _STRS,
    "sql": "str", "from": _REFS, "key": "str", "columns": ("list", _COLUMN),
    "security": {"classification": ("mapof", "str"), "policies": ("list", ("mapof", "any"))},
    "sink": _SINK,
    "gateway": {"virtual_topic": {"name": "str", "compression": "str"}},
    "ml_outputs": ("mapof", {"columns": ("list", _COLUMN), "description": "str"}),
    "advanced": {"flink": _FLINK_OPTS, "topic": _TOPIC, "flink_cluster": "str",
                 "connect_cluster": "str"},
    "materialized": "str", "access": "str", "version": "int",
}

_TEST = {
    "name": "str", "model": "str", "type": "str", "description": "str",
    "assertions": ("list", ("mapof", "any")), "sample_size": "int", "flink_cluster": "str",
    "on_failure": {"severity": "str", "actions": ("list", ("mapof", "any"))},
}

_EXPOSURE = {
    "name": "str", "type": "str", "role": "str", "description": "str", "owner": "str",
    "url": "str", "repo": "str", "language": "str", "tool": "str",
    "produces": _REFS, "consumes": _REFS, "depends_on": _REFS, "consumer_group": "str",
    "sla": {"availability": "num", "max_produce_latency_ms": "num",
            "max_end_to_end_latency_ms": "num", "max_lag_messages": "num",
            "max_error_rate": "num", "max_lag_minutes": "num"},
    "contracts": {"schema": "any", "compatibility": "str"},
    "access": {"roles": _STRS, "purpose": "str"},
    "freshness": "any", "schedule": "str", "data_requirements": "any",
}

_TOPIC_DEFAULTS = {"partitions": "int", "replication_factor": "int",
                   "config": ("mapof", "scalar")}

PROJECT_SCHEMA = {
    "project": {"name": "str", "version": "scalar", "description": "str"},
    "runtime": _RUNTIME,
    "defaults": {"topic": _TOPIC_DEFAULTS,
                 "models": {"cluster": "str", "topic": _TOPIC_DEFAULTS},
                 "tests": {"flink_cluster": "str"}},
    "rules": {
        "topics": {"min_partitions": "int", "max_partitions": "int",
                   "min_replication_factor": "int", "max_replication_factor": "int",
                   "naming_pattern": "str", "forbidden_prefixes": _STRS,
                   "required_config": "any"},
        "models": {"require_description": "bool", "require_owner": "bool",
                   "require_tests": "bool", "max_dependencies": "int", "min_tests": "int",
                   "allowed_materializations": _STRS},
        "sources": {"require_schema": "bool", "require_freshness": "bool",
                    "require_columns": "bool", "require_owner": "bool"},
        "security": {"require_classification": "bool",
                     "sensitive_columns_require_masking": "bool",
                     "allowed_classifications": _STRS},
    },
    "sources": ("list", _SOURCE),
    "models": ("list", _MODEL),
    "tests": ("list", _TEST),
    "exposures": ("list", _EXPOSURE),
}

ENV_FILE_SCHEMA = {
    "environment": {"name": "str", "description": "str", "protected": "bool"},
    "runtime": _RUNTIME,
    "safety": {"confirm_apply": "bool", "allow_destructive": "bool",
               "require_signature": "bool"},
}

# Legacy spellings of the original (README flat format, docs): (kind, old path,
# new path).  The value moves to the new place, with a deprecation warning.
_ALIASES = [
    ("models", ("topic",), ("advanced", "topic")),
    ("models", ("flink",), ("advanced", "flink")),
    ("models", ("flink_cluster",), ("advanced", "flink_cluster")),
    ("models", ("connect_cluster",), ("advanced", "connect_cluster")),
    ("models", ("connector",), ("sink",)),
    ("models", ("advanced", "connector"), ("sink",)),
    ("sources", ("advanced", "event_time"), ("event_time",)),
]

_KINDS = ("sources", "models", "tests", "exposures")
_KIND_NOUN = {"sources": "source", "models": "model", "tests": "test", "exposures": "exposure"}
_TYPE_WORDS = {"str": "a string", "int": "an integer", "num": "a number", "bool": "true or false",
               "scalar": "a string, number or boolean", "list": "a list", "mapof": "a mapping",
               "map": "a mapping"}


# -- helpers --------------------------------------------------------------------

class _SynthMap(dict):
    """A mapping streamt made up (e.g. ``advanced:`` for a legacy ``topic:``), with
    the same location interface as the YAML loader's maps."""

    def __init__(self, loc, key_locs=None):
        dict.__init__(self)
        self.loc = loc
        self._key_locs = dict(key_locs or {})

    def key_loc(self, key):
        return self._key_locs.get(key, self.loc)


def _loc(node, default=None):
    return getattr(node, "loc", None) or default


def _key_loc(mapping, key, default=None):
    f = getattr(mapping, "key_loc", None)
    if f is not None:
        try:
            return f(key)
        except Exception:
            pass
    return _loc(mapping, default)


def _item_loc(seq, i, default=None):
    f = getattr(seq, "item_loc", None)
    if f is not None:
        try:
            return f(i)
        except Exception:
            pass
    return _loc(seq, default)


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            for s in _strings(v):
                yield s
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            for s in _strings(v):
                yield s


def _subst(obj, values):
    if isinstance(obj, str):
        def repl(m):
            return "$" if m.group(1) else str(values[m.group(2)])
        return _VAR_RE.sub(repl, obj)
    if isinstance(obj, dict):
        return dict((k, _subst(v, values)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return [_subst(v, values) for v in obj]
    return obj


def _only_refs(text):
    return bool(text) and not _VAR_RE.sub("", text).strip() and "${" in text


def _is_secret_key(key):
    k = str(key).lower()
    return k in SECRET_KEYS or k.endswith(("_password", "_secret", "_token", ".password"))


def _suggest(word, choices):
    import difflib
    close = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return ("did you mean '%s'?" % close[0]) if close else None


def _raise_errors(errors, diags):
    errors = sorted(errors, key=Diagnostic.sort_key)
    first = errors[0]
    more = ["%s: %s" % (d.location, d.message) if d.location else d.message for d in errors[1:]]
    e = ProjectError(first.message, hint=first.suggestion, location=first.location,
                     details=more)
    e.diagnostics = sorted(errors + [d for d in diags if not d.is_error], key=Diagnostic.sort_key)
    raise e


def _env_files(root):
    """{name: relative path} of the environment files (.yml preferred over .yaml)."""
    d = os.path.join(root, "environments")
    out = {}
    if not os.path.isdir(d):
        return out
    for fn in sorted(os.listdir(d)):
        stem, ext = os.path.splitext(fn)
        if ext in (".yml", ".yaml") and not fn.startswith(".") and os.path.isfile(os.path.join(d, fn)):
            if stem not in out or ext == ".yml":
                out[stem] = "environments/" + fn
    return out


def _check_env_name(name, files):
    if not ENV_NAME_RE.match(name or "") or len(name) > 64:
        raise UsageError(
            "Invalid environment name %r: environment names contain only letters, digits "
            "and hyphens, and start with a letter or digit" % (name,),
            hint="available: %s" % (", ".join(sorted(files)) or "none"))
    if name not in files:
        raise UsageError(
            "Environment '%s' not found. Available: %s" % (name, ", ".join(sorted(files)) or "none"),
            hint="create environments/%s.yml, or pick one of the available environments" % name)


def _read_yaml(root, rel, diags, errors):
    """The located YAML of root/rel ({} for an empty file), or None after a YamlError."""
    path = os.path.join(root, rel)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except (IOError, OSError) as e:
        errors.append(Diagnostic("error", "FILE_UNREADABLE", "cannot read %s: %s" % (rel, e),
                                 Location(rel)))
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        errors.append(Diagnostic("error", "YAML_ERROR", "%s is not UTF-8 text (%s)" % (rel, e),
                                 Location(rel), "save the file as UTF-8"))
        return None
    try:
        data = yaml_load_located(text, rel)  # noqa: F821 -- defined in the YAML section
    except ProjectError as e:  # YamlError
        errors.append(Diagnostic("error", "YAML_ERROR", e.message,
                                 e.location or Location(rel), e.hint))
        return None
    for w in getattr(data, "warnings", None) or []:  # e.g. duplicate keys, if the loader says
        diags.append(w if isinstance(w, Diagnostic) else Diagnostic("warning", "YAML_WARNING", str(w), Location(rel)))
    if data is None:
        return _SynthMap(Location(rel, 1))
    return data


def _check(node, schema, path, what, diags, errors, default_loc):
    """Check ``node`` against ``schema`` (see above); warn about unknown keys and
    collect located type errors.  Removes keys whose value is null (written but
    empty means absent).  ``path`` is the dotted path of ``node`` for messages."""
    loc = _loc(node, default_loc)
    if isinstance(schema, str):
        if _leaf_ok(node, schema):
            return True
        _type_error(node, schema, path, what, loc, errors)
        return False
    if isinstance(schema, tuple):
        kind, child = schema
        if kind == "list":
            if not isinstance(node, list):
                _type_error(node, "list", path, what, loc, errors)
                return False
            for i, item in enumerate(node):
                if item is None:
                    continue
                _check(item, child, "%s[%d]" % (path, i), what, diags, errors,
                       _item_loc(node, i, loc))
            return True
        if not isinstance(node, dict):  # mapof
            _type_error(node, "mapof", path, what, loc, errors)
            return False
        for k in list(node):
            if node[k] is None and child != "any":
                continue
            _check(node[k], child, "%s.%s" % (path, k) if path else str(k), what, diags, errors,
                   _key_loc(node, k, loc))
        return True
    if not isinstance(node, dict):
        _type_error(node, "map", path, what, loc, errors)
        return False
    for k in list(node):
        kpath = "%s.%s" % (path, k) if path else str(k)
        kloc = _key_loc(node, k, loc)
        if k not in schema:
            where = ("%s of %s" % (path, what) if path else what) if what else (path or "the file")
            diags.append(Diagnostic(
                "warning", "UNKNOWN_KEY", "unknown key '%s' in %s is ignored" % (k, where),
                kloc, _suggest(k, [x for x in schema if isinstance(x, str)])
                or "known keys here: %s" % ", ".join(sorted(schema))))
            continue
        if node[k] is None:
            del node[k]
            continue
        _check(node[k], schema[k], kpath, what, diags, errors, kloc)
    return True


def _leaf_ok(value, kind):
    if kind == "any":
        return True
    if isinstance(value, str) and kind != "str" and "${" in value:
        return True  # a ${VAR} reference, checked once substituted
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "num":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "scalar":
        return isinstance(value, (str, int, float, bool))
    return False


def _describe(value):
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "the string %r" % (value if len(value) < 40 else value[:37] + "...")
    if isinstance(value, (int, float)):
        return "the number %r" % (value,)
    return type(value).__name__


def _type_error(value, kind, path, what, loc, errors):
    key = path.rsplit(".", 1)[-1] if path else "value"
    where = ("'%s' of %s" % (path, what)) if what else "'%s'" % path
    msg = "%s must be %s, got %s" % (where, _TYPE_WORDS.get(kind, kind), _describe(value))
    hint = None
    if key in ("from", "produces", "consumes", "depends_on") and isinstance(value, str):
        hint = ("'%s' is a list of references; write it as:\n    %s:\n      - ref: %s   "
                "(or '- source: %s' for a source)" % (key, key, value, value))
    elif kind == "int" and isinstance(value, str):
        hint = "write a number without quotes, e.g. %s: 3" % key
    elif kind == "str" and isinstance(value, (int, float, bool)):
        hint = "quote it: %s: \"%s\"" % (key, value)
    elif kind == "list" and isinstance(value, (str, dict)):
        hint = "write it as a YAML list, one '- ' item per line"
    errors.append(Diagnostic("error", "INVALID_TYPE", msg, loc, hint))


def _get_path(m, path):
    for p in path:
        if not isinstance(m, dict) or p not in m:
            return None
        m = m[p]
    return m


def _normalise_aliases(kind, item, what, diags, errors):
    for akind, old, new in _ALIASES:
        if akind != kind:
            continue
        parent = _get_path(item, old[:-1]) if len(old) > 1 else item
        if not isinstance(parent, dict) or old[-1] not in parent:
            continue
        value = parent[old[-1]]
        loc = _key_loc(parent, old[-1], _loc(item))
        if old == ("connector",) or old == ("advanced", "connector"):
            value = _connector_to_sink(value)
        if _get_path(item, new) is not None:
            errors.append(Diagnostic(
                "error", "CONFLICTING_KEYS",
                "%s has both '%s' (legacy) and '%s'" % (what, ".".join(old), ".".join(new)),
                loc, "remove '%s'" % ".".join(old)))
            continue
        del parent[old[-1]]
        if isinstance(parent, dict) and not parent and parent is not item:
            # e.g. an 'advanced:' that only held the legacy key
            gp = _get_path(item, old[:-2]) if len(old) > 2 else item
            if isinstance(gp, dict) and gp.get(old[-2]) is parent:
                del gp[old[-2]]
        target = item
        for p in new[:-1]:
            if not isinstance(target.get(p), dict):
                target[p] = _SynthMap(loc)
                if isinstance(target, _SynthMap):
                    target._key_locs[p] = loc
            target = target[p]
        target[new[-1]] = value
        if isinstance(target, _SynthMap):
            target._key_locs[new[-1]] = loc
        diags.append(Diagnostic(
            "warning", "DEPRECATED_KEY",
            "'%s' in %s is a legacy spelling of '%s'" % (".".join(old), what, ".".join(new)),
            loc, "write it as '%s'" % ".".join(new)))


def _connector_to_sink(value):
    """The original's model-level ``connector: {type, config}`` became ``sink:
    {connector: <type>, config}``."""
    if not isinstance(value, dict):
        return value
    out = _SynthMap(_loc(value), getattr(value, "_key_locs", None))
    for k, v in value.items():
        out["connector" if k == "type" else k] = v
        out._key_locs["connector" if k == "type" else k] = _key_loc(value, k, _loc(value))
    return out


class _Loader(object):
    def __init__(self, root, environ):
        self.root = os.path.abspath(root)
        self.environ = environ
        self.diags = []
        self.errors = []
        self.files = []

    def yaml(self, rel):
        self.files.append(rel)
        return _read_yaml(self.root, rel, self.diags, self.errors)

    def load(self, env, strict):
        root = self.root
        if not os.path.isdir(root):
            raise ProjectError("Project directory not found: %s" % root,
                               hint="pass the project directory with -p DIR")
        pfile = None
        for fn in ("stream_project.yml", "stream_project.yaml"):
            if os.path.isfile(os.path.join(root, fn)):
                if pfile:
                    self.diags.append(Diagnostic(
                        "warning", "DUPLICATE_PROJECT_FILE",
                        "both stream_project.yml and stream_project.yaml exist; "
                        "stream_project.yaml is ignored", Location(fn), "delete one of them"))
                else:
                    pfile = fn
        if pfile is None:
            raise ProjectError("No stream_project.yml found in %s" % root,
                               hint="pass the project directory with -p DIR, or create "
                                    "stream_project.yml (see examples/shop)")
        env_files = _env_files(root)
        multi = os.path.isdir(os.path.join(root, "environments"))
        env = self.select_env(env, multi, env_files)

        p = Project(root=root, multi_env=multi, env=env, environments=sorted(env_files),
                    project_file=pfile)
        data = self.yaml(pfile)
        if data is not None and not isinstance(data, dict):
            self.errors.append(Diagnostic("error", "INVALID_TYPE",
                                          "%s must be a mapping of sections (project:, runtime:, "
                                          "models:, ...)" % pfile, _loc(data, Location(pfile, 1))))
            data = None
        if data is not None:
            self.project_file(p, pfile, data)
            self.split_files(p)
        p.environment = {"name": env, "description": None, "protected": False,
                         "safety": {"confirm_apply": False, "allow_destructive": True,
                                    "require_signature": False}}
        if multi:
            if data is not None and data.get("runtime") is not None:
                self.diags.append(Diagnostic(
                    "warning", "RUNTIME_IGNORED",
                    "runtime: in %s is ignored in multi-environment mode" % pfile,
                    _key_loc(data, "runtime", Location(pfile)),
                    "move it to environments/<env>.yml, where each environment has its own"))
            p.env_file = env_files[env]
            info = _read_env_file(root, p.env_file, env, self.diags, self.errors)
            self.files.append(p.env_file)
            p.runtime = info["runtime"]
            p.environment = dict((k, info[k]) for k in ("name", "description", "protected", "safety"))
        elif data is not None:
            if data.get("runtime") is None:
                self.errors.append(Diagnostic(
                    "error", "MISSING_RUNTIME", "Missing 'runtime' section in %s" % pfile,
                    Location(pfile, 1), "add a runtime: section with at least "
                    "kafka.bootstrap_servers, or create environments/<env>.yml files"))
            elif isinstance(data.get("runtime"), dict):
                p.runtime = data["runtime"]
        if self.errors:
            _raise_errors(self.errors, self.diags)
        p.variables = self.variables(p, env, multi)
        if strict:
            warns = [d for d in self.diags if not d.is_error]
            if warns:
                _raise_errors([Diagnostic("error", d.code, d.message, d.location, d.suggestion)
                               for d in warns], [])
        p.diagnostics = sorted(self.diags, key=Diagnostic.sort_key)
        p.files = sorted(set(self.files))
        return p

    def select_env(self, env, multi, env_files):
        from_var = self.environ.get("STREAMT_ENV") or None
        if not multi:
            if env:
                raise UsageError(
                    "No environments configured. Remove --env or create an environments/ directory",
                    hint="this project has no environments/ directory: run the command "
                         "without -e/--env")
            if from_var:
                self.diags.append(Diagnostic(
                    "warning", "STREAMT_ENV_IGNORED",
                    "STREAMT_ENV='%s' ignored in single-environment mode" % from_var, None,
                    "unset STREAMT_ENV, or create environments/%s.yml" % from_var))
            return "default"
        if not env_files:
            raise ProjectError(
                "No environment files found in environments/ directory",
                hint="add environment files like environments/dev.yml, or remove the empty "
                     "environments/ directory", location=Location("environments"))
        env = env or from_var
        if not env:
            raise UsageError("No environment selected. Available: %s" % ", ".join(sorted(env_files)),
                             hint="pass -e/--env NAME or set STREAMT_ENV")
        _check_env_name(env, env_files)
        return env

    def project_file(self, p, pfile, data):
        _check(data, PROJECT_SCHEMA, "", pfile, self.diags, self.errors, Location(pfile, 1))
        proj = data.get("project")
        if not isinstance(proj, dict):
            if proj is None:
                self.errors.append(Diagnostic(
                    "error", "MISSING_PROJECT", "Missing 'project' section in %s" % pfile,
                    Location(pfile, 1), "add:\n    project:\n      name: my_project"))
            proj = {}
        elif not proj.get("name"):
            self.errors.append(Diagnostic(
                "error", "MISSING_FIELD", "project.name is required", _loc(proj, Location(pfile)),
                "add 'name: <project name>' under project:"))
        p.name = proj.get("name") if isinstance(proj.get("name"), str) else None
        v = proj.get("version")
        p.version = None if v is None else str(v)
        p.description = proj.get("description")
        for key in ("defaults", "rules"):
            setattr(p, key, data.get(key) if isinstance(data.get(key), dict) else {})
        for kind in _KINDS:
            self.items(p, kind, data.get(kind), pfile)

    def items(self, p, kind, seq, rel):
        if seq is None:
            return
        if not isinstance(seq, list):
            return  # the schema check reported it
        target = getattr(p, kind)
        for i, item in enumerate(seq):
            loc = _item_loc(seq, i, Location(rel))
            if not isinstance(item, dict):
                if item is not None:
                    self.errors.append(Diagnostic(
                        "error", "INVALID_TYPE",
                        "each entry of %s: must be a mapping (name: ..., ...), got %s"
                        % (kind, _describe(item)), loc))
                continue
            name = item.get("name")
            what = "%s '%s'" % (_KIND_NOUN[kind], name) if isinstance(name, str) else \
                "%s #%d of %s" % (_KIND_NOUN[kind], i + 1, rel)
            if kind in ("models", "sources"):
                _normalise_aliases(kind, item, what, self.diags, self.errors)
            schema = {"sources": _SOURCE, "models": _MODEL, "tests": _TEST,
                      "exposures": _EXPOSURE}[kind]
            _check(item, schema, "", what, self.diags, self.errors, loc)
            target.append(item)

    def split_files(self, p):
        for kind in _KINDS:
            base = os.path.join(self.root, kind)
            if not os.path.isdir(base):
                continue
            found = []
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                for fn in filenames:
                    if fn.endswith((".yml", ".yaml")) and not fn.startswith("."):
                        rel = os.path.relpath(os.path.join(dirpath, fn), self.root)
                        found.append(rel.replace(os.sep, "/"))
            for rel in sorted(found):
                data = self.yaml(rel)
                if data is None:
                    continue
                if not isinstance(data, dict):
                    self.errors.append(Diagnostic(
                        "error", "INVALID_TYPE", "%s must be a mapping with a '%s:' list" % (rel, kind),
                        _loc(data, Location(rel, 1))))
                    continue
                for k in data:
                    if k != kind:
                        self.diags.append(Diagnostic(
                            "warning", "UNKNOWN_KEY",
                            "unknown key '%s' in %s is ignored (files under %s/ hold a '%s:' list)"
                            % (k, rel, kind, kind), _key_loc(data, k, Location(rel)),
                            _suggest(k, [kind]) or "move it to stream_project.yml"))
                seq = data.get(kind)
                if seq is not None and not isinstance(seq, list):
                    _type_error(seq, "list", kind, rel, _key_loc(data, kind, Location(rel)),
                                self.errors)
                    continue
                self.items(p, kind, seq, rel)

    def variables(self, p, env, multi):
        values = collections.OrderedDict()
        lookup = self.environ.get
        names = [".env"] + ([".env." + env] if multi else [])
        for fn in names:
            path = os.path.join(self.root, fn)
            if not os.path.isfile(path):
                continue
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8-sig")
            except (IOError, OSError, UnicodeDecodeError) as e:
                raise ProjectError("cannot read %s: %s" % (fn, e), location=Location(fn))
            prev = dict(values)

            def chained(name, prev=prev):
                v = lookup(name)
                return v if v is not None else prev.get(name)
            values.update(parse_dotenv(text, fn, chained))
            self.files.append(fn)
        referenced = set(find_vars([p.runtime, p.sources, p.models, p.tests, p.exposures,
                                    p.defaults]))
        out = {}
        for k, v in values.items():
            out[k] = v
        for k in referenced | set(out):
            if k in self.environ:
                out[k] = self.environ[k]
        return out


def _read_env_file(root, rel, name, diags, errors):
    data = _read_yaml(root, rel, diags, errors)
    info = {"name": name, "description": None, "protected": False, "runtime": {},
            "safety": {"confirm_apply": False, "allow_destructive": True,
                       "require_signature": False}, "file": rel}
    if data is None:
        return info
    if not isinstance(data, dict):
        errors.append(Diagnostic("error", "INVALID_TYPE",
                                 "%s must be a mapping (environment:, runtime:, safety:)" % rel,
                                 _loc(data, Location(rel, 1))))
        return info
    _check(data, ENV_FILE_SCHEMA, "", rel, diags, errors, Location(rel, 1))
    envsec = data.get("environment") if isinstance(data.get("environment"), dict) else {}
    declared = envsec.get("name")
    if declared is not None and declared != name:
        errors.append(Diagnostic(
            "error", "ENV_NAME_MISMATCH",
            "Environment name mismatch: file is '%s' but environment.name is '%s'. They must match."
            % (rel.rsplit("/", 1)[-1], declared), _key_loc(envsec, "name", Location(rel)),
            "rename the file to environments/%s.yml or set 'name: %s'" % (declared, name)))
    info["description"] = envsec.get("description")
    protected = envsec.get("protected", False)
    info["protected"] = protected if isinstance(protected, bool) else False
    runtime = data.get("runtime")
    if not runtime or not isinstance(runtime, dict):
        errors.append(Diagnostic(
            "error", "MISSING_RUNTIME", "Missing 'runtime' section in environment file '%s'" % rel,
            Location(rel, 1), "add a runtime: section with at least kafka.bootstrap_servers"))
    else:
        info["runtime"] = runtime
    safety = data.get("safety") if isinstance(data.get("safety"), dict) else {}
    s = info["safety"]
    s["confirm_apply"] = info["protected"]
    for k in ("confirm_apply", "allow_destructive", "require_signature"):
        if isinstance(safety.get(k), bool):
            s[k] = safety[k]
    return info


class _DotenvParser(object):
    _KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
    _INTERP = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
    _ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$", "'": "'"}

    def __init__(self, text, filename, lookup):
        self.text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.filename = filename
        self.lookup = lookup or (lambda name: None)
        self.values = collections.OrderedDict()

    def fail(self, line, msg, hint=None):
        raise ProjectError(msg,
                           hint=hint or "write KEY=value, KEY=\"value\" or KEY='value'; "
                                        "'#' starts a comment",
                           location=Location(self.filename, line))

    def interpolate(self, value):
        def repl(m):
            v = self.lookup(m.group(1))
            if v is None:
                v = self.values.get(m.group(1))
            if (v is None or v == "") and m.group(2) is not None:
                v = m.group(2)
            return v or ""
        return self._INTERP.sub(repl, value)

    def parse(self):
        text, n = self.text, len(self.text)
        pos, line = 0, 1
        ws = " \t"
        while pos < n:
            eol = text.find("\n", pos)
            if eol < 0:
                eol = n
            i = pos
            while i < eol and text[i] in ws:
                i += 1
            if i == eol or text[i] == "#":
                pos, line = eol + 1, line + 1
                continue
            start_line = line
            if text.startswith("export", i) and i + 6 < eol and text[i + 6] in ws:
                i += 6
                while i < eol and text[i] in ws:
                    i += 1
            m = self._KEY.match(text, i, eol)
            if not m:
                self.fail(line, "malformed line in %s: expected KEY=value" % self.filename)
            key = m.group(0)
            i = m.end()
            while i < eol and text[i] in ws:
                i += 1
            if i >= eol or text[i] != "=":
                self.fail(line, "malformed line in %s: '%s' has no '='" % (self.filename, key))
            i += 1
            while i < eol and text[i] in ws:
                i += 1
            if i < eol and text[i] in ("'", '"'):
                q = text[i]
                i += 1
                pieces, raw = [], []
                while True:
                    if i >= n:
                        self.fail(start_line, "unterminated %s quote in %s for %s"
                                  % ("double" if q == '"' else "single", self.filename, key),
                                  "close the quote")
                    c = text[i]
                    if c == q:
                        i += 1
                        break
                    if c == "\\" and q == '"' and i + 1 < n and text[i + 1] in self._ESCAPES:
                        pieces.append(self.interpolate("".join(raw)))
                        raw = []
                        pieces.append(self._ESCAPES[text[i + 1]])
                        i += 2
                        continue
                    if c == "\n":
                        line += 1
                    raw.append(c)
                    i += 1
                chunk = "".join(raw)
                pieces.append(self.interpolate(chunk) if q == '"' else chunk)
                value = "".join(pieces)
                eol = text.find("\n", i)
                if eol < 0:
                    eol = n
                tail = text[i:eol].strip()
                if tail and not tail.startswith("#"):
                    self.fail(line, "unexpected text after the closing quote of %s in %s"
                              % (key, self.filename))
            else:
                value = text[i:eol]
                cut = re.search(r"[ \t]#", value)
                if cut:
                    value = value[:cut.start()]
                value = value.strip()
                if value.startswith("#"):
                    value = ""
                value = self.interpolate(value)
            pos, line = eol + 1, line + 1
            self.values[key] = value
        return self.values

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
