"""Writing the standards exports to a folder: SDTM or ADaM as XPT + Dataset-JSON + define.xml; CSV/Parquet.

`export_sdtm(user, folder)` and `export_adam(user, folder)` take one guarded
snapshot of the database as that user may see it, build the datasets, refuse
to write any dataset with a conformance error, and write one file per dataset
and format with lower-case names (`dm.xpt`, `dm.json`) plus `define.xml`.
Analyst exports (`export_tables`) write the same ADaM frames as CSV or
Parquet; blinded or unblinded follows the user's role exactly as the SDTM does.
Every export is an audited read (`read.export`: who, which kind, blinded or
not, which datasets; never their content).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from iliad7.errors import ActionRefused
from iliad7.standards.conformance import Finding, check_datasets, errors
from iliad7.standards.dataset import Dataset


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    files: tuple[str, ...]
    datasets: dict[str, int]  # name -> records
    blinded: bool
    findings: tuple[Finding, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "files": list(self.files),
            "datasets": self.datasets,
            "blinded": self.blinded,
            "errors": len(errors(self.findings)),
            "warnings": len(self.findings) - len(errors(self.findings)),
        }


def write_datasets(
    datasets: list[Dataset], folder: Path, *, snapshot: Any, blinded: bool, acrf: bool = False
) -> ExportResult:
    """Check, then write each dataset (XPT, Dataset-JSON), define.xml, conformance.json and, with `acrf`,
    the annotated CRF (acrf.html) that define.xml links."""
    from iliad7.standards.acrf import write_acrf
    from iliad7.standards.dataset_json import write_dataset_json
    from iliad7.standards.define import write_define
    from iliad7.standards.xpt import write_xpt

    findings = check_datasets(datasets, blinded=blinded)
    problems = errors(findings)
    if problems:
        first = problems[0]
        raise ActionRefused(
            f"{len(problems)} conformance errors, nothing written; first: {first.dataset}.{first.variable} "
            f"row {first.row}: {first.message}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    study = snapshot.protocol.id
    for dataset in datasets:
        write_xpt(dataset, folder / f"{dataset.file_stem}.xpt")
        write_dataset_json(
            dataset,
            folder / f"{dataset.file_stem}.json",
            study_oid=study,
            created=snapshot.taken_at,
            originator=snapshot.exported_by,
        )
        files += [f"{dataset.file_stem}.xpt", f"{dataset.file_stem}.json"]
    if acrf:
        write_acrf(snapshot.protocol, folder / "acrf.html")
        files.append("acrf.html")
    write_define(
        datasets,
        folder / "define.xml",
        study_id=study,
        study_name=snapshot.protocol.titles.acronym,
        created=snapshot.taken_at,
        acrf="acrf.html" if acrf else None,
    )
    files.append("define.xml")
    report = [f.as_dict() for f in findings]
    (folder / "conformance.json").write_text(json.dumps({"errors": 0, "findings": report}, indent=1) + "\n")
    files.append("conformance.json")
    return ExportResult(folder, tuple(files), {d.name: d.frame.height for d in datasets}, blinded, tuple(findings))


def sdtm_datasets(user: Any) -> tuple[Any, list[Dataset]]:
    from iliad7.standards.sdtm import build_sdtm
    from iliad7.standards.snapshot import read_snapshot

    snapshot = read_snapshot(user)
    built = build_sdtm(snapshot)
    # Trial design and DM always; other domains only when they hold records (SDTM submits no empty domain).
    keep = [d for name, d in built.items() if d.frame.height or name in ("TS", "TA", "TE", "TV", "TI", "DM")]
    return snapshot, keep


def _audit(user: Any, kind: str, result: ExportResult, channel: str) -> ExportResult:
    from iliad7.store.actions.reads import audit_read

    detail = {
        "kind": kind,
        "folder": result.folder.name,
        "blinded": result.blinded,
        "datasets": sorted(result.datasets),
    }
    audit_read(user, "export", kind, channel=channel, detail=detail)
    return result


def export_sdtm(user: Any, folder: Path, *, channel: str = "cli") -> ExportResult:
    snapshot, datasets = sdtm_datasets(user)
    written = write_datasets(datasets, folder, snapshot=snapshot, blinded=snapshot.blinded, acrf=True)
    return _audit(user, "sdtm", written, channel)


def adam_datasets(user: Any) -> tuple[Any, list[Dataset]]:
    from iliad7.standards.adam import build_adam
    from iliad7.standards.sdtm import build_sdtm
    from iliad7.standards.snapshot import read_snapshot

    snapshot = read_snapshot(user)
    return snapshot, list(build_adam(snapshot, build_sdtm(snapshot)).values())


def export_adam(user: Any, folder: Path, *, channel: str = "cli") -> ExportResult:
    snapshot, datasets = adam_datasets(user)
    return _audit(user, "adam", write_datasets(datasets, folder, snapshot=snapshot, blinded=snapshot.blinded), channel)


def export_tables(
    user: Any,
    folder: Path,
    *,
    fmt: Literal["csv", "parquet"],
    which: Literal["sdtm", "adam"] = "adam",
    channel: str = "cli",
) -> ExportResult:
    """The analysis (or tabulation) datasets as CSV or Parquet files, one per dataset, lower-case names."""
    snapshot, datasets = adam_datasets(user) if which == "adam" else sdtm_datasets(user)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for dataset in datasets:
        name = f"{dataset.file_stem}.{fmt}"
        if fmt == "csv":
            dataset.frame.write_csv(folder / name)
        else:
            dataset.frame.write_parquet(folder / name)
        files.append(name)
    result = ExportResult(folder, tuple(files), {d.name: d.frame.height for d in datasets}, snapshot.blinded, ())
    return _audit(user, f"{which}-{fmt}", result, channel)
