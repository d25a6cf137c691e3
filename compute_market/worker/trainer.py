"""Exact-mode training (docs/design.md, section 7): a run whose every step's state hash H[i] anyone can reproduce.

Determinism is portable (compute_market/worker/exact): every floating-point result that reaches the state,
from initialisation through forward, backward, loss and optimizer, is computed by the project's own kernels
in an order fixed by their source, so H[i] is the same on every x86-64 CPU with AVX2, at any thread count,
whatever torch's dispatch level, oneDNN, MKL or the caller's torch settings. The environment is checked
before anything runs (`environment.check`: the exact torch build, the kernel set, the CPU) and the process
settings are pinned before every step. Models hold no buffers and use no dropout; initialisation
(models.py) and data order use integer-only random streams: step s (1-based) trains on positions
(s-1)*B .. s*B-1 of the endless concatenation of per-epoch permutations, epoch e shuffled by
`rng.permutation(rng.stream_key(seed, "epoch", e), N)`. Nothing reads the clock or an unseeded RNG, so a
segment can be replayed from any checkpoint without replaying what came before.

H[i] = `state_hash(i, model, optimizer)`: BLAKE3 (32-byte output) over this byte layout (SCALE primitives):
    b"gradchain/state/v3" ++ u64(step)
    ++ Compact(P) ++ for each parameter, sorted by name: String(name) ++ header
    ++ for each parameter, same order: String(name) ++ Compact(#entries)
         ++ for each optimizer-state entry, sorted by key: String(key) ++ value
    ++ data: the raw little-endian element bytes of every tensor above, in the order their headers came
  header = String(dtype name) ++ Compact(ndim) ++ u64 per dim
  value  = 0x00 ++ header | 0x01 ++ u64 (Python int) | 0x02 ++ f64 bits (Python float)
AdamW's per-parameter `step` is a 0-d float32 tensor and is hashed as one, so no bit of the state escapes.
v3 puts every header before all the data (v2 interleaved each header with its tensor's bytes), so that the
data is one run of bytes: `StateArena` keeps the parameters and the optimizer state in one buffer in that
order, and the hash reads it in place, with no copy.

Cost: hashing reads every state byte each step (12 bytes per parameter with AdamW). BLAKE3 runs at about
8 GB/s on one core here against blake2b's 0.43 GiB/s (measured by bench_trainer), which is why v2 of
the layout switched; for small models and batches the hash still rivals the step itself. `StateHasher` plans
the headers and zero-copy views of the tensors once, so a hash is one `update` over the arena (or over
the joined views, or a run of `update` calls, when the state is not in an arena). With
`background=True` (the default) the hash of state s runs on a second thread while the main thread runs
step s+1's forward and backward passes, which only read the state; the main thread waits for it just
before `optimizer.step()` mutates the state. blake3 releases the GIL on large buffers and the kernels
split no work onto the hashing thread, so H[i] is unchanged and, given a free core, the hash is hidden whenever
it is shorter than forward + backward. `background=False` hashes inline (for one-core machines).

Checkpoints are safetensors blobs (never pickle) holding `param/<name>`, `optim/<name>/<key>`,
`meta/step` (int64), `meta/spec_hash` (uint8[32]) and `meta/profile` (uint8: the SCALE encoding of the
determinism profile the state was computed under); loading validates every name, dtype and shape.
"""

from __future__ import annotations

import hashlib
import math
import struct
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import blake3
import safetensors
import safetensors.torch
import torch
from torch import nn

from chain.primitives.codec import encode_compact, encode_str, u64
from compute_market import cost
from compute_market.commitment import StepCommitment, checkpoint_steps
from compute_market.jobspec import (
    AdamSpec,
    AdamWSpec,
    ClassificationTask,
    DeterminismProfile,
    JobSpec,
    LanguageModelTask,
    MultilabelTask,
    RegressionTask,
    TaskSpec,
)
from compute_market.worker.datasets import Dataset, check_fits_spec
from compute_market.worker.exact import environment, native, ops, rng
from compute_market.worker.exact.optim import ExactAdam, ExactAdamW, ExactSGD, clip_grad_norm
from compute_market.worker.models import build_model

STATE_MAGIC = b"gradchain/state/v3"  # v3: headers, then one run of data; v2 interleaved them; v1 was blake2b
MODEL_MAGIC = b"gradchain/model/v1"
MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024
EVAL_BATCH = 1024


class TrainerError(RuntimeError):
    """Training cannot run as the spec demands (wrong torch, unsupported state)."""


class EnvironmentRefused(TrainerError):
    """This machine or process could compute other bits than the spec's profile: nothing was run."""


class CheckpointError(ValueError):
    """A checkpoint blob that does not describe a valid state of this spec's model and optimizer."""


class StateMismatch(ValueError):
    """A published state whose hash is not the agreed H[s]."""


@dataclass(frozen=True, slots=True)
class StepRecord:
    step: int
    state_hash: bytes | None  # None when hashing is off (the benchmark's baseline)
    checkpoint: bytes | None = None  # the safetensors state at this step, at checkpoint steps


@dataclass
class TrainingResult:
    hashes: list[bytes]
    checkpoints: dict[int, bytes] = field(default_factory=dict)
    root: bytes = b""
    final_model_hash: bytes = b""
    accuracy: float = 0.0  # the held-out score of `evaluate`: accuracy, or minus the MSE for a regression
    metrics: dict[str, float] = field(default_factory=dict)  # `held_out_metrics`, by name


def configure_exact_mode(profile: DeterminismProfile, threads: int = 1) -> None:
    """Check the environment against the spec's determinism profile (refusing with `EnvironmentRefused`)
    and pin the process settings; `threads` is how many threads the kernels split their outputs over."""
    try:
        environment.check(profile)
    except environment.ExactModeRefused as e:
        raise EnvironmentRefused(str(e)) from None
    native.threads.set(threads)
    environment.pin_process()


# --- the state hash ---------------------------------------------------------------------------------


def _tensor_bytes(t: torch.Tensor) -> memoryview:
    array = t.detach().contiguous().numpy()
    if sys.byteorder != "little":
        array = array.byteswap()
    return memoryview(array).cast("B")


def _tensor_header(t: torch.Tensor) -> bytes:
    dtype = str(t.dtype).removeprefix("torch.")
    return encode_str(dtype) + encode_compact(t.dim()) + b"".join(u64(d) for d in t.shape)


def _scalar_bytes(value: object) -> bytes:
    if type(value) is int:
        return b"\x01" + u64(value)
    if type(value) is float:
        return b"\x02" + struct.pack("<d", value)
    raise TrainerError(f"optimizer state value of type {type(value).__name__} has no canonical encoding")


# A state that is not one run of memory (not in a `StateArena`) is copied into one buffer, up to this size,
# and hashed in a single update: blake3 hashes one long buffer faster than the same bytes in dozens of pieces,
# and the copy costs less than the difference; larger states are hashed piece by piece, so the copy never
# adds more than this to a step's memory (the cost model counts it).
JOINED_HASH_LIMIT = cost.HASH_JOIN_MAX_BYTES


class StateHasher:
    """Computes `state_hash` for one model and optimizer with the per-tensor work done once.

    The byte layout is fixed, and every tensor is updated in place by training, so the headers and the
    zero-copy views of the tensors' memory are planned once and reused; the plan is rebuilt whenever an
    optimizer-state entry appears or is replaced (the first step, a checkpoint load, a `StateArena` pack).
    When the tensors lie back to back in one buffer in layout order (an arena), the data is hashed in place
    by one `update`; otherwise their views are joined (states up to JOINED_HASH_LIMIT) or fed one by one.
    blake3 releases the GIL meanwhile.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer):
        self.params = sorted(model.named_parameters())
        self.optimizer = optimizer
        self._identity: tuple[list[int], list[object]] | None = None
        self._headers = b""
        self._data: list[memoryview] = []
        self._run: memoryview | None = None
        self._data_bytes = 0

    def _current_identity(self) -> tuple[list[int], list[object]]:
        """Where each parameter's data lives (an arena rebinds it) and the optimizer-state objects (kept
        referenced, so an `is` comparison cannot be fooled by a reused id; the plan's views keep the old
        parameter memory alive, so neither can an address)."""
        state = self.optimizer.state
        return [p.data_ptr() for _, p in self.params], [
            v for _, p in self.params for _, v in sorted(state.get(p, {}).items())
        ]

    def tensors(self) -> list[torch.Tensor]:
        """The state's tensors in layout order (parameters, then optimizer entries): what an arena holds."""
        out = [p for _, p in self.params]
        for _, p in self.params:
            entries = self.optimizer.state.get(p, {})
            out += [entries[k] for k in sorted(entries) if isinstance(entries[k], torch.Tensor)]
        return out

    def _build_plan(self) -> None:
        headers = [encode_compact(len(self.params))]
        for name, p in self.params:
            headers.append(encode_str(name) + _tensor_header(p))
        for name, p in self.params:
            entries = self.optimizer.state.get(p, {})
            headers.append(encode_str(name) + encode_compact(len(entries)))
            for key in sorted(entries):
                value = entries[key]
                if isinstance(value, torch.Tensor):
                    headers.append(encode_str(key) + b"\x00" + _tensor_header(value))
                else:
                    headers.append(encode_str(key) + _scalar_bytes(value))
        tensors = self.tensors()
        self._headers = b"".join(headers)
        self._data = [_tensor_bytes(t) for t in tensors]
        self._data_bytes = sum(len(v) for v in self._data)
        self._run = _one_run(tensors, self._data_bytes)

    def hash(self, step: int) -> bytes:
        pointers, entries = self._current_identity()
        known = self._identity
        if (
            known is None
            or pointers != known[0]
            or len(entries) != len(known[1])
            or any(a is not b for a, b in zip(entries, known[1], strict=True))
        ):
            self._build_plan()
            self._identity = pointers, entries
            if any(not isinstance(v, torch.Tensor) for v in entries):
                self._identity = None  # Python scalars are values, not views: re-plan every time
        h = blake3.blake3(STATE_MAGIC + u64(step) + self._headers)
        if self._run is not None:
            h.update(self._run)  # the arena, in place
        elif self._data_bytes <= JOINED_HASH_LIMIT:
            h.update(b"".join(self._data))  # the same bytes in one update: ~1.4x faster for a 1 MB state
        else:
            for chunk in self._data:
                h.update(chunk)
        return h.digest()


def _one_run(tensors: list[torch.Tensor], total: int) -> memoryview | None:
    """The bytes of `tensors` as one zero-copy view when they lie back to back in one storage, else None."""
    if not tensors or sys.byteorder != "little":
        return None
    storage = tensors[0].untyped_storage()
    start = expected = tensors[0].data_ptr()
    for t in tensors:
        if (
            t.device.type != "cpu"
            or not t.is_contiguous()
            or t.untyped_storage().data_ptr() != storage.data_ptr()
            or t.data_ptr() != expected
        ):
            return None
        expected += t.numel() * t.element_size()
    view = torch.empty(0, dtype=torch.uint8).set_(storage, start - storage.data_ptr(), (total,), (1,))
    return memoryview(view.numpy()).cast("B")


class StateArena:
    """Moves a model's parameters and its optimizer's state into one float32 buffer, in the state layout's
    order, so that `StateHasher` hashes them in place. Only where the tensors live changes, never a value:
    the parameters are rebound (`p.data`) and the optimizer's entries replaced by views of the buffer.

    Packing must run on the training thread, between steps: never while a hash or a forward pass reads the
    state. It holds the old tensors and the buffer at once, the same peak as joining the state for a hash,
    so it packs only states up to JOINED_HASH_LIMIT (which the cost model counts); a larger state, or one
    with a tensor that is not float32, stays where it is and is hashed piece by piece. `pack` does nothing
    when the state is already packed."""

    def __init__(self, hasher: StateHasher):
        self.hasher = hasher
        self.buffer: torch.Tensor | None = None
        self._packed: list[int] = []

    def pack(self) -> bool:
        """Pack the state if it changed since the last pack; true if it did."""
        tensors = self.hasher.tensors()
        identity = [id(t) for t in tensors] + [t.data_ptr() for t in tensors]
        if identity == self._packed:
            return False
        if any(t.dtype != torch.float32 or t.device.type != "cpu" for t in tensors):
            return False
        if sum(t.numel() * t.element_size() for t in tensors) > JOINED_HASH_LIMIT:
            return False
        buffer = torch.empty(sum(t.numel() for t in tensors), dtype=torch.float32)
        offset, views = 0, []
        with torch.no_grad():
            for t in tensors:
                view = buffer[offset : offset + t.numel()].view(t.shape)
                view.copy_(t)
                views.append(view)
                offset += t.numel()
        params = self.hasher.params
        for (_, p), view in zip(params, views[: len(params)], strict=True):
            p.data = view
        rest = iter(views[len(params) :])
        for _, p in params:
            entries = self.hasher.optimizer.state.get(p, {})
            for key in sorted(entries):
                if isinstance(entries[key], torch.Tensor):
                    entries[key] = next(rest)
        self.buffer = buffer
        tensors = self.hasher.tensors()
        self._packed = [id(t) for t in tensors] + [t.data_ptr() for t in tensors]
        return True


def state_hash(step: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> bytes:
    """H[step]: the hash of parameters, optimizer state and step counter (layout in the module docstring)."""
    return StateHasher(model, optimizer).hash(step)


def model_hash(model: nn.Module) -> bytes:
    """The final model's hash (committed on-chain): the parameter part of the state layout only."""
    h = hashlib.blake2b(digest_size=32)
    params = sorted(model.named_parameters())
    h.update(MODEL_MAGIC + encode_compact(len(params)))
    for name, p in params:
        h.update(encode_str(name) + _tensor_header(p))
        h.update(_tensor_bytes(p))
    return h.digest()


# --- optimizer, data order, evaluation --------------------------------------------------------------


def build_optimizer(spec: JobSpec, model: nn.Module) -> torch.optim.Optimizer:
    """The spec's optimizer (exact-mode kernels) over parameters in sorted name order."""
    params = [p for _, p in sorted(model.named_parameters())]
    o = spec.optimizer
    if isinstance(o, AdamWSpec | AdamSpec):
        adam = ExactAdamW if isinstance(o, AdamWSpec) else ExactAdam
        return adam(params, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps, weight_decay=o.weight_decay)
    return ExactSGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


class DataOrder:
    """The training example indices of each step, a pure function of (seed, step, N, B)."""

    def __init__(self, seed: int, n_train: int, batch_size: int):
        self.seed, self.n, self.batch = seed, n_train, batch_size
        self._epochs: dict[int, torch.Tensor] = {}

    def _epoch(self, e: int) -> torch.Tensor:
        if e not in self._epochs:
            if len(self._epochs) > 2:
                self._epochs.pop(min(self._epochs))
            key = rng.stream_key(self.seed, "epoch", e)
            self._epochs[e] = torch.from_numpy(rng.permutation(key, self.n))
        return self._epochs[e]

    def indices(self, step: int) -> torch.Tensor:
        start, end = (step - 1) * self.batch, step * self.batch
        parts = []
        for e in range(start // self.n, (end - 1) // self.n + 1):
            lo, hi = max(start - e * self.n, 0), min(end - e * self.n, self.n)
            parts.append(self._epoch(e)[lo:hi])
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def task_targets(task: TaskSpec, y: torch.Tensor) -> torch.Tensor:
    """A batch of the dataset's y as the task's loss takes it: labels as they are, targets as float32 (a
    uint8 multi-hot batch converted, exactly)."""
    return y if isinstance(task, ClassificationTask | LanguageModelTask) else y.to(torch.float32)


def task_loss(
    task: TaskSpec, outputs: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """The exact-mode loss of `task` over a batch (docs/exact-mode.md, "Tasks"): cross-entropy with
    `label_smoothing` (classification; language_model over every position's next token), the squared error or the Huber loss (regression), the binary
    cross-entropy with logits (multilabel); each the float32 mean over the batch's rows and outputs."""
    targets = task_targets(task, y)
    if isinstance(task, RegressionTask):
        if task.loss == "huber":
            return ops.huber_loss(outputs, targets, task.huber_delta)
        return ops.mse_loss(outputs, targets)
    if isinstance(task, MultilabelTask):
        return ops.binary_cross_entropy_with_logits(outputs, targets)
    if isinstance(task, LanguageModelTask):  # every position's next token: [N, T, V] logits, [N, T] tokens
        return ops.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1), label_smoothing)
    return ops.cross_entropy(outputs, targets, label_smoothing)


@torch.no_grad()
def held_out_metrics(model: nn.Module, dataset: Dataset, task: TaskSpec | None = None) -> dict[str, float]:
    """Figures on the held-out split, for display (never committed), by task (none: classification):
    `accuracy` (the share of examples whose first maximal logit is the label); for multilabel `accuracy`
    (the share of (example, label) pairs whose logit's sign, > 0 for 1, is the label) and `exact_match`
    (the share of examples with every label right); for regression `mse` and `mae` (means over every
    target, in float64); for language_model `loss` (the mean next-token cross-entropy), `perplexity`
    (exp of it) and `accuracy` (the share of positions whose first maximal logit is the next token)."""
    task = ClassificationTask() if task is None else task
    n = dataset.x_test.shape[0]
    sums = {"hits": 0.0, "exact": 0.0, "squared": 0.0, "absolute": 0.0, "nll": 0.0}
    for i in range(0, n, EVAL_BATCH):
        outputs = model(dataset.x_test[i : i + EVAL_BATCH])
        y = dataset.y_test[i : i + EVAL_BATCH]
        if isinstance(task, LanguageModelTask):
            sums["hits"] += int((outputs.argmax(dim=-1) == y).sum())
            sums["nll"] += float(task_loss(task, outputs, y)) * y.numel()
        elif isinstance(task, ClassificationTask):
            sums["hits"] += int((outputs.argmax(dim=1) == y).sum())
        elif isinstance(task, MultilabelTask):
            right = (outputs > 0) == (y != 0)
            sums["hits"] += int(right.sum())
            sums["exact"] += int(right.all(dim=1).sum())
        else:
            error = outputs.double() - y.double()
            sums["squared"] += float((error * error).sum())
            sums["absolute"] += float(error.abs().sum())
    outputs_per_example = 1 if dataset.y_test.dim() == 1 else dataset.y_test.shape[1]
    if isinstance(task, LanguageModelTask):
        loss = sums["nll"] / (n * outputs_per_example)
        return {
            "accuracy": sums["hits"] / (n * outputs_per_example),
            "loss": loss,
            "perplexity": math.exp(loss),
        }
    if isinstance(task, ClassificationTask):
        return {"accuracy": sums["hits"] / n}
    if isinstance(task, MultilabelTask):
        return {"accuracy": sums["hits"] / (n * outputs_per_example), "exact_match": sums["exact"] / n}
    count = n * outputs_per_example
    return {"mse": sums["squared"] / count, "mae": sums["absolute"] / count}


def evaluate(model: nn.Module, dataset: Dataset, task: TaskSpec | None = None) -> float:
    """The held-out score, higher is better: the accuracy of `held_out_metrics` for classification (task
    None) and multilabel, minus the mean squared error for regression."""
    return score(held_out_metrics(model, dataset, task))


def score(metrics: dict[str, float]) -> float:
    """The one figure of `held_out_metrics` that `evaluate` returns."""
    return metrics["accuracy"] if "accuracy" in metrics else -metrics["mse"]


# --- checkpoints ------------------------------------------------------------------------------------


def save_checkpoint(spec: JobSpec, step: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> bytes:
    tensors = {
        "meta/step": torch.tensor(step, dtype=torch.int64),
        "meta/spec_hash": torch.frombuffer(bytearray(spec.spec_hash), dtype=torch.uint8),
        "meta/profile": torch.frombuffer(bytearray(spec.determinism.encode()), dtype=torch.uint8),
    }
    for name, p in model.named_parameters():
        tensors[f"param/{name}"] = p.detach()
        for key, value in optimizer.state.get(p, {}).items():
            if not isinstance(value, torch.Tensor):
                raise TrainerError(f"optimizer state {name}/{key} is not a tensor and cannot be checkpointed")
            tensors[f"optim/{name}/{key}"] = value
    return safetensors.torch.save(tensors)


def _expected_optim_entries(spec: JobSpec, step: int) -> set[str]:
    if step == 0:
        return set()
    if isinstance(spec.optimizer, AdamWSpec | AdamSpec):
        return {"step", "exp_avg", "exp_avg_sq"}
    return {"momentum_buffer"} if spec.optimizer.momentum != 0 else set()


def load_checkpoint(spec: JobSpec, blob: bytes, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Validate an untrusted checkpoint and load it into a fresh model and optimizer; returns its step."""
    if not isinstance(blob, bytes) or len(blob) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"a checkpoint is at most {MAX_CHECKPOINT_BYTES} bytes of safetensors")
    try:
        tensors = safetensors.torch.load(blob)
    except (safetensors.SafetensorError, ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"not a valid safetensors checkpoint: {e}") from None
    step_t, hash_t = tensors.pop("meta/step", None), tensors.pop("meta/spec_hash", None)
    profile_t = tensors.pop("meta/profile", None)
    if step_t is None or step_t.dtype != torch.int64 or step_t.dim() != 0:
        raise CheckpointError("meta/step must be a 0-d int64 tensor")
    if hash_t is None or hash_t.dtype != torch.uint8 or bytes(hash_t.tolist()) != spec.spec_hash:
        raise CheckpointError("meta/spec_hash does not name this spec")
    if (
        profile_t is None
        or profile_t.dtype != torch.uint8
        or bytes(profile_t.tolist()) != spec.determinism.encode()
    ):
        raise CheckpointError("meta/profile is not the spec's determinism profile (kernels, torch build)")
    step = int(step_t)
    if not 0 <= step <= spec.steps:
        raise CheckpointError(f"checkpoint step {step} is outside 0..{spec.steps}")
    entries = _expected_optim_entries(spec, step)
    expected = {f"param/{n}" for n, _ in model.named_parameters()}
    expected |= {f"optim/{n}/{k}" for n, _ in model.named_parameters() for k in entries}
    if set(tensors) != expected:
        extra, missing = sorted(set(tensors) - expected), sorted(expected - set(tensors))
        raise CheckpointError(
            f"checkpoint tensors differ from the model's: unexpected {extra[:3]}, missing {missing[:3]}"
        )
    with torch.no_grad():
        for name, p in model.named_parameters():
            state = {}
            for key in [None, *sorted(entries)]:
                t = tensors[f"param/{name}" if key is None else f"optim/{name}/{key}"]
                want_shape = () if key == "step" else tuple(p.shape)
                if t.dtype != p.dtype or tuple(t.shape) != want_shape:
                    raise CheckpointError(
                        f"{name}/{key or 'param'}: {t.dtype} {tuple(t.shape)}, expected "
                        f"{p.dtype} {want_shape}"
                    )
                if key is None:
                    p.copy_(t)
                else:
                    state[key] = t.clone()
            if "step" in state and float(state["step"]) != step:
                raise CheckpointError(
                    f"{name}/step is {float(state['step'])}, the checkpoint is at step {step}"
                )
            if state:
                optimizer.state[p] = state
    return step


# --- the trainer -----------------------------------------------------------------------------------


class _InlineExecutor:
    """Runs the hash on the training thread: for machines without a spare core, and for measuring."""

    def submit(self, fn: Callable[..., StepRecord], *args: object) -> Future[StepRecord]:
        future: Future[StepRecord] = Future()
        future.set_result(fn(*args))
        return future

    def __enter__(self) -> _InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class Trainer:
    """One exact-mode run of a spec, from its initial state or from a checkpoint."""

    def __init__(
        self,
        spec: JobSpec,
        dataset: Dataset,
        *,
        hashing: bool = True,
        checkpoints: bool = True,
        background: bool = True,
        threads: int = 1,
    ):
        configure_exact_mode(spec.determinism, threads)
        check_fits_spec(dataset, spec)
        self.spec, self.dataset = spec, dataset
        self.hashing, self.checkpoints = hashing, checkpoints and hashing
        self.model = build_model(spec)
        self.optimizer = build_optimizer(spec, self.model)
        self.order = DataOrder(spec.seed, dataset.x_train.shape[0], spec.batch_size)
        self.checkpoint_steps = set(checkpoint_steps(spec.steps, spec.checkpoint_interval))
        self.hasher = StateHasher(self.model, self.optimizer)
        self.arena = StateArena(self.hasher)
        self.background = background
        self.step = 0
        # Seconds the training thread spent on commitments: hashing (inline) or waiting for a hash
        # (background), and checkpointing. Measured for benchmarks only; nothing computed depends on them.
        self.hash_s = self.checkpoint_s = 0.0
        self.last_loss: float | None = None  # the training loss of the last step's batch, for progress logs

    @classmethod
    def from_checkpoint(cls, spec: JobSpec, dataset: Dataset, blob: bytes, **kwargs) -> Trainer:
        trainer = cls(spec, dataset, **kwargs)
        trainer.step = load_checkpoint(spec, blob, trainer.model, trainer.optimizer)
        return trainer

    def state_hash(self) -> bytes:
        return self.hasher.hash(self.step)

    def checkpoint(self) -> bytes:
        """The full state now, as referees and replayers load it."""
        return save_checkpoint(self.spec, self.step, self.model, self.optimizer)

    def _checkpoint_now(self) -> bytes | None:
        """The checkpoint of the current step if it is one, taken on the training thread: serializing is
        mostly Python work that would fight the training thread for the GIL if done beside it, while a
        copy here costs well under 1% of a step per step."""
        if not (self.checkpoints and self.step in self.checkpoint_steps):
            return None
        start = time.perf_counter()
        blob = self.checkpoint()
        self.checkpoint_s += time.perf_counter() - start
        return blob

    def _record(self, step: int, blob: bytes | None) -> StepRecord:
        if not self.hashing:
            return StepRecord(step, None)
        return StepRecord(step, self.state_hash(), blob)

    def _train_step(self, step: int) -> None:
        """Forward and backward of `step`, and gradient clipping when the spec asks for it; the parameters
        are only read."""
        environment.pin_process()
        idx = self.order.indices(step)
        for group in self.optimizer.param_groups:
            group["lr"] = self.spec.learning_rate(step)
        self.optimizer.zero_grad(set_to_none=True)
        outputs = self.model(self.dataset.x_train[idx])
        loss = task_loss(
            self.spec.task, outputs, self.dataset.y_train[idx], self.spec.training.label_smoothing
        )
        loss.backward()
        if self.spec.training.max_grad_norm > 0:  # gradients only: the state is still just read
            clip_grad_norm(self.optimizer.param_groups[0]["params"], self.spec.training.max_grad_norm)
        self.last_loss = float(loss.detach())

    def _optimizer_step(self, step: int) -> None:
        """The update of `step`, after its forward and backward passes and once H[step - 1] is hashed."""
        self.optimizer.step()

    def _submit_record(self, pool: ThreadPoolExecutor | _InlineExecutor) -> Future[StepRecord]:
        """Start hashing the current state (H[self.step]), with its checkpoint if it is a checkpoint step."""
        blob = self._checkpoint_now()
        start = time.perf_counter()
        if self.hashing:
            self.arena.pack()  # here, on the training thread, before the hash reads the state beside it
        future = pool.submit(self._record, self.step, blob)
        self.hash_s += time.perf_counter() - start
        return future

    def run(
        self, until: int | None = None, progress_callback: Callable[[int, int], None] | None = None
    ) -> Iterator[StepRecord]:
        """Train to step `until` (default T), yielding H[start], H[start+1], ..., H[until] in order.

        Records come one step behind the training (H[s] is yielded after step s+1's optimizer step),
        because the hash of state s overlaps step s+1's forward and backward passes.
        """
        until = self.spec.steps if until is None else until
        if not self.step <= until <= self.spec.steps:
            raise TrainerError(f"cannot train from step {self.step} to step {until} of {self.spec.steps}")
        pool = (
            ThreadPoolExecutor(1, thread_name_prefix="state-hash") if self.background else _InlineExecutor()
        )
        with pool:
            pending = self._submit_record(pool)
            while self.step < until:
                s = self.step + 1
                self._train_step(s)
                start = time.perf_counter()
                previous = pending.result()
                self.hash_s += time.perf_counter() - start
                self._optimizer_step(s)
                self.step = s
                pending = self._submit_record(pool)
                if progress_callback is not None:
                    progress_callback(s, until)
                yield previous
            yield pending.result()

    def evaluate(self) -> float:
        return evaluate(self.model, self.dataset, self.spec.task)

    def metrics(self) -> dict[str, float]:
        return held_out_metrics(self.model, self.dataset, self.spec.task)


def train(
    spec: JobSpec, dataset: Dataset, *, progress_callback: Callable[[int, int], None] | None = None
) -> TrainingResult:
    """A solver's whole run: every H[i], the checkpoints, the committed root, final model hash, accuracy."""
    return run_to_result(Trainer(spec, dataset), progress_callback)


def run_to_result(
    trainer: Trainer, progress_callback: Callable[[int, int], None] | None = None
) -> TrainingResult:
    """Run `trainer` to the end of its spec and collect what `train` returns."""
    result = TrainingResult(hashes=[])
    for record in trainer.run(progress_callback=progress_callback):
        result.hashes.append(record.state_hash)
        if record.checkpoint is not None:
            result.checkpoints[record.step] = record.checkpoint
    result.root = StepCommitment(result.hashes).root
    result.final_model_hash = model_hash(trainer.model)
    result.metrics = trainer.metrics()
    result.accuracy = score(result.metrics)
    return result


def replay_segment(spec: JobSpec, dataset: Dataset, start_state: bytes | None, end: int) -> list[bytes]:
    """H[a..end] recomputed from the state at a (a checkpoint blob; None for the spec's initial state)."""
    trainer = (
        Trainer(spec, dataset, checkpoints=False)
        if start_state is None
        else Trainer.from_checkpoint(spec, dataset, start_state, checkpoints=False)
    )
    return [record.state_hash for record in trainer.run(until=end)]


def recompute_step(
    spec: JobSpec, dataset: Dataset, state_at_s: bytes | None, expected_hash: bytes | None = None
) -> bytes:
    """A referee's vote: H[s+1] from the full state at s, after checking that state hashes to the agreed
    H[s] when `expected_hash` is given. `state_at_s=None` means s = 0: the spec's own initial state, which a
    referee derives rather than takes from the solver."""
    trainer = (
        Trainer(spec, dataset, checkpoints=False)
        if state_at_s is None
        else Trainer.from_checkpoint(spec, dataset, state_at_s, checkpoints=False)
    )
    if expected_hash is not None and trainer.state_hash() != expected_hash:
        raise StateMismatch(
            f"the state at step {trainer.step} hashes to "
            f"{trainer.state_hash().hex()}, not the agreed {expected_hash.hex()}"
        )
    if trainer.step >= spec.steps:
        raise TrainerError(f"step {trainer.step} is the last of the run; there is no step to recompute")
    *_, last = trainer.run(until=trainer.step + 1)
    assert last.state_hash is not None
    return last.state_hash
