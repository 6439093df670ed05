"""What the kiosk's staff actions answer when the box cannot store them."""

from __future__ import annotations

import sqlite3
from http import HTTPStatus
from typing import TYPE_CHECKING

import httpx

from edge.checkout.kiosk import KioskServer
from models.traycolour.runtime import TrayRecognizer
from tests.checkout_support import pipelines, recorded
from wire.checkout import TRANSACTION

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_a_menu_order_the_outbox_cannot_store_gets_503_and_can_be_sent_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pipelines(tmp_path, TrayRecognizer()) as make:
        box = make()
        server = KioskServer(box, host="127.0.0.1", port=0, staff_pin=None)
        server.start()
        try:
            real = box.agent.outbox.put_many

            def full(*_args: object, **_kwargs: object) -> list[int]:
                raise sqlite3.OperationalError("database or disk is full")

            monkeypatch.setattr(box.agent.outbox, "put_many", full)
            order = {"order_number": "0042", "dishes": ["A1"]}
            response = httpx.post(server.url + "api/menu", json=order)
            assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
            assert response.json() == {
                "error": "not saved: the box could not store it (database or disk is full)"
            }
            assert recorded(box, TRANSACTION) == []
            monkeypatch.setattr(box.agent.outbox, "put_many", real)
            response = httpx.post(server.url + "api/menu", json=order)
            assert response.status_code == HTTPStatus.OK
            assert len(recorded(box, TRANSACTION)) == 1
        finally:
            server.stop()
