# pager: one image for the CLI, the worker and (later) the HTTP server.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PAGER_CONFIG_DIR=/srv/pager

WORKDIR /app
COPY pyproject.toml README.md ./
COPY pager ./pager
COPY migrations ./migrations
COPY alembic.ini ./
RUN pip install . && useradd --system --home /srv/pager pager

# Schedules and policies are code: mount your repository's copy over these demo files.
COPY schedules /srv/pager/schedules
COPY escalation_policies /srv/pager/escalation_policies

USER pager
WORKDIR /srv/pager
ENTRYPOINT ["pager"]
CMD ["check"]
