"""Adversaries for demos and tests: a solver that cheats (and the trainer fault it runs), a verifier that
attests without replaying, and a whistleblower that challenges correct segments.

Nothing in production imports this package (an import-linter contract in pyproject.toml keeps it so): the
honest roles expose neutral hooks (`Trainer._train_step`, `Trainer._optimizer_step`, the `Solver`'s
`trainer`, `upload_checkpoint`, `artifact_blob` and `step_state`, the `Verifier`'s `replay_sampled`, the
`Whistleblower`'s `segment_to_challenge`) and the classes here override them.
`python -m compute_market.adversary worker solver|verifier-lazy|whistleblower-false ...` runs one as a
process (the demo's second job, tests/adversarial); tests/adversarial/cheater.py builds its cheat classes on
these.
"""

from compute_market.adversary.auditors import FalseWhistleblower, LazyVerifier
from compute_market.adversary.solver import CheatingSolver, CheatPlan
from compute_market.adversary.trainer import Fault, FaultyTrainer, train

__all__ = [
    "CheatPlan",
    "CheatingSolver",
    "FalseWhistleblower",
    "Fault",
    "FaultyTrainer",
    "LazyVerifier",
    "train",
]
