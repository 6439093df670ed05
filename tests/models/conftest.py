"""Shared fixtures of the tray-colour tests: one recogniser on the committed model."""

from __future__ import annotations

import pytest

from models.traycolour.runtime import DEFAULT_MODEL_PATH, TrayRecognizer


@pytest.fixture(scope="session")
def recognizer() -> TrayRecognizer:
    """The committed model, one onnxruntime thread, as the checkout runs it."""
    assert DEFAULT_MODEL_PATH.exists(), (
        "run `make model` to build models/traycolour/traycolour.onnx"
    )
    return TrayRecognizer(threads=1)
