"""The regression and multi-label losses of exact mode (squared error, Huber, binary cross-entropy with
logits) agree with torch's to float32 accuracy, forward and backward, and give the same bits at every
thread count (each row's sum is one thread's, the rows are added in order afterwards)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from compute_market.worker.exact import native, ops

from .test_training_options import bits, one_thread, random  # noqa: F401 (one_thread: an autouse fixture)


def multi_hot(seed: int, *shape: int) -> torch.Tensor:
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


LOSSES = {
    "mse": (lambda x, t: ops.mse_loss(x, t), lambda x, t: F.mse_loss(x, t)),
    "huber": (lambda x, t: ops.huber_loss(x, t, 0.7), lambda x, t: F.huber_loss(x, t, delta=0.7)),
    "bce": (
        lambda x, t: ops.binary_cross_entropy_with_logits(x, t),
        lambda x, t: F.binary_cross_entropy_with_logits(x, t),
    ),
}


def inputs(name: str, rows: int = 37, n: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    # logits up to about +-30: the stable form must hold where exp(-|x|) is far below float32's epsilon
    x = random(1, rows, n, scale=8.0 if name == "bce" else 2.0)
    t = multi_hot(2, rows, n) if name == "bce" else random(3, rows, n)
    return x, t


def run(fn, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = x.clone().requires_grad_(True)
    loss = fn(leaf, t)
    (loss * 3.0).backward()  # an upstream gradient other than 1
    return loss.detach(), leaf.grad


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_matches_torch_forward_and_backward(name):
    ours, theirs = LOSSES[name]
    x, t = inputs(name)
    loss, grad = run(ours, x, t)
    expected_loss, expected_grad = run(theirs, x, t)
    torch.testing.assert_close(loss, expected_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-8)


def test_bce_is_stable_at_extreme_logits():
    x = torch.tensor([[-200.0, -90.0, -20.0, 0.0, 20.0, 90.0, 200.0]])
    for t in (torch.zeros_like(x), torch.ones_like(x)):
        loss, grad = run(ops.binary_cross_entropy_with_logits, x, t)
        expected_loss, expected_grad = run(F.binary_cross_entropy_with_logits, x.double(), t.double())
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
        torch.testing.assert_close(loss.double(), expected_loss, rtol=1e-6, atol=0.0)
        torch.testing.assert_close(grad.double(), expected_grad, rtol=1e-6, atol=1e-7)  # float32 sigmoid


def test_huber_is_the_squared_error_inside_delta_and_linear_outside():
    x, t = torch.tensor([[0.5, -0.5, 3.0, -3.0]]), torch.zeros(1, 4)
    loss, grad = run(lambda a, b: ops.huber_loss(a, b, 1.0), x, t)
    assert float(loss) == (0.125 + 0.125 + 2.5 + 2.5) / 4
    assert grad.tolist() == [[0.375, -0.375, 0.75, -0.75]]  # 3 * clamp(d, -1, 1) / 4


def test_invalid_targets_are_refused():
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="float32 targets of that shape"):
        ops.mse_loss(x, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="float32 targets"):
        ops.binary_cross_entropy_with_logits(x, torch.zeros(4, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="delta > 0"):
        ops.huber_loss(x, torch.zeros(4, 3), 0.0)
    with pytest.raises(ValueError, match=r"needs int64 labels \[4\]"):
        ops.cross_entropy(x, torch.zeros(4, 3))  # float targets never reach the label-indexing kernel


@pytest.mark.parametrize("count", [2, 4])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gives_the_bits_of_one_thread(name, count, monkeypatch):
    ours, _ = LOSSES[name]
    x, t = inputs(name, rows=64, n=7)
    loss_one, grad_one = run(ours, x, t)
    native.threads.set(count)
    monkeypatch.setattr(native, "MIN_PARALLEL_WORK", 1)
    before = native.threads.split_calls
    loss_many, grad_many = run(ours, x, t)
    assert native.threads.split_calls > before
    assert torch.equal(bits(loss_one.reshape(1)), bits(loss_many.reshape(1)))
    assert torch.equal(bits(grad_one), bits(grad_many))
