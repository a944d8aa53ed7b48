# pager: one image for the CLI, the worker and the HTTP server.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PAGER_CONFIG_DIR=/srv/pager \
    PAGER_MIGRATIONS_DIR=/app/migrations

WORKDIR /app
COPY pyproject.toml README.md ./
COPY pager ./pager
COPY migrations ./migrations
COPY alembic.ini ./
RUN pip install . && useradd --system --home /srv/pager pager

# Schedules and policies are code: mount your repository's copy over these demo files.
COPY schedules /srv/pager/schedules
COPY escalation_policies /srv/pager/escalation_policies
# The default database (sqlite:///./pager.db) lives here; use PAGER_DATABASE_URL for Postgres.
RUN chown pager /srv/pager

USER pager
WORKDIR /srv/pager
EXPOSE 8080
ENTRYPOINT ["pager"]
# Run `pager db upgrade` once (same image, same PAGER_DATABASE_URL) before the first `serve`.
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
