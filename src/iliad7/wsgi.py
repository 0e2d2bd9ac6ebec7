"""WSGI entry point for `iliad7 serve` (gunicorn iliad7.wsgi)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iliad7.settings")
application = get_wsgi_application()
