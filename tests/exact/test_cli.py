"""`gradchain selftest` and `gradchain job trace`: what a solver runs before staking on a machine."""

from __future__ import annotations

import json

from click.testing import CliRunner

from chain.cli import main
from compute_market.worker import selftest


def test_selftest_passes_on_this_machine():
    result = CliRunner().invoke(main, ["selftest", "--threads", "2"])
    assert result.exit_code == 0, result.output
    assert "selftest passed" in result.output
    assert result.output.count("agrees") == len(selftest.load_reference())


def test_invalid_reference_hash_fails_the_selftest_naming_job_and_step(tmp_path):
    data = json.loads(selftest.REFERENCE_FILE.read_text())
    hashes = data["jobs"]["cnn-sgd-step"]
    hashes[4] = hashes[4][:-1] + ("0" if hashes[4][-1] != "0" else "1")
    tampered = tmp_path / "reference.json"
    tampered.write_text(json.dumps(data))
    result = CliRunner().invoke(main, ["selftest", "--reference", str(tampered), "--output-type", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["agrees"] is False
    assert [(m["job"], m["step"]) for m in report["mismatches"]] == [("cnn-sgd-step", 4)]
    assert "do not stake on this machine" in result.stderr


def test_job_trace_prints_the_profile_and_the_run_hashes(tmp_path):
    spec, ds = selftest.reference_jobs()["transformer-adamw-constant"]
    (tmp_path / "spec.json").write_text(spec.to_json())
    (tmp_path / "data.safetensors").write_bytes(ds.to_bytes())
    args = [
        "job",
        "trace",
        str(tmp_path / "spec.json"),
        str(tmp_path / "data.safetensors"),
        "--steps",
        "4",
        "--threads",
        "2",
        "--output-type",
        "json",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["profile"]["kernels"] == "gradchain-exact" and out["profile"]["torchVersion"] == "2.13.0+cpu"
    assert [h[2:] for h in out["hashes"]] == selftest.load_reference()["transformer-adamw-constant"][:5]


def test_invalid_trace_arguments_are_refused_with_the_reason(tmp_path):
    spec, ds = selftest.reference_jobs()["mlp-sgd-constant"]
    (tmp_path / "spec.json").write_text(spec.to_json())
    (tmp_path / "data.safetensors").write_bytes(ds.to_bytes())
    (tmp_path / "bad.json").write_text('{"version": 1}')
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    runner = CliRunner()
    cases = [
        (["spec.json", "data.safetensors", "--steps", "99"], "exceeds the spec's 6 steps"),
        (["bad.json", "data.safetensors"], "missing field"),
        (["spec.json", "junk.safetensors"], "not a valid safetensors"),
    ]
    for args, message in cases:
        result = runner.invoke(main, ["job", "trace", *[str(tmp_path / a) if "." in a else a for a in args]])
        assert result.exit_code != 0 and message in result.output, result.output
