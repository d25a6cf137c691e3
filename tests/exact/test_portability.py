"""Portable exact mode: the reference jobs' H[0..N] are the package's reference hashes on this CPU, at 1,
2 and 4 threads, under every torch dispatch level and vendor-library setting, after a caller changed
torch's process settings, and under emulated Intel and AMD CPUs; a CPU without AVX2 is refused clearly.

The emulation tests run `qemu-x86_64 -cpu MODEL` (Debian's qemu-user; `.ci/run` installs it): user-mode
emulation executes the same Python, torch and kernel binaries with the emulated CPU's CPUID and
instruction set, so torch's dispatch and every library's runtime CPU detection choose what they would on
that CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from compute_market import adversary
from compute_market.worker import selftest
from compute_market.worker.trainer import Trainer, train

ROOT = Path(__file__).resolve().parents[2]
QEMU = shutil.which("qemu-x86_64")
EMULATED_TIMEOUT = 600


def reference() -> dict[str, list[str]]:
    return selftest.load_reference()


def run_selftest_process(
    *prefix: str, env: dict[str, str] | None = None, threads: int = 1, code: str | None = None
) -> subprocess.CompletedProcess:
    argv = [*prefix, sys.executable, "-m", "compute_market.worker.selftest", str(threads)]
    if code is not None:
        argv = [*prefix, sys.executable, "-c", code]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=EMULATED_TIMEOUT,
        env={**os.environ, **(env or {})},
    )


def assert_reference(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == reference()


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_reference_hashes_at_every_thread_count(threads, monkeypatch):
    from compute_market.worker.exact import native

    monkeypatch.setattr(native, "MIN_PARALLEL_WORK", 1)  # split every kernel call the tiny jobs make
    monkeypatch.setattr(native, "MIN_GEMM_SPLIT_WORK", 1)
    before = native.threads.split_calls
    assert selftest.compare(selftest.compute_all(threads), reference()) == []
    assert (native.threads.split_calls > before) == (threads > 1)  # the work really was split
    native.threads.set(1)


@pytest.mark.parametrize(
    "env",
    [
        {"ATEN_CPU_CAPABILITY": "default"},
        {"ATEN_CPU_CAPABILITY": "avx2"},
        {"ATEN_CPU_CAPABILITY": "avx512"},
        {"ONEDNN_MAX_CPU_ISA": "AVX2"},
        {"ONEDNN_MAX_CPU_ISA": "SSE41"},
        {"DNNL_MAX_CPU_ISA": "SSE41"},
        {"MKL_CBWR": "COMPATIBLE"},
        {"MKL_CBWR": "AVX2"},
        {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"},
    ],
    ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()),
)
def test_reference_hashes_under_dispatch_and_vendor_library_settings(env):
    assert_reference(run_selftest_process(env=env, threads=2))


HOSTILE_CALLER = """
import json, torch
from compute_market.worker.exact import native
native.MIN_PARALLEL_WORK = native.MIN_GEMM_SPLIT_WORK = 1
torch.set_float32_matmul_precision("medium")
torch.backends.mkldnn.matmul.fp32_precision = "bf16"
torch.set_flush_denormal(True)
torch.set_num_threads(2)
torch.use_deterministic_algorithms(False)
from compute_market.worker import selftest
print(json.dumps(selftest.compute_all(3), sort_keys=True))
"""


def test_a_caller_that_changed_torch_settings_first_cannot_change_the_hashes():
    assert_reference(run_selftest_process(code=HOSTILE_CALLER))


def test_settings_changed_after_the_trainer_was_built_do_not_leak_in():
    spec, ds = selftest.reference_jobs()["transformer-adamw-constant"]
    trainer = Trainer(spec, ds, checkpoints=False)
    torch.set_num_threads(2)
    torch.set_flush_denormal(True)
    try:
        hashes = [r.state_hash.hex() for r in trainer.run()]
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(1)
    assert hashes == reference()["transformer-adamw-constant"]


needs_qemu = pytest.mark.skipif(
    QEMU is None and not os.environ.get("CI"),
    reason="qemu-x86_64 (Debian's qemu-user) is not installed; .ci/run installs it",
)


def emulated(cpu: str) -> tuple[str, ...]:
    assert QEMU is not None, "qemu-x86_64 is missing: CI must install qemu-user"
    return (QEMU, "-cpu", cpu)


@pytest.fixture(scope="module", autouse=True)
def kernels_built():
    """Build the kernels natively once, so emulated processes load them instead of running gcc emulated."""
    from compute_market.worker.exact import native

    native.library()


@pytest.mark.slow
@needs_qemu
@pytest.mark.parametrize("cpu", ["Haswell", "EPYC-Rome"])
def test_emulated_intel_and_amd_cpus_give_the_reference_hashes(cpu):
    assert_reference(run_selftest_process(*emulated(cpu)))


@pytest.mark.slow
@needs_qemu
def test_a_cpu_without_avx2_is_refused_with_a_clear_error():
    """Sandy Bridge has AVX but neither AVX2 nor FMA3. (QEMU's Nehalem and Westmere models cannot run
    numpy 2.4 at all, which dies with SIGILL on import, before anything of ours runs.)"""
    done = run_selftest_process(*emulated("SandyBridge"))
    assert done.returncode != 0
    assert "EnvironmentRefused" in done.stderr
    assert "lacks an instruction" in done.stderr and "AVX2" in done.stderr


REFEREE = """
import sys
from compute_market.worker import selftest
from compute_market.worker.trainer import recompute_step
spec, ds = selftest.reference_jobs()[sys.argv[1]]
state = open(sys.argv[2], "rb").read()
print(recompute_step(spec, ds, state, bytes.fromhex(sys.argv[3])).hex())
"""


@pytest.mark.slow
@needs_qemu
def test_a_referee_on_an_emulated_cpu_confirms_the_honest_step_of_a_host_dispute(tmp_path):
    """The solver cheats after step 3 on this host; the bisection agreed on H[3] and disputes H[4]. A
    referee on an emulated AMD CPU recomputes step 4 from the solver's published state at 3 and gets the
    honest H[4] of an honest host run, not the cheater's."""
    job = "cnn-sgd-step"
    spec, ds = selftest.reference_jobs()[job]
    honest = train(spec, ds)
    cheat = adversary.FaultyTrainer(spec, ds, fault=adversary.Fault(after_step=3, epsilon=1e-3))
    cheat_hashes = [r.state_hash for r in cheat.run(until=3)]
    state_at_3 = cheat.checkpoint()
    cheat_h4 = [r.state_hash for r in cheat.run(until=4)][-1]
    assert cheat_hashes[3] == honest.hashes[3] and cheat_h4 != honest.hashes[4]
    (tmp_path / "state").write_bytes(state_at_3)
    argv = [
        *emulated("EPYC-Rome"),
        sys.executable,
        "-c",
        REFEREE,
        job,
        str(tmp_path / "state"),
        honest.hashes[3].hex(),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=EMULATED_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert bytes.fromhex(done.stdout.strip().splitlines()[-1]) == honest.hashes[4]
