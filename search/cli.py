"""The ``hpo`` command: sweep, export and train.

Bad input ends in one paragraph on stderr and exit status 2, never a traceback: users fix a
key, not read a stack. Each command imports its modules inside itself, so ``hpo --help`` and the
commands that only read a sweep folder never pay for importing Ray, torch or transformers.
"""

from __future__ import annotations

import argparse
import errno
import sys
import warnings
from datetime import datetime
from pathlib import Path

from hpo.errors import ConfigError
from hpo.layout import CONFIG_FILE, EXPORT_MODEL_DIR, LEADERBOARD_MD, TRAIN_CHECKPOINT_DIR
from hpo.search.cli_model import cmd_evaluate, cmd_predict

SWEEP_USAGE = """usage: hpo sweep [--config-name NAME|PATH.yaml] [key=value ...]

Run a sweep composed by Hydra from a file in sweeps/ (default: demo) and the config groups
below; any key can be overridden, e.g.

  hpo sweep searcher=random scheduler=fifo sweep.num_trials=4 trainer.epochs=2
  hpo sweep --config-name rte_grid trainer.batch_size=32
  hpo sweep search_space.trainer.learning_rate.high=1e-3

Results go to sweep.output_dir; at the end the leaderboard is printed and best/ exported.
"""


def _sweep_help() -> str:
    from hpo.search.config.compose import available_sweeps, group_options

    lines = [SWEEP_USAGE, "Config groups (group=option):"]
    for group, options in group_options().items():
        lines.append(f"  {group:<13} {', '.join(options)}")
    lines.append(f"\nSweeps (--config-name): {', '.join(available_sweeps())}")
    return "\n".join(lines)


def cmd_sweep(args: list[str]) -> int:
    from hpo.search.config.compose import DEFAULT_SWEEP

    parser = argparse.ArgumentParser(prog="hpo sweep", add_help=False)
    parser.add_argument("--config-name", "-cn", default=DEFAULT_SWEEP)
    parser.add_argument("--help", "-h", action="store_true")
    parser.add_argument("overrides", nargs="*")
    ns = parser.parse_args(args)
    if ns.help:
        print(_sweep_help())
        return 0
    from hpo.search.run.sweep import prepare, run

    prepared = prepare(ns.config_name, ns.overrides)
    cfg = prepared.config
    print(
        f"hpo: sweep {cfg['sweep']['name']}: {cfg['model']['name']} on {cfg['data']['name']}, "
        f"searcher {cfg['searcher']['name']}, scheduler {cfg['scheduler']['name']}, "
        f"{prepared.search.num_samples if cfg['searcher']['name'] != 'grid' else 'grid of'} "
        f"{'trials' if cfg['searcher']['name'] != 'grid' else _grid_count(prepared)}, "
        f"metric {cfg['sweep']['metric']} ({cfg['sweep']['mode']})\n"
        f"hpo: output {prepared.sweep_dir}",
        flush=True,
    )
    sweep_dir = run(prepared)
    if cfg["sweep"]["confirm_top_k"]:  # the sweep option of hpo confirm: the top configurations over seeds
        _confirm(sweep_dir, cfg["sweep"]["confirm_top_k"], cfg["sweep"]["confirm_seeds"])
    _finish(sweep_dir)
    return 0


def _confirm(sweep_dir: Path, top_k: int, seeds: int) -> None:
    """Retrain the sweep's top ``top_k`` configurations with ``seeds`` seeds and rank them by their mean."""
    from hpo.search.results.confirmation import write_confirmation
    from hpo.search.results.confirmation_summary import summarise_confirmation
    from hpo.search.results.export import check_top_k
    from hpo.search.results.records import read_results
    from hpo.search.run.confirm import confirm

    evaluated = read_results(sweep_dir).evaluated
    check_top_k(top_k, len(evaluated), "trials with an evaluation")
    print(f"hpo: confirming the top {top_k} configurations with {seeds} seeds each", flush=True)
    confirm(sweep_dir, [(r.trial_id, r.params) for r in evaluated[:top_k]], seeds)
    confirmation = summarise_confirmation(read_results(sweep_dir))
    _, md_path = write_confirmation(sweep_dir, confirmation)
    print(md_path.read_text() + f"Written: {md_path}", flush=True)


def _finish(sweep_dir: Path) -> None:
    """After a sweep, resume or extend: the trials read once, the top trials scored on the test split
    (when the data has one), then export (printed), the report and the W&B sweep-summary run, each
    from those same results.

    The report is built when the sweep logs to W&B, whose summary run shows its plots; other sweeps
    skip its cost (the dataset loaded again, the plots drawn) and get one from ``hpo report``.
    """
    from hpo.search.results.export import export
    from hpo.search.results.records import read_results
    from hpo.search.results.test_scoring import score_top_trials
    from hpo.search.results.wandb_summary import log_sweep_summary, summary_destination

    results = read_results(sweep_dir)
    if score_top_trials(results) is not None:
        print(f"hpo: scored the top {len(results.test_scores.trials)} trials on the test split ({results.test_scores.test_rows} rows)")
    summary = export(results)
    _print_export(summary)
    if summary_destination(results.config) is None:
        return
    from hpo.search.results.report import try_build_report

    report = try_build_report(results)
    run = log_sweep_summary(results, summary, report)
    if run is not None:
        print(f"W&B sweep summary: {run.path or run.local_dir} ({run.report_note})")


def _grid_count(prepared) -> str:
    from hpo.search.algorithms.space import grid_size

    return f"{grid_size(prepared.params)} trials"


def _print_export(summary) -> None:
    print(f"\nLeaderboard ({summary.sweep_dir / LEADERBOARD_MD}):\n")
    print(summary.leaderboard)
    if summary.best_dir is None:
        print("hpo: no trial produced an evaluation; nothing exported.")
        return
    print(f"Best trial: {summary.best.trial_id}")
    print(f"Best config: {summary.best_dir / CONFIG_FILE}")
    if (summary.best_dir / EXPORT_MODEL_DIR).is_dir():
        print(f"Best model: {summary.best_dir / EXPORT_MODEL_DIR} (save_pretrained folder with its model card)")
    print(f"Retrain it: hpo train --config {summary.best_dir / CONFIG_FILE}")
    for directory in summary.top_dirs:
        print(f"Top: {directory}")
    for directory in summary.pareto_dirs:
        print(f"Pareto front: {directory}")


def cmd_export(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hpo export",
        description="Write the leaderboard and best/ (config, checkpoint, manifest) of a sweep folder.",
    )
    parser.add_argument("sweep_dir")
    parser.add_argument("--top-k", type=int, default=None, help="also write top/rank-<n>-<trial>/ for the K best trials")
    parser.add_argument("--merged", action="store_true",
                        help="LoRA sweeps: also write merged/, the adapters folded into the base (model.lora.export_merged)")
    parser.add_argument("--push-to-hub", metavar="REPO", default=None,
                        help="then upload best/model/ (with its card) to the Hugging Face Hub repo REPO (needs a token "
                        "from `hf auth login` or HF_TOKEN, and a network)")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private")
    parser.add_argument("--pareto", action="store_true",
                        help="multi-objective sweeps (sweep.objectives): also write pareto/rank-<n>-<trial>/ for each trial on the front")
    ns = parser.parse_args(args)
    from hpo.search.results.export import export
    from hpo.search.results.hub import check_can_push, push_to_hub
    from hpo.search.results.records import read_results

    if ns.push_to_hub:
        check_can_push(ns.push_to_hub)  # before any export work: offline or no token is said first
    results = read_results(ns.sweep_dir)
    if ns.merged:
        results.config["model"]["lora"]["export_merged"] = True
    summary = export(results, top_k=ns.top_k, pareto=ns.pareto)
    _print_export(summary)
    if ns.push_to_hub and summary.best_dir is not None:
        print(f"Pushed: {push_to_hub(summary.best_dir / EXPORT_MODEL_DIR, ns.push_to_hub, ns.private)}")
    return 0


def cmd_report(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hpo report",
        description="Write a visual report of a sweep folder: PNGs and one self-contained HTML file "
        "(history, importance, learning curves, fitting, the best trial's curves, the data).",
    )
    parser.add_argument("sweep_dir")
    parser.add_argument("--out", default=None, help="default: <sweep dir>/report/")
    ns = parser.parse_args(args)
    from hpo.search.results.report import build_report

    print(build_report(ns.sweep_dir, ns.out)["html"])
    return 0


def cmd_resume(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hpo resume",
        description="Finish a sweep whose driver was interrupted: finished trials are kept, interrupted ones "
        "continue from their latest checkpoint, the searcher's state comes back.",
    )
    parser.add_argument("sweep_dir")
    parser.add_argument("--address", default=None,
                        help="continue on this Ray cluster (host:port, auto) instead of the one the sweep was started on")
    ns = parser.parse_args(args)
    from hpo.search.run.resume import resume

    _finish(resume(ns.sweep_dir, address=ns.address))
    return 0


def cmd_extend(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hpo extend",
        description="Add trials to a finished sweep; the Optuna searcher is warm-started from the earlier trials.",
    )
    parser.add_argument("sweep_dir")
    parser.add_argument("--trials", type=int, required=True, help="how many trials to add")
    ns = parser.parse_args(args)
    from hpo.layout import load_sweep_config
    from hpo.search.results.records import evaluated_history
    from hpo.search.run.resume import check_same_version, extend

    load_sweep_config(ns.sweep_dir)  # not a sweep folder, or another hpo's: said before the trials are read
    check_same_version(Path(ns.sweep_dir).resolve())
    _finish(extend(ns.sweep_dir, ns.trials, evaluated_history(ns.sweep_dir)))
    return 0


def cmd_confirm(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hpo confirm",
        description="Retrain a finished sweep's top-k configurations with several seeds each (one more Ray Tune "
        "experiment, <sweep dir>/confirm/), rank them by their mean with a 95%% bootstrap interval "
        "(confirmation.json, .md) and export the best mean as best/.",
    )
    parser.add_argument("sweep_dir")
    parser.add_argument("--top-k", type=int, default=3, help="how many of the best configurations (default 3)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per configuration, seeds 0..S-1 (default 3)")
    ns = parser.parse_args(args)
    sweep_dir = Path(ns.sweep_dir).resolve()
    _confirm(sweep_dir, ns.top_k, ns.seeds)
    _finish(sweep_dir)
    return 0


def cmd_ensemble(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hpo ensemble",
        description="Average the class probabilities the top-k trials' best checkpoints saved on the evaluation "
        "data, and compare the ensemble with the best single model (writes ensemble.json and ensemble.md).",
    )
    parser.add_argument("sweep_dir")
    parser.add_argument("--top-k", type=int, required=True, help="how many of the best trials to average")
    ns = parser.parse_args(args)
    from hpo.search.results.ensemble import ensemble, markdown_report, write_ensemble

    result = ensemble(ns.sweep_dir, ns.top_k)
    json_path, md_path = write_ensemble(ns.sweep_dir, result)
    print(markdown_report(result))
    print(f"Written: {json_path}, {md_path}")
    return 0


def cmd_train(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hpo train",
        description="Fine-tune once with a config file (e.g. a sweep's best/config.yaml), outside Ray.",
    )
    parser.add_argument("--config", required=True, help="a YAML config, e.g. outputs/<sweep>/<time>/best/config.yaml")
    parser.add_argument("--output-dir", default=None, help="default: outputs/train/<sweep name>/<time>")
    parser.add_argument("overrides", nargs="*", help="key=value overrides")
    ns = parser.parse_args(args)
    from hpo.search.config.checks import check
    from hpo.search.config.compose import compose_config
    from hpo.search.config.schema import resolve
    from hpo.search.run.sweep import check_inputs
    from hpo.trainers.runs.train import train

    cfg = resolve(compose_config(ns.config, ns.overrides))
    check(cfg)
    check_inputs(cfg)
    output = Path(ns.output_dir or f"outputs/train/{cfg['sweep']['name']}/{datetime.now():%Y-%m-%d_%H-%M-%S}").resolve()
    print(f"hpo: training {cfg['model']['name']} on {cfg['data']['name']} -> {output}", flush=True)
    result = train(cfg, output)
    metric = cfg["sweep"]["metric"]
    print(f"Best {metric}: {result.best[metric]:.4f} at epoch {result.best['epoch']:.2f}")
    print(f"Checkpoint: {output / TRAIN_CHECKPOINT_DIR}")
    return 0


def cmd_dashboard(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hpo dashboard",
        description="Serve optuna-dashboard on the sweep's study (<sweep dir>/optuna.journal, written as trials report): "
        "history, parallel coordinates, importance, each trial's intermediate values; live while the sweep runs.",
    )
    parser.add_argument("sweep_dir")
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    parser.add_argument("--port", type=int, default=8080)
    ns = parser.parse_args(args)
    from hpo.search.run.dashboard import serve

    serve(ns.sweep_dir, ns.host, ns.port)
    return 0


COMMANDS = {"sweep": cmd_sweep, "resume": cmd_resume, "extend": cmd_extend, "confirm": cmd_confirm, "export": cmd_export,
            "report": cmd_report, "ensemble": cmd_ensemble, "train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
            "dashboard": cmd_dashboard}
USAGE = """usage: hpo <command> [args]

commands:
  sweep    run a hyperparameter sweep (hpo sweep --help lists the config groups)
  resume   finish a sweep whose driver was interrupted (hpo resume <sweep dir>)
  extend   add trials to a finished sweep (hpo extend <sweep dir> --trials N)
  confirm  retrain the top-k configurations with S seeds, rank by the mean (hpo confirm <sweep dir> --top-k K --seeds S)
  export   write the leaderboard and best/ of a sweep folder (--top-k K: also top/)
  report   a visual report of a sweep folder: PNGs and one HTML file (hpo report <sweep dir> [--out DIR])
  ensemble average the top-k trials' predicted probabilities (hpo ensemble <sweep dir> --top-k K)
  train    fine-tune once from a config file, e.g. a sweep's best/config.yaml
  evaluate score a trained model on a labelled file (hpo evaluate <sweep dir | model dir> --data FILE)
  predict  predictions for every row of a file (hpo predict <sweep dir | model dir> --data FILE --out FILE.csv|.jsonl)
  dashboard  optuna-dashboard on a sweep's study, live while it runs (hpo dashboard <sweep dir> [--port 8080])
"""


STORAGE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)  # a full, read-only or forbidden disk


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"hpo: error: unknown command {command!r}. Valid commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        return COMMANDS[command](rest)
    except ConfigError as exc:
        print(f"hpo: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in STORAGE_ERRORS:
            raise
        # the disk filled up or became read-only mid-command: what was written stays; say where and what to do
        print(f"hpo: error: {exc.filename or 'the output folder'}: {exc.strerror}. The results written before this "
              "are intact; free space (or make it writable), then `hpo resume <sweep dir>` continues a sweep", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hpo: interrupted; results so far are in the sweep folder", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
