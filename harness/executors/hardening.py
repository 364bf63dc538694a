"""The hardened ``docker run`` of one job container, and the seccomp allowlist of jail jobs.

Every job container gets no network, a read-only root, a private /tmp, all capabilities dropped, no new
privileges, a non-root user, memory / process limits, the model cache and suite data mounted READ-ONLY,
the loss file and spec read-only, and only its output folder writable. No environment from the host
passes in (no API keys: judges run in the controller, afterwards).

Untrusted loss code runs in the harness's jail (bubblewrap) INSIDE the container (job spec
``"sandbox": "jail"``), so that it cannot touch the trainer, the output folder or the result. Docker's
default seccomp profile forbids the namespace and mount calls bubblewrap needs and Docker masks /proc
paths the jail's own /proc mount needs, so a jail job runs with :func:`jail_seccomp_profile` (Docker's
own default ALLOWLIST for a container without capabilities, plus exactly the calls bubblewrap makes to
build the jail: ``JAIL_EXTRA_SYSCALLS``; the jail's own seccomp filter then denies them to the loss)
and ``systempaths=unconfined`` (the loss sees only its jail's /proc).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

JOB_UID = 10001  # the image's non-root user
LABEL = "io.harness.job"  # every job container carries it; its value is the controller's owner id

# Docker's default profile (moby profiles/seccomp/default.json): the calls it allows unconditionally.
# Rules that depend on a capability are left out (job containers drop every capability), as are other
# architectures' calls; the argument-filtered rules follow in DOCKER_ARG_RULES.
DOCKER_DEFAULT_ALLOWED = (
    "accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime "
    "clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep "
    "clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create "
    "epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 "
    "execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir "
    "fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork "
    "fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex "
    "futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 "
    "getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority "
    "getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid "
    "getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch "
    "inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents "
    "io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register "
    "io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 "
    "lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 "
    "madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap "
    "mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend "
    "mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap "
    "name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal "
    "pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 "
    "prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink "
    "readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename "
    "renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo "
    "rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity "
    "sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler "
    "sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam "
    "sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send "
    "sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 "
    "setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid "
    "setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area "
    "set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd "
    "signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx symlink "
    "symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun "
    "timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime "
    "timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask "
    "uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write "
    "writev arch_prctl modify_ldt"
).split()
AF_VSOCK = 40
DOCKER_ARG_RULES = (
    # sockets of every family but vsock; the personality values Docker allows
    {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE"}]},
    *({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]}
      for v in (0, 8, 131072, 131080, 4294967295)),
    # without CAP_SYS_ADMIN Docker answers clone3 with ENOSYS, so that libc falls back to clone
    {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
)
# What bubblewrap needs on top, to build the loss's jail: new namespaces (clone with CLONE_NEW* flags,
# unshare), its private mount tree (mount, umount2, pivot_root) and the jail's
# hostname (sethostname, in its own UTS namespace). Measured
# in the docker tier (tests/test_container.py): without any one of them the jail does not start.
JAIL_EXTRA_SYSCALLS = ("clone", "unshare", "mount", "umount2", "pivot_root", "sethostname")
ERRNO_EPERM = 1


def jail_seccomp_profile(extra: tuple[str, ...] = JAIL_EXTRA_SYSCALLS) -> dict:
    """The container's seccomp profile for a jail job: deny by default (EPERM), allow Docker's list + ``extra``."""
    allowed = sorted(set(DOCKER_DEFAULT_ALLOWED) | set(extra))
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": ERRNO_EPERM,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
            "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"},
                         *(r for r in DOCKER_ARG_RULES if not set(r["names"]) & set(extra))]}


def write_jail_seccomp_profile(folder: Path, extra: tuple[str, ...] = JAIL_EXTRA_SYSCALLS) -> Path:
    """Write :func:`jail_seccomp_profile` into ``folder``; returns its path."""
    path = Path(folder) / "seccomp-jail.json"
    path.write_text(json.dumps(jail_seccomp_profile(extra), indent=1) + "\n")
    return path


@dataclass(frozen=True)
class JobLimits:
    memory: str = "96g"
    shm: str = "16g"  # NCCL and dataloaders need more than docker's 64 MB default
    pids: int = 4096
    cpus: float = 16
    gpus: str = ""  # docker --gpus value, e.g. "device=0" or "all"; "" = CPU job
    runtime: str = ""  # e.g. "runsc" (gVisor, with nvproxy for GPUs)


def docker_run_args(*, image: str, spec: Path, loss: Path, out: Path, models: Path | None, data: Path | None,
                    limits: JobLimits, name: str = "", jail_seccomp: Path | None = None,
                    labels: dict[str, str] | None = None, remove: bool = True) -> list[str]:
    """The ``docker run`` command line. ``jail_seccomp``: the profile file, for a job whose loss runs in the
    jail. ``remove=False`` keeps the stopped container so that its end (OOM kill, exit code) can be read."""
    args = ["docker", "run", *(["--rm"] if remove else []), "--pull", "never", "--network", "none", "--read-only",
            "--tmpfs", "/tmp:rw,nosuid,nodev,size=8g", "--pids-limit", str(limits.pids),
            "--memory", limits.memory, "--memory-swap", limits.memory, "--cpus", f"{limits.cpus:g}",
            "--shm-size", limits.shm, "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--user", f"{JOB_UID}:{JOB_UID}", "--ulimit", "core=0",
            "--env", "HF_HUB_OFFLINE=1", "--env", "HF_HOME=/models",
            # the built suite cache when mounted (read-only); else built inside, on the private tmpfs
            "--env", f"HARNESS_HOME={'/data' if data is not None else '/tmp/harness'}",
            "--env", "HOME=/tmp",  # vLLM / triton / torch caches go to the private tmpfs
            "--mount", f"type=bind,source={spec.resolve()},target=/job/spec.json,readonly",
            "--mount", f"type=bind,source={loss.resolve()},target=/job/loss.py,readonly",
            "--mount", f"type=bind,source={out.resolve()},target=/out"]
    if models is not None:
        args += ["--mount", f"type=bind,source={models.resolve()},target=/models,readonly"]
    if data is not None:
        args += ["--mount", f"type=bind,source={data.resolve()},target=/data,readonly"]
    if jail_seccomp is not None:
        args += ["--security-opt", f"seccomp={Path(jail_seccomp).resolve()}", "--security-opt", "systempaths=unconfined"]
    if limits.gpus:
        args += ["--gpus", limits.gpus]
    if limits.runtime:
        args += ["--runtime", limits.runtime]
    if name:
        args += ["--name", name]
    for key, value in (labels or {}).items():
        args += ["--label", f"{key}={value}"]
    return [*args, image, "/job/spec.json"]


def container_spec(spec: dict) -> dict:
    """The spec as the container sees it: fixed in-container paths for the loss and the output."""
    return {**spec, "loss": "/job/loss.py", "output": "/out"}
