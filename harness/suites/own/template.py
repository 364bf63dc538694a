"""The user's model and their data together: chat template, tokenisation and context length, checked up front.

A pair is tokenised as TRL does for conversational data: the prompt is the model's chat template over
the prompt's messages with the generation prompt added; an answer is the template over the prompt plus
the assistant's message, minus that prompt text (so it carries the template's end-of-turn marker and
the model learns to stop). That is only sound when the second rendering starts with the first (the
"prefix property"); a template that breaks it, or data already rendered with another template (a
prompt holding the tokenizer's special tokens), is refused here, with the rows named.
"""

from __future__ import annotations

from harness.suites.own.data import MAX_LISTED, DataError, PreferenceRow


class TemplateError(DataError):
    """The model's chat template and the data do not fit together."""


def _render(tokenizer, messages, *, generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template([{"role": r, "content": c} for r, c in messages], tokenize=False,
                                         add_generation_prompt=generation_prompt)


def check_model(tokenizer) -> None:
    """Refuse a tokenizer that cannot run the suite: no chat template, no EOS token."""
    if not getattr(tokenizer, "chat_template", None):
        raise TemplateError("the model's tokenizer has no chat template (tokenizer_config.json 'chat_template' or "
                            "chat_template.jinja): the suite renders prompts with the model's own template; add the "
                            "template the model was tuned with to the folder")
    if tokenizer.eos_token_id is None:
        raise TemplateError("the model's tokenizer has no EOS token: generation could not stop")


def context_length(model_config, tokenizer) -> int | None:
    """The model's context in tokens (max_position_embeddings, n_positions, or the tokenizer's limit)."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(model_config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 10**8 else None


def prompt_text(tokenizer, row: PreferenceRow, system: str | None = None) -> str:
    messages = ((("system", system),) if system and row.messages[0][0] != "system" else ()) + row.messages
    return _render(tokenizer, messages, generation_prompt=True)


def tokenize_rows(tokenizer, rows: list[PreferenceRow], *, max_length: int | None, system: str | None = None,
                  what: str = "row") -> list[dict]:
    """{prompt_ids, chosen_ids, rejected_ids, prompt, chosen_text, rejected_text} per row; raises TemplateError
    naming the rows whose text holds special tokens, whose template breaks the prefix property, or that
    do not fit ``max_length`` tokens (prompt + the longer answer)."""
    specials = [t for t in tokenizer.all_special_tokens if len(t) > 1]
    leaked, broken, long_rows, out = [], [], [], []
    for n, row in enumerate(rows, start=1):
        texts = [c for _, c in row.messages] + [row.chosen, row.rejected]
        if any(s in t for s in specials for t in texts):
            leaked.append(n)
            continue
        try:
            prompt = prompt_text(tokenizer, row, system)
            fulls = [_render(tokenizer, ((("system", system),) if system and row.messages[0][0] != "system" else ())
                             + row.messages + (("assistant", answer),), generation_prompt=False)
                     for answer in (row.chosen, row.rejected)]
        except Exception as e:  # noqa: BLE001  (jinja raises TemplateError for roles a template refuses)
            raise TemplateError(f"the model's chat template refuses {what} {n}: {type(e).__name__}: {e}. The data's "
                                "roles must be ones the template accepts (e.g. some templates take no system turn)") from None
        if not all(f.startswith(prompt) for f in fulls):
            broken.append(n)
            continue
        ids = [tokenizer.encode(t, add_special_tokens=False) for t in (prompt, *(f[len(prompt):] for f in fulls))]
        if max_length and len(ids[0]) + max(len(ids[1]), len(ids[2])) > max_length:
            long_rows.append(f"{n} ({len(ids[0]) + max(len(ids[1]), len(ids[2]))} tokens)")
            continue
        out.append({"prompt": row.user_text, "prompt_ids": ids[0], "chosen_ids": ids[1], "rejected_ids": ids[2],
                    "chosen_text": row.chosen, "rejected_text": row.rejected})
    problems = []
    if leaked:
        problems.append(f"{what}(s) {_listed(leaked)} already hold special tokens of the model ({', '.join(specials[:4])}"
                        "...): the data seems rendered with a chat template; give plain text and the model's "
                        "template is applied here")
    if broken:
        problems.append(f"the chat template renders {what}(s) {_listed(broken)} differently with the answer than "
                        "without it (the prompt is not a prefix), so pairs cannot be split into prompt and answer; "
                        "use a template whose generation prompt is a prefix of the assistant turn")
    if long_rows:
        problems.append(f"{what}(s) {_listed(long_rows)} exceed the context of {max_length} tokens (prompt + "
                        "answer); drop or shorten them, or set data.max_length lower to name your own limit")
    if problems:
        raise TemplateError("; ".join(problems))
    return out


def _listed(items: list) -> str:
    head = ", ".join(str(x) for x in items[:MAX_LISTED])
    return head + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")
