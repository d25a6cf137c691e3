"""A validator one block behind a peer fetches that block once its own consensus has had CATCH_UP_GRACE to
decide it. Without this, a validator that missed a block's gossip (a partition healed just after the
others committed it) waited forever: its peers had moved to the next height and never voted on its height
again, and the next height needed its vote. The CI run of 2026-12-02 stalled a healed 2/2 partition so.

A real dev-chain node with a validator key; the peer is the part of a `Peer` that block import reads, and
the node's outgoing sync requests are recorded at the network's edge."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from chain.node import block_import
from chain.node.config import NodeConfig
from chain.node.service import Node
from chain.primitives.crypto import dev_keypair
from runtime.chain_spec import load_chain_spec

GRACE = 0.2


@dataclass
class StatusPeer:
    best_number: int
    closed: bool = False
    id: str = "0xpeer"


@pytest.fixture
def validator(tmp_path, monkeypatch):
    monkeypatch.setattr(block_import, "CATCH_UP_GRACE", GRACE)
    node = Node(
        NodeConfig(base_path=tmp_path, p2p_port=0, grpc_port=0, rpc_port=None, prometheus_port=None),
        load_chain_spec("dev"),
        validator_key=dev_keypair("Alice"),
    )
    requests: list[tuple[StatusPeer, int]] = []

    async def request_sync(peer, from_number, max_blocks=128):
        requests.append((peer, from_number))

    node.network.request_sync = request_sync
    yield node, requests
    node.store.close()


def _statuses(node: Node, peer: StatusPeer, count: int, requests: list) -> int:
    """Hand the node `count` statuses from `peer`; the number of sync requests made within half the grace."""

    async def main():
        for _ in range(count):
            await node.blocks.on_peer_status(peer.best_number, b"\x01" * 32, peer)
        await asyncio.sleep(GRACE / 2)
        early = len(requests)
        await asyncio.sleep(GRACE * 2)
        return early

    return asyncio.run(main())


def test_one_block_behind_fetches_it_after_the_grace_once(validator):
    node, requests = validator
    peer = StatusPeer(best_number=node.chain.number + 1)
    early = _statuses(node, peer, 5, requests)  # a burst of statuses schedules one check, not five
    assert early == 0, "fetched before its own consensus had the grace to decide the block"
    assert requests == [(peer, node.chain.number + 1)]


def test_one_block_behind_a_peer_that_left_fetches_nothing(validator):
    node, requests = validator
    peer = StatusPeer(best_number=node.chain.number + 1)

    async def main():
        await node.blocks.on_peer_status(peer.best_number, b"\x01" * 32, peer)
        peer.closed = True
        await asyncio.sleep(GRACE * 2)

    asyncio.run(main())
    assert requests == []


def test_two_blocks_behind_fetches_at_once(validator):
    node, requests = validator
    peer = StatusPeer(best_number=node.chain.number + 2)
    early = _statuses(node, peer, 1, requests)
    assert early == 1 and requests == [(peer, node.chain.number + 1)]
