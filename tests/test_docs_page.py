"""`streamt docs generate` and `streamt artifact docs`: one offline HTML page + manifest.json.

What a user would notice: every model is on the page, the page asks nothing from the network,
the same input gives the same bytes (on every CPython), names are shown literally (never run
as HTML or script), secrets are redacted, a 300-model project is drawn quickly without
overlapping boxes, and a damaged artifact gets no page.  tests/test_docs_page_browser.py opens
the pages in a real headless Chromium.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

import streamt
from tests.bench.gen_project import generate
from tests.test_zipapp import PYTHONS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOP = os.path.join(ROOT, "examples", "shop")

# a name with every character that means something in HTML, an attribute or a script
HOSTILE = "m</script><script>document.title='pwned'</script>&amp;\"'<img src=x onerror=alert(1)>"


def run(*args, **kw):
    return subprocess.run([sys.executable, os.path.join(ROOT, "streamt.py")] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kw)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write_hostile_project(root):
    """A project whose names, description, owner and tags are HTML and script, and whose sink
    connector has a password."""
    os.makedirs(os.path.join(root, "models"))
    os.makedirs(os.path.join(root, "sources"))
    with open(os.path.join(root, "stream_project.yml"), "w") as f:
        f.write("project:\n  name: \"x<b>&amp;\"\n  description: \"</script><script>alert(1)"
                "</script>\"\nruntime:\n  kafka:\n    bootstrap_servers: k:9092\n"
                "  flink:\n    default: main\n    clusters:\n      main:\n"
                "        rest_url: http://flink:8081\n        sql_gateway_url: http://flink:8083\n"
                "  connect:\n    default: main\n    clusters:\n      main:\n"
                "        rest_url: http://connect:8083\n")
    with open(os.path.join(root, "sources", "s.yml"), "w") as f:
        f.write("sources:\n  - name: \"src<&\\\"'</script>\"\n    topic: raw.orders\n"
                "    owner: \"<img src=x onerror=alert(1)>\"\n"
                "    columns:\n      - {name: id, type: STRING}\n")
    name = json.dumps(HOSTILE)  # a JSON string is a YAML double-quoted scalar
    with open(os.path.join(root, "models", "m.yml"), "w") as f:
        f.write("models:\n  - name: %s\n    description: \"<b>bold</b> & \\\"quoted\\\"\"\n"
                "    tags: [\"<i>t</i>\"]\n    sql: |\n"
                "      SELECT id FROM {{ source(\"src<&\\\"'</script>\") }}\n"
                "  - name: archive\n    from:\n      - ref: %s\n    sink:\n"
                "      connector: org.apache.kafka.connect.file.FileStreamSinkConnector\n"
                "      config:\n        file: /tmp/x\n        connection.password: hunter2-secret\n"
                % (name, name))


@pytest.fixture(scope="module")
def shop_page(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("shop-docs"))
    r = run("docs", "generate", "-p", SHOP, "-e", "dev", "-o", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Documentation generated at %s" % out
    return out


def test_docs_generate_writes_a_page_with_every_node(shop_page):
    html = read(os.path.join(shop_page, "index.html")).decode("utf-8")
    project = streamt.load_project(SHOP, env="dev")
    svg = html[html.index("<svg"):html.index("</svg>")]
    for kind in ("sources", "models", "exposures"):
        for spec in getattr(project, kind):
            assert 'data-name="%s"' % spec["name"] in svg, spec["name"]
            assert 'id="n-%s_3a_%s"' % (kind[:-1], spec["name"].replace("_", "_5f_")) in html
    # the details a reviewer looks for
    assert "Orders with a positive amount, card numbers hashed" in html  # description
    assert "team-checkout" in html                                        # owner
    assert "shop.orders.clean.v1" in html and "604800000" in html         # topic + config
    assert "INSERT INTO" in html                                          # the Flink SQL
    assert "FileStreamSinkConnector" in html                              # connector config
    assert "orders_clean_quality" in html and "not_null" in html          # tests, assertions
    assert "models.require_owner: true" in html                           # rules that apply
    assert "<code>TIMESTAMP(3)</code>" in html                            # column types


def test_the_page_needs_nothing_from_anywhere(shop_page):
    html = read(os.path.join(shop_page, "index.html")).decode("utf-8")
    # no element that loads something: scripts and styles are inline, links are anchors
    assert not re.search(r"<(link|iframe|img|object|embed|audio|video|source)\b", html)
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert re.findall(r'\bhref="([^"#][^"]*)"', html) == []
    assert "url(" not in html and "@import" not in html
    # the only absolute URL is the SVG namespace, which is a name, not a fetch
    assert set(re.findall(r"https?://[^\s\"'<]+", html)) <= {"http://www.w3.org/2000/svg"}


def test_same_project_same_bytes(shop_page, tmp_path):
    again = str(tmp_path / "again")
    r = run("docs", "generate", "-p", SHOP, "-e", "dev", "-o", again,
            env=dict(os.environ, PYTHONHASHSEED="123", TZ="Asia/Tokyo"))
    assert r.returncode == 0, r.stderr
    for name in ("index.html", "manifest.json"):
        assert read(os.path.join(again, name)) == read(os.path.join(shop_page, name))


@pytest.mark.skipif(len(PYTHONS) < 2, reason="needs several CPythons (pyenv)")
def test_same_bytes_on_every_python(tmp_path):
    project = str(tmp_path / "p40")
    generate(40, project)
    outputs = {}
    # the oldest and the newest (3.6 and 3.13): PYTHONS is in name order, 3.10 before 3.6
    by_version = sorted(PYTHONS, key=lambda p: tuple(
        int(x) for x in re.findall(r"\d+", p.split("/")[-3])))
    for py in (by_version[0], by_version[-1]):
        out = str(tmp_path / os.path.basename(os.path.dirname(os.path.dirname(py))))
        for p, env in ((SHOP, "dev"), (project, None)):
            args = [py, os.path.join(ROOT, "streamt.py"), "docs", "generate", "-p", p,
                    "-o", os.path.join(out, os.path.basename(p))]
            r = subprocess.run(args + (["-e", env] if env else []), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=True)
            assert r.returncode == 0, (py, r.stderr)
        outputs[py] = dict((os.path.relpath(os.path.join(d, f), out), read(os.path.join(d, f)))
                           for d, _s, files in os.walk(out) for f in files)
    first, last = outputs.values()
    assert sorted(first) == sorted(last) and len(first) == 4
    for name in first:
        assert first[name] == last[name], "%s differs between %s" % (name, list(outputs))


def test_names_are_shown_literally_never_interpreted(tmp_path):
    root = str(tmp_path / "hostile")
    write_hostile_project(root)
    out = str(tmp_path / "docs")
    r = run("docs", "generate", "-p", root, "-o", out)
    assert r.returncode == 0, r.stderr
    html = read(os.path.join(out, "index.html")).decode("utf-8")
    # exactly one script element (ours) and no element the names brought in
    assert html.count("<script") == 1 and html.count("</script") == 1
    assert "<img" not in html and "<b>" not in html and "<i>" not in html
    assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    # every name is there, escaped: text and attribute
    import html as html_lib
    assert html_lib.escape(HOSTILE, quote=True) in html
    assert html_lib.escape("src<&\"'</script>", quote=True) in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the description
    # the companion keeps the names as they are
    doc = json.loads(read(os.path.join(out, "manifest.json")).decode("utf-8"))
    assert HOSTILE in [m["name"] for m in doc["models"]]
    # the connector's password is redacted (by the policy inspect uses), in both files
    assert "hunter2" not in html and b"hunter2" not in read(os.path.join(out, "manifest.json"))
    archive = [m for m in doc["models"] if m["name"] == "archive"][0]
    assert archive["connector"]["config"]["connection.password"] == streamt.REDACTED


def test_manifest_json_shape(shop_page):
    doc = json.loads(read(os.path.join(shop_page, "manifest.json")).decode("utf-8"))
    assert sorted(doc) == ["artifact", "dag", "docs_format", "environment", "exposures",
                           "generator", "models", "origin", "problems", "project", "rules",
                           "sources", "tests"]
    assert doc["docs_format"] == "1" and doc["origin"] == "project" and doc["artifact"] is None
    assert doc["project"] == {"name": "shop", "version": "1.2.0",
                              "description": "Orders pipeline of the example shop"}
    assert [m["name"] for m in doc["models"]] == ["customer_totals", "orders_clean",
                                                  "revenue_archive", "revenue_per_minute"]
    m = dict((x["name"], x) for x in doc["models"])["orders_clean"]
    assert sorted(m) == ["columns", "connector", "description", "downstream", "id", "layout",
                         "materialized", "name", "owner", "rules", "sql", "tags", "tests",
                         "topic", "type", "upstream"]
    assert m["id"] == "model:orders_clean" and m["upstream"] == ["source:orders"]
    assert m["topic"]["name"] == "shop.orders.clean.v1" and m["topic"]["partitions"] == 3
    assert {"name": "amount", "type": "DOUBLE", "description": None} in m["columns"] or \
        any(c["name"] == "amount" for c in m["columns"])
    assert m["tests"][0]["name"] == "orders_clean_quality"
    assert m["tests"][0]["assertions"][0] == {"not_null": {"columns": ["order_id",
                                                                       "customer_id"]}}
    dag = doc["dag"]
    assert sorted(dag) == ["edges", "height", "nodes", "width"]
    assert {"from": "source:orders", "to": "model:orders_clean"} in dag["edges"]
    assert sorted(dag["nodes"][0]) == ["downstream", "id", "materialized", "name", "type",
                                       "upstream"]
    # sources first, then models, sinks and exposures last
    layers = dict((n["id"], n["layout"]["layer"])
                  for g in ("sources", "models", "exposures") for n in doc[g])
    assert layers["source:orders"] == 0 < layers["model:orders_clean"] < \
        layers["model:revenue_per_minute"] < layers["exposure:finance_dashboard"]
    assert layers["model:revenue_archive"] == layers["exposure:finance_dashboard"]


def test_300_models_every_one_drawn_fast_and_apart(tmp_path):
    project = str(tmp_path / "p300")
    generate(300, project)
    out = str(tmp_path / "docs")
    t0 = time.time()
    r = run("docs", "generate", "-p", project, "-o", out)
    took = time.time() - t0
    assert r.returncode == 0, r.stderr
    assert took < 20, "docs generate of 300 models took %.1fs" % took
    html = read(os.path.join(out, "index.html")).decode("utf-8")
    svg = html[html.index("<svg"):html.index("</svg>")]
    names = re.findall(r'<g class="node model" data-id="[^"]*" data-name="([^"]*)"', svg)
    assert sorted(names) == sorted("m_%d" % i for i in range(300))
    doc = json.loads(read(os.path.join(out, "manifest.json")).decode("utf-8"))
    boxes = [(n["layout"]["x"], n["layout"]["y"]) for g in ("sources", "models")
             for n in doc[g]]
    assert len(set(boxes)) == len(boxes) == 330
    w, h = streamt.DocsPage.NODE_W, streamt.DocsPage.NODE_H
    by_row = {}
    for x, y in boxes:
        by_row.setdefault(y, []).append(x)
    for xs in by_row.values():  # boxes of a row never overlap
        xs.sort()
        assert all(b - a >= w for a, b in zip(xs, xs[1:]))
    assert all(0 <= x and x + w <= doc["dag"]["width"] for x, _y in boxes)
    assert all(0 <= y and y + h <= doc["dag"]["height"] for _x, y in boxes)
    # wrapped layers: an overview wider than tall rather than a strip of 130 boxes
    assert doc["dag"]["width"] > doc["dag"]["height"]


def test_layout_is_bounded_on_a_cycle_and_big_graphs():
    nodes = dict(("model:%d" % i, {"id": "model:%d" % i, "name": str(i), "type": "model",
                                   "materialized": "flink"}) for i in range(2000))
    edges = [("model:%d" % i, "model:%d" % ((i * 7 + 1) % 2000)) for i in range(2000)]
    edges += [("model:5", "model:3"), ("model:3", "model:5")]
    t0 = time.time()
    lay = streamt.DocsPage.layout(nodes, sorted(set(edges)))
    assert time.time() - t0 < 10
    assert len(lay["positions"]) == 2000
    assert streamt.DocsPage.layout(nodes, sorted(set(edges))) == lay


def test_artifact_docs_from_a_built_artifact(tmp_path):
    art = str(tmp_path / "shop-dev")
    tgz = str(tmp_path / "shop-dev.tar.gz")
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    for out in (art, tgz):
        r = run("build", "-p", SHOP, "-e", "dev", "-o", out, env=env)
        assert r.returncode == 0, r.stderr
    d1, d2 = str(tmp_path / "d1"), str(tmp_path / "d2")
    r = run("artifact", "docs", art, "-o", d1)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Documentation generated at %s" % d1
    assert run("artifact", "docs", tgz, "-o", d2).returncode == 0
    # a directory and its tarball: the same page
    for name in ("index.html", "manifest.json"):
        assert read(os.path.join(d1, name)) == read(os.path.join(d2, name))
    doc = json.loads(read(os.path.join(d1, "manifest.json")).decode("utf-8"))
    assert doc["origin"] == "artifact" and doc["environment"] == "dev"
    a = doc["artifact"]
    assert a["build_time"] == "2023-11-14T22:13:20Z" and a["signature"] is None
    assert a["checksums"]["verified"] is True and a["checksums"]["files"] > 5
    assert [m["name"] for m in doc["models"]] == ["customer_totals", "orders_clean",
                                                  "revenue_archive", "revenue_per_minute"]
    assert [s["name"] for s in doc["sources"]] == ["orders"]
    models = dict((m["name"], m) for m in doc["models"])
    assert models["revenue_per_minute"]["upstream"] == ["model:orders_clean"]
    assert models["revenue_archive"]["upstream"] == ["model:revenue_per_minute"]
    assert [t["name"] for t in models["orders_clean"]["tests"]] == ["orders_clean_quality"]
    html = read(os.path.join(d1, "index.html")).decode("utf-8")
    for name in models:
        assert 'data-name="%s"' % name in html
    assert "all verified" in html and "unsigned" in html


def test_artifact_docs_refuses_a_tampered_artifact(tmp_path):
    art = str(tmp_path / "shop-dev")
    assert run("build", "-p", SHOP, "-e", "dev", "-o", art).returncode == 0
    with open(os.path.join(art, "topics", "shop.orders.clean.v1.json"), "a") as f:
        f.write(" ")
    out = str(tmp_path / "docs")
    r = run("artifact", "docs", art, "-o", out)
    assert r.returncode == streamt.EXIT_INTEGRITY, r.stderr
    assert "checksum mismatch" in r.stderr and "Traceback" not in r.stderr
    assert not os.path.exists(out)


def test_docs_without_a_subcommand_is_a_usage_error():
    r = run("docs")
    assert r.returncode == streamt.EXIT_USAGE
    assert "generate" in r.stderr


def test_a_project_that_does_not_compile_still_gets_its_page(tmp_path):
    root = str(tmp_path / "p")
    shutil.copytree(SHOP, root)
    with open(os.path.join(root, "models", "sinks.yml"), "w") as f:
        f.write("models:\n  - name: revenue_archive\n    from:\n      - ref: revenue_per_minute\n"
                "    sink:\n      config: {file: /tmp/x}\n")   # no connector class
    out = str(tmp_path / "docs")
    r = run("docs", "generate", "-p", root, "-e", "dev", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "does not compile" in r.stderr
    html = read(os.path.join(out, "index.html")).decode("utf-8")
    assert 'data-name="revenue_archive"' in html and "does not compile" in html
