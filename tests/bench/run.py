"""`make bench`: streamt's speed and memory, reported as ratios.

Parts (each prints a table; everything is also written to dist/bench.json):
  build    full artifact (tar.gz) of synthetic projects of 100, 1,000 and 5,000 models:
           median wall time of several runs and peak RSS of the streamt process;
           the ratio to the original streamt's compile (2.2 s / 1,000 and 14 s / 5,000
           models on our 2-core machines) and the 1,000 -> 5,000 scaling factor.
  startup  `python streamt.pyz --version` vs `python -c pass` on every interpreter
           3.6-3.13 found under $(pyenv root)/versions.
  others   every tests/bench/bench_*.py script (YAML vs PyYAML, Kafka requests and
           500 topics on the real broker, signature verification, ...).

    python tests/bench/run.py [build] [startup] [others] [--sizes 100,1000,5000] [--runs 5]
"""
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import gen_project  # noqa: E402

ORIGINAL_COMPILE_S = {1000: 2.2, 5000: 14.0}  # measured on our 2-core machines (issue text)


def timed_child(argv, env=None):
    """Run a command; return (seconds, peak RSS in MB, returncode)."""
    start = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
    err = p.stderr.read().decode("utf-8", "replace")
    p.stderr.close()
    if p.returncode != 0:
        raise SystemExit("command failed (%d): %s\n%s" % (p.returncode, " ".join(argv), err[-2000:]))
    return elapsed, usage.ru_maxrss / 1024.0


def bench_build(sizes, runs):
    rows = []
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000", KAFKA_BOOTSTRAP="k:9092")
    for n in sizes:
        tmp = tempfile.mkdtemp(prefix="streamt-bench-")
        try:
            project = gen_project.generate(n, os.path.join(tmp, "p"))
            times, rss = [], []
            for i in range(runs):
                out = os.path.join(tmp, "out-%d.tar.gz" % i)
                t, m = timed_child([sys.executable, os.path.join(ROOT, "streamt.py"), "build",
                                    "-p", project, "-o", out], env=env)
                times.append(t)
                rss.append(m)
            row = {"models": n, "median_s": statistics.median(times), "min_s": min(times),
                   "peak_rss_mb": max(rss)}
            if n in ORIGINAL_COMPILE_S:
                row["vs_original"] = row["median_s"] / ORIGINAL_COMPILE_S[n]
            rows.append(row)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\n## build (full artifact, tar.gz; %d runs each)\n" % runs)
    print("| models | median s | min s | peak RSS MB | time / original compile |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print("| %d | %.3f | %.3f | %.1f | %s |" % (
            r["models"], r["median_s"], r["min_s"], r["peak_rss_mb"],
            "%.3f" % r["vs_original"] if "vs_original" in r else "-"))
    by = {r["models"]: r for r in rows}
    if 1000 in by and 5000 in by:
        scale = by[5000]["median_s"] / by[1000]["median_s"]
        print("\nscaling 1,000 -> 5,000 models: x%.2f (linear would be x5)" % scale)
    return rows


def interpreters():
    try:
        root = subprocess.check_output(["pyenv", "root"], universal_newlines=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return [("current", sys.executable)]
    found = []
    for d in sorted(glob.glob(os.path.join(root, "versions", "3.*"))):
        exe = os.path.join(d, "bin", "python")
        if os.path.exists(exe):
            found.append((os.path.basename(d), exe))
    return found


def bench_startup(runs):
    pyz = os.path.join(ROOT, "dist", "streamt.pyz")
    subprocess.check_call([sys.executable, os.path.join(ROOT, "build_zipapp.py")],
                          stdout=subprocess.DEVNULL)
    rows = []
    for version, exe in interpreters():
        bare = [timed_child([exe, "-c", "pass"])[0] for _ in range(runs)]
        tool = [timed_child([exe, pyz, "--version"])[0] for _ in range(runs)]
        rows.append({"python": version, "bare_ms": 1000 * statistics.median(bare),
                     "pyz_version_ms": 1000 * statistics.median(tool),
                     "ratio": statistics.median(tool) / statistics.median(bare)})
    print("\n## start-up: `python streamt.pyz --version` vs `python -c pass` (%d runs each)\n" % runs)
    print("| python | bare ms | pyz --version ms | ratio (target <= 3) |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print("| %s | %.1f | %.1f | %.2f |" % (r["python"], r["bare_ms"], r["pyz_version_ms"], r["ratio"]))
    return rows


def bench_others():
    results = {}
    for script in sorted(glob.glob(os.path.join(HERE, "bench_*.py"))):
        name = os.path.basename(script)[:-3]
        print("\n## %s\n" % name)
        sys.stdout.flush()
        p = subprocess.run([sys.executable, script], stdout=subprocess.PIPE,
                           universal_newlines=True)
        print(p.stdout)
        results[name] = {"returncode": p.returncode, "output": p.stdout}
    return results


def main(argv):
    parts = [a for a in argv if not a.startswith("--")] or ["build", "startup", "others"]
    sizes, runs = [100, 1000, 5000], 5
    for a in argv:
        if a.startswith("--sizes="):
            sizes = [int(x) for x in a.split("=", 1)[1].split(",")]
        if a.startswith("--runs="):
            runs = int(a.split("=", 1)[1])
    report = {"python": sys.version.split()[0]}
    if "build" in parts:
        report["build"] = bench_build(sizes, min(runs, 5))
    if "startup" in parts:
        report["startup"] = bench_startup(max(runs, 10))
    if "others" in parts:
        report["others"] = bench_others()
    os.makedirs(os.path.join(ROOT, "dist"), exist_ok=True)
    with open(os.path.join(ROOT, "dist", "bench.json"), "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    print("\nwritten: dist/bench.json")


if __name__ == "__main__":
    main(sys.argv[1:])
