"""``scale-sft eval``: generate on a benchmark, score every item, write predictions, metrics and a table.

Benchmarks: ``synthetic`` (the project's task; reasoning correctness is scored against the known trace),
``scienceqa_img`` and ``iconqa`` (the LMMs-Eval sets, read from the hub or a local copy in the same schema
and converted by ``scale_sft.data.converters``), or a path to a dataset in the project's record format.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from scale_sft.data.converters import convert
from scale_sft.data.loading import load_cot_dataset
from scale_sft.evaluation.answers import parse_generation
from scale_sft.evaluation.generate import generate
from scale_sft.evaluation.scoring import aggregate, score_item
from scale_sft.models.loading import load_model_and_processor
from scale_sft.tags import DEFAULT_TAGS, CotTags

# benchmark -> (converter source, hub dataset, hub configuration)
HUB_BENCHMARKS = {
    "scienceqa_img": ("scienceqa", "lmms-lab/ScienceQA", "ScienceQA-IMG"),
    "iconqa": ("iconqa", "lmms-lab/ICON-QA", None),
}
TABLE_METRICS = (
    "accuracy",
    "malformed_rate",
    "unfinished_rate",
    "loop_rate",
    "consistency_rate",
    "think_tokens_mean",
    "answer_tokens_mean",
    "reasoning_correct_rate",
)


def load_benchmark(benchmark: str, split: str = "test", data: str | None = None, limit: int | None = None):
    """Records (the project's format, with ``answer``/``answer_type``) of ``benchmark``'s ``split``.

    ``data`` points at a local copy: for ``synthetic`` a ``make-data`` directory (default: 200 freshly drawn
    test records, seed 0); for the hub benchmarks a JSON/JSONL file or ``save_to_disk`` directory in the
    original schema.
    """
    if benchmark == "synthetic":
        if data is None:
            from scale_sft.data.synthetic import make_records

            records = make_records(limit or 200, seed=0, split="test")
        else:
            records = load_cot_dataset(data, split)
    elif benchmark in HUB_BENCHMARKS:
        source, hub_name, subset = HUB_BENCHMARKS[benchmark]
        records, report = convert(source, data or hub_name, split, subset if data is None else None)
        print(report.summary(), flush=True)
    else:
        records = load_cot_dataset(benchmark, split)
    n = len(records) if limit is None else min(limit, len(records))
    records = [records[i] for i in range(n)]
    missing = {"answer", "answer_type"} - set(records[0]) if records else set()
    if missing:
        raise ValueError(f"Benchmark records need the fields {sorted(missing)} to be scored.")
    return records


def _question_type(record: dict) -> str:
    return record.get("question_type") or record.get("category") or record["answer_type"]


def score_records(records: list[dict], generations, tags: CotTags = DEFAULT_TAGS) -> list[dict]:
    """One prediction row per sampled completion: the generation, its answer, the gold answer and the flags."""
    rows = []
    for record, samples in zip(records, generations, strict=True):
        for k, gen in enumerate(samples):
            flags = score_item(
                gen.text,
                record["answer"],
                record["answer_type"],
                record.get("choices") or None,
                gen.think_tokens,
                gen.answer_tokens,
                gen.hit_max_new_tokens,
                gen.token_ids,
                tags,
            )
            row = {
                "id": record.get("id"),
                "sample": k,
                "question": record.get("question"),
                "question_type": _question_type(record),
                "generation": gen.text,
                "gold": record["answer"],
                **flags,
            }
            if record.get("scene"):  # the synthetic task: is the reasoning itself right?
                from scale_sft.data.synthetic import reasoning_correct

                think = parse_generation(gen.text, tags).think
                row["reasoning_correct"] = think is not None and reasoning_correct(think.strip(), record)
            rows.append(row)
    return rows


def summarize(rows: list[dict]) -> dict:
    """``aggregate`` plus the reasoning-correctness rate where the gold trace is known."""
    metrics = aggregate(rows, "question_type")
    judged = [r["reasoning_correct"] for r in rows if "reasoning_correct" in r]
    if judged:
        metrics["overall"]["reasoning_correct_rate"] = sum(judged) / len(judged)
    return metrics


def format_table(columns: dict[str, dict], metrics: tuple[str, ...] = TABLE_METRICS) -> str:
    """A plain-text table: one column per run (or group), one row per metric."""
    names = list(columns)
    width = max(12, *(len(n) for n in names))
    lines = [f"{'metric':<20}" + "".join(f"{n:>{width + 2}}" for n in names)]
    for metric in metrics:
        cells = []
        for name in names:
            value = columns[name].get(metric)
            cells.append(f"{'-' if value is None else f'{value:.3f}':>{width + 2}}")
        lines.append(f"{metric:<20}" + "".join(cells))
    return "\n".join(lines)


def evaluate(
    model: str,
    benchmark: str = "synthetic",
    split: str = "test",
    data: str | None = None,
    limit: int | None = None,
    batch_size: int = 16,
    max_new_tokens: int = 512,
    temperature: float = 0.0,
    num_samples: int = 1,
    output_dir: str | None = None,
    trust_remote_code: bool = False,
) -> dict:
    """Evaluate ``model`` on ``benchmark``; write ``predictions.jsonl`` and ``metrics.json`` to ``output_dir``."""
    records = load_benchmark(benchmark, split, data, limit)
    loaded_model, processor = load_model_and_processor(model, trust_remote_code=trust_remote_code)
    started = time.perf_counter()
    generations = generate(
        loaded_model, processor, records, batch_size, max_new_tokens, temperature, num_samples
    )
    rows = score_records(records, generations)
    metrics = summarize(rows)
    metrics["run"] = {
        "model": model,
        "benchmark": benchmark,
        "split": split,
        "n_records": len(records),
        "num_samples": num_samples,
        "temperature": temperature,
        "max_new_tokens": max_new_tokens,
        "batch_size": batch_size,
        "generation_wall_clock_s": time.perf_counter() - started,
    }
    print(format_table({"overall": metrics["overall"], **metrics["groups"]}))
    if output_dir is not None:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "predictions.jsonl", "w") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
