"""What ``hpo evaluate`` writes: the metrics on the file (``evaluation.json``) and a self-contained page
(``evaluation.html``) with the report's per-example sections (confusion matrix, ROC, precision-recall,
per-class report, generated replies) for that file's rows."""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from hpo.layout import EVAL_REPORT_FILE, EVALUATION_HTML, EVALUATION_JSON, PREDICTIONS_FILE
from hpo.search.results.report import prediction_sections, section_html
from hpo.search.results.report_data import BestTrial
from hpo.search.results.report_figures import plotly_script
from hpo.search.results.report_style import CSS


def write_evaluation(out_dir: Path, model_label: str, model_dir: Path, task: str, data_file: str,
                     rows: int, metrics: dict[str, float]) -> dict[str, Path]:
    """``evaluation.json`` and ``evaluation.html`` in ``out_dir`` (which already holds the saved
    per-example record); returns section name -> PNG for the drawn sections, plus ``json`` and ``html``."""
    summary: dict[str, Any] = {"model": model_label, "model_dir": str(model_dir), "task": task, "data": data_file,
                               "rows": rows, "metrics": metrics, "evaluated_at": datetime.now().isoformat(timespec="seconds")}
    (out_dir / EVALUATION_JSON).write_text(json.dumps(summary, indent=2) + "\n")
    scored = BestTrial(model_label, out_dir, _read(out_dir / PREDICTIONS_FILE), _read(out_dir / EVAL_REPORT_FILE))
    sections = prediction_sections(scored, f"the model on {Path(data_file).name}", task, out_dir, group="")
    table = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4g}</td></tr>" for k, v in sorted(metrics.items()))
    page = out_dir / EVALUATION_HTML
    page.write_text("\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>hpo evaluate: {html.escape(Path(data_file).name)}</title><style>{CSS}</style>",
        plotly_script() if any(s.figure for s in sections) else "", "</head><body>",
        f"<h1>Evaluation on {html.escape(Path(data_file).name)}</h1>",
        f'<p class="meta">{html.escape(model_label)} ({html.escape(str(model_dir))}) · task {html.escape(task)} · '
        f"{rows} rows of {html.escape(data_file)} · written {datetime.now():%Y-%m-%d %H:%M}</p>",
        f"<h2>Metrics</h2><table><tbody>{table}</tbody></table>",
        *(section_html(s) for s in sections),
        "</body></html>",
    ]))
    paths = {s.key: s.png for s in sections if s.png is not None}
    return {**paths, "json": out_dir / EVALUATION_JSON, "html": page}


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None
