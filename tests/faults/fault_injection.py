"""Fault injection for the fault suite: what `tests/faults/adversary_node.py` adds to a real node process.
No production module imports this package; a node started as `python -m chain.cli node` has none of it.

`--fault-file PATH`: the node polls PATH every `POLL_SECONDS` for JSON `{"block_peers": ["<hex node key>", ...]}`
and makes it the network's `blocked_keys`, which drops all traffic with those peers at the transport. Writing
the file partitions a network of real processes; emptying it heals the partition. A missing or empty file
blocks no one; a file that does not parse (caught mid-write) leaves the last applied set in place.

`--byzantine equivocate`: at every `EQUIVOCATE_EVERY`-th height the validator, besides its normal prevote,
signs and gossips a conflicting prevote for the same height and round, deliberately bypassing its
SignerGuard. Honest validators must turn the pair into DuplicateVoteEvidence, and staking must slash it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from chain.primitives.crypto import Keypair
from chain.primitives.hashing import blake2_256
from consensus.types import SignedVote, Vote, VoteType

log = logging.getLogger("gradchain.faults")

POLL_SECONDS = 0.5
EQUIVOCATE_EVERY = 3
BYZANTINE_MODES = ("equivocate",)


def read_blocked_keys(path: Path) -> set[bytes] | None:
    """The node keys the fault file blocks, or None when the file cannot be parsed right now."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return set()
    if not text.strip():
        return set()
    try:
        doc = json.loads(text)
        return {bytes.fromhex(k.removeprefix("0x")) for k in doc.get("block_peers", [])}
    except (ValueError, AttributeError, TypeError):
        return None


async def poll_fault_file(path: Path, blocked_keys: set[bytes]) -> None:
    """Keep `blocked_keys` (the network's own set, changed in place) equal to what the fault file says."""
    while True:
        keys = read_blocked_keys(path)
        if keys is not None and keys != blocked_keys:
            blocked_keys.clear()
            blocked_keys.update(keys)
            log.warning(
                "fault file %s: blocking %d peer(s): %s",
                path,
                len(keys),
                sorted("0x" + k.hex()[:16] for k in keys),
            )
        await asyncio.sleep(POLL_SECONDS)


def conflicting_prevote(message: object, key: Keypair, genesis_hash: bytes) -> SignedVote | None:
    """A prevote that conflicts with `message` (our own prevote) at the heights we equivocate on, else None."""
    if not isinstance(message, SignedVote) or message.validator != key.public:
        return None
    vote = message.vote
    if vote.type is not VoteType.PREVOTE or vote.height % EQUIVOCATE_EVERY:
        return None
    other = blake2_256(b"gradchain/byzantine" + vote.encode())
    log.warning("byzantine: equivocating at height %d round %d", vote.height, vote.round)
    return SignedVote.sign(Vote(VoteType.PREVOTE, vote.height, vote.round, other), key, genesis_hash)
