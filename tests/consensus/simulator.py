"""A deterministic many-validator simulator: one process, an in-memory network, a virtual clock.

Everything random (delays, drops, block contents, crash points, twin wiring) comes from one seeded
`random.Random`, and events run from a heap ordered by (virtual time, sequence number), so a seed replays
exactly. Validators are real `ConsensusDriver`s over real engines, guards and WALs (in-memory stores with
fault hooks), signing with real Ed25519 keys.

Faults modelled: per-message delay jitter and drops, partitions between groups, byzantine twins (two
engines sharing one key, each wired to a different subset of peers, so they propose and vote differently),
and crashes at the k-th durable write of a validator followed by a restart from its WAL and guard.
Catch-up: a node that hears a message for a height it has already committed answers the sender with the
block and its certificate (the node's sync), and nodes periodically re-gossip their round state.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from chain.primitives.crypto import Keypair, verify
from chain.primitives.hashing import blake2_256
from consensus.actions import Broadcast, Commit, RecordEvidence, RequestProposal, ScheduleTimeout
from consensus.certificate import CommitCertificate, verify_certificate
from consensus.driver import ConsensusDriver
from consensus.engine import Engine, TimeoutConfig
from consensus.evidence import DuplicateVoteEvidence
from consensus.guard import SignerGuard
from consensus.types import SignedProposal, SignedVote
from consensus.validators import ValidatorSet
from consensus.wal import WriteAheadLog
from tests.consensus.crashing_stores import CrashingLog, CrashingValue, SimulatedCrash

GENESIS = blake2_256(b"gradchain/simulator-genesis")
SIM_TIMEOUTS = TimeoutConfig(
    propose_base=0.4,
    propose_delta=0.2,
    prevote_base=0.2,
    prevote_delta=0.1,
    precommit_base=0.2,
    precommit_delta=0.1,
)


def validate_block(height: int, block: bytes) -> bool:
    """The trivial app: a block is valid at height h if it says so."""
    return block.startswith(b"h%d-" % height)


class MemoVerify:
    """Ed25519 verification with a cache shared by all simulated nodes (each check is still done once)."""

    def __init__(self) -> None:
        self.cache: dict[tuple[bytes, bytes, bytes], bool] = {}

    def __call__(self, public: bytes, message: bytes, signature: bytes) -> bool:
        key = (public, message, signature)
        ok = self.cache.get(key)
        if ok is None:
            ok = self.cache[key] = verify(public, message, signature)
        return ok


@dataclass
class SimNode:
    node_id: int
    name: str
    keypair: Keypair
    byzantine: bool = False
    links: set[int] = field(default_factory=set)
    guard_store: CrashingValue = field(default_factory=CrashingValue)
    wal_store: CrashingLog = field(default_factory=CrashingLog)
    driver: ConsensusDriver | None = None
    incarnation: int = 0
    writes: int = 0
    crash_at_write: int | None = None
    crashes: int = 0
    committed: dict[int, tuple[bytes, bytes, CommitCertificate]] = field(default_factory=dict)
    commit_times: dict[int, float] = field(default_factory=dict)
    evidence: list[DuplicateVoteEvidence] = field(default_factory=list)
    conflicting_commits: list[str] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.driver is not None

    @property
    def next_height(self) -> int:
        return max(self.committed, default=0) + 1


@dataclass
class Simulation:
    n: int
    seed: int
    stakes: list[int] | None = None
    delay: float = 0.05
    jitter: float = 0.02
    drop: float = 0.0
    twins: int = 0
    gossip_interval: float | None = 1.0
    timeouts: TimeoutConfig = SIM_TIMEOUTS
    verify_signature: Callable[[bytes, bytes, bytes], bool] | None = None
    keep_emitted: bool = True
    amnesia: bool = False  # negative control: a restart forgets the guard and the WAL

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.now = 0.0
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.keys = [Keypair.from_seed(blake2_256(b"sim-validator-%d" % i)) for i in range(self.n)]
        stakes = self.stakes or [1] * self.n
        self.validator_set = ValidatorSet.of((k.public, s) for k, s in zip(self.keys, stakes, strict=True))
        self.verify = self.verify_signature or MemoVerify()
        self.nodes: list[SimNode] = []
        for i, key in enumerate(self.keys):
            self.nodes.append(SimNode(i, f"v{i}", key, byzantine=i < self.twins))
        for i in range(self.twins):
            self.nodes.append(SimNode(len(self.nodes), f"v{i}-twin", self.keys[i], byzantine=True))
        self._wire()
        self.partition: list[set[int]] | None = None
        self.emitted: list[tuple[int, SignedProposal | SignedVote]] = []
        self.messages_sent = 0
        self.sync_sent: set[tuple[int, int, int]] = set()
        for node in self.nodes:
            node.guard_store.fault = self._fault_hook(node)
            node.wal_store.fault = self._fault_hook(node)

    # ---- setup --------------------------------------------------------------------------------------

    def _wire(self) -> None:
        """Honest nodes talk to all honest nodes; each honest node hears twin A, twin B, or both."""
        honest = [nd.node_id for nd in self.nodes if not nd.byzantine]
        for a in honest:
            self.nodes[a].links = {b for b in honest if b != a}
        for i in range(self.twins):
            twin_a, twin_b = self.nodes[i], self.nodes[self.n + i]
            for h in honest:
                side = self.rng.random()
                pair = [twin_a] if side < 0.4 else [twin_b] if side < 0.8 else [twin_a, twin_b]
                for twin in pair:
                    twin.links.add(h)
                    self.nodes[h].links.add(twin.node_id)
            for j in range(self.twins):  # byzantine nodes see each other (each twin its own twin-less peers)
                if j != i:
                    twin_a.links.add(j)
                    twin_b.links.add(self.n + j)

    def _fault_hook(self, node: SimNode) -> Callable[[str], None]:
        def fault(label: str) -> None:
            node.writes += 1
            if node.crash_at_write == node.writes:
                raise SimulatedCrash(label, partial=self.rng.randrange(0, 40))

        return fault

    def _engine(self, node: SimNode, height: int) -> Engine:
        guard = SignerGuard(node.keypair, GENESIS, node.guard_store)
        return Engine(
            genesis_hash=GENESIS,
            signer=guard,
            validator_sets=lambda h: self.validator_set,
            validate_block=validate_block,
            height=height,
            timeouts=self.timeouts,
            verify_signature=self.verify,
        )

    def start(self) -> None:
        for node in self.nodes:
            node.driver = ConsensusDriver(self._engine(node, 1), WriteAheadLog(node.wal_store))
            self._run_node(node, lambda d: d.start())
        if self.gossip_interval:
            self.at(self.gossip_interval, self._gossip)

    # ---- event loop ---------------------------------------------------------------------------------

    def at(self, when: float, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, fn))

    def run(self, until: float, stop: Callable[[], bool] | None = None) -> None:
        while self._heap and self._heap[0][0] <= until:
            when, _, fn = heapq.heappop(self._heap)
            self.now = when
            fn()
            if stop is not None and stop():
                return
        self.now = max(self.now, until)

    def run_until_height(self, height: int, max_time: float) -> bool:
        """Run until every honest node has committed `height`; False if virtual time ran out first."""

        def done() -> bool:
            return all(height in nd.committed for nd in self.honest_nodes())

        self.run(max_time, done)
        return done()

    # ---- node plumbing ------------------------------------------------------------------------------

    def _run_node(self, node: SimNode, step: Callable[[ConsensusDriver], list]) -> None:
        if node.driver is None:
            return
        try:
            actions = step(node.driver)
        except SimulatedCrash:
            self._crash(node)
            return
        self._perform(node, actions)

    def _perform(self, node: SimNode, actions: list) -> None:
        incarnation = node.incarnation
        for action in actions:
            if isinstance(action, Broadcast):
                self._send(node, action.message)
            elif isinstance(action, ScheduleTimeout):
                t = action.timeout
                self.at(
                    self.now + action.delay,
                    lambda t=t: self._if_alive(node, incarnation, lambda d: d.on_timeout(t)),
                )
            elif isinstance(action, RequestProposal):
                block = b"h%d-r%d-by-%s-" % (
                    action.height,
                    action.round,
                    node.name.encode(),
                ) + self.rng.randbytes(8)
                h, r = action.height, action.round
                self.at(
                    self.now,
                    lambda h=h, r=r, b=block: self._if_alive(
                        node, incarnation, lambda d: d.on_block_built(h, r, b)
                    ),
                )
            elif isinstance(action, Commit):
                self._commit(node, action)
            elif isinstance(action, RecordEvidence):
                node.evidence.append(action.evidence)

    def _if_alive(self, node: SimNode, incarnation: int, step: Callable[[ConsensusDriver], list]) -> None:
        if node.incarnation == incarnation:
            self._run_node(node, step)

    def _commit(self, node: SimNode, action: Commit) -> None:
        verify_certificate(
            action.certificate, action.block_hash, action.height, self.validator_set, GENESIS, self.verify
        )
        previous = node.committed.get(action.height)
        if previous is not None:
            if previous[0] != action.block_hash:
                node.conflicting_commits.append(
                    f"height {action.height}: {previous[0].hex()} then {action.block_hash.hex()}"
                )
            return
        node.committed[action.height] = (action.block_hash, action.block, action.certificate)
        node.commit_times[action.height] = self.now

    def _crash(self, node: SimNode) -> None:
        node.driver = None
        node.incarnation += 1
        node.crashes += 1
        self.at(self.now + 0.5, lambda: self._restart(node))

    def _restart(self, node: SimNode) -> None:
        if self.amnesia:
            node.guard_store.data = None
            node.wal_store.data.clear()
        try:
            engine = self._engine(node, node.next_height)
            driver, actions = ConsensusDriver.recover(engine, WriteAheadLog(node.wal_store))
        except SimulatedCrash:
            self._crash(node)
            return
        node.driver = driver
        self._perform(node, actions)

    # ---- network ------------------------------------------------------------------------------------

    def _linked(self, src: int, dst: int) -> bool:
        if self.partition is None:
            return True
        return any(src in group and dst in group for group in self.partition)

    def _send(self, node: SimNode, message: SignedProposal | SignedVote) -> None:
        if self.keep_emitted:
            self.emitted.append((node.node_id, message))
        for dst in sorted(node.links):
            self._deliver_later(node.node_id, dst, message)

    def _deliver_later(self, src: int, dst: int, message: SignedProposal | SignedVote) -> None:
        self.messages_sent += 1
        if not self._linked(src, dst) or (self.drop and self.rng.random() < self.drop):
            return
        self.at(
            self.now + self.delay + self.rng.uniform(0, self.jitter), lambda: self._deliver(src, dst, message)
        )

    def _deliver(self, src: int, dst: int, message: SignedProposal | SignedVote) -> None:
        node = self.nodes[dst]
        if node.driver is None or not self._linked(src, dst):
            return
        height = message.proposal.height if isinstance(message, SignedProposal) else message.vote.height
        if height in node.committed:
            self._answer_sync(node, src, height)
            return
        if isinstance(message, SignedProposal):
            self._run_node(node, lambda d: d.on_proposal(message))
        else:
            self._run_node(node, lambda d: d.on_vote(message))

    def _answer_sync(self, node: SimNode, dst: int, height: int) -> None:
        """Send a lagging peer the committed block and certificate, at most once per second of virtual time."""
        key = (node.node_id, dst, height, int(self.now))
        if key in self.sync_sent or not self._linked(node.node_id, dst):
            return
        self.sync_sent.add(key)
        _, block, cert = node.committed[height]
        target = self.nodes[dst]

        def deliver() -> None:
            if target.driver is not None and target.next_height == height and self._linked(node.node_id, dst):
                self._run_node(target, lambda d: d.on_decided(block, cert))

        self.at(self.now + self.delay, deliver)

    def _gossip(self) -> None:
        for node in self.nodes:
            if node.driver is not None:
                for message in node.driver.gossip_state():
                    for dst in sorted(node.links):
                        self._deliver_later(node.node_id, dst, message)
        self.at(self.now + self.gossip_interval, self._gossip)

    def split(self, *groups: set[int]) -> None:
        """Partition the network: messages cross no group boundary (those in flight are lost)."""
        self.partition = [set(g) for g in groups]

    def heal(self) -> None:
        self.partition = None

    # ---- observations -------------------------------------------------------------------------------

    def honest_nodes(self) -> list[SimNode]:
        return [nd for nd in self.nodes if not nd.byzantine]

    def safety_violations(self) -> list[str]:
        """Heights where two honest nodes committed different blocks, and nodes that changed a commit."""
        problems = []
        by_height: dict[int, set[bytes]] = {}
        for node in self.honest_nodes():
            problems.extend(f"{node.name} {c}" for c in node.conflicting_commits)
            for height, (block_hash, _, _) in node.committed.items():
                by_height.setdefault(height, set()).add(block_hash)
        problems.extend(
            f"height {h}: {len(hs)} different blocks committed" for h, hs in by_height.items() if len(hs) > 1
        )
        return problems

    def double_signatures(self, honest_only: bool = True) -> list[str]:
        """Every pair of conflicting messages one key ever emitted (votes and proposals)."""
        seen: dict[tuple, tuple[int, object]] = {}
        conflicts = []
        for node_id, message in self.emitted:
            if honest_only and self.nodes[node_id].byzantine:
                continue
            if isinstance(message, SignedVote):
                v = message.vote
                key = ("vote", message.validator, v.type, v.height, v.round)
                content: object = v.block_hash
            else:
                p = message.proposal
                key = ("proposal", message.proposer, p.height, p.round)
                content = (p.block_hash, p.valid_round)
            if key in seen and seen[key][1] != content:
                conflicts.append(f"{self.nodes[node_id].name} signed conflicting {key[0]}s at {key[2:]}")
            seen.setdefault(key, (node_id, content))
        return conflicts
