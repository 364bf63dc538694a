"""Judges: how answers are compared with reference answers (see harness.judges.base)."""

from harness.judges.base import JUDGES, Comparison, Judge, Judgment

__all__ = ["JUDGES", "Comparison", "Judge", "Judgment"]
