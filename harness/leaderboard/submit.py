"""The two ways onto a board: benchmark a loss file here, or verify a record produced elsewhere.

Both run the loss's behaviour check first (``harness check`` in the sandbox; a loss that fails it is
refused: the board never ranks it), store the run in the run store (history) and then hand the
record to ``publish.submit_record``, which verifies it and updates the board under its lock.

A record benchmarked here (``--loss``) is verified by construction. A record made elsewhere
(``--record``) must be consistent (every aggregate recomputed from its per-seed and per-prompt data),
come from a clean checkout, and prove its provenance: a valid signature by the runner key the board
trusts (``HARNESS_RUNNER_KEY``), or its seeds re-run here (all of them by default, or a sample drawn
here after submission) agreeing prompt by prompt (harness.leaderboard.rerun). A record that proves
nothing is added as unverified: listed apart, never ranked; one that a re-run contradicts is refused.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.hyperparams import PREFIX, HyperparameterError, entry_key, record_values, resolve, settings_key
from harness.leaderboard.folder import RECORDS_DIR, read_json_file
from harness.leaderboard.proof import verify_signature
from harness.leaderboard.publish import SubmitOutcome, submit_record, verified_on_board
from harness.leaderboard.rerun import verify_by_rerun
from harness.leaderboard.verify import VerificationError, current_suite_hash, verify_foreign, verify_record
from harness.lossfile import LossFileError, loss_from_bytes, read_loss_file, sha256_bytes
from harness.paths import boards_dir, repo_root
from harness.records import record_path
from harness.stats.ranks import MIN_SHARED_SEEDS
from harness.store import RunStore, StoreError
from harness.suites import SUITES
from harness.text import clean_line


def default_board_root() -> Path:
    """The repository's committed boards (what `harness leaderboard` shows by default)."""
    return repo_root() / "leaderboards"


def scratch_board_root() -> Path:
    """Where `harness submit` adds entries by default: boards under HARNESS_HOME, never the committed ones
    (a submission there would make every later record ``+dirty``); pass --board-dir leaderboards to publish."""
    return boards_dir()


@dataclass(frozen=True)
class SubmitConfig:
    """Where a submission goes and how a loss is benchmarked for it."""

    suite: str = "tiny"  # suite name; the board is <board_root>/<suite>
    board_root: Path | None = None  # folder of boards; None = the scratch boards under HARNESS_HOME
    seeds: int | str = 3  # training seeds for --loss (the CI is over seeds and prompts): at least MIN_SHARED_SEEDS,
    # or "auto" (seeds added until the CI is narrow; tiny suites)
    backend: str = "auto"  # sandbox backend that runs the untrusted loss file
    progress: bool = True
    store_url: str | None = None  # run store; None = the local SQLite file
    rerun: bool = True  # --record without a trusted signature: re-run its seeds here to verify it
    rerun_sample: int | None = None  # None: re-run every seed; k: k seeds drawn here at random (rerun.py)
    tolerance: float | None = None  # per prompt and per seed win rate; None: harness.reproduce.default_tolerance
    hyperparameters: dict | None = None  # --loss: values of the loss's declared hyper-parameters (--set loss.*)

    def __post_init__(self):
        if self.rerun_sample is not None and self.rerun_sample < 1:
            raise ValueError(f"rerun_sample must be at least 1 (or None for every seed), got {self.rerun_sample}")
        if self.tolerance is not None and not self.tolerance >= 0:
            raise ValueError(f"tolerance must be a non-negative fraction, got {self.tolerance}")
        if self.seeds == "auto":  # harness.suites.tiny.evaluate.AutoSeeds starts with 3 seeds
            return
        if not isinstance(self.seeds, int) or self.seeds < MIN_SHARED_SEEDS:
            raise ValueError(f"a board ranks entries pairwise on at least {MIN_SHARED_SEEDS} shared seeds, so it "
                             f"cannot rank a {self.seeds}-seed run: pass --seeds {MIN_SHARED_SEEDS} or more "
                             "(default 3); nothing was run")

    @property
    def board_dir(self) -> Path:
        return (self.board_root or scratch_board_root()) / self.suite


def submit_loss(loss_path: str | Path, cfg: SubmitConfig) -> SubmitOutcome:
    """Benchmark ``loss_path`` on the suite (in the sandbox) unless the board already has it; add it."""
    path, data, _ = read_loss_file(loss_path)
    expected = current_suite_hash(cfg.suite)
    key = _entry_key(path, data, cfg.hyperparameters)
    existing = cfg.board_dir / RECORDS_DIR / f"{key}-{expected}.json"
    if existing.exists() and verified_on_board(existing):  # same bytes + setting + suite config: nothing new
        return SubmitOutcome("exists", existing, f"{path.name} is already on the {cfg.suite} board with this suite "
                             "config; nothing was run")
    RunStore(cfg.store_url).close()  # opened first: a store error must not cost a finished run
    stored = None if cfg.seeds == "auto" else stored_run(key, cfg)
    if stored is not None:
        record, run_id = stored
        outcome = submit_record(cfg.board_dir, record, suite=cfg.suite, expected_hash=expected,
                                verification={"verified": True, "method": "local",
                                              "note": f"benchmarked on the board's machine (run {run_id}, reused by "
                                                      "`harness submit --loss`)"})
        return SubmitOutcome(outcome.action, outcome.path, f"reused the identical stored run {run_id} (same loss file, "
                             f"setting, suite config and seeds; nothing was run): {outcome.message}")
    from harness.bench import bench_and_store  # imported late: torch and the suite code are heavy
    settings = {PREFIX + k: v for k, v in (cfg.hyperparameters or {}).items()}
    run = bench_and_store(path, suite=cfg.suite, seeds=cfg.seeds, backend=cfg.backend, progress=cfg.progress,
                          store_url=cfg.store_url, **({"overrides": settings} if settings else {}))
    if run.store_error:
        raise StoreError(run.store_error)
    return submit_record(cfg.board_dir, run.record, suite=cfg.suite, expected_hash=expected,
                         verification={"verified": True, "method": "local",
                                       "note": "benchmarked by `harness submit --loss` on the board's machine"})


def _entry_key(path: Path, data: bytes, hyperparameters: dict | None) -> str:
    """The board identity a bench of this file at this setting would get (harness.hyperparams.entry_key)."""
    try:
        values = resolve(loss_from_bytes(path, data).signature.hyperparameters, hyperparameters, path.name)
    except HyperparameterError as e:
        raise VerificationError(f"--set loss.*: {e}") from None
    except LossFileError:  # the bench records it as invalid
        values = {}
    key = settings_key(values)
    return f"{sha256_bytes(data)}-{key}" if key else sha256_bytes(data)


def stored_run(key: str, cfg: SubmitConfig) -> tuple[dict, int] | None:
    """An ok run of the loss file and setting with board identity ``key`` (sha256[-setting key],
    harness.hyperparams.entry_key) on the suite's current config, its default beta and the seeds ``cfg``
    asks for, that this machine benchmarked: (record, run id), else None.

    The run store also holds records submitted from elsewhere (``--record``), so a run counts as made here
    only when its record file, as ``harness bench`` wrote it, is in this machine's run folder."""
    sha256 = key[:64]
    seeds, expected = SUITES.get(cfg.suite).seed_list(cfg.seeds), current_suite_hash(cfg.suite)
    store = RunStore(cfg.store_url)
    try:
        for summary in store.list(suite=cfg.suite, loss=sha256, status="ok"):
            if summary.loss_sha256 != sha256 or summary.config_hash != expected or summary.seeds != len(seeds):
                continue
            record = store.get(summary.id)
            # the suite's own beta (the config hash matched: the same config, so the same default beta) and
            # the same hyper-parameter setting (another setting is another board entry)
            if record["seeds"] != seeds or record["beta"] != record["suite"]["config"].get("beta") \
                    or "thorough" in record or entry_key(record) != key:
                continue
            if made_here(record):
                return record, summary.id
    finally:
        store.close()
    return None


def made_here(record: dict) -> bool:
    """Whether ``harness bench`` on this machine wrote ``record``: its record file, as the bench names it,
    is in this machine's run folder with the same content (records from elsewhere reach the run store too,
    through ``submit --record``, but never that folder)."""
    try:
        return read_json_file(record_path(record, None)) == record
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def behaviour_check(source: str, name: str, *, backend: str = "auto", beta: float = 0.05,
                    hyperparameters: dict | None = None) -> None:
    """Run ``harness check`` on a loss's source (in the sandbox) at the given hyper-parameter values;
    raise VerificationError if it fails."""
    from harness.checks import CheckConfig, CheckSetupError, check_loss_file

    with tempfile.TemporaryDirectory(prefix="harness-submit-check-") as tmp:
        path = Path(tmp) / "loss.py"
        path.write_text(source, encoding="utf-8")
        try:
            report = check_loss_file(path, backend=backend, config=CheckConfig(beta=beta),
                                     hyperparameters=hyperparameters)
        except CheckSetupError as e:
            raise VerificationError(f"cannot run the loss's behaviour check ({e}); a board only takes losses "
                                    "that pass `harness check`") from None
    if not report.valid:
        errors = "; ".join(clean_line(e) for e in report.errors)
        raise VerificationError(f"{clean_line(name)} fails `harness check` ({errors}); a board never ranks such "
                                "a loss: fix it and run `harness check --loss FILE`")


def _provenance(record: dict, cfg: SubmitConfig) -> dict:
    """What proves a foreign record: a trusted signature, else its seeds re-run here, else nothing
    (unverified). Raises VerificationError when a re-run contradicts the record."""
    if verify_signature(record):
        return {"verified": True, "method": "signature", "note": "signed by the runner key this board trusts"}
    if not cfg.rerun:
        return {"verified": False, "method": "none",
                "note": "no trusted signature and not re-run here (submitted with --no-rerun)"}
    try:
        verdict = verify_by_rerun(record, sample=cfg.rerun_sample, tolerance=cfg.tolerance, backend=cfg.backend,
                                  progress=cfg.progress)
    except ValueError as e:  # harness.reproduce.ReproduceError, a sample larger than the record's seeds
        raise VerificationError(f"the record cannot be re-run here: {e}") from None
    if verdict.contradicted:
        raise VerificationError(f"{verdict.message}: the record's results are not reproducible here")
    return verdict.note()


def read_submitted_record(path: str | Path) -> dict:
    """The record in the file at ``path``: a regular file of at most MAX_RECORD_FILE_BYTES, strict JSON
    (no NaN or Infinity), an object; VerificationError otherwise."""
    try:
        record = read_json_file(Path(path))
    except ValueError as e:
        raise VerificationError(f"{clean_line(path)}: not a readable JSON record ({clean_line(e)[:200]}); pass the "
                                "record file written by `harness bench`") from None
    if not isinstance(record, dict):
        raise VerificationError(f"{clean_line(path)}: a record is a JSON object, this file holds a "
                                f"{type(record).__name__}")
    return record


def submit_record_file(path: str | Path, cfg: SubmitConfig) -> SubmitOutcome:
    """Verify the record at ``path`` against the suite's current config and add it (or refuse)."""
    return submit_foreign(read_submitted_record(path), cfg)


def submit_foreign(record: dict, cfg: SubmitConfig) -> SubmitOutcome:
    """Verify ``record`` (a record file's content, or a stored run) and add it (or refuse). A record this
    machine's ``harness bench`` wrote (``made_here``) is verified as local; any other needs a trusted
    signature or a re-run seed (``_provenance``)."""
    expected = current_suite_hash(cfg.suite)
    verify_record(record, cfg.suite, expected)  # cheap checks first: the re-run below costs minutes
    if record["status"] == "ok" and len(record["seeds"]) < MIN_SHARED_SEEDS:
        raise VerificationError(f"the record has {len(record['seeds'])} seed(s); a board ranks entries pairwise on at "
                                f"least {MIN_SHARED_SEEDS} shared seeds: bench it with --seeds {MIN_SHARED_SEEDS} or more")
    verify_foreign(record)
    if record["status"] == "ok":
        # a foreign record's own "check" verdict is not evidence: the check runs here
        behaviour_check(record["loss"]["source"], record["loss"]["name"], backend=cfg.backend, beta=record["beta"],
                        hyperparameters=record_values(record))
        verification = _provenance(record, cfg) if not made_here(record) else {
            "verified": True, "method": "local", "note": "benchmarked by `harness bench` on the board's machine"}
    else:
        verification = {"verified": False, "method": "none", "note": "failed run: listed, never ranked"}
    outcome = submit_record(cfg.board_dir, record, suite=cfg.suite, expected_hash=expected,
                            verification=verification)
    if outcome.action != "exists":
        # the submitter's own "verification" is not kept: the store says what was proven here
        RunStore(cfg.store_url).add({k: v for k, v in record.items() if k != "verification"},
                                    verified=verification["verified"] is True)
    return outcome


def record_suite(path: str | Path) -> str:
    """The suite a record says it was run on (the board it is meant for)."""
    suite = read_submitted_record(path).get("suite")
    if not isinstance(suite, dict) or not isinstance(suite.get("name"), str):
        raise VerificationError(f"{path}: record has no suite.name; it is not a `harness bench` record")
    return suite["name"]
