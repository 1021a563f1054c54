"""hpo's local copy of the `mse` metric for `evaluate.load(path)`: works offline, same API as the Hub's."""

import datasets
import evaluate
from sklearn.metrics import mean_squared_error

_DESCRIPTION = "Mean squared error between predicted and reference values (regression)."


class Mse(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description="predictions and references: lists of floats",
            features=datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}),
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html#mean-squared-error"],
        )

    def _compute(self, predictions, references, sample_weight=None):
        return {"mse": float(mean_squared_error(references, predictions, sample_weight=sample_weight))}
