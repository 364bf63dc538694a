"""Threat: hold host memory outside the limits through a RAM-backed file system (/dev/shm, /dev,
POSIX shared memory, which is a file under /dev/shm). Writes 1 GiB if it can."""


CHUNK = b"\xa5" * (16 << 20)


def _fill(path: str, total: int) -> int:
    """Up to ``total`` bytes in 16 MiB files (one file each, since RLIMIT_FSIZE caps a file)."""
    written = 0
    try:
        for i in range(total // len(CHUNK)):
            with open(f"{path}.{i}", "wb") as f:
                written += f.write(CHUNK)
    except OSError:
        pass
    return written


def loss(policy_chosen_logps, policy_rejected_logps):
    held = {}
    for path in ("/dev/shm/hoard", "/dev/hoard", "/dev/shm/.psm_hoard", "/dev/pts/hoard", "/dev/mqueue/hoard"):
        held[path] = _fill(path, 1 << 30)
    leaked = {p: n for p, n in held.items() if n > 0}
    if leaked:
        raise RuntimeError(f"LEAK: held {leaked} bytes in RAM-backed files outside the scratch space")
    raise RuntimeError("writes refused: /dev and /dev/shm hold nothing")
