"""Sign-in for the web app and the API: password, then a TOTP step for the roles that need it.

`/accounts/login/` is Django's LoginView (CSRF-protected; django-axes counts
failures per user name and source and locks that pair for a growing delay,
`iliad7.store.throttle`; the same message for an unknown user and a wrong
password). Users whose roles need a second factor (accounts.roles.needs_totp)
then pass `/accounts/second-factor/`, whose wrong codes count in the same
(user, source) pair; until they do, SecondFactorRequiredMiddleware lets them
reach nothing else. The session id changes at sign-in (Django) and again when
the second factor is given. Page design belongs to the web app; these
templates are deliberately plain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET

from iliad7.accounts.roles import role_names
from iliad7.store import throttle
from iliad7.store.access import roles_of, second_factor_required, separation_of_duties_problems
from iliad7.store.actions.security import record_security_event

SECOND_FACTOR_URL = "/accounts/second-factor/"
DASHBOARD_URL = "/dashboard/"
LAND_ON_DASHBOARD = frozenset({"coordinator", "monitor"})
LOGIN_PATH = "/accounts/login/"
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


class SignInForm(AuthenticationForm):
    """Django's sign-in form, refusing an account whose roles break separation of duties."""

    separation_of_duties: tuple[str, ...] = ()

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        conflicts = separation_of_duties_problems(user)
        if conflicts:
            # Shown only after the password matched, so it tells nothing to someone guessing names.
            self.separation_of_duties = tuple(conflicts)
            raise forms.ValidationError(
                "This account holds roles that one account may not combine (" + "; ".join(conflicts) + "). "
                "It cannot sign in until an administrator separates them.",
                code="separation_of_duties",
            )


class LoginView(auth_views.LoginView):
    template_name = "iliad7/login.html"
    authentication_form = SignInForm

    def get_success_url(self) -> str:
        url = super().get_success_url()
        if url == settings.LOGIN_REDIRECT_URL and roles_of(self.request.user) & LAND_ON_DASHBOARD:  # type: ignore[arg-type]
            url = DASHBOARD_URL  # no page asked for: coordinators and monitors start at the record status
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
    """Ask for the TOTP code; on success mark the session as verified and give it a new id.

    Wrong codes count against (user, source) like wrong passwords (`iliad7.store.throttle`): from a
    source that has failed too often, even the right code waits until the delay has run, while the
    user signing in from anywhere else is not held up.
    """
    import django_otp

    user = request.user
    username = user.get_username()
    form = TokenForm(request.POST or None)
    enrolled = django_otp.user_has_device(user)
    status = 200
    if request.method == "POST" and form.is_valid():
        roles = role_names(roles_of(user))  # type: ignore[arg-type]
        wait = throttle.retry_after(request, username)
        if wait > 0:
            form.add_error("otp_token", str(throttle.TooManyAttempts(wait)).capitalize() + ".")
            return _second_factor_page(request, form, enrolled, 429)
        device = django_otp.match_token(user, form.cleaned_data["otp_token"].strip())
        if device is not None:
            django_otp.login(request, device)
            # A new session id for the now fully signed-in session (a planted or observed id is worthless).
            request.session.cycle_key()
            throttle.passed(request, username)
            record_security_event(
                "auth.second_factor_passed",
                actor=username,
                role=roles,
                channel=_channel(request),
                object_type="user",
                object_id=username,
            )
            return redirect(_safe_next(request))
        record_security_event(
            "auth.second_factor_failed",
            actor=username,
            role=roles,
            channel=_channel(request),
            object_type="user",
            object_id=username,
            detail={"ip": throttle.source_text(request)},
        )
        throttle.failed(request, username, "second factor")
        form.add_error("otp_token", "That code is not valid. Try the current code.")
    if form.errors:
        status = 400
    return _second_factor_page(request, form, enrolled, status)


def _second_factor_page(request: HttpRequest, form: TokenForm, enrolled: bool, status: int) -> HttpResponse:
    return render(
        request,
        "iliad7/second_factor.html",
        {"form": form, "enrolled": enrolled, "next": _safe_next(request)},
        status=status,
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """What django-axes answers when a (user, source) pair is locked (AXES_LOCKOUT_CALLABLE).

    The sign-in page says so (429) in the same words for a real and an unknown user name; the API
    answers JSON. A page that asked for a code again (second factor, signature, unblinding) has
    already said what went wrong, and keeps its own answer.
    """
    username = str((credentials or {}).get("username") or request.POST.get("username", ""))
    wait = max(throttle.retry_after(request, username), 1)
    message = str(throttle.TooManyAttempts(wait))
    if request.path.startswith("/api"):
        response: HttpResponse = JsonResponse({"detail": message, "field": "credentials"}, status=429)
    elif request.path.startswith(LOGIN_PATH):
        from django.contrib.auth.forms import AuthenticationForm

        form = AuthenticationForm(request, initial={"username": username})
        context = {"form": form, "locked": message[:1].upper() + message[1:] + ".", "next": _safe_next(request)}
        response = render(request, "iliad7/login.html", context, status=429)
    elif original_response is not None:
        return original_response
    else:
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(wait)
    return response


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
