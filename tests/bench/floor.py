"""The floor under a build: the part of `streamt build` that no implementation can skip.

    python tests/bench/floor.py PROJECT_DIR ARTIFACT.tar OUT.tar.gz

Run in a fresh interpreter (the same one the build ran on), it does only what any build
of PROJECT_DIR into that artifact must do besides understanding the project: start the
interpreter, read every project file, SHA-256 every file of the artifact (the manifest
lists each checksum) and deflate the uncompressed artifact ARTIFACT.tar at the level
streamt uses into OUT.tar.gz.  It parses no YAML and no SQL and renders nothing: the
artifact's bytes are given.  `make bench` (tests/bench/run.py) times it next to the
build, so the time a build spends understanding and rendering the project is
(build - floor), and a time target below the floor cannot be met by any code.
"""
import hashlib
import os
import sys
import zlib

LEVEL = 6  # streamt's deflate level (_compress_chunks)


def main(argv):
    project, tar_path, out = argv
    for directory, dirs, files in os.walk(project):
        dirs.sort()
        for name in sorted(files):
            with open(os.path.join(directory, name), "rb") as f:
                f.read()
    with open(tar_path, "rb") as f:
        data = f.read()
    pos, members = 0, 0
    while pos + 512 <= len(data):
        header = data[pos:pos + 512]
        if not header.strip(b"\0"):
            break  # the end-of-archive blocks
        size = int(header[124:136].strip(b"\0 ") or b"0", 8)
        if header[156:157] in (b"0", b"\0"):  # a regular file
            hashlib.sha256(data[pos + 512:pos + 512 + size]).hexdigest()
            members += 1
        pos += 512 + (size + 511) // 512 * 512
    if members == 0:
        raise SystemExit("floor.py: %s holds no file" % tar_path)
    deflate = zlib.compressobj(LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip container
    with open(out, "wb") as f:
        f.write(deflate.compress(data))
        f.write(deflate.flush())
    return members


if __name__ == "__main__":
    main(sys.argv[1:])
