"""The training options of exact mode: Adam (coupled weight decay), gradient clipping by global norm and
label smoothing agree with torch's own implementations to float32 accuracy, and give the same bits at
every thread count (clipping's sum of squares is split over fixed blocks, never within one)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from compute_market import cost
from compute_market.worker.exact import native, ops
from compute_market.worker.exact.optim import ExactAdam, clip_grad_norm


@pytest.fixture(autouse=True)
def one_thread():
    native.threads.set(1)
    yield
    native.threads.set(1)


def random(seed: int, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adam_matches_torch_adam_with_coupled_weight_decay(weight_decay):
    params = [random(1, 37, 5), random(2, 300)]
    ours = [p.clone().requires_grad_(True) for p in params]
    theirs = [p.clone().requires_grad_(True) for p in params]
    exact = ExactAdam(ours, lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=weight_decay)
    reference = torch.optim.Adam(theirs, lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=weight_decay)
    for step in range(5):
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            g = random(10 * step + i, *a.shape)
            a.grad, b.grad = g.clone(), g.clone()
        exact.step()
        reference.step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        mine, torch_state = exact.state[a], reference.state[b]
        assert set(mine) == set(torch_state) == {"step", "exp_avg", "exp_avg_sq"}
        assert mine["step"].dtype == torch.float32 and float(mine["step"]) == 5.0
        torch.testing.assert_close(mine["exp_avg"], torch_state["exp_avg"], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(mine["exp_avg_sq"], torch_state["exp_avg_sq"], rtol=1e-5, atol=1e-9)


def _grads(shapes: list[tuple[int, ...]], scale: float) -> list[torch.Tensor]:
    params = []
    for i, shape in enumerate(shapes):
        p = torch.zeros(shape, requires_grad=True)
        p.grad = random(100 + i, *shape, scale=scale)
        params.append(p)
    return params


SHAPES = [(3 * cost.CLIP_BLOCK + 17,), (64, 130), (7,)]  # several blocks, a partial last block, a tiny tensor


@pytest.mark.parametrize("scale", [1.0, 1e-3], ids=["clips", "does-not-clip"])
def test_clip_grad_norm_matches_torch(scale):
    ours, theirs = _grads(SHAPES, scale), _grads(SHAPES, scale)
    total = clip_grad_norm(ours, 5.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 5.0)
    assert total == pytest.approx(float(expected), rel=1e-6)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=0.0)
    if scale != 1.0:  # below the norm: untouched, bit for bit
        for a, b in zip(ours, _grads(SHAPES, scale), strict=True):
            assert torch.equal(bits(a.grad), bits(b.grad))


def test_clip_grad_norm_is_the_float64_sum_in_block_order():
    params = _grads(SHAPES, 1.0)
    expected = 0.0
    for p in params:
        flat = p.grad.reshape(-1).double()
        for start in range(0, flat.numel(), cost.CLIP_BLOCK):
            block = 0.0
            for x in flat[start : start + cost.CLIP_BLOCK].tolist():
                block = block + x * x
            expected = expected + block
    assert clip_grad_norm(params, 1e6) == expected**0.5


@pytest.mark.parametrize("count", [2, 4])
def test_clip_grad_norm_gives_the_bits_of_one_thread(count, monkeypatch):
    one = _grads(SHAPES, 1.0)
    total_one = clip_grad_norm(one, 2.0)
    native.threads.set(count)
    monkeypatch.setattr(native, "MIN_PARALLEL_WORK", 1)
    before = native.threads.split_calls
    many = _grads(SHAPES, 1.0)
    total_many = clip_grad_norm(many, 2.0)
    assert native.threads.split_calls > before
    assert total_many == total_one
    for a, b in zip(one, many, strict=True):
        assert torch.equal(bits(a.grad), bits(b.grad))


@pytest.mark.parametrize("eps", [0.1, 0.5])
def test_label_smoothing_matches_torch_forward_and_backward(eps):
    logits, labels = random(7, 33, 11, scale=3.0), torch.randint(0, 11, (33,))
    x = logits.clone().requires_grad_(True)
    ours = ops.cross_entropy(x, labels, eps)
    ours.backward()
    y = logits.clone().requires_grad_(True)
    theirs = F.cross_entropy(y, labels, label_smoothing=eps)
    theirs.backward()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-5, atol=1e-7)


def test_label_smoothing_zero_is_the_plain_cross_entropy_bit_for_bit():
    logits, labels = random(8, 20, 6), torch.randint(0, 6, (20,))
    x = logits.clone().requires_grad_(True)
    loss = ops.cross_entropy(x, labels, 0.0)
    loss.backward()
    probs = ops.softmax(logits)
    expected = (probs - F.one_hot(labels, 6).float()) * torch.tensor(1.0 / 20, dtype=torch.float32)
    assert torch.equal(bits(x.grad), bits(expected))
    with pytest.raises(ValueError, match="label_smoothing"):
        ops.cross_entropy(logits, labels, 1.0)


@pytest.mark.parametrize("count", [2, 3])
def test_label_smoothing_gives_the_bits_of_one_thread(count, monkeypatch):
    logits, labels = random(9, 40, 9), torch.randint(0, 9, (40,))

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        x = logits.clone().requires_grad_(True)
        loss = ops.cross_entropy(x, labels, 0.3)
        loss.backward()
        return loss.detach(), x.grad

    loss_one, grad_one = run()
    native.threads.set(count)
    monkeypatch.setattr(native, "MIN_PARALLEL_WORK", 1)
    loss_many, grad_many = run()
    assert torch.equal(bits(loss_one.reshape(1)), bits(loss_many.reshape(1)))
    assert torch.equal(bits(grad_one), bits(grad_many))
