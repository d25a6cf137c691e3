"""Adversaries for demos and tests: a solver that cheats, and the trainer fault it runs.

Nothing in production imports this package (an import-linter contract in pyproject.toml keeps it so): the
honest roles expose neutral hooks (`Trainer._train_step`, `Trainer._optimizer_step`, the `Solver`'s
`trainer`, `upload_checkpoint`, `artifact_blob` and `step_state`) and the classes here override them.
`python -m compute_market.adversary worker solver --cheat-step N ...` runs the cheating solver as a process
(the demo's second job, tests/adversarial); tests/adversarial/cheater.py builds its cheat classes on these.
"""

from compute_market.adversary.solver import CheatingSolver, CheatPlan
from compute_market.adversary.trainer import Fault, FaultyTrainer, train

__all__ = ["CheatPlan", "CheatingSolver", "Fault", "FaultyTrainer", "train"]
