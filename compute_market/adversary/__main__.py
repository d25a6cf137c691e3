"""`python -m compute_market.adversary worker ROLE ...`: a dishonest worker process.

ROLE is one of
- `solver`: the cheating solver, `CheatingSolver`, with the cheats of `CheatPlan` (`--cheat-step N`,
  `--withhold-state`, `--bad-state`, `--withhold-checkpoint I`, `--inflate-accuracy N`; none of them: it
  trains honestly);
- `verifier-lazy`: `LazyVerifier`, which attests the sampled segments without replaying them;
- `whistleblower-false`: `FalseWhistleblower`, which challenges a segment its replay reproduces
  (`--audit-share` as for `gradchain worker whistleblower`).

Each takes the options of its `gradchain worker` role; the demo's second job, tests/adversarial and the
worker tests run them. None is part of the `gradchain` command.
"""

from __future__ import annotations

from pathlib import Path

import click

from chain.cli.market import AUDIT_SHARE, KEY, LOG_LEVEL, NODE, PASSWORD, POLL, STATE_DIR, serve_role

ROLES = ("solver", "verifier-lazy", "whistleblower-false")
SOLVER_CHEATS = (
    "--cheat-step",
    "--withhold-state",
    "--bad-state",
    "--withhold-checkpoint",
    "--inflate-accuracy",
)


@click.group()
def main() -> None:
    """Adversaries for demos and tests (never a production role)."""


@main.command()
@click.argument("role", type=click.Choice(ROLES))
@KEY
@PASSWORD
@NODE
@STATE_DIR
@POLL
@click.option(
    "--cheat-step", type=click.IntRange(0), default=None, help="Solver: perturb the state after this step."
)
@click.option(
    "--withhold-state", is_flag=True, help="Solver: never publish the state a step dispute asks for."
)
@click.option(
    "--bad-state", is_flag=True, help="Solver: publish a state that does not hash to the agreed H[s]."
)
@click.option(
    "--withhold-checkpoint",
    type=click.IntRange(0),
    default=None,
    help="Solver: commit to this checkpoint's hash but never upload it.",
)
@click.option(
    "--inflate-accuracy",
    type=click.IntRange(0),
    default=0,
    help="Solver: commit this many more correct test examples than its final model gets.",
)
@AUDIT_SHARE
@LOG_LEVEL
def worker(
    role: str,
    key: str,
    password: str | None,
    node: str,
    state_dir: Path,
    poll: float,
    cheat_step: int | None,
    withhold_state: bool,
    bad_state: bool,
    withhold_checkpoint: int | None,
    inflate_accuracy: int,
    audit_share: float,
    log_level: str,
) -> None:
    """Run a dishonest worker against a node's gRPC API until interrupted."""
    from compute_market.adversary.auditors import FalseWhistleblower, LazyVerifier  # torch
    from compute_market.adversary.solver import CheatingSolver, CheatPlan  # torch

    plan = CheatPlan(
        cheat_step,
        withhold_state=withhold_state,
        bad_state=bad_state,
        withhold_checkpoint=withhold_checkpoint,
        inflate_accuracy=inflate_accuracy,
    )
    if role != "solver" and plan != CheatPlan():
        raise click.UsageError(f"{', '.join(SOLVER_CHEATS)} are cheats of the solver, not of {role}")
    builds = {
        "solver": lambda market, **kw: CheatingSolver(market, state_dir, plan, **kw),
        "verifier-lazy": LazyVerifier,
        "whistleblower-false": lambda market, **kw: FalseWhistleblower(market, audit_share=audit_share, **kw),
    }
    serve_role(role, key, password, node, log_level, poll, builds[role])


if __name__ == "__main__":
    main()
