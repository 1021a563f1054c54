"""Driver chaos: one sweep SIGKILLed again and again and resumed each time, beside the same sweep run
without interruption.

    python -m benchmarks.chaos                 # 20 kills of an 8-trial sweep (3 epochs each), seed 0
    python -m benchmarks.chaos --kills 5 --trials 3 --epochs 2

The sweep is ``hpo sweep`` as a user runs it (tiny BERT on the generated demo data, Optuna TPE, one trial
at a time, workers reused); the driver and the Ray processes it started are SIGKILLed after 1 to 3 lines
of trial progress (seeded), and ``hpo resume`` continues it. At the end the interrupted sweep must hold
exactly the planned trials, none twice, every evaluation once, and an Optuna study (``hpo dashboard``)
that agrees with Ray's records; tests/test_faults_e2e.py asserts the same invariants with 5 kills.

Beside them it records what the kills cost (wall time against the uninterrupted sweep, the time from a
driver's start to its first progress line) and whether both sweeps sampled the same configurations and
exported the same winner: same seed, one trial at a time, so they do unless a kill lost a proposal that
Ray's searcher snapshot had not saved yet.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.environment import git_commit, machine, versions, write_results

NAME = "chaos"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
HPO = str(Path(sys.executable).parent / "hpo")
METRIC, MODE = "eval/loss", "min"  # the tiny BERT's accuracies tie on this data; its losses do not
PROGRESS = re.compile(r"^\[\s*\d+s\] \w+ (started|continued|eval \d+|finished)")


def sweep_args(out: Path, trials: int, epochs: int, seed: int) -> list[str]:
    """``hpo sweep``'s overrides: the generated demo data (nothing to read), so a driver's start pays only
    for Ray, the imports and the restore; one trial at a time, so the order of trials is the searcher's."""
    return ["sweep", "model=tiny_bert", "data.num_train=96", "data.num_eval=48", "trainer.max_seq_length=32",
            f"sweep.metric={METRIC}", f"sweep.mode={MODE}", "logger=none", "scheduler=fifo", "searcher.max_concurrent=1", "resources.reuse_workers=true",
            "search_space.trainer.batch_size.values=[16]", "searcher=optuna", "searcher.n_startup_trials=2",
            f"sweep.num_trials={trials}", f"trainer.epochs={epochs}", f"sweep.seed={seed}", f"sweep.output_dir={out}"]


def hpo_env() -> dict[str, str]:
    return {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}


def run_until_killed(args: list[str], progress_lines: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``hpo *args``; SIGKILL it and the Ray processes it started once it printed ``progress_lines``
    lines of trial progress. ``killed`` is False when it ended first (nothing left to interrupt)."""
    started = time.monotonic()
    proc = subprocess.Popen([HPO, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env or hpo_env(), start_new_session=True)
    seen, lines, first = 0, [], None
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.append(line)
            if PROGRESS.search(line):
                first = first if first is not None else time.monotonic() - started
                seen += 1
                if seen >= progress_lines:
                    return {"killed": True, "first_progress_s": first, "seconds": time.monotonic() - started}
        if proc.wait() != 0:
            raise RuntimeError(f"hpo {args[0]} failed (exit {proc.returncode}):\n{''.join(lines[-30:])}")
        return {"killed": False, "first_progress_s": first, "seconds": time.monotonic() - started}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray processes it started
        proc.wait()


def invariants(out: Path, trials: int, epochs: int, study_name: str = "demo") -> dict[str, Any]:
    """What a sweep that was killed and resumed must hold at the end, each check by name, with the details
    that show a failure."""
    import optuna

    from hpo.search.results.records import collect_trials
    from hpo.search.run.study_journal import RAY_TRIAL_ID, journal_storage

    records = collect_trials(out, METRIC, MODE)
    evaluated = {r.trial_id: [json.loads(line)["epoch"] for line in (r.path / "result.json").read_text().splitlines()]
                 for r in records}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=journal_storage(out))
    by_ray = {t.user_attrs.get(RAY_TRIAL_ID): t for t in study.trials}
    return {
        "planned_trials": len(records) == trials,
        "no_trial_twice": len({r.trial_id for r in records}) == len(records),
        "no_configuration_twice": len({_configuration(r.params) for r in records}) == len(records),
        "all_finished": all(r.status == "finished" for r in records),
        "every_evaluation_once": all(e == [float(i) for i in range(1, epochs + 1)] for e in evaluated.values()),
        "study_matches_ray": (len(study.trials) == len(records) and set(by_ray) == {r.trial_id for r in records}
                              and all(by_ray[r.trial_id].state == optuna.trial.TrialState.COMPLETE
                                      and math.isclose(by_ray[r.trial_id].value, r.best[METRIC], rel_tol=1e-9)
                                      and sorted(by_ray[r.trial_id].intermediate_values) == list(range(1, epochs + 1))
                                      for r in records)),
        "details": {"statuses": {r.trial_id: r.status for r in records}, "epochs": evaluated,
                    "study_trials": len(study.trials)},
    }


def _configuration(params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Sampled values, compared to 6 significant digits (what the leaderboard shows and JSON keeps)."""
    return tuple(sorted((k, f"{v:.6g}" if isinstance(v, float) else str(v)) for k, v in params.items()))


def summary(out: Path) -> dict[str, Any]:
    """The sampled configurations and the exported winner (``best/metrics.yaml``) of a finished sweep."""
    import yaml

    from hpo.search.results.records import collect_trials

    best = yaml.safe_load((out / "best" / "metrics.yaml").read_text())
    return {"configurations": sorted(_configuration(r.params) for r in collect_trials(out, METRIC, MODE)),
            "winner": _configuration(best["params"]), "winner_value": best["metrics"][METRIC]}


def chaos(out: Path, kills: int, trials: int, epochs: int, seed: int, most_lines: int = 3) -> dict[str, Any]:
    """The sweep killed ``kills`` times (after 1 to ``most_lines`` progress lines each, seeded), then resumed
    to its end."""
    rng, lives, args = random.Random(seed), [], sweep_args(out, trials, epochs, seed)
    started = time.monotonic()
    while len(lives) < kills:
        # the first kill comes after a trial's first evaluation, so Ray's experiment state exists to resume from
        life = run_until_killed(args, rng.randint(1, most_lines) + (1 if not lives else 0))
        lives.append(life)
        if not life["killed"]:
            break
        args = ["resume", str(out)]
    last = run_until_killed(["resume", str(out)], progress_lines=10**9) if lives[-1]["killed"] else lives[-1]
    return {"kills": sum(life["killed"] for life in lives), "wall_s": round(time.monotonic() - started, 1),
            "first_progress_s": [round(life["first_progress_s"], 2) for life in [*lives, last] if life["first_progress_s"]],
            "lives": len(lives) + (last is not lives[-1])}


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hpo-chaos-") as tmp:
        plain_dir, chaos_dir = Path(tmp) / "uninterrupted", Path(tmp) / "killed"
        started = time.monotonic()
        run_until_killed(sweep_args(plain_dir, args.trials, args.epochs, args.seed), progress_lines=10**9)
        plain_wall = round(time.monotonic() - started, 1)
        killed = chaos(chaos_dir, args.kills, args.trials, args.epochs, args.seed)
        checks = invariants(chaos_dir, args.trials, args.epochs)
        plain, interrupted = summary(plain_dir), summary(chaos_dir)
        if args.keep:
            shutil.copytree(tmp, args.out / "chaos_sweeps", dirs_exist_ok=True)
    return {
        "settings": {"kills": args.kills, "trials": args.trials, "epochs": args.epochs, "seed": args.seed},
        "killed": killed,
        "uninterrupted_wall_s": plain_wall,
        "wall_ratio_killed_over_uninterrupted": round(killed["wall_s"] / plain_wall, 2),
        "invariants": checks,
        "same_configurations": plain["configurations"] == interrupted["configurations"],
        "same_winner": plain["winner"] == interrupted["winner"],
        "winner_values": {"uninterrupted": plain["winner_value"], "killed": interrupted["winner_value"]},
        "configurations": {"uninterrupted": plain["configurations"], "killed": interrupted["configurations"]},
        "environment": {"machine": machine(), "versions": versions("hpo", "ray", "optuna", "torch"),
                        "commit": git_commit(), "command": " ".join(["python -m benchmarks.chaos", *sys.argv[1:]])},
    }


def markdown(result: dict[str, Any]) -> str:
    s, k, checks = result["settings"], result["killed"], result["invariants"]
    firsts = k["first_progress_s"]
    rows = [f"| {name} | {'yes' if ok else '**no**'} |" for name, ok in checks.items() if name != "details"]
    return "\n".join([
        "# Driver chaos: a sweep SIGKILLed again and again, against the same sweep uninterrupted", "",
        f"`hpo sweep` of {s['trials']} trials x {s['epochs']} epochs (tiny BERT, demo data, Optuna TPE, one trial at a "
        f"time, seed {s['seed']}); the driver and its Ray processes SIGKILLed after 1 to 3 progress lines, then "
        f"`hpo resume`. Command: `{result['environment']['command']}`; commit {result['environment']['commit']}.", "",
        "| invariant of the killed sweep | holds |", "|---|---|", *rows, "",
        "| | uninterrupted | killed and resumed |", "|---|---|---|",
        f"| kills | 0 | {k['kills']} |",
        f"| driver starts | 1 | {k['lives']} |",
        f"| wall (s) | {result['uninterrupted_wall_s']} | {k['wall_s']} ({result['wall_ratio_killed_over_uninterrupted']}x) |",
        f"| winner's {METRIC} | {result['winner_values']['uninterrupted']:.4f} | {result['winner_values']['killed']:.4f} |", "",
        f"Same configurations sampled: {'yes' if result['same_configurations'] else 'no'}; same winner: "
        f"{'yes' if result['same_winner'] else 'no'}. A driver's start to its first progress line (Ray, the imports, "
        f"the restore, a fresh trial worker): median {sorted(firsts)[len(firsts) // 2]:.1f} s over {len(firsts)} starts.",
        "",
    ])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="3 kills of a 3-trial sweep: checks the plumbing")
    p.add_argument("--keep", action="store_true", help="copy both sweep folders beside the results")
    p.add_argument("--out", type=Path, default=None, help="default: benchmarks/results (smoke: benchmarks/results/smoke)")
    args = p.parse_args(argv)
    if args.smoke:
        args.kills, args.trials, args.epochs = 3, 3, 2
    args.out = args.out or (RESULTS_DIR / "smoke" if args.smoke else RESULTS_DIR)
    return args


def main(argv: list[str] | None = None) -> dict[str, Path]:
    """Run the benchmark and write its JSON and Markdown; returns their paths."""
    args = parse_args(argv)
    result = benchmark(args)
    paths = write_results(NAME, result, markdown(result), args.out)
    print(paths["md"].read_text())
    return paths


if __name__ == "__main__":
    main()
