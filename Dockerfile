# One image for every IOC process (api, alerts, migrate). Build context: the repository root.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm curl fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml ./
COPY ioc ./ioc
COPY ingest ./ingest
COPY alerts ./alerts
COPY migrations ./migrations
RUN pip install --no-cache-dir .

# deck.gl comes from the npm registry at build time; nothing loads from a CDN at run time.
COPY frontend ./frontend
RUN cd frontend && npm ci --no-audit --no-fund --loglevel=error

# PYTHONPATH: the processes import the tree in /app, so the files beside the code (migrations,
# the shipped alert rules and notification YAML) are found where the code expects them.
ENV IOC_HOST=0.0.0.0 \
    IOC_PORT=8000 \
    IOC_FRONTEND_DIR=/app/frontend \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1
RUN useradd --system --home /app ioc \
 && mkdir -p /var/lib/ioc/keys && chown ioc /var/lib/ioc/keys
USER ioc
EXPOSE 8000
ENTRYPOINT ["ioc"]
CMD ["api"]
