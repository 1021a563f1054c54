"""A LoRA sweep of the pretrained MiniLM through ``hpo sweep`` as a user runs it, then its export loaded
both ways: the adapters with peft, and the merged model with transformers alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from hpo.search.cli import main

pytestmark = pytest.mark.slow
SWEEP = ["model=minilm", "data=sst2", "data.max_train_samples=64", "data.max_eval_samples=32", "data.max_test_samples=32",
         "trainer.max_seq_length=32", "trainer.epochs=1", "logger=none", "scheduler=fifo", "searcher=random",
         "searcher.max_concurrent=1", "sweep.num_trials=2", "resources.reuse_workers=true", "search_space=lora",
         "model.lora.enabled=true", "model.lora.export_merged=true"]
SENTENCES = ["a gripping, beautifully acted film", "tedious and far too long", "it is a movie"]


@pytest.fixture(scope="module")
def sweep_dir(ray_session, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lora") / "sweep"
    assert main(["sweep", *SWEEP, f"sweep.output_dir={out}"]) == 0
    return out


def test_sampled_rank_and_alpha_reach_every_trial_and_checkpoints_hold_only_adapters(sweep_dir: Path) -> None:
    trials = sorted((sweep_dir / "trials").glob("trial_*"))
    assert len(trials) == 2
    full_model_bytes = (Path(yaml.safe_load((sweep_dir / "config.yaml").read_text())["model"]["pretrained"]) / "model.safetensors").stat().st_size
    for trial in trials:
        params = json.loads((trial / "params.json").read_text())
        [checkpoint] = trial.glob("checkpoint_*")
        adapter = json.loads((checkpoint / "adapter_config.json").read_text())
        assert (adapter["r"], adapter["lora_alpha"]) == (params["model.lora.r"], params["model.lora.alpha"])
        assert adapter["lora_dropout"] == pytest.approx(params["model.lora.dropout"])
        weights = checkpoint / "adapter_model.safetensors"
        assert not (checkpoint / "model.safetensors").exists()
        # adapters and head: 6% of MiniLM at the largest sampled size (r=32 on every linear layer), 0.3% at r=8 on query/value
        assert weights.stat().st_size < 0.1 * full_model_bytes
        assert any("classifier" in k for k in load_file(weights))


def test_the_winner_is_scored_on_the_test_split_from_its_adapters(sweep_dir: Path) -> None:
    metrics = yaml.safe_load((sweep_dir / "best" / "metrics.yaml").read_text())
    assert 0 <= metrics["test_metrics"]["test/accuracy"] <= 1


def test_the_export_loads_with_peft_and_merged_and_predicts_the_same(sweep_dir: Path) -> None:
    best = sweep_dir / "best"
    config = yaml.safe_load((best / "config.yaml").read_text())
    tokenizer = AutoTokenizer.from_pretrained(best / "merged")
    inputs = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    base = AutoModelForSequenceClassification.from_pretrained(config["model"]["pretrained"], num_labels=2)
    with_peft = PeftModel.from_pretrained(base, best / "model").eval()
    merged = AutoModelForSequenceClassification.from_pretrained(best / "merged").eval()
    assert not hasattr(merged, "peft_config") and (best / "merged" / "model.safetensors").is_file()
    with torch.no_grad():
        torch.testing.assert_close(with_peft(**inputs).logits, merged(**inputs).logits, rtol=1e-4, atol=1e-4)


def test_hpo_train_starts_from_the_adapter_export(sweep_dir: Path, tmp_path: Path) -> None:
    # the merged export is a plain folder (loaded above); the adapters are folded into their base on load
    best = sweep_dir / "best"
    out = tmp_path / "train"
    assert main(["train", "--config", str(best / "config.yaml"), "--output-dir", str(out),
                 f"model.pretrained={best / 'model'}", "model.lora.enabled=false"]) == 0
    [history] = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert 0 <= history["eval/accuracy"] <= 1
