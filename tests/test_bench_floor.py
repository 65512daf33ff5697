"""tests/bench/floor.py, the yardstick under `make bench`'s build numbers: it must do the
work it claims -- every file of the artifact hashed, the whole artifact deflated -- or
the "build - floor" column would flatter the build."""
import gzip
import os
import sys
import tarfile

import streamt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "bench"))
import floor  # noqa: E402


def test_floor_hashes_every_file_and_deflates_the_whole_artifact(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    out = str(tmp_path / "a.tar.gz")
    assert streamt.main(["build", "-p", os.path.join(ROOT, "examples", "shop"),
                         "--env", "dev", "-o", out]) == 0
    plain = str(tmp_path / "a.tar")
    with gzip.open(out, "rb") as src, open(plain, "wb") as dst:
        dst.write(src.read())
    with tarfile.open(plain) as t:
        files = [m for m in t.getmembers() if m.isfile()]
    members = floor.main([os.path.join(ROOT, "examples", "shop"), plain,
                          str(tmp_path / "f.tar.gz")])
    assert members == len(files) > 5
    with open(plain, "rb") as f, gzip.open(str(tmp_path / "f.tar.gz"), "rb") as g:
        assert g.read() == f.read()
    # and at streamt's deflate level: the same deflate stream, CRC and size after the
    # 10-byte gzip headers (which differ only in their OS byte)
    with open(out, "rb") as a, open(str(tmp_path / "f.tar.gz"), "rb") as f:
        assert f.read()[10:] == a.read()[10:]
