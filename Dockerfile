# Signalway's gateway and worker: one image, `signalway gateway` (default) or `signalway worker`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/signalway \
    PATH=/opt/signalway/bin:$PATH

# One JSON object per log line, for a log collector (`text` is for a person at a terminal).
ENV SIGNALWAY_LOG_FORMAT=json

RUN groupadd --system --gid 10001 signalway \
    && useradd --system --uid 10001 --gid signalway --home-dir /app --no-create-home signalway

WORKDIR /app

COPY pyproject.toml uv.lock README.md ./
COPY signalway ./signalway
COPY workflows ./workflows
COPY temporal-config ./temporal-config

# Exactly the versions uv.lock pins (hash-checked), runtime only: no test group, no `local`
# extra (the image runs against a real Temporal, not the dev server's CLI). uv itself is
# pinned and removed afterwards; build leftovers too.
RUN pip install "uv==0.13.10" \
    && uv sync --frozen --no-default-groups --no-editable --python /usr/local/bin/python3 \
    && pip uninstall --yes uv \
    && rm -rf build *.egg-info

USER 10001:10001

EXPOSE 8000

CMD ["signalway", "gateway"]
