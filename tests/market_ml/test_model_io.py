"""Exported models load anywhere: the metadata round trip, the plain modules' agreement with exact mode, a
fresh process that never imports the trainer, and the checks that refuse a bad file."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch
from click.testing import CliRunner

from chain.cli import main
from compute_market import model_io
from compute_market.commitment import encode_step_hashes
from compute_market.model_io import (
    ModelMetadataError,
    ModelTensorMismatch,
    ModelTooLarge,
    load_model,
    read_model,
)
from compute_market.worker.model_export import export_model
from compute_market.worker.models import build_model
from compute_market.worker.trainer import train
from tests.market_ml.conftest import small_job


def exported(kind: str):
    spec, ds = small_job(kind, steps=8, interval=4)
    result = train(spec, ds)
    data = export_model(
        spec.encode(),
        encode_step_hashes(result.hashes),
        result.root,
        result.checkpoints[spec.steps],
        result.final_model_hash,
    )
    return spec, ds, result, data


@pytest.fixture(scope="module", params=["mlp", "cnn", "transformer"])
def export(request):
    return exported(request.param)


def exact_logits(spec, data: bytes, x: torch.Tensor) -> torch.Tensor:
    model = build_model(spec)
    model.load_state_dict(safetensors.torch.load(data), strict=True)
    with torch.no_grad():
        return model(x)


def assert_agrees(plain: torch.Tensor, exact: torch.Tensor) -> None:
    assert plain.shape == exact.shape
    assert float((plain - exact).abs().max()) <= 1e-4 * max(float(exact.abs().max()), 1e-3)


def test_export_metadata_round_trip(export, tmp_path):
    spec, _ds, result, data = export
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    with safetensors.safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert meta["gradchain.format"] == "1"
    assert meta["gradchain.spec"] == spec.to_json()
    assert json.loads(meta["gradchain.architecture"]) == spec.model.to_obj()
    loaded = model_io.read_model_file(path)
    assert loaded.spec == spec and loaded.final_hash == "0x" + result.final_model_hash.hex()
    assert not loaded.model.training


def test_plain_model_computes_the_exact_models_logits(export, tmp_path):
    spec, ds, _result, data = export
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    assert_agrees(model_io.predict(load_model(path), ds.x_test), exact_logits(spec, data, ds.x_test))


FRESH_PROCESS = """
import json, sys
import numpy as np
from compute_market.model_io import load_model, predict, read_model_file, load_inputs
model_file = read_model_file(sys.argv[1])
x = load_inputs(sys.argv[2], model_file.spec)
np.save(sys.argv[3], predict(load_model(sys.argv[1]), x).numpy())
maps = open("/proc/self/maps").read()
print(json.dumps({
    "trainer": "compute_market.worker.trainer" in sys.modules,
    "worker": sorted(m for m in sys.modules if m.startswith("compute_market.worker")),
    "native": "kernels-" in maps or "cpucheck-" in maps,
}))
"""


def test_load_model_in_a_fresh_process_without_the_trainer(tmp_path):
    spec, ds, _result, data = exported("transformer")
    (tmp_path / "model.safetensors").write_bytes(data)
    np.save(tmp_path / "x.npy", ds.x_test.numpy())
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            FRESH_PROCESS,
            str(tmp_path / "model.safetensors"),
            str(tmp_path / "x.npy"),
            str(tmp_path / "logits.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report == {"trainer": False, "worker": [], "native": False}
    logits = torch.from_numpy(np.load(tmp_path / "logits.npy"))
    assert_agrees(logits, exact_logits(spec, data, ds.x_test))


@pytest.fixture(scope="module")
def mlp_export():
    return exported("mlp")


def with_header(data: bytes, edit) -> bytes:
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    edit(header)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data[8 + size :]


def test_invalid_file_without_metadata(mlp_export):
    tensors = safetensors.torch.load(mlp_export[3])
    with pytest.raises(ModelMetadataError, match="no gradchain metadata"):
        read_model(safetensors.torch.save(tensors))


def test_invalid_format_version(mlp_export):
    data = with_header(mlp_export[3], lambda h: h["__metadata__"].update({"gradchain.format": "9"}))
    with pytest.raises(ModelMetadataError, match="format '9'"):
        read_model(data)


def test_invalid_spec_in_metadata(mlp_export):
    data = with_header(mlp_export[3], lambda h: h["__metadata__"].update({"gradchain.spec": "{}"}))
    with pytest.raises(ModelMetadataError, match="job spec is invalid"):
        read_model(data)


def test_invalid_architecture_other_than_the_specs(mlp_export):
    other = json.dumps({"kind": "mlp", "input_dim": 8, "hidden": [32], "num_classes": 3})
    data = with_header(mlp_export[3], lambda h: h["__metadata__"].update({"gradchain.architecture": other}))
    with pytest.raises(ModelMetadataError, match="not its spec's model"):
        read_model(data)


def test_invalid_tensor_shape_dtype_and_names(mlp_export):
    spec, _ds, result, data = mlp_export
    tensors = safetensors.torch.load(data)
    meta = model_io.model_metadata(spec, result.final_model_hash)
    wrong = {**tensors, "net.0.bias": torch.zeros(17)}
    with pytest.raises(ModelTensorMismatch, match=r"net.0.bias has shape \[17\], expected \[16\]"):
        read_model(safetensors.torch.save(wrong, metadata=meta))
    wrong = {**tensors, "net.0.bias": tensors["net.0.bias"].double()}
    with pytest.raises(ModelTensorMismatch, match="net.0.bias is F64, not F32"):
        read_model(safetensors.torch.save(wrong, metadata=meta))
    with pytest.raises(ModelTensorMismatch, match="has tensors the architecture does not: extra"):
        read_model(safetensors.torch.save({**tensors, "extra": torch.zeros(1)}, metadata=meta))
    del tensors["net.2.weight"]
    with pytest.raises(ModelTensorMismatch, match="lacks parameters net.2.weight"):
        read_model(safetensors.torch.save(tensors, metadata=meta))


def test_invalid_oversized_file_and_pickle(mlp_export, monkeypatch, tmp_path):
    data = mlp_export[3]
    monkeypatch.setattr(model_io, "MAX_MODEL_BYTES", len(data) - 1)
    with pytest.raises(ModelTooLarge):
        read_model(data)
    monkeypatch.undo()
    pickled = tmp_path / "model.pt"
    torch.save(safetensors.torch.load(data), pickled)
    with pytest.raises(model_io.ModelFileError):
        model_io.read_model_file(pickled)


def test_invalid_inputs_are_refused_with_the_expected_shape(mlp_export, tmp_path):
    spec = mlp_export[0]
    np.save(tmp_path / "bad.npy", np.zeros((3, 9), dtype=np.float32))
    with pytest.raises(model_io.ModelInputError, match=r"inputs shaped \[N, 8\], got \[3, 9\]"):
        model_io.load_inputs(tmp_path / "bad.npy", spec)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(model_io.ModelInputError, match="not a NumPy .npy array"):
        model_io.load_inputs(tmp_path / "obj.npy", spec)
    np.save(tmp_path / "one.npy", np.ones(8))
    assert model_io.load_inputs(tmp_path / "one.npy", spec).shape == (1, 8)


def test_job_predict_prints_classes_and_json_logits(mlp_export, tmp_path):
    spec, ds, _result, data = mlp_export
    (tmp_path / "model.safetensors").write_bytes(data)
    np.save(tmp_path / "x.npy", ds.x_test[:5].numpy())
    expected = exact_logits(spec, data, ds.x_test[:5])
    runner = CliRunner()
    args = ["job", "predict", str(tmp_path / "model.safetensors"), str(tmp_path / "x.npy")]
    text = runner.invoke(main, args)
    assert text.exit_code == 0, text.output
    assert text.output.split() == [str(c) for c in expected.argmax(dim=1).tolist()]
    out = runner.invoke(main, [*args, "--output-type", "json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["model"] == spec.model.to_obj() and len(report["predictions"]) == 5
    assert_agrees(torch.tensor([p["logits"] for p in report["predictions"]]), expected)
    assert all(abs(sum(p["probabilities"]) - 1) < 1e-5 for p in report["predictions"])


def test_job_predict_on_a_dataset_tensor_and_refusals(mlp_export, tmp_path):
    spec, ds, _result, data = mlp_export
    (tmp_path / "model.safetensors").write_bytes(data)
    (tmp_path / "data.safetensors").write_bytes(ds.to_bytes())
    model = str(tmp_path / "model.safetensors")
    runner = CliRunner()
    ok = runner.invoke(
        main, ["job", "predict", model, str(tmp_path / "data.safetensors"), "--tensor", "x_test"]
    )
    assert ok.exit_code == 0 and len(ok.output.split()) == ds.x_test.shape[0]
    missing = runner.invoke(main, ["job", "predict", model, str(tmp_path / "data.safetensors")])
    assert missing.exit_code == 1 and "has no tensor 'x'" in missing.output
    not_a_model = runner.invoke(main, ["job", "predict", str(tmp_path / "data.safetensors"), model])
    assert not_a_model.exit_code == 1 and "no gradchain metadata" in not_a_model.output
