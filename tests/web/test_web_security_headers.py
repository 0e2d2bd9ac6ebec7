"""Security headers on every answer, no request to anywhere but this server, HTMX vendored."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

STATIC = Path(__file__).resolve().parents[2] / "src" / "iliad7" / "web" / "static" / "iliad7"
EXTERNAL = re.compile(r"""(?:https?:)?//(?!127\.0\.0\.1|localhost|\[::1\])[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)


def _pages(trial) -> list[str]:  # type: ignore[no-untyped-def]
    sn = trial["randomized@MSKCC"].screening_number
    return [
        "/",
        "/participants/",
        f"/participants/{sn}/",
        f"/participants/{trial['new@MSKCC'].screening_number}/screening/",
        f"/participants/{sn}/consent/",
        f"/participants/{sn}/randomize/",
        f"/participants/{sn}/unblind/",
        "/screening-log/",
    ]


def test_pages_and_api_send_the_security_headers(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["investigator@MSKCC"])
    for url in [*_pages(trial), "/api/participants", "/api/openapi.json", "/accounts/login/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        csp = response["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, url
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_no_page_refers_to_anything_outside_this_server(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["investigator@MSKCC"])
    for url in _pages(trial):
        body = client.get(url).content.decode()
        assert not EXTERNAL.search(body), (url, EXTERNAL.search(body))
        # No inline script or style: CSP would block it, so none may be relied on.
        assert not re.search(r"<script(?![^>]*\bsrc=)", body), url
        assert "<style" not in body and " style=" not in body, url
        for src in re.findall(r'(?:src|href)="([^"]+)"', body):
            assert src.startswith(("/", "#")), (url, src)
    login_page = client.get("/accounts/login/").content.decode()
    assert not EXTERNAL.search(login_page)


def test_htmx_and_the_style_sheet_are_served_from_this_server(client) -> None:  # type: ignore[no-untyped-def]
    notice = (STATIC / "htmx.NOTICE.md").read_text()
    digest = hashlib.sha256((STATIC / "htmx.min.js").read_bytes()).hexdigest()
    assert digest in notice and "2.0.11" in notice and "0BSD" in notice
    assert (STATIC / "htmx.LICENSE.txt").exists()
    for path in ("/static/iliad7/htmx.min.js", "/static/iliad7/iliad7.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"".join(response.streaming_content)
    assert client.get("/static/iliad7/../../settings.py").status_code in (400, 404)  # never a file outside
    assert client.get("/static/iliad7/nothing.js").status_code == 404


def test_health_answers_without_signing_in(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_htmx_takes_the_csrf_token_from_the_page(staff, login) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["coordinator@MSKCC"])
    body = client.get("/").content.decode()
    token = re.search(r"""<body hx-headers='\{"X-CSRFToken": "([^"]+)"\}'>""", body)
    assert token is not None
    assert '"includeIndicatorStyles": false' in body  # htmx would otherwise add an inline style CSP blocks
