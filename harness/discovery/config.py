"""Discovery settings: frozen, documented, checked in ``__post_init__``, saved into the archive."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from harness.executors import executor_names
from harness.executors.container_bench import ContainerOptions
from harness.llm_client import ClientSettings
from harness.prices import resolve_prices

STRUCTURED_OUTPUT = ("auto", "json_schema", "json_object", "none")


@dataclass(frozen=True)
class LLMSettings:
    """How the ``llm`` proposer talks to an OpenAI-compatible endpoint.

    The API key is never a setting: it is read from the environment variable named by ``api_key_env``.
    """

    base_url: str | None = None  # e.g. http://127.0.0.1:8080/v1; None = the client's default endpoint
    model: str = "gpt-4o"  # model name sent to the endpoint
    temperature: float = 1.0  # sampling temperature of proposals (the paper samples, it does not argmax)
    max_tokens: int = 1024  # cap on a reply; a loss is a few lines
    timeout_s: float = 120.0  # per request
    max_retries: int = 3  # transport retries per request (rate limits, dropped connections)
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the key ("" = no key, local servers)
    # auto: ask for a JSON-schema-constrained reply, and if the endpoint rejects response_format, say so
    # once and continue with the plain JSON instructions of the prompt. Others force one mode.
    structured_output: str = "auto"
    templates_dir: str | None = None  # a directory with system.txt / user.txt overriding the defaults
    n_best: int = 5  # prompt shows the best candidates ...
    n_diverse: int = 3  # ... a spread of others (fitness quantiles) ...
    n_recent: int = 4  # ... and the most recent ones, failures with their real error text
    error_chars: int = 1200  # tail of each error text shown in the prompt
    # USD per million prompt / completion tokens; None: the model's list price at OpenAI's endpoint
    # (harness.prices), else unknown (a --max-cost cap then refuses to start). 0 for a free local server.
    price_in_per_mtok: float | None = None
    price_out_per_mtok: float | None = None

    def prices(self) -> tuple[float, float] | None:
        """(input, output) USD per million tokens: given, or the model's list price; None when unknown."""
        endpoint = ClientSettings(base_url=self.base_url, model=self.model).resolved().base_url
        return resolve_prices(self.model, endpoint, (self.price_in_per_mtok, self.price_out_per_mtok))

    def __post_init__(self):
        if self.structured_output not in STRUCTURED_OUTPUT:
            raise ValueError(f"structured_output must be one of {STRUCTURED_OUTPUT}, got {self.structured_output!r}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must lie in [0, 2], got {self.temperature}")
        if min(self.n_best, self.n_diverse, self.n_recent) < 0:
            raise ValueError("archive selection sizes (n_best, n_diverse, n_recent) must be >= 0")
        if self.templates_dir is not None and not Path(self.templates_dir).is_dir():
            raise ValueError(f"templates_dir {self.templates_dir!r} is not a directory")
        if (self.price_in_per_mtok is None) != (self.price_out_per_mtok is None):
            raise ValueError("give both prices of the proposer's model (--price-in and --price-out) or neither")


@dataclass(frozen=True)
class EvalSettings:
    """What one evaluation runs: ``harness check`` then ``harness bench`` on the candidate file."""

    suite: str = "tiny"  # benchmark suite; fitness is its primary metric (win_rate)
    # Discovery uses fewer seeds than a leaderboard submission (3) to evaluate more candidates per
    # hour; every record states its seeds, and the best loss should be re-benched before submission.
    seeds: int = 1
    beta: float | None = None  # None = the suite's default
    backend: str = "auto"  # sandbox backend passed to check and bench
    evaluator: str = "bench"  # registered evaluator; "fake" is the test double
    # Skip benching a candidate whose check fingerprint (loss value and slope at rho = 0, stationary
    # points, convexity on the check's fixed probe inputs, computed in the sandbox) equals that of an
    # evaluated candidate. Off by default: a coarse fingerprint can merge losses that differ elsewhere.
    behavioural_dedupe: bool = False
    fake_seconds: float = 0.0  # the fake evaluator's simulated run time
    # torch threads per evaluation (the suite's train.threads). None = set by the executor: the CPU
    # policy's one thread per process (harness.runtime) for local workers, Ray tasks and containers,
    # so K workers use K cores and run the suite's own config. A value other than the suite's own changes the records' suite config
    # hash (not the built cache): discovery fitness is comparable within a run, and the best loss is
    # re-benched with the suite's defaults before it enters a board.
    threads: int | None = None
    # Suite config overrides for every bench of the run (search, screen, re-evaluation, DPO), e.g.
    # {"train.steps": 32}; they go into every record's suite config and its hash.
    overrides: dict = field(default_factory=dict)
    # The cascade's first stage (evaluator "cascade"): train this share of the suite's steps and stop
    # a candidate that is clearly below the untrained reference (harness.discovery.cascade).
    screen_fraction: float = 0.25
    # Wall-clock deadline of one candidate's whole evaluation (check, screen, bench): its loss calls stop
    # at it (status timeout, with its record; harness.sandbox.seeds), and a worker still busy
    # DEADLINE_GRACE_S later is interrupted (timeout). Training's per-call and per-seed limits are
    # relative to the check's speed (harness.sandbox.limits.TimeBudget).
    candidate_timeout_s: float = 7200.0

    def __post_init__(self):
        if not self.candidate_timeout_s > 0:
            raise ValueError(f"candidate_timeout_s must be positive, got {self.candidate_timeout_s}")
        if not 0.0 < self.screen_fraction < 1.0:
            raise ValueError(f"screen_fraction must lie in (0, 1), got {self.screen_fraction}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 (or None for the executor's choice), got {self.threads}")


@dataclass(frozen=True)
class FinalizeSettings:
    """The winner's-curse correction and the transfer check run when a search ends
    (harness.discovery.finalize, harness.discovery.transfer)."""

    top_k: int = 5  # candidates (best search fitness first) re-benched on fresh seeds; 0 = no finalize
    reeval_seeds: int = 3  # fresh seeds, disjoint from the search seeds; DPO is benched on the same ones
    transfer_suite: str | None = None  # held-out suite (e.g. smol); None = no transfer check
    transfer_top: int = 3  # re-evaluated candidates (best re-evaluated estimate first) benched there
    transfer_seeds: int | None = None  # None = the held-out suite's default seed count
    transfer_overrides: dict = field(default_factory=dict)  # suite overrides for the held-out suite
    level: float = 0.95  # confidence level of every interval in the report

    def __post_init__(self):
        if self.top_k < 0 or self.transfer_top < 1 or self.reeval_seeds < 1:
            raise ValueError("top_k must be >= 0, transfer_top and reeval_seeds >= 1")
        if self.transfer_seeds is not None and self.transfer_seeds < 1:
            raise ValueError(f"transfer_seeds must be >= 1, got {self.transfer_seeds}")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"level must lie in (0, 1), got {self.level}")


@dataclass(frozen=True)
class DiscoveryConfig:
    """One discovery run. Saved into the archive; ``--resume`` checks it matches."""

    out_dir: str  # archive, candidate files, report, plot, best loss
    proposer: str = "evolve"  # registered proposer name
    budget: int = 20  # maximum number of candidates (duplicates excluded, failures included)
    parallel: int = 1  # evaluations running at once
    executor: str = "local"  # local worker processes, or Ray tasks
    ray_address: str | None = None  # None = start a local Ray instance; "auto" or host:port = join a cluster
    ray_num_gpus: float = 0.0  # GPUs reserved per evaluation task on a Ray cluster
    in_container: bool = False  # ray: each task runs its evaluation in a job container on its node
    containers: ContainerOptions = field(default_factory=ContainerOptions)  # docker / ray --in-container
    max_wall_s: float | None = None  # stop proposing after this many seconds of this invocation
    max_cost: float | None = None  # stop proposing once the summed API cost (USD) reaches this
    max_consecutive_duplicates: int = 50  # a proposer that only repeats itself is stopped
    # Status "error" means the harness failed (sandbox missing, suite broken), not the candidate:
    # after this many in a row the run stops instead of spending its budget on them.
    max_consecutive_errors: int = 3
    seed: int = 0  # proposer randomness
    progress: bool = True  # tqdm progress bar
    eval: EvalSettings = field(default_factory=EvalSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    finalize: FinalizeSettings = field(default_factory=FinalizeSettings)

    def __post_init__(self):
        if self.budget < 1:
            raise ValueError(f"budget must be >= 1, got {self.budget}")
        if self.parallel < 1:
            raise ValueError(f"parallel must be >= 1, got {self.parallel}")
        if self.executor not in executor_names("discover"):
            raise ValueError(f"executor must be one of {', '.join(executor_names('discover'))}, got {self.executor!r}")
        if self.in_container and self.executor != "ray":
            raise ValueError("in_container is for executor='ray' (executor='docker' always uses containers)")
        if self.ray_address is not None and self.executor != "ray":
            raise ValueError("ray_address is only used with executor='ray'")
        if self.max_wall_s is not None and self.max_wall_s <= 0:
            raise ValueError("max_wall_s must be positive")
        if self.max_cost is not None and self.max_cost < 0:
            raise ValueError("max_cost must be >= 0")
        if self.max_cost is not None and self.proposer == "llm" and self.llm.prices() is None:
            raise ValueError(
                f"--max-cost cannot be enforced: the price of model {self.llm.model!r} at this endpoint is unknown "
                "(a local server answers to any model name). Pass --price-in and --price-out (dollars per million "
                "prompt / completion tokens; 0 and 0 for a free local server), or drop --max-cost")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def search_identity(self) -> dict:
        """The settings a resumed run must share with the original (budget, parallelism may change)."""
        identity = {"proposer": self.proposer, "suite": self.eval.suite, "seeds": self.eval.seeds,
                    "beta": self.eval.beta, "evaluator": self.eval.evaluator, "seed": self.seed}
        if self.eval.overrides:  # absent when empty, so archives made before overrides existed resume
            identity["overrides"] = dict(self.eval.overrides)
        return identity


def config_from_dict(saved: dict, **changes) -> DiscoveryConfig:
    """The DiscoveryConfig saved in an archive (``as_dict``), with top-level fields replaced."""
    known = {f.name for f in dataclasses.fields(DiscoveryConfig)}
    d = {k: v for k, v in saved.items() if k in known}
    parts = {"eval": EvalSettings, "llm": LLMSettings, "finalize": FinalizeSettings}
    for name, cls in parts.items():
        fields = {f.name for f in dataclasses.fields(cls)}
        d[name] = cls(**{k: v for k, v in (d.get(name) or {}).items() if k in fields})
    return DiscoveryConfig(**{**d, **changes})
