"""Every task end to end on a dev chain (issue 19's "done when"): a language model, a regression and a
multi-label job are submitted, trained by a `gradchain worker solver` process, audited by a verifier and a
whistleblower, and finalized with their evaluation on chain; each fetched model then loads and runs in a
fresh process that never imports the trainer or the exact kernels."""

import json
import subprocess
import sys

import pytest

from chain.node.launcher import LocalNetwork
from compute_market.jobspec import (
    AdamWSpec,
    ConstantSchedule,
    GptSpec,
    JobSpec,
    LanguageModelTask,
    MlpSpec,
    MultilabelTask,
    RegressionTask,
)
from compute_market.worker import client as calls
from compute_market.worker import datasets
from compute_market.worker.roles import Verifier, Whistleblower
from compute_market.worker.states import job_evaluation
from tests.integration.test_market_workers import SUBMITTER, UNIT, VERIFIER, WHISTLEBLOWER, Market

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ADAMW = AdamWSpec(0.01, 0.9, 0.99, 1e-8, 0.0)
GPT = GptSpec(vocab_size=256, seq_len=32, d_model=32, num_heads=2, num_layers=2, ff_dim=64)


def jobs() -> dict[str, tuple[object, object, object]]:
    """name -> (model, task, dataset) of the three jobs."""
    return {
        "language_model": (
            GPT,
            LanguageModelTask(),
            datasets.text_stream(datasets.generated_text(21, 400)),
        ),
        "regression": (
            MlpSpec(8, (32,), 2),
            RegressionTask("huber", 1.0),
            datasets.linear_targets(22, 512, 128, 8, 2),
        ),
        "multilabel": (MlpSpec(8, (32,), 3), MultilabelTask(), datasets.multilabel_blobs(23, 512, 128, 8, 3)),
    }


def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chain.cli", *args], capture_output=True, text=True, timeout=timeout
    )


FRESH_LOAD = """
import json, sys
import torch
from compute_market.model_io import generate_text, load_model, read_model_file
path, kind = sys.argv[1], sys.argv[2]
model = load_model(path)
spec = read_model_file(path).spec
out = {"class": type(model).__name__, "task": spec.task.KIND}
if kind == "language_model":
    out["sample"] = generate_text(model, "the cat ", 60)
else:
    out["shape"] = list(model(torch.zeros(5, spec.model.input_dim)).shape)
out["trainer_imported"] = sorted(m for m in sys.modules if m.startswith("compute_market.worker"))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tasks")
    with LocalNetwork(tmp / "chain", chain="dev", idle_block_interval=0.3) as net:
        net.wait_height(1, timeout=60)
        market = Market(net, tmp)
        market.register()
        solver = market.solver_process(tmp / "solver")
        market.run(Verifier(market.node(VERIFIER)))
        market.run(Whistleblower(market.node(WHISTLEBLOWER)))
        try:
            submitter = market.node(SUBMITTER)
            ids = {}
            for seed, (name, (model, task, data)) in enumerate(jobs().items(), start=1):
                spec = JobSpec(
                    model,
                    submitter.put_blob(data.to_bytes()),
                    ADAMW,
                    ConstantSchedule(),
                    batch_size=32,
                    steps=60,
                    seed=seed,
                    checkpoint_interval=20,
                    task=task,
                )
                before = {j.id for j in submitter.jobs()}
                assert submitter.send(
                    calls.submit_job(spec.encode(), 100 * UNIT), f"submit {name}", wait=True
                )
                ids[name] = max(j.id for j in submitter.jobs() if j.id not in before)
            ended = {
                name: market.wait_status(job_id, ("FINALIZED", "SLASHED"), timeout=600)
                for name, job_id in ids.items()
            }
            yield market, ids, ended, tmp
        finally:
            solver.terminate()
            solver.wait(20)
            market.close()


@pytest.mark.parametrize("name", ["language_model", "regression", "multilabel"])
def test_job_of_each_task_is_finalized_with_its_evaluation_and_its_model_loads_anywhere(chain, name):
    market, ids, ended, tmp = chain
    job_id, job = ids[name], ended[name]
    assert job.status == "FINALIZED" and not market.reader.disputes(job_id)
    evaluation = job_evaluation(job)
    assert evaluation is not None
    model, task, data = jobs()[name]
    windows = data.windows(model.seq_len) if name == "language_model" else data
    status = json.loads(cli("job", "status", str(job_id), "--node", market.addr).stdout)["evaluation"]
    assert status["count"] == evaluation.count and status["loss"] == evaluation.loss
    if name == "language_model":
        assert evaluation.count == windows.x_test.shape[0] * model.seq_len  # every held-out position
        assert 1.0 < evaluation.perplexity < 12.0  # far below the 256 of a uniform guess
        assert status["perplexity"] == pytest.approx(evaluation.perplexity)
    elif name == "multilabel":
        assert evaluation.count == 128 and 0 < evaluation.correct <= 128
    else:
        assert evaluation.count == 128 and evaluation.correct == 0 and 0 < evaluation.loss < 1.0
    path = tmp / f"{name}.safetensors"
    out = cli("job", "fetch-model", str(job_id), "--out", str(path), "--node", market.addr)
    assert out.returncode == 0, out.stderr
    fresh = subprocess.run(
        [sys.executable, "-c", FRESH_LOAD, str(path), name], capture_output=True, text=True, timeout=120
    )
    assert fresh.returncode == 0, fresh.stderr
    loaded = json.loads(fresh.stdout)
    assert loaded["task"] == name and loaded["trainer_imported"] == []
    if name == "language_model":
        assert loaded["class"] == "Gpt" and loaded["sample"].startswith("the cat ")
        assert len(loaded["sample"]) > len("the cat ")  # 60 byte tokens, shown as UTF-8 text
        prompt = tmp / "prompt.txt"
        prompt.write_text("a dog ")
        predicted = cli(
            "job", "predict", str(path), str(prompt), "--new-tokens", "40", "--output-type", "text"
        )
        assert predicted.returncode == 0, predicted.stderr
        assert predicted.stdout.startswith("a dog ")
    else:
        assert loaded["shape"] == [5, model.num_classes]
