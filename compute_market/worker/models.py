"""The registry of architectures a spec may name: torch modules whose arithmetic is exact mode's kernels.

Each is a subclass of the plain module of `compute_market.architectures`, which defines the layers (torch's
standard Linear, Conv2d, LayerNorm, Embedding), so names and shapes are the familiar ones ("net.0.weight")
and an exported model loads into the plain module as it is. Here every forward pass calls the portable
operators of `compute_market.worker.exact.ops`, never torch's own kernels: the numerics are fixed by our
sources, not by the CPU torch happens to run on. No module holds buffers or mutates state in its forward
pass (no BatchNorm, no dropout): the parameters plus the optimizer state are the whole training state.

Initialisation is a pure function of the spec on every machine. Parameters are built on the meta device
(torch's own initialisers never run), then each, by name, gets the integer-only stream
`rng.stream_key(spec.seed, "init/" + name)`: weights and biases of Linear and Conv2d uniform in
+-1/sqrt(fan_in) (PyTorch's default scale), embeddings uniform in +-0.02*sqrt(3) (standard deviation
0.02), LayerNorm weight 1 and bias 0.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from compute_market import architectures
from compute_market.jobspec import CnnSpec, GptSpec, JobSpec, MlpSpec, TransformerSpec
from compute_market.worker.exact import ops, rng

EMBEDDING_BOUND = 0.02 * math.sqrt(3.0)


def _apply(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One registry layer through the exact operators."""
    if isinstance(layer, nn.Linear):
        return ops.linear(x, layer.weight, layer.bias)
    if isinstance(layer, nn.Conv2d):
        return ops.conv2d(x, layer.weight, layer.bias)
    if isinstance(layer, nn.ReLU):
        return torch.relu(x)
    if isinstance(layer, nn.MaxPool2d):
        return ops.max_pool2(x)
    if isinstance(layer, nn.Flatten):
        return x.flatten(1)
    raise TypeError(f"{type(layer).__name__} is not an exact-mode layer")


def _sequential(layers: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    for layer in layers:
        x = _apply(layer, x)
    return x


class Mlp(architectures.Mlp):
    def __init__(self, spec: MlpSpec):
        super().__init__(spec, device="meta")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _sequential(self.net, x.flatten(1))


class Cnn(architectures.Cnn):
    def __init__(self, spec: CnnSpec):
        super().__init__(spec, device="meta")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _sequential(self.head, _sequential(self.features, x))


class EncoderBlock(architectures.EncoderBlock):
    """Attention is scores = (q k^T) * (1/sqrt(d_head)) by GEMM, the exact softmax, then a GEMM with v."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        h, dh = self.num_heads, d // self.num_heads
        qkv = ops.linear(
            ops.layer_norm(x, self.ln1.weight, self.ln1.bias, self.ln1.eps), self.qkv.weight, self.qkv.bias
        )
        q, k, v = qkv.view(n, t, 3, h, dh).permute(2, 0, 3, 1, 4).reshape(3, n * h, t, dh)
        scores = ops.bmm(q, k.transpose(1, 2), 1.0 / math.sqrt(dh))
        if self.causal:  # a selection, exact: the kernels' exp gives 0 for -inf
            scores = scores.masked_fill(architectures.causal_mask(t), float("-inf"))
        weights = ops.softmax(scores)
        attended = ops.bmm(weights, v).view(n, h, t, dh).transpose(1, 2).reshape(n, t, d)
        x = x + ops.linear(attended, self.proj.weight, self.proj.bias)
        hidden = torch.relu(
            ops.linear(
                ops.layer_norm(x, self.ln2.weight, self.ln2.bias, self.ln2.eps),
                self.ff1.weight,
                self.ff1.bias,
            )
        )
        return x + ops.linear(hidden, self.ff2.weight, self.ff2.bias)


def _token_features(model: architectures.TokenModel, x: torch.Tensor) -> torch.Tensor:
    """Embeddings, blocks and the final norm of a transformer or gpt, through the exact operators."""
    n, t = x.shape
    positions = torch.arange(t, dtype=torch.int64).expand(n, t)
    h = ops.embedding(x, model.tokens.weight) + ops.embedding(positions, model.positions.weight)
    for block in model.blocks:
        h = block(h)
    return ops.layer_norm(h, model.ln.weight, model.ln.bias, model.ln.eps)


class TransformerClassifier(architectures.TransformerClassifier):
    block_class = EncoderBlock

    def __init__(self, spec: TransformerSpec):
        super().__init__(spec, device="meta")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = ops.sequence_mean(_token_features(self, x))
        return ops.linear(pooled, self.head.weight, self.head.bias)


class Gpt(architectures.Gpt):
    block_class = EncoderBlock

    def __init__(self, spec: GptSpec):
        super().__init__(spec, device="meta")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.linear(_token_features(self, x), self.head.weight, self.head.bias)


REGISTRY: dict[str, type[nn.Module]] = {
    "mlp": Mlp,
    "cnn": Cnn,
    "transformer": TransformerClassifier,
    "gpt": Gpt,
}


def _fan_in(module: nn.Module) -> int:
    weight = module.weight
    return int(weight.shape[1] * (weight[0][0].numel() if weight.dim() > 2 else 1))


def _initial_values(name: str, owner: nn.Module, shape: torch.Size, seed: int) -> np.ndarray:
    n = math.prod(shape)
    if isinstance(owner, nn.LayerNorm):
        return np.full(n, 1.0 if name.endswith("weight") else 0.0, dtype=np.float32)
    key = rng.stream_key(seed, "init/" + name)
    bound = EMBEDDING_BOUND if isinstance(owner, nn.Embedding) else 1.0 / math.sqrt(_fan_in(owner))
    return rng.uniform(key, n, -bound, bound)


def _initialise(model: nn.Module, seed: int) -> None:
    owners = {
        f"{mod_name}.{p_name}" if mod_name else p_name: mod
        for mod_name, mod in model.named_modules()
        for p_name, _ in mod.named_parameters(recurse=False)
    }
    shapes = {name: p.shape for name, p in model.named_parameters()}
    model.to_empty(device="cpu")
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            values = _initial_values(name, owners[name], shapes[name], seed)
            p.copy_(torch.from_numpy(values).view(shapes[name]))


def build_model(spec: JobSpec) -> nn.Module:
    """The spec's architecture with its deterministic initial parameters, in training mode."""
    model = REGISTRY[spec.model.KIND](spec.model)
    _initialise(model, spec.seed)
    if list(model.buffers()):
        raise AssertionError("registry models must not hold buffers: the training state is parameters only")
    return model.train()
