"""Ranks from a joint paired analysis of board entries that share seeds and prompts.

Every pair of entries (i, j) is compared by the paired crossed interval of mean(i - j)
(``harness.stats``: seeds x prompts ANOVA, Banerjee's half-width) on the seeds both measured. A pair
is *separated* when Holm's (1979) step-down procedure rejects "no difference" over all m = L(L-1)/2
pairs at family-wise level 1 - level, so that on a board of identical losses the chance of showing
any pair as separated is at most 1 - level (tests/test_ranking.py simulates it).

Rank intervals follow from the simultaneous pairwise decisions (Klein, Wright & Wieczorek 2020,
"A joint confidence region for an overall ranking of populations", JRSS C 69): entry i's best rank
is 1 + #entries separated above it, its worst is L - #entries separated below it; they hold jointly
with probability >= level. ``separability`` is the share of pairs separated, as Arena-Hard reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.special import digamma, polygamma, stdtrit

from harness.stats import batch_pieces, measured_rows


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    difference: float  # mean(a - b) on the common seeds
    ci: tuple[float, float]  # the pair's own (unadjusted) interval at ``level``
    seeds: int
    separated: bool  # Holm-adjusted, family-wise over every pair of the ranking


@dataclass(frozen=True)
class JointRanking:
    order: tuple[str, ...]  # best first, by estimate
    means: dict  # key -> mean
    rank_intervals: dict  # key -> (best, worst)
    pairs: tuple[Pair, ...]
    level: float

    @property
    def separability(self) -> float | None:
        return None if not self.pairs else sum(p.separated for p in self.pairs) / len(self.pairs)

    def pair(self, a: str, b: str) -> Pair:
        for p in self.pairs:
            if (p.a, p.b) == (a, b):
                return p
            if (p.b, p.a) == (a, b):
                return Pair(a, b, -p.difference, (-p.ci[1], -p.ci[0]), p.seeds, p.separated)
        raise KeyError((a, b))


def _measured(table, seeds) -> dict:
    rows = np.asarray(table, dtype=float)
    measured_rows(rows)  # raises on malformed tables
    return {s: rows[i] for i, s in enumerate(seeds) if not np.isnan(rows[i]).all()}


def _half_widths(arr: np.ndarray, alpha: float) -> np.ndarray:
    """Banerjee half-widths at two-sided level 1 - alpha; rows of ``arr`` are pair pieces
    (mean, v_seed, df_seed, v_prompt, df_prompt)."""
    q = 1.0 - alpha / 2.0
    return np.sqrt(stdtrit(arr[:, 2], q) ** 2 * arr[:, 1] + stdtrit(arr[:, 4], q) ** 2 * arr[:, 3])


def _pair_pieces(rows: dict, pairs: list[tuple[str, str]]) -> dict:
    """Per pair (a, b): (mean(a - b), seed piece, its df, prompt piece, its df), batched by the pairs'
    common seed set; seed pieces moderated within each batch."""
    buckets: dict[tuple, list] = {}
    for a, b in pairs:
        common = tuple(sorted(set(rows[a]) & set(rows[b])))
        if len(common) < 2:
            raise ValueError(f"entries {a} and {b} share fewer than 2 measured seeds; a paired comparison "
                             "with training noise needs at least 2")
        buckets.setdefault(common, []).append((a, b))
    out = {}
    for common, group in buckets.items():
        stack = np.stack([np.stack([rows[a][s] - rows[b][s] for s in common]) for a, b in group])
        means, seed, prompt = batch_pieces(stack)
        entries = len({k for pair in group for k in pair})
        seed, seed_df = moderate(seed, len(common) - 1, (entries - 1) * (len(common) - 1))
        for k, key in enumerate(group):
            out[key] = (float(means[k]), float(seed[k]), seed_df, float(prompt[k]), stack.shape[2] - 1)
    return out


def _trigamma_inverse(y: float) -> float:
    """x with trigamma(x) = y (Newton's method on 1/x, as limma's trigammaInverse)."""
    if y > 1e7:
        return 1.0 / np.sqrt(y)
    if y < 1e-6:
        return 1.0 / y
    x = 0.5 + 1.0 / y
    for _ in range(50):
        tri = float(polygamma(1, x))
        step = tri * (1 - tri / y) / float(polygamma(2, x))
        x += step
        if -step / x < 1e-8:
            break
    return x


def moderate(seed_pieces: np.ndarray, df: int, max_df: float) -> tuple[np.ndarray, float]:
    """Empirical-Bayes moderated seed pieces and their df (Smyth 2004, SAGMB 3:3, sec. 6.2).

    With S = 3 seeds each pair's seed variance has 2 df, so family-wise tests over hundreds of pairs
    would need t quantiles near 90. The pairs' variances are shrunk towards a common prior
    s0^2 with prior df d0 estimated from their spread (d0 -> infinity when they agree: pooling;
    d0 small when entries differ in stability), and each gets df + d0 degrees of freedom, at most
    ``max_df`` (the pairs of L entries hold (L - 1)(S - 1) df of seed information, not m(S - 1)).
    """
    v = np.asarray(seed_pieces, dtype=float)
    positive = v[v > 0]
    if positive.size < 3 or max_df <= df:
        return v, float(df)
    e = np.log(positive) - digamma(df / 2.0) + np.log(df / 2.0)
    spread = float(e.var(ddof=1)) - float(polygamma(1, df / 2.0))
    if spread <= 0:  # no more spread than sampling noise: one common variance
        return np.full_like(v, float(np.exp(e.mean()))), float(max_df)
    d0 = min(2.0 * _trigamma_inverse(spread), max_df - df)
    s0 = float(np.exp(e.mean() + digamma(d0 / 2.0) - np.log(d0 / 2.0)))
    return (d0 * s0 + df * v) / (d0 + df), float(df + d0)


def _holm_separated(arr: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's step-down by intervals: at each step test the rest at alpha / (#not yet rejected)."""
    rejected = np.zeros(len(arr), dtype=bool)
    while not rejected.all():
        new = ~rejected & (np.abs(arr[:, 0]) > _half_widths(arr, alpha / (len(arr) - rejected.sum())))
        if not new.any():
            break
        rejected |= new
    return rejected


def joint_ranking(tables: dict, seeds: dict, level: float = 0.95) -> JointRanking:
    """Rank entries from their (S x P) outcome tables on shared prompts.

    ``tables``: key -> array-like (S_k seeds x P prompts), null rows for unmeasured seeds;
    ``seeds``: key -> the seed ids of the table's rows (pairs use the seeds both measured).
    Raises ValueError when tables disagree on P or two entries share fewer than 2 measured seeds.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rows = {k: _measured(t, seeds[k]) for k, t in tables.items()}
    widths = {len(next(iter(r.values()))) for r in rows.values()}
    if len(widths) > 1:
        raise ValueError(f"entries were scored on different prompt counts {sorted(widths)}; they are not comparable")
    means = {k: float(np.mean(list(r.values()))) for k, r in rows.items()}
    order = tuple(sorted(rows, key=lambda k: (-means[k], str(k))))
    pairs = list(combinations(order, 2))
    pieces = _pair_pieces(rows, pairs)
    arr = np.array([pieces[k] for k in pairs], dtype=float).reshape(len(pairs), 5)
    alpha = 1.0 - level
    flags = _holm_separated(arr, alpha)
    halves = _half_widths(arr, alpha)
    separated = {k for k, f in zip(pairs, flags, strict=True) if f}
    out_pairs = [Pair(a, b, float(m), (float(m - h), float(m + h)), len(set(rows[a]) & set(rows[b])), bool(f))
                 for (a, b), m, h, f in zip(pairs, arr[:, 0], halves, flags, strict=True)]
    n = len(order)
    above = {k: sum(1 for (a, b) in separated if b == k and pieces[(a, b)][0] > 0)
             + sum(1 for (a, b) in separated if a == k and pieces[(a, b)][0] < 0) for k in order}
    below = {k: sum(1 for (a, b) in separated if a == k and pieces[(a, b)][0] > 0)
             + sum(1 for (a, b) in separated if b == k and pieces[(a, b)][0] < 0) for k in order}
    intervals = {k: (1 + above[k], n - below[k]) for k in order}
    return JointRanking(order, means, intervals, tuple(out_pairs), level)
