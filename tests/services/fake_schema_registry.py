"""A small, honest fake of the Confluent Schema Registry REST API, for tests.

Follows the public API reference: https://docs.confluent.io/platform/current/schema-registry/develop/api.html
(and the schema deletion guidelines,
https://docs.confluent.io/platform/current/schema-registry/schema-deletion-guidelines.html).
Implemented:

  GET    /subjects[?deleted=true]                     GET /schemas/ids/{id}
  GET    /subjects/{s}/versions                       GET /subjects/{s}/versions/{v|latest|-1}
  POST   /subjects/{s}                   (lookup)     POST /subjects/{s}/versions  (register)
  DELETE /subjects/{s}[?permanent=true]               DELETE /subjects/{s}/versions/{v}[?permanent=true]
  POST   /compatibility/subjects/{s}/versions[/{v|latest}][?verbose=true]
  GET|PUT /config        GET|PUT|DELETE /config/{s}[?defaultToGlobal=true]

Error bodies are {"error_code", "message"} with the registry's codes: 40401 subject not found,
40402 version not found, 40403 schema not found, 40405/40407 not soft-deleted first, 40408 no
subject-level config, 409 incompatible, 42201 invalid schema, 42202 invalid version, 42203 invalid
compatibility level, 401 unauthorized (HTTP basic auth, when a username is configured).
Subjects in paths are URL-decoded.  Identical schemas (same type, same JSON after key sorting) get
the same id across subjects, and registering one a subject already has returns its id.

Compatibility: AVRO uses the real Avro schema-resolution rules (avro_compat.py) for NONE,
BACKWARD (new reads old), FORWARD (old reads new), FULL (both) and their _TRANSITIVE forms (against
every live version instead of the latest).  JSON and PROTOBUF are compared more simply, and the
fake says so in its messages: JSON Schema — a property in both schemas must keep its "type", and
the reading side may not require a property the writing side does not require; PROTOBUF — a field
number in both must keep its type.  Schema references are stored and returned, and AVRO references
are resolved (the referenced subject/version is parsed first), nothing more.

Run: python -m tests.services.fake_schema_registry --port N [--username U --password P]
"""
import argparse
import base64
import json
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from tests.services import avro_compat
except ImportError:  # run as a script from this directory
    import avro_compat

LEVELS = ("NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE")
TYPES = ("AVRO", "JSON", "PROTOBUF")
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class ApiError(Exception):
    def __init__(self, status, code, message):
        Exception.__init__(self, message)
        self.status, self.code, self.message = status, code, message


def _not_found_subject(s):
    return ApiError(404, 40401, "Subject '%s' not found." % s)


class Registry:
    """The state: schemas by id, subjects with their versions, compatibility config."""

    def __init__(self):
        self.lock = threading.RLock()
        self.schemas = {}     # id -> {"schemaType", "schema", "references", "key"}
        self.by_key = {}      # (type, canonical, refs) -> id
        self.subjects = {}    # name -> {"versions": [{"version", "id", "deleted"}], "next": int}
        self.global_level = "BACKWARD"
        self.levels = {}      # subject -> level
        self.next_id = 1

    # ---- helpers ----
    def _live(self, subject):
        sub = self.subjects.get(subject)
        return [v for v in sub["versions"] if not v["deleted"]] if sub else []

    def _subject_live(self, subject):
        live = self._live(subject)
        if not live:
            raise _not_found_subject(subject)
        return live

    def level(self, subject):
        return self.levels.get(subject, self.global_level)

    @staticmethod
    def parse_version(v):
        if v in ("latest", "-1"):
            return "latest"
        try:
            n = int(v)
        except ValueError:
            n = 0
        if not (1 <= n <= 2 ** 31 - 1):
            raise ApiError(422, 42202, "The specified version '%s' is not a valid version id. Allowed values are "
                                       "between [1, 2^31-1] and the string \"latest\"" % v)
        return n

    def _version(self, subject, v, include_deleted=False):
        n = self.parse_version(v)
        sub = self.subjects.get(subject)
        versions = [x for x in (sub["versions"] if sub else []) if include_deleted or not x["deleted"]]
        if not versions:
            raise _not_found_subject(subject)
        if n == "latest":
            return versions[-1]
        for x in versions:
            if x["version"] == n:
                return x
        raise ApiError(404, 40402, "Version %s not found." % v)

    def _parsed(self, stype, text, refs):
        """Validate a schema; return (canonical, parsed object for compatibility)."""
        if stype not in TYPES:
            raise ApiError(422, 42201, "Invalid schema: unknown schemaType %r" % stype)
        if not isinstance(text, str) or not text.strip():
            raise ApiError(422, 42201, "Invalid schema: empty schema")
        if stype == "PROTOBUF":
            if not re.search(r"\bmessage\s+\w+\s*\{", text):
                raise ApiError(422, 42201, "Invalid schema: no message definition in the PROTOBUF schema")
            return " ".join(text.split()), _proto_fields(text)
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise ApiError(422, 42201, "Invalid schema: %s" % e)
        canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        if stype == "JSON":
            if not isinstance(obj, (dict, bool)):
                raise ApiError(422, 42201, "Invalid schema: a JSON Schema is an object or a boolean")
            return canonical, obj
        names = {}
        for ref in refs:
            try:
                v = self._version(ref["subject"], str(ref["version"]))
                avro_compat.parse(self.schemas[v["id"]]["schema"], names)
            except (ApiError, KeyError, avro_compat.AvroError) as e:
                raise ApiError(422, 42201, "Invalid schema: bad reference %s: %s" % (json.dumps(ref), e))
        try:
            return canonical, avro_compat.parse(obj, names)
        except avro_compat.AvroError as e:
            raise ApiError(422, 42201, "Invalid schema %s, details: %s" % (text[:200], e))

    def _check(self, stype, new, subject, against, level):
        """Messages explaining why `new` is not compatible with the versions `against` (oldest first)."""
        if level == "NONE":
            return []
        if not level.endswith("_TRANSITIVE"):
            against = against[-1:]
        messages = []
        for old_v in reversed(against):
            old = self.schemas[old_v["id"]]
            if old["schemaType"] != stype:
                messages.append("Incompatible schema type: %s vs %s (version %d)"
                                % (stype, old["schemaType"], old_v["version"]))
                continue
            _, old_parsed = self._parsed(stype, old["schema"], old["references"])
            found = []
            if level.startswith(("BACKWARD", "FULL")):
                found += _incompat(stype, reader=new, writer=old_parsed, reader_is="new")
            if level.startswith(("FORWARD", "FULL")):
                found += _incompat(stype, reader=old_parsed, writer=new, reader_is="old")
            if found:
                messages += found
                messages.append("{oldSchemaVersion: %d}" % old_v["version"])
                messages.append("{oldSchema: '%s'}" % old["schema"])
                messages.append("{compatibility: '%s'}" % level)
        return messages

    # ---- operations ----
    def register(self, subject, body, dry=False):
        stype = body.get("schemaType") or "AVRO"
        refs = body.get("references") or []
        canonical, parsed = self._parsed(stype, body.get("schema"), refs)
        key = (stype, canonical, json.dumps(refs, sort_keys=True))
        live = self._live(subject)
        for v in live:
            if self.schemas[v["id"]]["key"] == key:
                return {"id": v["id"]}
        messages = self._check(stype, parsed, subject, live, self.level(subject))
        if messages:
            raise ApiError(409, 409, "Schema being registered is incompatible with an earlier schema for subject "
                                     "\"%s\", details: [%s]" % (subject, ", ".join(messages)))
        sid = self.by_key.get(key)
        if sid is None:
            sid = self.next_id
            self.next_id += 1
            self.by_key[key] = sid
            self.schemas[sid] = {"schemaType": stype, "schema": body["schema"], "references": refs, "key": key}
        sub = self.subjects.setdefault(subject, {"versions": [], "next": 1})
        sub["versions"].append({"version": sub["next"], "id": sid, "deleted": False})
        sub["next"] += 1
        return {"id": sid}

    def lookup(self, subject, body):
        stype = body.get("schemaType") or "AVRO"
        refs = body.get("references") or []
        live = self._subject_live(subject)
        canonical, _ = self._parsed(stype, body.get("schema"), refs)
        key = (stype, canonical, json.dumps(refs, sort_keys=True))
        for v in live:
            if self.schemas[v["id"]]["key"] == key:
                return self.version_doc(subject, v)
        raise ApiError(404, 40403, "Schema not found")

    def compatibility(self, subject, version, body, verbose):
        stype = body.get("schemaType") or "AVRO"
        refs = body.get("references") or []
        _, parsed = self._parsed(stype, body.get("schema"), refs)
        live = self._live(subject)
        level = self.level(subject)
        if version in (None, "latest", "-1"):
            if version is not None:
                self.parse_version(version)
            against = live
        else:
            against = [self._version(subject, version)]
            level = level.replace("_TRANSITIVE", "")
        messages = self._check(stype, parsed, subject, against, level) if against else []
        doc = {"is_compatible": not messages}
        if verbose:
            doc["messages"] = messages
        return doc

    def version_doc(self, subject, v):
        s = self.schemas[v["id"]]
        doc = {"subject": subject, "version": v["version"], "id": v["id"], "schema": s["schema"]}
        if s["schemaType"] != "AVRO":
            doc["schemaType"] = s["schemaType"]
        if s["references"]:
            doc["references"] = s["references"]
        return doc

    def delete_subject(self, subject, permanent):
        sub = self.subjects.get(subject)
        if not sub or not sub["versions"]:
            raise _not_found_subject(subject)
        if permanent:
            if any(not v["deleted"] for v in sub["versions"]):
                raise ApiError(404, 40405, "Subject '%s' was not deleted first before being permanently deleted"
                               % subject)
            del self.subjects[subject]
            self.levels.pop(subject, None)
            return [v["version"] for v in sub["versions"]]
        live = [v for v in sub["versions"] if not v["deleted"]]
        if not live:
            raise _not_found_subject(subject)
        for v in live:
            v["deleted"] = True
        return [v["version"] for v in live]

    def delete_version(self, subject, version, permanent):
        v = self._version(subject, version, include_deleted=permanent)
        if permanent:
            if not v["deleted"]:
                raise ApiError(404, 40407, "Subject '%s' Version %d was not deleted first before being permanently "
                                           "deleted" % (subject, v["version"]))
            self.subjects[subject]["versions"].remove(v)
        else:
            v["deleted"] = True
        return v["version"]


def _incompat(stype, reader, writer, reader_is):
    writer_is = "old" if reader_is == "new" else "new"
    if stype == "AVRO":
        out = []
        for etype, path, info in avro_compat.incompatibilities(reader, writer):
            out.append("{errorType:'%s', description:'The %s schema cannot read data written with the %s schema "
                       "at path '%s'', additionalInfo:'%s'}" % (etype, reader_is, writer_is, path, info))
        return out
    if stype == "JSON":
        return ["{errorType:'%s', description:'(simplified JSON Schema check, not the registry's full rules) %s', "
                "additionalInfo:'%s'}" % (e, d, p) for e, d, p in _json_incompat(reader, writer, reader_is)]
    out = []
    for num in sorted(set(reader) & set(writer)):
        if reader[num] != writer[num]:
            out.append("{errorType:'FIELD_KIND_CHANGED', description:'(simplified PROTOBUF check) field number %d is "
                       "%s in the %s schema and %s in the %s schema'}" % (num, reader[num], reader_is, writer[num],
                                                                          writer_is))
    return out


def _json_incompat(reader, writer, reader_is):
    if not isinstance(reader, dict) or not isinstance(writer, dict):
        return [] if reader == writer else [("TYPE_CHANGED", "boolean schema changed", "#")]
    out = []
    rp, wp = reader.get("properties", {}), writer.get("properties", {})
    for name in sorted(set(rp) & set(wp)):
        if isinstance(rp[name], dict) and isinstance(wp[name], dict) and rp[name].get("type") != wp[name].get("type"):
            out.append(("TYPE_CHANGED", "property %s changed type" % name, "#/properties/" + name))
    for name in sorted(set(reader.get("required", [])) - set(writer.get("required", []))):
        out.append(("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
                    "property %s is required by the %s schema only" % (name, reader_is), "#/required/" + name))
    return out


def _proto_fields(text):
    """{field number: type} of a .proto text (every message, flattened: a simplification)."""
    fields = {}
    for m in re.finditer(r"(?:^|[;{}\s])(?:optional\s+|repeated\s+|required\s+)?([A-Za-z_][\w.]*)\s+"
                         r"[A-Za-z_]\w*\s*=\s*(\d+)\s*[;\[]", text):
        if m.group(1) not in ("syntax", "option", "package", "import", "reserved"):
            fields[int(m.group(2))] = m.group(1)
    return fields


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-schema-registry/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            BaseHTTPRequestHandler.log_message(self, fmt, *args)

    def _send(self, status, doc):
        raw = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(raw)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="SchemaRegistry"')
        self.end_headers()
        self.wfile.write(raw)

    def _authorized(self):
        user = self.server.username
        if not user:
            return True
        want = "Basic " + base64.b64encode(("%s:%s" % (user, self.server.password)).encode()).decode()
        return self.headers.get("Authorization") == want

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if not n:
            return {}
        try:
            doc = json.loads(self.rfile.read(n))
        except ValueError:
            raise ApiError(400, 400, "Unrecognized field or malformed JSON body")
        if not isinstance(doc, dict):
            raise ApiError(422, 422, "The request body must be a JSON object")
        return doc

    def _handle(self, method):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
        if parts and parts[-1] == "":
            parts.pop()
        try:
            if not self._authorized():
                raise ApiError(401, 401, "Unauthorized")
            body = self._body() if method in ("POST", "PUT", "DELETE") else {}
            with self.server.registry.lock:
                status, doc = self._route(method, parts, query, body)
        except ApiError as e:
            status, doc = e.status, {"error_code": e.code, "message": e.message}
        self._send(status, doc)

    def _route(self, method, p, q, body):
        reg = self.server.registry
        flag = lambda k: q.get(k, "false").lower() == "true"
        n = len(p)
        if p[:1] == ["subjects"]:
            if n == 1 and method == "GET":
                include = flag("deleted")
                return 200, sorted(s for s, sub in reg.subjects.items()
                                   if any(include or not v["deleted"] for v in sub["versions"]))
            if n == 2 and method == "POST":
                return 200, reg.lookup(p[1], body)
            if n == 2 and method == "DELETE":
                return 200, reg.delete_subject(p[1], flag("permanent"))
            if n == 3 and p[2] == "versions":
                if method == "GET":
                    return 200, [v["version"] for v in reg._subject_live(p[1])]
                if method == "POST":
                    return 200, reg.register(p[1], body)
            if n == 4 and p[2] == "versions":
                if method == "GET":
                    return 200, reg.version_doc(p[1], reg._version(p[1], p[3]))
                if method == "DELETE":
                    return 200, reg.delete_version(p[1], p[3], flag("permanent"))
            if n == 5 and p[2] == "versions" and p[4] == "schema" and method == "GET":
                return 200, json.loads(reg.version_doc(p[1], reg._version(p[1], p[3]))["schema"])
        if p[:2] == ["compatibility", "subjects"] and n in (4, 5) and p[3] == "versions" and method == "POST":
            return 200, reg.compatibility(p[2], p[4] if n == 5 else None, body, flag("verbose"))
        if p[:1] == ["config"]:
            if n == 1 and method == "GET":
                return 200, {"compatibilityLevel": reg.global_level}
            if n == 1 and method == "PUT":
                reg.global_level = _level(body)
                return 200, {"compatibility": reg.global_level}
            if n == 2 and method == "GET":
                if p[1] in reg.levels:
                    return 200, {"compatibilityLevel": reg.levels[p[1]]}
                if flag("defaultToGlobal"):
                    return 200, {"compatibilityLevel": reg.global_level}
                raise ApiError(404, 40408, "Subject '%s' does not have subject-level compatibility configured" % p[1])
            if n == 2 and method == "PUT":
                reg.levels[p[1]] = _level(body)
                return 200, {"compatibility": reg.levels[p[1]]}
            if n == 2 and method == "DELETE":
                if p[1] not in reg.levels:
                    if p[1] not in reg.subjects:
                        raise _not_found_subject(p[1])
                    return 200, {"compatibilityLevel": reg.global_level}
                return 200, {"compatibilityLevel": reg.levels.pop(p[1])}
        if p[:2] == ["schemas", "ids"] and n == 3 and method == "GET":
            try:
                s = reg.schemas[int(p[2])]
            except (ValueError, KeyError):
                raise ApiError(404, 40403, "Schema %s not found" % p[2])
            doc = {"schema": s["schema"]}
            if s["schemaType"] != "AVRO":
                doc["schemaType"] = s["schemaType"]
            if s["references"]:
                doc["references"] = s["references"]
            return 200, doc
        if not p and method == "GET":
            return 200, {}
        raise ApiError(404, 404, "HTTP 404 Not Found")

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")


def _level(body):
    level = str(body.get("compatibility", "")).upper()
    if level not in LEVELS:
        raise ApiError(422, 42203, "Invalid compatibility level. Valid values are none, backward, forward, full, "
                                   "backward_transitive, forward_transitive, and full_transitive")
    return level


def make_server(port, username=None, password=None, host="127.0.0.1", verbose=False):
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.registry = Registry()
    server.username, server.password, server.verbose = username, password, verbose
    return server


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--username")
    ap.add_argument("--password")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    server = make_server(a.port, a.username, a.password, verbose=a.verbose)
    sys.stdout.write("fake schema registry listening on http://127.0.0.1:%d\n" % a.port)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
