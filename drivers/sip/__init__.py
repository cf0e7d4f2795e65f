"""SIP driver: trunks, IP phones and remote agents as lines of the box (RFC 3261 signalling, RTP in the media tick).

Layers, kept apart: ``message``/``uri``/``sdp`` are pure parsing and serialising (no I/O, bounded,
fuzzed); transactions and dialogs sit above them; sockets are the only I/O.
"""
