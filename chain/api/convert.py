"""Turning runtime values into JSON-friendly data and reading common storage items for the APIs."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

from chain.primitives.codec import Reader
from runtime.composition import EVENT_RECORD
from runtime.frame.storage import externalities
from runtime.pallets.system import Account, AccountInfo


def jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, enum.Enum):
        return value.name
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1 << 53:
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def to_json_text(value: Any) -> str:
    return json.dumps(jsonable(value), separators=(",", ":"))


class CorruptAccount(ValueError):
    """A stored `System.Account` value that does not decode: corrupt state, never reported as an empty account."""

    def __init__(self, account: bytes, raw: bytes, reason: str):
        self.account = account
        self.key = Account.key(account)
        self.raw = raw
        self.reason = reason
        super().__init__(
            f"the stored System.Account of 0x{account.hex()} (key 0x{self.key.hex()}) is corrupt: "
            f"{len(raw)} bytes that do not decode as AccountInfo ({reason})"
        )


def read_account(state, account: bytes) -> AccountInfo:
    """`System.Account` of `account` in `state`, through the runtime's own storage item: its key, its value
    codec and, for an account with no entry, its default. A stored value that does not decode raises
    `CorruptAccount`."""
    with externalities(state):
        try:
            return Account.get(account)
        except ValueError as e:
            raise CorruptAccount(account, state.get(Account.key(account)) or b"", str(e)) from e


def decode_events(raw: bytes | None) -> list[tuple[str, int, str, str, Any, bytes]]:
    """System.Events as (phase, extrinsic index, pallet, event name, fields, raw record bytes)."""
    if not raw:
        return []
    r = Reader(raw)
    count = r.compact()
    out = []
    for _ in range(count):
        start = r.pos
        record = EVENT_RECORD.decode(r)
        out.append((*_split_record(record), raw[start : r.pos]))
    return out


def _split_record(record: Any) -> tuple[str, int, str, str, Any]:
    phase = record["phase"] if isinstance(record, dict) else record[0]
    event = record["event"] if isinstance(record, dict) else record[1]
    if isinstance(phase, tuple):
        phase_name, (index,) = phase[0], phase[1]
    else:
        phase_name, index = phase, 0
    pallet, inner = event
    inner = inner[0] if isinstance(inner, tuple) and len(inner) == 1 else inner
    if isinstance(inner, tuple):
        name, fields = inner[0], inner[1]
    else:
        name, fields = inner, ()
    return phase_name, index, pallet, name, fields
