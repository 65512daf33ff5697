"""canonical_json (a hand-written emitter with fast paths) against json.dumps, the definition."""
import collections
import json
import math

from hypothesis import given, settings, strategies as st

import streamt


def reference(obj):
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False,
                      separators=(",", ": ")) + "\n"


class Str(str):
    pass


class Int(int):
    pass


class Dict(dict):
    pass


class List(list):
    pass


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["", "a", "name", "${X}", 'q"uote', "back\\slash", "new\nline", "tab\t", "\x00\x1f\x7f",
     "é ü ☃ 𝄞", "\u2028\u2029"])
scalars = (st.none() | st.booleans() | st.integers() | text
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.integers(-5, 5).map(Int) | text.map(Str))
keys = text | text.map(Str)


def containers(children):
    return (st.lists(children, max_size=12) | st.lists(children, max_size=5).map(tuple)
            | st.lists(children, max_size=5).map(List)
            | st.dictionaries(keys, children, max_size=12)
            | st.dictionaries(text, children, max_size=5).map(Dict)
            # all-str containers long enough for the join fast path
            | st.lists(text, min_size=9, max_size=20)
            | st.dictionaries(text, text, min_size=9, max_size=20))


documents = st.recursive(scalars, containers, max_leaves=60)


@settings(max_examples=600, deadline=None)
@given(documents)
def test_same_text_as_json_dumps(doc):
    assert streamt.canonical_json(doc) == reference(doc)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.one_of(st.integers(), st.booleans(), st.none(), st.floats(), text),
                       scalars, max_size=6))
def test_odd_keys_like_json_dumps(doc):
    try:
        want = reference(doc)
    except TypeError as e:  # e.g. str and int keys cannot be sorted together
        try:
            streamt.canonical_json(doc)
        except TypeError as e2:
            assert str(e2) == str(e)
        else:
            raise AssertionError("canonical_json accepted %r" % (doc,))
    else:
        assert streamt.canonical_json(doc) == want


def test_examples():
    doc = {"b": [1, 2.5, None, True, False, "x", [], {}], "a": {"z": "1", "y": ("t",)},
           "c": collections.OrderedDict([("k", "v")]), "d": ["s%d" % i for i in range(12)],
           "e": dict(("k%d" % i, "v\n%d" % i) for i in range(12)), "f": -0.0,
           "g": float("nan"), "h": [math.inf, -math.inf], "i": 10 ** 30}
    assert streamt.canonical_json(doc) == reference(doc)
    for doc in ("x", 1, None, True, 1.5, [], {}, (), Str("s"), Int(3)):
        assert streamt.canonical_json(doc) == reference(doc)


def test_errors_are_json_dumps_errors():
    cyc = []
    cyc.append(cyc)
    for bad in ({"a": object()}, [set()], cyc, {"a": {"b": [b"bytes"]}}):
        try:
            reference(bad)
        except (TypeError, ValueError) as e:
            want = (type(e), str(e))
        try:
            streamt.canonical_json(bad)
        except (TypeError, ValueError) as e:
            assert (type(e), str(e)) == want
        else:
            raise AssertionError("no error for %r" % (bad,))
