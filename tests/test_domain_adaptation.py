"""Domain adaptation (stage 1): masked-LM training on SST-2 sentences, labels ignored, with a tiny BERT."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification, set_seed

from hpo.errors import ConfigError
from hpo.layout import DOMAIN_ADAPTATION_FILE
from hpo.paths import minilm_path
from hpo.search.config.checks import check
from hpo.search.config.compose import compose_config
from hpo.search.config.schema import DomainAdaptationSchema, resolve
from hpo.trainers.models.domain_adaptation import adapt_encoder, load_unlabelled_texts
from hpo.trainers.models.domain_adaptation_check import check_domain_adaptation
from hpo.trainers.models.modeling import build_classifier, load_model_config, load_tokenizer
from tests.conftest import SST2
from tests.helpers.config_blocks import adapt_block, model_block

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
SEED = 3
# A learning rate a tiny random model can use: a few dozen steps move its perplexity a lot.
ADAPT = adapt_block(enabled=True, max_texts=240, epochs=1, learning_rate=5e-3, batch_size=16, max_seq_length=32, eval_fraction=0.1)


def tiny_bert() -> dict:
    return model_block(pretrained=minilm_path(), init="random", config_overrides=dict(TINY))


@pytest.fixture(scope="module")
def sst2_sentences() -> list[str]:
    return pd.read_csv(SST2 / "train.tsv", sep="\t", nrows=400)["sentence"].tolist()


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(tiny_bert())


@pytest.fixture(scope="module")
def adapted(tmp_path_factory, sst2_sentences, tokenizer):
    """One stage-1 run shared by the tests that read its results."""
    texts = load_unlabelled_texts(ADAPT, sst2_sentences)
    out = tmp_path_factory.mktemp("adapted")
    stage_2, metrics = adapt_encoder(tiny_bert(), ADAPT, texts, tokenizer, out, seed=SEED)
    return texts, out, stage_2, metrics


def test_held_out_perplexity_and_training_loss_go_down(adapted):
    texts, _, _, metrics = adapted
    assert len(texts) == 240
    assert metrics["adapt/eval_texts"] == 24 and metrics["adapt/texts"] == 216
    assert metrics["adapt/steps"] == 14  # ceil(216 / 16) batches, one epoch
    # from near-uniform over the 30,522-token vocabulary towards the domain's token frequencies
    assert metrics["adapt/perplexity_after"] < 0.85 * metrics["adapt/perplexity_before"]
    assert metrics["adapt/mlm_loss_last"] < metrics["adapt/mlm_loss_first"]
    assert metrics["adapt/mlm_head_initialised"] == 0.0
    assert metrics["adapt/seconds"] > 0


def test_stage_2_model_block_points_at_the_saved_folder(adapted):
    _, out, stage_2, _ = adapted
    assert stage_2 == {**tiny_bert(), "pretrained": str(out), "tokenizer": None, "init": "pretrained", "config_overrides": {}}
    config = AutoConfig.from_pretrained(out)  # the overrides live on in the saved config
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size) == (32, 2, 64)
    assert (out / "tokenizer.json").is_file() or (out / "vocab.txt").is_file()
    assert json.loads((out / DOMAIN_ADAPTATION_FILE).read_text())["metrics"]["adapt/steps"] == 14


def test_classifier_gets_the_adapted_encoder_and_a_new_head(adapted):
    _, out, stage_2, _ = adapted
    saved = load_file(out / "model.safetensors")
    classifier, info = AutoModelForSequenceClassification.from_pretrained(stage_2["pretrained"], num_labels=2, output_loading_info=True)
    # only the head is new (BertForMaskedLM has no pooler, and this encoder was random to begin with)
    assert sorted(info["missing_keys"]) == ["bert.pooler.dense.bias", "bert.pooler.dense.weight", "classifier.bias", "classifier.weight"]
    encoder = {k: v for k, v in classifier.state_dict().items() if k.startswith(("bert.embeddings.", "bert.encoder."))}
    assert len(encoder) > 20
    for key, value in encoder.items():
        assert torch.equal(value, saved[key]), key

    set_seed(SEED)  # stage 1's starting point: the same config, the same seed
    initial = AutoModelForMaskedLM.from_config(load_model_config(tiny_bert(), None)).state_dict()
    changed = [k for k in encoder if not torch.equal(encoder[k], initial[k])]
    assert len(changed) > len(encoder) // 2  # stage 1 really trained the encoder

    # and through hpo's own builder, the way stage 2 builds it (the trial's dropout applies)
    built = build_classifier(stage_2, ["negative", "positive"], dropout=0.2)
    assert built.config.hidden_dropout_prob == 0.2 and built.config.hidden_size == 32
    assert torch.equal(built.state_dict()["bert.encoder.layer.1.output.dense.weight"], saved["bert.encoder.layer.1.output.dense.weight"])


def test_same_inputs_reuse_the_saved_adaptation(adapted, tokenizer):
    texts, out, stage_2, metrics = adapted
    again_model, again = adapt_encoder(tiny_bert(), ADAPT, texts, tokenizer, out, seed=SEED)
    assert again_model == stage_2 and again == {**metrics, "adapt/reused": 1.0}


def test_encoder_without_mlm_head_keeps_its_pretrained_pooler(tmp_path, sst2_sentences, tokenizer):
    """Like all-MiniLM-L6-v2: a bare encoder with a pooler and no masked-LM head."""
    config = AutoConfig.from_pretrained(minilm_path())
    for key, value in TINY.items():
        setattr(config, key, value)
    set_seed(0)
    encoder = AutoModel.from_config(config)  # BertModel: embeddings, encoder, pooler
    encoder.save_pretrained(tmp_path / "encoder")
    pretrained = model_block(pretrained=str(tmp_path / "encoder"), tokenizer=minilm_path())
    adapt = {**ADAPT, "max_texts": 40, "eval_fraction": 0.0}

    with pytest.warns(UserWarning, match="no masked-LM head"):
        texts = load_unlabelled_texts(adapt, sst2_sentences)
        stage_2, metrics = adapt_encoder(pretrained, adapt, texts, tokenizer, tmp_path / "adapted", seed=SEED)
    assert metrics["adapt/mlm_head_initialised"] == 1.0
    assert "adapt/perplexity_before" not in metrics  # nothing held out
    assert metrics["adapt/texts"] == 40

    classifier, info = AutoModelForSequenceClassification.from_pretrained(stage_2["pretrained"], num_labels=2, output_loading_info=True)
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight"]
    original = encoder.state_dict()
    adapted = classifier.state_dict()
    assert torch.equal(adapted["bert.pooler.dense.weight"], original["pooler.dense.weight"])
    assert not torch.equal(adapted["bert.encoder.layer.0.attention.self.query.weight"], original["encoder.layer.0.attention.self.query.weight"])
    # the folder still loads as a masked-LM model, to adapt further
    mlm = AutoModelForMaskedLM.from_pretrained(stage_2["pretrained"])
    assert torch.equal(mlm.state_dict()["bert.encoder.layer.0.attention.self.query.weight"], adapted["bert.encoder.layer.0.attention.self.query.weight"])


def test_text_sources(tmp_path):
    text_file = tmp_path / "reviews.txt"
    text_file.write_text("  a gripping , funny film  \n\n   \nthe plot drags\nwooden acting\n", encoding="utf-8")
    assert load_unlabelled_texts(adapt_block(text_path=str(text_file)), ["ignored"]) == ["a gripping , funny film", "the plot drags", "wooden acting"]
    assert load_unlabelled_texts(adapt_block(text_path=str(text_file), max_texts=2), []) == ["a gripping , funny film", "the plot drags"]

    table = tmp_path / "reviews.jsonl"
    table.write_text("\n".join(json.dumps({"review": t, "stars": 3}) for t in ["good", "", "bad", None, "fine"]))
    assert load_unlabelled_texts(adapt_block(text_path=str(table), text_column="review"), []) == ["good", "bad", "fine"]

    # null text_path: the task's training texts
    assert load_unlabelled_texts(adapt_block(), [" x ", "y", ""]) == ["x", "y"]


@pytest.mark.parametrize(("adapt", "key"), [
    ({"enabled": "yes"}, "trainer.domain_adaptation.enabled"),
    ({"epochs": 0}, "trainer.domain_adaptation.epochs"),
    ({"batch_size": 2.5}, "trainer.domain_adaptation.batch_size"),
    ({"learning_rate": -1e-5}, "trainer.domain_adaptation.learning_rate"),
    ({"mlm_probability": 1.5}, "trainer.domain_adaptation.mlm_probability"),
    ({"eval_fraction": 0.9}, "trainer.domain_adaptation.eval_fraction"),
    ({"max_texts": True}, "trainer.domain_adaptation.max_texts"),
    ({"max_seq_length": 2}, "trainer.domain_adaptation.max_seq_length"),
    ({"text_path": "/nonexistent/reviews.txt"}, "trainer.domain_adaptation.text_path"),
    ({"text_path": "reviews.docx"}, "trainer.domain_adaptation.text_path"),
])
def test_bad_options_name_their_key(adapt, key):
    with pytest.raises(ConfigError) as raised:
        check_domain_adaptation(adapt_block(**adapt))
    assert raised.value.key == key


def test_the_config_check_runs_it_also_when_disabled():
    """A sweep that searches ``enabled`` fails up front, not in the trials that switch it on; the
    check imports no torch, so the driver runs it for every sweep."""
    with pytest.raises(ConfigError) as raised:
        check(resolve(compose_config("demo", ["trainer.domain_adaptation.epochs=0"])))
    assert raised.value.key == "trainer.domain_adaptation.epochs"


def test_unknown_keys_are_rejected_by_the_schema():
    with pytest.raises(ConfigError, match="unknown key") as raised:
        resolve(compose_config("demo", ["+trainer.domain_adaptation.epoch=2"]))
    assert raised.value.key == "trainer.domain_adaptation.epoch" and "epochs" in raised.value.choices


def test_bad_text_files_name_the_key_and_file(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty") as raised:
        load_unlabelled_texts(adapt_block(text_path=str(empty)), [])
    assert raised.value.key == "trainer.domain_adaptation.text_path" and str(empty) in str(raised.value)

    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\n")
    with pytest.raises(ConfigError, match="0 non-empty texts") as raised:
        load_unlabelled_texts(adapt_block(text_path=str(blank)), [])
    assert str(blank) in str(raised.value)

    table = tmp_path / "reviews.csv"
    table.write_text("review,stars\ngood,5\nbad,1\n")
    with pytest.raises(ConfigError) as raised:
        load_unlabelled_texts(adapt_block(text_path=str(table)), [])  # text_column defaults to "text"
    assert raised.value.key == "trainer.domain_adaptation.text_column" and raised.value.choices == ["review", "stars"]

    with pytest.raises(ConfigError, match="training texts"):
        load_unlabelled_texts(adapt_block(), ["only one", "  "])


def test_defaults_are_valid_and_disabled():
    check_domain_adaptation(adapt_block())
    assert DomainAdaptationSchema().enabled is False
