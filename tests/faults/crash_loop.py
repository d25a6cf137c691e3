"""The crash loop: a four-validator chain under load while validators are killed with SIGKILL and restarted.

Shared by `tests/faults/test_crash_loop.py` (a few rounds) and `benchmarks/reliability_report.py` (50).
`run_crash_loop` returns a `CrashLoopResult` holding the facts the invariants are checked on:
- every finalized height has one hash on all four nodes;
- every extrinsic the node reported FINALIZED (submit_and_watch) is in the chain exactly once, in the block
  the node named; no extrinsic is in the chain twice;
- every certificate verifies against the validator set (each signer once), and no OffenceReported/Slashed
  event appeared: no honest validator signed two conflicting votes across its crashes;
- after a final SIGKILL of every node, each LevelDB opens and its finalized chain matches the others.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from chain.client import ClientError, NodeClient, status_name, transfer_call
from chain.primitives.crypto import Keypair, dev_keypair
from chain.primitives.extrinsic import sign_extrinsic
from chain.primitives.hashing import blake2_256
from chain.storage.blockstore import BlockStore
from compute_market.worker import client as market
from tests.faults.cluster import ChainAudit, FaultNetwork, assert_same_chain, local_validator_set, wait_until
from tests.integration.harness import head_or_zero

UNIT = 10**12
TRANSFER_SENDERS = ("Alice", "Bob", "Charlie")
MARKET_SENDERS = ("Eve", "Ferdie")


@dataclass
class Sent:
    sender: str
    tx_hash: bytes
    status: str = "UNKNOWN"  # the last status the node reported, or UNKNOWN when the connection broke
    block_number: int | None = None
    block_hash: bytes | None = None


@dataclass
class CrashLoopResult:
    rounds: int = 0
    faults_injected: int = 0
    blocks_finalized: int = 0
    sent: list[Sent] = field(default_factory=list)
    lost: list[Sent] = field(default_factory=list)
    misplaced: list[Sent] = field(default_factory=list)
    duplicate_inclusions: dict = field(default_factory=dict)
    offences: list = field(default_factory=list)
    bad_certificates: list = field(default_factory=list)
    certificate_signatures: int = 0
    databases_checked: int = 0
    database_errors: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def finalized(self) -> list[Sent]:
        return [s for s in self.sent if s.status == "FINALIZED"]

    def summary(self) -> dict:
        return {
            "rounds": self.rounds,
            "faults_injected": self.faults_injected,
            "blocks_finalized": self.blocks_finalized,
            "transfers_submitted": len(self.sent),
            "transfers_finalized": len(self.finalized),
            "transfers_unknown_status": sum(s.status == "UNKNOWN" for s in self.sent),
            "transfers_lost": len(self.lost) + len(self.misplaced),
            "double_signatures": len(self.offences)
            + sum("DuplicateSigner" in e for _, e in self.bad_certificates),
            "bad_certificates": len(self.bad_certificates),
            "certificate_signatures_verified": self.certificate_signatures,
            "duplicate_inclusions": len(self.duplicate_inclusions),
            "databases_reopened": self.databases_checked,
            "database_errors": len(self.database_errors),
            "wall_seconds": round(self.wall_seconds, 1),
        }


class Load:
    """One thread per sender: sign, submit_and_watch through a random node, record what the node said."""

    def __init__(self, net: FaultNetwork, rng: random.Random, max_per_sender: int = 100_000):
        self.net, self.max_per_sender = net, max_per_sender
        self.stop = threading.Event()
        self.sent: list[Sent] = []
        self.lock = threading.Lock()
        self.seeds = [rng.randrange(1 << 30) for _ in range(len(TRANSFER_SENDERS) + len(MARKET_SENDERS))]
        self.threads = [
            threading.Thread(target=self._run, args=(name, seed), daemon=True)
            for name, seed in zip((*TRANSFER_SENDERS, *MARKET_SENDERS), self.seeds, strict=True)
        ]
        with net.nodes[0].client() as c:
            self.params = c.params()

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self, timeout: float = 60.0) -> list[Sent]:
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        with self.lock:
            return list(self.sent)

    def _call(self, name: str, i: int, rng: random.Random) -> bytes:
        dest = Keypair.from_seed(blake2_256(b"crash-loop-dest%d" % rng.randrange(64))).public
        if name == "Ferdie":
            return market.register_solver(1000 * UNIT) if i == 0 else transfer_call(dest, UNIT + i)
        if name == "Eve":
            from chain.cli.demo import demo_spec

            if i % 4 == 0:
                return market.submit_job(
                    demo_spec(blake2_256(b"dataset%d" % i), seed=i, steps=40).encode(), 5 * UNIT
                )
        return transfer_call(dest, UNIT + i)  # distinct amounts: every extrinsic has its own hash

    def _run(self, name: str, seed: int) -> None:
        rng = random.Random(seed)
        key = dev_keypair(name)
        clients = {n.name: NodeClient(n.grpc_addr, timeout=5.0) for n in self.net.nodes if n.key}
        nonce: int | None = None
        i = 0
        try:
            while not self.stop.is_set() and i < self.max_per_sender:
                client = clients[rng.choice(sorted(clients))]
                try:
                    if nonce is None:
                        nonce = client.account(key.ss58()).next_index
                    raw = sign_extrinsic(
                        key,
                        self._call(name, i, rng),
                        nonce=nonce,
                        spec_version=self.params.spec_version,
                        tx_version=self.params.transaction_version,
                        genesis_hash=self.params.genesis_hash,
                    ).encode()
                except ClientError:
                    time.sleep(0.2)
                    continue
                sent = Sent(name, blake2_256(raw))
                with self.lock:
                    self.sent.append(sent)
                i += 1
                try:
                    status = client.submit_and_watch(raw, timeout=30.0)
                except ClientError:
                    nonce = None  # the node died under us: the outcome is unknown, re-read the nonce
                    time.sleep(0.2)
                    continue
                sent.status = status_name(status)
                if sent.status == "FINALIZED":
                    sent.block_number, sent.block_hash = status.block_number, bytes(status.block_hash)
                    nonce += 1
                else:
                    nonce = None
        finally:
            for c in clients.values():
                c.close()


def run_crash_loop(
    tmp: Path,
    rounds: int,
    seed: int = 1,
    kill_gap: tuple[float, float] = (0.5, 2.0),
    down_time: tuple[float, float] = (0.0, 1.0),
    progress=None,
) -> CrashLoopResult:
    """Run `rounds` kill -9/restart rounds under load and audit the chain; see the module docstring."""
    rng = random.Random(seed)
    result = CrashLoopResult()
    started = time.monotonic()
    say = progress or (lambda _msg: None)
    with FaultNetwork(tmp) as net:
        validators = [n for n in net.nodes if n.key]
        net.wait_height(validators, 3, timeout=120)
        load = Load(net, rng)
        load.start()
        for r in range(rounds):
            time.sleep(rng.uniform(*kill_gap))
            victim = rng.choice(validators)
            victim.kill9()
            result.faults_injected += 1
            time.sleep(rng.uniform(*down_time))
            victim.start()
            others = [n for n in validators if n is not victim]
            target = max(head_or_zero(n) for n in others)
            wait_until(
                lambda v=victim, t=target: head_or_zero(v) >= t,
                90,
                f"{victim.name} to restart and reach #{target} (round {r})\n{victim.log_tail()}",
            )
            result.rounds += 1
            say(f"round {r + 1}/{rounds}: killed {victim.name}, back at #{head_or_zero(victim)}")
        result.sent = load.finish()
        height = max(head_or_zero(n) for n in validators)
        net.wait_height(validators, height, timeout=120)
        reference = assert_same_chain(validators, height)
        result.blocks_finalized = height
        audit = ChainAudit(validators[0], height, local_validator_set())
        result.offences, result.bad_certificates = audit.offences, audit.bad_certificates
        result.certificate_signatures = audit.signatures
        result.duplicate_inclusions = audit.duplicate_inclusions
        for sent in result.finalized:
            blocks = audit.extrinsic_blocks.get(sent.tx_hash)
            if blocks is None:
                result.lost.append(sent)
            elif blocks != [sent.block_number] or reference[sent.block_number] != sent.block_hash:
                result.misplaced.append(sent)
        # Kill every node at once, then open each database as a restarting node would.
        for node in validators:
            node.kill9()
        genesis = reference[0]
        for node in validators:
            db_path = node.base / "chains" / "local_testnet" / "db"
            try:
                with BlockStore.open(db_path, genesis, pruning="archive") as store:  # as the nodes ran
                    final = store.finalized
                    assert final is not None and final.number >= height, f"finalized {final} below #{height}"
                    for n in range(height + 1):
                        assert store.hash_at(n) == reference[n], f"height {n} differs"
                result.databases_checked += 1
            except Exception as e:  # noqa: BLE001 - recorded and asserted on
                result.database_errors.append(f"{node.name}: {type(e).__name__}: {e}")
    result.wall_seconds = time.monotonic() - started
    return result
