"""The DSMB reports in the web app: write the open or closed report of the database, and read it back.

A report is written by `iliad7.store.actions.reports.write_trial_report` (the same action as
`iliad7 report --as USER`) into the user's own folder, ``ILIAD7_HOME/reports/<username>/<name>``;
the page lists that folder and serves only its files to that user. A closed report is served
again only while the user still holds a role that may see it, and the DSMB writes one only after
stating, on the form, that it sits in closed session (audited with the report).
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
from iliad7.errors import AccessDenied, Iliad7Error
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
    return home / "reports" / str(user.username)


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
    """The user's reports and the form that writes a new one."""
    from iliad7.store.actions.reports import may_see_closed_report, write_trial_report

    user: Any = request.user
    access.require(user, Capability.VIEW_REPORTS)
    closed_possible = may_see_closed_report(user, closed_session=True)
    needs_session = closed_possible and not may_see_closed_report(user)
    status = 200
    error = ""
    if request.method == "POST":
        kind = request.POST.get("kind", "")
        session = request.POST.get("closed_session") == "yes"
        if kind not in ("open", "closed"):
            error = "Choose the open or the closed report."
        elif kind == "closed" and needs_session and not session:
            error = "The DSMB sees the closed report only in closed session: confirm that it sits closed."
        else:
            name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{kind}"
            try:
                write_trial_report(
                    user, _folder(user) / name, closed=kind == "closed", closed_session=session, channel=CHANNEL
                )
            except AccessDenied:
                raise  # the 403 page, not a message on the form
            except Iliad7Error as exc:
                error = str(exc)
            else:
                messages.success(request, f"The {kind} report was written.")
                return redirect("web:report-file", name=name, filename="report.html")
        status = 400
    context = {
        "reports": _listing(user),
        "closed_possible": closed_possible,
        "needs_session": needs_session,
        "error": error,
    }
    return render(request, "iliad7/web/reports.html", context, status=status)


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
    if match.group(1) == "closed" and not may_see_closed_report(user, closed_session=True):
        raise AccessDenied("the closed report is for the unblinded statistician and the DSMB in closed session")
    # FileResponse closes the file when the response is done.
    response = FileResponse(path.open("rb"), content_type=FILES[filename])
    if filename == "report.html":
        response["Content-Security-Policy"] = _REPORT_CSP
    else:
        response["Content-Disposition"] = f'attachment; filename="{name}-{filename}"'
    return response
