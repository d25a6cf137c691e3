"""The node: storage, runtime, transaction pool, network and APIs, with its components wired together.

Everything runs on one asyncio loop, but for the signature verifier's threads. The components, each in its
own module:
- `ChainState` (chain_state): the database and the runtime's block pipeline on the head state;
- `ConsensusService` (consensus_service): the BFT driver, its timers, the proposer, recovery from failed
  writes;
- `BlockImport` (block_import): committing decided blocks, sync from peers, what follows each commit;
- `EvidencePool` (evidence_pool): equivocation evidence waiting for a block, and staking's check of it;
- `SubscriptionHub` (subscriptions): new heads, events and watched transactions for the APIs;
- `NodeMetrics` (metrics): the Prometheus page;
- `SignatureVerifier` (signature_verifier): worker threads that verify received batches' signatures ahead of
  the pool, into the runtime's signature cache;
- `MarketBlobPins` (compute_market.blob_pins): the blobs live jobs reference, kept; the rest, collected.
`Node` owns them, the transaction pool and the network, and is the network's `PeerHandler`: it checks what
peers send at the edge and hands it to the component it is for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from chain.api.market_service import market_grpc_service
from chain.api.substrate_rpc import start_substrate_rpc
from chain.blobs import BlobStore
from chain.network.descriptors import DescriptorReserve
from chain.network.peers import Misbehaviour, Network, Peer
from chain.network.transport import GrpcTransport, Transport
from chain.node.block_import import BlockImport
from chain.node.chain_state import MAX_FUTURE_DRIFT_MS, ChainState
from chain.node.config import MIB, NodeConfig
from chain.node.consensus_service import ConsensusService
from chain.node.evidence_pool import EvidencePool
from chain.node.integrity import check_database, finalized_by_consensus
from chain.node.metrics import NodeMetrics
from chain.node.node_key import load_or_create_node_key
from chain.node.signature_verifier import SignatureVerifier
from chain.node.storage_setup import open_chain_database
from chain.node.subscriptions import SubscriptionHub
from chain.primitives.codec import DecodeError
from chain.primitives.crypto import Keypair
from chain.primitives.extrinsic import UncheckedExtrinsic
from chain.txpool import InvalidTransaction, PoolError, TransactionPool
from compute_market.blob_pins import MarketBlobPins
from consensus.driver import ConsensusDriver
from consensus.validators import ValidatorSet
from runtime import validity as v
from runtime.chain_spec import ChainSpec
from runtime.pallets import staking
from runtime.pallets.system import Account

log = logging.getLogger("gradchain.node")

# Blocks claim at least the parent's time plus Timestamp's minimum period, so blocks faster than that run
# ahead of the clock; a proposer waits rather than claim more than this lead, which peers (who tolerate
# MAX_FUTURE_DRIFT_MS) would reject, losing the round.
TIMESTAMP_LEAD_MS = MAX_FUTURE_DRIFT_MS - 10_000
# Relaying a peer's transaction is best effort: with this many relays still queued behind the peers' send
# locks, more are dropped (the transaction stays pooled here), so consensus messages never wait behind an
# unbounded backlog of transaction gossip when the node is overloaded.
MAX_PENDING_RELAYS = 256
MAX_STRIKES = 8  # bad signatures a peer may relay before it is banned (a slip is not a ban; a habit is)


class Node:
    max_timestamp_lead_ms = TIMESTAMP_LEAD_MS

    def __init__(
        self,
        config: NodeConfig,
        spec: ChainSpec,
        transport: Transport | None = None,
        validator_key: Keypair | None = None,
    ):
        config.check()
        self.config, self.spec = config, spec
        self.chain_dir = config.chain_dir(spec.id)
        self.descriptors = DescriptorReserve()  # freed for the WAL, guard and database when fds run out
        self.store = open_chain_database(self.chain_dir / "db", spec, config.pruning)
        try:
            check_database(self.store)
            # blocks this node once finalized; a head below it lost them, and catches up before consensus
            self.finalized_before = finalized_by_consensus(self.chain_dir / "consensus")
        except BaseException:
            self.store.close()
            raise
        self.validator_key = validator_key
        self.halted = asyncio.Event()  # set when the node must stop on its own (see `halt`)
        self.halt_reason: str | None = None
        self.runtime = spec.runtime()
        self.chain = ChainState(self.store, self.runtime)
        self.metrics = NodeMetrics()
        self.chain.on_executed = self.metrics.execute_seconds.observe
        self.subscriptions = SubscriptionHub()
        self.signatures = SignatureVerifier(config.signature_threads)
        self.pool = TransactionPool(
            self._validate_for_pool, sender_of=_sender_of, on_status=self.subscriptions.on_pool_status
        )
        self.node_key = load_or_create_node_key(
            config.node_key_file or self.chain_dir / "network" / "secret_ed25519"
        )
        self.network = Network(
            transport or GrpcTransport(config.p2p_max_connections, config.p2p_max_connections_per_ip),
            self.node_key,
            spec.genesis_hash,
            self,
            f"{config.p2p_host}:{config.p2p_port}",
            config.bootnodes or spec.boot_nodes,
            node_name=config.name,
            max_peers=config.max_peers,
            validator_key=validator_key,
            is_validator=lambda session_key: self.consensus.is_validator(session_key),
        )
        self.blobs = BlobStore(
            self.chain_dir / "blobs",
            max_total_bytes=config.blob_store_quota_mib * MIB,
            max_uploader_bytes=config.blob_uploader_quota_mib * MIB,
        )
        self.network.blob_store = self.blobs
        self.blob_pins = MarketBlobPins(self.blobs, config.blob_retention)
        self.consensus = ConsensusService(self)
        self.blocks = BlockImport(self)
        self.evidence = EvidencePool(
            self.chain,
            spec.genesis_hash,
            self.consensus.validator_set_for,
            lambda evidence, peer: self.spawn(self.network.gossip_evidence(evidence, exclude=peer)),
        )
        self.runtime.register_hook(staking.EQUIVOCATION_HOOK, self.evidence.verify)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        self._relays_pending = 0
        self.started_at_number = self.chain.number  # the head when this process started (system_syncState)
        self.started = asyncio.Event()

    # --- the components' state, as the APIs and tests read it ------------------------------------------------

    @property
    def driver(self) -> ConsensusDriver | None:
        return self.consensus.driver

    @property
    def consensus_paused(self) -> str | None:
        return self.consensus.paused

    @property
    def listeners(self) -> dict[str, set[Callable]]:
        return self.subscriptions.listeners

    @property
    def watchers(self) -> dict[bytes, set[Callable]]:
        return self.subscriptions.watchers

    def validator_set_for(self, height: int) -> ValidatorSet:
        return self.consensus.validator_set_for(height)

    # --- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.network.start()
        if self.finalized_before > self.chain.number:
            self.consensus.paused = "catching up"
            log.critical(
                "the database's head #%d is behind #%d, which this node finalized before (its consensus "
                "WAL and signer guard say so): finalized blocks are missing from the database. Syncing "
                "them from peers; this node takes part in consensus again once it is at #%d",
                self.chain.number,
                self.finalized_before,
                self.finalized_before,
            )
        else:
            self.consensus.resume()
        if self.config.prometheus_port is not None:
            self.metrics.serve(self.config.prometheus_host, self.config.prometheus_port)
        self.update_metrics()
        self.spawn(self.consensus.regossip_loop())
        self.started.set()
        log.info(
            "node %s started: chain %s, head #%d 0x%s, %s",
            self.config.name,
            self.spec.id,
            self.chain.number,
            self.chain.head_hash.hex()[:16],
            "validating" if self.validator_key else "following",
        )

    def extra_grpc_services(self) -> list:
        """Services beside ChainService and BlobService (the market's), as (descriptor, servicer) pairs."""
        return [market_grpc_service(self)]

    async def start_json_rpc(self):
        """Start Substrate's JSON-RPC on --rpc-port (see chain.api.substrate_rpc)."""
        self.rpc = await start_substrate_rpc(self)
        return self.rpc

    async def stop(self) -> None:
        if getattr(self, "rpc", None) is not None:
            await self.rpc.stop()
        for task in list(self._tasks):
            task.cancel()
        await self.network.stop()
        self.signatures.close()
        self.store.close()
        self.descriptors.close()

    def spawn(self, coro) -> asyncio.Task:  # noqa: ANN001 - a coroutine
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("node task failed", exc_info=task.exception())

    def halt(self, reason: str) -> None:
        """Stop the node for good: its state can no longer follow the chain. `run_node` shuts it down and
        the process exits non-zero with `reason`, as CometBFT panics rather than run on a stalled state."""
        if self.halt_reason is None:
            log.critical("halting: %s", reason)
            self.halt_reason = reason
        self.consensus.stop()  # sign nothing more: the engine has moved past a block this node cannot apply
        self.halted.set()

    def timestamp_lead_ms(self) -> int:
        """How far ahead of this node's clock the next block's timestamp would be."""
        now_ms = int(time.time() * 1000)
        return self.chain.next_timestamp(now_ms) - now_ms

    def update_metrics(self) -> None:
        m = self.metrics
        m.best_height.set(self.chain.number)
        m.finalized_height.set(self.chain.number)
        m.peers.set(len(self.network.peers))
        m.pool_ready.set(self.pool.ready_count())
        m.pool_future.set(self.pool.future_count())
        m.pool_bytes.set(self.pool.bytes_used)
        if self.driver is not None:
            m.consensus_round.set(self.driver.engine.round)

    # --- transactions and subscriptions (the APIs' entry points) ---------------------------------------------------

    def _validate_for_pool(self, raw: bytes):
        try:
            return self.chain.validate_transaction(raw)
        except v.TransactionValidityError as e:
            raise InvalidTransaction(e) from None

    def submit_extrinsic(self, raw: bytes) -> bytes:
        """Validate and pool an extrinsic, gossip it if it is ready, and return its hash; raises PoolError with
        the reason."""
        tx_hash = self.pool.submit(raw)
        if self._propagates(tx_hash):
            self.spawn(self.network.gossip_transaction(raw))
        self.update_metrics()
        return tx_hash

    def watch(self, tx_hash: bytes, callback: Callable) -> Callable[[], None]:
        return self.subscriptions.watch(tx_hash, callback)

    def subscribe(self, kind: str, callback: Callable) -> Callable[[], None]:
        return self.subscriptions.subscribe(kind, callback)

    def next_index(self, account: bytes) -> int:
        """The nonce to sign next: the on-chain nonce, past every consecutive nonce already in the pool."""
        raw = self.chain.state_at(None).get(Account.key(account))
        nonce = Account.default.nonce if raw is None else Account.value.decode_bytes(raw).nonce
        while self.pool.provides(account + nonce.to_bytes(4, "little")):
            nonce += 1
        return nonce

    async def fetch_blob(self, blob_hash: bytes) -> bool:
        """Ask peers for a blob this node lacks (see `Network.fetch_blob`)."""
        return await self.network.fetch_blob(blob_hash, self.blobs)

    # --- PeerHandler: what peers send, checked at the edge -------------------------------------------------------

    def best(self) -> tuple[int, bytes]:
        return self.chain.number, self.chain.head_hash

    def strike(self, peer: Peer, what: str) -> None:
        """A peer sent something well-formed that no honest node relays; ban it at MAX_STRIKES of them."""
        peer.strikes += 1
        if peer.strikes >= MAX_STRIKES:
            raise Misbehaviour(f"{peer.strikes} invalid messages, the last {what}")

    async def prepare_transactions(self, raws: list[bytes]) -> None:
        """Verify the batch's signatures on the verifier's threads, so that `on_transaction`'s pool checks,
        one by one on the loop, find them in the runtime's signature cache. Without threads (the default)
        nothing is prepared: building the checks would only cost the loop."""
        if self.signatures.threads:
            await self.signatures.verify(self.chain.signature_checks(raws))

    async def on_transaction(self, raw: bytes, peer: Peer) -> None:
        try:
            tx_hash = self.pool.submit(raw)
        except InvalidTransaction as e:
            if isinstance(e.reason, v.Undecodable):
                raise Misbehaviour(f"undecodable transaction: {e}") from None
            if isinstance(e.reason, v.BadProof):  # an honest node checks a signature before relaying it
                self.strike(peer, "a transaction with a bad signature")
            return  # stale or future relative to our state: not the peer's fault
        except PoolError:
            return
        if not self._propagates(tx_hash):
            return
        # Relayed in a task, never awaited here: the peer's receive loop must not wait on sends to other peers,
        # whose receive loops may in turn wait on sends back to this one (under load, a cycle of full
        # HTTP/2 windows that stalls every stream, consensus votes included).
        if self._relays_pending < MAX_PENDING_RELAYS:
            self._relays_pending += 1
            self.spawn(self._relay_transaction(raw, peer))

    def _propagates(self, tx_hash: bytes) -> bool:
        """Only ready transactions are gossiped, as in Substrate: a future one waits in this node's pool (its
        own bounded share) and would only fill every other node's future share too. Its sender's earlier
        nonces, once they arrive, make it ready here, and this node includes it when it proposes."""
        tx = self.pool.get(tx_hash)
        return tx is not None and tx.ready

    async def _relay_transaction(self, raw: bytes, source: Peer) -> None:
        try:
            await self.network.gossip_transaction(raw, exclude=source)
        finally:
            self._relays_pending -= 1

    async def on_consensus(self, payload: bytes, peer: Peer) -> None:
        try:
            await self.consensus.on_message(payload, peer)
        except DecodeError as e:
            raise Misbehaviour(f"undecodable consensus message: {e}") from None

    async def on_evidence(self, payload: bytes, peer: Peer) -> None:
        self.evidence.add(payload, peer)

    async def on_block(self, block: bytes, justification: bytes, peer: Peer) -> None:
        await self.blocks.on_block(block, justification, peer)

    async def on_sync_request(self, from_number: int, max_blocks: int) -> list[tuple[bytes, bytes]]:
        return await self.blocks.on_sync_request(from_number, max_blocks)

    async def on_sync_response(self, blocks: list[tuple[bytes, bytes]], peer_best: int, peer: Peer) -> None:
        await self.blocks.on_sync_response(blocks, peer_best, peer)

    async def on_peer_status(self, best_number: int, best_hash: bytes, peer: Peer) -> None:
        await self.blocks.on_peer_status(best_number, best_hash, peer)


def _sender_of(raw: bytes) -> bytes | None:
    try:
        xt = UncheckedExtrinsic.decode(raw)
    except DecodeError:
        return None
    return xt.signature.signer if xt.signature else None


__all__ = ["Node"]
