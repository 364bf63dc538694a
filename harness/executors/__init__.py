"""Where jobs run beyond the controller's own processes: hardened containers of the job image.

``hardening``: the ``docker run`` flags and the jail jobs' seccomp allowlist; ``docker``: one job's
container from start to status (timeout, OOM, runtime faults, orphan reaping, image digest, GPU cards);
``bench``: ``harness bench --executor docker``; ``cli``: the shared click options. Discovery's container
and Ray executors live in ``harness.discovery.executor``.
"""
