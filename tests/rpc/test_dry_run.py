"""`system_dryRun` on a live dev node: Substrate's SCALE ApplyExtrinsicResult for an extrinsic applied on top of a
block, with nothing kept; an unsafe method, absent where unsafe methods are refused."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from chain.primitives.crypto import dev_keypair
from runtime import validity as v
from runtime.pallets.balances import BalancesError
from tests.rpc.conftest import http_rpc, result, signed_transfer, start_dev_node, stop_dev_node

pytestmark = pytest.mark.integration

FERDIE, BOB = dev_keypair("Ferdie"), dev_keypair("Bob")
UNIT = 10**12


def dry_run(node, raw: bytes, *at) -> str:
    return result(node, "system_dryRun", ["0x" + raw.hex(), *at])


def nonce(node, keypair) -> int:
    return result(node, "system_accountNextIndex", ["0x" + keypair.public.hex()])


def test_dry_run_of_a_transfer_succeeds_and_keeps_nothing(dev_node):
    before = nonce(dev_node, FERDIE)
    raw = signed_transfer(dev_node, FERDIE, BOB.public, UNIT)
    assert dry_run(dev_node, raw) == "0x0000"  # Ok(Ok(()))
    assert dry_run(dev_node, raw) == "0x0000"  # the nonce it used was not kept
    assert nonce(dev_node, FERDIE) == before


def test_dry_run_of_a_failing_call_is_its_dispatch_error(dev_node):
    raw = signed_transfer(dev_node, FERDIE, BOB.public, 10**30)
    # Ok(Err(DispatchError::Module { index: 2 (Balances), error: [2 (InsufficientBalance), 0, 0, 0] }))
    assert dry_run(dev_node, raw) == "0x0001" + "03" + "02" + "02000000"
    assert BalancesError.InsufficientBalance.index == 2


@pytest.mark.parametrize("fault, error", [("flipped bit", v.BadProof), ("future nonce", v.Future)])
def test_dry_run_of_an_invalid_transaction_is_its_validity_error(dev_node, fault, error):
    if fault == "flipped bit":
        raw = bytearray(signed_transfer(dev_node, FERDIE, BOB.public, UNIT))
        raw[40] ^= (
            0x01  # in the signature: after Compact(len) (2 bytes), 0x84, MultiAddress::Id(signer), the scheme
        )
        raw = bytes(raw)
    else:
        raw = signed_transfer(dev_node, FERDIE, BOB.public, UNIT, nonce=nonce(dev_node, FERDIE) + 5)
    assert dry_run(dev_node, raw) == "0x01" + error("").encode().hex()


def test_dry_run_at_an_earlier_block(dev_node):
    genesis = result(dev_node, "chain_getBlockHash", [0])
    raw = signed_transfer(dev_node, FERDIE, BOB.public, UNIT, nonce=0)
    assert dry_run(dev_node, raw, genesis) == "0x0000"


def test_invalid_dry_run_params(dev_node):
    assert http_rpc(dev_node, "system_dryRun", ["0xzz"])["error"]["code"] == -32602
    unknown = http_rpc(dev_node, "system_dryRun", ["0x00", "0x" + "11" * 32])["error"]
    assert "UnknownBlock" in unknown["message"]


def test_dry_run_is_listed_by_rpc_methods(dev_node):
    assert {"system_dryRun", "system_dryRunAt"} <= set(result(dev_node, "rpc_methods")["methods"])


@pytest.mark.slow
def test_dry_run_is_absent_where_unsafe_methods_are_refused():
    tmp = Path(tempfile.mkdtemp(prefix="gradchain-rpc-safe-"))
    node = start_dev_node(tmp, "--rpc-methods", "safe")
    try:
        assert http_rpc(node, "system_dryRun", ["0x00"])["error"]["code"] == -32601
        assert "system_dryRun" not in result(node, "rpc_methods")["methods"]
    finally:
        stop_dev_node(node)
        shutil.rmtree(tmp, ignore_errors=True)
