"""Settings for medianalyse, every one read from the environment.

The embedded default (no variable set) is a laptop setup: SQLite in ./var,
an SQLite-backed Huey queue and an in-process channel layer. Setting
DATABASE_URL and REDIS_URL turns the same code into the scaled-out deployment
(PostgreSQL, RedisHuey consumers on many machines, RedisChannelLayer).
"""

from __future__ import annotations

import os
from pathlib import Path

from medianalyse_site.env import (
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_json_object,
    env_list,
    env_pair,
    env_str,
    private_directory,
    private_file,
    secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = private_directory(Path(env_str("MEDIANALYSE_VAR_DIR", str(BASE_DIR / "var"))))

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = secret_key("DJANGO_SECRET_KEY", debug=DEBUG, key_file=VAR_DIR / "secret_key")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# --- Behind HTTPS -------------------------------------------------------------
# Off by default (the laptop setup speaks plain HTTP on 127.0.0.1); the guide's
# section 7 shows the set a deployment behind an HTTPS proxy needs.
SECURE_PROXY_SSL_HEADER = env_pair("DJANGO_SECURE_PROXY_SSL_HEADER")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "huey.contrib.djhuey",
    "lands",
    "media_analysis",
    "exports",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Bounds every database statement of a request (MEDIANALYSE_REQUEST_STATEMENT_TIMEOUT).
    "medianalyse_site.query_guard.StatementTimeoutMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "medianalyse_site.urls"
WSGI_APPLICATION = "medianalyse_site.wsgi.application"
ASGI_APPLICATION = "medianalyse_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The site's own templates (the admin's base and home, the landing page) before the apps'.
        "DIRS": [BASE_DIR / "medianalyse_site" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "libraries": {"medianalyse_admin": "media_analysis.web.admin.index_tags"},
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "medianalyse.sqlite3"),
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the Huey consumer are separate processes writing the
    # same file: WAL lets readers proceed during a write, IMMEDIATE transactions
    # avoid the upgrade deadlock, and the timeout rides out short write locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-medianalyse.sqlite3")}
    if DATABASES["default"]["NAME"] != ":memory:":
        private_file(Path(DATABASES["default"]["NAME"]))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Seconds any one database statement of a web request (admin, pages, API) may run before it is stopped
# and the request answered with a 503; 0 turns the limit off. Workers and commands have no such limit.
MEDIANALYSE_REQUEST_STATEMENT_TIMEOUT = env_float("MEDIANALYSE_REQUEST_STATEMENT_TIMEOUT", 30.0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request otherwise

LOGIN_URL = "admin:login"

# --- Redis, Channels, Huey --------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [env_str("CHANNELS_REDIS_URL", REDIS_URL)]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# HUEY_IMMEDIATE is explicit on purpose: running tasks inline is a test and
# debugging choice, never a consequence of DEBUG.
HUEY_IMMEDIATE = env_bool("HUEY_IMMEDIATE", False)
HUEY_NAME = env_str("HUEY_NAME", "medianalyse")
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": HUEY_NAME,
        "url": env_str("HUEY_REDIS_URL", REDIS_URL),
        "immediate": HUEY_IMMEDIATE,
        "results": False,
        # One process per machine: its download pipeline is shared by the worker threads.
        "consumer": {"workers": env_int("HUEY_WORKERS", 2), "worker_type": "thread"},
    }
else:
    HUEY_SQLITE_PATH = env_str("HUEY_SQLITE_PATH", str(VAR_DIR / "huey.sqlite3"))
    private_file(Path(HUEY_SQLITE_PATH))
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": HUEY_NAME,
        "filename": HUEY_SQLITE_PATH,
        "immediate": HUEY_IMMEDIATE,
        "results": False,
        "consumer": {
            "workers": env_int("HUEY_WORKERS", 2),
            "worker_type": "thread",
            # SQLite is polled: keep the idle back-off short so a new job starts promptly.
            "max_delay": 0.5,
        },
    }

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "media_analysis.web.api.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 50),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "medianalyse_site.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "medianalyse API",
    "DESCRIPTION": "Media analysis of web corpora (lands): lands, pages, media, analysis jobs, exports.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    # The documentation pages load Swagger UI and ReDoc from this site's static files (the pinned
    # drf-spectacular-sidecar package), never from a CDN: they work offline and do not change under us.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No call to the public schema validator: the page makes no request outside this site.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- Media analysis ---------------------------------------------------------
# Every knob of the pipeline, each overridable by the environment variable of
# the same name. docs/MEDIA_ANALYSIS_GUIDE.md describes each one.
MEDIA_ANALYSIS_TIMEOUT = env_float("MEDIA_ANALYSIS_TIMEOUT", 15.0)
# The longest silence between a response's headers and its body's first bytes (0: the read timeout).
MEDIA_ANALYSIS_BODY_START_TIMEOUT = env_float("MEDIA_ANALYSIS_BODY_START_TIMEOUT", 5.0)
MEDIA_ANALYSIS_CONNECT_TIMEOUT = env_float("MEDIA_ANALYSIS_CONNECT_TIMEOUT", 5.0)
MEDIA_ANALYSIS_MAX_FILE_SIZE = env_int("MEDIA_ANALYSIS_MAX_FILE_SIZE", 10 * 1024 * 1024)
MEDIA_ANALYSIS_MIN_WIDTH = env_int("MEDIA_ANALYSIS_MIN_WIDTH", 200)
MEDIA_ANALYSIS_MIN_HEIGHT = env_int("MEDIA_ANALYSIS_MIN_HEIGHT", 200)
MEDIA_ANALYSIS_MAX_RETRIES = env_int("MEDIA_ANALYSIS_MAX_RETRIES", 3)
MEDIA_ANALYSIS_BACKOFF_FACTOR = env_float("MEDIA_ANALYSIS_BACKOFF_FACTOR", 0.5)
MEDIA_ANALYSIS_MAX_REDIRECTS = env_int("MEDIA_ANALYSIS_MAX_REDIRECTS", 5)
MEDIA_ANALYSIS_USER_AGENT = env_str(
    "MEDIA_ANALYSIS_USER_AGENT", "medianalyse/1.0 (+https://github.com/medianalyse; research crawler)"
)
MEDIA_ANALYSIS_N_DOMINANT_COLORS = env_int("MEDIA_ANALYSIS_N_DOMINANT_COLORS", 5)
MEDIA_ANALYSIS_MAX_PIXELS = env_int("MEDIA_ANALYSIS_MAX_PIXELS", 89_478_485)
# What one hostile file may cost: JPEG scans and frames are counted before any
# decoding and refused above these caps; an image outside the cheap cases is
# analysed in a worker process killed after this many seconds (0: no guard).
MEDIA_ANALYSIS_MAX_SCANS = env_int("MEDIA_ANALYSIS_MAX_SCANS", 100)
MEDIA_ANALYSIS_MAX_FRAMES = env_int("MEDIA_ANALYSIS_MAX_FRAMES", 10_000)
MEDIA_ANALYSIS_ANALYSIS_TIMEOUT = env_float("MEDIA_ANALYSIS_ANALYSIS_TIMEOUT", 30.0)
MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS = env_list("MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS", [])
# Downloads in flight per consumer process, and the bytes it may hold at once (received and not
# yet analysed): the pipeline (media_analysis/jobs/pipeline.py) starts no download past either. Both are
# caps: within them, the pipeline starts only the downloads its analyses will take in soon (no setting).
MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY = env_int("MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY", 64)
MEDIA_ANALYSIS_BYTES_IN_FLIGHT = env_int("MEDIA_ANALYSIS_BYTES_IN_FLIGHT", 256 * 1024 * 1024)
# numba's on-disk cache of the compiled k-means (media_analysis/engine/image/kmeans_kernels.py): the machine
# code is compiled once per machine (tens of seconds) and loaded by every later process (well under a second).
# Handed to numba as NUMBA_CACHE_DIR, which the processes this one starts (the analysis workers) inherit; a
# NUMBA_CACHE_DIR already in the environment wins. The code's own directory may be read-only.
MEDIA_ANALYSIS_COMPILED_CACHE_DIR = env_str("MEDIA_ANALYSIS_COMPILED_CACHE_DIR", str(VAR_DIR / "cache" / "compiled"))
os.environ.setdefault("NUMBA_CACHE_DIR", MEDIA_ANALYSIS_COMPILED_CACHE_DIR)

# An image body that passes this many bytes while it is received goes on into a file of the consumer's own
# (0: every body stays in memory), kept there until analysed: what a consumer holds in memory then no longer
# depends on which large bodies coincide. The byte budget above counts the bytes in memory; the files, under
# MEDIA_ANALYSIS_SPOOL_DIR (one directory per process, owner only, removed when the process is found dead at the
# next start), stay within MEDIA_ANALYSIS_SPOOL_MAX_BYTES, past which a body goes on in memory instead.
MEDIA_ANALYSIS_SPOOL_THRESHOLD = env_int("MEDIA_ANALYSIS_SPOOL_THRESHOLD", 256 * 1024)
MEDIA_ANALYSIS_SPOOL_MAX_BYTES = env_int("MEDIA_ANALYSIS_SPOOL_MAX_BYTES", 1024 * 1024 * 1024)
MEDIA_ANALYSIS_SPOOL_DIR = env_str("MEDIA_ANALYSIS_SPOOL_DIR", str(VAR_DIR / "tmp" / "bodies"))
# Conditional requests of a re-analysis in flight per consumer process, counted apart from the downloads:
# most are answered 304, without a body, so many more of them can wait on the sites' latency at once.
MEDIA_ANALYSIS_REVALIDATION_CONCURRENCY = env_int("MEDIA_ANALYSIS_REVALIDATION_CONCURRENCY", 256)
# A directory where each consumer process writes a trace of its pipeline's events (empty: no trace);
# media_analysis/jobs/trace.py says what is written, bench/pipeline_trace.py reads it.
MEDIA_ANALYSIS_PIPELINE_TRACE = env_str("MEDIA_ANALYSIS_PIPELINE_TRACE", "")
MEDIA_ANALYSIS_CHUNK_SIZE = env_int("MEDIA_ANALYSIS_CHUNK_SIZE", 100)
# Images analysed at once per process (downloads keep running beside them). Two per
# core: while one waits for the GIL, another decodes.
MEDIA_ANALYSIS_ANALYSIS_THREADS = env_int("MEDIA_ANALYSIS_ANALYSIS_THREADS", 2 * (os.cpu_count() or 1))
# Bytes the analyses of a process may hold at once, estimated from each image's header before it is decoded
# (its pixels, its mode, the scale a large JPEG is decoded at): an analysis that would pass it waits for others to
# end, and an image larger than the whole budget runs alone. 0 bounds nothing but the threads.
MEDIA_ANALYSIS_DECODE_BUDGET = env_int("MEDIA_ANALYSIS_DECODE_BUDGET", 256 * 1024 * 1024)
# Let the C allocator reuse freed image buffers rather than return them to the
# kernel after every image: fewer page faults, a somewhat higher resident size.
# Applied by the consumer start-up hook (media_analysis/jobs/worker.py); the
# measurements are in docs/benchmarks/land.md, "Process tuning".
MEDIA_ANALYSIS_KEEP_FREED_MEMORY = env_bool("MEDIA_ANALYSIS_KEEP_FREED_MEMORY", True)
MEDIA_ANALYSIS_COLORS = env_bool("MEDIA_ANALYSIS_COLORS", True)
MEDIA_ANALYSIS_EXIF = env_bool("MEDIA_ANALYSIS_EXIF", True)
MEDIA_ANALYSIS_HASHES = env_bool("MEDIA_ANALYSIS_HASHES", True)
# The image formats decoded (Pillow's names): any other image fails as
# unsupported_format. The default is the engine's IMAGE_FORMATS
# (media_analysis/engine/image/decode.py), the raster formats of the web.
MEDIA_ANALYSIS_IMAGE_FORMATS = env_list(
    "MEDIA_ANALYSIS_IMAGE_FORMATS",
    ["JPEG", "PNG", "GIF", "WEBP", "AVIF", "BMP", "DIB", "TIFF", "ICO", "CUR", "JPEG2000", "TGA", "PSD", "QOI"],
)
MEDIA_ANALYSIS_AV_PROBE_BYTES = env_int("MEDIA_ANALYSIS_AV_PROBE_BYTES", 256 * 1024)
# Longest wait between two download attempts (backoff or Retry-After), and the
# wall-clock budget of one download, redirects and body included.
MEDIA_ANALYSIS_BACKOFF_MAX = env_float("MEDIA_ANALYSIS_BACKOFF_MAX", 30.0)
MEDIA_ANALYSIS_DOWNLOAD_DEADLINE = env_float("MEDIA_ANALYSIS_DOWNLOAD_DEADLINE", 120.0)
# Re-analyses send the stored ETag / Last-Modified; off recomputes every value from the bytes.
MEDIA_ANALYSIS_CONDITIONAL_REQUESTS = env_bool("MEDIA_ANALYSIS_CONDITIONAL_REQUESTS", True)
# Recovery after a crash: a never-claimed chunk is re-enqueued once its job has
# not moved for STALL seconds; a claimed one once its claim is older than the lease.
MEDIA_ANALYSIS_STALL_SECONDS = env_float("MEDIA_ANALYSIS_STALL_SECONDS", 120.0)
MEDIA_ANALYSIS_CHUNK_LEASE_SECONDS = env_float("MEDIA_ANALYSIS_CHUNK_LEASE_SECONDS", 900.0)
# A stopping consumer lets the chunks it accepted finish for at most this long.
MEDIA_ANALYSIS_SHUTDOWN_GRACE = env_float("MEDIA_ANALYSIS_SHUTDOWN_GRACE", 10.0)
MEDIA_ANALYSIS_DUPLICATE_THRESHOLD = env_int("MEDIA_ANALYSIS_DUPLICATE_THRESHOLD", 10)
# Politeness per host (media_analysis/jobs/hosts.py): requests open at once to one host, across every
# consumer when REDIS_URL is set, per process otherwise (at least 1); seconds between two request starts
# to one host; whether robots.txt is respected, and how long a site's answer is kept.
MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = env_int("MEDIA_ANALYSIS_PER_HOST_CONCURRENCY", 4)
MEDIA_ANALYSIS_PER_HOST_DELAY = env_float("MEDIA_ANALYSIS_PER_HOST_DELAY", 0.0)
MEDIA_ANALYSIS_RESPECT_ROBOTS = env_bool("MEDIA_ANALYSIS_RESPECT_ROBOTS", False)
MEDIA_ANALYSIS_ROBOTS_TTL = env_float("MEDIA_ANALYSIS_ROBOTS_TTL", 3600.0)
# Stored thumbnails: long side in pixels (0: none made), WebP for every one rather
# than JPEG for opaque images, and where they go. The storage is a Django STORAGES
# alias: a directory under VAR_DIR by default, any storage class (django-storages'
# S3 for many machines) through MEDIA_ANALYSIS_STORAGE_BACKEND and _OPTIONS.
MEDIA_ANALYSIS_THUMBNAIL_SIZE = env_int("MEDIA_ANALYSIS_THUMBNAIL_SIZE", 320)
MEDIA_ANALYSIS_THUMBNAIL_WEBP = env_bool("MEDIA_ANALYSIS_THUMBNAIL_WEBP", False)
# The image wall's PNG download: the most media it may compose (its form also caps the pixels).
MEDIA_ANALYSIS_WALL_MAX_MEDIA = env_int("MEDIA_ANALYSIS_WALL_MAX_MEDIA", 10_000)
# On: a large JPEG is decoded a second time so that its thumbnail reaches the size (about doubling its
# analysis); off: its thumbnail is the analysis draft, smaller, at no cost.
MEDIA_ANALYSIS_THUMBNAIL_REDECODE = env_bool("MEDIA_ANALYSIS_THUMBNAIL_REDECODE", False)
_FILE_SYSTEM_STORAGE = "media_analysis.stored.ContentAddressedFileSystemStorage"
MEDIA_ANALYSIS_STORAGE_BACKEND = env_str("MEDIA_ANALYSIS_STORAGE_BACKEND", "") or _FILE_SYSTEM_STORAGE
# The default directory only for the default class: another class's "location" means something else (S3: a prefix).
MEDIA_ANALYSIS_STORAGE_OPTIONS = env_json_object(
    "MEDIA_ANALYSIS_STORAGE_OPTIONS",
    {"location": str(VAR_DIR / "stored")} if MEDIA_ANALYSIS_STORAGE_BACKEND == _FILE_SYSTEM_STORAGE else {},
)
# Originals kept in the same storage (off by default), each up to ARCHIVE_MAX_BYTES; larger ones are not kept.
MEDIA_ANALYSIS_ARCHIVE_ORIGINALS = env_bool("MEDIA_ANALYSIS_ARCHIVE_ORIGINALS", False)
MEDIA_ANALYSIS_ARCHIVE_MAX_BYTES = env_int("MEDIA_ANALYSIS_ARCHIVE_MAX_BYTES", 10 * 1024 * 1024)
# A download whose bytes (SHA-256) were already analysed by the current analysis copies those values.
MEDIA_ANALYSIS_REUSE_BY_CONTENT = env_bool("MEDIA_ANALYSIS_REUSE_BY_CONTENT", True)
# Text in pictures (OCR), for jobs started with "ocr": Tesseract's languages, the first read first
# ("fra+eng"), the folder of their .traineddata files (empty: the usual ones), the likelihood score from which a
# picture is recognised, the seconds of recognition allowed per picture, and the longest side given to Tesseract.
MEDIA_ANALYSIS_OCR_LANGUAGES = env_str("MEDIA_ANALYSIS_OCR_LANGUAGES", "fra+eng")
MEDIA_ANALYSIS_OCR_TESSDATA = env_str("MEDIA_ANALYSIS_OCR_TESSDATA", "")
MEDIA_ANALYSIS_OCR_THRESHOLD = env_float("MEDIA_ANALYSIS_OCR_THRESHOLD", 2.0)
MEDIA_ANALYSIS_OCR_TIMEOUT = env_float("MEDIA_ANALYSIS_OCR_TIMEOUT", 20.0)
MEDIA_ANALYSIS_OCR_MAX_SIDE = env_int("MEDIA_ANALYSIS_OCR_MAX_SIDE", 2500)
# collect_orphan_files leaves files younger than this: an analysis may have written one whose row is not saved yet.
MEDIA_ANALYSIS_ORPHAN_GRACE_HOURS = env_float("MEDIA_ANALYSIS_ORPHAN_GRACE_HOURS", 24.0)
# Pages link stored files through the storage's own URLs (S3 signed URLs) rather
# than through the permission-checked view of this site.
MEDIA_ANALYSIS_STORAGE_URLS = env_bool("MEDIA_ANALYSIS_STORAGE_URLS", False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "medianalyse": {"BACKEND": MEDIA_ANALYSIS_STORAGE_BACKEND, "OPTIONS": MEDIA_ANALYSIS_STORAGE_OPTIONS},
}

# /metrics answers a scraper presenting "Authorization: Bearer <token>", or a staff session.
MEDIANALYSE_METRICS_TOKEN = env_str("MEDIANALYSE_METRICS_TOKEN", "")
# A Huey consumer serves its own metrics on this port when set (see the guide).
MEDIA_ANALYSIS_METRICS_PORT = env_int("MEDIA_ANALYSIS_METRICS_PORT", 0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
    "loggers": {
        "medianalyse": {"level": env_str("MEDIANALYSE_LOG_LEVEL", "INFO"), "propagate": True},
        "huey": {"level": env_str("HUEY_LOG_LEVEL", "INFO"), "propagate": True},
    },
}
