"""Which synthetic tasks a tiny Qwen2.5-VL trained from scratch learns on CPU, and at which learning rate.

    .venv/bin/python benchmarks/learnability.py [--steps 600] [--probes NAME ...] [--out FILE]

The evidence behind the synthetic task's design (``scale_sft.data.synthetic``) and the demo's learning rate:
each probe trains a fresh tiny model with AdamW (token-mean loss, constant learning rate after 20 warm-up
steps, batch 8) and reports the held-out loss in nats per completion (64 test items) after 100 steps and
at the end. A task is learned when that loss falls well below its early plateau. Probes:

- ``demo task``: the synthetic dataset the demo trains on, at lr 3e-3 (the old demo setting) and 1e-3;
- ``multi-colour counts``: a 3x3 grid where every cell is empty or a shape of any of the four colours, and the
  completion is one count line per colour (``Red shapes: 2.`` ...), the description a richer task would need;
- ``imbalanced task``: ``make-data --task imbalanced`` (0-10 checks per trace), at lr 1e-3, with the tiny
  model's tokenizer trained on that task's corpus. Besides the loss it reports the held-out ANSWER-token
  loss in nats per answer at step 100 and at the end (``-`` for the other probes), since the long traces
  dominate the total.

Writes ``benchmarks/LEARNABILITY.md``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import datasets
import torch

from scale_sft.data.format import assistant_message, user_message
from scale_sft.data.synthetic import COLORS, SHAPES, corpus_texts, draw_scene, make_dataset, make_records
from scale_sft.models.loading import load_model_and_processor
from scale_sft.models.tiny import make_tiny_model
from scale_sft.run_record import versions_line
from scale_sft.segments import ANSWER
from scale_sft.sft.collator import ScaleSFTCollator

ROOT = Path(__file__).resolve().parent.parent


def multi_colour_counts(n: int, split: str) -> datasets.Dataset:
    rng = random.Random(f"learnability:{split}")
    records = []
    for _ in range(n):
        cells = [
            None if rng.random() < 0.35 else {"color": rng.choice(list(COLORS)), "shape": rng.choice(SHAPES)}
            for _ in range(9)
        ]
        scene = [cells[0:3], cells[3:6], cells[6:9]]
        counts = "\n".join(
            f"{c.capitalize()} shapes: {sum(x is not None and x['color'] == c for x in cells)}."
            for c in COLORS
        )
        records.append(
            {
                "messages": [user_message("Count the shapes of each colour.", 1), assistant_message(counts)],
                "images": [draw_scene(scene)],
            }
        )
    return datasets.Dataset.from_list(records)


def probe(model_dir: Path, train: datasets.Dataset, test: datasets.Dataset, lr: float, steps: int) -> dict:
    torch.manual_seed(0)
    model, processor = load_model_and_processor(str(model_dir))
    collate = ScaleSFTCollator(processor=processor)
    test_batches = [collate([test[j] for j in range(i, i + 16)]) for i in range(0, 64, 16)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)

    def held_out_nats() -> tuple[float, float]:
        """(nats per completion, nats per answer) on the 64 test items."""
        model.eval()
        total = answer = 0.0
        with torch.no_grad():
            for batch in test_batches:
                batch = dict(batch)
                is_answer = batch.pop("segment_ids")[:, 1:] == ANSWER
                labels = batch.pop("labels")[:, 1:]
                logp = model(**batch).logits[:, :-1].float().log_softmax(-1)
                token_logp = logp.gather(-1, labels.clamp(min=0)[..., None])[..., 0]
                total -= (token_logp * (labels != -100)).sum().item()
                answer -= (token_logp * is_answer).sum().item()
        model.train()
        return total / 64, answer / 64

    generator = torch.Generator().manual_seed(0)
    nats, started = {}, time.perf_counter()
    for step in range(1, steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, step / 20)
        rows = torch.randint(len(train), (8,), generator=generator).tolist()
        batch = collate([train[i] for i in rows])
        batch.pop("segment_ids")
        model(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        if step in (100, steps):
            nats[step] = held_out_nats()
            print(
                f"  step {step}: {nats[step][0]:.2f} nats per completion, {nats[step][1]:.2f} per answer",
                flush=True,
            )
    return {
        "nats_100": nats[100][0],
        "nats_end": nats[steps][0],
        "answer_nats_100": nats[100][1],
        "answer_nats_end": nats[steps][1],
        "seconds": time.perf_counter() - started,
    }


PROBES = ("demo task 3e-3", "demo task 1e-3", "multi-colour counts", "imbalanced task")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--probes", nargs="+", choices=PROBES, default=list(PROBES[:3]))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "LEARNABILITY.md"))
    args = parser.parse_args()
    torch.set_num_threads(2)

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = make_tiny_model(Path(tmp) / "tiny", seed=0)
        texts = list(corpus_texts(make_records(500, seed=0, split="tokenizer", task="imbalanced")))
        probes = {  # name: (learning rate, data, model)
            "demo task 3e-3": (3e-3, lambda: make_dataset(2000, 64, seed=0), lambda: model_dir),
            "demo task 1e-3": (1e-3, lambda: make_dataset(2000, 64, seed=0), lambda: model_dir),
            "multi-colour counts": (
                1e-3,
                lambda: {
                    split: multi_colour_counts(n, split) for split, n in (("train", 2000), ("test", 64))
                },
                lambda: model_dir,
            ),
            "imbalanced task": (
                1e-3,
                lambda: make_dataset(2000, 64, seed=0, task="imbalanced"),
                lambda: make_tiny_model(Path(tmp) / "tiny-imbalanced", texts=texts, seed=0),
            ),
        }
        rows = []
        for name in args.probes:
            lr, data, model = probes[name]
            print(f"{name}", flush=True)
            data = data()
            result = probe(model(), data["train"], data["test"], lr, args.steps)
            answer = "-"
            if name == "imbalanced task":
                answer = f"{result['answer_nats_100']:.2f} -> {result['answer_nats_end']:.2f}"
            rows.append(
                f"| {name.removesuffix(' 3e-3').removesuffix(' 1e-3')} | {lr:g} | {result['nats_100']:.2f} | "
                f"{result['nats_end']:.2f} | {result['nats_end'] / result['nats_100']:.2f} | {answer} | "
                f"{result['seconds']:.0f} |"
            )

    table = "\n".join(
        [
            f"| task | learning rate | nats/completion at step 100 | at step {args.steps} | end / step 100 "
            "| nats/answer, step 100 -> end | seconds |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows,
        ]
    )
    out = Path(args.out)
    command = f".venv/bin/python benchmarks/learnability.py --steps {args.steps} --probes " + " ".join(
        f"'{p}'" for p in args.probes
    )
    if out.resolve() != (ROOT / "benchmarks" / "LEARNABILITY.md").resolve():
        command += f" --out {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}"
    out.write_text(
        "# Learnability probes\n\n"
        f"Command: `{command}` (2 CPU threads; method in the script's docstring). Held-out loss of a tiny "
        "Qwen2.5-VL trained from scratch, in nats per completion (lower is better). "
        f"{versions_line()}\n\n" + table + "\n"
    )
    print(table)


if __name__ == "__main__":
    main()
