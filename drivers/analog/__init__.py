"""Analog signalling shared by every analog port (FXO trunks, FXS stations): pure state machines, no I/O."""
