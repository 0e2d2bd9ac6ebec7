"""Electronic signatures (21 CFR 11.50, 11.70, 11.200).

Signing asks again for the password and the second factor. A wrong password
and a wrong code get one and the same answer (field `credentials`), and count
against the (user, source) pair like failed sign-ins (`iliad7.store.throttle`):
signing is no oracle for guessing either secret. The signature
row shows the printed name, the UTC date and time and the meaning, and holds
two hashes: `content_hash` over the signed record's content at signing time,
and `binding_hash` over the signature's own fields together with the target's
type, id and content hash. Copying a signature onto another record, or
changing the record after signing, makes `verify_signature` fail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction

from iliad7.accounts.roles import Capability
from iliad7.audit import trail
from iliad7.audit.chain import canonical_json, format_time
from iliad7.errors import InputError, ReauthenticationFailed
from iliad7.store import access, throttle
from iliad7.store.actions._common import check_channel, now
from iliad7.store.actions.items import current_values
from iliad7.store.actions.security import record_security_event
from iliad7.store.models import DoseCorrection, ItemValue, Participant, Signature, User

Signable = Participant | ItemValue | DoseCorrection

if TYPE_CHECKING:
    from django.http import HttpRequest

# One answer for a wrong password and a wrong code: which one was wrong is not said.
CREDENTIALS = "credentials"
CREDENTIALS_REFUSED = "the password or the code from your authenticator does not match"


def _sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def _item_content(v: ItemValue) -> dict[str, Any]:
    return {
        "form": v.form,
        "visit": v.visit,
        "instance": v.instance,
        "item": v.item,
        "version": v.version,
        "value": v.value,
        "unit": v.unit,
    }


def signable_content(target: Signable) -> tuple[str, str, dict[str, Any]]:
    """(target type, target id, content) of a record that can be signed."""
    if isinstance(target, Participant):
        return (
            "participant",
            target.screening_number,
            {
                "screening_number": target.screening_number,
                "usubjid": target.usubjid,
                "site": target.site.code,
                "status": target.status,
                "items": [_item_content(v) for v in current_values(target)],
            },
        )
    if isinstance(target, ItemValue):
        content = _item_content(target)
        content["participant"] = target.participant.screening_number
        return "item_value", str(target.pk), content
    if isinstance(target, DoseCorrection):
        return (
            "dose_correction",
            str(target.pk),
            {
                "participant": target.dose.participant.screening_number,
                "dose_number": target.dose.dose_number,
                "version": target.version,
                "given_at": format_time(target.given_at),
                "injection_site": target.injection_site,
                "volume_ml": str(target.volume_ml),
                "local_reaction": target.local_reaction,
                "reason": target.reason,
            },
        )
    raise TypeError(f"cannot sign a {type(target).__name__}")


def _binding(
    *,
    signer: str,
    printed_name: str,
    signed_at: str,
    meaning: str,
    target_type: str,
    target_id: str,
    content_hash: str,
) -> str:
    return _sha256(
        {
            "signer": signer,
            "printed_name": printed_name,
            "signed_at": signed_at,
            "meaning": meaning,
            "target_type": target_type,
            "target_id": target_id,
            "content_hash": content_hash,
        }
    )


def _site_of(target: Signable) -> Any:
    if isinstance(target, DoseCorrection):
        return target.dose.participant.site
    return target.site if isinstance(target, Participant) else target.participant.site


def _check_second_factor(user: User, otp_token: str) -> bool:
    from django_otp import devices_for_user

    token = (otp_token or "").strip()
    # A code is 6 to 8 ASCII digits; anything else is wrong without asking the device.
    if not (token.isascii() and token.isdigit() and 6 <= len(token) <= 8):
        return False
    return any(device.verify_token(token) for device in devices_for_user(user, confirmed=True))


def check_secrets(
    user: User,
    *,
    password: str | None,
    otp_token: str,
    gate: str,
    source: HttpRequest | None,
    on_refusal: Any,
) -> None:
    """Check the password (unless None) and the TOTP code again, throttled per (user, source).

    Refused alike (ReauthenticationFailed on `credentials`) for a wrong password, a wrong code or
    no enrolled device; `on_refusal()` audits the refusal before it is raised. The code is not
    tried when the password is wrong, so guessing passwords cannot wear the code out either.
    While the pair waits, TooManyAttempts, whatever was given.
    """
    with throttle.guarded(source, user.username, gate) as request:
        ok = (password is None or user.check_password(password or "")) and _check_second_factor(user, otp_token)
        if not ok:
            on_refusal()
            throttle.failed(request, user.username, gate)
            raise ReauthenticationFailed(CREDENTIALS, CREDENTIALS_REFUSED)
        throttle.passed(request, user.username)


def sign_record(
    user: User,
    target: Signable,
    meaning: str,
    password: str,
    otp_token: str,
    *,
    channel: str = "web",
    source: HttpRequest | None = None,
) -> Signature:
    """Sign `target` as `user`, re-checking password and TOTP; audited as `signature.apply`.

    `source` is the request the secrets came with (None: the command line on the server); its
    address is the source whose failures are counted.
    """
    check_channel(channel)
    meaning = meaning.strip()
    if not meaning:
        raise InputError("meaning", "a signature states its meaning, e.g. 'I approve this casebook'")
    role = access.require(user, Capability.SIGN_CASEBOOK, _site_of(target))
    target_type, target_id, _ = signable_content(target)
    verify_signer(
        user, password, otp_token, role=role, target_type=target_type, target_id=target_id, channel=channel,
        source=source,
    )  # fmt: skip
    with transaction.atomic():
        if isinstance(target, Participant):
            target = Participant.objects.select_for_update().select_related("site").get(pk=target.pk)
        return apply_signature(user, target, meaning, role=role, channel=channel)


def verify_signer(
    user: User,
    password: str,
    otp_token: str,
    *,
    role: str,
    target_type: str,
    target_id: str,
    channel: str,
    source: HttpRequest | None = None,
) -> None:
    """The signer's password and second factor again, throttled per (user, source); ReauthenticationFailed,
    with the refusal audited, if not (one answer for either secret).

    Call it before the signing transaction: the refusal commits on its own and stays in the trail.
    `source` is the request the secrets came with (None: the command line on the server).
    """

    def refused() -> None:
        # Committed on its own: a failed signing attempt must stay in the trail (without saying which secret).
        record_security_event(
            "signature.refused",
            actor=user.username,
            role=role,
            channel=channel,
            object_type=target_type,
            object_id=target_id,
            detail={"failed": CREDENTIALS, "ip": throttle.source_text(source)},
        )

    check_secrets(user, password=password, otp_token=otp_token, gate="signature", source=source, on_refusal=refused)


def apply_signature(user: User, target: Signable, meaning: str, *, role: str, channel: str) -> Signature:
    """The signature row and its audit record, in the caller's transaction, after `verify_signer`."""
    target_type, target_id, content = signable_content(target)
    content_hash = _sha256(content)
    signed_at = now()
    printed_name = user.printed_name()
    binding = _binding(
        signer=user.username,
        printed_name=printed_name,
        signed_at=format_time(signed_at),
        meaning=meaning,
        target_type=target_type,
        target_id=target_id,
        content_hash=content_hash,
    )
    signature = Signature.objects.create(
        signer=user,
        printed_name=printed_name,
        signed_at=signed_at,
        meaning=meaning,
        target_type=target_type,
        target_id=target_id,
        content_hash=content_hash,
        binding_hash=binding,
        channel=channel,
    )
    trail.append(
        actor=user.username,
        role=role,
        channel=channel,
        action="signature.apply",
        object_type=target_type,
        object_id=target_id,
        new={
            "signature": signature.pk,
            "printed_name": printed_name,
            "meaning": meaning,
            "content_hash": content_hash,
            "binding_hash": binding,
        },
    )
    return signature


@dataclass(frozen=True)
class SignatureCheck:
    ok: bool
    reason: str


def _load_target(target_type: str, target_id: str) -> Signable | None:
    if target_type == "dose_correction" and target_id.isdigit():
        return DoseCorrection.objects.select_related("dose__participant__site").filter(pk=int(target_id)).first()
    if target_type == "participant":
        return Participant.objects.select_related("site").filter(screening_number=target_id).first()
    if target_type == "item_value" and target_id.isdigit():
        return ItemValue.objects.select_related("participant__site").filter(pk=int(target_id)).first()
    return None


def verify_signature(signature: Signature) -> SignatureCheck:
    """Whether the signature still binds its signer, meaning and time to unchanged content."""
    expected = _binding(
        signer=signature.signer.username,
        printed_name=signature.printed_name,
        signed_at=format_time(signature.signed_at),
        meaning=signature.meaning,
        target_type=signature.target_type,
        target_id=signature.target_id,
        content_hash=signature.content_hash,
    )
    if expected != signature.binding_hash:
        return SignatureCheck(False, "signature fields do not match their binding hash (copied or altered)")
    target = _load_target(signature.target_type, signature.target_id)
    if target is None:
        return SignatureCheck(False, f"signed {signature.target_type} {signature.target_id} not found")
    _, _, content = signable_content(target)
    if _sha256(content) != signature.content_hash:
        return SignatureCheck(False, "the signed record has changed since it was signed")
    return SignatureCheck(True, "valid")
