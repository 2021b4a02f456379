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
import huggingface_hub

SPLIT_NAMES = ("train", "val", "validation", "dev", "test")  # names rule 3 recognises at the end of a stem
DATA_SUFFIXES = (".json", ".jsonl", ".parquet", ".csv", ".arrow", ".txt")
LIST_FIELDS = ("choices",)  # fields the record format documents as lists (of strings)


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


def _decoded(path: Path, data: bytes, first_line: int = 1) -> str:
    """``data`` as UTF-8 text; invalid bytes are an error naming the file and line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = first_line + data.count(b"\n", 0, err.start)
        raise DataError(f"{path}, line {line}: not valid UTF-8 ({err.reason} at byte {err.start}).") from None


def _parse_json_file(path: Path) -> list:
    data = path.read_bytes()
    if path.suffix == ".jsonl":
        records = []
        for number, raw in enumerate(data.split(b"\n"), start=1):
            line = _decoded(path, raw, number)
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}, line {number}: not valid JSON ({err.msg}).") from None
        return records
    text = _decoded(path, data)
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
    if path.exists():
        raise DataError(f"{path_or_name}: expected a save_to_disk directory or a .json/.jsonl file.")
    if looks_like_path(path_or_name):
        raise FileNotFoundError(f"No such file or directory: {path_or_name}.")
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        raise FileNotFoundError(
            f"No such file or directory: {path_or_name}; the hub is offline (HF_HUB_OFFLINE), so it was not "
            "looked up there as a dataset name."
        )
    return datasets.load_dataset(path_or_name, subset, split=split), None


def looks_like_path(name: str) -> bool:
    """Whether ``name`` is meant as a local path rather than a hub name (``org/name``): it starts with ``/``,
    ``.`` or ``~``, has a backslash, more than one ``/``, a data-file suffix, or a first part that is a local
    folder."""
    first = name.split("/")[0]
    return (
        name.startswith(("/", ".", "~"))
        or "\\" in name
        or name.count("/") > 1
        or Path(name).suffix.lower() in DATA_SUFFIXES
        or ("/" in name and Path(first).is_dir())
    )


def _where(source: str, index: int, record: dict) -> str:
    return f"{source}, record {index} (id {record.get('id', 'n/a')})"


def _resolve_images(record: dict, root: Path, where: str, allow_outside: bool) -> dict:
    """Turn image file names (``images`` list or single ``image``) into absolute paths, kept as strings; an
    entry that is not a file name becomes None, which ``prepare_dataset`` counts as an invalid image entry.

    Unless ``allow_outside``, a name must stay inside ``root`` (the data file's folder, symlinks followed):
    an absolute path or one that ``..`` leads out of it is an error, as ``convert`` refuses it too."""
    names = record.get("images", record.get("image", []))
    names = (
        [names] if isinstance(names, str) else names if isinstance(names, list) else [None] if names else []
    )
    resolved = []
    for name in names:
        if not (isinstance(name, str) and name):
            resolved.append(None)
            continue
        path = Path(name) if Path(name).is_absolute() else root / name
        if not allow_outside and not path.resolve().is_relative_to(root.resolve()):
            raise DataError(
                f"{where}, field `images`: {name!r} is outside the data folder {root}. Move the image into "
                "it, or pass allow_outside_images (--allow_outside_images) to read images from anywhere."
            )
        resolved.append(str(path))
    return {k: v for k, v in record.items() if k != "image"} | {"images": resolved}


def _uniform_messages(records: list[dict]) -> None:
    """Make every ``messages`` value fit one Arrow column, in place, without changing what trains.

    A ``messages`` that is not a list of objects with a text ``role``, and a ``content`` that is neither text
    nor a list of objects, become None: ``prepare_dataset`` counts them (``invalid message`` / ``invalid
    message content``). Content given as text in some messages and as a list of parts in others (both
    allowed) becomes one kind: text when no list holds an image (the parts' texts joined, as the chat
    templates render them), else a list, each text becoming one text part."""
    contents = []
    for record in records:
        messages = record.get("messages")
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages
        ):
            record["messages"] = None
            continue
        for message in messages:
            content = message.get("content")
            if not isinstance(content, str) and not (
                isinstance(content, list) and all(isinstance(p, dict) for p in content)
            ):
                message["content"] = None
            contents.append(message)
    lists = [m for m in contents if isinstance(m["content"], list)]
    if not lists or len(lists) == sum(m["content"] is not None for m in contents):
        return
    if all(p.get("type") == "text" and isinstance(p.get("text"), str) for m in lists for p in m["content"]):
        for message in lists:
            message["content"] = "".join(p["text"] for p in message["content"])
    else:
        for message in contents:
            if isinstance(message["content"], str):
                message["content"] = [{"type": "text", "text": message["content"]}]


SCALARS = (str, int, float, bool)


def _uniform_columns(records: list[dict], source: str) -> list[dict]:
    """Records with the same fields (every field of any record; None where one is absent), each holding one
    type, as Arrow needs: a field that mixes scalar types across records (an ``answer`` of ``3`` in one and
    ``"B"`` in another) is read as text; a value of another kind where the others are scalars (a list or
    object among strings) becomes None, for the record checks (e.g. the gold-answer check) to count. A field
    the format documents as a list (``choices``) that is a list in one record and not in another is an error
    naming the record."""
    columns = list(dict.fromkeys(key for record in records for key in record))
    records = [{key: record.get(key) for key in columns} for record in records]
    for key in set(LIST_FIELDS) & set(columns):
        if any(isinstance(r[key], list) for r in records):
            index = next(
                (i for i, r in enumerate(records) if r[key] is not None and not isinstance(r[key], list)),
                None,
            )
            if index is not None:
                value = records[index][key]
                raise DataError(
                    f"{_where(source, index, records[index])}, field `{key}`: expected a list of strings "
                    f"(as in other records), got {type(value).__name__} {value!r:.60}."
                )
    kinds: dict[str, set] = {}
    for record in records:
        for key, value in record.items():
            if value is not None and key not in ("messages", "images"):
                kinds.setdefault(key, set()).add(type(value))
    mixed = {key for key, types in kinds.items() if len(types) > 1 and types & set(SCALARS)}
    for record in records:
        for key in mixed:
            value = record[key]
            record[key] = str(value) if isinstance(value, SCALARS) else None
    return records


def load_cot_dataset(
    path_or_name: str, split: str = "train", allow_outside_images: bool = False
) -> datasets.Dataset:
    """``split`` of a dataset in the project's record format (see ``read_records`` for the places it reads).

    JSON records hold ``messages`` and ``images`` (file names relative to the JSON file, inside its folder
    unless ``allow_outside_images``); images stay paths here and are opened, and checked, by
    ``prepare_dataset``.
    """
    records, root = read_records(path_or_name, split)
    if isinstance(records, datasets.Dataset):
        return records
    resolved = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(
                f"{path_or_name}, record {index}: expected a JSON object, got {type(record).__name__}."
            )
        resolved.append(
            _resolve_images(record, root, _where(path_or_name, index, record), allow_outside_images)
        )
    _uniform_messages(resolved)
    return datasets.Dataset.from_list(_uniform_columns(resolved, path_or_name))
