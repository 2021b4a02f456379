"""The conversational chain-of-thought record format shared by training, evaluation and GRPO.

A record is TRL's vision-language conversational format plus the gold answer::

    {"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": ...}]},
                  {"role": "assistant", "content": [{"type": "text", "text": "<think>..</think><answer>..</answer>"}]}],
     "images": [PIL.Image, ...], "answer": "B", "answer_type": "multiple_choice", "id": "..."}

Prompts are built by one function so that evaluation and GRPO ask exactly what training taught.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets


@dataclass(frozen=True)
class CotTags:
    """The tag strings that delimit reasoning and answer (configurable per dataset)."""

    think_start: str = "<think>"
    think_end: str = "</think>"
    answer_start: str = "<answer>"
    answer_end: str = "</answer>"


DEFAULT_TAGS = CotTags()

COT_INSTRUCTION = (
    "Think step by step inside {think_start} {think_end} tags, "
    "then give the final answer inside {answer_start} {answer_end} tags."
)


def instruction(tags: CotTags = DEFAULT_TAGS) -> str:
    """The instruction appended to every question asking for the tagged format."""
    return COT_INSTRUCTION.format(**tags.__dict__)


def user_message(question: str, num_images: int = 1, tags: CotTags = DEFAULT_TAGS) -> dict:
    """A user turn: the image placeholders first, then the question and the format instruction."""
    content: list[dict] = [{"type": "image"} for _ in range(num_images)]
    content.append({"type": "text", "text": f"{question}\n{instruction(tags)}"})
    return {"role": "user", "content": content}


def assistant_message(text: str) -> dict:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def cot_completion(think: str, answer: str, tags: CotTags = DEFAULT_TAGS) -> str:
    """The supervised target: reasoning in the think tags, then the answer in the answer tags."""
    return f"{tags.think_start}\n{think}\n{tags.think_end}\n{tags.answer_start}{answer}{tags.answer_end}"


def message_text(message: dict) -> str:
    """The text of a message whose content is a string or a list of typed parts."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def record_features(*extra_text_columns: str) -> datasets.Features:
    """The Arrow schema of a record (conversation, images, gold answer) plus extra string columns."""
    text = datasets.Value("string")
    columns = {
        "id": text,
        "messages": [{"role": text, "content": [{"type": text, "text": text}]}],
        "images": [datasets.Image()],
        "question": text,
        "answer": text,
        "answer_type": text,
        "choices": [text],
    }
    return datasets.Features({**columns, **dict.fromkeys(extra_text_columns, text)})
