"""Fuzzing the artifact reader, the .env parser and project loading (bounded budgets).

Seeds are committed under tests/corpus/<target>/: real artifacts of examples/shop and
hostile tarballs (tests/corpus/artifact/make_corpus.py), .env files, project files.
Whatever the bytes, the reader answers with success or IntegrityError (exit 4), never
another exception, never writes a file, never hangs; the .env parser and project loading
answer with a result or a ProjectError (exit 3)."""
import gzip
import io
import json
import lzma
import os
import signal
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamt
from tests._hostile import clean_environ, cli

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
SHOP = os.path.join(os.path.dirname(HERE), "examples", "shop")


def corpus_files(target):
    d = os.path.join(CORPUS, target)
    return sorted(os.path.join(d, f) for f in os.listdir(d)
                  if not f.endswith(".py") and os.path.isfile(os.path.join(d, f)))


def _read(path):
    with open(path, "rb") as f:
        return f.read()


ARTIFACT_SEEDS = [(os.path.basename(p), _read(p)) for p in corpus_files("artifact")]
# A fixed seed (derandomize) and a bounded number of cases in every run of the suite
# (about a minute for the file); `make fuzz` runs STREAMT_FUZZ_SCALE=20 times as many.
SCALE = max(1, int(os.environ.get("STREAMT_FUZZ_SCALE") or 1))
FUZZ = settings(max_examples=300 * SCALE, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


class Timeout(Exception):
    pass


class time_limit(object):
    """Fail (not hang) when the block takes more than `seconds` (SIGALRM, main thread)."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        def on_alarm(signum, frame):
            raise Timeout("took more than %d s" % self.seconds)
        self.old = signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(self.seconds)

    def __exit__(self, *exc):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.old)


def _suffix(name):
    for ext in (".tar.gz", ".tar.xz", ".tar"):
        if name.endswith(ext):
            return ext
    return ".tar"


def _mutations():
    """A list of (operation, position fraction, bytes) applied in order."""
    op = st.sampled_from(["flip", "truncate", "insert", "delete", "zero", "size", "dup"])
    return st.lists(st.tuples(op, st.floats(0, 1), st.binary(min_size=1, max_size=16)),
                    min_size=1, max_size=4)


def _mutate(data, muts):
    data = bytearray(data)
    for op, frac, blob in muts:
        if not data:
            break
        i = min(int(frac * len(data)), len(data) - 1)
        if op == "flip":
            data[i] ^= blob[0] or 1
        elif op == "truncate":
            del data[i:]
        elif op == "insert":
            data[i:i] = blob
        elif op == "delete":
            del data[i:i + len(blob)]
        elif op == "zero":
            data[i:i + len(blob)] = b"\0" * len(data[i:i + len(blob)])
        elif op == "size":
            # the size field of the tar header at or before i: claim another length
            h = (i // 512) * 512
            if h + 136 <= len(data):
                claimed = b"%011o\0" % (int.from_bytes(blob[:4], "big") % (1 << 33))
                data[h + 124:h + 136] = claimed
        elif op == "dup":
            h = (i // 512) * 512
            data[h:h] = data[h:h + 1024]
    return bytes(data)


def _recompress(raw, ext):
    if ext == ".tar.gz":
        return gzip.compress(raw, mtime=0)
    if ext == ".tar.xz":
        return lzma.compress(raw)
    return raw


def _inner_tar(name, data):
    ext = _suffix(name)
    if ext == ".tar.gz":
        return gzip.decompress(data)
    if ext == ".tar.xz":
        return lzma.decompress(data)
    return data


def _check_reader(tmp_dir, name, data):
    """read + verify the bytes as a file and through `artifact verify`: success or
    IntegrityError, nothing written, no hang."""
    path = os.path.join(tmp_dir, "a" + _suffix(name))
    with open(path, "wb") as f:
        f.write(data)
    before = sorted(os.listdir(tmp_dir))
    cwd = os.getcwd()
    os.chdir(tmp_dir)
    try:
        with time_limit(20):
            try:
                art = streamt.read_artifact(path)
                streamt.verify_artifact(art)
            except streamt.IntegrityError as e:
                assert e.exit_code == streamt.EXIT_INTEGRITY
                assert e.render()
            r = cli("artifact", "verify", path)
            assert r.returncode in (0, streamt.EXIT_INTEGRITY), r
            r = cli("artifact", "inspect", path)
            assert r.returncode in (0, streamt.EXIT_INTEGRITY), r
    finally:
        os.chdir(cwd)
    assert sorted(os.listdir(tmp_dir)) == before, "reading an artifact wrote files"
    assert not os.path.exists("/tmp/streamt-escape.txt")


@pytest.mark.parametrize("name", [n for n, _ in ARTIFACT_SEEDS])
def test_corpus_seed_is_read_or_refused(tmp_path, name):
    data = dict(ARTIFACT_SEEDS)[name]
    _check_reader(str(tmp_path), name, data)
    if name.startswith("hostile-"):
        path = str(tmp_path / ("a" + _suffix(name)))
        with pytest.raises(streamt.IntegrityError):
            streamt.verify_artifact(streamt.read_artifact(path))


@FUZZ
@given(seed=st.sampled_from([n for n, _ in ARTIFACT_SEEDS]), muts=_mutations(), inner=st.booleans())
def test_mutated_artifact_tarball_is_read_or_refused(tmp_path_factory, seed, muts, inner):
    """Mutate the compressed bytes, or (inner) the tar inside and compress again."""
    name, data = seed, dict(ARTIFACT_SEEDS)[seed]
    if inner and _suffix(name) != ".tar":
        data = _recompress(_mutate(_inner_tar(name, data), muts), _suffix(name))
    else:
        data = _mutate(data, muts)
    _check_reader(str(tmp_path_factory.mktemp("fz")), name, data)


@settings(FUZZ, max_examples=150 * SCALE)
@given(path=st.sampled_from(["../x", "/abs/x", "..\\x", "a/../../x", "./manifest.json",
                             "flink/\x00.sql", "flink/" + "x" * 300 + ".sql", "MANIFEST.JSON",
                             "manifest.json/", "topics//a.json", "\u2028", "C:\\x", "."]),
       data=st.binary(max_size=64),
       kind=st.sampled_from([tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE,
                             tarfile.FIFOTYPE]))
def test_injected_member_is_refused_or_ignored_safely(tmp_path_factory, path, data, kind):
    seed = dict(ARTIFACT_SEEDS)["shop-dev.tar"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(seed)) as src, \
            tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        m = tarfile.TarInfo(path)
        m.type = kind
        if kind == tarfile.REGTYPE:
            m.size = len(data)
        else:
            m.linkname = "/etc/passwd"
        dst.addfile(m, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    tmp = str(tmp_path_factory.mktemp("inj"))
    _check_reader(tmp, "x.tar", buf.getvalue())
    if kind == tarfile.DIRTYPE:
        return  # an extra (empty) directory holds nothing: reading it is harmless
    # an extra file, link or fifo is never accepted silently: it is refused or reported
    with pytest.raises(streamt.IntegrityError):
        streamt.verify_artifact(streamt.read_artifact(os.path.join(tmp, "a.tar")))


def test_gzip_bomb_is_refused_quickly(tmp_path):
    """A tar.gz that inflates to more than the artifact size limit."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        m = tarfile.TarInfo("manifest.json")
        m.size = streamt.ARTIFACT_MAX_TOTAL + (1 << 20)

        class Zeros(object):
            def __init__(self, n):
                self.n = n

            def read(self, k=-1):
                k = self.n if k < 0 else min(k, self.n)
                self.n -= k
                return b"\0" * k
        t.addfile(m, Zeros(m.size))
    bomb = gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)
    assert len(bomb) < 4 * 1024 * 1024
    path = str(tmp_path / "bomb.tar.gz")
    with open(path, "wb") as f:
        f.write(bomb)
    with time_limit(30):
        with pytest.raises(streamt.IntegrityError):
            streamt.read_artifact(path)
    assert os.listdir(str(tmp_path)) == ["bomb.tar.gz"]


# -- .env ------------------------------------------------------------------------------

DOTENV_SEEDS = [_read(p).decode("utf-8") for p in corpus_files("dotenv")]


@FUZZ
@given(seed=st.sampled_from(DOTENV_SEEDS), muts=_mutations(),
       extra=st.text(alphabet=st.sampled_from(list("AB_=#'\"\\$ {}:-\n\texport\r")), max_size=40))
def test_dotenv_parser_returns_values_or_a_project_error(seed, muts, extra):
    text = _mutate(seed.encode("utf-8"), muts).decode("utf-8", "replace") + extra
    with time_limit(10):
        try:
            values = streamt.parse_dotenv(text, ".env")
        except streamt.ProjectError as e:
            assert e.location is not None and e.location.file == ".env"
            assert e.location.line and 1 <= e.location.line <= text.count("\n") + 2 + \
                text.count("\r")
            return
    for k, v in values.items():
        assert isinstance(k, str) and isinstance(v, str)


# -- project files -----------------------------------------------------------------------

def _shop_files():
    out = {}
    for dirpath, _dirs, files in os.walk(SHOP):
        for fn in files:
            p = os.path.join(dirpath, fn)
            out[os.path.relpath(p, SHOP)] = _read(p)
    for p in corpus_files("project"):
        out["models/" + os.path.basename(p)] = _read(p)
    return out


SHOP_FILES = _shop_files()
YAML_FILES = sorted(p for p in SHOP_FILES if p.endswith(".yml"))


@settings(FUZZ, max_examples=300 * SCALE)
@given(target=st.sampled_from(YAML_FILES), muts=_mutations(),
       lines=st.lists(st.tuples(st.sampled_from(["drop", "dup", "indent", "dedent"]),
                                st.floats(0, 1)), max_size=3))
def test_mutated_project_loads_or_is_a_project_error(tmp_path_factory, target, muts, lines):
    root = str(tmp_path_factory.mktemp("proj"))
    for rel, data in SHOP_FILES.items():
        if rel == target:
            data = _mutate(data, muts)
            text = data.split(b"\n")
            for op, frac in lines:
                if not text:
                    break
                i = min(int(frac * len(text)), len(text) - 1)
                if op == "drop":
                    del text[i]
                elif op == "dup":
                    text.insert(i, text[i])
                elif op == "indent":
                    text[i] = b"  " + text[i]
                else:
                    text[i] = text[i][2:]
            data = b"\n".join(text)
        path = os.path.join(root, rel)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(data)
    env = dict(clean_environ(), KAFKA_PASSWORD="x", SCHEMA_REGISTRY_PASSWORD="x")
    with time_limit(20):
        try:
            project = streamt.load_project(root, env="dev", environ=env)
            diags = streamt.validate_project(project)
            if streamt.is_valid(diags):
                streamt.compile_project(project)
        except streamt.ProjectError as e:
            assert e.exit_code == streamt.EXIT_INVALID
        # and the CLI says the same without a traceback
        r = cli("build", "-p", root, "-e", "dev", "-o", os.path.join(root, "..", "out-" +
                                                                      os.path.basename(root)),
                environ=env)
        assert r.returncode in (0, streamt.EXIT_INVALID, streamt.EXIT_USAGE), r


# -- signatures with claimed lengths -------------------------------------------------------

def _sig_fields(blob):
    """Offsets of the uint32 length fields of an SSHSIG blob (after the 6-byte magic and
    the uint32 version): publickey, namespace, reserved, hash_algorithm, signature."""
    import struct
    offs, i = [], 10
    for _ in range(5):
        offs.append(i)
        (n,) = struct.unpack(">I", blob[i:i + 4])
        i += 4 + n
    return offs


@pytest.mark.parametrize("field", range(5))
@pytest.mark.parametrize("claimed", [0x40000000, 0xFFFFFFFF, "one-more", "one-less"])
def test_signature_with_a_claimed_length_is_refused(field, claimed):
    import base64
    import struct
    sshsig = os.path.join(CORPUS, "sshsig")
    text = _read(os.path.join(sshsig, "manifest.json.sig")).decode()
    data = _read(os.path.join(sshsig, "manifest.json"))
    pub = _read(os.path.join(sshsig, "test_key.pub")).decode().strip()
    blob = bytearray(base64.b64decode("".join(text.strip().splitlines()[1:-1])))
    off = _sig_fields(bytes(blob))[field]
    (orig,) = struct.unpack(">I", bytes(blob[off:off + 4]))
    if claimed == "one-less" and orig == 0:
        claimed = 0xFFFFFFFF
    claimed = {"one-more": orig + 1, "one-less": orig - 1}.get(claimed, claimed)
    blob[off:off + 4] = struct.pack(">I", claimed)
    b64 = base64.b64encode(bytes(blob)).decode()
    armored = "-----BEGIN SSH SIGNATURE-----\n%s\n-----END SSH SIGNATURE-----\n" % "\n".join(
        b64[i:i + 70] for i in range(0, len(b64), 70))
    with time_limit(10):
        with pytest.raises(streamt.IntegrityError):
            streamt.ssh_verify(data, armored, "ci@example.com " + pub + "\n")


def test_artifact_with_a_garbage_signature_fails_verification(tmp_path):
    import shutil
    src = os.path.join(str(tmp_path), "a")
    with tarfile.open(os.path.join(CORPUS, "artifact", "shop-dev.tar")) as t:
        for m in t.getmembers():
            dest = os.path.join(src, m.name)
            if m.isdir():
                os.makedirs(dest)
            else:
                if not os.path.isdir(os.path.dirname(dest)):
                    os.makedirs(os.path.dirname(dest))
                with open(dest, "wb") as f:
                    f.write(t.extractfile(m).read())
    pub = _read(os.path.join(CORPUS, "sshsig", "test_key.pub")).decode().strip()
    signers = os.path.join(str(tmp_path), "allowed_signers")
    with open(signers, "w") as f:
        f.write("ci@example.com " + pub + "\n")
    for garbage in (b"", b"\xff" * 100, b"-----BEGIN SSH SIGNATURE-----\nQUFB\n"
                    b"-----END SSH SIGNATURE-----\n", _read(os.path.join(CORPUS, "sshsig",
                                                                          "manifest.json.sig"))):
        with open(os.path.join(src, "manifest.json.sig"), "wb") as f:
            f.write(garbage)
        r = cli("artifact", "verify", src, "--allowed-signers", signers, "--require-signature")
        assert "Traceback" not in r.stderr
        assert r.returncode == streamt.EXIT_INTEGRITY, r
    shutil.rmtree(src)


# -- typed artifacts: values of the wrong type, checksums consistent ---------------------

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2 ** 40) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6)


def _json_paths(value, path=()):
    """Every path (a tuple of keys and indexes) inside a parsed JSON value."""
    out = [path]
    if isinstance(value, dict):
        for k in sorted(value):
            out += _json_paths(value[k], path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _json_paths(v, path + (i,))
    return out


def _replaced(value, path, new, drop):
    if not path:
        return new
    value = json.loads(json.dumps(value))
    parent = value
    for k in path[:-1]:
        parent = parent[k]
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return value


@settings(FUZZ, max_examples=200 * SCALE)
@given(which=st.sampled_from(["manifest.json", "environment.json", "gateway/virtual_topics.json",
                              "topics/shop.orders.clean.v1.json",
                              "connectors/revenue_archive.json"]),
       pick=st.floats(0, 1), new=_JSON_VALUES, drop=st.booleans())
def test_a_retyped_value_is_read_or_refused_by_every_command(tmp_path_factory, which, pick,
                                                             new, drop):
    """One value of one JSON file replaced by any JSON value (or its key dropped), every
    checksum made to agree: verify, inspect and diff answer 0 or 4, never a traceback,
    and inspect and diff never fail on an artifact that verify passed."""
    from tests.test_artifact_shape import manifest_of, reseal, unpack
    root = str(tmp_path_factory.mktemp("typed"))
    good = unpack(os.path.join(root, "good"))
    bad = unpack(os.path.join(root, "bad"))
    with open(os.path.join(bad, which), "rb") as f:
        value = json.loads(f.read().decode("utf-8"))
    paths = _json_paths(value)
    path = paths[min(int(pick * len(paths)), len(paths) - 1)]
    value = _replaced(value, path, new, drop and bool(path))
    if which == "manifest.json":
        reseal(bad, value if isinstance(value, dict) else json.dumps(value).encode("utf-8"))
    else:
        reseal(bad, manifest_of(bad), {which: json.dumps(value).encode("utf-8")})
    with time_limit(20):
        verified = cli("artifact", "verify", bad)
        assert verified.returncode in (0, streamt.EXIT_INTEGRITY), verified
        for args in (["artifact", "inspect", bad], ["artifact", "diff", good, bad],
                     ["artifact", "inspect", bad, "--format", "json", "--component", "gateway"]):
            r = cli(*args)
            assert r.returncode in (0, streamt.EXIT_INTEGRITY, streamt.EXIT_CHANGES), (args, r)
            if verified.returncode == 0:
                assert r.returncode != streamt.EXIT_INTEGRITY, (args, r)
