"""Schemas shared by the API's modules (iliad7.web.api and the routers it mounts)."""

from __future__ import annotations

from typing import Any

from ninja import Schema


class ErrorOut(Schema):
    """Every error answer: what went wrong, and the field it is about when there is one."""

    detail: Any
    field: str | None = None
