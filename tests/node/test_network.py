"""Peers over real grpc.aio on loopback: handshake, gossip, sync framing, chain separation and bans."""

import asyncio
import socket

from chain.network.peers import MAX_BATCH_TRANSACTIONS, Misbehaviour, Network, Peer
from chain.network.transport import GrpcTransport, MemoryNetwork, MemoryTransport
from chain.primitives.crypto import Keypair
from proto import p2p_pb2

GENESIS = b"\x01" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    def __init__(self, reject_tx: bool = False):
        self.txs, self.consensus, self.reject_tx = [], [], reject_tx

    def best(self):
        return 0, GENESIS

    async def prepare_transactions(self, raws):
        pass

    async def on_transaction(self, raw, peer):
        if self.reject_tx:
            raise Misbehaviour("bad transaction")
        self.txs.append(raw)

    async def on_consensus(self, payload, peer):
        self.consensus.append(payload)

    async def on_block(self, block, justification, peer):
        pass

    async def on_sync_request(self, from_number, max_blocks):
        return [(b"block%d" % i, b"cert") for i in range(from_number, from_number + min(max_blocks, 3))]

    async def on_sync_response(self, blocks, peer_best, peer):
        self.synced = blocks

    async def on_evidence(self, payload, peer):
        pass

    async def on_peer_status(self, best_number, best_hash, peer):
        pass


async def wait_for(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def make(transport, handler, port, bootnodes=(), genesis=GENESIS):
    return Network(
        transport, Keypair.generate(), genesis, handler, f"127.0.0.1:{port}", bootnodes, ban_seconds=30
    )


def test_grpc_handshake_gossip_and_sync():
    async def scenario():
        pa, pb = free_port(), free_port()
        ha, hb = Recorder(), Recorder()
        a = make(GrpcTransport(), ha, pa)
        b = make(GrpcTransport(), hb, pb, bootnodes=[f"127.0.0.1:{pa}"])
        await a.start()
        await b.start()
        try:
            await wait_for(lambda: a.peers and b.peers)
            assert len(a.peers) == 1 and len(b.peers) == 1
            await b.gossip_transaction(b"tx-1")
            await b.gossip_transaction(b"tx-1")  # the seen-cache keeps it from being sent twice
            await a.gossip_consensus(b"vote")
            await wait_for(lambda: ha.txs and hb.consensus)
            await b.request_sync(next(iter(b.peers.values())), 5, 10)
            await wait_for(lambda: getattr(hb, "synced", None))
            assert hb.synced == [(b"block5", b"cert"), (b"block6", b"cert"), (b"block7", b"cert")]
            assert ha.txs == [b"tx-1"]
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(scenario())


def test_invalid_peer_on_another_chain_is_refused():
    async def scenario():
        net = MemoryNetwork()
        a = make(MemoryTransport(net), Recorder(), 1)
        b = make(MemoryTransport(net), Recorder(), 2, bootnodes=["127.0.0.1:1"], genesis=b"\x02" * 32)
        await a.start()
        await b.start()
        await asyncio.sleep(1.5)
        assert not a.peers and not b.peers
        await a.stop()
        await b.stop()

    asyncio.run(scenario())


def test_invalid_messages_get_the_peer_banned():
    async def scenario():
        net = MemoryNetwork()
        ha = Recorder(reject_tx=True)
        a = make(MemoryTransport(net), ha, 1)
        b = make(MemoryTransport(net), Recorder(), 2, bootnodes=["127.0.0.1:1"])
        await a.start()
        await b.start()
        await wait_for(lambda: a.peers)
        await b.gossip_transaction(b"junk")
        await wait_for(lambda: b.node_key.public in a.banned)
        await wait_for(lambda: not a.peers)
        await asyncio.sleep(1.5)  # b keeps dialling, but a refuses it while banned
        assert not a.peers
        await a.stop()
        await b.stop()

    asyncio.run(scenario())


class Impostor:
    """A node key that claims another node's public key but can only sign with its own secret."""

    def __init__(self, victim: Keypair):
        self.public, self._own = victim.public, Keypair.generate()

    def sign(self, message: bytes) -> bytes:
        return self._own.sign(message)


def test_invalid_peer_that_cannot_sign_for_its_claimed_key_is_refused():
    async def scenario():
        net = MemoryNetwork()
        honest = make(MemoryTransport(net), Recorder(), 1)
        victim = Keypair.generate()
        impostor = Network(
            MemoryTransport(net),
            Impostor(victim),
            GENESIS,
            Recorder(),
            "127.0.0.1:2",
            ["127.0.0.1:1"],
            ban_seconds=30,
        )
        witness = make(MemoryTransport(net), Recorder(), 3, bootnodes=["127.0.0.1:1"])
        for n in (honest, impostor, witness):
            await n.start()
        await wait_for(lambda: witness.peers and honest.peers)  # the control: an honest peer gets in
        await asyncio.sleep(1.5)
        assert victim.public not in honest.peers and not impostor.peers
        assert list(honest.peers) == [witness.node_key.public]
        for n in (honest, impostor, witness):
            await n.stop()

    asyncio.run(scenario())


class CountingConnection:
    """Wraps a connection and counts the messages written to it, by kind."""

    def __init__(self, conn):
        self.conn, self.sent = conn, []

    def __getattr__(self, name):
        return getattr(self.conn, name)

    async def send(self, msg):
        self.sent.append((msg.WhichOneof("kind"), msg))
        await self.conn.send(msg)


def memory_pair(scenario):
    """Run `scenario(a, a's recorder, b, b's peer entry for a)` on two connected in-memory networks."""

    async def main():
        net = MemoryNetwork()
        ha = Recorder()
        a = make(MemoryTransport(net), ha, 1)
        b = make(MemoryTransport(net), Recorder(), 2, bootnodes=["127.0.0.1:1"])
        await a.start()
        await b.start()
        try:
            await wait_for(lambda: a.peers and b.peers)
            await scenario(a, ha, b, next(iter(b.peers.values())))
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(main())


def test_a_transaction_burst_travels_as_batches_and_arrives_once_each_in_order():
    """600 transactions gossiped at once reach the peer in TransactionBatch messages of at most
    MAX_BATCH_TRANSACTIONS (far fewer messages than transactions), each exactly once and in order."""

    async def scenario(a, ha, b, peer):
        peer.conn = counting = CountingConnection(peer.conn)
        sent = [b"tx-%d" % i for i in range(600)]
        for raw in sent:
            await b.gossip_transaction(raw)
        await wait_for(lambda: len(ha.txs) == len(sent))
        assert ha.txs == sent
        kinds = [kind for kind, _ in counting.sent if kind in ("transaction", "transactions")]
        sizes = [len(m.transactions.extrinsics) for k, m in counting.sent if k == "transactions"]
        assert len(kinds) < 600 / 2 and max(sizes) <= MAX_BATCH_TRANSACTIONS

    memory_pair(scenario)


def test_invalid_batch_over_the_bound_gets_the_peer_banned():
    async def scenario(a, ha, b, peer):
        batch = p2p_pb2.TransactionBatch(extrinsics=[b"x%d" % i for i in range(MAX_BATCH_TRANSACTIONS + 1)])
        await peer.conn.send(p2p_pb2.PeerMessage(transactions=batch))
        await wait_for(lambda: b.node_key.public in a.banned)
        assert ha.txs == [], "a transaction from an over-long batch was handled"

    memory_pair(scenario)


def test_peer_queues_send_consensus_before_transactions():
    """Votes never wait behind gossip: urgent, then normal, then the transactions (as one batch)."""

    class Conn:
        remote, outbound = "x", True

        def __init__(self):
            self.sent = []

        async def send(self, msg):
            self.sent.append(msg.WhichOneof("kind"))

        async def close(self):
            pass

    async def scenario():
        conn = Conn()
        peer = Peer(conn, b"k" * 32, "", "p")
        for _ in range(3):
            await peer.send(p2p_pb2.PeerMessage(transaction=b"t"))
        await peer.send(p2p_pb2.PeerMessage(block=p2p_pb2.CertifiedBlock(block=b"b")))
        await peer.send(p2p_pb2.PeerMessage(consensus=b"vote"))
        writer = asyncio.get_running_loop().create_task(peer.write_loop())
        await asyncio.sleep(0.05)
        peer.closed = True
        peer.wake.set()
        await writer
        return conn.sent

    assert asyncio.run(scenario()) == ["consensus", "block", "transactions"]
