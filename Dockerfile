FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# The runtime set only: tests, lint and benchmark tools (requirements-dev.txt) stay out of the image.
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# collectstatic needs settings to import; the real key comes from the environment at run time.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0

# The service runs as an unprivileged user that cannot change its own code or static files
# (both stay owned by root). The database is PostgreSQL through DATABASE_URL (docker-compose.yml).
RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
# Export job files (EXPORT_FILES_DIR; docker-compose.yml mounts a volume shared by web and worker
# here): the one directory the service writes, its own, private.
RUN mkdir -p /var/lib/interviewsvc/exports && chown -R 10001:10001 /var/lib/interviewsvc && chmod 700 /var/lib/interviewsvc/exports
ENV EXPORT_FILES_DIR=/var/lib/interviewsvc/exports
USER 10001:10001

EXPOSE 8000
# daphne takes the client address and scheme from X-Forwarded-For/-Proto only behind a proxy
# that sets them (DAPHNE_PROXY_HEADERS=1); otherwise any client could claim any address.
CMD ["sh", "-c", "python manage.py migrate --noinput && exec daphne -b 0.0.0.0 -p 8000 $([ \"$DAPHNE_PROXY_HEADERS\" = 1 ] && echo --proxy-headers) interviewsvc.asgi:application"]
