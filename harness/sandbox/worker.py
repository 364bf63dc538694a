"""The jailed loss worker: ``python -m harness.sandbox.worker LOSS_FILE LIMITS_JSON``.

Runs inside the jail (or a container). Order matters: set rlimits, move fd 1 aside so the loss's
prints land on stderr instead of the protocol, import torch, parse the loss file, lock down with
seccomp, and only THEN execute the loss file and serve calls. Everything before the lockdown is the
harness's own code; everything after may be hostile, which is why the trusted side re-checks every
reply (harness.sandbox.wire, harness.sandbox.client) instead of believing this process.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import traceback

EXIT_PROTOCOL = 3  # the harness sent something this worker does not understand
EXIT_NO_SECCOMP = 4  # the kernel refused the seccomp filter: the loss is never executed


def _set_rlimits(limits: dict) -> None:
    for res, key in (
        (resource.RLIMIT_AS, "memory_bytes"),
        (resource.RLIMIT_CPU, "cpu_seconds"),
        (resource.RLIMIT_FSIZE, "file_size_bytes"),
        (resource.RLIMIT_NOFILE, "open_files"),
        (resource.RLIMIT_NPROC, "processes"),
    ):
        value = int(limits[key])
        # CPU: the soft limit sends SIGXCPU (reported as timeout); the hard one, 1 s later, SIGKILL.
        resource.setrlimit(res, (value, value + 1 if res == resource.RLIMIT_CPU else value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _read_exact_from(fd: int):
    def read_exact(n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            chunk = os.read(fd, n - got)
            if not chunk:
                raise EOFError("the harness closed the request pipe")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    return read_exact


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _error_status(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "oom"
    text = str(exc).lower()
    if isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "not enough memory" in text):
        return "oom"
    return "invalid"


def _error_frame(wire, exc: BaseException) -> bytes:
    from harness.session import LossCallError

    # only the harness's own LossCallError carries a status and the real message; any other exception
    # (one a loss defines may have attributes of those names) is classified here from its type and text
    known = isinstance(exc, LossCallError)
    status = (exc.status if known else None) or _error_status(exc)
    if status not in ("invalid", "oom"):
        status = "invalid"
    text = (exc.message if known else None) or "".join(traceback.format_exception(exc)[-12:])
    return wire.encode_frame({"kind": "error", "status": status, "message": text[-wire.MAX_MESSAGE_CHARS :]})


def _reply(wire, reply, batch: int, want: list[str]) -> bytes:  # want: differentiable inputs, in order
    losses = reply.losses
    if losses.dim() != 1 or losses.shape[0] != batch:
        raise ValueError(
            f"the loss returned shape {tuple(losses.shape)}; expected per-example losses of shape ({batch},)"
        )
    if wire.DTYPE_NAMES.get(losses.dtype) not in wire.FLOAT_DTYPES:
        losses = losses.float()  # e.g. float16: widening is exact
    tensors = [("losses", losses)] + [(f"grad:{n}", reply.grads[n]) for n in want]
    return wire.encode_frame({"kind": "reply"}, tensors)  # no timing: the trusted side measures it


def serve(loss, in_fd: int, out_fd: int, max_batch: int) -> None:
    from harness.sandbox import wire
    from harness.session import compute_loss_and_grads
    from harness.vocabulary import DIFFERENTIABLE

    read_exact = _read_exact_from(in_fd)
    while True:
        try:
            header, tensors = wire.read_frame(read_exact, max_batch)
        except EOFError:
            return
        if header.get("kind") == "close":
            return
        if header.get("kind") != "call":
            sys.exit(EXIT_PROTOCOL)
        try:
            grad = bool(header["grad"])
            batch = next(iter(tensors.values())).shape[0]
            want = [n for n in DIFFERENTIABLE if n in loss.params] if grad else []
            # hyper-parameter values were checked against their declared ranges on the trusted side
            reply = compute_loss_and_grads(loss, tensors, float(header["beta"]), grad, header.get("hyper"))
            frame = _reply(wire, reply, batch, want)
        except BaseException as e:  # noqa: BLE001 - any failure of the loss is reported, never fatal
            if isinstance(e, SystemExit | KeyboardInterrupt):
                raise
            frame = _error_frame(wire, e)
        _write_all(out_fd, frame)


def main(argv: list[str]) -> None:
    loss_path, limits = argv[0], json.loads(argv[1])
    _set_rlimits(limits)
    out_fd = os.dup(1)
    os.dup2(2, 1)  # the loss's prints go to stderr (capped by the harness), never into the protocol
    sys.stdout = sys.stderr
    import torch

    from harness.lossfile import load_loss, parse_loss_source, read_loss_file
    from harness.sandbox import seccomp, wire

    torch.set_num_threads(int(limits["threads"]))
    try:
        _, _, source = read_loss_file(loss_path)
        parse_loss_source(source, loss_path)
    except Exception as e:  # noqa: BLE001 - the contract error is the answer
        _write_all(out_fd, _error_frame(wire, e))
        return
    try:
        seccomp.install()
    except seccomp.SeccompUnavailable as e:  # never run a loss without its filter
        print(f"harness worker: refusing to load the loss: {e}", file=sys.stderr, flush=True)
        sys.exit(EXIT_NO_SECCOMP)
    try:
        loss = load_loss(loss_path)  # the loss file's top level runs here, already locked down
    except BaseException as e:  # noqa: BLE001
        if isinstance(e, SystemExit | KeyboardInterrupt):
            raise
        _write_all(out_fd, _error_frame(wire, e))
        return
    hello = {
        "kind": "hello",
        "name": loss.name,
        "sha256": loss.sha256,
        "params": list(loss.params),
        "seccomp": seccomp.mode(),
    }
    _write_all(out_fd, wire.encode_frame(hello))
    serve(loss, 0, out_fd, int(limits["max_batch"]))
    os._exit(0)  # nothing to flush; skipping torch's interpreter teardown makes closing instant


if __name__ == "__main__":
    main(sys.argv[1:])
