"""Win-rate metrics from per-comparison preferences, with honest uncertainty.

* ``win_rate``: mean preference (soft, in [0, 1]; ties count 0.5), with a percentile bootstrap 95%
  CI resampling prompts (ids: the comparisons of one id are resampled together) and the SEM that
  AlpacaEval reports as its standard error, over the same prompts (``harness.stats.intervals.cluster_sem``),
  so the SEM printed beside the CI is the one the CI estimates. Below ``MIN_CI_PROMPTS`` prompts no
  interval is given; when every prompt scored the same, the bootstrap has no spread to resample and
  the interval is the Clopper-Pearson bound on prompts that would score otherwise
  (``harness.stats.intervals.no_spread_interval``), never a zero-width one.
* ``discrete_win_rate``: each preference rounded to win (1) / tie (0.5) / loss (0) first.
* ``lc_win_rate``: length-controlled win rate, AlpacaEval 2's GLM with its "minimal" features
  (our prompt sets are our own, so there is no instruction-difficulty term):

      P(policy preferred) = sigmoid(b0 + b1 * tanh(d / sd(d))),   d = len(output) - len(reference)

  fit by maximum likelihood on the soft preferences (cross-entropy with fractional targets). LC is
  the predicted win rate at zero length difference, sigmoid(b0). A small ridge penalty keeps the
  fit finite when the data are separable (e.g. every comparison won), where the unpenalised
  maximum-likelihood estimate is infinite and AlpacaEval's users see NaN. Its CI bootstraps the
  whole fit over prompts (refitting the GLM on every resample) and is built on the logit scale with
  a t quantile (``length_controlled_win_rate``).

  Sanity checks, reported in ``warnings``: below ``MIN_LC_PROMPTS`` prompts the LC win rate is not
  computed (the bootstrap CI of a two-parameter fit on so few prompts covers the truth far less
  often than 95%: benchmarks/validation/bench_lc_coverage.py); and an LC that departs from the raw win rate by
  more than AlpacaEval's margin (``lc_departs``: 10 points, or a quarter of the way to 0 or 100,
  whichever is larger) is flagged, as AlpacaEval flags a failing GLM. Hard verdicts that length
  alone separates (``separated``) get no LC: the fit is infinite and the ridge would decide it.

Lengths are in characters (AlpacaEval also uses characters).
"""

from __future__ import annotations

import numpy as np
import scipy.stats

from harness.stats.intervals import Estimate, bootstrap_ci

TIE_TOLERANCE = 1e-9
RIDGE = 1e-2  # on both coefficients; ~1/n of a single observation's weight on real sample sizes
LC_RESAMPLES = 1000
NEWTON_STEPS = 50
MIN_LC_PROMPTS = 50  # 95% CI coverage >= 88% in every scenario of benchmarks/validation/bench_lc_coverage.py
# below this many prompts the win rate gets no interval: a percentile bootstrap over 5 prompts of
# win/tie/loss verdicts covered 0.90-1.0 of the time in simulation (the no-spread bound included),
# over fewer it cannot be trusted
MIN_CI_PROMPTS = 5
LC_ABS_MARGIN, LC_REL_MARGIN = 0.10, 0.25  # AlpacaEval's get_is_extreme_changes: 10 points, 1/4 of the room


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def length_feature(output_lengths, reference_lengths) -> np.ndarray:
    """tanh of the standardised length difference; all zeros when the difference never varies."""
    d = np.asarray(output_lengths, dtype=float) - np.asarray(reference_lengths, dtype=float)
    scale = d.std()
    return np.tanh(d / scale) if scale > 0 else np.zeros_like(d)


def fit_length_glm(preferences, feature) -> tuple[float, float]:
    """(b0, b1) maximising the ridge-penalised Bernoulli likelihood of soft ``preferences``."""
    y = np.asarray(preferences, dtype=float)
    x = np.column_stack([np.ones_like(y), np.asarray(feature, dtype=float)])
    beta = np.zeros(2)
    for _ in range(NEWTON_STEPS):
        p = _sigmoid(x @ beta)
        gradient = x.T @ (y - p) - RIDGE * beta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + RIDGE * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(beta[0]), float(beta[1])


def length_controlled_win_rate(preferences, output_lengths, reference_lengths, groups=None, *,
                               resamples: int = LC_RESAMPLES, seed: int = 0) -> Estimate:
    """LC win rate with a 95% CI from a bootstrap of the whole fit over groups (prompts).

    The interval is built on the logit scale, where the GLM's intercept lives: b0 +- t(k-2) * se,
    se the bootstrap standard deviation of b0 (times sqrt(k/(k-1)), the bootstrap's small-sample
    bias), k the number of groups and k-2 the residual degrees of freedom of the two-parameter fit.
    On 50 prompts the percentile interval of the same bootstrap covered a known LC 81-95% of the
    time, this one 88-100% (benchmarks/validation/bench_lc_coverage.py; on 30 prompts 82-100%, which is why
    ``MIN_LC_PROMPTS`` is 50). ``sem`` is the bootstrap SE of the LC.
    """
    y = np.asarray(preferences, dtype=float)
    if y.size == 0:
        raise ValueError("length_controlled_win_rate needs at least one preference")
    # the standardisation is part of the estimator, so it is recomputed inside every resample
    out, ref = np.asarray(output_lengths, dtype=float), np.asarray(reference_lengths, dtype=float)
    b0 = fit_length_glm(y, length_feature(out, ref))[0]
    rng = np.random.default_rng(seed)
    g = np.unique(np.asarray(groups), return_inverse=True)[1] if groups is not None else np.arange(y.size)
    members = [np.flatnonzero(g == k) for k in range(g.max() + 1)]
    k = len(members)
    boots = np.empty(resamples)
    for r in range(resamples):
        idx = np.concatenate([members[i] for i in rng.integers(0, k, size=k)])
        boots[r] = fit_length_glm(y[idx], length_feature(out[idx], ref[idx]))[0]
    se = boots.std(ddof=1) * np.sqrt(k / (k - 1)) if k > 1 else np.inf
    half = scipy.stats.t.ppf(0.975, k - 2) * se if k > 2 else np.inf
    low, high = _sigmoid(b0 - half), _sigmoid(b0 + half)
    return Estimate(float(_sigmoid(b0)), float(low), float(high), float(_sigmoid(boots).std(ddof=1)), int(y.size))


def lc_departs(win_rate: float, lc: float) -> bool:
    """Whether ``lc`` is further from ``win_rate`` (fractions) than AlpacaEval tolerates: below
    min(w - w/4, w - 0.10) or above max(w + (1 - w)/4, w + 0.10)."""
    low = min(win_rate * (1 - LC_REL_MARGIN), win_rate - LC_ABS_MARGIN)
    high = max(win_rate + (1 - win_rate) * LC_REL_MARGIN, win_rate + LC_ABS_MARGIN)
    return not low <= lc <= high


def separated(preferences, feature) -> bool:
    """Hard verdicts that the length feature alone splits (every win on one side of every loss):
    the GLM's maximum-likelihood fit is then infinite (AlpacaEval's GLM gives NaN), and a finite LC
    would come from the ridge penalty alone. Soft preferences or ties keep the fit finite."""
    p, f = np.asarray(preferences, dtype=float), np.asarray(feature, dtype=float)
    wins, losses = f[p == 1.0], f[p == 0.0]
    if wins.size + losses.size < p.size or not wins.size or not losses.size:
        return False
    return bool(wins.min() > losses.max() or wins.max() < losses.min())


def _lc_fields(p, output_lengths, reference_lengths, groups, raw: float, seed: int) -> tuple[dict, list[str]]:
    none = {"lc_win_rate": None, "lc_win_rate_ci": None, "lc_win_rate_se": None}
    n_prompts = len(set(groups)) if groups is not None else p.size
    if n_prompts < MIN_LC_PROMPTS:
        return none, [f"LC win rate not computed: {_judged(p.size, n_prompts)}, it needs at least {MIN_LC_PROMPTS} "
                      "prompts (on fewer its interval is far too narrow)"]
    if separated(p, length_feature(output_lengths, reference_lengths)):
        return none, ["LC win rate not computed: the length difference alone separates every win from every "
                      "loss (e.g. empty or truncated answers losing), so the length model has no finite fit"]
    lc = length_controlled_win_rate(p, output_lengths, reference_lengths, groups, seed=seed)
    warnings = []
    if lc_departs(raw, lc.mean):
        warnings.append(f"LC win rate {100 * lc.mean:.1f}% departs from the raw win rate {100 * raw:.1f}% by more "
                        "than AlpacaEval's margin (the larger of 10 points and a quarter of the way to 0 or 100): "
                        "the length model may not fit (e.g. empty or truncated outputs)")
    return {"lc_win_rate": lc.mean, "lc_win_rate_ci": [lc.low, lc.high], "lc_win_rate_se": lc.sem}, warnings


def discrete(preferences) -> np.ndarray:
    p = np.asarray(preferences, dtype=float)
    return np.where(p > 0.5 + TIE_TOLERANCE, 1.0, np.where(p < 0.5 - TIE_TOLERANCE, 0.0, 0.5))


def _judged(n_comparisons: int, n_prompts: int) -> str:
    if n_comparisons == n_prompts:
        return f"{n_prompts} prompts judged"
    return f"{n_comparisons} comparisons judged on {n_prompts} prompts (ids)"


def _win_rate_fields(p, groups, seed: int) -> tuple[dict, list[str]]:
    """Win rate, its 95% CI and SEM over prompts (see the module doc), and what to doubt about them."""
    wr = bootstrap_ci(p, groups, seed=seed, bounds=(0.0, 1.0))
    n_prompts = len(set(groups)) if groups is not None else p.size
    if n_prompts < MIN_CI_PROMPTS:
        return ({"win_rate": wr.mean, "win_rate_ci": None, "win_rate_sem": None},
                [f"win-rate CI not computed: {_judged(p.size, n_prompts)}, it needs at least {MIN_CI_PROMPTS} prompts"])
    fields = {"win_rate": wr.mean, "win_rate_ci": [wr.low, wr.high], "win_rate_sem": wr.sem}
    if wr.sem < 1e-12:  # every prompt scored the same: the interval is the no-spread bound, no SEM
        fields["win_rate_sem"] = None
        return fields, [f"every one of the {n_prompts} prompts scored {100 * wr.mean:.1f}%: the 95% CI is the "
                        "Clopper-Pearson bound on the share of prompts that would score otherwise, and no SEM "
                        "is given (the sample shows no spread to estimate it from)"]
    return fields, []


def win_rate_report(preferences, output_lengths, reference_lengths, groups=None, *, discrete_preferences=None,
                    seed: int = 0) -> dict:
    """Every win-rate metric for one policy against the references; rates are fractions in [0, 1].

    ``groups`` are the prompt ids the CIs and SEMs resample (default: each comparison its own).
    ``discrete_preferences`` (1 / 0.5 / 0 per comparison) are the judge's own discrete verdicts when
    it has them (a pairwise judge counts an order disagreement as a tie); by default each
    preference is rounded. ``warnings`` lists what to doubt (no CI on too few prompts, LC not
    computed, or far from the raw rate).
    """
    p = np.asarray(preferences, dtype=float)
    if p.size == 0:
        return {"n_judged": 0, "n_prompts": 0, "win_rate": None, "win_rate_ci": None, "win_rate_sem": None,
                "discrete_win_rate": None, "lc_win_rate": None, "lc_win_rate_ci": None,
                "lc_win_rate_se": None, "n_wins": 0, "n_losses": 0, "n_ties": 0,
                "avg_length_output": None, "avg_length_reference": None, "warnings": []}
    wr, warnings = _win_rate_fields(p, groups, seed)
    lc, lc_warnings = _lc_fields(p, output_lengths, reference_lengths, groups, wr["win_rate"], seed)
    d = discrete(p if discrete_preferences is None else discrete_preferences)
    return {
        "n_judged": int(p.size), "n_prompts": len(set(groups)) if groups is not None else int(p.size),
        **wr,
        "discrete_win_rate": float(d.mean()),
        **lc,
        "n_wins": int((d == 1.0).sum()), "n_losses": int((d == 0.0).sum()), "n_ties": int((d == 0.5).sum()),
        "avg_length_output": float(np.mean(output_lengths)),
        "avg_length_reference": float(np.mean(reference_lengths)),
        "warnings": warnings + lc_warnings,
    }
