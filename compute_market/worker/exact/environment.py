"""The process settings exact mode depends on: checked before anything runs, and pinned on every step.

Refused (with `ExactModeRefused`, before a solver commits or a referee votes):
- a torch build other than the spec's, compared on the full version string with its build tag, so a
  `+cu130` or `+rocm` build of the same release does not pass for the pinned `+cpu` one;
- a spec naming another kernel set or version than the installed one;
- a CPU, OS or compiler on which the kernels cannot run (`native.KernelUnavailable`).

Pinned (so nothing a caller set earlier can leak in): the floating-point environment of the training
thread (MXCSR: round to nearest, no flush-to-zero, no denormals-are-zero; the kernels also pin it on
every call), torch's flush-denormal mode, float32 matmul precision "highest", oneDNN off, deterministic
algorithms on, and torch's own intra-op threads at one (the kernels bring their own threads, and the few
torch operations left in the training path are exact at any thread count anyway).
"""

from __future__ import annotations

import torch

from compute_market.jobspec import KERNEL_SET, KERNELS_VERSION, DeterminismProfile
from compute_market.worker.exact import native


class ExactModeRefused(RuntimeError):
    """This machine or process cannot reproduce the spec's results bit for bit; nothing was run."""


def check(profile: DeterminismProfile) -> None:
    """Refuse an environment that could change a result; builds the kernels on first use."""
    if torch.__version__ != profile.torch_version:
        raise ExactModeRefused(
            f"the spec pins torch {profile.torch_version}, this process runs torch "
            f"{torch.__version__} (the build tag counts: install torch=={profile.torch_version.split('+')[0]} "
            "from the CPU wheel)"
        )
    if (profile.kernels, profile.kernels_version) != (KERNEL_SET, KERNELS_VERSION):
        raise ExactModeRefused(
            f"the spec names kernels {profile.kernels} v{profile.kernels_version}; this "
            f"package has {KERNEL_SET} v{KERNELS_VERSION}"
        )
    try:
        native.library()
    except native.KernelUnavailable as e:
        raise ExactModeRefused(str(e)) from None


def pin_process() -> None:
    """Reassert every process-wide setting exact mode relies on (cheap; called before each step)."""
    native.library().gx_reset_fpenv()
    torch.set_flush_denormal(False)
    torch.set_float32_matmul_precision("highest")
    torch.backends.mkldnn.enabled = False
    torch.use_deterministic_algorithms(True)
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
