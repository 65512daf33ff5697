"""Switching from the original conduktor/streamt: the commands its users already type
(compile, apply --force, lineage --format ascii/--upstream/--downstream, status --filter,
validate --check-schemas) and the messages that tell them the one flag to add."""
import json
import os
import shutil
import subprocess
import sys

import streamt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOP = os.path.join(ROOT, "examples", "shop")


def cli(*args, **kw):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("STREAMT_"))
    env.update(kw.pop("env", None) or {})
    return subprocess.run([sys.executable, os.path.join(ROOT, "streamt.py")] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          universal_newlines=True, env=env, timeout=600, **kw)


def shop_copy(tmp_path):
    dst = str(tmp_path / "shop")
    shutil.copytree(SHOP, dst)
    return dst


# -- compile ----------------------------------------------------------------------

def test_compile_writes_generated_in_the_project_and_replaces_its_own_output(tmp_path):
    shop = shop_copy(tmp_path)
    r = cli("compile", "-p", shop, "-e", "dev")
    assert r.returncode == 0, r.stderr
    gen = os.path.join(shop, "generated")
    assert os.path.isfile(os.path.join(gen, "flink", "customer_totals.sql"))
    assert json.load(open(os.path.join(gen, "manifest.json")))["project"]["name"] == "shop"
    # a file of a previous compile (a model since removed) does not survive the next one
    stale = os.path.join(gen, "flink", "removed_model.sql")
    open(stale, "w").write("INSERT ...")
    r = cli("compile", "-p", shop, "-e", "dev")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(stale)
    assert os.path.isfile(os.path.join(gen, "flink", "orders_clean.sql"))


def test_compile_dry_run_lists_and_writes_nothing(tmp_path):
    out = str(tmp_path / "gen")
    r = cli("compile", "-p", SHOP, "-e", "dev", "-o", out, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "flink/orders_clean.sql" in r.stdout and "Dry run" in r.stdout
    assert not os.path.exists(out)


def test_compile_never_replaces_a_directory_it_did_not_write(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = cli("compile", "-p", SHOP, "-e", "dev", "-o", str(out))
    assert r.returncode == streamt.EXIT_FAILURE
    assert "not the output of a compile" in r.stderr
    assert (out / "notes.txt").read_text() == "keep me"


def test_compile_replaces_the_original_tools_generated_directory(tmp_path):
    out = tmp_path / "generated"
    (out / "flink").mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps({"version": "1", "project": "shop",
                                                   "compiled_at": "2025-01-01T00:00:00",
                                                   "artifacts": {"topics": []}}))
    (out / "flink" / "old_processor.sql").write_text("INSERT ...")
    r = cli("compile", "-p", SHOP, "-e", "dev", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert not (out / "flink" / "old_processor.sql").exists()
    assert (out / "flink" / "orders_clean.sql").exists()


def test_compile_help_says_how_it_relates_to_build():
    r = cli("compile", "--help")
    assert r.returncode == 0
    assert "build" in r.stdout and "--dry-run" in r.stdout and "generated/" in r.stdout
