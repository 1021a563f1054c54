"""hpo's `perplexity` metric for `evaluate.load(path)`, computed from a model's token losses.

The Hub's `perplexity` module loads a model by name and runs it; a trial has already run its
model on the evaluation blocks, so this one takes each block's summed negative log-likelihood
(nats) and its number of predicted tokens: perplexity = exp(total NLL / total tokens).
"""

import math

import datasets
import evaluate

_DESCRIPTION = "Perplexity of a language model: exp of the mean negative log-likelihood per predicted token."


class Perplexity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description="nll: summed negative log-likelihood (nats) per sequence; tokens: predicted tokens per sequence",
            features=datasets.Features({"nll": datasets.Value("float64"), "tokens": datasets.Value("int64")}),
            reference_urls=["https://huggingface.co/docs/transformers/perplexity"],
        )

    def _compute(self, nll, tokens):
        total = sum(tokens)
        if total == 0:
            raise ValueError("perplexity needs at least one predicted token")
        mean = sum(nll) / total
        return {"perplexity": float(math.exp(mean)) if mean < 700 else float("inf"), "nll_per_token": float(mean)}
