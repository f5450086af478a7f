FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# collectstatic needs settings to import; the real key comes from the environment at run time.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0

EXPOSE 8000
# daphne takes the client address and scheme from X-Forwarded-For/-Proto only behind a proxy
# that sets them (DAPHNE_PROXY_HEADERS=1); otherwise any client could claim any address.
CMD ["sh", "-c", "python manage.py migrate --noinput && exec daphne -b 0.0.0.0 -p 8000 $([ \"$DAPHNE_PROXY_HEADERS\" = 1 ] && echo --proxy-headers) interviewsvc.asgi:application"]
