"""A client that trickles its headers (one byte a second) is cut off by `launchcast serve`.

A real server in a subprocess and a real socket: the deadline lives in the HTTP protocol, below
anything an in-process test client reaches.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import migrations

LAUNCHCAST = str(Path(sys.executable).parent / "launchcast")
HEADER_TIMEOUT = 2.0
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: trickle\r\n\r\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    folder = tmp_path_factory.mktemp("serve")
    url = f"sqlite:///{folder / 'serve.db'}"
    migrations.upgrade(url)
    port = free_port()
    env = {
        **os.environ,
        "LAUNCHCAST_DATABASE_URL": url,
        "LAUNCHCAST_ARTIFACT_DIR": str(folder / "artifacts"),
        "LAUNCHCAST_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
    }
    process = subprocess.Popen(
        [LAUNCHCAST, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):  # start-up imports the app: wait until it accepts
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "launchcast serve exited"
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def closed_by_server(sock: socket.socket, wait: float) -> bool:
    """Wait up to `wait` seconds for the server to close (EOF or reset)."""
    readable, _, _ = select.select([sock], [], [], wait)
    if not readable:
        return False
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


def test_a_client_sending_one_header_byte_a_second_is_cut_off(server: int) -> None:
    # Timed from before connecting: the server's deadline runs from its accepting the
    # connection, which a clock started after connect() returns would miss (1.9998 s was seen).
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        sent = 0
        for byte in REQUEST:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            if closed_by_server(sock, 1.0):
                break
        else:
            pytest.fail("the server read the whole trickled request without cutting it off")
        seconds = time.monotonic() - started
    # Cut off long before the 60-odd bytes of headers were through, after the deadline.
    assert sent < len(REQUEST) // 4
    assert seconds >= HEADER_TIMEOUT
    print(f"slow client cut off after {seconds:.1f} s and {sent} bytes")


def test_a_prompt_client_is_answered_and_kept_alive(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        for _ in range(2):  # two requests on one connection
            sock.sendall(REQUEST)
            answer = b""
            while b'"ok"' not in answer:
                chunk = sock.recv(4096)
                assert chunk, answer
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")
