"""The screening demo: judge the contract's example records and show why each verdict was given."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from iliad7.eligibility import parse_record, screen

EXAMPLES = Path(__file__).resolve().parents[3] / "tests" / "vectors" / "contract_examples.json"


def screening_demo(path: Path = EXAMPLES) -> None:
    console = Console()
    examples = [e for e in json.loads(path.read_text()) if e["kind"] == "screen"]
    console.print(f"[bold]ILIAD-7-US-O screening demo[/bold]: {len(examples)} example records from {path.name}\n")
    for example in examples:
        result = screen(parse_record(example["input"]))
        colour = {"eligible": "green", "ineligible": "red", "incomplete": "yellow"}[result.verdict]
        table = Table(title=f"{example['name']}: [{colour}]{result.verdict}[/{colour}]", title_justify="left")
        table.add_column("criterion")
        table.add_column("status")
        table.add_column("reason")
        table.add_column("missing")
        for c in result.criteria:
            style = {"pass": "", "fail": "red", "unknown": "yellow"}[c.status]
            table.add_row(c.id, c.status, c.reason, ", ".join(c.missing), style=style)
        console.print(table)
        console.print()
