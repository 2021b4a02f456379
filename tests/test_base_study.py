"""The study in the paper's regime (``experiments/base_study.py``): items needed, disagreement, a smoke run."""

import json
import shutil
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "experiments"))
import base_study  # noqa: E402


def test_items_needed_is_the_paired_standard_error_solved_for_n():
    # 2 standard errors of sqrt(d / (n * seeds)) equal to the difference: n = 4 * 0.2 / (0.03**2 * 5) = 177.8
    assert base_study.items_needed(0.2, difference=0.03, seeds=5) == 178
    assert base_study.items_needed(0.2, seeds=1) == 889  # 888.9, rounded up
    assert base_study.items_needed(0.0) == 0


def test_discordance_is_the_share_of_items_one_model_gets_right(tmp_path):
    def predictions(seed, name, correct):
        path = tmp_path / f"seed{seed}" / "clean" / name / "eval" / "predictions.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text("\n".join(json.dumps({"index": i, "correct": c}) for i, c in enumerate(correct)))

    predictions(0, "a", [True, True, False, False])
    predictions(0, "b", [True, False, True, False])  # disagree on 2 of 4
    predictions(1, "a", [True, True, True, True])
    predictions(1, "b", [True, True, True, False])  # 1 of 4
    assert base_study.discordance(tmp_path, [0, 1, 2], "clean", "a", "b") == (0.5 + 0.25) / 2


def test_summary_gives_each_condition_its_paired_difference_and_what_its_interval_says():
    stages = base_study.study_pipelines(base_study.BUDGETS["smoke"].base, ["sample"], None)
    accuracy = {  # (condition, seed): (vanilla, SCALe)
        ("clean", 0): (0.5, 0.6), ("clean", 1): (0.5, 0.7), ("clean", 2): (0.4, 0.7),  # +0.1, +0.2, +0.3
        ("noisy", 0): (0.5, 0.4), ("noisy", 1): (0.5, 0.6), ("noisy", 2): (0.5, 0.5),  # -0.1, +0.1, 0
    }  # fmt: skip
    runs = [
        {"condition": c, "seed": s, "name": name, "accuracy": acc}
        for (c, s), pair in accuracy.items()
        for name, acc in zip(("vanilla_sft", "scale_sample_sft"), pair, strict=True)
    ]
    runs.append({"condition": "base", "seed": 0, "name": "base (direct answers)", "accuracy": 0.9})
    lines = base_study.summary(runs, ["clean", "noisy"], stages)
    assert lines[2] == "| pipeline − baseline | clean | noisy |"
    clean, noisy = lines[4].split(" | ")[1:]
    assert clean.startswith("+0.200 [") and clean.endswith("], higher (3 seeds)")
    low, high = (float(x) for x in clean.split("[")[1].split("]")[0].split(", "))
    assert 0.1 <= low < 0.2 < high <= 0.3  # the bootstrap interval of the mean of +0.1, +0.2, +0.3
    assert noisy.startswith("+0.000 [") and noisy.endswith("], no clear difference (3 seeds) |")


def test_the_study_runs_at_smoke_budget_and_resumes(tmp_path):
    out, results = tmp_path / "study", tmp_path / "RESULTS_BASE.md"
    argv = [
        "--seeds",
        "0",
        "--grpo_seeds",
        "0",
        "--noise",
        "0",
        "--normalizations",
        "sample",
        "--budget",
        "smoke",
    ]
    argv += ["--image_control", "none", "--output_dir", str(out), "--results", str(results)]
    base_study.main(argv)

    runs = json.loads((out / "results.json").read_text())
    names = ["vanilla_sft", "scale_sample_sft", "vanilla_sft_grpo", "scale_sample_sft_grpo"]
    assert [(r["condition"], r["name"]) for r in runs] == [("clean", n) for n in names] + [
        ("base", "base (direct answers)")
    ]
    base = out / "seed0" / runs[-1]["dir"]
    for name in ("vanilla_sft", "scale_sample_sft"):  # both fine-tune the one base of the seed
        assert json.loads((out / "seed0" / "clean" / name / "run.json").read_text())["model"] == str(base)
    config = json.loads((out / "seed0" / "clean" / "scale_sample_sft" / "run.json").read_text())
    assert config["loss_method"] == "scale"
    text = results.read_text()
    assert "## clean" in text and "## base" in text and "scale_sample_sft − vanilla_sft" in text
    assert text.index("## Summary") < text.index("## clean")

    stamp = (out / "seed0" / "clean" / "scale_sample_sft" / "run.json").stat().st_mtime_ns
    base_study.main(argv)  # resumed: nothing is trained again, the same rows come back
    assert (out / "seed0" / "clean" / "scale_sample_sft" / "run.json").stat().st_mtime_ns == stamp
    assert json.loads((out / "results.json").read_text()) == runs

    shutil.rmtree(out / "seed0" / "clean" / "scale_sample_sft_grpo" / "eval")  # as if interrupted in its eval
    base_study.main([*argv, "--report_only"])  # reports what is finished, trains and evaluates nothing
    assert not (out / "seed0" / "clean" / "scale_sample_sft_grpo" / "eval").exists()
    assert [r["name"] for r in json.loads((out / "results.json").read_text())] == [
        r["name"] for r in runs if r["name"] != "scale_sample_sft_grpo"
    ]
    text = results.read_text()
    assert "Written with `--report_only`" in text and "--report_only" not in text.splitlines()[2]

    trained = (out / "seed0" / "clean" / "scale_sample_sft_grpo" / "run.json").stat().st_mtime_ns
    base_study.main(argv)  # trained but not evaluated: evaluated only, not trained again
    assert (out / "seed0" / "clean" / "scale_sample_sft_grpo" / "run.json").stat().st_mtime_ns == trained
    assert [r["name"] for r in json.loads((out / "results.json").read_text())] == [r["name"] for r in runs]


def test_pieces_run_in_parallel_processes_and_grpo_runs_only_in_its_conditions(tmp_path):
    """``--jobs 2``: bases first, then each pipeline in its own process; the rows come back in the order
    of a one-process run, and GRPO runs only in ``--grpo_conditions`` on ``--grpo_seeds``."""
    out, results = tmp_path / "study", tmp_path / "RESULTS_BASE.md"
    argv = ["--seeds", "0", "1", "--grpo_seeds", "1", "--grpo_conditions", "noisy", "--noise", "0.5"]
    argv += ["--normalizations", "sample", "--budget", "smoke", "--blind_items", "2", "--jobs", "2"]
    base_study.main([*argv, "--output_dir", str(out), "--results", str(results)])

    runs = json.loads((out / "results.json").read_text())
    sft = ["vanilla_sft", "scale_sample_sft"]
    grpo = ["vanilla_sft_grpo", "scale_sample_sft_grpo"]
    expected = []
    for seed in (0, 1):
        expected += [(seed, "clean", n) for n in sft]
        expected += [(seed, "noisy", n) for n in sft + (grpo if seed == 1 else [])]
        expected += [(seed, "base", "base (direct answers)")]
    assert [(r["seed"], r["condition"], r["name"]) for r in runs] == expected
    for seed in (0, 1):  # each piece's output went to its seed's log, not to this process
        assert "=== seed" in (out / f"seed{seed}" / "log.txt").read_text()
    blind = out / "seed1" / "noisy" / "vanilla_sft" / "eval_blind" / "predictions.jsonl"
    assert len(blind.read_text().splitlines()) == 2  # --blind_items of the 3 test items
    assert all(0 <= r["accuracy_blind"] <= 1 and r["image_gap"] == r["accuracy"] - r["accuracy_blind"] for r in runs)
    grpo_run = json.loads((out / "seed1" / "noisy" / "vanilla_sft_grpo" / "run.json").read_text())
    assert grpo_run["model"] == str(out / "seed1" / "noisy" / "vanilla_sft")  # started once its SFT stage ended
    assert "vanilla_sft_grpo − vanilla_sft" in results.read_text().split("## noisy")[1]
