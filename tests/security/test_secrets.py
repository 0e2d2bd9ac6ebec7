"""ASVS V6.4/V14.1: secrets come from the environment (or are generated per installation), never from the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "iliad7"
SUSPICIOUS = (
    re.compile(r"""\b(SECRET_KEY|secret_key)\s*=\s*["'][^"']+["']"""),
    re.compile(r"""\b\w*(password|passwd|secret|api_key|apikey|token)\w*\s*[:=]\s*["'][^"'\s{}]{8,}["']""", re.I),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"""\w+://[^/\s:@"']+:[^/\s@"']+@"""),  # a URL with a password in it
)
# The one deliberate literal: the development key, used only when ILIAD7_DEBUG=1 (which `serve` refuses).
ALLOWED = {("settings.py", '"iliad7-development-only-key-never-used-with-trial-data"')}


def _findings() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*")):
        if path.suffix not in (".py", ".yaml", ".html", ".js", ".json", ".toml", ".cfg", ".txt"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), start=1):
            for pattern in SUSPICIOUS:
                match = pattern.search(line)
                if match and not any(path.name == f and literal in line for f, literal in ALLOWED):
                    found.append(f"{path.relative_to(SRC)}:{lineno}: {line.strip()[:120]}")
    return found


def test_no_key_password_or_token_is_written_in_the_source() -> None:
    assert _findings() == []


def test_the_detector_finds_what_it_looks_for() -> None:
    for line in (
        'SECRET_KEY = "abc"',
        'api_token = "0123456789abcdef"',
        "-----BEGIN RSA PRIVATE KEY-----",
        "AKIAABCDEFGHIJKLMNOP",
        "postgresql://app:hunter2@db/iliad7",
    ):
        assert any(p.search(line) for p in SUSPICIOUS), line


def _secret_key(env: dict[str, str]) -> str:
    code = "import os; os.environ['DJANGO_SETTINGS_MODULE']='iliad7.settings'\nfrom django.conf import settings\nprint(settings.SECRET_KEY)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def test_the_secret_key_comes_from_the_environment_and_never_the_development_key(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if k not in ("ILIAD7_SECRET_KEY", "ILIAD7_DEBUG", "DATABASE_URL")}
    base["ILIAD7_HOME"] = str(tmp_path)
    assert _secret_key({**base, "ILIAD7_SECRET_KEY": "from-the-environment-0123456789"}) == (
        "from-the-environment-0123456789"
    )
    generated = _secret_key(base)  # none given: generated once for this installation, kept 0600
    assert "development" not in generated and len(generated) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert _secret_key(base) == generated


def test_the_database_password_is_read_from_database_url_only() -> None:
    text = (SRC / "settings.py").read_text()
    assert 'os.environ.get("DATABASE_URL"' in text
    assert "PASSWORD" not in re.sub(
        r"AUTH_PASSWORD_VALIDATORS|PASSWORD_HASHERS|\w+PasswordHasher|\w+Password\w*", "", text
    )
