"""Converters from public schemas to the project's conversational ``<think>``/``<answer>`` records.

Every converter takes an iterable of source records and returns ``(records, ConversionReport)``: the converted
records (see ``scale_sft.data.format``) and the count of source records it could not convert, by reason. No
record is dropped without being counted. Images stay file paths (checked to exist) or PIL images; ``to_dataset``
turns the records into a ``datasets.Dataset`` with an ``Image`` feature (``save_to_disk`` then embeds the bytes).

Sources and the rules we apply (ours, documented here and in docs/RECIPES.md):

**Vision-R1 cold-start** (ShareGPT JSON): ``conversations`` (or ``messages``) holds one user turn (``from``/``role``
``human``/``user``, text in ``value``/``content``) and one assistant turn (``gpt``/``assistant``); ``system``
turns are ignored. ``image`` (str) or ``images`` (list) name files relative to the JSON file (or
``image_root``). The ``<image>`` placeholders are removed from the question (a line holding only placeholders
is dropped, an inline placeholder is cut out) and the images are put first as ``{"type": "image"}`` parts, as
``user_message`` does for every source; the number of placeholders must equal the number of images (a question
without any placeholder is accepted and gets one part per image). The assistant text is normalised by
``normalise_response``:

1. It must hold exactly one ``<think>...</think>`` block, with nothing but whitespace before ``<think>`` and no
   ``<answer>`` tag inside it. The reasoning is kept verbatim, less its surrounding whitespace.
2. The final answer is read from the text after ``</think>`` (the *tail*), first rule that applies:
   a. an ``<answer>...</answer>`` pair: its content (text around the pair is dropped);
   b. the last ``\\boxed{...}``: its content;
   c. the last answer marker, with markdown ``**``/``__`` removed: ``answer is X``, ``answer: X``
      (``The answer is B.``, ``**Answer:** 42``, ``Final answer: 7``), or a line that is only ``Final answer``
      followed by the answer on the next non-empty line;
   d. a tail of a single line: the whole line;
   otherwise the record is unconvertible (``no recognisable answer``).
3. The answer is cleaned: surrounding ``*``, backticks, ``$`` and quotes and one trailing ``.`` are removed.
   If the question lists lettered options (lines ``A. ...``, ``A: ...``, ``(A) ...`` from ``A`` on), an answer
   equal to an option's text (case-insensitive) becomes that option's letter, and otherwise an answer
   ``B``, ``(B)``, ``B.``, ``B) text``, ``option B`` becomes the letter ``B``; ``answer_type`` is then
   ``multiple_choice``.
   Otherwise it is ``numeric`` if the answer parses as a number, else ``free_text``.
4. The target is ``cot_completion(reasoning, answer)``. A response with no think tags at all is converted only
   when it is an explicit ``<answer>...</answer>`` or a single line (a direct answer, no reasoning); any
   other response without a think block is ``no think block``.

**ScienceQA** (image split, LMMs-Eval ``scienceqa_img``): the prompt is ``Context: {hint}\\n{question}\\nA. ...``
(the Context line only when the hint is non-empty), the gold letter ``chr(65 + answer)``. These records have no
reasoning traces, so the target is a direct answer ``<answer>B</answer>``: useful as an evaluation set (the
prompt is exactly the training prompt, the target the gold answer); trained on, it teaches direct answers.
Records without an image are counted and skipped.

**IconQA** (LMMs-Eval ``iconqa``): ``choose_txt`` lists the comma-separated choices as lettered options and the
gold letter is the index of the answer text; ``choose_img`` passes the query image then the choice images
(``choice_image_0``, ``choice_image_1``, ...), lists ``A. image 1``, ``B. image 2``, ... and the gold letter is
the choice whose file name (from ``choices`` or the image's own file name) matches ``answer``;
``fill_in_blank`` is a free answer (``numeric`` if it parses as a number, else ``free_text``). Targets are direct
answers, as for ScienceQA.
"""

from __future__ import annotations

import io
import json
import numbers
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from PIL import Image

from scale_sft.data.format import (
    DEFAULT_TAGS,
    CotTags,
    assistant_message,
    cot_completion,
    record_features,
    user_message,
)

LETTERS = "ABCDEFGHIJ"
SOURCES = ("vision_r1", "scienceqa", "iconqa")

FEATURES = record_features("source", "category")


class Unconvertible(ValueError):
    """A source record that cannot be converted; the message is the reason it is counted under."""


@dataclass
class ConversionReport:
    """How many source records were converted, and why the others were not."""

    source: str
    total: int = 0
    converted: int = 0
    skipped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        return f"{self.source}: {self.converted}/{self.total} records converted; unconvertible: {reasons}"

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "total": self.total,
            "converted": self.converted,
            "skipped": dict(self.skipped),
        }


def _run(
    source: str, records: Iterable[dict], convert_one: Callable[[dict, int], dict]
) -> tuple[list[dict], ConversionReport]:
    report = ConversionReport(source)
    converted = []
    for index, record in enumerate(records):
        report.total += 1
        try:
            converted.append(convert_one(record, index))
        except Unconvertible as err:
            report.skipped[str(err)] += 1
    report.converted = len(converted)
    return converted, report


def _record(
    id_: str,
    question: str,
    completion: str,
    images: list,
    answer: str,
    answer_type: str,
    choices: list[str],
    source: str,
    category: str = "",
    tags: CotTags = DEFAULT_TAGS,
) -> dict:
    return {
        "id": id_,
        "messages": [user_message(question, len(images), tags), assistant_message(completion)],
        "images": images,
        "question": question,
        "answer": answer,
        "answer_type": answer_type,
        "choices": choices,
        "source": source,
        "category": category,
    }


# ----------------------------------------------------------------------------------------------------- images


def _image(value, root: Path | None):
    """A PIL image or an existing file path (str) for ``value``; None when there is no image.

    Raises ``Unconvertible("missing image")`` for a path that does not exist.
    """
    if value is None:
        return None
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, dict):  # an undecoded datasets Image: {"bytes": ..., "path": ...}
        if value.get("bytes"):
            return Image.open(io.BytesIO(value["bytes"]))
        value = value.get("path")
        if not value:
            return None
    if isinstance(value, str):
        if not value.strip():
            return None
        path = Path(value)
        if not path.is_absolute() and root is not None:
            path = root / path
        if not path.is_file():
            raise Unconvertible("missing image")
        return str(path)
    raise Unconvertible(f"unsupported image value ({type(value).__name__})")


def _image_name(value) -> str | None:
    """The file name an image value refers to, if it has one."""
    if isinstance(value, dict):
        value = value.get("path")
    if isinstance(value, Image.Image):
        value = getattr(value, "filename", None)
    return Path(value).name if isinstance(value, str) and value else None


# ------------------------------------------------------------------------------------------------- answers

_OPTION_RE = re.compile(r"^\s*\(?([A-J])\)?\s*[.):：]\s*(.+?)\s*$")
_LETTER_ANSWER_RE = re.compile(r"^(?:(?i:option|choice)\s+)?\(?([A-J])\)?(?:$|[.):：]|\s)")
_NUMBER_RE = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?%?$")
_MARKER_RE = re.compile(r"answer\s*(?:is\b|:|：)\s*[:：]?\s*(.*)$", re.IGNORECASE)
_HEADING_RE = re.compile(r"^[#\s]*(?:the\s+)?final\s+answer\s*[:：]?\s*$", re.IGNORECASE)


def lettered_options(question: str) -> list[str]:
    """The texts of the lettered options ``A. ...``, ``B. ...`` listed in ``question`` (A first, in order)."""
    options: list[str] = []
    for line in question.splitlines():
        match = _OPTION_RE.match(line)
        if match and len(options) < len(LETTERS) and match.group(1) == LETTERS[len(options)]:
            options.append(match.group(2))
    return options if len(options) >= 2 else []


def is_number(text: str) -> bool:
    return bool(re.search(r"\d", text)) and bool(_NUMBER_RE.match(text.strip()))


def _boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (nested braces allowed), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j]
    return None


def _clean_answer(text: str) -> str:
    text = text.strip()
    boxed = _boxed(text)
    if boxed is not None:
        text = boxed.strip()
    previous = None
    while previous != text:
        previous = text
        text = text.strip().strip("*`\"'").strip()
        if len(text) > 1 and text[0] == text[-1] == "$":
            text = text[1:-1]
        if text.endswith(".") and not text.endswith(".."):
            text = text[:-1]
    return text


def extract_answer(tail: str, tags: CotTags = DEFAULT_TAGS) -> str:
    """The final answer in the text after ``</think>``, by rules 2a-2d of the module docstring (source tags)."""
    n_open, n_close = tail.count(tags.answer_start), tail.count(tags.answer_end)
    if n_open or n_close:
        start, end = tail.find(tags.answer_start), tail.find(tags.answer_end)
        if n_open != 1 or n_close != 1 or end < start:
            raise Unconvertible("unbalanced answer tags")
        return tail[start + len(tags.answer_start) : end]
    boxed = _boxed(tail)
    if boxed is not None:
        return boxed
    lines = [line.replace("**", "").replace("__", "").strip() for line in tail.strip().splitlines()]
    for k in range(len(lines) - 1, -1, -1):
        following = next((line for line in lines[k + 1 :] if line), "")
        match = _MARKER_RE.search(lines[k])
        if match:
            return match.group(1) or following
        if _HEADING_RE.match(lines[k]) and following:
            return following
    if len(lines) == 1:
        return lines[0]
    raise Unconvertible("no recognisable answer")


def classify_answer(answer: str, options: list[str]) -> tuple[str, str]:
    """``(answer, answer_type)``: a choice letter for multiple choice, else numeric or free text."""
    if options:
        by_text = [i for i, option in enumerate(options) if option.strip().casefold() == answer.casefold()]
        if len(by_text) == 1:
            return LETTERS[by_text[0]], "multiple_choice"
        match = _LETTER_ANSWER_RE.match(answer)
        if match and match.group(1) in LETTERS[: len(options)]:
            return match.group(1), "multiple_choice"
    return answer, "numeric" if is_number(answer) else "free_text"


def normalise_response(text: str, tags: CotTags = DEFAULT_TAGS) -> tuple[str | None, str]:
    """``(reasoning or None, raw answer)`` from a Vision-R1 assistant text; raises ``Unconvertible``.

    ``tags`` are the tags of the *source* text (Vision-R1 uses the defaults).
    """
    think_start, think_end = tags.think_start, tags.think_end
    n_open, n_close = text.count(think_start), text.count(think_end)
    if n_open == 0 and n_close == 0:
        stripped = text.strip()
        if tags.answer_start in stripped or len(stripped.splitlines()) == 1:
            return None, extract_answer(stripped, tags)
        raise Unconvertible("no think block")
    if (n_open == 0) != (n_close == 0):
        raise Unconvertible("only one think tag")
    if n_open != 1 or n_close != 1:
        raise Unconvertible("several think blocks")
    start, end = text.find(think_start), text.find(think_end)
    if end < start:
        raise Unconvertible("think tags out of order")
    if text[:start].strip():
        raise Unconvertible("text before the think block")
    think = text[start + len(think_start) : end].strip()
    if not think:
        raise Unconvertible("empty think block")
    if tags.answer_start in think or tags.answer_end in think:
        raise Unconvertible("answer tag inside the think block")
    tail = text[end + len(think_end) :]
    if not tail.strip():
        raise Unconvertible("no recognisable answer")
    return think, extract_answer(tail, tags)


# ------------------------------------------------------------------------------------------------- Vision-R1

_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def _strip_placeholders(text: str, placeholder: str = "<image>") -> str:
    lines = []
    for line in text.splitlines():
        if placeholder in line and not line.replace(placeholder, "").strip():
            continue
        lines.append(re.sub(r" {2,}", " ", line.replace(placeholder, "")).rstrip())
    return "\n".join(lines).strip()


def convert_vision_r1(
    records: Iterable[dict], image_root: str | Path | None = None, tags: CotTags = DEFAULT_TAGS
) -> tuple[list[dict], ConversionReport]:
    """Vision-R1 cold-start ShareGPT records to ours (rules in the module docstring)."""
    root = Path(image_root) if image_root is not None else None

    def convert_one(record: dict, index: int) -> dict:
        turns = record.get("conversations", record.get("messages"))
        if not turns:
            raise Unconvertible("no conversations")
        roles, texts = [], []
        for turn in turns:
            role = _ROLES.get(str(turn.get("from", turn.get("role", ""))).lower())
            if role is None:
                raise Unconvertible("unknown role")
            if role != "system":
                roles.append(role)
                texts.append(turn.get("value", turn.get("content")) or "")
        if roles != ["user", "assistant"]:
            raise Unconvertible("not a single user/assistant exchange")
        if not all(isinstance(t, str) for t in texts):
            raise Unconvertible("non-text turn content")
        human, response = texts
        names = record.get("images", record.get("image"))
        names = (
            [] if names is None else [names] if isinstance(names, str | dict | Image.Image) else list(names)
        )
        n_placeholders = human.count("<image>")
        if n_placeholders not in (0, len(names)):
            raise Unconvertible("image placeholder count mismatch")
        images = [_image(name, root) for name in names]
        if any(image is None for image in images):
            raise Unconvertible("missing image")
        question = _strip_placeholders(human)
        if not question:
            raise Unconvertible("empty question")
        think, raw = normalise_response(response)
        answer = _clean_answer(raw)
        if not answer:
            raise Unconvertible("empty answer")
        options = lettered_options(question)
        answer, answer_type = classify_answer(answer, options)
        completion = (
            cot_completion(think, answer, tags) if think else f"{tags.answer_start}{answer}{tags.answer_end}"
        )
        id_ = str(record.get("id") or f"vision_r1-{index:06d}")
        return _record(
            id_, question, completion, images, answer, answer_type, options, "vision_r1", tags=tags
        )

    return _run("vision_r1", records, convert_one)


# ------------------------------------------------------------------------------------------------- ScienceQA


def _with_options(question: str, choices: list[str]) -> str:
    return question + "".join(f"\n{LETTERS[i]}. {choice}" for i, choice in enumerate(choices))


def _direct(answer: str, tags: CotTags) -> str:
    return f"{tags.answer_start}{answer}{tags.answer_end}"


def scienceqa_prompt(question: str, choices: list[str], hint: str | None) -> str:
    """LMMs-Eval ``scienceqa_img``: ``Context: {hint}`` (only when non-empty), the question, lettered choices."""
    context = f"Context: {hint.strip()}\n" if hint and hint.strip() else ""
    return _with_options(f"{context}{question.strip()}", choices)


def convert_scienceqa(
    records: Iterable[dict],
    image_root: str | Path | None = None,
    split: str = "train",
    tags: CotTags = DEFAULT_TAGS,
) -> tuple[list[dict], ConversionReport]:
    """ScienceQA (image split) records to direct-answer records (rules in the module docstring)."""
    root = Path(image_root) if image_root is not None else None

    def convert_one(record: dict, index: int) -> dict:
        image = _image(record.get("image"), root)
        if image is None:
            raise Unconvertible("no image")
        choices = [str(c) for c in record.get("choices") or []]
        if len(choices) < 2 or len(choices) > len(LETTERS):
            raise Unconvertible("fewer than 2 or more than 10 choices")
        gold = record.get("answer")
        if isinstance(gold, str) and gold.strip().isdigit():
            gold = int(gold)
        if not isinstance(gold, numbers.Integral) or isinstance(gold, bool) or not 0 <= gold < len(choices):
            raise Unconvertible("answer index out of range")
        letter = chr(65 + int(gold))
        question = scienceqa_prompt(record.get("question") or "", choices, record.get("hint"))
        id_ = str(record.get("id") or f"scienceqa-{split}-{index:05d}")
        return _record(
            id_,
            question,
            _direct(letter, tags),
            [image],
            letter,
            "multiple_choice",
            choices,
            "scienceqa",
            str(record.get("subject") or ""),
            tags,
        )

    return _run("scienceqa", records, convert_one)


# ------------------------------------------------------------------------------------------------- IconQA


def convert_iconqa(
    records: Iterable[dict], image_root: str | Path | None = None, tags: CotTags = DEFAULT_TAGS
) -> tuple[list[dict], ConversionReport]:
    """IconQA records to direct-answer records (rules in the module docstring)."""
    root = Path(image_root) if image_root is not None else None

    def convert_one(record: dict, index: int) -> dict:
        ques_type = record.get("ques_type")
        if ques_type not in ("choose_txt", "choose_img", "fill_in_blank"):
            raise Unconvertible("unknown ques_type")
        query = _image(record.get("query_image"), root)
        if query is None:
            raise Unconvertible("no image")
        question = (record.get("question") or "").strip()
        gold = str(record.get("answer") if record.get("answer") is not None else "").strip()
        if not gold:
            raise Unconvertible("empty answer")
        names = [c.strip() for c in str(record.get("choices") or "").split(",") if c.strip()]
        images = [query]
        if ques_type == "fill_in_blank":
            answer, answer_type, choices = gold, "numeric" if is_number(gold) else "free_text", []
        elif ques_type == "choose_txt":
            if len(names) < 2 or len(names) > len(LETTERS):
                raise Unconvertible("fewer than 2 or more than 10 choices")
            matches = [i for i, name in enumerate(names) if name == gold]
            if not matches:
                matches = [i for i, name in enumerate(names) if name.casefold() == gold.casefold()]
            if len(matches) != 1:
                raise Unconvertible("gold answer not among the choices")
            answer, answer_type, choices = LETTERS[matches[0]], "multiple_choice", names
        else:
            keys = sorted(
                (k for k in record if re.fullmatch(r"choice_image_\d+", k) and record[k] is not None),
                key=lambda k: int(k.rsplit("_", 1)[1]),
            )
            if len(keys) < 2 or len(keys) > len(LETTERS):
                raise Unconvertible("fewer than 2 or more than 10 choice images")
            gold_name = Path(gold).name
            matches = [
                i
                for i, key in enumerate(keys)
                if gold_name in {_image_name(record[key]), names[i] if i < len(names) else None}
            ]
            if len(matches) != 1:
                raise Unconvertible("gold answer not among the choices")
            images += [_image(record[key], root) for key in keys]
            choices = [f"image {i + 1}" for i in range(len(keys))]
            answer, answer_type = LETTERS[matches[0]], "multiple_choice"
        prompt = _with_options(question, choices)
        id_ = (
            f"iconqa-{record['question_id']}"
            if record.get("question_id") is not None
            else f"iconqa-{index:05d}"
        )
        return _record(
            id_,
            prompt,
            _direct(answer, tags),
            images,
            answer,
            answer_type,
            choices,
            "iconqa",
            ques_type,
            tags,
        )

    return _run("iconqa", records, convert_one)


# --------------------------------------------------------------------------------------- loading and saving

CONVERTERS: dict[str, Callable[..., tuple[list[dict], ConversionReport]]] = {
    "vision_r1": convert_vision_r1,
    "scienceqa": convert_scienceqa,
    "iconqa": convert_iconqa,
}


def load_source(
    path_or_name: str, split: str = "train", subset: str | None = None
) -> tuple[Iterable[dict], Path | None]:
    """Source records and the folder relative image paths are resolved against.

    A ``.json`` (list) / ``.jsonl`` file (images relative to it), a ``save_to_disk`` directory (``split`` of a
    ``DatasetDict``), or a hub dataset (``datasets.load_dataset(name, subset, split=split)``).
    """
    path = Path(path_or_name)
    if path.suffix in (".json", ".jsonl") and path.is_file():
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()], path.parent
        data = json.loads(text)
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of records.")
        return data, path.parent
    if path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise ValueError(f"{path} has splits {list(loaded)}, not {split!r}.")
            loaded = loaded[split]
        return loaded, path
    if path.exists() or path_or_name.startswith((".", "/")):
        raise FileNotFoundError(f"{path_or_name}: expected a .json/.jsonl file or a save_to_disk directory.")
    return datasets.load_dataset(path_or_name, subset, split=split), None


def to_dataset(records: list[dict]) -> datasets.Dataset:
    """The converted records as a ``Dataset`` with images as an ``Image`` feature."""
    return datasets.Dataset.from_list(records, features=FEATURES)


def convert(
    source: str,
    path_or_name: str,
    split: str = "train",
    subset: str | None = None,
    image_root: str | None = None,
    tags: CotTags = DEFAULT_TAGS,
) -> tuple[datasets.Dataset, ConversionReport]:
    """Load ``path_or_name`` and convert it from ``source``'s schema; raises if nothing converts."""
    if source not in CONVERTERS:
        raise ValueError(f"Unknown source {source!r}; choose one of {SOURCES}.")
    records, root = load_source(path_or_name, split, subset)
    kwargs = {"split": split} if source == "scienceqa" else {}
    converted, report = CONVERTERS[source](records, image_root or root, tags=tags, **kwargs)
    if not converted:
        raise ValueError(f"No record converted: {report.summary()}")
    return to_dataset(converted), report


def convert_and_save(
    source: str,
    path_or_name: str,
    out: str | Path,
    split: str = "train",
    subset: str | None = None,
    image_root: str | None = None,
) -> ConversionReport:
    """Convert and ``save_to_disk`` as a one-split ``DatasetDict``, with ``conversion_report.json`` beside it."""
    dataset, report = convert(source, path_or_name, split, subset, image_root)
    datasets.DatasetDict({split: dataset}).save_to_disk(str(out))
    Path(out, "conversion_report.json").write_text(json.dumps(report.to_dict(), indent=2))
    print(report.summary())
    print(f"Saved split {split!r} ({len(dataset)} records) to {out}")
    return report
