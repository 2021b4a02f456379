"""Reading datasets, for training data and converted sources alike, and the report of what was kept.

``read_records`` is the one reader: a local ``save_to_disk`` directory (the ``split`` of a ``DatasetDict``), a
JSON file (a list of records, or an object keyed by record id whose keys become ``id``), a JSONL file (one
record per line; a bad line is an error naming its line number), or a hub dataset name. It returns the records
and the folder their relative image paths are relative to.

Splits of JSON/JSONL files (one rule, so that ``--eval_split test`` never silently reads the training file):

1. for split ``S``, the file ``{stem}.{S}{suffix}`` beside the named one is read when it exists
   (``data.jsonl`` with ``data.test.jsonl`` beside it: ``test`` reads the latter);
2. otherwise the named file, if its records all carry a ``split`` field: the records whose ``split`` is ``S``
   (the original ScienceQA / IconQA releases keep every split in one ``problems.json``);
3. otherwise the named file is one split, named by the last ``.``/``_``/``-`` part of its stem when that is a
   split name (``test.jsonl``, ``scienceqa_test.jsonl``, ``data.val.json``), else ``train``: any other ``S``
   is an error saying which file to create.

``load_cot_dataset`` reads a dataset in the project's record format; ``scale_sft.data.prepare.prepare_dataset``
then checks its records. ``DataReport`` counts what a step kept and why it skipped the rest: the record
checks before training and the converters (``scale_sft.data.converters``) both fill one.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets

SPLIT_NAMES = ("train", "val", "validation", "dev", "test")  # names rule 3 recognises at the end of a stem


class DataError(ValueError):
    """A dataset that cannot be read, or a record that cannot be trained on (with ``malformed="error"``)."""


@dataclass
class DataReport:
    """How many records a step (``label``: a converter's source, or empty) kept, and why it skipped the rest.

    ``changed`` counts kept records that were altered on the way, by what (e.g. a source's own answer-format
    instruction removed from the question).
    """

    label: str = ""
    total: int = 0
    kept: int = 0
    direct_answer: int = 0
    skipped: Counter = field(default_factory=Counter)
    changed: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        def counts(counter: Counter) -> str:
            return ", ".join(f"{n} {reason}" for reason, n in sorted(counter.items())) or "none"

        prefix = f"{self.label}: " if self.label else ""
        text = (
            f"{prefix}{self.kept}/{self.total} records kept ({self.direct_answer} direct answers without "
            f"reasoning); skipped: {counts(self.skipped)}"
        )
        return text + (f"; changed: {counts(self.changed)}" if self.changed else "")

    def to_dict(self) -> dict:
        """The counts; ``label`` and ``changed`` only when set, so a training run's counts read as before."""
        counts = {
            "total": self.total,
            "kept": self.kept,
            "direct_answer": self.direct_answer,
            "skipped": dict(self.skipped),
        }
        extra = {"label": self.label, "changed": dict(self.changed)}
        return {k: v for k, v in extra.items() if v} | counts


def file_split(path: Path) -> str:
    """The split a JSON/JSONL file holds by its name (rule 3 of the module docstring)."""
    last = re.split(r"[._-]", path.stem)[-1].lower()
    return last if last in SPLIT_NAMES else "train"


def _parse_json_file(path: Path) -> list:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}, line {number}: not valid JSON ({err.msg}).") from None
        return records
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON (line {err.lineno}: {err.msg}).") from None
    if isinstance(data, dict):  # keyed by record id
        return [{"id": key} | value if isinstance(value, dict) else value for key, value in data.items()]
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of records or an object keyed by record id.")
    return data


def _json_split(path: Path, split: str) -> list:
    """The records of ``split`` by the rules of the module docstring."""
    sibling = path.with_name(f"{path.stem}.{split}{path.suffix}")
    if sibling.is_file():
        return _parse_json_file(sibling)
    records = _parse_json_file(path)
    if records and all(isinstance(r, dict) and "split" in r for r in records):
        chosen = [r for r in records if r["split"] == split]
        if not chosen:
            names = sorted({str(r["split"]) for r in records})
            raise DataError(f"{path}: its records' `split` fields name {names}, not {split!r}.")
        return chosen
    own = file_split(path)
    if own != split:
        raise DataError(
            f"{path} holds the split {own!r} (by its name), not {split!r}: put the {split!r} records in "
            f"{sibling.name} beside it, or ask for split {own!r}."
        )
    return records


def read_records(
    path_or_name: str, split: str = "train", subset: str | None = None
) -> tuple[list | datasets.Dataset, Path | None]:
    """The records of ``split`` and the folder relative image paths are relative to (None for the hub)."""
    path = Path(path_or_name)
    if path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise DataError(f"{path} has splits {list(loaded)}, not {split!r}.")
            loaded = loaded[split]
        return loaded, path
    if path.suffix in (".json", ".jsonl"):
        if not path.is_file():
            raise FileNotFoundError(f"No dataset file at {path}.")
        return _json_split(path, split), path.parent
    if path.exists() or path_or_name.startswith((".", "/")):
        raise DataError(f"{path_or_name}: expected a save_to_disk directory or a .json/.jsonl file.")
    return datasets.load_dataset(path_or_name, subset, split=split), None


def _resolve_images(record, root: Path, index: int) -> dict:
    """Turn image file names (``images`` list or single ``image``) into absolute paths, kept as strings; an
    entry that is not a file name becomes None, which ``prepare_dataset`` counts as an invalid image entry."""
    if not isinstance(record, dict):
        raise DataError(f"Record {index}: expected a JSON object, got {type(record).__name__}.")
    names = record.get("images", record.get("image", []))
    names = (
        [names] if isinstance(names, str) else names if isinstance(names, list) else [None] if names else []
    )
    record = {k: v for k, v in record.items() if k != "image"}
    record["images"] = [
        (str(Path(n) if Path(n).is_absolute() else root / n) if isinstance(n, str) and n else None)
        for n in names
    ]
    return record


SCALARS = (str, int, float, bool)


def _uniform_columns(records: list[dict]) -> list[dict]:
    """Records whose top-level fields each hold one type, as Arrow needs: a field that mixes scalar types
    across records (an ``answer`` of ``3`` in one and ``"B"`` in another) is read as text; a value of another
    kind where the others are scalars (a list or object among strings) becomes None, for the record checks
    (e.g. the gold-answer check) to count."""
    kinds: dict[str, set] = {}
    for record in records:
        for key, value in record.items():
            if value is not None and key not in ("messages", "images"):
                kinds.setdefault(key, set()).add(type(value))
    mixed = {key for key, types in kinds.items() if len(types) > 1 and types & set(SCALARS)}
    if not mixed:
        return records
    fixed = []
    for record in records:
        record = dict(record)
        for key in mixed & record.keys():
            value = record[key]
            record[key] = str(value) if isinstance(value, SCALARS) else None
        fixed.append(record)
    return fixed


def load_cot_dataset(path_or_name: str, split: str = "train") -> datasets.Dataset:
    """``split`` of a dataset in the project's record format (see ``read_records`` for the places it reads).

    JSON records hold ``messages`` and ``images`` (file names relative to the JSON file); images stay paths
    here and are opened, and checked, by ``prepare_dataset``.
    """
    records, root = read_records(path_or_name, split)
    if isinstance(records, datasets.Dataset):
        return records
    return datasets.Dataset.from_list(
        _uniform_columns([_resolve_images(r, root, i) for i, r in enumerate(records)])
    )
