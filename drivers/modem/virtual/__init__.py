"""A virtual V.253 voice modem for tests: a pyserial URL handler, a scriptable far end and a pty runner."""
