"""Dev accounts and SS58 addresses agree with Substrate's well-known values."""

import pytest
from substrateinterface import Keypair as SubstrateKeypair
from substrateinterface import KeypairType

from chain.primitives import crypto

# From `subkey inspect --scheme ed25519 //Alice` and @polkadot/keyring addFromUri('//Alice', {}, 'ed25519').
KNOWN = {
    "Alice": "5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu",
    "Bob": "5GoNkf6WdbxCFnPdAnYYQyCjAKPJgLNxXwPjwTh6DGg6gN3E",
}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_dev_accounts_match_substrate(name):
    assert crypto.dev_keypair(name).ss58() == KNOWN[name]


def test_sign_and_verify_agree_with_substrate_interface():
    ours = crypto.Keypair.from_uri("//Alice")
    theirs = SubstrateKeypair.create_from_seed("0x" + ours.seed.hex(), crypto_type=KeypairType.ED25519)
    assert theirs.public_key == ours.public
    assert theirs.verify(b"msg", ours.sign(b"msg"))
    assert crypto.verify(ours.public, b"msg", theirs.sign(b"msg"))
    assert not crypto.verify(ours.public, b"other", ours.sign(b"msg"))


def test_seed_uri_and_phrase_uri():
    seed = bytes(range(32))
    assert crypto.Keypair.from_uri("0x" + seed.hex()).seed == seed
    assert crypto.Keypair.from_uri(crypto.DEV_PHRASE + "//Alice").public == crypto.dev_keypair("Alice").public


@pytest.mark.parametrize("uri", ["//Alice/soft", "not a phrase at all//x", "0x1234"])
def test_invalid_uri_rejected(uri):
    with pytest.raises(crypto.InvalidKey):
        crypto.Keypair.from_uri(uri)


def test_address_round_trip_and_errors():
    alice = crypto.dev_keypair("Alice")
    assert crypto.decode_address(alice.ss58()) == alice.public
    assert crypto.decode_address("0x" + alice.public.hex()) == alice.public
    for bad in ["5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpX", "0x12", "hello", ""]:
        with pytest.raises(crypto.InvalidAddress):
            crypto.decode_address(bad)


def test_verify_never_raises_on_garbage():
    assert not crypto.verify(b"\x00" * 32, b"m", b"\x00" * 64)
    assert not crypto.verify(b"short", b"m", b"\x00" * 64)


# Sr25519, the default scheme of subkey, @polkadot/keyring and py-substrate-interface: `subkey inspect //Alice`,
# `subkey inspect //Bob`, `subkey inspect //Alice//stash`, and sp-core's `derive_soft_known_pair` test
# (`<dev phrase>/Alice`, a soft junction).
KNOWN_SR25519 = {
    "//Alice": (
        "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
        "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
    ),
    "//Bob": (
        "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48",
        "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
    ),
    "//Alice//stash": (
        "be5ddb1579b72e84524fc29e78609e3caf42e85aa118ebfe0b0ad404b5bdd25f",
        "5GNJqTPyNqANBkUVMN1LPPrxXnFouWXoe2wNSmmEoLctxiZY",
    ),
    "/Alice": ("d6c71059dbbe9ad2b0ed3f289738b800836eb425544ce694825285b958ca755e", None),
}


@pytest.mark.parametrize("uri", sorted(KNOWN_SR25519))
def test_sr25519_derivation_matches_subkey(uri):
    public, address = KNOWN_SR25519[uri]
    keypair = crypto.Sr25519Keypair.from_uri(uri)
    assert keypair.public.hex() == public
    assert address is None or keypair.ss58() == address
    assert crypto.Sr25519Keypair.from_uri(crypto.DEV_PHRASE + uri).public == keypair.public


@pytest.mark.parametrize(
    "uri",
    [
        "//Alice",
        "//Alice/soft",
        "//Bob/0//x/1",
        crypto.DEV_PHRASE + "//7/seven",
        "//" + "long-junction-name-over-thirty-two-bytes" * 2,
    ],
)
def test_sr25519_hard_and_soft_derivation_agree_with_substrate_interface(uri):
    theirs = SubstrateKeypair.create_from_uri(uri)
    ours = crypto.Sr25519Keypair.from_uri(uri)
    assert ours.public == theirs.public_key
    assert theirs.verify(b"msg", ours.sign(b"msg"))
    assert crypto.verify_sr25519(ours.public, b"msg", theirs.sign(b"msg"))
    assert not crypto.verify_sr25519(ours.public, b"other", ours.sign(b"msg"))


def test_sr25519_seed_secret_key_and_password():
    alice = crypto.sr25519_dev_keypair("Alice")
    assert alice.seed is None  # derived: only the expanded secret key exists
    assert crypto.Sr25519Keypair.from_uri("0x" + alice.secret.hex()).public == alice.public
    root = crypto.Sr25519Keypair.from_uri(crypto.DEV_PHRASE)
    assert (
        root.seed is not None and crypto.Sr25519Keypair.from_uri("0x" + root.seed.hex()).public == root.public
    )
    with_password = crypto.Sr25519Keypair.from_uri("//Alice///secret")
    assert with_password.public not in (
        alice.public,
        crypto.Sr25519Keypair.from_uri("//Alice", "other").public,
    )
    assert crypto.Sr25519Keypair.from_uri("//Alice", "secret").public == with_password.public


def test_invalid_ed25519_soft_junction_is_refused_with_a_clear_error():
    with pytest.raises(crypto.InvalidKey, match=r"soft derivation \(/soft\) is not supported for Ed25519"):
        crypto.Keypair.from_uri("//Alice/soft")
    assert (
        crypto.keypair_from_uri("//Alice/soft", crypto.SignatureScheme.SR25519).scheme
        == crypto.SignatureScheme.SR25519
    )


def test_verify_signature_dispatches_by_scheme_and_refuses_ecdsa():
    ed, sr = crypto.dev_keypair("Alice"), crypto.sr25519_dev_keypair("Alice")
    S = crypto.SignatureScheme
    assert crypto.verify_signature(S.ED25519, ed.public, b"m", ed.sign(b"m"))
    assert crypto.verify_signature(S.SR25519, sr.public, b"m", sr.sign(b"m"))
    assert not crypto.verify_signature(S.SR25519, ed.public, b"m", ed.sign(b"m"))
    assert not crypto.verify_signature(S.ED25519, sr.public, b"m", sr.sign(b"m"))
    with pytest.raises(crypto.UnsupportedScheme, match="Ecdsa"):
        crypto.verify_signature(S.ECDSA, sr.public, b"m", b"\x00" * 65)


def test_sr25519_verify_never_raises_on_garbage():
    assert not crypto.verify_sr25519(b"\xff" * 32, b"m", b"\x00" * 63 + b"\x80")  # not a Ristretto point
    assert not crypto.verify_sr25519(b"\x00" * 32, b"m", b"\x00" * 64)  # no schnorrkel marker
    assert not crypto.verify_sr25519(b"short", b"m", b"\x00" * 64)
    assert not crypto.verify_sr25519(b"\x00" * 32, b"m", b"\x00" * 65)
