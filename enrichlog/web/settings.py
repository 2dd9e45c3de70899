"""What the console is configured with: read once from the environment at start, passed down."""

from __future__ import annotations

import argparse
import ipaddress

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
POOL_SIZE = 4
# More read connections than the server has threads for its requests (anyio's default limiter, which
# runs the console's handlers) would never be used at once: a larger size is a typo, refused.
MAX_POOL_SIZE = 40


class WebSettings(BaseSettings):
    """`ENRICHLOG_WEB_TOKEN`: the credential every request must carry when set (see `access`);
    without it the console binds only a loopback address. `ENRICHLOG_WEB_LIVE_HEARTBEAT`: seconds
    between two heartbeats of an idle `GET /api/live` stream (enrichlog.web.live).
    `ENRICHLOG_WEB_POOL_SIZE` (or `enrichlog web --pool-size`): the most read connections the console
    keeps open (enrichlog.read.pool); the name is the field's alias, so that an error names it."""

    model_config = SettingsConfigDict(env_prefix="ENRICHLOG_WEB_", extra="ignore")

    token: SecretStr | None = None
    live_heartbeat: float = Field(15.0, gt=0, le=300)
    pool_size: int = Field(POOL_SIZE, ge=1, le=MAX_POOL_SIZE, strict=False,
                           validation_alias="ENRICHLOG_WEB_POOL_SIZE")

    @property
    def credential(self) -> str | None:
        """The token, or None when unset or empty."""
        value = self.token.get_secret_value() if self.token is not None else ""
        return value or None


def pool_size(text: str) -> int:
    """An argparse type for `--pool-size`: a whole number from 1 to MAX_POOL_SIZE."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_POOL_SIZE:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_POOL_SIZE}, got {value}")
    return value


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only: localhost or a loopback address."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any address
        return False


def bind_problem(host: str, settings: WebSettings) -> str | None:
    """Why the console must not listen on `host`, or None."""
    if is_loopback(host) or settings.credential is not None:
        return None
    return (f"refusing to listen on {host!r} without a credential: anyone who reaches it would read the log; "
            "set ENRICHLOG_WEB_TOKEN (docs/configuration.md) or bind 127.0.0.1")
