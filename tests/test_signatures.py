"""Signatures: OpenSSH keys, SSHSIG, allowed_signers, interop with the real ssh-keygen.

The Ed25519 RFC 8032 vectors are in test_signatures_rfc8032.py (runnable without pytest).
Tests marked by the `ssh_keygen` fixture are skipped where /usr/bin/ssh-keygen is absent;
everything else uses the committed corpus in tests/corpus/sshsig/ (made by ssh-keygen).
"""
import base64
import datetime
import os
import shutil
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamt
from streamt import IntegrityError, UsageError

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "sshsig")
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"


def corpus(name, mode="r"):
    with open(os.path.join(CORPUS, name), mode) as f:
        return f.read()


KEY = corpus("test_key")
PUB = corpus("test_key.pub").strip()
DATA = corpus("manifest.json", "rb")
SIG = corpus("manifest.json.sig")
ALLOWED = "ci@example.com " + PUB + "\n"


# ---- helpers -------------------------------------------------------------------------

def _sig_blob(text):
    body = "".join(text.strip().splitlines()[1:-1])
    return base64.b64decode(body)


def _armor(blob):
    b64 = base64.b64encode(blob).decode()
    return "-----BEGIN SSH SIGNATURE-----\n%s\n-----END SSH SIGNATURE-----\n" % "\n".join(
        b64[i:i + 70] for i in range(0, len(b64), 70))


def _key_blob(text):
    body = "".join(text.strip().splitlines()[1:-1])
    return base64.b64decode(body)


def _key_armor(blob):
    b64 = base64.b64encode(blob).decode()
    return "-----BEGIN OPENSSH PRIVATE KEY-----\n%s\n-----END OPENSSH PRIVATE KEY-----\n" % (
        "\n".join(b64[i:i + 70] for i in range(0, len(b64), 70)))


def _ssh_string(b):
    return len(b).to_bytes(4, "big") + b


def _utc(*fields):
    return (datetime.datetime(*fields) - datetime.datetime(1970, 1, 1)).total_seconds()


# ---- keys ----------------------------------------------------------------------------

def test_public_key_line_is_what_ssh_keygen_wrote():
    assert streamt.ssh_public_key_line(KEY) == PUB


def test_fingerprint_of_line_and_of_blob_agree():
    blob = base64.b64decode(PUB.split()[1])
    fp = streamt.ssh_fingerprint(PUB)
    assert fp == streamt.ssh_fingerprint(blob)
    assert fp.startswith("SHA256:") and "=" not in fp and len(fp) == 7 + 43


def test_encrypted_key_is_refused_with_the_ssh_keygen_p_hint():
    with pytest.raises(UsageError) as e:
        streamt.ssh_sign(DATA, corpus("encrypted_key"))
    assert "encrypted" in e.value.message and "aes256-ctr" in e.value.message
    assert "ssh-keygen -p" in e.value.hint


def test_ecdsa_key_is_refused_clearly():
    with pytest.raises(UsageError) as e:
        streamt.ssh_sign(DATA, corpus("ecdsa_key"))
    assert "ecdsa-sha2-nistp256" in e.value.message and "ed25519" in e.value.message


@pytest.mark.parametrize("text,needle", [
    ("", "missing"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n", "PEM"),
    (PUB, "public key line"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\n!!!!\n-----END OPENSSH PRIVATE KEY-----\n",
     "base64"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n", "footer"),
])
def test_bad_key_files_are_usage_errors(text, needle):
    with pytest.raises(UsageError) as e:
        streamt.ssh_sign(DATA, text)
    assert needle in e.value.render()


def test_checkint_mismatch_is_refused():
    blob = bytearray(_key_blob(KEY))
    # openssh-key-v1\0, "none", "none", "", nkeys, public key blob, then the private
    # section's length and its first check integer.
    pos = 15 + 8 + 8 + 4 + 4
    pos += 4 + int.from_bytes(blob[pos:pos + 4], "big")
    pos += 4
    blob[pos] ^= 0xFF
    with pytest.raises(UsageError) as e:
        streamt.ssh_sign(DATA, _key_armor(bytes(blob)))
    assert "check integers" in e.value.message


def test_a_corrupted_secret_key_is_refused():
    blob = bytearray(_key_blob(KEY))
    # The seed sits right after the 32-byte public key inside the private section:
    # find the second copy of the public key and damage the byte before it.
    pub = base64.b64decode(PUB.split()[1])[-32:]
    second = blob.rfind(pub)
    blob[second - 1] ^= 1  # last byte of the seed... (seed||pub: seed ends here)
    with pytest.raises(UsageError) as e:
        streamt.ssh_sign(DATA, _key_armor(bytes(blob)))
    assert "does not match" in e.value.message


# ---- SSHSIG: our format is ssh-keygen's ----------------------------------------------

def test_our_signature_is_byte_identical_to_ssh_keygens():
    assert streamt.ssh_sign(DATA, KEY) == SIG


def test_signature_armor_has_70_character_lines():
    lines = streamt.ssh_sign(DATA * 3, KEY).splitlines()
    assert lines[0] == "-----BEGIN SSH SIGNATURE-----"
    assert lines[-1] == "-----END SSH SIGNATURE-----"
    assert all(len(line) == 70 for line in lines[1:-2]) and 0 < len(lines[-2]) <= 70


def test_signature_info_says_who_signed():
    info = streamt.ssh_signature_info(SIG)
    assert info == {"key_type": "ssh-ed25519", "fingerprint": streamt.ssh_fingerprint(PUB),
                    "public_key": " ".join(PUB.split()[:2]), "namespace": "streamt",
                    "hash": "sha512", "version": 1}
    assert streamt.ssh_signature_info(corpus("manifest.json.sha256.sig"))["hash"] == "sha256"


def test_ssh_keygen_signatures_verify_sha512_and_sha256():
    for name, hash_alg in (("manifest.json.sig", "sha512"),
                           ("manifest.json.sha256.sig", "sha256")):
        result = streamt.ssh_verify(DATA, corpus(name), ALLOWED)
        assert result == {"principal": "ci@example.com",
                          "fingerprint": streamt.ssh_fingerprint(PUB),
                          "key_type": "ssh-ed25519", "namespace": "streamt",
                          "hash": hash_alg, "line": 1}


def test_str_data_is_utf8():
    assert streamt.ssh_verify(DATA.decode("utf-8"), SIG, ALLOWED)["line"] == 1


def test_every_single_byte_change_of_the_data_is_refused():
    for i in range(len(DATA)):
        changed = bytearray(DATA)
        changed[i] ^= 0x20
        with pytest.raises(IntegrityError) as e:
            streamt.ssh_verify(bytes(changed), SIG, ALLOWED)
        assert "does not match the signed data" in e.value.message
    with pytest.raises(IntegrityError):
        streamt.ssh_verify(DATA + b"\n", SIG, ALLOWED)
    with pytest.raises(IntegrityError):
        streamt.ssh_verify(DATA[:-1], SIG, ALLOWED)


def test_wrong_namespace_is_refused():
    with pytest.raises(IntegrityError) as e:
        streamt.ssh_verify(DATA, corpus("manifest.json.file-namespace.sig"), ALLOWED)
    assert "'file'" in e.value.message and "'streamt'" in e.value.message
    # and our own signature for another namespace does not pass as a streamt one
    other = streamt.ssh_sign(DATA, KEY, namespace="file")
    with pytest.raises(IntegrityError):
        streamt.ssh_verify(DATA, other, ALLOWED)
    assert streamt.ssh_verify(DATA, other, ALLOWED, namespace="file")["namespace"] == "file"


def test_namespace_is_covered_by_the_signature():
    # Rewriting the namespace field of a "file" signature to "streamt" must not help.
    blob = _sig_blob(corpus("manifest.json.file-namespace.sig"))
    forged = blob.replace(_ssh_string(b"file"), _ssh_string(b"streamt"), 1)
    assert forged != blob
    with pytest.raises(IntegrityError) as e:
        streamt.ssh_verify(DATA, _armor(forged), ALLOWED)
    assert "does not match" in e.value.message


def test_ecdsa_signature_is_refused_as_unsupported():
    allowed = ALLOWED + "ecdsa@example.com " + corpus("ecdsa_key.pub")
    with pytest.raises(IntegrityError) as e:
        streamt.ssh_verify(DATA, corpus("manifest.json.ecdsa.sig"), allowed)
    assert "ecdsa-sha2-nistp256" in e.value.message and "ed25519" in e.value.message


def test_signature_with_another_key_is_not_trusted():
    seed = bytes(range(32))
    other_pub = streamt.ed25519_public_key(seed)
    blob = _sig_blob(SIG)
    # Re-sign the same SSHSIG with another key: valid signature, unknown signer.
    signed = b"".join([b"SSHSIG", _ssh_string(b"streamt"), _ssh_string(b""),
                       _ssh_string(b"sha512"),
                       _ssh_string(__import__("hashlib").sha512(DATA).digest())])
    raw = streamt.ed25519_sign(seed, signed)
    key_blob = _ssh_string(b"ssh-ed25519") + _ssh_string(other_pub)
    forged = b"".join([b"SSHSIG", (1).to_bytes(4, "big"), _ssh_string(key_blob),
                       _ssh_string(b"streamt"), _ssh_string(b""), _ssh_string(b"sha512"),
                       _ssh_string(_ssh_string(b"ssh-ed25519") + _ssh_string(raw))])
    assert forged != blob
    with pytest.raises(IntegrityError) as e:
        streamt.ssh_verify(DATA, _armor(forged), ALLOWED)
    fp = streamt.ssh_fingerprint(key_blob)
    assert e.value.message == "the signing key %s is not in allowed_signers" % fp
    assert "add a line" in e.value.hint


@pytest.mark.parametrize("mutate,needle", [
    (lambda b: b[:6] + (2).to_bytes(4, "big") + b[10:], "version 2"),
    (lambda b: b"SSHSIH" + b[6:], "magic"),
    (lambda b: b + b"\x00", "unexpected bytes"),
    (lambda b: b[:-1], "claims"),
    (lambda b: b[:10] + b"\xff\xff\xff\xff" + b[14:], "claims 4294967295 bytes"),
    (lambda b: b.replace(_ssh_string(b"") + _ssh_string(b"sha512"),
                         _ssh_string(b"x") + _ssh_string(b"sha512")), "reserved"),
    (lambda b: b.replace(_ssh_string(b"sha512"), _ssh_string(b"sha384")), "hash algorithm"),
    (lambda b: b"", "magic"),
])
def test_malformed_signatures_are_integrity_errors(mutate, needle):
    text = _armor(mutate(_sig_blob(SIG)))
    with pytest.raises(IntegrityError) as e:
        streamt.ssh_signature_info(text)
    assert needle in e.value.message
    with pytest.raises(IntegrityError):
        streamt.ssh_verify(DATA, text, ALLOWED)


@pytest.mark.parametrize("text,needle", [
    ("", "empty"),
    (None, "missing"),
    (SIG.replace("-----END SSH SIGNATURE-----", ""), "footer"),
    (SIG.replace("BEGIN SSH SIGNATURE", "BEGIN PGP SIGNATURE"), "header"),
    (SIG.replace("U1NIU0lH", "U1NIU0l*"), "base64"),
    (b"\xff\xfe", "not text"),
    ("x" * (2 << 20), "too large"),
])
def test_malformed_armor_is_an_integrity_error(text, needle):
    with pytest.raises(IntegrityError) as e:
        streamt.ssh_verify(DATA, text, ALLOWED)
    assert needle in e.value.message


def test_crlf_armor_is_accepted_like_openssh():
    assert streamt.ssh_verify(DATA, SIG.replace("\n", "\r\n"), ALLOWED)["line"] == 1


# ---- allowed_signers ---------------------------------------------------------------

NOW = _utc(2026, 6, 1, 12, 0, 0)


def verify(allowed, principal=None, now=NOW, sig=SIG):
    return streamt.ssh_verify(DATA, sig, allowed, principal=principal, now=now)


def refused(allowed, principal=None, now=NOW):
    with pytest.raises(IntegrityError) as e:
        verify(allowed, principal, now)
    return e.value.render()


def test_comments_blank_lines_and_other_key_types_are_skipped():
    allowed = ("# deployers\n\n   \n# ci@example.com " + PUB + "\n"
               "ecdsa@example.com " + corpus("ecdsa_key.pub") +
               "  ci@example.com " + PUB + " trailing comment\n")
    assert verify(allowed, "ci@example.com")["line"] == 6


def test_principal_must_match():
    assert verify(ALLOWED, "ci@example.com")["principal"] == "ci@example.com"
    text = refused(ALLOWED, "mallory@example.com")
    assert "for principal 'mallory@example.com'" in text
    assert "line 1 lists this key for 'ci@example.com'" in text


def test_without_principal_the_matching_line_is_reported():
    allowed = "a@x.org " + corpus("ecdsa_key.pub") + "ci@example.com,ops@example.com " + PUB
    result = verify(allowed)
    assert result["principal"] == "ci@example.com,ops@example.com" and result["line"] == 2


@pytest.mark.parametrize("principals,principal,ok", [
    ("*@example.com", "ci@example.com", True),
    ("*@example.com", "ci@example.org", False),
    ("ci@example.co?", "ci@example.com", True),
    ("ci@example.co?", "ci@example.co", False),
    ("*@example.com,!mallory@example.com", "ci@example.com", True),
    ("*@example.com,!mallory@example.com", "mallory@example.com", False),
    ("!mallory@example.com", "ci@example.com", False),   # no positive match
    ('"ci@example.com"', "ci@example.com", True),       # quoted principals
    ("CI@example.com", "ci@example.com", False),        # case-sensitive
])
def test_principal_patterns(principals, principal, ok):
    allowed = principals + " " + PUB + "\n"
    if ok:
        assert verify(allowed, principal)["line"] == 1
    else:
        refused(allowed, principal)


@pytest.mark.parametrize("namespaces,ok", [
    ("streamt", True), ("file,streamt", True), ("str*", True), ("s?reamt", True),
    ("file", False), ("*,!streamt", False), ("streamt2", False),
])
def test_namespaces_option(namespaces, ok):
    allowed = 'ci@example.com namespaces="%s" %s\n' % (namespaces, PUB)
    if ok:
        assert verify(allowed, "ci@example.com")["line"] == 1
    else:
        assert "only for namespaces %r" % namespaces in refused(allowed, "ci@example.com")


def test_validity_window_in_utc_is_inclusive():
    allowed = ('ci@example.com valid-after="20260101Z",valid-before="20260601120000Z" %s\n'
               % PUB)
    assert verify(allowed, now=_utc(2026, 1, 1))["line"] == 1
    assert verify(allowed, now=_utc(2026, 6, 1, 12))["line"] == 1
    assert "expired at 2026-06-01 12:00:00 UTC" in refused(allowed, now=_utc(2026, 6, 1, 12) + 1)
    assert "not valid before 2026-01-01 00:00:00 UTC" in refused(allowed, now=_utc(2026, 1, 1) - 1)


def test_validity_without_z_is_local_time():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"  # UTC+9, no daylight saving
    time.tzset()
    try:
        allowed = 'ci@example.com valid-before="202601010900" %s\n' % PUB
        assert verify(allowed, now=_utc(2026, 1, 1, 0, 0))["line"] == 1
        assert "expired" in refused(allowed, now=_utc(2026, 1, 1, 0, 1))
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_first_trusting_line_wins_and_failed_lines_are_explained():
    allowed = ('ci@example.com valid-before="20200101Z" %s\n'
               'ci@example.com namespaces="file" %s\n'
               'ci@example.com %s\n' % (PUB, PUB, PUB))
    assert verify(allowed, "ci@example.com")["line"] == 3
    text = refused("\n".join(allowed.splitlines()[:2]), "ci@example.com")
    assert "line 1: the key expired" in text and "line 2 allows this key only" in text


def test_cert_authority_is_refused_with_an_explanation():
    text = refused("*@example.com cert-authority %s\n" % PUB, "ci@example.com")
    assert "cert-authority" in text and "certificates" in text


def test_crlf_and_byte_order_mark_are_tolerated():
    assert verify("\ufeffci@example.com " + PUB + "\r\n# end\r\n")["line"] == 1


def test_a_certificate_authority_line_is_explained_when_the_key_is_unknown():
    other = "ssh-ed25519 " + base64.b64encode(
        _ssh_string(b"ssh-ed25519") + _ssh_string(streamt.ed25519_public_key(bytes(32)))
    ).decode()
    text = refused("*@example.com cert-authority %s\n" % other, "ci@example.com")
    assert "is not in allowed_signers" in text
    assert "line 1 trusts a certificate authority" in text and "certificates" in text


def test_a_signature_by_a_certificate_is_refused_as_unsupported():
    blob = _sig_blob(SIG)
    cert_type = b"ssh-ed25519-cert-v01@openssh.com"
    key_len = int.from_bytes(blob[10:14], "big")
    key_blob = blob[14:14 + key_len].replace(_ssh_string(b"ssh-ed25519"),
                                             _ssh_string(cert_type), 1)
    forged = blob[:10] + _ssh_string(key_blob) + blob[14 + key_len:]
    with pytest.raises(IntegrityError) as e:
        verify(ALLOWED, sig=_armor(forged))
    assert "certificate" in e.value.message and cert_type.decode() in e.value.message


def test_option_keywords_are_case_insensitive():
    assert verify('ci@example.com NAMESPACES="streamt" %s\n' % PUB)["line"] == 1


@pytest.mark.parametrize("line,needle", [
    ("ci@example.com", "no key"),
    ('ci@example.com namespaces=streamt %s', "double quotes"),
    ('ci@example.com namespaces="streamt %s', "unterminated"),
    ('ci@example.com valid-after="2026" %s', "invalid valid-after time"),
    ('ci@example.com valid-after="20261340Z" %s', "invalid valid-after time"),
    ('ci@example.com valid-after="20270101Z",valid-before="20260101Z" %s', "not after"),
    ('ci@example.com restrict %s', "unknown option"),
    ('ci@example.com namespaces="a",namespaces="b" %s', "multiple"),
    ("ci@example.com ssh-ed25519 AAAA", "ed25519"),
    ("ci@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==", "ed25519"),
    ("ci@example.com ssh-rsa " + PUB.split()[1], "says 'ssh-rsa'"),
    (PUB, "starts with a key"),
])
def test_malformed_allowed_signers_lines_are_located_usage_errors(line, needle):
    text = "# header\n" + (line % PUB if "%s" in line else line) + "\n"
    with pytest.raises(UsageError) as e:
        streamt.ssh_verify(DATA, SIG, text, now=NOW, allowed_signers_name="deploy/allowed")
    assert needle in e.value.render()
    assert e.value.location == streamt.Location("deploy/allowed", 2)


# ---- fuzzing: only IntegrityError / UsageError, never anything else ------------------

SEED_SIGS = [_sig_blob(corpus(n)) for n in sorted(os.listdir(CORPUS)) if n.endswith(".sig")]
SEED_KEYS = [_key_blob(corpus(n)) for n in ("test_key", "encrypted_key", "ecdsa_key")]


def _mutations(seeds):
    def apply(args):
        seed, edits = args
        out = bytearray(seeds[seed % len(seeds)])
        for kind, pos, value in edits:
            pos = pos % (len(out) + 1)
            if kind == 0 and out:
                out[pos % len(out)] = value
            elif kind == 1:
                out[pos:pos] = bytes([value])
            elif kind == 2:
                del out[pos:pos + value % 8 + 1]
            elif kind == 3:
                out[pos:pos + 4] = (value * 0x01010101).to_bytes(4, "big")
            else:
                del out[pos:]
        return bytes(out)
    edit = st.tuples(st.integers(0, 4), st.integers(0, 1 << 16), st.integers(0, 255))
    return st.tuples(st.integers(0, 100), st.lists(edit, min_size=1, max_size=4)).map(apply)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_mutations(SEED_SIGS))
def test_fuzz_sshsig_parser(blob):
    text = _armor(blob)
    try:
        info = streamt.ssh_signature_info(text)
    except IntegrityError:
        info = None
    if info is not None:
        assert set(info) == {"key_type", "fingerprint", "public_key", "namespace", "hash",
                             "version"}
    try:
        result = streamt.ssh_verify(DATA, text, ALLOWED)
    except IntegrityError:
        return
    assert result["fingerprint"] == streamt.ssh_fingerprint(PUB)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=600) | st.text(max_size=300))
def test_fuzz_sshsig_armor_text(junk):
    for text in (junk, SIG[:40] + (junk if isinstance(junk, str) else junk.hex()) + SIG[-30:]):
        try:
            streamt.ssh_signature_info(text)
        except IntegrityError:
            pass


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_mutations(SEED_KEYS))
def test_fuzz_private_key_parser(blob):
    try:
        line = streamt.ssh_public_key_line(_key_armor(blob))
    except UsageError:
        return
    assert line.startswith("ssh-ed25519 ")


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(list(' \t"#,!*?=abcnZ0129-') + [
    "\n", PUB, "namespaces=", "valid-after=", "valid-before=", "cert-authority"]),
    max_size=40).map("".join))
def test_fuzz_allowed_signers(text):
    try:
        streamt.ssh_verify(DATA, SIG, text, now=NOW)
    except (IntegrityError, UsageError):
        pass


# ---- interop with the real ssh-keygen -------------------------------------------------

@pytest.fixture(scope="module")
def ssh_keygen():
    if not os.path.exists(SSH_KEYGEN):
        pytest.skip("ssh-keygen is not installed")
    return SSH_KEYGEN


def _run(args, stdin=b""):
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out, err = p.communicate(stdin)
    return p.returncode, out.decode(), err.decode()


@pytest.fixture
def fresh_key(ssh_keygen, tmp_path):
    path = str(tmp_path / "id_ed25519")
    code, _out, err = _run([ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C",
                            "dev@example.com", "-f", path])
    assert code == 0, err
    return path


def _ssh_verify(ssh_keygen, tmp_path, data, sig_text, allowed, principal,
                namespace="streamt", extra=()):
    sig_path, allowed_path = str(tmp_path / "data.sig"), str(tmp_path / "allowed")
    with open(sig_path, "w") as f:
        f.write(sig_text)
    with open(allowed_path, "w") as f:
        f.write(allowed)
    return _run([ssh_keygen, "-Y", "verify", "-n", namespace, "-f", allowed_path, "-I",
                 principal, "-s", sig_path] + list(extra), data)[0]


@pytest.mark.parametrize("data", [b"", b"x", b'{"name": "shop"}\n', bytes(range(256)) * 300])
def test_ssh_keygen_and_we_make_identical_signatures(ssh_keygen, fresh_key, data):
    code, out, err = _run([ssh_keygen, "-Y", "sign", "-n", "streamt", "-f", fresh_key], data)
    assert code == 0, err
    with open(fresh_key) as f:
        ours = streamt.ssh_sign(data, f.read())
    assert ours == out


def test_ssh_keygen_verifies_our_signature(ssh_keygen, fresh_key, tmp_path):
    with open(fresh_key) as f:
        key = f.read()
    data = b'{"files": {"a": "sha256:00"}}\n'
    sig = streamt.ssh_sign(data, key)
    allowed = "dev@example.com " + streamt.ssh_public_key_line(key) + "\n"
    assert _ssh_verify(ssh_keygen, tmp_path, data, sig, allowed, "dev@example.com") == 0
    code, _o, err = _run([ssh_keygen, "-Y", "check-novalidate", "-n", "streamt", "-s",
                          str(tmp_path / "data.sig")], data)
    assert code == 0, err
    # ssh-keygen refuses it for another namespace, another principal, changed data
    assert _ssh_verify(ssh_keygen, tmp_path, data, sig, allowed, "dev@example.com",
                       namespace="file") != 0
    assert _ssh_verify(ssh_keygen, tmp_path, data, sig, allowed, "eve@example.com") != 0
    assert _ssh_verify(ssh_keygen, tmp_path, data[:-1] + b" ", sig, allowed,
                       "dev@example.com") != 0


def test_we_verify_ssh_keygens_signature_and_refuse_tampering(ssh_keygen, fresh_key):
    data = bytes(range(64))
    code, sig, err = _run([ssh_keygen, "-Y", "sign", "-n", "streamt", "-f", fresh_key], data)
    assert code == 0, err
    with open(fresh_key + ".pub") as f:
        allowed = "dev@example.com " + f.read()
    assert streamt.ssh_verify(data, sig, allowed, principal="dev@example.com")["line"] == 1
    for i in range(len(data)):
        changed = bytearray(data)
        changed[i] ^= 0x01
        with pytest.raises(IntegrityError):
            streamt.ssh_verify(bytes(changed), sig, allowed)
    code, sig_file, err = _run([ssh_keygen, "-Y", "sign", "-n", "file", "-f", fresh_key], data)
    with pytest.raises(IntegrityError):
        streamt.ssh_verify(data, sig_file, allowed)


def test_fingerprint_and_public_key_match_ssh_keygen(ssh_keygen, fresh_key):
    with open(fresh_key) as f:
        key = f.read()
    code, out, err = _run([ssh_keygen, "-lf", fresh_key + ".pub"])
    assert code == 0, err
    assert out.split()[1] == streamt.ssh_fingerprint(streamt.ssh_public_key_line(key))
    code, out, err = _run([ssh_keygen, "-y", "-f", fresh_key])
    assert out.split()[:2] == streamt.ssh_public_key_line(key).split()[:2]


# allowed_signers semantics, with ssh-keygen as the oracle: for each line and verify
# time, ssh-keygen -Y verify -Overify-time and ssh_verify(now=...) must agree.
ORACLE_CASES = [
    ("dev@example.com {pub}", "dev@example.com"),
    ("*@example.com,!eve@example.com {pub}", "eve@example.com"),
    ("*@example.com,!eve@example.com {pub}", "dev@example.com"),
    ("dev@example.co? {pub}", "dev@example.com"),
    ("!dev@example.com {pub}", "dev@example.com"),
    ('"dev@example.com" {pub}', "dev@example.com"),
    ('dev@example.com namespaces="file" {pub}', "dev@example.com"),
    ('dev@example.com namespaces="file,str*" {pub}', "dev@example.com"),
    ('dev@example.com namespaces="*,!streamt" {pub}', "dev@example.com"),
    ('dev@example.com valid-after="20260601Z" {pub}', "dev@example.com"),
    ('dev@example.com valid-after="20260602Z" {pub}', "dev@example.com"),
    ('dev@example.com valid-before="20260601Z" {pub}', "dev@example.com"),
    ('dev@example.com valid-before="202606010000Z" {pub}', "dev@example.com"),
    ('dev@example.com valid-after="20260101",valid-before="20270101" {pub}',
     "dev@example.com"),
    ('dev@example.com cert-authority {pub}', "dev@example.com"),
    ("# dev@example.com {pub}\nops@example.com {pub}", "dev@example.com"),
    # local times (the test runs in Asia/Tokyo, UTC+9): 09:00 local = 00:00 UTC
    ('dev@example.com valid-before="202606010900" {pub}', "dev@example.com"),
    ('dev@example.com valid-after="20260601090001" {pub}', "dev@example.com"),
]


@pytest.fixture
def tokyo_time(monkeypatch):
    """Run in UTC+9 (ssh-keygen inherits TZ), so local-time bounds differ from UTC ones."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("line,principal", ORACLE_CASES)
@pytest.mark.parametrize("verify_time", ["20260601Z", "20260601000001Z"])
def test_allowed_signers_agree_with_ssh_keygen(ssh_keygen, fresh_key, tmp_path, tokyo_time,
                                               line, principal, verify_time):
    with open(fresh_key) as f:
        key = f.read()
    data = b"manifest"
    sig = streamt.ssh_sign(data, key)
    allowed = line.format(pub=streamt.ssh_public_key_line(key)) + "\n"
    theirs = _ssh_verify(ssh_keygen, tmp_path, data, sig, allowed, principal,
                         extra=["-Overify-time=" + verify_time]) == 0
    now = streamt._AllowedSigners.parse_time(verify_time, "verify-time", None)
    try:
        streamt.ssh_verify(data, sig, allowed, principal=principal, now=now)
        ours = True
    except IntegrityError:
        ours = False
    assert ours == theirs


def test_find_principals_agrees_with_ssh_keygen(ssh_keygen, fresh_key, tmp_path):
    with open(fresh_key) as f:
        key = f.read()
    sig = streamt.ssh_sign(b"m", key)
    allowed = ("old@example.com valid-before=\"20200101Z\" {pub}\n"
               "ci@example.com,dev@example.com {pub}\n"
               "ops@example.com {pub}\n").format(pub=streamt.ssh_public_key_line(key))
    (tmp_path / "a").write_text(allowed)
    (tmp_path / "s").write_text(sig)
    code, out, err = _run([ssh_keygen, "-Y", "find-principals", "-n", "streamt", "-f",
                           str(tmp_path / "a"), "-s", str(tmp_path / "s")])
    assert code == 0, err
    assert streamt.ssh_verify(b"m", sig, allowed)["principal"] == ",".join(out.split())
    # Deliberate difference: find-principals ignores namespaces="..." (it is given no
    # namespace); we never name a principal the namespace check would then refuse.
    restricted = 'ops@example.com namespaces="file" ' + streamt.ssh_public_key_line(key)
    with pytest.raises(IntegrityError):
        streamt.ssh_verify(b"m", sig, restricted)


# ---- small pieces ------------------------------------------------------------------

@pytest.mark.parametrize("value,pattern,ok", [
    ("", "", True), ("a", "", False), ("", "*", True), ("abc", "a*c", True),
    ("abc", "a?c", True), ("ac", "a?c", False), ("a.c", "a.c", True), ("abc", "a.c", False),
    ("a" * 200 + "b", "*a" * 40 + "*c", False),   # many stars, linear time
    ("a" * 200 + "b", "*a" * 40 + "*b", True),
])
def test_match_pattern(value, pattern, ok):
    assert streamt._AllowedSigners.match_pattern(value, pattern) is ok


def test_now_may_be_a_datetime():
    allowed = 'ci@example.com valid-before="20260101Z" %s\n' % PUB
    aware = datetime.datetime(2025, 12, 31, 23, 59, tzinfo=datetime.timezone.utc)
    assert verify(allowed, now=aware)["line"] == 1
    with pytest.raises(IntegrityError):
        verify(allowed, now=aware + datetime.timedelta(minutes=2))


# ---- Ed25519 against OpenSSL (an independent implementation) -----------------------

OPENSSL = shutil.which("openssl")


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=1, max_size=300))  # openssl 3.0: no empty input
def test_ed25519_matches_openssl(tmp_path_factory, seed, message):
    tmp = tmp_path_factory.mktemp("openssl")
    key, msg = tmp / "key.der", tmp / "msg"
    # PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410): fixed 16-byte prefix.
    key.write_bytes(bytes.fromhex("302e020100300506032b657004220420") + seed)
    msg.write_bytes(message)
    code, _o, err = _run([OPENSSL, "pkey", "-inform", "DER", "-in", str(key), "-pubout",
                          "-outform", "DER", "-out", str(tmp / "pub.der")])
    assert code == 0, err
    assert (tmp / "pub.der").read_bytes()[-32:] == streamt.ed25519_public_key(seed)
    p = subprocess.Popen([OPENSSL, "pkeyutl", "-sign", "-rawin", "-inkey", str(key),
                          "-keyform", "DER", "-in", str(msg)], stdout=subprocess.PIPE)
    theirs = p.communicate()[0]
    assert p.returncode == 0
    assert streamt.ed25519_sign(seed, message) == theirs
    assert streamt.ed25519_verify(streamt.ed25519_public_key(seed), message, theirs)
