"""The DAHDI driver: analog (FXO/FXS) and E1/T1 ports of telephony cards driven through the DAHDI kernel interface."""
