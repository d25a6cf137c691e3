"""Real node processes on loopback for integration tests (see chain.node.launcher), with test-friendly waits."""

from __future__ import annotations

from pathlib import Path

from chain.node.launcher import LOCAL_VALIDATORS, LocalNetwork, NodeProcess, free_ports, head_or_zero

ROOT = Path(__file__).resolve().parents[2]
VALIDATORS = LOCAL_VALIDATORS


class Network(LocalNetwork):
    """A LocalNetwork whose processes are always killed at exit and whose waits fail as assertions."""

    def __exit__(self, *exc) -> None:
        for node in self.nodes:
            node.kill9()

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        try:
            super().wait_for(predicate, timeout, what)
        except TimeoutError as e:
            raise AssertionError(str(e)) from None

    def wait_height(self, nodes: list[NodeProcess], height: int, timeout: float = 120.0) -> None:  # type: ignore[override]
        super().wait_height(height, nodes, timeout)


__all__ = ["ROOT", "Network", "NodeProcess", "free_ports", "head_or_zero", "VALIDATORS"]
