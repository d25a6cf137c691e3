"""Session: the block authors' accounts, and the Aura slot digest that names a block's author among them.

Substrate clients find a block's author in two places: the `Session.Validators` list in the state of the
block's parent, and a PreRuntime digest of a consensus engine they know. py-substrate-interface's
`get_block(include_author=True)` and @polkadot/api's derived headers both read an Aura digest (engine id
`aura`, a SCALE u64 slot) as `validators[slot % len(validators)]`. So this chain writes one:

- `Validators` holds the account of each active validator, in `Staking.ActiveValidators` order. The
  account is the validator's consensus (session) key, because that is the account the block's fees go to
  (`TransactionPayment.pay_out`); the stash that bonded it is `Staking.ActiveValidators`' first field. It is
  copied from the active set whenever that changes (genesis, epoch boundaries), so in every state it lists
  the set that signs the next block.
- A proposer's header carries `author_digest(parent_state, number, author)`: the slot `number * n + i`,
  where `i` is the author's place among the `n` validators of the parent state. Import refuses any other
  slot (`block_author`), so each author has exactly one digest per block and a block whose slot names one
  validator cannot pay another.

The older PreRuntime digest with engine id `gcbf`, which names the author's account outright, is still
read: a block may carry it alone (tests, blocks built before this digest existed), or beside the Aura
digest, and then both must name the same account. The node writes only the Aura digest, because
py-substrate-interface refuses a header with a PreRuntime digest of an engine it does not know.
"""

from __future__ import annotations

from collections.abc import Sequence

from chain.primitives.codec import DecodeError, Reader
from chain.primitives.types import DigestItem, DigestKind
from runtime.frame.pallet import Pallet
from runtime.frame.storage import StorageValue
from runtime.frame.types import U64, AccountId, Vec
from runtime.pallets import staking
from runtime.pallets.transaction_payment import AUTHOR_ENGINE_ID

AURA_ENGINE_ID = b"aura"

Validators = StorageValue(
    "Session",
    "Validators",
    Vec(AccountId),
    default=[],
    docs="The accounts of the active validators (their consensus keys), which author "
    "blocks and receive their fees.",
)


class AuthorDigestError(DecodeError):
    """A header's author digests do not name one author: a malformed or foreign slot, two digests of one
    kind, or an Aura slot and a `gcbf` digest naming different accounts. Import refuses the block (it is a
    DecodeError so that every import path already treats it as an invalid block)."""


def _authors(state) -> list[bytes]:  # noqa: ANN001 - any object with get(key)
    return [key for key, _stake in staking.validator_set(state)]


def author_digest(parent_state, number: int, author: bytes) -> DigestItem:  # noqa: ANN001 - a state backend
    """The digest a proposer puts in block `number` built on `parent_state`: the Aura slot naming `author`,
    or, for an author outside the parent's validator set (which consensus never asks to propose), the `gcbf`
    digest naming it outright, as before."""
    authors = _authors(parent_state)
    if author not in authors:
        return DigestItem(DigestKind.PRE_RUNTIME, author, AUTHOR_ENGINE_ID)
    slot = number * len(authors) + authors.index(author)
    return DigestItem(DigestKind.PRE_RUNTIME, U64.encode(slot), AURA_ENGINE_ID)


def _one(digest: Sequence[DigestItem], engine: bytes) -> bytes | None:
    found = [item.payload for item in digest if item.kind is DigestKind.PRE_RUNTIME and item.engine == engine]
    if len(found) > 1:
        raise AuthorDigestError(
            f"the header has {len(found)} PreRuntime digests of engine {engine!r}; one at most"
        )
    return found[0] if found else None


def block_author(number: int, digest: Sequence[DigestItem]) -> bytes | None:
    """The account that authored block `number`, from its digests and the validator set of its parent state
    (the state installed, before any `on_initialize` of the block ran); None if no digest names one."""
    named = _one(digest, AUTHOR_ENGINE_ID)
    if named is not None and len(named) != 32:
        raise AuthorDigestError(f"the gcbf author digest holds {len(named)} bytes, not a 32-byte account")
    raw_slot = _one(digest, AURA_ENGINE_ID)
    if raw_slot is None:
        return named
    if len(raw_slot) != 8:
        raise AuthorDigestError(f"the aura digest holds {len(raw_slot)} bytes, not a u64 slot")
    slot = Reader(raw_slot).u64()
    authors = [key for _stash, key, _stake in staking.ActiveValidators.get()]
    if not authors:
        raise AuthorDigestError("the header has an aura slot but the parent state has no validators")
    n = len(authors)
    if slot // n != number:
        raise AuthorDigestError(
            f"aura slot {slot} is not a slot of block {number}: with {n} validators its "
            f"slots are {number * n}..{number * n + n - 1}"
        )
    author = authors[slot % n]
    if named is not None and named != author:
        raise AuthorDigestError(
            f"the aura slot names validator 0x{author.hex()} but the gcbf digest names 0x{named.hex()}"
        )
    return author


def on_initialize(number: int) -> None:
    """Follow the active set, which Staking's own `on_initialize` (run before this one) may just have changed."""
    authors = [key for _stash, key, _stake in staking.ActiveValidators.get()]
    if Validators.get() != authors:
        Validators.put(authors)


def genesis(config: object, spec: dict) -> None:
    """No section of its own: the genesis validators are Staking's (built before this pallet's genesis)."""
    on_initialize(0)


PALLET = Pallet(
    name="Session",
    calls_path="pallet_session::pallet::Call",
    storage=(Validators,),
    on_initialize=on_initialize,
    genesis=genesis,
)
