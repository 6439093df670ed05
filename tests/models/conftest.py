"""Shared fixtures of the tray-colour tests: one recogniser on the committed model, and the
ARM64 root that runs it as on a Raspberry Pi."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.traycolour.portability import DEFAULT_ARM_ROOT, REPO
from models.traycolour.runtime import DEFAULT_MODEL_PATH, TrayRecognizer


@pytest.fixture(scope="session")
def recognizer() -> TrayRecognizer:
    """The committed model, one onnxruntime thread, as the checkout runs it."""
    assert DEFAULT_MODEL_PATH.exists(), (
        "run `make model` to build models/traycolour/traycolour.onnx"
    )
    return TrayRecognizer(threads=1)


@pytest.fixture(scope="session")
def arm_root() -> Path:
    """The ARM64 root, made by the project's script when it is not there yet (about 30 s
    and 230 MB of Debian packages and wheels)."""
    proc = subprocess.run(
        ["unshare", "--mount", "true"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.skip(f"this kernel refuses a mount namespace ({proc.stderr.strip()})")
    env = dict(os.environ, VENV_PYTHON=sys.executable)
    subprocess.run(
        [str(REPO / "scripts" / "arm64-root.sh"), str(DEFAULT_ARM_ROOT)],
        cwd=REPO,
        env=env,
        check=True,
    )
    return DEFAULT_ARM_ROOT
