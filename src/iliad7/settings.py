"""Django settings for the iliad7 trial database, read from the environment.

- `ILIAD7_HOME` (default `./var`): the data folder; the SQLite database
  `iliad7.sqlite3` (WAL mode) and the generated secret key live there.
- `DATABASE_URL`: selects PostgreSQL (or any dj-database-url URL) instead.
- `ILIAD7_SECRET_KEY`: the signing key; without it a random key is generated
  once and kept in `ILIAD7_HOME/secret_key` (mode 0600). A fixed development
  key is used only when `ILIAD7_DEBUG=1`.
- `ILIAD7_DEBUG=1`: Django debug mode (never on a server holding trial data).
- `ILIAD7_ALLOWED_HOSTS`: comma-separated host names (default local only).
- `ILIAD7_HTTPS=1`: behind TLS; marks the session and CSRF cookies Secure.
- `ILIAD7_LOG_LEVEL` (default INFO): level of iliad7's JSON log lines (one per request at INFO).
- `ILIAD7_SESSION_IDLE_MINUTES` (default 15): idle session timeout (a signed
  activity cookie, `iliad7.web.idle`: no database write per request).
- `ILIAD7_SESSION_MAX_HOURS` (default 12): the longest a session lives, active or not.
- `ILIAD7_CHECKPOINT_KEY` (default `ILIAD7_HOME/keys/checkpoint-ed25519.pem`):
  the Ed25519 key that signs the audit chain's checkpoints, made on first use (0600).
- `ILIAD7_CHECKPOINT_SINKS` (default `file:ILIAD7_HOME/audit/checkpoints.jsonl`):
  comma-separated places the signed checkpoints go (`iliad7.audit.sinks`).
- `ILIAD7_CONCENTRATION_UG_PER_ML`: the drug product's concentration, offered
  on the pharmacist's worksheet (configured; the protocol gives no default).
- `ILIAD7_RESUPPLY_AT_VIALS`: usable vials below which the unblinded pharmacist
  sees a re-supply alert (default: the protocol's number of doses, 7).

Pages load nothing from outside the server: a Content-Security-Policy limits
every kind of resource to this origin (`SECURE_CSP`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
import django


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


ILIAD7_HOME = Path(os.environ.get("ILIAD7_HOME", "var")).resolve()
DEBUG = _flag("ILIAD7_DEBUG")


def _secret_key() -> str:
    from_env = os.environ.get("ILIAD7_SECRET_KEY", "").strip()
    if from_env:
        return from_env
    if DEBUG:
        return "iliad7-development-only-key-never-used-with-trial-data"
    # Generate once per installation, so no production key is ever in the code.
    path = ILIAD7_HOME / "secret_key"
    if not path.exists():
        ILIAD7_HOME.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ILIAD7_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "iliad7.store",
    "iliad7.web",
]

MIDDLEWARE = [
    # Outermost: one JSON log line per request (id, user, status, duration), X-Request-ID answered.
    "iliad7.observability.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Django 6's built-in CSP; on Django 5.2 (Python 3.11) a small stand-in sends the same header.
    "django.middleware.csp.ContentSecurityPolicyMiddleware"
    if django.VERSION >= (6, 0)
    else "iliad7.web.security.ContentSecurityPolicyMiddleware",
    # Pages and API answers hold patient data: Cache-Control no-store unless a response says otherwise.
    "iliad7.web.security.NoStoreMiddleware",
    # A NUL character anywhere in a request is refused before any query (PostgreSQL cannot hold one).
    "iliad7.web.security.NulCharacterMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The idle timeout from a signed cookie: a GET never writes the session row.
    "iliad7.web.idle.IdleTimeoutMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Signed-in users whose roles need TOTP reach nothing until they give it.
    "iliad7.store.login.SecondFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-axes wants to be last, to see the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "iliad7.urls"
WSGI_APPLICATION = "iliad7.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "iliad7.web.context.navigation",
            ],
            # `when` and friends (readable times with their zone) on every page without a {% load %}.
            "builtins": ["iliad7.web.templatetags.iliad7_format"],
        },
    }
]


def _databases() -> dict[str, dict[str, object]]:
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return {"default": dict(dj_database_url.parse(url, conn_max_age=0))}
    ILIAD7_HOME.mkdir(parents=True, exist_ok=True)
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(ILIAD7_HOME / "iliad7.sqlite3"),
            "OPTIONS": {
                # IMMEDIATE: a write transaction takes the database write lock at
                # BEGIN, so two writers cannot both read the same audit chain head.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": ("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=20000"),
            },
        }
    }


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "store.User"
AUTHENTICATION_BACKENDS = [
    # AxesStandaloneBackend first: it refuses locked-out users before any password check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"  # the web app's home page for the user's roles

# Failed secrets (21 CFR 11.300(d); iliad7.store.throttle): counted per user name *and* source address,
# so that nobody can lock someone else out from elsewhere (the hospitals' users share a few NAT
# addresses: per address alone would lock a whole site; per user name alone would let anyone lock any
# account). After 5 failures the pair waits 1 minute, then 2, 4, 8, ... up to an hour (the handler's
# progressive delay); failures are forgotten a day after the last one, or when the user completes a
# sign-in from that source (so a correct password alone does not reset the second factor's count).
# The second factor, e-signatures and emergency unblinding count their failures here too.
AXES_HANDLER = "iliad7.store.throttle.ProgressiveAxesHandler"
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 24  # hours: how long failures are remembered (the lock itself is the progressive delay)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = False  # iliad7.store.security_events resets at the end of a full sign-in
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # retrying while locked does not lengthen the lock
AXES_LOCKOUT_CALLABLE = "iliad7.store.login.lockout_response"
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password", "otp_token"]
AXES_VERBOSE = False
# django-otp's per-device throttle would let anyone holding the password make the device refuse even
# the right code; the (user, source) count above replaces it.
OTP_TOTP_THROTTLE_FACTOR = 0

# Idle timeout: a signed activity cookie renewed on every response (iliad7.web.idle), so that a
# request that only reads writes nothing (saving the session on every request made each page view
# a database write). The session row itself lives at most SESSION_COOKIE_AGE.
ILIAD7_SESSION_IDLE_SECONDS = int(os.environ.get("ILIAD7_SESSION_IDLE_MINUTES", "15")) * 60
SESSION_COOKIE_AGE = int(os.environ.get("ILIAD7_SESSION_MAX_HOURS", "12")) * 3600
SESSION_SAVE_EVERY_REQUEST = False
# Messages in a signed cookie, never in the session: showing one must not write the session row.
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
HTTPS = _flag("ILIAD7_HTTPS")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 86400 if HTTPS else 0  # a day: raise once TLS is known to be stable
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Everything a page uses comes from this server: HTMX and the style sheet are
# vendored, no fonts or images from elsewhere, no inline scripts or styles.
_SELF, _NONE = "'self'", "'none'"
SECURE_CSP = {
    "default-src": [_SELF],
    "script-src": [_SELF],
    "style-src": [_SELF],
    "img-src": [_SELF],
    "font-src": [_SELF],
    "connect-src": [_SELF],
    "form-action": [_SELF],
    "frame-ancestors": [_NONE],
    "base-uri": [_SELF],
    "object-src": [_NONE],
}

ILIAD7_CONCENTRATION_UG_PER_ML = os.environ.get("ILIAD7_CONCENTRATION_UG_PER_ML", "").strip()
# Usable vials below which the unblinded pharmacist is told to re-supply (default: one full course, 7).
ILIAD7_RESUPPLY_AT_VIALS = os.environ.get("ILIAD7_RESUPPLY_AT_VIALS", "").strip()

OTP_TOTP_ISSUER = "iliad7 ILIAD-7-US-O"

# The audit chain's head, signed after every committed write, outside the database (iliad7.audit.anchor).
ILIAD7_CHECKPOINT_KEY = str(
    Path(os.environ.get("ILIAD7_CHECKPOINT_KEY", "").strip() or ILIAD7_HOME / "keys" / "checkpoint-ed25519.pem")
)
_DEFAULT_CHECKPOINT_SINK = f"file:{ILIAD7_HOME / 'audit' / 'checkpoints.jsonl'}"
ILIAD7_CHECKPOINT_SINKS = [
    url.strip()
    for url in (os.environ.get("ILIAD7_CHECKPOINT_SINKS", "").strip() or _DEFAULT_CHECKPOINT_SINK).split(",")
    if url.strip()
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = str(ILIAD7_HOME / "static")

# Structured logs: JSON lines on standard error (iliad7.observability), one per request
# from `iliad7.request`; ILIAD7_LOG_LEVEL=WARNING silences the request lines.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "iliad7.observability.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "loggers": {
        "axes": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "django": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "iliad7": {"handlers": ["console"], "level": os.environ.get("ILIAD7_LOG_LEVEL", "INFO"), "propagate": False},
    },
}
