"""JSON output of `harness leaderboard --format json`: the ranked entries, separability, head to head.

{"suite", "suite_config_hash", "entries": [ranked entries, best estimate first, each with rank_interval],
 "apart": [entries not on the main scale, with apart_reason],
 "unverified": [entries whose provenance is not proven, never ranked], "rejected": [{record, reason}: files
 that fail the checks on load], "separability": share of entry pairs
 separated (Holm, family-wise 5%) or null, "pairs": paired differences of the main ranking,
 "apart_pairs": of the 1-nat ranking when present}; every entry carries ``verified`` (bool)
"""

from __future__ import annotations

import json

from harness.leaderboard.board import Board
from harness.leaderboard.rows import entry_json, pair_json

MULTIPLICITY = ("pairs separated by Holm's step-down procedure over all pairs (family-wise error 5%); "
                "rank intervals from the simultaneous pairwise decisions")


def render_json(board: Board) -> str:
    names = {e.key: e.name for e in (*board.entries, *board.apart)}
    apart_sep = None if board.apart_ranking is None else board.apart_ranking.separability
    out = {"suite": board.suite, "suite_config_hash": board.config_hash,
           "entries": [entry_json(board, e) for e in board.entries],
           "apart": [entry_json(board, e) for e in board.apart],
           "unverified": [{**entry_json(board, e), "rank": None} for e in board.unverified],
           "rejected": [{"record": r.record_file, "reason": r.reason} for r in board.rejected],
           "separability": board.separability, "apart_separability": apart_sep,
           "multiplicity": MULTIPLICITY if board.ranking is not None else None,
           "pairs": pair_json(board.ranking, names), "apart_pairs": pair_json(board.apart_ranking, names)}
    return _dumps(out, compact=("pairs", "apart_pairs"))


def _dumps(out: dict, compact: tuple[str, ...]) -> str:
    """``out`` as indented JSON, except that each item of the ``compact`` lists takes one line: a board
    of L entries has L(L - 1)/2 pairs (125k for 500), which indentation would triple in size."""
    text = json.dumps({k: v for k, v in out.items() if k not in compact}, indent=2, allow_nan=False)
    parts = [text.removesuffix("\n}")]
    for key in compact:
        items = ",\n    ".join(json.dumps(item, allow_nan=False) for item in out[key])
        parts.append(f',\n  {json.dumps(key)}: [\n    {items}\n  ]' if items else f",\n  {json.dumps(key)}: []")
    return "".join(parts) + "\n}\n"
