"""Reference jobs with known step hashes: a machine that reproduces them computes what every honest
machine computes, so a solver can check a machine before staking on it (`gradchain selftest`).

The jobs cover every registry architecture, every optimizer, every schedule, every training option
(gradient clipping with a norm that clips, label smoothing) and every task (classification, regression
with the squared error and the Huber loss, multi-label), a few steps each on
datasets the package generates itself (integer-only streams, so the blobs are identical everywhere).
`exact/reference_hashes.json` holds H[0..steps] of each, recorded when the kernel version was set; a change
that alters any bit of exact mode must bump `KERNELS_VERSION` and re-record them (`--record`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from compute_market.jobspec import (
    KERNEL_SET,
    KERNELS_VERSION,
    AdamSpec,
    AdamWSpec,
    ClassificationTask,
    CnnSpec,
    ConstantSchedule,
    CosineSchedule,
    GptSpec,
    JobSpec,
    LanguageModelTask,
    LinearSchedule,
    MlpSpec,
    MultilabelTask,
    OneCycleSchedule,
    RegressionTask,
    SgdSpec,
    StepSchedule,
    TrainingOptions,
    TransformerSpec,
)
from compute_market.worker import datasets
from compute_market.worker.trainer import Trainer

REFERENCE_FILE = Path(__file__).parent / "exact" / "reference_hashes.json"
STEPS = 6


def reference_jobs() -> dict[str, tuple[JobSpec, datasets.Dataset]]:
    """name -> (spec, dataset) of each reference job (a token stream as the trainer sees it: its windows)."""
    blobs = datasets.gaussian_blobs(11, 96, 16, 10, 3)
    digits = datasets.synthetic_digits(12, 64, 16, 8, 4)
    tokens = datasets.majority_tokens(13, 64, 16, 8, 5)
    targets = datasets.linear_targets(14, 96, 16, 10, 2)
    labels = datasets.multilabel_blobs(15, 96, 16, 10, 4)
    text = datasets.text_stream(datasets.generated_text(16, 12))
    jobs = {
        "mlp-adamw-cosine": (
            MlpSpec(10, (24, 12), 3),
            blobs,
            AdamWSpec(1e-2, 0.9, 0.999, 1e-8, 0.01),
            CosineSchedule(0.1, 2),
        ),
        "mlp-sgd-constant": (MlpSpec(10, (16,), 3), blobs, SgdSpec(0.1, 0.0, 0.0), ConstantSchedule()),
        "cnn-sgd-step": (
            CnnSpec(1, 8, (4, 6), 3, 16, 4),
            digits,
            SgdSpec(0.05, 0.9, 1e-4),
            StepSchedule(2, 0.5),
        ),
        "transformer-adamw-constant": (
            TransformerSpec(5, 8, 16, 2, 2, 24, 5),
            tokens,
            AdamWSpec(3e-3, 0.9, 0.99, 1e-8, 0.0),
            ConstantSchedule(),
        ),
        # max_grad_norm clips the first steps (norms 1.3-1.6) and not the later ones (0.8-0.97)
        "mlp-adam-linear-clip-smooth": (
            MlpSpec(10, (24, 12), 3),
            blobs,
            AdamSpec(1e-2, 0.9, 0.999, 1e-8, 0.01),
            LinearSchedule(0.1, 2),
            TrainingOptions(max_grad_norm=1.0, label_smoothing=0.1),
        ),
        "transformer-sgd-onecycle-smooth": (
            TransformerSpec(5, 8, 16, 2, 2, 24, 5),
            tokens,
            SgdSpec(0.05, 0.9, 1e-4),
            OneCycleSchedule(0.3, 25.0, 1e4),
            TrainingOptions(max_grad_norm=1.0, label_smoothing=0.2),  # norms 2.2-3.3: every step clips
        ),
        "mlp-sgd-regression-mse": (
            MlpSpec(10, (16,), 2),
            targets,
            SgdSpec(0.05, 0.9, 0.0),
            ConstantSchedule(),
            TrainingOptions(),
            RegressionTask("mse"),
        ),
        # delta 1.0 leaves some residuals inside (squared) and some outside (linear)
        "mlp-adam-regression-huber": (
            MlpSpec(10, (16, 8), 2),
            targets,
            AdamSpec(1e-2, 0.9, 0.999, 1e-8, 0.0),
            CosineSchedule(0.1, 2),
            TrainingOptions(),
            RegressionTask("huber", 1.0),
        ),
        # norms 0.14-0.22: max_grad_norm clips some steps and not others
        "mlp-adamw-multilabel-clip": (
            MlpSpec(10, (24,), 4),
            labels,
            AdamWSpec(1e-2, 0.9, 0.999, 1e-8, 0.01),
            ConstantSchedule(),
            TrainingOptions(max_grad_norm=0.16),
            MultilabelTask(),
        ),
        # a byte-level causal decoder on generated sentences; the masked attention scores are -inf
        "gpt-adamw-lm-cosine-clip-smooth": (
            GptSpec(256, 12, 16, 2, 2, 24),
            text,
            AdamWSpec(1e-2, 0.9, 0.99, 1e-8, 0.01),
            CosineSchedule(0.1, 2),
            TrainingOptions(max_grad_norm=1.0, label_smoothing=0.1),
            LanguageModelTask(),
        ),
    }
    out = {}
    for name, (model, ds, opt, sched, *options) in jobs.items():
        spec = JobSpec(
            model,
            datasets.dataset_hash(ds.to_bytes()),
            opt,
            sched,
            batch_size=20,
            steps=STEPS,
            seed=7,
            checkpoint_interval=3,
            training=options[0] if options else TrainingOptions(),
            task=options[1] if len(options) > 1 else ClassificationTask(),
        )
        out[name] = (spec, ds.windows(spec.model.seq_len) if isinstance(ds, datasets.TokenStream) else ds)
    return out


def trace(spec: JobSpec, ds: datasets.Dataset, steps: int | None = None, threads: int = 1) -> list[bytes]:
    """H[0..steps] of an exact-mode run."""
    trainer = Trainer(spec, ds, checkpoints=False, background=False, threads=threads)
    return [record.state_hash for record in trainer.run(until=spec.steps if steps is None else steps)]


def compute_all(threads: int = 1) -> dict[str, list[str]]:
    return {
        name: [h.hex() for h in trace(spec, ds, threads=threads)]
        for name, (spec, ds) in reference_jobs().items()
    }


def load_reference() -> dict[str, list[str]]:
    data = json.loads(REFERENCE_FILE.read_text())
    if data.get("kernels") != KERNEL_SET or data.get("kernels_version") != KERNELS_VERSION:
        raise ValueError(
            f"{REFERENCE_FILE.name} was recorded for {data.get('kernels')} "
            f"v{data.get('kernels_version')}, not {KERNEL_SET} v{KERNELS_VERSION}"
        )
    return data["jobs"]


@dataclass(frozen=True)
class Mismatch:
    job: str
    step: int  # the first step whose hash differs
    expected: str
    got: str


def compare(got: dict[str, list[str]], reference: dict[str, list[str]]) -> list[Mismatch]:
    """The first differing step of every job that does not match its reference."""
    out = []
    for job in sorted(reference):
        mine = got.get(job, [])
        for step, expected in enumerate(reference[job]):
            value = mine[step] if step < len(mine) else ""
            if value != expected:
                out.append(Mismatch(job, step, expected, value))
                break
    return out


def record() -> None:
    """Write the reference file from this machine (only when the kernel version changes)."""
    data = {"kernels": KERNEL_SET, "kernels_version": KERNELS_VERSION, "steps": STEPS, "jobs": compute_all()}
    REFERENCE_FILE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--record"]:
        record()
    else:
        print(json.dumps(compute_all(int(sys.argv[1]) if len(sys.argv) > 1 else 1), sort_keys=True))
