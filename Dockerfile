# syntax=docker/dockerfile:1
# Build stage: resolve and build wheels for the gateway and its pinned dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/grove
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN /opt/grove/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/grove/bin/pip install --no-cache-dir .

# Runtime stage: the virtualenv and the config, run as an unprivileged user.
FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /srv/grove --create-home grove
COPY --from=build /opt/grove /opt/grove
COPY --chown=grove:grove config /srv/grove/config
ENV PATH=/opt/grove/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GROVE_CONFIG_DIR=/srv/grove/config \
    GROVE_HOST=0.0.0.0 \
    GROVE_PORT=8080
WORKDIR /srv/grove
USER grove
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os,urllib.request;urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('GROVE_PORT','8080')}/healthz\",timeout=2)"]
ENTRYPOINT ["grove-gateway", "serve"]
