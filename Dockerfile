# Signalway's gateway and worker: one image, `signalway gateway` (default) or `signalway worker`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# One JSON object per log line, for a log collector (`text` is for a person at a terminal).
ENV SIGNALWAY_LOG_FORMAT=json

RUN groupadd --system --gid 10001 signalway \
    && useradd --system --uid 10001 --gid signalway --home-dir /app --no-create-home signalway

WORKDIR /app

COPY pyproject.toml README.md ./
COPY signalway ./signalway
COPY gateway ./gateway
COPY worker ./worker
COPY workflows ./workflows
COPY temporal-config ./temporal-config

# Runtime dependencies only (no dev extras); build leftovers removed.
RUN pip install . \
    && rm -rf build *.egg-info

USER 10001:10001

EXPOSE 8000

CMD ["signalway", "gateway"]
