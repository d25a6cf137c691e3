"""The declarative training-job spec: what a submitter asks for, in one canonical, hashable form.

A spec names an architecture from a fixed registry (MLP, CNN, transformer classifier, GPT-style causal
decoder) with bounded hyper-parameters, a dataset by the hash
of its safetensors blob, an optimizer (SGD, AdamW, Adam), an LR schedule (constant, cosine, step, linear,
one-cycle), batch size, steps, seed, checkpoint interval, the determinism profile and the training
options (gradient clipping by global norm, label smoothing) and the task (classification, regression
with the squared-error or Huber loss, multi-label classification, causal language modelling). It is data only: nothing a submitter sends
is unpickled or executed. The pallet imports this module, so it stays pure Python (no torch).

Canonical forms
- SCALE (what is hashed and stored on-chain): `u8 version (=1) ++ model ++ [u8; 32] dataset_hash ++
  optimizer ++ schedule ++ u32 batch_size ++ u32 steps ++ u64 seed ++ u32 checkpoint_interval ++
  determinism ++ [training ++ [task]]`. `training` is `u8 options_version (=1) ++ f64 max_grad_norm ++ f64
  label_smoothing`, present exactly when an option is on (not 0.0) or a task follows; `task` (`0
  classification | 1 regression (u8 loss: 0 mse, 1 huber; f64 huber_delta) | 2 multilabel | 3 language_model`) is present
  exactly when it is not classification. Specs without options or task keep the bytes and hash they had
  before either existed, and a later version of the options struct can append fields under a new options
  version. Enums are a u8 tag then their fields in declaration order (see `FIELDS`
  of each class): integers are u32 (the seed u64), integer lists `Vec<u32>`, floats the u64 of their
  IEEE-754 float64 bits (exact, and never -0.0, NaN or infinite), strings (the torch version, the kernel
  set) SCALE strings, booleans one byte. Decoding re-encodes and demands the same bytes, so every spec has
  exactly one encoding and one hash.
- JSON (what people write): an object with exactly the keys of the SCALE form, `kind` naming enum
  variants, `dataset_hash` as 0x-prefixed hex. `training` may be left out, and so may each option in it
  (then off); the canonical JSON has `training`, with both options, exactly when an option is on. `task`
  may be left out (then classification), and is in the canonical JSON exactly when it is not
  classification. The task decides the dataset's `y` tensors, the loss and what `num_classes` counts:
  classes (at least 2), regression targets, or labels. The language_model task and the gpt model go
  together (one needs the other); a gpt's output width is its vocab_size. Label smoothing is for the
  cross-entropy tasks (classification, language_model) only.
  `checkpoint_interval` may be left out: it then defaults to `default_checkpoint_interval(steps)` =
  ceil(steps / 32), so a verifier that replays the pallet's default q = 2 segments redoes about 1/16 of
  the training. Unknown, missing or duplicate keys and wrong types are rejected with the field's path in
  the message; floats round-trip exactly (shortest repr).

`spec_hash = blake2_256(SCALE bytes)`.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from chain.primitives.codec import DecodeError, Reader, encode_bool, encode_compact, encode_str, u8, u32, u64
from chain.primitives.hashing import blake2_256
from compute_market import commitment, cost
from compute_market.exactmath import cos_pi, powi

SPEC_VERSION = 1
MAX_SPEC_BYTES = 4096
MAX_SPEC_JSON_BYTES = 16384
MAX_STEPS = 1_000_000
MAX_BATCH_SIZE = 4096
MAX_PARAMETERS = 20_000_000  # bounds what a referee may be asked to hold and recompute
DEFAULT_SEGMENTS = 32  # segments a run is cut into when the JSON spec leaves checkpoint_interval out
MAX_TORCH_VERSION_LEN = 32
SUPPORTED_TORCH_VERSIONS = ("2.13.0+cpu",)  # the full build string, local tag included
KERNEL_SET = "gradchain-exact"  # compute_market/worker/exact/kernels.c
# Covers the kernels and the state-hash layout (trainer.STATE_MAGIC, BLAKE3). v3: the state layout puts every
# header before all tensor data (hashed in place from one buffer); v2: the GEMM accumulates with explicit
# fused multiply-adds (v1 rounded the product and the sum separately).
KERNELS_VERSION = 3
U64_MAX = (1 << 64) - 1


class JobSpecError(ValueError):
    """A spec that is malformed or out of bounds; `field` is the path of the offending field."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class SpecDecodeError(JobSpecError, DecodeError):
    """Bytes that are not the canonical SCALE encoding of a spec."""


@dataclass(frozen=True, slots=True)
class Field:
    """One schema entry: name, kind (int, u64, ints, float, str, bool) and inclusive bounds."""

    name: str
    kind: str
    lo: float = 0
    hi: float = 0
    lo_open: bool = False  # for floats that must be strictly above `lo` (learning rates, eps)
    hi_open: bool = False  # for floats that must be strictly below `hi` (label smoothing)
    max_len: int = 0  # for `ints`
    choices: tuple[str, ...] = ()  # for `choice`: the names, encoded as the u8 of their index


def _check_int(path: str, value: Any, lo: float, hi: float) -> int:
    if type(value) is not int:
        raise JobSpecError(path, f"expected an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise JobSpecError(path, f"{value} is outside the allowed range {int(lo)}..{int(hi)}")
    return value


def _check_float(path: str, value: Any, f: Field) -> float:
    if type(value) is int and abs(value) <= 1 << 53:
        value = float(value)
    if type(value) is not float:
        raise JobSpecError(path, f"expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise JobSpecError(path, f"{value} is not finite")
    value = value + 0.0  # -0.0 becomes 0.0: one spelling per value
    if value < f.lo or value > f.hi or (f.lo_open and value == f.lo) or (f.hi_open and value == f.hi):
        low, high = "(" if f.lo_open else "[", ")" if f.hi_open else "]"
        raise JobSpecError(path, f"{value!r} is outside the allowed range {low}{f.lo!r}, {f.hi!r}{high}")
    return value


def _check(path: str, f: Field, value: Any) -> Any:
    if f.kind in ("int", "u64"):
        return _check_int(path, value, f.lo, f.hi)
    if f.kind == "float":
        return _check_float(path, value, f)
    if f.kind == "ints":
        if not isinstance(value, list | tuple):
            raise JobSpecError(path, f"expected a list of integers, got {type(value).__name__}")
        if len(value) > f.max_len:
            raise JobSpecError(path, f"{len(value)} entries exceed the maximum of {f.max_len}")
        return tuple(_check_int(f"{path}[{i}]", v, f.lo, f.hi) for i, v in enumerate(value))
    if f.kind == "choice":
        if value not in f.choices or type(value) is not str:
            raise JobSpecError(path, f"{value!r} is not one of {', '.join(f.choices)}")
        return value
    if f.kind == "bool":
        if type(value) is not bool:
            raise JobSpecError(path, f"expected a boolean, got {type(value).__name__}")
        return value
    if type(value) is not str:
        raise JobSpecError(path, f"expected a string, got {type(value).__name__}")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_TORCH_VERSION_LEN:
        raise JobSpecError(path, f"longer than {MAX_TORCH_VERSION_LEN} bytes")
    return value


_ENCODE: dict[str, Callable[[Any], bytes]] = {
    "int": u32,
    "u64": u64,
    "float": lambda v: struct.pack("<d", v),
    "bool": encode_bool,
    "str": encode_str,
    "ints": lambda v: encode_compact(len(v)) + b"".join(u32(x) for x in v),
}
_ENCODE_FIELD: dict[str, Callable[[Field, Any], bytes]] = {"choice": lambda f, v: u8(f.choices.index(v))}
_DECODE: dict[str, Callable[[Reader, Field], Any]] = {
    "int": lambda r, f: r.u32(),
    "u64": lambda r, f: r.u64(),
    "bool": lambda r, f: r.bool(),
    "float": lambda r, f: struct.unpack("<d", r.read(8))[0],
    "str": lambda r, f: r.string(MAX_TORCH_VERSION_LEN),
    "ints": lambda r, f: tuple(r.vec(Reader.u32, min_item_size=4, max_len=f.max_len)),
    "choice": lambda r, f: _decode_choice(r.u8(), f),
}


def _decode_choice(index: int, f: Field) -> str:
    if index >= len(f.choices):
        raise SpecDecodeError(f.name, f"unknown choice {index} (of {len(f.choices)})")
    return f.choices[index]


def _encode_field(f: Field, value: Any) -> bytes:
    return _ENCODE_FIELD[f.kind](f, value) if f.kind in _ENCODE_FIELD else _ENCODE[f.kind](value)


class _Struct:
    """Schema-driven validation and both codecs for the small records a spec is made of."""

    __slots__ = ()
    FIELDS: ClassVar[tuple[Field, ...]] = ()
    KIND: ClassVar[str] = ""
    TAG: ClassVar[int] = 0

    def __post_init__(self) -> None:
        self._validate("")

    def _validate(self, path: str) -> None:
        for f in self.FIELDS:
            object.__setattr__(self, f.name, _check(f"{path}{f.name}", f, getattr(self, f.name)))
        self._check_relations(path)

    def _check_relations(self, path: str) -> None:
        """Constraints between fields; overridden where they exist."""

    def encode(self) -> bytes:
        tag = [u8(self.TAG)] if self.KIND else []
        return b"".join(tag + [_encode_field(f, getattr(self, f.name)) for f in self.FIELDS])

    @classmethod
    def decode_fields(cls, r: Reader, path: str) -> Any:
        return cls._build({f.name: _DECODE[f.kind](r, f) for f in cls.FIELDS}, path)

    @classmethod
    def _build(cls, values: dict[str, Any], path: str) -> Any:
        obj = object.__new__(cls)
        for name, v in values.items():
            object.__setattr__(obj, name, v)
        obj._validate(path)
        return obj

    def to_obj(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"kind": self.KIND} if self.KIND else {}
        for f in self.FIELDS:
            v = getattr(self, f.name)
            obj[f.name] = list(v) if f.kind == "ints" else v
        return obj

    @classmethod
    def from_obj(cls, obj: Any, path: str) -> Any:
        if not isinstance(obj, dict):
            raise JobSpecError(path.rstrip("."), f"expected an object, got {type(obj).__name__}")
        names = {f.name for f in cls.FIELDS} | ({"kind"} if cls.KIND else set())
        _exact_keys(obj, names, path)
        return cls._build({f.name: obj[f.name] for f in cls.FIELDS}, path)


def _exact_keys(obj: dict[str, Any], names: set[str], path: str) -> None:
    unknown = sorted(set(obj) - names)
    if unknown:
        raise JobSpecError(f"{path}{unknown[0]}", "unknown field")
    missing = sorted(names - set(obj))
    if missing:
        raise JobSpecError(f"{path}{missing[0]}", "missing field")


# The model's output width: classes (classification, at least 2: JobSpec checks it), targets (regression)
# or labels (multilabel).
_CLASSES = Field("num_classes", "int", 1, 1000)


@dataclass(frozen=True, slots=True)
class MlpSpec(_Struct):
    """Fully connected ReLU network on flat float32 features [N, input_dim]."""

    input_dim: int
    hidden: tuple[int, ...]
    num_classes: int
    KIND: ClassVar[str] = "mlp"
    TAG: ClassVar[int] = 0
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("input_dim", "int", 1, 65536),
        Field("hidden", "ints", 1, 4096, max_len=8),
        _CLASSES,
    )

    @property
    def parameter_count(self) -> int:
        dims = [self.input_dim, *self.hidden, self.num_classes]
        return sum(a * b + b for a, b in zip(dims, dims[1:], strict=False))


@dataclass(frozen=True, slots=True)
class CnnSpec(_Struct):
    """Conv (same padding) + ReLU + 2x2 max-pool blocks, then one hidden layer, on [N, C, S, S] float32."""

    in_channels: int
    image_size: int
    channels: tuple[int, ...]
    kernel_size: int
    hidden: int
    num_classes: int
    KIND: ClassVar[str] = "cnn"
    TAG: ClassVar[int] = 1
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("in_channels", "int", 1, 4),
        Field("image_size", "int", 4, 64),
        Field("channels", "ints", 1, 256, max_len=4),
        Field("kernel_size", "int", 1, 7),
        Field("hidden", "int", 1, 4096),
        _CLASSES,
    )

    def _check_relations(self, path: str) -> None:
        if not self.channels:
            raise JobSpecError(f"{path}channels", "needs at least one convolution")
        if self.kernel_size % 2 == 0:
            raise JobSpecError(f"{path}kernel_size", f"{self.kernel_size} is even; same padding needs odd")
        if self.image_size % (1 << len(self.channels)):
            raise JobSpecError(
                f"{path}image_size",
                f"{self.image_size} is not divisible by "
                f"2^{len(self.channels)} (one 2x2 pooling per convolution)",
            )

    @property
    def parameter_count(self) -> int:
        total, c_in = 0, self.in_channels
        for c in self.channels:
            total += c_in * c * self.kernel_size**2 + c
            c_in = c
        flat = c_in * (self.image_size >> len(self.channels)) ** 2
        return total + flat * self.hidden + self.hidden + self.hidden * self.num_classes + self.num_classes


@dataclass(frozen=True, slots=True)
class TransformerSpec(_Struct):
    """Pre-norm encoder classifier on int64 token sequences [N, seq_len], mean-pooled."""

    vocab_size: int
    seq_len: int
    d_model: int
    num_heads: int
    num_layers: int
    ff_dim: int
    num_classes: int
    KIND: ClassVar[str] = "transformer"
    TAG: ClassVar[int] = 2
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("vocab_size", "int", 2, 65536),
        Field("seq_len", "int", 1, 512),
        Field("d_model", "int", 4, 1024),
        Field("num_heads", "int", 1, 16),
        Field("num_layers", "int", 1, 8),
        Field("ff_dim", "int", 1, 4096),
        _CLASSES,
    )

    def _check_relations(self, path: str) -> None:
        if self.d_model % self.num_heads:
            raise JobSpecError(
                f"{path}d_model", f"{self.d_model} is not divisible by num_heads={self.num_heads}"
            )

    @property
    def parameter_count(self) -> int:
        d, ff = self.d_model, self.ff_dim
        layer = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * ff + ff) + (ff * d + d)
        return (
            (self.vocab_size + self.seq_len) * d
            + self.num_layers * layer
            + 2 * d
            + d * self.num_classes
            + self.num_classes
        )


@dataclass(frozen=True, slots=True)
class GptSpec(_Struct):
    """Causal decoder language model on int64 token windows [N, seq_len]: token and position embeddings,
    pre-norm blocks whose self-attention sees only earlier positions, a final norm and a head giving the
    next-token logits at every position [N, seq_len, vocab_size]. Its output width (`num_classes`) is the
    vocabulary; it is trained by the language_model task only."""

    vocab_size: int
    seq_len: int
    d_model: int
    num_heads: int
    num_layers: int
    ff_dim: int
    KIND: ClassVar[str] = "gpt"
    TAG: ClassVar[int] = 3
    FIELDS: ClassVar[tuple[Field, ...]] = TransformerSpec.FIELDS[:-1]  # all but num_classes
    _check_relations = TransformerSpec._check_relations

    @property
    def num_classes(self) -> int:
        """The next-token logits per position: one per token of the vocabulary."""
        return self.vocab_size

    parameter_count = TransformerSpec.parameter_count  # the same modules, with num_classes the vocabulary


_LR = Field("lr", "float", 0.0, 10.0, lo_open=True)
_WD = Field("weight_decay", "float", 0.0, 1.0)


@dataclass(frozen=True, slots=True)
class SgdSpec(_Struct):
    lr: float
    momentum: float
    weight_decay: float
    KIND: ClassVar[str] = "sgd"
    TAG: ClassVar[int] = 0
    FIELDS: ClassVar[tuple[Field, ...]] = (_LR, Field("momentum", "float", 0.0, 0.999), _WD)


_ADAM_FIELDS = (
    _LR,
    Field("beta1", "float", 0.0, 0.9999),
    Field("beta2", "float", 0.0, 0.999999),
    Field("eps", "float", 0.0, 1.0, lo_open=True),
    _WD,
)


@dataclass(frozen=True, slots=True)
class AdamWSpec(_Struct):
    """Adam with decoupled weight decay (torch.optim.AdamW): p = p * (1 - lr * wd) before the Adam step."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    KIND: ClassVar[str] = "adamw"
    TAG: ClassVar[int] = 1
    FIELDS: ClassVar[tuple[Field, ...]] = _ADAM_FIELDS


@dataclass(frozen=True, slots=True)
class AdamSpec(_Struct):
    """Adam with coupled L2 weight decay (torch.optim.Adam): g = g + wd * p, then the Adam step."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    KIND: ClassVar[str] = "adam"
    TAG: ClassVar[int] = 2
    FIELDS: ClassVar[tuple[Field, ...]] = _ADAM_FIELDS


@dataclass(frozen=True, slots=True)
class ConstantSchedule(_Struct):
    KIND: ClassVar[str] = "constant"
    TAG: ClassVar[int] = 0


@dataclass(frozen=True, slots=True)
class CosineSchedule(_Struct):
    """Linear warm-up over `warmup_steps`, then cosine decay from lr to lr * min_lr_ratio at step T."""

    min_lr_ratio: float
    warmup_steps: int
    KIND: ClassVar[str] = "cosine"
    TAG: ClassVar[int] = 1
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("min_lr_ratio", "float", 0.0, 1.0),
        Field("warmup_steps", "int", 0, MAX_STEPS),
    )


@dataclass(frozen=True, slots=True)
class StepSchedule(_Struct):
    """lr * gamma ** ((step - 1) // step_size)."""

    step_size: int
    gamma: float
    KIND: ClassVar[str] = "step"
    TAG: ClassVar[int] = 2
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("step_size", "int", 1, MAX_STEPS),
        Field("gamma", "float", 0.0, 1.0, lo_open=True),
    )


@dataclass(frozen=True, slots=True)
class LinearSchedule(_Struct):
    """Linear warm-up over `warmup_steps`, then linear decay from lr to lr * min_lr_ratio at step T."""

    min_lr_ratio: float
    warmup_steps: int
    KIND: ClassVar[str] = "linear"
    TAG: ClassVar[int] = 3
    FIELDS: ClassVar[tuple[Field, ...]] = CosineSchedule.FIELDS


@dataclass(frozen=True, slots=True)
class OneCycleSchedule(_Struct):
    """torch's OneCycleLR (two phases, cosine annealing) with max_lr = the optimizer's lr: from
    lr / div_factor up to lr over the first pct_start of the run, then down to
    lr / (div_factor * final_div_factor) at the last step."""

    pct_start: float
    div_factor: float
    final_div_factor: float
    KIND: ClassVar[str] = "one_cycle"
    TAG: ClassVar[int] = 4
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("pct_start", "float", 0.0, 1.0, lo_open=True, hi_open=True),
        Field("div_factor", "float", 1.0, 1e6),
        Field("final_div_factor", "float", 1.0, 1e9),
    )


@dataclass(frozen=True, slots=True)
class TrainingOptions(_Struct):
    """Options of the step itself, each off at its default (0.0). `max_grad_norm`: clip the gradients to
    this global L2 norm before the optimizer step (torch.nn.utils.clip_grad_norm_); `label_smoothing`: the
    cross-entropy's smoothing eps, loss = (1 - eps) * NLL + eps * mean over classes of -log p."""

    max_grad_norm: float = 0.0
    label_smoothing: float = 0.0
    VERSION: ClassVar[int] = 1  # the u8 that opens its SCALE form
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("max_grad_norm", "float", 0.0, 1e6),
        Field("label_smoothing", "float", 0.0, 1.0, hi_open=True),
    )

    @property
    def is_default(self) -> bool:
        return self == TrainingOptions()

    def encode(self) -> bytes:
        return u8(self.VERSION) + _Struct.encode(self)

    @classmethod
    def from_obj(cls, obj: Any, path: str) -> Any:
        """Each option may be left out of the JSON object (it is then off)."""
        if not isinstance(obj, dict):
            raise JobSpecError(path.rstrip("."), f"expected an object, got {type(obj).__name__}")
        defaults = TrainingOptions()
        _exact_keys({f.name: None for f in cls.FIELDS} | obj, {f.name for f in cls.FIELDS}, path)
        return cls._build({f.name: obj.get(f.name, getattr(defaults, f.name)) for f in cls.FIELDS}, path)

    @classmethod
    def decode(cls, r: Reader) -> TrainingOptions:
        version = r.u8()
        if version != cls.VERSION:
            raise SpecDecodeError(
                "training.version", f"unsupported training options version {version}, expected {cls.VERSION}"
            )
        return cls.decode_fields(r, "training.")


MAX_HUBER_DELTA = 1e6


@dataclass(frozen=True, slots=True)
class ClassificationTask(_Struct):
    """One label per example (y int64 in 0..num_classes-1), softmax cross-entropy over num_classes logits
    (with the spec's label smoothing): every spec written before tasks existed."""

    KIND: ClassVar[str] = "classification"
    TAG: ClassVar[int] = 0


@dataclass(frozen=True, slots=True)
class RegressionTask(_Struct):
    """num_classes float targets per example (y float32 [N, num_classes]); the loss is the mean over every
    output of the squared error (`mse`, torch's F.mse_loss) or the Huber loss with `huber_delta` (`huber`,
    F.huber_loss). `huber_delta` is 0.0 with `mse`; in JSON it may be left out (0.0 with mse, 1.0, torch's
    default, with huber)."""

    loss: str
    huber_delta: float = 0.0
    KIND: ClassVar[str] = "regression"
    TAG: ClassVar[int] = 1
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("loss", "choice", choices=("mse", "huber")),
        Field("huber_delta", "float", 0.0, MAX_HUBER_DELTA),
    )

    def _check_relations(self, path: str) -> None:
        if self.loss == "mse" and self.huber_delta != 0.0:
            raise JobSpecError(f"{path}huber_delta", f"{self.huber_delta!r} is set, but the loss is mse")
        if self.loss == "huber" and self.huber_delta == 0.0:
            raise JobSpecError(
                f"{path}huber_delta", f"the huber loss needs a delta in (0.0, {MAX_HUBER_DELTA!r}]"
            )

    @classmethod
    def from_obj(cls, obj: Any, path: str) -> Any:
        if isinstance(obj, dict) and "huber_delta" not in obj:
            obj = {**obj, "huber_delta": 1.0 if obj.get("loss") == "huber" else 0.0}
        return _Struct.from_obj.__func__(cls, obj, path)


@dataclass(frozen=True, slots=True)
class MultilabelTask(_Struct):
    """Any number of num_classes labels per example (y multi-hot [N, num_classes], float32 or uint8, each
    0 or 1); the loss is the mean over every logit of the binary cross-entropy with logits (torch's
    F.binary_cross_entropy_with_logits)."""

    KIND: ClassVar[str] = "multilabel"
    TAG: ClassVar[int] = 2


@dataclass(frozen=True, slots=True)
class LanguageModelTask(_Struct):
    """Causal language modelling with the gpt model: the dataset is a token stream cut into windows of
    seq_len + 1 tokens (datasets.py), each position predicts the next token, and the loss is the softmax
    cross-entropy (with the spec's label smoothing) averaged over every position of the batch. Held-out
    figures: that loss, its perplexity exp(loss) and the share of next tokens predicted right."""

    KIND: ClassVar[str] = "language_model"
    TAG: ClassVar[int] = 3


@dataclass(frozen=True, slots=True)
class DeterminismProfile(_Struct):
    """What a run's bits depend on: the torch build (its exact version string, build tag included) and the
    exact-mode kernel set and version that compute every floating-point result reaching the state.

    Thread count, CPU vendor and instruction set are deliberately absent: the kernels give the same bits
    for all of them (compute_market/worker/exact). Only the supported combination is accepted.
    """

    torch_version: str = SUPPORTED_TORCH_VERSIONS[0]
    kernels: str = KERNEL_SET
    kernels_version: int = KERNELS_VERSION
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("torch_version", "str"),
        Field("kernels", "str"),
        Field("kernels_version", "int", 1, 1 << 16),
    )

    def _check_relations(self, path: str) -> None:
        if self.torch_version not in SUPPORTED_TORCH_VERSIONS:
            raise JobSpecError(
                f"{path}torch_version",
                f"{self.torch_version!r} is not one of the supported "
                f"versions {', '.join(SUPPORTED_TORCH_VERSIONS)}",
            )
        if self.kernels != KERNEL_SET:
            raise JobSpecError(
                f"{path}kernels", f"{self.kernels!r} is not the supported kernel set {KERNEL_SET!r}"
            )
        if self.kernels_version != KERNELS_VERSION:
            raise JobSpecError(
                f"{path}kernels_version",
                f"{self.kernels_version} is not the supported kernel version {KERNELS_VERSION}",
            )


ModelSpec = MlpSpec | CnnSpec | TransformerSpec | GptSpec
OptimizerSpec = SgdSpec | AdamWSpec | AdamSpec
ScheduleSpec = ConstantSchedule | CosineSchedule | StepSchedule | LinearSchedule | OneCycleSchedule
TaskSpec = ClassificationTask | RegressionTask | MultilabelTask | LanguageModelTask
_VARIANTS: dict[str, tuple[type[_Struct], ...]] = {
    "model": (MlpSpec, CnnSpec, TransformerSpec, GptSpec),
    "optimizer": (SgdSpec, AdamWSpec, AdamSpec),
    "schedule": (ConstantSchedule, CosineSchedule, StepSchedule, LinearSchedule, OneCycleSchedule),
    "task": (ClassificationTask, RegressionTask, MultilabelTask, LanguageModelTask),
}
_STEPS = Field("steps", "int", 1, MAX_STEPS)
_TOP_FIELDS = (
    Field("batch_size", "int", 1, MAX_BATCH_SIZE),
    _STEPS,
    Field("seed", "u64", 0, U64_MAX),
    Field("checkpoint_interval", "int", 1, MAX_STEPS),
)


def default_checkpoint_interval(steps: int) -> int:
    """k = ceil(steps / DEFAULT_SEGMENTS): at most 32 segments, each at least one step."""
    return max(1, -(-steps // DEFAULT_SEGMENTS))


def _variant_from_obj(group: str, obj: Any) -> Any:
    if not isinstance(obj, dict):
        raise JobSpecError(group, f"expected an object, got {type(obj).__name__}")
    kind = obj.get("kind")
    for cls in _VARIANTS[group]:
        if cls.KIND == kind:
            return cls.from_obj(obj, f"{group}.")
    kinds = ", ".join(c.KIND for c in _VARIANTS[group])
    raise JobSpecError(f"{group}.kind", f"{kind!r} is not one of {kinds}")


def _variant_decode(group: str, r: Reader) -> Any:
    tag = r.u8()
    for cls in _VARIANTS[group]:
        if cls.TAG == tag:
            return cls.decode_fields(r, f"{group}.")
    raise SpecDecodeError(f"{group}", f"unknown variant tag {tag}")


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A complete, validated job. Construct it, `decode` it, or `from_json` it; all three validate."""

    model: ModelSpec
    dataset_hash: bytes
    optimizer: OptimizerSpec
    schedule: ScheduleSpec
    batch_size: int
    steps: int
    seed: int
    checkpoint_interval: int
    determinism: DeterminismProfile = DeterminismProfile()
    training: TrainingOptions = TrainingOptions()
    task: TaskSpec = ClassificationTask()

    def __post_init__(self) -> None:
        for group, classes in _VARIANTS.items():
            if not isinstance(getattr(self, group), classes):
                raise JobSpecError(group, f"expected one of {', '.join(c.__name__ for c in classes)}")
        if not isinstance(self.determinism, DeterminismProfile):
            raise JobSpecError("determinism", "expected a DeterminismProfile")
        if not isinstance(self.training, TrainingOptions):
            raise JobSpecError("training", "expected a TrainingOptions")
        if not isinstance(self.dataset_hash, bytes) or len(self.dataset_hash) != 32:
            raise JobSpecError("dataset_hash", "expected 32 bytes")
        for f in _TOP_FIELDS:
            _check(f.name, f, getattr(self, f.name))
        if self.checkpoint_interval > self.steps:
            raise JobSpecError(
                "checkpoint_interval", f"{self.checkpoint_interval} exceeds steps={self.steps}"
            )
        self._check_schedule()
        self._check_task()
        if self.model.parameter_count > MAX_PARAMETERS:
            raise JobSpecError(
                "model", f"{self.model.parameter_count} parameters exceed the cap of {MAX_PARAMETERS}"
            )
        refusal = cost.over_cap(
            cost.model_step_cost(self.model, self.optimizer, self.batch_size, self.training, self.task)
        )
        if refusal:
            raise JobSpecError("model", refusal)

    def _check_schedule(self) -> None:
        sched = self.schedule
        if isinstance(sched, CosineSchedule | LinearSchedule) and sched.warmup_steps > self.steps:
            raise JobSpecError("schedule.warmup_steps", f"{sched.warmup_steps} exceeds steps={self.steps}")
        if isinstance(sched, OneCycleSchedule):
            peak = _one_cycle_peak(sched, self.steps)
            if not 0.0 < peak < self.steps - 1:
                raise JobSpecError(
                    "schedule.pct_start",
                    f"pct_start * steps - 1 = {peak!r} leaves a phase of the cycle empty: it must lie "
                    f"strictly between 0 and steps - 1 = {self.steps - 1}",
                )

    def _check_task(self) -> None:
        language_model = isinstance(self.task, LanguageModelTask)
        if language_model != isinstance(self.model, GptSpec):
            if language_model:
                raise JobSpecError(
                    "model.kind", f"the language_model task trains a gpt model, not a {self.model.KIND}"
                )
            raise JobSpecError(
                "task.kind", f"a gpt model is trained by the language_model task, not {self.task.KIND}"
            )
        if isinstance(self.task, ClassificationTask):
            if self.model.num_classes < 2:
                raise JobSpecError(
                    "model.num_classes", f"{self.model.num_classes} is below 2 for classification"
                )
        elif not language_model and self.training.label_smoothing != 0.0:
            raise JobSpecError(
                "training.label_smoothing",
                f"applies to classification and language_model only, and the task is {self.task.KIND}",
            )

    # --- derived facts the pallet and workers share ---

    @property
    def spec_hash(self) -> bytes:
        return blake2_256(self.encode())

    @property
    def checkpoint_count(self) -> int:
        """ceil(steps / k): checkpoints at k, 2k, ... and at T; the state at 0 follows from the spec."""
        return commitment.checkpoint_count(self.steps, self.checkpoint_interval)

    def learning_rate(self, step: int) -> float:
        """The learning rate used by step `step` (1-based: the step from state step-1 to state step), in
        IEEE-754 double operations only (`exactmath`), so every machine computes the same value."""
        if not 1 <= step <= self.steps:
            raise JobSpecError("step", f"{step} is outside 1..{self.steps}")
        base, t, sched = self.optimizer.lr, step - 1, self.schedule
        if isinstance(sched, CosineSchedule | LinearSchedule):
            if t < sched.warmup_steps:
                return base * (t + 1) / sched.warmup_steps
            progress = (t - sched.warmup_steps) / max(1, self.steps - sched.warmup_steps)
            floor = sched.min_lr_ratio
            if isinstance(sched, CosineSchedule):
                return base * (floor + (1.0 - floor) * 0.5 * (1.0 + cos_pi(progress)))
            return base * (floor + (1.0 - floor) * (1.0 - progress))
        if isinstance(sched, OneCycleSchedule):
            return _one_cycle_lr(sched, base, t, self.steps)
        if isinstance(sched, StepSchedule):
            return base * powi(sched.gamma, t // sched.step_size)
        return base

    # --- SCALE ---

    def encode(self) -> bytes:
        return b"".join(
            (
                u8(SPEC_VERSION),
                self.model.encode(),
                self.dataset_hash,
                self.optimizer.encode(),
                self.schedule.encode(),
                u32(self.batch_size),
                u32(self.steps),
                u64(self.seed),
                u32(self.checkpoint_interval),
                self.determinism.encode(),
                self._tail(),
            )
        )

    def _tail(self) -> bytes:
        """`[training ++ [task]]`: the options when one is on or a task follows, then the task when it is
        not classification, so that every spec written before either existed keeps its bytes."""
        if isinstance(self.task, ClassificationTask):
            return b"" if self.training.is_default else self.training.encode()
        return self.training.encode() + self.task.encode()

    @classmethod
    def decode(cls, data: bytes) -> JobSpec:
        """Parse untrusted bytes; raises only `JobSpecError` (a `SpecDecodeError` for malformed bytes)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise SpecDecodeError("", f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) > MAX_SPEC_BYTES:
            raise SpecDecodeError("", f"{len(data)} bytes exceed the spec cap of {MAX_SPEC_BYTES}")
        try:
            r = Reader(data)
            version = r.u8()
            if version != SPEC_VERSION:
                raise SpecDecodeError(
                    "version", f"unsupported spec version {version}, expected {SPEC_VERSION}"
                )
            model = _variant_decode("model", r)
            dataset_hash = r.read(32)
            optimizer = _variant_decode("optimizer", r)
            schedule = _variant_decode("schedule", r)
            batch_size, steps, seed, interval = r.u32(), r.u32(), r.u64(), r.u32()
            determinism = DeterminismProfile.decode_fields(r, "determinism.")
            training = TrainingOptions.decode(r) if r.remaining else TrainingOptions()
            task = _variant_decode("task", r) if r.remaining else ClassificationTask()
            r.finish()
        except JobSpecError:
            raise
        except DecodeError as e:
            raise SpecDecodeError("", str(e)) from None
        spec = cls(
            model,
            dataset_hash,
            optimizer,
            schedule,
            batch_size,
            steps,
            seed,
            interval,
            determinism,
            training,
            task,
        )
        if spec.encode() != data:
            raise SpecDecodeError(
                "",
                "non-canonical encoding (a float is -0.0, training options that are all off are present "
                "without a task, or the classification task is spelled out)",
            )
        return spec

    # --- JSON ---

    def to_obj(self) -> dict[str, Any]:
        training = {} if self.training.is_default else {"training": self.training.to_obj()}
        task = {} if isinstance(self.task, ClassificationTask) else {"task": self.task.to_obj()}
        return {
            **training,
            **task,
            "version": SPEC_VERSION,
            "model": self.model.to_obj(),
            "dataset_hash": "0x" + self.dataset_hash.hex(),
            "optimizer": self.optimizer.to_obj(),
            "schedule": self.schedule.to_obj(),
            "batch_size": self.batch_size,
            "steps": self.steps,
            "seed": self.seed,
            "checkpoint_interval": self.checkpoint_interval,
            "determinism": self.determinism.to_obj(),
        }

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace, floats in their shortest round-trip form."""
        return json.dumps(self.to_obj(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_obj(cls, obj: Any) -> JobSpec:
        if not isinstance(obj, dict):
            raise JobSpecError("", f"a spec is a JSON object, got {type(obj).__name__}")
        names = {"version", "dataset_hash", "determinism", *_VARIANTS, *(f.name for f in _TOP_FIELDS)}
        if "training" not in obj:
            obj = {**obj, "training": {}}
        if "task" not in obj:
            obj = {**obj, "task": {"kind": ClassificationTask.KIND}}
        names.add("training")
        if "checkpoint_interval" not in obj and "steps" in obj:
            steps = _check("steps", _STEPS, obj["steps"])
            obj = {**obj, "checkpoint_interval": default_checkpoint_interval(steps)}
        _exact_keys(obj, names, "")
        if type(obj["version"]) is not int or obj["version"] != SPEC_VERSION:
            raise JobSpecError(
                "version", f"unsupported spec version {obj['version']!r}, expected {SPEC_VERSION}"
            )
        raw_hash = obj["dataset_hash"]
        if not (
            isinstance(raw_hash, str)
            and len(raw_hash) == 66
            and raw_hash.startswith("0x")
            and all(c in "0123456789abcdefABCDEF" for c in raw_hash[2:])
        ):
            raise JobSpecError("dataset_hash", "expected 0x followed by 64 hex digits")
        top = {f.name: _check(f.name, f, obj[f.name]) for f in _TOP_FIELDS}
        return cls(
            model=_variant_from_obj("model", obj["model"]),
            dataset_hash=bytes.fromhex(raw_hash[2:]),
            optimizer=_variant_from_obj("optimizer", obj["optimizer"]),
            schedule=_variant_from_obj("schedule", obj["schedule"]),
            task=_variant_from_obj("task", obj["task"]),
            determinism=DeterminismProfile.from_obj(obj["determinism"], "determinism."),
            training=TrainingOptions.from_obj(obj["training"], "training."),
            **top,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> JobSpec:
        if isinstance(text, bytes | bytearray):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError:
                raise JobSpecError("", "spec JSON is not valid UTF-8") from None
        if not isinstance(text, str):
            raise JobSpecError("", f"expected JSON text, got {type(text).__name__}")
        if len(text) > MAX_SPEC_JSON_BYTES:
            raise JobSpecError(
                "", f"{len(text)} characters exceed the JSON spec cap of {MAX_SPEC_JSON_BYTES}"
            )
        try:
            obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
        except JobSpecError:
            raise
        except (ValueError, RecursionError) as e:
            raise JobSpecError("", f"invalid JSON: {e}") from None
        return cls.from_obj(obj)


def _one_cycle_peak(sched: OneCycleSchedule, steps: int) -> float:
    """The (0-based, fractional) step at which the cycle peaks, as torch computes it."""
    return sched.pct_start * steps - 1.0


def _one_cycle_lr(sched: OneCycleSchedule, max_lr: float, t: int, steps: int) -> float:
    """torch's OneCycleLR at its step t: in each phase, end + (start - end) / 2 * (cos(pi * pct) + 1)."""
    initial = max_lr / sched.div_factor
    peak = _one_cycle_peak(sched, steps)
    if t <= peak:
        start, end, pct = initial, max_lr, t / peak
    else:
        start, end, pct = max_lr, initial / sched.final_div_factor, (t - peak) / ((steps - 1) - peak)
    return end + (start - end) / 2.0 * (cos_pi(pct) + 1.0)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise JobSpecError(key, "duplicate field")
        obj[key] = value
    return obj


def _no_constants(name: str) -> Any:
    raise JobSpecError("", f"{name} is not a JSON number")
