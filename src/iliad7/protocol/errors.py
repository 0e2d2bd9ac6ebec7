"""The one error a protocol file can raise: where in which file, and what is wrong.

A clinician fixing a protocol file needs the file, the place in it and the
problem, never a Python traceback; every failure of the loader (unreadable
file, YAML syntax, schema, cross-references) is reported as a ProtocolError.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The YAML path of the whole document (syntax errors, a file that is not a mapping).
ROOT = "$"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a protocol file."""

    yaml_path: str
    line: int | None
    message: str

    def format(self, file: Path | str) -> str:
        """`FILE: YAML_PATH (line N): message`, the line part left out when unknown."""
        where = f"{self.yaml_path} (line {self.line})" if self.line is not None else self.yaml_path
        return f"{file}: {where}: {self.message}"


class ProtocolError(Exception):
    """A protocol file that cannot be read, parsed or validated.

    `file`, `yaml_path` (like `schedule.visits[3].window_days`), `line` and
    `message` describe the first problem; `problems` lists all of them, the
    first included, in file order as far as the validator reports them.
    """

    def __init__(self, file: Path | str, problems: list[Problem] | tuple[Problem, ...]) -> None:
        if not problems:
            raise ValueError("a ProtocolError needs at least one problem")
        self.file = Path(file)
        self.problems = tuple(problems)
        first = self.problems[0]
        self.yaml_path = first.yaml_path
        self.line = first.line
        self.message = first.message
        super().__init__(first.format(self.file))

    @classmethod
    def single(cls, file: Path | str, yaml_path: str, message: str, line: int | None = None) -> ProtocolError:
        return cls(file, [Problem(yaml_path, line, message)])

    def __str__(self) -> str:
        return self.problems[0].format(self.file)
