"""Evaluation: benchmarks and their plug-in checks, gold answers read at load, fail-fast arguments, predictions
written as they come, the comparison chart; then `scale-sft eval` and `scale-sft compare` end to end on a
trained tiny model."""

import json
import math
import re

import datasets
import pytest

from scale_sft.answers import read_gold
from scale_sft.cli import main
from scale_sft.data.converters import convert
from scale_sft.data.format import assistant_message, cot_completion, user_message
from scale_sft.data.synthetic import COLORS, QUESTION_TYPES, make_records
from scale_sft.evaluation import runner
from scale_sft.evaluation.benchmarks import (
    get_benchmark,
    lmms_eval_letter_match,
    load_records,
    parse_description,
    reasoning_correct,
)
from scale_sft.evaluation.compare import chart
from scale_sft.evaluation.scoring import Generation
from scale_sft.tables import format_table
from scale_sft.tags import DEFAULT_TAGS, CotTags

# --- the synthetic task's reasoning check ------------------------------------------------------------------


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return make_records(60, seed=7)


def test_parse_description_round_trip_and_rejection(records: list[dict]) -> None:
    for r in records:
        shapes = [cell for row in json.loads(r["scene"]) for cell in row if cell is not None]
        assert parse_description(r["think"]) == (shapes[0]["color"], len(shapes), 9)
    think = records[0]["think"]
    assert parse_description(think.replace("All shapes are", "The shapes are")) is None
    empty = re.search(r"so (\d+) of the 9", think).group(1)
    assert parse_description(think.replace(f"so {empty} of", f"so {int(empty) + 1} of")) is None  # 9 != n + e


def test_reasoning_correct_on_gold_and_perturbed(records: list[dict]) -> None:
    for r in records:
        think = r["think"]
        assert reasoning_correct(think, r)
        color = parse_description(think)[0]
        other = next(c for c in COLORS if c != color)
        assert not reasoning_correct(think.replace(f"All shapes are {color}.", f"All shapes are {other}."), r)
        n = int(re.search(r"There are (\d+) shapes, so", think).group(1))
        wrong = n - 1 if n > 1 else n + 1
        miscounted = re.sub(
            r"There are \d+ shapes, so \d+ of", f"There are {wrong} shapes, so {9 - wrong} of", think, count=1
        )
        assert not reasoning_correct(miscounted, r)
        lines = think.splitlines()
        assert not reasoning_correct("\n".join(lines[:-2] + lines[-1:]), r)  # the step is missing
        assert not reasoning_correct(think.replace(lines[-2], lines[-2][:-1] + " indeed."), r)


# --- benchmarks --------------------------------------------------------------------------------------------


def test_benchmarks_plug_in_their_checks(tmp_path):
    synthetic, scienceqa, iconqa = (get_benchmark(n) for n in ("synthetic", "scienceqa_img", "iconqa"))
    assert synthetic.reasoning_check is reasoning_correct and synthetic.strict_match is None
    assert scienceqa.strict_match is lmms_eval_letter_match and scienceqa.reasoning_check is None
    assert iconqa.strict_match is None and iconqa.reasoning_check is None
    path = get_benchmark(str(tmp_path / "data.jsonl"))
    assert path.strict_match is None and path.reasoning_check is None
    with pytest.raises(ValueError, match="hub_name applies to"):
        get_benchmark(str(tmp_path / "data.jsonl"), hub_name="someone/else")


@pytest.mark.parametrize(
    ("answer", "correct"),
    [("B", True), ("B. fox", True), ("B.", True), ("(B)", False), ("b", False), ("The answer is B", False),
     ("fox", False), ("A", False), ("A. grass", False), ("", False), (None, False)],
)  # fmt: skip
def test_lmms_eval_letter_match(answer, correct):
    gold = read_gold({"answer": "B", "answer_type": "multiple_choice", "choices": ["grass", "fox"]})
    assert lmms_eval_letter_match(answer, gold) is correct


def test_hub_names_fall_back_to_the_former_name(scienceqa_jsonl, monkeypatch, capsys):
    calls = []

    def fake_convert(source, name, split, subset=None):
        calls.append((source, name, split, subset))
        if name != "lmms-lab/ScienceQA":
            raise datasets.exceptions.DatasetNotFoundError(f"Dataset '{name}' doesn't exist on the Hub")
        return convert(source, str(scienceqa_jsonl), split)

    monkeypatch.setattr("scale_sft.evaluation.benchmarks.convert", fake_convert)
    loaded, report = get_benchmark("scienceqa_img", "test").load()
    assert calls == [
        ("scienceqa", "lmms-lab-encoder/ScienceQA", "test", "ScienceQA-IMG"),
        ("scienceqa", "lmms-lab/ScienceQA", "test", "ScienceQA-IMG"),
    ]
    assert len(loaded) == 2 and report["kept"] == 2
    calls.clear()
    with pytest.raises(FileNotFoundError, match="mirror/ScienceQA: Dataset 'mirror/ScienceQA' doesn't exist"):
        get_benchmark("scienceqa_img", "test", hub_name="mirror/ScienceQA").load()
    assert [c[1] for c in calls] == ["mirror/ScienceQA"]  # a name given is the only one tried


def _records_file(tmp_path, golds: list[tuple[str, str | None, str | None]]):
    """A JSONL dataset in the record format, one record per (id, answer, answer_type)."""
    path = tmp_path / "test.jsonl"  # a file named by its split (see load_cot_dataset)
    rows = [
        {"id": id_, "messages": [user_message("How many?", 0), assistant_message(cot_completion("n", "3"))],
         "answer": answer, "answer_type": answer_type, "choices": []}
        for id_, answer, answer_type in golds
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


GOLDS = [("ok-0", "3", "numeric"), ("bad-1", "many", "numeric"), ("ok-2", "blue", "free_text"),
         ("bad-3", "3", None), ("bad-4", "7 or 8", "numeric")]  # fmt: skip


def test_gold_answers_are_read_when_the_benchmark_loads(tmp_path):
    benchmark = get_benchmark(str(_records_file(tmp_path, GOLDS)))
    records, golds, report = load_records(benchmark)
    assert [r["id"] for r in records] == ["ok-0", "ok-2"] and [g.target for g in golds] == ["3", "blue"]
    assert report == {
        "conversion": None,
        "read": 5,
        "evaluated": 2,
        "gold_skipped": {
            "gold answer unreadable": 2,  # 'many' and '7 or 8' as numeric
            "unknown answer_type": 1,
        },
    }
    assert load_records(benchmark, limit=1)[2]["read"] == 1
    with pytest.raises(
        ValueError,
        match=r"Record 1 \(id 'bad-1'\): gold answer unreadable: gold answer 'many' cannot be read",
    ):
        load_records(benchmark, malformed="error")
    with pytest.raises(ValueError, match="no record with a readable gold"):
        load_records(get_benchmark(str(_records_file(tmp_path, GOLDS[1:2]))))


# --- arguments fail before the model loads -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--batch_size", "0"], "batch_size must be a positive integer, got 0"),
        (["--limit", "0"], "limit must be a positive integer"),
        (["--limit", "-3"], "limit must be a positive integer"),
        (["--temperature", "-0.5"], "temperature must be >= 0"),
        (["--temperature", "nan"], "temperature must be >= 0"),
        (["--max_new_tokens", "0"], "max_new_tokens must be a positive integer"),
        (["--num_samples", "2"], "num_samples > 1 needs temperature > 0"),
    ],
)
def test_eval_rejects_bad_settings_before_loading_the_model(flags, message, tmp_path):
    # The model path does not exist: reaching the model loader would raise OSError, not this ValueError.
    with pytest.raises(ValueError, match=re.escape(message)):
        main(["eval", "--model", str(tmp_path / "no-model"), *flags])


def test_eval_names_a_bad_gold_answer_before_loading_the_model(tmp_path):
    data = _records_file(tmp_path, GOLDS)
    with pytest.raises(ValueError, match=r"Record 1 \(id 'bad-1'\)"):
        main(
            ["eval", "--model", str(tmp_path / "no-model"), "--benchmark", str(data), "--malformed", "error"]
        )


# --- a run with a stand-in model: predictions as they come, the data report in metrics.json ----------------


def _stand_in_model(
    monkeypatch, fail_after: int | None = None, answer: str = "A", tags: CotTags = DEFAULT_TAGS
):
    """Replace the model by one that answers every record "<think>..</think><answer>{answer}</answer>" (in
    ``tags``) and, with ``fail_after``, fails once that many records are done (an out-of-memory late in a run)."""
    monkeypatch.setattr(runner, "load_model_and_processor", lambda *args, **kwargs: (None, None))

    def generate_batches(model, processor, records, batch_size, *args):
        for index in range(len(records)):
            if index == fail_after:
                raise RuntimeError("CUDA out of memory")
            text = f"{tags.think_start}So the answer is A.{tags.think_end}{tags.answer_start}{answer}{tags.answer_end}"
            yield index, [Generation(text, [1, 2, 3], 3, 2, False)]

    monkeypatch.setattr(runner, "generate_batches", generate_batches)


def test_eval_writes_predictions_as_it_goes(synthetic_dir, tmp_path, monkeypatch):
    _stand_in_model(monkeypatch, fail_after=3)
    out = tmp_path / "eval"
    with pytest.raises(RuntimeError, match="out of memory"):
        runner.evaluate("stand-in", data=str(synthetic_dir), limit=10, output_dir=str(out))
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["index"] for r in rows] == [0, 1, 2] and [r["id"] for r in rows] == [
        f"synth-test-{i:05d}" for i in range(3)
    ]
    assert all(r["generation"].endswith("<answer>A</answer>") and "reasoning_correct" in r for r in rows)
    assert not (out / "metrics.json").exists()


def test_conversion_skips_are_carried_into_metrics(iconqa_json, tmp_path, monkeypatch):
    _stand_in_model(monkeypatch)
    out = tmp_path / "eval"
    metrics = runner.evaluate("stand-in", benchmark="iconqa", data=str(iconqa_json), output_dir=str(out))
    _, report = convert("iconqa", str(iconqa_json), "test")
    assert metrics["data"]["conversion"] == report.to_dict() and sum(report.skipped.values()) == 4
    assert metrics["data"]["evaluated"] == metrics["overall"]["n"] == report.kept
    assert json.loads((out / "metrics.json").read_text())["data"] == metrics["data"]
    assert "accuracy_strict" not in metrics["overall"]  # a ScienceQA rule, not IconQA's


def test_scienceqa_reports_the_strict_accuracy_beside_ours(scienceqa_jsonl, monkeypatch):
    # Two records, gold A and C. "(A)": our matcher reads option A; LMMs-Eval's exact letter match does not.
    _stand_in_model(monkeypatch, answer="(A)")
    metrics = runner.evaluate("stand-in", benchmark="scienceqa_img", data=str(scienceqa_jsonl))
    assert (metrics["overall"]["accuracy"], metrics["overall"]["accuracy_strict"]) == (0.5, 0.0)
    _stand_in_model(monkeypatch, answer="A. grass")
    metrics = runner.evaluate("stand-in", benchmark="scienceqa_img", data=str(scienceqa_jsonl))
    assert (metrics["overall"]["accuracy"], metrics["overall"]["accuracy_strict"]) == (0.5, 0.5)


def test_eval_takes_custom_tags(tmp_path, monkeypatch):
    tags = CotTags("<reasoning>", "</reasoning>", "<final>", "</final>")
    _stand_in_model(monkeypatch, answer="3", tags=tags)
    data = _records_file(tmp_path, GOLDS[:1])
    flags = ["--think_start_tag", "<reasoning>", "--think_end_tag", "</reasoning>",
             "--answer_start_tag", "<final>", "--answer_end_tag", "</final>"]  # fmt: skip
    main(
        [
            "eval",
            "--model",
            "stand-in",
            "--benchmark",
            str(data),
            "--output_dir",
            str(tmp_path / "out"),
            *flags,
        ]
    )
    overall = json.loads((tmp_path / "out" / "metrics.json").read_text())["overall"]
    assert (overall["accuracy"], overall["malformed_rate"], overall["consistency_n"]) == (1.0, 0.0, 0)
    main(["eval", "--model", "stand-in", "--benchmark", str(data), "--output_dir", str(tmp_path / "default")])
    assert json.loads((tmp_path / "default" / "metrics.json").read_text())["overall"]["malformed_rate"] == 1.0


# --- tables and the comparison chart -----------------------------------------------------------------------


def test_format_table():
    table = format_table({"run-a": {"accuracy": 0.5}, "b": {"accuracy": None, "n": 3}}, ["accuracy", "n"])
    # Row names padded to the longest plus 2; columns right-aligned, 10 characters at least plus 2.
    assert table.splitlines() == [
        "metric" + " " * 11 + "run-a" + " " * 11 + "b",
        "accuracy" + " " * 9 + "0.500" + " " * 11 + "-",
        "n" + " " * 20 + "-" + " " * 7 + "3.000",
    ]
    assert format_table({"mean": {"x": 2}}, ["x"], corner="", precision=1).splitlines()[1].split() == [
        "x",
        "2.0",
    ]


def test_chart_shows_values_and_zero_rates():
    runs = {"vanilla": {"accuracy": 0.75, "malformed_rate": 0.0, "think_tokens_mean": 91.25},
            "scale": {"accuracy": 0.9, "malformed_rate": 0.0}}  # fmt: skip
    accuracy, malformed, think = chart(runs).axes
    assert [t.get_text() for t in accuracy.texts] == ["0.750", "0.900"]
    assert [t.get_text() for t in malformed.texts] == ["0.000", "0.000"]
    assert malformed.get_ylim() == (0.0, 1.1) and accuracy.get_ylim() == (0.0, 1.1)
    assert [t.get_text() for t in think.texts] == ["91.2", "n/a"]
    assert think.get_ylim()[0] == 0 and math.isclose(think.get_ylim()[1], 91.25 * 1.15)
    assert (
        "malformed" in malformed.get_title() and "0" in [t.get_text() for t in malformed.get_yticklabels()][0]
    )


# --- end to end on a trained tiny model ---------------------------------------------------------------


def _read(out):
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return rows, json.loads((out / "metrics.json").read_text())


def _check_consistent(rows, metrics):
    overall = metrics["overall"]
    n = len(rows)
    assert overall["n"] == n
    assert overall["accuracy"] == pytest.approx(sum(r["correct"] for r in rows) / n)
    assert overall["malformed_rate"] == pytest.approx(sum(r["malformed"] for r in rows) / n)
    assert overall["think_tokens_mean"] == pytest.approx(sum(r["think_tokens"] for r in rows) / n)
    for row in rows:
        assert row["malformed"] == (
            "<answer>" not in row["generation"] or "</answer>" not in row["generation"]
        )
        assert not (row["correct"] and row["malformed"])
    assert sum(g["n"] for g in metrics["groups"].values()) == n


@pytest.fixture(scope="module")
def synthetic_eval(trained_qwen_dir, synthetic_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "scale"
    main(["eval", "--model", str(trained_qwen_dir), "--benchmark", "synthetic", "--data", str(synthetic_dir),
          "--limit", "20", "--batch_size", "10", "--max_new_tokens", "48", "--output_dir", str(out)])  # fmt: skip
    return out


def test_eval_synthetic(synthetic_eval):
    rows, metrics = _read(synthetic_eval)
    assert len(rows) == 20 and {r["id"] for r in rows} == {f"synth-test-{i:05d}" for i in range(20)}
    _check_consistent(rows, metrics)
    assert "reasoning_correct" in rows[0] and "reasoning_correct_rate" in metrics["overall"]
    assert sorted(r["index"] for r in rows) == list(range(20))
    assert metrics["data"] == {"conversion": None, "read": 20, "evaluated": 20, "gold_skipped": {}}
    assert metrics["run"]["n_records"] == 20 and metrics["run"]["max_new_tokens"] == 48
    assert set(metrics["groups"]) <= set(QUESTION_TYPES)


@pytest.mark.parametrize(
    ("benchmark", "fixture", "n"), [("scienceqa_img", "scienceqa_jsonl", 2), ("iconqa", "iconqa_json", 5)]
)
def test_eval_hub_benchmarks_from_local_copies(benchmark, fixture, n, trained_qwen_dir, request, tmp_path):
    data = request.getfixturevalue(fixture)
    out = tmp_path / benchmark
    main(["eval", "--model", str(trained_qwen_dir), "--benchmark", benchmark, "--data", str(data),
          "--max_new_tokens", "16", "--output_dir", str(out)])  # fmt: skip
    rows, metrics = _read(out)
    assert len(rows) == n  # the unconvertible fixture records are counted and left out
    _check_consistent(rows, metrics)
    assert all(r["gold"] for r in rows)
    assert metrics["data"]["conversion"]["kept"] == n and metrics["data"]["conversion"]["skipped"]
    strict = [r["correct_strict"] for r in rows if "correct_strict" in r]
    assert len(strict) == (n if benchmark == "scienceqa_img" else 0)
    if strict:
        assert metrics["overall"]["accuracy_strict"] == pytest.approx(sum(strict) / n)


def test_compare_writes_table_and_chart(synthetic_eval, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    metrics = json.loads((synthetic_eval / "metrics.json").read_text())
    metrics["overall"]["accuracy"] = 0.75
    (other / "metrics.json").write_text(json.dumps(metrics))
    chart = tmp_path / "compare.png"
    main(["compare", str(synthetic_eval), str(other), "--output", str(chart)])
    table = capsys.readouterr().out
    assert "scale" in table and "other" in table and "0.750" in table
    assert chart.stat().st_size > 1000 and chart.read_bytes()[:4] == b"\x89PNG"
    assert chart.with_suffix(".txt").read_text().strip() == table.strip()
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        main(["compare", str(tmp_path / "missing")])


def test_generation_sees_16_bit_images_scaled_like_training(trained_qwen_dir):
    """A 16-bit image reaches the processor at generation as the 8-bit RGB training saw
    (30000 / 65535 of white is grey 117), not clipped to white."""
    import numpy as np
    from PIL import Image

    from scale_sft.data.format import user_message
    from scale_sft.evaluation.generate import generate
    from scale_sft.models.loading import load_model_and_processor

    model, processor = load_model_and_processor(str(trained_qwen_dir))
    seen = []

    class Spy:
        """The processor, recording the images generation passes it."""

        def __getattr__(self, name):
            return getattr(processor, name)

        def __call__(self, images=None, **kwargs):
            seen.extend(image for row in images or [] for image in row)
            return processor(images=images, **kwargs)

    deep = Image.fromarray(np.full((56, 56), 30000, dtype=np.uint16))
    assert deep.mode.startswith("I;16")
    record = {"messages": [user_message("How many?")], "images": [deep]}
    generate(model, Spy(), [record], batch_size=1, max_new_tokens=2, progress=False)
    assert len(seen) == 1 and seen[0].mode == "RGB"
    assert seen[0].getpixel((0, 0)) == (117, 117, 117)
