"""Pallets: calls with fixed indices and weights, events, configs, hooks, and the block environment.

A pallet module declares its calls with `@call(index=…, weight=…)` on plain functions whose parameters
are annotated with SCALE descriptors (the annotations are the argument types for decoding and metadata),
an events class decorated with `@pallet_events`, an errors class decorated with `@pallet_errors`, storage
items and a `Pallet(...)` value that lists them. `runtime.composition` gives each pallet its index, as
`construct_runtime!` does.

While a block executes, `externalities(state, env)` installs the state and the `BlockEnv` (the runtime's
configs, the events recorded so far and the current phase), so calls and pallet helpers reach both without
threading arguments through every function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from chain.primitives.codec import DecodeError, Reader
from runtime.frame import storage
from runtime.frame.support import (
    NONE,
    BadOrigin,
    DispatchClass,
    DispatchError,
    DispatchInfo,
    Origin,
    OriginKind,
    PalletError,
    Pays,
    Weight,
)
from runtime.frame.types import H256, U32, Enum, Field, ScaleType, Struct, Variant, Vec

C = TypeVar("C", bound="PalletConfig")

# --- block environment ----------------------------------------------------------------------------------

PHASE_APPLY, PHASE_FINALIZATION, PHASE_INITIALIZATION = 0, 1, 2


@dataclass
class BlockEnv:
    """Per-block execution context: configs by type, recorded events, phase, and node-registered hooks."""

    configs: dict[type, Any]
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)
    events: list[tuple[bytes, RecordedEvent]] = field(default_factory=list)
    phase: bytes = bytes([PHASE_INITIALIZATION])
    block_number: int = 0
    extrinsic_count: int = 0
    extrinsics_len: int = 0
    weights: list[Weight] = field(default_factory=lambda: [Weight(0), Weight(0), Weight(0)])
    author: bytes | None = None

    def set_phase_apply(self, index: int) -> None:
        self.phase = b"\x00" + index.to_bytes(4, "little")

    def set_phase(self, phase: int) -> None:
        self.phase = bytes([phase])


_ENV: ContextVar[BlockEnv] = ContextVar("gradchain_block_env")


@contextmanager
def externalities(state: storage.State, env: BlockEnv) -> Iterator[None]:
    token = _ENV.set(env)
    try:
        with storage.externalities(state):
            yield
    finally:
        _ENV.reset(token)


def block_env() -> BlockEnv:
    try:
        return _ENV.get()
    except LookupError:
        raise storage.NoExternalities(
            "no block environment installed; use runtime.frame.externalities"
        ) from None


class PalletConfig:
    """Base of the frozen config dataclasses; `current()` returns the running runtime's instance."""

    @classmethod
    def current(cls: type[C]) -> C:
        return block_env().configs[cls]


def deposit_event(event: RecordedEvent) -> None:
    env = _ENV.get()
    env.events.append((env.phase, event))


# --- events ---------------------------------------------------------------------------------------------


class EventVariant:
    """One event of a pallet; calling it with the field values yields a `RecordedEvent`."""

    def __init__(self, fields: tuple[Field, ...], doc: str):
        self.fields = fields
        self.doc = doc
        self.name = ""
        self.index = 0
        self.owner: type[PalletEvent] = PalletEvent

    def __call__(self, *args: Any) -> RecordedEvent:
        if len(args) != len(self.fields):
            raise TypeError(f"{self.name} takes {len(self.fields)} fields, got {len(args)}")
        return RecordedEvent(self, args)

    def __repr__(self) -> str:
        return f"{self.owner.__name__}.{self.name}"


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    variant: EventVariant
    args: tuple

    def encode(self) -> bytes:
        v = self.variant
        return bytes([v.owner.module_index, v.index]) + b"".join(
            f.type.encode(a) for f, a in zip(v.fields, self.args, strict=True)
        )

    @property
    def pallet(self) -> str:
        return self.variant.owner.pallet_name

    @property
    def name(self) -> str:
        return self.variant.name


def event(*fields: tuple[str, ScaleType] | Field, doc: str = "") -> EventVariant:
    return EventVariant(tuple(f if isinstance(f, Field) else Field(f[0], f[1]) for f in fields), doc)


class PalletEvent:
    module_index: ClassVar[int] = 255
    pallet_name: ClassVar[str] = ""
    path: ClassVar[str] = ""
    variants: ClassVar[tuple[EventVariant, ...]] = ()


def pallet_events(path: str):
    """Number a pallet's events in declaration order and bind them to their class."""

    def decorate(cls: type[PalletEvent]) -> type[PalletEvent]:
        variants = []
        for name, v in list(vars(cls).items()):
            if isinstance(v, EventVariant):
                v.name, v.index, v.owner = name, len(variants), cls
                variants.append(v)
        cls.variants = tuple(variants)
        cls.path = path
        return cls

    return decorate


def event_type(cls: type[PalletEvent]) -> Enum:
    """The pallet's `Event` enum (cached on the class, so metadata registers it once)."""
    cached = cls.__dict__.get("_event_type")
    if cached is None:
        cached = Enum(
            cls.path,
            [Variant(v.name, v.index, v.fields, (v.doc,)) for v in cls.variants],
            params=[("T", None)],
        )
        cls._event_type = cached
    return cached


# --- calls ----------------------------------------------------------------------------------------------


@dataclass
class CallContext:
    """What a call sees besides its arguments: its origin and the block it runs in."""

    origin: Origin

    def ensure_signed(self) -> bytes:
        if self.origin.kind is not OriginKind.SIGNED:
            raise BadOrigin(f"this call must be signed; it came from a {self.origin.kind.name} origin")
        return self.origin.who  # type: ignore[return-value]

    def ensure_root(self) -> None:
        if self.origin.kind is not OriginKind.ROOT:
            raise BadOrigin(f"this call needs the root origin; it came from a {self.origin.kind.name} origin")

    def ensure_none(self) -> None:
        if self.origin.kind is not OriginKind.NONE:
            raise BadOrigin(
                "this call is an inherent or unsigned call; a signed or root origin may not make it"
            )

    @property
    def block_number(self) -> int:
        return _ENV.get().block_number

    @staticmethod
    def deposit_event(ev: RecordedEvent) -> None:
        deposit_event(ev)


WeightFn = Callable[..., Weight]


class CallDef:
    """A dispatchable: its index, weight (fixed, or computed from the decoded arguments) and arguments."""

    def __init__(
        self,
        fn: Callable[..., None],
        index: int,
        weight: Weight | WeightFn,
        dispatch_class: DispatchClass,
        pays: Pays,
    ):
        self.fn = fn
        self.index = index
        self.name = fn.__name__
        self.weight = weight
        self.dispatch_class = dispatch_class
        self.pays = pays
        self.pallet: Pallet | None = None
        self.doc = (fn.__doc__ or "").strip()
        self._args: tuple[Field, ...] | None = None

    @property
    def args(self) -> tuple[Field, ...]:
        if self._args is None:
            ann = self.fn.__annotations__
            params = list(self.fn.__code__.co_varnames[1 : self.fn.__code__.co_argcount])
            fields = []
            for p in params:
                t = ann[p]
                if isinstance(t, str):
                    t = eval(t, self.fn.__globals__)  # noqa: S307 - our own annotations, evaluated once
                fields.append(Field(p, t, t.type_name))
            self._args = tuple(fields)
        return self._args

    def info(self, args: tuple) -> DispatchInfo:
        w = self.weight if isinstance(self.weight, Weight) else self.weight(*args)
        return DispatchInfo(w, self.dispatch_class, self.pays)

    def __call__(self, ctx: CallContext, *args: Any) -> None:
        return self.fn(ctx, *args)


def call(
    index: int,
    weight: Weight | WeightFn,
    dispatch_class: DispatchClass = DispatchClass.NORMAL,
    pays: Pays = Pays.YES,
) -> Callable[[Callable[..., None]], CallDef]:
    def decorate(fn: Callable[..., None]) -> CallDef:
        return CallDef(fn, index, weight, dispatch_class, pays)

    return decorate


@dataclass(frozen=True, slots=True)
class Call:
    """A decoded `RuntimeCall`: the pallet's call and its argument values."""

    func: CallDef
    args: tuple

    def encode(self) -> bytes:
        assert self.func.pallet is not None
        return bytes([self.func.pallet.index, self.func.index]) + b"".join(
            f.type.encode(a) for f, a in zip(self.func.args, self.args, strict=True)
        )

    def info(self) -> DispatchInfo:
        return self.func.info(self.args)

    def dispatch(self, origin: Origin = NONE) -> None:
        self.func.fn(CallContext(origin), *self.args)

    @property
    def name(self) -> str:
        assert self.func.pallet is not None
        return f"{self.func.pallet.name}.{self.func.name}"


# --- pallets --------------------------------------------------------------------------------------------

Hook = Callable[[int], Weight | None]


@dataclass
class Constant:
    name: str
    type: ScaleType
    value: Callable[[Any], Any]  # config instance -> value
    doc: str = ""


@dataclass
class Pallet:
    """One pallet's declarations, as listed once in `runtime.composition`."""

    name: str
    calls_path: str = ""
    calls: tuple[CallDef, ...] = ()
    events: type[PalletEvent] | None = None
    errors: type[PalletError] | None = None
    storage: tuple[storage.StorageItem, ...] = ()
    config: type | None = None
    constants: tuple[Constant, ...] = ()
    on_initialize: Hook | None = None
    on_finalize: Hook | None = None
    genesis: Callable[[Any, dict], None] | None = None  # (config, spec section) -> writes storage
    inherent_calls: frozenset[str] = frozenset()
    index: int = 255
    _by_index: dict[int, CallDef] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Two calls with one index would silently shadow the first in dispatch and in the metadata, so a
        pallet declaring them fails when its module is imported."""
        _calls_by_index(self.name, self.calls)

    def bind(self, index: int) -> None:
        """Give the pallet its runtime index (see `compose`)."""
        if not 0 <= index < 256:
            raise CompositionError(f"pallet {self.name}: index {index} is outside 0..255")
        self._by_index = _calls_by_index(self.name, self.calls)
        self.index = index
        for c in self.calls:
            c.pallet = self
        if self.events is not None:
            self.events.module_index = index
            self.events.pallet_name = self.name
        if self.errors is not None:
            self.errors.module_index = index

    def call_by_index(self, index: int) -> CallDef | None:
        return self._by_index.get(index)

    def call_type(self) -> Enum:
        """The pallet's `Call` enum (cached, so metadata registers it once)."""
        cached = self.__dict__.get("_call_type")
        if cached is None:
            cached = self.__dict__["_call_type"] = Enum(
                self.calls_path,
                [Variant(c.name, c.index, c.args, (c.doc,)) for c in self.calls],
                params=[("T", None)],
            )
        return cached


class CompositionError(ValueError):
    """A pallet or a runtime declares two things with one index or name (or an index out of range)."""


def _calls_by_index(pallet: str, calls: tuple[CallDef, ...]) -> dict[int, CallDef]:
    by_index: dict[int, CallDef] = {}
    names: set[str] = set()
    for c in calls:
        if not 0 <= c.index < 256:
            raise CompositionError(f"{pallet}.{c.name}: call index {c.index} is outside 0..255")
        if c.index in by_index:
            raise CompositionError(
                f"{pallet}: calls {by_index[c.index].name} and {c.name} share call index {c.index}"
            )
        if c.name in names:
            raise CompositionError(f"{pallet}: two calls are named {c.name}")
        by_index[c.index] = c
        names.add(c.name)
    return by_index


def compose(entries: list[tuple[int, Pallet]]) -> list[Pallet]:
    """Bind each pallet to its index, as `construct_runtime!` does; two pallets with one index or one name
    (which would make calls, events and storage ambiguous) fail the composition, and so the import."""
    by_index: dict[int, Pallet] = {}
    by_name: dict[str, Pallet] = {}
    for index, pallet in entries:
        if not 0 <= index < 256:
            raise CompositionError(f"pallet {pallet.name}: index {index} is outside 0..255")
        if index in by_index:
            raise CompositionError(
                f"pallets {by_index[index].name} and {pallet.name} share pallet index {index}"
            )
        if pallet.name in by_name:
            raise CompositionError(
                f"two pallets are named {pallet.name} (indices "
                f"{next(i for i, p in entries if p is by_name[pallet.name])} and {index})"
            )
        by_index[index] = by_name[pallet.name] = pallet
    for index, pallet in entries:
        pallet.bind(index)
    return [pallet for _, pallet in entries]


class RuntimeCallType(ScaleType):
    """`<crate>::RuntimeCall`: the outer call enum, variant index = pallet index. Bound at composition."""

    def __init__(self, path: str):
        self.path = tuple(path.split("::"))
        self.type_name = "RuntimeCall"
        self.pallets: dict[int, Pallet] = {}
        self.max_depth = 4

    def encode(self, value: Call) -> bytes:
        return value.encode()

    def decode(self, r: Reader) -> Call:
        pallet = self.pallets.get(r.u8())
        if pallet is None:
            raise DecodeError(f"unknown pallet index {r.data[r.pos - 1]}")
        func = pallet.call_by_index(r.u8())
        if func is None:
            raise DecodeError(f"{pallet.name} has no call with index {r.data[r.pos - 1]}")
        return Call(func, tuple(f.type.decode(r) for f in func.args))

    def scale_info(self, reg):  # noqa: ANN001
        return Enum(
            "::".join(self.path),
            [
                Variant(
                    p.name,
                    i,
                    (
                        Field(
                            None,
                            p.call_type(),
                            f"self::sp_api_hidden_includes_construct_runtime"
                            f"::hidden_include::dispatch::CallableCallFor<{p.name}, Runtime>",
                        ),
                    ),
                )
                for i, p in sorted(self.pallets.items())
                if p.calls
            ],
        ).scale_info(reg)


class BoxedCall(ScaleType):
    """`Box<RuntimeCall>` for Sudo: decoding recursion is capped so a nested call cannot exhaust the stack."""

    def __init__(self, inner: RuntimeCallType, max_depth: int = 4):
        self.inner = inner
        self.type_name = "Box<<T as Config>::RuntimeCall>"
        self.max_depth = max_depth
        self._depth = 0

    def encode(self, value: Call) -> bytes:
        return value.encode()

    def decode(self, r: Reader) -> Call:
        if self._depth >= self.max_depth:
            raise DecodeError(f"calls nested deeper than {self.max_depth} levels")
        self._depth += 1
        try:
            return self.inner.decode(r)
        finally:
            self._depth -= 1

    def registry_key(self) -> Any:
        return self.inner.registry_key()

    def scale_info(self, reg):  # noqa: ANN001
        return self.inner.scale_info(reg)


RUNTIME_CALL = RuntimeCallType("gradchain_runtime::RuntimeCall")
RUNTIME_CALL_BOXED = BoxedCall(RUNTIME_CALL)


def runtime_event_type(pallets: list[Pallet]) -> Enum:
    return Enum(
        "gradchain_runtime::RuntimeEvent",
        [
            Variant(
                p.name,
                p.index,
                (Field(None, event_type(p.events), f"{p.calls_path.split('::')[0]}::Event<Runtime>"),),
            )
            for p in pallets
            if p.events is not None
        ],
    )


def event_record_type(runtime_event: ScaleType) -> Struct:
    phase = Enum(
        "frame_system::Phase",
        [
            Variant("ApplyExtrinsic", 0, (Field(None, U32, "u32"),)),
            Variant("Finalization", 1),
            Variant("Initialization", 2),
        ],
    )
    return Struct(
        "frame_system::EventRecord",
        [
            Field("phase", phase, "Phase"),
            Field("event", runtime_event, "E"),
            Field("topics", Vec(H256), "Vec<T>"),
        ],
        params=[("E", runtime_event), ("T", H256)],
    )


def with_transaction(fn: Callable, *args):
    """Run `fn(*args)` in its own storage transaction, all or nothing: (its result, None), or (None, the
    DispatchError it raised) with its writes and events undone. Anything else is a bug: undone, and raised."""
    state = storage.current_state()
    env = _ENV.get()
    mark = len(env.events)
    state.begin()
    try:
        result = fn(*args)
    except DispatchError as e:
        state.rollback()
        del env.events[mark:]
        return None, e
    except BaseException:
        state.rollback()
        del env.events[mark:]
        raise
    state.commit()
    return result, None


def dispatch_transactional(c: Call, origin: Origin) -> Exception | None:
    """Dispatch `c` in its own storage transaction (`with_transaction`): the DispatchError, or None."""
    return with_transaction(c.func.fn, CallContext(origin), *c.args)[1]


class ResultType(Enum):
    """`Result<(), DispatchError>`: the value is None for Ok, the DispatchError for Err."""

    def __init__(self, ok: ScaleType, err: ScaleType):
        super().__init__(
            "Result",
            [Variant("Ok", 0, (Field(None, ok),)), Variant("Err", 1, (Field(None, err),))],
            params=[("T", ok), ("E", err)],
        )

    def encode(self, value: Any) -> bytes:
        return b"\x00" if value is None else b"\x01" + value.encode()
