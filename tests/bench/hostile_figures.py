"""`make hostile-figures`: the hostile inputs of issue 17, each run by a given streamt.py
in a child process with a wall-time limit and a memory limit, one table row per input.

Not a pytest test.  The inputs are made by the generators the hostile tests use
(tests/_hostile.py, tests/test_hostile.py, tests/test_cli_hostile.py,
tests/test_archive_hostile.py, tests/test_artifact_shape.py, tests/test_artifact_output.py,
tests/test_secrets.py); each row runs one streamt command on a fresh copy, then says what
a user would notice ("outcome": refused / accepted / a secret printed / a file lost).

    python tests/bench/hostile_figures.py STREAMT_PY [OTHER_STREAMT_PY]
        [--timeout=60] [--mem-mb=3072] [--python=PYTHON] [--only=WORD[,WORD...]]

With two streamt.py the rows show both side by side (e.g. an old commit's, exported with
`git archive`, and the working tree's; `make hostile-figures OLD=<commit>`).  Columns:
wall time (">60 s" when the limit was hit and the child killed), peak RSS (ru_maxrss of
the child), exit code, "TB" when a Python traceback was printed, "MemoryError" when the
memory limit (RLIMIT_AS) was hit.  The sizes are in the rows' names; they are smaller than
the issue's where the old code would take minutes (the shape is the point).
"""
import argparse
import gzip
import json
import lzma
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from tests import _hostile as H  # noqa: E402
from tests import test_archive_hostile as TA  # noqa: E402
from tests import test_artifact_output as TO  # noqa: E402
from tests import test_artifact_shape as TS  # noqa: E402
from tests import test_cli_hostile as TC  # noqa: E402
from tests import test_hostile as TH  # noqa: E402
from tests import test_secrets as TSEC  # noqa: E402

SHOP_TAR = os.path.join(ROOT, "tests", "corpus", "artifact", "shop-dev.tar")
SENTINEL = TC.SENTINEL


class Run(object):
    """One command to run: streamt arguments, the environment, stdin (a path or None), a
    time limit of its own (a FIFO hangs: no need to wait the full limit for it)."""

    def __init__(self, args, env=None, stdin=None, timeout=None):
        self.args, self.env, self.stdin, self.timeout = args, env, stdin, timeout


class Result(object):
    def __init__(self, code, out, err, seconds, rss_mb, timed_out):
        self.code, self.out, self.err = code, out, err
        self.seconds, self.rss_mb, self.timed_out = seconds, rss_mb, timed_out


def run_child(python, streamt_py, run, timeout, mem_mb, tmp):
    limit = mem_mb * 1024 * 1024

    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        os.setsid()

    timeout = min(timeout, run.timeout or timeout)
    out_path, err_path = os.path.join(tmp, ".stdout"), os.path.join(tmp, ".stderr")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        stdin = open(run.stdin, "rb") if run.stdin else subprocess.DEVNULL
        start = time.perf_counter()
        p = subprocess.Popen([python, streamt_py] + run.args, stdin=stdin, stdout=out,
                             stderr=err, env=run.env or H.clean_environ(), cwd=tmp,
                             preexec_fn=limits)
        killed = []

        def kill():
            killed.append(True)
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the child only: it leads its own group
            except OSError:
                pass
        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, usage = os.wait4(p.pid, 0)
        timer.cancel()
        seconds = time.perf_counter() - start
        p.returncode = -(status & 0x7F) if status & 0x7F else status >> 8
        if run.stdin:
            stdin.close()
    with open(out_path, "rb") as f:
        o = f.read().decode("utf-8", "replace")
    with open(err_path, "rb") as f:
        e = f.read().decode("utf-8", "replace")
    return Result(p.returncode, o, e, seconds, usage.ru_maxrss / 1024.0, bool(killed))


# -- the inputs: each prepare(tmp) returns a Run; judge(result, tmp) says what a user sees ---

def _project(tmp, data, files=None, name="p"):
    return H.write_project(os.path.join(tmp, name), data, files)


def _sql_model(sql):
    data = H.base_project()
    data["models"][0]["sql"] = sql
    return data


def build_sql(sql):
    def prepare(tmp):
        root = _project(tmp, _sql_model(sql))
        return Run(["build", "-p", root, "-o", os.path.join(tmp, "out")])
    return prepare


def literal_sql(chars):
    return ('SELECT * FROM {{ source("orders") }} WHERE status = \'%s\'' % ("x" * chars))


def diff_literal(chars):
    def prepare(tmp):
        # two artifacts holding the long literal, built by the streamt under test
        for tag, extra in (("a", ""), ("b", " AND amount > 1")):
            root = _project(tmp, _sql_model(literal_sql(chars) + extra), name="p" + tag)
            subprocess.check_call([prepare.python, prepare.streamt, "build", "-p", root, "-o",
                                   os.path.join(tmp, tag)], env=H.clean_environ(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return Run(["artifact", "diff", os.path.join(tmp, "a"), os.path.join(tmp, "b")])
    prepare.needs_build = True
    return prepare


def naming(pattern, letters):
    def prepare(tmp):
        data = H.base_project()
        data["rules"] = {"topics": {"naming_pattern": pattern}}
        data["models"][0]["advanced"]["topic"]["name"] = "a" * letters + "-1"
        return Run(["validate", "-p", _project(tmp, data), "--no-env-check"])
    return prepare


def archive_file(make, name="a.tar", cmd=("artifact", "verify")):
    def prepare(tmp):
        path = os.path.join(tmp, name)
        data = make(path)
        if data is not None:
            with open(path, "wb") as f:
                f.write(data)
        return Run(list(cmd) + [path])
    return prepare


def many_gzip_members(path):
    empty = gzip.compress(b"", mtime=0)
    return empty * (8 * 1024 * 1024 // len(empty))


def slow_pax(body_bytes):
    def make(path):
        body = b"4 a\n" * (body_bytes // 4) + b"="
        return gzip.compress(TA.pad(TA.header("././@PaxHeader", len(body), b"x")) + TA.pad(body)
                             + TA.member("manifest.json", b"{}") + TA.END, mtime=9)
    return make


def zeros_tar_gz(sizes):
    def make(path):
        TA._zeros_tar_gz(path, sizes)
    return make


def plain_tar(count, size):
    def make(path):
        block = b"x" * size
        with open(path, "wb") as f:
            for i in range(count):
                f.write(TA.header("m%d" % i, size) + block)
            f.write(TA.END)
    return make


def gnu_sparse(entries):
    def make(path):
        sparse = TA.pax([(b"GNU.sparse.map", b",".join([b"0,1"] * entries)),
                         (b"GNU.sparse.numblocks", b"%d" % entries), (b"GNU.sparse.size", b"1")])
        return gzip.compress(sparse + TA.member("x", b"") + TA.END, mtime=0)
    return make


def pax_size(path):
    return TA.pax([(b"size", b"9" * 4000)]) + TA.member("manifest.json", b"{}") + TA.END


def trailing_tar(path):
    with open(SHOP_TAR, "rb") as f:
        return f.read() + b"garbage"


def trailing_xz(path):
    with open(SHOP_TAR, "rb") as f:
        return lzma.compress(f.read(), format=lzma.FORMAT_XZ) + b"garbage"


def not_a_file(what, rel="models/x.yml", timeout=None):
    def prepare(tmp):
        root = _project(tmp, H.base_project())
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path))
        TC._make_not_a_file(path, what, os.path.join(tmp, "outside.yml"))
        if what == "outside":  # lineage shows whether its model `stolen` was read
            return Run(["lineage", "-p", root], timeout=timeout)
        return Run(["validate", "-p", root, "--no-env-check"], timeout=timeout)
    return prepare


def secret_url(fmt):
    def prepare(tmp):
        data = H.base_project()
        data["runtime"]["schema_registry"]["url"] = "htp://user:%s@host" % SENTINEL
        env = H.clean_environ(KAFKA_PASSWORD="k1234", SR_PASSWORD="s1234",
                              GATEWAY_PASSWORD="g1234", DB_PASSWORD="d1234")
        return Run(["plan", "-p", _project(tmp, data), "--format", fmt], env=env)
    return prepare


ECHO = []  # the echo server of the run, started on first use


def echoed_password(tmp):
    if not ECHO:
        ECHO.append(TSEC.EchoServer())
    root = os.path.join(tmp, "p")
    secrets = TSEC.multi_env_project(root, ECHO[0].url, "127.0.0.1:%d" % TSEC._closed_port())
    environ = H.clean_environ(DB_PASSWORD=secrets["DB_PASSWORD"])
    out = os.path.join(tmp, "a")
    subprocess.check_call([echoed_password.python, echoed_password.streamt, "build", "-p", root,
                           "-e", "dev", "-o", out], env=environ, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    wrong = dict(secrets, SR_PASSWORD=SENTINEL + "sr", KAFKA_PASSWORD=SENTINEL + "k")
    return Run(["deploy", out, "--dry-run"], env=dict(environ, **wrong))


echoed_password.needs_build = True


def pass_variable(tmp):
    data = H.base_project()
    data["models"][1]["sink"]["config"]["connection.url"] = "jdbc:postgresql://db/x?pw=${DB_PASS}"
    root = _project(tmp, data)
    env = H.clean_environ(DB_PASS=SENTINEL, KAFKA_PASSWORD="k1234", SR_PASSWORD="s1234",
                          GATEWAY_PASSWORD="g1234", DB_PASSWORD="d1234")
    out = os.path.join(tmp, "a")
    subprocess.check_call([pass_variable.python, pass_variable.streamt, "build", "-p", root,
                           "-o", out, "--resolve-secrets"], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    return Run(["artifact", "inspect", out, "--component", "connectors"], env=env)


pass_variable.needs_build = True


def force_onto(target):
    def prepare(tmp):
        root = _project(tmp, H.base_project())
        if target == "the project":
            o = root
        else:
            o = os.path.join(tmp, "notes.txt")
            with open(o, "w") as f:
                f.write("my notes\n")
        return Run(["build", "-p", root, "-o", o, "--force"])
    return prepare


def judge_force(target):
    def judge(r, tmp):
        if target == "the project":
            lost = not os.path.exists(os.path.join(tmp, "p", H.PROJECT_FILE))
            return "project DELETED" if lost else "project kept"
        return "notes.txt REPLACED" if os.path.isdir(os.path.join(tmp, "notes.txt")) else "notes.txt kept"
    return judge


def damaged_artifact(damage, cmd):
    def prepare(tmp):
        bad = TS.unpack(os.path.join(tmp, "bad"))
        m = TS.manifest_of(bad)
        TS.reseal(bad, m, damage(m))
        return Run(list(cmd) + [bad])
    return prepare


def manifest_deep(tmp):
    bad = TS.unpack(os.path.join(tmp, "bad"))
    TS.reseal(bad, ('{"version": "1.0.0", "x": %s}' % TS._deep(100000)).encode())
    return Run(["artifact", "verify", bad])


def deep_directory(tmp):
    bad = TS.unpack(os.path.join(tmp, "bad"))
    path = bad
    for _ in range(1500):
        path = os.path.join(path, "d")
        os.mkdir(path)
    return Run(["artifact", "verify", bad])


def remove_tree(tmp):
    """shutil.rmtree, after removing deep_directory's chain one level at a time
    (rmtree recurses)."""
    chain = [os.path.join(tmp, "bad")]
    while os.path.isdir(os.path.join(chain[-1], "d")):
        chain.append(os.path.join(chain[-1], "d"))
    for path in reversed(chain[1:]):
        shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)


def crasher(case, cmd):
    def prepare(tmp):
        root = _project(tmp, TH._crashers()[case])
        env = H.clean_environ(PARTS="3")
        if cmd == "build":
            return Run(["build", "-p", root, "-o", os.path.join(tmp, "o")], env=env)
        return Run(["validate", "-p", root, "--no-env-check"], env=env)
    return prepare


def forged_name(tmp):
    path = TO._tar_with_extra(_Path(tmp), "flink/x\n" + TO.FORGED)
    return Run(["artifact", "verify", path])


def tampered_inspect(tmp):
    bad = TS.unpack(os.path.join(tmp, "bad"))
    with open(os.path.join(bad, "flink", "orders_clean.sql"), "a") as f:
        f.write("-- changed after the build\n")
    return Run(["artifact", "inspect", bad])


def spaced_signers(tmp):
    art = TO._signed(_Path(tmp))
    spaced = os.path.join(tmp, "my keys")
    os.mkdir(spaced)
    return Run(["artifact", "verify", art, "--allowed-signers", os.path.join(spaced, "nope")])


class _Path(str):
    """A str that joins like pathlib's: the test helpers take pytest's tmp_path."""

    def __truediv__(self, name):
        return _Path(os.path.join(self, name))

    def mkdir(self):
        os.mkdir(self)


def judge_sentinel(r, tmp):
    text = r.out + r.err
    shown = any(form in text for form in TSEC.leak_forms(SENTINEL) | TSEC.leak_forms(SENTINEL + "sr")
                | TSEC.leak_forms(SENTINEL + "k"))
    return "SECRET PRINTED" if shown else "not printed"


def judge_forged(r, tmp):
    lines = (r.out + r.err).split("\n")
    return "FORGED an OK line" if any(line.startswith("OK ") for line in lines) else "no forged line"


def judge_accepted(r, tmp):
    if "Traceback (most recent call last)" in r.err:
        return "CRASHED"
    return "ACCEPTED" if r.code == 0 else "refused"


def judge_outside(r, tmp):
    return "READ SILENTLY" if "stolen" in r.out else "refused"


def judge_tampered(r, tmp):
    return "shown SILENTLY" if r.code == 0 and "DOES NOT VERIFY" not in r.err else "said: does not verify"


def judge_spaced(r, tmp):
    return "read as a FILE" if "cannot read the allowed signers file" in r.err else "taken as inline text"


CASES = []  # (name, prepare, judge or None)


def case(name, prepare, judge=None):
    CASES.append((name, prepare, judge))


case("nested sub-queries, 16 levels (build)", build_sql(TH._nested_sql(16, 0)))
case("nested sub-queries, 20 levels (build)", build_sql(TH._nested_sql(20, 0)))
case("nested sub-queries, 50 levels (build)", build_sql(TH._nested_sql(50, 0)))
case("CASE, 5,000 WHENs (build)", build_sql(TH._case_sql(5000, 0)))
case("CASE, 10,000 WHENs (build)", build_sql(TH._case_sql(10000, 0)))
case("SQL string literal 1 MB (build)", build_sql(literal_sql(1 << 20)))
case("SQL string literal 10 MB (build)", build_sql(literal_sql(10 << 20)))
case("SQL string literal 10 MB (artifact diff)", diff_literal(10 << 20))
case("8 MB of empty gzip members (verify)", archive_file(many_gzip_members, "a.tar.gz"))
case("pax header, 252-byte tar.gz (verify)", archive_file(slow_pax(60 * 1024), "a.tar.gz"))
case("pax header, 1 MiB body, ~1.3 KB tar.gz (verify)",
     archive_file(slow_pax(1 << 20), "a.tar.gz"))
case("gzip bomb, 8 members of 63 MiB, 0.5 MB (verify)",
     archive_file(zeros_tar_gz([63 << 20] * 8), "a.tar.gz"))
case("plain tar, 8 members of 63 MiB (verify)", archive_file(plain_tar(8, 63 << 20)))
case("GNU sparse map of 1M entries, tar.gz (verify)",
     archive_file(gnu_sparse(1000000), "a.tar.gz"))
case("naming_pattern (a+)+, 26-letter topic (validate)", naming("(a+)+", 26))
case("naming_pattern (a+)+, 30-letter topic (validate)", naming("(a+)+", 30))
case("models/x.yml -> /dev/zero (validate)", not_a_file("dev-zero"))
case("models/x.yml a FIFO (validate, 10 s limit)", not_a_file("fifo", timeout=10))
case("models/x.yml -> YAML outside the project (lineage)", not_a_file("outside"),
     judge_outside)
case("htp://user:pw@host URL (plan, text)", secret_url("text"), judge_sentinel)
case("htp://user:pw@host URL (plan, json)", secret_url("json"), judge_sentinel)
case("wrong passwords, services echo requests (deploy --dry-run)", echoed_password,
     judge_sentinel)
case("${DB_PASS} value resolved in (artifact inspect)", pass_variable, judge_sentinel)
case("build -p proj -o proj --force", force_onto("the project"), judge_force("the project"))
case("build -o notes.txt --force", force_onto("notes.txt"), judge_force("notes.txt"))
for _name, _damage, _said in TS.CASES:
    case("artifact: %s (inspect)" % _name, damaged_artifact(_damage, ("artifact", "inspect")),
         judge_accepted)
case("artifact: manifest nested 100k deep (verify)", manifest_deep, judge_accepted)
case("artifact: pax size=9*4000 (verify)", archive_file(pax_size), judge_accepted)
case("artifact: directory 1,500 levels deep (verify)", deep_directory, judge_accepted)
for _case, _cmd in (("partitions-var", "build"), ("scalar-assertion", "build"),
                    ("empty-column-item", "build"), ("null-prefix", "validate"),
                    ("mapping-mask-column", "validate")):
    case("project: %s (%s)" % (_case, _cmd), crasher(_case, _cmd))
case("member name with \\n + forged OK line (verify)", forged_name, judge_forged)
case("tampered artifact (inspect)", tampered_inspect, judge_tampered)
case("--allowed-signers path with a space (verify)", spaced_signers, judge_spaced)
case("tar + trailing garbage (verify)", archive_file(trailing_tar), judge_accepted)
case("tar.xz + trailing garbage (verify)", archive_file(trailing_xz, "a.tar.xz"),
     judge_accepted)


def figures(python, streamt_py, prepare, judge, timeout, mem_mb):
    tmp = tempfile.mkdtemp(prefix="streamt-hostile-")
    try:
        prepare.python, prepare.streamt = python, streamt_py
        try:
            run = prepare(tmp)
        except subprocess.CalledProcessError:
            return {"time": "-", "rss": "-", "exit": "-", "tb": "", "outcome": "its build failed"}
        r = run_child(python, streamt_py, run, timeout, mem_mb, tmp)
        if r.timed_out:
            t = ">%d s" % min(timeout, run.timeout or timeout)
        else:
            t = "%.2f s" % r.seconds
        outcome = ""
        if "MemoryError" in r.err:
            outcome = "MemoryError"
        elif r.code < 0 and not r.timed_out:
            outcome = "killed (signal %d)" % -r.code
        elif judge is not None and not r.timed_out:
            outcome = judge(r, tmp)
        return {"time": t, "rss": "%.0f MB" % r.rss_mb,
                "exit": "-" if r.timed_out else str(r.code),
                "tb": "TB" if "Traceback (most recent call last)" in r.err else "",
                "outcome": outcome}
    finally:
        remove_tree(tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("streamt", nargs="+", help="one or two streamt.py")
    ap.add_argument("--timeout", type=int, default=60, help="seconds per row (default 60)")
    ap.add_argument("--mem-mb", type=int, default=3072, help="RLIMIT_AS of the child (MB)")
    ap.add_argument("--python", default=sys.executable, help="the interpreter of the child")
    ap.add_argument("--only", default="", help="rows whose name holds one of these words")
    ap.add_argument("--json", default="", help="also write the rows to this file")
    ap.add_argument("--names", default="", help="comma-separated names of the streamt.py")
    args = ap.parse_args()
    words = [w for w in args.only.split(",") if w]
    rows = []
    labels = [n for n in args.names.split(",") if n] or list(args.streamt)
    sys.stdout.write("python: %s; limits: %d s, %d MB address space\n" % (
        subprocess.check_output([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                                universal_newlines=True).strip(), args.timeout, args.mem_mb))
    for i, path in enumerate(args.streamt):
        sys.stdout.write("[%d] %s\n" % (i + 1, path if i >= len(labels) or labels[i] == path
                                          else "%s (%s)" % (labels[i], path)))
    head = "%-58s" % "input" + "".join(
        " | %13s %8s %4s %2s %-22s" % ("[%d] time" % (i + 1), "peak RSS", "exit", "", "outcome")
        for i in range(len(labels)))
    sys.stdout.write(head + "\n" + "-" * len(head) + "\n")
    try:
        for name, prepare, judge in CASES:
            if words and not any(w.lower() in name.lower() for w in words):
                continue
            row = {"input": name, "runs": []}
            line = "%-58s" % name
            for path in args.streamt:
                f = figures(args.python, os.path.abspath(path), prepare, judge, args.timeout,
                            args.mem_mb)
                row["runs"].append(f)
                line += " | %13s %8s %4s %2s %-22s" % (f["time"], f["rss"], f["exit"], f["tb"],
                                                       f["outcome"])
            rows.append(row)
            sys.stdout.write(line.rstrip() + "\n")
            sys.stdout.flush()
    finally:
        for server in ECHO:
            server.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"streamt": labels, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
