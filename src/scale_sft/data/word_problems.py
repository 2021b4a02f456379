"""Word problems with quantities in the DeepSeek-R1 distillation shape, for pretrained (instruct) models.

A record is a short story about a count of things changing one to three times, asked in natural language::

    Mia has 5 apples. She buys 3 more apples. Then she gives 2 apples to a friend.
    How many apples does Mia have now?
    Please reason step by step, and put your final answer within \\boxed{}.

The reply is what distilled traces look like: the reasoning restates the problem, works it step by step, then
re-checks itself a random number of times (0 to ``MAX_CHECKS``: ``Wait, let me double-check ...``), each check
redoing every step in other words, before the conclusion ``So the answer is 6.``; the final answer follows
``</think>`` in ``\\boxed{}`` alone, with no answer tags::

    <think>
    Okay, let's see. Mia starts with some apples, and ...
    ...
    So the answer is 6.
    </think>

    \\boxed{6}

The checks make the reasoning long and its length vary widely (under SmolLM2's tokenizer, 2,000 training records: 271
tokens on average, median 263, p90 433, from ``scale-sft inspect-data``) while the answer stays about 11 tokens: the imbalance of real traces
(``tests/test_real_model.py`` checks it under that tokenizer). Every quantity is needed for the answer, so a model that skips a step is wrong.
"""

from __future__ import annotations

import random

from scale_sft.data.format import BOXED_INSTRUCTION

NAMES = (("Mia", "She"), ("Leo", "He"), ("Ava", "She"), ("Sam", "He"), ("Zoe", "She"), ("Ben", "He"), ("Lily", "She"),
         ("Noah", "He"))  # fmt: skip
ITEMS = ("apples", "marbles", "stickers", "cookies", "pencils", "books", "stamps", "shells", "cards", "coins")
MIN_OPS, MAX_OPS = 1, 3
MAX_CHECKS = 6
CHECK_OPENERS = (
    "Wait, let me double-check that by going through it again.",
    "Hmm, let me verify this once more to be sure.",
    "Let me re-check each step, since it is easy to slip.",
    "Actually, let me confirm the count again from the start.",
)


def _operation(rng: random.Random, total: int, item: str, pronoun: str) -> tuple[int, str, str, str]:
    """One change to the count: (new total, the story's sentence, the worked step, the check's wording)."""
    kind = rng.choice(("buy", "find", "packs", "give", "lose") if total > 2 else ("buy", "find", "packs"))
    if kind == "packs":
        packs, each = rng.randint(2, 4), rng.randint(2, 5)
        new = total + packs * each
        return (
            new,
            f"{pronoun} buys {packs} packs with {each} {item} in each pack.",
            f"{packs} packs of {each} is {packs} * {each} = {packs * each} {item}, so {total} + {packs * each} = {new}.",
            f"the {packs} packs add {packs * each}, which makes {new}",
        )
    if kind in ("give", "lose"):
        value = rng.randint(2, min(total - 1, 9))
        new = total - value
        story = f"{pronoun} gives {value} {item} to a friend." if kind == "give" else f"{pronoun} loses {value} {item}."
        verb = "giving away" if kind == "give" else "losing"
        return new, story, f"{story[len(pronoun) + 1:-1].capitalize()}: {total} - {value} = {new}.", (
            f"{verb} {value} leaves {new}"
        )
    value = rng.randint(2, 9)  # from 2: "1 more apples" is not English
    new = total + value
    story = f"{pronoun} buys {value} more {item}." if kind == "buy" else f"{pronoun} finds {value} more {item}."
    return new, story, f"{story[len(pronoun) + 1:-1].capitalize()}: {total} + {value} = {new}.", (
        f"adding the {value} more gives {new}"
    )


def make_word_record(rng: random.Random, index: int, split: str) -> dict:
    """One record; all randomness comes from ``rng``. Counts never drop below one; every change is at least 2."""
    name, pronoun = rng.choice(NAMES)
    item = rng.choice(ITEMS)
    total = rng.randint(2, 20)
    start, story, steps, checks = total, [f"{name} has {total} {item}."], [], []
    for i in range(rng.randint(MIN_OPS, MAX_OPS)):
        total, sentence, step, check = _operation(rng, total, item, pronoun)
        story.append(sentence if i == 0 else f"Then {sentence[0].lower()}{sentence[1:]}")
        steps.append(step)
        checks.append(check)
    answer = str(total)
    question = " ".join(story) + f" How many {item} does {name} have now?"
    lines = [
        f"Okay, let's see. {name} starts with some {item}, then the number changes, and I need how many "
        f"{item} {name} has at the end.",
        f"First, {name} has {start} {item}.",
        *steps,
        f"So now {name} has {total} {item}.",
    ]
    for c in range(rng.randint(0, MAX_CHECKS)):
        lines.append(
            f"{CHECK_OPENERS[c % len(CHECK_OPENERS)]} Starting from {start}, {', then '.join(checks)}. "
            f"That is {total} again, so the count is consistent."
        )
    think = "\n".join([*lines, f"So the answer is {answer}."])
    return {
        "id": f"word-{split}-{index:05d}",
        "messages": [
            {"role": "user", "content": f"{question}\n{BOXED_INSTRUCTION}"},
            {"role": "assistant", "content": f"<think>\n{think}\n</think>\n\n\\boxed{{{answer}}}"},
        ],
        "question": question,
        "question_type": f"{len(steps)}_steps",
        "answer": answer,
        "answer_type": "numeric",
        "answer_format": "boxed",
        "think": think,
    }
