"""A form as the capture code reads it: the protocol's form with the visits it may be filled at."""

from __future__ import annotations

from dataclasses import dataclass

from iliad7.errors import NotFound
from iliad7.protocol import Form, Item, Protocol, Schedule, Visit


def unit_key(item_id: str) -> str:
    """The key of an item's unit in a form's values: `alc.unit` beside `alc`."""
    return f"{item_id}.unit"


@dataclass(frozen=True)
class FormSpec:
    """One eCRF: its definition and, for a form filled at visits, those visits in schedule order."""

    form: Form
    visits: tuple[Visit, ...]
    schedule: Schedule

    @property
    def id(self) -> str:
        return self.form.id

    @property
    def items(self) -> tuple[Item, ...]:
        return self.form.items

    def visit(self, visit_id: str) -> Visit | None:
        for visit in self.visits:
            if visit.id == visit_id:
                return visit
        return None


def form_spec(protocol: Protocol, form_id: str) -> FormSpec:
    """The form `form_id` of `protocol`; NotFound naming the known forms otherwise."""
    try:
        form = protocol.form(form_id)
    except KeyError:
        known = ", ".join(f.id for f in protocol.forms)
        raise NotFound(f"no form {form_id!r} in protocol {protocol.id} (forms: {known})") from None
    wanted = {v for a in form.assessments for v in protocol.schedule.assessment(a).visits}
    visits = tuple(v for v in protocol.schedule.visits if v.id in wanted)
    return FormSpec(form=form, visits=visits, schedule=protocol.schedule)
