"""Record factory for the leaderboard, store and submit tests, and the record verification tests."""

from __future__ import annotations

import copy

import pytest

from harness.leaderboard.verify import VerificationError, record_filename, verify_record
from harness.lossfile import sha256_bytes
from harness.records import RECORD_SCHEMA_VERSION, config_hash, validate_record
from harness.seal import seal

SUITE_CONFIG = {"name": "tiny", "beta": 0.1, "train": {"steps": 40, "learning_rate": 0.001}, "prompts": 64}
SUITE_HASH = config_hash(SUITE_CONFIG)
VERIFIED = {"verified": True, "method": "local", "note": "benchmarked here"}  # what `submit --loss` proves


def loss_source(name: str) -> str:
    return (f"def {name}(policy_chosen_logps, policy_rejected_logps, beta):\n"
            f"    return -(beta * (policy_chosen_logps - policy_rejected_logps)).sigmoid().log()  # {name}\n")


def make_record(name: str = "dpo", win_rate: float = 0.6, half_width: float = 0.05, *, seeds=(0, 1, 2),
                status: str = "ok", config: dict | None = None, created_at: str = "2026-11-27T06:00:00+00:00",
                kl_scale: float = 1.0, censored_seeds: int = 0, verified: bool | None = True) -> dict:
    """A record that satisfies harness.records.validate_record, with per-seed trajectories.

    Its aggregates are the means of its per-seed values (as harness.suites.tiny.metrics.aggregate makes them).
    ``verified`` is the board's note on its provenance (None: no note, as a record made elsewhere)."""
    config = SUITE_CONFIG if config is None else config
    source = loss_source(name)
    ok = status == "ok"
    offsets = [0.01 * (s - 1) for s in seeds]
    mean_offset = sum(offsets) / len(offsets) if offsets else 0.0
    per_seed = [{"seed": s, "win_rate": win_rate + off - mean_offset, "reward": win_rate * 1.5, "kl": kl_scale * 4.0,
                 "censored": i < censored_seeds,
                 "trajectory": [{"step": step, "kl": kl_scale * step / 10 + 0.01 * s,
                                 "reward": win_rate * step / 40 + 0.02 * s, "win_rate": win_rate}
                                for step in (0, 10, 20, 30, 40)]}
                for i, (s, off) in enumerate(zip(seeds, offsets, strict=True))] if ok else []
    metrics = {"win_rate": win_rate, "win_rate_ci": [win_rate - half_width, win_rate + half_width],
               "reward": win_rate * 1.5, "kl": kl_scale * 4.0, "kl_budget": 2.0,
               "censored": censored_seeds > 0, "censored_seeds": censored_seeds} if ok else {}
    record = {
        "schema_version": RECORD_SCHEMA_VERSION, "kind": "bench", "status": status,
        "error": None if ok else "Traceback (most recent call last):\nRuntimeError: loss returned NaN",
        "created_at": created_at,
        "loss": {"name": name, "sha256": sha256_bytes(source.encode()), "source": source, "path": f"{name}.py"},
        "suite": {"name": "tiny", "config_hash": config_hash(config), "config": config},
        "seeds": list(seeds), "beta": 0.1, "metrics": metrics, "per_seed": per_seed,
        "judge": {"id": "gold", "hash": "0" * 16}, "sandbox": {"backend": "none"},
        "provenance": {"harness_version": "0.1.0", "git_revision": "abc123", "python": "3.11",
                       "platform": "linux", "hardware": {}, "packages": {}},
        "timings": {"train": 1.0},
    }
    if verified is not None:  # the board's note, sealed by the (test) board key as submit_record seals it
        record = seal(record, {"verified": verified, "method": "local" if verified else "none", "note": ""})
    return validate_record(record)


def test_factory_records_verify():
    assert verify_record(make_record(), "tiny", SUITE_HASH)["status"] == "ok"
    assert verify_record(make_record(status="crash"), "tiny", SUITE_HASH)["status"] == "crash"


def test_same_loss_and_config_give_the_same_file_name():
    a, b = make_record(win_rate=0.6), make_record(win_rate=0.7, created_at="2026-11-28T00:00:00+00:00")
    assert record_filename(a) == record_filename(b)
    assert record_filename(a) != record_filename(make_record("ipo"))
    assert record_filename(a) != record_filename(make_record(config={**SUITE_CONFIG, "prompts": 8}))


@pytest.mark.parametrize("tamper, message", [
    (lambda r: r["loss"].__setitem__("source", r["loss"]["source"] + "# edited\n"), "does not match its embedded source"),
    (lambda r: r["suite"]["config"].__setitem__("prompts", 8), "hashes to"),
    (lambda r: r["suite"].__setitem__("name", "imdb"), "is for suite 'imdb'"),
    (lambda r: r.pop("provenance"), "record schema"),
    (lambda r: r.__setitem__("kind", "check"), "only `harness bench` records"),
    (lambda r: r["per_seed"].pop(), "per_seed results"),
    (lambda r: r.__setitem__("seeds", []), "no seeds"),
])
def test_tampered_records_are_refused_with_the_reason(tamper, message):
    record = copy.deepcopy(make_record())
    tamper(record)
    with pytest.raises(VerificationError, match=message):
        verify_record(record, "tiny", SUITE_HASH)


def test_record_run_at_another_beta_is_refused():
    record = make_record()
    record["beta"] = 0.5
    with pytest.raises(VerificationError, match="run with beta 0.5, but suite 'tiny' uses beta 0.1"):
        verify_record(record, "tiny", SUITE_HASH)


def test_record_of_another_suite_config_is_refused():
    other = make_record(config={**SUITE_CONFIG, "prompts": 8})
    with pytest.raises(VerificationError, match="board's suite config is " + SUITE_HASH):
        verify_record(other, "tiny", SUITE_HASH)
