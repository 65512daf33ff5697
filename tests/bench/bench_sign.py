"""Signing and verifying one artifact manifest with streamt's pure-Python Ed25519/SSHSIG.

Prints the median of several runs for: ssh_sign (sign a manifest with an OpenSSH key),
ssh_verify (parse, verify, allowed_signers decision), the raw Ed25519 verify, and the
one-off cost of building the base-point table (paid by the first signature or
verification of a process).  Compare with `ssh-keygen -Y verify` when it is installed.

    python tests/bench/bench_sign.py [--runs 31]
"""
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
sys.path.insert(0, ROOT)
import streamt  # noqa: E402

CORPUS = os.path.join(ROOT, "tests", "corpus", "sshsig")


def manifest(files=1000):
    """A manifest.json of the size a 1,000-resource artifact has (~100 KB)."""
    entries = {"topics/topic_%04d.json" % i: "sha256:%064x" % (i * 7919) for i in range(files)}
    return streamt.canonical_json({"name": "bench", "files": entries}).encode("utf-8")


def median_ms(func, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def main(argv):
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 31
    with open(os.path.join(CORPUS, "test_key")) as f:
        key = f.read()
    allowed = "ci@example.com " + streamt.ssh_public_key_line(key) + "\n"
    data = manifest()

    del streamt._Ed25519.BASE_TABLE[:]  # measure the one-off table build
    start = time.perf_counter()
    streamt._Ed25519.base_table()
    table_ms = (time.perf_counter() - start) * 1000.0

    sig = streamt.ssh_sign(data, key)
    seed = bytes(range(32))
    pub = streamt.ed25519_public_key(seed)
    raw = streamt.ed25519_sign(seed, b"m" * 200)
    rows = [
        ("base-point table (once per process)", table_ms),
        ("ssh_sign(manifest %d KB)" % (len(data) // 1024),
         median_ms(lambda: streamt.ssh_sign(data, key), runs)),
        ("ssh_verify(manifest %d KB)" % (len(data) // 1024),
         median_ms(lambda: streamt.ssh_verify(data, sig, allowed), runs)),
        ("ed25519_sign (200-byte message)",
         median_ms(lambda: streamt.ed25519_sign(seed, b"m" * 200), runs)),
        ("ed25519_verify (200-byte message)",
         median_ms(lambda: streamt.ed25519_verify(pub, b"m" * 200, raw), runs)),
    ]
    ssh_keygen = shutil.which("ssh-keygen")
    if ssh_keygen:
        tmp = tempfile.mkdtemp(prefix="streamt-bench-sign-")
        try:
            for name, text in (("sig", sig), ("allowed", allowed)):
                with open(os.path.join(tmp, name), "w") as f:
                    f.write(text)
            argv = [ssh_keygen, "-Y", "verify", "-n", "streamt", "-I", "ci@example.com", "-f",
                    os.path.join(tmp, "allowed"), "-s", os.path.join(tmp, "sig")]

            def run():
                p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
                p.communicate(data)
                assert p.returncode == 0
            rows.append(("ssh-keygen -Y verify (process, for comparison)",
                         median_ms(run, max(5, runs // 3))))
        finally:
            shutil.rmtree(tmp)
    print("signatures: Python %s, median of %d runs" % (sys.version.split()[0], runs))
    for name, ms in rows:
        print("  %-48s %8.2f ms" % (name, ms))
    print(json.dumps({name: round(ms, 3) for name, ms in rows}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
