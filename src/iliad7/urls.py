"""URL map of the iliad7 web app: health, sign-in, the JSON API and the pages."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path

from iliad7.web.api import api
from iliad7.web.views import static_file


def health(request: HttpRequest) -> JsonResponse:
    """200 with {"status": "ok"} when the database answers, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means "not healthy", whatever its kind
        return JsonResponse({"status": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


def no_favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico; answer with nothing rather than a 404 in every log."""
    return HttpResponse(status=204)


urlpatterns = [
    path("favicon.ico", no_favicon),
    path("health", health),
    path("accounts/", include("iliad7.store.login")),
    path("api/", api.urls),
    # Served by the app itself so that `iliad7 serve` needs no separate static server.
    path("static/<path:path>", static_file),
    path("", include("iliad7.web.urls")),
]
