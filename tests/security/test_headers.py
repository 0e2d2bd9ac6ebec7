"""ASVS V14.4: CSP and the other security headers on every kind of answer, error answers included."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _check(response, url: str) -> None:  # type: ignore[no-untyped-def]
    csp = response["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ):
        assert directive in csp, (url, directive)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp, url
    assert response["X-Frame-Options"] == "DENY", url
    assert response["X-Content-Type-Options"] == "nosniff", url
    assert response["Referrer-Policy"] == "same-origin", url
    assert response["Cross-Origin-Opener-Policy"] == "same-origin", url
    assert "Server" not in response or "python" not in response["Server"].lower(), url
    assert len(response["X-Request-ID"]) >= 8, url  # structured logs: each answer names its request


def test_every_answer_carries_the_security_headers(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    anonymous = Client()
    for url in (
        "/accounts/login/",
        "/health",
        "/api/participants",
        "/participants/",
        "/no-such-page",
        "/static/iliad7/iliad7.css",
    ):
        _check(anonymous.get(url), url)
    client = login(staff["coordinator@MSKCC"])
    other = trial["randomized@MDACC"].screening_number
    own = trial["randomized@MSKCC"].screening_number
    for url in (
        "/",
        f"/participants/{own}/",
        f"/participants/{other}/",
        "/api/openapi.json",
        f"/api/participants/{other}",
        "/api/audit/verify",
        "/audit/",
    ):
        _check(client.get(url), url)
    _check(client.post("/api/participants", data="{", content_type="application/json"), "POST without CSRF")


def test_an_error_answer_shows_no_debug_page(staff, login) -> None:  # type: ignore[no-untyped-def]
    from django.conf import settings

    assert settings.DEBUG is False
    client = login(staff["coordinator@MSKCC"])
    response = client.get("/participants/MDACC-S999/")
    assert response.status_code == 404
    assert b"Traceback" not in response.content and b"settings" not in response.content.lower()


def test_a_request_id_from_a_proxy_is_kept_and_a_malformed_one_replaced() -> None:
    client = Client()
    assert client.get("/health", HTTP_X_REQUEST_ID="proxy-abc-12345")["X-Request-ID"] == "proxy-abc-12345"
    replaced = client.get("/health", HTTP_X_REQUEST_ID="<script>alert(1)</script>")["X-Request-ID"]
    assert replaced != "<script>alert(1)</script>" and replaced.isalnum()
