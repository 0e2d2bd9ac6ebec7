"""Tables of the trial database.

Writes happen only in `iliad7.store.actions`; no model overrides `save()`.
Audit records, item value versions and signatures are append-only: the
actions never update or delete them, and database triggers (migration 0002)
refuse UPDATE and DELETE on their tables.
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
