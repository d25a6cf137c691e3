"""Block import: committing decided blocks, syncing from peers, and what follows each commit.

A block reaches the chain in one of two ways: this node's consensus decides it (`on_commit`), or a peer
sends it with its commit certificate, verified against the validator set of its height (`on_sync_response`,
`on_block`). Either way it is executed by the runtime's pipeline (`ChainState.execute`, cached when the
block was already checked as a proposal) and written with its certificate in one batch. Every committed
block is final.

A block that consensus decided but that does not execute here means this node's state, database or binary
differs from the validators' that decided it: the node halts (exit non-zero with the reason), as CometBFT
does, rather than run on a stalled state. A synced block that fails to import is the peer's misbehaviour.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from chain.network.peers import Misbehaviour
from chain.network.transport import TransportError
from chain.primitives.codec import DecodeError
from chain.primitives.types import Block
from consensus.actions import Commit
from consensus.certificate import CertificateError, CommitCertificate, verify_certificate
from runtime.block_builder import BlockImportError

if TYPE_CHECKING:  # the node wires the components together; this module only uses its parts
    from chain.node.chain_state import ExecutedBlock
    from chain.node.service import Node

log = logging.getLogger("gradchain.node")

SYNC_BATCH = 128  # blocks asked of a peer at once
# A validator one block behind a peer normally gets that block from its own consensus within moments; if it
# is still behind this long after the peer said so, it fetches the block (its peers may have moved on).
CATCH_UP_GRACE = 2.0


class BlockImport:
    def __init__(self, node: Node):
        self.node = node
        self._height_started = self.last_commit_time = time.monotonic()
        self._catch_up_pending = False

    def on_commit(self, action: Commit) -> None:
        """Consensus decided a block: import it, or halt if it does not import."""
        node = self.node
        if action.height <= node.chain.number:
            return  # replayed from the WAL or already imported by sync
        try:
            executed = node.chain.execute(Block.decode(action.block))
        except (BlockImportError, DecodeError) as e:
            node.halt(
                f"the decided block #{action.height} (0x{action.block_hash.hex()[:16]}) does not import "
                f"on this node: {e}. Its state, database or runtime differs from the validators' that "
                "decided it; check the disk and the binary, then resync (purge-chain)"
            )
            return
        self.commit(executed, action.certificate.encode())
        node.spawn(node.network.gossip_block(action.block, action.certificate.encode()))

    def commit(self, executed: ExecutedBlock, justification: bytes) -> None:
        """Write the block and tell everyone who follows the chain."""
        node = self.node
        started = time.monotonic()
        node.chain.commit(executed, justification)
        node.metrics.import_seconds.observe(time.monotonic() - started)
        now = time.monotonic()
        node.metrics.round_seconds.observe(now - self._height_started)
        self._height_started = self.last_commit_time = now
        block = executed.block
        node.pool.on_block(list(block.extrinsics), block.header.hash)
        node.evidence.on_block(block.extrinsics)
        node.subscriptions.on_block(executed)
        node.blob_pins.on_block(node.chain.state_at(None), executed.finalized.events)
        node.consensus.after_commit(block.header.number)
        node.update_metrics()
        log.info(
            "finalized #%d 0x%s (%d extrinsics)",
            block.header.number,
            block.header.hash.hex()[:16],
            len(block.extrinsics),
        )
        node.spawn(node.network.announce_status())

    # --- sync -----------------------------------------------------------------------------------------------

    async def on_block(self, block: bytes, justification: bytes, peer) -> None:  # noqa: ANN001 - a Peer
        node = self.node
        try:
            number = Block.decode(block).header.number
        except DecodeError as e:
            raise Misbehaviour(f"undecodable block: {e}") from None
        if number == node.chain.number + 1:
            await self.on_sync_response([(block, justification)], number, peer)
        elif number > node.chain.number + 1:
            await self.request_sync(peer)

    async def on_sync_request(self, from_number: int, max_blocks: int) -> list[tuple[bytes, bytes]]:
        chain = self.node.chain
        out = []
        for n in range(max(from_number, 1), min(from_number + max_blocks, chain.number + 1)):
            h = chain.store.hash_at(n)
            out.append((chain.block(h).encode(), chain.justification(h) or b""))
        return out

    async def on_sync_response(self, blocks: list[tuple[bytes, bytes]], peer_best: int, peer) -> None:  # noqa: ANN001
        node = self.node
        for block_bytes, cert_bytes in blocks:
            try:
                block = Block.decode(block_bytes)
                cert = CommitCertificate.decode(cert_bytes)
            except DecodeError as e:
                raise Misbehaviour(f"undecodable block or certificate in sync: {e}") from None
            number = block.header.number
            if number <= node.chain.number:
                continue
            if number != node.chain.number + 1:
                break
            try:
                verify_certificate(
                    cert,
                    block.header.hash,
                    number,
                    node.consensus.validator_set_for(number),
                    node.spec.genesis_hash,
                )
                executed = node.chain.execute(block)
            except (CertificateError, BlockImportError) as e:
                raise Misbehaviour(f"block #{number} from sync is not valid: {e}") from None
            self.commit(executed, cert_bytes)
            node.consensus.drive(
                lambda driver, block_bytes=block_bytes, cert=cert: driver.on_decided(block_bytes, cert)
            )
        if peer_best > node.chain.number:
            await self.request_sync(peer)

    async def on_peer_status(self, best_number: int, best_hash: bytes, peer) -> None:  # noqa: ANN001
        """A peer's best block. A follower syncs whatever it lacks. A validator syncs when two or more
        blocks behind; one block behind, it gives its own consensus `CATCH_UP_GRACE` to decide that block
        first, then fetches it: the peers that committed it have moved to the next height and will not
        vote on it again, so a validator that missed the block's gossip (a partition that healed) would
        otherwise wait forever, and with it every height that needs its vote."""
        node = self.node
        behind = best_number - node.chain.number
        if behind > 1 or (behind == 1 and node.validator_key is None):
            await self.request_sync(peer)
        elif behind == 1 and not self._catch_up_pending:
            self._catch_up_pending = True
            node.spawn(self._catch_up(node.chain.number, peer))
        node.update_metrics()

    async def _catch_up(self, number: int, peer) -> None:  # noqa: ANN001
        try:
            await asyncio.sleep(CATCH_UP_GRACE)
            if self.node.chain.number == number and not peer.closed and peer.best_number > number:
                log.info("still at #%d, one block behind peer %s: fetching it", number, peer.id)
                await self.request_sync(peer)
        except TransportError as e:
            log.debug("catch-up request to %s: %s", peer.id, e)
        finally:
            self._catch_up_pending = False

    async def request_sync(self, peer) -> None:  # noqa: ANN001
        await self.node.network.request_sync(peer, self.node.chain.number + 1, SYNC_BATCH)
