"""One documented exception hierarchy for iliad7.

Every refusal the trial software makes is one of these, so that the CLI, the
web views and the API can turn it into an exit status, an HTTP status or a
form error without guessing. `InputError` names the field that was wrong.
"""

from __future__ import annotations


class Iliad7Error(Exception):
    """Base of every error iliad7 raises on purpose."""


class InputError(Iliad7Error, ValueError):
    """A caller gave a value that cannot be used; `field` names it (CLI exit 2)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(Iliad7Error):
    """The thing does not exist, or the user may not know that it exists."""


class AccessDenied(Iliad7Error):
    """The user is known, but none of their roles at that site allows the action."""


class InvalidTransition(Iliad7Error):
    """A participant status change the protocol's state machine does not allow."""

    def __init__(self, from_status: str, to_status: str, allowed: tuple[str, ...]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none (final status)"
        super().__init__(
            f"cannot change participant status from {from_status!r} to {to_status!r}; "
            f"allowed from {from_status!r}: {allowed_text}"
        )
        self.from_status = from_status
        self.to_status = to_status
        self.allowed = allowed


class ReauthenticationFailed(Iliad7Error):
    """A signature's or unblinding's secrets did not match; `field` is `credentials` (which one is not said)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class TooManyAttempts(Iliad7Error):
    """Too many failed secrets from this source for this user name: wait `retry_after` seconds (HTTP 429)."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, -(-retry_after // 60))
        super().__init__(
            f"too many failed attempts from this address for this user: try again in {minutes} minute"
            f"{'s' if minutes != 1 else ''}"
        )
        self.retry_after = retry_after


class ActionRefused(Iliad7Error):
    """The request is well formed, but the trial's rules forbid it now; `reason` says why (CLI exit 1)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RandomizationRefused(ActionRefused):
    """A participant cannot be randomized (not eligible, not consented, no confirmation, list exhausted...)."""


class PharmacyRefused(ActionRefused):
    """A preparation, dose or drug movement breaks a pharmacy rule (expired lot, no stock, no syringe...)."""


class BackupError(Iliad7Error):
    """A backup or restore could not be made (missing tool, wrong file kind)."""
