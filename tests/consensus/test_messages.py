"""Votes, proposals, certificates and evidence: encodings, domain separation and typed verification errors."""

from __future__ import annotations

from collections import Counter

import pytest

from chain.primitives.codec import DecodeError
from chain.primitives.crypto import Keypair
from chain.primitives.hashing import blake2_256
from consensus.certificate import (
    BadSignature,
    CommitCertificate,
    DuplicateSigner,
    InsufficientStake,
    UnknownValidator,
    WrongBlock,
    verify_certificate,
)
from consensus.evidence import (
    DuplicateVoteEvidence,
    DuplicateVotes,
    MalformedEvidence,
    NotConflicting,
    StaleEvidence,
    WrongSigner,
    verify_evidence,
)
from consensus.types import Proposal, SignedProposal, SignedVote, Vote, VoteType
from consensus.validators import InvalidValidatorSet, ValidatorSet, activation_height

GENESIS = blake2_256(b"genesis-a")
OTHER_GENESIS = blake2_256(b"genesis-b")
BLOCK = blake2_256(b"block")
OTHER_BLOCK = blake2_256(b"other block")
KEYS = [Keypair.from_seed(blake2_256(b"k%d" % i)) for i in range(4)]
VSET = ValidatorSet.of((k.public, 10) for k in KEYS)


def precommit(
    key: Keypair, block: bytes | None = BLOCK, height: int = 5, round_: int = 1, genesis: bytes = GENESIS
) -> SignedVote:
    return SignedVote.sign(Vote(VoteType.PRECOMMIT, height, round_, block), key, genesis)


def certificate(signers: list[Keypair], block: bytes = BLOCK, genesis: bytes = GENESIS) -> CommitCertificate:
    return CommitCertificate.from_precommits(
        5, 1, block, [precommit(k, block, genesis=genesis) for k in signers], VSET
    )


# ---- votes and proposals ------------------------------------------------------------------------------


def test_vote_sign_bytes_start_with_domain_and_genesis():
    vote = Vote(VoteType.PREVOTE, 7, 2, BLOCK)
    payload = vote.sign_bytes(GENESIS)
    assert (
        payload
        == b"gradchain/vote"
        + GENESIS
        + b"\x01"
        + (7).to_bytes(8, "little")
        + (2).to_bytes(4, "little")
        + b"\x01"
        + BLOCK
    )
    assert Vote(VoteType.PREVOTE, 7, 2, None).sign_bytes(GENESIS).endswith(b"\x00")


def test_invalid_vote_signed_for_another_genesis():
    signed = SignedVote.sign(Vote(VoteType.PREVOTE, 1, 0, BLOCK), KEYS[0], OTHER_GENESIS)
    assert signed.verify(OTHER_GENESIS)
    assert not signed.verify(GENESIS)


def test_vote_and_proposal_round_trip():
    signed = precommit(KEYS[1], None)
    assert SignedVote.decode(signed.encode()) == signed
    proposal = SignedProposal.sign(Proposal(3, 4, BLOCK, 2), b"opaque block", KEYS[2], GENESIS)
    assert SignedProposal.decode(proposal.encode()) == proposal
    assert proposal.verify(GENESIS) and not proposal.verify(OTHER_GENESIS)


def test_invalid_proposal_valid_round_not_below_round():
    with pytest.raises(ValueError):
        Proposal(3, 2, BLOCK, 2)
    raw = bytearray(SignedProposal.sign(Proposal(3, 4, BLOCK, 2), b"b", KEYS[0], GENESIS).encode())
    raw[8 + 4 + 32 + 1 : 8 + 4 + 32 + 5] = (9).to_bytes(4, "little")
    with pytest.raises(DecodeError):
        SignedProposal.decode(bytes(raw))


def test_invalid_vote_decode_trailing_and_truncated():
    raw = precommit(KEYS[0]).encode()
    with pytest.raises(DecodeError):
        SignedVote.decode(raw + b"\x00")
    with pytest.raises(DecodeError):
        SignedVote.decode(raw[:-1])


# ---- validator sets -----------------------------------------------------------------------------------


def test_validator_set_is_canonically_ordered_and_hashed():
    a = ValidatorSet.of([(KEYS[0].public, 1), (KEYS[1].public, 2)])
    b = ValidatorSet.of([(KEYS[1].public, 2), (KEYS[0].public, 1)])
    assert a == b and a.hash == b.hash
    assert [v.public for v in a.validators] == sorted([KEYS[0].public, KEYS[1].public])
    assert ValidatorSet.of([(KEYS[0].public, 1), (KEYS[1].public, 3)]).hash != a.hash


@pytest.mark.parametrize(
    "members", [[], [(KEYS[0].public, 1), (KEYS[0].public, 2)], [(KEYS[0].public, 0)], [(b"short", 1)]]
)
def test_invalid_validator_set(members):
    with pytest.raises(InvalidValidatorSet):
        ValidatorSet.of(members)


def test_proposer_rotation_is_proportional_to_stake():
    stakes = [1, 2, 3, 10]
    vset = ValidatorSet.of((k.public, s) for k, s in zip(KEYS, stakes, strict=True))
    counts = Counter(vset.proposer(h, r) for h in range(1, 801) for r in range(4))
    total = sum(counts.values())
    for key, stake in zip(KEYS, stakes, strict=True):
        share = counts[key.public] / total
        assert abs(share - stake / sum(stakes)) < 0.01, (stake, share)


def test_proposer_changes_between_consecutive_rounds_with_equal_stake():
    assert all(VSET.proposer(9, r) != VSET.proposer(9, r + 1) for r in range(20))


def test_activation_height_is_one_epoch_after_the_next_election():
    assert activation_height(150, 100) == 301
    assert activation_height(200, 100) == 301
    assert activation_height(201, 100) == 401


# ---- certificates -------------------------------------------------------------------------------------


def test_certificate_round_trip_and_verifies():
    cert = certificate(KEYS[:3])
    assert CommitCertificate.decode(cert.encode()) == cert
    assert [i for i, _ in cert.signatures] == sorted(i for i, _ in cert.signatures)
    verify_certificate(cert, BLOCK, 5, VSET, GENESIS)


def test_invalid_certificate_insufficient_stake():
    with pytest.raises(InsufficientStake, match="20 of 40"):
        verify_certificate(certificate(KEYS[:2]), BLOCK, 5, VSET, GENESIS)


def test_invalid_certificate_wrong_block_or_height():
    cert = certificate(KEYS[:3])
    with pytest.raises(WrongBlock):
        verify_certificate(cert, OTHER_BLOCK, 5, VSET, GENESIS)
    with pytest.raises(WrongBlock, match="height 5"):
        verify_certificate(cert, BLOCK, 6, VSET, GENESIS)


def test_invalid_certificate_duplicate_signer():
    cert = certificate(KEYS[:3])
    doubled = CommitCertificate(5, 1, BLOCK, (cert.signatures[0], cert.signatures[0], cert.signatures[1]))
    with pytest.raises(DuplicateSigner):
        verify_certificate(doubled, BLOCK, 5, VSET, GENESIS)


def test_invalid_certificate_unknown_validator():
    cert = certificate(KEYS[:3])
    with pytest.raises(UnknownValidator, match="index 4"):
        verify_certificate(
            CommitCertificate(5, 1, BLOCK, cert.signatures + ((4, b"\x00" * 64),)), BLOCK, 5, VSET, GENESIS
        )


def test_invalid_certificate_bad_signature_and_other_genesis():
    cert = certificate(KEYS[:3])
    forged = CommitCertificate(5, 1, BLOCK, cert.signatures[:2] + ((cert.signatures[2][0], b"\x01" * 64),))
    with pytest.raises(BadSignature):
        verify_certificate(forged, BLOCK, 5, VSET, GENESIS)
    with pytest.raises(BadSignature):
        verify_certificate(certificate(KEYS[:3], genesis=OTHER_GENESIS), BLOCK, 5, VSET, GENESIS)


def test_invalid_certificate_against_another_set():
    other_set = ValidatorSet.of((Keypair.from_seed(blake2_256(b"x%d" % i)).public, 10) for i in range(4))
    with pytest.raises(BadSignature):
        verify_certificate(certificate(KEYS[:3]), BLOCK, 5, other_set, GENESIS)


# ---- evidence -----------------------------------------------------------------------------------------


def test_evidence_round_trip_is_canonical_and_verifies():
    a, b = precommit(KEYS[0], BLOCK), precommit(KEYS[0], OTHER_BLOCK)
    ev = DuplicateVoteEvidence.of(b, a)
    assert ev == DuplicateVoteEvidence.of(a, b)
    assert DuplicateVoteEvidence.decode(ev.encode()) == ev
    assert verify_evidence(ev.encode(), VSET, GENESIS, current_height=10, max_age=100) == ev
    assert verify_evidence(ev, VSET, GENESIS, current_height=10, max_age=100).offender == KEYS[0].public


def test_evidence_offence_id_names_the_slot_not_the_pair():
    a, b, c = (precommit(KEYS[0], blake2_256(b"block %d" % i)) for i in range(3))
    offence = DuplicateVoteEvidence.of(a, b).offence_id
    assert DuplicateVoteEvidence.of(a, c).offence_id == offence
    assert DuplicateVoteEvidence.of(b, c).offence_id == offence
    for other_slot in (dict(height=6), dict(round_=2)):
        pair = DuplicateVoteEvidence.of(
            precommit(KEYS[0], BLOCK, **other_slot), precommit(KEYS[0], OTHER_BLOCK, **other_slot)
        )
        assert pair.offence_id != offence
    prevotes = [
        SignedVote.sign(Vote(VoteType.PREVOTE, 5, 1, block), KEYS[0], GENESIS)
        for block in (BLOCK, OTHER_BLOCK)
    ]
    assert DuplicateVoteEvidence.of(*prevotes).offence_id != offence
    other_signer = DuplicateVoteEvidence.of(precommit(KEYS[1], BLOCK), precommit(KEYS[1], OTHER_BLOCK))
    assert other_signer.offence_id != offence


def test_invalid_evidence_same_vote_twice():
    a = precommit(KEYS[0])
    with pytest.raises(DuplicateVotes):
        verify_evidence(DuplicateVoteEvidence(a, a), VSET, GENESIS, 10, 100)


def test_invalid_evidence_stale():
    ev = DuplicateVoteEvidence.of(precommit(KEYS[0], BLOCK), precommit(KEYS[0], OTHER_BLOCK))
    with pytest.raises(StaleEvidence, match="6 blocks old"):
        verify_evidence(ev, VSET, GENESIS, current_height=11, max_age=5)


def test_invalid_evidence_malformed():
    with pytest.raises(MalformedEvidence):
        verify_evidence(b"\x02" + b"\x00" * 40, VSET, GENESIS, 10, 100)
    ev = DuplicateVoteEvidence.of(precommit(KEYS[0], BLOCK), precommit(KEYS[0], OTHER_BLOCK))
    with pytest.raises(MalformedEvidence, match="canonical"):
        verify_evidence(DuplicateVoteEvidence(ev.vote_b, ev.vote_a), VSET, GENESIS, 10, 100)


def test_invalid_evidence_wrong_signer():
    with pytest.raises(WrongSigner, match="different validators"):
        verify_evidence(
            DuplicateVoteEvidence.of(precommit(KEYS[0], BLOCK), precommit(KEYS[1], OTHER_BLOCK)),
            VSET,
            GENESIS,
            10,
            100,
        )
    outsider = Keypair.from_seed(b"\x07" * 32)
    with pytest.raises(WrongSigner, match="not in the validator set"):
        verify_evidence(
            DuplicateVoteEvidence.of(precommit(outsider, BLOCK), precommit(outsider, OTHER_BLOCK)),
            VSET,
            GENESIS,
            10,
            100,
        )
    a = precommit(KEYS[0], BLOCK)
    forged = SignedVote(Vote(VoteType.PRECOMMIT, 5, 1, OTHER_BLOCK), KEYS[0].public, a.signature)
    with pytest.raises(WrongSigner, match="signature"):
        verify_evidence(DuplicateVoteEvidence.of(a, forged), VSET, GENESIS, 10, 100)
    other_chain = DuplicateVoteEvidence.of(
        precommit(KEYS[0], BLOCK, genesis=OTHER_GENESIS),
        precommit(KEYS[0], OTHER_BLOCK, genesis=OTHER_GENESIS),
    )
    with pytest.raises(WrongSigner):
        verify_evidence(other_chain, VSET, GENESIS, 10, 100)


def test_invalid_evidence_not_conflicting():
    with pytest.raises(NotConflicting, match="different slots"):
        verify_evidence(
            DuplicateVoteEvidence.of(
                precommit(KEYS[0], BLOCK, round_=1), precommit(KEYS[0], OTHER_BLOCK, round_=2)
            ),
            VSET,
            GENESIS,
            10,
            100,
        )
    prevote = SignedVote.sign(Vote(VoteType.PREVOTE, 5, 1, OTHER_BLOCK), KEYS[0], GENESIS)
    with pytest.raises(NotConflicting):
        verify_evidence(DuplicateVoteEvidence.of(precommit(KEYS[0], BLOCK), prevote), VSET, GENESIS, 10, 100)
