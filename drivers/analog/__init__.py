"""Analog signalling shared by every analog port (FXO trunks, FXS stations): the hardware signals a port reports."""
