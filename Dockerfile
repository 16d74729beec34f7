# Earworm: one process, the Discord bot with its recommenders. Build: docker build -t earworm .
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# The CPU build of torch first, so nothing later pulls gigabytes of CUDA wheels.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY bot ./bot
COPY recommender ./recommender
COPY storage ./storage
COPY migrations ./migrations
RUN pip install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 earworm \
    && mkdir /data \
    && chown earworm:earworm /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    EARWORM_DATA_DIR=/data
# The SQLite database, downloads and model artifacts live here.
VOLUME ["/data"]
USER earworm
WORKDIR /home/earworm
CMD ["earworm", "run"]
