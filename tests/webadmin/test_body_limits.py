"""Bounded bodies (issue 11, finding 5): limits per route are enforced from the headers, before a body is read;
anonymous requests get a few KB; upload routes stream their body only after the sender is authenticated."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

MB = 1024 * 1024


def rss_kb(pid: int) -> int:
    """The process's resident memory in KB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def send_big(port: int, head: str, total: int, chunked: bool = False) -> tuple[int, bytes]:
    """Send a request head announcing ``total`` body bytes, then push the body until the server answers or
    drops the connection; returns (bytes of body sent, what came back)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(head.encode())
    block, sent, answer = b"a" * (256 * 1024), 0, b""
    s.settimeout(0.05)
    try:
        while sent < total:
            piece = block[:total - sent]
            s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
            try:
                got = s.recv(65536)
            except socket.timeout:
                continue
            answer += got
            break
    except (BrokenPipeError, ConnectionResetError):
        pass
    s.settimeout(5)
    try:
        while True:
            got = s.recv(65536)
            if not got:
                break
            answer += got
    except (OSError, socket.timeout):
        pass
    s.close()
    return sent, answer


def status_of(answer: bytes) -> int | None:
    """The status code of the first response in ``answer`` (None when the server just closed)."""
    if not answer.startswith(b"HTTP/1.1 "):
        return None
    return int(answer[9:12])


def test_six_anonymous_95_mb_logins_are_refused_before_the_body(panel_box) -> None:
    """The reproduction: six anonymous 95 MB POST /login answer 413 at once, almost nothing of the body is
    taken, and the daemon's memory does not grow."""
    pid = panel_box.proc.pid
    before = rss_kb(pid)
    for _ in range(6):
        head = (f"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {95 * MB}\r\n\r\n")
        t0 = time.monotonic()
        sent, answer = send_big(panel_box.port, head, 95 * MB)
        assert status_of(answer) in (413, None), answer[:200]
        if status_of(answer) == 413:
            body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
            assert body == {"error": "body: at most 16 KB for this request", "status": 413}
        assert sent < 20 * MB, f"the server kept reading: {sent} bytes sent"
        assert time.monotonic() - t0 < 10
    grown = rss_kb(pid) - before
    print(f"six anonymous 95 MB logins: RSS {before // 1024} MB -> {(before + grown) // 1024} MB")
    assert grown < 5 * 1024, f"RSS grew by {grown} KB"
    with socket.create_connection(("127.0.0.1", panel_box.port)) as s:   # still serving
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 200")


def test_chunked_anonymous_body_is_cut_off_at_the_limit(panel_box) -> None:
    """Without a Content-Length the body is counted as it arrives and the connection dropped past 16 KB."""
    pid = panel_box.proc.pid
    before = rss_kb(pid)
    head = "POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    sent, answer = send_big(panel_box.port, head, 60 * MB, chunked=True)
    assert sent < 20 * MB, sent
    assert status_of(answer) in (400, 413, None), answer[:200]
    assert rss_kb(pid) - before < 5 * 1024


def test_anonymous_request_to_a_private_route_gets_the_anonymous_limit(panel_box) -> None:
    """A request without credentials is refused from its headers on any route (it would be a 401 anyway)."""
    head = (f"POST /api/v1/config/acd.yaml HTTP/1.1\r\nHost: x\r\nContent-Type: application/yaml\r\n"
            f"Content-Length: {100 * 1024}\r\n\r\n")
    _, answer = send_big(panel_box.port, head, 100 * 1024)
    assert status_of(answer) == 413, answer[:200]


def test_signed_in_json_route_has_its_own_limit(panel_box, client) -> None:
    """An admin may send a JSON body of some KB, but not more than the route's limit (1 MB)."""
    p = client(panel_box.url)
    p.login("admin")
    r = p.api("POST", "/kb/categories", {"name": "x" * (40 * 1024)})
    assert r.status != 413, r.text[:200]
    r = p.api("POST", "/kb/categories", {"name": "x" * (2 * MB)})
    assert r.status == 413, r.text[:200]
    assert r.json()["error"] == "body: at most 1024 KB for this request"


def test_upload_route_reads_nothing_before_authentication(panel_box) -> None:
    """A forged bearer token on an upload route (50 MB allowed) is refused before the body is kept: memory
    stays flat; a real QA token still uploads audio."""
    pid = panel_box.proc.pid
    before = rss_kb(pid)
    for _ in range(3):
        head = (f"POST /api/v1/sim/calls/00000000-0000-0000-0000-000000000000/audio HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer forged\r\nContent-Type: audio/wav\r\nContent-Length: {40 * MB}\r\n\r\n")
        _, answer = send_big(panel_box.port, head, 40 * MB)
        assert status_of(answer) in (401, None), answer[:200]
    grown = rss_kb(pid) - before
    assert grown < 5 * 1024, f"RSS grew by {grown} KB"
    # the real token: the body is read (an unknown call is a 404 from the handler, not a 401 or 413)
    head = (f"POST /api/v1/sim/calls/00000000-0000-0000-0000-000000000000/audio HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {panel_box.qa_token}\r\nContent-Type: audio/wav\r\n"
            f"Content-Length: {2 * MB}\r\nConnection: close\r\n\r\n")
    sent, answer = send_big(panel_box.port, head, 2 * MB)
    assert sent == 2 * MB
    assert status_of(answer) in (400, 404), answer[:300]
