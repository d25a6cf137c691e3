"""The consensus service: the BFT driver, its timers, the proposer, and the recovery from failed writes.

Consensus inputs (peer messages, timeouts, built blocks, blocks decided elsewhere) are fed to the
`ConsensusDriver` one at a time and the actions it returns are performed in order: broadcasts go to the
network, timeouts to `loop.call_later`, proposal requests to the block builder, commits to block import,
evidence to the evidence pool.

A write that fails (the WAL, the signer guard or the database: out of descriptors or disk) pauses
consensus; it then rebuilds itself from its WAL and guard, exactly as after a crash, as soon as writes
work again. It never stays paused after the resource comes back.

Block production: a proposer with transactions waiting builds at once; with an empty pool it waits up to
`idle_block_interval` seconds for one (so empty blocks are not produced faster than that), which is why
the propose timeout is set above the idle interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from chain.primitives.codec import DecodeError
from chain.primitives.hashing import blake2_256
from chain.primitives.types import Block
from chain.storage.kv import DatabaseError
from consensus.actions import Broadcast, Commit, RecordEvidence, RequestProposal, ScheduleTimeout
from consensus.driver import ConsensusDriver
from consensus.engine import Engine, TimeoutConfig
from consensus.guard import SignerGuard
from consensus.storage import AppendFile, AtomicFile
from consensus.types import SignedProposal, SignedVote, Timeout
from consensus.validators import ValidatorSet
from consensus.wal import WriteAheadLog
from proto import p2p_pb2
from runtime.block_builder import BlockImportError
from runtime.executive import verified_signature
from runtime.pallets import staking

if TYPE_CHECKING:  # the node wires the components together; this module only uses its parts
    from chain.node.service import Node

log = logging.getLogger("gradchain.node")

MSG_PROPOSAL, MSG_VOTE = 0, 1
REGOSSIP_SECONDS = 2.0
RESUME_SECONDS = 1.0  # how often paused consensus tries to rebuild itself from its WAL and guard
CATCH_UP_WARNING_SECONDS = 10.0
# A proposer spends at most this long (and at most a quarter of the propose timeout) applying transactions:
# every validator re-executes the block before voting, and a block slower than the timeout loses its round.
BUILD_SECONDS = 0.5


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


class ConsensusService:
    def __init__(self, node: Node):
        self.node = node
        self.driver: ConsensusDriver | None = None
        self.paused: str | None = None  # why consensus waits (a failed write, or catching up)
        self._last_pause_log = 0.0
        self.wal_dir = node.chain_dir / "consensus"

    # --- the driver and its recovery -----------------------------------------------------------------------

    def timeouts(self) -> TimeoutConfig:
        c = self.node.spec.consensus
        delta = c.get("timeoutDeltaMs", 500) / 1000
        config = self.node.config  # a proposer waits up to the longer of these intervals before it proposes
        propose = max(
            c.get("proposeTimeoutMs", 1000) / 1000,
            config.idle_block_interval + 1.0,
            config.min_block_interval + 1.0,
        )
        return TimeoutConfig(
            propose_base=propose,
            propose_delta=delta,
            prevote_base=c.get("prevoteTimeoutMs", 500) / 1000,
            prevote_delta=delta,
            precommit_base=c.get("precommitTimeoutMs", 500) / 1000,
            precommit_delta=delta,
        )

    def _make_driver(self) -> tuple[ConsensusDriver, list]:
        node = self.node
        self.wal_dir.mkdir(parents=True, exist_ok=True)
        signer = None
        if node.validator_key is not None:
            signer = SignerGuard(
                node.validator_key,
                node.spec.genesis_hash,
                AtomicFile(self.wal_dir / "last_signed", node.descriptors),
            )
        engine = Engine(
            genesis_hash=node.spec.genesis_hash,
            signer=signer,
            validator_sets=self.validator_set_for,
            validate_block=self._validate_proposal,
            height=node.chain.number + 1,
            block_hash=safe_block_hash,
            timeouts=self.timeouts(),
            verify_signature=verified_signature,
        )
        wal = WriteAheadLog(AppendFile(self.wal_dir / "wal", node.descriptors))
        wal.compact(node.chain.number + 1)
        return ConsensusDriver.recover(engine, wal)

    def resume(self) -> None:
        """(Re)build the driver from the WAL and guard and perform the replayed actions."""
        node = self.node
        if node.halted.is_set() or self.driver is not None:
            return
        node.descriptors.replenish()
        try:
            driver, actions = self._make_driver()
        except (OSError, DatabaseError) as e:
            now = time.monotonic()
            if now - self._last_pause_log > 10.0:
                self._last_pause_log = now
                log.error("consensus still paused: %s: %s", type(e).__name__, e)
            node.loop.call_later(RESUME_SECONDS, self.resume)
            return
        if self.paused is not None:
            log.warning("consensus resumed at #%d (was paused: %s)", node.chain.number + 1, self.paused)
        self.paused = None
        self.driver = driver
        try:
            self.perform(actions)
        except (OSError, DatabaseError) as e:
            self.pause(f"{type(e).__name__}: {e}")

    def pause(self, reason: str) -> None:
        node = self.node
        if node.halted.is_set():
            return
        log.error("consensus paused: a write failed (%s); retrying every %.0fs", reason, RESUME_SECONDS)
        if self.driver is not None:
            try:
                self.driver.wal.close()
            except OSError:
                pass
        self.driver = None
        self.paused = reason
        node.descriptors.release()
        node.loop.call_later(RESUME_SECONDS, self.resume)

    def stop(self) -> None:
        """Sign nothing more (the node halts: its state can no longer follow the chain)."""
        self.driver = None

    def drive(self, step: Callable[[ConsensusDriver], list]) -> None:
        """Feed one input to consensus and perform what it asks; a failed write pauses consensus."""
        if self.driver is None:
            return
        try:
            self.perform(step(self.driver))
        except (OSError, DatabaseError) as e:
            self.pause(f"{type(e).__name__}: {e}")

    def perform(self, actions: list) -> None:
        node = self.node
        for action in actions:
            if node.halted.is_set():
                return
            if isinstance(action, Broadcast):
                self.broadcast(action.message)
            elif isinstance(action, ScheduleTimeout):
                node.loop.call_later(action.delay, self._on_timeout, action.timeout)
            elif isinstance(action, RequestProposal):
                node.spawn(self._propose(action.height, action.round))
            elif isinstance(action, Commit):
                node.blocks.on_commit(action)
            elif isinstance(action, RecordEvidence):
                node.evidence.add(action.evidence.encode())

    def broadcast(self, message: SignedProposal | SignedVote) -> None:
        """Gossip one of this validator's own signed messages."""
        self.node.spawn(self.node.network.gossip_consensus(encode_consensus(message)))

    def _on_timeout(self, timeout: Timeout) -> None:
        self.drive(lambda driver: driver.on_timeout(timeout))

    def after_commit(self, number: int) -> None:
        """Block import committed block `number`: tell the driver (it compacts its WAL on its schedule), and leave the catching-up
        pause once the head is back at what this node finalized before."""
        if self.driver is not None:
            self.driver.block_stored(number)
        if self.paused == "catching up" and number >= self.node.finalized_before:
            log.warning(
                "caught up to #%d, which this node finalized before its database lost it",
                self.node.finalized_before,
            )
            self.resume()

    # --- validator sets and proposals ------------------------------------------------------------------------

    def validator_set_for(self, height: int) -> ValidatorSet:
        """The set that governs `height`: Staking's active set in the state after block `height - 1`."""
        chain = self.node.chain
        if height <= chain.number + 1:
            parent = chain.header_at(height - 1)
            return ValidatorSet.of(staking.validator_set(chain.state_at(parent.hash if parent else None)))
        if height == chain.number + 2:
            epoch_length = self.node.runtime.configs[staking.StakingConfig].epoch_length
            return ValidatorSet.of(
                staking.next_validator_set(chain.state_at(None), chain.number, epoch_length)
            )
        raise ValueError(f"the validator set of height {height} is not known yet (head #{chain.number})")

    def is_validator(self, session_key: bytes) -> bool:
        """Whether `session_key` validates the next height or the one after: a peer that proves it in the
        handshake may take a reserved slot (chain.network.peers)."""
        number = self.node.chain.number
        for height in (number + 1, number + 2):
            try:
                if session_key in self.validator_set_for(height):
                    return True
            except ValueError:  # the set after next is not known yet
                continue
        return False

    def _validate_proposal(self, height: int, block_bytes: bytes) -> bool:
        try:
            block = Block.decode(block_bytes)
            if block.header.number != height:
                return False
            self.node.chain.execute(block, check_clock=True)
            return True
        except (DecodeError, BlockImportError) as e:
            log.warning("rejecting proposed block at height %d: %s", height, e)
            return False

    def _still(self, height: int, round_: int) -> bool:
        engine = self.driver.engine if self.driver is not None else None
        return engine is not None and engine.height == height and engine.round == round_

    async def _propose(self, height: int, round_: int) -> None:
        node = self.node
        deadline = time.monotonic() + node.config.idle_block_interval
        while node.pool.ready_count() == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if not self._still(height, round_):
                return
        gather = node.blocks.last_commit_time + node.config.min_block_interval - time.monotonic()
        if gather > 0:  # --min-block-interval: let the transactions arriving meanwhile share this block
            await asyncio.sleep(gather)
            if not self._still(height, round_):
                return
        while node.timestamp_lead_ms() > node.max_timestamp_lead_ms:
            await asyncio.sleep(0.05)
            if not self._still(height, round_):
                return
        if self.driver is None or self.driver.engine.height != height:
            return
        executed = node.chain.build_block(
            (t.raw for t in node.pool.ready()),
            author=node.validator_key.public if node.validator_key else None,
            max_seconds=min(BUILD_SECONDS, self.timeouts().propose_base / 4),
            evidence=node.evidence.pending(),
        )
        for report, e in executed.built.rejected_evidence:
            node.evidence.drop(report, e)
        for raw, e in executed.built.rejected:
            node.pool.remove_invalid(blake2_256(raw), e)
        log.debug("proposing #%d round %d with %d extrinsics", height, round_, len(executed.block.extrinsics))
        block = executed.block.encode()
        self.drive(lambda driver: driver.on_block_built(height, round_, block))

    # --- gossip ---------------------------------------------------------------------------------------------

    async def on_message(self, payload: bytes, peer) -> None:  # noqa: ANN001 - chain.network.peers.Peer
        """A consensus message from a peer: checked at the edge (neither acted on nor relayed if its
        signature fails), then fed to the driver and relayed."""
        node = self.node
        message = decode_consensus(payload)  # DecodeError: the caller bans the peer
        if not message.verify(node.spec.genesis_hash, verified_signature):
            node.strike(peer, "a consensus message with a bad signature")
            return
        if self.driver is None:
            return
        if isinstance(message, SignedProposal):
            self.drive(lambda driver: driver.on_proposal(message))
        else:
            self.drive(lambda driver: driver.on_vote(message))
        node.spawn(
            node.network.gossip_consensus(payload, exclude=peer)
        )  # never awaited: see Node.on_transaction

    async def regossip_loop(self) -> None:
        """Every REGOSSIP_SECONDS re-send this height's messages (peers that missed them catch up)."""
        node = self.node
        last_warning = time.monotonic()
        while True:
            await asyncio.sleep(REGOSSIP_SECONDS)
            node.descriptors.replenish()
            now = time.monotonic()
            if self.paused == "catching up" and now - last_warning > CATCH_UP_WARNING_SECONDS:
                last_warning = now
                log.critical(
                    "still catching up: head #%d of #%d finalized before; %d peers",
                    node.chain.number,
                    node.finalized_before,
                    len(node.network.peers),
                )
            if self.driver is None:
                continue
            for message in self.driver.gossip_state():  # sent again even if sent before: not deduplicated
                await node.network.broadcast(p2p_pb2.PeerMessage(consensus=encode_consensus(message)))
