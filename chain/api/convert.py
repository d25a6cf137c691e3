"""Turning runtime values into JSON-friendly data and reading common storage items for the APIs."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

from chain.primitives.codec import DecodeError, Reader
from chain.primitives.hashing import blake2_128_concat, twox128
from runtime.composition import EVENT_RECORD

ACCOUNT_PREFIX = twox128(b"System") + twox128(b"Account")
EVENTS_KEY = twox128(b"System") + twox128(b"Events")


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


def account_key(account: bytes) -> bytes:
    return ACCOUNT_PREFIX + blake2_128_concat(account)


@dataclasses.dataclass(frozen=True)
class AccountInfo:
    nonce: int = 0
    consumers: int = 0
    providers: int = 0
    sufficients: int = 0
    free: int = 0
    reserved: int = 0
    frozen: int = 0
    flags: int = 0

    @staticmethod
    def decode(raw: bytes | None) -> AccountInfo:
        if raw is None:
            return AccountInfo()
        r = Reader(raw)
        try:
            info = AccountInfo(r.u32(), r.u32(), r.u32(), r.u32(), r.u128(), r.u128(), r.u128(), r.u128())
            r.finish()
        except DecodeError:
            return AccountInfo()
        return info


def read_account(state, account: bytes) -> AccountInfo:
    return AccountInfo.decode(state.get(account_key(account)))


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
