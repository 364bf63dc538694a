"""Pytest plugin: a dockerd and a worker image for the docker tier, built without any registry.

``sandbox_docker_image`` (session scope) uses a running dockerd or starts one (root only, with the
gVisor runtime ``runsc`` registered when installed; without cgroups, so under runsc the memory and
process limits are the worker's rlimits and seccomp), then builds the image in two layers:

1. a base root filesystem imported with ``docker import`` from a tarball of this host's interpreter,
   the virtual environment's packages that torch needs, and the shared libraries they link (found
   with ldd); cached by interpreter and torch version;
2. the harness package copied on top (``docker create`` + ``docker cp`` + ``docker commit``); cached
   by a hash of its sources, so a code change is always tested.

Where docker is missing or dockerd cannot start, every docker test is skipped with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import harness

# What the worker imports (torch and its declared dependencies), from the virtual environment.
VENV_PACKAGES = (
    "torch",
    "torchgen",
    "numpy",
    "numpy.libs",
    "typing_extensions.py",
    "sympy",
    "mpmath",
    "networkx",
    "jinja2",
    "markupsafe",
    "filelock",
    "fsspec",
    "dill",
    "tqdm",
    "_distutils_hack",
    "distutils-precedence.pth",
)
BASE_EXCLUDES = (
    "lib/python3*/test",
    "lib/python3*/site-packages",
    "lib/python3*/config-*",
    "include",
    "share",
    "lib/pkgconfig",
    "lib/python3*/idlelib",
    "lib/python3*/tkinter",
    "lib/python3*/ensurepip",
)


def _docker(*args, timeout=600, check=True, **kw):
    r = subprocess.run(["docker", *args], capture_output=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        err = r.stderr.decode(errors="replace") if isinstance(r.stderr, bytes) else r.stderr
        raise RuntimeError(f"docker {' '.join(args[:2])} failed: {err[-800:]}")
    return r


def _daemon_up() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def _all_cpus() -> None:
    """In the child before exec: every CPU the test run was given (tests/conftest.py ALL_CPUS_ENV)."""
    cpus = [int(c) for c in os.environ.get("HARNESS_TEST_ALL_CPUS", "").split(",") if c]
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)


def _start_dockerd(log: Path) -> subprocess.Popen | None:
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        return None
    cmd = ["dockerd"]
    if shutil.which("runsc"):
        # gVisor's own network stack cannot start inside our CI containers; the worker needs no network
        config = log.parent / "daemon.json"
        runsc = {"path": shutil.which("runsc"), "runtimeArgs": ["--network=none", "--ignore-cgroups"]}
        config.write_text(json.dumps({"runtimes": {"runsc": runsc}}))
        cmd += ["--config-file", str(config)]
    # dockerd is shared by the whole machine: it gets every CPU, not the xdist worker's share
    # (tests/conftest.py), or it would refuse the jobs' --cpus 2 ("only 1 CPUs available")
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=_all_cpus)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if _daemon_up():
            return proc
        time.sleep(0.5)
    proc.terminate()
    proc.wait(timeout=30)
    return None


def _shared_libraries(roots: list[Path]) -> set[str]:
    """Every shared library that the given binaries and extension modules link, as real paths and links."""
    objects = [str(p) for root in roots for p in ([root] if root.is_file() else root.rglob("*.so*"))]
    found: set[str] = set()
    for i in range(0, len(objects), 200):
        out = subprocess.run(["ldd", *objects[i : i + 200]], capture_output=True, text=True).stdout
        found.update(re.findall(r"(/\S+\.so[.\d]*) \(0x", out))
    libs = set()
    for lib in found:
        if lib.startswith(sys.base_prefix) or lib.startswith(sys.prefix):
            continue
        real = os.path.realpath(lib)
        libs.update({real, os.path.join(os.path.realpath(os.path.dirname(lib)), os.path.basename(lib))})
    return libs


def _base_members() -> list[str]:
    site = (
        Path(sys.prefix)
        / "lib"
        / f"python{sys.version_info.major}.{sys.version_info.minor}"
        / "site-packages"
    )
    packages = [site / p for p in VENV_PACKAGES if (site / p).exists()]
    packages += list(site.glob("__editable__*harness*")) + [
        Path(sys.prefix) / "pyvenv.cfg",
        Path(sys.prefix) / "bin",
    ]
    libs = _shared_libraries(
        [
            Path(sys.executable).resolve(),
            Path(sys.base_prefix) / "lib",
            site / "torch" / "lib",
            site / "numpy",
        ]
    )
    top_links = [d for d in ("/lib", "/lib64", "/bin", "/sbin") if os.path.islink(d)]
    return [
        str(Path(sys.base_prefix).resolve()),
        *map(str, packages),
        *sorted(libs),
        "/etc/ld.so.cache",
        *top_links,
    ]


def _import_base(tag: str) -> None:
    excludes = [
        f"--exclude={Path(sys.base_prefix).resolve().as_posix().lstrip('/')}/{e}" for e in BASE_EXCLUDES
    ]
    excludes.append("--exclude=__pycache__/*.opt-*.pyc")
    tar = subprocess.Popen(
        ["tar", "-cf", "-", "--warning=no-file-changed", *excludes, *_base_members()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    imported = subprocess.run(
        ["docker", "import", "-", tag], stdin=tar.stdout, capture_output=True, timeout=900
    )
    tar.stdout.close()
    tar_err = tar.stderr.read().decode(errors="replace")
    if tar.wait() not in (0, 1) or imported.returncode != 0:
        raise RuntimeError(
            f"building the base image failed: {tar_err[-500:]} {imported.stderr.decode()[-500:]}"
        )


def _source_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()[:12]


def _build_image() -> str:
    import torch

    key = hashlib.sha256(
        f"{sys.version}|{torch.__version__}|{sys.prefix}|{VENV_PACKAGES}".encode()
    ).hexdigest()
    base = f"harness-sandbox-base:{key[:12]}"
    if _docker("image", "inspect", base, check=False).returncode != 0:
        _import_base(base)
    pkg = Path(harness.__file__).resolve().parent
    # the image holds this interpreter (base) and the package at this checkout's path: another checkout's
    # image with the same sources must not match
    where = hashlib.sha256(f"{base}|{pkg}".encode()).hexdigest()[:8]
    tag = f"harness-sandbox-test:{_source_hash(pkg)}{where}"
    if _docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    stale = (
        _docker("images", "--format", "{{.Repository}}:{{.Tag}}", "harness-sandbox-test")
        .stdout.decode()
        .split()
    )
    for old in stale:  # one image per harness revision would pile up otherwise
        _docker("rmi", old, check=False)
    cid = _docker("create", base, "true").stdout.decode().strip()
    try:
        # a tar stream from / carries the package's parent folders too (a checkout outside the base's
        # paths, e.g. a git worktree, has none in the image; plain `docker cp` would fail)
        tar = subprocess.run(
            ["tar", "-C", "/", "--exclude=__pycache__", "-cf", "-", str(pkg).lstrip("/")],
            capture_output=True, check=True,
        )
        _docker("cp", "-", f"{cid}:/", input=tar.stdout)
        _docker("commit", cid, tag)
    finally:
        _docker("rm", "-f", cid, check=False)
    return tag


def hidden_by_private_tmp() -> str | None:
    """Why the docker tier cannot run from here, or None.

    The test images mirror this host's interpreter, virtual environment and checkout at their own
    paths, and every hardened container mounts a private tmpfs over /tmp: a checkout or venv under
    /tmp would be hidden inside the container. (Production images carry their own interpreter.)"""
    paths = {Path(sys.prefix).absolute(), Path(sys.executable).absolute(), Path(__file__).resolve().parent.parent}
    under = sorted(str(p) for p in paths if Path("/tmp") in p.parents)
    if under:
        return ("docker tier: the test image mirrors this host's interpreter and checkout at "
                f"{', '.join(under)}, under /tmp, where the hardened container mounts its private tmpfs; "
                "run the tests from a checkout outside /tmp")
    return None


@pytest.fixture(scope="session")
def sandbox_docker_image(tmp_path_factory):
    reason = hidden_by_private_tmp()
    if reason:
        pytest.skip(reason)
    if shutil.which("docker") is None:
        pytest.skip(
            "docker tier: the docker CLI is not installed (scripts/setup_test_tiers.sh installs docker.io)"
        )
    started = None
    if not _daemon_up():
        log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
        started = _start_dockerd(log)
        if started is None:
            tail = log.read_text()[-500:] if log.exists() else "(not root, or no dockerd binary)"
            pytest.skip(f"docker tier: dockerd is not running and could not be started: {tail}")
    try:
        yield _build_image()
    finally:
        if started is not None:
            started.terminate()
            started.wait(timeout=60)
