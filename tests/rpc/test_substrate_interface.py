"""py-substrate-interface, unchanged, against a gradchain dev node: connect, read, sign, submit, watch."""

from __future__ import annotations

import pytest
from substrateinterface import Keypair, KeypairType, SubstrateInterface

from chain.primitives.crypto import dev_keypair

pytestmark = pytest.mark.integration

AMOUNT = 10**12
DEV_VALIDATOR = (
    "5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu"  # the dev chain's validator: ed25519 //Alice
)


def client_keypair(name: str) -> Keypair:
    return Keypair.create_from_seed(
        "0x" + dev_keypair(name).seed.hex(), ss58_format=42, crypto_type=KeypairType.ED25519
    )


@pytest.fixture
def substrate(dev_node):
    client = SubstrateInterface(url=dev_node.ws_url, ss58_format=42)
    yield client
    client.close()


def require_digest_type(substrate: SubstrateInterface) -> None:
    """Receipts decode the block, whose header digest needs `DigestItem` in the metadata's type registry."""
    substrate.init_runtime()
    assert (
        substrate.runtime_config.get_decoder_class("sp_runtime::generic::digest::DigestItem") is not None
    ), (
        "the runtime's metadata has no sp_runtime::generic::digest::DigestItem type (Substrate declares it "
        "through System.Digest), so py-substrate-interface cannot decode blocks"
    )


def test_connects_and_reads_alice(substrate):
    alice = client_keypair("Alice")
    assert alice.ss58_address == "5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu"
    assert substrate.chain == "Development"
    substrate.init_runtime()
    assert substrate.runtime_version == 100
    account = substrate.query("System", "Account", [alice.ss58_address])
    assert account.value["data"]["free"] > 0
    assert substrate.get_account_nonce(alice.ss58_address) == account.value["nonce"]


@pytest.mark.parametrize("era", [None, {"period": 64}], ids=["immortal", "mortal"])
def test_transfer_keep_alive_is_finalized(substrate, era):
    alice, bob = client_keypair("Alice"), client_keypair("Bob")
    bob_before = substrate.query("System", "Account", [bob.ss58_address]).value["data"]["free"]
    call = substrate.compose_call(
        "Balances", "transfer_keep_alive", {"dest": bob.ss58_address, "value": AMOUNT}
    )
    estimate = substrate.get_payment_info(call, alice)
    extrinsic = substrate.create_signed_extrinsic(call=call, keypair=alice, era=era)
    receipt = substrate.submit_extrinsic(extrinsic, wait_for_finalization=True)
    assert receipt.finalized and receipt.block_hash.startswith("0x")
    bob_after = substrate.query("System", "Account", [bob.ss58_address], block_hash=receipt.block_hash)
    assert bob_after.value["data"]["free"] == bob_before + AMOUNT
    require_digest_type(substrate)
    assert receipt.is_success, receipt.error_message
    events = [(e.value["module_id"], e.value["event_id"]) for e in receipt.triggered_events]
    assert ("Balances", "Transfer") in events and ("System", "ExtrinsicSuccess") in events
    if era is None:
        assert receipt.total_fee_amount == estimate["partialFee"] > 0
    else:  # the estimate was for an immortal era, one byte shorter than a mortal one
        assert estimate["partialFee"] < receipt.total_fee_amount < estimate["partialFee"] * 1.01


def _three_headers(substrate, **options) -> list[int]:
    seen: list[int] = []

    def handler(header, update_nr, subscription_id):
        seen.append(header["header"]["number"])
        if len(seen) == 3:
            return seen

    return substrate.subscribe_block_headers(handler, **options)


def test_subscribe_block_headers_sees_consecutive_blocks(substrate):
    numbers = _three_headers(substrate, ignore_decoding_errors=True)
    assert numbers == list(range(numbers[0], numbers[0] + 3))
    finalized = _three_headers(substrate, ignore_decoding_errors=True, finalized_only=True)
    assert finalized == list(range(finalized[0], finalized[0] + 3))
    require_digest_type(substrate)
    numbers = _three_headers(substrate)
    assert numbers == list(range(numbers[0], numbers[0] + 3))


def test_runtime_call_account_nonce(substrate):
    alice = client_keypair("Alice")
    nonce = substrate.runtime_call("AccountNonceApi", "account_nonce", [alice.ss58_address]).value
    assert nonce == substrate.query("System", "Account", [alice.ss58_address]).value["nonce"]


def test_invalid_signature_is_refused_with_the_reason(substrate):
    from substrateinterface.exceptions import SubstrateRequestException

    alice, bob = client_keypair("Alice"), client_keypair("Bob")
    call = substrate.compose_call(
        "Balances", "transfer_keep_alive", {"dest": bob.ss58_address, "value": AMOUNT}
    )
    extrinsic = substrate.create_signed_extrinsic(call=call, keypair=alice, signature="0x" + "11" * 64)
    with pytest.raises(SubstrateRequestException) as raised:
        substrate.submit_extrinsic(extrinsic)
    error = raised.value.args[0]
    assert (error["code"], error["message"], error["data"]) == (
        1010,
        "Invalid Transaction",
        "Transaction has a bad signature",
    )


def test_compute_market_register_solver(substrate):
    """A call of the market pallet, composed purely from the metadata, is accepted and executed."""
    substrate.init_runtime()
    assert substrate.get_metadata_module("ComputeMarket") is not None, (
        "the metadata lists no ComputeMarket pallet"
    )
    dave = client_keypair("Dave")
    stake = substrate.get_constant("ComputeMarket", "MinSolverStake").value
    call = substrate.compose_call("ComputeMarket", "register_solver", {"stake": stake})
    assert call.data.to_hex()[:6] == "0x0600"  # pallet 6, call 0
    receipt = substrate.submit_extrinsic(
        substrate.create_signed_extrinsic(call=call, keypair=dave), wait_for_finalization=True
    )
    reserved = substrate.query("System", "Account", [dave.ss58_address], block_hash=receipt.block_hash)
    assert reserved.value["data"]["reserved"] >= stake
    require_digest_type(substrate)
    assert receipt.is_success, receipt.error_message
    assert ("ComputeMarket", "SolverRegistered") in [
        (e.value["module_id"], e.value["event_id"]) for e in receipt.triggered_events
    ]


def test_default_sr25519_alice_transfer_is_finalized_in_a_block_with_its_author(substrate):
    """py-substrate-interface's default key, `create_from_uri('//Alice')` (Sr25519, 5Grwva…), as a new user
    writes it: funded at genesis, its transfer estimated, finalized and charged the estimate; and
    `get_block(include_author=True)` names the block's author from Session.Validators and the Aura slot."""
    alice = Keypair.create_from_uri("//Alice")
    assert alice.crypto_type == KeypairType.SR25519
    assert alice.ss58_address == "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
    bob = Keypair.create_from_uri("//Bob")
    before = substrate.query("System", "Account", [alice.ss58_address]).value
    assert before["data"]["free"] > 0
    bob_before = substrate.query("System", "Account", [bob.ss58_address]).value["data"]["free"]
    call = substrate.compose_call(
        "Balances", "transfer_keep_alive", {"dest": bob.ss58_address, "value": AMOUNT}
    )
    estimate = substrate.get_payment_info(call, alice)
    extrinsic = substrate.create_signed_extrinsic(call=call, keypair=alice)
    receipt = substrate.submit_extrinsic(extrinsic, wait_for_finalization=True)
    assert receipt.finalized and receipt.block_hash.startswith("0x")
    block = substrate.get_block(block_hash=receipt.block_hash, include_author=True)
    assert block["author"] == DEV_VALIDATOR
    assert "0x" + extrinsic.extrinsic_hash.hex() in [
        e.value["extrinsic_hash"]
        for e in block["extrinsics"]
        if e is not None and "extrinsic_hash" in e.value
    ]
    after = substrate.query("System", "Account", [alice.ss58_address], block_hash=receipt.block_hash).value
    bob_after = substrate.query("System", "Account", [bob.ss58_address], block_hash=receipt.block_hash).value
    assert after["nonce"] == before["nonce"] + 1
    assert bob_after["data"]["free"] == bob_before + AMOUNT
    assert before["data"]["free"] - after["data"]["free"] == AMOUNT + estimate["partialFee"]


@pytest.mark.parametrize(
    "keypair", [client_keypair("Eve"), Keypair.create_from_uri("//Eve")], ids=["ed25519", "sr25519"]
)
def test_invalid_signature_with_one_flipped_bit_is_a_bad_signature(substrate, keypair):
    from substrateinterface.exceptions import SubstrateRequestException

    call = substrate.compose_call(
        "Balances", "transfer_keep_alive", {"dest": client_keypair("Bob").ss58_address, "value": AMOUNT}
    )
    nonce = substrate.get_account_nonce(keypair.ss58_address)
    payload = substrate.generate_signature_payload(call=call, nonce=nonce)
    signature = bytearray(keypair.sign(payload))
    assert keypair.verify(payload, bytes(signature))
    signature[17] ^= 0x08
    extrinsic = substrate.create_signed_extrinsic(
        call=call, keypair=keypair, nonce=nonce, signature="0x" + signature.hex()
    )
    with pytest.raises(SubstrateRequestException) as raised:
        substrate.submit_extrinsic(extrinsic)
    error = raised.value.args[0]
    assert (error["code"], error["message"], error["data"]) == (
        1010,
        "Invalid Transaction",
        "Transaction has a bad signature",
    )
