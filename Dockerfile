# The GPU bench-job image: one candidate (train -> generate) per container, run by containers/launch.py
# with the hardened flags (no network, read-only root, non-root user, dropped capabilities) and the
# model cache and suite data mounted read-only. Judges run outside: no API key ever enters this image
# or its containers.
#
#   docker build -t harness-job:latest .
#   python containers/launch.py --image harness-job:latest --spec job.json --loss my_loss.py \
#       --out runs/job1 --models ~/.cache/huggingface --data ~/.cache/harness --gpus device=0
#
# Pins: locks/gpu.txt (vLLM 0.33 is CUDA-only and pins torch 2.14.0 and transformers < 5.21, so the GPU
# environment is resolved apart from the CPU lock; records state the lock they ran under).
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}


ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH HF_HUB_OFFLINE=1 HARNESS_LOSSES_DIR=/opt/harness/losses \
    HARNESS_LOCK=gpu.txt HARNESS_LOCKS_DIR=/opt/harness/locks
# bubblewrap: the loss still runs in the harness's jail inside the job container (launch.py gives jail
# jobs the seccomp profile and /proc setting that bubblewrap needs; tests/test_container.py checks it).
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-dev \
        bubblewrap ca-certificates && rm -rf /var/lib/apt/lists/* && python3 -m venv /opt/venv

# Heavy, rarely changing layer first: exactly locks/gpu.txt (CUDA torch, vLLM, the training stack, with
# hashes; made by scripts/lock.sh), then the harness without dependency resolution.
COPY locks/gpu.txt /tmp/gpu.txt
RUN pip install --require-hashes -r /tmp/gpu.txt

WORKDIR /opt/harness
COPY pyproject.toml README.md ./
COPY harness ./harness
COPY losses ./losses
COPY containers ./containers
COPY locks ./locks
RUN pip install --no-deps . && python -c "import harness.suites, harness.generation, harness.sandbox"

RUN useradd --uid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin harness
USER 10001:10001
ENTRYPOINT ["python", "/opt/harness/containers/job.py"]
