"""The YAML scanner's fast paths against its general rules, token for token.

_YamlScanner has shortcuts for the most common shapes (a `key:` line, a one-line plain
scalar in block context).  Each must give exactly the tokens -- kinds, indexes, values,
styles -- and the errors of the general rules; ``FastPaths.off("yaml_scanner")`` runs the
general rules only, and every text below is scanned both ways.  (tests/test_yaml.py
checks the values against PyYAML; this checks the shortcuts cannot drift.)
"""
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamt
from tests.test_yaml import CORPUS, ROOT, _block_doc, _data, _dump_styles, _text, _yamlish

import yaml


def _scan(cls, text):
    """The tokens of ``text`` (prepared as _yaml_run prepares it), or the error."""
    if "\r" in text or "\x85" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x85", "\n")
    src = streamt._YamlSource("t.yml", text)
    try:
        return "ok", cls(text, src).scan()
    except streamt.YamlError as e:
        return "error", (e.message, e.hint, str(e.location), e.details)
    except RecursionError:
        return "recursion", None


def assert_same_tokens(text):
    fast = _scan(streamt._YamlScanner, text)
    with streamt.FastPaths.off("yaml_scanner"):
        slow = _scan(streamt._YamlScanner, text)
    assert fast == slow, "fast path differs for %r" % (text,)
    return fast


def test_the_switch_really_switches():
    text = "a: b c\nd: e\n"
    seen = []

    class Spy(streamt._YamlScanner):
        def plain(self):
            seen.append(self.i)
            return streamt._YamlScanner.plain(self)
    with streamt.FastPaths.off("yaml_scanner"):
        Spy(text, streamt._YamlSource("t", text)).scan()
    assert len(seen) == 4          # both keys and both values through the general rules


def test_corpus():
    for text in CORPUS:
        assert_same_tokens(text)


def test_repository_yaml_and_generated_projects(tmp_path):
    import sys
    sys.path.insert(0, os.path.join(ROOT, "tests", "bench"))
    import bench_yaml
    import gen_project
    assert_same_tokens(bench_yaml.project_text(3000))
    gen_project.generate(60, str(tmp_path / "p"))
    texts = []
    for base in (ROOT, str(tmp_path)):
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d not in (".venv", ".git", ".hypothesis")]
            for name in filenames:
                if name.endswith((".yml", ".yaml")):
                    with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                        texts.append(f.read())
    assert len(texts) > 10
    outcomes = [assert_same_tokens(text)[0] for text in texts]   # fixtures include bad files
    assert outcomes.count("ok") > 10


# one-line plain scalars and what may follow them
_piece = st.sampled_from(["a", "b c", "x:y", "x: y", "a#b", "a #b", "-x", "?x", ":x", "1.5",
                          "a  b", "a\tb", "a b ", "a:", "k: v # c", "[a]", "'q'", "",
                          "---", "...", "- a", "&x a", "*x", "|", "{a: 1}", "a,b", "a]",
                          "{name: id, type: 'DECIMAL(10, 2)'}", "[x y , z]", "{a b: c d #e}",
                          "[a:b, c :d, e: f]", "{a: b\t, c}", "[a\n  b, c ]", "{a: x # c\n}",
                          "[? a b, -c, - d]", "{a: [b c, {d e: f}]}", "[a\n\n b]"])
_lead = st.sampled_from(["", " ", "  ", "    ", "- ", "  - ", "? ", ": ", "\t"])
_plain_text = st.lists(st.builds(lambda lead, k, sep, v, tail: lead + k + sep + v + tail,
                                 _lead, _piece, st.sampled_from([": ", ":", " ", ":  ", ""]),
                                 _piece, st.sampled_from(["", " ", "  # c", "\t", " \t"])),
                       min_size=1, max_size=8).map(lambda ls: "\n".join(ls) + "\n")


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(_plain_text)
def test_plain_lines(text):
    assert_same_tokens(text)


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(_text)
def test_grammar_texts(text):
    assert_same_tokens(text)


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(_yamlish)
def test_yamlish_texts(text):
    assert_same_tokens(text)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(_block_doc())
def test_structured_texts(lines):
    assert_same_tokens("\n".join(lines) + "\n")


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_data, _dump_styles)
def test_dumped_documents(data, style):
    assert assert_same_tokens(yaml.safe_dump(data, **style))[0] == "ok"


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(["ab", " ", "   ", ":x", " :x", "'", "''", '"', "\\n", "\\",
                                 "#", " # c", "\t", "\n", "\n    ", "\n\n     ", "-", ": "]),
                min_size=1, max_size=40),
       st.sampled_from(["  sql: S %s\n", "  sql: 'S %s'\n", '  sql: "S %s"\n',
                        "  sql: [S %s]\n", "  k%s: v\n", "- S %s\n"]),
       st.integers(1, 3))
def test_long_lines_read_by_the_general_rules(pieces, form, stretch):
    """A line of 4,096 characters or more skips the one-line patterns and the line loader
    (their repeated groups cost `re` ~150 bytes per word): such texts give PyYAML's value
    or an error where PyYAML has one, the same with each fast path off."""
    body = "".join(pieces) * (1 + 4200 * stretch // sum(map(len, pieces)))
    text = ("m:\n" if form.startswith("  ") else "") + form % body.replace("\n", "\n    ")
    assert streamt._YamlSyntax.has_long_line(text) == (
        max(map(len, text.split("\n"))) >= streamt._YamlSyntax.LONG_LINE)
    try:
        want = "ok", yaml.safe_load(text)
    except yaml.YAMLError:
        want = "error", None
    got = []
    for off in [(), ("yaml_lines",), ("yaml_lines", "yaml_scanner")]:
        with streamt.FastPaths.off(*off):
            try:
                got.append(("ok", streamt.yaml_load(text)))
            except streamt.YamlError as e:
                got.append(("error", None if want[0] == "error" else str(e)))
    assert got == [want] * 3
    assert_same_tokens(text)
