"""Paper-suite data faults of issue 32 (fast tier, a word-level stand-in tokenizer, no model): truncation
that makes chosen and rejected identical (fault 9) and evaluation ids that collide (fault 10)."""

from __future__ import annotations

import json
import warnings

import pytest

from harness.suites.paper import PaperSuite, formats, tokens
from harness.suites.paper.config import ALPACA_EVAL, MT_BENCH
from harness.suites.paper.judging import checked_answers, training_pair_counts


class WordTokenizer:
    """One id per distinct word; a ChatML-like template (enough for the formatters and tokenize_pair)."""

    def __init__(self):
        self.vocab: dict[str, int] = {}

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [self.vocab.setdefault(w, len(self.vocab)) for w in text.split()]

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False) -> str:
        text = "".join(f"<|{m['role']}|> {m['content']} <|end|> " for m in messages)
        return text + ("<|assistant|> " if add_generation_prompt else "")


SHARED = "The answer begins the same way for both sides and only differs at the very end, namely"


def messages_row(question: str, chosen: str, rejected: str) -> dict:
    user = {"role": "user", "content": question}
    return {"chosen": [user, {"role": "assistant", "content": chosen}],
            "rejected": [user, {"role": "assistant", "content": rejected}]}


# -- fault 9: truncation that makes chosen and rejected identical ---------------------------------------
def test_pairs_made_identical_by_truncation_are_counted_dropped_and_warned(tmp_path):
    rows = [messages_row("Say something.", f"{SHARED} yes.", f"{SHARED} no."),  # identical once cut
            messages_row("Short?", "Yes.", "No."),
            messages_row("Another one?", f"{SHARED} good.", "Bad.")]  # cut, still different
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = PaperSuite(MT_BENCH).with_overrides({"train.max_length": 12, "train.max_prompt_length": 6})
    with pytest.warns(UserWarning, match=r"2 of 3 training pairs were truncated .* 1 became identical"):
        pairs, counts = suite.pairs(WordTokenizer(), local={"train": data})
    assert counts == tokens.PairCounts(pairs=3, truncated=2, identical_dropped=1)
    assert len(pairs) == 2 and all(p["chosen_ids"] != p["rejected_ids"] for p in pairs)
    assert training_pair_counts({"pair_counts": counts.as_dict()}) == {
        "training_pairs_pairs": 3, "training_pairs_truncated": 2, "training_pairs_identical_dropped": 1}


def test_untruncated_pairs_pass_silently():
    texts = [{"prompt": "q ?", "chosen": "a b", "rejected": "c d"}] * 20
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows, counts = tokens.tokenize_pairs(WordTokenizer(), texts, max_length=64, max_prompt_length=8)
    assert len(rows) == 20 and counts == tokens.PairCounts(20, 0, 0)


def test_a_pair_identical_before_truncation_is_dropped_too():
    with pytest.warns(UserWarning, match="1 became identical"):
        rows, counts = tokens.tokenize_pairs(WordTokenizer(), [{"prompt": "q", "chosen": "x y", "rejected": "x y"},
                                                               {"prompt": "q", "chosen": "x", "rejected": "z"}],
                                             max_length=64, max_prompt_length=8)
    assert len(rows) == 1 and counts.identical_dropped == 1 and counts.truncated == 0


# -- fault 10: evaluation ids unique by construction ---------------------------------------------------
OPENING = "Write a short, friendly paragraph for a travel newsletter about visiting the city of "


def test_alpaca_eval_instructions_that_open_alike_get_distinct_ids(tmp_path):
    rows = [{"instruction": OPENING + city, "output": f"{city} is lovely.", "generator": "gpt4_turbo"}
            for city in ("Lisbon in spring.", "Lisbon in autumn.")]
    assert rows[0]["instruction"][:64] == rows[1]["instruction"][:64]
    data = tmp_path / "alpaca.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = PaperSuite(ALPACA_EVAL)
    ev = suite.eval_rows(WordTokenizer(), local={"eval": data})
    assert len(ev) == 2 and ev[0]["id"] != ev[1]["id"]
    assert [r["id"] for r in ev] == [formats.prompt_id(r["instruction"]) for r in rows]
    # an honest job answering both prompts is accepted, each answer paired with its own reference
    answers = [{"id": r["id"], "answers": [f"about {r['instruction'][-18:]}"]} for r in ev]
    checked = checked_answers(ev, answers)
    assert [a["answers"][0][-7:] for a in checked] == ["spring.", "autumn."]


def test_ids_are_hashes_of_the_whole_prompt_for_every_schema_without_its_own(tmp_path):
    tok = WordTokenizer()
    imdb = [formats.imdb_eval({"prompt": OPENING + end}, tok) for end in ("one", "two")]
    assert imdb[0]["id"] != imdb[1]["id"]
    post = "SUBREDDIT: r/x\nTITLE: t\nPOST: " + OPENING
    tldr = [formats.tldr_eval({"prompt": post + end + "\nTL;DR:", "chosen": "s"}, tok) for end in ("a", "b")]
    assert tldr[0]["id"] != tldr[1]["id"]


def test_a_formatter_that_repeats_an_id_is_refused():
    @formats.EVAL_FORMATS.register("test-colliding-ids")
    def colliding(row, tokenizer):
        return {"id": row["text"][:4], "prompt": row["text"], "reference": "r"}

    try:
        with pytest.raises(formats.FormatError, match="share the id 'same'"):
            formats.eval_rows([{"text": "same start A"}, {"text": "same start B"}], "test-colliding-ids",
                              WordTokenizer(), limit=None, seed=0)
    finally:
        formats.EVAL_FORMATS._items.pop("test-colliding-ids", None)  # leave the registry as it was
