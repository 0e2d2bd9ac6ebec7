"""Data capture, pure: a form's specification, its edit checks and the values derived on save.

    from iliad7.capture import CaptureContext, form_spec, validate_form, derive
    spec = form_spec(protocol, "VITALS")
    check = validate_form(spec, {"respiratory_rate": "22", ...}, context=CaptureContext(now=...))
    if check.ok:
        derived = derive("VITALS", check.parsed)   # NEWS2 with its components and inputs

No Django, no database: the store's `save_form` action calls these, and so can
a browser preview, the CLI or a test. Forms are defined in the protocol file
(`forms:`, see `iliad7.protocol.forms`).
"""

from iliad7.capture.checks import CaptureContext, FieldMessage, FormCheck, ItemResult, validate_form, validate_item
from iliad7.capture.derive import Derived, derive, sae_deadline
from iliad7.capture.spec import FormSpec, form_spec, unit_key

__all__ = [
    "CaptureContext",
    "Derived",
    "FieldMessage",
    "FormCheck",
    "FormSpec",
    "ItemResult",
    "derive",
    "form_spec",
    "sae_deadline",
    "unit_key",
    "validate_form",
    "validate_item",
]
