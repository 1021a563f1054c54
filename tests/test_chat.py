"""Chat and instruction fine-tuning: conversations from the shared data, assistant-only labels, the
scored generations, and the checks made before any training."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoTokenizer

from hpo.errors import ConfigError
from hpo.options import CHAT_TEMPLATES
from hpo.search.cli import main
from hpo.trainers.data.chat import IGNORED, encode_conversation, load_chat_splits, pack_conversations, set_chat_template
from hpo.trainers.models.modeling import build_model
from hpo.trainers.runs.fine_tune import fine_tune
from hpo.trainers.tasks.chat import final_answer
from tests.test_loop import config

CHAT = ["model=tiny_llama", "trainer=chat", "trainer.chat.template=chatml", "data.max_train_samples=24",
        "data.max_eval_samples=6", "trainer.epochs=1", "trainer.max_seq_length=192", "trainer.chat.generate_samples=2",
        "trainer.chat.max_new_tokens=6", "sweep.metric=eval/loss", "sweep.mode=min"]
GSM8K_ANSWER = "'####\\s*(-?[0-9.,]+)'"
MULTI_TURN = [
    {"role": "system", "content": "You book restaurants."},
    {"role": "user", "content": "Find a table in Oakland."},
    {"role": "assistant", "content": "What time would you like?"},
    {"role": "user", "content": "Seven tonight please."},
    {"role": "assistant", "content": "Booked Chez Panisse at seven."},
]


@pytest.fixture(scope="module")
def tokenizer():
    tok = AutoTokenizer.from_pretrained(config()["model"]["pretrained"])
    set_chat_template(tok, "chatml")
    return tok


def labelled_text(tokenizer, row: dict) -> str:
    return tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != IGNORED])


def test_multi_turn_labels_cover_every_assistant_turn_and_nothing_else(tokenizer) -> None:
    row = encode_conversation(tokenizer, MULTI_TURN, max_length=512)
    learned = labelled_text(tokenizer, row)
    for message in MULTI_TURN:
        assert (tokenizer.decode(tokenizer(message["content"], add_special_tokens=False)["input_ids"]) in learned) == (message["role"] == "assistant")
    assert learned.count("im _ end") == 2  # each assistant turn's end-of-turn marker is learned: the model learns to stop
    assert row["labels"][0] == IGNORED and len(row["labels"]) == len(row["input_ids"])


def test_single_turn_instruction_rows_mask_the_prompt(tokenizer) -> None:
    data = config(*CHAT, "data=gpteacher_roleplay")["data"]
    conversations = load_chat_splits(data, seed=0).train["messages"]
    assert all([m["role"] for m in c] == ["user", "assistant"] for c in conversations)
    row = encode_conversation(tokenizer, conversations[0], max_length=512)
    learned = labelled_text(tokenizer, row)
    assert tokenizer.decode(tokenizer(conversations[0][1]["content"], add_special_tokens=False)["input_ids"])[:40] in learned
    assert tokenizer.decode(tokenizer(conversations[0][0]["content"], add_special_tokens=False)["input_ids"])[:40] not in learned


def test_the_loss_changes_with_assistant_tokens_only(tokenizer) -> None:
    cfg = config(*CHAT, "data=sgd_dialogues")
    torch.manual_seed(0)
    model = build_model(cfg["model"], __import__("transformers").AutoModelForCausalLM, None).eval()

    def loss(messages: list[dict]) -> float:
        row = encode_conversation(tokenizer, messages, max_length=512)
        with torch.no_grad():
            return model(**{k: torch.tensor([v]) for k, v in row.items()}).loss.item()

    trailing_user = [*MULTI_TURN, {"role": "user", "content": "Thanks!"}]
    base = loss(trailing_user)
    assert loss([*MULTI_TURN, {"role": "user", "content": "No, make it eight instead."}]) == pytest.approx(base, abs=1e-6)
    changed_reply = [*MULTI_TURN[:-1], {"role": "assistant", "content": "Sorry, nothing is free."}, trailing_user[-1]]
    assert loss(changed_reply) != pytest.approx(base, abs=1e-4)


def test_a_chat_run_reports_assistant_perplexity_and_scored_generations(tmp_path) -> None:
    cfg = config(*CHAT, "data=gsm8k", f"trainer.chat.answer_pattern={GSM8K_ANSWER}", "model.lora.enabled=true")
    seen = []
    fine_tune(cfg, lambda metrics, snapshot: seen.append((metrics, snapshot)), num_threads=1)
    metrics, snapshot = seen[-1]
    assert metrics["eval/perplexity"] > 1 and 0 <= metrics["eval/exact_match"] <= 1 and 0 <= metrics["eval/rouge_l"] <= 1
    snapshot.save(tmp_path)
    samples = json.loads((tmp_path / "eval_generations.json").read_text())
    assert len(samples) == 2 and all(s["prompt"] and s["reference"].split("####")[-1].strip() for s in samples)


def test_final_answers_follow_the_pattern() -> None:
    pattern = "####\\s*(-?[0-9.,]+)"
    assert final_answer("so 3 + 4 = 7\n#### 7", pattern) == "7"
    assert final_answer("#### 5 ... no wait #### 6", pattern) == "6"
    assert final_answer("seven", pattern) == "" and final_answer("  seven ", None) == "seven"


@pytest.mark.parametrize(("overrides", "expected"), [
    (["data=demo"], ["data.format", "jsonl"]),
    (["data=gsm8k", "trainer.chat.template=vicuna"], ["trainer.chat.template", "chatml"]),
    (["data=gsm8k", "trainer.chat.answer_pattern='(a)(b)'"], ["trainer.chat.answer_pattern", "one group"]),
    (["data=gsm8k", "trainer.chat.generate_samples=0"], ["trainer.chat.generate_samples", "exact_match"]),
])
def test_bad_chat_settings_fail_before_any_training(overrides: list[str], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        config(*CHAT, *overrides)
    assert all(text in str(info.value) for text in expected), str(info.value)


def test_a_tokenizer_without_a_template_is_named_with_the_choices() -> None:
    tok = AutoTokenizer.from_pretrained(config()["model"]["pretrained"])
    with pytest.raises(ConfigError, match="trainer.chat.template.*no chat template") as info:
        set_chat_template(tok, None)
    assert all(name in str(info.value) for name in CHAT_TEMPLATES)


def test_messages_with_an_unknown_role_are_named(tmp_path) -> None:
    bad = tmp_path / "chats.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "bot", "content": "hi"}]}) + "\n")
    data = config(*CHAT, "data=sgd_dialogues", f"data.train_path={bad}", "data.eval_path=null")["data"]
    with pytest.raises(ConfigError, match="data.chat.messages_column.*user, assistant"):
        load_chat_splits(data)


def test_hpo_sweep_checks_a_chat_sweep_up_front(capsys, tmp_path) -> None:
    # the driver's input check loads the conversations and the tokenizer: a base tokenizer with no template fails there
    assert main(["sweep", *[o for o in CHAT if "template" not in o], "data=sgd_dialogues", "logger=none",
                 f"sweep.output_dir={tmp_path}"]) == 2
    assert "trainer.chat.template" in capsys.readouterr().err


def test_packing_fills_rows_without_cutting_a_conversation_and_restarts_positions(tokenizer) -> None:
    cfg = config(*CHAT, "data=sgd_dialogues", "trainer.max_seq_length=512")
    conversations = load_chat_splits(cfg["data"], seed=0).train["messages"]
    rows = [encode_conversation(tokenizer, m, max_length=512) for m in conversations]
    packed = pack_conversations(rows, max_length=512)
    assert len(packed) < len(rows) and all(len(r["input_ids"]) <= 512 for r in packed)
    # every conversation's tokens and labels are in exactly one packed row, whole
    assert sorted(t for r in packed for t in r["labels"]) == sorted(t for r in rows for t in r["labels"])
    starts = sum(r["position_ids"].count(0) for r in packed)
    assert starts == len(rows) and all(len(r["position_ids"]) == len(r["input_ids"]) for r in packed)


def test_a_packed_chat_run_trains_and_evaluates() -> None:
    seen = []
    fine_tune(config(*CHAT, "data=sgd_dialogues", "trainer.chat.packing=true", "trainer.epochs=2", "trainer.max_seq_length=1024",
                     "data.max_train_samples=12", "trainer.chat.generate_samples=0", "trainer.metrics=[perplexity]"),
              lambda metrics, snapshot: seen.append(metrics), num_threads=1)
    assert len(seen) == 2 and seen[-1]["data/train_packed_rows"] < seen[-1]["data/train_conversations"]
    assert seen[-1]["eval/loss"] < seen[0]["eval/loss"]  # the packed rows (positions included) train the model


def test_mapped_columns_that_the_file_lacks_are_named() -> None:
    data = config(*CHAT, "data=gsm8k", "data.chat.prompt_columns=[problem]")["data"]
    with pytest.raises(ConfigError, match=r"data.chat.prompt_columns.*\['problem'\].*question, answer"):
        load_chat_splits(data)
    data = config(*CHAT, "data=gsm8k", "data.chat.response_column=solution")["data"]
    with pytest.raises(ConfigError, match=r"data.chat.response_column.*'solution'.*question, answer"):
        load_chat_splits(data)


def test_a_sequence_length_that_cuts_every_reply_is_named() -> None:
    with pytest.raises(ConfigError, match=r"trainer.max_seq_length: no training conversation keeps an assistant token"):
        fine_tune(config(*CHAT, "data=gsm8k", "trainer.max_seq_length=8", "trainer.chat.max_new_tokens=4"), lambda m, s: None, num_threads=1)
