"""What every benchmark shares: the settings, the subprocess runner, the machine description and the
aggregation of one variant's subprocesses into a record."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "run.py"
NUM_THREADS = 2
# `ScaleSFTTrainer` inherits `SFTTrainer.__init__`, which patches the fused head with these outputs
TRAINER_FUSED_OUTPUTS = ("log_probs", "entropy", "is_top1")


@dataclass
class LossShape:
    """The loss-op benchmark's inputs (default: Qwen2.5's vocabulary and a 1.5B model's hidden size)."""

    batch: int = 4
    seq: int = 1024
    hidden: int = 1536
    vocab: int = 151936
    answer_weight: float = 0.3
    repeats: int = 1  # measured full-shape steps per subprocess (x rounds)
    warmup: int = 0  # full-shape warm-up steps per subprocess (a small-shape warm-up always runs first)
    seed: int = 0


@dataclass
class GradShape:
    """The gradient check's inputs: > 4,096 rows and > 32,768 vocabulary entries by default, so TRL's token and
    vocabulary tiling are both exercised."""

    batch: int = 2
    seq: int = 2100
    hidden: int = 256
    vocab: int = 40000
    answer_weight: float = 0.3
    seed: int = 1


@dataclass
class TrainModel:
    """One tiny Qwen2.5-VL of the training-step benchmark and its step counts."""

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vision_hidden_size: int
    vision_depth: int
    vocab_size: int  # requested; the locally trained BPE tokenizer stops at the merges its corpus allows
    batch: int
    warmup: int
    steps: int


@dataclass
class Settings:
    loss: LossShape
    grad: GradShape
    models: list[TrainModel]
    rounds: int  # interleaved rounds: every timed variant runs once per round, in a fresh subprocess


def settings(small: bool) -> Settings:
    """The full benchmark, or (``small``) toy shapes that only check the plumbing."""
    if small:
        return Settings(
            loss=LossShape(batch=2, seq=128, hidden=64, vocab=2048, repeats=2, warmup=1),
            grad=GradShape(batch=2, seq=96, hidden=32, vocab=3000),
            models=[TrainModel("tiny", 128, 4, 4, 2, 384, 64, 2, 1024, batch=2, warmup=1, steps=1)],
            rounds=1,
        )
    return Settings(
        loss=LossShape(),
        grad=GradShape(),
        models=[
            TrainModel("tiny", 128, 4, 4, 2, 384, 64, 2, 1024, batch=8, warmup=2, steps=8),
            TrainModel("small", 512, 8, 8, 2, 1536, 128, 2, 8192, batch=4, warmup=1, steps=4),
        ],
        rounds=2,
    )


def run_child(variant: str, payload: dict, timeout: float, mmap_threshold: int = 0) -> dict:
    """Run ``variant`` (``loss:<name>``, ``grad``, ``train:<name>``) in a fresh ``run.py`` subprocess and return
    the dict it writes."""
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(RUNNER), "--variant", variant, "--payload", json.dumps(payload)]
        cmd += ["--result", str(out), "--workdir", tmp]
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        if mmap_threshold:
            # glibc: a fixed threshold (no dynamic raise up to 32 MiB), so every freed block from this size up goes
            # back to the OS at once and VmHWM follows live memory, not the heap glibc happens to retain
            env["MALLOC_MMAP_THRESHOLD_"] = str(mmap_threshold)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"variant {variant} failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}")
        return json.loads(out.read_text())


def rotated(items, r: int) -> list:
    """``items`` rotated by ``r``: the order of the variants changes every round, so drift hits them alike."""
    items = list(items)
    k = r % len(items)
    return items[k:] + items[:k]


def _proc_field(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_info() -> dict:
    from scale_sft.run_record import library_versions  # here: the measured subprocesses import this module
    mem_kb = _proc_field("/proc/meminfo", "MemTotal:")
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or "unknown",
        "cores": os.cpu_count(),
        "torch_threads": NUM_THREADS,
        "memory_gib": round(int(mem_kb.split()[0]) / 1024**2, 1) if mem_kb else None,
        "platform": platform.platform(),
        **library_versions(),
        "load_average_at_start": list(os.getloadavg()),
    }


def aggregate(runs: list[dict]) -> dict:
    """One variant's subprocesses (one per round) as one record. Per-subprocess lists (``peaks_mb``) have one entry
    per subprocess; per-step lists (``times_s``, ``cpu_times_s``, ``compute_times_s``) hold the measured steps of
    every subprocess, grouped by subprocess in round order. Other fields come from the first subprocess."""
    out = {}
    for key in ("times_s", "cpu_times_s", "compute_times_s"):
        if key in runs[0]:
            out[key] = [t for r in runs for t in r[key]]
            out[key.replace("times_s", "time_s")] = statistics.median(out[key])
    peaks = [r["peak_mb"] for r in runs]
    out.update(
        time_min_s=min(out["times_s"]),
        # floored at 1 kB (VmHWM's unit) so that ratios stay finite for the toy shapes of --small
        peak_mb=max(statistics.median(peaks), 1 / 1024),
        peaks_mb=peaks,
        baseline_mb=statistics.median(r["baseline_mb"] for r in runs),
        hwm_reset=all(r["hwm_reset"] for r in runs),
    )
    for key, value in runs[0].items():
        if key not in out and key != "vmhwm_mb":
            out[key] = value
    return out


def cpu_s_per_token_runs(variant: dict, tokens_per_step: float) -> list[float]:
    """Per subprocess, the process CPU seconds of its measured steps over their tokens (``cpu_times_s`` is grouped
    by subprocess, see ``aggregate``). The goals take the lowest: another job on the machine can only add CPU time
    (cache and memory-bandwidth contention, threads spinning at a barrier while their partner waits for a core),
    so the least disturbed subprocess gives the figure that load bends least."""
    runs = len(variant["peaks_mb"])
    steps = len(variant["cpu_times_s"]) // runs
    cpu = variant["cpu_times_s"]
    return [sum(cpu[i * steps : (i + 1) * steps]) / (steps * tokens_per_step) for i in range(runs)]


def fmt_list(values, spec: str = ".2f") -> str:
    return ", ".join(format(v, spec) for v in values)
