"""Gradient check: the SCALe gradients through TRL's fused head (``d/d hidden``, ``d/d W``) against autograd on
the naive full-logits reference with non-uniform per-token weights, float32. The default shape spans several of
TRL's token and vocabulary tiles, so the tiling is part of what is checked."""

from __future__ import annotations

from common import TRAINER_FUSED_OUTPUTS, GradShape
from loss_op import fused_scale_loss, head_only_lm, make_loss_inputs, naive_weighted_loss


def _weights_seen(seg, answer_weight: float) -> dict:
    """How non-uniform the per-token weights are: a check with one weight would not test the weighting."""
    from scale_sft.loss import token_weights
    from scale_sft.segments import ANSWER, THINK

    weights = token_weights(seg[:, 1:], "scale", answer_weight)
    nonzero = weights[weights > 0]
    return {
        "distinct_token_weights": int(nonzero.unique().numel()),
        "token_weight_range": [nonzero.min().item(), nonzero.max().item()],
        "think_tokens": int((seg == THINK).sum()),
        "answer_tokens": int((seg == ANSWER).sum()),
    }


def measure(shape: GradShape) -> dict:
    """The subprocess's work: both gradients, their largest differences and the tiles TRL's kernel used."""
    import torch
    import trl.kernels.chunked_logprob as kernel
    import trl.trainer.utils as trl_utils

    hidden, weight, labels, seg = make_loss_inputs(shape, shape.seed)
    model = head_only_lm(weight, TRAINER_FUSED_OUTPUTS)
    fused = fused_scale_loss(model, hidden, labels, seg, shape.answer_weight)
    g_hidden, g_weight = torch.autograd.grad(fused, (hidden, weight))
    reference = naive_weighted_loss(hidden, weight, labels, seg, shape.answer_weight)
    r_hidden, r_weight = torch.autograd.grad(reference, (hidden, weight))
    diff_hidden = (g_hidden - r_hidden).abs().max().item()
    diff_weight = (g_weight - r_weight).abs().max().item()
    rows = shape.batch * (shape.seq - 1)
    return {
        "max_abs_diff": max(diff_hidden, diff_weight),
        "max_abs_diff_hidden": diff_hidden,
        "max_abs_diff_weight": diff_weight,
        "max_abs_grad_hidden": r_hidden.abs().max().item(),
        "max_abs_grad_weight": r_weight.abs().max().item(),
        "loss_fused": fused.item(),
        "loss_reference": reference.item(),
        **_weights_seen(seg, shape.answer_weight),
        "token_tiles": -(-rows // kernel.TOKEN_CHUNK_SIZE),
        "vocab_tiles": -(-shape.vocab // trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE),
    }
