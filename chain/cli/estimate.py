"""`gradchain job estimate SPEC.json`: what a job will cost and how long every party gets, before submitting.

Everything comes from the spec and the chain spec's parameters, offline: the cost model's FLOPs and peak
memory (compute_market/cost.py), the expected one-core times from its calibrated rates, the escrow, fees
and bonds of `MarketConfig`, and each deadline as the pallet sets it (`compute_market.pallet.windows`): a
block count and at least a chain time, whichever comes later; "expected" converts the blocks at the chain
spec's block time. A spec over the caps is refused here with the same message `submit_job` would give.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from chain.cli.client import parse_amount
from chain.cli.exact import OUTPUT_TYPE
from compute_market import cost
from compute_market.jobspec import JobSpec, JobSpecError
from compute_market.pallet.calls import _submit_weight
from compute_market.pallet.types import MarketConfig
from compute_market.pallet.windows import windows_for
from runtime.chain_spec import ChainSpecError, load_chain_spec
from runtime.pallets.transaction_payment import WEIGHT_FEE_UNIT, TransactionPaymentConfig

EXTRINSIC_OVERHEAD_BYTES = 110  # signature, address, nonce, era, tip and call index around the spec bytes


def _load_spec(path: Path) -> JobSpec:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise click.ClickException(f"{path}: cannot read the spec: {e}") from None
    if isinstance(obj, dict) and "dataset_hash" not in obj:
        obj = {**obj, "dataset_hash": "0x" + "00" * 32}  # set at submission from the uploaded dataset
    try:
        return JobSpec.from_obj(obj)
    except JobSpecError as e:
        raise click.ClickException(f"{path}: the chain would refuse this spec: {e}") from None


def estimate_figures(
    spec: JobSpec, cfg: MarketConfig, fees: TransactionPaymentConfig, block_ms: int, payment: int
) -> dict:
    jc = cost.job_cost(spec)
    step, w = jc.step, windows_for(spec, cfg)
    q = min(cfg.sample_segments, spec.checkpoint_count)
    spec_bytes = spec.encode()
    weight = _submit_weight(spec_bytes, payment)
    submit_fee = (
        fees.base_fee
        + fees.length_fee * (len(spec_bytes) + EXTRINSIC_OVERHEAD_BYTES)
        + fees.weight_fee * weight.ref_time // WEIGHT_FEE_UNIT
    )

    def deadline(blocks: int, min_ms: int | None) -> dict:
        expected = max(blocks * block_ms, min_ms or 0)
        return {"blocks": blocks, "minMs": min_ms, "expectedMs": expected}

    return {
        "specHash": "0x" + spec.spec_hash.hex(),
        "model": spec.model.KIND,
        "parameters": spec.model.parameter_count,
        "batchSize": spec.batch_size,
        "steps": spec.steps,
        "checkpointInterval": spec.checkpoint_interval,
        "cost": {
            "stepFlops": step.flops,
            "segmentFlops": jc.segment_flops,
            "jobFlops": jc.job_flops,
            "stepPeakBytes": step.peak_bytes,
            "refereePeakBytes": step.referee_peak_bytes,
            "parameterBytes": step.parameter_bytes,
            "optimizerBytes": step.optimizer_bytes,
            "activationBytes": step.activation_bytes,
            "stateBytes": step.state_bytes,
        },
        "caps": {
            "stepFlops": cost.MAX_STEP_FLOPS[spec.model.KIND],
            "refereePeakBytes": cost.MAX_STEP_MEMORY,
            "stepSeconds": cost.MAX_STEP_SECONDS,
        },
        "expectedSeconds": {  # one core of the calibrated machine
            "rateFlopsPerSecond": jc.rate,
            "calibratedOn": cost.CALIBRATED_ON,
            "step": jc.step_seconds,
            "solver": jc.job_seconds,
            "verifier": jc.verifier_seconds(q),
            "referee": jc.referee_seconds,
        },
        "money": {
            "payment": payment,
            "verifierFee": cfg.verifier_fee,
            "escrow": payment + cfg.verifier_fee,
            "submitFee": submit_fee,
            "solverLock": cfg.job_lock(payment),
            "minSolverStake": cfg.min_solver_stake,
            "verifierBond": cfg.verifier_bond,
            "challengerBond": cfg.challenger_bond,
            "submissionBond": cfg.submission_bond,
        },
        "deadlines": {
            "assignment": deadline(cfg.assignment_delay, None),
            "commit": deadline(cfg.commit_timeout, w.commit_ms),
            "challengeWindow": deadline(cfg.challenge_window, w.challenge_ms),
            "disputeMove": deadline(cfg.move_deadline, w.move_ms),
            "vote": deadline(cfg.vote_period, w.vote_ms),
            "finalizeGrace": deadline(cfg.finalize_grace, None),
        },
        "blockTimeMs": block_ms,
    }


def _human_bytes(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def _text(f: dict, decimals: int) -> str:
    c, t, m = f["cost"], f["expectedSeconds"], f["money"]

    def amount(v: int) -> str:
        return f"{v / 10**decimals:g} ({v})"

    lines = [
        f"spec {f['specHash']}: {f['model']}, {f['parameters']} parameters, batch {f['batchSize']}, "
        f"{f['steps']} steps, checkpoint every {f['checkpointInterval']}",
        f"FLOPs: step {c['stepFlops']:.4g} (cap {f['caps']['stepFlops']:.4g}), segment {c['segmentFlops']:.4g}, "
        f"job {c['jobFlops']:.4g}",
        f"memory: step peak {_human_bytes(c['stepPeakBytes'])}, referee {_human_bytes(c['refereePeakBytes'])} "
        f"(cap {_human_bytes(f['caps']['refereePeakBytes'])}); parameters {_human_bytes(c['parameterBytes'])}, "
        f"optimizer {_human_bytes(c['optimizerBytes'])}, activations {_human_bytes(c['activationBytes'])}",
        f"expected on one core ({t['rateFlopsPerSecond'] / 1e9:g} GFLOP/s, calibrated {t['calibratedOn']}): "
        f"solver {t['solver']:.1f} s, verifier {t['verifier']:.1f} s, referee {t['referee']:.2f} s per step",
        f"money: escrow {amount(m['escrow'])} = payment {amount(m['payment'])} + verifier fee "
        f"{amount(m['verifierFee'])}; submit fee about {amount(m['submitFee'])}",
        f"bonds: submission {amount(m['submissionBond'])} (back unless the dataset is proven unusable), solver "
        f"lock {amount(m['solverLock'])} (min stake {amount(m['minSolverStake'])}), verifier "
        f"{amount(m['verifierBond'])}, challenger or dataset report {amount(m['challengerBond'])}",
        f"deadlines (blocks of {f['blockTimeMs']} ms, and at least the chain time given):",
    ]
    for name, d in f["deadlines"].items():
        least = f", at least {d['minMs'] / 1000:g} s" if d["minMs"] is not None else ""
        lines.append(f"  {name}: {d['blocks']} blocks{least}; expected {d['expectedMs'] / 1000:g} s")
    return "\n".join(lines)


@click.command("estimate")
@click.argument("spec_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--chain",
    default="dev",
    show_default=True,
    help="Chain spec whose parameters apply: dev, local or a path.",
)
@click.option(
    "--payment",
    default="100.0",
    show_default=True,
    help="Payment to escrow: smallest units, or tokens with a decimal point.",
)
@OUTPUT_TYPE
def estimate(spec_path, chain, payment, output_type) -> None:
    """Print a job's cost, expected times, money and deadlines before submitting it."""
    spec = _load_spec(spec_path)
    try:
        chain_spec = load_chain_spec(chain)
    except ChainSpecError as e:
        raise click.ClickException(str(e)) from None
    decimals = int(chain_spec.properties.get("tokenDecimals", 12))
    amount = parse_amount(payment, decimals)
    cfg = chain_spec.configs.get(MarketConfig, MarketConfig())
    fees = chain_spec.configs.get(TransactionPaymentConfig, TransactionPaymentConfig())
    block_ms = int(chain_spec.consensus.get("blockTimeMs", 2000))
    figures = estimate_figures(spec, cfg, fees, block_ms, amount)
    click.echo(json.dumps(figures, indent=2) if output_type == "json" else _text(figures, decimals))
