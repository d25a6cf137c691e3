"""A peer that spams garbage over p2p at one real `gradchain node --dev` process.

A real `chain.network.peers.Network` over `GrpcTransport` completes the handshake with the node, then sends
an undecodable transaction (or consensus payload); the node bans its key, drops it, and closes every later
connection from that key right after the handshake, while a well-behaved peer stays.
"""

from __future__ import annotations

import asyncio

import pytest

from chain.client import NodeClient, transfer_call
from chain.network.peers import Network
from chain.network.transport import GrpcTransport
from chain.node.consensus_service import encode_consensus
from chain.node.service import MAX_STRIKES
from chain.primitives.crypto import Keypair, dev_keypair
from consensus.types import SignedVote, Vote, VoteType
from proto import p2p_pb2
from tests.faults.attacks import SilentPeer, handshake_then_first_message, until
from tests.faults.test_floods import broken_signature
from tests.integration.harness import Network as ProcessNetwork
from tests.integration.harness import NodeProcess, head_or_zero

pytestmark = [pytest.mark.integration, pytest.mark.slow]


# --- a peer that spams garbage ---------------------------------------------------------------------------


def node_peers(node: NodeProcess) -> int:
    with NodeClient(node.grpc_addr) as c:
        return c.info().peers


def badly_signed_transfers(node: NodeProcess, count: int) -> list[bytes]:
    """Well-formed transfers from Alice whose signatures are broken (distinct, so no cache dedupes them)."""
    with NodeClient(node.grpc_addr) as c:
        return [
            broken_signature(
                c.sign(dev_keypair("Alice"), transfer_call(dev_keypair("Bob").public, 1_000 + i))
            )
            for i in range(count)
        ]


def badly_signed_votes(count: int) -> list[bytes]:
    alice = dev_keypair("Alice").public
    return [
        encode_consensus(SignedVote(Vote(VoteType.PREVOTE, 1_000_000, i, None), alice, bytes(64)))
        for i in range(count)
    ]


async def keeps_peer_after(node: NodeProcess, genesis: bytes, messages: list[p2p_pb2.PeerMessage]) -> None:
    """Connect as a fresh key, send `messages`, and check the node still keeps the connection."""
    peer_network = Network(
        GrpcTransport(),
        Keypair.generate(),
        genesis,
        SilentPeer(genesis),
        "127.0.0.1:0",
        bootnodes=[node.p2p_addr],
        node_name="sloppy",
    )
    await peer_network.start()
    try:
        await until(lambda: peer_network.peers and node_peers(node) == 1, 20, "the peer to connect")
        peer = next(iter(peer_network.peers.values()))
        for msg in messages:
            await peer.send(msg)
        for _ in range(10):
            await asyncio.sleep(0.15)
            assert node_peers(node) == 1 and peer_network.peers, (
                "the node dropped a peer below the strike limit"
            )
    finally:
        await peer_network.stop()
    await until(lambda: node_peers(node) == 0, 20, "the peer to leave")


async def spam_and_check_ban(
    node: NodeProcess, genesis: bytes, garbage: list[p2p_pb2.PeerMessage]
) -> Keypair:
    """Connect as a fresh key, send `garbage`, and check the node drops the key and refuses it afterwards."""
    key = Keypair.generate()
    spammer = Network(
        GrpcTransport(),
        key,
        genesis,
        SilentPeer(genesis),
        "127.0.0.1:0",
        bootnodes=[node.p2p_addr],
        node_name="spammer",
    )
    await spammer.start()
    try:
        await until(lambda: spammer.peers and node_peers(node) == 1, 20, "the spammer to connect")
        peer = next(iter(spammer.peers.values()))
        for msg in garbage:
            await peer.send(msg)
        await until(lambda: not spammer.peers and node_peers(node) == 0, 20, "the node to drop the spammer")
        # The spammer's dial loop keeps redialling; the node never keeps it as a peer while the ban lasts.
        for _ in range(20):
            assert node_peers(node) == 0
            await asyncio.sleep(0.15)
    finally:
        await spammer.stop()
    completed, after = await handshake_then_first_message(node.p2p_addr, key, genesis)
    assert completed and after is None, f"a banned key got past the handshake: the node then sent {after!r}"
    return key


def test_peer_spamming_undecodable_or_badly_signed_messages_is_banned_and_refused_on_reconnect(tmp_path):
    net = ProcessNetwork(tmp_path, chain="dev")
    node = net.nodes[0]
    node.extra = [*node.extra, "--dev"]
    with net:
        net.wait_height([node], 1, timeout=60)
        with NodeClient(node.grpc_addr) as c:
            genesis = bytes(c.info().genesis_hash)

        async def scenario() -> tuple[Keypair, Keypair]:
            honest_key = Keypair.generate()
            completed, after = await handshake_then_first_message(node.p2p_addr, honest_key, genesis)
            assert completed and after == "status", after  # a fresh key is welcome (the control)
            tx_spammer = await spam_and_check_ban(
                node, genesis, [p2p_pb2.PeerMessage(transaction=b"\x01\xff" + bytes([i])) for i in range(3)]
            )
            consensus_spammer = await spam_and_check_ban(
                node, genesis, [p2p_pb2.PeerMessage(consensus=bytes([9, i, 1, 2])) for i in range(3)]
            )
            # distinct messages for each phase: the node's seen-cache would skip repeats
            n = MAX_STRIKES
            bad_transactions = [
                p2p_pb2.PeerMessage(transaction=tx) for tx in badly_signed_transfers(node, 2 * n)
            ]
            bad_votes = [p2p_pb2.PeerMessage(consensus=vote) for vote in badly_signed_votes(2 * n)]
            for garbage in (bad_transactions, bad_votes):
                await keeps_peer_after(
                    node, genesis, garbage[n : 2 * n - 1]
                )  # one short of the limit: a slip
                striker = await spam_and_check_ban(node, genesis, garbage[:n])
                strikers.append(striker)
            completed, after = await handshake_then_first_message(node.p2p_addr, honest_key, genesis)
            assert completed and after == "status", after  # bans are per key, not for everyone
            return tx_spammer, consensus_spammer

        strikers: list[Keypair] = []
        tx_spammer, consensus_spammer = asyncio.run(asyncio.wait_for(scenario(), 180))
        log = node.log_tail(1000)
        assert f"banning peer 0x{tx_spammer.public.hex()[:16]} for 60s: undecodable transaction" in log
        assert f"banning peer 0x{consensus_spammer.public.hex()[:16]} for 60s: undecodable consensus" in log
        assert (
            f"banning peer 0x{strikers[0].public.hex()[:16]} for 60s: {MAX_STRIKES} invalid messages, the last "
            "a transaction with a bad signature" in log
        )
        assert (
            f"banning peer 0x{strikers[1].public.hex()[:16]} for 60s: {MAX_STRIKES} invalid messages, the last "
            "a consensus message with a bad signature" in log
        )
        before = head_or_zero(node)
        net.wait_height([node], before + 3, timeout=30)
