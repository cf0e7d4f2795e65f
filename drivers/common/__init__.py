"""Codecs and signal processing every driver may use: G.711, DTMF detection, tones, resampling, elastic buffers."""
