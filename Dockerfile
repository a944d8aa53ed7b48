# pager: one image for the CLI, the worker and the HTTP server.
#
#   docker run -e PAGER_SECRET_KEY=<32+ random bytes> -e PAGER_DATABASE_URL=postgresql+psycopg://... \
#       -p 8080:8080 IMAGE                      # migrates the database, then serves (with a worker)
#   docker run ... IMAGE pager worker           # any other command: name it (then no migration runs)
#
# PAGER_SECRET_KEY has no default here on purpose: pass it at run time, never bake it into an image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PAGER_CONFIG_DIR=/srv/pager \
    PAGER_MIGRATIONS_DIR=/app/migrations \
    PAGER_DATABASE_URL=sqlite:////var/lib/pager/pager.db

WORKDIR /app
# Exactly the locked packages, each checked against its hash; a layer of its own, rebuilt only when
# the lock changes.
COPY requirements/runtime.lock ./requirements/
RUN pip install --require-hashes -r requirements/runtime.lock
# Then pager itself: no dependencies of its own to fetch, built with the locked setuptools and wheel.
COPY pyproject.toml README.md alembic.ini ./
COPY pager ./pager
COPY migrations ./migrations
RUN pip install --no-deps --no-build-isolation . \
    && rm -rf build pager.egg-info \
    && groupadd --system --gid 10001 pager \
    && useradd --system --uid 10001 --gid pager --home-dir /srv/pager --no-create-home pager

# Schedules and policies are code: mount your repository's copy over these demo files. They stay
# owned by root, so the server can read them but not change them.
COPY schedules /srv/pager/schedules
COPY escalation_policies /srv/pager/escalation_policies
# The default SQLite database (one host only) and its wake-up socket live here, the one directory
# pager may write: mount a volume on it to keep the database, or set PAGER_DATABASE_URL to Postgres.
RUN mkdir -p /var/lib/pager && chown pager:pager /var/lib/pager

# A numeric user, so that orchestrators can verify it is not root (runAsNonRoot).
USER 10001:10001
WORKDIR /srv/pager
EXPOSE 8080

# Healthy while GET /readyz answers 200 (see docs/operations.md for what it checks).
# A container running `pager worker` serves no HTTP: run it with --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4)"]

# Migrate, then serve. `pager db upgrade` is a no-op when the schema is at head; exec makes the server
# PID 1, so `docker stop` (SIGTERM) reaches it.
CMD ["sh", "-c", "pager db upgrade && exec pager serve --host 0.0.0.0 --port 8080"]
