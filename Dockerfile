# syntax=docker/dockerfile:1.7
# NuNER Service images. Targets (docs/deployment.md):
#   api-cpu (default)  FastAPI + ONNX Runtime on CPU, no torch
#   api-gpu            the same on onnxruntime-gpu with CUDA 12 / cuDNN 9
#   worker             fine-tune worker: torch with CUDA, export, onnxruntime-gpu
# docker build -t nuner-service:api-cpu .
# docker build --target api-gpu -t nuner-service:api-gpu .
# docker build --target worker -t nuner-service:worker .

# ---------------------------------------------------------------- builders --
# the project's sources, copied once and taken by every builder
FROM scratch AS sources
WORKDIR /src
COPY pyproject.toml README.md ./
COPY nuner ./nuner
COPY app ./app
COPY training ./training
COPY export ./export

FROM python:3.11-slim-bookworm AS build-cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=sources /src /src
WORKDIR /src
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install ".[serve-cpu]"

FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 AS cuda-python
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# the runtime user of both CUDA images (api-gpu, worker)
RUN useradd --create-home --uid 10001 nuner \
    && mkdir -p /data /home/nuner/.cache \
    && chown -R 10001:10001 /data /home/nuner/.cache

FROM cuda-python AS build-gpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=sources /src /src
WORKDIR /src
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install ".[serve-gpu]"

FROM cuda-python AS build-worker
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=sources /src /src
WORKDIR /src
# torch first and alone: the CUDA build of the pinned version
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install "torch==2.13.0" \
    && /opt/venv/bin/pip install ".[export,serve-gpu]"

# ---------------------------------------------------------------- runtimes --
FROM cuda-python AS api-gpu
COPY --from=build-gpu /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 \
    NUNER_HOME=/data NUNER_HOST=0.0.0.0 NUNER_PORT=8080 NUNER_DEVICE=cuda \
    NUNER_EMBEDDED_WORKER=false HF_HOME=/home/nuner/.cache/huggingface HF_HUB_OFFLINE=1
USER 10001
WORKDIR /home/nuner
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["nuner", "serve"]

FROM cuda-python AS worker
COPY --from=build-worker /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 \
    NUNER_HOME=/data HF_HOME=/home/nuner/.cache/huggingface HF_HUB_OFFLINE=1 \
    NUNER_WORKER_HEARTBEAT_FILE=/tmp/worker-alive
USER 10001
WORKDIR /home/nuner
# healthy while the worker's database heartbeat keeps touching the file
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python3", "-c", "import os, sys, time; sys.exit(time.time() - os.path.getmtime('/tmp/worker-alive') > 120)"]
CMD ["nuner", "worker"]

FROM python:3.11-slim-bookworm AS api-cpu
COPY --from=build-cpu /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 \
    NUNER_HOME=/data NUNER_HOST=0.0.0.0 NUNER_PORT=8080 \
    NUNER_EMBEDDED_WORKER=false HF_HOME=/home/nuner/.cache/huggingface HF_HUB_OFFLINE=1
RUN useradd --create-home --uid 10001 nuner \
    && mkdir -p /data /home/nuner/.cache \
    && chown -R 10001:10001 /data /home/nuner/.cache
USER 10001
WORKDIR /home/nuner
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["nuner", "serve"]
