"""The registry's architectures as plain torch modules: the layers, their names and the function they compute.

One definition serves two purposes. Exact-mode training (`compute_market.worker.models`) subclasses these
modules and replaces each `forward` with the portable operators of `compute_market.worker.exact`, so the
parameter names and shapes ("net.0.weight", "blocks.1.qkv.bias") are the ones defined here. An exported
model (`compute_market.model_io`) is loaded into these modules as they are, with torch's own kernels: the
same function up to float rounding, and nothing of the trainer or the exact kernels is imported.

The function, fixed by the exact forward passes: an MLP flattens its input and alternates Linear and ReLU;
a CNN runs blocks of a stride-1 same-padding Conv2d, ReLU and a 2x2 max-pool, then Flatten, Linear, ReLU,
Linear; the transformer adds token and position embeddings, runs pre-norm encoder blocks (LayerNorm ->
qkv -> softmax((q k^T) / sqrt(d_head)) v -> proj, residual; LayerNorm -> ff1 -> ReLU -> ff2, residual),
then a final LayerNorm, the mean over the sequence and a Linear head. LayerNorm uses the biased variance
and eps 1e-5, as torch's does.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from compute_market.jobspec import CnnSpec, MlpSpec, TransformerSpec

ModelSpec = MlpSpec | CnnSpec | TransformerSpec


class Mlp(nn.Module):
    def __init__(self, spec: MlpSpec, device: str | None = None):
        super().__init__()
        dims = [spec.input_dim, *spec.hidden, spec.num_classes]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims, dims[1:], strict=False)):
            layers.append(nn.Linear(a, b, device=device))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class Cnn(nn.Module):
    def __init__(self, spec: CnnSpec, device: str | None = None):
        super().__init__()
        blocks: list[nn.Module] = []
        c_in = spec.in_channels
        for c in spec.channels:
            blocks += [
                nn.Conv2d(c_in, c, spec.kernel_size, padding=spec.kernel_size // 2, device=device),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            c_in = c
        self.features = nn.Sequential(*blocks)
        flat = c_in * (spec.image_size >> len(spec.channels)) ** 2
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, spec.hidden, device=device),
            nn.ReLU(),
            nn.Linear(spec.hidden, spec.num_classes, device=device),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class EncoderBlock(nn.Module):
    """Pre-norm self-attention and feed-forward, each added back to its input."""

    def __init__(self, d_model: int, num_heads: int, ff_dim: int, device: str | None = None):
        super().__init__()
        self.num_heads = num_heads
        self.ln1 = nn.LayerNorm(d_model, device=device)
        self.qkv = nn.Linear(d_model, 3 * d_model, device=device)
        self.proj = nn.Linear(d_model, d_model, device=device)
        self.ln2 = nn.LayerNorm(d_model, device=device)
        self.ff1 = nn.Linear(d_model, ff_dim, device=device)
        self.ff2 = nn.Linear(ff_dim, d_model, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        h, dh = self.num_heads, d // self.num_heads
        qkv = self.qkv(self.ln1(x))
        q, k, v = qkv.view(n, t, 3, h, dh).permute(2, 0, 3, 1, 4).reshape(3, n * h, t, dh)
        weights = torch.softmax(torch.bmm(q, k.transpose(1, 2)) * (1.0 / math.sqrt(dh)), dim=-1)
        attended = torch.bmm(weights, v).view(n, h, t, dh).transpose(1, 2).reshape(n, t, d)
        x = x + self.proj(attended)
        return x + self.ff2(torch.relu(self.ff1(self.ln2(x))))


class TransformerClassifier(nn.Module):
    block_class: type[EncoderBlock] = EncoderBlock  # exact mode's subclass names its own block

    def __init__(self, spec: TransformerSpec, device: str | None = None):
        super().__init__()
        self.tokens = nn.Embedding(spec.vocab_size, spec.d_model, device=device)
        self.positions = nn.Embedding(spec.seq_len, spec.d_model, device=device)
        self.blocks = nn.ModuleList(
            self.block_class(spec.d_model, spec.num_heads, spec.ff_dim, device=device)
            for _ in range(spec.num_layers)
        )
        self.ln = nn.LayerNorm(spec.d_model, device=device)
        self.head = nn.Linear(spec.d_model, spec.num_classes, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tokens(x) + self.positions.weight[: x.shape[1]]
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln(h).mean(dim=1))


ARCHITECTURES: dict[str, type[nn.Module]] = {"mlp": Mlp, "cnn": Cnn, "transformer": TransformerClassifier}


def example_shape(model: ModelSpec) -> tuple[int, ...]:
    """The shape of one input example (a dataset's x without its leading batch axis)."""
    if isinstance(model, MlpSpec):
        return (model.input_dim,)
    if isinstance(model, CnnSpec):
        return (model.in_channels, model.image_size, model.image_size)
    return (model.seq_len,)
