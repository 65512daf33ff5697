"""_fits (the project section's quick "would _check do anything?") against _check itself.

load_project runs _check on an item only when _fits says it would find something; so
_fits(node, schema) must be True exactly when _check(node, schema, ...) adds no
diagnostic, no error and removes nothing.  Every node below is checked both ways.
"""
import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamt

SCHEMAS = [streamt.ProjectSchema.MODEL, streamt.ProjectSchema.SOURCE, streamt.ProjectSchema.TEST, streamt.ProjectSchema.EXPOSURE,
           streamt.PROJECT_SCHEMA, streamt.ENV_FILE_SCHEMA, ("list", streamt.ProjectSchema.COLUMN),
           ("mapof", "scalar"), ("list", "str"), "int", "any"]

_leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(0, 2),
                  st.sampled_from(["s", "", "${X}", "a ${X}", "$${X}", "3"]))


def _node_for(schema, depth):
    """Mostly what ``schema`` wants, with now and then something else."""
    odd = st.one_of(_leaf, st.lists(_leaf, max_size=2),
                    st.dictionaries(st.sampled_from(["zz", "name", 1]), _leaf, max_size=2))
    if depth > 4:
        return odd
    if isinstance(schema, str):
        good = {"str": st.sampled_from(["s", "${X}"]), "int": st.integers(-2, 9),
                "num": st.one_of(st.integers(0, 9), st.floats(0, 9)),
                "bool": st.booleans(), "scalar": st.one_of(st.text(max_size=2), st.integers()),
                "any": _leaf}[schema]
    elif isinstance(schema, tuple):
        kind, child = schema
        if kind == "list":
            good = st.lists(st.one_of(_node_for(child, depth + 1), st.none()), max_size=3)
        else:
            good = st.dictionaries(st.sampled_from(["a", "b", "c"]),
                                   _node_for(child, depth + 1), max_size=3)
    else:
        keys = sorted(k for k in schema if isinstance(k, str))
        good = st.lists(st.sampled_from(keys), max_size=5, unique=True).flatmap(
            lambda ks: st.fixed_dictionaries(
                dict((k, st.one_of(_node_for(schema[k], depth + 1),
                                   _node_for(schema[k], depth + 1), st.none()))
                     for k in ks)))
    return st.one_of(good, good, good, good, good, odd)


@st.composite
def _case(draw):
    schema = draw(st.sampled_from(SCHEMAS))
    node = draw(_node_for(schema, 0))
    if isinstance(node, dict) and draw(st.booleans()):
        node = streamt.YamlMap(node)        # what the loader makes (no location)
    return schema, node


def _check_changes(node, schema):
    before = copy.deepcopy(node)
    diags, errors = [], []
    streamt._ProjectFiles.check(node, schema, "", "t", diags, errors, streamt.Location("t.yml", 1))
    return bool(diags or errors or node != before)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(_case())
def test_fits_exactly_when_check_does_nothing(case):
    schema, node = case
    fits = streamt._ProjectFiles.fits(node, schema)
    assert fits == (not _check_changes(node, schema)), (schema, node)


def test_fits_is_true_for_a_generated_project(tmp_path):
    # the quick answer is really the common one (and load_project's result is the same
    # with and without it: tests/test_project.py and the identity check)
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "bench"))
    import gen_project
    gen_project.generate(60, str(tmp_path / "p"))
    p = streamt.load_project(str(tmp_path / "p"), environ={"KAFKA_BOOTSTRAP": "k"})
    items = [(m, streamt.ProjectSchema.MODEL) for m in p.models] + [(s, streamt.ProjectSchema.SOURCE) for s in p.sources]
    assert items and all(streamt._ProjectFiles.fits(item, schema) for item, schema in items)


def test_known_cases():
    M = streamt.ProjectSchema.MODEL
    assert streamt._ProjectFiles.fits({"name": "a", "advanced": {"topic": {"partitions": 3}}}, M)
    assert streamt._ProjectFiles.fits({"name": "a", "advanced": {"topic": {"partitions": "${P}"}}}, M)
    assert not streamt._ProjectFiles.fits({"name": "a", "advanced": {"topic": {"partitions": "3"}}}, M)
    assert not streamt._ProjectFiles.fits({"name": "a", "advanced": {"topic": {"partitons": 3}}}, M)
    assert not streamt._ProjectFiles.fits({"name": "a", "description": None}, M)
    assert not streamt._ProjectFiles.fits({"name": "a", "schema": {"definition": None}}, streamt.ProjectSchema.SOURCE)
    assert streamt._ProjectFiles.fits({"name": "a", "schema": {"definition": [None]}}, streamt.ProjectSchema.SOURCE)
    # an empty list item (`- ` alone) is refused: code after the loader trips on it
    assert not streamt._ProjectFiles.fits({"name": "a", "from": [None, {"ref": "b"}]}, M)
    assert not streamt._ProjectFiles.fits({"name": "a", "sink": {"config": {"x": None}}}, M)
    assert not streamt._ProjectFiles.fits({"name": True}, M)
    assert not streamt._ProjectFiles.fits({1: "a"}, M)
