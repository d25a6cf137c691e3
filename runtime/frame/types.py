"""SCALE type descriptors: one declaration serves encoding, decoding and the metadata V14 type registry.

A descriptor (`U32`, `Compact(U128)`, `Vec(AccountId)`, `Struct(path, fields)`, …) knows how to encode a
Python value, decode one from a bounded `Reader`, and describe itself as a scale-info `Type` in a
`PortableRegistry`. Pallets declare storage, call arguments, events and errors with these descriptors, so
what the runtime writes and what clients read from the metadata can never drift apart.

Python values: integers for integer types, `bytes` for byte vectors and fixed arrays of u8, `list` for
sequences, `None`/value for Option, `tuple` for tuples, `dict` (or the `cls` given to `Struct`) for
composites, and `(variant_name, tuple_of_fields)` for enums (a bare name for unit variants).
"""

from __future__ import annotations

import dataclasses
import operator
import struct
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chain.primitives.codec import DecodeError, Reader, encode_compact

MAX_DECODE_ITEMS = 1 << 20


class TypeRegistry:
    """Builds a scale-info PortableRegistry: every descriptor registered once, ids assigned in order.

    Recursive types (a `RuntimeCall` holding a boxed `RuntimeCall` in Sudo) work because an id is reserved
    before the descriptor's definition is computed.
    """

    def __init__(self) -> None:
        self._ids: dict[Any, int] = {}
        self._types: list[bytes | None] = []
        # Composite descriptors are keyed by id(); keeping every registered descriptor alive for the
        # registry's lifetime stops a freed temporary's id from being reused by a different descriptor,
        # which made the metadata (and so `:code` and the genesis hash) depend on garbage collection.
        self._registered: list[ScaleType] = []

    def register(self, t: ScaleType) -> int:
        key = t.registry_key()
        tid = self._ids.get(key)
        if tid is not None:
            return tid
        self._registered.append(t)
        tid = self._ids[key] = len(self._types)
        self._types.append(None)
        self._types[tid] = t.scale_info(self)
        return tid

    def encode(self) -> bytes:
        """`PortableRegistry { types: Vec<PortableType { id: Compact<u32>, ty: Type }> }`."""
        return encode_compact(len(self._types)) + b"".join(
            encode_compact(i) + t for i, t in enumerate(self._types)
        )  # type: ignore[operator]


def _str(s: str) -> bytes:
    b = s.encode()
    return encode_compact(len(b)) + b


def _strs(items: Sequence[str]) -> bytes:
    return encode_compact(len(items)) + b"".join(_str(s) for s in items)


def _opt_str(s: str | None) -> bytes:
    return b"\x00" if s is None else b"\x01" + _str(s)


def scale_info_type(
    path: Sequence[str], params: Sequence[tuple[str, int | None]], type_def: bytes, docs: Sequence[str] = ()
) -> bytes:
    """`Type { path, type_params, type_def, docs }` in portable form."""
    encoded_params = encode_compact(len(params)) + b"".join(
        _str(name) + (b"\x00" if tid is None else b"\x01" + encode_compact(tid)) for name, tid in params
    )
    return _strs(path) + encoded_params + type_def + _strs(docs)


def encode_field(
    reg: TypeRegistry, name: str | None, t: ScaleType, type_name: str | None = None, docs: Sequence[str] = ()
) -> bytes:
    return _opt_str(name) + encode_compact(reg.register(t)) + _opt_str(type_name or t.type_name) + _strs(docs)


class ScaleType:
    """Base descriptor. Subclasses implement encode, decode and scale_info."""

    path: tuple[str, ...] = ()
    type_name: str | None = None

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, r: Reader) -> Any:
        raise NotImplementedError

    def decode_bytes(self, data: bytes) -> Any:
        r = Reader(data)
        value = self.decode(r)
        r.finish()
        return value

    def scale_info(self, reg: TypeRegistry) -> bytes:
        raise NotImplementedError

    def registry_key(self) -> Any:
        return id(self)


class Primitive(ScaleType):
    """Unsigned integers, bool and str: scale-info `TypeDef::Primitive`."""

    _CODES = {"bool": 0, "str": 2, "u8": 3, "u16": 4, "u32": 5, "u64": 6, "u128": 7}

    def __init__(self, name: str, size: int = 0):
        self.name = name
        self.size = size
        self.type_name = name
        self.limit = 1 << (8 * size) if size else 0

    def encode(self, value: Any) -> bytes:
        if self.name == "bool":
            return b"\x01" if value else b"\x00"
        if self.name == "str":
            return _str(value)
        if not 0 <= value < self.limit:
            raise ValueError(f"{value} does not fit {self.name}")
        return value.to_bytes(self.size, "little")

    def decode(self, r: Reader) -> Any:
        if self.name == "bool":
            return r.bool()
        if self.name == "str":
            return r.string()
        return int.from_bytes(r.read(self.size), "little")

    def scale_info(self, reg: TypeRegistry) -> bytes:
        return scale_info_type((), (), b"\x05" + bytes([self._CODES[self.name]]))

    def registry_key(self) -> Any:
        return ("prim", self.name)


U8 = Primitive("u8", 1)
U16 = Primitive("u16", 2)
U32 = Primitive("u32", 4)
U64 = Primitive("u64", 8)
U128 = Primitive("u128", 16)
Bool = Primitive("bool")
Str = Primitive("str")


class Compact(ScaleType):
    def __init__(self, inner: Primitive):
        self.inner = inner
        self.type_name = f"Compact<{inner.name}>"

    def encode(self, value: int) -> bytes:
        if not 0 <= value < self.inner.limit:
            raise ValueError(f"{value} does not fit {self.type_name}")
        return encode_compact(value)

    def decode(self, r: Reader) -> int:
        value = r.compact()
        if value >= self.inner.limit:
            raise DecodeError(f"{value} does not fit {self.type_name}")
        return value

    def scale_info(self, reg: TypeRegistry) -> bytes:
        return scale_info_type((), (), b"\x06" + encode_compact(reg.register(self.inner)))

    def registry_key(self) -> Any:
        return ("compact", self.inner.registry_key())


class Vec(ScaleType):
    def __init__(self, item: ScaleType, max_len: int = MAX_DECODE_ITEMS):
        self.item = item
        self.max_len = max_len
        self.type_name = f"Vec<{item.type_name}>"

    def encode(self, value: Any) -> bytes:
        if self.item is U8:
            return encode_compact(len(value)) + bytes(value)
        return encode_compact(len(value)) + b"".join(self.item.encode(v) for v in value)

    def decode(self, r: Reader) -> Any:
        if self.item is U8:
            return r.bytes_vec(self.max_len)
        return r.vec(self.item.decode, max_len=self.max_len)

    def scale_info(self, reg: TypeRegistry) -> bytes:
        return scale_info_type((), (), b"\x02" + encode_compact(reg.register(self.item)))

    def registry_key(self) -> Any:
        return ("vec", self.item.registry_key())


Bytes = Vec(U8)
Bytes.type_name = "Vec<u8>"


class Array(ScaleType):
    """A fixed-length array; `[u8; N]` is a Python `bytes` of length N."""

    def __init__(self, item: ScaleType, length: int):
        self.item = item
        self.length = length
        self.type_name = f"[{item.type_name}; {length}]"

    def encode(self, value: Any) -> bytes:
        if len(value) != self.length:
            raise ValueError(f"expected {self.length} items, got {len(value)}")
        if self.item is U8:
            return bytes(value)
        return b"".join(self.item.encode(v) for v in value)

    def decode(self, r: Reader) -> Any:
        if self.item is U8:
            return r.read(self.length)
        return [self.item.decode(r) for _ in range(self.length)]

    def scale_info(self, reg: TypeRegistry) -> bytes:
        return scale_info_type(
            (), (), b"\x03" + self.length.to_bytes(4, "little") + encode_compact(reg.register(self.item))
        )

    def registry_key(self) -> Any:
        return ("array", self.item.registry_key(), self.length)


class Tuple(ScaleType):
    def __init__(self, *items: ScaleType):
        self.items = items
        self.type_name = "(" + ", ".join(str(i.type_name) for i in items) + ")"

    def encode(self, value: Any) -> bytes:
        return b"".join(t.encode(v) for t, v in zip(self.items, value, strict=True))

    def decode(self, r: Reader) -> Any:
        return tuple(t.decode(r) for t in self.items)

    def scale_info(self, reg: TypeRegistry) -> bytes:
        ids = [reg.register(t) for t in self.items]
        return scale_info_type(
            (), (), b"\x04" + encode_compact(len(ids)) + b"".join(encode_compact(i) for i in ids)
        )

    def registry_key(self) -> Any:
        return ("tuple", tuple(t.registry_key() for t in self.items))


Unit = Tuple()


@dataclass(frozen=True)
class Field:
    name: str | None
    type: ScaleType
    type_name: str | None = None
    docs: tuple[str, ...] = ()


def _fields(fields: Sequence[Field | tuple]) -> tuple[Field, ...]:
    return tuple(f if isinstance(f, Field) else Field(*f) for f in fields)


class Struct(ScaleType):
    """A composite with a path. Values are dicts, or instances of `cls` (built with keyword fields)."""

    def __init__(
        self,
        path: str,
        fields: Sequence[Field | tuple],
        cls: Callable[..., Any] | None = None,
        params: Sequence[tuple[str, ScaleType | None]] = (),
        docs: Sequence[str] = (),
    ):
        self.path = tuple(path.split("::")) if path else ()
        self.fields = _fields(fields)
        self.cls = cls
        self.params = tuple(params)
        self.docs = tuple(docs)
        self.type_name = self.path[-1] if self.path else None
        if cls is not None and dataclasses.is_dataclass(cls):
            declared = [f.name for f in dataclasses.fields(cls)]
            if declared != [f.name for f in self.fields]:
                raise TypeError(
                    f"{path}: the SCALE fields {[f.name for f in self.fields]} are not the fields "
                    f"{declared} of {cls.__name__} (decoding would fill the rest with defaults)"
                )

    def encode(self, value: Any) -> bytes:
        if len(self.fields) == 1 and self.fields[0].name is None:
            return self.fields[0].type.encode(value)
        if isinstance(value, dict):
            return b"".join(f.type.encode(value[f.name]) for f in self.fields)
        return b"".join(f.type.encode(getattr(value, f.name)) for f in self.fields)

    def decode(self, r: Reader) -> Any:
        if len(self.fields) == 1 and self.fields[0].name is None:
            return self.fields[0].type.decode(r)
        values = {f.name: f.type.decode(r) for f in self.fields}
        return self.cls(**values) if self.cls else values

    def scale_info(self, reg: TypeRegistry) -> bytes:
        params = [(n, None if t is None else reg.register(t)) for n, t in self.params]
        body = encode_compact(len(self.fields)) + b"".join(
            encode_field(reg, f.name, f.type, f.type_name, f.docs) for f in self.fields
        )
        return scale_info_type(self.path, params, b"\x00" + body, self.docs)


class RecordDecodeError(DecodeError):
    """Bytes that are not exactly one encoding of a record: a field is missing or invalid, or bytes are left
    over after the last field (an encoding with more fields than the record has)."""


@dataclass(frozen=True)
class Group:
    """Marks consecutive fields of a `Record` as one nested composite, as metadata shows it.

    A SCALE composite encodes as the concatenation of its fields, so a flat dataclass whose fields
    `free, reserved, frozen, flags` carry the same `Group("data", "pallet_balances::types::AccountData")`
    has exactly the bytes of a record with a nested `data: AccountData`; only the type registry differs.
    This keeps hot records flat (one attribute access, not two) without a second definition of the layout.
    """

    field: str
    path: str
    type_name: str | None = None
    params: tuple[tuple[str, ScaleType | None], ...] = ()


# Fixed-width unsigned integers, as `struct` codes; a u128 is its 16 little-endian bytes.
_FIXED_CODES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "u128": "16s"}


class Record(Struct):
    """The SCALE layout of a dataclass, derived from its field annotations: one definition per record.

    Each field is annotated `Annotated[python type, descriptor, "TypeName"]` (the type name, optional, is
    what metadata shows; it defaults to the descriptor's), optionally with a `Group` that nests it in the
    metadata. Fields are encoded in declaration order. Values are instances of the dataclass; decoding
    fills every field from the bytes, never from a default, and refuses a short encoding, an invalid
    field or trailing bytes with a `RecordDecodeError` naming the field.

    A record made only of fixed-width unsigned integers (u8 to u128) is compiled to one `struct.Struct`,
    so the records on the transfer path (AccountInfo) cost one pack or unpack, not a descriptor per field.
    """

    def __init__(
        self,
        path: str,
        cls: type,
        docs: Sequence[str] = (),
        params: Sequence[tuple[str, ScaleType | Group | None]] = (),
    ):
        """`params` are the type parameters metadata shows; a `Group` given as one stands for its composite."""
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{path}: {cls.__name__} is not a dataclass")
        hints = typing.get_type_hints(cls, include_extras=True)
        flat: list[Field] = []
        groups: list[Group | None] = []
        for f in dataclasses.fields(cls):
            meta = getattr(hints[f.name], "__metadata__", ())
            descriptor = next((m for m in meta if isinstance(m, ScaleType)), None)
            if descriptor is None:
                raise TypeError(
                    f"{cls.__name__}.{f.name}: annotate it as Annotated[<type>, <SCALE descriptor>]"
                )
            type_name = next((m for m in meta if isinstance(m, str)), descriptor.type_name)
            flat.append(Field(f.name, descriptor, type_name))
            groups.append(next((m for m in meta if isinstance(m, Group)), None))
        fields = _nest(cls.__name__, flat, groups)
        by_name = {f.name: f.type for f in fields}
        resolved = [(n, by_name[t.field] if isinstance(t, Group) else t) for n, t in params]
        super().__init__(path, fields, params=resolved, docs=docs)
        self.cls = cls
        self.flat = tuple(flat)
        self.name = cls.__name__
        codes = [_FIXED_CODES.get(f.type.name) if isinstance(f.type, Primitive) else None for f in self.flat]
        fixed = bool(codes) and None not in codes  # a record with no fields takes the generic path
        self._fixed = struct.Struct("<" + "".join(codes)) if fixed else None  # type: ignore[arg-type]
        self._wide = tuple(c == "16s" for c in codes)
        # attrgetter returns a bare value for one name, so wrap that case in a tuple.
        get = operator.attrgetter(*(f.name for f in self.flat)) if fixed else None
        self._values = (lambda v: (get(v),)) if len(self.flat) == 1 else get

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, self.cls):  # type: ignore[arg-type]
            raise TypeError(f"{self.name} encodes a {self.name}, not a {type(value).__name__}")
        if self._fixed is None:
            return b"".join(f.type.encode(getattr(value, f.name)) for f in self.flat)
        try:
            values = self._values(value)  # type: ignore[misc]
            return self._fixed.pack(
                *[v.to_bytes(16, "little") if wide else v for v, wide in zip(values, self._wide, strict=True)]
            )
        except (struct.error, OverflowError) as e:
            raise ValueError(f"{self.name}: a field does not fit its width ({e})") from None

    def decode(self, r: Reader) -> Any:
        if self._fixed is not None and r.remaining >= self._fixed.size:
            return self._from_fixed(r.read(self._fixed.size))
        values = {}
        for f in self.flat:
            try:
                values[f.name] = f.type.decode(r)
            except DecodeError as e:
                raise RecordDecodeError(f"{self.name}.{f.name}: {e}") from None
        return self.cls(**values)  # type: ignore[misc]

    def _from_fixed(self, data: bytes) -> Any:
        raw = self._fixed.unpack(data)  # type: ignore[union-attr]
        return self.cls(  # type: ignore[misc]
            *[int.from_bytes(v, "little") if wide else v for v, wide in zip(raw, self._wide, strict=True)]
        )

    def decode_bytes(self, data: bytes) -> Any:
        if self._fixed is not None and len(data) == self._fixed.size:
            return self._from_fixed(data)
        r = Reader(data)
        value = self.decode(r)
        if r.remaining:
            raise RecordDecodeError(
                f"{self.name}: {r.remaining} bytes left after its last field "
                f"({self.flat[-1].name}); the encoding has fields this record lacks"
            )
        return value


def _nest(record: str, flat: Sequence[Field], groups: Sequence[Group | None]) -> list[Field]:
    """The metadata's fields: each run of fields under one `Group` becomes one nested composite field."""
    fields: list[Field] = []
    seen: set[str] = set()
    i = 0
    while i < len(flat):
        group = groups[i]
        if group is None:
            fields.append(flat[i])
            i += 1
            continue
        if group.field in seen:
            raise TypeError(f"{record}: the fields of group {group.field!r} are not consecutive")
        seen.add(group.field)
        j = i
        while j < len(flat) and groups[j] == group:
            j += 1
        nested = Struct(group.path, flat[i:j], params=group.params)
        fields.append(Field(group.field, nested, group.type_name or nested.type_name))
        i = j
    return fields


@dataclass(frozen=True)
class Variant:
    name: str
    index: int
    fields: tuple[Field, ...] = ()
    docs: tuple[str, ...] = ()


class Enum(ScaleType):
    """A variant type with a path. Values are `(name, (field values…))`, or a bare name for a unit variant."""

    def __init__(
        self,
        path: str,
        variants: Sequence[Variant],
        params: Sequence[tuple[str, ScaleType | None]] = (),
        docs: Sequence[str] = (),
    ):
        self.path = tuple(path.split("::")) if path else ()
        self.params = tuple(params)
        self.docs = tuple(docs)
        self.type_name = self.path[-1] if self.path else None
        self.set_variants(variants)

    def set_variants(self, variants: Sequence[Variant]) -> None:
        self.variants = tuple(variants)
        self.by_name = {v.name: v for v in self.variants}
        self.by_index = {v.index: v for v in self.variants}

    def encode(self, value: Any) -> bytes:
        name, args = (value, ()) if isinstance(value, str) else value
        v = self.by_name[name]
        return bytes([v.index]) + b"".join(f.type.encode(a) for f, a in zip(v.fields, args, strict=True))

    def decode(self, r: Reader) -> Any:
        tag = r.u8()
        v = self.by_index.get(tag)
        if v is None:
            raise DecodeError(f"{'::'.join(self.path)} has no variant {tag}")
        if not v.fields:
            return v.name
        return v.name, tuple(f.type.decode(r) for f in v.fields)

    def scale_info(self, reg: TypeRegistry) -> bytes:
        params = [(n, None if t is None else reg.register(t)) for n, t in self.params]
        body = encode_compact(len(self.variants)) + b"".join(
            _str(v.name)
            + encode_compact(len(v.fields))
            + b"".join(encode_field(reg, f.name, f.type, f.type_name, f.docs) for f in v.fields)
            + bytes([v.index])
            + _strs(v.docs)
            for v in self.variants
        )
        return scale_info_type(self.path, params, b"\x01" + body, self.docs)


class Option(ScaleType):
    def __init__(self, inner: ScaleType):
        self.inner = inner
        self.type_name = f"Option<{inner.type_name}>"

    def encode(self, value: Any) -> bytes:
        return b"\x00" if value is None else b"\x01" + self.inner.encode(value)

    def decode(self, r: Reader) -> Any:
        return r.option(self.inner.decode)

    def scale_info(self, reg: TypeRegistry) -> bytes:
        tid = reg.register(self.inner)
        variants = (
            _str("None")
            + b"\x00"
            + b"\x00"
            + b"\x00"
            + _str("Some")
            + b"\x04"
            + b"\x00"
            + encode_compact(tid)
            + b"\x00"
            + b"\x00"
            + b"\x01"
            + b"\x00"
        )
        return scale_info_type(("Option",), [("T", tid)], b"\x01" + encode_compact(2) + variants)

    def registry_key(self) -> Any:
        return ("option", self.inner.registry_key())


class Fixed32(Struct):
    """A 32-byte newtype (AccountId32, H256) with a fast path that skips the generic composite machinery."""

    def __init__(self, path: str, type_name: str):
        super().__init__(path, [Field(None, Array(U8, 32), "[u8; 32]")])
        self.type_name = type_name

    def encode(self, value: bytes) -> bytes:
        if len(value) != 32:
            raise ValueError(f"{self.type_name} is 32 bytes, got {len(value)}")
        return value

    def decode(self, r: Reader) -> bytes:
        return r.read(32)


AccountId = Fixed32("sp_core::crypto::AccountId32", "AccountId")
H256 = Fixed32("primitive_types::H256", "H256")
Balance = U128
BlockNumber = U32
Perbill = Struct("sp_arithmetic::per_things::Perbill", [Field(None, U32, "u32")])
PERBILL = 1_000_000_000


class MultiAddressType(Enum):
    """`sp_runtime::multiaddress::MultiAddress<AccountId32, ()>`; calls accept only the `Id` variant's value."""

    def __init__(self) -> None:
        super().__init__(
            "sp_runtime::multiaddress::MultiAddress",
            [
                Variant("Id", 0, (Field(None, AccountId, "AccountId"),)),
                Variant("Index", 1, (Field(None, Compact(U32), "AccountIndex"),)),
                Variant("Raw", 2, (Field(None, Bytes, "Vec<u8>"),)),
                Variant("Address32", 3, (Field(None, Array(U8, 32), "[u8; 32]"),)),
                Variant("Address20", 4, (Field(None, Array(U8, 20), "[u8; 20]"),)),
            ],
            params=[("AccountId", AccountId), ("AccountIndex", Unit)],
        )
        self.type_name = "AccountIdLookupOf<T>"

    def encode(self, value: bytes) -> bytes:
        return b"\x00" + AccountId.encode(value)

    def decode(self, r: Reader) -> bytes:
        tag = r.u8()
        if tag == 0 or tag == 3:
            return r.read(32)
        raise DecodeError(f"MultiAddress variant {tag} cannot be looked up on this chain; use Id (0)")


MultiAddress = MultiAddressType()
