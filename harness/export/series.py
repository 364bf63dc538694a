"""What a run exports to a tracker, taken from its record: parameters, per-checkpoint metrics per seed,
the headline metrics, the record itself and its plots. Trackers (harness.export) only write this out.

Tags: ``seed_<s>/<metric>`` per checkpoint (the tiny suites' trajectory: step, KL, reward, win rate,
fluency, length, distinct-n), ``seed_<s>/<metric>`` at the last step for suites without a trajectory,
and ``summary/<metric>`` (the record's metrics: the win rate and its CI bounds, ...) at the last step.
Win rates stay shares in [0, 1], as in the record.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from harness.formats import safe_model_id
from harness.hyperparams import record_values, settings_key

SCALAR_KEYS = ("kl", "reward", "win_rate", "fluency", "mean_length", "distinct_1", "distinct_2")
MAX_PARAM = 500  # characters of one parameter's value (MLflow's limit is larger; a config field is short)


@dataclass(frozen=True)
class RunSeries:
    name: str  # "<loss>-<sha8>[-<setting key>]-<suite>" (file-name safe; one run per board entry)
    params: dict[str, str]
    scalars: list[tuple[str, int, float]] = field(default_factory=list)  # (tag, step, value)
    summary: dict[str, float] = field(default_factory=dict)
    last_step: int = 0
    record_json: str = ""


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _flat(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = json.dumps(value)[:MAX_PARAM] if not isinstance(value, str) else value[:MAX_PARAM]


def params_of(record: dict) -> dict[str, str]:
    out = {"loss.name": str(record["loss"]["name"])[:MAX_PARAM], "loss.sha256": record["loss"]["sha256"],
           "suite.name": record["suite"]["name"], "suite.config_hash": record["suite"]["config_hash"],
           "beta": str(record["beta"]), "seeds": ",".join(map(str, record["seeds"])), "status": record["status"],
           "judge.id": str(record["judge"].get("id", ""))}
    _flat("loss.hyperparameters", record_values(record), out)  # the setting: one board entry per setting
    _flat("suite.config", record["suite"].get("config") or {}, out)
    return out


def _last_step(record: dict) -> int:
    steps = [int(p["step"]) for s in record["per_seed"] for p in s.get("trajectory") or () if _finite(p.get("step"))]
    if steps:
        return max(steps)
    train = (record["suite"].get("config") or {}).get("train") or {}
    return int(train["steps"]) if _finite(train.get("steps")) else 0


def series_of(record: dict) -> RunSeries:
    """The export of one record (any suite; a failed run exports its parameters and record only)."""
    last = _last_step(record)
    scalars = []
    for s in record["per_seed"]:
        trajectory = s.get("trajectory") or ()
        for point in trajectory:
            scalars += [(f"seed_{s['seed']}/{k}", int(point["step"]), float(point[k])) for k in SCALAR_KEYS
                        if _finite(point.get(k)) and _finite(point.get("step"))]
        if not trajectory:
            scalars += [(f"seed_{s['seed']}/{k}", last, float(v)) for k, v in s.items() if k != "seed" and _finite(v)]
    summary = {}
    for k, v in (record.get("metrics") or {}).items():
        if _finite(v):
            summary[k] = float(v)
        elif isinstance(v, list) and len(v) == 2 and all(_finite(x) for x in v) and k.endswith("_ci"):
            summary[f"{k}_low"], summary[f"{k}_high"] = float(v[0]), float(v[1])
    setting = settings_key(record_values(record))
    name = (f"{safe_model_id(record['loss']['name'])}-{record['loss']['sha256'][:8]}{'-' + setting if setting else ''}-"
            f"{safe_model_id(record['suite']['name'])}")
    return RunSeries(name, params_of(record), scalars, summary, last, json.dumps(record, indent=2, sort_keys=True))


def figures(record: dict) -> dict[str, object]:
    """matplotlib figures of the run (Agg backend): reward vs KL and win rate vs step, one line per seed;
    empty for a run without trajectories."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    seeds = [(s["seed"], s.get("trajectory") or ()) for s in record["per_seed"]]
    seeds = [(seed, [p for p in t if _finite(p.get("kl")) and _finite(p.get("reward"))]) for seed, t in seeds]
    if not any(t for _, t in seeds):
        return {}
    out = {}
    fig, ax = plt.subplots(figsize=(6, 4))
    for seed, t in seeds:
        ax.plot([p["kl"] for p in t], [p["reward"] for p in t], marker="o", ms=3, label=f"seed {seed}")
    budget = (record.get("metrics") or {}).get("kl_budget")
    if _finite(budget):
        ax.axvline(budget, color="#d62728", ls=":", label=f"KL budget {budget:g}")
    ax.set(xlabel="KL(policy || reference)", ylabel="reward", title="reward vs KL")
    ax.legend(fontsize=8)
    out["reward_vs_kl"] = fig
    fig, ax = plt.subplots(figsize=(6, 4))
    for seed, t in seeds:
        pts = [p for p in t if _finite(p.get("win_rate"))]
        ax.plot([p["step"] for p in pts], [100 * p["win_rate"] for p in pts], marker="o", ms=3, label=f"seed {seed}")
    ax.set(xlabel="step", ylabel="win rate %", title="win rate vs the reference answers")
    ax.legend(fontsize=8)
    out["win_rate_vs_step"] = fig
    return out
