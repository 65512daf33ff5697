"""Differential tests of analyze_query() in two steps (a per-text _QueryPlan, then a run
per query, see streamt._Analysis.QueryPlan) against reading the query in one go.

The reference below is the SQL section's _analyze() and _from_scope() before the split
(commit dd58c34), unchanged but for the helper names and three later fixes (marked); it uses the product's small
helpers (_top_level, _depth_split, _expr_type, ...), which test_sql_fast.py holds to
their own references.  Every field of the QueryInfo, the relation() calls in order
and any exception must be the same, on random SQL-ish queries and on every SQL text
of the examples, the fixture projects and the generated benchmark project."""
import glob
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamt
from streamt import Column, QueryInfo, SqlError, is_keyword
from tests._projects import fixture_projects

_top_level, _depth_split, _column_ref = streamt._Analysis.top_level, streamt.SqlAnalysis.depth_split, \
    streamt.SqlAnalysis.column_ref


def _ref_analyze(toks, relation, info):
    level = _top_level(toks)
    sel = next((i for i in level if is_keyword(toks[i], "SELECT")), None)
    if sel is None:
        info.warnings.append("no SELECT found: the result columns are unknown")
        return streamt._Analysis.Scope()
    clause = {}
    for i in level:
        if i <= sel:
            continue
        t = toks[i]
        if t.kind != "ident":
            continue
        w = t.text.upper()
        if w in streamt._Analysis.CLAUSE_WORD_SET and w not in clause:
            if w in ("GROUP", "ORDER") and not is_keyword(toks[i + 1] if i + 1 < len(toks)
                                                          else None, "BY"):
                continue
            clause[w] = i
    ends = sorted(clause.values()) + [len(toks)]

    def span(word):
        if word not in clause:
            return []
        start = clause[word]
        end = min(e for e in ends if e > start)
        return toks[start + 1:end]

    if "UNION" in clause or "EXCEPT" in clause or "INTERSECT" in clause:
        cut = min(clause[w] for w in ("UNION", "EXCEPT", "INTERSECT") if w in clause)
        ends = [e for e in ends if e <= cut]
        # the one change since dd58c34, a bug fix: the clause words after the cut belong
        # to the later parts (a FROM or GROUP BY there crashed span(); see the test below)
        clause = dict((w, i) for w, i in clause.items() if i <= cut)
        # the second: the later parts tell whether the result is updating (the product's
        # _set_parts/_set_updating, held to their own tests below)
        sig = tuple(toks)
        layout = streamt._Analysis.Layout(sig, *streamt._Analysis.nesting(sig))
        later = streamt._Analysis.set_parts(layout, 0, len(sig), cut=cut)
        toks = toks[:cut]
    else:
        later = ()
    scope = _ref_from_scope(span("FROM"), relation, info)
    select_start = sel + 1
    distinct = False
    if select_start < len(toks) and is_keyword(toks[select_start], "DISTINCT", "ALL"):
        distinct = toks[select_start].text.upper() == "DISTINCT"
        select_start += 1
    select_end = clause.get("FROM", len(toks))
    items = _depth_split(toks[select_start:select_end])
    names_seen = set()
    group = [g for g in _depth_split(span("GROUP")[1:]) if g] if "GROUP" in clause else []
    group_cols = set()
    for g in group:
        ref = _column_ref(g)
        if ref:
            group_cols.add(ref[1].lower())
    windowed = scope.windowed and bool(group_cols & set(streamt._Analysis.WINDOW_COLUMNS))
    legacy_window = any(is_keyword(t, "TUMBLE", "HOP", "SESSION") for g in group for t in g[:1])
    aggregated = bool(group) or any(streamt._Analysis.has_aggregate(item) for item in items)
    for n, item in enumerate(items):
        if not item:
            continue
        start, end = item[0].start, item[-1].end
        if len(item) == 1 and item[0].text == "*" or (
                len(item) == 3 and item[1].text == "." and item[2].text == "*"):
            qual = streamt._Analysis.ident_name(item[0]) if len(item) == 3 else None
            cols = scope.expand(qual)
            if not scope.known or not cols:
                info.warnings.append("SELECT %s: the columns of the input are unknown"
                                     % "".join(t.text for t in item))
            info.star.append((start, end, cols))
            info.items.append((None, start, end))
            for c in cols:
                names_seen.add(c.name.lower())
                info.columns.append(Column(c.name, c.type, c.rowtime if not aggregated else None))
            continue
        expr, alias = streamt._Analysis.split_alias(item)
        name = alias
        ref = _column_ref(expr)
        if name is None and ref:
            name = ref[1]
        if name is None:
            name = "EXPR$%d" % n
            info.warnings.append("select item %d (%s) has no name: it is written as `%s`; "
                                 "give it an alias with AS"
                                 % (n + 1, streamt._Analysis.snippet(expr), name))
        if name.lower() in names_seen:
            info.warnings.append("duplicate result column %r" % name)
        names_seen.add(name.lower())
        rowtime = None
        if ref:
            col = scope.lookup(ref[1], ref[0])
            typ = col.type if col else None
            if col is not None and col.rowtime is not None and (
                    not aggregated or ref[1].lower() == "window_time"):
                rowtime = col.rowtime
            if col is None and scope.known:
                info.warnings.append("column %r is not a column of the input" % ref[1])
        else:
            typ = streamt._Analysis.expr_type(expr, scope)
            if typ == "@rowtime":
                typ, rowtime = "TIMESTAMP(3)", 0
        if not typ or typ in ("NULL", "INTERVAL"):
            info.untyped.append(name)
            info.warnings.append("cannot infer the type of %r (%s): written as STRING"
                                 % (name, streamt._Analysis.snippet(expr)))
            typ = "STRING"
        info.columns.append(Column(name, typ, rowtime))
        info.items.append((name, start, end))
        info.exprs.append((name, start, expr[-1].end if expr else end, alias is not None))
    info.windowed = windowed or legacy_window
    from_words = set(t.text.upper() for t in span("FROM") if t.kind == "ident")
    outer_join = not from_words.isdisjoint(("LEFT", "RIGHT", "FULL")) and "JOIN" in from_words
    top_n = False
    for t in toks:
        if t.kind == "ident" and t.text.upper() in ("ROW_NUMBER", "RANK", "DENSE_RANK"):
            top_n = True
            break
    if aggregated and not info.windowed:
        info.updating = True
        info.key = _ref_key_from_group(items, group_cols)
    elif distinct:
        info.updating = True
        info.key = [c.name for c in info.columns]
    elif scope.updating or outer_join or (top_n and not info.windowed):
        info.updating = True
        info.key = [k for k in scope.keys if any(c.name == k for c in info.columns)]
    if later:
        streamt._Analysis.set_updating(later, relation, info)
    if info.updating and not info.key:
        info.key = [c.name for c in info.columns]
        info.warnings.append("the result is updating but no key could be derived: "
                             "every column is used as the key")
    return scope


def _ref_key_from_group(items, group_cols):
    out = []
    for item in items:
        if not item:
            continue
        expr, alias = streamt._Analysis.split_alias(item)
        ref = _column_ref(expr)
        if ref and ref[1].lower() in group_cols:
            out.append(alias or ref[1])
    return out


def _ref_from_scope(toks, relation, info):
    scope = streamt._Analysis.Scope()
    i = 0
    while i < len(toks):
        t = toks[i]
        cols = None
        if t.kind == "template":
            call = streamt.SqlTemplates.parse_template_call(t.text)
            rel = relation(call[0], call[1]) if call else None
            if rel is None:
                scope.known = False
                cols = []
            else:
                cols, upd, key = rel
                scope.updating = scope.updating or upd
                scope.keys.extend(key or [])
            default_alias = call[1] if call else None
            j = nxt = i + 1
        elif t.kind == "op" and t.text == "(" and i + 1 < len(toks) and is_keyword(
                toks[i + 1], "SELECT", "WITH"):
            close = streamt._Analysis.matching(toks, i)
            sub = QueryInfo()
            sub_scope = _ref_analyze(toks[i + 1:close], relation, sub)
            info.warnings.extend(sub.warnings)
            # the third change, a later fix: a sub-query's inputs are its own (they were
            # inputs of this scope too: `SELECT * FROM (SELECT id FROM s) t` had every
            # column of s, and a warning of level k of a nested chain came 2**k times); a
            # window TVF in its FROM makes this scope windowed, as it did
            if sub_scope.windowed:
                scope.windowed = True
            nxt = close + 1
            cols = sub.columns
            scope.updating = scope.updating or sub.updating
            scope.keys.extend(sub.key)
            default_alias = None
            j = close + 1
        else:
            if t.kind == "ident" and t.text.upper() in streamt.SqlShape.WINDOW_TVFS and \
                    i + 1 < len(toks) and toks[i + 1].text == "(":
                scope.windowed = True
            i += 1
            continue
        alias = default_alias
        while j < len(toks) and toks[j].text == ")":
            j += 1
        if j < len(toks) and is_keyword(toks[j], "AS"):
            j += 1
        if j < len(toks) and toks[j].kind in ("ident", "qident") and not (
                toks[j].kind == "ident" and toks[j].text.upper() in streamt._Analysis.JOIN_WORD_SET):
            alias = streamt._Analysis.ident_name(toks[j])
        for c in cols:
            scope.columns.append((alias, c))
        i = nxt
    if scope.windowed:
        rt = [c.rowtime for _a, c in scope.columns if c.rowtime is not None]
        delay = rt[0] if rt else 0
        for name in streamt._Analysis.WINDOW_COLUMNS:
            if scope.lookup(name) is None:
                scope.columns.append((None, Column(name, "TIMESTAMP(3)",
                                                   delay if name == "window_time" else None)))
    return scope


# -- the inputs: deterministic by name, some unknown, some updating with a key --------

_COLUMN_SETS = [
    [Column("id", "BIGINT"), Column("account", "STRING"), Column("amount", "DECIMAL(10, 2)"),
     Column("qty", "INT"), Column("ts", "TIMESTAMP(3)", rowtime=5000)],
    [Column("a", "INT"), Column("b", "STRING"), Column("window_time", "TIMESTAMP(3)", 0)],
    [Column("ID", "STRING"), Column("x", "DOUBLE"), Column("t", "TIMESTAMP_LTZ(3)", 100)],
    [],
]


def _relation(calls):
    def relation(kind, name):
        calls.append((kind, name))
        h = sum(map(ord, name)) + len(kind)
        if h % 5 == 4:
            return None
        cols = _COLUMN_SETS[h % len(_COLUMN_SETS)]
        updating = h % 3 == 0
        return cols, updating, ([cols[0].name] if updating and cols and h % 2 else None)
    return relation


def _outcome(run, sql):
    calls = []
    try:
        info = run(sql, _relation(calls))
    except Exception as e:
        return calls, ("raised", type(e).__name__, str(e))
    return calls, ("ok", info.columns, [(c.name, c.type, c.rowtime) for c in info.columns],
                   info.untyped, info.items, info.star, info.updating, info.key,
                   info.windowed, info.warnings, info.exprs)


def _ref_analyze_query(sql, relation):
    info = QueryInfo()
    _ref_analyze(streamt.significant_tokens(sql), relation, info)
    return info


def _check(sql):
    try:
        streamt.sql_tokens(sql)
    except SqlError:
        return
    expected = _outcome(_ref_analyze_query, sql)
    for _ in range(2):  # the plan made, then the plan remembered
        assert _outcome(streamt.analyze_query, sql) == expected, sql
    # and the plan of the tokens as a list (not remembered), through _analyze
    info_calls = []
    try:
        info = QueryInfo()
        streamt._Analysis.analyze(streamt.significant_tokens(sql), _relation(info_calls), info)
    except Exception as e:
        assert expected[1][:2] == ("raised", type(e).__name__)
    else:
        assert info_calls == expected[0]
        assert info.columns == expected[1][1] and info.warnings == expected[1][9]
    return expected


_PIECES = [
    "SELECT", "select", "DISTINCT", "ALL", "FROM", "WHERE", "GROUP", "ORDER", "BY", "JOIN",
    "LEFT", "FULL", "OVER", "LIMIT", "HAVING", "UNION", "EXCEPT", "INTERSECT", "WITH", "AS",
    "ON", "CASE", "case", "End", "WHEN", "THEN", "ELSE", "COUNT", "sum", "Max", "AVG",
    "ROW_NUMBER", "RANK", "TUMBLE", "HOP", "SESSION", "TABLE", "DESCRIPTOR", "CAST", "INT",
    "window_start", "window_time", "a", "b", "id", "ts", "amount", "x", "t", "caſe", "ſelect",
    "(", ")", "(", ")", "[", "]", ",", ",", "*", ".", "=", "+", "-", "/", "||", "1", "2.5",
    "'x'", "`q`", '"d"', "NULL", "TRUE", "INTERVAL", "'1'", "MINUTE", "ARRAY",
    "{{ ref('m') }}", "{{ source(\"s\") }}", "{{ ref('n') }}", "{{ nope }}", "{% x %}",
    "a.id", "b.a", "s.b", "q.x", "m.id", "a.*", "q.*", "AS a", "AS q",
]
_SHAPES = [
    "SELECT {items} FROM {src} {rest}",
    "SELECT {items} FROM {src} {alias} {rest}",
    "SELECT {items} FROM (SELECT {items} FROM {src} {rest}) {alias} {rest}",
    "SELECT {items} FROM {src} a JOIN {src} b ON a.id = b.id {rest}",
    "SELECT {items} FROM TABLE(TUMBLE(TABLE {src}, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) "
    "{rest}",
    "SELECT {items} FROM {src} UNION ALL SELECT {items} FROM {src} {rest}",
]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=30))
def test_plan_and_run_match_the_one_pass_reading_on_sql_pieces(pieces):
    _check(" ".join(pieces))


_ITEM = st.one_of(
    st.lists(st.sampled_from(_PIECES), min_size=1, max_size=6).map(" ".join),
    st.sampled_from(["*", "a.*", "q.*", "s.*", "m.*", "id", "q.id", "a.id", "s.ts", "m.ts",
                     "SUM(amount) AS total", "COUNT(*)", "MAX(q.amount) m", "window_start",
                     "window_time", "ts", "amount + 1", "CAST(id AS STRING) AS c"]))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SHAPES), st.lists(_ITEM, min_size=1, max_size=4),
       st.sampled_from(["{{ ref('m') }}", "{{ source('s') }}", "{{ ref('zz') }}",
                        "{{ bad }}"]),
       st.lists(st.sampled_from(_PIECES), max_size=8), st.sampled_from(["", "s", "AS q", "a", "AS s"]))
def test_plan_and_run_match_the_one_pass_reading_on_query_shapes(shape, items, src, rest,
                                                                 alias):
    _check(shape.format(items=", ".join(items), src=src, rest=" ".join(rest), alias=alias))


def test_clause_words_after_a_union_belong_to_the_later_part():
    # These crashed the build with a traceback (ValueError from min()) until the clause
    # words after a UNION were dropped: the result is the first SELECT's, and only its
    # FROM inputs are read.
    cases = [
        ("SELECT a FROM {{ ref('m') }} UNION ALL SELECT b FROM u GROUP BY b",
         [("ref", "m")], ["a"]),
        ("SELECT 1 AS one UNION SELECT a FROM {{ ref('m') }}", [], ["one"]),
        ("SELECT x FROM {{ ref('n') }}, (SELECT 1 UNION SELECT a FROM t) s, {{ ref('m') }}",
         [("ref", "n"), ("ref", "m")], ["x"]),
        ("SELECT x FROM {{ ref('n') }}, (SELECT a FROM {{ ref('m') }} UNION SELECT b "
         "FROM u GROUP BY b) s", [("ref", "n"), ("ref", "m")], ["x"]),
    ]
    for sql, want_calls, want_names in cases:
        calls, outcome = _check(sql)
        assert outcome[0] == "ok", (sql, outcome)
        # (in order of first call: a sub-query's inputs may be asked for more than once)
        assert sorted(set(calls), key=calls.index) == want_calls, sql
        assert [c.name for c in outcome[1]] == want_names, sql


def test_a_warning_of_a_nested_sub_query_comes_once():
    sql = "SELECT id, nope FROM {{ source('s') }}"
    for i in range(6):
        sql = "SELECT id, nope FROM (%s) t%d WHERE id > %d" % (sql, i, i)
    calls, expected = _outcome(_ref_analyze_query, sql)
    got_calls, got = _outcome(streamt.analyze_query, sql)
    # (the reference reads a nested sub-query again at each level: more relation() calls)
    assert got == expected and set(got_calls) == set(calls), sql
    assert "column 'nope' is not a column of the input" in got[9]
    assert len(got[9]) == len(set(got[9])), got[9]  # (it was 2**6 times)

def _all_sql_texts(generated):
    seen = set()
    for _d, _env, project in fixture_projects():
        for m in project.models:
            sql = m.get("sql") if isinstance(m, dict) else None
            if isinstance(sql, str) and sql not in seen:
                seen.add(sql)
                yield sql
    for f in sorted(glob.glob(os.path.join(generated, "models", "*.yml"))):
        with open(f) as fh:
            doc = streamt.yaml_load(fh.read())
        for m in doc.get("models") or []:
            sql = m.get("sql")
            if isinstance(sql, str) and sql not in seen:
                seen.add(sql)
                yield sql


def test_plan_and_run_match_the_one_pass_reading_on_every_project_sql(tmp_path):
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
    try:
        import gen_project
    finally:
        sys.path.pop(0)
    gen_project.generate(300, str(tmp_path / "gen"))
    n = 0
    for sql in _all_sql_texts(str(tmp_path / "gen")):
        _check(sql)
        n += 1
    assert n > 100


# -- remembered expression types -------------------------------------------------------

_EXPR_PIECES = ["SUM", "COUNT", "MAX", "AVG", "CAST", "COALESCE", "IF", "CASE", "WHEN",
                "THEN", "ELSE", "END", "AS", "INT", "STRING", "(", ")", ",", "*", "+", "-",
                "/", "||", "=", "1", "2.5", "'s'", "NULL", "a", "b", "id", "x", "t.a",
                "q.b", "amount", "ts", "window_time", "TUMBLE_ROWTIME", "ARRAY", "[", "]"]
_TYPES = st.sampled_from(["INT", "BIGINT", "STRING", "DOUBLE", "DECIMAL(10, 2)",
                          "TIMESTAMP(3)", "BOOLEAN", None])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.lists(st.sampled_from(_EXPR_PIECES), min_size=1, max_size=7),
                          st.lists(st.tuples(st.sampled_from(["a", "b", "id", "x", "amount"]),
                                             st.sampled_from([None, "t", "q"]), _TYPES),
                                   max_size=5)),
                min_size=1, max_size=6))
def test_remembered_expression_types_match_typing_each_time(cases):
    # the same few expressions over scopes with different columns and types, in a row:
    # a remembered type is only used when the lookups answer what they answered
    for pieces, columns in cases + cases:
        try:
            toks = streamt.significant_tokens(" ".join(pieces))
        except SqlError:
            continue
        scope = streamt._Analysis.Scope()
        for name, alias, typ in columns:
            if typ is not None:
                scope.columns.append((alias, Column(name, typ)))
        try:
            expected = ("ok", streamt._Analysis.expr_type(toks, scope))
        except Exception as e:
            expected = ("raised", type(e).__name__)
        try:
            got = ("ok", streamt._Analysis.expr_type_remembered(toks, scope))
        except Exception as e:
            got = ("raised", type(e).__name__)
        assert got == expected, (pieces, columns)
