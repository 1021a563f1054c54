"""The ``hpo`` commands that use a trained model: ``evaluate`` on a labelled file, ``predict`` on any file.

Both take a sweep folder (its winner), an exported bundle, its ``model/`` folder, a trial's
checkpoint or ``hpo train``'s output (``hpo.search.results.model_source``), and read the file
with the model's own data settings unless ``data.<key>=<value>`` overrides say otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hpo.layout import EVALUATIONS_DIR


def cmd_evaluate(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hpo evaluate",
        description="Score a trained model on a labelled data file, as the sweep scored its trials: metrics "
        "(evaluation.json) and the per-example sections of the report (evaluation.html: confusion matrix, "
        "ROC/PR, per-class report), with the saved predictions.",
    )
    parser.add_argument("model", help="a sweep folder (its best trial), an exported bundle or model folder, a checkpoint")
    parser.add_argument("--data", required=True, help="a data file in the model's data format, with its label column")
    parser.add_argument("--out", default=None, help=f"default: <sweep>/{EVALUATIONS_DIR}/<bundle>/<data file name>/")
    parser.add_argument("overrides", nargs="*", help="data.<key>=<value>, e.g. data.text_column=review")
    ns = parser.parse_intermixed_args(args)  # overrides before or after the options
    from hpo.search.results.evaluation_page import write_evaluation
    from hpo.search.results.model_source import resolve_model_source, with_data_file

    source = resolve_model_source(ns.model)
    config = with_data_file(source.config, ns.data, ns.overrides)
    out = Path(ns.out).expanduser().resolve() if ns.out else source.evaluations_dir(ns.data)
    print(f"hpo: evaluating {source.label} ({source.task}) on {config['data']['test_path']}", flush=True)
    from hpo.trainers.runs.evaluate_file import evaluate_file  # torch and transformers: only now

    result = evaluate_file(config, source.model_dir, out)
    paths = write_evaluation(out, source.label, source.model_dir, source.task, config["data"]["test_path"], result.rows, result.metrics)
    print(f"\n{result.rows} rows:")
    for key, value in sorted(result.metrics.items()):
        print(f"  {key:<28} {value:.4f}")
    print(f"Written: {paths['json']}, {paths['html']}")
    return 0


def cmd_predict(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hpo predict",
        description="Batch inference on a data file with a trained model: one output row per input row, in order, "
        "with the input's columns and the predictions (labels with probabilities, values, answers, replies).",
    )
    parser.add_argument("model", help="a sweep folder (its best trial), an exported bundle or model folder, a checkpoint")
    parser.add_argument("--data", required=True, help="a data file in the model's data format (labels not needed)")
    parser.add_argument("--out", required=True, help="the output file: .csv or .jsonl")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("overrides", nargs="*", help="data.<key>=<value>, e.g. data.text_column=review")
    ns = parser.parse_intermixed_args(args)  # overrides before or after the options
    from hpo.search.results.model_source import check_prediction_file, resolve_model_source, with_data_file

    out = check_prediction_file(ns.out)
    source = resolve_model_source(ns.model)
    config = with_data_file(source.config, ns.data, ns.overrides)
    print(f"hpo: predicting with {source.label} ({source.task}) on {config['data']['test_path']}", flush=True)
    from hpo.trainers.runs.predict_file import predict_file  # torch and transformers: only now

    rows = predict_file(config, source.model_dir, config["data"]["test_path"], out, batch_size=ns.batch_size)
    print(f"Written: {out} ({rows} rows)")
    return 0
