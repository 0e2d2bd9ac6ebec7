"""The DSMB reports in the web app: write the open or closed report of the database, and read it back.

A report is written by `iliad7.store.actions.reports.write_trial_report` (the same action as
`iliad7 report --as USER`) into the user's own folder, ``ILIAD7_HOME/reports/user-<id>/<name>``
(named by the account's row id, never by a typed name: no path is built from what a person typed);
the page lists that folder and serves only its files to that user. A closed report is served again
only while the user may see it: the unblinded statistician, or a DSMB member while a closed session
scheduled for them is open; each time it is an audited read (`read.closed_report`). The unblinded
statistician schedules those sessions here (`iliad7.store.actions.dsmb`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from iliad7.accounts.roles import Capability
from iliad7.errors import AccessDenied, Iliad7Error, InputError
from iliad7.store import access
from iliad7.web.views import CHANNEL, page

FILES = {
    "report.html": "text/html; charset=utf-8",
    "report.pdf": "application/pdf",
    "ard.json": "application/json",
}
_NAME = re.compile(r"^\d{8}T\d{6}\d{6}Z-(open|closed)$")
# The report is one self-contained page: its own style element and figures as data: images, nothing else.
_REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


def _folder(user: Any) -> Path:
    home: Path = Path(settings.ILIAD7_HOME)
    return home / "reports" / f"user-{int(user.pk)}"


def _listing(user: Any) -> list[dict[str, str]]:
    folder = _folder(user)
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir(), reverse=True):
        match = _NAME.match(entry.name)
        if match and (entry / "ard.json").is_file():
            stamp = datetime.strptime(entry.name[:22], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
            found.append({"name": entry.name, "kind": match.group(1), "written": stamp.isoformat(timespec="seconds")})
    return found


@page
@require_http_methods(["GET", "POST"])
def reports(request: HttpRequest) -> HttpResponse:
    """The user's reports and the form that writes a new one; the statistician also schedules closed sessions."""
    from iliad7.store.actions.dsmb import closed_sessions
    from iliad7.store.actions.reports import may_see_closed_report, write_trial_report

    user: Any = request.user
    access.require(user, Capability.VIEW_REPORTS)
    closed_possible = may_see_closed_report(user, closed_session=True)
    dsmb = access.can(user, Capability.VIEW_ALLOCATION_CLOSED_SESSION)
    scheduler = access.can(user, Capability.SCHEDULE_CLOSED_SESSION)
    status = 200
    error = ""
    errors: dict[str, str] = {}
    typed = {k: request.POST.get(k, "") for k in ("members", "starts_at", "ends_at", "purpose")}
    if request.method == "POST" and request.POST.get("step") == "schedule":
        try:
            _schedule(user, typed)
        except InputError as exc:
            errors[exc.field] = exc.message
            status = 400
        else:
            messages.success(request, "The closed session was scheduled.")
            return redirect("web:reports")
    elif request.method == "POST":
        kind = request.POST.get("kind", "")
        if kind not in ("open", "closed"):
            error = "Choose the open or the closed report."
        elif kind == "closed" and dsmb and not closed_possible:
            error = (
                "The DSMB sees the closed report only in a closed session that the unblinded statistician "
                "scheduled for you, while it is open; none is open for you now."
            )
        else:
            name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{kind}"
            try:
                write_trial_report(
                    user, _folder(user) / name, closed=kind == "closed", closed_session=dsmb, channel=CHANNEL
                )
            except AccessDenied:
                raise  # the 403 page, not a message on the form
            except Iliad7Error as exc:
                error = str(exc)
            else:
                messages.success(request, f"The {kind} report was written.")
                done = redirect("web:report-file", name=name, filename="report.html")
                if request.headers.get("HX-Request"):  # the htmx form (spinner): the browser goes there itself
                    answer = HttpResponse(status=200)
                    answer["HX-Redirect"] = done["Location"]
                    return answer
                return done
        # htmx swaps 2xx answers only: its form gets the refusal as a page to show (a plain POST keeps the 400).
        status = 200 if request.headers.get("HX-Request") else 400
    context = {
        "reports": _listing(user),
        "closed_possible": closed_possible,
        "dsmb": dsmb,
        "scheduler": scheduler,
        "sessions": closed_sessions(user) if scheduler or dsmb else [],
        "error": error,
        "errors": errors,
        "typed": typed,
    }
    return render(request, "iliad7/web/reports.html", context, status=status)


def _schedule(user: Any, typed: dict[str, str]) -> None:
    from iliad7.store.actions.dsmb import schedule_closed_session

    def moment(field: str) -> datetime:
        try:
            value = datetime.fromisoformat(typed[field].strip())
        except ValueError:
            raise InputError(field, "give a date and time (UTC) as YYYY-MM-DD HH:MM") from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    schedule_closed_session(
        members=[m for m in typed["members"].replace(",", " ").split() if m],
        starts_at=moment("starts_at"),
        ends_at=moment("ends_at"),
        purpose=typed["purpose"],
        acting_user=user,
        channel=CHANNEL,
    )


@page
def report_file(request: HttpRequest, name: str, filename: str) -> HttpResponseBase:
    """One file of one of the user's own reports."""
    from iliad7.store.actions.reports import may_see_closed_report

    user: Any = request.user
    access.require(user, Capability.VIEW_REPORTS)
    match = _NAME.match(name)
    if match is None or filename not in FILES:
        raise Http404(name)
    path = _folder(user) / name / filename
    if not path.is_file():
        raise Http404(name)
    if match.group(1) == "closed":
        if not may_see_closed_report(user, closed_session=True):
            raise AccessDenied(
                "the closed report is for the unblinded statistician and the DSMB in a closed session that is open now"
            )
        from iliad7.store.actions.reads import audit_read

        audit_read(user, "closed_report", f"{name}/{filename}", channel=CHANNEL)
    # FileResponse closes the file when the response is done.
    response = FileResponse(path.open("rb"), content_type=FILES[filename])
    if filename == "report.html":
        response["Content-Security-Policy"] = _REPORT_CSP
    else:
        response["Content-Disposition"] = f'attachment; filename="{name}-{filename}"'
    return response
