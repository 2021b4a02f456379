"""Data parallelism: 2 CPU ranks (gloo) x batch 2 train exactly like 1 process x batch 4, for both losses, for
SCALe with segment means over the whole step (its THINK and ANSWER token counts summed over both ranks) and
for SCALe with the adaptive answer weight (which must see the step's THINK loss over both ranks), for a
vision-language model (tiny Qwen2.5-VL) and a text-only causal LM (tiny Qwen2 on the synthetic text task).

The synthetic samples have different THINK / ANSWER lengths, so the two ranks hold different numbers of
samples' tokens: a per-rank normalizer (instead of the step's, gathered over ranks) or a missing
``num_processes`` factor against DDP's gradient averaging would change the update and fail the test.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.integration  # starts training processes

WORKER = Path(__file__).with_name("ddp_worker.py")
MAX_STEPS = 3  # the adaptive weight first moves at step 3 (after L_0 and one more step)
TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(cmd: list[str], port: int) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "PYTHONWARNINGS": "ignore",
    }
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"


METHODS = ("scale", "vanilla", "adaptive", "step")


def _train(model: Path, data: Path, out: Path, processes: int, batch: int) -> None:
    """Train every method (one after the other in the same processes, to pay the start-up once)."""
    args = [str(WORKER), "--model", str(model), "--data", str(data), "--out", str(out),
            "--loss_method", *METHODS, "--per_device_batch", str(batch), "--max_steps", str(MAX_STEPS)]  # fmt: skip
    port = _free_port()
    if processes == 1:
        cmd = [sys.executable, *args]
    else:
        # `accelerate launch --cpu` runs one process (multi-CPU needs mpirun); `--multi_gpu` starts torchrun
        # ranks, and the worker's `use_cpu=True` makes them CPU ranks on gloo.
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
               "--num_processes", str(processes), "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "--main_process_port", str(port), *args]  # fmt: skip
    _run(cmd, port)


def _load(out: Path, processes: int) -> dict:
    state = json.loads((out / "logs.json").read_text())
    logs = [h for h in state["log_history"] if "loss" in h]
    keys = ("think_tokens", "answer_tokens", "loss_think", "loss_answer")
    keys += ("answer_weight",) if state["loss_method"] != "vanilla" else ()  # logged for SCALe only
    return {
        "state": state,
        "losses": [h["loss"] for h in logs],
        "segments": [[h[k] for k in keys if k in h] for h in logs],  # vanilla logs no answer_weight
        "init": load_file(out / "params_init.safetensors"),
        "params": load_file(out / "params.safetensors"),
        "batches": [json.loads((out / f"ids_rank{r}.json").read_text()) for r in range(processes)],
    }


# model kind -> (model fixture, dataset fixture)
KINDS = {
    "qwen2_5_vl": ("tiny_qwen_dir", "synthetic_dir"),
    "qwen2_text": ("tiny_text_dir", "synthetic_text_dir"),
}


@pytest.fixture(scope="module", params=list(KINDS))
def ddp_runs(request, tmp_path_factory):
    model, data = (request.getfixturevalue(name) for name in KINDS[request.param])
    root = tmp_path_factory.mktemp(f"ddp-{request.param}")
    _train(model, data, root / "single", processes=1, batch=4)
    _train(model, data, root / "ddp", processes=2, batch=2)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_two_ranks_match_one_process_with_double_batch(method, ddp_runs):
    single = _load(ddp_runs / "single" / method, processes=1)
    ddp = _load(ddp_runs / "ddp" / method, processes=2)

    assert single["state"]["world_size"] == 1 and single["state"]["loss_method"] == method
    # the same tokens went through forward and backward, counted over both ranks
    assert ddp["state"]["compute"]["train_tokens"] == single["state"]["compute"]["train_tokens"] > 0
    assert ddp["state"]["compute"]["processes"] == 2
    assert ddp["state"]["world_size"] == 2 and ddp["state"]["backend"] == "gloo"

    # the same samples per optimizer step: rank 0 holds the first half of the global batch, rank 1 the second
    for step in range(MAX_STEPS):
        rank0, rank1 = ddp["batches"][0][step], ddp["batches"][1][step]
        assert single["batches"][0][step] == rank0 + rank1
        assert len({think for _, think, _ in rank0 + rank1}) > 1  # samples of different lengths
    # ranks with different token counts (what the normalizer must handle)
    assert any(
        sum(t + a for _, t, a in ddp["batches"][0][step]) != sum(t + a for _, t, a in ddp["batches"][1][step])
        for step in range(MAX_STEPS)
    )

    assert len(single["losses"]) == len(ddp["losses"]) == MAX_STEPS
    torch.testing.assert_close(torch.tensor(ddp["losses"]), torch.tensor(single["losses"]), rtol=1e-5, atol=0)
    # the per-segment logs are reduced over ranks: same token counts, CE means and answer weights
    torch.testing.assert_close(
        torch.tensor(ddp["segments"], dtype=torch.float64),
        torch.tensor(single["segments"], dtype=torch.float64),
        rtol=1e-5,
        atol=0,
    )

    if method == "adaptive":  # the weight moved, from the THINK loss of both ranks together
        weights = [segments[-1] for segments in single["segments"]]
        assert weights[:2] == pytest.approx([0.2, 0.2]) and weights[2] > 0.2 + 1e-3, weights

    init, one, two = single["init"], single["params"], ddp["params"]
    assert init.keys() == one.keys() == two.keys() and len(init) > 0
    torch.testing.assert_close(ddp["init"], init, rtol=0, atol=0)
    diffs = {name: (one[name] - two[name]).abs().max().item() for name in init}
    worst = max(diffs, key=diffs.get)
    update = max((one[name] - init[name]).abs().max().item() for name in init)
    # the update is far above the tolerance, so a factor-2 error in the gradient (or one rank's data) shows
    assert update > 1e-4, f"training did not move the parameters (max |update| {update:.2e})"
    assert diffs[worst] <= 1e-6, (
        f"{method}: 2-rank parameters differ from 1-process ones by up to {diffs[worst]:.2e} ({worst}); "
        f"max |update| {update:.2e}"
    )
