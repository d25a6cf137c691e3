"""End-to-end transfer throughput on real nodes on loopback, next to the runtime's and PyNaCl's; one JSON object.

Measured in one run, everything bound to 127.0.0.1:

- `raw_verifies_per_s`: PyNaCl Ed25519 verifications per second, and `runtime_transfers_per_s`: signed
  transfers applied per second by the runtime in a 5,000-transfer block (both from bench_runtime.measure,
  taken before any node starts).
- For each target, a `--dev` node (one process, Alice alone) and the four-validator `local` chain
  (tests/integration/harness.py), and each transport, gRPC `SubmitExtrinsic` and JSON-RPC
  `author_submitExtrinsic` over WebSocket: bursts of `--count` pre-signed `transfer_keep_alive`s from
  `--senders` funded senders, each timed from its first submission to the finalization of its last accepted
  transfer. Each sender's transfers reach one node (sender i goes to validator i % 4) in nonce order: over
  gRPC each sender has one call in flight and sends its next nonce when the previous is answered (stopping
  at its first refusal); over WebSocket the calls are pipelined, up to WS_WINDOW in flight on each of
  WS_SOCKETS sockets per node, every sender on one socket, which the node answers in order. Latency is submit
  call made -> finalized head received on Alice's `SubscribeFinalizedHeads` stream (bench_node's
  FinalityWatcher, which reads the stream on its own thread so that fetching blocks does not delay the heads).
  After each burst the finalized blocks are scanned by number and every extrinsic counted by hash: `lost` is
  an accepted transfer, with no refused nonce before it, that is not final after the drain;
  `included_twice` one found twice. An unreported warm-up burst of WARMUP_TRANSFERS goes first; then
  `--repeats` rounds of one burst per transport, and `transfers_per_s` is the median over the rounds
  (each burst's rate is listed beside it), latency percentiles are over all of a condition's transfers.
- The same rounds after a parked far-future flood (`flood`): FLOOD_SENDERS other funded accounts submit
  `--flood` transfers (over gRPC, so the pool's reason text comes back) with nonces from FLOOD_NONCE on,
  which can never become ready. The pool keeps them in its future share (PoolLimits.max_future_count) and
  refuses the rest as PoolFull "the future queue is full"; `far_future_flood` gives the parked and refused
  counts and each validator's future gauge (Prometheus) afterwards (on `local`, `parked` sums what each
  validator accepted from the flood senders submitting to it; a gauge also counts what reached that
  validator by gossip). The flood is submitted once, after the clean rounds, and stays parked for the
  flood rounds.
- `idle_cpu_percent`: CPU time (utime + stime from /proc/PID/stat) over IDLE_CPU_SECONDS of an idle dev node
  and of one idle local validator, measured after start-up and before any transfer; and for each target
  `idle_cpu_percent_with_flood_parked`, the same, as long again after the last burst, the flood still
  parked in the pool.
- `ratios`: dev clean rate / runtime rate, node rates / raw verifies per second, flood rate / clean rate.

Nodes run with `--idle-block-interval` 2.0 (the node's default; a proposer with transactions builds at once)
and `-l warn`; warnings and errors in their logs are counted in `node_log_problems`. Every loop is bounded in
time and count. The exit status is 1 when anything accepted is lost or included twice, or a far-future
transfer is included.

Run: `python benchmarks/bench_throughput.py` (a few minutes on two cores), `--quick` for a smoke run,
`--targets dev`, `--transport ws`, `--count 5000`, `--repeats 5`, `--keep` to keep the node logs.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import queue
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_node import (  # noqa: E402
    FUNDERS,
    FinalityWatcher,
    Submission,
    channel,
    fund,
    next_index,
    percentile,
    sender_keys,
    sign_transfers,
)
from benchmarks.bench_runtime import measure as measure_runtime  # noqa: E402
from chain.primitives.crypto import Keypair, dev_keypair  # noqa: E402
from chain.primitives.hashing import blake2_256  # noqa: E402
from proto import chain_pb2, chain_pb2_grpc  # noqa: E402
from tests.faults.test_floods import read_gauges  # noqa: E402
from tests.integration.harness import Network, NodeProcess, free_ports  # noqa: E402

IDLE_BLOCK_INTERVAL = 2.0
START_TIMEOUT = 120.0
IDLE_CPU_SECONDS = 10.0
FUNDING_CHUNK = 384  # senders funded per round: 48 per funder, far below the pool's 256 per sender
FLOOD_SENDERS = 16
FLOOD_NONCE = 1_000
WS_SOCKETS = 2  # per node
WS_WINDOW = 256  # requests in flight per socket
SUBMIT_TIMEOUT = 60.0  # per call
BURST_SECONDS = 300.0  # the most one burst's submissions may take
DRAIN_SECONDS = 120.0  # the most the finality wait may take after the last submission
DRAIN_STALL_SECONDS = 15.0  # ...or this long without a transfer becoming final
SETTLE_SECONDS = 2.0
WARMUP_TRANSFERS = 500  # one unreported burst first, so the first measured one does not pay for a cold node
WS_ERRORS = {1013: "AlreadyImported", 1014: "TooLowPriority", 1016: "PoolFull"}
LOG_PROBLEM = re.compile(r" (WARNING|ERROR|CRITICAL) |Traceback")


class NodeStartError(RuntimeError):
    """A node exited or did not finalize a block within START_TIMEOUT."""


@dataclass
class Target:
    """Running nodes of one chain, with a gRPC stub and a WebSocket URL for each validator."""

    name: str
    net: Network
    validators: list[NodeProcess]
    channels: list[grpc.Channel]
    stubs: list
    params: chain_pb2.ChainInfo
    watcher: FinalityWatcher

    @property
    def ws_urls(self) -> list[str]:
        return [f"ws://127.0.0.1:{n.rpc}" for n in self.validators]

    def close(self) -> None:
        self.watcher.stop()
        for c in self.channels:
            c.close()


# --- nodes -----------------------------------------------------------------------------------------------------


def start_target(name: str, tmp: Path) -> Target:
    net = Network(tmp / name, chain=name, idle_block_interval=IDLE_BLOCK_INTERVAL)
    for node in net.nodes:
        node.prometheus = free_ports(1)[0]
        node.extra = [*node.extra, *(["--dev"] if name == "dev" else []), "-l", "warn"]
    net.__enter__()
    validators = [n for n in net.nodes if n.key]
    try:
        wait_started(validators)
    except BaseException:
        net.__exit__(None, None, None)
        raise
    channels = [channel(n.grpc_addr) for n in validators]
    stubs = [chain_pb2_grpc.ChainServiceStub(c) for c in channels]
    params = stubs[0].GetChainInfo(chain_pb2.Empty(), timeout=10)
    watcher = FinalityWatcher(validators[0].grpc_addr)
    watcher.start()
    return Target(name, net, validators, channels, stubs, params, watcher)


def wait_started(nodes: list[NodeProcess]) -> None:
    """Until every node has finalized block 1; a node that exits or is late is a NodeStartError with its log."""
    deadline = time.monotonic() + START_TIMEOUT
    waiting = list(nodes)
    while waiting:
        for node in list(waiting):
            if node.proc.poll() is not None:
                raise NodeStartError(
                    f"node {node.name} exited with status {node.proc.returncode} while starting:\n"
                    f"{node.log_tail()}"
                )
            if finalized_number(node) >= 1:
                waiting.remove(node)
        if waiting and time.monotonic() > deadline:
            tails = "\n".join(f"--- {n.name} ---\n{n.log_tail()}" for n in waiting)
            raise NodeStartError(
                f"{[n.name for n in waiting]} finalized no block in {START_TIMEOUT:.0f} s:\n{tails}"
            )
        time.sleep(0.25)


def finalized_number(node: NodeProcess) -> int:
    try:
        with channel(node.grpc_addr) as ch:
            return (
                chain_pb2_grpc.ChainServiceStub(ch)
                .GetChainInfo(chain_pb2.Empty(), timeout=2)
                .finalized_number
            )
    except grpc.RpcError:
        return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def idle_cpu_percent(node: NodeProcess, seconds: float) -> float:
    before, started = cpu_seconds(node.proc.pid), time.monotonic()
    time.sleep(seconds)
    return round(100 * (cpu_seconds(node.proc.pid) - before) / (time.monotonic() - started), 2)


def log_problems(target: Target) -> dict:
    """Warning, error and traceback lines in the target's node logs: a count and a few distinct samples."""
    count, samples = 0, []
    for node in target.validators:
        if not node.log_path.exists():
            continue
        for line in node.log_path.read_text(errors="replace").splitlines():
            if LOG_PROBLEM.search(line):
                count += 1
                text = f"{node.name}: {line[24:] if line[:2].isdigit() else line}"[:300]
                if len(samples) < 8 and text not in samples:
                    samples.append(text)
    return {"lines": count, "samples": samples}


def future_gauge(target: Target) -> list[int]:
    out = []
    for node in target.validators:
        try:
            out.append(int(read_gauges(node.prometheus)["gradchain_txpool_future"]))
        except (OSError, KeyError, ValueError):
            out.append(-1)
    return out


# --- submitting ------------------------------------------------------------------------------------------------


def grpc_reason(e: grpc.RpcError) -> str:
    """The pool's reason ("PoolFull: the future queue is full", "Stale", ...) or the gRPC status name."""
    if e.code() is not grpc.StatusCode.FAILED_PRECONDITION:
        return e.code().name
    name, _, text = (e.details() or "").partition(": ")
    return f"{name}: {text.split(' (', 1)[0]}" if name == "PoolFull" else name


def submit_grpc(stubs: list, txs: list[tuple[int, bytes, bytes]], stop_on_refusal: bool) -> Submission:
    """Each sender's transfers in the given order, one call in flight per sender (sender i to stubs[i % n])."""
    per_sender: dict[int, list[tuple[bytes, bytes]]] = {}
    for sender, raw, tx_hash in txs:
        per_sender.setdefault(sender, []).append((raw, tx_hash))
    lines = {s: iter(items) for s, items in per_sender.items()}
    result = Submission()
    answered: queue.Queue[tuple[int, bool]] = queue.Queue()

    def on_done(future, sender: int, tx_hash: bytes) -> None:
        try:
            future.result()
            with result.lock:
                result.accepted.add(tx_hash)
            answered.put((sender, True))
        except grpc.RpcError as e:
            reason = grpc_reason(e)
            with result.lock:
                result.rejected[reason] = result.rejected.get(reason, 0) + 1
            answered.put((sender, False))

    def send(sender: int) -> bool:
        item = next(lines[sender], None)
        if item is None:
            return False
        raw, tx_hash = item
        with result.lock:
            result.sent_at[tx_hash] = time.monotonic()
        future = stubs[sender % len(stubs)].SubmitExtrinsic.future(
            chain_pb2.SubmitRequest(extrinsic=raw), timeout=SUBMIT_TIMEOUT
        )
        future.add_done_callback(lambda f: on_done(f, sender, tx_hash))
        return True

    in_flight = sum(send(s) for s in lines)
    deadline = time.monotonic() + BURST_SECONDS
    while in_flight and time.monotonic() < deadline:
        try:
            sender, accepted = answered.get(timeout=1.0)
        except queue.Empty:
            continue
        in_flight -= 1
        if accepted or not stop_on_refusal:
            in_flight += send(sender)
    return result


def ws_reason(error: dict) -> str:
    code = error.get("code")
    if code == 1010:
        return f"Invalid: {error.get('data')}"
    return WS_ERRORS.get(code, f"{code} {error.get('message')}")


def submit_ws(urls: list[str], txs: list[tuple[int, bytes, bytes]]) -> Submission:
    """Pipelined `author_submitExtrinsic`s: sender i on socket i // len(urls) % WS_SOCKETS of node i % len(urls)."""
    lanes: dict[tuple[int, int], list[tuple[bytes, bytes]]] = {}
    for sender, raw, tx_hash in txs:
        lane = (sender % len(urls), sender // len(urls) % WS_SOCKETS)
        lanes.setdefault(lane, []).append((raw, tx_hash))
    result = Submission()
    ids = itertools.count(1)

    async def lane(session: aiohttp.ClientSession, url: str, items: list[tuple[bytes, bytes]]) -> None:
        window = asyncio.Semaphore(WS_WINDOW)
        waiting: dict[int, bytes] = {}
        async with session.ws_connect(url, max_msg_size=1 << 24, heartbeat=None) as ws:

            async def read() -> None:
                answered = 0
                while answered < len(items):
                    msg = await ws.receive(timeout=SUBMIT_TIMEOUT)
                    if msg.type is not aiohttp.WSMsgType.TEXT:
                        raise ConnectionError(f"{url} closed the WebSocket: {msg.type.name} {msg.extra}")
                    answer = json.loads(msg.data)
                    tx_hash = waiting.pop(answer.get("id"), None)
                    if tx_hash is None:
                        continue
                    answered += 1
                    window.release()
                    if "result" in answer:
                        result.accepted.add(tx_hash)
                    else:
                        reason = ws_reason(answer.get("error") or {})
                        result.rejected[reason] = result.rejected.get(reason, 0) + 1

            reader = asyncio.create_task(read())
            for raw, tx_hash in items:
                await window.acquire()
                rid = next(ids)
                waiting[rid] = tx_hash
                result.sent_at[tx_hash] = time.monotonic()
                body = {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "method": "author_submitExtrinsic",
                    "params": ["0x" + raw.hex()],
                }
                await ws.send_str(json.dumps(body))
            await reader

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            work = [lane(session, urls[node], items) for (node, _), items in sorted(lanes.items())]
            await asyncio.wait_for(asyncio.gather(*work), BURST_SECONDS)

    asyncio.run(run())
    return result


# --- one burst -------------------------------------------------------------------------------------------------


def expected_final(txs: list[tuple[int, bytes, bytes]], accepted: set[bytes]) -> tuple[set[bytes], int]:
    """The accepted transfers with no refused nonce of the same sender before them, and how many are behind one."""
    blocked: set[int] = set()
    expected, behind = set(), 0
    for sender, _, tx_hash in sorted(txs, key=lambda t: t[0]):  # stable: each sender's in nonce order
        if tx_hash not in accepted:
            blocked.add(sender)
        elif sender in blocked:
            behind += 1
        else:
            expected.add(tx_hash)
    return expected, behind


def wait_final(watcher: FinalityWatcher, hashes: set[bytes]) -> None:
    deadline = time.monotonic() + DRAIN_SECONDS
    last_done, last_progress = -1, time.monotonic()
    while time.monotonic() < deadline:
        done = sum(1 for h in hashes if h in watcher.final_at)
        if done == len(hashes):
            return
        if done != last_done:
            last_done, last_progress = done, time.monotonic()
        elif time.monotonic() - last_progress > DRAIN_STALL_SECONDS:
            return
        time.sleep(0.2)


def scan_finalized(target: Target, first: int) -> tuple[Counter, int]:
    """Every extrinsic hash in the finalized blocks from `first` on, counted; and the last block scanned."""
    stub = target.stubs[0]
    last = stub.GetChainInfo(chain_pb2.Empty(), timeout=10).finalized_number
    seen: Counter = Counter()
    for number in range(first, last + 1):
        block = stub.GetBlock(chain_pb2.BlockRequest(number=number), timeout=30)
        seen.update(blake2_256(bytes(raw)) for raw in block.extrinsics)
    return seen, last


def validators_agree(target: Target, number: int) -> bool:
    hashes = {
        bytes(s.GetBlock(chain_pb2.BlockRequest(number=number), timeout=30).header.hash) for s in target.stubs
    }
    return len(hashes) == 1


def flood(target: Target, keys: list[Keypair], count: int) -> tuple[dict, set[bytes]]:
    """Far-future transfers (nonces FLOOD_NONCE on) from `keys`, over gRPC: what the pools parked and refused,
    and the transfers' hashes."""
    per_sender = -(-count // len(keys))
    txs = sign_transfers(
        keys, per_sender, target.params, nonces=[FLOOD_NONCE] * len(keys), dest=dev_keypair("Bob").public
    )
    txs = txs[:count]
    started = time.monotonic()
    result = submit_grpc(target.stubs, txs, stop_on_refusal=False)
    summary = {
        "submitted": len(result.sent_at),
        "parked": len(result.accepted),
        "refused": dict(sorted(result.rejected.items())),
        "seconds": round(time.monotonic() - started, 2),
        "future_in_pool_before_burst": future_gauge(target),
    }
    return summary, {h for _, _, h in txs}


def burst(
    target: Target, transport: str, senders: list[Keypair], count: int, never: frozenset[bytes] = frozenset()
) -> tuple[dict, list[float]]:
    """One timed burst of `count` transfers and the audit of the finalized blocks it produced (`never` are
    transfers that must not be in them: the far-future flood); its figures and its latencies."""
    params = target.params
    nonces = [next_index(target.stubs[i % len(target.stubs)], k.public) for i, k in enumerate(senders)]
    per_sender = -(-count // len(senders))
    dests = [dev_keypair(n).public for n in FUNDERS[:6]]
    txs = sign_transfers(senders, per_sender, params, nonces=nonces, dests=dests)[:count]
    first_block = target.watcher.head() + 1
    started = time.monotonic()
    if transport == "grpc":
        result = submit_grpc(target.stubs, txs, stop_on_refusal=True)
    else:
        result = submit_ws(target.ws_urls, txs)
    submitted_at = time.monotonic()
    expected, behind = expected_final(txs, result.accepted)
    wait_final(target.watcher, expected)
    time.sleep(SETTLE_SECONDS)  # a block more, so a second inclusion would be seen
    seen, last_block = scan_finalized(target, first_block)
    final_at = dict(target.watcher.final_at)
    finals = [final_at[h] for h in expected if h in final_at]
    latencies = [final_at[h] - result.sent_at[h] for h in expected if h in final_at]
    ended = max(finals) if finals else submitted_at
    honest = {h for _, _, h in txs}
    figures = {
        "transfers": len(txs),
        "submitted": len(result.sent_at),
        "submit_seconds": round(submitted_at - started, 2),
        "accepted": len(result.accepted),
        "rejected": dict(sorted(result.rejected.items())),
        "accepted_behind_a_refused_nonce": behind,
        "finalized": len(finals),
        "seconds": round(ended - started, 2),
        "transfers_per_s": round(len(finals) / max(ended - started, 1e-9), 1),
        "latency_p50_s": percentile(latencies, 0.50),
        "latency_p99_s": percentile(latencies, 0.99),
        "lost": sum(1 for h in expected if seen[h] == 0),
        "included_twice": sum(1 for h in honest if seen[h] > 1),
        "included_not_accepted": sum(1 for h in honest - result.accepted if seen[h] > 0),
        "flood_included": sum(1 for h in never if seen[h] > 0),
        "blocks": last_block - first_block + 1,
        "validators_agree": validators_agree(target, last_block),
    }
    return figures, latencies


SUMMED = (
    "transfers",
    "submitted",
    "accepted",
    "accepted_behind_a_refused_nonce",
    "finalized",
    "lost",
    "included_twice",
    "included_not_accepted",
    "flood_included",
    "blocks",
)


def combined(bursts: list[tuple[dict, list[float]]]) -> dict:
    """The bursts of one condition together: counts summed, the median rate, latency percentiles over all."""
    figures = [f for f, _ in bursts]
    latencies = [x for _, lat in bursts for x in lat]
    rejected: Counter = Counter()
    for f in figures:
        rejected.update(f["rejected"])
    rates = [f["transfers_per_s"] for f in figures]
    return {
        "bursts": len(bursts),
        **{k: sum(f[k] for f in figures) for k in SUMMED},
        "rejected": dict(sorted(rejected.items())),
        "transfers_per_s": statistics.median(rates),
        "transfers_per_s_bursts": rates,
        "seconds_bursts": [f["seconds"] for f in figures],
        "submit_seconds_bursts": [f["submit_seconds"] for f in figures],
        "latency_p50_s": percentile(latencies, 0.50),
        "latency_p99_s": percentile(latencies, 0.99),
        "validators_agree": all(f["validators_agree"] for f in figures),
    }


# --- main ------------------------------------------------------------------------------------------------------


def measure_target(
    name: str, tmp: Path, transports: list[str], args: argparse.Namespace, idle_s: float
) -> dict:
    target = start_target(name, tmp)
    try:
        out: dict = {"validators": len(target.validators)}
        time.sleep(SETTLE_SECONDS)
        out["idle_cpu_percent"] = idle_cpu_percent(target.validators[-1], idle_s)
        honest = sender_keys(f"throughput/{name}", args.senders)
        flooders = sender_keys(f"throughput/{name}/flood", FLOOD_SENDERS)
        everyone = honest + flooders
        for start in range(0, len(everyone), FUNDING_CHUNK):
            fund(target.stubs, target.watcher, target.params, everyone[start : start + FUNDING_CHUNK])
        warmup, _ = burst(target, transports[0], honest, min(args.count, WARMUP_TRANSFERS))
        out["warmup"] = {k: warmup[k] for k in ("transfers", "transfers_per_s", "lost", "included_twice")}
        bursts: dict[tuple[str, str], list] = {(t, k): [] for t in transports for k in ("clean", "flood")}
        never: frozenset[bytes] = frozenset()
        for condition in ("clean", "flood"):
            if condition == "flood":
                time.sleep(SETTLE_SECONDS)
                out["far_future_flood"], hashes = flood(target, flooders, args.flood)
                never = frozenset(hashes)
            for _ in range(args.repeats):
                for t in transports:
                    time.sleep(SETTLE_SECONDS)
                    bursts[t, condition].append(burst(target, t, honest, args.count, never))
        for t in transports:
            out[t] = {k: combined(bursts[t, k]) for k in ("clean", "flood")}
        time.sleep(idle_s)  # past what the last burst left behind (pruning, the pool's revalidation)
        out["idle_cpu_percent_with_flood_parked"] = idle_cpu_percent(target.validators[-1], idle_s)
        out["node_log_problems"] = log_problems(target)
        return out
    finally:
        target.close()
        target.net.__exit__(None, None, None)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke run of a few minutes)")
    parser.add_argument("--targets", default="dev,local", help="comma-separated: dev, local")
    parser.add_argument("--transport", default="grpc,ws", help="comma-separated: grpc, ws")
    parser.add_argument("--count", type=int, help="honest transfers per burst (default 3000, quick 1000)")
    parser.add_argument("--senders", type=int, help="honest senders (default 256, quick 64)")
    parser.add_argument("--flood", type=int, help="far-future transfers per flood (default 3000, quick 1500)")
    parser.add_argument("--repeats", type=int, help="bursts per transport and condition (default 3, quick 1)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (node logs)")
    args = parser.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    transports = [t for t in args.transport.split(",") if t]
    if (
        not set(targets) <= {"dev", "local"}
        or not set(transports) <= {"grpc", "ws"}
        or not targets
        or not transports
    ):
        parser.error("--targets takes dev and/or local, --transport grpc and/or ws")
    args.count = args.count or (1_000 if args.quick else 3_000)
    args.senders = args.senders or (64 if args.quick else 256)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.flood = args.flood if args.flood is not None else (1_500 if args.quick else 3_000)
    idle_s = IDLE_CPU_SECONDS / 2 if args.quick else IDLE_CPU_SECONDS
    runtime = measure_runtime()
    out: dict = {
        "machine_cpus": len(os.sched_getaffinity(0)),
        "quick": args.quick,
        "count": args.count,
        "senders": args.senders,
        "flood": args.flood,
        "repeats": args.repeats,
        "idle_block_interval_s": IDLE_BLOCK_INTERVAL,
        "raw_verifies_per_s": runtime["pynacl_ed25519_verify_per_s"],
        "runtime_transfers_per_s": runtime["block_5000_transfers_per_s"],
        "idle_cpu_window_s": idle_s,
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    try:
        for name in targets:
            out[name] = measure_target(name, tmp, transports, args, idle_s)
    finally:
        if args.keep:
            out["tmp"] = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    out["idle_cpu_percent"] = {
        ("dev" if name == "dev" else "local_validator"): out[name]["idle_cpu_percent"] for name in targets
    }
    out["ratios"] = ratios(out, targets, transports)
    runs = [out[n][t][k] for n in targets for t in transports for k in ("clean", "flood")]
    runs += [out[n]["warmup"] for n in targets]
    out["lost"] = sum(r["lost"] for r in runs)
    out["included_twice"] = sum(r["included_twice"] for r in runs)
    out["flood_included"] = sum(r.get("flood_included", 0) for r in runs)
    print(json.dumps(out, indent=2))
    return 1 if out["lost"] or out["included_twice"] or out["flood_included"] else 0


def ratios(out: dict, targets: list[str], transports: list[str]) -> dict:
    rate = {
        (n, t, k): out[n][t][k]["transfers_per_s"]
        for n in targets
        for t in transports
        for k in ("clean", "flood")
    }
    result: dict = {}
    if "dev" in targets:
        result["dev_over_runtime"] = {
            t: ratio(rate["dev", t, "clean"], out["runtime_transfers_per_s"]) for t in transports
        }
        result["dev_over_raw_verifies"] = {
            t: ratio(rate["dev", t, "clean"], out["raw_verifies_per_s"]) for t in transports
        }
    if "local" in targets:
        result["local_over_raw_verifies"] = {
            t: ratio(rate["local", t, "clean"], out["raw_verifies_per_s"]) for t in transports
        }
    result["flood_over_clean"] = {
        n: {t: ratio(rate[n, t, "flood"], rate[n, t, "clean"]) for t in transports} for n in targets
    }
    return result


if __name__ == "__main__":
    sys.exit(main())
