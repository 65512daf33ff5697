"""`make bench`: streamt's speed and memory, reported as ratios.

Parts (each prints a table; everything is also written to dist/bench.json):
  build    full artifact (tar.gz) of synthetic projects of 100, 1,000 and 5,000 models
           (each project is first checked to validate clean), run from dist/streamt.pyz
           as shipped (bytecode included): median wall and CPU (user+sys) time of
           several runs and peak RSS of the streamt process;
           the ratio to the original streamt's compile -- run side by side, in turn with
           each build, with --original=EXE (the original's `streamt` command), else the
           times recorded once (2.2 s / 1,000 and 14 s / 5,000 models on our 2-core
           machines) -- and the 1,000 -> 5,000 scaling factor; and
           the floor under each build (tests/bench/floor.py: interpreter start, reading
           the project, hashing and deflating the artifact's given bytes), so the time
           spent understanding and rendering the project shows as build - floor.
  startup  `python streamt.pyz --version` vs `python -c pass` on every interpreter
           3.6-3.13 found under $(pyenv root)/versions.
  others   the tests/bench/bench_*.py scripts, each printing its own table: YAML vs
           PyYAML, validation, signature verification, Kafka requests and 500 topics on
           the real broker, a converged re-deploy of examples/shop on the real services,
           record batches decoded against kafka-python, in memory and read off the
           real broker
           (bench_startup.py is left out: the `startup` part measures the same).

    python tests/bench/run.py [build] [startup] [others] [bench_NAME...]
                              [--sizes=100,1000,5000] [--runs=5] [--original=EXE]
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


def timed_child(argv, env=None, cpu=False):
    """Run a command; return (wall seconds, peak RSS in MB[, CPU seconds user+sys])."""
    start = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
    err = p.stderr.read().decode("utf-8", "replace")
    p.stderr.close()
    if p.returncode != 0:
        raise SystemExit("command failed (%d): %s\n%s" % (p.returncode, " ".join(argv), err[-2000:]))
    if cpu:
        return elapsed, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime
    return elapsed, usage.ru_maxrss / 1024.0


def build_pyz():
    subprocess.check_call([sys.executable, os.path.join(ROOT, "build_zipapp.py")],
                          stdout=subprocess.DEVNULL)
    return os.path.join(ROOT, "dist", "streamt.pyz")


def check_clean(pyz, project, env):
    """The generated project must validate without errors or warnings."""
    p = subprocess.run([sys.executable, pyz, "validate", "-p", project], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if p.returncode != 0 or " is valid" not in p.stdout or "; 0 warnings" not in p.stdout:
        raise SystemExit("generated project %s does not validate clean:\n%s"
                         % (project, p.stdout[-3000:]))


def bench_build(sizes, runs, original=None):
    rows = []
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000", KAFKA_BOOTSTRAP="k:9092",
               DB_PASSWORD="bench")
    pyz = build_pyz()
    for n in sizes:
        tmp = tempfile.mkdtemp(prefix="streamt-bench-")
        try:
            project = gen_project.generate(n, os.path.join(tmp, "p"))
            check_clean(pyz, project, env)
            times, rss, cpus, theirs = [], [], [], []
            for i in range(runs):
                out = os.path.join(tmp, "out-%d.tar.gz" % i)
                t, m, c = timed_child([sys.executable, pyz, "build", "-p", project, "-o", out],
                                      env=env, cpu=True)
                times.append(t)
                rss.append(m)
                cpus.append(c)
                if original:  # the original's compile of the same project, in turn
                    theirs.append(timed_child([original, "compile", "-p", project, "-o",
                                               os.path.join(tmp, "original-%d" % i)],
                                              env=env, cpu=True))
            row = {"models": n, "median_s": statistics.median(times), "min_s": min(times),
                   "median_cpu_s": statistics.median(cpus), "peak_rss_mb": max(rss)}
            row.update(measure_floor(project, out, tmp, runs))
            if theirs:
                row["original_s"] = statistics.median(t[0] for t in theirs)
                row["original_cpu_s"] = statistics.median(t[2] for t in theirs)
                row["vs_original"] = row["median_s"] / row["original_s"]
                row["vs_original_cpu"] = row["median_cpu_s"] / row["original_cpu_s"]
                row["floor_vs_original"] = row["floor_s"] / row["original_s"]
            elif n in ORIGINAL_COMPILE_S:
                row["vs_original"] = row["median_s"] / ORIGINAL_COMPILE_S[n]
                row["floor_vs_original"] = row["floor_s"] / ORIGINAL_COMPILE_S[n]
            rows.append(row)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\n## build (full artifact, tar.gz; %d runs each)\n" % runs)
    print("| models | median s | min s | median CPU s | peak RSS MB | time / original compile "
          "| original compile s | original CPU s | CPU / original CPU |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print("| %d | %.3f | %.3f | %.3f | %.1f | %s | %s | %s | %s |" % (
            r["models"], r["median_s"], r["min_s"], r["median_cpu_s"], r["peak_rss_mb"],
            "%.3f" % r["vs_original"] if "vs_original" in r else "-",
            "%.2f" % r["original_s"] if "original_s" in r else "(recorded)",
            "%.2f" % r["original_cpu_s"] if "original_cpu_s" in r else "-",
            "%.3f" % r["vs_original_cpu"] if "vs_original_cpu" in r else "-"))
    print("\n(target: time / original compile <= 0.1; peak RSS for 5,000 models <= 150 MB;"
          " on a busy machine the CPU time is the steadier number)")
    print("\n## what the build spends above its floor\n")
    print("(floor: a fresh interpreter that reads the project, hashes every artifact file and"
          "\n deflates the artifact's bytes, given -- no parsing, no rendering; tests/bench/floor.py)\n")
    print("| models | bare start s | floor s | floor / original | build - floor, us per model "
          "| what the target leaves, us per model |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        n = r["models"]
        base = r.get("original_s", ORIGINAL_COMPILE_S.get(n))
        left = "%.0f" % (1e6 * (0.1 * base - r["floor_s"]) / n) if base else "-"
        print("| %d | %.3f | %.3f | %s | %.0f | %s |" % (
            n, r["bare_s"], r["floor_s"],
            "%.3f" % r["floor_vs_original"] if "floor_vs_original" in r else "-",
            1e6 * (r["median_s"] - r["floor_s"]) / n, left))
    by = {r["models"]: r for r in rows}
    if 1000 in by and 5000 in by:
        scale = by[5000]["median_s"] / by[1000]["median_s"]
        cscale = by[5000]["median_cpu_s"] / by[1000]["median_cpu_s"]
        print("\nscaling 1,000 -> 5,000 models: x%.2f wall, x%.2f CPU (linear would be x5)"
              % (scale, cscale))
    return rows


def measure_floor(project, artifact, tmp, runs):
    """Median wall time of tests/bench/floor.py on the artifact just built, and of a bare
    interpreter start: what no build of this project into this artifact can go below."""
    import gzip
    plain = os.path.join(tmp, "artifact.tar")
    with gzip.open(artifact, "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst)
    floor = os.path.join(HERE, "floor.py")
    out = os.path.join(tmp, "floor.tar.gz")
    floors = [timed_child([sys.executable, floor, project, plain, out])[0] for _ in range(runs)]
    bare = [timed_child([sys.executable, "-c", "pass"])[0] for _ in range(runs)]
    return {"floor_s": statistics.median(floors), "bare_s": statistics.median(bare)}


def interpreters():
    try:
        root = subprocess.check_output(["pyenv", "root"], universal_newlines=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return [("current", sys.executable)]
    found = []
    def version_key(path):
        return [int(x) if x.isdigit() else 0 for x in os.path.basename(path).split(".")]
    for d in sorted(glob.glob(os.path.join(root, "versions", "3.*")), key=version_key):
        exe = os.path.join(d, "bin", "python")
        if os.path.exists(exe):
            found.append((os.path.basename(d), exe))
    return found


def bench_startup(runs):
    pyz = build_pyz()
    rows = []
    for version, exe in interpreters():
        bare = [timed_child([exe, "-c", "pass"], cpu=True) for _ in range(runs)]
        tool = [timed_child([exe, pyz, "--version"], cpu=True) for _ in range(runs)]
        bare_s, tool_s = statistics.median(b[0] for b in bare), statistics.median(t[0] for t in tool)
        bare_cpu, tool_cpu = statistics.median(b[2] for b in bare), statistics.median(t[2] for t in tool)
        rows.append({"python": version, "bare_ms": 1000 * bare_s, "pyz_version_ms": 1000 * tool_s,
                     "ratio": tool_s / bare_s, "bare_cpu_ms": 1000 * bare_cpu,
                     "pyz_version_cpu_ms": 1000 * tool_cpu,
                     "cpu_ratio": tool_cpu / bare_cpu if bare_cpu else None})
    print("\n## start-up: `python streamt.pyz --version` vs `python -c pass` (%d runs each)\n" % runs)
    print("| python | bare ms | pyz --version ms | ratio (target <= 3) | bare CPU ms | pyz CPU ms | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print("| %s | %.1f | %.1f | %.2f | %.1f | %.1f | %s |" % (
            r["python"], r["bare_ms"], r["pyz_version_ms"], r["ratio"], r["bare_cpu_ms"],
            r["pyz_version_cpu_ms"], "%.2f" % r["cpu_ratio"] if r["cpu_ratio"] else "-"))
    return rows


# The scripts `others` runs, in this order, with their arguments and a time limit (s):
# the whole `make bench` stays under ~15 minutes.  bench_startup.py is left out (the
# `startup` part measures the same); a script not listed here runs with no arguments.
OTHERS = [
    ("bench_yaml", [], 300),          # streamt.yaml_load vs PyYAML SafeLoader / CSafeLoader
    ("bench_validate", [], 300),      # load_project + validate_project, 1,000 models
    ("bench_sign", [], 300),          # ssh_sign / ssh_verify of a manifest
    ("bench_kafka", [], 420),         # requests and time for 10 / 100 / 500 topics (real broker)
    ("bench_redeploy", [], 600),      # converged re-deploy of examples/shop (real services)
    ("bench_kafka_read", [], 300),    # record batches decoded: streamt vs kafka-python
    ("bench_kafka_read_net", [], 600),  # records read off the real broker: streamt vs kafka-python
]
SKIP = ("bench_startup",)


def bench_others(only=None):
    results = {}
    listed = [name for name, _, _ in OTHERS]
    extra = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(HERE, "bench_*.py")))
    plan = OTHERS + [(name, [], 300) for name in extra if name not in listed and name not in SKIP]
    for name, args, limit in plan:
        if only and name not in only:
            continue
        script = os.path.join(HERE, name + ".py")
        if not os.path.exists(script):
            continue
        print("\n## %s\n" % name)
        sys.stdout.flush()
        start = time.perf_counter()
        try:
            p = subprocess.run([sys.executable, script] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True,
                               timeout=limit, cwd=ROOT)
            code, output = p.returncode, p.stdout
        except subprocess.TimeoutExpired as e:
            code = "timeout"
            output = (e.output or "") if isinstance(e.output, str) else ""
            output += "\n(stopped after %d s)" % limit
        print(output)
        results[name] = {"returncode": code, "output": output,
                         "seconds": time.perf_counter() - start}
        # the scripts end with a JSON line of their numbers: keep it as data too
        for line in reversed(output.splitlines()):
            if line.startswith("{"):
                try:
                    results[name]["data"] = json.loads(line)
                except ValueError:
                    pass
                break
    return results


def main(argv):
    words = [a for a in argv if not a.startswith("--")]
    parts = [a for a in words if a in ("build", "startup", "others")]
    only = [a for a in words if a.startswith("bench_")]  # e.g. `run.py bench_yaml`
    if only and "others" not in parts:
        parts.append("others")
    parts = parts or ["build", "startup", "others"]
    sizes, runs, original = [100, 1000, 5000], 5, None
    for a in argv:
        if a.startswith("--sizes="):
            sizes = [int(x) for x in a.split("=", 1)[1].split(",")]
        if a.startswith("--runs="):
            runs = int(a.split("=", 1)[1])
        if a.startswith("--original="):
            original = a.split("=", 1)[1]
    report = {"python": sys.version.split()[0]}
    if "build" in parts:
        report["build"] = bench_build(sizes, min(runs, 5), original)
    if "startup" in parts:
        report["startup"] = bench_startup(max(runs, 10))
    if "others" in parts:
        report["others"] = bench_others(only)
    os.makedirs(os.path.join(ROOT, "dist"), exist_ok=True)
    with open(os.path.join(ROOT, "dist", "bench.json"), "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    print("\nwritten: dist/bench.json")


if __name__ == "__main__":
    main(sys.argv[1:])
