"""Test doubles implementing the same Protocols as the real parts (for fast unit tests only)."""
