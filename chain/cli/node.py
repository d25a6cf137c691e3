"""`gradchain node`, `purge-chain` and `build-spec`: run and manage a node."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import click

from chain.cli.key import password_options
from chain.keystore import KeystoreError, load_key
from chain.network.descriptors import throttle_accept_errors
from chain.node.config import (
    CONNECTIONS_LIMIT,
    DEFAULT_BLOB_RETENTION,
    DEFAULT_BLOB_STORE_QUOTA_MIB,
    DEFAULT_BLOB_UPLOADER_QUOTA_MIB,
    DEFAULT_GRPC_MAX_CALLS_PER_IP,
    DEFAULT_GRPC_MAX_CONNECTIONS_PER_IP,
    DEFAULT_GRPC_PORT,
    DEFAULT_IDLE_BLOCK_INTERVAL,
    DEFAULT_MAX_PEERS,
    DEFAULT_P2P_MAX_CONNECTIONS_PER_IP,
    DEFAULT_P2P_PORT,
    DEFAULT_PROMETHEUS_PORT,
    DEFAULT_RPC_MAX_CONNECTIONS,
    DEFAULT_RPC_MAX_CONNECTIONS_PER_IP,
    DEFAULT_RPC_PORT,
    DEFAULT_SIGNATURE_THREADS,
    EXTERNAL,
    LOOPBACK,
    MAX_BLOB_QUOTA_MIB,
    MAX_PEERS_LIMIT,
    MAX_SIGNATURE_THREADS,
    RESERVED_SLOTS,
    ConfigError,
    NodeConfig,
)
from chain.primitives.crypto import SignatureScheme

LOG_LEVELS = ["error", "warn", "info", "debug", "trace"]
GUARD_FILE = "last_signed"  # the signer guard's state, beside the WAL (chain.node.service)


def _load_spec(chain: str):
    from runtime.chain_spec import ChainSpecError, load_chain_spec  # composes the runtime: not at CLI start

    try:
        return load_chain_spec(chain)
    except ChainSpecError as e:
        raise click.ClickException(f"--chain {chain}: {e}") from None


def parse_cors(value: str) -> list[str]:
    """`--rpc-cors`: 'all' (or '*') allows any origin, 'none' none; otherwise comma-separated patterns."""
    value = value.strip()
    if value in ("all", "*"):
        return ["all"]
    if value == "none":
        return []
    origins = [o.strip() for o in value.split(",") if o.strip()]
    if not origins:
        raise click.BadParameter("expected comma-separated origins, 'all' or 'none'", param_hint="--rpc-cors")
    for origin in origins:
        if origin != "null" and "://" not in origin:
            raise click.BadParameter(
                f"{origin!r} is not an origin (protocol://host[:port], or 'null')", param_hint="--rpc-cors"
            )
    return origins


def _setup_logging(level: str) -> None:
    py_level = {
        "error": logging.ERROR,
        "warn": logging.WARNING,
        "info": logging.INFO,
        "debug": logging.DEBUG,
        "trace": logging.DEBUG,
    }[level]
    logging.basicConfig(
        level=py_level, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("aiohttp.access", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@click.command()
@click.option(
    "--dev", is_flag=True, help="Shortcut for --chain dev --validator --key //Alice on a temporary base path."
)
@click.option("--chain", default=None, help="dev, local, or the path of a chain spec JSON file.")
@click.option(
    "-d",
    "--base-path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the node keeps its data (default: ~/.local/share/gradchain, or a temp dir with --dev).",
)
@click.option("--name", default=None, help="The node's human-readable name.")
@click.option("--validator", is_flag=True, help="Take part in consensus with --key.")
@click.option(
    "--key",
    default=None,
    help="Validator session key: a key file or a secret URI such as //Alice "
    "(Ed25519: consensus keys are never sr25519).",
)
@password_options("password of an encrypted --key file")
@click.option("--p2p-port", type=click.IntRange(0, 65535), default=DEFAULT_P2P_PORT, show_default=True)
@click.option("--grpc-port", type=click.IntRange(0, 65535), default=DEFAULT_GRPC_PORT, show_default=True)
@click.option("--rpc-port", type=click.IntRange(0, 65535), default=DEFAULT_RPC_PORT, show_default=True)
@click.option(
    "--prometheus-port", type=click.IntRange(0, 65535), default=DEFAULT_PROMETHEUS_PORT, show_default=True
)
@click.option("--no-prometheus", is_flag=True, help="Do not serve Prometheus metrics.")
@click.option("--p2p-external", is_flag=True, help="Listen for peers on all interfaces, not only 127.0.0.1.")
@click.option("--grpc-external", is_flag=True, help="Serve gRPC on all interfaces.")
@click.option(
    "--rpc-external",
    is_flag=True,
    help="Serve JSON-RPC on all interfaces (unsafe methods then need --rpc-methods unsafe).",
)
@click.option("--prometheus-external", is_flag=True, help="Serve metrics on all interfaces.")
@click.option(
    "--rpc-methods", type=click.Choice(["auto", "safe", "unsafe"]), default="auto", show_default=True
)
@click.option(
    "--rpc-cors",
    default=None,
    help="Browser origins allowed to use JSON-RPC: comma-separated patterns (e.g. "
    "'https://app.example,http://localhost:*'), 'all' to allow any, or 'none' to refuse every "
    "request that carries an Origin. Default: localhost and 127.0.0.1 on any port.",
)
@click.option(
    "--rpc-max-connections",
    type=click.IntRange(1, CONNECTIONS_LIMIT),
    default=DEFAULT_RPC_MAX_CONNECTIONS,
    show_default=True,
    help="JSON-RPC connections (HTTP and WebSocket) open at once; a fifth of them "
    "is kept for HTTP. Connections over it are closed as they are accepted.",
)
@click.option(
    "--rpc-max-connections-per-ip",
    type=click.IntRange(1, CONNECTIONS_LIMIT),
    default=DEFAULT_RPC_MAX_CONNECTIONS_PER_IP,
    show_default=True,
    help="JSON-RPC connections open at once from one remote IP address (--rpc-max-connections "
    "caps them too).",
)
@click.option(
    "--max-peers",
    type=click.IntRange(RESERVED_SLOTS + 1, MAX_PEERS_LIMIT),
    default=DEFAULT_MAX_PEERS,
    show_default=True,
    help=f"Peers connected at once, of which {RESERVED_SLOTS} are kept for bootnodes; "
    "a peer that has sent nothing new longest is evicted for a newcomer.",
)
@click.option(
    "--p2p-max-connections",
    type=click.IntRange(1, CONNECTIONS_LIMIT),
    default=None,
    help="TCP connections the p2p listener holds at once, handshaking or not (at least --max-peers). "
    "Default: 40% of the descriptor limit (ulimit -n) left after 256 kept for the node's files.",
)
@click.option(
    "--grpc-max-connections",
    type=click.IntRange(1, CONNECTIONS_LIMIT),
    default=None,
    help="TCP connections the gRPC API listener holds at once. Default: 20% of the descriptor limit "
    "left after 256 kept for the node's files.",
)
@click.option(
    "--grpc-max-calls-per-ip",
    type=click.IntRange(1, CONNECTIONS_LIMIT),
    default=DEFAULT_GRPC_MAX_CALLS_PER_IP,
    show_default=True,
    help="gRPC calls (streams included) open at once from one remote IP address; more are refused "
    "with RESOURCE_EXHAUSTED.",
)
@click.option(
    "--p2p-max-connections-per-ip",
    type=click.IntRange(1, CONNECTIONS_LIMIT),
    default=DEFAULT_P2P_MAX_CONNECTIONS_PER_IP,
    show_default=True,
    help="TCP connections to the p2p listener from one remote IP address; the latest over it are closed "
    "within a second (Linux; elsewhere only --p2p-max-connections applies).",
)
@click.option(
    "--grpc-max-connections-per-ip",
    type=click.IntRange(1, CONNECTIONS_LIMIT),
    default=DEFAULT_GRPC_MAX_CONNECTIONS_PER_IP,
    show_default=True,
    help="TCP connections to the gRPC API listener from one remote IP address; the latest over it are "
    "closed within a second (Linux; elsewhere only --grpc-max-connections applies).",
)
@click.option("--bootnodes", multiple=True, help="HOST:PORT of a peer to connect to (repeatable).")
@click.option("--pruning", default="256", show_default=True, help="Blocks of state to keep, or 'archive'.")
@click.option(
    "--idle-block-interval",
    type=float,
    default=DEFAULT_IDLE_BLOCK_INTERVAL,
    show_default=True,
    help="Seconds a proposer waits for a transaction before proposing an empty block.",
)
@click.option(
    "--min-block-interval",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds a proposer waits after the last commit before proposing, so that transactions arriving "
    "meanwhile share one block (CometBFT's timeout_commit). A validator of a multi-validator chain under "
    "load finalizes more per second with 0.2-0.3; see docs/throughput.md.",
)
@click.option(
    "--blob-retention",
    type=click.FloatRange(0),
    default=DEFAULT_BLOB_RETENTION,
    show_default=True,
    help="Seconds an unpinned blob (no live job references it) is kept before it is deleted.",
)
@click.option(
    "--blob-store-quota",
    type=click.IntRange(1, MAX_BLOB_QUOTA_MIB),
    default=DEFAULT_BLOB_STORE_QUOTA_MIB,
    show_default=True,
    help="MiB all stored blobs (datasets, checkpoints, models) may take on disk; an upload past it is "
    "refused with RESOURCE_EXHAUSTED and keeps nothing.",
)
@click.option(
    "--blob-uploader-quota",
    type=click.IntRange(1, MAX_BLOB_QUOTA_MIB),
    default=DEFAULT_BLOB_UPLOADER_QUOTA_MIB,
    show_default=True,
    help="MiB of stored blobs one uploader (by IP address) may hold at once (at most --blob-store-quota).",
)
@click.option("--node-key-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--signature-threads",
    type=click.IntRange(0, MAX_SIGNATURE_THREADS),
    default=DEFAULT_SIGNATURE_THREADS,
    show_default=True,
    help="Threads that verify the signatures of transaction batches from peers in parallel, ahead of the "
    "pool's check on the event loop; 0 verifies every signature on the loop.",
)
@click.option("-l", "--log", "log_level", type=click.Choice(LOG_LEVELS), default="info", show_default=True)
def node(
    dev,
    chain,
    base_path,
    name,
    validator,
    key,
    password,
    p2p_port,
    grpc_port,
    rpc_port,
    prometheus_port,
    no_prometheus,
    p2p_external,
    grpc_external,
    rpc_external,
    prometheus_external,
    rpc_methods,
    rpc_cors,
    rpc_max_connections,
    rpc_max_connections_per_ip,
    max_peers,
    p2p_max_connections,
    grpc_max_connections,
    grpc_max_calls_per_ip,
    p2p_max_connections_per_ip,
    grpc_max_connections_per_ip,
    bootnodes,
    pruning,
    idle_block_interval,
    min_block_interval,
    blob_retention,
    blob_store_quota,
    blob_uploader_quota,
    node_key_file,
    signature_threads,
    log_level,
) -> None:
    """Run a gradchain node."""
    _setup_logging(log_level)
    temp_dir = None
    if dev:
        chain = chain or "dev"
        validator = True
        key = key or "//Alice"
        if base_path is None:
            temp_dir = tempfile.mkdtemp(prefix="gradchain-dev-")
            base_path = Path(temp_dir)
    chain = chain or "dev"
    if base_path is None:
        base_path = Path.home() / ".local" / "share" / "gradchain"
    if pruning != "archive":
        if not pruning.isdigit():
            raise click.BadParameter("must be a number of blocks or 'archive'", param_hint="--pruning")
        pruning = int(pruning)
    config = NodeConfig(
        chain=chain,
        base_path=base_path,
        name=name or ("Alice" if dev else "gradchain-node"),
        validator=validator,
        key=key,
        key_password=password,
        p2p_host=EXTERNAL if p2p_external else LOOPBACK,
        p2p_port=p2p_port,
        grpc_host=EXTERNAL if grpc_external else LOOPBACK,
        grpc_port=grpc_port,
        rpc_host=EXTERNAL if rpc_external else LOOPBACK,
        rpc_port=rpc_port,
        rpc_methods=rpc_methods,
        rpc_max_connections=rpc_max_connections,
        rpc_max_connections_per_ip=rpc_max_connections_per_ip,
        max_peers=max_peers,
        p2p_max_connections=p2p_max_connections,
        grpc_max_connections=grpc_max_connections,
        grpc_max_calls_per_ip=grpc_max_calls_per_ip,
        p2p_max_connections_per_ip=p2p_max_connections_per_ip,
        grpc_max_connections_per_ip=grpc_max_connections_per_ip,
        prometheus_host=EXTERNAL if prometheus_external else LOOPBACK,
        prometheus_port=None if no_prometheus else prometheus_port,
        bootnodes=list(bootnodes),
        pruning=pruning,
        idle_block_interval=idle_block_interval,
        min_block_interval=min_block_interval,
        blob_retention=blob_retention,
        blob_store_quota_mib=blob_store_quota,
        blob_uploader_quota_mib=blob_uploader_quota,
        node_key_file=node_key_file,
        signature_threads=signature_threads,
    )
    if rpc_cors is not None:
        config.rpc_cors = parse_cors(rpc_cors)
    try:
        config.check()
        asyncio.run(_run(config))
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


async def _run(config: NodeConfig) -> None:
    from chain.node.runner import NodeHalted, NodeStartError, run_node  # the whole node: not at CLI start

    spec = _load_spec(config.chain)
    key = None
    if config.validator:
        try:
            key = load_key(config.key, config.key_password, allowed=(SignatureScheme.ED25519,))
        except KeystoreError as e:
            raise click.ClickException(f"--key: {e} (validator and consensus keys are Ed25519)") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    throttle_accept_errors(loop)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await run_node(config, spec, key, stop)
    except NodeStartError as e:
        raise click.ClickException(str(e)) from None
    except NodeHalted as e:
        raise click.ClickException(f"the node halted: {e}") from None


@click.command("purge-chain")
@click.option("--chain", default="dev", show_default=True)
@click.option(
    "-d",
    "--base-path",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path.home() / ".local" / "share" / "gradchain",
    show_default=True,
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--delete-signer-guard",
    is_flag=True,
    help="Also delete the validator's signer guard (consensus/last_signed). Only for a key that will "
    "never sign on this chain again: without the guard a validator can sign twice at a height "
    "it already signed, and be slashed for equivocation.",
)
def purge_chain(chain: str, base_path: Path, yes: bool, delete_signer_guard: bool) -> None:
    """Delete a chain's database and consensus write-ahead log, so the node syncs again from its peers.

    Keys, the node identity and the validator's signer guard (the last height, round and step it signed,
    in consensus/last_signed) are kept: a re-synced validator will not sign again at any height it already
    signed, so it votes again once its peers' chain has passed that height (a chain it validated alone
    therefore cannot restart from genesis with this key). --delete-signer-guard removes the guard too.
    """
    spec = _load_spec(chain)
    chain_dir = base_path / "chains" / spec.id
    db, consensus = chain_dir / "db", chain_dir / "consensus"
    guard = consensus / GUARD_FILE
    doomed = [db] if db.exists() else []
    if consensus.exists():
        doomed += [p for p in sorted(consensus.iterdir()) if delete_signer_guard or p.name != GUARD_FILE]
    if not doomed:
        click.echo(f"{db} does not exist; nothing to purge")
        return
    listing = ", ".join(str(p) for p in doomed)
    if not yes and not click.confirm(f"Remove {listing}?", default=False):
        click.echo("Aborted")
        sys.exit(1)
    for path in doomed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        click.echo(f"{path} removed")
    if guard.exists():
        click.echo(f"{guard} kept: this validator will not sign again at a height it already signed")


@click.command("build-spec")
@click.option("--chain", default="dev", show_default=True, help="dev, local or the path of a chain spec.")
@click.option("--raw", is_flag=True, help="Print the genesis as raw storage (key -> value).")
def build_spec(chain: str, raw: bool) -> None:
    """Print a chain spec as JSON (plain, or raw storage with --raw)."""
    spec = _load_spec(chain)
    click.echo(json.dumps(spec.to_raw() if raw else spec.json, indent=2))
