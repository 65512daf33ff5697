"""Avro schema parsing and compatibility, for the Schema Registry fake.

Follows the Avro specification (https://avro.apache.org/docs/current/specification/):
"Schema Declaration" for what a valid schema is, and "Schema Resolution" for whether data written
with one schema (the writer) can be read with another (the reader):

- primitives must match, or the writer's type is promoted: int -> long, float, double;
  long -> float, double; float -> double; string <-> bytes;
- records match by (unqualified) name or a reader alias; every reader field is either in the
  writer (by name or reader field alias; types resolved recursively) or has a default;
  writer fields the reader does not know are skipped;
- enums match by name; every writer symbol must be a reader symbol unless the reader has a default;
- fixed: same name and size; arrays: items; maps: values;
- a writer union: every branch must be readable; a reader union: some branch must read the writer.

The error types are those of Avro's SchemaCompatibility (NAME_MISMATCH, FIXED_SIZE_MISMATCH,
MISSING_ENUM_SYMBOLS, READER_FIELD_MISSING_DEFAULT_VALUE, TYPE_MISMATCH, MISSING_UNION_BRANCH).
Logical types are carried but do not change compatibility (as in Avro's own check).
"""
import json
import re

PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
# (writer, reader) pairs allowed by schema resolution besides equal types
PROMOTIONS = {("int", "long"), ("int", "float"), ("int", "double"), ("long", "float"), ("long", "double"),
              ("float", "double"), ("string", "bytes"), ("bytes", "string")}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class AvroError(ValueError):
    """The schema is not a valid Avro schema."""


class Node:
    """A parsed schema: `kind` is a primitive name, record, enum, fixed, array, map or union."""

    def __init__(self, kind, **kw):
        self.kind = kind
        self.name = kw.get("name")          # unqualified
        self.fullname = kw.get("fullname")
        self.aliases = kw.get("aliases", set())
        self.fields = kw.get("fields")      # [(name, Node, has_default, default, aliases)]
        self.symbols = kw.get("symbols")
        self.default = kw.get("default")    # enum default symbol
        self.size = kw.get("size")
        self.items = kw.get("items")
        self.values = kw.get("values")
        self.branches = kw.get("branches")


def parse(text, names=None):
    """Parse a schema (JSON text or already-decoded JSON) into a Node; raises AvroError."""
    if isinstance(text, str):
        try:
            text = json.loads(text)
        except ValueError as e:
            raise AvroError("not JSON: %s" % e)
    return _parse(text, names if names is not None else {}, None)


def _fullname(name, namespace):
    if "." in name:
        return name
    return "%s.%s" % (namespace, name) if namespace else name


def _check_name(fullname):
    for part in fullname.split("."):
        if not _NAME.match(part):
            raise AvroError("invalid name %r" % fullname)


def _parse(s, names, ns):
    if isinstance(s, str):
        if s in PRIMITIVES:
            return Node(s)
        full = _fullname(s, ns)
        if full in names:
            return names[full]
        if s in names:
            return names[s]
        raise AvroError("undefined name: %r" % s)
    if isinstance(s, list):
        branches = [_parse(b, names, ns) for b in s]
        seen = set()
        for b in branches:
            if b.kind == "union":
                raise AvroError("unions may not immediately contain other unions")
            key = b.fullname if b.kind in ("record", "enum", "fixed") else b.kind
            if key in seen:
                raise AvroError("duplicate in union: %s" % key)
            seen.add(key)
        return Node("union", branches=branches)
    if not isinstance(s, dict):
        raise AvroError("a schema is a string, an object or an array, not %r" % (s,))
    t = s.get("type")
    if t is None:
        raise AvroError("no type in %s" % json.dumps(s)[:80])
    if t in PRIMITIVES:
        return Node(t)
    if t in ("record", "error", "enum", "fixed"):
        name = s.get("name")
        if not isinstance(name, str) or not name:
            raise AvroError("a %s needs a name" % t)
        namespace = s.get("namespace", ns) if "." not in name else name.rsplit(".", 1)[0]
        full = _fullname(name, namespace or None)
        _check_name(full)
        if full in names:
            raise AvroError("can't redefine: %s" % full)
        aliases = set(_fullname(a, namespace or None) for a in s.get("aliases", []))
        short = full.rsplit(".", 1)[-1]
        if t == "enum":
            symbols = s.get("symbols")
            if not isinstance(symbols, list) or len(set(symbols)) != len(symbols):
                raise AvroError("enum %s: symbols must be a list of unique names" % full)
            for sym in symbols:
                if not isinstance(sym, str) or not _NAME.match(sym):
                    raise AvroError("enum %s: invalid symbol %r" % (full, sym))
            if "default" in s and s["default"] not in symbols:
                raise AvroError("enum %s: default %r is not a symbol" % (full, s["default"]))
            node = Node("enum", name=short, fullname=full, aliases=aliases, symbols=symbols, default=s.get("default"))
            names[full] = node
            return node
        if t == "fixed":
            size = s.get("size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise AvroError("fixed %s: size must be a non-negative integer" % full)
            node = Node("fixed", name=short, fullname=full, aliases=aliases, size=size)
            names[full] = node
            return node
        node = Node("record", name=short, fullname=full, aliases=aliases, fields=[])
        names[full] = node  # before the fields: records may be recursive
        fields = s.get("fields")
        if not isinstance(fields, list):
            raise AvroError("record %s: fields must be a list" % full)
        seen = set()
        for f in fields:
            if not isinstance(f, dict) or not isinstance(f.get("name"), str) or not _NAME.match(f["name"]):
                raise AvroError("record %s: invalid field %s" % (full, json.dumps(f)[:80]))
            if f["name"] in seen:
                raise AvroError("record %s: duplicate field %s" % (full, f["name"]))
            seen.add(f["name"])
            if "type" not in f:
                raise AvroError("record %s: field %s has no type" % (full, f["name"]))
            ftype = _parse(f["type"], names, namespace or None)
            has_default = "default" in f
            if has_default and not _default_ok(ftype, f["default"]):
                raise AvroError("record %s: invalid default for field %s: %s"
                                % (full, f["name"], json.dumps(f["default"])))
            node.fields.append((f["name"], ftype, has_default, f.get("default"), set(f.get("aliases", []))))
        return node
    if t == "array":
        if "items" not in s:
            raise AvroError("array needs items")
        return Node("array", items=_parse(s["items"], names, ns))
    if t == "map":
        if "values" not in s:
            raise AvroError("map needs values")
        return Node("map", values=_parse(s["values"], names, ns))
    if isinstance(t, (str, list, dict)):
        return _parse(t, names, ns)  # {"type": "com.x.Named"} or {"type": [...]}
    raise AvroError("unknown type %r" % (t,))


def _default_ok(node, value):
    """Does a JSON default value fit the schema (for a union: its first branch)?"""
    k = node.kind
    if k == "union":
        return _default_ok(node.branches[0], value)
    if k == "null":
        return value is None
    if k == "boolean":
        return isinstance(value, bool)
    if k in ("int", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if k in ("float", "double"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if k in ("bytes", "string", "fixed"):
        return isinstance(value, str)
    if k == "enum":
        return value in node.symbols
    if k == "array":
        return isinstance(value, list) and all(_default_ok(node.items, v) for v in value)
    if k == "map":
        return isinstance(value, dict) and all(_default_ok(node.values, v) for v in value.values())
    if k == "record":
        if not isinstance(value, dict):
            return False
        return all(_default_ok(ft, value[n]) if n in value else has for n, ft, has, _, _ in node.fields)
    return False


# ---- schema resolution --------------------------------------------------------------------

def _names_match(reader, writer):
    return reader.name == writer.name or writer.fullname in reader.aliases


def _top_match(reader, writer):
    if reader.kind == writer.kind:
        if reader.kind in ("record", "enum", "fixed"):
            return _names_match(reader, writer)
        return True
    return (writer.kind, reader.kind) in PROMOTIONS


def incompatibilities(reader, writer):
    """[(error_type, path, description)] that stop `reader` from reading data written with `writer`."""
    errors = []
    _resolve(reader, writer, "", set(), errors)
    return errors


def _resolve(r, w, path, seen, errors):
    if w.kind == "union":
        for i, b in enumerate(w.branches):
            if r.kind == "union":
                if not any(_top_match(rb, b) for rb in r.branches):
                    errors.append(("MISSING_UNION_BRANCH", "%s/%d" % (path, i),
                                   "reader union lacking writer type: %s" % _describe(b)))
                    continue
                rb = next(rb for rb in r.branches if _top_match(rb, b))
                _resolve(rb, b, "%s/%d" % (path, i), seen, errors)
            else:
                _resolve(r, b, "%s/%d" % (path, i), seen, errors)
        return
    if r.kind == "union":
        for rb in r.branches:
            if _top_match(rb, w):
                _resolve(rb, w, path, seen, errors)
                return
        errors.append(("MISSING_UNION_BRANCH", path or "/", "reader union lacking writer type: %s" % _describe(w)))
        return
    if not _top_match(r, w):
        if r.kind == w.kind:
            errors.append(("NAME_MISMATCH", path + "/name", "expected: %s" % w.fullname))
        else:
            errors.append(("TYPE_MISMATCH", path or "/", "reader type: %s not compatible with writer type: %s"
                           % (r.kind.upper(), w.kind.upper())))
        return
    if r.kind == "record":
        key = (id(r), id(w))
        if key in seen:
            return
        seen.add(key)
        writer_fields = dict((f[0], f) for f in w.fields)
        for i, (name, ftype, has_default, _, aliases) in enumerate(r.fields):
            wf = writer_fields.get(name)
            if wf is None:
                for a in aliases:
                    if a in writer_fields:
                        wf = writer_fields[a]
                        break
            if wf is None:
                if not has_default:
                    errors.append(("READER_FIELD_MISSING_DEFAULT_VALUE", "%s/fields/%d" % (path, i), name))
            else:
                _resolve(ftype, wf[1], "%s/fields/%d/type" % (path, i), seen, errors)
    elif r.kind == "enum":
        missing = [s for s in w.symbols if s not in r.symbols]
        if missing and r.default is None:
            errors.append(("MISSING_ENUM_SYMBOLS", path + "/symbols", "[%s]" % ", ".join(missing)))
    elif r.kind == "fixed":
        if r.size != w.size:
            errors.append(("FIXED_SIZE_MISMATCH", path + "/size", "expected: %d, found: %d" % (w.size, r.size)))
    elif r.kind == "array":
        _resolve(r.items, w.items, path + "/items", seen, errors)
    elif r.kind == "map":
        _resolve(r.values, w.values, path + "/values", seen, errors)


def _describe(node):
    return node.fullname or node.kind.upper()
