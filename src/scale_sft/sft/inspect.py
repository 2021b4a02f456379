"""``scale-sft inspect-data``: how a dataset will train, before training on it.

The records go through ``prepare_dataset`` (so the malformed, unreadable and over-long ones are counted exactly
as ``train`` would skip them) and then through ``ScaleSFTCollator`` with the model's processor, so the THINK and
ANSWER token counts are the ones the loss sees (template tokens and tags included, by the segment rules of
``scale_sft.segments``). Prints a table of the per-record THINK tokens, ANSWER tokens and their ratio (mean,
median, p90) and, with ``--out``, writes ``token_histogram.png`` and ``token_stats.json``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scale_sft.data.loading import load_cot_dataset
from scale_sft.data.prepare import prepare_dataset
from scale_sft.models.loading import resolve_model
from scale_sft.models.processor import ProcessorArguments, load_processor
from scale_sft.segments import ANSWER, THINK
from scale_sft.sft.collator import ScaleSFTCollator
from scale_sft.tables import format_table
from scale_sft.tags import DEFAULT_TAGS, CotTags, TagArguments


def _summary(values: np.ndarray) -> dict:
    if values.size == 0:
        return {"mean": 0.0, "median": 0.0, "p90": 0.0, "min": 0.0, "max": 0.0}
    return {
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "p90": float(np.percentile(values, 90)),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def count_segment_tokens(dataset, processor, tags: CotTags = DEFAULT_TAGS, batch_size: int = 16):
    """Per-record THINK and ANSWER token counts, as ``ScaleSFTCollator`` labels them."""
    collator = ScaleSFTCollator(processor=processor, tags=tags)
    think, answer = [], []
    for start in range(0, len(dataset), batch_size):
        batch = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        segment_ids = collator(batch)["segment_ids"]
        think += (segment_ids == THINK).sum(dim=1).tolist()
        answer += (segment_ids == ANSWER).sum(dim=1).tolist()
    return np.array(think, dtype=float), np.array(answer, dtype=float)


TABLE_ROWS = {"THINK tokens": "think_tokens", "ANSWER tokens": "answer_tokens", "THINK/ANSWER": "ratio"}


def stats_table(stats: dict) -> str:
    """Mean, median and p90 of the per-record THINK and ANSWER tokens and their ratio, and the total ratio."""
    columns = {
        stat: {label: stats[key][stat] for label, key in TABLE_ROWS.items()}
        for stat in ("mean", "median", "p90")
    }
    table = format_table(columns, list(TABLE_ROWS), corner="", precision=1)
    return f"{table}\ntotal THINK / total ANSWER tokens: {stats['total_ratio']:.1f}"


def _histogram(think: np.ndarray, answer: np.ndarray, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, values, name, color in (
        (axes[0], think, "THINK", "tab:blue"),
        (axes[1], answer, "ANSWER", "tab:orange"),
    ):
        ax.hist(values, bins=min(50, max(1, len(np.unique(values)))), color=color)
        ax.set_xlabel(f"{name} tokens per record")
        ax.set_ylabel("records")
        ax.set_title(f"{name}: mean {values.mean():.1f}, median {np.median(values):.1f}")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def inspect_data(
    dataset: str,
    model: str,
    split: str = "train",
    out: str | Path | None = None,
    max_length: int | None = 1024,
    limit: int | None = None,
    tags: CotTags = DEFAULT_TAGS,
    batch_size: int = 16,
    trust_remote_code: bool = False,
    processor_options: dict | None = None,
    allow_outside_images: bool = False,
) -> dict:
    """Count skips and per-record THINK/ANSWER tokens of ``dataset`` under ``model``'s processor; print them."""
    processor = load_processor(resolve_model(model), trust_remote_code, processor_options)
    raw = load_cot_dataset(dataset, split, allow_outside_images)
    if limit is not None and limit < len(raw):
        raw = raw.select(range(limit))
    kept, report = prepare_dataset(raw, processor, tags, "skip", max_length)
    think, answer = count_segment_tokens(kept, processor, tags, batch_size)
    stats = {
        "dataset": dataset,
        "split": split,
        "model": model,
        "max_length": max_length,
        "data": report.to_dict(),
        "think_tokens": _summary(think),
        "answer_tokens": _summary(answer),
        "ratio": _summary(think / np.maximum(answer, 1)),
        "total_ratio": float(think.sum() / max(answer.sum(), 1)),
    }
    print(f"{dataset} [{split}] with {model}: {report.summary()}")
    print(stats_table(stats))
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        _histogram(think, answer, f"{Path(dataset).name} [{split}]", out / "token_histogram.png")
        (out / "token_stats.json").write_text(json.dumps(stats, indent=2))
        print(f"Wrote {out / 'token_histogram.png'} and {out / 'token_stats.json'}")
    return stats


@dataclass
class InspectDataArguments:
    """``scale-sft inspect-data``: ``inspect_data``'s settings, field for parameter (tags: ``TagArguments``;
    image options: ``ProcessorArguments``)."""

    dataset: str = field(metadata={"help": "save_to_disk directory, JSON/JSONL file or hub name."})
    model: str = field(metadata={"help": "Model (hub name or path) whose processor to use."})
    split: str = field(default="train", metadata={"help": "Split to inspect."})
    out: str | None = field(
        default=None, metadata={"help": "Directory for token_histogram.png and token_stats.json."}
    )
    max_length: int | None = field(
        default=1024, metadata={"help": "As in train: longer records are skipped ('none': keep all)."}
    )
    limit: int | None = field(default=None, metadata={"help": "Inspect only the first N records."})
    batch_size: int = field(default=16, metadata={"help": "Records per collator batch."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Run the model repository's own code."})
    allow_outside_images: bool = field(
        default=False,
        metadata={"help": "JSON/JSONL data: also read images outside the data file's folder (absolute or ../ paths)."},
    )


def inspect_data_command(
    args: InspectDataArguments, tag_args: TagArguments, processor_args: ProcessorArguments
) -> dict:
    """``scale-sft inspect-data``: ``inspect_data`` with the parsed settings."""
    return inspect_data(
        **dataclasses.asdict(args), tags=tag_args.tags, processor_options=processor_args.processor_options()
    )
