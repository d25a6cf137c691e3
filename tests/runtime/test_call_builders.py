"""The generated call builders (chain/primitives/calls.py) are exactly what the runtime's calls declare.

The committed module is what `python -m runtime.codegen` writes today, so a call added, renumbered or
re-typed in a pallet fails here until the builders are regenerated; and every builder's output, for
hypothesis-drawn arguments, decodes with the runtime's own `RuntimeCall` decoder to the same call and the
same argument values.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.primitives import calls
from runtime import codegen
from runtime.composition import ALL_PALLETS
from runtime.frame.pallet import RUNTIME_CALL, Call, CallDef
from runtime.frame.types import ScaleType
from tests.runtime.scale_strategies import values

CALLS = [(p, c) for p in ALL_PALLETS for c in sorted(p.calls, key=lambda c: c.index)]
NESTED = st.builds(calls.System.remark, st.binary(max_size=8)) | st.builds(
    calls.Balances.transfer_keep_alive, st.binary(min_size=32, max_size=32), st.integers(0, 2**128 - 1)
)


def test_committed_builders_are_what_the_generator_writes():
    committed = codegen.TARGET.read_text()
    assert committed == codegen.runtime_source(), (
        "chain/primitives/calls.py is stale: run python -m runtime.codegen"
    )


def test_every_pallet_with_calls_has_a_builder_class():
    for pallet in ALL_PALLETS:
        if pallet.calls:
            cls = getattr(calls, pallet.name)
            assert cls.INDEX == pallet.index
            assert {c.name for c in pallet.calls} <= set(vars(cls))


def _strategy(t: ScaleType) -> st.SearchStrategy:
    """Values the builders accept for an argument of descriptor `t`, drawn over the type's whole range."""
    return values(t, nested_call=NESTED, record=lambda struct: getattr(calls, struct.path[-1]))


def _plain(value):
    """A value as plain data, so the builder's inputs and the decoder's outputs compare."""
    if isinstance(value, Call):
        return value.encode()
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if dataclasses.is_dataclass(value):
        return tuple(_plain(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    return value


def _builder(c: CallDef):
    assert c.pallet is not None
    return getattr(getattr(calls, c.pallet.name), c.name)


@pytest.mark.parametrize("pallet,c", CALLS, ids=[f"{p.name}.{c.name}" for p, c in CALLS])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_builder_round_trips_through_the_runtime_decoder(pallet, c, data):
    args = [data.draw(_strategy(a.type), label=a.name) for a in c.args]
    built = _builder(c)(*args)
    assert built[:2] == bytes([pallet.index, c.index])
    decoded = RUNTIME_CALL.decode_bytes(built)
    assert decoded.func is c
    assert _plain(decoded.args) == _plain(args)
    assert decoded.encode() == built


def test_timestamp_builder_matches_the_hand_checked_layout():
    assert calls.Timestamp.set(1_700_000_000_000) == b"\x01\x00" + bytes.fromhex(
        "0b0068e5cf8b01"
    )  # Compact big-integer mode, 6 bytes


def test_transfer_builder_matches_substrate_layout():
    dest = bytes(range(32))
    assert calls.Balances.transfer_keep_alive(dest, 1) == b"\x02\x03\x00" + dest + b"\x04"


@pytest.mark.parametrize(
    "build,message",
    [
        (
            lambda: calls.Balances.transfer_keep_alive(bytes(31), 1),
            "transfer_keep_alive.dest: expected 32 bytes, got 31",
        ),
        (
            lambda: calls.Balances.transfer_keep_alive(bytes(32), -1),
            "transfer_keep_alive.value: -1 is not a Compact",
        ),
        (lambda: calls.Balances.transfer_keep_alive(bytes(32), 2**128), "is not a Compact<u128>"),
        (
            lambda: calls.ComputeMarket.challenge(2**64, 0),
            "challenge.job_id: 18446744073709551616 is not a u64",
        ),
        (lambda: calls.ComputeMarket.respond(0, 1), "respond.agree: 1 is not a bool"),
        (
            lambda: calls.ComputeMarket.attest(0, [(1, True, 2)]),
            "attest.results\\[\\]: expected a tuple of 2",
        ),
        (lambda: calls.ComputeMarket.submit_job("spec", 1), "submit_job.spec: expected bytes, got str"),
        (lambda: calls.Sudo.sudo(b"\x00"), "Sudo.sudo.call: expected the bytes of a built call"),
    ],
)
def test_invalid_argument_is_refused_naming_it(build, message):
    with pytest.raises(calls.CallArgumentError, match=message):
        build()


def test_invalid_argument_kind_stops_the_generator():
    class Opaque(ScaleType):
        type_name = "Opaque"

    with pytest.raises(codegen.UnsupportedArgument, match="Opaque"):
        codegen._Emitter().encoder(Opaque(), "x", "Probe.call.x")
