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
#
# streamt signs an artifact's manifest.json (which holds every file's checksum) in
# OpenSSH's SSHSIG format, so that `ssh-keygen -Y verify` accepts our signatures and
# we accept `ssh-keygen -Y sign -n streamt` ones -- with no library and no ssh-keygen
# on the bastion.  References: RFC 8032 (Ed25519), OpenSSH's PROTOCOL.sshsig,
# PROTOCOL.key and the ALLOWED SIGNERS section of ssh-keygen(1).
#
# Public API (every failure is a StreamtError, never a traceback):
#
#   ssh_sign(data, private_key_text, namespace="streamt") -> str
#       The armored signature ("-----BEGIN SSH SIGNATURE-----" ...) of `data` (bytes;
#       str is UTF-8 encoded) made with an unencrypted OpenSSH ed25519 private key.
#       Byte-for-byte what `ssh-keygen -Y sign -n streamt -f key` writes (Ed25519 is
#       deterministic).  A bad key file is a UsageError (exit 2).
#   ssh_verify(data, signature_text, allowed_signers_text, namespace="streamt",
#              principal=None, now=None, allowed_signers_name="allowed_signers") -> dict
#       Checks the signature and that an allowed_signers line trusts its key for
#       `principal` (any principal when None), `namespace` and time `now` (POSIX
#       seconds; default: the clock).  Returns {"principal", "fingerprint",
#       "key_type", "namespace", "hash", "line"}.  Every refusal is an IntegrityError
#       (exit 4) saying which check failed; a malformed allowed_signers line is a
#       UsageError with its file:line.
#   ssh_signature_info(signature_text) -> dict
#       Who signed, without a trust decision (for `artifact inspect`):
#       {"key_type", "fingerprint", "public_key" (an authorized_keys line),
#        "namespace", "hash", "version"}.  IntegrityError when malformed.
#   ssh_public_key_line(private_key_text) -> str
#       "ssh-ed25519 AAAA... comment" for a private key (what `ssh-keygen -y` prints);
#       put it, prefixed with a principal, into allowed_signers.
#   ssh_fingerprint(public_key) -> "SHA256:..." as `ssh-keygen -l` prints it
#       (`public_key`: a key line "ssh-ed25519 AAAA..." or the raw key blob).
#   ed25519_public_key(seed), ed25519_sign(seed, message), ed25519_verify(pub, message,
#       signature) -> bool: the raw RFC 8032 primitives (32-byte seed and key,
#       64-byte signature).
#
# Signing here is plain Python integer arithmetic: it is NOT constant-time, so sign on
# a machine you control (a CI runner), never on a host shared with untrusted users.
# Verification handles only public data and has no such concern.

SSHSIG_NAMESPACE = "streamt"

__all__ += ["SSHSIG_NAMESPACE", "ssh_sign", "ssh_verify", "ssh_signature_info",
            "ssh_public_key_line", "ssh_fingerprint", "ed25519_public_key",
            "ed25519_sign", "ed25519_verify"]


def ssh_sign(data, private_key_text, namespace=SSHSIG_NAMESPACE):
    """Sign `data` like `ssh-keygen -Y sign -n <namespace>`: returns the armored SSHSIG text."""
    data = _sig_bytes(data)
    if not namespace:
        raise UsageError("the signature namespace must not be empty")
    seed, pub, _comment = _parse_openssh_private_key(private_key_text)
    key_blob = _ssh_string(b"ssh-ed25519") + _ssh_string(pub)
    hash_alg = "sha512"  # what ssh-keygen uses by default
    signed = _sshsig_signed_data(namespace, hash_alg, hashlib.sha512(data).digest())
    raw = ed25519_sign(seed, signed, _public=pub)
    blob = b"".join([
        _SSHSIG_MAGIC, _u32(_SSHSIG_VERSION), _ssh_string(key_blob),
        _ssh_string(namespace.encode("utf-8")), _ssh_string(b""),
        _ssh_string(hash_alg.encode("ascii")),
        _ssh_string(_ssh_string(b"ssh-ed25519") + _ssh_string(raw))])
    return _armor(blob, _SSHSIG_BEGIN, _SSHSIG_END)


def ssh_verify(data, signature_text, allowed_signers_text, namespace=SSHSIG_NAMESPACE,
               principal=None, now=None, allowed_signers_name="allowed_signers"):
    """Verify an SSHSIG signature of `data` and decide trust from an allowed_signers file.

    Like `ssh-keygen -Y verify -n <namespace> -f <allowed_signers> -I <principal>`; with
    principal=None, any principal listed for the key will do (like -Y find-principals).
    Returns {"principal", "fingerprint", "key_type", "namespace", "hash", "line"}."""
    import time
    data = _sig_bytes(data)
    sig = _parse_sshsig(signature_text)
    fingerprint = ssh_fingerprint(sig["key_blob"])
    if sig["namespace"] != namespace:
        raise IntegrityError(
            "the signature was made for namespace %r, not %r" % (sig["namespace"], namespace),
            hint="sign with `streamt build --sign-key` or `ssh-keygen -Y sign -n %s`"
                 % namespace)
    _sshsig_check_key_type(sig)
    digest = hashlib.new(sig["hash"], data).digest()
    signed = _sshsig_signed_data(namespace, sig["hash"], digest)
    if not ed25519_verify(sig["public"], signed, sig["signature"]):
        raise IntegrityError(
            "the signature does not match the signed data (key %s)" % fingerprint,
            hint="the data changed after it was signed, or the signature belongs to "
                 "another file; rebuild and sign again")
    when = time.time() if now is None else now
    entries = _parse_allowed_signers(allowed_signers_text, allowed_signers_name)
    match = _allowed_signers_match(entries, sig["key_blob"], fingerprint, principal,
                                   namespace, when, allowed_signers_name)
    return {"principal": principal if principal is not None else match["principals"],
            "fingerprint": fingerprint, "key_type": sig["key_type"],
            "namespace": sig["namespace"], "hash": sig["hash"], "line": match["line"]}


def ssh_signature_info(signature_text):
    """Parse an armored SSHSIG signature and say who made it (no trust decision)."""
    import binascii
    sig = _parse_sshsig(signature_text)
    b64 = binascii.b2a_base64(sig["key_blob"]).decode("ascii").strip()
    return {"key_type": sig["key_type"], "fingerprint": ssh_fingerprint(sig["key_blob"]),
            "public_key": "%s %s" % (sig["key_type"], b64), "namespace": sig["namespace"],
            "hash": sig["hash"], "version": sig["version"]}


def ssh_public_key_line(private_key_text):
    """The public key line ("ssh-ed25519 AAAA... comment") of an OpenSSH private key."""
    import binascii
    _seed, pub, comment = _parse_openssh_private_key(private_key_text)
    blob = _ssh_string(b"ssh-ed25519") + _ssh_string(pub)
    line = "ssh-ed25519 " + binascii.b2a_base64(blob).decode("ascii").strip()
    return line + (" " + comment if comment else "")


def ssh_fingerprint(public_key):
    """SHA256 fingerprint as `ssh-keygen -l` prints it: "SHA256:<base64, no padding>".

    `public_key` is a key blob (bytes) or a public key line ("ssh-ed25519 AAAA... c")."""
    import binascii
    if isinstance(public_key, str):
        public_key = _parse_public_key_line(public_key)[1]
    digest = hashlib.sha256(public_key).digest()
    return "SHA256:" + binascii.b2a_base64(digest).decode("ascii").strip().rstrip("=")


# ---- Ed25519 (RFC 8032) ----------------------------------------------------------
#
# Points live in extended twisted-Edwards coordinates (X, Y, Z, T) with x = X/Z,
# y = Y/Z, x*y = T/Z, so additions need no field inversion.  [s]B uses a table of
# j*16^i*B (j = 1..8, i = 0..63) built on first use, with signed radix-16 digits:
# 64 additions and no doublings.  Verification computes [S]B - [k]A with the same
# digits for A (4 doublings per digit) and compares the encoding with R, like
# OpenSSH/ref10 (the "cofactorless" equation).

def ed25519_public_key(seed):
    """The 32-byte public key of a 32-byte Ed25519 seed (the RFC's "private key")."""
    a, _prefix = _ed_expand(seed)
    return _ed_encode(_ed_base_mult(a))


def ed25519_sign(seed, message, _public=None):
    """The 64-byte RFC 8032 signature of `message` (bytes) with a 32-byte seed."""
    a, prefix = _ed_expand(seed)
    pub = _public if _public is not None else _ed_encode(_ed_base_mult(a))
    r = int.from_bytes(hashlib.sha512(prefix + message).digest(), "little") % _ED_L
    r_enc = _ed_encode(_ed_base_mult(r))
    k = int.from_bytes(hashlib.sha512(r_enc + pub + message).digest(), "little") % _ED_L
    s = (r + k * a) % _ED_L
    return r_enc + s.to_bytes(32, "little")


def ed25519_verify(public_key, message, signature):
    """True when `signature` is a valid Ed25519 signature of `message` by `public_key`.

    Strict: the key must be a canonical encoding of a point of large order (small-order
    and identity keys are refused), S must be < L, R must be canonical."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    point = _ed_decode(public_key)
    if point is None or _ed_is_small_order(point):
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _ED_L:
        return False
    r_enc = signature[:32]
    k = int.from_bytes(hashlib.sha512(r_enc + public_key + message).digest(),
                       "little") % _ED_L
    check = _ed_double_scalar_mult(s, k, point)  # [s]B - [k]A
    return _ed_encode(check) == r_enc


_ED_P = 2 ** 255 - 19
_ED_L = 2 ** 252 + 27742317777372353535851937790883648493
_ED_D = -121665 * pow(121666, _ED_P - 2, _ED_P) % _ED_P
_ED_D2 = 2 * _ED_D % _ED_P
_ED_SQRT_M1 = pow(2, (_ED_P - 1) // 4, _ED_P)
_ED_BY = 4 * pow(5, _ED_P - 2, _ED_P) % _ED_P
_ED_IDENTITY = (0, 1, 1, 0)
_ED_BASE_TABLE = []  # filled by _ed_base_table() on first use


def _ed_expand(seed):
    if not isinstance(seed, bytes) or len(seed) != 32:
        raise UsageError("an Ed25519 seed (private key) is 32 bytes")
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a = (a & ((1 << 254) - 8)) | (1 << 254)  # clamp: multiple of 8, bit 254 set
    return a, h[32:]


def _ed_recover_x(y, sign):
    """x for y on the curve with the given low bit, or None (RFC 8032 5.1.3)."""
    p = _ED_P
    yy = y * y % p
    u = (yy - 1) % p
    v = (_ED_D * yy + 1) % p
    v3 = v * v % p * v % p
    x = u * v3 % p * pow(u * v3 % p * v3 % p * v % p, (p - 5) // 8, p) % p
    vxx = v * x % p * x % p
    if vxx == u:
        pass
    elif vxx == (-u) % p:
        x = x * _ED_SQRT_M1 % p
    else:
        return None
    if x == 0 and sign:
        return None  # "-0" is not a canonical encoding
    if x & 1 != sign:
        x = p - x
    return x


def _ed_decode(enc):
    """A point from its 32-byte encoding, or None if the encoding is not canonical."""
    n = int.from_bytes(enc, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    if y >= _ED_P:
        return None
    x = _ed_recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _ED_P)


def _ed_encode(pt):
    x, y, z, _t = pt
    zi = pow(z, _ED_P - 2, _ED_P)
    x, y = x * zi % _ED_P, y * zi % _ED_P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _ed_add(p1, p2):
    """Sum of two extended points (RFC 8032 5.1.4, 'add-2008-hwcd-3')."""
    p = _ED_P
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % p
    b = (y1 + x1) * (y2 + x2) % p
    c = t1 * _ED_D2 % p * t2 % p
    d = 2 * z1 * z2 % p
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _ed_add_cached(p1, c2):
    """p1 + q where c2 = (Y-X, Y+X, 2dT, 2Z) of q (precomputed, saves multiplications)."""
    p = _ED_P
    x1, y1, z1, t1 = p1
    ymx, ypx, t2d, z2 = c2
    a = (y1 - x1) * ymx % p
    b = (y1 + x1) * ypx % p
    c = t1 * t2d % p
    d = z1 * z2 % p
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _ed_double(p1):
    """2*p1 ('dbl-2008-hwcd'); T of the input is not used."""
    p = _ED_P
    x1, y1, z1, _t = p1
    a = x1 * x1 % p
    b = y1 * y1 % p
    c = 2 * z1 * z1 % p
    h = a + b
    e = h - (x1 + y1) * (x1 + y1) % p
    g = a - b
    f = c + g
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _ed_cached(pt):
    x, y, z, t = pt
    return ((y - x) % _ED_P, (y + x) % _ED_P, t * _ED_D2 % _ED_P, 2 * z % _ED_P)


def _ed_neg_cached(c):
    return (c[1], c[0], (-c[2]) % _ED_P, c[3])


def _ed_radix16(s):
    """Signed radix-16 digits (-8..8) of 0 <= s < 2^253, least significant first."""
    digits = [(s >> (4 * i)) & 15 for i in range(64)]
    for i in range(63):
        carry = (digits[i] + 8) >> 4
        digits[i] -= carry << 4
        digits[i + 1] += carry
    return digits


def _ed_base_table():
    if not _ED_BASE_TABLE:
        x = _ed_recover_x(_ED_BY, 0)
        point = (x, _ED_BY, 1, x * _ED_BY % _ED_P)
        table = []
        for _i in range(64):
            row, multiple = [], point
            for _j in range(8):  # row[j-1] = j * 16^i * B
                row.append(_ed_cached(multiple))
                multiple = _ed_add(multiple, point)
            table.append(row)
            for _k in range(4):
                point = _ed_double(point)
        _ED_BASE_TABLE[:] = table
    return _ED_BASE_TABLE


def _ed_base_mult(s):
    """[s]B."""
    table = _ed_base_table()
    acc = _ED_IDENTITY
    for i, digit in enumerate(_ed_radix16(s % _ED_L)):
        if digit > 0:
            acc = _ed_add_cached(acc, table[i][digit - 1])
        elif digit < 0:
            acc = _ed_add_cached(acc, _ed_neg_cached(table[i][-digit - 1]))
    return acc


def _ed_double_scalar_mult(s, k, point):
    """[s]B - [k]point, s and k reduced mod L (variable time: public data only)."""
    neg = []  # neg[j-1] = -(j * point), cached
    multiple = point
    for _j in range(8):
        neg.append(_ed_neg_cached(_ed_cached(multiple)))
        multiple = _ed_add(multiple, point)
    acc = _ED_IDENTITY
    for digit in reversed(_ed_radix16(k)):
        if acc is not _ED_IDENTITY:
            acc = _ed_double(_ed_double(_ed_double(_ed_double(acc))))
        if digit > 0:
            acc = _ed_add_cached(acc, neg[digit - 1])
        elif digit < 0:
            acc = _ed_add_cached(acc, _ed_neg_cached(neg[-digit - 1]))
    table = _ed_base_table()
    for i, digit in enumerate(_ed_radix16(s)):
        if digit > 0:
            acc = _ed_add_cached(acc, table[i][digit - 1])
        elif digit < 0:
            acc = _ed_add_cached(acc, _ed_neg_cached(table[i][-digit - 1]))
    return acc


def _ed_is_small_order(pt):
    """True for the 8 points of order dividing 8 (the identity among them)."""
    x, y, z, _t = _ed_double(_ed_double(_ed_double(pt)))
    return x % _ED_P == 0 and (y - z) % _ED_P == 0


# ---- SSH wire format, armor, keys ------------------------------------------------

_SSHSIG_MAGIC = b"SSHSIG"
_SSHSIG_VERSION = 1
_SSHSIG_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_SSHSIG_END = "-----END SSH SIGNATURE-----"
_OPENSSH_KEY_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"
_OPENSSH_KEY_END = "-----END OPENSSH PRIVATE KEY-----"
_OPENSSH_KEY_MAGIC = b"openssh-key-v1\x00"
_SIG_TEXT_LIMIT = 1 << 20  # an armored signature is ~300 bytes; refuse megabytes
_SIG_CERT_SUFFIX = "-cert-v01@openssh.com"
_B64_RE = re.compile(r"\A[A-Za-z0-9+/]*={0,2}\Z")


class _SshReader(object):
    """Reads SSH wire values (RFC 4251 uint32 / string) from bytes.

    A length field is checked against the bytes that are really there before any
    slicing, so a hostile length cannot cause a large allocation."""

    def __init__(self, data, error, what):
        self.data, self.pos, self.error, self.what = data, 0, error, what

    def fail(self, message):
        raise self.error("%s: %s" % (self.what, message))

    def u32(self, field):
        if len(self.data) - self.pos < 4:
            self.fail("truncated (reading %s)" % field)
        value = int.from_bytes(self.data[self.pos:self.pos + 4], "big")
        self.pos += 4
        return value

    def string(self, field):
        n = self.u32(field)
        if n > len(self.data) - self.pos:
            self.fail("%s claims %d bytes but only %d remain"
                      % (field, n, len(self.data) - self.pos))
        value = self.data[self.pos:self.pos + n]
        self.pos += n
        return value

    def text(self, field):
        raw = self.string(field)
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.fail("%s is not UTF-8 text" % field)
        if "\x00" in value:
            self.fail("%s contains a NUL character" % field)
        return value

    def rest(self):
        return self.data[self.pos:]

    def done(self, field):
        if self.pos != len(self.data):
            self.fail("%d unexpected bytes after %s" % (len(self.data) - self.pos, field))


def _u32(n):
    return n.to_bytes(4, "big")


def _ssh_string(b):
    return _u32(len(b)) + b


def _sig_bytes(data):
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError("data to sign or verify must be bytes")


def _text_of(value, error, what):
    """str from str or bytes (ASCII armor); anything else is `error`."""
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise error("%s is not text (binary data where armored text was expected)" % what)
    if not isinstance(value, str):
        raise error("%s is missing" % what)
    return value


def _b64decode(text, error, what):
    import binascii
    text = "".join(text.split())
    if len(text) % 4 or not _B64_RE.match(text):
        raise error("%s: invalid base64" % what)
    try:
        return binascii.a2b_base64(text)
    except (binascii.Error, ValueError):
        raise error("%s: invalid base64" % what)


def _armor(blob, begin, end):
    """PEM-like armor with 70-character lines, as ssh-keygen writes it."""
    import binascii
    b64 = binascii.b2a_base64(blob).decode("ascii").strip()
    lines = [begin] + [b64[i:i + 70] for i in range(0, len(b64), 70)] + [end]
    return "\n".join(lines) + "\n"


def _dearmor(text, begin, end, error, what):
    """The bytes between `begin` and `end` lines (CRLF tolerated, like OpenSSH)."""
    text = text.replace("\r\n", "\n").strip()
    if not text.startswith(begin + "\n") and text != begin:
        raise error("%s: missing %r header" % (what, begin))
    if not text.endswith("\n" + end):
        raise error("%s: missing %r footer" % (what, end))
    return _b64decode(text[len(begin):-len(end)], error, what)


def _parse_public_key_line(line, error=UsageError, what="public key"):
    """(key_type, blob, comment) of "ssh-ed25519 AAAA... comment"."""
    parts = line.strip().split(None, 2)
    if len(parts) < 2:
        raise error("%s: expected 'KEYTYPE BASE64 [COMMENT]'" % what)
    key_type, blob = parts[0], _b64decode(parts[1], error, what)
    reader = _SshReader(blob, error, what)
    inner = reader.string("key type")
    if inner != key_type.encode("utf-8", "replace"):
        raise error("%s: the line says %r but the key inside is %r"
                    % (what, key_type, inner.decode("utf-8", "replace")))
    if key_type == "ssh-ed25519":
        if len(reader.string("ed25519 public key")) != 32:
            raise error("%s: an ssh-ed25519 key is 32 bytes" % what)
        reader.done("the key")
    return key_type, blob, parts[2] if len(parts) > 2 else ""


def _parse_openssh_private_key(text):
    """(seed, public, comment) of an unencrypted OpenSSH ed25519 private key file text.

    PROTOCOL.key: "openssh-key-v1\\0", cipher, kdf, kdf options, number of keys, public
    key blobs, then the (here unencrypted) private section: two equal check integers,
    the key (type, public, seed||public, comment), padding 1, 2, 3, ...  UsageError for
    anything else."""
    what = "private key"
    text = _text_of(text, UsageError, what)
    stripped = text.strip()
    if re.match(r"-----BEGIN (RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY-----", stripped):
        raise UsageError(
            "%s: PEM/PKCS#8 keys are not supported, only OpenSSH ed25519 keys" % what,
            hint="create one with: ssh-keygen -t ed25519 -N '' -f streamt-signing-key")
    if stripped.startswith(("ssh-", "ecdsa-", "sk-")):
        raise UsageError("%s: this is a public key line, not a private key" % what,
                         hint="pass the private key file (the one without .pub)")
    blob = _dearmor(text, _OPENSSH_KEY_BEGIN, _OPENSSH_KEY_END, UsageError, what)
    if not blob.startswith(_OPENSSH_KEY_MAGIC):
        raise UsageError("%s: not an openssh-key-v1 key" % what)
    r = _SshReader(blob[len(_OPENSSH_KEY_MAGIC):], UsageError, what)
    cipher = r.string("cipher name")
    kdf = r.string("kdf name")
    r.string("kdf options")
    if cipher != b"none" or kdf != b"none":
        raise UsageError(
            "%s is encrypted with a passphrase (%s); streamt cannot ask for passphrases"
            % (what, cipher.decode("ascii", "replace")),
            hint="decrypt a copy, keep it where only the signing job can read it: "
                 "cp KEY KEY.plain && ssh-keygen -p -N '' -f KEY.plain")
    if r.u32("number of keys") != 1:
        raise UsageError("%s: the file must hold exactly one key" % what)
    public_blob = r.string("public key")
    private = _SshReader(r.string("private section"), UsageError, what)
    r.done("the private section")
    check1, check2 = private.u32("check integer"), private.u32("check integer")
    if check1 != check2:
        raise UsageError("%s: the check integers differ (corrupt, or wrongly decrypted)"
                         % what)
    key_type = private.text("key type")
    if key_type != "ssh-ed25519":
        raise UsageError(
            "%s: %s keys are not supported, streamt signs with ed25519 keys only" % (
                what, key_type),
            hint="create one with: ssh-keygen -t ed25519 -N '' -f streamt-signing-key")
    pub = private.string("public key")
    secret = private.string("secret key")
    comment = private.text("comment")
    padding = private.rest()
    if len(pub) != 32 or len(secret) != 64 or secret[32:] != pub:
        raise UsageError("%s: malformed ed25519 key (bad key lengths)" % what)
    if public_blob != _ssh_string(b"ssh-ed25519") + _ssh_string(pub):
        raise UsageError("%s: the public and private parts do not belong together" % what)
    if padding != bytes(range(1, len(padding) + 1)) or len(padding) >= 8:
        raise UsageError("%s: bad padding after the key (corrupt file)" % what)
    seed = secret[:32]
    if ed25519_public_key(seed) != pub:
        raise UsageError("%s: the public key does not match the secret key (corrupt file)"
                         % what)
    return seed, pub, comment


# ---- SSHSIG ------------------------------------------------------------------------

def _sshsig_signed_data(namespace, hash_alg, digest):
    """What the key really signs (PROTOCOL.sshsig): magic, namespace, reserved, hash, H(m)."""
    return b"".join([_SSHSIG_MAGIC, _ssh_string(namespace.encode("utf-8")), _ssh_string(b""),
                     _ssh_string(hash_alg.encode("ascii")), _ssh_string(digest)])


def _parse_sshsig(signature_text):
    """The fields of an armored SSHSIG signature; IntegrityError when malformed."""
    what = "signature"
    text = _text_of(signature_text, IntegrityError, what)
    if len(text) > _SIG_TEXT_LIMIT:
        raise IntegrityError("%s: %d bytes, far too large for an SSH signature"
                             % (what, len(text)))
    if not text.strip():
        raise IntegrityError("%s: the signature file is empty" % what)
    blob = _dearmor(text, _SSHSIG_BEGIN, _SSHSIG_END, IntegrityError, what)
    r = _SshReader(blob, IntegrityError, what)
    if blob[:6] != _SSHSIG_MAGIC:
        raise IntegrityError("%s: not an SSHSIG blob (bad magic)" % what)
    r.pos = 6
    version = r.u32("version")
    if version != _SSHSIG_VERSION:
        raise IntegrityError("%s: unsupported SSHSIG version %d (expected 1)" % (what, version))
    key_blob = r.string("public key")
    namespace = r.text("namespace")
    reserved = r.string("reserved")
    hash_alg = r.text("hash algorithm")
    sig_blob = r.string("signature")
    r.done("the signature")
    if reserved:
        raise IntegrityError("%s: the reserved field is not empty" % what)
    if not namespace:
        raise IntegrityError("%s: empty namespace" % what)
    if hash_alg not in ("sha256", "sha512"):
        raise IntegrityError("%s: unsupported hash algorithm %r (sha256 or sha512)"
                             % (what, hash_alg))
    kr = _SshReader(key_blob, IntegrityError, what + " key")
    key_type = kr.text("key type")
    public = None
    if key_type == "ssh-ed25519":
        public = kr.string("ed25519 key")
        kr.done("the key")
        if len(public) != 32:
            raise IntegrityError("%s: an ed25519 public key is 32 bytes, not %d"
                                 % (what, len(public)))
    sr = _SshReader(sig_blob, IntegrityError, what)
    sig_type = sr.text("signature type")
    raw = sr.string("signature bytes")
    sr.done("the signature bytes")
    if key_type == "ssh-ed25519":
        if sig_type != "ssh-ed25519":
            raise IntegrityError("%s: an ed25519 key with a %r signature" % (what, sig_type))
        if len(raw) != 64:
            raise IntegrityError("%s: an ed25519 signature is 64 bytes, not %d"
                                 % (what, len(raw)))
    return {"version": version, "key_blob": key_blob, "key_type": key_type,
            "public": public, "namespace": namespace, "hash": hash_alg,
            "sig_type": sig_type, "signature": raw}


def _sshsig_check_key_type(sig):
    key_type = sig["key_type"]
    if key_type.endswith(_SIG_CERT_SUFFIX):
        raise IntegrityError(
            "the signature was made with an SSH certificate (%s); streamt does not "
            "support certificates" % key_type,
            hint="sign with the plain ed25519 key and list it in allowed_signers")
    if key_type != "ssh-ed25519":
        raise IntegrityError(
            "the signature was made with a %s key; streamt verifies ed25519 signatures only"
            % key_type,
            hint="sign with an ed25519 key: ssh-keygen -t ed25519 -N '' -f KEY")


# ---- allowed_signers ------------------------------------------------------------

def _parse_allowed_signers(text, source_name="allowed_signers"):
    """Entries of an allowed_signers file (ssh-keygen(1), ALLOWED SIGNERS).

    Each non-comment line: principals [options] keytype base64 [comment].  Returns
    [{"line", "principals", "cert_authority", "namespaces", "valid_after",
    "valid_before", "key_type", "key_blob"}]; times are POSIX seconds or None.
    UsageError (with file:line) for a malformed line."""
    text = _text_of(text, UsageError, source_name)
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        rest = line.strip()
        if not rest or rest.startswith("#"):
            continue
        loc = Location(source_name, number)
        principals, rest = _as_principals_token(rest, loc)
        if not rest:
            raise UsageError("allowed_signers line has no key", location=loc,
                             hint="format: PRINCIPALS [OPTIONS] ssh-ed25519 AAAA...")
        options = {"cert_authority": False, "namespaces": None,
                   "valid_after": None, "valid_before": None}
        first = rest.split(None, 1)[0]
        if not _as_looks_like_key(first):
            opts, rest = _as_options_token(rest, loc)
            _as_parse_options(opts, options, loc)
        try:
            key_type, blob, _comment = _parse_public_key_line(
                rest, UsageError, "allowed_signers key")
        except UsageError as e:
            raise UsageError(e.message, location=loc,
                             hint="format: PRINCIPALS [OPTIONS] ssh-ed25519 AAAA...")
        entry = {"line": number, "principals": principals, "key_type": key_type,
                 "key_blob": blob}
        entry.update(options)
        entries.append(entry)
    return entries


def _as_looks_like_key(word):
    return word in ("ssh-ed25519", "ssh-rsa", "ssh-dss") or word.startswith(
        ("ecdsa-sha2-", "sk-", "ssh-ed25519-", "ssh-rsa-", "ssh-ed448"))


def _as_principals_token(rest, loc):
    """The principals field: up to whitespace, or a "double-quoted" string."""
    if rest.startswith('"'):
        end = rest.find('"', 1)
        if end < 0:
            raise UsageError("allowed_signers: unterminated quoted principals", location=loc)
        return rest[1:end], rest[end + 1:].lstrip()
    parts = rest.split(None, 1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def _as_options_token(rest, loc):
    """The options field: up to the first whitespace outside double quotes."""
    quoted = False
    for i, ch in enumerate(rest):
        if ch == '"':
            quoted = not quoted
        elif ch in " \t" and not quoted:
            return rest[:i], rest[i:].lstrip()
    if quoted:
        raise UsageError("allowed_signers: unterminated quote in options", location=loc)
    raise UsageError("allowed_signers line has options but no key", location=loc,
                     hint="format: PRINCIPALS [OPTIONS] ssh-ed25519 AAAA...")


def _as_parse_options(opts, options, loc):
    """cert-authority, namespaces="...", valid-after="...", valid-before="..." (values
    must be double-quoted, as OpenSSH requires; keywords are case-insensitive)."""
    pos = 0
    while pos < len(opts):
        lower = opts[pos:].lower()
        if lower.startswith("cert-authority"):
            options["cert_authority"] = True
            pos += len("cert-authority")
        else:
            for name in ("namespaces", "valid-after", "valid-before"):
                if lower.startswith(name + "="):
                    break
            else:
                raise UsageError("allowed_signers: unknown option %r"
                                 % opts[pos:].split(",", 1)[0], location=loc,
                                 hint="known options: cert-authority, namespaces=\"...\", "
                                      "valid-after=\"...\", valid-before=\"...\"")
            key = name.replace("-", "_")
            pos += len(name) + 1
            if not opts.startswith('"', pos):
                raise UsageError("allowed_signers: the value of %s must be in double quotes"
                                 % name, location=loc,
                                 hint='e.g. %s="%s"' % (name, "streamt" if key ==
                                                         "namespaces" else "20260101Z"))
            end = opts.find('"', pos + 1)
            if end < 0:
                raise UsageError("allowed_signers: missing end quote in %s" % name,
                                 location=loc)
            value = opts[pos + 1:end]
            pos = end + 1
            if options[key] is not None:
                raise UsageError("allowed_signers: multiple %s options" % name, location=loc)
            options[key] = value if key == "namespaces" else _as_parse_time(value, name, loc)
        if pos < len(opts):
            if opts[pos] != ",":
                raise UsageError("allowed_signers: malformed options %r" % opts, location=loc)
            pos += 1
            if pos == len(opts):
                raise UsageError("allowed_signers: options end with a comma", location=loc)
    if (options["valid_after"] is not None and options["valid_before"] is not None
            and options["valid_before"] <= options["valid_after"]):
        raise UsageError("allowed_signers: valid-before is not after valid-after",
                         location=loc)


def _as_parse_time(value, name, loc):
    """YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z] (also a "UTC" suffix) to POSIX seconds.

    Without Z the time is local, as OpenSSH reads it (mktime)."""
    import time
    utc = False
    digits = value
    if len(digits) > 1 and digits[-1:] in ("Z", "z"):
        utc, digits = True, digits[:-1]
    elif len(digits) > 3 and digits[-3:].upper() == "UTC":
        utc, digits = True, digits[:-3]
    bad = UsageError("allowed_signers: invalid %s time %r" % (name, value), location=loc,
                     hint="use YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z] (Z: UTC, else local time)")
    if len(digits) not in (8, 12, 14) or not re.match(r"\A[0-9]+\Z", digits):
        raise bad
    fields = [int(digits[0:4]), int(digits[4:6]), int(digits[6:8])]
    fields += [int(digits[i:i + 2]) for i in range(8, len(digits), 2)]
    fields += [0] * (6 - len(fields))
    try:
        moment = datetime.datetime(*fields)
    except ValueError:
        raise bad
    if utc:
        seconds = (moment - datetime.datetime(1970, 1, 1)).total_seconds()
    else:
        try:
            seconds = time.mktime(moment.timetuple())
        except (OverflowError, ValueError):
            raise bad
    seconds = int(seconds)
    if seconds == 0:  # OpenSSH reads 0 as "not set" and refuses it
        raise bad
    return seconds


def _match_pattern(value, pattern):
    """OpenSSH match_pattern: `*` any run, `?` one character, the rest literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.match(r"(?s)\A" + regex + r"\Z", value) is not None


def _match_pattern_list(value, patterns):
    """OpenSSH match_pattern_list: True if a pattern matches and no !negated one does."""
    positive = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        if _match_pattern(value, pattern[1:] if negated else pattern):
            if negated:
                return False
            positive = True
    return positive


def _as_format_time(seconds):
    return datetime.datetime.utcfromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S UTC")


def _allowed_signers_match(entries, key_blob, fingerprint, principal, namespace, now, name):
    """The first entry that trusts key_blob for principal/namespace/now (as ssh-keygen)."""
    reasons = []
    for e in entries:
        if principal is not None and not _match_pattern_list(principal, e["principals"]):
            if e["key_blob"] == key_blob and not e["cert_authority"]:
                reasons.append("line %d lists this key for %r, not for %r"
                               % (e["line"], e["principals"], principal))
            continue
        if e["key_blob"] != key_blob:
            continue
        if e["cert_authority"]:
            reasons.append("line %d trusts this key as a cert-authority only; streamt does "
                           "not support SSH certificates (list the key without "
                           "cert-authority)" % e["line"])
            continue
        if e["namespaces"] is not None and not _match_pattern_list(namespace, e["namespaces"]):
            reasons.append("line %d allows this key only for namespaces %r, not %r"
                           % (e["line"], e["namespaces"], namespace))
            continue
        if e["valid_after"] is not None and now < e["valid_after"]:
            reasons.append("line %d: the key is not valid before %s"
                           % (e["line"], _as_format_time(e["valid_after"])))
            continue
        if e["valid_before"] is not None and now > e["valid_before"]:
            reasons.append("line %d: the key expired at %s"
                           % (e["line"], _as_format_time(e["valid_before"])))
            continue
        return e
    who = "" if principal is None else " for principal %r" % principal
    if reasons:
        raise IntegrityError("the signing key %s is not trusted%s by %s"
                             % (fingerprint, who, name), details=reasons,
                             hint="ask the owner of %s to add or renew the key" % name)
    raise IntegrityError("the signing key %s is not in %s%s" % (fingerprint, name, who),
                         hint="add a line 'PRINCIPAL ssh-ed25519 AAAA...' with the signer's "
                              "public key (streamt prints it when signing) to %s" % name)

# (end of artifact: signatures)

# -- artifact: build, read, verify, inspect, diff -------------------------------
#
# An artifact is the desired state of one environment written as plain files, so
# that it can be reviewed, archived, signed, copied to a bastion and deployed
# there with no project sources and no network (docs/artifact-format.md):
#
#     manifest.json        what, from where, when; sha256 of every other file;
#                          `resources` maps each resource to its file + metadata
#     SHA256SUMS           the same digests for `sha256sum -c` (plus manifest.json)
#     manifest.json.sig    optional SSHSIG signature of manifest.json
#     environment.json     the environment's name, protection, safety and runtime
#     topics/ schemas/ flink/ connectors/ gateway/virtual_topics.json   the resources
#     state/               optional snapshot of the live state (build --with-state)
#
# Everything written is a pure function of the desired state and a few recorded
# inputs (git metadata, the source date): same commit, same bytes, on any machine.

ARTIFACT_FORMAT_VERSION = "1.0.0"
ARTIFACT_KINDS = ("topics", "schemas", "flink_jobs", "connectors", "gateway")
ARTIFACT_SIGNATURE = "manifest.json.sig"

# Limits when reading an artifact we did not write (a hostile tarball must not
# exhaust memory): per member, in total (uncompressed), and the number of members.
ARTIFACT_MAX_MEMBER = 64 * 1024 * 1024
ARTIFACT_MAX_TOTAL = 512 * 1024 * 1024
ARTIFACT_MAX_MEMBERS = 20000

__all__ += ["ARTIFACT_FORMAT_VERSION", "ARTIFACT_KINDS", "ARTIFACT_SIGNATURE", "Artifact",
            "render_artifact", "write_artifact", "read_artifact", "verify_artifact",
            "inspect_artifact", "diff_artifacts", "render_diff", "artifact_file_name",
            "git_info", "source_date_epoch", "deterministic_tar", "find_refs",
            "resolve_refs"]


class Artifact(object):
    """An artifact read into memory (see read_artifact).

    `files` maps every path (posix, relative) to its bytes, `manifest` is the parsed
    manifest.json, `desired` the desired state rebuilt from the files (None when the
    artifact is too damaged for that), `state` the optional snapshot {name: data},
    `signature` the text of manifest.json.sig or None, `problems` what was found
    wrong while reading (verify_artifact reports them with the rest)."""

    def __init__(self, path, kind, files):
        self.path = path
        self.kind = kind  # "directory", "tar", "tar.gz", "tar.xz"
        self.files = files
        self.manifest = None
        self.desired = None
        self.state = None
        self.signature = None
        self.problems = []

    @property
    def environment(self):
        return (self.manifest or {}).get("environment")

    @property
    def secrets_resolved(self):
        return bool((self.manifest or {}).get("secrets_resolved"))

    @property
    def manifest_bytes(self):
        return self.files.get("manifest.json")

    def __repr__(self):
        return "<Artifact %s (%s), %d files>" % (self.path, self.kind, len(self.files))


def find_refs(obj):
    """Sorted names of the ${VAR} / $VAR references in every string of `obj`."""
    names = set()
    for text in _strings_in(obj):
        for m in _REF_RE.finditer(text):
            name = m.group("braced") or m.group("named")
            if name:
                names.add(name)
    return sorted(names)


def resolve_refs(obj, values):
    """A copy of `obj` with every reference replaced from `values`; all missing names at once."""
    missing = sorted(n for n in find_refs(obj) if n not in values)
    if missing:
        raise StreamtError(
            "%d variable%s needed to resolve the secrets %s not set: %s" % (
                len(missing), "" if len(missing) == 1 else "s",
                "is" if len(missing) == 1 else "are", ", ".join(missing)),
            hint="set them in the environment (or the project's .env files) and build again")

    def sub(m):
        if m.group("escaped") is not None:
            return m.group(0)  # `$$` stays: deploy turns it into `$`, as it does today
        return str(values[m.group("braced") or m.group("named")])
    return _map_strings(obj, lambda s: _REF_RE.sub(sub, s))


def artifact_file_name(name, ext=""):
    """A file name for a resource called `name`: safe on every file system.

    `[A-Za-z0-9._-]` are kept, anything else is written `%XX` (UTF-8 bytes, upper-case
    hex) so the name can be read back; a leading or trailing dot, Windows device
    names (CON, NUL, COM1, ...) and the empty name are escaped too. Names longer than
    80 characters are cut and suffixed with `~` and a digest (the manifest still maps
    every resource to its file)."""
    out = []
    last = len(name) - 1
    for i, ch in enumerate(name):
        if ch in _SAFE_NAME_CHARS and not (ch == "." and (i == 0 or i == last)):
            out.append(ch)
        else:
            out.append("".join("%%%02X" % b for b in ch.encode("utf-8", "surrogatepass")))
    text = "".join(out) or "%"
    stem = text.split(".", 1)[0].lower()
    if stem in _RESERVED_NAMES:
        text = "%%%02X" % ord(text[0]) + text[1:]
    if len(text) > 80:
        cut = text[:70]
        pct = cut.rfind("%", len(cut) - 2)
        if pct != -1:
            cut = cut[:pct]
        text = cut + "~" + _digest_of_name(name)
    return text + ext


def render_artifact(desired, project_name=None, project_version=None, git=None,
                    build_epoch=0, secrets_resolved=False, state=None, signer=None):
    """Every file of the artifact of `desired`: {path: bytes}, manifest and SHA256SUMS included.

    `signer`, when given, is ``f(manifest_bytes) -> signature text``."""
    desired = desired or {}
    files = {}
    resources = {}
    components = {}
    unknown = sorted(k for k in desired if k not in ARTIFACT_KINDS and k != "environment")
    if unknown:
        raise StreamtError("the desired state has parts the artifact format does not know: %s"
                           % ", ".join(unknown),
                           hint="this is a bug in streamt: compile and artifact disagree")
    for kind in ARTIFACT_KINDS[:4]:
        spec = _KIND_FILES[kind]
        items = sorted(desired.get(kind) or [], key=lambda it: it[spec["key"]])
        used = {}
        seen = set()
        entries = []
        for item in items:
            key = item[spec["key"]]
            if key in seen:
                raise StreamtError("two %s are both called %r" % (kind, key),
                                   hint="this is a bug in streamt: compile produced duplicates")
            ext = spec["ext"](item) if callable(spec["ext"]) else spec["ext"]
            seen.add(key)
            path = _unique_path(spec["dir"], key, ext, used)
            content, meta = spec["split"](item)
            files[path] = content
            entries.append({"name": key, "file": path, "meta": meta})
        resources[kind] = entries
        components[kind] = [e["name"] for e in entries]
    gateway = list(desired.get("gateway") or [])
    files["gateway/virtual_topics.json"] = _json_bytes(gateway)
    resources["gateway"] = {"file": "gateway/virtual_topics.json"}
    components["gateway"] = [_gateway_name(g) for g in gateway]
    environment = desired.get("environment") or {}
    files["environment.json"] = _json_bytes(environment)
    resources["environment"] = {"file": "environment.json"}
    state_files = []
    for name in sorted(state or {}):
        path = "state/" + artifact_file_name(name, ".json")
        files[path] = _json_bytes(state[name])
        state_files.append({"name": name, "file": path})
    if state is not None:
        resources["state"] = state_files
    checksums = dict((p, "sha256:" + hashlib.sha256(b).hexdigest()) for p, b in files.items())
    manifest = {
        "version": ARTIFACT_FORMAT_VERSION,
        "generator": {"name": "streamt", "version": __version__},
        "build_time": _iso_utc(build_epoch),
        "source_date_epoch": int(build_epoch),
        "project": {"name": project_name, "version": project_version},
        "environment": environment.get("name"),
        "git": git,
        "checksums": checksums,
        "components": components,
        "secrets_resolved": bool(secrets_resolved),
        "required_env": [] if secrets_resolved else find_refs(desired),
        "resources": resources,
    }
    mbytes = _json_bytes(manifest)
    files["manifest.json"] = mbytes
    sums = dict(checksums)
    sums["manifest.json"] = "sha256:" + hashlib.sha256(mbytes).hexdigest()
    files["SHA256SUMS"] = "".join("%s  %s\n" % (sums[p][7:], p)
                                  for p in sorted(sums)).encode("ascii")
    if signer is not None:
        sig = signer(mbytes)
        files[ARTIFACT_SIGNATURE] = sig.encode("ascii") if isinstance(sig, str) else sig
    return files


def write_artifact(desired, out, project_name=None, project_version=None, git=None,
                   build_epoch=0, secrets_resolved=False, state=None, signer=None,
                   force=False, stdout=None):
    """Render the artifact of `desired` and write it to `out` atomically.

    `out` is a directory (absent or empty unless `force`), a `.tar.gz`/`.tgz`/`.tar.xz`/
    `.tar` file, or "-" (a tar.gz on `stdout`, default sys.stdout's binary buffer).
    Returns (files, digest of the written tarball or None)."""
    files = render_artifact(desired, project_name, project_version, git, build_epoch,
                            secrets_resolved, state, signer)
    fmode, dmode = (0o600, 0o700) if secrets_resolved else (0o644, 0o755)
    kind = _output_kind(out)
    if kind == "stdout":
        data = _compress(deterministic_tar(files, build_epoch, fmode, dmode), "tar.gz")
        stream = stdout if stdout is not None else getattr(sys.stdout, "buffer", sys.stdout)
        stream.write(data)
        stream.flush()
        return files, hashlib.sha256(data).hexdigest()
    out = os.path.abspath(out)
    parent = os.path.dirname(out)
    if not os.path.isdir(parent):
        try:
            os.makedirs(parent)
        except OSError as e:
            raise StreamtError("cannot create %s: %s" % (parent, e.strerror or e))
    exists = os.path.lexists(out)
    if exists and not force:
        if kind != "directory" or not os.path.isdir(out) or os.listdir(out):
            raise StreamtError("%s already exists" % out,
                               hint="choose another output, or pass --force to replace it")
    if kind == "directory":
        if exists and not os.path.isdir(out) and not force:
            raise StreamtError("%s exists and is not a directory" % out)
        _write_directory(files, out, build_epoch, fmode, dmode)
        return files, None
    data = _compress(deterministic_tar(files, build_epoch, fmode, dmode), kind)
    if exists and os.path.isdir(out) and not os.path.islink(out):
        raise StreamtError("%s is a directory" % out,
                           hint="remove it, or choose a file name for the tarball")
    _atomic_write(out, data, fmode)
    return files, hashlib.sha256(data).hexdigest()


def read_artifact(path):
    """Read an artifact (directory or tarball) into memory, without extracting anything.

    Hostile content (absolute or `..` paths, links, devices, duplicates, oversized or
    too many members, non-UTF-8 names) is refused with an IntegrityError listing every
    problem. A damaged but harmless artifact is returned with `problems` set."""
    if path == "-":
        stream = getattr(sys.stdin, "buffer", sys.stdin)
        files, kind = _read_archive_bytes(_read_limited(stream, "<stdin>"), "<stdin>")
    elif os.path.isdir(path):
        files, kind = _read_directory(path), "directory"
    elif os.path.exists(path):
        with open(path, "rb") as f:
            files, kind = _read_archive_bytes(_read_limited(f, path), path)
    else:
        raise IntegrityError("%s: no such artifact" % path,
                             hint="give the directory or tarball written by `streamt build`")
    art = Artifact(path, kind, files)
    _load_artifact(art)
    return art


def verify_artifact(artifact, allowed_signers=None, require_signature=False,
                    allowed_signers_name=None):
    """Check an artifact: manifest, checksums, no missing or unlisted files, SHA256SUMS,
    resources, and (with `allowed_signers`, the text or path of an allowed_signers file)
    the signature. Raises IntegrityError listing EVERY problem; returns a report
    {"files": n, "signature": None | info, "signed": bool} when all is well."""
    if isinstance(artifact, str):
        artifact = read_artifact(artifact)
    problems = list(artifact.problems)
    files = artifact.files
    manifest = artifact.manifest
    if isinstance(manifest, dict):
        checksums = manifest.get("checksums")
        if not isinstance(checksums, dict):
            problems.append("manifest.json: no `checksums` mapping")
            checksums = {}
        for name in sorted(checksums):
            want = checksums[name]
            if not _safe_member_name(name):
                problems.append("manifest.json lists an unsafe path: %r" % name)
            elif name in _UNCHECKED_FILES:
                problems.append("manifest.json must not list %s in its checksums" % name)
            elif name not in files:
                problems.append("%s: listed in the manifest but missing" % name)
            elif not isinstance(want, str) or \
                    want != "sha256:" + hashlib.sha256(files[name]).hexdigest():
                problems.append("%s: checksum mismatch (the file was changed after the build)"
                                % name)
        for name in sorted(files):
            if name not in checksums and name not in _UNCHECKED_FILES:
                problems.append("%s: not listed in the manifest" % name)
        problems.extend(_check_sha256sums(files, checksums))
    signed = artifact.signature is not None
    info = None
    if signed:
        try:
            info = ssh_signature_info(artifact.signature)
        except StreamtError as e:
            problems.append("%s: unreadable signature: %s" % (ARTIFACT_SIGNATURE, e.message))
    if allowed_signers is not None:
        text, label = _allowed_signers_text(allowed_signers, allowed_signers_name)
        if not signed:
            problems.append("the artifact is not signed, but allowed signers were given")
        elif info is not None and artifact.manifest_bytes is not None:
            try:
                result = ssh_verify(artifact.manifest_bytes, artifact.signature, text,
                                    namespace=SSHSIG_NAMESPACE, allowed_signers_name=label)
                info = dict(info)
                info["verified"] = True
                info["principal"] = result.get("principal")
            except StreamtError as e:
                problems.append("signature: " + e.message)
    elif require_signature:
        if not signed:
            problems.append("the artifact is not signed and a signature is required")
        else:
            problems.append("a signature is required but no allowed signers were given to "
                            "check it against")
    if problems:
        raise IntegrityError(
            "%s: the artifact failed verification (%d problem%s)" % (
                artifact.path, len(problems), "" if len(problems) == 1 else "s"),
            details=problems,
            hint="rebuild the artifact with `streamt build`, and copy it again")
    return {"files": len(files), "signed": signed, "signature": info}


def inspect_artifact(artifact, component=None):
    """A JSON-able summary of an artifact (the data behind `streamt artifact inspect`)."""
    m = artifact.manifest or {}
    desired = artifact.desired or {}
    sig = None
    if artifact.signature is not None:
        try:
            sig = ssh_signature_info(artifact.signature)
        except StreamtError as e:
            sig = {"error": e.message}
    summary = {
        "path": artifact.path, "kind": artifact.kind,
        "format": m.get("version"), "generator": m.get("generator"),
        "project": m.get("project"), "environment": m.get("environment"),
        "git": m.get("git"), "build_time": m.get("build_time"),
        "secrets_resolved": bool(m.get("secrets_resolved")),
        "required_env": m.get("required_env") or [],
        "signature": sig,
        "counts": dict((k, len(desired.get(k) or [])) for k in ARTIFACT_KINDS),
        "files": len(artifact.files),
    }
    if component is not None:
        kind = _COMPONENT_KINDS.get(component, component)
        if kind not in ARTIFACT_KINDS:
            raise UsageError("unknown component %r" % component,
                             hint="one of: %s" % ", ".join(sorted(_COMPONENT_KINDS)))
        summary["component"] = component
        summary["items"] = desired.get(kind) or []
    else:
        summary["components"] = dict((k, _names(desired, k)) for k in ARTIFACT_KINDS)
    if artifact.secrets_resolved:
        summary = _redact(summary)
    return summary


def diff_artifacts(old, new):
    """What changed from artifact `old` to artifact `new` (Artifacts or desired states).

    Returns a sorted list of {"kind", "name", "change": "added"|"removed"|"changed",
    "changes": [{"key", "old", "new"}], "sql": {...} for Flink jobs}; secret-looking
    values are redacted."""
    a = old.desired if isinstance(old, Artifact) else old
    b = new.desired if isinstance(new, Artifact) else new
    if a is None or b is None:
        raise IntegrityError("cannot diff an artifact whose resources cannot be read",
                             hint="run `streamt artifact verify` on it")
    out = []
    for kind in ARTIFACT_KINDS + ("environment",):
        if kind == "environment":
            ma = {"environment": a.get("environment") or {}}
            mb = {"environment": b.get("environment") or {}}
        else:
            ma = _keyed(a.get(kind) or [], kind)
            mb = _keyed(b.get(kind) or [], kind)
        for name in sorted(set(ma) | set(mb)):
            if name not in mb:
                out.append({"kind": kind, "name": name, "change": "removed", "changes": []})
            elif name not in ma:
                out.append({"kind": kind, "name": name, "change": "added", "changes": []})
            elif ma[name] != mb[name]:
                entry = {"kind": kind, "name": name, "change": "changed", "changes": []}
                fa, fb = _flatten(ma[name]), _flatten(mb[name])
                for key in sorted(set(fa) | set(fb)):
                    if key == "sql" and kind == "flink_jobs":
                        continue
                    if fa.get(key, _MISSING) != fb.get(key, _MISSING):
                        entry["changes"].append({
                            "key": key, "old": _redact_value(key, fa.get(key)),
                            "new": _redact_value(key, fb.get(key))})
                if kind == "flink_jobs" and ma[name].get("sql") != mb[name].get("sql"):
                    entry["sql"] = _sql_diff(ma[name].get("sql") or "",
                                             mb[name].get("sql") or "", name)
                out.append(entry)
    return out


def render_diff(changes):
    """The text of `streamt artifact diff`."""
    if not changes:
        return ["no differences"]
    lines = []
    sign = {"added": "+", "removed": "-", "changed": "~"}
    for c in changes:
        lines.append("%s %s %s (%s)" % (sign[c["change"]], _KIND_LABEL.get(c["kind"], c["kind"]),
                                        c["name"], c["change"]))
        for ch in c["changes"]:
            lines.append("    %s: %s -> %s" % (ch["key"], _show(ch["old"]), _show(ch["new"])))
        if "sql" in c:
            s = c["sql"]
            lines.append("    sql: +%d -%d lines" % (s["added"], s["removed"]))
            lines.extend("      " + line for line in s["diff"])
    counts = collections.Counter(c["change"] for c in changes)
    lines.append("%d added, %d changed, %d removed" % (
        counts["added"], counts["changed"], counts["removed"]))
    return lines


def source_date_epoch(environ=None, git=None):
    """The build time: SOURCE_DATE_EPOCH, else the commit time, else 0 (never the clock)."""
    env = os.environ if environ is None else environ
    value = env.get("SOURCE_DATE_EPOCH")
    if value not in (None, ""):
        if not value.strip().isdigit():
            raise UsageError("SOURCE_DATE_EPOCH must be a whole number of seconds, not %r"
                             % value, hint="e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)")
        return int(value.strip())
    if git and git.get("time") is not None:
        return int(git["time"])
    return 0


def deterministic_tar(files, mtime=0, file_mode=0o644, dir_mode=0o755):
    """An uncompressed ustar archive of `files` ({posix path: bytes}), byte-identical on
    every Python: entries sorted (each directory before its contents), the given mtime,
    uid/gid 0, no owner names, fixed modes, padded to 10240-byte records like GNU tar.

    Written by hand rather than with tarfile, whose header details changed between
    Python versions (e.g. 3.8's default format); tarfile and GNU tar read it."""
    dirs = set()
    for p in files:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    entries = [(d.split("/"), d + "/", None) for d in dirs]
    entries += [(p.split("/"), p, files[p]) for p in files]
    entries.sort(key=lambda e: (e[0], e[2] is not None))
    chunks = []
    for _parts, name, data in entries:
        if data is None:
            chunks.append(_ustar_header(name, 0, mtime, dir_mode, b"5"))
        else:
            chunks.append(_ustar_header(name, len(data), mtime, file_mode, b"0"))
            chunks.append(data)
            if len(data) % 512:
                chunks.append(b"\0" * (512 - len(data) % 512))
    chunks.append(b"\0" * 1024)
    size = sum(len(c) for c in chunks)
    if size % 10240:
        chunks.append(b"\0" * (10240 - size % 10240))
    return b"".join(chunks)


def git_info(path, files=None, use_binary=None):
    """Git metadata of the project at `path`: {"commit", "branch", "dirty", "time"} or None
    outside a repository.

    `dirty` is True when a tracked file under `path` differs from HEAD (staged or not) or
    one of `files` (the project files the build read, relative to `path`) is untracked;
    None when it cannot be told. Uses the `git` binary when there is one (use_binary=None),
    else reads `.git` directly; both give the same answer."""
    if use_binary is None:
        import shutil
        use_binary = shutil.which("git") is not None
    if use_binary:
        info = _git_info_binary(path, files)
        if info is not False:
            return info
    return _git_info_python(path, files)


# -- helpers: naming, rendering ------------------------------------------------------

_SAFE_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "._-")
_RESERVED_NAMES = frozenset(["con", "prn", "aux", "nul"] +
                            ["com%d" % i for i in range(10)] + ["lpt%d" % i for i in range(10)])
_UNCHECKED_FILES = frozenset(["manifest.json", "SHA256SUMS", ARTIFACT_SIGNATURE])
_REF_RE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[_a-zA-Z][_a-zA-Z0-9]*)\}|"
                     r"(?P<named>[_a-zA-Z][_a-zA-Z0-9]*))")
_MISSING = object()
_COMPONENT_KINDS = {"topics": "topics", "schemas": "schemas", "flink": "flink_jobs",
                    "flink_jobs": "flink_jobs", "connectors": "connectors", "gateway": "gateway"}
_KIND_LABEL = {"topics": "topic", "schemas": "schema", "flink_jobs": "flink job",
               "connectors": "connector", "gateway": "gateway", "environment": "environment"}
_SCHEMA_EXT = {"AVRO": ".avsc", "JSON": ".json", "PROTOBUF": ".proto"}
_SECRET_KEY_RE = re.compile(r"(password|passwd|secret|token|credential|jaas|private|api[._-]?key"
                            r"|access[._-]?key|key[._-]?password|\.key$|^key$)", re.I)


def _strings_in(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            for s in _strings_in(k):
                yield s
            for s in _strings_in(v):
                yield s
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            for s in _strings_in(v):
                yield s


def _map_strings(obj, fn):
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, dict):
        return dict((fn(k) if isinstance(k, str) else k, _map_strings(v, fn))
                    for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return [_map_strings(v, fn) for v in obj]
    return obj


def _unescape_file_name(text):
    """The resource name of an escaped file name (without its extension); inverse of
    artifact_file_name for names it did not have to shorten."""
    if text == "%":
        return ""
    return _unquote_pct(text)


def _unquote_pct(text):
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%":
            out.append(int(text[i + 1:i + 3], 16))
            i += 3
        else:
            out.extend(text[i].encode("ascii"))
            i += 1
    return out.decode("utf-8", "surrogatepass")


def _digest_of_name(name):
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _unique_path(directory, key, ext, used):
    """directory/file for `key`, unique in `used` even on case-insensitive file systems."""
    base = artifact_file_name(key)
    candidate = base
    n = 0
    while (candidate + ext).lower() in used:
        n += 1
        candidate = "%s~%s" % (base, _digest_of_name(key) if n == 1 else
                               "%s%d" % (_digest_of_name(key), n))
    used[(candidate + ext).lower()] = key
    return "%s/%s%s" % (directory, candidate, ext)


def _split_topic(item):
    return _json_bytes(item), {}


def _split_schema(item):
    meta = dict((k, v) for k, v in item.items() if k not in ("schema", "subject"))
    return _text_bytes(item.get("schema", "")), meta


def _split_flink(item):
    meta = dict((k, v) for k, v in item.items() if k not in ("sql", "name"))
    return _text_bytes(item.get("sql", "")), meta


def _split_connector(item):
    meta = dict((k, v) for k, v in item.items() if k not in ("name", "config"))
    return _json_bytes({"name": item["name"], "config": item.get("config") or {}}), meta


_KIND_FILES = {
    "topics": {"dir": "topics", "key": "name", "ext": ".json", "split": _split_topic},
    "schemas": {"dir": "schemas", "key": "subject",
                "ext": lambda it: _SCHEMA_EXT.get(it.get("schema_type") or "AVRO", ".txt"),
                "split": _split_schema},
    "flink_jobs": {"dir": "flink", "key": "name", "ext": ".sql", "split": _split_flink},
    "connectors": {"dir": "connectors", "key": "name", "ext": ".json",
                   "split": _split_connector},
}


def _json_bytes(obj):
    return canonical_json(obj).encode("utf-8")


def _text_bytes(text):
    return text.encode("utf-8")


def _gateway_name(g):
    meta = g.get("metadata") or {}
    name = meta.get("name", "?")
    if meta.get("vCluster"):
        name = "%s/%s" % (meta["vCluster"], name)
    return "%s/%s" % (g.get("kind", "?"), name)


def _iso_utc(epoch):
    when = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=int(epoch))
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ustar_header(name, size, mtime, mode, typeflag):
    raw = name.encode("utf-8")
    prefix = b""
    if len(raw) > 100:
        cut = raw.rfind(b"/", 0, 156)
        if cut <= 0 or len(raw) - cut - 1 > 100:
            raise StreamtError("path too long for the artifact: %s" % name)
        prefix, raw = raw[:cut], raw[cut + 1:]

    def octal(value, width):
        return ("%0*o" % (width - 1, value)).encode("ascii") + b"\0"
    fields = [
        raw.ljust(100, b"\0"), octal(mode, 8), octal(0, 8), octal(0, 8), octal(size, 12),
        octal(mtime, 12), b" " * 8, typeflag, b"\0" * 100, b"ustar\x00", b"00",
        b"\0" * 32, b"\0" * 32, octal(0, 8), octal(0, 8), prefix.ljust(155, b"\0"),
        b"\0" * 12]
    header = bytearray(b"".join(fields))
    header[148:156] = ("%06o" % sum(header)).encode("ascii") + b"\0 "
    return bytes(header)


def _compress(tar, kind):
    import io
    if kind == "tar":
        return tar
    if kind == "tar.xz":
        import lzma
        return lzma.compress(tar, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=6)
    import gzip
    buf = io.BytesIO()
    # mtime=0 and no file name in the header: the same tar gives the same .tar.gz
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(tar)
    return buf.getvalue()


def _output_kind(out):
    if out == "-":
        return "stdout"
    low = out.lower()
    if low.endswith(".tar.gz") or low.endswith(".tgz"):
        return "tar.gz"
    if low.endswith(".tar.xz") or low.endswith(".txz"):
        return "tar.xz"
    if low.endswith(".tar"):
        return "tar"
    return "directory"


def _atomic_write(path, data, mode):
    import tempfile
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path),
                               prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise


def _write_directory(files, out, mtime, fmode, dmode):
    import shutil
    import tempfile
    parent = os.path.dirname(out)
    tmp = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(out) + ".")
    try:
        made = set([""])
        for path in sorted(files):
            parts = path.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in made:
                    os.mkdir(os.path.join(tmp, *d.split("/")))
                    made.add(d)
            target = os.path.join(tmp, *parts)
            with open(target, "wb") as f:
                f.write(files[path])
            os.chmod(target, fmode)
            os.utime(target, (mtime, mtime))
        for d in sorted(made, key=len, reverse=True):
            target = os.path.join(tmp, *d.split("/")) if d else tmp
            os.chmod(target, dmode)
            os.utime(target, (mtime, mtime))
        old = None
        if os.path.lexists(out):
            if os.path.isdir(out) and not os.path.islink(out) and not os.listdir(out):
                os.rmdir(out)
            else:  # --force: move the old one aside, put the new one in, then drop the old
                old = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(out) + ".old.")
                os.rename(out, os.path.join(old, "x"))
        os.rename(tmp, out)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


# -- helpers: reading ---------------------------------------------------------------

def _read_limited(stream, label):
    data = stream.read(ARTIFACT_MAX_TOTAL + 1)
    if len(data) > ARTIFACT_MAX_TOTAL:
        raise IntegrityError("%s: larger than %d MiB, refused" % (
            label, ARTIFACT_MAX_TOTAL // (1024 * 1024)))
    return data


def _decompress_limited(data, kind, label):
    """Decompress without ever holding more than the size limit (gzip/xz bombs)."""
    import zlib
    limit = ARTIFACT_MAX_TOTAL
    try:
        if kind == "tar.gz":
            out = []
            total = 0
            rest = data
            while rest:
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                chunk = d.decompress(rest, limit + 1 - total)
                while True:
                    out.append(chunk)
                    total += len(chunk)
                    if total > limit:
                        raise _TooBig()
                    if d.eof or not d.unconsumed_tail:
                        break
                    chunk = d.decompress(d.unconsumed_tail, limit + 1 - total)
                if not d.eof:
                    raise IntegrityError("%s: truncated gzip data" % label)
                rest = d.unused_data.lstrip(b"\0")  # concatenated members, like gzip(1)
            return b"".join(out)
        import lzma
        d = lzma.LZMADecompressor()
        out = d.decompress(data, max_length=limit + 1)
        if len(out) > limit or not d.needs_input and not d.eof:
            raise _TooBig()
        if not d.eof:
            raise IntegrityError("%s: truncated xz data" % label)
        return out
    except _TooBig:
        raise IntegrityError("%s: decompresses to more than %d MiB, refused" % (
            label, limit // (1024 * 1024)))
    except (zlib.error, EOFError, OSError, ValueError) as e:
        if isinstance(e, StreamtError):
            raise
        raise IntegrityError("%s: corrupt compressed data: %s" % (label, e))
    except Exception as e:  # lzma.LZMAError
        if isinstance(e, StreamtError):
            raise
        raise IntegrityError("%s: corrupt compressed data: %s" % (label, e))


class _TooBig(Exception):
    pass


def _read_archive_bytes(data, label):
    import io
    import tarfile
    if data[:2] == b"\x1f\x8b":
        kind = "tar.gz"
    elif data[:6] == b"\xfd7zXZ\x00":
        kind = "tar.xz"
    else:
        kind = "tar"
    raw = data if kind == "tar" else _decompress_limited(data, kind, label)
    problems = []
    files = {}
    dirs = set()
    try:
        tf = tarfile.open(fileobj=io.BytesIO(raw), mode="r:", encoding="utf-8",
                          errors="surrogateescape")
    except (tarfile.TarError, EOFError) as e:
        raise IntegrityError("%s: not an artifact tarball (%s)" % (label, e),
                             hint="give a directory, .tar.gz, .tar.xz or .tar written by "
                                  "`streamt build`")
    count = 0
    total = 0
    try:
        while True:
            try:
                member = tf.next()
            except (tarfile.TarError, EOFError, ValueError) as e:
                problems.append("corrupt tar data after %d members: %s" % (count, e))
                break
            if member is None:
                break
            count += 1
            if count > ARTIFACT_MAX_MEMBERS:
                problems.append("more than %d members" % ARTIFACT_MAX_MEMBERS)
                break
            name = member.name
            shown = name.encode("utf-8", "backslashreplace").decode("utf-8")
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                problems.append("%s: member name is not UTF-8" % shown)
                continue
            clean = name[:-1] if member.isdir() and name.endswith("/") else name
            if clean.startswith("./"):
                clean = clean[2:]
            if not _safe_member_name(clean):
                problems.append("%s: unsafe path (absolute, `..`, empty or odd segment)" % shown)
                continue
            if member.issym() or member.islnk():
                problems.append("%s: links are not allowed (-> %s)" % (shown, member.linkname))
                continue
            if member.isdir():
                if clean in files:
                    problems.append("%s: both a file and a directory" % shown)
                dirs.add(clean)
                continue
            if not member.isreg():
                problems.append("%s: special files (devices, fifos, ...) are not allowed" % shown)
                continue
            if member.size > ARTIFACT_MAX_MEMBER:
                problems.append("%s: %d bytes, larger than the %d MiB limit" % (
                    shown, member.size, ARTIFACT_MAX_MEMBER // (1024 * 1024)))
                continue
            total += member.size
            if total > ARTIFACT_MAX_TOTAL:
                problems.append("members total more than %d MiB" % (
                    ARTIFACT_MAX_TOTAL // (1024 * 1024)))
                break
            if clean in files or clean in dirs:
                problems.append("%s: duplicate member" % shown)
                continue
            f = tf.extractfile(member)
            files[clean] = f.read() if f is not None else b""
    finally:
        tf.close()
    for name in files:
        parts = name.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in files:
                problems.append("%s: both a file and a directory" % "/".join(parts[:i]))
    if problems:
        raise IntegrityError("%s: refused, the archive is not a safe artifact" % label,
                             details=sorted(set(problems)),
                             hint="only build output of `streamt build` is accepted; "
                                  "nothing was written")
    return files, kind


def _safe_member_name(name):
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
        return False
    if "\0" in name or ":" in name.split("/")[0]:
        return False
    return all(seg not in ("", ".", "..") for seg in name.split("/"))


def _read_directory(root):
    import stat
    files = {}
    problems = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel = os.path.relpath(dirpath, root)
        rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                problems.append("%s%s: links are not allowed" % (rel, d))
                dirnames.remove(d)
        dirnames.sort()
        for fn in sorted(filenames):
            full = os.path.join(dirpath, fn)
            name = rel + fn
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                problems.append("%s: file name is not UTF-8" % name.encode(
                    "utf-8", "backslashreplace").decode("utf-8"))
                continue
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                problems.append("%s: links are not allowed" % name)
                continue
            if not stat.S_ISREG(st.st_mode):
                problems.append("%s: special files (devices, fifos, ...) are not allowed" % name)
                continue
            if st.st_size > ARTIFACT_MAX_MEMBER:
                problems.append("%s: larger than the %d MiB limit" % (
                    name, ARTIFACT_MAX_MEMBER // (1024 * 1024)))
                continue
            total += st.st_size
            if total > ARTIFACT_MAX_TOTAL or len(files) >= ARTIFACT_MAX_MEMBERS:
                problems.append("the directory holds more than an artifact can")
                break
            with open(full, "rb") as f:
                files[name] = f.read()
    if problems:
        raise IntegrityError("%s: refused, the directory is not a safe artifact" % root,
                             details=problems)
    return files


def _load_artifact(art):
    """Parse manifest.json and rebuild the desired state; record what is wrong."""
    files = art.files
    if "manifest.json" not in files:
        raise IntegrityError("%s: no manifest.json, this is not a streamt artifact" % art.path,
                             hint="give the directory or tarball written by `streamt build`")
    try:
        manifest = json.loads(files["manifest.json"].decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise IntegrityError("%s: manifest.json is not valid JSON: %s" % (art.path, e))
    if not isinstance(manifest, dict):
        raise IntegrityError("%s: manifest.json is not a JSON object" % art.path)
    version = str(manifest.get("version", ""))
    if version.split(".")[0] != ARTIFACT_FORMAT_VERSION.split(".")[0]:
        raise IntegrityError(
            "%s: artifact format %r is not supported (this streamt reads %s.x)" % (
                art.path, version, ARTIFACT_FORMAT_VERSION.split(".")[0]),
            hint="use the streamt version that built it (see manifest.json `generator`)")
    art.manifest = manifest
    if ARTIFACT_SIGNATURE in files:
        try:
            art.signature = files[ARTIFACT_SIGNATURE].decode("ascii")
        except UnicodeDecodeError:
            art.problems.append("%s: not an ASCII-armored signature" % ARTIFACT_SIGNATURE)
    problems = art.problems
    resources = manifest.get("resources")
    if not isinstance(resources, dict):
        problems.append("manifest.json: no `resources` mapping")
        return
    desired = {}
    for kind in ARTIFACT_KINDS[:4]:
        spec = _KIND_FILES[kind]
        items = []
        for entry in resources.get(kind) or []:
            data = _entry_file(entry, files, problems)
            if data is None:
                continue
            try:
                if kind in ("topics", "connectors"):
                    item = json.loads(data.decode("utf-8"))
                    if kind == "connectors":
                        item.update(entry.get("meta") or {})
                else:
                    item = dict(entry.get("meta") or {})
                    item["schema" if kind == "schemas" else "sql"] = data.decode("utf-8")
                item[spec["key"]] = entry["name"]
            except (ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError) as e:
                problems.append("%s: unreadable: %s" % (entry.get("file"), e))
                continue
            items.append(item)
        desired[kind] = items
    for kind, default in (("gateway", []), ("environment", {})):
        entry = resources.get(kind)
        data = _entry_file(entry, files, problems) if entry is not None else None
        value = default
        if data is not None:
            try:
                value = json.loads(data.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                problems.append("%s: unreadable: %s" % (entry.get("file"), e))
        desired[kind] = value
    if "state" in resources:
        art.state = {}
        for entry in resources.get("state") or []:
            data = _entry_file(entry, files, problems)
            if data is not None:
                try:
                    art.state[entry["name"]] = json.loads(data.decode("utf-8"))
                except (ValueError, UnicodeDecodeError) as e:
                    problems.append("%s: unreadable: %s" % (entry.get("file"), e))
    if not problems:
        art.desired = desired


def _entry_file(entry, files, problems):
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        problems.append("manifest.json: malformed resource entry %r" % (entry,))
        return None
    if entry["file"] not in files:
        problems.append("%s: named in the manifest's resources but missing" % entry["file"])
        return None
    return files[entry["file"]]


def _check_sha256sums(files, checksums):
    problems = []
    if "SHA256SUMS" not in files:
        return ["SHA256SUMS: missing"]
    want = dict((p, v[7:]) for p, v in checksums.items() if isinstance(v, str))
    if "manifest.json" in files:
        want["manifest.json"] = hashlib.sha256(files["manifest.json"]).hexdigest()
    seen = {}
    try:
        text = files["SHA256SUMS"].decode("utf-8")
    except UnicodeDecodeError:
        return ["SHA256SUMS: not UTF-8 text"]
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^([0-9a-f]{64}) [ *](.+)$", line)
        if not m:
            problems.append("SHA256SUMS line %d: not `<sha256>  <path>`" % n)
            continue
        seen[m.group(2)] = m.group(1)
    for p in sorted(set(want) | set(seen)):
        if p not in seen:
            problems.append("SHA256SUMS: %s is missing" % p)
        elif p not in want:
            problems.append("SHA256SUMS: lists %s, which the manifest does not" % p)
        elif seen[p] != want[p]:
            problems.append("SHA256SUMS: the digest of %s disagrees with the manifest" % p)
    return problems


def _allowed_signers_text(value, label):
    if "\n" not in value and " " not in value.strip() and os.path.isfile(value):
        try:
            with open(value, "rb") as f:
                return f.read().decode("utf-8"), label or value
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError("cannot read the allowed signers file %s: %s" % (value, e))
    return value, label or "allowed_signers"


# -- helpers: inspect and diff ---------------------------------------------------------

def _names(desired, kind):
    if kind == "gateway":
        return [_gateway_name(g) for g in desired.get(kind) or []]
    key = "subject" if kind == "schemas" else "name"
    return [it.get(key) for it in desired.get(kind) or []]


def _keyed(items, kind):
    out = {}
    for it in items:
        if kind == "gateway":
            out[_gateway_name(it)] = it
        else:
            out[it.get("subject" if kind == "schemas" else "name")] = it
    return out


def _flatten(obj, prefix=""):
    out = {}
    if isinstance(obj, dict) and obj:
        for k in obj:
            out.update(_flatten(obj[k], "%s%s%s" % (prefix, "." if prefix else "", k)))
    else:
        out[prefix or "."] = obj
    return out


def _is_secret_key(key):
    return bool(_SECRET_KEY_RE.search(str(key)))


def _redact_value(key, value):
    if value is None or not _is_secret_key(key):
        return value
    if isinstance(value, str) and _REF_RE.fullmatch(value.strip()):
        return value  # a ${VAR} reference is not a secret
    return "<redacted>"


def _redact(obj, key=""):
    if isinstance(obj, dict):
        return dict((k, _redact(v, "%s.%s" % (key, k) if key else str(k))) for k, v in obj.items())
    if isinstance(obj, list):
        return [_redact(v, key) for v in obj]
    return _redact_value(key, obj) if key else obj


def _show(value):
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _sql_diff(a, b, name):
    import difflib
    diff = list(difflib.unified_diff(a.splitlines(), b.splitlines(), "a/flink/%s.sql" % name,
                                     "b/flink/%s.sql" % name, n=1, lineterm=""))
    added = sum(1 for line in diff if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff if line.startswith("-") and not line.startswith("---"))
    return {"added": added, "removed": removed, "diff": diff[2:]}


# -- helpers: git --------------------------------------------------------------------

def _git_info_binary(path, files):
    """git metadata through the git binary; False when git cannot answer (then we read .git)."""
    import subprocess
    env = dict(os.environ)
    env.update({"GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"})
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)

    def git(*args):
        p = subprocess.Popen(["git", "-c", "core.quotepath=off"] + list(args), cwd=path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        out, _err = p.communicate()
        return p.returncode, out

    try:
        rc, out = git("rev-parse", "--is-inside-work-tree")
    except OSError:
        return False
    if rc != 0:
        # Outside a repository, or git refuses it ("dubious ownership"): let the reader decide.
        return False
    rc, out = git("rev-parse", "--verify", "-q", "HEAD")
    if rc != 0:
        return None  # a repository without commits: nothing to record
    commit = out.decode("ascii").strip()
    rc, out = git("symbolic-ref", "-q", "HEAD")
    branch = None
    if rc == 0:
        ref = out.decode("utf-8", "replace").strip()
        branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
    rc, out = git("show", "-s", "--format=%ct", "HEAD")
    time_ = int(out.decode("ascii").strip()) if rc == 0 and out.strip() else None
    dirty = None
    rc, status = git("status", "--porcelain", "-z", "--untracked-files=no", "--", ".")
    rc2, tracked = git("ls-files", "-z", "--", ".")
    if rc == 0 and rc2 == 0:
        dirty = bool(status.strip(b"\0"))
        if not dirty and files:
            names = set(t.decode("utf-8", "surrogateescape") for t in tracked.split(b"\0") if t)
            dirty = any(f.replace(os.sep, "/") not in names for f in files
                        if not _is_env_file(f))
    return {"commit": commit, "branch": branch, "dirty": dirty, "time": time_}


def _git_info_python(path, files):
    """git metadata read from .git directly (no git binary): HEAD, refs, packed refs,
    worktrees, loose and packed objects, the index."""
    path = os.path.abspath(path)
    top = path
    while True:
        dotgit = os.path.join(top, ".git")
        if os.path.exists(dotgit):
            break
        up = os.path.dirname(top)
        if up == top:
            return None
        top = up
    try:
        repo = _GitRepo(top, dotgit)
        commit = repo.head_commit()
    except (OSError, ValueError, KeyError, IndexError):
        return None
    if commit is None:
        return None
    try:
        time_ = repo.commit_time(commit)
    except (OSError, ValueError, KeyError, IndexError):
        time_ = None
    try:
        prefix = os.path.relpath(path, top).replace(os.sep, "/")
        dirty = repo.dirty(commit, "" if prefix == "." else prefix + "/", files)
    except (OSError, ValueError, KeyError, IndexError, _GitUnknown):
        dirty = None
    return {"commit": commit, "branch": repo.branch, "dirty": dirty, "time": time_}


def _is_env_file(path):
    # .env files only feed ${VAR} values, which an artifact keeps as references (unless
    # --resolve-secrets, which records secrets_resolved): being untracked is their norm.
    return os.path.basename(path).startswith(".env")


class _GitUnknown(Exception):
    """The .git reader met something it does not understand: `dirty` cannot be told."""


class _GitRepo(object):

    def __init__(self, top, dotgit):
        self.top = top
        if os.path.isdir(dotgit):
            self.gitdir = dotgit
        else:
            with open(dotgit, "r") as f:
                line = f.read().strip()
            if not line.startswith("gitdir:"):
                raise ValueError("not a gitdir file")
            self.gitdir = os.path.normpath(os.path.join(top, line[len("gitdir:"):].strip()))
        self.common = self.gitdir
        cd = os.path.join(self.gitdir, "commondir")
        if os.path.isfile(cd):
            with open(cd, "r") as f:
                self.common = os.path.normpath(os.path.join(self.gitdir, f.read().strip()))
        self.branch = None
        self._packs = None

    def _read(self, *parts):
        with open(os.path.join(*parts), "rb") as f:
            return f.read()

    def resolve_ref(self, ref, depth=0):
        if depth > 10:
            raise ValueError("symbolic ref loop")
        for base in (self.gitdir, self.common):
            p = os.path.join(base, *ref.split("/"))
            if os.path.isfile(p):
                text = self._read(p).decode("utf-8").strip()
                if text.startswith("ref:"):
                    return self.resolve_ref(text[4:].strip(), depth + 1)
                return text
        packed = os.path.join(self.common, "packed-refs")
        if os.path.isfile(packed):
            for line in self._read(packed).decode("utf-8").splitlines():
                if line.startswith("#") or line.startswith("^"):
                    continue
                parts = line.split(" ", 1)
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
        return None

    def head_commit(self):
        text = self._read(self.gitdir, "HEAD").decode("utf-8").strip()
        if text.startswith("ref:"):
            ref = text[4:].strip()
            self.branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
            return self.resolve_ref(ref)
        return text

    # objects

    def object(self, sha):
        """(type, bytes) of an object, loose or packed."""
        import zlib
        p = os.path.join(self.common, "objects", sha[:2], sha[2:])
        if os.path.isfile(p):
            raw = zlib.decompress(self._read(p))
            head, _, body = raw.partition(b"\0")
            kind = head.split(b" ")[0].decode("ascii")
            return kind, body
        for idx, pack in self._pack_list():
            off = self._pack_offset(idx, sha)
            if off is not None:
                return self._pack_object(pack, off)
        raise _GitUnknown("object %s not found" % sha)

    def _pack_list(self):
        if self._packs is None:
            self._packs = []
            d = os.path.join(self.common, "objects", "pack")
            if os.path.isdir(d):
                for fn in sorted(os.listdir(d)):
                    if fn.endswith(".idx"):
                        self._packs.append((self._read(d, fn),
                                            os.path.join(d, fn[:-4] + ".pack")))
        return self._packs

    def _pack_offset(self, idx, sha):
        import bisect
        import struct
        if idx[:4] != b"\377tOc" or struct.unpack(">I", idx[4:8])[0] != 2:
            raise _GitUnknown("unsupported pack index")
        want = bytes.fromhex(sha)
        fan = struct.unpack(">256I", idx[8:8 + 1024])
        n = fan[255]
        lo = fan[want[0] - 1] if want[0] else 0
        hi = fan[want[0]]
        base = 8 + 1024

        class _Names(object):
            def __getitem__(self, i):
                return idx[base + 20 * i:base + 20 * i + 20]

            def __len__(self):
                return n
        i = bisect.bisect_left(_Names(), want, lo, hi)
        if i >= hi or idx[base + 20 * i:base + 20 * i + 20] != want:
            return None
        offs = base + 20 * n + 4 * n
        off = struct.unpack(">I", idx[offs + 4 * i:offs + 4 * i + 4])[0]
        if off & 0x80000000:
            large = offs + 4 * n + 8 * (off & 0x7fffffff)
            off = struct.unpack(">Q", idx[large:large + 8])[0]
        return off

    def _pack_object(self, pack, off, depth=0):
        import zlib
        if depth > 50:
            raise _GitUnknown("delta chain too long")
        with open(pack, "rb") as f:
            f.seek(off)
            head = f.read(64)
            c = head[0]
            kind = (c >> 4) & 7
            i = 1
            while c & 0x80:
                c = head[i]
                i += 1
            base_off = base_sha = None
            if kind == 6:  # OFS_DELTA
                c = head[i]
                i += 1
                rel = c & 0x7f
                while c & 0x80:
                    c = head[i]
                    i += 1
                    rel = ((rel + 1) << 7) | (c & 0x7f)
                base_off = off - rel
            elif kind == 7:  # REF_DELTA
                base_sha = head[i:i + 20].hex()
                i += 20
            f.seek(off + i)
            d = zlib.decompressobj()
            chunks = []
            while not d.eof:
                block = f.read(65536)
                if not block:
                    break
                chunks.append(d.decompress(block))
            body = b"".join(chunks)
        names = {1: "commit", 2: "tree", 3: "blob", 4: "tag"}
        if kind in names:
            return names[kind], body
        if base_off is not None:
            bkind, bbody = self._pack_object(pack, base_off, depth + 1)
        elif base_sha is not None:
            bkind, bbody = self.object(base_sha)
        else:
            raise _GitUnknown("unknown pack object type %d" % kind)
        return bkind, _apply_delta(bbody, body)

    def commit_time(self, sha):
        kind, body = self.object(sha)
        for line in body.split(b"\n"):
            if line.startswith(b"committer "):
                return int(line.rsplit(b" ", 2)[1])
            if not line:
                break
        return None

    def tree_files(self, sha, prefix, out, want_prefix):
        """{path: (mode, sha)} of the blobs under `want_prefix` in tree `sha`."""
        kind, body = self.object(sha)
        i = 0
        while i < len(body):
            sp = body.index(b" ", i)
            nul = body.index(b"\0", sp)
            mode = int(body[i:sp], 8)
            name = body[sp + 1:nul].decode("utf-8", "surrogateescape")
            child = body[nul + 1:nul + 21].hex()
            i = nul + 21
            path = prefix + name
            if mode == 0o40000:
                if want_prefix.startswith(path + "/") or (path + "/").startswith(want_prefix):
                    self.tree_files(child, path + "/", out, want_prefix)
            elif path.startswith(want_prefix) and mode != 0o160000:
                out[path] = (mode, child)
        return out

    def dirty(self, commit, prefix, files):
        entries = _read_git_index(os.path.join(self.gitdir, "index"))
        index_mtime = os.stat(os.path.join(self.gitdir, "index")).st_mtime
        kind, body = self.object(commit)
        tree = body.split(b"\n", 1)[0].split(b" ")[1].decode("ascii")
        head = self.tree_files(tree, "", {}, prefix)
        tracked = {}
        for e in entries:
            if not e["path"].startswith(prefix) or e["mode"] == 0o160000:
                continue
            if e["stage"] or e["intent_to_add"]:
                return True  # a merge conflict or `git add -N`: not what HEAD holds
            tracked[e["path"]] = e
        if set(tracked) != set(head):
            return True
        for p, e in sorted(tracked.items()):
            if head[p] != (e["mode"], e["sha"]):
                return True  # staged change
            if e["skip_worktree"]:
                continue
            full = os.path.join(self.top, *p.split("/"))
            try:
                st = os.lstat(full)
            except OSError:
                return True  # deleted in the working tree
            import stat as _stat
            if _stat.S_ISLNK(st.st_mode):
                actual_mode = 0o120000
            else:
                actual_mode = 0o100755 if st.st_mode & 0o100 else 0o100644
            if actual_mode != e["mode"]:
                return True
            if st.st_size % (1 << 32) != e["size"]:
                return True
            same_stat = (int(st.st_mtime) % (1 << 32) == e["mtime_s"] and
                         (st.st_mtime_ns % 1000000000) == e["mtime_ns"])
            racy = st.st_mtime >= index_mtime
            if same_stat and not racy:
                continue
            if _stat.S_ISLNK(st.st_mode):
                data = os.readlink(full).encode("utf-8", "surrogateescape")
            else:
                with open(full, "rb") as f:
                    data = f.read()
            if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != e["sha"]:
                return True
        for f in files or []:
            if not _is_env_file(f) and prefix + f.replace(os.sep, "/") not in tracked:
                return True
        return False


def _apply_delta(base, delta):
    def varint(i):
        shift = value = 0
        while True:
            c = delta[i]
            i += 1
            value |= (c & 0x7f) << shift
            shift += 7
            if not c & 0x80:
                return value, i
    _src, i = varint(0)
    size, i = varint(i)
    out = bytearray()
    while i < len(delta):
        c = delta[i]
        i += 1
        if c & 0x80:
            off = ln = 0
            for bit in range(4):
                if c & (1 << bit):
                    off |= delta[i] << (8 * bit)
                    i += 1
            for bit in range(3):
                if c & (0x10 << bit):
                    ln |= delta[i] << (8 * bit)
                    i += 1
            out += base[off:off + (ln or 0x10000)]
        elif c:
            out += delta[i:i + c]
            i += c
        else:
            raise _GitUnknown("bad delta opcode")
    if len(out) != size:
        raise _GitUnknown("delta size mismatch")
    return bytes(out)


def _read_git_index(path):
    import struct
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"DIRC":
        raise _GitUnknown("not a git index")
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3, 4):
        raise _GitUnknown("index version %d" % version)
    i = 12
    entries = []
    prev = b""
    for _ in range(count):
        start = i
        (_cs, _cn, ms, mns, _dev, _ino, mode, _uid, _gid, size) = struct.unpack(
            ">10I", data[i:i + 40])
        sha = data[i + 40:i + 60].hex()
        flags = struct.unpack(">H", data[i + 60:i + 62])[0]
        i += 62
        ext = 0
        if flags & 0x4000:
            if version < 3:
                raise _GitUnknown("extended flag in a v2 index")
            ext = struct.unpack(">H", data[i:i + 2])[0]
            i += 2
        if version == 4:
            strip = shift = 0
            while True:
                c = data[i]
                i += 1
                if shift == 0:
                    strip = c & 0x7f
                else:
                    strip = ((strip + 1) << 7) | (c & 0x7f)
                shift += 7
                if not c & 0x80:
                    break
            nul = data.index(b"\0", i)
            name = prev[:len(prev) - strip] + data[i:nul]
            i = nul + 1
        else:
            nul = data.index(b"\0", i)
            name = data[i:nul]
            i = start + ((i - start + len(name) + 8) // 8) * 8
        prev = name
        if mode & 0o170000 == 0o040000:
            raise _GitUnknown("sparse index")
        entries.append({"path": name.decode("utf-8", "surrogateescape"), "mode": mode,
                        "sha": sha, "size": size, "mtime_s": ms, "mtime_ns": mns,
                        "stage": (flags >> 12) & 3, "skip_worktree": bool(ext & 0x4000),
                        "intent_to_add": bool(ext & 0x2000)})
    return entries


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
