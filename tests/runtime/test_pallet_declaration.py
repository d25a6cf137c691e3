"""A pallet's declaration is checked when the runtime is composed: no call index is silently shadowed."""

from __future__ import annotations

import pytest

from runtime.frame.pallet import Pallet, call
from runtime.frame.support import Weight


def _calls(*indices: int):
    out = []
    for n, index in enumerate(indices):
        def fn(ctx) -> None:
            """A call."""
        fn.__name__ = f"call_{n}"
        out.append(call(index=index, weight=Weight(1, 0))(fn))
    return tuple(out)


def test_invalid_duplicate_call_index_is_refused_naming_both_calls():
    pallet = Pallet(name="Probe", calls_path="probe::Call", calls=_calls(0, 1, 1))
    with pytest.raises(ValueError, match="calls call_1 and call_2 share call index 1"):
        pallet.bind(40)
    assert pallet.index == 255 and pallet.call_by_index(1) is None  # nothing half-bound


def test_invalid_call_index_out_of_range_is_refused():
    with pytest.raises(ValueError, match="call index 256 is outside 0..255"):
        Pallet(name="Probe", calls_path="probe::Call", calls=_calls(256)).bind(40)


def test_distinct_call_indices_bind():
    pallet = Pallet(name="Probe", calls_path="probe::Call", calls=_calls(0, 3))
    pallet.bind(40)
    assert pallet.call_by_index(3).name == "call_1" and pallet.index == 40
