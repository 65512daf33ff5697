"""Every Flink job streamt generates runs on a real Flink (SQL Gateway + Kafka connector).

Each job's statements go through the SQL Gateway REST API in a session of their own (the
minimal client below is test-side: the product's Flink client belongs to the deploy
section); the job must reach RUNNING and stay there.  Two pipelines are checked end to end
with records produced into Kafka and read back: a window aggregation over a ref() (the
upstream's event time keeps its watermark) and an upsert aggregation.
"""
import json
import os
import time
import urllib.error
import urllib.request
import uuid

import pytest

import streamt


pytestmark = pytest.mark.services

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCEPTANCE = os.path.join(ROOT, "tests", "projects", "acceptance")


def load_project(root, env=None):
    """The project as the CLI loads it (``${VAR}`` references kept)."""
    return streamt.load_project(root, env=env)
SHOP = os.path.join(ROOT, "examples", "shop")


# -- a minimal SQL Gateway / Flink REST client (test side) ---------------------------

def http(method, url, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read().decode()
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        raise AssertionError("%s %s -> HTTP %d: %s" % (method, url, e.code, _causes(text)))
    return json.loads(text) if text.strip() else {}


def _causes(text):
    """The exception lines of a Java stack trace (no 'at ...' frames)."""
    try:
        text = "\n".join(json.loads(text).get("errors", [text]))
    except ValueError:
        pass
    lines = [ln.strip() for ln in text.splitlines()
             if ln.strip() and not ln.strip().startswith(("at ", "..."))]
    causes = [ln for ln in lines if "Exception" in ln or "Error" in ln]
    return "\n".join(causes[-6:] or lines[:20])[:4000]


class Gateway(object):
    def __init__(self, flink):
        self.url = flink.gateway_url.rstrip("/") + "/v1"
        self.rest = flink.rest_url.rstrip("/")

    def session(self):
        return http("POST", self.url + "/sessions", {})["sessionHandle"]

    def close(self, session):
        http("DELETE", "%s/sessions/%s" % (self.url, session))

    def execute(self, session, statement, timeout=90):
        """Run one statement; returns the first result page (raises with Flink's error)."""
        op = http("POST", "%s/sessions/%s/statements" % (self.url, session),
                  {"statement": statement})["operationHandle"]
        base = "%s/sessions/%s/operations/%s" % (self.url, session, op)
        deadline = time.time() + timeout
        while True:
            status = http("GET", base + "/status")["status"]
            if status not in ("RUNNING", "PENDING", "INITIALIZED"):
                break
            if time.time() > deadline:
                raise AssertionError("statement timed out:\n" + statement)
            time.sleep(0.2)
        try:
            result = http("GET", base + "/result/0")
        except AssertionError as e:
            raise AssertionError("Flink refused the statement:\n%s\n\n%s" % (statement, e))
        if status == "ERROR":
            raise AssertionError("Flink refused the statement:\n%s\n\n%s" % (statement, result))
        return result

    def job_state(self, job_id):
        return http("GET", "%s/jobs/%s" % (self.rest, job_id))

    def cancel(self, job_id):
        try:
            http("PATCH", "%s/jobs/%s?mode=cancel" % (self.rest, job_id))
        except AssertionError:
            pass

    def submit(self, sql, env):
        """Run every statement of a job (``${VAR}`` resolved from ``env``) in a fresh
        session; returns the id of the job the INSERT started."""
        sql = streamt.resolve_sql_references(sql, env)
        session = self.session()
        try:
            job_id = None
            for stmt in streamt.split_statements(sql):
                result = self.execute(session, stmt)
                job_id = result.get("jobID") or job_id
            assert job_id, "the job's last statement started no job"
            return job_id
        finally:
            self.close(session)

    def wait_running(self, job_id, timeout=90, stay=3.0):
        """Wait until every task of the job runs, then check it keeps running."""
        deadline = time.time() + timeout
        while True:
            info = self.job_state(job_id)
            if info["state"] in ("FAILED", "CANCELED", "FINISHED"):
                exc = http("GET", "%s/jobs/%s/exceptions" % (self.rest, job_id))
                entries = (exc.get("exceptionHistory") or {}).get("entries") or []
                trace = entries[0].get("stacktrace", "") if entries else json.dumps(exc)
                raise AssertionError("job %s is %s: %s" % (job_id, info["state"],
                                                          _causes(trace)))
            tasks = info.get("status-counts") or {}
            if info["state"] == "RUNNING" and set(k for k, v in tasks.items() if v) <= {"RUNNING"}:
                break
            if time.time() > deadline:
                raise AssertionError("job %s not running after %ss: %s"
                                     % (job_id, timeout, info["state"]))
            time.sleep(0.5)
        time.sleep(stay)
        info = self.job_state(job_id)
        assert info["state"] == "RUNNING", info["state"]


# -- Kafka (test side: kafka-python) --------------------------------------------------

def create_topics(bootstrap, names):
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        for name in sorted(set(names)):
            try:
                admin.create_topics([NewTopic(name, 1, 1)])
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def produce(bootstrap, topic, records):
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=bootstrap)
    for r in records:
        p.send(topic, json.dumps(r).encode())
    p.flush()
    p.close()


def consume(bootstrap, topic, until, timeout=90):
    """Records (key, value) of a topic, read from the start until ``until(records)``."""
    from kafka import KafkaConsumer
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      enable_auto_commit=False, group_id="t-" + uuid.uuid4().hex,
                      consumer_timeout_ms=1000)
    out = []
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            for m in c:
                key = json.loads(m.key) if m.key else None
                value = json.loads(m.value) if m.value else None
                out.append((key, value))
            if until(out):
                return out
    finally:
        c.close()
    raise AssertionError("%s: condition not met; read %r" % (topic, out[-20:]))


# -- fixtures ---------------------------------------------------------------------------

def project_topics(project, state):
    names = [t["name"] for t in state["topics"]] + ["_streamt_test_failures"]
    names += [s.get("topic") for s in project.sources]
    return names


@pytest.fixture(scope="module")
def acceptance(kafka, flink):
    env = {"KAFKA_BOOTSTRAP": flink.kafka_bootstrap, "FLINK_REST_URL": flink.rest_url,
           "FLINK_SQL_GATEWAY_URL": flink.gateway_url}
    project = load_project(ACCEPTANCE)
    warnings = []
    state = streamt.compile_project(project, warnings)
    create_topics(kafka.bootstrap, project_topics(project, state))
    return project, state, env, Gateway(flink)


def run_and_stop(gw, job, env):
    job_id = gw.submit(job["sql"], env)
    try:
        gw.wait_running(job_id)
        info = gw.job_state(job_id)
        assert info["name"] == job["pipeline_name"]
    finally:
        gw.cancel(job_id)


def test_every_job_of_the_acceptance_project_runs(acceptance):
    project, state, env, gw = acceptance
    jobs = state["flink_jobs"]
    assert len(jobs) >= 12
    failures = []
    for job in jobs:
        try:
            run_and_stop(gw, job, env)
        except AssertionError as e:
            failures.append("%s: %s" % (job["name"], str(e)[:2500]))
    assert not failures, "\n\n".join(failures)


def test_every_job_of_the_shop_example_runs(kafka, flink, services_env):
    env = dict(services_env)
    env["KAFKA_BOOTSTRAP"] = flink.kafka_bootstrap
    project = load_project(SHOP, "dev")
    state = streamt.compile_project(project)
    create_topics(kafka.bootstrap, project_topics(project, state))
    gw = Gateway(flink)
    failures = []
    for job in state["flink_jobs"]:
        try:
            run_and_stop(gw, job, env)
        except AssertionError as e:
            failures.append("%s: %s" % (job["name"], str(e)[:2500]))
    if any("identifier 'avro-confluent'" in f for f in failures):
        failures.append(AVRO_HINT)
    assert not failures, "\n\n".join(failures)


AVRO_HINT = ("hint: Avro sources are read with Flink's avro-confluent format when a Schema "
             "Registry is configured: the Flink of the services harness needs "
             "org.apache.flink:flink-sql-avro-confluent-registry:2.3.0 in lib/")


def _job(state, name):
    return next(j for j in state["flink_jobs"] if j["model"] == name)


def _click(user, amount, second, url="https://shop/item/abcd1234", price="9.99"):
    return {"user_id": user, "url": url, "amount": amount, "price": price,
            "ts": "2024-01-01 00:00:%02d.000" % second if second < 60 else
            "2024-01-01 00:%02d:%02d.000" % (second // 60, second % 60)}


def test_window_over_a_ref_and_upsert_totals_give_the_right_rows(kafka, acceptance):
    project, state, env, gw = acceptance
    started = []
    try:
        for name in ("clicks_clean", "clicks_per_window", "totals_by_user"):
            started.append(gw.submit(_job(state, name)["sql"], env))
        for job_id in started:
            gw.wait_running(job_id, stay=0)
        produce(kafka.bootstrap, "acc.clicks", [
            _click("a", 5, 1), _click("b", 7, 2), _click("a", 3, 4),
            _click("a", -1, 5),                 # filtered out by clicks_clean
            _click("b", 1, 9, price="19.50"),
            _click("a", 10, 12),                # second window; its watermark closes the first
            _click("b", 2, 31),                 # closes the second window (31 - 1.5 > 20)
        ])

        # the masked url went through clicks_clean
        clean = consume(kafka.bootstrap, "acc.clicks.clean", lambda rs: len(rs) >= 6)
        assert all(v["url"] == "*" * (len("https://shop/item/abcd1234") - 4) + "1234"
                   for _k, v in clean)
        assert sorted(v["amount"] for _k, v in clean) == [1, 2, 3, 5, 7, 10]

        def windows(rs):
            return dict(((v["w_start"], v["user_id"]), (v["total"], v["n"], v["max_price"]))
                        for _k, v in rs)
        rows = consume(kafka.bootstrap, "acc.clicks.per_window",
                       lambda rs: len(windows(rs)) >= 3)
        assert windows(rows) == {
            ("2024-01-01 00:00:00", "a"): (8, 2, 9.99),
            ("2024-01-01 00:00:00", "b"): (8, 2, 19.5),
            ("2024-01-01 00:00:10", "a"): (10, 1, 9.99),
        }
        assert all(v["w_end"] and v["wt"] for _k, v in rows)

        # upsert totals: the latest value of each key
        def latest(rs):
            out = {}
            for k, v in rs:
                out[k["user_id"]] = None if v is None else (v["total"], v["n"])
            return out
        totals = consume(kafka.bootstrap, "acc.totals",
                         lambda rs: latest(rs) == {"a": (18, 3), "b": (10, 3)})
        assert all(set(k) == {"user_id"} for k, _v in totals)
    finally:
        for job_id in started:
            gw.cancel(job_id)


def test_left_join_keeps_unmatched_rows_and_updates_them_when_the_match_comes(
        kafka, acceptance):
    # A LEFT JOIN of two append-only inputs is updating with no key Flink can derive:
    # Flink 2.3 takes the job only with an ON CONFLICT clause, and the topic must end
    # up with one row per click -- padded with NULL until its user is known.
    project, state, env, gw = acceptance
    job = _job(state, "enriched_left")
    assert "ON CONFLICT DO DEDUPLICATE" in job["sql"]
    job_id = gw.submit(job["sql"], env)
    try:
        gw.wait_running(job_id, stay=0)
        produce(kafka.bootstrap, "acc.clicks", [_click("lj1", 5, 1), _click("lj2", 7, 2)])
        time.sleep(2)  # the user of lj1 comes after its click
        produce(kafka.bootstrap, "acc.users", [{"user_id": "lj1", "country": "FR"}])

        def rows(rs):
            live = {}
            for k, v in rs:
                if k is None or k.get("user_id") not in ("lj1", "lj2"):
                    continue
                live[json.dumps(k, sort_keys=True)] = v
            return sorted((v["user_id"], v["amount"], v["country"])
                          for v in live.values() if v is not None)
        want = [("lj1", 5, "FR"), ("lj2", 7, None)]
        try:
            consume(kafka.bootstrap, "acc.enriched_left", lambda rs: rows(rs) == want)
        except AssertionError as e:
            exc = http("GET", "%s/jobs/%s/exceptions" % (gw.rest, job_id))
            entries = (exc.get("exceptionHistory") or {}).get("entries") or []
            raise AssertionError("%s\njob %s: %s" % (e, gw.job_state(job_id)["state"], _causes(
                entries[0].get("stacktrace", "") if entries else json.dumps(exc))))
        gw.wait_running(job_id)  # and it is still running: no row made it fail
    finally:
        gw.cancel(job_id)


@pytest.mark.parametrize("listener,mechanism", [("SASL_SSL", "SCRAM-SHA-512"),
                                                ("SASL_PLAINTEXT", "PLAIN"), ("SSL", None)])
def test_jobs_use_the_runtime_security_settings(kafka, flink, listener, mechanism):
    """The job reads and writes Kafka through a secured listener with the runtime's
    credentials (JAAS config, CA file); records go in and out through PLAINTEXT."""
    from tests._projects import FakeProject
    tag = "%s-%s" % (listener.lower().replace("_", "-"), uuid.uuid4().hex[:8])
    runtime = {"kafka": kafka.runtime(listener, mechanism), "flink": {"default": "local"}}
    src = {"name": "events", "topic": "sec.%s.in" % tag,
           "columns": [{"name": "id", "type": "INT"}, {"name": "who", "type": "STRING"}]}
    model = {"name": "copy", "sql": "SELECT id, UPPER(who) AS who FROM {{ source('events') }} "
                                    "WHERE id > 0",
             "advanced": {"topic": {"name": "sec.%s.out" % tag}}}
    state = streamt.compile_project(FakeProject(name="sec", runtime=runtime, sources=[src],
                                                models=[model]))
    (job,) = state["flink_jobs"]
    if mechanism:
        assert "properties.sasl.jaas.config" in job["sql"]
    create_topics(kafka.bootstrap, [src["topic"], "sec.%s.out" % tag])
    gw = Gateway(flink)
    job_id = gw.submit(job["sql"], {})
    try:
        gw.wait_running(job_id, stay=0)
        produce(kafka.bootstrap, src["topic"], [{"id": 1, "who": "ann"}, {"id": -1, "who": "x"},
                                                {"id": 2, "who": "bob"}])
        rows = consume(kafka.bootstrap, "sec.%s.out" % tag, lambda rs: len(rs) >= 2)
        assert [v for _k, v in rows] == [{"id": 1, "who": "ANN"}, {"id": 2, "who": "BOB"}]
    finally:
        gw.cancel(job_id)


# -- Avro through the Schema Registry (avro-confluent) ------------------------------------

def _zigzag(n):
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# The shop's orders as Avro (the bundled example carries a JSON Schema)
AVRO_ORDER_SCHEMA = json.dumps({
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [{"name": "order_id", "type": "string"},
               {"name": "customer_id", "type": "string"},
               {"name": "amount", "type": "double"},
               {"name": "card_number", "type": ["null", "string"], "default": None},
               {"name": "order_time", "type": {"type": "long",
                                               "logicalType": "timestamp-millis"}}]})


def _avro_string(s):
    b = s.encode("utf-8")
    return _zigzag(len(b)) + b


def _avro_order(schema_id, order_id, customer_id, amount, card, millis):
    """An Order record of examples/shop in Avro binary, with the Confluent framing."""
    import struct
    body = (_avro_string(order_id) + _avro_string(customer_id) + struct.pack("<d", amount)
            + (_zigzag(0) if card is None else _zigzag(1) + _avro_string(card))
            + _zigzag(millis))
    return b"\x00" + struct.pack(">I", schema_id) + body


def test_avro_source_is_read_through_the_registry_with_basic_auth(kafka, flink, schema_registry):
    import base64
    import hashlib
    from kafka import KafkaProducer
    from tests._projects import FakeProject
    shop = load_project(SHOP, "dev")
    tag = uuid.uuid4().hex[:8]
    orders = dict(next(s for s in shop.sources if s["name"] == "orders"),
                  topic="avro.orders." + tag, schema={"format": "avro",
                                                      "definition": AVRO_ORDER_SCHEMA})
    clean = dict(next(m for m in shop.models if m["name"] == "orders_clean"))
    clean["advanced"] = {"topic": {"name": "avro.orders.clean." + tag}}
    runtime = {"kafka": {"bootstrap_servers": flink.kafka_bootstrap},
               "schema_registry": {"url": schema_registry.url,
                                   "username": schema_registry.username,
                                   "password": "${SR_PASSWORD}"}}
    state = streamt.compile_project(FakeProject(name="avro", runtime=runtime, sources=[orders],
                                                models=[clean]))
    (schema,) = state["schemas"]
    auth = base64.b64encode(("%s:%s" % (schema_registry.username,
                                        schema_registry.password)).encode()).decode()
    req = urllib.request.Request(
        "%s/subjects/%s/versions" % (schema_registry.url, schema["subject"]), method="POST",
        data=json.dumps({"schema": schema["schema"]}).encode(),
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json",
                 "Authorization": "Basic " + auth})
    with urllib.request.urlopen(req, timeout=10) as r:
        schema_id = json.loads(r.read())["id"]
    create_topics(kafka.bootstrap, ["avro.orders." + tag, "avro.orders.clean." + tag])
    gw = Gateway(flink)
    (job,) = state["flink_jobs"]
    try:
        job_id = gw.submit(job["sql"], {"SR_PASSWORD": schema_registry.password})
    except AssertionError as e:
        raise AssertionError("%s\n\n%s" % (e, AVRO_HINT) if "avro-confluent" in str(e) else e)
    try:
        gw.wait_running(job_id, stay=0)
        p = KafkaProducer(bootstrap_servers=kafka.bootstrap)
        for rec in (("o1", "c1", 12.5, "4111111111111111", 1704067200000),
                    ("o2", "c2", -3.0, None, 1704067201000),
                    ("o3", "c1", 7.25, None, 1704067202500)):
            p.send("avro.orders." + tag, _avro_order(schema_id, *rec))
        p.flush()
        p.close()
        rows = consume(kafka.bootstrap, "avro.orders.clean." + tag, lambda rs: len(rs) >= 2)
        got = dict((v["order_id"], v) for _k, v in rows)
        assert sorted(got) == ["o1", "o3"]
        assert got["o1"]["card_number"] == hashlib.sha256(b"4111111111111111").hexdigest()
        assert got["o3"]["card_number"] is None
        assert got["o3"]["order_time"] == "2024-01-01 00:00:02.5"
        assert got["o1"]["amount"] == 12.5
    finally:
        gw.cancel(job_id)
