"""Ranks from a joint paired analysis of board entries that share seeds and prompts.

Every pair of entries (i, j) is compared by the paired crossed interval of mean(i - j)
(``harness.stats.paired``: seeds x prompts ANOVA, Banerjee's half-width) on the seeds both measured. A pair
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
from functools import cached_property
from itertools import combinations

import numpy as np
from scipy.special import digamma, polygamma, stdtrit

from harness.stats.crossed import measured_rows


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

    @cached_property
    def _index(self) -> dict:
        return {(p.a, p.b): p for p in self.pairs}

    def pair(self, a: str, b: str) -> Pair:
        """The pair's difference a - b (either order); a dict look-up, so a head-to-head table of
        L entries costs L^2 look-ups, not L^2 scans of all L(L - 1)/2 pairs."""
        p = self._index.get((a, b))
        if p is not None:
            return p
        p = self._index.get((b, a))
        if p is not None:
            return Pair(a, b, -p.difference, (-p.ci[1], -p.ci[0]), p.seeds, p.separated)
        raise KeyError((a, b))


def _measured(table, seeds) -> dict:
    rows = np.asarray(table, dtype=float)
    measured_rows(rows)  # raises on malformed tables
    return {s: rows[i] for i, s in enumerate(seeds) if not np.isnan(rows[i]).all()}


MIN_SHARED_SEEDS = 2  # a pair of entries is ranked on the seeds both measured: training noise needs two


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
        if len(common) < MIN_SHARED_SEEDS:
            raise ValueError(f"entries {a} and {b} share fewer than {MIN_SHARED_SEEDS} measured seeds; a paired "
                             f"comparison with training noise needs at least {MIN_SHARED_SEEDS}")
        buckets.setdefault(common, []).append((a, b))
    out = {}
    for common, group in buckets.items():
        means, seed, prompt, width = _difference_pieces(rows, common, group)
        entries = len({k for pair in group for k in pair})
        seed, seed_df = moderate(seed, len(common) - 1, (entries - 1) * (len(common) - 1))
        for k, key in enumerate(group):
            out[key] = (float(means[k]), float(seed[k]), seed_df, float(prompt[k]), width - 1)
    return out


def _difference_pieces(rows: dict, common: tuple, group: list[tuple[str, str]]):
    """``harness.stats.crossed.batch_pieces`` of the tables a - b for every pair of ``group`` (on the seeds
    ``common``), without forming the m differences: the two-way ANOVA sums of squares of a difference
    are those of the entries' centred parts, ||x_a - x_b||^2 = ||x_a||^2 + ||x_b||^2 - 2 <x_a, x_b>,
    so one Gram matrix per part over the L entries replaces m = L(L - 1)/2 tables of S x P
    (a 500-entry board: 125k pairs, ~0.8 GB of differences otherwise). Returns (means, seed pieces,
    prompt pieces, P), the pieces as in ``batch_pieces``."""
    keys = sorted({k for pair in group for k in pair})
    index = {k: i for i, k in enumerate(keys)}
    x = np.stack([np.stack([rows[k][s] for s in common]) for k in keys])  # (L, S, P)
    _, s, p = x.shape
    grand, row, col = x.mean(axis=(1, 2)), x.mean(axis=2), x.mean(axis=1)
    seed_part = row - grand[:, None]  # (L, S): S values, the differences are formed directly
    prompt_part = col - grand[:, None]  # (L, P)
    resid = (x - row[:, :, None] - col[:, None, :] + grand[:, None, None]).reshape(len(keys), -1)
    a = np.array([index[k] for k, _ in group])
    b = np.array([index[k] for _, k in group])

    def gram_distance(part: np.ndarray) -> np.ndarray:
        gram = part @ part.T
        return np.maximum(gram[a, a] + gram[b, b] - 2.0 * gram[a, b], 0.0)

    ss_seed = ((seed_part[a] - seed_part[b]) ** 2).sum(axis=1)
    # seed parts equal up to rounding are equal: a piece of 1e-33 instead of 0 would enter ``moderate``'s
    # log-variances as -75 and wreck the prior (values are rounded per-prompt scores, so exact ties occur)
    ss_seed[ss_seed <= s * (1e3 * np.finfo(float).eps * max(np.abs(row).max(), 1e-300)) ** 2] = 0.0
    ms_seed = p * ss_seed / (s - 1)
    ms_prompt = s * gram_distance(prompt_part) / (p - 1)
    ms_res = gram_distance(resid) / ((s - 1) * (p - 1))
    return grand[a] - grand[b], ms_seed / (s * p), np.maximum(ms_prompt - ms_res, 0.0) / (s * p), p


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
    out_pairs = [Pair(a, b, float(m), (float(m - h), float(m + h)), len(set(rows[a]) & set(rows[b])), bool(f))
                 for (a, b), m, h, f in zip(pairs, arr[:, 0], halves, flags, strict=True)]
    n = len(order)
    above, below = dict.fromkeys(order, 0), dict.fromkeys(order, 0)  # entries separated above / below each
    for (a, b), m, f in zip(pairs, arr[:, 0], flags, strict=True):
        if f and m != 0:
            higher, lower = (a, b) if m > 0 else (b, a)
            above[lower] += 1
            below[higher] += 1
    intervals = {k: (1 + above[k], n - below[k]) for k in order}
    return JointRanking(order, means, intervals, tuple(out_pairs), level)
