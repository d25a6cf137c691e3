"""The consensus write-ahead log: every input the engine saw and every message it sent, in order.

The engine is deterministic, so replaying the logged inputs of the current height into a fresh engine
rebuilds its round state (locks, valid value, votes seen, step) after a crash. Own messages are logged
before they are handed to the network, so nothing was ever sent that the log does not know about.

File format: a sequence of frames `u32 length ++ u32 crc32(payload) ++ payload` (little-endian), where
`payload = u8 kind ++ body`:

    1 RECEIVED_PROPOSAL  SignedProposal        5 SENT_PROPOSAL  SignedProposal
    2 RECEIVED_VOTE      SignedVote            6 SENT_VOTE      SignedVote
    3 TIMEOUT            Timeout               7 END_HEIGHT     u64 height (the height was committed)
    4 BLOCK_BUILT        u64 h ++ u32 r ++ Vec<u8> block
    8 DECIDED            Vec<u8> block ++ Vec<u8> CommitCertificate (a block finalized through sync)

A crash mid-append leaves a torn last frame (short, or failing its checksum); `read_records` stops at the
first such frame and `WriteAheadLog` truncates it away on open, so a torn tail is never replayed and never
has new records appended behind it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import IntEnum

from chain.primitives.codec import DecodeError, Reader, decode_all, encode_bytes, u8, u32, u64
from consensus.certificate import CommitCertificate
from consensus.storage import LogStore
from consensus.types import MAX_BLOCK_BYTES, SignedProposal, SignedVote, Timeout

FRAME_HEADER = 8
MAX_RECORD_BYTES = MAX_BLOCK_BYTES + 1024 * 1024


class RecordKind(IntEnum):
    RECEIVED_PROPOSAL = 1
    RECEIVED_VOTE = 2
    TIMEOUT = 3
    BLOCK_BUILT = 4
    SENT_PROPOSAL = 5
    SENT_VOTE = 6
    END_HEIGHT = 7
    DECIDED = 8


@dataclass(frozen=True, slots=True)
class BlockBuilt:
    height: int
    round: int
    block: bytes


@dataclass(frozen=True, slots=True)
class Decided:
    block: bytes
    certificate: CommitCertificate


WalBody = SignedProposal | SignedVote | Timeout | BlockBuilt | Decided | int


@dataclass(frozen=True, slots=True)
class WalRecord:
    kind: RecordKind
    body: WalBody

    @property
    def height(self) -> int:
        body = self.body
        if isinstance(body, int):
            return body
        if isinstance(body, SignedProposal):
            return body.proposal.height
        if isinstance(body, SignedVote):
            return body.vote.height
        if isinstance(body, Decided):
            return body.certificate.height
        return body.height

    def encode(self) -> bytes:
        body = self.body
        if isinstance(body, int):
            raw = u64(body)
        elif isinstance(body, BlockBuilt):
            raw = u64(body.height) + u32(body.round) + encode_bytes(body.block)
        elif isinstance(body, Decided):
            raw = encode_bytes(body.block) + encode_bytes(body.certificate.encode())
        else:
            raw = body.encode()
        return u8(self.kind) + raw

    @classmethod
    def decode(cls, payload: bytes) -> WalRecord:
        """Parse one record's payload; malformed input raises `DecodeError` and nothing else."""
        return decode_all(payload, cls._read)

    @classmethod
    def _read(cls, r: Reader) -> WalRecord:
        tag = r.u8()
        try:
            kind = RecordKind(tag)
        except ValueError:
            raise DecodeError(f"unknown WAL record kind {tag}") from None
        body: WalBody
        if kind in (RecordKind.RECEIVED_PROPOSAL, RecordKind.SENT_PROPOSAL):
            body = SignedProposal.decode_from(r)
        elif kind in (RecordKind.RECEIVED_VOTE, RecordKind.SENT_VOTE):
            body = SignedVote.decode_from(r)
        elif kind is RecordKind.TIMEOUT:
            body = Timeout.decode_from(r)
        elif kind is RecordKind.BLOCK_BUILT:
            body = BlockBuilt(r.u64(), r.u32(), r.bytes_vec(MAX_BLOCK_BYTES))
        elif kind is RecordKind.END_HEIGHT:
            body = r.u64()
        else:
            block = r.bytes_vec(MAX_BLOCK_BYTES)
            body = Decided(block, CommitCertificate.decode(r.bytes_vec()))
        return cls(kind, body)

    def frame(self) -> bytes:
        payload = self.encode()
        return u32(len(payload)) + u32(zlib.crc32(payload)) + payload


def read_records(data: bytes) -> tuple[list[WalRecord], int]:
    """The records of a WAL file and the length of its intact prefix; reading stops at a torn frame.

    A frame whose checksum matches but whose payload does not decode is corruption, not a torn write, and
    raises `DecodeError`.
    """
    records = []
    pos = 0
    while pos + FRAME_HEADER <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "little")
        crc = int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + FRAME_HEADER + length
        if length > MAX_RECORD_BYTES or end > len(data):
            break
        payload = data[pos + FRAME_HEADER : end]
        if zlib.crc32(payload) != crc:
            break
        records.append(WalRecord.decode(payload))
        pos = end
    return records, pos


class WriteAheadLog:
    """Appends records to a `LogStore`; own messages and timeouts are synced, received messages need not be."""

    def __init__(self, store: LogStore):
        self.store = store
        records, intact = read_records(store.read())
        self.torn_bytes = len(store.read()) - intact
        if self.torn_bytes:
            store.truncate(intact)
        self._records_at_open = records

    def records(self) -> list[WalRecord]:
        """The records that were in the log when it was opened (what a restart replays)."""
        return list(self._records_at_open)

    def close(self) -> None:
        """Release the store's file (a paused node reopens the log when it resumes)."""
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

    def compact(self, keep_from_height: int) -> None:
        """Drop the records of heights below `keep_from_height` (committed ones), so the log, and the replay
        after a crash, stay small; the store replaces the log atomically."""
        records, _ = read_records(self.store.read())
        kept = [r for r in records if r.height >= keep_from_height]
        if len(kept) != len(records):
            self.store.replace(b"".join(r.frame() for r in kept))
        self._records_at_open = [r for r in self._records_at_open if r.height >= keep_from_height]

    def append(self, kind: RecordKind, body: WalBody) -> None:
        """Received messages are written without fsync: losing them in a crash is harmless (peers re-gossip),
        and the next synced record (anything this validator sends, decides or times out on) makes them
        durable too, since an fsync covers the whole file. So nothing the engine acted on is ever lost."""
        received = kind in (RecordKind.RECEIVED_PROPOSAL, RecordKind.RECEIVED_VOTE)
        self.store.append(WalRecord(kind, body).frame(), sync=not received)
