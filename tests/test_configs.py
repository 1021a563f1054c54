"""Every option of every config group and every sweep file composes and validates; the schema is
the one source of defaults and every data option composes the shared cleaning block."""

from __future__ import annotations

from dataclasses import asdict, fields

import pytest
import yaml

from hpo.params import get_by_path
from hpo.search.cli import main
from hpo.search.config.checks import check
from hpo.search.config.compose import GROUPS, available_sweeps, compose_config, group_options, hydra_conf_dir
from hpo.search.config.schema import GROUP_SCHEMAS, CleaningSchema, resolve
from hpo.search.run.sweep import prepare

# The offline stand-in for a chat model: a tiny Llama-style decoder with MiniLM's tokenizer and a named template.
CHAT_SMOKE = ["model=tiny_llama", "trainer.chat.template=chatml"]
# Options that need a value the user must give (``???``) get one here.
REQUIRED = {
    ("data", "files"): ["data.train_path=x.tsv", "data.eval_path=y.tsv"],
    ("data", "hub"): ["data.hub_name=glue"],
    # options of the other tasks need that task's metric (and, for text, the language-model task)
    ("data", "tinyshakespeare"): ["trainer=causal_lm", "model=tiny_gpt2", "sweep.metric=eval/perplexity", "sweep.mode=min"],
    ("trainer", "regression"): ["sweep.metric=eval/mse", "sweep.mode=min"],
    ("trainer", "causal_lm"): ["data=tinyshakespeare", "model=tiny_gpt2", "sweep.metric=eval/perplexity", "sweep.mode=min"],
    ("trainer", "chat"): [*CHAT_SMOKE, "data=gsm8k", "sweep.metric=eval/loss", "sweep.mode=min"],
    ("trainer", "question_answering"): ["data=squad_v2", "sweep.metric=eval/f1"],
    ("data", "squad_v2"): ["trainer=question_answering", "sweep.metric=eval/f1"],
    **{("data", chats): ["trainer=chat", *CHAT_SMOKE, "sweep.metric=eval/loss", "sweep.mode=min"]
       for chats in ("gsm8k", "sgd_dialogues", "gpteacher_roleplay")},
    ("searcher", "bohb"): ["scheduler=bohb"],  # BOHB runs inside HyperBand's brackets only
    ("scheduler", "pbt"): ["searcher=random"],  # a population is sampled once, then evolves
    ("scheduler", "wilcoxon"): ["trainer.cv_folds=5"],  # it tests folds
    ("scheduler", "pb2"): ["searcher=random"],
}
# Sweeps that already use a tiny model keep it; the others get tiny_bert.
TINY_MODELS = ("tiny_bert", "tiny_gpt2", "tiny_llama")
GROUP_CASES = [(g, o) for g, options in group_options().items() for o in options]


def test_every_group_has_options() -> None:
    options = group_options()
    assert set(options) == set(GROUPS)
    assert all(options[g] for g in GROUPS)


@pytest.mark.parametrize(("group", "option"), GROUP_CASES, ids=[f"{g}={o}" for g, o in GROUP_CASES])
def test_every_group_option_composes_and_validates(group: str, option: str) -> None:
    overrides = [f"{group}={option}", *REQUIRED.get((group, option), [])]
    if group == "search_space" and option.startswith("grid"):
        overrides.append("searcher=grid")
    cfg = resolve(compose_config("demo", overrides))
    check(cfg)
    assert get_by_path(cfg, group.replace("/", ".")).get("name", option) == option or group == "search_space"


@pytest.mark.parametrize("sweep", available_sweeps())
def test_every_sweep_file_composes_validates_and_finds_its_data(sweep: str) -> None:
    composed = resolve(compose_config(sweep, []))
    # same tokenizer as the real model (or its offline stand-in), no large load
    tiny = [] if composed["model"]["name"] in TINY_MODELS else CHAT_SMOKE if composed["trainer"]["task"] == "chat" else ["model=tiny_bert"]
    prepared = prepare(sweep, tiny)
    assert prepared.config["sweep"]["name"] == sweep
    assert prepared.search.num_samples >= 1


def test_required_sweeps_exist() -> None:
    assert {"demo", "sst2_optuna_asha", "rte_grid"} <= set(available_sweeps())


def test_any_key_can_be_overridden() -> None:
    cfg = resolve(compose_config("demo", ["trainer.epochs=7", "searcher=random", "search_space.trainer.learning_rate.high=1e-3"]))
    assert cfg["trainer"]["epochs"] == 7
    assert cfg["scheduler"]["max_t"] is None  # ASHA's max_t: counted from the longest trial when the sweep starts
    assert cfg["searcher"]["name"] == "random"
    assert cfg["search_space"]["trainer"]["learning_rate"]["high"] == 1e-3


def test_metric_and_mode_live_in_one_place() -> None:
    cfg = resolve(compose_config("demo", ["sweep.metric=eval/loss", "sweep.mode=min"]))
    check(cfg)
    prepared = prepare("demo", ["sweep.metric=eval/loss", "sweep.mode=min", "model=tiny_bert"])
    assert prepared.search.search_alg.metric == "eval/loss"
    assert prepared.search.search_alg.mode == "min"


def test_sweep_help_lists_groups_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--help"]) == 0
    out = capsys.readouterr().out
    for group, options in group_options().items():
        line = next(line for line in out.splitlines() if line.strip().startswith(group + " "))
        assert all(o in line for o in options)
    assert "rte_grid" in out


def test_the_composed_config_has_every_schema_key() -> None:
    """The schema is composed first, so every key exists (and can be overridden) whatever the options set."""
    composed = compose_config("demo", [])
    for group, schema in GROUP_SCHEMAS.items():
        assert set(composed[group]) == {f.name for f in fields(schema)}, group
    cfg = resolve(compose_config("demo", ["data.train_split=dev", "trainer.augment.word_fraction=0.2", "resources.num_cpus=1"]))
    assert (cfg["data"]["train_split"], cfg["trainer"]["augment"]["word_fraction"], cfg["resources"]["num_cpus"]) == ("dev", 0.2, 1)


def _yaml(path: str) -> dict:
    return yaml.safe_load((hydra_conf_dir() / path).read_text()) or {}


@pytest.mark.parametrize("option", group_options()["data"])
def test_every_data_option_composes_the_shared_clean_block(option: str) -> None:
    own = _yaml(f"data/{option}.yaml")
    presets = [entry["clean"] for entry in own.get("defaults", []) if isinstance(entry, dict) and "clean" in entry]
    assert len(presets) == 1, f"data/{option}.yaml must name one clean preset in its defaults list"
    assert presets[0] in group_options()["data/clean"]
    expected = {**asdict(CleaningSchema()), **_yaml(f"data/clean/{presets[0]}.yaml"), **own.get("clean", {})}
    cfg = resolve(compose_config("demo", [f"data={option}", *REQUIRED.get(("data", option), [])]))
    assert cfg["data"]["clean"] == expected


def test_clean_presets_and_keys_can_be_overridden() -> None:
    sst2 = resolve(compose_config("demo", ["data=sst2", "data.clean.lowercase=true"]))["data"]["clean"]
    assert sst2 == {**asdict(CleaningSchema()), "lowercase": True}
    raw = resolve(compose_config("demo", ["data=sst2", "data/clean=none", "data.clean.dedup=near"]))["data"]["clean"]
    assert raw["normalize"] is False and raw["dedup"] == "near"
    assert resolve(compose_config("demo", ["data=tinyshakespeare"]))["data"]["clean"]["normalize"] is False
