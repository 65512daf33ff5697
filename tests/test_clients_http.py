"""The HTTP client against small local http.server instances (the test's own servers)."""
import json
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

import streamt


class Server(object):
    """A local HTTP server whose replies are scripted: `replies` is a list of
    (status, headers, body) consumed one per request (the last one repeats)."""

    def __init__(self, replies, tls_context=None):
        self.replies = list(replies)
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.requests.append({"method": self.command, "path": self.path,
                                       "headers": dict(self.headers), "body": body})
                status, headers, payload = (outer.replies.pop(0) if len(outer.replies) > 1
                                            else outer.replies[0])
                if callable(payload):
                    payload = payload(self)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        if tls_context is not None:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    made = []

    def make(replies, **kw):
        s = Server(replies, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def client(url, **kw):
    kw.setdefault("sleep", lambda s: None)
    return streamt.HttpClient(url, service="Test API", **kw)


def test_json_round_trip_and_basic_auth(server):
    s = server([(200, {"Content-Type": "application/json"}, {"ok": True})])
    c = client(s.url, username="u", password="p w")
    r = c.request("POST", "/things/a%2Fb", body={"x": 1})
    assert r.json() == {"ok": True}
    req = s.requests[0]
    assert req["path"] == "/things/a%2Fb"
    assert json.loads(req["body"]) == {"x": 1}
    assert req["headers"]["Authorization"] == "Basic dTpwIHc="
    assert req["headers"]["Content-Type"] == "application/json"
    assert c.requests_sent == 1 and c.mutations == 1


def test_bearer_token(server):
    s = server([(200, {}, {})])
    client(s.url, token="abc").request("GET", "/")
    assert s.requests[0]["headers"]["Authorization"] == "Bearer abc"


def test_retries_5xx_then_succeeds(server):
    s = server([(503, {}, {"message": "busy"}), (502, {}, b"bad gateway"), (200, {}, [1])])
    waits = []
    c = streamt.HttpClient(s.url, retries=3, backoff=0.25, sleep=waits.append)
    assert c.get_json("/x", shape=list) == [1]
    assert len(s.requests) == 3
    assert waits == [0.25, 0.5]  # exponential backoff


def test_retry_after_is_honoured_on_429(server):
    s = server([(429, {"Retry-After": "2"}, {}), (200, {}, {})])
    waits = []
    streamt.HttpClient(s.url, sleep=waits.append).request("GET", "/")
    assert waits == [2.0]


def test_retries_are_bounded_and_the_error_says_what(server):
    s = server([(500, {}, {"message": "disk full"})])
    c = client(s.url, retries=2)
    with pytest.raises(streamt.HttpError) as e:
        c.request("GET", "/subjects")
    assert len(s.requests) == 3
    assert e.value.status == 500
    assert "disk full" in e.value.message and "Test API" in e.value.message
    assert e.value.exit_code == streamt.EXIT_FAILURE


def test_a_non_idempotent_post_is_not_retried_after_a_5xx(server):
    s = server([(500, {}, {"errors": ["boom"]}), (200, {}, {})])
    c = client(s.url, retries=3)
    with pytest.raises(streamt.HttpError):
        c.request("POST", "/sessions/x/statements", body={"statement": "INSERT ..."},
                  idempotent=False)
    assert len(s.requests) == 1  # a statement sent twice would start two jobs


def test_409_is_retried_only_when_asked(server):
    s = server([(409, {}, {"message": "rebalance"}), (200, {}, {})])
    client(s.url).request("PUT", "/connectors/a/config", body={}, retry_conflict=True)
    assert len(s.requests) == 2
    s2 = server([(409, {}, {"message": "rebalance in progress"})])
    with pytest.raises(streamt.HttpError) as e:
        client(s2.url).request("PUT", "/connectors/a/config", body={})
    assert e.value.status == 409 and "rebalance in progress" in e.value.message


def test_unexpected_status_and_shape_are_clear_errors(server):
    s = server([(404, {}, {"error_code": 40401, "message": "Subject 'x' not found."})])
    with pytest.raises(streamt.HttpError) as e:
        client(s.url).request("GET", "/subjects/x/versions/latest")
    assert "HTTP 404" in e.value.message and "Subject 'x' not found." in e.value.message
    assert e.value.hint
    s = server([(200, {}, b"<html>login page</html>")])
    with pytest.raises(streamt.HttpError) as e:
        client(s.url).get_json("/subjects", shape=list)
    assert "not JSON" in e.value.message
    s = server([(200, {}, {"a": 1})])
    with pytest.raises(streamt.HttpError) as e:
        client(s.url).get_json("/subjects", shape=list)
    assert "expected a JSON array" in e.value.message


def test_flink_errors_show_the_root_cause_not_the_trace(server):
    trace = ("org.apache.flink.table.gateway.api.utils.SqlGatewayException: Failed to fetchResults.\n"
             "\tat org.apache.flink.Foo.bar(Foo.java:1)\n"
             "Caused by: org.apache.flink.table.api.SqlExecutionException: Failed to execute\n"
             "\tat x.y(Z.java:2)\n"
             "Caused by: org.apache.flink.table.api.ValidationException: Object 'nope' not found\n"
             "\tat a.b(C.java:3)\n")
    s = server([(500, {}, {"errors": ["Internal server error.", trace]})])
    with pytest.raises(streamt.HttpError) as e:
        client(s.url, retries=0).request("GET", "/v1/sessions/s/operations/o/result/0")
    assert "ValidationException: Object 'nope' not found" in e.value.message
    assert "\tat " not in e.value.message


def test_connection_refused_is_retried_then_reported():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    waits = []
    c = streamt.HttpClient("http://127.0.0.1:%d" % port, service="Kafka Connect", retries=2,
                           sleep=waits.append)
    with pytest.raises(streamt.HttpError) as e:
        c.request("POST", "/connectors", body={}, idempotent=False)
    assert len(waits) == 2  # refused = never sent, so even a POST is retried
    assert "unreachable" in e.value.message and "127.0.0.1:%d" % port in e.value.message


def test_timeout_is_bounded(server):
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(5)  # accepts connections, never answers
    try:
        c = streamt.HttpClient("http://127.0.0.1:%d" % lst.getsockname()[1], timeout=0.3,
                               retries=1, sleep=lambda s: None)
        with pytest.raises(streamt.HttpError) as e:
            c.request("GET", "/")
        assert "unreachable" in e.value.message
    finally:
        lst.close()


def test_invalid_url_is_a_usage_error():
    with pytest.raises(streamt.UsageError):
        streamt.HttpClient("localhost:8081")


def _make_cert(tmp_path):
    key, crt = str(tmp_path / "key.pem"), str(tmp_path / "crt.pem")
    subprocess.check_call(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                           key, "-out", crt, "-days", "2", "-subj", "/CN=localhost",
                           "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    return crt, ctx


def test_tls_is_verified_and_a_ca_file_makes_it_trusted(server, tmp_path):
    crt, ctx = _make_cert(tmp_path)
    s = server([(200, {}, {"ok": 1})], tls_context=ctx)
    url = "https://127.0.0.1:%d" % s.port
    with pytest.raises(streamt.HttpError) as e:
        client(url, retries=0).request("GET", "/")
    assert "certificate" in e.value.message.lower() and "ssl_cafile" in (e.value.hint or "")
    assert client(url, cafile=crt).get_json("/") == {"ok": 1}


def test_proxy_from_the_environment_is_used_and_no_proxy_honoured(server, monkeypatch):
    proxy = server([(200, {}, {"via": "proxy"})])
    target = server([(200, {}, {"via": "direct"})])
    monkeypatch.setenv("http_proxy", proxy.url)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert client("http://service.invalid:1234").get_json("/x") == {"via": "proxy"}
    assert proxy.requests[-1]["path"] == "http://service.invalid:1234/x"
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert client(target.url).get_json("/y") == {"via": "direct"}


def test_a_server_that_does_not_speak_http_is_a_clear_error():
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(5)

    def serve():
        for _ in range(2):
            conn, _ = lst.accept()
            conn.recv(1024)
            conn.sendall(b"\x00\x00\x00\x10not http at all\r\n\r\n")
            conn.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        c = streamt.HttpClient("http://127.0.0.1:%d" % lst.getsockname()[1], retries=1,
                               sleep=lambda s: None)
        with pytest.raises(streamt.HttpError) as e:
            c.request("GET", "/")   # e.g. a Kafka port given as a REST URL
        assert "did not answer in HTTP" in e.value.message and e.value.hint
    finally:
        lst.close()
