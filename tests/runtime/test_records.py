"""Records have one definition: the SCALE layout is derived from the dataclass, and decoding takes exactly
one encoding of every field (never a default for a missing one, never bytes left over)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compute_market.pallet import types as market
from runtime.frame.support import WEIGHT
from runtime.frame.types import U32, U64, U128, Field, Group, Option, Record, RecordDecodeError, Struct
from runtime.pallets import staking, system
from tests.runtime.scale_strategies import values

RECORDS = [
    market.JOB,
    market.SOLVER,
    market.VERIFIER,
    market.DISPUTE,
    staking.LEDGER,
    staking.UNLOCK_CHUNK,
    WEIGHT,
    system.ACCOUNT_INFO,
]
IDS = [r.name for r in RECORDS]


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_record_round_trips(record, data):
    value = data.draw(values(record))
    encoded = record.encode(value)
    assert record.decode_bytes(encoded) == value


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_layout_is_the_dataclass_fields_in_order(record):
    assert [f.name for f in record.flat] == [f.name for f in fields(record.cls)]


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_invalid_short_encoding_is_refused_naming_the_field(record, data):
    encoded = record.encode(data.draw(values(record)))
    cut = data.draw(st.integers(0, len(encoded) - 1), label="cut")
    with pytest.raises(RecordDecodeError, match=rf"^{record.name}\.\w+: "):
        record.decode_bytes(encoded[:cut])


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_invalid_long_encoding_is_refused(record, data):
    encoded = record.encode(data.draw(values(record)))
    extra = data.draw(st.binary(min_size=1, max_size=16), label="extra")
    with pytest.raises(RecordDecodeError, match=f"{len(extra)} bytes left after its last field"):
        record.decode_bytes(encoded + extra)


def test_invalid_field_value_is_refused_naming_the_field():
    solver = market.SOLVER.encode(market.Solver(stake=5))
    with pytest.raises(RecordDecodeError, match=r"Solver\.unbonding_at: invalid Option tag 2"):
        market.SOLVER.decode_bytes(solver[:-1] + b"\x02")


def test_decoded_record_takes_no_default():
    """A field the bytes carry is never replaced by the dataclass default, even where they differ."""
    dispute = market.Dispute(
        id=1,
        job_id=2,
        challenger=bytes(32),
        bond=3,
        segment=0,
        lo=0,
        hi=4,
        phase=market.DisputePhase.REVEAL,
        deadline=9,
        opened_at=1,
        kind=market.DisputeKind.DATASET,
        unavailable=True,
    )
    decoded = market.DISPUTE.decode_bytes(market.DISPUTE.encode(dispute))
    assert decoded.kind is market.DisputeKind.DATASET and decoded.unavailable is True


@dataclass
class _Probe:
    height: Annotated[int, U32, "BlockNumber"]
    parent: Annotated[int | None, Option(U64)] = None


def test_field_type_names_come_from_the_annotation_or_the_descriptor():
    probe = Record("probe::Probe", _Probe)
    assert [(f.name, f.type_name) for f in probe.fields] == [
        ("height", "BlockNumber"),
        ("parent", "Option<u64>"),
    ]
    assert probe.encode(_Probe(7, 1)) == (7).to_bytes(4, "little") + b"\x01" + (1).to_bytes(8, "little")


@dataclass
class _Unannotated:
    height: int


def test_invalid_field_without_a_descriptor_is_refused_at_declaration():
    with pytest.raises(TypeError, match=r"_Unannotated.height: annotate it as Annotated"):
        Record("probe::Unannotated", _Unannotated)


def test_invalid_encode_of_another_type_is_refused():
    with pytest.raises(TypeError, match="Verifier encodes a Verifier, not a dict"):
        market.VERIFIER.encode({"bond": 1})


def test_invalid_struct_whose_fields_differ_from_its_class_is_refused():
    """A hand-declared Struct with a dataclass must list every field of it."""
    with pytest.raises(TypeError, match="are not the fields"):
        Struct("probe::Weight", WEIGHT.fields[:1], cls=WEIGHT.cls)


# AccountInfo: flat in Python, nested `data: AccountData` in metadata, one struct pack on the transfer path.

_ACCOUNT_DATA = Struct(
    "pallet_balances::types::AccountData",
    [
        Field(name, U128, "ExtraFlags" if name == "flags" else "Balance")
        for name in ("free", "reserved", "frozen", "flags")
    ],
    params=[("Balance", U128)],
)
_NESTED_ACCOUNT_INFO = Struct(
    "frame_system::AccountInfo",
    [
        Field("nonce", U32, "Nonce"),
        Field("consumers", U32, "RefCount"),
        Field("providers", U32, "RefCount"),
        Field("sufficients", U32, "RefCount"),
        Field("data", _ACCOUNT_DATA, "AccountData"),
    ],
)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_account_info_bytes_are_substrates_nested_layout(data):
    """The compiled fixed-width codec writes what the generic nested composite writes, and reads it back."""
    info = data.draw(values(system.ACCOUNT_INFO))
    nested = {f: getattr(info, f) for f in ("nonce", "consumers", "providers", "sufficients")}
    nested["data"] = {f: getattr(info, f) for f in ("free", "reserved", "frozen", "flags")}
    encoded = _NESTED_ACCOUNT_INFO.encode(nested)
    assert len(encoded) == 80
    assert system.ACCOUNT_INFO.encode(info) == encoded
    assert system.ACCOUNT_INFO.decode_bytes(encoded) == info


def test_account_info_metadata_nests_the_balances_as_account_data():
    record = system.ACCOUNT_INFO
    assert [(f.name, f.type_name) for f in record.fields] == [
        ("nonce", "Nonce"),
        ("consumers", "RefCount"),
        ("providers", "RefCount"),
        ("sufficients", "RefCount"),
        ("data", "AccountData"),
    ]
    data = record.fields[-1].type
    assert data.path == ("pallet_balances", "types", "AccountData")
    assert [(f.name, f.type_name) for f in data.fields] == [
        ("free", "Balance"),
        ("reserved", "Balance"),
        ("frozen", "Balance"),
        ("flags", "ExtraFlags"),
    ]
    assert [name for name, _ in record.params] == ["Nonce", "AccountData"] and record.params[1][1] is data


@pytest.mark.parametrize(
    ("field", "value"),
    [("nonce", 1 << 32), ("nonce", -1), ("free", 1 << 128), ("free", -1), ("flags", 1 << 200)],
)
def test_invalid_account_info_field_out_of_range_is_refused(field, value):
    info = system.AccountInfo()
    setattr(info, field, value)
    with pytest.raises(ValueError):
        system.ACCOUNT_INFO.encode(info)


@dataclass
class _Scattered:
    a: Annotated[int, U32, Group("g", "probe::G")]
    b: Annotated[int, U32]
    c: Annotated[int, U32, Group("g", "probe::G")]


def test_invalid_group_whose_fields_are_not_consecutive_is_refused_at_declaration():
    with pytest.raises(TypeError, match="group 'g' are not consecutive"):
        Record("probe::Scattered", _Scattered)


@dataclass
class _Empty:
    pass


@dataclass
class _One:
    height: Annotated[int, U32]


def test_records_of_no_field_and_of_one_fixed_field_round_trip():
    empty, one = Record("probe::Empty", _Empty), Record("probe::One", _One)
    assert empty.encode(_Empty()) == b"" and empty.decode_bytes(b"") == _Empty()
    assert one.encode(_One(7)) == (7).to_bytes(4, "little") and one.decode_bytes(one.encode(_One(7))) == _One(
        7
    )
