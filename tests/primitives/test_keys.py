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
