"""The exports page: a data manager or statistician starts an SDTM, ADaM, ODM or CSV export and downloads its zip.

The work is `iliad7.web.exports` (the CLI's export code, run in the background, audited as
`read.export`); the page polls the job's progress with htmx (every second, while it runs).
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from iliad7.errors import AccessDenied, InputError
from iliad7.web import exports
from iliad7.web.views import CHANNEL, page


@page
@require_http_methods(["GET", "POST"])
def export_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if not exports.may_export(user):
        raise AccessDenied("only data managers and statisticians export the trial data")
    error, status = "", 200
    if request.method == "POST":
        try:
            name = exports.start_export(user, request.POST.get("kind", ""), channel=CHANNEL)
        except InputError as exc:
            error, status = f"{exc.field}: {exc.message}", 400
        else:
            return redirect("web:export", job_id=name)
    context = {"jobs": exports.export_jobs(user), "kinds": exports.KINDS, "error": error}
    return render(request, "iliad7/web/exports.html", context, status=status)


@page
@require_GET
def export_job(request: HttpRequest, job_id: str) -> HttpResponse:
    """The job's progress; an htmx poll gets the status fragment only."""
    status = exports.export_status(request.user, job_id)
    template = "iliad7/web/_export_status.html" if request.headers.get("HX-Request") else "iliad7/web/export.html"
    return render(request, template, {"job": status})


@page
@require_GET
def export_download(request: HttpRequest, job_id: str) -> HttpResponseBase:
    path = exports.export_zip(request.user, job_id)
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name, content_type="application/zip")
