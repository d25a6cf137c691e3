"""Exact balance bookkeeping over a span of blocks of a real chain, read over gRPC only.

A `Snapshot` holds every party's free + reserved balance and Balances.TotalIssuance, all read at one
finalized block. A `Ledger` reads the blocks after one snapshot up to another and collects what the chain
says happened in them: the transaction fees each account paid (`TransactionFeePaid`) and which block author
received them (the `gcbf` PreRuntime digest), the `burned` amounts of `ComputeMarket.Slashed`, and every
signed market extrinsic with its signer and call (the parties' on-chain moves).

With those two, a test asserts a party's balance change exactly: what the documented outcome moves
(`settlement`), minus the fees it paid, plus the fees it received as author; and total issuance moves only by
the burn. No tolerance is needed, because every fee is read from the chain, not estimated.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from chain.client import NodeClient
from chain.primitives.codec import Reader
from chain.primitives.crypto import decode_address
from chain.primitives.hashing import twox128
from chain.primitives.types import DigestItem, DigestKind
from compute_market.pallet.types import MarketEvent
from proto import chain_pb2
from runtime.pallets.session import AURA_ENGINE_ID
from runtime.pallets.transaction_payment import TransactionPaymentEvent

TOTAL_ISSUANCE_KEY = twox128(b"Balances") + twox128(b"TotalIssuance")
TIMESTAMP_NOW_KEY = twox128(b"Timestamp") + twox128(b"Now")
AUTHOR_ENGINE = b"gcbf"


@dataclass(frozen=True)
class Snapshot:
    """Free + reserved of each account, total issuance and chain time, all at one block."""

    block: int
    holdings: dict[bytes, int]
    issuance: int
    now_ms: int

    def delta(self, later: Snapshot, account: bytes) -> int:
        return later.holdings[account] - self.holdings[account]


def _at(number: int) -> chain_pb2.BlockRequest:
    return chain_pb2.BlockRequest(number=number)


def _storage(client: NodeClient, key: bytes, number: int) -> bytes:
    value = client._call(client.chain.GetStorage, chain_pb2.StorageRequest(key=key, at=_at(number)))
    return bytes(value.value) if value.present else b""


def chain_time_ms(client: NodeClient, number: int) -> int:
    raw = _storage(client, TIMESTAMP_NOW_KEY, number)
    return Reader(raw).u64() if raw else 0


def take_snapshot(client: NodeClient, accounts: list[bytes], number: int | None = None) -> Snapshot:
    """Every account's holdings at finalized block `number` (default: the finalized head)."""
    number = client.info().finalized_number if number is None else number
    holdings = {}
    for account in accounts:
        a = client._call(
            client.chain.GetAccount, chain_pb2.AccountRequest(address="0x" + account.hex(), at=_at(number))
        )
        holdings[account] = int(a.free) + int(a.reserved)
    issuance = Reader(_storage(client, TOTAL_ISSUANCE_KEY, number)).u128()
    return Snapshot(number, holdings, issuance, chain_time_ms(client, number))


@dataclass(frozen=True)
class Move:
    """One signed market extrinsic: who sent which call in which block, and whether it succeeded."""

    block: int
    signer: bytes
    call: str
    success: bool


@dataclass
class Ledger:
    """What the blocks `first..last` (inclusive) did to balances, as their events report it."""

    first: int
    last: int
    fees_paid: Counter = field(default_factory=Counter)  # account -> fees it paid
    fees_received: Counter = field(default_factory=Counter)  # block author -> fees paid out to it
    burned: int = 0  # sum of ComputeMarket.Slashed `burned`
    slashes: list[dict] = field(default_factory=list)  # the Slashed events' fields
    moves: list[Move] = field(default_factory=list)
    market_events: list[tuple[int, str, dict]] = field(default_factory=list)  # (block, name, fields)

    @property
    def total_fees(self) -> int:
        return sum(self.fees_paid.values())

    def first_block_of(self, event: str) -> int | None:
        return next((n for n, name, _ in self.market_events if name == event), None)

    def count(self, event: str) -> int:
        return sum(1 for _, name, _ in self.market_events if name == event)


def named_fields(events: type, name: str, fields_json: str) -> dict:
    """An event's positional JSON fields by the names its pallet declares."""
    values = json.loads(fields_json or "[]")
    return {f.name: v for f, v in zip(getattr(events, name).fields, values, strict=True)}


def block_author(header: chain_pb2.Header, authors: list[bytes]) -> bytes | None:
    """The account a block's fees go to: named outright by a `gcbf` digest, or by an Aura slot into the
    validator set `authors` (what the node writes; see runtime.pallets.session)."""
    for raw in header.digest:
        item = DigestItem.decode_from(Reader(bytes(raw)))
        if item.kind is DigestKind.PRE_RUNTIME and item.engine == AUTHOR_ENGINE:
            return item.payload
        if item.kind is DigestKind.PRE_RUNTIME and item.engine == AURA_ENGINE_ID and authors:
            return authors[int.from_bytes(item.payload, "little") % len(authors)]
    return None


def read_ledger(client: NodeClient, first: int, last: int, authors: list[bytes]) -> Ledger:
    """Collect fees, burns, market events and market moves of blocks first..last."""
    ledger = Ledger(first, last)
    for number in range(first, last + 1):
        author = block_author(client.header(number=number), authors)
        signed_market: set[int] = set()
        for e in client.events(number=number).events:
            if e.pallet == "TransactionPayment" and e.name == "TransactionFeePaid":
                fields = named_fields(TransactionPaymentEvent, e.name, e.fields_json)
                fee = int(fields["actual_fee"])
                ledger.fees_paid[decode_address(fields["who"])] += fee
                if author is not None:
                    ledger.fees_received[author] += fee
            elif e.pallet == "ComputeMarket":
                fields = named_fields(MarketEvent, e.name, e.fields_json)
                ledger.market_events.append((number, e.name, fields))
                if e.name == "Slashed":
                    ledger.burned += int(fields["burned"])
                    ledger.slashes.append(fields)
            if e.phase == "ApplyExtrinsic":
                signed_market.add(e.extrinsic_index)
        for index in sorted(signed_market):
            xt = client._call(
                client.chain.GetExtrinsic, chain_pb2.ExtrinsicRequest(block=_at(number), index=index)
            )
            if xt.signed and xt.pallet == "ComputeMarket":
                ledger.moves.append(Move(number, decode_address(xt.signer), xt.call, xt.success))
    return ledger
