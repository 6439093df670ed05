"""Serial ports that exist only in software (pseudo-terminals), for simulators and tests.

:class:`PtyPort` is one port: code under test opens :attr:`PtyPort.path` like a real
device, the simulator reads and writes the far end. :class:`NullModem` is two ports
wired together, like a serial cable between two devices: a Modbus RTU master on one
end, the simulated detectors on the other. Linux/POSIX only.

Limit: a Linux pty accepts a configuration with parity once; reconfiguring it fails
with EINVAL (``termios.error``). pymodbus reconfigures its serial port right after
opening it, so Modbus RTU over a pty needs parity ``"N"``. Baud rate and parity are
not emulated anyway; real UARTs have no such limit.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty
from pathlib import Path


class PtyPort:
    """One pseudo-terminal standing in for a serial device.

    The device end is put in raw mode at once (no echo, no CR→LF translation), so
    bytes written before the code under test opens it arrive unchanged. This object
    keeps the device end open too, so the far end never sees a hang-up while the
    code under test closes and reopens the port.

    Args:
        link: Optional stable path made a symlink to the pty, as udev makes
            ``/dev/serial/by-id/...``: after :meth:`close`, a new ``PtyPort`` with the
            same ``link`` is "the same port plugged in again".
    """

    def __init__(self, link: str | Path | None = None) -> None:
        self._far, self._near = os.openpty()
        tty.setraw(self._near)
        self.device = os.ttyname(self._near)
        self.link = Path(link) if link is not None else None
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
            self.link.symlink_to(self.device)
        self._closed = False

    @property
    def path(self) -> str:
        """What the code under test opens: the link if there is one, else the device."""
        return str(self.link) if self.link is not None else self.device

    @property
    def fileno(self) -> int:
        """The far end's file descriptor (for ``select``)."""
        return self._far

    def write(self, data: bytes) -> None:
        """Send bytes to whoever has the port open (blocks only if its buffer is full)."""
        view = memoryview(data)
        while view:
            written = os.write(self._far, view)
            view = view[written:]

    def read(self, timeout: float) -> bytes:
        """Bytes the code under test wrote, waiting up to ``timeout`` for the first."""
        ready, _, _ = select.select([self._far], [], [], timeout)
        return os.read(self._far, 4096) if ready else b""

    def close(self) -> None:
        """Make the port disappear: the code under test sees a hang-up and the path,
        if any, no longer exists."""
        if self._closed:
            return
        self._closed = True
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        os.close(self._far)
        os.close(self._near)

    def __enter__(self) -> PtyPort:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class NullModem:
    """Two :class:`PtyPort` wired together by a thread: what one end's opener writes,
    the other end's opener reads. Baud rate and parity are not emulated.

    Args:
        link_a: Optional stable path for end A.
        link_b: Optional stable path for end B.
    """

    def __init__(self, link_a: str | Path | None = None, link_b: str | Path | None = None) -> None:
        self.a = PtyPort(link_a)
        self.b = PtyPort(link_b)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._pump, name="null-modem", daemon=True)
        self._thread.start()

    @property
    def path_a(self) -> str:
        """Path of end A."""
        return self.a.path

    @property
    def path_b(self) -> str:
        """Path of end B."""
        return self.b.path

    def _pump(self) -> None:
        ends = {self.a.fileno: self.b, self.b.fileno: self.a}
        while True:
            ready, _, _ = select.select([self.a.fileno, self.b.fileno, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                ends[fd].write(data)

    def close(self) -> None:
        """Cut the cable: stop the thread and remove both ports."""
        if self._wake_w < 0:
            return
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._wake_w = -1
        self.a.close()
        self.b.close()

    def __enter__(self) -> NullModem:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
