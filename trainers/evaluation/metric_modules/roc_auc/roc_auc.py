"""hpo's local copy of the `roc_auc` metric for `evaluate.load(path)`: works offline.

Binary: the positive class's score per example. Multi-class: one probability per class per
example, averaged one-vs-rest (macro), as the Hub's `roc_auc` "multiclass" configuration does.
"""

import datasets
import evaluate
from sklearn.metrics import roc_auc_score

_DESCRIPTION = "Area under the ROC curve, from predicted scores (binary) or class probabilities (multi-class)."


class RocAuc(evaluate.Metric):
    def _info(self):
        if self.config_name == "multiclass":
            features = {"prediction_scores": datasets.Sequence(datasets.Value("float")), "references": datasets.Value("int32")}
        else:
            features = {"prediction_scores": datasets.Value("float"), "references": datasets.Value("int32")}
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description="prediction_scores and references",
            features=datasets.Features(features),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.roc_auc_score.html"],
        )

    def _compute(self, references, prediction_scores, average="macro", multi_class="ovr"):
        if self.config_name == "multiclass":
            return {"roc_auc": float(roc_auc_score(references, prediction_scores, average=average, multi_class=multi_class))}
        return {"roc_auc": float(roc_auc_score(references, prediction_scores))}
