"""The console's credential check: with a token configured, every request carries it, either as
`Authorization: Bearer TOKEN` (scripts, the API) or as HTTP Basic with TOKEN as the password and any
user name (a browser asks for it after the 401's `WWW-Authenticate`)."""

from __future__ import annotations

import base64
import binascii
import hmac

CHALLENGE = {"WWW-Authenticate": 'Basic realm="enrichlog", charset="UTF-8"'}


def presented(authorization: str | None) -> str | None:
    """The secret an Authorization header carries (a bearer token, a Basic password), or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, colon, password = decoded.partition(":")
        return password if colon else None
    return None


def allowed(authorization: str | None, token: str) -> bool:
    """Whether the header carries `token` (compared in constant time)."""
    secret = presented(authorization)
    return secret is not None and hmac.compare_digest(secret.encode(), token.encode())
