"""LLM judges behind any OpenAI-compatible endpoint, defined by data (harness.judges.spec).

Pairwise mode (AlpacaEval / MT-Bench / arena-hard): every comparison is judged in BOTH orders (the
policy's answer as A, then as B). Each call gives the preference for position A (soft, from token
log-probs, where the endpoint gives them; otherwise the parsed verdict); the policy's preference is
the mean over the two orders, so a judge that always picks the same position yields a tie (MT-Bench
counts such order disagreements as ties). Order disagreements and the position-bias rate (share of
comparisons where the judge preferred the same POSITION in both orders) are reported.

Single mode (MT-Bench): the policy's answer and the reference answer are each graded 1-10; prompts
in ``reference_categories`` (math, reasoning, coding) are graded with the reference answer shown as
the expected solution. The preference is 1 / 0.5 / 0 as the policy's grade is higher / equal / lower.

Every call goes through the judgment cache first (harness.judges.cache). Output that cannot be
parsed is retried once (at ``retry_temperature``), then stored as unparseable and counted. A
comparison with no usable call gets preference NaN and ``details["status"] == "unparseable"`` in
``run()`` (which the CLI counts and reports); ``judge()`` (the Judge protocol) refuses to hand a
NaN to a caller and raises instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from harness.judges.base import JUDGES, Comparison, Judgment
from harness.judges.cache import JudgmentCache, cache_key
from harness.judges.parsers import parse_pairwise, parse_rating
from harness.judges.spec import JudgeSpec, builtin_judges, load_spec, render
from harness.llm_client import (
    BudgetExceeded,
    ChatRequest,
    ClientSettings,
    LLMClient,
    LLMUnavailableError,
    Usage,
)

RAW_KEEP = 300  # characters of the judge's raw answer kept in the cache, for audits


class JudgeIncompleteError(RuntimeError):
    """The run stopped (budget or endpoint down) before every comparison was judged."""


@dataclass(frozen=True)
class Call:
    key: str  # judgment cache key
    messages: tuple[dict, ...]


@dataclass
class JudgeRun:
    judgments: list[Judgment | None]  # None: not judged because the run stopped
    usage: dict  # the client's accounting (api_calls = requests sent; 0 when all came from the cache)
    n_calls: int = 0  # judge calls this run needed
    n_cached: int = 0  # of which answered from the cache
    n_unparseable_calls: int = 0  # calls unparseable even after one retry
    stopped: str | None = None  # why the run stopped early, None when complete
    diagnostics: dict = field(default_factory=dict)


class LLMJudge:
    """The Judge protocol (harness.judges.base) for an LLM judge folder."""

    def __init__(self, judge: str | Path | JudgeSpec = "pairwise-weighted", *, base_url: str | None = None,
                 model: str | None = None, cache_path: Path | None = None, budget_usd: float | None = None,
                 budget_tokens: int | None = None, max_retries: int = 5, api_key_env: str | None = None,
                 prices: tuple[float, float] | None = None):
        spec = judge if isinstance(judge, JudgeSpec) else load_spec(judge)
        self.spec = spec.with_model(model)
        self.id, self.hash = self.spec.name, self.spec.hash
        # the settings' prices are those of the settings' model: another model's cost is unknown
        # unless its prices (dollars per million input, output tokens) are given
        self.cost_known = prices is not None or self.spec.model == spec.model
        if prices is None:
            prices = (spec.price_input_per_mtok, spec.price_output_per_mtok) if self.cost_known else (0.0, 0.0)
        if budget_usd is not None and not self.cost_known:
            raise ValueError(f"a dollar budget needs the prices of model {self.spec.model!r}: pass "
                             "--price-input-per-mtok and --price-output-per-mtok (or use --budget-tokens)")
        # endpoint precedence: argument > the judge's settings > OPENAI_BASE_URL (ClientSettings.resolved)
        self.client_settings = ClientSettings(
            base_url=base_url or self.spec.base_url, model=self.spec.model,
            api_key_env=api_key_env or self.spec.api_key_env,
            max_concurrency=self.spec.max_concurrency, max_retries=max_retries,
            price_input_per_mtok=prices[0], price_output_per_mtok=prices[1],
            budget_usd=budget_usd, budget_tokens=budget_tokens).resolved()
        self.cache_path = cache_path
        self._client: LLMClient | None = None

    @property
    def client(self) -> LLMClient:
        # created on first use, so a fully cached run needs neither a key nor a server
        if self._client is None:
            self._client = LLMClient(self.client_settings)
        return self._client

    def judge(self, comparisons: list[Comparison]) -> list[Judgment]:
        """The Judge protocol: a preference for EVERY comparison, or an error saying why not."""
        run = self.run(comparisons)
        if run.stopped:
            raise JudgeIncompleteError(f"judge {self.id} stopped early ({run.stopped}); "
                                       "re-run to resume from the judgment cache")
        bad = sum(math.isnan(j.preference) for j in run.judgments)  # type: ignore[union-attr]
        if bad:
            # a NaN would poison every mean downstream, and dropping it would hide it
            raise JudgeIncompleteError(
                f"judge {self.id}: {bad} of {len(comparisons)} comparisons got no parseable verdict "
                "(raw answers are in the judgment cache); fix the judge's prompt or parser, or use "
                "LLMJudge.run() / `harness judge`, which count them and report the rest")
        return run.judgments  # type: ignore[return-value]

    # -- the calls ---------------------------------------------------------------------------
    def _messages(self, user: str) -> tuple[dict, ...]:
        system = ({"role": "system", "content": self.spec.system_template.strip()},) if self.spec.system_template.strip() else ()
        return (*system, {"role": "user", "content": user})

    def _pairwise_calls(self, c: Comparison) -> tuple[Call, Call]:
        calls = []
        for policy_first in (True, False):
            a, b = (c.output, c.reference) if policy_first else (c.reference, c.output)
            key = cache_key(self.hash, "pairwise", c.prompt, c.output, c.reference, "AB" if policy_first else "BA")
            user = render(self.spec.user_template, {"prompt": c.prompt, "answer_a": a, "answer_b": b})
            calls.append(Call(key, self._messages(user)))
        return calls[0], calls[1]

    def _grade_calls(self, c: Comparison) -> tuple[Call, Call]:
        guided = c.category.lower() in self.spec.reference_categories
        template = self.spec.reference_template if guided else self.spec.user_template
        calls = []
        for answer in (c.output, c.reference):
            key = cache_key(self.hash, "single", c.prompt, answer, c.reference if guided else "")
            user = render(template, {"prompt": c.prompt, "answer": answer, "reference": c.reference})
            calls.append(Call(key, self._messages(user)))
        return calls[0], calls[1]

    def _ask(self, call: Call) -> dict:
        """One judge call in a worker thread: ask, parse, retry once if unparseable."""
        spec = self.spec
        parse = parse_pairwise if spec.mode == "pairwise" else parse_rating
        top = spec.top_logprobs if spec.parser == "logprobs" else 0
        raw = []
        for attempt, temperature in enumerate((spec.temperature, spec.retry_temperature), start=1):
            request = ChatRequest(call.messages, spec.max_tokens, temperature, top, spec.response_format)
            completion = self.client.complete(request)
            parsed = parse(spec, completion)
            raw.append(completion.text[:RAW_KEEP])
            if parsed.value is not None:
                return {"status": "ok", "value": parsed.value, "source": parsed.source, "attempts": attempt,
                        "raw": raw}
        return {"status": "unparseable", "value": None, "source": None, "attempts": 2, "raw": raw}

    # -- a run -------------------------------------------------------------------------------
    def run(self, comparisons: list[Comparison]) -> JudgeRun:
        make = self._pairwise_calls if self.spec.mode == "pairwise" else self._grade_calls
        pairs = [make(c) for c in comparisons]
        unique = {call.key: call for pair in pairs for call in pair}
        results: dict[str, dict] = {}
        stopped = None
        with JudgmentCache(self.cache_path) as cache:
            results.update(cache.get_many(list(unique)))
            n_cached = len(results)
            todo = [call for key, call in unique.items() if key not in results]
            try:
                if todo:
                    for index, result in self.client.map(self._ask, todo):
                        cache.put(todo[index].key, self.id, self.hash, result)
                        results[todo[index].key] = result
            except (BudgetExceeded, LLMUnavailableError) as exc:
                stopped = f"{type(exc).__name__}: {exc}"
        usage = (self._client.usage if self._client else Usage()).as_dict()
        combine = self._combine_pairwise if self.spec.mode == "pairwise" else self._combine_grades
        judgments = [combine(results.get(first.key), results.get(second.key)) for first, second in pairs]
        run = JudgeRun(judgments, usage, n_calls=len(unique), n_cached=n_cached, stopped=stopped,
                       n_unparseable_calls=sum(r["status"] == "unparseable" for r in results.values()))
        run.diagnostics = position_diagnostics(judgments) if self.spec.mode == "pairwise" else {}
        return run

    @staticmethod
    def _combine_pairwise(first: dict | None, second: dict | None) -> Judgment | None:
        if first is None or second is None:
            return None
        # first: policy in position A; second: policy in position B
        prefs = {"policy_first": first["value"], "policy_second": None if second["value"] is None else 1.0 - second["value"]}
        ok = [p for p in prefs.values() if p is not None]
        details = {"orders": prefs, "sources": [first["source"], second["source"]],
                   "attempts": [first["attempts"], second["attempts"]]}
        if not ok:
            return Judgment(math.nan, {**details, "status": "unparseable"})
        signs = [_sign(p) for p in ok]
        # the discrete verdict counts an order disagreement as a tie (MT-Bench)
        details["discrete"] = 0.5 + 0.5 * (sum(signs) > 0) - 0.5 * (sum(signs) < 0)
        if len(ok) == 2:
            details["order_disagreement"] = signs[0] != signs[1]
            details["same_position"] = signs[0] == -signs[1] != 0  # preferred A both times, or B both times
        return Judgment(sum(ok) / len(ok), {**details, "status": "ok" if len(ok) == 2 else "one_order"})

    @staticmethod
    def _combine_grades(output: dict | None, reference: dict | None) -> Judgment | None:
        if output is None or reference is None:
            return None
        grades = {"output": output["value"], "reference": reference["value"]}
        if None in grades.values():
            return Judgment(math.nan, {"grades": grades, "status": "unparseable"})
        diff = grades["output"] - grades["reference"]
        preference = 0.5 if diff == 0 else float(diff > 0)
        return Judgment(preference, {"grades": grades, "status": "ok", "discrete": preference})


def _sign(preference: float) -> int:
    return 0 if abs(preference - 0.5) < 1e-9 else (1 if preference > 0.5 else -1)


def position_diagnostics(judgments: list[Judgment | None]) -> dict:
    """Order disagreements and the position-bias rate over comparisons judged in both orders."""
    both = [j.details for j in judgments if j is not None and "order_disagreement" in j.details]
    firsts = [j.details["orders"]["policy_first"] for j in judgments if j is not None]
    seconds = [1.0 - j.details["orders"]["policy_second"] for j in judgments
               if j is not None and j.details["orders"]["policy_second"] is not None]
    a_prefs = [p for p in firsts if p is not None] + seconds
    return {
        "n_both_orders": len(both),
        "n_order_disagreements": sum(d["order_disagreement"] for d in both),
        "position_bias_rate": sum(d["same_position"] for d in both) / len(both) if both else None,
        # mean preference for whatever sat in position A (0.5 = no position preference)
        "position_a_preference": sum(a_prefs) / len(a_prefs) if a_prefs else None,
    }


for _name in builtin_judges():
    JUDGES.add(_name, partial(LLMJudge, _name), load_spec(_name).description)
