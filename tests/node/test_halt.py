"""A decided block that does not import halts the node (CometBFT panics here): it signs nothing more and
`run_node` ends with `NodeHalted` naming the block, instead of a validator that silently stalls."""

from __future__ import annotations

import asyncio

import pytest

from chain.node.config import NodeConfig
from chain.node.runner import NodeHalted, run_node
from chain.node.service import Node
from chain.primitives.types import Block, Header
from consensus.actions import Broadcast, Commit
from consensus.certificate import CommitCertificate
from runtime.chain_spec import load_chain_spec


def _commit(block: bytes, height: int = 1) -> Commit:
    return Commit(height, 0, b"\x11" * 32, block, CommitCertificate(height, 0, b"\x11" * 32, ()))


def _bad_blocks(node: Node) -> dict[str, bytes]:
    genesis = node.chain.header_at(0).hash
    wrong_root = Block(Header(genesis, 1, b"\x22" * 32, b"\x33" * 32), ())
    return {"wrong state root": wrong_root.encode(), "undecodable": b"\x00\x01garbage"}


def _node(tmp_path) -> Node:
    return Node(
        NodeConfig(base_path=tmp_path, p2p_port=0, grpc_port=0, rpc_port=None, prometheus_port=None),
        load_chain_spec("dev"),
    )


@pytest.mark.parametrize("kind", ["wrong state root", "undecodable"])
def test_invalid_decided_block_halts_the_node_and_it_acts_no_more(tmp_path, kind):
    node = _node(tmp_path)
    try:
        block = _bad_blocks(node)[kind]
        sent = []
        node.spawn = sent.append  # anything the node would still do after the commit
        node.consensus.perform([_commit(block), Broadcast(None)])
        assert node.halted.is_set() and node.driver is None
        assert "#1" in node.halt_reason and "does not import" in node.halt_reason
        assert sent == [] and node.chain.number == 0
    finally:
        node.store.close()


def test_run_node_ends_with_node_halted(tmp_path, monkeypatch):
    config = NodeConfig(base_path=tmp_path, p2p_port=0, grpc_port=0, rpc_port=None, prometheus_port=None)
    original = Node.start

    async def start_then_halt(self):
        await original(self)
        self.halt("the decided block #7 does not import on this node: test")

    monkeypatch.setattr(Node, "start", start_then_halt)
    with pytest.raises(NodeHalted, match="#7 does not import"):
        asyncio.run(
            asyncio.wait_for(run_node(config, load_chain_spec("dev"), None, asyncio.Event()), timeout=30)
        )
