"""Hostile peers and clients on loopback: each test plays one attack of issue 17, at small scale.

In-process tests pit a real `Network` over `GrpcTransport` against hostile ones (address poisoning, blob
amplification, eclipse); process tests run a real `gradchain node --dev` and attack its ports (descriptor
exhaustion under a lowered RLIMIT_NOFILE, a Status flood), asserting that it keeps finalizing during the
attack and after it, with its RSS bounded (the attacks themselves are in tests/faults/attacks.py, which
benchmarks/hostile_report.py runs at full scale).
"""

from __future__ import annotations

import asyncio

import pytest

from chain.network import peers as peers_module
from chain.network.address_book import MAX_LEARNED_ADDRESSES, parse_peer_address
from chain.network.peers import BLOB_CHUNK, MAX_BLOB_SERVES_PER_PEER, MAX_CONCURRENT_DIALS, Network
from chain.network.transport import GrpcTransport
from chain.primitives.crypto import Keypair
from proto import p2p_pb2
from tests.faults.attacks import (
    HALF_HTTP_REQUEST,
    HTTP2_CLIENT_PREFACE,
    Attack,
    SilentPeer,
    dev_node,
    grpc_answers,
    handshake_then_first_message,
    hold_connections,
    measure,
    raise_own_descriptor_limit,
    until,
    wait_for,
)

GENESIS = b"\x07" * 32


async def connected_pair(victim_kwargs: dict | None = None) -> tuple[Network, Network]:
    victim = Network(
        GrpcTransport(),
        Keypair.generate(),
        GENESIS,
        SilentPeer(GENESIS),
        "127.0.0.1:0",
        **(victim_kwargs or {}),
    )
    await victim.start()
    attacker = Network(
        GrpcTransport(),
        Keypair.generate(),
        GENESIS,
        SilentPeer(GENESIS),
        "127.0.0.1:0",
        bootnodes=[victim.listen_addr],
        node_name="attacker",
    )
    await attacker.start()
    await until(lambda: victim.peers and attacker.peers, 20, "the attacker to connect")
    return victim, attacker


# --- addresses -------------------------------------------------------------------------------------------


def test_peer_addresses_are_parsed_and_garbage_is_dropped():
    assert parse_peer_address("127.0.0.1:30333") == "127.0.0.1:30333"
    assert parse_peer_address("[::1]:30333") == "[::1]:30333"
    assert parse_peer_address("node-1.example.org:30333") == "node-1.example.org:30333"
    for garbage in (
        "",
        "nohost",
        "1.2.3.4:0",
        "1.2.3.4:99999",
        "a" * 300 + ":1",
        "\xff\xfe:1",
        "0.0.0.0:1",
        "bad host:1",
        "1.2.3.4:-1",
        "::1:30333:x",
    ):
        assert parse_peer_address(garbage) is None, garbage


@pytest.mark.slow
def test_learned_addresses_stay_bounded_and_are_dialled_with_backoff():
    """A handshaken peer announces 150 x 32 distinct (dead) addresses and as many unparseable ones: the
    table keeps at most MAX_LEARNED_ADDRESSES of them, garbage never, and dials stay few at a time."""

    async def scenario():
        victim, attacker = await connected_pair()
        try:
            peer = next(iter(attacker.peers.values()))
            for i in range(150):
                dead = [f"10.{i}.{j}.1:{1000 + j}" for j in range(16)]
                garbage = [f"\x00junk{i}-{j}" for j in range(16)]
                await peer.send(
                    p2p_pb2.PeerMessage(
                        status=p2p_pb2.Status(best_number=0, best_hash=GENESIS, peers=dead + garbage)
                    )
                )
                await asyncio.sleep(0.06)  # below the Status rate limit: this tests the table, not the ban
            await until(lambda: len(victim.addresses) >= MAX_LEARNED_ADDRESSES, 20, "the table to fill")
            peak_dials = 0
            for _ in range(30):
                peak_dials = max(peak_dials, len(victim._dialling))
                await asyncio.sleep(0.1)
            assert len(victim.addresses) <= MAX_LEARNED_ADDRESSES + 1
            assert not any("junk" in a for a in victim.addresses.due(float("inf"), set()))
            assert peak_dials <= MAX_CONCURRENT_DIALS
            assert victim.peers, "an address announcer within the rate limit is not banned"
        finally:
            await attacker.stop()
            await victim.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_status_flood_is_banned_by_key_and_by_host():
    async def scenario():
        victim, attacker = await connected_pair()
        try:
            peer = next(iter(attacker.peers.values()))
            for i in range(3_000):
                await peer.send(
                    p2p_pb2.PeerMessage(
                        status=p2p_pb2.Status(
                            best_number=0, best_hash=GENESIS, peers=[f"junk-{i}-{j}" for j in range(32)]
                        )
                    )
                )
            await until(lambda: "127.0.0.1" in victim.banned_hosts, 20, "the flooder's host to be banned")
            assert attacker.node_key.public in victim.banned
            await until(lambda: not victim.peers, 10, "the flooder to be dropped")
            completed, _after = await handshake_then_first_message(
                victim.listen_addr, Keypair.generate(), GENESIS
            )
            assert not completed, "a fresh key from the banned host got through the handshake"
        finally:
            await attacker.stop()
            await victim.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


class CountingPeer(SilentPeer):
    """Claims a best block number set by the test, and records the best numbers its peers announce."""

    def __init__(self, genesis: bytes):
        super().__init__(genesis)
        self.number, self.heard = 0, []

    def best(self) -> tuple[int, bytes]:
        return self.number, self.genesis

    async def on_peer_status(self, best_number, best_hash, peer) -> None:
        self.heard.append(best_number)


def test_a_node_importing_blocks_fast_never_floods_its_peers_with_status():
    """A syncing node finalizes hundreds of blocks a second and announces each: its peer hears a handful of
    Status messages, the last one naming the newest block, and never bans it as a flooder."""

    async def scenario():
        sender_handler, receiver_handler = CountingPeer(GENESIS), CountingPeer(GENESIS)
        receiver = Network(GrpcTransport(), Keypair.generate(), GENESIS, receiver_handler, "127.0.0.1:0")
        await receiver.start()
        sender = Network(
            GrpcTransport(),
            Keypair.generate(),
            GENESIS,
            sender_handler,
            "127.0.0.1:0",
            bootnodes=[receiver.listen_addr],
        )
        await sender.start()
        try:
            await until(lambda: receiver.peers and sender.peers, 20, "the pair to connect")
            tasks = []
            for number in range(1, 1001):
                sender_handler.number = number
                tasks.append(asyncio.ensure_future(sender.announce_status()))
                await asyncio.sleep(0.001)
            await asyncio.gather(*tasks)
            await until(lambda: receiver_handler.heard[-1:] == [1000], 10, "the newest block to be announced")
            return (
                len(receiver_handler.heard),
                sender.node_key.public in receiver.banned,
                bool(receiver.peers),
            )
        finally:
            await sender.stop()
            await receiver.stop()

    heard, banned, connected = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert heard < 100 and not banned and connected


# --- blobs -----------------------------------------------------------------------------------------------


class BigBlobs:
    """A blob store holding one 64 MiB blob of zeros (never materialised)."""

    def __init__(self):
        self.served_chunks = 0

    def has(self, blob_hash):
        return True

    def read_chunks(self, blob_hash, chunk):
        for _ in range(64):
            self.served_chunks += 1
            yield bytes(chunk)


def test_blob_requests_from_a_peer_that_never_reads_queue_boundedly():
    """40 requests for a 64 MiB blob from a peer that reads nothing: at most MAX_BLOB_SERVES_PER_PEER are
    served at once, and each only as fast as the peer reads, so the queue stays a few MiB."""

    async def scenario():
        victim, attacker = await connected_pair()
        store = victim.blob_store = BigBlobs()
        try:
            peer = next(iter(attacker.peers.values()))
            attacker_conn = peer.conn
            for i in range(40):
                await peer.send(p2p_pb2.PeerMessage(blob_request=bytes([i]) * 32))
            # the attacker stops reading: its receive loop is cancelled by blocking its stream's reader
            attacker_conn.recv = _never
            await asyncio.sleep(4)
            served = next(iter(victim.peers.values()))
            assert sum(served.queued_bytes) <= 2 * MAX_BLOB_SERVES_PER_PEER * peers_module.BLOB_BACKLOG_BYTES
            assert store.served_chunks <= 40 * MAX_BLOB_SERVES_PER_PEER + 2 * 64, store.served_chunks
            assert store.served_chunks * BLOB_CHUNK < 400 * 1024 * 1024
        finally:
            await attacker.stop()
            await victim.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


async def _never():
    await asyncio.Event().wait()


# --- eclipse -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_fake_peers_cannot_eclipse_a_real_peer_or_a_bootnode():
    """40 silent fake peers with fresh keys dial a node with 32 slots; a real peer that arrives later still
    gets in (a silent peer is evicted for it), and so does the node's own bootnode (a reserved slot)."""

    async def scenario():
        bootnode = Network(
            GrpcTransport(),
            Keypair.generate(),
            GENESIS,
            SilentPeer(GENESIS),
            "127.0.0.1:0",
            node_name="bootnode",
        )
        await bootnode.start()
        victim = Network(GrpcTransport(), Keypair.generate(), GENESIS, SilentPeer(GENESIS), "127.0.0.1:0")
        victim.eviction_grace = 2.0
        await victim.start()
        fakes = [
            Network(
                GrpcTransport(),
                Keypair.generate(),
                GENESIS,
                SilentPeer(GENESIS),
                "127.0.0.1:0",
                bootnodes=[victim.listen_addr],
                node_name=f"fake{i}",
            )
            for i in range(40)
        ]
        others: list[Network] = []
        try:
            await asyncio.gather(*(fake.start() for fake in fakes))
            await until(lambda: len(victim.peers) >= 16, 30, "the fakes to take the slots")
            await asyncio.sleep(victim.eviction_grace + 0.5)
            real = Network(
                GrpcTransport(),
                Keypair.generate(),
                GENESIS,
                SilentPeer(GENESIS),
                "127.0.0.1:0",
                bootnodes=[victim.listen_addr],
                node_name="real",
            )
            others.append(real)
            await real.start()
            await until(lambda: real.node_key.public in victim.peers, 20, "the real peer to get a slot")
            victim.addresses = type(victim.addresses)([bootnode.listen_addr])
            await until(lambda: bootnode.node_key.public in victim.peers, 20, "the bootnode to get a slot")
            assert victim.peers[bootnode.node_key.public].reserved
            assert len(victim.peers) <= victim.max_peers
        finally:
            await asyncio.gather(*(net.stop() for net in [*fakes, *others, victim, bootnode]))

    asyncio.run(asyncio.wait_for(scenario(), 120))


class ChainServer(SilentPeer):
    """A node at block #`height` that answers sync requests with its (opaque) blocks."""

    def __init__(self, genesis: bytes, height: int):
        super().__init__(genesis)
        self.height = height

    def best(self) -> tuple[int, bytes]:
        return self.height, b"\x01" * 32

    async def on_sync_request(self, from_number, max_blocks) -> list:
        return [
            (b"block%d" % n, b"") for n in range(from_number, min(from_number + max_blocks, self.height + 1))
        ]


class SlowSyncer(SilentPeer):
    """A full node that syncs a few blocks at a time from whichever peer is ahead, announcing each step, and
    remembers every connection it synced over."""

    def __init__(self, genesis: bytes, step: int = 4, pause: float = 0.3):
        super().__init__(genesis)
        self.net: Network | None = None
        self.number, self.step, self.pause = 0, step, pause
        self.sources: set[int] = set()

    def best(self) -> tuple[int, bytes]:
        return self.number, b"\x02" * 32

    async def on_peer_status(self, best_number, best_hash, peer) -> None:
        if best_number > self.number and not self.sources:
            await self.net.request_sync(peer, self.number + 1, self.step)

    async def on_sync_response(self, blocks, peer_best, peer) -> None:
        self.sources.add(id(peer))
        self.number += len(blocks)
        await self.net.announce_status()
        if blocks and self.number < peer_best:
            await asyncio.sleep(self.pause)
            await self.net.request_sync(peer, self.number + 1, self.step)


class ValidatorImpostor(Network):
    """Claims a validator's session key in its handshake, signing the claim with a key of its own."""

    claimed: bytes = b""

    def _hello_proof(self, challenge: bytes) -> p2p_pb2.HelloProof:
        proof = super()._hello_proof(challenge)
        proof.validator_key = self.claimed
        return proof


def test_a_proven_validator_takes_a_reserved_slot_that_fakes_and_impostors_cannot():
    """The victim's two open slots are full of fake peers still in probation. A validator of the set, proving
    its session key in the handshake, gets a reserved slot; a node proving a key outside the set gets none; a
    node claiming the validator's key with a signature of its own is banned."""
    validator_key = Keypair.generate()

    def network(name: str, bootnodes=(), cls=Network, **kwargs) -> Network:
        return cls(
            GrpcTransport(),
            Keypair.generate(),
            GENESIS,
            SilentPeer(GENESIS),
            "127.0.0.1:0",
            bootnodes=list(bootnodes),
            node_name=name,
            **kwargs,
        )

    async def scenario():
        victim = network("victim", max_peers=peers_module.RESERVED_SLOTS + 2)
        victim.is_validator = lambda key: key == validator_key.public
        victim.eviction_grace = 600.0  # the fakes keep their slots for the whole test
        await victim.start()
        started = [victim]
        try:
            fakes = [network(f"fake{i}", [victim.listen_addr]) for i in range(4)]
            started += fakes
            await asyncio.gather(*(fake.start() for fake in fakes))
            await until(lambda: len(victim.peers) == 2, 20, "the fakes to fill the open slots")
            stranger = network("stranger", [victim.listen_addr], validator_key=Keypair.generate())
            impostor = network(
                "impostor", [victim.listen_addr], ValidatorImpostor, validator_key=Keypair.generate()
            )
            impostor.claimed = validator_key.public
            validator = network("validator", [victim.listen_addr], validator_key=validator_key)
            for late in (stranger, impostor, validator):
                started.append(late)
                await late.start()
            await until(lambda: validator.node_key.public in victim.peers, 20, "the validator to get a slot")
            await until(lambda: impostor.node_key.public in victim.banned, 20, "the impostor to be banned")
            admitted = victim.peers[validator.node_key.public]
            assert admitted.reserved and admitted.validator_key == validator_key.public
            await asyncio.sleep(1.0)
            assert stranger.node_key.public not in victim.peers, "a key outside the set took a slot"
            assert len(victim.peers) == 3
        finally:
            await asyncio.gather(*(net.stop() for net in started))

    asyncio.run(scenario())


@pytest.mark.slow
def test_a_syncing_node_gets_a_slot_among_redialling_fakes_and_keeps_it_until_synced():
    """40 fake peers with fresh keys share the real node's host (loopback) and re-dial whenever they are
    evicted, rotating through a victim's six open slots. A full node that dials in later is admitted once a fake's probation is over, and is never evicted
    while it syncs (it announces blocks the victim sent it), though the sync lasts several probations; the
    fakes keep rotating through the other slots."""

    async def scenario():
        victim = Network(
            GrpcTransport(),
            Keypair.generate(),
            GENESIS,
            ChainServer(GENESIS, 120),
            "127.0.0.1:0",
            max_peers=peers_module.RESERVED_SLOTS + 6,
        )  # six slots, so fakes rotate fast
        victim.eviction_grace = 1.0
        slots = victim.max_peers - peers_module.RESERVED_SLOTS
        await victim.start()
        fakes = [
            Network(
                GrpcTransport(),
                Keypair.generate(),
                GENESIS,
                SilentPeer(GENESIS),
                "127.0.0.1:0",
                bootnodes=[victim.listen_addr],
                node_name=f"fake{i}",
            )
            for i in range(40)
        ]
        syncer = SlowSyncer(GENESIS)
        real = Network(
            GrpcTransport(),
            Keypair.generate(),
            GENESIS,
            syncer,
            "127.0.0.1:0",
            bootnodes=[victim.listen_addr],
            node_name="real",
        )
        syncer.net = real
        try:
            await asyncio.gather(*(fake.start() for fake in fakes))
            await until(lambda: len(victim.peers) >= slots, 30, "the fakes to fill the slots")
            await real.start()
            await until(lambda: syncer.number >= 120, 60, "the real node to sync all 120 blocks")
            assert len(syncer.sources) == 1, "the real node was evicted while it synced"
            assert real.node_key.public in victim.peers
            fake_keys = {fake.node_key.public for fake in fakes}
            assert sum(key in fake_keys for key in victim.peers) <= slots - 1
        finally:
            await asyncio.gather(*(net.stop() for net in [*fakes, real, victim]))

    asyncio.run(asyncio.wait_for(scenario(), 120))


# --- a real node under attack ------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow
def test_idle_connections_beyond_the_descriptor_limit_never_stop_consensus(tmp_path):
    """With RLIMIT_NOFILE at 512, 700 idle TCP connections to the p2p port and 300 to the gRPC port from
    eight hosts: the node keeps finalizing throughout, closes what it cannot serve (over the caps at once, the
    rest when HTTP/2's handshake times out), answers gRPC while the attacker still holds its sockets, logs
    boundedly, and goes on after they close."""
    raise_own_descriptor_limit()
    net, node = dev_node(tmp_path, nofile=512)
    with net:
        wait_for(lambda: node.finalized() >= 2, 60, "the first blocks", node)
        log_before = node.log_path.stat().st_size
        p2p = hold_connections(node.p2p, 700, hosts=8)
        grpc_port = hold_connections(node.grpc, 300, hosts=8)

        def both() -> Attack:
            first, second = p2p(), grpc_port()
            return Attack(
                lambda: first.refused() + second.refused(),
                lambda: (first.release(), second.release()),
                held=lambda: grpc_answers(node),
            )  # while the attacker still holds its sockets

        result = measure("idle connections", node, both, hold=10.0, rss_limit_mb=600)
        assert result.survived, (result, node.log_tail())
        assert result.refused > 900, "the node kept idle connections it could not serve"
        assert node.log_path.stat().st_size - log_before < 256 * 1024, "the log grew too fast under attack"
        assert "Traceback" not in node.log_tail(2000)


@pytest.mark.integration
@pytest.mark.slow
def test_handshaken_connections_from_one_host_over_its_cap_are_closed_and_consensus_goes_on(tmp_path):
    """One host opens 120 connections to each gRPC port (p2p and API) and finishes HTTP/2's handshake on each,
    so no handshake timeout closes them; with 16 allowed per address, the node closes the rest within seconds,
    keeps finalizing, and answers gRPC from another address while the host still holds its sockets."""
    net, node = dev_node(
        tmp_path, extra=("--p2p-max-connections-per-ip", "16", "--grpc-max-connections-per-ip", "16")
    )
    with net:
        wait_for(lambda: node.finalized() >= 2, 60, "the first blocks", node)
        p2p = hold_connections(node.p2p, 120, hosts=1, payload=HTTP2_CLIENT_PREFACE)
        api = hold_connections(node.grpc, 120, hosts=1, payload=HTTP2_CLIENT_PREFACE)

        def both() -> Attack:
            first, second = p2p(), api()
            return Attack(
                lambda: first.refused() + second.refused(),
                lambda: (first.release(), second.release()),
                lambda: {"p2p": first.detail(), "grpc": second.detail()},
                held=lambda: grpc_answers(node),
            )

        result = measure("one host's connections", node, both, hold=6.0, rss_limit_mb=600)
        assert result.survived, (result, node.log_tail())
        assert result.detail["p2p"]["still_open"] == 16, result.detail
        assert result.detail["grpc"]["still_open"] == 16, result.detail
        assert result.refused == 2 * (120 - 16)
        assert "connection(s) over 16 per address" in node.log_tail(5000)


@pytest.mark.integration
@pytest.mark.slow
def test_accepts_failing_for_lack_of_descriptors_are_logged_boundedly_and_consensus_goes_on(tmp_path):
    """JSON-RPC allowed far more connections than RLIMIT_NOFILE (512) holds: 900 connections from eight hosts,
    each stalled halfway through its request headers, make its accepts fail with EMFILE. The node says so in a
    few lines, not a traceback per attempt, keeps finalizing (its reserved descriptors serve the signer guard
    and WAL), and goes on after.

    Each connection sends its half request because a silent one may never reach the node: when the flood
    overflows the listen queue, the kernel answers with SYN cookies and drops the handshake's last ACK, so a
    client that sends nothing believes it is connected while the node never sees it (this failed in CI)."""
    raise_own_descriptor_limit()
    net, node = dev_node(
        tmp_path, nofile=512, extra=("--rpc-max-connections", "5000", "--rpc-max-connections-per-ip", "5000")
    )
    with net:
        wait_for(lambda: node.finalized() >= 2, 60, "the first blocks", node)
        log_before = node.log_path.stat().st_size
        result = measure(
            "EMFILE on accept",
            node,
            hold_connections(node.rpc, 900, hosts=8, payload=HALF_HTTP_REQUEST),
            hold=12.0,
            rss_limit_mb=600,
        )
        grown = node.log_path.stat().st_size - log_before
        log = node.log_tail(3000)
        assert "out of file descriptors" in log, ("the attack never exhausted the descriptor table", result)
        assert result.survived, (result, node.log_tail())
        assert grown < 64 * 1024, f"the log grew {grown} bytes in {result.attack_seconds:.0f}s"
        assert "Traceback" not in log
