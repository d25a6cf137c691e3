"""`python -m compute_market.adversary worker solver --cheat-step N ...`: a cheating solver process.

It takes the options of `gradchain worker solver` and adds the cheats of `CheatPlan`; the demo's second
job and the worker tests run it. It is not part of the `gradchain` command.
"""

from __future__ import annotations

from pathlib import Path

import click

from chain.cli.market import KEY, LOG_LEVEL, NODE, PASSWORD, POLL, STATE_DIR, serve_role


@click.group()
def main() -> None:
    """Adversaries for demos and tests (never a production role)."""


@main.command()
@click.argument("role", type=click.Choice(["solver"]))
@KEY
@PASSWORD
@NODE
@STATE_DIR
@POLL
@click.option("--cheat-step", type=click.IntRange(0), default=None, help="Perturb the state after this step.")
@click.option("--withhold-state", is_flag=True, help="Never publish the state a step dispute asks for.")
@click.option("--bad-state", is_flag=True, help="Publish a state that does not hash to the agreed H[s].")
@click.option(
    "--withhold-checkpoint",
    type=click.IntRange(0),
    default=None,
    help="Commit to this checkpoint's hash but never upload it.",
)
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
    log_level: str,
) -> None:
    """Run a cheating solver against a node's gRPC API until interrupted."""
    from compute_market.adversary.solver import CheatingSolver, CheatPlan  # torch

    plan = CheatPlan(
        cheat_step,
        withhold_state=withhold_state,
        bad_state=bad_state,
        withhold_checkpoint=withhold_checkpoint,
    )
    serve_role(
        role,
        key,
        password,
        node,
        log_level,
        poll,
        lambda market, **kw: CheatingSolver(market, state_dir, plan, **kw),
    )


if __name__ == "__main__":
    main()
