"""Transaction floods against one real `gradchain node --dev` process.

The flood (`run_flood`, shared with `benchmarks/flood_report.py`): many pre-funded senders' transfers, all
signed in advance, mixed with transactions whose signature is broken, duplicates of transactions just
accepted, and transactions whose nonce is far ahead of the sender's, pushed over several gRPC channels at
once (one thread per channel, one request in flight per thread). While it runs, a sampler reads the node's
Prometheus gauges and its RSS from /proc. What it proves:
- the pool stays within `PoolLimits` (count and bytes) at every sample, and the node's RSS stays bounded;
- the node keeps finalizing blocks throughout;
- every valid transfer ends up in the chain exactly once: each one the pool accepted, or resubmitted after
  a PoolFull rejection or an eviction, is found by scanning the blocks, and each sender's nonce ends at
  its number of transfers;
- broken signatures are refused as BadProof, duplicates as AlreadyImported (or Stale once included), and
  nothing with a broken signature or a far-future nonce is ever included.

The peer that spams garbage is in test_peer_spam.py.
"""

from __future__ import annotations

import random
import re
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from chain.client import ClientError, NodeClient, transfer_call
from chain.node.launcher import free_ports
from chain.primitives.crypto import Keypair, dev_keypair
from chain.primitives.extrinsic import UncheckedExtrinsic, sign_extrinsic
from chain.primitives.hashing import blake2_256
from chain.txpool import PoolLimits
from tests.faults.cluster import wait_until
from tests.integration.harness import Network as ProcessNetwork
from tests.integration.harness import NodeProcess, head_or_zero

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UNIT = 10**12
FUNDERS = ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")
SENDER_FUNDS = 1_000 * UNIT
FUNDING_BATCH = 128  # per funder and batch: below the pool's 256 per sender
LIMITS = PoolLimits()
CI_COUNT = 20_000


# --- the plan: every transaction signed before the first is sent ---------------------------------------


@dataclass
class Item:
    kind: str  # valid | bad_sig | duplicate | future
    raw: bytes
    sender: int
    nonce: int


@dataclass
class FloodPlan:
    senders: list[Keypair]
    valid: list[list[bytes]]  # per sender, in nonce order from 0
    lanes: list[list[Item]]  # one list per submitting thread; a sender's valid items in nonce order

    @property
    def items(self) -> int:
        return sum(len(lane) for lane in self.lanes)


def broken_signature(raw: bytes) -> bytes:
    xt = UncheckedExtrinsic.decode(raw)
    sig = bytearray(xt.signature.signature)
    sig[7] ^= 0x5A
    return replace(xt, signature=replace(xt.signature, signature=bytes(sig))).encode()


MIX = {"valid": 45, "bad_sig": 5, "duplicate": 5, "future": 45}  # percent; futures alone overfill the pool


def plan_flood(
    count: int,
    genesis: bytes,
    spec_version: int,
    tx_version: int,
    lanes: int = 8,
    per_sender: int = 64,
    seed: int = 7,
) -> FloodPlan:
    """`count` submissions mixed as MIX says. A sender's futures have nonces from its transfer count + 10 on,
    so they can never become ready; there are enough of them to fill the pool to `max_count` and beyond."""
    rng = random.Random(seed)
    n_valid = count * MIX["valid"] // 100
    n_senders = max(lanes, -(-n_valid // per_sender))
    senders = [
        Keypair.from_seed(blake2_256(b"flood-sender" + i.to_bytes(4, "little"))) for i in range(n_senders)
    ]
    sinks = [dev_keypair(n).public for n in FUNDERS]

    def sign(who: int, nonce: int, amount: int) -> bytes:
        call = transfer_call(sinks[(who + nonce) % len(sinks)], amount)
        return sign_extrinsic(
            senders[who],
            call,
            nonce=nonce,
            spec_version=spec_version,
            tx_version=tx_version,
            genesis_hash=genesis,
        ).encode()

    valid = [
        [sign(s, n, 1_000 + n) for n in range(n_valid // n_senders + (s < n_valid % n_senders))]
        for s in range(n_senders)
    ]
    plan = FloodPlan(senders, valid, [[] for _ in range(lanes)])
    extras = {"bad_sig": count * MIX["bad_sig"] // 100, "duplicate": count * MIX["duplicate"] // 100}
    extras["future"] = count - n_valid - extras["bad_sig"] - extras["duplicate"]
    kinds = [k for k, n in extras.items() for _ in range(n)]
    rng.shuffle(kinds)
    for lane_no, lane in enumerate(plan.lanes):
        mine = range(lane_no, n_senders, lanes)
        for nonce in range(max(len(valid[s]) for s in mine)):
            lane.extend(Item("valid", valid[s][nonce], s, nonce) for s in mine if nonce < len(valid[s]))
    futures = Counter()
    # Spread the other kinds over the lanes, each right after a random valid item of the same lane.
    for i, kind in enumerate(kinds):
        lane = plan.lanes[i % lanes]
        at = rng.randrange(len(lane))
        while lane[at].kind != "valid":
            at = rng.randrange(len(lane))
        base = lane[at]
        if kind == "bad_sig":
            raw, nonce = broken_signature(base.raw), base.nonce
        elif kind == "duplicate":
            raw, nonce = base.raw, base.nonce
        else:
            nonce = len(valid[base.sender]) + 10 + futures[base.sender]
            futures[base.sender] += 1
            raw = sign(base.sender, nonce, 7_000 + i)
        lane.insert(at + 1, Item(kind, raw, base.sender, nonce))
    return plan


# --- watching the node -----------------------------------------------------------------------------------


@dataclass
class Sample:
    at: float
    height: int
    ready: int
    future: int
    pool_bytes: int
    rss_kib: int


GAUGE = re.compile(r"^(gradchain_[a-z_]+) ([0-9.e+-]+)$", re.M)


def read_gauges(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return {m.group(1): float(m.group(2)) for m in GAUGE.finditer(resp.read().decode())}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """Reads the pool gauges, the finalized height and the RSS every `interval` seconds until stopped."""

    def __init__(self, node: NodeProcess, interval: float = 0.25, max_samples: int = 20_000):
        super().__init__(daemon=True)
        self.node, self.interval, self.max_samples = node, interval, max_samples
        self.samples: list[Sample] = []
        self.errors = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set() and len(self.samples) < self.max_samples:
            try:
                g = read_gauges(self.node.prometheus)
                self.samples.append(
                    Sample(
                        time.monotonic(),
                        int(g["gradchain_block_height_finalized"]),
                        int(g["gradchain_txpool_ready"]),
                        int(g["gradchain_txpool_future"]),
                        int(g["gradchain_txpool_bytes"]),
                        rss_kib(self.node.proc.pid),
                    )
                )
            except (OSError, KeyError, ValueError):
                self.errors += 1
            self.halt.wait(self.interval)

    def stop(self) -> list[Sample]:
        self.halt.set()
        self.join(10)
        return self.samples


def longest_stall(samples: list[Sample]) -> float:
    """The longest time the finalized height stood still between samples."""
    worst, since = 0.0, None
    for prev, cur in zip(samples, samples[1:], strict=False):
        if cur.height == prev.height:
            since = prev.at if since is None else since
            worst = max(worst, cur.at - since)
        else:
            since = None
    return worst


# --- submitting ------------------------------------------------------------------------------------------


def rejection(e: ClientError) -> str:
    """The typed reason of a refused submission ("BadProof", "PoolFull", ...), or "unreachable"."""
    text = str(e)
    if text.startswith("FAILED_PRECONDITION: "):
        return text.removeprefix("FAILED_PRECONDITION: ").split(":", 1)[0]
    return "unreachable" if "unreachable" in text else text.split(":", 1)[0]


@dataclass
class LaneResult:
    outcomes: Counter = field(default_factory=Counter)  # (kind, "accepted" | reason)
    accepted_valid: set[bytes] = field(default_factory=set)
    accepted_future: set[bytes] = field(default_factory=set)


def submit_lane(address: str, lane: list[Item], deadline: float) -> LaneResult:
    result = LaneResult()
    accepted_here: set[bytes] = set()
    with NodeClient(address, timeout=10.0) as client:
        for item in lane:
            if time.monotonic() > deadline:
                result.outcomes[(item.kind, "not sent: out of time")] += 1
                continue
            tx_hash = blake2_256(item.raw)
            if item.kind == "duplicate" and tx_hash not in accepted_here:
                result.outcomes[("duplicate", "not sent: its original was refused")] += 1
                continue
            try:
                client.submit(item.raw)
                outcome = "accepted"
            except ClientError as e:
                outcome = rejection(e)
            result.outcomes[(item.kind, outcome)] += 1
            if outcome == "accepted":
                accepted_here.add(tx_hash)
                if item.kind == "valid":
                    result.accepted_valid.add(tx_hash)
                elif item.kind == "future":
                    result.accepted_future.add(tx_hash)
    return result


@dataclass
class FloodResult:
    count: int = 0
    senders: int = 0
    lanes: int = 0
    outcomes: Counter = field(default_factory=Counter)
    samples: list[Sample] = field(default_factory=list)
    sampler_errors: int = 0
    flood_seconds: float = 0.0
    settle_seconds: float = 0.0
    wall_seconds: float = 0.0
    head_before: int = 0
    head_after_flood: int = 0
    head_final: int = 0
    resubmitted: Counter = field(default_factory=Counter)  # after_pool_full | after_eviction
    accepted_valid: set[bytes] = field(default_factory=set)
    valid_hashes: set[bytes] = field(default_factory=set)
    never_included_hashes: set[bytes] = field(default_factory=set)  # broken signatures and futures
    lost: list[bytes] = field(default_factory=list)  # accepted valid transfers not in the chain
    missing: list[bytes] = field(default_factory=list)  # valid transfers not in the chain at all
    included_twice: list[bytes] = field(default_factory=list)
    wrongly_included: list[bytes] = field(default_factory=list)
    wrong_nonces: list[tuple[int, int, int]] = field(default_factory=list)  # (sender, nonce, expected)
    extrinsics_in_chain: int = 0
    rss_start_kib: int = 0
    rss_end_kib: int = 0

    @property
    def over_bounds(self) -> list[Sample]:
        return [
            x
            for x in self.samples
            if x.ready + x.future > LIMITS.max_count or x.pool_bytes > LIMITS.max_bytes
        ]

    def reasons(self, kind: str) -> Counter:
        return Counter({reason: n for (k, reason), n in self.outcomes.items() if k == kind})

    def summary(self) -> dict:
        s = self.samples
        return {
            "submissions": self.count,
            "senders": self.senders,
            "grpc_channels": self.lanes,
            "outcomes": {
                kind: dict(self.reasons(kind)) for kind in ("valid", "bad_sig", "duplicate", "future")
            },
            "resubmitted": dict(self.resubmitted),
            "flood_seconds": round(self.flood_seconds, 1),
            "submissions_per_second": round(self.count / self.flood_seconds, 1) if self.flood_seconds else 0,
            "settle_seconds": round(self.settle_seconds, 1),
            "wall_seconds": round(self.wall_seconds, 1),
            "blocks_during_flood": self.head_after_flood - self.head_before,
            "blocks_total": self.head_final - self.head_before,
            "longest_stall_seconds": round(longest_stall(s), 2),
            "valid_transfers": len(self.valid_hashes),
            "valid_included": len(self.valid_hashes) - len(self.missing),
            "accepted_valid_lost": len(self.lost),
            "included_twice": len(self.included_twice),
            "invalid_included": len(self.wrongly_included),
            "senders_with_wrong_nonce": len(self.wrong_nonces),
            "pool_max_count": max((x.ready + x.future for x in s), default=0),
            "pool_max_ready": max((x.ready for x in s), default=0),
            "pool_max_future": max((x.future for x in s), default=0),
            "pool_max_bytes": max((x.pool_bytes for x in s), default=0),
            "pool_limits": {"max_count": LIMITS.max_count, "max_bytes": LIMITS.max_bytes},
            "pool_samples_over_bounds": len(self.over_bounds),
            "rss_start_mib": round(self.rss_start_kib / 1024, 1),
            "rss_max_mib": round(max((x.rss_kib for x in s), default=0) / 1024, 1),
            "rss_end_mib": round(self.rss_end_kib / 1024, 1),
            "samples": len(s),
            "sampler_errors": self.sampler_errors,
        }


def fund_senders(client: NodeClient, senders: list[Keypair], timeout: float) -> None:
    """Transfers from the six dev accounts, at most FUNDING_BATCH per funder in flight, then wait for them."""
    funders = [dev_keypair(n) for n in FUNDERS]
    deadline = time.monotonic() + timeout
    for start in range(0, len(senders), FUNDING_BATCH * len(funders)):
        batch = senders[start : start + FUNDING_BATCH * len(funders)]
        nonces = {f.public: client.account(f.ss58()).next_index for f in funders}
        for i, sender in enumerate(batch):
            funder = funders[i % len(funders)]
            client.submit(
                client.sign(funder, transfer_call(sender.public, SENDER_FUNDS), nonce=nonces[funder.public])
            )
            nonces[funder.public] += 1
        for funder in funders:
            wait_until(
                lambda f=funder, n=nonces[funder.public]: client.account(f.ss58()).nonce >= n,
                max(1.0, deadline - time.monotonic()),
                f"funding from {funder.ss58()[:8]} to be included",
            )


def settle(client: NodeClient, plan: FloodPlan, result: FloodResult, timeout: float) -> None:
    """Until every sender's nonce reaches its transfer count: resubmit what is missing from both chain and pool
    (refused for PoolFull, or evicted after acceptance)."""
    deadline = time.monotonic() + timeout
    pending = set(range(len(plan.senders)))
    while pending and time.monotonic() < deadline:
        for s in sorted(pending):
            acc = client.account("0x" + plan.senders[s].public.hex())
            target = len(plan.valid[s])
            if acc.nonce >= target:
                pending.discard(s)
                continue
            for raw in plan.valid[s][acc.next_index : target]:
                try:
                    client.submit(raw)
                except ClientError as e:
                    if rejection(e) == "PoolFull":
                        break
                    continue  # AlreadyImported / Stale: it is there, or was just included
                why = "after_eviction" if blake2_256(raw) in result.accepted_valid else "after_pool_full"
                result.resubmitted[why] += 1
        if pending:
            time.sleep(0.5)


def audit_chain(client: NodeClient, plan: FloodPlan, result: FloodResult, first: int, last: int) -> None:
    seen: Counter = Counter()
    for n in range(first, last + 1):
        for raw in client.block(number=n).extrinsics:
            seen[blake2_256(bytes(raw))] += 1
    result.extrinsics_in_chain = sum(seen.values())
    result.missing = [h for h in result.valid_hashes if h not in seen]
    result.lost = [h for h in result.accepted_valid if h not in seen]
    result.included_twice = [h for h, n in seen.items() if n > 1]
    result.wrongly_included = [h for h in result.never_included_hashes if h in seen]
    for s, key in enumerate(plan.senders):
        nonce = client.account("0x" + key.public.hex()).nonce
        if nonce != len(plan.valid[s]):
            result.wrong_nonces.append((s, nonce, len(plan.valid[s])))


def run_flood(
    tmp: Path,
    count: int,
    lanes: int = 8,
    flood_timeout: float = 600.0,
    settle_timeout: float = 300.0,
    progress=None,
) -> FloodResult:
    """Start a dev node, fund the senders, flood it with `count` submissions, settle, audit; see the docstring."""
    say = progress or (lambda _msg: None)
    started = time.monotonic()
    result = FloodResult(count=count, lanes=lanes)
    net = ProcessNetwork(tmp, chain="dev")
    node = net.nodes[0]
    node.prometheus = free_ports(1)[0]
    node.extra = [*node.extra, "--dev", "-l", "warn"]
    with net:
        net.wait_height([node], 1, timeout=60)
        with NodeClient(node.grpc_addr, timeout=30.0) as client:
            p = client.params()
            plan = plan_flood(count, p.genesis_hash, p.spec_version, p.transaction_version, lanes=lanes)
            result.senders = len(plan.senders)
            result.valid_hashes = {blake2_256(raw) for txs in plan.valid for raw in txs}
            result.never_included_hashes = {
                blake2_256(i.raw) for lane in plan.lanes for i in lane if i.kind in ("bad_sig", "future")
            }
            say(f"planned {plan.items} submissions from {len(plan.senders)} senders; funding them")
            fund_senders(client, plan.senders, timeout=180)
            first_block = head_or_zero(node) + 1

            sampler = Sampler(node)
            sampler.start()
            result.rss_start_kib = rss_kib(node.proc.pid)
            result.head_before = head_or_zero(node)
            flood_started = time.monotonic()
            lane_results: list[LaneResult | None] = [None] * lanes

            def work(i: int) -> None:
                lane_results[i] = submit_lane(node.grpc_addr, plan.lanes[i], flood_started + flood_timeout)

            threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(lanes)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(flood_timeout + 30)
            result.flood_seconds = time.monotonic() - flood_started
            result.head_after_flood = head_or_zero(node)
            for lane in lane_results:
                if lane is not None:
                    result.outcomes += lane.outcomes
                    result.accepted_valid |= lane.accepted_valid
            say(f"flood done in {result.flood_seconds:.1f}s; settling")

            settle_started = time.monotonic()
            settle(client, plan, result, settle_timeout)
            result.settle_seconds = time.monotonic() - settle_started
            time.sleep(1.0)
            result.samples = sampler.stop()
            result.sampler_errors = sampler.errors
            result.rss_end_kib = rss_kib(node.proc.pid)
            result.head_final = head_or_zero(node)
            audit_chain(client, plan, result, first_block, result.head_final)
    result.wall_seconds = time.monotonic() - started
    return result


def test_flood_stays_within_pool_bounds_keeps_producing_blocks_and_includes_every_valid_transfer(tmp_path):
    result = run_flood(tmp_path, CI_COUNT, flood_timeout=240, settle_timeout=180)
    summary = result.summary()
    assert result.samples and result.sampler_errors < len(result.samples) // 10, summary

    assert not result.over_bounds, result.over_bounds[:5]
    assert summary["rss_max_mib"] < summary["rss_start_mib"] + 512, summary

    assert result.head_after_flood >= result.head_before + 5, summary
    assert longest_stall(result.samples) < 15.0, summary

    assert not result.lost, [h.hex() for h in result.lost[:5]]
    assert not result.missing, summary
    assert not result.wrong_nonces, result.wrong_nonces[:5]
    assert not result.included_twice, summary
    assert not result.wrongly_included, summary

    assert set(result.reasons("bad_sig")) == {"BadProof"}, summary
    assert set(result.reasons("duplicate")) <= {
        "AlreadyImported",
        "Stale",
        "not sent: its original was refused",
    }
    assert result.reasons("duplicate")["AlreadyImported"] > 0, summary
    assert set(result.reasons("valid")) <= {"accepted", "PoolFull"}, summary
    assert set(result.reasons("future")) <= {"accepted", "PoolFull"}, summary
    assert result.reasons("future")["accepted"] > 0, summary
