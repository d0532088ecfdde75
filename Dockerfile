# Vigil: post-loan decision service.
#   docker build -t vigil .
#   docker run -p 8000:8000 -v vigil-data:/app/instance vigil
#   docker run --rm -v vigil-data:/app/instance vigil flask --app wsgi decisions verify

# ---- build: durable_rules has no wheel for this platform and compiles from source
FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements.txt .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt

# ---- runtime: no compiler, no build tools, not root
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIGIL_BIND=0.0.0.0:8000 \
    VIGIL_DATABASE=/app/instance/vigil.db \
    PROMETHEUS_MULTIPROC_DIR=/tmp/vigil-metrics \
    MALLOC_MMAP_THRESHOLD_=268435456 \
    MALLOC_TRIM_THRESHOLD_=268435456
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels /wheels/*.whl \
 && rm -rf /wheels \
 && groupadd --system --gid 10001 vigil \
 && useradd --system --uid 10001 --gid vigil --home-dir /app --shell /usr/sbin/nologin vigil
WORKDIR /app
COPY --chown=root:root app ./app
COPY --chown=root:root migrations ./migrations
COPY --chown=root:root rulesets ./rulesets
COPY --chown=root:root schemas ./schemas
COPY --chown=root:root wsgi.py gunicorn.conf.py ./
COPY --chown=root:root bin/docker-entrypoint ./bin/docker-entrypoint
# Only the decision log is writable, and only by the service user.
RUN mkdir -p /app/instance && chown vigil:vigil /app/instance
VOLUME ["/app/instance"]
USER vigil
EXPOSE 8000
# Asks /readyz on the port VIGIL_BIND names (the bind may be changed with -e VIGIL_BIND=...).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-m", "app.healthcheck"]
# No command: migrations run once, the shipped policies are imported into a new database,
# then gunicorn replaces the shell, with one worker per CPU of the container's limit (at
# most 8; VIGIL_WORKERS overrides). A command is run instead: docker run IMAGE flask
# --app wsgi decisions purge. A first admin key:
#   docker exec <container> flask --app wsgi keys create --name first-admin --owner <you> --role admin
ENTRYPOINT ["/app/bin/docker-entrypoint"]
CMD []
