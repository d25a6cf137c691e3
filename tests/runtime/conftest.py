"""The test runtime (`new_test_ext`): dev chain spec, in-memory state, helpers to call and to build blocks."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from chain.primitives.crypto import dev_keypair
from chain.primitives.extrinsic import Era, sign_extrinsic
from chain.storage.overlay import Overlay
from runtime.block_builder import author_digest, build_block, execute_block
from runtime.chain_spec import load_chain_spec
from runtime.executive import Executive
from runtime.frame.pallet import Call, CallDef, externalities
from runtime.frame.support import ROOT, Origin
from runtime.state import InMemoryChainState

ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"))
FRESH = bytes(range(1, 33))  # an account that does not exist in genesis


@dataclass
class TestExt:
    """A chain at some block: `state` is an Overlay inside block `number + 1` for direct pallet calls."""

    spec: object
    runtime: object
    chain: InMemoryChainState
    head_hash: bytes
    number: int = 0
    now_ms: int = 1_700_000_000_000
    state: Overlay = field(init=False)
    executive: Executive = field(init=False)

    def __post_init__(self) -> None:
        self.open_block()

    def open_block(self, author: bytes | None = None) -> None:
        """Start block number+1 on the head state, for direct calls (`call`, `storage`)."""
        self.state = self.chain.overlay()
        self.executive = Executive(self.runtime, self.state)
        digest = (author_digest(author),) if author else ()
        self.executive.initialize_block(self.head_hash, self.number + 1, digest)

    @contextmanager
    def ext(self):
        with externalities(self.state, self.executive.env):
            yield

    def call(self, origin, fn: CallDef, *args) -> None:
        """Dispatch `fn` as Substrate's test `Pallet::call(origin, ...)`: all or nothing, errors raised."""
        if isinstance(origin, bytes):
            origin = Origin.signed(origin)
        elif origin is not None and not isinstance(origin, Origin):
            origin = Origin.signed(origin.public)
        with self.ext():
            self.state.begin()
            mark = len(self.executive.env.events)
            try:
                Call(fn, args).dispatch(origin if origin is not None else ROOT)
            except BaseException:
                self.state.rollback()
                del self.executive.env.events[mark:]
                raise
            self.state.commit()

    def events(self) -> list[tuple[str, str, tuple]]:
        return [(e.pallet, e.name, e.args) for _, e in self.executive.env.events]

    def contents(self) -> dict[bytes, bytes]:
        return dict(self.state.iter_prefix(b""))

    def signed(self, keypair, call: bytes, nonce: int, tip: int = 0, era: Era = Era(),
               birth_hash: bytes | None = None, spec_version: int | None = None, genesis_hash: bytes | None = None) -> bytes:
        v = self.runtime.version
        return sign_extrinsic(keypair, call, nonce=nonce, tip=tip, era=era, birth_hash=birth_hash,
                              spec_version=v.spec_version if spec_version is None else spec_version,
                              tx_version=v.transaction_version,
                              genesis_hash=self.runtime.genesis_hash if genesis_hash is None else genesis_hash).encode()

    def produce_block(self, extrinsics=(), author: bytes | None = None, evidence=()):
        """Build, import-check and commit the next block; returns the BuiltBlock."""
        self.now_ms += 2_000
        digest = (author_digest(author),) if author else ()
        built = build_block(self.runtime, self.chain.backend, self.head_hash, self.number + 1, self.now_ms,
                            extrinsics, self.chain.root_after, digest, evidence)
        execute_block(self.runtime, self.chain.backend, built.block, self.chain.root_after)
        self.chain.commit(built.finalized.changes)
        self.head_hash = built.block.hash
        self.number += 1
        self.open_block()
        return built


def make_ext(chain: str = "dev") -> TestExt:
    spec = load_chain_spec(chain)
    runtime = spec.runtime()
    state = InMemoryChainState(spec.genesis_storage)
    return TestExt(spec, runtime, state, spec.genesis_hash)


@pytest.fixture
def ext() -> TestExt:
    return make_ext()


@contextmanager
def assert_noop(t: TestExt):
    """The body must raise, and leave every storage entry and the event list exactly as they were."""
    before = t.contents()
    events_before = len(t.executive.env.events)
    yield
    assert t.contents() == before
    assert len(t.executive.env.events) == events_before
