"""hpo's local copy of the `squad_v2` metric for `evaluate.load(path)`: works offline, the official SQuAD 2.0
scoring (answers normalised: lower case, no punctuation, no articles, single spaces; the best over the
gold answers; an unanswerable question is right only with the empty answer).

Inputs as the Hub's module takes them: predictions ``{id, prediction_text}`` and references
``{id, answers: {text, answer_start}}``. Scores are fractions in [0, 1] (the Hub's are percentages).
"""

import collections
import re
import string

import datasets
import evaluate

_DESCRIPTION = "Exact match and token F1 of SQuAD 2.0 (Rajpurkar et al., 2018), with unanswerable questions."


def normalize_answer(text):
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact(gold, prediction):
    return float(normalize_answer(gold) == normalize_answer(prediction))


def f1(gold, prediction):
    gold_tokens, predicted_tokens = normalize_answer(gold).split(), normalize_answer(prediction).split()
    if not gold_tokens or not predicted_tokens:  # an unanswerable question: right only when both are empty
        return float(gold_tokens == predicted_tokens)
    common = sum((collections.Counter(gold_tokens) & collections.Counter(predicted_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


class SquadV2(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Rajpurkar, Jia and Liang (2018). Know What You Don't Know: Unanswerable Questions for SQuAD.",
            inputs_description="predictions: {id, prediction_text}; references: {id, answers: {text, answer_start}}",
            features=datasets.Features({
                "predictions": {"id": datasets.Value("string"), "prediction_text": datasets.Value("string")},
                "references": {"id": datasets.Value("string"),
                               "answers": datasets.Sequence({"text": datasets.Value("string"), "answer_start": datasets.Value("int32")})},
            }),
            reference_urls=["https://rajpurkar.github.io/SQuAD-explorer/"],
        )

    def _compute(self, predictions, references):
        predicted = {p["id"]: p["prediction_text"] for p in predictions}
        exact_scores, f1_scores, answerable = [], [], []
        for reference in references:
            golds = [t for t in reference["answers"]["text"] if normalize_answer(t)] or [""]
            prediction = predicted[reference["id"]]
            exact_scores.append(max(exact(g, prediction) for g in golds))
            f1_scores.append(max(f1(g, prediction) for g in golds))
            answerable.append(golds != [""])
        n = len(references)
        out = {"exact_match": sum(exact_scores) / n, "f1": sum(f1_scores) / n}
        for name, keep in (("has_answer", True), ("no_answer", False)):
            chosen = [i for i in range(n) if answerable[i] == keep]
            if chosen:
                out[f"{name}_exact_match"] = sum(exact_scores[i] for i in chosen) / len(chosen)
                out[f"{name}_f1"] = sum(f1_scores[i] for i in chosen) / len(chosen)
        return out
