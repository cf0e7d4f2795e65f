"""Voice modems (V.253): DLE stream codec, chipset profiles, the driver and a virtual modem for tests."""
