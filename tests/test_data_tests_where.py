"""custom_sql in sample tests: the `where` of a custom_sql assertion is the condition the
continuous test's job selects violations with (reference: streamt-format.md 3.4), so a
sample test fails the records it selects.  SQL's three-valued logic: a comparison with a
null or missing column is UNKNOWN, and an UNKNOWN where selects nothing."""
import json
from xml.etree import ElementTree as ET

import pytest

import streamt

W = streamt._RecordWhere

R = {"amount": 12.5, "qty": 3, "status": "paid", "name": "Ada_Lovelace", "ok": True,
     "none": None, "text_num": "42", "nested": {"a": 1}}

# (where, record, what the where gives: True / False / None for UNKNOWN)
TABLE = [
    ("amount > 10", R, True),
    ("amount > 20", R, False),
    ("amount >= 12.5 AND qty <= 3", R, True),
    ("amount = 12.5", R, True),
    ("qty <> 3", R, False),
    ("qty != 4", R, True),
    ("qty > -1", R, True),
    ("status = 'paid'", R, True),
    ("status < 'q'", R, True),
    ("`status` = 'paid'", R, True),
    ("STATUS = 'paid'", R, True),  # a column differing only in case
    ("text_num = 42", R, True),  # a string compared with a number is read as a number
    ("ok = TRUE", R, True),
    ("ok IS TRUE", R, True),
    ("ok IS FALSE", R, False),
    ("ok IS NOT FALSE", R, True),
    # NULL: UNKNOWN, not a failure
    ("none > 0", R, None),
    ("missing > 0", R, None),
    ("none = NULL", R, None),
    ("none <> 1", R, None),
    ("NOT none > 0", R, None),
    ("none IS NULL", R, True),
    ("missing IS NULL", R, True),
    ("amount IS NULL", R, False),
    ("amount IS NOT NULL", R, True),
    ("none IS UNKNOWN", R, True),
    ("none IS NOT TRUE", R, True),
    ("none IS TRUE", R, False),
    # AND / OR with UNKNOWN
    ("none > 0 AND amount > 0", R, None),
    ("none > 0 AND amount < 0", R, False),
    ("none > 0 OR amount > 0", R, True),
    ("none > 0 OR amount < 0", R, None),
    ("none IS NULL OR none < 0", R, True),
    ("NOT (amount > 0 OR qty > 5)", R, False),
    ("NOT amount > 20 AND status = 'paid'", R, True),
    ("(amount > 20 OR qty = 3) AND NOT ok = FALSE", R, True),
    # IN
    ("status IN ('new', 'paid')", R, True),
    ("status NOT IN ('new', 'paid')", R, False),
    ("status IN ('new')", R, False),
    ("status NOT IN ('new', NULL)", R, None),
    ("status IN ('paid', NULL)", R, True),
    ("none IN (1, 2)", R, None),
    ("qty IN (1, 2, 3)", R, True),
    # BETWEEN
    ("qty BETWEEN 1 AND 3", R, True),
    ("qty NOT BETWEEN 1 AND 3", R, False),
    ("amount BETWEEN 13 AND 20", R, False),
    ("none BETWEEN 1 AND 3", R, None),
    ("qty BETWEEN 1 AND 3 AND status = 'paid'", R, True),
    # LIKE
    ("name LIKE 'Ada%'", R, True),
    ("name LIKE '%love%'", R, False),  # case-sensitive
    ("name LIKE '%Love%'", R, True),
    ("name LIKE 'Ad_\\_%' ESCAPE '\\'", R, True),
    ("name LIKE 'Ada!_L%' ESCAPE '!'", R, True),
    ("name LIKE 'Ada!%' ESCAPE '!'", R, False),
    ("name NOT LIKE '%x%'", R, True),
    ("name LIKE '____________'", R, True),
    ("name LIKE '___________'", R, False),
    ("none LIKE '%'", R, None),
    # comments and layout do not matter
    ("amount > 10 -- big\n  AND /* and */ qty = 3", R, True),
]


@pytest.mark.parametrize("where,record,want", TABLE)
def test_the_where_of_a_record(where, record, want):
    cond = W(where)
    assert cond.value(cond.tree, record) is want
    # a record fails only when the where is TRUE (UNKNOWN selects nothing)
    assert cond.selects(record) is (want is True)


@pytest.mark.parametrize("where,reason", [
    ("UPPER(status) = 'PAID'", "the function UPPER"),
    ("COUNT(*) > 1", "the function COUNT (an aggregate"),
    ("amount * qty > 100", "the operator *"),
    ("status || 'x' = 'paidx'", "the operator ||"),
    ("o.amount > 0", "a qualified name"),
    ("amount IN (SELECT amount FROM other)", "a sub-query"),
    ("EXISTS (SELECT 1)", "a sub-query"),
    ("CAST(amount AS INT) > 1", "CAST"),
    ("CASE WHEN amount > 0 THEN TRUE END", "CASE"),
    ("status = \"paid\"", "the double-quoted"),
    ("amount >", "ends early"),
    ("amount > 1 qty", "unexpected 'qty'"),
    ("status = 'open", "does not read as SQL"),
    ("", "empty"),
    ("(" * 200 + "amount > 0" + ")" * 200, "nested more than"),
    (" OR ".join(["amount > 0"] * 400), "more than 1000 tokens"),
])
def test_what_the_record_alone_does_not_decide_is_refused_with_a_reason(where, reason):
    with pytest.raises(W.Unsupported) as e:
        W(where)
    assert reason in e.value.args[0]


@pytest.mark.parametrize("where,record", [
    ("status > 1", R),          # text that is no number
    ("nested = 1", R),          # an object
    ("ok = 1", R),              # a boolean against a number
    ("amount LIKE '1%'", R),    # LIKE on a number
    ("amount AND qty > 1", R),  # a number as a condition
])
def test_values_that_cannot_be_compared_are_mismatches(where, record):
    cond = W(where)
    with pytest.raises(W.Mismatch):
        cond.selects(record)


def rec(offset, value, partition=0):
    return streamt.KafkaRecord("t", partition, offset, 0, None, json.dumps(value).encode(), [])


def test_a_sample_test_fails_the_records_its_where_selects_by_offset():
    records = [rec(0, {"id": 1, "amount": 5}), rec(1, {"id": 2, "amount": -3}),
               rec(2, {"id": 3, "amount": None}), rec(3, {"id": 4}),
               rec(4, {"id": 5, "amount": "many"}), rec(5, {"id": 6, "amount": 0})]
    test = {"name": "t", "type": "sample", "assertions": [
        {"custom_sql": {"name": "negative", "where": "amount < 0", "detail_column": "id"}},
        {"custom_sql": {"where": "amount IS NULL OR amount = 0"}},
        {"custom_sql": {"name": "upper", "where": "UPPER(status) = 'X'"}},
        {"custom_sql": {"name": "nothing"}},
    ]}
    got = dict((a["assertion"], a) for a in streamt.DataTests.evaluate(test, records))
    neg = got["custom_sql:negative"]
    assert neg["status"] == "fail" and neg["checked"] == 6 and neg["failed"] == 2
    assert [(f["offset"], f["detail"]) for f in neg["failures"]] == [
        (1, "where selects it: id = 2"),
        (4, 'where cannot be evaluated: cannot compare "many" with the number 0')]
    # the null and the missing amount are UNKNOWN: no failure; IS NULL makes them fail
    custom = got["custom_sql:custom"]
    assert [(f["offset"], f["detail"]) for f in custom["failures"]] == [
        (2, "where selects it: amount = null"), (3, "where selects it: amount = null"),
        (4, 'where cannot be evaluated: cannot compare "many" with the number 0'),
        (5, "where selects it: amount = 0")]
    assert got["custom_sql:upper"]["status"] == "not_checked"
    assert got["custom_sql:upper"]["reason"] == "not evaluated on records: the function UPPER"
    assert got["custom_sql:nothing"]["reason"] == (
        "not evaluated on records: custom_sql has no `where` condition")


def test_a_where_that_passes_every_record_passes():
    records = [rec(i, {"amount": i}) for i in range(10)]
    test = {"name": "t", "type": "sample",
            "assertions": [{"custom_sql": {"name": "neg", "where": "amount < 0"}}]}
    (_json, res) = streamt.DataTests.evaluate(test, records)
    assert (res["assertion"], res["status"], res["checked"], res["failed"]) == (
        "custom_sql:neg", "pass", 10, 0)


def test_an_unevaluated_where_shows_in_text_and_junit():
    report = {"project": "p", "environment": "dev", "summary": {
        "passed": 1, "failed": 0, "not_run": 0}, "tests": [{
            "name": "t", "model": "m", "type": "sample", "topic": "m", "records": 3,
            "complete": True, "status": "pass", "assertions": [
                {"assertion": "custom_sql:upper", "status": "not_checked", "checked": 0,
                 "failed": 0, "failures": [],
                 "reason": "not evaluated on records: the function UPPER"}]}]}
    text = streamt.DataTests.render(report)
    assert "custom_sql:upper: not checked: not evaluated on records: the function UPPER" in text
    case = ET.fromstring(streamt.DataTests.junit(report)).find("testsuite/testcase")
    assert case.find("system-out").text == (
        "not checked: custom_sql:upper: not evaluated on records: the function UPPER")


def test_like_is_bounded_on_a_hostile_pattern():
    import time
    text = "a" * 3000
    start = time.perf_counter()
    assert W.like(text, "%a%", None) is True
    base = time.perf_counter() - start
    start = time.perf_counter()
    # a backtracking matcher takes exponential time on this
    assert W.like(text, "%a" * 20 + "%b", None) is False
    hostile = time.perf_counter() - start
    assert hostile < max(base, 1e-3) * 2000
