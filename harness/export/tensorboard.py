"""A run as TensorBoard event files: ``DIR/<loss>-<sha8>-<suite>/`` (one run folder per record), holding
the scalars (per seed and step, and the summary at the last step), the hyper-parameters (HParams plugin),
the plots as images and the record as text; ``record.json`` is written beside the events.

Loss-made text (the loss's name, a record's fields) goes into text summaries, which TensorBoard renders
as Markdown: it is escaped (harness.text.escape_markdown) and the record is shown as a code block.
"""

from __future__ import annotations

from pathlib import Path

from harness.export import require
from harness.export.series import figures, series_of
from harness.text import escape_markdown


def write_tensorboard(record: dict, destination: str | Path) -> str:
    require("tensorboard", "tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    series = series_of(record)
    folder = Path(destination) / series.name
    writer = SummaryWriter(log_dir=str(folder))
    try:
        for tag, step, value in series.scalars:
            writer.add_scalar(tag, value, global_step=step)
        for key, value in series.summary.items():
            writer.add_scalar(f"summary/{key}", value, global_step=series.last_step)
        for name, fig in figures(record).items():
            writer.add_figure(f"plots/{name}", fig, global_step=series.last_step, close=True)
        head = "\n".join(f"- **{escape_markdown(k)}**: {escape_markdown(v)}" for k, v in series.params.items()
                         if not k.startswith("suite.config."))
        writer.add_text("record/summary", head, global_step=series.last_step)
        fence = "````"  # a record cannot close a fence longer than any run of backticks JSON escapes to
        writer.add_text("record/json", f"{fence}json\n{series.record_json}\n{fence}", global_step=series.last_step)
        metrics = {f"hparam/{k}": v for k, v in series.summary.items() if k in ("win_rate", "win_rate_end", "kl")}
        if metrics:
            writer.add_hparams(series.params, metrics, run_name=".")
    finally:
        writer.close()
    (folder / "record.json").write_text(series.record_json + "\n", encoding="utf-8")
    return str(folder)
