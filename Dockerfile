# launchcast service image: multi-stage, pinned dependencies, non-root, health-checked.
#
# The project is installed in editable mode at /app in both stages: store/migrations.py and
# store/settings.py find alembic.ini, alembic/ and configs/ beside the packages (one level up),
# which a wheel install into site-packages would lose.
FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN pip install uv && uv venv /opt/venv
WORKDIR /app
# Dependencies first (pinned by the lock): this layer is reused until the lock changes.
COPY requirements.lock ./
RUN uv pip install --python /opt/venv/bin/python -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY forecasting ./forecasting
COPY store ./store
COPY service ./service
COPY training ./training
COPY cli ./cli
COPY alembic ./alembic
COPY configs ./configs
RUN uv pip install --python /opt/venv/bin/python --no-deps -e .

FROM python:3.11-slim AS runtime
# libgomp: LightGBM's OpenMP runtime.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 launchcast
# Same paths as in the builder: the venv's scripts and the editable install point at them.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LAUNCHCAST_ARTIFACT_DIR=/data/artifacts \
    LAUNCHCAST_DATABASE_URL=sqlite:////data/launchcast.db
# /data holds the embedded SQLite file and the model artifacts; a named volume mounted on
# /data/artifacts inherits this ownership when first created.
RUN mkdir -p /data/artifacts && chown -R launchcast /data
USER launchcast
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
# A public address needs API keys (LAUNCHCAST_API_KEYS); the service refuses to start otherwise.
CMD ["launchcast", "serve", "--host", "0.0.0.0", "--port", "8000"]
