"""The C RTP path (drivers/sip/rtpfast.c) against the Python reference (rtp.py): same packets on the wire, byte
for byte, and the same stream state afterwards; the test environment runs the C path, never a silent fallback."""
from __future__ import annotations

import socket
import struct
import threading

import numpy as np
import pytest

from hotline.drivers.sip import rtpfast
from hotline.drivers.sip.rtp import PortPool, RtpStream, encode_frames, event_packets


def _udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


def _drain(sock: socket.socket) -> list[bytes]:
    got = []
    while True:
        try:
            got.append(sock.recv(2048))
        except BlockingIOError:
            return got


@pytest.fixture
def sockets():
    made: list[socket.socket] = []
    yield made
    for s in made:
        s.close()


def _calls(sockets: list, specs: list[tuple]) -> tuple[list, list]:
    """Streams (or None) as ``specs`` say, each with its own far end: (codec, pt, seq, ts, ssrc, has_remote)."""
    streams, fars = [], []
    for spec in specs:
        if spec is None:
            streams.append(None)
            fars.append(None)
            continue
        codec, pt, seq, ts, ssrc, has_remote = spec
        mine, far = _udp(), _udp()
        sockets += [mine, far]
        streams.append(RtpStream(mine, codec=codec, payload_type=pt, dtmf_payload_type=101, ssrc=ssrc, seq=seq,
                                 timestamp=ts, remote=far.getsockname() if has_remote else None))
        fars.append(far)
    return streams, fars


SPECS = [("PCMU", 0, 0xFFFE, 0xFFFFFF00, 0x01020304, True),     # sequence and timestamp wrap during the run
         ("PCMA", 8, 17, 5, 0xDEADBEEF, True),
         None,                                                    # a line without a call
         ("PCMU", 0, 3, 7, 9, False),                             # no far end known yet: nothing sent
         ("PCMA", 97, 0, 0, 1, True)]                             # a dynamic payload type number


def test_the_test_environment_runs_the_c_path() -> None:
    """The suite must exercise the C helper: a missing build is a failure here, not a quiet fallback."""
    assert rtpfast.AVAILABLE, rtpfast.WHY_NOT
    assert rtpfast.describe() == "C (rtpfast)"


def test_c_send_puts_the_same_bytes_on_the_wire_as_the_python_path(sockets) -> None:
    rng = np.random.default_rng(7)
    ticks = [rng.normal(0, 3000, (len(SPECS), 160)).astype(np.int16) for _ in range(4)]
    ticks[1][:, :6] = [-32768, 32767, 0, -1, 1, -32767]   # the ends of the range, encoded by table in C
    ticks[2] = rng.integers(-32768, 32768, ticks[2].shape).astype(np.int16)
    py_streams, py_fars = _calls(sockets, SPECS)
    c_streams, c_fars = _calls(sockets, SPECS)
    table = rtpfast.RtpTable(capacity=2)   # grows while binding
    for frames in ticks:
        encode_frames(py_streams, frames)
        table.send(c_streams, frames)
    for i, (py, c) in enumerate(zip(py_fars, c_fars)):
        if py is None:
            continue
        sent_py, sent_c = _drain(py), _drain(c)
        assert sent_py == sent_c, f"row {i}"
        assert len(sent_c) == (4 if SPECS[i][5] else 0)
    for py, c in zip(py_streams, c_streams):
        if py is not None:
            assert (c.seq, c.timestamp, c.stats.sent) == (py.seq, py.timestamp, py.stats.sent)
    table.close()
    for py, c in zip(py_streams, c_streams):   # released: the state is the stream's own again
        if py is not None:
            assert c._table is None and (c._seq, c._timestamp, c._stats.sent) == (py._seq, py._timestamp, py._stats.sent)


def test_a_closed_socket_advances_the_sequence_but_counts_nothing_sent(sockets) -> None:
    (py,), (py_far,) = _calls(sockets, [SPECS[0]])
    (c,), (c_far,) = _calls(sockets, [SPECS[0]])
    table = rtpfast.RtpTable()
    frames = np.zeros((1, 160), dtype=np.int16)
    table.send([c], frames)
    encode_frames([py], frames)
    py.close()
    c.close()
    table.send([c], frames)
    encode_frames([py], frames)
    assert (c.seq, c.timestamp, c.stats.sent) == (py.seq, py.timestamp, py.stats.sent) == (0, (0xFFFFFF00 + 320) & 0xFFFFFFFF, 1)
    sent_py, sent_c = _drain(py_far), _drain(c_far)
    assert sent_py == sent_c and len(sent_c) == 1


def test_events_and_address_changes_while_the_c_path_runs_the_call(sockets) -> None:
    """RFC 4733 packets sent between ticks take the row's sequence numbers; a new far end set from another thread
    (a re-INVITE) gets the next tick's packet; a stream that leaves the tick keeps counting from where it was."""
    (c,), (far,) = _calls(sockets, [("PCMU", 0, 100, 1000, 5, True)])
    table = rtpfast.RtpTable()
    frames = np.zeros((1, 160), dtype=np.int16)
    table.send([c], frames)
    for packet in event_packets(c, "5"):
        c.send(packet)
    table.send([c], frames)
    seqs = [struct.unpack_from("!H", p, 2)[0] for p in _drain(far)]
    assert seqs == list(range(100, 100 + len(seqs))) and len(seqs) == 1 + 8 + 1
    assert c.stats.sent == 10
    moved = _udp()
    sockets.append(moved)
    thread = threading.Thread(target=setattr, args=(c, "remote", moved.getsockname()))
    thread.start()
    thread.join()
    table.send([c], frames)
    assert _drain(far) == [] and len(_drain(moved)) == 1
    table.send([None], frames)   # the call left the tick: its row is released, its state its own
    assert c._table is None and c.seq == 111 and c.stats.sent == 11


def test_a_far_end_given_by_name_is_sent_by_the_python_path(sockets) -> None:
    (c,), (far,) = _calls(sockets, [("PCMU", 0, 1, 1, 1, True)])
    c.remote = ("localhost", far.getsockname()[1])
    table = rtpfast.RtpTable()
    table.send([c], np.zeros((1, 160), dtype=np.int16))
    assert c.stats.sent == 1 and c.seq == 2 and len(_drain(far)) == 1


def test_ports_from_the_pool_are_packed_for_their_family() -> None:
    sock = PortPool("::1", 41000, 42000).open()   # the test machines have an IPv6 loopback
    far = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    far.bind(("::1", 0))
    far.settimeout(2)
    stream = RtpStream(sock, remote=far.getsockname())
    table = rtpfast.RtpTable()
    table.send([stream], np.zeros((1, 160), dtype=np.int16))
    assert len(far.recv(2048)) == 172 and stream.stats.sent == 1
    assert rtpfast.pack_addr(socket.AF_INET6, ("127.0.0.1", 5))[0] == -1   # an IPv4 text for an IPv6 socket
    table.close()
    sock.close()
    far.close()


def test_the_driver_says_which_rtp_path_it_runs(caplog) -> None:
    """The daemon's log names the path at the device's start, and status() shows it: C in the test environment."""
    import logging

    from hotline.drivers.sip.driver import SipDriver
    from tests.unit.test_sip_endpoint import _free_rtp_range

    drv = SipDriver("sip0", {"listen": "127.0.0.1:0", "rtp_ports": _free_rtp_range(), "channels": 1}, lambda e: None)
    with caplog.at_level(logging.INFO, logger="hotline.drivers.sip"):
        drv.open()
    try:
        assert "RTP path: C (rtpfast)" in caplog.text
        assert drv.status()["rtp_path"] == "c" and drv._table is not None
    finally:
        drv.close()


def test_frames_of_the_wrong_shape_are_refused_and_strided_outputs_filled(sockets) -> None:
    """The C functions write n x 160 contiguous rows: anything else goes through a copy or is refused, never
    written past."""
    (c,), (_far,) = _calls(sockets, [SPECS[0]])
    table = rtpfast.RtpTable()
    with pytest.raises(ValueError, match="frames of shape"):
        table.send([c, None], np.zeros((1, 160), dtype=np.int16))
    big = np.full((4, 160), 5, dtype=np.int16)
    table.decode([c, None], big[::2])   # every other row: a strided view
    assert not big[::2].any() and (big[1::2] == 5).all()
    table.close()
