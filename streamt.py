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
#       seconds or a datetime; default: the clock).  Returns {"principal", "fingerprint",
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
    if now is None:
        now = time.time()
    elif isinstance(now, datetime.datetime):
        now = now.timestamp()  # naive: local time, as OpenSSH reads allowed_signers times
    entries = _parse_allowed_signers(allowed_signers_text, allowed_signers_name)
    match = _allowed_signers_match(entries, sig["key_blob"], fingerprint, principal,
                                   namespace, now, allowed_signers_name)
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
# d = -121665/121666, 2d, sqrt(-1) = 2^((p-1)/4) and the base point's y = 4/5 (mod p),
# written out: computing them costs ~1 ms of every start-up (three modular
# exponentiations); tests/test_signatures_rfc8032.py recomputes them from the definitions.
_ED_D = 37095705934669439343138083508754565189542113879843219016388785533085940283555  # d
_ED_D2 = 16295367250680780974490674513165176452449235426866156013048779062215315747161  # 2d
_ED_SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
_ED_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960  # 4/5
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
            raise error("%s is not text (binary data where armored text was expected)"
                        % what) from None
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
        raise error("%s: invalid base64" % what) from None


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
            "the signature was made with an %s key; streamt verifies ed25519 signatures only"
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
    if text.startswith("\ufeff"):  # a byte-order mark left by a Windows editor
        text = text[1:]
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        rest = line.strip()
        if not rest or rest.startswith("#"):
            continue
        loc = Location(source_name, number)
        principals, rest = _as_principals_token(rest, loc)
        if _as_looks_like_key(principals):
            raise UsageError("allowed_signers line starts with a key, not with principals",
                             location=loc,
                             hint="put who may sign in front of the key, e.g. "
                                  "'ci@example.com %s AAAA...'" % principals)
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
                             hint="format: PRINCIPALS [OPTIONS] ssh-ed25519 AAAA...") from None
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
        raise bad from None
    if utc:
        seconds = (moment - datetime.datetime(1970, 1, 1)).total_seconds()
    else:
        try:
            seconds = time.mktime(moment.timetuple())
        except (OverflowError, ValueError):
            raise bad from None
    seconds = int(seconds)
    if seconds == 0:  # OpenSSH reads 0 as "not set" and refuses it
        raise bad
    return seconds


def _match_pattern(value, pattern):
    """OpenSSH match_pattern: `*` any run, `?` one character, the rest literal.

    A set of pattern positions is advanced character by character (linear time, no
    backtracking however many `*` a pattern has); an empty pattern matches only ""."""
    size = len(pattern)

    def closure(states):
        out = set()
        for i in states:
            out.add(i)
            while i < size and pattern[i] == "*":
                i += 1
                out.add(i)
        return out

    states = closure({0})
    for ch in value:
        following = set()
        for i in states:
            if i < size:
                if pattern[i] == "*":
                    following.add(i)
                elif pattern[i] == "?" or pattern[i] == ch:
                    following.add(i + 1)
        states = closure(following)
        if not states:
            return False
    return size in states


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
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


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
            if e["cert_authority"]:
                reasons.append("line %d trusts a certificate authority; streamt does not "
                               "support SSH certificates (list the signer's own key)"
                               % e["line"])
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
    # The reasons go into the message itself (callers may show only the message); with
    # several, the first is in the message and all of them are in the details.
    why = ": " + reasons[0] if reasons else ""
    more = list(reasons) if len(reasons) > 1 else []
    if len(reasons) > 1:
        why += " (and %d more)" % (len(reasons) - 1)
    if not reasons or all("certificate authority" in r for r in reasons):
        raise IntegrityError("the signing key %s is not in %s%s%s"
                             % (fingerprint, name, who, why), details=more,
                             hint="add a line 'PRINCIPAL ssh-ed25519 AAAA...' with the "
                                  "signer's public key (`ssh-keygen -y -f KEY` prints it) "
                                  "to %s" % name)
    raise IntegrityError("the signing key %s is not trusted%s by %s%s"
                         % (fingerprint, who, name, why), details=more,
                         hint="ask the owner of %s to add or renew the key" % name)

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
