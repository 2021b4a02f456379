"""The SCALe (per-sample and per-step segment means) and vanilla losses against hand computations and a plain
full-logits reference."""

import pytest
import torch

from scale_sft import scale_loss
from scale_sft.loss import loss_normalizer, step_token_weights, token_weights
from scale_sft.segments import ANSWER, IGNORE, THINK

SEG = torch.tensor(
    [
        [IGNORE, THINK, THINK, THINK, ANSWER, ANSWER],  # 3 THINK, 2 ANSWER
        [IGNORE, IGNORE, IGNORE, IGNORE, ANSWER, ANSWER],  # a direct answer
    ]
)
CE = torch.tensor([[9.0, 1.0, 2.0, 3.0, 4.0, 6.0], [9.0, 9.0, 9.0, 9.0, 1.0, 3.0]])
# (method, segment_normalization) of every loss
LOSSES = [("scale", "sample"), ("scale", "step"), ("vanilla", "sample")]


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


def test_step_normalization_by_hand():
    # a 1-token and a 3-token trace: the per-step THINK mean weighs the four THINK tokens alike
    seg = torch.tensor([[THINK, ANSWER, IGNORE, IGNORE], [THINK, THINK, THINK, ANSWER]])
    ce = torch.tensor([[4.0, 1.0, 9.0, 9.0], [1.0, 1.0, 1.0, 3.0]])
    # step: THINK (4+1+1+1)/4 = 1.75, ANSWER (1+3)/2 = 2, w = 0.25 -> 0.75*1.75 + 0.25*2 = 1.8125
    out = scale_loss(ce, seg, "scale", 0.25, segment_normalization="step")
    assert out.loss.item() == pytest.approx(1.8125)
    assert loss_normalizer(seg, "scale", "step").tolist() == [4, 2]
    # per sample: (0.75*4 + 0.25*1 + 0.75*1 + 0.25*3) / 2 = 2.375, the short trace's token weighing 3x more
    assert scale_loss(ce, seg, "scale", 0.25).loss.item() == pytest.approx(2.375)
    weights = step_token_weights(seg, 0.25, loss_normalizer(seg, "scale", "step"))
    assert weights.sum().item() == pytest.approx(1.0)
    assert out.answer_share_sum.item() / out.weight_sum.item() == pytest.approx(0.25)


def test_step_without_think_trains_on_the_answer_mean():
    # no THINK token in the whole step: the ANSWER mean alone (weight 1, not w), as for a direct answer
    seg = torch.tensor([[IGNORE, ANSWER, ANSWER], [ANSWER, IGNORE, IGNORE]])
    ce = torch.tensor([[9.0, 1.0, 2.0], [6.0, 9.0, 9.0]])
    out = scale_loss(ce, seg, "scale", 0.25, segment_normalization="step")
    assert out.loss.item() == pytest.approx(3.0) and out.answer_share_sum.item() == pytest.approx(1.0)
    # a micro-batch without THINK inside a step that has some keeps the weight w
    step = torch.tensor([5, 3])
    part = scale_loss(ce, seg, "scale", 0.25, normalizer=step, segment_normalization="step")
    assert part.loss.item() == pytest.approx(0.25 * 9 / 3)


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


def _reference(logits, labels, seg, method, w, segment_normalization="sample"):
    """Plain loops on full float64 logits: the definitions in the README."""
    logp = torch.log_softmax(logits.double(), dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    if method == "vanilla":
        mask = seg > 0
        return -(logp[mask]).sum() / mask.sum()
    if segment_normalization == "step":
        think, answer = -logp[seg == THINK], -logp[seg == ANSWER]
        return answer.mean() if not think.numel() else (1 - w) * think.mean() + w * answer.mean()
    per_sample = []
    for i in range(seg.shape[0]):
        think, answer = seg[i] == THINK, seg[i] == ANSWER
        l_answer = -logp[i][answer].mean()
        per_sample.append(l_answer if not think.any() else (1 - w) * -logp[i][think].mean() + w * l_answer)
    return torch.stack(per_sample).mean()


def _ce(logits, labels):
    return -torch.log_softmax(logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)


@pytest.mark.parametrize(("method", "norm"), LOSSES)
def test_forward_and_gradient_match_reference(method, norm):
    logits, labels, seg = _random_batch()
    ours_logits = logits.clone().requires_grad_(True)
    ours = scale_loss(_ce(ours_logits, labels), seg, method, 0.35, segment_normalization=norm).loss
    ours.backward()
    ref_logits = logits.clone().double().requires_grad_(True)
    ref = _reference(ref_logits, labels, seg, method, 0.35, norm)
    ref.backward()
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
    assert (ours_logits.grad.double() - ref_logits.grad).abs().max().item() < 1e-6


@pytest.mark.parametrize(("method", "norm"), LOSSES)
@pytest.mark.parametrize("split", [[2, 2, 2, 2], [3, 1, 4]])  # [3:4] holds only a direct answer
def test_micro_batches_with_step_normalizer_give_the_full_batch_gradient(method, norm, split):
    logits, labels, seg = _random_batch()
    full_logits = logits.clone().requires_grad_(True)
    full = scale_loss(_ce(full_logits, labels), seg, method, 0.6, segment_normalization=norm).loss
    full.backward()
    parts_logits = logits.clone().requires_grad_(True)
    ce = _ce(parts_logits, labels)
    step = sum(loss_normalizer(part, method, norm) for part in seg.split(split))  # counted per micro-batch
    parts = [
        scale_loss(c, s, method, 0.6, normalizer=step, segment_normalization=norm).loss
        for c, s in zip(ce.split(split), seg.split(split), strict=True)
    ]
    for part in parts:  # one backward per micro-batch, accumulating as the trainer does
        part.backward(retain_graph=True)
    assert sum(p.item() for p in parts) == pytest.approx(full.item(), rel=1e-6)
    assert (parts_logits.grad - full_logits.grad).abs().max().item() < 1e-7
    assert full_logits.grad.abs().max().item() > 1e-3


@pytest.mark.parametrize(("method", "norm"), LOSSES)
def test_padding_and_order_invariance(method, norm):
    logits, labels, seg = _random_batch()
    ce = _ce(logits, labels)
    base = scale_loss(ce, seg, method, 0.4, segment_normalization=norm).loss
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(1))
    permuted = scale_loss(ce[perm], seg[perm], method, 0.4, segment_normalization=norm).loss
    assert permuted.item() == pytest.approx(base.item(), rel=1e-6)
    # extra padding columns on the left (no loss, garbage CE) change nothing
    pad_ce = torch.cat([torch.full((8, 5), 1e4), ce], dim=1)
    pad_seg = torch.cat([torch.zeros(8, 5, dtype=torch.long), seg], dim=1)
    padded = scale_loss(pad_ce, pad_seg, method, 0.4, segment_normalization=norm).loss
    assert padded.item() == pytest.approx(base.item(), rel=1e-6)


@pytest.mark.parametrize(("method", "norm"), LOSSES)
def test_ignored_positions_cannot_leak_nan_and_empty_batch_is_zero(method, norm):
    ce = CE.clone()
    ce[0, 0] = float("inf")
    ce[1, 1] = float("nan")
    assert torch.isfinite(scale_loss(ce, SEG, method, 0.5, segment_normalization=norm).loss)
    empty = scale_loss(CE, torch.zeros_like(SEG), method, 0.5, segment_normalization=norm).loss
    assert empty.item() == 0.0


def test_unknown_method_or_normalization_raises():
    with pytest.raises(ValueError, match="loss method"):
        scale_loss(CE, SEG, "weighted")
    with pytest.raises(ValueError, match="segment normalization"):
        scale_loss(CE, SEG, "scale", segment_normalization="token")


@pytest.mark.parametrize(("method", "norm"), LOSSES)
def test_bf16_loss_and_gradient_stay_close_to_float64(method, norm):
    """Mixed-precision training feeds bf16 log-probabilities: the loss and its gradient keep bf16 accuracy
    (a relative error of a few 2^-8), with no overflow in the per-sample sums."""
    logits, labels, seg = _random_batch()
    ours_logits = logits.clone().bfloat16().requires_grad_(True)
    ce = _ce(ours_logits, labels)
    assert ce.dtype == torch.bfloat16
    ours = scale_loss(ce, seg, method, answer_weight=0.35, segment_normalization=norm).loss
    ours.backward()
    ref_logits = logits.clone().double().requires_grad_(True)
    ref = _reference(ref_logits, labels, seg, method, 0.35, norm)
    ref.backward()
    assert ours.dtype == torch.bfloat16 and torch.isfinite(ours_logits.grad).all()
    assert ours.item() == pytest.approx(ref.item(), rel=2e-2)
    grad_error = (ours_logits.grad.double() - ref_logits.grad).abs().max().item()
    assert grad_error < 2e-2 * ref_logits.grad.abs().max().item()
