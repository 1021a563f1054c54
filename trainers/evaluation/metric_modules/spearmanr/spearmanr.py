"""hpo's local copy of the `spearmanr` metric for `evaluate.load(path)`: works offline, same API as the Hub's."""

import datasets
import evaluate
from scipy.stats import spearmanr

_DESCRIPTION = "Spearman rank correlation between predicted and reference values (regression); NaN when either is constant."


class Spearmanr(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description="predictions and references: lists of floats",
            features=datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}),
            reference_urls=["https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.spearmanr.html"],
        )

    def _compute(self, predictions, references):
        if len(set(predictions)) < 2 or len(set(references)) < 2:
            return {"spearmanr": float("nan")}
        return {"spearmanr": float(spearmanr(references, predictions)[0])}
