"""`gradchain job init --task TASK --from FILE`: a dataset blob and a starter spec from a user's own file.

The file becomes a safetensors dataset (`compute_market.worker.onboarding`: CSV, NumPy .npy/.npz, or a
text for the language_model task) and a spec JSON with every field filled, its dataset_hash the blob's, so
that `gradchain job estimate SPEC` and `gradchain job submit --spec --dataset` take them as they are.
Nothing is overwritten unless --force is given.
"""

from __future__ import annotations

from pathlib import Path

import click

from compute_market import cost


@click.command("init")
@click.option(
    "--task",
    type=click.Choice(["classification", "regression", "multilabel", "language_model"]),
    required=True,
    help="What the model learns: labels, float targets, several 0/1 labels, or the next token of a text.",
)
@click.option(
    "--from",
    "source",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The data: a .csv or .npy table (the last --targets columns are y), an .npz with x and y (or "
    "x_train, y_train, x_test, y_test), or a text file for language_model.",
)
@click.option(
    "--targets",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Tables: how many trailing columns are targets (1 for classification's label).",
)
@click.option(
    "--test-fraction",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    default=0.1,
    show_default=True,
    help="The share of examples (or of a text's bytes) held out for the committed evaluation.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**64 - 1),
    default=0,
    show_default=True,
    help="Seeds the held-out split and the spec's training run.",
)
@click.option(
    "--dataset",
    "dataset_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("dataset.safetensors"),
    show_default=True,
    help="Where to write the dataset blob.",
)
@click.option(
    "--spec",
    "spec_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("spec.json"),
    show_default=True,
    help="Where to write the starter spec JSON.",
)
@click.option("--force", is_flag=True, help="Overwrite --dataset and --spec if they exist.")
def init(task, source, targets, test_fraction, seed, dataset_out, spec_out, force) -> None:
    """Write a dataset blob and a starter spec (every field filled) for TASK from the file --from."""
    from compute_market.worker import datasets, onboarding  # torch

    for path in (dataset_out, spec_out):
        if path.exists() and not force:
            raise click.ClickException(f"{path} exists; pass --force to overwrite it")
    try:
        data = onboarding.dataset_from_file(source, task, targets, test_fraction, seed)
        blob = data.to_bytes()
        spec = onboarding.starter_spec(task, data, datasets.dataset_hash(blob), seed)
    except onboarding.OnboardingError as e:
        raise click.ClickException(str(e)) from None
    dataset_out.write_bytes(blob)
    spec_out.write_text(spec.to_json() + "\n")
    job = cost.job_cost(spec)
    if isinstance(data, datasets.TokenStream):
        shape = f"{data.tokens_train.shape[0]} training and {data.tokens_test.shape[0]} held-out byte tokens"
    else:
        shape = f"{data.x_train.shape[0]} training and {data.x_test.shape[0]} held-out examples"
    click.echo(
        f"dataset: {dataset_out} ({len(blob)} bytes, {shape}), hash 0x{datasets.dataset_hash(blob).hex()}"
    )
    click.echo(
        f"spec:    {spec_out} ({spec.model.KIND}, {spec.model.parameter_count} parameters, task {task}, "
        f"{spec.steps} steps of batch {spec.batch_size}, about {job.job_seconds:.0f} s of training on one core)"
    )
    click.echo(f"next:    gradchain job estimate {spec_out}")
    click.echo(
        f"         gradchain job submit --spec {spec_out} --dataset {dataset_out} --payment AMOUNT --key KEY"
    )
