"""Where signed checkpoints go: an append-only log file, or one immutable object per checkpoint.

A sink is named by a URL-like string (`ILIAD7_CHECKPOINT_SINKS`, comma-separated):

- `file:/path/checkpoints.jsonl`: one line per checkpoint, appended with
  O_APPEND under an exclusive `flock` (several gunicorn workers and CLI
  processes write the same file) and fsync'd before the call returns. A line
  left half-written by a crash is closed with a newline by the next writer, so
  it spoils only itself. Put the file on a second disk, an NFS export of
  another host, or a write-once mount (`chattr +a`, a WORM volume).
- `objects:/path/prefix?retention_days=N`: one new object per checkpoint,
  created exclusively and never rewritten, read-only (0444), carrying its
  `retain_until` date beside the signed fields: the shape an object store with
  retention takes (an S3 bucket with Object Lock in compliance mode mounted by
  mountpoint-s3 or s3fs, which cannot append to an object, or a WORM share).
- `python:package.module:factory?path=...&k=v`: a site's own sink; `factory(path, params)`
  returns an object with `append(line: bytes)` and `read()` (see `Sink`).

Sinks do plain file I/O and know nothing of Django or of the chain.
"""

from __future__ import annotations

import fcntl
import importlib
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl

from iliad7.audit.checkpoint import Checkpoint, parse


class Sink(Protocol):
    name: str

    def append(self, line: bytes) -> None:
        """Store one checkpoint line durably before returning."""

    def read(self) -> Iterator[tuple[str, bytes]]:
        """Every stored line, as (origin, bytes), in the order written where the sink knows it."""


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileSink:
    """An append-only log file (see the module text)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"file:{path}"

    def append(self, line: bytes) -> None:
        created = not self.path.exists()
        if created:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a crash cut the last line short: end it, keep ours whole
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)  # also releases the lock
        if created:
            _fsync_folder(self.path.parent)

    def read(self) -> Iterator[tuple[str, bytes]]:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                yield f"{self.name}:{number}", line


class ObjectSink:
    """One immutable, read-only object per checkpoint under a prefix, with its retention date."""

    def __init__(self, root: Path, retention_days: int = 0) -> None:
        self.root = root
        self.retention_days = retention_days
        self.name = f"objects:{root}"

    def append(self, line: bytes) -> None:
        now = datetime.now(UTC)
        folder = self.root / now.strftime("%Y/%m/%d")
        folder.mkdir(parents=True, exist_ok=True)
        body = line
        if self.retention_days:
            retain = (now + timedelta(days=self.retention_days)).date().isoformat()
            # The retention date sits beside the signed fields; `parse` drops it before checking the signature.
            body = line.rstrip(b"\n")[:-1] + f',"retain_until":"{retain}"}}\n'.encode()
        name = folder / f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex}.json"
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_folder(folder)

    def read(self) -> Iterator[tuple[str, bytes]]:
        if not self.root.is_dir():
            return
        for entry in sorted(self.root.rglob("*.json")):
            yield f"{self.name}/{entry.relative_to(self.root)}", entry.read_bytes()


SinkFactory = Callable[[Path, dict[str, str]], Sink]


def _file(path: Path, params: dict[str, str]) -> Sink:
    return FileSink(path)


def _objects(path: Path, params: dict[str, str]) -> Sink:
    days = params.get("retention_days", "0")
    if not days.isdigit():
        raise ValueError(f"retention_days must be a whole number of days, not {days!r}")
    return ObjectSink(path, int(days))


SCHEMES: dict[str, SinkFactory] = {"file": _file, "objects": _objects}


def sink_from_url(url: str) -> Sink:
    """The sink a URL names (see the module text); ValueError naming what is wrong."""
    scheme, sep, rest = url.strip().partition(":")
    if not sep or not rest:
        raise ValueError(f"checkpoint sink {url!r}: write SCHEME:PATH (file:, objects: or python:)")
    if scheme == "python":
        target, _, query = rest.partition("?")
        module, _, attribute = target.partition(":")
        if not module or not attribute:
            raise ValueError(f"checkpoint sink {url!r}: write python:package.module:factory?path=...&k=v")
        factory = getattr(importlib.import_module(module), attribute)
        params = dict(parse_qsl(query))
        return factory(Path(params.pop("path", "")), params)  # type: ignore[no-any-return]
    if scheme not in SCHEMES:
        raise ValueError(f"checkpoint sink {url!r}: unknown scheme {scheme!r} (file, objects, python)")
    path_text, _, query = rest.removeprefix("//").partition("?")
    path = Path(path_text)
    if not path.is_absolute():
        raise ValueError(f"checkpoint sink {url!r}: give an absolute path")
    return SCHEMES[scheme](path, dict(parse_qsl(query)))


def read_entries(sinks: list[Sink]) -> tuple[list[Checkpoint], list[dict[str, str]]]:
    """(every readable checkpoint of every sink, the lines that are not checkpoints with why)."""
    entries: list[Checkpoint] = []
    unreadable: list[dict[str, str]] = []
    for sink in sinks:
        for origin, raw in sink.read():
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                entries.append(parse(text, origin))
            except ValueError as exc:
                # A line cut short by a crash, or garbage: it proves nothing, so it cannot mislead.
                unreadable.append({"origin": origin, "problem": str(exc)})
    return entries, unreadable
