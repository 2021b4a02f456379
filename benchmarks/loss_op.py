"""Loss-op benchmark: the loss at a realistic shape (default 4 x 1,024 = 4,096 tokens, hidden 1,536, vocab 151,936,
float32, CPU), forward + backward down to ``d/d hidden`` and ``d/d W``:

- ``ours``: TRL's fused LM head (``trl.trainer.utils.add_fused_lm_head`` patched onto a minimal head-only module,
  with the per-token outputs ``ScaleSFTTrainer`` inherits from ``SFTTrainer``) + ``scale_loss(method="scale")``;
- ``hf_default`` (a): full logits ``hidden @ W.T``, then ``transformers.loss.loss_utils.ForCausalLMLoss``;
- ``naive_weighted`` (b): full logits, ``cross_entropy(reduction="none")`` times our ``token_weights``;
- ``trl_fused`` (c): the same fused LM head with TRL's vanilla loss (token mean of ``-log_probs``).

The inputs and the reference losses here are shared with the gradient check (``gradient.py``).
"""

from __future__ import annotations

import time

from common import TRAINER_FUSED_OUTPUTS, LossShape, cpu_s_per_token_runs
from memory import PeakMemory

VARIANTS = ("ours", "trl_fused", "hf_default", "naive_weighted")
# Not part of the goals; `--extras` adds them: ours with only the log-probabilities computed by the fused head
# (what `ScaleSFTTrainer` needs), and ours with a smaller vocabulary tile on CPU.
EXTRAS = ("ours_logprobs_only", "ours_vocab_chunk_8192")
REFERENCES = ("hf_default", "naive_weighted", "trl_fused")


def realistic_segments(batch: int, seq: int, seed: int):
    """Segment ids (0 prompt/pad, 1 THINK, 2 ANSWER) with very uneven lengths, cycling four kinds of sample:
    a long trace filling the row, a short trace with much padding, a direct answer, a medium trace."""
    import torch

    from scale_sft.segments import ANSWER, THINK

    g = torch.Generator().manual_seed(seed)

    def jitter(n: int) -> int:
        return max(1, n + int(torch.randint(-max(1, n // 10), max(1, n // 10) + 1, (1,), generator=g)))

    seg = torch.zeros(batch, seq, dtype=torch.long)
    for i in range(batch):
        kind = i % 4
        prompt = jitter(max(2, seq * (15, 10, 25, 20)[kind] // 100))
        n_answer = jitter(max(1, (8, 20, 4, 12)[kind] * seq // 1024))
        if kind == 0:
            n_think = seq - prompt - n_answer  # no padding
        elif kind == 2:
            n_think = 0  # direct answer
        else:
            n_think = jitter(max(1, seq * (5, 0, 0, 50)[kind] // 100))
        n_think = max(0, min(n_think, seq - prompt - n_answer))
        seg[i, prompt : prompt + n_think] = THINK
        seg[i, prompt + n_think : prompt + n_think + n_answer] = ANSWER
    return seg


def make_loss_inputs(shape, seed: int):
    """``hidden`` (requires grad), the head ``weight`` (a parameter), ``labels`` (-100 outside the segments) and
    the segment ids, for a ``LossShape`` or ``GradShape``."""
    import torch

    g = torch.Generator().manual_seed(seed)
    seg = realistic_segments(shape.batch, shape.seq, seed)
    labels = torch.randint(0, shape.vocab, (shape.batch, shape.seq), generator=g)
    labels[seg == 0] = -100
    hidden = torch.randn(shape.batch, shape.seq, shape.hidden, generator=g).requires_grad_(True)
    weight = torch.nn.Parameter(torch.randn(shape.vocab, shape.hidden, generator=g) * 0.02)
    return hidden, weight, labels, seg


def head_only_lm(weight, fused_outputs: tuple[str, ...] | None):
    """A causal LM whose backbone is the identity on ``hidden_states`` and whose head is ``weight``: the
    non-fused forward is the transformers default (full logits + ``ForCausalLMLoss``); ``fused_outputs`` patches
    TRL's fused LM head onto it with ``add_fused_lm_head``, exactly as the trainers do."""
    import torch
    from transformers import PretrainedConfig
    from transformers.loss.loss_utils import ForCausalLMLoss
    from transformers.modeling_outputs import BaseModelOutput, CausalLMOutput
    from trl.trainer.utils import add_fused_lm_head

    class IdentityBackbone(torch.nn.Module):
        def forward(self, hidden_states=None, **kwargs):
            return BaseModelOutput(last_hidden_state=hidden_states)

    class HeadOnlyLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = PretrainedConfig()
            self.model = IdentityBackbone()
            self.lm_head = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False, device="meta")
            self.lm_head.weight = weight

        @property
        def base_model(self):
            return self.model

        def get_output_embeddings(self):
            return self.lm_head

        def forward(self, hidden_states=None, labels=None, **kwargs):
            logits = self.lm_head(self.model(hidden_states).last_hidden_state)
            loss = None if labels is None else ForCausalLMLoss(logits, labels, vocab_size=logits.shape[-1])
            return CausalLMOutput(loss=loss, logits=logits)

    model = HeadOnlyLM()
    if fused_outputs is not None:
        add_fused_lm_head(model, outputs=fused_outputs)
    return model


def naive_weighted_loss(hidden, weight, labels, seg, answer_weight: float):
    """(b): full logits, per-token ``cross_entropy(reduction="none")`` times our ``token_weights``. Labels are
    shifted (not the logits sliced), as ``ForCausalLMLoss`` does, so no copy of the logits is made."""
    import torch
    import torch.nn.functional as F

    from scale_sft.loss import loss_normalizer, token_weights

    logits = hidden @ weight.t()
    shift_labels = F.pad(labels[:, 1:], (0, 1), value=-100)
    shift_seg = F.pad(seg[:, 1:], (0, 1), value=0)
    ce = F.cross_entropy(
        logits.view(-1, logits.shape[-1]), shift_labels.reshape(-1), ignore_index=-100, reduction="none"
    ).view(shift_labels.shape)
    weights = token_weights(shift_seg, "scale", answer_weight)
    return (weights * ce).sum() / torch.as_tensor(loss_normalizer(seg[:, 1:], "scale")).clamp(min=1)


def fused_scale_loss(model, hidden, labels, seg, answer_weight: float):
    """Ours: the fused head's per-token log-probabilities into ``scale_loss``, as ``ScaleSFTTrainer`` does."""
    from scale_sft.loss import scale_loss

    out = model(hidden_states=hidden, labels=labels, fused_lm_head=True)
    return scale_loss(-out.log_probs, seg[:, 1:], "scale", answer_weight).loss


def loss_step_fn(variant: str, weight, answer_weight: float):
    """A function ``(hidden, labels, seg) -> loss`` for ``variant``; its intermediates die when it returns, as
    in ``Trainer.training_step`` (the model outputs are dropped before ``backward``)."""
    if variant in ("ours", "ours_logprobs_only", "ours_vocab_chunk_8192"):
        model = head_only_lm(
            weight, ("log_probs",) if variant == "ours_logprobs_only" else TRAINER_FUSED_OUTPUTS
        )
        if variant == "ours_vocab_chunk_8192":
            import trl.trainer.utils as trl_utils

            trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE = 8192
        return lambda hidden, labels, seg: fused_scale_loss(model, hidden, labels, seg, answer_weight)
    if variant == "trl_fused":
        model = head_only_lm(weight, TRAINER_FUSED_OUTPUTS)

        def step(hidden, labels, seg):
            out = model(hidden_states=hidden, labels=labels, fused_lm_head=True)
            # `SFTTrainer.compute_loss`: token mean of -log_probs (zero on ignored positions)
            return (-out.log_probs).sum() / out.label_mask.sum().clamp(min=1)

        return step
    if variant == "hf_default":
        model = head_only_lm(weight, None)
        return lambda hidden, labels, seg: model(hidden_states=hidden, labels=labels).loss
    if variant == "naive_weighted":
        return lambda hidden, labels, seg: naive_weighted_loss(hidden, weight, labels, seg, answer_weight)
    raise ValueError(f"unknown loss variant {variant!r}")


def _run_step(step, hidden, weight, labels, seg) -> tuple[float, float, float]:
    """One forward + backward: (wall seconds, process CPU seconds, loss)."""
    hidden.grad, weight.grad = None, None
    start, cpu_start = time.perf_counter(), time.process_time()
    loss = step(hidden, labels, seg)
    loss.backward()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    value = loss.item()
    del loss
    return elapsed, cpu, value


def measure(variant: str, shape: LossShape) -> dict:
    """The subprocess's work: warm-up, then ``shape.repeats`` measured steps under ``PeakMemory``."""
    # small-shape warm-up: the same code path (autograd function, kernels, thread pool), at a negligible cost
    tiny = LossShape(batch=2, seq=64, hidden=32, vocab=1000)
    h, w, lab, sg = make_loss_inputs(tiny, seed=123)
    _run_step(loss_step_fn(variant, w, tiny.answer_weight), h, w, lab, sg)
    del h, w, lab, sg

    hidden, weight, labels, seg = make_loss_inputs(shape, shape.seed)
    step = loss_step_fn(variant, weight, shape.answer_weight)
    for _ in range(shape.warmup):
        _run_step(step, hidden, weight, labels, seg)
    hidden.grad, weight.grad = None, None
    memory = PeakMemory()
    memory.start()
    steps = [_run_step(step, hidden, weight, labels, seg) for _ in range(shape.repeats)]
    result = memory.stop()
    result.update(
        times_s=[s[0] for s in steps],
        cpu_times_s=[s[1] for s in steps],
        loss=steps[-1][2],
        supervised_tokens=int((seg[:, 1:] > 0).sum()),
        grad_norm_hidden=float(hidden.grad.norm()),
        grad_norm_weight=float(weight.grad.norm()),
    )
    return result


def summarise(loss_op: dict) -> None:
    """Adds each variant's CPU seconds per token (every position of the batch counts) and ours against each
    reference: ``memory_reduction`` (this / ours), the rest ours / this."""
    shape, variants = loss_op["shape"], loss_op["variants"]
    for v in variants.values():
        v["cpu_s_per_token_runs"] = cpu_s_per_token_runs(v, shape["batch"] * shape["seq"])
        v["cpu_s_per_token"] = min(v["cpu_s_per_token_runs"])
    ours = variants["ours"]
    loss_op["ratios"] = {
        ref: {
            "memory_reduction": variants[ref]["peak_mb"] / ours["peak_mb"],
            "cpu_per_token": ours["cpu_s_per_token"] / variants[ref]["cpu_s_per_token"],
            "time_ratio": ours["time_s"] / variants[ref]["time_s"],
            "cpu_time_ratio": ours["cpu_time_s"] / variants[ref]["cpu_time_s"],
            "fastest_step_time_ratio": ours["time_min_s"] / variants[ref]["time_min_s"],
        }
        for ref in REFERENCES
    }
