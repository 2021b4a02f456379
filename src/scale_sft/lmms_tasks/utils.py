"""The hooks the task YAMLs name (``!function scale_sft.lmms_tasks.utils.<name>``), each reusing what
``scale-sft eval`` runs, so an lmms-eval score and ours cannot drift apart:

* ``*_docs`` (``process_docs``): the published records converted by the project's converter for the source
  and filtered by ``evaluation.benchmarks.load_records`` (a record whose gold answer cannot be read is skipped
  and counted), as ``scale-sft eval --benchmark scienceqa_img|iconqa`` does: document ``k`` is that run's
  record ``index`` ``k``.
* ``doc_to_visual`` / ``doc_to_text``: the record's images (8-bit RGB, as our generation passes them) and the
  text of its user turn: the question, its lettered options and the think/answer instruction of
  ``data.format``. The images come first in the turn, as in training.
* ``*_results`` (``process_results``): the generation scored by ``evaluation.runner.score_records``, the
  function ``scale-sft eval`` scores with. ``accuracy``: the answer block read as the gold's type (reasoning
  left out, an IconQA option letter or choice text mapped to its option); ``accuracy_strict`` (ScienceQA):
  LMMs-Eval's own ``scienceqa_img`` letter rule on the answer block; ``malformed_rate``: no complete answer
  block. lmms-eval hands a task only the generated text, so the metrics that need the generated tokens (loop
  and unfinished rates, THINK/ANSWER lengths) are ``scale-sft eval``'s alone.
"""

from __future__ import annotations

import dataclasses

import datasets

from scale_sft.data.converters import convert_loaded, to_dataset
from scale_sft.data.format import message_text, prompt_messages
from scale_sft.data.images import to_rgb
from scale_sft.evaluation.benchmarks import HUB_BENCHMARKS, get_benchmark, load_records
from scale_sft.evaluation.runner import score_records
from scale_sft.evaluation.scoring import Generation

SPLIT = "test"  # the split both tasks evaluate (``test_split`` in their YAML); it names converted ids


def _docs(benchmark: str, dataset: datasets.Dataset) -> datasets.Dataset:
    """The published records as ``scale-sft eval --benchmark <benchmark>`` evaluates them."""
    converted, report = convert_loaded(HUB_BENCHMARKS[benchmark].source, dataset, split=SPLIT)
    print(report.summary(), flush=True)
    bench = dataclasses.replace(get_benchmark(benchmark, SPLIT), load=lambda: (converted, report.to_dict()))
    records, _, _ = load_records(bench)
    return to_dataset(records)


def _results(benchmark: str, doc: dict, results: list[str]) -> dict[str, float]:
    """The per-document scores of one generation (lmms-eval averages them over the documents)."""
    generation = Generation(
        results[0], token_ids=[], think_tokens=0, answer_tokens=0, hit_max_new_tokens=False
    )
    [row] = score_records([doc], [[generation]], get_benchmark(benchmark, SPLIT))
    scores = {"accuracy": float(row["correct"]), "malformed_rate": float(row["malformed"])}
    if "correct_strict" in row:
        scores["accuracy_strict"] = float(row["correct_strict"])
    return scores


def doc_to_visual(doc: dict) -> list:
    return [to_rgb(image) for image in doc["images"]]


def doc_to_text(doc: dict) -> str:
    return message_text(prompt_messages(doc["messages"])[-1])


def scienceqa_img_docs(dataset: datasets.Dataset) -> datasets.Dataset:
    return _docs("scienceqa_img", dataset)


def scienceqa_img_results(doc: dict, results: list[str]) -> dict[str, float]:
    return _results("scienceqa_img", doc, results)


def iconqa_docs(dataset: datasets.Dataset) -> datasets.Dataset:
    return _docs("iconqa", dataset)


def iconqa_results(doc: dict, results: list[str]) -> dict[str, float]:
    return _results("iconqa", doc, results)
