"""dist/streamt.pyz: reproducible, runs on every interpreter 3.6-3.13 from a read-only
directory with HOME unset, and builds byte-identical artifacts everywhere."""
import glob
import os
import shutil
import stat
import subprocess
import sys

import pytest

import streamt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOP = os.path.join(ROOT, "examples", "shop")


def _pyenv_pythons():
    try:
        root = subprocess.check_output(["pyenv", "root"], stderr=subprocess.DEVNULL).decode().strip()
    except (OSError, subprocess.CalledProcessError):
        root = os.path.expanduser("~/.pyenv")
    found = []
    for py in sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python"))):
        minor = os.path.basename(os.path.dirname(os.path.dirname(py))).split(".")[1]
        if minor.isdigit() and int(minor) >= 6:
            found.append(py)
    return found


PYTHONS = _pyenv_pythons() or [sys.executable]


def _build(out, *extra):
    subprocess.check_call([sys.executable, os.path.join(ROOT, "build_zipapp.py"), "-o", str(out)]
                          + list(extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return open(str(out), "rb").read()


@pytest.fixture(scope="module")
def pyz(tmp_path_factory):
    d = tmp_path_factory.mktemp("pyz")
    _build(d / "streamt.pyz")
    ro = d / "ro"
    ro.mkdir()
    shutil.copy(str(d / "streamt.pyz"), str(ro / "streamt.pyz"))
    os.chmod(str(ro / "streamt.pyz"), 0o555)
    os.chmod(str(ro), 0o555)
    yield ro / "streamt.pyz"
    os.chmod(str(ro), 0o755)


def _env(**extra):
    env = dict((k, v) for k, v in os.environ.items()
               if not k.startswith("PYTHON") and k not in ("HOME", "SOURCE_DATE_EPOCH"))
    env.update(extra)
    return env


def test_two_builds_give_identical_bytes(tmp_path, pyz):
    again = _build(tmp_path / "again.pyz")
    assert again == pyz.read_bytes()
    assert again.startswith(b"#!/usr/bin/env python3\n")
    import zipfile
    with zipfile.ZipFile(str(tmp_path / "again.pyz")) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names) and "__main__.py" in names and "streamt.py" in names
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
    assert all(i.external_attr >> 16 == 0o100644 for i in infos)


@pytest.mark.parametrize("python", PYTHONS, ids=lambda p: p.split("/")[-3])
def test_runs_from_a_read_only_directory_without_home(python, pyz, tmp_path):
    before = sorted(os.listdir(str(pyz.parent)))
    r = subprocess.run([python, str(pyz), "--version"], cwd=str(pyz.parent), env=_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith("streamt %s (Python 3." % streamt.__version__)
    r = subprocess.run([python, str(pyz), "artifact", "verify", str(tmp_path / "none")],
                       cwd=str(pyz.parent), env=_env(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    assert r.returncode == 4 and b"Traceback" not in r.stderr
    assert sorted(os.listdir(str(pyz.parent))) == before  # no __pycache__, nothing written


def test_every_interpreter_builds_the_same_artifact(pyz, tmp_path):
    proj = tmp_path / "proj"
    shutil.copytree(SHOP, str(proj))
    outputs = {}
    for python in PYTHONS:
        out = tmp_path / ("out-%s.tar" % python.split("/")[-3])
        r = subprocess.run([python, str(pyz), "build", "-p", str(proj), "-e", "dev", "-o",
                            str(out)], cwd=str(pyz.parent),
                           env=_env(SOURCE_DATE_EPOCH="1700000000", LC_ALL="C"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert r.returncode == 0, (python, r.stderr)
        outputs[python] = out.read_bytes()
    first = outputs[PYTHONS[0]]
    different = [p for p, data in outputs.items() if data != first]
    assert different == [], "artifacts differ from %s's: %s" % (PYTHONS[0], different)
    art = streamt.read_artifact(str(tmp_path / ("out-%s.tar" % PYTHONS[0].split("/")[-3])))
    streamt.verify_artifact(art)
    assert art.manifest["build_time"] == "2023-11-14T22:13:20Z"


def test_source_only_zipapp_still_runs(tmp_path):
    out = tmp_path / "src.pyz"
    _build(out, "--no-bytecode")
    import zipfile
    with zipfile.ZipFile(str(out)) as zf:
        assert not [n for n in zf.namelist() if n.startswith("_bytecode/")]
    r = subprocess.run([PYTHONS[0], str(out), "--version"], env=_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0 and r.stdout.startswith(b"streamt ")


def test_zipapp_is_executable_with_its_shebang(pyz):
    mode = os.stat(str(pyz)).st_mode
    assert mode & stat.S_IXUSR
    if shutil.which("python3"):
        r = subprocess.run([str(pyz), "--version"], env=_env(), stdout=subprocess.PIPE)
        assert r.returncode == 0


# What importing streamt may load.  Every command (and `--version`, whose start-up must stay
# within 3x a bare interpreter: `make bench`) pays for it: json, re, hashlib, datetime and
# the heavy modules are loaded on first use instead.
_LOADED_ON_FIRST_USE = ("re", "json", "hashlib", "datetime", "string", "argparse", "ssl",
                        "socket", "tarfile", "gzip", "lzma", "zipfile", "zlib", "base64",
                        "hmac", "difflib", "uuid", "urllib.request", "http.client", "struct")


@pytest.mark.parametrize("python", PYTHONS, ids=lambda p: p.split("/")[-3])
def test_importing_streamt_loads_no_heavy_module(python):
    # what the pyz does: run the module's code (an `import` from source would also load
    # `tokenize`, and with it `re`, to decode the file when no __pycache__ exists)
    code = ("import sys; src = open(%r).read(); code = compile(src, 'streamt.py', 'exec'); "
            "before = set(sys.modules); mod = type(sys)('streamt'); "
            "sys.modules['streamt'] = mod; exec(code, mod.__dict__); "
            "print(' '.join(sorted(set(sys.modules) - before)))"
            % os.path.join(ROOT, "streamt.py"))
    r = subprocess.run([python, "-S", "-c", code], env=_env(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, cwd=str(ROOT))
    assert r.returncode == 0, r.stderr
    loaded = set(r.stdout.decode().split())
    assert "streamt" in loaded
    assert not loaded & set(_LOADED_ON_FIRST_USE), sorted(loaded & set(_LOADED_ON_FIRST_USE))

