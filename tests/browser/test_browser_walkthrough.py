"""One participant walked end to end in real headless Chromium, against `iliad7 serve` on a fresh database.

The database is prepared with the CLI (`iliad7 init`, `iliad7 web
demo-users`, `iliad7 randomization generate`, `iliad7 pharmacy receive`), plus
one participant screened and consented with the CLI and randomized three days
ago through the store's action (`randomized_at`, as a site entering a
randomization after the fact would): dose 2 needs 72 h after dose 1, and no
dose is recorded before randomization, so only a participant randomized days
ago can show two doses today. Everything else is done by people in the
browser: screening with the live verdict, consent, randomization by the
investigator, the unblinded pharmacist's preparation, dose 1 of the walked
participant and dose 2 refused inside 72 h, doses 1 and 2 of the participant
randomized earlier, labs with a query raised by the monitor and answered by
the coordinator, an adverse event with its grade, discharge, end of study and
the investigator's signature of the casebook; the coordinator's landing page
(the record-status dashboard) and worklist, and a data manager's export
downloaded as a zip. A screenshot of each step goes to
`test-artifacts/browser/`. Any request to another host is refused and fails
the test, and so does a Content-Security-Policy report.

Accessibility: Deque's axe-core (bundled by `axe-playwright-python`) runs on
every page the walk screenshots and, at the end, on every page in the
navigation of every demo user; a serious or critical violation (WCAG 2.1 A and
AA rules and axe's best practices) fails the test, listed by page and rule.

Skipped when /usr/bin/chromium or the `playwright` module is missing, unless
CI is set: then their absence fails (CI installs them, `scripts/install-browser`).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "browser"
PASSWORD = "walkthrough-password-9f3c1e"
SEED = "918273645546372819"
LOT = "LOT-WALK-1"
EARLY_RANDOMIZATION = timedelta(hours=74)  # dose 1 an hour after it, dose 2 now: 73 h apart
# The WCAG 2.0/2.1 A and AA rules and axe's best practices; only violations are returned.
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
    "resultTypes": ["violations"],
}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _browser_or_skip() -> Any:
    """The playwright sync API; skip (or fail under CI) when it or the system Chromium is missing."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (install with scripts/install-browser)")
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None
        missing.append("the playwright module (pip install playwright)")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "").strip():
            pytest.fail(message + " — CI is set, so it must be installed", pytrace=False)
        pytest.skip(message)
    return sync_api


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("iliad7")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from iliad7.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def totp_code(otpauth_url: str) -> str:
    """The current code of an otpauth:// URL, computed with django_otp's TOTP."""
    from django_otp.oath import TOTP

    query = parse_qs(urlsplit(otpauth_url).query)
    secret = query["secret"][0].upper()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digits = int(query.get("digits", ["6"])[0])
    totp = TOTP(key, step=int(query.get("period", ["30"])[0]), t0=0, digits=digits, drift=0)
    totp.time = time.time()
    return f"{totp.token():0{digits}d}"


class Server:
    """A fresh database prepared with the CLI and `iliad7 serve` on a free loopback port."""

    def __init__(self, home: Path) -> None:
        self.env = {
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "ILIAD7_DEBUG")
        }
        self.env.update(
            ILIAD7_HOME=str(home),
            ILIAD7_CONCENTRATION_UG_PER_ML="200",
            ILIAD7_LOG_LEVEL="WARNING",
            ILIAD7_SESSION_IDLE_MINUTES="30",
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.totp: dict[str, str] = {}
        self.users: list[str] = []  # every demo user, one per role (and site)
        self.early = ""  # the participant randomized three days before the walk

    def run(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [*_cli(), *args], env=self.env, input=stdin, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"iliad7 {' '.join(args)}: {done.stderr}"
        return done.stdout

    def prepare(self) -> None:
        self.run("init")
        rows = json.loads(self.run("web", "demo-users", "--password-stdin", "--json", stdin=PASSWORD + "\n"))
        self.totp = {row["username"]: row["totp"] for row in rows if row["totp"]}
        self.users = [row["username"] for row in rows]
        self.run("randomization", "generate", "--seed", SEED, "--as", "demo-unblinded-statistician")
        expiry = (date.today() + timedelta(days=365)).isoformat()
        self.run(
            "pharmacy", "receive", "--site", "MSKCC", "--lot", LOT, "--expiry", expiry, "--vials", "20",
            "--as", "demo-unblinded-pharmacist-mskcc",
        )  # fmt: skip
        self.early = self.randomized_days_ago(EARLY_RANDOMIZATION)

    def randomized_days_ago(self, ago: timedelta) -> str:
        """A participant screened and consented with the CLI and randomized `ago` before now; its number."""
        record = REPO / "tests" / "vectors" / "screening_record_contract.json"
        screened = json.loads(
            self.run(
                "screening",
                "new",
                "--site",
                "MSKCC",
                "--input",
                str(record),
                "--as",
                "demo-coordinator-mskcc",
                "--json",
            )
        )
        assert screened["verdict"] == "eligible", screened
        number = str(screened["screening_number"])
        t0 = datetime.now(UTC) - ago
        self.run(
            "consent", "record", number, "--as", "demo-coordinator-mskcc", "--type", "written", "--given-by",
            "participant", "--obtained-at", (t0 - timedelta(hours=1)).isoformat(), "--form-version", "v1.0",
            "--obtained-by", "Dr Walk",
        )  # fmt: skip
        # The CLI's `randomize` stamps the present moment; a randomization entered after the fact goes through
        # the same action with its real time, `randomized_at`.
        script = (
            "import sys\n"
            "from datetime import datetime\n"
            "from iliad7.store import runtime\n"
            "runtime.setup()\n"
            "from iliad7.store import access\n"
            "from iliad7.store.actions import randomize_participant\n"
            "from iliad7.store.models import User\n"
            "user = User.objects.get(username='demo-investigator-mskcc')\n"
            "participant = access.access_participant(user, sys.argv[1])\n"
            "randomize_participant(participant, acting_user=user, confirmation=True, channel='cli',\n"
            "                      randomized_at=datetime.fromisoformat(sys.argv[2]))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, number, t0.isoformat()], env=self.env, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return number

    def start(self) -> None:
        port = _free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [*_cli(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=2) as response:
                    if json.loads(response.read()) == {"status": "ok"}:
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise AssertionError(self.process.stderr.read().decode() if self.process.stderr else "server exited")
            assert time.monotonic() < deadline, "the server did not answer in 30 s"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "home")
    try:
        running.prepare()
        running.start()
        yield running
    finally:
        running.stop()


def _utc_input(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _today_new_york() -> str:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("America/New_York")).date().isoformat()


class Walk:
    """The browser, one context (one person) at a time, and the numbered screenshots."""

    def __init__(self, browser: Any, server: Server) -> None:
        self.browser = browser
        self.server = server
        self.step = 0
        self.context: Any = None
        self.page: Any = None
        self.outside: list[str] = []
        self.csp: list[str] = []
        self.inaccessible: dict[str, list[str]] = {}  # page -> its serious or critical axe violations
        self.axe: Any = None
        self.totp_steps: dict[str, int] = {}  # user -> the 30-s step of the last code used (a code is used once)

    def code(self, username: str) -> str:
        """The user's current authenticator code, waiting for the next step if this one's code was used."""
        if self.totp_steps.get(username) == int(time.time() // 30):
            time.sleep(30 - time.time() % 30 + 0.5)
        self.totp_steps[username] = int(time.time() // 30)
        return totp_code(self.server.totp[username])

    def shot(self, name: str) -> None:
        self.step += 1
        self.page.screenshot(path=str(ARTIFACTS / f"{self.step:02d}-{name}.png"), full_page=True)
        self.check_accessibility(name)

    def check_accessibility(self, name: str) -> None:
        """Run axe-core on the page as it stands; keep its serious and critical violations under `name`."""
        if self.axe is None:
            from axe_playwright_python.sync_playwright import Axe

            self.axe = Axe()
        results = self.axe.run(self.page, options=AXE_OPTIONS).response
        found = [
            f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(str(n['target']) for n in v['nodes'][:3])}"
            for v in results["violations"]
            if v.get("impact") in ("serious", "critical")
        ]
        if found:
            self.inaccessible[f"{name} {urlsplit(self.page.url).path}"] = found

    def sign_in(self, username: str, *, width: int = 1280) -> Any:
        if self.context is not None:
            self.context.close()
        self.context = self.browser.new_context(viewport={"width": width, "height": 900})
        self.context.set_default_timeout(15_000)

        def guard(route: Any) -> None:
            host = urlsplit(route.request.url).hostname
            if host in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                self.outside.append(route.request.url)
                route.abort()

        self.context.route("**/*", guard)
        page = self.context.new_page()
        page.on("console", lambda m: self.csp.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{self.server.base}/accounts/login/")
        page.locator("#id_username").fill(username)
        page.locator("#id_password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        if "second-factor" in page.url:
            page.locator("#id_otp_token").fill(self.code(username))
            page.get_by_role("button", name="Verify").click()
            page.wait_for_load_state()
        assert "/accounts/" not in page.url, page.content()[:2000]
        self.page = page
        return page

    def go(self, path: str) -> Any:
        self.page.goto(self.server.base + path)
        return self.page

    def fill_form(self, values: dict[str, str], scope: str = "#ecrf") -> None:
        """Fill eCRF inputs by item id: lists choose the value, the rest are typed."""
        form = self.page.locator(scope)
        for name, value in values.items():
            field = form.locator(f'[name="{name}"]')
            if field.evaluate("e => e.tagName") == "SELECT":
                field.select_option(value)
            else:
                field.fill(value)


def _screening(walk: Walk) -> str:
    """Create a participant and fill the screening record from clinical-rules section 3; returns its number."""
    from iliad7.web import screening_form

    page = walk.go("/participants/")
    page.get_by_label("Site of the new participant").select_option("MSKCC")
    page.get_by_role("button", name="New participant").click()
    page.wait_for_url(re.compile(r"/screening/$"))
    number = page.url.rstrip("/").split("/")[-2]
    record = json.loads((REPO / "tests" / "vectors" / "screening_record_contract.json").read_text())
    typed = screening_form.typed_from_record(record)
    form = page.locator("#screening-form")
    for name, value in typed.items():
        field = form.locator(f'[name="{name}"]')
        assert field.count() == 1, f"no screening field {name}"
        kind = field.evaluate("e => e.tagName + ':' + (e.type || '')")
        if kind.startswith("SELECT"):
            field.select_option(value)
        elif kind.endswith(":checkbox"):
            field.check()
        else:
            field.fill(value)
    # The live verdict (HTMX, on change) says eligible before anything is saved.
    page.locator("#verdict .verdict-eligible").first.wait_for()
    walk.shot("screening-live-verdict-eligible")
    page.get_by_role("button", name="Save screening record").click()
    page.wait_for_load_state()
    assert "saved" in page.locator(".messages").inner_text()
    return number


def test_one_participant_from_login_to_the_signed_casebook(server: Server) -> None:
    sync_api = _browser_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    started = time.monotonic()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            _walk(Walk(browser, server))
        finally:
            browser.close()
    assert time.monotonic() - started < 180


def _walk(walk: Walk) -> None:
    # -- the coordinator screens and records consent
    page = walk.sign_in("demo-coordinator-mskcc")
    walk.shot("coordinator-home")
    sn = _screening(walk)
    walk.go(f"/participants/{sn}/consent/")
    page.get_by_label("Written, signed").check()
    page.get_by_label("The participant").check()
    page.get_by_label("Obtained at (UTC)").fill(_utc_input(datetime.now(UTC) - timedelta(minutes=5))[:16])
    page.get_by_label("Consent form version").fill("v1.0")
    page.get_by_role("button", name="Record consent").click()
    page.wait_for_load_state()
    assert "Consent of" in page.locator(".messages").inner_text()
    walk.shot("consent-recorded")

    # -- the investigator randomizes (never sees an arm)
    page = walk.sign_in("demo-investigator-mskcc")
    walk.go(f"/participants/{sn}/randomize/")
    page.get_by_label(re.compile("I confirm, as investigator")).check()
    page.get_by_role("button", name="Randomize").click()
    page.locator("#done-h").wait_for()
    randomized_by = datetime.now(UTC)  # the randomization happened before this moment
    assert not re.search(r"\b(placebo|saline)\b", page.content(), re.I)
    walk.shot("randomized-by-investigator")

    # -- the unblinded pharmacist prepares doses 1 and 2 of the walked participant and of the one randomized
    #    three days ago (second factor at sign-in)
    page = walk.sign_in("demo-unblinded-pharmacist-mskcc")
    early = walk.server.early
    for number in (sn, early):
        walk.go(f"/participants/{number}/pharmacy/")
        for dose in ("1", "2"):
            # Dose and lot come from lists: the doses still due and the usable, unexpired lots.
            page.get_by_label("Dose number").select_option(dose)
            page.get_by_label(re.compile(r"^Lot\b")).select_option(LOT)
            page.get_by_role("button", name="Record preparation").click()
            page.wait_for_load_state()
            assert "prepared" in page.locator(".messages").inner_text(), page.content()[:3000]
    volume = page.locator("table").first.locator("tbody tr").first.locator("td").nth(5).inner_text().strip()
    walk.shot("pharmacist-preparations")

    # -- the coordinator records dose 1 of the walked participant; dose 2 is refused inside 72 h
    page = walk.sign_in("demo-coordinator-mskcc")
    now = datetime.now(UTC)

    def record_dose(number: str, dose: str, at: datetime) -> str:
        # From the participant's overview, the Doses tab: HTMX swaps in the section and its address.
        walk.go(f"/participants/{number}/")
        page.locator('nav[aria-label="Participant sections"]').get_by_role("link", name="Doses").click()
        page.wait_for_url(f"**/participants/{number}/doses/")
        page.locator("#dose-form").wait_for()
        page.get_by_label("Dose number").fill(dose)
        page.get_by_label("Given at (UTC)").fill(at.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_label("Injection site").select_option("left_deltoid")
        page.get_by_label("Volume (mL)").fill(volume)
        page.get_by_label("Local reaction").select_option("none")
        page.get_by_role("button", name="Record dose").click()
        page.wait_for_load_state()
        return str(page.locator(".messages").inner_text())

    # The page takes whole minutes and no dose may precede randomization: dose 1 at the first whole minute
    # after it, once that minute has come.
    dose1_at = (randomized_by + timedelta(minutes=1)).replace(second=0, microsecond=0)
    time.sleep(max(0.0, (dose1_at - datetime.now(UTC)).total_seconds() + 0.5))
    assert "Dose 1 recorded" in record_dose(sn, "1", dose1_at), page.content()[:3000]
    refused = record_dose(sn, "2", datetime.now(UTC))
    assert "Dose not recorded" in refused and "72 h" in refused, refused
    # Refused, the form keeps what was typed: nothing to type again.
    assert page.get_by_label("Dose number").input_value() == "2"
    assert page.get_by_label("Volume (mL)").input_value() == volume
    assert page.get_by_label("Injection site").input_value() == "left_deltoid"
    walk.shot("dose-2-refused-inside-72-hours")

    # -- ... and doses 1 and 2 of the participant randomized three days ago, 73 h apart
    t0 = now - EARLY_RANDOMIZATION
    for dose, at in (("1", t0 + timedelta(hours=1)), ("2", now - timedelta(minutes=1))):
        assert f"Dose {dose} recorded" in record_dose(early, dose, at), page.content()[:3000]
    rows = page.locator("#dose-h + table tbody tr")
    assert rows.count() == 2 and "Left deltoid" in rows.nth(1).inner_text()
    walk.shot("two-doses-given")
    walk.go(f"/participants/{early}/calendar/")
    assert page.locator("table.calendar").count() == 1
    walk.shot("calendar-after-two-doses")
    # The Data tab: every value with its versions, filtered by form without leaving the section.
    page.locator('nav[aria-label="Participant sections"]').get_by_role("link", name="Data").click()
    page.wait_for_url(f"**/participants/{early}/data/")
    page.get_by_label("Filter by form").select_option("STUDY-DRUG")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/data/?form=STUDY-DRUG*")
    forms = page.locator("#items-h ~ table tbody tr td:first-child").all_inner_texts()
    assert forms and set(forms) == {"STUDY-DRUG"}, forms
    walk.shot("data-tab-filtered")
    # The doses filled the STUDY-DRUG form of their visits.
    walk.go(f"/participants/{early}/forms/STUDY-DRUG/?visit=DOSE2")
    assert page.locator('[name="injection_site"]').input_value() == "left_deltoid"
    walk.shot("study-drug-form-from-the-dose")

    # -- labs on the LAB form: a typo is shown beside its field and kept, then fixed
    walk.go(f"/participants/{sn}/forms/LAB/?visit=BASELINE&instance=1")
    lab = {
        "collected_at": _utc_input(now - timedelta(minutes=30)),
        "alc": "65O",
        "alc.unit": "cells/uL",
        "alc_lln": "1000",
    }
    walk.fill_form(lab)
    # The edit check fires on entry (HTMX), beside the field, before anything is saved.
    page.locator("#msg-alc", has_text="is not a number").wait_for()
    page.get_by_role("button", name="Save LAB").click()
    page.wait_for_load_state()
    assert "is not accepted" in page.locator("#msg-alc").inner_text()
    assert page.locator("#f-alc").input_value() == "65O"
    walk.shot("lab-typo-shown-beside-the-field")
    page.locator("#f-alc").fill("650")
    page.get_by_role("button", name="Save LAB").click()
    page.wait_for_load_state()
    derived = page.locator("table.derived").inner_text()
    assert "ctcae_lymphocyte_count_decreased" in derived and "2" in derived
    walk.shot("lab-saved-with-ctcae-grade")

    # -- the monitor raises a query on the ALC
    page = walk.sign_in("demo-monitor-mskcc")
    walk.go(f"/participants/{sn}/forms/LAB/?visit=BASELINE&instance=1")
    page.get_by_label("Item", exact=True).select_option("alc")
    page.get_by_label("Question", exact=True).fill("The lab report says 560 cells/uL; please check.")
    page.get_by_role("button", name="Raise query").click()
    page.wait_for_load_state()
    assert page.locator(".query .status-open").count() == 1
    walk.shot("monitor-raised-query")

    # -- the coordinator answers it
    page = walk.sign_in("demo-coordinator-mskcc")
    walk.go(f"/participants/{sn}/forms/LAB/?visit=BASELINE&instance=1")
    page.get_by_label(re.compile(r"Answer to query")).fill("Checked against the source: 650 is right.")
    page.get_by_role("button", name="Answer").click()
    page.wait_for_load_state()
    assert page.locator(".query .status-answered").count() == 1
    walk.shot("coordinator-answered-query")

    # -- the monitor closes it and verifies the source data
    page = walk.sign_in("demo-monitor-mskcc")
    walk.go("/queries/")
    walk.shot("monitor-open-queries")
    walk.go(f"/participants/{sn}/forms/LAB/?visit=BASELINE&instance=1")
    page.get_by_role("button", name=re.compile(r"^Close query")).click()
    page.wait_for_load_state()
    assert page.locator(".query .status-closed").count() == 1
    page.get_by_role("button", name="Mark source data verified").click()
    page.wait_for_load_state()
    assert page.locator("#sdv-state").inner_text() == "source data verified"
    walk.shot("monitor-closed-query-and-verified")

    # -- the coordinator records an adverse event (grade suggested from the lab value), discharge, end of study
    page = walk.sign_in("demo-coordinator-mskcc", width=900)  # tablet width
    today = _today_new_york()
    walk.go(f"/participants/{sn}/forms/ADVERSE-EVENT/?instance=1")
    walk.fill_form(
        {
            "term": "Lymphocyte count decreased", "grade": "2", "onset_date": today, "serious": "false",
            "relatedness": "unlikely", "expected": "false", "outcome": "not_recovered",
            "lab_term": "lymphocyte_count_decreased", "lab_value": "650", "lab_unit": "cells/uL", "lab_lln": "1000",
        }
    )  # fmt: skip
    page.get_by_role("button", name="Save ADVERSE-EVENT").click()
    page.wait_for_load_state()
    assert "suggested_grade" in page.locator("table.derived").inner_text()
    walk.shot("adverse-event-with-grade-tablet")
    walk.go(f"/participants/{sn}/forms/HOSPITAL-STAY/?instance=1")
    walk.fill_form(
        {
            "stay_type": "hospital", "readmission": "false", "admitted_at": _utc_input(now - timedelta(days=4)),
            "discharged_at": _utc_input(datetime.now(UTC) - timedelta(seconds=30)), "discharge_destination": "home",
        }
    )  # fmt: skip
    page.get_by_role("button", name="Save HOSPITAL-STAY").click()
    page.wait_for_load_state()
    assert "saved" in page.locator(".messages").inner_text()
    walk.shot("discharge-recorded")
    walk.go(f"/participants/{sn}/calendar/")
    assert "not applicable" in (page.locator("table.calendar").inner_text() + page.content()).lower()
    walk.shot("calendar-after-discharge")
    walk.go(f"/participants/{sn}/forms/END-OF-STUDY/?instance=1")
    walk.fill_form(
        {"end_status": "withdrew_consent", "end_date": today, "withdrawal_reason": "Asked to stop follow-up"}
    )
    page.get_by_role("button", name="Save END-OF-STUDY").click()
    page.wait_for_load_state()
    assert "saved" in page.locator(".messages").inner_text()
    walk.shot("end-of-study")

    # -- on a phone (390 px) the participant list and the calendar keep every status cell in view (issue 17)
    page = walk.sign_in("demo-coordinator-mskcc", width=390)
    for path, table in (("/participants/", "table.stack"), (f"/participants/{sn}/calendar/", "table.calendar")):
        walk.go(path)
        cells = page.locator(f"{table} td[data-label='Status']")
        assert cells.count() > 0, path
        for index in range(cells.count()):
            box = cells.nth(index).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (path, index, box)
    walk.shot("calendar-on-a-phone")

    # -- the investigator signs the casebook (password and authenticator code again)
    page = walk.sign_in("demo-investigator-mskcc")
    walk.go(f"/participants/{sn}/casebook/")
    assert page.locator("#casebook-ready").inner_text() == "yes"
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Authenticator code").fill(walk.code("demo-investigator-mskcc"))
    page.get_by_role("button", name="Sign the casebook").click()
    page.wait_for_load_state()
    signature = page.locator("#signatures").inner_text()
    assert "Signed by" in signature and "I approve this casebook" in signature and "valid" in signature
    walk.shot("casebook-signed")

    # -- the coordinator's day: the record-status dashboard is the landing page, the worklist one click away
    page = walk.sign_in("demo-coordinator-mskcc")
    assert urlsplit(page.url).path == "/dashboard/", page.url
    assert sn in page.locator("table.record-status").inner_text()
    walk.shot("coordinator-lands-on-record-status")
    page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile(r"^Worklist")).click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Worklist"
    walk.shot("coordinator-worklist")

    # -- a data manager exports SDTM from the web app: built in the background with progress, then downloaded
    page = walk.sign_in("demo-data-manager")
    walk.go("/exports/")
    assert page.locator("h1").inner_text() == "Data exports", page.content()[:2000]
    page.get_by_role("radio", name=re.compile(r"SDTM")).check()
    page.get_by_role("button", name="Start the export").click()
    page.locator("#export-download").wait_for(timeout=120_000)  # the status polls (HTMX) until the zip is built
    walk.shot("data-manager-export-ready")
    with page.expect_download() as download:
        page.locator("#export-download").click()
    names = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())).namelist()
    assert any(n.endswith("/dm.xpt") for n in names) and any(n.endswith("/define.xml") for n in names), names

    # -- every page in the navigation of every demo user passes axe-core
    for username in walk.server.users:
        page = walk.sign_in(username)
        for href in (
            page.get_by_role("navigation", name="Main")
            .get_by_role("link")
            .evaluate_all("links => links.map(a => a.getAttribute('href'))")
        ):
            walk.go(href)
            walk.check_accessibility(username)
    walk.context.close()

    assert walk.inaccessible == {}, json.dumps(walk.inaccessible, indent=1)

    assert walk.outside == [], walk.outside
    assert walk.csp == [], walk.csp


def test_a_missing_browser_is_skipped_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(globals(), "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="nonexistent"):
        _browser_or_skip()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        _browser_or_skip()


def test_the_accessibility_check_fails_a_page_with_an_unlabelled_field_and_no_language() -> None:
    """The axe-core check of the walk can fail: a page with an unlabelled input and no `lang` is caught."""
    sync_api = _browser_or_skip()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            walk = Walk(browser, Server(Path("/nonexistent")))
            walk.page = browser.new_page()
            walk.page.set_content("<!doctype html><html><head><title>t</title></head><body><input></body></html>")
            walk.check_accessibility("bad")
        finally:
            browser.close()
    (found,) = walk.inaccessible.values()
    assert {line.split(" ")[0] for line in found} >= {"label", "html-has-lang"}, found
