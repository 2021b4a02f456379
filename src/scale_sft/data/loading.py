"""Loading chain-of-thought datasets, and the report of what was kept and skipped.

``load_cot_dataset`` takes a local ``save_to_disk`` directory, a JSON/JSONL file whose records name image
files (relative to the file), or a hub dataset name. ``scale_sft.data.prepare.prepare_dataset`` then checks the
records and fills a ``DataReport``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets


class DataError(ValueError):
    """A record that cannot be trained on (raised with ``malformed="error"``)."""


def _read_json_records(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of records.")
    return data


def _resolve_images(record: dict, root: Path) -> dict:
    """Turn image file names (``images`` list or single ``image``) into absolute paths, kept as strings."""
    names = record.get("images", record.get("image", []))
    names = [names] if isinstance(names, str) else list(names or [])
    record = {k: v for k, v in record.items() if k != "image"}
    record["images"] = [str(Path(name) if Path(name).is_absolute() else root / name) for name in names]
    return record


def load_cot_dataset(path_or_name: str, split: str = "train") -> datasets.Dataset:
    """Load ``split`` of a local ``save_to_disk`` directory, a JSON/JSONL file, or a hub dataset.

    JSON records hold ``messages`` and ``images`` (file names relative to the JSON file); images stay paths
    here and are opened, and checked, by ``prepare_dataset``.
    """
    path = Path(path_or_name)
    if path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise DataError(f"{path} has splits {list(loaded)}, not {split!r}.")
            return loaded[split]
        return loaded
    if path.suffix in (".json", ".jsonl"):
        if not path.is_file():
            raise FileNotFoundError(f"No dataset file at {path}.")
        records = [_resolve_images(r, path.parent) for r in _read_json_records(path)]
        return datasets.Dataset.from_list(records)
    if path.exists() or path_or_name.startswith((".", "/")):
        raise DataError(f"{path_or_name}: expected a save_to_disk directory or a .json/.jsonl file.")
    return datasets.load_dataset(path_or_name, split=split)


@dataclass
class DataReport:
    """What ``prepare_dataset`` kept and why it skipped the rest."""

    total: int = 0
    kept: int = 0
    direct_answer: int = 0
    skipped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        return (
            f"{self.kept}/{self.total} records kept ({self.direct_answer} direct answers without reasoning); "
            f"skipped: {reasons}"
        )

    def to_dict(self) -> dict:
        return {
            "total": self.total,
            "kept": self.kept,
            "direct_answer": self.direct_answer,
            "skipped": dict(self.skipped),
        }
