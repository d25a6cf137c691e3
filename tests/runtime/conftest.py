"""The test runtime (`new_test_ext`): dev chain spec, in-memory state, helpers to call and to build blocks."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from chain.primitives.crypto import dev_keypair
from chain.primitives.extrinsic import Era, sign_extrinsic
from chain.primitives.hashing import twox128
from chain.storage.overlay import Overlay
from runtime.block_builder import author_digest, build_block, execute_block
from runtime.chain_spec import load_chain_spec
from runtime.composition import EVENTS
from runtime.executive import Executive
from runtime.frame.pallet import Call, CallDef, dispatch_transactional, externalities
from runtime.frame.support import Origin, PalletError
from runtime.pallets.balances import TotalIssuance
from runtime.pallets.system import Account
from runtime.pallets.timestamp import Now
from runtime.state import InMemoryChainState

ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE = (
    dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")
)
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
        """Dispatch `fn` as Substrate's test `Pallet::call(origin, ...)`: all or nothing, errors raised.

        `origin` is a keypair or an account id (signed), or `ROOT` or `NONE` spelled out: a bare None is
        refused, since it could mean either.
        """
        if origin is None:
            raise TypeError("pass ROOT or NONE as the origin, not None")
        if isinstance(origin, bytes):
            origin = Origin.signed(origin)
        elif not isinstance(origin, Origin):
            origin = Origin.signed(origin.public)
        with self.ext():
            error = dispatch_transactional(
                Call(fn, args), origin
            )  # the runtime's own all-or-nothing dispatch
        if error is not None:
            raise error

    def events(self) -> list[tuple[str, str, tuple]]:
        return [(e.pallet, e.name, e.args) for _, e in self.executive.env.events]

    def contents(self) -> dict[bytes, bytes]:
        return dict(self.state.iter_prefix(b""))

    def signed(
        self,
        keypair,
        call: bytes,
        nonce: int,
        tip: int = 0,
        era: Era = Era(),
        birth_hash: bytes | None = None,
        spec_version: int | None = None,
        genesis_hash: bytes | None = None,
    ) -> bytes:
        v = self.runtime.version
        return sign_extrinsic(
            keypair,
            call,
            nonce=nonce,
            tip=tip,
            era=era,
            birth_hash=birth_hash,
            spec_version=v.spec_version if spec_version is None else spec_version,
            tx_version=v.transaction_version,
            genesis_hash=self.runtime.genesis_hash if genesis_hash is None else genesis_hash,
        ).encode()

    def produce_block(self, extrinsics=(), author: bytes | None = None, evidence=()):
        """Build, import-check and commit the next block; returns the BuiltBlock."""
        self.now_ms += 2_000
        digest = (author_digest(author),) if author else ()
        built = build_block(
            self.runtime,
            self.chain.backend,
            self.head_hash,
            self.number + 1,
            self.now_ms,
            extrinsics,
            self.chain.root_after,
            digest,
            evidence,
        )
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
def assert_noop(t: TestExt, error: type[BaseException], match: str | None = None):
    """The body must raise `error` (matching `match`), and leave every storage entry (total issuance
    included) and the event list exactly as they were. Yields pytest's ExceptionInfo."""
    before = t.contents()
    events_before = len(t.executive.env.events)
    with pytest.raises(error, match=match) as raised:
        yield raised
    assert t.contents() == before
    assert len(t.executive.env.events) == events_before


def stored_dispatch_errors(t: TestExt) -> list:
    """The error of each `System.ExtrinsicFailed` in the head block's `System.Events`, decoded from storage
    with the metadata's types as a client would: `(pallet index, error index)` for a module error, else the
    `DispatchError` variant's name."""
    records = EVENTS.value.decode_bytes(t.chain.backend.get(EVENTS.prefix))
    errors = []
    for record in records:
        pallet, ((name, args),) = record["event"]
        if (pallet, name) != ("System", "ExtrinsicFailed"):
            continue
        variant, fields = args[0]
        errors.append((fields[0]["index"], fields[0]["error"][0]) if variant == "Module" else variant)
    return errors


BLOCK_BOOKKEEPING = twox128(b"System")  # number, hashes, weights, events: written by every block


def assert_fails_in_block(t: TestExt, signer, call: Call, error: type[PalletError]) -> tuple[int, int]:
    """Include `call` signed by `signer` in a block without an author and check it failed as a call does:
    the block keeps it, its ExtrinsicFailed carries `error`, the fee is withdrawn and burned, the nonce is
    used, and nothing else in the state changes. Returns the stored `(pallet index, error index)`."""
    who = signer.public
    with t.ext():
        account, issuance = Account.get(who), TotalIssuance.get()
    parent = dict(t.chain.backend.entries)
    built = t.produce_block([t.signed(signer, call.encode(), account.nonce)])
    assert built.rejected == []
    ours = [e for phase, e in built.finalized.events if phase == b"\x00" + (1).to_bytes(4, "little")]
    assert [(e.pallet, e.name) for e in ours] == [
        ("Balances", "Withdraw"),
        ("TransactionPayment", "TransactionFeePaid"),
        ("System", "ExtrinsicFailed"),
    ]
    dispatch_error, fee = ours[2].args[0], ours[1].args[1]
    assert type(dispatch_error) is error, dispatch_error
    with t.ext():
        after = Account.get(who)
        assert (after.nonce, after.free, after.reserved) == (
            account.nonce + 1,
            account.free - fee,
            account.reserved,
        )
        assert TotalIssuance.get() == issuance - fee
    changed = {k for k, v in built.finalized.changes.items() if parent.get(k) != v}
    unexpected = {
        k
        for k in changed - {Account.key(who), TotalIssuance.prefix, Now.prefix}
        if k.startswith(Account.prefix) or not k.startswith(BLOCK_BOOKKEEPING)
    }
    assert unexpected == set()
    (stored,) = stored_dispatch_errors(t)
    return stored
