"""Prometheus metrics of a node, served on `--prometheus-port` (default 9615, loopback unless external).

The page is served by aiohttp on the node's own event loop, within the same limits as JSON-RPC's listener
(connections capped in total and per address, idle ones closed, SO_REUSEADDR): prometheus_client's own
server starts a thread per connection with no timeout and spins on a full descriptor table.
"""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest

from chain.api.jsonrpc_limits import ConnectionGate, install_gate

MAX_SCRAPERS, MAX_SCRAPERS_PER_ADDRESS, SCRAPER_IDLE_SECONDS = 16, 4, 30.0


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.best_height = Gauge("gradchain_block_height_best", "Best block number", registry=r)
        self.finalized_height = Gauge(
            "gradchain_block_height_finalized", "Finalized block number", registry=r
        )
        self.peers = Gauge("gradchain_sync_peers", "Connected peers", registry=r)
        self.pool_ready = Gauge("gradchain_txpool_ready", "Ready transactions in the pool", registry=r)
        self.pool_future = Gauge("gradchain_txpool_future", "Future transactions in the pool", registry=r)
        self.pool_bytes = Gauge("gradchain_txpool_bytes", "Bytes held by the transaction pool", registry=r)
        self.execute_seconds = Histogram(
            "gradchain_block_execute_seconds",
            "Time to execute a received block and check its roots",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.import_seconds = Histogram(
            "gradchain_block_import_seconds",
            "Time to write an executed block and its state to LevelDB (one batch)",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.round_seconds = Histogram(
            "gradchain_consensus_height_seconds",
            "Time from entering a height to its commit, all rounds of the height",
            registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
        )
        self.consensus_round = Gauge("gradchain_consensus_round", "Round of the current height", registry=r)

    def serve(self, host: str, port: int) -> None:
        """Bind `host:port` now (OSError if it is busy) and serve /metrics from the running event loop."""
        try:
            sock = socket.create_server((host, port))  # SO_REUSEADDR, as every listener of the node
        except OSError as e:
            raise OSError(f"cannot serve metrics on {host}:{port}: {e.strerror or e}") from None
        self._serving = asyncio.get_running_loop().create_task(self._serve(sock))

    async def _serve(self, sock: socket.socket) -> None:
        async def page(_request: web.Request) -> web.Response:
            return web.Response(
                body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

        app = web.Application()
        app.router.add_get("/metrics", page)
        app.router.add_get("/", page)
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=SCRAPER_IDLE_SECONDS)
        await runner.setup()
        install_gate(runner.server, ConnectionGate(MAX_SCRAPERS, MAX_SCRAPERS_PER_ADDRESS))
        await web.SockSite(runner, sock).start()
