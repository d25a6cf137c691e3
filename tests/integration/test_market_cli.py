"""The submitter's and workers' command line against a dev node: register, submit, status, list, fetch-model,
predict, status --watch, and the solver's log (plain lines with the training loss when not on a terminal)."""

import json
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
import safetensors.torch
import torch

from chain.cli.demo import demo_spec
from chain.node.launcher import LocalNetwork
from compute_market import model_io
from compute_market.worker.client import MarketNode
from compute_market.worker.datasets import Dataset, synthetic_digits

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chain.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def test_submit_train_and_fetch_model_from_the_command_line(tmp_path):
    digits = synthetic_digits(seed=7, n_train=512, n_test=128)
    data = Dataset(
        digits.x_train.reshape(-1, 64), digits.y_train, digits.x_test.reshape(-1, 64), digits.y_test
    )
    dataset = tmp_path / "digits.safetensors"
    dataset.write_bytes(data.to_bytes())
    spec = json.loads(
        demo_spec(bytes(32), seed=1, steps=40).to_json()
    )  # dataset_hash is filled in by the CLI
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    with LocalNetwork(tmp_path / "chain", chain="dev", idle_block_interval=0.3) as net:
        net.wait_height(1, timeout=60)
        node = net.nodes[0].grpc_addr
        out = cli("solver", "register", "--key", "//Charlie", "--stake", "1000.0", "--node", node)
        assert out.returncode == 0, out.stderr
        bad = cli(
            "job",
            "submit",
            "--key",
            "//Ferdie",
            "--spec",
            str(dataset),
            "--dataset",
            str(dataset),
            "--payment",
            "10.0",
            "--node",
            node,
        )
        assert bad.returncode != 0 and "Error" in bad.stderr
        out = cli(
            "job",
            "submit",
            "--key",
            "//Ferdie",
            "--spec",
            str(spec_path),
            "--dataset",
            str(dataset),
            "--payment",
            "10.0",
            "--node",
            node,
        )
        assert out.returncode == 0, out.stderr
        job_id = int(out.stdout.split("job id:")[1].split()[0])
        solver_log = tmp_path / "solver.log"
        solver = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chain.cli",
                "worker",
                "solver",
                "--key",
                "//Charlie",
                "--node",
                node,
                "--state-dir",
                str(tmp_path / "solver"),
                "--poll",
                "0.2",
            ],
            stdout=subprocess.DEVNULL,
            stderr=solver_log.open("w"),
        )
        try:
            reader = MarketNode(node)
            deadline = time.monotonic() + 120
            while reader.job(job_id).status not in ("COMMITTED", "ATTESTED", "FINALIZED"):
                assert time.monotonic() < deadline, "the solver did not commit"
                time.sleep(0.3)
        finally:
            solver.terminate()
            solver.wait(20)
        status = json.loads(cli("job", "status", str(job_id), "--node", node).stdout)
        assert status["id"] == job_id and status["steps"] == 40
        assert (
            len(status["hashList"]) == 66
            and int(status["submitterBond"]) > 0
            and status["disputeDetails"] == []
        )
        evaluation = status["evaluation"]  # the solver's figures on the held-out split, on chain
        assert (
            evaluation["count"] == data.x_test.shape[0] and 0 <= evaluation["correct"] <= evaluation["count"]
        )
        assert (
            struct.unpack("<d", int(evaluation["lossBits"], 16).to_bytes(8, "little"))[0]
            == evaluation["loss"]
        )
        text = cli("job", "status", str(job_id), "--node", node, "--output-type", "text").stdout
        assert f"accuracy {evaluation['correct']}/{evaluation['count']}" in text
        assert f"{job_id}" in cli("job", "list", "--node", node).stdout
        model = tmp_path / "model.safetensors"
        out = cli("job", "fetch-model", str(job_id), "--out", str(model), "--node", node)
        assert out.returncode == 0, out.stderr
        fetched = model_io.load_model(model)
        with torch.no_grad():
            correct = int((fetched(data.x_test).argmax(dim=1) == data.y_test).sum())
        # the exported model runs on torch's kernels, not exact mode's: a near tie may fall the other way
        assert abs(correct - evaluation["correct"]) <= 1
        tensors = safetensors.torch.load(model.read_bytes())
        assert tensors and all(name.startswith("layers") or "." in name for name in tensors)
        missing = cli("job", "status", "999", "--node", node)
        assert missing.returncode != 0 and "no job 999" in missing.stderr
        np.save(tmp_path / "x.npy", data.x_test[:8].numpy())
        predicted = cli("job", "predict", str(model), str(tmp_path / "x.npy"))
        assert predicted.returncode == 0, predicted.stderr
        assert predicted.stdout.split() == [
            str(c)
            for c in model_io.predict(model_io.load_model(model), data.x_test[:8]).argmax(dim=1).tolist()
        ]
        watched = cli(
            "job", "status", str(job_id), "--watch", "--interval", "0.2", "--node", node, timeout=180
        )
        assert watched.returncode == 0, watched.stderr
        assert f"job {job_id} -> FINALIZED" in watched.stdout and watched.stdout.count("-> FINALIZED") == 1
        missing = cli("job", "status", "999", "--watch", "--node", node)
        assert missing.returncode == 1 and "no job 999" in missing.stderr
    log = solver_log.read_text()
    assert "\r" not in log and "solver: train job" in log
    losses = [line.split(" step ")[1] for line in log.splitlines() if "training loss" in line]
    assert [entry.split(":")[0] for entry in losses] == ["20/40", "40/40"]  # every checkpoint
    assert all(float(entry.split("training loss ")[1]) > 0 for entry in losses)
