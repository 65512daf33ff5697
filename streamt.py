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

#
# One small client for the five REST APIs streamt talks to (Schema Registry, Kafka
# Connect, Flink REST, Flink SQL Gateway, Conduktor Gateway).  urllib only:
#
# - TLS verification is always on; a per-service CA file (`ssl_cafile` in the
#   runtime block) is added to the trust store, never replaces verification.
# - Proxies come from the environment (http_proxy, https_proxy, no_proxy):
#   urllib's default ProxyHandler does that, and we keep it.
# - Bounded retries with exponential backoff on connection errors, 5xx and 429
#   (Retry-After honoured, capped).  A request that may have reached the server
#   (a timeout, a 5xx) is retried only when it is idempotent: GET/PUT/DELETE, or a
#   POST the caller marks `idempotent=True`.  Submitting a Flink statement twice
#   would start two jobs, so those POSTs are never retried once sent.
# - Every response's status is checked against what the caller expects, and the
#   service's own error message (Connect/SR `message`, Flink `errors[]` root cause)
#   goes into the error, never a Java stack trace.
# - `requests_sent` and `mutations` count calls (tests assert "a second deploy
#   makes zero mutating calls").

__all__ += ["HttpClient", "HttpResponse", "HttpError", "flink_root_cause"]


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
                            % (self.method, _redact_url(self.url), self.status,
                               _first_line(self.text)[:200]), status=self.status)


def flink_root_cause(text):
    """The most useful line of a Java exception text: the last 'Caused by:' message
    (the root cause), else the first line.  Flink wraps SQL errors in 3-5 layers."""
    causes = re.findall(r"Caused by: ([^\n]+)", text or "")
    line = causes[-1] if causes else _first_line(text or "")
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
            raise UsageError("%s: invalid URL %r" % (service, base_url),
                             hint="use http://host:port or https://host:port")
        self.base_url = str(base_url).rstrip("/")
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
        import socket
        method = method.upper()
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        if mutating is None:
            mutating = method not in ("GET", "HEAD", "OPTIONS")
        url = self.base_url + path
        if query:
            url += ("&" if "?" in url else "?") + _urlencode(query)
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
            except (urllib.error.URLError, socket.timeout, OSError) as e:
                reason = getattr(e, "reason", e)
                # refused / unresolvable: the request never reached the server
                never_sent = isinstance(reason, (ConnectionRefusedError, socket.gaierror))
                if attempt <= self.retries and (idempotent or never_sent):
                    self._wait(delay)
                    delay *= 2
                    continue
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
                            % (self.service, resp.method, _redact_url(resp.url),
                               "object" if shape is dict else "array",
                               _first_line(resp.text)[:200]),
                            status=resp.status,
                            hint="is this URL really the %s API?" % self.service)
        for k in keys:
            if not isinstance(obj, dict) or k not in obj:
                raise HttpError("%s: unexpected response to %s %s: no %r in %s"
                                % (self.service, resp.method, _redact_url(resp.url), k,
                                   _first_line(resp.text)[:200]), status=resp.status)
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

    def _error(self, method, path, status, payload):
        text = payload.decode("utf-8", "replace") if payload else ""
        msg = _service_message(text)
        hint = None
        if status in (401, 403):
            hint = "check the credentials of %s in the environment's runtime block" % self.service
        elif status == 404:
            hint = "check the URL of %s (and the API version it serves)" % self.service
        return HttpError("%s: %s %s failed with HTTP %d%s"
                         % (self.service, method, path, status, (": " + msg) if msg else ""),
                         status=status, body=text, hint=hint)


def _service_message(text):
    """The error message in a service's error body (Connect, SR, Flink, Gateway)."""
    try:
        obj = json.loads(text)
    except ValueError:
        return _first_line(text)[:300]
    if isinstance(obj, dict):
        if isinstance(obj.get("errors"), list) and obj["errors"]:
            texts = [e if isinstance(e, str) else json.dumps(e) for e in obj["errors"]]
            useful = [t for t in texts if t != "Internal server error."] or texts
            return flink_root_cause("\n".join(useful))
        for key in ("message", "error", "title", "detail"):
            if isinstance(obj.get(key), str):
                return _first_line(obj[key])[:300]
    return _first_line(text)[:300]


def _first_line(text):
    text = (text or "").strip()
    return text.split("\n", 1)[0].strip()


def _redact_url(url):
    return re.sub(r"//[^@/]*@", "//", url)


def _quote(segment):
    """URL-encode one path segment (subject names contain '/', ':' ...)."""
    import urllib.parse
    return urllib.parse.quote(str(segment), safe="")


def _urlencode(query):
    import urllib.parse
    if isinstance(query, dict):
        query = sorted(query.items())
    return urllib.parse.urlencode(query)

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
# - Topics and subjects carry no marker in Kafka or Schema Registry, so the rule is
#   by name: a topic is ours when its name starts with "<project>." (subjects:
#   "<ours>-key" / "<ours>-value").  Deleting one also needs --allow-delete topics
#   (or schemas) and an environment that allows destructive changes.
# - Gateway interceptors and alias topics: names starting with "<project>-",
#   "<project>_" or "<project>.".

__all__ += ["Change", "KafkaTarget", "SchemaRegistryTarget", "FlinkTarget", "ConnectTarget",
            "GatewayTarget", "PlanPolicy", "redact_value", "FLINK_JOB_MARKER"]

FLINK_JOB_MARKER = " [streamt project=%s fp=%s]"
_FLINK_MARKER_RE = re.compile(r"^(.*) \[streamt project=(\S+) fp=([0-9a-f]+)\]$")
_FLINK_ACTIVE = ("RUNNING", "CREATED", "INITIALIZING", "RESTARTING", "RECONCILING",
                 "FAILING", "CANCELLING", "SUSPENDED")
_SECRET_KEY_RE = re.compile(r"(password|passwd|secret|token|credential|api[._-]?key|"
                            r"private[._-]?key|jaas|keystore\.key|truststore\.password)", re.I)
REDACTED = "<redacted>"


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


def redact_value(key, value, secrets=()):
    """A value fit for display: secret-looking keys and known secret values hidden."""
    if value is None:
        return None
    if _SECRET_KEY_RE.search(str(key)):
        return REDACTED
    if isinstance(value, str):
        for s in secrets:
            if s in value:
                value = value.replace(s, REDACTED)
    return value


def _owned_name(name, project):
    return any(name.startswith(project + sep) for sep in ".-_")


def _kafka_str(value):
    """A config value as Kafka prints it: booleans lower-case, numbers plain."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ",".join(_kafka_str(v) for v in value)
    return str(value)


def _cluster_block(runtime, section, cluster, what):
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


def _http_for(block, url_key, service, **kw):
    url = block.get(url_key)
    if not url:
        raise UsageError("%s: %s is not set in the runtime block" % (service, url_key),
                         hint="add %s to the environment's runtime block" % url_key)
    return HttpClient(url, service=service, username=block.get("username"),
                      password=block.get("password"),
                      token=block.get("token") or block.get("bearer_token"),
                      cafile=block.get("ssl_cafile"),
                      timeout=float(block.get("timeout", 10.0)), **kw)


def _changes_of(old, new, policy, prefix=""):
    """{key: (old, new)} for keys whose values differ, redacted."""
    out = {}
    for k in sorted(set(old) | set(new)):
        if old.get(k) != new.get(k):
            out[prefix + k] = (redact_value(k, old.get(k), policy.secrets),
                               redact_value(k, new.get(k), policy.secrets))
    return out


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
        orphans = sorted(n for n in names - wanted if _owned_name(n, policy.project))
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
                    [_topic_request(t) for t in creates], validate_only=True).items()):
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
            res = admin.create_topics([_topic_request(c.desired) for c in creates])
            failed = []
            for c in creates:
                err = (res or {}).get(c.name)
                if err is None or getattr(err, "name", "") == "TOPIC_ALREADY_EXISTS":
                    done(c)
                else:
                    failed.append("%s: %s" % (c.name, err))
            if failed:
                raise ServiceError("Kafka refused to create topic(s): " + "; ".join(failed))
        for c in changes:
            if c.action == "update":
                if "partitions" in c.data:
                    _check_kafka_result(admin.create_partitions({c.name: c.data["partitions"]}),
                                        "increase the partitions of")
                if c.data.get("config"):
                    _check_kafka_result(admin.alter_configs({c.name: c.data["config"]}),
                                        "change the config of")
                done(c)
            elif c.action == "delete":
                _check_kafka_result(admin.delete_topics([c.name]), "delete")
                done(c)

    def snapshot(self, items, live):
        out = {}
        for n, t in sorted(live["topics"].items()):
            if n in live.get("orphans", ()):
                continue
            out[n] = {"partitions": t["partitions"], "replication_factor": t["replication_factor"],
                      "config": dict((k, REDACTED if k in t["sensitive"] else v)
                                     for k, v in sorted(t["overrides"].items()))}
        return {"cluster_id": live.get("cluster_id"), "topics": out}


def _topic_request(t):
    return {"name": t["name"], "partitions": int(t["partitions"]),
            "replication_factor": int(t["replication_factor"]),
            "config": dict((k, _kafka_str(v)) for k, v in sorted((t.get("config") or {}).items()))}


def _check_kafka_result(res, what):
    errs = ["%s: %s" % (n, e) for n, e in sorted((res or {}).items()) if e is not None]
    if errs:
        raise ServiceError("Kafka refused to %s topic(s): %s" % (what, "; ".join(errs)))


def plan_topics(items, live, policy):
    """The topic part of a plan (pure: desired items + observed live state)."""
    out = []
    topics = live.get("topics", {})
    for t in sorted(items, key=lambda x: x["name"]):
        name = t["name"]
        want_cfg = dict((k, _kafka_str(v)) for k, v in (t.get("config") or {}).items())
        cur = topics.get(name)
        if cur is None:
            ch = {"partitions": (None, int(t["partitions"])),
                  "replication_factor": (None, int(t["replication_factor"]))}
            for k, v in sorted(want_cfg.items()):
                ch["config." + k] = (None, redact_value(k, v, policy.secrets))
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
                ch["config." + k] = (redact_value(k, shown_old, policy.secrets),
                                     redact_value(k, v, policy.secrets))
                cfg[k] = v
        stale = sorted(k for k in cur["overrides"] if k not in want_cfg)
        destructive = False
        for k in stale:
            shown = redact_value(k, cur["overrides"][k], policy.secrets)
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
        out.append(_orphan_change("topic", name, "topics", policy))
    return out


def _orphan_change(kind, name, delete_kind, policy, data=None, cluster=None):
    if policy.may_delete(delete_kind):
        return Change(kind, name, "delete", {}, destructive=True, data=data, cluster=cluster,
                      notes=["exists live, absent from the artifact: deleted (--allow-delete %s)"
                             % delete_kind])
    return Change(kind, name, "orphan", {}, data=data, cluster=cluster,
                  notes=["exists live, absent from the artifact (kept; --allow-delete %s "
                         "deletes it)" % delete_kind])


# -- Schema Registry -------------------------------------------------------------

class SchemaRegistryTarget(object):
    """Subjects: identical schema (canonical form) -> unchanged; a new version is checked
    for compatibility at plan time; the subject's compatibility level is managed."""

    kind = "schema"
    CT = "application/vnd.schemaregistry.v1+json"

    def __init__(self, runtime, http=None):
        block = runtime.get("schema_registry") or {}
        self.http = http or _http_for(block, "url", "Schema Registry",
                                      headers={"Accept": self.CT})

    def hosts(self):
        return [self.http.host]

    def observe(self, items, policy):
        live = {"subjects": {}, "orphans": []}
        all_subjects = self.http.check_shape(self.http.request("GET", "/subjects"), list)
        have = set(all_subjects)
        wanted = set(s["subject"] for s in items)
        for s in sorted(wanted & have):
            q = "/subjects/%s/versions/latest" % _quote(s)
            resp = self.http.request("GET", q, expect=(200, 404))
            if resp.status == 404:
                continue
            v = self.http.check_shape(resp, dict, keys=("schema",))
            resp = self.http.request("GET", "/config/%s" % _quote(s), expect=(200, 404))
            level = None
            if resp.status == 200:
                level = (resp.json() or {}).get("compatibilityLevel")
            live["subjects"][s] = {"version": v.get("version"), "id": v.get("id"),
                                   "schema": v["schema"],
                                   "schema_type": v.get("schemaType") or "AVRO",
                                   "compatibility": level}
        for s in sorted(have - wanted):
            base = re.sub(r"-(key|value)$", "", s)
            if base != s and _owned_name(base, policy.project):
                live["orphans"].append(s)
        return live

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
            out.append(_orphan_change("schema", name, "schemas", policy))
        return out

    def check_compatibility(self, subject, s):
        resp = self.http.request(
            "POST", "/compatibility/subjects/%s/versions/latest" % _quote(subject),
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
                    self.http.request("PUT", "/config/%s" % _quote(c.name),
                                      body={"compatibility": level}, content_type=self.CT)
                if c.action == "create" or c.data.get("register"):
                    resp = self.http.request(
                        "POST", "/subjects/%s/versions" % _quote(c.name), body=self._body(c.desired),
                        content_type=self.CT, idempotent=True)  # SR: same schema -> same id
                    self.http.check_shape(resp, dict, keys=("id",))
                done(c)
            elif c.action == "delete":
                self.http.request("DELETE", "/subjects/%s" % _quote(c.name), expect=(200, 404))
                self.http.request("DELETE", "/subjects/%s" % _quote(c.name),
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

__all__ += ["canonical_schema", "plan_topics"]


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
            cname, block = _cluster_block(runtime, "flink", name, "Flink")
            self.clusters[name] = {
                "name": cname, "block": block,
                "rest": _http_for(block, "rest_url", "Flink REST"),
                "gateway": _http_for(block, "sql_gateway_url", "Flink SQL Gateway",
                                     retries=2)}
        self._sleep = sleep
        self.wait_timeout = wait_timeout

    def http_clients(self):
        return [c[k] for _, c in sorted(self.clusters.items()) for k in ("rest", "gateway")]

    def hosts(self):
        return sorted(set(h.host for h in self.http_clients()))

    def observe(self, items, policy):
        live = {}
        for key, c in sorted(self.clusters.items()):
            obj = c["rest"].check_shape(c["rest"].request("GET", "/jobs/overview"), dict,
                                        keys=("jobs",))
            jobs = []
            for j in obj["jobs"]:
                m = _FLINK_MARKER_RE.match(j.get("name") or "")
                if not m or m.group(2) != policy.project:
                    continue
                jobs.append({"id": j.get("jid"), "pipeline_name": m.group(1),
                             "fp": m.group(3), "state": j.get("state"),
                             "start": j.get("start-time") or 0, "end": j.get("end-time") or 0})
            jobs.sort(key=lambda j: (j["pipeline_name"], j["start"], j["id"]))
            live[key] = jobs
        return {"jobs": live}

    def plan(self, items, live, policy):
        out = []
        wanted = set()
        for j in sorted(items, key=lambda x: x["name"]):
            cl = j.get("cluster")
            wanted.add((cl, j["pipeline_name"]))
            jobs = [x for x in live["jobs"].get(cl, []) if x["pipeline_name"] == j["pipeline_name"]]
            active = [x for x in jobs if x["state"] in _FLINK_ACTIVE]
            fp = _short_fp(j["fingerprint"])
            data = {"cancel": [], "stop": None}
            notes, ch, refused = [], {}, None
            same = [x for x in active if x["fp"] == fp and x["state"] != "CANCELLING"]
            if same:
                keep = same[-1]
                data["cancel"] = [x["id"] for x in active if x is not keep]
                if not data["cancel"]:
                    out.append(Change("flink_job", j["name"], "unchanged", {}, desired=j,
                                      cluster=cl, live=keep,
                                      notes=["job %s %s" % (keep["id"], keep["state"])]))
                    continue
                ch["copies"] = (len(active), 1)
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
                    data["cancel"] = [x["id"] for x in active]
                    notes.append("cancel job %s and resubmit without state (on_upgrade: "
                                 "stateless)" % cur["id"])
                else:
                    data["stop"] = cur["id"]
                    data["cancel"] = [x["id"] for x in active if x is not cur]
                    notes.append("stop job %s with a savepoint and resubmit from it" % cur["id"])
                out.append(Change("flink_job", j["name"], "update", ch, notes=notes,
                                  refused=refused, desired=j, cluster=cl, live=cur, data=data))
                continue
            last = jobs[-1] if jobs else None
            if last is not None:
                data["restore_from"] = last["id"] if mode == "savepoint" else None
                ch["state"] = (last["state"], "RUNNING")
                notes.append("resubmit (last run %s is %s)" % (last["id"], last["state"]))
                out.append(Change("flink_job", j["name"], "update", ch, notes=notes, desired=j,
                                  cluster=cl, live=last, data=data))
            else:
                out.append(Change("flink_job", j["name"], "create",
                                  {"fingerprint": (None, fp)}, desired=j, cluster=cl, data=data))
        for cl, jobs in sorted(live["jobs"].items()):
            for pn in sorted(set(x["pipeline_name"] for x in jobs)):
                active = [x for x in jobs if x["pipeline_name"] == pn and x["state"] in _FLINK_ACTIVE]
                if (cl, pn) in wanted or not active:
                    continue
                out.append(_orphan_change("flink_job", pn, "flink_jobs", policy, cluster=cl,
                                          data={"cancel": [x["id"] for x in active]}))
        return out

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
            if c.action == "update" and not c.data.get("stop") and not c.data.get("restore_from") \
                    and c.live is not None and c.live.get("fp") == _short_fp(c.desired["fingerprint"]) \
                    and c.live.get("state") in _FLINK_ACTIVE:
                done(c)       # only extra copies were cancelled
                continue
            self._submit(cl, c.desired, savepoint)
            done(c)

    def snapshot(self, items, live):
        out = {}
        for cl, jobs in sorted(live["jobs"].items()):
            for x in jobs:
                if x["state"] in _FLINK_ACTIVE:
                    out.setdefault(x["pipeline_name"], []).append(
                        {"fingerprint": x["fp"], "state": x["state"]})
        return out

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
        cl["rest"].request("PATCH", "/jobs/%s" % _quote(jid), query={"mode": "cancel"},
                           expect=(200, 202, 404))
        self._wait_state(cl, jid, ("CANCELED", "FINISHED", "FAILED"), "cancel")

    def _wait_state(self, cl, jid, states, what):
        end = self._deadline()
        while True:
            resp = cl["rest"].request("GET", "/jobs/%s" % _quote(jid), expect=(200, 404))
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
        resp = cl["rest"].request("POST", "/jobs/%s/stop" % _quote(jid), body=body,
                                  expect=(200, 202))
        trig = cl["rest"].check_shape(resp, dict, keys=("request-id",))["request-id"]
        end = self._deadline()
        while True:
            obj = cl["rest"].get_json("/jobs/%s/savepoints/%s" % (_quote(jid), _quote(trig)),
                                      shape=dict)
            status = (obj.get("status") or {}).get("id")
            if status == "COMPLETED":
                op = obj.get("operation") or {}
                if op.get("failure-cause"):
                    cause = op["failure-cause"]
                    raise ServiceError("Flink could not stop job %s with a savepoint: %s"
                                       % (jid, flink_root_cause(cause.get("stack-trace") or
                                                                cause.get("class") or str(cause))),
                                       hint="set savepoint_dir in the Flink cluster's runtime "
                                            "block (or state.savepoints.dir on the cluster)")
                self._wait_state(cl, jid, ("FINISHED", "CANCELED", "FAILED"), "stop")
                return op.get("location")
            if self._now() > end:
                raise ServiceError("Flink: the savepoint of job %s did not complete within %ds"
                                   % (jid, self.wait_timeout))
            self._wait(self.POLL)

    def _latest_savepoint(self, cl, jid):
        resp = cl["rest"].request("GET", "/jobs/%s/checkpoints" % _quote(jid), expect=(200, 404))
        if resp.status == 404:
            return None
        obj = resp.json() or {}
        sp = ((obj.get("latest") or {}).get("savepoint") or {})
        return sp.get("external_path") or None

    def _submit(self, cl, job, savepoint):
        """Run the job's SQL in a fresh session; wait (bounded) until the job runs."""
        gw = cl["gateway"]
        props = {"pipeline.name": job["pipeline_name"] + FLINK_JOB_MARKER % (
            _project_of(self), _short_fp(job["fingerprint"]))}
        if savepoint:
            props["execution.savepoint.path"] = savepoint
            # SQL changed: operators that no longer exist must not block the restore
            props["execution.savepoint.ignore-unclaimed-state"] = "true"
        resp = gw.request("POST", "/v1/sessions", body={"properties": props,
                                                        "sessionName": job["name"]},
                          idempotent=False)
        session = gw.check_shape(resp, dict, keys=("sessionHandle",))["sessionHandle"]
        job_id = None
        try:
            for stmt in _sql_statements(job["sql"]):
                if _sets_key(stmt, "pipeline.name") or _sets_key(stmt, "execution.savepoint.path"):
                    continue   # streamt owns these two (identity, restore)
                jid = self._run_statement(gw, session, stmt, job["name"])
                job_id = jid or job_id
        finally:
            try:
                gw.request("DELETE", "/v1/sessions/%s" % _quote(session), expect=(200, 404))
            except StreamtError:
                pass
        if job_id:
            self._wait_state(cl, job_id, ("RUNNING", "FINISHED"), "start")
        return job_id

    def _run_statement(self, gw, session, stmt, job_name):
        base = "/v1/sessions/%s" % _quote(session)
        resp = gw.request("POST", base + "/statements", body={"statement": stmt},
                          idempotent=False)
        op = gw.check_shape(resp, dict, keys=("operationHandle",))["operationHandle"]
        opbase = base + "/operations/%s" % _quote(op)
        end = self._deadline()
        while True:
            st = gw.get_json(opbase + "/status", shape=dict).get("status")
            if st in ("FINISHED", "ERROR", "CANCELED", "CLOSED", "TIMEOUT"):
                break
            if self._now() > end:
                raise ServiceError("Flink SQL Gateway: statement of job %s still %s after %ds"
                                   % (job_name, st, self.wait_timeout),
                                   details=[_shorten(stmt)])
            self._wait(self.POLL)
        resp = gw.request("GET", opbase + "/result/0", query={"rowFormat": "JSON"},
                          expect=(200, 400, 500))
        if st != "FINISHED" or resp.status != 200:
            msg = _service_message(resp.text) if resp.status != 200 else st
            raise ServiceError("Flink rejected a statement of job %s: %s" % (job_name, msg),
                               details=["statement: " + _shorten(stmt)],
                               hint="fix the model's SQL; `streamt build` shows the full file")
        obj = resp.json() or {}
        return obj.get("jobID")


def _short_fp(fp):
    return re.sub(r"^sha256:", "", fp or "")[:16]


def _project_of(target):
    return getattr(target, "project", None) or "streamt"


def _sets_key(stmt, key):
    return re.match(r"^\s*SET\s+'%s'\s*=" % re.escape(key), stmt, re.I) is not None


def _shorten(stmt, n=300):
    s = " ".join(stmt.split())
    return s if len(s) <= n else s[:n] + " ..."


def _sql_statements(sql):
    """The statements of a Flink SQL file (the SQL section's splitter when present)."""
    splitter = globals().get("split_statements")
    if splitter is not None:
        return [s for s in splitter(sql) if s.strip()]
    return _split_sql_fallback(sql)


def _split_sql_fallback(sql):
    """Split on ';' outside quotes and comments; drop comment-only pieces."""
    out, cur, i, n = [], [], 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'`\"":
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            cur.append(sql[i:j + 1])
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif ch == ";":
            out.append("".join(cur))
            cur = []
            i += 1
        else:
            cur.append(ch)
            i += 1
    out.append("".join(cur))
    return [s.strip() for s in out if s.strip()]


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
            cname, block = _cluster_block(runtime, "connect", name, "Kafka Connect")
            self.clusters[name] = _http_for(block, "rest_url", "Kafka Connect")
        self._sleep = sleep
        self.wait_timeout = wait_timeout

    def http_clients(self):
        return [h for _, h in sorted(self.clusters.items())]

    def hosts(self):
        return sorted(set(h.host for h in self.http_clients()))

    def desired_config(self, item, policy):
        cfg = dict((k, _kafka_str(v)) for k, v in (item.get("config") or {}).items())
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
                    cfg = http.get_json("/connectors/%s/config" % _quote(n), shape=dict)
                    st = http.request("GET", "/connectors/%s/status" % _quote(n), expect=(200, 404))
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
                ch = dict((k, (None, redact_value(k, v, policy.secrets)))
                          for k, v in sorted(want.items()))
                out.append(Change("connector", c["name"], "create", ch, desired=c, cluster=cl,
                                  data={"config": want}))
                continue
            ch = _changes_of(cur["config"], want, policy)
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
                    out.append(_orphan_change("connector", n, "connectors", policy, cluster=cl))
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
                                % _quote(cls.rsplit(".", 1)[-1]), body=cfg, mutating=False)
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
                http.request("DELETE", "/connectors/%s" % _quote(c.name), expect=(200, 204, 404),
                             retry_conflict=True)
                done(c)
                continue
            if c.data.get("restart") and not (set(c.changes) - {"state"}):
                http.request("POST", "/connectors/%s/restart" % _quote(c.name),
                             query={"includeTasks": "true", "onlyFailed": "true"},
                             expect=(200, 202, 204), retry_conflict=True, idempotent=True)
            else:
                http.request("PUT", "/connectors/%s/config" % _quote(c.name),
                             body=c.data["config"], expect=(200, 201), retry_conflict=True)
            self._wait_running(http, c.name)
            done(c)

    def _wait_running(self, http, name):
        import time
        end = time.time() + self.wait_timeout
        while True:
            resp = http.request("GET", "/connectors/%s/status" % _quote(name), expect=(200, 404))
            st = resp.json() if resp.status == 200 else {}
            state = ((st or {}).get("connector") or {}).get("state")
            tasks = (st or {}).get("tasks") or []
            failed = [t for t in tasks if t.get("state") == "FAILED"]
            if state == "FAILED" or failed:
                details = []
                if state == "FAILED":
                    details.append("connector: " + _first_line(
                        (st.get("connector") or {}).get("trace") or "FAILED"))
                for t in failed:
                    details.append("task %s: %s" % (t.get("id"), _first_line(t.get("trace") or "FAILED")))
                raise ServiceError("Kafka Connect: connector %s failed" % name, details=details,
                                   hint="GET /connectors/%s/status on the Connect worker shows "
                                        "the full traces" % name)
            if state == "RUNNING" and tasks and all(t.get("state") == "RUNNING" for t in tasks):
                return
            if time.time() > end:
                raise ServiceError("Kafka Connect: connector %s not RUNNING after %ds (state %s)"
                                   % (name, self.wait_timeout, state))
            if self._sleep:
                self._sleep(self.POLL)
            else:
                time.sleep(self.POLL)

    def snapshot(self, items, live):
        out = {}
        for cl, conns in sorted(live["connectors"].items()):
            for n, cur in sorted(conns.items()):
                out[n] = {"config": dict((k, redact_value(k, v)) for k, v in sorted(cur["config"].items())),
                          "state": ((cur["status"] or {}).get("connector") or {}).get("state")}
        return out


# -- Conduktor Gateway -----------------------------------------------------------

class GatewayTarget(object):
    """Gateway v2 Interceptors and AliasTopics, each identified by (kind, name, scope).
    Upsert with PUT (dry run: ?dryMode=true); deletes send the scope."""

    kind = "gateway"
    PATHS = {"Interceptor": "/gateway/v2/interceptor", "AliasTopic": "/gateway/v2/alias-topic"}

    def __init__(self, runtime):
        block = ((runtime.get("conduktor") or {}).get("gateway")) or {}
        self.http = _http_for(block, "admin_url", "Conduktor Gateway")
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
            want = _flatten(res.get("spec") or {}, "spec.")
            if cur is None:
                ch = dict((kk, (None, redact_value(kk, v, policy.secrets))) for kk, v in want.items())
                out.append(Change("gateway", name, "create", ch, desired=res))
                continue
            ch = _changes_of(_flatten(cur.get("spec") or {}, "spec."), want, policy)
            out.append(Change("gateway", name, "update" if ch else "unchanged", ch,
                              desired=res, live=cur))
        for k, cur in sorted(live["resources"].items()):
            if k not in wanted and _owned_name(k[1] or "", policy.project):
                out.append(_orphan_change("gateway", "%s %s" % (k[0], self.key(cur)[3]),
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
                                                           _quote(md.get("name"))),
                                      body=md.get("scope") or {}, expect=(200, 204, 404))
                else:
                    self.http.request("DELETE", self.PATHS["AliasTopic"],
                                      body={"name": md.get("name"),
                                            "vCluster": md.get("vCluster") or "passthrough"},
                                      expect=(200, 204, 404))
                done(c)

    def snapshot(self, items, live):
        return dict(("%s %s" % (k[0], self.key(v)[3]), v.get("spec"))
                    for k, v in sorted(live["resources"].items()))


def _flatten(obj, prefix=""):
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values (compared whole)."""
    out = {}
    for k, v in sorted(obj.items()):
        if isinstance(v, dict) and v:
            out.update(_flatten(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out

# (end of targets)


###############################################################################
# Plan & deploy ###############################################################
###############################################################################

#
# From a desired state (docs/internals.md) and a runtime to a plan, and from a plan to
# live services.  Apply order: schemas -> topics -> Flink jobs -> connectors -> gateway,
# stopping at the first failure with a report of what was and was not applied.  A plan
# is recomputed from the live state on every run, so re-running converges.
#
# JSON shape (`--format json` of plan, apply, deploy and status), format_version 1;
# new keys may be added, existing ones never change meaning:
#
#   {"format_version": 1,
#    "command": "deploy" | "plan" | "apply" | "status",
#    "project": str, "environment": str,
#    "contacts": [{"service": str, "hosts": [str]}],
#    "kafka_cluster_id": str | null,
#    "plan": {"summary": {"create": n, "update": n, "unchanged": n, "orphan": n,
#                         "delete": n, "refused": n},
#             "changes": [{"kind": "schema"|"topic"|"flink_job"|"connector"|"gateway",
#                          "name": str,
#                          "action": "create"|"update"|"unchanged"|"orphan"|"delete",
#                          "changes": {key: {"old": v, "new": v}},  # secrets redacted
#                          "notes": [str], "refused": str | null, "destructive": bool}]},
#    "validation_errors": [str],                 # --dry-run: the services' own checks
#    "drift": [str],                             # --check-drift findings
#    "result": {"status": "no-changes" | "pending" | "applied" | "partial" | "refused",
#               "applied": ["kind:name"], "not_applied": ["kind:name"],
#               "failed": {"resource": "kind:name", "error": str} | null}}
#
# Changes are sorted by apply order, then by kind and name.

__all__ += ["Plan", "plan_deploy", "apply_plan", "observe_state", "resolve_variables",
            "read_env_file", "drift_between", "APPLY_ORDER", "make_targets"]

APPLY_ORDER = ("schema", "topic", "flink_job", "connector", "gateway")
_DESIRED_KEY = {"schema": "schemas", "topic": "topics", "flink_job": "flink_jobs",
                "connector": "connectors", "gateway": "gateway"}


class Plan(object):
    """The changes, the targets that computed them, and what was observed."""

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
        s = dict((k, 0) for k in ("create", "update", "unchanged", "orphan", "delete", "refused"))
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
        sym = {"create": "+", "update": "~", "delete": "-", "orphan": "?", "unchanged": "="}
        for c in self.changes:
            if c.action == "unchanged" and not verbose:
                continue
            head = "%s %s %s" % (sym[c.action], c.kind, c.name)
            if c.action == "orphan":
                head += " (orphan)"
            if c.refused:
                head += "  REFUSED: " + c.refused
            lines.append(head)
            for k, (old, new) in sorted(c.changes.items()):
                if c.action == "create":
                    lines.append("    %s: %s" % (k, _show(new)))
                else:
                    lines.append("    %s: %s -> %s" % (k, _show(old), _show(new)))
            for n in c.notes:
                lines.append("    # " + n)
        s = self.summary()
        lines.append("Plan: %d to create, %d to update, %d to delete, %d unchanged, %d orphan(s)%s"
                     % (s["create"], s["update"], s["delete"], s["unchanged"], s["orphan"],
                        (", %d refused" % s["refused"]) if s["refused"] else ""))
        return "\n".join(lines)


def _show(v):
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
    if desired.get("flink_jobs"):
        targets["flink_job"] = FlinkTarget(runtime, [j.get("cluster") for j in desired["flink_jobs"]])
    if desired.get("connectors"):
        targets["connector"] = ConnectTarget(runtime, [c.get("cluster") for c in desired["connectors"]])
    if desired.get("gateway"):
        targets["gateway"] = GatewayTarget(runtime)
    return targets


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
        live[kind] = t.observe(items, policy)
        if kind == "topic":
            cluster_id = live[kind].get("cluster_id")
        changes.extend(t.plan(items, live[kind], policy))
    return Plan(changes, targets, live, policy, cluster_id)


def apply_plan(plan, progress=None):
    """Apply the pending changes in order; stop at the first failure.

    Returns {"status", "applied", "not_applied", "failed"} (see the JSON shape above);
    on failure raises PartialDeployError with that report in `.report`."""
    progress = progress or (lambda msg: None)
    applied = []
    pending = plan.pending
    for kind in APPLY_ORDER:
        mine = [c for c in pending if c.kind == kind]
        if not mine:
            continue

        def done(change):
            applied.append(change.ref)
            progress("applied %s %s" % (change.action, change.ref))

        try:
            plan.targets[kind].apply(mine, done)
        except StreamtError as e:
            failed = next((c.ref for c in mine if c.ref not in applied), mine[0].ref)
            not_applied = [c.ref for c in pending if c.ref not in applied]
            report = {"status": "partial", "applied": applied, "not_applied": not_applied,
                      "failed": {"resource": failed, "error": e.message}}
            err = PartialDeployError(
                "deploy stopped at %s: %s" % (failed, e.message),
                details=(list(e.details) + ["applied: %s" % (", ".join(applied) or "nothing")]
                         + ["not applied: %s" % ", ".join(not_applied)]),
                hint=e.hint or "fix the cause and run the same command again: "
                               "what was applied is recognised as unchanged")
            err.report = report
            raise err
    return {"status": "applied" if pending else "no-changes", "applied": applied,
            "not_applied": [], "failed": None}


def observe_state(desired, runtime, project=None, targets=None):
    """The live state of what `desired` describes, canonical and redacted, for
    `build --with-state` (stored under state/) and `deploy --check-drift`."""
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
                    out.append("%s: appeared (%s)" % (".".join(p), _show(b[k])))
                elif k not in b:
                    out.append("%s: disappeared (was %s)" % (".".join(p), _show(a[k])))
                else:
                    walk(a[k], b[k], p)
        elif a != b:
            out.append("%s: %s -> %s" % (".".join(path), _show(a), _show(b)))
    walk(before, now, [])
    return out


_VAR_RE = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)\})")


def resolve_variables(obj, values):
    """A copy of obj with ${NAME} replaced from `values` ($$ is a literal $).  Every
    missing name is reported at once (exit 1)."""
    missing = set()

    def sub(s):
        def rep(m):
            if m.group(1):
                return "$"
            name = m.group(2)
            if name not in values:
                missing.add(name)
                return m.group(0)
            return values[name]
        return _VAR_RE.sub(rep, s)

    def walk(o):
        if isinstance(o, str):
            return sub(o)
        if isinstance(o, dict):
            return dict((walk(k), walk(v)) for k, v in o.items())
        if isinstance(o, list):
            return [walk(v) for v in o]
        return o

    out = walk(obj)
    if missing:
        names = sorted(missing)
        raise StreamtError("environment variable%s not set: %s"
                           % ("s" if len(names) > 1 else "", ", ".join(names)),
                           hint="export them, or pass --env-file with NAME=value lines")
    return out


def read_env_file(path):
    """NAME=value lines (`export` prefix, quotes, # comments), like a .env file."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (IOError, OSError) as e:
        raise UsageError("cannot read the env file %s: %s" % (path, e.strerror or e))
    out = {}
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("export "):
            s = s[7:].lstrip()
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", s)
        if not m:
            raise UsageError("%s:%d: expected NAME=value" % (path, no))
        name, value = m.group(1), m.group(2)
        if value[:1] in ("'", '"'):
            q = value[0]
            end = value.find(q, 1)
            if end < 0:
                raise UsageError("%s:%d: unterminated quote" % (path, no))
            value = value[1:end]
        else:
            value = re.sub(r"\s+#.*$", "", value).strip()
        out[name] = value
    return out


def _secret_values(values):
    """Values of variables whose names look secret: redacted wherever they appear."""
    return set(v for k, v in values.items()
               if _SECRET_KEY_RE.search(k) and isinstance(v, str) and len(v) >= 4)

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
