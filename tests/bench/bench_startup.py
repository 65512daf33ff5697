"""Start-up of `streamt.pyz --version` against a bare `python -c pass`, per interpreter,
with and without the bundled bytecode (budget: 3x the bare interpreter).

    python tests/bench/bench_startup.py [runs]
"""
import glob
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def median_ms(cmd, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.call(cmd, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2] * 1000


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    d = tempfile.mkdtemp()
    with_bc = os.path.join(d, "bc.pyz")
    without = os.path.join(d, "src.pyz")
    build = [sys.executable, os.path.join(ROOT, "build_zipapp.py")]
    subprocess.check_call(build + ["-o", with_bc], stdout=subprocess.DEVNULL)
    subprocess.check_call(build + ["--no-bytecode", "-o", without], stdout=subprocess.DEVNULL)
    root = os.path.expanduser("~/.pyenv")
    pythons = sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python"))) or \
        [sys.executable]
    print("%-10s %8s %14s %14s" % ("python", "bare", "pyz+bytecode", "pyz source"))
    for py in pythons:
        bare = median_ms([py, "-c", "pass"], runs)
        bc = median_ms([py, with_bc, "--version"], runs)
        src = median_ms([py, without, "--version"], runs)
        print("%-10s %6.1fms %7.1fms %4.1fx %7.1fms %4.1fx" % (
            py.split("/")[-3], bare, bc, bc / bare, src, src / bare))


if __name__ == "__main__":
    main()
