"""The bench-job entrypoint: run ONE candidate of one suite inside a container and exit with a status.

    python containers/job.py /job/spec.json

The job spec (JSON) names the suite, its config overrides, the loss file (mounted read-only), the
seed, beta, the loss's hyper-parameter values, the sandbox backend for the loss and the output folder
(mounted read-write):

    {"suite": "mt-bench", "loss": "/job/loss.py", "seed": 0, "beta": null, "overrides": {},
     "sandbox": "jail", "trust": false, "output": "/out", "device": "cuda", "gpus": 1, "generator": null,
     "build_only": false, "per_prompt": false, "evaluate": null, "hyperparameters": {"tau": 0.1}}

``per_prompt`` (a bench seed of ``harness bench --executor docker``): the job runs the suite's
``seed_job`` (per-prompt results, answers for a suite judged outside) so that the controller pools
several seeds' containers into the same cross-seed CIs as one local run (``Suite.pool_seed_jobs``). ``evaluate`` (discovery): the job
runs the discovery evaluation instead (``harness check``, then bench, with these
``harness.discovery.config.EvalSettings``); ``result.json`` carries its result under ``"evaluation"``.

``build_only`` builds the suite cache (pairs and the reference model's log-probs, computed once per
suite) and stops: run it once with the data folder writable, then every candidate's job mounts it
read-only and never runs the reference model again.

GPU suites (the paper's) train, save the policy and write answers (``answers.jsonl``); judging happens
outside, where the judge's API keys live. CPU suites whose judge is code (tiny, smol) also judge here.
Everything lands in ``<output>/result.json``. Exit status: 0 the candidate ran, 1 the candidate failed
(invalid loss, timeout, sandbox violation, crash: ``status`` and ``error`` say which), 2 the job itself
could not run (bad spec, unknown suite, no sandbox): fix the job, not the loss.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

SPEC_KEYS = {"suite", "loss", "seed", "beta", "overrides", "sandbox", "trust", "output", "device", "gpus",
             "generator", "build_only",
             "per_prompt", "evaluate", "hyperparameters"}
REQUIRED = ("suite", "loss", "output")
EXIT_OK, EXIT_CANDIDATE, EXIT_JOB = 0, 1, 2


class JobError(RuntimeError):
    """The job cannot run (exit 2)."""


def read_spec(path: str | Path) -> dict:
    try:
        spec = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise JobError(f"cannot read the job spec {path}: {e}") from None
    return read_spec_dict(spec)


def read_spec_dict(spec) -> dict:
    """A parsed job spec, checked and with its defaults filled in; JobError names what is wrong."""
    if not isinstance(spec, dict):
        raise JobError("the job spec must be a JSON object")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise JobError(f"unknown job spec key(s) {sorted(unknown)}; known: {sorted(SPEC_KEYS)}")
    missing = [k for k in REQUIRED if k not in spec and not (k == "loss" and spec.get("build_only"))]
    if missing:
        raise JobError(f"the job spec lacks {missing}")
    return {"seed": 0, "beta": None, "overrides": {}, "sandbox": "jail", "trust": False, "device": "cuda",
            "gpus": 1, "generator": None, "build_only": False, "per_prompt": False, "evaluate": None,
            "hyperparameters": {}, **spec}


def _suite(spec: dict):
    from harness.suites import SUITES

    if spec["suite"] not in SUITES:
        raise JobError(f"unknown suite {spec['suite']!r}; suites: {', '.join(SUITES.names())}")
    overrides = dict(spec["overrides"])
    if spec["generator"]:
        overrides["generator"] = spec["generator"]
    try:
        return SUITES.get(spec["suite"]).with_overrides(overrides)
    except (KeyError, TypeError, ValueError) as e:
        raise JobError(f"bad overrides: {e}") from None


def _open_session(spec: dict):
    from harness.hyperparams import HyperparameterError
    from harness.sandbox import SandboxUnavailable, open_session

    try:
        return open_session(spec["loss"], backend=spec["sandbox"], trust=bool(spec["trust"]),
                            hyperparameters=spec["hyperparameters"])
    except SandboxUnavailable as e:
        raise JobError(f"sandbox {spec['sandbox']!r} unavailable in this container: {e}") from None
    except HyperparameterError as e:  # the controller checked them: a spec that disagrees is the job's fault
        raise JobError(f"bad hyper-parameters in the spec: {e}") from None


def run_candidate(suite, artifacts, session, spec: dict, out: Path) -> dict:
    beta = spec["beta"]
    if suite.judged_outside:  # GPU suites: answers out, judged outside
        return suite.train_and_generate(artifacts, session, seed=spec["seed"], beta=beta, out_dir=out,
                                        device=spec["device"], gpus=spec["gpus"])
    from harness.suites import thawed

    beta = suite.config.beta if beta is None else beta
    result = suite.run_seeds(artifacts, session, [spec["seed"]], beta, progress=False)
    return {"per_seed": thawed(result.per_seed), "metrics": thawed(result.metrics), "judge": thawed(result.judge),
            "timings": thawed(result.timings), "outcomes": thawed(result.outcomes)}


def run_evaluation(spec: dict, out: Path) -> dict:
    """Discovery: check, then bench, the candidate (harness.discovery.candidate_job.run_job); never raises."""
    from harness.discovery.candidate_job import run_job as evaluate
    from harness.discovery.config import EvalSettings

    try:
        settings = EvalSettings(**spec["evaluate"])
    except (TypeError, ValueError) as e:
        raise JobError(f"bad evaluation settings: {e}") from None
    return evaluate(settings, spec["loss"], None, str(out / "runs"))


def run_job(spec: dict) -> tuple[int, dict]:
    from harness.records import provenance
    from harness.session import LossCallError

    out = Path(spec["output"])
    out.mkdir(parents=True, exist_ok=True)
    result = {"spec": spec, "status": "ok", "error": None, "provenance": provenance()}
    t0 = time.perf_counter()
    if spec["evaluate"] is not None:
        result["evaluation"] = run_evaluation(spec, out)
        result.update(status=result["evaluation"]["status"], error=result["evaluation"].get("error"),
                      seconds=time.perf_counter() - t0)
        return (EXIT_OK if result["status"] == "ok" else EXIT_CANDIDATE), result
    suite = _suite(spec)
    result["suite"] = {"name": suite.name, "config_hash": suite.config_hash(), "config": suite.config.as_dict()}
    artifacts = suite.build(progress=False)
    if spec["build_only"]:  # fills the suite cache (reference log-probs once), shared read-only by jobs
        result.update(seconds=time.perf_counter() - t0, cache=str(artifacts.folder))
        return EXIT_OK, result
    if spec["per_prompt"] and spec["beta"] is None:
        raise JobError("a bench seed job (per_prompt) needs its beta in the spec")
    code = EXIT_OK
    try:
        session = _open_session(spec)
    except LossCallError as e:
        session, code = None, EXIT_CANDIDATE
        result.update(status=e.status, error=e.message)
    if session is not None:
        try:
            if spec["per_prompt"]:
                result["candidate"] = suite.seed_job(artifacts, session, spec["seed"], float(spec["beta"]),
                                                     device=spec["device"], gpus=spec["gpus"], work_dir=out)
            else:
                result["candidate"] = run_candidate(suite, artifacts, session, spec, out)
        except LossCallError as e:
            code = EXIT_CANDIDATE
            result.update(status=e.status, error=e.message)
        except (RuntimeError, ValueError, FloatingPointError) as e:  # e.g. NaN weights from a bad loss
            code = EXIT_CANDIDATE
            result.update(status="error", error=f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}")
        finally:
            session.close()
    result["seconds"] = time.perf_counter() - t0
    return code, result


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: job.py SPEC.json", file=sys.stderr)
        return EXIT_JOB
    try:
        spec = read_spec(argv[1])
        code, result = run_job(spec)
    except JobError as e:
        print(f"job error: {e}", file=sys.stderr)
        return EXIT_JOB
    Path(spec["output"], "result.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"job: {result['status']} in {result['seconds']:.1f} s -> {spec['output']}/result.json", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
