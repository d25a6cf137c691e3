"""Market commands: `gradchain worker <role>`, `solver register`, `verifier register`, and `job ...`."""

from __future__ import annotations

import json
import logging
import math
import signal
import sys
import threading
from pathlib import Path

import click

from chain.cli.client import parse_amount
from chain.cli.exact import OUTPUT_TYPE, spec_for_dataset
from chain.cli.key import password_options
from chain.cli.progress import ProgressDisplay
from chain.cli.watch import END_MEANING, WatchTimeout, follow_job
from chain.client import ClientError
from chain.keystore import KeystoreError, load_key
from compute_market.jobspec import DeterminismProfile
from compute_market.worker import client as calls
from compute_market.worker.client import BlobMissing, MarketNode
from compute_market.worker.states import JobStatus, job_evaluation

NODE = click.option("--node", default="127.0.0.1:50051", show_default=True, help="gRPC address of a node.")
KEY = click.option(
    "--key", required=True, help="Key file or secret URI of the account that signs (e.g. //Charlie)."
)
PASSWORD = password_options("password of an encrypted --key file")


def _market_node(node: str, key: str | None, password: str | None):
    keypair = None
    if key is not None:
        try:
            keypair = load_key(key, password)
        except KeystoreError as e:
            raise click.ClickException(str(e)) from None
    return MarketNode(node, keypair)


STATE_DIR = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".gradchain-worker"),
    show_default=True,
    help="Where a solver keeps its step hashes (so it can dispute after a restart).",
)
POLL = click.option(
    "--poll", type=float, default=0.5, show_default=True, help="Seconds between looks at the market."
)
LOG_LEVEL = click.option(
    "-l", "--log", "log_level", type=click.Choice(["warn", "info", "debug"]), default="info"
)
AUDIT_SHARE = click.option(
    "--audit-share",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=1.0,
    show_default=True,
    help="Whistleblower: share of each job's segments to replay.",
)


def serve_role(
    role: str, key: str, password: str | None, node: str, log_level: str, poll: float, build
) -> None:
    """Check this machine can run exact mode, connect to `node` as `key`, build the role with
    `build(market, poll_interval=..., progress=...)` and run it until SIGTERM or Ctrl-C."""
    from compute_market.worker.trainer import EnvironmentRefused, configure_exact_mode  # torch

    try:  # before any stake is at risk: a machine that cannot reproduce results must not take a role
        configure_exact_mode(DeterminismProfile())
    except EnvironmentRefused as e:
        raise click.ClickException(
            f"this machine cannot run exact mode, so it cannot act as a {role}: {e}"
        ) from None
    display = ProgressDisplay(sys.stderr)
    logging.basicConfig(
        level=getattr(logging, log_level.upper().replace("WARN", "WARNING")),
        handlers=[display.log_handler("%(asctime)s %(levelname)-5s %(name)s: %(message)s")],
    )
    runner = build(_market_node(node, key, password), poll_interval=poll, progress=display)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        runner.run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        display.close()


@click.command()
@click.argument("role", type=click.Choice(["solver", "verifier", "whistleblower", "referee"]))
@KEY
@PASSWORD
@NODE
@STATE_DIR
@POLL
@AUDIT_SHARE
@LOG_LEVEL
def worker(role, key, password, node, state_dir, poll, audit_share, log_level) -> None:
    """Run one market role against a node's gRPC API until interrupted."""
    from compute_market.worker.roles import Referee, Solver, Verifier, Whistleblower  # torch

    builds = {
        "solver": lambda market, **kw: Solver(market, state_dir, **kw),
        "verifier": Verifier,
        "whistleblower": lambda market, **kw: Whistleblower(market, audit_share=audit_share, **kw),
        "referee": Referee,
    }
    serve_role(role, key, password, node, log_level, poll, builds[role])


def _send(market, call: bytes, what: str) -> None:
    if not market.send(call, what, wait=True):
        raise click.ClickException(f"{what} did not succeed (see the message above)")
    click.echo(f"{what}: done")


@click.group()
def solver() -> None:
    """Register as a solver."""


@solver.command("register")
@KEY
@PASSWORD
@NODE
@click.option(
    "--stake", required=True, help="Stake to reserve: smallest units, or tokens with a decimal point."
)
def solver_register(key, password, node, stake) -> None:
    """Register the account as a solver with a stake."""
    market = _market_node(node, key, password)
    try:
        amount = parse_amount(stake, market.chain.params().token_decimals)
        _send(market, calls.register_solver(amount), "register solver")
    except ClientError as e:
        raise click.ClickException(str(e)) from None


@click.group()
def verifier() -> None:
    """Register as a verifier."""


@verifier.command("register")
@KEY
@PASSWORD
@NODE
def verifier_register(key, password, node) -> None:
    """Register the account as a verifier (reserves the verifier bond)."""
    market = _market_node(node, key, password)
    try:
        _send(market, calls.register_verifier(), "register verifier")
    except ClientError as e:
        raise click.ClickException(str(e)) from None


@click.group()
def job() -> None:
    """Submit training jobs and fetch their results."""


@job.command("submit")
@KEY
@PASSWORD
@NODE
@click.option(
    "--spec",
    "spec_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Job spec JSON; its dataset_hash is set to the uploaded dataset's hash.",
)
@click.option(
    "--dataset",
    "dataset_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Dataset as safetensors (x_train, y_train, x_test, y_test).",
)
@click.option(
    "--payment", required=True, help="Payment to escrow: smallest units, or tokens with a decimal point."
)
def job_submit(key, password, node, spec_path, dataset_path, payment) -> None:
    """Upload a dataset and submit a job that trains on it."""
    market = _market_node(node, key, password)
    blob = dataset_path.read_bytes()
    spec, _ = spec_for_dataset(spec_path, blob)
    try:
        market.put_blob(blob)
        amount = parse_amount(payment, market.chain.params().token_decimals)
        before = {j.id for j in market.jobs()}
        _send(market, calls.submit_job(spec.encode(), amount), "submit job")
        new = [
            j.id for j in market.jobs() if j.id not in before and bytes(j.submitter) == market.keypair.public
        ]
    except ClientError as e:
        raise click.ClickException(str(e)) from None
    if new:
        click.echo(f"job id: {max(new)}")


def _job_dict(j) -> dict:
    return {
        "id": j.id,
        "status": j.status,
        "submitter": "0x" + j.submitter.hex(),
        "solver": "0x" + j.solver.hex(),
        "steps": j.steps,
        "checkpointInterval": j.checkpoint_interval,
        "payment": j.payment,
        "submitterBond": j.submitter_bond,
        "resultRoot": "0x" + j.result_root.hex(),
        "finalHash": "0x" + j.final_hash.hex(),
        "hashList": "0x" + j.hash_list.hex(),
        "windowEnd": j.window_end,
        "windowEndMs": j.window_end_ms,
        "deadline": j.deadline,
        "disputes": list(j.disputes),
        "evaluation": _evaluation_dict(job_evaluation(j)),
    }


def _evaluation_dict(e) -> dict | None:
    """The committed evaluation: the integers on chain, and the figures they stand for."""
    if e is None:
        return None
    return {
        "lossBits": f"0x{e.loss_bits:016x}",
        "loss": _finite(e.loss),
        "perplexity": _finite(e.perplexity),
        "correct": e.correct,
        "count": e.count,
        "accuracy": e.accuracy,
    }


def _finite(x: float) -> float | None:
    """JSON has no NaN or infinity (a cheater may commit any bits): those show as null."""
    return x if math.isfinite(x) else None


def _status_text(info: dict) -> str:
    lines = [
        f"job {info['id']}: {info['status']}",
        f"  steps {info['steps']} (a checkpoint every {info['checkpointInterval']}), payment {info['payment']}",
    ]
    e = info["evaluation"]
    if e is None:
        lines.append("  evaluation: none committed yet")
    else:
        loss = "not finite" if e["loss"] is None else f"{e['loss']:.6g}"
        perplexity = "not finite" if e["perplexity"] is None else f"{e['perplexity']:.6g}"
        lines.append(
            f"  evaluation on the held-out split: loss {loss} (perplexity {perplexity}), "
            f"accuracy {e['correct']}/{e['count']} = {100 * e['accuracy']:.2f}%"
        )
    if info["resultRoot"] != "0x":
        lines.append(f"  result root {info['resultRoot']}, final hash {info['finalHash']}")
    for d in info["disputeDetails"]:
        ending = f", {d['outcome']} ({d['resolution']})" if d["outcome"] else ""
        lines.append(
            f"  dispute {d['id']}: {d['kind']} segment {d['segment']}, {d['phase']}, "
            f"steps {d['interval'][0]}..{d['interval'][1]}{ending}"
        )
    return "\n".join(lines)


class JobEndedBadly(click.ClickException):
    """`job status --watch`: the job ended, but not FINALIZED (exit status 1)."""


class WatchTimedOut(click.ClickException):
    """`job status --watch --timeout`: the job had not ended in time (exit status 2)."""

    exit_code = 2


def _status_info(market, job_id: int) -> dict:
    j = market.job(job_id)
    info = _job_dict(j)
    info["disputeDetails"] = [
        {
            "id": d.id,
            "kind": d.kind,
            "segment": d.segment,
            "phase": d.phase,
            "interval": [d.lo, d.hi],
            "deadline": d.deadline,
            "deadlineMs": d.deadline_ms,
            "outcome": d.outcome,
            "resolution": d.resolution,
        }
        for d in market.disputes(job_id)
    ]
    return info


def _watch(market, job_id: int, interval: float, timeout: float | None) -> None:
    try:
        status = follow_job(market, job_id, click.echo, interval, timeout)
    except WatchTimeout as e:
        raise WatchTimedOut(str(e)) from None
    except KeyboardInterrupt:
        click.echo(f"stopped watching job {job_id}", err=True)
        sys.exit(130)
    if status is not JobStatus.FINALIZED:
        raise JobEndedBadly(f"job {job_id} ended {status.name}: {END_MEANING[status]}")
    click.echo(f"job {job_id} FINALIZED: {END_MEANING[status]}")


@job.command("status")
@click.argument("job_id", type=click.IntRange(0))
@NODE
@click.option(
    "--watch",
    is_flag=True,
    help="Follow the job to its end, printing each change of its status or disputes once; exit 0 when it "
    "is FINALIZED, 1 when it ends SLASHED, CANCELLED or REJECTED, 2 on --timeout, 130 on Ctrl-C.",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 60.0),
    default=1.0,
    show_default=True,
    help="With --watch: seconds between polls.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.0, min_open=True),
    default=None,
    help="With --watch: give up after this many seconds (default: wait for the end).",
)
@click.option(
    "--output-type",
    type=click.Choice(["text", "json"]),
    default="json",
    show_default=True,
    help="json: every field (as scripts read it); text: a summary, the evaluation and the disputes.",
)
def job_status(job_id, node, watch, interval, timeout, output_type) -> None:
    """Show a job (status SUBMITTED .. FINALIZED, SLASHED, CANCELLED or REJECTED, its commitment, its
    evaluation on the held-out split, bonds and window) and its disputes (STEP bisections and CHECKPOINT,
    HASH_LIST, FINAL_MODEL, EVALUATION or DATASET checks)."""
    market = _market_node(node, None, None)
    try:
        if watch:
            _watch(market, job_id, interval, timeout)
            return
        info = _status_info(market, job_id)
    except ClientError as e:
        raise click.ClickException(str(e)) from None
    click.echo(json.dumps(info, indent=2) if output_type == "json" else _status_text(info))


@job.command("list")
@NODE
def job_list(node) -> None:
    """List every job."""
    market = _market_node(node, None, None)
    try:
        jobs = market.jobs()
    except ClientError as e:
        raise click.ClickException(str(e)) from None
    for j in jobs:
        click.echo(f"{j.id:>5}  {j.status:<10}  steps {j.steps:<6} payment {j.payment}")


@job.command("fetch-model")
@click.argument("job_id", type=click.IntRange(0))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@NODE
def job_fetch_model(job_id, out, node) -> None:
    """Download a committed job's model (safetensors), written only if it is bound to the commitment: the hash
    list decodes under the result root, the last checkpoint is the state H[T] names, and its model hashes to
    the committed final hash."""
    from compute_market.worker.model_export import ModelExportError, export_model  # torch

    market = _market_node(node, None, None)
    try:
        j = market.job(job_id)
        if not j.checkpoints or not j.hash_list:
            raise click.ClickException(f"job {job_id} is {j.status}: no model has been committed")
        try:
            hash_list = market.blob(bytes(j.hash_list))
            final_checkpoint = market.blob(bytes(j.checkpoints[-1]))
        except BlobMissing as e:
            raise click.ClickException(f"job {job_id}'s artifacts cannot be fetched: {e}") from None
        data = export_model(
            bytes(j.spec), hash_list, bytes(j.result_root), final_checkpoint, bytes(j.final_hash)
        )
    except (ClientError, ModelExportError) as e:
        raise click.ClickException(str(e)) from None
    out.write_bytes(data)
    click.echo(f"model of job {job_id} ({j.status}) written to {out}")


@job.command("predict")
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--tensor",
    default="x",
    show_default=True,
    help="With a .safetensors INPUT: the tensor to predict on (x_test of a dataset file, for instance).",
)
@click.option(
    "--new-tokens",
    type=click.IntRange(0, 4096),
    default=200,
    show_default=True,
    help="With a language model: how many byte tokens to generate after the prompt.",
)
@OUTPUT_TYPE
def job_predict(model_path, input_path, tensor, new_tokens, output_type) -> None:
    """Run an exported model (from `job fetch-model`) on INPUT: a NumPy .npy array shaped like the dataset's
    x ([N, ...] or one example), or a tensor of a .safetensors file. Prints a line per input: its class
    (classification), the labels that are on (multilabel) or the predicted targets (regression); with
    --output-type json, also the logits and probabilities. For a language model INPUT is a text file, the
    prompt: prints the prompt and its greedy continuation by --new-tokens byte tokens."""
    from compute_market.model_io import (  # torch
        MAX_INPUT_BYTES,
        ModelFileError,
        ModelInputError,
        generate_text,
        load_inputs,
        predict,
        read_model_file,
    )

    try:
        exported = read_model_file(model_path)
        if exported.spec.task.KIND == "language_model":
            if input_path.stat().st_size > MAX_INPUT_BYTES:
                raise ModelInputError(f"{input_path} is over the input cap of {MAX_INPUT_BYTES} bytes")
            prompt = input_path.read_bytes().decode("utf-8", "replace")
            text = generate_text(exported.model, prompt, new_tokens)
            if output_type == "text":
                click.echo(text)
            else:
                report = {"model": exported.spec.model.to_obj(), "finalHash": exported.final_hash}
                click.echo(
                    json.dumps({**report, "prompt": prompt, "continuation": text[len(prompt) :]}, indent=2)
                )
            return
        x = load_inputs(input_path, exported.spec, tensor)
    except (ModelFileError, ModelInputError) as e:
        raise click.ClickException(str(e)) from None
    outputs = predict(exported.model, x)
    kind = exported.spec.task.KIND
    if kind == "regression":  # the outputs are the predicted targets
        rows = [{"targets": row} for row in outputs.tolist()]
        lines = [" ".join(f"{v:.6g}" for v in row) for row in outputs.tolist()]
    elif kind == "multilabel":  # a label is on where its logit is above 0 (probability above one half)
        on = [[j for j, v in enumerate(row) if v > 0] for row in outputs.tolist()]
        rows = [
            {"labels": labels, "logits": row, "probabilities": probs}
            for labels, row, probs in zip(on, outputs.tolist(), outputs.sigmoid().tolist(), strict=True)
        ]
        lines = [" ".join(map(str, labels)) for labels in on]
    else:
        classes = outputs.argmax(dim=1).tolist()
        rows = [
            {"class": c, "logits": row, "probabilities": probs}
            for c, row, probs in zip(classes, outputs.tolist(), outputs.softmax(dim=1).tolist(), strict=True)
        ]
        lines = list(map(str, classes))
    if output_type == "text":
        click.echo("\n".join(lines))
        return
    report = {
        "model": exported.spec.model.to_obj(),
        "task": exported.spec.task.to_obj(),
        "finalHash": exported.final_hash,
        "predictions": rows,
    }
    click.echo(json.dumps(report, indent=2))
