"""Verification of a result record before it may enter a board.

A board only ranks records that can be trusted to be reproducible from themselves: the record's
suite config must hash to its stated config hash and to the board suite's current hash, and its
embedded loss source must hash to its stated loss sha256. Anything else is refused, naming the field.
"""

from __future__ import annotations

from harness.hyperparams import entry_key
from harness.leaderboard.fields import FieldError, check_fields
from harness.leaderboard.proof import ProofError, check_aggregates
from harness.lossfile import LossFileError, decode_source, sha256_bytes
from harness.records import RecordError, config_hash, validate_record
from harness.suites import get_suite


class VerificationError(ValueError):
    """A record may not enter the board; the message names the problem and the fix."""


def verify_record(record: dict, suite: str, expected_hash: str) -> dict:
    """Return ``record`` if it may enter board ``suite`` (config hash ``expected_hash``), else raise."""
    verify_integrity(record, suite)
    if record["suite"]["config_hash"] != expected_hash:
        raise VerificationError(
            f"record was run with suite {suite!r} config {record['suite']['config_hash']}, but the board's "
            f"suite config is {expected_hash}; re-run it with this harness "
            f"(`harness submit --loss FILE --suite {suite}`)")
    suite_beta = record["suite"]["config"].get("beta")
    if suite_beta is not None and record["beta"] != suite_beta:
        # beta is passed beside the config, so it does not change the config hash; boards compare
        # losses at the suite's beta only
        raise VerificationError(f"record was run with beta {record['beta']}, but suite {suite!r} uses beta "
                                f"{suite_beta}; boards compare losses at the suite's beta (re-run without --beta)")
    return record


def verify_foreign(record: dict) -> dict:
    """Checks for a record made elsewhere (``submit --record``): aggregates and a clean source tree."""
    try:
        check_aggregates(record)
    except ProofError as e:
        raise VerificationError(str(e)) from None
    except (TypeError, KeyError, ValueError, IndexError) as e:
        raise VerificationError(f"record data cannot be recomputed ({type(e).__name__}: {e})") from None
    revision = record["provenance"].get("git_revision") or ""
    if revision.endswith("+dirty"):
        raise VerificationError(f"record was made from a modified checkout ({revision}): its code is not a "
                                "revision anyone can re-run; commit the changes and re-run the benchmark")
    return record


def verify_integrity(record: dict, suite: str) -> dict:
    """Checks that need no suite registry: schema, self-consistent hashes, one result per seed."""
    try:
        validate_record(record)
    except RecordError as e:
        raise VerificationError(f"record schema: {e}") from None
    except (TypeError, KeyError, AttributeError) as e:  # a field of the wrong type (a list for an object)
        raise VerificationError(f"record schema: a field has the wrong type ({type(e).__name__}: {e})") from None
    try:
        check_fields(record)
    except FieldError as e:
        raise VerificationError(f"record field: {e}") from None
    if record["kind"] != "bench":
        raise VerificationError(f"record kind is {record['kind']!r}; only `harness bench` records ('bench') enter a board")
    rs = record["suite"]
    if rs["name"] != suite:
        raise VerificationError(f"record is for suite {rs['name']!r}, not {suite!r}; submit it with --suite {rs['name']}")
    actual = config_hash(rs["config"])
    if actual != rs["config_hash"]:
        raise VerificationError(
            f"record's suite.config hashes to {actual}, not its stated suite.config_hash {rs['config_hash']}: "
            "the record was edited after the run; re-run the benchmark")
    loss = record["loss"]
    try:  # the one text of a loss (harness.lossfile.decode_source): what is shown is what was hashed and run
        data = loss["source"].encode("utf-8")
        decode_source(data, "loss.source")
    except (UnicodeEncodeError, LossFileError) as e:
        raise VerificationError(f"record's loss source is not one UTF-8 text ({e}); re-run the benchmark from "
                                "a UTF-8 loss file") from None
    source_hash = sha256_bytes(data)
    if source_hash != loss["sha256"]:
        raise VerificationError(
            f"record's loss.sha256 {loss['sha256'][:16]}… does not match its embedded source "
            f"({source_hash[:16]}…): the source or hash was altered; re-run the benchmark")
    if record.get("thorough"):
        raise VerificationError(
            "record is a thorough run (verdict pooled over a learning-rate grid); boards rank every loss at the "
            "suite's one learning rate; re-run it without --thorough / --lr-grid")
    if not record["seeds"]:
        raise VerificationError("record lists no seeds; a board entry needs at least one seeded run")
    if record["status"] == "ok" and len(record["per_seed"]) != len(record["seeds"]):
        raise VerificationError(
            f"record has {len(record['seeds'])} seeds but {len(record['per_seed'])} per_seed results; "
            "an ok record carries one result per seed")
    return record


def record_filename(record: dict) -> str:
    """Board file name of a record: same loss bytes + same suite config = same file (idempotent)."""
    return f"{entry_key(record)}-{record['suite']['config_hash']}.json"


def current_suite_hash(suite: str) -> str:
    """The config hash of the registered suite ``suite`` (what a board of that suite accepts)."""
    return get_suite(suite).config_hash()
