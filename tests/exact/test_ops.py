"""Exact-mode operators: each kernel does exactly the arithmetic its documentation states (bit for bit
against a numpy re-enactment of the order), agrees with torch's own operator to float32 accuracy, and
gives the same bits at every thread count and on every code path (vector tiles and scalar edges)."""

from __future__ import annotations

import math
import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from compute_market.worker.exact import native, ops, rng


@pytest.fixture(autouse=True)
def one_thread():
    native.threads.set(1)
    yield
    native.threads.set(1)


def fma_f32(a: np.float32, b: np.float32, c: np.float32) -> np.float32:
    """IEEE-754 fusedMultiplyAdd in binary32, round to nearest even, from the exact rational a*b + c."""
    exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    if exact == 0:  # an exact zero is -0 only when the product and c are both -0
        negative = (
            math.copysign(1.0, float(a)) * math.copysign(1.0, float(b)) < 0
            and math.copysign(1.0, float(c)) < 0
        )
        return np.float32(-0.0 if negative else 0.0)
    mag = abs(exact)
    e = mag.numerator.bit_length() - mag.denominator.bit_length()
    if Fraction(2) ** e > mag:
        e -= 1
    ulp = Fraction(2) ** (max(e, -126) - 23)
    q, rest = divmod(mag, ulp)
    if rest * 2 > ulp or (rest * 2 == ulp and q % 2 == 1):
        q += 1
    value = float(q * ulp)
    return np.float32(-value if exact < 0 else value)  # representable in float32 (overflow becomes inf)


def reference_gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """acc = +0.0; for k in order: acc = fma(a[i, k], b[k, j], acc), one rounding per k."""
    acc = np.zeros((a.shape[0], b.shape[1]), dtype=np.float32)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            for k in range(a.shape[1]):
                acc[i, j] = fma_f32(a[i, k], b[k, j], acc[i, j])
    return acc


def random(key: int, *shape: int) -> torch.Tensor:
    return torch.from_numpy(rng.normal_approx(key, math.prod(shape))).view(*shape)


def test_reference_fma_rounds_once():
    one, tiny = np.float32(1.0), np.float32(2.0**-24)
    assert fma_f32(one + tiny * 2, one - tiny * 2, np.float32(-1.0)) == np.float32(
        -(2.0**-46)
    )  # (1 - 2^-46) - 1
    assert fma_f32(np.float32(-0.0), one, np.float32(-0.0)).tobytes() == np.float32(-0.0).tobytes()
    assert fma_f32(np.float32(0.0), one, np.float32(-0.0)).tobytes() == np.float32(0.0).tobytes()


@pytest.mark.parametrize(
    "m,n,k", [(1, 1, 1), (4, 16, 3), (7, 23, 19), (13, 40, 24), (5, 8, 1), (9, 33, 70), (4, 70, 5)]
)
def test_gemm_is_the_documented_left_to_right_sum(m, n, k):
    a, b = random(1, m, k), random(2, k, n)
    expected = reference_gemm(a.numpy(), b.numpy())
    got = ops.gemm(a, b).numpy()
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))
    transposed = ops.gemm(a.t().contiguous().t(), b).numpy()  # strided A takes the same path
    assert np.array_equal(transposed.view(np.uint32), expected.view(np.uint32))


def test_gemm_keeps_the_sign_of_zero_sums_fixed():
    a, b = torch.tensor([[-0.0]]), torch.tensor([[1.0]])
    assert math.copysign(1.0, float(ops.gemm(a, b))) == 1.0  # +0.0 + (-0.0) = +0.0, by the documented start


@pytest.mark.parametrize("m,n,k", [(8, 64, 9), (13, 100, 37), (4, 32, 1), (6, 96, 130)])
def test_wide_and_narrow_gemm_tiles_give_the_same_bits(m, n, k):
    """On an AVX-512 CPU the GEMM's 4x32 tile runs; it must give the AVX2 tile's bits (what an AVX2-only CPU
    computes). Elsewhere both runs take the AVX2 tile, and the test still pins the switch."""
    lib = native.library()
    a, b = random(11, m, k), random(12, k, n)
    try:
        lib.gx_set_wide_tiles(0)
        narrow = ops.gemm(a, b)
    finally:
        lib.gx_set_wide_tiles(1)
    wide = ops.gemm(a, b)
    assert torch.equal(narrow.view(torch.int32), wide.view(torch.int32))


def test_vector_exp_is_the_scalar_exp_bit_for_bit():
    """exp's 4-lane form (softmax, cross-entropy, exp_array) against its one-at-a-time scalar tail, over a
    sweep of every float32 exponent and sign, the cut-offs and the special values."""
    lib = native.library()
    x = (np.arange(0, 1 << 32, 4099, dtype=np.uint64).astype(np.uint32)).view(np.float32)
    specials = [89.0, -104.0, 88.99, -103.99, 88.73, -87.33, np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-45]
    x = np.concatenate([x, np.array(specials, np.float32)])
    vector, scalar = np.empty_like(x), np.empty_like(x)
    lib.gx_exp_array(len(x), x.ctypes.data, vector.ctypes.data)
    for i in range(len(x)):
        lib.gx_exp_array(1, x[i:].ctypes.data, scalar[i:].ctypes.data)
    assert np.array_equal(vector.view(np.uint32), scalar.view(np.uint32))


def test_kernel_library_has_no_libm_and_fuses_only_in_the_gemm():
    """The built library links no libm function (sqrt is the instruction) and its fused multiply-adds are
    all in gx_gemm, where they are written explicitly."""
    objdump = shutil.which("objdump")
    assert objdump, "objdump (binutils, installed with gcc) is needed to inspect the kernels"
    path = native.library()._name
    imports = subprocess.run([objdump, "-T", path], capture_output=True, text=True, check=True).stdout
    undefined = {line.split()[-1] for line in imports.splitlines() if "*UND*" in line}
    allowed = {
        "memset",
        "memcpy",
        "__cxa_finalize",
        "__gmon_start__",
        "_ITM_deregisterTMCloneTable",
        "_ITM_registerTMCloneTable",
        "__register_atfork",
        "clock_gettime",
        "sched_yield",
    }  # libc; threads: pthread_*
    assert {name for name in undefined if not name.startswith("pthread_")} <= allowed, undefined
    code = subprocess.run(
        [objdump, "-d", "--no-show-raw-insn", path], capture_output=True, text=True, check=True
    ).stdout
    function, fused_in = "", set()
    for line in code.splitlines():
        if line.endswith(">:"):
            function = line.split("<", 1)[1].rstrip(">:")
        elif "vfmadd" in line or "vfmsub" in line or "vfnmadd" in line or "vfnmsub" in line:
            fused_in.add(function)
    assert fused_in and fused_in <= {"gx_gemm", "gemm_rows4_avx512"}, fused_in


@pytest.mark.parametrize("count", [2, 3, 4])
def test_threads_give_the_bits_of_one(count, monkeypatch):
    a, b, bias = random(3, 37, 50), random(4, 50, 29), random(5, 29)
    one = ops.gemm(a, b, bias=bias, bias_mode=1)
    native.threads.set(count)
    monkeypatch.setattr(native, "MIN_PARALLEL_WORK", 1)
    monkeypatch.setattr(native, "MIN_GEMM_SPLIT_WORK", 1)
    many = ops.gemm(a, b, bias=bias, bias_mode=1)
    assert torch.equal(one.view(torch.int32), many.view(torch.int32))


def test_gemm_split_in_the_c_pool_gives_the_bits_of_one_call_after_call(monkeypatch):
    """Hundreds of back-to-back split GEMMs of changing shapes and part counts (the pool's workers spin,
    sleep, wake late): every result is the one-thread result."""
    monkeypatch.setattr(native, "MIN_GEMM_SPLIT_WORK", 1)
    shapes = [(1, 3, 5), (4, 64, 7), (37, 29, 50), (130, 33, 9), (8, 8, 300), (2, 100, 2)]
    inputs = [(random(20 + i, m, k), random(40 + i, k, n)) for i, (m, n, k) in enumerate(shapes)]
    native.threads.set(1)
    expected = [ops.gemm(a, b) for a, b in inputs]
    for round_ in range(60):
        native.threads.set(2 + round_ % 3)
        for (a, b), want in zip(inputs, expected, strict=True):
            assert torch.equal(ops.gemm(a, b).view(torch.int32), want.view(torch.int32))


def test_every_split_kernel_is_known_to_the_library_and_to_python():
    """`gx_split` runs kernels by id; each id's name must be a kernel whose Python signature ends in the
    (lo, hi) range, so `Threads.run` can pass its arguments."""
    native.library()
    names = [
        native.library().gx_split_kernel(i).decode()
        for i in range(len(native._SIGNATURES))
        if native.library().gx_split_kernel(i) is not None
    ]
    assert "gx_gemm" in names and "gx_adamw" in names and len(names) == len(set(names))
    for name in names:
        assert native._SIGNATURES[name][1][-2:] == [native._i64, native._i64], name
    with pytest.raises(TypeError, match="gx_colsum takes 4 arguments"):
        native.threads.set(2)
        try:
            native.threads.run("gx_colsum", 1 << 20, 1 << 20, 1, 2)
        finally:
            native.threads.set(1)


@pytest.mark.parametrize("count", [2, 3])
def test_split_range_kernels_give_the_bits_of_one(count, monkeypatch):
    """Kernels with float arguments (LayerNorm's eps, AdamW's scalars) split in the C pool too."""
    x, w, b = random(60, 33, 24), random(61, 24), random(62, 24)
    native.threads.set(1)
    one = ops.LayerNorm.apply(x, w, b, 1e-5)
    native.threads.set(count)
    monkeypatch.setattr(native, "MIN_PARALLEL_WORK", 1)
    before = native.threads.split_calls
    many = ops.LayerNorm.apply(x, w, b, 1e-5)
    assert native.threads.split_calls > before
    assert torch.equal(one.view(torch.int32), many.view(torch.int32))


def test_gemm_pool_survives_fork(monkeypatch):
    """A child of fork() has none of the parent's pool threads; its split GEMMs must still complete."""
    import multiprocessing

    monkeypatch.setattr(native, "MIN_GEMM_SPLIT_WORK", 1)
    native.threads.set(2)
    a, b = random(50, 40, 30), random(51, 30, 20)
    want = ops.gemm(a, b)  # the parent's pool is running now
    child = multiprocessing.get_context("fork").Process(target=_split_gemm_in_child, args=(a, b, want))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("a split GEMM in a forked child hung")
    assert child.exitcode == 0


def _split_gemm_in_child(a, b, want) -> None:
    native.MIN_GEMM_SPLIT_WORK = 1
    native.threads.set(2)
    raise SystemExit(0 if torch.equal(ops.gemm(a, b).view(torch.int32), want.view(torch.int32)) else 1)


def test_exp_and_log_are_accurate_and_handle_the_edges():
    x = torch.linspace(-100.0, 88.0, 20001)
    got = ops.exp(x).double()
    want = torch.exp(x.double())
    rel = ((got - want).abs() / want.clamp_min(1e-300))[want > 1e-37]
    assert float(rel.max()) < 1.2e-7  # within about one float32 ulp
    edges = ops.exp(torch.tensor([float("nan"), float("inf"), -float("inf"), 100.0, -200.0]))
    assert math.isnan(edges[0]) and edges[1] == math.inf and edges[2] == 0 and edges[3] == math.inf
    assert edges[4] == 0
    y = torch.cat([torch.logspace(-40, 38, 5001), torch.tensor([1.0, 2.0, 0.5])])
    rel = (ops.log(y).double() - torch.log(y.double())).abs() / torch.log(y.double()).abs().clamp_min(1e-3)
    assert float(rel.max()) < 2e-7
    assert ops.log(torch.tensor([1.0]))[0] == 0.0
    special = ops.log(torch.tensor([0.0, -1.0, float("inf")]))
    assert special[0] == -math.inf and math.isnan(special[1]) and special[2] == math.inf


def grads(fn, *inputs):
    leaves = [t.clone().requires_grad_(t.is_floating_point()) for t in inputs]
    out = fn(*leaves)
    weight = random(99, *out.shape) if out.dim() else torch.tensor(1.0)
    (out * weight).sum().backward()
    return out.detach(), [leaf.grad for leaf in leaves if leaf.requires_grad]


CASES = {
    "linear": (
        lambda x, w, b: ops.linear(x, w, b),
        lambda x, w, b: F.linear(x, w, b),
        lambda: (random(1, 9, 13), random(2, 7, 13), random(3, 7)),
    ),
    "bmm": (
        lambda a, b: ops.bmm(a, b, 0.25),
        lambda a, b: (a @ b) * 0.25,
        lambda: (random(4, 3, 5, 6), random(5, 3, 6, 4)),
    ),
    "softmax": (ops.softmax, lambda x: torch.softmax(x, -1), lambda: (random(6, 4, 3, 11),)),
    "layer_norm": (
        lambda x, w, b: ops.layer_norm(x, w, b, 1e-5),
        lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w, b, 1e-5),
        lambda: (random(7, 3, 5, 12), random(8, 12), random(9, 12)),
    ),
    "cross_entropy": (
        lambda x, y: ops.cross_entropy(x, y),
        lambda x, y: F.cross_entropy(x, y),
        lambda: (random(10, 17, 6), torch.from_numpy(rng.integers(11, 17, 0, 6))),
    ),
    "embedding": (
        lambda i, w: ops.embedding(i, w),
        lambda i, w: F.embedding(i, w),
        lambda: (torch.from_numpy(rng.integers(12, 30, 0, 7)).view(5, 6), random(13, 7, 4)),
    ),
    "sequence_mean": (ops.sequence_mean, lambda x: x.mean(dim=1), lambda: (random(14, 3, 7, 5),)),
    "conv2d": (
        ops.conv2d,
        lambda x, w, b: F.conv2d(x, w, b, padding=1),
        lambda: (random(15, 2, 3, 6, 6), random(16, 4, 3, 3, 3), random(17, 4)),
    ),
    "max_pool2": (ops.max_pool2, lambda x: F.max_pool2d(x, 2), lambda: (random(18, 2, 3, 6, 4),)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_operator_matches_torch_forward_and_backward(name):
    ours, theirs, make = CASES[name]
    inputs = make()
    out, grad = grads(ours, *inputs)
    ref_out, ref_grad = grads(theirs, *inputs)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    assert len(grad) == len(ref_grad)
    for g, r in zip(grad, ref_grad, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)


def test_kernels_ignore_the_callers_floating_point_environment():
    a, b = random(20, 8, 8) * 1e-20, random(21, 8, 8) * 1e-19  # products are float32 denormals
    honest = ops.gemm(a, b)
    torch.set_flush_denormal(True)
    try:
        flushed = ops.gemm(a, b)
    finally:
        torch.set_flush_denormal(False)
    assert torch.equal(honest.view(torch.int32), flushed.view(torch.int32))
    assert bool((honest != 0).any())


def test_rng_streams_are_fixed_integers():
    assert rng.draws(0, 3).tolist() == rng.draws(0, 3).tolist()
    assert rng.draws(1234, 2).tolist() == [int(x) for x in rng.draws(1234, 2)]
    assert sorted(rng.permutation(7, 100).tolist()) == list(range(100))
    u = rng.uniform(5, 10000, -2.0, 3.0)
    assert u.dtype == np.float32 and float(u.min()) >= -2.0 and float(u.max()) < 3.0
