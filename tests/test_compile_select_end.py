"""select_text's quick ending (no re-tokenizing of the rewritten SELECT) against the
general one: the compiled state, the warnings and the errors must be the same."""
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamt
from streamt import compile_project
from tests._projects import FakeProject, fixture_projects

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CLICKS = {"name": "clicks", "topic": "clicks.v1", "columns": [
    {"name": "user_id", "type": "STRING"}, {"name": "amount", "type": "INT"},
    {"name": "price", "type": "DECIMAL(10, 2)"}, {"name": "ts", "type": "TIMESTAMP(3)"}],
    "event_time": {"column": "ts", "watermark": {"max_out_of_orderness_ms": 1500}}}

# pieces of SQL that move the last token and the replacements around: templates, stars,
# masked and untyped items, unnamed expressions, comments of both kinds, ';' inside and
# outside strings, quoted names next to templates
PIECES = [
    "SELECT", "SELECT *", "SELECT c.*", "user_id", "amount", "price", "ts", "`user_id`",
    "amount + 1", "my_udf(amount)", "my_udf(amount) AS x", "CAST(price AS STRING) AS p",
    ",", " ", "\n", "FROM", "{{ source('clicks') }}", "{{ source('clicks') }} c",
    "{{ source('clicks') }}`c`", "{{ ref('up') }}", "WHERE", "amount > 0", "user_id <> ';'",
    "'--'", "-- end", "-- end\n", "/* c */", "/* ; */", ";", "; ", ";\n-- x", "GROUP BY user_id",
    "COUNT(*) AS n", "AS", "(", ")", "\"dq\"", "'s'",
]

MASKS = [None, "hash", "null", "redact", "partial"]


def _state(project, quick):
    """compile_project's (state, warnings) or its error, quick ending on or off."""
    saved = streamt.Compiler.__dict__["_select_end_quick"]  # the staticmethod itself
    if not quick:
        streamt.Compiler._select_end_quick = staticmethod(lambda text, orig, pos: None)
    try:
        warnings = []
        try:
            return ("ok", compile_project(project, warnings), warnings)
        except streamt.ProjectError as e:
            return ("error", type(e).__name__, e.message, str(e.location))
    finally:
        streamt.Compiler._select_end_quick = saved


def _project(sql, mask, up_sql):
    up = {"name": "up", "sql": up_sql, "materialized": "flink"}
    m = {"name": "m", "sql": sql, "materialized": "flink"}
    if mask:
        m["security"] = {"policies": [{"mask": {"column": "user_id", "method": mask}},
                                      {"mask": {"column": "amount", "method": mask}}]}
    return FakeProject(sources=[CLICKS], models=[up, m])


def _same(sql, mask=None, up_sql="SELECT user_id, amount FROM {{ source('clicks') }}"):
    quick = _state(_project(sql, mask, up_sql), True)
    general = _state(_project(sql, mask, up_sql), False)
    assert quick == general, sql


@pytest.mark.parametrize("sql", [
    "SELECT user_id FROM {{ source('clicks') }}",
    "SELECT user_id FROM {{ source('clicks') }} -- end",
    "SELECT user_id FROM {{ source('clicks') }}-- end\n\n",
    "SELECT user_id FROM {{ source('clicks') }} /* end */",
    "SELECT user_id FROM {{ source('clicks') }}; -- end",
    "SELECT user_id FROM {{ source('clicks') }};;",
    "SELECT user_id FROM {{ source('clicks') }}; DROP TABLE x",
    "SELECT ';' AS s, user_id FROM {{ source('clicks') }}",
    "SELECT * FROM {{ source('clicks') }}",
    "SELECT *, amount + 1 FROM {{ ref('up') }}`u` -- x",
    "SELECT my_udf(amount) -- c\n FROM {{ source('clicks') }}",
    "SELECT user_id FROM {{ source('clicks') }} WHERE user_id <> '-- not a comment'",
])
@pytest.mark.parametrize("mask", MASKS)
def test_examples(sql, mask):
    _same(sql, mask)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=14),
       st.sampled_from(MASKS), st.booleans())
def test_generated(pieces, mask, join_with_space):
    sql = (" " if join_with_space else "").join(pieces)
    _same(sql, mask)
    _same("SELECT user_id, amount FROM {{ ref('up') }} " + sql, mask, up_sql=sql)


def test_fixture_projects():
    """Every example and fixture project compiles the same either way."""
    seen = 0
    for d, env, p in fixture_projects():
        assert _state(p, True) == _state(p, False), (d, env)
        seen += 1
    assert seen > 5
