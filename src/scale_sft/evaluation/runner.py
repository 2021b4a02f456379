"""``scale-sft eval``: generate on a benchmark, score every item, write predictions, metrics and a table.

One straight path per prediction: the benchmark's records are loaded and their gold answers read
(``benchmarks.load_records``, before the model is loaded), then for each batch as it finishes: generation
(``generate.generate_batches``) -> extraction (``answers.parse_generation``, once) -> scoring
(``scoring.score_item``, plus the benchmark's own checks) -> a row appended to ``predictions.jsonl``; at the end
the rows are aggregated (``scoring.aggregate``) into ``metrics.json`` and a table.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from scale_sft.answers import ANSWER_FORMATS, Gold, parse_generation, read_gold
from scale_sft.evaluation.benchmarks import HUB_BENCHMARKS, Benchmark, get_benchmark, load_records
from scale_sft.evaluation.generate import check_generation_args, generate_batches
from scale_sft.evaluation.image_control import IMAGE_CONTROLS, apply_image_control, check_image_control
from scale_sft.evaluation.scoring import Generation, aggregate, score_item
from scale_sft.method_config import MALFORMED_MODES
from scale_sft.models.loading import load_model_and_processor
from scale_sft.models.processor import ProcessorArguments
from scale_sft.tables import format_table
from scale_sft.tags import DEFAULT_TAGS, CotTags, TagArguments

TABLE_METRICS = (
    "accuracy",
    "accuracy_strict",
    "malformed_rate",
    "unfinished_rate",
    "loop_rate",
    "consistency_rate",
    "think_tokens_mean",
    "answer_tokens_mean",
    "reasoning_correct_rate",
)


def _question_type(record: dict) -> str:
    return record.get("question_type") or record.get("category") or record["answer_type"]


def score_record(
    record: dict,
    gold: Gold,
    samples: Sequence[Generation],
    benchmark: Benchmark | None = None,
    tags: CotTags = DEFAULT_TAGS,
    answer_format: str | None = None,
) -> list[dict]:
    """One prediction row per sampled completion: the generation, its answer, the gold answer and the flags.

    The final answer is read in ``answer_format`` (``answers.ANSWER_FORMATS``); None: the record's own
    ``answer_format`` field, else ``"tags"``.
    """
    answer_format = answer_format or record.get("answer_format") or "tags"
    rows = []
    for k, generation in enumerate(samples):
        parsed = parse_generation(generation.text, tags, answer_format)
        row = {
            "id": record.get("id"),
            "sample": k,
            "question": record.get("question"),
            "question_type": _question_type(record),
            "generation": generation.text,
            "gold": gold.answer,
            **score_item(parsed, gold, generation, tags),
        }
        if benchmark is not None and benchmark.strict_match is not None:
            row["correct_strict"] = benchmark.strict_match(parsed.answer, gold)
        if benchmark is not None and benchmark.reasoning_check is not None:
            row["reasoning_correct"] = parsed.think is not None and benchmark.reasoning_check(
                parsed.think, record
            )
        rows.append(row)
    return rows


def score_records(
    records: Sequence[dict],
    generations: Iterable[Sequence[Generation]],
    benchmark: Benchmark | None = None,
    tags: CotTags = DEFAULT_TAGS,
    answer_format: str | None = None,
) -> list[dict]:
    """``score_record`` for each record and its completions (``generate``'s output), in order."""
    return [
        row
        for record, samples in zip(records, generations, strict=True)
        for row in score_record(record, read_gold(record), samples, benchmark, tags, answer_format)
    ]


def check_eval_args(
    limit: int | None,
    batch_size: int,
    max_new_tokens: int,
    temperature: float,
    num_samples: int,
    answer_format: str | None = None,
    image_control: str = "none",
):
    """Raise ``ValueError`` for settings ``evaluate`` cannot run with, before anything is loaded."""
    check_image_control(image_control)
    if answer_format is not None and answer_format not in ANSWER_FORMATS:
        raise ValueError(f"answer_format must be one of {ANSWER_FORMATS} (or None), got {answer_format!r}.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer (or None for every record), got {limit!r}.")
    check_generation_args(batch_size, max_new_tokens, temperature, num_samples)


def _score_and_write(
    batches, records, golds, bench, tags: CotTags, out: Path | None, answer_format: str | None
) -> list[dict]:
    """Score each batch as it is generated; append its rows to ``predictions.jsonl`` at once."""
    rows = []
    with open(out / "predictions.jsonl", "w") if out is not None else nullcontext() as sink:
        for index, samples in batches:
            for row in score_record(records[index], golds[index], samples, bench, tags, answer_format):
                rows.append({"index": index, **row})
                if sink is not None:
                    sink.write(json.dumps(rows[-1]) + "\n")
            if sink is not None:
                sink.flush()
    return rows


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
    hub_name: str | None = None,
    malformed: str = "skip",
    tags: CotTags = DEFAULT_TAGS,
    processor_options: dict | None = None,
    answer_format: str | None = None,
    image_control: str = "none",
    allow_outside_images: bool = False,
) -> dict:
    """Evaluate ``model`` on ``benchmark``; return the metrics and write them to ``output_dir``.

    ``answer_format`` says where the final answer stands: ``"tags"`` (the answer block) or ``"boxed"`` (the
    answer block if any, else the last ``\\boxed{}`` after the reasoning, as in DeepSeek-R1 traces); None reads
    each record's ``answer_format`` field (default ``"tags"``).

    The processor is the one saved with ``model`` (a ``train`` output keeps its training resolution);
    ``processor_options`` (``max_pixels``, ...) override it.

    ``image_control`` scores the model without looking (``evaluation.image_control``): ``"blank"`` shows a
    grey image of the same size, ``"shuffle"`` another item's images (a fixed permutation without fixed
    points); ``"none"`` shows the record's own. It is recorded under ``run`` in the metrics, so a study puts
    the accuracy with and without the image side by side.

    ``predictions.jsonl`` is written row by row as batches finish (in generation order; ``index`` is the
    record's position), so a failure late in a run keeps every prediction made before it; ``metrics.json``
    follows at the end, with the run settings under ``run`` and what was loaded and skipped under ``data``.
    Records whose gold answer cannot be read are skipped and counted (``malformed="error"``: an error naming
    the record), before the model is loaded.
    """
    check_eval_args(limit, batch_size, max_new_tokens, temperature, num_samples, answer_format, image_control)
    bench = get_benchmark(benchmark, split, data, hub_name, allow_outside_images)
    records, golds, data_report = load_records(bench, limit, malformed)
    records = apply_image_control(records, image_control)
    loaded_model, processor = load_model_and_processor(
        model, trust_remote_code=trust_remote_code, processor_options=processor_options
    )
    out = Path(output_dir) if output_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    batches = generate_batches(
        loaded_model, processor, records, batch_size, max_new_tokens, temperature, num_samples, tags
    )
    rows = _score_and_write(batches, records, golds, bench, tags, out, answer_format)
    metrics = aggregate(rows, "question_type")
    metrics["run"] = {
        "model": model,
        "benchmark": benchmark,
        "split": split,
        "n_records": len(records),
        "num_samples": num_samples,
        "temperature": temperature,
        "max_new_tokens": max_new_tokens,
        "batch_size": batch_size,
        "processor_options": processor_options or {},
        "answer_format": answer_format,
        "image_control": image_control,
        "generation_wall_clock_s": time.perf_counter() - started,
    }
    metrics["data"] = data_report
    print(format_table({"overall": metrics["overall"], **metrics["groups"]}, TABLE_METRICS))
    if out is not None:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


@dataclass
class EvalArguments:
    """``scale-sft eval``: ``evaluate``'s settings, field for parameter (tags: ``TagArguments``; image options:
    ``ProcessorArguments``)."""

    model: str = field(metadata={"help": "Hub name or local path of the model to evaluate."})
    benchmark: str = field(
        default="synthetic",
        metadata={"help": f"synthetic, synthetic_text, {', '.join(HUB_BENCHMARKS)}, or a dataset path."},
    )
    split: str = field(default="test", metadata={"help": "Split of the benchmark to evaluate on."})
    data: str | None = field(
        default=None, metadata={"help": "Local copy of the benchmark (file or directory)."}
    )
    hub_name: str | None = field(
        default=None,
        metadata={
            "help": "Hub dataset to read a hub benchmark from (default: "
            + "; ".join(f"{name}: {' then '.join(s.hub_names)}" for name, s in HUB_BENCHMARKS.items())
            + ")."
        },
    )
    limit: int | None = field(default=None, metadata={"help": "Evaluate the first N records only (N >= 1)."})
    batch_size: int = field(default=16, metadata={"help": "Records per generation batch (>= 1)."})
    max_new_tokens: int = field(default=512, metadata={"help": "Most tokens generated per completion."})
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy decoding; must be >= 0."})
    num_samples: int = field(default=1, metadata={"help": "Completions per record (needs temperature)."})
    malformed: str = field(
        default="skip",
        metadata={
            "help": "A record whose gold answer cannot be read: skip and count it, or stop naming it.",
            "choices": list(MALFORMED_MODES),
        },
    )
    answer_format: str | None = field(
        default=None,
        metadata={
            "help": "Where the final answer stands: the answer tags, or (boxed, R1 style) the answer tags if any, "
            "else the last \\boxed{} after the reasoning, or (last_number, lenient: a zero-shot floor) those, else the "
            "last number there (default: each record's answer_format field, else tags).",
            "choices": list(ANSWER_FORMATS),
        },
    )
    image_control: str = field(
        default="none",
        metadata={
            "help": "Score without looking: blank (a grey image of the same size) or shuffle (another item's "
            "images); recorded in metrics.json under run.",
            "choices": list(IMAGE_CONTROLS),
        },
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "Where predictions.jsonl and metrics.json go."}
    )
    allow_outside_images: bool = field(
        default=False,
        metadata={"help": "JSON/JSONL data: also read images outside the data file's folder (absolute or ../ paths)."},
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Run the model repository's own code."})


def eval_command(args: EvalArguments, tag_args: TagArguments, processor_args: ProcessorArguments) -> dict:
    """``scale-sft eval``: ``evaluate`` with the parsed settings."""
    return evaluate(
        **dataclasses.asdict(args), tags=tag_args.tags, processor_options=processor_args.processor_options()
    )
