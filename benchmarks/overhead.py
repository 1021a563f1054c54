"""Overhead: hpo's sweep driver against a plain Ray Tune script, on a trivial trainable.

The same trainable (a few milliseconds per report, a few reports per trial) runs (a) through
hpo's sweep machinery exactly as ``hpo sweep`` runs it: a config composed from hpo's Hydra files,
``prepare_resolved`` (checks, the data and tokenizer loaded once), hpo's searcher and scheduler
registries, ``hpo.search.run.sweep.run`` with its progress callback, and the export with its leaderboard
at the end; and (b) through a plain Ray Tune script as Ray's documentation writes it, with the
same searcher (Optuna TPE via Ray's ``OptunaSearch``, 4 random start-up trials, 2 at a time),
the same scheduler (ASHA) and the same trial count.

Every run is a fresh Python process (``--one``), so both pay the same imports, Ray start and
shutdown, and no state leaks from one run into the next. Runs are interleaved (plain, hpo, plain,
hpo ...) so load from other processes on the machine hits both alike. Each trial reports when
its worker process was created, when the trial function started and when it reported, so the
time between trials can be split into Ray's scheduling and the new worker's start-up.

    python -m benchmarks.overhead            # 50, 100, 200, 400 trials (benchmarks/README.md)
    python -m benchmarks.overhead --smoke    # 3 trials reused, 2 fresh: checks the plumbing
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.environment import machine, versions, write_results

NAME = "overhead"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
TRIAL_COUNTS = (50, 100, 200, 400)
SMOKE_COUNTS = (3,)  # one run per method and setting: the marginal cost is tested on summarise() alone
FRESH_COUNTS = (50, 100)  # fresh workers cost ~1.5 s a trial: fewer counts
SMOKE_FRESH_COUNTS = (2,)
# hpo's shipped default sweep (sweeps/demo.yaml) reuses trial workers: Ray's reuse_actors=True.
# Ray's own default is a fresh worker per trial (resources.reuse_workers=false in hpo).
SETTINGS = {"reused": True, "fresh": False}
METHODS = ("plain", "hpo")
LABELS = {"plain": "plain Ray Tune", "hpo": "hpo sweep"}
REPORTS = 4  # reports per trial that ASHA lets finish (ASHA's max_t)
REPORT_SECONDS = 0.005  # the trainable's "work" before each report
METRIC = "eval/accuracy"  # the demo sweep's metric, so hpo's config needs no change
MODE = "max"
MAX_CONCURRENT = 2  # hpo's searcher configs ship max_concurrent: 2; the plain script uses the same
STARTUP_TRIALS = 4  # hpo's searcher/optuna.yaml n_startup_trials
ASHA = {"max_t": REPORTS, "grace_period": 1, "reduction_factor": 2}  # explicit: the settings the published overhead runs used


# ----------------------------------------------------------------------------- the trainable


def trivial_trial(params: dict[str, Any], base_config: dict[str, Any] | None = None) -> None:
    """A few milliseconds per report; the score depends on the sampled values, so TPE has a signal.

    Each report says when the function started and when it reported (wall clock), so the time
    between one trial's end and the next one's start can be measured.
    """
    from ray import tune

    started = time.time()
    lr = float(params["trainer.learning_rate"])
    base = 1.0 - abs(_log10(lr) + 4.0) / 3.0 - float(params["trainer.weight_decay"]) - abs(float(params["trainer.warmup_ratio"]) - 0.1)
    for step in range(1, REPORTS + 1):
        time.sleep(REPORT_SECONDS)
        tune.report(
            {
                METRIC: base + 0.01 * step,
                "evaluations_planned": REPORTS,
                "bench/fn_started": started,
                "bench/reported_at": time.time(),
            }
        )


def _log10(x: float) -> float:
    import math

    return math.log10(x)


# ----------------------------------------------------------------------------- one run, in its own process


def quiet_ray_environment() -> None:
    """The environment both methods run in (hpo's ``init_ray`` sets the same for its own driver)."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


RAY_INIT = {"address": "local", "include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}


def run_plain(trials: int, seed: int, reuse: bool, out_dir: Path) -> dict[str, float]:
    """A plain Ray Tune script: OptunaSearch (TPE) with a ConcurrencyLimiter, ASHA, Ray's defaults."""
    phases: dict[str, float] = {}
    t = time.monotonic()
    import optuna
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    phases["import"] = time.monotonic() - t
    t = time.monotonic()
    ray.init(**RAY_INIT)
    phases["ray_init"] = time.monotonic() - t
    t = time.monotonic()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {
        "trainer.learning_rate": optuna.distributions.FloatDistribution(1e-5, 3e-4, log=True),
        "trainer.batch_size": optuna.distributions.CategoricalDistribution([8, 16, 32]),
        "trainer.weight_decay": optuna.distributions.FloatDistribution(0.0, 0.1, step=0.01),
        "trainer.warmup_ratio": optuna.distributions.FloatDistribution(0.0, 0.2),
    }
    sampler = optuna.samplers.TPESampler(n_startup_trials=STARTUP_TRIALS, seed=seed)
    searcher = ConcurrencyLimiter(
        OptunaSearch(space=space, metric=METRIC, mode=MODE, sampler=sampler, seed=seed), max_concurrent=MAX_CONCURRENT
    )
    tuner = tune.Tuner(
        tune.with_resources(trivial_trial, {"cpu": 1}),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode=MODE,
            search_alg=searcher,
            scheduler=ASHAScheduler(time_attr="training_iteration", **ASHA),
            num_samples=trials,
            reuse_actors=reuse,
        ),
        run_config=tune.RunConfig(name="trials", storage_path=str(out_dir)),
    )
    tuner.fit()
    phases["sweep"] = time.monotonic() - t
    save_timeline(out_dir, phases)
    t = time.monotonic()
    ray.shutdown()
    phases["ray_shutdown"] = time.monotonic() - t
    return phases


def hpo_config(trials: int, seed: int, reuse: bool, out_dir: Path) -> dict[str, Any]:
    """The default sweep's config (sweeps/demo.yaml) with the trial count, seed and worker reuse set.

    ``logger=none``: the plain script logs to no W&B either. ``model=tiny_bert``: hpo still loads
    the data and the tokenizer once before Ray starts, as ``hpo sweep`` does, but a small one.
    """
    from hpo.search.config.compose import compose_config
    from hpo.search.config.schema import resolve

    return resolve(
        compose_config(
            "demo",
            [
                "logger=none",
                "model=tiny_bert",
                "searcher=optuna",
                "scheduler=asha",
                f"scheduler.max_t={ASHA['max_t']}",
                f"scheduler.grace_period={ASHA['grace_period']}",
                f"scheduler.reduction_factor={ASHA['reduction_factor']}",
                f"searcher.n_startup_trials={STARTUP_TRIALS}",
                f"searcher.max_concurrent={MAX_CONCURRENT}",
                f"sweep.num_trials={trials}",
                f"sweep.seed={seed}",
                f"sweep.output_dir={out_dir}",
                f"resources.reuse_workers={str(reuse).lower()}",
                "resources.cpus_per_trial=1",
            ],
        )
    )


def run_hpo(trials: int, seed: int, reuse: bool, out_dir: Path) -> dict[str, float]:
    """``hpo sweep`` with the trivial trainable: prepare, run (progress lines), export, leaderboard."""
    phases: dict[str, float] = {}
    t = time.monotonic()
    from hpo.search.cli import _print_export
    from hpo.search.results.export import export
    from hpo.search.run.sweep import prepare_resolved, run

    phases["import"] = time.monotonic() - t
    t = time.monotonic()
    prepared = prepare_resolved(hpo_config(trials, seed, reuse, out_dir))
    phases["prepare"] = time.monotonic() - t
    t = time.monotonic()
    run(prepared, trainable=trivial_trial)  # starts Ray the way hpo does
    phases["sweep"] = time.monotonic() - t
    t = time.monotonic()
    _print_export(export(prepared.sweep_dir))
    phases["export"] = time.monotonic() - t
    import ray

    save_timeline(out_dir, phases)
    t = time.monotonic()
    ray.shutdown()
    phases["ray_shutdown"] = time.monotonic() - t
    return phases


def save_timeline(out_dir: Path, phases: dict[str, float]) -> None:
    """Dump Ray's task timeline (its own profile events) for :func:`actor_gaps`; the time this
    takes is recorded as its own phase and left out of the run's wall time."""
    import ray

    t = time.monotonic()
    ray.timeline(filename=str(out_dir / "timeline.json"))
    phases["timeline"] = time.monotonic() - t


def actor_gaps(timeline: list[dict[str, Any]]) -> dict[str, float | None]:
    """From Ray's timeline: a trial actor's end (``stop``) to the next actor's ``__init__``, its
    ``__init__``, and ``__init__``'s end to its first ``train`` call; medians in seconds."""
    workers: dict[str, dict[str, float]] = {}
    for e in timeline:
        w = workers.setdefault(e["tid"], {})
        ts, end = e["ts"] / 1e6, (e["ts"] + e.get("dur", 0)) / 1e6
        if e["name"] == "__init__":
            w["init"], w["init_end"] = ts, end
        elif e["name"] == "train":
            w["train"] = min(w.get("train", ts), ts)
        elif e["name"] == "stop":
            w["stop"] = max(w.get("stop", end), end)
    actors = sorted((w for w in workers.values() if {"init", "train", "stop"} <= set(w)), key=lambda w: w["init"])
    before, init, after = [], [], []
    for i, w in enumerate(actors):
        stops = [a["stop"] for a in actors[:i] if a["stop"] <= w["init"]]
        if i >= MAX_CONCURRENT and stops:
            before.append(w["init"] - max(stops))
        init.append(w["init_end"] - w["init"])
        after.append(w["train"] - w["init_end"])

    def med(xs: list[float]) -> float | None:
        return round(statistics.median(xs), 4) if xs else None

    return {"stop_to_next_init": med(before), "init": med(init), "init_to_first_train": med(after), "actors": len(actors)}


def trial_records(experiment_dir: Path) -> list[dict[str, float]]:
    """Each trial's worker-side times, from the result.json files Ray Tune wrote."""
    records = []
    for path in sorted(experiment_dir.glob("*/result.json")):
        results = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if not results:
            continue
        first, last = results[0], results[-1]
        records.append(
            {
                "pid": first.get("pid"),
                "fn_started": first["bench/fn_started"],
                "ended": last["bench/reported_at"],
                "reports": len(results),
                "time_total_s": last["time_total_s"],
            }
        )
    return records


def one_run(method: str, trials: int, seed: int, reuse: bool, result_path: Path) -> None:
    """Child-process entry point: one run of one method, its phases and trial times as JSON."""
    quiet_ray_environment()
    out_dir = Path(tempfile.mkdtemp(prefix=f"hpo-overhead-{method}-"))
    try:
        phases = (run_plain if method == "plain" else run_hpo)(trials, seed, reuse, out_dir)
        records = trial_records(out_dir / "trials")
        timeline = out_dir / "timeline.json"
        actors = actor_gaps(json.loads(timeline.read_text())) if timeline.is_file() else None
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    # the driver's peak resident memory (Linux: KiB): flat over the trial count, or something on the driver grows
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result_path.write_text(json.dumps({"phases": phases, "trials": records, "actors": actors, "driver_peak_mb": peak_mb}))


# ----------------------------------------------------------------------------- analysis


def gaps(records: list[dict[str, float]]) -> dict[str, float | None]:
    """The time between trials on one slot, medians over trials (seconds).

    For each trial but the first ``MAX_CONCURRENT``, the slot it runs in was freed by the latest
    trial that ended before it started: ``between_trials`` is that trial's last report to the new
    trial function starting. ``in_trial``: the function's own time, first report to last.
    """
    ordered = sorted(records, key=lambda r: r["fn_started"])
    between = []
    for i, rec in enumerate(ordered):
        ended = [r["ended"] for r in ordered[:i] if r["ended"] <= rec["fn_started"]]
        if i >= MAX_CONCURRENT and ended:
            between.append(rec["fn_started"] - max(ended))
    return {
        **pace(ordered),
        "between_trials": round(statistics.median(between), 4) if between else None,
        "in_trial": round(statistics.median(r["ended"] - r["fn_started"] for r in records), 4) if records else None,
        "worker_processes": len({r["pid"] for r in records}),
    }


def pace(ordered: list[dict[str, float]]) -> dict[str, float | None]:
    """Seconds per trial over the first and the last tenth of a run's trials (by start): everything a trial
    costs the sweep (scheduling, the searcher, the callbacks, the snapshots), early and late. Flat per-trial
    overhead means the two match; a cost that grows with the trials already run shows as a later tenth slower."""
    tenth = len(ordered) // 10
    if tenth < 2:
        return {"s_per_trial_first_tenth": None, "s_per_trial_last_tenth": None}
    starts = [r["fn_started"] for r in ordered]
    return {"s_per_trial_first_tenth": round((starts[tenth] - starts[0]) / tenth, 4),
            "s_per_trial_last_tenth": round((starts[-1] - starts[-1 - tenth]) / tenth, 4)}


def summarise(runs: list[dict[str, Any]], counts: list[int]) -> dict[str, Any]:
    """Median wall time per method and count, the hpo/plain ratio and the per-trial overhead.

    ``per_trial_s``: wall time over trials. ``overhead_per_trial_s``: the wall time not spent in
    the trainable's own work (reports x sleep, two trials at a time), over trials. ``marginal_s``:
    the cost of one more trial, between consecutive counts (flat overhead = constant marginal).
    """
    work = REPORTS * REPORT_SECONDS  # an upper bound: ASHA stops some trials earlier
    table: dict[str, Any] = {}
    for method in METHODS:
        rows = {}
        for n in counts:
            walls = [r["wall_s"] for r in runs if r["method"] == method and r["trials"] == n]
            if not walls:
                continue
            wall = statistics.median(walls)
            rows[str(n)] = {
                "wall_s": round(wall, 2),
                "walls_s": [round(w, 2) for w in walls],
                "sweep_s": round(statistics.median(r["phases"]["sweep"] for r in runs if r["method"] == method and r["trials"] == n), 2),
                "per_trial_s": round(wall / n, 4),
                "overhead_per_trial_s": round((wall - n * work / MAX_CONCURRENT) / n, 4),
                "driver_peak_mb": statistics.median(r.get("driver_peak_mb", math.nan) for r in runs if r["method"] == method and r["trials"] == n),
            }
        ns = [n for n in counts if str(n) in rows]
        for a, b in zip(ns, ns[1:], strict=False):
            rows[str(b)]["marginal_s"] = round((rows[str(b)]["wall_s"] - rows[str(a)]["wall_s"]) / (b - a), 4)
        table[method] = rows
    ratios = {
        str(n): round(table["hpo"][str(n)]["wall_s"] / table["plain"][str(n)]["wall_s"], 4)
        for n in counts
        if str(n) in table.get("hpo", {}) and str(n) in table.get("plain", {})
    }
    paired = {}  # ratio within each interleaved pair, robust to load that drifts over the benchmark
    for n in counts:
        pairs = [
            (h["wall_s"], p["wall_s"])
            for h in runs
            if h["method"] == "hpo" and h["trials"] == n
            for p in runs
            if p["method"] == "plain" and p["trials"] == n and p["repeat"] == h["repeat"]
        ]
        if pairs:
            paired[str(n)] = [round(h / p, 4) for h, p in pairs]
    return {"by_method": table, "ratio_hpo_over_plain": ratios, "paired_ratios": paired}


def breakdown(runs: list[dict[str, Any]], counts: list[int]) -> dict[str, Any]:
    """Median phase times and between-trial gaps per method and count."""
    result: dict[str, Any] = {}
    for method in METHODS:
        for n in counts:
            these = [r for r in runs if r["method"] == method and r["trials"] == n]
            if not these:
                continue
            keys = sorted({k for r in these for k in r["phases"]})
            result.setdefault(method, {})[str(n)] = {
                "phases_s": {k: round(statistics.median(r["phases"].get(k, 0.0) for r in these), 3) for k in keys},
                "gaps_s": _medians([r["gaps"] for r in these]),
                "actors_s": _medians([r["actors"] for r in these if r.get("actors")]),
            }
    return result


def _medians(dicts: list[dict[str, Any]]) -> dict[str, float | None]:
    """Key-wise median over dicts of numbers (None where no dict has a value)."""
    keys = sorted({k for d in dicts for k in d})
    values = {k: [d[k] for d in dicts if d.get(k) is not None] for k in keys}
    return {k: round(statistics.median(v), 4) if v else None for k, v in values.items()}


# ----------------------------------------------------------------------------- reports


def markdown(result: dict[str, Any]) -> str:
    """The Markdown report: settings, then per worker setting the wall-time table and the breakdown."""
    env = result["environment"]
    lines = [
        "# Overhead: hpo sweep against plain Ray Tune",
        "",
        f"Trivial trainable: {REPORTS} reports of {REPORT_SECONDS * 1000:.0f} ms per trial; Optuna TPE "
        f"({STARTUP_TRIALS} start-up trials, {MAX_CONCURRENT} at a time) with ASHA "
        f"(max_t {ASHA['max_t']}, grace {ASHA['grace_period']}, factor {ASHA['reduction_factor']}); seed {env['seed']}; "
        f"{env['repeats']} interleaved repeat(s) (plain, hpo, plain, hpo ...), medians shown. Each run is a fresh "
        f"process: Python start, imports, Ray start and shutdown included. Machine: {env['machine']['platform']}, "
        f"{env['machine']['cpu_count']} CPUs, shared with other engineers' tests and benchmarks while it ran "
        f"(load varies between runs; the paired ratios show it). "
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items())
        + f". Command: `{env['command']}`; {result['wall_seconds'] / 60:.1f} min.",
    ]
    for setting, part in result["settings"].items():
        lines += setting_markdown(setting, part)
    return "\n".join(lines) + "\n"


def setting_markdown(setting: str, part: dict[str, Any]) -> list[str]:
    """One worker setting: the wall-time table and where the time goes."""
    summ, counts = part["summary"], part["counts"]
    what = ("hpo `resources.reuse_workers=true` (the shipped demo sweep), Ray `reuse_actors=True`" if setting == "reused"
            else "hpo `resources.reuse_workers=false` (the base default), Ray's default `reuse_actors=False`")
    lines = [
        "",
        f"## Workers {setting}: {what}",
        "",
        "| trials | plain wall (s) | hpo wall (s) | hpo / plain | pairs hpo / plain | plain s/trial | hpo s/trial "
        "| plain marginal s/trial | hpo marginal s/trial | plain driver peak MB | hpo driver peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    bm = summ["by_method"]
    for n in map(str, counts):
        p, h = bm["plain"][n], bm["hpo"][n]
        pairs = ", ".join(f"{x:.3f}" for x in summ["paired_ratios"].get(n, []))
        lines.append(
            f"| {n} | {p['wall_s']:.1f} | {h['wall_s']:.1f} | {summ['ratio_hpo_over_plain'][n]:.3f} | {pairs} | "
            f"{p['per_trial_s']:.3f} | {h['per_trial_s']:.3f} | {_opt(p.get('marginal_s'))} | {_opt(h.get('marginal_s'))} | "
            f"{_opt(p.get('driver_peak_mb'))} | {_opt(h.get('driver_peak_mb'))} |"
        )
    lines += [
        "",
        "Where the time goes (medians, seconds): the phases of a run; the seconds per trial over the first and the last tenth of the trials (by start: flat overhead makes them equal); between two trials on one slot, the last report "
        "of the trial that ended to the next trial function's start; and from Ray's timeline, a trial actor's `stop` "
        "to the next actor's `__init__` (Tune's bookkeeping, the placement group, the raylet handing over a worker "
        "process and that process loading the actor class, which imports `ray.tune`), `__init__` itself, and "
        "`__init__` to the first `train` call.",
        "",
        "| method | trials | phases | s/trial, first tenth | s/trial, last tenth | between trials | stop to next `__init__` | `__init__` | `__init__` to `train` | in trial | worker processes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method in METHODS:
        for n in map(str, counts):
            b = part["breakdown"][method][n]
            g, a = b["gaps_s"], b["actors_s"]
            phases = ", ".join(f"{k} {v:.1f}" for k, v in b["phases_s"].items())
            lines.append(
                f"| {LABELS[method]} | {n} | {phases} | {_opt(g.get('s_per_trial_first_tenth'))} | "
                f"{_opt(g.get('s_per_trial_last_tenth'))} | {_opt(g['between_trials'])} | {_opt(a.get('stop_to_next_init'))} | "
                f"{_opt(a.get('init'))} | {_opt(a.get('init_to_first_train'))} | {_opt(g['in_trial'])} | {g['worker_processes']:.0f} |"
            )
    return lines


def _opt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def write(result: dict[str, Any], out: Path) -> dict[str, Path]:
    """JSON and Markdown into ``out``."""
    return write_results(NAME, result, markdown(result), out)


# ----------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="3 trials (fresh workers: 2), one repeat: checks the plumbing")
    p.add_argument("--trials", type=int, nargs="+", default=None, help="trial counts with reused workers; default 50 100 200 400 (smoke: 3)")
    p.add_argument("--fresh-trials", type=int, nargs="*", default=None, help="trial counts with a fresh worker per trial; default 50 100 (smoke: 2)")
    p.add_argument("--repeats", type=int, default=1, help="interleaved plain/hpo pairs per trial count")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="default: benchmarks/results (smoke: benchmarks/results/smoke)")
    p.add_argument("--one", choices=METHODS, help=argparse.SUPPRESS)  # internal: one run in this process
    p.add_argument("--reuse-workers", action="store_true", help=argparse.SUPPRESS)  # internal, with --one
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.trials = args.trials or list(SMOKE_COUNTS if args.smoke else TRIAL_COUNTS)
    args.fresh_trials = list(SMOKE_FRESH_COUNTS if args.smoke else FRESH_COUNTS) if args.fresh_trials is None else args.fresh_trials
    args.out = args.out or (RESULTS_DIR / "smoke" if args.smoke else RESULTS_DIR)
    return args


def timed_run(method: str, trials: int, seed: int, reuse: bool, log: Path) -> dict[str, Any]:
    """One run in a fresh Python process; its wall time is measured from outside (less the timeline dump)."""
    with tempfile.TemporaryDirectory() as tmp:
        result_path = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "benchmarks.overhead", "--one", method, "--trials", str(trials), "--seed", str(seed),
               "--result", str(result_path), *(["--reuse-workers"] if reuse else [])]
        started = time.monotonic()
        with open(log, "a") as f:
            f.write(f"\n==== {method} {trials} trials, reuse_workers={reuse}\n")
            f.flush()
            proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parent.parent)
        wall = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError(f"{method} with {trials} trials failed (exit {proc.returncode}); see {log}")
        child = json.loads(result_path.read_text())
    phases = {k: round(v, 3) for k, v in child["phases"].items()}
    return {"wall_s": round(wall - phases.get("timeline", 0.0), 3), "phases": phases,
            "gaps": gaps(child["trials"]), "actors": child["actors"], "trials_run": len(child["trials"]),
            "driver_peak_mb": round(child["driver_peak_mb"], 1)}


def command() -> str:
    """The command line that ran this benchmark (``benchmarks.run_all`` passes its arguments on)."""
    module = Path(sys.argv[0]).stem
    module = "benchmarks" if module == "__main__" and Path(sys.argv[0]).parent.name == "benchmarks" else f"benchmarks.{module}"
    return " ".join([f"python -m {module}", *sys.argv[1:]])


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Every setting and count, plain then hpo, repeated; returns the result :func:`write` saves."""
    args.out.mkdir(parents=True, exist_ok=True)
    log = Path(tempfile.gettempdir()) / f"hpo-{NAME}.log"  # every run's output; not a result to keep
    log.write_text("")
    print(f"run output: {log}", flush=True)
    plan = {"reused": args.trials, "fresh": args.fresh_trials}
    runs: list[dict[str, Any]] = []
    started = time.monotonic()
    for repeat in range(args.repeats):
        for setting, counts in plan.items():
            for n in counts:
                for method in METHODS:
                    run = {"method": method, "workers": setting, "trials": n, "repeat": repeat,
                           **timed_run(method, n, args.seed, SETTINGS[setting], log)}
                    runs.append(run)
                    print(f"[{time.monotonic() - started:6.0f}s] repeat {repeat} workers {setting:<6} {method:<5} {n:4d} trials: "
                          f"{run['wall_s']:7.1f}s ({run['wall_s'] / n:.3f} s/trial)", flush=True)
    settings = {}
    for setting, counts in plan.items():
        these = [r for r in runs if r["workers"] == setting]
        if counts:
            settings[setting] = {"counts": counts, "summary": summarise(these, counts), "breakdown": breakdown(these, counts)}
    return {
        "benchmark": NAME,
        "environment": {
            "machine": machine(),
            "versions": versions("hpo", "ray", "optuna"),
            "seed": args.seed,
            "repeats": args.repeats,
            "reports_per_trial": REPORTS,
            "report_seconds": REPORT_SECONDS,
            "max_concurrent": MAX_CONCURRENT,
            "optuna_startup_trials": STARTUP_TRIALS,
            "asha": ASHA,
            "smoke": args.smoke,
            "command": command(),
        },
        "settings": settings,
        "runs": runs,
        "wall_seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Path] | None:
    """Run the benchmark and write its JSON and Markdown; returns their paths."""
    args = parse_args(argv)
    if args.one:
        one_run(args.one, args.trials[0], args.seed, args.reuse_workers, args.result)
        return None
    paths = write(benchmark(args), args.out)
    print(paths["md"].read_text())
    return paths


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
