"""hpo's local copy of an `exact_match` metric for `evaluate.load(path)`: works offline, same API as the Hub's.

Answers are compared after stripping surrounding whitespace; a task that extracts a final answer
(GSM8K's ``#### <number>``) does so before calling it.
"""

import datasets
import evaluate

_DESCRIPTION = "Fraction of predicted strings equal to their reference after stripping surrounding whitespace."


class ExactMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description="predictions and references: lists of strings",
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            reference_urls=["https://huggingface.co/spaces/evaluate-metric/exact_match"],
        )

    def _compute(self, predictions, references):
        matches = [p.strip() == r.strip() for p, r in zip(predictions, references, strict=True)]
        return {"exact_match": sum(matches) / len(matches) if matches else 0.0}
