"""Small exact-mode jobs for the three registry models, sized so a full run takes well under a second."""

from __future__ import annotations

import pytest

from compute_market.jobspec import (
    AdamWSpec,
    CnnSpec,
    ConstantSchedule,
    CosineSchedule,
    JobSpec,
    MlpSpec,
    SgdSpec,
    StepSchedule,
    TransformerSpec,
)
from compute_market.worker import datasets


def small_job(kind: str, steps: int = 12, interval: int = 4) -> tuple[JobSpec, datasets.Dataset]:
    if kind == "mlp":
        ds = datasets.gaussian_blobs(1, 256, 64, 8, 3)
        model, opt, sched = (
            MlpSpec(8, (16,), 3),
            AdamWSpec(1e-2, 0.9, 0.999, 1e-8, 0.01),
            CosineSchedule(0.1, 2),
        )
    elif kind == "cnn":
        ds = datasets.synthetic_digits(2, 128, 32, 8, 4)
        model, opt, sched = CnnSpec(1, 8, (4,), 3, 16, 4), SgdSpec(0.05, 0.9, 1e-4), StepSchedule(5, 0.5)
    else:
        ds = datasets.majority_tokens(3, 128, 32, 8, 4)
        model, opt, sched = (
            TransformerSpec(4, 8, 16, 2, 1, 32, 4),
            AdamWSpec(3e-3, 0.9, 0.99, 1e-8, 0.0),
            ConstantSchedule(),
        )
    spec = JobSpec(
        model,
        datasets.dataset_hash(ds.to_bytes()),
        opt,
        sched,
        batch_size=24,
        steps=steps,
        seed=5,
        checkpoint_interval=interval,
    )
    return spec, ds


@pytest.fixture(params=["mlp", "cnn", "transformer"])
def job(request) -> tuple[JobSpec, datasets.Dataset]:
    return small_job(request.param)
