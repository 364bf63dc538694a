"""Plot losses and their derivatives against rho, like Figure 5 of the DiscoPOP paper.

rho = (pc - rc) - (pr - rr) is moved symmetrically (chosen log-ratio +rho/2, rejected -rho/2; see
harness.check_probes.rho_grid_inputs). The derivative is exact (autograd), so jumps such as PADLL's
at rho = 0 show as steps in the loss, not as spikes in the derivative.
Losses with batch statistics (DBAQL, AQL, AQFL) are evaluated with the whole grid as one batch, so
their curve depends on that batch; their legend entries say so. Only trusted built-in losses are
plotted (they run in this process).
"""

from __future__ import annotations

from pathlib import Path

import torch

from harness.builtin import BuiltinLoss, measured_properties
from harness.check_probes import rho_grid_inputs


def loss_curve(
    loss: BuiltinLoss, rho: torch.Tensor, beta: float, batch_statistics: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example loss on the rho grid and its derivative d loss_i / d rho_i (autograd).

    With batch statistics, loss_i depends on every rho_j, so the derivative is the Jacobian's
    diagonal (the other examples held fixed); otherwise the gradient of the sum is that diagonal.
    """
    fn = loss.load()

    def losses(r: torch.Tensor) -> torch.Tensor:
        return fn(**rho_grid_inputs(r), beta=beta)

    leaf = rho.detach().clone().requires_grad_(True)
    values = losses(leaf)
    if batch_statistics:
        slope = torch.autograd.functional.jacobian(losses, leaf.detach()).diagonal()
    else:
        (slope,) = torch.autograd.grad(values.sum(), leaf)
    return values.detach().double(), slope.detach().double()


def plot_losses(losses: list[BuiltinLoss], out: Path, *, beta: float = 0.05, rho_max: float = 20.0,
                points: int = 801) -> Path:  # fmt: skip
    """Draw loss (top) and derivative (bottom) against rho for each loss; write a PNG to ``out``."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    if not losses:
        raise ValueError("nothing to plot: pass at least one loss")
    rho = torch.linspace(-rho_max, rho_max, points)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 8), sharex=True)
    for loss in losses:
        batch_statistics = measured_properties(loss)["uses_batch_statistics"]
        values, slope = loss_curve(loss, rho, beta, batch_statistics)
        label = loss.name + (" (batch statistics)" if batch_statistics else "")
        top.plot(rho.numpy(), values.numpy(), label=label)
        bottom.plot(rho.numpy(), slope.numpy(), label=label)
    for ax in (top, bottom):
        ax.axvline(0.0, color="grey", linewidth=0.8)
        ax.axhline(0.0, color="grey", linewidth=0.8)
        ax.grid(alpha=0.3)
    top.set_ylabel("loss")
    top.set_title(f"Losses against the margin rho (beta = {beta:g})")
    top.legend(fontsize="small")
    bottom.set_ylabel("d loss / d rho")
    bottom.set_xlabel("rho = (log pi_c - log ref_c) - (log pi_r - log ref_r)")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
