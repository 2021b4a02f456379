"""The pretrained start of the paper's regime: the tiny VLM first taught to see and to answer directly.

The paper fine-tunes instruct models that already read images and answer; a tiny model trained from scratch on
chain-of-thought data must learn to see, to write and to reason at once, and does not learn to see. A
``BaseStage`` closes that gap before any trace: vanilla SFT on two records per synthetic scene, "Describe the
image." answered with the scene's description and the task's question answered directly, both in the answer
tags and under a prompt without the chain-of-thought instruction (no ``<think>`` anywhere). It is built once
per seed, in a folder beside the seed's tiny model named by a digest of its settings, and every pipeline of
that seed starts from it; its evaluation (direct answers on held-out scenes) is the marker that it is built.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path

import datasets

from scale_sft.data.format import assistant_message
from scale_sft.data.synthetic import FEATURES, describe_scene, make_records
from scale_sft.experiments.pipeline import BaseStage, Budget
from scale_sft.tags import DEFAULT_TAGS

DESCRIBE = "Describe the image."
DIRECT = "Answer directly inside {answer_start} {answer_end} tags."


def _prompt(question: str) -> dict:
    text = f"{question}\n{DIRECT.format(**DEFAULT_TAGS.__dict__)}"
    return {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}


def _answer_block(text: str) -> dict:
    return assistant_message(f"{DEFAULT_TAGS.answer_start}{text}{DEFAULT_TAGS.answer_end}")


def base_records(n_scenes: int, seed: int, split: str, describe: bool = True) -> list[dict]:
    """For each of ``n_scenes`` scenes of the default task (a stream of its own, apart from the chain-of-thought
    data's): its question answered directly and, with ``describe``, its description."""
    records = []
    for record in make_records(n_scenes, seed, split=f"base-{split}"):
        direct = {
            **record,
            "id": f"{record['id']}-direct",
            "messages": [_prompt(record["question"]), _answer_block(record["answer"])],
            "think": "",
        }
        records.append(direct)
        if describe:
            description = " ".join(describe_scene(json.loads(record["scene"])))
            records.append(
                {
                    **direct,
                    "id": f"{record['id']}-describe",
                    "messages": [_prompt(DESCRIBE), _answer_block(description)],
                    "question": DESCRIBE,
                    "question_type": "describe",
                    "answer": description,
                    "answer_type": "free_text",
                    "choices": [],
                }
            )
    return records


def save_base_data(out: Path, base: BaseStage, seed: int) -> Path:
    """The base stage's dataset: descriptions and direct answers to train on, direct answers to test on."""
    splits = {
        "train": base_records(base.n_scenes, seed, "train"),
        "test": base_records(base.n_test, seed, "test", describe=False),
    }
    dataset = datasets.DatasetDict(
        {name: datasets.Dataset.from_list(rows, features=FEATURES) for name, rows in splits.items()}
    )
    dataset.save_to_disk(str(out))
    return out


def base_dir(model: Path, base: BaseStage, seed: int) -> Path:
    """Where ``base`` for ``seed`` lives: beside the seed's tiny ``model``, named by a digest of its settings,
    the seed and the model's files (a model rebuilt for another task gets another base)."""
    digest = hashlib.sha256(json.dumps({"seed": seed, **asdict(base)}, sort_keys=True).encode())
    for file in sorted(p for p in model.iterdir() if p.is_file()):
        digest.update(file.name.encode() + file.read_bytes())
    return model.parent / f"base-{digest.hexdigest()[:10]}"


def base_budget(base: BaseStage) -> Budget:
    """The ``Budget`` the base stage trains and evaluates with (direct answers and descriptions are short)."""
    return replace(
        Budget(),
        n_test=base.n_test,
        sft_steps=base.steps,
        learning_rate=base.learning_rate,
        max_new_tokens=64,
    )


def is_built(path: Path) -> bool:
    return (path / "eval" / "metrics.json").is_file()
