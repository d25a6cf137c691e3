"""Fuzz targets: each parses untrusted bytes and may fail only with its documented, typed error.

`TARGETS[name]` is (parse, allowed errors, valid seed inputs). A parse that raises anything else, or takes
longer than `MAX_SECONDS`, is a bug. The committed corpus under tests/fuzz_corpus/<name>/ (hex files) is
replayed through the same targets by test_fuzz_corpus.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from chain.primitives.codec import DecodeError
from chain.primitives.crypto import dev_keypair
from chain.primitives.extrinsic import sign_extrinsic
from chain.primitives.hashing import blake2_256
from chain.primitives.types import Block
from consensus.certificate import CommitCertificate
from consensus.evidence import DuplicateVoteEvidence

CORPUS_DIR = Path(__file__).resolve().parents[1] / "fuzz_corpus"
MAX_SECONDS = 2.0
GENESIS = blake2_256(b"fuzz-genesis")


@dataclass(frozen=True)
class Target:
    parse: Callable[[bytes], object]
    errors: tuple[type[BaseException], ...]
    seeds: Callable[[], list[bytes]]


def _extrinsic_seeds() -> list[bytes]:
    from chain.client import transfer_call

    alice = dev_keypair("Alice")
    signed = sign_extrinsic(
        alice,
        transfer_call(dev_keypair("Bob").public, 10**12),
        nonce=3,
        spec_version=1,
        tx_version=1,
        genesis_hash=GENESIS,
    ).encode()
    from chain.primitives.codec import encode_compact

    unsigned = bytes([0x04, 2, 0]) + bytes(33) + encode_compact(5)
    return [signed, encode_compact(len(unsigned)) + unsigned]


def _runtime_decode(raw: bytes) -> object:
    from runtime.executive import decode_extrinsic

    return decode_extrinsic(raw)


def _runtime_errors() -> tuple[type[BaseException], ...]:
    from runtime.validity import Undecodable

    return (Undecodable,)


def _consensus_decode(raw: bytes) -> object:
    from chain.node.consensus_service import decode_consensus

    return decode_consensus(raw)


def _consensus_seeds() -> list[bytes]:
    from tests.consensus.test_decoders_fuzz import PROPOSAL, VOTE

    return [b"\x00" + PROPOSAL.encode(), b"\x01" + VOTE.encode()]


def _certificate_seeds() -> list[bytes]:
    from tests.consensus.test_decoders_fuzz import CERT

    return [CERT.encode()]


def _evidence_seeds() -> list[bytes]:
    from tests.consensus.test_decoders_fuzz import EVIDENCE

    return [EVIDENCE.encode()]


def _block_seeds() -> list[bytes]:
    from chain.primitives.types import DigestItem, DigestKind, Header

    header = Header(
        GENESIS,
        7,
        blake2_256(b"state"),
        blake2_256(b"xts"),
        (DigestItem(DigestKind.PRE_RUNTIME, bytes(32), b"aura"), DigestItem(DigestKind.OTHER, b"x")),
    )
    return [Block(header, tuple(_extrinsic_seeds())).encode(), Block(header, ()).encode()]


@cache
def _spec():
    from compute_market.jobspec import ConstantSchedule, JobSpec, MlpSpec, SgdSpec

    return JobSpec(
        MlpSpec(4, (3,), 2),
        bytes(32),
        SgdSpec(0.1, 0.0, 0.0),
        ConstantSchedule(),
        batch_size=2,
        steps=4,
        seed=1,
        checkpoint_interval=2,
    )


def _jobspec_decode(raw: bytes) -> object:
    from compute_market.jobspec import JobSpec

    return JobSpec.decode(raw)


def _jobspec_json(raw: bytes) -> object:
    from compute_market.jobspec import JobSpec

    return JobSpec.from_json(raw)


def _jobspec_errors() -> tuple[type[BaseException], ...]:
    from compute_market.jobspec import JobSpecError

    return (JobSpecError,)


def _dataset_seeds() -> list[bytes]:
    from compute_market.worker.datasets import gaussian_blobs

    return [gaussian_blobs(1, 8, 4, 4, 2).to_bytes()]


def _dataset_load(raw: bytes) -> object:
    from compute_market.worker.datasets import load_dataset

    return load_dataset(raw, _spec())


def _dataset_errors() -> tuple[type[BaseException], ...]:
    from compute_market.worker.datasets import DatasetError

    return (DatasetError,)


def _checkpoint_seeds() -> list[bytes]:
    from compute_market.worker.models import build_model
    from compute_market.worker.trainer import build_optimizer, save_checkpoint

    model = build_model(_spec())
    return [save_checkpoint(_spec(), 0, model, build_optimizer(_spec(), model))]


def _checkpoint_load(raw: bytes) -> object:
    from compute_market.worker.models import build_model
    from compute_market.worker.trainer import build_optimizer, load_checkpoint

    model = build_model(_spec())
    return load_checkpoint(_spec(), raw, model, build_optimizer(_spec(), model))


def _checkpoint_errors() -> tuple[type[BaseException], ...]:
    from compute_market.worker.trainer import CheckpointError

    return (CheckpointError,)


def _decode_errors() -> tuple[type[BaseException], ...]:
    return (DecodeError,)


def _extrinsic_decode(raw: bytes) -> object:
    from chain.primitives.extrinsic import UncheckedExtrinsic

    return UncheckedExtrinsic.decode(raw)


_TARGETS: dict[str, tuple[Callable, Callable, Callable]] = {
    "extrinsic": (_extrinsic_decode, _decode_errors, _extrinsic_seeds),
    "runtime_extrinsic": (_runtime_decode, _runtime_errors, _extrinsic_seeds),
    "consensus_message": (_consensus_decode, _decode_errors, _consensus_seeds),
    "certificate": (CommitCertificate.decode, _decode_errors, _certificate_seeds),
    "evidence": (DuplicateVoteEvidence.decode, _decode_errors, _evidence_seeds),
    "block": (Block.decode, _decode_errors, _block_seeds),
    "jobspec_scale": (_jobspec_decode, _jobspec_errors, lambda: [_spec().encode()]),
    "jobspec_json": (_jobspec_json, _jobspec_errors, lambda: [_spec().to_json().encode()]),
    "dataset": (_dataset_load, _dataset_errors, _dataset_seeds),
    "checkpoint": (_checkpoint_load, _checkpoint_errors, _checkpoint_seeds),
}


@cache
def target(name: str) -> Target:
    parse, errors, seeds = _TARGETS[name]
    return Target(parse, errors(), cache(seeds))


TARGET_NAMES = tuple(_TARGETS)


def run_one(name: str, data: bytes) -> BaseException | None:
    """Parse `data`; return the (allowed) error it raised, or None; anything else propagates."""
    t = target(name)
    try:
        t.parse(data)
    except t.errors as e:
        return e
    return None


def corpus(name: str) -> list[tuple[str, bytes]]:
    folder = CORPUS_DIR / name
    return [(p.name, bytes.fromhex(p.read_text().strip())) for p in sorted(folder.glob("*.hex"))]


def save(name: str, label: str, data: bytes) -> Path:
    folder = CORPUS_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{label}.hex"
    path.write_text(data.hex() + "\n")
    return path


__all__ = ["TARGET_NAMES", "run_one", "corpus", "save", "target"]
