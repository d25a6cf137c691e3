"""The cost model (compute_market/cost.py) against measurements: FLOPs against torch's own flop counter on
equivalent plain torch models, peak memory against the resident-set growth of real exact-mode steps."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from compute_market import cost
from compute_market.jobspec import (
    AdamSpec,
    AdamWSpec,
    ClassificationTask,
    CnnSpec,
    ConstantSchedule,
    GptSpec,
    JobSpec,
    JobSpecError,
    LanguageModelTask,
    MlpSpec,
    SgdSpec,
    TrainingOptions,
    TransformerSpec,
)

ROOT = Path(__file__).resolve().parents[2]
MEMORY_TOLERANCE = 0.15  # predicted peak within 15% of the measured resident-set growth
FLOP_TOLERANCE = 0.01


def _spec(model, optimizer, batch: int, training: TrainingOptions = TrainingOptions()) -> JobSpec:
    task = LanguageModelTask() if model.KIND == "gpt" else ClassificationTask()
    return JobSpec(
        model,
        bytes(32),
        optimizer,
        ConstantSchedule(),
        batch_size=batch,
        steps=8,
        seed=1,
        checkpoint_interval=4,
        training=training,
        task=task,
    )


SGD, ADAMW = SgdSpec(0.01, 0.9, 0.0), AdamWSpec(1e-3, 0.9, 0.999, 1e-8, 0.0)
ADAM = AdamSpec(1e-3, 0.9, 0.999, 1e-8, 1e-4)
CLIPPED = TrainingOptions(max_grad_norm=1.0, label_smoothing=0.1)
FLOP_SPECS = {
    "mlp": _spec(MlpSpec(20, (32, 24), 5), SGD, 16),
    "cnn": _spec(CnnSpec(2, 16, (6, 8), 5, 20, 4), SGD, 4),
    "transformer": _spec(TransformerSpec(50, 12, 16, 4, 2, 40, 3), ADAMW, 6),
    "gpt": _spec(GptSpec(50, 12, 16, 4, 2, 40), ADAMW, 6),
}
MEMORY_SPECS = {  # peaks of 25-140 MiB: large against the process's noise, small enough for CI
    "mlp": _spec(MlpSpec(784, (1024, 1024), 10), SGD, 512),
    "mlp_wide_batch": _spec(MlpSpec(256, (2048,), 10), ADAMW, 4096),
    "mlp_adam_clipped": _spec(MlpSpec(784, (1024, 1024), 10), ADAM, 256, CLIPPED),
    "cnn": _spec(CnnSpec(3, 32, (32, 64), 3, 256, 10), SGD, 128),
    "transformer": _spec(TransformerSpec(1000, 64, 128, 4, 2, 512, 10), ADAMW, 64),
    "gpt": _spec(GptSpec(256, 64, 128, 4, 2, 512), ADAMW, 32),
}


def _plain_step(spec: JobSpec) -> None:
    """One forward + backward of the spec's architecture in plain torch (every input gradient computed, as
    the exact layers do), with the parameter count checked against the spec's."""
    m, n, g = spec.model, spec.batch_size, torch.Generator().manual_seed(0)
    params: list[torch.Tensor] = []

    def w(*shape: int) -> torch.Tensor:
        t = (torch.randn(*shape, generator=g) * 0.1).requires_grad_(True)
        params.append(t)
        return t

    def linear(x: torch.Tensor, a: int, b: int) -> torch.Tensor:
        return F.linear(x, w(b, a), w(b))

    if m.KIND == "mlp":
        h = torch.randn(n, m.input_dim, generator=g, requires_grad=True)
        dims = [m.input_dim, *m.hidden, m.num_classes]
        for i, (a, b) in enumerate(zip(dims, dims[1:], strict=False)):
            h = linear(h, a, b)
            if i < len(dims) - 2:
                h = torch.relu(h)
    elif m.KIND == "cnn":
        h = torch.randn(n, m.in_channels, m.image_size, m.image_size, generator=g, requires_grad=True)
        c_in = m.in_channels
        for c in m.channels:
            h = F.max_pool2d(
                torch.relu(
                    F.conv2d(h, w(c, c_in, m.kernel_size, m.kernel_size), w(c), padding=m.kernel_size // 2)
                ),
                2,
            )
            c_in = c
        h = h.flatten(1)
        h = linear(torch.relu(linear(h, h.shape[1], m.hidden)), m.hidden, m.num_classes)
    else:
        t, d, heads = m.seq_len, m.d_model, m.num_heads
        tokens = torch.randint(0, m.vocab_size, (n, t), generator=g)
        h = F.embedding(tokens, w(m.vocab_size, d)) + w(t, d)
        for _ in range(m.num_layers):
            y = F.layer_norm(h, (d,), w(d), w(d))
            q, k, v = (
                linear(y, d, 3 * d)
                .view(n, t, 3, heads, d // heads)
                .permute(2, 0, 3, 1, 4)
                .reshape(3, n * heads, t, d // heads)
            )
            scores = torch.bmm(q, k.transpose(1, 2)) / math.sqrt(d // heads)
            if m.KIND == "gpt":
                scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
            att = torch.softmax(scores, -1)
            h = h + linear(
                torch.bmm(att, v).view(n, heads, t, d // heads).transpose(1, 2).reshape(n, t, d), d, d
            )
            h = h + linear(torch.relu(linear(F.layer_norm(h, (d,), w(d), w(d)), d, m.ff_dim)), m.ff_dim, d)
        h = F.layer_norm(h, (d,), w(d), w(d))
        if m.KIND == "gpt":  # next-token logits at every position
            h = linear(h, d, m.num_classes).reshape(n * t, m.num_classes)
            n = n * t
        else:
            h = linear(h.mean(1), d, m.num_classes)
    assert sum(p.numel() for p in params) == m.parameter_count
    labels = torch.randint(0, m.num_classes, (n,), generator=g)
    F.cross_entropy(h, labels).backward()


@pytest.mark.parametrize("kind", sorted(FLOP_SPECS))
def test_flops_match_torch_flop_counter(kind: str) -> None:
    spec = FLOP_SPECS[kind]
    with FlopCounterMode(display=False) as counter:
        _plain_step(spec)
    predicted = cost.step_cost(spec).flops
    counted = counter.get_total_flops()
    assert abs(predicted - counted) <= FLOP_TOLERANCE * counted, (predicted, counted)


@pytest.mark.parametrize("kind", sorted(MEMORY_SPECS))
def test_peak_memory_matches_measured_resident_growth(kind: str) -> None:
    spec = MEMORY_SPECS[kind]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    predicted = cost.step_cost(spec).peak_bytes
    # The growth of anonymous memory (tensors, heap), sampled while the steps run: RSS also counts pages of
    # torch's libraries that a busy machine dropped and the steps fault back in (CI once read 38 MiB of RSS
    # growth for a 26 MiB step).
    out = subprocess.run(
        [sys.executable, "-m", "tests.market_ml.measure_step_memory", spec.to_json(), "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    growth = measured["anon_peak"] - measured["anon_base"]
    assert abs(predicted - growth) <= MEMORY_TOLERANCE * growth, (kind, predicted / 2**20, growth / 2**20)


def test_segment_and_job_scale_with_steps() -> None:
    spec = MEMORY_SPECS["mlp"]
    job = cost.job_cost(spec)
    assert job.segment_flops == job.step.flops * spec.checkpoint_interval
    assert job.job_flops == job.step.flops * spec.steps
    assert job.job_seconds == pytest.approx(job.step_seconds * spec.steps)
    assert job.referee_seconds > job.step_seconds
    s = job.step
    assert (
        s.state_bytes == s.parameter_bytes + s.optimizer_bytes == spec.model.parameter_count * 8
    )  # momentum
    assert s.peak_bytes > s.state_bytes + s.activation_bytes // 2


def test_adam_and_the_training_options_are_priced() -> None:
    model = MlpSpec(784, (1024, 1024), 10)
    plain, adam = _spec(model, ADAMW, 256), _spec(model, ADAM, 256)
    assert cost.step_cost(adam) == cost.step_cost(plain)  # the same two moments, the same passes
    clipped = cost.step_cost(_spec(model, ADAM, 256, TrainingOptions(max_grad_norm=1.0)))
    assert clipped.flops == cost.step_cost(adam).flops + 3 * model.parameter_count
    assert clipped.peak_bytes >= cost.step_cost(adam).peak_bytes
    smoothed = cost.step_cost(_spec(model, ADAM, 256, TrainingOptions(label_smoothing=0.1)))
    assert smoothed == cost.step_cost(adam)


@pytest.mark.parametrize("spec", [*FLOP_SPECS.values(), *MEMORY_SPECS.values()], ids=lambda s: s.model.KIND)
def test_clip_bytes_bound_the_block_sums(spec) -> None:
    from compute_market.worker.models import build_model

    blocks = sum(-(-p.numel() // cost.CLIP_BLOCK) for p in build_model(spec).parameters())
    assert 8 * blocks <= cost.clip_bytes(spec.model) <= 8 * blocks + 8 * cost.CLIP_BLOCK


def test_issue_example_is_refused_naming_the_cap_and_figure() -> None:
    model = TransformerSpec(
        vocab_size=8192, seq_len=512, d_model=384, num_heads=6, num_layers=6, ff_dim=1536, num_classes=10
    )
    assert 12_000_000 < model.parameter_count < 14_000_000
    with pytest.raises(JobSpecError) as e:
        _spec(model, ADAMW, 4096)
    assert e.value.field == "model"
    figure = cost.model_step_cost(model, ADAMW, 4096)
    assert figure.flops > 100 * cost.MAX_STEP_FLOPS["transformer"]
    assert f"{figure.flops:.4g} FLOPs" in str(e.value)
    assert f"cap of {cost.MAX_STEP_FLOPS['transformer']:.4g} FLOPs" in str(e.value)


def test_memory_cap_is_named_with_the_figure() -> None:
    model = CnnSpec(4, 64, (1,), 7, 4, 10)  # one output channel: few FLOPs, a 13 GB im2col matrix
    figure = cost.model_step_cost(model, SGD, 4096)
    assert figure.flops <= cost.MAX_STEP_FLOPS["cnn"] and cost.MAX_STEP_MEMORY < figure.referee_peak_bytes
    with pytest.raises(JobSpecError) as e:
        _spec(model, SGD, 4096)
    assert f"needs {figure.referee_peak_bytes} bytes" in str(e.value)
    assert f"cap of {cost.MAX_STEP_MEMORY} bytes" in str(e.value)
    assert JobSpec.decode(_spec(model, SGD, 64).encode()).batch_size == 64  # the same model at a small batch


def test_demo_and_test_specs_are_under_the_caps() -> None:
    for spec in (*FLOP_SPECS.values(), *MEMORY_SPECS.values()):
        assert cost.over_cap(cost.step_cost(spec)) is None
