"""Exported models that load anywhere: one safetensors file, read back as a plain `torch.nn.Module`.

    from compute_market.model_io import load_model
    model = load_model("model.safetensors")   # eval mode; model(x) -> outputs [N, num_classes]

The outputs are what the spec's task trained them to be (`spec.task`, in `gradchain.spec`): class logits
(classification), one value per target (regression), one logit per label, > 0 for on (multilabel). The
architecture is the same for these tasks; only the width of its last layer is the spec's `num_classes`.
A language model (the gpt, task language_model) maps int64 tokens [N, T] (T up to its seq_len) to
next-token logits [N, T, vocab_size]; `generate_text` continues a prompt with the built-in byte tokenizer:

    from compute_market.model_io import generate_text, load_model
    print(generate_text(load_model("lm.safetensors"), "the cat ", 80))

The file (`gradchain job fetch-model`) holds the final parameters by name, float32, and a metadata map:

    gradchain.format        "1", the version of this layout
    gradchain.spec          the job spec's canonical JSON (`JobSpec.to_json`)
    gradchain.architecture  the spec's model as canonical JSON ({"kind": "mlp", "input_dim": 64, ...})
    gradchain.final_hash    0x + hex of the committed final model hash the parameters hash to

Loading needs torch, safetensors and this package's pure-Python spec parser, nothing else: the modules are
`compute_market.architectures` with torch's own kernels, never the trainer or the exact-mode kernels, so
the outputs equal the exact model's up to float rounding. Everything in the file is checked before a
tensor is built: its size, the metadata (present, known version, a valid spec, an architecture that is the
spec's), and the tensors (exactly the architecture's names, float32, the architecture's shapes). Each
failure is a `ModelFileError` subclass that names what is wrong; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from torch import nn

from compute_market import tokenizer
from compute_market.architectures import ARCHITECTURES, Gpt, ModelSpec, example_shape, generate
from compute_market.jobspec import JobSpec, JobSpecError

FORMAT_VERSION = "1"
FORMAT_KEY, SPEC_KEY, ARCHITECTURE_KEY, FINAL_HASH_KEY = (
    "gradchain.format",
    "gradchain.spec",
    "gradchain.architecture",
    "gradchain.final_hash",
)
MAX_MODEL_BYTES = 512 * 1024 * 1024  # a model is part of a checkpoint, whose cap this is
MAX_HEADER_BYTES = 1024 * 1024
MAX_INPUT_BYTES = 256 * 1024 * 1024  # one dataset's worth (the dataset cap)
PREDICT_BATCH = 1024
MAX_NEW_TOKENS = 4096  # one generation's length: each token is one forward pass


class ModelFileError(ValueError):
    """The file is not a gradchain model this version can load; the subclass and message say why."""


class ModelTooLarge(ModelFileError):
    """The file exceeds `MAX_MODEL_BYTES` (or its safetensors header `MAX_HEADER_BYTES`)."""


class ModelMetadataError(ModelFileError):
    """The safetensors header or its gradchain metadata is missing, malformed or of another version."""


class ModelTensorMismatch(ModelFileError):
    """The tensors are not exactly the architecture's parameters (names, dtype float32, shapes)."""


class ModelInputError(ValueError):
    """Inputs that do not fit the model: their file, dtype, shape or token range."""


@dataclass(frozen=True)
class ModelFile:
    spec: JobSpec
    model: nn.Module  # eval mode
    final_hash: str


def architecture_json(model: ModelSpec) -> str:
    return json.dumps(model.to_obj(), sort_keys=True, separators=(",", ":"))


def model_metadata(spec: JobSpec, final_hash: bytes) -> dict[str, str]:
    """The metadata an exported model file carries (module docstring)."""
    return {
        FORMAT_KEY: FORMAT_VERSION,
        SPEC_KEY: spec.to_json(),
        ARCHITECTURE_KEY: architecture_json(spec.model),
        FINAL_HASH_KEY: "0x" + final_hash.hex(),
    }


def _header(data: bytes) -> dict:
    if len(data) < 8:
        raise ModelMetadataError(f"{len(data)} bytes are too few for a safetensors file")
    (size,) = struct.unpack("<Q", data[:8])
    if size > MAX_HEADER_BYTES:
        raise ModelTooLarge(f"safetensors header of {size} bytes exceeds the cap of {MAX_HEADER_BYTES}")
    if 8 + size > len(data):
        raise ModelMetadataError(f"safetensors header of {size} bytes runs past the file's {len(data)}")
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ModelMetadataError(f"safetensors header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise ModelMetadataError("safetensors header is not a JSON object")
    return header


def _metadata(header: dict) -> tuple[JobSpec, str]:
    meta = header.get("__metadata__")
    if not isinstance(meta, dict):
        raise ModelMetadataError(
            "the file has no gradchain metadata (a model exported before format 1, or not a gradchain model)"
        )
    missing = [k for k in (FORMAT_KEY, SPEC_KEY, ARCHITECTURE_KEY, FINAL_HASH_KEY) if k not in meta]
    if missing:
        raise ModelMetadataError(f"metadata lacks {', '.join(missing)}")
    if meta[FORMAT_KEY] != FORMAT_VERSION:
        raise ModelMetadataError(f"model format {meta[FORMAT_KEY]!r} is not the supported {FORMAT_VERSION!r}")
    try:
        spec = JobSpec.from_json(meta[SPEC_KEY])
    except JobSpecError as e:
        raise ModelMetadataError(f"the metadata's job spec is invalid: {e}") from None
    if meta[ARCHITECTURE_KEY] != architecture_json(spec.model):
        raise ModelMetadataError(
            f"the metadata's architecture {meta[ARCHITECTURE_KEY]} is not its spec's model "
            f"{architecture_json(spec.model)}"
        )
    return spec, meta[FINAL_HASH_KEY]


def _check_tensors(header: dict, model: nn.Module) -> None:
    expected = {name: tuple(p.shape) for name, p in model.named_parameters()}
    found = {name: entry for name, entry in header.items() if name != "__metadata__"}
    if missing := sorted(expected.keys() - found.keys()):
        raise ModelTensorMismatch(f"the file lacks parameters {', '.join(missing)}")
    if extra := sorted(found.keys() - expected.keys()):
        raise ModelTensorMismatch(f"the file has tensors the architecture does not: {', '.join(extra)}")
    for name, shape in sorted(expected.items()):
        entry = found[name]
        if not isinstance(entry, dict):
            raise ModelMetadataError(f"the header entry of {name} is not an object")
        if entry.get("dtype") != "F32":
            raise ModelTensorMismatch(f"{name} is {entry.get('dtype')}, not F32")
        if entry.get("shape") != list(shape):
            raise ModelTensorMismatch(f"{name} has shape {entry.get('shape')}, expected {list(shape)}")


def read_model(data: bytes) -> ModelFile:
    """The checked model of an exported file's bytes (module docstring)."""
    if len(data) > MAX_MODEL_BYTES:
        raise ModelTooLarge(f"model file of {len(data)} bytes exceeds the cap of {MAX_MODEL_BYTES}")
    header = _header(data)
    spec, final_hash = _metadata(header)
    model = ARCHITECTURES[spec.model.KIND](spec.model, device="meta")
    _check_tensors(header, model)
    try:
        tensors = safetensors.torch.load(data)
    except Exception as e:  # safetensors raises its own SafetensorError for inconsistent offsets
        raise ModelMetadataError(f"the safetensors data is malformed: {e}") from None
    model.load_state_dict(tensors, strict=True, assign=True)
    return ModelFile(spec, model.eval(), final_hash)


def read_model_file(path: str | Path) -> ModelFile:
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelTooLarge(f"{path} is {size} bytes, over the model cap of {MAX_MODEL_BYTES}")
    return read_model(path.read_bytes())


def load_model(path: str | Path) -> nn.Module:
    """The exported model at `path` as a plain `torch.nn.Module` in eval mode: `model(x)` gives the outputs
    (logits, or the regression's values)."""
    return read_model_file(path).model


def load_inputs(path: str | Path, spec: JobSpec, tensor: str = "x") -> torch.Tensor:
    """Inputs for the spec's model from a NumPy .npy file (one array) or a safetensors file (the tensor named
    `tensor`), shaped like the dataset's x, [N, *example] or one example; float inputs become float32,
    token inputs int64 in [0, vocab_size). Never unpickles (`allow_pickle=False`)."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise ModelInputError(f"{path} is {size} bytes, over the input cap of {MAX_INPUT_BYTES}")
    if path.suffix == ".safetensors":
        try:
            tensors = safetensors.torch.load(path.read_bytes())
        except Exception as e:
            raise ModelInputError(f"{path} is not a valid safetensors file: {e}") from None
        if tensor not in tensors:
            raise ModelInputError(f"{path} has no tensor {tensor!r} (it has {', '.join(sorted(tensors))})")
        if tensors[tensor].dtype not in (torch.float32, torch.float64, torch.int64, torch.int32):
            raise ModelInputError(f"{path}: {tensor} is {tensors[tensor].dtype}, not float32/64 or int32/64")
        array = tensors[tensor].numpy()
    else:
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise ModelInputError(f"{path} is not a NumPy .npy array: {e}") from None
        if not isinstance(array, np.ndarray):
            raise ModelInputError(f"{path} holds several arrays (.npz); save one array with numpy.save")
    return _fit(array, spec)


def _fit(array: np.ndarray, spec: JobSpec) -> torch.Tensor:
    example = example_shape(spec.model)
    if tuple(array.shape) == example:
        array = array[None]
    if array.ndim != len(example) + 1 or tuple(array.shape[1:]) != example or array.shape[0] == 0:
        raise ModelInputError(
            f"the {spec.model.KIND} model takes inputs shaped [N, {', '.join(map(str, example))}], "
            f"got {list(array.shape)}"
        )
    if spec.model.KIND in ("transformer", "gpt"):
        if not np.issubdtype(array.dtype, np.integer):
            raise ModelInputError(f"the {spec.model.KIND} takes integer tokens, got {array.dtype}")
        vocab = spec.model.vocab_size
        if array.min() < 0 or array.max() >= vocab:
            raise ModelInputError(f"tokens must lie in [0, {vocab}), got {array.min()}..{array.max()}")
        return torch.from_numpy(array.astype(np.int64))
    if not np.issubdtype(array.dtype, np.floating):
        raise ModelInputError(f"the {spec.model.KIND} model takes float features, got {array.dtype}")
    if not np.isfinite(array).all():
        raise ModelInputError("the inputs hold NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def predict(model: nn.Module, x: torch.Tensor, batch_size: int = PREDICT_BATCH) -> torch.Tensor:
    """The model's outputs for `x`, without autograd, `batch_size` rows at a time (bounded memory)."""
    with torch.no_grad():
        return torch.cat([model(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def generate_text(model: nn.Module, prompt: str, new_tokens: int) -> str:
    """A language model's greedy continuation of `prompt` by `new_tokens` byte tokens (`compute_market.
    tokenizer`), prompt included; the model is an exported gpt (`load_model`)."""
    if not isinstance(model, Gpt):
        raise ModelInputError(f"text generation needs a gpt language model, not a {type(model).__name__}")
    data = tokenizer.encode(prompt)
    if not data:
        raise ModelInputError("the prompt is empty: a language model continues at least one token")
    if not 0 <= new_tokens <= MAX_NEW_TOKENS:
        raise ModelInputError(f"{new_tokens} new tokens is outside 0..{MAX_NEW_TOKENS}")
    vocab = model.head.out_features
    if max(data) >= vocab:
        raise ModelInputError(
            f"the prompt's bytes go up to {max(data)}, outside the model's vocabulary of {vocab}"
        )
    prompt_tokens = torch.tensor(list(data), dtype=torch.int64)
    tokens = generate(model, prompt_tokens, new_tokens, model.positions.num_embeddings)
    return tokenizer.decode(tokens.tolist())
