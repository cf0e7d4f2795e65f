"""Media DSP for the call engine: G.711 codecs, tones, WAV I/O and the DTMF detector."""
