"""The registry of architectures a spec may name, built as torch modules with seeded initialisation.

Every module here is written from plain layers (Linear, Conv2d, LayerNorm, Embedding and explicit matmul
attention) so that no fused or backend-selected kernel decides the numerics, and none holds buffers that a
forward pass mutates (no BatchNorm): the parameters plus the optimizer state are the whole training state.

Initialisation ignores torch's global RNG. Parameters are visited in sorted name order and drawn from one
torch.Generator seeded by `derive_seed(spec.seed, "init")`, with PyTorch's default scales (uniform
+-1/sqrt(fan_in) for weights and biases of Linear and Conv2d, N(0, 1) for embeddings scaled by 0.02,
LayerNorm at weight 1, bias 0), so the initial state is a function of the spec alone.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from chain.primitives.hashing import blake2_256
from compute_market.jobspec import CnnSpec, JobSpec, MlpSpec, TransformerSpec


def derive_seed(seed: int, purpose: str, index: int = 0) -> int:
    """A 63-bit torch seed for one purpose (init, data order per epoch) derived from the spec's seed."""
    material = b"gradchain/seed/" + purpose.encode() + seed.to_bytes(8, "little") + index.to_bytes(8, "little")
    return int.from_bytes(blake2_256(material)[:8], "little") >> 1


class Mlp(nn.Module):
    def __init__(self, spec: MlpSpec):
        super().__init__()
        dims = [spec.input_dim, *spec.hidden, spec.num_classes]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims, dims[1:], strict=False)):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class Cnn(nn.Module):
    def __init__(self, spec: CnnSpec):
        super().__init__()
        blocks: list[nn.Module] = []
        c_in = spec.in_channels
        for c in spec.channels:
            blocks += [nn.Conv2d(c_in, c, spec.kernel_size, padding=spec.kernel_size // 2), nn.ReLU(),
                       nn.MaxPool2d(2)]
            c_in = c
        self.features = nn.Sequential(*blocks)
        flat = c_in * (spec.image_size >> len(spec.channels)) ** 2
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, spec.hidden), nn.ReLU(),
                                  nn.Linear(spec.hidden, spec.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class EncoderBlock(nn.Module):
    """Pre-norm self-attention and feed-forward, with attention spelled out as matmul + softmax."""

    def __init__(self, d_model: int, num_heads: int, ff_dim: int):
        super().__init__()
        self.num_heads = num_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff1 = nn.Linear(d_model, ff_dim)
        self.ff2 = nn.Linear(ff_dim, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        h = self.num_heads
        q, k, v = self.qkv(self.ln1(x)).view(n, t, 3, h, d // h).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // h), dim=-1)
        x = x + self.proj((weights @ v).transpose(1, 2).reshape(n, t, d))
        return x + self.ff2(torch.relu(self.ff1(self.ln2(x))))


class TransformerClassifier(nn.Module):
    def __init__(self, spec: TransformerSpec):
        super().__init__()
        self.tokens = nn.Embedding(spec.vocab_size, spec.d_model)
        self.positions = nn.Embedding(spec.seq_len, spec.d_model)
        self.blocks = nn.ModuleList(EncoderBlock(spec.d_model, spec.num_heads, spec.ff_dim)
                                    for _ in range(spec.num_layers))
        self.ln = nn.LayerNorm(spec.d_model)
        self.head = nn.Linear(spec.d_model, spec.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(x.shape[1], device=x.device)
        h = self.tokens(x) + self.positions(positions)
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln(h).mean(dim=1))


REGISTRY: dict[str, type[nn.Module]] = {"mlp": Mlp, "cnn": Cnn, "transformer": TransformerClassifier}


def _fan_in(module: nn.Module) -> int:
    weight = module.weight
    return int(weight.shape[1] * (weight[0][0].numel() if weight.dim() > 2 else 1))


@torch.no_grad()
def _initialise(model: nn.Module, g: torch.Generator) -> None:
    owners = {f"{mod_name}.{p_name}" if mod_name else p_name: mod
              for mod_name, mod in model.named_modules() for p_name, _ in mod.named_parameters(recurse=False)}
    for name, p in sorted(model.named_parameters()):
        owner = owners[name]
        if isinstance(owner, nn.LayerNorm):
            p.fill_(1.0 if name.endswith("weight") else 0.0)
        elif isinstance(owner, nn.Embedding):
            p.normal_(0.0, 0.02, generator=g)
        else:
            bound = 1.0 / math.sqrt(_fan_in(owner))
            p.uniform_(-bound, bound, generator=g)


def build_model(spec: JobSpec) -> nn.Module:
    """The spec's architecture with its deterministic initial parameters, in training mode."""
    model = REGISTRY[spec.model.KIND](spec.model)
    g = torch.Generator().manual_seed(derive_seed(spec.seed, "init"))
    _initialise(model, g)
    if list(model.buffers()):
        raise AssertionError("registry models must not hold buffers: the training state is parameters only")
    return model.train()
