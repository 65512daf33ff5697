"""The SQL section: tokenizer, template calls, quoting, statement splitting and
materialization inference."""
import pytest

import streamt
from streamt import (SqlError, infer_materialization, quote_ident, quote_string,
                     render_sql, split_statements, sql_tokens, template_calls)


def kinds(text):
    return [(t.kind, t.text) for t in sql_tokens(text)]


# -- tokenizer -----------------------------------------------------------------

def test_tokens_cover_identifiers_strings_numbers_operators():
    assert kinds("SELECT a, `b c`, 'x', 1.5, .5e3 FROM t WHERE a <> 2 AND s || 'y'") == [
        ("ident", "SELECT"), ("ident", "a"), ("op", ","), ("qident", "`b c`"), ("op", ","),
        ("string", "'x'"), ("op", ","), ("number", "1.5"), ("op", ","), ("number", ".5e3"),
        ("ident", "FROM"), ("ident", "t"), ("ident", "WHERE"), ("ident", "a"), ("op", "<>"),
        ("number", "2"), ("ident", "AND"), ("ident", "s"), ("op", "||"), ("string", "'y'")]


def test_doubled_quotes_stay_inside_their_token():
    toks = sql_tokens("SELECT 'it''s; DROP', `a``b` FROM x")
    assert [t.kind for t in toks] == ["ident", "string", "op", "qident", "ident", "ident"]
    assert streamt.token_value(toks[1]) == "it's; DROP"
    assert streamt.token_value(toks[3]) == "a`b"


def test_comments_are_tokens_and_hide_code():
    toks = sql_tokens("SELECT 1 -- GROUP BY x\n/* JOIN\n y */ FROM t")
    assert [t.kind for t in toks] == ["ident", "number", "comment", "comment", "ident", "ident"]
    assert toks[3].text == "/* JOIN\n y */"
    assert (toks[4].line, toks[4].col) == (3, 7)
    assert [t.kind for t in sql_tokens("a -- b", comments=False)] == ["ident"]


def test_line_and_column_of_tokens():
    toks = sql_tokens("SELECT\n  a,\n    {{ ref('m') }}")
    assert [(t.text, t.line, t.col) for t in toks] == [
        ("SELECT", 1, 1), ("a", 2, 3), (",", 2, 4), ("{{ ref('m') }}", 3, 5)]


def test_multiline_string_keeps_following_positions_right():
    toks = sql_tokens("'a\nb' x")
    assert (toks[1].line, toks[1].col) == (2, 4)


@pytest.mark.parametrize("text,line,col", [
    ("SELECT 'abc", 1, 8), ("SELECT\n `abc", 2, 2), ("x /* never closed", 1, 3),
    ("FROM {{ ref('a')", 1, 6), ("a\n  {% if", 2, 3)])
def test_unterminated_tokens_are_errors_with_location(text, line, col):
    with pytest.raises(SqlError) as e:
        sql_tokens(text)
    assert (e.value.location.line, e.value.location.col) == (line, col)
    assert e.value.hint


def test_template_with_braces_in_quotes_is_one_token():
    toks = sql_tokens("FROM {{ ref('a}}b') }} x")
    assert toks[1].kind == "template" and toks[1].text == "{{ ref('a}}b') }}"
    assert template_calls("FROM {{ ref('a}}b') }}") == [("ref", "a}}b", 1, 6)]


# -- template calls ------------------------------------------------------------

def test_template_calls_accept_quotes_and_whitespace():
    sql = """SELECT * FROM {{source("orders")}} o
    JOIN {{   ref( 'customers' )   }} c ON o.id = c.id"""
    assert template_calls(sql) == [("source", "orders", 1, 15), ("ref", "customers", 2, 10)]


def test_template_calls_ignore_strings_and_comments():
    sql = "SELECT '{{ ref(\"a\") }}' FROM x -- {{ ref('b') }}\n/* {{ source('c') }} */"
    assert template_calls(sql) == []


@pytest.mark.parametrize("tpl", [
    "{{ var('x') }}", "{{ env('HOME') }}", "{{ source('a', 'b') }}", "{{ ref(x) }}",
    "{{ ref('') }}", "{% if x %}", "{# note #}", "{{ ref('a') | upper }}"])
def test_other_templates_are_reported_unsupported(tpl):
    calls = template_calls("SELECT 1 FROM t WHERE %s" % tpl)
    assert calls == [("unsupported", tpl, 1, 23)]


def test_render_sql_quotes_the_resolved_names():
    sql = "SELECT * FROM {{ source('orders') }} JOIN {{ ref(\"a`b\") }} -- {{ ref('c') }}"
    out = render_sql(sql, lambda kind, name: kind + ":" + name)
    assert out == "SELECT * FROM `source:orders` JOIN `ref:a``b` -- {{ ref('c') }}"


def test_render_sql_refuses_unsupported_templates():
    with pytest.raises(SqlError) as e:
        render_sql("SELECT 1\nFROM {{ var('x') }}", lambda k, n: n)
    assert e.value.location.line == 2


# -- quoting -------------------------------------------------------------------

HOSTILE = ["a'); DROP TABLE x; --", "we`ird", "new\nline -- c", "/* x", "'", "`", "{{ ref('a') }}"]


@pytest.mark.parametrize("value", HOSTILE)
def test_quoted_identifier_is_one_token_with_the_same_value(value):
    toks = sql_tokens("SELECT %s FROM t" % quote_ident(value))
    assert [t.kind for t in toks] == ["ident", "qident", "ident", "ident"]
    assert streamt.token_value(toks[1]) == value


@pytest.mark.parametrize("value", HOSTILE)
def test_quoted_string_is_one_token_with_the_same_value(value):
    text = "SET 'k' = %s; SELECT 1" % quote_string(value)
    toks = sql_tokens(text)
    assert [t.kind for t in toks][:4] == ["ident", "string", "op", "string"]
    assert streamt.token_value(toks[3]) == value
    assert len(split_statements(text)) == 2


def test_quote_string_writes_booleans_as_sql():
    assert quote_string(True) == "'true'"
    assert quote_string(5) == "'5'"


# -- statements ----------------------------------------------------------------

def test_split_statements_ignores_semicolons_in_strings_names_comments():
    text = ("-- header; not a statement\nSET 'a' = ';';\n"
            "CREATE TABLE `x;y` (c STRING) /* ; */ WITH ('k' = 'v;');\n\n;\n"
            "INSERT INTO t SELECT 1 -- trailing ;\n")
    assert split_statements(text) == [
        "SET 'a' = ';'",
        "CREATE TABLE `x;y` (c STRING) /* ; */ WITH ('k' = 'v;')",
        "INSERT INTO t SELECT 1 -- trailing ;"]


def test_split_statements_of_comments_only_is_empty():
    assert split_statements("-- a\n/* b */\n") == []


# -- materialization -----------------------------------------------------------

class P(object):
    def __init__(self, runtime=None):
        self.runtime = runtime or {}


FLINK = P({"kafka": {"bootstrap_servers": "k:9092"}, "flink": {"default": "x"}})
GATEWAY = P({"kafka": {}, "conduktor": {"gateway": {"admin_url": "http://gw"}}})


@pytest.mark.parametrize("model,expected", [
    ({"name": "m", "materialized": "sink", "sql": "SELECT * FROM t"}, ("sink", "sink")),
    ({"name": "m", "from": [{"ref": "a"}]}, ("sink", "sink")),
    ({"name": "m", "sql": "SELECT a FROM t", "gateway": {"virtual_topic": {"name": "v"}}},
     ("virtual_topic", "virtual_topic")),
    ({"name": "m"}, ("topic", "topic")),
    ({"name": "m", "sql": "SELECT * FROM {{ source('s') }}"}, ("topic", "topic")),
    ({"name": "m", "sql": "select  *  from x where a = 1"}, ("virtual_topic", "flink")),
    ({"name": "m", "sql": "SELECT * FROM x LIMIT 5"}, ("virtual_topic", "flink")),
    ({"name": "m", "sql": "SELECT a, b FROM x"}, ("virtual_topic", "flink")),
    ({"name": "m", "sql": "SELECT a, COUNT(*) FROM x GROUP BY a"}, ("flink", "flink")),
    ({"name": "m", "sql": "SELECT * FROM a JOIN b ON a.i = b.i"}, ("flink", "flink")),
    ({"name": "m", "sql": "SELECT DISTINCT a FROM x"}, ("flink", "flink")),
    ({"name": "m", "sql": "SELECT * FROM TABLE(TUMBLE(TABLE x, DESCRIPTOR(t), "
                          "INTERVAL '1' MINUTE))"}, ("flink", "flink")),
    ({"name": "m", "sql": "SELECT a, ROW_NUMBER() OVER (ORDER BY t) FROM x"}, ("flink", "flink")),
    # set operations: UNION ALL keeps no state but reads two relations, the others
    # remove duplicates (state): none is a virtual topic
    ({"name": "m", "sql": "SELECT a FROM x UNION ALL SELECT a FROM y"}, ("flink", "flink")),
    ({"name": "m", "sql": "SELECT a FROM x UNION SELECT a FROM y"}, ("flink", "flink")),
    ({"name": "m", "sql": "SELECT a FROM x union distinct SELECT a FROM y"}, ("flink", "flink")),
    ({"name": "m", "sql": "SELECT a FROM x UNION (SELECT a FROM y)"}, ("flink", "flink")),
    ({"name": "m", "sql": "SELECT a FROM x EXCEPT SELECT a FROM y"}, ("flink", "flink")),
    ({"name": "m", "sql": "SELECT a FROM x INTERSECT ALL SELECT a FROM y"}, ("flink", "flink")),
])
def test_inference_rules(model, expected):
    assert infer_materialization(model, FLINK) == expected


@pytest.mark.parametrize("sql", [
    # an interval join written with a comma (issue 18)
    "SELECT o.id, s.ts FROM {{ ref('orders') }} o, {{ ref('shipments') }} s "
    "WHERE o.id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '4' HOUR",
    "SELECT a FROM x,y",
    "SELECT a FROM (SELECT a FROM x) AS t WHERE a > 1",
    "SELECT a FROM x WHERE a IN (SELECT a FROM y)",
    "SELECT a FROM x WHERE EXISTS (SELECT 1 FROM y WHERE y.a = x.a)",
    "SELECT a FROM x UNION ALL SELECT a FROM y",
    "(SELECT a FROM x) UNION ALL (SELECT a FROM y)",
    "SELECT a, t.w FROM x, LATERAL TABLE(split(a)) AS t(w)",
    "SELECT a, w FROM x CROSS APPLY UNNEST(x.tags) AS t(w)",
    "SELECT * FROM TABLE(my_function(1))",
])
def test_queries_reading_more_than_one_relation_are_never_virtual_topics(sql):
    model = {"name": "m", "sql": sql}
    assert infer_materialization(model, FLINK) == ("flink", "flink")
    assert infer_materialization(model, GATEWAY) == ("flink", "flink")


@pytest.mark.parametrize("sql", [
    "SELECT EXTRACT(DAY FROM ts), a, b FROM x WHERE a > 1",
    "SELECT a, b FROM x WHERE c IN (1, 2, 3)",
    "SELECT SUBSTRING(s FROM 1 FOR 2), a FROM x",
    "SELECT CAST(a AS DECIMAL(10, 2)), b FROM x WHERE b = 'a, b'",
])
def test_one_relation_with_commas_and_from_elsewhere_stays_stateless(sql):
    assert infer_materialization({"name": "m", "sql": sql}, GATEWAY) == (
        "virtual_topic", "virtual_topic")


def test_inferred_virtual_topic_stays_with_a_gateway():
    assert infer_materialization({"name": "m", "sql": "SELECT a FROM x WHERE b > 1"},
                                 GATEWAY) == ("virtual_topic", "virtual_topic")


@pytest.mark.parametrize("sql", [
    "SELECT a, 'GROUP BY x' AS s FROM t WHERE a > 1",
    "SELECT a FROM t -- JOIN u\nWHERE a > 1",
    "SELECT `count`(a) FROM t WHERE b = 1",
    "SELECT a AS sum_total, 'COUNT(' FROM t WHERE /* SUM( */ a = 1",
    "SELECT a FROM t WHERE `order` = 1 /* ORDER BY */",
])
def test_words_in_strings_comments_and_quoted_names_do_not_count(sql):
    assert infer_materialization({"name": "m", "sql": sql}, FLINK) == ("virtual_topic", "flink")
    assert infer_materialization({"name": "m", "sql": sql}, GATEWAY)[1] == "virtual_topic"


def test_select_star_in_a_comment_is_not_a_topic():
    sql = "-- SELECT * FROM x\nSELECT a FROM x"
    assert infer_materialization({"name": "m", "sql": sql}, FLINK)[0] == "virtual_topic"
    # but a comment before a plain SELECT * does not hide it
    sql = "/* copy */ SELECT * FROM {{ source('x') }}"
    assert infer_materialization({"name": "m", "sql": sql}, FLINK)[0] == "topic"


def test_superscript_and_other_non_decimal_digits_are_read_without_a_crash():
    # "²" is a digit to str.isdigit() but not a decimal digit: it used to crash the
    # tokenizer (AttributeError) instead of reaching validation like any odd character
    toks = streamt.sql_tokens(u"SELECT \u00b2, .\u00b2 FROM t")
    assert [t.text for t in toks] == [u"SELECT", u"\u00b2", u",", u".", u"\u00b2", u"FROM", u"t"]
    assert [t.kind for t in toks][1] == "op"
    # decimal digits of other scripts are still numbers, as before
    assert [(t.kind, t.text) for t in streamt.sql_tokens(u"SELECT \u0663")][1] == ("number", u"\u0663")


def test_a_sub_query_in_from_gives_its_own_columns_not_its_inputs_columns():
    """The FROM scan went on inside a sub-query, so the inputs of a sub-query were inputs
    of the enclosing query too: `SELECT * FROM (SELECT id FROM s) t` had every column of
    s (build declared a sink table of three columns for a query of one, which Flink
    refuses), and each level of a nested chain re-read all the levels below it."""
    def rel(kind, name):
        return ([streamt.Column("id", "STRING"), streamt.Column("status", "STRING"),
                 streamt.Column("amount", "DOUBLE")], False, None)
    info = streamt.analyze_query('SELECT * FROM (SELECT id FROM {{ source("o") }}) t', rel)
    assert [c.name for c in info.columns] == ["id"]
    info = streamt.analyze_query('SELECT status FROM (SELECT id FROM {{ source("o") }}) t', rel)
    assert "column 'status' is not a column of the input" in info.warnings
    # a window TVF inside the sub-query still makes the outer GROUP BY a window aggregation
    info = streamt.analyze_query(
        "SELECT window_start, window_end, COUNT(*) AS n FROM (SELECT * FROM TABLE(TUMBLE("
        'TABLE {{ source("o") }}, DESCRIPTOR(ts), INTERVAL \'1\' MINUTE))) t '
        "GROUP BY window_start, window_end", lambda kind, name: (
            [streamt.Column("id", "STRING"), streamt.Column("ts", "TIMESTAMP(3)", 0)], False, None))
    assert info.windowed and not info.updating, info.warnings
