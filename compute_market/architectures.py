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
then a final LayerNorm, the mean over the sequence and a Linear head; the gpt runs the same blocks with
causal attention (a query sees its own and earlier positions) and a head at every position, giving
next-token logits. LayerNorm uses the biased variance and eps 1e-5, as torch's does.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from compute_market.jobspec import CnnSpec, GptSpec, MlpSpec, TransformerSpec

ModelSpec = MlpSpec | CnnSpec | TransformerSpec | GptSpec


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


def causal_mask(t: int) -> torch.Tensor:
    """[t, t], True where a query position would see a later key: the entries a causal decoder drops."""
    return torch.ones(t, t, dtype=torch.bool).triu(1)


class EncoderBlock(nn.Module):
    """Pre-norm self-attention and feed-forward, each added back to its input. With `causal`, position i
    attends to positions 0..i only: the later keys' scores are set to -inf before the softmax (weight 0)."""

    def __init__(
        self, d_model: int, num_heads: int, ff_dim: int, device: str | None = None, causal: bool = False
    ):
        super().__init__()
        self.num_heads = num_heads
        self.causal = causal
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
        scores = torch.bmm(q, k.transpose(1, 2)) * (1.0 / math.sqrt(dh))
        if self.causal:
            scores = scores.masked_fill(causal_mask(t), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        attended = torch.bmm(weights, v).view(n, h, t, dh).transpose(1, 2).reshape(n, t, d)
        x = x + self.proj(attended)
        return x + self.ff2(torch.relu(self.ff1(self.ln2(x))))


class TokenModel(nn.Module):
    """Token and position embeddings, a stack of blocks and a final LayerNorm; the subclasses add the head."""

    block_class: type[EncoderBlock] = EncoderBlock  # exact mode's subclasses name their own block
    causal: bool = False

    def __init__(self, spec: TransformerSpec | GptSpec, device: str | None = None):
        super().__init__()
        self.tokens = nn.Embedding(spec.vocab_size, spec.d_model, device=device)
        self.positions = nn.Embedding(spec.seq_len, spec.d_model, device=device)
        self.blocks = nn.ModuleList(
            self.block_class(spec.d_model, spec.num_heads, spec.ff_dim, device=device, causal=self.causal)
            for _ in range(spec.num_layers)
        )
        self.ln = nn.LayerNorm(spec.d_model, device=device)
        self.head = nn.Linear(spec.d_model, spec.num_classes, device=device)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tokens(x) + self.positions.weight[: x.shape[1]]
        for block in self.blocks:
            h = block(h)
        return self.ln(h)


class TransformerClassifier(TokenModel):
    """The encoder classifier: the mean of the normed sequence, then the head."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=1))


class Gpt(TokenModel):
    """The causal decoder language model: causal blocks and the head at every position, giving next-token
    logits, [N, T] -> [N, T, vocab_size] (its spec's num_classes is the vocabulary)."""

    causal = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


ARCHITECTURES: dict[str, type[nn.Module]] = {
    "mlp": Mlp,
    "cnn": Cnn,
    "transformer": TransformerClassifier,
    "gpt": Gpt,
}


@torch.no_grad()
def generate(model: Gpt, prompt: torch.Tensor, new_tokens: int, seq_len: int) -> torch.Tensor:
    """Greedy continuation of a 1-D token prompt by `new_tokens` tokens (each the first maximal logit of the
    last position, the context cut to the model's last `seq_len` tokens); returns prompt and continuation."""
    tokens = prompt.to(torch.int64).flatten()
    for _ in range(new_tokens):
        logits = model(tokens[-seq_len:].unsqueeze(0))[0, -1]
        tokens = torch.cat([tokens, logits.argmax().reshape(1)])
    return tokens


def example_shape(model: ModelSpec) -> tuple[int, ...]:
    """The shape of one input example (a dataset's x without its leading batch axis)."""
    if isinstance(model, MlpSpec):
        return (model.input_dim,)
    if isinstance(model, CnnSpec):
        return (model.in_channels, model.image_size, model.image_size)
    return (model.seq_len,)
