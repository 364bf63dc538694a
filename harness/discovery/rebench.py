"""Benches outside the search loop: a loss file on chosen seeds, returning its record with outcomes.

Used by the re-evaluation (finalize.py), the transfer check (transfer.py), the cascade's screen
(cascade.py) and the discovery benchmarks. ``evaluator`` picks the real ``harness bench``
(``bench``, ``cascade``) or the test double (``fake``), which never runs the file and builds a record
whose per-prompt outcomes are drawn around the fake evaluator's score (known truth for tests).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.suites import get_suite

REFERENCE_LOSS = Path(__file__).resolve().parents[2] / "losses" / "dpo.py"  # DPO (Rafailov et al. 2023, Eq. 7)
FAKE_PROMPTS = 32


def fresh_seeds(search_seeds: list[int], n: int) -> list[int]:
    """``n`` training seeds after every search seed: disjoint from them, the same in every run."""
    start = max(search_seeds, default=-1) + 1
    return list(range(start, start + n))


def search_seed_list(suite: str, evaluator: str, seeds: int, overrides: dict) -> list[int]:
    if evaluator == "fake":
        return list(range(seeds))

    return get_suite(suite).with_overrides(dict(overrides)).seed_list(seeds)


def bench(path: str | Path, *, evaluator: str, suite: str, seeds: list[int] | int, overrides: dict,
          out_dir: Path, beta: float | None = None, backend: str = "auto", before_training=None,
          deadline: float | None = None) -> dict:
    """The record of ``path`` benched on ``seeds`` (a list: exactly those, set through the suite's
    ``seeds`` field; an int: the suite's first N). Harness faults raise (BenchUsageError)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if evaluator == "fake":
        return fake_record(Path(path), suite, seeds if isinstance(seeds, list) else list(range(seeds)), out_dir)
    from harness.bench import bench_and_store

    overrides = dict(overrides)
    count = seeds
    if isinstance(seeds, list):
        overrides["seeds"], count = list(seeds), len(seeds)
    run = bench_and_store(path, suite=suite, seeds=count, beta=beta, backend=backend, out_dir=out_dir,
                          progress=False, overrides=overrides, before_training=before_training, deadline=deadline)
    return {**run.record, "record_path": str(run.path)}


def fake_record(path: Path, suite: str, seeds: list[int], out_dir: Path) -> dict:
    """Test double of a bench record: per-prompt outcomes drawn around the fake evaluator's score.

    Truth: the fake fitness q (harness.discovery.evaluator.FakeEvaluator); cell (s, p) = q + seed
    effect (SD 0.03) + prompt effect (SD 0.1, shared by every loss) + noise (SD 0.1), clipped to [0, 1].
    The reference table is the same draw around 0.5. A file with ``# fake-status: X`` fails with X."""
    import hashlib
    import re

    from harness.discovery.dedupe import code_key

    source = path.read_text()
    key = code_key(source)
    marker = re.search(r"#\s*fake-status:\s*(\w+)", source)
    sha = hashlib.sha256(source.encode()).hexdigest()
    base = {"schema_version": 2, "kind": "bench", "loss": {"name": path.stem, "sha256": sha, "source": source},
            "suite": {"name": suite, "config_hash": "fake-" + suite, "config": {}}, "seeds": list(seeds),
            "beta": 0.1, "record_path": None}
    if marker and marker.group(1) != "ok":
        return {**base, "status": marker.group(1), "error": f"fake {marker.group(1)}", "metrics": {},
                "outcomes": None}
    q = 0.3 + 0.4 * (int(key[:8], 16) % 1000) / 1000
    prompt = np.random.default_rng(12345).normal(0, 0.1, FAKE_PROMPTS)
    tables: dict[str, list] = {"verdict": [], "end": [], "reference": []}
    for s in seeds:
        rng = np.random.default_rng([int(key[:8], 16), s])
        ref_rng = np.random.default_rng([7, s])
        row = np.clip(q + rng.normal(0, 0.03) + prompt + rng.normal(0, 0.1, FAKE_PROMPTS), 0, 1)
        ref = np.clip(0.5 + prompt + ref_rng.normal(0, 0.1, FAKE_PROMPTS), 0, 1)
        tables["verdict"].append(np.round(row, 4).tolist())
        tables["end"].append(np.round(row, 4).tolist())
        tables["reference"].append(np.round(ref, 4).tolist())
    mean = float(np.mean(tables["verdict"]))
    record = {**base, "status": "ok", "error": None, "metrics": {"win_rate": mean, "win_rate_ci": [mean, mean]},
              "outcomes": {"prompts_sha256": "fake", "primary": "verdict", "tables": tables,
                           "seed_status": ["measured"] * len(seeds)}}
    out = Path(out_dir) / f"{path.stem}-{suite}-{sha[:8]}-{'_'.join(map(str, seeds))}.json"
    out.write_text(json.dumps(record))
    return {**record, "record_path": str(out)}
