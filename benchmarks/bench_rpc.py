"""JSON-RPC throughput over one WebSocket connection to a dev node this script starts; prints one JSON object.

- `state_getStorage`: requests/s for reads of Alice's `System.Account`, both one at a time (each request
  waits for its answer: latency-bound, as a naive client) and pipelined (`WINDOW` requests in flight).
- `author_submitExtrinsic`: submissions/s of pre-signed `transfer_keep_alive`s, pipelined, from the six dev
  accounts (each sender's nonces in order, fewer than the pool's per-sender cap), while the node keeps
  producing blocks. Rejections are counted by JSON-RPC error code.
- `ed25519_verify_per_s`: raw signature verifications per second in this process, so the submission rate
  can be read as a ratio (each submission is validated, signature included, before it is pooled).

Everything binds 127.0.0.1; every loop is bounded in count. `--quick` uses smaller counts.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chain.client import transfer_call  # noqa: E402
from chain.primitives.crypto import DEV_ACCOUNT_NAMES, dev_keypair, verify  # noqa: E402
from chain.primitives.extrinsic import sign_extrinsic  # noqa: E402
from runtime.pallets.system import Account  # noqa: E402
from tests.rpc.conftest import result, start_dev_node, stop_dev_node  # noqa: E402

WINDOW = 64


class Client:
    """JSON-RPC over one WebSocket: `call` waits for its own answer; many may be in flight at once."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future] = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            answer = json.loads(msg.data)
            future = self.waiting.pop(answer.get("id"), None)
            if future is not None:
                future.set_result(answer)

    async def call(self, method: str, params: list) -> dict:
        rid = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.waiting[rid] = future
        await self.ws.send_str(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
        return await future


async def pipelined(client: Client, requests: list[tuple[str, list]]) -> tuple[float, list[dict]]:
    semaphore = asyncio.Semaphore(WINDOW)

    async def one(method: str, params: list) -> dict:
        async with semaphore:
            return await client.call(method, params)

    started = time.perf_counter()
    answers = await asyncio.gather(*(one(m, p) for m, p in requests))
    return time.perf_counter() - started, answers


def presign(node, per_sender: int) -> list[str]:
    version = result(node, "state_getRuntimeVersion")
    genesis = bytes.fromhex(result(node, "chain_getBlockHash", [0])[2:])
    bob = dev_keypair("Bob").public
    out = []
    for name in DEV_ACCOUNT_NAMES:
        keypair = dev_keypair(name)
        first = result(node, "system_accountNextIndex", [keypair.ss58()])
        for nonce in range(first, first + per_sender):
            xt = sign_extrinsic(
                keypair,
                transfer_call(bob if name != "Bob" else dev_keypair("Alice").public, 10**9),
                nonce=nonce,
                spec_version=version["specVersion"],
                tx_version=version["transactionVersion"],
                genesis_hash=genesis,
            )
            out.append("0x" + xt.encode().hex())
    return out


def verify_rate(count: int) -> float:
    keypair = dev_keypair("Alice")
    message = b"gradchain" * 20
    signature = keypair.sign(message)
    started = time.perf_counter()
    for _ in range(count):
        verify(keypair.public, message, signature)
    return count / (time.perf_counter() - started)


async def measure(node, reads: int, per_sender: int) -> dict:
    key = "0x" + Account.key(dev_keypair("Alice").public).hex()
    transfers = presign(node, per_sender)
    async with aiohttp.ClientSession() as session, session.ws_connect(node.ws_url, max_msg_size=0) as ws:
        client = Client(ws)
        sequential_reads = reads // 5
        started = time.perf_counter()
        for _ in range(sequential_reads):
            answer = await client.call("state_getStorage", [key])
            assert "result" in answer, answer
        sequential_s = time.perf_counter() - started
        read_s, answers = await pipelined(client, [("state_getStorage", [key])] * reads)
        assert all("result" in a for a in answers)
        submit_s, answers = await pipelined(client, [("author_submitExtrinsic", [t]) for t in transfers])
        outcome = Counter("ok" if "result" in a else str(a["error"]["code"]) for a in answers)
        client.reader.cancel()
    return {
        "state_getStorage": {
            "sequential_requests": sequential_reads,
            "sequential_requests_per_s": round(sequential_reads / sequential_s, 1),
            "pipelined_requests": reads,
            "pipelined_window": WINDOW,
            "pipelined_requests_per_s": round(reads / read_s, 1),
        },
        "author_submitExtrinsic": {
            "submissions": len(transfers),
            "senders": len(DEV_ACCOUNT_NAMES),
            "pipelined_window": WINDOW,
            "accepted": outcome.get("ok", 0),
            "rejected_by_code": {k: v for k, v in outcome.items() if k != "ok"},
            "submissions_per_s": round(len(transfers) / submit_s, 1),
            "accepted_per_s": round(outcome.get("ok", 0) / submit_s, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (for a smoke run)")
    args = parser.parse_args()
    reads, per_sender, verifies = (1000, 40, 500) if args.quick else (10_000, 200, 5_000)
    tmp = Path(tempfile.mkdtemp(prefix="gradchain-bench-rpc-"))
    node = start_dev_node(tmp)
    try:
        figures = asyncio.run(measure(node, reads, per_sender))
    finally:
        stop_dev_node(node)
        shutil.rmtree(tmp, ignore_errors=True)
    figures["ed25519_verify_per_s"] = round(verify_rate(verifies), 1)
    figures["submissions_per_verify"] = round(
        figures["author_submitExtrinsic"]["accepted_per_s"] / figures["ed25519_verify_per_s"], 4
    )
    figures["transport"] = "one WebSocket connection, 127.0.0.1"
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
