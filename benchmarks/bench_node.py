"""Node benchmarks on real node processes on loopback; prints one JSON object.

A four-validator `local` chain (tests/integration/harness.py) runs with the default idle block interval
(2.0 s) and `--min-block-interval 0.25` (`--min-block-interval 0` for proposals right after each commit)
throughout, so one network gives every figure:

- `idle`: the interval between empty blocks when nothing is submitted (should be about the idle interval).
- `load`: for each offered rate (transfers/s) a bounded run of pre-signed `transfer_keep_alive`s from fresh
  funded senders, submitted over gRPC with at most `MAX_IN_FLIGHT` calls outstanding per node (half the node's
  default `--grpc-max-calls-per-ip`, so no call is refused for the client's own concurrency). Each sender's
  transfers go, in nonce order, to one validator (senders are spread round-robin over the four), so a
  transfer never reaches a node before its predecessor. Finality is observed on Alice's
  `SubscribeFinalizedHeads` stream; each finalized block is fetched with `GetBlock` and every submitted
  transfer in it gets its latency (finalized head received - submit call made). Reported per run: offered
  and achieved submit rates, rejections grouped by the pool's reason, transfers accepted but not final
  after the drain window, latency p50/p99 and the block interval while transfers were waiting.
- `sustained_finalized_tps`: the best finalized-transfers-per-second over the runs (the plateau; the
  highest offered rate is above what the chain can take on this machine).
- `sync`: a 1,000-block `local` chain (each block carrying a few transfers and a commit certificate signed
  by all four validators) is written in-process, served by one non-validator node, and a fresh node syncs
  it from genesis, verifying every certificate and re-executing every block; blocks/s is measured from
  its first imported block to its last.

Everything binds 127.0.0.1; every loop is bounded in count and time. `--quick` shortens the runs.
`--profile DIR` runs the validators under cProfile (stopped with SIGTERM so the profiles are written).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chain.client import transfer_call  # noqa: E402
from chain.node.chain_state import ChainState  # noqa: E402
from chain.node.config import NodeConfig  # noqa: E402
from chain.node.storage_setup import open_chain_database  # noqa: E402
from chain.primitives.crypto import Keypair, dev_keypair  # noqa: E402
from chain.primitives.extrinsic import sign_extrinsic  # noqa: E402
from chain.primitives.hashing import blake2_256  # noqa: E402
from consensus.certificate import CommitCertificate  # noqa: E402
from consensus.types import SignedVote, Vote, VoteType  # noqa: E402
from consensus.validators import ValidatorSet  # noqa: E402
from proto import chain_pb2, chain_pb2_grpc  # noqa: E402
from runtime.chain_spec import load_chain_spec  # noqa: E402
from runtime.pallets import staking  # noqa: E402
from tests.integration.harness import Network, NodeProcess, free_ports  # noqa: E402

IDLE_BLOCK_INTERVAL = 2.0
# Validators wait this long after a commit before proposing, so that a block carries what arrived meanwhile:
# on 2 cores the per-block work (votes, WAL and guard writes, state root, block gossip) otherwise bounds the
# rate (docs/throughput.md).
MIN_BLOCK_INTERVAL = 0.25
RATES = (50, 500, 2_000)
RUN_SECONDS = {50: 15.0, 500: 12.0, 2_000: 10.0}
SENDERS_PER_RUN = 128
MAX_IN_FLIGHT = 256  # per node
DRAIN_SECONDS = 60.0
SETTLE_SECONDS = 3.0
IDLE_BLOCKS = 6
SYNC_BLOCKS = 1_000
SYNC_TRANSFERS_PER_BLOCK = 5
SYNC_TIMEOUT = 300.0
SYNC_REPEATS = 3
UNIT = 10**12
FUNDERS = ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie", "Eve//stash", "Ferdie//stash")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], 3)


def channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 << 20)])


@dataclass
class FinalityWatcher:
    """Follows one node's finalized heads; records when each block and each extrinsic became final.

    The stream is read on a thread of its own and the blocks fetched on another, so a block is final at the
    moment its head arrived however long fetching the blocks before it took (fetching on the reading thread
    dated later heads late under load: p50 1.33 s against 0.09-0.24 s on a dev node). Heads the stream
    skipped are fetched by number and dated with the head that followed them."""

    address: str
    heads: list[tuple[int, float, int]] = field(default_factory=list)  # (number, received at, extrinsics)
    final_at: dict[bytes, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._channel = channel(self.address)
        self._stub = chain_pb2_grpc.ChainServiceStub(self._channel)
        self._stream = None
        self._lock = threading.Lock()
        self._arrived: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._fetcher = threading.Thread(target=self._fetch, daemon=True)

    def start(self) -> None:
        self._stream = self._stub.SubscribeFinalizedHeads(chain_pb2.Empty(), timeout=3_600)
        self._thread.start()
        self._fetcher.start()

    def stop(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
        self._thread.join(5)
        self._fetcher.join(5)
        self._channel.close()

    def _run(self) -> None:
        try:
            for header in self._stream:
                self._arrived.put((header.number, time.monotonic()))
        except grpc.RpcError as e:
            if e.code() is not grpc.StatusCode.CANCELLED:
                raise
        finally:
            self._arrived.put(None)

    def _fetch(self) -> None:
        last = None
        while (item := self._arrived.get()) is not None:
            number, received = item
            for n in range(number if last is None else last + 1, number + 1):
                block = self._stub.GetBlock(chain_pb2.BlockRequest(number=n), timeout=30)
                with self._lock:
                    self.heads.append((n, received, len(block.extrinsics)))
                    for raw in block.extrinsics:
                        self.final_at[blake2_256(bytes(raw))] = received
            last = max(number, last or 0)

    def head(self) -> int:
        with self._lock:
            return self.heads[-1][0] if self.heads else 0

    def heads_between(self, start: float, end: float) -> list[tuple[int, float, int]]:
        with self._lock:
            return [h for h in self.heads if start <= h[1] <= end]


@dataclass
class Submission:
    """The outcome of one run's submit calls (written from gRPC callback threads under `lock`)."""

    sent_at: dict[bytes, float] = field(default_factory=dict)
    accepted: set[bytes] = field(default_factory=set)
    rejected: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def done(self, future, tx_hash: bytes) -> None:
        try:
            future.result()
            with self.lock:
                self.accepted.add(tx_hash)
        except grpc.RpcError as e:
            details = e.details() or e.code().name
            reason = (
                details.split(":", 1)[0] if e.code() is grpc.StatusCode.FAILED_PRECONDITION else e.code().name
            )
            with self.lock:
                self.rejected[reason] = self.rejected.get(reason, 0) + 1


def sender_keys(tag: str, count: int) -> list[Keypair]:
    return [Keypair.from_seed(blake2_256(f"bench-node/{tag}/{i}".encode())) for i in range(count)]


def sign_transfers(
    senders: list[Keypair],
    per_sender: int,
    params: chain_pb2.ChainInfo,
    nonces: list[int] | None = None,
    dest: bytes | None = None,
    amount: int = 10**9,
    dests: list[bytes] | None = None,
) -> list[tuple[int, bytes, bytes]]:
    """(sender index, raw, hash) in submission order: nonce k of every sender before nonce k + 1 of any."""
    out = []
    genesis = bytes(params.genesis_hash)
    for k in range(per_sender):
        for i, key in enumerate(senders):
            to = dests[(i * per_sender + k) % len(dests)] if dests else dest
            raw = sign_extrinsic(
                key,
                transfer_call(to, amount),
                nonce=(nonces[i] if nonces else 0) + k,
                spec_version=params.spec_version,
                tx_version=params.transaction_version,
                genesis_hash=genesis,
            ).encode()
            out.append((i, raw, blake2_256(raw)))
    return out


def submit_paced(
    stubs: list, txs: list[tuple[int, bytes, bytes]], rate: float
) -> tuple[Submission, float, float]:
    """Submit `txs` at `rate`/s (sender i to validator i % len(stubs)); returns the outcome, start and end."""
    result = Submission()
    in_flight = [threading.BoundedSemaphore(MAX_IN_FLIGHT) for _ in stubs]

    def release(future, tx_hash, node):
        result.done(future, tx_hash)
        in_flight[node].release()

    start = time.monotonic()
    deadline = start + len(txs) / rate * 3 + 10
    for n, (sender, raw, tx_hash) in enumerate(txs):
        wait = start + n / rate - time.monotonic()
        if wait > 0.002:
            time.sleep(wait)
        node = sender % len(stubs)
        if not in_flight[node].acquire(timeout=max(0.0, deadline - time.monotonic())):
            break
        with result.lock:
            result.sent_at[tx_hash] = time.monotonic()
        future = stubs[node].SubmitExtrinsic.future(chain_pb2.SubmitRequest(extrinsic=raw), timeout=60)
        future.add_done_callback(lambda f, h=tx_hash, i=node: release(f, h, i))
    end = time.monotonic()
    for semaphore in in_flight:  # wait for every outstanding call (bounded by the calls' own timeout)
        for _ in range(MAX_IN_FLIGHT):
            semaphore.acquire(timeout=60)
    return result, start, end


def wait_until(predicate, timeout: float, what: str, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def block_intervals(heads: list[tuple[int, float, int]]) -> list[float]:
    return [b[1] - a[1] for a, b in zip(heads, heads[1:], strict=False) if b[0] == a[0] + 1]


def measure_idle(watcher: FinalityWatcher) -> dict:
    start_head = watcher.head()
    wait_until(lambda: watcher.head() >= start_head + IDLE_BLOCKS + 1, IDLE_BLOCKS * 10 + 20, "idle blocks")
    heads = [h for h in watcher.heads_between(0, time.monotonic()) if h[0] > start_head]
    gaps = block_intervals(heads)
    return {
        "idle_block_interval_setting_s": IDLE_BLOCK_INTERVAL,
        "blocks": len(gaps),
        "empty_block_interval_median_s": round(statistics.median(gaps), 3),
        "empty_block_interval_mean_s": round(statistics.fmean(gaps), 3),
    }


def fund(stubs: list, watcher: FinalityWatcher, params, senders: list[Keypair]) -> None:
    """Give every sender 1,000 units from the dev accounts (funder j pays senders j, j + 8, ...)."""
    funders = [dev_keypair(n) for n in FUNDERS]
    txs = []
    genesis = bytes(params.genesis_hash)
    nonces = [next_index(stubs[0], f.public) for f in funders]
    for i, key in enumerate(senders):
        j = i % len(funders)
        raw = sign_extrinsic(
            funders[j],
            transfer_call(key.public, 1_000 * UNIT),
            nonce=nonces[j] + i // len(funders),
            spec_version=params.spec_version,
            tx_version=params.transaction_version,
            genesis_hash=genesis,
        ).encode()
        txs.append((j, raw, blake2_256(raw)))
    result, _, _ = submit_paced(stubs[:1], txs, rate=2_000)
    if result.rejected:
        raise RuntimeError(f"funding transfers rejected: {result.rejected}")
    wait_until(lambda: all(h in watcher.final_at for _, _, h in txs), 120, "funding transfers to be final")


def next_index(stub, public: bytes) -> int:
    return stub.GetAccount(chain_pb2.AccountRequest(address="0x" + public.hex()), timeout=10).next_index


def load_run(
    stubs: list, watcher: FinalityWatcher, params, senders: list[Keypair], rate: float, seconds: float
) -> dict:
    count = int(rate * seconds)
    per_sender = math.ceil(count / len(senders))
    dests = [dev_keypair(n).public for n in FUNDERS[:6]]
    signed_at = time.perf_counter()
    txs = sign_transfers(senders, per_sender, params, dests=dests)[:count]
    signing_seconds = time.perf_counter() - signed_at
    result, start, end = submit_paced(stubs, txs, rate)
    accepted = set(result.accepted)
    deadline = time.monotonic() + DRAIN_SECONDS
    last_progress, last_done = time.monotonic(), -1
    while time.monotonic() < deadline:  # until all accepted are final, or 10 s pass without progress
        done = sum(1 for h in accepted if h in watcher.final_at)
        if done == len(accepted):
            break
        if done != last_done:
            last_progress, last_done = time.monotonic(), done
        elif time.monotonic() - last_progress > 10:
            break
        time.sleep(0.2)
    latencies = [watcher.final_at[h] - result.sent_at[h] for h in accepted if h in watcher.final_at]
    finals = [watcher.final_at[h] for h in accepted if h in watcher.final_at]
    heads = watcher.heads_between(start, max(finals) if finals else end)
    busy = [h for h in heads if h[2] > 1]  # blocks carrying transfers beside the timestamp inherent
    gaps = block_intervals(busy)
    submitted = len(result.sent_at)
    return {
        "offered_tps": rate,
        "duration_s": seconds,
        "transfers": count,
        "submitted": submitted,
        "submit_tps_achieved": round(submitted / max(end - start, 1e-9), 1),
        "accepted": len(accepted),
        "rejected": dict(sorted(result.rejected.items())),
        "accepted_not_finalized": len(accepted) - len(latencies),
        "finalized": len(latencies),
        "finalized_tps": round(len(latencies) / max((max(finals) if finals else end) - start, 1e-9), 1),
        "latency_p50_s": percentile(latencies, 0.50),
        "latency_p99_s": percentile(latencies, 0.99),
        "latency_max_s": percentile(latencies, 1.0),
        "blocks": len(busy),
        "max_transfers_per_block": max((h[2] - 1 for h in busy), default=0),
        "busy_block_interval_median_s": round(statistics.median(gaps), 3) if gaps else None,
        "busy_block_interval_p90_s": percentile(gaps, 0.9),
        "signing_s": round(signing_seconds, 2),
    }


# --- sync ------------------------------------------------------------------------------------------------------


def write_sync_source(base: Path, blocks: int, transfers_per_block: int) -> dict:
    """Write a `local` chain of `blocks` blocks with certificates signed by all four validators into `base`."""
    spec = load_chain_spec("local")
    runtime = spec.runtime()
    config = NodeConfig(chain="local", base_path=base)
    store = open_chain_database(config.chain_dir(spec.id) / "db", spec)
    chain = ChainState(store, runtime)
    validators = {dev_keypair(n).public: dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave")}
    senders = [dev_keypair(n) for n in ("Eve", "Ferdie")]
    nonces = [0] * len(senders)
    v = runtime.version
    started = time.perf_counter()
    now_ms = int(time.time() * 1000) - (blocks + 5) * 1_000
    for number in range(1, blocks + 1):
        xts = []
        for k in range(transfers_per_block):
            s = k % len(senders)
            xts.append(
                sign_extrinsic(
                    senders[s],
                    transfer_call(blake2_256(number.to_bytes(4, "little") + bytes([k])), UNIT),
                    nonce=nonces[s],
                    spec_version=v.spec_version,
                    tx_version=v.transaction_version,
                    genesis_hash=spec.genesis_hash,
                ).encode()
            )
            nonces[s] += 1
        executed = chain.build_block(xts, author=dev_keypair("Alice").public, now_ms=now_ms + number * 1_000)
        if executed.built.rejected:
            raise RuntimeError(f"sync source block #{number}: {executed.built.rejected[0][1]}")
        block_hash = executed.hash
        vset = ValidatorSet.of(staking.validator_set(chain.state_at(chain.head_hash)))
        vote = Vote(VoteType.PRECOMMIT, number, 0, block_hash)
        precommits = [SignedVote.sign(vote, validators[m.public], spec.genesis_hash) for m in vset.validators]
        cert = CommitCertificate.from_precommits(number, 0, block_hash, precommits, vset)
        chain.commit(executed, cert.encode())
    store.close()
    return {
        "blocks": blocks,
        "transfers_per_block": transfers_per_block,
        "write_s": round(time.perf_counter() - started, 2),
    }


def measure_sync(tmp: Path, repeats: int = SYNC_REPEATS) -> dict:
    """Sync the same source chain `repeats` times into fresh nodes; the median rate is the figure."""
    source_info = write_sync_source(tmp / "syncsource", SYNC_BLOCKS, SYNC_TRANSFERS_PER_BLOCK)
    runs = [sync_once(tmp, i) for i in range(repeats)]
    rates = [r["sync_blocks_per_s"] for r in runs]
    return {
        **source_info,
        "sync_blocks_per_s": statistics.median(rates),
        "sync_blocks_per_s_runs": rates,
        "sync_seconds_from_process_start": statistics.median(r["seconds"] for r in runs),
        "certificate_signatures_per_block": 4,
    }


def sync_once(tmp: Path, attempt: int) -> dict:
    ports = free_ports(6)
    source = NodeProcess("syncsource", tmp / "syncsource", "local", None, *ports[:3])
    fresh = NodeProcess(
        f"syncing{attempt}", tmp / f"syncing{attempt}", "local", None, *ports[3:], bootnodes=[source.p2p_addr]
    )
    try:
        source.start()
        with channel(source.grpc_addr) as ch:
            stub = chain_pb2_grpc.ChainServiceStub(ch)
            wait_until(lambda: _finalized(stub) >= SYNC_BLOCKS, 60, "the sync source to serve its chain", 0.2)
        started = time.monotonic()
        fresh.start()
        first = None
        with channel(fresh.grpc_addr) as ch:
            stub = chain_pb2_grpc.ChainServiceStub(ch)
            deadline = started + SYNC_TIMEOUT
            while time.monotonic() < deadline:
                head = _finalized(stub)
                if first is None and head > 0:
                    first = (head, time.monotonic())
                if head >= SYNC_BLOCKS:
                    break
                time.sleep(0.05)
            done = time.monotonic()
            head = _finalized(stub)
        if head < SYNC_BLOCKS or first is None:
            raise TimeoutError(f"the fresh node reached #{head} of {SYNC_BLOCKS} in {SYNC_TIMEOUT} s")
        return {
            "sync_blocks_per_s": round((SYNC_BLOCKS - first[0]) / max(done - first[1], 1e-9), 1),
            "seconds": round(done - started, 2),
        }
    finally:
        fresh.kill9()
        source.kill9()


def _finalized(stub) -> int:
    try:
        return stub.GetChainInfo(chain_pb2.Empty(), timeout=2).finalized_number
    except grpc.RpcError:
        return 0


# --- main ------------------------------------------------------------------------------------------------------


class ProfiledNode(NodeProcess):
    profile_dir: Path | None = None

    def args(self) -> list[str]:
        args = super().args()
        if self.profile_dir is None:
            return args
        return [args[0], "-m", "cProfile", "-o", str(self.profile_dir / f"{self.name}.prof"), *args[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (for a smoke test)")
    parser.add_argument("--profile", type=Path, help="write cProfile output of each validator here")
    parser.add_argument("--rates", type=lambda s: tuple(int(x) for x in s.split(",")), default=RATES)
    parser.add_argument("--skip-sync", action="store_true")
    parser.add_argument(
        "--min-block-interval",
        type=float,
        default=MIN_BLOCK_INTERVAL,
        help="the validators' --min-block-interval (0 proposes right after each commit)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = parser.parse_args()
    scale = 0.4 if args.quick else 1.0
    tmp = Path(tempfile.mkdtemp(prefix="bench-node-"))
    out: dict = {
        "machine_cpus": _cpus(),
        "validators": 4,
        "chain": "local",
        "idle_block_interval_s": IDLE_BLOCK_INTERVAL,
        "min_block_interval_s": args.min_block_interval,
    }
    try:
        net = Network(tmp)
        for i, node in enumerate(net.nodes):
            profiled = ProfiledNode(
                **{
                    f: getattr(node, f)
                    for f in ("name", "base", "chain", "key", "p2p", "grpc", "rpc", "bootnodes")
                }
            )
            profiled.extra = [
                "--idle-block-interval",
                str(IDLE_BLOCK_INTERVAL),
                "--min-block-interval",
                str(args.min_block_interval),
            ]
            profiled.profile_dir = args.profile
            net.nodes[i] = profiled
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        with net:
            validators = [n for n in net.nodes if n.key]
            net.wait_height(validators, 2, timeout=120)
            channels = [channel(n.grpc_addr) for n in validators]
            stubs = [chain_pb2_grpc.ChainServiceStub(c) for c in channels]
            params = stubs[0].GetChainInfo(chain_pb2.Empty(), timeout=10)
            watcher = FinalityWatcher(validators[0].grpc_addr)
            watcher.start()
            out["idle"] = measure_idle(watcher)
            senders = sender_keys("load", SENDERS_PER_RUN * len(args.rates))
            fund(stubs, watcher, params, senders)
            runs = []
            for k, rate in enumerate(args.rates):
                time.sleep(SETTLE_SECONDS)
                group = senders[k * SENDERS_PER_RUN : (k + 1) * SENDERS_PER_RUN]
                runs.append(
                    load_run(stubs, watcher, params, group, rate, RUN_SECONDS.get(rate, 10.0) * scale)
                )
            out["load"] = runs
            out["sustained_finalized_tps"] = max(r["finalized_tps"] for r in runs)
            light = runs[0]
            out["target_p50_le_1_5_s_at_light_load"] = (light["latency_p50_s"] or 1e9) <= 1.5
            busy = [r["busy_block_interval_median_s"] for r in runs if r["busy_block_interval_median_s"]]
            out["busy_block_interval_median_s"] = max(busy) if busy else None
            watcher.stop()
            for c in channels:
                c.close()
            if args.profile:
                for node in validators:
                    node.stop()
        if not args.skip_sync:
            out["sync"] = measure_sync(tmp)
    finally:
        if args.keep:
            out["tmp"] = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=2))


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)


if __name__ == "__main__":
    main()
