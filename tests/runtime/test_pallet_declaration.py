"""A pallet's declaration is checked when its module is imported, and a runtime's when it is composed:
no call index, call name, pallet index or pallet name is silently shadowed."""

from __future__ import annotations

import pytest

from runtime.frame.pallet import CompositionError, Pallet, call, compose
from runtime.frame.support import Weight


def _calls(*indices: int, names: tuple[str, ...] = ()):
    out = []
    for n, index in enumerate(indices):

        def fn(ctx) -> None:
            """A call."""

        fn.__name__ = names[n] if names else f"call_{n}"
        out.append(call(index=index, weight=Weight(1, 0))(fn))
    return tuple(out)


def _pallet(name: str = "Probe", *indices: int) -> Pallet:
    return Pallet(name=name, calls_path="probe::Call", calls=_calls(*indices))


def test_invalid_duplicate_call_index_is_refused_at_declaration_naming_both_calls():
    with pytest.raises(CompositionError, match="Probe: calls call_1 and call_2 share call index 1"):
        _pallet("Probe", 0, 1, 1)


def test_invalid_duplicate_call_name_is_refused_at_declaration():
    with pytest.raises(CompositionError, match="Probe: two calls are named same"):
        Pallet(name="Probe", calls_path="probe::Call", calls=_calls(0, 1, names=("same", "same")))


def test_invalid_call_index_out_of_range_is_refused():
    with pytest.raises(CompositionError, match="call index 256 is outside 0..255"):
        _pallet("Probe", 256)


def test_distinct_call_indices_bind():
    pallet = _pallet("Probe", 0, 3)
    compose([(40, pallet)])
    assert pallet.call_by_index(3).name == "call_1" and pallet.index == 40


def test_invalid_duplicate_pallet_index_is_refused_and_nothing_is_bound():
    first, second = _pallet("First", 0), _pallet("Second", 0)
    with pytest.raises(CompositionError, match="pallets First and Second share pallet index 7"):
        compose([(7, first), (7, second)])
    assert first.index == 255 and second.index == 255 and first.call_by_index(0) is None


def test_invalid_duplicate_pallet_name_is_refused():
    with pytest.raises(CompositionError, match=r"two pallets are named Probe \(indices 7 and 8\)"):
        compose([(7, _pallet("Probe", 0)), (8, _pallet("Probe", 0))])


def test_invalid_pallet_index_out_of_range_is_refused():
    with pytest.raises(CompositionError, match="pallet Probe: index 256 is outside 0..255"):
        compose([(256, _pallet("Probe", 0))])
