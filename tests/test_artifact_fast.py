"""The artifact writer's fast paths against their general (reference) versions."""
import hashlib
import tarfile
import io

import pytest
from hypothesis import given, settings, strategies as st

import streamt


def reference_tar(files, mtime=0, file_mode=0o644, dir_mode=0o755):
    # deterministic_tar as it was written before its fast path (streamt 4bfcb01)
    dirs = set()
    for p in files:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    entries = [(d.split("/"), d + "/", None) for d in dirs]
    entries += [(p.split("/"), p, files[p]) for p in files]
    entries.sort(key=lambda e: (e[0], e[2] is not None))
    chunks = []
    for _parts, name, data in entries:
        if data is None:
            chunks.append(streamt.Archive.ustar_header(name, 0, mtime, dir_mode, b"5"))
        else:
            chunks.append(streamt.Archive.ustar_header(name, len(data), mtime, file_mode, b"0"))
            chunks.append(data)
            if len(data) % 512:
                chunks.append(b"\0" * (512 - len(data) % 512))
    chunks.append(b"\0" * 1024)
    size = sum(len(c) for c in chunks)
    if size % 10240:
        chunks.append(b"\0" * (10240 - size % 10240))
    return b"".join(chunks)


segment = st.text(st.sampled_from("ab.-_~%Zé"), min_size=1, max_size=8)
paths = st.lists(segment, min_size=1, max_size=4).map("/".join) | st.sampled_from(
    ["x" * 100, "d/" + "y" * 99, "d" * 60 + "/" + "e" * 60, "a//b", "/lead", "trail/"])
modes = st.sampled_from([0o644, 0o600, 0o755, 0o700, 0o7777])
mtimes = st.sampled_from([0, 1, 1700000000, 8 ** 11 - 1]) | st.integers(0, 2 ** 33)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(paths, st.binary(max_size=1100), max_size=12), mtimes, modes, modes)
def test_tar_is_the_reference_tar(files, mtime, fmode, dmode):
    try:
        want = reference_tar(files, mtime, fmode, dmode)
    except streamt.StreamtError as e:
        try:
            streamt.deterministic_tar(files, mtime, fmode, dmode)
        except streamt.StreamtError as e2:
            assert e2.message == e.message
        else:
            raise AssertionError("no error")
    else:
        assert streamt.deterministic_tar(files, mtime, fmode, dmode) == want


@settings(max_examples=400, deadline=None)
@given(paths, st.integers(0, 2 ** 40), mtimes, modes, st.sampled_from([b"0", b"5"]))
def test_header_template_is_ustar_header(name, size, mtime, mode, typeflag):
    try:
        want = streamt.Archive.ustar_header(name, size, mtime, mode, typeflag)
    except streamt.StreamtError:
        return
    assert streamt.Archive.UstarHeaders(mtime, mode, typeflag).header(name, size) == want


def test_tarfile_reads_it():
    files = {"a/b.json": b"{}\n", "SHA256SUMS": b"x" * 513, "a/c/d.sql": b""}
    data = streamt.deterministic_tar(files, 1700000000)
    assert data == reference_tar(files, 1700000000)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = tf.getnames()
        assert names == ["SHA256SUMS", "a", "a/b.json", "a/c", "a/c/d.sql"]
        assert tf.extractfile("SHA256SUMS").read() == b"x" * 513


def reference_file_name(name, ext=""):
    # artifact_file_name as it was written before its fast path (streamt 4bfcb01)
    out = []
    last = len(name) - 1
    for i, ch in enumerate(name):
        if ch in streamt._FileNames.SAFE_NAME_CHARS and not (ch == "." and (i == 0 or i == last)):
            out.append(ch)
        else:
            out.append("".join("%%%02X" % b for b in ch.encode("utf-8", "surrogatepass")))
    text = "".join(out) or "%"
    stem = text.split(".", 1)[0].lower()
    if stem in streamt._FileNames.RESERVED_NAMES:
        text = "%%%02X" % ord(text[0]) + text[1:]
    if len(text) > 80:
        cut = text[:70]
        pct = cut.rfind("%", len(cut) - 2)
        if pct != -1:
            cut = cut[:pct]
        text = cut + "~" + streamt._FileNames.digest_of_name(name)
    return text + ext


names = (st.text(st.sampled_from("aZ09._-"), max_size=90)
         | st.text(st.sampled_from("aZ09._- /%\n\x00é☃") , max_size=90)
         | st.text(max_size=20)
         | st.sampled_from(["", ".", "..", "a.", ".a", "con", "CON.json", "nul.x", "com1",
                            "lpt9.sql", "a\n", "x" * 80, "x" * 81, "é" * 30]))


@settings(max_examples=1000, deadline=None)
@given(names, st.sampled_from(["", ".json", ".sql"]))
def test_file_name_is_the_reference(name, ext):
    assert streamt.artifact_file_name(name, ext) == reference_file_name(name, ext)


class Str(str):
    pass


class Dict(dict):  # a mapping subclass (YamlMap is one) takes find_refs' general path
    pass


var_text = st.text(st.sampled_from("${}$AB_1 x"), max_size=15) | st.sampled_from(
    ["${A}", "$${B}", "$$$", "${1X}", "a ${C_1} b ${D}", "${}"])
leaves = st.none() | st.integers() | st.booleans() | var_text | var_text.map(Str)
states = st.recursive(
    leaves,
    lambda ch: (st.lists(ch, max_size=5) | st.lists(ch, max_size=3).map(tuple)
                | st.dictionaries(var_text, ch, max_size=5)
                | st.dictionaries(var_text, ch, max_size=3).map(Dict)),
    max_leaves=40)


@settings(max_examples=500, deadline=None)
@given(states, st.dictionaries(st.sampled_from(["A", "B", "C_1", "D"]),
                               st.text(alphabet="a$ {}'\"", max_size=6)))
def test_resolving_secrets_then_deploying_gives_the_values(obj, values):
    """build --resolve-secrets (keep_escapes) then deploy's substitution == deploying the
    unresolved artifact: a value holding "$" or "${X}" is never expanded twice."""
    try:
        direct = streamt.Variables.substitute(obj, values)
    except streamt.ProjectError:
        with pytest.raises(streamt.ProjectError):
            streamt.Variables.substitute(obj, values, keep_escapes=True)
        return
    built = streamt.Variables.substitute(obj, values, keep_escapes=True)
    assert streamt.Variables.names(built) == []
    assert streamt.Variables.substitute(built, {}) == direct


# -- render_artifact: the one-pass manifest and the "$" search for required_env ----------
#
# streamt.FastPaths.artifact switches them off: the manifest is then a dict written by
# canonical_json and required_env is Variables.names(desired), the general path.  Both must give
# the same files (or the same error) for any desired state.

def _render_both(monkeypatch, desired, **kw):
    def run():
        try:
            return streamt.render_artifact(desired, **kw)
        except Exception as e:  # the same error, from both
            return (type(e), str(e))
    fast = run()
    monkeypatch.setattr(streamt.FastPaths, "artifact", False)
    slow = run()
    monkeypatch.setattr(streamt.FastPaths, "artifact", True)
    return fast, slow


class List(list):
    pass


words = st.sampled_from(["a", "b", "name", "sql", "config", "cluster", "${A}", "x$", "%s",
                         "%(k)s", "100%", "é", 'q"', "\n", "${B_2} ${C}", "$${D}", ""]) | (
    st.integers(0, 99).map("${V%d}".__mod__))  # many names: one in one place only
values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | words | words.map(Str)
    | st.floats(allow_nan=False, allow_infinity=False) | st.just(float("nan")),
    lambda ch: (st.lists(ch, max_size=3) | st.lists(ch, max_size=2).map(tuple)
                | st.dictionaries(words, ch, max_size=4)
                | st.dictionaries(words, ch, max_size=2).map(Dict)),
    max_leaves=12)
# most metas take _MetaTexts' format (str values, keys shared between resources)
str_meta = st.fixed_dictionaries({"cluster": words, "kind": st.sampled_from(["model", "k%"])},
                                 optional={"fingerprint": words, "odd$": words, "on_upgrade": words,
                                           "100%": words, "p%s": words})


def _resource(kind):
    key = {"schemas": "subject"}.get(kind, "name")
    body = {"topics": {"partitions": st.integers(1, 3), "config": st.dictionaries(words, words)},
            "schemas": {"schema": words, "schema_type": st.sampled_from(["AVRO", "JSON", None])},
            "flink_jobs": {"sql": words},
            "connectors": {"config": st.dictionaries(words, values, max_size=3) | st.none()}}[kind]
    base = st.fixed_dictionaries(dict(body, **{key: words}))
    extra = st.one_of(str_meta, st.dictionaries(words, values, max_size=3))
    return st.tuples(base, extra, st.sampled_from([dict, Dict])).map(
        lambda t: t[2](dict(t[1], **t[0])))


def _kind_list(kind):
    # unique keys within a kind (duplicates are an error, tested elsewhere)
    key = {"schemas": "subject"}.get(kind, "name")
    return st.lists(_resource(kind), max_size=4, unique_by=lambda it: it[key]).map(
        lambda items: items) | st.lists(_resource(kind), max_size=2,
                                        unique_by=lambda it: it[key]).map(List)


desired_states = st.fixed_dictionaries(
    {}, optional=dict([(k, _kind_list(k)) for k in ("topics", "schemas", "flink_jobs",
                                                    "connectors")] + [
        ("gateway", st.lists(st.dictionaries(words, values, max_size=3), max_size=2)
         | st.lists(st.dictionaries(words, values, max_size=2), max_size=2).map(tuple)),
        ("environment", st.dictionaries(words, values, max_size=3) | st.none()
         | st.dictionaries(words, values, max_size=2).map(Dict))]))


@settings(max_examples=500, deadline=None)
@given(desired_states, st.booleans(), st.none() | st.dictionaries(words, values, max_size=2),
       st.sampled_from([None, {"commit": "c$", "dirty": False}]))
def test_render_fast_paths_are_the_general_path(desired, resolved, state, git):
    with pytest.MonkeyPatch.context() as mp:
        fast, slow = _render_both(mp, desired, project_name="p", git=git, build_epoch=7,
                                  secrets_resolved=resolved, state=state)
    assert fast == slow


def test_render_fast_paths_on_the_examples(monkeypatch):
    import os
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for env in ("dev", "prod"):
        project = streamt.load_project(os.path.join(here, "examples", "shop"), env=env)
        desired = streamt.compile_project(project)
        fast, slow = _render_both(monkeypatch, desired, project_name=project.name,
                                  build_epoch=1700000000)
        assert isinstance(fast, dict) and fast == slow
        assert b'"required_env": [\n    "' in fast["manifest.json"]


def test_a_reference_in_any_one_part_of_a_resource_is_found(monkeypatch):
    # required_env when the ${VAR} is only in a resource's file, its meta, its name, the
    # gateway or the environment: every part the "$" search looks at
    cases = [
        {"flink_jobs": [{"name": "j", "sql": "SELECT '${IN_FILE}'", "cluster": "c"}]},
        {"flink_jobs": [{"name": "j", "sql": "x", "cluster": "${IN_META}"}]},
        {"flink_jobs": [{"name": "j${IN_NAME}", "sql": "x", "cluster": "c"}]},
        {"schemas": [{"subject": "s", "schema": "{}", "doc": {"d": ["${IN_NESTED_META}"]}}]},
        {"schemas": [{"subject": "s${IN_SUBJECT}", "schema": "{}"}]},
        {"topics": [{"name": "t", "config": {"k": "${IN_TOPIC}"}}]},
        {"connectors": [{"name": "c", "config": {"p": "${IN_CONFIG}"}, "cluster": "m"}]},
        {"connectors": [{"name": "c", "config": None, "cluster": "${IN_CONNECTOR_META}"}]},
        {"gateway": [{"kind": "V", "spec": {"x": "${IN_GATEWAY}"}}]},
        {"environment": {"name": "e", "runtime": {"k": "${IN_ENV}"}}},
        {"environment": {"name": "e", "${NOT_A_VALUE}": "key only"}},
    ]
    for desired in cases:
        fast, slow = _render_both(monkeypatch, desired, project_name="p")
        assert fast == slow
        manifest = fast["manifest.json"].decode()
        want = [] if "NOT_A_VALUE" in str(desired) else [
            w for w in str(desired).replace("}", " ").split("${")[1:2]]
        assert '"required_env": %s' % streamt.canonical_json(
            [w.split()[0].strip("'") for w in want]).rstrip("\n").replace(
                "\n", "\n  ") in manifest, (desired, manifest)


@settings(max_examples=2000, deadline=None)
@given(st.integers(0, 253402300799) | st.sampled_from([0, 86399, 86400, 951782399, 951868800,
                                                        4107542400, 253402300799]))
def test_iso_utc_is_what_datetime_writes(epoch):
    import datetime
    want = (datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=epoch)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    assert streamt._Render.iso_utc(epoch) == want
    assert streamt._Render.iso_utc(float(epoch)) == want


def test_json_str_is_jsons_own():
    import json.encoder
    assert streamt.CanonicalJson.string_encoder() is json.encoder.encode_basestring


def reference_gzip(tar):
    # the gzip member of a whole archive in one call (what _compress wrote before the
    # archive was streamed in blocks)
    import zlib
    deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS, zlib.DEF_MEM_LEVEL, 0)
    body = deflate.compress(tar) + deflate.flush()
    return (streamt.Archive.GZIP_HEADER + body + (zlib.crc32(tar) & 0xFFFFFFFF).to_bytes(4, "little")
            + (len(tar) & 0xFFFFFFFF).to_bytes(4, "little"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=600) | st.integers(0, 3 << 20).map(
    lambda n: (b"streamt %d " % n) * (n // 12)), max_size=8))
def test_gzip_of_pieces_is_the_gzip_of_the_whole(pieces):
    whole = b"".join(pieces)
    assert b"".join(streamt.Archive.compress_chunks(list(pieces), "tar.gz")) == reference_gzip(whole)
    assert b"".join(streamt.Archive.compress_chunks(list(pieces), "tar")) == whole


def test_written_tarballs_are_the_tar_of_the_files(tmp_path):
    import gzip
    import lzma
    import os
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    project = streamt.load_project(os.path.join(here, "examples", "shop"), env="dev")
    desired = streamt.compile_project(project)
    big = dict(desired, flink_jobs=[dict(j, sql=j["sql"] * 4000) for j in desired["flink_jobs"]])
    for d in (desired, big):  # the big one is fed to deflate in several blocks
        files = streamt.render_artifact(d, build_epoch=5)
        tar = streamt.deterministic_tar(files, 5)
        for ext in (".tar", ".tar.gz", ".tgz", ".tar.xz"):
            out = tmp_path / ("a%d%s" % (len(tar), ext))
            _files, digest = streamt.write_artifact(d, str(out), build_epoch=5)
            data = out.read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest
            if ext == ".tar":
                assert data == tar
            elif ext == ".tar.xz":
                assert lzma.decompress(data) == tar
            else:
                assert data == reference_gzip(tar) and gzip.decompress(data) == tar
    assert len(streamt.deterministic_tar(streamt.render_artifact(big), 5)) > 3 << 20


def test_write_artifact_pauses_the_collector_and_puts_it_back(tmp_path):
    import gc
    seen = []
    desired = {"topics": [{"name": "t%d" % i, "config": {}} for i in range(3000)]}
    gc.collect()
    gc.callbacks.append(lambda phase, info: seen.append(phase))
    try:
        assert gc.isenabled()
        streamt.write_artifact(desired, str(tmp_path / "a.tar.gz"))
        assert gc.isenabled() and seen == []
        try:
            streamt.write_artifact(desired, str(tmp_path / "a.tar.gz"))  # exists
        except streamt.StreamtError:
            pass
        assert gc.isenabled()
    finally:
        gc.callbacks.pop()
