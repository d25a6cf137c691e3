"""`gradchain job init`: CSV, NumPy and text files become a dataset blob and a starter spec that the chain
and the trainer accept; bad files are refused naming the place."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from chain.cli import main
from compute_market.jobspec import JobSpec
from compute_market.worker import datasets, onboarding
from compute_market.worker.onboarding import OnboardingError
from compute_market.worker.trainer import Trainer


@pytest.fixture
def files(tmp_path):
    rows = ["f1,f2,f3,label"] + [f"{i * 0.1},{(i % 7) * 1.0},{-i * 0.01},{i % 3}" for i in range(120)]
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    np.save(tmp_path / "targets.npy", np.random.default_rng(0).normal(size=(80, 6)))
    rng = np.random.default_rng(1)
    np.savez(
        tmp_path / "labels.npz", x=rng.normal(size=(60, 4)), y=(rng.random((60, 3)) > 0.5).astype(np.uint8)
    )
    (tmp_path / "text.txt").write_text(datasets.generated_text(5, 80))
    return tmp_path


CASES = [
    ("classification", "table.csv", 1, "mlp"),
    ("regression", "targets.npy", 2, "mlp"),
    ("multilabel", "labels.npz", 1, "mlp"),
    ("language_model", "text.txt", 1, "gpt"),
]


@pytest.mark.parametrize("task, name, targets, kind", CASES)
def test_each_task_gets_a_dataset_and_a_spec_that_train(files, task, name, targets, kind):
    data = onboarding.dataset_from_file(files / name, task, targets, seed=3)
    blob = data.to_bytes()
    assert onboarding.dataset_from_file(files / name, task, targets, seed=3).to_bytes() == blob
    spec = onboarding.starter_spec(task, data, datasets.dataset_hash(blob), seed=3)
    assert spec.model.KIND == kind and spec.task.KIND == task
    assert JobSpec.from_json(spec.to_json()) == spec
    loaded = datasets.load_dataset(blob, spec)
    *_, last = Trainer(spec, loaded, checkpoints=False).run(until=2)
    assert last.step == 2


def test_the_split_is_a_seeded_permutation_of_every_row(files):
    d = onboarding.dataset_from_file(files / "table.csv", "classification", test_fraction=0.25, seed=1)
    assert d.x_train.shape == (90, 3) and d.x_test.shape == (30, 3)
    rows = sorted(map(tuple, [*d.x_train.tolist(), *d.x_test.tolist()]))
    assert len(set(rows)) == 120
    other = onboarding.dataset_from_file(files / "table.csv", "classification", test_fraction=0.25, seed=2)
    assert other.x_test.tolist() != d.x_test.tolist()


@pytest.mark.parametrize(
    "content, task, message",
    [
        ("a,b\n1,2\n3\n", "regression", "data row 2 has 1 columns"),
        ("a,b\n1,2\n3,x\n", "regression", "data row 2, column 2 is not a number: 'x'"),
        ("1,2\n3,0.5\n", "classification", "labels must be integers"),
        ("1,2\n3,2\n", "multilabel", "must be 0 or 1"),
        ("1,nan\n3,2\n", "regression", "not finite"),
        ("just text\n", "regression", "no rows of numbers"),
    ],
)
def test_bad_tables_are_refused_naming_the_place(tmp_path, content, task, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(OnboardingError, match=message):
        onboarding.dataset_from_file(path, task)


def test_pickles_and_unknown_files_are_refused(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(OnboardingError, match="no pickles"):
        onboarding.dataset_from_file(tmp_path / "objects.npy", "regression")
    (tmp_path / "data.txt").write_text("1,2\n")
    with pytest.raises(OnboardingError, match="text is for language_model"):
        onboarding.dataset_from_file(tmp_path / "data.txt", "regression")
    np.savez(tmp_path / "odd.npz", a=np.zeros(3))
    with pytest.raises(OnboardingError, match="holds a"):
        onboarding.dataset_from_file(tmp_path / "odd.npz", "regression")


def test_cli_writes_both_files_and_never_overwrites(files):
    runner = CliRunner()
    args = ["job", "init", "--task", "language_model", "--from", str(files / "text.txt")]
    out_args = ["--dataset", str(files / "lm.safetensors"), "--spec", str(files / "lm.json")]
    result = runner.invoke(main, [*args, *out_args])
    assert result.exit_code == 0, result.output
    spec = JobSpec.from_json((files / "lm.json").read_text())
    blob = (files / "lm.safetensors").read_bytes()
    assert spec.dataset_hash == datasets.dataset_hash(blob)
    assert set(json.loads((files / "lm.json").read_text())) >= {"checkpoint_interval", "determinism", "task"}
    assert "gradchain job submit --spec" in result.output
    again = runner.invoke(main, [*args, *out_args])
    assert again.exit_code != 0 and "pass --force" in again.output
    assert runner.invoke(main, [*args, *out_args, "--force"]).exit_code == 0
