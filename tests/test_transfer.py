"""Transfer-learning and regularisation options of the trial: freezing, early stopping, label smoothing."""

from __future__ import annotations

import pytest
import torch
from transformers import set_seed

from hpo.errors import ConfigError
from hpo.trainers.data.loading import load_splits
from hpo.trainers.models.modeling import build_classifier
from hpo.trainers.runs.fine_tune import fine_tune
from tests.test_loop import config


def initial_and_trained(cfg: dict) -> tuple[dict, dict]:
    set_seed(cfg["trainer"]["seed"])
    labels = load_splits(cfg["data"], seed=cfg["sweep"]["seed"]).label_names
    initial = {k: v.clone() for k, v in build_classifier(cfg["model"], labels, cfg["trainer"]["dropout"]).state_dict().items()}
    models = []
    fine_tune(cfg, lambda m, snapshot: models.append(snapshot.model), num_threads=1)
    return initial, models[-1].state_dict()


def changed(initial: dict, trained: dict, prefix: str) -> list[bool]:
    return [not torch.equal(initial[k], trained[k]) for k in initial if k.startswith(prefix)]


def test_frozen_embeddings_and_first_layer_stay_bit_identical() -> None:
    initial, trained = initial_and_trained(config("trainer.epochs=1", "trainer.freeze=embeddings", "trainer.freeze_layers=1"))
    assert changed(initial, trained, "bert.embeddings.") and not any(changed(initial, trained, "bert.embeddings."))
    assert not any(changed(initial, trained, "bert.encoder.layer.0."))
    assert all(changed(initial, trained, "bert.encoder.layer.1.attention.self.query.weight"))
    assert all(changed(initial, trained, "classifier.weight"))


def test_all_but_head_trains_only_the_head() -> None:
    initial, trained = initial_and_trained(config("trainer.epochs=1", "trainer.freeze=all_but_head"))
    assert not any(changed(initial, trained, "bert."))
    assert all(changed(initial, trained, "classifier."))


def test_freezing_more_layers_than_the_model_has_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"trainer.freeze_layers: the model has 2 layers"):
        fine_tune(config("trainer.freeze_layers=5"), lambda m, s: None, num_threads=1)


def test_early_stopping_stops_after_patience_and_restores_the_best_weights() -> None:
    # min_delta 1.0: no later evaluation can count as better than the first
    cfg = config("trainer.epochs=5", "trainer.early_stopping_patience=2", "trainer.early_stopping_min_delta=1.0")
    seen, first_weights, models = [], {}, []

    def on_evaluation(metrics, snapshot) -> None:
        seen.append(metrics)
        models.append(snapshot.model)
        if len(seen) == 1:
            first_weights.update({k: v.clone() for k, v in snapshot.model.state_dict().items()})

    fine_tune(cfg, on_evaluation, num_threads=1)
    assert len(seen) == 3  # the best, then two without improvement
    final = models[-1].state_dict()
    assert all(torch.equal(first_weights[k], final[k]) for k in first_weights)


def test_label_smoothing_changes_the_training_loss() -> None:
    plain = []
    fine_tune(config("trainer.epochs=1"), lambda m, s: plain.append(m), num_threads=1)
    smooth = []
    fine_tune(config("trainer.epochs=1", "trainer.label_smoothing=0.2"), lambda m, s: smooth.append(m), num_threads=1)
    assert smooth[0]["train/loss"] != pytest.approx(plain[0]["train/loss"], rel=1e-4)
