"""The attacks of issue 17 ("Node hardening") on live `gradchain node` processes on loopback.

Shared by the hostile-peer tests (small scale, asserting) and `benchmarks/hostile_report.py` (full scale,
reporting). Every attack runs against a node started here; its finalized height is read from its log, so the
measurement never depends on a listener, all of which may be refusing connections when descriptors run out. `measure` holds an attack for a while, then releases it, and returns what the node did:
blocks finalized while it lasted, its RSS peak, the seconds until it finalized two more blocks and answered
gRPC after the release, and how many of the attacker's connections it refused or closed.

Attackers connect from source addresses other than 127.0.0.1 (all of 127.0.0.0/8 is loopback on Linux), so
per-address caps see them as the distinct hosts they would be on a network, and an honest client on
127.0.0.1 is another host again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import selectors
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chain.client import ClientError, NodeClient
from chain.network.peers import HELLO_DOMAIN, Network
from chain.network.transport import GrpcTransport, TransportError
from chain.node.launcher import LocalNetwork, NodeProcess, free_ports
from chain.primitives.crypto import Keypair, verify
from proto import p2p_pb2

RSS_SAMPLE_SECONDS = 0.2
LOG_TAIL_BYTES = 256 * 1024
FINALIZED_LINE = re.compile(rb"gradchain\.node: finalized #(\d+) ")


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def raise_own_descriptor_limit() -> int:
    """An attacker holding thousands of sockets needs its soft limit at the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class LimitedNode(NodeProcess):
    """A node process whose descriptor limit is lowered (to `nofile`) before it execs."""

    nofile: int | None = None
    last_finalized: int = 0

    def start(self) -> None:
        self.base.parent.mkdir(parents=True, exist_ok=True)
        limit = self.nofile
        lower = (
            None if limit is None else (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)))
        )
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT, preexec_fn=lower)

    def finalized(self) -> int:
        """The newest height the node's log says it finalized (its log is written to a descriptor it already
        holds, so this reads true while every listener is refusing connections)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
                heights = FINALIZED_LINE.findall(log.read())
        except OSError:
            heights = []
        if heights:
            self.last_finalized = max(self.last_finalized, int(heights[-1]))
        return self.last_finalized


def dev_node(
    tmp: Path, nofile: int | None = None, extra: tuple[str, ...] = ()
) -> tuple[LocalNetwork, LimitedNode]:
    """A `--dev` node (metrics on, a listener to exhaust too) under RLIMIT_NOFILE `nofile` when given; entering
    the network starts it."""
    net = LocalNetwork(tmp, chain="dev")
    plain = net.nodes[0]
    node = LimitedNode(
        **{
            f: getattr(plain, f)
            for f in (
                "name",
                "base",
                "chain",
                "key",
                "p2p",
                "grpc",
                "rpc",
                "bootnodes",
                "extra",
                "idle_block_interval",
            )
        }
    )
    node.nofile = nofile
    node.prometheus = free_ports(1)[0]
    node.extra = [*node.extra, "--dev", *extra]
    net.nodes[0] = node
    return net, node


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, node: NodeProcess | None = None
) -> float:
    """Seconds until `predicate` held; AssertionError (with the node's log tail) after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            tail = f"\n{node.log_tail()}" if node is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")
        time.sleep(0.1)
    return time.monotonic() - started


def grpc_answers(node: NodeProcess) -> bool:
    try:
        with NodeClient(node.grpc_addr, timeout=3.0) as c:
            c.info()
        return True
    except ClientError:
        return False


def open_descriptors(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class RssSampler:
    """The peak RSS and the peak count of open descriptors of a process, sampled in a thread while the `with`
    block runs."""

    def __init__(self, pid: int):
        self.pid, self.peak, self.fds_peak = pid, rss_mb(pid), open_descriptors(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self.peak = max(self.peak, rss_mb(self.pid))
            self.fds_peak = max(self.fds_peak, open_descriptors(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class AttackResult:
    name: str
    rss_peak_mb: float = 0.0
    fds_peak: int = 0
    blocks_during: int = 0
    attack_seconds: float = 0.0
    recovery_seconds: float | None = None
    refused: int = 0  # connections or requests the node refused, closed or answered with an error
    survived: bool = False
    detail: dict = field(default_factory=dict)

    def report(self) -> dict:
        return {
            "rss_peak_mb": round(self.rss_peak_mb, 1),
            "fds_peak": self.fds_peak,
            "blocks_finalized_during": self.blocks_during,
            "attack_seconds": round(self.attack_seconds, 1),
            "recovery_seconds": None if self.recovery_seconds is None else round(self.recovery_seconds, 2),
            "connections_refused": self.refused,
            "verdict": "survived" if self.survived else "failed",
            **self.detail,
        }


@dataclass
class Attack:
    """What an attack holds while it lasts: `refused` counts what the node turned away and `held` says
    whether the node kept the attack's own promise (an honest client served, a flooder banned), both read
    just before `release`."""

    refused: Callable[[], int] = lambda: 0
    release: Callable[[], None] = lambda: None
    detail: Callable[[], dict] = dict
    held: Callable[[], bool] = lambda: True


def measure(
    name: str,
    node: LimitedNode,
    start: Callable[[], Attack],
    hold: float,
    min_blocks: int = 1,
    rss_limit_mb: float = 1024.0,
    recovery_timeout: float = 60.0,
) -> AttackResult:
    """Run `start()`'s attack for `hold` seconds against a running node, release it, and wait until the node
    has finalized two more blocks and answers gRPC. Survived: at least `min_blocks` finalized during the
    attack, recovery within `recovery_timeout` and the RSS peak under `rss_limit_mb`."""
    result = AttackResult(name)
    before = node.finalized()
    with RssSampler(node.proc.pid) as rss:
        started = time.monotonic()
        attack = start()
        try:
            deadline = started + hold
            while time.monotonic() < deadline:
                time.sleep(0.25)
            during = node.finalized()
            result.refused = attack.refused()
            result.detail = attack.detail()
            held = attack.held()
        finally:
            attack.release()
        result.attack_seconds = time.monotonic() - started
        result.blocks_during = max(0, during - before)
        released_at = node.finalized() or during
        try:
            result.recovery_seconds = wait_for(
                lambda: node.finalized() >= released_at + 2 and grpc_answers(node),
                recovery_timeout,
                f"{name}: the node to go on",
            )
        except AssertionError:
            result.recovery_seconds = None
        result.rss_peak_mb, result.fds_peak = rss.peak, rss.fds_peak
    result.survived = (
        held
        and result.blocks_during >= min_blocks
        and result.recovery_seconds is not None
        and result.rss_peak_mb < rss_limit_mb
        and node.proc.poll() is None
    )
    return result


# --- raw connections -------------------------------------------------------------------------------------------


def source_address(i: int, hosts: int) -> str:
    """The i-th of `hosts` attacker source addresses, 127.0.1.1 onwards."""
    n = i % hosts
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


def open_connections(
    port: int, count: int, hosts: int = 1, payload: bytes = b"", connect_timeout: float = 5.0
) -> list[socket.socket]:
    """`count` TCP connections to 127.0.0.1:`port` from `hosts` source addresses, each sending `payload`
    (nothing: idle; half a request: half-open) and then nothing more. Connects run all at once; those the
    node's listen backlog has not taken within `connect_timeout` stay pending, as a flood's would."""
    socks = []
    for i in range(count):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind((source_address(i, hosts), 0))
            s.connect_ex(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        socks.append(s)
    if payload:
        with selectors.DefaultSelector() as selector:
            for s in socks:
                selector.register(s, selectors.EVENT_WRITE)
            deadline, pending = time.monotonic() + connect_timeout, len(socks)
            while pending and time.monotonic() < deadline:
                for key, _ in selector.select(0.1):
                    selector.unregister(key.fileobj)
                    pending -= 1
                    with contextlib.suppress(OSError):
                        key.fileobj.send(payload)
    return socks


def connection_states(socks: list[socket.socket]) -> dict[str, int]:
    """How many of `socks` the node has closed (end of stream or reset, after whatever it sent first: an HTTP/2
    server opens with its SETTINGS), how many are still open (held by the node, or established by the kernel
    and waiting for the node's accept: `fds_peak` tells which), and how many never got connected."""
    states = {"closed_by_node": 0, "still_open": 0, "never_connected": 0}
    for s in socks:
        try:
            s.getpeername()
        except OSError:
            states["never_connected"] += 1
            continue
        try:
            while s.recv(65536):
                pass
            states["closed_by_node"] += 1
        except BlockingIOError:
            states["still_open"] += 1
        except OSError:
            states["closed_by_node"] += 1
    return states


def hold_connections(port: int, count: int, hosts: int = 1, payload: bytes = b"") -> Callable[[], Attack]:
    def start() -> Attack:
        socks = open_connections(port, count, hosts, payload)
        states: dict[str, int] = {}

        def refused() -> int:
            states.update(connection_states(socks))
            return count - len(socks) + states["closed_by_node"]

        def release() -> None:
            for s in socks:
                s.close()

        return Attack(refused, release, lambda: {"opened": count, **states})

    return start


HALF_HTTP_REQUEST = b"POST / HTTP/1.1\r\nHost: node\r\nContent-Length: 100\r\n"
HALF_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n"
# HTTP/2's whole client preface and an empty SETTINGS frame: gRPC counts the handshake done, so the connection
# outlives the handshake timeout and is closed only by the idle timeout (minutes) or a per-address cap.
HTTP2_CLIENT_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


# --- p2p attackers (in this process, over the real transport) --------------------------------------------------


class SilentPeer:
    """The least a `PeerHandler` must do: claim genesis as best, answer sync with nothing, ignore the rest."""

    def __init__(self, genesis: bytes):
        self.genesis = genesis

    def best(self) -> tuple[int, bytes]:
        return 0, self.genesis

    async def prepare_transactions(self, raws) -> None:
        return None

    async def on_transaction(self, raw, peer) -> None:
        return None

    async def on_consensus(self, payload, peer) -> None:
        return None

    async def on_block(self, block, justification, peer) -> None:
        return None

    async def on_sync_request(self, from_number, max_blocks) -> list:
        return []

    async def on_sync_response(self, blocks, peer_best, peer) -> None:
        return None

    async def on_evidence(self, payload, peer) -> None:
        return None

    async def on_peer_status(self, best_number, best_hash, peer) -> None:
        return None


class AttackerLoop:
    """An event loop in a thread of its own for in-process attackers (fake peers with fresh keys, WebSocket
    clients) while the attack lasts."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.networks: list[Network] = []

    def run(self, coro, timeout: float = 120.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def spawn(self, target: str, genesis: bytes, count: int, name: str = "fake") -> list[Network]:
        async def start() -> list[Network]:
            nets = [
                Network(
                    GrpcTransport(),
                    Keypair.generate(),
                    genesis,
                    SilentPeer(genesis),
                    "127.0.0.1:0",
                    bootnodes=[target],
                    node_name=f"{name}{i}",
                )
                for i in range(count)
            ]
            await asyncio.gather(*(n.start() for n in nets))
            return nets

        nets = self.run(start())
        self.networks += nets
        return nets

    def connected(self, net: Network) -> bool:
        return bool(net.peers)

    def stop(self) -> None:
        async def stop_all() -> None:
            await asyncio.gather(*(n.stop() for n in self.networks), return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(stop_all(), timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


async def handshake_then_first_message(
    address: str, key: Keypair, genesis: bytes, wait: float = 3.0
) -> tuple[bool, str | None]:
    """Dial, run the hello/proof handshake by hand; return (handshake completed, kind of the node's next
    message or None when the node closed the stream instead)."""
    conn = await GrpcTransport().dial(address)
    try:
        challenge = os.urandom(32)
        await conn.send(
            p2p_pb2.PeerMessage(
                hello=p2p_pb2.Hello(
                    genesis_hash=genesis, node_key=key.public, challenge=challenge, node_name="probe"
                )
            )
        )
        hello = await asyncio.wait_for(conn.recv(), wait)
        if hello is None or hello.WhichOneof("kind") != "hello":
            return False, None
        proof = key.sign(HELLO_DOMAIN + genesis + hello.hello.challenge + key.public)
        await conn.send(p2p_pb2.PeerMessage(hello_proof=p2p_pb2.HelloProof(signature=proof)))
        theirs = await asyncio.wait_for(conn.recv(), wait)
        if theirs is None or not verify(
            hello.hello.node_key,
            HELLO_DOMAIN + genesis + challenge + hello.hello.node_key,
            theirs.hello_proof.signature,
        ):
            return False, None
        try:
            nxt = await asyncio.wait_for(conn.recv(), wait)
        except TimeoutError:
            return True, "nothing (still open)"
        return True, None if nxt is None else nxt.WhichOneof("kind")
    except TransportError:
        return False, None
    finally:
        await conn.close()


async def until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


def genesis_of(node: NodeProcess) -> bytes:
    with NodeClient(node.grpc_addr) as c:
        return bytes(c.info().genesis_hash)


def status_flood(node: NodeProcess, messages: int, addresses_each: int = 32) -> Callable[[], Attack]:
    """One handshaken peer with a fresh key sends `messages` Status messages full of unparseable addresses."""

    def start() -> Attack:
        attackers = AttackerLoop()
        net = attackers.spawn(node.p2p_addr, genesis_of(node), 1, "poisoner")[0]
        wait_for(lambda: bool(net.peers), 20, "the poisoner to connect", node)
        peer = next(iter(net.peers.values()))
        sent = [0]

        async def flood() -> None:
            for i in range(messages):
                junk = [f"\x00junk-{i}-{j}-" + "x" * 60 for j in range(addresses_each)]
                try:
                    await peer.send(p2p_pb2.PeerMessage(status=p2p_pb2.Status(best_number=0, peers=junk)))
                except Exception:  # dropped by the node: the flood is over
                    return
                sent[0] += 1

        attackers.run(flood())

        def banned() -> bool:
            return "and its host 127.0.0.1" in node.log_tail(3000) and not net.peers

        def detail() -> dict:
            return {"status_messages_sent": sent[0], "banned_by_host": banned()}

        return Attack(lambda: int(not net.peers), attackers.stop, detail, banned)

    return start


def blob_requests_never_read(node: NodeProcess, blob_hash: bytes, requests: int) -> Callable[[], Attack]:
    """A handshaken peer asks for one blob `requests` times and never reads what the node sends."""

    def start() -> Attack:
        attackers = AttackerLoop()
        net = attackers.spawn(node.p2p_addr, genesis_of(node), 1, "leech")[0]
        wait_for(lambda: bool(net.peers), 20, "the leech to connect", node)
        peer = next(iter(net.peers.values()))

        async def leech() -> None:
            for _ in range(requests):
                await peer.send(p2p_pb2.PeerMessage(blob_request=blob_hash))
            peer.conn.recv = (
                _never  # the peer loop stops reading: grpc's flow control stalls the node's writes
            )

        attackers.run(leech())
        return Attack(release=attackers.stop, detail=lambda: {"blob_requests": requests})

    return start


async def _never():
    await asyncio.Event().wait()


def upload_blob(node: NodeProcess, data: bytes, timeout: float = 120.0) -> bytes:
    """Upload `data` over gRPC; its blob hash."""
    import grpc

    from proto import blob_pb2, blob_pb2_grpc

    chunk = 1024 * 1024

    def chunks():
        yield blob_pb2.BlobChunk(size=len(data), data=data[:chunk])
        for offset in range(chunk, len(data), chunk):
            yield blob_pb2.BlobChunk(data=data[offset : offset + chunk])

    with grpc.insecure_channel(
        node.grpc_addr, options=[("grpc.max_send_message_length", 4 * chunk)]
    ) as channel:
        return bytes(blob_pb2_grpc.BlobServiceStub(channel).PutBlob(chunks(), timeout=timeout).hash)


@contextlib.contextmanager
def fake_peer_crowd(node: NodeProcess, count: int) -> Iterator[AttackerLoop]:
    attackers = AttackerLoop()
    try:
        attackers.spawn(node.p2p_addr, genesis_of(node), count)
        yield attackers
    finally:
        attackers.stop()
