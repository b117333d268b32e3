# Gerbang site service. Installs exactly as the README's first command does.
# Model files are not baked in: mount the model directory at /models (read-only is fine).
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY edge ./edge
COPY models ./models
COPY enrollment ./enrollment
COPY gallery_sync ./gallery_sync

RUN python3 -m venv .venv && .venv/bin/pip install --no-cache-dir -e .

ENV EDGE_MODEL_DIR=/models \
    EDGE_DATA_DIR=/data \
    EDGE_HOST=0.0.0.0 \
    EDGE_PORT=8080
VOLUME ["/data"]
EXPOSE 8080
CMD [".venv/bin/gerbang", "serve"]
