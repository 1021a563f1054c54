"""hpo's local copy of the `recall` metric for `evaluate.load(path)`: works offline, same API as the Hub's."""

import datasets
import evaluate
from sklearn.metrics import recall_score

_DESCRIPTION = "Fraction of positives that are predicted positive (average: binary, macro, micro or weighted)."


class Recall(evaluate.Metric):
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
        return {"recall": float(recall_score(references, predictions, labels=labels, pos_label=pos_label, average=average, sample_weight=sample_weight, zero_division=zero_division))}
