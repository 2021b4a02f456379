"""`scale-sft eval` and `scale-sft compare` end to end on a trained tiny model."""

import json

import pytest

from scale_sft.cli import main
from scale_sft.data.synthetic import QUESTION_TYPES


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
