"""The kiosk's staff PIN: the screen faces the customers, so correcting a bill or settling a
menu order needs the PIN when the box has one."""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from edge.checkout.kiosk import LOCKOUT_S, MAX_WRONG_PINS, KioskServer, PinGuard
from edge.config import load_config
from models.traycolour.runtime import TrayRecognizer
from tests.checkout_support import pipelines

PIN = "2468"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_without_a_pin_every_action_goes_through() -> None:
    guard = PinGuard(None)
    assert not guard.required
    assert guard.check(None) is None
    assert guard.check("1234") is None


def test_the_right_pin_passes_and_others_are_refused() -> None:
    guard = PinGuard(PIN)
    assert guard.required
    assert guard.check(PIN) is None
    assert guard.check(None) == (HTTPStatus.FORBIDDEN, "type the staff PIN first")
    assert guard.check("") == (HTTPStatus.FORBIDDEN, "type the staff PIN first")
    assert guard.check("1357") == (HTTPStatus.FORBIDDEN, "wrong staff PIN")
    assert guard.check(2468) == (HTTPStatus.FORBIDDEN, "wrong staff PIN")  # not a string


def test_wrong_pins_in_a_row_lock_the_actions_for_a_while() -> None:
    clock = Clock()
    guard = PinGuard(PIN, clock=clock)
    for _ in range(MAX_WRONG_PINS - 1):
        assert guard.check("0000") == (HTTPStatus.FORBIDDEN, "wrong staff PIN")
    assert guard.check(PIN) is None  # a right PIN starts the count again
    for _ in range(MAX_WRONG_PINS):
        assert guard.check("0000") is not None
    refused = guard.check(PIN)  # even the right PIN waits out the lock
    assert refused is not None
    assert refused[0] == HTTPStatus.TOO_MANY_REQUESTS
    assert f"{int(LOCKOUT_S)} s" in refused[1]
    clock.now += LOCKOUT_S + 0.1
    assert guard.check(PIN) is None


def test_the_pin_in_the_config_must_be_digits() -> None:
    base = {"device": {"id": "co-1", "kind": "checkout", "site": "s"}}
    config = load_config(None, **base, checkout={"staff_pin": "024680"})
    assert config.checkout is not None
    assert config.checkout.staff_pin is not None
    assert config.checkout.staff_pin.get_secret_value() == "024680"
    assert "024680" not in repr(config.checkout)  # a secret, kept out of logs
    for bad in ("12", "12ab", "1234567890123", "١٢٣٤"):
        with pytest.raises(ValidationError, match="4 to 12 digits"):
            load_config(None, **base, checkout={"staff_pin": bad})


def test_the_pin_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(
        '[device]\nid = "co-1"\nkind = "checkout"\nsite = "s"\n[checkout]\nsource = "camera:0"\n'
    )
    monkeypatch.setenv("TIANSHAN_EDGE__CHECKOUT__STAFF_PIN", "9753")
    checkout = load_config(path).checkout
    assert checkout is not None
    assert checkout.source == "camera:0"  # the file's section, with the PIN added
    assert checkout.staff_pin is not None
    assert checkout.staff_pin.get_secret_value() == "9753"


@pytest.fixture
def kiosk_url(tmp_path: Path) -> Iterator[str]:
    with pipelines(tmp_path, TrayRecognizer()) as make:
        server = KioskServer(make(), host="127.0.0.1", port=0, staff_pin=PIN)
        server.start()
        yield server.url
        server.stop()


def _call(url: str, body: dict[str, object] | None = None) -> tuple[int, dict[str, object]]:
    response = httpx.get(url) if body is None else httpx.post(url, json=body)
    answer: dict[str, object] = response.json()
    return response.status_code, answer


def test_the_kiosk_asks_for_the_pin_before_any_staff_action(kiosk_url: str) -> None:
    status, state = _call(kiosk_url + "api/state")
    assert status == HTTPStatus.OK
    assert state["pin_required"] is True
    correction: dict[str, object] = {"transaction_id": "no-such-tray", "colours": ["red"]}
    order: dict[str, object] = {"order_number": "0042", "dishes": ["A1"]}
    for path, body in (("api/correct", correction), ("api/menu", order)):
        assert _call(kiosk_url + path, body) == (
            HTTPStatus.FORBIDDEN,
            {"error": "type the staff PIN first"},
        )
        assert _call(kiosk_url + path, {**body, "pin": "1111"}) == (
            HTTPStatus.FORBIDDEN,
            {"error": "wrong staff PIN"},
        )
    # With the PIN the action reaches the pipeline, which answers for itself.
    status, answer = _call(kiosk_url + "api/correct", {**correction, "pin": PIN})
    assert status == HTTPStatus.BAD_REQUEST
    assert "no-such-tray" in str(answer["error"])
