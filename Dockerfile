# syntax=docker/dockerfile:1
# The gateway's one image: web (gunicorn), the Celery workers, beat and the release step all run it with a
# different command (deploy/compose.yaml, deploy/kubernetes/). docs/deploy.md explains the processes.
#
#   docker build -t meta-gateway:local .

FROM python:3.11-slim-bookworm AS dependencies
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
# Only the runtime dependencies of pyproject.toml (never its dev extra), in their own layer: a change of the
# code alone reuses it.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --upgrade pip \
    && /opt/venv/bin/pip install --requirement requirements.txt

FROM python:3.11-slim-bookworm
# WeasyPrint (the transparency reports' PDFs) needs Pango, HarfBuzz and fontconfig with at least one font.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 libfontconfig1 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid and gid so that volumes (media, beat's schedule) and Kubernetes' runAsUser agree on the owner.
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --home-dir /var/lib/gateway --no-create-home gateway \
    && install --directory --owner gateway --group gateway --mode 0700 \
        /var/lib/gateway /var/lib/gateway/media /var/lib/gateway/beat \
    && install --directory --mode 0755 /run/secrets/gateway /run/secrets/postgres /run/secrets/redis

COPY --from=dependencies /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GATEWAY_VAR_DIR=/var/lib/gateway \
    XDG_CACHE_HOME=/tmp/cache
WORKDIR /app
COPY . /app

# Static files are part of the image (WhiteNoise serves them), so every process of a release has the same ones.
# GATEWAY_ENV=production: no development secret is generated into the image; collectstatic needs none. They
# stay root's: the gateway's user reads them and cannot change them.
RUN GATEWAY_ENV=production python manage.py collectstatic --noinput --verbosity 0 \
    && python -m compileall -q /app

USER 10001:10001
EXPOSE 8000
# The web process's liveness (/healthz) with a Host header the gateway accepts; the workers and beat override it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["python", "/app/deploy/healthcheck.py"]
CMD ["gunicorn", "gateway.wsgi", "--config", "deploy/gunicorn.conf.py", "--bind", "0.0.0.0:8000", \
     "--workers", "4", "--threads", "4", "--graceful-timeout", "30"]
