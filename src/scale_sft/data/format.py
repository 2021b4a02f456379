"""The conversational chain-of-thought record format shared by training, evaluation and GRPO.

A record is TRL's vision-language conversational format plus the gold answer::

    {"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": ...}]},
                  {"role": "assistant", "content": [{"type": "text", "text": "<think>..</think><answer>..</answer>"}]}],
     "images": [PIL.Image, ...], "answer": "B", "answer_type": "multiple_choice", "id": "..."}

Text-only records (for a text-only causal LM, whose "processor" is its tokenizer) are the same without images:
``content`` a string or text parts, no ``images`` (or an empty list), e.g. DeepSeek-R1 distillation traces whose
reply is ``<think>..</think>`` then a final answer in ``\\boxed{}`` (answer tags are optional).

Prompts are built and rendered here, once, so that training, evaluation and GRPO ask exactly the same thing:
``user_message`` builds the user turn, ``render_sample`` renders a whole record for training and locates its
completion, ``render_prompt`` renders the generation prompt that evaluation and GRPO complete.
"""

from __future__ import annotations

import datasets

from scale_sft.segments import SampleSpans, answer_start, sample_spans
from scale_sft.tags import DEFAULT_TAGS, CotTags

LETTERS = "ABCDEFGHIJ"  # option letters of multiple-choice questions (at most ten options)

COT_INSTRUCTION = (
    "Think step by step inside {think_start} {think_end} tags, "
    "then give the final answer inside {answer_start} {answer_end} tags."
)


BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."  # DeepSeek-R1's


def instruction(tags: CotTags = DEFAULT_TAGS) -> str:
    """The instruction appended to every question asking for the tagged format."""
    return COT_INSTRUCTION.format(**tags.__dict__)


def user_message(question: str, num_images: int = 1, tags: CotTags = DEFAULT_TAGS) -> dict:
    """A user turn: the image placeholders first, then the question and the format instruction."""
    content: list[dict] = [{"type": "image"} for _ in range(num_images)]
    content.append({"type": "text", "text": f"{question}\n{instruction(tags)}"})
    return {"role": "user", "content": content}


def format_options(question: str, choices: list[str]) -> str:
    """The question followed by its lettered options, one per line: ``A. first``, ``B. second``, ..."""
    return question + "".join(f"\n{LETTERS[i]}. {choice}" for i, choice in enumerate(choices))


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


def _adds_bos(tokenizer) -> bool:
    """Whether the tokenizer puts BOS first when asked for special tokens (Mistral's does; Qwen has no BOS)."""
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("a", add_special_tokens=True)["input_ids"][:1] == [bos]


def with_bos(processor, text: str) -> str:
    """``text`` starting with BOS exactly when the model expects one: when its tokenizer would add BOS and the
    chat template did not already write it (llava-hf's template writes none; Gemma 3's writes ``<bos>``).

    Every rendered text is tokenized with ``add_special_tokens=False``, so BOS is never doubled.
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    bos = tokenizer.bos_token
    if bos and not text.startswith(bos) and _adds_bos(tokenizer):
        return bos + text
    return text


def is_text_only(processor) -> bool:
    """Whether ``processor`` is a text-only model's tokenizer rather than a vision-language processor."""
    return not hasattr(processor, "image_processor")


def _template_messages(processor, messages: list[dict]) -> list[dict]:
    """The messages as the processor's chat template takes them: text-only templates (Qwen2.5's) concatenate
    ``content`` as a string, so text parts are joined into one; an image part is an error there."""
    if not is_text_only(processor):
        return messages
    if any(
        p.get("type") == "image" for m in messages if not isinstance(m["content"], str) for p in m["content"]
    ):
        raise ValueError("A record with images cannot be rendered for a text-only model.")
    return [{**m, "content": message_text(m)} for m in messages]


def prompt_messages(messages: list[dict]) -> list[dict]:
    """The conversation up to the model's turn (a trailing assistant target is dropped)."""
    return messages[:-1] if messages and messages[-1]["role"] == "assistant" else messages


def render_prompt(processor, messages: list[dict], chat_template: str | None = None) -> str:
    """The generation prompt of a conversation (BOS as the model expects it): what evaluation completes.

    GRPO's prompts are rendered and tokenized by TRL, whose processor call adds BOS by the same rule.
    """
    prompt = processor.apply_chat_template(
        _template_messages(processor, prompt_messages(messages)),
        tokenize=False,
        add_generation_prompt=True,
        chat_template=chat_template,
    )
    return with_bos(processor, prompt)


def render_sample(
    processor, messages: list[dict], tags: CotTags = DEFAULT_TAGS, chat_template: str | None = None
) -> tuple[str, SampleSpans]:
    """The chat-rendered text of ``messages`` and the spans of its final assistant completion.

    The completion is what the template adds after the generation prompt of the earlier turns, so a prompt
    that itself contains ``<think>`` is never mistaken for reasoning; it must hold the reply unchanged (up to
    surrounding whitespace). The tag rules are checked on the assistant message itself, before the template
    adds its end-of-turn tokens.
    """
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError(
            "A conversational record must end with an assistant message (the supervised target)."
        )
    reply = message_text(messages[-1])
    answer_start(reply, tags)
    rendered = processor.apply_chat_template(
        _template_messages(processor, messages), tokenize=False, chat_template=chat_template
    )
    text = with_bos(processor, rendered)
    prompt = render_prompt(processor, messages, chat_template)
    if not text.startswith(prompt):
        raise ValueError(
            "The chat template renders the conversation differently from its generation prompt, so the "
            "completion cannot be located; use a template where the prompt is a prefix of the conversation."
        )
    if reply.strip() not in text[len(prompt) :]:
        raise ValueError(
            "The chat template rewrites the assistant reply (e.g. drops its reasoning, as DeepSeek-R1-Distill's "
            "template does), so its THINK and ANSWER tokens would be wrong; pass a template that keeps it."
        )
    return text, sample_spans(text, len(prompt), tags)


def probe_texts(processor, dataset, tags: CotTags = DEFAULT_TAGS, n: int = 4) -> list[str]:
    """The generation prompts and full rendered texts of the first ``n`` records of a prepared dataset: what a
    saved processor must still tokenize as the loaded one does (``scale_sft.models.processor.save_processor``)."""
    texts = []
    for messages in dataset.select(range(min(n, len(dataset))))["messages"]:
        texts += [render_prompt(processor, messages), render_sample(processor, messages, tags)[0]]
    return texts
