"""``hpo report`` of the session's shared CLI sweep (tests/small_sweep.py: tiny BERT on an SST-2 slice, Optuna + ASHA,
eval/loss minimised), read back as a user would.

Every section's PNG must exist and show something, the HTML must carry every section with its
image embedded, the numbers must match what the trials saved, and the page must render in
headless Chromium when one is installed.
"""

from __future__ import annotations

import base64
import contextlib
import html
import importlib.util
import io
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from hpo.search.results.report import build_report
from hpo.search.results.report_data import load_sweep, param_importances, read_history, text_stats
from tests.small_sweep import METRIC, MODE, NUM_TRIALS, copy_sweep, small_sweep  # noqa: F401

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "screenshot_report.py"
# the sections the HTML shows as interactive Plotly figures (their PNGs are still written, for W&B)
FIGURES = ("history", "parallel_coordinates", "importance", "slices", "learning_curves", "confusion_matrix", "roc", "precision_recall")
SECTIONS = {
    "history": "Optimisation history", "parallel_coordinates": "Parallel coordinates",
    "importance": "Hyperparameter importance", "slices": "Slice plots", "learning_curves": "Learning curves",
    "fitting": "Fitting diagnosis", "confusion_matrix": "Confusion matrix", "roc": "ROC curves",
    "precision_recall": "Precision-recall curves", "per_class": "Per-class report", "class_balance": "Class balance",
    "text_lengths": "Text length", "top_words": "Most frequent words", "wordcloud": "Word cloud", "topics": "Topics",
}


@pytest.fixture(scope="module")
def sweep(small_sweep, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A copy of the shared sweep without the report ``hpo sweep`` wrote at its end: this module builds
    its own there, and the shared sweep's report/ stays as the sweep left it for its other readers."""
    return copy_sweep(small_sweep, tmp_path_factory.mktemp("report") / "sweep", ignore=("report",))


@dataclass
class CliReport:
    """What ``hpo report <sweep>`` printed, and the files it wrote (section -> PNG, ``html`` -> the page)."""

    printed: list[str]
    paths: dict[str, Path]


@pytest.fixture(scope="module")
def cli_report(sweep: Path) -> CliReport:
    """The report as a user builds it, ``hpo report <sweep>``: built once, read by every test here."""
    from hpo.search.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["report", str(sweep)]) == 0
    folder = sweep / "report"
    paths = {png.stem: png for png in folder.glob("*.png")}
    return CliReport(out.getvalue().strip().splitlines(), {**paths, "html": folder / "report.html"})


@pytest.fixture(scope="module")
def report(cli_report: CliReport) -> dict[str, Path]:
    return cli_report.paths


def _tables(page: str, section: str) -> list[list[list[str]]]:
    """The HTML tables of one section, as rows of cell texts."""
    body = page.split(f'<section id="{section}">', 1)[1].split("</section>", 1)[0]
    return [
        [[html.unescape(c) for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", row)] for row in re.findall(r"<tr>(.*?)</tr>", table)]
        for table in re.findall(r"<table>(.*?)</table>", body)
    ]


def test_every_section_has_a_non_trivial_png(sweep: Path, report: dict[str, Path], small_sweep) -> None:  # noqa: F811
    assert set(report) == {*SECTIONS, "html"}
    assert report["html"] == sweep / "report" / "report.html"
    # the report that ``hpo sweep`` itself wrote at its end has the same sections
    assert {png.stem for png in (small_sweep.sweep_dir / "report").glob("*.png")} == set(SECTIONS)
    assert (small_sweep.sweep_dir / "report" / "report.html").is_file()
    for key, png in report.items():
        if key == "html":
            continue
        assert png.parent == sweep / "report" and png.suffix == ".png", key
        image = np.asarray(Image.open(png).convert("L"), dtype=float)
        assert image.shape[0] >= 150 and image.shape[1] >= 300, (key, image.shape)
        assert image.std() > 5, f"{key} is blank"


def test_html_is_self_contained_with_every_section_and_image(report: dict[str, Path]) -> None:
    page = report["html"].read_text()
    for key, title in SECTIONS.items():
        assert f'<section id="{key}"><h3>{title}</h3>' in page
    assert "Nothing to show" not in page
    for key in FIGURES:  # interactive: Plotly figures drawn by the plotly.js inlined once in the page
        body = page.split(f'<section id="{key}">', 1)[1].split("</section>", 1)[0]
        assert f'<div id="figure-{key}"' in body and "<img" not in body, key
    assert page.count("Plotly.newPlot") >= len(FIGURES) and page.count("plotly.js v") == 1
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    # the other sections stay PNGs; the per-class report is an HTML table, not an image
    assert len(images) == len(SECTIONS) - 1 - len(FIGURES)
    for encoded in images:
        Image.open(io.BytesIO(base64.b64decode(encoded))).verify()
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)  # plotly.js's own code holds URL strings
    assert not re.search(r'(src|href)="(https?:|//)', markup) and "<script src" not in page and "<link" not in markup
    # every table (the leaderboard is wider than the page) scrolls in its own box instead of being cut;
    # the leaderboard sorts by a column when its heading is clicked
    assert page.count("<table") == page.count('<div class="scroll"><table') >= 5
    assert "overflow-x: auto" in page and page.count('<table class="sortable"') == 1 and 'closest("table.sortable th")' in page
    best = yaml.safe_load((report["html"].parents[1] / "best" / "metrics.yaml").read_text())
    assert f"metric {METRIC} ({MODE})" in page
    assert f"best {METRIC} = {best['metrics'][METRIC]:.4g} (trial {best['trial_id']})" in page
    # and on the test split that no trial saw, with the leaderboard's test column
    assert f"on 872 test rows test/loss = {best['test_metrics']['test/loss']:.4g}" in page
    assert "<th>test/loss</th>" in page


def test_best_trial_sections_match_its_saved_report(sweep: Path, report: dict[str, Path]) -> None:
    page = report["html"].read_text()
    saved = json.loads((sweep / "best" / "model" / "eval_report.json").read_text())
    best_trial = yaml.safe_load((sweep / "best" / "metrics.yaml").read_text())["trial_id"]
    assert f"trial {best_trial}" in page.split('<section id="confusion_matrix">', 1)[1]
    matrix = _tables(page, "confusion_matrix")[0]
    assert matrix[0] == ["true \\ predicted", *saved["labels"]]
    assert [[int(v) for v in row[1:]] for row in matrix[1:]] == saved["confusion_matrix"]
    predictions = json.loads((sweep / "best" / "model" / "eval_predictions.json").read_text())
    counts = np.zeros((2, 2), dtype=int)
    np.add.at(counts, (predictions["references"], predictions["predictions"]), 1)
    assert counts.tolist() == saved["confusion_matrix"]
    per_class = {row[0]: row[1:] for row in _tables(page, "per_class")[0][1:]}
    for name in saved["labels"]:
        assert float(per_class[name][2]) == pytest.approx(saved["per_class"][name]["f1-score"], abs=5e-4)


def test_importance_covers_every_searched_hyperparameter(sweep: Path, report: dict[str, Path]) -> None:
    data = load_sweep(sweep)
    searched = set(data.distributions)
    assert searched == {"trainer.learning_rate", "trainer.batch_size", "trainer.weight_decay", "trainer.warmup_ratio"}
    values, note = param_importances(data)
    # fed by the finished trials when at least three finished (which ones depends on ASHA), else by every trial
    finished = [t for t in data.trials if t.record.status == "finished"]
    used = finished if len(finished) >= 3 else data.trials
    assert note.startswith(f"{len(finished)} finished trials" if len(finished) >= 3 else f"only {len(finished)} trial(s) finished")
    varying = {k for k in searched if len({repr(t.record.params[k]) for t in used}) > 1}
    assert {"trainer.learning_rate", "trainer.warmup_ratio"} <= varying  # continuous: no two trials share a value
    assert set(values) == varying and sum(values.values()) == pytest.approx(1.0)
    shown = {row[0] for row in _tables(report["html"].read_text(), "importance")[0][1:]}
    assert shown == varying


def test_learning_curves_and_fitting_cover_every_trial(sweep: Path, report: dict[str, Path]) -> None:
    page = report["html"].read_text()
    data = load_sweep(sweep)
    assert len(data.trials) == NUM_TRIALS
    stopped = [t for t in data.trials if t.record.status == "stopped"]
    assert f"stopped</code>: {len(stopped)} of {NUM_TRIALS}" in page
    assert all(t.stop_cause == "ASHA" and len(t.history) < t.history["evaluations_planned"].iloc[-1] for t in stopped)
    for t in data.trials:  # the curves are the results Ray read with the records, the same as each trial's progress.csv
        columns = ["training_iteration", "epoch", "train/loss", "eval/loss", "eval/accuracy"]
        pd.testing.assert_frame_equal(t.history[columns], read_history(t.record.path)[columns], check_dtype=False)
    fitting = _tables(page, "fitting")[0]
    assert {row[0] for row in fitting[1:]} == {t.trial_id for t in data.trials}
    assert all(row[2] in {"fine", "over-fitting", "under-fitting"} and row[6] for row in fitting[1:])


def test_data_sections_explore_the_rows_the_trials_trained_on(sweep: Path) -> None:
    data = load_sweep(sweep)
    stats = text_stats(data.cfg["data"], seed=data.cfg["sweep"]["seed"])
    best = data.records[0].best
    assert sum(stats.train_counts) == best["data/train_rows"] and sum(stats.eval_counts) == best["data/eval_rows"]
    assert stats.label_names == ["0", "1"] and min(stats.train_counts) > 0
    assert len(stats.top_words) == 20 and stats.top_words[0][1] >= stats.top_words[-1][1]
    assert len(stats.topics) >= 2 and all(len(topic) == 8 for topic in stats.topics)


def test_max_mode_metric_and_missing_probabilities_are_reported_not_crashed(sweep: Path, tmp_path: Path) -> None:
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy, ignore=shutil.ignore_patterns("report"))
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    assert cfg["sweep"]["mode"] == "min"  # the sweep minimised eval/loss; report it as maximising accuracy
    cfg["sweep"].update(metric="eval/accuracy", mode="max")
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    for file in copy.rglob("eval_predictions.json"):
        file.unlink()
    paths = build_report(copy, tmp_path / "out")
    assert paths["html"] == tmp_path / "out" / "report.html"
    assert "roc" not in paths and "precision_recall" not in paths
    page = paths["html"].read_text()
    assert page.count("Nothing to show: the best checkpoint") == 2
    data = load_sweep(copy)
    highest = max(r.best["eval/accuracy"] for r in data.records)
    assert data.records[0].best["eval/accuracy"] == highest
    assert f"best eval/accuracy = {highest:.4g} (trial {data.records[0].trial_id})" in page
    assert {"history", "confusion_matrix", "learning_curves", "wordcloud"} <= set(paths)


def test_hpo_report_cli_prints_the_html_path(cli_report: CliReport, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hpo.search.cli import main

    assert cli_report.printed[-1] == str(cli_report.paths["html"]) and cli_report.paths["html"].is_file()
    assert main(["report", str(tmp_path / "not-a-sweep")]) == 2
    assert "not a sweep folder" in capsys.readouterr().err


def test_report_renders_in_headless_chromium(report: dict[str, Path], tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("screenshot_report", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    if script.find_chromium() is None:
        pytest.skip("no Chromium installed (apt-get install chromium); the screenshot check needs one")
    shot = tmp_path / "report.png"
    proc = subprocess.run([sys.executable, str(SCRIPT), str(report["html"]), "--out", str(shot), "--height", "4000", "--wait-ms", "3000"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert image.shape[:2] == (4000, 1400)
    # the embedded plots were painted: the page's own text and links are grey, black or a little blue,
    # so coloured pixels come from the images (about 1% of this crop with them, 0.04% without)
    saturated = (image.max(axis=2) - image.min(axis=2)) > 80
    assert saturated.mean() > 0.003
