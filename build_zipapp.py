#!/usr/bin/env python3
"""Build dist/streamt.pyz: streamt.py as a reproducible, executable zip application.

    python3 build_zipapp.py [-o dist/streamt.pyz] [--python PY ...] [--no-bytecode]

The archive holds `__main__.py`, `streamt.py` and, for each interpreter found (the
pyenv versions 3.6-3.13 by default), the module's bytecode under `_bytecode/<magic>.bin`.
A zip cannot hold a bytecode cache (zipimport never writes one, so every start would
compile the whole module again); `__main__.py` loads the bytecode whose magic number
matches the running interpreter and falls back to the source otherwise.

Reproducible: entries sorted, every date 1980-01-01 00:00:00, unix attributes 0644,
stored (not deflated: stored bytes do not depend on the zlib build), bytecode compiled
with PYTHONHASHSEED=0. Two builds with the same interpreters give identical bytes.
Runs on Python 3.6+ (standard library only). See vendor-notes.md.
"""

import argparse
import glob
import hashlib
import io
import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.abspath(__file__))
SHEBANG = b"#!/usr/bin/env python3\n"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

# The entry point.  Kept small and old-Python-proof: it runs on every interpreter.
MAIN = '''\
# streamt.pyz entry point (written by build_zipapp.py)
import sys


def _load_streamt():
    """streamt from the bytecode built for this interpreter, else from the source."""
    loader = globals().get("__loader__")
    try:
        from importlib.util import MAGIC_NUMBER
        import marshal
        data = loader.get_data("_bytecode/%s.bin" % MAGIC_NUMBER.hex())
        if data[:len(MAGIC_NUMBER)] != MAGIC_NUMBER:
            raise ImportError("bytecode of another interpreter")
        code = marshal.loads(data[len(MAGIC_NUMBER):])
    except Exception:  # no bytecode for this interpreter: import the source
        import streamt
        return streamt
    mod = type(sys)("streamt")
    mod.__file__ = loader.archive + "/streamt.py"
    mod.__loader__ = loader
    mod.__package__ = ""
    sys.modules["streamt"] = mod
    try:
        exec(code, mod.__dict__)
    except BaseException:
        del sys.modules["streamt"]
        raise
    return mod


if __name__ == "__main__":
    sys.exit(_load_streamt().main())
'''

# Run by each interpreter: compile streamt.py and print magic + marshalled code.
COMPILE = r'''
import importlib.util, marshal, sys
with open(sys.argv[1], "rb") as f:
    source = f.read()
code = compile(source, "streamt.py", "exec", dont_inherit=True, optimize=0)
out = getattr(sys.stdout, "buffer", sys.stdout)
out.write(importlib.util.MAGIC_NUMBER + marshal.dumps(code))
'''


def find_interpreters():
    """The pyenv CPython 3.6+ interpreters, newest patch first within a minor version."""
    roots = []
    try:
        p = subprocess.Popen(["pyenv", "root"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        out, _ = p.communicate()
        if p.returncode == 0 and out.strip():
            roots.append(out.decode().strip())
    except OSError:
        pass
    roots.append(os.path.expanduser("~/.pyenv"))
    found = []
    for root in roots:
        for py in sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python"))):
            version = os.path.basename(os.path.dirname(os.path.dirname(py)))
            parts = version.split(".")
            if len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) >= 6 \
                    and py not in found:
                found.append(py)
    return found


def compile_bytecode(python, source_path):
    """(magic, data) of streamt.py compiled by `python`, or None if it cannot."""
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"  # frozenset constants are ordered by hash (so no -I: it drops it)
    for name in ("PYTHONOPTIMIZE", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME",
                 "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    try:
        p = subprocess.Popen([python, "-s", "-c", COMPILE, source_path], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = p.communicate()
    except OSError as e:
        sys.stderr.write("skipping %s: %s\n" % (python, e))
        return None
    if p.returncode != 0:
        sys.stderr.write("skipping %s: %s\n" % (python, err.decode("utf-8", "replace")))
        return None
    return out[:4], out


def zip_entry(name):
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # unix
    info.external_attr = (0o100644 & 0xFFFF) << 16
    return info


def build(output, pythons, source_path=None):
    """Write the zipapp; returns its sha256."""
    source_path = source_path or os.path.join(ROOT, "streamt.py")
    with open(source_path, "rb") as f:
        source = f.read()
    entries = {"__main__.py": MAIN.encode("utf-8"), "streamt.py": source}
    for python in pythons:
        compiled = compile_bytecode(python, source_path)
        if compiled is None:
            continue
        magic, data = compiled
        name = "_bytecode/%s.bin" % magic.hex()
        entries.setdefault(name, data)  # first interpreter of a magic number wins
    buf = io.BytesIO()
    buf.write(SHEBANG)
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(entries):
            zf.writestr(zip_entry(name), entries[name])
    data = buf.getvalue()
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        os.makedirs(directory)
    tmp = output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o755)
    os.rename(tmp, output)
    return hashlib.sha256(data).hexdigest(), sorted(entries)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Build dist/streamt.pyz reproducibly.")
    ap.add_argument("-o", "--output", default=os.path.join(ROOT, "dist", "streamt.pyz"))
    ap.add_argument("--python", action="append", default=None, metavar="PY",
                    help="compile bytecode with this interpreter (repeatable; default: "
                         "the running one and every pyenv 3.6+ version)")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="ship the source only (slower start: every run compiles it)")
    ap.add_argument("--source", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.no_bytecode:
        pythons = []
    elif args.python:
        pythons = args.python
    else:
        pythons = find_interpreters() + [sys.executable]
    digest, names = build(args.output, pythons, args.source)
    magics = [n for n in names if n.startswith("_bytecode/")]
    sys.stdout.write("%s  %s\n" % (digest, args.output))
    sys.stderr.write("%d bytecode variant%s\n" % (len(magics), "" if len(magics) == 1 else "s"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
