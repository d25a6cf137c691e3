"""Scalar math for exact mode in plain IEEE-754 double operations, never libm.

The learning-rate schedule and the optimizers' bias corrections feed every training state, so they must
give the same bits on every machine. CPython's `+ - * /` and `math.sqrt` are single IEEE-754 operations
(correctly rounded by the standard); `math.cos` and `**` call the platform's libm, whose last bits differ
between versions and vendors. These replacements use fixed formulas so the result is a function of the
inputs alone. Pure Python: the pallet imports the spec, which uses them.
"""

from __future__ import annotations

import math

_HALF_PI = math.pi / 2
# sin(u) = u - u^3/3! + ... + u^23/23!, Horner in u^2; for |u| <= pi/2 the next term is below 1e-20.
_SIN_COEFFS = tuple((-1) ** n / math.factorial(2 * n + 1) for n in range(11, -1, -1))


def powi(base: float, exponent: int) -> float:
    """base ** exponent for an integer exponent >= 0, by binary exponentiation (one rounding per multiply)."""
    if exponent < 0:
        raise ValueError(f"powi needs an exponent >= 0, got {exponent}")
    result, square = 1.0, float(base)
    while exponent:
        if exponent & 1:
            result = result * square
        exponent >>= 1
        if exponent:
            square = square * square
    return result


def cos_pi(x: float) -> float:
    """cos(pi * x) for 0 <= x <= 1 (the cosine schedule's decay), as -sin(pi * x - pi / 2)."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"cos_pi takes 0 <= x <= 1, got {x!r}")
    u = math.pi * x - _HALF_PI
    u2 = u * u
    s = 0.0
    for c in _SIN_COEFFS:
        s = s * u2 + c
    return -(s * u)
