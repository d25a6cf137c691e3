"""Run in a fresh process by test_cost: the resident-set growth of a few exact-mode training steps.

Usage: python -m tests.market_ml.measure_step_memory SPEC_JSON STEPS. Prints one JSON object: the baseline
RSS (after a tiny warm-up run, so the kernels, autograd's engine and the thread pool are loaded), the peak
RSS (getrusage's high-water mark), the anonymous resident memory before and at its sampled peak (what the
test compares: file-backed pages of libraries never count there) and the seconds per step. Run with MALLOC_MMAP_THRESHOLD_ low so freed
tensors go back to the kernel and the high-water mark is the step's, not the heap's history. After the
warm-up the process locks what it has mapped (mlockall(MCL_CURRENT), where allowed): otherwise, on a busy
machine, the kernel may drop file-backed pages of torch's libraries from the baseline and fault them back in
during the steps, which reads as tens of MiB of growth that is no tensor's.
"""

from __future__ import annotations

import ctypes
import json
import resource
import sys
import threading
import time

import torch

from compute_market.jobspec import ConstantSchedule, JobSpec, MlpSpec, SgdSpec
from compute_market.worker import datasets
from compute_market.worker.trainer import Trainer


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _dataset(spec: JobSpec, n: int) -> datasets.Dataset:
    m, g = spec.model, torch.Generator().manual_seed(0)
    if m.KIND == "mlp":
        x = torch.randn(n, m.input_dim, generator=g)
    elif m.KIND == "cnn":
        x = torch.randn(n, m.in_channels, m.image_size, m.image_size, generator=g)
    else:
        x = torch.randint(0, m.vocab_size, (n, m.seq_len), generator=g)
    y = torch.randint(0, m.num_classes, (n, m.seq_len) if m.KIND == "gpt" else (n,), generator=g)
    return datasets.Dataset(x, y, x[:4].clone(), y[:4].clone())


def main(spec_json: str, steps: int) -> None:
    spec = JobSpec.from_json(spec_json)
    ds = _dataset(spec, 2 * spec.batch_size)
    tiny = JobSpec(
        MlpSpec(8, (16,), 3),
        bytes(32),
        SgdSpec(0.1, 0.0, 0.0),
        ConstantSchedule(),
        batch_size=8,
        steps=4,
        seed=1,
        checkpoint_interval=2,
    )
    for _ in Trainer(tiny, _dataset(tiny, 16), checkpoints=False, background=False).run():
        pass
    try:
        ctypes.CDLL(None, use_errno=True).mlockall(1)  # MCL_CURRENT; refused without CAP_IPC_LOCK: fine
    except (OSError, AttributeError):
        pass
    base, anon_base = _rss(), _anon()
    sampler = _AnonPeak()
    sampler.start()
    trainer = Trainer(spec, ds, checkpoints=False, background=False)
    start = time.perf_counter()
    for _ in trainer.run(until=steps):
        pass
    elapsed = time.perf_counter() - start
    sampler.done.set()
    sampler.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "base": base,
                "peak": peak,
                "anon_base": anon_base,
                "anon_peak": sampler.peak,
                "seconds_per_step": elapsed / steps,
            }
        )
    )


def _anon() -> int:
    """Anonymous resident memory (heap, tensors): unlike RSS, never pages of a library faulted back in."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


class _AnonPeak(threading.Thread):
    """Samples RssAnon every 0.2 ms while the steps run and keeps the largest value."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.done = threading.Event()
        self.peak = _anon()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, _anon())
            time.sleep(0.0002)
        self.peak = max(self.peak, _anon())


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
