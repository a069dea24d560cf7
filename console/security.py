"""Call tokens (short-lived, signed) and per-client rate limits for the caller-facing endpoints."""

from __future__ import annotations

import time
import uuid

import jwt
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

_AUDIENCE = "skycall-call"


class CallTokenError(ValueError):
    pass


class CallTokens:
    def __init__(self, key: str, ttl_s: int) -> None:
        self._key = key
        self._ttl = ttl_s

    def issue(self, channel: str = "browser") -> tuple[str, str, int]:
        call_id = str(uuid.uuid4())
        now = int(time.time())
        token = jwt.encode(
            {"sub": call_id, "aud": _AUDIENCE, "iat": now, "exp": now + self._ttl, "ch": channel},
            self._key,
            algorithm="HS256",
        )
        return token, call_id, self._ttl

    def check(self, token: str) -> str:
        """The call id the token was issued for; ``CallTokenError`` with a reason otherwise."""
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"], audience=_AUDIENCE)
        except jwt.ExpiredSignatureError as exc:
            raise CallTokenError("the call token has expired; request a new one") from exc
        except jwt.InvalidTokenError as exc:
            raise CallTokenError("the call token is not valid") from exc
        return str(claims["sub"])


class RateLimit:
    def __init__(self, rate: str) -> None:
        self._item = parse(rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.rate = rate

    def allow(self, key: str) -> bool:
        return bool(self._limiter.hit(self._item, key))
