"""LoRA (peft) as a fine-tuning option: what trains, what a checkpoint holds, and the checks made up front.

The sweep, the export and the reloads with the pretrained MiniLM are in tests/test_lora_e2e.py.
"""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from hpo.errors import ConfigError
from hpo.trainers.data.loading import load_splits
from hpo.trainers.engine.checkpoint import ResumeState
from hpo.trainers.models.lora import load_weights, merge_checkpoint, reproducible_base
from hpo.trainers.models.modeling import build_classifier
from hpo.trainers.runs.fine_tune import fine_tune
from hpo.trainers.tasks.base import TaskData
from hpo.trainers.tasks.registry import get_task
from tests.test_loop import config

LORA = ["model.lora.enabled=true", "model.lora.r=4", "model.lora.alpha=8"]


def trained(cfg: dict) -> list:
    snapshots: list = []
    fine_tune(cfg, lambda metrics, snapshot: snapshots.append(snapshot), num_threads=1)
    return snapshots


def test_only_the_adapters_and_the_head_train_and_the_base_stays_bit_identical() -> None:
    cfg = config("trainer.epochs=1", *LORA)
    model = trained(cfg)[-1].model
    labels = load_splits(cfg["data"], seed=cfg["sweep"]["seed"]).label_names
    with reproducible_base(cfg["model"], cfg["trainer"]["seed"]):  # the random base the trial drew
        initial = build_classifier(cfg["model"], labels, cfg["trainer"]["dropout"]).state_dict()
    after = {k.replace(".base_layer", ""): v for k, v in model.get_base_model().state_dict().items()}
    base_keys = [k for k in initial if not k.startswith("classifier.")]
    assert base_keys and all(torch.equal(initial[k], after[k]) for k in base_keys)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in n or ".classifier." in n for n in trainable)
    assert any(".lora_B." in n for n in trainable)
    lora_b = [p for n, p in model.named_parameters() if ".lora_B." in n]
    assert all(p.abs().sum() > 0 for p in lora_b)  # LoRA's B starts at zero: trained, it moved
    assert model.peft_config["default"].r == 4 and model.peft_config["default"].lora_alpha == 8


def test_the_checkpoint_holds_the_adapters_and_resumes_to_the_same_weights(tmp_path) -> None:
    cfg = config("trainer.epochs=1", *LORA)
    snapshot = trained(cfg)[-1]
    snapshot.save(tmp_path)
    assert (tmp_path / "adapter_model.safetensors").is_file() and not (tmp_path / "model.safetensors").exists()
    assert (tmp_path / "config.json").is_file()  # the base's labels and sizes, for the merged export
    resumed = ResumeState.load(tmp_path)
    assert resumed is not None and all(".lora_" in k or "classifier" in k for k in resumed.weights)
    # a resumed run (or test scoring) builds the same base again and loads the adapters and head into it
    labels = load_splits(cfg["data"], seed=cfg["sweep"]["seed"]).label_names
    rebuilt = get_task("classification").build(cfg["model"], TaskData([], [], labels), cfg["trainer"])
    load_weights(rebuilt, resumed.weights)
    for (name, a), (_, b) in zip(snapshot.model.state_dict().items(), rebuilt.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_a_decoder_gets_adapters_on_every_linear_layer() -> None:
    cfg = config("model=tiny_gpt2", "trainer=causal_lm", "data=tinyshakespeare", "data.max_train_samples=16",
                 "data.max_eval_samples=8", "trainer.epochs=1", "sweep.metric=eval/perplexity", "sweep.mode=min",
                 *LORA, "model.lora.target_modules=all_linear")
    model = trained(cfg)[-1].model
    adapted = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in model.named_parameters() if ".lora_A." in n}
    assert adapted == {"c_attn", "c_proj", "c_fc"}  # GPT-2's attention and MLP projections, not the LM head


def test_target_modules_the_model_lacks_are_named_with_the_ones_it_has() -> None:
    cfg = config("trainer.epochs=1", *LORA, "model.lora.target_modules=[q_proj]")
    with pytest.raises(ConfigError, match=r"model.lora.target_modules") as info:
        trained(cfg)
    assert "query" in str(info.value) and "all_linear" in str(info.value)


@pytest.mark.parametrize(("overrides", "expected"), [
    (["model.lora.quantize=4bit"], ["model.lora.quantize", "needs a GPU", "resources.gpus_per_trial=0"]),
    (["model.lora.quantize=8bit"], ["model.lora.quantize", "none", "4bit"]),
    (["model.lora.r=0"], ["model.lora.r", ">= 1"]),
    (["model.lora.dropout=1.0"], ["model.lora.dropout", "[0, 1)"]),
    (["model.lora.target_modules=everything"], ["model.lora.target_modules", "attention", "all_linear"]),
    (["trainer.freeze=embeddings"], ["trainer.freeze", "LoRA already freezes"]),
    (["trainer.layer_lr_decay=0.8"], ["trainer.layer_lr_decay", "LoRA"]),
])
def test_bad_lora_settings_fail_before_any_training(overrides: list[str], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        config(*LORA, *overrides)
    assert all(text in str(info.value) for text in expected), str(info.value)


def test_lora_settings_are_checked_when_lora_is_off_too() -> None:
    # a sweep that searches model.lora.enabled must fail up front, not in the trials that switch it on
    with pytest.raises(ConfigError, match="model.lora.r"):
        config("model.lora.r=0")


def test_the_merged_export_of_a_random_base_predicts_as_the_trained_adapters_do(tmp_path) -> None:
    # a tiny randomly initialised base is not in the checkpoint: the merge draws it again from the seed
    cfg = config("trainer.epochs=1", *LORA)
    snapshot = trained(cfg)[-1]
    snapshot.save(tmp_path / "checkpoint")
    merged_dir = merge_checkpoint(cfg["model"], cfg["trainer"]["seed"], tmp_path / "checkpoint", tmp_path / "merged")
    merged = AutoModelForSequenceClassification.from_pretrained(merged_dir).eval()
    inputs = snapshot.tokenizer(["a fine film", "a dull one"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(merged(**inputs).logits, snapshot.model.eval()(**inputs).logits, rtol=1e-4, atol=1e-5)
