"""Real node processes under fault injection: known node keys, partitions via fault files, chain audits.

`FaultNetwork` is the integration harness's `Network` with two additions: every node gets a node key file
written in advance (so tests know each node's network identity before it starts) and a `--fault-file` that
the node polls; `partition([...groups])` writes those files so traffic between groups is dropped at the
transport, and `heal()` empties them. The audit helpers read the chain back over gRPC and check the
invariants the fault tests share: one hash per finalized height across nodes, valid certificates, and no
offence events.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from chain.client import ClientError, NodeClient
from chain.node.launcher import NodeProcess
from chain.primitives.codec import encode_compact
from chain.primitives.crypto import Keypair
from chain.primitives.hashing import blake2_256
from chain.primitives.types import Block
from consensus.certificate import CommitCertificate, verify_certificate
from consensus.validators import ValidatorSet
from tests.integration.harness import ROOT, Network, head_or_zero

OFFENCE_EVENTS = {("Staking", "OffenceReported"), ("Staking", "Slashed")}


class FaultNetwork(Network):
    """A local network whose nodes have pre-made node keys and poll a fault file (tests/faults/adversary_node.py)."""

    def __init__(self, tmp: Path, chain: str = "local", **kwargs):
        Path(tmp).mkdir(parents=True, exist_ok=True)
        super().__init__(tmp, chain, **kwargs)
        self.node_keys: dict[str, Keypair] = {}
        for node in self.nodes:
            self.configure(node)

    def configure(self, node: NodeProcess) -> None:
        keypair = Keypair.from_seed(blake2_256(b"fault-suite-node-key" + node.name.encode()))
        key_file = self.tmp / f"{node.name}.node_key"
        key_file.write_bytes(keypair.seed)
        self.node_keys[node.name] = keypair
        # archive: the audits read the events of every block, older than any pruning window
        node.module = "tests.faults.adversary_node"  # the production node wrapped with the fault file
        node.extra = [
            *node.extra,
            "--node-key-file",
            str(key_file),
            "--fault-file",
            str(self.fault_file(node)),
            "--pruning",
            "archive",
        ]

    def add_node(self, name: str, key: str | None, extra: list[str] | None = None) -> NodeProcess:
        """Another process on this chain (an observer, or a twin sharing a validator key)."""
        from chain.node.launcher import free_ports

        p2p, grpc, rpc = free_ports(3)
        node = NodeProcess(
            name,
            self.tmp / name.lower(),
            self.nodes[0].chain,
            key,
            p2p,
            grpc,
            rpc,
            idle_block_interval=self.nodes[0].idle_block_interval,
            extra=list(extra or []),
        )
        node.bootnodes = [n.p2p_addr for n in self.nodes if n.key]
        self.nodes.append(node)
        self.configure(node)
        return node

    def fault_file(self, node: NodeProcess) -> Path:
        return self.tmp / f"{node.name}.faults.json"

    def partition(self, *groups: list[NodeProcess]) -> None:
        """Drop all traffic between nodes of different groups (nodes in no group are cut off from everyone)."""
        group_of = {n.name: i for i, g in enumerate(groups) for n in g}
        for node in self.nodes:
            gid = group_of.get(node.name)
            blocked = [
                self.node_keys[o.name].public.hex()
                for o in self.nodes
                if o is not node and (gid is None or group_of.get(o.name) != gid)
            ]
            _write_atomic(self.fault_file(node), json.dumps({"block_peers": blocked}))

    def heal(self) -> None:
        for node in self.nodes:
            _write_atomic(self.fault_file(node), json.dumps({"block_peers": []}))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def build_spec(tmp: Path, epoch_length: int, chain: str = "local") -> Path:
    """A copy of the `local` chain spec with a short epoch (for slashing tests), written under `tmp`."""
    out = subprocess.run(
        [sys.executable, "-m", "chain.cli", "build-spec", "--chain", chain],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    doc = json.loads(out)
    doc["parameters"]["staking"]["epochLength"] = epoch_length
    path = Path(tmp) / f"{chain}-epoch{epoch_length}.json"
    path.write_text(json.dumps(doc))
    return path


def live_head(node: NodeProcess) -> int:
    return head_or_zero(node) if node.proc is not None and node.proc.poll() is None else -1


def hashes(node: NodeProcess, upto: int, start: int = 0) -> list[bytes]:
    with NodeClient(node.grpc_addr, timeout=10.0) as c:
        return [bytes(c.header(number=n).hash) for n in range(start, upto + 1)]


def wait_converged(net: Network, nodes: list[NodeProcess], timeout: float = 120.0) -> int:
    """Wait until `nodes` share a finalized height >= every head seen at the start; return it."""
    target = max(head_or_zero(n) for n in nodes)
    net.wait_height(nodes, target, timeout=timeout)
    return target


def assert_same_chain(nodes: list[NodeProcess], upto: int) -> list[bytes]:
    """Every node has the same block hash at every height 0..upto; returns the hashes."""
    reference = hashes(nodes[0], upto)
    for node in nodes[1:]:
        theirs = hashes(node, upto)
        forks = [n for n, (a, b) in enumerate(zip(reference, theirs, strict=True)) if a != b]
        assert not forks, f"{node.name} disagrees with {nodes[0].name} at heights {forks[:10]}"
    return reference


class ChainAudit:
    """One pass over blocks 1..upto of a node: certificates, extrinsic counts, offence events."""

    def __init__(self, node: NodeProcess, upto: int, validator_set: ValidatorSet | None = None):
        self.extrinsic_blocks: dict[bytes, list[int]] = {}
        self.offences: list[tuple[int, str, str]] = []
        self.bad_certificates: list[tuple[int, str]] = []
        self.signatures = 0
        with NodeClient(node.grpc_addr, timeout=10.0) as c:
            genesis = bytes(c.info().genesis_hash)
            for n in range(1, upto + 1):
                block = c.block(number=n)
                for raw in block.extrinsics:
                    self.extrinsic_blocks.setdefault(blake2_256(bytes(raw)), []).append(n)
                for ev in c.events(number=n).events:
                    if (ev.pallet, ev.name) in OFFENCE_EVENTS:
                        self.offences.append((n, ev.name, ev.fields_json))
                if validator_set is None:
                    continue
                try:
                    cert = CommitCertificate.decode(bytes(block.justification))
                    decoded = Block.decode(
                        bytes(block.header.encoded)
                        + encode_compact(len(block.extrinsics))
                        + b"".join(block.extrinsics)
                    )
                    verify_certificate(cert, decoded.header.hash, n, validator_set, genesis)
                    self.signatures += len(cert.signatures)
                except Exception as e:  # noqa: BLE001 - every failure is recorded and asserted on by the caller
                    self.bad_certificates.append((n, f"{type(e).__name__}: {e}"))

    @property
    def duplicate_inclusions(self) -> dict[bytes, list[int]]:
        return {h: blocks for h, blocks in self.extrinsic_blocks.items() if len(blocks) > 1}


def local_validator_set() -> ValidatorSet:
    from chain.primitives.crypto import dev_keypair

    return ValidatorSet.of((dev_keypair(n).public, 10**17) for n in ("Alice", "Bob", "Charlie", "Dave"))


def wait_until(predicate, timeout: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except ClientError as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last})")
