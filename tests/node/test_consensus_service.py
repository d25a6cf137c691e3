"""The node's consensus service and its metrics on their own, over a real dev node's parts (its LevelDB, its
WAL and signer guard on disk), without starting its network: timeouts from the spec and the node's
intervals, validator sets by height, the validator check peers' reserved slots rely on, and consensus that
pauses on a failed write and resumes by itself once writes work again."""

from __future__ import annotations

import asyncio
import shutil
import socket

import aiohttp
import pytest

from chain.node import consensus_service
from chain.node.config import NodeConfig
from chain.node.metrics import NodeMetrics
from chain.node.service import Node
from chain.primitives.crypto import Keypair, dev_keypair
from runtime.chain_spec import load_chain_spec


def _node(tmp_path, **config) -> Node:
    settings = {
        "base_path": tmp_path,
        "p2p_port": 0,
        "grpc_port": 0,
        "rpc_port": None,
        "prometheus_port": None,
    }
    return Node(NodeConfig(**(settings | config)), load_chain_spec("dev"), validator_key=dev_keypair("Alice"))


def test_a_proposer_waits_the_longest_of_the_specs_timeout_and_the_nodes_block_intervals(tmp_path):
    node = _node(tmp_path, idle_block_interval=4.0, min_block_interval=0.5)
    try:
        timeouts = node.consensus.timeouts()
        assert timeouts.propose_base == 5.0  # the idle interval + 1 s beats the spec's 1 s and 0.5 + 1 s
        spec = node.spec.consensus
        assert timeouts.prevote_base == spec.get("prevoteTimeoutMs", 500) / 1000
    finally:
        node.store.close()


def test_validator_sets_are_known_for_the_next_two_heights_and_no_further(tmp_path):
    node = _node(tmp_path)
    try:
        alice = dev_keypair("Alice").public
        assert alice in node.consensus.validator_set_for(1)
        assert alice in node.consensus.validator_set_for(2)
        with pytest.raises(ValueError, match="not known yet"):
            node.consensus.validator_set_for(3)
        assert node.consensus.is_validator(alice)
        assert not node.consensus.is_validator(Keypair.generate().public)
    finally:
        node.store.close()


def test_consensus_paused_by_a_failed_write_resumes_by_itself_once_writes_work(tmp_path, monkeypatch):
    monkeypatch.setattr(consensus_service, "RESUME_SECONDS", 0.05)

    async def scenario():
        node = _node(tmp_path)
        node.loop = asyncio.get_running_loop()
        node.spawn = lambda coro: coro.close()  # no proposals or gossip: only the service's own recovery
        service = node.consensus
        try:
            service.resume()
            assert service.driver is not None and service.paused is None
            wal_dir = service.wal_dir
            shutil.rmtree(wal_dir)
            wal_dir.write_bytes(b"")  # a file where the WAL's directory belongs: every rebuild fails
            service.pause("OSError: test")
            await asyncio.sleep(0.3)  # several retries, all failing
            assert service.driver is None and service.paused == "OSError: test"
            wal_dir.unlink()  # the resource is back
            for _ in range(100):
                if service.driver is not None:
                    break
                await asyncio.sleep(0.05)
            assert service.driver is not None and service.paused is None
        finally:
            node.store.close()

    asyncio.run(scenario())


def test_metrics_page_serves_the_nodes_figures_and_a_busy_port_is_named(tmp_path):
    async def scenario():
        metrics = NodeMetrics()
        metrics.best_height.set(7)
        metrics.peers.set(3)
        metrics.execute_seconds.observe(0.02)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        metrics.serve("127.0.0.1", port)
        await asyncio.sleep(0.2)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as page,
        ):
            text = await page.text()
        assert "gradchain_block_height_best 7.0" in text
        assert "gradchain_sync_peers 3.0" in text
        assert "gradchain_block_execute_seconds_count 1.0" in text
        with pytest.raises(OSError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            NodeMetrics().serve("127.0.0.1", port)
        metrics._serving.cancel()

    asyncio.run(scenario())
