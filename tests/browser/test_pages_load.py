"""Every cloud page loads in Chromium without a script error or a failed request (the
pages share /static/auth.js and /static/dom.js; a helper declared twice, or missing,
breaks a page)."""

from __future__ import annotations

from playwright.sync_api import ConsoleMessage, Page, Response

from cloud.api.app import PAGES
from tests.conftest import Service

# The role each page is for; the rest are the operator's.
ROLE = {"/console": "fire_team", "/station": "station"}


def test_every_page_loads_without_a_script_error(page: Page, api: Service) -> None:
    errors: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        # A failed request is checked below, by its URL (Chromium also logs the
        # favicon it looks for, which the API does not serve).
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            errors.append(f"{page.url}: {msg.text}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            errors.append(f"{page.url}: {response.status} {response.url}")

    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    page.on("console", on_console)
    page.on("response", on_response)
    for path in PAGES:
        token = api.tokens[ROLE.get(path, "operator")]
        response = page.goto(f"{api.base_url}{path}#token={token}")
        assert response is not None, path
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
    assert errors == []
