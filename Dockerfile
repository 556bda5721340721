# syntax=docker/dockerfile:1.7
# One image, three roles: `raas serve` (router), `raas worker rules`, `raas worker model`.
#   docker build --target cpu  -t raas:cpu  .   # router, rule workers, CPU model workers
#   docker build --target cuda -t raas:cuda .   # GPU model workers (torch with CUDA from PyPI)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG TORCH_VERSION=2.13.0

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/raas/bin:$PATH
RUN groupadd --system --gid 10001 raas \
    && useradd --system --uid 10001 --gid raas --home-dir /home/raas --create-home raas

FROM base AS build
WORKDIR /src
RUN python -m venv /opt/raas
COPY pyproject.toml README.md ./
COPY reward_service ./reward_service

FROM build AS build-cpu
ARG TORCH_VERSION
# The project itself is installed from source: its verdict-relevant deps are pinned in pyproject.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu "torch==${TORCH_VERSION}" \
    && pip install --no-cache-dir ".[models]"

FROM build AS build-cuda
ARG TORCH_VERSION
# hadolint ignore=DL3013
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" \
    && pip install --no-cache-dir ".[models]"

FROM base AS runtime
# example routes by task type: RAAS_ROUTES=/etc/raas/routes/orsta.yaml (or mount your own)
COPY routes /etc/raas/routes
ENV RAAS_HOST=0.0.0.0 \
    RAAS_PORT=8000 \
    HF_HUB_OFFLINE=1
WORKDIR /home/raas
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ["raas", "healthcheck"]
ENTRYPOINT ["raas"]
CMD ["serve"]

FROM runtime AS cuda
COPY --from=build-cuda /opt/raas /opt/raas

FROM runtime AS cpu
COPY --from=build-cpu /opt/raas /opt/raas
