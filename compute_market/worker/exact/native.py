"""Building, loading and calling the exact-mode kernels (`kernels.c`), and the checks that guard them.

Why a C file of our own, built with the machine's C compiler on first use and called through ctypes:
- exact mode needs full control of every rounding (no compiler-chosen FMA contraction, no reassociation, no
  libm, no vendor BLAS), which a dozen short loops in C give with one compiler flag (`-ffp-contract=off`)
  and no `-ffast-math`; the GEMM's fused multiply-adds are written explicitly and used on all its paths;
- a plain shared library builds in about a second with the gcc every supported machine has, while a torch
  C++ extension pulls torch's headers (about a minute) and numba would add LLVM (and a JIT that runs again
  under CPU emulation);
- a call is split between threads inside C (`gx_split`, `gx_gemm_split`: a persistent pool of pthreads
  that spin between the calls of a step), which costs microseconds rather than a Python round trip (and a
  turn of the GIL) per part.

The library is cached under `$GRADCHAIN_KERNEL_CACHE` (default `~/.cache/gradchain/kernels`) by a hash
of the sources, the flags and the compiler's version, built into a temporary file and renamed into place,
so concurrent processes never load a half-written file. It is built for x86-64 with AVX2 and FMA3 (every
Intel CPU since Haswell, every AMD CPU since Zen, with the same IEEE-754 fused results); `cpucheck.c`,
built for the baseline ISA, asks the CPU and the OS first, and a CPU that lacks either is refused with
`KernelUnavailable` before anything runs.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from compute_market.jobspec import KERNEL_SET, KERNELS_VERSION

HERE = Path(__file__).resolve().parent
SOURCES = ("kernels.c", "cpucheck.c")
# -fno-fast-math first: it resets -fno-math-errno, which must hold so that sqrt is the one instruction,
# with no errno fallback into libm's sqrtf.
KERNEL_FLAGS = (
    "-O3",
    "-std=gnu11",
    "-fPIC",
    "-shared",
    "-pthread",
    "-mavx2",
    "-mfma",
    "-fno-fast-math",
    "-ffp-contract=off",
    "-fno-math-errno",
)
BASELINE_FLAGS = ("-O2", "-std=gnu11", "-fPIC", "-shared", "-march=x86-64")
REQUIRED_ISA = "x86-64 with AVX2 and FMA3"
MAX_THREADS = 64
# Work (multiply-adds or element visits) per thread below which splitting a call costs more than it saves;
# it changes which thread computes an element, never the element's bits. Handing a part to a spinning pool
# thread costs a few microseconds; measured in training steps here (bench_trainer, 2 threads), GEMM parts
# of 512k multiply-adds (about 6 us) still gain, and the memory-bound kernels gain from 128k element visits.
MIN_PARALLEL_WORK = 1 << 17
MIN_GEMM_SPLIT_WORK = 1 << 19


class KernelUnavailable(RuntimeError):
    """Exact mode cannot run here: no C compiler, a build failure, or a CPU without the kernels' ISA."""


def _compiler() -> str:
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return name
    raise KernelUnavailable(
        "exact mode builds its kernels with a C compiler, and none was found "
        "(install gcc, or name one in $CC)"
    )


def _cache_dir() -> Path:
    root = os.environ.get("GRADCHAIN_KERNEL_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "gradchain" / "kernels"


def _build(cc: str, source: str, flags: tuple[str, ...]) -> Path:
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False).stdout
    text = (HERE / source).read_bytes()
    key = hashlib.sha256(b"\0".join([text, " ".join(flags).encode(), version.encode()])).hexdigest()[:20]
    target = _cache_dir() / f"{Path(source).stem}-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
    os.close(fd)
    try:
        done = subprocess.run(
            [cc, *flags, "-o", tmp, str(HERE / source)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise KernelUnavailable(
                f"building the exact-mode kernels ({source}) with {cc} failed:\n{done.stderr.strip()[-2000:]}"
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


_i64, _f32, _ptr = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
# gx_gemm's arguments before its row range: M, N, K, A and its strides, B and its strides, C, alpha, bias, mode.
_GEMM_ARGS = [_i64, _i64, _i64, _ptr, _i64, _i64, _i64, _ptr, _i64, _i64, _ptr, _f32, _ptr, ctypes.c_int]
_SIGNATURES: dict[str, tuple[type | None, list[type]]] = {
    "gx_abi_version": (ctypes.c_int, []),
    "gx_reset_fpenv": (None, []),
    "gx_set_wide_tiles": (None, [ctypes.c_int]),
    "gx_gemm": (None, [*_GEMM_ARGS, _i64, _i64]),
    "gx_gemm_split": (ctypes.c_int, [ctypes.c_int, *_GEMM_ARGS, _i64]),  # parts, the GEMM, total rows
    "gx_split": (ctypes.c_int, [ctypes.c_int, ctypes.c_int, _i64, _ptr, ctypes.c_int, _ptr, ctypes.c_int]),
    "gx_split_kernel": (ctypes.c_char_p, [ctypes.c_int]),
    "gx_colsum": (None, [_i64, _i64, _ptr, _ptr, _i64, _i64]),
    "gx_colsum_prod": (None, [_i64, _i64, _ptr, _ptr, _ptr, _i64, _i64]),
    "gx_rowsum": (None, [_i64, _ptr, _ptr, _i64, _i64]),
    "gx_exp_array": (None, [_i64, _ptr, _ptr]),
    "gx_log_array": (None, [_i64, _ptr, _ptr]),
    "gx_softmax": (None, [_i64, _ptr, _ptr, _i64, _i64]),
    "gx_softmax_bwd": (None, [_i64, _ptr, _ptr, _ptr, _i64, _i64]),
    "gx_xent": (None, [_i64, _ptr, _ptr, _ptr, _ptr, _f32, _f32, _i64, _i64]),
    "gx_xent_bwd": (None, [_i64, _ptr, _ptr, _f32, _f32, _f32, _ptr, _i64, _i64]),
    "gx_sum_div": (ctypes.c_float, [_i64, _ptr, _f32]),
    "gx_layernorm": (None, [_i64, _ptr, _ptr, _ptr, _f32, _ptr, _ptr, _ptr, _i64, _i64]),
    "gx_layernorm_bwd": (None, [_i64, _ptr, _ptr, _ptr, _ptr, _ptr, _i64, _i64]),
    "gx_seqmean": (None, [_i64, _i64, _ptr, _ptr, _i64, _i64]),
    "gx_seqmean_bwd": (None, [_i64, _i64, _ptr, _ptr, _i64, _i64]),
    "gx_embedding_bwd": (None, [_i64, _i64, _ptr, _ptr, _ptr, _i64, _i64]),
    "gx_im2col": (None, [_i64, _i64, _i64, _i64, _i64, _ptr, _ptr, _i64, _i64]),
    "gx_col2im": (None, [_i64, _i64, _i64, _i64, _i64, _ptr, _ptr, _i64, _i64]),
    "gx_maxpool2": (None, [_i64, _i64, _ptr, _ptr, _ptr, _i64, _i64]),
    "gx_maxpool2_bwd": (None, [_i64, _i64, _ptr, _ptr, _ptr, _i64, _i64]),
    "gx_sgd": (
        None,
        [_ptr, _ptr, _ptr, _f32, _f32, _f32, ctypes.c_int, ctypes.c_int, ctypes.c_int, _i64, _i64],
    ),
    "gx_adamw": (None, [_ptr, _ptr, _ptr, _ptr, _f32, _f32, _f32, _f32, _f32, _f32, _f32, _f32, _i64, _i64]),
    "gx_adam": (
        None,
        [_ptr, _ptr, _ptr, _ptr, _f32, ctypes.c_int, _f32, _f32, _f32, _f32, _f32, _f32, _f32, _i64, _i64],
    ),
    "gx_sumsq_blocks": (None, [_i64, _i64, _ptr, _ptr, _i64, _i64]),
    "gx_sum_f64": (ctypes.c_double, [_i64, _ptr]),
    "gx_scale": (None, [_ptr, _f32, _i64, _i64]),
    "gx_residual": (None, [_i64, _ptr, _ptr, _ptr, _ptr, ctypes.c_int, _f32, _f32, _i64, _i64]),
    "gx_residual_bwd": (None, [_i64, _ptr, ctypes.c_int, _f32, _f32, _ptr, _i64, _i64]),
    "gx_bce": (None, [_i64, _ptr, _ptr, _ptr, _ptr, _i64, _i64]),
    "gx_bce_bwd": (None, [_i64, _ptr, _ptr, _f32, _ptr, _i64, _i64]),
}

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None


def cpu_supported() -> bool:
    """Whether this CPU and OS run the kernels' instruction set (asked through a baseline-ISA library)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    check = ctypes.CDLL(str(_build(_compiler(), "cpucheck.c", BASELINE_FLAGS)))
    return bool(check.gx_cpu_supports_kernels())


def library() -> ctypes.CDLL:
    """The loaded kernels, built on first use; raises `KernelUnavailable` where they cannot run."""
    global _lib
    with _lock:
        if _lib is not None:
            return _lib
        machine = platform.machine()
        if machine.lower() not in ("x86_64", "amd64"):
            raise KernelUnavailable(
                f"the exact-mode kernels ({KERNEL_SET} v{KERNELS_VERSION}) need "
                f"{REQUIRED_ISA}; this machine is {machine}"
            )
        if not cpu_supported():
            raise KernelUnavailable(
                f"this CPU lacks an instruction the exact-mode kernels ({KERNEL_SET} "
                f"v{KERNELS_VERSION}) are built for: they need {REQUIRED_ISA} (and an OS "
                "that enables AVX); refusing to train rather than risk a result that "
                "differs from other machines"
            )
        lib = ctypes.CDLL(str(_build(_compiler(), "kernels.c", KERNEL_FLAGS)))
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        if lib.gx_abi_version() != KERNELS_VERSION:
            raise KernelUnavailable("the built kernels report another version than this package expects")
        _lib = lib
        return lib


_split_ids: dict[str, int] = {}


def _split_id(name: str) -> int:
    """The id `gx_split` knows the kernel `name` by (read from the library, so the two cannot disagree)."""
    if not _split_ids:
        lib, i = library(), 0
        while (known := lib.gx_split_kernel(i)) is not None:
            _split_ids[known.decode()] = i
            i += 1
    return _split_ids[name]


class Threads:
    """How many threads a kernel call may use; they split output elements, never a reduction."""

    def __init__(self) -> None:
        self.count = 1
        self.split_calls = 0  # calls that really were split (tests check that the work was shared)

    def set(self, count: int) -> None:
        if not 1 <= count <= MAX_THREADS:
            raise ValueError(f"threads must be in 1..{MAX_THREADS}, got {count}")
        self.count = count

    def parts(self, total: int, work_per_unit: int, min_work: int) -> int:
        """Into how many ranges to cut `total` units of `work_per_unit` each: at most one per thread, and
        none smaller than `min_work`."""
        return max(1, min(self.count, total, total * max(1, work_per_unit) // min_work))

    def run(self, name: str, total: int, work_per_unit: int, *args: int | float | None) -> None:
        """The kernel `name` over [0, total) with `args` before its (lo, hi), split into contiguous ranges
        on the kernels' thread pool when the work is worth a thread. The kernel's signature says which
        arguments travel as floats; the others (sizes, pointers, flags; None is a null pointer) travel as
        64-bit integers."""
        lib = library()
        parts = self.parts(total, work_per_unit, MIN_PARALLEL_WORK)
        if parts > 1:
            types = _SIGNATURES[name][1][:-2]
            if len(types) != len(args):
                raise TypeError(f"{name} takes {len(types)} arguments before its range, got {len(args)}")
            ints = [0 if a is None else int(a) for a, t in zip(args, types, strict=True) if t is not _f32]
            floats = [float(a) for a, t in zip(args, types, strict=True) if t is _f32]
            int_arr = (ctypes.c_int64 * len(ints))(*ints)
            float_arr = (ctypes.c_float * max(1, len(floats)))(*floats)
            done = lib.gx_split(
                parts,
                _split_id(name),
                total,
                ctypes.addressof(int_arr),
                len(ints),
                ctypes.addressof(float_arr),
                len(floats),
            )
            if done == 0:
                self.split_calls += 1
                return
            if done != -1:
                raise RuntimeError(f"gx_split refused the call of {name} ({done})")
        getattr(lib, name)(*args, 0, total)


threads = Threads()
