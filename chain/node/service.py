"""The node: storage, runtime, transaction pool, consensus, network and APIs wired together.

Everything runs on one asyncio loop. Consensus inputs (peer messages, timeouts, built blocks) are fed to the
`ConsensusDriver` one at a time and the actions it returns are performed in order: broadcasts go to the
network, timeouts to `loop.call_later`, proposal requests to the block builder, commits to storage.

Block production: a proposer with transactions waiting builds at once; with an empty pool it waits up to
`idle_block_interval` seconds for one (so empty blocks are not produced faster than that), which is why the
propose timeout is set above the idle interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from chain.blobs import BlobStore
from chain.network.descriptors import DescriptorReserve
from chain.network.peers import Misbehaviour, Network, Peer
from chain.network.transport import GrpcTransport, Transport
from chain.node.chain_state import MAX_FUTURE_DRIFT_MS, BlockImportError, ChainState, ExecutedBlock
from chain.node.config import NodeConfig
from chain.node.integrity import check_database, finalized_by_consensus
from chain.node.metrics import NodeMetrics
from chain.node.node_key import load_or_create_node_key
from chain.node.storage_setup import open_chain_database
from chain.primitives.codec import DecodeError
from chain.primitives.crypto import Keypair
from chain.primitives.hashing import blake2_256
from chain.primitives.types import Block
from chain.storage.kv import DatabaseError
from chain.txpool import InvalidTransaction, PoolError, TransactionPool, TxStatus
from consensus.actions import Broadcast, Commit, RecordEvidence, RequestProposal, ScheduleTimeout
from consensus.certificate import CertificateError, CommitCertificate, verify_certificate
from consensus.driver import ConsensusDriver
from consensus.engine import Engine, TimeoutConfig
from consensus.evidence import verify_evidence
from consensus.guard import SignerGuard
from consensus.storage import AppendFile, AtomicFile
from consensus.types import SignedProposal, SignedVote, Timeout
from consensus.validators import ValidatorSet
from consensus.wal import WriteAheadLog
from runtime import validity as v
from runtime.block_builder import equivocation_inherent
from runtime.chain_spec import ChainSpec
from runtime.executive import verified_signature
from runtime.pallets import staking

log = logging.getLogger("gradchain.node")

MSG_PROPOSAL, MSG_VOTE = 0, 1
EVIDENCE_MAX_AGE = 64
REGOSSIP_SECONDS = 2.0
SYNC_BATCH = 128
WAL_ROTATE_EVERY = 64
# A proposer spends at most this long (and at most a quarter of the propose timeout) applying transactions:
# every validator re-executes the block before voting, and a block slower than the timeout loses its round.
BUILD_SECONDS = 0.5
# Blocks claim at least the parent's time plus Timestamp's minimum period, so blocks faster than that run
# ahead of the clock; a proposer waits rather than claim more than this lead, which peers (who tolerate
# MAX_FUTURE_DRIFT_MS) would reject, losing the round.
TIMESTAMP_LEAD_MS = MAX_FUTURE_DRIFT_MS - 10_000
# Relaying a peer's transaction is best effort: with this many relays still queued behind the peers' send
# locks, more are dropped (the transaction stays pooled here), so consensus messages never wait behind an
# unbounded backlog of transaction gossip when the node is overloaded.
MAX_PENDING_RELAYS = 256
BLOB_GC_SECONDS = 60.0
MAX_PENDING_EVIDENCE = 64  # equivocation reports waiting for a block
MAX_STRIKES = 8  # bad signatures a peer may relay before it is banned (a slip is not a ban; a habit is)
RESUME_SECONDS = 1.0  # how often paused consensus tries to rebuild itself from its WAL and guard
CATCH_UP_WARNING_SECONDS = 10.0


def compact_wal(path: Path, keep_from_height: int) -> None:
    """Rewrite the WAL keeping only records of heights >= `keep_from_height` (temp file, fsync, rename)."""
    import os

    from consensus.wal import read_records
    if not path.exists():
        return
    records, _ = read_records(path.read_bytes())
    kept = b"".join(r.frame() for r in records if r.height >= keep_from_height)
    tmp = path.with_suffix(".compact")
    with open(tmp, "wb") as f:
        f.write(kept)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def encode_consensus(message: SignedProposal | SignedVote) -> bytes:
    tag = MSG_PROPOSAL if isinstance(message, SignedProposal) else MSG_VOTE
    return bytes([tag]) + message.encode()


def decode_consensus(payload: bytes) -> SignedProposal | SignedVote:
    if not payload:
        raise DecodeError("empty consensus message")
    if payload[0] == MSG_PROPOSAL:
        return SignedProposal.decode(payload[1:])
    if payload[0] == MSG_VOTE:
        return SignedVote.decode(payload[1:])
    raise DecodeError(f"unknown consensus message tag {payload[0]}")


def safe_block_hash(block: bytes) -> bytes:
    """The header hash of an encoded block; garbage gets a hash no real block has, never an exception."""
    try:
        return Block.decode(block).header.hash
    except DecodeError:
        return blake2_256(b"undecodable-block" + block)


class Node:
    def __init__(self, config: NodeConfig, spec: ChainSpec, transport: Transport | None = None,
                 validator_key: Keypair | None = None):
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
        self.runtime = spec.runtime()
        self.runtime.register_hook(staking.EQUIVOCATION_HOOK, self._verify_equivocation)
        self.chain = ChainState(self.store, self.runtime)
        self.metrics = NodeMetrics()
        self.chain.on_executed = self.metrics.execute_seconds.observe
        self.pool = TransactionPool(self._validate_for_pool, sender_of=_sender_of, on_status=self._on_pool_status)
        self.validator_key = validator_key
        self.halted = asyncio.Event()  # set when the node must stop on its own (see `halt`)
        self.halt_reason: str | None = None
        self.node_key = load_or_create_node_key(config.node_key_file or self.chain_dir / "network" / "secret_ed25519")
        self.network = Network(transport or GrpcTransport(config.p2p_max_connections), self.node_key, spec.genesis_hash, self,
                               f"{config.p2p_host}:{config.p2p_port}", config.bootnodes or spec.boot_nodes,
                               node_name=config.name, max_peers=config.max_peers)
        self.blobs = BlobStore(self.chain_dir / "blobs")
        self._pins_loaded, self._last_blob_gc = False, time.monotonic()
        self._evidence: dict[bytes, bytes] = {}  # equivocation evidence waiting for a block, by hash
        self.network.blob_store = self.blobs
        self.listeners: dict[str, set[Callable]] = {"new_head": set(), "finalized_head": set(), "events": set()}
        self.watchers: dict[bytes, set[Callable]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        self._building = False
        self._relays_pending = 0
        self._last_commit_time = time.monotonic()
        self._syncing_from: Peer | None = None
        self._height_started = time.monotonic()
        self.started_at_number = self.chain.number  # the head when this process started (system_syncState)
        self.driver: ConsensusDriver | None = None
        self.consensus_paused: str | None = None  # why consensus waits (a failed write, or catching up)
        self._last_pause_log = 0.0
        self.started = asyncio.Event()

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def _consensus_timeouts(self) -> TimeoutConfig:
        c = self.spec.consensus
        delta = c.get("timeoutDeltaMs", 500) / 1000
        propose = max(c.get("proposeTimeoutMs", 1000) / 1000, self.config.idle_block_interval + 1.0)
        return TimeoutConfig(propose_base=propose, propose_delta=delta,
                             prevote_base=c.get("prevoteTimeoutMs", 500) / 1000, prevote_delta=delta,
                             precommit_base=c.get("precommitTimeoutMs", 500) / 1000, precommit_delta=delta)

    def _make_driver(self) -> tuple[ConsensusDriver, list]:
        signer = None
        wal_dir = self.chain_dir / "consensus"
        wal_dir.mkdir(parents=True, exist_ok=True)
        if self.validator_key is not None:
            signer = SignerGuard(self.validator_key, self.spec.genesis_hash,
                                 AtomicFile(wal_dir / "last_signed", self.descriptors))
        engine = Engine(genesis_hash=self.spec.genesis_hash, signer=signer, validator_sets=self.validator_set_for,
                        validate_block=self._validate_proposal, height=self.chain.number + 1,
                        block_hash=safe_block_hash, timeouts=self._consensus_timeouts(),
                        verify_signature=verified_signature)
        self._wal_path = wal_dir / "wal"
        compact_wal(self._wal_path, self.chain.number + 1)
        wal = WriteAheadLog(AppendFile(self._wal_path, self.descriptors))
        return ConsensusDriver.recover(engine, wal)

    def _rotate_wal(self) -> None:
        """Drop WAL records of committed heights so the log (and replay after a crash) stays small."""
        if self.driver is None:
            return
        self.driver.wal.store.close()
        compact_wal(self._wal_path, self.chain.number + 1)
        self.driver.wal = WriteAheadLog(AppendFile(self._wal_path, self.descriptors))

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.network.start()
        if self.finalized_before > self.chain.number:
            self.consensus_paused = "catching up"
            log.critical("the database's head #%d is behind #%d, which this node finalized before (its consensus "
                         "WAL and signer guard say so): finalized blocks are missing from the database. Syncing "
                         "them from peers; this node takes part in consensus again once it is at #%d",
                         self.chain.number, self.finalized_before, self.finalized_before)
        else:
            self._resume_consensus()
        if self.config.prometheus_port is not None:
            self.metrics.serve(self.config.prometheus_host, self.config.prometheus_port)
        self._update_metrics()
        self._spawn(self._regossip_loop())
        if self.config.blocked_peers is not None:  # fault-injection tests only
            from chain.node.fault_injection import poll_fault_file
            self._spawn(poll_fault_file(self.config.blocked_peers, self.network.blocked_keys))
        self.started.set()
        log.info("node %s started: chain %s, head #%d 0x%s, %s", self.config.name, self.spec.id, self.chain.number,
                 self.chain.head_hash.hex()[:16], "validating" if self.validator_key else "following")

    def extra_grpc_services(self) -> list:
        """Services beside ChainService and BlobService (the market's), as (descriptor, servicer) pairs."""
        from chain.api.market_service import market_grpc_service
        return [market_grpc_service(self)]

    async def start_json_rpc(self):
        """Start Substrate's JSON-RPC on --rpc-port (see chain.api.substrate_rpc)."""
        from chain.api.substrate_rpc import start_substrate_rpc
        self.rpc = await start_substrate_rpc(self)
        return self.rpc

    async def stop(self) -> None:
        if getattr(self, "rpc", None) is not None:
            await self.rpc.stop()
        for task in list(self._tasks):
            task.cancel()
        await self.network.stop()
        self.store.close()
        self.descriptors.close()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("node task failed", exc_info=task.exception())

    # --- consensus -----------------------------------------------------------------------------------------------

    def validator_set_for(self, height: int) -> ValidatorSet:
        """The set that governs `height`: Staking's active set in the state after block `height - 1`."""
        if height <= self.chain.number + 1:
            parent = self.chain.header_at(height - 1)
            state = self.chain.state_at(parent.hash if parent else None)
            return ValidatorSet.of(staking.validator_set(state))
        if height == self.chain.number + 2:
            epoch_length = self.runtime.configs[staking.StakingConfig].epoch_length
            return ValidatorSet.of(staking.next_validator_set(self.chain.state_at(None), self.chain.number, epoch_length))
        raise ValueError(f"the validator set of height {height} is not known yet (head #{self.chain.number})")

    def _validate_proposal(self, height: int, block_bytes: bytes) -> bool:
        try:
            block = Block.decode(block_bytes)
            if block.header.number != height:
                return False
            self.chain.execute(block, check_clock=True)
            return True
        except (DecodeError, BlockImportError) as e:
            log.warning("rejecting proposed block at height %d: %s", height, e)
            return False

    def _input(self, actions: list) -> None:
        self._perform(actions)

    def _perform(self, actions: list) -> None:
        for action in actions:
            if self.halted.is_set():
                return
            if isinstance(action, Broadcast):
                self._spawn(self.network.gossip_consensus(encode_consensus(action.message)))
                if self.config.byzantine == "equivocate":  # fault-injection tests only
                    self._equivocate(action.message)
            elif isinstance(action, ScheduleTimeout):
                self._loop.call_later(action.delay, self._on_timeout, action.timeout)
            elif isinstance(action, RequestProposal):
                self._spawn(self._propose(action.height, action.round))
            elif isinstance(action, Commit):
                self._on_commit(action)
            elif isinstance(action, RecordEvidence):
                self._on_evidence_found(action.evidence.encode())

    def _equivocate(self, message: SignedProposal | SignedVote) -> None:
        """Fault-injection tests only (--byzantine equivocate): gossip a conflicting prevote, bypassing the guard."""
        from chain.node.fault_injection import conflicting_prevote
        conflict = conflicting_prevote(message, self.validator_key, self.spec.genesis_hash)
        if conflict is not None:
            self._spawn(self.network.gossip_consensus(encode_consensus(conflict)))

    def _on_timeout(self, timeout: Timeout) -> None:
        self._drive(lambda driver: driver.on_timeout(timeout))

    def _drive(self, step: Callable[[ConsensusDriver], list]) -> None:
        """Feed one input to consensus and perform what it asks. A write that fails (the WAL, the guard or
        the database: out of descriptors or disk) pauses consensus, which then rebuilds itself from its
        WAL and guard, exactly as after a crash, as soon as writes work again (`_resume_consensus`)."""
        if self.driver is None:
            return
        try:
            self._input(step(self.driver))
        except (OSError, DatabaseError) as e:
            self._pause_consensus(f"{type(e).__name__}: {e}")

    def _pause_consensus(self, reason: str) -> None:
        if self.halted.is_set():
            return
        log.error("consensus paused: a write failed (%s); retrying every %.0fs", reason, RESUME_SECONDS)
        if self.driver is not None:
            try:
                self.driver.wal.store.close()
            except OSError:
                pass
        self.driver = None
        self.consensus_paused = reason
        self.descriptors.release()
        self._loop.call_later(RESUME_SECONDS, self._resume_consensus)

    def _resume_consensus(self) -> None:
        """(Re)build the driver from the WAL and guard and perform the replayed actions."""
        if self.halted.is_set() or self.driver is not None:
            return
        self.descriptors.replenish()
        try:
            driver, actions = self._make_driver()
        except (OSError, DatabaseError) as e:
            now = time.monotonic()
            if now - self._last_pause_log > 10.0:
                self._last_pause_log = now
                log.error("consensus still paused: %s: %s", type(e).__name__, e)
            self._loop.call_later(RESUME_SECONDS, self._resume_consensus)
            return
        if self.consensus_paused is not None:
            log.warning("consensus resumed at #%d (was paused: %s)", self.chain.number + 1, self.consensus_paused)
        self.consensus_paused = None
        self.driver = driver
        try:
            self._input(actions)
        except (OSError, DatabaseError) as e:
            self._pause_consensus(f"{type(e).__name__}: {e}")

    async def _propose(self, height: int, round_: int) -> None:
        deadline = self._last_commit_time + self.config.idle_block_interval
        while self.pool.ready_count() == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if self.driver is None or self.driver.engine.height != height or self.driver.engine.round != round_:
                return
        while self._timestamp_lead_ms() > TIMESTAMP_LEAD_MS:
            await asyncio.sleep(0.05)
            if self.driver is None or self.driver.engine.height != height or self.driver.engine.round != round_:
                return
        if self.driver is None or self.driver.engine.height != height:
            return
        reports = {e: key for key, e in self._evidence.items()}
        executed = self.chain.build_block((t.raw for t in self.pool.ready()),
                                          author=self.validator_key.public if self.validator_key else None,
                                          max_seconds=min(BUILD_SECONDS, self._consensus_timeouts().propose_base / 4),
                                          evidence=list(reports))
        for report, e in executed.built.rejected_evidence:
            # already reported (by another pair of the same votes), or stale: drop it
            log.info("dropping equivocation evidence: %s", e)
            self._evidence.pop(reports[report], None)
        for raw, e in executed.built.rejected:
            self.pool.remove_invalid(blake2_256(raw), e)
        log.debug("proposing #%d round %d with %d extrinsics", height, round_, len(executed.block.extrinsics))
        block = executed.block.encode()
        self._drive(lambda driver: driver.on_block_built(height, round_, block))

    def _timestamp_lead_ms(self) -> int:
        now_ms = int(time.time() * 1000)
        return self.chain.next_timestamp(now_ms) - now_ms

    def halt(self, reason: str) -> None:
        """Stop the node for good: its state can no longer follow the chain. `run_node` shuts it down and
        the process exits non-zero with `reason`, as CometBFT panics rather than run on a stalled state."""
        if self.halt_reason is None:
            log.critical("halting: %s", reason)
            self.halt_reason = reason
        self.driver = None  # sign nothing more: the engine has moved past a block this node cannot apply
        self.halted.set()

    def _on_commit(self, action: Commit) -> None:
        if action.height <= self.chain.number:
            return  # replayed from the WAL or already imported by sync
        try:
            executed = self.chain.execute(Block.decode(action.block))
        except (BlockImportError, DecodeError) as e:
            self.halt(f"the decided block #{action.height} (0x{action.block_hash.hex()[:16]}) does not import "
                      f"on this node: {e}. Its state, database or runtime differs from the validators' that "
                      "decided it; check the disk and the binary, then resync (purge-chain)")
            return
        self._import(executed, action.certificate.encode())
        self._spawn(self.network.gossip_block(action.block, action.certificate.encode()))

    def _import(self, executed: ExecutedBlock, justification: bytes) -> None:
        started = time.monotonic()
        self.chain.commit(executed, justification)
        self.metrics.import_seconds.observe(time.monotonic() - started)
        now = time.monotonic()
        self.metrics.round_seconds.observe(now - self._height_started)
        self._height_started = self._last_commit_time = now
        block = executed.block
        self.pool.on_block(list(block.extrinsics), block.header.hash)
        if self._evidence:
            included = set(block.extrinsics)
            self._evidence = {k: e for k, e in self._evidence.items()
                              if equivocation_inherent(e) not in included}
        for i, raw in enumerate(block.extrinsics):
            tx_hash = blake2_256(raw)
            for watcher in list(self.watchers.get(tx_hash, ())):
                watcher(TxStatus.FINALIZED, (block.header, i, executed))
        for kind in ("new_head", "finalized_head"):
            for listener in list(self.listeners[kind]):
                listener(block.header)
        for listener in list(self.listeners["events"]):
            listener(block.header, executed.finalized.events)
        if any(ev.pallet == "ComputeMarket" for _phase, ev in executed.finalized.events):
            self._update_blob_pins()
        self._collect_blobs()
        if block.header.number % WAL_ROTATE_EVERY == 0:
            self._rotate_wal()
        if self.consensus_paused == "catching up" and block.header.number >= self.finalized_before:
            log.warning("caught up to #%d, which this node finalized before its database lost it",
                        self.finalized_before)
            self._resume_consensus()
        self._update_metrics()
        log.info("finalized #%d 0x%s (%d extrinsics)", block.header.number, block.header.hash.hex()[:16],
                 len(block.extrinsics))
        self._spawn(self.network.announce_status())

    def _update_blob_pins(self) -> None:
        """Pin every blob a live job references (dataset, checkpoints, disputed states) against clean-up."""
        from compute_market.jobspec import JobSpec, JobSpecError
        from compute_market.pallet import query
        state = self.chain.state_at(None)
        pins: set[bytes] = set()
        for job in query.read(state, query.jobs):
            if job.status.ended:
                continue
            pins.update(job.checkpoints)
            try:
                pins.add(JobSpec.decode(query.read(state, query.job_spec, job.id) or b"").dataset_hash)
            except JobSpecError:
                pass
            for dispute in query.read(state, query.disputes, job.id):
                if dispute.state_blob:
                    pins.add(dispute.state_blob)
        self.blobs.set_pins(pins)
        self._pins_loaded = True

    def _collect_blobs(self) -> None:
        """Delete blobs unpinned for longer than --blob-retention; at most once per BLOB_GC_SECONDS (or per
        retention, if that is shorter), since it lists the blob directory."""
        now = time.monotonic()
        if now - self._last_blob_gc < min(BLOB_GC_SECONDS, self.config.blob_retention):
            return
        if not self._pins_loaded:  # after a restart, pin what live jobs reference before deleting anything
            self._update_blob_pins()
        self._last_blob_gc = now
        removed = self.blobs.remove_unpinned(self.config.blob_retention)
        if removed:
            log.info("removed %d blobs unpinned for more than %.0fs", removed, self.config.blob_retention)

    def _on_evidence_found(self, evidence: bytes, peer: Peer | None = None) -> None:
        """Evidence detected here or gossiped: if the runtime would take it (it verifies the votes against
        the offence height's validator set and refuses offences already reported), keep it for the next
        block this node proposes, as an inherent, and pass it on so any proposer can include it."""
        key = blake2_256(evidence)
        if key in self._evidence or len(self._evidence) >= MAX_PENDING_EVIDENCE:
            return
        try:
            self.chain.validate_transaction(equivocation_inherent(evidence),
                                            v.TransactionSource.LOCAL)
        except ValueError as e:  # the runtime's typed rejections: malformed, stale, already reported
            log.info("ignoring equivocation evidence: %s: %s", type(e).__name__, e)
            return
        self._evidence[key] = evidence
        log.warning("equivocation evidence recorded; it goes into the next block proposed")
        self._spawn(self.network.gossip_evidence(evidence, exclude=peer))

    def _verify_equivocation(self, evidence: bytes) -> tuple[bytes, bytes]:
        """Staking's hook: check evidence against the validator set of the offence's height (deterministic)."""
        from consensus.evidence import DuplicateVoteEvidence
        try:
            decoded = DuplicateVoteEvidence.decode(evidence)
        except DecodeError as e:
            raise ValueError(f"evidence does not decode: {e}") from None
        height = decoded.height
        if height < 1 or height > self.chain.number + 1:
            raise ValueError(f"evidence height {height} is outside the chain (head #{self.chain.number})")
        checked = verify_evidence(decoded, self.validator_set_for(height), self.spec.genesis_hash,
                                  self.chain.number + 1, EVIDENCE_MAX_AGE)
        return checked.offender, checked.offence_id

    async def _regossip_loop(self) -> None:
        last_warning = time.monotonic()
        while True:
            await asyncio.sleep(REGOSSIP_SECONDS)
            self.descriptors.replenish()
            now = time.monotonic()
            if self.consensus_paused == "catching up" and now - last_warning > CATCH_UP_WARNING_SECONDS:
                last_warning = now
                log.critical("still catching up: head #%d of #%d finalized before; %d peers", self.chain.number,
                             self.finalized_before, len(self.network.peers))
            if self.driver is None:
                continue
            for message in self.driver.gossip_state():
                payload = encode_consensus(message)
                await self.network.broadcast(_consensus_msg(payload))

    # --- transaction pool ------------------------------------------------------------------------------------------

    def _validate_for_pool(self, raw: bytes):
        try:
            return self.chain.validate_transaction(raw)
        except v.TransactionValidityError as e:
            raise InvalidTransaction(e) from None

    def _on_pool_status(self, tx_hash: bytes, status: TxStatus, info: object) -> None:
        if status is TxStatus.FINALIZED:
            return  # reported from the committed block, which knows the block hash and index
        for watcher in list(self.watchers.get(tx_hash, ())):
            watcher(status, info)

    def submit_extrinsic(self, raw: bytes) -> bytes:
        """Validate and pool an extrinsic, gossip it, and return its hash; raises PoolError with the reason."""
        tx_hash = self.pool.submit(raw)
        self._spawn(self.network.gossip_transaction(raw))
        self._update_metrics()
        return tx_hash

    def watch(self, tx_hash: bytes, callback: Callable) -> Callable[[], None]:
        self.watchers.setdefault(tx_hash, set()).add(callback)

        def unwatch() -> None:
            callbacks = self.watchers.get(tx_hash)
            if callbacks is not None:
                callbacks.discard(callback)
                if not callbacks:
                    del self.watchers[tx_hash]
        return unwatch

    def next_index(self, account: bytes) -> int:
        """The nonce to sign next: the on-chain nonce, past every consecutive nonce already in the pool."""
        from chain.api.convert import read_account
        nonce = read_account(self.chain.state_at(None), account).nonce
        while self.pool.provides(account + nonce.to_bytes(4, "little")):
            nonce += 1
        return nonce

    async def fetch_blob(self, blob_hash: bytes) -> bool:
        """Ask peers for a blob this node lacks (see `Network.fetch_blob`)."""
        return await self.network.fetch_blob(blob_hash, self.blobs)

    def subscribe(self, kind: str, callback: Callable) -> Callable[[], None]:
        self.listeners[kind].add(callback)
        return lambda: self.listeners[kind].discard(callback)

    def _update_metrics(self) -> None:
        m = self.metrics
        m.best_height.set(self.chain.number)
        m.finalized_height.set(self.chain.number)
        m.peers.set(len(self.network.peers))
        m.pool_ready.set(self.pool.ready_count())
        m.pool_future.set(self.pool.future_count())
        m.pool_bytes.set(self.pool.bytes_used)
        if self.driver is not None:
            m.consensus_round.set(self.driver.engine.round)

    # --- PeerHandler ---------------------------------------------------------------------------------------------

    def best(self) -> tuple[int, bytes]:
        return self.chain.number, self.chain.head_hash

    def _strike(self, peer: Peer, what: str) -> None:
        """A peer sent something well-formed that no honest node relays; ban it at MAX_STRIKES of them."""
        peer.strikes += 1
        if peer.strikes >= MAX_STRIKES:
            raise Misbehaviour(f"{peer.strikes} invalid messages, the last {what}")

    async def on_transaction(self, raw: bytes, peer: Peer) -> None:
        try:
            self.pool.submit(raw)
        except InvalidTransaction as e:
            if isinstance(e.reason, v.Undecodable):
                raise Misbehaviour(f"undecodable transaction: {e}") from None
            if isinstance(e.reason, v.BadProof):  # an honest node checks a signature before relaying it
                self._strike(peer, "a transaction with a bad signature")
            return  # stale or future relative to our state: not the peer's fault
        except PoolError:
            return
        # Relayed in a task, never awaited here: the peer's receive loop must not wait on sends to other peers,
        # whose receive loops may in turn wait on sends back to this one (under load, a cycle of full
        # HTTP/2 windows that stalls every stream, consensus votes included).
        if self._relays_pending < MAX_PENDING_RELAYS:
            self._relays_pending += 1
            self._spawn(self._relay_transaction(raw, peer))

    async def _relay_transaction(self, raw: bytes, source: Peer) -> None:
        try:
            await self.network.gossip_transaction(raw, exclude=source)
        finally:
            self._relays_pending -= 1

    async def on_consensus(self, payload: bytes, peer: Peer) -> None:
        try:
            message = decode_consensus(payload)
        except DecodeError as e:
            raise Misbehaviour(f"undecodable consensus message: {e}") from None
        # checked at the edge (neither acted on nor relayed); a valid one is cached for the engine's own check
        if not message.verify(self.spec.genesis_hash, verified_signature):
            self._strike(peer, "a consensus message with a bad signature")
            return
        if self.driver is None:
            return
        if isinstance(message, SignedProposal):
            self._drive(lambda driver: driver.on_proposal(message))
        else:
            self._drive(lambda driver: driver.on_vote(message))
        self._spawn(self.network.gossip_consensus(payload, exclude=peer))  # as for transactions

    async def on_evidence(self, payload: bytes, peer: Peer) -> None:
        self._on_evidence_found(payload, peer)

    async def on_block(self, block: bytes, justification: bytes, peer: Peer) -> None:
        try:
            number = Block.decode(block).header.number
        except DecodeError as e:
            raise Misbehaviour(f"undecodable block: {e}") from None
        if number == self.chain.number + 1:
            await self.on_sync_response([(block, justification)], number, peer)
        elif number > self.chain.number + 1:
            await self._request_sync(peer)

    async def on_sync_request(self, from_number: int, max_blocks: int) -> list[tuple[bytes, bytes]]:
        out = []
        for n in range(max(from_number, 1), min(from_number + max_blocks, self.chain.number + 1)):
            h = self.chain.store.hash_at(n)
            block = self.chain.block(h)
            out.append((block.encode(), self.chain.justification(h) or b""))
        return out

    async def on_sync_response(self, blocks: list[tuple[bytes, bytes]], peer_best: int, peer: Peer) -> None:
        for block_bytes, cert_bytes in blocks:
            try:
                block = Block.decode(block_bytes)
                cert = CommitCertificate.decode(cert_bytes)
            except DecodeError as e:
                raise Misbehaviour(f"undecodable block or certificate in sync: {e}") from None
            number = block.header.number
            if number <= self.chain.number:
                continue
            if number != self.chain.number + 1:
                break
            try:
                verify_certificate(cert, block.header.hash, number, self.validator_set_for(number),
                                   self.spec.genesis_hash)
                executed = self.chain.execute(block)
            except (CertificateError, BlockImportError) as e:
                raise Misbehaviour(f"block #{number} from sync is not valid: {e}") from None
            self._import(executed, cert_bytes)
            self._drive(lambda driver, block_bytes=block_bytes, cert=cert: driver.on_decided(block_bytes, cert))
        if peer_best > self.chain.number:
            await self._request_sync(peer)

    async def on_peer_status(self, best_number: int, best_hash: bytes, peer: Peer) -> None:
        if best_number > self.chain.number + 1 or (best_number == self.chain.number + 1 and self.validator_key is None):
            await self._request_sync(peer)
        self._update_metrics()

    async def _request_sync(self, peer: Peer) -> None:
        await self.network.request_sync(peer, self.chain.number + 1, SYNC_BATCH)


def _consensus_msg(payload: bytes):
    from proto import p2p_pb2
    return p2p_pb2.PeerMessage(consensus=payload)


def _sender_of(raw: bytes) -> bytes | None:
    from chain.primitives.extrinsic import UncheckedExtrinsic
    try:
        xt = UncheckedExtrinsic.decode(raw)
    except DecodeError:
        return None
    return xt.signature.signer if xt.signature else None


__all__ = ["Node", "Path"]
