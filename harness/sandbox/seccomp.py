"""A seccomp-BPF filter, built with ctypes, that the worker installs on itself before running a loss.

Blocked system calls (exec, fork, sockets, namespaces, System V / POSIX IPC, memfd, ...) kill the whole worker (SECCOMP_RET_KILL_PROCESS): the harness sees SIGSYS and
reports ``sandbox_violation``, so a loss cannot catch the refusal and carry on as if nothing
happened. ``clone`` is allowed only with CLONE_THREAD (torch's thread pools keep working) and
``clone3`` answers ENOSYS so that glibc falls back to the checked ``clone``. The filter is synced to
every thread already running (SECCOMP_FILTER_FLAG_TSYNC).

Why seccomp and not only rlimits: RLIMIT_NPROC is not enforced when the jail is started by root, so
fork bombs are stopped here; exec and socket creation have no rlimit at all.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import platform
import struct

# BPF opcodes (linux/filter.h) and seccomp constants (linux/seccomp.h, linux/audit.h).
LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
RET_KILL_PROCESS, RET_ERRNO, RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC = 1, 1
PR_SET_NO_NEW_PRIVS = 38
CLONE_THREAD = 0x00010000
OFF_NR, OFF_ARCH, OFF_ARG0 = 0, 4, 16  # struct seccomp_data; arg0's low 32 bits (little-endian)

_COMMON = (
    "execve execveat socket socketpair ptrace process_vm_readv process_vm_writev mount umount2 "
    "pivot_root chroot unshare setns keyctl add_key request_key bpf perf_event_open userfaultfd "
    "io_uring_setup io_uring_enter io_uring_register kexec_load init_module finit_module "
    "delete_module personality open_by_handle_at name_to_handle_at pidfd_getfd fsopen fsconfig "
    "fsmount move_mount open_tree mount_setattr swapon swapoff reboot acct "
    # memory outside RLIMIT_AS: System V and POSIX IPC objects outlive their process, memfd pages
    # live in the kernel (the IPC namespace and the memory cgroup are the second wall)
    "shmget shmat shmctl msgget msgsnd msgrcv msgctl semget semop semtimedop semctl "
    "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr memfd_create memfd_secret"
).split()
# Per architecture: (audit arch, first number of a foreign ABI or None, "name:number ...").
_TABLES_RAW = {
    "x86_64": (
        0xC000003E,
        0x40000000,
        "execve:59 execveat:322 fork:57 vfork:58 clone:56 clone3:435 socket:41 socketpair:53 ptrace:101 "
        "process_vm_readv:310 process_vm_writev:311 mount:165 umount2:166 pivot_root:155 chroot:161 "
        "unshare:272 setns:308 keyctl:250 add_key:248 request_key:249 bpf:321 perf_event_open:298 "
        "userfaultfd:323 io_uring_setup:425 io_uring_enter:426 io_uring_register:427 kexec_load:246 "
        "init_module:175 finit_module:313 delete_module:176 personality:135 open_by_handle_at:304 "
        "name_to_handle_at:303 pidfd_getfd:438 fsopen:430 fsconfig:431 fsmount:432 move_mount:429 "
        "open_tree:428 mount_setattr:442 swapon:167 swapoff:168 reboot:169 acct:163 seccomp:317 "
        "shmget:29 shmat:30 shmctl:31 msgget:68 msgsnd:69 msgrcv:70 msgctl:71 semget:64 semop:65 "
        "semtimedop:220 semctl:66 mq_open:240 mq_unlink:241 mq_timedsend:242 mq_timedreceive:243 "
        "mq_notify:244 mq_getsetattr:245 memfd_create:319 memfd_secret:447",
    ),
    "aarch64": (  # the generic table: no fork/vfork system calls exist
        0xC00000B7,
        None,
        "execve:221 execveat:281 clone:220 clone3:435 socket:198 socketpair:199 ptrace:117 "
        "process_vm_readv:270 process_vm_writev:271 mount:40 umount2:39 pivot_root:41 chroot:51 "
        "unshare:97 setns:268 keyctl:219 add_key:217 request_key:218 bpf:280 perf_event_open:241 "
        "userfaultfd:282 io_uring_setup:425 io_uring_enter:426 io_uring_register:427 kexec_load:104 "
        "init_module:105 finit_module:273 delete_module:106 personality:92 open_by_handle_at:265 "
        "name_to_handle_at:264 pidfd_getfd:438 fsopen:430 fsconfig:431 fsmount:432 move_mount:429 "
        "open_tree:428 mount_setattr:442 swapon:224 swapoff:225 reboot:142 acct:89 seccomp:277 "
        "shmget:194 shmat:196 shmctl:195 msgget:186 msgsnd:189 msgrcv:188 msgctl:187 semget:190 "
        "semop:193 semtimedop:192 semctl:191 mq_open:180 mq_unlink:181 mq_timedsend:182 "
        "mq_timedreceive:183 mq_notify:184 mq_getsetattr:185 memfd_create:279 memfd_secret:447",
    ),
}
_TABLES = {
    machine: (arch, foreign, {n: int(k) for n, k in (pair.split(":") for pair in table.split())})
    for machine, (arch, foreign, table) in _TABLES_RAW.items()
}


class SeccompUnavailable(RuntimeError):
    """This platform cannot install the filter; the jail refuses to run rather than run without it."""


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def build_program(machine: str | None = None) -> bytes:
    """The BPF program for ``machine`` (default: this one) as packed ``struct sock_filter`` entries."""
    machine = machine or platform.machine()
    if machine not in _TABLES:
        raise SeccompUnavailable(
            f"no seccomp syscall table for {machine}; the jail supports {', '.join(_TABLES)}"
        )
    arch, foreign_abi, nr = _TABLES[machine]
    kill = RET_KILL_PROCESS
    prog = [
        _insn(LD_W_ABS, 0, 0, OFF_ARCH),
        _insn(JEQ_K, 1, 0, arch),
        _insn(RET_K, 0, 0, kill),
        _insn(LD_W_ABS, 0, 0, OFF_NR),
    ]
    if foreign_abi is not None:  # x32 system calls would bypass the table below
        prog += [_insn(JGE_K, 0, 1, foreign_abi), _insn(RET_K, 0, 0, kill)]
    for name in [*_COMMON, "fork", "vfork"]:
        if name in nr:
            prog += [_insn(JEQ_K, 0, 1, nr[name]), _insn(RET_K, 0, 0, kill)]
    prog += [_insn(JEQ_K, 0, 1, nr["clone3"]), _insn(RET_K, 0, 0, RET_ERRNO | errno.ENOSYS)]
    # clone: threads only. A holds arg0 (flags) afterwards, so this block must come last.
    prog += [
        _insn(JEQ_K, 0, 4, nr["clone"]),
        _insn(LD_W_ABS, 0, 0, OFF_ARG0),
        _insn(JSET_K, 0, 1, CLONE_THREAD),
        _insn(RET_K, 0, 0, RET_ALLOW),
        _insn(RET_K, 0, 0, kill),
    ]
    prog.append(_insn(RET_K, 0, 0, RET_ALLOW))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install() -> None:
    """Install the filter on every thread of this process; irreversible. Raises SeccompUnavailable."""
    program = build_program()
    machine = platform.machine()
    _, _, nr = _TABLES[machine]
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SeccompUnavailable(f"prctl(NO_NEW_PRIVS) failed: {errno.errorcode.get(ctypes.get_errno())}")
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc.syscall.restype = ctypes.c_long
    rc = libc.syscall(
        ctypes.c_long(nr["seccomp"]),
        ctypes.c_long(SECCOMP_SET_MODE_FILTER),
        ctypes.c_long(SECCOMP_FILTER_FLAG_TSYNC),
        ctypes.byref(fprog),
    )
    if rc != 0:
        raise SeccompUnavailable(
            f"seccomp(SET_MODE_FILTER) failed: rc={rc} "
            f"errno={errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno())}"
        )


def mode() -> int:
    """The Seccomp field of /proc/self/status (2 = filter installed)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Seccomp:"):
                return int(line.split()[1])
    return -1
