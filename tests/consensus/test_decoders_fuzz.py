"""Every consensus decoder, fed arbitrary and mutated bytes, raises DecodeError and nothing else."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.primitives.codec import DecodeError
from chain.primitives.crypto import Keypair
from chain.primitives.hashing import blake2_256
from consensus.certificate import CommitCertificate
from consensus.evidence import DuplicateVoteEvidence
from consensus.types import Proposal, SignedProposal, SignedVote, Step, Timeout, Vote, VoteType
from consensus.validators import ValidatorSet
from consensus.wal import BlockBuilt, Decided, RecordKind, WalRecord, read_records

GENESIS = blake2_256(b"fuzz")
KEYS = [Keypair.from_seed(blake2_256(b"f%d" % i)) for i in range(3)]
VSET = ValidatorSet.of((k.public, 1) for k in KEYS)
BLOCK = blake2_256(b"b")
VOTE = SignedVote.sign(Vote(VoteType.PRECOMMIT, 9, 2, BLOCK), KEYS[0], GENESIS)
OTHER = SignedVote.sign(Vote(VoteType.PRECOMMIT, 9, 2, None), KEYS[0], GENESIS)
PROPOSAL = SignedProposal.sign(Proposal(9, 2, BLOCK, 1), b"block bytes", KEYS[1], GENESIS)
CERT = CommitCertificate.from_precommits(
    9, 2, BLOCK, [SignedVote.sign(Vote(VoteType.PRECOMMIT, 9, 2, BLOCK), k, GENESIS) for k in KEYS], VSET
)
EVIDENCE = DuplicateVoteEvidence.of(VOTE, OTHER)
WAL_SAMPLES = [
    WalRecord(RecordKind.RECEIVED_VOTE, VOTE),
    WalRecord(RecordKind.SENT_PROPOSAL, PROPOSAL),
    WalRecord(RecordKind.TIMEOUT, Timeout(9, 2, Step.PREVOTE)),
    WalRecord(RecordKind.BLOCK_BUILT, BlockBuilt(9, 2, b"blk")),
    WalRecord(RecordKind.END_HEIGHT, 8),
    WalRecord(RecordKind.DECIDED, Decided(b"blk", CERT)),
]
EXAMPLES = 10_000


def mutated(valid: list[bytes]) -> st.SearchStrategy[bytes]:
    """Valid encodings with bytes flipped, cut or appended: reaches deeper than random noise."""

    def mutate(args: tuple[int, list[tuple[int, int]], int, bytes]) -> bytes:
        which, flips, cut, tail = args
        data = bytearray(valid[which % len(valid)])
        for pos, value in flips:
            if data:
                data[pos % len(data)] = value
        return bytes(data[: cut if cut < len(data) else len(data)]) + tail

    return st.tuples(
        st.integers(0, 100),
        st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=4),
        st.integers(0, 400),
        st.binary(max_size=8),
    ).map(mutate)


def inputs(valid: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=300), mutated(valid))


def only_decode_error(decode: Callable[[bytes], object], data: bytes) -> None:
    try:
        decode(data)
    except DecodeError:
        pass


@settings(max_examples=EXAMPLES)
@given(inputs([VOTE.encode(), OTHER.encode()]))
def test_vote_decoder_raises_only_decode_error(data):
    only_decode_error(SignedVote.decode, data)


@settings(max_examples=EXAMPLES)
@given(inputs([PROPOSAL.encode()]))
def test_proposal_decoder_raises_only_decode_error(data):
    only_decode_error(SignedProposal.decode, data)


@settings(max_examples=EXAMPLES)
@given(inputs([CERT.encode()]))
def test_certificate_decoder_raises_only_decode_error(data):
    only_decode_error(CommitCertificate.decode, data)


@settings(max_examples=EXAMPLES)
@given(inputs([EVIDENCE.encode()]))
def test_evidence_decoder_raises_only_decode_error(data):
    only_decode_error(DuplicateVoteEvidence.decode, data)


@settings(max_examples=EXAMPLES)
@given(inputs([r.encode() for r in WAL_SAMPLES]))
def test_wal_record_decoder_raises_only_decode_error(data):
    only_decode_error(WalRecord.decode, data)


@settings(max_examples=2_000)
@given(inputs([b"".join(r.frame() for r in WAL_SAMPLES)]))
def test_wal_reader_on_arbitrary_files_raises_only_decode_error(data):
    only_decode_error(read_records, data)


def test_samples_round_trip():
    assert SignedVote.decode(VOTE.encode()) == VOTE
    assert CommitCertificate.decode(CERT.encode()) == CERT
    assert DuplicateVoteEvidence.decode(EVIDENCE.encode()) == EVIDENCE
    for record in WAL_SAMPLES:
        assert WalRecord.decode(record.encode()) == record
    assert read_records(b"".join(r.frame() for r in WAL_SAMPLES))[0] == WAL_SAMPLES
