"""Ed25519 against RFC 8032 section 7.1 (TEST 1, 2, 3, 1024, SHA(abc)) and strictness cases,
plus an SSHSIG round trip on the committed ssh-keygen corpus.

Standard library only (no pytest import), so that tests/run_rfc8032.py can run this file
on the bastion's oldest interpreter (CPython 3.6) where pytest is not installed.
"""
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import streamt  # noqa: E402

# (name, secret key, public key, message, signature) -- hex, as printed in RFC 8032 7.1.
RFC8032_VECTORS = [
    ("TEST 1",
     "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
     "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
     "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("TEST 2",
     "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
     "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
     "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("TEST 3",
     "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
     "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290"
     "ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ("TEST 1024",
     "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
     "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
     "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12"
     "ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe57"
     "38829adb26c81b37c93a1b270b20329d658675fc6ea534e0810a4432826bf58c941efb65d57a338b"
     "bd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
     "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e06203b33890cc9b8"
     "32f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10"
     "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53"
     "f1d8ac70bdcb7ed185ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
     "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6"
     "079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f27088d78b7e883c8759d2c4f5c65adb7553"
     "878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2"
     "cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
     "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae078"
     "4504df543af8969be3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8"
     "fcffead94f3c7ca495e056a9b47acdb751fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301"
     "651339e22904cc8c42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
     "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34dff7310fdc82aebfd9"
     "04b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7"
     "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a"
     "3ca8e1b939ae49e488acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
     "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a4"
     "3dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5fb93246f6b1116398a346f1a641f3b041"
     "e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d9"
     "0d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
     "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef"
     "68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
     "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f45"
     "28ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"),
    ("TEST SHA(abc)",
     "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a8"
     "36ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ec"
     "fdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
]

L = 2 ** 252 + 27742317777372353535851937790883648493
P = 2 ** 255 - 19


def test_curve_constants_follow_from_their_definitions():
    assert streamt._Ed25519.P == P and streamt._Ed25519.L == L
    assert streamt._Ed25519.D == -121665 * pow(121666, P - 2, P) % P
    assert streamt._Ed25519.D2 == 2 * streamt._Ed25519.D % P
    assert streamt._Ed25519.SQRT_M1 == pow(2, (P - 1) // 4, P)
    assert streamt._Ed25519.SQRT_M1 ** 2 % P == P - 1
    assert streamt._Ed25519.BY == 4 * pow(5, P - 2, P) % P


def _vectors():
    for name, sk, pk, msg, sig in RFC8032_VECTORS:
        yield name, bytes.fromhex(sk), bytes.fromhex(pk), bytes.fromhex(msg), bytes.fromhex(sig)


def test_vector_lengths_are_as_the_rfc_says():
    # Guards against a transcription slip: TEST 1024 has a 1023-byte message and
    # SHA(abc) signs the SHA-512 of "abc".
    lengths = {name: len(msg) for name, _sk, _pk, msg, _sig in _vectors()}
    assert lengths == {"TEST 1": 0, "TEST 2": 1, "TEST 3": 2, "TEST 1024": 1023,
                       "TEST SHA(abc)": 64}
    sha_abc = [msg for name, _sk, _pk, msg, _sig in _vectors() if name == "TEST SHA(abc)"][0]
    assert sha_abc == hashlib.sha512(b"abc").digest()


def test_public_keys_match_the_rfc():
    for name, sk, pk, _msg, _sig in _vectors():
        assert streamt.ed25519_public_key(sk) == pk, name


def test_signatures_match_the_rfc():
    for name, sk, _pk, msg, sig in _vectors():
        assert streamt.ed25519_sign(sk, msg) == sig, name


def test_rfc_signatures_verify():
    for name, _sk, pk, msg, sig in _vectors():
        assert streamt.ed25519_verify(pk, msg, sig) is True, name


def _flip(data, index, bit=1):
    out = bytearray(data)
    out[index] ^= bit
    return bytes(out)


def test_flipped_bits_anywhere_are_refused():
    for name, _sk, pk, msg, sig in _vectors():
        for i in (0, 7, 31):            # R
            assert not streamt.ed25519_verify(pk, msg, _flip(sig, i)), (name, "R", i)
        for i in (32, 40, 63):          # S
            assert not streamt.ed25519_verify(pk, msg, _flip(sig, i)), (name, "S", i)
        for i in (0, 15, 31):           # public key
            assert not streamt.ed25519_verify(_flip(pk, i), msg, sig), (name, "A", i)
        changed = _flip(msg, len(msg) // 2) if msg else b"\x00"
        assert not streamt.ed25519_verify(pk, changed, sig), (name, "message")


def test_non_canonical_s_is_refused():
    # S + L satisfies the verification equation just as well as S (B has order L):
    # only the explicit S < L check refuses this malleated signature.
    for name, _sk, pk, msg, sig in _vectors():
        s = int.from_bytes(sig[32:], "little")
        for bad in (s + L, L, 2 ** 256 - 1):
            forged = sig[:32] + bad.to_bytes(32, "little")
            assert not streamt.ed25519_verify(pk, msg, forged), (name, bad)


def test_small_order_public_keys_are_refused():
    # With the identity as public key, [k]A vanishes, so (R=[s]B, s) would "verify" any
    # message for anyone: OpenSSH-style strictness refuses such keys.
    s = 12345
    r_enc = streamt._Ed25519.encode(streamt._Ed25519.base_mult(s))
    forged = r_enc + s.to_bytes(32, "little")
    identity = (1).to_bytes(32, "little")
    assert streamt._Ed25519.encode(streamt._Ed25519.base_mult(s)) == r_enc
    assert not streamt.ed25519_verify(identity, b"any message", forged)
    # The point (0, -1) of order 2, and the two points of order 4 (y = 0).
    for enc in ((P - 1).to_bytes(32, "little"), bytes(32), (1 << 255).to_bytes(32, "little")):
        assert not streamt.ed25519_verify(enc, b"any message", forged), enc.hex()


def test_non_canonical_public_key_encodings_are_refused():
    _name, _sk, pk, msg, sig = next(_vectors())
    # y >= p (p, p + 1, 2^255 - 1) never encodes a point canonically.
    for enc in ((P).to_bytes(32, "little"), (P + 1).to_bytes(32, "little"),
                (2 ** 255 - 1).to_bytes(32, "little")):
        assert not streamt.ed25519_verify(enc, msg, sig)
    # A y with no x on the curve (2 is not a valid y: (y^2-1)/(dy^2+1) is a non-square).
    assert not streamt.ed25519_verify((2).to_bytes(32, "little"), msg, sig)


def test_wrong_lengths_are_refused_not_raised():
    _name, _sk, pk, msg, sig = next(_vectors())
    assert not streamt.ed25519_verify(pk[:31], msg, sig)
    assert not streamt.ed25519_verify(pk, msg, sig[:63])
    assert not streamt.ed25519_verify(pk, msg, sig + b"\x00")


# ---- SSHSIG on the committed ssh-keygen corpus (stdlib only, so it also runs on 3.6) ---

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "sshsig")


def _corpus(name, mode="r"):
    with open(os.path.join(CORPUS, name), mode) as f:
        return f.read()


def test_sshsig_corpus_round_trip():
    data, key = _corpus("manifest.json", "rb"), _corpus("test_key")
    allowed = "ci@example.com " + _corpus("test_key.pub")
    # ssh-keygen -Y sign made manifest.json.sig: our signature must be the same bytes
    assert streamt.ssh_sign(data, key) == _corpus("manifest.json.sig")
    for name, hash_alg in (("manifest.json.sig", "sha512"),
                           ("manifest.json.sha256.sig", "sha256")):
        result = streamt.ssh_verify(data, _corpus(name), allowed, principal="ci@example.com")
        assert result["hash"] == hash_alg and result["line"] == 1
    try:
        streamt.ssh_verify(data + b" ", _corpus("manifest.json.sig"), allowed)
    except streamt.IntegrityError as e:
        assert "does not match" in e.message
    else:
        raise AssertionError("a changed manifest was accepted")


if __name__ == "__main__":
    failures = 0
    for test_name, func in sorted(globals().items()):
        if test_name.startswith("test_") and callable(func):
            try:
                func()
                print("ok   " + test_name)
            except AssertionError as e:
                failures += 1
                print("FAIL %s %s" % (test_name, e))
    sys.exit(1 if failures else 0)
