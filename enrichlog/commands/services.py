"""`enrichlog services up|down|status|env`: the local Kafka broker, PostgreSQL cluster and Redis."""

from __future__ import annotations

import argparse
import shlex
import time

from enrichlog import services


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["up", "down", "status", "env"])
    parser.add_argument("--env", action="store_true", help="with up: print only `export` lines (for eval)")
    parser.add_argument("--listener", choices=["plaintext", "sasl_ssl", "mtls"], default="plaintext",
                        help="with up/env: the KAFKA_* lines of this listener (sasl_ssl and mtls need "
                        "ENRICHLOG_KAFKA_SASL_SSL_PORT / ENRICHLOG_KAFKA_MTLS_PORT; the SASL password is printed)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = services.ServicesSettings()
    if args.action == "down":
        services.down(settings)
        print("local services stopped")
        return 0
    if args.action == "status":
        kafka, pg = services.LocalKafka(settings), services.LocalPostgres(settings)
        redis = services.LocalRedis(settings)
        print(f"kafka     {'running' if kafka.running() else 'stopped'}  {settings.bootstrap_servers}"
              f"  logs: {kafka.logs_dir / 'server.log'}")
        if settings.kafka_sasl_ssl_port is not None:
            print(f"  SASL_SSL  127.0.0.1:{settings.kafka_sasl_ssl_port}  SCRAM-SHA-512, SCRAM-SHA-256, PLAIN; user "
                  f"{settings.kafka_sasl_username}; CA {kafka.pki.ca_file}")
        if settings.kafka_mtls_port is not None:
            print(f"  SSL       127.0.0.1:{settings.kafka_mtls_port}  client certificate required: "
                  f"{kafka.pki.client_cert_file}")
        print(f"postgres  {'running' if pg.running() else 'stopped'}  {settings.database_url()}"
              f"  logs: {pg.log_file}")
        print(f"redis     {'running' if redis.running() else 'stopped'}  {settings.redis_url}  logs: {redis.log_file}")
        return 0 if kafka.running() and pg.running() and redis.running() else 3
    started = time.monotonic()
    endpoints = (services.up(settings) if args.action == "up"
                 else services.Endpoints(settings.bootstrap_servers, settings.database_url(), settings.redis_url))
    exports = endpoints.as_env()
    if args.listener != "plaintext":
        kafka = services.LocalKafka(settings)
        exports = {**exports, **kafka.client_env("SASL_SSL" if args.listener == "sasl_ssl" else "SSL")}
    for key, value in exports.items():
        print(f"export {key}={shlex.quote(value)}")
    if args.action == "up" and not args.env:
        print(f"# ready in {time.monotonic() - started:.1f}s; state and logs under {settings.state_dir}")
    return 0
