import os
import subprocess
import sys

import streamt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def streamt_cli(*args, **kw):
    return subprocess.run([sys.executable, os.path.join(ROOT, "streamt.py")] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kw)


def test_init_creates_a_project_that_validates_and_builds(tmp_path):
    target = tmp_path / "my-pipeline"
    r = streamt_cli("init", str(target))
    assert r.returncode == 0, r.stderr
    assert "streamt validate" in r.stdout  # tells the user what to do next
    for rel in ("stream_project.yml", "environments/dev.yml", "environments/prod.yml",
                ".env.example", "sources/events.yml", "models/events_clean.yml"):
        assert (target / rel).is_file(), rel
    r = streamt_cli("validate", "-p", str(target), "-e", "dev")
    assert r.returncode == 0, r.stdout + r.stderr
    r = streamt_cli("validate", "-p", str(target), "-e", "prod", "--no-env-check")
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "dist"
    r = streamt_cli("build", "-p", str(target), "-e", "dev", "-o", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert (out / "manifest.json").is_file()
    assert any(n.endswith(".sql") for n in os.listdir(str(out / "flink")))


def test_init_never_overwrites(tmp_path):
    assert streamt_cli("init", str(tmp_path)).returncode == 0
    before = (tmp_path / "stream_project.yml").read_text()
    (tmp_path / "stream_project.yml").write_text(before + "# mine\n")
    r = streamt_cli("init", str(tmp_path))
    assert r.returncode == streamt.EXIT_USAGE
    assert "stream_project.yml" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "stream_project.yml").read_text().endswith("# mine\n")
