"""LLM judges behind any OpenAI-compatible endpoint, defined by data (harness.judges.spec).

Pairwise mode (AlpacaEval / MT-Bench / arena-hard): every comparison is judged in BOTH orders (the
policy's answer as A, then as B). Each call gives the preference for position A (soft, from token
log-probs, where the endpoint gives them; otherwise the parsed verdict). The two orders combine by
MT-Bench's rule (FastChat): a verdict counts only when both orders agree; an order disagreement (a
win one way and a tie or a loss the other) is a tie, 0.5. That is the discrete verdict (1 / 0.5 / 0).
The preference is the mean of the two orders' values when they agree, so a graded label (e.g.
"A>B" configured as 0.75 in ``labels``) counts as configured, not by its sign; a tie (0.5) when
hard verdicts disagree; and the mean of the two orders when both are soft (log-probs). Order
disagreements and the position-bias rate (share of comparisons where the judge preferred the same
POSITION in both orders) are reported.

Single mode (MT-Bench, FastChat's single-answer grading): the policy's answer is graded 1-10, and so
is the reference answer where the comparison has one; prompts in ``reference_categories`` (math,
reasoning, coding) are graded with the reference answer shown as the expected solution, and such a
prompt without a reference is refused before any call (it could only be graded against an empty
solution). The preference is 1 / 0.5 / 0 as the policy's grade is higher / equal / lower; a
comparison with no reference answer is only graded (``details["status"]`` "graded", preference NaN:
there is nothing to prefer it to), never an empty text sent to the judge.

The judge's identity is its hash (the spec) AND its endpoint (``endpoint``: scheme, host, port and
path of the server, harness.llm_client.endpoint_id): two servers that answer to the same model name
(local servers accept any name) are different judges, and every cache key holds the endpoint.
Every call goes through the judgment cache first (harness.judges.cache); only a parsed verdict made
by the judge's own method at the same endpoint is served from it. Output that cannot be parsed (no label, or conflicting
labels: harness.judges.parsers) is retried once (at ``retry_temperature``), then counted as
unparseable and asked again on the next run. A log-probs judge whose endpoint returns no log-probs
reads the verdict from the text: such a call is counted (``n_logprob_fallbacks``), stored under its
own cache key and never served as a log-probs verdict. A call the endpoint refuses with a permanent
4xx (a content filter) is "not judged" with the reason, once other calls show the endpoint works;
when every call is refused the endpoint is wrong and the run fails with the endpoint's error.
A comparison with no usable call gets preference NaN and ``details["status"]`` "unparseable" or
"not_judged" in ``run()`` (which the CLI counts and reports); ``judge()`` (the Judge protocol)
refuses to hand a NaN to a caller and raises instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from harness.judges.base import Comparison, Judgment
from harness.judges.cache import JudgmentCache, cache_key
from harness.judges.parsers import CONFLICTING, parse_pairwise, parse_rating
from harness.judges.spec import JudgeSpec, load_spec, render
from harness.llm_client import (
    BudgetExceeded,
    ChatRequest,
    ClientSettings,
    LLMClient,
    LLMConfigError,
    LLMRequestRejected,
    LLMUnavailableError,
    Usage,
    endpoint_id,
)
from harness.prices import known_prices

RAW_KEEP = 300  # characters of the judge's raw answer kept in the cache, for audits
# refusals in a row, with no answer yet, after which the endpoint (not an item) is taken to be wrong
ENDPOINT_WRONG_AFTER = 8


class JudgeIncompleteError(RuntimeError):
    """The run stopped (budget or endpoint down) before every comparison was judged."""


@dataclass(frozen=True)
class Call:
    key: str  # judgment cache key of a verdict made by the judge's own method
    messages: tuple[dict, ...]
    fallback_key: str  # where a verdict read from the text instead of log-probs is stored


@dataclass
class JudgeRun:
    judgments: list[Judgment | None]  # None: not judged because the run stopped
    usage: dict  # the client's accounting (api_calls = requests sent; 0 when all came from the cache)
    n_calls: int = 0  # judge calls this run needed
    n_cached: int = 0  # of which answered from the cache
    n_unparseable_calls: int = 0  # calls unparseable even after one retry
    n_conflicting_calls: int = 0  # of which a reply held conflicting verdict labels
    n_logprob_fallbacks: int = 0  # calls of a log-probs judge read from the text (no log-probs returned)
    n_rejected_calls: int = 0  # calls the endpoint refused with a permanent 4xx (their comparisons: not judged)
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
        # endpoint precedence: argument > the judge's settings > OPENAI_BASE_URL (ClientSettings.resolved)
        where = ClientSettings(base_url=base_url or self.spec.base_url, model=self.spec.model).resolved().base_url
        # the settings' prices are those of the settings' model; another model's are its list price at
        # OpenAI's endpoint (harness.prices) or unknown unless given (dollars per million input, output tokens)
        if prices is None:
            same = self.spec.model == spec.model
            prices = (spec.price_input_per_mtok, spec.price_output_per_mtok) if same else \
                known_prices(self.spec.model, where)
        self.cost_known = prices is not None
        if budget_usd is not None and not self.cost_known:
            raise ValueError(f"a dollar budget needs the prices of model {self.spec.model!r}: pass "
                             "--price-input-per-mtok and --price-output-per-mtok (or use --budget-tokens)")
        self.client_settings = ClientSettings(
            base_url=where, model=self.spec.model, api_key_env=api_key_env or self.spec.api_key_env,
            max_concurrency=self.spec.max_concurrency, max_retries=max_retries,
            price_input_per_mtok=(prices or (0.0, 0.0))[0], price_output_per_mtok=(prices or (0.0, 0.0))[1],
            budget_usd=budget_usd, budget_tokens=budget_tokens).resolved()
        self.endpoint = endpoint_id(self.client_settings.base_url)
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
        graded = [j for j in run.judgments if j.details.get("status") == "graded"]  # type: ignore[union-attr]
        if graded:
            raise JudgeIncompleteError(
                f"judge {self.id}: {len(graded)} of {len(comparisons)} comparisons have no reference answer, so "
                "their answers were graded alone and have no preference; give every comparison a reference, or "
                "use LLMJudge.run() / `harness judge`, which report grades and preferences apart")
        bad = [j for j in run.judgments if math.isnan(j.preference)]  # type: ignore[union-attr]
        if bad:
            # a NaN would poison every mean downstream, and dropping it would hide it
            refused = [j.details["reason"] for j in bad if j.details["status"] == "not_judged"]
            raise JudgeIncompleteError(
                f"judge {self.id}: {len(bad)} of {len(comparisons)} comparisons got no verdict "
                f"({len(bad) - len(refused)} unparseable, raw answers in the judgment cache; {len(refused)} "
                f"refused by the endpoint{': ' + refused[0] if refused else ''}); fix the judge's prompt or "
                "parser, or use LLMJudge.run() / `harness judge`, which count them and report the rest")
        return run.judgments  # type: ignore[return-value]

    # -- the calls ---------------------------------------------------------------------------
    def _messages(self, user: str) -> tuple[dict, ...]:
        system = ({"role": "system", "content": self.spec.system_template.strip()},) if self.spec.system_template.strip() else ()
        return (*system, {"role": "user", "content": user})

    def _call(self, kind: str, parts: tuple[str, ...], user: str) -> Call:
        # the endpoint is part of every key: a verdict is never served for another server that answers
        # to the same model name; a verdict made by another method gets a key of its own
        where = f"endpoint:{self.endpoint}"
        return Call(cache_key(self.hash, kind, where, *parts), self._messages(user),
                    cache_key(self.hash, kind, where, *parts, "method:text"))

    def _pairwise_calls(self, c: Comparison) -> tuple[Call, Call]:
        calls = []
        for policy_first in (True, False):
            a, b = (c.output, c.reference) if policy_first else (c.reference, c.output)
            user = render(self.spec.user_template, {"prompt": c.prompt, "answer_a": a, "answer_b": b})
            parts = (c.prompt, c.output, c.reference, "AB" if policy_first else "BA")
            calls.append(self._call("pairwise", parts, user))
        return calls[0], calls[1]

    def _guided(self, c: Comparison) -> bool:
        return c.category.lower() in self.spec.reference_categories

    def _grade_calls(self, c: Comparison) -> tuple[Call, ...]:
        """The policy's answer, and the reference answer when there is one (FastChat grades only
        answers that exist)."""
        guided = self._guided(c)
        template = self.spec.reference_template if guided else self.spec.user_template
        calls = []
        for answer in (c.output, c.reference) if c.reference.strip() else (c.output,):
            user = render(template, {"prompt": c.prompt, "answer": answer, "reference": c.reference})
            calls.append(self._call("single", (c.prompt, answer, c.reference if guided else ""), user))
        return tuple(calls)

    def _check_references(self, comparisons: list[Comparison]) -> None:
        """Refuse, before any call, a reference-guided prompt whose reference solution is empty."""
        missing = [c for c in comparisons if self._guided(c) and not c.reference.strip()]
        if missing:
            first = missing[0]
            raise ValueError(
                f"judge {self.id}: {len(missing)} prompt(s) of a reference-guided category have no reference "
                f"answer (first: id {first.group!r}, category {first.category!r}, {first.prompt[:60]!r}); they "
                "would be graded against an empty solution. Add their reference answers, or use a judge whose "
                f"reference_categories ({', '.join(self.spec.reference_categories)}) leave them out")

    @property
    def method(self) -> str:
        """The source a verdict of this judge's own method has ("logprobs" or "text")."""
        return "logprobs" if self.spec.parser == "logprobs" else "text"

    def _final(self, result: dict) -> bool:
        return result.get("status") == "ok" and result.get("source") == self.method

    def _ask(self, call: Call) -> dict:
        """One judge call in a worker thread: ask, parse, retry once if unparseable."""
        spec = self.spec
        parse = parse_pairwise if spec.mode == "pairwise" else parse_rating
        top = spec.top_logprobs if spec.parser == "logprobs" else 0
        raw, problems = [], []
        for attempt, temperature in enumerate((spec.temperature, spec.retry_temperature), start=1):
            request = ChatRequest(call.messages, spec.max_tokens, temperature, top, spec.response_format)
            try:
                completion = self.client.complete(request)
            except LLMRequestRejected as exc:
                return {"status": "rejected", "value": None, "source": None, "attempts": attempt, "raw": raw,
                        "reason": str(exc), "http_status": exc.status}
            parsed = parse(spec, completion)
            raw.append(completion.text[:RAW_KEEP])
            if parsed.value is not None:
                return {"status": "ok", "value": parsed.value, "source": parsed.source, "attempts": attempt,
                        "raw": raw}
            problems.append(parsed.problem)
        return {"status": "unparseable", "value": None, "source": None, "attempts": 2, "raw": raw,
                "problems": problems}

    # -- a run -------------------------------------------------------------------------------
    def run(self, comparisons: list[Comparison]) -> JudgeRun:
        if self.spec.mode == "single":
            self._check_references(comparisons)
        make = self._pairwise_calls if self.spec.mode == "pairwise" else self._grade_calls
        pairs = [make(c) for c in comparisons]
        unique = {call.key: call for pair in pairs for call in pair}
        with JudgmentCache(self.cache_path) as cache:
            stored = cache.get_many(list(unique))
            results = {key: r for key, r in stored.items() if self._final(r)}
            n_cached = len(results)
            todo = [call for key, call in unique.items() if key not in results]
            stopped = self._ask_all(todo, cache, results, stale=set(stored) - set(results))
        usage = (self._client.usage if self._client else Usage()).as_dict()
        combine = self._combine_pairwise if self.spec.mode == "pairwise" else self._combine_grades
        judgments = [combine([results.get(call.key) for call in calls]) for calls in pairs]
        fresh = [results[call.key] for call in todo if call.key in results]
        unparseable = [r for r in fresh if r["status"] == "unparseable"]
        run = JudgeRun(judgments, usage, n_calls=len(unique), n_cached=n_cached, stopped=stopped,
                       n_unparseable_calls=len(unparseable),
                       n_conflicting_calls=sum(CONFLICTING in r.get("problems", ()) for r in unparseable),
                       n_logprob_fallbacks=sum(r["status"] == "ok" and r["source"] != self.method for r in fresh),
                       n_rejected_calls=sum(r["status"] == "rejected" for r in fresh))
        run.diagnostics = position_diagnostics(judgments) if self.spec.mode == "pairwise" else {}
        return run

    def _ask_all(self, todo: list[Call], cache: JudgmentCache, results: dict, stale: set[str]) -> str | None:
        """Ask the endpoint for ``todo`` into ``results``; why the run stopped early, or None.

        A refused call (permanent 4xx) is an item's fault once the endpoint has answered something
        (or verdicts were in the cache); refusals with no answer at all mean the endpoint is wrong.
        """
        if not todo:
            return None
        answered, refused = len(results), []
        calls = self.client.map(self._ask, todo)
        try:
            for index, result in calls:
                call = todo[index]
                results[call.key] = result
                if result["status"] == "rejected":
                    refused.append(result["reason"])
                    if not answered and len(refused) >= ENDPOINT_WRONG_AFTER:
                        break
                    continue
                answered += 1
                self._store(cache, call, result, replace=call.key in stale)
        except (BudgetExceeded, LLMUnavailableError) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            calls.close()
        if refused and not answered:
            raise LLMConfigError(f"the endpoint refused all {len(refused)} judge calls sent; first: {refused[0]}")
        return None

    def _store(self, cache: JudgmentCache, call: Call, result: dict, *, replace: bool) -> None:
        if result["status"] == "ok" and result["source"] != self.method:
            # a verdict of another method is kept apart: never served as one of this judge's
            cache.put(call.fallback_key, self.id, self.hash, result, replace=True)
        elif result["status"] == "ok":
            cache.put(call.key, self.id, self.hash, result, replace=replace)
        else:  # unparseable: kept for audits, asked again on the next run
            cache.put(call.key, self.id, self.hash, result)

    @staticmethod
    def _combine_pairwise(results: list[dict | None]) -> Judgment | None:
        first, second = results
        if first is None or second is None:
            return None
        # first: policy in position A; second: policy in position B
        prefs = {"policy_first": first["value"], "policy_second": None if second["value"] is None else 1.0 - second["value"]}
        ok = [p for p in prefs.values() if p is not None]
        details = {"orders": prefs, "sources": [first["source"], second["source"]],
                   "attempts": [first["attempts"], second["attempts"]],
                   "reasoning": _reasoning(("policy's answer as A", first), ("policy's answer as B", second))}
        if not ok:
            return _no_verdict(details, first, second)
        signs = [_sign(p) for p in ok]
        if len(ok) == 1:
            return Judgment(ok[0], {**details, "discrete": 0.5 + 0.5 * signs[0], "status": "one_order"})
        agree = signs[0] == signs[1]
        # MT-Bench (FastChat): a verdict stands only when both orders give it; any disagreement is a tie
        discrete = 0.5 + 0.5 * signs[0] if agree else 0.5
        soft = details["sources"] == ["logprobs", "logprobs"]
        details.update(discrete=discrete, order_disagreement=not agree,
                       same_position=signs[0] == -signs[1] != 0,  # preferred A both times, or B both times
                       status="ok")
        # agreeing orders keep the label values as configured (a graded "A>B" of 0.75 stays 0.75)
        return Judgment(sum(ok) / 2 if soft or agree else discrete, details)

    @staticmethod
    def _combine_grades(results: list[dict | None]) -> Judgment | None:
        if None in results:  # not asked: the run stopped
            return None
        if len(results) == 1:  # no reference answer: the policy's answer is graded alone
            return _graded_alone(results[0])
        output, reference = results
        grades = {"output": output["value"], "reference": reference["value"]}
        reasoning = _reasoning(("policy's answer", output), ("reference answer", reference))
        if None in grades.values():
            return _no_verdict({"grades": grades, "reasoning": reasoning}, output, reference)
        diff = grades["output"] - grades["reference"]
        preference = 0.5 if diff == 0 else float(diff > 0)
        return Judgment(preference, {"grades": grades, "status": "ok", "discrete": preference, "reasoning": reasoning})


def _reasoning(*calls: tuple[str, dict]) -> str | None:
    """The judge's own words for each call of a comparison (the last answer it gave, as much as the cache
    keeps: RAW_KEEP characters), for the answer viewer; None when no call kept any text."""
    parts = [f"[{label}] {result['raw'][-1]}" for label, result in calls if result.get("raw")]
    return "\n\n".join(parts) or None


def _graded_alone(output: dict) -> Judgment:
    """A comparison without a reference answer: its grade, and no preference (NaN)."""
    details = {"grades": {"output": output["value"], "reference": None},
               "reasoning": _reasoning(("policy's answer", output))}
    if output["value"] is None:
        return _no_verdict(details, output)
    return Judgment(math.nan, {**details, "status": "graded", "discrete": None})


def _no_verdict(details: dict, *results: dict) -> Judgment:
    """NaN preference: "not_judged" (with the endpoint's reason) when a call was refused, else "unparseable"."""
    refused = [r["reason"] for r in results if r["status"] == "rejected"]
    if refused:
        return Judgment(math.nan, {**details, "status": "not_judged", "reason": refused[0]})
    return Judgment(math.nan, {**details, "status": "unparseable"})


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

