"""A clean terminal: what libraries print is not the harness's output.

- Progress bars and log lines of Hugging Face libraries (``Loading weights``, ``Writing model shards``)
  are switched off through their own settings (``HF_HUB_DISABLE_PROGRESS_BARS``, ``TRANSFORMERS_VERBOSITY``)
  before they are imported; a value the user set is kept.
- Python warnings raised by library code (a ``FutureWarning`` about a renamed argument) go to
  ``HARNESS_HOME/logs/warnings.log``, one line each with its time, category and source, instead of into
  a command's output. Warnings the harness itself raises still reach the terminal. Causes are fixed
  where they are ours (harness.train passes transformers' new argument names).
"""

from __future__ import annotations

import datetime as _dt
import os
import warnings
from pathlib import Path

from harness.paths import harness_home

HARNESS_DIR = str(Path(__file__).resolve().parent)
ENV_DEFAULTS = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}


def quiet_libraries() -> None:
    """Library progress bars and info logs off (before the libraries are imported); user values kept."""
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def warnings_log() -> Path:
    return harness_home() / "logs" / "warnings.log"


_shown = warnings.showwarning


def _route(message, category, filename, lineno, file=None, line=None):
    if str(filename).startswith(HARNESS_DIR):  # the harness's own warning: for the user
        _shown(message, category, filename, lineno, file, line)
        return
    try:
        path = warnings_log()
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {category.__name__} {filename}:{lineno}: {message}\n")
    except OSError:  # no writable home: the warning is shown rather than lost
        _shown(message, category, filename, lineno, file, line)


def route_library_warnings() -> None:
    """Send warnings raised outside the harness to ``warnings_log()`` (see the module doc)."""
    warnings.showwarning = _route
