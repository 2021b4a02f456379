"""Benchmarks: where the records come from, and the checks a task adds beyond the common metrics.

A ``Benchmark`` loads its records (the project's format, with ``answer``/``answer_type``/``choices``) and may
plug in task-specific checks that the runner applies to every generation:

* ``synthetic``: the project's task (a ``make-data`` directory as ``data``, else 200 test records drawn at
  seed 0); ``reasoning_check`` compares the generated reasoning with the known scene and gold reasoning step
  (``reasoning_correct``).
* ``synthetic_text``: the text-only reasoning task (``scale_sft.data.synthetic_text``; a ``make-data --task text``
  directory as ``data``, else 200 test records drawn at seed 0), answers in ``\\boxed{}``.
* ``scienceqa_img`` and ``iconqa``: the LMMs-Eval sets, converted by ``scale_sft.data.converters`` from a local
  copy (``data``) or from the hub. ``HUB_BENCHMARKS`` names the hub repositories tried in turn: where the sets
  are published now (``lmms-lab-encoder/...``), then their former names (``lmms-lab/...``); ``hub_name`` names
  another. ScienceQA adds ``strict_match``, LMMs-Eval's own letter-match rule, reported as ``accuracy_strict``.
* any other name: a dataset path (or hub dataset) in the project's record format, with no extra check.

``load_records`` then applies ``--limit`` and reads every gold answer (``read_gold``) before generation starts.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scale_sft.answers import Gold, GoldError, read_gold
from scale_sft.data.converters import convert
from scale_sft.data.loading import load_cot_dataset, looks_like_path
from scale_sft.data.synthetic import make_records, scene_facts
from scale_sft.data.synthetic_text import make_text_records
from scale_sft.method_config import MALFORMED_MODES


@dataclass(frozen=True)
class Benchmark:
    """A benchmark as the runner sees it.

    ``load()`` returns the records and the conversion report of a converted source (a ``to_dict()``, or None);
    ``reasoning_check(think, record)`` judges the content of a think block; ``strict_match(answer, gold)``
    judges the content of the answer block (None when there is none) by another rule than ours.
    """

    name: str
    load: Callable[[], tuple[Sequence[dict], dict | None]]
    reasoning_check: Callable[[str, dict], bool] | None = None
    strict_match: Callable[[str | None, Gold], bool] | None = None


@dataclass(frozen=True)
class HubSource:
    """A benchmark converted from a public schema: the converter, the hub names tried in order, the config."""

    source: str
    hub_names: tuple[str, ...]
    subset: str | None = None


HUB_BENCHMARKS = {
    "scienceqa_img": HubSource(
        "scienceqa", ("lmms-lab-encoder/ScienceQA", "lmms-lab/ScienceQA"), "ScienceQA-IMG"
    ),
    "iconqa": HubSource("iconqa", ("lmms-lab-encoder/ICON-QA", "lmms-lab/ICON-QA")),
}

# ------------------------------------------------------------------------------------------ synthetic task

_COLOR_RE = re.compile(r"^All shapes are (\w+)\.$", re.MULTILINE)
_COUNT_RE = re.compile(r"^There are (\d+) shapes, so (\d+) of the (\d+) cells are empty\.$", re.MULTILINE)


def parse_description(think: str) -> tuple[str, int, int] | None:
    """(colour, shapes, cells) as a (possibly generated) trace describes them, or None if it does not.

    Reads the sentences ``scale_sft.data.synthetic.describe_scene`` writes.
    """
    color, count = _COLOR_RE.search(think), _COUNT_RE.search(think)
    if color is None or count is None:
        return None
    n, empty, cells = (int(g) for g in count.groups())
    return (color.group(1), n, cells) if n + empty == cells else None


def reasoning_correct(think: str, record: dict) -> bool:
    """True iff the trace describes the scene right (colour, number of shapes, empty cells) and holds the
    gold reasoning step over that description (the lookup, comparison or choice the question needs).

    The description is checked against ``record["scene"]``; the step is the gold trace's second-to-last
    line. The final ``So the answer is`` sentence and the answer are not checked: they are scored apart
    (accuracy, consistency).
    """
    if parse_description(think) != scene_facts(json.loads(record["scene"])):
        return False
    gold_step = record["think"].splitlines()[-2]
    return gold_step in (line.strip() for line in think.splitlines())


# --------------------------------------------------------------------------------------------- ScienceQA


def lmms_eval_letter_match(answer: str | None, gold: Gold) -> bool:
    """LMMs-Eval's ScienceQA rule (``sqa_process_results``) on the answer block's content: correct iff it is
    exactly the gold letter, or starts with a capital letter and ``.`` (``B. fox``) and that letter is the gold.

    Stricter than ``normalize_choice`` (``(B)``, ``b``, ``The answer is B`` and the choice text are wrong
    here), so ``accuracy_strict`` is the number comparable with published LMMs-Eval results.
    """
    if answer is None:
        return False
    if answer == gold.answer:
        return True
    return len(answer) >= 2 and answer[0].isupper() and answer[1] == "." and answer[0] == gold.answer


# ------------------------------------------------------------------------------------------------ loading


def _convert_hub(spec: HubSource, split: str, data: str | None, hub_name: str | None):
    """Convert a local copy, or the first of the hub names that can be loaded; raise naming every failure."""
    if data is not None:
        return convert(spec.source, data, split)
    failures = []
    for name in (hub_name,) if hub_name else spec.hub_names:
        try:
            return convert(spec.source, name, split, spec.subset)
        except (FileNotFoundError, ConnectionError) as err:  # not on the hub (or not cached offline)
            failures.append(f"{name}: {err}")
    raise FileNotFoundError(
        "No hub dataset could be loaded (pass --data for a local copy):\n" + "\n".join(failures)
    )


def get_benchmark(
    name: str,
    split: str = "test",
    data: str | None = None,
    hub_name: str | None = None,
    allow_outside_images: bool = False,
) -> Benchmark:
    """The ``Benchmark`` called ``name`` (see the module docstring); ``data`` is a local copy. A name that is
    neither a benchmark, nor a local path, nor a hub ``org/name`` is an error listing the benchmarks (a typo
    never becomes a hub look-up)."""
    if name in ("synthetic", "synthetic_text"):
        make = make_records if name == "synthetic" else make_text_records

        def load_synthetic():
            if data is not None:
                return load_cot_dataset(data, split, allow_outside_images), None
            return make(200, seed=0, split="test"), None

        check = reasoning_correct if name == "synthetic" else None
        return Benchmark(name, load_synthetic, reasoning_check=check)
    if name in HUB_BENCHMARKS:
        spec = HUB_BENCHMARKS[name]

        def load_hub():
            dataset, report = _convert_hub(spec, split, data, hub_name)
            print(report.summary(), flush=True)
            return dataset, report.to_dict()

        strict = lmms_eval_letter_match if spec.source == "scienceqa" else None
        return Benchmark(name, load_hub, strict_match=strict)
    if hub_name is not None:
        raise ValueError(f"hub_name applies to {sorted(HUB_BENCHMARKS)}, not to {name!r}.")
    if "/" not in name and not Path(name).exists() and not looks_like_path(name):
        known = ["synthetic", "synthetic_text", *HUB_BENCHMARKS]
        raise ValueError(
            f"Unknown benchmark {name!r}: choose one of {known}, a dataset path, or a hub dataset `org/name`."
        )
    return Benchmark(name, lambda: (load_cot_dataset(name, split, allow_outside_images), None))


def load_records(
    benchmark: Benchmark, limit: int | None = None, malformed: str = "skip"
) -> tuple[list[dict], list[Gold], dict]:
    """The first ``limit`` records of ``benchmark`` whose gold answer can be read, their golds, and a report.

    A record whose gold answer cannot be read (``read_gold``) is skipped and counted by reason, or, with
    ``malformed="error"``, raises ``ValueError`` naming its index and id. The report holds the conversion
    report of a converted source (its own skips, e.g. IconQA items whose choice images are missing), the
    number of records read and evaluated, and the gold skips.
    """
    if malformed not in MALFORMED_MODES:
        raise ValueError(f"malformed must be one of {MALFORMED_MODES}, got {malformed!r}.")
    loaded, conversion = benchmark.load()
    n = len(loaded) if limit is None else min(limit, len(loaded))
    records, golds, skipped = [], [], Counter()
    for index in range(n):
        record = loaded[index]
        try:
            golds.append(read_gold(record))
        except GoldError as err:
            if malformed == "error":
                raise ValueError(f"Record {index} (id {record.get('id')!r}): {err}.") from err
            skipped[err.reason] += 1
            continue
        records.append(record)
    if skipped:
        print(
            f"{benchmark.name}: skipped {sum(skipped.values())} of {n} records: {dict(skipped)}", flush=True
        )
    if not records:
        raise ValueError(f"{benchmark.name}: no record with a readable gold answer among the {n} read.")
    report = {"conversion": conversion, "read": n, "evaluated": len(records), "gold_skipped": dict(skipped)}
    return records, golds, report
