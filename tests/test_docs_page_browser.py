"""The docs page in a real headless Chromium (tests/services/chromium.py: Debian's `chromium`,
installed with apt-get by the test setup when missing; the tests skip, saying why, when no
Chromium can be had).

What a user would notice: the page opens from file:// with no console error and no request
other than the page itself (the browser's own request log), every model is drawn, typing in
the search box narrows the view, and a hostile name is shown literally.  The screenshots are
kept in $STREAMT_TEST_ARTIFACTS (default dist/test-artifacts/) for a human to look at.
"""
import json
import os

import pytest

from tests.bench.gen_project import generate
from tests.services import chromium
from tests.test_docs_page import HOSTILE, ROOT, SHOP, run, write_hostile_project

ARTIFACTS = os.environ.get("STREAMT_TEST_ARTIFACTS") or os.path.join(ROOT, "dist",
                                                                    "test-artifacts")


@pytest.fixture(scope="module")
def browser():
    try:
        binary = chromium.ensure_chromium()
    except chromium.BrowserError as e:
        pytest.skip("no headless Chromium: %s" % e)
    with chromium.Browser(1200, 800, binary=binary) as b:
        yield b


def page_of(project, out, *args):
    r = run("docs", "generate", "-p", project, "-o", out, *args)
    assert r.returncode == 0, r.stderr
    return os.path.join(out, "index.html")


def open_clean(browser, page):
    url = "file://" + page
    browser.open(url)
    assert browser.errors() == []
    assert browser.requests() == [url]       # the page itself, nothing else
    return url


def drawn(browser, cls="g.node"):
    return browser.evaluate("Array.prototype.map.call(document.querySelectorAll(%s), "
                            "function (g) { return g.getAttribute('data-name'); })"
                            % json.dumps("#dag " + cls))


def visible(browser):
    return browser.evaluate("Array.prototype.filter.call(document.querySelectorAll("
                            "'#dag g.node'), function (g) { return !g.classList.contains("
                            "'dim'); }).map(function (g) { return g.getAttribute('data-name'); })")


def keep_screenshot(browser, name):
    if not os.path.isdir(ARTIFACTS):
        os.makedirs(ARTIFACTS)
    path = browser.screenshot(os.path.join(ARTIFACTS, name))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_shop_page_offline_every_model_and_search(browser, tmp_path):
    page = page_of(SHOP, str(tmp_path / "docs"), "-e", "dev")
    open_clean(browser, page)
    assert sorted(drawn(browser)) == ["customer_totals", "customers", "finance_dashboard",
                                      "orders", "orders_clean", "revenue_archive",
                                      "revenue_per_minute"]
    keep_screenshot(browser, "docs-shop.png")
    browser.type_text("#search", "revenue")
    assert sorted(visible(browser)) == ["revenue_archive", "revenue_per_minute"]
    assert browser.evaluate("document.getElementById('count').textContent") == "2 of 7"
    keep_screenshot(browser, "docs-shop-search.png")
    assert browser.errors() == [] and len(browser.requests()) == 1


def test_300_models_all_drawn_and_searchable(browser, tmp_path):
    project = str(tmp_path / "p300")
    generate(300, project)
    page = page_of(project, str(tmp_path / "docs"))
    open_clean(browser, page)
    models = drawn(browser, "g.node.model")
    assert sorted(models) == sorted("m_%d" % i for i in range(300))
    keep_screenshot(browser, "docs-300-models.png")
    browser.type_text("#search", "m_29")
    assert sorted(visible(browser)) == ["m_29"] + ["m_%d" % i for i in range(290, 300)]
    assert browser.errors() == [] and len(browser.requests()) == 1


def test_hostile_names_are_shown_not_run(browser, tmp_path):
    root = str(tmp_path / "hostile")
    write_hostile_project(root)
    page = page_of(root, str(tmp_path / "docs"))
    open_clean(browser, page)                  # no alert dialog, no request for img src=x
    assert browser.evaluate("document.title") != "pwned"
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    assert browser.evaluate("document.querySelectorAll('script').length") == 1
    assert HOSTILE in drawn(browser)
    assert HOSTILE in browser.evaluate("document.body.textContent")
    keep_screenshot(browser, "docs-hostile.png")


def test_long_names_are_cut_inside_their_box(browser, tmp_path):
    """A name too long for its box is cut with an ellipsis and never runs past the box edge
    (the whole name is in the box's tooltip and in its section)."""
    root = str(tmp_path / "hostile")
    write_hostile_project(root)
    page = page_of(root, str(tmp_path / "docs"))
    open_clean(browser, page)
    overflow = browser.evaluate(
        "Array.prototype.map.call(document.querySelectorAll('#dag g.node'), function (g) {"
        " var t = g.querySelector('text.name'), r = g.querySelector('rect');"
        " return [g.getAttribute('data-name'), t.getComputedTextLength() + t.x.baseVal[0].value,"
        " r.width.baseVal.value]; }).filter(function (a) { return a[1] > a[2] - 4; })")
    assert overflow == []


def test_artifact_page_offline_with_its_manifest(browser, tmp_path):
    art = str(tmp_path / "shop-dev")
    assert run("build", "-p", SHOP, "-e", "dev", "-o", art).returncode == 0
    out = str(tmp_path / "docs")
    r = run("artifact", "docs", art, "-o", out)
    assert r.returncode == 0, r.stderr
    open_clean(browser, os.path.join(out, "index.html"))
    assert sorted(drawn(browser)) == ["customer_totals", "orders", "orders_clean",
                                      "revenue_archive", "revenue_per_minute"]
    text = browser.evaluate("document.body.innerText")
    assert "all verified" in text and "unsigned" in text
    keep_screenshot(browser, "docs-artifact.png")
