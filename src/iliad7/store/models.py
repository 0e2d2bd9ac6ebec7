"""Tables of the trial database.

Writes happen only in `iliad7.store.actions`; no model overrides `save()`.
Audit records, item value versions and signatures are append-only: the
actions never update or delete them, and database triggers (migration 0002)
refuse UPDATE and DELETE on their tables; migration 0004 does the same for
the IRT's screening versions, consents, unblinding events, drug movements,
preparations and doses given.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from iliad7.accounts.roles import ROLES
from iliad7.accounts.status import ParticipantStatus

CHANNELS = (("cli", "cli"), ("web", "web"), ("api", "api"), ("system", "system"))


class ProtocolVersion(models.Model):
    """One loaded protocol file, byte for byte; an amendment adds a row, never edits one."""

    version = models.PositiveIntegerField(unique=True)
    sha256 = models.CharField(max_length=64, unique=True)
    raw_text = models.TextField()
    source_name = models.CharField(max_length=255)
    loaded_at = models.DateTimeField()

    class Meta:
        ordering = ("version",)

    def __str__(self) -> str:
        return f"protocol v{self.version} ({self.sha256[:12]})"


class Site(models.Model):
    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ("id",)  # the protocol's order

    def __str__(self) -> str:
        return self.code


class User(AbstractUser):
    """An account; `full_name` is the printed name shown on electronic signatures."""

    full_name = models.CharField(max_length=200, blank=True)
    sites = models.ManyToManyField(Site, blank=True, related_name="users")

    def printed_name(self) -> str:
        return self.full_name or self.get_full_name() or self.username


class RoleGrant(models.Model):
    """One role held by one user (a user may hold several)."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="role_grants")
    role = models.CharField(max_length=32, choices=[(r, r) for r in ROLES])
    granted_at = models.DateTimeField()

    class Meta:
        constraints = (models.UniqueConstraint(fields=("user", "role"), name="one_grant_per_role"),)


class Participant(models.Model):
    screening_number = models.CharField(max_length=32, unique=True)
    usubjid = models.CharField(max_length=64, unique=True, null=True, blank=True)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="participants")
    status = models.CharField(
        max_length=24,
        choices=[(s.value, s.value) for s in ParticipantStatus],
        default=ParticipantStatus.SCREENED.value,
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ("screening_number",)

    def __str__(self) -> str:
        return self.screening_number


class ItemValue(models.Model):
    """One version of one item value; version 1 is the entry, later versions corrections."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="values")
    form = models.CharField(max_length=64)
    visit = models.CharField(max_length=64, blank=True, default="")
    instance = models.PositiveIntegerField(default=1)
    item = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    value = models.TextField(blank=True)
    unit = models.CharField(max_length=32, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    channel = models.CharField(max_length=8, choices=CHANNELS)
    # Null for a value entered by a person; for a value derived on save (NEWS2, SOFA, WHO scale,
    # CTCAE grade), canonical JSON of the rule, the inputs it came from and the score's result.
    derivation = models.TextField(null=True, blank=True)

    class Meta:
        ordering = (
            "participant_id",
            "form",
            "visit",
            "instance",
            "item",
            "version",
        )
        constraints = (
            models.UniqueConstraint(
                fields=("participant", "form", "visit", "instance", "item", "version"),
                name="one_row_per_item_version",
            ),
        )


class Signature(models.Model):
    """A Part 11 electronic signature, bound by hash to the content it signs."""

    signer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="signatures")
    printed_name = models.CharField(max_length=200)
    signed_at = models.DateTimeField()
    meaning = models.CharField(max_length=200)
    target_type = models.CharField(max_length=32)
    target_id = models.CharField(max_length=64)
    content_hash = models.CharField(max_length=64)
    binding_hash = models.CharField(max_length=64, unique=True)
    channel = models.CharField(max_length=8, choices=CHANNELS)


class AuditRecord(models.Model):
    """One link of the audit chain; ids are consecutive, assigned under the chain lock."""

    id = models.BigIntegerField(primary_key=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    role = models.CharField(max_length=400, blank=True)
    channel = models.CharField(max_length=8, choices=CHANNELS)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=200, blank=True)
    old_value = models.TextField(blank=True)  # canonical JSON, "" when none
    new_value = models.TextField(blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ("id",)


class AuditChainHead(models.Model):
    """The single row writers lock to append; also records the chain's last id and hash."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)


# ---- The IRT (issue 4): screening, consent, allocation, unblinding, pharmacy ----------------------


class ScreeningVersion(models.Model):
    """One saved version of a participant's screening record (clinical-rules section 3); append-only.

    `data` is the record as entered; `verdict`, `failed`, `unknown` and `criteria`
    are `iliad7.eligibility.screen`'s judgement of it at the time it was saved.
    """

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="screenings")
    version = models.PositiveIntegerField()
    data = models.JSONField()
    verdict = models.CharField(max_length=16)
    failed = models.JSONField(default=list)
    unknown = models.JSONField(default=list)
    criteria = models.JSONField(default=list)  # [{"id", "status", "reason", "missing"}] in protocol order
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    channel = models.CharField(max_length=8, choices=CHANNELS)

    class Meta:
        ordering = ("participant_id", "version")
        constraints = (
            models.UniqueConstraint(fields=("participant", "version"), name="one_row_per_screening_version"),
        )


class Consent(models.Model):
    """One informed consent (the first one, or the written re-consent after an emergency oral one)."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="consents")
    consent_type = models.CharField(max_length=16)  # written | emergency_oral
    given_by = models.CharField(max_length=40)  # participant | legally_authorized_representative
    obtained_at = models.DateTimeField()
    form_version = models.CharField(max_length=64)
    obtained_by = models.CharField(max_length=200)
    is_reconsent = models.BooleanField(default=False)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    channel = models.CharField(max_length=8, choices=CHANNELS)

    class Meta:
        ordering = ("participant_id", "obtained_at", "id")


class ReconsentTask(models.Model):
    """Opened by an emergency oral consent; stays open until the written re-consent is recorded."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="reconsent_tasks")
    opened_by_consent = models.OneToOneField(Consent, on_delete=models.PROTECT, related_name="reconsent_task")
    opened_at = models.DateTimeField()
    completed_by_consent = models.OneToOneField(
        Consent, on_delete=models.PROTECT, null=True, blank=True, related_name="completes_task"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("opened_at", "id")


class AllocationList(models.Model):
    """A generated allocation list: everything needed to re-derive its arms from the seed.

    At most one list is active; a replaced list is kept (inactive), never deleted. The seed
    is stored only sealed under the blinding key, which lives outside the database
    (`iliad7.store.blinding_key`); database triggers keep every column but `active` as
    generated, and `active` can only go from true to false.
    """

    sealed_seed = models.CharField(max_length=200)
    strata = models.JSONField()  # stratum codes, in generation order
    slots_per_stratum = models.PositiveIntegerField()
    design = models.JSONField()  # {"ratio", "block_sizes", "block_size_choice"}
    protocol_version = models.ForeignKey(ProtocolVersion, on_delete=models.PROTECT, null=True, related_name="+")
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ("id",)
        constraints = (
            models.UniqueConstraint(
                fields=("active",), condition=models.Q(active=True), name="one_active_allocation_list"
            ),
        )


class AllocationSlot(models.Model):
    """One line of an allocation list. The ONLY place the arm is stored.

    The `arm` column is read only by `iliad7.store.access.access_allocation` and
    by the allocation-list actions (export, verify); a test greps the sources.
    """

    allocation_list = models.ForeignKey(AllocationList, on_delete=models.PROTECT, related_name="slots")
    stratum = models.CharField(max_length=32)
    block = models.PositiveIntegerField()
    block_size = models.PositiveSmallIntegerField()
    sequence = models.PositiveIntegerField()
    randomization_number = models.CharField(max_length=48)
    arm = models.CharField(max_length=32)
    kit_code = models.CharField(max_length=16)
    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, null=True, blank=True, related_name="allocation_slot"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("allocation_list_id", "id")
        constraints = (
            models.UniqueConstraint(fields=("allocation_list", "stratum", "sequence"), name="one_slot_per_sequence"),
            models.UniqueConstraint(
                fields=("allocation_list", "randomization_number"), name="unique_randomization_number"
            ),
            models.UniqueConstraint(fields=("allocation_list", "kit_code"), name="unique_kit_code"),
        )
        indexes = (models.Index(fields=("allocation_list", "stratum", "participant")),)


class UnblindingEvent(models.Model):
    """An investigator's emergency unblinding of one participant: who, when, why. Never the arm."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="unblindings")
    unblinded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    unblinded_at = models.DateTimeField()
    reason = models.TextField()
    channel = models.CharField(max_length=8, choices=CHANNELS)

    class Meta:
        ordering = ("unblinded_at", "id")


class DrugLot(models.Model):
    """A lot of CYT107 vials held by a site's pharmacy."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="drug_lots")
    lot = models.CharField(max_length=64)
    expiry = models.DateField()

    class Meta:
        ordering = ("site_id", "lot")
        constraints = (models.UniqueConstraint(fields=("site", "lot"), name="one_lot_per_site"),)


class DrugMovement(models.Model):
    """Vials in or out of a lot: received, dispensed (into a syringe), wasted or returned."""

    KINDS = ("received", "dispensed", "wasted", "returned")

    lot = models.ForeignKey(DrugLot, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=16, choices=[(k, k) for k in KINDS])
    vials = models.PositiveIntegerField()
    at = models.DateTimeField()
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    preparation = models.ForeignKey("Preparation", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.TextField(blank=True)
    channel = models.CharField(max_length=8, choices=CHANNELS)

    class Meta:
        ordering = ("lot_id", "at", "id")


class Preparation(models.Model):
    """The unblinded pharmacist's preparation of one dose's syringe.

    `label`, `volume_ml`, `dose_number`, `lot` and the times are blinded-safe (the
    same for either arm); `contents` and `vials_dispensed` reveal the arm and are
    shown only to the unblinded pharmacist (pharmacy actions check the role).
    """

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="preparations")
    dose_number = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=32)  # kit code + dose number, identical in form for both arms
    weight_kg = models.DecimalField(max_digits=6, decimal_places=2)
    concentration_ug_per_ml = models.DecimalField(max_digits=10, decimal_places=3)
    dose_ug = models.PositiveIntegerField()  # the dose the weight calls for (the active syringe's content)
    volume_ml = models.DecimalField(max_digits=6, decimal_places=2)
    lot = models.ForeignKey(DrugLot, on_delete=models.PROTECT, related_name="preparations")
    contents = models.CharField(max_length=200)  # unblinded
    vials_dispensed = models.PositiveSmallIntegerField()  # unblinded: 0 for a saline syringe
    prepared_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    prepared_at = models.DateTimeField()
    channel = models.CharField(max_length=8, choices=CHANNELS)

    class Meta:
        ordering = ("participant_id", "dose_number")
        constraints = (models.UniqueConstraint(fields=("participant", "dose_number"), name="one_preparation_per_dose"),)


class DoseAdministration(models.Model):
    """A dose given at the bedside (blinded): the syringe label and volume, never the arm."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="doses")
    dose_number = models.PositiveSmallIntegerField()
    preparation = models.OneToOneField(Preparation, on_delete=models.PROTECT, related_name="administration")
    given_at = models.DateTimeField()
    injection_site = models.CharField(max_length=64)
    volume_ml = models.DecimalField(max_digits=6, decimal_places=2)
    local_reaction = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    channel = models.CharField(max_length=8, choices=CHANNELS)

    class Meta:
        ordering = ("participant_id", "dose_number")
        constraints = (models.UniqueConstraint(fields=("participant", "dose_number"), name="one_dose_per_number"),)


class DoseCorrection(models.Model):
    """A signed correction of a dose given (issue 16): the dose record as corrected, a new version; append-only.

    The dose given (`DoseAdministration`) is version 1 and is never changed; each
    correction carries every field as corrected, the reason, and the corrector's
    electronic signature (`Signature`, target type `dose_correction`). The dose in
    force is its latest version (`iliad7.store.actions.pharmacy.doses_given`).
    """

    dose = models.ForeignKey(DoseAdministration, on_delete=models.PROTECT, related_name="corrections")
    version = models.PositiveIntegerField()  # 2, 3, ...: the dose given is version 1
    given_at = models.DateTimeField()
    injection_site = models.CharField(max_length=64)
    volume_ml = models.DecimalField(max_digits=6, decimal_places=2)
    local_reaction = models.CharField(max_length=200, blank=True)
    reason = models.TextField()
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    channel = models.CharField(max_length=8, choices=CHANNELS)

    class Meta:
        ordering = ("dose_id", "version")
        constraints = (models.UniqueConstraint(fields=("dose", "version"), name="one_row_per_dose_version"),)


# ---- Data capture (issue 5): queries, source-data verification, locks ------------------------------


class DataQuery(models.Model):
    """A monitor's or data manager's question about one item; `status` is the latest of its events.

    The row holds the current status only (locked and updated by the query actions);
    its history is the append-only `QueryEvent` rows and the audit trail.
    """

    STATUSES = ("open", "answered", "closed")

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="queries")
    form = models.CharField(max_length=64)
    visit = models.CharField(max_length=64, blank=True, default="")
    instance = models.PositiveIntegerField(default=1)
    item = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=[(s, s) for s in STATUSES])
    raised_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField()

    class Meta:
        ordering = ("raised_at", "id")


class QueryEvent(models.Model):
    """One step of a query: raised, answered, closed or reopened, with its text; append-only."""

    KINDS = ("raise", "answer", "close", "reopen")

    query = models.ForeignKey(DataQuery, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=[(k, k) for k in KINDS])
    text = models.TextField(blank=True)
    status_after = models.CharField(max_length=16)
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    channel = models.CharField(max_length=8, choices=CHANNELS)

    class Meta:
        ordering = ("query_id", "at", "id")


class ReviewEvent(models.Model):
    """A form's source-data verification or lock, or the casebook's lock, set or cleared; append-only.

    The current state of a flag is its latest event. A casebook event has an empty form.
    """

    KINDS = ("sdv", "form_lock", "casebook_lock")

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="review_events")
    form = models.CharField(max_length=64, blank=True, default="")
    visit = models.CharField(max_length=64, blank=True, default="")
    instance = models.PositiveIntegerField(default=1)
    kind = models.CharField(max_length=16, choices=[(k, k) for k in KINDS])
    value = models.BooleanField()
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    reason = models.TextField(blank=True)
    channel = models.CharField(max_length=8, choices=CHANNELS)

    class Meta:
        ordering = ("participant_id", "at", "id")


class InfectionAdjudication(models.Model):
    """The Secondary Infections Committee's decision on one SECONDARY-INFECTION form; append-only.

    `instance` is the form instance (one per reported infection). A changed decision is a new
    row with the next version and its reason; the current decision is the latest version.
    """

    DECISIONS = ("confirmed", "not_confirmed")

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="infection_adjudications")
    instance = models.PositiveIntegerField()
    version = models.PositiveIntegerField()
    decision = models.CharField(max_length=16, choices=[(d, d) for d in DECISIONS])
    rationale = models.TextField()
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    channel = models.CharField(max_length=8, choices=CHANNELS)

    class Meta:
        ordering = ("participant_id", "instance", "version")
        constraints = (
            models.UniqueConstraint(
                fields=("participant", "instance", "version"), name="one_row_per_adjudication_version"
            ),
        )


class PrescreenRun(models.Model):
    """One pre-screening of the hospital's EHR loaded onto a site's worklist (`iliad7 prescreen --load`)."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="prescreen_runs")
    as_of = models.DateTimeField()  # T0 of the run
    source = models.CharField(max_length=500)
    engine = models.CharField(max_length=16)
    persons = models.PositiveIntegerField()
    candidate_count = models.PositiveIntegerField()
    summary = models.JSONField(default=dict)
    loaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    loaded_at = models.DateTimeField()
    channel = models.CharField(max_length=8, choices=CHANNELS)

    class Meta:
        ordering = ("-loaded_at", "-id")


class PrescreenCandidate(models.Model):
    """A person of a run with no failed criterion, with the record built from the EHR and each value's source."""

    run = models.ForeignKey(PrescreenRun, on_delete=models.PROTECT, related_name="candidates")
    person_id = models.BigIntegerField()  # the OMOP person_id: identifiable at the hospital
    verdict = models.CharField(max_length=16)
    unknown_count = models.PositiveSmallIntegerField()
    unknown = models.JSONField(default=list)  # criterion ids left to check, in protocol order
    criteria = models.JSONField(default=list)  # [{"id", "status", "reason", "missing"}]
    record = models.JSONField(default=dict)  # the screening record (clinical-rules section 3)
    sources = models.JSONField(default=dict)  # record field -> where its value came from

    class Meta:
        ordering = ("run", "unknown_count", "person_id")
        constraints = (models.UniqueConstraint(fields=("run", "person_id"), name="one_candidate_per_person_per_run"),)


class PrescreenStart(models.Model):
    """A screening record started from a candidate: who, when, and the participant it became."""

    candidate = models.OneToOneField(PrescreenCandidate, on_delete=models.PROTECT, related_name="start")
    participant = models.OneToOneField(Participant, on_delete=models.PROTECT, related_name="prescreen_start")
    started_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()


# ---- Side channels (issue 22): DSMB closed sessions, security notices -----------------------------


class ClosedSession(models.Model):
    """A DSMB closed session: scheduled by the unblinded statistician, for named DSMB members, in a window.

    Only while a session is open (`starts_at` <= now < `ends_at`) may its members read the arm
    (the closed report); a member's own statement that the board sits closed counts for nothing.
    Rows are never changed; `members` holds the user ids admitted.
    """

    opened_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    purpose = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    members = models.JSONField()  # [user id, ...]
    created_at = models.DateTimeField()
    channel = models.CharField(max_length=8, choices=CHANNELS)

    class Meta:
        ordering = ("starts_at", "id")


class SecurityNotice(models.Model):
    """A security notice for one user (`user`) or for every administrator (`user` empty).

    Written when sign-in, second factor, signature or unblinding attempts lock a (user, source)
    pair; shown on the recipient's home page until they dismiss it (`dismissed_at`).
    """

    user = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    about = models.CharField(max_length=150)  # the user name the attempts were made for
    source = models.CharField(max_length=64, blank=True)
    text = models.TextField()
    created_at = models.DateTimeField()
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ("-created_at", "-id")


# ---- The data cut (issue 17) ------------------------------------------------------------------------------


class DataCut(models.Model):
    """The moment a participant's follow-up data were entered up to; append-only, the latest row holds.

    A trial part-way through follow-up (the demo's cohort, `iliad7 simulate cohort --as-of DAY`) has
    nothing entered after it: the calendar is read at the data cut, so a visit after it is upcoming,
    not missed. `cut_at` empty lifts the cut (follow-up entry resumed).
    """

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="data_cuts")
    cut_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField()
    set_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField()
    channel = models.CharField(max_length=8, choices=CHANNELS)

    class Meta:
        ordering = ("participant_id", "set_at", "id")
