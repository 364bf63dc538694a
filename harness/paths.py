"""Where the harness keeps caches and runs. Explicit flags win; HARNESS_HOME moves everything."""

from __future__ import annotations

import os
from pathlib import Path


def harness_home() -> Path:
    return Path(os.environ.get("HARNESS_HOME", Path.home() / ".cache" / "harness"))


def cache_dir() -> Path:
    return harness_home() / "suites"


def runs_dir() -> Path:
    return harness_home() / "runs"


def views_dir() -> Path:
    """Answer viewer pages written by ``harness show`` (harness.viewer)."""
    return harness_home() / "views"


def boards_dir() -> Path:
    """Boards made by ``harness submit`` without --board-dir (a scratch board per suite under it)."""
    return harness_home() / "boards"


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def builtin_losses_dir() -> Path:
    """losses/ of this checkout; an installed package (a job image) names its copy in HARNESS_LOSSES_DIR."""
    return Path(os.environ.get("HARNESS_LOSSES_DIR", repo_root() / "losses"))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: a killed process never leaves half
    a file (a reader sees the old contents or the new ones)."""
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
