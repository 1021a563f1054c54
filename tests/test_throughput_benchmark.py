"""The throughput benchmark: its step clock, and its smoke mode end to end (every loop, the cores experiment).

The benchmark itself is not part of the suite (minutes of compute on all-MiniLM-L6-v2); the smoke
mode runs the same code path with a tiny BERT for a few steps, each run in its own process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks import throughput


class Toy(torch.nn.Module):
    """Takes the keyword inputs a transformers model takes, so the clock's token count sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return (self.embed(input_ids) * attention_mask[..., None]).sum()


def test_clock_times_only_the_window_and_stops_the_loop() -> None:
    model = Toy()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    clock = throughput.WindowClock(warmup=2, steps=3, stop=True)
    ids, mask = torch.ones(2, 5, dtype=torch.long), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    steps = 0
    try:
        with pytest.raises(throughput.WindowDone):
            for _ in range(10):
                model(input_ids=ids, attention_mask=mask).backward()
                steps += 1
                optimizer.step()
    finally:
        clock.close()
    assert steps == 5 and clock.step == 5
    assert clock.end > clock.start
    # the 3 timed steps' forwards only: 3 batches of 2 rows, 10 positions, 8 of them real
    assert (clock.padded, clock.tokens) == (30, 24)
    assert clock.threads == torch.get_num_threads() and clock.optimizer.startswith("SGD")
    optimizer.step()  # hooks removed: nothing more is counted
    assert clock.step == 5


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[str, Path]]:
    paths = throughput.main(["--smoke", "--out", str(tmp_path_factory.mktemp("throughput"))])
    return json.loads(paths["json"].read_text()), paths


@pytest.mark.slow
def test_every_loop_is_timed_over_the_same_window(smoke: tuple[dict, dict[str, Path]]) -> None:
    result, _ = smoke
    settings = result["environment"]["settings"]
    runs = {r["method"]: r for r in result["runs"]}
    assert set(runs) == {name for name, m in throughput.METHODS.items() if not m.extra}
    for run in runs.values():
        assert run["samples"] == settings["steps"] * settings["batch_size"]
        assert run["seconds"] > 0 and run["torch_threads"] == 1
        assert run["padded_tokens_per_sample"] >= run["tokens_per_sample"] > 0
    assert runs["trainer_max_length"]["padded_tokens_per_sample"] == settings["max_length"]
    assert runs["hpo"]["padded_tokens_per_sample"] < settings["max_length"]  # dynamic padding


@pytest.mark.slow
def test_ratios_cores_and_report(smoke: tuple[dict, dict[str, Path]]) -> None:
    result, paths = smoke
    summary = result["summary"]
    assert {"hpo/trainer_max_length", "hpo/trainer_dynamic"} <= set(summary["ratios"])
    assert summary["target"]["hpo_over_dynamic_trainer_at_least"] == throughput.TARGET_RATIO
    (cores,) = result["cores"]
    assert cores["one_trial_2_threads"]["torch_threads"] == 2
    first, second = cores["two_trials_1_thread"]
    assert first["torch_threads"] == second["torch_threads"] == 1
    assert first["start"] < second["end"] and second["start"] < first["end"]  # the two trials ran at the same time
    assert summary["cores"]["better"] in {"one trial x 2 threads", "two trials x 1 thread"}
    table = paths["md"].read_text()
    assert all(f"| {throughput.METHODS[m].label} |" in table for m in result["methods"])
    env = result["environment"]
    assert env["versions"]["transformers"] and env["versions"]["accelerate"] and env["machine"]["cpu_count"]
    assert env["settings"]["seed"] == 42 and env["smoke"]
