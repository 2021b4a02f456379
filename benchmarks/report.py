"""The results in words: measured context for each missed goal (``explain``) and the markdown report
(``render_markdown``). Both read a summarised and judged results dict; neither measures anything."""

from __future__ import annotations

from common import TRAINER_FUSED_OUTPUTS, fmt_list
from goals import goal_id

LOSS_LABELS = {
    "ours": "ours: fused head + scale_loss",
    "trl_fused": "(c) fused head + TRL token mean",
    "hf_default": "(a) full logits + ForCausalLMLoss",
    "naive_weighted": "(b) full logits + CE x token_weights",
    "ours_logprobs_only": "extra: ours, fused outputs = log_probs only",
    "ours_vocab_chunk_8192": "extra: ours, vocab tile 8192",
}
TRAINER_LABELS = {
    "scale": "ScaleSFTTrainer scale",
    "vanilla": "ScaleSFTTrainer vanilla",
    "trl": "TRL SFTTrainer",
}


def _ms(values) -> str:
    return fmt_list([v * 1e3 for v in values], ".3f")


def _loss_memory_note(results: dict) -> list[str]:
    shape, loss = results["loss_op"]["shape"], results["loss_op"]["variants"]
    ours = loss["ours"]
    tile = (min(shape["batch"] * (shape["seq"] - 1), 4096), min(shape["vocab"], 32768))
    logits_mb = shape["batch"] * shape["seq"] * shape["vocab"] * 4 / 2**20
    grad_w_mb = shape["vocab"] * shape["hidden"] * 4 / 2**20
    return [
        f"Loss-op memory goal missed: ours peaks {ours['peak_mb']:.0f} MB above the set-up baseline, "
        f"(a) {loss['hf_default']['peak_mb']:.0f} MB, (b) {loss['naive_weighted']['peak_mb']:.0f} MB. "
        f"{grad_w_mb:.0f} MB of every variant's peak is d/dW ({shape['vocab']} x {shape['hidden']} fp32). "
        f"The rest of ours is TRL's fused head on CPU (no Triton): it projects {tile[0]} x {tile[1]} logits "
        f"tiles ({tile[0] * tile[1] * 4 / 2**20:.0f} MB fp32 each) and folds them with plain torch ops, which hold "
        f"several tile-sized temporaries at once (forward: the transformed logits, exp, the entropy and top-1 "
        f"terms; backward: the transformed logits twice, log p, p, the one-hot, their difference, the gradient), "
        f"so a step peaks at several tiles, against {logits_mb:.0f} MB per copy of the full logits. SCALe "
        f"itself adds only (batch, seq) tensors (ours and (c) peak within "
        f"{abs(ours['peak_mb'] - loss['trl_fused']['peak_mb']):.0f} MB of each other). The fix is a narrower "
        f"vocabulary tile on CPU."
    ]


def _loss_extras_notes(results: dict) -> list[str]:
    shape, loss = results["loss_op"]["shape"], results["loss_op"]["variants"]
    ours, notes = loss["ours"], []
    ours_time = f"{ours['time_s']:.1f} s wall / {ours['cpu_time_s']:.1f} s CPU"
    chunk = loss.get("ours_vocab_chunk_8192")
    if chunk is not None:
        rows = min(shape["batch"] * (shape["seq"] - 1), 4096)
        notes.append(
            f"Extra: ours with an 8,192-wide vocabulary tile (trl.trainer.utils._CHUNKED_LOGPROB_CHUNK_SIZE = 8192, "
            f"{rows * 8192 * 4 / 2**20:.0f} MB tiles) peaks at {chunk['peak_mb']:.0f} MB: "
            f"{loss['hf_default']['peak_mb'] / chunk['peak_mb']:.2f}x lower than (a) and "
            f"{loss['naive_weighted']['peak_mb'] / chunk['peak_mb']:.2f}x lower than (b), in "
            f"{chunk['time_s']:.1f} s wall / {chunk['cpu_time_s']:.1f} s CPU (ours with TRL's default tile: "
            f"{ours_time}); same loss and gradient norms."
        )
    logprobs = loss.get("ours_logprobs_only")
    if logprobs is not None:
        notes.append(
            f"Extra: ours with the fused head computing log_probs only (ScaleSFTTrainer inherits "
            f"outputs={TRAINER_FUSED_OUTPUTS} from SFTTrainer.__init__ and logs entropy and accuracy): "
            f"{logprobs['time_s']:.1f} s wall / {logprobs['cpu_time_s']:.1f} s CPU, {logprobs['peak_mb']:.0f} MB, "
            f"vs {ours_time}, {ours['peak_mb']:.0f} MB."
        )
    return notes


def _loss_time_note(results: dict) -> list[str]:
    loss, ratio = results["loss_op"]["variants"], results["loss_op"]["ratios"]["trl_fused"]
    ours, fused = loss["ours"], loss["trl_fused"]
    return [
        f"Loss-op time goal missed: ours / (c) {ratio['cpu_per_token']:.3f} on CPU time per token (per subprocess, "
        f"CPU ms/token: ours {_ms(ours['cpu_s_per_token_runs'])}, (c) {_ms(fused['cpu_s_per_token_runs'])}), "
        f"{ratio['time_ratio']:.3f} on the median wall step. Ours and (c) run the same fused kernel; ours adds "
        f"only scale_loss on (batch, seq) tensors."
    ]


def _train_notes(name: str, res: dict, by_id: dict) -> list[str]:
    scale, trl_ = res["variants"]["scale"], res["variants"]["trl"]
    r, notes = res["ratios"]["trl"], []
    if not by_id[goal_id("train_throughput_scale_vs_trl", name)]["met"]:
        notes.append(
            f"Training throughput goal missed ({name}): scale/TRL {r['cpu_throughput_best']:.3f} per CPU second "
            f"(per subprocess, CPU ms/token: scale {_ms(scale['cpu_s_per_token_runs'])}, TRL "
            f"{_ms(trl_['cpu_s_per_token_runs'])}), {r['cpu_throughput']:.3f} on the median step's CPU time, "
            f"{r['throughput']:.3f} on full wall steps, {r['compute_throughput']:.3f} on forward/backward/optimizer "
            f"only (on_step_begin to on_step_end). A gap between the full-step and the compute ratio is our "
            f"collator (the chat template rendered twice per record, character offsets, segment labelling), which runs "
            f"inside the step with dataloader_num_workers=0."
        )
    if not by_id[goal_id("train_memory_scale_vs_trl", name)]["met"]:
        notes.append(
            f"Training memory goal missed ({name}): scale {scale['peak_mb']:.1f} MB vs TRL {trl_['peak_mb']:.1f} "
            f"MB above set-up baselines of {scale['baseline_mb']:.0f} / {trl_['baseline_mb']:.0f} MB (per-round "
            f"peaks: scale {fmt_list(scale['peaks_mb'], '.1f')}, TRL {fmt_list(trl_['peaks_mb'], '.1f')})."
        )
    return notes


def _cpu_spread_note(results: dict) -> list[str]:
    """How far load moved CPU time itself: the largest ratio between two subprocesses of one variant."""
    runs = {f"loss op {n}": v["cpu_s_per_token_runs"] for n, v in results["loss_op"]["variants"].items()}
    for model, res in results["train"].items():
        runs |= {f"{model} {n}": v["cpu_s_per_token_runs"] for n, v in res["variants"].items()}
    spread = {name: max(r) / min(r) for name, r in runs.items() if len(r) > 1}
    if not spread:
        return []
    worst = max(spread, key=spread.get)
    return [
        f"CPU time per token of one variant's subprocesses differed by up to {spread[worst]:.2f}x ({worst}): "
        "other jobs bend CPU time too (shared caches and memory bandwidth, threads waiting for their partner), "
        "less than wall time; the goals take each variant's lowest, so a variant that never ran undisturbed "
        "looks slower than it is."
    ]


def _caveats(results: dict) -> list[str]:
    fastest = results["loss_op"]["ratios"]["trl_fused"]["fastest_step_time_ratio"]
    lines = [f"loss op ours/(c) time {fastest:.3f}"] + [
        f"{n} training scale/TRL throughput {r['ratios']['trl']['fastest_step_throughput']:.3f}"
        for n, r in results["train"].items()
    ]
    vocabs = ", ".join(f"{n}: {r['variants']['scale']['vocab']}" for n, r in results["train"].items())
    return [
        "Cross-check on the fastest wall step of each variant: " + "; ".join(lines) + ".",
        f"The training models' byte-level BPE tokenizer is trained locally on the synthetic corpus, which allows "
        f"only a few hundred merges, so their vocabulary is small ({vocabs} tokens whatever is requested): the LM "
        f"head is a small part of a step, and the training figures measure the SCALe pipeline's overhead "
        f"(collator, loss, logging) rather than the fused head's savings, which the loss-op benchmark measures "
        f"at Qwen2.5's vocabulary.",
        f"The machine is shared ({results['machine']['cores']} cores, other jobs running; load average at start "
        f"{fmt_list(results['machine']['load_average_at_start'])}): wall times drift with the other jobs, so the "
        "time and throughput goals are judged on process CPU seconds per token of the least disturbed subprocess "
        "(other jobs can only add CPU time), variants are interleaved, and only ratios from this run are compared.",
    ]


def explain(results: dict) -> list[str]:
    """Measured context for each goal that is missed, and the caveats that always apply."""
    by_id = {g["id"]: g for g in results["goals"]}
    notes = []
    if not (by_id["loss_memory_vs_hf_default"]["met"] and by_id["loss_memory_vs_naive_weighted"]["met"]):
        notes += _loss_memory_note(results)
    notes += _loss_extras_notes(results)
    if not by_id["loss_cpu_time_vs_trl_fused"]["met"]:
        notes += _loss_time_note(results)
    for name, res in results["train"].items():
        notes += _train_notes(name, res, by_id)
    return notes + _cpu_spread_note(results) + _caveats(results)


def _header(r: dict, render_only: bool) -> list[str]:
    m = r["machine"]
    rerendered = (
        [
            "Ratios, goals and notes derived again from that run's measurements (`results.json`) by "
            "`python benchmarks/run.py --render-only`, without measuring: they follow the current goals and "
            "rules, which may differ from those the run itself applied.",
            "",
        ]
        if render_only
        else []
    )
    return [
        "# Benchmarks: SCALe at the cost of vanilla SFT",
        "",
        f"Written by `benchmarks/run.py` (wall-clock {r['wall_s'] / 60:.1f} min).",
        "",
        *rerendered,
        "## Machine and command",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; `torch.set_num_threads({m['torch_threads']})`",
        f"- torch {m['torch']}, transformers {m['transformers']}, trl {m['trl']}, Python {m['python']}",
        f"- load average (1, 5, 15 min) at start: {fmt_list(m['load_average_at_start'])}"
        + (f", at end: {fmt_list(m['load_average_at_end'])}" if "load_average_at_end" in m else ""),
        f"- command: `{r['command']}`" + (" (smoke settings)" if r["small"] else ""),
        f"- every variant runs in a fresh subprocess; {r['rounds']} interleaved round(s), order rotated per round "
        "(loss op: ours and (c) every round, (a), (b) and extras in the first)",
        f"- peak memory: {r['memory_method']}",
        "- time goals are judged on process CPU time (all threads, `time.process_time()` in the subprocess) per "
        "token: per subprocess, the CPU seconds of its measured steps over their tokens, the lowest over "
        "subprocesses. Wall-clock (median over the measured steps of all rounds) is reported beside it as "
        "information; it moves with the other jobs on the machine",
        "",
    ]


def _goals_table(r: dict) -> list[str]:
    lines = ["## Goals", "", "| goal | measured | wall-clock ratio (information) | target | met |"]
    lines.append("| --- | --- | --- | --- | --- |")
    for g in r["goals"]:
        value = f"{g['value']:.2e}" if g["threshold"] < 1e-3 else f"{g['value']:.3f}"
        wall = "" if g["wall_value"] is None else f"{g['wall_value']:.3f}"
        met = "yes" if g["met"] else "**no**"
        lines.append(
            f"| {g['name']} | {value} ({g['detail']}) | {wall} | {g['op']} {g['threshold']:g} | {met} |"
        )
    return lines


def _loss_section(r: dict) -> list[str]:
    shape, loss = r["loss_op"]["shape"], r["loss_op"]["variants"]
    ours = loss["ours"]
    lines = [
        "",
        "## Loss op: forward + backward (d/d hidden, d/d W)",
        "",
        f"{shape['batch']} x {shape['seq']} = {shape['batch'] * shape['seq']:,} tokens, hidden {shape['hidden']:,}, "
        f"vocab {shape['vocab']:,}, float32, CPU; segments: a long trace, a short trace with padding, a direct "
        f"answer, a medium trace ({ours['supervised_tokens']:,} supervised tokens); answer weight "
        f"{shape['answer_weight']}. Each subprocess warms up on a small shape, then runs {shape['warmup']} full-shape "
        f"warm-up and {shape['repeats']} measured step(s). Fused variants use the per-token outputs the trainers "
        f"patch in ({', '.join(TRAINER_FUSED_OUTPUTS)}). CPU ms/token counts every position of the batch.",
        "",
        "| variant | CPU ms/token (best) | CPU time (s) | wall time (s) | steps (s) | peak memory (MB) | "
        "this / ours: memory | ours / this: CPU per token | ours / this: wall time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, v in loss.items():
        lines.append(
            f"| {LOSS_LABELS.get(name, name)} | {v['cpu_s_per_token'] * 1e3:.3f} | {v['cpu_time_s']:.2f} | "
            f"{v['time_s']:.2f} | {fmt_list(v['times_s'])} | {v['peak_mb']:.0f} | "
            f"{v['peak_mb'] / ours['peak_mb']:.2f} | {ours['cpu_s_per_token'] / v['cpu_s_per_token']:.3f} | "
            f"{ours['time_s'] / v['time_s']:.3f} |"
        )
    return lines


def _train_section(name: str, res: dict) -> list[str]:
    spec, variants = res["spec"], res["variants"]
    scale = variants["scale"]
    lines = [
        "",
        f"## Training step: {name} Qwen2.5-VL ({scale['params'] / 1e6:.1f}M parameters)",
        "",
        f"hidden {spec['hidden_size']}, {spec['num_layers']} layers, vision {spec['vision_hidden_size']} x "
        f"{spec['vision_depth']}, vocabulary {scale['vocab']} (tokenizer trained locally on the synthetic corpus; "
        f"{spec['vocab_size']} requested); batch {spec['batch']}, {spec['warmup']} warm-up + {spec['steps']} "
        f"measured optimizer steps per subprocess, AdamW, float32, gradient checkpointing "
        f"{'on' if scale['gradient_checkpointing'] else 'off'} (TRL's default, same for all), "
        f"{scale['tokens_per_step']:.0f} tokens/step ({scale['padded_tokens_per_step']:.0f} with padding). "
        "Step time is the interval between consecutive `on_step_end` callbacks (data loading and collation "
        "included), CPU time the process CPU time over the same interval; compute time is `on_step_begin` to "
        "`on_step_end`.",
        "",
        "TRL's `SFTTrainer` gets the same `messages` records and builds its default "
        "`DataCollatorForVisionLanguageModeling`: the input ids and padding are identical to ours (checked: "
        f"{all(v['same_input_ids_as_scale_collator'] for v in variants.values())}); it supervises every "
        "non-pad token, ours the completion only, which costs the same on CPU, where the fused head scores every "
        "position whatever the labels.",
        "",
        "| trainer | tokens per CPU s (best) | per subprocess | CPU tokens/s (median step) | tokens/s (wall) | "
        "compute tokens/s | steps (s) | peak memory (MB) | scale / this: tokens per CPU s | scale / this: wall "
        "tokens/s | scale / this: memory |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v_name, v in variants.items():
        lines.append(
            f"| {TRAINER_LABELS[v_name]} | {1 / v['cpu_s_per_token']:.0f} | "
            f"{fmt_list([1 / c for c in v['cpu_s_per_token_runs']], '.0f')} | {v['cpu_tokens_per_s']:.0f} | "
            f"{v['tokens_per_s']:.0f} | {v['compute_tokens_per_s']:.0f} | {fmt_list(v['times_s'])} | "
            f"{v['peak_mb']:.1f} | {v['cpu_s_per_token'] / scale['cpu_s_per_token']:.3f} | "
            f"{scale['tokens_per_s'] / v['tokens_per_s']:.3f} | {scale['peak_mb'] / v['peak_mb']:.3f} |"
        )
    return lines


def _gradient_section(r: dict) -> list[str]:
    g, gs = r["gradient"], r["gradient"]["shape"]
    return [
        "",
        "## Gradients: fused SCALe vs autograd on full logits",
        "",
        f"{gs['batch']} x {gs['seq']} tokens, hidden {gs['hidden']}, vocab {gs['vocab']:,}, float32 "
        f"({g['token_tiles']} token tile(s) x {g['vocab_tiles']} vocabulary tile(s) in TRL's kernel); "
        f"{g['think_tokens']} THINK + {g['answer_tokens']} ANSWER tokens, {g['distinct_token_weights']} distinct "
        f"per-token weights in [{g['token_weight_range'][0]:.2e}, {g['token_weight_range'][1]:.2e}].",
        "",
        "| quantity | max abs diff | max abs gradient |",
        "| --- | --- | --- |",
        f"| d/d hidden | {g['max_abs_diff_hidden']:.2e} | {g['max_abs_grad_hidden']:.2e} |",
        f"| d/d W | {g['max_abs_diff_weight']:.2e} | {g['max_abs_grad_weight']:.2e} |",
        f"| loss | {abs(g['loss_fused'] - g['loss_reference']):.2e} | {g['loss_reference']:.4f} |",
    ]


def render_markdown(r: dict, render_only: bool = False) -> str:
    """RESULTS.md for the summarised, judged and explained results ``r``."""
    lines = _header(r, render_only) + _goals_table(r) + _loss_section(r)
    for name, res in r["train"].items():
        lines += _train_section(name, res)
    lines += _gradient_section(r) + ["", "## Notes", ""] + [f"- {n}" for n in r["notes"]]
    return "\n".join(lines) + "\n"
