"""Every file and folder of a sweep folder, named in one place.

The driver writes them, the trials write their checkpoints, and export, report, ensemble, resume
and the W&B summary read them back: each takes its names from here, so a renamed file cannot leave
one reader behind. Pure path arithmetic and a YAML read; it imports nothing of hpo.

::

    <sweep>/
      config.yaml                 the resolved config the sweep ran with (CONFIG_FILE)
      hpo_version.txt             the hpo version that started it (VERSION_FILE)
      trials/                     Ray Tune's experiment folder (TRIALS_DIR); ``hpo extend`` adds
      trials-extend-<n>/          one more per extension
        pbt_policy_<id>.txt       with scheduler=pbt|pb2: Ray's record of whom trial <id> copied (PBT_POLICY_FILE)
        trial_<id>/               one trial: params.json, progress.csv, result.json, error.txt,
          checkpoint_<n>/         one evaluation's checkpoint (see "a checkpoint" below)
      leaderboard.csv, .md        every trial ranked by its best evaluation (LEADERBOARD_*)
      best/                       the winner: config.yaml, metrics.yaml, manifest.json, model/ (a clean
                                  save_pretrained folder with README.md, the model card; with LoRA: the
                                  adapters and head), merged/ (LoRA with model.lora.export_merged)
      top/rank-<n>-<id>/          the k best trials with ``hpo export --top-k`` (top_bundle), laid out like best/
      pareto/rank-<n>-<id>/       with ``sweep.objectives``, ``hpo export --pareto``: each trial on the Pareto front
      ensemble.json, .md          ``hpo ensemble``
      report/report.html          ``hpo report`` (and at the end of a W&B sweep), with one <section>.png each
      wandb/                      W&B's own run folders (WANDB_DIR)
      budget.json                 with ``sweep.budget``: the limits, what the last run spent, what stopped it
      test_scores.json            with a test split (``data.test_*``): the top trials' test metrics (TEST_SCORES_FILE)
      confirm/                    ``hpo confirm``: the top configurations retrained per seed (CONFIRM_DIR)
      confirmation.json, .md      their runs, means and bootstrap intervals (CONFIRM_JSON, CONFIRM_MD)
      optuna.journal              the trials as an Optuna study, live (STUDY_JOURNAL): optuna-dashboard, hpo dashboard
      evaluations/<bundle>/<file>/  hpo evaluate's metrics, page and predictions for one data file

    a checkpoint: save_pretrained files, hpo_checkpoint.json (metrics + config),
    eval_predictions.json, eval_report.json, training_state.pt (trials only), cv_folds.json (k-fold
    trials), domain_adaptation.json (the adapted encoder of a two-stage trial)

    ``hpo train``'s output folder: checkpoint/ (TRAIN_CHECKPOINT_DIR), metrics.jsonl, best.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from hpo.errors import ConfigError

# the sweep folder
CONFIG_FILE = "config.yaml"
VERSION_FILE = "hpo_version.txt"  # the hpo that started the sweep: hpo resume needs the same one
TRIALS_DIR = "trials"
LEADERBOARD_CSV = "leaderboard.csv"
LEADERBOARD_MD = "leaderboard.md"
BEST_DIR = "best"
TOP_DIR = "top"
PARETO_DIR = "pareto"  # hpo export --pareto: a bundle per trial on a multi-objective sweep's Pareto front
ENSEMBLE_JSON = "ensemble.json"
ENSEMBLE_MD = "ensemble.md"
REPORT_DIR = "report"
REPORT_HTML = "report.html"
WANDB_DIR = "wandb"
BUDGET_FILE = "budget.json"
TEST_SCORES_FILE = "test_scores.json"  # the top trials scored on the test split after the sweep
CONFIRM_DIR = "confirm"  # hpo confirm's Ray Tune experiment: the top configurations x seeds
CONFIRM_JSON = "confirmation.json"
CONFIRM_MD = "confirmation.md"
STUDY_JOURNAL = "optuna.journal"  # the sweep as an Optuna study, written as trials report (hpo dashboard reads it)

# an exported trial (best/, top/rank-<n>-<id>/)
EXPORT_MODEL_DIR = "model"  # a clean save_pretrained folder (no optimizer or resume state) with its model card
EXPORT_MERGED_DIR = "merged"  # a LoRA winner's adapters folded into its base (model.lora.export_merged)
METRICS_YAML = "metrics.yaml"
MODEL_CARD_FILE = "README.md"  # in model/: the model card (Hugging Face's convention: a model repo's README)
MANIFEST_FILE = "manifest.json"

# a Ray Tune trial folder
PARAMS_JSON = "params.json"
PROGRESS_CSV = "progress.csv"
PBT_POLICY_FILE = "pbt_policy_{trial_id}.txt"  # Ray Tune's, beside the trial folders: a PBT trial's lineage
RESULT_JSON = "result.json"

# a checkpoint
CHECKPOINT_METADATA_FILE = "hpo_checkpoint.json"
PREDICTIONS_FILE = "eval_predictions.json"
ANSWERS_FILE = "eval_answers.json"  # a question-answering evaluation's predicted answer per question id
GENERATIONS_FILE = "eval_generations.json"  # a chat evaluation's prompts, references and generated replies
EVAL_REPORT_FILE = "eval_report.json"
TRAINING_STATE_FILE = "training_state.pt"
CV_FILE = "cv_folds.json"
DOMAIN_ADAPTATION_FILE = "domain_adaptation.json"

# ``hpo evaluate``'s output folder (default <sweep or bundle>/evaluations/<data file stem>/), beside the saved record
EVALUATIONS_DIR = "evaluations"
EVALUATION_JSON = "evaluation.json"
EVALUATION_HTML = "evaluation.html"

# ``hpo train``'s output folder
TRAIN_CHECKPOINT_DIR = "checkpoint"
TRAIN_HISTORY_FILE = "metrics.jsonl"
TRAIN_BEST_FILE = "best.json"


def experiment_name(extension: int | None = None) -> str:
    """``trials`` for the sweep itself, ``trials-extend-<n>`` for its n-th extension."""
    return TRIALS_DIR if extension is None else f"{TRIALS_DIR}-extend-{extension}"


def top_bundle(rank: int, trial_id: str) -> str:
    """The folder of the rank-``rank`` trial under ``top/``: ``rank-<n>-<trial id>``, so it sorts and names its trial."""
    return f"rank-{rank}-{trial_id}"


def trial_name(trial: Any) -> str:
    """Short, stable names: the W&B run, the trial folder and the leaderboard all use them."""
    return f"trial_{trial.trial_id}"


def experiment_dirs(sweep_dir: str | Path) -> list[Path]:
    """The Ray Tune experiment folders of a sweep: ``trials`` and any ``trials-extend-<n>``, in order."""
    sweep_dir = Path(sweep_dir)
    extensions = sorted(sweep_dir.glob(f"{TRIALS_DIR}-extend-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    first = sweep_dir / TRIALS_DIR
    return ([first] if first.is_dir() else []) + extensions


def read_checkpoint_metadata(directory: str | Path) -> dict[str, Any]:
    """The metrics and config hpo saved beside a checkpoint's weights; empty when the folder holds none."""
    path = Path(directory) / CHECKPOINT_METADATA_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def load_sweep_config(sweep_dir: str | Path) -> dict[str, Any]:
    """The resolved config a sweep ran with, as saved in its folder.

    Raises:
        ConfigError: the folder is not a sweep folder.
    """
    path = Path(sweep_dir) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError("sweep_dir", f"not a sweep folder: {path} is missing", value=str(sweep_dir))
    return yaml.safe_load(path.read_text())
