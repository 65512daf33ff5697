"""Differential tests of the SQL section's fast paths against the general code they
stand in for: the one-regex tokenizer (_sql_tokens_fast) against the character by
character tokenizer (_sql_tokens_general)."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamt
from streamt import SqlError, infer_materialization, quote_ident, quote_string

# Pieces that exercise every branch of both tokenizers: words, numbers, quotes (doubled,
# unterminated), comments, templates with quotes and escapes inside, operators, blanks
# and non-ASCII letters, digits and spaces.
_PIECES = [
    "SELECT", "from", "a", "_x$", "CASE", "end", " ", "  ", "\n", "\t", "\r\n", "\f", "\v",
    "\x1c", "\xa0", "\u2003", "1", "12", "1.5", ".5", "1e3", "2E-4", "1.", ".", "e", "'",
    "''", "'it''s'", "`", "``", "`a b`", '"', '""', '"q"', "--", "-- c\n", "-", "->", "/",
    "/*", "*/", "/* x\ny */", "{", "}", "{{", "}}", "{%", "%}", "{#", "#}",
    "{{ ref('m') }}", '{{ source("s\\"x") }}', "{{ '}}' }}", "{% if x %}", "{# c #}",
    "\\", "(", ")", "[", "]", ",", ";", "*", "=", "<>", "!=", "<=", ">=", "||", "::", "=>",
    "<", ">", "+", "%", "|", ":", "!", "?", "@", "#", "~", "^", "&", "\x00", "\x7f",
    "é", "ß", "名", "٣", "²", "ſ", "\U0001d7d8", "x٣",
]


def _both(text, comments):
    def run(f):
        try:
            return ("ok", f(text, comments))
        except SqlError as e:
            loc = e.location
            return ("error", e.message, e.hint, loc and (loc.line, loc.col))
        except Exception as e:  # the general path's own crashes must be kept too
            return ("crash", type(e).__name__)
    fast = streamt._SqlLexer.tokens_fast(text, comments)
    general = run(streamt._SqlLexer.tokens_general)
    return fast, general, run(streamt._SqlLexer.tokens), run(streamt.sql_tokens)


def _check(text):
    for comments in (False, True):  # without comments first: derived from the cache
        fast, general, used, cached = _both(text, comments)
        # whatever the fast path reads, it reads exactly like the general path
        if fast is not None:
            assert general == ("ok", fast), text
        # and the tokenizer as used gives the general path's result (or error),
        # also through the cache (twice: computed, then remembered)
        assert used == general, text
        assert cached == general, text
        assert _both(text, comments)[3] == general, text


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=30))
def test_fast_tokenizer_matches_the_general_one_on_sql_pieces(pieces):
    _check("".join(pieces))


@settings(max_examples=800, deadline=None)
@given(st.text(alphabet=st.sampled_from(sorted(set("".join(_PIECES)))), max_size=40))
def test_fast_tokenizer_matches_the_general_one_on_characters(text):
    _check(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_fast_tokenizer_matches_the_general_one_on_any_text(text):
    _check(text)


def test_fast_tokenizer_reads_the_usual_sql_itself():
    text = ("SELECT a, `b c`, 'x''y', 1.5, .5e3 -- c\n/* d\n */ FROM {{ ref('m') }} AS t\n"
            "WHERE a <> 2 AND s || 'y' >= x.y;")
    toks = streamt._SqlLexer.tokens_fast(text)
    assert toks is not None
    assert toks == streamt._SqlLexer.tokens_general(text)
    for text in ("'open", "x /* open", "{{ ref('m')", "é", "a\xa0b", ".٣"):
        assert streamt._SqlLexer.tokens_fast(text) is None


def test_tokens_without_comments_are_the_tokens_with_comments_filtered():
    text = "SELECT 1 -- a\n, /* b */ 2 FROM t"
    every = streamt.sql_tokens(text)
    assert streamt.sql_tokens(text, comments=False) == [t for t in every
                                                        if t.kind != "comment"]
    assert streamt.sql_tokens(text, comments=False) == streamt._SqlLexer.tokens_general(text,
                                                                                   False)
    # callers get their own lists
    every.append(None)
    assert None not in streamt.sql_tokens(text)


# -- the query helpers against their reference (the code they replaced) ---------------
#
# The reference functions below are the SQL section's code before it was made faster
# (commit 4bfcb01), written with is_keyword(), _opens() and _closes() for every token.

def _ref_opens(t):
    return (t.kind == "op" and t.text in ("(", "[")) or streamt.is_keyword(t, "CASE")


def _ref_closes(t):
    return (t.kind == "op" and t.text in (")", "]")) or streamt.is_keyword(t, "END")


def _ref_depth_split(toks, sep=","):
    parts, cur, depth = [], [], 0
    for t in toks:
        if _ref_opens(t):
            depth += 1
        elif _ref_closes(t):
            depth -= 1
        if depth == 0 and t.kind == "op" and t.text == sep:
            parts.append(cur)
            cur = []
        else:
            cur.append(t)
    parts.append(cur)
    return parts


def _ref_top_level(toks):
    out, depth = [], 0
    for i, t in enumerate(toks):
        if _ref_closes(t):
            depth -= 1
        if depth == 0:
            out.append(i)
        if _ref_opens(t):
            depth += 1
    return out


def _ref_matching(toks, i):
    depth = 0
    for j in range(i, len(toks)):
        if _ref_opens(toks[j]):
            depth += 1
        elif _ref_closes(toks[j]):
            depth -= 1
            if depth == 0:
                return j
    return len(toks) - 1


def _ref_is_stateful(tokens):
    is_keyword = streamt.is_keyword
    toks = [t for t in tokens if t.kind != "comment"]
    for i, t in enumerate(toks):
        if t.kind != "ident":
            continue
        w = t.text.upper()
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if w in ("JOIN", "OVER", "MATCH_RECOGNIZE"):
            return True
        if w in ("GROUP", "ORDER") and is_keyword(nxt, "BY"):
            return True
        if w == "SELECT" and is_keyword(nxt, "DISTINCT"):
            return True
        # (added with the product: set operations that remove duplicates keep state)
        if w in ("EXCEPT", "INTERSECT") or (w == "UNION" and not is_keyword(nxt, "ALL")):
            return True
        if w in streamt.SqlShape.STATEFUL_FUNCS and nxt is not None and nxt.kind == "op" and \
                nxt.text == "(":
            return True
    return _ref_reads_more_than_one_relation(toks)


def _ref_reads_more_than_one_relation(toks):
    # (issue 18) a second SELECT, a set operation, LATERAL/UNNEST/TABLE(, or a comma
    # inside a FROM clause (between FROM and the word that ends it, at its own depth)
    words = [t.text.upper() if t.kind == "ident" else None for t in toks]
    if words.count("SELECT") > 1 or any(w in ("UNION", "MINUS", "LATERAL", "UNNEST")
                                         for w in words):
        return True
    for i, t in enumerate(toks):
        if words[i] == "TABLE" and i + 1 < len(toks) and toks[i + 1].text == "(" and \
                toks[i + 1].kind == "op":
            return True
        if words[i] != "FROM":
            continue
        depth = 0
        for u, w in zip(toks[i + 1:], words[i + 1:]):
            if u.kind == "op" and u.text == "(":
                depth += 1
            elif u.kind == "op" and u.text == ")":
                depth -= 1
                if depth < 0:
                    break
            elif depth == 0 and w in streamt.SqlShape.FROM_ENDS:
                break
            elif depth == 0 and u.kind == "op" and u.text == ",":
                return True
    return False


def _ref_is_plain_select_star(toks):
    is_keyword = streamt.is_keyword
    if len(toks) < 4 or not (is_keyword(toks[0], "SELECT") and toks[1].text == "*"
                             and is_keyword(toks[2], "FROM")):
        return False
    return not any(is_keyword(t, "WHERE", "LIMIT") for t in toks)


def _ref_quote_string(value):
    if isinstance(value, bool):
        value = "true" if value else "false"
    return "'" + str(value).replace("'", "''") + "'"


def _ref_quote_ident(name):
    return "`" + str(name).replace("`", "``") + "`"


_QUERY_PIECES = [
    "SELECT", "select", "DISTINCT", "ALL", "FROM", "WHERE", "GROUP", "ORDER", "BY", "JOIN",
    "LEFT", "OVER", "MATCH_RECOGNIZE", "LIMIT", "UNION", "LATERAL", "TABLE", "HAVING", "CASE", "case", "End", "WHEN", "THEN", "ELSE",
    "COUNT", "sum", "ROW_NUMBER", "RANK", "TUMBLE", "HOP", "AS", "a", "b", "t", "caſe",
    "eNd", "ſelect", "(", ")", "[", "]", ",", ";", "*", ".", "=", "1", "'x'", "`q`", '"d"',
    "-- c\n", "/* c */", "{{ ref('m') }}", "{{ source(\"s\") }}", "{% x %}", "\n",
]


def _query_tokens(pieces):
    try:
        return streamt.sql_tokens(" ".join(pieces))
    except SqlError:
        return None


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_QUERY_PIECES), max_size=25))
def test_nesting_helpers_match_their_reference(pieces):
    toks = _query_tokens(pieces)
    if toks is None:
        return
    for sig in (toks, [t for t in toks if t.kind != "comment"]):
        assert streamt._Analysis.top_level(sig) == _ref_top_level(sig)
        for sep in (",", "(", ")", ";"):
            assert streamt.SqlAnalysis.depth_split(sig, sep) == _ref_depth_split(sig, sep)
        for i in range(len(sig)):
            assert streamt._Analysis.matching(sig, i) == _ref_matching(sig, i)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_QUERY_PIECES), max_size=25))
def test_materialization_rules_match_their_reference(pieces):
    toks = _query_tokens(pieces)
    if toks is None:
        return
    assert streamt.is_stateful(toks) == _ref_is_stateful(toks)
    sig = [t for t in toks if t.kind != "comment"]
    assert streamt.SqlShape.is_plain_select_star(sig) == _ref_is_plain_select_star(sig)
    sql = " ".join(pieces)
    if not sql.strip():
        return
    shape = ("stateful" if _ref_is_stateful(sig) else
             "star" if _ref_is_plain_select_star(sig) else "other")
    assert streamt.SqlShape.shape(sql) == shape
    assert streamt.SqlShape.shape(sql) == shape  # remembered


def test_unreadable_sql_has_the_error_shape_and_is_not_remembered_wrongly():
    assert streamt.SqlShape.shape("SELECT 'x") == "error"
    assert streamt.SqlShape.shape(["not", "text"]) == "error"
    assert infer_materialization({"sql": "SELECT 'x"}) == ("flink", "flink")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES + _QUERY_PIECES), max_size=15))
def test_template_calls_are_remembered_exactly(pieces):
    sql = "".join(pieces)

    def ref():
        out = []
        for tok in streamt.sql_tokens(sql):
            if tok.kind == "template":
                call = streamt.SqlTemplates.parse_template_call_uncached(tok.text)
                if call:
                    out.append((call[0], call[1], tok.line, tok.col))
                else:
                    out.append(("unsupported", tok.text, tok.line, tok.col))
            elif tok.kind == "block":
                out.append(("unsupported", tok.text, tok.line, tok.col))
        return out

    try:
        expected = ref()
    except Exception as e:  # SqlError, or the general tokenizer's crash on "²"
        for _ in range(2):
            try:
                streamt.template_calls(sql)
            except Exception as e2:
                assert type(e2) is type(e)
                if isinstance(e, SqlError):
                    assert (e2.message, e2.location.line, e2.location.col) == (
                        e.message, e.location.line, e.location.col)
            else:
                raise AssertionError("no error")
        return
    for _ in range(2):
        got = streamt.template_calls(sql)
        assert got == expected
        got.append(None)  # a caller's list is its own
    for tok in streamt.sql_tokens(sql):
        if tok.kind == "template":
            for _ in range(2):
                assert streamt.SqlTemplates.parse_template_call(tok.text) == \
                    streamt.SqlTemplates.parse_template_call_uncached(tok.text)


@given(st.one_of(st.text(max_size=10), st.booleans(), st.integers(), st.floats(),
                 st.none()))
def test_quoting_matches_its_reference(value):
    assert quote_string(value) == _ref_quote_string(value)
    assert quote_ident(value) == _ref_quote_ident(value)


class _Name(str):
    def __str__(self):
        return "other"


def test_quoting_of_str_subclasses_still_uses_their_str():
    assert quote_string(_Name("x")) == _ref_quote_string(_Name("x")) == "'other'"
    assert quote_ident(_Name("x")) == _ref_quote_ident(_Name("x")) == "`other`"


def _ref_column_ref(expr):
    if len(expr) == 1 and expr[0].kind in ("ident", "qident") and not streamt.is_keyword(
            expr[0], "NULL", "TRUE", "FALSE", *streamt._Analysis.NILADIC):
        return None, streamt._Analysis.ident_name(expr[0])
    if len(expr) == 3 and expr[1].text == "." and all(
            t.kind in ("ident", "qident") for t in (expr[0], expr[2])):
        return streamt._Analysis.ident_name(expr[0]), streamt._Analysis.ident_name(expr[2])
    return None


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(_QUERY_PIECES + ["null", "current_date", "True", "x"]),
                max_size=4))
def test_column_ref_matches_its_reference(pieces):
    toks = _query_tokens(pieces)
    if toks is None:
        return
    assert streamt.SqlAnalysis.column_ref(toks) == _ref_column_ref(toks)


def _ref_lookup(columns, name, qualifier=None):
    lname = name.lower()
    for alias, col in columns:
        if col.name.lower() == lname and (qualifier is None or (
                alias is not None and alias.lower() == qualifier.lower())):
            return col
    return None


_NAMES = st.sampled_from(["a", "A", "b", "window_time", "Window_Time", "ß", "SS", "ſ", "s"])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(st.tuples(st.one_of(st.none(), _NAMES), _NAMES), max_size=4),
                max_size=4),
       st.lists(st.tuples(_NAMES, st.one_of(st.none(), _NAMES)), max_size=6))
def test_scope_lookup_matches_its_reference(batches, lookups):
    scope = streamt._Analysis.Scope()
    for batch in batches:
        # columns come in batches, with lookups in between (like _from_scope)
        for alias, name in batch:
            scope.columns.append((alias, streamt.Column(name, "STRING")))
        for name, qualifier in lookups:
            assert scope.lookup(name, qualifier) is _ref_lookup(scope.columns, name, qualifier)
