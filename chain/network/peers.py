"""Peers: the authenticated handshake, gossip with a seen-cache, range sync requests, and bans.

Handshake: both sides send `Hello` (genesis hash, node key, a fresh 32-byte challenge); each answers the
other's challenge with an Ed25519 signature over `"gradchain/p2p-hello" ++ genesis ++ challenge ++ own key`.
A peer on another chain, or one that cannot prove its key, is dropped. Two connections between the same pair
are collapsed deterministically: the one dialled by the node with the smaller key survives.
Every payload is handed to the node's `PeerHandler`, which parses it at the edge; a payload it rejects as
invalid gets the peer disconnected and banned for `ban_seconds`; one that floods (sends some kind of
message faster than any honest node does) is banned by its host as well, since a fresh key costs nothing.

A validator may also prove its session key in the handshake: the key's signature over
`"gradchain/p2p-validator" ++ genesis ++ challenge ++ node key` binds it to this connection's node key and
challenge, so it cannot be replayed by another node. A proof that does not verify gets the peer banned; one
by a key outside the validator set (`is_validator`) earns nothing.

Slots: `max_peers` in all, of which `RESERVED_SLOTS` only bootnodes (whose keys this node learned by
dialling them) and proven validators may take, and at most `MAX_PEERS_PER_HOST` per remote host otherwise. When a limit is hit, the
newcomer is admitted in place of the peer that has gone longest without doing anything useful, once that peer
has had `EVICTION_GRACE` seconds of probation: useful is sending something new (a consensus message, block,
evidence or transaction this node had not seen, or a synced block), or syncing from this node, which a peer
shows by announcing a best block higher than any it announced before and no higher than the blocks this node has sent it.
A fake peer cannot earn that without downloading the chain, so a crowd of them rotates through the slots and
a real node that dials in gets one as soon as a fake's probation is over, then keeps it while it syncs. A
peer this node dialled itself is never evicted for an inbound one. Outbound queues are bounded in bytes, and
a blob is served only as fast as the peer reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import base58

from chain.network.address_book import AddressBook, address_host, parse_peer_address
from chain.network.transport import Connection, Transport, TransportError
from chain.primitives.crypto import Keypair, verify
from chain.primitives.hashing import blake2_256
from proto import p2p_pb2

log = logging.getLogger("gradchain.network")

HELLO_DOMAIN = b"gradchain/p2p-hello"
# libp2p's PeerId of an Ed25519 key: the identity multihash (0x00, length 36) of the protobuf PublicKey
# {Type: Ed25519 (1), Data: 32 bytes}, in base58btc; it reads "12D3KooW..." as every Substrate node's does.
LIBP2P_ED25519_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
VALIDATOR_DOMAIN = b"gradchain/p2p-validator"
HANDSHAKE_TIMEOUT = 5.0
SEEN_CACHE_SIZE = 50_000
BLOB_CHUNK = 1024 * 1024


MAX_QUEUE_BYTES = (
    48 * 1024 * 1024
)  # urgent or normal bytes waiting for one peer; beyond it the peer is dropped
MAX_BULK_QUEUE_BYTES = (
    4 * 1024 * 1024
)  # transaction bytes waiting for one peer; beyond it new ones are dropped
BLOB_BACKLOG_BYTES = (
    4 * BLOB_CHUNK
)  # a blob's next chunk is queued only once the peer has read the earlier ones
BLOB_STALL_SECONDS = 20.0  # a peer that reads none of a blob for this long is not served the rest
MAX_BLOB_SERVES_PER_PEER = 2  # blobs served to one peer at once; more requests are answered `missing`
RESERVED_SLOTS = 8
MAX_PEERS_PER_HOST = 16
MAX_HANDSHAKES = 64  # inbound connections still in the handshake, in all and per host
MAX_HANDSHAKES_PER_HOST = 16
EVICTION_GRACE = 5.0  # a newcomer's probation: it cannot be evicted before this, whatever it sends
SILENT_PEER_SECONDS = 60.0  # a peer that sends nothing at all for this long is dropped
STATUS_HEARTBEAT = 15.0  # every peer hears our status at least this often, so honest peers are never silent
STATUS_RATE, STATUS_BURST = 20.0, 200.0  # Status messages per second a peer may send
STATUS_INTERVAL = 0.2  # this node announces its status at most this often (a syncing node imports far faster)
MAX_CONCURRENT_DIALS = 8
DIAL_INTERVAL = 1.0


def libp2p_peer_id(node_key: bytes) -> str:
    """The PeerId a Substrate client expects for the node key `node_key` (system_localPeerId, system_peers)."""
    return base58.b58encode(LIBP2P_ED25519_PREFIX + node_key).decode()


class Misbehaviour(Exception):
    """A peer sent something invalid; it is disconnected and banned."""


class Flooding(Misbehaviour):
    """A peer sends some kind of message faster than any honest node; banned by host as well as by key."""


class RateBudget:
    """A token bucket: `rate` events a second on average, `burst` at once."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class PeerHandler(Protocol):
    def best(self) -> tuple[int, bytes]: ...

    async def prepare_transactions(self, raws: list[bytes]) -> None:
        """Called with a received batch's transactions not seen before, ahead of `on_transaction` for each
        (the node verifies their signatures in parallel here); it may not judge them or the peer."""

    async def on_transaction(self, raw: bytes, peer: Peer) -> None: ...

    async def on_consensus(self, payload: bytes, peer: Peer) -> None: ...

    async def on_block(self, block: bytes, justification: bytes, peer: Peer) -> None: ...

    async def on_sync_request(self, from_number: int, max_blocks: int) -> list[tuple[bytes, bytes]]: ...

    async def on_sync_response(
        self, blocks: list[tuple[bytes, bytes]], peer_best: int, peer: Peer
    ) -> None: ...

    async def on_evidence(self, payload: bytes, peer: Peer) -> None: ...

    async def on_peer_status(self, best_number: int, best_hash: bytes, peer: Peer) -> None: ...


URGENT_KINDS = frozenset(
    {"consensus", "evidence", "status", "sync_request", "blob_request", "hello", "hello_proof"}
)
BULK_KINDS = frozenset({"transaction"})
MAX_BULK_QUEUE = 2048  # transactions waiting for one peer; beyond it new ones are dropped for that peer
# The writer sends the transactions waiting for a peer as one TransactionBatch of up to this many (and bytes),
# so a burst costs one HTTP/2 message per batch instead of one per transaction. A received batch over these
# bounds is misbehaviour.
MAX_BATCH_TRANSACTIONS = 256
MAX_BATCH_BYTES = 1024 * 1024
MAX_QUEUE = 4096  # other messages waiting for one peer; beyond it the peer is too slow and is dropped


@dataclass(eq=False)
class Peer:
    """A connected peer. Outbound messages wait in three queues so that votes never sit behind gossip:
    urgent (consensus, evidence, status, requests) before normal (blocks, sync and blob answers) before
    bulk (transactions, dropped first when the peer falls behind)."""

    conn: Connection
    node_key: bytes
    listen_addr: str
    name: str
    best_number: int = 0
    best_hash: bytes = b""
    dialled_by_us: bool = False
    queues: tuple[deque, deque, deque] = field(default_factory=lambda: (deque(), deque(), deque()))
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    strikes: int = 0  # well-formed but invalid messages (bad signatures); the node bans at a limit
    closed: bool = False
    reserved: bool = False  # a bootnode or validator: it may use the reserved slots and is never evicted
    validator_key: bytes | None = None  # the session key it proved in the handshake, if in the validator set
    connected_at: float = field(default_factory=time.monotonic)
    last_useful: float = 0.0  # when it last sent something new to this node or synced from it (0: never)
    served_up_to: int = -1  # the highest block number this node has sent it (sync answers, gossip)
    synced_to: int = -1  # the highest best block it has announced
    last_received: float = field(default_factory=time.monotonic)
    queued_bytes: list[int] = field(default_factory=lambda: [0, 0, 0])
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    blob_serves: int = 0
    status_budget: RateBudget = field(default_factory=lambda: RateBudget(STATUS_RATE, STATUS_BURST))

    @property
    def host(self) -> str | None:
        return address_host(self.conn.remote)

    @property
    def id(self) -> str:
        return "0x" + self.node_key.hex()[:16]

    async def send(self, msg: p2p_pb2.PeerMessage) -> None:
        """Queue `msg` for the writer; raises TransportError if the peer is gone or hopelessly behind."""
        if self.closed:
            raise TransportError(f"peer {self.id} is disconnected")
        kind = msg.WhichOneof("kind")
        size = msg.ByteSize()
        if kind in BULK_KINDS:
            index = 2
            if len(self.queues[2]) >= MAX_BULK_QUEUE or self.queued_bytes[2] + size > MAX_BULK_QUEUE_BYTES:
                self.dropped += 1
                return
        else:
            index = 0 if kind in URGENT_KINDS else 1
            queue = self.queues[index]
            if len(queue) >= MAX_QUEUE or self.queued_bytes[index] + size > MAX_QUEUE_BYTES:
                self.closed = True
                raise TransportError(
                    f"peer {self.id} is {len(queue)} messages ({self.queued_bytes[index]} bytes) "
                    "behind; dropping it"
                )
        self.queues[index].append((msg, size))
        self.queued_bytes[index] += size
        self.drained.clear()
        self.wake.set()

    async def wait_backlog_below(self, limit: int, timeout: float) -> None:
        """Wait until the normal queue holds under `limit` bytes; TransportError if the peer reads none of it
        for `timeout` seconds or goes away."""
        while self.queued_bytes[1] >= limit:
            if self.closed:
                raise TransportError(f"peer {self.id} is disconnected")
            self.drained.clear()
            try:
                await asyncio.wait_for(self.drained.wait(), timeout)
            except TimeoutError:
                raise TransportError(f"peer {self.id} read nothing for {timeout:.0f}s") from None

    async def write_loop(self) -> None:
        """Send queued messages in priority order until the connection fails."""
        while not self.closed:
            await self.wake.wait()
            self.wake.clear()
            while not self.closed:
                index = next((i for i, q in enumerate(self.queues) if q), None)
                if index is None:
                    break
                msg, size = self.queues[index].popleft()
                if index == 2:
                    msg, more = self._batch(msg, size)
                    size += more
                await self.conn.send(msg)
                self.queued_bytes[index] -= size
                self.drained.set()

    def _batch(self, first: p2p_pb2.PeerMessage, size: int) -> tuple[p2p_pb2.PeerMessage, int]:
        """`first` and the transactions queued behind it, as one TransactionBatch within the batch bounds;
        returns it and the queued bytes it took beyond `first`'s."""
        bulk = self.queues[2]
        extrinsics, total = [first.transaction], size
        while bulk and len(extrinsics) < MAX_BATCH_TRANSACTIONS and total + bulk[0][1] <= MAX_BATCH_BYTES:
            msg, more = bulk.popleft()
            extrinsics.append(msg.transaction)
            total += more
        if len(extrinsics) == 1:
            return first, 0
        batch = p2p_pb2.PeerMessage(transactions=p2p_pb2.TransactionBatch(extrinsics=extrinsics))
        return batch, total - size


class SeenCache:
    """A bounded LRU of message digests, so a gossiped message is handled and relayed once."""

    def __init__(self, size: int = SEEN_CACHE_SIZE):
        self._size = size
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def __contains__(self, digest: bytes) -> bool:
        return digest in self._seen

    def first_time(self, digest: bytes) -> bool:
        if digest in self._seen:
            self._seen.move_to_end(digest)
            return False
        self._seen[digest] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


class Network:
    def __init__(
        self,
        transport: Transport,
        node_key: Keypair,
        genesis_hash: bytes,
        handler: PeerHandler,
        listen: str,
        bootnodes: Iterable[str] = (),
        node_name: str = "gradchain",
        max_peers: int = 32,
        ban_seconds: float = 60.0,
        validator_key: Keypair | None = None,
        is_validator: Callable[[bytes], bool] = lambda session_key: False,
    ):
        self.transport, self.node_key, self.genesis_hash, self.handler = (
            transport,
            node_key,
            genesis_hash,
            handler,
        )
        self.listen, self.bootnodes, self.node_name = listen, list(bootnodes), node_name
        self.max_peers, self.ban_seconds = max_peers, ban_seconds
        self.validator_key, self.is_validator = validator_key, is_validator
        self.peers: dict[bytes, Peer] = {}
        self.banned: dict[bytes, float] = {}
        self.banned_hosts: dict[str, float] = {}  # flooders' hosts (never a bootnode's host)
        self.addresses = AddressBook(self.bootnodes)
        self.reserved_keys: set[bytes] = set()  # keys proven at a bootnode's address by dialling it
        self._exempt_hosts = {h for h in map(address_host, self.addresses.bootnodes) if h}
        self._handshaking: dict[str | None, int] = {}
        self.eviction_grace = EVICTION_GRACE
        self.seen = SeenCache()
        self.listen_addr = listen
        self._tasks: set[asyncio.Task] = set()
        self._dialling: set[str] = set()
        self._stopped = False
        self.blocked_keys: set[bytes] = set()  # fault tests drop all traffic with these peers
        self.blob_store = None  # set by the node: peers may fetch blobs from it
        self._blob_fetches: dict[tuple[bytes, bytes], asyncio.Queue] = {}
        self._status_sent_at, self._status_due = 0.0, False

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.listen_addr = await self.transport.listen(self.listen, self._on_inbound)
        self._spawn(self._dial_loop())

    async def stop(self) -> None:
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()
        for peer in list(self.peers.values()):
            with contextlib.suppress(Exception):
                await peer.conn.close()
        await self.transport.stop()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _dial_loop(self) -> None:
        last_heartbeat = time.monotonic()
        while not self._stopped:
            now = time.monotonic()
            connected = {p.listen_addr for p in self.peers.values()}
            exclude = connected | self._dialling | {self.listen_addr}
            bootnodes = set(self.addresses.bootnodes)
            for addr in self.addresses.due(now, exclude):
                if len(self._dialling) >= MAX_CONCURRENT_DIALS:
                    break
                if len(self.peers) >= self.max_peers - RESERVED_SLOTS and addr not in bootnodes:
                    continue
                if self._host_banned(address_host(addr)):
                    continue
                self._dialling.add(addr)
                self._spawn(self._dial(addr))
            for peer in list(self.peers.values()):
                if now - peer.last_received > SILENT_PEER_SECONDS:
                    log.info(
                        "dropping peer %s: nothing received for %.0fs", peer.id, now - peer.last_received
                    )
                    self._spawn(peer.conn.close())
            if now - last_heartbeat >= STATUS_HEARTBEAT:
                last_heartbeat = now
                await self.announce_status()
            await asyncio.sleep(DIAL_INTERVAL)

    async def _dial(self, addr: str) -> None:
        try:
            conn = await self.transport.dial(addr)
        except TransportError as e:
            log.debug("dial %s: %s", addr, e)
            self.addresses.dial_failed(addr)
            self._dialling.discard(addr)
            return
        try:
            admitted = await self._run_peer(conn, dialled=True, bootnode=addr in self.addresses.bootnodes)
            if admitted:
                self.addresses.connected(addr)
            else:
                self.addresses.dial_failed(addr)
        finally:
            self._dialling.discard(addr)

    def _host_banned(self, host: str | None) -> bool:
        return host is not None and self.banned_hosts.get(host, 0) > time.monotonic()

    async def _on_inbound(self, conn: Connection) -> None:
        host = address_host(conn.remote)
        if (
            self._host_banned(host)
            or sum(self._handshaking.values()) >= MAX_HANDSHAKES
            or self._handshaking.get(host, 0) >= MAX_HANDSHAKES_PER_HOST
        ):
            await conn.close()
            return
        await self._run_peer(conn, dialled=False)

    def _admit(self, peer: Peer) -> bool:
        """Room for `peer` (see the module docstring), evicting the least useful peer if it takes that."""
        if peer.reserved:
            if len(self.peers) < self.max_peers:
                return True
            return self._evict([p for p in self.peers.values() if not p.reserved], force=True)
        others = [p for p in self.peers.values() if not p.reserved]
        evictable = [p for p in others if peer.dialled_by_us or not p.dialled_by_us]
        same_host = [p for p in evictable if peer.host is not None and p.host == peer.host]
        if peer.host is not None and sum(p.host == peer.host for p in others) >= MAX_PEERS_PER_HOST:
            return self._evict(same_host)
        if len(self.peers) >= self.max_peers or len(others) >= self.max_peers - RESERVED_SLOTS:
            return self._evict(evictable)
        return True

    def _evict(self, candidates: list[Peer], force: bool = False) -> bool:
        """Close the candidate idle longest (useful longest ago, then connected longest ago) that is past its
        probation (any, with `force`); false if none is."""
        now = time.monotonic()
        grace = self.eviction_grace
        ripe = [
            p for p in candidates if force or (now - p.connected_at >= grace and now - p.last_useful >= grace)
        ]
        if not ripe:
            return False
        victim = min(ripe, key=lambda p: (p.last_useful, p.connected_at))
        log.info(
            "evicting peer %s (%s): nothing useful from it for %.0fs and its slot is wanted",
            victim.name,
            victim.id,
            now - max(victim.last_useful, victim.connected_at),
        )
        victim.closed = True
        victim.wake.set()
        self.peers.pop(victim.node_key, None)
        self._spawn(victim.conn.close())
        return True

    # --- handshake and peer loop -------------------------------------------------------------------------------

    async def _handshake(self, conn: Connection) -> Peer:
        best_number, best_hash = self.handler.best()
        challenge = os.urandom(32)
        await conn.send(
            p2p_pb2.PeerMessage(
                hello=p2p_pb2.Hello(
                    genesis_hash=self.genesis_hash,
                    node_key=self.node_key.public,
                    challenge=challenge,
                    best_number=best_number,
                    best_hash=best_hash,
                    listen_addr=self.listen_addr,
                    node_name=self.node_name,
                )
            )
        )
        msg = await conn.recv()
        if msg is None or msg.WhichOneof("kind") != "hello":
            raise Misbehaviour("the peer did not open with a hello")
        hello = msg.hello
        if hello.genesis_hash != self.genesis_hash:
            raise Misbehaviour(f"the peer is on another chain (genesis 0x{hello.genesis_hash.hex()[:16]}…)")
        if len(hello.node_key) != 32 or len(hello.challenge) != 32 or hello.node_key == self.node_key.public:
            raise Misbehaviour("the peer's hello has a malformed key or challenge, or is ourselves")
        await conn.send(p2p_pb2.PeerMessage(hello_proof=self._hello_proof(hello.challenge)))
        msg = await conn.recv()
        if msg is None or msg.WhichOneof("kind") != "hello_proof":
            raise Misbehaviour("the peer did not prove its node key")
        proof = msg.hello_proof
        if not verify(
            hello.node_key, HELLO_DOMAIN + self.genesis_hash + challenge + hello.node_key, proof.signature
        ):
            raise Misbehaviour("the peer's proof of its node key does not verify")
        peer = Peer(
            conn,
            bytes(hello.node_key),
            hello.listen_addr[:256],
            hello.node_name[:64],
            hello.best_number,
            bytes(hello.best_hash),
        )
        if proof.validator_key or proof.validator_signature:
            key = bytes(proof.validator_key)
            claim = VALIDATOR_DOMAIN + self.genesis_hash + challenge + peer.node_key
            if len(key) != 32 or not verify(key, claim, proof.validator_signature):
                self.banned[peer.node_key] = time.monotonic() + self.ban_seconds  # its node key is proven
                log.warning("banning peer %s for %.0fs: a forged validator claim", peer.id, self.ban_seconds)
                raise Misbehaviour("the peer's proof of a validator key does not verify")
            if self.is_validator(key):
                peer.validator_key = key
        return peer

    def _hello_proof(self, challenge: bytes) -> p2p_pb2.HelloProof:
        """The answer to a peer's challenge: proof of the node key, and of the validator key if there is one."""
        signed = self.genesis_hash + challenge + self.node_key.public
        proof = p2p_pb2.HelloProof(signature=self.node_key.sign(HELLO_DOMAIN + signed))
        if self.validator_key is not None:
            proof.validator_key = self.validator_key.public
            proof.validator_signature = self.validator_key.sign(VALIDATOR_DOMAIN + signed)
        return proof

    async def _run_peer(self, conn: Connection, dialled: bool, bootnode: bool = False) -> bool:
        """Handshake and serve one connection; false if the peer was refused (not admitted)."""
        host = None if dialled else address_host(conn.remote)
        self._handshaking[host] = self._handshaking.get(host, 0) + 1
        try:
            peer = await asyncio.wait_for(self._handshake(conn), HANDSHAKE_TIMEOUT)
        except (Misbehaviour, TransportError, TimeoutError) as e:
            log.debug("handshake with %s failed: %s", conn.remote, e)
            await conn.close()
            return False
        finally:
            self._handshaking[host] -= 1
            if not self._handshaking[host]:
                del self._handshaking[host]
        peer.dialled_by_us, peer.synced_to = dialled, peer.best_number
        if dialled and bootnode:
            self.reserved_keys.add(peer.node_key)
        peer.reserved = peer.node_key in self.reserved_keys or peer.validator_key is not None
        if self.banned.get(peer.node_key, 0) > time.monotonic() or peer.node_key in self.blocked_keys:
            await conn.close()
            return False
        existing = self.peers.get(peer.node_key)
        if existing is not None:
            keep_new = self._keep_new_connection(peer, existing)
            loser = existing if keep_new else peer
            await loser.conn.close()
            if not keep_new:
                return True
            self.peers.pop(peer.node_key, None)
        if not self._admit(peer):
            log.debug("no slot for peer %s from %s", peer.id, conn.remote)
            await conn.close()
            return False
        self.peers[peer.node_key] = peer
        if peer.listen_addr:
            self.addresses.learn(peer.listen_addr)
        log.info("peer connected: %s (%s) at %s", peer.name, peer.id, peer.listen_addr or conn.remote)
        writer = self._spawn(self._write(peer))
        try:
            await self.handler.on_peer_status(peer.best_number, peer.best_hash, peer)
            await self._send_status(peer)
            await self._peer_loop(peer)
        except Flooding as e:
            self.ban(peer, str(e), by_host=True)
        except Misbehaviour as e:
            self.ban(peer, str(e))
        except TransportError as e:
            log.debug("peer %s: %s", peer.id, e)
        finally:
            peer.closed = True
            peer.wake.set()
            writer.cancel()
            if self.peers.get(peer.node_key) is peer:
                del self.peers[peer.node_key]
                log.info("peer disconnected: %s (%s)", peer.name, peer.id)
            await conn.close()
        return True

    def _keep_new_connection(self, new: Peer, existing: Peer) -> bool:
        def dialler(p: Peer) -> bytes:
            return self.node_key.public if p.dialled_by_us else p.node_key

        smaller = min(self.node_key.public, new.node_key)
        return dialler(new) == smaller and dialler(existing) != smaller

    async def _send_status(self, peer: Peer) -> None:
        best_number, best_hash = self.handler.best()
        addrs = sorted(
            p.listen_addr for p in self.peers.values() if p is not peer and parse_peer_address(p.listen_addr)
        )[:32]
        await peer.send(
            p2p_pb2.PeerMessage(
                status=p2p_pb2.Status(best_number=best_number, best_hash=best_hash, peers=addrs)
            )
        )

    async def _peer_loop(self, peer: Peer) -> None:
        while True:
            msg = await peer.conn.recv()
            if msg is None or peer.closed:
                return
            if peer.node_key in self.blocked_keys:
                continue
            now = peer.last_received = time.monotonic()
            kind = msg.WhichOneof("kind")
            if kind == "transaction" or kind == "transactions":
                batch = [msg.transaction] if kind == "transaction" else msg.transactions.extrinsics
                if kind == "transactions" and (
                    len(batch) > MAX_BATCH_TRANSACTIONS or msg.ByteSize() > MAX_BATCH_BYTES + 16
                ):
                    raise Misbehaviour(
                        f"a batch of {len(batch)} transactions ({msg.ByteSize()} bytes), over "
                        f"{MAX_BATCH_TRANSACTIONS} or {MAX_BATCH_BYTES} bytes"
                    )
                received = [(bytes(raw), blake2_256(b"tx" + raw)) for raw in batch]
                await self.handler.prepare_transactions(
                    [raw for raw, digest in received if digest not in self.seen]
                )
                for raw, digest in received:
                    if self.seen.first_time(digest):
                        peer.last_useful = now
                        await self.handler.on_transaction(raw, peer)
            elif kind == "consensus":
                if self.seen.first_time(blake2_256(b"cs" + msg.consensus)):
                    peer.last_useful = now
                    await self.handler.on_consensus(bytes(msg.consensus), peer)
            elif kind == "evidence":
                if self.seen.first_time(blake2_256(b"ev" + msg.evidence)):
                    peer.last_useful = now
                    await self.handler.on_evidence(bytes(msg.evidence), peer)
            elif kind == "block":
                if self.seen.first_time(blake2_256(b"bk" + msg.block.block)):
                    peer.last_useful = now
                    await self.handler.on_block(bytes(msg.block.block), bytes(msg.block.justification), peer)
            elif kind == "sync_request":
                blocks = await self.handler.on_sync_request(
                    msg.sync_request.from_number, min(msg.sync_request.max_blocks, 256)
                )
                if blocks:
                    peer.served_up_to = max(peer.served_up_to, msg.sync_request.from_number + len(blocks) - 1)
                best_number, _ = self.handler.best()
                await peer.send(
                    p2p_pb2.PeerMessage(
                        sync_response=p2p_pb2.SyncResponse(
                            blocks=[p2p_pb2.CertifiedBlock(block=b, justification=j) for b, j in blocks],
                            peer_best=best_number,
                        )
                    )
                )
            elif kind == "sync_response":
                blocks = [(bytes(b.block), bytes(b.justification)) for b in msg.sync_response.blocks]
                if blocks:
                    peer.last_useful = now
                await self.handler.on_sync_response(blocks, msg.sync_response.peer_best, peer)
            elif kind == "blob_request":
                if peer.blob_serves >= MAX_BLOB_SERVES_PER_PEER:
                    await peer.send(
                        p2p_pb2.PeerMessage(
                            blob_chunk=p2p_pb2.BlobChunk(
                                hash=bytes(msg.blob_request), missing=True, last=True
                            )
                        )
                    )
                else:
                    self._spawn(self._serve_blob(peer, bytes(msg.blob_request)))
            elif kind == "blob_chunk":
                fetch = self._blob_fetches.get((bytes(msg.blob_chunk.hash), peer.node_key))
                if fetch is not None:
                    fetch.put_nowait(msg.blob_chunk)
            elif kind == "status":
                if not peer.status_budget.take():
                    raise Flooding(f"more than {STATUS_RATE:.0f} status messages a second")
                if peer.synced_to < msg.status.best_number <= peer.served_up_to:
                    peer.last_useful = now  # it imported blocks this node sent it: a syncing node
                peer.synced_to = max(peer.synced_to, msg.status.best_number)
                peer.best_number, peer.best_hash = msg.status.best_number, bytes(msg.status.best_hash)
                for addr in list(msg.status.peers)[:32]:
                    self.addresses.learn(addr)
                await self.handler.on_peer_status(peer.best_number, peer.best_hash, peer)
            else:
                raise Misbehaviour(f"unexpected message {kind!r} after the handshake")

    # --- outbound --------------------------------------------------------------------------------------------

    async def _write(self, peer: Peer) -> None:
        try:
            await peer.write_loop()
        except TransportError as e:
            log.debug("writing to %s failed: %s", peer.id, e)
        peer.closed = True
        await peer.conn.close()

    def ban(self, peer: Peer, reason: str, by_host: bool = False) -> None:
        """Ban the key; with `by_host` (flooding) its host too, unless a bootnode lives there."""
        until = time.monotonic() + self.ban_seconds
        self.banned[peer.node_key] = until
        host = address_host(peer.conn.remote)
        if by_host and host is not None and host not in self._exempt_hosts:
            self.banned_hosts[host] = until
            log.warning(
                "banning peer %s and its host %s for %.0fs: %s", peer.id, host, self.ban_seconds, reason
            )
        else:
            log.warning("banning peer %s for %.0fs: %s", peer.id, self.ban_seconds, reason)
        self._spawn(peer.conn.close())

    async def broadcast(self, msg: p2p_pb2.PeerMessage, exclude: Peer | None = None) -> None:
        for peer in list(self.peers.values()):
            if peer is exclude or peer.node_key in self.blocked_keys:
                continue
            try:
                await peer.send(msg)
            except TransportError as e:
                log.debug("gossip to %s failed: %s", peer.id, e)

    async def gossip_transaction(self, raw: bytes, exclude: Peer | None = None) -> None:
        self.seen.first_time(blake2_256(b"tx" + raw))
        await self.broadcast(p2p_pb2.PeerMessage(transaction=raw), exclude)

    async def gossip_consensus(self, payload: bytes, exclude: Peer | None = None) -> None:
        self.seen.first_time(blake2_256(b"cs" + payload))
        await self.broadcast(p2p_pb2.PeerMessage(consensus=payload), exclude)

    async def gossip_evidence(self, payload: bytes, exclude: Peer | None = None) -> None:
        self.seen.first_time(blake2_256(b"ev" + payload))
        await self.broadcast(p2p_pb2.PeerMessage(evidence=payload), exclude)

    async def gossip_block(self, block: bytes, justification: bytes, exclude: Peer | None = None) -> None:
        self.seen.first_time(blake2_256(b"bk" + block))
        best_number, _ = self.handler.best()  # the node gossips the block it has just imported
        for peer in self.peers.values():
            if peer is not exclude:
                peer.served_up_to = max(peer.served_up_to, best_number)
        await self.broadcast(
            p2p_pb2.PeerMessage(block=p2p_pb2.CertifiedBlock(block=block, justification=justification)),
            exclude,
        )

    async def announce_status(self) -> None:
        """Tell every peer our best block, at most once per STATUS_INTERVAL: calls meanwhile are folded into
        one announcement of the newest best block, so a node importing hundreds of blocks a second while it
        syncs never looks like a Status flooder to its peers."""
        if self._status_due:
            return
        wait = self._status_sent_at + STATUS_INTERVAL - time.monotonic()
        if wait > 0:
            self._status_due = True
            try:
                await asyncio.sleep(wait)
            finally:
                self._status_due = False
        self._status_sent_at = time.monotonic()
        for peer in list(self.peers.values()):
            with contextlib.suppress(TransportError):
                await self._send_status(peer)

    async def _serve_blob(self, peer: Peer, blob_hash: bytes) -> None:
        store = self.blob_store
        if store is None or len(blob_hash) != 32 or not store.has(blob_hash):
            await peer.send(
                p2p_pb2.PeerMessage(blob_chunk=p2p_pb2.BlobChunk(hash=blob_hash, missing=True, last=True))
            )
            return
        offset = 0
        peer.blob_serves += 1
        try:
            for data in store.read_chunks(blob_hash, BLOB_CHUNK):
                await peer.wait_backlog_below(BLOB_BACKLOG_BYTES, BLOB_STALL_SECONDS)
                await peer.send(
                    p2p_pb2.PeerMessage(
                        blob_chunk=p2p_pb2.BlobChunk(hash=blob_hash, offset=offset, data=data)
                    )
                )
                offset += len(data)
        except TransportError as e:
            log.debug("stopped serving blob 0x%s to %s: %s", blob_hash.hex()[:16], peer.id, e)
            return
        except Exception as e:  # a corrupt local copy: tell the peer we have nothing
            log.warning("cannot serve blob 0x%s: %s", blob_hash.hex()[:16], e)
            await peer.send(
                p2p_pb2.PeerMessage(blob_chunk=p2p_pb2.BlobChunk(hash=blob_hash, missing=True, last=True))
            )
            return
        finally:
            peer.blob_serves -= 1
        await peer.send(
            p2p_pb2.PeerMessage(blob_chunk=p2p_pb2.BlobChunk(hash=blob_hash, offset=offset, last=True))
        )

    async def fetch_blob(self, blob_hash: bytes, store, timeout: float = 30.0) -> bool:
        """Fetch a blob from the first peer that has it; the store checks the hash before keeping it."""
        for peer in list(self.peers.values()):
            key = (blob_hash, peer.node_key)
            queue: asyncio.Queue = asyncio.Queue()
            self._blob_fetches[key] = queue
            writer = store.writer(blob_hash)
            try:
                await peer.send(p2p_pb2.PeerMessage(blob_request=blob_hash))
                while True:
                    chunk = await asyncio.wait_for(queue.get(), timeout)
                    if chunk.missing:
                        break
                    writer.write(chunk.data)
                    if chunk.last:
                        writer.finish()
                        return True
            except Exception as e:  # unreachable peer, timeout, wrong bytes or oversize: try the next
                log.debug("blob 0x%s from %s failed: %s", blob_hash.hex()[:16], peer.id, e)
            finally:
                self._blob_fetches.pop(key, None)
                writer.abort()
        return False

    async def request_sync(self, peer: Peer, from_number: int, max_blocks: int = 128) -> None:
        await peer.send(
            p2p_pb2.PeerMessage(
                sync_request=p2p_pb2.SyncRequest(from_number=from_number, max_blocks=max_blocks)
            )
        )
