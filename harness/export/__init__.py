"""Export runs to the trackers researchers use: TensorBoard event files and MLflow runs (optional extras:
``pip install 'harness[tensorboard]'`` / ``'harness[mlflow]'``; both write local files, no server or account).

A run's export (harness.export.series): its parameters (loss, suite config, beta, seeds), per-checkpoint
metrics per seed, the headline metrics, the record itself and its plots (reward vs KL, win rate vs step).

``TRACKERS`` maps a name to a lazy factory; ``export_run(record, tracker, destination)`` writes one run and
returns where. A missing library raises ``ExportError`` naming the extra to install.
"""

from __future__ import annotations

from pathlib import Path

from harness.registry import Registry, lazy


class ExportError(RuntimeError):
    """A tracker cannot be used (its library is missing, or its destination is unusable)."""


# name -> lazy factory of the writer ``(record, destination) -> where``; the tracker's library is imported on use
TRACKERS: Registry = Registry("tracker")
TRACKERS.add("tensorboard", lazy("harness.export.tensorboard:write_tensorboard"),
             "TensorBoard event files in a log folder (tensorboard --logdir DIR)")
TRACKERS.add("mlflow", lazy("harness.export.mlflow:write_mlflow"),
             "an MLflow run in a tracking store (a folder, or any MLflow tracking URI)")


def export_run(record: dict, tracker: str, destination: str | Path) -> str:
    """Write ``record`` to ``tracker`` at ``destination``; return where it went (a folder or a run URI)."""
    return TRACKERS.get(tracker)(record, destination)


def require(module: str, extra: str):
    """Import ``module`` or raise ExportError naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ExportError(f"the {extra} export needs the '{extra}' extra: pip install 'harness[{extra}]' "
                          f"(or bash scripts/setup.sh --extra {extra}); {e}") from None
