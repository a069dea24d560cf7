"""ITU-T G.711 µ-law and A-law in numpy, bit-exact with the reference tables.

The arithmetic is the classic Sun Microsystems reference implementation (``g711.c``, the one
CPython's ``audioop`` and SoX use): µ-law on the 14-bit magnitude with bias 0x84, A-law on the
13-bit magnitude with even-bit inversion (XOR 0x55). Encoding is a table lookup over all 65 536
16-bit inputs, decoding a lookup over the 256 codes, so both are a single ``np.take`` per frame.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from asr_tts.audio import AudioFormatError

Int16Array = npt.NDArray[np.int16]
UInt8Array = npt.NDArray[np.uint8]

_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)
_BIAS = 0x84
_CLIP = 8159


def _ulaw_encode_all() -> UInt8Array:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2  # 14-bit
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), _CLIP) + (_BIAS >> 2)
    seg = np.searchsorted(_SEG_UEND, mag, side="left")  # first segment end >= magnitude
    uval = (seg << 4) | ((mag >> (seg + 1)) & 0xF)
    out = np.where(seg >= 8, 0x7F ^ mask, uval ^ mask)
    return out.astype(np.uint8)


def _ulaw_decode_all() -> Int16Array:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + _BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _BIAS - t, t - _BIAS).astype(np.int16)


def _alaw_encode_all() -> UInt8Array:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3  # 13-bit
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_SEG_AEND, mag, side="left")
    quant = np.where(seg < 2, mag >> 1, mag >> np.maximum(seg, 1)) & 0xF
    aval = (seg << 4) | quant
    out = np.where(seg >= 8, 0x7F ^ mask, aval ^ mask)
    return out.astype(np.uint8)


def _alaw_decode_all() -> Int16Array:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ULAW_ENC = _ulaw_encode_all()
_ULAW_DEC = _ulaw_decode_all()
_ALAW_ENC = _alaw_encode_all()
_ALAW_DEC = _alaw_decode_all()


def _pcm_index(pcm: bytes) -> npt.NDArray[np.int32]:
    if len(pcm) % 2:
        raise AudioFormatError(f"16-bit PCM must have an even byte count, got {len(pcm)} bytes")
    return np.frombuffer(pcm, dtype="<i2").astype(np.int32) + 32768


def ulaw_encode(pcm: bytes) -> bytes:
    """16-bit little-endian PCM → µ-law bytes (one byte per sample)."""
    return bytes(_ULAW_ENC[_pcm_index(pcm)].tobytes())


def ulaw_decode(data: bytes) -> bytes:
    """µ-law bytes → 16-bit little-endian PCM."""
    return bytes(_ULAW_DEC[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes())


def alaw_encode(pcm: bytes) -> bytes:
    """16-bit little-endian PCM → A-law bytes (one byte per sample)."""
    return bytes(_ALAW_ENC[_pcm_index(pcm)].tobytes())


def alaw_decode(data: bytes) -> bytes:
    """A-law bytes → 16-bit little-endian PCM."""
    return bytes(_ALAW_DEC[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes())
