"""The support console's end-to-end scenario in headless Chromium (run by scripts/test-console).

Signs in with the bootstrap token, creates an organisation, issues a SCIM token and reads it off the
page, provisions a user over SCIM, finds it in the users list and its event on the events page, maps
a custom field (after a rejected attempt) and provisions a user that uses it, revokes the token and
sees SCIM answer 401, offboards and restores the organisation (finding no credential form while it is
offboarded), offboards and purges a third one with its slug typed, signs in again with the keyboard
alone and walks every link and form control of the overview and tokens pages with Tab and Shift+Tab
(order, visible focus ring with 3:1 contrast) and issues a token with the keyboard, issues an
organisation-bound readonly key, signs out, signs in with that key and finds no write control and no
other organisation, and signs out.

Fails on any browser console error (an expected 4xx document is allowed only where the step says so)
and on any serious or critical axe-core violation. Saves a screenshot of every page it checks.
"""

import argparse
import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import sync_playwright

parser = argparse.ArgumentParser()
parser.add_argument("--base", required=True)
parser.add_argument("--admin-token", required=True)
parser.add_argument("--chromium", required=True)
parser.add_argument("--shots", required=True)
args = parser.parse_args()

BASE = args.base
SHOTS = Path(args.shots)
axe = Axe()
console_errors = []
allowed_errors = {"count": 0}
axe_report = []
timings = []
failures = []


current = {}


def check(condition, message):
    if not condition:
        failures.append(message)
        print(f"FAIL: {message}", flush=True)
        page = current.get("page")
        if page is not None:
            print(f"  at {page.url}", flush=True)
            page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
        raise SystemExit(1)


def scim(method, path, token, body=None):
    """One SCIM call; returns (status, headers, parsed body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + "/scim/v2" + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/scim+json")
    try:
        with urllib.request.urlopen(request) as response:
            text = response.read().decode()
            return response.status, dict(response.headers), json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        return error.code, dict(error.headers), json.loads(text) if text else None


def audit(page, name):
    """axe on the current page (0 serious or critical violations) and a screenshot."""
    results = axe.run(page)
    violations = results.response.get("violations", [])
    bad = [v for v in violations if v.get("impact") in ("serious", "critical")]
    axe_report.append({
        "page": name, "url": page.url.replace(BASE, ""), "violations": len(violations),
        "serious_or_critical": len(bad), "ids": sorted({v["id"] for v in violations}),
    })
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    for violation in bad:
        targets = [node.get("target") for node in violation.get("nodes", [])][:3]
        print(f"axe {violation['impact']} on {name}: {violation['id']}: {violation['help']} {targets}", flush=True)
    check(not bad, f"{name}: {len(bad)} serious or critical axe violations")


def visible(locator, timeout=10000):
    """Whether the locator's first match becomes visible (waiting for a navigation to finish)."""
    try:
        locator.first.wait_for(state="visible", timeout=timeout)
        return True
    except Exception:
        return False


def step(name):
    def wrap(function):
        start = time.monotonic()
        function()
        timings.append((name, time.monotonic() - start))
        print(f"ok {time.monotonic() - start:6.2f}s  {name}", flush=True)
    return wrap


def expect_error_document(count=1):
    allowed_errors["count"] += count


user_body = lambda user_name, extra=None: {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"] + list((extra or {}).keys()),
    "userName": user_name,
    "name": {"givenName": "Ada", "familyName": "Lovelace"},
    "emails": [{"value": user_name, "type": "work", "primary": True}],
    "active": True,
    **(extra or {}),
}

# The element that has focus: its place among the page's focusable elements (data-kb, set by
# FOCUSABLES), what it is, whether it shows a focus ring, and how that ring contrasts with what is
# around it (the first opaque background behind the element's parent).
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) { return null; }
  const rgb = (text) => {
    const m = /rgba?\(([^)]+)\)/.exec(text || "");
    if (!m) { return null; }
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  let behind = {r: 255, g: 255, b: 255, a: 1};
  for (let e = el.parentElement; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c && c.a > 0.5) { behind = c; break; }
  }
  const style = getComputedStyle(el);
  const ring = rgb(style.outlineColor);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2 && ring !== null;
  const shadow = style.boxShadow && style.boxShadow !== "none";
  const [hi, lo] = ring ? [lum(ring), lum(behind)].sort((a, b) => b - a) : [0, 0];
  const rect = el.getBoundingClientRect();
  return {
    kb: el.dataset.kb === undefined ? null : Number(el.dataset.kb), id: el.id || "",
    text: (el.innerText || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 60),
    tag: el.tagName.toLowerCase(), focusVisible: el.matches(":focus-visible"), ring: outline || shadow,
    contrast: ring ? (hi + 0.05) / (lo + 0.05) : 0,
    inView: rect.bottom > 0 && rect.top < window.innerHeight && rect.right > 0 && rect.left < window.innerWidth,
  };
}"""

# Numbers every link and form control a keyboard user should reach, in document order, and
# returns how many there are and any element given a positive tabindex (which would reorder them).
FOCUSABLES = """() => {
  const all = Array.from(document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]"));
  const reachable = all.filter((el) => !el.disabled && el.tabIndex >= 0 && !el.closest("[hidden]")
    && getComputedStyle(el).visibility !== "hidden" && el.getClientRects().length > 0);
  reachable.forEach((el, i) => { el.dataset.kb = String(i); });
  return {
    count: reachable.length,
    names: reachable.map((el) => (el.innerText || el.id || el.getAttribute("href") || el.tagName).trim().slice(0, 40)),
    positive: all.filter((el) => el.tabIndex > 0).map((el) => el.outerHTML.slice(0, 80)),
  };
}"""


def focused():
    return current["page"].evaluate(FOCUSED)


def press_tab_until(predicate, what, limit=80):
    """Tab (and nothing else) until the focused element matches."""
    for _ in range(limit):
        current["page"].keyboard.press("Tab")
        info = focused()
        if info is not None and predicate(info):
            return info
    check(False, f"Tab never reached {what}")


def walk_with_keyboard(name):
    """From the top of the page, Tab reaches every link and form control in document order, each with a
    visible focus ring (3:1 against its background) in view; Shift+Tab walks them back in reverse."""
    page = current["page"]
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    expected = page.evaluate(FOCUSABLES)
    check(not expected["positive"], f"{name}: positive tabindex reorders the page: {expected['positive']}")
    order = []
    for _ in range(expected["count"] * 4 + 10):
        page.keyboard.press("Tab")
        info = focused()
        if info is None:
            break  # past the last element, to the browser's own controls
        if order and order[-1]["kb"] == info["kb"] and info["kb"] is not None:
            continue  # the parts of one control (a date field's day, month and year)
        check(info["kb"] is not None, f"{name}: Tab reached an element that is not a link or control: {info}")
        check(info["focusVisible"] and info["ring"], f"{name}: no visible focus ring on {info['tag']} {info['text']!r}")
        check(info["contrast"] >= 3, f"{name}: focus ring contrast {info['contrast']:.1f} on {info['text']!r}")
        check(info["inView"], f"{name}: focused {info['text']!r} is out of view")
        if order and info["kb"] == order[0]["kb"]:
            break
        order.append(info)
    seen = [info["kb"] for info in order]
    missed = [expected["names"][i] for i in range(expected["count"]) if i not in seen]
    check(not missed, f"{name}: Tab never reached {missed}")
    check(seen == list(range(expected["count"])), f"{name}: Tab order is not the reading order: {seen}")
    # Back from past the last element to the first with Shift+Tab.
    info = None
    for _ in range(3):
        page.keyboard.press("Shift+Tab")
        info = focused()
        if info is not None and info["kb"] == expected["count"] - 1:
            break
    check(info is not None and info["kb"] == expected["count"] - 1, f"{name}: Shift+Tab does not reach the last")
    back = [expected["count"] - 1]
    for _ in range(expected["count"] * 4):
        if back[-1] == 0:
            break
        page.keyboard.press("Shift+Tab")
        info = focused()
        check(info is not None and info["kb"] is not None, f"{name}: Shift+Tab left the page's controls: {info}")
        if info["kb"] != back[-1]:
            back.append(info["kb"])
    check(back == list(reversed(range(expected["count"]))), f"{name}: Shift+Tab order: {back}")
    keyboard_report.append((name, expected["count"]))
    print(f"   keyboard: {name}: {expected['count']} links and controls, in order both ways", flush=True)


keyboard_report = []
started = time.monotonic()
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(
        executable_path=args.chromium, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"])
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    current["page"] = page

    def on_console(message):
        if message.type != "error":
            return
        if allowed_errors["count"] > 0 and "Failed to load resource" in message.text:
            allowed_errors["count"] -= 1
            return
        console_errors.append(f"{page.url}: {message.text}")
        print(f"browser console error: {message.text}", flush=True)

    page.on("console", on_console)
    page.on("pageerror", lambda error: console_errors.append(f"{page.url}: {error}"))

    slug = "acme-" + secrets.token_hex(3)
    other = "globex-" + secrets.token_hex(3)
    doomed = "initech-" + secrets.token_hex(3)
    state = {}

    @step("sign in with the bootstrap token")
    def _():
        page.goto(BASE + "/console")
        check("/console/sign-in" in page.url, f"not sent to sign-in: {page.url}")
        audit(page, "01-sign-in")
        expect_error_document()
        page.get_by_label("Staff key", exact=True).fill("wrong-token-" + secrets.token_hex(8))
        page.get_by_role("button", name="Sign in").click()
        check(visible(page.get_by_role("alert")), "no message after a wrong token")
        audit(page, "02-sign-in-refused")
        page.get_by_label("Staff key", exact=True).fill(args.admin_token)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/console/organisations")

    @step("create two organisations")
    def _():
        page.get_by_label("Name", exact=True).fill("Globex Corporation")
        page.get_by_label("Slug", exact=True).fill(other)
        page.get_by_role("button", name="Create organisation").click()
        page.wait_for_url(f"**/console/organisations/{other}?done=organisation-created")
        page.goto(BASE + "/console/organisations")
        page.get_by_label("Name", exact=True).fill("Acme Ltd")
        page.get_by_label("Slug", exact=True).fill(slug)
        page.get_by_role("button", name="Create organisation").click()
        page.wait_for_url(f"**/console/organisations/{slug}?done=organisation-created")
        check(visible(page.get_by_role("status")), "no message after creating")
        check(page.get_by_role("heading", name="Connect Okta").is_visible(), "no Connect Okta panel")
        check(page.locator("#okta-base").inner_text() == BASE + "/scim/v2", "wrong SCIM base URL")
        # Never reached by its identity provider: a neutral badge and the next step, not a red "failing".
        check(page.locator(".heading .badge").inner_text() == "Not connected yet", "a new organisation's badge")
        check(page.locator(".heading .verdict-failing").count() == 0, "a new organisation shows failing")
        check(page.get_by_role("link", name="Issue a token").is_visible(), "no next step")
        check(visible(page.get_by_text("There is no active SCIM token")), "the status route's reasons are hidden")
        audit(page, "04-overview-new")
        page.goto(BASE + "/console/organisations")
        check(page.locator("tbody .verdict-failing").count() == 0, "a new organisation is failing on the list")
        check(page.get_by_text("Next: issue a token").count() == 2, "no next step on the list")
        audit(page, "03-organisations")

    @step("issue a SCIM token and read it off the page")
    def _():
        page.goto(BASE + f"/console/organisations/{slug}/tokens")
        audit(page, "05-tokens-empty")
        page.get_by_label("Label", exact=True).fill("okta")
        page.get_by_role("button", name="Issue token").click()
        token = page.locator("#issued-token").inner_text().strip()
        check(token.startswith("lascim_"), f"no token on the page: {token!r}")
        check(page.get_by_role("button", name="Copy token").is_visible(), "no copy button")
        audit(page, "06-token-issued")
        state["token"] = token

    @step("provision a user over SCIM and find it in the users list")
    def _():
        status, headers, body = scim("POST", "/Users", state["token"], user_body("ada@acme.test"))
        check(status == 201, f"SCIM create: {status} {body}")
        state["request_id"] = headers.get("X-Request-Id") or headers.get("x-request-id")
        page.goto(BASE + f"/console/organisations/{slug}/users")
        page.get_by_label("Search name, email or userName", exact=True).fill("ada")
        page.get_by_role("button", name="Apply").click()
        page.get_by_role("link", name="Ada Lovelace").click()
        check(page.get_by_role("heading", name="Ada Lovelace").is_visible(), "no user page")
        check(visible(page.get_by_text(body["id"])), "SCIM id not shown")
        audit(page, "08-user")
        page.goto(BASE + f"/console/organisations/{slug}/users")
        audit(page, "07-users")

    @step("find the user's event by request id")
    def _():
        page.goto(BASE + f"/console/organisations/{slug}/events")
        page.get_by_label("Request id", exact=True).fill(state["request_id"])
        page.get_by_role("button", name="Apply").click()
        events = page.locator("ul.events > li")
        check(events.count() == 1, f"{events.count()} events for the request id")
        check("ada@acme.test" in events.first.inner_text(), "event without the userName")
        audit(page, "09-events-by-request-id")

    @step("map a custom field (a rejected attempt first) and provision a user that uses it")
    def _():
        page.goto(BASE + f"/console/organisations/{slug}/custom-fields")
        audit(page, "10-custom-fields-empty")
        page.get_by_label("SCIM attribute", exact=True).fill("costCentre")
        page.get_by_label("Learn Amp field", exact=True).fill("Cost Centre")
        expect_error_document()  # the form comes back as 400 with the error beside the field
        page.get_by_role("button", name="Add mapping").click()
        check(visible(page.locator("#cf-field-error")), "no error beside the field")
        audit(page, "11-custom-fields-error")
        page.get_by_label("Learn Amp field", exact=True).fill("cost_centre")
        page.get_by_role("button", name="Add mapping").click()
        page.wait_for_url("**/custom-fields?done=fields-saved")
        check(page.get_by_role("cell", name="cost_centre", exact=True).is_visible(), "mapping not listed")
        audit(page, "12-custom-fields")
        extension = "urn:ietf:params:scim:schemas:extension:learnamp:2.0:User"
        status, _, body = scim("POST", "/Users", state["token"], user_body("grace@acme.test", {extension: {"costCentre": "CC-42"}}))
        check(status == 201, f"SCIM create with a custom field: {status} {body}")
        page.goto(BASE + f"/console/organisations/{slug}/users/{body['id']}")
        check(visible(page.get_by_text("CC-42")), "custom-field value not on the user page")

    @step("teams, events and settings pages")
    def _():
        page.goto(BASE + f"/console/organisations/{slug}/teams")
        audit(page, "13-teams-empty")
        page.goto(BASE + f"/console/organisations/{slug}/events")
        audit(page, "14-events")
        page.goto(BASE + f"/console/organisations/{slug}/settings")
        audit(page, "15-settings")
        page.goto(BASE + f"/console/organisations/{slug}")
        audit(page, "16-overview-active")

    @step("revoke the token after a confirmation; SCIM then gets 401")
    def _():
        page.goto(BASE + f"/console/organisations/{slug}/tokens")
        page.get_by_role("link", name="Revoke okta").click()
        audit(page, "17-token-revoke-confirm")
        status, _, _ = scim("GET", "/Users?count=1", state["token"])
        check(status == 200, f"the token stopped working before the confirmation: {status}")
        page.get_by_role("button", name="Revoke token").click()
        page.wait_for_url("**/tokens?done=token-revoked")
        audit(page, "18-tokens-revoked")
        status, _, _ = scim("GET", "/Users?count=1", state["token"])
        check(status == 401, f"SCIM after revocation: {status}")

    @step("create an OAuth client, rotate its secret, revoke the old secret after a confirmation")
    def _():
        page.goto(BASE + f"/console/organisations/{slug}/oauth-clients")
        audit(page, "30-oauth-clients-empty")
        page.get_by_label("Label", exact=True).fill("entra")
        page.get_by_role("button", name="Create client").click()
        secret = page.locator("#issued-secret").inner_text().strip()
        check(secret.startswith("lasecret_"), f"no secret on the page: {secret!r}")
        check(page.get_by_role("button", name="Copy secret").is_visible(), "no copy button")
        check(visible(page.get_by_text("/oauth/token")), "no token endpoint")
        audit(page, "31-oauth-client-created")
        page.get_by_role("button", name="Add a secret").click()
        check(page.locator("#issued-secret").inner_text().strip() != secret, "no new secret")
        audit(page, "32-oauth-secret-added")
        page.get_by_role("link", name="Revoke secret").first.click()
        audit(page, "33-oauth-secret-revoke-confirm")
        page.get_by_role("button", name="Revoke secret").click()
        page.wait_for_url("**/oauth-clients?done=oauth-secret-revoked")
        audit(page, "34-oauth-clients")

    @step("offboard the organisation after a confirmation, then restore it")
    def _():
        page.goto(BASE + f"/console/organisations/{slug}/settings")
        page.get_by_role("link", name="Offboard organisation…").click()
        audit(page, "35-offboard-confirm")
        page.get_by_role("button", name="Offboard organisation").click()
        page.wait_for_url("**?done=offboarded")
        check(visible(page.get_by_role("heading", name="Offboarded")), "no offboarded banner")
        check(visible(page.get_by_text("(in 30 days)")), "the purge date is not 30 days away")
        audit(page, "36-overview-offboarded")
        for tab, button in [("tokens", "Issue token"), ("oauth-clients", "Create client")]:
            page.goto(BASE + f"/console/organisations/{slug}/{tab}")
            check(page.get_by_role("button", name=button).count() == 0, f"{tab}: a create form while offboarded")
            check(visible(page.get_by_text("Restore the organisation to issue new credentials")), f"{tab}: no reason")
        audit(page, "39-oauth-clients-offboarded")
        page.goto(BASE + f"/console/organisations/{slug}")
        page.get_by_role("link", name="Restore organisation").click()
        audit(page, "37-restore-confirm")
        page.get_by_role("button", name="Restore organisation").click()
        page.wait_for_url("**?done=restored")
        audit(page, "38-overview-restored")

    @step("offboard a third organisation and purge it now, the slug typed (a wrong one first)")
    def _():
        page.goto(BASE + "/console/organisations")
        page.get_by_label("Name", exact=True).fill("Initech")
        page.get_by_label("Slug", exact=True).fill(doomed)
        page.get_by_role("button", name="Create organisation").click()
        page.wait_for_url(f"**/console/organisations/{doomed}?done=organisation-created")
        page.goto(BASE + f"/console/organisations/{doomed}/offboard")
        page.get_by_role("button", name="Offboard organisation").click()
        page.wait_for_url("**?done=offboarded")
        page.get_by_role("link", name="Purge now…").click()
        page.wait_for_url(f"**/console/organisations/{doomed}/purge")
        audit(page, "40-purge-confirm")
        expect_error_document()  # the form comes back as 400 with the error
        page.get_by_label("Type the slug").fill(doomed + "x")
        page.get_by_role("button", name="Purge organisation now").click()
        check(visible(page.get_by_role("alert")), "no error after a wrong slug")
        check(page.get_by_label("Type the slug").get_attribute("aria-invalid") == "true", "field not marked invalid")
        audit(page, "41-purge-wrong-slug")
        page.get_by_label("Type the slug").fill(doomed)
        page.get_by_role("button", name="Purge organisation now").click()
        page.wait_for_url("**/console/organisations?done=purged")
        check(visible(page.get_by_role("status")), "no notice after the purge")
        check(page.get_by_text(doomed).count() == 0, "the purged organisation is listed")
        audit(page, "42-organisations-purged")

    @step("keyboard only: sign in, walk the overview and tokens pages with Tab and Shift+Tab, issue a token")
    def _():
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/console/sign-in?signed-out=1")
        press_tab_until(lambda info: info["id"] == "token", "the staff key field")
        page.keyboard.type(args.admin_token)
        page.keyboard.press("Enter")
        page.wait_for_url("**/console/organisations")
        for path, name in [("", "overview"), ("/tokens", "tokens")]:
            page.goto(BASE + f"/console/organisations/{slug}{path}")
            walk_with_keyboard(name)
        press_tab_until(lambda info: info["id"] == "token-label", "the token's label field")
        page.keyboard.type("keyboard")
        press_tab_until(lambda info: info["text"] == "Issue token", "the Issue token button")
        page.keyboard.press("Enter")
        check(visible(page.locator("#issued-token")), "no token after issuing with the keyboard")
        token = page.locator("#issued-token").inner_text().strip()
        check(token.startswith("lascim_"), f"no token on the page: {token!r}")
        press_tab_until(lambda info: info["text"] == "Copy token", "the Copy token button")
        page.screenshot(path=str(SHOTS / "43-keyboard-focus.png"))
        status, _, _ = scim("GET", "/Users?count=1", token)
        check(status == 200, f"the token issued with the keyboard: {status}")

    @step("issue an organisation-bound readonly key; read the audit log")
    def _():
        page.goto(BASE + "/console/staff-keys")
        page.get_by_label("Holder", exact=True).fill("Acme admin (customer)")
        page.get_by_label("Role", exact=True).select_option("readonly")
        page.get_by_label("Organisation", exact=True).select_option(slug)
        page.get_by_role("button", name="Issue key").click()
        key = page.locator("#issued-key").inner_text().strip()
        check(key.startswith("lastaff_"), "no key on the page")
        state["key"] = key
        audit(page, "19-staff-keys")
        page.goto(BASE + "/console/audit")
        check(page.get_by_role("cell", name="POST /admin/v1/organisations/{slug}/tokens").first.is_visible(), "no audit entry")
        audit(page, "20-audit")

    @step("sign out")
    def _():
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/console/sign-in?signed-out=1")
        page.goto(BASE + "/console/organisations")
        check("/console/sign-in" in page.url, "still signed in after signing out")

    @step("sign in with the bound readonly key: no write control, no other organisation")
    def _():
        page.get_by_label("Staff key", exact=True).fill(state["key"])
        page.get_by_role("button", name="Sign in").click()
        # Back to the page that asked for sign-in (the organisations list, after the check above).
        page.wait_for_url("**/console/organisations")
        for path in ["", "/tokens", "/custom-fields", "/settings", "/users", "/events"]:
            page.goto(BASE + f"/console/organisations/{slug}{path}")
            posts = page.locator("form[method=post]:not([action='/console/sign-out'])")
            check(posts.count() == 0, f"{path or 'overview'}: {posts.count()} write forms for a readonly key")
        audit(page, "21-readonly-events")
        page.goto(BASE + f"/console/organisations/{slug}/tokens")
        audit(page, "22-readonly-tokens")
        page.goto(BASE + "/console/organisations")
        check(page.get_by_role("link", name="Acme Ltd").is_visible(), "own organisation missing")
        check(page.get_by_text(other).count() == 0, "another organisation is listed")
        check(page.get_by_text("New organisation").count() == 0, "create form shown")
        audit(page, "23-readonly-organisations")
        expect_error_document()
        page.goto(BASE + f"/console/organisations/{other}")
        check(page.get_by_role("heading", name="Organisation not found").is_visible(), "another organisation is reachable")
        audit(page, "24-not-found")
        expect_error_document()
        page.goto(BASE + "/console/staff-keys")
        check(page.get_by_role("heading", name="Not available to your key").is_visible(), "staff keys reachable")
        audit(page, "25-forbidden")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/console/sign-in?signed-out=1")
        audit(page, "26-signed-out")

    browser.close()

total = time.monotonic() - started
print("\nsteps:")
for name, seconds in timings:
    print(f"  {seconds:6.2f}s  {name}")
print(f"  {total:6.2f}s  total")
print("\naxe (violations of any impact / serious or critical):")
for entry in axe_report:
    ids = ", ".join(entry["ids"]) or "-"
    print(f"  {entry['page']:28} {entry['violations']} / {entry['serious_or_critical']}  {ids}")
(SHOTS / "axe.json").write_text(json.dumps(axe_report, indent=2))
print("\nkeyboard (links and controls reached with Tab and Shift+Tab, in order, each with a focus ring):")
for name, count in keyboard_report:
    print(f"  {name:28} {count}")
if console_errors:
    print("\nbrowser console errors:")
    for error in console_errors:
        print("  " + error)
    sys.exit(1)
print(f"\n{len(axe_report)} pages checked, 0 console errors")
