"""The lmms-eval tasks shipped in scale_sft/lmms_tasks, run by lmms-eval itself on local published-schema copies.

lmms-eval pins heavy dependencies, so it lives in its own environment: `make test-lmms-eval` creates it and runs
this file; elsewhere the file is skipped. The tasks are run through lmms-eval's command line (task loading,
`process_docs`, prompts, `process_results`, aggregation): once replaying given generations (its `from_log`
model), whose scores must equal `scale-sft eval`'s scoring of the same texts, and once generating with a tiny
trained checkpoint on CPU (its `qwen2_5_vl` model), the command docs/LMMS_EVAL.md documents. Our
`accuracy_strict` rule is checked against lmms-eval's own ScienceQA function.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_sources import published_copy

pytest.importorskip("lmms_eval", reason="lmms-eval is not installed (make test-lmms-eval)")

from scale_sft.answers import read_gold  # noqa: E402
from scale_sft.data.format import message_text  # noqa: E402
from scale_sft.evaluation.benchmarks import get_benchmark, load_records  # noqa: E402
from scale_sft.evaluation.runner import score_records  # noqa: E402
from scale_sft.evaluation.scoring import Generation, aggregate  # noqa: E402
from scale_sft.lmms_tasks import TASKS_DIR  # noqa: E402

pytestmark = pytest.mark.integration  # starts lmms-eval processes

IMAGE_COLUMNS = {"scienceqa_img": ("image",), "iconqa": ("query_image", "choice_image_0", "choice_image_1")}
TASKS = {"scienceqa_img": "scienceqa_img_cot", "iconqa": "iconqa_cot"}
METRICS = {
    "scienceqa_img": ("accuracy", "accuracy_strict", "malformed_rate"),
    "iconqa": ("accuracy", "malformed_rate"),
}


def _local_tasks(folder: Path, copies: dict[str, Path]) -> Path:
    """The documented way to run a shipped task on a local copy: a YAML that includes it, with the data path."""
    folder.mkdir(parents=True, exist_ok=True)
    for benchmark, data in copies.items():
        task = TASKS[benchmark]
        (folder / f"{task}_local.yaml").write_text(
            f"include: {TASKS_DIR / f'{task}.yaml'}\ntask: {task}_local\ndataset_path: {data}\n"
            "dataset_kwargs:\n  load_from_disk: true\n"
        )
    return folder


def _lmms_eval(tmp_path: Path, copies: dict[str, Path], model: str, model_args: str, *flags: str) -> dict:
    """Run `python -m lmms_eval` on the local tasks; return its results JSON."""
    out = tmp_path / "lmms_out"
    tasks = ",".join(f"{TASKS[b]}_local" for b in copies)
    command = [sys.executable, "-m", "lmms_eval", "--model", model, "--model_args", model_args, "--tasks", tasks,
               "--include_path", str(_local_tasks(tmp_path / "tasks", copies)), "--batch_size", "1",
               "--output_path", str(out), "--verbosity", "WARNING", *flags]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    results = list(out.rglob("*_results.json"))  # lmms-eval logs an evaluation error and still exits with 0
    assert done.returncode == 0 and len(results) == 1, done.stdout[-3000:] + done.stderr[-6000:]
    return json.loads(results[0].read_text())


def _scored(benchmark: str, data: Path, texts: list[str]) -> tuple[list[dict], list[dict]]:
    """`scale-sft eval`'s records and its prediction rows (runner.score_records) for the given generation texts."""
    bench = get_benchmark(benchmark, "test", data=str(data))
    records, _, _ = load_records(bench)
    assert len(texts) == len(records)
    return records, score_records(records, [[Generation(text, [], 0, 0, False)] for text in texts], bench)


def _our_metrics(benchmark: str, data: Path, texts: list[str]) -> dict:
    overall = aggregate(_scored(benchmark, data, texts)[1])["overall"]
    return {metric: overall[metric] for metric in METRICS[benchmark]}


def _lmms_metrics(results: dict, benchmark: str) -> dict:
    numbers = results["results"][f"{TASKS[benchmark]}_local"]
    return {metric: numbers[f"{metric},none"] for metric in METRICS[benchmark]}


@pytest.fixture
def copies(scienceqa_jsonl, iconqa_json, tmp_path) -> dict[str, Path]:
    """Both benchmarks' fixture records saved as the hub serves them (conftest: a few kept, some unconvertible)."""
    return {
        benchmark: published_copy(source, tmp_path / benchmark, IMAGE_COLUMNS[benchmark])
        for benchmark, source in (("scienceqa_img", scienceqa_jsonl), ("iconqa", iconqa_json))
    }


# Given generations, one per kept record in order. ScienceQA (gold A, C): the letter, then the choice text (ours:
# right; LMMs-Eval's letter rule: wrong). IconQA (gold B = 4:00, B, 6, triangle; its choose_img record without
# `choices` is not kept: a stored image has no file name to match): a choice text, an answer before a stray
# `</think>` (LMMs-Eval's default reasoning stripping would keep only what follows it; the tasks turn it off), a
# number in another form, reasoning never closed (malformed).
REPLAYED = {
    "scienceqa_img": ["<think>\nGrass makes food.\n</think>\n<answer>A</answer>", "<think>\nThe west.\n</think>\n<answer>Utah</answer>"],
    "iconqa": [
        "<think>\nThe short hand is at 4.\n</think>\n<answer>4:00</answer>",
        "<answer>B</answer>\n</think>",
        "<think>\nI count them.\n</think>\n<answer>6.0</answer>",
        "<think>\nThree sides, so",
    ],
}  # fmt: skip


def test_replayed_generations_score_as_scale_sft_eval_scores_them(copies, tmp_path):
    logs = tmp_path / "logs"
    for benchmark, texts in REPLAYED.items():  # the log layout lmms-eval's `from_log` model reads
        log = {"args": {"model": "replay", "model_args": "", "limit": None}, "time": "0101_0000",
               "model_configs": {"task": f"{TASKS[benchmark]}_local"},
               "logs": [{"doc_id": k, "resps": [[text]]} for k, text in enumerate(texts)]}  # fmt: skip
        (logs / benchmark).mkdir(parents=True)
        (logs / benchmark / "log.json").write_text(json.dumps(log))
    results = _lmms_eval(tmp_path, copies, "from_log", f"logs={logs}")
    for benchmark, texts in REPLAYED.items():
        assert _lmms_metrics(results, benchmark) == pytest.approx(
            _our_metrics(benchmark, copies[benchmark], texts)
        )
    assert _lmms_metrics(results, "scienceqa_img") == {
        "accuracy": 1.0,
        "accuracy_strict": 0.5,
        "malformed_rate": 0.0,
    }
    iconqa = _lmms_metrics(results, "iconqa")
    assert iconqa == {"accuracy": 0.75, "malformed_rate": 0.25}


def test_documented_command_evaluates_a_trained_checkpoint(copies, trained_qwen_dir, tmp_path):
    size = json.loads((trained_qwen_dir / "processor_config.json").read_text())["image_processor"]["size"]
    model_args = (  # the checkpoint's own image resolution, as docs/LMMS_EVAL.md says
        f"pretrained={trained_qwen_dir},device=cpu,device_map=cpu,"
        f"min_pixels={size['shortest_edge']},max_pixels={size['longest_edge']}"
    )
    results = _lmms_eval(tmp_path, copies, "qwen2_5_vl", model_args, "--log_samples",
                         "--gen_kwargs", "max_new_tokens=24")  # fmt: skip
    for benchmark in TASKS:
        [samples] = (tmp_path / "lmms_out").rglob(f"*_samples_{TASKS[benchmark]}_local.jsonl")
        logged = sorted(
            (json.loads(line) for line in samples.read_text().splitlines()), key=lambda r: r["doc_id"]
        )
        records, rows = _scored(benchmark, copies[benchmark], [sample["filtered_resps"] for sample in logged])
        for record, row, sample in zip(records, rows, logged, strict=True):  # every kept record, in order
            assert sample["input"] == message_text(record["messages"][0])  # our question and instruction
            assert (sample["accuracy"], sample["malformed_rate"]) == (row["correct"], row["malformed"])
            assert sample.get("accuracy_strict") == row.get("correct_strict")
        texts = [sample["filtered_resps"] for sample in logged]
        assert _lmms_metrics(results, benchmark) == pytest.approx(
            _our_metrics(benchmark, copies[benchmark], texts)
        )


@pytest.mark.parametrize(
    "answer",
    ["B", "b", " B ", "B.", "B. fox", "b.", "b. fox", "(B)", "The answer is B", "fox", "A", "A. grass", ""],
)
def test_strict_accuracy_is_lmms_evals_own_scienceqa_rule(answer):
    from lmms_eval.tasks.scienceqa.utils import sqa_process_results

    published = {"choices": ["grass", "fox"], "answer": 1}  # gold B, as the published record states it
    gold = read_gold({"answer": "B", "answer_type": "multiple_choice", "choices": published["choices"]})
    strict = get_benchmark("scienceqa_img").strict_match(answer, gold)  # what accuracy_strict counts
    assert strict == (sqa_process_results(published, [answer])["exact_match"] == 1.0)
