"""Make a real backend go away and come back, without touching the shared servers.

``TcpProxy`` forwards a loopback port to a real service (the suite's PostgreSQL or Redis);
``stop()`` closes the port and cuts every open connection, as a crashed or unreachable
server would; ``start()`` brings the same port back. ``PrivateRedis`` runs a
``redis-server`` of the test's own on a free port, so it can be killed and restarted.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TcpProxy:
    """127.0.0.1:<port> -> ``upstream``, one thread pair per connection."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._clients: set[socket.socket] = set()
        self._cut_after: int | None = None  # bytes towards the server still allowed through

    def url(self, scheme_and_rest: str) -> str:
        """``postgresql://postgres@{}/db`` with the proxy's address filled in."""
        return scheme_and_rest.format(f"127.0.0.1:{self.port}")

    def start(self) -> "TcpProxy":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut_after(self, upstream_bytes: int) -> None:
        """``stop()`` once this many more bytes have gone towards the server: the backend
        dies in the middle of a write (a COPY), at a point the test chooses by size."""
        with self._lock:
            self._cut_after = upstream_bytes

    def _count(self, source: socket.socket, size: int) -> bool:
        """Count bytes sent upstream; True when the cut point is reached."""
        with self._lock:
            if self._cut_after is None or source not in self._clients:
                return False
            self._cut_after -= size
            if self._cut_after > 0:
                return False
            self._cut_after = None
        return True

    def stop(self) -> None:
        """Refuse new connections and reset the open ones."""
        if self._listener is not None:
            try:  # wakes the thread blocked in accept(); close() alone leaves it accepting
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            doomed, self._open = self._open, set()
            self._clients.clear()
        for sock in doomed:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, server))
                self._clients.add(client)
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                if self._count(source, len(chunk)):
                    self.stop()
                    return
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class PrivateRedis:
    """A ``redis-server`` only this test uses (no persistence), on a free port."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH")
        self._binary, self._dir = binary, workdir
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        self._process = subprocess.Popen(
            [self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self._dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None
