"""The ``llm`` proposer: the DiscoPOP paper's protocol on any OpenAI-compatible endpoint.

As in the paper: a researcher persona, the exact loss interface, a JSON reply with ``thought``,
``name`` and ``code``, earlier candidates with their fitness, and the error text of failures
("Code not valid. Error: ...", "Training failed. Error: ..."). Unlike the paper's code, the error is
the REAL text (validation error, stderr tail, sandbox status), and each prompt is built afresh from
a selection of the archive (best, a fitness-spread of others, the most recent) instead of one
ever-growing chat, so a search can run past the context window. Templates are the files in
``templates/`` (override with ``LLMSettings.templates_dir``); every prompt sent is stored in the
candidate's ``meta["prompt"]`` so a run can be audited.

What the proposer trusts (threat model of the prompt):

- Trusted: the templates, the loss interface (``harness.lossfile.VOCABULARY``), the fitness numbers
  and statuses (computed by the harness on the trusted side of the sandbox), candidate ids.
- Untrusted, shown as data: a candidate's code (written by an LLM, possibly steered by earlier
  prompts) and every error text (validation messages quote the code; a crash's stderr tail and
  exception messages are written by the loss itself). Each goes into the prompt once, cleaned of
  control characters and inside a code fence longer than any backtick run it contains
  (``harness.text.quote_for_prompt``), so no text of it can close its block and reach the prompt's
  top level as an instruction. Names are reduced to ``[A-Za-z0-9_-]`` when a reply is parsed.
- Not covered: the LLM may still *read* instructions inside a quoted block and follow them; the
  proposer never acts on a reply except by evaluating its code in the sandbox, so the worst such
  text can do is steer what the next candidate is, which the sandbox already treats as hostile.
- Replies: a reply is parsed leniently (``parse_reply``); one that cannot be used becomes an
  ``invalid`` candidate whose error says what to fix, shown in the next prompt.
- Custom templates (``LLMSettings.templates_dir``) receive ``$code`` and ``$error`` already fenced.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from string import Template

from harness.discovery.archive import DUPLICATE, PENDING, Archive, Candidate
from harness.discovery.config import DiscoveryConfig, LLMSettings
from harness.discovery.proposer import Proposal
from harness.lossfile import VOCABULARY
from harness.text import clean_line, clean_terminal, quote_for_prompt

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_NAMES = ("system", "user", "section", "entry_ok", "entry_failed")
DEFAULT_BETA = 0.05  # the paper's beta; the suite may override it at training time
REPLY_SCHEMA = {
    "name": "loss_proposal",
    "strict": True,
    "schema": {
        "type": "object",
        "properties": {"thought": {"type": "string"}, "name": {"type": "string"}, "code": {"type": "string"}},
        "required": ["thought", "name", "code"],
        "additionalProperties": False,
    },
}
RESPONSE_FORMATS = {"json_schema": {"type": "json_schema", "json_schema": REPLY_SCHEMA},
                    "json_object": {"type": "json_object"}, "none": None}
FALLBACKS = ("json_schema", "json_object", "none")  # the order ``auto`` tries
VERDICTS = {"invalid": "Code not valid.", DUPLICATE: "Not evaluated: a near-duplicate of an earlier loss."}


def load_templates(directory: str | None) -> dict[str, Template]:
    """Default templates, each replaced by a same-named .txt file in ``directory`` if present."""
    out = {}
    for name in TEMPLATE_NAMES:
        path = Path(directory) / f"{name}.txt" if directory else None
        if path is None or not path.is_file():
            path = TEMPLATES / f"{name}.txt"
        out[name] = Template(path.read_text())
    return out


def select_for_prompt(archive: Archive, s: LLMSettings) -> list[tuple[str, list[Candidate]]]:
    """(section title, candidates): the best, a spread over the rest by fitness, the most recent."""
    scored = archive.scored()
    best = scored[: s.n_best]
    rest = scored[s.n_best:]
    if rest and s.n_diverse:
        step = max(1, len(rest) // s.n_diverse)
        diverse = rest[::step][: s.n_diverse]
    else:
        diverse = []
    shown = {c.id for c in best + diverse}
    done = [c for c in archive.all() if c.status != PENDING and c.id not in shown]
    recent = done[-s.n_recent:] if s.n_recent else []
    sections = [("Best so far", best), ("Others, spread over fitness", diverse), ("Most recent", recent)]
    return [(title, cands) for title, cands in sections if cands]


class LLMProposer:
    def __init__(self, config: DiscoveryConfig, client=None):
        self.settings = config.llm
        self.templates = load_templates(self.settings.templates_dir)
        self.beta = config.eval.beta if config.eval.beta is not None else DEFAULT_BETA
        self.structured = self.settings.structured_output
        self.prices = self.settings.prices()  # None: the cost of a reply is unknown (recorded as such)
        self._client = client

    @property
    def client(self):
        if self._client is None:
            from harness.llm_client import ClientSettings, LLMClient

            s = self.settings
            price_in, price_out = self.prices or (0.0, 0.0)  # unknown: no cap was set (DiscoveryConfig checks)
            self._client = LLMClient(ClientSettings(
                base_url=s.base_url, model=s.model, api_key_env=s.api_key_env, max_concurrency=1,
                max_retries=s.max_retries, timeout_s=s.timeout_s, price_input_per_mtok=price_in,
                price_output_per_mtok=price_out))
        return self._client

    # ---------------------------------------------------------------- prompt

    def messages(self, archive: Archive) -> list[dict]:
        t = self.templates
        vocabulary = "\n".join(f"- {k}: {v}" for k, v in VOCABULARY.items())
        system = t["system"].substitute(vocabulary=vocabulary, beta=self.beta)
        sections = [t["section"].substitute(title=title, entries="\n".join(self._entry(c) for c in cands))
                    for title, cands in select_for_prompt(archive, self.settings)]
        history = "\n".join(sections) if sections else "(none yet: this is the first proposal)"
        return [{"role": "system", "content": system},
                {"role": "user", "content": t["user"].substitute(archive=history)}]

    def _entry(self, c: Candidate) -> str:
        # Candidate code and error text are data: each is one fenced block it cannot close (see module doc).
        fields = dict(id=c.id, name=clean_line(c.name), generation=c.generation,
                      code=quote_for_prompt(c.code.strip() or "(no code)", "python"))
        if c.status == "ok":
            return self.templates["entry_ok"].substitute(fields, fitness=f"{c.fitness:.4f}")
        verdict = VERDICTS.get(c.status, f"Training failed (status: {c.status}).")
        error = clean_terminal(c.error or "").strip()
        if len(error) > self.settings.error_chars:
            error = "…" + error[-self.settings.error_chars:]
        return self.templates["entry_failed"].substitute(fields, verdict=verdict, error=quote_for_prompt(error))

    # ---------------------------------------------------------------- one proposal

    def propose(self, archive: Archive) -> Proposal:
        messages = self.messages(archive)
        completion, mode = self._complete(messages)
        s = self.client.settings
        cost = (completion.prompt_tokens * s.price_input_per_mtok
                + completion.completion_tokens * s.price_output_per_mtok) / 1e6
        meta = {"operator": "llm", "prompt": messages, "reply": completion.text, "structured_output": mode,
                "model": s.model, "temperature": self.settings.temperature,
                "tokens": [completion.prompt_tokens, completion.completion_tokens],
                # tokens are the client's estimate when the endpoint returned no usage (harness.llm_client)
                "tokens_estimated": not getattr(completion, "usage_reported", True), "cost_known": self.prices is not None}
        try:
            reply = parse_reply(completion.text)
        except ReplyError as e:
            return Proposal("", "unparsed_reply", (), meta, cost, error=str(e))
        meta["thought"] = reply["thought"]
        # Parents: the candidates the prompt showed, so lineage records what the model saw.
        parents = tuple(sorted({c.id for _, cands in select_for_prompt(archive, self.settings) for c in cands}))
        return Proposal(reply["code"], reply["name"], parents, meta, cost)

    def _complete(self, messages):
        """One completion; in ``auto`` mode the first output format the endpoint accepts is kept."""
        from harness.llm_client import ChatRequest, LLMError

        s = self.settings
        modes = FALLBACKS if self.structured == "auto" else (self.structured,)
        for i, mode in enumerate(modes):
            request = ChatRequest(tuple(messages), max_tokens=s.max_tokens, temperature=s.temperature,
                                  response_format=RESPONSE_FORMATS[mode])
            try:
                completion = self.client.complete(request)
            except LLMError as e:
                # Endpoints differ (llama.cpp's server knows json_object only): said, then next format.
                if i + 1 == len(modes) or "response_format" not in str(e):
                    raise
                log.warning("endpoint rejected response_format %s (%s); trying %s", mode, e, modes[i + 1])
                continue
            if self.structured == "auto":
                self.structured = mode
            return completion, mode
        raise AssertionError("unreachable")


REPLY_SHAPE = ('reply with exactly one JSON object {"thought": "...", "name": "...", "code": "..."} whose "code" '
               "is the whole loss file as one JSON string (newlines escaped as \\n), with no text around it")
_JSON_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)
_PY_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)\n[ \t]*\1[ \t]*$",
                       re.DOTALL | re.MULTILINE)
_DECODER = json.JSONDecoder(strict=False)  # strict=False: raw newlines and tabs inside strings


class ReplyError(ValueError):
    """An LLM reply that cannot be turned into a loss file; the message says what to fix."""


def _json_objects(text: str):
    """Candidate JSON objects in ``text``: a fenced block first, then each object that starts at a brace."""
    for m in _JSON_FENCE.finditer(text):
        body = m.group(1).strip()
        if body.startswith("{"):
            try:
                yield _DECODER.raw_decode(body)[0]
            except json.JSONDecodeError:
                pass
    for i, ch in enumerate(text):
        if ch == "{":
            try:
                yield _DECODER.raw_decode(text, i)[0]
            except json.JSONDecodeError:
                continue


def strip_code_fence(code: str) -> str:
    """``code`` without one markdown code fence around it (```python ... ```), else unchanged."""
    m = _PY_FENCE.fullmatch(code.strip("\n")) or _PY_FENCE.fullmatch(code.strip())
    return m.group(2) if m else code


def parse_reply(text: str) -> dict:
    """The reply's loss as {thought, name, code}; ReplyError says what is wrong and how to fix it.

    Recoverable shapes are used: the JSON object inside a ```json fence or surrounded by prose, raw
    newlines inside its strings (as in the DiscoPOP paper's own prompt example), a ``code`` field
    wrapped in a markdown code fence, and a reply that is only a fenced Python block.
    """
    first_error = None
    for obj in _json_objects(text):
        if not isinstance(obj, dict) or not ({"code", "name"} & obj.keys()):
            continue
        try:
            return _fields(obj)
        except ReplyError as e:
            first_error = first_error or e
    if first_error is not None:
        raise first_error
    fenced = _PY_FENCE.search(text)
    if fenced and "def " in fenced.group(2):
        return {"thought": "", "name": "unnamed", "code": fenced.group(2) + "\n"}
    problem = _json_problem(text)
    raise ReplyError(f"the reply is not usable: {problem}. To fix it, {REPLY_SHAPE}. "
                     f"The reply began: {text[:200]!r}")


def _json_problem(text: str) -> str:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return "it is not a JSON object (no braces found)"
    try:
        _DECODER.decode(text[start:end + 1])
    except json.JSONDecodeError as e:
        return f"it is not valid JSON ({e})"
    return 'its JSON object has no "name" and "code" fields'


def _fields(obj: dict) -> dict:
    missing = [k for k in ("name", "code") if not isinstance(obj.get(k), str) or not obj[k].strip()]
    if missing:
        raise ReplyError(f"the reply's JSON lacks a non-empty string for: {', '.join(missing)}. To fix it, "
                         f"{REPLY_SHAPE}")
    name = re.sub(r"[^A-Za-z0-9_\-]+", "_", obj["name"].strip())[:60] or "unnamed"
    return {"thought": str(obj.get("thought", "")), "name": name, "code": strip_code_fence(obj["code"])}


