"""Exact-mode costs, printed as one JSON object (docs/design.md, section 7: hashing must cost a few percent of training).

- solver overhead: the same run trained with no hashing and with per-step state hashes + checkpoints, for
  an MLP and the small transformer. Runs are interleaved (alternating order) and `overhead_share` compares
  the medians of the repetitions, so both variants see the same machine. `critical_path_share` is the
  instrumented share of the run the training thread spent on commitments (waiting for a state hash,
  writing checkpoints): the overhead without the timing noise of a shared machine. Overheads include
  checkpoints at the default interval (32 segments). `overhead_share_inline_hashing` is what hashing
  costs when done on the training thread, for comparison with the background-thread design.
- verifier cost: replaying the pallet's default q = 2 segments of the default 32 (from the solver's
  checkpoints), as a share of the solver's whole run.
- referee: `recompute_step` from a published state (check H[s], one step, hash H[s+1]), against one
  training step plus two state hashes.
- reproducibility: two independently started Python processes train one spec; their H[0..T] must match.
- portable exact mode (`portable`): a training step of portable exact mode (our kernels) against plain
  PyTorch training of the same model, parameters, data and thread count (torch's own kernels, AdamW,
  F.cross_entropy), at 1 and 2 threads, interleaved, medians. Plain PyTorch at one thread is also what
  exact mode computed with before the portable kernels (torch's kernels, one intra-op thread,
  deterministic algorithms), so `portable_over_plain` at 1 thread is the ratio to the old exact mode.
  `state_hash` compares BLAKE3 (the state layout v3, hashed in place from the trainer's arena) with
  blake2b (v1) over the same bytes on the MLP at batch 128, as a share of one step.

Usage: python benchmarks/bench_trainer.py [--quick] [--only portable]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from compute_market.commitment import sample_segments, segment_bounds  # noqa: E402
from compute_market.jobspec import (  # noqa: E402
    AdamWSpec,
    CnnSpec,
    CosineSchedule,
    JobSpec,
    MlpSpec,
    TransformerSpec,
    default_checkpoint_interval,
)
from compute_market.worker import datasets, trainer  # noqa: E402


def workloads(quick: bool) -> list[tuple[str, datasets.Dataset, JobSpec]]:
    steps = 100 if quick else 200
    digits = datasets.synthetic_digits(1, 8192, 1024, 8, 10)
    flat = datasets.Dataset(
        digits.x_train.flatten(1), digits.y_train, digits.x_test.flatten(1), digits.y_test
    )
    seq = datasets.majority_tokens(2, 8192, 1024, 32, 8)
    adamw = AdamWSpec(1e-3, 0.9, 0.999, 1e-8, 0.01)
    out = []
    for name, ds, model, batch in (
        ("mlp", flat, MlpSpec(64, (256, 256), 10), 1024),
        ("transformer", seq, TransformerSpec(8, 32, 64, 4, 2, 128, 8), 128),
        ("mlp_small_batch_hash_bound", flat, MlpSpec(64, (256, 256), 10), 32),
    ):
        t = steps if name != "transformer" else steps // 2
        spec = JobSpec(
            model,
            datasets.dataset_hash(ds.to_bytes()),
            adamw,
            CosineSchedule(0.0, 10),
            batch,
            t,
            7,
            default_checkpoint_interval(t),
        )
        out.append((name, ds, spec))
    return out


MODES = {"none": {"hashing": False}, "inline": {"background": False}, "background": {"background": True}}


def timed_run(spec: JobSpec, ds: datasets.Dataset, mode: str) -> tuple[float, trainer.Trainer, list]:
    tr = trainer.Trainer(spec, ds, **MODES[mode])
    start = time.perf_counter()
    records = list(tr.run())
    return time.perf_counter() - start, tr, records


def solver_overhead(name: str, ds: datasets.Dataset, spec: JobSpec, reps: int) -> dict:
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    critical: list[float] = []
    order = list(MODES)
    for rep in range(reps):
        for mode in order if rep % 2 == 0 else order[::-1]:  # alternate, so no mode always runs first
            elapsed, tr, records = timed_run(spec, ds, mode)
            times[mode].append(elapsed)
            if mode == "background":
                critical.append((tr.hash_s + tr.checkpoint_s) / elapsed)
                kept_tr, kept_records = tr, records
    tr, records = kept_tr, kept_records
    start = time.perf_counter()
    for _ in range(20):
        tr.state_hash()
    hash_ms = (time.perf_counter() - start) / 20 * 1e3
    t_base, t_inline, t_hash = (statistics.median(times[m]) for m in ("none", "inline", "background"))
    checkpoints = {r.step: r.checkpoint for r in records if r.checkpoint is not None}
    hashes = [r.state_hash for r in records]
    # verifier: the pallet's default q = 2 of the default 32 segments, drawn as the pallet would and
    # replayed from the solver's checkpoints (median of three verifications)
    segments = sample_segments(b"bench-randomness", spec.checkpoint_count, 2)
    verify_times, replay_ok = [], True
    for _ in range(3):
        start = time.perf_counter()
        for j in segments:
            lo, hi = segment_bounds(spec.steps, spec.checkpoint_interval, j)
            replay = trainer.replay_segment(spec, ds, checkpoints.get(lo), hi)
            replay_ok &= replay == hashes[lo : hi + 1]
        verify_times.append(time.perf_counter() - start)
    t_verify = statistics.median(verify_times)
    # referee: from the published state at s, check H[s], train one step, hash H[s+1] (model build included)
    s_ref = sorted(checkpoints)[-2]  # a checkpoint before the last step
    referee_times = []
    for _ in range(5):
        start = time.perf_counter()
        vote = trainer.recompute_step(spec, ds, checkpoints[s_ref], hashes[s_ref])
        referee_times.append(time.perf_counter() - start)
    referee_ms = statistics.median(referee_times) * 1e3
    return {
        "model": name,
        "parameters": spec.model.parameter_count,
        "batch_size": spec.batch_size,
        "steps": spec.steps,
        "checkpoint_interval": spec.checkpoint_interval,
        "state_bytes": sum(p.numel() * 4 * 3 for p in tr.model.parameters()),
        "train_s_no_hashing_median": round(t_base, 4),
        "train_s_with_hashing_median": round(t_hash, 4),
        "train_ms_per_step": round(t_base / spec.steps * 1e3, 3),
        "state_hash_ms": round(hash_ms, 3),
        "overhead_share": round((t_hash - t_base) / t_base, 4),
        "critical_path_share": round(statistics.median(critical), 4),
        "overhead_share_inline_hashing": round((t_inline - t_base) / t_base, 4),
        "all_runs_s": {mode: [round(x, 4) for x in v] for mode, v in times.items()},
        "verifier_q": len(segments),
        "verifier_steps_replayed": len(segments) * spec.checkpoint_interval,
        "verifier_share_of_solver": round(t_verify / t_hash, 4),
        "verifier_replay_matches": replay_ok,
        "referee_ms": round(referee_ms, 3),
        "referee_vote_matches": vote == hashes[s_ref + 1],
        "referee_ms_over_one_step_plus_two_hashes": round(
            referee_ms / (t_base / spec.steps * 1e3 + 2 * hash_ms), 3
        ),
        "test_accuracy": round(tr.evaluate(), 4),
    }


def plain_forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The registry model computed by torch's own kernels (the baseline portable mode is compared with)."""
    if hasattr(model, "net"):
        return model.net(x.flatten(1))
    if hasattr(model, "features"):
        return model.head(model.features(x))
    n, t = x.shape
    h = model.tokens(x) + model.positions(torch.arange(t))
    for b in model.blocks:
        d, heads = h.shape[-1], b.num_heads
        q, k, v = b.qkv(b.ln1(h)).view(n, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        w = torch.softmax(q @ k.transpose(-2, -1) * (1.0 / (d // heads) ** 0.5), dim=-1)
        h = h + b.proj((w @ v).transpose(1, 2).reshape(n, t, d))
        h = h + b.ff2(torch.relu(b.ff1(b.ln2(h))))
    return model.head(model.ln(h).mean(dim=1))


def _median_step_s(run_steps, steps: int, reps: int) -> float:
    return statistics.median(run_steps() for _ in range(reps)) / steps


def portable_vs_plain(name: str, ds: datasets.Dataset, spec: JobSpec, steps: int, reps: int) -> dict:
    out: dict = {"model": name, "batch_size": spec.batch_size, "steps_timed": steps}
    for threads in (1, 2):

        def portable(threads: int = threads) -> float:
            tr = trainer.Trainer(spec, ds, hashing=False, threads=threads)
            start = time.perf_counter()
            for _ in tr.run(until=steps):
                pass
            return time.perf_counter() - start

        def plain(threads: int = threads) -> float:
            tr = trainer.Trainer(spec, ds, hashing=False)
            torch.set_num_threads(threads)
            model, o = tr.model, spec.optimizer
            opt = torch.optim.AdamW(
                model.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps, weight_decay=o.weight_decay
            )
            start = time.perf_counter()
            for s in range(1, steps + 1):
                idx = tr.order.indices(s)
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(plain_forward(model, ds.x_train[idx]), ds.y_train[idx]).backward()
                opt.step()
            elapsed = time.perf_counter() - start
            torch.set_num_threads(1)
            return elapsed

        times: dict[str, list[float]] = {"portable": [], "plain": []}
        for rep in range(reps):
            for label, fn in (
                (("portable", portable), ("plain", plain))
                if rep % 2 == 0
                else (("plain", plain), ("portable", portable))
            ):
                times[label].append(fn() / steps)
        p, q = statistics.median(times["portable"]), statistics.median(times["plain"])
        out[f"threads_{threads}"] = {
            "portable_ms_per_step": round(p * 1e3, 3),
            "plain_ms_per_step": round(q * 1e3, 3),
            "portable_over_plain": round(p / q, 3),
        }
    one, two = out["threads_1"]["portable_ms_per_step"], out["threads_2"]["portable_ms_per_step"]
    out["portable_2_threads_speedup"] = round(one / two, 3)
    return out


def state_hash_cost(ds: datasets.Dataset, spec: JobSpec) -> dict:
    """BLAKE3 (state layout v3, through the trainer's own StateHasher and arena) against blake2b (v1) over the same
    bytes, per step of the MLP at batch 128; steps and hashes are timed in alternation, medians of 7."""
    spec = JobSpec(
        spec.model,
        spec.dataset_hash,
        spec.optimizer,
        spec.schedule,
        spec.batch_size,
        200,
        spec.seed,
        spec.checkpoint_interval,
    )  # enough steps for the timed rounds
    tr = trainer.Trainer(spec, ds, hashing=False)
    steps = tr.run(until=spec.steps)
    next(steps)
    next(steps)  # the optimizer state exists from here on
    tr.arena.pack()  # as a hashing trainer does: the state in one buffer, hashed in place
    hasher = tr.hasher
    hasher.hash(tr.step)
    plan = [hasher._headers, *hasher._data]

    def per_call_ms(fn, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n * 1e3

    def blake2b() -> bytes:
        h = hashlib.blake2b(digest_size=32)
        h.update(b"".join(plan))
        return h.digest()

    step_ms, b3, b2 = [], [], []
    for _ in range(7):
        step_ms.append(per_call_ms(lambda: next(steps), 20))
        b3.append(per_call_ms(lambda: hasher.hash(tr.step), 50))
        b2.append(per_call_ms(blake2b, 20))
    step, b3_ms, b2_ms = (statistics.median(v) for v in (step_ms, b3, b2))
    return {
        "model": "mlp",
        "batch_size": spec.batch_size,
        "state_bytes": sum(len(c) for c in plan),
        "hashed_in_place": hasher._run is not None,
        "step_ms": round(step, 3),
        "blake3_ms": round(b3_ms, 3),
        "blake2b_ms": round(b2_ms, 3),
        "blake3_share_of_step": round(b3_ms / step, 4),
        "blake2b_share_of_step": round(b2_ms / step, 4),
        "blake3_speedup": round(b2_ms / b3_ms, 2),
    }


def portable(quick: bool, reps: int) -> dict:
    loads = {name: (ds, spec) for name, ds, spec in workloads(quick)}
    steps = 20 if quick else 40
    ds, mlp = loads["mlp"]
    mlp128 = JobSpec(
        mlp.model,
        mlp.dataset_hash,
        mlp.optimizer,
        mlp.schedule,
        128,
        mlp.steps,
        mlp.seed,
        mlp.checkpoint_interval,
    )
    digits = datasets.synthetic_digits(3, 4096, 256, 16, 10)
    cnn = JobSpec(
        CnnSpec(1, 16, (16, 32), 3, 128, 10),
        datasets.dataset_hash(digits.to_bytes()),
        mlp.optimizer,
        mlp.schedule,
        64,
        100,
        7,
        10,
    )
    cases = [
        ("mlp", ds, mlp),
        ("mlp_batch_128", ds, mlp128),
        ("cnn", digits, cnn),
        ("transformer", *loads["transformer"]),
    ]
    return {
        "workloads": [portable_vs_plain(name, d, spec, steps, max(2, reps // 2)) for name, d, spec in cases],
        "state_hash": state_hash_cost(ds, mlp128),
    }


REPRO_SCRIPT = """
from compute_market.jobspec import JobSpec, TransformerSpec, AdamWSpec, StepSchedule
from compute_market.worker import datasets, trainer
ds = datasets.majority_tokens(5, 512, 64, 16, 6)
spec = JobSpec(TransformerSpec(6, 16, 32, 2, 1, 64, 6), datasets.dataset_hash(ds.to_bytes()),
               AdamWSpec(3e-3, 0.9, 0.99, 1e-8, 0.0), StepSchedule(10, 0.5), 16, 30, 11, 10)
print(b"".join(trainer.train(spec, ds).hashes).hex())
"""


def reproducibility() -> dict:
    env = dict(os.environ, PYTHONHASHSEED="random")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outs = [
        subprocess.run(
            [sys.executable, "-c", REPRO_SCRIPT],
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
            env=env,
        ).stdout.strip()
        for _ in range(2)
    ]
    return {"processes": 2, "steps": 30, "identical_hashes": outs[0] == outs[1] and len(outs[0]) == 31 * 64}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("portable",), help="run one section only")
    args = parser.parse_args()
    reps = 2 if args.quick else 6
    started = time.perf_counter()
    report: dict = {
        "benchmark": "exact_mode_trainer",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "reps": reps,
    }
    if args.only is None:
        report["workloads"] = [
            solver_overhead(name, ds, spec, reps) for name, ds, spec in workloads(args.quick)
        ]
        report["reproducibility"] = reproducibility()
    report["portable"] = portable(args.quick, reps)
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
