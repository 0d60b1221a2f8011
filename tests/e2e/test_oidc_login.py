"""Sign-in through a real OpenID Connect provider, in headless Chromium:
hub, the provider's form, back to the hub, a server, JupyterLab; roles from
group claims; a user outside the allowed groups is refused with a page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.browser import chromium
from tests.e2e.oidc import OidcProvider
from tests.hubproc import HubProcess

pytestmark = [pytest.mark.e2e, pytest.mark.docker, pytest.mark.slow]

COURSE = "mfg-2026"
USERS = {
    "alice": {"password": "alice-pw-1", "name": "앨리스", "groups": ["/companies/acme/learners"]},
    "ivan": {"password": "ivan-pw-1", "groups": ["/companies/acme/instructors", "/staff"]},
    "root": {"password": "root-pw-1", "groups": ["/aione/admins"]},
    "eve": {"password": "eve-pw-1", "groups": ["/companies/other/staff"]},
}
RULES = [
    {
        "group": "/companies/acme/learners",
        "role": "learner",
        "courses": [COURSE],
        "cohort": "acme-2026",
    },
    {"group": "/companies/*/instructors", "role": "instructor", "courses": [COURSE]},
    {"group": "/aione/admins", "role": "admin"},
]


@pytest.fixture(scope="module")
def sso(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[HubProcess, OidcProvider]]:
    tmp = tmp_path_factory.mktemp("oidc")
    provider = OidcProvider(tmp, {k: dict(v) for k, v in USERS.items()})
    auth = provider.settings(tmp / "client-secret", RULES, refresh_age=2)
    hub = HubProcess(tmp, {"courses": [{"id": COURSE}], "auth": auth})
    failed = request.session.testsfailed
    try:
        provider.start(redirect_uri=f"{hub.url}/hub/oauth_callback")
        hub.start()
        yield hub, provider
    finally:
        if request.session.testsfailed > failed:
            hub.dump_logs()
            print(f"===== provider log =====\n{provider.log()[-5000:]}")
        hub.cleanup()
        provider.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def sign_in(browser: Browser, hub: HubProcess, user: str) -> Page:
    page = browser.new_context(locale="ko-KR").new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{hub.url}/hub/login")
    page.get_by_role("button", name=re.compile("Sign in with Test SSO")).click()
    page.wait_for_selector("#username")
    assert page.url.startswith("http://127.0.0.1:") and "/interaction/" in page.url
    page.fill("#username", user)
    page.fill("#password", USERS[user]["password"])
    page.click("#sign-in")
    return page


def groups(hub: HubProcess, user: str) -> set[str]:
    return set(hub.api("GET", f"/users/{user}")["groups"])


def test_learner_signs_in_spawns_and_gets_jupyterlab(
    sso: tuple[HubProcess, OidcProvider], browser: Browser
) -> None:
    hub, _ = sso
    page = sign_in(browser, hub, "alice")
    page.wait_for_url(re.compile(rf"^{re.escape(hub.url)}/hub/"))
    model = hub.api("GET", "/users/alice")
    assert set(model["groups"]) == {f"course-{COURSE}-learners", "cohort-acme-2026"}
    assert model["admin"] is False
    page.goto(f"{hub.url}/hub/spawn")
    page.wait_for_url(re.compile(r"/user/alice/lab"), timeout=150_000)
    page.wait_for_selector("#jp-main-dock-panel", timeout=90_000)
    assert hub.api("GET", "/users/alice")["servers"][""]["ready"]


def test_wrong_password_stays_at_the_provider(
    sso: tuple[HubProcess, OidcProvider], browser: Browser
) -> None:
    hub, _ = sso
    page = browser.new_context().new_page()
    page.goto(f"{hub.url}/hub/oauth_login")
    page.fill("#username", "alice")
    page.fill("#password", "not-her-password")
    page.click("#sign-in")
    assert "Wrong user name or password" in page.inner_text("#error")
    assert "/interaction/" in page.url


def test_group_claims_give_instructor_and_admin(
    sso: tuple[HubProcess, OidcProvider], browser: Browser
) -> None:
    hub, _ = sso
    sign_in(browser, hub, "ivan").wait_for_url(re.compile(rf"^{re.escape(hub.url)}/hub/"))
    ivan = hub.api("GET", "/users/ivan")
    assert set(ivan["groups"]) == {f"course-{COURSE}-instructors"} and ivan["admin"] is False
    sign_in(browser, hub, "root").wait_for_url(re.compile(rf"^{re.escape(hub.url)}/hub/"))
    assert hub.api("GET", "/users/root")["admin"] is True


def test_outsider_is_refused_with_a_page(
    sso: tuple[HubProcess, OidcProvider], browser: Browser
) -> None:
    hub, _ = sso
    page = sign_in(browser, hub, "eve")
    refusal = page.wait_for_selector("#aione-refused")
    text = refusal.inner_text()
    assert "You are not enrolled on this hub" in text and "이 허브를 사용할 권한이 없습니다" in text
    assert "/companies/other/staff" in page.inner_text("#aione-provider-groups")
    assert "Traceback" not in page.content()
    assert hub.request("GET", "/hub/api/users/eve", hub.token)[0] == 404, "no account was made"


def test_group_change_at_the_provider_applies_without_new_sign_in(
    sso: tuple[HubProcess, OidcProvider], browser: Browser
) -> None:
    hub, provider = sso
    page = sign_in(browser, hub, "ivan")
    page.wait_for_url(re.compile(rf"^{re.escape(hub.url)}/(hub/|user/ivan/)"))  # signed in
    hub.api(
        "POST", f"/groups/course-{COURSE}-learners/users", {"users": ["ivan"]}
    )  # a roster's doing
    provider.set_user("ivan", groups=["/companies/acme/learners"])
    page.wait_for_timeout(2500)  # older than auth.oidc.refresh_age: the next request refreshes
    page.goto(f"{hub.url}/hub/home")
    assert groups(hub, "ivan") == {f"course-{COURSE}-learners", "cohort-acme-2026"}
    provider.set_user("ivan", groups=["/companies/other/staff"])
    page.wait_for_timeout(2500)
    page.goto(f"{hub.url}/hub/home")
    assert groups(hub, "ivan") == {f"course-{COURSE}-learners"}, "roster membership is kept"
    assert "course-mfg-2026-instructors" not in groups(hub, "ivan")
