"""Validation's quick paths against the general ones they replace: the one-regex yes of
name_problem / topic_problem, and _var_refs locating only the strings that hold a
${VAR} (the eager walk located every node on the way down)."""
import os

from hypothesis import given, settings
from hypothesis import strategies as st

import streamt
from tests._projects import fixture_projects
from streamt import (Location)
_item_loc = streamt.Locate.item
_key_loc = streamt.Locate.key
_loc = streamt.Locate.of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def name_problem_general(name, what="name"):
    """name_problem without its quick path (the code before it)."""
    if not isinstance(name, str) or not name:
        return "the %s is empty" % what
    if len(name) > 200:
        return "the %s is longer than 200 characters" % what
    if name.startswith("."):
        return "the %s starts with a dot" % what
    for c in name:
        if ord(c) < 32 or ord(c) == 127:
            return "the %s contains a control character" % what
        if c in "/\\":
            return "the %s contains a path separator %r" % (what, c)
        if c in "'\"`":
            return "the %s contains a quote character %s" % (what, c)
        if c.isspace():
            return "the %s contains whitespace" % what
        if not c.isprintable():  # the rule out17 added: a bidi override, a C1 control
            return "the %s contains a non-printable character %s" % (
                what, c.encode("unicode_escape").decode("ascii"))
        if c in "${}*?<>|:;,":
            return "the %s contains the character %r" % (what, c)
    return None


def topic_problem_general(topic):
    """topic_problem without its quick path."""
    if not isinstance(topic, str) or not topic:
        return "the topic name is empty"
    if "${" in topic:
        return None
    if topic in (".", ".."):
        return "'.' and '..' are not topic names"
    if len(topic) > 249:
        return "a topic name has at most 249 characters (this one has %d)" % len(topic)
    bad = sorted(set(c for c in topic if not streamt._Vocabulary.TOPIC_CHAR_RE.match(c)))
    if bad:
        return "a topic name uses only letters, digits, '.', '_' and '-' (found %s)" % (
            ", ".join(repr(c) for c in bad))
    return None


NAMES = st.one_of(
    st.text(alphabet="abcXYZ019._-", max_size=12),
    st.text(alphabet="abc._-\n\t $/{}:;'`\"\x7f\u00e9\u2028\u00a0", max_size=12),
    st.text(max_size=12),
    st.text(alphabet="ab", min_size=195, max_size=260))


@settings(max_examples=500, deadline=None)
@given(NAMES)
def test_name_and_topic_problem(name):
    assert streamt.name_problem(name, "model name") == name_problem_general(name, "model name")
    assert streamt.topic_problem(name) == topic_problem_general(name)


def var_refs_general(project):
    """_var_refs as it was: every node located on the way down."""
    out = []

    def walk(node, loc):
        if isinstance(node, str):
            for m in streamt.Variables.RE.finditer(node):
                if m.group(2):
                    out.append((m.group(2), loc))
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, _key_loc(node, k, loc))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, _item_loc(node, i, loc))
    walk(project.runtime, _loc(project.runtime, Location(project.env_file or project.project_file)))
    for kind in streamt.ProjectKinds.KINDS:
        for item in getattr(project, kind):
            walk(item, _loc(item))
    walk(project.defaults, _loc(project.defaults, Location(project.project_file)))
    return out


def test_var_refs_of_every_fixture_project():
    seen = refs = 0
    for d, _env, p in fixture_projects():
        got = streamt._Where.var_refs(p)
        assert got == var_refs_general(p), d
        seen += 1
        refs += len(got)
    assert seen > 5 and refs > 0


def test_var_refs_in_odd_places(tmp_path):
    (tmp_path / "stream_project.yml").write_text(
        "project: {name: p}\n"
        "runtime:\n  kafka: {bootstrap_servers: '${BOOT}'}\n"
        "defaults:\n  topic: {config: {a: 'x', b: '$${ESCAPED} ${AFTER}'}}\n"
        "sources:\n  - name: s\n    topic: t\n    columns: [{name: plain}, {name: c, description: '${IN_LIST}'}]\n"
        "models:\n  - name: m\n    sql: \"SELECT 1 FROM {{ source('s') }} -- ${IN_SQL}\"\n"
        "    description: \"\\x24{ESCAPED_DOLLAR} and ${A}${B}\"\n")
    p = streamt.load_project(str(tmp_path))
    got = streamt._Where.var_refs(p)
    assert got == var_refs_general(p)
    assert sorted(n for n, _l in got) == ["A", "AFTER", "B", "BOOT", "ESCAPED_DOLLAR", "IN_LIST",
                                          "IN_SQL"]
