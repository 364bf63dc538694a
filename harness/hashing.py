"""Hashes and per-prompt outcome tables shared by suites, records and boards (a leaf: it imports nothing
of the harness, so the suites that fill a record and the records module that checks it both build on it).

* ``canonical_json``: the one serialisation that is hashed (sorted keys, no spaces, UTF-8).
* ``config_hash``: a config dict's 16-hex-digit hash, stable across key order and processes.
* ``prompts_sha256``: the hash of a suite's ordered evaluation prompts (records pair on it).
* ``make_outcomes``: the record's ``outcomes`` block (schema version 2) from a suite's score tables.
"""

from __future__ import annotations

import hashlib
import json


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_hash(config: dict) -> str:
    """Hash of a config dict, stable across key order and processes."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


def prompts_sha256(prompts: list[str]) -> str:
    """sha256 of a suite's ordered evaluation prompts (ids or texts): two records are paired only
    when their suite config_hash and this hash are equal."""
    return hashlib.sha256(canonical_json(list(prompts)).encode()).hexdigest()


def make_outcomes(prompts: list[str], tables: dict[str, list], seed_status: list[str],
                  primary: str = "verdict") -> dict:
    """The record's ``outcomes`` block (schema version 2): per table, a list over the record's seeds
    of a list over ``prompts`` (same order in every seed) of scores in [0, 1] (win 1, tie 0.5, loss
    0, averaged over samples and reference answers) rounded to 4 decimals, or None for a seed with
    no measured value at that point; ``seed_status`` per seed is measured, censored or unresolved.

    Raises ValueError when the primary table is missing or a table's shape does not match."""
    if primary not in tables:
        raise ValueError(f"outcomes lack their primary table {primary!r}")
    out = {}
    for name, rows in tables.items():
        if len(rows) != len(seed_status):
            raise ValueError(f"outcomes table {name!r} has {len(rows)} seeds, seed_status {len(seed_status)}")
        out[name] = [None if row is None else [round(float(v), 4) for v in row] for row in rows]
        for row in out[name]:
            if row is not None and len(row) != len(prompts):
                raise ValueError(f"outcomes table {name!r} has a seed of {len(row)} prompts, not {len(prompts)}")
    return {"prompts_sha256": prompts_sha256(prompts), "primary": primary, "tables": out,
            "seed_status": list(seed_status)}
