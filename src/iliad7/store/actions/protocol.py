"""Load a protocol file into the database as a new version, and create its sites."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import Max

from iliad7.audit import trail
from iliad7.errors import InputError
from iliad7.store.actions._common import SYSTEM_ACTOR, check_channel, now
from iliad7.store.models import ProtocolVersion, Site


@dataclass(frozen=True)
class ProtocolLoad:
    version: ProtocolVersion
    created: bool
    sites_added: tuple[str, ...]
    sites_renamed: tuple[str, ...]


def default_protocol_file() -> Path:
    try:
        from iliad7.protocol import default_protocol_path
    except ImportError:
        # The loader's package may not be importable in a stripped install.
        return Path(__file__).resolve().parents[4] / "protocols" / "iliad-7-us-o.yaml"
    return Path(default_protocol_path())


def _sites_of(path: Path, raw: bytes) -> list[tuple[str, str]]:
    """(code, name) of each site, read through the protocol loader when it is present."""
    try:
        from iliad7.protocol import load_protocol
    except ImportError:
        return _sites_from_yaml(path, raw)
    try:
        protocol = load_protocol(path)
    except Exception as exc:  # the loader's ProtocolError names file and YAML path
        raise InputError("protocol", str(exc)) from None
    return [(s.code, s.name) for s in protocol.sites]


def _sites_from_yaml(path: Path, raw: bytes) -> list[tuple[str, str]]:
    # Fallback for an install without the protocol loader: the sites block only.
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(raw)
    try:
        return [(str(s["code"]), str(s["name"])) for s in data["sites"]]
    except (KeyError, TypeError):
        raise InputError("protocol", f"{path}: sites: each site needs a code and a name") from None


def load_protocol_version(path: Path | str, *, channel: str = "cli") -> ProtocolLoad:
    """Store the file as a new protocol version unless its SHA-256 is already loaded.

    Never rewrites a stored version. Sites named by the file are created (or
    renamed when an amendment renames them); sites it no longer names are kept,
    since participants may belong to them.
    """
    check_channel(channel)
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError("protocol", f"cannot read {path}: {exc.strerror}") from None
    sha = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("protocol", f"{path} is not UTF-8 text") from None
    sites = _sites_of(path, raw)
    with transaction.atomic():
        existing = ProtocolVersion.objects.filter(sha256=sha).first()
        created = existing is None
        if existing is None:
            number = (ProtocolVersion.objects.aggregate(m=Max("version"))["m"] or 0) + 1
            existing = ProtocolVersion.objects.create(
                version=number, sha256=sha, raw_text=text, source_name=path.name, loaded_at=now()
            )
            trail.append(
                actor=SYSTEM_ACTOR,
                role="",
                channel=channel,
                action="protocol.load",
                object_type="protocol_version",
                object_id=str(number),
                new={"version": number, "sha256": sha, "file": path.name},
            )
        added: list[str] = []
        renamed: list[str] = []
        for code, name in sites:
            site = Site.objects.filter(code=code).first()
            if site is None:
                Site.objects.create(code=code, name=name)
                added.append(code)
                trail.append(
                    actor=SYSTEM_ACTOR,
                    role="",
                    channel=channel,
                    action="site.create",
                    object_type="site",
                    object_id=code,
                    new={"code": code, "name": name},
                    reason=f"protocol version {existing.version}",
                )
            elif site.name != name:
                old_name = site.name
                site.name = name
                site.save(update_fields=["name"])
                renamed.append(code)
                trail.append(
                    actor=SYSTEM_ACTOR,
                    role="",
                    channel=channel,
                    action="site.rename",
                    object_type="site",
                    object_id=code,
                    old={"name": old_name},
                    new={"name": name},
                    reason=f"protocol version {existing.version}",
                )
    return ProtocolLoad(existing, created, tuple(added), tuple(renamed))
