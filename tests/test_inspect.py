"""``scale-sft inspect-data``: skip counts, per-record THINK/ANSWER tokens, histogram and JSON."""

import json

from PIL import Image

from scale_sft.cli import main


def test_inspect_data_on_synthetic(synthetic_dir, tiny_qwen_dir, tmp_path, capsys):
    out = tmp_path / "inspect"
    main(["inspect-data", "--dataset", str(synthetic_dir), "--model", str(tiny_qwen_dir), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "64/64 records kept (0 direct answers without reasoning); skipped: none" in printed
    header, think_row, answer_row, ratio_row = printed.splitlines()[1:5]
    assert header.split() == ["mean", "median", "p90"]
    assert think_row.startswith("THINK tokens") and answer_row.startswith("ANSWER tokens")
    assert ratio_row.startswith("THINK/ANSWER")

    stats = json.loads((out / "token_stats.json").read_text())
    assert stats["data"] == {"total": 64, "kept": 64, "direct_answer": 0, "skipped": {}}
    assert stats["ratio"]["mean"] > 10 and stats["total_ratio"] > 10
    assert stats["think_tokens"]["median"] > 10 * stats["answer_tokens"]["median"]
    assert stats["think_tokens"]["min"] <= stats["think_tokens"]["median"] <= stats["think_tokens"]["p90"]
    assert float(think_row.split()[2]) == round(stats["think_tokens"]["mean"], 1)
    with Image.open(out / "token_histogram.png") as image:
        assert image.format == "PNG" and image.size[0] > 100


def test_inspect_counts_skips(synthetic_dir, tiny_qwen_dir, qwen_processor, capsys):
    import datasets

    from scale_sft.sft.collator import ScaleSFTCollator
    from scale_sft.sft.inspect import inspect_data

    records = datasets.load_from_disk(str(synthetic_dir))["test"].select(range(10))
    lengths = ScaleSFTCollator(processor=qwen_processor)(list(records))["attention_mask"].sum(dim=1)
    max_length = int(lengths.median())  # between the shortest and the longest record
    assert lengths.min() <= max_length < lengths.max()
    stats = inspect_data(
        str(synthetic_dir), str(tiny_qwen_dir), split="test", max_length=max_length, limit=10
    )
    assert stats["data"]["kept"] == int((lengths <= max_length).sum())
    assert stats["data"]["total"] == 10 and 0 < stats["data"]["kept"] < 10
    assert stats["data"]["skipped"] == {"longer than max_length": 10 - stats["data"]["kept"]}
    assert "skipped: " in capsys.readouterr().out
