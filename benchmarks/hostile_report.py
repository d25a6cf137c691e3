"""Hostile report: every attack of issue 17 at full scale against live dev nodes on loopback, as one JSON object.

Each attack runs against a real `gradchain node --dev` process (see tests/faults/attacks.py, which the
hostile-peer tests run at small scale). Per attack the report gives the node's RSS peak and its peak of open descriptors, the blocks it
finalized while the attack lasted, the seconds it took after the attack to finalize two more blocks and
answer gRPC (`recovery_seconds`), how many connections or requests it refused, closed or answered with an
error (`connections_refused`), and a verdict: `survived` when consensus stayed live, the node recovered
within a minute and its RSS stayed under 1 GiB; for the damaged databases, when the node refused to start
naming the fix or said it lost finalized blocks and did not build on the damage; for the restart, when it
bound its ports again within 30 s. The exit status is 1 if any attack was not survived.

Attacks: 4,200 idle connections to p2p, then to JSON-RPC (RLIMIT_NOFILE 4096, from 64 loopback hosts);
1,000 HTTP/2-handshaken idle connections from one host to each gRPC port (p2p and API);
3,000 half-open sockets (half an HTTP request, half an HTTP/2 preface); 100 idle WebSockets, then an HTTP
client; JSON-RPC 100k-deep nesting, a 5,000-digit id and batches of 256 `state_getMetadata`; a blob flood
(400 MB, a size lie, an endless empty upload); a 64 MiB blob requested 40 times by a peer that never reads;
an eclipse by 40 fake peers while a real full node syncs; address poisoning by 3,000 Status messages (then
SIGTERM); a database with 64 flipped log bytes, a log truncated to half, a deleted db directory; a restart
right after a crash while HTTP clients held connections.

Run: `python benchmarks/hostile_report.py` (about ten minutes on two cores), `--quick` for a smaller run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import aiohttp  # noqa: E402
import grpc  # noqa: E402
import requests  # noqa: E402

from chain.client import NodeClient  # noqa: E402
from chain.node.launcher import NodeProcess, head_or_zero  # noqa: E402
from proto import blob_pb2, blob_pb2_grpc  # noqa: E402
from tests.faults import attacks  # noqa: E402
from tests.faults.attacks import (  # noqa: E402
    HALF_HTTP2_PREFACE,
    HALF_HTTP_REQUEST,
    HTTP2_CLIENT_PREFACE,
    Attack,
    AttackerLoop,
    AttackResult,
    RssSampler,
    dev_node,
    hold_connections,
    measure,
    wait_for,
)

MIB = 1024 * 1024


@dataclass(frozen=True)
class Scale:
    nofile: int = 4096
    idle: int = 4200
    hosts: int = 64
    half_open: int = 1500  # per port (JSON-RPC and gRPC)
    one_host: int = 1000  # handshaken connections from one host, per gRPC port (p2p and API)
    websockets: int = 100
    hold: float = 20.0
    request_rounds: int = 10
    blob_flood_mb: int = 400
    blob_mb: int = 64
    blob_requests: int = 40
    fake_peers: int = 40
    status_messages: int = 3000
    damaged_height: int = 16


FULL = Scale()
QUICK = Scale(
    nofile=1024,
    idle=1200,
    hosts=16,
    half_open=300,
    one_host=300,
    hold=8.0,
    request_rounds=2,
    blob_flood_mb=32,
    blob_mb=16,
    blob_requests=10,
    fake_peers=12,
    status_messages=600,
    damaged_height=6,
)


def background(work) -> tuple[threading.Event, threading.Thread]:
    """Run `work(stop)` in a thread until `stop` is set."""
    stop = threading.Event()
    thread = threading.Thread(target=work, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def jsonrpc(node: NodeProcess, body, timeout: float = 60.0) -> requests.Response:
    url = f"http://127.0.0.1:{node.rpc}/"
    if isinstance(body, bytes):
        return requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=timeout)
    return requests.post(url, json=body, timeout=timeout)


def honest_http(node: NodeProcess) -> bool:
    try:
        return jsonrpc(node, {"jsonrpc": "2.0", "id": 1, "method": "system_name", "params": []}, 10).ok
    except requests.RequestException:
        return False


# --- attacks beyond raw connections ------------------------------------------------------------------------------


def idle_websockets(node: NodeProcess, count: int):
    def start() -> Attack:
        loop = AttackerLoop()
        url = f"ws://127.0.0.1:{node.rpc}/"

        async def open_all():
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, local_addr=("127.0.1.1", 0))
            )
            opened, refused = [], 0
            for _ in range(count):
                try:
                    opened.append(await session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=5)))
                except (aiohttp.ClientError, TimeoutError):
                    refused += 1
            return session, opened, refused

        session, opened, refused = loop.run(open_all())
        served = honest_http(node)

        async def close_all():
            for ws in opened:
                await ws.close()
            await session.close()

        def release() -> None:
            loop.run(close_all())
            loop.stop()

        return Attack(
            lambda: refused,
            release,
            lambda: {"websockets_open": len(opened), "http_served_while_websockets_open": served},
            lambda: served,
        )

    return start


def hostile_requests(node: NodeProcess, rounds: int):
    deep = (
        b'{"jsonrpc":"2.0","id":1,"method":"system_name","params":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    )
    huge_id = b'{"jsonrpc":"2.0","method":"system_name","id":' + b"1" * 5000 + b"}"
    batch = [{"jsonrpc": "2.0", "id": i, "method": "state_getMetadata", "params": []} for i in range(256)]

    def start() -> Attack:
        tally = {"requests": 0, "json_rpc_errors": 0, "http_errors": 0, "largest_answer_bytes": 0}

        def work(stop: threading.Event) -> None:
            for _ in range(rounds):
                for body in (deep, huge_id, batch):
                    if stop.is_set():
                        return
                    try:
                        response = jsonrpc(node, body)
                    except requests.RequestException:
                        tally["http_errors"] += 1
                        continue
                    tally["requests"] += 1
                    tally["largest_answer_bytes"] = max(tally["largest_answer_bytes"], len(response.content))
                    if response.status_code != 200:
                        tally["http_errors"] += 1
                    elif "error" in response.json():
                        tally["json_rpc_errors"] += 1

        stop, thread = background(work)

        def release() -> None:
            stop.set()
            thread.join(120)

        return Attack(
            lambda: tally["json_rpc_errors"],
            release,
            lambda: dict(tally),
            lambda: tally["http_errors"] == 0 and tally["json_rpc_errors"] == tally["requests"] > 0,
        )

    return start


def put_blob(stub, chunks) -> grpc.StatusCode:
    try:
        stub.PutBlob(iter(chunks), timeout=60)
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


def endless_empty_upload():
    yield blob_pb2.BlobChunk(size=10, data=b"x")
    for _ in range(1_000_000):
        yield blob_pb2.BlobChunk()


def blob_flood(node: NodeProcess, total_mb: int):
    def start() -> Attack:
        tally = {"uploaded_mb": 0, "refused_uploads": 0, "size_lie": "", "endless_empty_upload": ""}

        def work(stop: threading.Event) -> None:
            with grpc.insecure_channel(
                node.grpc_addr, options=[("grpc.max_send_message_length", 4 * MIB)]
            ) as channel:
                stub = blob_pb2_grpc.BlobServiceStub(channel)
                lie = [
                    blob_pb2.BlobChunk(size=MIB, data=os.urandom(MIB)),
                    blob_pb2.BlobChunk(data=os.urandom(MIB)),
                ]
                tally["size_lie"] = put_blob(stub, lie).name
                tally["endless_empty_upload"] = put_blob(stub, endless_empty_upload()).name
                for _ in range(total_mb // 16):
                    if stop.is_set():
                        return
                    try:
                        attacks.upload_blob(node, os.urandom(16 * MIB))
                        tally["uploaded_mb"] += 16
                    except grpc.RpcError:
                        tally["refused_uploads"] += 1

        stop, thread = background(work)

        def release() -> None:
            thread.join(300)  # the flood is the attack: it runs to its end
            stop.set()

        def refused() -> int:
            return (
                tally["refused_uploads"]
                + (tally["size_lie"] != "OK")
                + (tally["endless_empty_upload"] != "OK")
            )

        return Attack(
            refused,
            release,
            lambda: dict(tally),
            lambda: tally["size_lie"] == tally["endless_empty_upload"] == "INVALID_ARGUMENT",
        )

    return start


def sync_seconds(name: str, node, tmp: Path) -> tuple[float | None, float | None, int]:
    """Start a full node (no key) whose bootnode is `node`: the seconds until it holds its first block and
    until it reaches `node`'s finalized height at that start (None past two minutes), and that height."""
    observer = NodeProcess(name, tmp / name, "dev", None, *attacks.free_ports(3), bootnodes=[node.p2p_addr])
    target = node.finalized()
    observer.start()
    try:
        first = wait_for(
            lambda: attacks.grpc_answers(observer) and observer.head() >= 1, 120, f"{name}'s first block"
        )
        synced = wait_for(lambda: observer.head() >= target, 120, f"{name} to sync") + first
        return first, synced, target
    except AssertionError:
        return None, None, target
    finally:
        observer.stop()


def eclipse(node, tmp: Path, fakes: int, hold: float) -> AttackResult:
    """`fakes` silent peers with fresh keys take the node's slots; then a real full node joins and syncs. The
    same real node's sync once the fakes are gone is the baseline."""
    result = AttackResult("eclipse")
    before, started = node.finalized(), time.monotonic()
    with RssSampler(node.proc.pid) as rss, attacks.fake_peer_crowd(node, fakes):
        time.sleep(hold)
        with NodeClient(node.grpc_addr) as client:
            peers_before = client.info().peers
        first, synced, blocks = sync_seconds("observer", node, tmp)
        result.blocks_during = node.finalized() - before
        result.attack_seconds = time.monotonic() - started
        result.rss_peak_mb, result.fds_peak = rss.peak, rss.fds_peak
    _, baseline, baseline_blocks = sync_seconds("baseline", node, tmp)
    result.recovery_seconds = synced
    result.detail = {
        "fake_peers": fakes,
        "node_peers_when_the_real_node_came": peers_before,
        "real_node_first_block_seconds": first,
        "real_node_sync_seconds": synced,
        "blocks_synced": blocks,
        "baseline_sync_seconds_without_fakes": baseline,
        "baseline_blocks_synced": baseline_blocks,
    }
    result.survived = synced is not None and result.blocks_during > 0 and rss.peak < 1024
    return result


def address_poisoning(tmp: Path, scale: Scale) -> AttackResult:
    net, node = dev_node(tmp / "poisoned")
    with net:
        wait_for(lambda: node.finalized() >= 2, 60, "the first blocks", node)
        result = measure(
            "address_poisoning", node, attacks.status_flood(node, scale.status_messages), hold=scale.hold
        )
        started = time.monotonic()
        node.proc.send_signal(signal.SIGTERM)
        try:
            node.proc.wait(30)
            result.detail["sigterm_exit_seconds"] = round(time.monotonic() - started, 2)
        except Exception:
            result.detail["sigterm_exit_seconds"] = None
            result.survived = False
    return result


DAMAGES = ("flipped_log_bytes", "log_truncated_to_half", "deleted_db_dir")


def damage(db: Path, how: str) -> None:
    logs = sorted(db.glob("*.log"), key=lambda p: p.stat().st_size)
    if how == "deleted_db_dir":
        shutil.rmtree(db)
    elif how == "log_truncated_to_half":
        for log in logs:
            log.write_bytes(log.read_bytes()[: log.stat().st_size // 2])
    else:
        data = bytearray(logs[-1].read_bytes())
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
        logs[-1].write_bytes(bytes(data))


def damaged_storage(tmp: Path, how: str, height: int) -> AttackResult:
    result = AttackResult(f"damaged_storage_{how}")
    net, node = dev_node(tmp / how)
    with net:
        wait_for(lambda: node.finalized() >= height, 120, f"#{height}", node)
        node.stop()
        finalized = max(height, node.finalized())
        damage(node.base / "chains" / "dev" / "db", how)
        log_before = node.log_path.stat().st_size
        node.start()
        with RssSampler(node.proc.pid) as rss:

            def outcome() -> bool:
                return node.proc.poll() is not None or "finalized before" in node.log_tail(200)

            wait_for(outcome, 60, "the damaged node to refuse or report its loss", node)
            time.sleep(3)
            result.rss_peak_mb, result.fds_peak = rss.peak, rss.fds_peak
        log = node.log_path.read_text(errors="replace")[log_before:]
        refused = node.proc.poll() is not None
        head = head_or_zero(node) if not refused else 0  # over gRPC: the log still holds the old heights
        result.detail = {
            "outcome": "refused to start" if refused else "started, reported lost blocks",
            "names_the_fix": "purge-chain" in log,
            "finalized_before_damage": finalized,
            "head_after_start": head,
        }
        result.refused = int(refused)
        result.survived = (refused and "purge-chain" in log) or (
            not refused and "finalized before" in log and head < finalized
        )
    return result


def restart_after_crash(tmp: Path) -> AttackResult:
    result = AttackResult("restart_after_crash_bind")
    net, node = dev_node(tmp / "restart")
    with net:
        wait_for(lambda: node.finalized() >= 2 and honest_http(node), 60, "JSON-RPC", node)
        sessions = [requests.Session() for _ in range(8)]
        for session in sessions:  # kept-alive HTTP connections, open when the node dies
            session.post(
                f"http://127.0.0.1:{node.rpc}/",
                json={"jsonrpc": "2.0", "id": 1, "method": "system_name", "params": []},
                timeout=10,
            )
        node.kill9()
        log_before = node.log_path.stat().st_size
        started = time.monotonic()
        node.start()
        with RssSampler(node.proc.pid) as rss:
            try:
                result.recovery_seconds = wait_for(
                    lambda: honest_http(node) and attacks.grpc_answers(node),
                    60,
                    "the restarted node to serve",
                    node,
                )
            except AssertionError:
                result.recovery_seconds = None
        result.rss_peak_mb, result.fds_peak = rss.peak, rss.fds_peak
        log = node.log_path.read_text(errors="replace")[log_before:]
        result.detail = {
            "address_in_use": "address already in use" in log.lower(),
            "served_after_seconds": round(time.monotonic() - started, 2),
        }
        for session in sessions:
            session.close()
        result.survived = (
            result.recovery_seconds is not None
            and result.recovery_seconds < 30
            and not result.detail["address_in_use"]
        )
    return result


# --- the run -----------------------------------------------------------------------------------------------------


TARGET_ATTACKS = (
    "idle_p2p",
    "idle_json_rpc",
    "one_host_grpc",
    "half_open",
    "idle_websockets_then_http",
    "json_rpc_hostile_requests",
    "blob_flood",
    "blob_amplification",
    "eclipse",
)
ATTACKS = (
    *TARGET_ATTACKS,
    "address_poisoning",
    *(f"damaged_storage_{how}" for how in DAMAGES),
    "restart_after_crash_bind",
)


def run(tmp: Path, scale: Scale, progress, only: set[str]) -> dict[str, AttackResult]:
    results: dict[str, AttackResult] = {}

    def record(result: AttackResult) -> None:
        results[result.name] = result
        progress(f"{result.name}: {json.dumps(result.report())}")

    attacks.raise_own_descriptor_limit()
    if only & set(TARGET_ATTACKS):
        net, node = dev_node(tmp / "target", nofile=scale.nofile)
        with net:
            wait_for(lambda: node.finalized() >= 2, 60, "the first blocks", node)
            for name in TARGET_ATTACKS:
                if name in only:
                    record(target_attack(name, node, tmp, scale))
    if "address_poisoning" in only:
        record(address_poisoning(tmp, scale))
    for how in DAMAGES:
        if f"damaged_storage_{how}" in only:
            record(damaged_storage(tmp, how, scale.damaged_height))
    if "restart_after_crash_bind" in only:
        record(restart_after_crash(tmp))
    return results


def target_attack(name: str, node, tmp: Path, scale: Scale) -> AttackResult:
    """One of the attacks on the node with RLIMIT_NOFILE `scale.nofile`."""
    if name == "idle_p2p":
        return measure(name, node, hold_connections(node.p2p, scale.idle, scale.hosts), scale.hold)
    if name == "idle_json_rpc":
        return measure(name, node, hold_connections(node.rpc, scale.idle, scale.hosts), scale.hold)
    if name == "one_host_grpc":

        def one_host() -> Attack:
            p2p = hold_connections(node.p2p, scale.one_host, 1, HTTP2_CLIENT_PREFACE)()
            api = hold_connections(node.grpc, scale.one_host, 1, HTTP2_CLIENT_PREFACE)()
            return Attack(
                lambda: p2p.refused() + api.refused(),
                lambda: (p2p.release(), api.release()),
                lambda: {"p2p": p2p.detail(), "grpc": api.detail()},
                held=lambda: attacks.grpc_answers(node),
            )

        return measure(name, node, one_host, scale.hold)
    if name == "half_open":

        def half_open() -> Attack:
            rpc = hold_connections(node.rpc, scale.half_open, scale.hosts, HALF_HTTP_REQUEST)()
            api = hold_connections(node.grpc, scale.half_open, scale.hosts, HALF_HTTP2_PREFACE)()
            return Attack(
                lambda: rpc.refused() + api.refused(),
                lambda: (rpc.release(), api.release()),
                lambda: {"json_rpc": rpc.detail(), "grpc": api.detail()},
            )

        return measure(name, node, half_open, scale.hold)
    if name == "idle_websockets_then_http":
        return measure(name, node, idle_websockets(node, scale.websockets), scale.hold)
    if name == "json_rpc_hostile_requests":
        return measure(name, node, hostile_requests(node, scale.request_rounds), scale.hold)
    if name == "blob_flood":
        return measure(name, node, blob_flood(node, scale.blob_flood_mb), scale.hold)
    if name == "blob_amplification":
        blob = attacks.upload_blob(node, os.urandom(scale.blob_mb * MIB))
        return measure(
            name, node, attacks.blob_requests_never_read(node, blob, scale.blob_requests), scale.hold
        )
    return eclipse(node, tmp, scale.fake_peers, scale.hold)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller attacks (a few minutes)")
    parser.add_argument(
        "--verbose", action="store_true", help="print each attack's figures to stderr as it ends"
    )
    parser.add_argument("--only", action="append", choices=ATTACKS, help="run only this attack (repeatable)")
    args = parser.parse_args()
    progress = (lambda msg: print(msg, file=sys.stderr, flush=True)) if args.verbose else (lambda msg: None)
    scale = QUICK if args.quick else FULL
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gradchain-hostile-") as tmp:
        results = run(Path(tmp), scale, progress, set(args.only or ATTACKS))
    report = {
        "scale": "quick" if args.quick else "full",
        "fd_limit": scale.nofile,
        "seconds": round(time.monotonic() - started, 1),
        "all_survived": all(r.survived for r in results.values()),
        "attacks": {name: r.report() for name, r in results.items()},
    }
    print(json.dumps(report))
    return 0 if report["all_survived"] else 1


if __name__ == "__main__":
    sys.exit(main())
