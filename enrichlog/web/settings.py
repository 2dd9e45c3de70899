"""What the console is configured with: read once from the environment at start, passed down."""

from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class WebSettings(BaseSettings):
    """`ENRICHLOG_WEB_TOKEN`: the credential every request must carry when set (see `access`);
    without it the console binds only a loopback address. `ENRICHLOG_WEB_LIVE_HEARTBEAT`: seconds
    between two heartbeats of an idle `GET /api/live` stream (enrichlog.web.live)."""

    model_config = SettingsConfigDict(env_prefix="ENRICHLOG_WEB_", extra="ignore")

    token: SecretStr | None = None
    live_heartbeat: float = Field(15.0, gt=0, le=300)

    @property
    def credential(self) -> str | None:
        """The token, or None when unset or empty."""
        value = self.token.get_secret_value() if self.token is not None else ""
        return value or None


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
