"""The trial protocol as code: a validated, immutable model of protocols/*.yaml.

    from iliad7.protocol import load_protocol
    protocol = load_protocol()            # the default file (or $ILIAD7_PROTOCOL)
    [site.code for site in protocol.sites]  # ['MSKCC', 'MDACC']

Pure: no Django, no database. The file format and its provenance convention
(registry / clinical-rules / interpretation) are described in docs/protocol.md.
"""

from iliad7.protocol.errors import Problem, ProtocolError
from iliad7.protocol.forms import Check, Choice, Form, Item, Range, When
from iliad7.protocol.loader import PROTOCOL_ENV, default_protocol_path, load_protocol
from iliad7.protocol.models import (
    Arm,
    Assessment,
    Criterion,
    Dosing,
    Eligibility,
    Masking,
    Outcome,
    Protocol,
    Randomization,
    Schedule,
    Site,
    Visit,
)

__all__ = [
    "PROTOCOL_ENV",
    "Arm",
    "Assessment",
    "Check",
    "Choice",
    "Criterion",
    "Dosing",
    "Eligibility",
    "Form",
    "Item",
    "Masking",
    "Outcome",
    "Problem",
    "Protocol",
    "ProtocolError",
    "Randomization",
    "Range",
    "Schedule",
    "Site",
    "Visit",
    "When",
    "default_protocol_path",
    "load_protocol",
]
