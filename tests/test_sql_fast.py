"""Differential tests of the SQL section's fast paths against the general code they
stand in for: the one-regex tokenizer (_sql_tokens_fast) against the character by
character tokenizer (_sql_tokens_general)."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamt
from streamt import SqlError

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
    fast = streamt._sql_tokens_fast(text, comments)
    general = run(streamt._sql_tokens_general)
    return fast, general, run(streamt._sql_tokens)


def _check(text):
    for comments in (True, False):
        fast, general, used = _both(text, comments)
        # whatever the fast path reads, it reads exactly like the general path
        if fast is not None:
            assert general == ("ok", fast), text
        # and the tokenizer as used gives the general path's result (or error)
        assert used == general, text


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
    toks = streamt._sql_tokens_fast(text)
    assert toks is not None
    assert toks == streamt._sql_tokens_general(text)
    for text in ("'open", "x /* open", "{{ ref('m')", "é", "a\xa0b", ".٣"):
        assert streamt._sql_tokens_fast(text) is None


def test_tokens_without_comments_are_the_tokens_with_comments_filtered():
    text = "SELECT 1 -- a\n, /* b */ 2 FROM t"
    every = streamt.sql_tokens(text)
    assert streamt.sql_tokens(text, comments=False) == [t for t in every
                                                        if t.kind != "comment"]
    assert streamt.sql_tokens(text, comments=False) == streamt._sql_tokens_general(text,
                                                                                   False)
    # callers get their own lists
    every.append(None)
    assert None not in streamt.sql_tokens(text)
