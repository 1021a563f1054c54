"""hpo's local copy of the `f1` metric for `evaluate.load(path)`: works offline, same API as the Hub's."""

import datasets
import evaluate
from sklearn.metrics import f1_score

_DESCRIPTION = "Harmonic mean of precision and recall (average: binary, macro, micro or weighted)."


class F1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description="predictions and references: lists of integer class ids",
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html"],
        )

    def _compute(self, predictions, references, labels=None, pos_label=1, average="binary", sample_weight=None, zero_division=0):
        return {"f1": float(f1_score(references, predictions, labels=labels, pos_label=pos_label, average=average, sample_weight=sample_weight, zero_division=zero_division))}
