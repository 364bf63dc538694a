"""Agreement between two boards' verdicts: do two suites rank the same losses the same way?

Inputs are the ok records of two boards (one record per loss on each). The losses compared are those
both boards have, and of those only losses measured on every seed of the compared outcomes table on
both: a loss censored on some seed is shown apart on its board and never ranked there, so it is
listed apart here too, with the reason (its surviving seeds' mean is not on the same scale).

- ``spearman`` (scipy.stats.spearmanr) between the two suites' per-loss means, with a percentile
  bootstrap CI. Each replicate resamples the seeds and the prompts of a suite jointly for every loss
  (every loss ran the same seeds and was scored on the same prompts); two boards that share their
  prompts and seed ids (a suite and its beta variant) get the same draw on both, so their shared
  noise is in the interval. Then it recomputes every loss's mean, and
  takes Spearman's rho. Coverage on simulations with known truth: tests/test_agreement.py and
  benchmarks/validation/bench_agreement_coverage.py.
- ``pair_sign_agreement``: over loss pairs separated on both suites (``harness.comparison``: paired
  crossed CI of the difference excludes 0, 95%, not adjusted for multiplicity; a comparison on one
  seed has no seed noise in its interval and never counts as separated), the share whose
  differences have the same sign.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.stats import spearmanr

from harness.comparison import CompareError, compare_records
from harness.seal import is_verified
from harness.text import clean_line


@dataclass(frozen=True)
class Board:
    """The ok records of one suite config, by loss name, and the outcomes table compared."""

    suite: str
    config_hash: str
    records: dict[str, dict]
    table: str

    def rows(self, loss: str) -> np.ndarray:
        """(S, P) float table of ``loss``; unmeasured seeds (null rows, or not "measured" on the
        primary table) are NaN rows."""
        r = self.records[loss]
        out = r["outcomes"]
        status = out.get("seed_status") or ["measured"] * len(r["seeds"])
        primary = self.table == out.get("primary", "verdict")
        rows = []
        width = max((len(t) for t in out["tables"][self.table] if t is not None), default=0)
        for t, st in zip(out["tables"][self.table], status, strict=True):
            rows.append([np.nan] * width if t is None or (primary and st != "measured") else t)
        return np.asarray(rows, dtype=float)

    def seeds_measured(self, loss: str) -> tuple[int, int]:
        """(measured seeds, seeds) of ``loss`` on this board's table."""
        rows = self.rows(loss)
        return int((~np.all(np.isnan(rows), axis=1)).sum()), rows.shape[0]

    def design(self) -> tuple:
        """What a draw of seeds and prompts means on this board: (prompts_sha256, seed ids) of its
        records, or None when the records differ in either."""
        keys = {(r["outcomes"].get("prompts_sha256"), tuple(r["seeds"])) for r in self.records.values()}
        return keys.pop() if len(keys) == 1 else None


def board(records: list[dict], table: str | None = None, *, include_unverified: bool = False) -> Board:
    """Group ok records of ONE suite config by loss name; ValueError when they mix configs or a loss
    has two records (a board holds one entry per loss per config).

    Only verified records are evidence (checked and sealed by this board's key,
    harness.seal.is_verified): the others are left out unless ``include_unverified``."""
    ok = [r for r in records if r.get("status") == "ok" and isinstance(r.get("outcomes"), dict)
          and (include_unverified or is_verified(r))]
    if not ok:
        raise ValueError("no verified ok record with outcomes among the records given (unverified records are "
                         "not evidence: seal the board with `harness leaderboard --seal` if you vouch for it, or "
                         "pass include_unverified)")
    configs = {(r["suite"]["name"], r["suite"]["config_hash"]) for r in ok}
    if len(configs) != 1:
        raise ValueError(f"records of one suite config expected, got {sorted(configs)}")
    by_loss: dict[str, dict] = {}
    for r in ok:
        name = clean_line(str(r["loss"]["name"]))
        if name in by_loss:
            raise ValueError(f"two ok records for loss {name!r} in suite {r['suite']['name']}")
        by_loss[name] = r
    (suite, config_hash), = configs
    primary = ok[0]["outcomes"].get("primary", "verdict")
    return Board(suite, config_hash, by_loss, table or primary)


def _means(tables: list[np.ndarray], seeds: np.ndarray, prompts: np.ndarray) -> np.ndarray:
    """Per loss, the mean of its (S, P) table over the drawn seed rows and prompt columns."""
    return np.array([t[np.ix_(seeds, prompts)].mean() for t in tables])


def spearman_bootstrap(a: list[np.ndarray], b: list[np.ndarray], *, shared: bool = False, resamples: int = 2000,
                       level: float = 0.95, seed: int = 0) -> dict:
    """Spearman's rho between per-loss means of two suites, with a crossed bootstrap CI.

    ``a``, ``b``: per loss (same order), its complete (S, P) table on that suite; every loss of one
    suite has the same S and P. ``shared``: the two suites ran the same seeds on the same prompts (one
    draw serves both). Returns {"spearman", "spearman_ci", "level", "percentile_ci", "basic_ci",
    "resamples", "dropped_resamples", "method"}. ValueError for fewer than 3 losses, ragged or
    incomplete tables, or ``shared`` with different shapes.
    """
    if len(a) != len(b) or len(a) < 3:
        raise ValueError(f"Spearman's rho needs the same 3+ losses on both suites, got {len(a)} and {len(b)}")
    for tables in (a, b):
        if len({t.shape for t in tables}) != 1:
            raise ValueError("every loss of a suite needs the same (seeds x prompts) table shape")
        if any(not np.isfinite(t).all() for t in tables):
            raise ValueError("a loss has an unmeasured seed; leave it out (agreement() lists it apart)")
    if shared and a[0].shape != b[0].shape:
        raise ValueError(f"shared seeds and prompts need one table shape, got {a[0].shape} and {b[0].shape}")
    (sa, pa), (sb, pb) = a[0].shape, b[0].shape
    rng = np.random.default_rng(seed)
    point = float(spearmanr(_means(a, np.arange(sa), np.arange(pa)), _means(b, np.arange(sb), np.arange(pb))).statistic)
    rhos, dropped = [], 0
    for _ in range(resamples):
        ia, ja = rng.integers(0, sa, sa), rng.integers(0, pa, pa)
        ib, jb = (ia, ja) if shared else (rng.integers(0, sb, sb), rng.integers(0, pb, pb))
        rho = spearmanr(_means(a, ia, ja), _means(b, ib, jb)).statistic
        if np.isnan(rho):  # all means tied in a replicate: rank correlation undefined
            dropped += 1
            continue
        rhos.append(float(rho))
    if not rhos:
        raise ValueError("every bootstrap replicate had all means tied")
    alpha = (1.0 - level) / 2.0
    q_lo, q_hi = (float(q) for q in np.quantile(rhos, [alpha, 1.0 - alpha]))
    # Two standard bootstrap intervals fail in opposite directions here: noise in the means pulls rho
    # towards 0 and resampling pulls it further, so the percentile interval misses a true rho near +-1;
    # the basic (reflected) interval undoes that shift but undercovers in the middle. The reported
    # interval is their hull (conservative; coverage measured in benchmarks/validation/bench_agreement_coverage.py).
    basic = (max(-1.0, 2 * point - q_hi), min(1.0, 2 * point - q_lo))
    return {"spearman": point, "spearman_ci": [min(q_lo, basic[0]), max(q_hi, basic[1])], "level": level,
            "percentile_ci": [q_lo, q_hi], "basic_ci": list(basic), "resamples": resamples,
            "dropped_resamples": dropped, "shared_draw": shared,
            "method": "hull of the percentile and basic bootstrap intervals; seeds and prompts resampled "
                      + ("with one draw for both boards" if shared else "per suite")}


def pair_signs(a: Board, b: Board, losses: list[str], level: float = 0.95) -> dict:
    """Per loss pair: the paired difference on each suite and whether both separate it with one sign."""
    pairs, both, agree = [], 0, 0
    for x, y in combinations(losses, 2):
        row = {"a": x, "b": y}
        for key, bd in (("first", a), ("second", b)):
            try:
                c = compare_records(bd.records[x], bd.records[y], table=bd.table, level=level)
                # one seed: the interval holds prompt noise only, so it never counts as separated
                row[key] = {"difference": c.difference.mean, "ci": [c.difference.low, c.difference.high],
                            "separated": c.separated and c.difference.seed_noise, "seeds": list(c.seeds)}
            except CompareError as e:  # e.g. no seed measured in both: not comparable on this suite
                row[key] = {"difference": None, "separated": False, "why": str(e)}
        if row["first"]["separated"] and row["second"]["separated"]:
            both += 1
            row["agree"] = (row["first"]["difference"] > 0) == (row["second"]["difference"] > 0)
            agree += row["agree"]
        pairs.append(row)
    return {"pair_sign_agreement": agree / both if both else None, "pairs_separated_on_both": both,
            "pairs_agreeing": agree, "pairs": pairs, "level": level}


def agreement(a: Board, b: Board, *, resamples: int = 2000, seed: int = 0) -> dict:
    """Spearman (with CI) and pair-sign agreement of two boards over the losses measured on every
    seed of both; the others are listed in ``excluded`` with the reason."""
    shared = sorted(set(a.records) & set(b.records))
    excluded = {}
    for loss in shared:
        why = [f"{k} of {n} seeds measured on {bd.suite} ({bd.table}): shown apart there, not ranked"
               for bd in (a, b) for k, n in [bd.seeds_measured(loss)] if k < n]
        if why:
            excluded[loss] = "; ".join(why)
    losses = [x for x in shared if x not in excluded]
    same_draw = a.design() is not None and a.design() == b.design()
    out = {"suites": [a.suite, b.suite], "config_hashes": [a.config_hash, b.config_hash],
           "tables": [a.table, b.table], "losses": losses, "excluded": excluded,
           "only_on": {a.suite: sorted(set(a.records) - set(b.records)),
                       b.suite: sorted(set(b.records) - set(a.records))}}
    out["means"] = {x: [float(a.rows(x).mean()), float(b.rows(x).mean())] for x in losses}
    out.update(spearman_bootstrap([a.rows(x) for x in losses], [b.rows(x) for x in losses], shared=same_draw,
                                  resamples=resamples, seed=seed))
    out.update(pair_signs(a, b, losses))
    return out
