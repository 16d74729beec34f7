# Earworm: one process, the Discord bot with its recommenders.
#   docker build -t earworm .        (or: docker compose build)
# Build stage: the virtual environment, installed by the same script CI uses.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Optional: an extra wheel index for pip, e.g. PyTorch's CPU-only one, so that
# torch==2.13.0 resolves to the CPU build instead of gigabytes of CUDA wheels.
ARG PIP_EXTRA_INDEX_URL=
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY scripts/install.sh ./scripts/install.sh
COPY bot ./bot
COPY recommender ./recommender
COPY storage ./storage
COPY migrations ./migrations
RUN scripts/install.sh /opt/venv .

# Run stage: no compilers, no sources, a non-root user.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 earworm \
    && mkdir /data \
    && chown earworm:earworm /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    EARWORM_DATA_DIR=/data \
    EARWORM_HTTP_PORT=8080 \
    EARWORM_LOG_FORMAT=json
# The SQLite database, downloads and model artifacts live here.
VOLUME ["/data"]
EXPOSE 8080
USER earworm
WORKDIR /home/earworm
# /healthz: gateway connected, database reachable, a model serving (200, else 503).
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['EARWORM_HTTP_PORT'], timeout=4)"]
# SIGTERM (docker stop) shuts down gracefully: in-flight commands finish, feedback is flushed.
STOPSIGNAL SIGTERM
CMD ["earworm", "run"]
