"""Sign-in for the web app and the API: password, then a TOTP step for the roles that need it.

`/accounts/login/` is Django's LoginView (CSRF-protected; django-axes counts
failures and locks out; the same message for an unknown user and a wrong
password). Users whose roles need a second factor (accounts.roles.needs_totp)
then pass `/accounts/second-factor/`; until they do,
SecondFactorRequiredMiddleware lets them reach nothing else. Page design
belongs to the web app; these templates are deliberately plain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET

from iliad7.accounts.roles import role_names
from iliad7.store.access import roles_of, second_factor_required
from iliad7.store.actions.security import record_security_event

SECOND_FACTOR_URL = "/accounts/second-factor/"
# Reachable before the second factor: signing in and out, health, static files.
EXEMPT_PREFIXES = ("/accounts/login/", SECOND_FACTOR_URL, "/accounts/logout/", "/health", "/static/")


def _is_verified(user: Any) -> bool:
    check = getattr(user, "is_verified", None)
    return bool(check()) if callable(check) else False


def _channel(request: HttpRequest) -> str:
    return "api" if request.path.startswith("/api") else "web"


def _safe_next(request: HttpRequest, fallback: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or fallback
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


class SecondFactorRequiredMiddleware:
    """Stop a signed-in user who needs a second factor and has not given it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(EXEMPT_PREFIXES)
            and not _is_verified(user)
            and second_factor_required(user)
        ):
            if request.path.startswith("/api"):
                return JsonResponse({"detail": "second factor required"}, status=403)
            return redirect(f"{SECOND_FACTOR_URL}?next={quote(request.get_full_path())}")
        return self.get_response(request)


class LoginView(auth_views.LoginView):
    template_name = "iliad7/login.html"

    def get_success_url(self) -> str:
        url = super().get_success_url()
        if second_factor_required(self.request.user):  # type: ignore[arg-type]
            return f"{SECOND_FACTOR_URL}?next={quote(url)}"
        return url


class TokenForm(forms.Form):
    otp_token = forms.CharField(
        label="Code from your authenticator app",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


@login_required
def second_factor(request: HttpRequest) -> HttpResponse:
    """Ask for the TOTP code; on success mark the session as verified."""
    import django_otp

    user = request.user
    form = TokenForm(request.POST or None)
    enrolled = django_otp.user_has_device(user)
    if request.method == "POST" and form.is_valid():
        device = django_otp.match_token(user, form.cleaned_data["otp_token"].strip())
        roles = role_names(roles_of(user))  # type: ignore[arg-type]
        if device is not None:
            django_otp.login(request, device)
            record_security_event(
                "auth.second_factor_passed",
                actor=user.get_username(),
                role=roles,
                channel=_channel(request),
                object_type="user",
                object_id=user.get_username(),
            )
            return redirect(_safe_next(request))
        record_security_event(
            "auth.second_factor_failed",
            actor=user.get_username(),
            role=roles,
            channel=_channel(request),
            object_type="user",
            object_id=user.get_username(),
        )
        form.add_error("otp_token", "That code is not valid. Try the current code.")
    return render(
        request,
        "iliad7/second_factor.html",
        {"form": form, "enrolled": enrolled, "next": _safe_next(request)},
        status=400 if form.errors else 200,
    )


@require_GET
@login_required
def me(request: HttpRequest) -> JsonResponse:
    """Who is signed in: user name, roles, sites, and whether the second factor was given."""
    user = request.user
    return JsonResponse(
        {
            "username": user.get_username(),
            "roles": sorted(roles_of(user)),  # type: ignore[arg-type]
            "sites": sorted(user.sites.values_list("code", flat=True)),  # type: ignore[union-attr]
            "second_factor_verified": _is_verified(user),
        }
    )


urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="/accounts/login/"), name="logout"),
    path("second-factor/", second_factor, name="second-factor"),
    path("me", me, name="me"),
]
