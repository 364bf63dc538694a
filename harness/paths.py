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


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def builtin_losses_dir() -> Path:
    return repo_root() / "losses"
