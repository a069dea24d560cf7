"""G.711 µ-law / A-law against the reference algorithm and known table values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from asr_tts.audio import AudioFormatError
from asr_tts.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

ALL_PCM = np.arange(-32768, 32768, dtype="<i2").tobytes()
ALL_CODES = bytes(range(256))


def _decoded(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2")


def test_known_table_values() -> None:
    u = _decoded(ulaw_decode(bytes([0x00, 0x80, 0xFF, 0x7F, 0x7E, 0xFE])))
    assert u.tolist() == [-32124, 32124, 0, 0, -8, 8]
    a = _decoded(alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A])))
    assert a.tolist() == [8, -8, 32256, -32256]
    # silence and full scale
    assert ulaw_encode(b"\x00\x00") == b"\xff" and alaw_encode(b"\x00\x00") == b"\xd5"
    assert ulaw_encode(np.array([32767, -32768], "<i2").tobytes()) == bytes([0x80, 0x00])
    assert alaw_encode(np.array([32767, -32768], "<i2").tobytes()) == bytes([0xAA, 0x2A])


def test_codes_round_trip_and_decoding_is_monotonic() -> None:
    assert alaw_encode(alaw_decode(ALL_CODES)) == ALL_CODES
    # µ-law has two zeros (0x7F "negative zero" and 0xFF); every other code survives a round trip
    back = ulaw_encode(ulaw_decode(ALL_CODES))
    assert [c for c in range(256) if back[c] != c] == [0x7F]
    for decode in (ulaw_decode, alaw_decode):
        levels = np.sort(_decoded(decode(ALL_CODES)))
        assert levels.min() < 0 < levels.max()
    # quantising is idempotent: encoding a decoded value returns a code that decodes to it
    assert ulaw_decode(ulaw_encode(ulaw_decode(ALL_CODES))) == ulaw_decode(ALL_CODES)


def test_bit_exact_with_the_reference_implementation_for_every_16_bit_value() -> None:
    """CPython's audioop implements the Sun/ITU reference g711.c; compare all 65 536 inputs
    (audioop is deprecated and used here only as the reference, never at run time)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    assert ulaw_encode(ALL_PCM) == audioop.lin2ulaw(ALL_PCM, 2)
    assert alaw_encode(ALL_PCM) == audioop.lin2alaw(ALL_PCM, 2)
    assert ulaw_decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
    assert alaw_decode(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


def test_speech_survives_companding_with_telephone_quality() -> None:
    t = np.arange(8000) / 8000
    x = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    for enc, dec in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        y = _decoded(dec(enc(x.tobytes()))).astype(np.float64)
        snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((x - y) ** 2))
        assert snr > 35  # G.711 gives ~38 dB on a loud tone


def test_odd_byte_count_is_refused() -> None:
    with pytest.raises(AudioFormatError, match="even byte count"):
        ulaw_encode(b"\x00\x00\x00")
