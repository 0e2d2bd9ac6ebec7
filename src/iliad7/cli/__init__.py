"""The `iliad7` command: one entry point, one sub-command per capability.

Sub-command modules import their heavy dependencies (Django, statistics)
inside the command functions, so that `iliad7 score` and `iliad7 screen`
start fast enough to be called once per record by outside scripts.
"""

from __future__ import annotations

import typer

from iliad7.cli import adjudication as adjudication_cli
from iliad7.cli import analysis as analysis_cli
from iliad7.cli import capture as capture_cli
from iliad7.cli import irt as irt_cli
from iliad7.cli import prescreen as prescreen_cli
from iliad7.cli import protocol as protocol_cli
from iliad7.cli import rules as rules_cli
from iliad7.cli import simulate as simulate_cli
from iliad7.cli import standards as standards_cli
from iliad7.cli import store as store_cli
from iliad7.cli import web as web_cli

app = typer.Typer(
    name="iliad7",
    help="ILIAD-7-US-O (NCT04426201): protocol, clinical rules, trial database and analysis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_cli.register(app)
protocol_cli.register(app)
simulate_cli.register(app)
store_cli.register(app)
irt_cli.register(app)
web_cli.register(app)
analysis_cli.register(app)
capture_cli.register(app)
standards_cli.register(app)
adjudication_cli.register(app)
prescreen_cli.register(app)


def main() -> None:
    app()
