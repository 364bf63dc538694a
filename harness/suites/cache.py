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


def ensure(folder: Path, build: Callable[[Path], None], *, log=None) -> Path:
    """Return a verified cache ``folder``, building it with ``build(tmp_folder)`` when needed.

    The build writes into a sibling temporary folder that is sealed and then renamed into place, so
    a concurrent reader never sees a half-written cache.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if folder.exists():
        try:
            verify(folder)
            return folder
        except CacheError as e:
            log(f"suite cache unusable, rebuilding: {e}")
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        build(tmp)
        seal(tmp)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    verify(folder)
    return folder


# torch intra-op threads of every suite build. Part of each build hash (the SFT weights depend on it
# bitwise) but independent of the training threads, so a run with fewer threads per process
# (discovery workers: --set train.threads=1) reuses the one built cache.
BUILD_THREADS = 1  # one thread: degrades gracefully beside other processes (harness.runtime)


class CachedSuite:
    """What every suite with an on-disk artifact cache shares: its config hashes and cache folder.

    ``config_hash`` covers everything that changes results; ``build_hash`` only what changes the
    built artifacts, so that training overrides reuse one cache."""

    name: str

    def __init__(self, config):
        self.config = config

    def config_hash(self) -> str:
        from harness.records import config_hash

        return config_hash(self.config.as_dict())

    def build_hash(self) -> str:
        from harness.records import config_hash

        return config_hash(self.config.build_dict())

    @property
    def cache_family(self) -> str:
        """The cache folder's prefix: variants of one suite (the tiny suite at another beta) share it."""
        return self.name

    def cache_folder(self) -> Path:
        from harness.paths import cache_dir

        return cache_dir() / f"{self.cache_family}-{self.build_hash()}"

    def with_overrides(self, overrides: dict):
        from harness.suites.overrides import apply_overrides

        return type(self)(apply_overrides(self.config, overrides))

    @property
    def training_threads(self) -> int | None:
        return self.config.train.threads

    def seed_list(self, n: int) -> list[int]:
        from harness.suites import default_seed_list

        return default_seed_list(self.config.seeds, n)

    @property
    def default_seed_count(self) -> int:
        return max(1, len(self.config.seeds))

    def screen_overrides(self, fraction: float) -> dict:
        from harness.suites import shorter_training

        return shorter_training(self.name, self.config.train.steps, 1, fraction)
