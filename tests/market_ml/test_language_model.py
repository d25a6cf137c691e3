"""The language_model task: the gpt spec, token-stream datasets, the byte tokenizer, exact causal training
and its held-out figures."""

import json

import pytest
import safetensors.torch
import torch
import torch.nn.functional as F

from compute_market import architectures, tokenizer
from compute_market.jobspec import (
    AdamWSpec,
    ClassificationTask,
    ConstantSchedule,
    GptSpec,
    JobSpec,
    JobSpecError,
    LanguageModelTask,
    MlpSpec,
    TrainingOptions,
)
from compute_market.worker import datasets, evaluation, trainer
from compute_market.worker.datasets import DatasetError, DatasetTensorError, TokenStream

GPT = GptSpec(vocab_size=256, seq_len=16, d_model=16, num_heads=2, num_layers=2, ff_dim=32)
ADAMW = AdamWSpec(0.01, 0.9, 0.99, 1e-8, 0.0)


def lm_job(steps: int = 24, **kw) -> tuple[JobSpec, bytes]:
    blob = datasets.text_stream(datasets.generated_text(3, 120)).to_bytes()
    spec = JobSpec(
        kw.pop("model", GPT),
        datasets.dataset_hash(blob),
        ADAMW,
        ConstantSchedule(),
        8,
        steps,
        5,
        8,
        task=kw.pop("task", LanguageModelTask()),
        **kw,
    )
    return spec, blob


def test_gpt_and_language_model_go_together():
    spec, _ = lm_job()
    assert JobSpec.decode(spec.encode()) == spec
    assert JobSpec.from_json(spec.to_json()) == spec
    assert json.loads(spec.to_json())["task"] == {"kind": "language_model"}
    assert spec.model.num_classes == 256
    with pytest.raises(JobSpecError) as err:
        lm_job(task=ClassificationTask())
    assert err.value.field == "task.kind"
    with pytest.raises(JobSpecError) as err:
        lm_job(model=MlpSpec(16, (8,), 4))
    assert err.value.field == "model.kind"
    with pytest.raises(JobSpecError) as err:
        GptSpec(256, 16, 18, 4, 1, 8)
    assert err.value.field == "d_model"
    smoothed, _ = lm_job(training=TrainingOptions(label_smoothing=0.1))  # a cross-entropy task
    assert smoothed.training.label_smoothing == 0.1


def test_parameter_count_is_the_modules():
    model = architectures.Gpt(GPT, device="meta")
    assert sum(p.numel() for p in model.parameters()) == GPT.parameter_count


def test_tokenizer_is_utf8_bytes():
    assert tokenizer.encode("héllo") == "héllo".encode()
    assert tokenizer.decode(list(tokenizer.encode("héllo ✓"))) == "héllo ✓"
    assert tokenizer.decode([0xFF]) == "\ufffd"
    with pytest.raises(ValueError):
        tokenizer.decode([256])


def test_stream_windows_predict_the_next_token():
    stream = TokenStream(torch.arange(0, 35, dtype=torch.int64), torch.arange(100, 118, dtype=torch.uint8))
    d = stream.windows(8)
    assert d.x_train.shape == (4, 8) and d.x_test.shape == (2, 8)
    assert d.x_train.dtype == d.y_train.dtype == d.x_test.dtype == torch.int64
    assert torch.equal(d.x_train[1], torch.arange(8, 16)) and torch.equal(d.y_train[1], torch.arange(9, 17))
    assert torch.equal(d.y_test[1], torch.arange(109, 117))


def test_stream_blob_loads_only_for_the_language_model():
    spec, blob = lm_job()
    d = datasets.load_dataset(blob, spec)
    assert d.x_train.shape[1] == GPT.seq_len
    with pytest.raises(DatasetError, match="token-stream dataset"):
        datasets.load_dataset(blob)
    with pytest.raises(DatasetError, match="takes a token stream"):
        datasets.load_dataset(datasets.gaussian_blobs(1, 8, 4, 16, 3).to_bytes(), spec)


@pytest.mark.parametrize(
    "tensors, name, message",
    [
        ({"tokens_train": torch.zeros(40, 2, dtype=torch.int64)}, "tokens_train", "1-D uint8 or int64"),
        ({"tokens_test": torch.zeros(40, dtype=torch.float32)}, "tokens_test", "1-D uint8 or int64"),
        ({"tokens_train": torch.full((40,), 300, dtype=torch.int64)}, "tokens_train", "outside 0..255"),
        ({"tokens_test": torch.full((40,), -1, dtype=torch.int64)}, "tokens_test", "outside 0..255"),
        ({"tokens_test": torch.zeros(16, dtype=torch.uint8)}, "tokens_test", "fewer than seq_len"),
    ],
)
def test_bad_streams_are_refused_naming_the_tensor(tensors, name, message):
    spec, _ = lm_job()
    good = {
        "tokens_train": torch.zeros(64, dtype=torch.uint8),
        "tokens_test": torch.zeros(40, dtype=torch.uint8),
    }
    blob = safetensors.torch.save({**good, **tensors})
    with pytest.raises(DatasetTensorError, match=message) as err:
        datasets.load_dataset(blob, spec)
    assert err.value.tensor == name


def test_text_stream_holds_out_the_end():
    stream = datasets.text_stream("abcdefghij" * 10, test_fraction=0.2)
    assert bytes(stream.tokens_train.tolist()) + bytes(stream.tokens_test.tolist()) == b"abcdefghij" * 10
    assert stream.tokens_test.shape[0] == 20 and stream.tokens_train.dtype == torch.uint8
    with pytest.raises(DatasetError):
        datasets.text_stream("ab")
    assert datasets.generated_text(1, 5) == datasets.generated_text(1, 5)


def test_causal_attention_never_sees_later_tokens():
    spec, blob = lm_job()
    t = trainer.Trainer(spec, datasets.load_dataset(blob, spec))
    plain = architectures.Gpt(GPT)
    plain.load_state_dict(dict(t.model.named_parameters()))
    x = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(0))
    changed = x.clone()
    changed[:, 10:] = (changed[:, 10:] + 1) % 256
    with torch.no_grad():
        for model in (t.model, plain):
            a, b = model(x), model(changed)
            assert torch.equal(a[:, :10], b[:, :10])
            assert not torch.equal(a[:, 10:], b[:, 10:])
        assert torch.allclose(t.model(x), plain(x), atol=1e-4)


def test_training_lowers_the_loss_with_the_same_bits_at_any_thread_count():
    spec, blob = lm_job(steps=40)
    data = datasets.load_dataset(blob, spec)
    runs = []
    for threads in (1, 2):
        t = trainer.Trainer(spec, data, threads=threads)
        losses, hashes = [], []
        for record in t.run():
            hashes.append(record.state_hash)
            losses.append(t.last_loss)
        runs.append(hashes)
    assert runs[0] == runs[1]
    assert losses[-1] < 0.7 * losses[1]
    trainer.configure_exact_mode(spec.determinism)
    # the exact loss is torch's cross-entropy over every position, up to rounding
    x, y = data.x_train[:4], data.y_train[:4]
    with torch.no_grad():
        logits = t.model(x)
        exact = float(trainer.task_loss(spec.task, logits, y))
        reference = float(F.cross_entropy(logits.reshape(-1, 256), y.reshape(-1)))
    assert abs(exact - reference) < 1e-5
    e = evaluation.evaluate_model(t.model, data, spec.task)
    assert e.count == data.x_test.shape[0] * GPT.seq_len
    metrics = t.metrics()
    assert metrics["accuracy"] == pytest.approx(e.correct / e.count)
    assert metrics["loss"] == pytest.approx(e.loss, rel=1e-6)
    assert metrics["perplexity"] == pytest.approx(e.perplexity, rel=1e-6)


def test_generation_extends_the_prompt():
    model = architectures.Gpt(GPT)
    out = architectures.generate(model, torch.tensor(list(tokenizer.encode("the cat"))), 20, GPT.seq_len)
    assert out.shape == (27,) and bytes(out[:7].tolist()) == b"the cat"
