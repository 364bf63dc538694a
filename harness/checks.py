"""`harness check`: validate a loss file (structure, behaviour, diagnostics) without trusting it.

1. Structure, from the syntax tree only (harness.lossfile.parse_loss_source): syntax errors with line
   numbers, exactly one loss function, parameters from the vocabulary.
2. Behaviour, through a LossSession (the sandbox; never this process): batch sizes 1, 7, 64; float32
   and bfloat16; realistic (-5..-60) and extreme (-5..-1000) summed log-probs with rho in [-50, 50]
   (rho = 0 exactly included), and the policy equal to the reference (training's first step); int64
   lengths, as in training (the input contract: harness.check_probes.INPUT_DTYPES). Each call must give shape (B,), finite values and finite gradients
   w.r.t. the policy log-probs; two calls on the same inputs must agree; B = 64 must take under 50 ms.
3. Diagnostics, reported and never failures: slope at rho = 0 (DiscoPOP's LRML has a positive slope
   at beta = 0.05, +0.039 vs DPO's -0.025: it pushes away from the chosen answer near initialisation),
   bounded below, convex in rho, stationary points, batch statistics, reference-free, length-dependent.

Much stricter than the DiscoPOP paper's validation, which only called the loss on four
torch.randn(10) tensors and never looked for inf, bfloat16, batch size 1 or speed.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from harness import check_probes as probes
from harness import hyperparams
from harness.hyperparams import HyperparameterError
from harness.lossfile import LossFileError, LossSignature, parse_loss_source, read_loss_file, sha256_bytes
from harness.session import LossCallError, LossSession

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
FATAL_STATUSES = ("timeout", "oom", "crash", "sandbox_violation")  # the session may be gone after these
RETIME_CALLS, RETIME_PAUSE_S = 10, 0.05


@dataclass(frozen=True)
class CheckConfig:
    """What `harness check` tries. The defaults are the documented contract; tests may shrink them."""

    beta: float = 0.05
    """beta passed to the loss; the paper's value, at which the slope diagnostics are quoted."""
    batch_sizes: tuple[int, ...] = (1, 7, 64)
    """Batch sizes of the behaviour checks (1 catches unguarded batch statistics such as var())."""
    dtypes: tuple[str, ...] = ("float32", "bfloat16")
    """Input dtypes of the behaviour checks (keys of DTYPES)."""
    regimes: tuple[str, ...] = ("realistic", "extreme", "initial")
    """Log-prob ranges of the behaviour checks (keys of check_probes.REGIMES)."""
    max_rho: float = 50.0
    """Largest |rho| in the behaviour checks."""
    speed_batch: int = 64
    """Batch size whose call time is limited."""
    max_call_ms: float = 50.0
    """Limit on the fastest forward+backward of a speed_batch call, in milliseconds, as the harness
    measures it around the call (the sandbox's round trip; the loss's own word is never asked)."""
    seed: int = 0
    """Seed of the random behaviour inputs."""

    def __post_init__(self):
        unknown = [d for d in self.dtypes if d not in DTYPES] + [r for r in self.regimes if r not in probes.REGIMES]
        if unknown:
            raise ValueError(f"unknown dtype or regime {unknown}; choose from {list(DTYPES)} and {list(probes.REGIMES)}")
        if self.speed_batch not in self.batch_sizes:
            raise ValueError(f"speed_batch {self.speed_batch} must be one of batch_sizes {self.batch_sizes}")


@dataclass
class CheckReport:
    """The outcome of a check. Valid exactly when there are no errors."""

    path: str
    name: str
    sha256: str | None = None
    backend: str = ""
    function: str | None = None
    params: list[str] = field(default_factory=list)
    hyperparameters: dict = field(default_factory=dict)  # the values checked (declared ones, defaults filled)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    diagnostics: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        """The report as strict JSON values: a non-finite number becomes null (``json.dumps`` with
        ``allow_nan=False`` never fails on it)."""
        return _finite({"valid": self.valid, **asdict(self)})


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def short_error(message: str) -> str:
    """A worker's traceback cut down to the exception and the loss file's own frames.

    The harness frames (worker, loader) say nothing to the loss's author; the last line and the
    lines of the loss file do.
    """
    lines = [line for line in message.strip().splitlines() if line.strip()]
    if not lines or not lines[0].startswith("Traceback"):
        return message.strip()
    harness_dir = str(Path(__file__).resolve().parent)
    frames = [line.strip() for line in lines if line.strip().startswith("File ") and harness_dir not in line]
    where = f" ({'; '.join(frames[-2:])})" if frames else ""
    return lines[-1].strip() + where


class _Findings:
    """Problems grouped by kind: the first message of each kind and the cases (batch, dtype, regime)
    where that kind happened, so one bug gives one line instead of twelve."""

    def __init__(self):
        self._first: dict[str, str] = {}
        self._cases: dict[str, list[str]] = {}

    def add(self, kind: str, message: str, case: str) -> None:
        self._first.setdefault(kind, message)
        self._cases.setdefault(kind, []).append(case)

    def render(self) -> list[str]:
        out = []
        for kind, cases in self._cases.items():
            shown = ", ".join(cases[:3]) + (f" and {len(cases) - 3} more" if len(cases) > 3 else "")
            out.append(f"{self._first[kind]} (in: {shown})")
        return out


def _call(session: LossSession, inputs: dict, beta: float, grad: bool, seed: int | None = 0):
    """``session.call`` with the per-token vocabulary added for a loss that declares it
    (check_probes.with_tokens: consistent with the sequence inputs; equal shares with ``seed`` None)."""
    if probes.needs_tokens(session.params):
        inputs = probes.with_tokens(inputs, seed)
    return session.call(inputs, beta, grad=grad)


def _inspect_reply(reply, batch: int, dtype: torch.dtype, problems: _Findings, notes: _Findings, case: str) -> None:
    losses = reply.losses
    if tuple(losses.shape) != (batch,):
        problems.add(
            "shape",
            f"returned shape {tuple(losses.shape)} for a batch of {batch}; return per-example losses of shape "
            "(B,) and let the trainer take the mean",
            case,
        )
        return
    if not losses.is_floating_point():
        problems.add("dtype", f"returned dtype {losses.dtype}; losses must be floating point", case)
        return
    for label, bad in (("NaN", torch.isnan(losses)), ("inf", torch.isinf(losses))):
        if bad.any():
            examples = bad.nonzero().flatten()[:5].tolist()
            problems.add(label, f"loss values contain {label} (e.g. at examples {examples})", case)
    for name, grad in reply.grads.items():
        if not torch.isfinite(grad).all():
            problems.add(f"grad {name}", f"gradient w.r.t. {name} is not finite (NaN or inf)", case)
    if losses.dtype != dtype:
        notes.add("out dtype", f"returns {losses.dtype} for {dtype} inputs (the trainer casts; harmless but wasteful)", case)


def _behaviour(session: LossSession, config: CheckConfig, report: CheckReport) -> bool:
    """Run the behaviour matrix; add errors and warnings; return whether diagnostics may follow."""
    problems, notes = _Findings(), _Findings()
    speed_times: list[float] = []
    any_gradient = False
    for batch in config.batch_sizes:
        for dtype_name in config.dtypes:
            for regime in config.regimes:
                case = f"B={batch} {dtype_name} {regime}"
                dtype = DTYPES[dtype_name]
                inputs = probes.behaviour_inputs(batch, dtype, regime, config.max_rho, config.seed + batch)
                try:
                    reply = _call(session, inputs, config.beta, grad=True)
                except LossCallError as e:
                    message = f"{e.status}: {short_error(e.message)}"
                    # One kind per message up to its numbers (example indices, shapes vary by case).
                    problems.add(re.sub(r"\d+", "N", re.sub(r"\[[^]]*\]", "[]", message)), message, case)
                    if e.status in FATAL_STATUSES:
                        report.errors += problems.render()
                        return False
                    continue
                _inspect_reply(reply, batch, dtype, problems, notes, case)
                any_gradient |= any(bool((g != 0).any()) for g in reply.grads.values())
                if batch == config.speed_batch:
                    speed_times.append(reply.seconds)
    report.errors += problems.render()
    report.warnings += notes.render()
    if report.errors:
        return False
    if not any_gradient:
        report.warnings.append("the gradient is zero on every input: training with this loss changes nothing")
    try:
        fastest_ms = _fastest_ms(session, config, speed_times)
        _determinism(session, config, report)
    except LossCallError as e:  # it passed once on these inputs: a later failure is still a failure
        report.errors.append(f"{e.status} on a repeated call: {short_error(e.message)}")
        return False
    report.diagnostics[f"call_ms_b{config.speed_batch}"] = round(fastest_ms, 3)
    if fastest_ms > config.max_call_ms:
        report.errors.append(
            f"too slow: the fastest call with B={config.speed_batch} took {fastest_ms:.1f} ms "
            f"(limit {config.max_call_ms:g} ms); a loss runs once per training step"
        )
    return not report.errors


def _fastest_ms(session: LossSession, config: CheckConfig, seconds: list[float]) -> float:
    """Fastest call at speed_batch. Wall-clock times on a busy machine have outliers, so a loss is
    only called slow after RETIME_CALLS more tries, spread out in time, also miss the limit."""
    inputs = probes.behaviour_inputs(config.speed_batch, torch.float32, "realistic", config.max_rho, config.seed)
    for _ in range(RETIME_CALLS):
        if 1000 * min(seconds) <= config.max_call_ms:
            break
        time.sleep(RETIME_PAUSE_S)
        seconds.append(_call(session, inputs, config.beta, grad=True).seconds)
    return 1000 * min(seconds)


def _determinism(session: LossSession, config: CheckConfig, report: CheckReport) -> None:
    inputs = probes.behaviour_inputs(config.speed_batch, torch.float32, "realistic", config.max_rho, config.seed)
    first = _call(session, inputs, config.beta, grad=True)
    second = _call(session, inputs, config.beta, grad=True)
    same = torch.equal(first.losses, second.losses) and all(
        torch.equal(first.grads[k], second.grads.get(k, torch.empty(0))) for k in first.grads
    )
    if not same:
        gap = float((first.losses.double() - second.losses.double()).abs().max())
        report.errors.append(
            f"not deterministic: two calls on the same inputs differ (max loss difference {gap:.3g}); "
            "remove randomness (torch.rand, dropout) from the loss"
        )


def _slope_at_zero(session: LossSession, config: CheckConfig) -> dict:
    zero = _call(session, probes.rho_grid_inputs(torch.zeros(1)), config.beta, grad=True, seed=None)
    slope = probes.slope_from_grads(zero.grads) + probes.token_slope(zero.grads)
    direction = "towards the chosen answer" if slope < 0 else "away from the chosen answer" if slope > 0 else "flat"
    return {"slope_at_zero": round(slope, 6), "pushes_at_zero": direction,
            "loss_at_zero": round(float(zero.losses.float().sum()), 6)}  # fmt: skip


def _bounded_below(session: LossSession, config: CheckConfig) -> dict:
    def call_one(rho: float) -> float | None:
        try:
            reply = _call(session, probes.rho_grid_inputs(torch.tensor([rho])), config.beta, grad=False, seed=None)
        except LossCallError as e:
            if e.status in FATAL_STATUSES:
                raise
            return None  # e.g. the sandbox refuses a non-finite value: the tail overflowed
        return float(reply.losses.double().sum())

    return {"bounded_below": probes.bounded_below([probes.tail_side(call_one, s) for s in (1.0, -1.0)])}


def _curve(session: LossSession, config: CheckConfig) -> dict:
    grid = torch.linspace(-config.max_rho, config.max_rho, 2001)
    reply = _call(session, probes.rho_grid_inputs(grid), config.beta, grad=False, seed=None)
    return probes.curve_shape(grid, reply.losses)


def _dependence(session: LossSession, config: CheckConfig) -> dict:
    return probes.dependence(lambda inputs: _call(session, inputs, config.beta, grad=False).losses.float())


def _batch_probe(session: LossSession, config: CheckConfig) -> dict:
    """The loss's values on one fixed batch of 7 pairs with unequal lengths, reference log-ratios apart
    from zero and (for a per-token loss) uneven tokens. The rho grids give every example equal lengths,
    a reference at the same level and equal token shares, one example per call: there AOT (a sort over
    the batch), R-DPO (a length term), CPO (no reference), WPO, LD-DPO and SamPO all equal DPO, so the
    behaviour key (harness.discovery.evaluator.behaviour_key_of) needs these values too."""
    inputs = probes.behaviour_inputs(7, torch.float32, "realistic", 5.0, config.seed + 11)
    losses = _call(session, inputs, config.beta, grad=False, seed=config.seed + 11).losses.double()
    return {"probe_losses": [round(float(v), 6) for v in losses]}


# beta * rho at which the loss's value is probed for its behaviour fingerprint (harness.discovery): a
# range wide enough that an exponential and a logistic loss with the same value and slope at 0 differ
BEHAVIOUR_MARGINS = (-8.0, -4.0, -2.0, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def _values_on_margins(session: LossSession, config: CheckConfig) -> dict:
    """The loss's value at each beta * rho of BEHAVIOUR_MARGINS, one example per call (a batch statistic
    sees the same one-example batch everywhere); None where the loss fails or is not finite there."""
    values = []
    for margin in BEHAVIOUR_MARGINS:
        try:
            reply = _call(session, probes.rho_grid_inputs(torch.tensor([margin / config.beta])), config.beta,
                          grad=False, seed=None)
            values.append(round(float(reply.losses.double().sum()), 6))
        except LossCallError as e:
            if e.status in FATAL_STATUSES:
                raise
            values.append(None)
    return {"loss_on_margins": [[m, v] for m, v in zip(BEHAVIOUR_MARGINS, values, strict=True)]}


DIAGNOSTICS = {"slope at rho = 0": _slope_at_zero, "bounded below": _bounded_below,
               "shape on the rho grid": _curve, "input dependence": _dependence,
               "values on beta * rho from -8 to 8": _values_on_margins,
               "values on a fixed batch": _batch_probe}  # fmt: skip


def _diagnostics(session: LossSession, config: CheckConfig, report: CheckReport) -> None:
    """Diagnostics never fail a loss: one that cannot be computed becomes a warning."""
    report.diagnostics["beta"] = config.beta
    for label, diagnostic in DIAGNOSTICS.items():
        try:
            report.diagnostics.update(diagnostic(session, config))
        except LossCallError as e:
            report.warnings.append(f"diagnostic '{label}' unavailable: {e.status}: {short_error(e.message)}")
            if e.status in FATAL_STATUSES:
                return


def _hyperparameter_ranges(session: LossSession, signature: LossSignature, config: CheckConfig,
                           report: CheckReport) -> None:
    """Each declared hyper-parameter at both ends of its range (the others at their checked values):
    the loss must stay finite, with finite gradients, wherever its declaration allows it to be set."""
    base = dict(session.hyperparameters)
    inputs = probes.behaviour_inputs(7, torch.float32, "realistic", config.max_rho, config.seed)
    try:
        for h in signature.hyperparameters:
            for end in dict.fromkeys((h.value(h.low), h.value(h.high))):
                if end == base.get(h.name):
                    continue
                session.hyperparameters = {**base, h.name: end}
                what = f"hyper-parameter {h.name}={end:g} (an end of its declared range [{h.low:g}, {h.high:g}])"
                try:
                    reply = _call(session, inputs, config.beta, grad=True)
                except LossCallError as e:
                    report.errors.append(f"{what}: {e.status}: {short_error(e.message)}; narrow its range in "
                                         "HYPERPARAMETERS")
                    if e.status in FATAL_STATUSES:
                        return
                    continue
                finite = torch.isfinite(reply.losses).all() and all(torch.isfinite(g).all() for g in reply.grads.values())
                if not finite:
                    report.errors.append(f"{what} gives non-finite losses or gradients; narrow its range in "
                                         "HYPERPARAMETERS")
    finally:
        session.hyperparameters = base


def check_session(session: LossSession, signature: LossSignature, config: CheckConfig = CheckConfig(),
                  report: CheckReport | None = None) -> CheckReport:  # fmt: skip
    """Behaviour checks and diagnostics of a loss already structurally valid and open in ``session``
    (at the session's hyper-parameter values; each declared range is then probed at both ends)."""
    report = report or CheckReport(path="<session>", name=session.name, sha256=session.sha256)
    report.function, report.params = signature.function, list(signature.params)
    report.hyperparameters = dict(getattr(session, "hyperparameters", {}) or {})
    if _behaviour(session, config, report):
        _hyperparameter_ranges(session, signature, config, report)
        if not report.errors:
            _diagnostics(session, config, report)
    return report


def check_structure(path) -> tuple[CheckReport, LossSignature | None]:
    """Read and parse the file without executing it."""
    report = CheckReport(path=str(path), name=str(path))
    try:
        path, data, source = read_loss_file(path)
        report.name, report.sha256 = path.stem, sha256_bytes(data)
        return report, parse_loss_source(source, str(path))
    except LossFileError as e:
        report.errors.append(str(e))
        return report, None


class CheckSetupError(RuntimeError):
    """The check could not run (sandbox missing or misconfigured): not a verdict on the loss."""


# A check's calls are small (B <= 2001): a loss that needs longer than this per call is hung.
CHECK_LIMITS = {"call_timeout_s": 10.0}


def open_check_session(path, backend: str, hyperparameters: dict | None = None) -> LossSession:
    """Open the loss in the sandbox. The in-process backend is refused: checked files are untrusted."""
    from harness.registry import UnknownNameError
    from harness.sandbox import SandboxUnavailable, open_session
    from harness.sandbox.limits import SandboxLimits

    if backend == "none":
        raise CheckSetupError("`harness check` never runs a loss in-process; choose a sandbox backend")
    try:
        return open_session(path, backend=backend, limits=SandboxLimits(**CHECK_LIMITS),
                            hyperparameters=hyperparameters)
    except (SandboxUnavailable, UnknownNameError, HyperparameterError) as e:
        raise CheckSetupError(str(e)) from e


def check_loss_file(path, *, backend: str = "auto", config: CheckConfig = CheckConfig(),
                    hyperparameters: dict | None = None) -> CheckReport:
    """Check a loss file: structure from its source, then behaviour inside the sandbox, at the
    hyper-parameter values ``hyperparameters`` (name -> value; the declared defaults for the rest).

    Raises CheckSetupError when the sandbox cannot be opened for reasons that are not the loss's, or a
    hyper-parameter value is not one the file declares or allows.
    """
    started = time.perf_counter()
    report, signature = check_structure(path)
    if signature is not None:
        try:
            session = open_check_session(path, backend, hyperparameters)
            report.backend = session.backend
        except LossCallError as e:  # the file failed while loading inside the session
            report.backend = backend
            report.errors.append(f"{e.status}: {short_error(e.message)}")
        except CheckSetupError:
            raise
        except Exception as e:
            raise CheckSetupError(f"could not open a {backend!r} session: {type(e).__name__}: {e}") from e
        else:
            try:
                check_session(session, signature, config, report)
            finally:
                session.close()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def render_report(report: CheckReport) -> str:
    """The readable form of a report (the CLI prints it; --json prints ``as_dict`` instead)."""
    verdict = "VALID" if report.valid else "INVALID"
    lines = [f"{report.path}: {verdict}"]
    if report.function:
        lines.append(f"  function: {report.function}({', '.join(report.params)})")
    if report.hyperparameters:
        lines.append(f"  hyper-parameters: {hyperparams.label(report.hyperparameters)}")
    if report.backend:
        lines.append(f"  ran in: {report.backend}")
    lines += [f"  error: {e}" for e in report.errors]
    lines += [f"  warning: {w}" for w in report.warnings]
    if report.diagnostics:
        lines.append(f"  diagnostics (reported, not checked; beta = {report.diagnostics.get('beta')}):")
        for key, value in report.diagnostics.items():
            if key != "beta":
                lines.append(f"    {key}: {value}")
    return "\n".join(lines)
