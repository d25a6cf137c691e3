"""The `gradchain` command line: one click group, subcommands in sibling modules.

Every subcommand module is imported at start, so none imports torch at its top: the training and
evaluation modules of `compute_market.worker` are imported inside the commands that use them (each such
line is marked `# torch`), and `gradchain node`, `tx` or `--help` start without the seconds torch takes.
"""

from __future__ import annotations

import click

from chain.cli.client import query, tx
from chain.cli.demo import demo
from chain.cli.estimate import estimate
from chain.cli.exact import selftest, trace
from chain.cli.init import init
from chain.cli.key import key
from chain.cli.market import job, solver, verifier, worker
from chain.cli.node import build_spec, node, purge_chain


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gradchain")
def main() -> None:
    """gradchain: a Substrate-style chain with a market for verifiable ML training."""


main.add_command(key)
main.add_command(node)
main.add_command(purge_chain)
main.add_command(build_spec)
main.add_command(tx)
main.add_command(query)
for command in (worker, solver, verifier, job, demo, selftest):
    main.add_command(command)
job.add_command(trace)
job.add_command(estimate)
job.add_command(init)
