"""The discovery loop: propose -> dedupe -> evaluate (in workers) -> archive, until a budget is spent.

Two queues, as in ShinkaEvolve's async runner: a proposal thread answers proposal requests (an LLM
call can take seconds) while up to ``parallel`` evaluations run in worker processes or Ray tasks.
Pending candidates are rows of the archive, so the evaluation queue survives ``kill -9``:
``--resume`` first collects result files that workers finished before the kill, then re-dispatches
the pending rows that have none. A completed evaluation is therefore neither lost nor repeated.

Only this module's controller thread writes to the archive. The cheapest check (the loss file's
structure, read from its syntax tree without running it) happens here; everything that executes
the candidate happens in a worker, through the sandbox.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from harness.discovery import outputs
from harness.discovery.archive import DUPLICATE, SCREENED, Archive
from harness.discovery.config import DiscoveryConfig
from harness.discovery.dedupe import code_key
from harness.discovery.evaluator import EvalResult
from harness.discovery.pools import job_for, make_executor
from harness.discovery.proposer import Proposal, Proposer, make_proposer
from harness.lossfile import LossFileError, parse_loss_source, sha256_bytes
from harness.suites import get_suite

POLL_S = 0.2
LOOKAHEAD = 1  # proposals prepared beyond the free workers, so a worker never waits for the LLM


class DiscoveryError(RuntimeError):
    """The run cannot start or continue (wrong --resume use, mismatched settings)."""


@dataclass(frozen=True)
class DiscoveryResult:
    out_dir: Path
    stop_reason: str
    candidates: int  # evaluated or rejected candidates in the archive (duplicates excluded)
    status_counts: dict
    best_id: int | None
    best_fitness: float | None
    proposer_failed: bool  # stopped because the proposer raised (endpoint down, space exhausted)
    harness_failed: bool  # stopped because evaluations kept failing in the harness (status error)
    reeval_best_id: int | None = None  # chosen on the re-evaluated win rate (None until finalized)


class _ProposalThread(threading.Thread):
    """Answers each request with a Proposal or the exception the proposer raised."""

    def __init__(self, proposer: Proposer, archive_path: Path):
        super().__init__(daemon=True, name="proposer")
        self.proposer, self.archive_path = proposer, archive_path
        self.requests: queue.Queue = queue.Queue()
        self.replies: queue.Queue = queue.Queue()

    def run(self) -> None:
        archive = Archive(self.archive_path)
        try:
            while self.requests.get() is not None:
                try:
                    self.replies.put(self.proposer.propose(archive))
                except Exception as e:  # handed to the controller, which stops cleanly
                    self.replies.put(e)
        finally:
            archive.close()


def open_archive(config: DiscoveryConfig, resume: bool) -> Archive:
    out = Path(config.out_dir)
    path = out / "archive.sqlite"
    if resume and not path.exists():
        raise DiscoveryError(f"--resume: no archive at {path}; start a new run without --resume")
    if not resume and path.exists():
        raise DiscoveryError(f"{out} already holds a discovery run; pass --resume to continue it, "
                             "or choose another --out")
    archive = Archive(path)
    saved = archive.get_run("identity")
    if saved is None:
        archive.set_run("identity", config.search_identity())
    elif saved != config.search_identity():
        diff = {k: (saved.get(k), v) for k, v in config.search_identity().items() if saved.get(k) != v}
        archive.close()
        raise DiscoveryError(f"--resume with different search settings (saved, given): {diff}")
    archive.set_run("config", config.as_dict())
    return archive


class Controller:
    def __init__(self, config: DiscoveryConfig, archive: Archive, proposer: Proposer):
        self.config, self.archive = config, archive
        self.out = Path(config.out_dir)
        for sub in ("candidates", "results", "runs"):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        self.proposals = _ProposalThread(proposer, archive.path)
        self.queued: deque[int] = deque()  # pending candidates not yet dispatched
        self.outstanding = 0  # proposal requests not yet answered
        self.duplicates_in_a_row = 0
        self.errors_in_a_row = 0
        self.stop_reason: str | None = None
        self.proposer_failed = False
        self.harness_failed = False
        self.t0 = time.monotonic()
        self._wall_mark = self.t0
        self.bar = None

    # ---------------------------------------------------------------- one run

    def run(self) -> DiscoveryResult:
        self._recover()
        self.executor = make_executor(self.config)
        self.proposals.start()
        self.bar = outputs.progress_bar(self.archive, self.config)
        try:
            while True:
                self._absorb_proposals()
                self._check_stop()
                self._request_proposals()
                self._dispatch()
                for cid, data in self.executor.poll(POLL_S if self.executor.in_flight() else 0):
                    self._record(cid, data)
                owed = self.queued and not self._wall_stopped()  # other stops still evaluate the queue
                ending = self.stop_reason or self.archive.count() >= self.config.budget
                if ending and not (self.outstanding or self.executor.in_flight() or owed):
                    break
                if not self.executor.in_flight():
                    time.sleep(0.02 if self.outstanding else 0)
        finally:
            self.proposals.requests.put(None)
            self.executor.shutdown()
            if self.bar is not None:
                self.bar.close()
        self._stop(f"budget of {self.config.budget} candidates reached")  # unless stopped earlier
        self.archive.set_run("stop_reason", self.stop_reason)
        outputs.write_all(self.archive, self.out, self.config, self.stop_reason)
        if not (self.harness_failed or self.archive.pending()):  # a wall-time stop owes evaluations
            conclude(self.archive, self.out, self.config, self.stop_reason)
        best = self.archive.best()
        final = (self.archive.get_run("finalize") or {}).get("summary") or {}
        return DiscoveryResult(self.out, self.stop_reason, self.archive.count(),
                               self.archive.status_counts(), best.id if best else None,
                               best.fitness if best else None, self.proposer_failed, self.harness_failed,
                               final.get("best"))

    # ---------------------------------------------------------------- stages

    def _recover(self) -> None:
        """Collect results finished before a kill; queue the pending rows that have none."""
        for c in self.archive.pending():
            result_file = self.out / "results" / f"{c.id:05d}.json"
            if result_file.exists():
                self._record(c.id, json.loads(result_file.read_text()))
            else:
                self.queued.append(c.id)
        outputs.write_jsonl(self.archive, self.out)

    def _absorb_proposals(self) -> None:
        while True:
            try:
                reply = self.proposals.replies.get_nowait()
            except queue.Empty:
                return
            self.outstanding -= 1
            if isinstance(reply, Exception):
                self.proposer_failed = True
                self._stop(f"proposer failed: {type(reply).__name__}: {reply}")
                continue
            self._admit(reply)

    def _admit(self, p: Proposal) -> None:
        a = self.archive
        common = dict(parent_ids=p.parent_ids, proposer=self.config.proposer, name=p.name, code=p.code,
                      sha256=sha256_bytes(p.code.encode()), meta=p.meta, cost=p.cost)
        if p.error is not None:  # the proposer got no code out of its reply
            a.add(**common, code_key=code_key(p.code + p.error), status="invalid", error=p.error)
            return self._admitted(counted=True)
        key = code_key(p.code)
        twin = a.find_key(key)
        if twin is not None:
            a.add(**common, code_key=key, status=DUPLICATE, duplicate_of=twin,
                  error=f"near-duplicate of candidate #{twin}; not evaluated")
            self.duplicates_in_a_row += 1
            return self._admitted(counted=False)
        try:
            parse_loss_source(p.code, f"candidate {p.name}")
        except LossFileError as e:
            a.add(**common, code_key=key, status="invalid", error=str(e))
            return self._admitted(counted=True)
        self.queued.append(a.add(**common, code_key=key))
        self._admitted(counted=True)

    def _admitted(self, counted: bool) -> None:
        if counted:
            self.duplicates_in_a_row = 0
        outputs.write_jsonl(self.archive, self.out)
        outputs.update_bar(self.bar, self.archive)

    def _check_stop(self) -> None:
        c = self.config
        # The budget is not a stop here: a pending candidate may still turn out a duplicate
        # (behavioural dedupe), which frees its slot; run() ends when the budget is full and settled.
        if c.max_wall_s is not None and time.monotonic() - self.t0 >= c.max_wall_s:
            self._stop(f"wall-time limit of {c.max_wall_s:g} s reached")
        elif c.max_cost is not None and self.archive.total_cost() >= c.max_cost:
            self._stop(f"API cost limit of ${c.max_cost:g} reached")
        elif self.duplicates_in_a_row >= c.max_consecutive_duplicates:
            self._stop(f"the proposer repeated earlier candidates {self.duplicates_in_a_row} times in a row")

    def _stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason

    def _request_proposals(self) -> None:
        if self.stop_reason:
            return
        room = self.config.budget - self.archive.count() - self.outstanding
        want = self.config.parallel + LOOKAHEAD - len(self.queued) - self.executor.in_flight() - self.outstanding
        for _ in range(max(0, min(room, want))):
            self.proposals.requests.put("propose")
            self.outstanding += 1

    def _dispatch(self) -> None:
        # A wall-time stop leaves queued candidates pending: --resume evaluates them.
        while self.queued and self.executor.in_flight() < self.config.parallel and not self._wall_stopped():
            cid = self.queued.popleft()
            self.executor.submit(job_for(self.out, cid, self.archive.get(cid).code))

    def _add_wall(self) -> None:
        """Search wall time summed over invocations (kept in the archive; a kill loses only the time
        since the last recorded evaluation)."""
        now = time.monotonic()
        self.archive.set_run("search_wall_s",
                             float(self.archive.get_run("search_wall_s", 0.0)) + now - self._wall_mark)
        self._wall_mark = now

    def _wall_stopped(self) -> bool:
        return bool(self.stop_reason and self.stop_reason.startswith("wall-time"))

    def _record(self, cid: int, data: dict) -> None:
        result = EvalResult.from_dict(data)
        if result.status == DUPLICATE:
            self.archive.mark_duplicate(cid, duplicate_of=result.duplicate_of, error=result.error,
                                        behaviour_key=result.behaviour_key)
            outputs.write_jsonl(self.archive, self.out)
            return
        self._add_wall()
        if result.status == SCREENED:
            self.archive.mark_screened(cid, error=result.error, metrics=result.metrics, eval_seconds=result.seconds,
                                       behaviour_key=result.behaviour_key)
            self.errors_in_a_row = 0
            outputs.write_jsonl(self.archive, self.out)
            outputs.update_bar(self.bar, self.archive)
            return
        self.archive.complete(cid, status=result.status, error=result.error, fitness=result.fitness,
                              metrics=result.metrics, eval_seconds=result.seconds,
                              behaviour_key=result.behaviour_key)
        outputs.write_jsonl(self.archive, self.out)
        outputs.update_bar(self.bar, self.archive)
        self.errors_in_a_row = self.errors_in_a_row + 1 if result.status == "error" else 0
        if self.errors_in_a_row >= self.config.max_consecutive_errors:
            self.harness_failed = True
            self._stop(f"{self.errors_in_a_row} evaluations in a row failed in the harness (status error), "
                       f"last: {(result.error or '').strip().splitlines()[-1][:300]}")


def conclude(archive: Archive, out: Path, config: DiscoveryConfig, stop_reason: str | None) -> None:
    """The winner's-curse correction, then the transfer check when asked (each once per run)."""
    from harness.discovery.finalize import finalize
    from harness.discovery.transfer import transfer

    if config.finalize.top_k == 0 or archive.best() is None:
        return
    final = finalize(archive, out, config)
    outputs.write_all(archive, out, config, stop_reason)
    if transfer(archive, out, config, final) is not None:
        outputs.write_all(archive, out, config, stop_reason)


def finalize_run(out_dir: str | Path, **finalize_changes) -> Archive:
    """``harness discover --finalize DIR``: conclude a stopped run without searching further.

    ``finalize_changes`` replace FinalizeSettings fields (e.g. ``transfer_suite``); the re-evaluation
    itself happens once per run, whatever they say."""
    import dataclasses

    from harness.discovery.config import config_from_dict

    path = Path(out_dir) / "archive.sqlite"
    if not path.exists():
        raise DiscoveryError(f"--finalize: no archive at {path}")
    archive = Archive(path)
    try:
        saved = config_from_dict(archive.get_run("config"), out_dir=str(out_dir), progress=False)
        config = dataclasses.replace(saved, finalize=dataclasses.replace(saved.finalize, **finalize_changes))
        if archive.pending():
            raise DiscoveryError(f"--finalize: {len(archive.pending())} candidate(s) still pending; "
                                 f"finish the search first with --resume --out {out_dir}")
        if archive.best() is None:
            raise DiscoveryError("--finalize: no candidate has a fitness; nothing to re-evaluate")
        prepare_transfer_suite(config)
        archive.set_run("config", config.as_dict())
        stop_reason = archive.get_run("stop_reason")
        conclude(archive, Path(out_dir), dataclasses.replace(config, finalize=dataclasses.replace(
            config.finalize, top_k=max(1, config.finalize.top_k))), stop_reason)
        outputs.write_all(archive, Path(out_dir), config, stop_reason)
    except BaseException:
        archive.close()
        raise
    return archive


def prepare_transfer_suite(config: DiscoveryConfig) -> None:
    """Build the held-out suite of ``--transfer-suite`` before any search: a suite that cannot be
    prepared here (a model package missing, a GPU suite on a CPU host) fails now with
    DiscoveryError naming the fix, not after hours of search. Its build is cached for the transfer."""
    suite_name = config.finalize.transfer_suite
    if suite_name is None or config.eval.evaluator == "fake":
        return

    try:
        suite = get_suite(suite_name).with_overrides(dict(config.finalize.transfer_overrides))
        problem = suite.usage_error()
        if problem is None:
            suite.build(progress=config.progress)
    except RuntimeError as e:  # the suite's own "cannot be prepared" errors (e.g. ModelUnavailable)
        problem = str(e)
    if problem is not None:
        raise DiscoveryError(f"--transfer-suite {suite_name}: cannot be prepared here: {problem}; fix that "
                             "or leave --transfer-suite out (add it later with --finalize DIR)")


def run_discovery(config: DiscoveryConfig, *, resume: bool = False, proposer: Proposer | None = None) -> DiscoveryResult:
    """Run (or resume) a discovery search; ``proposer`` overrides the registered one (tests)."""
    from harness.discovery.candidate_job import EVALUATORS

    evaluator = EVALUATORS.get(config.eval.evaluator)  # unknown names fail here, not in every worker
    proposer = proposer or make_proposer(config)
    evaluator.prepare(config.eval, config.progress)
    prepare_transfer_suite(config)
    archive = open_archive(config, resume)
    try:
        return Controller(config, archive, proposer).run()
    finally:
        archive.close()
