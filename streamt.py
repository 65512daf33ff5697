#!/usr/bin/env python3
"""streamt: build and deploy streaming pipelines (Kafka, Schema Registry, Flink SQL,
Kafka Connect, Conduktor Gateway) from a YAML + SQL project.

One file, standard library only, CPython 3.6 to 3.13.  The file is organised in
banner-separated sections in data-flow order; a section uses only the sections above it:

    errors & output . yaml . project . sql . validate . compile . artifact .
    clients (http, kafka wire) . targets . plan & deploy . cli

Run ``python3 streamt.py --help`` (or ``python3 streamt.pyz --help``).
"""

import sys

if sys.version_info < (3, 6):  # keep this guard parseable by old interpreters
    sys.stderr.write("streamt needs Python 3.6 or newer\n")
    sys.exit(1)

import collections
import datetime
import hashlib
import json
import os
import re
import string

# Heavier modules (argparse, ssl, socket, tarfile, gzip, lzma, zipfile, urllib.request,
# http.client, hmac, base64, difflib, uuid, ...) are imported inside the functions that
# use them: `streamt --version` must start within 3x a bare interpreter.

__version__ = "0.1.0"
__all__ = []  # filled by the sections: public names only


###############################################################################
# Errors & output #############################################################
###############################################################################
#
# Every failure a user can meet is a StreamtError with an exit code from the
# table below, a message saying what went wrong, where (file:line for project
# files) and, when we know it, a hint saying what to do.

EXIT_OK = 0
EXIT_FAILURE = 1       # failure not listed below
EXIT_USAGE = 2         # bad command line
EXIT_INVALID = 3       # the project is invalid
EXIT_INTEGRITY = 4     # artifact integrity or signature failure
EXIT_REFUSED = 5       # environment mismatch, protected env, destructive change, wrong cluster
EXIT_DRIFT = 6         # live state no longer matches the artifact's snapshot
EXIT_PARTIAL = 7       # partial deploy
EXIT_CHANGES = 8       # changes pending (only with --detailed-exitcode)


class Location(object):
    """Where something is written: a file, a 1-based line and column (both optional)."""

    __slots__ = ("file", "line", "col")

    def __init__(self, file=None, line=None, col=None):
        self.file, self.line, self.col = file, line, col

    def __str__(self):
        out = self.file or "<input>"
        if self.line:
            out += ":%d" % self.line
            if self.col:
                out += ":%d" % self.col
        return out

    def __repr__(self):
        return "Location(%r, %r, %r)" % (self.file, self.line, self.col)

    def __eq__(self, other):
        return isinstance(other, Location) and (self.file, self.line, self.col) == (
            other.file, other.line, other.col)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.file, self.line, self.col))


class StreamtError(Exception):
    """Base of every error streamt reports to a user (never shown as a traceback)."""

    exit_code = EXIT_FAILURE

    def __init__(self, message, hint=None, location=None, details=None):
        Exception.__init__(self, message)
        self.message = message
        self.hint = hint
        self.location = location
        self.details = list(details or [])

    def render(self):
        """The text shown to a user: location, message, details, hint."""
        head = self.message
        if self.location is not None:
            head = "%s: %s" % (self.location, head)
        lines = [head]
        lines.extend("  " + d for d in self.details)
        if self.hint:
            lines.append("hint: " + self.hint)
        return "\n".join(lines)

    def __str__(self):
        return self.render()


class UsageError(StreamtError):
    exit_code = EXIT_USAGE


class ProjectError(StreamtError):
    """The project cannot be loaded or is invalid."""
    exit_code = EXIT_INVALID


class IntegrityError(StreamtError):
    """An artifact is damaged, incomplete, hostile, or its signature does not verify."""
    exit_code = EXIT_INTEGRITY


class RefusedError(StreamtError):
    """streamt refuses to go on: environment mismatch, protected env, destructive change."""
    exit_code = EXIT_REFUSED


class DriftError(StreamtError):
    exit_code = EXIT_DRIFT


class PartialDeployError(StreamtError):
    exit_code = EXIT_PARTIAL


class ServiceError(StreamtError):
    """A service (Kafka, Flink, Connect, Schema Registry, Gateway) failed or is unreachable."""
    exit_code = EXIT_FAILURE


__all__ += ["EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_INVALID", "EXIT_INTEGRITY",
            "EXIT_REFUSED", "EXIT_DRIFT", "EXIT_PARTIAL", "EXIT_CHANGES", "Location",
            "StreamtError", "UsageError", "ProjectError", "IntegrityError", "RefusedError",
            "DriftError", "PartialDeployError", "ServiceError", "canonical_json",
            "Output"]


def canonical_json(obj):
    """Canonical JSON text: sorted keys, UTF-8 (no escaping), 2-space indent, final newline."""
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False,
                      separators=(",", ": ")) + "\n"


class Output(object):
    """Where results (stdout) and diagnostics/progress (stderr) go.

    Colour only when the stream is a TTY and NO_COLOR is not set."""

    COLORS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1", "dim": "2"}

    def __init__(self, out=None, err=None, environ=None):
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        env = os.environ if environ is None else environ
        self.no_color = "NO_COLOR" in env

    def _colored(self, stream, text, color):
        if color and not self.no_color and getattr(stream, "isatty", lambda: False)():
            return "\033[%sm%s\033[0m" % (self.COLORS[color], text)
        return text

    def result(self, text="", color=None):
        """A line of the command's result, on stdout."""
        self.out.write(self._colored(self.out, text, color) + "\n")

    def info(self, text="", color=None):
        """A line of progress or diagnostics, on stderr."""
        self.err.write(self._colored(self.err, text, color) + "\n")

    def warn(self, text):
        self.info("warning: " + text, "yellow")

    def error(self, text):
        self.info("error: " + text, "red")

# (end of errors & output)


###############################################################################
# YAML ########################################################################
###############################################################################
#
# A YAML loader that means what PyYAML's safe_load means (see vendor-notes.md).
#
# Project files were read by the original tool with PyYAML's ``safe_load`` (YAML 1.1
# rules), so a file must mean exactly the same here: ``yes`` is True, ``010`` is 8,
# ``1:30`` is 90, a tab where PyYAML refuses one is refused, and so on.  The loader has
# the same three stages as PyYAML, but each is lean:
#
#   _YamlScanner  text -> list of tokens.  It follows PyYAML's scanner rule for rule
#                 (simple keys, indentation stack, the same characters accepted where),
#                 because that is what decides which files are accepted; but it runs on
#                 indexes into one string, scans runs of characters with regular
#                 expressions and lines with str.find, and produces all tokens at once.
#   _YamlParser   tokens -> Python values, by recursive descent (depth-limited), building
#                 dicts and lists directly (no events, no node graph), resolving plain
#                 scalars with PyYAML's YAML 1.1 regular expressions.
#
# Deliberate differences from PyYAML (all refusals, with a clear YamlError): custom and
# Python tags, !!set/!!omap/!!pairs, recursive aliases, more than one document, nesting
# deeper than _YAML_MAX_DEPTH and alias expansion beyond _YAML_MAX_EXPANSION.


class YamlError(ProjectError):
    """A YAML file cannot be read: says where (file:line:col) and shows the line."""


class YamlMap(dict):
    """A mapping read from YAML; equal to the plain dict, and knows where it was written.

    ``loc`` is the Location of the mapping, ``key_loc(key)`` the Location of one key
    (falls back to the mapping's own)."""

    _src = None
    _pos = None
    _kpos = None

    @property
    def loc(self):
        if self._src is None:
            return Location()
        return self._src.location(self._pos)

    def key_loc(self, key):
        pos = self._kpos.get(key) if self._kpos else None
        if pos is None or self._src is None:
            return self.loc
        return self._src.location(pos)


class YamlSeq(list):
    """A sequence read from YAML; equal to the plain list, and knows where it was written.

    ``loc`` is the Location of the sequence, ``item_loc(i)`` the Location of item i."""

    _src = None
    _pos = None
    _ipos = None

    @property
    def loc(self):
        if self._src is None:
            return Location()
        return self._src.location(self._pos)

    def item_loc(self, index):
        ipos = self._ipos
        if self._src is None or not ipos or not -len(ipos) <= index < len(ipos):
            return self.loc
        return self._src.location(ipos[index])


def yaml_load(text, source_name=None, warnings=None):
    """Parse one YAML document into plain Python values, as ``yaml.safe_load`` would.

    ``text`` is a str (or UTF-8/UTF-16 bytes).  An empty document gives None.  Every
    problem raises YamlError; ``warnings`` (a list) receives ``(Location, message)``
    for duplicate keys."""
    return _yaml_run(text, source_name, warnings, False)


def yaml_load_located(text, source_name=None, warnings=None):
    """Like yaml_load, but mappings are YamlMap and sequences YamlSeq (with locations)."""
    return _yaml_run(text, source_name, warnings, True)


__all__ += ["YamlError", "YamlMap", "YamlSeq", "yaml_load", "yaml_load_located"]


# -- limits ---------------------------------------------------------------------

_YAML_MAX_DEPTH = 200             # nested collections; PyYAML itself dies near ~330
_YAML_MAX_EXPANSION = 1000000     # nodes reachable through aliases (billion laughs)
_YAML_MAX_KEY_SPAN = 1024         # YAML's limit on the length of an implicit key


# -- source text and locations --------------------------------------------------

class _YamlSource(object):
    """The (line-break normalised) text of a source; turns indexes into Locations."""

    def __init__(self, name, text):
        self.name = name
        self.text = text
        self._starts = None

    def _line_starts(self):
        if self._starts is None:
            starts = [0]
            find = self.text.find
            i = find("\n")
            while i >= 0:
                starts.append(i + 1)
                i = find("\n", i + 1)
            self._starts = starts
        return self._starts

    def line_col(self, pos):
        import bisect
        starts = self._line_starts()
        n = bisect.bisect_right(starts, pos) - 1
        return n + 1, pos - starts[n] + 1

    def location(self, pos):
        if pos is None:
            return Location(self.name)
        line, col = self.line_col(pos)
        return Location(self.name, line, col)

    def error(self, message, pos, hint=None):
        """A YamlError at index ``pos`` showing the offending line and a caret."""
        line, col = self.line_col(pos)
        text = self.text
        start = text.rfind("\n", 0, pos) + 1 if pos > 0 else 0
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        shown = text[start:end].rstrip("\0")
        if len(shown) > 200:      # long lines: show a window around the column
            lo = max(0, col - 100)
            shown, col = shown[lo:lo + 200], col - lo
        caret = "".join("\t" if c == "\t" else " " for c in shown[:col - 1]) + "^"
        return YamlError(message, hint=hint, location=Location(self.name, line, col),
                         details=[shown, caret])


def _yaml_run(text, source_name, warnings, located):
    if isinstance(text, bytes):
        text = _yaml_decode(text, source_name)
    elif not isinstance(text, str):
        raise TypeError("yaml_load() needs str or bytes, not %s" % type(text).__name__)
    src = _YamlSource(source_name, text)
    bad = _YAML_NONPRINTABLE.search(text)
    if bad:
        raise src.error("unacceptable character #x%04x: control characters are not allowed"
                        % ord(bad.group()), bad.start(),
                        hint="remove the character or write it as an escape in a "
                             "double-quoted string")
    if "\r" in text or "\x85" in text:
        # every break PyYAML folds to "\n" becomes "\n" (indexes shift only on such lines)
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x85", "\n")
        src = _YamlSource(source_name, text)
    # The token list and the values are many small objects and no cycles: the cyclic
    # garbage collector would only rescan them again and again (a third of the time).
    import gc
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        tokens = _YamlScanner(text, src).scan()
        return _YamlParser(tokens, src, warnings, located).parse()
    except RecursionError:
        raise YamlError("the document is nested too deeply to be read",
                        location=Location(source_name))
    finally:
        if gc_was_enabled:
            gc.enable()


def _yaml_decode(data, source_name):
    try:
        if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
            return data.decode("utf-16")
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise YamlError("the file is not valid UTF-8 or UTF-16 (byte %d)" % e.start,
                        location=Location(source_name),
                        hint="save the file as UTF-8")


_YAML_NONPRINTABLE = re.compile(
    u"[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# -- scanner --------------------------------------------------------------------
#
# Tokens are tuples (kind, index, value, style).  The rules below are PyYAML's
# scanner's (itself following the YAML 1.1 spec), written over indexes.

(_T_STREAM_END, _T_DIRECTIVE, _T_DOC_START, _T_DOC_END, _T_BSEQ, _T_BMAP, _T_BEND,
 _T_FSEQ, _T_FSEQ_END, _T_FMAP, _T_FMAP_END, _T_BENTRY, _T_FENTRY, _T_KEY, _T_VALUE,
 _T_ALIAS, _T_ANCHOR, _T_TAG, _T_SCALAR) = range(19)

_YAML_TOKEN_NAMES = {
    _T_STREAM_END: "the end of the file", _T_DIRECTIVE: "a directive",
    _T_DOC_START: "'---'", _T_DOC_END: "'...'", _T_BSEQ: "a block sequence",
    _T_BMAP: "a block mapping", _T_BEND: "the end of a block", _T_FSEQ: "'['",
    _T_FSEQ_END: "']'", _T_FMAP: "'{'", _T_FMAP_END: "'}'", _T_BENTRY: "'-'",
    _T_FENTRY: "','", _T_KEY: "a key", _T_VALUE: "':'", _T_ALIAS: "an alias",
    _T_ANCHOR: "an anchor", _T_TAG: "a tag", _T_SCALAR: "a scalar"}

_Y_WS_END = u"\0 \t\n\u2028\u2029"          # what may follow '-', '?', ':', '---'
_Y_BREAKS = u"\n\u2028\u2029"
_Y_PLAIN_BLOCK = re.compile(
    u"[^\0 \t\n\u2028\u2029:]*(?::(?![\0 \t\n\u2028\u2029])[^\0 \t\n\u2028\u2029:]*)*")
_Y_PLAIN_FLOW = re.compile(
    u"[^\0 \t\n\u2028\u2029:,?\\[\\]{}]*"
    u"(?::(?![\0 \t\n\u2028\u2029,\\[\\]{}])[^\0 \t\n\u2028\u2029:,?\\[\\]{}]*)*")
_Y_NOT_PLAIN_START = u"\0 \t\n\u2028\u2029-?:,[]{}#&*!|>'\"%@`"
_Y_SPACES = re.compile(" *")
_Y_PLAIN_GAP = re.compile(u" *(?:[\n\u2028\u2029][ \n\u2028\u2029]*)?")
_Y_SKIP = re.compile(u"(?: *(?:#[^\0\n\u2028\u2029]*)?[\n\u2028\u2029])*"
                     u" *(?:#[^\0\n\u2028\u2029]*)?")
_Y_ANCHOR_NAME = re.compile("[0-9A-Za-z_-]+")
_Y_URI = re.compile(r"[0-9A-Za-z\-;/?:@&=+$,_.!~*'()\[\]%]+")
_Y_SINGLE_RUN = re.compile(u"[^'\0 \t\n\u2028\u2029]*")
_Y_DOUBLE_RUN = re.compile(u"[^\"\\\\\0 \t\n\u2028\u2029]*")
_Y_HEX = re.compile("[0-9A-Fa-f]*")
_Y_ESCAPES = {
    "0": "\0", "a": "\x07", "b": "\x08", "t": "\t", "\t": "\t", "n": "\n", "v": "\x0b",
    "f": "\x0c", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "\\": "\\", "/": "/",
    "N": u"\x85", "_": u"\xa0", "L": u"\u2028", "P": u"\u2029"}
_Y_ESCAPE_HEX = {"x": 2, "u": 4, "U": 8}
_Y_TAB_HINT = ("YAML does not allow tabs for indentation or between items; "
               "use spaces")


def _yaml_first_break(s, start, end):
    found = [k for k in (s.find("\n", start, end), s.find(u"\u2028", start, end),
                         s.find(u"\u2029", start, end)) if k >= 0]
    return min(found) if found else -1


class _YamlScanner(object):

    def __init__(self, text, src):
        self.s = text + "\0"
        self.src = src
        self.i = 0
        self.ls = 0              # index where the current line starts: column = i - ls
        self.flow = 0            # depth of [ ] and { }
        self.indent = -1         # current block indentation column
        self.indents = []
        self.allow_key = True    # may a simple key start here?
        self.keys = {}           # flow level -> (token number, required, index, ls, column)
        self.toks = []
        self.ubrk = u"\u2028" in text or u"\u2029" in text

    def fail(self, message, pos=None, hint=None):
        return self.src.error(message, self.i if pos is None else pos, hint)

    # -- main loop

    def scan(self):
        s = self.s
        toks = self.toks
        append = toks.append
        if s[0] == u"\ufeff":
            self.i = self.ls = 1
        plain_start = _Y_NOT_PLAIN_START
        run_block = _Y_PLAIN_BLOCK.match
        ws_end = _Y_WS_END
        while True:
            self.skip_to_token()
            if self.keys:
                self.stale_keys()
            i = self.i
            col = i - self.ls
            if not self.flow and self.indent > col:
                self.unwind(col)
            ch = s[i]
            if ch not in plain_start and not (
                    ch == "." and col == 0 and s.startswith("...", i) and s[i + 3] in ws_end):
                if not self.flow and self.allow_key and not self.keys:
                    # Fast path for the most common line shape, `key: ...`: a one-run plain
                    # key followed by ': '.  It makes exactly the tokens the general path
                    # (save_key, plain, value) would make, without the bookkeeping.
                    e = run_block(s, i).end()
                    if s[e] == ":" and s[e + 1] in ws_end and e - i <= _YAML_MAX_KEY_SPAN:
                        if self.indent < col:
                            self.add_indent(col)
                            append((_T_BMAP, i, None, None))
                        append((_T_KEY, i, None, None))
                        append((_T_SCALAR, i, s[i:e], None))
                        append((_T_VALUE, e, None, None))
                        self.allow_key = False
                        self.i = e + 1
                        continue
                self.plain()
                continue
            if ch == "\0":
                if not self.flow:
                    self.unwind(-1)
                self.remove_key()
                self.allow_key = False
                self.keys = {}
                append((_T_STREAM_END, i, None, None))
                return toks
            nxt = s[i + 1]
            if ch == "-" and nxt in ws_end:
                if col == 0 and s.startswith("---", i) and s[i + 3] in ws_end:
                    self.doc_marker(_T_DOC_START)
                else:
                    self.block_entry()
            elif ch == ":" and (self.flow or nxt in ws_end):
                self.value()
            elif ch == "-" and col == 0 and s.startswith("---", i) and s[i + 3] in ws_end:
                self.doc_marker(_T_DOC_START)
            elif ch == "." and col == 0 and s.startswith("...", i) and s[i + 3] in ws_end:
                self.doc_marker(_T_DOC_END)
            elif ch in "[{":
                self.save_key()
                self.flow += 1
                if self.flow > _YAML_MAX_DEPTH:
                    raise self.too_deep()
                self.allow_key = True
                append((_T_FSEQ if ch == "[" else _T_FMAP, i, None, None))
                self.i = i + 1
            elif ch in "]}":
                self.remove_key()
                if not self.flow:
                    raise self.fail("found %r without a matching opening bracket" % ch)
                self.flow -= 1
                self.allow_key = False
                append((_T_FSEQ_END if ch == "]" else _T_FMAP_END, i, None, None))
                self.i = i + 1
            elif ch == ",":
                self.allow_key = True
                self.remove_key()
                append((_T_FENTRY, i, None, None))
                self.i = i + 1
            elif ch == "?" and (self.flow or nxt in ws_end):
                if not self.flow:
                    if not self.allow_key:
                        raise self.fail("mapping keys are not allowed here")
                    if self.add_indent(col):
                        append((_T_BMAP, i, None, None))
                self.allow_key = not self.flow
                self.remove_key()
                append((_T_KEY, i, None, None))
                self.i = i + 1
            elif ch == "*" or ch == "&":
                self.save_key()
                self.allow_key = False
                self.anchor(ch)
            elif ch == "!":
                self.save_key()
                self.allow_key = False
                self.tag()
            elif (ch == "|" or ch == ">") and not self.flow:
                self.allow_key = True
                self.remove_key()
                self.block_scalar(ch)
            elif ch == "'" or ch == '"':
                self.save_key()
                self.allow_key = False
                self.quoted(ch)
            elif ch == "%" and col == 0:
                if not self.flow:
                    self.unwind(-1)
                self.remove_key()
                self.allow_key = False
                self.directive()
            elif nxt not in ws_end and (ch == "-" or (not self.flow and ch in "?:")):
                self.plain()
            elif ch == "\t":
                raise self.fail("found a tab character where a token should start",
                                hint=_Y_TAB_HINT)
            else:
                raise self.fail("found character %r that cannot start any token" % ch,
                                hint="quote the value if it should be text")

    def skip_to_token(self):
        s = self.s
        i = self.i
        e = _Y_SKIP.match(s, i).end()
        if e != i:
            if self.ubrk:
                last = max(s.rfind("\n", i, e), s.rfind(u"\u2028", i, e),
                           s.rfind(u"\u2029", i, e))
            else:
                last = s.rfind("\n", i, e)
            if last >= 0:
                self.ls = last + 1
                if not self.flow:
                    self.allow_key = True
            self.i = e

    # -- simple keys and indentation

    def stale_keys(self):
        for level, key in list(self.keys.items()):
            if key[3] != self.ls or self.i - key[2] > _YAML_MAX_KEY_SPAN:
                if key[1]:
                    raise self.fail("could not find the ':' expected after this key",
                                    key[2], hint="a key and its ':' must be on one line")
                del self.keys[level]

    def save_key(self):
        if self.allow_key:
            col = self.i - self.ls
            required = not self.flow and self.indent == col
            self.remove_key()
            self.keys[self.flow] = (len(self.toks), required, self.i, self.ls, col)

    def remove_key(self):
        key = self.keys.pop(self.flow, None)
        if key is not None and key[1]:
            raise self.fail("could not find the ':' expected after this key", key[2],
                            hint="a key and its ':' must be on one line")

    def unwind(self, col):
        append = self.toks.append
        while self.indent > col:
            self.indent = self.indents.pop()
            append((_T_BEND, self.i, None, None))

    def add_indent(self, col):
        if self.indent < col:
            self.indents.append(self.indent)
            self.indent = col
            if len(self.indents) > _YAML_MAX_DEPTH:
                raise self.too_deep()
            return True
        return False

    def too_deep(self):
        # Checked here, not only in the parser: the simple-key bookkeeping is per
        # nesting level, so thousands of levels would make scanning quadratic.
        return self.fail("collections are nested more than %d levels deep" % _YAML_MAX_DEPTH)

    # -- indicators

    def doc_marker(self, kind):
        self.unwind(-1)
        self.remove_key()
        self.allow_key = False
        self.toks.append((kind, self.i, None, None))
        self.i += 3

    def block_entry(self):
        i = self.i
        if not self.flow:
            if not self.allow_key:
                raise self.fail("sequence entries are not allowed here",
                                hint="a '- ' item must start its own line")
            if self.add_indent(i - self.ls):
                self.toks.append((_T_BSEQ, i, None, None))
        self.allow_key = True
        self.remove_key()
        self.toks.append((_T_BENTRY, i, None, None))
        self.i = i + 1

    def value(self):
        i = self.i
        toks = self.toks
        key = self.keys.pop(self.flow, None)
        if key is not None:
            toks.insert(key[0], (_T_KEY, key[2], None, None))
            if not self.flow and self.add_indent(key[4]):
                toks.insert(key[0], (_T_BMAP, key[2], None, None))
            self.allow_key = False
        else:
            if not self.flow:
                if not self.allow_key:
                    raise self.fail("mapping values are not allowed here",
                                    hint="quote the value if it contains ': '")
                if self.add_indent(i - self.ls):
                    toks.append((_T_BMAP, i, None, None))
            self.allow_key = not self.flow
        toks.append((_T_VALUE, i, None, None))
        self.i = i + 1

    def anchor(self, ch):
        s = self.s
        start = self.i
        what = "an alias" if ch == "*" else "an anchor"
        m = _Y_ANCHOR_NAME.match(s, start + 1)
        if not m:
            raise self.fail("expected the name of %s after %r" % (what, ch), start + 1)
        e = m.end()
        if s[e] not in u"\0 \t\n\u2028\u2029?:,]}%@`":
            raise self.fail("unexpected character %r in the name of %s" % (s[e], what), e)
        self.toks.append((_T_ALIAS if ch == "*" else _T_ANCHOR, start, m.group(), None))
        self.i = e

    def tag(self):
        s = self.s
        start = self.i
        ch = s[start + 1]
        if ch == "<":
            self.i = start + 2
            handle, suffix = None, self.tag_uri()
            if s[self.i] != ">":
                raise self.fail("expected '>' to close the tag")
            self.i += 1
        elif ch in _Y_WS_END:
            handle, suffix = None, "!"
            self.i = start + 1
        else:
            j = start + 1
            while s[j] not in u"\0 \n\u2028\u2029" and s[j] != "!":
                j += 1
            if s[j] == "!":
                m = _Y_ANCHOR_NAME.match(s, start + 1)
                e = m.end() if m else start + 1
                if s[e] != "!":
                    raise self.fail("expected '!' to end the tag handle", e)
                handle = s[start:e + 1]
                self.i = e + 1
            else:
                handle = "!"
                self.i = start + 1
            suffix = self.tag_uri()
        if s[self.i] not in u"\0 \n\u2028\u2029":
            raise self.fail("expected a space after the tag, but found %r" % s[self.i])
        self.toks.append((_T_TAG, start, (handle, suffix), None))

    def tag_uri(self):
        m = _Y_URI.match(self.s, self.i)
        if not m:
            raise self.fail("expected a tag (URI characters), but found %r" % self.s[self.i])
        text = m.group()
        self.i = m.end()
        if "%" in text:
            out = bytearray()
            k = 0
            while k < len(text):
                if text[k] == "%":
                    try:
                        out.append(int(text[k + 1:k + 3], 16))
                    except ValueError:
                        raise self.fail("bad %-escape in a tag")
                    if not re.match("[0-9A-Fa-f]{2}$", text[k + 1:k + 3]):
                        raise self.fail("bad %-escape in a tag")
                    k += 3
                else:
                    out.extend(text[k].encode("ascii"))
                    k += 1
            try:
                text = out.decode("utf-8")
            except UnicodeDecodeError:
                raise self.fail("a %-escape in a tag is not UTF-8")
        return text

    def directive(self):
        s = self.s
        start = self.i
        m = _Y_ANCHOR_NAME.match(s, start + 1)
        if not m or s[m.end()] not in u"\0 \n\u2028\u2029":
            raise self.fail("expected a directive name after '%'", start + 1)
        name = m.group()
        self.i = m.end()
        value = None
        if name == "YAML":
            m = re.compile("( *)([0-9]+)\\.([0-9]+)").match(s, self.i)
            if not m or s[m.end()] not in u"\0 \n\u2028\u2029":
                raise self.fail("expected a version like '%YAML 1.1'")
            value = (int(m.group(2)), int(m.group(3)))
            self.i = m.end()
        elif name == "TAG":
            self.i = _Y_SPACES.match(s, self.i).end()
            m = re.compile("!(?:[0-9A-Za-z_-]*!)?").match(s, self.i)
            if not m or s[m.end()] != " ":
                raise self.fail("expected a tag handle like '!e!' followed by a space")
            handle = m.group()
            self.i = _Y_SPACES.match(s, m.end()).end()
            prefix = self.tag_uri()
            if s[self.i] not in u"\0 \n\u2028\u2029":
                raise self.fail("expected a space or the end of the line")
            value = (handle, prefix)
        else:
            while s[self.i] not in u"\0\n\u2028\u2029":
                self.i += 1
        # the rest of the line may hold spaces and a comment only
        i = _Y_SPACES.match(s, self.i).end()
        if s[i] == "#":
            while s[i] not in u"\0\n\u2028\u2029":
                i += 1
        if s[i] not in u"\0\n\u2028\u2029":
            raise self.fail("expected a comment or the end of the line", i)
        if s[i] != "\0":
            i += 1
            self.ls = i
        self.i = i
        self.toks.append((_T_DIRECTIVE, start, (name, value), None))

    # -- scalars

    def plain(self):
        s = self.s
        self.save_key()
        self.allow_key = False
        start = i = self.i
        flow = self.flow
        rx = _Y_PLAIN_FLOW if flow else _Y_PLAIN_BLOCK
        indent = self.indent + 1
        chunks = []
        spaces = None
        gap = _Y_PLAIN_GAP.match
        ubrk = self.ubrk
        while True:
            if s[i] == "#":
                break
            e = rx.match(s, i).end()
            if e == i:
                break
            self.allow_key = False
            if spaces:
                chunks.extend(spaces)
            chunks.append(s[i:e])
            # the spaces (and line breaks, and blank lines) after this run
            i = gap(s, e).end()
            if i == e:
                break
            b = s.find("\n", e, i) if not ubrk else _yaml_first_break(s, e, i)
            if b < 0:
                spaces = [s[e:i]]
            else:
                self.allow_key = True
                line_break = s[b]
                if ubrk:
                    breaks = [c for c in s[b + 1:i] if c != " "]
                    self.ls = max(s.rfind("\n", b, i), s.rfind(u"\u2028", b, i),
                                  s.rfind(u"\u2029", b, i)) + 1
                else:
                    breaks = ["\n"] * s.count("\n", b + 1, i)
                    self.ls = s.rfind("\n", b, i) + 1
                if i == self.ls and (s.startswith("---", i) or s.startswith("...", i)) \
                        and s[i + 3] in _Y_WS_END:
                    break       # a document marker ends the scalar
                if line_break != "\n":
                    spaces = [line_break]
                elif not breaks:
                    spaces = [" "]
                else:
                    spaces = []
                spaces.extend(breaks)
            if s[i] == "#" or (not flow and i - self.ls < indent):
                break
        self.i = i
        value = chunks[0] if len(chunks) == 1 else "".join(chunks)
        self.toks.append((_T_SCALAR, start, value, None))

    def quoted(self, quote):
        s = self.s
        start = i = self.i + 1
        double = quote == '"'
        run = _Y_DOUBLE_RUN if double else _Y_SINGLE_RUN
        chunks = []
        while True:
            # non-spaces
            while True:
                e = run.match(s, i).end()
                if e != i:
                    chunks.append(s[i:e])
                    i = e
                ch = s[i]
                if not double and ch == "'" and s[i + 1] == "'":
                    chunks.append("'")
                    i += 2
                elif double and ch == "\\":
                    i += 1
                    ch = s[i]
                    if ch in _Y_ESCAPES:
                        chunks.append(_Y_ESCAPES[ch])
                        i += 1
                    elif ch in _Y_ESCAPE_HEX:
                        n = _Y_ESCAPE_HEX[ch]
                        digits = s[i + 1:i + 1 + n]
                        if len(_Y_HEX.match(digits).group()) != n:
                            raise self.fail("expected an escape of %d hexadecimal digits "
                                            "after '\\%s'" % (n, ch), i + 1)
                        code = int(digits, 16)
                        if code > 0x10FFFF:
                            raise self.fail("escape '\\%s%s' is beyond Unicode" % (ch, digits), i)
                        chunks.append(chr(code))
                        i += 1 + n
                    elif ch in _Y_BREAKS:
                        i += 1
                        self.ls = i
                        i = self.quoted_breaks(i, chunks, start)
                    else:
                        raise self.fail("unknown escape character %r in a double-quoted "
                                        "string" % ch, i,
                                        hint="write a backslash as '\\\\'")
                else:
                    break
            if s[i] == quote:
                break
            # spaces and line breaks
            j = i
            while s[j] == " " or s[j] == "\t":
                j += 1
            ch = s[j]
            if ch == "\0":
                raise self.fail("this quoted string is not closed before the end of the "
                                "file", start - 1)
            if ch in _Y_BREAKS:
                i = j + 1
                self.ls = i
                breaks = []
                i = self.quoted_breaks(i, breaks, start)
                if ch != "\n":
                    chunks.append(ch)
                elif not breaks:
                    chunks.append(" ")
                chunks.extend(breaks)
            else:
                chunks.append(s[i:j])
                i = j
        self.i = i + 1
        self.toks.append((_T_SCALAR, start - 1, "".join(chunks), quote))

    def quoted_breaks(self, i, chunks, start):
        s = self.s
        while True:
            if (s.startswith("---", i) or s.startswith("...", i)) and s[i + 3] in _Y_WS_END:
                raise self.fail("found a document separator inside a quoted string "
                                "(started at line %d)" % self.src.line_col(start)[0], i)
            while s[i] == " " or s[i] == "\t":
                i += 1
            ch = s[i]
            if ch in _Y_BREAKS:
                chunks.append(ch)
                i += 1
                self.ls = i
            else:
                return i

    def block_scalar(self, style):
        s = self.s
        start = self.i
        i = start + 1
        folded = style == ">"
        chomping = increment = None
        ch = s[i]
        if ch in "+-":
            chomping = ch == "+"
            i += 1
            ch = s[i]
            if ch in "0123456789":
                increment = int(ch)
                i += 1
        elif ch in "0123456789":
            increment = int(ch)
            i += 1
            ch = s[i]
            if ch in "+-":
                chomping = ch == "+"
                i += 1
        if increment == 0:
            raise self.fail("the indentation indicator of a block scalar must be 1-9, "
                            "not 0", i - 1)
        if s[i] not in u"\0 \n\u2028\u2029":
            raise self.fail("expected a chomping (+ -) or indentation (1-9) indicator, "
                            "but found %r" % s[i], i,
                            hint=_Y_TAB_HINT if s[i] == "\t" else None)
        while s[i] == " ":
            i += 1
        if s[i] == "#":
            while s[i] not in u"\0\n\u2028\u2029":
                i += 1
        if s[i] not in u"\0\n\u2028\u2029":
            raise self.fail("expected a comment or a line break after the block scalar "
                            "header, but found %r" % s[i], i)
        ls = self.ls
        if s[i] != "\0":
            i += 1
            ls = i
        min_indent = max(self.indent + 1, 1)
        breaks = []
        if increment is None:
            max_indent = 0
            while True:
                ch = s[i]
                if ch == " ":
                    i += 1
                    if i - ls > max_indent:
                        max_indent = i - ls
                elif ch in _Y_BREAKS:
                    breaks.append(ch)
                    i += 1
                    ls = i
                else:
                    break
            indent = max(min_indent, max_indent)
        else:
            indent = min_indent + increment - 1
            i, ls = self._block_breaks(i, ls, indent, breaks)
        chunks = []
        line_break = ""
        ubrk = self.ubrk
        while i - ls == indent and s[i] != "\0":
            chunks.extend(breaks)
            leading_non_space = s[i] not in " \t"
            if ubrk:
                e = re.compile(u"[\0\n\u2028\u2029]").search(s, i).start()
            else:
                e = s.find("\n", i)
                if e < 0:
                    e = len(s) - 1
            chunks.append(s[i:e])
            i = e
            ch = s[i]
            if ch == "\0":
                line_break = ""
            else:
                line_break = ch
                i += 1
                ls = i
            breaks = []
            i, ls = self._block_breaks(i, ls, indent, breaks)
            if i - ls == indent and s[i] != "\0":
                if folded and line_break == "\n" and leading_non_space and s[i] not in " \t":
                    if not breaks:
                        chunks.append(" ")
                else:
                    chunks.append(line_break)
            else:
                break
        if chomping is not False:
            chunks.append(line_break)
        if chomping is True:
            chunks.extend(breaks)
        self.i = i
        self.ls = ls
        self.toks.append((_T_SCALAR, start, "".join(chunks), style))

    def _block_breaks(self, i, ls, indent, breaks):
        s = self.s
        while i - ls < indent and s[i] == " ":
            i += 1
        while s[i] in _Y_BREAKS and s[i] != "\0":
            breaks.append(s[i])
            i += 1
            ls = i
            while i - ls < indent and s[i] == " ":
                i += 1
        return i, ls


# -- parser and constructor ------------------------------------------------------

_Y_MERGE = object()     # the plain key '<<'
_Y_VALUE = object()     # the plain scalar '=' (PyYAML: a str as a key, an error elsewhere)

_Y_BOOL = {"yes": True, "Yes": True, "YES": True, "no": False, "No": False, "NO": False,
           "true": True, "True": True, "TRUE": True, "false": False, "False": False,
           "FALSE": False, "on": True, "On": True, "ON": True, "off": False, "Off": False,
           "OFF": False}
_Y_NULL = ("~", "null", "Null", "NULL", "")
_Y_FLOAT = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?"
    r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*"
    r"|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN))$")
_Y_INT = re.compile(
    r"^(?:[-+]?0b[0-1_]+"
    r"|[-+]?0[0-7_]+"
    r"|[-+]?(?:0|[1-9][0-9_]*)"
    r"|[-+]?0x[0-9a-fA-F_]+"
    r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$")
_Y_TIMESTAMP_IMPLICIT = re.compile(
    r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
    r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?"
    r"(?:[Tt]|[ \t]+)[0-9][0-9]?"
    r":[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?"
    r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$")
_Y_TIMESTAMP = re.compile(
    r"^([0-9][0-9][0-9][0-9])-([0-9][0-9]?)-([0-9][0-9]?)"
    r"(?:(?:[Tt]|[ \t]+)([0-9][0-9]?):([0-9][0-9]):([0-9][0-9])"
    r"(?:\.([0-9]*))?"
    r"(?:[ \t]*(Z|([-+])([0-9][0-9]?)(?::([0-9][0-9]))?))?)?$")
_Y_INF = float("inf")
_Y_NAN = _Y_INF - _Y_INF    # one NaN object, as PyYAML (so that .nan keys collide alike)
_Y_YAML_TAG = "tag:yaml.org,2002:"


def _yaml_int(text):
    value = text.replace("_", "")
    sign = 1
    if value[0] == "-":
        sign = -1
    if value[0] in "+-":
        value = value[1:]
    if value == "0":
        return 0
    if value.startswith("0b"):
        return sign * int(value[2:], 2)
    if value.startswith("0x"):
        return sign * int(value[2:], 16)
    if value[0] == "0":
        return sign * int(value, 8)
    if ":" in value:
        total = 0
        base = 1
        for part in reversed(value.split(":")):
            total += int(part) * base
            base *= 60
        return sign * total
    return sign * int(value)


def _yaml_float(text):
    value = text.replace("_", "").lower()
    sign = 1
    if value[0] == "-":
        sign = -1
    if value[0] in "+-":
        value = value[1:]
    if value == ".inf":
        return sign * _Y_INF
    if value == ".nan":
        return _Y_NAN
    if ":" in value:
        total = 0.0
        base = 1
        for part in reversed(value.split(":")):
            total += float(part) * base
            base *= 60
        return sign * total
    return sign * float(value)


def _yaml_timestamp(text):
    m = _Y_TIMESTAMP.match(text)
    if m is None:
        raise ValueError("not a timestamp")
    year, month, day, hour, minute, second, fraction, tz, sign, tzh, tzm = m.groups()
    if not hour:
        return datetime.date(int(year), int(month), int(day))
    micro = 0
    if fraction:
        micro = int(fraction[:6].ljust(6, "0"))
    tzinfo = None
    if sign:
        delta = datetime.timedelta(hours=int(tzh), minutes=int(tzm or 0))
        if sign == "-":
            delta = -delta
        tzinfo = datetime.timezone(delta)
    elif tz:
        tzinfo = datetime.timezone.utc
    return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute),
                             int(second), micro, tzinfo=tzinfo)


class _YamlBadScalar(Exception):
    """A plain scalar looks like a number or a date but is not one (e.g. 2024-13-01)."""


def _yaml_resolve(text):
    """The value of a plain scalar under PyYAML's (YAML 1.1) implicit resolvers."""
    try:
        return _yaml_resolve_plain(text)
    except (ValueError, OverflowError) as e:
        raise _YamlBadScalar(str(e))


def _yaml_resolve_plain(text):
    if not text:
        return None
    c = text[0]
    if c in "yYnNtTfFoO":
        value = _Y_BOOL.get(text)
        if value is not None:
            return value
        if text in _Y_NULL:
            return None
        return text
    if c in "0123456789":
        if _Y_FLOAT.match(text):
            return _yaml_float(text)
        if _Y_INT.match(text):
            return _yaml_int(text)
        if _Y_TIMESTAMP_IMPLICIT.match(text):
            return _yaml_timestamp(text)
        return text
    if c in "-+.":
        if _Y_FLOAT.match(text):
            return _yaml_float(text)
        if c != "." and _Y_INT.match(text):
            return _yaml_int(text)
        return text
    if c == "~" and text == "~":
        return None
    if c == "<" and text == "<<":
        return _Y_MERGE
    if c == "=" and text == "=":
        return _Y_VALUE
    return text


_Y_SCALAR_TAGS = {
    "str": lambda text: text,
    "null": lambda text: None,
    "bool": lambda text: _Y_BOOL[text.lower()],
    "int": _yaml_int,
    "float": _yaml_float,
    "timestamp": _yaml_timestamp,
}


class _YamlParser(object):

    def __init__(self, tokens, src, warnings, located):
        self.toks = tokens
        self.p = 0
        self.src = src
        self.warnings = warnings
        self.located = located
        self.anchors = {}        # name -> (value, expanded size)
        self.building = set()   # anchors whose node is being parsed
        self.expanded = 0
        self.depth = 0
        self.handles = {"!": "!", "!!": _Y_YAML_TAG}

    def fail(self, message, pos, hint=None):
        return self.src.error(message, pos, hint)

    def unexpected(self, what):
        tok = self.toks[self.p]
        return self.fail("%s, but found %s" % (what, _YAML_TOKEN_NAMES[tok[0]]), tok[1])

    # -- stream and documents

    def parse(self):
        try:
            result = self.stream()
        except _YamlBadScalar as e:
            tok = self.toks[self.p - 1]
            raise self.fail("%r looks like a number or a date but is not a valid one (%s)"
                            % (tok[2], e), tok[1], hint="quote it if it is meant as text")
        return self.item(result, 0)

    def stream(self):
        toks = self.toks
        documents = 0
        result = None
        if toks[0][0] not in (_T_DIRECTIVE, _T_DOC_START, _T_STREAM_END):
            result = self.node(True, False)
            documents = 1
            if toks[self.p][0] == _T_DOC_END:
                self.p += 1
        while True:
            while toks[self.p][0] == _T_DOC_END:
                self.p += 1
            tok = toks[self.p]
            if tok[0] == _T_STREAM_END:
                return result
            self.directives()
            tok = toks[self.p]
            if tok[0] != _T_DOC_START:
                raise self.unexpected("expected '---' (a new document) or the end of the file")
            if documents:
                raise self.fail("a second document ('---') in the same file is not supported",
                                tok[1], hint="keep one document per file")
            self.p += 1
            documents = 1
            if toks[self.p][0] in (_T_DIRECTIVE, _T_DOC_START, _T_DOC_END, _T_STREAM_END):
                result = None
            else:
                result = self.node(True, False)
            if toks[self.p][0] == _T_DOC_END:
                self.p += 1

    def directives(self):
        toks = self.toks
        version = None
        self.handles = {}
        while toks[self.p][0] == _T_DIRECTIVE:
            tok = toks[self.p]
            name, value = tok[2]
            if name == "YAML":
                if version is not None:
                    raise self.fail("found a second %YAML directive", tok[1])
                if value[0] != 1:
                    raise self.fail("this document needs YAML %d.%d; only YAML 1.x is "
                                    "supported" % value, tok[1])
                version = value
            elif name == "TAG":
                if value[0] in self.handles:
                    raise self.fail("duplicate tag handle %r" % value[0], tok[1])
                self.handles[value[0]] = value[1]
            self.p += 1
        self.handles.setdefault("!", "!")
        self.handles.setdefault("!!", _Y_YAML_TAG)

    # -- nodes

    def node(self, block, indentless):
        toks = self.toks
        tok = toks[self.p]
        kind = tok[0]
        if kind == _T_SCALAR:        # the common case first
            self.p += 1
            if tok[3] is None:
                return _yaml_resolve(tok[2])
            return tok[2]
        if kind == _T_ALIAS:
            self.p += 1
            return self.alias(tok)
        start = tok[1]
        anchor = tag = None
        tag_pos = None
        if kind == _T_ANCHOR:
            anchor = tok
            self.p += 1
            if toks[self.p][0] == _T_TAG:
                tag, tag_pos = toks[self.p][2], toks[self.p][1]
                self.p += 1
        elif kind == _T_TAG:
            tag, tag_pos = tok[2], tok[1]
            self.p += 1
            if toks[self.p][0] == _T_ANCHOR:
                anchor = toks[self.p]
                self.p += 1
        if tag is not None:
            tag = self.full_tag(tag, tag_pos)
        if anchor is not None:
            name = anchor[2]
            if name in self.anchors or name in self.building:
                raise self.fail("the anchor &%s is defined twice" % name, anchor[1],
                                hint="give each anchor its own name")
            self.building.add(name)
            first, before = self.p, self.expanded
        tok = toks[self.p]
        kind = tok[0]
        self.depth += 1
        if self.depth > _YAML_MAX_DEPTH:
            raise self.fail("collections are nested more than %d levels deep"
                            % _YAML_MAX_DEPTH, tok[1])
        if indentless and kind == _T_BENTRY:
            value = self.indentless_sequence()
        elif kind == _T_SCALAR:
            self.p += 1
            value = self.scalar(tok, tag, tag_pos)
            tag = None
        elif kind == _T_FSEQ:
            value = self.flow_sequence()
        elif kind == _T_FMAP:
            value = self.flow_mapping()
        elif block and kind == _T_BSEQ:
            value = self.block_sequence()
        elif block and kind == _T_BMAP:
            value = self.block_mapping()
        elif anchor is not None or tag is not None:
            value = self.scalar((_T_SCALAR, start, "", None), tag, tag_pos)
            tag = None
        else:
            raise self.unexpected("expected a value")
        self.depth -= 1
        if tag is not None:
            value = self.tag_collection(value, tag, tag_pos)
        if anchor is not None:
            self.building.discard(name)
            size = (self.p - first) + (self.expanded - before)
            self.anchors[name] = (value, size)
        return value

    def alias(self, tok):
        name = tok[2]
        found = self.anchors.get(name)
        if found is None:
            if name in self.building:
                raise self.fail("the alias *%s is inside the node it refers to; recursive "
                                "structures are not supported" % name, tok[1])
            raise self.fail("the alias *%s refers to no anchor (&%s) defined before it"
                            % (name, name), tok[1])
        self.expanded += found[1]
        if self.expanded > _YAML_MAX_EXPANSION:
            raise self.fail("aliases expand this document to more than %d nodes"
                            % _YAML_MAX_EXPANSION, tok[1],
                            hint="this looks like an alias bomb; reduce the use of aliases")
        return found[0]

    def full_tag(self, tag, pos):
        handle, suffix = tag
        if handle is None:
            return suffix
        if handle not in self.handles:
            raise self.fail("undefined tag handle %r" % handle, pos)
        return self.handles[handle] + suffix

    def scalar(self, tok, tag, tag_pos):
        text = tok[2]
        if tag is None:
            if tok[3] is None:
                return _yaml_resolve(text)
            return text
        if tag == "!":
            return _yaml_resolve(text)
        name = tag[len(_Y_YAML_TAG):] if tag.startswith(_Y_YAML_TAG) else None
        conv = _Y_SCALAR_TAGS.get(name)
        if conv is not None:
            try:
                return conv(text)
            except (ValueError, KeyError, IndexError, OverflowError):
                raise self.fail("%r is not a valid !!%s" % (text, name), tok[1])
        if name == "binary":
            import base64
            import binascii
            try:
                return base64.decodebytes(text.encode("ascii"))
            except (UnicodeEncodeError, binascii.Error):
                raise self.fail("%r is not valid base64 for !!binary" % text, tok[1])
        if name in ("map", "seq"):
            raise self.fail("!!%s on a scalar: expected a %s" % (
                name, "mapping" if name == "map" else "sequence"), tag_pos)
        raise self.unsupported_tag(tag, tag_pos)

    def tag_collection(self, value, tag, pos):
        if tag == "!":
            return value
        if tag == _Y_YAML_TAG + "map":
            if isinstance(value, dict):
                return value
            raise self.fail("!!map on a sequence: expected a mapping", pos)
        if tag == _Y_YAML_TAG + "seq":
            if isinstance(value, list):
                return value
            raise self.fail("!!seq on a mapping: expected a sequence", pos)
        name = tag[len(_Y_YAML_TAG):] if tag.startswith(_Y_YAML_TAG) else None
        if name in _Y_SCALAR_TAGS or name == "binary":
            raise self.fail("!!%s on a collection: expected a scalar" % name, pos)
        raise self.unsupported_tag(tag, pos)

    def unsupported_tag(self, tag, pos):
        shown = "!!" + tag[len(_Y_YAML_TAG):] if tag.startswith(_Y_YAML_TAG) else tag
        return self.fail("the tag %s is not supported" % shown, pos,
                         hint="streamt reads plain YAML data: strings, numbers, booleans, "
                              "null, dates, lists and mappings (standard tags !!str, "
                              "!!int, !!float, !!bool, !!null, !!timestamp, !!binary, "
                              "!!seq, !!map)")

    # -- collections

    def new_map(self, pos):
        if self.located:
            m = YamlMap()
            m._src, m._pos, m._kpos = self.src, pos, {}
            return m
        return {}

    def new_seq(self, pos):
        if self.located:
            s = YamlSeq()
            s._src, s._pos, s._ipos = self.src, pos, []
            return s
        return []

    def block_sequence(self):
        toks = self.toks
        pos = toks[self.p][1]
        self.p += 1
        seq = self.new_seq(pos)
        ipos = seq._ipos if self.located else None
        append = seq.append
        while True:
            tok = toks[self.p]
            if tok[0] == _T_BENTRY:
                self.p += 1
                tok = toks[self.p]
                kind = tok[0]
                if ipos is not None:
                    ipos.append(tok[1])
                if kind == _T_SCALAR:
                    self.p += 1
                    if tok[3] is None:
                        value = _yaml_resolve(tok[2])
                        if value is _Y_MERGE or value is _Y_VALUE:
                            self.item(value, tok[1])
                        append(value)
                    else:
                        append(tok[2])
                elif kind == _T_BENTRY or kind == _T_BEND:
                    append(None)
                else:
                    append(self.item(self.node(True, False), tok[1]))
            elif tok[0] == _T_BEND:
                self.p += 1
                return seq
            else:
                raise self.unexpected("expected a '- ' item or the end of the list")

    def indentless_sequence(self):
        toks = self.toks
        seq = self.new_seq(toks[self.p][1])
        ipos = seq._ipos if self.located else None
        while toks[self.p][0] == _T_BENTRY:
            self.p += 1
            tok = toks[self.p]
            if ipos is not None:
                ipos.append(tok[1])
            if tok[0] in (_T_BENTRY, _T_KEY, _T_VALUE, _T_BEND):
                seq.append(None)
            else:
                seq.append(self.item(self.node(True, False), tok[1]))
        return seq

    def item(self, value, pos):
        if value is _Y_MERGE or value is _Y_VALUE:
            raise self.fail("%r can only be a mapping key here; quote it to mean the text"
                            % ("<<" if value is _Y_MERGE else "="), pos)
        return value

    def block_mapping(self):
        toks = self.toks
        pos = toks[self.p][1]
        self.p += 1
        pairs = []
        while True:
            tok = toks[self.p]
            kind = tok[0]
            if kind == _T_KEY:
                self.p += 1
                tok = toks[self.p]
                kpos = tok[1]
                kind = tok[0]
                if kind == _T_SCALAR:
                    self.p += 1
                    key = _yaml_resolve(tok[2]) if tok[3] is None else tok[2]
                elif kind == _T_KEY or kind == _T_VALUE or kind == _T_BEND:
                    key = None
                else:
                    key = self.node(True, True)
                tok = toks[self.p]
                if tok[0] == _T_VALUE:
                    self.p += 1
                    tok = toks[self.p]
                    kind = tok[0]
                    if kind == _T_SCALAR:
                        self.p += 1
                        value = _yaml_resolve(tok[2]) if tok[3] is None else tok[2]
                    elif kind == _T_KEY or kind == _T_VALUE or kind == _T_BEND:
                        value = None
                    else:
                        value = self.node(True, True)
                    vpos = tok[1]
                else:
                    value = None
                    vpos = tok[1]
                pairs.append((key, value, kpos, vpos))
            elif kind == _T_BEND:
                self.p += 1
                return self.mapping(pairs, pos)
            else:
                raise self.unexpected("expected a key or the end of the mapping "
                                      "(check the indentation)")

    def flow_sequence(self):
        toks = self.toks
        pos = toks[self.p][1]
        self.p += 1
        seq = self.new_seq(pos)
        ipos = seq._ipos if self.located else None
        first = True
        while True:
            tok = toks[self.p]
            if tok[0] == _T_FSEQ_END:
                self.p += 1
                return seq
            if not first:
                if tok[0] != _T_FENTRY:
                    raise self.unexpected("expected ',' or ']'")
                self.p += 1
                tok = toks[self.p]
                if tok[0] == _T_FSEQ_END:
                    continue
            first = False
            if ipos is not None:
                ipos.append(tok[1])
            if tok[0] == _T_KEY:      # [ ? a : b ] or [ a: b ]: a one-pair mapping
                self.p += 1
                k = toks[self.p]
                key = None
                if k[0] not in (_T_VALUE, _T_FENTRY, _T_FSEQ_END):
                    key = self.node(False, False)
                v = toks[self.p]
                value = None
                if v[0] == _T_VALUE:
                    self.p += 1
                    v = toks[self.p]
                    if v[0] not in (_T_FENTRY, _T_FSEQ_END):
                        value = self.node(False, False)
                seq.append(self.mapping([(key, value, k[1], v[1])], tok[1]))
            else:
                seq.append(self.item(self.node(False, False), tok[1]))

    def flow_mapping(self):
        toks = self.toks
        pos = toks[self.p][1]
        self.p += 1
        pairs = []
        first = True
        while True:
            tok = toks[self.p]
            if tok[0] == _T_FMAP_END:
                self.p += 1
                return self.mapping(pairs, pos)
            if not first:
                if tok[0] != _T_FENTRY:
                    raise self.unexpected("expected ',' or '}'")
                self.p += 1
                tok = toks[self.p]
                if tok[0] == _T_FMAP_END:
                    continue
            first = False
            if tok[0] == _T_KEY:
                self.p += 1
                k = toks[self.p]
                key = None
                if k[0] not in (_T_VALUE, _T_FENTRY, _T_FMAP_END):
                    key = self.node(False, False)
                v = toks[self.p]
                value = None
                if v[0] == _T_VALUE:
                    self.p += 1
                    v = toks[self.p]
                    if v[0] not in (_T_FENTRY, _T_FMAP_END):
                        value = self.node(False, False)
                pairs.append((key, value, k[1], v[1]))
            else:
                key = self.node(False, False)
                pairs.append((key, None, tok[1], toks[self.p][1]))

    def mapping(self, pairs, pos):
        """Build a mapping from (key, value, key index, value index), PyYAML's way:
        merge keys first (own keys win, earlier merges win), last duplicate wins."""
        m = self.new_map(pos)
        kposs = m._kpos if self.located else {}
        merges = None
        for key, value, kpos, vpos in pairs:
            if key is _Y_MERGE:
                if merges is None:
                    merges = []
                if isinstance(value, dict):
                    merges.append(value)
                elif isinstance(value, list):
                    # in a list of mappings, the first one that has a key wins
                    first_wins = self.new_map(vpos)
                    fk = first_wins._kpos if self.located else None
                    for sub in value:
                        if not isinstance(sub, dict):
                            raise self.fail("a merge key ('<<') takes a mapping or a list of "
                                            "mappings; this list holds a %s"
                                            % _yaml_kind(sub), vpos)
                        sk = getattr(sub, "_kpos", None) or {}
                        for k, v in sub.items():
                            if k not in first_wins:
                                first_wins[k] = v
                                if fk is not None and k in sk:
                                    fk[k] = sk[k]
                    merges.append(first_wins)
                else:
                    raise self.fail("a merge key ('<<') takes a mapping or a list of "
                                    "mappings, not a %s" % _yaml_kind(value), vpos)
                continue
            if key is _Y_VALUE:
                key = "="
            if value is _Y_MERGE or value is _Y_VALUE:
                self.item(value, vpos)
            if isinstance(key, (dict, list)):
                raise self.fail("a %s used as a mapping key is not supported"
                                % _yaml_kind(key), kpos,
                                hint="keys must be strings, numbers, booleans, null or dates")
            try:
                seen = key in m
            except TypeError:
                raise self.fail("this key cannot be used as a mapping key", kpos)
            if seen and self.warnings is not None:
                line = self.src.line_col(kposs[key])[0]
                self.warnings.append((self.src.location(kpos),
                                      "duplicate key %r (first at line %d); the last one wins"
                                      % (key, line)))
            m[key] = value
            if not seen:
                kposs[key] = kpos
        if merges:
            merged = self.new_map(pos)
            mk = merged._kpos if self.located else None
            for src in merges:
                merged.update(src)
                if mk is not None:
                    sk = getattr(src, "_kpos", None) or {}
                    for k in src:
                        if k not in mk and k in sk:
                            mk[k] = sk[k]
            merged.update(m)
            if mk is not None:
                for k, p in kposs.items():
                    mk[k] = p
            return merged
        return m


def _yaml_kind(value):
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return "scalar"

# (end of yaml)


###############################################################################
# Project #####################################################################
###############################################################################
#
# Finding and loading a project: stream_project.yml, split files, environments,
# .env files and ${VAR} references.

# (end of project)


###############################################################################
# SQL #########################################################################
###############################################################################
#
# A Flink SQL tokenizer, template calls ({{ source() }} / {{ ref() }}), quoting,
# materialization inference and column type inference.

# (end of sql)


###############################################################################
# Validate ####################################################################
###############################################################################

# (end of validate)


###############################################################################
# Compile #####################################################################
###############################################################################
#
# A project to its desired state: topics, schemas, Flink jobs, connectors,
# Gateway resources (docs/internals.md describes the shapes).

# (end of compile)


###############################################################################
# Artifact ####################################################################
###############################################################################
#
# Build, read, verify, inspect and diff artifacts; Ed25519/SSHSIG signatures.

# -- artifact: signatures (Ed25519, OpenSSH keys, SSHSIG, allowed_signers) ------

# (end of artifact: signatures)

# -- artifact: build, read, verify, inspect, diff -------------------------------

# (end of artifact)


###############################################################################
# Clients: HTTP ###############################################################
###############################################################################

# (end of clients: http)


###############################################################################
# Clients: Kafka wire protocol ################################################
###############################################################################

# (end of clients: kafka)


###############################################################################
# Targets #####################################################################
###############################################################################
#
# One per service, same shape: observe the live state, diff, apply.

# (end of targets)


###############################################################################
# Plan & deploy ###############################################################
###############################################################################

# (end of plan & deploy)


###############################################################################
# CLI #########################################################################
###############################################################################
#
# Each command registers itself with @command; main() builds the parser from
# the registry, runs the command, and turns StreamtError into its exit code.

_COMMANDS = []


def command(name, help, description=None, epilog=None):
    """Register a sub-command.  The decorated function is ``f(parser)`` that adds the
    command's arguments and returns the handler ``run(args, output) -> exit code``."""
    def register(setup):
        _COMMANDS.append((name, help, description, epilog, setup))
        return setup
    return register


# -- cli: validate, envs, lineage ----------------------------------------------

# (end of cli: validate)

# -- cli: build, artifact ------------------------------------------------------

# (end of cli: build)

# -- cli: deploy, plan, apply, status ------------------------------------------

# (end of cli: deploy)

# -- cli: init -----------------------------------------------------------------

# (end of cli: init)


def build_parser():
    import argparse

    class _ArgumentParser(argparse.ArgumentParser):
        def error(self, message):
            raise UsageError("%s: %s" % (self.prog, message),
                             hint="run '%s --help' for usage" % self.prog)

    parser = _ArgumentParser(
        prog="streamt",
        description="Build and deploy streaming pipelines from a YAML + SQL project.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version="streamt %s (Python %s)" % (__version__, sys.version.split()[0]))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter
    for name, help_text, description, epilog, setup in _COMMANDS:
        p = sub.add_parser(name, help=help_text, description=description or help_text,
                           epilog=epilog, formatter_class=fmt)
        p.set_defaults(_run=setup(p))
    return parser


def main(argv=None, output=None):
    """Run streamt; returns the exit code (never raises for user errors)."""
    output = output or Output()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            parser.print_help(output.err)
            return EXIT_USAGE
        code = args._run(args, output)
        return EXIT_OK if code is None else code
    except StreamtError as e:
        output.error(e.render())
        return e.exit_code
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else EXIT_OK
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.modules.setdefault("streamt", sys.modules[__name__])
    sys.exit(main())
