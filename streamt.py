#!/usr/bin/env python3
"""streamt: build and deploy streaming pipelines (Kafka, Schema Registry, Flink SQL,
Kafka Connect, Conduktor Gateway) from a YAML + SQL project.

One file, standard library only, CPython 3.6 to 3.13, in two parts.  Part I holds what
we wrote instead of a dependency: each section is a small library that uses only the
prelude and the errors, with one class (or a very few names) as its face.  Part II is
the pipeline, in data-flow order.  A section uses only the sections above it; a name is
bound once; a section's private (underscore) names are its own.  tests/test_structure.py
checks all of this, and this table against the banners.  docs/internals.md draws the map.

Table of contents -- section, what it owns, its public names:

    Prelude -- lazy imports and regexes, the bounded memo, the fast-path switchboard
        FastPaths, Memo

    Errors & output -- exit codes, the error classes, the one output writer
        EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INVALID, EXIT_INTEGRITY, EXIT_REFUSED,
        EXIT_DRIFT, EXIT_PARTIAL, EXIT_CHANGES, Location, StreamtError, UsageError,
        ProjectError, IntegrityError, RefusedError, DriftError, PartialDeployError,
        ServiceError, Output, CompileError

PART I -- what we wrote instead of a dependency

    Canonical JSON -- RFC 8785-style canonical JSON text
        canonical_json, CanonicalJson

    YAML: full loader -- the YAML 1.1 scanner, parser and constructor (PyYAML's safe_load)
        YamlError, YamlMap, YamlSeq

    YAML -- the line loader for the common subset, the face, the emitter of `envs show`
        yaml_load, yaml_load_located, YamlEmitter

    Signatures -- Ed25519 (RFC 8032), OpenSSH keys, SSHSIG, allowed_signers (ssh-keygen -Y)
        SSHSIG_NAMESPACE, ssh_sign, ssh_verify, ssh_signature_info, ssh_public_key_line,
        ssh_fingerprint, ed25519_public_key, ed25519_sign, ed25519_verify

    Tar & gzip -- the deterministic ustar/gzip writer and the bounded archive reader
        ARTIFACT_MAX_MEMBER, ARTIFACT_MAX_TOTAL, ARTIFACT_MAX_MEMBERS, deterministic_tar,
        Archive

    Git reader -- HEAD, commit time and dirtiness, from git or from .git itself
        git_info

    HTTP client -- JSON over HTTP(S) with basic auth, retries, and redacted errors
        HttpError, HttpResponse, flink_root_cause, HttpClient, Http

    Kafka wire client -- the Kafka admin protocol over a socket: TLS, SASL PLAIN/SCRAM
        KAFKA_ERRORS, kafka_error_name, KafkaError, KafkaAdmin

    Kafka wire client: reading -- leaders, offsets, record batches and codecs, group offsets
        KafkaRecord, KafkaReader

PART II -- the pipeline

    Secrets & variables -- the one secret policy; ${VAR} finding and substitution; .env
        SecretPolicy, Variables, parse_dotenv, mask_secrets, REDACTED, read_env_file

    Project -- finding and loading a project's files into a located Project
        ENV_NAME_RE, Diagnostic, Project, load_project, list_environments,
        read_environment, ProjectSchema, PROJECT_SCHEMA, ENV_FILE_SCHEMA, ProjectKinds,
        Locate, plain_data

    SQL -- the Flink SQL tokenizer, templates, statements, materialization
        SqlError, Token, sql_tokens, significant_tokens, is_keyword, token_value,
        template_calls, SqlTemplates, render_sql, quote_ident, quote_string,
        split_statements, SqlShape, MATERIALIZATIONS, infer_materialization, is_stateful,
        sql_references, resolve_sql_references, redact_sql

    SQL analysis -- query plans: result columns, types, keys, change modes
        Column, QueryInfo, normalize_type, analyze_query, SqlAnalysis

    Schemas -- Avro/JSON/Protobuf schema parsing and checks for validate and compile
        Schema, parse_schema_definition, SchemaError, canonical_schema, AvroBinary

    Validate -- every check build would refuse, as located diagnostics; the lineage graph
        DIAGNOSTIC_CODES, validate_project, check_variables, is_valid, name_problem,
        topic_problem, effective_topic, lineage_graph, lineage_reach

    Compile -- a validated project into its desired state (topics, schemas, jobs, ...)
        compile_project, model_topic_name, flink_duration, kafka_config_value, jaas_config,
        Compiler, ProjectPipeline

    Artifact -- render, write, read, verify, inspect and diff build artifacts
        ARTIFACT_FORMAT_VERSION, ARTIFACT_KINDS, ARTIFACT_SIGNATURE, Artifact,
        resolve_refs, artifact_file_name, render_artifact, write_artifact, read_artifact,
        verify_artifact, inspect_artifact, diff_artifacts, render_diff, source_date_epoch,
        ArtifactText, resolve_variables

    Targets -- one class per service: observe, diff, apply
        FLINK_JOB_MARKER, PlanPolicy, Change, KafkaTarget, plan_topics,
        SchemaRegistryTarget, FlinkTarget, previous_tool_job_names, ConnectTarget,
        GatewayTarget

    Plan & deploy -- the plan across the services, applying it, drift
        Selection, APPLY_ORDER, Plan, make_targets, mutating_calls, plan_deploy,
        source_topics, missing_source_topics, apply_plan, observe_state, drift_between,
        ConsumerLag, DataTests

    Docs page -- the self-contained HTML page of a project or an artifact (`docs generate`)
        DocsPage

    CLI -- the command line: one parser, one function per command, the deploy steps
        command, DeployRun, build_parser, main

Run ``python3 streamt.py --help`` (or ``python3 streamt.pyz --help``).
"""

import sys

if sys.version_info < (3, 6):  # keep this guard parseable by old interpreters
    sys.stderr.write("streamt needs Python 3.6 or newer\n")
    sys.exit(1)

import collections
import os

# Start-up budget: `streamt --version` must start within 3x a bare interpreter, and every
# command pays what the module does when it is imported.  So heavy standard modules
# (argparse, ssl, socket, tarfile, gzip, lzma, zipfile, urllib.request, http.client, hmac,
# base64, difflib, uuid, ...) are imported inside the functions that use them, the common
# ones below are imported on first use, and regular expressions are compiled on first use.


class _LazyModule(object):
    """A standard module imported the first time one of its attributes is read.

    `json = _LazyModule("json")` costs nothing at start-up; the first `json.dumps` imports
    json and rebinds the module-level name to the real module, so later uses go straight
    to it (no wrapper left on any hot path)."""

    def __init__(self, name):
        self._lazy_name = name

    def __getattr__(self, attr):
        import importlib
        module = importlib.import_module(self._lazy_name)
        globals()[self._lazy_name] = module
        return getattr(module, attr)

    def __repr__(self):
        return "<module %r, imported on first use>" % self._lazy_name


datetime = _LazyModule("datetime")
hashlib = _LazyModule("hashlib")
json = _LazyModule("json")
re = _LazyModule("re")
string = _LazyModule("string")


class _LazyRegex(object):
    """`re.compile(pattern, flags)` done on first use (compiling the module's ~35
    patterns at import took 10-15 ms of a 100 ms start on Python 3.7-3.10).

    Reading an attribute (`.match`, `.sub`, `.pattern`, ...) compiles the pattern once and
    stores the attribute on this object, so later reads are plain attribute reads.  Only
    for attribute use: pass `.pattern` (not the object) to functions of `re`.  Write flags
    inline (`(?i)...`): `re.I` at module level would import `re` at start-up."""

    def __init__(self, pattern, flags=0):
        self._lazy_args = (pattern, flags)
        self.pattern = pattern  # read without compiling (patterns built from patterns)

    def __getattr__(self, attr):
        if attr.startswith("__") or attr.startswith("_lazy"):
            raise AttributeError(attr)
        compiled = self.__dict__.get("_lazy_compiled")
        if compiled is None:
            compiled = self._lazy_compiled = re.compile(*self._lazy_args)
        value = getattr(compiled, attr)
        setattr(self, attr, value)
        return value

    def __repr__(self):
        return "_LazyRegex(%r)" % (self._lazy_args[0],)


class Memo(object):
    """The one bounded memo: answers remembered by key, at most ``size`` of them, the
    oldest forgotten first (dicts keep insertion order), so that no input can make a memo
    grow without bound.  ``get(key, default=None)`` is the dict's own (a C call on the hot
    paths); ``put(key, value)`` stores and returns ``value``."""

    __slots__ = ("data", "size", "get")

    def __init__(self, size=2048):
        self.data = {}
        self.size = size
        self.get = self.data.get

    def put(self, key, value):
        data = self.data
        if len(data) >= self.size and key not in data:
            del data[next(iter(data))]
        data[key] = value
        return value

    def clear(self):
        self.data.clear()

    def __len__(self):
        return len(self.data)


class FastPaths(object):
    """The one switchboard of fast paths.  Each is a shortcut that must give exactly what
    the general code it stands for gives; a test turns it off and compares the two on the
    same inputs (``with FastPaths.off("validate"): ...``):

    ``yaml_scanner``  the YAML scanner's shortcuts, token for token (test_yaml_fast.py)
    ``yaml_lines``    the line loader in front of the full loader (test_yaml_lines.py)
    ``validate``      validation's quick checks, same diagnostics (test_validate_shared.py)
    ``compile``       compile's quick paths, same state (test_validate_shared.py)
    ``artifact``      the one-pass manifest and "$" search (test_artifact_fast.py), and
                      git_info's quick "not in a repository" (test_artifact.py)"""

    yaml_scanner = yaml_lines = validate = compile = artifact = True

    class off(object):
        """``with FastPaths.off(name, ...):`` the general code only, then as it was."""

        def __init__(self, *names):
            for name in names:
                if not isinstance(FastPaths.__dict__.get(name), bool):
                    raise AttributeError("no fast path %r" % name)
            self.names = names

        def __enter__(self):
            self.saved = [(n, getattr(FastPaths, n)) for n in self.names]
            for n in self.names:
                setattr(FastPaths, n, False)
            return self

        def __exit__(self, *exc):
            for n, v in self.saved:
                setattr(FastPaths, n, v)


class _gc_paused(object):
    """`with _gc_paused():` runs a block with the cyclic garbage collector off, and puts
    it back as it was, whatever happens.  For work that makes a great many small objects
    and no cycles (loading YAML, a project, a whole build): the collector, triggered by
    allocations, would only rescan the ever larger heap again and again (a third of the
    time at 5,000 models); reference counting still frees everything."""

    def __enter__(self):
        import gc
        self._was_enabled = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc):
        if self._was_enabled:
            import gc
            gc.enable()
        return False

__version__ = "0.1.0"
__all__ = ["Memo", "FastPaths"]  # filled by the sections: public names only


###############################################################################
# Errors & output #############################################################
###############################################################################
#
# Every failure a user can meet is a StreamtError with an exit code from the
# table below, a message saying what went wrong, where (file:line for project
# files) and, when we know it, a hint saying what to do.

__all__ += ["EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_INVALID", "EXIT_INTEGRITY",
            "EXIT_REFUSED", "EXIT_DRIFT", "EXIT_PARTIAL", "EXIT_CHANGES", "Location",
            "StreamtError", "UsageError", "ProjectError", "IntegrityError", "RefusedError",
            "DriftError", "PartialDeployError", "ServiceError", "Output", "CompileError"]


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
        # a detail is one line, often naming what an archive or a service said: escaped
        lines.extend("  " + Output.printable(d, "\t") for d in self.details)
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


class Output(object):
    """Where results (stdout) and diagnostics/progress (stderr) go.

    Colour only when the stream is a TTY and NO_COLOR is not set."""

    COLORS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1", "dim": "2"}

    def __init__(self, out=None, err=None, environ=None):
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        env = os.environ if environ is None else environ
        self.no_color = "NO_COLOR" in env
        # text -> text applied to every line written (the CLI installs SecretPolicy's
        # scrubber: known secret values and URL credentials never reach the terminal)
        self.scrub = None

    def _colored(self, stream, text, color):
        if color and not self.no_color and getattr(stream, "isatty", lambda: False)():
            return "\033[%sm%s\033[0m" % (self.COLORS[color], text)
        return text

    @staticmethod
    def printable(text, keep=""):
        """`text` with every character that is not printable (control characters: escape
        sequences, carriage returns, line breaks; Unicode separators and direction
        overrides) written as a Python escape (\\x1b, \\n, \\u202e), except those in
        `keep`: a value read from an artifact or a service cannot move the cursor or
        forge a line of streamt's own (an "OK ... signature verified")."""
        text = text if isinstance(text, str) else str(text)
        if text.isprintable():
            return text
        out = []
        for c in text:
            out.append(c if c.isprintable() or c in keep
                       else c.encode("unicode_escape").decode("ascii"))
        return "".join(out)

    def result(self, text="", color=None):
        """A line of the command's result, on stdout (secrets scrubbed, no control
        characters but line breaks and tabs: see printable)."""
        text = text if isinstance(text, str) else str(text)
        if self.scrub is not None:
            text = self.scrub(text)
        self.out.write(self._colored(self.out, Output.printable(text, "\n\t"), color) + "\n")

    def raw(self, text):
        """Text of the result (a JSON document) on stdout, as it is (scrubbed)."""
        self.out.write(text if self.scrub is None else self.scrub(text))

    def info(self, text="", color=None):
        """A line of progress or diagnostics, on stderr (as result)."""
        text = text if isinstance(text, str) else str(text)
        if self.scrub is not None:
            text = self.scrub(text)
        self.err.write(self._colored(self.err, Output.printable(text, "\n\t"), color) + "\n")

    def warn(self, text):
        self.info("warning: " + text, "yellow")

    def error(self, text):
        self.info("error: " + text, "red")


class CompileError(ProjectError):
    """The project cannot be compiled (validation reports most causes first)."""


###############################################################################
###############################################################################
##
## PART I -- what we wrote instead of a dependency
##
## Small libraries, each standing in for a package we may not install on a bastion
## (vendor-notes.md: what each replaces, its limits, how it is tested).  Each uses only
## the prelude and the errors, never Part II.
##
###############################################################################
###############################################################################


###############################################################################
# Canonical JSON ##############################################################
###############################################################################

__all__ += ["canonical_json", "CanonicalJson"]


def canonical_json(obj):
    """Canonical JSON text: sorted keys, UTF-8 (no escaping), 2-space indent, final newline."""
    # json.dumps(indent=...) runs the pure-Python encoder (the C one does not indent
    # before 3.14), the slowest part of writing an artifact; _json_emit writes the same
    # bytes for the shapes we produce (string keys, str/int/float/bool/None/list/tuple/
    # dict values) and hands anything else back to json.dumps, which then also raises
    # the usual errors. tests/test_canonical_json.py compares the two on random documents.
    out = []
    try:
        CanonicalJson.emit(obj, "\n", out, CanonicalJson.STRING_ENCODER or CanonicalJson.string_encoder())
    except (CanonicalJson.JsonFallback, RecursionError):
        return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False,
                          separators=(",", ": ")) + "\n"
    out.append("\n")
    return "".join(out)


class CanonicalJson(object):
    """The pieces of canonical_json(), for writers that stream JSON text themselves."""

    @staticmethod
    def string_encoder():
        """json's encode_basestring (the string encoder of ensure_ascii=False), taken from
        the C accelerator _json when there is one: importing the json package for it (its
        decoder and scanner too) costs 1-3 ms of a cold build.  json.encoder binds the very
        same function when _json is there.  Remembered in _JSON_STR (a function of the
        interpreter, the same for every call)."""
        try:
            from _json import encode_basestring as enc
        except ImportError:
            enc = json.encoder.encode_basestring
        CanonicalJson.STRING_ENCODER = enc
        return enc

    STRING_ENCODER = None

    class JsonFallback(Exception):
        """A value _json_emit does not write itself (canonical_json then uses json.dumps)."""

    @staticmethod
    def emit(o, nl, out, enc):
        # Same text as json.dumps(sort_keys=True, indent=2, ensure_ascii=False,
        # separators=(",", ": ")); ``nl`` is the newline plus the current indentation.
        #
        # Fast paths, for dicts with str keys, lists and tuples (the exact built-in types):
        # - when a container has more than 8 values and all are exact strs (the manifest's
        #   checksums, name lists), it is one join over C-level maps: no bytecode per item
        #   (for smaller ones setting up the maps costs more than the loop);
        # - otherwise str/int/bool/None members are written in the loop itself, and only
        #   containers recurse.
        # Everything else -- floats, subclasses of the built-in types, odd keys -- goes to
        # _json_emit_any, which tests with isinstance exactly as json's Python encoder does.
        t = type(o)
        if t is dict:
            if not o:
                out.append("{}")
                return
            for k in o:
                if type(k) is not str:
                    CanonicalJson.emit_any(o, nl, out, enc)
                    return
            inner = nl + "  "
            keys = sorted(o)
            if len(keys) > 8 and CanonicalJson.STRING_ONLY.issuperset(map(type, o.values())):
                out.append("{" + inner)
                out.append(("," + inner).join(map(
                    "%s: %s".__mod__, zip(map(enc, keys), map(enc, map(o.__getitem__, keys))))))
                out.append(nl + "}")
                return
            sep = "{" + inner
            for k in keys:
                out.append(sep)
                out.append(enc(k))
                v = o[k]
                t = type(v)
                if t is str:
                    out.append(": ")
                    out.append(enc(v))
                elif t is int:
                    out.append(": ")
                    out.append(int.__repr__(v))
                elif v is None:
                    out.append(": null")
                elif t is bool:
                    out.append(": true" if v else ": false")
                else:
                    out.append(": ")
                    CanonicalJson.emit(v, inner, out, enc)
                sep = "," + inner
            out.append(nl + "}")
        elif t is list or t is tuple:
            if not o:
                out.append("[]")
                return
            inner = nl + "  "
            if len(o) > 8 and CanonicalJson.STRING_ONLY.issuperset(map(type, o)):
                out.append("[" + inner)
                out.append(("," + inner).join(map(enc, o)))
                out.append(nl + "]")
                return
            sep = "[" + inner
            for v in o:
                out.append(sep)
                t = type(v)
                if t is str:
                    out.append(enc(v))
                elif t is int:
                    out.append(int.__repr__(v))
                elif v is None:
                    out.append("null")
                elif t is bool:
                    out.append("true" if v else "false")
                else:
                    CanonicalJson.emit(v, inner, out, enc)
                sep = "," + inner
            out.append(nl + "]")
        elif t is str:
            out.append(enc(o))
        else:
            CanonicalJson.emit_any(o, nl, out, enc)

    STRING_ONLY = frozenset([str])

    @staticmethod
    def emit_any(o, nl, out, enc):
        # The general case of _json_emit (any value; isinstance like json's encoder).
        if isinstance(o, str):
            out.append(enc(o))
        elif o is None:
            out.append("null")
        elif o is True:
            out.append("true")
        elif o is False:
            out.append("false")
        elif isinstance(o, int):
            out.append(int.__repr__(o))
        elif isinstance(o, float):
            if o != o or o in (float("inf"), float("-inf")):
                raise CanonicalJson.JsonFallback()
            out.append(float.__repr__(o))
        elif isinstance(o, dict):
            if not o:
                out.append("{}")
                return
            for k in o:
                if not isinstance(k, str):
                    raise CanonicalJson.JsonFallback()
            inner = nl + "  "
            sep = "{" + inner
            for k in sorted(o):
                out.append(sep)
                out.append(enc(k))
                out.append(": ")
                CanonicalJson.emit_any(o[k], inner, out, enc)
                sep = "," + inner
            out.append(nl + "}")
        elif isinstance(o, (list, tuple)):
            if not o:
                out.append("[]")
                return
            inner = nl + "  "
            sep = "[" + inner
            for v in o:
                out.append(sep)
                CanonicalJson.emit_any(v, inner, out, enc)
                sep = "," + inner
            out.append(nl + "]")
        else:
            raise CanonicalJson.JsonFallback()


###############################################################################
# YAML: full loader ###########################################################
###############################################################################

__all__ += ["YamlError", "YamlMap", "YamlSeq"]


class YamlError(ProjectError):
    """A YAML file cannot be read: says where (file:line:col) and shows the line."""


class YamlMap(dict):
    """A mapping read from YAML; equal to the plain dict, and knows where it was written.

    ``loc`` is the Location of the mapping, ``key_loc(key)`` the Location of one key
    (falls back to the mapping's own)."""

    _src = None
    _pos = None
    _kpos = None

    @property
    def loc(self):
        if self._src is None:
            return Location()
        return self._src.location(self._pos)

    def key_loc(self, key):
        pos = self._kpos.get(key) if self._kpos else None
        if pos is None or self._src is None:
            return self.loc
        return self._src.location(pos)


class YamlSeq(list):
    """A sequence read from YAML; equal to the plain list, and knows where it was written.

    ``loc`` is the Location of the sequence, ``item_loc(i)`` the Location of item i."""

    _src = None
    _pos = None
    _ipos = None

    @property
    def loc(self):
        if self._src is None:
            return Location()
        return self._src.location(self._pos)

    def item_loc(self, index):
        ipos = self._ipos
        if self._src is None or not ipos or not -len(ipos) <= index < len(ipos):
            return self.loc
        return self._src.location(ipos[index])


class _YamlSyntax(object):
    """Limits, token kinds and the character classes and patterns of the scanner."""

    # -- limits ---------------------------------------------------------------------

    MAX_DEPTH = 200             # nested collections; PyYAML itself dies near ~330

    MAX_EXPANSION = 1000000     # nodes reachable through aliases (billion laughs)

    MAX_KEY_SPAN = 1024         # YAML's limit on the length of an implicit key

    @staticmethod
    def decode(data, source_name):
        try:
            if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
                return data.decode("utf-16")
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise YamlError("the file is not valid UTF-8 or UTF-16 (byte %d)" % e.start,
                            location=Location(source_name),
                            hint="save the file as UTF-8")

    # The characters YAML 1.1 (and PyYAML) refuse: everything but tab, line feed, carriage
    # return, printable ASCII, NEL, and U+00A0-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF.  (Written
    # as the positive class of the refused characters -- the same set -- because the negated
    # class with its huge ranges costs ~10 ms to compile; tests/test_yaml_lines.py compares
    # the two over every code point.)
    NONPRINTABLE = _LazyRegex(
        u"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")

    NOT_ASCII = _LazyRegex(u"[^\t\n\r\x20-\x7e]")     # not printable ASCII

    # -- scanner --------------------------------------------------------------------
    #
    # Tokens are tuples (kind, index, value, style).  The rules below are PyYAML's
    # scanner's (itself following the YAML 1.1 spec), written over indexes.

    (T_STREAM_END, T_DIRECTIVE, T_DOC_START, T_DOC_END, T_BSEQ, T_BMAP, T_BEND,
     T_FSEQ, T_FSEQ_END, T_FMAP, T_FMAP_END, T_BENTRY, T_FENTRY, T_KEY, T_VALUE,
     T_ALIAS, T_ANCHOR, T_TAG, T_SCALAR) = range(19)

    TOKEN_NAMES = {
        T_STREAM_END: "the end of the file", T_DIRECTIVE: "a directive",
        T_DOC_START: "'---'", T_DOC_END: "'...'", T_BSEQ: "a block sequence",
        T_BMAP: "a block mapping", T_BEND: "the end of a block", T_FSEQ: "'['",
        T_FSEQ_END: "']'", T_FMAP: "'{'", T_FMAP_END: "'}'", T_BENTRY: "'-'",
        T_FENTRY: "','", T_KEY: "a key", T_VALUE: "':'", T_ALIAS: "an alias",
        T_ANCHOR: "an anchor", T_TAG: "a tag", T_SCALAR: "a scalar"}

    WS_END = u"\0 \t\n\u2028\u2029"          # what may follow '-', '?', ':', '---'

    BREAKS = u"\n\u2028\u2029"

    PLAIN_BLOCK = _LazyRegex(
        u"[^\0 \t\n\u2028\u2029:]*(?::(?![\0 \t\n\u2028\u2029])[^\0 \t\n\u2028\u2029:]*)*")

    PLAIN_FLOW = _LazyRegex(
        u"[^\0 \t\n\u2028\u2029:,?\\[\\]{}]*"
    u"(?::(?![\0 \t\n\u2028\u2029,\\[\\]{}])[^\0 \t\n\u2028\u2029:,?\\[\\]{}]*)*")

    NOT_PLAIN_START = u"\0 \t\n\u2028\u2029-?:,[]{}#&*!|>'\"%@`"

    # The runs of a one-line plain scalar in block context: _Y_PLAIN_BLOCK runs separated by
    # spaces, where a run after spaces must not be empty nor start with '#' (' #' starts a
    # comment); group 1 is the scalar, then comes what _Y_PLAIN_GAP matches after it.  (The
    # runs are written as _Y_PLAIN_BLOCK is, a character class repeated, rather than as
    # "(one allowed character)+", which the re module runs several times slower.)  See
    # _YamlScanner.plain for how it is used.
    RUN_BLOCK = u"[^\0 \t\n\u2028\u2029:]*(?::(?![\0 \t\n\u2028\u2029])[^\0 \t\n\u2028\u2029:]*)*"

    PLAIN_LINE = _LazyRegex(
        u"(" + RUN_BLOCK +
        u"(?: +(?=[^\0 \t\n\u2028\u2029:#]|:[^\0 \t\n\u2028\u2029])" + RUN_BLOCK + u")*)"
    u" *(?:[\n\u2028\u2029][ \n\u2028\u2029]*)?")

    # The same in flow context, with _Y_PLAIN_FLOW's runs, and the spaces after it.
    RUN_FLOW = (u"[^\0 \t\n\u2028\u2029:,?\\[\\]{}]*"
               u"(?::(?![\0 \t\n\u2028\u2029,\\[\\]{}])[^\0 \t\n\u2028\u2029:,?\\[\\]{}]*)*")

    PLAIN_FLOW_LINE = _LazyRegex(
        u"(" + RUN_FLOW +
        u"(?: +(?=[^\0 \t\n\u2028\u2029:,?\\[\\]{}#]|:[^\0 \t\n\u2028\u2029,\\[\\]{}])"
        + RUN_FLOW + u")*) *")

    # `key: value` in block context: group 1 a one-run plain key (as _Y_PLAIN_BLOCK matches
    # it) followed by ':' and a space or break; then, if ': ' is followed by a character a
    # plain scalar may start with (not in _Y_NOT_PLAIN_START), group 2 the value as in
    # _Y_PLAIN_LINE, and the gap after it; or else group 3, spaces, a line break and the
    # spaces and blank lines after it (what _Y_SKIP takes there).  (Backtracking cannot end group 1 early: inside a
    # run, ':' is never followed by a space or break.)
    KEY_LINE = _LazyRegex(
        u"([^\0 \t\n\u2028\u2029:]*(?::(?![\0 \t\n\u2028\u2029])[^\0 \t\n\u2028\u2029:]*)*)"
    u":(?=[\0 \t\n\u2028\u2029])"
    u"(?: (?=[^\0 \t\n\u2028\u2029\\-?:,\\[\\]{}#&*!|>'\"%@`])" + PLAIN_LINE.pattern +
        u"|( *\n[ \n]*))?")

    SPACES = _LazyRegex(" *")

    PLAIN_GAP = _LazyRegex(u" *(?:[\n\u2028\u2029][ \n\u2028\u2029]*)?")

    SKIP_START = u" #\n\u2028\u2029"      # what _Y_SKIP can match a first character of

    SKIP = _LazyRegex(u"(?: *(?:#[^\0\n\u2028\u2029]*)?[\n\u2028\u2029])*"
                     u" *(?:#[^\0\n\u2028\u2029]*)?")

    ANCHOR_NAME = _LazyRegex("[0-9A-Za-z_-]+")

    URI = _LazyRegex(r"[0-9A-Za-z\-;/?:@&=+$,_.!~*'()\[\]%]+")

    SINGLE_RUN = _LazyRegex(u"[^'\0 \t\n\u2028\u2029]*")

    DOUBLE_RUN = _LazyRegex(u"[^\"\\\\\0 \t\n\u2028\u2029]*")

    HEX = _LazyRegex("[0-9A-Fa-f]*")

    ESCAPES = {
        "0": "\0", "a": "\x07", "b": "\x08", "t": "\t", "\t": "\t", "n": "\n", "v": "\x0b",
        "f": "\x0c", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "\\": "\\", "/": "/",
        "N": u"\x85", "_": u"\xa0", "L": u"\u2028", "P": u"\u2029"}

    ESCAPE_HEX = {"x": 2, "u": 4, "U": 8}

    TAB_HINT = ("YAML does not allow tabs for indentation or between items; "
               "use spaces")

    @staticmethod
    def first_break(s, start, end):
        found = [k for k in (s.find("\n", start, end), s.find(u"\u2028", start, end),
                             s.find(u"\u2029", start, end)) if k >= 0]
        return min(found) if found else -1


# -- source text and locations --------------------------------------------------

class _YamlSource(object):
    """The (line-break normalised) text of a source; turns indexes into Locations."""

    def __init__(self, name, text):
        self.name = name
        self.text = text
        self._starts = None

    def _line_starts(self):
        if self._starts is None:
            starts = [0]
            find = self.text.find
            i = find("\n")
            while i >= 0:
                starts.append(i + 1)
                i = find("\n", i + 1)
            self._starts = starts
        return self._starts

    def line_col(self, pos):
        import bisect
        starts = self._line_starts()
        n = bisect.bisect_right(starts, pos) - 1
        return n + 1, pos - starts[n] + 1

    def location(self, pos):
        if pos is None:
            return Location(self.name)
        line, col = self.line_col(pos)
        return Location(self.name, line, col)

    def error(self, message, pos, hint=None):
        """A YamlError at index ``pos`` showing the offending line and a caret."""
        line, col = self.line_col(pos)
        text = self.text
        start = text.rfind("\n", 0, pos) + 1 if pos > 0 else 0
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        shown = text[start:end].rstrip("\0")
        if len(shown) > 200:      # long lines: show a window around the column
            lo = max(0, col - 100)
            shown, col = shown[lo:lo + 200], col - lo
        caret = "".join("\t" if c == "\t" else " " for c in shown[:col - 1]) + "^"
        return YamlError(message, hint=hint, location=Location(self.name, line, col),
                         details=[shown, caret])


class _YamlScanner(object):

    # The fast paths (marked "Fast path") make exactly the tokens and the end state of
    # the general rules they shortcut (FastPaths.yaml_scanner).

    def __init__(self, text, src):
        self.s = text + "\0"
        self.src = src
        self.i = 0
        self.ls = 0              # index where the current line starts: column = i - ls
        self.flow = 0            # depth of [ ] and { }
        self.indent = -1         # current block indentation column
        self.indents = []
        self.allow_key = True    # may a simple key start here?
        self.keys = {}           # flow level -> (token number, required, index, ls, column)
        self.toks = []
        self.ubrk = u"\u2028" in text or u"\u2029" in text

    def fail(self, message, pos=None, hint=None):
        return self.src.error(message, self.i if pos is None else pos, hint)

    # -- main loop

    def scan(self):
        s = self.s
        toks = self.toks
        append = toks.append
        if s[0] == u"\ufeff":
            self.i = self.ls = 1
        plain_start = _YamlSyntax.NOT_PLAIN_START
        run_block = _YamlSyntax.PLAIN_BLOCK.match
        ws_end = _YamlSyntax.WS_END
        fast = FastPaths.yaml_scanner
        key_line = _YamlSyntax.KEY_LINE.match
        ubrk = self.ubrk
        skip_start = _YamlSyntax.SKIP_START if fast else None
        while True:
            # (fast path: _Y_SKIP matches nothing unless it starts at one of these, and
            # only the one space when a single space is followed by none of them)
            if skip_start is None:
                self.skip_to_token()
            elif s[self.i] in skip_start:
                if s[self.i] == " " and s[self.i + 1] not in skip_start:
                    self.i += 1
                else:
                    self.skip_to_token()
            if self.keys:
                self.stale_keys()
            i = self.i
            col = i - self.ls
            if not self.flow and self.indent > col:
                self.unwind(col)
            ch = s[i]
            if ch not in plain_start and not (
                    ch == "." and col == 0 and s.startswith("...", i) and s[i + 3] in ws_end):
                if fast and not self.flow and self.allow_key and not self.keys:
                    # Fast path for the most common line shape, `key: ...`: a one-run plain
                    # key followed by ': '.  It makes exactly the tokens the general path
                    # (save_key, plain, value) would make, without the bookkeeping.
                    m = key_line(s, i)
                    e = m.end(1) if m is not None else i
                    if e != i and e - i <= _YamlSyntax.MAX_KEY_SPAN:
                        if self.indent < col:
                            self.add_indent(col)
                            append((_YamlSyntax.T_BMAP, i, None, None))
                        append((_YamlSyntax.T_KEY, i, None, None))
                        append((_YamlSyntax.T_SCALAR, i, s[i:e], None))
                        append((_YamlSyntax.T_VALUE, e, None, None))
                        self.allow_key = False
                        self.i = e + 1
                        v = m.start(2)
                        if v < 0:
                            g = m.end(3)
                            if g > 0 and not ubrk:
                                # `key:` and a line break: skip_to_token's work up to the
                                # next line's first token, or to a comment it goes on from
                                self.i = g
                                self.ls = s.rfind("\n", e, g) + 1
                                self.allow_key = True
                            continue
                        # `key: value`, the value a plain scalar (group 2 matches exactly
                        # when the next round would call plain() at e + 2: the space is
                        # all skip_to_token skips, no key is pending, the column is past
                        # the indentation and allow_key is off).  The end test is the one
                        # of plain()'s own fast path, with the indentation just set.
                        if not ubrk:
                            ev = m.end(2)
                            g = m.end()
                            b = s.find("\n", ev, g)
                            if b < 0:
                                append((_YamlSyntax.T_SCALAR, v, s[v:ev], None))
                                self.i = g
                                continue
                            ls = s.rfind("\n", b, g) + 1
                            if (s[g] == "#" or g - ls <= self.indent or run_block(s, g).end() == g
                                    or (g == ls and (s.startswith("---", g)
                                                     or s.startswith("...", g))
                                        and s[g + 3] in ws_end)):
                                append((_YamlSyntax.T_SCALAR, v, s[v:ev], None))
                                self.i = g
                                self.ls = ls
                                self.allow_key = True
                                continue
                        self.i = v
                        self.plain()
                        continue
                self.plain()
                continue
            if ch == "\0":
                if not self.flow:
                    self.unwind(-1)
                self.remove_key()
                self.allow_key = False
                self.keys = {}
                append((_YamlSyntax.T_STREAM_END, i, None, None))
                return toks
            nxt = s[i + 1]
            if ch == "-" and nxt in ws_end:
                if col == 0 and s.startswith("---", i) and s[i + 3] in ws_end:
                    self.doc_marker(_YamlSyntax.T_DOC_START)
                else:
                    self.block_entry()
            elif ch == ":" and (self.flow or nxt in ws_end):
                self.value()
            elif ch == "-" and col == 0 and s.startswith("---", i) and s[i + 3] in ws_end:
                self.doc_marker(_YamlSyntax.T_DOC_START)
            elif ch == "." and col == 0 and s.startswith("...", i) and s[i + 3] in ws_end:
                self.doc_marker(_YamlSyntax.T_DOC_END)
            elif ch in "[{":
                self.save_key()
                self.flow += 1
                if self.flow > _YamlSyntax.MAX_DEPTH:
                    raise self.too_deep()
                self.allow_key = True
                append((_YamlSyntax.T_FSEQ if ch == "[" else _YamlSyntax.T_FMAP, i, None, None))
                self.i = i + 1
            elif ch in "]}":
                self.remove_key()
                if not self.flow:
                    raise self.fail("found %r without a matching opening bracket" % ch)
                self.flow -= 1
                self.allow_key = False
                append((_YamlSyntax.T_FSEQ_END if ch == "]" else _YamlSyntax.T_FMAP_END, i, None, None))
                self.i = i + 1
            elif ch == ",":
                self.allow_key = True
                self.remove_key()
                append((_YamlSyntax.T_FENTRY, i, None, None))
                self.i = i + 1
            elif ch == "?" and (self.flow or nxt in ws_end):
                if not self.flow:
                    if not self.allow_key:
                        raise self.fail("mapping keys are not allowed here")
                    if self.add_indent(col):
                        append((_YamlSyntax.T_BMAP, i, None, None))
                self.allow_key = not self.flow
                self.remove_key()
                append((_YamlSyntax.T_KEY, i, None, None))
                self.i = i + 1
            elif ch == "*" or ch == "&":
                self.save_key()
                self.allow_key = False
                self.anchor(ch)
            elif ch == "!":
                self.save_key()
                self.allow_key = False
                self.tag()
            elif (ch == "|" or ch == ">") and not self.flow:
                self.allow_key = True
                self.remove_key()
                self.block_scalar(ch)
            elif ch == "'" or ch == '"':
                self.save_key()
                self.allow_key = False
                self.quoted(ch)
            elif ch == "%" and col == 0:
                if not self.flow:
                    self.unwind(-1)
                self.remove_key()
                self.allow_key = False
                self.directive()
            elif nxt not in ws_end and (ch == "-" or (not self.flow and ch in "?:")):
                self.plain()
            elif ch == "\t":
                raise self.fail("found a tab character where a token should start",
                                hint=_YamlSyntax.TAB_HINT)
            else:
                raise self.fail("found character %r that cannot start any token" % ch,
                                hint="quote the value if it should be text")

    def skip_to_token(self):
        s = self.s
        i = self.i
        e = _YamlSyntax.SKIP.match(s, i).end()
        if e != i:
            if self.ubrk:
                last = max(s.rfind("\n", i, e), s.rfind(u"\u2028", i, e),
                           s.rfind(u"\u2029", i, e))
            else:
                last = s.rfind("\n", i, e)
            if last >= 0:
                self.ls = last + 1
                if not self.flow:
                    self.allow_key = True
            self.i = e

    # -- simple keys and indentation

    def stale_keys(self):
        for level, key in list(self.keys.items()):
            if key[3] != self.ls or self.i - key[2] > _YamlSyntax.MAX_KEY_SPAN:
                if key[1]:
                    raise self.fail("could not find the ':' expected after this key",
                                    key[2], hint="a key and its ':' must be on one line")
                del self.keys[level]

    def save_key(self):
        if self.allow_key:
            col = self.i - self.ls
            required = not self.flow and self.indent == col
            self.remove_key()
            self.keys[self.flow] = (len(self.toks), required, self.i, self.ls, col)

    def remove_key(self):
        key = self.keys.pop(self.flow, None)
        if key is not None and key[1]:
            raise self.fail("could not find the ':' expected after this key", key[2],
                            hint="a key and its ':' must be on one line")

    def unwind(self, col):
        append = self.toks.append
        while self.indent > col:
            self.indent = self.indents.pop()
            append((_YamlSyntax.T_BEND, self.i, None, None))

    def add_indent(self, col):
        if self.indent < col:
            self.indents.append(self.indent)
            self.indent = col
            if len(self.indents) > _YamlSyntax.MAX_DEPTH:
                raise self.too_deep()
            return True
        return False

    def too_deep(self):
        # Checked here, not only in the parser: the simple-key bookkeeping is per
        # nesting level, so thousands of levels would make scanning quadratic.
        return self.fail("collections are nested more than %d levels deep" % _YamlSyntax.MAX_DEPTH)

    # -- indicators

    def doc_marker(self, kind):
        self.unwind(-1)
        self.remove_key()
        self.allow_key = False
        self.toks.append((kind, self.i, None, None))
        self.i += 3

    def block_entry(self):
        i = self.i
        if not self.flow:
            if not self.allow_key:
                raise self.fail("sequence entries are not allowed here",
                                hint="a '- ' item must start its own line")
            if self.add_indent(i - self.ls):
                self.toks.append((_YamlSyntax.T_BSEQ, i, None, None))
        self.allow_key = True
        self.remove_key()
        self.toks.append((_YamlSyntax.T_BENTRY, i, None, None))
        self.i = i + 1

    def value(self):
        i = self.i
        toks = self.toks
        key = self.keys.pop(self.flow, None)
        if key is not None:
            toks.insert(key[0], (_YamlSyntax.T_KEY, key[2], None, None))
            if not self.flow and self.add_indent(key[4]):
                toks.insert(key[0], (_YamlSyntax.T_BMAP, key[2], None, None))
            self.allow_key = False
        else:
            if not self.flow:
                if not self.allow_key:
                    raise self.fail("mapping values are not allowed here",
                                    hint="quote the value if it contains ': '")
                if self.add_indent(i - self.ls):
                    toks.append((_YamlSyntax.T_BMAP, i, None, None))
            self.allow_key = not self.flow
        toks.append((_YamlSyntax.T_VALUE, i, None, None))
        self.i = i + 1

    def anchor(self, ch):
        s = self.s
        start = self.i
        what = "an alias" if ch == "*" else "an anchor"
        m = _YamlSyntax.ANCHOR_NAME.match(s, start + 1)
        if not m:
            raise self.fail("expected the name of %s after %r" % (what, ch), start + 1)
        e = m.end()
        if s[e] not in u"\0 \t\n\u2028\u2029?:,]}%@`":
            raise self.fail("unexpected character %r in the name of %s" % (s[e], what), e)
        self.toks.append((_YamlSyntax.T_ALIAS if ch == "*" else _YamlSyntax.T_ANCHOR, start, m.group(), None))
        self.i = e

    def tag(self):
        s = self.s
        start = self.i
        ch = s[start + 1]
        if ch == "<":
            self.i = start + 2
            handle, suffix = None, self.tag_uri()
            if s[self.i] != ">":
                raise self.fail("expected '>' to close the tag")
            self.i += 1
        elif ch in _YamlSyntax.WS_END:
            handle, suffix = None, "!"
            self.i = start + 1
        else:
            j = start + 1
            while s[j] not in u"\0 \n\u2028\u2029" and s[j] != "!":
                j += 1
            if s[j] == "!":
                m = _YamlSyntax.ANCHOR_NAME.match(s, start + 1)
                e = m.end() if m else start + 1
                if s[e] != "!":
                    raise self.fail("expected '!' to end the tag handle", e)
                handle = s[start:e + 1]
                self.i = e + 1
            else:
                handle = "!"
                self.i = start + 1
            suffix = self.tag_uri()
        if s[self.i] not in u"\0 \n\u2028\u2029":
            raise self.fail("expected a space after the tag, but found %r" % s[self.i])
        self.toks.append((_YamlSyntax.T_TAG, start, (handle, suffix), None))

    def tag_uri(self):
        m = _YamlSyntax.URI.match(self.s, self.i)
        if not m:
            raise self.fail("expected a tag (URI characters), but found %r" % self.s[self.i])
        text = m.group()
        self.i = m.end()
        if "%" in text:
            out = bytearray()
            k = 0
            while k < len(text):
                if text[k] == "%":
                    try:
                        out.append(int(text[k + 1:k + 3], 16))
                    except ValueError:
                        raise self.fail("bad %-escape in a tag")
                    if not re.match("[0-9A-Fa-f]{2}$", text[k + 1:k + 3]):
                        raise self.fail("bad %-escape in a tag")
                    k += 3
                else:
                    out.extend(text[k].encode("ascii"))
                    k += 1
            try:
                text = out.decode("utf-8")
            except UnicodeDecodeError:
                raise self.fail("a %-escape in a tag is not UTF-8")
        return text

    def directive(self):
        s = self.s
        start = self.i
        m = _YamlSyntax.ANCHOR_NAME.match(s, start + 1)
        if not m or s[m.end()] not in u"\0 \n\u2028\u2029":
            raise self.fail("expected a directive name after '%'", start + 1)
        name = m.group()
        self.i = m.end()
        value = None
        if name == "YAML":
            m = re.compile("( *)([0-9]+)\\.([0-9]+)").match(s, self.i)
            if not m or s[m.end()] not in u"\0 \n\u2028\u2029":
                raise self.fail("expected a version like '%YAML 1.1'")
            value = (int(m.group(2)), int(m.group(3)))
            self.i = m.end()
        elif name == "TAG":
            self.i = _YamlSyntax.SPACES.match(s, self.i).end()
            m = re.compile("!(?:[0-9A-Za-z_-]*!)?").match(s, self.i)
            if not m or s[m.end()] != " ":
                raise self.fail("expected a tag handle like '!e!' followed by a space")
            handle = m.group()
            self.i = _YamlSyntax.SPACES.match(s, m.end()).end()
            prefix = self.tag_uri()
            if s[self.i] not in u"\0 \n\u2028\u2029":
                raise self.fail("expected a space or the end of the line")
            value = (handle, prefix)
        else:
            while s[self.i] not in u"\0\n\u2028\u2029":
                self.i += 1
        # the rest of the line may hold spaces and a comment only
        i = _YamlSyntax.SPACES.match(s, self.i).end()
        if s[i] == "#":
            while s[i] not in u"\0\n\u2028\u2029":
                i += 1
        if s[i] not in u"\0\n\u2028\u2029":
            raise self.fail("expected a comment or the end of the line", i)
        if s[i] != "\0":
            i += 1
            self.ls = i
        self.i = i
        self.toks.append((_YamlSyntax.T_DIRECTIVE, start, (name, value), None))

    # -- scalars

    def plain(self):
        s = self.s
        self.save_key()
        self.allow_key = False
        start = i = self.i
        flow = self.flow
        rx = _YamlSyntax.PLAIN_FLOW if flow else _YamlSyntax.PLAIN_BLOCK
        indent = self.indent + 1
        if not flow and not self.ubrk and FastPaths.yaml_scanner:
            # Fast path for the common one-line scalar of block context: one regular
            # expression takes all its runs, and the loop below is only needed if the
            # scalar goes on on the next line.  The end state is the loop's: the loop
            # stops after the last run where the gap after it (spaces, perhaps a
            # line break and blank lines) is followed by '#', by nothing a run can
            # start with, by a less indented line or by a document marker.
            m = _YamlSyntax.PLAIN_LINE.match(s, i)
            if m.end(1) != i:       # (never empty where plain() is called; to be safe)
                e = m.end(1)
                g = m.end()
                b = s.find("\n", e, g)
                ends = True
                if b >= 0:
                    ls = s.rfind("\n", b, g) + 1
                    ends = (s[g] == "#" or g - ls < indent or rx.match(s, g).end() == g
                            or (g == ls and (s.startswith("---", g) or s.startswith("...", g))
                                and s[g + 3] in _YamlSyntax.WS_END))
                    if ends:
                        self.ls = ls
                        self.allow_key = True
                if ends:
                    self.i = g
                    self.toks.append((_YamlSyntax.T_SCALAR, start, s[start:e], None))
                    return
        elif FastPaths.yaml_scanner and not self.ubrk:
            # Fast path for a one-line scalar in a flow collection: there the indentation
            # does not count, so the loop below stops after the last run unless the gap
            # after it holds a line break (then the scalar may go on: the loop decides).
            m = _YamlSyntax.PLAIN_FLOW_LINE.match(s, i)
            if m.end(1) != i and s[m.end()] != "\n":
                self.i = m.end()
                self.toks.append((_YamlSyntax.T_SCALAR, start, m.group(1), None))
                return
        chunks = []
        spaces = None
        gap = _YamlSyntax.PLAIN_GAP.match
        ubrk = self.ubrk
        while True:
            if s[i] == "#":
                break
            e = rx.match(s, i).end()
            if e == i:
                break
            self.allow_key = False
            if spaces:
                chunks.extend(spaces)
            chunks.append(s[i:e])
            # the spaces (and line breaks, and blank lines) after this run
            i = gap(s, e).end()
            if i == e:
                break
            b = s.find("\n", e, i) if not ubrk else _YamlSyntax.first_break(s, e, i)
            if b < 0:
                spaces = [s[e:i]]
            else:
                self.allow_key = True
                line_break = s[b]
                if ubrk:
                    breaks = [c for c in s[b + 1:i] if c != " "]
                    self.ls = max(s.rfind("\n", b, i), s.rfind(u"\u2028", b, i),
                                  s.rfind(u"\u2029", b, i)) + 1
                else:
                    breaks = ["\n"] * s.count("\n", b + 1, i)
                    self.ls = s.rfind("\n", b, i) + 1
                if (i == self.ls and (s.startswith("---", i) or s.startswith("...", i))
                        and s[i + 3] in _YamlSyntax.WS_END):
                    break       # a document marker ends the scalar
                if line_break != "\n":
                    spaces = [line_break]
                elif not breaks:
                    spaces = [" "]
                else:
                    spaces = []
                spaces.extend(breaks)
            if s[i] == "#" or (not flow and i - self.ls < indent):
                break
        self.i = i
        value = chunks[0] if len(chunks) == 1 else "".join(chunks)
        self.toks.append((_YamlSyntax.T_SCALAR, start, value, None))

    def quoted(self, quote):
        s = self.s
        start = i = self.i + 1
        double = quote == '"'
        run = _YamlSyntax.DOUBLE_RUN if double else _YamlSyntax.SINGLE_RUN
        chunks = []
        while True:
            # non-spaces
            while True:
                e = run.match(s, i).end()
                if e != i:
                    chunks.append(s[i:e])
                    i = e
                ch = s[i]
                if not double and ch == "'" and s[i + 1] == "'":
                    chunks.append("'")
                    i += 2
                elif double and ch == "\\":
                    i += 1
                    ch = s[i]
                    if ch in _YamlSyntax.ESCAPES:
                        chunks.append(_YamlSyntax.ESCAPES[ch])
                        i += 1
                    elif ch in _YamlSyntax.ESCAPE_HEX:
                        n = _YamlSyntax.ESCAPE_HEX[ch]
                        digits = s[i + 1:i + 1 + n]
                        if len(_YamlSyntax.HEX.match(digits).group()) != n:
                            raise self.fail("expected an escape of %d hexadecimal digits "
                                            "after '\\%s'" % (n, ch), i + 1)
                        code = int(digits, 16)
                        if code > 0x10FFFF:
                            raise self.fail("escape '\\%s%s' is beyond Unicode" % (ch, digits), i)
                        chunks.append(chr(code))
                        i += 1 + n
                    elif ch in _YamlSyntax.BREAKS:
                        i += 1
                        self.ls = i
                        i = self.quoted_breaks(i, chunks, start)
                    else:
                        raise self.fail("unknown escape character %r in a double-quoted "
                                        "string" % ch, i,
                                        hint="write a backslash as '\\\\'")
                else:
                    break
            if s[i] == quote:
                break
            # spaces and line breaks
            j = i
            while s[j] == " " or s[j] == "\t":
                j += 1
            ch = s[j]
            if ch == "\0":
                raise self.fail("this quoted string is not closed before the end of the "
                                "file", start - 1)
            if ch in _YamlSyntax.BREAKS:
                i = j + 1
                self.ls = i
                breaks = []
                i = self.quoted_breaks(i, breaks, start)
                if ch != "\n":
                    chunks.append(ch)
                elif not breaks:
                    chunks.append(" ")
                chunks.extend(breaks)
            else:
                chunks.append(s[i:j])
                i = j
        self.i = i + 1
        self.toks.append((_YamlSyntax.T_SCALAR, start - 1, "".join(chunks), quote))

    def quoted_breaks(self, i, chunks, start):
        s = self.s
        while True:
            if (s.startswith("---", i) or s.startswith("...", i)) and s[i + 3] in _YamlSyntax.WS_END:
                raise self.fail("found a document separator inside a quoted string "
                                "(started at line %d)" % self.src.line_col(start)[0], i)
            while s[i] == " " or s[i] == "\t":
                i += 1
            ch = s[i]
            if ch in _YamlSyntax.BREAKS:
                chunks.append(ch)
                i += 1
                self.ls = i
            else:
                return i

    def block_scalar(self, style):
        s = self.s
        start = self.i
        i = start + 1
        folded = style == ">"
        chomping = increment = None
        ch = s[i]
        if ch in "+-":
            chomping = ch == "+"
            i += 1
            ch = s[i]
            if ch in "0123456789":
                increment = int(ch)
                i += 1
        elif ch in "0123456789":
            increment = int(ch)
            i += 1
            ch = s[i]
            if ch in "+-":
                chomping = ch == "+"
                i += 1
        if increment == 0:
            raise self.fail("the indentation indicator of a block scalar must be 1-9, "
                            "not 0", i - 1)
        if s[i] not in u"\0 \n\u2028\u2029":
            raise self.fail("expected a chomping (+ -) or indentation (1-9) indicator, "
                            "but found %r" % s[i], i,
                            hint=_YamlSyntax.TAB_HINT if s[i] == "\t" else None)
        while s[i] == " ":
            i += 1
        if s[i] == "#":
            while s[i] not in u"\0\n\u2028\u2029":
                i += 1
        if s[i] not in u"\0\n\u2028\u2029":
            raise self.fail("expected a comment or a line break after the block scalar "
                            "header, but found %r" % s[i], i)
        ls = self.ls
        if s[i] != "\0":
            i += 1
            ls = i
        min_indent = max(self.indent + 1, 1)
        breaks = []
        if increment is None:
            max_indent = 0
            while True:
                ch = s[i]
                if ch == " ":
                    i += 1
                    if i - ls > max_indent:
                        max_indent = i - ls
                elif ch in _YamlSyntax.BREAKS:
                    breaks.append(ch)
                    i += 1
                    ls = i
                else:
                    break
            indent = max(min_indent, max_indent)
        else:
            indent = min_indent + increment - 1
            i, ls = self._block_breaks(i, ls, indent, breaks)
        chunks = []
        line_break = ""
        ubrk = self.ubrk
        while i - ls == indent and s[i] != "\0":
            chunks.extend(breaks)
            leading_non_space = s[i] not in " \t"
            if ubrk:
                e = re.compile(u"[\0\n\u2028\u2029]").search(s, i).start()
            else:
                e = s.find("\n", i)
                if e < 0:
                    e = len(s) - 1
            chunks.append(s[i:e])
            i = e
            ch = s[i]
            if ch == "\0":
                line_break = ""
            else:
                line_break = ch
                i += 1
                ls = i
            breaks = []
            i, ls = self._block_breaks(i, ls, indent, breaks)
            if i - ls == indent and s[i] != "\0":
                if folded and line_break == "\n" and leading_non_space and s[i] not in " \t":
                    if not breaks:
                        chunks.append(" ")
                else:
                    chunks.append(line_break)
            else:
                break
        if chomping is not False:
            chunks.append(line_break)
        if chomping is True:
            chunks.extend(breaks)
        self.i = i
        self.ls = ls
        self.toks.append((_YamlSyntax.T_SCALAR, start, "".join(chunks), style))

    def _block_breaks(self, i, ls, indent, breaks):
        s = self.s
        while i - ls < indent and s[i] == " ":
            i += 1
        while s[i] in _YamlSyntax.BREAKS and s[i] != "\0":
            breaks.append(s[i])
            i += 1
            ls = i
            while i - ls < indent and s[i] == " ":
                i += 1
        return i, ls


class _YamlScalars(object):
    """The YAML 1.1 resolver of PyYAML's SafeLoader: plain scalars to bool/int/float/null/timestamps, and the tags it constructs."""

    # -- parser and constructor ------------------------------------------------------

    MERGE = object()     # the plain key '<<'

    VALUE = object()     # the plain scalar '=' (PyYAML: a str as a key, an error elsewhere)

    BOOL = {"yes": True, "Yes": True, "YES": True, "no": False, "No": False, "NO": False,
               "true": True, "True": True, "TRUE": True, "false": False, "False": False,
               "FALSE": False, "on": True, "On": True, "ON": True, "off": False, "Off": False,
               "OFF": False}

    NULL = ("~", "null", "Null", "NULL", "")

    FLOAT = _LazyRegex(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?"
    r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*"
    r"|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN))$")

    INT = _LazyRegex(
        r"^(?:[-+]?0b[0-1_]+"
    r"|[-+]?0[0-7_]+"
    r"|[-+]?(?:0|[1-9][0-9_]*)"
    r"|[-+]?0x[0-9a-fA-F_]+"
    r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$")

    TIMESTAMP_IMPLICIT = _LazyRegex(
        r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
    r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?"
    r"(?:[Tt]|[ \t]+)[0-9][0-9]?"
    r":[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?"
    r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$")

    TIMESTAMP = _LazyRegex(
        r"^([0-9][0-9][0-9][0-9])-([0-9][0-9]?)-([0-9][0-9]?)"
    r"(?:(?:[Tt]|[ \t]+)([0-9][0-9]?):([0-9][0-9]):([0-9][0-9])"
    r"(?:\.([0-9]*))?"
    r"(?:[ \t]*(Z|([-+])([0-9][0-9]?)(?::([0-9][0-9]))?))?)?$")

    INF = float("inf")

    NAN = INF - INF    # one NaN object, as PyYAML (so that .nan keys collide alike)

    YAML_TAG = "tag:yaml.org,2002:"

    def int(text):
        value = text.replace("_", "")
        sign = 1
        if value[0] == "-":
            sign = -1
        if value[0] in "+-":
            value = value[1:]
        if value == "0":
            return 0
        if value.startswith("0b"):
            return sign * int(value[2:], 2)
        if value.startswith("0x"):
            return sign * int(value[2:], 16)
        if value[0] == "0":
            return sign * int(value, 8)
        if ":" in value:
            total = 0
            base = 1
            for part in reversed(value.split(":")):
                total += int(part) * base
                base *= 60
            return sign * total
        return sign * int(value)

    def float(text):
        value = text.replace("_", "").lower()
        sign = 1
        if value[0] == "-":
            sign = -1
        if value[0] in "+-":
            value = value[1:]
        if value == ".inf":
            return sign * _YamlScalars.INF
        if value == ".nan":
            return _YamlScalars.NAN
        if ":" in value:
            total = 0.0
            base = 1
            for part in reversed(value.split(":")):
                total += float(part) * base
                base *= 60
            return sign * total
        return sign * float(value)

    def timestamp(text):
        m = _YamlScalars.TIMESTAMP.match(text)
        if m is None:
            raise ValueError("not a timestamp")
        year, month, day, hour, minute, second, fraction, tz, sign, tzh, tzm = m.groups()
        if not hour:
            return datetime.date(int(year), int(month), int(day))
        micro = 0
        if fraction:
            micro = int(fraction[:6].ljust(6, "0"))
        tzinfo = None
        if sign:
            delta = datetime.timedelta(hours=int(tzh), minutes=int(tzm or 0))
            if sign == "-":
                delta = -delta
            tzinfo = datetime.timezone(delta)
        elif tz:
            tzinfo = datetime.timezone.utc
        return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute),
                                 int(second), micro, tzinfo=tzinfo)

    class BadScalar(Exception):
        """A plain scalar looks like a number or a date but is not one (e.g. 2024-13-01)."""

    @staticmethod
    def resolve_tagged(text):
        """The value of a plain scalar under PyYAML's (YAML 1.1) implicit resolvers."""
        try:
            return _YamlScalars.resolve_plain(text)
        except (ValueError, OverflowError) as e:
            raise _YamlScalars.BadScalar(str(e))

    # The first characters after which _yaml_resolve_plain may give something else than the
    # text itself: a plain scalar that is not empty and starts otherwise is a string as it is
    # (the parser skips the call for those).
    RESOLVE_START = "yYnNtTfFoO0123456789-+.~<="

    @staticmethod
    def resolve_plain(text):
        if not text:
            return None
        c = text[0]
        if c in "yYnNtTfFoO":
            value = _YamlScalars.BOOL.get(text)
            if value is not None:
                return value
            if text in _YamlScalars.NULL:
                return None
            return text
        if c in "0123456789":
            if _YamlScalars.FLOAT.match(text):
                return _YamlScalars.float(text)
            if _YamlScalars.INT.match(text):
                return _YamlScalars.int(text)
            if _YamlScalars.TIMESTAMP_IMPLICIT.match(text):
                return _YamlScalars.timestamp(text)
            return text
        if c in "-+.":
            if _YamlScalars.FLOAT.match(text):
                return _YamlScalars.float(text)
            if c != "." and _YamlScalars.INT.match(text):
                return _YamlScalars.int(text)
            return text
        if c == "~" and text == "~":
            return None
        if c == "<" and text == "<<":
            return _YamlScalars.MERGE
        if c == "=" and text == "=":
            return _YamlScalars.VALUE
        return text

    SCALAR_TAGS = {
        "str": lambda text: text,
        "null": lambda text: None,
        "bool": lambda text: _YamlScalars.BOOL[text.lower()],
        "int": int,
        "float": float,
        "timestamp": timestamp,
    }

    @staticmethod
    def kind(value):
        if isinstance(value, dict):
            return "mapping"
        if isinstance(value, list):
            return "list"
        return "scalar"


class _YamlParser(object):

    def __init__(self, tokens, src, warnings, located):
        self.toks = tokens
        self.p = 0
        self.src = src
        self.warnings = warnings
        self.located = located
        self.anchors = {}        # name -> (value, expanded size)
        self.building = set()   # anchors whose node is being parsed
        self.expanded = 0
        self.depth = 0
        self.handles = {"!": "!", "!!": _YamlScalars.YAML_TAG}

    def fail(self, message, pos, hint=None):
        return self.src.error(message, pos, hint)

    def unexpected(self, what):
        tok = self.toks[self.p]
        return self.fail("%s, but found %s" % (what, _YamlSyntax.TOKEN_NAMES[tok[0]]), tok[1])

    # -- stream and documents

    def parse(self):
        try:
            result = self.stream()
        except _YamlScalars.BadScalar as e:
            tok = self.toks[self.p - 1]
            raise self.fail("%r looks like a number or a date but is not a valid one (%s)"
                            % (tok[2], e), tok[1], hint="quote it if it is meant as text")
        return self.item(result, 0)

    def stream(self):
        toks = self.toks
        documents = 0
        result = None
        if toks[0][0] not in (_YamlSyntax.T_DIRECTIVE, _YamlSyntax.T_DOC_START, _YamlSyntax.T_STREAM_END):
            result = self.node(True, False)
            documents = 1
            if toks[self.p][0] == _YamlSyntax.T_DOC_END:
                self.p += 1
        while True:
            while toks[self.p][0] == _YamlSyntax.T_DOC_END:
                self.p += 1
            tok = toks[self.p]
            if tok[0] == _YamlSyntax.T_STREAM_END:
                return result
            self.directives()
            tok = toks[self.p]
            if tok[0] != _YamlSyntax.T_DOC_START:
                raise self.unexpected("expected '---' (a new document) or the end of the file")
            if documents:
                raise self.fail("a second document ('---') in the same file is not supported",
                                tok[1], hint="keep one document per file")
            self.p += 1
            documents = 1
            if toks[self.p][0] in (_YamlSyntax.T_DIRECTIVE, _YamlSyntax.T_DOC_START, _YamlSyntax.T_DOC_END, _YamlSyntax.T_STREAM_END):
                result = None
            else:
                result = self.node(True, False)
            if toks[self.p][0] == _YamlSyntax.T_DOC_END:
                self.p += 1

    def directives(self):
        toks = self.toks
        version = None
        self.handles = {}
        while toks[self.p][0] == _YamlSyntax.T_DIRECTIVE:
            tok = toks[self.p]
            name, value = tok[2]
            if name == "YAML":
                if version is not None:
                    raise self.fail("found a second %YAML directive", tok[1])
                if value[0] != 1:
                    raise self.fail("this document needs YAML %d.%d; only YAML 1.x is "
                                    "supported" % value, tok[1])
                version = value
            elif name == "TAG":
                if value[0] in self.handles:
                    raise self.fail("duplicate tag handle %r" % value[0], tok[1])
                self.handles[value[0]] = value[1]
            self.p += 1
        self.handles.setdefault("!", "!")
        self.handles.setdefault("!!", _YamlScalars.YAML_TAG)

    # -- nodes

    def node(self, block, indentless):
        toks = self.toks
        tok = toks[self.p]
        kind = tok[0]
        if kind == _YamlSyntax.T_SCALAR:        # the common case first
            self.p += 1
            if tok[3] is None:
                return _YamlScalars.resolve_tagged(tok[2])
            return tok[2]
        if kind == _YamlSyntax.T_ALIAS:
            self.p += 1
            return self.alias(tok)
        start = tok[1]
        anchor = tag = None
        tag_pos = None
        if kind == _YamlSyntax.T_ANCHOR:
            anchor = tok
            self.p += 1
            if toks[self.p][0] == _YamlSyntax.T_TAG:
                tag, tag_pos = toks[self.p][2], toks[self.p][1]
                self.p += 1
        elif kind == _YamlSyntax.T_TAG:
            tag, tag_pos = tok[2], tok[1]
            self.p += 1
            if toks[self.p][0] == _YamlSyntax.T_ANCHOR:
                anchor = toks[self.p]
                self.p += 1
        if tag is not None:
            tag = self.full_tag(tag, tag_pos)
        if anchor is not None:
            name = anchor[2]
            if name in self.anchors or name in self.building:
                raise self.fail("the anchor &%s is defined twice" % name, anchor[1],
                                hint="give each anchor its own name")
            self.building.add(name)
            first, before = self.p, self.expanded
        tok = toks[self.p]
        kind = tok[0]
        self.depth += 1
        if self.depth > _YamlSyntax.MAX_DEPTH:
            raise self.fail("collections are nested more than %d levels deep"
                            % _YamlSyntax.MAX_DEPTH, tok[1])
        if indentless and kind == _YamlSyntax.T_BENTRY:
            value = self.indentless_sequence()
        elif kind == _YamlSyntax.T_SCALAR:
            self.p += 1
            value = self.scalar(tok, tag, tag_pos)
            tag = None
        elif kind == _YamlSyntax.T_FSEQ:
            value = self.flow_sequence()
        elif kind == _YamlSyntax.T_FMAP:
            value = self.flow_mapping()
        elif block and kind == _YamlSyntax.T_BSEQ:
            value = self.block_sequence()
        elif block and kind == _YamlSyntax.T_BMAP:
            value = self.block_mapping()
        elif anchor is not None or tag is not None:
            value = self.scalar((_YamlSyntax.T_SCALAR, start, "", None), tag, tag_pos)
            tag = None
        else:
            raise self.unexpected("expected a value")
        self.depth -= 1
        if tag is not None:
            value = self.tag_collection(value, tag, tag_pos)
        if anchor is not None:
            self.building.discard(name)
            size = (self.p - first) + (self.expanded - before)
            self.anchors[name] = (value, size)
        return value

    def alias(self, tok):
        name = tok[2]
        found = self.anchors.get(name)
        if found is None:
            if name in self.building:
                raise self.fail("the alias *%s is inside the node it refers to; recursive "
                                "structures are not supported" % name, tok[1])
            raise self.fail("the alias *%s refers to no anchor (&%s) defined before it"
                            % (name, name), tok[1])
        self.expanded += found[1]
        if self.expanded > _YamlSyntax.MAX_EXPANSION:
            raise self.fail("aliases expand this document to more than %d nodes"
                            % _YamlSyntax.MAX_EXPANSION, tok[1],
                            hint="this looks like an alias bomb; reduce the use of aliases")
        return found[0]

    def full_tag(self, tag, pos):
        handle, suffix = tag
        if handle is None:
            return suffix
        if handle not in self.handles:
            raise self.fail("undefined tag handle %r" % handle, pos)
        return self.handles[handle] + suffix

    def scalar(self, tok, tag, tag_pos):
        text = tok[2]
        if tag is None:
            if tok[3] is None:
                return _YamlScalars.resolve_tagged(text)
            return text
        if tag == "!":
            return _YamlScalars.resolve_tagged(text)
        name = tag[len(_YamlScalars.YAML_TAG):] if tag.startswith(_YamlScalars.YAML_TAG) else None
        conv = _YamlScalars.SCALAR_TAGS.get(name)
        if conv is not None:
            try:
                return conv(text)
            except (ValueError, KeyError, IndexError, OverflowError):
                raise self.fail("%r is not a valid !!%s" % (text, name), tok[1])
        if name == "binary":
            import base64
            import binascii
            try:
                return base64.decodebytes(text.encode("ascii"))
            except (UnicodeEncodeError, binascii.Error):
                raise self.fail("%r is not valid base64 for !!binary" % text, tok[1])
        if name in ("map", "seq"):
            raise self.fail("!!%s on a scalar: expected a %s" % (
                name, "mapping" if name == "map" else "sequence"), tag_pos)
        raise self.unsupported_tag(tag, tag_pos)

    def tag_collection(self, value, tag, pos):
        if tag == "!":
            return value
        if tag == _YamlScalars.YAML_TAG + "map":
            if isinstance(value, dict):
                return value
            raise self.fail("!!map on a sequence: expected a mapping", pos)
        if tag == _YamlScalars.YAML_TAG + "seq":
            if isinstance(value, list):
                return value
            raise self.fail("!!seq on a mapping: expected a sequence", pos)
        name = tag[len(_YamlScalars.YAML_TAG):] if tag.startswith(_YamlScalars.YAML_TAG) else None
        if name in _YamlScalars.SCALAR_TAGS or name == "binary":
            raise self.fail("!!%s on a collection: expected a scalar" % name, pos)
        raise self.unsupported_tag(tag, pos)

    def unsupported_tag(self, tag, pos):
        shown = "!!" + tag[len(_YamlScalars.YAML_TAG):] if tag.startswith(_YamlScalars.YAML_TAG) else tag
        return self.fail("the tag %s is not supported" % shown, pos,
                         hint="streamt reads plain YAML data: strings, numbers, booleans, "
                              "null, dates, lists and mappings (standard tags !!str, "
                              "!!int, !!float, !!bool, !!null, !!timestamp, !!binary, "
                              "!!seq, !!map)")

    # -- collections

    def new_map(self, pos):
        if self.located:
            m = YamlMap()
            m._src, m._pos, m._kpos = self.src, pos, {}
            return m
        return {}

    def new_seq(self, pos):
        if self.located:
            s = YamlSeq()
            s._src, s._pos, s._ipos = self.src, pos, []
            return s
        return []

    def block_sequence(self):
        toks = self.toks
        pos = toks[self.p][1]
        self.p += 1
        seq = self.new_seq(pos)
        ipos = seq._ipos if self.located else None
        append = seq.append
        while True:
            tok = toks[self.p]
            if tok[0] == _YamlSyntax.T_BENTRY:
                self.p += 1
                tok = toks[self.p]
                kind = tok[0]
                if ipos is not None:
                    ipos.append(tok[1])
                if kind == _YamlSyntax.T_SCALAR:
                    self.p += 1
                    if tok[3] is None:
                        value = _YamlScalars.resolve_tagged(tok[2])
                        if value is _YamlScalars.MERGE or value is _YamlScalars.VALUE:
                            self.item(value, tok[1])
                        append(value)
                    else:
                        append(tok[2])
                elif kind == _YamlSyntax.T_BENTRY or kind == _YamlSyntax.T_BEND:
                    append(None)
                else:
                    append(self.item(self.node(True, False), tok[1]))
            elif tok[0] == _YamlSyntax.T_BEND:
                self.p += 1
                return seq
            else:
                raise self.unexpected("expected a '- ' item or the end of the list")

    def indentless_sequence(self):
        toks = self.toks
        seq = self.new_seq(toks[self.p][1])
        ipos = seq._ipos if self.located else None
        while toks[self.p][0] == _YamlSyntax.T_BENTRY:
            self.p += 1
            tok = toks[self.p]
            if ipos is not None:
                ipos.append(tok[1])
            if tok[0] in (_YamlSyntax.T_BENTRY, _YamlSyntax.T_KEY, _YamlSyntax.T_VALUE, _YamlSyntax.T_BEND):
                seq.append(None)
            else:
                seq.append(self.item(self.node(True, False), tok[1]))
        return seq

    def item(self, value, pos):
        if value is _YamlScalars.MERGE or value is _YamlScalars.VALUE:
            raise self.fail("%r can only be a mapping key here; quote it to mean the text"
                            % ("<<" if value is _YamlScalars.MERGE else "="), pos)
        return value

    def block_mapping(self):
        toks = self.toks
        pos = toks[self.p][1]
        self.p += 1
        pairs = []
        while True:
            tok = toks[self.p]
            kind = tok[0]
            if kind == _YamlSyntax.T_KEY:
                self.p += 1
                tok = toks[self.p]
                kpos = tok[1]
                kind = tok[0]
                if kind == _YamlSyntax.T_SCALAR:
                    self.p += 1
                    key = tok[2]
                    if tok[3] is None and (not key or key[0] in _YamlScalars.RESOLVE_START):
                        key = _YamlScalars.resolve_tagged(key)
                elif kind == _YamlSyntax.T_KEY or kind == _YamlSyntax.T_VALUE or kind == _YamlSyntax.T_BEND:
                    key = None
                else:
                    key = self.node(True, True)
                tok = toks[self.p]
                if tok[0] == _YamlSyntax.T_VALUE:
                    self.p += 1
                    tok = toks[self.p]
                    kind = tok[0]
                    if kind == _YamlSyntax.T_SCALAR:
                        self.p += 1
                        value = tok[2]
                        if tok[3] is None and (not value or value[0] in _YamlScalars.RESOLVE_START):
                            value = _YamlScalars.resolve_tagged(value)
                    elif kind == _YamlSyntax.T_KEY or kind == _YamlSyntax.T_VALUE or kind == _YamlSyntax.T_BEND:
                        value = None
                    else:
                        value = self.node(True, True)
                    vpos = tok[1]
                else:
                    value = None
                    vpos = tok[1]
                pairs.append((key, value, kpos, vpos))
            elif kind == _YamlSyntax.T_BEND:
                self.p += 1
                return self.mapping(pairs, pos)
            else:
                raise self.unexpected("expected a key or the end of the mapping "
                                      "(check the indentation)")

    def flow_sequence(self):
        toks = self.toks
        pos = toks[self.p][1]
        self.p += 1
        seq = self.new_seq(pos)
        ipos = seq._ipos if self.located else None
        first = True
        while True:
            tok = toks[self.p]
            if tok[0] == _YamlSyntax.T_FSEQ_END:
                self.p += 1
                return seq
            if not first:
                if tok[0] != _YamlSyntax.T_FENTRY:
                    raise self.unexpected("expected ',' or ']'")
                self.p += 1
                tok = toks[self.p]
                if tok[0] == _YamlSyntax.T_FSEQ_END:
                    continue
            first = False
            if ipos is not None:
                ipos.append(tok[1])
            if tok[0] == _YamlSyntax.T_KEY:      # [ ? a : b ] or [ a: b ]: a one-pair mapping
                self.p += 1
                k = toks[self.p]
                key = None
                if k[0] not in (_YamlSyntax.T_VALUE, _YamlSyntax.T_FENTRY, _YamlSyntax.T_FSEQ_END):
                    key = self.node(False, False)
                v = toks[self.p]
                value = None
                if v[0] == _YamlSyntax.T_VALUE:
                    self.p += 1
                    v = toks[self.p]
                    if v[0] not in (_YamlSyntax.T_FENTRY, _YamlSyntax.T_FSEQ_END):
                        value = self.node(False, False)
                seq.append(self.mapping([(key, value, k[1], v[1])], tok[1]))
            else:
                seq.append(self.item(self.node(False, False), tok[1]))

    def flow_mapping(self):
        toks = self.toks
        pos = toks[self.p][1]
        self.p += 1
        pairs = []
        first = True
        while True:
            tok = toks[self.p]
            if tok[0] == _YamlSyntax.T_FMAP_END:
                self.p += 1
                return self.mapping(pairs, pos)
            if not first:
                if tok[0] != _YamlSyntax.T_FENTRY:
                    raise self.unexpected("expected ',' or '}'")
                self.p += 1
                tok = toks[self.p]
                if tok[0] == _YamlSyntax.T_FMAP_END:
                    continue
            first = False
            if tok[0] == _YamlSyntax.T_KEY:
                self.p += 1
                k = toks[self.p]
                key = None
                if k[0] not in (_YamlSyntax.T_VALUE, _YamlSyntax.T_FENTRY, _YamlSyntax.T_FMAP_END):
                    key = self.node(False, False)
                v = toks[self.p]
                value = None
                if v[0] == _YamlSyntax.T_VALUE:
                    self.p += 1
                    v = toks[self.p]
                    if v[0] not in (_YamlSyntax.T_FENTRY, _YamlSyntax.T_FMAP_END):
                        value = self.node(False, False)
                pairs.append((key, value, k[1], v[1]))
            else:
                key = self.node(False, False)
                pairs.append((key, None, tok[1], toks[self.p][1]))

    def mapping(self, pairs, pos):
        """Build a mapping from (key, value, key index, value index), PyYAML's way:
        merge keys first (own keys win, earlier merges win), last duplicate wins."""
        m = self.new_map(pos)
        kposs = m._kpos if self.located else {}
        merges = None
        for key, value, kpos, vpos in pairs:
            if key is _YamlScalars.MERGE:
                if merges is None:
                    merges = []
                if isinstance(value, dict):
                    merges.append(value)
                elif isinstance(value, list):
                    # in a list of mappings, the first one that has a key wins
                    first_wins = self.new_map(vpos)
                    fk = first_wins._kpos if self.located else None
                    for sub in value:
                        if not isinstance(sub, dict):
                            raise self.fail("a merge key ('<<') takes a mapping or a list of "
                                            "mappings; this list holds a %s"
                                            % _YamlScalars.kind(sub), vpos)
                        sk = getattr(sub, "_kpos", None) or {}
                        for k, v in sub.items():
                            if k not in first_wins:
                                first_wins[k] = v
                                if fk is not None and k in sk:
                                    fk[k] = sk[k]
                    merges.append(first_wins)
                else:
                    raise self.fail("a merge key ('<<') takes a mapping or a list of "
                                    "mappings, not a %s" % _YamlScalars.kind(value), vpos)
                continue
            if key is _YamlScalars.VALUE:
                key = "="
            if value is _YamlScalars.MERGE or value is _YamlScalars.VALUE:
                self.item(value, vpos)
            if isinstance(key, (dict, list)):
                raise self.fail("a %s used as a mapping key is not supported"
                                % _YamlScalars.kind(key), kpos,
                                hint="keys must be strings, numbers, booleans, null or dates")
            try:
                seen = key in m
            except TypeError:
                raise self.fail("this key cannot be used as a mapping key", kpos)
            if seen and self.warnings is not None:
                line = self.src.line_col(kposs[key])[0]
                self.warnings.append((self.src.location(kpos),
                                      "duplicate key %r (first at line %d); the last one wins"
                                      % (key, line)))
            m[key] = value
            if not seen:
                kposs[key] = kpos
        if merges:
            merged = self.new_map(pos)
            mk = merged._kpos if self.located else None
            for src in merges:
                merged.update(src)
                if mk is not None:
                    sk = getattr(src, "_kpos", None) or {}
                    for k in src:
                        if k not in mk and k in sk:
                            mk[k] = sk[k]
            merged.update(m)
            if mk is not None:
                for k, p in kposs.items():
                    mk[k] = p
            return merged
        return m


###############################################################################
# YAML ########################################################################
###############################################################################
#
# A YAML loader that means what PyYAML's safe_load means (see vendor-notes.md).
#
# Project files were read by the original tool with PyYAML's ``safe_load`` (YAML 1.1
# rules), so a file must mean exactly the same here: ``yes`` is True, ``010`` is 8,
# ``1:30`` is 90, a tab where PyYAML refuses one is refused, and so on.  The loader has
# the same three stages as PyYAML, but each is lean:
#
#   _YamlScanner  text -> list of tokens.  It follows PyYAML's scanner rule for rule
#                 (simple keys, indentation stack, the same characters accepted where),
#                 because that is what decides which files are accepted; but it runs on
#                 indexes into one string, scans runs of characters with regular
#                 expressions and lines with str.find, and produces all tokens at once.
#   _YamlParser   tokens -> Python values, by recursive descent (depth-limited), building
#                 dicts and lists directly (no events, no node graph), resolving plain
#                 scalars with PyYAML's YAML 1.1 regular expressions.
#
# Deliberate differences from PyYAML (all refusals, with a clear YamlError): custom and
# Python tags, !!set/!!omap/!!pairs, recursive aliases, more than one document, nesting
# deeper than _YAML_MAX_DEPTH and alias expansion beyond _YAML_MAX_EXPANSION.

__all__ += ["yaml_load", "yaml_load_located", "YamlEmitter"]


def yaml_load(text, source_name=None, warnings=None):
    """Parse one YAML document into plain Python values, as ``yaml.safe_load`` would.

    ``text`` is a str (or UTF-8/UTF-16 bytes).  An empty document gives None.  Every
    problem raises YamlError; ``warnings`` (a list) receives ``(Location, message)``
    for duplicate keys."""
    return _yaml_run(text, source_name, warnings, False)


def yaml_load_located(text, source_name=None, warnings=None):
    """Like yaml_load, but mappings are YamlMap and sequences YamlSeq (with locations)."""
    return _yaml_run(text, source_name, warnings, True)


def _yaml_run(text, source_name, warnings, located):
    if isinstance(text, bytes):
        text = _YamlSyntax.decode(text, source_name)
    elif not isinstance(text, str):
        raise TypeError("yaml_load() needs str or bytes, not %s" % type(text).__name__)
    src = _YamlSource(source_name, text)
    # Most files are printable ASCII: a cheap ASCII pattern says so, and the full class
    # (costly to compile) only looks from the first other character on (everything
    # before it is printable ASCII, so the first bad character is the same).
    bad = _YamlSyntax.NOT_ASCII.search(text)
    if bad:
        bad = _YamlSyntax.NONPRINTABLE.search(text, bad.start())
    if bad:
        raise src.error("unacceptable character #x%04x: control characters are not allowed"
                        % ord(bad.group()), bad.start(),
                        hint="remove the character or write it as an escape in a "
                             "double-quoted string")
    if "\r" in text or "\x85" in text:
        # every break PyYAML folds to "\n" becomes "\n" (indexes shift only on such lines)
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x85", "\n")
        src = _YamlSource(source_name, text)
    try:
        with _gc_paused():  # many small objects (tokens, values), no cycles
            if FastPaths.yaml_lines:
                try:
                    return _YamlLines(text, src, located).load()
                except _YamlLinePatterns.NotLines:
                    pass    # outside the common subset: the full scanner and parser
            tokens = _YamlScanner(text, src).scan()
            return _YamlParser(tokens, src, warnings, located).parse()
    except RecursionError:
        raise YamlError("the document is nested too deeply to be read",
                        location=Location(source_name))


class _YamlLinePatterns(object):
    """The patterns and helpers of _YamlLines, and the signal that a text leaves its subset."""

    # -- the line loader: the common block subset, a line at a time -----------------
    #
    # Project files are nearly all written in a small part of YAML: block mappings of
    # `key: value` lines, block sequences of `- ` items, one-line plain and quoted scalars,
    # literal and folded block scalars, one-line flow collections, comments and blank lines.
    # _YamlLines reads exactly that part a line at a time -- no tokens, no indentation
    # stack, a few string operations and at most two regular expressions per line -- and
    # builds the very values the full loader builds (YamlMap/YamlSeq with the same indexes
    # of mappings, keys and items, in the same order).  The moment a document leaves that
    # part -- anything it does not know, and anything that is or could be an error or a
    # warning (tabs, anchors, tags, '?' and quoted keys, '---', directives, multi-line plain
    # or quoted scalars, a line indented differently than expected, duplicate and merge
    # keys, invalid numbers and dates...) -- it raises _YamlNotLines and _yaml_run reads
    # the text again with _YamlScanner and _YamlParser, which stay the reference and the
    # only path that reports errors and warnings.  Block scalars are read by the scanner's
    # own block_scalar(), on a scanner put in the state it would be in at that point.
    #
    # Why a line tells enough: in the subset, a collection at column c goes on while the
    # next line that is not blank nor a comment starts at column c, and ends when one starts
    # further left.  A line further right than the collection it would belong to is either
    # the continuation of a multi-line plain scalar (which goes on exactly on lines indented
    # more than the collection holding it) or an error: both leave the subset.
    # tests/test_yaml_lines.py compares the two loaders (the switch: FastPaths.yaml_lines).

    class NotLines(Exception):
        """The document leaves the subset _YamlLines reads (see above)."""

    # `key:` opening a block mapping entry: group 1 a plain key of one run as _Y_PLAIN_BLOCK
    # matches it (no tab, NUL or break can occur: _YamlLines refuses texts with tabs or
    # Unicode line breaks, and works on one line), not starting with an indicator, then ':'
    # followed by spaces or the end of the line.  (A ':' in the run is followed by a
    # character other than a space, so group 1 cannot end early.)  Then, if the rest of the
    # line is a one-line plain scalar starting with a character other than an indicator
    # (and perhaps spaces and a comment), that scalar as group 2 (as _Y_PLAIN_LINE would
    # take it) -- the common `key: value` line in one match.  Group 2 must be followed by
    # the end of the line or by spaces (a plain scalar never ends before a '#' or inside a
    # run), so backtracking cannot make it end early: otherwise group 2 is None and the
    # match ends after ': ' and its spaces, where value() takes over.
    ENTRY = _LazyRegex(
        u"([^-?:,\\[\\]{}#&*!|>'\"%@` ][^ :]*(?::(?=[^ ])[^ :]*)*):(?:$| +(?:("
    u"[^-?:,\\[\\]{}#&*!|>'\"%@` ][^ :]*(?::(?=[^ ])[^ :]*)*"
    u"(?: +(?=[^ :#]|:[^ ])[^ :]*(?::(?=[^ ])[^ :]*)*)*)(?:$| +(?:#.*)?$))?)")

    PLAIN = _LazyRegex(u"([^ :]*(?::(?=[^ ])[^ :]*)*(?: +(?=[^ :#]|:[^ ])[^ :]*"
                       u"(?::(?=[^ ])[^ :]*)*)*) *")

    # The same in a flow collection (_Y_PLAIN_FLOW_LINE on one line).
    FLOW_PLAIN = _LazyRegex(
        u"([^ :,?\\[\\]{}]*(?::(?=[^ ,\\[\\]{}])[^ :,?\\[\\]{}]*)*"
    u"(?: +(?=[^ :,?\\[\\]{}#]|:[^ ,\\[\\]{}])[^ :,?\\[\\]{}]*"
    u"(?::(?=[^ ,\\[\\]{}])[^ :,?\\[\\]{}]*)*)*) *")

    # One-line quoted scalars ('' is a quote; double-quoted ones without escapes), and the
    # spaces after them.
    SINGLE = _LazyRegex(u"'([^']*(?:''[^']*)*)' *")

    DOUBLE = _LazyRegex(u"\"([^\"\\\\]*)\" *")

    FLOW_DEPTH = 20     # deeper one-line flow collections go to the full loader

    # Block collections further right go to the full loader.  Every nested block collection
    # starts further right than its parent, but for an indentless sequence (at its mapping's
    # column, and holding none), so block nesting stays below 2 * 60 + 2 levels and, with
    # _YL_FLOW_DEPTH, below _YAML_MAX_DEPTH: the full loader's depth error cannot be missed.
    MAX_COLUMN = 60

    @staticmethod
    def flow_next(line, q, closer):
        """After an item of a one-line flow collection, at ``q``: ``(index, done)`` past a
        ``,`` and its spaces, or past ``closer`` (done; also for a ``,`` right before it).
        Anything else leaves the subset."""
        n = len(line)
        if q >= n:
            raise _YamlLinePatterns.NotLines()
        ch = line[q]
        q += 1
        if ch == ",":
            while q < n and line[q] == " ":
                q += 1
            if q < n and line[q] == closer:
                return q + 1, True
            return q, False
        if ch == closer:
            return q, True
        raise _YamlLinePatterns.NotLines()

    @staticmethod
    def resolve(text, memo):
        """_yaml_resolve for _YamlLines, remembered in ``memo`` (the same texts come back in
        every entry of a file; the value depends on the text alone).  A value that is not
        plain data (a bad number or date, '<<', '=') leaves the subset: the full loader
        reports or handles it."""
        try:
            value = _YamlScalars.resolve_plain(text)
        except (ValueError, OverflowError):
            raise _YamlLinePatterns.NotLines()
        if value is _YamlScalars.MERGE or value is _YamlScalars.VALUE:
            raise _YamlLinePatterns.NotLines()
        memo[text] = value
        return value


class _YamlLines(object):

    def __init__(self, text, src, located):
        if "\t" in text or u"\u2028" in text or u"\u2029" in text or text[:1] == u"\ufeff":
            raise _YamlLinePatterns.NotLines()
        self.text = text
        self.src = src
        self.located = located
        from itertools import accumulate, chain
        from operator import add
        self.lines = lines = text.split("\n")
        self.n = n = len(lines)
        # the index of each line's first character: the lengths of the lines before it
        # and one line break for each (summed in C, not in a loop)
        self.starts = list(map(add, chain((0,), accumulate(map(len, lines))), range(n)))
        self.scanner = None     # made for the first block scalar
        self.memo = {}          # plain scalar text -> its value (see _yl_resolve)
        self.k = 0              # where value() leaves off: the line after the value

    def load(self):
        k, col = self.next_line(0)
        if k == self.n:
            return None         # nothing but comments and blank lines
        value, k = self.collection(k, col)
        if self.next_line(k)[0] != self.n:
            raise _YamlLinePatterns.NotLines()       # a second root node, '---', a less indented line...
        return value

    def next_line(self, k):
        """The index of the first line from k on that is not blank nor a comment, and
        its indentation ((self.n, -1) at the end)."""
        lines = self.lines
        n = self.n
        while k < n:
            line = lines[k]
            rest = line.lstrip(" ")
            if rest and rest[0] != "#":
                return k, len(line) - len(rest)
            k += 1
        return n, -1

    def collection(self, k, col):
        line = self.lines[k]
        if line.startswith("-", col) and (len(line) == col + 1 or line[col + 1] == " "):
            return self.sequence(k, col, False)
        return self.mapping(k, col)

    def new_map(self, pos):
        if self.located:
            m = YamlMap()
            m._src, m._pos, m._kpos = self.src, pos, {}
            return m, m._kpos
        return {}, {}

    def new_seq(self, pos):
        if self.located:
            s = YamlSeq()
            s._src, s._pos, s._ipos = self.src, pos, []
            return s, s._ipos
        return [], []

    def mapping(self, k, col, km=None):
        """The block mapping whose first key is at column col of line k (for `- key:`
        that line is an item's, and km its _YL_ENTRY match); returns it and the index
        of the next line that is not blank nor a comment."""
        lines = self.lines
        n = self.n
        starts = self.starts
        entry = _YamlLinePatterns.ENTRY.match
        memo = self.memo
        if col > _YamlLinePatterns.MAX_COLUMN:
            raise _YamlLinePatterns.NotLines()
        start = starts[k]
        m, kposs = self.new_map(start + col)
        line = lines[k]
        while True:
            if km is None:
                km = entry(line, col)
                if km is None:
                    raise _YamlLinePatterns.NotLines()
            key, value = km.group(1, 2)
            if len(key) > _YamlSyntax.MAX_KEY_SPAN - 24:
                raise _YamlLinePatterns.NotLines()
            if key[0] in _YamlScalars.RESOLVE_START:
                key = memo[key] if key in memo else _YamlLinePatterns.resolve(key, memo)
            if key in m:
                raise _YamlLinePatterns.NotLines()       # a duplicate key: the full loader warns
            kposs[key] = start + col
            if value is not None:           # `key: plain scalar`, the common case
                if value[0] in _YamlScalars.RESOLVE_START:
                    value = memo[value] if value in memo else _YamlLinePatterns.resolve(value, memo)
                m[key] = value
                k += 1
            else:
                p = km.end()
                if p == len(line) or line[p] == "#":
                    # `key:` alone (value() does the same, here without two calls): a
                    # collection on the next lines, an indentless sequence, or null
                    k += 1
                    while k < n:
                        nxt = lines[k]
                        rest = nxt.lstrip(" ")
                        if rest and rest[0] != "#":
                            break
                        k += 1
                    else:
                        m[key] = None
                        return m, k
                    ind = len(nxt) - len(rest)
                    if ind >= col:
                        if rest[0] == "-" and (len(rest) == 1 or rest[1] == " "):
                            m[key], k = self.sequence(k, ind, ind == col)
                        elif ind > col:
                            m[key], k = self.mapping(k, ind)
                        else:
                            m[key] = None
                    else:
                        m[key] = None
                else:
                    m[key] = self.value(k, line, p, col, True)
                    k = self.k
            km = None
            # the next line not blank nor a comment: next_line() written out, as in
            # sequence() (a call per entry made the whole load ~8% slower)
            while k < n:
                line = lines[k]
                rest = line.lstrip(" ")
                if rest and rest[0] != "#":
                    break
                k += 1
            else:
                return m, k
            ind = len(line) - len(rest)
            if ind != col:
                if ind < col:
                    return m, k
                raise _YamlLinePatterns.NotLines()
            start = starts[k]

    def sequence(self, k, col, indentless):
        """The block sequence whose first '-' is at column col of line k.  An indentless
        one (the value of a key at the same column) ends at a line at that column that
        is not an item."""
        lines = self.lines
        n = self.n
        starts = self.starts
        entry = _YamlLinePatterns.ENTRY.match
        if col > _YamlLinePatterns.MAX_COLUMN:
            raise _YamlLinePatterns.NotLines()
        start = starts[k]
        seq, ipos = self.new_seq(start + col)
        append = seq.append
        line = lines[k]
        while True:
            p = col + 1
            end = len(line)
            while p < end and line[p] == " ":
                p += 1
            if p == end or line[p] == "#":
                # `-` alone: the item is the collection on the next lines
                k, ind = self.next_line(k + 1)
                if ind <= col:
                    raise _YamlLinePatterns.NotLines()   # an empty item
                ipos.append(starts[k] + ind)
                value, k = self.collection(k, ind)
            else:
                ipos.append(start + p)
                ch = line[p]
                km = entry(line, p) if ch not in _YamlSyntax.NOT_PLAIN_START else None
                if km is not None:
                    value, k = self.mapping(k, p, km)       # `- key: ...`
                elif ch == "-" and (p + 1 == end or line[p + 1] == " "):
                    raise _YamlLinePatterns.NotLines()   # `- - a`
                else:
                    value = self.value(k, line, p, col, False)
                    k = self.k
            append(value)
            while k < n:                    # next_line() written out (see mapping())
                line = lines[k]
                rest = line.lstrip(" ")
                if rest and rest[0] != "#":
                    break
                k += 1
            else:
                return seq, k
            ind = len(line) - len(rest)
            if ind != col:
                if ind < col:
                    return seq, k
                raise _YamlLinePatterns.NotLines()
            if not (rest[0] == "-" and (len(rest) == 1 or rest[1] == " ")):
                if indentless:
                    return seq, k
                raise _YamlLinePatterns.NotLines()
            start = starts[k]

    def value(self, k, line, p, col, in_map):
        """The value that starts at p on line k, in a collection at column col; sets
        self.k to the index of the line after it."""
        n = len(line)
        if p == n or line[p] == "#":
            # nothing more on the line: a collection on the next lines, or null
            k2, ind = self.next_line(k + 1)
            if ind > col:
                value, self.k = self.collection(k2, ind)
                return value
            if ind == col and in_map:
                nxt = self.lines[k2]
                if nxt.startswith("-", col) and (len(nxt) == col + 1 or nxt[col + 1] == " "):
                    value, self.k = self.sequence(k2, col, True)
                    return value
            self.k = k2
            return None
        ch = line[p]
        if ch == "|" or ch == ">":
            return self.block_scalar(k, p, col)
        if ch == "[" or ch == "{":
            value, e = self.flow(line, p, self.starts[k], 0)
        elif ch == "'":
            m = _YamlLinePatterns.SINGLE.match(line, p)
            if m is None:
                raise _YamlLinePatterns.NotLines()       # not closed on this line
            value = m.group(1)
            if "''" in value:
                value = value.replace("''", "'")
            e = m.end()
        elif ch == '"':
            m = _YamlLinePatterns.DOUBLE.match(line, p)
            if m is None:
                raise _YamlLinePatterns.NotLines()       # escapes, or not closed on this line
            value = m.group(1)
            e = m.end()
        else:
            if ch in _YamlSyntax.NOT_PLAIN_START and not (
                    ch in "-?:" and p + 1 < n and line[p + 1] != " "):
                raise _YamlLinePatterns.NotLines()
            m = _YamlLinePatterns.PLAIN.match(line, p)
            value = m.group(1)
            e = m.end()
            if not value:
                raise _YamlLinePatterns.NotLines()
            if value[0] in _YamlScalars.RESOLVE_START:
                value = _YamlLinePatterns.resolve(value, self.memo)
        # (the patterns and flow() take the spaces after the value)
        if e != n and line[e] != "#":
            raise _YamlLinePatterns.NotLines()           # e.g. `a: b: c`, `- 'q': v`
        self.k = k + 1
        return value

    def block_scalar(self, k, p, col):
        lines = self.lines
        line = lines[k]
        tail = line[p:]
        if tail == "|" or tail == "|-":
            # Fast path for a literal scalar without indicators but '-' (the usual `sql: |`)
            # whose lines are all either indented at least as far as its first line, or
            # empty: the value is those lines less that indentation, joined by line
            # breaks, and a final break unless '-'.  (What block_scalar() makes of such
            # lines; leading empty lines, lines of spaces and the end of the text
            # without a line break, where its rules have more to say, go to it.)
            n = self.n
            first = k + 1
            if first < n:
                text = lines[first]
                rest = text.lstrip(" ")
                indent = len(text) - len(rest)
                if rest and indent > col:
                    j = first + 1
                    last = first        # the last line of the scalar that is not empty
                    pad = " " * indent
                    while j < n:
                        text = lines[j]
                        if text.startswith(pad):
                            if text.isspace():
                                break
                            last = j
                        elif text:
                            break       # the first line after the scalar
                        j += 1
                    if last < n - 1 and not (j < n and lines[j].isspace()):
                        body = "\n".join([text[indent:] for text in lines[first:last + 1]])
                        self.k = j
                        return body if tail == "|-" else body + "\n"
        sc = self.scanner
        if sc is None:
            sc = self.scanner = _YamlScanner(self.text, self.src)
        ls = self.starts[k]
        # the scanner's state when it meets the indicator: the block indentation is
        # the column of the collection holding the scalar
        sc.i, sc.ls, sc.indent = ls + p, ls, col
        try:
            sc.block_scalar(self.lines[k][p])
        except YamlError:
            raise _YamlLinePatterns.NotLines()
        value = sc.toks.pop()[2]
        if sc.s[sc.i] == "\0":
            self.k = self.n
        else:
            # block_scalar stops at the first character of a line it does not take
            self.k = k + self.text.count("\n", ls, sc.ls)
        return value

    def flow(self, line, p, base, depth):
        """The one-line flow collection at p; returns it and the index after it and
        the spaces after it."""
        if depth > _YamlLinePatterns.FLOW_DEPTH:
            raise _YamlLinePatterns.NotLines()
        n = len(line)
        q = p + 1
        while q < n and line[q] == " ":
            q += 1
        if line[p] == "[":
            seq, ipos = self.new_seq(base + p)
            if q < n and line[q] == "]":
                q += 1
            else:
                while True:
                    if q >= n:
                        raise _YamlLinePatterns.NotLines()
                    ipos.append(base + q)
                    value, q = self.flow_value(line, q, base, depth)
                    seq.append(value)
                    q, done = _YamlLinePatterns.flow_next(line, q, "]")   # (`[a: b]`, `[a b` leave)
                    if done:
                        break
            result = seq
        else:
            m, kposs = self.new_map(base + p)
            if q < n and line[q] == "}":
                q += 1
            else:
                while True:
                    if q >= n or line[q] in _YamlSyntax.NOT_PLAIN_START:
                        raise _YamlLinePatterns.NotLines()   # quoted keys, '? ', ...
                    km = _YamlLinePatterns.FLOW_PLAIN.match(line, q)
                    e = km.end()
                    if e >= n or line[e] != ":" or e - q > _YamlSyntax.MAX_KEY_SPAN - 24:
                        raise _YamlLinePatterns.NotLines()
                    key = km.group(1)
                    if key[0] in _YamlScalars.RESOLVE_START:
                        key = _YamlLinePatterns.resolve(key, self.memo)
                    if key in m:
                        raise _YamlLinePatterns.NotLines()
                    kposs[key] = base + q
                    q = e + 1
                    while q < n and line[q] == " ":
                        q += 1
                    if q >= n or line[q] in ",}":
                        raise _YamlLinePatterns.NotLines()   # `{a: }`
                    m[key], q = self.flow_value(line, q, base, depth)
                    q, done = _YamlLinePatterns.flow_next(line, q, "}")
                    if done:
                        break
            result = m
        while q < n and line[q] == " ":
            q += 1
        return result, q

    def flow_value(self, line, q, base, depth):
        ch = line[q]
        if ch == "[" or ch == "{":
            return self.flow(line, q, base, depth + 1)
        if ch == "'":
            m = _YamlLinePatterns.SINGLE.match(line, q)
            if m is None:
                raise _YamlLinePatterns.NotLines()
            value = m.group(1)
            if "''" in value:
                value = value.replace("''", "'")
            return value, m.end()
        if ch == '"':
            m = _YamlLinePatterns.DOUBLE.match(line, q)
            if m is None:
                raise _YamlLinePatterns.NotLines()
            return m.group(1), m.end()
        if ch in _YamlSyntax.NOT_PLAIN_START and not (
                ch == "-" and q + 1 < len(line) and line[q + 1] != " "):
            raise _YamlLinePatterns.NotLines()
        m = _YamlLinePatterns.FLOW_PLAIN.match(line, q)
        value = m.group(1)
        if not value:
            raise _YamlLinePatterns.NotLines()
        if value[0] in _YamlScalars.RESOLVE_START:
            value = _YamlLinePatterns.resolve(value, self.memo)
        return value, m.end()


class YamlEmitter(object):
    """Block YAML text of plain data (`envs show`): plain scalars where YAML reads them back as the same string, JSON-quoted otherwise."""

    PLAIN_SCALAR = _LazyRegex(r"^[A-Za-z0-9_./:@${}*+-][A-Za-z0-9_./:@${} ,*+=-]*$")

    @staticmethod
    def lines(obj, level):
        """YAML-looking lines of plain data (mappings in their order, lists, scalars)."""
        pad = "  " * level
        out = []
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(v, (dict, list)) and v:
                    out.append("%s%s:" % (pad, k))
                    out.extend(YamlEmitter.lines(v, level + 1))
                else:
                    out.append("%s%s: %s" % (pad, k, YamlEmitter.scalar(v)))
        elif isinstance(obj, list):
            for v in obj:
                if isinstance(v, (dict, list)) and v:
                    sub = YamlEmitter.lines(v, level + 1)
                    out.append("%s- %s" % (pad, sub[0].strip()))
                    out.extend(sub[1:])
                else:
                    out.append("%s- %s" % (pad, YamlEmitter.scalar(v)))
        else:
            out.append(pad + YamlEmitter.scalar(obj))
        return out

    @staticmethod
    def scalar(v):
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, dict):
            return "{}"
        if isinstance(v, list):
            return "[]"
        s = str(v)
        if s == "****":  # a masked secret reads better bare (it is not meant to be parsed)
            return s
        if (YamlEmitter.PLAIN_SCALAR.match(s) and s.strip() == s and s.lower() not in (
                "true", "false", "yes", "no", "null", "on", "off", "~") and not YamlEmitter.looks_number(s)
                and not s.startswith(("*", "&", "!", "-", "{"))):
            return s
        return json.dumps(s, ensure_ascii=False)

    @staticmethod
    def looks_number(s):
        try:
            float(s)
            return True
        except ValueError:
            return False


###############################################################################
# Signatures ##################################################################
###############################################################################

__all__ += ["SSHSIG_NAMESPACE", "ssh_sign", "ssh_verify", "ssh_signature_info",
            "ssh_public_key_line", "ssh_fingerprint", "ed25519_public_key", "ed25519_sign",
            "ed25519_verify"]


SSHSIG_NAMESPACE = "streamt"


def ssh_sign(data, private_key_text, namespace=SSHSIG_NAMESPACE):
    """Sign `data` like `ssh-keygen -Y sign -n <namespace>`: returns the armored SSHSIG text."""
    data = _Ssh.sig_bytes(data)
    if not namespace:
        raise UsageError("the signature namespace must not be empty")
    seed, pub, _comment = _Ssh.parse_openssh_private_key(private_key_text)
    key_blob = _Ssh.ssh_string(b"ssh-ed25519") + _Ssh.ssh_string(pub)
    hash_alg = "sha512"  # what ssh-keygen uses by default
    signed = _Ssh.sshsig_signed_data(namespace, hash_alg, hashlib.sha512(data).digest())
    raw = ed25519_sign(seed, signed, _public=pub)
    blob = b"".join([
        _Ssh.SSHSIG_MAGIC, _Ssh.u32(_Ssh.SSHSIG_VERSION), _Ssh.ssh_string(key_blob),
        _Ssh.ssh_string(namespace.encode("utf-8")), _Ssh.ssh_string(b""),
        _Ssh.ssh_string(hash_alg.encode("ascii")),
        _Ssh.ssh_string(_Ssh.ssh_string(b"ssh-ed25519") + _Ssh.ssh_string(raw))])
    return _Ssh.armor(blob, _Ssh.SSHSIG_BEGIN, _Ssh.SSHSIG_END)


def ssh_verify(data, signature_text, allowed_signers_text, namespace=SSHSIG_NAMESPACE,
               principal=None, now=None, allowed_signers_name="allowed_signers"):
    """Verify an SSHSIG signature of `data` and decide trust from an allowed_signers file.

    Like `ssh-keygen -Y verify -n <namespace> -f <allowed_signers> -I <principal>`; with
    principal=None, any principal listed for the key will do (like -Y find-principals).
    Returns {"principal", "fingerprint", "key_type", "namespace", "hash", "line"}."""
    import time
    data = _Ssh.sig_bytes(data)
    sig = _Ssh.parse_sshsig(signature_text)
    fingerprint = ssh_fingerprint(sig["key_blob"])
    if sig["namespace"] != namespace:
        raise IntegrityError(
            "the signature was made for namespace %r, not %r" % (sig["namespace"], namespace),
            hint="sign with `streamt build --sign-key` or `ssh-keygen -Y sign -n %s`"
                 % namespace)
    _Ssh.sshsig_check_key_type(sig)
    digest = hashlib.new(sig["hash"], data).digest()
    signed = _Ssh.sshsig_signed_data(namespace, sig["hash"], digest)
    if not ed25519_verify(sig["public"], signed, sig["signature"]):
        raise IntegrityError(
            "the signature does not match the signed data (key %s)" % fingerprint,
            hint="the data changed after it was signed, or the signature belongs to "
                 "another file; rebuild and sign again")
    if now is None:
        now = time.time()
    elif isinstance(now, datetime.datetime):
        now = now.timestamp()  # naive: local time, as OpenSSH reads allowed_signers times
    entries = _AllowedSigners.parse(allowed_signers_text, allowed_signers_name)
    match = _AllowedSigners.match(entries, sig["key_blob"], fingerprint, principal,
                                   namespace, now, allowed_signers_name)
    return {"principal": principal if principal is not None else match["principals"],
            "fingerprint": fingerprint, "key_type": sig["key_type"],
            "namespace": sig["namespace"], "hash": sig["hash"], "line": match["line"]}


def ssh_signature_info(signature_text):
    """Parse an armored SSHSIG signature and say who made it (no trust decision)."""
    import binascii
    sig = _Ssh.parse_sshsig(signature_text)
    b64 = binascii.b2a_base64(sig["key_blob"]).decode("ascii").strip()
    return {"key_type": sig["key_type"], "fingerprint": ssh_fingerprint(sig["key_blob"]),
            "public_key": "%s %s" % (sig["key_type"], b64), "namespace": sig["namespace"],
            "hash": sig["hash"], "version": sig["version"]}


def ssh_public_key_line(private_key_text):
    """The public key line ("ssh-ed25519 AAAA... comment") of an OpenSSH private key."""
    import binascii
    _seed, pub, comment = _Ssh.parse_openssh_private_key(private_key_text)
    blob = _Ssh.ssh_string(b"ssh-ed25519") + _Ssh.ssh_string(pub)
    line = "ssh-ed25519 " + binascii.b2a_base64(blob).decode("ascii").strip()
    return line + (" " + comment if comment else "")


def ssh_fingerprint(public_key):
    """SHA256 fingerprint as `ssh-keygen -l` prints it: "SHA256:<base64, no padding>".

    `public_key` is a key blob (bytes) or a public key line ("ssh-ed25519 AAAA... c")."""
    import binascii
    if isinstance(public_key, str):
        public_key = _Ssh.parse_public_key_line(public_key)[1]
    digest = hashlib.sha256(public_key).digest()
    return "SHA256:" + binascii.b2a_base64(digest).decode("ascii").strip().rstrip("=")


# ---- Ed25519 (RFC 8032) ----------------------------------------------------------
#
# Points live in extended twisted-Edwards coordinates (X, Y, Z, T) with x = X/Z,
# y = Y/Z, x*y = T/Z, so additions need no field inversion.  [s]B uses a table of
# j*16^i*B (j = 1..8, i = 0..63) built on first use, with signed radix-16 digits:
# 64 additions and no doublings.  Verification computes [S]B - [k]A with the same
# digits for A (4 doublings per digit) and compares the encoding with R, like
# OpenSSH/ref10 (the "cofactorless" equation).

def ed25519_public_key(seed):
    """The 32-byte public key of a 32-byte Ed25519 seed (the RFC's "private key")."""
    a, _prefix = _Ed25519.expand(seed)
    return _Ed25519.encode(_Ed25519.base_mult(a))


def ed25519_sign(seed, message, _public=None):
    """The 64-byte RFC 8032 signature of `message` (bytes) with a 32-byte seed."""
    a, prefix = _Ed25519.expand(seed)
    pub = _public if _public is not None else _Ed25519.encode(_Ed25519.base_mult(a))
    r = int.from_bytes(hashlib.sha512(prefix + message).digest(), "little") % _Ed25519.L
    r_enc = _Ed25519.encode(_Ed25519.base_mult(r))
    k = int.from_bytes(hashlib.sha512(r_enc + pub + message).digest(), "little") % _Ed25519.L
    s = (r + k * a) % _Ed25519.L
    return r_enc + s.to_bytes(32, "little")


def ed25519_verify(public_key, message, signature):
    """True when `signature` is a valid Ed25519 signature of `message` by `public_key`.

    Strict: the key must be a canonical encoding of a point of large order (small-order
    and identity keys are refused), S must be < L, R must be canonical."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    point = _Ed25519.decode(public_key)
    if point is None or _Ed25519.is_small_order(point):
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _Ed25519.L:
        return False
    r_enc = signature[:32]
    k = int.from_bytes(hashlib.sha512(r_enc + public_key + message).digest(),
                       "little") % _Ed25519.L
    check = _Ed25519.double_scalar_mult(s, k, point)  # [s]B - [k]A
    return _Ed25519.encode(check) == r_enc


class _Ed25519(object):
    """Edwards-curve arithmetic of RFC 8032 (extended coordinates, a precomputed base table)."""

    P = 2 ** 255 - 19

    L = 2 ** 252 + 27742317777372353535851937790883648493

    # d = -121665/121666, 2d, sqrt(-1) = 2^((p-1)/4) and the base point's y = 4/5 (mod p),
    # written out: computing them costs ~1 ms of every start-up (three modular
    # exponentiations); tests/test_signatures_rfc8032.py recomputes them from the definitions.
    D = 37095705934669439343138083508754565189542113879843219016388785533085940283555  # d

    D2 = 16295367250680780974490674513165176452449235426866156013048779062215315747161  # 2d

    SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752

    BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960  # 4/5

    IDENTITY = (0, 1, 1, 0)

    BASE_TABLE = []  # filled by _ed_base_table() on first use

    @staticmethod
    def expand(seed):
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise UsageError("an Ed25519 seed (private key) is 32 bytes")
        h = hashlib.sha512(seed).digest()
        a = int.from_bytes(h[:32], "little")
        a = (a & ((1 << 254) - 8)) | (1 << 254)  # clamp: multiple of 8, bit 254 set
        return a, h[32:]

    @staticmethod
    def recover_x(y, sign):
        """x for y on the curve with the given low bit, or None (RFC 8032 5.1.3)."""
        p = _Ed25519.P
        yy = y * y % p
        u = (yy - 1) % p
        v = (_Ed25519.D * yy + 1) % p
        v3 = v * v % p * v % p
        x = u * v3 % p * pow(u * v3 % p * v3 % p * v % p, (p - 5) // 8, p) % p
        vxx = v * x % p * x % p
        if vxx == u:
            pass
        elif vxx == (-u) % p:
            x = x * _Ed25519.SQRT_M1 % p
        else:
            return None
        if x == 0 and sign:
            return None  # "-0" is not a canonical encoding
        if x & 1 != sign:
            x = p - x
        return x

    @staticmethod
    def decode(enc):
        """A point from its 32-byte encoding, or None if the encoding is not canonical."""
        n = int.from_bytes(enc, "little")
        y, sign = n & ((1 << 255) - 1), n >> 255
        if y >= _Ed25519.P:
            return None
        x = _Ed25519.recover_x(y, sign)
        if x is None:
            return None
        return (x, y, 1, x * y % _Ed25519.P)

    @staticmethod
    def encode(pt):
        x, y, z, _t = pt
        zi = pow(z, _Ed25519.P - 2, _Ed25519.P)
        x, y = x * zi % _Ed25519.P, y * zi % _Ed25519.P
        return (y | ((x & 1) << 255)).to_bytes(32, "little")

    @staticmethod
    def add(p1, p2):
        """Sum of two extended points (RFC 8032 5.1.4, 'add-2008-hwcd-3')."""
        p = _Ed25519.P
        x1, y1, z1, t1 = p1
        x2, y2, z2, t2 = p2
        a = (y1 - x1) * (y2 - x2) % p
        b = (y1 + x1) * (y2 + x2) % p
        c = t1 * _Ed25519.D2 % p * t2 % p
        d = 2 * z1 * z2 % p
        e, f, g, h = b - a, d - c, d + c, b + a
        return (e * f % p, g * h % p, f * g % p, e * h % p)

    @staticmethod
    def add_cached(p1, c2):
        """p1 + q where c2 = (Y-X, Y+X, 2dT, 2Z) of q (precomputed, saves multiplications)."""
        p = _Ed25519.P
        x1, y1, z1, t1 = p1
        ymx, ypx, t2d, z2 = c2
        a = (y1 - x1) * ymx % p
        b = (y1 + x1) * ypx % p
        c = t1 * t2d % p
        d = z1 * z2 % p
        e, f, g, h = b - a, d - c, d + c, b + a
        return (e * f % p, g * h % p, f * g % p, e * h % p)

    @staticmethod
    def double(p1):
        """2*p1 ('dbl-2008-hwcd'); T of the input is not used."""
        p = _Ed25519.P
        x1, y1, z1, _t = p1
        a = x1 * x1 % p
        b = y1 * y1 % p
        c = 2 * z1 * z1 % p
        h = a + b
        e = h - (x1 + y1) * (x1 + y1) % p
        g = a - b
        f = c + g
        return (e * f % p, g * h % p, f * g % p, e * h % p)

    @staticmethod
    def cached(pt):
        x, y, z, t = pt
        return ((y - x) % _Ed25519.P, (y + x) % _Ed25519.P, t * _Ed25519.D2 % _Ed25519.P, 2 * z % _Ed25519.P)

    @staticmethod
    def neg_cached(c):
        return (c[1], c[0], (-c[2]) % _Ed25519.P, c[3])

    @staticmethod
    def radix16(s):
        """Signed radix-16 digits (-8..8) of 0 <= s < 2^253, least significant first."""
        digits = [(s >> (4 * i)) & 15 for i in range(64)]
        for i in range(63):
            carry = (digits[i] + 8) >> 4
            digits[i] -= carry << 4
            digits[i + 1] += carry
        return digits

    @staticmethod
    def base_table():
        if not _Ed25519.BASE_TABLE:
            x = _Ed25519.recover_x(_Ed25519.BY, 0)
            point = (x, _Ed25519.BY, 1, x * _Ed25519.BY % _Ed25519.P)
            table = []
            for _i in range(64):
                row, multiple = [], point
                for _j in range(8):  # row[j-1] = j * 16^i * B
                    row.append(_Ed25519.cached(multiple))
                    multiple = _Ed25519.add(multiple, point)
                table.append(row)
                for _k in range(4):
                    point = _Ed25519.double(point)
            _Ed25519.BASE_TABLE[:] = table
        return _Ed25519.BASE_TABLE

    @staticmethod
    def base_mult(s):
        """[s]B."""
        table = _Ed25519.base_table()
        acc = _Ed25519.IDENTITY
        for i, digit in enumerate(_Ed25519.radix16(s % _Ed25519.L)):
            if digit > 0:
                acc = _Ed25519.add_cached(acc, table[i][digit - 1])
            elif digit < 0:
                acc = _Ed25519.add_cached(acc, _Ed25519.neg_cached(table[i][-digit - 1]))
        return acc

    @staticmethod
    def double_scalar_mult(s, k, point):
        """[s]B - [k]point, s and k reduced mod L (variable time: public data only)."""
        neg = []  # neg[j-1] = -(j * point), cached
        multiple = point
        for _j in range(8):
            neg.append(_Ed25519.neg_cached(_Ed25519.cached(multiple)))
            multiple = _Ed25519.add(multiple, point)
        acc = _Ed25519.IDENTITY
        for digit in reversed(_Ed25519.radix16(k)):
            if acc is not _Ed25519.IDENTITY:
                acc = _Ed25519.double(_Ed25519.double(_Ed25519.double(_Ed25519.double(acc))))
            if digit > 0:
                acc = _Ed25519.add_cached(acc, neg[digit - 1])
            elif digit < 0:
                acc = _Ed25519.add_cached(acc, _Ed25519.neg_cached(neg[-digit - 1]))
        table = _Ed25519.base_table()
        for i, digit in enumerate(_Ed25519.radix16(s)):
            if digit > 0:
                acc = _Ed25519.add_cached(acc, table[i][digit - 1])
            elif digit < 0:
                acc = _Ed25519.add_cached(acc, _Ed25519.neg_cached(table[i][-digit - 1]))
        return acc

    @staticmethod
    def is_small_order(pt):
        """True for the 8 points of order dividing 8 (the identity among them)."""
        x, y, z, _t = _Ed25519.double(_Ed25519.double(_Ed25519.double(pt)))
        return x % _Ed25519.P == 0 and (y - z) % _Ed25519.P == 0


class _Ssh(object):
    """The SSH wire format, PEM-style armor, OpenSSH key files and SSHSIG blobs."""

    # ---- SSH wire format, armor, keys ------------------------------------------------

    SSHSIG_MAGIC = b"SSHSIG"

    SSHSIG_VERSION = 1

    SSHSIG_BEGIN = "-----BEGIN SSH SIGNATURE-----"

    SSHSIG_END = "-----END SSH SIGNATURE-----"

    OPENSSH_KEY_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"

    OPENSSH_KEY_END = "-----END OPENSSH PRIVATE KEY-----"

    OPENSSH_KEY_MAGIC = b"openssh-key-v1\x00"

    SIG_TEXT_LIMIT = 1 << 20  # an armored signature is ~300 bytes; refuse megabytes

    SIG_CERT_SUFFIX = "-cert-v01@openssh.com"

    B64_RE = _LazyRegex(r"\A[A-Za-z0-9+/]*={0,2}\Z")

    class Reader(object):
        """Reads SSH wire values (RFC 4251 uint32 / string) from bytes.

        A length field is checked against the bytes that are really there before any
        slicing, so a hostile length cannot cause a large allocation."""

        def __init__(self, data, error, what):
            self.data, self.pos, self.error, self.what = data, 0, error, what

        def fail(self, message):
            raise self.error("%s: %s" % (self.what, message))

        def u32(self, field):
            if len(self.data) - self.pos < 4:
                self.fail("truncated (reading %s)" % field)
            value = int.from_bytes(self.data[self.pos:self.pos + 4], "big")
            self.pos += 4
            return value

        def string(self, field):
            n = self.u32(field)
            if n > len(self.data) - self.pos:
                self.fail("%s claims %d bytes but only %d remain"
                          % (field, n, len(self.data) - self.pos))
            value = self.data[self.pos:self.pos + n]
            self.pos += n
            return value

        def text(self, field):
            raw = self.string(field)
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.fail("%s is not UTF-8 text" % field)
            if "\x00" in value:
                self.fail("%s contains a NUL character" % field)
            return value

        def rest(self):
            return self.data[self.pos:]

        def done(self, field):
            if self.pos != len(self.data):
                self.fail("%d unexpected bytes after %s" % (len(self.data) - self.pos, field))

    @staticmethod
    def u32(n):
        return n.to_bytes(4, "big")

    @staticmethod
    def ssh_string(b):
        return _Ssh.u32(len(b)) + b

    @staticmethod
    def sig_bytes(data):
        if isinstance(data, str):
            return data.encode("utf-8")
        if isinstance(data, (bytes, bytearray, memoryview)):
            return bytes(data)
        raise TypeError("data to sign or verify must be bytes")

    @staticmethod
    def text_of(value, error, what):
        """str from str or bytes (ASCII armor); anything else is `error`."""
        if isinstance(value, (bytes, bytearray)):
            try:
                return bytes(value).decode("ascii")
            except UnicodeDecodeError:
                raise error("%s is not text (binary data where armored text was expected)"
                            % what) from None
        if not isinstance(value, str):
            raise error("%s is missing" % what)
        return value

    @staticmethod
    def b64decode(text, error, what):
        import binascii
        text = "".join(text.split())
        if len(text) % 4 or not _Ssh.B64_RE.match(text):
            raise error("%s: invalid base64" % what)
        try:
            return binascii.a2b_base64(text)
        except (binascii.Error, ValueError):
            raise error("%s: invalid base64" % what) from None

    @staticmethod
    def armor(blob, begin, end):
        """PEM-like armor with 70-character lines, as ssh-keygen writes it."""
        import binascii
        b64 = binascii.b2a_base64(blob).decode("ascii").strip()
        lines = [begin] + [b64[i:i + 70] for i in range(0, len(b64), 70)] + [end]
        return "\n".join(lines) + "\n"

    @staticmethod
    def dearmor(text, begin, end, error, what):
        """The bytes between `begin` and `end` lines (CRLF tolerated, like OpenSSH)."""
        text = text.replace("\r\n", "\n").strip()
        if not text.startswith(begin + "\n") and text != begin:
            raise error("%s: missing %r header" % (what, begin))
        if not text.endswith("\n" + end):
            raise error("%s: missing %r footer" % (what, end))
        return _Ssh.b64decode(text[len(begin):-len(end)], error, what)

    @staticmethod
    def parse_public_key_line(line, error=UsageError, what="public key"):
        """(key_type, blob, comment) of "ssh-ed25519 AAAA... comment"."""
        parts = line.strip().split(None, 2)
        if len(parts) < 2:
            raise error("%s: expected 'KEYTYPE BASE64 [COMMENT]'" % what)
        key_type, blob = parts[0], _Ssh.b64decode(parts[1], error, what)
        reader = _Ssh.Reader(blob, error, what)
        inner = reader.string("key type")
        if inner != key_type.encode("utf-8", "replace"):
            raise error("%s: the line says %r but the key inside is %r"
                        % (what, key_type, inner.decode("utf-8", "replace")))
        if key_type == "ssh-ed25519":
            if len(reader.string("ed25519 public key")) != 32:
                raise error("%s: an ssh-ed25519 key is 32 bytes" % what)
            reader.done("the key")
        return key_type, blob, parts[2] if len(parts) > 2 else ""

    @staticmethod
    def parse_openssh_private_key(text):
        """(seed, public, comment) of an unencrypted OpenSSH ed25519 private key file text.

        PROTOCOL.key: "openssh-key-v1\\0", cipher, kdf, kdf options, number of keys, public
        key blobs, then the (here unencrypted) private section: two equal check integers,
        the key (type, public, seed||public, comment), padding 1, 2, 3, ...  UsageError for
        anything else."""
        what = "private key"
        text = _Ssh.text_of(text, UsageError, what)
        stripped = text.strip()
        if re.match(r"-----BEGIN (RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY-----", stripped):
            raise UsageError(
                "%s: PEM/PKCS#8 keys are not supported, only OpenSSH ed25519 keys" % what,
                hint="create one with: ssh-keygen -t ed25519 -N '' -f streamt-signing-key")
        if stripped.startswith(("ssh-", "ecdsa-", "sk-")):
            raise UsageError("%s: this is a public key line, not a private key" % what,
                             hint="pass the private key file (the one without .pub)")
        blob = _Ssh.dearmor(text, _Ssh.OPENSSH_KEY_BEGIN, _Ssh.OPENSSH_KEY_END, UsageError, what)
        if not blob.startswith(_Ssh.OPENSSH_KEY_MAGIC):
            raise UsageError("%s: not an openssh-key-v1 key" % what)
        r = _Ssh.Reader(blob[len(_Ssh.OPENSSH_KEY_MAGIC):], UsageError, what)
        cipher = r.string("cipher name")
        kdf = r.string("kdf name")
        r.string("kdf options")
        if cipher != b"none" or kdf != b"none":
            raise UsageError(
                "%s is encrypted with a passphrase (%s); streamt cannot ask for passphrases"
                % (what, cipher.decode("ascii", "replace")),
                hint="decrypt a copy, keep it where only the signing job can read it: "
                 "cp KEY KEY.plain && ssh-keygen -p -N '' -f KEY.plain")
        if r.u32("number of keys") != 1:
            raise UsageError("%s: the file must hold exactly one key" % what)
        public_blob = r.string("public key")
        private = _Ssh.Reader(r.string("private section"), UsageError, what)
        r.done("the private section")
        check1, check2 = private.u32("check integer"), private.u32("check integer")
        if check1 != check2:
            raise UsageError("%s: the check integers differ (corrupt, or wrongly decrypted)"
                             % what)
        key_type = private.text("key type")
        if key_type != "ssh-ed25519":
            raise UsageError(
                "%s: %s keys are not supported, streamt signs with ed25519 keys only" % (
                    what, key_type),
                hint="create one with: ssh-keygen -t ed25519 -N '' -f streamt-signing-key")
        pub = private.string("public key")
        secret = private.string("secret key")
        comment = private.text("comment")
        padding = private.rest()
        if len(pub) != 32 or len(secret) != 64 or secret[32:] != pub:
            raise UsageError("%s: malformed ed25519 key (bad key lengths)" % what)
        if public_blob != _Ssh.ssh_string(b"ssh-ed25519") + _Ssh.ssh_string(pub):
            raise UsageError("%s: the public and private parts do not belong together" % what)
        if padding != bytes(range(1, len(padding) + 1)) or len(padding) >= 8:
            raise UsageError("%s: bad padding after the key (corrupt file)" % what)
        seed = secret[:32]
        if ed25519_public_key(seed) != pub:
            raise UsageError("%s: the public key does not match the secret key (corrupt file)"
                             % what)
        return seed, pub, comment

    # ---- SSHSIG ------------------------------------------------------------------------

    @staticmethod
    def sshsig_signed_data(namespace, hash_alg, digest):
        """What the key really signs (PROTOCOL.sshsig): magic, namespace, reserved, hash, H(m)."""
        return b"".join([_Ssh.SSHSIG_MAGIC, _Ssh.ssh_string(namespace.encode("utf-8")), _Ssh.ssh_string(b""),
                         _Ssh.ssh_string(hash_alg.encode("ascii")), _Ssh.ssh_string(digest)])

    @staticmethod
    def parse_sshsig(signature_text):
        """The fields of an armored SSHSIG signature; IntegrityError when malformed."""
        what = "signature"
        text = _Ssh.text_of(signature_text, IntegrityError, what)
        if len(text) > _Ssh.SIG_TEXT_LIMIT:
            raise IntegrityError("%s: %d bytes, far too large for an SSH signature"
                                 % (what, len(text)))
        if not text.strip():
            raise IntegrityError("%s: the signature file is empty" % what)
        blob = _Ssh.dearmor(text, _Ssh.SSHSIG_BEGIN, _Ssh.SSHSIG_END, IntegrityError, what)
        r = _Ssh.Reader(blob, IntegrityError, what)
        if blob[:6] != _Ssh.SSHSIG_MAGIC:
            raise IntegrityError("%s: not an SSHSIG blob (bad magic)" % what)
        r.pos = 6
        version = r.u32("version")
        if version != _Ssh.SSHSIG_VERSION:
            raise IntegrityError("%s: unsupported SSHSIG version %d (expected 1)" % (what, version))
        key_blob = r.string("public key")
        namespace = r.text("namespace")
        reserved = r.string("reserved")
        hash_alg = r.text("hash algorithm")
        sig_blob = r.string("signature")
        r.done("the signature")
        if reserved:
            raise IntegrityError("%s: the reserved field is not empty" % what)
        if not namespace:
            raise IntegrityError("%s: empty namespace" % what)
        if hash_alg not in ("sha256", "sha512"):
            raise IntegrityError("%s: unsupported hash algorithm %r (sha256 or sha512)"
                                 % (what, hash_alg))
        kr = _Ssh.Reader(key_blob, IntegrityError, what + " key")
        key_type = kr.text("key type")
        public = None
        if key_type == "ssh-ed25519":
            public = kr.string("ed25519 key")
            kr.done("the key")
            if len(public) != 32:
                raise IntegrityError("%s: an ed25519 public key is 32 bytes, not %d"
                                     % (what, len(public)))
        sr = _Ssh.Reader(sig_blob, IntegrityError, what)
        sig_type = sr.text("signature type")
        raw = sr.string("signature bytes")
        sr.done("the signature bytes")
        if key_type == "ssh-ed25519":
            if sig_type != "ssh-ed25519":
                raise IntegrityError("%s: an ed25519 key with a %r signature" % (what, sig_type))
            if len(raw) != 64:
                raise IntegrityError("%s: an ed25519 signature is 64 bytes, not %d"
                                     % (what, len(raw)))
        return {"version": version, "key_blob": key_blob, "key_type": key_type,
                "public": public, "namespace": namespace, "hash": hash_alg,
                "sig_type": sig_type, "signature": raw}

    @staticmethod
    def sshsig_check_key_type(sig):
        key_type = sig["key_type"]
        if key_type.endswith(_Ssh.SIG_CERT_SUFFIX):
            raise IntegrityError(
                "the signature was made with an SSH certificate (%s); streamt does not "
            "support certificates" % key_type,
                hint="sign with the plain ed25519 key and list it in allowed_signers")
        if key_type != "ssh-ed25519":
            raise IntegrityError(
                "the signature was made with an %s key; streamt verifies ed25519 signatures only"
                % key_type,
                hint="sign with an ed25519 key: ssh-keygen -t ed25519 -N '' -f KEY")


class _AllowedSigners(object):
    """ssh-keygen's allowed_signers file: principals, options, validity, pattern lists."""

    # ---- allowed_signers ------------------------------------------------------------

    @staticmethod
    def parse(text, source_name="allowed_signers"):
        """Entries of an allowed_signers file (ssh-keygen(1), ALLOWED SIGNERS).

        Each non-comment line: principals [options] keytype base64 [comment].  Returns
        [{"line", "principals", "cert_authority", "namespaces", "valid_after",
        "valid_before", "key_type", "key_blob"}]; times are POSIX seconds or None.
        UsageError (with file:line) for a malformed line."""
        text = _Ssh.text_of(text, UsageError, source_name)
        if text.startswith("\ufeff"):  # a byte-order mark left by a Windows editor
            text = text[1:]
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            rest = line.strip()
            if not rest or rest.startswith("#"):
                continue
            loc = Location(source_name, number)
            principals, rest = _AllowedSigners.principals_token(rest, loc)
            if _AllowedSigners.looks_like_key(principals):
                raise UsageError("allowed_signers line starts with a key, not with principals",
                                 location=loc,
                                 hint="put who may sign in front of the key, e.g. "
                                  "'ci@example.com %s AAAA...'" % principals)
            if not rest:
                raise UsageError("allowed_signers line has no key", location=loc,
                                 hint="format: PRINCIPALS [OPTIONS] ssh-ed25519 AAAA...")
            options = {"cert_authority": False, "namespaces": None,
                       "valid_after": None, "valid_before": None}
            first = rest.split(None, 1)[0]
            if not _AllowedSigners.looks_like_key(first):
                opts, rest = _AllowedSigners.options_token(rest, loc)
                _AllowedSigners.parse_options(opts, options, loc)
            try:
                key_type, blob, _comment = _Ssh.parse_public_key_line(
                    rest, UsageError, "allowed_signers key")
            except UsageError as e:
                raise UsageError(e.message, location=loc,
                                 hint="format: PRINCIPALS [OPTIONS] ssh-ed25519 AAAA...") from None
            entry = {"line": number, "principals": principals, "key_type": key_type,
                     "key_blob": blob}
            entry.update(options)
            entries.append(entry)
        return entries

    @staticmethod
    def looks_like_key(word):
        return word in ("ssh-ed25519", "ssh-rsa", "ssh-dss") or word.startswith(
            ("ecdsa-sha2-", "sk-", "ssh-ed25519-", "ssh-rsa-", "ssh-ed448"))

    @staticmethod
    def principals_token(rest, loc):
        """The principals field: up to whitespace, or a "double-quoted" string."""
        if rest.startswith('"'):
            end = rest.find('"', 1)
            if end < 0:
                raise UsageError("allowed_signers: unterminated quoted principals", location=loc)
            return rest[1:end], rest[end + 1:].lstrip()
        parts = rest.split(None, 1)
        return parts[0], parts[1] if len(parts) > 1 else ""

    @staticmethod
    def options_token(rest, loc):
        """The options field: up to the first whitespace outside double quotes."""
        quoted = False
        for i, ch in enumerate(rest):
            if ch == '"':
                quoted = not quoted
            elif ch in " \t" and not quoted:
                return rest[:i], rest[i:].lstrip()
        if quoted:
            raise UsageError("allowed_signers: unterminated quote in options", location=loc)
        raise UsageError("allowed_signers line has options but no key", location=loc,
                         hint="format: PRINCIPALS [OPTIONS] ssh-ed25519 AAAA...")

    @staticmethod
    def parse_options(opts, options, loc):
        """cert-authority, namespaces="...", valid-after="...", valid-before="..." (values
        must be double-quoted, as OpenSSH requires; keywords are case-insensitive)."""
        pos = 0
        while pos < len(opts):
            lower = opts[pos:].lower()
            if lower.startswith("cert-authority"):
                options["cert_authority"] = True
                pos += len("cert-authority")
            else:
                for name in ("namespaces", "valid-after", "valid-before"):
                    if lower.startswith(name + "="):
                        break
                else:
                    raise UsageError("allowed_signers: unknown option %r"
                                     % opts[pos:].split(",", 1)[0], location=loc,
                                     hint="known options: cert-authority, namespaces=\"...\", "
                                      "valid-after=\"...\", valid-before=\"...\"")
                key = name.replace("-", "_")
                pos += len(name) + 1
                if not opts.startswith('"', pos):
                    raise UsageError("allowed_signers: the value of %s must be in double quotes"
                                     % name, location=loc,
                                     hint='e.g. %s="%s"' % (name, "streamt" if key ==
                                                             "namespaces" else "20260101Z"))
                end = opts.find('"', pos + 1)
                if end < 0:
                    raise UsageError("allowed_signers: missing end quote in %s" % name,
                                     location=loc)
                value = opts[pos + 1:end]
                pos = end + 1
                if options[key] is not None:
                    raise UsageError("allowed_signers: multiple %s options" % name, location=loc)
                options[key] = value if key == "namespaces" else _AllowedSigners.parse_time(value, name, loc)
            if pos < len(opts):
                if opts[pos] != ",":
                    raise UsageError("allowed_signers: malformed options %r" % opts, location=loc)
                pos += 1
                if pos == len(opts):
                    raise UsageError("allowed_signers: options end with a comma", location=loc)
        if (options["valid_after"] is not None and options["valid_before"] is not None
                and options["valid_before"] <= options["valid_after"]):
            raise UsageError("allowed_signers: valid-before is not after valid-after",
                             location=loc)

    @staticmethod
    def parse_time(value, name, loc):
        """YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z] (also a "UTC" suffix) to POSIX seconds.

        Without Z the time is local, as OpenSSH reads it (mktime)."""
        import time
        utc = False
        digits = value
        if len(digits) > 1 and digits[-1:] in ("Z", "z"):
            utc, digits = True, digits[:-1]
        elif len(digits) > 3 and digits[-3:].upper() == "UTC":
            utc, digits = True, digits[:-3]
        bad = UsageError("allowed_signers: invalid %s time %r" % (name, value), location=loc,
                         hint="use YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z] (Z: UTC, else local time)")
        if len(digits) not in (8, 12, 14) or not re.match(r"\A[0-9]+\Z", digits):
            raise bad
        fields = [int(digits[0:4]), int(digits[4:6]), int(digits[6:8])]
        fields += [int(digits[i:i + 2]) for i in range(8, len(digits), 2)]
        fields += [0] * (6 - len(fields))
        try:
            moment = datetime.datetime(*fields)
        except ValueError:
            raise bad from None
        if utc:
            seconds = (moment - datetime.datetime(1970, 1, 1)).total_seconds()
        else:
            try:
                seconds = time.mktime(moment.timetuple())
            except (OverflowError, ValueError):
                raise bad from None
        seconds = int(seconds)
        if seconds == 0:  # OpenSSH reads 0 as "not set" and refuses it
            raise bad
        return seconds

    @staticmethod
    def match_pattern(value, pattern):
        """OpenSSH match_pattern: `*` any run, `?` one character, the rest literal.

        A set of pattern positions is advanced character by character (linear time, no
        backtracking however many `*` a pattern has); an empty pattern matches only ""."""
        size = len(pattern)

        def closure(states):
            out = set()
            for i in states:
                out.add(i)
                while i < size and pattern[i] == "*":
                    i += 1
                    out.add(i)
            return out

        states = closure({0})
        for ch in value:
            following = set()
            for i in states:
                if i < size:
                    if pattern[i] == "*":
                        following.add(i)
                    elif pattern[i] == "?" or pattern[i] == ch:
                        following.add(i + 1)
            states = closure(following)
            if not states:
                return False
        return size in states

    @staticmethod
    def match_pattern_list(value, patterns):
        """OpenSSH match_pattern_list: True if a pattern matches and no !negated one does."""
        positive = False
        for pattern in patterns.split(","):
            negated = pattern.startswith("!")
            if _AllowedSigners.match_pattern(value, pattern[1:] if negated else pattern):
                if negated:
                    return False
                positive = True
        return positive

    @staticmethod
    def format_time(seconds):
        moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")

    @staticmethod
    def match(entries, key_blob, fingerprint, principal, namespace, now, name):
        """The first entry that trusts key_blob for principal/namespace/now (as ssh-keygen)."""
        reasons = []
        for e in entries:
            if principal is not None and not _AllowedSigners.match_pattern_list(principal, e["principals"]):
                if e["key_blob"] == key_blob and not e["cert_authority"]:
                    reasons.append("line %d lists this key for %r, not for %r"
                                   % (e["line"], e["principals"], principal))
                continue
            if e["key_blob"] != key_blob:
                if e["cert_authority"]:
                    reasons.append("line %d trusts a certificate authority; streamt does not "
                               "support SSH certificates (list the signer's own key)"
                                   % e["line"])
                continue
            if e["cert_authority"]:
                reasons.append("line %d trusts this key as a cert-authority only; streamt does "
                           "not support SSH certificates (list the key without "
                           "cert-authority)" % e["line"])
                continue
            if e["namespaces"] is not None and not _AllowedSigners.match_pattern_list(namespace, e["namespaces"]):
                reasons.append("line %d allows this key only for namespaces %r, not %r"
                               % (e["line"], e["namespaces"], namespace))
                continue
            if e["valid_after"] is not None and now < e["valid_after"]:
                reasons.append("line %d: the key is not valid before %s"
                               % (e["line"], _AllowedSigners.format_time(e["valid_after"])))
                continue
            if e["valid_before"] is not None and now > e["valid_before"]:
                reasons.append("line %d: the key expired at %s"
                               % (e["line"], _AllowedSigners.format_time(e["valid_before"])))
                continue
            return e
        who = "" if principal is None else " for principal %r" % principal
        # The reasons go into the message itself (callers may show only the message); with
        # several, the first is in the message and all of them are in the details.
        why = ": " + reasons[0] if reasons else ""
        more = list(reasons) if len(reasons) > 1 else []
        if len(reasons) > 1:
            why += " (and %d more)" % (len(reasons) - 1)
        if not reasons or all("certificate authority" in r for r in reasons):
            raise IntegrityError("the signing key %s is not in %s%s%s"
                                 % (fingerprint, name, who, why), details=more,
                                 hint="add a line 'PRINCIPAL ssh-ed25519 AAAA...' with the "
                                  "signer's public key (`ssh-keygen -y -f KEY` prints it) "
                                  "to %s" % name)
        raise IntegrityError("the signing key %s is not trusted%s by %s%s"
                             % (fingerprint, who, name, why), details=more,
                             hint="ask the owner of %s to add or renew the key" % name)


###############################################################################
# Tar & gzip ##################################################################
###############################################################################

__all__ += ["ARTIFACT_MAX_MEMBER", "ARTIFACT_MAX_TOTAL", "ARTIFACT_MAX_MEMBERS",
            "deterministic_tar", "Archive"]


# Limits when reading an artifact we did not write (a hostile tarball must not
# exhaust memory): per member, in total (uncompressed), and the number of members.
ARTIFACT_MAX_MEMBER = 64 * 1024 * 1024
ARTIFACT_MAX_TOTAL = 512 * 1024 * 1024
ARTIFACT_MAX_MEMBERS = 20000


def deterministic_tar(files, mtime=0, file_mode=0o644, dir_mode=0o755):
    """An uncompressed ustar archive of `files` ({posix path: bytes}), byte-identical on
    every Python: entries sorted (each directory before its contents), the given mtime,
    uid/gid 0, no owner names, fixed modes, padded to 10240-byte records like GNU tar.

    Written by hand rather than with tarfile, whose header details changed between
    Python versions (e.g. 3.8's default format); tarfile and GNU tar read it."""
    return b"".join(Archive.tar_chunks(files, mtime, file_mode, dir_mode))


class Archive(object):
    """The ustar writer and gzip member behind deterministic_tar(), and the bounded reader of tar, tar.gz and tar.xz archives."""

    @staticmethod
    def tar_chunks(files, mtime, file_mode, dir_mode):
        """deterministic_tar's archive as the list of its pieces in order (headers, file
        contents, padding, end of archive): write_artifact streams them to the compressor
        or the file rather than making one more copy of the whole archive."""
        # every parent directory of every file; once a directory is known, so are its
        # parents (they were added with it), so the walk up can stop there
        dirs = set()
        for p in files:
            i = p.rfind("/")
            while i != -1:
                d = p[:i]
                if d in dirs:
                    break
                dirs.add(d)
                i = p.rfind("/", 0, i)
        # sorted by (path parts, is a file): each directory before its contents; the sort
        # keys are distinct (a path is a file or a directory), so the tuples' other items
        # are never compared
        entries = [((d.split("/"), False), d + "/", None) for d in dirs]
        entries += [((p.split("/"), True), p, files[p]) for p in files]
        entries.sort()
        dir_header = Archive.UstarHeaders(mtime, dir_mode, b"5")
        file_header = Archive.UstarHeaders(mtime, file_mode, b"0")
        chunks = []
        append = chunks.append
        for _parts, name, data in entries:
            if data is None:
                append(dir_header.header(name, 0))
            else:
                n = len(data)
                append(file_header.header(name, n))
                append(data)
                if n % 512:
                    append(Archive.NULS[:512 - n % 512])
        chunks.append(b"\0" * 1024)
        size = sum(map(len, chunks))
        if size % 10240:
            chunks.append(b"\0" * (10240 - size % 10240))
        return chunks

    NULS = b"\0" * 512

    class UstarHeaders(object):
        """_ustar_header for one (mtime, mode, typeflag), from a template: the fields that
        do not change are encoded once, and so is their share of the header checksum
        (the sum of the header's bytes with the checksum field read as 8 spaces; NUL
        padding adds nothing). Any field too wide for its place (a huge size or mtime)
        goes to _ustar_header itself, which writes what it always wrote."""

        def __init__(self, mtime, mode, typeflag):
            self.args = (mtime, mode, typeflag)
            ids = Archive.ustar_octal(mode, 8) + Archive.ustar_octal(0, 8) + Archive.ustar_octal(0, 8)
            when = Archive.ustar_octal(mtime, 12)
            rest = (typeflag + b"\0" * 100 + b"ustar\x00" + b"00" + b"\0" * 32 + b"\0" * 32
                    + Archive.ustar_octal(0, 8) + Archive.ustar_octal(0, 8))
            self.ok = len(ids) == 24 and len(when) == 12 and len(rest) == 189
            self.base = sum(ids) + sum(when) + 8 * 32 + sum(rest)
            # the whole header as one bytes format: name (padded to 100), the size field's
            # 11 digits, the checksum (6 octal digits, NUL, space); the fixed fields inline
            self.format = (b"%s" + ids.replace(b"%", b"%%") + b"%s\0" + when.replace(b"%", b"%%")
                           + b"%06o\0 " + (rest + Archive.NULS[:167]).replace(b"%", b"%%"))

        def header(self, name, size):
            raw = name.encode("utf-8")
            digits = b"%011o" % size
            if len(raw) > 100 or len(digits) != 11 or not self.ok:
                return Archive.ustar_header(name, size, *self.args)
            return self.format % (raw.ljust(100, b"\0"), digits,
                                  self.base + sum(raw) + sum(digits))

    @staticmethod
    def ustar_octal(value, width):
        return ("%0*o" % (width - 1, value)).encode("ascii") + b"\0"

    @staticmethod
    def ustar_header(name, size, mtime, mode, typeflag):
        raw = name.encode("utf-8")
        prefix = b""
        if len(raw) > 100:
            cut = raw.rfind(b"/", 0, 156)
            if cut <= 0 or len(raw) - cut - 1 > 100:
                raise StreamtError("path too long for the artifact: %s" % name)
            prefix, raw = raw[:cut], raw[cut + 1:]

        def octal(value, width):
            return ("%0*o" % (width - 1, value)).encode("ascii") + b"\0"
        fields = [
            raw.ljust(100, b"\0"), octal(mode, 8), octal(0, 8), octal(0, 8), octal(size, 12),
            octal(mtime, 12), b" " * 8, typeflag, b"\0" * 100, b"ustar\x00", b"00",
            b"\0" * 32, b"\0" * 32, octal(0, 8), octal(0, 8), prefix.ljust(155, b"\0"),
            b"\0" * 12]
        header = bytearray(b"".join(fields))
        header[148:156] = ("%06o" % sum(header)).encode("ascii") + b"\0 "
        return bytes(header)

    @staticmethod
    def compress(tar, kind):
        return b"".join(Archive.compress_chunks([tar], kind))

    @staticmethod
    def compress_chunks(chunks, kind):
        """The pieces of the `kind` ("tar", "tar.gz", "tar.xz") file of the tar archive whose
        pieces are `chunks` (_tar_chunks): the archive itself is never joined for gzip."""
        if kind == "tar":
            return chunks
        if kind == "tar.xz":
            import lzma
            return [lzma.compress(b"".join(chunks), format=lzma.FORMAT_XZ,
                                  check=lzma.CHECK_CRC64, preset=6)]
        import zlib
        # gzip (RFC 1952) written by hand around one raw deflate stream, so that the header
        # is the same on every Python: no file name, mtime 0, XFL 0 (GzipFile writes XFL 2
        # for every level on 3.6, 0 for level 6 from 3.7 on), OS 255 (unknown), as GzipFile
        # writes it. Level 6 (zlib's default) rather than 9: it compresses the
        # tar of 1,000 models about twice as fast for ~4% more bytes. The deflate stream is
        # GzipFile's own (compressobj with -MAX_WBITS); the uncompressed tar is unchanged.
        # The archive is fed in blocks of about 1 MiB: deflate writes the same stream
        # however its input is cut (it waits for more input before it decides anything;
        # tests/test_artifact_fast.py checks it), and the CRC-32 is continued block by block.
        deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS, zlib.DEF_MEM_LEVEL, 0)
        out = [Archive.GZIP_HEADER]
        crc = 0
        size = 0
        batch = []
        batch_size = 0
        for chunk in chunks:
            batch.append(chunk)
            batch_size += len(chunk)
            if batch_size >= 1 << 20:
                block = b"".join(batch)
                crc = zlib.crc32(block, crc)
                out.append(deflate.compress(block))
                size += batch_size
                batch = []
                batch_size = 0
        block = b"".join(batch)
        crc = zlib.crc32(block, crc)
        out.append(deflate.compress(block))
        size += batch_size
        out.append(deflate.flush())
        out.append((crc & 0xFFFFFFFF).to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little"))
        return out

    # magic, method deflate, no flags, mtime 0 (4 bytes), XFL 0, OS 255 (unknown)
    GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

    # -- helpers: reading ---------------------------------------------------------------
    #
    # The reader parses ustar, pax and GNU long names itself, from a stream of
    # decompressed bytes that is never held whole: tarfile's pax parsing is quadratic on
    # CPython <= 3.12, builds GNU sparse maps of any size, and accepts trailing data on
    # some versions and not others.  Here the interpreter's version decides nothing:
    # every extended header is capped, gzip members are capped, sparse members and data
    # after the end of the archive (or of the xz stream) are refused, and work is linear
    # in the input.  Memory: the members kept (at most ARTIFACT_MAX_TOTAL), plus one
    # member's copy while it is read (at most ARTIFACT_MAX_MEMBER).

    MAX_EXTENDED_HEADER = 64 * 1024  # a pax or GNU long-name header
    MAX_GZIP_MEMBERS = 1000
    CHUNK = 1 << 20  # decompressed bytes produced per step
    FEED = 64 * 1024  # compressed bytes fed per step
    REGULAR = (b"0", b"\0", b"7")
    NO_DATA = (b"1", b"2", b"3", b"4", b"5", b"6")  # links, devices, directories, fifos

    @staticmethod
    def read_limited(stream, label):
        data = stream.read(ARTIFACT_MAX_TOTAL + 1)
        if len(data) > ARTIFACT_MAX_TOTAL:
            raise IntegrityError("%s: larger than %d MiB, refused" % (
                label, ARTIFACT_MAX_TOTAL // (1024 * 1024)))
        return data

    @staticmethod
    def decompressed(data, kind, label):
        """The decompressed bytes of `data` in pieces of at most CHUNK, in linear time, never
        more than ARTIFACT_MAX_TOTAL in all (gzip and xz bombs stop there)."""
        import zlib
        limit = ARTIFACT_MAX_TOTAL
        total = 0
        try:
            for piece in Archive.inflate(data, kind, label):
                total += len(piece)
                if total > limit:
                    raise Archive.TooBig()
                if piece:
                    yield piece
        except Archive.TooBig:
            raise IntegrityError("%s: decompresses to more than %d MiB, refused" % (
                label, limit // (1024 * 1024)))
        except (zlib.error, EOFError, OSError, ValueError) as e:
            if isinstance(e, StreamtError):
                raise
            raise IntegrityError("%s: corrupt compressed data: %s" % (label, e))
        except Exception as e:  # lzma.LZMAError
            if isinstance(e, StreamtError):
                raise
            raise IntegrityError("%s: corrupt compressed data: %s" % (label, e))

    @staticmethod
    def inflate(data, kind, label):
        view = memoryview(data)
        size = len(data)
        chunk, feed = Archive.CHUNK, Archive.FEED
        if kind == "tar":
            for pos in range(0, size, chunk):
                yield bytes(view[pos:pos + chunk])
            return
        not_nul = re.compile(b"[^\0]")
        pos = 0
        if kind == "tar.gz":
            import zlib
            members = 0
            while True:
                # members one after another, NUL padding between them (as gzip(1) reads);
                # each step copies at most FEED bytes, so the work is linear
                found = not_nul.search(data, pos)
                if found is None:
                    return
                pos = found.start()
                members += 1
                if members > Archive.MAX_GZIP_MEMBERS:
                    raise IntegrityError("%s: more than %d gzip members, refused" % (
                        label, Archive.MAX_GZIP_MEMBERS))
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                while not d.eof:
                    if d.unconsumed_tail:
                        yield d.decompress(d.unconsumed_tail, chunk)
                    elif pos < size:
                        piece = view[pos:pos + feed]
                        pos += len(piece)
                        yield d.decompress(piece, chunk)
                    else:
                        raise IntegrityError("%s: truncated gzip data" % label)
                pos -= len(d.unused_data)
        import lzma
        d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        while not d.eof:
            if not d.needs_input:
                yield d.decompress(b"", chunk)
            elif pos < size:
                piece = view[pos:pos + feed]
                pos += len(piece)
                yield d.decompress(piece, chunk)
            else:
                raise IntegrityError("%s: truncated xz data" % label)
        if d.unused_data.strip(b"\0") or not_nul.search(data, pos):
            raise IntegrityError("%s: data after the end of the xz stream, refused" % label)

    class TooBig(Exception):
        pass

    class BadTar(Exception):
        pass

    class Stream(object):
        """read(n) / skip(n) over the pieces of decompressed(): short only at the end."""

        def __init__(self, pieces):
            self.pieces = pieces
            self.piece = b""
            self.at = 0

        def take(self, n, keep):
            parts = []
            self.got = 0
            while n:
                left = len(self.piece) - self.at
                if not left:
                    self.piece = next(self.pieces, b"")
                    self.at = 0
                    if not self.piece:
                        break
                    continue
                k = min(left, n)
                if keep:
                    parts.append(self.piece[self.at:self.at + k])
                self.at += k
                self.got += k
                n -= k
            return parts

        def read(self, n):
            parts = self.take(n, True)
            return parts[0] if len(parts) == 1 else b"".join(parts)

        def skip(self, n):
            """The number of bytes skipped: fewer than n only at the end."""
            self.take(n, False)
            return self.got

        def rest_is_nul(self):
            if self.piece[self.at:].strip(b"\0"):
                return False
            for piece in self.pieces:
                if piece.strip(b"\0"):
                    return False
            return True

    @staticmethod
    def number(field):
        """A numeric header field: octal digits (NUL/space padded) or GNU base-256."""
        if field[:1] in (b"\x80", b"\xff"):
            value = int.from_bytes(field[1:], "big")
            return value - (1 << (8 * len(field) - 8)) if field[:1] == b"\xff" else value
        text = field.split(b"\0", 1)[0].strip()
        if not text:
            return 0
        if text.strip(b"01234567"):
            raise Archive.BadTar("invalid number %r in a tar header" % text)
        return int(text, 8)

    @staticmethod
    def header_fields(block):
        """(name, typeflag, size, linkname) of a 512-byte ustar/GNU header; BadTar when its
        checksum or a number is wrong."""
        import struct
        want = Archive.number(block[148:156])
        unsigned = 256 + sum(block[:148]) + sum(block[156:])
        if want != unsigned and want != 256 + sum(struct.unpack("148b8x356b", block)):
            raise Archive.BadTar("bad tar header checksum")
        name = block[:100].split(b"\0", 1)[0]
        if block[257:263] == b"ustar\0":  # POSIX: a prefix field (GNU uses it otherwise)
            prefix = block[345:500].split(b"\0", 1)[0]
            if prefix:
                name = prefix + b"/" + name
        return (name, block[156:157], Archive.number(block[124:136]),
                block[157:257].split(b"\0", 1)[0])

    @staticmethod
    def pax_records(data):
        """The records of a pax extended header ({keyword: bytes}), parsed in one linear pass
        ("<length> <keyword>=<value>\\n" each)."""
        out = {}
        pos, size = 0, len(data)
        while pos < size and data[pos:pos + 1] != b"\0":
            space = data.find(b" ", pos, pos + 12)
            digits = data[pos:space] if space > pos else b""
            if not digits.isdigit():
                raise Archive.BadTar("malformed pax header")
            end = pos + int(digits)
            if end <= space + 2 or end > size or data[end - 1:end] != b"\n":
                raise Archive.BadTar("malformed pax header record")
            record = data[space + 1:end - 1]
            eq = record.find(b"=")
            if eq <= 0:
                raise Archive.BadTar("malformed pax header record")
            out[record[:eq].decode("utf-8", "surrogateescape")] = record[eq + 1:]
            pos = end
        return out

    @staticmethod
    def tar_members(stream, label, problems):
        """(name, typeflag, size, linkname) of each member of the tar on `stream`, pax and
        GNU long names applied; the caller reads or skips each member's data (size bytes,
        the padding is skipped here).  Stops at the end of the archive or the first
        problem (appended to `problems`)."""
        pending = {}  # what the extended headers before a member say of it
        extended = 0
        first = True
        while True:
            block = stream.read(512)
            if not block:
                return  # no end-of-archive blocks: tarfile reads such archives too
            if len(block) < 512:
                problems.append("truncated tar header")
                return
            if not block.strip(b"\0"):
                if not stream.rest_is_nul():
                    problems.append("data after the end of the tar archive")
                return
            try:
                name, flag, size, link = Archive.header_fields(block)
            except Archive.BadTar as e:
                if first:
                    raise IntegrityError("%s: not an artifact tarball (%s)" % (label, e),
                                         hint="give a directory, .tar.gz, .tar.xz or .tar "
                                              "written by `streamt build`")
                problems.append("corrupt tar data: %s" % e)
                return
            first = False
            padded = size + (-size % 512)
            if flag in (b"x", b"g", b"L", b"K"):
                extended += 1
                if size > Archive.MAX_EXTENDED_HEADER or extended > ARTIFACT_MAX_MEMBERS:
                    problems.append("an extended header of %d bytes (at most %d) or more than "
                                    "%d of them, refused" % (size, Archive.MAX_EXTENDED_HEADER,
                                                              ARTIFACT_MAX_MEMBERS))
                    return
                data = stream.read(padded)
                if len(data) < padded:
                    problems.append("truncated extended header")
                    return
                data = data[:size]
                if flag in (b"L", b"K"):
                    pending["path" if flag == b"L" else "linkpath"] = data.split(b"\0", 1)[0]
                    continue
                try:
                    records = Archive.pax_records(data)
                except Archive.BadTar as e:
                    problems.append("corrupt tar data: %s" % e)
                    return
                if any(k.startswith("GNU.sparse.") for k in records):
                    problems.append("GNU sparse members are not allowed")
                    return
                if flag == b"g":
                    if set(records) & set(["path", "linkpath", "size"]):
                        problems.append("a global pax header may not set path, linkpath or size")
                        return
                    continue
                pending.update(records)
                continue
            if flag == b"S":
                problems.append("GNU sparse members are not allowed")
                return
            name = pending.get("path", name)
            link = pending.get("linkpath", link)
            if "size" in pending:
                digits = pending["size"]
                if not digits.isdigit() or len(digits) > 18:
                    problems.append("invalid size %r in a pax header" % (
                        digits[:20].decode("latin-1"),))
                    return
                size = int(digits)
                padded = size + (-size % 512)
            pending = {}
            if size < 0:
                problems.append("negative size in a tar header")
                return
            name = name.decode("utf-8", "surrogateescape")
            if flag == b"\0" and name.endswith("/"):
                flag = b"5"
            if flag in Archive.NO_DATA:
                size = padded = 0
            yield name, flag, size, link.decode("utf-8", "surrogateescape")
            stream.skip(padded - size)

    @staticmethod
    def read_archive_bytes(data, label):
        if data[:2] == b"\x1f\x8b":
            kind = "tar.gz"
        elif data[:6] == b"\xfd7zXZ\x00":
            kind = "tar.xz"
        else:
            kind = "tar"
        if not data:
            raise IntegrityError("%s: not an artifact tarball (empty file)" % label,
                                 hint="give a directory, .tar.gz, .tar.xz or .tar written by "
                                      "`streamt build`")
        stream = Archive.Stream(Archive.decompressed(data, kind, label))
        problems = []
        files = {}
        dirs = set()
        count = 0
        total = 0
        for name, flag, size, link in Archive.tar_members(stream, label, problems):
            count += 1
            if count > ARTIFACT_MAX_MEMBERS:
                problems.append("more than %d members" % ARTIFACT_MAX_MEMBERS)
                break
            keep = False
            shown = name.encode("utf-8", "backslashreplace").decode("utf-8")
            is_dir = flag == b"5"
            clean = name.rstrip("/") if is_dir else name
            while clean.startswith("./"):  # `tar -C dir -czf x.tar.gz .` writes ./name
                clean = clean[2:]
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                problems.append("%s: member name is not UTF-8" % shown)
            else:
                if is_dir and clean in (".", ""):
                    pass
                elif not Archive.safe_member_name(clean):
                    problems.append("%s: unsafe path (absolute, `..`, empty or odd segment)" % shown)
                elif flag in (b"1", b"2"):
                    problems.append("%s: links are not allowed (-> %s)" % (
                        shown, link.encode("utf-8", "backslashreplace").decode("utf-8")))
                elif is_dir:
                    if clean in files:
                        problems.append("%s: both a file and a directory" % shown)
                    dirs.add(clean)
                elif flag not in Archive.REGULAR:
                    problems.append("%s: special files (devices, fifos, ...) are not allowed" % shown)
                elif size > ARTIFACT_MAX_MEMBER:
                    problems.append("%s: %d bytes, larger than the %d MiB limit" % (
                        shown, size, ARTIFACT_MAX_MEMBER // (1024 * 1024)))
                elif clean in files or clean in dirs:
                    problems.append("%s: duplicate member" % shown)
                else:
                    keep = True
            if keep:
                total += size
                if total > ARTIFACT_MAX_TOTAL:
                    problems.append("members total more than %d MiB" % (
                        ARTIFACT_MAX_TOTAL // (1024 * 1024)))
                    break
                content = stream.read(size)
                got = len(content)
            else:
                got = stream.skip(size)  # never more than the rest of the decompressed stream
            if got < size:
                # a member cut short (truncated archive, size field larger than the data)
                problems.append("%s: corrupt member data: unexpected end of data" % shown)
                break
            if keep:
                files[clean] = content
        for name in files:
            parts = name.split("/")
            for i in range(1, len(parts)):
                if "/".join(parts[:i]) in files:
                    problems.append("%s: both a file and a directory" % "/".join(parts[:i]))
        if problems:
            raise IntegrityError("%s: refused, the archive is not a safe artifact" % label,
                                 details=sorted(set(problems)),
                                 hint="only build output of `streamt build` is accepted; "
                                  "nothing was written")
        return files, kind

    @staticmethod
    def safe_member_name(name):
        if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
            return False
        if "\0" in name or ":" in name.split("/")[0]:
            return False
        return all(seg not in ("", ".", "..") for seg in name.split("/"))


###############################################################################
# Git reader ##################################################################
###############################################################################

__all__ += ["git_info"]


def git_info(path, files=None, use_binary=None):
    """Git metadata of the project at `path`: {"commit", "branch", "dirty", "time"} or None
    outside a repository.

    `dirty` is True when a tracked file under `path` differs from HEAD (staged or not) or
    one of `files` (the project files the build read, relative to `path`) is untracked;
    None when it cannot be told. Uses the `git` binary when there is one (use_binary=None),
    else reads `.git` directly; both give the same answer."""
    if FastPaths.artifact and not _Git.may_be_in_git(path):
        return None
    if use_binary is None:
        import shutil
        use_binary = shutil.which("git") is not None
    if use_binary:
        info = _Git.info_binary(path, files)
        if info is not False:
            return info
    return _Git.info_python(path, files)


class _Git(object):
    """git_info()'s two ways: the git command, or .git read directly (refs, packs, index)."""

    # -- helpers: git --------------------------------------------------------------------

    @staticmethod
    def info_binary(path, files):
        """git metadata through the git binary; False when git cannot answer (then we read .git)."""
        import subprocess
        env = dict(os.environ)
        env.update({"GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"})
        env.pop("GIT_DIR", None)
        env.pop("GIT_WORK_TREE", None)

        def git(*args):
            p = subprocess.Popen(["git", "-c", "core.quotepath=off"] + list(args), cwd=path,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            out, _err = p.communicate()
            return p.returncode, out

        try:
            rc, out = git("rev-parse", "--is-inside-work-tree")
        except OSError:
            return False
        if rc != 0:
            # Outside a repository, or git refuses it ("dubious ownership"): let the reader decide.
            return False
        rc, out = git("rev-parse", "--verify", "-q", "HEAD")
        if rc != 0:
            return None  # a repository without commits: nothing to record
        commit = out.decode("ascii").strip()
        rc, out = git("symbolic-ref", "-q", "HEAD")
        branch = None
        if rc == 0:
            ref = out.decode("utf-8", "replace").strip()
            branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
        rc, out = git("show", "-s", "--format=%ct", "HEAD")
        time_ = int(out.decode("ascii").strip()) if rc == 0 and out.strip() else None
        dirty = None
        rc, status = git("status", "--porcelain", "-z", "--untracked-files=no", "--", ".")
        rc2, tracked = git("ls-files", "-z", "--", ".")
        if rc == 0 and rc2 == 0:
            dirty = bool(status.strip(b"\0"))
            if not dirty and files:
                names = set(t.decode("utf-8", "surrogateescape") for t in tracked.split(b"\0") if t)
                dirty = any(f.replace(os.sep, "/") not in names for f in files
                            if not _Git.is_env_file(f))
        return {"commit": commit, "branch": branch, "dirty": dirty, "time": time_}

    @staticmethod
    def may_be_in_git(path):
        """False when no git repository can hold `path`: neither it nor a directory above it
        (as written or with its symbolic links resolved, which is what git sees) has a
        `.git` or a `HEAD` (a bare repository, or a .git directory itself).  git would then
        find no repository and neither would the reader (_git_info_python looks for .git
        the same way), so git_info answers None without running git (fork and exec of a few
        git commands: ~10 ms of a build outside a repository)."""
        for start in (os.path.abspath(path), os.path.realpath(path)):
            top = start
            while True:
                if (os.path.lexists(os.path.join(top, ".git")) or
                        os.path.lexists(os.path.join(top, "HEAD"))):
                    return True
                up = os.path.dirname(top)
                if up == top:
                    break
                top = up
        return False

    @staticmethod
    def info_python(path, files):
        """git metadata read from .git directly (no git binary): HEAD, refs, packed refs,
        worktrees, loose and packed objects, the index."""
        path = os.path.abspath(path)
        top = path
        while True:
            dotgit = os.path.join(top, ".git")
            if os.path.exists(dotgit):
                break
            up = os.path.dirname(top)
            if up == top:
                return None
            top = up
        # Whatever the reader does not understand (a SHA-256 repository, a damaged object,
        # struct errors in an odd index) degrades to "unknown", never to a failed build.
        try:
            repo = _Git.Repo(top, dotgit)
            commit = repo.head_commit()
        except Exception:
            return None
        if commit is None or not re.match(r"^[0-9a-f]{40}$", commit):
            return None
        try:
            time_ = repo.commit_time(commit)
        except Exception:
            time_ = None
        try:
            prefix = os.path.relpath(path, top).replace(os.sep, "/")
            dirty = repo.dirty(commit, "" if prefix == "." else prefix + "/", files)
        except Exception:
            dirty = None
        return {"commit": commit, "branch": repo.branch, "dirty": dirty, "time": time_}

    @staticmethod
    def is_env_file(path):
        # .env files only feed ${VAR} values, which an artifact keeps as references (unless
        # --resolve-secrets, which records secrets_resolved): being untracked is their norm.
        return os.path.basename(path).startswith(".env")

    class Unknown(Exception):
        """The .git reader met something it does not understand: `dirty` cannot be told."""

    class Repo(object):

        def __init__(self, top, dotgit):
            self.top = top
            if os.path.isdir(dotgit):
                self.gitdir = dotgit
            else:
                with open(dotgit, "r") as f:
                    line = f.read().strip()
                if not line.startswith("gitdir:"):
                    raise ValueError("not a gitdir file")
                self.gitdir = os.path.normpath(os.path.join(top, line[len("gitdir:"):].strip()))
            self.common = self.gitdir
            cd = os.path.join(self.gitdir, "commondir")
            if os.path.isfile(cd):
                with open(cd, "r") as f:
                    self.common = os.path.normpath(os.path.join(self.gitdir, f.read().strip()))
            self.branch = None
            self._packs = None

        def _read(self, *parts):
            with open(os.path.join(*parts), "rb") as f:
                return f.read()

        def resolve_ref(self, ref, depth=0):
            if depth > 10:
                raise ValueError("symbolic ref loop")
            for base in (self.gitdir, self.common):
                p = os.path.join(base, *ref.split("/"))
                if os.path.isfile(p):
                    text = self._read(p).decode("utf-8").strip()
                    if text.startswith("ref:"):
                        return self.resolve_ref(text[4:].strip(), depth + 1)
                    return text
            packed = os.path.join(self.common, "packed-refs")
            if os.path.isfile(packed):
                for line in self._read(packed).decode("utf-8").splitlines():
                    if line.startswith("#") or line.startswith("^"):
                        continue
                    parts = line.split(" ", 1)
                    if len(parts) == 2 and parts[1] == ref:
                        return parts[0]
            return None

        def head_commit(self):
            text = self._read(self.gitdir, "HEAD").decode("utf-8").strip()
            if text.startswith("ref:"):
                ref = text[4:].strip()
                self.branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
                return self.resolve_ref(ref)
            return text

        # objects

        def object(self, sha):
            """(type, bytes) of an object, loose or packed."""
            import zlib
            p = os.path.join(self.common, "objects", sha[:2], sha[2:])
            if os.path.isfile(p):
                raw = zlib.decompress(self._read(p))
                head, _, body = raw.partition(b"\0")
                kind = head.split(b" ")[0].decode("ascii")
                return kind, body
            for idx, pack in self._pack_list():
                off = self._pack_offset(idx, sha)
                if off is not None:
                    return self._pack_object(pack, off)
            raise _Git.Unknown("object %s not found" % sha)

        def _pack_list(self):
            if self._packs is None:
                self._packs = []
                d = os.path.join(self.common, "objects", "pack")
                if os.path.isdir(d):
                    for fn in sorted(os.listdir(d)):
                        if fn.endswith(".idx"):
                            self._packs.append((self._read(d, fn),
                                                os.path.join(d, fn[:-4] + ".pack")))
            return self._packs

        def _pack_offset(self, idx, sha):
            import bisect
            import struct
            if idx[:4] != b"\377tOc" or struct.unpack(">I", idx[4:8])[0] != 2:
                raise _Git.Unknown("unsupported pack index")
            want = bytes.fromhex(sha)
            fan = struct.unpack(">256I", idx[8:8 + 1024])
            n = fan[255]
            lo = fan[want[0] - 1] if want[0] else 0
            hi = fan[want[0]]
            base = 8 + 1024

            class _Names(object):
                def __getitem__(self, i):
                    return idx[base + 20 * i:base + 20 * i + 20]

                def __len__(self):
                    return n
            i = bisect.bisect_left(_Names(), want, lo, hi)
            if i >= hi or idx[base + 20 * i:base + 20 * i + 20] != want:
                return None
            offs = base + 20 * n + 4 * n
            off = struct.unpack(">I", idx[offs + 4 * i:offs + 4 * i + 4])[0]
            if off & 0x80000000:
                large = offs + 4 * n + 8 * (off & 0x7fffffff)
                off = struct.unpack(">Q", idx[large:large + 8])[0]
            return off

        def _pack_object(self, pack, off, depth=0):
            import zlib
            if depth > 50:
                raise _Git.Unknown("delta chain too long")
            with open(pack, "rb") as f:
                f.seek(off)
                head = f.read(64)
                c = head[0]
                kind = (c >> 4) & 7
                i = 1
                while c & 0x80:
                    c = head[i]
                    i += 1
                base_off = base_sha = None
                if kind == 6:  # OFS_DELTA
                    c = head[i]
                    i += 1
                    rel = c & 0x7f
                    while c & 0x80:
                        c = head[i]
                        i += 1
                        rel = ((rel + 1) << 7) | (c & 0x7f)
                    base_off = off - rel
                elif kind == 7:  # REF_DELTA
                    base_sha = head[i:i + 20].hex()
                    i += 20
                f.seek(off + i)
                d = zlib.decompressobj()
                chunks = []
                while not d.eof:
                    block = f.read(65536)
                    if not block:
                        break
                    chunks.append(d.decompress(block))
                body = b"".join(chunks)
            names = {1: "commit", 2: "tree", 3: "blob", 4: "tag"}
            if kind in names:
                return names[kind], body
            if base_off is not None:
                bkind, bbody = self._pack_object(pack, base_off, depth + 1)
            elif base_sha is not None:
                bkind, bbody = self.object(base_sha)
            else:
                raise _Git.Unknown("unknown pack object type %d" % kind)
            return bkind, _Git.apply_delta(bbody, body)

        def commit_time(self, sha):
            kind, body = self.object(sha)
            for line in body.split(b"\n"):
                if line.startswith(b"committer "):
                    return int(line.rsplit(b" ", 2)[1])
                if not line:
                    break
            return None

        def tree_files(self, sha, prefix, out, want_prefix):
            """{path: (mode, sha)} of the blobs under `want_prefix` in tree `sha`."""
            kind, body = self.object(sha)
            i = 0
            while i < len(body):
                sp = body.index(b" ", i)
                nul = body.index(b"\0", sp)
                mode = int(body[i:sp], 8)
                name = body[sp + 1:nul].decode("utf-8", "surrogateescape")
                child = body[nul + 1:nul + 21].hex()
                i = nul + 21
                path = prefix + name
                if mode == 0o40000:
                    if want_prefix.startswith(path + "/") or (path + "/").startswith(want_prefix):
                        self.tree_files(child, path + "/", out, want_prefix)
                elif path.startswith(want_prefix) and mode != 0o160000:
                    out[path] = (mode, child)
            return out

        def dirty(self, commit, prefix, files):
            entries = _Git.read_index(os.path.join(self.gitdir, "index"))
            index_mtime = os.stat(os.path.join(self.gitdir, "index")).st_mtime
            kind, body = self.object(commit)
            tree = body.split(b"\n", 1)[0].split(b" ")[1].decode("ascii")
            head = self.tree_files(tree, "", {}, prefix)
            tracked = {}
            for e in entries:
                if not e["path"].startswith(prefix) or e["mode"] == 0o160000:
                    continue
                if e["stage"] or e["intent_to_add"]:
                    return True  # a merge conflict or `git add -N`: not what HEAD holds
                tracked[e["path"]] = e
            if set(tracked) != set(head):
                return True
            for p, e in sorted(tracked.items()):
                if head[p] != (e["mode"], e["sha"]):
                    return True  # staged change
                if e["skip_worktree"]:
                    continue
                full = os.path.join(self.top, *p.split("/"))
                try:
                    st = os.lstat(full)
                except OSError:
                    return True  # deleted in the working tree
                import stat as _stat
                if _stat.S_ISLNK(st.st_mode):
                    actual_mode = 0o120000
                else:
                    actual_mode = 0o100755 if st.st_mode & 0o100 else 0o100644
                if actual_mode != e["mode"]:
                    return True
                if st.st_size % (1 << 32) != e["size"]:
                    return True
                same_stat = (int(st.st_mtime) % (1 << 32) == e["mtime_s"] and
                             (st.st_mtime_ns % 1000000000) == e["mtime_ns"])
                racy = st.st_mtime >= index_mtime
                if same_stat and not racy:
                    continue
                if _stat.S_ISLNK(st.st_mode):
                    data = os.readlink(full).encode("utf-8", "surrogateescape")
                else:
                    with open(full, "rb") as f:
                        data = f.read()
                if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != e["sha"]:
                    return True
            for f in files or []:
                if not _Git.is_env_file(f) and prefix + f.replace(os.sep, "/") not in tracked:
                    return True
            return False

    @staticmethod
    def apply_delta(base, delta):
        def varint(i):
            shift = value = 0
            while True:
                c = delta[i]
                i += 1
                value |= (c & 0x7f) << shift
                shift += 7
                if not c & 0x80:
                    return value, i
        _src, i = varint(0)
        size, i = varint(i)
        out = bytearray()
        while i < len(delta):
            c = delta[i]
            i += 1
            if c & 0x80:
                off = ln = 0
                for bit in range(4):
                    if c & (1 << bit):
                        off |= delta[i] << (8 * bit)
                        i += 1
                for bit in range(3):
                    if c & (0x10 << bit):
                        ln |= delta[i] << (8 * bit)
                        i += 1
                out += base[off:off + (ln or 0x10000)]
            elif c:
                out += delta[i:i + c]
                i += c
            else:
                raise _Git.Unknown("bad delta opcode")
        if len(out) != size:
            raise _Git.Unknown("delta size mismatch")
        return bytes(out)

    @staticmethod
    def read_index(path):
        import struct
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] != b"DIRC":
            raise _Git.Unknown("not a git index")
        version, count = struct.unpack(">II", data[4:12])
        if version not in (2, 3, 4):
            raise _Git.Unknown("index version %d" % version)
        i = 12
        entries = []
        prev = b""
        for _ in range(count):
            start = i
            (_cs, _cn, ms, mns, _dev, _ino, mode, _uid, _gid, size) = struct.unpack(
                ">10I", data[i:i + 40])
            sha = data[i + 40:i + 60].hex()
            flags = struct.unpack(">H", data[i + 60:i + 62])[0]
            i += 62
            ext = 0
            if flags & 0x4000:
                if version < 3:
                    raise _Git.Unknown("extended flag in a v2 index")
                ext = struct.unpack(">H", data[i:i + 2])[0]
                i += 2
            if version == 4:
                strip = shift = 0
                while True:
                    c = data[i]
                    i += 1
                    if shift == 0:
                        strip = c & 0x7f
                    else:
                        strip = ((strip + 1) << 7) | (c & 0x7f)
                    shift += 7
                    if not c & 0x80:
                        break
                nul = data.index(b"\0", i)
                name = prev[:len(prev) - strip] + data[i:nul]
                i = nul + 1
            else:
                nul = data.index(b"\0", i)
                name = data[i:nul]
                i = start + ((i - start + len(name) + 8) // 8) * 8
            prev = name
            if mode & 0o170000 == 0o040000:
                raise _Git.Unknown("sparse index")
            entries.append({"path": name.decode("utf-8", "surrogateescape"), "mode": mode,
                            "sha": sha, "size": size, "mtime_s": ms, "mtime_ns": mns,
                            "stage": (flags >> 12) & 3, "skip_worktree": bool(ext & 0x4000),
                            "intent_to_add": bool(ext & 0x2000)})
        while i + 8 <= len(data) - 20:  # extensions, then the trailing checksum
            sig = data[i:i + 4]
            size = struct.unpack(">I", data[i + 4:i + 8])[0]
            if sig == b"link":
                raise _Git.Unknown("split index: entries live in a shared index")
            i += 8 + size
        return entries


###############################################################################
# HTTP client #################################################################
###############################################################################

__all__ += ["HttpError", "HttpResponse", "flink_root_cause", "HttpClient", "Http"]


class HttpError(ServiceError):
    """An HTTP call failed: unreachable service, unexpected status or response shape."""

    def __init__(self, message, status=None, body=None, hint=None, details=None):
        ServiceError.__init__(self, message, hint=hint, details=details)
        self.status = status
        self.body = body


class HttpResponse(object):
    """A response: `status`, `headers` (lower-case keys), `data` (bytes), `json()`."""

    def __init__(self, status, headers, data, url, method):
        self.status, self.headers, self.data = status, headers, data
        self.url, self.method = url, method

    @property
    def text(self):
        return self.data.decode("utf-8", "replace")

    def json(self):
        if not self.data.strip():
            return None
        try:
            return json.loads(self.text)
        except ValueError:
            raise HttpError("%s %s: the response is not JSON (HTTP %d): %s"
                            % (self.method, Http.redact_url(self.url), self.status,
                               Http.first_line(self.text)[:200]), status=self.status)


def flink_root_cause(text):
    """The most useful line of a Java exception text: the last 'Caused by:' message
    (the root cause), else the first line.  Flink wraps SQL errors in 3-5 layers."""
    causes = re.findall(r"Caused by: ([^\n]+)", text or "")
    line = causes[-1] if causes else Http.first_line(text or "")
    line = line.strip()
    # "org.apache.flink.table.api.ValidationException: Object 'x' not found" ->
    # keep the short class name, it says what kind of error it is
    m = re.match(r"^((?:[a-z_$][\w$]*\.)+)([A-Z][\w$]*(?:Exception|Error)): ?(.*)$", line)
    if m:
        line = "%s: %s" % (m.group(2), m.group(3)) if m.group(3) else m.group(2)
    return line


class HttpClient(object):
    """A JSON-over-HTTP client for one service.

    `base_url`: "https://host:port/prefix".  `service`: the name used in errors
    ("Schema Registry", "Kafka Connect", ...).  Auth: `username`/`password` (basic)
    or `token` (bearer).  `cafile`: extra CA certificates (PEM) to trust.
    `timeout` per attempt, `retries` extra attempts, `backoff` first delay (doubles).
    `sleep` is injectable so that tests of the retry logic do not wait."""

    def __init__(self, base_url, service="HTTP", username=None, password=None, token=None,
                 cafile=None, timeout=10.0, retries=3, backoff=0.5, headers=None, sleep=None):
        if not base_url or not re.match(r"^https?://[^/\s]+", str(base_url)):
            raise UsageError("%s: invalid URL %r" % (service, re.sub(r"[^/@\s]*@", "<redacted>@",
                                                                       str(base_url), count=1)),
                             hint="use http://host:port or https://host:port")
        base_url = str(base_url).rstrip("/")
        m = re.match(r"^(https?://)([^@/]*)@(.*)$", base_url)
        if m:  # http://user:password@host -> basic auth, never in the URL we print
            import urllib.parse
            user, _, pw = m.group(2).partition(":")
            username = username or urllib.parse.unquote(user)
            password = password or urllib.parse.unquote(pw)
            base_url = m.group(1) + m.group(3)
        self.base_url = base_url
        self.service = service
        self.username, self.password, self.token = username, password, token
        self.cafile = cafile
        self.timeout, self.retries, self.backoff = float(timeout), int(retries), float(backoff)
        self.headers = dict(headers or {})
        self._sleep = sleep
        self._opener = None
        self.requests_sent = 0
        self.mutations = 0
        self.calls = []          # (method, path) of every call, for reports and tests

    @property
    def host(self):
        """host:port of the service (what the deploy prints as "will contact")."""
        return re.sub(r"^https?://(?:[^@/]*@)?([^/]+).*$", r"\1", self.base_url)

    def _get_opener(self):
        if self._opener is None:
            import urllib.request
            handlers = []
            if self.base_url.startswith("https:"):
                import ssl
                try:
                    ctx = ssl.create_default_context(cafile=self.cafile)
                except (IOError, OSError, ssl.SSLError) as e:
                    raise UsageError("%s: cannot read the CA file %r: %s"
                                     % (self.service, self.cafile, e),
                                     hint="ssl_cafile must be a PEM file of CA certificates")
                handlers.append(urllib.request.HTTPSHandler(context=ctx))
            # build_opener adds ProxyHandler() (environment proxies, no_proxy) itself
            self._opener = urllib.request.build_opener(*handlers)
        return self._opener

    def request(self, method, path, body=None, query=None, expect=(200,), idempotent=None,
                mutating=None, retry_conflict=False, content_type="application/json",
                timeout=None):
        """Send one request (with retries), check the status is in `expect`, return the
        HttpResponse.  `body` is JSON-encoded unless it is bytes."""
        import urllib.request
        import urllib.error
        import http.client
        import socket
        method = method.upper()
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        if mutating is None:
            mutating = method not in ("GET", "HEAD", "OPTIONS")
        url = self.base_url + path
        if query:
            url += ("&" if "?" in url else "?") + Http.urlencode(query)
        headers = {"Accept": "application/json"}
        headers.update(self.headers)
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            headers["Content-Type"] = content_type
        auth = self._auth_header()
        if auth:
            headers["Authorization"] = auth
        attempt, delay = 0, self.backoff
        while True:
            attempt += 1
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            self.requests_sent += 1
            self.calls.append((method, path))
            if mutating:
                self.mutations += 1
            retry_reason = None
            try:
                resp = self._get_opener().open(req, timeout=timeout or self.timeout)
                try:
                    status, payload = resp.getcode(), resp.read()
                    rheaders = dict((k.lower(), v) for k, v in resp.headers.items())
                finally:
                    resp.close()
            except urllib.error.HTTPError as e:
                status = e.code
                try:
                    payload = e.read()
                except Exception:
                    payload = b""
                rheaders = dict((k.lower(), v) for k, v in (e.headers or {}).items())
            except (urllib.error.URLError, socket.timeout, OSError,
                    http.client.HTTPException) as e:
                reason = getattr(e, "reason", e)
                # refused / unresolvable: the request never reached the server
                never_sent = isinstance(reason, (ConnectionRefusedError, socket.gaierror))
                if attempt <= self.retries and (idempotent or never_sent):
                    self._wait(delay)
                    delay *= 2
                    continue
                if isinstance(e, http.client.HTTPException):
                    raise HttpError("%s at %s did not answer in HTTP (%s: %s)"
                                    % (self.service, self.host, type(e).__name__, e),
                                    hint="is this URL the %s REST endpoint (and not, say, a "
                                         "Kafka port)?" % self.service)
                if isinstance(reason, Exception) and "CERTIFICATE_VERIFY_FAILED" in str(reason):
                    raise HttpError("%s at %s: TLS certificate verification failed: %s"
                                    % (self.service, self.host, reason),
                                    hint="set ssl_cafile in the runtime block to the CA "
                                         "that signed the service's certificate")
                raise HttpError("%s at %s is unreachable: %s (%s %s, %d attempt%s)"
                                % (self.service, self.host, reason, method, path, attempt,
                                   "" if attempt == 1 else "s"),
                                hint="check the URL in the environment's runtime block, "
                                     "the network, and proxy variables (no_proxy)")
            if status in expect:
                return HttpResponse(status, rheaders, payload, url, method)
            if status == 429 or status >= 500:
                retry_reason = status
            if status == 409 and retry_conflict:
                retry_reason = status
            if retry_reason and attempt <= self.retries and (idempotent or status in (429, 409)):
                wait = delay
                ra = rheaders.get("retry-after", "")
                if ra.isdigit():
                    wait = min(float(ra), 30.0)
                self._wait(wait)
                delay *= 2
                continue
            raise self._error(method, path, status, payload)

    def get_json(self, path, query=None, expect=(200,), shape=None):
        """GET and return the decoded JSON; `shape` (dict or list) checks its type."""
        resp = self.request("GET", path, query=query, expect=expect)
        return self.check_shape(resp, shape)

    def check_shape(self, resp, shape, keys=()):
        """The JSON of `resp`, checked to be of type `shape` and to hold `keys`."""
        obj = resp.json()
        if shape is not None and not isinstance(obj, shape):
            raise HttpError("%s: unexpected response to %s %s: expected a JSON %s, got %s"
                            % (self.service, resp.method, Http.redact_url(resp.url),
                               "object" if shape is dict else "array",
                               Http.first_line(resp.text)[:200]),
                            status=resp.status,
                            hint="is this URL really the %s API?" % self.service)
        for k in keys:
            if not isinstance(obj, dict) or k not in obj:
                raise HttpError("%s: unexpected response to %s %s: no %r in %s"
                                % (self.service, resp.method, Http.redact_url(resp.url), k,
                                   Http.first_line(resp.text)[:200]), status=resp.status)
        return obj

    def _auth_header(self):
        if self.token:
            return "Bearer " + self.token
        if self.username is not None and self.password is not None:
            import base64
            raw = ("%s:%s" % (self.username, self.password)).encode("utf-8")
            return "Basic " + base64.b64encode(raw).decode("ascii")
        return None

    def _wait(self, seconds):
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            import time
            time.sleep(seconds)

    def _scrub(self, text):
        """`text` without the credentials this client sends: services that echo the
        request in an error (headers included) must not make us print them."""
        auth = self._auth_header()
        if not text or not auth:
            return text
        secrets = [auth, auth.split(" ", 1)[1], self.token, self.password]
        for sec in sorted(set(x for x in secrets if x and len(x) >= 4), key=len, reverse=True):
            try:
                from urllib.parse import quote
                forms = (sec, quote(sec, safe=""), json.dumps(sec)[1:-1])
            except ImportError:  # pragma: no cover
                forms = (sec,)
            for form in forms:
                text = text.replace(form, "<redacted>")
        return text

    def _error(self, method, path, status, payload):
        text = self._scrub(payload.decode("utf-8", "replace") if payload else "")
        msg = Http.service_message(text)
        hint = None
        if status in (401, 403):
            hint = "check the credentials of %s in the environment's runtime block" % self.service
        elif status == 404:
            hint = "check the URL of %s (and the API version it serves)" % self.service
        return HttpError("%s: %s %s failed with HTTP %d%s"
                         % (self.service, method, path, status, (": " + msg) if msg else ""),
                         status=status, body=text, hint=hint)


class Http(object):
    """Text helpers of the client: service error messages, redacted URLs, quoting."""

    @staticmethod
    def service_message(text):
        """The error message in a service's error body (Connect, SR, Flink, Gateway)."""
        try:
            obj = json.loads(text)
        except ValueError:
            return Http.first_line(text)[:300]
        if isinstance(obj, dict):
            if isinstance(obj.get("errors"), list) and obj["errors"]:
                texts = [e if isinstance(e, str) else json.dumps(e) for e in obj["errors"]]
                useful = [t for t in texts if t != "Internal server error."] or texts
                return flink_root_cause("\n".join(useful))
            for key in ("message", "msg", "error", "detail", "title"):
                if isinstance(obj.get(key), str):
                    return Http.first_line(obj[key])[:300]
        return Http.first_line(text)[:300]

    @staticmethod
    def first_line(text):
        text = (text or "").strip()
        return text.split("\n", 1)[0].strip()

    @staticmethod
    def redact_url(url):
        return re.sub(r"//[^@/]*@", "//", url)

    @staticmethod
    def quote(segment):
        """URL-encode one path segment (subject names contain '/', ':' ...)."""
        import urllib.parse
        return urllib.parse.quote(str(segment), safe="")

    @staticmethod
    def urlencode(query):
        import urllib.parse
        if isinstance(query, dict):
            query = sorted(query.items())
        return urllib.parse.urlencode(query)


###############################################################################
# Kafka wire client ###########################################################
###############################################################################

__all__ += ["KAFKA_ERRORS", "kafka_error_name", "KafkaError", "KafkaAdmin"]


# Every error code of the protocol (apache/kafka, Errors.java), by number.
KAFKA_ERRORS = {
    -1: "UNKNOWN_SERVER_ERROR", 0: "NONE", 1: "OFFSET_OUT_OF_RANGE", 2: "CORRUPT_MESSAGE",
    3: "UNKNOWN_TOPIC_OR_PARTITION", 4: "INVALID_FETCH_SIZE", 5: "LEADER_NOT_AVAILABLE",
    6: "NOT_LEADER_OR_FOLLOWER", 7: "REQUEST_TIMED_OUT", 8: "BROKER_NOT_AVAILABLE",
    9: "REPLICA_NOT_AVAILABLE", 10: "MESSAGE_TOO_LARGE", 11: "STALE_CONTROLLER_EPOCH",
    12: "OFFSET_METADATA_TOO_LARGE", 13: "NETWORK_EXCEPTION", 14: "COORDINATOR_LOAD_IN_PROGRESS",
    15: "COORDINATOR_NOT_AVAILABLE", 16: "NOT_COORDINATOR", 17: "INVALID_TOPIC_EXCEPTION",
    18: "RECORD_LIST_TOO_LARGE", 19: "NOT_ENOUGH_REPLICAS", 20: "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    21: "INVALID_REQUIRED_ACKS", 22: "ILLEGAL_GENERATION", 23: "INCONSISTENT_GROUP_PROTOCOL",
    24: "INVALID_GROUP_ID", 25: "UNKNOWN_MEMBER_ID", 26: "INVALID_SESSION_TIMEOUT",
    27: "REBALANCE_IN_PROGRESS", 28: "INVALID_COMMIT_OFFSET_SIZE", 29: "TOPIC_AUTHORIZATION_FAILED",
    30: "GROUP_AUTHORIZATION_FAILED", 31: "CLUSTER_AUTHORIZATION_FAILED", 32: "INVALID_TIMESTAMP",
    33: "UNSUPPORTED_SASL_MECHANISM", 34: "ILLEGAL_SASL_STATE", 35: "UNSUPPORTED_VERSION",
    36: "TOPIC_ALREADY_EXISTS", 37: "INVALID_PARTITIONS", 38: "INVALID_REPLICATION_FACTOR",
    39: "INVALID_REPLICA_ASSIGNMENT", 40: "INVALID_CONFIG", 41: "NOT_CONTROLLER",
    42: "INVALID_REQUEST", 43: "UNSUPPORTED_FOR_MESSAGE_FORMAT", 44: "POLICY_VIOLATION",
    45: "OUT_OF_ORDER_SEQUENCE_NUMBER", 46: "DUPLICATE_SEQUENCE_NUMBER", 47: "INVALID_PRODUCER_EPOCH",
    48: "INVALID_TXN_STATE", 49: "INVALID_PRODUCER_ID_MAPPING", 50: "INVALID_TRANSACTION_TIMEOUT",
    51: "CONCURRENT_TRANSACTIONS", 52: "TRANSACTION_COORDINATOR_FENCED",
    53: "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", 54: "SECURITY_DISABLED",
    55: "OPERATION_NOT_ATTEMPTED", 56: "KAFKA_STORAGE_ERROR", 57: "LOG_DIR_NOT_FOUND",
    58: "SASL_AUTHENTICATION_FAILED", 59: "UNKNOWN_PRODUCER_ID", 60: "REASSIGNMENT_IN_PROGRESS",
    61: "DELEGATION_TOKEN_AUTH_DISABLED", 62: "DELEGATION_TOKEN_NOT_FOUND",
    63: "DELEGATION_TOKEN_OWNER_MISMATCH", 64: "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED",
    65: "DELEGATION_TOKEN_AUTHORIZATION_FAILED", 66: "DELEGATION_TOKEN_EXPIRED",
    67: "INVALID_PRINCIPAL_TYPE", 68: "NON_EMPTY_GROUP", 69: "GROUP_ID_NOT_FOUND",
    70: "FETCH_SESSION_ID_NOT_FOUND", 71: "INVALID_FETCH_SESSION_EPOCH", 72: "LISTENER_NOT_FOUND",
    73: "TOPIC_DELETION_DISABLED", 74: "FENCED_LEADER_EPOCH", 75: "UNKNOWN_LEADER_EPOCH",
    76: "UNSUPPORTED_COMPRESSION_TYPE", 77: "STALE_BROKER_EPOCH", 78: "OFFSET_NOT_AVAILABLE",
    79: "MEMBER_ID_REQUIRED", 80: "PREFERRED_LEADER_NOT_AVAILABLE", 81: "GROUP_MAX_SIZE_REACHED",
    82: "FENCED_INSTANCE_ID", 83: "ELIGIBLE_LEADERS_NOT_AVAILABLE", 84: "ELECTION_NOT_NEEDED",
    85: "NO_REASSIGNMENT_IN_PROGRESS", 86: "GROUP_SUBSCRIBED_TO_TOPIC", 87: "INVALID_RECORD",
    88: "UNSTABLE_OFFSET_COMMIT", 89: "THROTTLING_QUOTA_EXCEEDED", 90: "PRODUCER_FENCED",
    91: "RESOURCE_NOT_FOUND", 92: "DUPLICATE_RESOURCE", 93: "UNACCEPTABLE_CREDENTIAL",
    94: "INCONSISTENT_VOTER_SET", 95: "INVALID_UPDATE_VERSION", 96: "FEATURE_UPDATE_FAILED",
    97: "PRINCIPAL_DESERIALIZATION_FAILURE", 98: "SNAPSHOT_NOT_FOUND", 99: "POSITION_OUT_OF_RANGE",
    100: "UNKNOWN_TOPIC_ID", 101: "DUPLICATE_BROKER_REGISTRATION", 102: "BROKER_ID_NOT_REGISTERED",
    103: "INCONSISTENT_TOPIC_ID", 104: "INCONSISTENT_CLUSTER_ID", 105: "TRANSACTIONAL_ID_NOT_FOUND",
    106: "FETCH_SESSION_TOPIC_ID_ERROR", 107: "INELIGIBLE_REPLICA", 108: "NEW_LEADER_ELECTED",
    109: "OFFSET_MOVED_TO_TIERED_STORAGE", 110: "FENCED_MEMBER_EPOCH", 111: "UNRELEASED_INSTANCE_ID",
    112: "UNSUPPORTED_ASSIGNOR", 113: "STALE_MEMBER_EPOCH", 114: "MISMATCHED_ENDPOINT_TYPE",
    115: "UNSUPPORTED_ENDPOINT_TYPE", 116: "UNKNOWN_CONTROLLER_ID", 117: "UNKNOWN_SUBSCRIPTION_ID",
    118: "TELEMETRY_TOO_LARGE", 119: "INVALID_REGISTRATION", 120: "TRANSACTION_ABORTABLE",
    121: "INVALID_RECORD_STATE", 122: "SHARE_SESSION_NOT_FOUND", 123: "INVALID_SHARE_SESSION_EPOCH",
    124: "FENCED_STATE_EPOCH", 125: "INVALID_VOTER_KEY", 126: "DUPLICATE_VOTER",
    127: "VOTER_NOT_FOUND", 128: "INVALID_REGULAR_EXPRESSION", 129: "REBOOTSTRAP_REQUIRED",
    130: "STREAMS_INVALID_TOPOLOGY", 131: "STREAMS_INVALID_TOPOLOGY_EPOCH",
    132: "STREAMS_TOPOLOGY_FENCED", 133: "SHARE_SESSION_LIMIT_REACHED",
}


def kafka_error_name(code):
    """The protocol name of a Kafka error code (``UNKNOWN_ERROR_<n>`` for codes newer than us)."""
    return KAFKA_ERRORS.get(code, "UNKNOWN_ERROR_%d" % code)


class KafkaError(ServiceError):
    """A Kafka broker refused or failed a request, or could not be reached.

    ``code`` is the protocol error code (None for failures below the protocol: network,
    TLS, a broker lacking an API), ``name`` its protocol name (``TOPIC_ALREADY_EXISTS``),
    ``broker_message`` what the broker said, if anything.  Failures without a code carry
    one of these names: ``UNREACHABLE``, ``TIMEOUT``, ``TLS``, ``TLS_VERIFY``, ``SASL``,
    ``PROTOCOL``, ``UNSUPPORTED`` (the broker lacks the API or dropped the request) and
    ``VALIDATE_ONLY_IGNORED`` (the broker would apply, or applied, a validate-only request);
    settings errors have neither code nor name."""

    def __init__(self, message, code=None, name=None, hint=None, broker_message=None,
                 details=None):
        ServiceError.__init__(self, message, hint=hint, details=details)
        self.code = code
        self.name = name if name is not None else (
            kafka_error_name(code) if code is not None else None)
        self.broker_message = broker_message

    def __repr__(self):
        return "KafkaError(%r, code=%r, name=%r)" % (self.message, self.code, self.name)


class KafkaAdmin(object):
    """Administration of one Kafka cluster over the wire protocol.

    ``config`` is the resolved ``runtime.kafka`` mapping of an environment
    (``bootstrap_servers``, ``security_protocol``, ``sasl_mechanism``, ``sasl_username``,
    ``sasl_password``, ``ssl_cafile``, ``ssl_certfile``, ``ssl_keyfile``,
    ``ssl_check_hostname``).  ``timeout`` (seconds) bounds connecting and every request.
    Nothing is sent before the first call.  ``requests_sent`` counts the requests written
    to the wire (connection set-up included); ``requests_waiting`` how many of them only
    re-read topics this admin wrote and the broker answering had not caught up with yet.

    ``incremental_alter`` may be set to False to force the legacy AlterConfigs path
    (the one used with brokers older than 2.3)."""

    # Errors worth another try, after refreshing metadata: the controller moved, a
    # leader is being elected, the broker was busy or throttled us.
    RETRIABLE = frozenset([5, 6, 7, 8, 9, 13, 14, 15, 16, 19, 20, 41, 56, 74, 75, 89, 116, 129])

    def __init__(self, config, timeout=10.0, retries=4, backoff=0.2, client_id="streamt",
                 incremental_alter=True):
        self.settings = _KafkaSettings.settings(config)
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.client_id = client_id
        self.incremental_alter = incremental_alter
        self.version_caps = {}      # {api name: highest version to use} (tests: classic versions)
        self.requests_sent = 0
        self.requests_waiting = 0   # of which re-reads waiting for the brokers to catch up
        self._conns = {}          # (host, port) -> _KafkaConnection
        self._meta = None         # last metadata: brokers, controller, cluster id
        # Read-your-writes: brokers learn of a change made through the controller a little
        # later, so a topic created (deleted, grown) here may still look missing (present,
        # smaller) for a moment.  Reads retry briefly for the names written by this admin.
        self._expect = {}             # topic -> "present" | "absent"
        self._expect_partitions = {}  # topic -> partition count asked for
        self._expect_configs = {}     # topic -> {key: value, or None for reset}

    # -- connections and metadata ---------------------------------------------

    def close(self):
        """Close every connection (the admin may be used again: it reconnects)."""
        for conn in list(self._conns.values()):
            conn.close()
        self._conns = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def cluster(self):
        """``{"cluster_id", "controller_id", "brokers": [{"node_id", "host", "port", "rack"}]}``."""
        meta = self._metadata([])
        brokers = [dict(node_id=b["node_id"], host=b["host"], port=b["port"], rack=b["rack"])
                   for b in sorted(meta["brokers"], key=lambda b: b["node_id"])]
        return {"cluster_id": meta["cluster_id"], "controller_id": meta["controller_id"],
                "brokers": brokers}

    def list_topics(self, include_internal=False):
        """Sorted names of the topics this principal may see."""
        attempt, deadline = 0, self._clock() + self.timeout
        while True:
            meta = self._metadata(None)
            names = set(t["name"] for t in meta["topics"]
                        if t["error_code"] == 0 and (include_internal or not t["is_internal"]))
            behind = [n for n, state in self._expect.items()
                      if (state == "present") != (n in names)]
            if not behind or self._clock() >= deadline:
                break
            self._settle(attempt)
            attempt += 1
        for n in list(self._expect):
            if (self._expect[n] == "present") == (n in names):
                del self._expect[n]   # seen as written: no more waiting for it
        return sorted(names)

    def describe_topics(self, names):
        """``{name: {"partitions", "replication_factor"}}`` for the names that exist (one request)."""
        names = sorted(set(names))
        if not names:
            return {}
        out = {}
        todo = names
        attempt, deadline = 0, self._clock() + self.timeout
        while True:
            meta = self._metadata(todo)
            can_wait = self._clock() < deadline
            again = []
            for t in meta["topics"]:
                code, name = t["error_code"], t["name"]
                if name not in todo:
                    continue  # a broker answering topics=[] with all topics (Tansu)
                if code == 0:
                    parts = t["partitions"]
                    if can_wait and (self._expect.get(name) == "absent" or
                                     len(parts) < self._expect_partitions.get(name, 0)):
                        again.append(name)
                        continue
                    if self._expect.get(name) == "present":
                        del self._expect[name]   # seen: no more waiting for it
                    self._expect_partitions.pop(name, None)
                    rf = max([len(p["replica_nodes"]) for p in parts] or [0])
                    out[name] = {"partitions": len(parts), "replication_factor": rf}
                elif code in (3, 100):
                    if can_wait and self._expect.get(name) == "present":
                        again.append(name)
                    elif self._expect.get(name) == "absent":
                        del self._expect[name]
                elif code in self.RETRIABLE and attempt < self.retries:
                    again.append(name)
                else:
                    raise self._error(code, None, "cannot describe topic '%s'" % name,
                                      topic=name, operation="DESCRIBE")
            if not again:
                break
            todo = again
            self._settle(attempt)
            attempt += 1
        return out

    def create_topics(self, topics, validate_only=False):
        """Create ``[{"name", "partitions", "replication_factor", "config"}]`` in one request.

        Returns ``{name: None or KafkaError}``.  With ``validate_only`` the broker only
        checks the request; a broker that creates the topics anyway is reported."""
        topics = sorted(topics, key=lambda t: t["name"])
        if not topics:
            return {}
        conn = self._controller()
        version = conn.version("CreateTopics")
        if validate_only:
            self._refuse_unfaithful_validate(conn, "creating topics")
        body = {"topics": [], "timeout_ms": self._server_timeout_ms(),
                "validate_only": bool(validate_only)}
        for t in topics:
            partitions = t.get("partitions")
            rf = t.get("replication_factor")
            if (partitions is None or rf is None) and version < 4:
                raise KafkaError(
                    "topic '%s': the broker (CreateTopics v%d) needs explicit partitions and "
                    "replication_factor" % (t["name"], version), hint="set both on the topic")
            body["topics"].append({
                "name": t["name"],
                "num_partitions": -1 if partitions is None else int(partitions),
                "replication_factor": -1 if rf is None else int(rf),
                "assignments": [],
                "configs": [{"name": k, "value": _kafka_str(v)}
                            for k, v in sorted((t.get("config") or {}).items())]})
        results = self._batched("CreateTopics", body, "topics", "topics", "name",
                                lambda r: (r["error_code"], r.get("error_message")))
        out = {}
        for t in topics:
            code, msg = results.get(t["name"], _KafkaSettings.NO_ANSWER)
            out[t["name"]] = None if code == 0 else self._error(
                code, msg, "cannot create topic '%s'" % t["name"], topic=t["name"],
                operation="CREATE", topic_spec=t)
        if validate_only:
            self._check_validate_only([n for n in sorted(out) if out[n] is None])
        else:
            for t in topics:
                if out[t["name"]] is None:
                    self._expect[t["name"]] = "present"
                    self._expect_partitions.pop(t["name"], None)
                    self._expect_configs[t["name"]] = dict(
                        (k, _kafka_str(v)) for k, v in (t.get("config") or {}).items())
        return out

    def delete_topics(self, names):
        """Delete topics (one request); ``{name: None or KafkaError}``."""
        names = sorted(set(names))
        if not names:
            return {}
        body = {"topic_names": names, "timeout_ms": self._server_timeout_ms()}
        results = self._batched("DeleteTopics", body, "topic_names", "responses", "name",
                                lambda r: (r["error_code"], r.get("error_message")),
                                key_of_item=lambda n: n)
        out = {}
        for n in names:
            code, msg = results.get(n, _KafkaSettings.NO_ANSWER)
            out[n] = None if code == 0 else self._error(
                code, msg, "cannot delete topic '%s'" % n, topic=n, operation="DELETE")
            if code == 0:
                self._expect[n] = "absent"
                self._expect_partitions.pop(n, None)
                self._expect_configs.pop(n, None)
        return out

    def create_partitions(self, counts, validate_only=False):
        """Raise partition counts: ``counts = {name: new_total}`` (one request)."""
        if not counts:
            return {}
        conn = self._controller()
        self._require(conn, "CreatePartitions", "adding partitions")
        if validate_only:
            self._refuse_unfaithful_validate(conn, "adding partitions")
        body = {"topics": [{"name": n, "count": int(c), "assignments": None}
                           for n, c in sorted(counts.items())],
                "timeout_ms": self._server_timeout_ms(), "validate_only": bool(validate_only)}
        results = self._batched("CreatePartitions", body, "topics", "results", "name",
                                lambda r: (r["error_code"], r.get("error_message")))
        out = {}
        for n in sorted(counts):
            code, msg = results.get(n, _KafkaSettings.NO_ANSWER)
            out[n] = None if code == 0 else self._error(
                code, msg, "cannot add partitions to topic '%s'" % n, topic=n, operation="ALTER")
            if code == 0 and not validate_only:
                self._expect_partitions[n] = int(counts[n])
        return out

    def describe_configs(self, names):
        """Every config of the topics, with its source (one request, all keys).

        ``{name: {key: {"value", "source", "is_default", "sensitive", "read_only"}}}``;
        ``source`` is ``TOPIC`` for a value set on the topic, ``BROKER`` for a value the
        brokers' configuration gives, ``DEFAULT`` for Kafka's built-in default (others:
        ``BROKER_LOGGER``, ``CLIENT_METRICS``, ``GROUP``, ``UNKNOWN``).  Unknown topics
        are absent."""
        names = sorted(set(names))
        if not names:
            return {}
        conn = self._any()
        self._require(conn, "DescribeConfigs", "reading topic configs")
        # configuration_keys is always null (= all keys): Tansu drops the connection on a
        # non-empty list, and one answer with everything is what `plan` needs anyway.
        body = {"resources": [{"resource_type": _KafkaSettings.RESOURCE_TOPIC, "resource_name": n,
                               "configuration_keys": None} for n in names],
                "include_synonyms": True, "include_documentation": False}
        resp = self._call(conn, "DescribeConfigs", body)
        # A broker that does not implement AlterConfigs is not Apache Kafka (every Kafka
        # since 0.11 has it): Tansu is one, and it reports every value it returns as
        # DEFAULT_CONFIG although it only returns the values set on the topic.
        only_set_values = not conn.advertises("AlterConfigs")
        attempt, deadline = 0, self._clock() + self.timeout
        while self._clock() < deadline:
            # what this admin just created or changed may not have reached this broker yet
            late = [r["resource_name"] for r in resp["results"]
                    if not self._configs_caught_up(r, only_set_values)]
            if not late:
                break
            attempt += 1
            self._settle(attempt)
            body["resources"] = [x for x in body["resources"] if x["resource_name"] in late]
            done = [r for r in resp["results"] if r["resource_name"] not in late]
            resp = self._call(conn, "DescribeConfigs", body)
            resp["results"] = done + resp["results"]
        out = {}
        for r in resp["results"]:
            code = r["error_code"]
            name = r["resource_name"]
            if code == 3:
                continue
            if code != 0:
                raise self._error(code, r.get("error_message"),
                                  "cannot read the configs of topic '%s'" % name,
                                  topic=name, operation="DESCRIBE_CONFIGS")
            configs = {}
            for c in r["configs"]:
                if "config_source" in c:
                    source = _KafkaSettings.CONFIG_SOURCES.get(c["config_source"], "UNKNOWN")
                else:  # v0 only had is_default
                    source = "DEFAULT" if c.get("is_default") else "TOPIC"
                if only_set_values:
                    source = "TOPIC"
                configs[c["name"]] = {
                    "value": None if c["is_sensitive"] else c["value"],
                    "source": source, "is_default": source == "DEFAULT",
                    "sensitive": bool(c["is_sensitive"]), "read_only": bool(c["read_only"])}
            out[name] = configs
        return out

    def alter_configs(self, changes, validate_only=False):
        """Change topic configs: ``changes = {name: {key: value or None}}`` (None resets).

        IncrementalAlterConfigs when the broker has it (2.3+); otherwise the legacy
        AlterConfigs, which replaces the whole dynamic config of a topic -- so the current
        topic-level values are read first and sent back with the changes applied.
        Returns ``{name: None or KafkaError}``."""
        changes = dict((n, dict(c)) for n, c in changes.items() if c)
        if not changes:
            return {}
        conn = self._controller()
        names = sorted(changes)
        if self.incremental_alter and conn.supports("IncrementalAlterConfigs"):
            if validate_only:
                self._refuse_unfaithful_validate(conn, "changing topic configs")
            body = {"resources": [], "validate_only": bool(validate_only)}
            for n in names:
                body["resources"].append({
                    "resource_type": _KafkaSettings.RESOURCE_TOPIC, "resource_name": n,
                    "configs": [{"name": k, "config_operation": 1 if v is None else 0,
                                 "value": _kafka_str(v)} for k, v in sorted(changes[n].items())]})
            api = "IncrementalAlterConfigs"
        else:
            self._require(conn, "AlterConfigs", "changing topic configs")
            current = self.describe_configs(names)
            body = {"resources": [], "validate_only": bool(validate_only)}
            for n in names:
                desired = dict((k, c["value"]) for k, c in current.get(n, {}).items()
                               if c["source"] == "TOPIC")
                for k, v in changes[n].items():
                    if v is None:
                        desired.pop(k, None)
                    else:
                        desired[k] = _kafka_str(v)
                hidden = [k for k, c in current.get(n, {}).items()
                          if c["source"] == "TOPIC" and c["sensitive"] and k not in changes[n]]
                if hidden:
                    raise KafkaError(
                        "cannot change the configs of topic '%s' with AlterConfigs: it would "
                        "erase the sensitive value(s) %s that the broker does not show"
                        % (n, ", ".join(sorted(hidden))),
                        hint="this broker lacks IncrementalAlterConfigs (Kafka < 2.3); "
                             "give the sensitive values explicitly")
                body["resources"].append({
                    "resource_type": _KafkaSettings.RESOURCE_TOPIC, "resource_name": n,
                    "configs": [{"name": k, "value": v} for k, v in sorted(desired.items())]})
            api = "AlterConfigs"
        results = self._batched(api, body, "resources", "responses", "resource_name",
                                lambda r: (r["error_code"], r.get("error_message")),
                                key_of_item=lambda r: r["resource_name"])
        out = {}
        for n in names:
            code, msg = results.get(n, _KafkaSettings.NO_ANSWER)
            out[n] = None if code == 0 else self._error(
                code, msg, "cannot change the configs of topic '%s'" % n, topic=n,
                operation="ALTER_CONFIGS")
            if code == 0 and not validate_only:
                expected = self._expect_configs.setdefault(n, {})
                expected.update((k, _kafka_str(v)) for k, v in changes[n].items())
        return out

    # -- plumbing ---------------------------------------------------------------

    def _sleep(self, attempt):
        import time
        time.sleep(min(self.backoff * (2 ** attempt), 2.0))

    def _server_timeout_ms(self):
        """How long the broker may take on a write: less than we wait for its answer, so that
        a slow operation comes back as REQUEST_TIMED_OUT rather than a client time-out."""
        return max(100, int(self.timeout * 900))

    def _clock(self):
        import time
        return time.time()

    def _settle(self, attempt):
        import time
        self.requests_waiting += 1   # the next request only re-reads what is not there yet
        time.sleep(min(0.05 * (2 ** attempt), 1.0))

    def _connect(self, host, port):
        key = (host, int(port))
        conn = self._conns.get(key)
        if conn is not None and conn.sock is not None:
            return conn
        conn = _KafkaConnection(self, host, int(port))
        conn.open()
        self._conns[key] = conn
        return conn

    def _any(self):
        """A connection to some broker: an open one, else the first bootstrap server that answers."""
        for conn in self._conns.values():
            if conn.sock is not None:
                return conn
        failures = []
        for host, port in self.settings["bootstrap"]:
            try:
                return self._connect(host, port)
            except KafkaError as e:
                if e.code is not None or e.name in ("SASL", "TLS_VERIFY", "UNSUPPORTED"):
                    raise  # the broker answered: another one would say the same
                failures.append(e)
        if len(failures) == 1:
            raise failures[0]
        raise KafkaError(
            "cannot reach any Kafka bootstrap server (%s)" % ", ".join(
                "%s:%d" % hp for hp in self.settings["bootstrap"]),
            details=[f.message for f in failures],
            hint=failures[-1].hint if failures else None)

    def _metadata(self, topics):
        """One Metadata request; topics None = all topics, [] = none (brokers and controller only)."""
        conn = self._any()
        body = {"topics": None if topics is None else [{"name": n, "topic_id": None}
                                                        for n in topics],
                "allow_auto_topic_creation": False,
                "include_cluster_authorized_operations": False,
                "include_topic_authorized_operations": False}
        meta = self._call(conn, "Metadata", body)
        self._meta = meta
        return meta

    def _controller(self):
        """The connection writes go to: the controller named by Metadata (as the Java admin
        does; on KRaft clusters that is a broker that forwards to the quorum)."""
        meta = self._meta if self._meta is not None else self._metadata([])
        for b in meta["brokers"]:
            if b["node_id"] == meta["controller_id"]:
                try:
                    return self._connect(b["host"], b["port"])
                except KafkaError as e:
                    if e.code is not None:
                        raise
                    break  # advertised address unreachable from here: try through any broker
        return self._any()

    def _call(self, conn, api, body):
        """Send one request; on a broken connection reconnect once and resend."""
        try:
            return conn.request(api, body)
        except _KafkaSettings.Dropped:
            conn.close()
            s = self.settings
            hint = ("the broker rejects this request although it advertises it (a "
                    "Kafka-compatible broker with gaps?); its log says why")
            if not s["sasl"]:
                hint = ("if this listener requires authentication, set security_protocol "
                        "(now %s) and the sasl_* keys; otherwise %s" % (s["protocol"], hint))
            raise KafkaError(
                "the Kafka broker at %s closed the connection in answer to %s v%d"
                % (conn.address, api, conn.version(api)), name="UNSUPPORTED", hint=hint)

    def _batched(self, api, body, items_key, results_key, name_key, extract,
                 key_of_item=lambda item: item["name"]):
        """Send a batched write to the controller, retrying the items whose error is retriable.

        Returns ``{name: (error_code, error_message)}``."""
        items = list(body[items_key])
        results = {}
        for attempt in range(self.retries + 1):
            conn = self._controller()
            self._require(conn, api, None)
            resp = self._call(conn, api, dict(body, **{items_key: items}))
            retry = []
            for r in resp[results_key]:
                code, msg = extract(r)
                results[r[name_key]] = (code, msg)
                # REQUEST_TIMED_OUT on a write means "may still complete": a retry would
                # answer TOPIC_ALREADY_EXISTS (or UNKNOWN_TOPIC) and hide what happened
                if code in self.RETRIABLE and code != 7:
                    retry.append(r[name_key])
            if not retry or attempt == self.retries:
                break
            items = [i for i in items if key_of_item(i) in retry]
            self._meta = None  # the controller may have moved
            self._sleep(attempt)
        return results

    def _require(self, conn, api, purpose):
        if not conn.supports(api):
            what = purpose or api
            raise KafkaError(
                "the Kafka broker at %s does not support %s (no %s request in the versions "
                "streamt speaks)" % (conn.address, what, api),
                name="UNSUPPORTED",
                hint=_KafkaSettings.API_HINTS.get(api, "use a broker that implements %s" % api))

    def _refuse_unfaithful_validate(self, conn, what):
        # Brokers that do not implement the legacy AlterConfigs (Tansu) are also the ones
        # known to ignore validate_only and apply the change: refuse rather than apply.
        if not conn.advertises("AlterConfigs"):
            raise KafkaError(
                "the broker at %s would apply a validate-only request for real (it is a "
                "Kafka-compatible broker that ignores validate_only): not %s" % (conn.address, what),
                name="VALIDATE_ONLY_IGNORED",
                hint="validate against Apache Kafka, or run without validate-only")

    def _configs_caught_up(self, result, only_set_values):
        """Does a DescribeConfigs result show the topic and config values written here?"""
        name = result["resource_name"]
        if result["error_code"] == 3:
            return self._expect.get(name) != "present"
        if result["error_code"] != 0:
            return True
        wanted = self._expect_configs.get(name)
        if not wanted:
            return True
        seen = dict((c["name"], c) for c in result["configs"])
        for key, value in wanted.items():
            c = seen.get(key)
            if value is None:
                set_here = c is not None and (only_set_values or c.get("config_source") == 1)
                if set_here:
                    return False
            elif c is None or (not c["is_sensitive"] and c["value"] != value):
                return False
        del self._expect_configs[name]
        return True

    def _check_validate_only(self, names):
        """After a validate-only CreateTopics: did the broker create the topics anyway?"""
        if not names:
            return
        created = sorted(self.describe_topics(names))
        if created:
            raise KafkaError(
                "the Kafka broker ignored validate_only and really created topic(s) %s"
                % ", ".join(created), name="VALIDATE_ONLY_IGNORED",
                hint="this broker is not a faithful Kafka (Tansu ignores validate_only); "
                     "delete the topics if they are unwanted and validate against Apache Kafka")

    def _principal(self):
        s = self.settings
        if s["sasl"]:
            return "User:%s" % s["sasl_username"]
        if s["tls"] and s["ssl_certfile"]:
            return "the principal of the TLS client certificate (%s)" % s["ssl_certfile"]
        return "User:ANONYMOUS"

    def _error(self, code, broker_message, what, topic=None, operation=None, topic_spec=None):
        """A KafkaError for a per-resource error code, with the broker's words and a hint."""
        name = kafka_error_name(code)
        said = broker_message if broker_message and broker_message not in (
            "No error.", "") else None
        message = "%s: %s" % (what, name)
        if said:
            message += ": " + said
        hint = _KafkaSettings.HINTS.get(code)
        if code == 38:
            count = len((self._meta or {}).get("brokers") or [])
            if count:
                hint = ("the cluster has %d broker(s): replication_factor must be between 1 "
                        "and %d" % (count, count))
        elif code in (29, 31):
            resource = "Topic:%s" % topic if code == 29 and topic else "Cluster:kafka-cluster"
            hint = "grant %s the %s operation on %s (kafka-acls --add --allow-principal %s)" % (
                self._principal(), operation or "required", resource, self._principal())
        elif code == 37 and topic_spec is not None:
            hint = "partitions must be at least 1 (got %r)" % topic_spec.get("partitions")
        return KafkaError(message, code=code, hint=hint, broker_message=broker_message)


class _KafkaSettings(object):
    """Connection settings, error hints and config value forms of the admin client."""

    # -- kafka: settings, hints -----------------------------------------------------

    RESOURCE_TOPIC = 2

    # What a batched answer that does not mention one of the topics asked about counts as.
    NO_ANSWER = (-1, "the broker's answer does not mention this topic")

    CONFIG_SOURCES = {0: "UNKNOWN", 1: "TOPIC", 2: "BROKER", 3: "BROKER", 4: "BROKER",
                       5: "DEFAULT", 6: "BROKER_LOGGER", 7: "CLIENT_METRICS", 8: "GROUP"}

    HINTS = {
        3: "the topic does not exist (check the name, or whether it was deleted)",
        7: "the broker did not finish in time; the operation may still complete -- re-run "
       "`streamt plan` to see the state",
        17: "topic names are 1-249 characters of letters, digits, '.', '_' and '-' "
        "(and not '.' or '..')",
        33: "the broker does not enable this SASL mechanism; pick one it lists",
        35: "the broker and streamt share no version of this request",
        36: "the topic exists already; `streamt plan` shows how it differs from the project",
        37: "partitions must be at least 1, and can only be increased",
        39: "the replica assignment names brokers that do not exist",
        40: "check the config key and value against the Kafka topic configuration reference",
        41: "the controller moved during the request; re-run",
        42: "the broker rejected the request as malformed; its log says why",
        44: "a create/alter policy on the brokers refused it; ask the cluster's administrators",
        58: "check sasl_username, sasl_password and sasl_mechanism",
        73: "the brokers run with delete.topic.enable=false",
        89: "the cluster throttles topic operations for this principal; wait and retry",
    }

    API_HINTS = {
        "CreatePartitions": "the broker cannot add partitions (Tansu does not implement "
                        "CreatePartitions; Apache Kafka >= 1.0 does)",
        "AlterConfigs": "the broker implements neither IncrementalAlterConfigs nor AlterConfigs",
        "IncrementalAlterConfigs": "the broker predates Kafka 2.3",
        "DescribeConfigs": "the broker cannot report topic configs (Apache Kafka >= 0.11 can)",
    }

    @staticmethod
    def bool(value, default):
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise KafkaError("ssl_check_hostname must be true or false, not %r" % (value,))

    @staticmethod
    def settings(config):
        """Check and normalise a runtime.kafka mapping (errors say which key is wrong)."""
        config = dict(config or {})
        servers = config.get("bootstrap_servers")
        if isinstance(servers, str):
            servers = [s for s in re.split(r"[,\s]+", servers) if s]
        if not servers:
            raise KafkaError("runtime.kafka.bootstrap_servers is missing",
                             hint="give host:port[,host:port...] of one or more brokers")
        bootstrap = []
        for s in servers:
            s = str(s).strip()
            if "://" in s:  # PLAINTEXT://host:port, as in broker listener syntax
                s = s.split("://", 1)[1]
            m = re.match(r"^\[([^\]]+)\]:(\d+)$", s) or re.match(r"^([^:]+):(\d+)$", s)
            if not m:
                raise KafkaError("runtime.kafka.bootstrap_servers: %r is not host:port" % s,
                                 hint="for example broker1.example.com:9092")
            bootstrap.append((m.group(1), int(m.group(2))))
        protocol = str(config.get("security_protocol") or "PLAINTEXT").upper()
        if protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            raise KafkaError("runtime.kafka.security_protocol: unknown value %r" % protocol,
                             hint="one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL")
        sasl = protocol.startswith("SASL_")
        mechanism = str(config.get("sasl_mechanism") or ("PLAIN" if sasl else "")).upper()
        if sasl:
            if mechanism not in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
                raise KafkaError(
                    "runtime.kafka.sasl_mechanism: %r is not supported" % mechanism,
                    hint="streamt speaks PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (no GSSAPI/"
                     "Kerberos, OAUTHBEARER or AWS_MSK_IAM)")
            if not config.get("sasl_username") or config.get("sasl_password") is None:
                raise KafkaError("runtime.kafka: %s needs sasl_username and sasl_password" % protocol)
        return {
            "bootstrap": bootstrap, "protocol": protocol, "tls": protocol.endswith("SSL"),
            "sasl": sasl, "mechanism": mechanism,
            "sasl_username": config.get("sasl_username"),
            "sasl_password": config.get("sasl_password"),
            "ssl_cafile": config.get("ssl_cafile") or None,
            "ssl_certfile": config.get("ssl_certfile") or None,
            "ssl_keyfile": config.get("ssl_keyfile") or None,
            "ssl_check_hostname": _KafkaSettings.bool(config.get("ssl_check_hostname"), True),
        }

    # -- kafka: one connection --------------------------------------------------------

    class Dropped(Exception):
        """The broker closed the connection before answering."""

    # -- kafka: SCRAM (RFC 5802, RFC 7677) ---------------------------------------------

    class ScramError(Exception):
        pass

    @staticmethod
    def scram_attrs(message):
        out = {}
        for part in message.split(","):
            if len(part) >= 2 and part[1] == "=":
                out[part[0]] = part[2:]
        return out


def _kafka_str(value):
    """A config value as Kafka wants it: a string (booleans lower-case), None kept."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _KafkaConnection(object):
    """One connection to one broker: TLS, ApiVersions, SASL, then requests in turn."""

    def __init__(self, admin, host, port):
        self.admin = admin
        self.settings = admin.settings
        self.host, self.port = host, port
        self.address = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
        self.sock = None
        self.broker_versions = {}   # api key -> (min, max) advertised by the broker
        self.versions = {}          # api name -> version we use on this connection
        self._correlation = 0

    # -- versions ---------------------------------------------------------------

    def advertises(self, api):
        return _KafkaWire.APIS[api][0] in self.broker_versions

    def supports(self, api):
        return api in self.versions

    def version(self, api):
        if api in self.versions:
            return self.versions[api]
        key, ours = _KafkaWire.APIS[api][0], _KafkaWire.APIS[api][1]
        if key in self.broker_versions:
            lo, hi = self.broker_versions[key]
            raise KafkaError(
                "the Kafka broker at %s speaks %s versions %d-%d and streamt versions %d-%d: "
                "no version in common" % (self.address, api, lo, hi, ours[0], ours[-1]),
                code=35, hint="streamt supports Apache Kafka 1.0 to 4.x and compatible brokers")
        raise KafkaError("the Kafka broker at %s does not support %s" % (self.address, api),
                         name="UNSUPPORTED", hint=_KafkaSettings.API_HINTS.get(api))

    def _choose_versions(self, advertised):
        self.broker_versions = dict(advertised)
        caps = self.admin.version_caps
        self.versions = {}
        for api, spec in _KafkaWire.APIS.items():
            if spec[0] not in advertised:
                continue
            lo, hi = advertised[spec[0]]
            common = [v for v in spec[1] if lo <= v <= hi and v <= caps.get(api, v)]
            if common:
                self.versions[api] = max(common)

    # -- life cycle -------------------------------------------------------------

    def open(self):
        import socket
        timeout = self.admin.timeout
        try:
            sock = socket.create_connection((self.host, self.port), timeout)
        except socket.timeout:
            raise KafkaError(
                "timed out after %gs connecting to Kafka broker %s" % (timeout, self.address),
                name="TIMEOUT", hint="check the address and port; a firewall may be dropping "
                                     "the connection")
        except socket.gaierror as e:
            raise KafkaError("cannot resolve the Kafka broker host %r: %s" % (self.host, e.strerror),
                             name="UNREACHABLE", hint="check runtime.kafka.bootstrap_servers "
                                                      "(and the brokers' advertised.listeners)")
        except (OSError, IOError) as e:
            raise KafkaError(
                "cannot connect to Kafka broker %s: %s" % (self.address, e.strerror or e),
                name="UNREACHABLE", hint="check that the broker is running and reachable "
                                         "from this host (runtime.kafka.bootstrap_servers)")
        if self.settings["tls"]:
            sock = self._wrap_tls(sock)
        self.sock = sock
        try:
            self._negotiate()
            if self.settings["sasl"]:
                self._authenticate()
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except (OSError, IOError):
                pass
            self.sock = None

    def _wrap_tls(self, sock):
        import socket
        import ssl
        s = self.settings
        try:
            ctx = ssl.create_default_context(cafile=s["ssl_cafile"])
            if s["ssl_certfile"]:
                ctx.load_cert_chain(s["ssl_certfile"], s["ssl_keyfile"])
        except (IOError, OSError, ssl.SSLError) as e:
            sock.close()
            raise KafkaError("cannot load the TLS files of runtime.kafka (ssl_cafile=%s, "
                             "ssl_certfile=%s, ssl_keyfile=%s): %s"
                             % (s["ssl_cafile"], s["ssl_certfile"], s["ssl_keyfile"], e),
                             name="TLS", hint="give PEM files readable by this user")
        ctx.check_hostname = s["ssl_check_hostname"]
        try:
            return ctx.wrap_socket(sock, server_hostname=self.host)
        except socket.timeout:
            sock.close()
            raise KafkaError("timed out during the TLS handshake with Kafka broker %s"
                             % self.address, name="TIMEOUT",
                             hint="is this a TLS listener? (security_protocol %s)"
                                  % s["protocol"])
        except (ssl.SSLError, ssl.CertificateError, OSError, IOError) as e:
            sock.close()
            text = str(e)
            if isinstance(e, ssl.CertificateError) or "CERTIFICATE_VERIFY_FAILED" in text:
                raise KafkaError(
                    "TLS: the certificate of Kafka broker %s is not trusted: %s"
                    % (self.address, getattr(e, "verify_message", None) or text),
                    name="TLS_VERIFY",
                    hint="set runtime.kafka.ssl_cafile to the CA certificate (PEM) that signed "
                         "the broker's certificate; for a name mismatch, connect with the "
                         "name in the certificate")
            raise KafkaError("TLS handshake with Kafka broker %s failed: %s" % (self.address, text),
                             name="TLS", hint="is this a TLS listener? security_protocol is %s"
                                              % s["protocol"])

    # -- set-up: ApiVersions and SASL -------------------------------------------

    def _negotiate(self):
        """ApiVersions: v3 first; a broker that does not know v3 answers UNSUPPORTED_VERSION in
        the v0 layout with its own ranges (or none before Kafka 2.4: then ask again with v0)."""
        body = {"client_software_name": "streamt", "client_software_version": __version__}
        try:
            resp = self.request("ApiVersions", body, version=3)
            if resp["error_code"] == 35 and not resp["api_keys"]:
                resp = self.request("ApiVersions", body, version=0)
        except _KafkaSettings.Dropped:
            raise KafkaError(
                "the Kafka broker at %s closed the connection in answer to ApiVersions"
                % self.address, name="UNREACHABLE",
                hint="is this a Kafka listener, and does security_protocol (%s) match it?"
                     % self.settings["protocol"])
        if resp["error_code"] not in (0, 35):
            raise KafkaError("the Kafka broker at %s refused ApiVersions: %s"
                             % (self.address, kafka_error_name(resp["error_code"])),
                             code=resp["error_code"])
        self._choose_versions(dict((k["api_key"], (k["min_version"], k["max_version"]))
                                   for k in resp["api_keys"]))
        for api in ("Metadata",):
            self.version(api)  # refuse clearly when there is nothing in common

    def _authenticate(self):
        s = self.settings
        mech, user = s["mechanism"], s["sasl_username"]
        self.version("SaslHandshake")
        self.version("SaslAuthenticate")
        try:
            resp = self.request("SaslHandshake", {"mechanism": mech})
            if resp["error_code"] == 33:
                raise KafkaError(
                    "the Kafka broker at %s does not enable SASL mechanism %s (it offers: %s)"
                    % (self.address, mech, ", ".join(resp["mechanisms"]) or "none"), code=33,
                    hint="set runtime.kafka.sasl_mechanism to one the broker offers")
            if resp["error_code"] != 0:
                raise KafkaError(
                    "SASL handshake with Kafka broker %s failed: %s (is this listener SASL?)"
                    % (self.address, kafka_error_name(resp["error_code"])),
                    code=resp["error_code"], hint="check security_protocol (%s) against the "
                                                  "broker's listener" % s["protocol"])
            password = s["sasl_password"]
            if mech == "PLAIN":
                token = b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8")
                self._sasl_step(token)
            else:
                scram = _Scram(mech, user, password)
                server_first = self._sasl_step(scram.first())
                server_final = self._sasl_step(scram.final(server_first))
                scram.verify(server_final)
        except _KafkaSettings.Dropped:
            raise KafkaError(
                "the Kafka broker at %s closed the connection during SASL %s authentication "
                "as user %r" % (self.address, mech, user), name="SASL",
                hint="check the credentials, sasl_mechanism and that this listener is %s"
                     % s["protocol"])
        except _KafkaSettings.ScramError as e:
            raise KafkaError("SASL %s authentication as user %r at Kafka broker %s failed: %s"
                             % (mech, user, self.address, e), code=58,
                             hint=_KafkaSettings.HINTS[58])

    def _sasl_step(self, token):
        resp = self.request("SaslAuthenticate", {"auth_bytes": token})
        if resp["error_code"] != 0:
            s = self.settings
            raise KafkaError(
                "SASL %s authentication as user %r at Kafka broker %s failed: %s"
                % (s["mechanism"], s["sasl_username"], self.address,
                   resp.get("error_message") or kafka_error_name(resp["error_code"])),
                code=resp["error_code"], broker_message=resp.get("error_message"),
                hint="check sasl_username and sasl_password (and that the user exists for "
                     "%s)" % s["mechanism"])
        return resp["auth_bytes"] or b""

    # -- requests ---------------------------------------------------------------

    def request(self, api, body, version=None):
        """Send one request and return its decoded response (a dict)."""
        import socket
        import ssl
        import struct
        import time
        key, _ours, flex_from, req_schema, resp_schema = _KafkaWire.APIS[api]
        v = self.version(api) if version is None else version
        flexible = v >= flex_from
        self._correlation = (self._correlation + 1) & 0x7FFFFFFF
        corr = self._correlation
        frame = _KafkaWire.encode_request(key, v, corr, self.admin.client_id, flexible,
                                      req_schema, body)
        timeout = self.admin.timeout
        deadline = time.time() + timeout
        try:
            self.sock.settimeout(timeout)
            self.sock.sendall(frame)
            self.admin.requests_sent += 1
            size = struct.unpack(">i", self._read(4, deadline))[0]
            if size < 4 or size > 256 * 1024 * 1024:
                raise KafkaError(
                    "the broker at %s answered %s with something that is not the Kafka "
                    "protocol" % (self.address, api), name="PROTOCOL",
                    hint="is this listener TLS or SASL? security_protocol is %s"
                         % self.settings["protocol"])
            data = self._read(size, deadline)
        except socket.timeout:
            self.close()
            raise KafkaError("timed out after %gs waiting for Kafka broker %s to answer %s"
                             % (timeout, self.address, api), name="TIMEOUT",
                             hint="the broker is overloaded or unreachable; raise the timeout "
                                  "or check the broker")
        except (ssl.SSLError, ConnectionError, OSError, IOError) as e:
            self.close()
            if isinstance(e, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
                raise _KafkaSettings.Dropped()
            raise KafkaError("connection to Kafka broker %s failed during %s: %s"
                             % (self.address, api, e), name="UNREACHABLE")
        except _KafkaSettings.Dropped:
            self.close()
            raise
        except KafkaError:
            self.close()
            raise
        # ApiVersions answers always use header v0, so that any client can read them; an
        # UNSUPPORTED_VERSION answer to ApiVersions comes in the v0 layout, whatever we asked.
        flexible_header = flexible and api != "ApiVersions"
        try:
            if api == "ApiVersions" and struct.unpack_from(">ih", data)[1] == 35:
                resp = {"error_code": 35, "api_keys": _KafkaWire.decode_versions_v0(data)}
                got = struct.unpack_from(">i", data)[0]
            else:
                resp, got = _KafkaWire.decode_response(data, v, flexible, flexible_header, resp_schema)
        except (struct.error, IndexError, ValueError, UnicodeDecodeError) as e:
            self.close()
            raise KafkaError("cannot decode the %s v%d answer of Kafka broker %s: %s"
                             % (api, v, self.address, e), name="PROTOCOL")
        if got != corr:
            self.close()
            raise KafkaError("Kafka broker %s answered request %d with correlation id %d"
                             % (self.address, corr, got), name="PROTOCOL",
                             hint="a proxy in between may be mixing connections")
        return resp

    def _read(self, n, deadline):
        import socket
        import time
        chunks = []
        while n > 0:
            left = deadline - time.time()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
            chunk = self.sock.recv(min(n, 1 << 20))
            if not chunk:
                raise _KafkaSettings.Dropped()
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)


class _KafkaWire(object):
    """Encoding and decoding of Kafka requests and responses from the message catalogue APIS (flexible versions, tagged fields, compact types)."""

    @staticmethod
    def decode_versions_v0(data):
        """The api_keys of an ApiVersions answer in the v0 layout (how a broker answers a
        version of ApiVersions it does not know)."""
        r = _KafkaWire.Reader(data, 4)
        r.int16()
        return [{"api_key": r.int16(), "min_version": r.int16(), "max_version": r.int16()}
                for _ in range(max(r.int32(), 0))]

    # -- kafka: encoding ---------------------------------------------------------------
    #
    # Two encodings share the same types.  The classic one: strings with an int16 length
    # (-1 = null), bytes and arrays with an int32 length (-1 = null).  The "flexible" one
    # (KIP-482, from the version in each message's flexibleVersions): lengths as unsigned
    # varints of length+1 (0 = null), and a block of tagged fields (a varint count, then
    # tag, size, bytes) at the end of every structure and of the request/response header.
    # We send no tagged fields and skip those we receive.

    class Writer(object):
        def __init__(self, flexible):
            self.flexible = flexible
            self.parts = []

        def raw(self, fmt, value):
            import struct
            self.parts.append(struct.pack(fmt, value))

        def uvarint(self, n):
            out = bytearray()
            while True:
                b = n & 0x7F
                n >>= 7
                if n:
                    out.append(b | 0x80)
                else:
                    out.append(b)
                    break
            self.parts.append(bytes(out))

        def length(self, n, classic_fmt):
            """An array/string/bytes length; None = null."""
            if self.flexible:
                self.uvarint(0 if n is None else n + 1)
            else:
                self.raw(classic_fmt, -1 if n is None else n)

        def string(self, value, classic=False):
            if value is None:
                data = None
            else:
                data = value.encode("utf-8")
            if classic:
                self.raw(">h", -1 if data is None else len(data))
            else:
                self.length(None if data is None else len(data), ">h")
            if data:
                self.parts.append(data)

        def bytes(self, value):
            self.length(None if value is None else len(value), ">i")
            if value:
                self.parts.append(bytes(value))

        def tags(self):
            if self.flexible:
                self.uvarint(0)

        def getvalue(self):
            return b"".join(self.parts)

    class Reader(object):
        def __init__(self, data, pos=0):
            self.data = data
            self.pos = pos

        def raw(self, fmt, size):
            import struct
            value = struct.unpack_from(fmt, self.data, self.pos)[0]
            self.pos += size
            return value

        def int8(self):
            return self.raw(">b", 1)

        def int16(self):
            return self.raw(">h", 2)

        def int32(self):
            return self.raw(">i", 4)

        def uvarint(self):
            shift = value = 0
            while True:
                b = self.raw(">B", 1)
                value |= (b & 0x7F) << shift
                if not b & 0x80:
                    return value
                shift += 7
                if shift > 63:
                    raise ValueError("varint too long")

        def length(self, flexible, classic_fmt, size):
            if flexible:
                return self.uvarint() - 1
            return self.raw(classic_fmt, size)

        def take(self, n):
            if n < 0 or self.pos + n > len(self.data):
                raise ValueError("length %d runs past the end of the message" % n)
            out = self.data[self.pos:self.pos + n]
            self.pos += n
            return out

        def string(self, flexible):
            n = self.length(flexible, ">h", 2)
            return None if n < 0 else self.take(n).decode("utf-8")

        def bytes(self, flexible):
            n = self.length(flexible, ">i", 4)
            return None if n < 0 else bytes(self.take(n))

        def skip_tags(self):
            for _ in range(self.uvarint()):
                self.uvarint()                 # tag
                self.take(self.uvarint())      # size, then the value we do not need

    PRIMITIVES = {"int8": (">b", 1), "int16": (">h", 2), "int32": (">i", 4),
                         "int64": (">q", 8), "bool": (">?", 1)}

    @staticmethod
    def fields(fields, version):
        return [f for f in fields if f[2] <= version <= f[3]]

    @staticmethod
    def write(w, fields, version, obj):
        for name, ftype, _lo, _hi in _KafkaWire.fields(fields, version):
            _KafkaWire.write_value(w, ftype, version, obj.get(name))
        w.tags()

    @staticmethod
    def write_value(w, ftype, version, value):
        if isinstance(ftype, tuple):          # ("[]", element type or field list)
            elem = ftype[1]
            w.length(None if value is None else len(value), ">i")
            for item in value or ():
                if isinstance(elem, list):
                    _KafkaWire.write(w, elem, version, item)
                else:
                    _KafkaWire.write_value(w, elem, version, item)
        elif ftype in _KafkaWire.PRIMITIVES:
            w.raw(_KafkaWire.PRIMITIVES[ftype][0], value or 0)
        elif ftype == "string":
            w.string(value)
        elif ftype == "bytes":
            w.bytes(value)
        elif ftype == "uuid":
            w.parts.append(bytes(bytearray.fromhex(value)) if value else b"\0" * 16)
        else:  # pragma: no cover - a typo in _KAFKA_APIS
            raise ValueError("unknown field type %r" % (ftype,))

    @staticmethod
    def read(r, fields, version, flexible):
        out = {}
        for name, ftype, _lo, _hi in _KafkaWire.fields(fields, version):
            out[name] = _KafkaWire.read_value(r, ftype, version, flexible)
        if flexible:
            r.skip_tags()
        return out

    @staticmethod
    def read_value(r, ftype, version, flexible):
        if isinstance(ftype, tuple):
            n = r.length(flexible, ">i", 4)
            if n < 0:
                return None
            elem = ftype[1]
            if isinstance(elem, list):
                return [_KafkaWire.read(r, elem, version, flexible) for _ in range(n)]
            return [_KafkaWire.read_value(r, elem, version, flexible) for _ in range(n)]
        if ftype in _KafkaWire.PRIMITIVES:
            fmt, size = _KafkaWire.PRIMITIVES[ftype]
            return r.raw(fmt, size)
        if ftype == "string":
            return r.string(flexible)
        if ftype == "bytes":
            return r.bytes(flexible)
        if ftype == "uuid":
            raw = bytes(r.take(16))
            return None if raw == b"\0" * 16 else _KafkaWire.hex(raw)
        raise ValueError("unknown field type %r" % (ftype,))

    @staticmethod
    def hex(data):
        return "".join("%02x" % b for b in bytearray(data))

    @staticmethod
    def encode_request(api_key, version, correlation_id, client_id, flexible, fields, body):
        """A complete request frame: size, header (v1, or v2 when flexible), body."""
        w = _KafkaWire.Writer(flexible)
        w.raw(">h", api_key)
        w.raw(">h", version)
        w.raw(">i", correlation_id)
        w.string(client_id, classic=True)   # the client id keeps its classic encoding in header v2
        w.tags()
        _KafkaWire.write(w, fields, version, body)
        payload = w.getvalue()
        return _KafkaWire.size(payload) + payload

    @staticmethod
    def size(payload):
        import struct
        return struct.pack(">i", len(payload))

    @staticmethod
    def decode_response(data, version, flexible, flexible_header, fields):
        """``(body, correlation_id)`` of a response frame without its size prefix."""
        r = _KafkaWire.Reader(data)
        correlation_id = r.int32()
        if flexible_header:
            r.skip_tags()
        body = _KafkaWire.read(r, fields, version, flexible)
        return body, correlation_id

    # -- kafka: the messages -------------------------------------------------------------
    #
    # Written from apache/kafka clients/src/main/resources/common/message/<Name>{Request,
    # Response}.json.  A field is (name, type, first version, last version); a type is a
    # primitive name or ("[]", element) where element is a primitive or a field list.
    # Each API: (api key, versions streamt speaks, first flexible version, request, response).
    # The version used on a connection is the highest one both sides speak.

    N = 999  # "and later"

    def F(name, ftype, lo=0, hi=N):
        return (name, ftype, lo, hi)

    def A(elem):
        return ("[]", elem)

    APIS = {
        "ApiVersions": (18, (0, 1, 2, 3), 3, [
            F("client_software_name", "string", 3),
            F("client_software_version", "string", 3),
        ], [
            F("error_code", "int16"),
            F("api_keys", A([F("api_key", "int16"), F("min_version", "int16"),
                               F("max_version", "int16")])),
            F("throttle_time_ms", "int32", 1),
        ]),
        "Metadata": (3, tuple(range(4, 13)), 9, [
            F("topics", A([F("topic_id", "uuid", 10), F("name", "string")])),
            F("allow_auto_topic_creation", "bool", 4),
            F("include_cluster_authorized_operations", "bool", 8, 10),
            F("include_topic_authorized_operations", "bool", 8),
        ], [
            F("throttle_time_ms", "int32", 3),
            F("brokers", A([F("node_id", "int32"), F("host", "string"), F("port", "int32"),
                              F("rack", "string", 1)])),
            F("cluster_id", "string", 2),
            F("controller_id", "int32", 1),
            F("topics", A([
                F("error_code", "int16"), F("name", "string"), F("topic_id", "uuid", 10),
                F("is_internal", "bool", 1),
                F("partitions", A([
                    F("error_code", "int16"), F("partition_index", "int32"),
                    F("leader_id", "int32"), F("leader_epoch", "int32", 7),
                    F("replica_nodes", A("int32")), F("isr_nodes", A("int32")),
                    F("offline_replicas", A("int32"), 5)])),
                F("topic_authorized_operations", "int32", 8)])),
            F("cluster_authorized_operations", "int32", 8, 10),
        ]),
        "CreateTopics": (19, (2, 3, 4, 5, 6, 7), 5, [
            F("topics", A([
                F("name", "string"), F("num_partitions", "int32"),
                F("replication_factor", "int16"),
                F("assignments", A([F("partition_index", "int32"),
                                      F("broker_ids", A("int32"))])),
                F("configs", A([F("name", "string"), F("value", "string")]))])),
            F("timeout_ms", "int32"),
            F("validate_only", "bool", 1),
        ], [
            F("throttle_time_ms", "int32", 2),
            F("topics", A([
                F("name", "string"), F("topic_id", "uuid", 7), F("error_code", "int16"),
                F("error_message", "string", 1),
                F("num_partitions", "int32", 5), F("replication_factor", "int16", 5),
                F("configs", A([F("name", "string"), F("value", "string"),
                                  F("read_only", "bool"), F("config_source", "int8"),
                                  F("is_sensitive", "bool")]), 5)])),
        ]),
        "DeleteTopics": (20, (1, 2, 3, 4, 5), 4, [
            F("topic_names", A("string"), 0, 5),
            F("timeout_ms", "int32"),
        ], [
            F("throttle_time_ms", "int32", 1),
            F("responses", A([F("name", "string"), F("error_code", "int16"),
                                F("error_message", "string", 5)])),
        ]),
        "DescribeConfigs": (32, (1, 2, 3, 4), 4, [
            F("resources", A([F("resource_type", "int8"), F("resource_name", "string"),
                                F("configuration_keys", A("string"))])),
            F("include_synonyms", "bool", 1),
            F("include_documentation", "bool", 3),
        ], [
            F("throttle_time_ms", "int32"),
            F("results", A([
                F("error_code", "int16"), F("error_message", "string"),
                F("resource_type", "int8"), F("resource_name", "string"),
                F("configs", A([
                    F("name", "string"), F("value", "string"), F("read_only", "bool"),
                    F("is_default", "bool", 0, 0), F("config_source", "int8", 1),
                    F("is_sensitive", "bool"),
                    F("synonyms", A([F("name", "string"), F("value", "string"),
                                       F("source", "int8")]), 1),
                    F("config_type", "int8", 3), F("documentation", "string", 3)]))])),
        ]),
        "AlterConfigs": (33, (0, 1, 2), 2, [
            F("resources", A([F("resource_type", "int8"), F("resource_name", "string"),
                                F("configs", A([F("name", "string"), F("value", "string")]))])),
            F("validate_only", "bool"),
        ], [
            F("throttle_time_ms", "int32"),
            F("responses", A([F("error_code", "int16"), F("error_message", "string"),
                                F("resource_type", "int8"), F("resource_name", "string")])),
        ]),
        "IncrementalAlterConfigs": (44, (0, 1), 1, [
            F("resources", A([F("resource_type", "int8"), F("resource_name", "string"),
                                F("configs", A([F("name", "string"),
                                                  F("config_operation", "int8"),
                                                  F("value", "string")]))])),
            F("validate_only", "bool"),
        ], [
            F("throttle_time_ms", "int32"),
            F("responses", A([F("error_code", "int16"), F("error_message", "string"),
                                F("resource_type", "int8"), F("resource_name", "string")])),
        ]),
        "CreatePartitions": (37, (0, 1, 2, 3), 2, [
            F("topics", A([F("name", "string"), F("count", "int32"),
                             F("assignments", A([F("broker_ids", A("int32"))]))])),
            F("timeout_ms", "int32"),
            F("validate_only", "bool"),
        ], [
            F("throttle_time_ms", "int32"),
            F("results", A([F("name", "string"), F("error_code", "int16"),
                              F("error_message", "string")])),
        ]),
        # -- the read path (KafkaReader): offsets, records, group offsets
        "ListOffsets": (2, (1, 2, 3, 4, 5, 6, 7), 6, [
            F("replica_id", "int32"),
            F("isolation_level", "int8", 2),
            F("topics", A([F("name", "string"), F("partitions", A([
                F("partition_index", "int32"), F("current_leader_epoch", "int32", 4),
                F("timestamp", "int64")]))])),
        ], [
            F("throttle_time_ms", "int32", 2),
            F("topics", A([F("name", "string"), F("partitions", A([
                F("partition_index", "int32"), F("error_code", "int16"),
                F("timestamp", "int64"), F("offset", "int64"),
                F("leader_epoch", "int32", 4)]))])),
        ]),
        "Fetch": (1, (4, 5, 6, 7, 8, 9, 10, 11, 12), 12, [
            F("replica_id", "int32"), F("max_wait_ms", "int32"), F("min_bytes", "int32"),
            F("max_bytes", "int32"), F("isolation_level", "int8"),
            F("session_id", "int32", 7), F("session_epoch", "int32", 7),
            F("topics", A([F("topic", "string"), F("partitions", A([
                F("partition", "int32"), F("current_leader_epoch", "int32", 9),
                F("fetch_offset", "int64"), F("last_fetched_epoch", "int32", 12),
                F("log_start_offset", "int64", 5), F("partition_max_bytes", "int32")]))])),
            F("forgotten_topics_data", A([F("topic", "string"),
                                          F("partitions", A("int32"))]), 7),
            F("rack_id", "string", 11),
        ], [
            F("throttle_time_ms", "int32"),
            F("error_code", "int16", 7), F("session_id", "int32", 7),
            F("responses", A([F("topic", "string"), F("partitions", A([
                F("partition_index", "int32"), F("error_code", "int16"),
                F("high_watermark", "int64"), F("last_stable_offset", "int64"),
                F("log_start_offset", "int64", 5),
                F("aborted_transactions", A([F("producer_id", "int64"),
                                             F("first_offset", "int64")])),
                F("preferred_read_replica", "int32", 11),
                F("records", "bytes")]))])),
        ]),
        "FindCoordinator": (10, (1, 2, 3), 3, [
            F("key", "string"), F("key_type", "int8"),
        ], [
            F("throttle_time_ms", "int32"), F("error_code", "int16"),
            F("error_message", "string"), F("node_id", "int32"), F("host", "string"),
            F("port", "int32"),
        ]),
        "OffsetFetch": (9, (1, 2, 3, 4, 5, 6, 7), 6, [
            F("group_id", "string"),
            F("topics", A([F("name", "string"), F("partition_indexes", A("int32"))])),
            F("require_stable", "bool", 7),
        ], [
            F("throttle_time_ms", "int32", 3),
            F("topics", A([F("name", "string"), F("partitions", A([
                F("partition_index", "int32"), F("committed_offset", "int64"),
                F("committed_leader_epoch", "int32", 5), F("metadata", "string"),
                F("error_code", "int16")]))])),
            F("error_code", "int16", 2),
        ]),
        "ListGroups": (16, (0, 1, 2, 3, 4), 3, [
            F("states_filter", A("string"), 4),
        ], [
            F("throttle_time_ms", "int32", 1), F("error_code", "int16"),
            F("groups", A([F("group_id", "string"), F("protocol_type", "string"),
                           F("group_state", "string", 4)])),
        ]),
        "SaslHandshake": (17, (1,), N, [
            F("mechanism", "string"),
        ], [
            F("error_code", "int16"),
            F("mechanisms", A("string")),
        ]),
        "SaslAuthenticate": (36, (0, 1, 2), 2, [
            F("auth_bytes", "bytes"),
        ], [
            F("error_code", "int16"),
            F("error_message", "string"),
            F("auth_bytes", "bytes"),
            F("session_lifetime_ms", "int64", 1),
        ]),
    }


class _Scram(object):
    """The client side of a SCRAM exchange (no channel binding, as Kafka does)."""

    HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512", "SCRAM-SHA-1": "sha1"}

    def __init__(self, mechanism, username, password, nonce=None):
        import base64
        import os as _os
        self.hash = self.HASHES[mechanism]
        self.password = password.encode("utf-8")
        self.nonce = nonce or base64.b64encode(_os.urandom(24)).decode("ascii")
        name = username.replace("=", "=3D").replace(",", "=2C")
        self.client_first_bare = "n=%s,r=%s" % (name, self.nonce)
        self.server_signature = None

    def _hmac(self, key, msg):
        import hmac
        return hmac.new(key, msg, getattr(hashlib, self.hash)).digest()

    def first(self):
        return ("n,," + self.client_first_bare).encode("utf-8")

    def final(self, server_first):
        import base64
        server_first = server_first.decode("utf-8")
        attrs = _KafkaSettings.scram_attrs(server_first)
        if "e" in attrs:
            raise _KafkaSettings.ScramError("the broker said: " + attrs["e"])
        try:
            nonce, salt, iterations = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        except (KeyError, ValueError, TypeError):
            raise _KafkaSettings.ScramError("malformed server-first message %r" % server_first)
        if not nonce.startswith(self.nonce) or iterations < 1:
            raise _KafkaSettings.ScramError("the server's nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac(self.hash, self.password, salt, iterations)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = getattr(hashlib, self.hash)(client_key).digest()
        without_proof = "c=biws,r=" + nonce
        auth_message = ",".join([self.client_first_bare, server_first, without_proof])
        signature = self._hmac(stored_key, auth_message.encode("utf-8"))
        proof = bytes(bytearray(a ^ b for a, b in zip(bytearray(client_key), bytearray(signature))))
        self.server_signature = self._hmac(self._hmac(salted, b"Server Key"),
                                           auth_message.encode("utf-8"))
        return (without_proof + ",p=" + base64.b64encode(proof).decode("ascii")).encode("utf-8")

    def verify(self, server_final):
        import base64
        import hmac
        attrs = _KafkaSettings.scram_attrs(server_final.decode("utf-8"))
        if "e" in attrs:
            raise _KafkaSettings.ScramError("the broker said: " + attrs["e"])
        if "v" not in attrs or not hmac.compare_digest(
                base64.b64decode(attrs["v"]), self.server_signature or b""):
            raise _KafkaSettings.ScramError("the broker's SCRAM signature is wrong: it does not know the "
                              "password (not the broker you think?)")


###############################################################################
# Kafka wire client: reading ##################################################
###############################################################################

# The read path of the Kafka client, split from the admin path for length (one unit):
# partition leaders, offsets, record batches (v2, every codec a producer may choose),
# committed group offsets.

__all__ += ["KafkaRecord", "KafkaReader"]


class KafkaRecord(object):
    """One record: where it is (topic, partition, offset), when, its key, value and headers
    (bytes, or None; header keys are text)."""

    __slots__ = ("topic", "partition", "offset", "timestamp", "key", "value", "headers",
                 "leader_epoch")

    def __init__(self, topic, partition, offset, timestamp, key, value, headers,
                 leader_epoch=-1):
        self.topic, self.partition, self.offset = topic, partition, offset
        self.timestamp, self.key, self.value = timestamp, key, value
        self.headers, self.leader_epoch = headers, leader_epoch

    def __repr__(self):
        return "KafkaRecord(%s-%d@%d, key=%r, value=%r)" % (
            self.topic, self.partition, self.offset, self.key, self.value)


class KafkaReader(KafkaAdmin):
    """Reading one Kafka cluster: partition leaders, offsets, records, committed offsets.

    The settings (TLS, SASL PLAIN/SCRAM) and the time-out are KafkaAdmin's.  Records are
    read from each partition's leader with ``isolation`` ``read_committed`` (the default:
    aborted transactions and control batches skipped) or ``read_uncommitted``; every batch's
    CRC-32C is checked.  Codecs: none, gzip, snappy (raw and xerial framing) and lz4
    (Kafka's LZ4 frame) in pure Python; zstd where this Python has a module for it.  A batch
    that does not decode is a KafkaError naming the topic, partition, offset (and codec)."""

    ISOLATION = {"read_uncommitted": 0, "read_committed": 1}
    LEADER_MOVED = frozenset([5, 6, 74, 75])   # refresh the leaders and ask again

    def __init__(self, config, timeout=10.0, retries=4, backoff=0.2, client_id="streamt",
                 isolation="read_committed", check_crcs=True, max_batch_bytes=64 << 20):
        KafkaAdmin.__init__(self, config, timeout=timeout, retries=retries, backoff=backoff,
                            client_id=client_id)
        if isolation not in self.ISOLATION:
            raise KafkaError("isolation must be read_committed or read_uncommitted, not %r"
                             % (isolation,))
        self.isolation = isolation
        self.check_crcs = check_crcs
        self.max_batch_bytes = int(max_batch_bytes)
        self._leaders = {}   # topic -> {partition: (node_id, leader_epoch)}

    # -- leaders and offsets -----------------------------------------------------

    def partitions(self, topic, refresh=False):
        """``{partition: {"leader": node id, "leader_epoch": epoch}}`` from Metadata."""
        if refresh or topic not in self._leaders:
            meta = self._metadata([topic])
            found = [t for t in meta["topics"] if t["name"] == topic]
            if not found or found[0]["error_code"] in (3, 100):
                raise KafkaError("topic '%s' does not exist" % topic, code=3,
                                 hint=_KafkaSettings.HINTS[3])
            if found[0]["error_code"] != 0:
                raise self._error(found[0]["error_code"], None,
                                  "cannot read the partitions of topic '%s'" % topic,
                                  topic=topic, operation="DESCRIBE")
            self._leaders[topic] = dict(
                (p["partition_index"], (p["leader_id"], p.get("leader_epoch", -1)))
                for p in found[0]["partitions"])
        return dict((p, {"leader": l, "leader_epoch": e})
                    for p, (l, e) in sorted(self._leaders[topic].items()))

    def offsets(self, topic, which="latest", partitions=None, isolation=None):
        """``{partition: offset}``: ``which`` is ``earliest``, ``latest`` (the log end; under
        read_committed the last stable offset) or a timestamp in milliseconds (the first
        offset at or after it; -1 where there is none).  ``isolation`` defaults to the
        reader's."""
        stamp = {"earliest": -2, "latest": -1}.get(which, which)
        if not isinstance(stamp, int):
            raise KafkaError("offsets: which must be earliest, latest or a timestamp (ms), "
                             "not %r" % (which,))
        todo = sorted(self.partitions(topic) if partitions is None else partitions)
        out = {}
        for attempt in range(self.retries + 1):
            leaders = self._leaders[topic]
            again = []
            for node, parts in sorted(self._by_leader(topic, todo).items()):
                body = {"replica_id": -1,
                        "isolation_level": self.ISOLATION[isolation or self.isolation],
                        "topics": [{"name": topic, "partitions": [
                            {"partition_index": p, "current_leader_epoch": leaders[p][1],
                             "timestamp": stamp} for p in parts]}]}
                conn = self._leader(node)
                resp = self._call(conn, "ListOffsets", body)
                for t in resp["topics"]:
                    for p in t["partitions"]:
                        code = p["error_code"]
                        if code == 0:
                            out[p["partition_index"]] = p["offset"]
                        elif code in self.LEADER_MOVED and attempt < self.retries:
                            again.append(p["partition_index"])
                        else:
                            raise self._error(code, None, "cannot list the offsets of %s-%d"
                                              % (topic, p["partition_index"]), topic=topic,
                                              operation="DESCRIBE")
            if not again:
                break
            todo = again
            self._sleep(attempt)
            self.partitions(topic, refresh=True)
        return dict(sorted(out.items()))

    # -- records -----------------------------------------------------------------

    def fetch(self, topic, partition, offset, max_bytes=1 << 20):
        """Records of one partition from ``offset`` on (one Fetch, or a few when a batch is
        larger than ``max_bytes``): ``(records, info)``; ``info`` has ``next_offset``,
        ``high_watermark``, ``last_stable_offset`` and ``log_start_offset``."""
        self.partitions(topic)
        if partition not in self._leaders[topic]:
            raise KafkaError("topic '%s' has no partition %d" % (topic, partition), code=3)
        size = int(max_bytes)
        attempt = 0
        while True:
            node, epoch = self._leaders[topic][partition]
            body = {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": size,
                    "isolation_level": self.ISOLATION[self.isolation], "session_id": 0,
                    "session_epoch": -1, "forgotten_topics_data": [], "rack_id": "",
                    "topics": [{"topic": topic, "partitions": [{
                        "partition": partition, "current_leader_epoch": epoch,
                        "fetch_offset": offset, "last_fetched_epoch": -1,
                        "log_start_offset": -1, "partition_max_bytes": size}]}]}
            resp = self._call(self._leader(node), "Fetch", body)
            if resp.get("error_code"):
                raise self._error(resp["error_code"], None, "cannot fetch from %s-%d"
                                  % (topic, partition), topic=topic, operation="READ")
            part = [p for t in resp["responses"] for p in t["partitions"]
                    if p["partition_index"] == partition]
            if not part:
                raise KafkaError("the broker's Fetch answer does not mention %s-%d"
                                 % (topic, partition), name="PROTOCOL")
            p = part[0]
            code = p["error_code"]
            if code in self.LEADER_MOVED and attempt < self.retries:
                self._sleep(attempt)
                attempt += 1
                self.partitions(topic, refresh=True)
                continue
            if code != 0:
                raise self._error(code, None, "cannot fetch %s-%d at offset %d"
                                  % (topic, partition, offset), topic=topic, operation="READ")
            data = p["records"] or b""
            records, next_offset = _KafkaRecords.decode(
                data, topic, partition, offset, self.isolation == "read_committed",
                p["aborted_transactions"] or (), self.check_crcs, self.max_batch_bytes)
            end = p["last_stable_offset"] if (self.isolation == "read_committed" and
                                              p["last_stable_offset"] >= 0) else p["high_watermark"]
            if next_offset is None and data and size < self.max_batch_bytes:
                size = min(size * 4, self.max_batch_bytes)   # a batch larger than we asked for
                continue
            if next_offset is None and data:
                raise KafkaError("%s-%d: the record batch at offset %d is larger than %d bytes"
                                 % (topic, partition, offset, self.max_batch_bytes),
                                 name="CORRUPT", hint="raise max_batch_bytes")
            info = {"next_offset": offset if next_offset is None else next_offset,
                    "high_watermark": p["high_watermark"],
                    "last_stable_offset": p["last_stable_offset"],
                    "log_start_offset": p.get("log_start_offset", -1), "end": end}
            return records, info

    def read(self, topic, partition, start, stop, limit=None, deadline=None):
        """Records of one partition with ``start <= offset < stop`` (at most ``limit``), until
        ``deadline`` (a time.time() value): ``(records, complete)``.  Records deleted under
        the read (retention, DeleteRecords) are skipped: it goes on from the log start."""
        import time
        out, offset = [], start
        while offset < stop and (limit is None or len(out) < limit):
            if deadline is not None and time.time() >= deadline:
                return out, False
            try:
                records, info = self.fetch(topic, partition, offset)
            except KafkaError as e:
                if e.code != 1:
                    raise
                # deleted under us (retention, DeleteRecords): go on from the log start
                first = self.offsets(topic, "earliest", [partition])[partition]
                if first <= offset:
                    raise
                offset = first
                continue
            out += [r for r in records if r.offset < stop]
            if info["next_offset"] <= offset:
                break   # nothing more below the end the broker lets us read
            offset = info["next_offset"]
        if limit is not None:
            out = out[:limit]
        return out, True

    def sample(self, topic, count=10, start="earliest", time_limit=10.0, partitions=None):
        """A bounded read: the first (``start="earliest"``) or last (``"latest"``) ``count``
        records of each partition, within ``time_limit`` seconds.

        ``{"records": [KafkaRecord], "partitions": {p: {"start", "end", "read"}},
        "complete": bool}`` (complete is False when the time ran out)."""
        import time
        if start not in ("earliest", "latest"):
            raise KafkaError("sample: start must be earliest or latest, not %r" % (start,))
        deadline = time.time() + float(time_limit)
        first = self.offsets(topic, "earliest", partitions)
        last = self.offsets(topic, "latest", partitions)
        records, summary, complete = [], {}, True
        for p in sorted(first):
            lo, hi = first[p], last.get(p, first[p])
            if start == "earliest":
                got, done = self.read(topic, p, lo, hi, count, deadline)
            else:
                window = count
                while True:   # step back until count records (markers and aborts take offsets)
                    frm = max(lo, hi - window)
                    got, done = self.read(topic, p, frm, hi, None, deadline)
                    if len(got) >= count or frm == lo or not done:
                        break
                    window *= 4
                got = got[-count:] if count else []
            complete = complete and done
            records += got
            summary[p] = {"start": lo, "end": hi, "read": len(got)}
        return {"records": records, "partitions": summary, "complete": complete}

    # -- consumer groups --------------------------------------------------------

    def list_groups(self):
        """``[{"group_id", "protocol_type", "state"}]`` of every broker, sorted by id."""
        meta = self._metadata([])
        seen = {}
        for b in meta["brokers"]:
            resp = self._call(self._connect(b["host"], b["port"]), "ListGroups",
                              {"states_filter": []})
            if resp["error_code"] != 0:
                raise self._error(resp["error_code"], None, "cannot list consumer groups",
                                  operation="DESCRIBE")
            for g in resp["groups"]:
                seen[g["group_id"]] = {"group_id": g["group_id"],
                                       "protocol_type": g["protocol_type"],
                                       "state": g.get("group_state")}
        return [seen[k] for k in sorted(seen)]

    def committed(self, group, topics=None):
        """``{topic: {partition: offset}}`` committed by a consumer group (only partitions
        with a commit); ``topics`` None = every topic the group committed to."""
        for attempt in range(self.retries + 1):
            conn = self._coordinator(group)
            body = {"group_id": group, "require_stable": False,
                    "topics": None if topics is None else [
                        {"name": t, "partition_indexes": sorted(parts)}
                        for t, parts in sorted(self._existing(topics).items())]}
            resp = self._call(conn, "OffsetFetch", body)
            code = resp.get("error_code") or 0
            if code in (14, 15, 16) and attempt < self.retries:
                self._sleep(attempt)
                continue
            if code != 0:
                raise self._error(code, None, "cannot read the offsets of consumer group "
                                  "'%s'" % group, operation="DESCRIBE")
            out = {}
            for t in resp["topics"]:
                for p in t["partitions"]:
                    if p["error_code"] != 0:
                        raise self._error(p["error_code"], None, "cannot read the offset of "
                                          "group '%s' on %s-%d" % (group, t["name"],
                                                                   p["partition_index"]),
                                          topic=t["name"], operation="DESCRIBE")
                    if p["committed_offset"] >= 0:
                        done = out.setdefault(t["name"], {})
                        done[p["partition_index"]] = p["committed_offset"]
            return out
        raise KafkaError("the coordinator of consumer group '%s' did not answer" % group)

    def lag(self, group, topics=None):
        """Committed offset against the log end (the high watermark, as Kafka's
        kafka-consumer-groups tool reports it), per partition and in total:
        ``{"group", "topics": {topic: {partition: {"committed", "end", "lag",
        "oldest_unconsumed"}}}, "total"}``; a partition without a commit has ``committed``
        and ``lag`` None (not in the total); ``oldest_unconsumed`` is the timestamp (ms) of
        the first record after the commit where one can be read (None otherwise)."""
        committed = self.committed(group, topics)
        names = sorted(set(topics or ()) | set(committed))
        out, total = {}, 0
        for t in names:
            try:
                ends = self.offsets(t, "latest", isolation="read_uncommitted")
            except KafkaError as e:
                if e.code != 3:
                    raise
                out[t] = {}   # a topic the group read that is gone: nothing to lag behind
                continue
            parts = {}
            for p, end in sorted(ends.items()):
                c = committed.get(t, {}).get(p)
                lag = None if c is None else max(0, end - c)
                parts[p] = {"committed": c, "end": end, "lag": lag,
                            "oldest_unconsumed": self._first_timestamp(t, p, c, end)
                            if lag else None}
                total += lag or 0
            out[t] = parts
        return {"group": group, "topics": out, "total": total}

    @staticmethod
    def decode_records(data, topic="?", partition=0, offset=0, read_committed=True,
                       aborted=(), check_crc=True, max_batch_bytes=64 << 20):
        """The records of a Fetch answer's record batches: ``(records, next_offset)``;
        ``aborted`` is the answer's ``[{"producer_id", "first_offset"}]``."""
        return _KafkaRecords.decode(data, topic, partition, offset, read_committed, aborted,
                                    check_crc, max_batch_bytes)

    # -- plumbing -----------------------------------------------------------------

    def _first_timestamp(self, topic, partition, offset, end):
        """The timestamp of the first record at or after offset (below end), or None."""
        saved, self.isolation = self.isolation, "read_uncommitted"
        try:
            records, _ = self.read(topic, partition, offset, end, limit=1)
        except KafkaError:
            return None   # the age is a courtesy: the lag itself was read
        finally:
            self.isolation = saved
        return records[0].timestamp if records else None

    def _existing(self, topics):
        """``{topic: partitions}`` of the topics that exist (a group's topic may be gone)."""
        out = {}
        for t in topics:
            try:
                out[t] = self.partitions(t)
            except KafkaError as e:
                if e.code != 3:
                    raise
        return out

    def _by_leader(self, topic, partitions):
        out = {}
        for p in partitions:
            if p not in self._leaders[topic]:
                raise KafkaError("topic '%s' has no partition %d" % (topic, p), code=3)
            out.setdefault(self._leaders[topic][p][0], []).append(p)
        return out

    def _leader(self, node):
        meta = self._meta
        for b in (meta or {}).get("brokers", ()):
            if b["node_id"] == node:
                return self._connect(b["host"], b["port"])
        if node < 0:
            raise KafkaError("the partition has no leader now", code=5,
                             hint="a broker is down or an election is under way; retry")
        return self._any()

    def _coordinator(self, group):
        # On a cluster where no group ever committed, the first ask creates the offsets
        # topic and answers COORDINATOR_NOT_AVAILABLE meanwhile: ask again, within the timeout.
        attempt, deadline = 0, self._clock() + self.timeout
        while True:
            conn = self._any()
            resp = self._call(conn, "FindCoordinator", {"key": group, "key_type": 0})
            if resp["error_code"] not in (14, 15) or self._clock() >= deadline:
                break
            self._sleep(attempt)
            attempt += 1
        if resp["error_code"] != 0:
            raise self._error(resp["error_code"], resp.get("error_message"),
                              "cannot find the coordinator of consumer group '%s'" % group,
                              operation="DESCRIBE")
        return self._connect(resp["host"], resp["port"])


class _KafkaRecords(object):
    """Record batches (magic v2): the header, the CRC-32C, varint records, transactions."""

    CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
    HEADER = 61          # base offset .. record count

    @staticmethod
    def corrupt(topic, partition, offset, why):
        return KafkaError("%s-%d: the record batch at offset %d does not decode: %s"
                          % (topic, partition, offset, why), name="CORRUPT",
                          hint="the data on the broker or on the way is damaged, or written "
                               "by a client streamt does not understand")

    @staticmethod
    def decode(data, topic, partition, offset, read_committed, aborted, check_crc, limit):
        """``(records at or after offset, next offset)``; next offset None when ``data`` holds
        no complete batch (a partial batch at the end of a Fetch answer is not an error)."""
        import struct
        data = bytes(data)
        n = len(data)
        pos, records, next_offset = 0, [], None
        queue = sorted(((a["first_offset"], a["producer_id"]) for a in aborted or ()),
                       reverse=True)
        aborted_pids = set()
        while pos + 17 <= n:
            base, length, epoch, magic = struct.unpack_from(">qiib", data, pos)
            if magic != 2:
                raise _KafkaRecords.corrupt(
                    topic, partition, base, "message format v%d (written by a client older "
                    "than Kafka 0.11) is not read by streamt" % magic if magic in (0, 1)
                    else "unknown magic byte %d" % magic)
            if length < _KafkaRecords.HEADER - 12:
                raise _KafkaRecords.corrupt(topic, partition, base, "batch length %d" % length)
            end = pos + 12 + length
            if end > n:
                break
            (crc, attrs, last_delta, base_ts, max_ts, pid, _pepoch, _seq,
             count) = struct.unpack_from(">Ihiqqqhii", data, pos + 17)
            if check_crc and _KafkaRecords.crc32c(data, pos + 21, end) != crc:
                raise _KafkaRecords.corrupt(topic, partition, base, "CRC-32C mismatch")
            if last_delta < 0 or count < 0 or count > length:
                raise _KafkaRecords.corrupt(topic, partition, base,
                                            "%d records, last offset delta %d"
                                            % (count, last_delta))
            pos = end
            next_offset = base + last_delta + 1
            control, transactional = bool(attrs & 0x20), bool(attrs & 0x10)
            if read_committed and transactional:
                while queue and queue[-1][0] <= base + last_delta:
                    aborted_pids.add(queue.pop()[1])
                if control:
                    body = _KafkaRecords.body(data, pos - length + 49, end, attrs, topic,
                                              partition, base, limit)
                    recs = _KafkaRecords.records(body, count, topic, partition, base,
                                                 base_ts, epoch, control=True)
                    if recs and recs[0] == 0:   # an ABORT marker ends the aborted run
                        aborted_pids.discard(pid)
                    continue
                if pid in aborted_pids:
                    continue
            if control or next_offset <= offset:
                continue
            body = _KafkaRecords.body(data, pos - length + 49, end, attrs, topic, partition,
                                      base, limit)
            for r in _KafkaRecords.records(body, count, topic, partition, base, base_ts, epoch):
                if r.offset >= offset:
                    records.append(r)
        return records, next_offset

    @staticmethod
    def body(data, start, end, attrs, topic, partition, base, limit):
        codec = attrs & 7
        raw = data[start:end]
        if codec == 0:
            return raw
        try:
            return _KafkaCodecs.decompress(codec, raw, limit)
        except _KafkaCodecs.Missing as e:
            raise KafkaError("%s-%d: the record batch at offset %d is compressed with %s, "
                             "which this Python cannot decompress: %s"
                             % (topic, partition, base, _KafkaRecords.CODECS[codec], e),
                             name="UNSUPPORTED",
                             hint="run streamt with Python 3.14+ (compression.zstd) or one "
                                  "where the zstandard module is installed")
        except (ValueError, IndexError, KeyError, OverflowError, MemoryError, EOFError,
                OSError) as e:
            raise _KafkaRecords.corrupt(topic, partition, base, "%s: %s" % (
                _KafkaRecords.CODECS.get(codec, "codec %d" % codec), e))

    @staticmethod
    def records(body, count, topic, partition, base, base_ts, epoch, control=False):
        """Decode ``count`` varint records (a control batch: the markers' types).  The
        one-byte varints (most of them) are read inline: this loop is the read path's cost."""
        out = []
        n = len(body)
        pos = 0
        varint = _KafkaRecords.varint
        append = out.append
        try:
            for _ in range(count):
                b = body[pos]
                if b < 0x80:
                    size, pos = (b >> 1) ^ -(b & 1), pos + 1
                else:
                    size, pos = varint(body, pos)
                end = pos + size
                if size < 6 or end > n:
                    raise ValueError("record length %d" % size)
                pos += 1   # attributes
                b = body[pos]
                if b < 0x80:
                    ts_delta, pos = (b >> 1) ^ -(b & 1), pos + 1
                else:
                    ts_delta, pos = varint(body, pos)
                b = body[pos]
                if b < 0x80:
                    off_delta, pos = (b >> 1) ^ -(b & 1), pos + 1
                else:
                    off_delta, pos = varint(body, pos)
                b = body[pos]
                if b < 0x80:
                    klen, pos = (b >> 1) ^ -(b & 1), pos + 1
                else:
                    klen, pos = varint(body, pos)
                if klen < 0:
                    if klen != -1:
                        raise ValueError("key length %d" % klen)
                    key = None
                else:
                    if pos + klen > end:
                        raise ValueError("key length %d" % klen)
                    key = body[pos:pos + klen]
                    pos += klen
                b = body[pos]
                if b < 0x80:
                    vlen, pos = (b >> 1) ^ -(b & 1), pos + 1
                else:
                    vlen, pos = varint(body, pos)
                if vlen < 0:
                    if vlen != -1:
                        raise ValueError("value length %d" % vlen)
                    value = None
                else:
                    if pos + vlen > end:
                        raise ValueError("value length %d" % vlen)
                    value = body[pos:pos + vlen]
                    pos += vlen
                nh, pos = varint(body, pos)
                headers = []
                if nh:
                    if nh < 0 or nh > end - pos:
                        raise ValueError("%d headers" % nh)
                    for _h in range(nh):
                        hk, pos = varint(body, pos)
                        if hk < 0 or pos + hk > end:
                            raise ValueError("header key length %d" % hk)
                        name = body[pos:pos + hk].decode("utf-8")
                        pos += hk
                        hv, pos = varint(body, pos)
                        if hv < -1 or pos + hv > end:
                            raise ValueError("header value length %d" % hv)
                        headers.append((name, None if hv < 0 else body[pos:pos + hv]))
                        pos += max(hv, 0)
                if pos != end:
                    raise ValueError("record of %d bytes has %d" % (size, pos - end + size))
                if control:
                    append(-1 if key is None or len(key) < 4 else (key[2] << 8) | key[3])
                else:
                    append(KafkaRecord(topic, partition, base + off_delta, base_ts + ts_delta,
                                       key, value, headers, epoch))
            if pos != n:
                raise ValueError("%d bytes after the last record" % (n - pos))
        except (ValueError, IndexError) as e:
            raise _KafkaRecords.corrupt(topic, partition, base, "records: %s" % e)
        return out

    @staticmethod
    def varint(buf, pos):
        """A zigzag varint at pos: (value, next pos)."""
        b = buf[pos]
        if b < 0x80:
            return (b >> 1) ^ -(b & 1), pos + 1
        result, shift = b & 0x7F, 7
        while True:
            pos += 1
            b = buf[pos]
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return (result >> 1) ^ -(result & 1), pos + 1
            shift += 7
            if shift > 63:
                raise ValueError("varint longer than 10 bytes")

    TABLES = []   # CRC-32C slicing-by-8: eight tables of 256, built on first use

    @staticmethod
    def crc32c(data, start, end):
        """CRC-32C (Castagnoli) of data[start:end], eight bytes a step."""
        import struct
        tables = _KafkaRecords.TABLES
        if not tables:
            t0 = []
            for i in range(256):
                c = i
                for _ in range(8):
                    c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
                t0.append(c)
            tables.append(t0)
            for _ in range(7):
                prev = tables[-1]
                tables.append([(prev[i] >> 8) ^ t0[prev[i] & 0xFF] for i in range(256)])
        t0, t1, t2, t3, t4, t5, t6, t7 = tables
        crc = 0xFFFFFFFF
        view = memoryview(data)
        mid = start + (max(0, end - start) // 8) * 8
        for (x,) in struct.iter_unpack("<Q", view[start:mid]):
            x ^= crc
            crc = (t7[x & 0xFF] ^ t6[(x >> 8) & 0xFF] ^ t5[(x >> 16) & 0xFF] ^
                   t4[(x >> 24) & 0xFF] ^ t3[(x >> 32) & 0xFF] ^ t2[(x >> 40) & 0xFF] ^
                   t1[(x >> 48) & 0xFF] ^ t0[x >> 56])
        for b in view[mid:end]:
            crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
        return crc ^ 0xFFFFFFFF


class _KafkaCodecs(object):
    """The codecs of record batches: gzip (zlib), snappy and lz4 in pure Python, zstd where
    this Python has a module for it.  Every output is bounded by ``limit`` bytes."""

    class Missing(Exception):
        """No zstd module in this Python."""

    XERIAL = b"\x82SNAPPY\x00"

    @staticmethod
    def decompress(codec, data, limit):
        if codec == 1:
            return _KafkaCodecs.gzip(data, limit)
        if codec == 2:
            return _KafkaCodecs.snappy(data, limit)
        if codec == 3:
            return _KafkaCodecs.lz4(data, limit)
        if codec == 4:
            return _KafkaCodecs.zstd(data, limit)
        raise ValueError("unknown compression codec %d" % codec)

    @staticmethod
    def gzip(data, limit):
        import zlib
        try:
            d = zlib.decompressobj(47)   # gzip or zlib header
            out = d.decompress(data, limit + 1)
        except zlib.error as e:
            raise ValueError(str(e))
        if len(out) > limit:
            raise ValueError("more than %d bytes" % limit)
        if not d.eof:
            raise ValueError("truncated gzip stream")
        return out

    @staticmethod
    def snappy(data, limit):
        """Snappy: the xerial framing (snappy-java, what Kafka producers write) or raw."""
        import struct
        if not data.startswith(_KafkaCodecs.XERIAL):
            return bytes(_KafkaCodecs.snappy_block(data, 0, len(data), limit))
        pos, out = 16, bytearray()
        while pos < len(data):
            size = struct.unpack_from(">i", data, pos)[0]
            pos += 4
            if size < 0 or pos + size > len(data):
                raise ValueError("xerial block of %d bytes" % size)
            out += _KafkaCodecs.snappy_block(data, pos, pos + size, limit - len(out))
            pos += size
        return bytes(out)

    @staticmethod
    def snappy_block(src, pos, end, limit):
        # the preamble: the uncompressed length, an unsigned varint
        length, shift = 0, 0
        while True:
            if pos >= end or shift > 35:
                raise ValueError("bad snappy length")
            b = src[pos]
            pos += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        if length > limit:
            raise ValueError("snappy block of %d bytes (more than %d)" % (length, limit))
        out = bytearray()
        copy = _KafkaCodecs.copy
        while pos < end:
            tag = src[pos]
            pos += 1
            kind = tag & 3
            if kind == 0:
                n = tag >> 2
                if n >= 60:
                    w = n - 59
                    n = int.from_bytes(src[pos:pos + w], "little")
                    pos += w
                n += 1
                if pos + n > end:
                    raise ValueError("snappy literal past the end")
                out += src[pos:pos + n]
                pos += n
                if len(out) > length:
                    raise ValueError("snappy output longer than announced")
                continue
            if kind == 1:
                n = 4 + ((tag >> 2) & 7)
                off = ((tag >> 5) << 8) | src[pos]
                pos += 1
            elif kind == 2:
                n = (tag >> 2) + 1
                off = src[pos] | (src[pos + 1] << 8)
                pos += 2
            else:
                n = (tag >> 2) + 1
                off = int.from_bytes(src[pos:pos + 4], "little")
                pos += 4
            if pos > end or len(out) + n > length:
                raise ValueError("snappy copy past the end")
            copy(out, off, n)
        if len(out) != length:
            raise ValueError("snappy output of %d bytes, %d announced" % (len(out), length))
        return out

    @staticmethod
    def copy(out, off, n):
        """Append n bytes copied from off bytes back (the copy may overlap what it writes)."""
        have = len(out)
        if off <= 0 or off > have:
            raise ValueError("copy from %d bytes back with %d written" % (off, have))
        start = have - off
        if off >= n:
            out += out[start:start + n]
        else:
            pattern = out[start:]
            out += pattern * (n // off) + pattern[:n % off]

    @staticmethod
    def lz4(data, limit):
        """Kafka's LZ4 framing: the LZ4 frame format (magic 0x184D2204), blocks as the
        LZ4 block format; checksums are not checked (the batch CRC-32C covers them)."""
        import struct
        if len(data) < 7 or struct.unpack_from("<I", data, 0)[0] != 0x184D2204:
            raise ValueError("not an LZ4 frame")
        flg = data[4]
        if flg >> 6 != 1:
            raise ValueError("LZ4 frame version %d" % (flg >> 6))
        if flg & 0x01:
            raise ValueError("LZ4 frame with a dictionary")
        pos = 7 + (8 if flg & 0x08 else 0)
        out = bytearray()
        while True:
            size = struct.unpack_from("<I", data, pos)[0]
            pos += 4
            if size == 0:
                break
            raw, size = size & 0x80000000, size & 0x7FFFFFFF
            if pos + size > len(data):
                raise ValueError("LZ4 block past the end")
            if raw:
                out += data[pos:pos + size]
            else:
                _KafkaCodecs.lz4_block(data, pos, pos + size, out, limit)
            if len(out) > limit:
                raise ValueError("more than %d bytes" % limit)
            pos += size + (4 if flg & 0x10 else 0)
        return bytes(out)

    @staticmethod
    def lz4_block(src, pos, end, out, limit):
        copy = _KafkaCodecs.copy
        while True:
            token = src[pos]
            pos += 1
            n = token >> 4
            if n == 15:
                while True:
                    b = src[pos]
                    pos += 1
                    n += b
                    if b != 255:
                        break
            if pos + n > end:
                raise ValueError("LZ4 literal past the end")
            out += src[pos:pos + n]
            pos += n
            if pos >= end:
                return
            off = src[pos] | (src[pos + 1] << 8)
            pos += 2
            n = token & 15
            if n == 15:
                while True:
                    b = src[pos]
                    pos += 1
                    n += b
                    if b != 255:
                        break
            n += 4
            if len(out) + n > limit:
                raise ValueError("more than %d bytes" % limit)
            copy(out, off, n)

    @staticmethod
    def zstd(data, limit):
        import importlib
        try:
            mod = importlib.import_module("compression.zstd")   # Python 3.14+
            d = mod.ZstdDecompressor()
            out = d.decompress(data, limit + 1)
            if len(out) > limit:
                raise ValueError("more than %d bytes" % limit)
            return out
        except ImportError:
            pass
        try:
            mod = importlib.import_module("zstandard")
        except ImportError:
            raise _KafkaCodecs.Missing("no compression.zstd (Python 3.14+) and no zstandard "
                                       "module")
        try:
            return mod.ZstdDecompressor().decompress(data, max_output_size=limit)
        except mod.ZstdError as e:
            raise ValueError(str(e))


###############################################################################
###############################################################################
##
## PART II -- the pipeline
##
## secrets & variables -> project -> SQL -> schemas -> validate -> compile -> artifact
## -> targets -> plan & deploy -> docs page -> CLI.  A section uses only the sections
## above it.
##
###############################################################################
###############################################################################


###############################################################################
# Secrets & variables #########################################################
###############################################################################

__all__ += ["SecretPolicy", "Variables", "parse_dotenv", "mask_secrets", "REDACTED",
            "read_env_file"]


class SecretPolicy(object):
    """The one rule for what is secret, used for every byte streamt prints or writes
    (`envs show`, `plan`, `status`, `artifact inspect`/`diff`, redacted artifacts).

    *By name*: a key is secret when its name contains password/passwd/secret/token/
    credential/jaas/private/api key/user info/access key, or a ``pass``/``pwd`` word
    (``DB_PASS``, ``smtp.pwd``; not the shell's ``PWD``), or is ``key`` or ends in ``.key``
    -- matched on the whole key, case-insensitively, so ``basic.auth.user.info``,
    ``sasl.jaas.config`` and ``ssl.key`` are secret while ``keystore_type`` (which merely
    contains "key") is not.  *By value*: the values of variables whose names are secret
    (four characters or more) are hidden wherever they appear in a printed value.  A value
    that is only ``${VAR}`` references is shown as written: a reference is not a secret."""

    KEY_RE = _LazyRegex(r"(?i)(password|passwd|(?:^|[._-])(?:pass|pwd)(?:$|[._-])|secret|token"
                        r"|credential|jaas|private"
                        r"|api[._-]?key|user[._-]?info|access[._-]?key|\.key$|^key$)")
    MARK = "<redacted>"

    # user:password@ in anything URL-like (also a malformed one: htp://user:pw@host)
    URL_CREDENTIALS_RE = _LazyRegex(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/@\s:'\"]*):([^/@\s'\"]+)@")

    @classmethod
    def scrubber(cls, variables, extra=()):
        """text -> text for Output.scrub: the password of every ``scheme://user:pw@`` and
        every secret value of ``variables`` (values_of) or ``extra`` replaced by the mark,
        longest first -- also in what a service sends back (an error echoing a config)."""
        # (not a number or a JSON/YAML word: `SOME_TOKEN=true` must not turn every `true`
        # of a JSON report into the mark)
        values = sorted((v for v in cls.values_of(variables) | set(v for v in extra if len(v) >= 4)
                         if not v.isdigit() and v.lower() not in ("true", "false", "null", "none")),
                        key=len, reverse=True)
        sub = cls.URL_CREDENTIALS_RE.sub
        mark = r"\1\2:" + cls.MARK + "@"

        def scrub(text):
            if "://" in text and "@" in text:
                text = sub(mark, text)
            for v in values:
                if v in text:
                    text = text.replace(v, cls.MARK)
            return text
        return scrub

    # names that match the rule but are not secrets: the shell's working directories
    # (every path under the current directory would be masked otherwise)
    NOT_SECRET = frozenset(["pwd", "oldpwd"])

    @classmethod
    def is_secret_key(cls, key):
        key = str(key)
        return cls.KEY_RE.search(key) is not None and key.lower() not in cls.NOT_SECRET

    @classmethod
    def values_of(cls, variables):
        """The secret values among ``variables`` (name -> value): hidden wherever seen."""
        return set(v for k, v in variables.items()
                   if cls.is_secret_key(k) and isinstance(v, str) and len(v) >= 4)

    @classmethod
    def redact(cls, key, value, secrets=(), mark=None):
        """``value`` fit for display under ``key``: ``mark`` (default ``<redacted>``) when
        the key is secret, else with every known secret value replaced by the mark."""
        mark = cls.MARK if mark is None else mark
        if value is None:
            return None
        if isinstance(value, str) and Variables.only_refs(value.strip()):
            return value
        if cls.is_secret_key(key):
            return mark
        if isinstance(value, str):
            for s in secrets:
                if s in value:
                    value = value.replace(s, mark)
        return value

    @classmethod
    def mask(cls, obj, mark="****"):
        """A copy of ``obj`` (dicts, lists) with every secret-keyed string value masked."""
        if isinstance(obj, dict):
            out = collections.OrderedDict()
            for k, v in obj.items():
                out[k] = cls.redact(k, v, mark=mark) if isinstance(v, str) else cls.mask(v, mark)
            return out
        if isinstance(obj, list):
            return [cls.mask(v, mark) for v in obj]
        return obj


class Variables(object):
    """The one ``${VAR}`` resolver, built on string.Template: ``${NAME}`` is a reference,
    ``$$`` a literal ``$``, and any other ``$`` (``$x``, ``'$.a'``, ``EXPR$0``) is text.

    ``names(obj)`` the sorted names referenced in the strings of ``obj`` (mappings,
    sequences, strings); ``substitute(obj, values)`` a copy with the references replaced
    (every missing name reported at once, set-but-empty counts as set);
    ``keep_escapes=True`` (an artifact built with --resolve-secrets) keeps ``$$`` and
    writes a value's ``$`` as ``$$``, so that deploy's own pass gives back exactly the
    value.  ``RE`` matches what the template does: group 1 an escaped ``$$``, group 2 a
    name (for callers that need positions: locations, SQL literals)."""

    NAME = r"[A-Za-z_][A-Za-z0-9_]*"
    RE = _LazyRegex(r"\$(?:(\$)|\{(" + NAME + r")\})")
    _template = None  # the string.Template subclass, made on first use (start-up cost)

    @classmethod
    def template(cls, text):
        t = cls._template
        if t is None:
            class _Template(string.Template):
                # braced names only; `named` and `invalid` can never match
                pattern = (r"\$(?:(?P<escaped>\$)|\{(?P<braced>%s)\}|(?P<named>(?!))"
                           r"|(?P<invalid>(?!)))" % cls.NAME)
            t = cls._template = _Template
        return t(text)

    @classmethod
    def names(cls, obj):
        names = set()
        cls.collect((obj,), names)
        return sorted(names)

    @classmethod
    def collect(cls, values, names):
        """Add to ``names`` the names referenced in the strings of ``values`` and what
        they hold: one pass without recursion (the containers still to look into wait on
        a stack; the order does not matter for a set), and the expression only runs on
        strings holding a "${", the only ones it can match in."""
        finditer = cls.RE.finditer
        todo = [values]
        push = todo.append
        pop = todo.pop
        while todo:
            for v in pop():
                if isinstance(v, str):
                    if "${" in v:
                        for m in finditer(v):
                            if m.group(2):
                                names.add(m.group(2))
                elif isinstance(v, dict):
                    push(v.values())
                elif isinstance(v, (list, tuple)):
                    push(v)

    @classmethod
    def only_refs(cls, text):
        """True when ``text`` is nothing but references (and blanks): not a secret."""
        return bool(text) and "${" in text and not cls.RE.sub("", text).strip()

    @classmethod
    def substitute(cls, obj, values, keep_escapes=False):
        """A copy of ``obj`` (mappings become dicts, sequences lists) with every
        reference replaced by ``values[NAME]``; ProjectError naming all missing names."""
        missing = [n for n in cls.names(obj) if n not in values]
        if missing:
            raise ProjectError(
                "Environment variable%s not set: %s" % ("s" if len(missing) > 1 else "",
                                                       ", ".join(missing)),
                hint="set %s in the environment, in .env or in .env.<env>"
                     % ("them" if len(missing) > 1 else "it"))
        if keep_escapes:
            # the template's own pattern, with $$ kept and a value's $ doubled
            sub = cls.template("").pattern.sub

            def keep(m):
                if m.group("escaped"):
                    return m.group(0)
                return str(values[m.group("braced")]).replace("$", "$$")

            def one(text):
                return sub(keep, text)
        else:
            def one(text):
                return cls.template(text).substitute(values)
        return cls._map(obj, one)

    @classmethod
    def _map(cls, obj, fn):
        if isinstance(obj, str):
            return fn(obj) if "$" in obj else obj
        if isinstance(obj, dict):
            return dict((k, cls._map(v, fn)) for k, v in obj.items())
        if isinstance(obj, (list, tuple)):
            return [cls._map(v, fn) for v in obj]
        return obj


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


def mask_secrets(obj):
    """``obj`` as `envs show` prints it: secret values (SecretPolicy) written ``****``."""
    return SecretPolicy.mask(obj)


class _DotenvParser(object):
    _KEY = _LazyRegex(r"[A-Za-z_][A-Za-z0-9_.]*")
    _INTERP = _LazyRegex(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
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


REDACTED = SecretPolicy.MARK


def read_env_file(path):
    """The NAME=value lines of an --env-file (the .env rules of the project section)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (IOError, OSError) as e:
        raise UsageError("cannot read the env file %s: %s" % (path, e.strerror or e))
    except UnicodeDecodeError as e:
        raise UsageError("the env file %s is not UTF-8 text (byte %d)" % (path, e.start + 1),
                         hint="write NAME=value lines in UTF-8")
    try:
        return dict(parse_dotenv(text, path))
    except ProjectError as e:
        raise UsageError(e.message, hint=e.hint)


###############################################################################
# Project #####################################################################
###############################################################################
#
# Finding and loading a project: stream_project.yml, split files, environments,
# .env files and ${VAR} references.
#
# load_project() reads the files of the original streamt's format (docs/compat.md)
# with these deliberate differences: split directories are read recursively in
# sorted order, unknown keys are warnings with a suggestion (not silently ignored), legacy spellings
# are normalised with a deprecation warning, wrong types are located errors,
# and .env files are parsed here and never written into os.environ.

__all__ += ["ENV_NAME_RE", "Diagnostic", "Project", "load_project", "list_environments",
            "read_environment", "ProjectSchema", "PROJECT_SCHEMA", "ENV_FILE_SCHEMA",
            "ProjectKinds", "Locate", "plain_data"]


ENV_NAME_RE = _LazyRegex(r"^[a-zA-Z0-9][a-zA-Z0-9-]*$")


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
        """``file:line:col: message [CODE]`` and an indented hint line: the text
        `streamt validate` prints after its ``error:``/``warning:`` prefix."""
        head = "%s [%s]" % (self.message, self.code)
        if self.location is not None and self.location.file:
            head = "%s: %s" % (self.location, head)
        if self.suggestion:
            head += "\n  hint: " + self.suggestion.replace("\n", "\n  ")
        return head

    def __repr__(self):
        return "Diagnostic(%r, %r, %r, %r)" % (self.level, self.code, self.message, self.location)


class Project(object):
    """A loaded project (docs/internals.md, "project").  Plain attributes:

    root, name, version, description, env, multi_env, environments (all names),
    environment, runtime, defaults, rules, sources, models, tests, exposures,
    variables, diagnostics (load warnings), files (relative, sorted),
    project_file and env_file (relative paths), block_lines (file -> the lines that open
    a block scalar, for locating lines of SQL)."""

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
        self.block_lines = {}
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
    with _gc_paused():  # a loaded project: a great many small objects, no cycles
        return loader.load(env, strict)


def list_environments(root):
    """Sorted environment names of the project at ``root`` ([] in single-env mode)."""
    return sorted(_ProjectFiles.env_files(os.path.abspath(root)))


def read_environment(root, name):
    """The environment file ``name`` of the project at ``root``, read on its own:
    ``{"name", "description", "protected", "safety", "runtime", "file", "diagnostics"}``.
    Raises UsageError for an unknown or ill-formed name, ProjectError for a bad file."""
    root = os.path.abspath(root)
    files = _ProjectFiles.env_files(root)
    if not os.path.isdir(os.path.join(root, "environments")):
        raise UsageError("No environments configured (single-environment mode)",
                         hint="create environments/<name>.yml files to use environments")
    _ProjectFiles.check_env_name(name, files)
    diags = []
    errors = []
    info = _ProjectFiles.read_env_file(root, files[name], name, diags, errors)
    if errors:
        _ProjectFiles.raise_errors(errors, diags)
    info["diagnostics"] = diags
    return info


class ProjectSchema(object):
    """The schema of the project's known keys, per kind, used by the loader's type checks."""

    # -- the schema of known keys ----------------------------------------------------
    #
    # One description, used both to warn about unknown keys (with a suggestion) and to
    # report wrong types with their location.  A schema node is
    #   "str" | "int" | "num" | "bool" | "scalar" | "any"   a leaf
    #   {key: node, ...}                                     a mapping with these keys
    #   ("list", node)                                       a sequence of node
    #   ("mapof", node)                                      a mapping of any keys to node
    # Non-string leaves also accept a string holding a ${VAR} reference.

    COLUMN = {"name": "str", "type": "str", "description": "str", "classification": "str",
               "proctime": "bool", "tags": ("list", "str"), "nullable": "bool"}

    TOPIC = {"name": "str", "partitions": "int", "replication_factor": "int",
              "config": ("mapof", "scalar")}

    FLINK_OPTS = {"parallelism": "int", "checkpoint_interval_ms": "int", "state_backend": "str",
                   "state_ttl_ms": "int", "on_upgrade": "str", "startup_mode": "str",
                   "scan_startup_mode": "str", "idle_timeout_ms": "int"}

    SINK = {"connector": "str", "config": ("mapof", "scalar")}

    REFS = ("list", {"source": "str", "ref": "str"})

    STRS = ("list", "str")

    RUNTIME = {
        "kafka": {"bootstrap_servers": "str", "bootstrap_servers_internal": "str",
                  "security_protocol": "str", "sasl_mechanism": "str", "sasl_username": "str",
                  "sasl_password": "str", "ssl_cafile": "str", "ssl_certfile": "str",
                  "ssl_keyfile": "str", "ssl_check_hostname": "bool"},
        "schema_registry": {"url": "str", "username": "str", "password": "str"},
        "flink": {"default": "str",
                  "clusters": ("mapof", {"type": "str", "rest_url": "str", "sql_gateway_url": "str",
                                         "version": "str", "environment": "str", "api_key": "str",
                                         "api_secret": "str", "kafka_connector_shaded": "bool"})},
        "connect": {"default": "str", "clusters": ("mapof", {"rest_url": "str"})},
        "conduktor": {"gateway": {"admin_url": "str", "proxy_bootstrap": "str", "username": "str",
                                  "password": "str", "virtual_cluster": "str"},
                      "console": {"url": "str", "api_key": "str"}},
    }

    SOURCE = {
        "name": "str", "topic": "str", "description": "str", "owner": "str", "cluster": "str",
        "tags": STRS,
        "schema": {"registry": "str", "subject": "str", "format": "str", "definition": "any",
                   "compatibility": "str"},
        "columns": ("list", COLUMN),
        "freshness": {"max_lag_seconds": "int", "warn_after_seconds": "int"},
        "event_time": {"column": "str", "allowed_lateness_ms": "int",
                       "watermark": {"strategy": "str", "max_out_of_orderness_ms": "int"}},
    }

    MODEL = {
        "name": "str", "description": "str", "owner": "str", "group": "str", "tags": STRS,
        "sql": "str", "from": REFS, "key": "str", "columns": ("list", COLUMN),
        "security": {"classification": ("mapof", "str"), "policies": ("list", ("mapof", "any"))},
        "sink": SINK,
        "gateway": {"virtual_topic": {"name": "str", "compression": "str"}},
        "ml_outputs": ("mapof", {"columns": ("list", COLUMN), "description": "str"}),
        "advanced": {"flink": FLINK_OPTS, "topic": TOPIC, "flink_cluster": "str",
                     "connect_cluster": "str"},
        "materialized": "str", "access": "str", "version": "int",
    }

    TEST = {
        "name": "str", "model": "str", "type": "str", "description": "str",
        "assertions": ("list", ("mapof", "any")), "sample_size": "int", "flink_cluster": "str",
        "on_failure": {"severity": "str", "actions": ("list", ("mapof", "any"))},
        "flink": FLINK_OPTS,
    }

    EXPOSURE = {
        "name": "str", "type": "str", "role": "str", "description": "str", "owner": "str",
        "url": "str", "repo": "str", "language": "str", "tool": "str",
        "produces": REFS, "consumes": REFS, "depends_on": REFS, "consumer_group": "str",
        "sla": {"availability": "num", "max_produce_latency_ms": "num",
                "max_end_to_end_latency_ms": "num", "max_lag_messages": "num",
                "max_error_rate": "num", "max_lag_minutes": "num"},
        "contracts": {"schema": "any", "compatibility": "str"},
        "access": {"roles": STRS, "purpose": "str"},
        "freshness": "any", "schedule": "str", "data_requirements": "any",
    }

    TOPIC_DEFAULTS = {"partitions": "int", "replication_factor": "int",
                       "config": ("mapof", "scalar")}


PROJECT_SCHEMA = {
    "project": {"name": "str", "version": "scalar", "description": "str"},
    "runtime": ProjectSchema.RUNTIME,
    "defaults": {"topic": ProjectSchema.TOPIC_DEFAULTS,
                 "models": {"cluster": "str", "topic": ProjectSchema.TOPIC_DEFAULTS},
                 "tests": {"flink_cluster": "str"}},
    "rules": {
        "topics": {"min_partitions": "int", "max_partitions": "int",
                   "min_replication_factor": "int", "max_replication_factor": "int",
                   "naming_pattern": "str", "forbidden_prefixes": ProjectSchema.STRS,
                   "required_config": "any"},
        "models": {"require_description": "bool", "require_owner": "bool",
                   "require_tests": "bool", "max_dependencies": "int", "min_tests": "int",
                   "allowed_materializations": ProjectSchema.STRS},
        "sources": {"require_schema": "bool", "require_freshness": "bool",
                    "require_columns": "bool", "require_owner": "bool"},
        "security": {"require_classification": "bool",
                     "sensitive_columns_require_masking": "bool",
                     "allowed_classifications": ProjectSchema.STRS},
    },
    "sources": ("list", ProjectSchema.SOURCE),
    "models": ("list", ProjectSchema.MODEL),
    "tests": ("list", ProjectSchema.TEST),
    "exposures": ("list", ProjectSchema.EXPOSURE),
}

ENV_FILE_SCHEMA = {
    "environment": {"name": "str", "description": "str", "protected": "bool"},
    "runtime": ProjectSchema.RUNTIME,
    "safety": {"confirm_apply": "bool", "allow_destructive": "bool",
               "require_signature": "bool"},
}


class ProjectKinds(object):
    """The four kinds of project items, their nouns and schemas, legacy aliases, and the words and suggestions of messages."""

    # Legacy spellings of the original (docs/compat.md): (kind, old path,
    # new path).  The value moves to the new place, with a deprecation warning.
    ALIASES = [
        ("models", ("topic",), ("advanced", "topic")),
        ("models", ("flink",), ("advanced", "flink")),
        ("models", ("flink_cluster",), ("advanced", "flink_cluster")),
        ("models", ("connect_cluster",), ("advanced", "connect_cluster")),
        ("models", ("connector",), ("sink",)),
        ("models", ("advanced", "connector"), ("sink",)),
        ("sources", ("advanced", "event_time"), ("event_time",)),
    ]

    KINDS = ("sources", "models", "tests", "exposures")

    KIND_SCHEMA = {"sources": ProjectSchema.SOURCE, "models": ProjectSchema.MODEL, "tests": ProjectSchema.TEST, "exposures": ProjectSchema.EXPOSURE}

    KIND_NOUN = {"sources": "source", "models": "model", "tests": "test", "exposures": "exposure"}

    TYPE_WORDS = {"str": "a string", "int": "an integer", "num": "a number", "bool": "true or false",
                   "scalar": "a string, number or boolean", "list": "a list", "mapof": "a mapping",
                   "map": "a mapping"}

    @staticmethod
    def suggest(word, choices):
        import difflib
        close = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
        return ("did you mean '%s'?" % close[0]) if close else None

    @staticmethod
    def get_path(m, path):
        for p in path:
            if not isinstance(m, dict) or p not in m:
                return None
            m = m[p]
        return m


class Locate(object):
    """file:line locations of project items, keys and values (computed on demand)."""

    # -- helpers --------------------------------------------------------------------

    class SynthMap(dict):
        """A mapping streamt made up (e.g. ``advanced:`` for a legacy ``topic:``), with
        the same location interface as the YAML loader's maps."""

        def __init__(self, loc, key_locs=None):
            dict.__init__(self)
            self.loc = loc
            self._key_locs = dict(key_locs or {})

        def key_loc(self, key):
            return self._key_locs.get(key, self.loc)

    @staticmethod
    def of(node, default=None):
        return getattr(node, "loc", None) or default

    @staticmethod
    def key(mapping, key, default=None):
        f = getattr(mapping, "key_loc", None)
        if f is not None:
            try:
                return f(key)
            except Exception:
                pass
        return Locate.of(mapping, default)

    @staticmethod
    def item(seq, i, default=None):
        f = getattr(seq, "item_loc", None)
        if f is not None:
            try:
                return f(i)
            except Exception:
                pass
        return Locate.of(seq, default)

    class Lazy(object):
        """Where child ``k`` (a key, or with ``item`` an index) of ``parent`` is, with
        ``default`` where the parent is if it does not know: exactly what _check once
        computed eagerly for every child, ``_key_loc(parent, k, _loc(parent, default))``,
        but only when a diagnostic needs it (locations are derived from fixed indexes, so
        computing them later gives the same values)."""

        __slots__ = ("parent", "k", "item", "default")

        def __init__(self, parent, k, item, default):
            self.parent, self.k, self.item, self.default = parent, k, item, default

        def get(self):
            ploc = Locate.of(self.parent, Locate.force(self.default))
            if self.item:
                return Locate.item(self.parent, self.k, ploc)
            return Locate.key(self.parent, self.k, ploc)

    @staticmethod
    def force(loc):
        """A Location (or None) from a Location, None or _LazyLoc."""
        return loc.get() if isinstance(loc, Locate.Lazy) else loc


class _ProjectFiles(object):
    """The loader's helpers: files and environments, YAML reading, the type checks."""

    @staticmethod
    def raise_errors(errors, diags):
        errors = sorted(errors, key=Diagnostic.sort_key)
        first = errors[0]
        more = ["%s: %s" % (d.location, d.message) if d.location else d.message for d in errors[1:]]
        e = ProjectError(first.message, hint=first.suggestion, location=first.location,
                         details=more)
        e.diagnostics = sorted(errors + [d for d in diags if not d.is_error], key=Diagnostic.sort_key)
        raise e

    @staticmethod
    def env_files(root):
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

    @staticmethod
    def check_env_name(name, files):
        if not ENV_NAME_RE.match(name or "") or len(name) > 64:
            valid = [n for n in sorted(files) if ENV_NAME_RE.match(n)]
            hint = "available: %s" % (", ".join(valid) or "none")
            if name in files:
                hint = "rename %s (e.g. to environments/%s.yml); %s" % (
                    files[name], re.sub(r"[^a-zA-Z0-9-]", "-", name).strip("-") or "env", hint)
            raise UsageError(
                "Invalid environment name %r: environment names contain only letters, digits "
            "and hyphens, and start with a letter or digit" % (name,), hint=hint)
        if name not in files:
            raise UsageError(
                "Environment '%s' not found. Available: %s" % (name, ", ".join(sorted(files)) or "none"),
                hint="create environments/%s.yml, or pick one of the available environments" % name)

    # The largest project file read (docs/validation.md): a bigger one is refused unread.
    MAX_FILE = 16 * 1024 * 1024

    @staticmethod
    def read_regular(root, rel):
        """The bytes of the project file root/rel, which must be a regular file inside the
        project: a device, FIFO or socket (even through a symlink), a symlink leading
        out of the project, or a file over MAX_FILE is a located ProjectError, found
        before reading (opened non-blocking, so a FIFO cannot hang the load)."""
        import stat
        path = os.path.join(root, rel)
        if os.path.islink(path):
            real, top = os.path.realpath(path), os.path.realpath(root)
            if not real.startswith(top.rstrip(os.sep) + os.sep):
                raise ProjectError("%s is a symbolic link that leads out of the project (to %s)"
                                   % (rel, real), location=Location(rel),
                                   hint="copy the file into the project: project files must be "
                                        "inside the project directory")
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) |
                         getattr(os, "O_NOCTTY", 0))
        except (IOError, OSError) as e:
            raise ProjectError("cannot read %s: %s" % (rel, e.strerror or e), location=Location(rel))
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ProjectError("%s is not a regular file (a device, FIFO or socket)" % rel,
                                   location=Location(rel), hint="project files must be regular files")
            cap = _ProjectFiles.MAX_FILE
            raw = f.read(cap + 1) if st.st_size <= cap else b""
            if st.st_size > cap or len(raw) > cap:
                raise ProjectError("%s is larger than %d MiB, the limit for a project file"
                                   % (rel, cap // (1024 * 1024)), location=Location(rel),
                                   hint="split it (models/*.yml, one file per group of models)")
        return raw

    @staticmethod
    def read_yaml(root, rel, diags, errors, blocks=None):
        """The located YAML of root/rel ({} for an empty file), or None after a YamlError.
        ``blocks`` (a dict) gets ``rel -> frozenset of the lines that open a block scalar``
        (``key: |`` or ``key: >``): how validation places a line of a model's SQL without
        reading the file again."""
        try:
            raw = _ProjectFiles.read_regular(root, rel)
        except ProjectError as e:
            errors.append(Diagnostic("error", "FILE_UNREADABLE", e.message, e.location, e.hint))
            return None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            errors.append(Diagnostic("error", "YAML_ERROR", "%s is not UTF-8 text (%s)" % (rel, e),
                                     Location(rel), "save the file as UTF-8"))
            return None
        if blocks is not None:
            blocks[rel] = _ProjectFiles.block_lines(text)
        warnings = []
        try:
            data = yaml_load_located(text, rel, warnings)
        except YamlError as e:
            errors.append(Diagnostic("error", "YAML_ERROR", e.message,
                                     e.location or Location(rel), e.hint))
            return None
        for wloc, wmsg in warnings:  # duplicate keys
            diags.append(Diagnostic("warning", "DUPLICATE_KEY", wmsg, wloc,
                                    "remove one of them: only the last one counts"))
        if data is None:
            return Locate.SynthMap(Location(rel, 1))
        return data

    @staticmethod
    def check(node, schema, path, what, diags, errors, default_loc):
        """Check ``node`` against ``schema`` (see above); warn about unknown keys and
        collect located type errors.  Removes keys whose value is null (written but
        empty means absent).  ``path`` is the dotted path of ``node`` for messages.

        ``default_loc`` (where ``node`` is, if it does not know itself) may be a
        _LazyLoc: a project has tens of thousands of keys and items and almost none of
        them ever needs its Location, so it is only computed for a diagnostic.  Leaves
        of the common exact types are accepted inline, without a call or a path."""
        if isinstance(schema, str):
            if _ProjectFiles.leaf_ok(node, schema):
                return True
            _ProjectFiles.type_error(node, schema, path, what, Locate.of(node, Locate.force(default_loc)), errors)
            return False
        if isinstance(schema, tuple):
            kind, child = schema
            exact = _ProjectFiles.LEAF_EXACT.get(child, ()) if isinstance(child, str) else ()
            if kind == "list":
                if not isinstance(node, list):
                    _ProjectFiles.type_error(node, "list", path, what, Locate.of(node, Locate.force(default_loc)),
                                errors)
                    return False
                for i, item in enumerate(node):
                    if exact is None or type(item) in exact:
                        continue
                    if item is None:  # an empty item (`- ` alone): later code trips on it
                        _ProjectFiles.type_error(item, child if isinstance(child, str) else (
                            child[0] if isinstance(child, tuple) else "map"), "%s[%d]" % (path, i),
                            what, Locate.Lazy(node, i, True, default_loc).get(), errors)
                        continue
                    _ProjectFiles.check(item, child, "%s[%d]" % (path, i), what, diags, errors,
                           Locate.Lazy(node, i, True, default_loc))
                return True
            if not isinstance(node, dict):  # mapof
                _ProjectFiles.type_error(node, "mapof", path, what, Locate.of(node, Locate.force(default_loc)), errors)
                return False
            for k in list(node):
                v = node[k]
                if exact is None or type(v) in exact:
                    continue
                _ProjectFiles.check(v, child, "%s.%s" % (path, k) if path else str(k), what, diags, errors,
                       Locate.Lazy(node, k, False, default_loc))
            return True
        if not isinstance(node, dict):
            _ProjectFiles.type_error(node, "map", path, what, Locate.of(node, Locate.force(default_loc)), errors)
            return False
        for k in list(node):
            sub = schema.get(k, _ProjectFiles.NO_SCHEMA)
            if sub is _ProjectFiles.NO_SCHEMA:
                kloc = Locate.Lazy(node, k, False, default_loc).get()
                where = ("%s of %s" % (path, what) if path else what) if what else (path or "the file")
                diags.append(Diagnostic(
                    "warning", "UNKNOWN_KEY", "unknown key '%s' in %s is ignored" % (k, where),
                    kloc, ProjectKinds.suggest(k, [x for x in schema if isinstance(x, str)])
                    or "known keys here: %s" % ", ".join(sorted(schema))))
                continue
            v = node[k]
            if v is None:
                del node[k]
                continue
            if sub.__class__ is str:
                exact = _ProjectFiles.LEAF_EXACT.get(sub, ())
                if exact is None or type(v) in exact:   # "any", or a value of an exact type
                    continue
            _ProjectFiles.check(v, sub, "%s.%s" % (path, k) if path else str(k), what, diags, errors,
                   Locate.Lazy(node, k, False, default_loc))
        return True

    NO_SCHEMA = object()

    @staticmethod
    def fits(node, schema):
        """True when ``_check(node, schema, ...)`` would do nothing at all: no diagnostic, no
        error, no null value removed.  Most items of a project are like that, and this says
        so without the paths, _LazyLocs and recursion bookkeeping of _check; only the others
        go through _check (tests/test_project_fits.py compares the two).  Follows _check
        rule for rule: a null item of a list is refused, a null value elsewhere is removed
        (or refused), a key the schema lacks is a warning, and a leaf passes exactly when
        _leaf_ok says so."""
        cls = schema.__class__
        if cls is str:
            return _ProjectFiles.leaf_ok(node, schema)
        if cls is tuple:
            kind, child = schema
            if kind == "list":
                if not isinstance(node, list):
                    return False
                items = node
            else:                           # mapof
                if not isinstance(node, dict):
                    return False
                items = node.values()
            exact = _ProjectFiles.LEAF_EXACT.get(child, ()) if child.__class__ is str else ()
            if exact is None:
                return True                 # "any"
            for v in items:
                if type(v) in exact:
                    continue
                if v is None or not _ProjectFiles.fits(v, child):
                    return False
            return True
        if not isinstance(node, dict):
            return False
        get = schema.get
        for k, v in node.items():
            sub = get(k, _ProjectFiles.NO_SCHEMA)
            if sub is _ProjectFiles.NO_SCHEMA or v is None:
                return False                # an unknown key, or a null value to remove
            if sub.__class__ is str:
                exact = _ProjectFiles.LEAF_EXACT.get(sub, ())
                if exact is None or type(v) in exact or _ProjectFiles.leaf_ok(v, sub):
                    continue
                return False
            if not _ProjectFiles.fits(v, sub):
                return False
        return True

    # Leaf kinds -> value types that certainly pass _leaf_ok (exact types, so a bool is never
    # taken for an int); other values go through _leaf_ok.  None: "any" (everything passes);
    # a kind missing here (none is) would get () and so always go through _leaf_ok.
    LEAF_EXACT = {"any": None, "str": (str,), "int": (int,), "num": (int, float),
                   "bool": (bool,), "scalar": (str, int, float, bool)}

    @staticmethod
    def leaf_ok(value, kind):
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

    @staticmethod
    def describe(value):
        if value is None:
            return "nothing (null)"
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

    @staticmethod
    def type_error(value, kind, path, what, loc, errors):
        key = path.rsplit(".", 1)[-1] if path else "value"
        where = ("'%s' of %s" % (path, what)) if what else "'%s'" % path
        msg = "%s must be %s, got %s" % (where, ProjectKinds.TYPE_WORDS.get(kind, kind), _ProjectFiles.describe(value))
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
        elif value is None:
            hint = "write a value, or remove the key"
        errors.append(Diagnostic("error", "INVALID_TYPE", msg, loc, hint))

    @staticmethod
    def normalise_aliases(kind, item, what, diags, errors):
        for akind, old, new in ProjectKinds.ALIASES:
            if akind != kind or old[0] not in item:
                continue    # (the common case: without old[0] there is no old path either)
            parent = ProjectKinds.get_path(item, old[:-1]) if len(old) > 1 else item
            if not isinstance(parent, dict) or old[-1] not in parent:
                continue
            value = parent[old[-1]]
            loc = Locate.key(parent, old[-1], Locate.of(item))
            if old == ("connector",) or old == ("advanced", "connector"):
                value = _ProjectFiles.connector_to_sink(value)
            elif old == ("topic",) and isinstance(value, str):
                # the flat format's `topic: name.v1` is the topic's name
                named = Locate.SynthMap(loc, {"name": loc})
                named["name"] = value
                value = named
            if ProjectKinds.get_path(item, new) is not None:
                errors.append(Diagnostic(
                    "error", "CONFLICTING_KEYS",
                    "%s has both '%s' (legacy) and '%s'" % (what, ".".join(old), ".".join(new)),
                    loc, "remove '%s'" % ".".join(old)))
                del parent[old[-1]]  # reported once, not again as an unknown key
                continue
            del parent[old[-1]]
            if isinstance(parent, dict) and not parent and parent is not item:
                # e.g. an 'advanced:' that only held the legacy key
                gp = ProjectKinds.get_path(item, old[:-2]) if len(old) > 2 else item
                if isinstance(gp, dict) and gp.get(old[-2]) is parent:
                    del gp[old[-2]]
            target = item
            for p in new[:-1]:
                if not isinstance(target.get(p), dict):
                    target[p] = Locate.SynthMap(loc)
                    if isinstance(target, Locate.SynthMap):
                        target._key_locs[p] = loc
                target = target[p]
            target[new[-1]] = value
            if isinstance(target, Locate.SynthMap):
                target._key_locs[new[-1]] = loc
            diags.append(Diagnostic(
                "warning", "DEPRECATED_KEY",
                "'%s' in %s is a legacy spelling of '%s'" % (".".join(old), what, ".".join(new)),
                loc, "write it as '%s'" % ".".join(new)))

    @staticmethod
    def connector_to_sink(value):
        """The original's model-level ``connector: {type, config}`` became ``sink:
        {connector: <type>, config}``."""
        if not isinstance(value, dict):
            return value
        out = Locate.SynthMap(Locate.of(value), getattr(value, "_key_locs", None))
        for k, v in value.items():
            out["connector" if k == "type" else k] = v
            out._key_locs["connector" if k == "type" else k] = Locate.key(value, k, Locate.of(value))
        return out

    BLOCK_OPENER = _LazyRegex(r"(?m):[ \t]*[|>][-+0-9]*[ \t]*(?:#.*)?$")

    @staticmethod
    def block_lines(text):
        """The (1-based) lines of ``text`` that end with a block scalar indicator; one pass."""
        if "|" not in text and ">" not in text:
            return frozenset()
        for brk in ("\r\n", "\r", "\x85", "\u2028", "\u2029"):  # YAML's line breaks
            if brk in text:
                text = text.replace(brk, "\n")
        out, line, pos = [], 1, 0
        for m in _ProjectFiles.BLOCK_OPENER.finditer(text):
            line += text.count("\n", pos, m.start())
            pos = m.start()
            out.append(line)
        return frozenset(out)

    @staticmethod
    def read_env_file(root, rel, name, diags, errors):
        data = _ProjectFiles.read_yaml(root, rel, diags, errors)
        info = {"name": name, "description": None, "protected": False, "runtime": {},
                "safety": {"confirm_apply": False, "allow_destructive": True,
                           "require_signature": False}, "file": rel}
        if data is None:
            return info
        if not isinstance(data, dict):
            errors.append(Diagnostic("error", "INVALID_TYPE",
                                     "%s must be a mapping (environment:, runtime:, safety:)" % rel,
                                     Locate.of(data, Location(rel, 1))))
            return info
        _ProjectFiles.check(data, ENV_FILE_SCHEMA, "", rel, diags, errors, Location(rel, 1))
        envsec = data.get("environment") if isinstance(data.get("environment"), dict) else {}
        declared = envsec.get("name")
        if declared is not None and declared != name:
            errors.append(Diagnostic(
                "error", "ENV_NAME_MISMATCH",
                "Environment name mismatch: file is '%s' but environment.name is '%s'. They must match."
                % (rel.rsplit("/", 1)[-1], declared), Locate.key(envsec, "name", Location(rel)),
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


class _Loader(object):
    def __init__(self, root, environ):
        self.root = os.path.abspath(root)
        self.environ = environ
        self.diags = []
        self.errors = []
        self.files = []
        self.blocks = {}

    def yaml(self, rel):
        self.files.append(rel)
        return _ProjectFiles.read_yaml(self.root, rel, self.diags, self.errors, self.blocks)

    def load(self, env, strict):
        root = self.root
        if not os.path.isdir(root):
            raise ProjectError("Project directory not found: %s" % root,
                               hint="pass the project directory with -p DIR")
        pfile = None
        for fn in ("stream_project.yml", "stream_project.yaml"):
            # (not isfile: a link to a device or a FIFO is read_regular's located error)
            if os.path.lexists(os.path.join(root, fn)) and not os.path.isdir(os.path.join(root, fn)):
                if pfile:
                    self.diags.append(Diagnostic(
                        "warning", "DUPLICATE_PROJECT_FILE",
                        "both stream_project.yml and stream_project.yaml exist; "
                        "stream_project.yaml is ignored", Location(fn, 1), "delete one of them"))
                else:
                    pfile = fn
        if pfile is None:
            raise ProjectError("No stream_project.yml found in %s" % root,
                               hint="pass the project directory with -p DIR, or create "
                                    "stream_project.yml (see examples/shop)")
        env_files = _ProjectFiles.env_files(root)
        multi = os.path.isdir(os.path.join(root, "environments"))
        env = self.select_env(env, multi, env_files)

        p = Project(root=root, multi_env=multi, env=env, environments=sorted(env_files),
                    project_file=pfile)
        data = self.yaml(pfile)
        if data is not None and not isinstance(data, dict):
            self.errors.append(Diagnostic("error", "INVALID_TYPE",
                                          "%s must be a mapping of sections (project:, runtime:, "
                                          "models:, ...)" % pfile, Locate.of(data, Location(pfile, 1))))
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
                    Locate.key(data, "runtime", Location(pfile)),
                    "move it to environments/<env>.yml, where each environment has its own"))
            p.env_file = env_files[env]
            info = _ProjectFiles.read_env_file(root, p.env_file, env, self.diags, self.errors)
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
            _ProjectFiles.raise_errors(self.errors, self.diags)
        p.variables = self.variables(p, env, multi)
        if strict:
            warns = [d for d in self.diags if not d.is_error]
            if warns:
                _ProjectFiles.raise_errors([Diagnostic("error", d.code, d.message, d.location, d.suggestion)
                               for d in warns], [])
        p.diagnostics = sorted(self.diags, key=Diagnostic.sort_key)
        p.files = sorted(set(self.files))
        p.block_lines = self.blocks
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
        _ProjectFiles.check_env_name(env, env_files)
        return env

    def project_file(self, p, pfile, data):
        # the items of sources/models/tests/exposures are checked one by one in items()
        top = dict(PROJECT_SCHEMA)
        for kind in ProjectKinds.KINDS:
            top[kind] = ("list", "any")
        _ProjectFiles.check(data, top, "", pfile, self.diags, self.errors, Location(pfile, 1))
        proj = data.get("project")
        if not isinstance(proj, dict):
            if proj is None:
                self.errors.append(Diagnostic(
                    "error", "MISSING_PROJECT", "Missing 'project' section in %s" % pfile,
                    Location(pfile, 1), "add:\n    project:\n      name: my_project"))
            proj = {}
        elif not proj.get("name"):
            self.errors.append(Diagnostic(
                "error", "MISSING_FIELD", "project.name is required", Locate.of(proj, Location(pfile)),
                "add 'name: <project name>' under project:"))
        p.name = proj.get("name") if isinstance(proj.get("name"), str) else None
        p.name_loc = Locate.key(proj, "name", Locate.of(proj, Location(pfile)))
        v = proj.get("version")
        p.version = None if v is None else str(v)
        p.description = proj.get("description")
        for key in ("defaults", "rules"):
            setattr(p, key, data.get(key) if isinstance(data.get(key), dict) else {})
        for kind in ProjectKinds.KINDS:
            self.items(p, kind, data.get(kind), pfile)

    def items(self, p, kind, seq, rel):
        if seq is None:
            return
        if not isinstance(seq, list):
            return  # the schema check reported it
        target = getattr(p, kind)
        file_loc = Location(rel)
        schema = ProjectKinds.KIND_SCHEMA[kind]
        aliases = kind in ("models", "sources")
        for i, item in enumerate(seq):
            if not isinstance(item, dict):
                if item is not None:
                    self.errors.append(Diagnostic(
                        "error", "INVALID_TYPE",
                        "each entry of %s: must be a mapping (name: ..., ...), got %s"
                        % (kind, _ProjectFiles.describe(item)), Locate.Lazy(seq, i, True, file_loc).get()))
                continue
            name = item.get("name")
            what = ("%s '%s'" % (ProjectKinds.KIND_NOUN[kind], name) if isinstance(name, str) else
                "%s #%d of %s" % (ProjectKinds.KIND_NOUN[kind], i + 1, rel))
            if aliases:
                _ProjectFiles.normalise_aliases(kind, item, what, self.diags, self.errors)
            # (_fits: the common item that _check would leave as it is, told cheaply)
            if not _ProjectFiles.fits(item, schema):
                _ProjectFiles.check(item, schema, "", what, self.diags, self.errors,
                       Locate.Lazy(seq, i, True, file_loc))    # computed only if needed
            target.append(item)

    def split_files(self, p):
        for kind in ProjectKinds.KINDS:
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
                        Locate.of(data, Location(rel, 1))))
                    continue
                for k in data:
                    if k != kind:
                        self.diags.append(Diagnostic(
                            "warning", "UNKNOWN_KEY",
                            "unknown key '%s' in %s is ignored (files under %s/ hold a '%s:' list)"
                            % (k, rel, kind, kind), Locate.key(data, k, Location(rel)),
                            ProjectKinds.suggest(k, [kind]) or "move it to stream_project.yml"))
                seq = data.get(kind)
                if seq is not None and not isinstance(seq, list):
                    _ProjectFiles.type_error(seq, "list", kind, rel, Locate.key(data, kind, Location(rel)),
                                self.errors)
                    continue
                self.items(p, kind, seq, rel)

    def variables(self, p, env, multi):
        values = collections.OrderedDict()
        lookup = self.environ.get
        names = [".env"] + ([".env." + env] if multi else [])
        for fn in names:
            path = os.path.join(self.root, fn)
            if not os.path.lexists(path) or os.path.isdir(path):
                continue
            try:
                text = _ProjectFiles.read_regular(self.root, fn).decode("utf-8-sig")
            except UnicodeDecodeError as e:
                raise ProjectError("cannot read %s: %s" % (fn, e), location=Location(fn))
            prev = dict(values)

            def chained(name, prev=prev):
                v = lookup(name)
                return v if v is not None else prev.get(name)
            values.update(parse_dotenv(text, fn, chained))
            self.files.append(fn)
        referenced = set(Variables.names([p.runtime, p.sources, p.models, p.tests, p.exposures,
                                    p.defaults]))
        out = {}
        for k, v in values.items():
            out[k] = v
        for k in referenced | set(out):
            if k in self.environ:
                out[k] = self.environ[k]
        return out


def plain_data(obj):
    """Plain dicts/lists (YamlMap/YamlSeq → dict/list), keys as strings."""
    if isinstance(obj, dict):
        return dict((str(k), plain_data(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return [plain_data(v) for v in obj]
    return obj


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

__all__ += ["SqlError", "Token", "sql_tokens", "significant_tokens", "is_keyword",
            "token_value", "template_calls", "SqlTemplates", "render_sql", "quote_ident",
            "quote_string", "split_statements", "SqlShape", "MATERIALIZATIONS",
            "infer_materialization", "is_stateful", "sql_references",
            "resolve_sql_references", "redact_sql"]


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


class _SqlLexer(object):
    """The tokenizer's tables and patterns, its token cache and its two paths."""

    # Multi-character operators first: the tokenizer takes the longest match.
    OPERATORS = ("<>", "!=", "<=", ">=", "||", "::", "=>", "->")

    # Tokenizing is the hot spot of a build: the same model SQL is read by validation,
    # infer_materialization, template_calls, type inference and compile, so what is read
    # from a text is remembered in one _SqlText record per text: its tokens (as tuples:
    # every caller of sql_tokens() gets its own list copy) and, once asked for, the
    # _QueryPlan of analyze_query().  Only the last 2,048 texts: that covers a 1,000-model
    # project from validation to compile; keeping every text of a 5,000-model project cost
    # ~30 MB of peak RSS (140 MB), for about 0.4 s of tokenizing saved.  A text is
    # tokenized once, with its comments: the tokens without comments are the same tokens
    # with the comment tokens left out (comments=False only drops them), so both are kept
    # side by side.
    TOKEN_CACHE = Memo(2048)

    class Text(object):
        """What the SQL section read from one text (see _sql_text)."""

        __slots__ = ("every", "sig", "plan")

        def __init__(self, every, sig):
            self.every, self.sig, self.plan = every, sig, None

    @staticmethod
    def text(text):
        """The _SqlText record of ``text`` (a str), remembered; raises SqlError."""
        entry = _SqlLexer.TOKEN_CACHE.get(text)
        if entry is None:
            every = tuple(_SqlLexer.tokens(text))  # raises SqlError: nothing is remembered
            # (a comment token starts with -- or /*: a text without them has none)
            if "--" in text or "/*" in text:
                sig = tuple([t for t in every if t.kind != "comment"])
            else:
                sig = every
            entry = _SqlLexer.TOKEN_CACHE.put(text, _SqlLexer.Text(
                every, sig if len(sig) < len(every) else every))
        return entry

    @staticmethod
    def tokens(text, comments=True):
        """Tokens of a Flink SQL text (whitespace left out), not memoized.

        The fast path (_sql_tokens_fast) reads the usual ASCII SQL; a text it does not
        know how to read (non-ASCII words or spaces, control characters, an unterminated
        string, comment or template) is read again by the general path, which is the
        reference and raises the errors."""
        if not isinstance(text, str):
            raise SqlError("SQL must be text, not %s" % type(text).__name__,
                           hint="write the SQL as a YAML string (e.g. a `sql: |` block)")
        toks = _SqlLexer.tokens_fast(text, comments)
        if toks is None:
            toks = _SqlLexer.tokens_general(text, comments)
        return toks

    @staticmethod
    def tokens_general(text, comments=True):
        """Tokens of a Flink SQL text (whitespace left out), character by character.

        ``{{ ... }}`` template calls are single tokens of kind ``template``; ``{% %}`` and
        ``{# #}`` are tokens of kind ``block``.  An unterminated string, quoted identifier,
        comment or template raises SqlError with the line and column where it starts.
        With ``comments=False`` comment tokens are dropped."""
        if not isinstance(text, str):
            raise SqlError("SQL must be text, not %s" % type(text).__name__,
                           hint="write the SQL as a YAML string (e.g. a `sql: |` block)")
        out = []
        i, n = 0, len(text)
        line, line_start = 1, 0
        fast = _SqlLexer.FAST_RE.match
        while i < n:
            # fast path: blanks, newlines, ASCII words, numbers and operators in one regex
            # match; everything else (and any non-ASCII start) takes the general path below,
            # which gives the same tokens character by character
            m = fast(text, i)
            if m is not None:
                kind, j = m.lastgroup, m.end()
                if kind == "nl":
                    line += 1
                    line_start = j
                elif kind != "ws":
                    out.append(Token(kind, text[i:j], line, i - line_start + 1, i, j))
                i = j
                continue
            c = text[i]
            if c.isspace():
                j = _SqlLexer.SPACE_RE.match(text, i).end()
                nl = text.count("\n", i, j)
                if nl:
                    line += nl
                    line_start = text.rindex("\n", i, j) + 1
                i = j
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
                j = SqlTemplates.end(text, i + 2, close)
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
                    if text.startswith(c, k + 1):  # doubled quote: the character itself
                        j = k + 2
                        continue
                    j = k + 1
                    break
                kind = {"'": "string", "`": "qident", '"': "dqident"}[c]
            elif c.isdecimal() or (c == "." and text[i + 1:i + 2].isdecimal()):
                # isdecimal, as the pattern's \d: "²" is a digit to isdigit() but no \d
                m = _SqlLexer.NUMBER_RE.match(text, i)
                j = m.end()
                kind = "number"
            elif c.isalpha() or c == "_" or c == "$":
                j = _SqlLexer.WORD_RE.match(text, i).end()
                kind = "ident"
            else:
                j = i + 1
                for op in _SqlLexer.OPERATORS:
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

    @staticmethod
    def tokens_fast(text, comments=True):
        """The tokens of ``text`` exactly as _sql_tokens_general() gives them, or None when
        the text holds something only the general path reads (see _SQL_SCAN_RE).

        One findall() over the whole text: each match is (blanks before, token, other).
        The matches are back to back (every character that is not a blank starts a match,
        the blanks go with the token after them), so offsets are running sums of lengths
        and no match object is made.  The kind of a token follows from its first one or
        two characters."""
        out = []
        append = out.append
        new, first_kind, two_kind = tuple.__new__, _SqlLexer.FIRST_KIND, _SqlLexer.TWO_KIND
        pos, line, line_start = 0, 1, 0
        for blanks, tok, other in _SqlLexer.SCAN_RE.findall(text):
            if other:
                return None
            if blanks:
                if "\n" in blanks:
                    line += blanks.count("\n")
                    line_start = pos + blanks.rindex("\n") + 1
                pos += len(blanks)
            end = pos + len(tok)
            kind = first_kind[tok[0]]
            if kind is None:  # - / { . : an operator, or a comment, template, block, number
                kind = two_kind.get(tok[:2]) or ("number" if len(tok) > 1 and tok[0] == "."
                                                 else "op")
            if kind != "comment" or comments:
                # Token(...) without the keyword-argument wrapper of namedtuple's __new__
                append(new(Token, (kind, tok, line, pos - line_start + 1, pos, end)))
            if "\n" in tok:  # strings, comments and templates may span lines
                line += tok.count("\n")
                line_start = pos + tok.rindex("\n") + 1
            pos = end
        return out

    SPACE_RE = _LazyRegex(r"\s+")

    WORD_RE = _LazyRegex(r"[\w$]+")

    NUMBER_RE = _LazyRegex(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

    # The common tokens of sql_tokens() in one match (same results as its general path:
    # an ASCII start, then the same continuation rules; "-", "/" and "." only where they
    # cannot start a comment or a number).
    FAST_RE = _LazyRegex(
        r"(?P<ws>[ \t\r]+)|(?P<nl>\n)"
    r"|(?P<ident>[A-Za-z_$][\w$]*)"
    r"|(?P<number>(?:[0-9]\d*\.?\d*|\.[0-9]\d*)(?:[eE][+-]?\d+)?)"
    r"|(?P<op><>|!=|<=|>=|\|\||::|=>|->|[(),;*=<>+|:!%]|-(?!-)|/(?!\*)"
    r"|\.(?![0-9]|[^\x00-\x7f]))")

    # The whole of sql_tokens() for ASCII SQL in one pattern, for _sql_tokens_fast():
    # (blanks)(token)|(other).  Each token alternative reads exactly what the general path
    # reads from the same first character; what the general path reads differently or
    # reports as an error matches `other` instead, and the text is read by the general path:
    #  - a string or quoted name ends at the first lone quote (doubled quotes are the
    #    character itself; (?!') makes the closing quote a lone one, as find() does);
    #  - a template or block ends at the first close outside '...' / "..." (a backslash
    #    takes the next character), as _template_end() reads it;
    #  - an unterminated quote, /*, {{, {% or {# and any non-ASCII character (and "."
    #    before one: it may start a number) or other blank is `other`, which takes the
    #    rest of the text along (findall() then stops: the general path reads it all).
    # Work and memory stay proportional to the text: `re` keeps ~150 bytes of backtracking
    # state per turn of a repeated group, so no group repeats per character (a 10 MB
    # literal read as `(?:[^']|'')*` held 1.7 GB in build).  Runs of plain characters are single-
    # character repeats ([^']*, which keep no state); a group turns only at a doubled quote,
    # a backslash or a quote in a template, and at most 64 (templates: 16) times: a token
    # with more is `other` too, and the general path reads it with str.find().
    # Operators: the two-character ones first (like _SQL_OPERATORS), then any other ASCII
    # character that is neither blank, letter, digit nor one of _ $ ' ` " { - / .
    # (Each printable one is backslash-escaped by hand: re.escape here would import `re` at
    # start-up; in a character class a backslash before punctuation means the character.)
    OP_CHARS = "".join(("\\" + c if " " < c < "\x7f" else c) for c in map(chr, range(128))
                            if not (c.isspace() or c.isalnum() or c in "_$'`\"{-/."))

    # (a template: plain characters, then up to 16 times a quoted part or a lone close
    # character and plain characters again; "P" stands for the close's first character)
    IN_TEMPLATE = (r"""[^'"P]*(?:(?:P(?!\})|'[^'\\]*(?:\\[\s\S][^'\\]*){0,16}'"""
                   r"""|"[^"\\]*(?:\\[\s\S][^"\\]*){0,16}")[^'"P]*){0,16}""")

    SCAN_RE = _LazyRegex(
        r"([ \t\n\r\f\v]*)(?:("
    r"[A-Za-z_$][\w$]*"
    r"|(?:[0-9]\d*\.?\d*|\.[0-9]\d*)(?:[eE][+-]?\d+)?"
    r"|'[^']*(?:''[^']*){0,64}'(?!')|`[^`]*(?:``[^`]*){0,64}`(?!`)"
    r"|\"[^\"]*(?:\"\"[^\"]*){0,64}\"(?!\")"
    r"|--[^\n]*|/\*[\s\S]*?\*/"
    r"|\{\{" + IN_TEMPLATE.replace("P", "}") + r"\}\}"
    r"|\{%" + IN_TEMPLATE.replace("P", "%") + r"%\}"
    r"|\{\#" + IN_TEMPLATE.replace("P", "\\#") + r"\#\}"
    r"|<>|!=|<=|>=|\|\||::|=>|->"
    r"|[" + OP_CHARS + r"]|-|/(?!\*)|\{(?![{%#])|\.(?![^\x00-\x7f])"
    r")|([^ \t\n\r\f\v])[\s\S]*)")

    # Kind of a token by its first character (None: decided by _SQL_TWO_KIND or below).
    FIRST_KIND = dict((c, "op") for c in map(chr, range(128)))

    FIRST_KIND.update((c, "ident") for c in
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_$")

    FIRST_KIND.update((c, "number") for c in "0123456789")

    FIRST_KIND.update({"'": "string", "`": "qident", '"': "dqident",
                            "-": None, "/": None, "{": None, ".": None})

    TWO_KIND = {"--": "comment", "/*": "comment", "{{": "template", "{%": "block",
                     "{#": "block"}


def sql_tokens(text, comments=True):
    """Tokens of a Flink SQL text (whitespace left out).

    ``{{ ... }}`` template calls are single tokens of kind ``template``; ``{% %}`` and
    ``{# #}`` are tokens of kind ``block``.  An unterminated string, quoted identifier,
    comment or template raises SqlError with the line and column where it starts.
    With ``comments=False`` comment tokens are dropped."""
    if type(text) is not str:
        return list(_SqlLexer.tokens(text, comments))
    entry = _SqlLexer.text(text)
    return list(entry.every if comments else entry.sig)


def significant_tokens(text_or_tokens):
    """The tokens without comments."""
    if isinstance(text_or_tokens, str):
        return sql_tokens(text_or_tokens, comments=False)  # memoized
    return [t for t in text_or_tokens if t.kind != "comment"]


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
    if type(sql) is str:
        # by text, like the tokens (validation and compile both ask for every model);
        # the calls are kept as a tuple of tuples, every caller gets its own list
        calls = SqlTemplates.CALLS_CACHE.get(sql)
        if calls is None:
            # raises SqlError: nothing is kept
            calls = SqlTemplates.CALLS_CACHE.put(sql, tuple(SqlTemplates.calls(sql)))
        return list(calls)
    return SqlTemplates.calls(sql)


class SqlTemplates(object):
    """{{ source(...) }} / {{ ref(...) }} calls in SQL text, parsed and cached."""

    CALLS_CACHE = Memo(2048)

    @staticmethod
    def calls(sql):
        out = []
        for tok in sql_tokens(sql):
            if tok.kind == "template":
                call = SqlTemplates.parse_template_call(tok.text)
                if call:
                    out.append((call[0], call[1], tok.line, tok.col))
                else:
                    out.append(("unsupported", tok.text, tok.line, tok.col))
            elif tok.kind == "block":
                out.append(("unsupported", tok.text, tok.line, tok.col))
        return out

    CALL_RE = _LazyRegex(
        r"""\A\s*(source|ref)\s*\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\)\s*\Z""")

    @staticmethod
    def end(text, i, close):
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

    ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}

    @staticmethod
    def parse_template_call(template_text):
        """``(kind, name)`` for ``{{ source("x") }}`` / ``{{ ref('y') }}``, else None."""
        # by text: the answer (a tuple or None) depends on the text alone, and the same
        # template is read by validation, type inference and compile; the last 2,048 kept
        if type(template_text) is not str:
            return SqlTemplates.parse_template_call_uncached(template_text)
        call = SqlTemplates.CALL_CACHE.get(template_text, SqlTemplates.MISSING_CALL)
        if call is not SqlTemplates.MISSING_CALL:
            return call
        call = SqlTemplates.parse_template_call_uncached(template_text)
        return SqlTemplates.CALL_CACHE.put(template_text, call)

    CALL_CACHE = Memo(2048)

    MISSING_CALL = object()

    @staticmethod
    def parse_template_call_uncached(template_text):
        m = SqlTemplates.CALL_RE.match(template_text[2:-2])
        if not m:
            return None
        raw = m.group(2) if m.group(2) is not None else m.group(3)
        name = raw if "\\" not in raw else re.sub(
            r"\\(.)", lambda m: SqlTemplates.ESCAPES.get(m.group(1), m.group(1)), raw)
        if not name:
            return None
        return m.group(1), name


def render_sql(sql, resolver):
    """``sql`` with every template call replaced by ``quote_ident(resolver(kind, name))``.

    Comments are kept.  An unsupported template raises SqlError (validation reports it
    with its location first)."""
    out, pos = [], 0
    for tok in sql_tokens(sql):
        if tok.kind not in ("template", "block"):
            continue
        call = SqlTemplates.parse_template_call(tok.text) if tok.kind == "template" else None
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
    if type(name) is not str:  # str() of a plain str is itself: skip the call
        name = str(name)
    return "`" + name.replace("`", "``") + "`"


def quote_string(value):
    """A single-quoted Flink SQL string literal (quotes doubled).

    Flink string literals have no backslash escapes, so nothing else can end them."""
    if type(value) is not str:  # str() of a plain str is itself: skip the call
        if isinstance(value, bool):
            value = "true" if value else "false"
        value = str(value)
    return "'" + value.replace("'", "''") + "'"


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


class SqlShape(object):
    """What a query's words say about it: stateful or not, SELECT *, window functions."""

    # Words that make a query stateful (Flink keeps state for them), checked as
    # `WORD (` for functions.
    WINDOW_TVFS = ("TUMBLE", "HOP", "SESSION", "CUMULATE")

    STATEFUL_FUNCS = ("ROW_NUMBER", "LAG", "LEAD", "RANK", "DENSE_RANK", "FIRST_VALUE",
                       "LAST_VALUE", "NTH_VALUE", "COUNT", "SUM", "AVG", "MIN", "MAX", "COLLECT",
                       "LISTAGG", "ML_PREDICT", "ML_EVALUATE", "ARRAY_AGG", "STDDEV_POP",
                       "STDDEV_SAMP", "VAR_POP", "VAR_SAMP") + WINDOW_TVFS

    STATEFUL_WORDS = frozenset(("JOIN", "OVER", "MATCH_RECOGNIZE", "EXCEPT", "INTERSECT"))

    # Words that make a query read more than one relation (see is_stateful), and the
    # words that end a FROM clause (a comma after them is no comma join).
    MULTI_INPUT_WORDS = frozenset(("UNION", "MINUS", "LATERAL", "UNNEST"))
    FROM_ENDS = frozenset(("WHERE", "GROUP", "HAVING", "WINDOW", "ORDER", "LIMIT", "QUALIFY",
                           "OFFSET", "FETCH", "MATCH_RECOGNIZE"))

    # What infer_materialization() reads from a SQL text, by text: validation and compile
    # both ask for every model, and the answer depends on the text alone.  The values are
    # strings; only the last 2,048 texts are kept (like _SQL_TOKEN_CACHE).
    SHAPE_CACHE = Memo(2048)

    @staticmethod
    def shape(sql):
        """``"error"`` (unreadable), ``"stateful"`` (is_stateful), ``"star"`` (a plain
        ``SELECT * FROM``) or ``"other"``: how infer_materialization() judges ``sql``."""
        if type(sql) is str:
            shape = SqlShape.SHAPE_CACHE.get(sql)
            if shape is not None:
                return shape
        try:
            toks = sql_tokens(sql, comments=False)
        except SqlError:
            shape = "error"
        else:
            shape = "stateful" if is_stateful(toks) else (
                "star" if SqlShape.is_plain_select_star(toks) else "other")
        if type(sql) is str:
            SqlShape.SHAPE_CACHE.put(sql, shape)
        return shape

    @staticmethod
    def is_plain_select_star(toks):
        if len(toks) < 4 or not (is_keyword(toks[0], "SELECT") and toks[1].text == "*"
                                 and is_keyword(toks[2], "FROM")):
            return False
        for t in toks:  # no WHERE and no LIMIT
            if t.kind == "ident" and t.text.upper() in ("WHERE", "LIMIT"):
                return False
        return True

    @staticmethod
    def has_gateway(project):
        runtime = getattr(project, "runtime", None) or {}
        conduktor = runtime.get("conduktor") if isinstance(runtime, dict) else None
        return bool(isinstance(conduktor, dict) and conduktor.get("gateway"))


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
    shape = SqlShape.shape(sql)
    if shape == "error" or shape == "stateful":
        return "flink", "flink"
    if shape == "star":
        return "topic", "topic"
    if SqlShape.has_gateway(project):
        return "virtual_topic", "virtual_topic"
    return "virtual_topic", "flink"


def is_stateful(tokens):
    """True if the query (tokens) needs Flink: for state (windows, GROUP BY, joins,
    DISTINCT, ORDER BY, OVER, MATCH_RECOGNIZE, aggregate/analytic functions, UNION,
    EXCEPT, INTERSECT) or because it reads more than one relation -- a comma join
    (``FROM a, b``), a sub-query (a second SELECT, in FROM or WHERE), any set operation
    (UNION ALL too), LATERAL, UNNEST or a table function (``TABLE(``).  A Gateway virtual
    topic filters and projects one topic; it can run none of these."""
    toks = [t for t in tokens if t.kind != "comment"]
    last = len(toks) - 1
    selects = 0
    depth = 0
    in_from = set()     # the parenthesis depths at which a FROM clause is open
    for i, t in enumerate(toks):
        if t.kind == "op":
            if t.text == "(":
                depth += 1
            elif t.text == ")":
                in_from.discard(depth)
                depth -= 1
            elif t.text == "," and depth in in_from:
                return True     # FROM a, b: a comma join
            continue
        if t.kind != "ident":
            continue
        w = t.text.upper()
        if w in SqlShape.STATEFUL_WORDS or w in SqlShape.MULTI_INPUT_WORDS:
            return True
        if w == "SELECT":
            selects += 1
            if selects > 1:
                return True     # a sub-query or a set operation
        elif w == "FROM":
            in_from.add(depth)
        elif w in SqlShape.FROM_ENDS:
            in_from.discard(depth)
        if i == last:
            continue
        nxt = toks[i + 1]
        # is_keyword(nxt, ...) and "nxt is the operator (", written out
        if nxt.kind == "ident":
            if w in ("GROUP", "ORDER", "SELECT") and nxt.text.upper() == (
                    "DISTINCT" if w == "SELECT" else "BY"):
                return True
        elif (w in SqlShape.STATEFUL_FUNCS or w == "TABLE") and nxt.kind == "op" and nxt.text == "(":
            return True
    return False


def sql_references(sql):
    """The sorted names of the ``${VAR}`` references inside the string literals of a
    compiled Flink job (bootstrap servers, credentials, registry URL, ...)."""
    names = set()
    for tok in sql_tokens(sql):
        if tok.kind == "string" and "$" in tok.text:
            for m in Variables.RE.finditer(token_value(tok)):
                if m.group(2):
                    names.add(m.group(2))
    return sorted(names)


def resolve_sql_references(sql, values, escape_dollars=False):
    """A compiled Flink job with its ``${VAR}`` references replaced by ``values``.

    Inside string literals (the WITH options compile writes, a user's strings) each value
    is escaped for where it lands: quotes doubled for SQL, and first ``\\`` / ``"``
    backslash-escaped inside ``properties.sasl.jaas.config``, so a value can never end
    its literal.  Outside literals (SQL a user templated, e.g. ``WHERE x > ${MIN}``) a
    value is put as written; ``'$.a'`` or ``EXPR$0`` are left alone.  ``$$`` stands for
    ``$`` (the project's rule for every string value) -- unless ``escape_dollars``
    (``build --resolve-secrets``): then ``$$`` stays and a ``$`` of a value is written
    ``$$``, so that deploy's own pass gives back exactly the value.  All missing names
    are reported at once."""
    missing = set()

    def value(m, jaas=False):
        if m.group(1):
            return "$$" if escape_dollars else "$"
        name = m.group(2)
        if name not in values:
            missing.add(name)
            return m.group(0)
        v = str(values[name])
        if escape_dollars:
            v = v.replace("$", "$$")
        if jaas:
            v = v.replace("\\", "\\\\").replace('"', '\\"')
        return v

    try:
        toks = sql_tokens(sql)
    except SqlError:
        toks = None
    if toks is None:
        out = [Variables.RE.sub(value, sql)]
    else:
        out, pos = [], 0
        for i, tok in enumerate(toks):
            if tok.kind != "string" or "$" not in tok.text:
                continue
            key = None
            if i >= 2 and toks[i - 1].text == "=" and toks[i - 2].kind == "string":
                key = token_value(toks[i - 2])
            jaas = key is not None and key.endswith("sasl.jaas.config")
            new = Variables.RE.sub(lambda m: value(m, jaas), token_value(tok))
            out.append(Variables.RE.sub(value, sql[pos:tok.start]))
            out.append(quote_string(new))
            pos = tok.end
        out.append(Variables.RE.sub(value, sql[pos:]))
    if missing:
        names = sorted(missing)
        raise ProjectError("variable%s not set: %s" % ("s" if len(names) > 1 else "",
                                                      ", ".join(names)),
                           hint="set them in the environment (or .env.<env>) before deploying")
    return "".join(out)


def redact_sql(sql):
    """Flink SQL with the value of every secret-looking option ('...password' = '...',
    '...user-info' = 'user:password') written '<redacted>' (resolved artifacts)."""
    try:
        toks = sql_tokens(sql, comments=False)
    except SqlError:
        return "<redacted: unreadable SQL>"
    out, pos = [], 0
    for i in range(len(toks) - 2):
        k, eq, v = toks[i], toks[i + 1], toks[i + 2]
        if k.kind == "string" and eq.text == "=" and v.kind == "string":
            key = token_value(k)
            secret = SecretPolicy.is_secret_key(key)
            if secret and "${" not in token_value(v):  # a reference is not a secret
                out.append(sql[pos:v.start])
                out.append("'<redacted>'")
                pos = v.end
    out.append(sql[pos:])
    return "".join(out)


###############################################################################
# SQL analysis ################################################################
###############################################################################

__all__ += ["Column", "QueryInfo", "normalize_type", "analyze_query", "SqlAnalysis"]


# -- sql: types and column inference -------------------------------------------
#
# The compiler writes a CREATE TABLE for every job's sink, so it must know the
# columns and types a SELECT produces.  analyze_query() reads the top-level SELECT
# on tokens with a small recursive-descent expression typer (Flink's typing rules,
# simplified; see _FUNC_TYPES).  What it cannot type is reported and becomes STRING
# (the compiler then casts it explicitly so that the INSERT is still valid).

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
    ``key_derived`` – False when that key is a choice of ours (every column, for want
    of one) rather than the key Flink derives from the query itself (its upsert key:
    the whole GROUP BY, the DISTINCT columns, the inputs' keys), so the sink must say
    how rows that share it are merged; ``padded`` – the result columns an outer join
    may fill with NULL (or whose origin is not a plain column of an input it keeps:
    such a column cannot be part of a sink's primary key); ``windowed`` – True for a
    window aggregation;
    ``warnings`` – [str]."""

    def __init__(self):
        self.columns, self.untyped, self.items, self.star = [], [], [], []
        self.updating, self.key, self.windowed, self.warnings = False, [], False, []
        self.key_derived = True
        self.padded = []  # result columns an outer join may fill with NULL
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
    return SqlAnalysis.join_type_tokens(toks)


def analyze_query(sql, relation):
    """Analyze the top-level SELECT of ``sql`` (templates not rendered).

    ``relation(kind, name)`` gives the input a template call stands for:
    ``(columns, updating, key)`` or None when unknown.  Returns a QueryInfo."""
    info = QueryInfo()
    if type(sql) is str:
        entry = _SqlLexer.text(sql)  # raises SqlError
        plan = entry.plan
        if plan is None:
            # (if it raises, nothing is kept)
            toks = _Analysis.without_final_semicolons(entry.sig)
            plan = entry.plan = _Analysis.query_plan(toks, *SqlAnalysis.nesting_of(toks))
    else:
        toks = _Analysis.without_final_semicolons(tuple(significant_tokens(sql)))
        plan = _Analysis.query_plan(toks, *SqlAnalysis.nesting_of(toks))
    _Analysis.run_plan(plan, relation, info)
    return info


class _Analysis(object):
    """The query planner behind analyze_query(): clause and function vocabularies, depth and scope walking, per-SELECT plans, set operations, expression types."""

    @staticmethod
    def without_final_semicolons(toks):
        """``toks`` without the ``;`` that may end a model's query (compile leaves it out
        of the INSERT too): read as part of the last clause, it made ``GROUP BY a;`` group
        by something that is not a column."""
        n = len(toks)
        while n and toks[n - 1].kind == "op" and toks[n - 1].text == ";":
            n -= 1
        return toks if n == len(toks) else toks[:n]

    STRING_TYPES = ("STRING", "VARCHAR", "CHAR", "CHARACTER")

    WINDOW_COLUMNS = ("window_start", "window_end", "window_time")

    CLAUSE_WORDS = ("FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "WINDOW", "UNION",
                     "EXCEPT", "INTERSECT", "QUALIFY", "OFFSET", "FETCH", "MINUS")

    CLAUSE_WORD_SET = frozenset(CLAUSE_WORDS)

    JOIN_WORDS = ("JOIN", "LEFT", "RIGHT", "FULL", "INNER", "CROSS", "OUTER", "ON", "USING",
                   "NATURAL", "LATERAL", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "UNION",
                   "FOR", "MATCH_RECOGNIZE", "WINDOW", "AS")

    JOIN_WORD_SET = frozenset(JOIN_WORDS)

    # Functions: a fixed result type, or a rule name handled in _call_type.
    FUNC_TYPES = dict((name, typ) for names, typ in (
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
            ("ARRAY_AGG", "@array")) for name in names.split())

    # Words typed without parentheses.
    NILADIC = ("CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME", "LOCALTIMESTAMP",
                "LOCALTIME", "CURRENT_ROW_TIMESTAMP")

    # Bare words that are values, never column references (_column_ref).
    VALUE_WORDS = frozenset(("NULL", "TRUE", "FALSE") + NILADIC)

    TYPE_BASE_END_RE = _LazyRegex(r"[\s(<]")

    # Nesting: ( [ and CASE open, ) ] and END close (see _opens/_closes).  The loops below
    # read it from these tables instead of calling _opens/_closes for every token (they
    # are the inner loops of analyze_query); an operator is looked up by its text, a word
    # by its upper-cased text, like is_keyword() compares it.
    NEST_OPS = {"(": 1, "[": 1, ")": -1, "]": -1}

    NEST_WORDS = {"CASE": 1, "END": -1}

    @staticmethod
    def top_level(toks):
        """Indices of the tokens at depth 0."""
        out, depth = [], 0
        ops, words = _Analysis.NEST_OPS, _Analysis.NEST_WORDS
        for i, t in enumerate(toks):
            kind = t.kind
            nest = ops.get(t.text, 0) if kind == "op" else (
                words.get(t.text.upper(), 0) if kind == "ident" else 0)
            if nest < 0:
                depth -= 1
            if depth == 0:
                out.append(i)
            if nest > 0:
                depth += 1
        return out

    @staticmethod
    def opens(t):
        return (t.kind == "op" and t.text in ("(", "[")) or is_keyword(t, "CASE")

    @staticmethod
    def closes(t):
        return (t.kind == "op" and t.text in (")", "]")) or is_keyword(t, "END")

    @staticmethod
    def matching(toks, i):
        """Index of the parenthesis closing the one at ``i``."""
        depth = 0
        ops, words = _Analysis.NEST_OPS, _Analysis.NEST_WORDS
        for j in range(i, len(toks)):
            t = toks[j]
            kind = t.kind
            nest = ops.get(t.text, 0) if kind == "op" else (
                words.get(t.text.upper(), 0) if kind == "ident" else 0)
            if nest:
                depth += nest
                if depth == 0 and nest < 0:
                    return j
        return len(toks) - 1

    @staticmethod
    def ident_name(tok):
        if tok.kind == "ident":
            return tok.text
        if tok.kind in ("qident", "dqident"):
            return token_value(tok)
        return None

    class Scope(object):
        """Columns visible in a FROM clause: by name and by ``alias.name``."""

        def __init__(self):
            self.columns = []          # [(alias, Column)]
            self.updating = False
            self.keys = []             # key column names of updating inputs
            self.keys_derived = True   # False if one of them is not a key Flink derives
            self.known = True          # False if some input's columns are unknown
            self.windowed = False
            self.padded = set()        # id() of the entries of inputs an outer join pads
            self._index, self._indexed = None, 0  # lookup(): {lower name: [(alias, Column)]}

        def may_be_padded(self, name, qualifier=None):
            """True unless the column lookup() finds is one of an input no outer join pads
            with NULLs (an unknown column may be anything)."""
            entry = self.entry(name, qualifier)
            return entry is None or id(entry) in self.padded

        def lookup(self, name, qualifier=None):
            entry = self.entry(name, qualifier)
            return None if entry is None else entry[1]

        def entry(self, name, qualifier=None):
            # The first (alias, column) with that name (and alias), in the order of
            # self.columns.  The columns by lower-cased name are indexed as they come:
            # self.columns is only ever appended to (by _plan_scope), and a scope lives for
            # one query.
            index = self._index
            if index is None:
                index = self._index = {}
                self._indexed = 0
            columns = self.columns
            if self._indexed < len(columns):
                for entry in columns[self._indexed:]:
                    index.setdefault(entry[1].name.lower(), []).append(entry)
                self._indexed = len(columns)
            entries = index.get(name.lower())
            if entries is None:
                return None
            if qualifier is None:
                return entries[0]
            lqual = qualifier.lower()
            for entry in entries:
                if entry[0] is not None and entry[0].lower() == lqual:
                    return entry
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

    @staticmethod
    def analyze(toks, relation, info):
        """Fill ``info`` from the query ``toks`` (significant tokens); returns the scope."""
        toks = tuple(toks)
        return _Analysis.run_plan(_Analysis.query_plan(toks, *_Analysis.nesting(toks)), relation, info)

    # analyze_query() in two steps.  Almost everything it reads from a query depends on
    # the query's tokens alone: where the SELECT and its clauses are, the select items
    # split into expression and alias, which of them are column references, the GROUP BY
    # columns, the inputs of the FROM clause and their aliases.  That is a _QueryPlan,
    # made once per distinct text (it is kept with the text's tokens, see _sql_text) and
    # run for every model with that SQL by _run_plan(), which does only what depends on the
    # inputs (relation()): their columns, the lookups and the types of the expressions.
    # A 1,000-model project has ~500 distinct SQL texts for ~800 queries.
    #
    # The run makes the same relation() calls in the same order, and reports the same
    # warnings in the same order, as reading the query in one go did: the plan of a
    # sub-query in FROM is run where the sub-query stands.  A query the text-only part
    # cannot read (it raises) raises at the same point of the run: the plan remembers
    # that it is broken and the run reads the tokens again, which raises the same error
    # there.
    class QueryPlan(object):
        __slots__ = ("sel", "toks", "inputs", "from_windowed", "broken", "items",
                     "group_has_window", "legacy_window", "aggregated", "distinct", "outer_join",
                     "top_n", "group_key", "group_whole", "padded", "later")

        def __init__(self):
            self.sel = None
            self.broken = None  # (toks, words, run) of a query whose select part raises
            self.later = ()     # the parts after a UNION/EXCEPT/INTERSECT, see _set_parts()

    @staticmethod
    def nesting(toks):
        """``(words, run)`` of a token sequence, what _query_plan() reads instead of calling
        ``.upper()`` and counting parentheses again and again: ``words[i]`` is the
        upper-cased text of a bare word (as is_keyword() compares it), else None;
        ``run[i]`` is the nesting depth before token ``i`` (``len(toks) + 1`` entries;
        ``( [ CASE`` open, ``) ] END`` close, like _top_level() counts them).

        Depths are compared with the depth before the first token of a query (the ``run``
        of a slice is the slice of ``run``): a word or comma at index ``i`` is at the top
        level of the query iff ``run[i]`` equals it, and the parenthesis opened at ``i``
        closes at the first ``j > i`` with ``run[j + 1] == run[i]``."""
        words, run = [], [0]
        add_word, add_depth = words.append, run.append
        ops, nest_words = _Analysis.NEST_OPS, _Analysis.NEST_WORDS
        depth = 0
        for t in toks:
            kind = t.kind
            if kind == "ident":
                w = t.text.upper()
                add_word(w)
                depth += nest_words.get(w, 0)
            else:
                add_word(None)
                if kind == "op":
                    depth += ops.get(t.text, 0)
            add_depth(depth)
        return tuple(words), tuple(run)

    @staticmethod
    def top_word(words, run, word, lo, hi):
        """Index of the first ``word`` in ``words[lo:hi]`` at the depth ``run[0]``, or None."""
        base = run[0]
        i = lo
        while True:
            try:
                i = words.index(word, i, hi)
                if run[i] == base:
                    return i
                i = run.index(base, i + 1, hi)  # (past the nested part it is in)
            except ValueError:
                return None

    @staticmethod
    def top_commas(toks, run, lo, hi):
        """``[lo:hi]`` split at the commas at its depth 0 (as _depth_split does), as
        ``[(start, end)]`` index ranges."""
        base = run[lo]
        out = []
        for j in range(lo, hi):
            if run[j] == base and toks[j].text == ",":
                out.append((lo, j))
                lo = j + 1
        out.append((lo, hi))
        return out

    @staticmethod
    def query_plan(toks, words, run, strict=False, memo=None, fresh=False):
        """The _QueryPlan of the query ``toks`` (a tuple of significant tokens; ``words``
        and ``run`` from _nesting(), or their slices).

        An error before the FROM inputs are known is raised; an error after that marks the
        plan broken (``strict``: raised, for _run_plan).

        ``memo`` (a Memo, made by the outermost call) holds the plan of every sub-query by
        its tokens (slices share the token objects: the first and last token's identity and
        the length name a range): the FROM scan meets a nested sub-query once per enclosing
        level, and planning it again each time made 20 nested levels take 2**20 plans."""
        if memo is None:
            memo = Memo(1 << 16)
        elif toks and not strict and not fresh:
            key = (id(toks[0]), id(toks[-1]), len(toks))
            got = memo.get(key)
            if got is None:
                try:
                    got = _Analysis.query_plan(toks, words, run, memo=memo, fresh=True)
                except Exception as e:
                    got = e
                memo.put(key, got)
            if isinstance(got, Exception):
                raise got
            return got
        plan = _Analysis.QueryPlan()
        n = len(toks)
        sel = _Analysis.top_word(words, run, "SELECT", 0, n)
        if sel is None:
            return plan
        plan.sel = sel
        # the first top-level occurrence after SELECT of each clause word (GROUP and ORDER
        # only when BY follows)
        clause = {}
        for w in _Analysis.CLAUSE_WORD_SET.intersection(words[sel + 1:]):
            i = sel
            while True:
                i = _Analysis.top_word(words, run, w, i + 1, n)
                if i is None:
                    break
                if w in ("GROUP", "ORDER") and not (i + 1 < n and words[i + 1] == "BY"):
                    continue
                clause[w] = i
                break
        ends = sorted(clause.values()) + [n]

        def span(word):
            # (start, end) of the tokens of a clause, after its word
            if word not in clause:
                return 0, 0
            start = clause[word]
            end = min(e for e in ends if e > start)
            return start + 1, end

        source = toks, words, run
        if "UNION" in clause or "EXCEPT" in clause or "INTERSECT" in clause:
            # the first SELECT names the result's columns; the later parts only tell
            # whether it is updating (_run_plan)
            cut = min(clause[w] for w in ("UNION", "EXCEPT", "INTERSECT") if w in clause)
            plan.later = _Analysis.set_parts(toks, words, run, cut, memo)
            ends = [e for e in ends if e <= cut]
            # and the clause words of the later parts are not the first SELECT's (a GROUP BY
            # or FROM after the cut has no end in ``ends``: it used to crash span())
            clause = dict((w, i) for w, i in clause.items() if i <= cut)
            toks, words, run = toks[:cut], words[:cut], run[:cut + 1]
        lo, hi = span("FROM")
        plan.inputs, plan.from_windowed, plan.padded = _Analysis.from_plan(toks[lo:hi], words[lo:hi],
                                                                  run[lo:hi + 1], memo)
        # (the rest used to be read after the inputs' columns: an error here is raised
        # after the relation() calls of the FROM clause, see _run_plan)
        try:
            _Analysis.select_plan(plan, toks, words, run, clause, span)
        except Exception:
            if strict:
                raise
            plan.broken = source
        return plan

    @staticmethod
    def select_plan(plan, toks, words, run, clause, span):
        """The select items, GROUP BY and the other text-only parts of ``plan``."""
        n = len(toks)
        select_start = plan.sel + 1
        distinct = False
        if select_start < n and words[select_start] in ("DISTINCT", "ALL"):
            distinct = words[select_start] == "DISTINCT"
            select_start += 1
        select_end = min(clause.get("FROM", n), n)
        ranges = _Analysis.top_commas(toks, run, select_start, select_end)
        items = [toks[a:b] for a, b in ranges]
        group = []
        if "GROUP" in clause:
            lo, hi = span("GROUP")
            lo += 1  # after BY
            if lo < hi:
                group = [toks[a:b] for a, b in _Analysis.top_commas(toks, run, lo, hi) if a < b]
        group_cols = set()
        for g in group:
            ref = SqlAnalysis.column_ref(g)
            if ref:
                group_cols.add(ref[1].lower())
        plan.group_has_window = bool(group_cols & set(_Analysis.WINDOW_COLUMNS))
        plan.legacy_window = any(is_keyword(g[0], "TUMBLE", "HOP", "SESSION") for g in group)
        # (an item without any aggregate's name has no aggregate: most are skipped unread)
        plan.aggregated = bool(group) or any(
            not _Analysis.AGGREGATES.isdisjoint(words[a:b]) and _Analysis.has_aggregate(item)
            for (a, b), item in zip(ranges, items))
        plan.distinct = distinct
        # Items are kept as token indices into plan.toks (the tokens of the query, which
        # the text's record holds anyway), not as token slices and offsets: a 5,000-model
        # project keeps ~2,000 plans (its peak RSS is close to its limit).
        plan.toks = toks
        out = plan.items = []
        key = []
        selected_group = set()
        for n_item, ((a, b), item) in enumerate(zip(ranges, items)):
            if not item:
                continue
            if len(item) == 1 and item[0].text == "*" or (
                    len(item) == 3 and item[1].text == "." and item[2].text == "*"):
                qual = _Analysis.ident_name(item[0]) if len(item) == 3 else None
                out.append((True, a, b, qual, "".join(t.text for t in item)))
                continue
            expr, alias = _Analysis.split_alias(item)
            ref = SqlAnalysis.column_ref(expr)
            name, unnamed = alias, None
            if name is None and ref:
                name = ref[1]
            if name is None:
                name = "EXPR$%d" % n_item
                unnamed = ("select item %d (%s) has no name: it is written as `%s`; "
                       "give it an alias with AS" % (n_item + 1, _Analysis.snippet(expr), name))
            out.append((False, a, b, a + len(expr), name, unnamed, alias, ref))
            if ref and ref[1].lower() in group_cols:  # (_key_from_group)
                key.append(alias or ref[1])
                selected_group.add(ref[1].lower())
        lo, hi = span("FROM")
        from_words = set(words[lo:hi])
        plan.outer_join = (not from_words.isdisjoint(("LEFT", "RIGHT", "FULL")) and
            "JOIN" in from_words)
        plan.top_n = not _Analysis.TOP_N_WORDS.isdisjoint(words)
        plan.group_key = tuple(key)
        # Flink keys a GROUP BY result by the whole group: a key that leaves out a grouping
        # column (or an expression) is not one it can derive
        plan.group_whole = len(group_cols) == len(group) and group_cols <= selected_group

    TOP_N_WORDS = frozenset(("ROW_NUMBER", "RANK", "DENSE_RANK"))

    SET_OP_WORDS = frozenset(("UNION", "EXCEPT", "INTERSECT"))

    @staticmethod
    def set_parts(toks, words, run, cut, memo=None):
        """``[(op, all, plan)]``: the parts of a set operation after its first SELECT (the
        first top-level UNION/EXCEPT/INTERSECT is at ``cut``), each with its operator,
        whether ALL follows it, and its _QueryPlan (None when it cannot be read: the part
        is then taken as not updating, as before streamt read these parts at all)."""
        n = len(toks)
        base = run[0]
        ops = [i for i in range(cut, n) if run[i] == base and words[i] in _Analysis.SET_OP_WORDS]
        parts = []
        for j, i in enumerate(ops):
            a = i + 1
            quantifier = words[a] if a < n else None
            if quantifier in ("ALL", "DISTINCT"):
                a += 1
            b = ops[j + 1] if j + 1 < len(ops) else n
            while (b - a > 2 and toks[a].text == "(" and toks[b - 1].text == ")" and
                    next((k for k in range(a, b) if run[k + 1] == run[a]), None) == b - 1):
                a, b = a + 1, b - 1     # a part in parentheses: the query inside them
            try:
                sub = _Analysis.query_plan(toks[a:b], words[a:b], run[a:b + 1], memo=memo)
            except Exception:  # (a part that cannot be read says nothing either way)
                sub = None
            parts.append((words[i], quantifier == "ALL", sub))
        return parts

    @staticmethod
    def run_plan(plan, relation, info, runs=None):
        """Fill ``info`` from ``plan`` and the inputs' columns; returns the scope.

        ``runs`` (a Memo, made by the outermost call) holds the QueryInfo of each sub-query
        plan already run: a sub-query plan met again (the same text of a sub-query at the
        same place) is run once (relation() is a function of its arguments)."""
        if plan.sel is None:
            info.warnings.append("no SELECT found: the result columns are unknown")
            return _Analysis.Scope()
        scope = _Analysis.plan_scope(plan, relation, info, Memo(1 << 16) if runs is None else runs)
        if plan.broken:
            _Analysis.query_plan(*plan.broken, strict=True)  # raises what reading the query raised
        aggregated = plan.aggregated
        windowed = scope.windowed and plan.group_has_window
        names_seen = set()
        columns, warnings = info.columns, info.warnings
        toks = plan.toks
        for item in plan.items:
            if item[0]:  # a * or alias.*
                _star, a, b, qual, text = item
                start, end = toks[a].start, toks[b - 1].end
                cols = scope.expand(qual)
                if not scope.known or not cols:
                    warnings.append("SELECT %s: the columns of the input are unknown" % text)
                info.star.append((start, end, cols))
                info.items.append((None, start, end))
                for c in cols:
                    names_seen.add(c.name.lower())
                    columns.append(Column(c.name, c.type, c.rowtime if not aggregated else None))
                    if plan.padded and scope.may_be_padded(c.name, qual):
                        info.padded.append(c.name)
                continue
            _star, a, b, expr_b, name, unnamed, alias, ref = item
            start, end = toks[a].start, toks[b - 1].end
            expr_end = toks[expr_b - 1].end if expr_b > a else end
            if unnamed is not None:
                warnings.append(unnamed)
            if plan.padded and (not ref or scope.may_be_padded(ref[1], ref[0])):
                info.padded.append(name)  # (an expression may be NULL as its inputs are)
            lname = name.lower()
            if lname in names_seen:
                warnings.append("duplicate result column %r" % name)
            names_seen.add(lname)
            rowtime = None
            if ref:
                col = scope.lookup(ref[1], ref[0])
                typ = col.type if col else None
                if col is not None and col.rowtime is not None and (
                        not aggregated or ref[1].lower() == "window_time"):
                    rowtime = col.rowtime
                if col is None and scope.known:
                    warnings.append("column %r is not a column of the input" % ref[1])
            else:
                typ = _Analysis.expr_type_remembered(toks[a:expr_b], scope)
                if typ == "@rowtime":
                    typ, rowtime = "TIMESTAMP(3)", 0
            if not typ or typ in ("NULL", "INTERVAL"):
                info.untyped.append(name)
                warnings.append("cannot infer the type of %r (%s): written as STRING"
                                % (name, _Analysis.snippet(toks[a:expr_b])))
                typ = "STRING"
            columns.append(Column(name, typ, rowtime))
            info.items.append((name, start, end))
            info.exprs.append((name, start, expr_end, alias is not None))
        # updating or append-only result, and its key
        info.windowed = windowed or plan.legacy_window
        if aggregated and not info.windowed:
            info.updating = True
            info.key = list(plan.group_key)
            info.key_derived = plan.group_whole
        elif plan.distinct:
            info.updating = True
            info.key = [c.name for c in columns]
        elif scope.updating or plan.outer_join or (plan.top_n and not info.windowed):
            info.updating = True
            info.key = [k for k in scope.keys if any(c.name == k for c in columns)]
            # (a key Flink derives only when every key column of the inputs is kept)
            info.key_derived = scope.keys_derived and len(info.key) == len(scope.keys)
        if plan.later:
            _Analysis.set_updating(plan.later, relation, info)
        if info.updating and not info.key:
            info.key = [c.name for c in columns]
            info.key_derived = False
            warnings.append(SqlAnalysis.NO_KEY_WARNING)
        return scope

    @staticmethod
    def set_updating(parts, relation, info):
        """What the later parts of a set operation change for the first SELECT (``info``).
        UNION without ALL, EXCEPT and INTERSECT keep state and retract rows: the result is
        updating, keyed by every column (like DISTINCT; a Kafka sink of such a job must be
        an upsert one), a key Flink derives.  A UNION ALL with an updating part (the first
        or a later one) is updating with no key Flink derives: the rows of its parts share
        no key (_run_plan then keys it by every column, and compile has the INSERT say how
        rows sharing that key merge)."""
        updating = info.updating
        for op, all_, sub in parts:
            if op != "UNION" or not all_:
                info.updating = True
                info.key = [c.name for c in info.columns]
                info.key_derived = True
                return
            if updating or sub is None or sub.sel is None or sub.broken:
                continue
            part = QueryInfo()
            try:
                _Analysis.run_plan(sub, relation, part)
            except Exception:  # (what cannot be read says nothing either way)
                continue
            updating = part.updating
        if updating:
            info.updating = True
            info.key = []

    @staticmethod
    def snippet(toks, limit=40):
        text = " ".join(t.text for t in toks)
        return text if len(text) <= limit else text[:limit - 3] + "..."

    @staticmethod
    def split_alias(item):
        """``(expr tokens, alias or None)`` of a select item (``expr AS a`` or ``expr a``)."""
        if len(item) >= 3 and is_keyword(item[-2], "AS") and item[-1].kind in (
                "ident", "qident", "dqident"):
            return item[:-2], _Analysis.ident_name(item[-1])
        if len(item) >= 2 and item[-1].kind in ("ident", "qident"):
            last, before = item[-1], item[-2]
            if last.kind == "ident" and last.text.upper() in _Analysis.NOT_ALIASES:
                return item, None
            if before.kind in ("number", "string", "qident") or before.text in (")", "]") or (
                    before.kind == "ident" and before.text.upper() not in _Analysis.NOT_ALIASES):
                return item[:-1], _Analysis.ident_name(last)
        return item, None

    # Words that end an expression or take an operand: never a bare alias.
    NOT_ALIASES = frozenset(
        "END NULL TRUE FALSE UNKNOWN NOT AND OR IS IN LIKE BETWEEN SIMILAR CASE WHEN THEN ELSE "
    "INTERVAL DATE TIME TIMESTAMP DISTINCT ALL YEAR MONTH DAY HOUR MINUTE SECOND WEEK QUARTER "
    "MILLISECOND MICROSECOND NANOSECOND TO ESCAPE EXISTS".split())

    AGGREGATES = frozenset((
        "COUNT", "SUM", "AVG", "MIN", "MAX", "COLLECT", "LISTAGG", "ARRAY_AGG", "STDDEV_POP",
        "STDDEV_SAMP", "VAR_POP", "VAR_SAMP", "JSON_OBJECTAGG", "JSON_ARRAYAGG"))

    @staticmethod
    def has_aggregate(toks):
        for i, t in enumerate(toks[:-1]):
            # (is_keyword(t, *_AGGREGATES), written out)
            if t.kind == "ident" and t.text.upper() in _Analysis.AGGREGATES and toks[i + 1].text == "(":
                # ... OVER (...) is an analytic function, not a GROUP BY aggregate
                close = _Analysis.matching(toks, i + 1)
                if close + 1 < len(toks) and is_keyword(toks[close + 1], "OVER"):
                    continue
                return True
        return False

    @staticmethod
    def from_plan(toks, words, run, memo=None):
        """``(inputs, windowed)`` of a FROM clause (``words`` and ``run`` as in _query_plan):
        inputs is ``[(kind, what, alias)]`` in order, kind ``"template"`` (what:
        _parse_template_call() of it), ``"query"`` (what: the _QueryPlan of a sub-query) or
        ``"broken"`` (what: the arguments of _query_plan() for a sub-query whose plan
        raises); windowed: a window TVF is called; padded: the indexes in ``inputs`` of
        the inputs an outer join pads with NULLs (the right side of a LEFT JOIN, the left
        of a RIGHT JOIN, both of a FULL JOIN; an input inside a sub-query as the sub-query)."""
        inputs, windowed = [], False
        n = len(toks)
        owner, tops, padded = [], [], set()  # top-level input of each input; top-level ones
        since = 0     # where the words before the next top-level input start
        sub_end = -1  # the inputs up to here are inside a sub-query of this FROM
        i = 0
        while i < n:
            t = toks[i]
            if t.kind == "template":
                call = SqlTemplates.parse_template_call(t.text)
                kind, what = "template", call
                default_alias = call[1] if call else None
                j = i + 1
            elif t.kind == "op" and t.text == "(" and i + 1 < n and words[i + 1] in (
                    "SELECT", "WITH"):
                # the closing parenthesis (_matching): the first token after which the
                # depth is back to the one before the "(" (depths change by one a token)
                try:
                    close = run.index(run[i], i + 2) - 1
                except ValueError:
                    close = n - 1
                got = None
                if memo is not None and close > i + 1:  # planned already (query_plan's key)
                    got = memo.get((id(toks[i + 1]), id(toks[close - 1]), close - i - 1))
                if got is not None and not isinstance(got, Exception):
                    kind, what = "query", got
                else:
                    sub = toks[i + 1:close], words[i + 1:close], run[i + 1:close + 1]
                    try:
                        kind, what = "query", _Analysis.query_plan(*sub, memo=memo)
                    except Exception:
                        kind, what = "broken", sub  # raised when the run gets there
                if kind == "query" and getattr(what, "from_windowed", False):
                    windowed = True  # (its window columns come out of it)
                default_alias = None
                j = close + 1
            else:
                if words[i] in SqlShape.WINDOW_TVFS and i + 1 < n and toks[i + 1].text == "(":
                    windowed = True
                i += 1
                continue
            alias = default_alias
            while j < n and toks[j].text == ")":
                j += 1  # TABLE(TUMBLE(TABLE x, ...)) : the alias comes after the closing parens
            if j < n and words[j] == "AS":
                j += 1
            if j < n and toks[j].kind in ("ident", "qident") and words[j] not in _Analysis.JOIN_WORD_SET:
                alias = _Analysis.ident_name(toks[j])
            if i > sub_end:
                # LEFT / RIGHT / FULL [OUTER] JOIN between the previous input and this one
                # (the words of a sub-query input are its own: skipped)
                for k in range(since, i - 1):
                    if words[k] in ("LEFT", "RIGHT", "FULL") and words[k + 1] in ("JOIN", "OUTER"):
                        if words[k] != "LEFT":
                            padded.update(tops)
                        if words[k] != "RIGHT":
                            padded.add(len(inputs))
                tops.append(len(inputs))
                since = i + 1
                if kind != "template":
                    since = sub_end = close
            owner.append(tops[-1])
            inputs.append((kind, what, alias))
            # (the scan goes on after a sub-query: its inputs are its own.  They used to be
            # inputs of this scope too: `SELECT * FROM (SELECT id FROM s) t` had every
            # column of s, each level re-read all the levels below it, and a warning of
            # level k of a nested chain came 2**k times)
            i = close + 1 if kind != "template" else i + 1
        return inputs, windowed, tuple(k for k in range(len(inputs)) if owner[k] in padded)

    @staticmethod
    def plan_scope(plan, relation, info, runs=None):
        """The scope of the FROM clause of ``plan``: every input's columns under its alias."""
        scope = _Analysis.Scope()
        for n, (kind, what, alias) in enumerate(plan.inputs):
            if kind == "template":
                rel = relation(what[0], what[1]) if what else None
                if rel is None:
                    scope.known = False
                    cols = []
                else:
                    cols, upd, key = rel
                    scope.updating = scope.updating or upd
                    scope.keys.extend(key or [])
            else:
                sub = runs.get(id(what)) if kind == "query" and runs is not None else None
                if sub is None:
                    sub = QueryInfo()
                    _Analysis.run_plan(what if kind == "query" else _Analysis.query_plan(*what),
                                       relation, sub, runs)
                    if kind == "query" and runs is not None:
                        runs.put(id(what), sub)
                info.warnings.extend(sub.warnings)
                cols = sub.columns
                scope.updating = scope.updating or sub.updating
                scope.keys.extend(sub.key)
                if sub.updating and not sub.key_derived:
                    scope.keys_derived = False
            if n in plan.padded:
                for c in cols:
                    entry = (alias, c)
                    scope.columns.append(entry)
                    scope.padded.add(id(entry))
            else:
                for c in cols:
                    scope.columns.append((alias, c))
        if plan.from_windowed:
            scope.windowed = True
            rt = [c.rowtime for _a, c in scope.columns if c.rowtime is not None]
            delay = rt[0] if rt else 0
            for name in _Analysis.WINDOW_COLUMNS:
                if scope.lookup(name) is None:
                    scope.columns.append((None, Column(name, "TIMESTAMP(3)",
                                                       delay if name == "window_time" else None)))
        return scope

    @staticmethod
    def merge_types(types):
        types = [t for t in types if t and t not in ("NULL", "@rowtime")]
        if not types:
            return None
        first = types[0]
        if all(t == first for t in types):
            return first
        bases = [SqlAnalysis.base_type(t) for t in types]
        if all(b in SqlAnalysis.NUMERIC_RANK for b in bases):
            best = max(zip(bases, types), key=lambda bt: SqlAnalysis.NUMERIC_RANK[bt[0]])
            if best[0] in ("DECIMAL", "NUMERIC", "DEC"):
                decs = [t for b, t in zip(bases, types) if b == best[0]]
                return decs[0] if all(d == decs[0] for d in decs) else "DECIMAL(38, 18)"
            return best[1]
        if all(b in _Analysis.STRING_TYPES for b in bases):
            return "STRING"
        if all(b in ("TIMESTAMP", "TIMESTAMP_LTZ") for b in bases):
            return first
        return None

    @staticmethod
    def expr_type(toks, scope):
        """The Flink type of an expression (tokens), or None if unknown."""
        while toks and toks[0].text == "(" and _Analysis.matching(toks, 0) == len(toks) - 1:
            if len(toks) > 1 and is_keyword(toks[1], "SELECT"):
                return None
            toks = toks[1:-1]
        if not toks:
            return None
        if is_keyword(toks[0], "CASE") and _Analysis.matching(toks, 0) == len(toks) - 1:
            inner = toks[1:-1]
            level = _Analysis.top_level(inner)
            # each THEN/ELSE value ends at the next top-level WHEN/ELSE: one pass from the
            # right (searching forward from each branch made 5,000 WHENs quadratic)
            words = [inner[i].text.upper() if inner[i].kind == "ident" else None for i in level]
            branches, end = [], len(inner)
            for k in range(len(level) - 1, -1, -1):
                if words[k] in ("THEN", "ELSE"):
                    branches.append((level[k] + 1, end))
                if words[k] in ("WHEN", "ELSE"):
                    end = level[k]
            return _Analysis.merge_types([_Analysis.expr_type(inner[a:b], scope)
                                          for a, b in reversed(branches)])
        level = _Analysis.top_level(toks)
        wordset, ops = set(), []
        for i in level:
            t = toks[i]
            if t.kind == "ident":
                wordset.add(t.text.upper())
            elif t.kind == "op":
                ops.append((i, t.text))
        # boolean operators and predicates
        if not _Analysis.PREDICATE_WORDS.isdisjoint(wordset):
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
                    left = _Analysis.expr_type(toks[:i], scope)
                    right = _Analysis.expr_type(toks[i + 1:], scope)
                    if SqlAnalysis.base_type(left) in ("TIMESTAMP", "TIMESTAMP_LTZ", "DATE") and op in "+-":
                        return left
                    if SqlAnalysis.base_type(left) == "INTERVAL":
                        return right
                    merged = _Analysis.merge_types([left, right])
                    if op == "/" and SqlAnalysis.base_type(merged) in SqlAnalysis.INT_TYPES:
                        return merged
                    return merged if SqlAnalysis.base_type(merged) in SqlAnalysis.NUMERIC_RANK else None
        if toks[0].text in ("-", "+") and len(toks) > 1:
            return _Analysis.expr_type(toks[1:], scope)
        t0 = toks[0]
        # t0's word as is_keyword(t0, ...) compares it (None: not a bare word)
        w0 = t0.text.upper() if t0.kind == "ident" else None
        if len(toks) == 1:
            if t0.kind == "number":
                if "e" in t0.text or "E" in t0.text:
                    return "DOUBLE"
                if "." in t0.text:
                    return "DOUBLE"
                return "INT" if int(t0.text) <= 2147483647 else "BIGINT"
            if t0.kind == "string":
                return "STRING"
            if w0 in ("TRUE", "FALSE", "UNKNOWN"):
                return "BOOLEAN"
            if w0 == "NULL":
                return "NULL"
            if w0 in _Analysis.NILADIC:
                return _Analysis.FUNC_TYPES[t0.text.upper()]
        ref = SqlAnalysis.column_ref(toks)
        if ref:
            col = scope.lookup(ref[1], ref[0])
            return col.type if col else None
        if w0 == "INTERVAL":
            return "INTERVAL"
        if w0 == "TIMESTAMP" and len(toks) == 2 and toks[1].kind == "string":
            return "TIMESTAMP(3)"
        if w0 == "DATE" and len(toks) == 2 and toks[1].kind == "string":
            return "DATE"
        if (t0.kind in ("ident", "qident") and len(toks) >= 3 and toks[1].text == "(" and
                _Analysis.matching(toks, 1) == len(toks) - 1):
            return _Analysis.call_type(t0.text.upper() if t0.kind == "ident" else "", toks[2:-1], scope)
        if (t0.kind in ("ident", "qident") and len(toks) >= 4 and toks[1].text == "(" and
                is_keyword(toks[_Analysis.matching(toks, 1) + 1] if _Analysis.matching(toks, 1) + 1 < len(toks)
                           else None, "OVER")):
            return _Analysis.call_type(t0.text.upper(), toks[2:_Analysis.matching(toks, 1)], scope)
        if w0 == "ARRAY" and len(toks) > 2 and toks[1].text == "[":
            inner = _Analysis.merge_types([_Analysis.expr_type(a, scope) for a in SqlAnalysis.depth_split(toks[2:-1])])
            return "ARRAY<%s>" % inner if inner else None
        if w0 == "MAP" and len(toks) > 2 and toks[1].text == "[":
            parts = SqlAnalysis.depth_split(toks[2:-1])
            k = _Analysis.merge_types([_Analysis.expr_type(a, scope) for a in parts[0::2]])
            v = _Analysis.merge_types([_Analysis.expr_type(a, scope) for a in parts[1::2]])
            return "MAP<%s, %s>" % (k, v) if k and v else None
        return None

    # The type of an expression depends on the texts of its tokens (a token's kind follows
    # from its text; positions are never read) and on what scope.lookup() answers for the
    # column references in it, nothing else.  Many queries type the same expressions
    # (SUM(amount), COUNT(*)) over inputs with the same column types, so a type is
    # remembered by the texts of the expression's tokens, with the lookups made on the way
    # and the types they answered; it is used again only when the same lookups, made in
    # the scope at hand, answer the same types (else the expression is typed again and
    # what is remembered replaced).  The last 2,048 expressions are kept.
    EXPR_TYPE_CACHE = Memo(2048)

    class LookupLog(object):
        """A scope for _expr_type() that writes down the lookups made in ``scope``."""

        __slots__ = ("scope", "log")

        def __init__(self, scope):
            self.scope, self.log = scope, []

        def lookup(self, name, qualifier=None):
            col = self.scope.lookup(name, qualifier)
            self.log.append((name, qualifier, col.type if col is not None else None))
            return col

    @staticmethod
    def expr_type_remembered(toks, scope):
        """_expr_type(toks, scope), remembered (see _EXPR_TYPE_CACHE)."""
        key = tuple([t.text for t in toks])
        hit = _Analysis.EXPR_TYPE_CACHE.get(key)
        if hit is not None:
            lookups, typ = hit
            for name, qualifier, seen in lookups:
                col = scope.lookup(name, qualifier)
                if (col.type if col is not None else None) != seen:
                    break
            else:
                return typ
        log = _Analysis.LookupLog(scope)
        typ = _Analysis.expr_type(toks, log)
        _Analysis.EXPR_TYPE_CACHE.put(key, (tuple(log.log), typ))
        return typ

    PREDICATE_WORDS = frozenset(("OR", "AND", "NOT", "IS", "IN", "LIKE", "BETWEEN", "SIMILAR",
                                  "EXISTS"))

    @staticmethod
    def call_type(name, args_toks, scope):
        if name in ("CAST", "TRY_CAST"):
            level = _Analysis.top_level(args_toks)
            as_i = [i for i in level if is_keyword(args_toks[i], "AS")]
            if not as_i:
                return None
            try:
                return normalize_type(" ".join(t.text for t in args_toks[as_i[-1] + 1:]))
            except SqlError:
                return None
        args = [a for a in SqlAnalysis.depth_split(args_toks) if a]
        if args and is_keyword(args[0][0], "DISTINCT", "ALL"):
            args[0] = args[0][1:]
        rule = _Analysis.FUNC_TYPES.get(name)
        if rule is None:
            return None
        if not rule.startswith("@"):
            return rule
        types = [_Analysis.expr_type(a, scope) for a in args]
        first = types[0] if types else None
        if rule == "@first":
            return first
        if rule == "@merge":
            return _Analysis.merge_types(types)
        if rule == "@if":
            return _Analysis.merge_types(types[1:])
        if rule == "@third":
            return types[2] if len(types) > 2 else None
        if rule == "@rowtime":
            return "@rowtime"
        if rule == "@sum":
            b = SqlAnalysis.base_type(first)
            if b in SqlAnalysis.INT_TYPES:
                return "BIGINT"
            if b in ("DECIMAL", "NUMERIC", "DEC"):
                m = re.search(r",\s*(\d+)", first)
                return "DECIMAL(38, %s)" % (m.group(1) if m else "0")
            return "DOUBLE"
        if rule == "@avg":
            b = SqlAnalysis.base_type(first)
            if b in ("DECIMAL", "NUMERIC", "DEC"):
                return None  # Flink widens the scale; cast it to say what you want
            return "DOUBLE"
        if rule == "@multiset":
            return "MULTISET<%s>" % first if first else None
        if rule == "@array":
            return "ARRAY<%s>" % first if first else None
        return None


class SqlAnalysis(object):
    """What the analysis lends the schema checks and compile: Flink type names and their ranks, the base of a parameterised type, splitting at depth zero, join typing, column references, and the warning of a result without a key."""

    # Type families, for promotion and aggregate rules.
    INT_TYPES = ("TINYINT", "SMALLINT", "INT", "INTEGER", "BIGINT")

    # Parentheses, brackets, CASE and sub-queries nested deeper than this are refused
    # (docs/validation.md): the planner's work grows with the square of the depth, and
    # its recursion must stay far from the interpreter's limit.
    MAX_NESTING = 100

    @staticmethod
    def nesting_of(toks):
        """_Analysis.nesting(toks), refused with a SqlError beyond MAX_NESTING."""
        words, run = _Analysis.nesting(toks)
        deepest = max(run) if run else 0
        if deepest > SqlAnalysis.MAX_NESTING:
            at = toks[run.index(deepest) - 1]
            raise SqlError("line %d: parentheses, CASE or sub-queries are nested %d levels "
                           "deep, more than %d" % (at.line, deepest, SqlAnalysis.MAX_NESTING),
                           hint="flatten the query (a WITH clause, or another model)")
        return words, run

    NUMERIC_RANK = {"TINYINT": 1, "SMALLINT": 2, "INT": 3, "INTEGER": 3, "BIGINT": 4,
                     "DECIMAL": 5, "NUMERIC": 5, "DEC": 5, "FLOAT": 6, "REAL": 6, "DOUBLE": 7}

    @staticmethod
    def join_type_tokens(toks):
        out = []
        prev = None
        for t in toks:
            text = t.text if t.kind == "qident" else t.text.upper()
            if prev is not None and not (text in (",", ")", "(", "<", ">") or prev in ("(", "<")):
                out.append(" ")
            out.append(text)
            prev = text
        return "".join(out)

    @staticmethod
    def base_type(type_text):
        """The base name of a type: ``DECIMAL(10, 2)`` → ``DECIMAL``."""
        if not type_text:
            return None
        return _Analysis.TYPE_BASE_END_RE.split(type_text, 1)[0].upper()

    @staticmethod
    def depth_split(toks, sep=","):
        """Split tokens on ``sep`` at parenthesis/bracket depth 0."""
        parts, cur, depth = [], [], 0
        ops, words = _Analysis.NEST_OPS, _Analysis.NEST_WORDS
        for t in toks:
            kind = t.kind
            if kind == "op":
                text = t.text
                depth += ops.get(text, 0)
                if depth == 0 and text == sep:
                    parts.append(cur)
                    cur = []
                    continue
            elif kind == "ident":
                depth += words.get(t.text.upper(), 0)
            cur.append(t)
        parts.append(cur)
        return parts

    NO_KEY_WARNING = ("the result is updating but no key could be derived: every column is "
                   "used as the key")

    @staticmethod
    def column_ref(expr):
        """``(qualifier, name)`` when ``expr`` is a plain column reference."""
        n = len(expr)
        if n == 1:
            t = expr[0]
            kind = t.kind
            # (is_keyword(t, "NULL", "TRUE", "FALSE", *_NILADIC), written out)
            if kind == "qident" or (kind == "ident" and t.text.upper() not in _Analysis.VALUE_WORDS):
                return None, _Analysis.ident_name(t)
        elif (n == 3 and expr[1].text == "." and expr[0].kind in ("ident", "qident") and
                expr[2].kind in ("ident", "qident")):
            return _Analysis.ident_name(expr[0]), _Analysis.ident_name(expr[2])
        return None


###############################################################################
# Schemas #####################################################################
###############################################################################

__all__ += ["Schema", "parse_schema_definition", "SchemaError", "canonical_schema", "AvroBinary"]


class Schema(object):
    """Column types of Avro, JSON Schema and Protobuf definitions, and their checks."""

    @staticmethod
    def protobuf_problem(text):
        """A rough sanity check of a .proto text: braces balance, it declares a message."""
        depth = 0
        for c in re.sub(r'//[^\n]*|/\*.*?\*/|"(?:[^"\\]|\\.)*"', "", text, flags=re.S):
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth < 0:
                    return "a '}' closes nothing"
        if depth:
            return "%d '{' never closed" % depth
        if not re.search(r"\bmessage\s+\w+\s*\{", text):
            return "no 'message Name { ... }' found"
        m = re.search(r'\bsyntax\s*=\s*"([^"]*)"', text)
        if m and m.group(1) not in ("proto2", "proto3"):
            return "unknown syntax %r" % m.group(1)
        return None

    @staticmethod
    def column_type(fmt):
        t = str(fmt or "avro").strip().upper()
        if t not in ("AVRO", "JSON", "PROTOBUF"):
            raise SchemaError("unknown schema format %r" % fmt, hint="use avro, json or protobuf")
        return t

    @staticmethod
    def check_avro(obj):
        if isinstance(obj, str):
            return
        if isinstance(obj, list):
            for o in obj:
                Schema.check_avro(o)
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
                Schema.check_avro(f["type"])
        elif obj["type"] in ("array",):
            Schema.check_avro(obj.get("items", "null"))
        elif obj["type"] in ("map",):
            Schema.check_avro(obj.get("values", "null"))

    @staticmethod
    def avro_type(flink_type):
        """The Avro type of a Flink type (generated schemas)."""
        b = SqlAnalysis.base_type(flink_type)
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
            return {"type": "array", "items": ["null", Schema.avro_type(inner)]}
        if b == "MAP":
            inner = t[t.index("<") + 1:t.rindex(">")] if "<" in t else "STRING, STRING"
            value = SqlAnalysis.depth_split(significant_tokens(inner))[-1]
            return {"type": "map", "values": ["null", Schema.avro_type(SqlAnalysis.join_type_tokens(value))]}
        return "string"

    @staticmethod
    def json_schema_type(flink_type):
        b = SqlAnalysis.base_type(flink_type)
        if b in SqlAnalysis.INT_TYPES:
            return "integer"
        if b in SqlAnalysis.NUMERIC_RANK:
            return "number"
        if b == "BOOLEAN":
            return "boolean"
        if b == "ARRAY":
            return "array"
        if b in ("MAP", "ROW"):
            return "object"
        return "string"


def parse_schema_definition(fmt, definition):
    """``(schema_type, normalised text)`` of a source's ``schema.definition``.

    AVRO and JSON definitions must parse as JSON; they are written as canonical JSON
    (sorted keys, no spaces).  PROTOBUF text is kept with line ends normalised and
    trailing spaces removed.  Raises SchemaError (a ProjectError) when the definition
    does not parse or the format is unknown."""
    schema_type = Schema.column_type(fmt)
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
        Schema.check_avro(obj)
    elif not isinstance(obj, (dict, bool)):
        raise SchemaError("a JSON Schema must be an object")
    return schema_type, json.dumps(plain_data(obj), sort_keys=True, separators=(",", ":"),
                                   ensure_ascii=False)


class SchemaError(CompileError):
    """A schema definition that does not parse."""


def canonical_schema(schema, schema_type="AVRO"):
    """A schema's comparable form: JSON (Avro, JSON Schema) re-serialised with sorted
    keys and no spaces; Protobuf with whitespace collapsed."""
    if not isinstance(schema, str):
        schema = json.dumps(schema)
    if (schema_type or "AVRO").upper() in ("AVRO", "JSON"):
        try:
            return json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"))
        except ValueError:
            pass
    return " ".join(schema.split())


class AvroBinary(object):
    """Avro binary decoding with a writer schema (parsed JSON): the payload of a record in
    the Confluent wire format.  Bytes and fixed come back as text (latin-1), enums as their
    symbol, unions as the branch's value; logical types as their underlying type.  Data
    that does not fit the schema raises ValueError (never reads past the input)."""

    PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")

    def __init__(self, schema):
        self.names = {}
        self.register(schema, None)
        self.schema = schema

    def register(self, s, ns):
        if isinstance(s, list):
            for b in s:
                self.register(b, ns)
        elif isinstance(s, dict):
            t = s.get("type")
            if t in ("record", "error", "enum", "fixed"):
                name = s.get("name") or ""
                ns = s.get("namespace", ns) if "." not in name else name.rsplit(".", 1)[0]
                full = name if "." in name or not ns else "%s.%s" % (ns, name)
                self.names[full] = s
                self.names.setdefault(name.rsplit(".", 1)[-1], s)
                for f in s.get("fields") or []:
                    self.register(f.get("type"), ns)
            elif t in ("array", "map"):
                self.register(s.get("items") if t == "array" else s.get("values"), ns)
            elif isinstance(t, (dict, list)):
                self.register(t, ns)

    def decode(self, data):
        value, pos = self.read(self.schema, data, 0)
        if pos != len(data):
            raise ValueError("%d bytes after the Avro value" % (len(data) - pos))
        return value

    @staticmethod
    def long(buf, pos):
        result, shift = 0, 0
        while True:
            if pos >= len(buf) or shift > 63:
                raise ValueError("bad Avro varint")
            b = buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return (result >> 1) ^ -(result & 1), pos
            shift += 7

    def take(self, buf, pos, n):
        if n < 0 or pos + n > len(buf):
            raise ValueError("Avro data ends early")
        return buf[pos:pos + n], pos + n

    def read(self, s, buf, pos):
        import struct
        if isinstance(s, list):
            i, pos = self.long(buf, pos)
            if not 0 <= i < len(s):
                raise ValueError("union branch %d of %d" % (i, len(s)))
            return self.read(s[i], buf, pos)
        if isinstance(s, dict):
            t = s.get("type")
            if t in ("record", "error"):
                out = {}
                for f in s.get("fields") or []:
                    out[f.get("name")], pos = self.read(f.get("type"), buf, pos)
                return out, pos
            if t == "enum":
                i, pos = self.long(buf, pos)
                symbols = s.get("symbols") or []
                if not 0 <= i < len(symbols):
                    raise ValueError("enum index %d" % i)
                return symbols[i], pos
            if t == "fixed":
                raw, pos = self.take(buf, pos, int(s.get("size") or 0))
                return raw.decode("latin-1"), pos
            if t in ("array", "map"):
                out = [] if t == "array" else {}
                while True:
                    n, pos = self.long(buf, pos)
                    if n == 0:
                        return out, pos
                    if n < 0:
                        n = -n
                        _size, pos = self.long(buf, pos)
                    if n > len(buf) - pos + 1:
                        raise ValueError("a block of %d items in %d bytes" % (n, len(buf) - pos))
                    for _ in range(n):
                        if t == "array":
                            v, pos = self.read(s.get("items"), buf, pos)
                            out.append(v)
                        else:
                            k, pos = self.read("string", buf, pos)
                            out[k], pos = self.read(s.get("values"), buf, pos)
            return self.read(t, buf, pos)
        if s == "null":
            return None, pos
        if s == "boolean":
            raw, pos = self.take(buf, pos, 1)
            return raw != b"\0", pos
        if s in ("int", "long"):
            return self.long(buf, pos)
        if s in ("float", "double"):
            raw, pos = self.take(buf, pos, 4 if s == "float" else 8)
            return struct.unpack("<f" if s == "float" else "<d", raw)[0], pos
        if s in ("bytes", "string"):
            n, pos = self.long(buf, pos)
            raw, pos = self.take(buf, pos, n)
            return raw.decode("utf-8" if s == "string" else "latin-1"), pos
        if s in self.names:
            return self.read(self.names[s], buf, pos)
        raise ValueError("unknown Avro type %r" % (s,))


###############################################################################
# Validate ####################################################################
###############################################################################
#
# Every check of the original streamt (same codes, reference section 4) plus
# the ones it missed: all cycles, cross-type name clashes, Kafka topic names,
# names safe as identifiers and file names, sink inputs, cluster names,
# topics.required_config, governance on defaults and on stateless models compiled
# to Flink, a fully anchored naming_pattern (re.fullmatch: the original's re.match
# let "shop.x; anything" pass "^shop\.[a-z.]+"), unsupported templates, schema
# definitions that do not parse, positive partitions and replication factors,
# event-time columns, watermark strategies, state TTLs, connector configuration.
#
# Every diagnostic carries the file:line of what it is about.  docs/compat.md lists
# each difference from the original's validation.

__all__ += ["DIAGNOSTIC_CODES", "validate_project", "check_variables", "is_valid",
            "name_problem", "topic_problem", "effective_topic", "lineage_graph",
            "lineage_reach"]


# Every diagnostic code, its level and what it means (README "Validation codes").
# The first block are the original's codes (same meaning); the rest are new.
DIAGNOSTIC_CODES = collections.OrderedDict([
    ("DUPLICATE_SOURCE", ("error", "two sources have the same name")),
    ("DUPLICATE_MODEL", ("error", "two models have the same name")),
    ("DUPLICATE_TEST", ("error", "two tests have the same name")),
    ("DUPLICATE_EXPOSURE", ("error", "two exposures have the same name")),
    ("MISSING_TOPIC", ("error", "a source has no topic")),
    ("SQL_NO_FROM", ("error", "a model's SQL reads from nothing")),
    ("GATEWAY_REQUIRED", ("error", "gateway.virtual_topic or materialized: virtual_topic "
                                   "without runtime.conduktor.gateway")),
    ("AMBIGUOUS_MATERIALIZATION", ("warning", "stateless SQL without a Gateway runs on Flink")),
    ("VIRTUAL_TOPIC_NEEDS_FLINK", ("error", "a virtual topic whose SQL needs Flink (state, "
                                            "several inputs)")),
    ("NO_PROCESSING_RUNTIME", ("error", "SQL to run but neither Flink nor a Gateway")),
    ("MISSING_SINK_CONFIG", ("error", "a sink without sink.connector")),
    ("FLINK_REQUIRED", ("error", "a Flink model without runtime.flink")),
    ("INVALID_STATE_TTL", ("error", "state_ttl_ms is not positive")),
    ("STATE_TTL_TOO_SHORT", ("warning", "state_ttl_ms below one second")),
    ("JINJA_SYNTAX_ERROR", ("error", "a template is not closed")),
    ("SOURCE_NOT_FOUND", ("error", "source() or from names an undefined source")),
    ("MODEL_NOT_FOUND", ("error", "ref() or from names an undefined model")),
    ("UNUSED_FROM_SOURCE", ("warning", "a 'from' source the SQL does not use")),
    ("UNUSED_FROM_REF", ("warning", "a 'from' model the SQL does not use")),
    ("CONFLUENT_FLINK_REQUIRED", ("error", "ML_PREDICT/ML_EVALUATE without a confluent cluster")),
    ("ML_PREDICT_OPAQUE_OUTPUT", ("warning", "ML_PREDICT output without ml_outputs")),
    ("SECURITY_POLICIES_NOT_ENFORCED", ("warning", "policies only a Gateway could enforce")),
    ("ACCESS_DENIED", ("error", "ref() to a private model of another group")),
    ("TEST_MODEL_NOT_FOUND", ("error", "a test names an undefined model or source")),
    ("CONTINUOUS_TEST_REQUIRES_FLINK", ("error", "a continuous test without runtime.flink")),
    ("SAMPLE_SIZE_IGNORED", ("warning", "sample_size on a test that is not a sample test")),
    ("DLQ_MODEL_NOT_FOUND", ("error", "on_failure dlq names an undefined model")),
    ("SLA_NOT_ENFORCED", ("warning", "an exposure SLA is metadata only")),
    ("EXPOSURE_SOURCE_NOT_FOUND", ("error", "an exposure produces/consumes an undefined source")),
    ("EXPOSURE_MODEL_NOT_FOUND", ("error", "an exposure produces/consumes an undefined model")),
    ("EXPOSURE_DEPENDENCY_NOT_FOUND", ("error", "an exposure depends on an undefined name")),
    ("CYCLE_DETECTED", ("error", "models depend on each other in a cycle (each cycle once)")),
    ("RULE_MIN_PARTITIONS", ("error", "rules.topics.min_partitions (defaults included)")),
    ("RULE_MAX_PARTITIONS", ("error", "rules.topics.max_partitions (defaults included)")),
    ("RULE_MIN_REPLICATION", ("error", "rules.topics.min_replication_factor")),
    ("RULE_NAMING_PATTERN", ("error", "rules.topics.naming_pattern (whole name must match)")),
    ("RULE_FORBIDDEN_PREFIX", ("error", "rules.topics.forbidden_prefixes")),
    ("RULE_REQUIRE_DESCRIPTION", ("error", "rules.models.require_description")),
    ("RULE_REQUIRE_OWNER", ("error", "rules.models.require_owner / rules.sources.require_owner")),
    ("RULE_REQUIRE_TESTS", ("error", "rules.models.require_tests")),
    ("RULE_MAX_DEPENDENCIES", ("error", "rules.models.max_dependencies")),
    ("RULE_REQUIRE_SCHEMA", ("error", "rules.sources.require_schema")),
    ("RULE_REQUIRE_FRESHNESS", ("error", "rules.sources.require_freshness")),
    ("RULE_REQUIRE_CLASSIFICATION", ("error", "rules.security.require_classification")),
    ("RULE_SENSITIVE_REQUIRES_MASKING", ("error", "a sensitive column no policy masks")),
    # new in this implementation
    ("YAML_ERROR", ("error", "a file is not valid YAML (or not UTF-8)")),
    ("FILE_UNREADABLE", ("error", "a project file cannot be read")),
    ("DUPLICATE_KEY", ("warning", "a YAML mapping has the same key twice")),
    ("DUPLICATE_PROJECT_FILE", ("warning", "both stream_project.yml and .yaml exist")),
    ("UNKNOWN_KEY", ("warning", "a key streamt does not know (ignored), with a suggestion")),
    ("DEPRECATED_KEY", ("warning", "a legacy spelling, normalised (topic: -> advanced.topic)")),
    ("CONFLICTING_KEYS", ("error", "a legacy spelling and its new form both given")),
    ("INVALID_TYPE", ("error", "a value of the wrong type (e.g. from: as a string)")),
    ("MISSING_PROJECT", ("error", "stream_project.yml has no project: section")),
    ("MISSING_FIELD", ("error", "a required field is missing (project.name, test model)")),
    ("MISSING_RUNTIME", ("error", "no runtime: (project file, or environment file)")),
    ("RUNTIME_IGNORED", ("warning", "runtime: in stream_project.yml with environments/")),
    ("STREAMT_ENV_IGNORED", ("warning", "STREAMT_ENV set for a single-environment project")),
    ("ENV_NAME_MISMATCH", ("error", "environment.name differs from the file name")),
    ("ENV_VAR_NOT_SET", ("error", "a ${VAR} the environment does not set")),
    ("PROJECT_ERROR", ("error", "the project cannot be loaded (no project file, ...)")),
    ("MISSING_BOOTSTRAP_SERVERS", ("error", "runtime.kafka.bootstrap_servers is missing")),
    ("MISSING_RUNTIME_FIELD", ("error", "a runtime block lacks its URL")),
    ("MISSING_SQL_GATEWAY", ("warning", "a Flink cluster without sql_gateway_url")),
    ("UNKNOWN_CLUSTER", ("error", "a flink/connect cluster name that is not defined")),
    ("MISSING_NAME", ("error", "a source, model, test, exposure or column without name")),
    ("INVALID_NAME", ("error", "a name unsafe as identifier or file name")),
    ("NAME_CLASH", ("error", "a source and a model with the same name")),
    ("INVALID_TOPIC_NAME", ("error", "not a legal Kafka topic name")),
    ("EVENT_TIME_COLUMN_NOT_FOUND", ("error", "event_time.column is not a declared column")),
    ("INVALID_WATERMARK_STRATEGY", ("error", "unknown watermark strategy or negative delay")),
    ("INVALID_CLASSIFICATION", ("error", "unknown column classification")),
    ("INVALID_SCHEMA_FORMAT", ("error", "schema.format is not avro, json or protobuf")),
    ("INVALID_SCHEMA", ("error", "a schema definition that does not parse")),
    ("INVALID_MATERIALIZATION", ("error", "unknown materialized: value")),
    ("INVALID_ACCESS", ("error", "access is not private, protected or public")),
    ("MISSING_SINK_INPUT", ("error", "a sink without from")),
    ("CONNECT_REQUIRED", ("error", "a sink without runtime.connect")),
    ("INVALID_PARALLELISM", ("error", "advanced.flink.parallelism below 1")),
    ("INVALID_ON_UPGRADE", ("error", "advanced.flink.on_upgrade is not savepoint/stateless/refuse")),
    ("INVALID_PARTITIONS", ("error", "partitions is not a positive integer")),
    ("INVALID_REPLICATION_FACTOR", ("error", "replication_factor is not a positive integer")),
    ("INVALID_FROM", ("error", "a from entry that is not exactly one source/ref")),
    ("SQL_SYNTAX_ERROR", ("error", "unterminated string, quoted name or comment in SQL")),
    ("UNSUPPORTED_TEMPLATE", ("error", "a template other than source()/ref() (no Jinja)")),
    ("INVALID_TEST_TYPE", ("error", "a test type other than schema/sample/continuous")),
    ("INVALID_SEVERITY", ("error", "on_failure.severity other than error/warning")),
    ("INVALID_EXPOSURE_TYPE", ("error", "unknown exposure type or role")),
    ("INVALID_RULE", ("error", "a governance rule that cannot be used (bad regex)")),
    ("RULE_MAX_REPLICATION", ("error", "rules.topics.max_replication_factor")),
    ("RULE_REQUIRED_CONFIG", ("error", "rules.topics.required_config")),
    ("RULE_MIN_TESTS", ("error", "rules.models.min_tests")),
    ("RULE_ALLOWED_MATERIALIZATION", ("error", "rules.models.allowed_materializations")),
    ("RULE_REQUIRE_COLUMNS", ("error", "rules.sources.require_columns")),
    ("RULE_ALLOWED_CLASSIFICATION", ("error", "rules.security.allowed_classifications")),
    ("INVALID_MASK_METHOD", ("error", "a mask method compile does not know")),
    ("INVALID_STARTUP_MODE", ("error", "advanced.flink.startup_mode is not earliest/latest/group")),
    ("DUPLICATE_TOPIC", ("error", "two models write the same Kafka topic")),
    ("SQL_MULTIPLE_STATEMENTS", ("error", "a model's SQL holds more than one statement")),
    ("INVALID_SASL_MECHANISM", ("error", "sasl_mechanism other than PLAIN/SCRAM-SHA-256/-512")),
])


def validate_project(project, check_env=True):
    """All diagnostics of a loaded project, sorted by (file, line, code): the load
    warnings, the checks below and -- with ``check_env`` -- the ``${VAR}``
    references the environment does not set (check_variables).  The project is
    valid when no diagnostic has level "error"."""
    v = _Validator(project)
    v.run()
    diags = list(project.diagnostics) + v.diags
    if check_env:
        diags.extend(check_variables(project))
    return sorted(diags, key=Diagnostic.sort_key)


def check_variables(project, values=None):
    """One ENV_VAR_NOT_SET error per ``${VAR}`` the project references (any string of
    the runtime, defaults, sources, models, tests, exposures -- docs/internals.md) that
    ``values`` (default ``project.variables``) does not set, located at its first
    reference and naming every file that uses it.  ``$${X}`` is an escaped literal."""
    values = project.variables if values is None else values
    refs = collections.OrderedDict()
    for name, loc in _Where.var_refs(project):
        refs.setdefault(name, []).append(loc)
    out = []
    for name in sorted(refs):
        if name in values:
            continue
        locs = sorted(refs[name], key=lambda l: (l.file or "", l.line or 0))
        files = sorted(set(l.file for l in locs if l.file))
        hint = "set %s in the environment or in %s" % (
            name, ".env.%s" % project.env if project.multi_env else ".env")
        out.append(Diagnostic(
            "error", "ENV_VAR_NOT_SET",
            "Environment variable %s is not set (used in %s)" % (name, ", ".join(files)),
            locs[0], hint + "; or run 'streamt validate --no-env-check' to skip this check"))
    return out


def is_valid(diagnostics, strict=False):
    """True when no diagnostic is an error (with ``strict``, no warning either)."""
    return not any(d.is_error or strict for d in diagnostics)


def name_problem(name, what="name"):
    """Why ``name`` cannot be used as an identifier and a file name, or None.

    Names become Flink table names, file names in artifacts, connector names and
    Schema Registry subjects: refuse path separators, '..', a leading dot, quotes,
    back-quotes, whitespace, control characters, and more than 200 characters."""
    if not isinstance(name, str) or not name:
        return "the %s is empty" % what
    if len(name) > 200:
        return "the %s is longer than 200 characters" % what
    if name.startswith("."):
        return "the %s starts with a dot" % what
    if _LEGAL_NAME_RE.match(name):
        return None  # ASCII letters, digits, '_', '-' and '.' only: none of the below
    for c in name:
        if ord(c) < 32 or ord(c) == 127:
            return "the %s contains a control character" % what
        if c in "/\\":
            return "the %s contains a path separator %r" % (what, c)
        if c in "'\"`":
            return "the %s contains a quote character %s" % (what, c)
        if c.isspace():
            return "the %s contains whitespace" % what
        if c in "${}*?<>|:;,":
            return "the %s contains the character %r" % (what, c)
    return None


def topic_problem(topic):
    """Why ``topic`` is not a legal Kafka topic name, or None (a name holding a
    ``${VAR}`` reference is judged once substituted)."""
    if not isinstance(topic, str) or not topic:
        return "the topic name is empty"
    if "${" in topic:
        return None
    if topic in (".", ".."):
        return "'.' and '..' are not topic names"
    if len(topic) > 249:
        return "a topic name has at most 249 characters (this one has %d)" % len(topic)
    if _LEGAL_NAME_RE.match(topic):
        return None  # every character legal (the common case, in one match)
    bad = sorted(set(c for c in topic if not _Vocabulary.TOPIC_CHAR_RE.match(c)))
    if bad:
        return "a topic name uses only letters, digits, '.', '_' and '-' (found %s)" % (
            ", ".join(repr(c) for c in bad))
    return None


def effective_topic(model, project):
    """``{"name", "partitions", "replication_factor", "config"}`` of a model's output topic:
    ``advanced.topic`` over ``defaults.topic`` over ``defaults.models.topic`` over 1/1
    (the original took the first defaults object whole; we merge per field:
    docs/compat.md)."""
    return _effective_topic(model, _Where.topic_default_layers(project.defaults))


class _Where(object):
    """Locations of what a diagnostic points at: names, topics, SQL lines, ${VAR}s."""

    @staticmethod
    def topic_default_layers(defaults):
        """(defaults.topic, defaults.models.topic) as effective_topic reads them: the same
        for every model of a project (check_rules works them out once)."""
        return (ProjectKinds.get_path(defaults, ("topic",)) or {},
                ProjectKinds.get_path(defaults, ("models", "topic")) or {})

    @staticmethod
    def var_refs(project):
        """(name, Location) of every ${VAR} reference that must be set for a deploy.

        The walk keeps the path of (container, key or index) steps down to the current
        node and works a Location out only for a string that holds a reference: the same
        chain of _loc/_key_loc/_item_loc calls as locating every node on the way down,
        but made for the few strings that need it (locations are not free; most of the
        thousands of strings of a large project hold no ``${``)."""
        out = []
        path = []  # [(container, key or index, is the container a mapping)]
        quick = FastPaths.validate

        def locate(root, default):
            if quick:
                # The chain below, from its far end: a step whose key_loc/item_loc answers
                # (or whose container has a location) decides the result whatever the steps
                # before it gave, so those are not worked out (they are pure).
                for node, k, is_map in reversed(path):
                    f = getattr(node, "key_loc" if is_map else "item_loc", None)
                    if f is not None:
                        try:
                            return f(k)
                        except Exception:
                            pass
                    loc = getattr(node, "loc", None)
                    if loc:
                        return loc
                return Locate.of(root, default)
            loc = Locate.of(root, default)
            for node, k, is_map in path:
                loc = Locate.key(node, k, loc) if is_map else Locate.item(node, k, loc)
            return loc

        def string(text, root, default):
            if "${" not in text:  # a variable is named only after "${"
                return
            loc = None
            for m in Variables.RE.finditer(text):
                if m.group(2):
                    if loc is None:
                        loc = locate(root, default)
                    out.append((m.group(2), loc))

        def walk(node, root, default):
            # the strings among a container's values are looked at here, without a call
            # each (most values of a project are strings)
            is_map = isinstance(node, dict)
            for k, v in (node.items() if is_map else enumerate(node)):
                if isinstance(v, str):
                    if "${" in v:
                        path.append((node, k, is_map))
                        string(v, root, default)
                        path.pop()
                elif isinstance(v, (dict, list)):
                    path.append((node, k, is_map))
                    walk(v, root, default)
                    path.pop()

        def holds_ref(node):
            # does walk() meet a string holding "${" below ``node``?  The same values in
            # the same order, without the path of keys (most items of a large project
            # hold no reference: they are read once, here, and never walked)
            for v in (node.values() if isinstance(node, dict) else node):
                if isinstance(v, str):
                    if "${" in v:
                        return True
                elif isinstance(v, (dict, list)) and holds_ref(v):
                    return True
            return False

        def top(node, default):
            if isinstance(node, str):
                string(node, node, default)
            elif isinstance(node, (dict, list)):
                if quick and not holds_ref(node):
                    return
                walk(node, node, default)
        top(project.runtime, Location(project.env_file or project.project_file))
        for kind in ProjectKinds.KINDS:
            for item in getattr(project, kind):
                top(item, None)
        top(project.defaults, Location(project.project_file))
        return out

    @staticmethod
    def name_loc(item):
        """Where an item's name is written (the item's own location without one)."""
        return Locate.key(item, "name", Locate.of(item))

    @staticmethod
    def out_topic_loc(topic, model):
        """Where the output topic of a model is named: ``advanced.topic.name``, else the
        model's name (``topic`` is the model's advanced.topic mapping, or {})."""
        if topic.get("name"):
            return Locate.key(topic, "name", Locate.of(model))
        return Locate.key(model, "name", Locate.of(model))

    @staticmethod
    def sql_line_loc(project, model, line, col):
        """The file location of line/col of a model's SQL: a block scalar (``sql: |``)
        starts on the line after the key; a one-line SQL is on the key's line (column
        unknown: quoting and folding move it).  Which keys open a block the loader wrote
        down (Project.block_lines): no file is read again."""
        kloc = Locate.key(model, "sql", Locate.of(model))
        if kloc is None or not kloc.line:
            return kloc
        if kloc.line in project.block_lines.get(kloc.file, ()):
            return Location(kloc.file, kloc.line + line, None)
        return Location(kloc.file, kloc.line, None)

    @staticmethod
    def policies(model):
        """The mapping entries of a model's security.policies."""
        pols = ProjectKinds.get_path(model, ("security", "policies"))
        return [p for p in pols if isinstance(p, dict)] if isinstance(pols, list) else []

    @staticmethod
    def ml_model_arg(toks):
        """The model name given to ML_PREDICT/ML_EVALUATE (``toks``: what follows its
        ``(``): the name after ``MODEL`` in any argument (Flink's ``ML_PREDICT(TABLE t,
        MODEL m, DESCRIPTOR(...))``); else, when the first argument is ``TABLE t``, the
        second (``ML_PREDICT(TABLE t, 'm')``); else the first (Confluent's
        ``ML_PREDICT('m', col, ...)``).  None if that is no name or string."""
        args, cur, depth = [], [], 0
        for t in toks:
            if t.text == "(" and t.kind == "op":
                depth += 1
            elif t.text == ")" and t.kind == "op":
                if depth == 0:
                    break
                depth -= 1
            elif t.text == "," and t.kind == "op" and depth == 0:
                args.append(cur)
                cur = []
                continue
            cur.append(t)
        args.append(cur)
        for a in args:
            if len(a) > 1 and is_keyword(a[0], "MODEL"):
                return _Where.ml_name(a[1])
        first = args[0]
        if first and is_keyword(first[0], "TABLE"):
            return _Where.ml_name(args[1][0]) if len(args) > 1 and args[1] else None
        return _Where.ml_name(first[0]) if first else None

    @staticmethod
    def ml_name(tok):
        if tok.kind in ("string", "qident", "dqident", "ident"):
            return token_value(tok)
        return None


def _effective_topic(model, layers):
    adv = ProjectKinds.get_path(model, ("advanced", "topic")) or {}
    d1, d2 = layers
    out = {"name": adv.get("name") or model.get("name")}
    for k in ("partitions", "replication_factor"):
        v = adv.get(k)
        if v is None:
            v = d1.get(k) if d1.get(k) is not None else d2.get(k)
        out[k] = 1 if v is None else v
    config = {}
    for layer in (d2.get("config"), d1.get("config"), adv.get("config")):
        if isinstance(layer, dict):
            config.update(layer)
    out["config"] = config
    return out


def lineage_graph(project):
    """The project's data flow: ``{"nodes": {name: {"type", "materialized"}}, "edges":
    sorted [(from, to)]}`` (``materialized``: what compile builds in the project's
    environment).  Sources and models are fed by source()/ref() in SQL and by
    ``from``; exposures by ``consumes``/``depends_on``; an exposure ``produces`` into a
    source.  Unknown names are left out (validation reports them).  Node keys are
    ``source:x``, ``model:x`` and ``exposure:x`` so that clashing names stay apart."""
    nodes, edges = {}, set()
    for s in project.sources:
        if isinstance(s.get("name"), str):
            nodes["source:" + s["name"]] = {"name": s["name"], "type": "source",
                                            "materialized": None}
    for m in project.models:
        if isinstance(m.get("name"), str):
            try:    # what build deploys in this environment (a stateless model
                # without a Gateway is a Flink job), as every view shows it
                effective = infer_materialization(m, project)[1]
            except Exception:  # lineage never fails on a broken model
                effective = None
            nodes["model:" + m["name"]] = {"name": m["name"], "type": "model",
                                           "materialized": effective}
    for e in project.exposures:
        if isinstance(e.get("name"), str):
            nodes["exposure:" + e["name"]] = {"name": e["name"], "type": "exposure",
                                              "materialized": None}

    def key(kind, name):
        k = ("source:" if kind == "source" else "model:") + str(name)
        return k if k in nodes else None

    for m in project.models:
        me = key("ref", m.get("name"))
        if me is None:
            continue
        refs = []
        try:
            refs = [(k, n) for k, n, _l, _c in template_calls(m.get("sql") or "")
                    if k in ("source", "ref")]
        except SqlError:
            pass
        for ref in m.get("from") if isinstance(m.get("from"), list) else []:
            if isinstance(ref, dict):
                for k in ("source", "ref"):
                    if ref.get(k):
                        refs.append((k, ref[k]))
        for k, n in refs:
            up = key(k, n)
            if up:
                edges.add((up, me))
    for e in project.exposures:
        me = "exposure:%s" % e.get("name")
        if me not in nodes:
            continue
        for field in ("consumes", "depends_on", "produces"):
            for ref in e.get(field) if isinstance(e.get(field), list) else []:
                if not isinstance(ref, dict):
                    continue
                for k in ("source", "ref"):
                    other = key(k, ref.get(k)) if ref.get(k) else None
                    if other:
                        edges.add((me, other) if field == "produces" else (other, me))
    return {"nodes": nodes, "edges": sorted(edges)}


def lineage_reach(start, edges, direction):
    """The nodes reachable from ``start`` along ``edges`` (``(from, to)`` pairs of
    lineage_graph), downstream (``direction`` 0) or upstream (1); ``start`` left out.
    Linear in the edges."""
    following = {}
    for e in edges:
        following.setdefault(e[direction], []).append(e[1 - direction])
    seen, todo = set(), [start]
    while todo:
        for k in following.get(todo.pop(), ()):
            if k not in seen:
                seen.add(k)
                todo.append(k)
    seen.discard(start)
    return seen


class _Vocabulary(object):
    """The words the project format accepts, per key."""

    TOPIC_CHAR_RE = _LazyRegex(r"[a-zA-Z0-9._-]")

    CLASSIFICATIONS = ("public", "internal", "confidential", "sensitive", "highly_sensitive")

    WATERMARKS = ("bounded_out_of_orderness", "monotonously_increasing")

    TEST_TYPES = ("schema", "sample", "continuous")

    EXPOSURE_TYPES = ("application", "dashboard", "ml_training", "ml_inference", "api")

    EXPOSURE_ROLES = ("producer", "consumer", "both")

    ACCESS = ("private", "protected", "public")

    SCHEMA_FORMATS = ("avro", "json", "protobuf")

    ON_UPGRADE = ("savepoint", "stateless", "refuse")

    MASK_METHODS_KNOWN = ("hash", "sha256", "md5", "redact", "partial", "null")

    STARTUP_MODES_KNOWN = ("earliest", "latest", "earliest-offset", "latest-offset", "group-offsets",
                            "group")

    SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


# a whole name of ASCII letters, digits, '.', '_' and '-': legal as a topic name and as
# a name (the quick yes of topic_problem and name_problem)
_LEGAL_NAME_RE = _LazyRegex(r"[a-zA-Z0-9._-]*\Z")


class _Validator(object):
    # A naming_pattern runs on names of at most this many characters (longer ones are
    # already refused as topic names): docs/validation.md.
    PATTERN_MAX_INPUT = 249

    @staticmethod
    def backtracking_risk(pattern):
        """Why the user regex ``pattern`` could backtrack catastrophically, or None.

        Python's engine backtracks: a repeated group that itself holds a repetition or an
        alternation (``(a+)+``, ``(a|a)*``, ``([a-z]+\\.)*``) can take time exponential in
        the name's length.  Such groups are refused (star height 1, no alternation under a
        repetition), as are back-references; docs/validation.md says how to write the
        usual patterns without them."""
        stack = [[False, False]]  # per open group: (holds a repetition, holds a |)
        i, n = 0, len(pattern)
        last_group = None  # the flags of a group that just closed
        while i < n:
            c = pattern[i]
            closed, last_group = last_group, None
            if c == "\\":
                if i + 1 < n and (pattern[i + 1] in "123456789" or pattern[i + 1] == "g"):
                    return "it uses a back-reference"
                i += 2
                continue
            if c == "[":  # a class: up to its closing ] (a ] first is literal)
                j = i + 1
                if j < n and pattern[j] == "^":
                    j += 1
                if j < n and pattern[j] == "]":
                    j += 1
                while j < n and pattern[j] != "]":
                    j += 2 if pattern[j] == "\\" else 1
                i = j + 1
                continue
            if c == "(":
                if pattern.startswith("(?P=", i):
                    return "it uses a back-reference"
                stack.append([False, False])
            elif c == ")" and len(stack) > 1:
                last_group = stack.pop()
                if last_group[0] or last_group[1]:  # (a group inside a group: the same)
                    stack[-1][0] = stack[-1][0] or last_group[0]
                    stack[-1][1] = stack[-1][1] or last_group[1]
            elif c == "|":
                stack[-1][1] = True
            elif c in "*+{":
                repeats = c != "{"
                if c == "{":
                    m = re.match(r"\{(\d*)(,?)(\d*)\}", pattern[i:])
                    if m is None:
                        i += 1
                        continue
                    repeats = bool(m.group(2)) and (not m.group(3) or int(m.group(3)) > 1) or (
                        not m.group(2) and m.group(1) and int(m.group(1)) > 1)
                if repeats:
                    if closed is not None and (closed[0] or closed[1]):
                        return ("a repeated group holds a repetition or an alternation "
                                "(nested quantifiers)")
                    stack[-1][0] = True
            i += 1
        return None

    # the quick paths are shortcuts to the same diagnostics (FastPaths.validate)

    def __init__(self, project):
        self.p = project
        self.diags = []
        rt = project.runtime if isinstance(project.runtime, dict) else {}
        self.rt = rt
        self.flink = rt.get("flink") if isinstance(rt.get("flink"), dict) else None
        self.connect = rt.get("connect") if isinstance(rt.get("connect"), dict) else None
        conduktor = rt.get("conduktor") if isinstance(rt.get("conduktor"), dict) else {}
        self.gateway = bool(conduktor.get("gateway"))
        self.sources = {}
        self.models = {}
        for s in project.sources:
            if isinstance(s.get("name"), str):
                self.sources.setdefault(s["name"], s)
        for m in project.models:
            if isinstance(m.get("name"), str):
                self.models.setdefault(m["name"], m)
        self.calls = {}   # model name -> [(kind, name, line, col)] (readable SQL only)
        self.topics = {}  # output topic -> (model name, its advanced.topic, model)
        self.mat = {}     # model name -> (declared, effective)

    def add(self, level, code, message, loc=None, suggestion=None):
        self.diags.append(Diagnostic(level, code, message, loc, suggestion))

    def err(self, code, message, loc=None, suggestion=None):
        self.add("error", code, message, loc, suggestion)

    def warn(self, code, message, loc=None, suggestion=None):
        self.add("warning", code, message, loc, suggestion)

    def run(self):
        self.check_runtime()
        self.check_names()
        for s in self.p.sources:
            self.check_source(s)
        for m in self.p.models:
            self.check_model(m)
        for t in self.p.tests:
            self.check_test(t)
        for e in self.p.exposures:
            self.check_exposure(e)
        self.check_cycles()
        self.check_defaults()
        self.check_rules()

    # -- runtime ---------------------------------------------------------------
    def runtime_loc(self, node=None, key=None):
        base = Location(self.p.env_file or self.p.project_file)
        node = self.rt if node is None else node
        return Locate.key(node, key, Locate.of(node, base)) if key else Locate.of(node, base)

    def check_runtime(self):
        kafka = self.rt.get("kafka")
        if not isinstance(kafka, dict) or not kafka.get("bootstrap_servers"):
            self.err("MISSING_BOOTSTRAP_SERVERS",
                     "runtime.kafka.bootstrap_servers is required",
                     self.runtime_loc(kafka if isinstance(kafka, dict) else None),
                     "add:\n    kafka:\n      bootstrap_servers: host:9092")
        mech = kafka.get("sasl_mechanism") if isinstance(kafka, dict) else None
        if isinstance(mech, str) and "${" not in mech and mech.upper() not in _Vocabulary.SASL_MECHANISMS:
            self.err("INVALID_SASL_MECHANISM", "runtime.kafka.sasl_mechanism '%s' is not supported"
                     % mech, self.runtime_loc(kafka, "sasl_mechanism"),
                     "use one of: %s" % ", ".join(_Vocabulary.SASL_MECHANISMS))
        sr = self.rt.get("schema_registry")
        if isinstance(sr, dict) and not sr.get("url"):
            self.err("MISSING_RUNTIME_FIELD", "runtime.schema_registry.url is required when "
                     "schema_registry is configured", self.runtime_loc(sr))
        for kind, block in (("flink", self.flink), ("connect", self.connect)):
            if block is None:
                continue
            clusters = block.get("clusters") if isinstance(block.get("clusters"), dict) else {}
            default = block.get("default")
            if default is not None and default not in clusters:
                self.err("UNKNOWN_CLUSTER",
                         "runtime.%s.default is '%s', which is not a cluster of runtime.%s.clusters"
                         % (kind, default, kind), self.runtime_loc(block, "default"),
                         ProjectKinds.suggest(default, clusters) or "clusters: %s" % (", ".join(sorted(clusters)) or "none"))
            for cname in sorted(clusters):
                c = clusters[cname]
                prob = name_problem(cname, "cluster name")
                if prob:
                    self.err("INVALID_NAME", "%s cluster '%s': %s" % (kind, cname, prob),
                             self.runtime_loc(clusters, cname))
                if kind == "connect" and isinstance(c, dict) and not c.get("rest_url"):
                    self.err("MISSING_RUNTIME_FIELD",
                             "connect cluster '%s' needs a rest_url" % cname,
                             self.runtime_loc(clusters, cname))
                if kind == "flink" and isinstance(c, dict) and not (
                        c.get("sql_gateway_url") or c.get("type") == "confluent"):
                    self.warn("MISSING_SQL_GATEWAY",
                              "flink cluster '%s' has no sql_gateway_url: its jobs cannot be "
                              "submitted" % cname, self.runtime_loc(clusters, cname),
                              "add sql_gateway_url: http://host:8083")

    def cluster_names(self, kind):
        block = self.flink if kind == "flink" else self.connect
        if not block or not isinstance(block.get("clusters"), dict):
            return []
        return sorted(block["clusters"])

    def check_cluster_ref(self, kind, value, loc, what):
        if value is None:
            return
        names = self.cluster_names(kind)
        if value not in names:
            self.err("UNKNOWN_CLUSTER",
                     "%s uses %s cluster '%s', which runtime.%s.clusters does not define"
                     % (what, kind, value, kind), loc,
                     ProjectKinds.suggest(value, names) or "defined: %s" % (", ".join(names) or "none"))

    # -- names -----------------------------------------------------------------
    def check_names(self):
        # the project name is in every Flink pipeline name, consumer group and the
        # ownership marker deploy reads back ("[streamt project=NAME fp=...]"): a
        # space, quote or control character there would make our jobs unrecognisable
        if isinstance(self.p.name, str) and self.p.name:
            prob = name_problem(self.p.name, "project name")
            if prob:
                self.err("INVALID_NAME", "project name %r cannot be used: %s" % (self.p.name, prob),
                         getattr(self.p, "name_loc", None) or Location(self.p.project_file),
                         "use letters, digits, '_', '-' and '.', e.g. shop")
        # items are remembered, not their locations: a location is worked out only for
        # a diagnostic (_name_loc is a pure function of the item)
        seen = {}
        for kind in ProjectKinds.KINDS:
            noun = ProjectKinds.KIND_NOUN[kind]
            what = "%s name" % noun
            names = {}
            for i, item in enumerate(getattr(self.p, kind)):
                name = item.get("name")
                if name is None:
                    self.err("MISSING_NAME", "a %s has no name" % noun, Locate.of(item),
                             "add 'name: <%s name>'" % noun)
                    continue
                prob = name_problem(name, what)
                if prob:
                    self.err("INVALID_NAME", "%s name %r cannot be used: %s" % (noun, name, prob),
                             _Where.name_loc(item), "use letters, digits, '_', '-' and '.', e.g. orders_clean")
                if name in names:
                    self.err("DUPLICATE_%s" % noun.upper(),
                             "Duplicate %s name '%s': the %s name '%s' is defined more than once "
                             "(first at %s)" % (noun, name, noun, name, _Where.name_loc(names[name])),
                             _Where.name_loc(item), "rename or remove one of them")
                else:
                    names[name] = item
                if kind in ("sources", "models"):
                    other = seen.get(name)
                    if other and other[0] != kind:
                        self.err("NAME_CLASH",
                                 "'%s' is both a source and a model (the source is at %s): "
                                 "source() and ref() would name the same table"
                                 % (name, _Where.name_loc(other[1])),
                                 _Where.name_loc(item), "rename the model or the source")
                    seen.setdefault(name, (kind, item))

    # -- sources ---------------------------------------------------------------
    def check_source(self, s):
        # locations are worked out only for a diagnostic (the same calls, made late)
        name = s.get("name")
        topic = s.get("topic")
        if not topic:
            self.err("MISSING_TOPIC", "Source '%s' missing required field 'topic'" % name,
                     Locate.key(s, "topic", Locate.of(s)), "add 'topic: <kafka topic name>'")
        else:
            prob = topic_problem(topic)
            if prob:
                self.err("INVALID_TOPIC_NAME", "source '%s': topic %r is not a legal Kafka "
                         "topic name: %s" % (name, topic, prob), Locate.key(s, "topic", Locate.of(s)))
        columns = self.check_columns(s, "source '%s'" % name)
        schema = s.get("schema")
        if isinstance(schema, dict):
            self.check_schema(s, schema)
        et = s.get("event_time")
        if isinstance(et, dict):
            def eloc():
                return Locate.of(et, Locate.key(s, "event_time", Locate.of(s)))
            col = et.get("column")
            if not col:
                self.err("EVENT_TIME_COLUMN_NOT_FOUND",
                         "source '%s': event_time needs a column" % name, eloc())
            elif col not in columns:
                self.err("EVENT_TIME_COLUMN_NOT_FOUND",
                         "source '%s': event_time column '%s' is not a declared column" % (name, col),
                         Locate.key(et, "column", eloc()),
                         ProjectKinds.suggest(col, columns) or "declare it under columns: with a TIMESTAMP type")
            wm = et.get("watermark")
            if isinstance(wm, dict):
                strat = wm.get("strategy")
                if strat is not None and strat not in _Vocabulary.WATERMARKS:
                    self.err("INVALID_WATERMARK_STRATEGY",
                             "source '%s': unknown watermark strategy '%s'" % (name, strat),
                             Locate.key(wm, "strategy", eloc()),
                             ProjectKinds.suggest(strat, _Vocabulary.WATERMARKS) or "use one of: %s" % ", ".join(_Vocabulary.WATERMARKS))
                delay = wm.get("max_out_of_orderness_ms")
                if isinstance(delay, int) and delay < 0:
                    self.err("INVALID_WATERMARK_STRATEGY",
                             "source '%s': max_out_of_orderness_ms must not be negative" % name,
                             Locate.key(wm, "max_out_of_orderness_ms", eloc()))
        if "cluster" in s:
            pass  # metadata (the original never used it either)

    def check_columns(self, item, what):
        names = []
        cols = item.get("columns")
        if not isinstance(cols, list):
            return names
        for i, c in enumerate(cols):
            if not isinstance(c, dict):
                continue
            cname = c.get("name")
            if not cname:
                self.err("MISSING_NAME", "%s: a column has no name" % what,
                         Locate.item(cols, i, Locate.of(item)))
                continue
            names.append(cname)
            text = str(cname)
            # (min() of a text is its smallest character: below " " is below ord 32)
            if (text and min(text) < " ") if FastPaths.validate else any(ord(ch) < 32 for ch in text):
                self.err("INVALID_NAME", "%s: column name %r contains a control character"
                         % (what, cname), Locate.item(cols, i, Locate.of(item)))
            ctype = c.get("type")
            if ctype is not None:
                # the type is written into CREATE TABLE as SQL: refuse here, with file:line,
                # what compile would refuse later without a location
                try:
                    normalize_type(ctype)
                except SqlError as e:
                    self.err("INVALID_TYPE", "%s: column '%s': %s" % (what, cname, e.message),
                             Locate.key(c, "type", Locate.item(cols, i, Locate.of(item))),
                             e.hint or "write a Flink SQL type "
                             "such as STRING, BIGINT, DECIMAL(10, 2) or TIMESTAMP(3)")
            cl = c.get("classification")
            if cl is not None and cl not in _Vocabulary.CLASSIFICATIONS:
                self.err("INVALID_CLASSIFICATION",
                         "%s: column '%s' has unknown classification '%s'" % (what, cname, cl),
                         Locate.key(c, "classification", Locate.item(cols, i, Locate.of(item))),
                         ProjectKinds.suggest(cl, _Vocabulary.CLASSIFICATIONS) or "use one of: %s" % ", ".join(_Vocabulary.CLASSIFICATIONS))
        return names

    def check_schema(self, s, schema):
        name = s.get("name")
        sloc = Locate.of(schema, Locate.key(s, "schema", Locate.of(s)))
        fmt = schema.get("format") or "avro"
        if str(fmt).lower() not in _Vocabulary.SCHEMA_FORMATS:
            self.err("INVALID_SCHEMA_FORMAT", "source '%s': unknown schema format '%s'" % (name, fmt),
                     Locate.key(schema, "format", sloc), "use one of: avro, json, protobuf")
            return
        fmt = str(fmt).lower()
        subject = schema.get("subject")
        if subject is not None:
            prob = name_problem(subject, "subject")
            if prob:
                self.err("INVALID_NAME", "source '%s': subject %r cannot be used: %s"
                         % (name, subject, prob), Locate.key(schema, "subject", sloc))
        definition = schema.get("definition")
        if not definition:
            return
        dloc = Locate.key(schema, "definition", sloc)
        if fmt == "protobuf" and not isinstance(definition, str):
            self.err("INVALID_SCHEMA", "source '%s': a protobuf definition is text" % name, dloc,
                     "write it under 'definition: |'")
            return
        if fmt in ("avro", "json"):
            try:
                # a definition written as YAML (not JSON text) is taken as it is
                doc = definition if not isinstance(definition, str) else json.loads(definition)
            except ValueError as e:
                self.err("INVALID_SCHEMA", "source '%s': the %s schema definition is not valid "
                         "JSON: %s" % (name, fmt, e), dloc,
                         "write the schema as JSON text under 'definition: |'")
                return
            if fmt == "avro" and not isinstance(doc, (dict, list, str)):
                self.err("INVALID_SCHEMA", "source '%s': an Avro schema is a JSON object, "
                         "array or type name" % name, dloc)
            elif fmt == "avro" and isinstance(doc, dict) and "type" not in doc:
                self.err("INVALID_SCHEMA", "source '%s': the Avro schema has no 'type'" % name, dloc)
            elif fmt == "json" and not isinstance(doc, (dict, bool)):
                self.err("INVALID_SCHEMA", "source '%s': a JSON Schema is an object" % name, dloc)
        else:
            prob = Schema.protobuf_problem(definition)
            if prob:
                self.err("INVALID_SCHEMA", "source '%s': the protobuf definition does not "
                         "parse: %s" % (name, prob), dloc)
                return
        # compile's own reading of the definition (the Schemas section): validation
        # reports what compile refuses, e.g. an Avro record without fields
        if not any(d.code == "INVALID_SCHEMA" and d.location == dloc for d in self.diags):
            try:
                parse_schema_definition(fmt, definition)
            except ProjectError as e:
                self.err("INVALID_SCHEMA", "source '%s': %s" % (name, e.message), dloc, e.hint)

    # -- models ----------------------------------------------------------------
    def check_model(self, m):
        name = m.get("name")
        # the model's locations are worked out only for a diagnostic (_loc and _key_loc
        # are pure: the same Location, later), never for every model of a project
        what = "model '%s'" % name
        self.check_columns(m, what)
        explicit = m.get("materialized")
        if explicit is not None and explicit not in MATERIALIZATIONS:
            self.err("INVALID_MATERIALIZATION", "Model '%s': unknown materialization '%s'"
                     % (name, explicit), Locate.key(m, "materialized", Locate.of(m)),
                     ProjectKinds.suggest(explicit, MATERIALIZATIONS) or "use one of: %s" % ", ".join(MATERIALIZATIONS))
            return
        access = m.get("access")
        if access is not None and access not in _Vocabulary.ACCESS:
            self.err("INVALID_ACCESS", "Model '%s': unknown access '%s'" % (name, access),
                     Locate.key(m, "access", Locate.of(m)), "use one of: private, protected, public")
        declared, effective = infer_materialization(m, self.p)
        self.mat[name] = (declared, effective)
        self.check_from(m)
        sql = m.get("sql")
        if sql:
            self.check_sql(m, sql)
        # materialization-dependent checks (codes 4-8 of the original)
        quick = FastPaths.validate
        gw_vt = ProjectKinds.get_path(m, ("gateway", "virtual_topic")) if (
            declared == "virtual_topic" or not quick) else None  # (only read for one)
        if declared == "virtual_topic" and not self.gateway and gw_vt:
            self.err("GATEWAY_REQUIRED", "Gateway configuration required for '%s'" % name,
                     Locate.key(m, "gateway", Locate.of(m)),
                     "add runtime.conduktor.gateway (admin_url, proxy_bootstrap), or remove "
                     "gateway.virtual_topic to run the model on Flink")
        elif explicit == "virtual_topic" and not self.gateway:
            # (the original compiled an interceptor with nowhere to go, silently)
            self.err("GATEWAY_REQUIRED", "Gateway configuration required for '%s': it is "
                     "'materialized: virtual_topic' but the environment has no Gateway" % name,
                     Locate.key(m, "materialized", Locate.of(m)),
                     "add runtime.conduktor.gateway (admin_url, proxy_bootstrap), or use "
                     "'materialized: flink' to run the model on Flink")
        elif declared == "virtual_topic" and not self.gateway and not explicit:
            if self.flink:
                self.warn("AMBIGUOUS_MATERIALIZATION",
                          "Model '%s' has stateless SQL that could use either Gateway or Flink. "
                          "No Gateway is configured, so Flink will be used." % name,
                          Locate.key(m, "sql", Locate.of(m)),
                          "say so explicitly: 'materialized: flink' (a Flink job), or "
                          "'materialized: virtual_topic' with a Conduktor Gateway")
            else:
                self.err("NO_PROCESSING_RUNTIME",
                         "Model '%s' has SQL transformations but no processing runtime is "
                         "configured" % name, Locate.key(m, "sql", Locate.of(m)),
                         "add runtime.flink (clusters and default) or runtime.conduktor.gateway")
        if effective == "virtual_topic" and sql and SqlShape.shape(sql) == "stateful":
            # a Gateway virtual SQL topic filters and projects one topic: a join, a
            # sub-query, a set operation or an aggregation would be sent to it as is
            self.err("VIRTUAL_TOPIC_NEEDS_FLINK",
                     "Model '%s' is a virtual topic, but its SQL needs Flink: it keeps state or "
                     "reads more than one relation (a join, a comma join, a sub-query, a set "
                     "operation, an aggregation), which a Gateway virtual topic cannot run" % name,
                     Locate.key(m, "sql", Locate.of(m)),
                     "use 'materialized: flink' (and remove gateway.virtual_topic), or split the "
                     "model: a Flink model, then a virtual topic over its topic")
        if declared == "sink":
            sink = m.get("sink")
            if not isinstance(sink, dict) or not sink.get("connector"):
                self.err("MISSING_SINK_CONFIG", "Sink configuration required for '%s'" % name,
                         Locate.key(m, "sink", Locate.of(m)),
                         "add:\n    sink:\n      connector: <connector class>\n      config: {...}")
            if not m.get("from"):
                self.err("MISSING_SINK_INPUT", "Sink '%s' has no 'from' input" % name, Locate.of(m),
                         "add:\n    from:\n      - ref: <model>")
            if not self.connect:
                self.err("CONNECT_REQUIRED", "Kafka Connect configuration required for sink '%s'"
                         % name, Locate.key(m, "sink", Locate.of(m)),
                         "add runtime.connect (clusters and default)")
        if effective == "flink" and not self.flink and (declared == "flink"):
            self.err("FLINK_REQUIRED", "Flink configuration required for '%s'" % name,
                     Locate.key(m, "sql", Locate.of(m)) if sql else Locate.of(m),
                     "add runtime.flink with a cluster and 'default'")
        adv = m.get("advanced") if isinstance(m.get("advanced"), dict) else {}
        fl = adv.get("flink") if isinstance(adv.get("flink"), dict) else {}
        # (the checks of advanced.flink, security and advanced.* below read keys a model
        # without those mappings does not have: skipped as a whole, the same diagnostics)
        if fl or not quick:
            self.check_flink_options(m, name, fl)
        if "security" in m or not quick:
            self.check_masks(m, name)
        ou = fl.get("on_upgrade")
        if ou is not None and ou not in _Vocabulary.ON_UPGRADE:
            self.err("INVALID_ON_UPGRADE", "model '%s': unknown on_upgrade '%s'" % (name, ou),
                     Locate.key(fl, "on_upgrade", Locate.of(m)), "use one of: %s" % ", ".join(_Vocabulary.ON_UPGRADE))
        for kind in ("flink", "connect") if adv or not quick else ():
            if adv.get(kind + "_cluster") is not None:  # check_cluster_ref ignores None
                self.check_cluster_ref(kind, adv.get(kind + "_cluster"),
                                       Locate.key(adv, kind + "_cluster", Locate.of(m)), what)
        self.check_output_topic(m, name, adv, effective)
        if "security" in m or not quick:
            self.check_security(m, name, effective)

    def check_flink_options(self, m, name, fl):
        ttl = fl.get("state_ttl_ms")
        if isinstance(ttl, int) and not isinstance(ttl, bool):
            if ttl <= 0:
                self.err("INVALID_STATE_TTL", "Invalid state TTL for model '%s': %d is invalid: "
                         "must be a positive number" % (name, ttl),
                         Locate.key(fl, "state_ttl_ms", Locate.of(m)),
                         "remove state_ttl_ms to keep state forever, or give milliseconds > 0")
            elif ttl < 1000:
                self.warn("STATE_TTL_TOO_SHORT", "State TTL of %dms for model '%s' is very short"
                          % (ttl, name), Locate.key(fl, "state_ttl_ms", Locate.of(m)), "state_ttl_ms is in milliseconds: 3600000 is an hour")
        par = fl.get("parallelism")
        if isinstance(par, int) and par < 1:
            self.err("INVALID_PARALLELISM", "model '%s': parallelism must be at least 1" % name,
                     Locate.key(fl, "parallelism", Locate.of(m)))
        for k in ("startup_mode", "scan_startup_mode"):
            sm = fl.get(k)
            if sm is not None and str(sm).lower() not in _Vocabulary.STARTUP_MODES_KNOWN:
                self.err("INVALID_STARTUP_MODE", "model '%s': unknown advanced.flink.%s '%s'"
                         % (name, k, sm), Locate.key(fl, k, Locate.of(m)),
                         "use earliest, latest or group-offsets")

    def check_masks(self, m, name):
        for pol in _Where.policies(m):
            mask = pol.get("mask")
            col = mask.get("column") if isinstance(mask, dict) else None
            if col is not None and not isinstance(col, str):
                self.err("INVALID_TYPE", "model '%s': mask column must be a column name, got %s"
                         % (name, "a mapping" if isinstance(col, dict) else
                            "a list" if isinstance(col, list) else repr(col)),
                         Locate.key(mask, "column", Locate.of(mask, Locate.of(m))),
                         "write `mask: {column: <name>, method: ...}`")
            if (isinstance(mask, dict) and mask.get("method") is not None and
                    str(mask["method"]).lower() not in _Vocabulary.MASK_METHODS_KNOWN):
                self.err("INVALID_MASK_METHOD", "model '%s': unknown mask method '%s'"
                         % (name, mask["method"]), Locate.key(mask, "method", Locate.of(mask, Locate.of(m))),
                         ProjectKinds.suggest(mask["method"], _Vocabulary.MASK_METHODS_KNOWN) or
                         "use one of: %s" % ", ".join(_Vocabulary.MASK_METHODS_KNOWN))

    def check_output_topic(self, m, name, adv, effective):
        topic = adv.get("topic") if isinstance(adv.get("topic"), dict) else {}
        for k, code in (("partitions", "INVALID_PARTITIONS"),
                        ("replication_factor", "INVALID_REPLICATION_FACTOR")):
            v = topic.get(k)
            if isinstance(v, int) and v < 1:
                self.err(code, "model '%s': %s must be a positive integer, got %d" % (name, k, v),
                         Locate.key(topic, k, Locate.of(topic, Locate.key(adv, "topic", Locate.of(m)))), "give a number of at least 1, or leave it "
                         "out to use defaults.topic")
        if effective in ("topic", "flink"):
            tname = topic.get("name") or name
            other = self.topics.get(tname)
            if other is not None and other[0] != name:
                self.err("DUPLICATE_TOPIC", "models '%s' and '%s' both write topic '%s' (the "
                         "first at %s)" % (other[0], name, tname, _Where.out_topic_loc(*other[1:])),
                         _Where.out_topic_loc(topic, m),
                         "give each model its own advanced.topic.name")
            self.topics.setdefault(tname, (name, topic, m))
            prob = topic_problem(tname)
            if prob:
                self.err("INVALID_TOPIC_NAME", "model '%s': output topic %r is not a legal Kafka "
                         "topic name: %s" % (name, tname, prob),
                         Locate.key(topic, "name", Locate.of(m)) if topic.get("name") else
                         Locate.key(m, "name", Locate.of(m)), "set advanced.topic.name to a legal name")

    def check_security(self, m, name, effective):
        policies = ProjectKinds.get_path(m, ("security", "policies"))
        # masks are compiled into Flink SQL and Connect transforms; RBAC (allow/deny)
        # and masks of virtual topics need the Gateway
        kinds = set()
        for pol in policies or []:
            if isinstance(pol, dict):
                kinds.update(set(pol) & set(["mask", "allow", "deny"]))
        if effective in ("flink", "sink"):
            kinds.discard("mask")
        if kinds and not self.gateway:
            self.warn("SECURITY_POLICIES_NOT_ENFORCED",
                      "Model '%s' has security policies (masking/RBAC) that require Conduktor "
                      "Gateway to enforce" % name, Locate.key(m, "security", Locate.of(m)),
                      "add runtime.conduktor.gateway, or mask in the SQL")
        cls = ProjectKinds.get_path(m, ("security", "classification"))
        if isinstance(cls, dict):
            for col, c in sorted(cls.items()):
                if c not in _Vocabulary.CLASSIFICATIONS:
                    self.err("INVALID_CLASSIFICATION",
                             "model '%s': column '%s' has unknown classification '%s'" % (name, col, c),
                             Locate.key(cls, col, Locate.of(m)),
                             ProjectKinds.suggest(c, _Vocabulary.CLASSIFICATIONS) or "use one of: %s" % ", ".join(_Vocabulary.CLASSIFICATIONS))

    def check_from(self, m):
        name = m.get("name")
        frm = m.get("from")
        if not isinstance(frm, list):
            return
        for i, ref in enumerate(frm):
            if not isinstance(ref, dict) or len([k for k in ("source", "ref") if ref.get(k)]) != 1:
                self.err("INVALID_FROM", "model '%s': each 'from' entry is either '- source: <name>' "
                         "or '- ref: <model>'" % name, Locate.item(frm, i, Locate.of(m)))
                continue
            # (the entry's location only when ref_exists reports it)
            if ref.get("source"):
                if ref["source"] not in self.sources:
                    self.ref_exists("source", ref["source"], Locate.item(frm, i, Locate.of(m)),
                                    "Model '%s' declares source '%s' in 'from'"
                                    % (name, ref["source"]))
            elif ref["ref"] not in self.models:
                self.ref_exists("ref", ref["ref"], Locate.item(frm, i, Locate.of(m)),
                                "Model '%s' declares model '%s' in 'from'" % (name, ref["ref"]))

    def ref_exists(self, kind, target, loc, context, code=None):
        pool = self.sources if kind == "source" else self.models
        if target in pool:
            return True
        noun = "Source" if kind == "source" else "Model"
        code = code or ("SOURCE_NOT_FOUND" if kind == "source" else "MODEL_NOT_FOUND")
        other = self.models if kind == "source" else self.sources
        hint = ProjectKinds.suggest(target, pool)
        if not hint and target in other:
            hint = "'%s' is a %s: use %s(\"%s\")" % (
                target, "model" if kind == "source" else "source",
                "ref" if kind == "source" else "source", target)
        if not hint:
            hint = "defined %ss: %s" % (noun.lower(), ", ".join(sorted(pool)[:5]) or "none")
        self.err(code, "%s '%s' not found: %s, which is not defined" % (noun, target, context),
                 loc, hint)
        return False

    def check_sql(self, m, sql):
        name = m.get("name")
        try:
            calls = template_calls(sql)
            # the tokens template_calls (and infer_materialization) just read, without
            # comments (sql_tokens keeps both lists of a text: comments=False is the
            # same tokens, left out of the list once instead of on every call)
            toks = sql_tokens(sql, comments=False) if FastPaths.validate else significant_tokens(
                sql_tokens(sql))
        except SqlError as e:
            el = e.location or Location()
            self.err("JINJA_SYNTAX_ERROR" if "template" in e.message else "SQL_SYNTAX_ERROR",
                     "model '%s': %s" % (name, e.message), _Where.sql_line_loc(self.p, m, el.line or 1, el.col),
                     e.hint)
            return
        bad = False
        for kind, target, line, col in calls:
            if kind == "unsupported":
                bad = True
                self.err("UNSUPPORTED_TEMPLATE",
                         "model '%s': unsupported template %s" % (name, target[:60]),
                         _Where.sql_line_loc(self.p, m, line, col),
                         'streamt templates are only {{ source("name") }} and {{ ref("name") }} '
                         "(no Jinja: no {% if %}, var(), env() or config()); use environments "
                         "and ${VAR} in configuration for what differs between them")
        if bad:
            return
        self.calls[name] = calls
        semi = None
        if ";" in sql:  # (no ';' character, no ';' token)
            body = list(toks)
            while body and body[-1].kind == "op" and body[-1].text == ";":
                body.pop()
            semi = [t for t in body if t.kind == "op" and t.text == ";"]
        if semi:
            self.err("SQL_MULTIPLE_STATEMENTS", "model '%s': the SQL holds more than one "
                     "statement" % name, _Where.sql_line_loc(self.p, m, semi[0].line, semi[0].col),
                     "a model is one SELECT; split the others into models of their own")
        if FastPaths.validate:
            # the test below as a plain loop (a generator resumed for every token before
            # the FROM cost three times as much)
            for t in toks:
                if t.kind == "ident" and t.text.upper() == "FROM":
                    has_from = True
                    break
            else:
                has_from = False
        else:
            has_from = any(t.kind == "ident" and t.text.upper() == "FROM" for t in toks)
        if not has_from:  # is_keyword(t, "FROM")
            self.err("SQL_NO_FROM", "Model '%s' SQL has no FROM clause. Streaming models must "
                     "read from at least one table or source." % name, Locate.key(m, "sql", Locate.of(m)),
                     'read from a source or a model: FROM {{ source("orders") }}')
        used = set()
        for kind, target, line, col in calls:
            used.add((kind, target))
            # (the call's file location only when ref_exists reports it)
            if target not in (self.sources if kind == "source" else self.models):
                self.ref_exists(kind, target, _Where.sql_line_loc(self.p, m, line, col),
                                "model '%s' uses %s(\"%s\") in its SQL" % (name, kind, target))
        frm = m.get("from") if isinstance(m.get("from"), list) else []
        for i, ref in enumerate(frm):
            if not isinstance(ref, dict):
                continue
            for kind, code in (("source", "UNUSED_FROM_SOURCE"), ("ref", "UNUSED_FROM_REF")):
                t = ref.get(kind)
                if t and (kind, t) not in used:
                    self.warn(code, "%s '%s' declared in 'from' but not used in the SQL of '%s'"
                              % ("Source" if kind == "source" else "Model", t, name),
                              Locate.item(frm, i, Locate.of(m)),
                              "remove it from 'from', or use {{ %s(\"%s\") }} in the SQL" % (kind, t))
        # ML_PREDICT / ML_EVALUATE (a token of the text can only be one of them if the
        # text, upper-cased as a whole, holds "ML_")
        for i, t in enumerate(toks if "ML_" in sql.upper() else ()):
            if (t.kind == "ident" and t.text.upper() in ("ML_PREDICT", "ML_EVALUATE") and
                    i + 1 < len(toks) and toks[i + 1].text == "("):
                fn = t.text.upper()
                confluent = any(isinstance(c, dict) and c.get("type") == "confluent"
                                for c in ((self.flink or {}).get("clusters") or {}).values())
                if not confluent:
                    self.err("CONFLUENT_FLINK_REQUIRED", "Confluent Flink required for '%s' in '%s'"
                             % (fn, name), _Where.sql_line_loc(self.p, m, t.line, t.col),
                             "add a flink cluster with 'type: confluent'")
                else:
                    arg = _Where.ml_model_arg(toks[i + 2:])
                    outs = m.get("ml_outputs") if isinstance(m.get("ml_outputs"), dict) else {}
                    if arg and arg not in outs:
                        self.warn("ML_PREDICT_OPAQUE_OUTPUT",
                                  "Model '%s' uses %s with '%s' but no ml_outputs declaration found"
                                  % (name, fn, arg), _Where.sql_line_loc(self.p, m, t.line, t.col),
                                  "declare ml_outputs.%s.columns so that the output is typed" % arg)
        # access
        group = m.get("group")
        for kind, target, line, col in calls:
            if kind != "ref" or target not in self.models:
                continue
            tm = self.models[target]
            if ((tm.get("access") or "private") == "private" and tm.get("group") and
                    tm.get("group") != group):
                self.err("ACCESS_DENIED", "Access denied: '%s' cannot reference '%s' (private to "
                         "group '%s')" % (name, target, tm.get("group")), _Where.sql_line_loc(self.p, m, line, col),
                         "set 'access: protected' or 'public' on '%s', or put both in one group"
                         % target)

    # -- tests and exposures ---------------------------------------------------
    def check_test(self, t):
        name = t.get("name")
        loc = Locate.of(t)
        target = t.get("model")
        if not target:
            self.err("MISSING_FIELD", "test '%s' needs 'model: <model or source>'" % name, loc)
        elif target not in self.models and target not in self.sources:
            self.err("TEST_MODEL_NOT_FOUND", "Model '%s' not found for test '%s'" % (target, name),
                     Locate.key(t, "model", loc),
                     ProjectKinds.suggest(target, list(self.models) + list(self.sources)) or
                     "a test names a model or a source")
        ttype = t.get("type")
        if ttype not in _Vocabulary.TEST_TYPES:
            self.err("INVALID_TEST_TYPE", "test '%s': type must be one of %s, got %r"
                     % (name, ", ".join(_Vocabulary.TEST_TYPES), ttype), Locate.key(t, "type", loc),
                     ProjectKinds.suggest(ttype, _Vocabulary.TEST_TYPES) if isinstance(ttype, str) else None)
        if ttype == "continuous" and not self.flink:
            self.err("CONTINUOUS_TEST_REQUIRES_FLINK", "Flink required for continuous test '%s'"
                     % name, Locate.key(t, "type", loc), "add runtime.flink")
        if t.get("sample_size") is not None and ttype != "sample":
            self.warn("SAMPLE_SIZE_IGNORED", "sample_size of test '%s' is ignored: it is not a "
                      "sample test" % name, Locate.key(t, "sample_size", loc), "remove sample_size")
        self.check_cluster_ref("flink", t.get("flink_cluster"), Locate.key(t, "flink_cluster", loc),
                               "test '%s'" % name)
        of = t.get("on_failure") if isinstance(t.get("on_failure"), dict) else {}
        sev = of.get("severity")
        if sev is not None and sev not in ("error", "warning"):
            self.err("INVALID_SEVERITY", "test '%s': on_failure.severity is error or warning" % name,
                     Locate.key(of, "severity", loc))
        actions = of.get("actions") if isinstance(of.get("actions"), list) else []
        for i, a in enumerate(actions):
            dlq = a.get("dlq") if isinstance(a, dict) else None
            if isinstance(dlq, dict) and dlq.get("model") and dlq["model"] not in self.models:
                self.err("DLQ_MODEL_NOT_FOUND", "DLQ model '%s' not found in test '%s'"
                         % (dlq["model"], name), Locate.item(actions, i, loc),
                         ProjectKinds.suggest(dlq["model"], self.models))

    def check_exposure(self, e):
        name = e.get("name")
        loc = Locate.of(e)
        et = e.get("type")
        if et not in _Vocabulary.EXPOSURE_TYPES:
            self.err("INVALID_EXPOSURE_TYPE", "exposure '%s': type must be one of %s, got %r"
                     % (name, ", ".join(_Vocabulary.EXPOSURE_TYPES), et), Locate.key(e, "type", loc))
        role = e.get("role")
        if role is not None and role not in _Vocabulary.EXPOSURE_ROLES:
            self.err("INVALID_EXPOSURE_TYPE", "exposure '%s': role must be one of %s, got %r"
                     % (name, ", ".join(_Vocabulary.EXPOSURE_ROLES), role), Locate.key(e, "role", loc))
        if e.get("sla"):
            self.warn("SLA_NOT_ENFORCED", "Exposure '%s' has SLA configuration. SLAs are "
                      "metadata-only: streamt does not monitor them" % name,
                      Locate.key(e, "sla", loc), "monitor them with your alerting")
        for field in ("produces", "consumes", "depends_on"):
            refs = e.get(field) if isinstance(e.get(field), list) else []
            for i, ref in enumerate(refs):
                rloc = Locate.item(refs, i, loc)
                if not isinstance(ref, dict):
                    continue
                for kind in ("source", "ref"):
                    target = ref.get(kind)
                    if not target:
                        continue
                    if field == "depends_on":
                        code = "EXPOSURE_DEPENDENCY_NOT_FOUND"
                    else:
                        code = "EXPOSURE_SOURCE_NOT_FOUND" if kind == "source" else "EXPOSURE_MODEL_NOT_FOUND"
                    self.ref_exists(kind, target, rloc, "exposure '%s' lists it in '%s'"
                                    % (name, field), code)

    # -- cycles ----------------------------------------------------------------
    def check_cycles(self):
        graph = {}
        for name, m in self.models.items():
            deps = set()
            for kind, target, _l, _c in self.calls.get(name, []):
                if kind == "ref" and target in self.models:
                    deps.add(target)
            frm = m.get("from") if isinstance(m.get("from"), list) else []
            for ref in frm:
                if isinstance(ref, dict) and ref.get("ref") in self.models:
                    deps.add(ref["ref"])
            graph[name] = sorted(deps)
        for cycle in _Graph.cycles(graph):
            first = self.models[cycle[0]]
            self.err("CYCLE_DETECTED", "Circular dependency detected: %s"
                     % " -> ".join(cycle + [cycle[0]]), Locate.key(first, "name", Locate.of(first)),
                     "a model cannot depend on itself, directly or through other models: "
                     "remove one of these references")

    # -- governance rules ------------------------------------------------------
    def check_defaults(self):
        for path in (("topic",), ("models", "topic")):
            d = ProjectKinds.get_path(self.p.defaults, path)
            if not isinstance(d, dict):
                continue
            for k, code in (("partitions", "INVALID_PARTITIONS"),
                            ("replication_factor", "INVALID_REPLICATION_FACTOR")):
                v = d.get(k)
                if isinstance(v, int) and v < 1:
                    self.err(code, "defaults.%s.%s must be a positive integer, got %d"
                             % (".".join(path), k, v),
                             Locate.key(d, k, Locate.of(d, Location(self.p.project_file))),
                             "give a number of at least 1")
        self.check_cluster_ref("flink", ProjectKinds.get_path(self.p.defaults, ("tests", "flink_cluster")),
                               Locate.key(ProjectKinds.get_path(self.p.defaults, ("tests",)) or {},
                                        "flink_cluster", Location(self.p.project_file)),
                               "defaults.tests")

    def check_rules(self):
        rules = self.p.rules or {}
        pf = Location(self.p.project_file)

        def rule_loc(section, key):
            sec = rules.get(section) if isinstance(rules.get(section), dict) else {}
            return Locate.key(sec, key, Locate.of(sec, pf))

        topics = rules.get("topics") if isinstance(rules.get("topics"), dict) else {}
        models_r = rules.get("models") if isinstance(rules.get("models"), dict) else {}
        sources_r = rules.get("sources") if isinstance(rules.get("sources"), dict) else {}
        security = rules.get("security") if isinstance(rules.get("security"), dict) else {}
        tests_per_model = collections.Counter(t.get("model") for t in self.p.tests)
        pattern = None
        if topics.get("naming_pattern"):
            try:
                pattern = re.compile(topics["naming_pattern"])
            except re.error as e:
                self.err("INVALID_RULE", "rules.topics.naming_pattern is not a valid regular "
                         "expression: %s" % e, rule_loc("topics", "naming_pattern"))
            risk = _Validator.backtracking_risk(topics["naming_pattern"]) if pattern else None
            if risk:
                pattern = None
                self.err("INVALID_RULE", "rules.topics.naming_pattern could take exponential "
                         "time to match: %s" % risk, rule_loc("topics", "naming_pattern"),
                         "write it without a repeated group that repeats inside (e.g. "
                         "[a-z][a-z0-9_.]* for ([a-z0-9_]+\\.)*); docs/validation.md")
        layers = _Where.topic_default_layers(self.p.defaults)
        quick = FastPaths.validate
        # (no topic rule and no model rule: nothing in this loop can fire; and the
        # effective topic is read by the topic rules only -- a value of the wrong type
        # that would make it fail is never in a loaded project: load drops it, with an
        # INVALID_TYPE error)
        for m in self.p.models if topics or models_r or not quick else ():
            name = m.get("name")
            if name not in self.mat:
                continue
            # (locations are worked out only for a diagnostic: the same calls, made late)
            declared, effective = self.mat[name]
            if effective in ("topic", "flink") and (topics or not quick):
                t = _effective_topic(m, layers)
                if topics:  # (no topic rule: nothing below can fire)
                    def tloc():
                        return (Locate.key(ProjectKinds.get_path(m, ("advanced", "topic")) or {}, "name", None) or
                            Locate.key(m, "name", Locate.of(m)))
                    for key, op, code, label in (
                            ("min_partitions", "ge", "RULE_MIN_PARTITIONS", "partitions"),
                            ("max_partitions", "le", "RULE_MAX_PARTITIONS", "partitions"),
                            ("min_replication_factor", "ge", "RULE_MIN_REPLICATION", "replication_factor"),
                            ("max_replication_factor", "le", "RULE_MAX_REPLICATION", "replication_factor")):
                        limit = topics.get(key)
                        val = t[label]
                        if not isinstance(limit, int) or not isinstance(val, int):
                            continue
                        if (op == "ge" and val < limit) or (op == "le" and val > limit):
                            self.err(code, "Model '%s' violates rule 'topics.%s': expected %s %d, got %d"
                                     % (name, key, ">=" if op == "ge" else "<=", limit, val), tloc(),
                                     "set advanced.topic.%s (or defaults.topic.%s)" % (label, label))
                    if (pattern is not None and isinstance(t["name"], str) and
                            len(t["name"]) <= _Validator.PATTERN_MAX_INPUT and
                            not pattern.fullmatch(t["name"])):
                        self.err("RULE_NAMING_PATTERN", "Topic name '%s' does not match pattern '%s'"
                                 % (t["name"], topics["naming_pattern"]), tloc(),
                                 "the whole name must match (the original only anchored the start)")
                    for pre in topics.get("forbidden_prefixes") or []:
                        if isinstance(t["name"], str) and t["name"].startswith(pre):
                            self.err("RULE_FORBIDDEN_PREFIX", "Topic name '%s' has forbidden prefix '%s'"
                                     % (t["name"], pre), tloc())
                    req = topics.get("required_config")
                    if isinstance(req, dict):
                        for k in sorted(req):
                            want = req[k]
                            have = t["config"].get(k)
                            if have is None:
                                self.err("RULE_REQUIRED_CONFIG", "Topic '%s' of model '%s' lacks config "
                                         "'%s' required by rules.topics.required_config" % (t["name"], name, k),
                                         tloc(), "set advanced.topic.config.%s (or defaults.topic.config)" % k)
                            elif want is not None and str(want).lower() != str(have).lower():
                                self.err("RULE_REQUIRED_CONFIG", "Topic '%s' of model '%s' has %s=%s, "
                                         "rules.topics.required_config wants %s" % (t["name"], name, k, have, want),
                                         tloc())
                    elif isinstance(req, list):
                        for k in req:
                            if t["config"].get(k) is None:
                                self.err("RULE_REQUIRED_CONFIG", "Topic '%s' of model '%s' lacks config "
                                         "'%s' required by rules.topics.required_config" % (t["name"], name, k),
                                         tloc(), "set advanced.topic.config.%s" % k)
            if not models_r:
                continue  # (no model rule: nothing below can fire)
            for key, code, field in (("require_description", "RULE_REQUIRE_DESCRIPTION", "description"),
                                     ("require_owner", "RULE_REQUIRE_OWNER", "owner")):
                if models_r.get(key) and not m.get(field):
                    self.err(code, "Model '%s' missing required field '%s'" % (name, field), Locate.of(m),
                             "add '%s: ...' (rules.models.%s)" % (field, key))
            ntests = tests_per_model.get(name, 0)
            if models_r.get("require_tests") and ntests == 0:
                self.err("RULE_REQUIRE_TESTS", "Model '%s' has no tests defined" % name, Locate.of(m),
                         "add a test with 'model: %s' (rules.models.require_tests)" % name)
            mt = models_r.get("min_tests")
            if isinstance(mt, int) and ntests < mt:
                self.err("RULE_MIN_TESTS", "Model '%s' has %d tests, rules.models.min_tests is %d"
                         % (name, ntests, mt), Locate.of(m))
            md = models_r.get("max_dependencies")
            if isinstance(md, int) and name in self.calls:
                n = len(self.calls[name])
                if n > md:
                    self.err("RULE_MAX_DEPENDENCIES", "Model '%s' has %d dependencies, max allowed "
                             "is %d" % (name, n, md), Locate.key(m, "sql", Locate.of(m)))
            allowed = models_r.get("allowed_materializations")
            if isinstance(allowed, list) and declared not in allowed:
                self.err("RULE_ALLOWED_MATERIALIZATION", "Model '%s' is materialized as %s, "
                         "rules.models.allowed_materializations allows %s"
                         % (name, declared, ", ".join(allowed)), Locate.of(m))
        masked = set()  # (read only for sensitive_columns_require_masking; policies of
        # the wrong type, which would fail here, are never in a loaded project)
        for m in (self.p.models if security.get("sensitive_columns_require_masking") or
                  not quick else ()):
            for pol in ProjectKinds.get_path(m, ("security", "policies")) or []:
                mask = pol.get("mask") if isinstance(pol, dict) else None
                if isinstance(mask, dict) and isinstance(mask.get("column"), str):
                    masked.add(mask["column"])
        allowed_cls = security.get("allowed_classifications")
        # (no source or security rule: nothing in this loop can fire)
        for s in self.p.sources if sources_r or security or not quick else ():
            name = s.get("name")
            for key, code, field in (("require_schema", "RULE_REQUIRE_SCHEMA", "schema"),
                                     ("require_freshness", "RULE_REQUIRE_FRESHNESS", "freshness"),
                                     ("require_columns", "RULE_REQUIRE_COLUMNS", "columns"),
                                     ("require_owner", "RULE_REQUIRE_OWNER", "owner")):
                if sources_r.get(key) and not s.get(field):
                    self.err(code, "Source '%s' missing required field '%s'" % (name, field), Locate.of(s),
                             "add '%s:' (rules.sources.%s)" % (field, key))
            cols = s.get("columns") if isinstance(s.get("columns"), list) else []
            for i, c in enumerate(cols):
                if not isinstance(c, dict):
                    continue
                def cloc():
                    return Locate.item(cols, i, Locate.of(s))
                cl = c.get("classification")
                if security.get("require_classification") and not cl:
                    self.err("RULE_REQUIRE_CLASSIFICATION", "Column '%s' in source '%s' missing "
                             "required classification" % (c.get("name"), name), cloc(),
                             "add 'classification: public|internal|confidential|sensitive|highly_sensitive'")
                if isinstance(allowed_cls, list) and cl and cl not in allowed_cls:
                    self.err("RULE_ALLOWED_CLASSIFICATION", "Column '%s' in source '%s' is classified "
                             "%s, not one of %s" % (c.get("name"), name, cl, ", ".join(allowed_cls)), cloc())
                if (security.get("sensitive_columns_require_masking") and
                        cl in ("sensitive", "highly_sensitive") and c.get("name") not in masked):
                    self.err("RULE_SENSITIVE_REQUIRES_MASKING", "Column '%s' in '%s' classified as %s "
                             "has no masking policy" % (c.get("name"), name, cl), cloc(),
                             "add a model policy '- mask: {column: %s, method: hash}'" % c.get("name"))
        if security.get("sensitive_columns_require_masking"):
            for m in self.p.models:
                cls = ProjectKinds.get_path(m, ("security", "classification"))
                if not isinstance(cls, dict):
                    continue
                for col in sorted(cls):
                    if cls[col] in ("sensitive", "highly_sensitive") and col not in masked:
                        self.err("RULE_SENSITIVE_REQUIRES_MASKING", "Column '%s' in '%s' classified "
                                 "as %s has no masking policy" % (col, m.get("name"), cls[col]),
                                 Locate.key(cls, col, Locate.of(m)))


class _Graph(object):
    """Cycles and components of the lineage graph, linear in its size."""

    @staticmethod
    def cycles(graph, limit=100, budget=200000):
        """The elementary cycles of ``graph`` ({node: [successors]}), each once, written
        from its smallest node, in sorted order.  At most ``limit`` cycles and about
        ``budget`` search steps: the number of cycles can grow exponentially, and a report
        of the first hundred says enough.  Every strongly connected component yields at
        least one cycle, whatever the budget."""
        quick = FastPaths.validate
        if quick and _Graph.acyclic(graph):
            return []  # (the common case: no component below has a cycle to find)
        comp = _Graph.components(graph)
        out = []
        steps = 0
        if quick:
            size = collections.Counter(comp.values())
        for start in sorted(graph):
            c = comp[start]
            if len(out) >= limit:
                break
            if quick and size[c] == 1 and start not in graph[start]:
                # Alone in its component and no edge to itself: on no cycle (the common
                # case, an acyclic project).  The search below would only look at each
                # successor up to the first None (its end) and give up; its steps are
                # counted all the same, as the budget is shared by all starts.  (Over the
                # budget, the search would stop at its first step; but once over, only
                # "steps > budget" is ever asked, so the exact count no longer matters.)
                succ = graph[start]
                steps += (succ.index(None) if None in succ else len(succ)) + 1
                continue
            # depth-first paths from `start` through greater nodes of its component only,
            # so that each cycle is found exactly once (from its smallest node)
            stack = [(start, iter(graph.get(start, [])))]
            path = [start]
            on_path = set([start])
            found_here = False
            while stack and len(out) < limit:
                steps += 1
                if steps > budget and (found_here or not _Graph.in_cycle(start, graph, comp)):
                    break
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    on_path.discard(path.pop())
                    continue
                if nxt == start:
                    out.append(list(path))
                    found_here = True
                elif nxt > start and nxt not in on_path and comp.get(nxt) == c:
                    stack.append((nxt, iter(graph.get(nxt, []))))
                    path.append(nxt)
                    on_path.add(nxt)
        return out

    @staticmethod
    def acyclic(graph):
        """True when ``graph`` ({node: [successors]}; successors that are not nodes are left
        out) has no cycle: every node can be taken away once nothing points to it any more
        (Kahn's topological sort, without the order)."""
        indegree = dict.fromkeys(graph, 0)
        for succ in graph.values():
            for n in succ:
                if n in indegree:
                    indegree[n] += 1
        free = [n for n, d in indegree.items() if d == 0]
        taken = 0
        while free:
            node = free.pop()
            taken += 1
            for n in graph[node]:
                if n in indegree:
                    indegree[n] -= 1
                    if indegree[n] == 0:
                        free.append(n)
        return taken == len(indegree)

    @staticmethod
    def in_cycle(node, graph, comp):
        return node in graph.get(node, ()) or any(
            comp.get(n) == comp[node] for n in graph if n != node)

    @staticmethod
    def components(graph):
        """{node: component id} of the strongly connected components (Kosaraju, iterative)."""
        order, seen = [], set()
        for root in sorted(graph):
            if root in seen:
                continue
            seen.add(root)
            stack = [(root, iter(graph.get(root, [])))]
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    order.append(node)
                elif nxt in graph and nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, iter(graph.get(nxt, []))))
        reverse = dict((n, []) for n in graph)
        for n in graph:
            for m in graph[n]:
                if m in reverse:
                    reverse[m].append(n)
        comp = {}
        for root in reversed(order):
            if root in comp:
                continue
            comp[root] = root
            todo = [root]
            while todo:
                n = todo.pop()
                for m in reverse[n]:
                    if m not in comp:
                        comp[m] = root
                        todo.append(m)
        return comp


###############################################################################
# Compile #####################################################################
###############################################################################
#
# A project to its desired state: topics, schemas, Flink jobs, connectors,
# Gateway resources (docs/internals.md describes the shapes).

__all__ += ["compile_project", "model_topic_name", "flink_duration", "kafka_config_value",
            "jaas_config", "Compiler", "ProjectPipeline"]


def compile_project(project, warnings=None):
    """The desired state of ``project`` (a Project from load_project), as described in
    docs/internals.md: topics, schemas, flink_jobs, connectors, gateway, environment.

    Every list is sorted by its key; nothing depends on the clock or on hash order.
    ``${VAR}`` references stay references.  Warnings (untyped columns, masks that do
    not apply, ...) are appended to ``warnings`` when a list is given."""
    compiler = Compiler(project)
    state = compiler.run()
    if warnings is not None:
        warnings.extend(compiler.warnings)
    return state


def model_topic_name(model, effective=None):
    """The Kafka topic a model writes (``advanced.topic.name`` or its name); for a
    virtual topic, ``gateway.virtual_topic.name`` first."""
    if effective == "virtual_topic":
        vt = _CompileParts.get(model, "gateway", "virtual_topic")
        if isinstance(vt, dict) and vt.get("name"):
            return str(vt["name"])
    name = _CompileParts.get(model, "advanced", "topic", "name")
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


def jaas_config(mechanism, username, password, shaded=False):
    """The ``sasl.jaas.config`` of a Kafka client for PLAIN or SCRAM-SHA-*.

    Values are written as JAAS quoted strings (``\\`` and ``"`` escaped); ``${VAR}``
    references stay as written.  ``shaded=True`` names the login module as relocated
    inside Flink's ``flink-sql-connector-kafka`` jar (the only name it can load)."""
    mech = (mechanism or "").upper()
    prefix = _CompileParts.FLINK_KAFKA_SHADE if shaded else ""
    if mech == "PLAIN":
        module = prefix + "org.apache.kafka.common.security.plain.PlainLoginModule"
    elif mech.startswith("SCRAM-"):
        module = prefix + "org.apache.kafka.common.security.scram.ScramLoginModule"
    else:
        raise CompileError("unsupported SASL mechanism %r" % mechanism,
                           hint="use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")

    def q(v):
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "%s required username=%s password=%s;" % (module, q(username or ""), q(password or ""))


class _CompileParts(object):
    """Compile's vocabularies and small helpers: connector aliases, startup modes, masks, test conditions, located errors."""

    # -- compile: helpers ------------------------------------------------------------

    @staticmethod
    def whole(value, what, where):
        """``value`` as an int (a topic's partitions or replication factor), or a
        CompileError located on ``where``: a ${VAR} passes the loader (it takes any type)
        but build writes these as numbers, so it cannot stand for one."""
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            if isinstance(value, str) and "${" not in value:
                return int(value)
        except ValueError:
            pass
        key = what.rsplit(".", 1)[-1]
        raise CompileError("%s must be a whole number, not %r" % (what, value),
                           hint="write the number itself: a topic's %s is part of the build, "
                                "not a deploy-time ${VAR}" % key.replace("_", " "),
                           location=Locate.key(where, key, Locate.of(where)))

    CONNECTOR_ALIASES = {
        "snowflake-sink": "com.snowflake.kafka.connector.SnowflakeSinkConnector",
        "jdbc-sink": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "s3-sink": "io.confluent.connect.s3.S3SinkConnector",
        "elasticsearch-sink": "io.confluent.connect.elasticsearch.ElasticsearchSinkConnector",
        "bigquery-sink": "com.wepay.kafka.connect.bigquery.BigQuerySinkConnector",
    }

    STARTUP_MODES = {"earliest": "earliest-offset", "latest": "latest-offset",
                      "earliest-offset": "earliest-offset", "latest-offset": "latest-offset",
                      "group-offsets": "group-offsets", "group": "group-offsets"}

    # flink-sql-connector-kafka relocates the Kafka client classes under this package; a
    # JAAS config must name the login module with it.  A cluster that uses the plain
    # flink-connector-kafka + kafka-clients jars sets `kafka_connector_shaded: false`.
    FLINK_KAFKA_SHADE = "org.apache.flink.kafka.shaded."

    MASK_METHODS = ("hash", "sha256", "md5", "redact", "partial", "null")

    TEST_FAILURES_TOPIC = "_streamt_test_failures"

    # Words that would make custom_sql more than a condition.
    STATEMENT_WORDS = ("INSERT", "CREATE", "DROP", "ALTER", "SET", "RESET", "EXECUTE", "DELETE",
                        "UPDATE", "USE", "LOAD", "UNLOAD", "TRUNCATE", "GRANT", "REVOKE", "SHOW",
                        "DESCRIBE", "EXPLAIN", "BEGIN", "ADD", "REMOVE", "STOP", "CALL", "ANALYZE",
                        "UNION", "EXCEPT", "INTERSECT", "MERGE")

    @staticmethod
    def get(obj, *path):
        for key in path:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(key)
        return obj

    @staticmethod
    def watermark_interval(ms):
        """``INTERVAL '1.5' SECOND``: exact milliseconds (never truncated)."""
        ms = int(ms)
        if ms % 1000 == 0:
            return "INTERVAL '%d' SECOND" % (ms // 1000)
        return "INTERVAL '%d.%03d' SECOND" % (ms // 1000, ms % 1000)

    @staticmethod
    def comment(text):
        """Text safe inside a ``--`` comment: no line breaks or control characters."""
        text = str(text)
        if text.isprintable():
            return text  # (every character kept as it is)
        return "".join(c if c.isprintable() else "\\x%02x" % ord(c) if ord(c) < 256
                       else "\\u%04x" % ord(c) for c in str(text))

    ACCEPTED_TYPES = {"string": "STRING", "str": "STRING", "text": "STRING", "number": "DOUBLE",
                       "numeric": "DOUBLE", "double": "DOUBLE", "float": "DOUBLE", "int": "INT",
                       "integer": "INT", "bigint": "BIGINT", "long": "BIGINT", "bool": "BOOLEAN",
                       "boolean": "BOOLEAN", "timestamp": "TIMESTAMP(3)",
                       "datetime": "TIMESTAMP(3)", "date": "DATE", "time": "TIME"}

    class located(object):
        """Give a CompileError/SqlError raised while compiling ``node`` the node's location
        (SQL errors carry a line inside the SQL: the model's own line is the best we have)."""

        def __init__(self, node):
            self.node = node  # (its location is worked out only for an error)

        def __enter__(self):
            return self

        def __exit__(self, kind, exc, tb):
            if isinstance(exc, ProjectError) and (exc.location is None or exc.location.file is None):
                loc = getattr(self.node, "loc", None)
                if loc is not None:
                    exc.location = loc
            return False

    @staticmethod
    def item_end(info, start):
        for _name, s, e in info.items:
            if s == start:
                return e
        raise AssertionError("no select item at %d" % start)

    @staticmethod
    def is_ref(sql, start, end):
        return SqlAnalysis.column_ref(significant_tokens(sql[start:end])) is not None

    @staticmethod
    def mask_expr(method, expr, typ):
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

    @staticmethod
    def check_condition(tname, where):
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
            elif is_keyword(t, *_CompileParts.STATEMENT_WORDS):
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


class _Relation(object):
    """What a job needs to read a source or a model's output: topic, columns, whether
    it is an updating (upsert) stream and its key, the value format."""

    def __init__(self, kind, name, topic, columns, updating=False, key=(), fmt="json",
                 raw=False, view=None):
        self.kind, self.name, self.topic = kind, name, topic
        self.columns, self.updating, self.key = columns, updating, list(key)
        self.fmt, self.raw, self.view = fmt, raw, view
        self.key_derived, self.key_note = True, None  # (a model's: Compiler.result_key)
        self.ddl_columns = {}  # table_ddl's memo: (sink, watermark, key) -> column lines
        self.ddl_texts = {}    # table_ddl's memo of the rest: see there


class Compiler(object):
    """One project's compile: ``run()`` the desired state (compile_project's), and the
    relations (columns, types) of its sources and models for whoever draws or checks
    them (`docs generate`).  Its quick paths are shortcuts to the same state
    (FastPaths.compile)."""

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
        self._cluster = None  # the Flink cluster of the job being built
        # Memo tables of pure functions of this compile's runtime (which compile never
        # changes): one table_ddl per job input and output would otherwise rebuild the
        # same Kafka properties and quote the same WITH options thousands of times.
        self._kafka_props = {}   # cluster -> (kafka_properties(cluster), its warnings)
        self._with_lines = {}    # (option, value) -> "  'option' = 'value'"
        self._with_bases = {}    # table_ddl's (cluster, keyed, format, sink) -> options
        self._sink_withs = {}    # table_ddl's (cluster, keyed, format) -> a sink's WITH
        self._template_calls = {}  # "{{ ref('x') }}" -> _parse_template_call of it
        self._default_flink = _CompileParts.get(self.runtime, "flink", "default")
        # the header lines that are the same in every job
        self._project_line = "-- Project: %s" % _CompileParts.comment(self.name)
        self._env_line = "-- Environment: %s" % _CompileParts.comment(self.env)

    def warn(self, what, name, message):
        self.warnings.append("%s '%s': %s" % (what, name, message))

    # -- materialization and outputs ---------------------------------------------

    def effective(self, model):
        key = ("effective", str(model.get("name")))
        if key not in self._outputs:
            self._outputs[key] = infer_materialization(model, self.project)[1]
        return self._outputs[key]

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
                if SqlAnalysis.base_type(ctype) not in ("TIMESTAMP", "TIMESTAMP_LTZ"):
                    self.warn("source", name, "event-time column %r is declared %s; it is "
                              "read as TIMESTAMP(3)" % (cname, ctype))
                    ctype = "TIMESTAMP(3)"
                cols.append(Column(cname, ctype, delay))
            else:
                cols.append(Column(cname, ctype))
        if et_col and not any(c.name == et_col for c in cols):
            cols.append(Column(str(et_col), "TIMESTAMP(3)", delay))
        fmt = "json"
        sformat = str(_CompileParts.get(src, "schema", "format") or "").lower()
        if sformat == "avro" and _CompileParts.get(self.runtime, "schema_registry", "url"):
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
        key, derived, note = self.result_key(model, info) if info.updating else ([], True, None)
        rel = _Relation("model", name, topic, cols, info.updating, key)
        rel.key_derived, rel.key_note = derived, note
        if eff == "virtual_topic":
            rel.view = model  # read through its definition (the topic is virtual)
        return rel

    def relation(self, kind, name):
        return self.source_relation(name) if kind == "source" else self.model_relation(name)

    def analyze(self, model):
        key = ("analysis", str(model.get("name")))
        if key not in self._outputs:
            def rel(kind, name):
                r = self.relation(kind, name)
                return None if r is None else (r.columns, r.updating, r.key)
            self._outputs[key] = analyze_query(model.get("sql"), rel)
        return self._outputs[key]

    def result_key(self, model, info):
        """``(key, derived, note)`` of the updating result of ``model``: the primary key
        of its topic (and of its sink table); whether it is the key Flink derives from
        the query (when not, the INSERT says how rows sharing a key are merged); and
        None, or what the job's warnings say of the key instead of the analysis's "no
        key could be derived" ("" for nothing: the model named its key).

        The model's ``key`` (a column, or columns separated by commas) wins.  Otherwise
        the analysis's key, less the columns an outer join may fill with NULL: a
        primary-key column is NOT NULL in Flink, so such a key would stop the job at
        the first row without a match."""
        name = str(model.get("name"))
        declared = model.get("key")
        if declared is not None and str(declared).strip():
            by_lower = dict((c.name.lower(), c.name) for c in info.columns)
            key = []
            for part in str(declared).split(","):
                col = by_lower.get(part.strip().strip("`").lower())
                if col is None:
                    raise CompileError(
                        "model '%s': key %r is not a column of its result" % (name, part.strip()),
                        hint="key names columns of the SELECT, separated by commas; the "
                             "result has: %s" % ", ".join(c.name for c in info.columns))
                if col not in key:
                    key.append(col)
            return key, info.key_derived and key == list(info.key), ""
        if not info.padded or not set(info.key) & set(info.padded):
            note = None
            if not info.key_derived and SqlAnalysis.NO_KEY_WARNING not in info.warnings:
                note = ("the result is keyed by %s, which is not a key of the query (a GROUP "
                        "BY column or a key column of an input is not selected): rows that "
                        "share it are merged, the latest wins; select the whole key, or name "
                        "it with `key:` on the model" % ", ".join(info.key))
            return list(info.key), info.key_derived, note
        padded = set(info.padded)
        key = [k for k in info.key if k not in padded]
        if not key or not info.key_derived:
            # (every column was taken for want of a key: every column it may keep)
            key = [c.name for c in info.columns if c.name not in padded]
        if not key:
            raise CompileError(
                "model '%s': the result is updating and an outer join may leave every "
                "column of its key NULL (%s): a Kafka topic cannot be keyed by it"
                % (name, ", ".join(info.key)),
                hint="name the column(s) that identify a row with `key:` on the model, and "
                     "keep them out of NULL (e.g. COALESCE(u.country, 'unknown') AS country)")
        return key, False, (
            "the result is updating and an outer join may leave %s NULL: it is keyed by %s "
            "instead (a key column is never NULL in Flink); name the key with `key:` on the "
            "model to choose another" % (", ".join(k for k in info.key if k in padded),
                                         ", ".join(key)))

    def masks(self, model):
        out = []
        for p in _CompileParts.get(model, "security", "policies") or []:
            m = p.get("mask") if isinstance(p, dict) else None
            if isinstance(m, dict) and m.get("column"):
                method = str(m.get("method") or "hash").lower()
                if method not in _CompileParts.MASK_METHODS:
                    raise CompileError("model '%s': unknown mask method %r for column %r"
                                       % (model.get("name"), method, m.get("column")),
                                       hint="use one of: " + ", ".join(_CompileParts.MASK_METHODS))
                out.append((str(m["column"]), method))
        return out

    def masked_columns(self, model, info):
        masks = dict((c.lower(), m) for c, m in self.masks(model))
        if not masks:
            return list(info.columns)
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
            with _CompileParts.located(model):
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
                with _CompileParts.located(test):
                    job = self.test_job(test)
                if job is not None:
                    jobs.append(job)
        if any(j["kind"] == "test" for j in jobs) and not any(
                t["name"] == _CompileParts.TEST_FAILURES_TOPIC for t in topics):
            # the topic every continuous test writes its violations to (a Flink sink never
            # creates its topic; brokers usually refuse auto-creation)
            partitions, rf = self.topic_defaults()
            topics.append({"name": _CompileParts.TEST_FAILURES_TOPIC, "partitions": partitions,
                           "replication_factor": rf, "config": {}, "model": None})
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
                "safety": plain_data(safety),
                "runtime": plain_data(self.runtime),
            },
        }

    # -- topics and schemas -------------------------------------------------------

    def topic_defaults(self):
        """(partitions, replication factor) of a topic with no explicit values:
        ``defaults.topic``, else ``defaults.models.topic``, else 1/1 (reference §1.5)."""
        d = self.defaults.get("topic") if isinstance(self.defaults.get("topic"), dict) else None
        if d is None:
            d = _CompileParts.get(self.defaults, "models", "topic") or {}
        return (_CompileParts.whole(d.get("partitions") or 1, "defaults.topic.partitions", d),
                _CompileParts.whole(d.get("replication_factor") or 1,
                                    "defaults.topic.replication_factor", d))

    def topic(self, model):
        adv = _CompileParts.get(model, "advanced", "topic") or {}
        dp, drf = self.topic_defaults()
        partitions = adv.get("partitions") or dp
        rf = adv.get("replication_factor") or drf
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
        what = "model '%s': advanced.topic." % model.get("name")
        return {"name": model_topic_name(model, eff),
                "partitions": _CompileParts.whole(partitions, what + "partitions", adv),
                "replication_factor": _CompileParts.whole(rf, what + "replication_factor", adv),
                "config": config, "model": str(model.get("name"))}

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
        stype = Schema.column_type(schema.get("format"))
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
                     "type": ["null", Schema.avro_type(normalize_type(c.get("type") or "STRING"))],
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
                    "type": [Schema.json_schema_type(normalize_type(c.get("type") or "STRING")),
                             "null"]}
            obj = {"$schema": "http://json-schema.org/draft-07/schema#", "title": name,
                   "type": "object", "properties": props}
        return stype, json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    # -- Flink jobs ------------------------------------------------------------------

    def kafka_properties(self, cluster=None):
        """The Kafka client options of a Flink table (``properties.*``); the result is
        memoized per cluster (and shared: callers must not change it), its warning is
        given again on every call, as when it was worked out each time."""
        memo = self._kafka_props.get(cluster)
        if memo is None:
            before = len(self.warnings)
            props = self._kafka_properties(cluster)
            memo = self._kafka_props[cluster] = (props, self.warnings[before:])
        else:
            self.warnings.extend(memo[1])
        return memo[0]

    def _kafka_properties(self, cluster):
        kafka = self.runtime.get("kafka") or {}
        shaded = _CompileParts.get(self.runtime, "flink", "clusters", cluster or "", "kafka_connector_shaded")
        shaded = True if shaded is None else shaded not in (False, "false", "False", "no")
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
                mech, kafka.get("sasl_username"), kafka.get("sasl_password"), shaded=shaded)
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
        props = self.kafka_properties(self._cluster)  # (memoized; gives its warning again)
        if FastPaths.compile and not sink:
            # Every job that reads a relation (a source read by many models) makes the
            # same statement but for the table name and the group id: the rest is made
            # once per relation and variant and kept on it, as two halves around the
            # place of the group id line.  (The halves are pure functions of the key
            # below, the relation's topic and columns and this compile's runtime, none
            # of which changes; kafka_properties is still asked above, for its warning.)
            mode = (startup or "earliest-offset") if not key else None
            memo_key = (self._cluster, tuple(key), fmt, bool(watermark), mode)
            halves = rel.ddl_texts.get(memo_key)
            if halves is None:
                halves = rel.ddl_texts[memo_key] = self._ddl_halves(
                    rel, sink, watermark, fmt, key, startup, props)
            if halves is not False:
                head, tail = halves
                if group_id:
                    return "CREATE TEMPORARY TABLE %s%s,\n%s%s" % (
                        quote_ident(table), head,
                        self.with_line("properties.group.id", group_id), tail)
                return "CREATE TEMPORARY TABLE %s%s%s" % (quote_ident(table), head, tail)
        elif FastPaths.compile:
            # A sink: its columns are its own, but its WITH clause is the same for every
            # sink of a cluster, key and format but for the topic line (made once per
            # compile, as two halves around the place of that line).
            wkey = (self._cluster, bool(key), fmt)
            halves = self._sink_withs.get(wkey)
            if halves is None:
                halves = self._sink_withs[wkey] = self._sink_with_halves(key, fmt, props)
            if halves is not False:
                return "CREATE TEMPORARY TABLE %s (\n  %s\n) WITH (\n%s,\n%s%s" % (
                    quote_ident(table), self._ddl_columns(rel, sink, watermark, key),
                    halves[0], self.with_line("topic", rel.topic), halves[1])
        return self._table_ddl(table, rel, sink, startup, group_id, watermark, fmt, key, props)

    def _ddl_halves(self, rel, sink, watermark, fmt, key, startup, props):
        """table_ddl's text after the table name, without a group id line, cut where
        that line goes (the options are in key order): (head, tail); False when an
        option is itself named properties.group.id (never: see _ddl_options)."""
        columns = self._ddl_columns(rel, sink, watermark, key)
        pairs = self._ddl_options(rel, sink, startup, fmt, key, props)
        if any(k == "properties.group.id" for k, _line in pairs):
            return False
        pairs.sort()
        connector = self.with_line("connector", "upsert-kafka" if key else "kafka")
        head = [connector] + [line for k, line in pairs if k < "properties.group.id"]
        tail = [line for k, line in pairs if k > "properties.group.id"]
        return (" (\n  %s\n) WITH (\n%s" % (columns, ",\n".join(head)),
                "".join(",\n" + line for line in tail) + "\n)")

    def _sink_with_halves(self, key, fmt, props):
        """The WITH lines of a sink table before and after its topic line (options in key
        order), joined; False if another option were named topic (never: see
        _ddl_options)."""
        pairs = sorted(self._with_base(key, fmt, True, props))
        if any(k == "topic" for k, _line in pairs):
            return False
        connector = self.with_line("connector", "upsert-kafka" if key else "kafka")
        head = [connector] + [line for k, line in pairs if k < "topic"]
        tail = [line for k, line in pairs if k > "topic"]
        return ",\n".join(head), "".join(",\n" + line for line in tail) + "\n)"

    def _table_ddl(self, table, rel, sink, startup, group_id, watermark, fmt, key, props):
        """table_ddl made in full (without the memo of the fast path)."""
        columns = self._ddl_columns(rel, sink, watermark, key)
        connector = "upsert-kafka" if key else "kafka"
        pairs = self._ddl_options(rel, sink, startup, fmt, key, props)
        if not sink and group_id:
            pairs.append(("properties.group.id", self.with_line("properties.group.id",
                                                                group_id)))
        pairs.sort()  # (keys are unique: the order of sorted(opts.items()))
        with_lines = [self.with_line("connector", connector)] + [line for _k, line in pairs]
        return "CREATE TEMPORARY TABLE %s (\n  %s\n) WITH (\n%s\n)" % (
            quote_ident(table), columns, ",\n".join(with_lines))

    def _ddl_columns(self, rel, sink, watermark, key):
        """The column lines of a CREATE TABLE of ``rel``, joined."""
        # the column list of a relation is the same in every job that reads it (a source
        # read by many models): made once per relation and variant, kept on it (a
        # relation's columns never change once it is made)
        memo_key = (bool(sink), bool(watermark), tuple(key))
        columns = rel.ddl_columns.get(memo_key)
        if columns is None:
            lines = self._column_lines(rel, sink, watermark, key)
            columns = rel.ddl_columns[memo_key] = ",\n  ".join(lines)
        return columns

    def _ddl_options(self, rel, sink, startup, fmt, key, props):
        """[(option, WITH line)] of a table but its connector and group id, unsorted
        (``props``: kafka_properties of the cluster)."""
        # The WITH options, in key order: the Kafka client and format options are the
        # same for every table of a cluster, format and kind (made once); topic, startup
        # mode and group id are per table.  No two of these sources share a key (fixed
        # names: properties.*, key.*, value.*), so the union is the dict of before.
        pairs = self._with_base(key, fmt, sink, props) + [
            ("topic", self.with_line("topic", rel.topic))]
        if not key and not sink:
            mode = startup or "earliest-offset"
            pairs.append(("scan.startup.mode", self.with_line("scan.startup.mode", mode)))
        return pairs

    def _with_base(self, key, fmt, sink, props):
        """[(option, WITH line)] of the Kafka client and format options of a table (the
        same for every table of a cluster, key, format and kind: made once; shared)."""
        base_key = (self._cluster, bool(key), fmt, bool(sink))
        base = self._with_bases.get(base_key)
        if base is None:
            opts = dict(props)
            if key:
                opts.update(self.format_options("json", "key."))
                opts.update(self.format_options(fmt))
                if fmt != "json":
                    opts["value.fields-include"] = "ALL"
            else:
                opts.update(self.format_options(fmt))
            base = self._with_bases[base_key] = [(k, self.with_line(k, v))
                                                 for k, v in opts.items()]
        return base

    @staticmethod
    def _column_lines(rel, sink, watermark, key):
        """The column, watermark and primary key lines of a CREATE TABLE of ``rel``."""
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
                        quote_ident(c.name), quote_ident(c.name), _CompileParts.watermark_interval(c.rowtime)))
                else:
                    lines.append("WATERMARK FOR %s AS %s" % (quote_ident(c.name),
                                                            quote_ident(c.name)))
        if key:
            lines.append("PRIMARY KEY (%s) NOT ENFORCED" % ", ".join(quote_ident(k) for k in key))
        return lines

    def with_line(self, key, value):
        """``  'key' = 'value'`` of a WITH clause (memoized: most options of a project's
        tables are the same few pairs)."""
        line = self._with_lines.get((key, value))
        if line is None:
            line = self._with_lines[(key, value)] = "  %s = %s" % (quote_string(key),
                                                                  quote_string(value))
        return line

    def job_cluster(self, spec):
        cluster = (spec.get("flink_cluster") or _CompileParts.get(spec, "advanced", "flink_cluster")
                   or self._default_flink)
        return str(cluster) if cluster else None

    def model_job(self, model):
        name = str(model.get("name"))
        self._cluster = self.job_cluster(model)
        flink = _CompileParts.get(model, "advanced", "flink") or {}
        pipeline = "streamt.%s.%s" % (self.name, name)
        startup = self.startup_mode(model, flink)
        statements = self.settings(model, pipeline, flink)
        tables = _TableNames()
        inputs = self.input_tables(model, tables, statements, startup, pipeline)
        info = self.analyze(model)
        rel = self.model_relation(name)
        for w in info.warnings:
            if w != SqlAnalysis.NO_KEY_WARNING or rel.key_note is None:
                self.warn("model", name, w)
        if rel.key_note:
            self.warn("model", name, rel.key_note)
        # (rel.topic is model_topic_name(model, self.effective(model)): _model_relation)
        sink_rel = _Relation("model", name, rel.topic, rel.columns, rel.updating, rel.key)
        sink = tables.name(("sink", name), name + "__sink")
        statements.append(self.table_ddl(sink, sink_rel, sink=True))
        select = self.select_text(model, info, inputs)
        insert = "INSERT INTO %s\n%s" % (quote_ident(sink), select)
        if sink_rel.updating and not rel.key_derived and self.requires_on_conflict():
            # The sink's primary key is not a key Flink derives from the query: Flink 2.3
            # refuses such an INSERT without an ON CONFLICT clause.  DO DEDUPLICATE is
            # what older versions do unasked (their sink upsert materializer): the latest
            # row per key is written, and a retraction rolls back to the one before.
            insert += ("" if insert.endswith("\n") else "\n") + "ON CONFLICT DO DEDUPLICATE"
        statements.append(insert)
        return self.job(name, name, "model", model, pipeline, flink, statements)

    def requires_on_conflict(self):
        """False when the job's Flink cluster says (``version``) it is older than 2.3,
        which has no ON CONFLICT clause; true otherwise (2.3 and later need it)."""
        cluster = _CompileParts.get(self.runtime, "flink", "clusters", self._cluster or "") or {}
        version = str(cluster.get("version") or "") if isinstance(cluster, dict) else ""
        m = re.match(r"\s*v?(\d+)\.(\d+)", version)
        return m is None or (int(m.group(1)), int(m.group(2))) >= (2, 3)

    def startup_mode(self, model, flink):
        mode = flink.get("startup_mode") or flink.get("scan_startup_mode")
        if not mode:
            return "earliest-offset"
        m = _CompileParts.STARTUP_MODES.get(str(mode).lower())
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
        orig = sql_tokens(sql)
        calls = self._template_calls
        for tok in [t for t in orig if t.kind == "template"] if FastPaths.compile else orig:
            if tok.kind == "template":
                call = calls.get(tok.text)
                if call is None:
                    call = calls[tok.text] = SqlTemplates.parse_template_call(tok.text)
                repl.append((tok.start, tok.end, quote_ident(inputs[call])))
        mask_list = self.masks(model)
        masks = dict((c.lower(), m) for c, m in mask_list)
        types = dict((c.name, c.type) for c in info.columns) if masks else {}
        applied = set()
        for start, end, cols in (info.star if masks else ()):
            if not any(c.name.lower() in masks for c in cols):
                continue
            qual = sql[start:end][:-1]  # "t." or ""
            parts = []
            for c in cols:
                ref = qual + quote_ident(c.name)
                m = masks.get(c.name.lower())
                if m:
                    applied.add(c.name.lower())
                    parts.append("%s AS %s" % (_CompileParts.mask_expr(m, ref, c.type), quote_ident(c.name)))
                else:
                    parts.append(ref)
            repl.append((start, end, ", ".join(parts)))
        for name, start, expr_end, has_alias in info.exprs:
            expr = sql[start:expr_end]
            m = masks.get(name.lower()) if masks else None
            if m:
                applied.add(name.lower())
                repl.append((start, _CompileParts.item_end(info, start),
                             "%s AS %s" % (_CompileParts.mask_expr(m, expr, types.get(name, "STRING")),
                                           quote_ident(name))))
            elif name in info.untyped:
                repl.append((start, _CompileParts.item_end(info, start),
                             "CAST(%s AS STRING) AS %s" % (expr, quote_ident(name))))
            elif not has_alias and name.startswith("EXPR$") and not _CompileParts.is_ref(sql, start,
                                                                              expr_end):
                repl.append((expr_end, expr_end, " AS %s" % quote_ident(name)))
        for col, _m in mask_list:
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
        end = self._select_end_quick(text, orig, pos)
        return end if end is not None else self._select_end(model, text)

    @staticmethod
    def _select_end_quick(text, orig, pos):
        """_select_end of a SELECT ``text`` without a ';' character, from the tokens
        ``orig`` of the model's SQL and the end ``pos`` of the last replacement made in
        it (None when ``text`` has a ';': then only _select_end knows).

        No ';' at all: nothing to cut and no second statement, so the tokens of the new
        text need not be made (one tokenizer run per model saved).  Its last token is
        the original's last one when that lies after the last replacement: every
        replacement spans whole tokens of the original and is itself whole tokens
        ending in a back-quote, so the text after it is read exactly as before.
        Otherwise the last token ends a replacement, which is never a comment.
        (tests/test_compile_select_end.py checks this against _select_end.)"""
        if ";" in text:
            return None
        last = orig[-1] if orig else None
        if (last is not None and last.kind == "comment" and last.text.startswith("--")
                and last.start >= pos):
            return text + "\n"
        return text

    def _select_end(self, model, text):
        """The rewritten SELECT ``text`` made safe as the end of an INSERT."""
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
        # (model_job and test_job set self._cluster to job_cluster(spec) before they
        # make the statements, and nothing in between changes it)
        cluster = self._cluster if FastPaths.compile else self.job_cluster(spec)
        header = ["-- Generated by streamt %s" % __version__,
                  self._project_line if FastPaths.compile else "-- Project: %s" % _CompileParts.comment(self.name),
                  ("-- Model: %s" if kind == "model" else "-- Test: %s") % _CompileParts.comment(owner),
                  self._env_line if FastPaths.compile else "-- Environment: %s" % _CompileParts.comment(self.env),
                  "-- Pipeline: %s" % _CompileParts.comment(pipeline),
                  "-- On upgrade: %s" % on_upgrade,
                  "-- Fingerprint: %s" % fingerprint]
        return {"name": name, "model": owner, "kind": kind,
                "cluster": cluster, "pipeline_name": pipeline,
                "fingerprint": fingerprint, "on_upgrade": on_upgrade,
                "sql": "\n".join(header) + "\n\n" + body}

    # -- continuous tests -----------------------------------------------------------

    def test_job(self, test):
        tname = str(test.get("name"))
        target = str(test.get("model"))
        self._cluster = self.job_cluster(test)
        rel = (self.model_relation(target) if target in self.models else
            self.source_relation(target))
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
                if spec is not None and not isinstance(spec, dict):
                    raise CompileError(
                        "test '%s': assertion `%s` takes a mapping, not %r" % (tname, kind, spec),
                        hint="write e.g. `- %s: {column: %s}` (see docs/validation.md)"
                             % (kind, spec if isinstance(spec, str) else "amount"),
                        location=Locate.key(a, kind, Locate.of(a)))
                conds.extend(self.test_conditions(tname, kind, spec or {}, cols, rel))
        if not conds:
            self.warn("test", tname, "no assertion applies: no Flink job is generated")
            return None
        src_table = "test_source"
        # the test reads the topic as an append stream (the changes of an upsert topic)
        src = _Relation(rel.kind, rel.name, rel.topic, rel.columns, fmt=rel.fmt)
        statements.append(self.table_ddl(src_table, src, startup="latest-offset",
                                         group_id=pipeline, watermark=False))
        failures = _Relation("test", tname, _CompileParts.TEST_FAILURES_TOPIC, [
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
                ft = _CompileParts.ACCEPTED_TYPES.get(str(t).lower())
                if q and ft:
                    out.append(("accepted_types:%s" % c, q, "TRY_CAST(CAST(%s AS STRING) AS %s) "
                                "IS NULL AND %s IS NOT NULL" % (q, ft, q)))
                elif q:
                    self.warn("test", tname, "accepted_types: unknown type %r: skipped" % t)
        elif kind == "custom_sql":
            where = spec.get("where")
            if not where:
                return out
            try:
                cond = _CompileParts.check_condition(tname, str(where))
            except CompileError as e:
                # say where the condition is written (the error's own line/col are in the
                # condition's text, not in the file)
                e.location = Locate.key(spec, "where", Locate.of(spec))
                raise
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
        config = {"name": name, "connector.class": _CompileParts.CONNECTOR_ALIASES.get(cls, cls),
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
        cluster = _CompileParts.get(model, "advanced", "connect_cluster") or _CompileParts.get(self.runtime, "connect",
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
        vcluster = _CompileParts.get(self.runtime, "conduktor", "gateway", "virtual_cluster")
        out = []
        sql = model.get("sql") or "SELECT * FROM x"
        toks = significant_tokens(sql)
        if SqlShape.is_plain_select_star(toks):
            meta = {"name": vtopic}
            if vcluster:
                meta["vCluster"] = str(vcluster)
            out.append({"apiVersion": "gateway/v2", "kind": "AliasTopic", "metadata": meta,
                        "spec": {"physicalName": physical}})
        else:
            parts = []
            for t in toks:
                if t.kind == "template":
                    call = SqlTemplates.parse_template_call(t.text)
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


class _TableNames(object):
    """Unique table names within one job."""

    def __init__(self):
        self.used = {}
        self.lowered = set()  # the names of self.used, lower-cased

    def name(self, key, wanted):
        if key in self.used:
            return self.used[key]
        name, i = wanted, 2
        while name.lower() in self.lowered:
            name = "%s__%d" % (wanted, i)
            i += 1
        self.used[key] = name
        self.lowered.add(name.lower())
        return name


class ProjectPipeline(object):
    """load -> validate -> compile: the one way `validate`, `build`, `plan`, `apply` and
    `status -p` read a project directory.

    ``project`` (None when it does not load), ``env`` (the environment's name),
    ``diagnostics`` (sorted: load and validation findings, and a compile failure as a
    COMPILE_ERROR error, so that `validate` reports everything `build` refuses),
    ``desired`` (the compiled state; None when there is an error) and
    ``compile_warnings`` (texts).  ``check_env`` adds an ENV_VAR_NOT_SET error per unset
    ``${VAR}`` and ``strict`` turns warnings into errors (both: `validate` only; the
    compile does not depend on them)."""

    def __init__(self, root, env, check_env=False, strict=False):
        self.project, self.env, diags = self._load_and_validate(root, env)
        self.desired, self.compile_warnings = None, []
        if self.project is not None and not any(d.is_error for d in diags):
            warnings = []
            try:
                self.desired = compile_project(self.project, warnings=warnings)
            except ProjectError as e:
                loc = e.location if isinstance(e.location, Location) else None
                diags = diags + [Diagnostic("error", "COMPILE_ERROR", e.message, loc, e.hint)]
            else:
                self.compile_warnings = [w.render() if hasattr(w, "render") else str(w)
                                         for w in warnings]
        if check_env and self.project is not None:
            diags = diags + check_variables(self.project)
        if strict:
            diags = [d if d.is_error else Diagnostic("error", d.code, d.message + " (--strict)",
                                                     d.location, d.suggestion) for d in diags]
        self.diagnostics = sorted(diags, key=Diagnostic.sort_key)
        if any(d.is_error for d in self.diagnostics):
            self.desired = None

    @staticmethod
    def _load_and_validate(root, env):
        """(project or None, environment name, diagnostics): a project that does not
        load gives the loader's diagnostics (a UsageError, e.g. no such environment,
        goes through)."""
        try:
            project = load_project(root, env=env, strict=False)
        except UsageError:
            raise
        except ProjectError as e:
            diags = getattr(e, "diagnostics", None) or [
                Diagnostic("error", "PROJECT_ERROR", e.message, e.location, e.hint)]
            return None, env, list(diags)
        return project, project.env, validate_project(project, check_env=False)

    @property
    def errors(self):
        return [d for d in self.diagnostics if d.is_error]

    def require_valid(self, out, refused):
        """Print every diagnostic and compile warning on ``out``; raise ProjectError (exit 3)
        when there is an error (``refused`` says what was not done)."""
        for d in self.diagnostics:
            (out.error if d.is_error else out.warn)(d.render())
        errors = self.errors
        if errors or self.desired is None:
            raise ProjectError("the project is invalid (%d error%s): %s"
                               % (len(errors), "" if len(errors) == 1 else "s", refused),
                               hint="fix the errors above; `streamt validate` lists them too")
        for w in self.compile_warnings:
            out.warn(w)
        return self.desired


###############################################################################
# Artifact ####################################################################
###############################################################################
#
# Build, read, verify, inspect and diff artifacts; Ed25519/SSHSIG signatures.

# -- artifact: signatures (Ed25519, OpenSSH keys, SSHSIG, allowed_signers) ------
#
# streamt signs an artifact's manifest.json (which holds every file's checksum) in
# OpenSSH's SSHSIG format, so that `ssh-keygen -Y verify` accepts our signatures and
# we accept `ssh-keygen -Y sign -n streamt` ones -- with no library and no ssh-keygen
# on the bastion.  References: RFC 8032 (Ed25519), OpenSSH's PROTOCOL.sshsig,
# PROTOCOL.key and the ALLOWED SIGNERS section of ssh-keygen(1).
#
# Public API (every failure is a StreamtError, never a traceback):
#
#   ssh_sign(data, private_key_text, namespace="streamt") -> str
#       The armored signature ("-----BEGIN SSH SIGNATURE-----" ...) of `data` (bytes;
#       str is UTF-8 encoded) made with an unencrypted OpenSSH ed25519 private key.
#       Byte-for-byte what `ssh-keygen -Y sign -n streamt -f key` writes (Ed25519 is
#       deterministic).  A bad key file is a UsageError (exit 2).
#   ssh_verify(data, signature_text, allowed_signers_text, namespace="streamt",
#              principal=None, now=None, allowed_signers_name="allowed_signers") -> dict
#       Checks the signature and that an allowed_signers line trusts its key for
#       `principal` (any principal when None), `namespace` and time `now` (POSIX
#       seconds or a datetime; default: the clock).  Returns {"principal", "fingerprint",
#       "key_type", "namespace", "hash", "line"}.  Every refusal is an IntegrityError
#       (exit 4) saying which check failed; a malformed allowed_signers line is a
#       UsageError with its file:line.
#   ssh_signature_info(signature_text) -> dict
#       Who signed, without a trust decision (for `artifact inspect`):
#       {"key_type", "fingerprint", "public_key" (an authorized_keys line),
#        "namespace", "hash", "version"}.  IntegrityError when malformed.
#   ssh_public_key_line(private_key_text) -> str
#       "ssh-ed25519 AAAA... comment" for a private key (what `ssh-keygen -y` prints);
#       put it, prefixed with a principal, into allowed_signers.
#   ssh_fingerprint(public_key) -> "SHA256:..." as `ssh-keygen -l` prints it
#       (`public_key`: a key line "ssh-ed25519 AAAA..." or the raw key blob).
#   ed25519_public_key(seed), ed25519_sign(seed, message), ed25519_verify(pub, message,
#       signature) -> bool: the raw RFC 8032 primitives (32-byte seed and key,
#       64-byte signature).
#
# Signing here is plain Python integer arithmetic: it is NOT constant-time, so sign on
# a machine you control (a CI runner), never on a host shared with untrusted users.
# Verification handles only public data and has no such concern.

__all__ += ["ARTIFACT_FORMAT_VERSION", "ARTIFACT_KINDS", "ARTIFACT_SIGNATURE", "Artifact",
            "resolve_refs", "artifact_file_name", "render_artifact", "write_artifact",
            "read_artifact", "verify_artifact", "inspect_artifact", "diff_artifacts",
            "render_diff", "source_date_epoch", "ArtifactText", "resolve_variables"]


# -- artifact: build, read, verify, inspect, diff -------------------------------
#
# An artifact is the desired state of one environment written as plain files, so
# that it can be reviewed, archived, signed, copied to a bastion and deployed
# there with no project sources and no network (docs/artifact-format.md):
#
#     manifest.json        what, from where, when; sha256 of every other file;
#                          `resources` maps each resource to its file + metadata
#     SHA256SUMS           the same digests for `sha256sum -c` (plus manifest.json)
#     manifest.json.sig    optional SSHSIG signature of manifest.json
#     environment.json     the environment's name, protection, safety and runtime
#     topics/ schemas/ flink/ connectors/ gateway/virtual_topics.json   the resources
#     state/               optional snapshot of the live state (build --with-state)
#
# Everything written is a pure function of the desired state and a few recorded
# inputs (git metadata, the source date): same commit, same bytes, on any machine.

ARTIFACT_FORMAT_VERSION = "1.0.0"
ARTIFACT_KINDS = ("topics", "schemas", "flink_jobs", "connectors", "gateway")
ARTIFACT_SIGNATURE = "manifest.json.sig"


class Artifact(object):
    """An artifact read into memory (see read_artifact).

    `files` maps every path (posix, relative) to its bytes, `manifest` is the parsed
    manifest.json, `desired` the desired state rebuilt from the files (None when the
    artifact is too damaged for that), `state` the optional snapshot {name: data},
    `signature` the text of manifest.json.sig or None, `problems` what was found
    wrong while reading (verify_artifact reports them with the rest)."""

    def __init__(self, path, kind, files):
        self.path = path
        self.kind = kind  # "directory", "tar", "tar.gz", "tar.xz"
        self.files = files
        self.manifest = None
        self.desired = None
        self.state = None
        self.signature = None
        self.problems = []
        self.misshapen = False  # a file not of its declared shape: refused by read_artifact

    @property
    def environment(self):
        return (self.manifest or {}).get("environment")

    @property
    def secrets_resolved(self):
        return bool((self.manifest or {}).get("secrets_resolved"))

    @property
    def manifest_bytes(self):
        return self.files.get("manifest.json")

    def __repr__(self):
        return "<Artifact %s (%s), %d files>" % (self.path, self.kind, len(self.files))

    @staticmethod
    def replaceable(path, protect=()):
        """Why `build --force` / `compile` must not replace the existing `path`, or None
        when it may: only an empty directory or file, or what streamt wrote (a directory
        or tarball whose manifest.json names streamt, or the original's `generated/`),
        and never one of the `protect` paths (the project) or a directory holding one."""
        real = os.path.realpath(path)
        for keep in protect:
            keep = os.path.realpath(keep)
            if keep == real or keep.startswith(real.rstrip(os.sep) + os.sep):
                return "it is (or holds) the project directory %s" % keep
        if os.path.islink(path):
            return "it is a symbolic link"
        if os.path.isdir(path):
            if not os.listdir(path):
                return None
            try:
                with open(os.path.join(path, "manifest.json"), "rb") as f:
                    doc = json.loads(f.read(ARTIFACT_MAX_MEMBER).decode("utf-8"))
            except (IOError, OSError, ValueError, RecursionError):
                doc = None
        elif os.path.isfile(path):
            if os.path.getsize(path) == 0:
                return None
            try:
                with open(path, "rb") as f:
                    files, _ = Archive.read_archive_bytes(Archive.read_limited(f, path), path)
                doc = json.loads(files["manifest.json"].decode("utf-8"))
            except (StreamtError, KeyError, ValueError, RecursionError, IOError, OSError):
                doc = None
        else:
            return "it is not a regular file or directory"
        if isinstance(doc, dict):
            gen = doc.get("generator")
            if isinstance(gen, dict) and gen.get("name") == "streamt":
                return None
            if "compiled_at" in doc and isinstance(doc.get("artifacts"), dict):
                return None
        return "it is not a streamt artifact (no manifest.json written by streamt)"


def resolve_refs(obj, values):
    """A copy of `obj` (a desired state) with every ${VAR} replaced from `values`,
    for `build --resolve-secrets`; all missing names are reported at once.

    `$$` stays `$$`, and a `$` inside a value is written `$$`: deploy substitutes the
    artifact as usual and gets exactly the value (never a second round of expansion)."""
    missing = [n for n in Variables.names(obj) if n not in values]
    if missing:
        raise StreamtError(
            "cannot resolve the secrets: %d variable%s not set: %s" % (
                len(missing), "" if len(missing) == 1 else "s", ", ".join(missing)),
            hint="set them in the environment (or the project's .env files) and build "
                 "again; nothing was written")

    out = Variables.substitute(obj, values, keep_escapes=True)
    if isinstance(obj, dict) and isinstance(obj.get("flink_jobs"), list):
        for job, resolved in zip(obj["flink_jobs"], out["flink_jobs"]):
            if isinstance(job, dict) and isinstance(job.get("sql"), str):
                resolved["sql"] = resolve_sql_references(job["sql"], values, escape_dollars=True)
    return out


def artifact_file_name(name, ext=""):
    """A file name for a resource called `name`: safe on every file system.

    `[A-Za-z0-9._-]` are kept, anything else is written `%XX` (UTF-8 bytes, upper-case
    hex) so the name can be read back; a leading or trailing dot, Windows device
    names (CON, NUL, COM1, ...) and the empty name are escaped too. Names longer than
    80 characters are cut and suffixed with `~` and a digest (the manifest still maps
    every resource to its file)."""
    if _FileNames.PLAIN_FILE_NAME_RE.match(name):
        # nothing to escape (_escape_file_name would keep every character): the common case
        text = name
    else:
        text = _FileNames.escape(name)
    stem = text.split(".", 1)[0].lower()
    if stem in _FileNames.RESERVED_NAMES:
        text = "%%%02X" % ord(text[0]) + text[1:]
    if len(text) > 80:
        cut = text[:70]
        pct = cut.rfind("%", len(cut) - 2)
        if pct != -1:
            cut = cut[:pct]
        text = cut + "~" + _FileNames.digest_of_name(name)
    return text + ext


class _FileNames(object):
    """Resource names as file names that are safe on every file system, and back."""

    # a name artifact_file_name keeps as it is: safe characters only, no dot first or last
    PLAIN_FILE_NAME_RE = _LazyRegex(r"[A-Za-z0-9_-]([A-Za-z0-9._-]*[A-Za-z0-9_-])?\Z")

    @staticmethod
    def escape(name):
        out = []
        last = len(name) - 1
        for i, ch in enumerate(name):
            if ch in _FileNames.SAFE_NAME_CHARS and not (ch == "." and (i == 0 or i == last)):
                out.append(ch)
            else:
                out.append("".join("%%%02X" % b for b in ch.encode("utf-8", "surrogatepass")))
        return "".join(out) or "%"

    # -- helpers: naming, rendering ------------------------------------------------------

    SAFE_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")

    RESERVED_NAMES = frozenset(["con", "prn", "aux", "nul"] +
                                ["com%d" % i for i in range(10)] + ["lpt%d" % i for i in range(10)])

    @staticmethod
    def unescape(text):
        """The resource name of an escaped file name (without its extension); inverse of
        artifact_file_name for names it did not have to shorten."""
        if text == "%":
            return ""
        return _FileNames.unquote_pct(text)

    @staticmethod
    def unquote_pct(text):
        out = bytearray()
        i = 0
        while i < len(text):
            if text[i] == "%":
                out.append(int(text[i + 1:i + 3], 16))
                i += 3
            else:
                out.extend(text[i].encode("ascii"))
                i += 1
        return out.decode("utf-8", "surrogatepass")

    @staticmethod
    def digest_of_name(name):
        return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]

    @staticmethod
    def unique_path(directory, key, ext, used):
        """directory/file for `key`, unique in `used` even on case-insensitive file systems."""
        base = artifact_file_name(key)
        candidate = base
        n = 0
        while (candidate + ext).lower() in used:
            n += 1
            candidate = "%s~%s" % (base, _FileNames.digest_of_name(key) if n == 1 else
                                   "%s%d" % (_FileNames.digest_of_name(key), n))
        used[(candidate + ext).lower()] = key
        return "%s/%s%s" % (directory, candidate, ext)


def render_artifact(desired, project_name=None, project_version=None, git=None,
                    build_epoch=0, secrets_resolved=False, state=None, signer=None):
    """Every file of the artifact of `desired`: {path: bytes}, manifest and SHA256SUMS included.

    `signer`, when given, is ``f(manifest_bytes) -> signature text``."""
    # One pass over the resources writes each file and remembers what the manifest
    # says of it (name, path, meta); the manifest is then written from those lists
    # (_manifest_json) rather than from a dict of ~2,000 small dicts, and required_env
    # is found by a "$" search of the text just written (below).  With
    # FastPaths.artifact false, the general path: the manifest as a dict through
    # canonical_json, required_env by Variables.names over the whole desired state
    # (tests/test_artifact_fast.py compares the two).
    fast = FastPaths.artifact
    desired = desired or {}
    files = {}
    listed = {}  # kind -> (names, paths, metas, texts of the metas or None), in file order
    unknown = sorted(k for k in desired if k not in ARTIFACT_KINDS and k != "environment")
    if unknown:
        raise StreamtError("the desired state has parts the artifact format does not know: %s"
                           % ", ".join(unknown),
                           hint="this is a bug in streamt: compile and artifact disagree")
    # required_env from the text: a ${VAR} is made of "$", "{", "}" and name characters,
    # which JSON never escapes, so a value whose written text holds no "$" holds no
    # reference.  A resource is written as its file (the text of `source`, see the
    # splits), its meta (in the manifest) and its name, which hold all its values
    # between them: only the parts whose text holds a "$" are walked (Variables.collect).
    # That is Variables.names(desired) exactly when `desired` is made of the plain
    # types compile makes (a dict of lists of dicts): else Variables.names
    # itself walks everything.
    refs_fast = fast and not secrets_resolved and type(desired) is dict
    may_refer = []  # the values of `desired` whose text holds a "$"
    texts = [] if fast else None  # the manifest's text of each meta (fast path)
    meta_texts = _Render.MetaTexts(CanonicalJson.STRING_ENCODER or CanonicalJson.string_encoder()).text
    for kind in ARTIFACT_KINDS[:4]:
        spec = _Render.KIND_FILES[kind]
        key_name = spec["key"]
        dir_name = spec["dir"]
        ext = spec["ext"]
        split = spec["split"]
        given = desired.get(kind) or []
        if type(given) is not list and type(given) is not tuple:
            refs_fast = False
        items = sorted(given, key=lambda it: it[key_name])
        used = {}
        seen = set()
        names, paths, metas = [], [], []
        if texts is not None:
            texts = []
        for item in items:
            key = item[key_name]
            if key in seen:
                raise StreamtError("two %s are both called %r" % (kind, key),
                                   hint="this is a bug in streamt: compile produced duplicates")
            seen.add(key)
            path = _FileNames.unique_path(dir_name, key, ext(item) if callable(ext) else ext, used)
            content, meta, source = split(item)
            files[path] = content
            names.append(key)
            paths.append(path)
            metas.append(meta)
            if texts is not None:
                try:
                    meta_text = meta_texts(meta)
                except (CanonicalJson.JsonFallback, RecursionError):  # the manifest takes the general path
                    texts = meta_text = None
                    refs_fast = False
                else:
                    texts.append(meta_text)
            if refs_fast:
                if type(item) is not dict:
                    refs_fast = False
                else:
                    if b"$" in content:
                        may_refer.append(source)
                    if "$" in meta_text:
                        may_refer.append(meta)
                    if "$" in key:
                        may_refer.append(key)
        listed[kind] = (names, paths, metas, texts)
    given = desired.get("gateway") or []
    if type(given) is not list and type(given) is not tuple:
        refs_fast = False
    gateway = list(given)
    files["gateway/virtual_topics.json"] = _Render.json_bytes(gateway)
    if refs_fast and b"$" in files["gateway/virtual_topics.json"]:
        may_refer.append(gateway)
    environment = desired.get("environment") or {}
    if type(environment) is not dict:
        refs_fast = False
    files["environment.json"] = _Render.json_bytes(environment)
    if refs_fast and b"$" in files["environment.json"]:
        may_refer.append(environment)
    state_files = []
    for name in sorted(state or {}):
        path = "state/" + artifact_file_name(name, ".json")
        files[path] = _Render.json_bytes(state[name])
        state_files.append({"name": name, "file": path})
    # digests of every file, in C-level maps (no bytecode per file)
    import operator
    sha256 = hashlib.sha256
    checksums = dict(zip(files, map("sha256:".__add__, map(
        operator.methodcaller("hexdigest"), map(sha256, files.values())))))
    components = dict((kind, list(listed[kind][0])) for kind in ARTIFACT_KINDS[:4])
    components["gateway"] = [ArtifactText.gateway_name(g) for g in gateway]
    manifest = {
        "version": ARTIFACT_FORMAT_VERSION,
        "generator": {"name": "streamt", "version": __version__},
        "build_time": _Render.iso_utc(build_epoch),
        "source_date_epoch": int(build_epoch),
        "project": {"name": project_name, "version": project_version},
        "environment": environment.get("name"),
        "git": git,
        "checksums": checksums,
        "components": components,
        "secrets_resolved": bool(secrets_resolved),
        "required_env": [] if secrets_resolved else None,  # below
        "resources": None,  # below
    }
    if secrets_resolved:
        pass
    elif refs_fast:
        found = set()
        Variables.collect(may_refer, found)
        manifest["required_env"] = sorted(found)
    else:
        manifest["required_env"] = Variables.names(desired)
    extra = {"gateway": {"file": "gateway/virtual_topics.json"},
             "environment": {"file": "environment.json"}}
    if state is not None:
        extra["state"] = state_files
    mbytes = None
    if texts is not None:
        mbytes = _Render.manifest_json(manifest, listed, extra)
    if mbytes is None:
        resources = dict((kind, [{"name": n, "file": p, "meta": m} for n, p, m in zip(
            *listed[kind][:3])]) for kind in ARTIFACT_KINDS[:4])
        resources.update(extra)
        manifest["resources"] = resources
        mbytes = _Render.json_bytes(manifest)
    files["manifest.json"] = mbytes
    sums = dict(checksums)
    sums["manifest.json"] = "sha256:" + sha256(mbytes).hexdigest()
    order = sorted(sums)
    files["SHA256SUMS"] = "".join(map("%s  %s\n".__mod__, zip(
        map(operator.itemgetter(slice(7, None)), map(sums.__getitem__, order)),
        order))).encode("ascii")  # "<hex>  <path>", the hex without "sha256:"
    if signer is not None:
        sig = signer(mbytes)
        files[ARTIFACT_SIGNATURE] = sig.encode("ascii") if isinstance(sig, str) else sig
    return files


class _Render(object):
    """render_artifact()'s parts: one file per resource, its meta, the manifest text."""

    # Switch for the artifact writer's fast paths (render_artifact's one-pass manifest and
    # "$" search for required_env): tests set it to False to run the general path.


    # indentation of a resource's entry in the manifest (resources -> kind -> [entry])
    ENTRY_NL = "\n" + " " * 8

    ENTRY_FMT = (",\n      {" + ENTRY_NL + '"file": %s,' + ENTRY_NL + '"meta": %s,' + ENTRY_NL
                  + '"name": %s' + "\n" + " " * 6 + "}")

    class MetaTexts(object):
        """`text(meta)`: the JSON text of a resource's meta as the manifest writes it (indented
        for its place), what _json_emit writes.

        The metas of one kind mostly have the same keys and only strings for values (a
        Flink job's cluster, fingerprint, kind, model, ...): for those, the text is one
        format string made from the sorted, encoded keys, filled with the encoded values --
        the same text, without a loop over the keys of every meta.  The format is remade
        whenever the keys change; anything else goes to _json_emit."""

        def __init__(self, enc):
            self.enc = enc
            self.keys = None  # the keys of the last meta written by the format, as a set
            self.order = ()   # ... sorted
            self.format = None

        def text(self, meta):
            enc = self.enc
            if type(meta) is dict and not meta:
                return "{}"  # a topic's
            if type(meta) is dict and CanonicalJson.STRING_ONLY.issuperset(map(type, meta.values())):
                if meta.keys() != self.keys:
                    if not CanonicalJson.STRING_ONLY.issuperset(map(type, meta)):
                        return self.general(meta)
                    self.keys = frozenset(meta)
                    self.order = tuple(sorted(meta))
                    inner = _Render.ENTRY_NL + "  "
                    self.format = "{" + inner + ("," + inner).join(
                        enc(k).replace("%", "%%") + ": %s" for k in self.order) + _Render.ENTRY_NL + "}"
                return self.format % tuple(map(enc, map(meta.__getitem__, self.order)))
            return self.general(meta)

        def general(self, meta):
            out = []
            CanonicalJson.emit(meta, _Render.ENTRY_NL, out, self.enc)
            return "".join(out)

    @staticmethod
    def manifest_json(manifest, listed, extra):
        """canonical_json bytes of `manifest` with "resources" made of the entries in `listed`
        ({kind: (names, paths, metas, meta texts)}) and `extra` ({"gateway": ..., ...}); None
        when a value needs json.dumps (then the caller builds the dict and uses canonical_json).

        Every piece goes to one list joined once (as canonical_json does), so that a large
        manifest is not copied again and again on its way (peak memory of a large build)."""
        enc = CanonicalJson.STRING_ENCODER or CanonicalJson.string_encoder()
        out = []
        sep = "{\n  "
        try:
            for key in sorted(manifest):
                out.append(sep + enc(key) + ": ")
                sep = ",\n  "
                if key != "resources":
                    CanonicalJson.emit(manifest[key], "\n  ", out, enc)
                    continue
                inner_sep = "{\n    "
                for kind in sorted(set(listed) | set(extra)):
                    out.append(inner_sep + enc(kind) + ": ")
                    inner_sep = ",\n    "
                    if kind in extra:
                        CanonicalJson.emit(extra[kind], "\n    ", out, enc)
                        continue
                    names, paths, _metas, texts = listed[kind]
                    if not names:
                        out.append("[]")
                        continue
                    # each entry {"file", "meta", "name"} from one template (the keys are
                    # ours), which starts with the separator: the first one drops it
                    first = len(out)
                    out.extend(map(_Render.ENTRY_FMT.__mod__, zip(map(enc, paths), texts, map(enc, names))))
                    out[first] = "[" + out[first][1:]
                    out.append("\n    ]")
                out.append("\n  }")
        except (CanonicalJson.JsonFallback, RecursionError):
            return None
        out.append("\n}\n")
        text = "".join(out)
        del out[:]
        return text.encode("utf-8")

    @staticmethod
    def write_artifact(desired, out, project_name, project_version, git, build_epoch,
                        secrets_resolved, state, signer, force, stdout, protect=()):
        files = render_artifact(desired, project_name, project_version, git, build_epoch,
                                secrets_resolved, state, signer)
        fmode, dmode = (0o600, 0o700) if secrets_resolved else (0o644, 0o755)
        kind = _Output.output_kind(out)
        if kind == "stdout":
            data = b"".join(Archive.compress_chunks(Archive.tar_chunks(files, build_epoch, fmode, dmode),
                                             "tar.gz"))
            stream = stdout if stdout is not None else getattr(sys.stdout, "buffer", sys.stdout)
            stream.write(data)
            stream.flush()
            return files, hashlib.sha256(data).hexdigest()
        out = os.path.abspath(out)
        parent = os.path.dirname(out)
        exists = os.path.lexists(out)
        if exists and not force:
            if kind != "directory" or not os.path.isdir(out) or os.listdir(out):
                raise StreamtError("%s already exists" % out,
                                   hint="choose another output, or pass --force to replace it")
        why = Artifact.replaceable(out, protect) if exists else None
        if why is not None:
            raise StreamtError("%s: will not replace it: %s" % (out, why),
                               hint="--force replaces only an empty path or an artifact "
                                    "streamt wrote; choose another output or remove it yourself")
        made = []  # parents we create, removed again if the build fails: it leaves nothing
        probe = parent
        while not os.path.isdir(probe):
            made.append(probe)
            probe = os.path.dirname(probe)
        try:
            if made:
                os.makedirs(parent)
            return _Output.write_output(files, out, kind, exists, build_epoch, fmode, dmode)
        except BaseException as e:
            for d in made:
                try:
                    os.rmdir(d)
                except OSError:
                    break
            if isinstance(e, OSError) and not isinstance(e, StreamtError):
                raise StreamtError("cannot write %s: %s" % (out, e.strerror or e))
            raise

    SCHEMA_EXT = {"AVRO": ".avsc", "JSON": ".json", "PROTOBUF": ".proto"}

    # A kind's split: (the bytes of a resource's file, its meta for the manifest, the value
    # those bytes are the text of).  The file, the meta and the resource's name (its key)
    # hold every value of the resource between them: render_artifact's "$" search relies
    # on it.

    def split_topic(item):
        return _Render.json_bytes(item), {}, item

    def split_schema(item):
        meta = _Render.meta_of(item, "schema", "subject")
        schema = item.get("schema", "")
        return _Render.text_bytes(schema), meta, schema

    def split_flink(item):
        meta = _Render.meta_of(item, "sql", "name")
        sql = item.get("sql", "")
        return _Render.text_bytes(sql), meta, sql

    def split_connector(item):
        meta = _Render.meta_of(item, "name", "config")
        content = {"name": item["name"], "config": item.get("config") or {}}
        return _Render.json_bytes(content), meta, content

    @staticmethod
    def meta_of(item, a, b):
        """A copy of `item` without the keys `a` and `b`, in item's order."""
        if type(item) is dict:  # the same, copied in C (a subclass may redefine items())
            meta = dict(item)
            meta.pop(a, None)
            meta.pop(b, None)
            return meta
        return dict((k, v) for k, v in item.items() if k not in (a, b))

    KIND_FILES = {
        "topics": {"dir": "topics", "key": "name", "ext": ".json", "split": split_topic},
        "schemas": {"dir": "schemas", "key": "subject",
                    "ext": lambda it: _Render.SCHEMA_EXT.get(it.get("schema_type") or "AVRO", ".txt"),
                    "split": split_schema},
        "flink_jobs": {"dir": "flink", "key": "name", "ext": ".sql", "split": split_flink},
        "connectors": {"dir": "connectors", "key": "name", "ext": ".json",
                       "split": split_connector},
    }

    @staticmethod
    def json_bytes(obj):
        return canonical_json(obj).encode("utf-8")

    @staticmethod
    def text_bytes(text):
        return text.encode("utf-8")

    @staticmethod
    def iso_utc(epoch):
        seconds = int(epoch)
        if 0 <= seconds < 253402300800:
            # 1970 to 9999 through the built-in time module: importing datetime costs ~1 ms
            # of a cold build; datetime below for the rest, including its errors
            import time
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
        when = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_artifact(desired, out, project_name=None, project_version=None, git=None,
                   build_epoch=0, secrets_resolved=False, state=None, signer=None,
                   force=False, stdout=None, protect=()):
    """Render the artifact of `desired` and write it to `out` atomically.

    `out` is a directory (absent or empty unless `force`), a `.tar.gz`/`.tgz`/`.tar.xz`/
    `.tar` file, or "-" (a tar.gz on `stdout`, default sys.stdout's binary buffer).
    An existing `out` is replaced only when Artifact.replaceable allows it (an empty
    path or an artifact streamt wrote, never one of `protect` or a parent of one).
    Returns (files, digest of the written tarball or None)."""
    # rendering and the tar make thousands of small containers and no cycles: run
    # without the cyclic GC (as main() runs build), or a caller with a large project in
    # memory pays for collections that rescan it (~5% of writing 5,000 models)
    with _gc_paused():
        return _Render.write_artifact(desired, out, project_name, project_version, git,
                               build_epoch, secrets_resolved, state, signer, force, stdout,
                               protect)


def read_artifact(path):
    """Read an artifact (directory or tarball) into memory, without extracting anything.

    Hostile content (absolute or `..` paths, links, devices, duplicates, oversized or
    too many members, non-UTF-8 names) and JSON files not of their declared shape
    (_Shape) are refused with an IntegrityError listing every problem, so a returned
    artifact's values have the types the format says.  A damaged but harmless artifact
    is returned with `problems` set."""
    if path == "-":
        stream = getattr(sys.stdin, "buffer", sys.stdin)
        files, kind = Archive.read_archive_bytes(Archive.read_limited(stream, "<stdin>"), "<stdin>")
    elif os.path.isdir(path):
        files, kind = _Reader.read_directory(path), "directory"
    elif os.path.exists(path):
        with open(path, "rb") as f:
            files, kind = Archive.read_archive_bytes(Archive.read_limited(f, path), path)
    else:
        raise IntegrityError("%s: no such artifact" % path,
                             hint="give the directory or tarball written by `streamt build`")
    art = Artifact(path, kind, files)
    _Reader.load_artifact(art)
    if art.misshapen:
        verify_artifact(art)  # refuses it, saying all that is wrong
    return art


def verify_artifact(artifact, allowed_signers=None, require_signature=False,
                    allowed_signers_name=None):
    """Check an artifact: manifest, checksums, no missing or unlisted files, SHA256SUMS,
    resources, and (with `allowed_signers`, the text or path of an allowed_signers file)
    the signature. Raises IntegrityError listing EVERY problem; returns a report
    {"files": n, "signature": None | info, "signed": bool} when all is well."""
    if isinstance(artifact, str):
        artifact = read_artifact(artifact)
    problems = list(artifact.problems)
    files = artifact.files
    manifest = artifact.manifest
    if isinstance(manifest, dict):
        checksums = manifest.get("checksums")
        if not isinstance(checksums, dict):
            problems.append("manifest.json: no `checksums` mapping")
            checksums = {}
        for name in sorted(checksums):
            want = checksums[name]
            if not Archive.safe_member_name(name):
                problems.append("manifest.json lists an unsafe path: %r" % name)
            elif name in _Reader.UNCHECKED_FILES:
                problems.append("manifest.json must not list %s in its checksums" % name)
            elif name not in files:
                problems.append("%s: listed in the manifest but missing" % name)
            elif (not isinstance(want, str) or
                    want != "sha256:" + hashlib.sha256(files[name]).hexdigest()):
                problems.append("%s: checksum mismatch (the file was changed after the build)"
                                % name)
        for name in sorted(files):
            if name not in checksums and name not in _Reader.UNCHECKED_FILES:
                problems.append("%s: not listed in the manifest" % name)
        problems.extend(_Reader.check_sha256sums(files, checksums))
    signed = artifact.signature is not None
    info = None
    if signed:
        try:
            info = ssh_signature_info(artifact.signature)
        except StreamtError as e:
            problems.append("%s: unreadable signature: %s" % (ARTIFACT_SIGNATURE, e.message))
    if allowed_signers is not None:
        text, label = _Reader.allowed_signers_text(allowed_signers, allowed_signers_name)
        if not signed:
            problems.append("the artifact is not signed, but allowed signers were given")
        elif info is not None and artifact.manifest_bytes is not None:
            try:
                result = ssh_verify(artifact.manifest_bytes, artifact.signature, text,
                                    namespace=SSHSIG_NAMESPACE, allowed_signers_name=label)
                info = dict(info)
                info["verified"] = True
                info["principal"] = result.get("principal")
            except StreamtError as e:
                problems.append("signature: " + e.message)
    elif require_signature:
        if not signed:
            problems.append("the artifact is not signed and a signature is required")
        else:
            problems.append("a signature is required but no allowed signers were given to "
                            "check it against")
    if problems:
        raise IntegrityError(
            "%s: the artifact failed verification (%d problem%s)" % (
                artifact.path, len(problems), "" if len(problems) == 1 else "s"),
            details=problems,
            hint="rebuild the artifact with `streamt build`, and copy it again")
    return {"files": len(files), "signed": signed, "signature": info}


def inspect_artifact(artifact, component=None):
    """A JSON-able summary of an artifact (the data behind `streamt artifact inspect`)."""
    m = artifact.manifest or {}
    desired = artifact.desired or {}
    sig = None
    if artifact.signature is not None:
        try:
            sig = ssh_signature_info(artifact.signature)
        except StreamtError as e:
            sig = {"error": e.message}
    summary = {
        "path": artifact.path, "kind": artifact.kind,
        "format": m.get("version"), "generator": m.get("generator"),
        "project": m.get("project"), "environment": m.get("environment"),
        "git": m.get("git"), "build_time": m.get("build_time"),
        "secrets_resolved": bool(m.get("secrets_resolved")),
        "required_env": m.get("required_env") or [],
        "signature": sig,
        "counts": dict((k, len(desired.get(k) or [])) for k in ARTIFACT_KINDS),
        "files": len(artifact.files),
        "state": None if artifact.state is None else sorted(artifact.state),
    }
    if component is not None:
        kind = ArtifactText.COMPONENTS.get(component, component)
        if kind not in ARTIFACT_KINDS:
            raise UsageError("unknown component %r" % component,
                             hint="one of: %s" % ", ".join(sorted(ArtifactText.COMPONENTS)))
        summary["component"] = component
        summary["items"] = desired.get(kind) or []
    else:
        summary["components"] = dict((k, _InspectDiff.names(desired, k)) for k in ARTIFACT_KINDS)
    if artifact.secrets_resolved:
        summary = _InspectDiff.redact(summary)
    return summary


def diff_artifacts(old, new):
    """What changed from artifact `old` to artifact `new` (Artifacts or desired states).

    Returns a sorted list of {"kind", "name", "change": "added"|"removed"|"changed",
    "changes": [{"key", "old", "new"}], "sql": {...} for Flink jobs}; secret-looking
    values are redacted."""
    a = old.desired if isinstance(old, Artifact) else old
    b = new.desired if isinstance(new, Artifact) else new
    if a is None or b is None:
        raise IntegrityError("cannot diff an artifact whose resources cannot be read",
                             hint="run `streamt artifact verify` on it")
    out = []
    for kind in ARTIFACT_KINDS + ("environment",):
        if kind == "environment":
            ma = {"environment": a.get("environment") or {}}
            mb = {"environment": b.get("environment") or {}}
        else:
            ma = _InspectDiff.keyed(a.get(kind) or [], kind)
            mb = _InspectDiff.keyed(b.get(kind) or [], kind)
        for name in sorted(set(ma) | set(mb)):
            if name not in mb:
                out.append({"kind": kind, "name": name, "change": "removed", "changes": []})
            elif name not in ma:
                out.append({"kind": kind, "name": name, "change": "added", "changes": []})
            elif ma[name] != mb[name]:
                entry = {"kind": kind, "name": name, "change": "changed", "changes": []}
                fa, fb = _InspectDiff.flatten_item(ma[name]), _InspectDiff.flatten_item(mb[name])
                for key in sorted(set(fa) | set(fb)):
                    if key == "sql" and kind == "flink_jobs":
                        continue
                    if fa.get(key, _Reader.MISSING) != fb.get(key, _Reader.MISSING):
                        entry["changes"].append({
                            "key": key, "old": SecretPolicy.redact(key, fa.get(key)),
                            "new": SecretPolicy.redact(key, fb.get(key))})
                if kind == "flink_jobs" and ma[name].get("sql") != mb[name].get("sql"):
                    entry["sql"] = _InspectDiff.sql_diff(redact_sql(ma[name].get("sql") or ""),
                                             redact_sql(mb[name].get("sql") or ""), name)
                out.append(entry)
    return out


def render_diff(changes):
    """The text of `streamt artifact diff`."""
    if not changes:
        return ["no differences"]
    lines = []
    sign = {"added": "+", "removed": "-", "changed": "~"}
    for c in changes:
        lines.append("%s %s %s (%s)" % (sign[c["change"]], ArtifactText.LABEL.get(c["kind"], c["kind"]),
                                        Output.printable(c["name"]), c["change"]))
        for ch in c["changes"]:
            lines.append("    %s: %s -> %s" % (Output.printable(ch["key"]),
                                                 ArtifactText.show(ch["old"]),
                                                 ArtifactText.show(ch["new"])))
        if "sql" in c:
            s = c["sql"]
            lines.append("    sql: +%d -%d lines" % (s["added"], s["removed"]))
            lines.extend("      " + line for line in s["diff"])
    counts = collections.Counter(c["change"] for c in changes)
    lines.append("%d added, %d changed, %d removed" % (
        counts["added"], counts["changed"], counts["removed"]))
    return lines


def source_date_epoch(environ=None, git=None):
    """The build time: SOURCE_DATE_EPOCH, else the commit time, else 0 (never the clock)."""
    env = os.environ if environ is None else environ
    value = env.get("SOURCE_DATE_EPOCH")
    if value not in (None, ""):
        if not value.strip().isdigit():
            raise UsageError("SOURCE_DATE_EPOCH must be a whole number of seconds, not %r"
                             % value, hint="e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)")
        return int(value.strip())
    if git and git.get("time") is not None:
        return int(git["time"])
    return 0


class _Reader(object):
    """Reading an artifact back (directory or tarball) and checking SHA256SUMS."""

    UNCHECKED_FILES = frozenset(["manifest.json", "SHA256SUMS", ARTIFACT_SIGNATURE])

    MISSING = object()

    MAX_DIR_DEPTH = 8

    @staticmethod
    def read_directory(root):
        import stat
        files = {}
        problems = []
        total = 0
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            rel = os.path.relpath(dirpath, root)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            if rel.count("/") >= _Reader.MAX_DIR_DEPTH and dirnames:
                # an artifact is two levels deep; os.walk recurses (3.6-3.11: a deep tree
                # exhausts the stack), so it never goes further down
                problems.append("%s: directories nested more than %d deep" % (
                    rel, _Reader.MAX_DIR_DEPTH))
                dirnames[:] = []
            for d in list(dirnames):
                if os.path.islink(os.path.join(dirpath, d)):
                    problems.append("%s%s: links are not allowed" % (rel, d))
                    dirnames.remove(d)
            dirnames.sort()
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                name = rel + fn
                try:
                    name.encode("utf-8")
                except UnicodeEncodeError:
                    problems.append("%s: file name is not UTF-8" % name.encode(
                        "utf-8", "backslashreplace").decode("utf-8"))
                    continue
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    problems.append("%s: links are not allowed" % name)
                    continue
                if not stat.S_ISREG(st.st_mode):
                    problems.append("%s: special files (devices, fifos, ...) are not allowed" % name)
                    continue
                if st.st_size > ARTIFACT_MAX_MEMBER:
                    problems.append("%s: larger than the %d MiB limit" % (
                        name, ARTIFACT_MAX_MEMBER // (1024 * 1024)))
                    continue
                total += st.st_size
                if total > ARTIFACT_MAX_TOTAL or len(files) >= ARTIFACT_MAX_MEMBERS:
                    problems.append("the directory holds more than an artifact can")
                    break
                with open(full, "rb") as f:
                    files[name] = f.read()
        if problems:
            raise IntegrityError("%s: refused, the directory is not a safe artifact" % root,
                                 details=problems)
        return files

    @staticmethod
    def load_artifact(art):
        """Parse manifest.json and rebuild the desired state; record what is wrong.

        Every JSON file is held to its declared shape (_Shape): a wrong shape is refused
        here, with the file and the JSON path, so no later command meets a value of the
        wrong type."""
        files = art.files
        if "manifest.json" not in files:
            raise IntegrityError("%s: no manifest.json, this is not a streamt artifact" % art.path,
                                 hint="give the directory or tarball written by `streamt build`")
        try:
            manifest = json.loads(_Reader.utf8(files["manifest.json"]))
        except RecursionError:
            raise IntegrityError("%s: manifest.json is nested too deep to read" % art.path)
        except (ValueError, UnicodeDecodeError) as e:
            raise IntegrityError("%s: manifest.json is not valid JSON: %s" % (art.path, e))
        if not isinstance(manifest, dict):
            raise IntegrityError("%s: manifest.json is not a JSON object" % art.path)
        version = str(manifest.get("version", ""))
        if version.split(".")[0] != ARTIFACT_FORMAT_VERSION.split(".")[0]:
            raise IntegrityError(
                "%s: artifact format %r is not supported (this streamt reads %s.x)" % (
                    art.path, version, ARTIFACT_FORMAT_VERSION.split(".")[0]),
                hint="use the streamt version that built it (see manifest.json `generator`)")
        bad = _Shape.check(manifest, _Shape.MANIFEST, "manifest.json")
        if bad:
            raise IntegrityError(
                "%s: refused, manifest.json is not shaped as the format says" % art.path,
                details=_Reader.capped(bad),
                hint="docs/artifact-format.md gives the shape of each file; rebuild the "
                     "artifact with `streamt build`")
        art.manifest = manifest
        if ARTIFACT_SIGNATURE in files:
            try:
                art.signature = files[ARTIFACT_SIGNATURE].decode("ascii")
            except UnicodeDecodeError:
                art.problems.append("%s: not an ASCII-armored signature" % ARTIFACT_SIGNATURE)
        problems = art.problems
        shapes = []  # wrong shapes of resource files: refused at the end, with the rest
        resources = manifest["resources"]
        desired = {}
        for kind in ARTIFACT_KINDS[:4]:
            spec = _Render.KIND_FILES[kind]
            items = []
            for entry in resources.get(kind) or []:
                data = _Reader.entry_file(entry, files, problems)
                if data is None:
                    continue
                if kind in ("topics", "connectors"):
                    item = _Shape.parse(data, _Shape.FILES[kind], entry["file"], problems, shapes)
                    if item is None:
                        continue
                    if kind == "connectors":
                        item.update(entry.get("meta") or {})
                else:
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError as e:
                        problems.append("%s: unreadable: %s" % (entry["file"], e))
                        continue
                    item = dict(entry.get("meta") or {})
                    item["schema" if kind == "schemas" else "sql"] = text
                item[spec["key"]] = entry["name"]
                items.append(item)
            desired[kind] = items
        for kind, default in (("gateway", []), ("environment", {})):
            entry = resources.get(kind)
            data = _Reader.entry_file(entry, files, problems) if entry is not None else None
            value = default
            if data is not None:
                value = _Shape.parse(data, _Shape.FILES[kind], entry["file"], problems, shapes)
            desired[kind] = value
        if "state" in resources:
            art.state = {}
            for entry in resources.get("state") or []:
                data = _Reader.entry_file(entry, files, problems)
                if data is not None:
                    art.state[entry["name"]] = _Shape.parse(
                        data, _Shape.FILES["state"], entry["file"], problems, shapes)
        if shapes:
            # refused by read_artifact, with everything verify finds (a file of the wrong
            # shape is often a file changed after the build: its checksum says so too)
            art.misshapen = True
            problems.extend(_Reader.capped(shapes))
        if not problems:
            art.desired = desired

    MAX_SHOWN = 20

    @staticmethod
    def capped(lines):
        if len(lines) <= _Reader.MAX_SHOWN:
            return lines
        return lines[:_Reader.MAX_SHOWN] + ["... and %d more" % (len(lines) - _Reader.MAX_SHOWN)]

    @staticmethod
    def utf8(data):
        return data.decode("utf-8")

    @staticmethod
    def entry_file(entry, files, problems):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            problems.append("manifest.json: malformed resource entry %r" % (entry,))
            return None
        if entry["file"] not in files:
            problems.append("%s: named in the manifest's resources but missing" % entry["file"])
            return None
        return files[entry["file"]]

    @staticmethod
    def check_sha256sums(files, checksums):
        problems = []
        if "SHA256SUMS" not in files:
            return ["SHA256SUMS: missing"]
        want = dict((p, v[7:]) for p, v in checksums.items() if isinstance(v, str))
        if "manifest.json" in files:
            want["manifest.json"] = hashlib.sha256(files["manifest.json"]).hexdigest()
        seen = {}
        try:
            text = _Reader.utf8(files["SHA256SUMS"])
        except UnicodeDecodeError:
            return ["SHA256SUMS: not UTF-8 text"]
        for n, line in enumerate(text.splitlines(), 1):
            m = re.match(r"^([0-9a-f]{64}) [ *](.+)$", line)
            if not m:
                problems.append("SHA256SUMS line %d: not `<sha256>  <path>`" % n)
                continue
            seen[m.group(2)] = m.group(1)
        for p in sorted(set(want) | set(seen)):
            if p not in seen:
                problems.append("SHA256SUMS: %s is missing" % p)
            elif p not in want:
                problems.append("SHA256SUMS: lists %s, which the manifest does not" % p)
            elif seen[p] != want[p]:
                problems.append("SHA256SUMS: the digest of %s disagrees with the manifest" % p)
        return problems

    @staticmethod
    def allowed_signers_text(value, label):
        # a path (spaces and all) when such a file exists; the CLI reads its FILE itself
        # (_Cli.signers_file), so that a missing file is said to be missing
        if "\n" not in value and os.path.isfile(value):
            try:
                with open(value, "rb") as f:
                    return f.read().decode("utf-8"), label or value
            except (OSError, UnicodeDecodeError) as e:
                raise UsageError("cannot read the allowed signers file %s: %s" % (value, e))
        return value, label or "allowed_signers"


class _Shape(object):
    """The declared shape of every JSON file of an artifact, and the one function that
    checks a parsed value against it (docs/artifact-format.md, "Shapes").

    A shape is a type name -- "str", "line" (a string of printable characters only: a
    name streamt prints), "int" (not a bool), "bool", "null", "json" (any JSON value, at
    most MAX_DEPTH deep) -- or several joined by "|"; a list of one shape (an
    array of it); a tuple ("null", shape): null or that shape; or a dict, a JSON object: each key's shape, "key?" when it may be
    absent, "*" the shape of every other key (other keys are otherwise allowed as "json",
    so that a newer minor format may add fields)."""

    MAX_DEPTH = 64

    META = {"*": "line|int|bool|null"}
    ENTRY = {"name": "line", "file": "line", "meta?": META}
    MANIFEST = {
        "version": "line", "generator?": {"name?": "line", "version?": "line"},
        "build_time?": "line|null", "source_date_epoch?": "int|null",
        "project?": {"name?": "line|null", "version?": "line|null"},
        "environment?": "line|null",
        "git?": ("null", {"commit?": "line|null", "branch?": "line|null",
                          "dirty?": "bool|null"}),
        "checksums": {"*": "line"},
        "components?": {"*": ["line"]},
        "secrets_resolved?": "bool|null", "required_env?": ["line"],
        "resources": {"topics?": [ENTRY], "schemas?": [ENTRY], "flink_jobs?": [ENTRY],
                      "connectors?": [ENTRY], "gateway?": {"file": "line"},
                      "environment?": {"file": "line"},
                      "state?": [{"name": "line", "file": "line"}]},
    }
    # a resource file, by kind (schemas and Flink jobs are text, not JSON)
    FILES = {
        "topics": {"name?": "line", "partitions": "int", "replication_factor": "int",
                   "config?": {"*": "str"}, "model?": "line|null"},
        "connectors": {"name?": "line", "config": {"*": "str"}},
        "gateway": [{"apiVersion": "line", "kind": "line",
                     "metadata": {"name": "line", "vCluster?": "line",
                                  "scope?": {"*": "line"}},
                     "spec?": {"*": "json"}}],
        "environment": {"name?": "line", "protected?": "bool", "safety?": {"*": "json"},
                        "runtime?": {"*": "json"}},
        "state": "json",
    }

    TYPES = {"str": (str,), "line": (str,), "int": (int,), "bool": (bool,),
             "null": (type(None),)}

    @staticmethod
    def kind_of(value):
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "a boolean"
        if isinstance(value, (int, float)):
            return "a number"
        if isinstance(value, str):
            return "a string"
        return "an array" if isinstance(value, list) else "an object"

    @staticmethod
    def check(value, shape, label, path="$", problems=None):
        """The problems of `value` against `shape`, each "<label>: <JSON path>: expected
        ..., found ..." (the found value's type only: it is attacker-controlled)."""
        problems = [] if problems is None else problems
        if isinstance(shape, str):
            names = shape.split("|")
            for name in names:
                if name == "json":
                    if _Shape.too_deep(value):
                        problems.append("%s: %s: nested more than %d deep" % (
                            label, path, _Shape.MAX_DEPTH))
                    return problems
                if isinstance(value, _Shape.TYPES[name]) and not (
                        name == "int" and isinstance(value, bool)):
                    if name == "line" and not value.isprintable():
                        problems.append("%s: %s: a control or other non-printable character "
                                        "in a name" % (label, path))
                    return problems
            problems.append("%s: %s: expected %s, found %s" % (
                label, path, " or ".join(_Shape.WORDS[n] for n in names), _Shape.kind_of(value)))
        elif isinstance(shape, tuple):
            if value is not None:
                _Shape.check(value, shape[1], label, path, problems)
        elif isinstance(shape, list):
            if not isinstance(value, list):
                problems.append("%s: %s: expected an array, found %s" % (
                    label, path, _Shape.kind_of(value)))
            else:
                for i, item in enumerate(value):
                    _Shape.check(item, shape[0], label, "%s[%d]" % (path, i), problems)
        elif not isinstance(value, dict):
            problems.append("%s: %s: expected an object, found %s" % (
                label, path, _Shape.kind_of(value)))
        else:
            for key, sub in shape.items():
                if key == "*":
                    continue
                name = key.rstrip("?")
                if name in value:
                    _Shape.check(value[name], sub, label, _Shape.member(path, name), problems)
                elif not key.endswith("?"):
                    problems.append("%s: %s: missing" % (label, _Shape.member(path, name)))
            rest = shape.get("*", "json")
            for name in value:
                if name + "?" not in shape and name not in shape:
                    _Shape.check(value[name], rest, label, _Shape.member(path, name), problems)
        return problems

    WORDS = {"str": "a string", "line": "a string", "int": "an integer", "bool": "a boolean",
             "null": "null"}

    @staticmethod
    def member(path, name):
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            return "%s.%s" % (path, name)
        return "%s[%s]" % (path, json.dumps(name))  # escaped: the name is the artifact's

    @staticmethod
    def too_deep(value):
        """Whether `value` is nested more than MAX_DEPTH deep (iterative: a deep value must
        not exhaust the interpreter's stack)."""
        stack = [(value, 0)]
        while stack:
            v, depth = stack.pop()
            if depth > _Shape.MAX_DEPTH:
                return True
            if isinstance(v, dict):
                stack.extend((x, depth + 1) for x in v.values())
            elif isinstance(v, list):
                stack.extend((x, depth + 1) for x in v)
        return False

    @staticmethod
    def parse(data, shape, label, problems, shapes):
        """A JSON file's bytes, parsed and checked: the value, or None when it is not JSON
        (said in `problems`) or not of its shape (said in `shapes`)."""
        try:
            value = json.loads(data.decode("utf-8"))
        except RecursionError:
            shapes.append("%s: nested too deep to read" % label)
            return None
        except (ValueError, UnicodeDecodeError) as e:
            problems.append("%s: unreadable: %s" % (label, e))
            return None
        bad = _Shape.check(value, shape, label)
        shapes.extend(bad)
        return None if bad else value


class ArtifactText(object):
    """How an artifact's resources are named and labelled in inspect, diff and the CLI."""

    COMPONENTS = {"topics": "topics", "schemas": "schemas", "flink": "flink_jobs",
                        "flink_jobs": "flink_jobs", "connectors": "connectors", "gateway": "gateway"}

    LABEL = {"topics": "topic", "schemas": "schema", "flink_jobs": "flink job",
                   "connectors": "connector", "gateway": "gateway", "environment": "environment"}

    @staticmethod
    def gateway_name(g):
        meta = g.get("metadata") or {}
        name = meta.get("name", "?")
        if meta.get("vCluster"):
            name = "%s/%s" % (meta["vCluster"], name)
        return "%s/%s" % (g.get("kind", "?"), name)

    @staticmethod
    def show(value):
        if value is None:
            return "(none)"
        if isinstance(value, str):
            return json.dumps(value, ensure_ascii=False)
        return json.dumps(value, sort_keys=True, ensure_ascii=False)


class _Output(object):
    """Writing an artifact as a directory or a tarball, atomically."""

    @staticmethod
    def output_kind(out):
        if out == "-":
            return "stdout"
        low = out.lower()
        if low.endswith(".tar.gz") or low.endswith(".tgz"):
            return "tar.gz"
        if low.endswith(".tar.xz") or low.endswith(".txz"):
            return "tar.xz"
        if low.endswith(".tar"):
            return "tar"
        return "directory"

    @staticmethod
    def write_output(files, out, kind, exists, build_epoch, fmode, dmode):
        if kind == "directory":
            _Output.write_directory(files, out, build_epoch, fmode, dmode)
            return files, None
        pieces = Archive.compress_chunks(Archive.tar_chunks(files, build_epoch, fmode, dmode), kind)
        if exists and os.path.isdir(out) and not os.path.islink(out):
            raise StreamtError("%s is a directory" % out,
                               hint="remove it, or choose a file name for the tarball")
        _Output.atomic_write(out, pieces, fmode)
        digest = hashlib.sha256()
        for piece in pieces:
            digest.update(piece)
        return files, digest.hexdigest()

    @staticmethod
    def atomic_write(path, pieces, mode):
        """Write the bytes `pieces` (a list) to `path` as one file, atomically."""
        import tempfile
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path),
                                   prefix="." + os.path.basename(path) + ".")
        try:
            with os.fdopen(fd, "wb") as f:
                f.writelines(pieces)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.rename(tmp, path)
        except BaseException:
            _Output.remove_quietly(tmp)
            raise

    @staticmethod
    def write_directory(files, out, mtime, fmode, dmode):
        import shutil
        import tempfile
        parent = os.path.dirname(out)
        tmp = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(out) + ".")
        try:
            made = set([""])
            for path in sorted(files):
                parts = path.split("/")
                for i in range(1, len(parts)):
                    d = "/".join(parts[:i])
                    if d not in made:
                        os.mkdir(os.path.join(tmp, *d.split("/")))
                        made.add(d)
                target = os.path.join(tmp, *parts)
                with open(target, "wb") as f:
                    f.write(files[path])
                os.chmod(target, fmode)
                os.utime(target, (mtime, mtime))
            for d in sorted(made, key=len, reverse=True):
                target = os.path.join(tmp, *d.split("/")) if d else tmp
                os.chmod(target, dmode)
                os.utime(target, (mtime, mtime))
            old = None
            if os.path.lexists(out):
                if os.path.isdir(out) and not os.path.islink(out) and not os.listdir(out):
                    os.rmdir(out)
                else:  # --force: move the old one aside, put the new one in, then drop the old
                    old = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(out) + ".old.")
                    os.rename(out, os.path.join(old, "x"))
            os.rename(tmp, out)
            if old:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @staticmethod
    def remove_quietly(path):
        try:
            os.unlink(path)
        except OSError:
            pass


class _InspectDiff(object):
    """What inspect and diff print: resources by name, flattened, secrets redacted."""

    # -- helpers: inspect and diff ---------------------------------------------------------

    @staticmethod
    def names(desired, kind):
        if kind == "gateway":
            return [ArtifactText.gateway_name(g) for g in desired.get(kind) or []]
        key = "subject" if kind == "schemas" else "name"
        return [it.get(key) for it in desired.get(kind) or []]

    @staticmethod
    def keyed(items, kind):
        out = {}
        for it in items:
            if kind == "gateway":
                out[ArtifactText.gateway_name(it)] = it
            else:
                out[it.get("subject" if kind == "schemas" else "name")] = it
        return out

    @staticmethod
    def flatten_item(obj, prefix=""):
        out = {}
        if isinstance(obj, dict) and obj:
            for k in obj:
                out.update(_InspectDiff.flatten_item(obj[k], "%s%s%s" % (prefix, "." if prefix else "", k)))
        else:
            out[prefix or "."] = obj
        return out

    @staticmethod
    def redact(obj, key=""):
        if key == "sql" or key.endswith(".sql"):
            return redact_sql(obj) if isinstance(obj, str) else obj
        if isinstance(obj, dict):
            return dict((k, _InspectDiff.redact(v, "%s.%s" % (key, k) if key else str(k))) for k, v in obj.items())
        if isinstance(obj, list):
            return [_InspectDiff.redact(v, key) for v in obj]
        return SecretPolicy.redact(key, obj) if key else obj

    @staticmethod
    def sql_diff(a, b, name):
        import difflib
        a, b = redact_sql(a), redact_sql(b)  # a resolved artifact holds passwords
        diff = list(difflib.unified_diff(a.splitlines(), b.splitlines(), "a/flink/%s.sql" % name,
                                         "b/flink/%s.sql" % name, n=1, lineterm=""))
        # the two file headers are the first two lines: past them, "---" is a removed
        # "-- comment" line (and "+++" an added "++..." one), not a header
        body = diff[2:]
        added = sum(1 for line in body if line.startswith("+"))
        removed = sum(1 for line in body if line.startswith("-"))
        return {"added": added, "removed": removed, "diff": body}


def resolve_variables(obj, values):
    """A copy of obj with ${NAME} replaced from `values` ($$ is a literal $), with the
    project section's rules.  Every missing name is reported at once (exit 1)."""
    try:
        out = Variables.substitute(obj, values)
    except ProjectError as e:
        raise StreamtError(e.message, hint="export them, or pass --env-file with NAME=value "
                                           "lines")
    if isinstance(obj, dict) and isinstance(obj.get("flink_jobs"), list):
        # Flink SQL: only string literals hold references, and each value is escaped for
        # where it lands (quotes doubled; JAAS quoting inside sasl.jaas.config)
        for job, resolved in zip(obj["flink_jobs"], out["flink_jobs"]):
            if isinstance(job, dict) and isinstance(job.get("sql"), str):
                try:
                    resolved["sql"] = resolve_sql_references(job["sql"], values)
                except ProjectError as e:
                    raise StreamtError(e.message, hint=e.hint)
    return out


###############################################################################
# Targets #####################################################################
###############################################################################
#
# One per service, same shape: observe the live state, diff, apply.

#
# Every target has the same shape:
#
#   target.hosts()                      -> ["host:port", ...] it will contact (no secrets)
#   target.observe(items)               -> the live state of what `items` describe
#   target.plan(items, live, policy)    -> [Change]  (create/update/unchanged/orphan/delete)
#   target.validate(changes)            -> [error text]  the service's own dry-run checks
#   target.apply(changes, done)         -> applies in order, calls done(change) after each
#   target.snapshot(items, live)        -> canonical, redacted live state (drift check)
#
# `items` are the desired-state lists of docs/internals.md, with ${VAR}s resolved.
#
# Which live resources are "managed by this project" (orphan scope), per service:
#
# - Flink jobs: the job name streamt gives a job is
#   "<pipeline_name> [streamt project=<project> fp=<16 hex of the fingerprint>]".
#   Jobs carrying another project's marker, or none, are never touched.
# - Connectors: streamt adds "streamt.project": "<project>" to every connector's
#   config (Connect keeps unknown keys); only connectors with our value are ours.
# - Topics and subjects: Kafka and Schema Registry have no place for an ownership
#   marker, and a name rule would catch the project's own *source* topics (which
#   the artifact does not list: streamt reads them, it does not own them) and other
#   teams' topics.  So topics and subjects are never reported as orphans, and
#   --allow-delete topics/schemas has nothing to delete; removing one is a
#   deliberate act outside streamt.  (Their Flink jobs and connectors, which do
#   carry a marker, are reported.)
# - Gateway interceptors and alias topics: names starting with "<project>-",
#   "<project>_" or "<project>.".

__all__ += ["FLINK_JOB_MARKER", "PlanPolicy", "Change", "KafkaTarget", "plan_topics",
            "SchemaRegistryTarget", "FlinkTarget", "previous_tool_job_names",
            "ConnectTarget", "GatewayTarget"]


FLINK_JOB_MARKER = " [streamt project=%s fp=%s]"


class _TargetParts(object):
    """What the targets share: ownership, config texts, changes, Flink job markers, SQL statements."""

    FLINK_MARKER_RE = _LazyRegex(r"^(.*) \[streamt project=(\S+) fp=([0-9a-f]+)\]$")

    FLINK_ACTIVE = ("RUNNING", "CREATED", "INITIALIZING", "RESTARTING", "RECONCILING",
                     "FAILING", "CANCELLING", "SUSPENDED")

    @staticmethod
    def owned_name(name, project):
        return any(name.startswith(project + sep) for sep in ".-_")

    @staticmethod
    def config_text(value):
        """A config value as Kafka prints it: booleans lower-case, numbers plain."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and float.is_integer(value):
            return str(int(value))
        if isinstance(value, (list, tuple)):
            return ",".join(_TargetParts.config_text(v) for v in value)
        return str(value)

    @staticmethod
    def cluster_block(runtime, section, cluster, what):
        """runtime[section].clusters[cluster or default] with a clear error."""
        block = runtime.get(section) or {}
        clusters = block.get("clusters") or {}
        name = cluster or block.get("default")
        if not name and len(clusters) == 1:
            name = list(clusters)[0]
        if name not in clusters:
            raise UsageError("%s cluster %r is not defined in runtime.%s.clusters (defined: %s)"
                             % (what, name, section, ", ".join(sorted(clusters)) or "none"),
                             hint="add it to the environment's runtime block or set "
                              "runtime.%s.default" % section)
        return name, clusters[name]

    @staticmethod
    def http_for(block, url_key, service, **kw):
        url = block.get(url_key)
        if not url:
            raise UsageError("%s: %s is not set in the runtime block" % (service, url_key),
                             hint="add %s to the environment's runtime block" % url_key)
        return HttpClient(url, service=service, username=block.get("username"),
                          password=block.get("password"),
                          token=block.get("token") or block.get("bearer_token"),
                          cafile=block.get("ssl_cafile"),
                          timeout=float(block.get("timeout", 10.0)), **kw)

    @staticmethod
    def changes_of(old, new, policy, prefix=""):
        """{key: (old, new)} for keys whose values differ, redacted."""
        out = {}
        for k in sorted(set(old) | set(new)):
            if old.get(k) != new.get(k):
                out[prefix + k] = (SecretPolicy.redact(k, old.get(k), policy.secrets),
                                   SecretPolicy.redact(k, new.get(k), policy.secrets))
        return out

    @staticmethod
    def topic_request(t):
        return {"name": t["name"], "partitions": int(t["partitions"]),
                "replication_factor": int(t["replication_factor"]),
                "config": dict((k, _TargetParts.config_text(v)) for k, v in sorted((t.get("config") or {}).items()))}

    @staticmethod
    def check_kafka_result(res, what):
        errs = ["%s: %s" % (n, e) for n, e in sorted((res or {}).items()) if e is not None]
        if errs:
            raise ServiceError("Kafka refused to %s topic(s): %s" % (what, "; ".join(errs)))

    @staticmethod
    def orphan_change(kind, name, delete_kind, policy, data=None, cluster=None):
        if policy.may_delete(delete_kind):
            return Change(kind, name, "delete", {}, destructive=True, data=data, cluster=cluster,
                          notes=["exists live, absent from the artifact: deleted (--allow-delete %s)"
                                 % delete_kind])
        return Change(kind, name, "orphan", {}, data=data, cluster=cluster,
                      notes=["exists live, absent from the artifact (kept; --allow-delete %s "
                         "deletes it)" % delete_kind])

    @staticmethod
    def short_fp(fp):
        return re.sub(r"^sha256:", "", fp or "")[:16]

    @staticmethod
    def project_of(target):
        return getattr(target, "project", None) or "streamt"

    @staticmethod
    def sets_key(stmt, key):
        return re.match(r"^\s*SET\s+'%s'\s*=" % re.escape(key), stmt, re.I) is not None

    @staticmethod
    def shorten(stmt, n=300):
        s = " ".join(stmt.split())
        return s if len(s) <= n else s[:n] + " ..."

    @staticmethod
    def sql_statements(sql):
        """The statements of a Flink SQL file (blank ones dropped)."""
        return [st for st in split_statements(sql) if st.strip()]

    @staticmethod
    def flatten_spec(obj, prefix=""):
        """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values (compared whole)."""
        out = {}
        for k, v in sorted(obj.items()):
            if isinstance(v, dict) and v:
                out.update(_TargetParts.flatten_spec(v, prefix + k + "."))
            else:
                out[prefix + k] = v
        return out


class PlanPolicy(object):
    """What the user allows: `allow_delete` (set of kinds: topics, schemas, flink_jobs,
    connectors, gateway; "all"), `prune_config` (reset topic config keys the project no
    longer sets), `project` (the name used for the ownership markers)."""

    def __init__(self, project, allow_delete=(), prune_config=False, secrets=()):
        self.project = project or "streamt"
        self.allow_delete = set(allow_delete or ())
        self.prune_config = bool(prune_config)
        self.secrets = set(s for s in secrets if s and len(s) >= 4)

    def may_delete(self, kind):
        return "all" in self.allow_delete or kind in self.allow_delete


class Change(object):
    """One resource of a plan.

    `kind` (topic, schema, flink_job, connector, gateway), `name`, `action`
    (create, update, unchanged, orphan, delete), `changes` {key: (old, new)} already
    redacted for display, `notes` [str], `refused` (a reason, or None),
    `destructive` (deletes and config resets).  `desired`/`live`/`data` are for the
    target's apply and never printed."""

    def __init__(self, kind, name, action, changes=None, notes=None, refused=None,
                 destructive=False, desired=None, live=None, data=None, cluster=None):
        self.kind, self.name, self.action = kind, name, action
        self.changes = changes or {}
        self.notes = list(notes or [])
        self.refused = refused
        self.destructive = destructive
        self.desired, self.live, self.data = desired, live, dict(data or {})
        self.cluster = cluster
        self.restored_from = None   # a Flink job resubmitted by apply: its savepoint

    @property
    def mutating(self):
        return self.action in ("create", "update", "delete") and not self.refused

    @property
    def ref(self):
        return "%s:%s" % (self.kind, self.name)

    def to_json(self):
        return {"kind": self.kind, "name": self.name, "action": self.action,
                "changes": dict((k, {"old": v[0], "new": v[1]})
                                for k, v in sorted(self.changes.items())),
                "notes": list(self.notes), "refused": self.refused,
                "destructive": bool(self.destructive)}

    def __repr__(self):
        return "Change(%s %s %s)" % (self.action, self.kind, self.name)


# -- Kafka -----------------------------------------------------------------------

class KafkaTarget(object):
    """Topics through KafkaAdmin: batched create, partitions only up, replication factor
    never changed, managed config keys set (only keys whose source is the topic count
    as set), keys the project stopped managing listed (reset with --prune-config)."""

    kind = "topic"
    delete_kind = "topics"

    def __init__(self, runtime, admin=None):
        self.config = dict(runtime.get("kafka") or {})
        if not self.config.get("bootstrap_servers") and admin is None:
            raise UsageError("runtime.kafka.bootstrap_servers is not set",
                             hint="add it to the environment's runtime block")
        self._admin = admin
        self.cluster_id = None
        self.mutations = 0  # create/alter/delete requests sent (validate_only ones excluded)

    def hosts(self):
        return sorted(set(h.strip() for h in
                          str(self.config.get("bootstrap_servers", "")).split(",") if h.strip()))

    @property
    def admin(self):
        if self._admin is None:
            self._admin = KafkaAdmin(self.config)
        return self._admin

    def close(self):
        if self._admin is not None:
            self._admin.close()

    def observe(self, items, policy):
        admin = self.admin
        cluster = admin.cluster()
        self.cluster_id = cluster.get("cluster_id")
        names = set(admin.list_topics())
        wanted = set(t["name"] for t in items)
        existing = sorted(n for n in wanted if n in names)
        orphans = []  # see "managed by this project" above: no marker on topics
        desc = admin.describe_topics(existing + orphans) if (existing or orphans) else {}
        configs = admin.describe_configs(existing) if existing else {}
        topics = {}
        for n in existing + orphans:
            if n not in desc:
                continue
            entry = {"partitions": desc[n]["partitions"],
                     "replication_factor": desc[n]["replication_factor"],
                     "overrides": {}, "effective": {}, "sensitive": set()}
            for key, c in sorted((configs.get(n) or {}).items()):
                entry["effective"][key] = c.get("value")
                if c.get("sensitive"):
                    entry["sensitive"].add(key)
                if c.get("source") in ("TOPIC", "DYNAMIC_TOPIC_CONFIG") and not c.get("is_default"):
                    entry["overrides"][key] = c.get("value")
            topics[n] = entry
        return {"cluster_id": self.cluster_id, "topics": topics, "orphans": orphans}

    def plan(self, items, live, policy):
        return plan_topics(items, live, policy)

    def validate(self, changes):
        errors = []
        admin = self.admin
        creates = [c.desired for c in changes if c.action == "create" and not c.refused]
        if creates:
            for name, err in sorted(admin.create_topics(
                    [_TargetParts.topic_request(t) for t in creates], validate_only=True).items()):
                if err is not None:
                    errors.append("topic %s: %s" % (name, err))
        parts = dict((c.name, c.data["partitions"]) for c in changes
                     if c.action == "update" and "partitions" in c.data and not c.refused)
        if parts:
            res = admin.create_partitions(parts, validate_only=True) or {}
            errors.extend("topic %s: %s" % (n, e) for n, e in sorted(res.items()) if e)
        alters = dict((c.name, c.data["config"]) for c in changes
                      if c.action == "update" and c.data.get("config") and not c.refused)
        if alters:
            res = admin.alter_configs(alters, validate_only=True) or {}
            errors.extend("topic %s: %s" % (n, e) for n, e in sorted(res.items()) if e)
        return errors

    def apply(self, changes, done):
        admin = self.admin
        creates = [c for c in changes if c.action == "create"]
        if creates:
            # one batched request; a topic that exists already (a killed earlier run)
            # is fine: the next plan compares it like any other
            self.mutations += 1
            res = admin.create_topics([_TargetParts.topic_request(c.desired) for c in creates])
            failed = []
            for c in creates:
                err = (res or {}).get(c.name)
                if err is None or getattr(err, "name", "") == "TOPIC_ALREADY_EXISTS":
                    done(c)
                else:
                    failed.append("%s: %s" % (c.name, err))
            if failed:
                raise ServiceError("Kafka refused to create topic(s): " + "; ".join(failed))
            self._wait_visible([c.name for c in creates])
        for c in changes:
            if c.action == "update":
                if "partitions" in c.data:
                    self.mutations += 1
                    _TargetParts.check_kafka_result(admin.create_partitions({c.name: c.data["partitions"]}),
                                        "increase the partitions of")
                if c.data.get("config"):
                    self.mutations += 1
                    _TargetParts.check_kafka_result(admin.alter_configs({c.name: c.data["config"]}),
                                        "change the config of")
                done(c)
            elif c.action == "delete":
                self.mutations += 1
                _TargetParts.check_kafka_result(admin.delete_topics([c.name]), "delete")
                done(c)

    def _wait_visible(self, names, timeout=30.0):
        """Wait until new topics show in the metadata (the next step, Flink, needs them,
        and a re-plan right after must see them)."""
        import time
        end = time.time() + timeout
        while True:
            missing = set(names) - set(self.admin.describe_topics(names))
            if not missing:
                return
            if time.time() > end:
                raise ServiceError("Kafka: topic(s) created but still not visible after %ds: %s"
                                   % (timeout, ", ".join(sorted(missing))))
            time.sleep(0.2)

    def snapshot(self, items, live):
        out = {}
        for n, t in sorted(live["topics"].items()):
            if n in live.get("orphans", ()):
                continue
            out[n] = {"partitions": t["partitions"], "replication_factor": t["replication_factor"],
                      "config": dict((k, REDACTED if k in t["sensitive"] else v)
                                     for k, v in sorted(t["overrides"].items()))}
        return {"cluster_id": live.get("cluster_id"), "topics": out}


def plan_topics(items, live, policy):
    """The topic part of a plan (pure: desired items + observed live state)."""
    out = []
    topics = live.get("topics", {})
    for t in sorted(items, key=lambda x: x["name"]):
        name = t["name"]
        want_cfg = dict((k, _TargetParts.config_text(v)) for k, v in (t.get("config") or {}).items())
        cur = topics.get(name)
        if cur is None:
            ch = {"partitions": (None, int(t["partitions"])),
                  "replication_factor": (None, int(t["replication_factor"]))}
            for k, v in sorted(want_cfg.items()):
                ch["config." + k] = (None, SecretPolicy.redact(k, v, policy.secrets))
            out.append(Change("topic", name, "create", ch, desired=t))
            continue
        ch, notes, data, refused = {}, [], {}, []
        if int(t["partitions"]) < cur["partitions"]:
            refused.append("partitions %d -> %d: Kafka cannot remove partitions (recreate "
                           "the topic under a new name)" % (cur["partitions"], int(t["partitions"])))
        elif int(t["partitions"]) > cur["partitions"]:
            ch["partitions"] = (cur["partitions"], int(t["partitions"]))
            data["partitions"] = int(t["partitions"])
        if int(t["replication_factor"]) != cur["replication_factor"]:
            refused.append("replication_factor %d -> %d: streamt does not reassign replicas "
                           "(use kafka-reassign-partitions)"
                           % (cur["replication_factor"], int(t["replication_factor"])))
        cfg = {}
        for k, v in sorted(want_cfg.items()):
            old = cur["overrides"].get(k)
            if old != v or k not in cur["overrides"]:
                shown_old = old if k in cur["overrides"] else None
                ch["config." + k] = (SecretPolicy.redact(k, shown_old, policy.secrets),
                                     SecretPolicy.redact(k, v, policy.secrets))
                cfg[k] = v
        stale = sorted(k for k in cur["overrides"] if k not in want_cfg)
        destructive = False
        for k in stale:
            shown = SecretPolicy.redact(k, cur["overrides"][k], policy.secrets)
            if policy.prune_config:
                ch["config." + k] = (shown, None)
                cfg[k] = None
                destructive = True
            else:
                notes.append("config %s=%s is set on the topic but not managed by the project "
                             "(left alone; --prune-config resets it)" % (k, shown))
        if cfg:
            data["config"] = cfg
        action = "update" if (ch or refused) else "unchanged"
        out.append(Change("topic", name, action, ch, notes=notes,
                          refused="; ".join(refused) or None, destructive=destructive,
                          desired=t, live=cur, data=data))
    for name in live.get("orphans", ()):
        out.append(_TargetParts.orphan_change("topic", name, "topics", policy))
    return out


# -- Schema Registry -------------------------------------------------------------

class SchemaRegistryTarget(object):
    """Subjects: identical schema (canonical form) -> unchanged; a new version is checked
    for compatibility at plan time; the subject's compatibility level is managed."""

    kind = "schema"
    CT = "application/vnd.schemaregistry.v1+json"

    def __init__(self, runtime, http=None):
        block = runtime.get("schema_registry") or {}
        self.http = http or _TargetParts.http_for(block, "url", "Schema Registry",
                                      headers={"Accept": self.CT})

    def hosts(self):
        return [self.http.host]

    def observe(self, items, policy):
        live = {"subjects": {}, "orphans": []}
        all_subjects = self.http.check_shape(self.http.request("GET", "/subjects"), list)
        have = set(all_subjects)
        wanted = set(s["subject"] for s in items)
        for s in sorted(wanted & have):
            q = "/subjects/%s/versions/latest" % Http.quote(s)
            resp = self.http.request("GET", q, expect=(200, 404))
            if resp.status == 404:
                continue
            v = self.http.check_shape(resp, dict, keys=("schema",))
            resp = self.http.request("GET", "/config/%s" % Http.quote(s), expect=(200, 404))
            level = None
            if resp.status == 200:
                level = (resp.json() or {}).get("compatibilityLevel")
            live["subjects"][s] = {"version": v.get("version"), "id": v.get("id"),
                                   "schema": v["schema"],
                                   "schema_type": v.get("schemaType") or "AVRO",
                                   "compatibility": level}
        return live  # no orphans: subjects carry no ownership marker (see above)

    def plan(self, items, live, policy):
        out = []
        for s in sorted(items, key=lambda x: x["subject"]):
            name = s["subject"]
            cur = live["subjects"].get(name)
            stype = (s.get("schema_type") or "AVRO").upper()
            if cur is None:
                ch = {"schema_type": (None, stype)}
                if s.get("compatibility"):
                    ch["compatibility"] = (None, s["compatibility"])
                out.append(Change("schema", name, "create", ch, desired=s))
                continue
            ch, refused, data = {}, None, {}
            if canonical_schema(s["schema"], stype) != canonical_schema(cur["schema"],
                                                                        cur["schema_type"]):
                ch["version"] = (cur["version"], "new")
                data["register"] = True
                ok, messages = self.check_compatibility(name, s)
                if not ok:
                    refused = "incompatible with version %s: %s" % (
                        cur["version"], "; ".join(messages) or "Schema Registry says incompatible")
            if s.get("compatibility") and s["compatibility"] != cur["compatibility"]:
                ch["compatibility"] = (cur["compatibility"], s["compatibility"])
                data["compatibility"] = s["compatibility"]
            out.append(Change("schema", name, "update" if ch else "unchanged", ch,
                              refused=refused, desired=s, live=cur, data=data))
        for name in live["orphans"]:
            out.append(_TargetParts.orphan_change("schema", name, "schemas", policy))
        return out

    def check_compatibility(self, subject, s):
        resp = self.http.request(
            "POST", "/compatibility/subjects/%s/versions/latest" % Http.quote(subject),
            body=self._body(s), query={"verbose": "true"}, expect=(200, 404),
            content_type=self.CT, idempotent=True, mutating=False)
        if resp.status == 404:
            return True, []
        obj = self.http.check_shape(resp, dict, keys=("is_compatible",))
        return bool(obj["is_compatible"]), [str(m) for m in obj.get("messages") or []]

    def validate(self, changes):
        return []  # compatibility was checked while planning

    def apply(self, changes, done):
        for c in changes:
            if c.action in ("create", "update"):
                level = c.desired.get("compatibility")
                if level and (c.live is None or c.live.get("compatibility") != level):
                    self.http.request("PUT", "/config/%s" % Http.quote(c.name),
                                      body={"compatibility": level}, content_type=self.CT)
                if c.action == "create" or c.data.get("register"):
                    resp = self.http.request(
                        "POST", "/subjects/%s/versions" % Http.quote(c.name), body=self._body(c.desired),
                        content_type=self.CT, idempotent=True)  # SR: same schema -> same id
                    self.http.check_shape(resp, dict, keys=("id",))
                done(c)
            elif c.action == "delete":
                self.http.request("DELETE", "/subjects/%s" % Http.quote(c.name), expect=(200, 404))
                self.http.request("DELETE", "/subjects/%s" % Http.quote(c.name),
                                  query={"permanent": "true"}, expect=(200, 404))
                done(c)

    def snapshot(self, items, live):
        return dict((n, {"version": v["version"], "schema_type": v["schema_type"],
                         "schema": canonical_schema(v["schema"], v["schema_type"]),
                         "compatibility": v["compatibility"]})
                    for n, v in sorted(live["subjects"].items()))

    @staticmethod
    def _body(s):
        body = {"schema": s["schema"] if isinstance(s["schema"], str) else json.dumps(s["schema"])}
        stype = (s.get("schema_type") or "AVRO").upper()
        if stype != "AVRO":
            body["schemaType"] = stype
        if s.get("references"):
            body["references"] = s["references"]
        return body


# -- Flink -----------------------------------------------------------------------

class FlinkTarget(object):
    """Flink SQL jobs: found in Flink REST by the name streamt gives them; submitted
    through the SQL Gateway, each in its own session (closed afterwards) so that SET
    and CREATE TABLE of one job never leak into the next.

    Same fingerprint and active -> unchanged.  Changed -> per on_upgrade: `savepoint`
    (stop with a savepoint, resubmit from it), `stateless` (cancel, resubmit),
    `refuse` (refused at plan time).  Not active (FAILED, CANCELED, FINISHED, absent) ->
    resubmitted, from the newest savepoint of the last run when there is one (so a
    deploy killed between "stop" and "submit" resumes with its state).  Extra active
    copies of one job are cancelled: never two running copies."""

    kind = "flink_job"
    POLL = 0.5

    def __init__(self, runtime, clusters_used, sleep=None, wait_timeout=120.0):
        self.runtime = runtime
        self.clusters = {}
        for name in sorted(set(clusters_used)):
            cname, block = _TargetParts.cluster_block(runtime, "flink", name, "Flink")
            self.clusters[name] = {
                "name": cname, "block": block,
                "rest": _TargetParts.http_for(block, "rest_url", "Flink REST"),
                "gateway": _TargetParts.http_for(block, "sql_gateway_url", "Flink SQL Gateway",
                                     retries=2)}
        self._sleep = sleep
        self.wait_timeout = wait_timeout

    def http_clients(self):
        return [c[k] for _, c in sorted(self.clusters.items()) for k in ("rest", "gateway")]

    def hosts(self):
        return sorted(set(h.host for h in self.http_clients()))

    def observe(self, items, policy):
        live, prev, slots = {}, {}, {}
        for key, c in sorted(self.clusters.items()):
            obj = c["rest"].check_shape(c["rest"].request("GET", "/jobs/overview"), dict,
                                        keys=("jobs",))
            jobs = []
            previous = []
            for j in obj["jobs"]:
                m = _TargetParts.FLINK_MARKER_RE.match(j.get("name") or "")
                if not m and j.get("state") in _TargetParts.FLINK_ACTIVE:
                    # not ours: perhaps the original streamt's (previous_tool_job_names)
                    previous.append({"id": j.get("jid"), "name": j.get("name") or "",
                                     "state": j.get("state"),
                                     "start": j.get("start-time") or 0})
                if not m or m.group(2) != policy.project:
                    continue
                jobs.append({"id": j.get("jid"), "pipeline_name": m.group(1),
                             "fp": m.group(3), "state": j.get("state"),
                             "start": j.get("start-time") or 0, "end": j.get("end-time") or 0})
            jobs.sort(key=lambda j: (j["pipeline_name"], j["start"], j["id"]))
            live[key] = jobs
            previous.sort(key=lambda j: (j["start"], j["id"]))
            prev[key] = previous
            # why the last run of a pipeline failed (the plan says it), and the free
            # task slots (the plan says when the jobs it submits will not get them)
            last = dict((j["pipeline_name"], j) for j in jobs)
            for j in last.values():
                if j["state"] == "FAILED":
                    j["failure"] = self._exception_of(c, j["id"])[2:] or None
            slots[key] = self._slots(c)
        return {"jobs": live, "previous": prev, "slots": slots}

    def plan(self, items, live, policy):
        out = []
        wanted = set()
        claimed = set()
        for j in sorted(items, key=lambda x: x["name"]):
            cl = j.get("cluster")
            wanted.add((cl, j["pipeline_name"]))
            jobs = [x for x in live["jobs"].get(cl, []) if x["pipeline_name"] == j["pipeline_name"]]
            active = [x for x in jobs if x["state"] in _TargetParts.FLINK_ACTIVE]
            fp = _TargetParts.short_fp(j["fingerprint"])
            data = {"cancel": [], "stop": None}
            notes, ch, refused = [], {}, None
            names = previous_tool_job_names(j, (getattr(self, "model_topics", None) or {})
                                            .get(j.get("model"), ()))
            adopted = [x for x in (live.get("previous") or {}).get(cl, [])
                       if x["name"] in names and x["id"] not in claimed]
            claimed.update(x["id"] for x in adopted)
            same = [x for x in active if x["fp"] == fp and x["state"] != "CANCELLING"]
            if adopted and (active or j.get("on_upgrade") == "stateless"):
                # ours already runs, or no state is to be kept: the previous tool's copy goes
                notes.append("adopted from the previous tool (the original streamt): its "
                             "job%s %s cancelled, never two running copies" % (
                                 "s" if len(adopted) > 1 else "",
                                 ", ".join("%s %r" % (x["id"], x["name"]) for x in adopted)))
                ch["adopted"] = (", ".join(x["name"] for x in adopted), j["pipeline_name"])
                extra = [x["id"] for x in adopted]
            elif adopted:
                cur = adopted[-1]
                ch["adopted"] = (cur["name"], j["pipeline_name"])
                ch["fingerprint"] = (None, fp)
                if j.get("on_upgrade") == "refuse":
                    refused = ("job %s %r of the previous tool (the original streamt) runs "
                               "this model; adopting it restarts it and on_upgrade is "
                               "'refuse' (set 'savepoint', or stop that job yourself)"
                               % (cur["id"], cur["name"]))
                notes.append("adopted from the previous tool (the original streamt): its "
                             "job %s %r is stopped with a savepoint and resubmitted from it "
                             "under streamt's name" % (cur["id"], cur["name"]))
                data["stop"] = cur["id"]
                data["cancel"] = [x["id"] for x in adopted if x is not cur]
                if data["cancel"]:
                    notes.append("cancels %d more cop%s of it" % (
                        len(data["cancel"]), "y" if len(data["cancel"]) == 1 else "ies"))
                out.append(Change("flink_job", j["name"], "update", ch, notes=notes,
                                  refused=refused, desired=j, cluster=cl, live=cur, data=data))
                continue
            else:
                extra = []
            if same:
                keep = same[-1]
                data["cancel"] = [x["id"] for x in active if x is not keep] + extra
                if not data["cancel"]:
                    out.append(Change("flink_job", j["name"], "unchanged", {}, desired=j,
                                      cluster=cl, live=keep,
                                      notes=["job %s %s" % (keep["id"], keep["state"])]))
                    continue
                ch["copies"] = (len(active) + len(extra), 1)
                notes.append("cancels %d extra cop%s of the job"
                             % (len(data["cancel"]), "y" if len(data["cancel"]) == 1 else "ies"))
                out.append(Change("flink_job", j["name"], "update", ch, notes=notes, desired=j,
                                  cluster=cl, live=keep, data=data))
                continue
            mode = j.get("on_upgrade") or "savepoint"
            if active:
                cur = active[-1]
                ch["fingerprint"] = (cur["fp"], fp)
                if mode == "refuse":
                    refused = ("the SQL changed and on_upgrade is 'refuse' (job %s is %s)"
                               % (cur["id"], cur["state"]))
                elif mode == "stateless":
                    data["cancel"] = [x["id"] for x in active] + extra
                    notes.append("cancel job %s and resubmit without state (on_upgrade: "
                                 "stateless)" % cur["id"])
                else:
                    data["stop"] = cur["id"]
                    data["cancel"] = [x["id"] for x in active if x is not cur] + extra
                    notes.append("stop job %s with a savepoint and resubmit from it" % cur["id"])
                out.append(Change("flink_job", j["name"], "update", ch, notes=notes,
                                  refused=refused, desired=j, cluster=cl, live=cur, data=data))
                continue
            last = jobs[-1] if jobs else None
            data["cancel"] = extra   # stateless: the previous tool's copy is cancelled
            if last is not None:
                data["restore_from"] = last["id"] if mode == "savepoint" else None
                ch["state"] = (last["state"], "RUNNING")
                notes.append("resubmit (last run %s is %s%s)" % (
                    last["id"], last["state"],
                    ": " + last["failure"] if last.get("failure") else ""))
                if "NoResourceAvailable" in (last.get("failure") or ""):
                    notes.append(FlinkTarget.NO_SLOTS_HINT)
                out.append(Change("flink_job", j["name"], "update", ch, notes=notes, desired=j,
                                  cluster=cl, live=last, data=data))
            else:
                ch["fingerprint"] = (None, fp)
                out.append(Change("flink_job", j["name"], "create", ch, notes=notes, desired=j,
                                  cluster=cl, data=data))
        for cl, jobs in sorted(live["jobs"].items()):
            for pn in sorted(set(x["pipeline_name"] for x in jobs)):
                active = [x for x in jobs if x["pipeline_name"] == pn and x["state"] in _TargetParts.FLINK_ACTIVE]
                if (cl, pn) in wanted or not active:
                    continue
                out.append(_TargetParts.orphan_change("flink_job", pn, "flink_jobs", policy, cluster=cl,
                                          data={"cancel": [x["id"] for x in active]}))
        FlinkTarget.note_slots(out, live.get("slots") or {})
        return out

    NO_SLOTS_HINT = ("Flink had no free task slot for it (NoResourceAvailable): cancel jobs "
                     "you no longer need, add TaskManagers or raise "
                     "taskmanager.numberOfTaskSlots, or lower advanced.flink.parallelism")

    @staticmethod
    def note_slots(changes, slots):
        """Notes on the jobs a plan starts (creates, resubmits of a run that is no
        longer active) that the free task slots of their cluster cannot hold: one slot
        per parallel task (slot sharing), in apply order.  An upgrade in place reuses
        the slots of the run it stops.  Notes, not refusals (a cluster that starts
        TaskManagers on demand may still find the slots) -- except for a job whose last run
        already failed for want of slots: resubmitting it while the slots are still
        missing would only pile up FAILED runs, so that change is refused."""
        free = dict((cl, s["available"]) for cl, s in slots.items() if s)
        for c in changes:
            if c.cluster not in free or not c.mutating or c.action == "delete":
                continue
            if c.data.get("stop") or c.data.get("cancel") or (
                    c.live is not None and c.live.get("state") in _TargetParts.FLINK_ACTIVE):
                continue
            m = re.search(r"^SET 'parallelism\.default' = '(\d+)';",
                          (c.desired or {}).get("sql") or "", re.M)
            need = int(m.group(1)) if m else 1
            if need > free[c.cluster]:
                c.notes.append("needs %d task slot%s, Flink has %d free of %d: it will not "
                               "start. %s" % (need, "" if need == 1 else "s",
                                              max(free[c.cluster], 0),
                                              slots[c.cluster]["total"],
                                              FlinkTarget.NO_SLOTS_HINT))
                if "NoResourceAvailable" in ((c.live or {}).get("failure") or ""):
                    # its last run already failed for want of slots and they are still
                    # missing: a resubmit would only leave one more FAILED run behind
                    c.refused = ("its last run failed for want of task slots and Flink still "
                                 "has %d free of %d: make room (or lower its parallelism), "
                                 "then run again" % (max(free[c.cluster], 0),
                                                     slots[c.cluster]["total"]))
            free[c.cluster] -= need

    def validate(self, changes):
        return []  # the SQL Gateway has no dry run for INSERT jobs; build-time checks did that

    def apply(self, changes, done):
        for c in changes:
            if not c.mutating:
                continue
            cl = self.clusters[c.cluster]
            if c.action == "delete":
                for jid in c.data.get("cancel", []):
                    self._cancel(cl, jid)
                done(c)
                continue
            savepoint = None
            if c.data.get("stop"):
                savepoint = self._stop_with_savepoint(cl, c.data["stop"])
            elif c.data.get("restore_from"):
                savepoint = self._latest_savepoint(cl, c.data["restore_from"])
            for jid in c.data.get("cancel", []):
                self._cancel(cl, jid)
            if (c.action == "update" and not c.data.get("stop") and not c.data.get("restore_from")
                    and c.live is not None and c.live.get("fp") == _TargetParts.short_fp(c.desired["fingerprint"])
                    and c.live.get("state") in _TargetParts.FLINK_ACTIVE):
                done(c)       # only extra copies were cancelled
                continue
            if savepoint:
                c.notes.append("restored from the savepoint %s" % savepoint)
            c.restored_from = savepoint
            try:
                self._submit(cl, c.desired, savepoint)
            except StreamtError as e:
                if savepoint:
                    e.details.append("the previous run's state is kept in the savepoint %s; "
                                     "the next deploy resubmits from it" % savepoint)
                raise
            done(c)

    def snapshot(self, items, live):
        out = {}
        for cl, jobs in sorted(live["jobs"].items()):
            for x in jobs:
                if x["state"] in _TargetParts.FLINK_ACTIVE:
                    # fingerprints only: a run state (RESTARTING, FAILED) is not a change
                    # of what was deployed, and must not block the deploy that fixes it
                    out.setdefault(x["pipeline_name"], []).append(x["fp"])
        return dict((k, sorted(v)) for k, v in out.items())

    # -- helpers

    def _wait(self, seconds):
        if self._sleep:
            self._sleep(seconds)
        else:
            import time
            time.sleep(seconds)

    def _deadline(self):
        import time
        return time.time() + self.wait_timeout

    @staticmethod
    def _now():
        import time
        return time.time()

    def _cancel(self, cl, jid):
        cl["rest"].request("PATCH", "/jobs/%s" % Http.quote(jid), query={"mode": "cancel"},
                           expect=(200, 202, 404))
        self._wait_state(cl, jid, ("CANCELED", "FINISHED", "FAILED"), "cancel")

    def _wait_state(self, cl, jid, states, what):
        end = self._deadline()
        while True:
            resp = cl["rest"].request("GET", "/jobs/%s" % Http.quote(jid), expect=(200, 404))
            if resp.status == 404:
                return None
            state = cl["rest"].check_shape(resp, dict, keys=("state",))["state"]
            if state in states:
                return state
            if self._now() > end:
                raise ServiceError("Flink job %s did not %s within %ds (state %s)"
                                   % (jid, what, self.wait_timeout, state))
            self._wait(self.POLL)

    def _stop_with_savepoint(self, cl, jid):
        body = {"drain": False}
        target = cl["block"].get("savepoint_dir")
        if target:
            body["targetDirectory"] = target
        resp = cl["rest"].request("POST", "/jobs/%s/stop" % Http.quote(jid), body=body,
                                  expect=(200, 202))
        trig = cl["rest"].check_shape(resp, dict, keys=("request-id",))["request-id"]
        end = self._deadline()
        attempts = 0
        while True:
            obj = cl["rest"].get_json("/jobs/%s/savepoints/%s" % (Http.quote(jid), Http.quote(trig)),
                                      shape=dict)
            status = (obj.get("status") or {}).get("id")
            if status == "COMPLETED":
                op = obj.get("operation") or {}
                if op.get("failure-cause"):
                    cause = op["failure-cause"]
                    text = flink_root_cause(cause.get("stack-trace") or cause.get("class")
                                            or str(cause))
                    if ("not all required tasks are currently running" in text.lower()
                            and attempts < 20):
                        attempts += 1   # tasks still deploying (a restart): try again
                        self._wait(self.POLL * 2)
                        resp = cl["rest"].request("POST", "/jobs/%s/stop" % Http.quote(jid),
                                                  body=body, expect=(200, 202))
                        trig = cl["rest"].check_shape(resp, dict,
                                                      keys=("request-id",))["request-id"]
                        continue
                    hint = None
                    if "directory" in text.lower() or "savepoints.dir" in text:
                        hint = ("set savepoint_dir in the Flink cluster's runtime block (or "
                                "state.savepoints.dir on the cluster)")
                    raise ServiceError("Flink could not stop job %s with a savepoint: %s"
                                       % (jid, text), hint=hint)
                self._wait_state(cl, jid, ("FINISHED", "CANCELED", "FAILED"), "stop")
                return op.get("location")
            if self._now() > end:
                raise ServiceError("Flink: the savepoint of job %s did not complete within %ds"
                                   % (jid, self.wait_timeout))
            self._wait(self.POLL)

    def _latest_savepoint(self, cl, jid):
        resp = cl["rest"].request("GET", "/jobs/%s/checkpoints" % Http.quote(jid), expect=(200, 404))
        if resp.status == 404:
            return None
        latest = (resp.json() or {}).get("latest") or {}
        # the newest of the last savepoint and the last retained checkpoint
        found = [(x.get("latest_ack_timestamp") or 0, x.get("external_path"))
                 for x in (latest.get("savepoint"), latest.get("completed"))
                 if x and x.get("external_path") and not x.get("discarded")]
        return max(found)[1] if found else None

    def _submit(self, cl, job, savepoint):
        """Run the job's SQL in a fresh session; wait (bounded) until the job runs."""
        gw = cl["gateway"]
        props = {"pipeline.name": job["pipeline_name"] + FLINK_JOB_MARKER % (
            _TargetParts.project_of(self), _TargetParts.short_fp(job["fingerprint"]))}
        if savepoint:
            # Flink 1.20+/2.x names first, the older names for older clusters.  SQL changed:
            # state of operators that no longer exist must not block the restore.
            props["execution.state-recovery.path"] = savepoint
            props["execution.state-recovery.ignore-unclaimed-state"] = "true"
            props["execution.savepoint.path"] = savepoint
            props["execution.savepoint.ignore-unclaimed-state"] = "true"
        resp = gw.request("POST", "/v1/sessions", body={"properties": props,
                                                        "sessionName": job["name"]},
                          idempotent=False)
        session = gw.check_shape(resp, dict, keys=("sessionHandle",))["sessionHandle"]
        job_id = None
        try:
            for stmt in _TargetParts.sql_statements(job["sql"]):
                if any(_TargetParts.sets_key(stmt, k) for k in (
                        "pipeline.name", "execution.savepoint.path",
                        "execution.state-recovery.path")):
                    continue   # streamt owns these (identity, restore)
                jid = self._run_statement(gw, session, stmt, job["name"])
                job_id = jid or job_id
        finally:
            try:
                gw.request("DELETE", "/v1/sessions/%s" % Http.quote(session), expect=(200, 404))
            except StreamtError:
                pass
        if job_id:
            self._wait_tasks_running(cl, job_id)
        return job_id

    def _wait_tasks_running(self, cl, jid):
        """Wait until the job and all its tasks run: a job reported RUNNING whose tasks
        are still being deployed cannot take a savepoint yet (and may still fail)."""
        end = self._deadline()
        while True:
            obj = cl["rest"].get_json("/jobs/%s" % Http.quote(jid), shape=dict)
            state = obj.get("state")
            vertices = obj.get("vertices") or []
            if state in ("FAILED", "CANCELED"):
                cause = self._exception_of(cl, jid)
                if "NoResourceAvailable" in cause:
                    # (a scheduler may fail it at once rather than let it wait: same advice)
                    need = max([int(v.get("parallelism") or 1) for v in vertices] or [1])
                    slots = self._slots(cl) or {"available": "?", "total": "?"}
                    raise ServiceError(
                        "Flink job %s got no task slots (it needs %d, Flink has %s free of %s): "
                        "it is %s right after submission%s" % (
                            jid, need, slots["available"], slots["total"], state, cause),
                        hint=FlinkTarget.NO_SLOTS_HINT)
                raise ServiceError("Flink job %s is %s right after submission%s"
                                   % (jid, state, cause))
            if state == "FINISHED" or (state == "RUNNING" and vertices and all(
                    v.get("status") in ("RUNNING", "FINISHED") for v in vertices)):
                return state
            if self._now() > end:
                # cancelled, not left waiting: it would fail later (NoResourceAvailable)
                # and every retry would leave one more FAILED job behind
                waiting = [v for v in vertices if v.get("status") in ("CREATED", "SCHEDULED")]
                slots = self._slots(cl) if waiting else None
                try:
                    self._cancel(cl, jid)
                except StreamtError:
                    pass
                if slots is not None:
                    need = max([int(v.get("parallelism") or 1) for v in vertices] or [1])
                    raise ServiceError(
                        "Flink job %s got no task slots within %ds (it needs %d, Flink has "
                        "%d free of %d); it was cancelled" % (
                            jid, self.wait_timeout, need, slots["available"], slots["total"]),
                        hint=FlinkTarget.NO_SLOTS_HINT)
                raise ServiceError("Flink job %s did not start within %ds (state %s); it was "
                                   "cancelled" % (jid, self.wait_timeout, state))
            self._wait(self.POLL)

    @staticmethod
    def _slots(cl):
        """{"total", "available"} task slots of a cluster, None if it does not say."""
        try:
            ov = cl["rest"].get_json("/overview", shape=dict)
            return {"total": int(ov["slots-total"]), "available": int(ov["slots-available"])}
        except (StreamtError, KeyError, TypeError, ValueError):
            return None

    def _exception_of(self, cl, jid):
        try:
            obj = cl["rest"].get_json("/jobs/%s/exceptions" % Http.quote(jid), shape=dict)
        except StreamtError:
            return ""
        entries = ((obj.get("exceptionHistory") or {}).get("entries")) or []
        if entries:
            return ": " + flink_root_cause(entries[0].get("stacktrace") or "")
        return ""

    def _run_statement(self, gw, session, stmt, job_name):
        base = "/v1/sessions/%s" % Http.quote(session)
        resp = gw.request("POST", base + "/statements", body={"statement": stmt},
                          idempotent=False)
        op = gw.check_shape(resp, dict, keys=("operationHandle",))["operationHandle"]
        opbase = base + "/operations/%s" % Http.quote(op)
        end = self._deadline()
        while True:
            st = gw.get_json(opbase + "/status", shape=dict).get("status")
            if st in ("FINISHED", "ERROR", "CANCELED", "CLOSED", "TIMEOUT"):
                break
            if self._now() > end:
                raise ServiceError("Flink SQL Gateway: statement of job %s still %s after %ds"
                                   % (job_name, st, self.wait_timeout),
                                   details=[_TargetParts.shorten(stmt)])
            self._wait(self.POLL)
        resp = gw.request("GET", opbase + "/result/0", query={"rowFormat": "JSON"},
                          expect=(200, 400, 500))
        if st != "FINISHED" or resp.status != 200:
            msg = Http.service_message(resp.text) if resp.status != 200 else st
            raise ServiceError("Flink rejected a statement of job %s: %s" % (job_name, msg),
                               details=["statement: " + _TargetParts.shorten(stmt)],
                               hint="fix the model's SQL; `streamt build` shows the full file")
        obj = resp.json() or {}
        return obj.get("jobID")


def previous_tool_job_names(job, topics=()):
    """The Flink job names under which the original conduktor/streamt runs this model's
    job: it sets no pipeline.name, so Flink names an INSERT submitted through the SQL
    Gateway ``insert-into_<catalog>.<database>.<sink table>``, the sink table being the
    model's topic with '.' and '-' made '_' plus ``_sink``; ``<model>_processor`` and
    ``<model>`` are the names its artifact gives the job.  Exact names only (the
    original's suffix match adopts orders_clean_sink for a model 'clean')."""
    model = job.get("model")
    if job.get("kind") == "test" or not isinstance(model, str):
        return set()
    names = set([model + "_processor", model])
    for t in [model] + list(topics or ()):
        sink = re.sub(r"[.-]", "_", t) + "_sink"
        names.add("insert-into_default_catalog.default_database." + sink)
    return names


# -- Kafka Connect ---------------------------------------------------------------

class ConnectTarget(object):
    """Connectors: configs compared key by key (streamt adds "streamt.project" as its
    ownership marker); PUT /connectors/{name}/config when different (409 during a
    rebalance is retried); after a change, wait (bounded) for RUNNING and report failed
    tasks with the first line of their trace."""

    kind = "connector"
    MARKER = "streamt.project"
    POLL = 0.5

    def __init__(self, runtime, clusters_used, sleep=None, wait_timeout=60.0):
        self.clusters = {}
        for name in sorted(set(clusters_used)):
            cname, block = _TargetParts.cluster_block(runtime, "connect", name, "Kafka Connect")
            self.clusters[name] = _TargetParts.http_for(block, "rest_url", "Kafka Connect")
        self._sleep = sleep
        self.wait_timeout = wait_timeout

    def http_clients(self):
        return [h for _, h in sorted(self.clusters.items())]

    def hosts(self):
        return sorted(set(h.host for h in self.http_clients()))

    def desired_config(self, item, policy):
        cfg = dict((k, _TargetParts.config_text(v)) for k, v in (item.get("config") or {}).items())
        cfg["name"] = item["name"]
        cfg[self.MARKER] = policy.project
        return cfg

    def observe(self, items, policy):
        live = {}
        for key, http in sorted(self.clusters.items()):
            resp = http.request("GET", "/connectors", query=[("expand", "info"), ("expand", "status")])
            obj = resp.json()
            conns = {}
            if isinstance(obj, list):      # an old Connect without ?expand
                for n in obj:
                    cfg = http.get_json("/connectors/%s/config" % Http.quote(n), shape=dict)
                    st = http.request("GET", "/connectors/%s/status" % Http.quote(n), expect=(200, 404))
                    conns[n] = {"config": cfg, "status": st.json() if st.status == 200 else {}}
            elif isinstance(obj, dict):
                for n, v in obj.items():
                    conns[n] = {"config": ((v or {}).get("info") or {}).get("config") or {},
                                "status": (v or {}).get("status") or {}}
            else:
                http.check_shape(resp, dict)
            live[key] = conns
        return {"connectors": live}

    def plan(self, items, live, policy):
        out, wanted = [], set()
        for c in sorted(items, key=lambda x: x["name"]):
            cl = c.get("cluster")
            wanted.add((cl, c["name"]))
            want = self.desired_config(c, policy)
            cur = live["connectors"].get(cl, {}).get(c["name"])
            if cur is None:
                ch = dict((k, (None, SecretPolicy.redact(k, v, policy.secrets)))
                          for k, v in sorted(want.items()))
                out.append(Change("connector", c["name"], "create", ch, desired=c, cluster=cl,
                                  data={"config": want}))
                continue
            ch = _TargetParts.changes_of(cur["config"], want, policy)
            state = ((cur["status"] or {}).get("connector") or {}).get("state")
            failed = [t for t in (cur["status"] or {}).get("tasks") or [] if t.get("state") == "FAILED"]
            notes, data = [], {"config": want}
            if not ch and (state == "FAILED" or failed):
                data["restart"] = True
                ch["state"] = (state if state == "FAILED" else "tasks FAILED", "RUNNING")
                notes.append("restart the connector and its failed tasks")
            out.append(Change("connector", c["name"], "update" if ch else "unchanged", ch,
                              notes=notes, desired=c, live=cur, cluster=cl, data=data))
        for cl, conns in sorted(live["connectors"].items()):
            for n, cur in sorted(conns.items()):
                if (cl, n) not in wanted and cur["config"].get(self.MARKER) == policy.project:
                    out.append(_TargetParts.orphan_change("connector", n, "connectors", policy, cluster=cl))
        return out

    def validate(self, changes):
        errors = []
        for c in changes:
            if c.action not in ("create", "update") or c.refused:
                continue
            http = self.clusters[c.cluster]
            cfg = c.data["config"]
            cls = cfg.get("connector.class", "")
            resp = http.request("PUT", "/connector-plugins/%s/config/validate"
                                % Http.quote(cls.rsplit(".", 1)[-1]), body=cfg, mutating=False)
            obj = http.check_shape(resp, dict, keys=("error_count",))
            if obj["error_count"]:
                for item in obj.get("configs") or []:
                    v = item.get("value") or {}
                    for e in v.get("errors") or []:
                        errors.append("connector %s: %s: %s" % (c.name, v.get("name"), e))
        return errors

    def apply(self, changes, done):
        for c in changes:
            if not c.mutating:
                continue
            http = self.clusters[c.cluster]
            if c.action == "delete":
                http.request("DELETE", "/connectors/%s" % Http.quote(c.name), expect=(200, 204, 404),
                             retry_conflict=True)
                done(c)
                continue
            if c.data.get("restart") and not (set(c.changes) - {"state"}):
                http.request("POST", "/connectors/%s/restart" % Http.quote(c.name),
                             query={"includeTasks": "true", "onlyFailed": "true"},
                             expect=(200, 202, 204), retry_conflict=True, idempotent=True)
            else:
                http.request("PUT", "/connectors/%s/config" % Http.quote(c.name),
                             body=c.data["config"], expect=(200, 201), retry_conflict=True)
            self._wait_running(http, c.name)
            done(c)

    def _wait_running(self, http, name):
        import time
        end = time.time() + self.wait_timeout
        stable = 0
        while True:
            resp = http.request("GET", "/connectors/%s/status" % Http.quote(name), expect=(200, 404))
            st = resp.json() if resp.status == 200 else {}
            state = ((st or {}).get("connector") or {}).get("state")
            tasks = (st or {}).get("tasks") or []
            failed = [t for t in tasks if t.get("state") == "FAILED"]
            if state == "FAILED" or failed:
                details = []
                if state == "FAILED":
                    details.append("connector: " + Http.first_line(
                        (st.get("connector") or {}).get("trace") or "FAILED"))
                for t in failed:
                    details.append("task %s: %s" % (t.get("id"), Http.first_line(t.get("trace") or "FAILED")))
                raise ServiceError("Kafka Connect: connector %s failed" % name, details=details,
                                   hint="GET /connectors/%s/status on the Connect worker shows "
                                        "the full traces" % name)
            if state == "RUNNING" and tasks and all(t.get("state") == "RUNNING" for t in tasks):
                # right after a config change the status may still be the previous
                # generation's: RUNNING must hold for a few polls (a rebalance shows as
                # UNASSIGNED in between)
                stable += 1
                if stable >= 3:
                    return
            else:
                stable = 0
            if time.time() > end:
                raise ServiceError("Kafka Connect: connector %s not RUNNING after %ds (state %s)"
                                   % (name, self.wait_timeout, state))
            if self._sleep:
                self._sleep(self.POLL)
            else:
                time.sleep(self.POLL)

    def snapshot(self, items, live):
        out = {}
        wanted = set(c["name"] for c in items)
        project = getattr(self, "project", None)
        for cl, conns in sorted(live["connectors"].items()):
            for n, cur in sorted(conns.items()):
                if n not in wanted and cur["config"].get(self.MARKER) != project:
                    continue  # another team's connector: not ours to watch
                out[n] = {"config": dict((k, SecretPolicy.redact(k, v))
                                         for k, v in sorted(cur["config"].items()))}
        return out


# -- Conduktor Gateway -----------------------------------------------------------

class GatewayTarget(object):
    """Gateway v2 Interceptors and AliasTopics, each identified by (kind, name, scope).
    Upsert with PUT (dry run: ?dryMode=true); deletes send the scope."""

    kind = "gateway"
    PATHS = {"Interceptor": "/gateway/v2/interceptor", "AliasTopic": "/gateway/v2/alias-topic"}

    def __init__(self, runtime):
        block = ((runtime.get("conduktor") or {}).get("gateway")) or {}
        self.http = _TargetParts.http_for(block, "admin_url", "Conduktor Gateway")
        self.vcluster = block.get("virtual_cluster")

    def hosts(self):
        return [self.http.host]

    @staticmethod
    def key(res):
        md = res.get("metadata") or {}
        scope = md.get("scope") or {}
        if res.get("kind") == "AliasTopic":
            scope = {"vCluster": md.get("vCluster") or "passthrough"}
        scope = dict((k, v) for k, v in sorted(scope.items()) if v is not None)
        label = md.get("name", "")
        if scope:
            label += " (%s)" % ", ".join("%s=%s" % kv for kv in sorted(scope.items()))
        return res.get("kind"), md.get("name"), json.dumps(scope, sort_keys=True), label

    def observe(self, items, policy):
        live = {}
        for kind, path in sorted(self.PATHS.items()):
            for res in self.http.check_shape(self.http.request("GET", path), list):
                k = self.key(res)
                live[k[:3]] = res
        return {"resources": live}

    def plan(self, items, live, policy):
        out, wanted = [], set()
        for res in sorted(items, key=lambda r: self.key(r)[:3]):
            k = self.key(res)
            wanted.add(k[:3])
            name = "%s %s" % (k[0], k[3])
            cur = live["resources"].get(k[:3])
            want = _TargetParts.flatten_spec(res.get("spec") or {}, "spec.")
            if cur is None:
                ch = dict((kk, (None, SecretPolicy.redact(kk, v, policy.secrets))) for kk, v in want.items())
                out.append(Change("gateway", name, "create", ch, desired=res))
                continue
            ch = _TargetParts.changes_of(_TargetParts.flatten_spec(cur.get("spec") or {}, "spec."), want, policy)
            out.append(Change("gateway", name, "update" if ch else "unchanged", ch,
                              desired=res, live=cur))
        for k, cur in sorted(live["resources"].items()):
            if k not in wanted and _TargetParts.owned_name(k[1] or "", policy.project):
                out.append(_TargetParts.orphan_change("gateway", "%s %s" % (k[0], self.key(cur)[3]),
                                          "gateway", policy, data={"resource": cur}))
        return out

    def validate(self, changes):
        errors = []
        for c in changes:
            if c.action in ("create", "update") and not c.refused:
                try:
                    self.http.request("PUT", self.PATHS[c.desired["kind"]], body=c.desired,
                                      query={"dryMode": "true"}, expect=(200, 201),
                                      mutating=False)
                except HttpError as e:
                    errors.append("%s: %s" % (c.name, e.message))
        return errors

    def apply(self, changes, done):
        for c in changes:
            if c.action in ("create", "update") and not c.refused:
                self.http.request("PUT", self.PATHS[c.desired["kind"]], body=c.desired,
                                  expect=(200, 201))
                done(c)
            elif c.action == "delete":
                res = c.data["resource"]
                md = res.get("metadata") or {}
                if res.get("kind") == "Interceptor":
                    self.http.request("DELETE", "%s/%s" % (self.PATHS["Interceptor"],
                                                           Http.quote(md.get("name"))),
                                      body=md.get("scope") or {}, expect=(200, 204, 404))
                else:
                    self.http.request("DELETE", self.PATHS["AliasTopic"],
                                      body={"name": md.get("name"),
                                            "vCluster": md.get("vCluster") or "passthrough"},
                                      expect=(200, 204, 404))
                done(c)

    def snapshot(self, items, live):
        wanted = set(self.key(r)[:3] for r in items)
        project = getattr(self, "project", None) or ""
        return dict(("%s %s" % (k[0], self.key(v)[3]), v.get("spec"))
                    for k, v in sorted(live["resources"].items())
                    if k in wanted or _TargetParts.owned_name(k[1] or "", project))


###############################################################################
# Plan & deploy ###############################################################
###############################################################################
#
# From a desired state (docs/internals.md) and a runtime to a plan, and from a plan to
# live services.  Apply order: schemas -> topics -> Flink jobs -> connectors -> gateway,
# stopping at the first failure with a report of what was and was not applied.  A plan
# is recomputed from the live state on every run, so re-running converges.
#
# The JSON shape of plan/apply/deploy/status is documented on Plan (below).
#
# Changes are sorted by apply order, then by kind and name.

__all__ += ["Selection", "APPLY_ORDER", "Plan", "make_targets", "mutating_calls",
            "plan_deploy", "source_topics", "missing_source_topics", "apply_plan",
            "observe_state", "drift_between", "ConsumerLag", "DataTests"]


class Selection(object):
    """What `--select`, `--exclude` and `--target` leave of a project: the one rule of
    plan, apply, build, deploy, status and lineage.

    Selectors (the grammar of dbt and of the original streamt), several in one
    argument separated by spaces or given several times: their union; a comma inside
    one selector intersects its parts::

        name        the source, model or exposure ``name`` (shell patterns: orders_*);
                    ``source:x``, ``model:x``, ``exposure:x`` name one kind only
        +name       it and everything upstream of it (what feeds it, transitively)
        name+       it and everything downstream of it
        +name+      both
        tag:x       the nodes tagged x (``+tag:x``, ``tag:x+`` work as above)

    ``--exclude`` takes the same selectors and removes what they match (after the
    union).  ``--target KIND:NAME`` adds one compiled resource (topic, schema,
    flink_job, connector, gateway) by its name.  Resources follow their node: a model's
    topic, Flink job, connector and gateway resources, a source's schema, a continuous
    test's job (with the node it tests).  What a selection leaves out is neither
    changed, deleted nor reported as an orphan: a selected plan has no orphans.
    A selector that matches nothing is a usage error (exit 2): a typo must not
    quietly select nothing."""

    KINDS = ("topic", "schema", "flink_job", "connector", "gateway")

    def __init__(self, select=(), exclude=(), targets=()):
        self.select = [w for s in select or () for w in str(s).split()]
        self.exclude = [w for s in exclude or () for w in str(s).split()]
        self.targets = []
        for t in targets or ():
            kind, sep, name = str(t).partition(":")
            kind = {"topics": "topic", "schemas": "schema", "flink": "flink_job",
                    "flink_jobs": "flink_job", "job": "flink_job",
                    "connectors": "connector"}.get(kind, kind)
            if not sep or not name or kind not in self.KINDS:
                raise UsageError("--target %s: give KIND:NAME, KIND one of %s"
                                 % (t, ", ".join(self.KINDS)),
                                 hint="e.g. --target flink_job:orders_clean")
            self.targets.append((kind, name))

    @classmethod
    def from_args(cls, args):
        return cls(getattr(args, "select", None), getattr(args, "exclude", None),
                   getattr(args, "target", None))

    @property
    def active(self):
        return bool(self.select or self.exclude or self.targets)

    # -- nodes

    @staticmethod
    def tags_of(project):
        """{node key: set of tags} of a project's sources, models and exposures."""
        out = {}
        for prefix, items in (("source:", project.sources), ("model:", project.models),
                              ("exposure:", project.exposures)):
            for it in items:
                tags = it.get("tags")
                if isinstance(it.get("name"), str) and isinstance(tags, list):
                    out[prefix + it["name"]] = set(str(t) for t in tags)
        return out

    def nodes(self, graph, tags=None):
        """The selected node keys of a lineage_graph() (all of them without selectors;
        with only --target: none, the resources say which)."""
        nodes, edges = graph["nodes"], graph["edges"]
        if self.select:
            chosen = set()
            for s in self.select:
                chosen |= self._match(s, nodes, edges, tags or {})
        elif self.targets and not self.exclude:
            chosen = set()
        else:
            chosen = set(nodes)
        for s in self.exclude:
            chosen -= self._match(s, nodes, edges, tags or {})
        return chosen

    def _match(self, selector, nodes, edges, tags):
        out = None
        for part in selector.split(","):
            got = self._match_one(part, nodes, edges, tags)
            out = got if out is None else out & got
        return out or set()

    def _match_one(self, sel, nodes, edges, tags):
        import fnmatch
        up, down = sel.startswith("+"), sel.endswith("+") and len(sel) > 1
        core = sel[1 if up else 0:len(sel) - (1 if down else 0)]
        method, sep, value = core.partition(":")
        if not sep:
            method, value = None, core
        if method == "tag":
            base = set(k for k in nodes if value in tags.get(k, ()))
        elif method in (None, "source", "model", "exposure"):
            base = set(k for k, n in nodes.items()
                       if (method is None or n["type"] == method)
                       and fnmatch.fnmatchcase(n["name"], value))
        else:
            raise UsageError("selector %r: unknown method %r" % (sel, method),
                             hint="use name, +name, name+, tag:x, model:x, source:x or "
                                  "exposure:x")
        if not base:
            if method == "tag":
                known = sorted(set(t for ts in tags.values() for t in ts))
            else:
                known = [n["name"] for n in nodes.values()]
            raise UsageError("selector %r matches nothing" % sel,
                             hint=ProjectKinds.suggest(value, known) or
                             "names: %s" % (", ".join(sorted(set(known))[:20]) or "none"))
        out = set(base)
        for k in base:
            if up:
                out |= lineage_reach(k, edges, 1)
            if down:
                out |= lineage_reach(k, edges, 0)
        return out

    # -- resources

    def desired(self, desired, project=None):
        """A copy of a compiled state (compile_project, an artifact's) holding only the
        selected resources; ``environment`` and unknown keys are kept as they are.
        Without a project (an artifact) the graph is read from the resources: model
        to model through the topics the jobs and connectors read; tags need the
        project."""
        if not self.active:
            return desired
        if project is not None:
            graph, tags = lineage_graph(project), self.tags_of(project)
        else:
            if any(s.startswith("tag:") or ":tag:" in s or "+tag:" in s
                   for s in self.select + self.exclude):
                raise UsageError("tag: selectors need the project (an artifact has no tags)",
                                 hint="select by name, or plan from the project with -p DIR")
            graph, tags = self._graph_of(desired), {}
        chosen = self.nodes(graph, tags)
        owner = self._owners(desired, project)
        out = dict(desired)
        found = set()
        for key in ("topics", "schemas", "flink_jobs", "connectors", "gateway"):
            kind = {"topics": "topic", "schemas": "schema", "flink_jobs": "flink_job",
                    "connectors": "connector"}.get(key, key)
            keep = []
            for it in desired.get(key) or []:
                name = _resource_name(kind, it)
                node = owner.get((kind, name))
                if (kind, name) in self.targets:
                    found.add((kind, name))
                    keep.append(it)
                elif node is not None and node in chosen:
                    keep.append(it)
            out[key] = keep
        for t in self.targets:
            if t not in found:
                names = [_resource_name(t[0], it) for it in desired.get(
                    _DESIRED_KEY[t[0]]) or []]
                raise UsageError("--target %s:%s: no such resource" % t,
                                 hint=ProjectKinds.suggest(t[1], names) or
                                 "%ss: %s" % (t[0], ", ".join(sorted(names)[:20]) or "none"))
        if any(j.get("kind") == "test" for j in out["flink_jobs"]):
            made = set(t["name"] for t in out["topics"])
            for t in desired.get("topics") or []:   # where the tests write (no owner)
                if t.get("model") is None and t["name"] not in made:
                    out["topics"].append(t)
            out["topics"].sort(key=lambda t: t["name"])
        if not any(out[k] for k in ("topics", "schemas", "flink_jobs", "connectors",
                                    "gateway")):
            raise UsageError("the selection holds no resource to deploy",
                             hint="a source without a schema or an exposure has none; "
                                  "select models (e.g. +name to add what feeds them)")
        return out

    @staticmethod
    def _owners(desired, project):
        """{(kind, resource name): node key} of the resources that belong to a node."""
        tested = {}
        aliases = {}
        if project is not None:
            names = set(s.get("name") for s in project.sources)
            for t in project.tests:
                m = t.get("model")
                tested[str(t.get("name"))] = ("model:%s" if m not in names else "source:%s") % m
            for m in project.models:
                try:
                    aliases[model_topic_name(m, "virtual_topic")] = "model:%s" % m.get("name")
                except Exception:
                    pass
        topic_owner = dict((t["name"], "model:%s" % t["model"])
                           for t in desired.get("topics") or [] if t.get("model"))
        out = {}
        for t in desired.get("topics") or []:
            if t.get("model"):
                out[("topic", t["name"])] = "model:%s" % t["model"]
        for s in desired.get("schemas") or []:
            if s.get("source"):
                out[("schema", s["subject"])] = "source:%s" % s["source"]
        for j in desired.get("flink_jobs") or []:
            if j.get("kind") == "test":
                node = tested.get(j.get("model"))
                if node is None:   # an artifact: the first model topic the test reads
                    read = [topic_owner[t] for t in source_topics({"flink_jobs": [j]})
                            if t in topic_owner]
                    node = read[0] if read else None
                out[("flink_job", j["name"])] = node
            else:
                out[("flink_job", j["name"])] = "model:%s" % j.get("model")
        for c in desired.get("connectors") or []:
            out[("connector", c["name"])] = "model:%s" % c["name"]
        for g in desired.get("gateway") or []:
            name = _resource_name("gateway", g)
            m = re.match(r"^streamt-(.+)-(virtual-sql|mask)$", name)
            out[("gateway", name)] = "model:%s" % m.group(1) if m else aliases.get(
                name, "model:%s" % name)
        return out

    @staticmethod
    def _graph_of(desired):
        """A lineage graph read from compiled resources (models only; sources are
        known by their schemas)."""
        nodes, edges = {}, set()
        owners = Selection._owners(desired, None)
        for node in set(owners.values()):
            if node:
                kind, _s, name = node.partition(":")
                nodes[node] = {"name": name, "type": kind, "materialized": None}
        topic_owner = dict((t["name"], "model:%s" % t["model"])
                           for t in desired.get("topics") or [] if t.get("model"))
        for kind, key in (("flink_job", "flink_jobs"), ("connector", "connectors")):
            for it in desired.get(key) or []:
                me = owners.get((kind, it["name"]))
                if not me or it.get("kind") == "test":
                    continue
                for t in source_topics({key: [it]}):
                    up = topic_owner.get(t)
                    if up and up != me:
                        edges.add((up, me))
        return {"nodes": nodes, "edges": sorted(edges)}


def _resource_name(kind, item):
    """The name a resource is known by in plans: subject, metadata name or name."""
    if kind == "schema":
        return item.get("subject")
    if kind == "gateway":
        return (item.get("metadata") or {}).get("name")
    return item.get("name")


APPLY_ORDER = ("schema", "topic", "flink_job", "connector", "gateway")
_DESIRED_KEY = {"schema": "schemas", "topic": "topics", "flink_job": "flink_jobs",
                "connector": "connectors", "gateway": "gateway"}


class Plan(object):
    """The changes, the targets that computed them, and what was observed.

    JSON shape (`--format json` of plan, apply, deploy and status), format_version 1;
    new keys may be added, existing ones never change meaning:

      {"format_version": 1,
       "command": "deploy" | "plan" | "apply" | "status",
       "project": str, "environment": str,
       "contacts": [{"service": str, "hosts": [str]}],
       "kafka_cluster_id": str | null,
       "plan": {"summary": {"create": n, "update": n, "unchanged": n, "orphan": n,
                            "delete": n, "missing": n, "refused": n},
                "changes": [{"kind": "schema"|"topic"|"flink_job"|"connector"|"gateway",
                             "name": str,
                             # missing: a source topic the jobs read does not exist (refused)
                             "action": "create"|"update"|"unchanged"|"orphan"|"delete"|"missing",
                             "changes": {key: {"old": v, "new": v}},  # secrets redacted
                             "notes": [str], "refused": str | null, "destructive": bool}]},
       "validation_errors": [str],                 # --dry-run: the services' own checks
       "drift": [str],       # --check-drift findings; status: drift since a --with-state build
       "result": {"status": "no-changes" | "pending" | "applied" | "partial" |
                            "refused" | "failed",
                  "applied": ["kind:name"], "not_applied": ["kind:name"],
                  "failed": {"resource": "kind:name", "error": str} | null,
                  # each Flink job (re)submitted: the savepoint it was restored from,
                  # null if it started without state (apply/deploy only)
                  "restored_from": {"flink_job:name": str | null},
                  "error": str,          # only with "refused" / "failed"
                  "mutating_calls": n}}  # requests that changed something (0 = none)

    Exit codes: 0 done (or nothing to change), 1 failure, 4 artifact integrity or
    signature, 5 refused (environment mismatch, protected environment without --confirm,
    refused or destructive changes, services rejecting a dry run), 6 drift, 7 partial
    deploy, 8 changes pending (--detailed-exitcode).


    Changes are sorted by apply order, then by name.  Text output: one block per
    resource that changes ("+" create, "~" update, "-" delete, "?" orphan, "!" missing
    source topic, "=" unchanged
    with `status`), then a "Plan: ..." summary line; progress lines go to stderr.
    """

    def __init__(self, changes, targets, live, policy, cluster_id=None):
        self.changes, self.targets, self.live = changes, targets, live
        self.policy, self.cluster_id = policy, cluster_id

    @property
    def pending(self):
        return [c for c in self.changes if c.mutating]

    @property
    def refused(self):
        return [c for c in self.changes if c.refused]

    @property
    def destructive(self):
        return [c for c in self.changes if c.destructive and c.mutating]

    def summary(self):
        s = dict((k, 0) for k in ("create", "update", "unchanged", "orphan", "delete", "missing",
                                  "refused"))
        for c in self.changes:
            s[c.action] += 1
            if c.refused:
                s["refused"] += 1
        return s

    def to_json(self):
        return {"summary": self.summary(), "changes": [c.to_json() for c in self.changes]}

    def render(self, verbose=False):
        """The human plan: one block per resource that changes (all with verbose)."""
        lines = []
        sym = {"create": "+", "update": "~", "delete": "-", "orphan": "?", "unchanged": "=",
               "missing": "!"}
        for c in self.changes:
            if c.action == "unchanged" and not verbose:
                continue
            head = "%s %s %s" % (sym[c.action], c.kind, c.name)
            if c.action == "orphan":
                head += " (orphan)"
            if c.action == "missing":
                head += " (source, missing)"
            if c.refused:
                head += "  REFUSED: " + c.refused
            lines.append(head)
            for k, (old, new) in sorted(c.changes.items()):
                if c.action == "create":
                    lines.append("    %s: %s" % (k, _plan_show(new)))
                else:
                    lines.append("    %s: %s -> %s" % (k, _plan_show(old), _plan_show(new)))
            for n in c.notes:
                lines.append("    # " + n)
        s = self.summary()
        lines.append("Plan: %d to create, %d to update, %d to delete, %d unchanged, %d orphan(s)%s"
                     % (s["create"], s["update"], s["delete"], s["unchanged"], s["orphan"],
                        (", %d refused" % s["refused"]) if s["refused"] else ""))
        return "\n".join(lines)


def _plan_show(v):
    if v is None:
        return "(unset)"
    if isinstance(v, str):
        return v if len(v) <= 120 else v[:117] + "..."
    return json.dumps(v, sort_keys=True)


def make_targets(desired, runtime):
    """One target per kind present in the desired state (built without any I/O)."""
    targets = {}
    if desired.get("schemas"):
        targets["schema"] = SchemaRegistryTarget(runtime)
    if desired.get("topics") or runtime.get("kafka"):
        if desired.get("topics"):
            targets["topic"] = KafkaTarget(runtime)
    # Flink, Connect and Gateway are also observed when the artifact has none of their
    # resources but the runtime configures the service: that is where the orphans of a
    # project that removed its last job/connector are found.
    if desired.get("flink_jobs") or ((runtime.get("flink") or {}).get("clusters")):
        targets["flink_job"] = FlinkTarget(
            runtime, [j.get("cluster") for j in desired.get("flink_jobs") or []] or [None])
    if desired.get("connectors") or ((runtime.get("connect") or {}).get("clusters")):
        targets["connector"] = ConnectTarget(
            runtime, [c.get("cluster") for c in desired.get("connectors") or []] or [None])
    if desired.get("gateway") or ((runtime.get("conduktor") or {}).get("gateway") or {}).get(
            "admin_url"):
        targets["gateway"] = GatewayTarget(runtime)
    return targets


def mutating_calls(targets):
    """How many mutating requests the targets sent (HTTP POST/PUT/PATCH/DELETE that
    change something, Kafka create/alter/delete): 0 on a deploy with nothing to do."""
    n = 0
    for t in targets.values():
        n += getattr(t, "mutations", 0)
        if hasattr(t, "http_clients"):
            clients = t.http_clients()
        else:
            clients = [t.http] if getattr(t, "http", None) is not None else []
        n += sum(h.mutations for h in clients)
    return n


def plan_deploy(desired, runtime, policy, targets=None, progress=None):
    """Observe each service and compute the plan (no mutating call is made)."""
    progress = progress or (lambda msg: None)
    targets = targets if targets is not None else make_targets(desired, runtime)
    changes, live, cluster_id = [], {}, None
    for kind in APPLY_ORDER:
        t = targets.get(kind)
        if t is None:
            continue
        t.project = policy.project
        items = desired.get(_DESIRED_KEY[kind]) or []
        progress("observing %s (%s)" % (_DESIRED_KEY[kind], ", ".join(t.hosts())))
        if kind == "flink_job":   # to know the original streamt's job by its sink table
            t.model_topics = {}
            for topic in desired.get("topics") or []:
                if topic.get("model"):
                    t.model_topics.setdefault(topic["model"], []).append(topic["name"])
        live[kind] = t.observe(items, policy)
        if kind == "topic":
            cluster_id = live[kind].get("cluster_id")
        changes.extend(t.plan(items, live[kind], policy))
        if kind == "topic":
            changes.extend(missing_source_topics(desired, t))
    return Plan(changes, targets, live, policy, cluster_id)


def source_topics(desired):
    """The topics that the artifact's Flink jobs and connectors read but that it does not
    create: the project's sources, which someone else writes.  Sorted."""
    made = set(t.get("name") for t in desired.get("topics") or [])
    found = set()
    for job in desired.get("flink_jobs") or []:
        toks = significant_tokens(job.get("sql") or "")
        for i in range(len(toks) - 2):
            if (toks[i].kind == "string" and token_value(toks[i]) == "topic"
                    and toks[i + 1].text == "=" and toks[i + 2].kind == "string"):
                found.update(x.strip() for x in token_value(toks[i + 2]).split(";"))
    for conn in desired.get("connectors") or []:
        topics = (conn.get("config") or {}).get("topics") or ""
        found.update(x.strip() for x in str(topics).split(","))
    return sorted(n for n in found if n and n not in made and "${" not in n)


class ConsumerLag(object):
    """`status --lag`: how far each Flink job's consumer group (the ``properties.group.id``
    of its Kafka sources) and each sink connector's (``connect-<name>``, or its
    ``consumer.override.group.id``) is behind the log end of the topics it reads."""

    @staticmethod
    def groups(desired):
        """``[{"owner", "kind", "group", "topics"}]`` of the desired state, sorted."""
        out = {}
        for job in desired.get("flink_jobs") or []:
            for stmt in split_statements(job.get("sql") or ""):
                toks = significant_tokens(stmt)
                opts = {}
                for i in range(len(toks) - 2):
                    if (toks[i].kind == "string" and toks[i + 1].text == "="
                            and toks[i + 2].kind == "string"):
                        opts[token_value(toks[i])] = token_value(toks[i + 2])
                group = opts.get("properties.group.id")
                if group and opts.get("topic"):
                    key = ("flink_job", job.get("name"), group)
                    out.setdefault(key, set()).update(
                        x.strip() for x in opts["topic"].split(";") if x.strip())
        for conn in desired.get("connectors") or []:
            config = conn.get("config") or {}
            topics = [x.strip() for x in str(config.get("topics") or "").split(",") if x.strip()]
            if topics:   # a sink: source connectors have no consumer group
                name = conn.get("name") or config.get("name")
                group = config.get("consumer.override.group.id") or "connect-%s" % name
                out.setdefault(("connector", name, group), set()).update(topics)
        return [{"kind": k, "owner": o, "group": g, "topics": sorted(t)}
                for (k, o, g), t in sorted(out.items())]

    @staticmethod
    def measure(desired, runtime, reader=None):
        """``{"groups": [{"kind", "owner", "group", "topics": {topic: [{"partition",
        "committed", "end", "lag"}]}, "total"}], "total"}`` read from Kafka."""
        own = reader is None
        if own:
            config = dict(runtime.get("kafka") or {})
            if not config.get("bootstrap_servers"):
                raise UsageError("status --lag: runtime.kafka.bootstrap_servers is not set",
                                 hint="add it to the environment's runtime block")
            reader = KafkaReader(config)
        try:
            out, total = [], 0
            for g in ConsumerLag.groups(desired):
                lag = reader.lag(g["group"], g["topics"])
                out.append({"kind": g["kind"], "owner": g["owner"], "group": g["group"],
                            "topics": dict((t, [dict(x, partition=p) for p, x in
                                                sorted(parts.items())])
                                           for t, parts in lag["topics"].items()),
                            "total": lag["total"]})
                total += lag["total"]
            return {"groups": out, "total": total}
        finally:
            if own:
                reader.close()

    @staticmethod
    def render(report, now_ms=None):
        """The text form: one line per group, one per partition under it."""
        import time
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        lines = ["Consumer lag (committed offset vs log end):"]
        if not report["groups"]:
            lines.append("  no Flink job or sink connector reads Kafka")
        for g in report["groups"]:
            lines.append("  %s %s  group %s  lag %d" % (g["kind"], g["owner"], g["group"],
                                                       g["total"]))
            for t in sorted(g["topics"]):
                parts = g["topics"][t]
                if not parts:
                    lines.append("    %s  (topic not found)" % t)
                for x in parts:
                    oldest = x.get("oldest_unconsumed")
                    lines.append("    %s[%d]  committed %s  end %d  lag %s%s" % (
                        t, x["partition"], "-" if x["committed"] is None else x["committed"], x["end"],
                        "-" if x["lag"] is None else x["lag"],
                        "" if oldest is None else "  oldest unconsumed %ds old"
                        % max(0, (now_ms - oldest) // 1000)))
        lines.append("  total lag %d" % report["total"])
        return "\n".join(lines)


class DataTests(object):
    """`streamt test`: a sample test reads a bounded sample of its topic and checks the
    assertions a record can be checked against (JSON, Avro values); a continuous test checks
    that its Flink job runs and wrote no failure row since it started; a schema test checks
    the declared columns against the registered schema.  Each assertion gives
    ``{"assertion", "status": "pass" | "fail" | "not_checked", "checked", "failures":
    [{"partition", "offset", "detail"}], "reason"}``; at most MAX_SHOWN failures are listed
    (``failed`` counts them all)."""

    MAX_SHOWN = 5
    TYPES = {"string": "string", "varchar": "string", "str": "string", "text": "string",
             "int": "int", "integer": "int", "long": "int", "bigint": "int", "smallint": "int",
             "tinyint": "int", "float": "number", "double": "number", "decimal": "number",
             "number": "number", "boolean": "boolean", "bool": "boolean"}

    @staticmethod
    def topic_of(test, project):
        """The topic a test reads: its model's effective topic, or its source's."""
        name = test.get("model")
        for m in project.models:
            if m.get("name") == name:
                return effective_topic(m, project)["name"]
        for s in project.sources:
            if s.get("name") == name:
                return s.get("topic") or name
        return None

    @staticmethod
    def registry(runtime):
        """``schema_of(id) -> (schema type, AvroBinary or None)`` through the environment's
        Schema Registry (remembered per id), or None when there is no registry."""
        if not (runtime.get("schema_registry") or {}).get("url"):
            return None
        http = SchemaRegistryTarget(runtime).http
        memo = Memo(256)

        def schema_of(sid):
            found = memo.get(sid)
            if found is None:
                doc = http.get_json("/schemas/ids/%d" % sid, shape=dict)
                kind = str(doc.get("schemaType") or "AVRO").upper()
                found = memo.put(sid, (kind, AvroBinary(json.loads(doc.get("schema") or "null"))
                                       if kind == "AVRO" else None))
            return found
        return schema_of

    FAILURES_TOPIC = "_streamt_test_failures"

    @staticmethod
    def flink_jobs(desired, runtime, project_name):
        """``{pipeline name: [{"id", "state", "start"}]}`` of this project's live Flink jobs."""
        items = desired.get("flink_jobs") or []
        target = FlinkTarget(runtime, [j.get("cluster") for j in items] or [None])
        live = target.observe(items, PlanPolicy(project_name))
        out = {}
        for jobs in live["jobs"].values():
            for j in jobs:
                out.setdefault(j["pipeline_name"], []).append(j)
        return out

    @staticmethod
    def continuous(t, entry, desired, jobs, reader, time_limit):
        """A continuous test passes when its job RUNS and has written no failure since it
        started (counted in the failures topic from the job's start time on)."""
        item = [j for j in desired.get("flink_jobs") or []
                if j.get("kind") == "test" and j.get("model") == t.get("name")]
        running = [j for j in (jobs or {}).get(item[0]["pipeline_name"] if item else "", [])
                   if j["state"] == "RUNNING"]
        if not running:
            states = sorted(set(j["state"] for j in (jobs or {}).get(
                item[0]["pipeline_name"] if item else "", [])))
            entry["assertions"] = [{"assertion": "job_running", "status": "fail", "checked": 1,
                                    "failed": 1, "failures": [], "reason":
                                    "the test's Flink job %s is not running (%s): deploy it"
                                    % (item[0]["pipeline_name"] if item else "?",
                                       ", ".join(states) or "no job")}]
            return
        job = running[-1]
        entry["topic"] = DataTests.FAILURES_TOPIC
        first = reader.offsets(DataTests.FAILURES_TOPIC, int(job["start"]))
        last = reader.offsets(DataTests.FAILURES_TOPIC, "latest")
        import time
        deadline = time.time() + float(time_limit)
        bad, complete, read = [], True, 0
        for p in sorted(last):
            lo = first.get(p, -1)
            lo = last[p] if lo < 0 else lo
            records, done = reader.read(DataTests.FAILURES_TOPIC, p, lo, last[p],
                                        deadline=deadline)
            complete = complete and done
            read += len(records)
            for r in records:
                try:
                    row = json.loads((r.value or b"").decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    continue
                if isinstance(row, dict) and row.get("test_name") == t.get("name"):
                    bad.append((r, "%s: %s" % (row.get("violation_type"),
                                               DataTests.show(row.get("violation_details")))))
        entry["records"], entry["complete"] = read, complete
        res = DataTests.result("failures_since_start", bad, read)
        res["reason"] = "job %s RUNNING since %d" % (job["id"], job["start"])
        entry["assertions"] = [{"assertion": "job_running", "status": "pass", "checked": 1,
                                "failed": 0, "failures": [], "reason": res["reason"]}, res]

    # -- schema tests: the declared columns against the registered schema --------------

    COMPATIBLE = {
        "AVRO": {"string": ("string", "enum"), "int": ("int",), "long": ("long", "int"),
                 "number": ("double", "float", "int", "long"), "boolean": ("boolean",)},
        "JSON": {"string": ("string",), "int": ("integer",), "long": ("integer",),
                 "number": ("number", "integer"), "boolean": ("boolean",)},
    }
    SQL_KINDS = {"STRING": "string", "VARCHAR": "string", "CHAR": "string", "INT": "int",
                 "INTEGER": "int", "SMALLINT": "int", "TINYINT": "int", "BIGINT": "long",
                 "DOUBLE": "number", "FLOAT": "number", "REAL": "number",
                 "BOOLEAN": "boolean"}

    @staticmethod
    def schema_fields(kind, text):
        """``{field: (types, nullable, enum symbols or None)}`` of an Avro record or a JSON
        Schema object."""
        doc = json.loads(text) if isinstance(text, str) else text
        out = {}
        if kind == "AVRO":
            for f in (doc or {}).get("fields") or []:
                t = f.get("type")
                branches = t if isinstance(t, list) else [t]
                types, symbols = [], None
                for b in branches:
                    name = b.get("type") if isinstance(b, dict) else b
                    if isinstance(b, dict) and name == "enum":
                        symbols = b.get("symbols")
                    types.append(name)
                out[f.get("name")] = ([x for x in types if x != "null"], "null" in types,
                                      symbols)
        else:
            required = set((doc or {}).get("required") or [])
            for name, p in sorted(((doc or {}).get("properties") or {}).items()):
                t = p.get("type") if isinstance(p, dict) else None
                types = t if isinstance(t, list) else [t]
                out[name] = ([x for x in types if x != "null"],
                             "null" in types or name not in required,
                             p.get("enum") if isinstance(p, dict) else None)
        return out

    @staticmethod
    def schema_test(t, entry, project, desired, registry_http):
        name = t.get("model")
        node = [x for x in list(project.models) + list(project.sources)
                if x.get("name") == name]
        wanted = [s for s in desired.get("schemas") or []
                  if s.get("source") == name or s.get("model") == name]
        if not wanted or registry_http is None:
            entry["status"], entry["reason"] = "not_run", (
                "%s has no schema in the project" % name if not wanted
                else "the environment has no schema_registry")
            return
        subject = wanted[0]["subject"]
        entry["topic"] = subject
        resp = registry_http.request("GET", "/subjects/%s/versions/latest" % Http.quote(subject),
                                     expect=(200, 404))
        if resp.status == 404:
            entry["assertions"] = [{"assertion": "registered", "status": "fail", "checked": 1,
                                    "failed": 1, "failures": [], "reason":
                                    "subject %s is not registered: deploy it" % subject}]
            return
        live = registry_http.check_shape(resp, dict, keys=("schema",))
        kind = str(live.get("schemaType") or "AVRO").upper()
        same = canonical_schema(live["schema"], kind) == canonical_schema(
            wanted[0]["schema"], wanted[0].get("schema_type") or "AVRO")
        results = [{"assertion": "registered", "status": "pass" if same else "fail",
                    "checked": 1, "failed": 0 if same else 1, "failures": [],
                    "reason": "%s version %s %s the project's schema" % (
                        subject, live.get("version"), "is" if same else "differs from")}]
        fields = DataTests.schema_fields(kind, live["schema"]) if kind in ("AVRO", "JSON") else {}
        compat = DataTests.COMPATIBLE.get(kind, {})
        for col in (node[0].get("columns") or []) if node else []:
            c, sql = col.get("name"), str(col.get("type") or "").upper().split("(")[0].strip()
            res = {"assertion": "column:%s" % c, "status": "pass", "checked": 1, "failed": 0,
                   "failures": [], "reason": None}
            if c not in fields:
                res.update(status="fail", failed=1, reason="not in the registered schema")
            else:
                allowed = compat.get(DataTests.SQL_KINDS.get(sql, ""), None)
                if allowed is None:
                    res.update(status="not_checked", checked=0,
                               reason="%s against %s is not checked" % (sql, fields[c][0]))
                elif not set(fields[c][0]) & set(allowed):
                    res.update(status="fail", failed=1, reason="declared %s, registered %s"
                               % (sql, "/".join(str(x) for x in fields[c][0])))
            results.append(res)
        for a in t.get("assertions") or []:
            if not isinstance(a, dict) or len(a) != 1:
                continue
            k, spec = list(a.items())[0]
            spec = spec if isinstance(spec, dict) else {}
            if k == "not_null":
                cols = spec.get("columns") or []
                for c in [cols] if isinstance(cols, str) else cols:
                    bad = c not in fields or fields[c][1]
                    results.append({"assertion": "not_null:%s" % c, "status": "fail" if bad
                                    else "pass", "checked": 1, "failed": int(bad),
                                    "failures": [], "reason": "nullable (or missing) in the "
                                    "registered schema" if bad else None})
            elif k == "accepted_values" and (fields.get(spec.get("column")) or (0, 0, None))[2]:
                symbols = fields[spec["column"]][2]
                extra = [x for x in symbols if str(x) not in set(
                    str(v) for v in spec.get("values") or [])]
                results.append({"assertion": "accepted_values:%s" % spec["column"],
                                "status": "fail" if extra else "pass", "checked": 1,
                                "failed": int(bool(extra)), "failures": [],
                                "reason": "the schema also allows %s" % ", ".join(
                                    str(x) for x in extra) if extra else None})
            else:
                results.append({"assertion": str(k), "status": "not_checked", "checked": 0,
                                "failed": 0, "failures": [], "reason":
                                "checked on data (a sample or continuous test), not on the "
                                "schema"})
        entry["assertions"] = results

    @staticmethod
    def run(project, tests, reader, start="earliest", time_limit=10.0, schemas=None,
            desired=None, jobs=None, registry_http=None):
        """``{"tests": [...], "summary": {"passed", "failed", "not_run"}}``; ``schemas`` is
        DataTests.registry's lookup, for values in the Confluent wire format; ``jobs`` is
        DataTests.flink_jobs' answer, for continuous tests."""
        out, summary = [], {"passed": 0, "failed": 0, "not_run": 0}
        for t in tests:
            entry = {"name": t.get("name"), "model": t.get("model"), "type": t.get("type"),
                     "topic": None, "records": 0, "complete": True, "assertions": []}
            if t.get("type") == "schema":
                DataTests.schema_test(t, entry, project, desired or {}, registry_http)
            elif t.get("type") == "continuous" and jobs is not None:
                DataTests.continuous(t, entry, desired or {}, jobs, reader, time_limit)
            elif t.get("type") != "sample":
                entry["status"] = "not_run"
                entry["reason"] = "%s tests are not run by `streamt test`" % t.get("type")
            if t.get("type") != "sample":
                if entry.get("status") == "not_run":
                    summary["not_run"] += 1
                else:
                    failed = any(a["status"] == "fail" for a in entry["assertions"])
                    entry["status"] = "fail" if failed else "pass"
                    summary["failed" if failed else "passed"] += 1
                out.append(entry)
                continue
            topic = DataTests.topic_of(t, project)
            entry["topic"] = topic
            size = int(t.get("sample_size") or 100)
            sample = reader.sample(topic, count=size, start=start, time_limit=time_limit)
            records = sample["records"]
            entry["records"], entry["complete"] = len(records), sample["complete"]
            entry["assertions"] = DataTests.evaluate(t, records, schemas)
            failed = any(a["status"] == "fail" for a in entry["assertions"])
            entry["status"] = "fail" if failed else "pass"
            summary["failed" if failed else "passed"] += 1
            out.append(entry)
        return {"tests": out, "summary": summary}

    @staticmethod
    def decode(records, schemas=None):
        """[(record, object or None, why not)]: JSON object values, or with a registry,
        Confluent wire-format values (magic 0, schema id) in Avro or JSON Schema."""
        out = []
        for r in records:
            value = r.value or b""
            try:
                if schemas is not None and len(value) >= 5 and value[:1] == b"\0":
                    sid = int.from_bytes(value[1:5], "big")
                    try:
                        kind, avro = schemas(sid)
                    except (StreamtError, ValueError) as e:
                        out.append((r, None, "schema id %d: %s" % (sid, getattr(
                            e, "message", None) or str(e)[:80])))
                        continue
                    if kind == "AVRO":
                        try:
                            obj = avro.decode(value[5:])
                        except (ValueError, UnicodeDecodeError, RecursionError) as e:
                            out.append((r, None, "does not decode as Avro with schema id %d (%s)"
                                        % (sid, str(e)[:80])))
                            continue
                    elif kind == "JSON":
                        obj = json.loads(value[5:].decode("utf-8"))
                    else:
                        out.append((r, None, "%s values are not decoded (schema id %d)"
                                    % (kind, sid)))
                        continue
                else:
                    obj = json.loads(value.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                out.append((r, None, "the value is not JSON (%s)" % str(e)[:80]))
                continue
            if not isinstance(obj, dict):
                out.append((r, None, "the value is JSON but not an object"))
            else:
                out.append((r, obj, None))
        return out

    @staticmethod
    def evaluate(test, records, schemas=None):
        rows = DataTests.decode(records, schemas)
        results = [DataTests.result("json_value", [(r, why) for r, _o, why in rows if why],
                                    len(rows))]
        good = [(r, o) for r, o, why in rows if not why]
        for a in test.get("assertions") or []:
            if not isinstance(a, dict) or len(a) != 1:
                continue
            kind, spec = list(a.items())[0]
            spec = spec if isinstance(spec, dict) else {}
            check = getattr(DataTests, "check_" + str(kind), None)
            if check is None:
                results.append({"assertion": str(kind), "status": "not_checked", "checked": 0,
                                "failed": 0, "failures": [],
                                "reason": "%s cannot be evaluated on single records" % kind})
                continue
            results.extend(check(spec, good))
        return results

    @staticmethod
    def result(name, bad, checked):
        return {"assertion": name, "status": "fail" if bad else "pass", "checked": checked,
                "failed": len(bad), "reason": None,
                "failures": [{"partition": r.partition, "offset": r.offset, "detail": d}
                             for r, d in bad[:DataTests.MAX_SHOWN]]}

    @staticmethod
    def show(value):
        return json.dumps(value)[:80]

    @staticmethod
    def check_not_null(spec, good):
        cols = spec.get("columns") or []
        cols = [cols] if isinstance(cols, str) else cols
        return [DataTests.result("not_null:%s" % c, [(r, "%s is %s" % (c, "missing" if c not in o
                                                                      else "null"))
                                                    for r, o in good if o.get(c) is None],
                                 len(good)) for c in cols]

    @staticmethod
    def check_accepted_values(spec, good):
        c, values = spec.get("column"), spec.get("values") or []
        allowed = set(str(v) for v in values)
        bad = [(r, "%s = %s" % (c, DataTests.show(o[c]))) for r, o in good
               if o.get(c) is not None and str(o[c]) not in allowed]
        return [DataTests.result("accepted_values:%s" % c, bad, len(good))]

    @staticmethod
    def check_range(spec, good):
        c, lo, hi = spec.get("column"), spec.get("min"), spec.get("max")
        bad = []
        for r, o in good:
            v = o.get(c)
            if v is None:
                continue
            try:
                x = float(v) if not isinstance(v, bool) else None
            except (TypeError, ValueError):
                x = None
            if x is None:
                bad.append((r, "%s = %s is not a number" % (c, DataTests.show(v))))
            elif lo is not None and x < float(lo):
                bad.append((r, "%s = %s < %s" % (c, DataTests.show(v), lo)))
            elif hi is not None and x > float(hi):
                bad.append((r, "%s = %s > %s" % (c, DataTests.show(v), hi)))
        return [DataTests.result("range:%s" % c, bad, len(good))]

    @staticmethod
    def check_unique_key(spec, good):
        key = spec.get("key") or spec.get("columns") or []
        key = [key] if isinstance(key, str) else list(key)
        seen, bad = {}, []
        for r, o in good:
            k = tuple(DataTests.show(o.get(c)) for c in key)
            if k in seen:
                bad.append((r, "%s repeats the record at %d-%d" % (
                    ", ".join("%s = %s" % (c, v) for c, v in zip(key, k)), seen[k].partition,
                    seen[k].offset)))
            else:
                seen[k] = r
        res = DataTests.result("unique_key:%s" % ",".join(key), bad, len(good))
        tolerance = spec.get("tolerance")
        if bad and tolerance is not None and len(bad) <= float(tolerance) * max(1, len(good)):
            res["status"] = "pass"
            res["reason"] = "%d duplicate(s) within the tolerance %s" % (len(bad), tolerance)
        return [res]

    @staticmethod
    def check_accepted_types(spec, good):
        out = []
        for c, t in sorted((spec.get("types") or {}).items()):
            want = DataTests.TYPES.get(str(t).lower().split("(")[0].strip())
            if want is None:
                out.append({"assertion": "accepted_types:%s" % c, "status": "not_checked",
                            "checked": 0, "failed": 0, "failures": [],
                            "reason": "type %r is not checked on JSON values" % t})
                continue
            bad = []
            for r, o in good:
                v = o.get(c)
                if v is None:
                    continue
                ok = {"string": isinstance(v, str),
                      "int": isinstance(v, int) and not isinstance(v, bool),
                      "number": isinstance(v, (int, float)) and not isinstance(v, bool),
                      "boolean": isinstance(v, bool)}[want]
                if not ok:
                    bad.append((r, "%s = %s is not %s" % (c, DataTests.show(v), t)))
            out.append(DataTests.result("accepted_types:%s" % c, bad, len(good)))
        return out

    @staticmethod
    def junit(report):
        """JUnit XML (one testsuite, a testcase per test: failure, skipped or pass) for CI."""
        from xml.etree import ElementTree as ET
        s = report["summary"]
        counts = dict(tests=str(len(report["tests"])), failures=str(s["failed"]), errors="0",
                      skipped=str(s["not_run"]))
        root = ET.Element("testsuites", name="streamt test", **counts)
        suite = ET.SubElement(root, "testsuite", name="%s (%s)" % (
            report.get("project") or "", report.get("environment") or ""), **counts)
        for t in report["tests"]:
            case = ET.SubElement(suite, "testcase", name=t["name"] or "",
                                 classname="%s.%s" % (t["type"], t["model"]))
            if t["status"] == "not_run":
                ET.SubElement(case, "skipped", message=t.get("reason") or "not run")
            elif t["status"] == "fail":
                bad = [a for a in t["assertions"] if a["status"] == "fail"]
                fail = ET.SubElement(case, "failure", type="assertion", message="; ".join(
                    "%s: %d record(s)" % (a["assertion"], a["failed"]) for a in bad))
                fail.text = "\n".join("%s partition %d offset %d: %s" % (
                    a["assertion"], f["partition"], f["offset"], f["detail"])
                    for a in bad for f in a["failures"])
        return ET.tostring(root, encoding="unicode") + "\n"

    @staticmethod
    def render(report):
        lines = []
        for t in report["tests"]:
            if t["status"] == "not_run":
                lines.append("SKIP  %s (%s): %s" % (t["name"], t["type"], t["reason"]))
                continue
            lines.append("%s  %s: %d record(s) of %s%s" % (
                t["status"].upper(), t["name"], t["records"], t["topic"] or "no topic",
                "" if t["complete"] else " (time limit reached)"))
            for a in t["assertions"]:
                if a["status"] == "not_checked":
                    lines.append("  -     %s: not checked: %s" % (a["assertion"], a["reason"]))
                    continue
                lines.append("  %-5s %s%s" % (a["status"], a["assertion"],
                                              ": %d record(s) fail" % a["failed"]
                                              if a["failures"] else
                                              (": " + a["reason"]) if a.get("reason") else ""))
                for f in a["failures"]:
                    lines.append("          partition %d offset %d: %s" % (
                        f["partition"], f["offset"], f["detail"]))
        s = report["summary"]
        lines.append("%d passed, %d failed, %d not run" % (s["passed"], s["failed"],
                                                           s["not_run"]))
        return "\n".join(lines)


def missing_source_topics(desired, topic_target):
    """A refused change for each source topic that does not exist: a Flink job reading it
    would fail some seconds after its submission, leaving a half-applied deploy."""
    wanted = source_topics(desired)
    if not wanted:
        return []
    live = topic_target.admin.describe_topics(wanted)
    return [Change("topic", name, "missing",
                   refused="source topic %s does not exist: streamt reads it but does not "
                           "create it (its producer owns it); create it, or check "
                           "the environment's bootstrap_servers" % name)
            for name in wanted if name not in live]


def apply_plan(plan, progress=None):
    """Apply the pending changes in order; stop at the first failure.

    Returns {"status", "applied", "not_applied", "failed"} (see the JSON shape above);
    on failure raises PartialDeployError with that report in `.report`."""
    progress = progress or (lambda msg: None)
    applied = []
    restored = {}
    pending = plan.pending
    for kind in APPLY_ORDER:
        mine = [c for c in pending if c.kind == kind]
        if not mine:
            continue

        def done(change):
            applied.append(change.ref)
            extra = ""
            if change.kind == "flink_job" and change.action != "delete":
                restored[change.ref] = change.restored_from
                extra = (" (restored from the savepoint %s)" % change.restored_from
                         if change.restored_from else " (started without state)")
            progress("applied %s %s%s" % (change.action, change.ref, extra))

        try:
            plan.targets[kind].apply(mine, done)
        except StreamtError as e:
            failed = next((c.ref for c in mine if c.ref not in applied), mine[0].ref)
            not_applied = [c.ref for c in pending if c.ref not in applied]
            report = {"status": "partial", "applied": applied, "not_applied": not_applied,
                      "failed": {"resource": failed, "error": e.message},
                      "restored_from": restored}
            err = PartialDeployError(
                "deploy stopped at %s: %s" % (failed, e.message),
                details=(list(e.details) + ["applied: %s" % (", ".join(applied) or "nothing")]
                         + ["not applied: %s" % ", ".join(not_applied)]),
                hint=e.hint or "fix the cause and run the same command again: "
                               "what was applied is recognised as unchanged")
            err.report = report
            raise err
    return {"status": "applied" if pending else "no-changes", "applied": applied,
            "not_applied": [], "failed": None, "restored_from": restored}


def observe_state(desired, runtime, project=None, targets=None):
    """The live state of what `desired` describes, canonical and redacted, for
    `build --with-state` (stored under state/) and `deploy --check-drift`.  `project`
    is the project's name (a Project object is accepted too)."""
    if project is not None and not isinstance(project, str):
        project = getattr(project, "name", None)
    policy = PlanPolicy(project)
    targets = targets if targets is not None else make_targets(desired, runtime)
    out = {}
    for kind in APPLY_ORDER:
        t = targets.get(kind)
        if t is None:
            continue
        t.project = policy.project
        items = desired.get(_DESIRED_KEY[kind]) or []
        out[_DESIRED_KEY[kind]] = t.snapshot(items, t.observe(items, policy))
    return json.loads(canonical_json(out))


def drift_between(before, now):
    """What changed between two observe_state() snapshots, as sorted lines."""
    out = []

    def walk(a, b, path):
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                p = path + [str(k)]
                if k not in a:
                    out.append("%s: appeared (%s)" % (".".join(p), _plan_show(b[k])))
                elif k not in b:
                    out.append("%s: disappeared (was %s)" % (".".join(p), _plan_show(a[k])))
                else:
                    walk(a[k], b[k], p)
        elif a != b:
            out.append("%s: %s -> %s" % (".".join(path), _plan_show(a), _plan_show(b)))
    walk(before, now, [])
    return out


###############################################################################
# Docs page ###################################################################
###############################################################################
#
# `streamt docs generate` and `streamt artifact docs`: one self-contained HTML page
# of a pipeline (inline SVG laid out here, inline CSS and a little plain JavaScript:
# no request of any kind when opened) and its JSON companion, manifest.json
# (docs/docs-page.md).  Same input, same bytes: nothing reads the clock, every list
# is sorted, the layout is integer arithmetic over sorted input.

__all__ += ["DocsPage"]


class DocsPage(object):
    """The docs page of a project (``DocsPage.from_project``) or of a built artifact
    (``DocsPage.from_artifact``): ``.doc`` is the JSON companion (manifest.json),
    ``.html()`` the page, ``.write(directory)`` writes both."""

    NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 200, 40, 80, 16, 20
    SWEEPS = 4          # barycentric ordering: down and up sweeps
    WRAP_MIN, WRAP_GAP = 12, 24  # layers wrap above max(12, 1.5 sqrt(nodes)) boxes
    LABEL_EM = 14.5     # a name wider than this (in em of its 12px font) is cut in the
    #                     drawing, with an ellipsis (whole in the tooltip and the sections)
    TYPE_RANK = {"source": 0, "model": 1, "exposure": 2}
    FORMAT = "1"        # the docs_format of manifest.json: a new major on a breaking change

    def __init__(self, doc):
        self.doc = doc

    # -- building the document -----------------------------------------------------

    @classmethod
    def from_project(cls, project):
        """The page of a loaded project (compiled here for the SQL, topics, columns
        and connectors; a project that does not compile still gets its page)."""
        graph = lineage_graph(project)
        compiler = Compiler(project)
        problems = []
        try:
            state = compiler.run()
        except StreamtError as e:
            state, problems = {}, ["the project does not compile: %s" % e.message]
        jobs = dict((j.get("model"), j) for j in state.get("flink_jobs") or []
                    if j.get("kind") == "model")
        topics = dict((t.get("model"), t) for t in state.get("topics") or [] if t.get("model"))
        connectors = dict((c.get("name"), c) for c in state.get("connectors") or [])
        subjects = {}
        for s in state.get("schemas") or []:
            subjects.setdefault(s.get("source"), s)
        rules = plain_data(project.rules or {}) if isinstance(project.rules, dict) else {}
        tests = {}
        for t in project.tests:
            if isinstance(t, dict) and t.get("name") is not None:
                tests.setdefault(str(t.get("model")), []).append(cls._test_doc(t))
        nodes = {}
        for key, n in graph["nodes"].items():
            kind, name = n["type"], n["name"]
            spec = (project.source(name) if kind == "source" else project.model(name)
                    if kind == "model" else
                    next((e for e in project.exposures if e.get("name") == name), None)) or {}
            node = cls._node(key, name, kind, n["materialized"], spec)
            if kind in ("source", "model"):
                node["columns"] = cls._columns(compiler, kind, name, spec)
                node["tests"] = sorted(tests.get(name, []), key=lambda t: t["name"])
            if kind == "source":
                node["topic"] = {"name": str(spec.get("topic") or name)}
                sub = subjects.get(name)
                if sub:
                    node["schema"] = {"subject": sub.get("subject"),
                                      "schema_type": sub.get("schema_type")}
            if kind == "model":
                node["topic"] = cls._topic_doc(topics.get(name))
                job = jobs.get(name)
                node["sql"] = redact_sql(job["sql"]) if job and job.get("sql") else None
                node["connector"] = cls._connector_doc(connectors.get(name))
            if kind == "exposure":
                node["exposure_type"] = spec.get("type")
            node["rules"] = cls._rules_for(rules, kind, node)
            nodes[key] = node
        doc = cls._doc("project", project.name, project.version, project.description,
                       project.env, nodes, graph["edges"])
        doc["rules"] = rules
        doc["problems"] = problems
        doc["tests"] = sorted((t for ts in tests.values() for t in ts),
                              key=lambda t: (t["name"], t["model"] or ""))
        return cls(doc)

    @classmethod
    def from_artifact(cls, artifact, report=None):
        """The page of a read artifact (``report``: what verify_artifact returned, when
        it was verified): what it deploys, drawn from its desired state
        (an artifact holds no project sources: descriptions, owners and exposures are
        not in it).  Sources are the topics its jobs and connectors read but do not
        create; edges follow the `'topic' = '...'` options of the Flink SQL and the
        `topics` of sink connectors."""
        m = artifact.manifest or {}
        desired = artifact.desired or {}
        owner_of = {}   # topic -> model that writes it
        nodes, edges = {}, set()

        def model_node(name):
            name = str(name)
            key = "model:%s" % name
            if key not in nodes:
                nodes[key] = cls._node(key, name, "model", None, {})
                nodes[key].update(columns=[], tests=[], topic=None, sql=None,
                                  connector=None)
            return nodes[key]
        for t in desired.get("topics") or []:
            if t.get("model"):
                node = model_node(t["model"])
                node["topic"] = cls._topic_doc(t)
                node["materialized"] = node["materialized"] or "topic"
                owner_of[t.get("name")] = "model:%s" % t["model"]
        reads, test_jobs = [], []
        for j in desired.get("flink_jobs") or []:
            sql = j.get("sql") or ""
            if j.get("kind") == "test":
                test_jobs.append(j)
                continue
            node = model_node(j.get("model") or j.get("name"))
            node["sql"] = redact_sql(sql)
            node["materialized"] = "flink"
            reads.append((node["id"], cls._sql_topics(sql)))
        for c in desired.get("connectors") or []:
            node = model_node(c.get("name"))
            node["connector"] = cls._connector_doc(c)
            node["materialized"] = "sink"
            topics = str((c.get("config") or {}).get("topics") or "")
            reads.append((node["id"], [t.strip() for t in topics.split(",") if t.strip()]))
        for g in desired.get("gateway") or []:     # a model deployed as a virtual topic
            gname = str((g.get("metadata") or {}).get("name") or "")
            if gname.startswith("streamt-") and gname.endswith("-virtual-sql"):
                model_node(gname[len("streamt-"):-len("-virtual-sql")])["materialized"] = (
                    "virtual_topic")
        sources = {}
        for s in desired.get("schemas") or []:
            subject = str(s.get("subject") or "")
            if s.get("source") and subject.endswith("-value"):
                sources[subject[:-len("-value")]] = (str(s["source"]), s)
        for me, topics in reads:
            for topic in topics:
                up = owner_of.get(topic)
                if up is None:
                    name, schema = sources.get(topic, (topic, None))
                    up = "source:%s" % name
                    if up not in nodes:
                        nodes[up] = cls._node(up, name, "source", None, {})
                        nodes[up].update(columns=[], tests=[], topic={"name": topic})
                        if schema:
                            nodes[up]["schema"] = {"subject": schema.get("subject"),
                                                   "schema_type": schema.get("schema_type")}
                if up != me:
                    edges.add((up, me))
        # a test job reads the topic of what it tests (and writes the failures topic,
        # which no model owns)
        by_topic = dict((n["topic"]["name"], k) for k, n in sorted(nodes.items())
                        if n.get("topic"))
        for j in test_jobs:
            targets = [by_topic[tp] for tp in cls._sql_topics(j.get("sql") or "")
                       if tp in by_topic]
            if targets:
                nodes[targets[0]]["tests"].append({
                    "name": str(j.get("model") or j.get("name")),
                    "model": nodes[targets[0]]["name"], "type": "continuous",
                    "assertions": [], "sql": redact_sql(j.get("sql") or "")})
        for node in nodes.values():
            node["tests"].sort(key=lambda t: t["name"])
            node["rules"] = []
        project = m.get("project") if isinstance(m.get("project"), dict) else {}
        doc = cls._doc("artifact", project.get("name"), project.get("version"), None,
                       m.get("environment"), nodes, sorted(edges))
        sig = None
        if artifact.signature is not None:
            try:
                info = (report or {}).get("signature") or ssh_signature_info(artifact.signature)
                sig = {"key_type": info.get("key_type"), "fingerprint": info.get("fingerprint"),
                       "verified": bool(info.get("verified")),
                       "principal": info.get("principal")}
            except StreamtError as e:
                sig = {"error": e.message}
        checksums = m.get("checksums") if isinstance(m.get("checksums"), dict) else {}
        doc["artifact"] = {
            "format": m.get("version"), "generator": m.get("generator"),
            "build_time": m.get("build_time"), "git": m.get("git"),
            "secrets_resolved": bool(m.get("secrets_resolved")),
            "required_env": list(m.get("required_env") or []),
            "signature": sig, "files": len(artifact.files),
            "checksums": {"files": len(checksums), "verified": report is not None,
                          "manifest_sha256": hashlib.sha256(
                              artifact.manifest_bytes or b"").hexdigest()},
            "counts": dict((k, len(desired.get(k) or [])) for k in ARTIFACT_KINDS)}
        return cls(doc)

    @staticmethod
    def _node(key, name, kind, materialized, spec):
        tags = spec.get("tags")
        return {"id": key, "name": name, "type": kind, "materialized": materialized,
                "description": spec.get("description") if isinstance(
                    spec.get("description"), str) else None,
                "owner": str(spec["owner"]) if spec.get("owner") is not None else None,
                "tags": sorted(str(t) for t in tags) if isinstance(tags, list) else []}

    @staticmethod
    def _columns(compiler, kind, name, spec):
        declared = dict((str(c.get("name")), c) for c in spec.get("columns") or []
                        if isinstance(c, dict) and c.get("name") is not None)
        try:
            rel = compiler.relation(kind, name)
        except StreamtError:
            rel = None
        out = []
        if rel is not None:
            for c in rel.columns:
                d = declared.get(c.name) or {}
                out.append({"name": c.name, "type": c.type,
                            "description": d.get("description") if isinstance(
                                d.get("description"), str) else None})
        else:
            for cname in declared:
                d = declared[cname]
                out.append({"name": cname, "type": str(d.get("type") or "") or None,
                            "description": d.get("description") if isinstance(
                                d.get("description"), str) else None})
        return out

    @staticmethod
    def _topic_doc(t):
        if not t:
            return None
        config = t.get("config") or {}
        return {"name": t.get("name"), "partitions": t.get("partitions"),
                "replication_factor": t.get("replication_factor"),
                "config": dict((str(k), SecretPolicy.redact(k, config[k])) for k in config)}

    @staticmethod
    def _connector_doc(c):
        if not c:
            return None
        config = c.get("config") or {}
        return {"name": c.get("name"), "cluster": c.get("cluster"),
                "config": dict((str(k), SecretPolicy.redact(k, config[k])) for k in config)}

    @staticmethod
    def _test_doc(t):
        return {"name": str(t.get("name")), "model": str(t.get("model"))
                if t.get("model") is not None else None,
                "type": t.get("type") if isinstance(t.get("type"), str) else None,
                "assertions": plain_data(t.get("assertions"))
                if isinstance(t.get("assertions"), list) else []}

    @staticmethod
    def _rules_for(rules, kind, node):
        sections = {"source": ("sources", "security"), "model": ("models", "security"),
                    "exposure": ("exposures",)}.get(kind, ())
        if kind == "model" and node.get("topic"):
            sections = ("topics",) + sections
        out = []
        for sec in sections:
            body = rules.get(sec)
            if isinstance(body, dict):
                for k in sorted(body):
                    out.append("%s.%s: %s" % (sec, k, json.dumps(
                        body[k], sort_keys=True, ensure_ascii=False)))
        return out

    @staticmethod
    def _sql_topics(sql):
        """The topics named by `'topic' = '...'` options in a job's SQL, sorted."""
        try:
            toks = sql_tokens(sql, comments=False)
        except SqlError:
            return []
        found = set()
        for i in range(len(toks) - 2):
            k, eq, v = toks[i], toks[i + 1], toks[i + 2]
            if (k.kind == "string" and eq.text == "=" and v.kind == "string" and
                    token_value(k) == "topic"):
                found.add(token_value(v))
        return sorted(found)

    @classmethod
    def _doc(cls, origin, name, version, description, env, nodes, edges):
        edges = [e for e in edges if e[0] in nodes and e[1] in nodes]
        for n in nodes.values():
            n["upstream"] = sorted(a for a, b in edges if b == n["id"])
            n["downstream"] = sorted(b for a, b in edges if a == n["id"])
        layout = cls.layout(nodes, edges)
        for k, (layer, order, x, y) in layout["positions"].items():
            nodes[k]["layout"] = {"layer": layer, "order": order, "x": x, "y": y}
        ordered = sorted(nodes.values(), key=lambda n: (cls.TYPE_RANK.get(n["type"], 3),
                                                        n["name"], n["id"]))
        return {
            "docs_format": cls.FORMAT, "origin": origin,
            "generator": {"name": "streamt", "version": __version__},
            "project": {"name": name, "version": version, "description": description},
            "environment": env, "artifact": None, "rules": {}, "problems": [], "tests": [],
            "sources": [n for n in ordered if n["type"] == "source"],
            "models": [n for n in ordered if n["type"] == "model"],
            "exposures": [n for n in ordered if n["type"] == "exposure"],
            "dag": {"nodes": [{"id": n["id"], "name": n["name"], "type": n["type"],
                               "materialized": n["materialized"], "upstream": n["upstream"],
                               "downstream": n["downstream"]} for n in ordered],
                    "edges": [{"from": a, "to": b} for a, b in edges],
                    "width": layout["width"], "height": layout["height"]}}

    # -- layout ----------------------------------------------------------------------

    @classmethod
    def layout(cls, nodes, edges):
        """Layered layout: longest-path layers (sources first, sinks and exposures
        last, cycles broken in name order), then barycentric ordering within layers
        (a bounded number of sweeps: O(sweeps * (edges + nodes log nodes))).  Returns
        {"positions": {id: (layer, order, x, y)}, "width", "height"} in integer px."""
        ids = sorted(nodes, key=lambda k: (cls.TYPE_RANK.get(nodes[k]["type"], 3),
                                           nodes[k]["name"], k))
        preds = dict((k, []) for k in ids)
        succs = dict((k, []) for k in ids)
        for a, b in edges:
            if a != b and nodes[b]["type"] != "source":  # (an exposure produces a source)
                preds[b].append(a)
                succs[a].append(b)
        indeg = dict((k, len(set(preds[k]))) for k in ids)
        layer, done = {}, set()
        ready = collections.deque(k for k in ids if indeg[k] == 0)
        pending = list(ids)
        while len(done) < len(ids):
            if not ready:  # a cycle: take the first node left, in name order
                k = next(k for k in pending if k not in done)
                ready.append(k)
            k = ready.popleft()
            if k in done:
                continue
            done.add(k)
            layer[k] = max([layer[p] + 1 for p in preds[k] if p in layer] or [0])
            for s in sorted(set(succs[k])):
                indeg[s] -= 1
                if indeg[s] == 0 and s not in done:
                    ready.append(s)
        # sinks (connectors) and exposures: the last column, after every model
        ends = set(k for k in ids if nodes[k]["type"] == "exposure" or (
            nodes[k]["materialized"] == "sink" and not succs[k]))
        last = max([layer[k] for k in ids if k not in ends] or [-1]) + 1
        for k in ends:
            layer[k] = max(layer[k], last)
        nlayers = max(list(layer.values()) or [0]) + 1
        rows = [[] for _ in range(nlayers)]
        for k in ids:
            rows[layer[k]].append(k)
        pos = {}
        for row in rows:
            for i, k in enumerate(row):
                pos[k] = (2 * i + 1) * 1.0 / (2 * len(row))

        def sweep(order, neighbours):
            for row_i in order:
                row = rows[row_i]
                keyed = []
                for i, k in enumerate(row):
                    ns = [pos[n] for n in neighbours[k] if layer[n] != row_i]
                    keyed.append((sum(ns) / len(ns) if ns else pos[k], i, k))
                keyed.sort()
                rows[row_i] = [k for _b, _i, k in keyed]
                for i, k in enumerate(rows[row_i]):
                    pos[k] = (2 * i + 1) * 1.0 / (2 * len(row))
        for _ in range(cls.SWEEPS):
            sweep(range(1, nlayers), preds)
            sweep(range(nlayers - 2, -1, -1), succs)
        # a layer taller than `cap` wraps into side-by-side columns, filled row by row
        # (so the barycentric order still runs top to bottom): 300 models give a wide
        # page rather than a strip of 130 boxes
        import math
        cap = max(cls.WRAP_MIN, int(math.ceil(1.5 * math.sqrt(len(ids)))))
        shapes = []
        for row in rows:
            cols = max(1, -(-len(row) // cap))
            shapes.append((cols, -(-len(row) // cols)))
        tallest = max([r for _c, r in shapes] or [0])
        step_y = cls.NODE_H + cls.GAP_Y
        positions, x = {}, cls.MARGIN
        for li, row in enumerate(rows):
            cols, nrows = shapes[li]
            top = cls.MARGIN + (tallest - nrows) * step_y // 2
            for i, k in enumerate(row):
                positions[k] = (li, i, x + (i % cols) * (cls.NODE_W + cls.WRAP_GAP),
                                top + (i // cols) * step_y)
            x += cols * cls.NODE_W + (cols - 1) * cls.WRAP_GAP + cls.GAP_X
        width = x - cls.GAP_X + cls.MARGIN if ids else 2 * cls.MARGIN
        height = 2 * cls.MARGIN + tallest * step_y - cls.GAP_Y if ids else 2 * cls.MARGIN
        return {"positions": positions, "width": width, "height": height}

    # -- output ----------------------------------------------------------------------

    def manifest_json(self):
        """The JSON companion: canonical JSON (docs/docs-page.md describes it)."""
        return canonical_json(self.doc)

    def write(self, directory):
        """Write index.html and manifest.json into `directory` (created); returns their
        paths."""
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory)
            paths = []
            for name, text in (("index.html", self.html()), ("manifest.json",
                                                              self.manifest_json())):
                path = os.path.join(directory, name)
                with open(path, "wb") as f:
                    f.write(text.encode("utf-8"))
                paths.append(path)
        except OSError as e:
            raise StreamtError("cannot write the docs into %s: %s" % (
                directory, e.strerror or e), hint="choose another directory with -o")
        return paths

    @staticmethod
    def fit_label(name, em):
        """``name``, cut with an ellipsis when its width, over-estimated per character
        (no font is known here: wide glyphs of common sans fonts), passes ``em``."""
        def width(c):
            if c in "il.,:;'|!`":
                return 0.35
            if c in "mwMW@%&" or ord(c) > 0x2e7f:
                return 1.0
            return 0.7 if c.isupper() else 0.64
        if sum(width(c) for c in name) <= em:
            return name
        total = 1.0   # the ellipsis
        for i, c in enumerate(name):
            total += width(c)
            if total > em:
                return name[:i] + "\u2026"
        return name

    @staticmethod
    def esc(text):
        """Text for HTML (element content or a quoted attribute): & < > " ' escaped."""
        import html
        return html.escape("" if text is None else str(text), quote=True)

    @staticmethod
    def anchor(key):
        """An HTML id for a node key: letters, digits and '-' kept, anything else
        written _<hex>_ (so every key has its own id)."""
        return "n-" + "".join(c if (c.isalnum() and ord(c) < 128) or c == "-"
                              else "_%x_" % ord(c) for c in key)

    def html(self):
        """The page: one HTML document, nothing loaded from anywhere."""
        doc, esc = self.doc, self.esc
        project = doc["project"]
        title = "%s%s" % (project.get("name") or "streamt project",
                          " (%s)" % doc["environment"] if doc["environment"] else "")
        out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
               '<meta name="viewport" content="width=device-width, initial-scale=1">',
               '<meta name="generator" content="streamt %s">' % esc(__version__),
               "<title>%s · streamt docs</title>" % esc(title),
               "<style>%s</style>" % _DOCS_CSS, "</head>", "<body>", "<header>",
               "<h1>%s</h1>" % esc(title)]
        if project.get("description"):
            out.append('<p class="lead">%s</p>' % esc(project["description"]))
        facts = [("project", "%s %s" % (project.get("name") or "", project.get("version") or "")),
                 ("environment", doc["environment"]),
                 ("generated from", "a built artifact" if doc["origin"] == "artifact"
                  else "the project sources"),
                 ("contents", "%d sources, %d models, %d exposures, %d tests" % (
                     len(doc["sources"]), len(doc["models"]), len(doc["exposures"]),
                     sum(len(n.get("tests") or []) for n in doc["sources"] + doc["models"])))]
        out.append(self._dl(facts))
        out.append("</header>")
        for p in doc.get("problems") or []:
            out.append('<p class="problem">%s</p>' % esc(p))
        if doc.get("artifact"):
            out.append(self._artifact_html(doc["artifact"]))
        out.append(self._graph_html())
        out.append('<main id="nodes">')
        for group, label in (("sources", "Sources"), ("models", "Models"),
                             ("exposures", "Exposures")):
            if doc[group]:
                out.append("<h2>%s (%d)</h2>" % (label, len(doc[group])))
                for n in doc[group]:
                    out.append(self._node_html(n))
        if doc.get("rules"):
            out.append("<h2>Governance rules</h2>")
            out.append("<pre>%s</pre>" % esc(canonical_json(doc["rules"])))
        out.append("</main>")
        out.append("<footer>streamt %s · docs format %s · this page loads nothing from "
                   "anywhere</footer>" % (esc(__version__), esc(doc["docs_format"])))
        out.append("<script>%s</script>" % _DOCS_JS.replace("</", "<\\/"))
        out.append("</body>")
        out.append("</html>")
        return "\n".join(out) + "\n"

    def _dl(self, rows):
        esc = self.esc
        return "<dl>%s</dl>" % "".join("<dt>%s</dt><dd>%s</dd>" % (esc(k), esc(v))
                                      for k, v in rows if v not in (None, "", []))

    def _artifact_html(self, a):
        git = a.get("git") or None
        if git:
            state = {True: "dirty", False: "clean"}.get(git.get("dirty"), "dirty: unknown")
            git_text = "%s on %s (%s)" % (git.get("commit"), git.get("branch") or
                                          "detached HEAD", state)
        else:
            git_text = "none (not built from a git repository)"
        sig = a.get("signature")
        if sig is None:
            sig_text = "unsigned"
        elif "error" in sig:
            sig_text = "unreadable (%s)" % sig["error"]
        elif sig.get("verified"):
            principal = sig.get("principal")
            if isinstance(principal, (list, tuple)):
                principal = ", ".join(principal)
            sig_text = "verified: signed by %s (%s %s)" % (principal, sig.get("key_type"),
                                                          sig.get("fingerprint"))
        else:
            sig_text = ("signed with %s %s (not checked against allowed signers here: use "
                        "`streamt artifact verify --allowed-signers`)"
                        % (sig.get("key_type"), sig.get("fingerprint")))
        cs = a.get("checksums") or {}
        gen = a.get("generator") or {}
        rows = [("format", "%s (built by %s %s)" % (a.get("format"), gen.get("name"),
                                                    gen.get("version"))),
                ("built", a.get("build_time")), ("git", git_text),
                ("secrets", "RESOLVED: the artifact contains secrets (redacted here)"
                 if a.get("secrets_resolved") else
                 "references; deploy needs " + ", ".join(a["required_env"])
                 if a.get("required_env") else "none referenced"),
                ("signature", sig_text),
                ("checksums", "%d files, %s; manifest.json sha256 %s" % (
                    cs.get("files", 0), "all verified" if cs.get("verified")
                    else "NOT verified", cs.get("manifest_sha256"))),
                ("resources", ", ".join("%d %s" % (a["counts"][k], k.replace("_", " "))
                                        for k in ARTIFACT_KINDS))]
        return '<section id="artifact"><h2>Artifact</h2>%s</section>' % self._dl(rows)

    def _graph_html(self):
        doc, esc = self.doc, self.esc
        dag = doc["dag"]
        w, h = dag["width"], dag["height"]
        nodes = dict((n["id"], n) for g in ("sources", "models", "exposures") for n in doc[g])
        nw, nh = self.NODE_W, self.NODE_H
        out = ['<section id="lineage"><h2>Lineage</h2>',
               '<p class="controls"><label>Search <input id="search" type="search" '
               'placeholder="name, owner or tag" autocomplete="off"></label> '
               '<span id="count"></span> <button id="fit" type="button">Fit</button> '
               '<span class="hint">drag to pan, wheel to zoom; click a node for its '
               'details</span></p>',
               '<div id="graph"><svg id="dag" xmlns="http://www.w3.org/2000/svg" '
               'width="%d" height="%d" viewBox="0 0 %d %d" role="img" '
               'aria-label="lineage graph">' % (w, h, w, h),
               '<g id="viewport"><g class="edges">']
        for e in dag["edges"]:
            a, b = nodes[e["from"]]["layout"], nodes[e["to"]]["layout"]
            x1, y1 = a["x"] + nw, a["y"] + nh // 2
            x2, y2 = b["x"], b["y"] + nh // 2
            if x2 <= x1:  # drawn backwards (a cycle, or into a source)
                x1, x2 = a["x"], b["x"] + nw
            dx = max(abs(x2 - x1) // 2, 30)
            sign = 1 if x2 > x1 else -1
            out.append('<path data-from="%s" data-to="%s" d="M%d %d C%d %d %d %d %d %d"/>' % (
                esc(e["from"]), esc(e["to"]), x1, y1, x1 + sign * dx, y1, x2 - sign * dx, y2,
                x2, y2))
        out.append('</g><g class="nodes">')
        for n in sorted(nodes.values(), key=lambda n: (n["layout"]["layer"],
                                                       n["layout"]["order"])):
            lay = n["layout"]
            label = self.fit_label(n["name"], self.LABEL_EM)
            sub = n["type"] + (" \u00b7 " + n["materialized"] if n["materialized"] else "")
            search = " ".join([n["name"], n.get("owner") or ""] + list(n.get("tags") or []))
            out.append(
                '<a href="#%s"><g class="node %s" data-id="%s" data-name="%s" '
                'data-search="%s" data-x="%d" data-y="%d" transform="translate(%d %d)">'
                '<title>%s</title><rect width="%d" height="%d" rx="6"/>'
                '<text x="10" y="17" class="name">%s</text>'
                '<text x="10" y="32" class="sub">%s</text></g></a>' % (
                    self.anchor(n["id"]), esc(n["type"]), esc(n["id"]), esc(n["name"]),
                    esc(search.lower()), lay["x"], lay["y"], lay["x"], lay["y"],
                    esc("%s (%s)" % (n["name"], sub)), nw, nh, esc(label), esc(sub)))
        out.append("</g></g></svg></div></section>")
        return "\n".join(out)

    def _node_html(self, n):
        esc = self.esc
        names = dict((m["id"], m["name"]) for g in ("sources", "models", "exposures")
                     for m in self.doc[g])

        def links(keys):
            return ", ".join('<a href="#%s">%s</a>' % (self.anchor(k), esc(names.get(k, k)))
                             for k in keys) or "none"
        search = " ".join([n["name"], n.get("owner") or ""] + list(n.get("tags") or []))
        out = ['<section class="node-doc %s" id="%s" data-search="%s">' % (
                   esc(n["type"]), self.anchor(n["id"]), esc(search.lower())),
               '<h3><span class="badge %s">%s</span> %s</h3>' % (
                   esc(n["type"]), esc(n["type"]), esc(n["name"]))]
        if n.get("description"):
            out.append("<p>%s</p>" % esc(n["description"]))
        rows = [("owner", n.get("owner")), ("tags", ", ".join(n.get("tags") or [])),
                ("materialized", n.get("materialized")),
                ("exposure type", n.get("exposure_type"))]
        out.append(self._dl(rows).replace("</dl>", "<dt>upstream</dt><dd>%s</dd>"
                                          "<dt>downstream</dt><dd>%s</dd></dl>" % (
                                              links(n["upstream"]), links(n["downstream"]))))
        if n.get("columns"):
            out.append("<h4>Columns</h4><table><tr><th>name</th><th>type</th>"
                       "<th>description</th></tr>%s</table>" % "".join(
                           "<tr><td>%s</td><td><code>%s</code></td><td>%s</td></tr>" % (
                               esc(c["name"]), esc(c["type"] or ""), esc(c["description"] or ""))
                           for c in n["columns"]))
        t = n.get("topic")
        if t:
            rows = [("name", t.get("name")), ("partitions", t.get("partitions")),
                    ("replication factor", t.get("replication_factor"))]
            rows += [(k, (t.get("config") or {})[k]) for k in sorted(t.get("config") or {})]
            out.append("<h4>Topic</h4>" + self._dl(rows))
        if n.get("schema"):
            out.append("<h4>Schema</h4>" + self._dl([
                ("subject", n["schema"].get("subject")),
                ("type", n["schema"].get("schema_type"))]))
        if n.get("sql"):
            out.append("<details><summary>Flink SQL (%d lines)</summary><pre>%s</pre>"
                       "</details>" % (n["sql"].count("\n") + 1, esc(n["sql"])))
        c = n.get("connector")
        if c:
            config = c.get("config") or {}
            out.append("<h4>Connector %s</h4>" % esc(c.get("name")) + self._dl(
                [("cluster", c.get("cluster"))] + [(k, config[k]) for k in sorted(config)]))
        if n.get("tests"):
            out.append("<h4>Tests</h4><ul>")
            for test in n["tests"]:
                out.append("<li><b>%s</b>%s<ul>%s</ul>%s</li>" % (
                    esc(test["name"]), " (%s)" % esc(test["type"]) if test.get("type") else "",
                    "".join("<li><code>%s</code></li>" % esc(json.dumps(
                        a, sort_keys=True, ensure_ascii=False)) for a in test["assertions"]),
                    "<details><summary>SQL</summary><pre>%s</pre></details>" % esc(test["sql"])
                    if test.get("sql") else ""))
            out.append("</ul>")
        if n.get("rules"):
            out.append("<h4>Governance rules that apply</h4><ul>%s</ul>" % "".join(
                "<li><code>%s</code></li>" % esc(r) for r in n["rules"]))
        out.append("</section>")
        return "\n".join(out)


_DOCS_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 24px 40px;color:#1d2330}
header h1{margin:16px 0 4px}.lead{margin:0 0 8px;color:#444}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}
dt{color:#666}dd{margin:0;overflow-wrap:anywhere}
#graph{border:1px solid #ccd;border-radius:6px;overflow:auto;max-height:75vh;background:#fafbfd}
#graph.js{overflow:hidden;cursor:grab}#graph.js svg{width:100%;height:100%}
.edges path{fill:none;stroke:#9aa3b5;stroke-width:1.4}
.node rect{stroke-width:1.5}.node text{font-size:12px;fill:#1d2330}.node .sub{font-size:10px;fill:#556}
.node.source rect{fill:#e4f4e8;stroke:#3b8c55}.node.model rect{fill:#e6eefb;stroke:#3d68b8}
.node.exposure rect{fill:#fdf0e0;stroke:#c07a22}
.node.dim{opacity:.15}.edges path.dim{opacity:.1}.node.hit rect{stroke:#d0302f;stroke-width:3}
.controls{margin:6px 0}.hint{color:#777;font-size:12px}#count{color:#555}
.node-doc{border-top:1px solid #dde;padding:6px 0}.node-doc.hidden{display:none}
.badge{font-size:11px;padding:1px 6px;border-radius:8px;background:#e6eefb;vertical-align:middle}
.badge.source{background:#e4f4e8}.badge.exposure{background:#fdf0e0}
table{border-collapse:collapse}td,th{border:1px solid #dde;padding:2px 8px;text-align:left}
pre{background:#f4f5f8;padding:8px;overflow:auto;font-size:12px}
.problem{background:#fde8e8;padding:6px 10px;border-left:4px solid #c33}
footer{margin-top:30px;color:#777;font-size:12px}
"""

_DOCS_JS = r"""
(function () {
  "use strict";
  var svg = document.getElementById("dag"), box = document.getElementById("graph");
  if (!svg || !box || !svg.viewBox) { return; }
  var full = [0, 0, svg.viewBox.baseVal.width, svg.viewBox.baseVal.height];
  var view = full.slice();
  var nodes = Array.prototype.slice.call(svg.querySelectorAll("g.node"));
  var paths = Array.prototype.slice.call(svg.querySelectorAll(".edges path"));
  var docs = Array.prototype.slice.call(document.querySelectorAll(".node-doc"));
  var count = document.getElementById("count");
  box.className = "js";
  box.style.height = Math.round(Math.min(window.innerHeight * 0.7,
      Math.max(240, full[3] * box.clientWidth / Math.max(full[2], 1) + 24))) + "px";
  function show() { svg.setAttribute("viewBox", view.join(" ")); }
  function fit(list) {
    if (!list.length) { view = full.slice(); show(); return; }
    var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    list.forEach(function (n) {
      var x = +n.getAttribute("data-x"), y = +n.getAttribute("data-y");
      x0 = Math.min(x0, x); y0 = Math.min(y0, y);
      x1 = Math.max(x1, x + 200); y1 = Math.max(y1, y + 40);
    });
    view = [x0 - 40, y0 - 40, Math.max(x1 - x0 + 80, 400), Math.max(y1 - y0 + 80, 200)];
    show();
  }
  function search(q) {
    q = q.trim().toLowerCase();
    var hits = [], ids = {};
    nodes.forEach(function (n) {
      var ok = !q || n.getAttribute("data-search").indexOf(q) >= 0;
      n.classList.toggle("dim", !ok);
      n.classList.toggle("hit", !!q && ok);
      if (ok) { hits.push(n); ids[n.getAttribute("data-id")] = true; }
    });
    paths.forEach(function (p) {
      p.classList.toggle("dim", !!q && !(ids[p.getAttribute("data-from")] &&
                                         ids[p.getAttribute("data-to")]));
    });
    docs.forEach(function (d) {
      d.classList.toggle("hidden", !!q && d.getAttribute("data-search").indexOf(q) < 0);
    });
    count.textContent = q ? hits.length + " of " + nodes.length : nodes.length + " nodes";
    fit(q ? hits : []);
  }
  var input = document.getElementById("search");
  input.addEventListener("input", function () { search(input.value); });
  document.getElementById("fit").addEventListener("click", function () {
    input.value = ""; search("");
  });
  box.addEventListener("wheel", function (e) {
    e.preventDefault();
    var r = svg.getBoundingClientRect(), k = e.deltaY > 0 ? 1.2 : 1 / 1.2;
    var px = view[0] + (e.clientX - r.left) / r.width * view[2];
    var py = view[1] + (e.clientY - r.top) / r.height * view[3];
    view = [px - (px - view[0]) * k, py - (py - view[1]) * k, view[2] * k, view[3] * k];
    show();
  }, {passive: false});
  var drag = null;
  box.addEventListener("mousedown", function (e) {
    drag = {x: e.clientX, y: e.clientY, v: view.slice(), moved: false};
  });
  window.addEventListener("mousemove", function (e) {
    if (!drag) { return; }
    var r = svg.getBoundingClientRect();
    var dx = (e.clientX - drag.x) / r.width * drag.v[2], dy = (e.clientY - drag.y) / r.height * drag.v[3];
    if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 3) { drag.moved = true; }
    view = [drag.v[0] - dx, drag.v[1] - dy, drag.v[2], drag.v[3]];
    show();
  });
  window.addEventListener("mouseup", function () { setTimeout(function () { drag = null; }, 0); });
  box.addEventListener("click", function (e) { if (drag && drag.moved) { e.preventDefault(); } }, true);
  search("");
})();
"""


###############################################################################
# CLI #########################################################################
###############################################################################
#
# Each command registers itself with @command; main() builds the parser from
# the registry, runs the command, and turns StreamtError into its exit code.

__all__ += ["command", "DeployRun", "build_parser", "main"]


_COMMANDS = []


def command(name, help, description=None, epilog=None):
    """Register a sub-command.  The decorated function is ``f(parser)`` that adds the
    command's arguments and returns the handler ``run(args, output) -> exit code``."""
    def register(setup):
        _COMMANDS.append((name, help, description, epilog, setup))
        return setup
    return register


class _Cli(object):
    """The commands, one ``cmd_NAME(parser)`` each beside its ``@command`` registration
    (it adds the command's arguments and returns its ``run(args, output)``), the
    sub-commands' runs (artifact_*), and what they share: project and selection
    arguments, the validate report, confirmation, opening a verified artifact.  The
    deploy steps themselves are DeployRun."""

    # -- cli: validate, envs, lineage ----------------------------------------------

    @staticmethod
    def add_project_arg(p):
        p.add_argument("-p", "--project-dir", metavar="DIR", default=None,
                       help="the project directory (default: $STREAMT_PROJECT_DIR or the "
                        "current directory)")

    @staticmethod
    def project_dir(args):
        return args.project_dir or os.environ.get("STREAMT_PROJECT_DIR") or "."

    @staticmethod
    def add_selection_args(p):
        """--select/--exclude/--target (class Selection, section Validate)."""
        p.add_argument("-s", "--select", action="append", default=[], metavar="SELECTORS",
                       help="only these: name, +name (with its upstream), name+ (with its "
                        "downstream), tag:x; several separated by spaces or repeated")
        p.add_argument("--exclude", action="append", default=[], metavar="SELECTORS",
                       help="leave these out (same selectors as --select)")
        p.add_argument("-t", "--target", action="append", default=[], metavar="KIND:NAME",
                       help="one resource: topic:NAME, schema:SUBJECT, flink_job:NAME, "
                        "connector:NAME, gateway:NAME (repeatable)")

    @staticmethod
    def validate_report(project, env, diags, root):
        """The JSON document of one validated environment::

            {"project": name or null, "environment": name or null, "valid": bool,
             "diagnostics": [{"level": "error"|"warning", "code", "message", "file", "line",
                              "column", "suggestion"}],
             "summary": {"errors", "warnings", "sources", "models", "tests", "exposures"}}

        ``file`` is relative to the project directory; ``line``/``column`` are 1-based or
        null.  Diagnostics are sorted by file, line, code.  The document is stable: keys
        are only ever added."""
        errors = len([d for d in diags if d.is_error])
        summary = {"errors": errors, "warnings": len(diags) - errors}
        for kind in ProjectKinds.KINDS:
            summary[kind] = len(getattr(project, kind)) if project else 0
        return {"project": project.name if project else None, "environment": env,
                "valid": errors == 0, "diagnostics": [d.to_dict() for d in diags],
                "summary": summary}

    @staticmethod
    def plural(n, word):
        return "%d %s%s" % (n, word, "" if n == 1 else "s")

    @staticmethod
    @command("validate", help="check a project: files, references, rules, environment variables",
             epilog="""examples:
  streamt validate -p examples/shop -e dev
  streamt validate --all-envs --strict
  streamt validate -e prod --no-env-check --format json > report.json

exit codes: 0 valid (warnings allowed), 3 invalid, 2 usage error.
--format json prints {"project", "environment", "valid", "diagnostics": [{"level",
"code", "message", "file", "line", "column", "suggestion"}], "summary"} on stdout
(with --all-envs: {"valid", "environments": [one such document per environment]}).""")
    def cmd_validate(p):
        _Cli.add_project_arg(p)
        g = p.add_mutually_exclusive_group()
        g.add_argument("-e", "--env", help="the environment (default: $STREAMT_ENV)")
        g.add_argument("--all-envs", action="store_true", help="validate every environment")
        p.add_argument("--strict", action="store_true", help="treat warnings as errors")
        p.add_argument("--no-env-check", action="store_true",
                       help="do not require the ${VAR}s of the environment to be set")
        p.add_argument("--format", choices=("text", "json"), default="text",
                       help="text for people (stderr + stdout), json for CI (stdout)")
        p.add_argument("--check-schemas", action="store_true",
                       help="also ask the environment's Schema Registry whether each declared "
                        "schema is compatible with its subject's latest version (read-only)")

        def run(args, out):
            root = _Cli.project_dir(args)
            if args.all_envs:
                if not os.path.isdir(os.path.join(root, "environments")):
                    raise UsageError("--all-envs requires multi-environment mode",
                                     hint="create an environments/ directory with environment files, "
                                      "or run without --all-envs")
                envs = list_environments(root)
                if not envs:
                    raise ProjectError("No environment files found in environments/ directory",
                                       hint="add environment files like environments/dev.yml")
            else:
                envs = [args.env]
            results = []
            for e in envs:
                try:
                    pl = ProjectPipeline(root, e, check_env=not args.no_env_check,
                                         strict=args.strict)
                    results.append((pl.project, pl.env, pl.diagnostics))
                except UsageError as err:
                    if not args.all_envs:
                        raise
                    # e.g. environments/my_env.yml: a file whose name is no environment name
                    results.append((None, e, [Diagnostic("error", "PROJECT_ERROR", err.message,
                                                         Location("environments/%s.yml" % e),
                                                         err.hint)]))
            if args.check_schemas:
                # only projects without errors compile; the checks are extra diagnostics
                for pr, e, diags in results:
                    if pr is not None and not any(d.is_error for d in diags):
                        diags.extend(_Cli.schema_check_diagnostics(pr, out, args.format == "text"))
            valid = all(not any(d.is_error for d in diags) for _p, _e, diags in results)
            if args.format == "json":
                docs = [_Cli.validate_report(pr, e, diags, root) for pr, e, diags in results]
                doc = {"valid": valid, "environments": docs} if args.all_envs else docs[0]
                out.raw(canonical_json(doc))
                return EXIT_OK if valid else EXIT_INVALID
            for pr, e, diags in results:
                if pr is not None:
                    label = "Project '%s' (%s)" % (pr.name, pr.env)
                else:
                    label = "The project in %s%s" % (root, " (%s)" % e if e else "")
                if args.all_envs:
                    out.result("--- environment %s ---" % e)
                for d in diags:
                    (out.error if d.is_error else out.warn)(d.render())
                errors = len([d for d in diags if d.is_error])
                warnings = len(diags) - errors
                if errors:
                    out.info("%s is invalid: %s, %s" % (label, _Cli.plural(errors, "error"),
                                                        _Cli.plural(warnings, "warning")), "red")
                    continue
                out.result("%s is valid" % label, "green")
                out.result("  %s, %s, %s, %s; %s" % (
                    _Cli.plural(len(pr.sources), "source"), _Cli.plural(len(pr.models), "model"),
                    _Cli.plural(len(pr.tests), "test"), _Cli.plural(len(pr.exposures), "exposure"),
                    _Cli.plural(warnings, "warning")))
            if args.all_envs:
                bad = [e for _p, e, diags in results if any(d.is_error for d in diags)]
                if bad:
                    out.info("%d of %d environments are invalid: %s" % (len(bad), len(envs), ", ".join(bad)),
                             "red")
                else:
                    out.result("All %d environments are valid" % len(envs), "green")
            if not valid:
                out.info("hint: fix the errors above (file:line), then run 'streamt validate' again")
            return EXIT_OK if valid else EXIT_INVALID
        return run

    @staticmethod
    def schema_check_diagnostics(project, out, talk):
        """--check-schemas: each schema the project declares, checked against the latest
        version of its subject in the live Schema Registry (POST /compatibility, nothing is
        registered).  Incompatible -> an error diagnostic SCHEMA_INCOMPATIBLE."""
        desired = compile_project(project)
        if not desired.get("schemas"):
            if talk:
                out.info("--check-schemas: the project declares no schema")
            return []
        values = dict(project.variables)
        values.update(os.environ)
        runtime = (resolve_variables(desired, values).get("environment") or {}).get("runtime") or {}
        if not (runtime.get("schema_registry") or {}).get("url"):
            raise UsageError("--check-schemas: the environment has no schema_registry.url",
                             hint="add runtime.schema_registry.url to the environment")
        sr = SchemaRegistryTarget(runtime)
        diags = []
        for s in desired["schemas"]:
            ok, messages = sr.check_compatibility(s["subject"], s)
            where = next((Locate.key(src, "schema", Locate.of(src)) for src in project.sources
                          if src.get("name") == s.get("source")), None)
            if ok:
                if talk:
                    out.info("schema %s: compatible with the registry's latest version (or a new "
                         "subject)" % s["subject"])
                continue
            diags.append(Diagnostic("error", "SCHEMA_INCOMPATIBLE",
                                    "schema %s (source '%s') is incompatible with the latest "
                                "registered version: %s"
                                    % (s["subject"], s.get("source"),
                                       "; ".join(messages) or "the Schema Registry says so"),
                                    where,
                                    "make the change compatible, or change the subject's "
                                "compatibility level"))
        return diags

    @staticmethod
    @command("envs", help="list the environments of a project, or show one",
             epilog="""examples:
  streamt envs list -p examples/shop
  streamt envs show prod -p examples/shop

'show' prints the environment's runtime as written: ${VAR} references stay as they
are, and secret-like values (password, api_key, ...) are masked.""")
    def cmd_envs(p):
        sub = p.add_subparsers(dest="envs_command", metavar="SUBCOMMAND")
        pl = sub.add_parser("list", help="the environments, their description and protection",
                            epilog="example:\n  streamt envs list -p examples/shop",
                            formatter_class=p.formatter_class)
        _Cli.add_project_arg(pl)
        ps = sub.add_parser("show", help="one environment: runtime (secrets masked) and safety",
                            epilog="example:\n  streamt envs show prod -p examples/shop",
                            formatter_class=p.formatter_class)
        ps.add_argument("name", help="the environment name")
        _Cli.add_project_arg(ps)

        def run(args, out):
            if not getattr(args, "envs_command", None):
                raise UsageError("streamt envs: say 'list' or 'show NAME'",
                                 hint="run 'streamt envs --help'")
            root = _Cli.project_dir(args)
            if (not os.path.isfile(os.path.join(root, "stream_project.yml")) and
                    not os.path.isfile(os.path.join(root, "stream_project.yaml"))):
                raise ProjectError("No stream_project.yml found in %s" % os.path.abspath(root),
                                   hint="pass the project directory with -p DIR")
            if args.envs_command == "list":
                if not os.path.isdir(os.path.join(root, "environments")):
                    out.result("No environments configured (single-environment mode)")
                    return EXIT_OK
                for name in list_environments(root):
                    try:
                        info = read_environment(root, name)
                    except StreamtError as e:
                        out.result("%-12s (cannot be read: %s)" % (name, e.message))
                        continue
                    line = "%-12s %s" % (name, info["description"] or "")
                    if info["protected"]:
                        line = line.rstrip() + " [protected]"
                    out.result(line.rstrip())
                return EXIT_OK
            info = read_environment(root, args.name)
            out.result("Environment: %s" % info["name"])
            out.result("Description: %s" % (info["description"] or ""))
            out.result("Protected: %s" % ("yes" if info["protected"] else "no"))
            out.result("File: %s" % info["file"])
            out.result("Runtime:")
            for line in YamlEmitter.lines(mask_secrets(info["runtime"]), 1):
                out.result(line)
            out.result("Safety:")
            for line in YamlEmitter.lines(info["safety"], 1):
                out.result(line)
            for d in info["diagnostics"]:
                out.warn("%s: %s [%s]" % (d.location, d.message, d.code))
            return EXIT_OK
        return run

    @staticmethod
    @command("test", help="run the project's data tests (sample: read the topic, check the records)",
             epilog="""examples:
  streamt test -p examples/shop -e dev --type sample
  streamt test -e dev --model orders_clean --format json
  streamt test -e dev --junit-xml test-results.xml

Sample tests read the first (--from earliest) or last (--from latest) sample_size records
(default 100) of each partition of the model's topic, within --time-limit seconds, and check
not_null, accepted_values, range, unique_key and accepted_types on the JSON values; failing
records are listed with their partition and offset.  Continuous tests pass when their Flink
job is RUNNING and has written no failure row since it started.  Schema tests check the
declared columns, not_null and accepted_values against the registered schema.  exit codes: 0 all run tests passed, 1 some failed, 2 usage, 3 invalid project.""")
    def cmd_test(p):
        _Cli.add_project_arg(p)
        p.add_argument("-e", "--env", help="the environment (default: $STREAMT_ENV)")
        p.add_argument("-m", "--model", help="only the tests of this model (or source)")
        p.add_argument("--type", choices=("schema", "sample", "continuous"),
                       help="only tests of this type")
        p.add_argument("--from", dest="start", choices=("earliest", "latest"),
                       default="earliest", help="sample the first or the last records")
        p.add_argument("--time-limit", type=float, default=10.0, metavar="SECONDS",
                       help="stop reading a test's topic after this long (default 10)")
        p.add_argument("--env-file", action="append", default=[], metavar="FILE",
                       help="NAME=value lines for ${VAR}s (the process environment wins)")
        p.add_argument("--format", choices=("text", "json"), default="text")
        p.add_argument("--junit-xml", metavar="FILE",
                       help="also write the results as JUnit XML (for CI systems)")

        def run(args, out):
            pl = ProjectPipeline(_Cli.project_dir(args), args.env)
            desired = pl.require_valid(out, "no test was run")
            project = pl.project
            tests = [t for t in project.tests
                     if (not args.type or t.get("type") == args.type)
                     and (not args.model or t.get("model") == args.model)]
            values = dict(project.variables)
            for f in args.env_file:
                values.update(read_env_file(f))
            values.update(os.environ)
            runtime = (resolve_variables(desired, values).get("environment") or {}).get(
                "runtime") or {}
            reader, jobs = None, None
            if any(t.get("type") == "continuous" for t in tests):
                jobs = DataTests.flink_jobs(desired, runtime, project.name)
            if any(t.get("type") in ("sample", "continuous") for t in tests):
                config = dict(runtime.get("kafka") or {})
                if not config.get("bootstrap_servers"):
                    raise UsageError("test: runtime.kafka.bootstrap_servers is not set",
                                     hint="sample tests read the model's topic from Kafka")
                reader = KafkaReader(config)
            try:
                registry_http = None
                if (runtime.get("schema_registry") or {}).get("url"):
                    registry_http = SchemaRegistryTarget(runtime).http
                report = DataTests.run(project, tests, reader, args.start, args.time_limit,
                                       DataTests.registry(runtime), desired, jobs, registry_http)
            finally:
                if reader is not None:
                    reader.close()
            report = dict(report, format_version=1, command="test", project=project.name,
                          environment=project.env)
            if args.junit_xml:
                try:
                    with open(args.junit_xml, "w", encoding="utf-8") as f:
                        f.write(DataTests.junit(report))
                except (IOError, OSError) as e:
                    raise UsageError("cannot write %s: %s" % (args.junit_xml, e.strerror or e))
            if args.format == "json":
                out.result(canonical_json(report).rstrip("\n"))
            else:
                out.result(DataTests.render(report) if tests else "No tests to run")
            return EXIT_FAILURE if report["summary"]["failed"] else EXIT_OK
        return run

    @staticmethod
    @command("lineage", help="show how data flows: sources, models, exposures",
             epilog="""examples:
  streamt lineage -p examples/shop -e dev
  streamt lineage -e dev -m orders_clean --format mermaid > lineage.mmd

Text lists every node in dependency order with its upstreams; json gives
{"project", "environment", "nodes": [{"name", "type", "materialized", "upstream",
"downstream"}], "edges": [{"from", "to"}]}; mermaid a flowchart for docs.""")
    def cmd_lineage(p):
        _Cli.add_project_arg(p)
        p.add_argument("-e", "--env", help="the environment (default: $STREAMT_ENV)")
        p.add_argument("-m", "--model", help="only what feeds this model (or source) and what it "
                                         "feeds")
        p.add_argument("--upstream", action="store_true",
                       help="with -m: only what feeds it (and it)")
        p.add_argument("--downstream", action="store_true",
                       help="with -m: only what it feeds (and it)")
        p.add_argument("--format", choices=("text", "ascii", "json", "mermaid"), default="text",
                       help="text (ascii: the original streamt's name for it), json or mermaid")
        _Cli.add_selection_args(p)

        def run(args, out):
            if (args.upstream or args.downstream) and not args.model:
                raise UsageError("--upstream/--downstream need -m MODEL: whose upstream?",
                                 hint="e.g. streamt lineage -m orders_clean --upstream")
            project = load_project(_Cli.project_dir(args), env=args.env)
            g = lineage_graph(project)
            nodes, edges = g["nodes"], g["edges"]
            sel = Selection.from_args(args)
            if sel.active:
                keep = sel.nodes(g, Selection.tags_of(project))
                if sel.targets:   # a resource shows as the node it belongs to
                    owners = Selection._owners(compile_project(project), project)
                    keep |= set(owners.get(t) for t in sel.targets) - set([None])
                nodes = dict((k, v) for k, v in nodes.items() if k in keep)
                edges = [e for e in edges if e[0] in keep and e[1] in keep]
            if args.model:
                focus = "model:" + args.model
                if focus not in nodes and "source:" + args.model in nodes:
                    focus = "source:" + args.model
                if focus not in nodes:
                    names = [n["name"] for n in nodes.values() if n["type"] == "model"]
                    raise UsageError("Model '%s' not found" % args.model,
                                     hint=ProjectKinds.suggest(args.model, names) or
                                     "models: %s" % (", ".join(sorted(names)) or "none"))
                both = not (args.upstream or args.downstream)
                keep = set([focus])
                if args.upstream or both:
                    keep |= lineage_reach(focus, edges, 1)
                if args.downstream or both:
                    keep |= lineage_reach(focus, edges, 0)
                nodes = dict((k, v) for k, v in nodes.items() if k in keep)
                edges = [e for e in edges if e[0] in keep and e[1] in keep]
            order = _Cli.topo_order(nodes, edges)
            ups = dict((k, sorted(a for a, b in edges if b == k)) for k in nodes)
            downs = dict((k, sorted(b for a, b in edges if a == k)) for k in nodes)

            def label(k):
                n = nodes[k]
                return "%s (%s%s)" % (n["name"], n["type"],
                                      ":" + n["materialized"] if n["materialized"] else "")
            if args.format == "json":
                doc = {"project": project.name, "environment": project.env,
                       "nodes": [dict(nodes[k], upstream=[nodes[u]["name"] for u in ups[k]],
                                      downstream=[nodes[d]["name"] for d in downs[k]]) for k in order],
                       "edges": [{"from": nodes[a]["name"], "to": nodes[b]["name"]} for a, b in edges]}
                out.raw(canonical_json(doc))
                return EXIT_OK
            if args.format == "mermaid":
                ids = dict((k, "n%d" % i) for i, k in enumerate(order))
                out.result("flowchart LR")
                for k in order:
                    text = label(k).replace('"', "#quot;")
                    shape = ('[("%s")]' if nodes[k]["type"] == "source" else
                             '(["%s"])' if nodes[k]["type"] == "exposure" else '["%s"]') % text
                    out.result("    %s%s" % (ids[k], shape))
                for a, b in edges:
                    out.result("    %s --> %s" % (ids[a], ids[b]))
                return EXIT_OK
            if not order:
                out.result("(the project has no sources, models or exposures)")
            depth = {}
            for k in order:
                depth[k] = max([depth[u] + 1 for u in ups[k] if u in depth] or [0])
                line = "    " * depth[k] + label(k)
                if ups[k]:
                    line += "  <- " + ", ".join(nodes[u]["name"] for u in ups[k])
                out.result(line)
            return EXIT_OK
        return run

    @staticmethod
    @command("docs", help="a self-contained HTML page of the pipeline (works offline)",
             epilog="""examples:
  streamt docs generate -p examples/shop -e dev
  streamt docs generate -e prod -o site/pipeline

Writes index.html (lineage drawn as SVG, every node's details; no network request
when opened, deterministic bytes) and manifest.json (the same content for tools,
docs/docs-page.md). From a built artifact: streamt artifact docs ARTIFACT.""")
    def cmd_docs(p):
        sub = p.add_subparsers(dest="docs_command", metavar="SUBCOMMAND")
        pg = sub.add_parser("generate", help="write index.html and manifest.json of a project",
                            description="Write the docs page of a project: index.html and "
                                    "manifest.json.", formatter_class=p.formatter_class,
                            epilog="""examples:
  streamt docs generate -p examples/shop -e dev          # examples/shop/docs/index.html
  streamt docs generate -e prod -o /tmp/shop-docs""")
        _Cli.add_project_arg(pg)
        pg.add_argument("-e", "--env", help="the environment (default: $STREAMT_ENV)")
        pg.add_argument("-o", "--output", metavar="DIR", default=None,
                        help="the output directory (default: docs/ in the project directory)")

        def run(args, out):
            if getattr(args, "docs_command", None) != "generate":
                p.print_help(out.err)
                return EXIT_USAGE
            root = _Cli.project_dir(args)
            project = load_project(root, env=args.env)
            target = args.output if args.output is not None else os.path.join(root, "docs")
            page = DocsPage.from_project(project)
            for problem in page.doc["problems"]:
                out.warn(problem)
            page.write(target)
            out.result("Documentation generated at %s" % target)
            return EXIT_OK
        return run

    @staticmethod
    def topo_order(nodes, edges):
        """Nodes in dependency order, ties broken by (type, name); nodes in a cycle last."""
        rank = {"source": 0, "model": 1, "exposure": 2}

        def key(k):
            return (rank.get(nodes[k]["type"], 3), nodes[k]["name"])
        indeg = dict((k, 0) for k in nodes)
        for a, b in edges:
            indeg[b] += 1
        ready = sorted((k for k in nodes if indeg[k] == 0), key=key)
        order = []
        while ready:
            k = ready.pop(0)
            order.append(k)
            for a, b in edges:
                if a == k:
                    indeg[b] -= 1
                    if indeg[b] == 0:
                        ready.append(b)
            ready.sort(key=key)
        order.extend(sorted((k for k in nodes if k not in order), key=key))
        return order

    # -- cli: build, artifact ------------------------------------------------------

    @staticmethod
    def signing_key_text(args):
        path = args.sign_key or os.environ.get("STREAMT_SIGNING_KEY_FILE") or None
        if not path:
            return None, None
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8"), path
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError("cannot read the signing key %s: %s" % (
                path, getattr(e, "strerror", None) or e),
                hint="give an OpenSSH ed25519 private key with --sign-key or "
                 "STREAMT_SIGNING_KEY_FILE")

    @staticmethod
    def component_counts(desired):
        labels = (("topics", "topic"), ("schemas", "schema"), ("flink_jobs", "Flink job"),
                  ("connectors", "connector"), ("gateway", "gateway resource"))
        return ", ".join(_Cli.plural(len(desired.get(k) or []), w) for k, w in labels)

    @staticmethod
    @command("build", help="build a deterministic, self-contained artifact of one environment",
             description="Validate and compile the project for one environment and write the "
                     "result as an artifact: a directory, a .tar.gz/.tgz, a .tar.xz, a .tar, "
                     "or '-' (tar.gz on stdout).  Needs no network and no secrets.",
             epilog="""examples:
  streamt build -p examples/shop -e dev -o dist/shop-dev
  streamt build -e prod -o shop-prod.tar.gz --sign-key ~/.ssh/streamt_ed25519
  SOURCE_DATE_EPOCH=0 streamt build -e dev -o - | sha256sum

The build time is SOURCE_DATE_EPOCH, else the time of the git commit, else 0: the same
commit gives the same bytes.  ${VAR} references stay references unless
--resolve-secrets (then every referenced variable must be set; the files are 0600).
exit codes: 0 built, 1 failure (existing output, missing variables), 2 usage,
3 invalid project (nothing written).""")
    def cmd_build(p):
        _Cli.add_project_arg(p)
        p.add_argument("-e", "--env", help="the environment (default: $STREAMT_ENV)")
        p.add_argument("-o", "--output", required=True, metavar="OUT",
                       help="a directory, NAME.tar.gz, NAME.tgz, NAME.tar.xz, NAME.tar or '-'")
        p.add_argument("--resolve-secrets", action="store_true",
                       help="write the values of the ${VAR}s into the artifact (it then holds "
                        "secrets: handle it like a password)")
        p.add_argument("--force", action="store_true", help="replace an existing output")
        p.add_argument("--sign-key", metavar="FILE",
                       help="sign manifest.json with this OpenSSH ed25519 private key "
                        "(default: $STREAMT_SIGNING_KEY_FILE)")
        p.add_argument("--with-state", action="store_true",
                       help="also record a snapshot of the live state under state/ (needs "
                        "access to the services)")
        _Cli.add_selection_args(p)

        def run(args, out):
            root = _Cli.project_dir(args)
            env = args.env or os.environ.get("STREAMT_ENV") or None
            key_text, key_path = _Cli.signing_key_text(args)
            pl = ProjectPipeline(root, env)
            desired = pl.require_valid(out, "nothing was built")
            project, env_name = pl.project, pl.env
            desired = Selection.from_args(args).desired(desired, project)
            git = git_info(project.root, files=project.files)
            epoch = source_date_epoch(os.environ, git)
            git_record = None if git is None else dict(
                (k, git[k]) for k in ("commit", "branch", "dirty"))
            if args.resolve_secrets:
                desired = resolve_refs(desired, project.variables)
            state = None
            if args.with_state:
                # observe_state talks to the services: only here, only when asked.  It sees
                # resolved values; what it returns is redacted.
                live = resolve_refs(desired, project.variables)
                state = observe_state(live, live["environment"].get("runtime") or {}, project=project)
            signer = None
            if key_text is not None:
                ssh_public_key_line(key_text)  # a bad key fails here, before anything is written
                import functools
                signer = functools.partial(ssh_sign, private_key_text=key_text,
                                           namespace=SSHSIG_NAMESPACE)
            files, digest = write_artifact(
                desired, args.output, project_name=project.name, project_version=project.version,
                git=git_record, build_epoch=epoch, secrets_resolved=args.resolve_secrets,
                state=state, signer=signer, force=args.force, protect=(project.root,))
            if args.resolve_secrets:
                out.info("WARNING: %s CONTAINS SECRETS (--resolve-secrets): its files are "
                     "readable by you only; handle and delete it like a password"
                         % ("the artifact" if args.output == "-" else args.output), "red")
            where = "stdout" if args.output == "-" else args.output
            label = ("commit %s%s" % (git["commit"][:12], " (dirty)" if git.get("dirty") else "")
                if git else "no git")
            summary = "built %s: %s (environment %s, %s)" % (
                where, _Cli.component_counts(desired), env_name, label)
            if key_path:
                summary += ", signed"
            if args.output == "-":
                out.info(summary)
            else:
                out.result(summary)
                if digest:
                    out.info("sha256 %s  %s" % (digest, args.output))
            return EXIT_OK
        return run

    @staticmethod
    @command("compile", help="write the project's resources to a directory (the original's compile)",
             description="Validate and compile the project for one environment and write its "
                     "resources to a directory (default: generated/ in the project, as the "
                     "original streamt did), in the layout of a `streamt build` artifact.  "
                     "It is `build` for a working copy: the output is always a directory, "
                     "compile replaces its own previous output, and --dry-run lists the "
                     "files.  Ship what you deploy with `build` (tarball, signature, git "
                     "record).",
             epilog="""examples:
  streamt compile -p examples/shop -e dev
  streamt compile -e dev -o /tmp/shop-generated --dry-run

exit codes: 0 written (or listed), 1 the output is a directory compile did not write,
2 usage, 3 invalid project (nothing written).""")
    def cmd_compile(p):
        _Cli.add_project_arg(p)
        p.add_argument("-e", "--env", help="the environment (default: $STREAMT_ENV)")
        p.add_argument("-o", "--output", metavar="DIR",
                       help="the directory to write (default: generated/ in the project)")
        p.add_argument("--dry-run", action="store_true", help="list what would be written")

        def run(args, out):
            root = _Cli.project_dir(args)
            env = args.env or os.environ.get("STREAMT_ENV") or None
            pl = ProjectPipeline(root, env)
            desired = pl.require_valid(out, "nothing was written")
            project, env_name = pl.project, pl.env
            dest = args.output or os.path.join(root, "generated")
            epoch = source_date_epoch(os.environ, None)
            if args.dry_run:
                files = render_artifact(desired, project.name, project.version, None, epoch)
                out.result("Dry run: nothing written. %s would hold:" % dest)
                for path in sorted(files):
                    out.result("  " + path)
                out.result("(%s)" % _Cli.component_counts(desired))
                return EXIT_OK
            if os.path.lexists(dest) and not _Cli.compile_output_dir(dest):
                raise StreamtError("%s exists and is not the output of a compile" % dest,
                                   hint="choose another directory with -o, or remove it")
            write_artifact(desired, dest, project_name=project.name,
                           project_version=project.version, build_epoch=epoch, force=True,
                           protect=(project.root,))
            out.result("compiled %s (environment %s) to %s: %s"
                       % (project.name, env_name, dest, _Cli.component_counts(desired)))
            return EXIT_OK
        return run

    @staticmethod
    def compile_output_dir(path):
        """May compile replace ``path``?  An empty directory, or one holding a manifest.json
        written by streamt (this one's, or the original's `generated/`)."""
        if not os.path.isdir(path) or os.path.islink(path):
            return False
        if not os.listdir(path):
            return True
        try:
            with open(os.path.join(path, "manifest.json"), encoding="utf-8") as f:
                doc = json.load(f)
        except (IOError, OSError, ValueError):
            return False
        if not isinstance(doc, dict):
            return False
        ours = (doc.get("generator") or {}).get("name") == "streamt" if isinstance(
            doc.get("generator"), dict) else False
        original = "compiled_at" in doc and isinstance(doc.get("artifacts"), dict)
        return ours or original

    @staticmethod
    @command("artifact", help="inspect, verify or compare built artifacts",
             description="Read artifacts (a directory or a .tar.gz/.tgz/.tar.xz/.tar, in memory: "
                     "nothing is extracted or written).",
             epilog="""examples:
  streamt artifact inspect dist/shop-dev
  streamt artifact inspect dist/shop-dev --component flink
  streamt artifact verify shop-prod.tar.gz --allowed-signers allowed_signers --require-signature
  streamt artifact diff old.tar.gz new.tar.gz --detailed-exitcode

exit codes: 0 ok, 4 integrity or signature failure (every problem listed), 2 usage,
8 differences found (diff --detailed-exitcode).""")
    def cmd_artifact(p):
        sub = p.add_subparsers(dest="artifact_command", metavar="SUBCOMMAND")
        fmt = p.formatter_class
        pi = sub.add_parser("inspect", help="summary and contents of an artifact",
                            description="Summary of an artifact: project, environment, git, the "
                                    "${VAR}s deploy needs,\nsignature, one line per resource.",
                            formatter_class=fmt, epilog="""examples:
  streamt artifact inspect dist/shop-dev
  streamt artifact inspect shop-prod.tar.gz --component flink
  streamt artifact inspect dist/shop-dev --format json > inspect.json""")
        pi.add_argument("path", metavar="PATH", help="artifact directory or tarball")
        pi.add_argument("--component", choices=("topics", "schemas", "flink", "connectors",
                                                "gateway"),
                        help="list one component in full (flink: the SQL)")
        pi.add_argument("--format", choices=("text", "json"), default="text")
        pv = sub.add_parser("verify", help="check checksums, files and signature",
                            description="Check every checksum, the file list and the signature "
                                    "(no network).\nEvery problem is listed; exit 4.",
                            formatter_class=fmt, epilog="""examples:
  streamt artifact verify dist/shop-dev
  streamt artifact verify shop-prod.tar.gz --allowed-signers allowed_signers --require-signature

exit codes: 0 sound, 4 integrity or signature problem (listed on stderr; no JSON), 2 usage.""")
        pv.add_argument("path", metavar="PATH", help="artifact directory or tarball")
        pv.add_argument("--allowed-signers", metavar="FILE",
                        help="an ssh allowed_signers file: the signature must verify against it")
        pv.add_argument("--require-signature", action="store_true",
                        help="fail when the artifact is not signed")
        pv.add_argument("--format", choices=("text", "json"), default="text")
        pd = sub.add_parser("diff", help="what changed between two artifacts",
                            description="What changed from artifact A to artifact B: resources "
                                    "added, removed,\nchanged (key by key, Flink SQL as a diff).",
                            formatter_class=fmt, epilog="""examples:
  streamt artifact diff dist/shop-dev dist/shop-dev.tar.gz
  streamt artifact diff old.tar.gz new.tar.gz --detailed-exitcode""")
        pd.add_argument("old", metavar="A", help="the old artifact (directory or tarball)")
        pd.add_argument("new", metavar="B", help="the new artifact (directory or tarball)")
        pd.add_argument("--format", choices=("text", "json"), default="text")
        pd.add_argument("--detailed-exitcode", action="store_true",
                        help="exit 8 when there are differences")
        pdo = sub.add_parser("docs", help="the docs page of an artifact (index.html, manifest.json)",
                             description="Verify an artifact (as `verify` does), then write its "
                                     "docs page:\nindex.html and manifest.json.",
                             formatter_class=fmt, epilog="""examples:
  streamt artifact docs dist/shop-dev -o dist/shop-dev-docs
  streamt artifact docs shop-prod.tar.gz --allowed-signers allowed_signers

exit codes: 0 written, 4 integrity or signature problem (nothing written), 2 usage.""")
        pdo.add_argument("path", metavar="ARTIFACT", help="artifact directory or tarball")
        pdo.add_argument("-o", "--output", metavar="DIR", default="docs",
                         help="the output directory (default: docs)")
        pdo.add_argument("--allowed-signers", metavar="FILE",
                         help="check the signature against this allowed_signers file (the page "
                          "then says who signed)")

        def run(args, out):
            which = getattr(args, "artifact_command", None)
            if which == "inspect":
                return _Cli.artifact_inspect(args, out)
            if which == "verify":
                return _Cli.artifact_verify(args, out)
            if which == "diff":
                return _Cli.artifact_diff(args, out)
            if which == "docs":
                return _Cli.artifact_docs(args, out)
            p.print_help(out.err)
            return EXIT_USAGE
        return run

    @staticmethod
    def artifact_inspect(args, out):
        art = read_artifact(args.path)
        failed = _Cli.verify_first(art)
        doc = inspect_artifact(art, args.component)
        doc["verified"] = failed is None
        if failed is not None:
            doc["problems"] = list(failed.details)
        if args.format == "json":
            out.raw(canonical_json(doc))
            return _Cli.say_unverified(out, failed)
        if failed is not None:
            out.error("%s DOES NOT VERIFY: what follows may not be what was built "
                      "(the problems are listed at the end)" % args.path)
        project = doc["project"] or {}
        git = doc["git"]
        if git:
            state = {True: "dirty", False: "clean", None: "dirty: unknown"}[git.get("dirty")]
            git_text = "%s on %s (%s)" % (git.get("commit"), git.get("branch") or "detached HEAD",
                                          state)
        else:
            git_text = "none (not built from a git repository)"
        if doc["secrets_resolved"]:
            secrets = "RESOLVED: this artifact contains secrets"
        elif doc["required_env"]:
            secrets = "references; deploy needs " + ", ".join(doc["required_env"])
        else:
            secrets = "none referenced"
        sig = doc["signature"]
        if sig is None:
            sig_text = "unsigned"
        elif "error" in sig:
            sig_text = "unreadable (%s)" % sig["error"]
        else:
            sig_text = ("signed with %s %s (not verified here: use `artifact verify "
                   "--allowed-signers`)" % (sig["key_type"], sig["fingerprint"]))
        gen = doc["generator"] or {}
        rows = [("artifact", "%s (%s, %d files)" % (doc["path"], doc["kind"], doc["files"])),
                ("project", "%s %s" % (project.get("name"), project.get("version") or "")),
                ("environment", doc["environment"]),
                ("format", "%s (built by %s %s)" % (doc["format"], gen.get("name"),
                                                    gen.get("version"))),
                ("built", doc["build_time"]), ("git", git_text), ("secrets", secrets),
                ("signature", sig_text),
                ("state", "snapshot of " + ", ".join(doc["state"]) if doc["state"] is not None
                 else "none (build --with-state records one)")]
        for k, v in rows:
            out.result("%-12s %s" % (k, Output.printable(v)))
        counts = doc["counts"]
        out.result("%-12s %s" % ("contents", ", ".join(
            "%d %s" % (counts[k], ArtifactText.LABEL[k] + ("s" if counts[k] != 1 and k != "gateway"
                                                     else "")) for k in ARTIFACT_KINDS)))
        if args.component is None:
            for kind in ARTIFACT_KINDS:
                names = doc["components"][kind]
                if names:
                    out.result("")
                    out.result("%s (%d)" % (kind.replace("_", " "), len(names)))
                    for line in _Cli.inspect_lines(kind, art.desired or {}):
                        out.result("  " + Output.printable(line))
            return _Cli.say_unverified(out, failed)
        kind = ArtifactText.COMPONENTS[args.component]
        out.result("")
        items = doc["items"]
        out.result("%s (%d)" % (kind.replace("_", " "), len(items)))
        if kind == "flink_jobs":
            for job in items:
                out.result("")
                out.result(Output.printable("-- %s  (cluster %s, on upgrade %s, %s)" % (
                    job.get("name"), job.get("cluster"), job.get("on_upgrade"),
                    job.get("fingerprint"))))
                for line in (job.get("sql") or "").rstrip("\n").split("\n"):
                    out.result(line)
        elif kind == "schemas":
            for s in items:
                out.result("")
                out.result(Output.printable("%s (%s, compatibility %s)" % (
                    s.get("subject"), s.get("schema_type"), s.get("compatibility") or "default")))
                out.result(s.get("schema") or "")
        else:
            for item in items:
                out.result(canonical_json(item).rstrip("\n"))
        return _Cli.say_unverified(out, failed)

    @staticmethod
    def verify_first(art):
        """None when `art` verifies (checksums, files, SHA256SUMS; no signature check), else
        the IntegrityError saying why: inspect and diff show an artifact only with it."""
        try:
            verify_artifact(art)
        except IntegrityError as e:
            return e
        return None

    @staticmethod
    def say_unverified(out, failed, code=EXIT_OK):
        """After showing an artifact: `code`, or exit 4 with every problem, loudly, last."""
        if failed is None:
            return code
        out.error(failed.render() + "\nTHE ARTIFACT ABOVE DOES NOT VERIFY: do not trust "
                  "or deploy it")
        return EXIT_INTEGRITY

    @staticmethod
    def inspect_lines(kind, desired):
        items = desired.get(kind) or []
        if kind == "topics":
            for t in items:
                cfg = " ".join("%s=%s" % (k, SecretPolicy.redact(k, v))
                               for k, v in sorted((t.get("config") or {}).items()))
                yield "%s  partitions=%s replication=%s%s" % (
                    t["name"], t.get("partitions"), t.get("replication_factor"),
                    ("  " + cfg) if cfg else "")
        elif kind == "schemas":
            for s in items:
                yield "%s  %s" % (s["subject"], s.get("schema_type"))
        elif kind == "flink_jobs":
            for j in items:
                yield "%s  cluster=%s on_upgrade=%s %d lines of SQL" % (
                    j["name"], j.get("cluster"), j.get("on_upgrade"),
                    len((j.get("sql") or "").splitlines()))
        elif kind == "connectors":
            for c in items:
                cls = (c.get("config") or {}).get("connector.class", "?")
                yield "%s  cluster=%s %s" % (c["name"], c.get("cluster"), cls)
        else:
            for g in items:
                yield ArtifactText.gateway_name(g)

    @staticmethod
    def artifact_verify(args, out):
        art = read_artifact(args.path)
        text, label = _Cli.signers_file(args)
        report = verify_artifact(art, allowed_signers=text, allowed_signers_name=label,
                                 require_signature=args.require_signature)
        if args.format == "json":
            out.raw(canonical_json({"ok": True, "path": args.path, "files": report["files"],
                                          "signature": report["signature"]}))
            return EXIT_OK
        sig = report["signature"]
        if sig is None:
            sig_text = "unsigned"
        elif sig.get("verified"):
            principal = sig.get("principal")
            if isinstance(principal, (list, tuple)):
                principal = ", ".join(principal)
            sig_text = "signature verified: %s (%s %s)" % (principal, sig["key_type"],
                                                           sig["fingerprint"])
        else:
            sig_text = "signed with %s %s, NOT verified (give --allowed-signers)" % (
                sig["key_type"], sig["fingerprint"])
        out.result("OK %s: %d files match the manifest; %s" % (args.path, report["files"],
                                                              sig_text), "green")
        return EXIT_OK

    @staticmethod
    def artifact_docs(args, out):
        art = read_artifact(args.path)
        text, label = _Cli.signers_file(args)
        report = verify_artifact(art, allowed_signers=text, allowed_signers_name=label)
        page = DocsPage.from_artifact(art, report)
        page.write(args.output)
        out.result("Documentation generated at %s" % args.output)
        return EXIT_OK

    @staticmethod
    def artifact_diff(args, out):
        old = read_artifact(args.old)
        new = read_artifact(args.new)
        failed = []
        for art in (old, new):
            e = _Cli.verify_first(art)
            if e is not None:
                out.error("%s DOES NOT VERIFY: the differences below may not be what was "
                          "built (the problems are listed at the end)" % art.path)
                failed.append(e)
        changes = diff_artifacts(old, new)
        if args.format == "json":
            doc = {"old": args.old, "new": args.new, "changes": changes,
                   "verified": not failed}
            if failed:
                doc["problems"] = [d for e in failed for d in [e.message] + e.details]
            out.raw(canonical_json(doc))
        else:
            ma, mb = old.manifest, new.manifest
            for key in ("environment", "project", "git", "build_time", "secrets_resolved"):
                if ma.get(key) != mb.get(key):
                    out.result("# %s: %s -> %s" % (key, ArtifactText.show(ma.get(key)),
                                                   ArtifactText.show(mb.get(key))))
            for line in render_diff(changes):
                out.result(line)
        code = EXIT_CHANGES if args.detailed_exitcode and changes else EXIT_OK
        for e in failed:
            code = _Cli.say_unverified(out, e, code)
        return code

    # -- cli: deploy, plan, apply, status ------------------------------------------

    #
    # deploy ARTIFACT · plan -p DIR · apply -p DIR · status (ARTIFACT | -p DIR).
    # Nothing touches the network before the plan step: the artifact is verified, the
    # environment checked, protected environments confirmed and every ${VAR} resolved
    # first; only then are the targets contacted.

    ALLOW_DELETE_KINDS = ("topics", "schemas", "flink_jobs", "connectors", "gateway", "all")

    @staticmethod
    def add_common_deploy_args(p, with_apply=True):
        p.add_argument("-e", "--env", help="the environment (deploy: must match the artifact's; "
                                        "plan, apply: default $STREAMT_ENV)")
        p.add_argument("--format", choices=("text", "json"), default="text",
                       help="output format (json: see docs/README.md, 'deploy JSON')")
        p.add_argument("--detailed-exitcode", action="store_true",
                       help="exit 0 when nothing changes, 8 when changes are pending")
        p.add_argument("--env-file", action="append", default=[], metavar="FILE",
                       help="NAME=value lines for ${VAR}s (the process environment wins)")
        p.add_argument("--allow-delete", default="", metavar="KINDS",
                       help="delete orphans of these kinds (comma-separated: %s); the "
                        "environment must allow destructive changes" % ", ".join(_Cli.ALLOW_DELETE_KINDS))
        p.add_argument("--prune-config", action="store_true",
                       help="reset topic config keys the project no longer sets")
        _Cli.add_selection_args(p)
        if with_apply:
            g = p.add_mutually_exclusive_group()
            g.add_argument("--confirm", action="store_true", help="apply the changes")
            g.add_argument("--dry-run", action="store_true",
                           help="plan and run the services' own checks, change nothing")

    DEPLOY_EXIT_CODES = """exit codes: 0 done or nothing to change, 1 failure, 2 usage, 3 invalid project,
4 artifact integrity or signature, 5 refused, 6 drift, 7 partial deploy (fix, run again),
8 changes pending (--detailed-exitcode).  ${VAR}s come from the process environment and
--env-file (plan, apply, status -p: also the project's .env and .env.<env>)."""

    @staticmethod
    @command("deploy", help="deploy an artifact to its environment",
             description="Verify an artifact, plan against the live services and apply it "
                     "(--confirm) or only check it (--dry-run).",
             epilog="""examples:
  streamt deploy dist/shop-dev --dry-run
  streamt deploy dist/shop-dev --confirm
  streamt deploy shop-prod.tar.gz --confirm --env-file .env.prod --require-signature --allowed-signers allowed_signers

""" + DEPLOY_EXIT_CODES)
    def cmd_deploy(p):
        p.add_argument("artifact", help="artifact directory or tarball")
        _Cli.add_common_deploy_args(p)
        p.add_argument("--check-drift", action="store_true",
                       help="refuse (exit 6) when the live state moved since the artifact's "
                        "state/ snapshot")
        p.add_argument("--allowed-signers", metavar="FILE", help="OpenSSH allowed_signers file")
        p.add_argument("--require-signature", action="store_true",
                       help="refuse an artifact without a valid signature")
        return lambda args, output: DeployRun(args, output, "deploy").run()

    @staticmethod
    @command("plan", help="show what apply would change (reads the live services)",
             epilog="""examples:
  streamt plan -p examples/shop -e dev
  streamt plan -e dev --format json --detailed-exitcode > plan.json

""" + DEPLOY_EXIT_CODES)
    def cmd_plan(p):
        p.add_argument("-p", "--project-dir", default=None,
                       help="project directory (default: $STREAMT_PROJECT_DIR, else .)")
        _Cli.add_common_deploy_args(p, with_apply=False)
        return lambda args, output: DeployRun(args, output, "plan").run()

    @staticmethod
    @command("apply", help="compile a project and deploy it (--confirm or --dry-run)",
             epilog="""examples:
  streamt apply -p examples/shop -e dev --dry-run
  streamt apply -p examples/shop -e dev --confirm

""" + DEPLOY_EXIT_CODES)
    def cmd_apply(p):
        p.add_argument("-p", "--project-dir", default=None,
                       help="project directory (default: $STREAMT_PROJECT_DIR, else .)")
        _Cli.add_common_deploy_args(p)
        p.add_argument("--force", action="store_true",
                       help="the original streamt's flag: let the plan's destructive changes "
                        "through where the environment's safety.allow_destructive is false "
                        "(deletes still need --allow-delete; --confirm is still required)")
        return lambda args, output: DeployRun(args, output, "apply").run()

    @staticmethod
    @command("status", help="what is live vs what the artifact or project wants (read-only)",
             epilog="""examples:
  streamt status dist/shop-dev
  streamt status -p examples/shop -e dev --format json
  streamt status dist/shop-dev --lag

""" + DEPLOY_EXIT_CODES)
    def cmd_status(p):
        p.add_argument("artifact", nargs="?", help="artifact directory or tarball")
        p.add_argument("-p", "--project-dir", help="project directory (instead of an artifact)")
        p.add_argument("-e", "--env", help="the environment (with -p; default $STREAMT_ENV)")
        p.add_argument("--format", choices=("text", "json"), default="text",
                       help="output format (json: see docs/README.md, 'deploy JSON')")
        p.add_argument("--env-file", action="append", default=[], metavar="FILE",
                       help="NAME=value lines for ${VAR}s (the process environment wins)")
        p.add_argument("--filter", metavar="GLOB",
                       help="only resources whose name matches this shell pattern "
                        "(e.g. 'orders*')")
        p.add_argument("--lag", action="store_true",
                       help="also how far each Flink job's and sink connector's consumer "
                        "group is behind the log end, per partition (JSON: \"lag\")")
        _Cli.add_selection_args(p)
        return lambda args, output: DeployRun(args, output, "status").run()

    @staticmethod
    def parse_allow_delete(text):
        kinds = [k.strip() for k in (text or "").split(",") if k.strip()]
        for k in kinds:
            if k not in _Cli.ALLOW_DELETE_KINDS:
                raise UsageError("--allow-delete: unknown kind %r (one of %s)"
                                 % (k, ", ".join(_Cli.ALLOW_DELETE_KINDS)))
        return kinds

    @staticmethod
    def confirm_on_tty(env_name, output):
        if not (sys.stdin.isatty() and output.err.isatty()):
            return False
        output.err.write("Type '%s' to confirm: " % env_name)
        output.err.flush()
        try:
            answer = sys.stdin.readline().strip()
        except (EOFError, KeyboardInterrupt):
            return False
        return answer == env_name

    @staticmethod
    def desired_from_project(root, env, output):
        """load, validate, compile in memory (ProjectPipeline; its diagnostics on ``output``):
        (project, desired)."""
        pl = ProjectPipeline(root, env)
        desired = pl.require_valid(output, "nothing was contacted")
        output.info("compiled %s for %s" % (pl.project.name, pl.project.env))
        return pl.project, desired

    @staticmethod
    def signers_file(args):
        """(text, name) of the --allowed-signers FILE, or (None, None): always a file (a
        path with spaces too), and a file that cannot be read is said so (exit 2)."""
        path = getattr(args, "allowed_signers", None)
        if path is None:
            return None, None
        try:
            with open(path, "rb") as f:
                data = f.read(1 << 20)
        except (IOError, OSError) as e:
            raise UsageError("cannot read the allowed signers file %s: %s" % (
                path, e.strerror or e), hint="give the path of an ssh allowed_signers file "
                                             "(`principal ssh-ed25519 AAAA...` lines)")
        try:
            return data.decode("utf-8"), path
        except UnicodeDecodeError:
            raise UsageError("the allowed signers file %s is not UTF-8 text" % path)

    @staticmethod
    def open_verified_artifact(args, progress):
        """read + verify (checksums, file list, safe paths, signature policy): exit 4 on
        failure.  Returns {"project", "environment", "desired", "state"}."""
        art = read_artifact(args.artifact)
        env = (art.desired or {}).get("environment") or {}
        signers = getattr(args, "allowed_signers", None)
        need_sig = bool(getattr(args, "require_signature", False) or signers or
                        (env.get("safety") or {}).get("require_signature"))
        if need_sig and not signers:
            verify_artifact(art)  # integrity problems first, they say more
            raise IntegrityError("this artifact must be signed: pass --allowed-signers FILE",
                                 hint="the environment's safety.require_signature (or "
                                  "--require-signature) asks for a verified signature")
        text, label = _Cli.signers_file(args)
        verify_artifact(art, allowed_signers=text, allowed_signers_name=label,
                        require_signature=need_sig)
        progress("artifact verified: %s%s" % (args.artifact, " (signature verified)" if need_sig
                                              else ""))
        return {"project": ((art.manifest or {}).get("project") or {}).get("name"),
                "environment": art.environment or env.get("name"),
                "desired": art.desired, "state": art.state}

    # -- cli: init -----------------------------------------------------------------

    INIT_FILES = [
        ("stream_project.yml", """\
# The project: what it is called and the defaults of its topics.
# Reference: https://github.com/conduktor/streamt (same file format).
project:
  name: {name}
  version: "0.1.0"
  description: A starter streamt project

defaults:
  topic:
    partitions: 3
    replication_factor: 1

rules:
  topics:
    naming_pattern: "{name_re}\\\\.[a-z0-9_.]+"
  models:
    require_description: true
"""),
        ("sources/events.yml", """\
# Sources: topics written by someone else, described so that models can read them.
sources:
  - name: events
    description: Raw events from the applications
    topic: {name}.events.v1
    columns:
      - name: event_id
        type: STRING
      - name: user_id
        type: STRING
      - name: event_type
        type: STRING
      - name: event_time
        type: TIMESTAMP(3)
    event_time:
      column: event_time
      watermark:
        max_out_of_orderness_ms: 5000
"""),
        ("models/events_clean.yml", """\
# Models: SQL over sources and other models; each becomes a Flink job and a topic.
models:
  - name: events_clean
    description: Events with a user, ready for consumers
    materialized: flink
    sql: |
      SELECT event_id, user_id, event_type, event_time
      FROM {{{{ source("events") }}}}
      WHERE user_id IS NOT NULL
    advanced:
      topic:
        name: {name}.events.clean.v1
"""),
        ("models/events_archive.yml", """\
# A sink: a Kafka Connect connector that writes a model's topic somewhere else.
models:
  - name: events_archive
    description: Clean events appended to a file
    from:
      - ref: events_clean
    sink:
      connector: org.apache.kafka.connect.file.FileStreamSinkConnector
      config:
        file: ${{ARCHIVE_FILE}}
        tasks.max: "1"
"""),
        ("environments/dev.yml", """\
# The dev environment: local services. ${{VAR}} references are resolved from the
# process environment, .env.dev and .env (in that order) when you deploy.
environment:
  name: dev
  description: Local services

runtime:
  kafka:
    bootstrap_servers: ${{KAFKA_BOOTSTRAP}}
  flink:
    default: local
    clusters:
      local:
        rest_url: ${{FLINK_REST_URL}}
        sql_gateway_url: ${{FLINK_SQL_GATEWAY_URL}}
  connect:
    default: local
    clusters:
      local:
        rest_url: ${{CONNECT_URL}}
"""),
        ("environments/prod.yml", """\
# The prod environment: protected (deploy needs --confirm), no destructive change.
# Secrets stay ${{VAR}} references in the artifact; set them on the deploying machine.
environment:
  name: prod
  description: Production
  protected: true

runtime:
  kafka:
    bootstrap_servers: ${{KAFKA_BOOTSTRAP}}
    security_protocol: SASL_SSL
    sasl_mechanism: SCRAM-SHA-512
    sasl_username: ${{KAFKA_USERNAME}}
    sasl_password: ${{KAFKA_PASSWORD}}
  flink:
    default: main
    clusters:
      main:
        rest_url: ${{FLINK_REST_URL}}
        sql_gateway_url: ${{FLINK_SQL_GATEWAY_URL}}
  connect:
    default: main
    clusters:
      main:
        rest_url: ${{CONNECT_URL}}

safety:
  allow_destructive: false
"""),
        (".env", """\
# Values for the dev environment (local, not secret). Real environment variables win.
KAFKA_BOOTSTRAP=127.0.0.1:9092
FLINK_REST_URL=http://127.0.0.1:8081
FLINK_SQL_GATEWAY_URL=http://127.0.0.1:8083
CONNECT_URL=http://127.0.0.1:8084
ARCHIVE_FILE=/tmp/{name}-events.txt
"""),
        (".env.example", """\
# What the prod environment needs at deploy time. Copy to .env.prod on the deploying
# machine (never commit it) or export the variables there.
KAFKA_BOOTSTRAP=
KAFKA_USERNAME=
KAFKA_PASSWORD=
FLINK_REST_URL=
FLINK_SQL_GATEWAY_URL=
CONNECT_URL=
ARCHIVE_FILE=
"""),
        (".gitignore", """\
.env.*
!.env.example
dist/
"""),
    ]

    @staticmethod
    @command("init", help="create a small working multi-environment project",
             epilog="example:\n  streamt init my-pipeline\n  streamt validate -p my-pipeline -e dev")
    def cmd_init(p):
        p.add_argument("directory", nargs="?", default=".",
                       help="where to create the project (default: the current directory)")
        p.add_argument("--name", help="project name (default: the directory's name)")

        def run(args, output):
            root = os.path.abspath(args.directory)
            raw = args.name or os.path.basename(root.rstrip(os.sep)) or "pipeline"
            name = re.sub(r"[^a-z0-9_]+", "_", raw.lower()).strip("_") or "pipeline"
            if not re.match(r"[a-z]", name):
                name = "p_" + name
            if os.path.exists(root) and not os.path.isdir(root):
                raise UsageError("%s exists and is not a directory" % root,
                                 hint="choose a new or empty directory: streamt init NEW_DIR")
            existing = [rel for rel, _ in _Cli.INIT_FILES if os.path.exists(os.path.join(root, rel))]
            if existing:
                raise UsageError("%s already has %s" % (root, ", ".join(sorted(existing))),
                                 hint="choose an empty directory: streamt init NEW_DIR")
            try:
                for rel, text in _Cli.INIT_FILES:
                    path = os.path.join(root, rel)
                    d = os.path.dirname(path)
                    if not os.path.isdir(d):
                        os.makedirs(d)
                    with open(path, "w", encoding="utf-8", newline="\n") as f:
                        f.write(text.format(name=name, name_re=name))  # [a-z0-9_]: no regex escaping
            except (IOError, OSError) as e:  # a parent that is a file, a read-only directory
                raise StreamtError("cannot create the project in %s: %s"
                                   % (root, e.strerror or e),
                                   hint="choose a directory you can write: streamt init NEW_DIR")
            where = args.directory
            output.result("Created project '%s' in %s" % (name, where))
            output.result("")
            output.result("Next steps:")
            output.result("  streamt validate -p %s -e dev" % where)
            output.result("  streamt build -p %s -e dev -o %s/dist/dev" % (where, where))
            output.result("  streamt artifact inspect %s/dist/dev" % where)
            return EXIT_OK
        return run


class DeployRun(object):
    """One run of `deploy`, `plan`, `apply` or `status`: the numbered steps of
    docs/README.md ("deploy"), one method each, sharing what the earlier steps found.
    ``run()`` takes them in order; with --format json the report is written whether the
    run ends well or not."""

    SERVICE_NAMES = {"schema": "Schema Registry", "topic": "Kafka", "flink_job": "Flink",
                     "connector": "Kafka Connect", "gateway": "Conduktor Gateway"}

    def __init__(self, args, output, cmd):
        self.args, self.output, self.cmd = args, output, cmd
        self.progress = output.info
        self.json_out = args.format == "json"
        self.report = {"format_version": 1, "command": cmd, "project": None,
                       "environment": None, "contacts": [], "kafka_cluster_id": None,
                       "plan": None, "validation_errors": [], "drift": [], "result": None}
        self.snapshot = None        # the artifact's state/ (built --with-state), if any
        self.project = None         # the loaded project (plan, apply, status -p)
        self.values = {}            # ${VAR} values
        self.project_name = self.env_name = self.desired = None
        self.safety, self.applying = {}, False
        self.runtime = self.policy = self.targets = None

    def run(self):
        try:
            return self.steps()
        except StreamtError as e:
            if self.json_out:
                rep = getattr(e, "report", None)
                self.report["result"] = rep or {
                    "status": "refused" if e.exit_code in (
                        EXIT_REFUSED, EXIT_DRIFT, EXIT_INTEGRITY) else "failed",
                    "applied": [], "not_applied": [], "failed": None, "error": e.message}
                self.write_report()
            raise

    def steps(self):
        self.source()
        self.select()
        self.confirm()
        self.resolve()
        self.contact()
        try:
            self.check_drift()
            plan = self.plan()
            if self.cmd == "status":
                return self.status(plan)
            self.gate(plan)
            if not self.applying:
                return self.dry_run(plan)
            return self.apply(plan)
        finally:
            if "topic" in self.targets:
                self.targets["topic"].close()

    def write_report(self):
        self.output.result(canonical_json(self.report).rstrip("\n"))

    # 1-2. the source: a project (loaded, validated, compiled) or an artifact (verified,
    # and built for the environment named on the command line)
    def source(self):
        args, cmd = self.args, self.cmd
        from_project = cmd == "status" and (args.project_dir or (
            not args.artifact and os.environ.get("STREAMT_PROJECT_DIR")))
        if cmd in ("plan", "apply") or from_project:
            if cmd == "status" and args.artifact:
                raise UsageError("status: give an artifact or -p DIR, not both")
            self.project, self.desired = _Cli.desired_from_project(
                _Cli.project_dir(args), args.env, self.output)
            self.project_name, self.env_name = self.project.name, self.project.env
            self.values = dict(self.project.variables)
        else:
            if not getattr(args, "artifact", None):
                raise UsageError("%s: give an artifact (or -p DIR -e ENV)" % cmd)
            art = _Cli.open_verified_artifact(args, self.progress)
            self.project_name, self.desired = art["project"], art["desired"]
            self.snapshot, self.env_name = art["state"], art["environment"]
            if args.env and args.env != self.env_name:
                raise RefusedError("environment mismatch: the artifact was built for %r, not %r"
                                   % (self.env_name, args.env),
                                   hint="build an artifact for %s (a build is "
                                        "environment-specific)" % args.env)
        self.report["project"] = self.project_name
        self.report["environment"] = self.env_name

    def select(self):
        selection = Selection.from_args(self.args)
        if not selection.active:
            return
        # the project's graph and tags (from a project: the one already loaded)
        self.desired = selection.desired(self.desired, self.project)
        self.progress("selected: %s (what the selection leaves out is not planned, changed "
                      "or reported as an orphan)" % _Cli.component_counts(self.desired))

    def confirm(self):
        args, cmd, env_name = self.args, self.cmd, self.env_name
        environment = self.desired.get("environment") or {}
        self.safety = environment.get("safety") or {}
        self.applying = cmd in ("deploy", "apply") and not args.dry_run
        if cmd not in ("deploy", "apply") or args.confirm or args.dry_run:
            return
        if environment.get("protected") or self.safety.get("confirm_apply"):
            if not _Cli.confirm_on_tty(env_name, self.output):
                raise RefusedError("%r is a protected environment: --confirm is required"
                                   % env_name,
                                   hint="review the plan with --dry-run, then re-run with "
                                        "--confirm")
        elif not sys.stdin.isatty():
            raise UsageError("%s: choose --confirm (apply) or --dry-run (check only)" % cmd,
                             hint="coming from the original streamt, whose `apply` deployed "
                                  "without asking: add --confirm (streamt %s --confirm)" % cmd)
        elif not _Cli.confirm_on_tty(env_name, self.output):
            raise RefusedError("not confirmed")

    # 3. ${VAR}s: --env-file lines, then the process environment (highest)
    def resolve(self):
        args = self.args
        for f in getattr(args, "env_file", []) or []:
            self.values.update(read_env_file(f))
        self.values.update(os.environ)
        self.desired = resolve_variables(self.desired, self.values)
        self.output.scrub = SecretPolicy.scrubber(self.values)  # what services echo back
        self.runtime = (self.desired.get("environment") or {}).get("runtime") or {}
        self.policy = PlanPolicy(self.project_name,
                                 _Cli.parse_allow_delete(getattr(args, "allow_delete", "")),
                                 getattr(args, "prune_config", False),
                                 SecretPolicy.values_of(self.values))
        self.targets = make_targets(self.desired, self.runtime)

    # 4. what will be contacted (hosts only)
    def contact(self):
        for kind in APPLY_ORDER:
            if kind in self.targets:
                hosts = self.targets[kind].hosts()
                name = self.SERVICE_NAMES[kind]
                self.report["contacts"].append({"service": name, "hosts": hosts})
                self.progress("will contact %s: %s" % (name, ", ".join(hosts)))

    # 5. drift since the build, then the plan
    def check_drift(self):
        report = self.report
        if getattr(self.args, "check_drift", False):
            if self.snapshot is None:
                raise DriftError("--check-drift: the artifact has no state/ snapshot",
                                 hint="build it with --with-state")
            now = observe_state(self.desired, self.runtime, self.policy.project,
                                targets=self.targets)
            report["drift"] = drift_between(self.snapshot, now)
            if report["drift"]:
                raise DriftError("the live state changed since the artifact was built",
                                 details=report["drift"][:50],
                                 hint="rebuild the artifact (or review the change) and "
                                      "deploy again")
            self.progress("no drift since the build")
        elif self.cmd == "status" and self.snapshot is not None:
            # status shows what --check-drift would refuse, without refusing
            now = observe_state(self.desired, self.runtime, self.policy.project,
                                targets=self.targets)
            report["drift"] = drift_between(self.snapshot, now)

    def plan(self):
        args = self.args
        plan = plan_deploy(self.desired, self.runtime, self.policy, targets=self.targets,
                           progress=self.progress)
        if getattr(args, "filter", None):
            import fnmatch
            plan.changes = [c for c in plan.changes if fnmatch.fnmatchcase(c.name, args.filter)]
        if Selection.from_args(args).active:
            # never an orphan, never a delete: the rest of the project is not planned
            plan.changes = [c for c in plan.changes if c.action not in ("orphan", "delete")]
        self.report["kafka_cluster_id"] = plan.cluster_id
        self.report["plan"] = plan.to_json()
        if plan.cluster_id:
            self.progress("Kafka cluster id: %s" % plan.cluster_id)
        if not self.json_out:
            self.output.result(plan.render(verbose=(self.cmd == "status")))
            if self.cmd == "status" and self.snapshot is not None:
                self.output.result("Drift since the build (what deploy --check-drift refuses):"
                                   if self.report["drift"] else "No drift since the build.")
                for line in self.report["drift"]:
                    self.output.result("  " + line)
        return plan

    def status(self, plan):
        if getattr(self.args, "lag", False):
            self.report["lag"] = ConsumerLag.measure(self.desired, self.runtime)
            if not self.json_out:
                self.output.result(ConsumerLag.render(self.report["lag"]))
        self.report["result"] = {"status": "pending" if plan.pending else "no-changes",
                                 "applied": [], "not_applied": [], "failed": None,
                                 "mutating_calls": mutating_calls(self.targets)}
        if self.json_out:
            self.write_report()
        return EXIT_OK

    # 6. what is refused: by streamt, by the environment's safety, by the services
    def gate(self, plan):
        if plan.refused:
            raise RefusedError("the plan contains changes streamt refuses to make",
                               details=["%s: %s" % (c.ref, c.refused) for c in plan.refused])
        if getattr(self.args, "force", False):
            # the original's --force: destructive operations allowed despite the
            # environment's safety.allow_destructive; it opens exactly that gate
            self.progress("--force (as in the original streamt): the plan's destructive "
                          "changes (%d) are allowed on %r even if its "
                          "safety.allow_destructive is false; deletes still need "
                          "--allow-delete, and --confirm is still required"
                          % (len(plan.destructive), self.env_name))
        elif plan.destructive and self.safety.get("allow_destructive") is False:
            raise RefusedError("environment %r does not allow destructive changes, and the "
                               "plan contains some" % self.env_name,
                               details=["would %s %s" % (c.action if c.action == "delete" else
                                                         "reset config of", c.ref)
                                        for c in plan.destructive],
                               hint="drop --allow-delete/--prune-config, or change "
                                    "safety.allow_destructive for this environment")

    def dry_run(self, plan):
        if self.cmd != "plan" and plan.pending:
            self.progress("running the services' own checks (dry run)")
            errors = []
            for kind in APPLY_ORDER:
                mine = [c for c in plan.pending if c.kind == kind]
                if mine:
                    errors.extend(plan.targets[kind].validate(mine))
            self.report["validation_errors"] = errors
            if errors:
                raise RefusedError("the services reject %d change(s)" % len(errors),
                                   details=errors)
        self.report["result"] = {"status": "pending" if plan.pending else "no-changes",
                                 "applied": [], "not_applied": [c.ref for c in plan.pending],
                                 "failed": None, "mutating_calls": mutating_calls(self.targets)}
        if self.json_out:
            self.write_report()
        if self.args.detailed_exitcode and plan.pending:
            return EXIT_CHANGES
        return EXIT_OK

    # 7. apply
    def apply(self, plan):
        try:
            result = apply_plan(plan, progress=self.progress)
        except PartialDeployError as e:
            e.report["mutating_calls"] = mutating_calls(self.targets)
            raise
        result["mutating_calls"] = mutating_calls(self.targets)
        self.report["result"] = result
        if self.json_out:
            self.write_report()
        else:
            self.output.result("Applied %d change(s)." % len(result["applied"])
                               if result["applied"] else "No changes.")
            for ref, savepoint in sorted(result["restored_from"].items()):
                self.output.result("  %s %s" % (ref, "restored from the savepoint %s" % savepoint
                                                if savepoint else "started without state"))
        if self.args.detailed_exitcode and result["applied"]:
            return EXIT_CHANGES
        return EXIT_OK


def build_parser(only=None):
    """The argparse parser of every command; with `only` (a command name), the parser of
    that command alone: setting up all of them costs ~20 ms, a tenth of a large build.

    main() passes `only` when the first word of the command line is a command's name:
    argparse then looks that name up and nothing else, and no message can show the
    other commands (the usage says COMMAND; help and errors are the command's own).
    tests/test_cli_parser.py compares the two parsers on many command lines."""
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
        if only is not None and name != only:
            continue
        p = sub.add_parser(name, help=help_text, description=description or help_text,
                           epilog=epilog, formatter_class=fmt)
        p.set_defaults(_run=setup(p))
    return parser


# Commands that read files, compute and write, then exit, run with the cyclic garbage
# collector paused (_gc_paused: it rescanned the loaded project during validate, compile
# and write, a seventh of a 5,000-model build).  Commands that talk to services (long
# waits, many short-lived buffers) keep it.
_BATCH_COMMANDS = ("build", "validate", "lineage")


def main(argv=None, output=None):
    """Run streamt; returns the exit code (never raises for user errors)."""
    output = output or Output()
    if (sys.argv[1:] if argv is None else list(argv)) == ["--version"]:
        # start-up budget (3x a bare interpreter): building the argparse parser with
        # every command costs ~60 ms, several times the interpreter's own start
        sys.stdout.write("streamt %s (Python %s)\n" % (__version__, sys.version.split()[0]))
        return EXIT_OK
    try:
        words = sys.argv[1:] if argv is None else list(argv)
        named = [name for name, _h, _d, _e, _s in _COMMANDS]
        parser = build_parser(only=words[0] if words and words[0] in named else None)
        args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            parser.print_help(output.err)
            return EXIT_USAGE
        output.scrub = SecretPolicy.scrubber(os.environ)
        if args.command in _BATCH_COMMANDS:
            with _gc_paused():
                code = args._run(args, output)
        else:
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
