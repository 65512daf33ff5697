"""Regenerate the artifact corpus: real artifacts of examples/shop (directory → .tar,
.tar.gz, .tar.xz) and hostile tarballs, the seeds tests/test_fuzz_artifact.py mutates
(`bounded_reader_seeds()` alone makes the seeds of the bounded reader from shop-dev.tar).

    SOURCE_DATE_EPOCH=0 python3 tests/corpus/artifact/make_corpus.py
"""
import io
import os
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def build(out):
    env = dict(os.environ, SOURCE_DATE_EPOCH="0")
    subprocess.check_call([sys.executable, os.path.join(ROOT, "streamt.py"), "build", "-p",
                           os.path.join(ROOT, "examples", "shop"), "-e", "dev", "-o", out,
                           "--force"], env=env)


def members_of(path):
    with tarfile.open(path) as t:
        return [(m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()]


def write_tar(name, members):
    with tarfile.open(os.path.join(HERE, name), "w", format=tarfile.PAX_FORMAT) as t:
        for m, data in members:
            t.addfile(m, io.BytesIO(data) if data is not None else None)


def info(name, data=b"", **kw):
    m = tarfile.TarInfo(name)
    m.size = len(data)
    m.mtime = 0
    for k, v in kw.items():
        setattr(m, k, v)
    return m, data


def main():
    for ext in (".tar", ".tar.gz", ".tar.xz"):
        build(os.path.join(HERE, "shop-dev" + ext))
    base = members_of(os.path.join(HERE, "shop-dev.tar"))
    write_tar("hostile-dotdot.tar", base + [info("../escape.txt", b"x")])
    write_tar("hostile-absolute.tar", base + [info("/tmp/streamt-escape.txt", b"x")])
    write_tar("hostile-symlink.tar", base + [info("flink/link.sql", type=tarfile.SYMTYPE,
                                                  linkname="/etc/passwd")])
    write_tar("hostile-hardlink.tar", base + [info("flink/hard.sql", type=tarfile.LNKTYPE,
                                                   linkname="../../etc/passwd")])
    write_tar("hostile-device.tar", base + [info("dev0", type=tarfile.CHRTYPE)])
    write_tar("hostile-duplicate.tar", base + [info(base[1][0].name, b"{}")])
    write_tar("hostile-newline-name.tar", base + [info("flink/a\nb.sql", b"x")])
    write_tar("hostile-backslash.tar", base + [info("..\\..\\escape.txt", b"x")])
    # a member that claims 1 GB but holds 10 bytes
    raw = bytearray(open(os.path.join(HERE, "shop-dev.tar"), "rb").read())
    m = tarfile.TarInfo("big.bin")
    m.size = 1 << 30
    header = m.tobuf(format=tarfile.USTAR_FORMAT)
    end = len(raw)
    while end >= 512 and raw[end - 512:end] == b"\0" * 512:
        end -= 512
    with open(os.path.join(HERE, "hostile-claimed-1gb.tar"), "wb") as f:
        f.write(bytes(raw[:end]) + header + b"0123456789" + b"\0" * 1024)
    bounded_reader_seeds()


def _pax(records):
    """A pax extended header block of `records` [(keyword, value)] (bytes)."""
    body = b""
    for key, value in records:
        rest = b" " + key + b"=" + value + b"\n"
        n = len(rest) + 1
        while len(str(n)) + len(rest) != n:
            n = len(str(n)) + len(rest)
        body += str(n).encode() + rest
    return _block(b"././@PaxHeader", len(body), b"x") + _padded(body)


def _block(name, size, flag):
    m = tarfile.TarInfo(name.decode())
    m.size = size
    m.type = flag
    return m.tobuf(format=tarfile.USTAR_FORMAT)


def _padded(data):
    return data + b"\0" * (-len(data) % 512)


def bounded_reader_seeds():
    """Small seeds of the bounded archive reader (tests/test_archive_hostile.py has the
    full-size cases): made from shop-dev.tar, its end blocks replaced."""
    import gzip
    import lzma
    raw = open(os.path.join(HERE, "shop-dev.tar"), "rb").read()
    end = len(raw)
    while end >= 512 and raw[end - 512:end] == b"\0" * 512:
        end -= 512
    body, tail = raw[:end], b"\0" * 1024

    def write(name, data):
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
    # a pax header whose keyword runs to its end (quadratic in tarfile <= 3.12)
    slow = b"4 a\n" * 2048 + b"="
    write("hostile-pax-quadratic.tar.gz", gzip.compress(
        body + _block(b"././@PaxHeader", len(slow), b"x") + _padded(slow)
        + _block(b"x", 0, b"0") + tail, mtime=0))
    write("hostile-pax-size.tar.gz", gzip.compress(
        body + _pax([(b"size", b"9" * 400)]) + _block(b"x", 0, b"0") + tail, mtime=0))
    write("hostile-sparse.tar.gz", gzip.compress(
        body + _pax([(b"GNU.sparse.map", b"0,1," * 64 + b"0,1"), (b"GNU.sparse.size", b"1")])
        + _block(b"x", 512, b"0") + _padded(b"x") + tail, mtime=0))
    write("hostile-trailing.tar.xz", lzma.compress(raw) + b"garbage")
    write("hostile-gzip-members.tar.gz", gzip.compress(raw, mtime=0)
          + gzip.compress(b"", mtime=0) * 1000)


if __name__ == "__main__":
    main()
