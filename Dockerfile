# postdesk's image: `postdesk run` as a non-root user, data in /data (a volume).
# Dependencies are installed before the source is copied, so a change to the code rebuilds
# only the last layers; .dockerignore keeps .env, .venv, the data folder, .git and build
# output out of the build context (and so out of the image).
FROM python:3.11-slim

WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

# 1. Dependencies only, read from pyproject.toml: this layer changes when they do.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# 2. The source, installed without touching the dependencies again.
COPY . .
RUN pip install --no-deps . \
    && useradd --system --home-dir /data postdesk \
    && mkdir -p /data \
    && chown postdesk /data

USER postdesk
ENV POSTDESK_DATA_DIR=/data POSTDESK_SMTP_HOST=0.0.0.0 POSTDESK_HTTP_HOST=0.0.0.0
EXPOSE 2525 8080

# Ready: the database answers at the latest migration (and Redis, when set). Replicas that
# serve no HTTP (--role smtp, --role jobs) turn this off in compose.yaml.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('POSTDESK_HTTP_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=4).status == 200 else 1)"]

CMD ["postdesk", "run"]
