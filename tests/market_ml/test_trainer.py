"""Exact-mode training: identical hashes for identical specs, every bit of state bound, replay and
one-step recomputation agreeing with the original run, faults visible from exactly the faulty step."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import blake3
import numpy as np
import pytest
import safetensors.torch
import torch

from compute_market import adversary
from compute_market.commitment import StepCommitment, segment_bounds
from compute_market.jobspec import JobSpec, MlpSpec, SgdSpec
from compute_market.worker import trainer
from compute_market.worker.datasets import gaussian_blobs
from compute_market.worker.trainer import (
    CheckpointError,
    DataOrder,
    StateMismatch,
    Trainer,
    recompute_step,
    replay_segment,
    state_hash,
    train,
)

from .conftest import small_job

ROOT = Path(__file__).resolve().parents[2]


def test_two_runs_of_one_spec_give_identical_hashes(job):
    spec, ds = job
    first, second = train(spec, ds), train(spec, ds)
    assert first.hashes == second.hashes
    assert len(first.hashes) == spec.steps + 1 and len(set(first.hashes)) == spec.steps + 1
    assert first.root == StepCommitment(first.hashes).root
    assert first.final_model_hash == second.final_model_hash
    assert sorted(first.checkpoints) == [4, 8, 12]
    assert 0.0 <= first.accuracy <= 1.0


def test_background_and_inline_hashing_agree_with_the_reference_function(job):
    spec, ds = job
    background = [r.state_hash for r in Trainer(spec, ds, background=True).run()]
    inline = [r.state_hash for r in Trainer(spec, ds, background=False).run()]
    assert background == inline
    stepwise = Trainer(spec, ds)
    for s in range(1, spec.steps + 1):
        *_, last = stepwise.run(until=s)
        assert last.state_hash == state_hash(s, stepwise.model, stepwise.optimizer) == background[s]


def test_state_hash_byte_layout_is_pinned():
    spec, ds = small_job("mlp")
    spec = JobSpec(MlpSpec(8, (), 3), spec.dataset_hash, SgdSpec(0.1, 0.9, 0.0), spec.schedule, 24, 12, 5, 4)
    t = Trainer(spec, ds)
    *_, last = t.run(until=2)

    def header(x: torch.Tensor) -> bytes:
        head = bytes([len("float32") << 2]) + b"float32" + bytes([x.dim() << 2])
        return head + b"".join(struct.pack("<Q", d) for d in x.shape)

    params = sorted(t.model.named_parameters())
    buffers = [t.optimizer.state[p]["momentum_buffer"] for _, p in params]
    data = b"gradchain/state/v3" + struct.pack("<Q", 2) + bytes([len(params) << 2])
    for name, p in params:
        data += bytes([len(name) << 2]) + name.encode() + header(p)
    for (name, _), buf in zip(params, buffers, strict=True):
        data += (
            bytes([len(name) << 2]) + name.encode() + b"\x04" + b"\x3cmomentum_buffer" + b"\x00" + header(buf)
        )
    for x in [p for _, p in params] + buffers:  # then the data, in the headers' order
        data += x.detach().numpy().tobytes()
    assert last.state_hash == blake3.blake3(data).digest()
    assert t.arena.buffer is not None, "the trainer's state is not in an arena: the hash copied it"


def state_arrays(t: Trainer) -> list[tuple[str, np.ndarray]]:
    arrays = [(name, p.detach().numpy()) for name, p in t.model.named_parameters()]
    for name, p in t.model.named_parameters():
        arrays += [(f"{name}/{key}", v.numpy()) for key, v in t.optimizer.state[p].items()]
    return arrays


def test_flipping_any_bit_of_the_state_changes_the_hash(job):
    spec, ds = job
    t = Trainer(spec, ds)
    list(t.run(until=3))
    honest = t.state_hash()
    rng = np.random.default_rng(0)
    arrays = state_arrays(t)
    assert any("exp_avg_sq" in n or "momentum_buffer" in n for n, _ in arrays)
    for name, array in arrays:
        raw = array.reshape(-1).view(np.uint8) if array.ndim else array.reshape(1).view(np.uint8)
        for position in {0, raw.size - 1, int(rng.integers(raw.size))}:
            bit = np.uint8(1 << int(rng.integers(8)))
            raw[position] ^= bit
            assert t.state_hash() != honest, f"flip in {name} byte {position} went unnoticed"
            raw[position] ^= bit
    assert t.state_hash() == honest
    t.step += 1
    assert t.state_hash() != honest


def test_replay_of_every_segment_from_its_checkpoint_matches(job):
    spec, ds = job
    run = train(spec, ds)
    for j in range(spec.checkpoint_count):
        lo, hi = segment_bounds(spec.steps, spec.checkpoint_interval, j)
        assert replay_segment(spec, ds, run.checkpoints.get(lo), hi) == run.hashes[lo : hi + 1]


def test_recompute_step_from_a_mid_run_state_matches(job):
    spec, ds = job
    t = Trainer(spec, ds)
    hashes = [r.state_hash for r in t.run(until=6)]
    state_at_6 = t.checkpoint()
    following = [r.state_hash for r in t.run(until=7)]
    assert following[0] == hashes[6]
    assert recompute_step(spec, ds, state_at_6, expected_hash=hashes[6]) == following[1]


def test_recompute_of_the_first_step_derives_the_initial_state_from_the_spec():
    spec, ds = small_job("mlp")
    run = train(spec, ds)
    assert recompute_step(spec, ds, None, expected_hash=run.hashes[0]) == run.hashes[1]
    with pytest.raises(StateMismatch, match="not the agreed"):  # a solver's H[0] that is not the spec's
        recompute_step(spec, ds, None, expected_hash=run.hashes[1])


def test_invalid_recompute_from_a_state_that_is_not_the_agreed_one():
    spec, ds = small_job("mlp")
    run = train(spec, ds)
    with pytest.raises(StateMismatch, match="not the agreed"):
        recompute_step(spec, ds, run.checkpoints[4], expected_hash=run.hashes[5])


@pytest.mark.parametrize("after_step", [0, 4, 7])
def test_fault_changes_exactly_the_hashes_after_it(after_step):
    spec, ds = small_job("transformer")
    honest = train(spec, ds).hashes
    cheat = adversary.train(spec, ds, fault=adversary.Fault(after_step=after_step, epsilon=1e-4)).hashes
    assert cheat[: after_step + 1] == honest[: after_step + 1]
    assert all(c != h for c, h in zip(cheat[after_step + 1 :], honest[after_step + 1 :], strict=True))


def test_referee_recompute_exposes_the_faulty_step():
    spec, ds = small_job("cnn")
    honest = train(spec, ds)
    cheat = adversary.train(spec, ds, fault=adversary.Fault(after_step=5))
    t = Trainer.from_checkpoint(spec, ds, cheat.checkpoints[4])
    *_, at_5 = t.run(until=5)
    assert at_5.state_hash == cheat.hashes[5] == honest.hashes[5]
    assert recompute_step(spec, ds, t.checkpoint(), cheat.hashes[5]) == honest.hashes[6] != cheat.hashes[6]


def test_data_order_visits_every_example_once_per_epoch():
    order = DataOrder(seed=3, n_train=10, batch_size=4)
    seen = torch.cat([order.indices(s) for s in range(1, 6)])
    assert sorted(seen[:10].tolist()) == list(range(10)) and sorted(seen[10:20].tolist()) == list(range(10))
    assert torch.equal(DataOrder(3, 10, 4).indices(3), order.indices(3))


def test_invalid_checkpoints_are_rejected():
    spec, ds = small_job("mlp")
    good = train(spec, ds).checkpoints[4]
    tensors = safetensors.torch.load(good)
    other_spec, _ = small_job("mlp", steps=13)

    def without(name: str) -> bytes:
        return safetensors.torch.save({k: v for k, v in tensors.items() if k != name})

    def replaced(name: str, value: torch.Tensor) -> bytes:
        return safetensors.torch.save({**tensors, name: value})

    cases = [
        (b"garbage", "not a valid safetensors"),
        (without("param/net.0.weight"), "missing \\['param/net.0.weight'\\]"),
        (replaced("param/net.0.weight", torch.zeros(3, 3)), "net.0.weight/param"),
        (replaced("optim/net.0.bias/step", torch.tensor(9.0)), "net.0.bias/step is 9.0"),
        (replaced("meta/step", torch.tensor(99)), "outside 0..12"),
        (replaced("extra", torch.zeros(1)), "unexpected \\['extra'\\]"),
    ]
    for blob, message in cases:
        with pytest.raises(CheckpointError, match=message):
            Trainer.from_checkpoint(spec, ds, blob)
    with pytest.raises(CheckpointError, match="does not name this spec"):
        Trainer.from_checkpoint(other_spec, ds, good)


def test_exact_mode_is_pinned_in_the_process():
    spec, ds = small_job("mlp")
    Trainer(spec, ds)
    assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()


def test_training_actually_learns():
    ds = gaussian_blobs(1, 512, 128, 8, 3)
    spec, _ = small_job("mlp", steps=60, interval=20)
    spec = JobSpec(spec.model, spec.dataset_hash, spec.optimizer, spec.schedule, 32, 60, 5, 20)
    assert train(spec, ds).accuracy > 0.8


REPRO = """
import sys
sys.path.insert(0, {root!r})
from tests.market_ml.conftest import small_job
from compute_market.worker.trainer import train
spec, ds = small_job("transformer")
print(b"".join(train(spec, ds).hashes).hex())
"""


def test_two_independent_processes_give_identical_hashes():
    code = REPRO.format(root=str(ROOT))
    outputs = [
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env=dict(os.environ, PYTHONHASHSEED=str(seed)),
        ).stdout.strip()
        for seed in (1, 2)
    ]
    spec, ds = small_job("transformer")
    assert outputs[0] == outputs[1] == b"".join(train(spec, ds).hashes).hex()


def test_trainer_refuses_to_run_past_the_spec():
    spec, ds = small_job("mlp")
    with pytest.raises(trainer.TrainerError, match="cannot train from step 0 to step 13"):
        list(Trainer(spec, ds).run(until=13))
