"""Option parsing shared by several commands (not a command itself), so that a flag means one thing
everywhere:

- ``--set KEY=VALUE`` overrides (``parse_overrides``);
- ``container_options``: the container-job options of ``harness bench`` and ``harness discover``;
- ``LOSS``: a loss file, or a built-in loss's name (``--loss dpo``; harness.specs.loss_path);
- ``SEEDS``: a number of training seeds, or ``auto`` (add seeds until the CI is narrow; tiny suites);
- ``quiet_option``: ``--quiet``, no progress output (bars, stage lines); results, warnings and errors
  still print;
- ``--json`` is a flag everywhere: the command's result as JSON on stdout (nothing else on stdout);
  a report file is ``--report FILE``.
"""

from __future__ import annotations

import functools
import json

import click

from harness.executors.container_runner import CPU_IMAGE
from harness.specs import SpecError, loss_path


def parse_overrides(items: tuple[str, ...], param_hint: str = "--set") -> dict:
    """``("train.learning_rate=1e-4", ...)`` as ``{"train.learning_rate": 1e-4}``: each value is read as
    JSON when it parses (numbers, booleans, lists), else kept as text. Raises click.BadParameter for an
    item without ``=``."""
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE (e.g. train.learning_rate=1e-4 or loss.tau=0.1)",
                                     param_hint=param_hint)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def container_options(f):
    """Adds --image, --gpus, --per-gpu, --job-timeout, --job-memory, --job-cpus, --runtime (kwarg ``containers``)."""
    options = [
        click.option("--image", default=CPU_IMAGE, show_default=True,
                     help="Job image for --executor docker / --in-container (scripts/job_image.sh builds the CPU "
                          "one; `docker build -t harness-job:latest .` the GPU one)."),
        click.option("--gpus", default="", help="GPU cards for job containers: all, or indices like 0,1,3 "
                                                "(one job per card, round-robin). Default: CPU containers."),
        click.option("--per-gpu", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Jobs sharing one GPU card."),
        click.option("--job-timeout", type=click.FloatRange(min=1), default=3600.0, show_default=True,
                     help="Seconds one container may run; then it is killed (status timeout)."),
        click.option("--job-memory", default="8g", show_default=True,
                     help="Memory limit of one container (docker --memory); an OOM kill is status oom."),
        click.option("--job-cpus", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
                     help="CPUs of one container on a CPU host."),
        click.option("--runtime", default="", help="Container runtime, e.g. runsc (gVisor)."),
    ]
    for option in reversed(options):
        f = option(f)

    @functools.wraps(f)
    def wrapper(*args, image, gpus, per_gpu, job_timeout, job_memory, job_cpus, runtime, **kw):
        from harness.executors.container_bench import ContainerOptions

        containers = ContainerOptions(image=image, gpus=gpus, per_gpu=per_gpu, timeout_s=job_timeout,
                                      memory=job_memory, cpus=job_cpus, runtime=runtime,
                                      parallel=kw.get("parallel") or 1)
        return f(*args, containers=containers, **kw)

    return wrapper


QUIET_HELP = "No progress output (bars, stage lines); results, warnings and errors still print."


def quiet_option(f):
    return click.option("--quiet", is_flag=True, help=QUIET_HELP)(f)


class LossType(click.ParamType):
    """A loss file, or the name of a built-in loss (``harness losses`` lists them)."""

    name = "LOSS"

    def __init__(self, must_exist: bool = True):
        self.must_exist = must_exist

    def convert(self, value, param, ctx):
        try:
            path = loss_path(value)
        except SpecError as e:
            self.fail(str(e), param, ctx)
        if self.must_exist and not path.is_file():
            self.fail(f"{value!r}: no such loss file (a loss is a .py file, or a built-in's name: `harness losses`)",
                      param, ctx)
        return path


class SeedsType(click.ParamType):
    """A positive number of seeds, or "auto"."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or str(value).strip().lower() == "auto":
            return value if isinstance(value, int) else "auto"
        text = str(value).strip()
        if not text.isdigit() or int(text) < 1:
            self.fail(f"{value!r} is neither a positive integer nor 'auto'", param, ctx)
        return int(text)


LOSS = LossType()
SEEDS = SeedsType()
