"""Start node processes on loopback ports (for the demo and the integration tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from chain.client import ClientError, NodeClient

LOCAL_VALIDATORS = ("Alice", "Bob", "Charlie", "Dave")


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


@dataclass
class NodeProcess:
    name: str
    base: Path
    chain: str
    key: str | None
    p2p: int
    grpc: int
    rpc: int
    bootnodes: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    prometheus: int | None = None
    idle_block_interval: float = 0.3
    proc: subprocess.Popen | None = None
    restarts: int = 0
    module: str = "chain.cli"  # the entry point run with `python -m` (the fault suite wraps it)

    @property
    def grpc_addr(self) -> str:
        return f"127.0.0.1:{self.grpc}"

    @property
    def p2p_addr(self) -> str:
        return f"127.0.0.1:{self.p2p}"

    @property
    def log_path(self) -> Path:
        return self.base.parent / f"{self.name}.log"

    def args(self) -> list[str]:
        args = [
            sys.executable,
            "-m",
            self.module,
            "node",
            "--chain",
            self.chain,
            "-d",
            str(self.base),
            "--name",
            self.name,
            "--p2p-port",
            str(self.p2p),
            "--grpc-port",
            str(self.grpc),
            "--rpc-port",
            str(self.rpc),
            "--idle-block-interval",
            str(self.idle_block_interval),
            "-l",
            "info",
        ]
        args += (
            ["--no-prometheus"] if self.prometheus is None else ["--prometheus-port", str(self.prometheus)]
        )
        if self.key:
            args += ["--validator", "--key", self.key]
        for b in self.bootnodes:
            args += ["--bootnodes", b]
        return args + self.extra

    def start(self) -> None:
        self.base.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.args(), stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def restart(self) -> None:
        self.kill9()
        self.restarts += 1
        self.start()

    def client(self) -> NodeClient:
        return NodeClient(self.grpc_addr, timeout=5.0)

    def log_tail(self, lines: int = 40) -> str:
        path = self.log_path
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def head(self) -> int:
        with self.client() as c:
            return c.info().finalized_number


class LocalNetwork:
    """Node processes of one chain: `dev` (Alice alone) or `local` (four validators), plus observers."""

    def __init__(
        self,
        tmp: Path,
        chain: str = "local",
        validators: tuple[str, ...] | None = None,
        observers: int = 0,
        idle_block_interval: float = 0.3,
    ):
        self.tmp = Path(tmp)
        if validators is None:
            validators = ("Alice",) if chain == "dev" else LOCAL_VALIDATORS
        self.nodes: list[NodeProcess] = []
        ports = free_ports(3 * (len(validators) + observers))
        names = [*validators, *[f"observer{i}" for i in range(observers)]]
        for i, name in enumerate(names):
            p2p, grpc, rpc = ports[3 * i : 3 * i + 3]
            key = f"//{name}" if name in validators else None
            self.nodes.append(
                NodeProcess(
                    name,
                    self.tmp / name.lower(),
                    chain,
                    key,
                    p2p,
                    grpc,
                    rpc,
                    idle_block_interval=idle_block_interval,
                )
            )
        for node in self.nodes:
            node.bootnodes = [n.p2p_addr for n in self.nodes if n is not node and n.key]

    def __enter__(self) -> LocalNetwork:
        for node in self.nodes:
            if node.key:
                node.start()
        return self

    def __exit__(self, *exc) -> None:
        for node in self.nodes:
            node.stop()

    def by_name(self, name: str) -> NodeProcess:
        return next(n for n in self.nodes if n.name == name)

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except ClientError as e:
                last_error = e
            time.sleep(0.25)
        tails = "\n\n".join(f"--- {n.name} ---\n{n.log_tail()}" for n in self.nodes if n.proc is not None)
        raise TimeoutError(f"timed out waiting for {what} (last error: {last_error})\n{tails}")

    def wait_height(
        self, height: int, nodes: list[NodeProcess] | None = None, timeout: float = 120.0
    ) -> None:
        nodes = [n for n in self.nodes if n.key] if nodes is None else nodes
        self.wait_for(
            lambda: all(head_or_zero(n) >= height for n in nodes),
            timeout,
            f"{[n.name for n in nodes]} to reach #{height}",
        )


def head_or_zero(node: NodeProcess) -> int:
    try:
        return node.head()
    except ClientError:
        return 0
