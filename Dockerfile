# OrderHub production image: gunicorn for web; the same image runs the Celery
# worker and beat (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ORDERHUB_VAR_DIR=/var/lib/orderhub \
    STATIC_ROOT=/app/staticfiles

# pango/harfbuzz: WeasyPrint (pick lists, labels); Noto CJK: Chinese text in PDFs;
# gettext: compilemessages.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-noto-cjk gettext \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN pip install .

COPY . .
# Settings refuse to load without a SECRET_KEY; these build steps need no real one.
RUN DEBUG=0 SECRET_KEY=build-only-not-a-secret python manage.py compilemessages --ignore=.venv \
    && DEBUG=0 SECRET_KEY=build-only-not-a-secret python manage.py collectstatic --noinput \
    && useradd --system --uid 1000 --home-dir /var/lib/orderhub orderhub \
    && mkdir -p /var/lib/orderhub \
    && chown -R orderhub:orderhub /var/lib/orderhub

USER orderhub
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "scripts/healthcheck.py", "web"]
CMD ["gunicorn", "orderhub.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "--timeout", "60"]
