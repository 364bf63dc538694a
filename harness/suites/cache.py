"""On-disk cache of suite artifacts: built into a temporary folder, sealed by a manifest written LAST.

A cache folder is valid only when its ``manifest.json`` exists and every file it lists has the listed
SHA-256. A partial build (killed before the manifest) or a corrupted file is detected by
``verify`` and the folder is rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from harness.hashing import config_hash
from harness.paths import cache_dir
from harness.suites.base import SuiteDefaults, default_seed_list, shorter_training

MANIFEST = "manifest.json"


class CacheError(RuntimeError):
    """A cache folder is missing, partial or corrupted; the message names the file."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def seal(folder: Path) -> None:
    """Write the manifest of every file under ``folder`` (the last write of a build)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = {str(p.relative_to(folder)): file_sha256(p) for p in files}
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"files": manifest}, indent=1, sort_keys=True))
    os.replace(tmp, folder / MANIFEST)


def verify(folder: Path) -> None:
    """Raise CacheError unless ``folder`` is a complete, uncorrupted cache."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise CacheError(f"{folder}: no {MANIFEST} (never built, or the build was interrupted)")
    try:
        files = json.loads(manifest_path.read_text())["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CacheError(f"{manifest_path}: unreadable manifest ({e})") from None
    for rel, digest in files.items():
        path = folder / rel
        if not path.is_file():
            raise CacheError(f"{path}: listed in the manifest but missing")
        if file_sha256(path) != digest:
            raise CacheError(f"{path}: content does not match the manifest (corrupted)")


class ArtifactMismatch(CacheError):
    """A suite's artifacts differ from the shipped ones that the boards were made with."""


def fingerprint(folder: Path) -> str:
    """sha256 of a sealed folder's manifest (every file's name and sha256): equal fingerprints mean
    bit-identical artifacts."""
    files = json.loads((folder / MANIFEST).read_text())["files"]
    return hashlib.sha256(json.dumps(files, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _differing_files(folder: Path, shipped: Path | None) -> str:
    if shipped is None or not (shipped / MANIFEST).is_file():
        return "the shipped copy is missing, so the differing files cannot be named"
    mine = json.loads((folder / MANIFEST).read_text())["files"]
    theirs = json.loads((shipped / MANIFEST).read_text())["files"]
    names = sorted(n for n in set(mine) | set(theirs) if mine.get(n) != theirs.get(n))
    return "differing files: " + (", ".join(names[:8]) + (" ..." if len(names) > 8 else "") or "none")


def check_fingerprint(folder: Path, expected: str, shipped: Path | None = None) -> None:
    """Raise ArtifactMismatch (naming the differing files and the fix) unless ``folder`` holds exactly
    the artifacts whose fingerprint is ``expected``."""
    got = fingerprint(folder)
    if got != expected:
        raise ArtifactMismatch(
            f"{folder}: these suite artifacts are not the shipped ones the boards were made with "
            f"(fingerprint {got[:16]}, expected {expected[:16]}; {_differing_files(folder, shipped)}). "
            f"Delete the folder ('rm -rf {folder}') and run again: the shipped artifacts are copied in.")


def _install(folder: Path, fill: Callable[[Path], None]) -> None:
    """Fill a sibling temporary folder, seal it, and rename it into place (a concurrent reader never
    sees a half-written cache)."""
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        fill(tmp)
        seal(tmp)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _copy_shipped(shipped: Path) -> Callable[[Path], None]:
    def fill(tmp: Path) -> None:
        verify(shipped)
        shutil.copytree(shipped, tmp, ignore=shutil.ignore_patterns(MANIFEST))

    return fill


def _fresh(build: Callable[[Path], None]) -> Callable[[Path], None]:
    """``build`` into an empty folder it may write to (a shipped copy creates its own)."""
    def fill(tmp: Path) -> None:
        tmp.mkdir()
        build(tmp)

    return fill


def ensure(folder: Path, build: Callable[[Path], None], *, log=None, shipped: Path | None = None,
           expected: str | None = None) -> Path:
    """Return a verified cache ``folder``: as it is when complete, else copied from ``shipped`` (a
    sealed folder in the repository) when there is one, else built with ``build(tmp_folder)``.

    ``expected`` (a ``fingerprint``) pins the artifacts: a folder whose fingerprint differs raises
    ArtifactMismatch instead of being used, so a run never mixes other artifacts with a board's."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if folder.exists():
        try:
            verify(folder)
        except CacheError as e:
            log(f"suite cache unusable, {'copying the shipped artifacts' if shipped else 'rebuilding'}: {e}")
        else:
            if expected is not None:
                check_fingerprint(folder, expected, shipped)
            return folder
    if shipped is not None and (shipped / MANIFEST).is_file():
        _install(folder, _copy_shipped(shipped))
    else:
        _install(folder, _fresh(build))
    verify(folder)
    if expected is not None:
        check_fingerprint(folder, expected, shipped)
    return folder


# torch intra-op threads of every suite build. Part of each build hash (the SFT weights depend on it
# bitwise) but independent of the training threads, so a run with fewer threads per process
# (discovery workers: --set train.threads=1) reuses the one built cache.
BUILD_THREADS = 1  # one thread: degrades gracefully beside other processes (harness.runtime)


class CachedSuite(SuiteDefaults):
    """What every suite with an on-disk artifact cache shares: its config hashes and cache folder.

    ``config_hash`` covers everything that changes results; ``build_hash`` only what changes the
    built artifacts, so that training overrides reuse one cache."""

    name: str
    # A folder of sealed, committed artifact folders ("<family>-<build_hash>/") and their fingerprints
    # (fingerprints.json): a build hash listed there is never rebuilt, only copied and checked.
    shipped_dir: Path | None = None

    def __init__(self, config):
        self.config = config

    def shipped(self) -> tuple[Path | None, str | None]:
        """(shipped folder or None, expected fingerprint or None) for this config's build hash."""
        if self.shipped_dir is None:
            return None, None
        name = f"{self.cache_family}-{self.build_hash()}"
        index = self.shipped_dir / "fingerprints.json"
        expected = json.loads(index.read_text()).get(name) if index.is_file() else None
        folder = self.shipped_dir / name
        return (folder if (folder / MANIFEST).is_file() else None), expected

    def ensure_artifacts(self, build: Callable[[Path], None], *, log=None) -> Path:
        """The verified cache folder: copied from the shipped artifacts when this build hash ships,
        checked against the committed fingerprint, else built here."""
        shipped, expected = self.shipped()
        return ensure(self.cache_folder(), build, log=log, shipped=shipped, expected=expected)

    def artifacts_info(self) -> dict | None:
        """The record's ``suite.artifacts``: {fingerprint, shipped (the build hash has committed
        artifacts and these are they)}, or None before a build."""
        folder = self.cache_folder()
        if not (folder / MANIFEST).is_file():
            return None
        got = fingerprint(folder)
        return {"fingerprint": got, "shipped": got == self.shipped()[1]}

    def config_hash(self) -> str:
        return config_hash(self.config.as_dict())

    def build_hash(self) -> str:
        return config_hash(self.config.build_dict())

    @property
    def cache_family(self) -> str:
        """The cache folder's prefix: variants of one suite (the tiny suite at another beta) share it."""
        return self.name

    def cache_folder(self) -> Path:
        return cache_dir() / f"{self.cache_family}-{self.build_hash()}"

    def with_overrides(self, overrides: dict):
        from harness.suites.overrides import apply_overrides

        return type(self)(apply_overrides(self.config, overrides))

    @property
    def training_threads(self) -> int | None:
        return self.config.train.threads

    def seed_list(self, n: int) -> list[int]:
        return default_seed_list(self.config.seeds, n)

    @property
    def default_seed_count(self) -> int:
        return max(1, len(self.config.seeds))

    def screen_overrides(self, fraction: float) -> dict:
        return shorter_training(self.name, self.config.train.steps, 1, fraction)
