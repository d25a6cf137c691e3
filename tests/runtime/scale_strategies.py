"""Hypothesis strategies drawn from SCALE descriptors: values of a descriptor's Python type over its range."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from runtime.frame.pallet import BoxedCall, RuntimeCallType
from runtime.frame.types import (
    Array,
    Compact,
    Enum,
    Fixed32,
    MultiAddressType,
    Option,
    Primitive,
    Record,
    ScaleType,
    Struct,
    Tuple,
    Vec,
)


def values(
    t: ScaleType, nested_call: st.SearchStrategy | None = None, record: Callable[[Struct], type] | None = None
) -> st.SearchStrategy:
    """Values of `t`. `nested_call` draws the bytes of a call for a nested-call argument; `record` names the
    class a composite with named fields is built as (a `Record` is built as its own dataclass)."""

    def draw(t: ScaleType) -> st.SearchStrategy:
        if isinstance(t, MultiAddressType | Fixed32):
            return st.binary(min_size=32, max_size=32)
        if isinstance(t, RuntimeCallType | BoxedCall):
            assert nested_call is not None, "a nested call needs a strategy for its bytes"
            return nested_call
        if isinstance(t, Primitive):
            return {"bool": st.booleans(), "str": st.text(max_size=8)}.get(
                t.name, st.integers(0, t.limit - 1)
            )
        if isinstance(t, Compact):
            return st.integers(0, t.inner.limit - 1)
        if isinstance(t, Vec):
            if isinstance(t.item, Primitive) and t.item.name == "u8":
                return st.binary(max_size=40)
            return st.lists(draw(t.item), max_size=4)
        if isinstance(t, Array):
            return st.binary(min_size=t.length, max_size=t.length)
        if isinstance(t, Tuple):
            return st.tuples(*(draw(i) for i in t.items))
        if isinstance(t, Option):
            return st.none() | draw(t.inner)
        if isinstance(t, Enum) and hasattr(t, "py"):  # a unit enum held as an IntEnum member
            return st.sampled_from(list(t.py))
        if isinstance(t, Struct) and not isinstance(t, Enum):
            if len(t.fields) == 1 and t.fields[0].name is None:
                return draw(t.fields[0].type)
            if isinstance(
                t, Record
            ):  # built flat, as its dataclass is (a Group nests fields only in metadata)
                return st.builds(t.cls, **{f.name: draw(f.type) for f in t.flat})
            cls = record(t) if record else None
            assert cls is not None, f"no class to build {t.type_name} as"
            return st.builds(cls, **{f.name: draw(f.type) for f in t.fields})
        raise AssertionError(f"no strategy for {type(t).__name__} {t.type_name}")

    return draw(t)
