"""Exact-mode tools for solvers: `gradchain job trace` and `gradchain selftest`.

Both run the trainer locally and touch no node: a solver checks a machine before staking on it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from chain.primitives.hashing import blake2_256
from compute_market.jobspec import JobSpec, JobSpecError
from compute_market.worker.exact import native

OUTPUT_TYPE = click.option(
    "--output-type", type=click.Choice(["text", "json"]), default="text", show_default=True
)
THREADS = click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Threads the kernels split their outputs over (the hashes do not depend on it).",
)


def spec_for_dataset(spec_path: Path, blob: bytes):
    """The spec JSON at `spec_path` with its dataset_hash set to the blob's, and the validated dataset."""
    from compute_market.worker.datasets import DatasetError, load_dataset  # torch

    try:
        obj = json.loads(spec_path.read_text())
        if not isinstance(obj, dict):
            raise click.ClickException(f"{spec_path}: a job spec is a JSON object")
        obj["dataset_hash"] = "0x" + blake2_256(blob).hex()
        spec = JobSpec.from_obj(obj)
        return spec, load_dataset(blob, spec)
    except (json.JSONDecodeError, UnicodeDecodeError, JobSpecError, DatasetError) as e:
        raise click.ClickException(f"{e}") from None


def _profile(spec) -> dict:
    p = spec.determinism
    return {
        "torchVersion": p.torch_version,
        "kernels": p.kernels,
        "kernelsVersion": p.kernels_version,
        "requiredIsa": native.REQUIRED_ISA,
    }


@click.command("trace")
@click.argument("spec_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dataset_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--steps", type=click.IntRange(0), default=None, help="Trace H[0..N] (default: the whole run).")
@THREADS
@OUTPUT_TYPE
def trace(spec_path, dataset_path, steps, threads, output_type) -> None:
    """Train SPEC on DATASET in exact mode and print the determinism profile and H[0..N]."""
    from compute_market.worker.selftest import trace as run_trace  # torch
    from compute_market.worker.trainer import TrainerError  # torch

    spec, dataset = spec_for_dataset(spec_path, dataset_path.read_bytes())
    if steps is not None and steps > spec.steps:
        raise click.BadParameter(f"{steps} exceeds the spec's {spec.steps} steps", param_hint="--steps")
    try:
        hashes = run_trace(spec, dataset, steps, threads)
    except TrainerError as e:
        raise click.ClickException(str(e)) from None
    if output_type == "json":
        click.echo(
            json.dumps(
                {
                    "profile": _profile(spec),
                    "specHash": "0x" + spec.spec_hash.hex(),
                    "hashes": ["0x" + h.hex() for h in hashes],
                },
                indent=2,
            )
        )
        return
    for key, value in _profile(spec).items():
        click.echo(f"{key}: {value}")
    for i, h in enumerate(hashes):
        click.echo(f"H[{i}] 0x{h.hex()}")


@click.command("selftest")
@THREADS
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Reference hashes to compare with (default: the ones shipped in the package).",
)
@OUTPUT_TYPE
def selftest(threads, reference, output_type) -> None:
    """Train the reference jobs (every architecture, optimizer and schedule) and compare every step hash
    with the package's references; exits 0 only if this machine computes exactly what they say."""
    from compute_market.worker import selftest as st  # torch
    from compute_market.worker.trainer import TrainerError  # torch

    try:
        expected = st.load_reference() if reference is None else json.loads(reference.read_text())["jobs"]
        got = st.compute_all(threads)
    except TrainerError as e:
        raise click.ClickException(f"this machine cannot run exact mode: {e}") from None
    except (ValueError, KeyError, TypeError) as e:
        raise click.ClickException(f"unreadable reference hashes: {e}") from None
    mismatches = st.compare(got, expected)
    if output_type == "json":
        click.echo(
            json.dumps(
                {
                    "agrees": not mismatches,
                    "jobs": sorted(expected),
                    "mismatches": [m.__dict__ for m in mismatches],
                },
                indent=2,
            )
        )
    else:
        for job in sorted(expected):
            bad = [m for m in mismatches if m.job == job]
            click.echo(
                f"{job}: "
                + (
                    f"DIFFERS at step {bad[0].step}: expected {bad[0].expected[:16]}..., "
                    f"got {bad[0].got[:16] or 'nothing'}..."
                    if bad
                    else f"agrees ({len(expected[job])} step hashes)"
                )
            )
    if mismatches:
        click.echo(
            f"selftest FAILED: {len(mismatches)} of {len(expected)} reference jobs differ; do not stake "
            "on this machine",
            err=True,
        )
        sys.exit(1)
    if output_type == "text":
        click.echo("selftest passed: this machine reproduces every reference hash")
