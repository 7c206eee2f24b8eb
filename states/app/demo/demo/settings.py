"""Settings of the demo project.

Everything that differs between hosts or is secret comes from the
environment file converge writes (states/app/templates/env.j2): KEY=VALUE
lines, read here before os.environ, so manage.py, gunicorn and celery all
see the same settings without a secret on any command line.
"""
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def read_env_file(path):
    values = {}
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    key, value = line.split("=", 1)
                    values[key.strip()] = value.strip()
    return values


# The file next to the code directory unless DJANGO_ENV_FILE names another.
ENV = {**read_env_file(os.environ.get("DJANGO_ENV_FILE", BASE_DIR.parent / "env")), **os.environ}


def env(key, default=None):
    value = ENV.get(key, default)
    if value is None:
        raise RuntimeError(f"setting {key} is missing from the environment file")
    return value


def database(url):
    """postgres://user:password@host:port/name -> a DATABASES entry."""
    u = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": u.path.lstrip("/"),
        "USER": unquote(u.username or ""),
        "PASSWORD": unquote(u.password or ""),
        "HOST": u.hostname or "",
        "PORT": str(u.port or 5432),
        "CONN_MAX_AGE": 60,
    }


# The code's revision, sent as X-Demo-Revision: a deploy shows which one answered.
REVISION = "1"

SECRET_KEY = env("SECRET_KEY")
DEBUG = env("DEBUG", "false") == "true"
ALLOWED_HOSTS = [h for h in env("ALLOWED_HOSTS", "").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "notes",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]

# The primary takes every write; DATABASE_REPLICA_URL (a streaming replica)
# serves the read-only queries that name it (Note.objects.using("replica")).
DATABASES = {"default": database(env("DATABASE_URL"))}
if env("DATABASE_REPLICA_URL", ""):
    DATABASES["replica"] = database(env("DATABASE_REPLICA_URL"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# memcached for cached data, redis for sessions (fast but persistent): each
# only when its location is set.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if env("MEMCACHED_LOCATION", ""):
    CACHES["default"] = {"BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache", "LOCATION": env("MEMCACHED_LOCATION")}
if env("REDIS_URL", ""):
    CACHES["sessions"] = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": env("REDIS_URL")}
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    SESSION_CACHE_ALIAS = "sessions"

CELERY_BROKER_URL = env("CELERY_BROKER_URL")
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "notes.tasks.heartbeat", "schedule": 60.0},
}

STATIC_URL = "/static/"
STATIC_ROOT = env("STATIC_ROOT", str(BASE_DIR.parent / "static"))
MEDIA_URL = "/media/"
MEDIA_ROOT = env("MEDIA_ROOT", str(BASE_DIR.parent / "media"))

# nginx terminates TLS and says so in X-Forwarded-Proto.
if env("FORCE_TLS", "false") == "true":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# Mail goes to an external SMTP server when one is set, else to the local
# postfix, the backup relay.
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25"))

# Everything to stdout: supervisor passes it to syslog.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
USE_TZ = True
TIME_ZONE = "UTC"
