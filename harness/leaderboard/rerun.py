"""Verifying a record made elsewhere by re-running its seeds here, prompt by prompt.

**Which seeds: the verifier's choice.** By default every seed of the record is re-run (a fabricated
seed has nowhere to hide). With ``sample=k`` the verifier re-runs k seeds drawn AFTER the record is
read, with the operating system's random source (``secrets.SystemRandom``), so a submitter can neither
predict nor steer the draw. A record with f fabricated seeds out of n then passes with probability
C(n-f, k) / C(n, k), at most (n-k)/n (one fabricated seed): ``false_accept_rate``. The board's note
says which seeds were re-run and that rate (0 for all seeds).

**The rule, per re-run seed** (the re-run is ``harness.reproduce.reproduce``: the record's own loss
bytes, suite config, beta and seed ids):

- the same status and both measured: the seed AGREES when its per-prompt outcomes agree, the mean
  absolute difference over prompts at most ``tolerance`` (a win rate alone could be kept while
  outcomes are moved between prompts, which changes every paired comparison on the board), and its
  win rate differs by at most ``tolerance``; otherwise it CONTRADICTS the record;
- measured on one side only, another status, or a candidate failure here: CONTRADICTS;
- censored or unresolved in both, or a harness fault here (status ``error``): PROVES NOTHING. A seed
  without a value at the budget carries no claim to check, so it can neither verify nor refute.

A record is refused when any seed contradicts it; it is verified when none does and at least one
agrees; otherwise (every re-run seed proves nothing) it is added unverified.

**Tolerance.** A parameter; its default is ``harness.reproduce.default_tolerance``: 0 (bit for bit,
``REPRODUCTION_TOLERANCE``) when the record names this machine's CPU model and instruction set, else
``CROSS_CPU_TOLERANCE`` (0.001: a thousand times the difference measured between instruction sets). A
submitter who misstates the CPU gains at most that: 0.1 points per seed, and 0.1 points of outcome per
prompt on average. A record's own per-seed CI never widens it (a forger writes that CI).
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import harness.reproduce

AGREES, CONTRADICTS, PROVES_NOTHING = "agrees", "contradicts", "proves nothing"
FLOAT_SLACK = 1e-9  # the same numbers computed twice and rounded alike differ by nothing more


@dataclass(frozen=True)
class SeedCheck:
    seed: int
    outcome: str  # AGREES, CONTRADICTS or PROVES_NOTHING
    claimed: float | None  # the record's win rate for the seed (None: censored, unresolved or failed)
    measured: float | None  # the re-run's
    prompt_difference: float | None  # mean |difference| over prompts; None without rows on both sides
    detail: str


@dataclass(frozen=True)
class RerunVerdict:
    seeds: tuple[SeedCheck, ...]
    seeds_total: int
    sampled: bool  # True: a random subset drawn here; False: every seed
    tolerance: float
    false_accept_rate: float  # for one fabricated seed, under this choice of seeds
    tolerance_basis: str = "given"  # why this tolerance (harness.reproduce.default_tolerance's reason)

    @property
    def contradicted(self) -> bool:
        return any(s.outcome == CONTRADICTS for s in self.seeds)

    @property
    def verified(self) -> bool:
        return not self.contradicted and any(s.outcome == AGREES for s in self.seeds)

    @property
    def message(self) -> str:
        choice = (f"seeds {_ids(self.seeds)} drawn here at random from {self.seeds_total} (false-accept rate "
                  f"{self.false_accept_rate:.2f} for one fabricated seed)" if self.sampled
                  else f"all {self.seeds_total} seeds ({_ids(self.seeds)})")
        parts = "; ".join(f"seed {s.seed} {s.outcome}: {s.detail}" for s in self.seeds)
        if self.contradicted:
            head = "re-run here, the record is contradicted"
        elif self.verified:
            head = "re-run here, the record agrees"
        else:
            head = "re-run here, nothing was proven (every re-run seed censored or unresolved on both sides)"
        return (f"{head}: {choice}, tolerance {self.tolerance:g} per prompt and per win rate "
                f"({self.tolerance_basis}); {parts}")

    def note(self) -> dict:
        """The board's verification note (harness.leaderboard.publish seals it)."""
        return {"verified": self.verified, "method": "rerun", "note": self.message[:1900],
                "seeds_rerun": [s.seed for s in self.seeds],
                "seeds_agreeing": [s.seed for s in self.seeds if s.outcome == AGREES],
                "seeds_proving_nothing": [s.seed for s in self.seeds if s.outcome == PROVES_NOTHING],
                "seed_choice": "sample" if self.sampled else "all", "tolerance": self.tolerance,
                "tolerance_basis": self.tolerance_basis[:300],
                "false_accept_rate": self.false_accept_rate}


def _ids(seeds) -> str:
    return ", ".join(str(s.seed) for s in seeds)


def false_accept_rate(n: int, k: int, fabricated: int = 1) -> float:
    """Probability that k seeds drawn at random from n miss all ``fabricated`` ones: C(n-f, k) / C(n, k)."""
    if not 0 < k <= n or fabricated < 0:
        raise ValueError(f"draw 1..{n} seeds (got {k}) and count fabricated seeds from 0 (got {fabricated})")
    return math.comb(n - fabricated, k) / math.comb(n, k) if fabricated <= n else 0.0


def choose_seeds(seeds: list[int], sample: int | None, rng=None) -> list[int]:
    """Every seed (``sample`` None), or ``sample`` of them drawn with ``rng`` (default: the OS's
    random source, unpredictable to the submitter), in the record's order."""
    if sample is None:
        return list(seeds)
    if not 0 < sample <= len(seeds):
        raise ValueError(f"re-run 1 to {len(seeds)} of the record's seeds, not {sample}")
    drawn = set((rng or secrets.SystemRandom()).sample(list(seeds), sample))
    return [s for s in seeds if s in drawn]


def compare_seed(record: dict, rerun: dict, seed: int, tolerance: float) -> SeedCheck:
    """The rule of the module doc for one seed of ``record`` against the same seed of ``rerun``."""
    claimed = record["per_seed"][record["seeds"].index(seed)].get("win_rate")
    if rerun["status"] != "ok":
        outcome = PROVES_NOTHING if rerun["status"] == "error" else CONTRADICTS  # error: the harness, not the loss
        return SeedCheck(seed, outcome, claimed, None, None, f"status {rerun['status']} here, ok in the record")
    if seed not in rerun["seeds"]:
        return SeedCheck(seed, PROVES_NOTHING, claimed, None, None, "the re-run has no such seed (a harness fault)")
    measured = rerun["per_seed"][rerun["seeds"].index(seed)].get("win_rate")
    if claimed is None and measured is None:
        return SeedCheck(seed, PROVES_NOTHING, None, None, None, "censored or unresolved on both sides")
    if (claimed is None) != (measured is None):
        return SeedCheck(seed, CONTRADICTS, claimed, measured, None,
                         f"{'measured' if measured is not None else 'censored or unresolved'} here, "
                         f"{'measured' if claimed is not None else 'censored or unresolved'} in the record")
    mine, theirs = harness.reproduce.primary_row(rerun, seed), harness.reproduce.primary_row(record, seed)
    delta = abs(float(measured) - float(claimed))
    if mine is not None and theirs is not None and len(mine) == len(theirs) and theirs:
        gap = sum(abs(float(a) - float(b)) for a, b in zip(mine, theirs, strict=True)) / len(theirs)
        ok = gap <= tolerance + FLOAT_SLACK and delta <= tolerance + FLOAT_SLACK
        return SeedCheck(seed, AGREES if ok else CONTRADICTS, claimed, measured, gap,
                         f"win rate {measured:.4f} here, {claimed:.4f} in the record; per-prompt outcomes differ "
                         f"by {gap:.4f} on average over {len(theirs)} prompts")
    if (mine is None) != (theirs is None) or (mine is not None and len(mine) != len(theirs)):
        return SeedCheck(seed, CONTRADICTS, claimed, measured, None,
                         "the per-prompt outcomes do not match in shape (a table on one side only, or other prompts)")
    ok = delta <= tolerance + FLOAT_SLACK  # schema 1 (no per-prompt table on either side): the win rate only
    return SeedCheck(seed, AGREES if ok else CONTRADICTS, claimed, measured, None,
                     f"win rate {measured:.4f} here, {claimed:.4f} in the record (no per-prompt outcomes)")


def judge(record: dict, rerun: dict, seeds: list[int], tolerance: float, sampled: bool,
          basis: str = "given") -> RerunVerdict:
    """The verdict on ``record`` from ``rerun`` (a bench record of ``seeds``), by the module doc's rule."""
    n = len(record["seeds"])
    far = false_accept_rate(n, len(seeds)) if sampled else 0.0
    return RerunVerdict(tuple(compare_seed(record, rerun, s, tolerance) for s in seeds), n, sampled, tolerance, far,
                        basis)


def verify_by_rerun(record: dict, *, sample: int | None = None, tolerance: float | None = None,
                    backend: str = "auto", progress: bool = False, rng=None) -> RerunVerdict:
    """Re-run the chosen seeds of ``record`` here (harness.reproduce) and judge them (module doc).

    Raises ValueError when the record cannot be re-run here (harness.reproduce.ReproduceError)."""
    if tolerance is None:
        tolerance, basis = harness.reproduce.default_tolerance(record)
    else:
        tolerance, basis = float(tolerance), "given"
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be a non-negative fraction, got {tolerance}")
    seeds = choose_seeds(record["seeds"], sample, rng)
    rep = harness.reproduce.reproduce(record, seeds=seeds, tolerance=tolerance, backend=backend, progress=progress)
    return judge(record, rep.rerun, seeds, tolerance, sample is not None, basis)
