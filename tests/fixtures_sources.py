"""Source datasets in their published layouts, written by the tests (no download): Vision-R1-cold's two files,
IconQA's LMMs-Eval copy and original release, the R1-V / Vision-R1 RL GRPO data, and a published-schema file
saved as the hub serves it (images embedded)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import png

FINAL_B = "<think>\nJuneau is the capital of Alaska.\n</think>\n<answer> Final Answer:B </answer>"


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def vision_r1_cold(root: Path) -> tuple[Path, Path]:
    """Vision-R1-cold's two files, images in a folder beside each: (LLaVA-CoT part, Mulberry part)."""
    for name, color in (("coco/1.jpg", "red"), ("coco/2.jpg", "blue"), ("sqa/3.png", "green")):
        png(root / "llava_cot_images" / name, color)
    png(root / "mulberry_images" / "geo" / "1.png", "white")
    png(root / "mulberry_images" / "chart" / "2.png", "black")
    llava_cot = [
        {  # LLaVA-CoT's inline options and Vision-R1-cold's "Final Answer:" answer
            "id": "llava-cot-1",
            "image": "llava_cot_images/coco/1.jpg",
            "conversations": [
                {
                    "from": "human",
                    "value": "<image>\nWhich city is the capital of Alaska? "
                    "Options: (A) Seattle (B) Juneau (C) Boise (D) Salem",
                },
                {"from": "gpt", "value": FINAL_B},
            ],
        },
        {  # a numeric answer after a conflicting instruction of the source's own
            "id": "llava-cot-2",
            "image": "llava_cot_images/coco/2.jpg",
            "conversations": [
                {
                    "from": "human",
                    "value": "<image>\nHow many cars are parked?\n"
                    "Answer the question using a single word or phrase.",
                },
                {
                    "from": "gpt",
                    "value": "<think>\nI count 3 cars.\n</think>\n<answer> Final Answer:3 </answer>",
                },
            ],
        },
        {  # two rounds: the first is context, only the final reply is supervised
            "id": "llava-cot-3",
            "image": "llava_cot_images/sqa/3.png",
            "conversations": [
                {"from": "human", "value": "<image>\nWhat is shown?"},
                {"from": "gpt", "value": "<think>\nA map.\n</think>\n<answer> Final Answer:a map </answer>"},
                {"from": "human", "value": "Which colour dominates?\nA. red\nB. green"},
                {
                    "from": "gpt",
                    "value": "<think>\nMostly green.\n</think>\n<answer> Final Answer:B </answer>",
                },
            ],
        },
        {  # unconvertible: the reply is not the last turn
            "id": "llava-cot-4",
            "image": "llava_cot_images/coco/1.jpg",
            "conversations": [{"from": "gpt", "value": FINAL_B}, {"from": "human", "value": "<image>\nQ?"}],
        },
    ]
    mulberry = [
        {
            "id": "mulberry-1",
            "images": ["mulberry_images/geo/1.png"],
            "conversations": [
                {
                    "role": "user",
                    "content": "<image>\nFind the angle x.\nChoices:\nA: 30°\nB: 60°\n"
                    "Return the final answer as a single option letter.",
                },
                {
                    "role": "assistant",
                    "content": "<think>\nThe triangle is equilateral.\n</think>\n"
                    "<answer> Final Answer:B </answer>",
                },
            ],
        },  # fmt: skip
        {
            "id": "mulberry-2",
            "images": ["mulberry_images/chart/2.png"],
            "conversations": [
                {"role": "user", "content": "<image>\nWhat is the highest value in the chart?"},
                {
                    "role": "assistant",
                    "content": "<think>\nThe top bar reads 42.\n</think>\n<answer> Final Answer:42 </answer>",
                },
            ],
        },  # fmt: skip
        {  # unconvertible: its image is not in the folder
            "id": "mulberry-3",
            "images": ["mulberry_images/chart/9.png"],
            "conversations": [
                {"role": "user", "content": "<image>\nQ?"},
                {"role": "assistant", "content": FINAL_B},
            ],
        },
    ]
    return (
        _write(root / "vision_r1_llava_cot_full.json", llava_cot),
        _write(root / "vision_r1_mulberry_sft_full.json", mulberry),
    )


def iconqa_choose_img(root: Path, beside: bool) -> Path:
    """An LMMs-Eval-schema IconQA copy whose ``choices`` name more images than the two stored columns;
    ``beside``: the other choice files sit beside the query image (a local copy of the full set)."""
    records = []
    for qid, n_choices, gold in (("10", 2, 1), ("11", 3, 2), ("12", 5, 0)):
        folder = root / qid
        png(folder / "image.png", "white")
        for k in range(n_choices):
            if k < 2 or beside:
                png(folder / f"choice_{k}.png", ("red", "blue", "green", "gray", "pink")[k])
        names = [f"choice_{k}.png" for k in range(n_choices)]
        records.append(
            {
                "question_id": qid,
                "question": "Which picture shows a circle?",
                "choices": ",".join(names),
                "answer": names[gold],
                "ques_type": "choose_img",
                "query_image": f"{qid}/image.png",
                "choice_image_0": f"{qid}/choice_0.png",
                "choice_image_1": f"{qid}/choice_1.png",
            }
        )
    return _write(root / "iconqa.test.json", records)


def iconqa_original(root: Path) -> Path:
    """The original IconQA release: ``problems.json`` keyed by id, images under iconqa/{split}/{type}/{id}/."""
    problems = {
        "100": {"question": "What time is shown?", "choices": ["3:00", "4:00"], "answer": 1,
                "ques_type": "choose_txt", "split": "test"},
        "101": {"question": "Which is a square?", "choices": ["choice_0.png", "choice_1.png", "choice_2.png"],
                "answer": 2, "ques_type": "choose_img", "split": "test"},
        "102": {"question": "How many dots?", "choices": [], "answer": "7", "ques_type": "fill_in_blank",
                "split": "test"},
        "103": {"question": "How many stars?", "choices": [], "answer": "2", "ques_type": "fill_in_blank",
                "split": "train"},
        "104": {"question": "Pick.", "choices": ["a", "b"], "answer": 5, "ques_type": "choose_txt",
                "split": "test"},
    }  # fmt: skip
    for pid, problem in problems.items():
        folder = root / "iconqa" / problem["split"] / problem["ques_type"] / pid
        png(folder / "image.png", "white")
        for name in problem["choices"] if problem["ques_type"] == "choose_img" else []:
            png(folder / name, "red")
    return _write(root / "problems.json", problems)


def grpo_sources(root: Path) -> tuple[Path, Path]:
    """R1-V (image, problem, solution) and Vision-R1 RL (images, problem, answer) JSONL files."""
    png(root / "images" / "a.png", "red")
    png(root / "images" / "b.png", "blue")
    r1v = [
        {"image": "images/a.png", "problem": "How many objects are left if you subtract 2 of 5?",
         "solution": "<answer> 3 </answer>"},
        {"image": "images/b.png", "problem": "Is the cube red?\nA. yes\nB. no", "solution": "B"},
        {"image": "images/a.png", "problem": "Q?", "solution": "<answer> </answer>"},
    ]  # fmt: skip
    rl = [
        {
            "images": ["images/a.png"],
            "problem": "<image>What is x? Options: (A) 1 (B) 2",
            "answer": "\\boxed{B}",
        },
        {"images": ["images/b.png"], "problem": "<image>Find the area.", "answer": 12},
        {"images": [], "problem": "No image?", "answer": "1"},
    ]
    path_r1v, path_rl = root / "r1v.jsonl", root / "vision_r1_rl.jsonl"
    path_r1v.write_text("\n".join(json.dumps(r) for r in r1v))
    path_rl.write_text("\n".join(json.dumps(r) for r in rl))
    return path_r1v, path_rl


def published_copy(source_file: Path, out: Path, image_columns: tuple[str, ...]) -> Path:
    """A published-schema JSON or JSONL file as the hub serves it, saved with ``save_to_disk``: a
    ``DatasetDict`` with a ``test`` split whose ``image_columns`` are ``Image`` features holding the bytes; an
    image file that is not there is a null image, as in the published sets."""
    import datasets

    text = source_file.read_text()
    jsonl = source_file.suffix == ".jsonl"
    records = [json.loads(line) for line in text.splitlines()] if jsonl else json.loads(text)
    for record in records:
        for column in image_columns:
            path = source_file.parent / record[column] if record.get(column) else None
            record[column] = str(path) if path is not None and path.is_file() else None
    features = datasets.Dataset.from_list(records).features
    features.update(dict.fromkeys(image_columns, datasets.Image()))
    test = datasets.Dataset.from_list(records, features=features)
    datasets.DatasetDict({"test": test}).save_to_disk(str(out))
    return out
