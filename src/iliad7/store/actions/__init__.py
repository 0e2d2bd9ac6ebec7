"""Every write to the trial database, one function each.

Each action checks the acting user's role and site, runs in one transaction,
locks what it reads-then-writes, and appends its audit record in that same
transaction. Views, the API, the CLI and the simulator all call these.
"""

from iliad7.store.actions.accounts import add_totp_device, add_user, set_user_roles
from iliad7.store.actions.allocation import (
    active_allocation_list,
    allocation_list_problems,
    export_allocation_list,
    generate_allocation_list,
    slot_counts,
    verify_allocation_list,
)
from iliad7.store.actions.capture import (
    CASEBOOK_MEANING,
    FormRejected,
    FormSave,
    answer_query,
    casebook_locked,
    casebook_problems,
    close_query,
    form_locked,
    lock_casebook,
    lock_form,
    raise_query,
    reopen_query,
    save_form,
    set_sdv,
    sign_casebook,
    source_verified,
    unlock_casebook,
    unlock_form,
)
from iliad7.store.actions.consent import (
    complete_reconsent,
    consents_of,
    open_reconsent_tasks,
    record_consent,
)
from iliad7.store.actions.items import (
    current_values,
    item_history,
    record_item_value,
)
from iliad7.store.actions.participants import create_participant, transition_participant
from iliad7.store.actions.pharmacy import (
    Worksheet,
    doses_given,
    drug_accountability,
    pharmacy_worksheet,
    prepare_dose,
    record_dose_given,
    record_drug_receipt,
    record_return,
    record_wastage,
)
from iliad7.store.actions.protocol import (
    ProtocolLoad,
    default_protocol_file,
    load_protocol_version,
)
from iliad7.store.actions.queries import SaeClock, SavedForm, open_queries, query_history, sae_clocks, saved_form
from iliad7.store.actions.randomization import RandomizationResult, randomization_of, randomize_participant
from iliad7.store.actions.screening import (
    evaluate_screening,
    latest_screening,
    record_screen_failure,
    save_screening,
    screening_history,
    screening_log,
)
from iliad7.store.actions.security import record_security_event
from iliad7.store.actions.signatures import (
    SignatureCheck,
    sign_record,
    signable_content,
    verify_signature,
)
from iliad7.store.actions.unblinding import unblind_participant, unblinding_events

__all__ = [
    "CASEBOOK_MEANING",
    "FormRejected",
    "FormSave",
    "ProtocolLoad",
    "RandomizationResult",
    "SaeClock",
    "SavedForm",
    "SignatureCheck",
    "Worksheet",
    "active_allocation_list",
    "add_totp_device",
    "add_user",
    "allocation_list_problems",
    "answer_query",
    "casebook_locked",
    "casebook_problems",
    "close_query",
    "complete_reconsent",
    "consents_of",
    "create_participant",
    "current_values",
    "default_protocol_file",
    "doses_given",
    "drug_accountability",
    "evaluate_screening",
    "export_allocation_list",
    "form_locked",
    "generate_allocation_list",
    "item_history",
    "latest_screening",
    "load_protocol_version",
    "lock_casebook",
    "lock_form",
    "open_queries",
    "open_reconsent_tasks",
    "pharmacy_worksheet",
    "prepare_dose",
    "query_history",
    "raise_query",
    "randomization_of",
    "randomize_participant",
    "record_consent",
    "record_dose_given",
    "record_drug_receipt",
    "record_item_value",
    "record_return",
    "record_screen_failure",
    "record_security_event",
    "record_wastage",
    "reopen_query",
    "sae_clocks",
    "save_form",
    "save_screening",
    "saved_form",
    "screening_history",
    "screening_log",
    "set_sdv",
    "set_user_roles",
    "sign_casebook",
    "sign_record",
    "signable_content",
    "slot_counts",
    "source_verified",
    "transition_participant",
    "unblind_participant",
    "unblinding_events",
    "unlock_casebook",
    "unlock_form",
    "verify_allocation_list",
    "verify_signature",
]
