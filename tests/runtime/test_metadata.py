"""Metadata V14 decodes with scalecodec, and scalecodec-built extrinsics execute on our runtime."""

from __future__ import annotations

import pytest
from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset
from substrateinterface import Keypair as SiKeypair
from substrateinterface import KeypairType

from chain.primitives.extrinsic import Era
from runtime.metadata import metadata_bytes
from runtime.pallets import balances
from runtime.version import VERSION
from tests.runtime.conftest import ALICE, BOB, CHARLIE, make_ext

UNIT = 10**12


@pytest.fixture(scope="module")
def decoded():
    t = make_ext()
    meta = metadata_bytes(t.runtime.configs)
    rc = RuntimeConfigurationObject()
    rc.update_type_registry(load_type_registry_preset("core"))
    rc.update_type_registry(load_type_registry_preset("legacy"))
    metadata = rc.create_scale_object("MetadataVersioned", data=ScaleBytes(meta))
    metadata.decode()
    rc.add_portable_registry(metadata)
    return t, rc, metadata, meta


def test_metadata_is_prefixed_v14(decoded):
    _, _, metadata, meta = decoded
    assert meta[:4] == b"meta" and meta[4] == 14
    pallets = {p["name"]: p["index"] for p in metadata.value[1]["V14"]["pallets"]}
    assert pallets == {
        "System": 0,
        "Timestamp": 1,
        "Balances": 2,
        "TransactionPayment": 3,
        "Staking": 4,
        "Sudo": 5,
        "ComputeMarket": 6,
        "Session": 9,
        "Utility": 26,
    }


def test_type_paths_clients_rely_on_are_present(decoded):
    _, _, metadata, _ = decoded
    paths = {"::".join(t["type"]["path"]) for t in metadata.value[1]["V14"]["types"]["types"]}
    for path in (
        "sp_core::crypto::AccountId32",
        "sp_runtime::multiaddress::MultiAddress",
        "sp_runtime::generic::era::Era",
        "sp_runtime::generic::unchecked_extrinsic::UncheckedExtrinsic",
        "gradchain_runtime::RuntimeCall",
        "gradchain_runtime::RuntimeEvent",
        "frame_system::EventRecord",
        "frame_system::AccountInfo",
        "pallet_balances::types::AccountData",
        "sp_weights::weight_v2::Weight",
        "frame_support::dispatch::DispatchInfo",
        "sp_runtime::DispatchError",
        "sp_runtime::ModuleError",
        "frame_system::Phase",
    ):
        assert path in paths, path


def test_signed_extensions_in_substrate_order(decoded):
    _, _, metadata, _ = decoded
    names = [e["identifier"] for e in metadata.value[1]["V14"]["extrinsic"]["signed_extensions"]]
    assert names == [
        "CheckNonZeroSender",
        "CheckSpecVersion",
        "CheckTxVersion",
        "CheckGenesis",
        "CheckMortality",
        "CheckNonce",
        "CheckWeight",
        "ChargeTransactionPayment",
    ]


def _scalecodec_transfer(t, rc, metadata, era="00", nonce=0, tip=0, birth_hash=None):
    call = rc.create_scale_object("Call", metadata=metadata)
    call.encode(
        {
            "call_module": "Balances",
            "call_function": "transfer_keep_alive",
            "call_args": {"dest": "0x" + BOB.public.hex(), "value": 5 * UNIT},
        }
    )
    kp = SiKeypair.create_from_seed("0x" + ALICE.seed.hex(), crypto_type=KeypairType.ED25519)
    payload = rc.create_scale_object("ExtrinsicPayloadValue")
    payload.type_mapping = [["call", "CallBytes"]]
    exts = metadata.get_signed_extensions()
    payload.type_mapping += [
        ["era", exts["CheckMortality"]["extrinsic"]],
        ["nonce", exts["CheckNonce"]["extrinsic"]],
        ["tip", exts["ChargeTransactionPayment"]["extrinsic"]],
        ["spec_version", exts["CheckSpecVersion"]["additional_signed"]],
        ["transaction_version", exts["CheckTxVersion"]["additional_signed"]],
        ["genesis_hash", exts["CheckGenesis"]["additional_signed"]],
        ["block_hash", exts["CheckMortality"]["additional_signed"]],
    ]
    genesis = "0x" + t.runtime.genesis_hash.hex()
    data = payload.encode(
        {
            "call": str(call.data),
            "era": era,
            "nonce": nonce,
            "tip": tip,
            "spec_version": VERSION.spec_version,
            "transaction_version": VERSION.transaction_version,
            "genesis_hash": genesis,
            "block_hash": "0x" + (birth_hash or t.runtime.genesis_hash).hex(),
        }
    )
    if data.length > 256:
        raise AssertionError("transfer payloads are short")
    signature = kp.sign(data)
    xt = rc.create_scale_object("Extrinsic", metadata=metadata)
    xt.encode(
        {
            "account_id": "0x" + kp.public_key.hex(),
            "signature": "0x" + signature.hex(),
            "signature_version": 0,
            "call_function": "transfer_keep_alive",
            "call_module": "Balances",
            "call_args": call.value["call_args"],
            "nonce": nonce,
            "era": era,
            "tip": tip,
        }
    )
    return xt.data.data


def test_scalecodec_built_transfer_applies(decoded):
    t, rc, metadata, _ = decoded
    t = make_ext()
    raw = bytes(_scalecodec_transfer(t, rc, metadata, tip=7))
    with t.ext():
        alice, bob, author = (balances.free_balance(k.public) for k in (ALICE, BOB, CHARLIE))
    built = t.produce_block([raw], author=CHARLIE.public)
    assert built.rejected == []
    fee = [e for _, e in built.finalized.events if e.name == "TransactionFeePaid"][0].args[1]
    with t.ext():
        assert balances.free_balance(BOB.public) == bob + 5 * UNIT
        assert balances.free_balance(ALICE.public) == alice - 5 * UNIT - fee
        assert balances.free_balance(CHARLIE.public) == author + fee


def test_scalecodec_built_mortal_transfer_applies(decoded):
    _, rc, metadata, _ = decoded
    t = make_ext()
    for _ in range(3):
        t.produce_block()
    era = Era.mortal(64, t.number)
    with t.ext():
        from runtime.pallets.system import BlockHash

        t.produce_block()  # birth block hash is recorded when its child starts
    birth = era.birth(t.number + 1)
    with t.ext():
        birth_hash = BlockHash.get(birth)
    raw = bytes(
        _scalecodec_transfer(
            t, rc, metadata, era={"period": 64, "current": t.number - 1}, birth_hash=birth_hash
        )
    )
    built = t.produce_block([raw])
    assert built.rejected == []


def test_events_decode_with_scalecodec(decoded):
    _, rc, metadata, _ = decoded
    t = make_ext()
    raw = bytes(_scalecodec_transfer(t, rc, metadata))
    t.produce_block([raw], author=CHARLIE.public)
    from runtime.pallets.system import EVENTS_KEY

    stored = t.chain.backend.get(EVENTS_KEY)
    system = [p for p in metadata.value[1]["V14"]["pallets"] if p["name"] == "System"][0]
    entry = [e for e in system["storage"]["entries"] if e["name"] == "Events"][0]
    type_id = entry["type"]["Plain"]
    events = rc.create_scale_object(f"scale_info::{type_id}", data=ScaleBytes(stored), metadata=metadata)
    events.decode()
    names = [(e["module_id"], e["event_id"]) for e in events.value]
    assert names == [
        ("System", "ExtrinsicSuccess"),
        ("Balances", "Withdraw"),
        ("Balances", "Transfer"),
        ("Balances", "Deposit"),
        ("TransactionPayment", "TransactionFeePaid"),
        ("System", "ExtrinsicSuccess"),
    ]
    transfer = events.value[2]["attributes"]
    assert transfer["amount"] == 5 * UNIT


def test_job_record_with_its_evaluation_decodes_with_scalecodec(decoded):
    """JSON-RPC clients read a job's committed evaluation from ComputeMarket.Jobs through the metadata."""
    _, rc, metadata, _ = decoded
    from compute_market.pallet.types import JOB, Evaluation, Job, JobStatus

    job = Job(3, bytes(32), bytes(32), 40, 10, 5, 1, 2, JobStatus.COMMITTED, 1, 9)
    job.evaluation = Evaluation(0x3FE0000000000000, 61, 64)
    market = [p for p in metadata.value[1]["V14"]["pallets"] if p["name"] == "ComputeMarket"][0]
    entry = [e for e in market["storage"]["entries"] if e["name"] == "Jobs"][0]
    type_id = entry["type"]["Map"]["value"]
    value = rc.create_scale_object(
        f"scale_info::{type_id}", data=ScaleBytes(JOB.encode(job)), metadata=metadata
    )
    value.decode()
    assert value.value["evaluation"] == {"loss_bits": 0x3FE0000000000000, "correct": 61, "count": 64}
