"""Node configuration: every setting a `gradchain node` run needs, checked once at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chain.blobs import DEFAULT_MAX_TOTAL_BYTES, DEFAULT_MAX_UPLOADER_BYTES
from chain.network.peers import RESERVED_SLOTS  # of --max-peers, kept for bootnodes
from chain.network.transport import DEFAULT_PER_ADDRESS

DEFAULT_P2P_PORT = 30333
DEFAULT_GRPC_PORT = 50051
DEFAULT_RPC_PORT = 9944
DEFAULT_PROMETHEUS_PORT = 9615
LOOPBACK = "127.0.0.1"
EXTERNAL = "0.0.0.0"

# Empty blocks are not produced faster than this: a proposer with an empty pool waits up to this long for a
# transaction before proposing a block that holds only the timestamp inherent. Blocks follow each other
# without waiting while transactions are pending.
DEFAULT_IDLE_BLOCK_INTERVAL = 2.0
MAX_MIN_BLOCK_INTERVAL = 10.0
DEFAULT_BLOB_RETENTION = 24 * 3600.0  # a day for an upload to find its job, or a submitter its model
MIB = 1024 * 1024
DEFAULT_BLOB_STORE_QUOTA_MIB = DEFAULT_MAX_TOTAL_BYTES // MIB  # all blobs on disk (chain.blobs)
DEFAULT_BLOB_UPLOADER_QUOTA_MIB = DEFAULT_MAX_UPLOADER_BYTES // MIB  # what one uploader's address stores
MAX_BLOB_QUOTA_MIB = 1 << 30

# Connection limits (see chain.network.descriptors for the defaults derived from RLIMIT_NOFILE). A limit of
# None takes that listener's share of the descriptor limit.
DEFAULT_MAX_PEERS = 32
MAX_PEERS_LIMIT = 1_000
DEFAULT_RPC_MAX_CONNECTIONS = 100
DEFAULT_RPC_MAX_CONNECTIONS_PER_IP = 32
DEFAULT_GRPC_MAX_CALLS_PER_IP = 512
# TCP connections one remote IP address may hold to a gRPC listener (chain.network.connections_per_address):
# room for a host's handshakes and peers on p2p (peers.MAX_HANDSHAKES_PER_HOST + MAX_PEERS_PER_HOST is 32),
# and for many clients behind one address on the API.
DEFAULT_P2P_MAX_CONNECTIONS_PER_IP = DEFAULT_PER_ADDRESS
DEFAULT_GRPC_MAX_CONNECTIONS_PER_IP = 64
CONNECTIONS_LIMIT = 100_000
# Threads that verify peers' transaction batches' signatures (chain.node.signature_verifier): two use a
# second core where there is one, and more gain little while the loop's own Python holds the GIL.
# Off by default: on 2 shared cores the threads raised gRPC p50 latency 2-4x (docs/throughput.md). Each
# verification's return needs the GIL back from a busy event loop, so a batch's chunk waits on the loop.
DEFAULT_SIGNATURE_THREADS = 0
MAX_SIGNATURE_THREADS = 64


class ConfigError(ValueError):
    """A node setting that cannot work, named with the flag that set it."""


@dataclass
class NodeConfig:
    chain: str = "dev"
    base_path: Path = Path(".gradchain")
    name: str = "gradchain-node"
    validator: bool = False
    key: str | None = None  # validator session key: a key file or a secret URI
    key_password: str | None = None
    p2p_host: str = LOOPBACK
    p2p_port: int = DEFAULT_P2P_PORT
    grpc_host: str = LOOPBACK
    grpc_port: int = DEFAULT_GRPC_PORT
    rpc_host: str = LOOPBACK
    rpc_port: int | None = DEFAULT_RPC_PORT
    rpc_methods: str = "auto"
    rpc_cors: list[str] = field(default_factory=lambda: ["http://localhost:*", "http://127.0.0.1:*"])
    rpc_max_connections: int = DEFAULT_RPC_MAX_CONNECTIONS
    rpc_max_connections_per_ip: int = DEFAULT_RPC_MAX_CONNECTIONS_PER_IP
    max_peers: int = DEFAULT_MAX_PEERS
    p2p_max_connections: int | None = None  # raw TCP connections on the p2p listener
    grpc_max_connections: int | None = None  # raw TCP connections on the gRPC API listener
    grpc_max_calls_per_ip: int = DEFAULT_GRPC_MAX_CALLS_PER_IP
    p2p_max_connections_per_ip: int = DEFAULT_P2P_MAX_CONNECTIONS_PER_IP
    grpc_max_connections_per_ip: int = DEFAULT_GRPC_MAX_CONNECTIONS_PER_IP
    prometheus_host: str = LOOPBACK
    prometheus_port: int | None = DEFAULT_PROMETHEUS_PORT
    bootnodes: list[str] = field(default_factory=list)
    pruning: int | str = 256
    idle_block_interval: float = DEFAULT_IDLE_BLOCK_INTERVAL
    min_block_interval: float = 0.0  # seconds from a commit to the next proposal (CometBFT's timeout_commit)
    blob_retention: float = DEFAULT_BLOB_RETENTION  # seconds an unpinned blob is kept
    blob_store_quota_mib: int = DEFAULT_BLOB_STORE_QUOTA_MIB
    blob_uploader_quota_mib: int = DEFAULT_BLOB_UPLOADER_QUOTA_MIB
    node_key_file: Path | None = None
    signature_threads: int = DEFAULT_SIGNATURE_THREADS  # verify received batches' signatures; 0: on the loop

    def check(self) -> None:
        for flag, port in (
            ("--p2p-port", self.p2p_port),
            ("--grpc-port", self.grpc_port),
            ("--rpc-port", self.rpc_port),
            ("--prometheus-port", self.prometheus_port),
        ):
            if port is not None and not 0 <= port <= 65535:
                raise ConfigError(f"{flag} {port} is not a TCP port")
        if self.validator and not self.key:
            raise ConfigError("--validator needs --key (a key file or a secret URI such as //Alice)")
        if self.rpc_methods not in ("auto", "safe", "unsafe"):
            raise ConfigError(f"--rpc-methods must be auto, safe or unsafe, not {self.rpc_methods!r}")
        for node in self.bootnodes:
            host, _, port = node.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"--bootnodes entry {node!r} is not HOST:PORT")
        self._check_limits()
        if self.idle_block_interval < 0:
            raise ConfigError("--idle-block-interval cannot be negative")
        if not 0 <= self.min_block_interval <= MAX_MIN_BLOCK_INTERVAL:
            raise ConfigError(
                f"--min-block-interval {self.min_block_interval} is outside 0..{MAX_MIN_BLOCK_INTERVAL} s"
            )
        if self.blob_retention < 0:
            raise ConfigError("--blob-retention cannot be negative")
        for flag, quota in (
            ("--blob-store-quota", self.blob_store_quota_mib),
            ("--blob-uploader-quota", self.blob_uploader_quota_mib),
        ):
            if not 1 <= quota <= MAX_BLOB_QUOTA_MIB:
                raise ConfigError(f"{flag} {quota} MiB is outside 1..{MAX_BLOB_QUOTA_MIB}")
        if self.blob_uploader_quota_mib > self.blob_store_quota_mib:
            raise ConfigError(
                f"--blob-uploader-quota {self.blob_uploader_quota_mib} MiB is more than the whole store's "
                f"--blob-store-quota {self.blob_store_quota_mib} MiB"
            )
        if not 0 <= self.signature_threads <= MAX_SIGNATURE_THREADS:
            raise ConfigError(
                f"--signature-threads {self.signature_threads} is outside 0..{MAX_SIGNATURE_THREADS}"
            )

    def _check_limits(self) -> None:
        counts = (
            ("--rpc-max-connections", self.rpc_max_connections, 1),
            ("--rpc-max-connections-per-ip", self.rpc_max_connections_per_ip, 1),
            ("--max-peers", self.max_peers, RESERVED_SLOTS + 1),
            ("--p2p-max-connections", self.p2p_max_connections, 1),
            ("--grpc-max-connections", self.grpc_max_connections, 1),
            ("--grpc-max-calls-per-ip", self.grpc_max_calls_per_ip, 1),
            ("--p2p-max-connections-per-ip", self.p2p_max_connections_per_ip, 1),
            ("--grpc-max-connections-per-ip", self.grpc_max_connections_per_ip, 1),
        )
        for flag, value, least in counts:
            most = MAX_PEERS_LIMIT if flag == "--max-peers" else CONNECTIONS_LIMIT
            if value is not None and not least <= value <= most:
                raise ConfigError(f"{flag} {value} is outside {least}..{most}")
        if self.p2p_max_connections is not None and self.p2p_max_connections < self.max_peers:
            raise ConfigError(
                f"--p2p-max-connections {self.p2p_max_connections} leaves no room for "
                f"--max-peers {self.max_peers}"
            )

    def chain_dir(self, chain_id: str) -> Path:
        return self.base_path / "chains" / chain_id
