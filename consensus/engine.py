"""The Tendermint consensus engine (Buchman, Kwon, Milosevic, arXiv 1807.04938, Algorithm 1) as a pure state machine.

Inputs are method calls (`start`, `on_proposal`, `on_vote`, `on_timeout`, `on_block_built`, `on_decided`);
each returns the list of `consensus.actions` the node must perform. The engine does no I/O, reads no
clock and draws no randomness: given the same inputs in the same order it produces the same actions,
which is what makes WAL replay and the deterministic simulator possible. Its three collaborators are
injected and must be deterministic too:

- `signer` (a `SignerGuard`, or None for a non-validating observer) signs votes and proposals, and may
  refuse; a refusal means "already signed at or past this step" and the engine simply does not send.
- `validate_block(height, block_bytes) -> bool`: the app's validity check (the paper's `valid(v)`).
- `block_hash(block_bytes) -> bytes`: the block's 32-byte hash (the header hash); a proposal whose bytes
  do not hash to its `block_hash` is ignored.

Rules, with the paper's line numbers: StartRound (11), proposal with validRound -1 (22), proposal with a
polka at validRound (28), first 2/3+ prevotes -> timeoutPrevote (34), polka for the proposal -> lock and
precommit, update validValue/validRound (36), nil polka -> precommit nil (44), first 2/3+ precommits ->
timeoutPrecommit (47), 2/3+ precommits for a proposed block -> decide (49), more than 1/3 of the stake in a
higher round -> skip to it (55), and the three timeout handlers (57, 61, 65).

Timeouts grow linearly with the round so that, after the network stabilizes, some round is long enough for
every honest validator to hear the proposal and the votes: `base + delta * round` seconds for each step,
see `TimeoutConfig`. Round skipping uses each validator's highest round seen at this height: the engine
jumps to the highest round `r` such that validators holding more than 1/3 of the stake sent messages in
rounds >= r (so at least one honest validator is there). Votes more than `FUTURE_ROUND_WINDOW` rounds ahead
are counted for the skip but not stored, which bounds memory; peers re-gossip them after the skip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chain.primitives.crypto import verify
from chain.primitives.hashing import blake2_256
from consensus.actions import Action, Broadcast, Commit, RecordEvidence, RequestProposal, ScheduleTimeout
from consensus.certificate import CommitCertificate, verify_certificate
from consensus.types import Proposal, SignedProposal, SignedVote, Step, Timeout, Vote, VoteType
from consensus.validators import ValidatorSetProvider
from consensus.votes import HeightVoteSet

FUTURE_ROUND_WINDOW = 3
NEXT_HEIGHT_BUFFER_PER_VALIDATOR = 8


class Signer(Protocol):
    @property
    def public(self) -> bytes: ...
    def sign_vote(self, vote: Vote) -> SignedVote | None: ...
    def sign_proposal(self, proposal: Proposal, block: bytes) -> SignedProposal | None: ...


@dataclass(frozen=True)
class TimeoutConfig:
    """Seconds to wait in each step of round r: `<step>_base + <step>_delta * r`."""

    propose_base: float = 1.0
    propose_delta: float = 0.5
    prevote_base: float = 0.5
    prevote_delta: float = 0.25
    precommit_base: float = 0.5
    precommit_delta: float = 0.25

    def duration(self, step: Step, round_: int) -> float:
        if step is Step.PROPOSE:
            return self.propose_base + self.propose_delta * round_
        if step is Step.PREVOTE:
            return self.prevote_base + self.prevote_delta * round_
        return self.precommit_base + self.precommit_delta * round_


class Engine:
    """One validator's consensus state: the current height and round, locks, and the votes seen."""

    def __init__(
        self,
        *,
        genesis_hash: bytes,
        signer: Signer | None,
        validator_sets: ValidatorSetProvider,
        validate_block: Callable[[int, bytes], bool],
        height: int = 1,
        block_hash: Callable[[bytes], bytes] = blake2_256,
        timeouts: TimeoutConfig | None = None,
        verify_signature: Callable[[bytes, bytes, bytes], bool] = verify,
    ):
        self.genesis_hash = genesis_hash
        self.signer = signer
        self.validator_sets = validator_sets
        self.validate_block = validate_block
        self.block_hash = block_hash
        self.timeouts = timeouts or TimeoutConfig()
        self.verify_signature = verify_signature
        self._out: list[Action] = []
        self._started = False
        self._enter_height(height)

    # ---- inputs -------------------------------------------------------------------------------------

    def start(self) -> list[Action]:
        """Begin round 0 of the current height (call once, after construction or WAL replay setup)."""
        if not self._started:
            self._started = True
            self._start_round(0)
            self._advance()
        return self._drain()

    def on_proposal(self, message: SignedProposal) -> list[Action]:
        self._receive_proposal(message)
        self._advance()
        return self._drain()

    def on_vote(self, message: SignedVote) -> list[Action]:
        self._receive_vote(message)
        self._advance()
        return self._drain()

    def on_timeout(self, timeout: Timeout) -> list[Action]:
        """Lines 57-67: a step's timer ran out without the step completing."""
        if self._started and timeout.height == self.height and timeout.round == self.round:
            if timeout.step is Step.PROPOSE and self.step is Step.PROPOSE:
                self._prevote(None)
            elif timeout.step is Step.PREVOTE and self.step is Step.PREVOTE:
                self._precommit(None)
            elif timeout.step is Step.PRECOMMIT:
                self._start_round(self.round + 1)
            self._advance()
        return self._drain()

    def on_block_built(self, height: int, round_: int, block: bytes) -> list[Action]:
        """The node's answer to `RequestProposal`; stale answers (the round moved on) are dropped."""
        if (
            self._started
            and height == self.height
            and round_ == self.round
            and self.step is Step.PROPOSE
            and round_ not in self.proposals
            and self._is_proposer(round_)
        ):
            block_hash = self.block_hash(block)
            self.blocks[block_hash] = block
            self._propose(block_hash, -1)
            self._advance()
        return self._drain()

    def on_decided(self, block: bytes, certificate: CommitCertificate) -> list[Action]:
        """A block of the current height finalized without us (sync): verify its certificate and move on.

        Raises a `CertificateError` if the certificate does not prove the block final; other heights are
        ignored (the node syncs them in order).
        """
        if certificate.height != self.height:
            return self._drain()
        block_hash = self.block_hash(block)
        verify_certificate(
            certificate, block_hash, self.height, self.validator_set, self.genesis_hash, self.verify_signature
        )
        self._decide(certificate.round, block_hash, block, certificate)
        self._advance()
        return self._drain()

    def gossip_state(self) -> list[SignedProposal | SignedVote]:
        """Messages worth re-sending so peers that missed them (drops, partitions, restarts) catch up:
        this height's proposals of the current and valid rounds, the prevotes of the polka that made our
        valid value (a peer needs them to accept its re-proposal, line 28, even if it never heard some
        of the voters), and our own votes of every round."""
        messages: list[SignedProposal | SignedVote] = []
        for r in sorted({self.round, self.valid_round}):
            if r in self.proposals:
                messages.append(self.proposals[r])
        if self.valid_value is not None:
            messages.extend(self.votes.votes_for(self.valid_round, VoteType.PREVOTE, self.valid_value))
        if self.signer is not None:
            messages.extend(
                sorted(self.votes.own_votes(self.signer.public), key=lambda v: (v.vote.round, v.vote.type))
            )
        return messages

    # ---- message intake (no rules run here) ---------------------------------------------------------

    def _buffer_next_height(self, message: SignedProposal | SignedVote, sender: bytes) -> None:
        """Keep a few early messages for the next height (peers that committed first have moved on);
        bounded per current validator, so claimed but unverified senders cannot grow it."""
        count = self._next_height_count.get(sender, 0)
        if sender in self.validator_set and count < NEXT_HEIGHT_BUFFER_PER_VALIDATOR:
            self._next_height_count[sender] = count + 1
            self._next_height.append(message)

    def _receive_vote(self, signed: SignedVote) -> None:
        vote = signed.vote
        if vote.height != self.height:
            if vote.height == self.height + 1:
                self._buffer_next_height(signed, signed.validator)
            return
        if signed.validator not in self.validator_set or self.votes.has(signed):
            return
        if not signed.verify(self.genesis_hash, self.verify_signature):
            return
        self._note_round(signed.validator, vote.round)
        if vote.round > self.round + FUTURE_ROUND_WINDOW:
            return
        result = self.votes.add(signed)
        if result.evidence is not None:
            self._out.append(RecordEvidence(result.evidence))
        if result.added and vote.type is VoteType.PRECOMMIT:
            self._precommit_rounds.add(vote.round)

    def _receive_proposal(self, signed: SignedProposal) -> None:
        p = signed.proposal
        if p.height != self.height:
            if p.height == self.height + 1:
                self._buffer_next_height(signed, signed.proposer)
            return
        if p.round in self.proposals or signed.proposer != self.validator_set.proposer(p.height, p.round):
            return
        if not signed.verify(self.genesis_hash, self.verify_signature):
            return
        self._note_round(signed.proposer, p.round)
        self.votes.note_participant(p.round, signed.proposer)
        if p.round > self.round + FUTURE_ROUND_WINDOW or self.block_hash(signed.block) != p.block_hash:
            return
        self.proposals[p.round] = signed
        self.blocks[p.block_hash] = signed.block

    def _note_round(self, validator: bytes, round_: int) -> None:
        if round_ > self._highest_round.get(validator, -1):
            self._highest_round[validator] = round_
            if round_ > self.round:
                self._skip_pending = True

    # ---- rules --------------------------------------------------------------------------------------

    def _advance(self) -> None:
        """Apply the paper's `upon` rules until none fires: each input may enable several in a row."""
        if not self._started:
            return
        while self._try_decide() or self._try_round_skip() or self._try_round_rules():
            pass

    def _try_decide(self) -> bool:
        """Line 49: more than 2/3 precommits for a block we hold and find valid, in any round."""
        for round_ in sorted(self._precommit_rounds):
            ok, block_hash = self.votes.quorum_block(round_, VoteType.PRECOMMIT)
            if ok and block_hash is not None and block_hash in self.blocks and self._valid(block_hash):
                precommits = self.votes.votes_for(round_, VoteType.PRECOMMIT, block_hash)
                cert = CommitCertificate.from_precommits(
                    self.height, round_, block_hash, precommits, self.validator_set
                )
                self._decide(round_, block_hash, self.blocks[block_hash], cert)
                return True
        return False

    def _try_round_skip(self) -> bool:
        """Line 55, generalized: jump to the highest round that more than 1/3 of the stake has reached."""
        if not self._skip_pending:
            return False
        self._skip_pending = False
        stake = 0
        vs = self.validator_set
        for validator, round_ in sorted(self._highest_round.items(), key=lambda item: -item[1]):
            if round_ <= self.round:
                break
            stake += vs.stake_of(validator)
            if vs.exceeds_one_third(stake):
                self._start_round(round_)
                return True
        return False

    def _try_round_rules(self) -> bool:
        r, step, votes = self.round, self.step, self.votes
        signed = self.proposals.get(r)
        proposal = signed.proposal if signed is not None else None
        if step is Step.PROPOSE and proposal is not None:
            v, vr = proposal.block_hash, proposal.valid_round
            if vr == -1:  # line 22
                ok = self._valid(v) and (self.locked_round == -1 or self.locked_value == v)
                self._prevote(v if ok else None)
                return True
            if vr < r and votes.quorum_for(vr, VoteType.PREVOTE, v):  # line 28
                ok = self._valid(v) and (self.locked_round <= vr or self.locked_value == v)
                self._prevote(v if ok else None)
                return True
        if (
            step is Step.PREVOTE
            and ("prevote-timer", r) not in self._fired
            and votes.quorum_any(r, VoteType.PREVOTE)
        ):  # line 34
            self._fired.add(("prevote-timer", r))
            self._schedule(Step.PREVOTE)
            return True
        if (
            step >= Step.PREVOTE
            and proposal is not None
            and ("polka", r) not in self._fired
            and votes.quorum_for(r, VoteType.PREVOTE, proposal.block_hash)
            and self._valid(proposal.block_hash)
        ):  # line 36
            self._fired.add(("polka", r))
            v = proposal.block_hash
            if step is Step.PREVOTE:
                self.locked_value, self.locked_round = v, r
                self._precommit(v)
            self.valid_value, self.valid_round = v, r
            return True
        if step is Step.PREVOTE and votes.quorum_for(r, VoteType.PREVOTE, None):  # line 44
            self._precommit(None)
            return True
        if ("precommit-timer", r) not in self._fired and votes.quorum_any(r, VoteType.PRECOMMIT):  # line 47
            self._fired.add(("precommit-timer", r))
            self._schedule(Step.PRECOMMIT)
            return True
        return False

    # ---- transitions --------------------------------------------------------------------------------

    def _enter_height(self, height: int) -> None:
        self.height = height
        self.validator_set = self.validator_sets(height)
        self.votes = HeightVoteSet(height, self.validator_set)
        self.round = 0
        self.step = Step.PROPOSE
        self.locked_value: bytes | None = None
        self.locked_round = -1
        self.valid_value: bytes | None = None
        self.valid_round = -1
        self.proposals: dict[int, SignedProposal] = {}
        self.blocks: dict[bytes, bytes] = {}
        self._validity: dict[bytes, bool] = {}
        self._fired: set[tuple[str, int]] = set()
        self._highest_round: dict[bytes, int] = {}
        self._skip_pending = False
        self._precommit_rounds: set[int] = set()
        self._next_height: list[SignedProposal | SignedVote] = []
        self._next_height_count: dict[bytes, int] = {}

    def _start_round(self, round_: int) -> None:
        """Line 11: enter `round_`; the proposer re-proposes its valid value or asks the node for a block."""
        self.round = round_
        self.step = Step.PROPOSE
        if self._is_proposer(round_) and round_ not in self.proposals:
            if self.valid_value is not None:
                self._propose(self.valid_value, self.valid_round)
            else:
                self._out.append(RequestProposal(self.height, round_))
        self._schedule(Step.PROPOSE)
        if any(r > round_ for r in self._highest_round.values()):
            self._skip_pending = True

    def _decide(self, round_: int, block_hash: bytes, block: bytes, cert: CommitCertificate) -> None:
        self._out.append(Commit(self.height, round_, block_hash, block, cert))
        buffered = self._next_height
        self._enter_height(self.height + 1)
        self._start_round(0)
        for message in buffered:
            if isinstance(message, SignedVote):
                self._receive_vote(message)
            else:
                self._receive_proposal(message)

    def _propose(self, block_hash: bytes, valid_round: int) -> None:
        if self.signer is None:
            return
        block = self.blocks[block_hash]
        signed = self.signer.sign_proposal(Proposal(self.height, self.round, block_hash, valid_round), block)
        if signed is not None:
            self.proposals[self.round] = signed
            self.votes.note_participant(self.round, signed.proposer)
            self._out.append(Broadcast(signed))

    def _prevote(self, block_hash: bytes | None) -> None:
        self.step = Step.PREVOTE
        self._vote(VoteType.PREVOTE, block_hash)

    def _precommit(self, block_hash: bytes | None) -> None:
        self.step = Step.PRECOMMIT
        self._vote(VoteType.PRECOMMIT, block_hash)

    def _vote(self, vote_type: VoteType, block_hash: bytes | None) -> None:
        if self.signer is None or self.signer.public not in self.validator_set:
            return
        signed = self.signer.sign_vote(Vote(vote_type, self.height, self.round, block_hash))
        if signed is None:
            return
        result = self.votes.add(signed)
        if result.evidence is not None:
            self._out.append(RecordEvidence(result.evidence))
        if vote_type is VoteType.PRECOMMIT:
            self._precommit_rounds.add(self.round)
        self._out.append(Broadcast(signed))

    def _schedule(self, step: Step) -> None:
        timeout = Timeout(self.height, self.round, step)
        self._out.append(ScheduleTimeout(timeout, self.timeouts.duration(step, self.round)))

    # ---- helpers ------------------------------------------------------------------------------------

    def _is_proposer(self, round_: int) -> bool:
        return (
            self.signer is not None and self.validator_set.proposer(self.height, round_) == self.signer.public
        )

    def _valid(self, block_hash: bytes) -> bool:
        ok = self._validity.get(block_hash)
        if ok is None:
            ok = self._validity[block_hash] = bool(self.validate_block(self.height, self.blocks[block_hash]))
        return ok

    def _drain(self) -> list[Action]:
        out, self._out = self._out, []
        return out
