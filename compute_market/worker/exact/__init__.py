"""Portable exact mode: kernels whose results are the same on every x86-64 CPU at any thread count.

- `kernels.c`: every floating-point operation that reaches a training state (GEMM, softmax, LayerNorm,
  cross-entropy, convolution, pooling, embedding gradients, SGD and AdamW), in a fixed order;
- `native`: builds and loads them, checks the CPU, and splits calls between threads over output elements;
- `ops`: the same kernels as torch autograd functions, so models are ordinary torch modules;
- `rng`: counter-based integer random numbers for initialisation, data order and synthetic datasets;
- `environment`: pins the process settings exact mode depends on and refuses environments it cannot trust.
"""
