"""A daemon whose simulated card sends real caller-ID audio: the call the QA API places carries the caller the box's
receiver decoded, and a caller the line's standard cannot carry is refused with a message that names it."""
from __future__ import annotations


def test_qa_call_carries_the_decoded_caller_id(make_box) -> None:
    """POST /sim/calls answers 201 once the caller ID was decoded (China FSK with a GB 2312 name); call.offered holds
    exactly that caller; a caller with letters is a 400 naming the caller-ID standard, and the trunk stays free."""
    box = make_box({"devices": [{"name": "sim0", "driver": "sim", "trunks": 2, "stations": ["1001"],
                                 "callerid_audio": True, "callerid": "cn"}],
                    "engine": {"overrun_ms": 100}})  # admission control is not under test: a loaded box may overrun
    cid = box.call(frm="13812345678", name="王小明")
    offered = box.wait_event(cid, "call.offered")
    assert (offered["data"]["caller_id"], offered["data"]["caller_name"]) == ("13812345678", "王小明")
    got = box.api("POST", "/sim/calls", {"from": "alice", "to": "8001"})
    assert got["_status"] == 400 and "cannot be sent as cn caller ID" in got["error"], got
    got = box.api("POST", "/sim/calls", {"from": "02087654321", "to": "8001"})
    assert got["_status"] == 201, got
    assert box.wait_event(got["id"], "call.offered")["data"]["caller_id"] == "02087654321"
    for call in (cid, got["id"]):
        box.api("DELETE", f"/sim/calls/{call}")

