"""A broken disk: a damaged database is refused with its message or recovered, never served as healthy, and
a transient write failure pauses consensus only until writes work again.

Each test runs a real dev node (in process for the write failures, as a `gradchain node` process for the
damaged databases), damages what it wrote, and starts it again.
"""

from __future__ import annotations

import asyncio
import errno
import shutil
import time
from pathlib import Path

import pytest

from chain.node.config import NodeConfig
from chain.node.integrity import DatabaseInconsistent, check_database, finalized_by_consensus
from chain.node.runner import NodeStartError, run_node
from chain.node.service import Node
from chain.node.storage_setup import open_chain_database
from chain.primitives.crypto import dev_keypair
from chain.storage.kv import Column
from consensus import storage as consensus_storage
from runtime.chain_spec import load_chain_spec
from tests.faults.cluster import wait_until
from tests.integration.harness import Network as ProcessNetwork
from tests.integration.harness import head_or_zero


def _config(base: Path) -> NodeConfig:
    return NodeConfig(
        base_path=base,
        p2p_port=0,
        grpc_port=0,
        rpc_port=None,
        prometheus_port=None,
        validator=True,
        key="//Alice",
        idle_block_interval=0.05,
    )


async def _run_until(node: Node, height: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while node.chain.number < height:
        assert time.monotonic() < deadline, f"stuck at #{node.chain.number} (paused: {node.consensus_paused})"
        await asyncio.sleep(0.05)


def _grow_chain(base: Path, height: int) -> None:
    async def scenario():
        node = Node(_config(base), load_chain_spec("dev"), validator_key=dev_keypair("Alice"))
        await node.start()
        try:
            await _run_until(node, height)
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_failed_guard_writes_pause_consensus_which_resumes_once_writes_work(tmp_path, monkeypatch):
    """EMFILE on every guard write for 1.5 s (the reserve spent too): no block is signed meanwhile, nothing
    crashes, and the node finalizes again on its own within seconds after."""
    real_store = consensus_storage.AtomicFile._store
    failing_until = [0.0]

    def flaky_store(self, data):
        if time.monotonic() < failing_until[0]:
            raise OSError(errno.EMFILE, "Too many open files", self.path + ".tmp")
        return real_store(self, data)

    monkeypatch.setattr(consensus_storage.AtomicFile, "_store", flaky_store)

    async def scenario():
        node = Node(_config(tmp_path), load_chain_spec("dev"), validator_key=dev_keypair("Alice"))
        await node.start()
        try:
            await _run_until(node, 3)
            failing_until[0] = time.monotonic() + 1.5
            await asyncio.sleep(0.5)
            paused_at = node.chain.number
            assert node.consensus_paused is not None and "Too many open files" in node.consensus_paused
            await asyncio.sleep(0.8)
            assert node.chain.number <= paused_at + 1
            await _run_until(node, paused_at + 3, timeout=10)
            assert node.consensus_paused is None and not node.halted.is_set()
        finally:
            await node.stop()

    asyncio.run(scenario())


def _refused(base: Path) -> str:
    with pytest.raises(NodeStartError) as refused:
        asyncio.run(
            asyncio.wait_for(
                run_node(_config(base), load_chain_spec("dev"), dev_keypair("Alice"), asyncio.Event()),
                timeout=30,
            )
        )
    return str(refused.value)


def test_invalid_database_with_a_missing_trie_node_is_refused_naming_the_fix(tmp_path):
    _grow_chain(tmp_path, 4)
    db_path = tmp_path / "chains" / "dev" / "db"
    store = open_chain_database(db_path, load_chain_spec("dev"))
    try:
        root = store.info(store.best.hash).state_root
        batch = store.db.batch()
        batch.delete(Column.TRIE, root)
        store.db.write(batch)
        with pytest.raises(DatabaseInconsistent, match="state root .* is missing"):
            check_database(store)
    finally:
        store.close()
    message = _refused(tmp_path)
    assert "is missing" in message and "purge-chain" in message


def test_invalid_database_with_flipped_bytes_in_its_log_is_refused(tmp_path):
    _grow_chain(tmp_path, 6)
    db_path = tmp_path / "chains" / "dev" / "db"
    log_file = max(db_path.glob("*.log"), key=lambda p: p.stat().st_size)
    data = bytearray(log_file.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    log_file.write_bytes(bytes(data))
    message = _refused(tmp_path)
    assert "corrupt" in message.lower() and "purge-chain" in message, message


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("damage", ["deleted db dir", "log truncated to half"])
def test_validator_that_lost_finalized_blocks_says_so_and_syncs_them_back(tmp_path, damage):
    """One of four validators loses the newest blocks of its database: it starts, logs that it is behind
    what it finalized, takes no part in consensus until it has synced them from the others, then goes on."""
    net = ProcessNetwork(tmp_path, chain="local")
    with net:
        net.wait_height(net.nodes, 8, timeout=90)
        dave = net.by_name("Dave")
        dave.stop()
        chain_dir = next((dave.base / "chains").iterdir())
        finalized = finalized_by_consensus(chain_dir / "consensus")
        db_path = chain_dir / "db"
        if damage == "deleted db dir":
            shutil.rmtree(db_path)
        else:
            for log_file in db_path.glob("*.log"):
                data = log_file.read_bytes()
                log_file.write_bytes(data[: len(data) // 2])
        dave.start()
        wait_until(
            lambda: (
                "which this node finalized before" in dave.log_tail(400)
                or "NodeStartError" in dave.log_tail(400)
                or dave.proc.poll() is not None
            ),
            30,
            "Dave to report the lost blocks (or refuse to start)",
        )
        if dave.proc.poll() is not None:  # refused: the damage was detected as corruption
            assert "purge-chain" in dave.log_tail(50), dave.log_tail(50)
            return
        others = max(head_or_zero(n) for n in net.nodes if n is not dave)
        net.wait_height([dave], max(finalized, others) + 2, timeout=60)
        assert "caught up to #" in dave.log_tail(2000)
