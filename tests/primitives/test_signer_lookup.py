"""The runtime resolves an extrinsic's signer address: Id and Address32 name the same account, the rest cannot."""

from __future__ import annotations

import dataclasses

import pytest

from chain.primitives import calls
from chain.primitives.crypto import dev_keypair
from chain.primitives.extrinsic import AddressKind, MultiAddress, UncheckedExtrinsic, sign_extrinsic
from runtime import apis
from runtime import validity as v
from runtime.chain_spec import load_chain_spec
from runtime.state import InMemoryChainState
from runtime.validity import TransactionSource

ALICE, BOB = dev_keypair("Alice"), dev_keypair("Bob")


@pytest.fixture(scope="module")
def dev_chain():
    spec = load_chain_spec("dev")
    return spec, spec.runtime(), InMemoryChainState(spec.genesis_storage)


def transfer_signed_as(dev_chain, address: MultiAddress) -> bytes:
    """Alice's signed `Balances.transfer_keep_alive(Bob, 1)`, with its signer written as `address`."""
    spec, runtime, _ = dev_chain
    call = calls.Balances.transfer_keep_alive(BOB.public, 10**12)
    xt = sign_extrinsic(
        ALICE,
        call,
        nonce=0,
        spec_version=runtime.version.spec_version,
        tx_version=runtime.version.transaction_version,
        genesis_hash=runtime.genesis_hash,
    )
    return UncheckedExtrinsic(call, dataclasses.replace(xt.signature, address=address)).encode()


def validate(dev_chain, raw: bytes) -> v.ValidTransaction:
    spec, runtime, chain = dev_chain
    return apis.validate_transaction(
        runtime, chain.backend, TransactionSource.EXTERNAL, raw, spec.genesis_hash
    )


def test_address32_signer_validates_as_the_id_account(dev_chain):
    by_id = validate(dev_chain, transfer_signed_as(dev_chain, MultiAddress.id(ALICE.public)))
    by_address32 = validate(
        dev_chain, transfer_signed_as(dev_chain, MultiAddress(AddressKind.ADDRESS32, ALICE.public))
    )
    assert by_address32.provides == by_id.provides == [ALICE.public + (0).to_bytes(4, "little")]


@pytest.mark.parametrize(
    "address",
    [
        MultiAddress(AddressKind.INDEX, 0),
        MultiAddress(AddressKind.RAW, ALICE.public),
        MultiAddress(AddressKind.ADDRESS20, ALICE.public[:20]),
    ],
    ids=lambda a: a.kind.variant,
)
def test_invalid_signer_that_cannot_be_looked_up(dev_chain, address):
    with pytest.raises(
        v.CannotLookup, match=f"MultiAddress::{address.kind.variant} signer cannot be looked up"
    ):
        validate(dev_chain, transfer_signed_as(dev_chain, address))
