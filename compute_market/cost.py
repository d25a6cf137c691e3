"""The price of a spec's work: FLOPs and peak memory of one training step, a segment and the whole job.

Pure Python (the pallet imports it through `jobspec`), computed from the spec alone, so every node gets
the same figures. It follows the registry's forward passes (compute_market/worker/models.py) and what the
exact operators (compute_market/worker/exact/ops.py) save for backward and allocate as temporaries.

FLOPs count the GEMMs only (multiply-adds x 2; im2col convolutions and attention's two batched products
included): the forward pass's products, and twice that for backward, because every exact layer computes
both the input and the weight gradient (the first layer's input gradient too). Elementwise work
(activations, norms, softmax, the optimizer, the state hash) is not counted in the figure; it is
absorbed by the calibrated rate below, which was measured on whole training steps.

Peak memory (bytes) of one step, in steady state (the optimizer state exists), simulates the step's
allocations operator by operator: parameters + optimizer state (SGD with momentum: one buffer, AdamW and
Adam: two moments) are resident; the forward pass adds what each operator saves for backward (inputs of
linear layers, im2col columns, ReLU and softmax outputs, layer-norm x-hat, pooling argmax, the gathered
batch) plus its momentary output and GEMM temporaries (the transposed weight copy, the im2col matrix);
backward walks the operators in reverse, each holding its incoming and outgoing gradients and
temporaries (the transposed im2col copy, column gradients) while the parameter gradients accumulate and
the saved tensors are released; the optimizer step then holds parameters, gradients and state (and,
with gradient clipping, its float64 block sums: `clip_bytes`), and the state hash a copy of a state up to HASH_JOIN_MAX_BYTES. The peak is the largest of these moments. A referee also holds the checkpoint blob it loaded (`state_bytes`),
which `referee_peak_bytes` adds. The model is checked against the resident-set growth of real
exact-mode steps in tests/market_ml/test_cost.py (within 15%; 0.94-1.00 x measured on 2026-12-01 for an
MLP, a wide-batch MLP with AdamW, a CNN and a transformer, 27-136 MiB peaks) and the FLOPs against
torch.utils.flop_counter on equivalent plain torch models (within 1%; they agree exactly). On 2026-12-02
an MLP 784-1024-1024-10 at batch 256 with Adam, clipping and label smoothing was added to that check.
Gradient clipping adds CLIP_FLOPS_PER_PARAMETER to `flops` (see there); label smoothing is not priced.
A regression or multi-label task changes only the gathered targets' bytes (`target_bytes`). The gpt is
priced as the transformer with the causal mask's copy of the scores and the head and loss at every
position instead of the sequence mean; its rate is the transformer's (the same GEMMs dominate).

Calibration (the figures the caps and the time-based windows derive from), measured 2026-12-01 on this
project's dev machine (x86-64 with AVX2, 2 cores shared with other work, one exact-mode thread, `Trainer`
with inline state hashing as a referee runs it; tests/market_ml/measure_step_memory.py prints the
figure): whole steps ran at 21.8 GFLOP/s for an MLP 784-1024-1024-10 at batch 512 (SGD with momentum),
8.7 GFLOP/s for 256-2048-10 at batch 4096 (AdamW: the elementwise work weighs more), 3.1 GFLOP/s for a
CNN 3x32x32 with channels (32, 64) at batch 128 (im2col and col2im are memory-bound) and 15.1 GFLOP/s for
a transformer (d 128, 2 layers, seq 64, batch 64, AdamW), at a load average of 2 (the figures without
hashing, earlier that day: 19.2, 6.9, 2.7 and 11.1). The GEMM kernel alone reaches about 30-50 GFLOP/s on one core.
`STEP_FLOPS_PER_SECOND` takes, per architecture, a round figure at or below the slowest of these, so
expected times err long (auditors get more time, never less).

Caps: one step may take at most MAX_STEP_SECONDS (60 s) at that rate, i.e. `MAX_STEP_FLOPS` per
architecture, and a referee may need at most MAX_STEP_MEMORY (4 GiB, step peak plus the loaded state).
`over_cap` names the cap and the spec's figure; `jobspec.JobSpec` refuses such a spec at validation, so
`submit_job` refuses it as `BadSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - types only: jobspec imports this module
    from compute_market.jobspec import (
        CnnSpec,
        GptSpec,
        JobSpec,
        MlpSpec,
        ModelSpec,
        OptimizerSpec,
        TaskSpec,
        TrainingOptions,
        TransformerSpec,
    )

F32 = 4
I64 = 8

CALIBRATED_ON = "2026-12-01"
STEP_FLOPS_PER_SECOND = {
    "mlp": 6e9,
    "cnn": 2.5e9,
    "transformer": 10e9,
    "gpt": 10e9,
}  # whole steps, one core, exact mode
MAX_STEP_SECONDS = 60.0  # what the caps below allow one step to take on one such core
MAX_STEP_FLOPS = {kind: int(rate * MAX_STEP_SECONDS) for kind, rate in STEP_FLOPS_PER_SECOND.items()}
MAX_STEP_MEMORY = 4 << 30  # bytes a referee must hold for one step (4 GiB)
STEP_OVERHEAD_SECONDS = 0.05  # per step: Python dispatch, optimizer, hashing on small models
LOAD_BYTES_PER_SECOND = 0.5e9  # decoding and validating a checkpoint, building the model


@dataclass(frozen=True)
class Op:
    """One operator of the step: bytes it saves for backward, holds momentarily in forward and in
    backward (beyond what is saved), and the parameter gradients it produces."""

    saved: int
    fwd: int
    bwd: int
    grad: int = 0


@dataclass(frozen=True)
class StepCost:
    kind: str  # the architecture
    flops: int  # one training step (forward + backward GEMMs)
    peak_bytes: int  # one step in steady state
    parameter_bytes: int
    optimizer_bytes: int
    activation_bytes: int  # saved for backward at the spec's batch size
    state_bytes: int  # parameters + optimizer state: the checkpoint a referee loads

    @property
    def referee_peak_bytes(self) -> int:
        return self.peak_bytes + self.state_bytes


@dataclass(frozen=True)
class JobCost:
    step: StepCost
    steps: int
    checkpoint_interval: int

    @property
    def rate(self) -> float:
        return STEP_FLOPS_PER_SECOND[self.step.kind]

    @property
    def segment_flops(self) -> int:
        return self.step.flops * self.checkpoint_interval

    @property
    def job_flops(self) -> int:
        return self.step.flops * self.steps

    def seconds(self, steps: int) -> float:
        """Expected seconds for `steps` steps on one core of the calibrated machine."""
        return steps * (self.step.flops / self.rate + STEP_OVERHEAD_SECONDS)

    @property
    def step_seconds(self) -> float:
        return self.seconds(1)

    @property
    def segment_seconds(self) -> float:
        return self.seconds(self.checkpoint_interval)

    @property
    def job_seconds(self) -> float:
        return self.seconds(self.steps)

    @property
    def load_seconds(self) -> float:
        return self.step.state_bytes / LOAD_BYTES_PER_SECOND

    @property
    def referee_seconds(self) -> float:
        """Load the state at s, recompute step s+1 and hash it."""
        return self.load_seconds + self.step_seconds

    def verifier_seconds(self, segments: int) -> float:
        """Replay `segments` whole segments, each from its checkpoint."""
        return segments * (self.load_seconds + self.segment_seconds)


# --- per architecture: (forward multiply-adds, operators) -----------------------------------------------


def _linear(rows: int, a: int, b: int, *, saves_input: bool = True) -> Op:
    """ops.linear: saves x; forward holds the transposed weight copy and y; backward dy, dx, dW, db."""
    return Op(
        saved=rows * a * F32 if saves_input else 0,
        fwd=(a * b + rows * b) * F32,
        bwd=(rows * b + rows * a) * F32,
        grad=(a * b + b) * F32,
    )


def _mlp(m: MlpSpec, batch: int, targets: int) -> tuple[int, list[Op]]:
    dims = [m.input_dim, *m.hidden, m.num_classes]
    macs = sum(batch * a * b for a, b in zip(dims, dims[1:], strict=False))
    ops = [Op(saved=batch * targets, fwd=0, bwd=0)]  # the gathered labels or targets
    for i, (a, b) in enumerate(zip(dims, dims[1:], strict=False)):
        ops.append(_linear(batch, a, b, saves_input=i == 0))  # layer 0 saves the gathered batch
        if i < len(dims) - 2:  # ReLU saves its output, which the next layer saves too
            ops.append(Op(saved=batch * b * F32, fwd=batch * b * F32, bwd=2 * batch * b * F32))
    ops.append(_cross_entropy(batch, m.num_classes))
    return macs, ops


def _cross_entropy(rows: int, classes: int) -> Op:
    """The loss: it saves one float per output (the softmax, the residual or the sigmoid) and holds the
    row losses; backward the incoming and outgoing gradients. The same for every task."""
    return Op(saved=rows * classes * F32, fwd=rows * (classes + 1) * F32, bwd=2 * rows * classes * F32)


def _cnn(m: CnnSpec, batch: int, targets: int) -> tuple[int, list[Op]]:
    macs, c_in, size = 0, m.in_channels, m.image_size
    ops = [Op(saved=batch * targets, fwd=batch * c_in * size * size * F32, bwd=0)]
    k2 = m.kernel_size**2
    for c in m.channels:
        n = batch * size * size
        ckk = c_in * k2
        macs += c * ckk * n
        # conv: saves the im2col columns; forward holds y [c, N] and its permuted copy; backward the
        # incoming gradient and its permuted copy, the transposed columns, the column gradients and dx.
        ops.append(
            Op(
                saved=ckk * n * F32,
                fwd=2 * c * n * F32,
                bwd=(2 * c * n + ckk * n + c_in * n) * F32,
                grad=(c * ckk + c) * F32,
            )
        )
        ops.append(Op(saved=c * n * F32, fwd=c * n * F32, bwd=2 * c * n * F32))  # ReLU saves its output
        ops.append(Op(saved=c * n // 4, fwd=c * n // 4 * F32, bwd=(c * n + c * n // 4) * F32))  # pool argmax
        c_in, size = c, size // 2
    flat = c_in * size * size
    macs += batch * flat * m.hidden + batch * m.hidden * m.num_classes
    ops += [
        _linear(batch, flat, m.hidden),
        Op(saved=batch * m.hidden * F32, fwd=batch * m.hidden * F32, bwd=2 * batch * m.hidden * F32),
        _linear(batch, m.hidden, m.num_classes, saves_input=False),
        _cross_entropy(batch, m.num_classes),
    ]
    return macs, ops


def _transformer(m: TransformerSpec | GptSpec, batch: int, targets: int) -> tuple[int, list[Op]]:
    """The classifier (mean over the sequence, one head per example) and, for a gpt, the causal decoder
    (its attention scores masked, a head at every position)."""
    causal = m.KIND == "gpt"
    t, d, ff, h = m.seq_len, m.d_model, m.ff_dim, m.num_heads
    rows = batch * t
    act, scores = rows * d * F32, batch * h * t * t * F32
    head_rows = rows if causal else batch
    macs_layer = rows * (4 * d * d + 2 * d * ff) + 2 * batch * t * t * d
    macs = m.num_layers * macs_layer + head_rows * d * m.num_classes
    # embeddings: token and position indices saved (int64), the two lookups and their sum
    ops = [
        Op(
            saved=batch * targets + 2 * rows * I64,
            fwd=3 * act,
            bwd=2 * act,
            grad=(m.vocab_size + t) * d * F32,
        )
    ]
    for _ in range(m.num_layers):
        ops += [
            Op(saved=act + rows * F32, fwd=act, bwd=3 * act, grad=2 * d * F32),  # ln1: x-hat, rstd
            _linear(rows, d, 3 * d),  # qkv saves the normed input
            Op(saved=3 * act, fwd=3 * act, bwd=3 * act),  # q, k, v copy by reshape
            Op(saved=act, fwd=act + scores, bwd=2 * scores + 3 * act),  # q k^T: k^T copy; scores
            *([Op(saved=0, fwd=scores, bwd=2 * scores)] if causal else []),  # the causal mask's copy
            Op(saved=scores, fwd=scores, bwd=2 * scores),  # softmax saves its output
            Op(saved=0, fwd=2 * act, bwd=scores + 3 * act),  # weights @ v, back to [N, T, d]
            _linear(rows, d, d),  # proj saves the attended copy
            Op(saved=0, fwd=act, bwd=act),  # residual
            Op(saved=act + rows * F32, fwd=act, bwd=3 * act, grad=2 * d * F32),  # ln2
            _linear(rows, d, ff),
            Op(saved=rows * ff * F32, fwd=rows * ff * F32, bwd=2 * rows * ff * F32),  # ReLU output
            _linear(rows, ff, d, saves_input=False),  # saves the ReLU output counted above
            Op(saved=0, fwd=act, bwd=act),  # residual
        ]
    ops += [
        Op(saved=act + rows * F32, fwd=act, bwd=3 * act, grad=2 * d * F32),  # final norm
        *([] if causal else [Op(saved=0, fwd=batch * d * F32, bwd=act + batch * d * F32)]),  # sequence mean
        _linear(head_rows, d, m.num_classes),
        _cross_entropy(head_rows, m.num_classes),
    ]
    return macs, ops


_ARCHITECTURES = {"mlp": _mlp, "cnn": _cnn, "transformer": _transformer, "gpt": _transformer}


def optimizer_bytes(model: ModelSpec, optimizer: OptimizerSpec) -> int:
    p = model.parameter_count
    if optimizer.KIND in ("adam", "adamw"):
        return 2 * p * F32  # exp_avg and exp_avg_sq (and a 0-d step counter per tensor)
    return p * F32 if optimizer.momentum != 0 else 0


# Gradient clipping (exact/optim.py `clip_grad_norm`) sums squares in blocks of CLIP_BLOCK elements into one
# float64 per block, then scales every gradient: 3 FLOPs per parameter (square, add, multiply), counted in
# `flops` so that a clipped step is priced above an unclipped one, and its block sums held during the
# optimizer step. Label smoothing adds one pass over the logits (a subtraction and an add per class), far
# below one GEMM's and without a buffer of its own: it is not priced.
CLIP_BLOCK = 4096
CLIP_FLOPS_PER_PARAMETER = 3


def clip_bytes(model: ModelSpec) -> int:
    """The block sums of the clipping pass: one float64 per block of every parameter tensor (an upper bound:
    each tensor's last block may be partial)."""
    return 8 * (model.parameter_count // CLIP_BLOCK + _tensor_count(model))


def _tensor_count(model: ModelSpec) -> int:
    if model.KIND == "mlp":
        return 2 * (len(model.hidden) + 1)
    if model.KIND == "cnn":
        return 2 * (len(model.channels) + 2)
    return 2 + 12 * model.num_layers + 2 + 2  # embeddings, layers, final norm, head


def target_bytes(model: ModelSpec, task: TaskSpec | None) -> int:
    """Bytes of one example's gathered labels or targets: an int64 label (classification), or num_classes
    float32 targets (regression, multilabel), seq_len int64 next tokens (language_model), plus one byte each for a uint8 multi-hot batch converted to
    float32. The losses themselves are a few elementwise operations per output, far below one GEMM: their
    FLOPs are not priced, like label smoothing's."""
    if task is None or task.KIND == "classification":
        return I64
    if task.KIND == "language_model":  # the next token at every position
        return model.seq_len * I64
    return model.num_classes * (F32 + (1 if task.KIND == "multilabel" else 0))


def step_cost(spec: JobSpec) -> StepCost:
    return model_step_cost(spec.model, spec.optimizer, spec.batch_size, spec.training, spec.task)


# States up to this size are moved into one buffer (trainer.StateArena, once per run and after a checkpoint
# load) or copied into one (a state not in an arena) to be hashed in a single BLAKE3 update, faster than
# hashing the dozens of pieces; either holds the state twice for a moment. Larger ones are hashed in place.
HASH_JOIN_MAX_BYTES = 4 << 20


def model_step_cost(
    model: ModelSpec,
    optimizer: OptimizerSpec,
    batch_size: int,
    training: TrainingOptions | None = None,
    task: TaskSpec | None = None,
) -> StepCost:
    """One step of `model` trained by `optimizer` at `batch_size` with the step options `training` (none:
    all off) on `task` (none: classification), what `JobSpec` checks before it exists."""
    macs, ops = _ARCHITECTURES[model.KIND](model, batch_size, target_bytes(model, task))
    clipping = training is not None and training.max_grad_norm > 0
    params = model.parameter_count * F32
    optim = optimizer_bytes(model, optimizer)
    resident = params + optim
    peak = saved = grads = 0
    for op in ops:
        peak = max(peak, resident + saved + op.saved + op.fwd)
        saved += op.saved
    activations = saved
    for op in reversed(ops):
        peak = max(peak, resident + saved + grads + op.bwd + op.grad)
        saved -= op.saved
        grads += op.grad
    peak = max(peak, resident + grads + (clip_bytes(model) if clipping else 0))
    if (
        resident <= HASH_JOIN_MAX_BYTES
    ):  # the state is moved (StateArena) or joined (StateHasher) into one buffer for the hash
        peak = max(peak, 2 * resident + grads)
    return StepCost(
        kind=model.KIND,
        flops=6 * macs + (CLIP_FLOPS_PER_PARAMETER * model.parameter_count if clipping else 0),
        peak_bytes=peak,
        parameter_bytes=params,
        optimizer_bytes=optim,
        activation_bytes=activations,
        state_bytes=params + optim,
    )


def job_cost(spec: JobSpec) -> JobCost:
    return JobCost(step_cost(spec), spec.steps, spec.checkpoint_interval)


def over_cap(cost: StepCost) -> str | None:
    """Why one step of this cost is refused, naming the cap and the spec's figure; None if it is allowed."""
    cap, rate = MAX_STEP_FLOPS[cost.kind], STEP_FLOPS_PER_SECOND[cost.kind]
    if cost.flops > cap:
        return (
            f"one training step needs {cost.flops:.4g} FLOPs (about {cost.flops / rate:.0f} s on one core), "
            f"over the cap of {cap:.4g} FLOPs per step for a {cost.kind} ({MAX_STEP_SECONDS:.0f} s at "
            f"{rate / 1e9:g} GFLOP/s)"
        )
    if cost.referee_peak_bytes > MAX_STEP_MEMORY:
        return (
            f"recomputing one step needs {cost.referee_peak_bytes} bytes "
            f"({cost.referee_peak_bytes / 2**30:.2f} GiB), over the cap of {MAX_STEP_MEMORY} bytes "
            f"({MAX_STEP_MEMORY / 2**30:.2f} GiB)"
        )
    return None
