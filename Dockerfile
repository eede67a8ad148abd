# geo-enforce API image (production path with docker-compose.yml).
# Stage 1: Leaflet and plugins from the npm registry, so the map never needs a CDN.
FROM node:20-bookworm-slim AS web
WORKDIR /src
COPY scripts/install_web_assets.sh scripts/
RUN mkdir -p geo_enforce/web/static && bash scripts/install_web_assets.sh

# Stage 2: the service.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    GEO_ENFORCE_DATA_DIR=/data
# pg_dump/pg_restore for backups; a CJK font for Chinese chart labels in reports
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 fonts-noto-cjk curl \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 geo
WORKDIR /app
# exact, hash-checked dependency versions (scripts/lock.sh), in their own layer
COPY requirements-runtime.lock ./
RUN pip install --require-hashes -r requirements-runtime.lock
COPY pyproject.toml README.md ./
COPY geo_enforce geo_enforce
COPY api api
COPY layers layers
COPY --from=web /src/geo_enforce/web/static/vendor geo_enforce/web/static/vendor
RUN pip install --no-deps . && mkdir -p /data && chown geo:geo /data
USER geo
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD curl -fsS http://127.0.0.1:8000/health || exit 1
# serve as the app role (DATABASE_URL from docker-compose.yml); migrations run separately as
# the schema owner (the compose file's one-shot migrate service: geo-enforce db migrate)
CMD ["sh", "-c", "geo-enforce serve --host 0.0.0.0 --port 8000 --workers ${WEB_CONCURRENCY:-2}"]
