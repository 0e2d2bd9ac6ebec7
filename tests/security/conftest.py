"""Fixtures of the security tests: the web tests' users, sign-in helpers and trial, reused as they are.

tests/web/conftest.py builds one user per role at each site and a trial with
participants in every state through the store's actions; its fixtures are
loaded here from that file so both suites exercise the same set-up.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "iliad7_web_test_fixtures", Path(__file__).resolve().parents[1] / "web" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_web = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_web)

PASSWORD = _web.PASSWORD
sign_in = _web.sign_in
totp_now = _web.totp_now
sites = _web.sites
make_user = _web.make_user
staff = _web.staff
login = _web.login
totp = _web.totp
example_record = _web.example_record
api_post = _web.api_post
trial = _web.trial
capture_values = _web.capture_values
