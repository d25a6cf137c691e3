"""The node's components on their own: the subscription hub, the evidence pool and the market's blob pins.

Block import is exercised through a real node (test_halt, the integration and fault suites) and the
consensus service and metrics in test_consensus_service; these three have small contracts of their own, tested here with real parts (a dev chain's
database, a blob store on disk, the market pallet's state)."""

from __future__ import annotations

import os
import time

import pytest

from chain.blobs import BlobStore
from chain.node.evidence_pool import MAX_PENDING_EVIDENCE, EvidencePool
from chain.node.subscriptions import SubscriptionHub
from chain.primitives.hashing import blake2_256
from chain.primitives.types import Block, Header
from chain.txpool import TxStatus
from compute_market.blob_pins import MarketBlobPins
from compute_market.jobspec import JobSpec
from consensus.validators import ValidatorSet
from runtime.chain_spec import load_chain_spec
from runtime.executive import FinalizedBlock
from runtime.pallets import staking
from tests.market.harness import Market


class _Executed:
    def __init__(self, extrinsics: tuple[bytes, ...]):
        self.block = Block(Header(bytes(32), 1, bytes(32), bytes(32)), extrinsics)
        self.finalized = FinalizedBlock(self.block.header, {}, [("phase", "event")])


def test_hub_delivers_a_block_to_its_watchers_then_heads_then_events_and_forgets_the_unsubscribed():
    hub, seen = SubscriptionHub(), []
    unwatch = hub.watch(blake2_256(b"tx"), lambda status, info: seen.append(("tx", status)))
    unsub = hub.subscribe("new_head", lambda header: seen.append(("head", header.number)))
    hub.subscribe("events", lambda header, events: seen.append(("events", events)))
    hub.on_pool_status(blake2_256(b"tx"), TxStatus.READY, None)
    hub.on_pool_status(blake2_256(b"tx"), TxStatus.FINALIZED, None)  # the block reports it, with its index
    hub.on_block(_Executed((b"other", b"tx")))
    assert seen == [
        ("tx", TxStatus.READY),
        ("tx", TxStatus.FINALIZED),
        ("head", 1),
        ("events", [("phase", "event")]),
    ]
    unwatch()
    unsub()
    assert hub.watchers == {} and hub.listeners["new_head"] == set()


def test_evidence_pool_keeps_nothing_the_runtime_refuses_and_gossips_nothing(chain):
    gossiped = []
    pool = EvidencePool(
        chain,
        load_chain_spec("dev").genesis_hash,
        lambda h: ValidatorSet.of([]),
        lambda evidence, peer: gossiped.append(evidence),
    )
    for hooked in (False, True):  # with no verifier the runtime refuses all evidence; with one, it checks it
        if hooked:
            chain.runtime.register_hook(staking.EQUIVOCATION_HOOK, pool.verify)
        for garbage in (b"", b"\x00" * 40, os.urandom(300)):
            pool.add(garbage, peer="a peer")
    assert len(pool) == 0 and pool.pending() == [] and gossiped == []
    with pytest.raises(ValueError, match="does not decode"):
        pool.verify(b"\x01\x02")
    assert MAX_PENDING_EVIDENCE > 0


def _dataset_hash(market: Market, job_id: int) -> bytes:
    from compute_market.pallet import query

    with market.ext():
        return JobSpec.decode(query.job_spec(job_id)).dataset_hash


def test_blob_pins_keep_what_a_live_job_references_and_collect_the_rest(tmp_path):
    market = Market()
    job, _commitment = market.committed_job()
    blobs = BlobStore(tmp_path / "blobs")
    stray = blobs.put(b"an upload no job references")
    old = time.time() - 10
    os.utime(blobs._path(stray), (old, old))
    pins = MarketBlobPins(blobs, retention_seconds=5.0)
    pins._last_gc = 0.0  # as if GC_EVERY_SECONDS had passed since a restart
    pins.on_block(market.state, [])  # no market event, but the first collection pins live jobs' blobs first
    for blob in (*job.checkpoints, _dataset_hash(market, job.id)):
        assert blobs.is_pinned(blob)
    assert not blobs.has(stray)
    events = list(market.executive.env.events)  # the open block's: the commitment's ComputeMarket events
    assert any(ev.pallet == "ComputeMarket" for _phase, ev in events)
    blobs.set_pins(set())
    pins.on_block(market.state, events)  # a market event re-pins from the state
    assert blobs.is_pinned(job.checkpoints[0])
