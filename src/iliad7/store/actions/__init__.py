"""Every write to the trial database, one function each.

Each action checks the acting user's role and site, runs in one transaction,
locks what it reads-then-writes, and appends its audit record in that same
transaction. Views, the API, the CLI and the simulator all call these.
"""

from iliad7.store.actions.accounts import add_totp_device, add_user, set_user_roles
from iliad7.store.actions.items import (
    current_values,
    item_history,
    record_item_value,
)
from iliad7.store.actions.participants import create_participant, transition_participant
from iliad7.store.actions.protocol import (
    ProtocolLoad,
    default_protocol_file,
    load_protocol_version,
)
from iliad7.store.actions.security import record_security_event
from iliad7.store.actions.signatures import (
    SignatureCheck,
    sign_record,
    signable_content,
    verify_signature,
)

__all__ = [
    "ProtocolLoad",
    "SignatureCheck",
    "add_totp_device",
    "add_user",
    "create_participant",
    "current_values",
    "default_protocol_file",
    "item_history",
    "load_protocol_version",
    "record_item_value",
    "record_security_event",
    "set_user_roles",
    "sign_record",
    "signable_content",
    "transition_participant",
    "verify_signature",
]
