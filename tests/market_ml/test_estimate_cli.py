"""`gradchain job estimate SPEC.json`: the cost, times, money and deadlines of a job, offline."""

from __future__ import annotations

import json

from click.testing import CliRunner

from chain.cli import main
from chain.cli.demo import demo_spec
from compute_market import cost
from compute_market.pallet.types import UNIT, MarketConfig
from compute_market.pallet.windows import windows_for
from runtime.chain_spec import load_chain_spec


def _write(tmp_path, obj) -> str:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(obj))
    return str(path)


def test_json_figures_match_the_cost_model_and_the_pallet(tmp_path):
    spec = demo_spec(bytes(32), 1, 120)
    result = CliRunner().invoke(
        main,
        ["job", "estimate", _write(tmp_path, spec.to_obj()), "--payment", "100.0", "--output-type", "json"],
    )
    assert result.exit_code == 0, result.output
    f = json.loads(result.output)
    jc = cost.job_cost(spec)
    assert f["specHash"] == "0x" + spec.spec_hash.hex()
    assert f["cost"]["stepFlops"] == jc.step.flops and f["cost"]["jobFlops"] == jc.job_flops
    assert f["cost"]["stepPeakBytes"] == jc.step.peak_bytes
    assert (
        f["expectedSeconds"]["solver"] == jc.job_seconds
        and f["expectedSeconds"]["referee"] == jc.referee_seconds
    )
    cfg = load_chain_spec("dev").configs.get(MarketConfig, MarketConfig())
    m = f["money"]
    assert m["payment"] == 100 * UNIT and m["escrow"] == 100 * UNIT + cfg.verifier_fee
    assert m["solverLock"] == cfg.job_lock(100 * UNIT) and m["challengerBond"] == cfg.challenger_bond
    assert m["submissionBond"] == cfg.submission_bond
    assert m["submitFee"] > 0
    w = windows_for(spec, cfg)
    d = f["deadlines"]
    assert d["challengeWindow"] == {
        "blocks": cfg.challenge_window,
        "minMs": w.challenge_ms,
        "expectedMs": max(cfg.challenge_window * f["blockTimeMs"], w.challenge_ms),
    }
    assert d["vote"]["minMs"] == w.vote_ms and d["commit"]["minMs"] == w.commit_ms
    assert d["disputeMove"]["minMs"] == w.move_ms and d["assignment"]["minMs"] is None


def test_text_lists_every_figure_and_the_dataset_hash_may_be_left_out(tmp_path):
    obj = demo_spec(bytes(32), 1, 120).to_obj()
    del obj["dataset_hash"]
    result = CliRunner().invoke(main, ["job", "estimate", _write(tmp_path, obj)])
    assert result.exit_code == 0, result.output
    for word in (
        "FLOPs: step",
        "memory: step peak",
        "solver",
        "verifier",
        "referee",
        "escrow",
        "submit fee",
        "solver lock",
        "submission",
        "challenger",
        "commit:",
        "challengeWindow:",
        "disputeMove:",
        "vote:",
    ):
        assert word in result.output


def test_a_spec_over_the_cap_is_refused_with_the_figure(tmp_path):
    obj = demo_spec(bytes(32), 1, 120).to_obj()
    obj["model"] = {
        "kind": "transformer",
        "vocab_size": 8192,
        "seq_len": 512,
        "d_model": 384,
        "num_heads": 6,
        "num_layers": 6,
        "ff_dim": 1536,
        "num_classes": 10,
    }
    obj["batch_size"] = 4096
    result = CliRunner().invoke(main, ["job", "estimate", _write(tmp_path, obj)])
    assert result.exit_code != 0
    assert (
        "the chain would refuse this spec" in result.output and "over the cap of 6e+11 FLOPs" in result.output
    )


def test_unreadable_spec_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    result = CliRunner().invoke(main, ["job", "estimate", str(path)])
    assert result.exit_code != 0 and "cannot read the spec" in result.output
