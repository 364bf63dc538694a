"""Win-rate metrics from per-comparison preferences, with honest uncertainty.

* ``win_rate``: mean preference (soft, in [0, 1]; ties count 0.5), with a percentile bootstrap 95%
  CI (resampling prompts) and the SEM that AlpacaEval reports as its standard error.
* ``discrete_win_rate``: each preference rounded to win (1) / tie (0.5) / loss (0) first.
* ``lc_win_rate``: length-controlled win rate, AlpacaEval 2's GLM with its "minimal" features
  (our prompt sets are our own, so there is no instruction-difficulty term):

      P(policy preferred) = sigmoid(b0 + b1 * tanh(d / sd(d))),   d = len(output) - len(reference)

  fit by maximum likelihood on the soft preferences (cross-entropy with fractional targets). LC is
  the predicted win rate at zero length difference, sigmoid(b0). A small ridge penalty keeps the
  fit finite when the data are separable (e.g. every comparison won), where the unpenalised
  maximum-likelihood estimate is infinite and AlpacaEval's users see NaN. Its CI is a bootstrap over
  prompts, refitting the GLM on every resample.

Lengths are in characters (AlpacaEval also uses characters).
"""

from __future__ import annotations

import numpy as np

from harness.stats import Estimate, bootstrap_ci, sem

TIE_TOLERANCE = 1e-9
RIDGE = 1e-2  # on both coefficients; ~1/n of a single observation's weight on real sample sizes
LC_RESAMPLES = 1000
NEWTON_STEPS = 50


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
    """LC win rate with a bootstrap 95% CI (resampling groups/prompts) and its bootstrap SE."""
    y = np.asarray(preferences, dtype=float)
    if y.size == 0:
        raise ValueError("length_controlled_win_rate needs at least one preference")
    # the standardisation is part of the estimator, so it is recomputed inside every resample
    out, ref = np.asarray(output_lengths, dtype=float), np.asarray(reference_lengths, dtype=float)
    point = _sigmoid(fit_length_glm(y, length_feature(out, ref))[0])
    rng = np.random.default_rng(seed)
    members = None
    if groups is not None:
        g = np.unique(np.asarray(groups), return_inverse=True)[1]
        members = [np.flatnonzero(g == k) for k in range(g.max() + 1)]
    boots = np.empty(resamples)
    for r in range(resamples):
        if members is None:
            idx = rng.integers(0, y.size, size=y.size)
        else:
            idx = np.concatenate([members[k] for k in rng.integers(0, len(members), size=len(members))])
        boots[r] = _sigmoid(fit_length_glm(y[idx], length_feature(out[idx], ref[idx]))[0])
    low, high = np.quantile(boots, [0.025, 0.975])
    return Estimate(float(point), float(low), float(high), float(boots.std(ddof=1)), int(y.size))


def discrete(preferences) -> np.ndarray:
    p = np.asarray(preferences, dtype=float)
    return np.where(p > 0.5 + TIE_TOLERANCE, 1.0, np.where(p < 0.5 - TIE_TOLERANCE, 0.0, 0.5))


def win_rate_report(preferences, output_lengths, reference_lengths, groups=None, *, discrete_preferences=None,
                    seed: int = 0) -> dict:
    """Every win-rate metric for one policy against the references; rates are fractions in [0, 1].

    ``discrete_preferences`` (1 / 0.5 / 0 per comparison) are the judge's own discrete verdicts when
    it has them (a pairwise judge counts an order disagreement as a tie); by default each
    preference is rounded.
    """
    p = np.asarray(preferences, dtype=float)
    if p.size == 0:
        return {"n_judged": 0, "win_rate": None, "win_rate_ci": None, "win_rate_sem": None,
                "discrete_win_rate": None, "lc_win_rate": None, "lc_win_rate_ci": None,
                "lc_win_rate_se": None, "n_wins": 0, "n_losses": 0, "n_ties": 0,
                "avg_length_output": None, "avg_length_reference": None}
    wr = bootstrap_ci(p, groups, seed=seed)
    lc = length_controlled_win_rate(p, output_lengths, reference_lengths, groups, seed=seed)
    d = discrete(p if discrete_preferences is None else discrete_preferences)
    return {
        "n_judged": int(p.size),
        "win_rate": wr.mean, "win_rate_ci": [wr.low, wr.high], "win_rate_sem": sem(p),
        "discrete_win_rate": float(d.mean()),
        "lc_win_rate": lc.mean, "lc_win_rate_ci": [lc.low, lc.high], "lc_win_rate_se": lc.sem,
        "n_wins": int((d == 1.0).sum()), "n_losses": int((d == 0.0).sum()), "n_ties": int((d == 0.5).sum()),
        "avg_length_output": float(np.mean(output_lengths)),
        "avg_length_reference": float(np.mean(reference_lengths)),
    }
