"""How well an early epoch ranks LCBench configurations: the premise of ASHA, measured on the surrogate.

ASHA (grace period 1, reduction factor 3) keeps the top third of trials after 1, 3, 9 and 27
epochs. It can only beat random search at equal epochs if accuracy after those epochs ranks
configurations the way the final accuracy does. This prints, per task, the Spearman rank
correlation between the accuracy at epoch e and the best accuracy over all 52 epochs, over random
configurations, and whether the best third at epoch e still holds the configuration that wins.

    python -m benchmarks.lcbench_fidelity [--tasks 5] [--configs 500]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
import yaml
from scipy.stats import spearmanr

from benchmarks import lcbench
from benchmarks.search_efficiency import CONFIG_DIR, RESULTS_DIR

RUNGS = (1, 3, 9, 27)


def sample_params(rng: np.random.Generator, n: int) -> list[dict[str, float]]:
    """Random configurations from the benchmark's own YAML space (log-uniform where it says log)."""
    space = yaml.safe_load((CONFIG_DIR / "lcbench_space.yaml").read_text())["lcbench"]
    out = []
    for _ in range(n):
        params = {}
        for key, d in space.items():
            log = d["type"] == "loguniform" or d.get("log", False)
            lo, hi = (np.log(d["low"]), np.log(d["high"])) if log else (d["low"], d["high"])
            value = rng.uniform(lo, hi)
            params[f"{lcbench.PREFIX}{key}"] = float(np.exp(value) if log else value)
        out.append(params)
    return out


def task_fidelity(task: str, params: list[dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Per rung: Spearman(accuracy at the rung, best accuracy) and whether the winner survives a top-third cut."""
    curves = np.array([lcbench.learning_curve(p, task) for p in params])
    final = curves.max(axis=1)
    winner = int(np.argmax(final))
    result = {}
    for rung in RUNGS:
        early = curves[:, rung - 1]
        top_third = np.argsort(-early)[: len(early) // 3]
        result[str(rung)] = {
            "spearman": round(float(spearmanr(early, final).statistic), 3),
            "winner_in_top_third": bool(winner in top_third),
        }
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure every task and write lcbench_fidelity.json and .md to benchmarks/results/."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lcbench_fidelity", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--configs", type=int, default=500)
    parser.add_argument("--smoke", action="store_true", help="1 task, 50 configurations")
    args, _ = parser.parse_known_args(argv)  # run_all passes every benchmark the same options
    if args.smoke:
        args.tasks, args.configs = 1, 50
    params = sample_params(np.random.default_rng(0), args.configs)
    result = {t: task_fidelity(t, params) for t in lcbench.tasks()[: args.tasks]}
    lines = [
        "| task | " + " | ".join(f"epoch {r}" for r in RUNGS) + " |",
        "|---|" + "---|" * len(RUNGS),
    ]
    for task, rungs in result.items():
        cells = [f"{v['spearman']:.2f} / {'yes' if v['winner_in_top_third'] else 'no'}" for v in rungs.values()]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    if not args.smoke:
        RESULTS_DIR.mkdir(exist_ok=True)
        (RESULTS_DIR / "lcbench_fidelity.json").write_text(json.dumps({"configs": args.configs, "seed": 0, "tasks": result}, indent=1))
        title = f"# LCBench: accuracy at an early epoch against the best accuracy ({args.configs} random configurations, seed 0)"
        note = "Each cell: Spearman rank correlation / whether the eventual best configuration is in the top third at that epoch."
        (RESULTS_DIR / "lcbench_fidelity.md").write_text(f"{title}\n\n{note}\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
