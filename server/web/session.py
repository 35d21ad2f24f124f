"""Signed session cookies and CSRF tokens for the review page (no server-side session store)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "csdesk_review"
LOGIN_CSRF_COOKIE = "csdesk_login_csrf"
SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True)
class Session:
    user_id: int
    nonce: str
    expires: int


class SessionSigner:
    """Issues and checks `payload.signature` cookies with an HMAC key that never leaves the server."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, data: bytes) -> str:
        return hmac.new(self._secret, data, hashlib.sha256).hexdigest()

    def issue(self, user_id: int, *, now: float | None = None) -> str:
        payload = json.dumps({"u": user_id, "n": secrets.token_urlsafe(16),
                              "e": int((now or time.time()) + SESSION_SECONDS)}, separators=(",", ":")).encode()
        encoded = base64.urlsafe_b64encode(payload).decode()
        return f"{encoded}.{self._sign(payload)}"

    def read(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The session in a cookie, or None when it is missing, forged or expired."""
        if not cookie or "." not in cookie:
            return None
        encoded, signature = cookie.rsplit(".", 1)
        try:
            payload = base64.urlsafe_b64decode(encoded.encode())
            data = json.loads(payload)
        except (ValueError, json.JSONDecodeError):
            return None
        if not hmac.compare_digest(self._sign(payload), signature):
            return None
        if int(data.get("e", 0)) < (now or time.time()):
            return None
        return Session(user_id=int(data["u"]), nonce=str(data["n"]), expires=int(data["e"]))

    def csrf_token(self, session: Session) -> str:
        """A form token bound to this session: a page of another site cannot know it."""
        return self._sign(f"csrf:{session.nonce}".encode())

    def csrf_valid(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), token or "")
