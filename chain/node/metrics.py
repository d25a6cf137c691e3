"""Prometheus metrics of a node, served on `--prometheus-port` (default 9615, loopback unless external)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.best_height = Gauge("gradchain_block_height_best", "Best block number", registry=r)
        self.finalized_height = Gauge("gradchain_block_height_finalized", "Finalized block number", registry=r)
        self.peers = Gauge("gradchain_sync_peers", "Connected peers", registry=r)
        self.pool_ready = Gauge("gradchain_txpool_ready", "Ready transactions in the pool", registry=r)
        self.pool_future = Gauge("gradchain_txpool_future", "Future transactions in the pool", registry=r)
        self.pool_bytes = Gauge("gradchain_txpool_bytes", "Bytes held by the transaction pool", registry=r)
        self.execute_seconds = Histogram("gradchain_block_execute_seconds",
                                         "Time to execute a received block and check its roots", registry=r,
                                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.import_seconds = Histogram("gradchain_block_import_seconds",
                                        "Time to write an executed block and its state to LevelDB (one batch)",
                                        registry=r, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.round_seconds = Histogram("gradchain_consensus_height_seconds",
                                       "Time from entering a height to its commit, all rounds of the height",
                                       registry=r, buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32))
        self.consensus_round = Gauge("gradchain_consensus_round", "Round of the current height", registry=r)

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)
