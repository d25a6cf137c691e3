"""A real `gradchain node --dev` on free loopback ports for the JSON-RPC client tests, and small RPC helpers.

The node is started once per test session (the first test that asks for it), with a short idle block
interval so subscriptions see blocks quickly, and is killed at teardown. Tests that move funds read nonces
and balances fresh, so they do not depend on each other's order.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
IDLE_BLOCK_INTERVAL = "0.5"


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def node_command() -> list[str]:
    """`python -m chain.cli` where the package has a __main__, else the `gradchain` console script."""
    if (ROOT / "chain" / "cli" / "__main__.py").exists():
        return [sys.executable, "-m", "chain.cli"]
    script = Path(sys.executable).parent / "gradchain"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from chain.cli import main; main()"]


@dataclass
class DevNode:
    rpc_port: int
    grpc_port: int
    p2p_port: int
    log_path: Path
    proc: subprocess.Popen

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.rpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}/"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


_ids = itertools.count(1)


def http_rpc(node: DevNode, method: str, params: list | None = None, timeout: float = 30.0) -> dict:
    """One JSON-RPC 2.0 call over HTTP; returns the whole response object (with `result` or `error`)."""
    body = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": [] if params is None else params}
    response = requests.post(node.http_url, json=body, timeout=timeout)
    response.raise_for_status()
    return response.json()


def result(node: DevNode, method: str, params: list | None = None):
    answer = http_rpc(node, method, params)
    assert "error" not in answer, f"{method} failed: {answer['error']}"
    return answer["result"]


def start_dev_node(tmp: Path, *extra: str) -> DevNode:
    rpc, grpc_port, p2p = free_ports(3)
    log_path = tmp / f"node-{rpc}.log"
    args = [
        *node_command(),
        "node",
        "--dev",
        "-d",
        str(tmp / f"base-{rpc}"),
        "--rpc-port",
        str(rpc),
        "--grpc-port",
        str(grpc_port),
        "--p2p-port",
        str(p2p),
        "--no-prometheus",
        "--idle-block-interval",
        IDLE_BLOCK_INTERVAL,
        *extra,
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    node = DevNode(rpc, grpc_port, p2p, log_path, proc)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the dev node exited with {proc.returncode}:\n{node.log_tail()}")
        try:
            if "result" in http_rpc(node, "system_health", timeout=2.0):
                return node
        except requests.RequestException:
            pass
        time.sleep(0.2)
    stop_dev_node(node)
    raise RuntimeError(
        f"the dev node's JSON-RPC did not answer on {rpc} within {START_TIMEOUT} s:\n{node.log_tail()}"
    )


def stop_dev_node(node: DevNode) -> None:
    if node.proc.poll() is None:
        node.proc.send_signal(signal.SIGTERM)
        try:
            node.proc.wait(15)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait(10)


@pytest.fixture(scope="session")
def dev_node() -> Iterator[DevNode]:
    tmp = Path(tempfile.mkdtemp(prefix="gradchain-rpc-test-"))
    node = start_dev_node(tmp)
    try:
        yield node
    finally:
        stop_dev_node(node)
        shutil.rmtree(tmp, ignore_errors=True)


def wait_for_block_after(node: DevNode, number: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head = int(result(node, "chain_getHeader")["number"], 16)
        if head > number:
            return head
        time.sleep(0.1)
    raise AssertionError(f"no block after #{number} within {timeout} s")


def ws_call(ws, method: str, params: list | None = None) -> dict:
    """Send one request over a websocket-client connection and return its answer, keeping notifications
    that arrive meanwhile on `ws.pending_notifications`."""
    rid = next(_ids)
    ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or []}))
    while True:
        message = json.loads(ws.recv())
        if message.get("id") == rid:
            return message
        ws.pending_notifications = [*getattr(ws, "pending_notifications", []), message]


def ws_notifications(ws, subscription: str, count: int, timeout: float = 30.0) -> list:
    """The next `count` results pushed for `subscription` (including any that arrived during ws_call)."""
    out = []
    pending = getattr(ws, "pending_notifications", [])
    for message in list(pending):
        if message.get("params", {}).get("subscription") == subscription and len(out) < count:
            out.append(message["params"]["result"])
            pending.remove(message)
    deadline = time.monotonic() + timeout
    while len(out) < count:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        message = json.loads(ws.recv())
        if message.get("params", {}).get("subscription") == subscription:
            out.append(message["params"]["result"])
        else:
            ws.pending_notifications = [*getattr(ws, "pending_notifications", []), message]
    return out


def signed_transfer(node: DevNode, keypair, dest: bytes, amount: int, nonce: int | None = None) -> bytes:
    """A Balances.transfer_keep_alive signed by `keypair` for this node's chain (next nonce by default)."""
    from chain.client import transfer_call
    from chain.primitives.extrinsic import sign_extrinsic

    version = result(node, "state_getRuntimeVersion")
    genesis = bytes.fromhex(result(node, "chain_getBlockHash", [0])[2:])
    if nonce is None:
        nonce = result(node, "system_accountNextIndex", ["0x" + keypair.public.hex()])
    xt = sign_extrinsic(
        keypair,
        transfer_call(dest, amount),
        nonce=nonce,
        spec_version=version["specVersion"],
        tx_version=version["transactionVersion"],
        genesis_hash=genesis,
    )
    return xt.encode()
