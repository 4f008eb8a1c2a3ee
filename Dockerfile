# One image for every role (web, moderation, bridge, and the one-shot migrate); the command
# chooses the role. docs/deploy.md says how docker-compose.yml runs it.
FROM python:3.11-slim

# DEBUG is off unless told otherwise: without SECRET_KEY every role then refuses to start.
# MEDIA_ROOT is the file-system attachment store, which only the web role reads and writes.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBUG=false \
    MEDIA_ROOT=/var/lib/echostream/media

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs the settings but no key: DEBUG=true for this one command spares a
# build-time secret. A named volume mounted on MEDIA_ROOT starts with the owner of the
# image's directory, so the non-root web role can write attachments into it.
RUN DEBUG=true python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 --no-create-home --home-dir /app echostream \
    && mkdir -p "$MEDIA_ROOT" \
    && chown echostream:echostream "$MEDIA_ROOT"
USER echostream

# 8000: web (HTTP, WebSocket, /healthz, /readyz, /metrics); 9101 and 9102: the moderation
# and bridge workers' /healthz, /readyz and /metrics.
EXPOSE 8000 9101 9102
CMD ["python", "-m", "echostream.web", "-b", "0.0.0.0", "-p", "8000"]
