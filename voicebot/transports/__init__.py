"""Transports carry a call's audio and control messages; all implement ``Transport``."""

from voicebot.transports.base import Hangup, Transport

__all__ = ["Hangup", "Transport"]
