"""Which fax class a modem line receives in (the ``fax:`` setting and AT+FCLASS=?), and the registry another class's
driver (class 1) plugs its receive function into."""
from __future__ import annotations

from hotline.drivers.modem import faxreceive
from hotline.drivers.modem.faxreceive import FaxReceiveResult, choose_class


def test_auto_prefers_the_modem_running_t30_and_says_why_when_there_is_no_class() -> None:
    assert choose_class("auto", ("0", "1", "2.0", "8")) == ("2.0", "")
    assert choose_class("auto", ("0", "1", "1.0", "2", "8")) == ("2", "")
    assert choose_class("class2", ("0", "2", "2.0", "8")) == ("2", "")
    fclass, why = choose_class("auto", ("0", "8"))
    assert fclass is None and why == "the modem offers no fax class this box receives in (AT+FCLASS=? answered 0,8)"
    assert choose_class("none", ("2", "8")) == (None, "fax: none in the device's settings")
    assert choose_class("class2.0", ("2", "8")) == (None, "fax: class2.0, but the modem offers classes 2,8 "
                                                          "(AT+FCLASS=?)")


def test_a_class_1_receive_function_plugs_in_by_registering(monkeypatch) -> None:
    """What drivers/modem/faxclass1.py does: register_receiver("1", fn); a class 1 only modem then takes faxes,
    and the line calls that function with the port, the class, the request and the chipset profile."""
    def class1(port, fclass, request, profile) -> FaxReceiveResult:
        return FaxReceiveResult(fclass, pages=1)
    monkeypatch.setattr(faxreceive, "RECEIVERS", dict(faxreceive.RECEIVERS))
    faxreceive.register_receiver("1", class1)
    assert choose_class("auto", ("0", "1", "8")) == ("1", "")
    assert choose_class("auto", ("0", "1", "2", "8")) == ("2", "")      # the modem's own T.30 still first
    assert choose_class("class1", ("0", "1", "2", "8")) == ("1", "")
    assert faxreceive.receiver_for("1") is class1
