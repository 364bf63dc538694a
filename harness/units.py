"""Win rates as a person reads them: percent (points for differences), everywhere a command prints one
(``bench``, ``runs``, ``compare``, ``judge``, ``show``, the board). Records, the run store and JSON output
keep shares in [0, 1] (the field's convention for data: AlpacaEval's annotations, TRL's metrics), except
leaderboard.csv, which follows AlpacaEval's leaderboard CSV (percent)."""

from __future__ import annotations


def pct(value, digits: int = 1) -> str:
    """A share in [0, 1] as percent, "-" for None: 0.8421 -> "84.2"."""
    return "-" if value is None else f"{100 * value:.{digits}f}"


def pct_ci(value, ci=None, sem=None, *, sign: bool = False) -> str:
    """"84.2% [80.1, 88.3] SEM 2.1" (``sign``: "+4.2 points [+1.0, +7.4] SEM 1.6" for a difference);
    "not measured" for None."""
    if value is None:
        return "not measured"
    fmt = "+.1f" if sign else ".1f"
    text = f"{100 * value:{fmt}}" + (" points" if sign else "%")
    if ci:
        text += f" [{100 * ci[0]:{fmt}}, {100 * ci[1]:{fmt}}]"
    if sem is not None:
        text += f" SEM {100 * sem:.1f}"
    return text
