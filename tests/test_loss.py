"""The SCALe and vanilla losses against hand computations and a plain full-logits reference."""

import pytest
import torch

from scale_sft import scale_loss
from scale_sft.loss import loss_normalizer, token_weights
from scale_sft.segments import ANSWER, IGNORE, THINK

SEG = torch.tensor(
    [
        [IGNORE, THINK, THINK, THINK, ANSWER, ANSWER],  # 3 THINK, 2 ANSWER
        [IGNORE, IGNORE, IGNORE, IGNORE, ANSWER, ANSWER],  # a direct answer
    ]
)
CE = torch.tensor([[9.0, 1.0, 2.0, 3.0, 4.0, 6.0], [9.0, 9.0, 9.0, 9.0, 1.0, 3.0]])


def test_scale_loss_by_hand():
    # sample 0: L_think = (1+2+3)/3 = 2, L_answer = (4+6)/2 = 5, w = 0.25 -> 0.75*2 + 0.25*5 = 2.75
    # sample 1: direct answer -> L_answer = (1+3)/2 = 2;  batch mean = (2.75 + 2) / 2 = 2.375
    out = scale_loss(CE, SEG, "scale", answer_weight=0.25)
    assert out.loss.item() == pytest.approx(2.375)
    assert out.think_ce_sum.item() == 6.0 and out.think_tokens.item() == 3
    assert out.answer_ce_sum.item() == 14.0 and out.answer_tokens.item() == 4


def test_vanilla_loss_by_hand():
    # token mean over supervised tokens: (1+2+3+4+6+1+3) / 7; the weight w is ignored
    for w in (0.0, 0.7):
        assert scale_loss(CE, SEG, "vanilla", answer_weight=w).loss.item() == pytest.approx(20 / 7)


def test_weights_sum_to_one_per_sample():
    weights = token_weights(SEG, "scale", 0.3)
    assert torch.allclose(weights.sum(dim=1), torch.ones(2))
    assert weights[0, 1].item() == pytest.approx(0.7 / 3) and weights[0, 4].item() == pytest.approx(0.3 / 2)
    assert loss_normalizer(SEG, "scale").item() == 2 and loss_normalizer(SEG, "vanilla").item() == 7


def _random_batch(batch=8, seq=40, vocab=11, seed=0):
    """Non-uniform segments: very different THINK/ANSWER lengths, direct answers, padding."""
    g = torch.Generator().manual_seed(seed)
    seg = torch.zeros(batch, seq, dtype=torch.long)
    for i in range(batch):
        prompt = int(torch.randint(1, 8, (1,), generator=g))
        n_think = 0 if i % 4 == 3 else int(torch.randint(1, 25, (1,), generator=g))
        n_answer = int(torch.randint(1, 6, (1,), generator=g))
        seg[i, prompt : prompt + n_think] = THINK
        seg[i, prompt + n_think : prompt + n_think + n_answer] = ANSWER
    logits = torch.randn(batch, seq, vocab, generator=g) * 3
    labels = torch.randint(0, vocab, (batch, seq), generator=g)
    return logits, labels, seg


def _reference(logits, labels, seg, method, w):
    """Plain per-sample loops on full float64 logits: the definition in the README."""
    logp = torch.log_softmax(logits.double(), dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    if method == "vanilla":
        mask = seg > 0
        return -(logp[mask]).sum() / mask.sum()
    per_sample = []
    for i in range(seg.shape[0]):
        think, answer = seg[i] == THINK, seg[i] == ANSWER
        l_answer = -logp[i][answer].mean()
        per_sample.append(l_answer if not think.any() else (1 - w) * -logp[i][think].mean() + w * l_answer)
    return torch.stack(per_sample).mean()


@pytest.mark.parametrize("method", ["scale", "vanilla"])
def test_forward_and_gradient_match_reference(method):
    logits, labels, seg = _random_batch()
    ours_logits = logits.clone().requires_grad_(True)
    ce = -torch.log_softmax(ours_logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    ours = scale_loss(ce, seg, method, answer_weight=0.35).loss
    ours.backward()
    ref_logits = logits.clone().double().requires_grad_(True)
    ref = _reference(ref_logits, labels, seg, method, 0.35)
    ref.backward()
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
    assert (ours_logits.grad.double() - ref_logits.grad).abs().max().item() < 1e-6


@pytest.mark.parametrize("method", ["scale", "vanilla"])
def test_micro_batches_with_step_normalizer_sum_to_full_batch(method):
    logits, labels, seg = _random_batch()
    ce = -torch.log_softmax(logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    full = scale_loss(ce, seg, method, 0.6).loss
    step = loss_normalizer(seg, method)
    parts = sum(
        scale_loss(ce[i : i + 2], seg[i : i + 2], method, 0.6, normalizer=step).loss for i in range(0, 8, 2)
    )
    assert parts.item() == pytest.approx(full.item(), rel=1e-6)


@pytest.mark.parametrize("method", ["scale", "vanilla"])
def test_padding_and_order_invariance(method):
    logits, labels, seg = _random_batch()
    ce = -torch.log_softmax(logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    base = scale_loss(ce, seg, method, 0.4).loss
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(1))
    assert scale_loss(ce[perm], seg[perm], method, 0.4).loss.item() == pytest.approx(base.item(), rel=1e-6)
    # extra padding columns on the left (no loss, garbage CE) change nothing
    pad_ce = torch.cat([torch.full((8, 5), 1e4), ce], dim=1)
    pad_seg = torch.cat([torch.zeros(8, 5, dtype=torch.long), seg], dim=1)
    assert scale_loss(pad_ce, pad_seg, method, 0.4).loss.item() == pytest.approx(base.item(), rel=1e-6)


def test_ignored_positions_cannot_leak_nan_and_empty_batch_is_zero():
    ce = CE.clone()
    ce[0, 0] = float("inf")
    ce[1, 1] = float("nan")
    assert torch.isfinite(scale_loss(ce, SEG, "scale", 0.5).loss)
    empty = scale_loss(CE, torch.zeros_like(SEG), "scale", 0.5).loss
    assert empty.item() == 0.0


def test_unknown_method_raises():
    with pytest.raises(ValueError, match="loss method"):
        scale_loss(CE, SEG, "weighted")


@pytest.mark.parametrize("method", ["scale", "vanilla"])
def test_bf16_loss_and_gradient_stay_close_to_float64(method):
    """Mixed-precision training feeds bf16 log-probabilities: the loss and its gradient keep bf16 accuracy
    (a relative error of a few 2^-8), with no overflow in the per-sample sums."""
    logits, labels, seg = _random_batch()
    ours_logits = logits.clone().bfloat16().requires_grad_(True)
    ce = -torch.log_softmax(ours_logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    assert ce.dtype == torch.bfloat16
    ours = scale_loss(ce, seg, method, answer_weight=0.35).loss
    ours.backward()
    ref_logits = logits.clone().double().requires_grad_(True)
    ref = _reference(ref_logits, labels, seg, method, 0.35)
    ref.backward()
    assert ours.dtype == torch.bfloat16 and torch.isfinite(ours_logits.grad).all()
    assert ours.item() == pytest.approx(ref.item(), rel=2e-2)
    grad_error = (ours_logits.grad.double() - ref_logits.grad).abs().max().item()
    assert grad_error < 2e-2 * ref_logits.grad.abs().max().item()
