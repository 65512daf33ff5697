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

_INIT_FILES = [
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


@command("init", help="create a small working multi-environment project",
         epilog="example:\n  streamt init my-pipeline\n  streamt validate -p my-pipeline -e dev")
def _cli_init(p):
    p.add_argument("directory", nargs="?", default=".",
                   help="where to create the project (default: the current directory)")
    p.add_argument("--name", help="project name (default: the directory's name)")

    def run(args, output):
        root = os.path.abspath(args.directory)
        raw = args.name or os.path.basename(root.rstrip(os.sep)) or "pipeline"
        name = re.sub(r"[^a-z0-9_]+", "_", raw.lower()).strip("_") or "pipeline"
        if not re.match(r"[a-z]", name):
            name = "p_" + name
        existing = [rel for rel, _ in _INIT_FILES if os.path.exists(os.path.join(root, rel))]
        if existing:
            raise UsageError("%s already has %s" % (root, ", ".join(sorted(existing))),
                             hint="choose an empty directory: streamt init NEW_DIR")
        for rel, text in _INIT_FILES:
            path = os.path.join(root, rel)
            d = os.path.dirname(path)
            if not os.path.isdir(d):
                os.makedirs(d)
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(text.format(name=name, name_re=name))  # [a-z0-9_]: no regex escaping
        where = args.directory
        output.result("Created project '%s' in %s" % (name, where))
        output.result("")
        output.result("Next steps:")
        output.result("  streamt validate -p %s -e dev" % where)
        output.result("  streamt build -p %s -e dev -o %s/dist/dev" % (where, where))
        output.result("  streamt artifact inspect %s/dist/dev" % where)
        return EXIT_OK
    return run

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
