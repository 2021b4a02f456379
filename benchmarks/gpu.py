"""GPU benchmark at the published shapes: what users of Qwen2.5-VL-3B, Gemma-3-4B and LLaVA-v1.6-Mistral-7B get.

For each published architecture (plus SmolLM2-135M-Instruct, a small real case), randomly initialised at its
published configuration (``scale_sft.models.published``; speed needs shapes, not weights), built directly on the
GPU in bf16 with SDPA attention (flash-attn is not a dependency), gradient checkpointing on:

- training tokens per second (non-padding tokens) and peak GPU memory of ``ScaleSFTTrainer`` (SCALe),
  ``ScaleSFTTrainer`` (vanilla) and TRL's ``SFTTrainer``: same records, same batch, same order, in one run,
  with the variants' order rotated between rounds. Full fine-tuning with AdamW, except LLaVA-NeXT-7B, which does
  not fit one 80 GB card that way: LoRA (r 16 on the language model's linear layers), as users do on one GPU;
- model FLOPs utilisation: measured tokens per second times the language model's training FLOPs per token
  (6 N, or 4 N + 6 N_lora under LoRA, plus attention's 12 L d s), over the card's bf16 dense peak. The vision
  tower's FLOPs are left out, so it is a lower bound;
- ``group_by_length`` on a Vision-R1-like length mix (traces 100-2,000 tokens, log-uniform; 640x480 images at
  the published pixel limits) against TRL's default batching, on Qwen2.5-VL-3B;
- the loss op alone at Qwen2.5-VL-3B's hidden size and vocabulary (``loss_op.py``'s variants: TRL's fused LM
  head + SCALe, full logits + transformers' loss, full logits + weighted cross-entropy, TRL's fused vanilla).

On a GPU machine, from a fresh copy of the repository (set-up included):

    make install && .venv/bin/python benchmarks/gpu.py --out benchmarks/gpu_results.json

Expected duration on one H100: about 7 minutes plus the set-up (an estimate from the step counts, not yet
measured). ``--time_budget`` (default 420 s) skips what would start after it and records what it skipped;
every measurement is written to ``--out`` as soon as it is taken, so a run that is cut off still returns
numbers. ``--smoke`` runs the same code at tiny shapes on the CPU (``tests/test_benchmarks_gpu.py`` does).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LossShape, rotated  # noqa: E402
from loss_op import loss_step_fn, make_loss_inputs  # noqa: E402
from training_step import CountingCollator  # noqa: E402

VARIANTS = ("scale", "vanilla", "trl")
# (arch, LoRA): the published checkpoints of the paper, then SmolLM2-135M-Instruct
CASES = (("qwen2_5_vl", False), ("gemma3", False), ("llava_next", True), ("qwen2_text", False))
LOSS_VARIANTS = ("ours", "trl_fused", "hf_default", "naive_weighted")
FULL_LOGITS = ("hf_default", "naive_weighted")
PEAK_BF16_FLOPS = {"H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}
GOALS = {
    "throughput_vs_trl": 1.0,  # SCALe tokens/s over TRL SFTTrainer's, at least
    "memory_vs_trl": 1.03,  # SCALe peak memory over TRL SFTTrainer's, at most
    "loss_op_memory_reduction": 3.0,  # full-logits peak over ours, at least
    "group_by_length_speedup": 1.3,  # SCALe with group_by_length over TRL's default batching, at least
}


@dataclass(frozen=True)
class Plan:
    """How much each measurement gets; ``published`` picks the published sizes (else the tiny ones)."""

    device: str
    published: bool
    batch: int
    warmup: int
    steps: int
    rounds: int
    records: int  # records of the three-trainer comparison (steps are taken in order, without grouping)
    group_steps: int  # measured steps of the group_by_length comparison
    think_tokens: tuple[int, int]
    image_size: tuple[int, int]
    loss_shape: LossShape


PLANS = {
    "gpu": Plan("cuda", True, batch=4, warmup=2, steps=4, rounds=2, records=24, group_steps=12,
                think_tokens=(100, 2000), image_size=(640, 480),
                loss_shape=LossShape(batch=4, seq=2048, hidden=2048, vocab=151936, repeats=3, warmup=1)),
    "smoke": Plan("cpu", False, batch=2, warmup=1, steps=1, rounds=1, records=4, group_steps=2,
                  think_tokens=(20, 80), image_size=(64, 48),
                  loss_shape=LossShape(batch=2, seq=64, hidden=32, vocab=512, repeats=1, warmup=0)),
}  # fmt: skip
FILLER = "Let me check the shape and count it once more, then compare it with the question. "


class Results:
    """The results file, rewritten after every measurement so a cut run keeps what it measured."""

    def __init__(self, path: Path, data: dict):
        self.path, self.data = path, data

    def put(self, *keys: str, value) -> None:
        node = self.data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
        self.path.write_text(json.dumps(self.data, indent=1))


def machine(plan: Plan) -> dict:
    info = {"device": plan.device, **{p: version(p) for p in ("torch", "transformers", "trl", "peft")}}
    if plan.device == "cuda":
        query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
        driver = subprocess.run(query, capture_output=True, text=True).stdout.strip() or None
        info.update(card=torch.cuda.get_device_name(), cuda=torch.version.cuda, driver=driver)
    return info


def peak_flops(plan: Plan) -> float | None:
    if plan.device != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)


def sync(plan: Plan) -> None:
    if plan.device == "cuda":
        torch.cuda.synchronize()


def peak_memory_reset(plan: Plan) -> None:
    if plan.device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_memory_gb(plan: Plan) -> float | None:
    return torch.cuda.max_memory_allocated() / 1e9 if plan.device == "cuda" else None


def tiny_model(arch: str, work: Path) -> Path:
    from scale_sft.models.tiny import make_tiny_model

    return make_tiny_model(work / arch, arch=arch, texts=[FILLER * 4, "How many shapes are there?"] * 50)


def processor_and_config(arch: str, plan: Plan, tiny_dir: Path):
    """The processor and model config at the plan's sizes (published, or the tiny model's own)."""
    from transformers import AutoConfig, AutoProcessor, AutoTokenizer

    from scale_sft.models.published import published_config, published_processor
    from scale_sft.models.tiny import TEXT_ARCHITECTURES

    config = AutoConfig.from_pretrained(tiny_dir)
    if arch in TEXT_ARCHITECTURES:
        processor = AutoTokenizer.from_pretrained(tiny_dir)
    else:
        processor = AutoProcessor.from_pretrained(tiny_dir)
        if plan.published:
            processor = published_processor(arch, processor)
    return processor, published_config(arch, config) if plan.published else config


def build_model(arch: str, lora: bool, config, plan: Plan):
    """The model, randomly initialised on the plan's device (bf16 on the GPU)."""
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    from scale_sft.models.tiny import TEXT_ARCHITECTURES

    auto = AutoModelForCausalLM if arch in TEXT_ARCHITECTURES else AutoModelForImageTextToText
    dtype = torch.bfloat16 if plan.device == "cuda" else torch.float32
    torch.manual_seed(0)
    with torch.device(plan.device):
        model = auto.from_config(config, dtype=dtype, attn_implementation="sdpa")
    if lora:
        from peft import LoraConfig, get_peft_model

        targets = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=targets))
    return model


def length_mix(processor, n: int, plan: Plan, text_only: bool, seed: int) -> list[dict]:
    """Records whose THINK lengths are log-uniform in ``plan.think_tokens`` (in the model's own tokens), each
    with one ``plan.image_size`` image (none for a text model)."""
    import random

    from PIL import Image

    tokenizer = getattr(processor, "tokenizer", processor)
    per_filler = len(tokenizer(FILLER, add_special_tokens=False)["input_ids"])
    rng = random.Random(seed)
    low, high = plan.think_tokens
    records = []
    for i in range(n):
        target = math.exp(rng.uniform(math.log(low), math.log(high)))
        think = FILLER * max(1, round(target / per_filler))
        question = f"How many shapes are there? Record {i}."
        answer = f"<think>\n{think.strip()}\n</think>\n<answer>{rng.randint(1, 9)}</answer>"
        if text_only:
            messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            records.append({"messages": messages})
            continue
        messages = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]},
            {"role": "assistant", "content": [{"type": "text", "text": answer}]},
        ]
        color = tuple(rng.randrange(256) for _ in range(3))
        records.append({"messages": messages, "images": [Image.new("RGB", plan.image_size, color)]})
    return records


def dataset(records: list[dict], text_only: bool):
    import datasets

    from scale_sft.data.format import record_features

    features = None if text_only else datasets.Features({k: record_features()[k] for k in ("messages", "images")})
    return datasets.Dataset.from_list(records, features=features)


def trainer_for(variant: str, model, processor, data, plan: Plan, steps: int, work: Path, group: bool):
    from trl import SFTConfig, SFTTrainer

    from scale_sft import ScaleSFTConfig, ScaleSFTTrainer
    from scale_sft.data.prepare import prepare_dataset

    common = dict(
        output_dir=str(work / "out"), per_device_train_batch_size=plan.batch, max_steps=steps, max_length=None,
        learning_rate=1e-5, lr_scheduler_type="constant", optim="adamw_torch", bf16=plan.device == "cuda",
        gradient_checkpointing=plan.published, logging_steps=1, save_strategy="no", report_to="none", seed=0,
        dataloader_num_workers=0, disable_tqdm=True, use_cpu=plan.device == "cpu",
        train_sampling_strategy="group_by_length" if group else "random",
    )  # fmt: skip
    if variant == "trl":
        return SFTTrainer(model, args=SFTConfig(**common), train_dataset=data, processing_class=processor)
    data, _ = prepare_dataset(data, processor)  # as `scale-sft train` does: the record check, the length column
    config = ScaleSFTConfig(**common, loss_method=variant)
    return ScaleSFTTrainer(model, args=config, train_dataset=data, processing_class=processor)


def lm_flops_per_token(model, config, lora: bool, seq: float) -> float:
    """Training FLOPs per token of the language model: 6 N (4 N + 6 N_lora under LoRA) + 12 L d s."""
    text = config.get_text_config()
    vision = sum(p.numel() for n, p in model.named_parameters() if "vision" in n or "visual" in n)
    embed = text.vocab_size * text.hidden_size
    base = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n) - vision - embed
    head = embed  # the LM head is a matmul even when tied to the embedding
    n = base + (head if getattr(text, "tie_word_embeddings", False) else 0)
    attention = 12 * text.num_hidden_layers * text.num_attention_heads * getattr(
        text, "head_dim", text.hidden_size // text.num_attention_heads
    ) * seq  # fmt: skip
    if not lora:
        return 6 * n + attention
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return 4 * n + 6 * trainable + attention


def measure_training(case, variant: str, plan: Plan, setup: dict, records, steps: int, group: bool) -> dict:
    """One trainer's run: ``plan.warmup`` steps, then ``steps`` measured ones; tokens/s, peak memory, MFU."""
    from transformers import TrainerCallback

    arch, lora = case
    model = build_model(arch, lora, setup["config"], plan)
    with tempfile.TemporaryDirectory() as tmp:
        data = dataset(records, setup["text_only"])
        trainer = trainer_for(variant, model, setup["processor"], data, plan, plan.warmup + steps, Path(tmp), group)
        # collation runs in the main process (no dataloader workers), so it is part of every variant's step alike
        counting = CountingCollator(trainer.data_collator)
        trainer.data_collator = counting
        ends: list[float] = []

        class Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                sync(plan)
                ends.append(time.perf_counter())
                if len(ends) == plan.warmup:
                    peak_memory_reset(plan)

        trainer.add_callback(Clock())
        trainer.train()
        measured = range(plan.warmup, plan.warmup + steps)
        times = [ends[i] - ends[i - 1] for i in measured if i > 0]
        tokens = [counting.tokens[i] for i in measured if i > 0]
        padded = [counting.padded[i] for i in measured if i > 0]
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        out = {
            "tokens_per_s": sum(tokens) / sum(times),
            "step_s": statistics.median(times),
            "tokens_per_step": statistics.mean(tokens),
            "padding_share": 1 - sum(tokens) / sum(padded),
            "peak_memory_gb": peak_memory_gb(plan),
            "last_loss": losses[-1] if losses else None,
            "finite_loss": all(math.isfinite(x) for x in losses),
        }
        flops = lm_flops_per_token(trainer.model, setup["config"], lora, seq=statistics.mean(padded) / plan.batch)
        peak = peak_flops(plan)
        out["mfu"] = out["tokens_per_s"] * flops / peak if peak else None
    del trainer, model
    if plan.device == "cuda":
        torch.cuda.empty_cache()
    return out


def measure_loss_op(variant: str, plan: Plan) -> dict:
    """Forward + backward of one loss variant on the plan's device; peak memory above the inputs."""
    shape = plan.loss_shape
    hidden, weight, labels, seg = make_loss_inputs(shape, shape.seed)
    dtype = torch.bfloat16 if plan.device == "cuda" else torch.float32
    hidden = hidden.detach().to(plan.device, dtype).requires_grad_(True)
    weight = torch.nn.Parameter(weight.detach().to(plan.device, dtype))
    labels, seg = labels.to(plan.device), seg.to(plan.device)
    step = loss_step_fn(variant, weight, shape.answer_weight)
    times = []
    for i in range(shape.warmup + shape.repeats):
        hidden.grad, weight.grad = None, None
        if i == shape.warmup:
            sync(plan)
            base = torch.cuda.memory_allocated() if plan.device == "cuda" else 0
            peak_memory_reset(plan)
        start = time.perf_counter()
        step(hidden, labels, seg).backward()
        sync(plan)
        if i >= shape.warmup:
            times.append(time.perf_counter() - start)
    peak = peak_memory_gb(plan)
    return {"step_s": statistics.median(times), "peak_memory_gb": None if peak is None else peak - base / 1e9}


def ratio(a, b):
    return a / b if a is not None and b else None


def summarise(data: dict) -> dict:
    """Ratios taken within this run, and the goals judged on them."""
    out: dict = {}
    for case, variants in data.get("training", {}).items():
        med = {
            v: {k: statistics.median(r[k] for r in rounds) for k in ("tokens_per_s", "peak_memory_gb")
                if all(r.get(k) is not None for r in rounds)}
            for v, rounds in variants.items() if rounds
        }  # fmt: skip
        if {"scale", "trl"} <= med.keys():
            out[case] = {
                "throughput_vs_trl": ratio(med["scale"]["tokens_per_s"], med["trl"]["tokens_per_s"]),
                "throughput_vs_vanilla": ratio(med["scale"]["tokens_per_s"], med.get("vanilla", {}).get("tokens_per_s")),
                "memory_vs_trl": ratio(med["scale"].get("peak_memory_gb"), med["trl"].get("peak_memory_gb")),
            }  # fmt: skip
    group = data.get("group_by_length", {})
    if {"scale_grouped", "trl_default"} <= group.keys():
        out["group_by_length_speedup"] = ratio(
            group["scale_grouped"]["tokens_per_s"], group["trl_default"]["tokens_per_s"]
        )
    # the lower of the rounds' peaks: allocator warm-up can only add
    loss = {
        v: min((r["peak_memory_gb"] for r in rounds if r["peak_memory_gb"] is not None), default=None)
        for v, rounds in data.get("loss_op", {}).items()
    }
    if loss.get("ours"):
        out["loss_op_memory_reduction"] = {v: ratio(loss[v], loss["ours"]) for v in loss if v != "ours"}
    return out


def run(plan: Plan, out: Path, time_budget: float) -> dict:
    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    results = Results(out, {"plan": asdict(plan), "machine": machine(plan), "skipped": []})

    def in_budget(what: str) -> bool:
        if time.perf_counter() - start < time_budget:
            print(f"[{time.perf_counter() - start:6.0f} s] {what}", flush=True)
            return True
        results.put("skipped", value=[*results.data["skipped"], what])
        return False

    for r in range(2):
        for variant in rotated(LOSS_VARIANTS, r):
            if in_budget(f"loss op {variant}, round {r}"):
                rounds = results.data.get("loss_op", {}).get(variant, [])
                results.put("loss_op", variant, value=[*rounds, measure_loss_op(variant, plan)])
    with tempfile.TemporaryDirectory() as tmp:
        setups = {}
        for arch, _ in CASES:
            processor, config = processor_and_config(arch, plan, tiny_model(arch, Path(tmp)))
            text_only = not hasattr(processor, "image_processor")
            records = length_mix(processor, plan.records, plan, text_only, seed=0)
            setups[arch] = {"processor": processor, "config": config, "text_only": text_only, "records": records}
        for r in range(plan.rounds):
            for case in CASES:
                for variant in rotated(VARIANTS, r + CASES.index(case)):
                    key = f"{case[0]}{'_lora' if case[1] else ''}"
                    if in_budget(f"{key} {variant}, round {r}"):
                        setup = setups[case[0]]
                        m = measure_training(case, variant, plan, setup, setup["records"], plan.steps, False)
                        rounds = results.data.get("training", {}).get(key, {}).get(variant, [])
                        results.put("training", key, variant, value=[*rounds, m])
            if r == 0:
                group_by_length(plan, setups["qwen2_5_vl"], results, in_budget)
    results.put("ratios", value=summarise(results.data))
    results.put("goals", value=GOALS)
    results.put("duration_s", value=time.perf_counter() - start)
    return results.data


def group_by_length(plan: Plan, setup: dict, results: Results, in_budget) -> None:
    """SCALe with and without ``group_by_length`` against TRL's default batching, on the length mix."""
    n = (plan.warmup + plan.group_steps) * plan.batch
    records = length_mix(setup["processor"], n, plan, setup["text_only"], seed=1)
    for name, variant, group in (("trl_default", "trl", False), ("scale_grouped", "scale", True),
                                 ("scale_default", "scale", False)):  # fmt: skip
        if in_budget(f"group_by_length: {name}"):
            m = measure_training(("qwen2_5_vl", False), variant, plan, setup, records, plan.group_steps, group)
            results.put("group_by_length", name, value=m)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "gpu_results.json")
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU (the test suite's check)")
    parser.add_argument("--time_budget", type=float, default=None, help="seconds after which nothing new starts "
                        "(default 420 on the GPU, none for --smoke)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the three-trainer comparison")
    args = parser.parse_args()
    plan = PLANS["smoke" if args.smoke else "gpu"]
    if args.rounds:
        plan = replace(plan, rounds=args.rounds)
    if plan.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("No GPU: run with --smoke for the CPU check, or on a machine with a CUDA device.")
    budget = args.time_budget or (math.inf if args.smoke else 420.0)
    data = run(plan, args.out, budget)
    print(json.dumps({"ratios": data["ratios"], "skipped": data["skipped"]}, indent=1))


if __name__ == "__main__":
    main()
