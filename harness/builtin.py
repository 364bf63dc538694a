"""The built-in losses: every file in losses/ (and the two controls in losses/controls/), each citing
the paper and equation it implements in its docstring (``citation``).

Built-ins are trusted files shipped with the harness, so their properties that need execution
(batch statistics, reference and length dependence) are measured in this process with
``load_loss``; what needs only the source (name, parameters, description) comes from the syntax tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.lossfile import LossFileError, load_loss, parse_loss_source, read_loss_file
from harness.paths import builtin_losses_dir
from harness.registry import Registry
from harness.vocabulary import wants_tokens


@dataclass(frozen=True)
class BuiltinLoss:
    """One built-in loss file."""

    name: str
    """File stem, e.g. ``discopop``; the name used by ``--names`` and bench records."""
    path: Path
    """Absolute path of the loss file."""
    description: str
    """First line of the loss function's docstring."""
    params: tuple[str, ...]
    """Vocabulary inputs the function declares."""
    control: bool
    """A control loss (losses/controls/) that benchmarks use as a sanity check, not a method."""
    citation: str = ""
    """The paper (and equation) it implements: the first line of the docstring's second paragraph."""
    hyperparameters: tuple = ()
    """Declared hyper-parameters (harness.hyperparams.Hyperparameter), with their defaults and ranges."""
    combination: tuple = ()
    """((loss_type, weight), ...) for a combination of built-ins (harness.combination)."""

    @property
    def per_token(self) -> bool:
        """Whether it declares per-token inputs (harness.vocabulary)."""
        return wants_tokens(self.params)

    @property
    def declares_reference(self) -> bool:
        return any(p.startswith("reference_") for p in self.params)

    def load(self):
        """The loss as a callable (executes the trusted file in this process)."""
        return load_loss(self.path)


def _describe(path: Path, control: bool) -> BuiltinLoss:
    path, _, source = read_loss_file(path)
    signature = parse_loss_source(source, str(path))
    if not signature.docstring:
        raise LossFileError(f"{path}: built-in loss `{signature.function}` has no docstring; cite its source")
    paragraphs = [p.strip() for p in signature.docstring.strip().split("\n\n") if p.strip()]
    first_line = paragraphs[0].splitlines()[0]
    citation = paragraphs[1].splitlines()[0].rstrip(",;:") if len(paragraphs) > 1 else ""
    return BuiltinLoss(path.stem, path.resolve(), first_line, signature.params, control, citation,
                       signature.hyperparameters, signature.combination)


def builtin_losses(directory: Path | None = None) -> Registry[BuiltinLoss]:
    """All built-in losses by name (methods, then controls); unknown names answer "did you mean"."""
    directory = directory or builtin_losses_dir()
    registry: Registry[BuiltinLoss] = Registry("built-in loss")
    for control, folder in ((False, directory), (True, directory / "controls")):
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            loss = _describe(path, control)
            registry.add(loss.name, loss, loss.description)
    return registry


def measured_properties(loss: BuiltinLoss) -> dict:
    """Batch statistics, reference-free, length-dependent: measured on probe inputs (float32)."""
    import torch

    from harness.check_probes import dependence, with_tokens

    fn = loss.load()

    def call(inputs: dict) -> torch.Tensor:
        with torch.no_grad():  # at the declared hyper-parameter defaults
            return fn(**(with_tokens(inputs) if loss.per_token else inputs), beta=0.05)

    return dependence(call)


def table_rows(registry: Registry[BuiltinLoss]) -> list[dict]:
    """One row per built-in for `harness losses`."""
    rows = []
    for loss in sorted((registry.get(n) for n in registry), key=lambda b: (b.control, b.name)):
        name = loss.name
        props = measured_properties(loss)
        rows.append({
            "name": name,
            "kind": "control" if loss.control else "method",
            "inputs": "per-token" if loss.per_token else "sequence",
            "reference_free": props["reference_free"],
            "batch_dependent": props["uses_batch_statistics"],
            "length_dependent": props["length_dependent"],
            "hyperparameters": {h.name: {"default": h.default, "range": [h.low, h.high]} for h in loss.hyperparameters},
            "combination": [{"loss_type": n, "weight": w} for n, w in loss.combination] or None,
            "description": loss.description,
            "citation": loss.citation,
        })  # fmt: skip
    return rows
