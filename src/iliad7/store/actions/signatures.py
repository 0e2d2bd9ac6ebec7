"""Electronic signatures (21 CFR 11.50, 11.70, 11.200).

Signing asks again for the password and the second factor. The signature
row shows the printed name, the UTC date and time and the meaning, and holds
two hashes: `content_hash` over the signed record's content at signing time,
and `binding_hash` over the signature's own fields together with the target's
type, id and content hash. Copying a signature onto another record, or
changing the record after signing, makes `verify_signature` fail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from iliad7.accounts.roles import Capability
from iliad7.audit import trail
from iliad7.audit.chain import canonical_json, format_time
from iliad7.errors import InputError, ReauthenticationFailed
from iliad7.store import access
from iliad7.store.actions._common import check_channel, now
from iliad7.store.actions.items import current_values
from iliad7.store.actions.security import record_security_event
from iliad7.store.models import ItemValue, Participant, Signature, User


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


def signable_content(target: Participant | ItemValue) -> tuple[str, str, dict[str, Any]]:
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


def _site_of(target: Participant | ItemValue) -> Any:
    return target.site if isinstance(target, Participant) else target.participant.site


def _check_second_factor(user: User, otp_token: str) -> bool:
    from django_otp import devices_for_user

    return any(device.verify_token(otp_token.strip()) for device in devices_for_user(user, confirmed=True))


def sign_record(
    user: User,
    target: Participant | ItemValue,
    meaning: str,
    password: str,
    otp_token: str,
    *,
    channel: str = "web",
) -> Signature:
    """Sign `target` as `user`, re-checking password and TOTP; audited as `signature.apply`."""
    check_channel(channel)
    meaning = meaning.strip()
    if not meaning:
        raise InputError("meaning", "a signature states its meaning, e.g. 'I approve this casebook'")
    role = access.require(user, Capability.SIGN_CASEBOOK, _site_of(target))
    target_type, target_id, _ = signable_content(target)

    def refuse(field: str, message: str) -> ReauthenticationFailed:
        # Committed on its own: a failed signing attempt must stay in the trail.
        record_security_event(
            "signature.refused",
            actor=user.username,
            role=role,
            channel=channel,
            object_type=target_type,
            object_id=target_id,
            detail={"failed": field},
        )
        return ReauthenticationFailed(field, message)

    if not user.check_password(password):
        raise refuse("password", "the password does not match")
    if not _check_second_factor(user, otp_token):
        raise refuse("otp_token", "the second-factor code does not match (or none is enrolled)")

    with transaction.atomic():
        if isinstance(target, Participant):
            target = Participant.objects.select_for_update().select_related("site").get(pk=target.pk)
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


def _load_target(target_type: str, target_id: str) -> Participant | ItemValue | None:
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
