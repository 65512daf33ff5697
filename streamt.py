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
#
# streamt talks to Kafka itself: a bastion has no pip, so there is no librdkafka and
# no kafka-python.  This section is a small admin client over the Kafka wire
# protocol (socket, struct, ssl, hashlib, hmac) -- just the requests a deployment
# needs: Metadata, CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs,
# IncrementalAlterConfigs (with the legacy AlterConfigs as a fallback), and the
# ApiVersions / SaslHandshake / SaslAuthenticate requests that open a connection.
#
# Layers, bottom up:
#   * _KWriter/_KReader      primitive types, both the classic encoding and the
#                            "flexible" one (compact lengths, tagged fields);
#   * _KAFKA_APIS            the message layouts, written down from the upstream
#                            message definitions (clients/src/main/resources/common/
#                            message/*.json in apache/kafka) as field lists with the
#                            versions each field exists in;
#   * _KafkaConnection       one TCP(+TLS) connection: ApiVersions negotiation, SASL
#                            (PLAIN, SCRAM-SHA-256/512), framing, correlation ids,
#                            timeouts, errors a user can read;
#   * KafkaAdmin             the operations (docs/internals.md, "clients -> targets"),
#                            every one a constant number of requests, whatever the
#                            number of topics.
#
# Kafka-compatible brokers are not all complete (Tansu, for one, closes the connection
# on requests it does not know and ignores validate_only); the client checks what the
# broker advertises before sending and says so plainly when something is missing.

__all__ += ["KafkaAdmin", "KafkaError", "KAFKA_ERRORS", "kafka_error_name"]


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
        self.settings = _kafka_settings(config)
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
            code, msg = results.get(t["name"], _KAFKA_NO_ANSWER)
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
            code, msg = results.get(n, _KAFKA_NO_ANSWER)
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
            code, msg = results.get(n, _KAFKA_NO_ANSWER)
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
        body = {"resources": [{"resource_type": _RESOURCE_TOPIC, "resource_name": n,
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
                    source = _CONFIG_SOURCES.get(c["config_source"], "UNKNOWN")
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
                    "resource_type": _RESOURCE_TOPIC, "resource_name": n,
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
                    "resource_type": _RESOURCE_TOPIC, "resource_name": n,
                    "configs": [{"name": k, "value": v} for k, v in sorted(desired.items())]})
            api = "AlterConfigs"
        results = self._batched(api, body, "resources", "responses", "resource_name",
                                lambda r: (r["error_code"], r.get("error_message")),
                                key_of_item=lambda r: r["resource_name"])
        out = {}
        for n in names:
            code, msg = results.get(n, _KAFKA_NO_ANSWER)
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
        except _KafkaDropped:
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
                hint=_API_HINTS.get(api, "use a broker that implements %s" % api))

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
        hint = _KAFKA_HINTS.get(code)
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


# -- kafka: settings, hints -----------------------------------------------------

_RESOURCE_TOPIC = 2

# What a batched answer that does not mention one of the topics asked about counts as.
_KAFKA_NO_ANSWER = (-1, "the broker's answer does not mention this topic")

_CONFIG_SOURCES = {0: "UNKNOWN", 1: "TOPIC", 2: "BROKER", 3: "BROKER", 4: "BROKER",
                   5: "DEFAULT", 6: "BROKER_LOGGER", 7: "CLIENT_METRICS", 8: "GROUP"}

_KAFKA_HINTS = {
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

_API_HINTS = {
    "CreatePartitions": "the broker cannot add partitions (Tansu does not implement "
                        "CreatePartitions; Apache Kafka >= 1.0 does)",
    "AlterConfigs": "the broker implements neither IncrementalAlterConfigs nor AlterConfigs",
    "IncrementalAlterConfigs": "the broker predates Kafka 2.3",
    "DescribeConfigs": "the broker cannot report topic configs (Apache Kafka >= 0.11 can)",
}


def _kafka_str(value):
    """A config value as Kafka wants it: a string (booleans lower-case), None kept."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _kafka_bool(value, default):
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


def _kafka_settings(config):
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
        "ssl_check_hostname": _kafka_bool(config.get("ssl_check_hostname"), True),
    }


# -- kafka: one connection --------------------------------------------------------

class _KafkaDropped(Exception):
    """The broker closed the connection before answering."""


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
        return _KAFKA_APIS[api][0] in self.broker_versions

    def supports(self, api):
        return api in self.versions

    def version(self, api):
        if api in self.versions:
            return self.versions[api]
        key, ours = _KAFKA_APIS[api][0], _KAFKA_APIS[api][1]
        if key in self.broker_versions:
            lo, hi = self.broker_versions[key]
            raise KafkaError(
                "the Kafka broker at %s speaks %s versions %d-%d and streamt versions %d-%d: "
                "no version in common" % (self.address, api, lo, hi, ours[0], ours[-1]),
                code=35, hint="streamt supports Apache Kafka 1.0 to 4.x and compatible brokers")
        raise KafkaError("the Kafka broker at %s does not support %s" % (self.address, api),
                         name="UNSUPPORTED", hint=_API_HINTS.get(api))

    def _choose_versions(self, advertised):
        self.broker_versions = dict(advertised)
        caps = self.admin.version_caps
        self.versions = {}
        for api, spec in _KAFKA_APIS.items():
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
        except _KafkaDropped:
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
        except _KafkaDropped:
            raise KafkaError(
                "the Kafka broker at %s closed the connection during SASL %s authentication "
                "as user %r" % (self.address, mech, user), name="SASL",
                hint="check the credentials, sasl_mechanism and that this listener is %s"
                     % s["protocol"])
        except _ScramError as e:
            raise KafkaError("SASL %s authentication as user %r at Kafka broker %s failed: %s"
                             % (mech, user, self.address, e), code=58,
                             hint=_KAFKA_HINTS[58])

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
        key, _ours, flex_from, req_schema, resp_schema = _KAFKA_APIS[api]
        v = self.version(api) if version is None else version
        flexible = v >= flex_from
        self._correlation = (self._correlation + 1) & 0x7FFFFFFF
        corr = self._correlation
        frame = _kafka_encode_request(key, v, corr, self.admin.client_id, flexible,
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
                raise _KafkaDropped()
            raise KafkaError("connection to Kafka broker %s failed during %s: %s"
                             % (self.address, api, e), name="UNREACHABLE")
        except _KafkaDropped:
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
                resp, got = {"error_code": 35, "api_keys": _kafka_decode_versions_v0(data)}, \
                    struct.unpack_from(">i", data)[0]
            else:
                resp, got = _kafka_decode_response(data, v, flexible, flexible_header, resp_schema)
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
                raise _KafkaDropped()
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)


def _kafka_decode_versions_v0(data):
    """The api_keys of an ApiVersions answer in the v0 layout (how a broker answers a
    version of ApiVersions it does not know)."""
    r = _KReader(data, 4)
    r.int16()
    return [{"api_key": r.int16(), "min_version": r.int16(), "max_version": r.int16()}
            for _ in range(max(r.int32(), 0))]


# -- kafka: SCRAM (RFC 5802, RFC 7677) ---------------------------------------------

class _ScramError(Exception):
    pass


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
        attrs = _scram_attrs(server_first)
        if "e" in attrs:
            raise _ScramError("the broker said: " + attrs["e"])
        try:
            nonce, salt, iterations = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        except (KeyError, ValueError, TypeError):
            raise _ScramError("malformed server-first message %r" % server_first)
        if not nonce.startswith(self.nonce) or iterations < 1:
            raise _ScramError("the server's nonce does not extend ours")
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
        attrs = _scram_attrs(server_final.decode("utf-8"))
        if "e" in attrs:
            raise _ScramError("the broker said: " + attrs["e"])
        if "v" not in attrs or not hmac.compare_digest(
                base64.b64decode(attrs["v"]), self.server_signature or b""):
            raise _ScramError("the broker's SCRAM signature is wrong: it does not know the "
                              "password (not the broker you think?)")


def _scram_attrs(message):
    out = {}
    for part in message.split(","):
        if len(part) >= 2 and part[1] == "=":
            out[part[0]] = part[2:]
    return out


# -- kafka: encoding ---------------------------------------------------------------
#
# Two encodings share the same types.  The classic one: strings with an int16 length
# (-1 = null), bytes and arrays with an int32 length (-1 = null).  The "flexible" one
# (KIP-482, from the version in each message's flexibleVersions): lengths as unsigned
# varints of length+1 (0 = null), and a block of tagged fields (a varint count, then
# tag, size, bytes) at the end of every structure and of the request/response header.
# We send no tagged fields and skip those we receive.

class _KWriter(object):
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


class _KReader(object):
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


_KAFKA_PRIMITIVES = {"int8": (">b", 1), "int16": (">h", 2), "int32": (">i", 4),
                     "int64": (">q", 8), "bool": (">?", 1)}


def _kafka_fields(fields, version):
    return [f for f in fields if f[2] <= version <= f[3]]


def _kafka_write(w, fields, version, obj):
    for name, ftype, _lo, _hi in _kafka_fields(fields, version):
        _kafka_write_value(w, ftype, version, obj.get(name))
    w.tags()


def _kafka_write_value(w, ftype, version, value):
    if isinstance(ftype, tuple):          # ("[]", element type or field list)
        elem = ftype[1]
        w.length(None if value is None else len(value), ">i")
        for item in value or ():
            if isinstance(elem, list):
                _kafka_write(w, elem, version, item)
            else:
                _kafka_write_value(w, elem, version, item)
    elif ftype in _KAFKA_PRIMITIVES:
        w.raw(_KAFKA_PRIMITIVES[ftype][0], value or 0)
    elif ftype == "string":
        w.string(value)
    elif ftype == "bytes":
        w.bytes(value)
    elif ftype == "uuid":
        w.parts.append(bytes(bytearray.fromhex(value)) if value else b"\0" * 16)
    else:  # pragma: no cover - a typo in _KAFKA_APIS
        raise ValueError("unknown field type %r" % (ftype,))


def _kafka_read(r, fields, version, flexible):
    out = {}
    for name, ftype, _lo, _hi in _kafka_fields(fields, version):
        out[name] = _kafka_read_value(r, ftype, version, flexible)
    if flexible:
        r.skip_tags()
    return out


def _kafka_read_value(r, ftype, version, flexible):
    if isinstance(ftype, tuple):
        n = r.length(flexible, ">i", 4)
        if n < 0:
            return None
        elem = ftype[1]
        if isinstance(elem, list):
            return [_kafka_read(r, elem, version, flexible) for _ in range(n)]
        return [_kafka_read_value(r, elem, version, flexible) for _ in range(n)]
    if ftype in _KAFKA_PRIMITIVES:
        fmt, size = _KAFKA_PRIMITIVES[ftype]
        return r.raw(fmt, size)
    if ftype == "string":
        return r.string(flexible)
    if ftype == "bytes":
        return r.bytes(flexible)
    if ftype == "uuid":
        raw = bytes(r.take(16))
        return None if raw == b"\0" * 16 else _hex(raw)
    raise ValueError("unknown field type %r" % (ftype,))


def _hex(data):
    return "".join("%02x" % b for b in bytearray(data))


def _kafka_encode_request(api_key, version, correlation_id, client_id, flexible, fields, body):
    """A complete request frame: size, header (v1, or v2 when flexible), body."""
    w = _KWriter(flexible)
    w.raw(">h", api_key)
    w.raw(">h", version)
    w.raw(">i", correlation_id)
    w.string(client_id, classic=True)   # the client id keeps its classic encoding in header v2
    w.tags()
    _kafka_write(w, fields, version, body)
    payload = w.getvalue()
    return _kafka_size(payload) + payload


def _kafka_size(payload):
    import struct
    return struct.pack(">i", len(payload))


def _kafka_decode_response(data, version, flexible, flexible_header, fields):
    """``(body, correlation_id)`` of a response frame without its size prefix."""
    r = _KReader(data)
    correlation_id = r.int32()
    if flexible_header:
        r.skip_tags()
    body = _kafka_read(r, fields, version, flexible)
    return body, correlation_id


# -- kafka: the messages -------------------------------------------------------------
#
# Written from apache/kafka clients/src/main/resources/common/message/<Name>{Request,
# Response}.json.  A field is (name, type, first version, last version); a type is a
# primitive name or ("[]", element) where element is a primitive or a field list.
# Each API: (api key, versions streamt speaks, first flexible version, request, response).
# The version used on a connection is the highest one both sides speak.

_N = 999  # "and later"


def _F(name, ftype, lo=0, hi=_N):
    return (name, ftype, lo, hi)


def _A(elem):
    return ("[]", elem)


_KAFKA_APIS = {
    "ApiVersions": (18, (0, 1, 2, 3), 3, [
        _F("client_software_name", "string", 3),
        _F("client_software_version", "string", 3),
    ], [
        _F("error_code", "int16"),
        _F("api_keys", _A([_F("api_key", "int16"), _F("min_version", "int16"),
                           _F("max_version", "int16")])),
        _F("throttle_time_ms", "int32", 1),
    ]),
    "Metadata": (3, tuple(range(4, 13)), 9, [
        _F("topics", _A([_F("topic_id", "uuid", 10), _F("name", "string")])),
        _F("allow_auto_topic_creation", "bool", 4),
        _F("include_cluster_authorized_operations", "bool", 8, 10),
        _F("include_topic_authorized_operations", "bool", 8),
    ], [
        _F("throttle_time_ms", "int32", 3),
        _F("brokers", _A([_F("node_id", "int32"), _F("host", "string"), _F("port", "int32"),
                          _F("rack", "string", 1)])),
        _F("cluster_id", "string", 2),
        _F("controller_id", "int32", 1),
        _F("topics", _A([
            _F("error_code", "int16"), _F("name", "string"), _F("topic_id", "uuid", 10),
            _F("is_internal", "bool", 1),
            _F("partitions", _A([
                _F("error_code", "int16"), _F("partition_index", "int32"),
                _F("leader_id", "int32"), _F("leader_epoch", "int32", 7),
                _F("replica_nodes", _A("int32")), _F("isr_nodes", _A("int32")),
                _F("offline_replicas", _A("int32"), 5)])),
            _F("topic_authorized_operations", "int32", 8)])),
        _F("cluster_authorized_operations", "int32", 8, 10),
    ]),
    "CreateTopics": (19, (2, 3, 4, 5, 6, 7), 5, [
        _F("topics", _A([
            _F("name", "string"), _F("num_partitions", "int32"),
            _F("replication_factor", "int16"),
            _F("assignments", _A([_F("partition_index", "int32"),
                                  _F("broker_ids", _A("int32"))])),
            _F("configs", _A([_F("name", "string"), _F("value", "string")]))])),
        _F("timeout_ms", "int32"),
        _F("validate_only", "bool", 1),
    ], [
        _F("throttle_time_ms", "int32", 2),
        _F("topics", _A([
            _F("name", "string"), _F("topic_id", "uuid", 7), _F("error_code", "int16"),
            _F("error_message", "string", 1),
            _F("num_partitions", "int32", 5), _F("replication_factor", "int16", 5),
            _F("configs", _A([_F("name", "string"), _F("value", "string"),
                              _F("read_only", "bool"), _F("config_source", "int8"),
                              _F("is_sensitive", "bool")]), 5)])),
    ]),
    "DeleteTopics": (20, (1, 2, 3, 4, 5), 4, [
        _F("topic_names", _A("string"), 0, 5),
        _F("timeout_ms", "int32"),
    ], [
        _F("throttle_time_ms", "int32", 1),
        _F("responses", _A([_F("name", "string"), _F("error_code", "int16"),
                            _F("error_message", "string", 5)])),
    ]),
    "DescribeConfigs": (32, (1, 2, 3, 4), 4, [
        _F("resources", _A([_F("resource_type", "int8"), _F("resource_name", "string"),
                            _F("configuration_keys", _A("string"))])),
        _F("include_synonyms", "bool", 1),
        _F("include_documentation", "bool", 3),
    ], [
        _F("throttle_time_ms", "int32"),
        _F("results", _A([
            _F("error_code", "int16"), _F("error_message", "string"),
            _F("resource_type", "int8"), _F("resource_name", "string"),
            _F("configs", _A([
                _F("name", "string"), _F("value", "string"), _F("read_only", "bool"),
                _F("is_default", "bool", 0, 0), _F("config_source", "int8", 1),
                _F("is_sensitive", "bool"),
                _F("synonyms", _A([_F("name", "string"), _F("value", "string"),
                                   _F("source", "int8")]), 1),
                _F("config_type", "int8", 3), _F("documentation", "string", 3)]))])),
    ]),
    "AlterConfigs": (33, (0, 1, 2), 2, [
        _F("resources", _A([_F("resource_type", "int8"), _F("resource_name", "string"),
                            _F("configs", _A([_F("name", "string"), _F("value", "string")]))])),
        _F("validate_only", "bool"),
    ], [
        _F("throttle_time_ms", "int32"),
        _F("responses", _A([_F("error_code", "int16"), _F("error_message", "string"),
                            _F("resource_type", "int8"), _F("resource_name", "string")])),
    ]),
    "IncrementalAlterConfigs": (44, (0, 1), 1, [
        _F("resources", _A([_F("resource_type", "int8"), _F("resource_name", "string"),
                            _F("configs", _A([_F("name", "string"),
                                              _F("config_operation", "int8"),
                                              _F("value", "string")]))])),
        _F("validate_only", "bool"),
    ], [
        _F("throttle_time_ms", "int32"),
        _F("responses", _A([_F("error_code", "int16"), _F("error_message", "string"),
                            _F("resource_type", "int8"), _F("resource_name", "string")])),
    ]),
    "CreatePartitions": (37, (0, 1, 2, 3), 2, [
        _F("topics", _A([_F("name", "string"), _F("count", "int32"),
                         _F("assignments", _A([_F("broker_ids", _A("int32"))]))])),
        _F("timeout_ms", "int32"),
        _F("validate_only", "bool"),
    ], [
        _F("throttle_time_ms", "int32"),
        _F("results", _A([_F("name", "string"), _F("error_code", "int16"),
                          _F("error_message", "string")])),
    ]),
    "SaslHandshake": (17, (1,), _N, [
        _F("mechanism", "string"),
    ], [
        _F("error_code", "int16"),
        _F("mechanisms", _A("string")),
    ]),
    "SaslAuthenticate": (36, (0, 1, 2), 2, [
        _F("auth_bytes", "bytes"),
    ], [
        _F("error_code", "int16"),
        _F("error_message", "string"),
        _F("auth_bytes", "bytes"),
        _F("session_lifetime_ms", "int64", 1),
    ]),
}

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
