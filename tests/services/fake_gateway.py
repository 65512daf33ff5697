"""A small, honest fake of the Conduktor Gateway admin API v2, for tests.

Follows the public resource reference (https://docs.conduktor.io/gateway/reference/resources-reference/)
and the behaviour of Conduktor's own CLI client (conduktor/ctl, pkg/client/gateway_client.go:
upsert by PUT on the list path with `?dryMode=true`, result `{"resource", "upsertResult"}`,
interceptors deleted by name with the scope as JSON body, alias topics deleted with a
`{name, vCluster}` body, errors as `{"title", "msg", "cause"}`).  Implemented:

  GET    /health                                   (no auth, like the real health endpoint)
  GET    /gateway/v2/interceptor[?name=&vCluster=&group=&username=]
  PUT    /gateway/v2/interceptor[?dryMode=true]    upsert, keyed by name + metadata.scope
  DELETE /gateway/v2/interceptor/{name}            body {vCluster, group, username} (absent = null)
  GET    /gateway/v2/alias-topic[?name=&vCluster=]
  PUT    /gateway/v2/alias-topic[?dryMode=true]    upsert, keyed by name + metadata.vCluster
  DELETE /gateway/v2/alias-topic                   body {name, vCluster}
Everything under /gateway/ needs HTTP basic auth (401 otherwise).  vCluster defaults to
"passthrough" for alias topics (as in the CLI).  The fake stores resources only; it proxies no
Kafka traffic and does not check plugin configs beyond `spec.pluginClass` and `spec.priority`.

Run: python -m tests.services.fake_gateway --port N --username U --password P
"""
import argparse
import base64
import copy
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCOPE_KEYS = ("vCluster", "group", "username")


class ApiError(Exception):
    def __init__(self, status, title, msg, cause=""):
        Exception.__init__(self, msg)
        self.status, self.title, self.msg, self.cause = status, title, msg, cause


def _bad(msg):
    return ApiError(400, "Bad Request", msg)


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.interceptors = {}   # (name, vCluster, group, username) -> resource
        self.aliases = {}        # (name, vCluster) -> resource


def _scope_key(scope):
    if scope is None:
        scope = {}
    if not isinstance(scope, dict):
        raise _bad("metadata.scope must be an object")
    unknown = set(scope) - set(SCOPE_KEYS)
    if unknown:
        raise _bad("unknown scope keys: %s" % ", ".join(sorted(unknown)))
    return tuple(scope.get(k) or None for k in SCOPE_KEYS)


def _check_kind(doc, kind):
    if not isinstance(doc, dict):
        raise _bad("the body must be a JSON object")
    if doc.get("kind", kind) != kind:
        raise _bad("kind must be %s, not %r" % (kind, doc.get("kind")))
    if doc.get("apiVersion", "gateway/v2") != "gateway/v2":
        raise _bad("apiVersion must be gateway/v2")
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise _bad("metadata.name is mandatory")
    if not isinstance(doc.get("spec"), dict):
        raise _bad("spec is mandatory")
    return meta


def _upsert(table, key, resource, dry):
    old = table.get(key)
    if old == resource:
        result = "NotChanged"
    else:
        result = "Updated" if old is not None else "Created"
        if not dry:
            table[key] = resource
    return {"resource": resource, "upsertResult": result}


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-conduktor-gateway/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            BaseHTTPRequestHandler.log_message(self, fmt, *args)

    def _send(self, status, doc):
        raw = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="gateway"')
        self.end_headers()
        self.wfile.write(raw)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if not n:
            return None
        try:
            return json.loads(self.rfile.read(n))
        except ValueError:
            raise _bad("malformed JSON body")

    def _handle(self, method):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
        if parts and parts[-1] == "":
            parts.pop()
        try:
            body = self._body() if method in ("PUT", "DELETE", "POST") else None
            if parts == ["health"] and method == "GET":
                status, doc = 200, {"status": "UP"}
            else:
                want = "Basic " + base64.b64encode(("%s:%s" % (self.server.username, self.server.password))
                                                   .encode()).decode()
                if self.headers.get("Authorization") != want:
                    raise ApiError(401, "Unauthorized", "invalid or missing credentials")
                with self.server.state.lock:
                    status, doc = self._route(method, parts, q, body)
        except ApiError as e:
            status, doc = e.status, {"title": e.title, "msg": e.msg, "cause": e.cause}
        self._send(status, doc)

    def _route(self, method, p, q, body):
        st = self.server.state
        dry = q.get("dryMode", "false").lower() == "true"
        if p[:2] != ["gateway", "v2"] or len(p) < 3:
            raise ApiError(404, "Not Found", "no such path")
        kind, rest = p[2], p[3:]
        if kind == "interceptor":
            if method == "GET" and not rest:
                out = []
                for key in sorted(st.interceptors, key=lambda k: tuple(x or "" for x in k)):
                    res = st.interceptors[key]
                    if "name" in q and key[0] != q["name"]:
                        continue
                    if any(k in q and key[i + 1] != q[k] for i, k in enumerate(SCOPE_KEYS)):
                        continue
                    out.append(res)
                return 200, out
            if method == "PUT" and not rest:
                meta = _check_kind(body, "Interceptor")
                spec = body["spec"]
                if not isinstance(spec.get("pluginClass"), str) or not spec["pluginClass"]:
                    raise _bad("spec.pluginClass is mandatory")
                if not isinstance(spec.get("priority"), int) or isinstance(spec.get("priority"), bool):
                    raise _bad("spec.priority is mandatory and must be an integer")
                scope = _scope_key(meta.get("scope"))
                resource = {"kind": "Interceptor", "apiVersion": "gateway/v2",
                            "metadata": {"name": meta["name"], "scope": dict(zip(SCOPE_KEYS, scope))},
                            "spec": copy.deepcopy(spec)}
                return 200, _upsert(st.interceptors, (meta["name"],) + scope, resource, dry)
            if method == "DELETE" and len(rest) == 1:
                key = (rest[0],) + _scope_key(body)
                if key not in st.interceptors:
                    raise ApiError(404, "Not Found", "interceptor %s not found in scope %s"
                                   % (rest[0], json.dumps(dict(zip(SCOPE_KEYS, key[1:])))))
                del st.interceptors[key]
                return 200, {}
        if kind == "alias-topic":
            if method == "GET" and not rest:
                out = [st.aliases[k] for k in sorted(st.aliases)
                       if ("name" not in q or k[0] == q["name"]) and ("vCluster" not in q or k[1] == q["vCluster"])]
                return 200, out
            if method == "PUT" and not rest:
                meta = _check_kind(body, "AliasTopic")
                if not isinstance(body["spec"].get("physicalName"), str) or not body["spec"]["physicalName"]:
                    raise _bad("spec.physicalName is mandatory")
                vc = meta.get("vCluster") or "passthrough"
                resource = {"kind": "AliasTopic", "apiVersion": "gateway/v2",
                            "metadata": {"name": meta["name"], "vCluster": vc},
                            "spec": {"physicalName": body["spec"]["physicalName"]}}
                return 200, _upsert(st.aliases, (meta["name"], vc), resource, dry)
            if method == "DELETE" and not rest:
                if not isinstance(body, dict) or not body.get("name"):
                    raise _bad("the body must be {\"name\", \"vCluster\"}")
                key = (body["name"], body.get("vCluster") or "passthrough")
                if key not in st.aliases:
                    raise ApiError(404, "Not Found", "alias topic %s not found in vCluster %s" % key)
                del st.aliases[key]
                return 200, {}
        raise ApiError(404, "Not Found", "no such path or method: %s /%s" % (method, "/".join(p)))

    def do_GET(self):
        self._handle("GET")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_POST(self):
        self._handle("POST")


def make_server(port, username, password, host="127.0.0.1", verbose=False):
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.state = State()
    server.username, server.password, server.verbose = username, password, verbose
    return server


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--username", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    server = make_server(a.port, a.username, a.password, verbose=a.verbose)
    sys.stdout.write("fake conduktor gateway listening on http://127.0.0.1:%d\n" % a.port)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
