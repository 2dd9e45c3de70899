"""Log in to the broker once, before the clients do, so that a refused login says so in one line.

Neither kafka-python nor aiokafka tells its caller why it could not bootstrap: a wrong password, a
CA that did not sign the broker's certificate or a plaintext client on a TLS listener all end, after
the whole bootstrap timeout, in "Unable to bootstrap from ..." (the reason is only in their log
lines, again and again). `check_login` opens one aiokafka connection to the first bootstrap server
that answers, with the TLS context and SASL login every client uses, and turns what refused it into
`KafkaLoginFailed` (schemas.kafka_connection.login_failed_message): where, how, what the broker or
TLS said, what to set. A server that cannot be reached at all (refused, timed out, no such host) is
no verdict here: the client that follows reports it as it always does. Plaintext connections have
no login to check and are left to the clients.
"""

from __future__ import annotations

import asyncio
import ssl
from concurrent.futures import ThreadPoolExecutor

from schemas.kafka_connection import KafkaConnection, KafkaLoginFailed, login_failed_message

_UNREACHABLE = (ConnectionRefusedError, TimeoutError, asyncio.TimeoutError, OSError)


def check_login(kafka: KafkaConnection, timeout_s: float = 10.0) -> None:
    """Raise KafkaLoginFailed when the broker refuses this client's TLS handshake or SASL login."""
    if kafka.security_protocol == "PLAINTEXT":
        return
    # In a thread of its own: the caller's event loop (Faust's, which starts next) is left as it was.
    with ThreadPoolExecutor(1, thread_name_prefix="kafka-login") as pool:
        pool.submit(asyncio.run, _check(kafka, timeout_s)).result()


async def _check(kafka: KafkaConnection, timeout_s: float) -> None:
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaConnectionError, KafkaError

    config = kafka.aiokafka()
    for host_port in config.pop("bootstrap_servers"):
        host, _, port = host_port.rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(host.strip("[]"), int(port), client_id="enrichlog-login-check",
                            request_timeout_ms=int(timeout_s * 1000), **config), timeout_s)
        except ssl.SSLCertVerificationError as exc:
            raise KafkaLoginFailed(login_failed_message(
                kafka, f"TLS refused the broker's certificate ({exc.verify_message})",
                "KAFKA_SSL_CAFILE must name the CA that signed it, and the address must be one the "
                "certificate names")) from None
        except ssl.SSLError as exc:
            raise KafkaLoginFailed(login_failed_message(
                kafka, f"the TLS handshake failed ({exc.reason or exc})",
                "is this listener TLS (KAFKA_SECURITY_PROTOCOL SSL or SASL_SSL) and does it need a client "
                "certificate (KAFKA_SSL_CERTFILE)?")) from None
        except KafkaConnectionError as exc:
            raise KafkaLoginFailed(login_failed_message(
                kafka, f"the broker closed the connection at once ({exc})",
                "the listener expects another protocol: TLS where KAFKA_SECURITY_PROTOCOL has none, "
                "a client certificate (KAFKA_SSL_CERTFILE), or SASL")) from None
        except KafkaError as exc:  # the SASL exchange: the mechanism or the credentials refused
            raise KafkaLoginFailed(login_failed_message(
                kafka, f"login refused: {_said(exc)}",
                "check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM")) from None
        except ConnectionResetError as exc:
            raise KafkaLoginFailed(login_failed_message(
                kafka, f"the broker reset the connection during the TLS handshake ({exc!r})",
                "is this listener plaintext (KAFKA_SECURITY_PROTOCOL PLAINTEXT or SASL_PLAINTEXT)?")) from None
        except _UNREACHABLE:
            continue  # not reachable: the clients say so
        conn.close()
        return


def _said(exc: BaseException) -> str:
    """The broker's own words (aiokafka's str() repeats the error's name and code before them)."""
    text = " ".join(str(exc.args[0] if exc.args else "").split())
    return text or type(exc).__name__
