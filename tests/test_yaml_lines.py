"""The line loader (_YamlLines) against the full scanner and parser, document for document.

_yaml_run reads the common block subset of YAML with _YamlLines and hands every other
document to _YamlScanner + _YamlParser.  Whatever the line loader accepts must come out
exactly as the full loader makes it: the same values (types too: 1, True, 1.0), the same
YamlMap/YamlSeq with the same indexes for the mapping, each key and each item, the same
order; and what it does not accept must still give the full loader's value, warnings or
error.  ``FastPaths.off("yaml_lines")`` turns the line loader off, so every text below is
read both ways.  (tests/test_yaml.py checks the values against PyYAML.)
"""
import math
import os
import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamt
from tests.test_yaml import CORPUS, ROOT, _block_doc, _data, _dump_styles, _text, _yamlish
from tests.test_yaml_fast import _plain_text

import yaml


def _shape(v):
    """The value with its types and, for YamlMap/YamlSeq, its located indexes."""
    if isinstance(v, dict):
        kpos = getattr(v, "_kpos", None)
        return (type(v).__name__, getattr(v, "_pos", None),
                [(_shape(k), None if kpos is None else kpos.get(k), _shape(x))
                 for k, x in v.items()])
    if isinstance(v, list):
        ipos = getattr(v, "_ipos", None)
        return (type(v).__name__, getattr(v, "_pos", None),
                None if ipos is None else list(ipos), [_shape(x) for x in v])
    if isinstance(v, float) and math.isnan(v):
        return ("nan", v is streamt._YamlScalars.NAN)
    if hasattr(v, "utcoffset"):
        return (type(v).__name__, repr(v), v.utcoffset())
    return (type(v).__name__, repr(v))


def _read(text, fast, located):
    warnings = []
    with streamt.FastPaths.off(*(() if fast else ("yaml_lines",))):
        try:
            value = streamt._yaml_run(text, "t.yml", warnings, located)
            return "ok", _shape(value), warnings
        except streamt.YamlError as e:
            return "error", (e.message, e.hint, str(e.location), e.details), warnings


def _by_lines(text):
    """True when _YamlLines itself reads the text (no fall-back)."""
    if "\r" in text or "\x85" in text:
        return False
    try:
        streamt._YamlLines(text, streamt._YamlSource("t.yml", text), True).load()
        return True
    except streamt._YamlLinePatterns.NotLines:
        return False
    except RecursionError:
        return False


def assert_same(text):
    for located in (True, False):
        fast = _read(text, True, located)
        full = _read(text, False, located)
        assert fast == full, "line loader differs for %r" % (text,)
    return fast[0]


def test_the_switch_really_switches(monkeypatch):
    calls = []
    real = streamt._YamlLines.load

    def spy(self):
        calls.append(1)
        return real(self)
    monkeypatch.setattr(streamt._YamlLines, "load", spy)
    streamt.yaml_load("a: 1\n")
    assert calls == [1]
    monkeypatch.setattr(streamt.FastPaths, "yaml_lines", False)
    streamt.yaml_load("a: 1\n")
    assert calls == [1]


def test_nonprintable_class_is_the_old_one_for_every_code_point():
    old = re.compile(u"[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    new = re.compile(streamt._YamlSyntax.NONPRINTABLE.pattern)
    text = u"".join(chr(c) for c in range(0x110000))
    assert [m.start() for m in old.finditer(text)] == [m.start() for m in new.finditer(text)]
    # and the ASCII pre-check finds every character that is not printable ASCII
    ascii_ok = re.compile(streamt._YamlSyntax.NOT_ASCII.pattern)
    assert [m.start() for m in ascii_ok.finditer(text)] == [
        c for c in range(0x110000) if not (c in (9, 10, 13) or 0x20 <= c <= 0x7e)]


@pytest.mark.parametrize("text", [u"a: \x01\n", u"a: é\x7f\n", u"é: 1\nb: \ud800\n",
                                  u"a: \ufffe", u"ok: é\n", u"\x85a: 1\n"])
def test_nonprintable_errors_are_unchanged(text):
    assert_same(text)


def test_corpus():
    for text in CORPUS:
        assert_same(text)


def _repository_texts(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tests", "bench"))
    import bench_yaml
    import gen_project
    texts = [bench_yaml.project_text(3000)]
    gen_project.generate(60, str(tmp_path / "p"))
    for base in (ROOT, str(tmp_path)):
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d not in (".venv", ".git", ".hypothesis")]
            for name in sorted(filenames):
                if name.endswith((".yml", ".yaml")):
                    with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                        texts.append(f.read())
    return texts


def test_repository_yaml_and_generated_projects(tmp_path):
    texts = _repository_texts(tmp_path)
    assert len(texts) > 10
    outcomes = [assert_same(text) for text in texts]   # fixtures include bad files
    assert outcomes.count("ok") > 10
    # and the line loader really reads most of them (the generated project entirely)
    assert sum(_by_lines(t) for t in texts) > 0.8 * len(texts)
    assert all(_by_lines(t) for t in _repository_texts_of(str(tmp_path / "p")))


def _repository_texts_of(base):
    for dirpath, dirnames, filenames in os.walk(base):
        for name in filenames:
            if name.endswith(".yml"):
                with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                    yield f.read()


# -- hand-written edges of the subset -----------------------------------------------------

EDGES = [
    "a: 1\n", "a: b c  # x\n", "a:   b\n", "a: b\n  c\n", "a: b\n\n  c\n", "a: b # c\n  d\n",
    "a: b\n# c\n  d\n", "a: b\n    # c\nb: 2\n", "a:\n", "a:\nb:\n", "a: # c\n  b: 1\n",
    "a:\n  - 1\n  - 2\n", "a:\n- 1\n- 2\nb: 3\n", "a:\n- 1\n -2\n", "- a\n- b\n", "-\n  a: 1\n",
    "- \n- a\n", "-\n-\n", "- - a\n", "- a: 1\n  b: 2\n- c: 3\n", "- a: 1\n b: 2\n",
    "- a: 1\n   b: 2\n", "-   a: 1\n    b: 2\n", "- a:\n  - x\n  b: 1\n", "- a:\n  - x\n - y\n",
    "  a: 1\n  b: 2\n", "  a: 1\nb: 2\n", "a: 1\n b: 2\n", "a: 1\na: 2\n", "1: a\n1.0: b\n",
    "yes: 1\ntrue: 2\n", "~: 1\nnull: 2\n", "<<: {a: 1}\n", "a: <<\n", "=: 1\n", "a: =\n",
    "a: 2024-13-01\n", "a: 2024-01-01\n", "a: 0x1F\nb: 017\nc: 1:30\nd: .inf\ne: .nan\n",
    "a: 'q'\n", "a: 'it''s' # c\n", "a: 'x'#c\n", "a: 'open\n  more'\n", "a: 'q' b\n",
    "a: \"d\"\n", "a: \"d\\tx\"\n", "a: \"\"\n", "a: ''\n", "'k': v\n", "\"k\": v\n",
    "a: [1, b, 'c', \"d\", [e], {f: g}]\n", "a: []\nb: {}\n", "a: [ ]\nb: { }\n",
    "a: [a, b,]\n", "a: {a: 1,}\n", "a: [a: b]\n", "a: {a, b: 1}\n", "a: {a: }\n",
    "a: {a:1}\n", "a: {a : 1}\n", "a: {'q': 1}\n", "a: [a, b\n  , c]\n", "a: [a] # c\n",
    "a: [a]#c\n", "a: [a] b\n", "a: [a #c]\n", "a: [-1, -a, - b]\n", "a: [a?b]\n",
    "a: {a: [b, {c: d}], e: f}\n", "a: {a: 1, a: 2}\n", "a: [1, 1.5, yes, ~, 2001-12-14]\n",
    "a: |\n  x\n  y\nb: 1\n", "a: |-\n  x\n\n", "a: |+\n  x\n\n\nb: 1\n", "a: >\n  x\n  y\n",
    "a: |\n  x\n   y\n  z\n", "a: |\n   x\n  y\n", "a: |2\n   x\n", "a: | # c\n  x\n",
    "a: |\nb: 1\n", "a: |\n\n  x\n", "a: |\n  x", "a: |\n  x\n# c\nb: 1\n",
    "- |\n  x\n- >-\n  y\n", "a:\n  - |\n    x\n  - b\n", "a: |x\n  y\n", "a: |0\n  y\n",
    "a: ---\n", "---\na: 1\n", "a: 1\n---\n", "a: 1\n...\n", "%YAML 1.1\n---\na: 1\n",
    "a: &x 1\nb: *x\n", "a: !!str 1\n", "? a\n: b\n", "a: b: c\n", "a: -\n", "a: - b\n",
    "a: -1\nb: ?x\nc: :x\n", "a: %x\n", "a: @x\n", "a: `x\n", "a: b\tc\n", "a:\tb\n",
    "\ufeffa: 1\n", "a: 1\r\nb: 2\r\n", "a: 1\u2028b: 2\n", "a b: 1\n", "a:b: 1\n",
    "a:b : 1\n", "a#b: 1\n", "-a: 1\n", "a: 1\n\n\n", "\n\na: 1\n", "# c\n", "",
    "a", "a\n", "'a'\n", "[a]\n", "{a: 1}\n", "|\n x\n", "a: " + "x" * 2000 + "\n",
    "k" * 1100 + ": 1\n", "a: {" + "k" * 1100 + ": 1}\n", "a: " + "[" * 30 + "]" * 30 + "\n",
    "a:\n" + "".join("  " * i + "b:\n" for i in range(1, 250)),
    "a: b\n  # c\n", "a:\n  b: 1\n # c\n  c: 2\n", "a:\n    b: 1\n  c: 2\n",
    "a: 1 # c\nb:\n  # c\n  - 1\n", "a: x:y\nb: x: y\n", "a: a #b: c\n", "a: a#b: c\n",
    "- a\n  b\n", "- a # c\n  b\n", "- 'a'\n- \"b\"\n- [c]\n- {d: e}\n", "- a: b\n  c\n",
]


@pytest.mark.parametrize("text", EDGES)
def test_edges(text):
    assert_same(text)


# -- generated documents -------------------------------------------------------------------

_piece = st.sampled_from([
    "v", "two words", "x:y", "a#b", "a #b", "1", "-1", "1.5", "0x1f", "017", "1:30", "yes",
    "No", "~", "null", ".inf", ".nan", "2001-12-14", "2001-13-14", "'q'", "'it''s'", "''",
    '"d"', '""', '"e\\n"', "[a, b]", "[]", "{}", "{a: 1, b: [c, {d: e}]}", "{a: 1, a: 2}",
    "[a: b]", "{a, b}", "-x", "?x", ":x", "x:", "<<", "=", "&a x", "*a", "!!str x", "|",
    "|-", ">", ">+", "|2", "- x", "a: b", "# c", "v # c", "v#c", "'open", "[open",
    "http://h:80/p?q=1#f", "@x", "%x", "---", "..."])


@st.composite
def _subset_doc(draw, indent=0, depth=0):
    """Mostly-valid block documents: the subset, with a few steps out of it."""
    step = draw(st.sampled_from([1, 2, 2, 2, 4]))
    lines = []
    sequence = draw(st.booleans())
    keys = draw(st.lists(st.sampled_from(["a", "b", "name", "type", "yes", "1", "k-1",
                                          "a.b", "x:y", "on"]), min_size=1, max_size=4))
    for key in keys:
        pad = " " * (indent + draw(st.sampled_from([0, 0, 0, 0, 0, 0, 1])))
        head = pad + ("- " if sequence else "") + ("" if sequence and draw(st.booleans())
                                                   else key + ":")
        kind = draw(st.sampled_from(["scalar", "scalar", "nested", "nested", "block",
                                     "empty", "comment", "blank", "indentless"]))
        if kind == "scalar" or (kind in ("nested", "indentless") and depth >= 3):
            lines.append(head + draw(st.sampled_from([" ", " ", "  "])) + draw(_piece)
                         + draw(st.sampled_from(["", "", " ", " # c", "#c"])))
        elif kind == "nested":
            lines.append(head + draw(st.sampled_from(["", "", " # c", " "])))
            lines.extend(draw(_subset_doc(indent + step, depth + 1)))
        elif kind == "indentless" and not sequence:
            lines.append(head)
            for _ in range(draw(st.integers(1, 3))):
                lines.append(pad + "- " + draw(_piece))
        elif kind == "block":
            lines.append(head + " " + draw(st.sampled_from(["|", ">", "|-", ">+", "|+", "|2",
                                                           "| # c"])))
            for _ in range(draw(st.integers(0, 4))):
                lines.append(draw(st.sampled_from(
                    ["", " " * (indent + step) + "text", " " * (indent + step + 1) + "more",
                     " " * (indent + step) + "# x", " " * (indent + step),
                     " " * max(indent - 1, 0) + "# out"])))
        elif kind == "comment":
            lines.append(" " * draw(st.integers(0, 6)) + "# between")
            lines.append(head + " v")
        elif kind == "blank":
            lines.append(head + " v")
            lines.append(" " * draw(st.integers(0, 3)))
        else:
            lines.append(head)
    return lines


@settings(max_examples=2500, deadline=None, suppress_health_check=list(HealthCheck))
@given(_subset_doc(), st.sampled_from(["\n", "\n", "", "\n\n", "\n# end\n"]))
def test_subset_documents(lines, end):
    assert_same("\n".join(lines) + end)


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(_block_doc())
def test_structured_texts(lines):
    assert_same("\n".join(lines) + "\n")


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(_plain_text)
def test_plain_lines(text):
    assert_same(text)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(_text)
def test_grammar_texts(text):
    assert_same(text)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(_yamlish)
def test_yamlish_texts(text):
    assert_same(text)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(_data, _dump_styles)
def test_dumped_documents(data, style):
    text = yaml.safe_dump(data, **style)
    assert assert_same(text) == "ok"


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(_subset_doc())
def test_subset_documents_mean_what_pyyaml_means(lines):
    # the oracle for values: PyYAML, where both accept the text
    text = "\n".join(lines) + "\n"
    if not _by_lines(text):
        return
    from tests.test_yaml import pyyaml, strict_equal
    want = pyyaml(text)
    assert want[0] == "ok", text
    assert strict_equal(streamt.yaml_load(text), want[1]), text
