import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, EnrichmentLog, kafkaSettingsFromEnv } from "../../dist/index.js";

const BASE = { KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:9092" };

test("defaults: plaintext, the default topic", () => {
  assert.deepEqual(kafkaSettingsFromEnv({ KAFKA_BOOTSTRAP_SERVERS: " a:1, [::1]:2 " }),
    { brokers: ["a:1", "[::1]:2"], topic: "enrichment.job-events", clientId: "enrichlog-bullmq" });
  assert.equal(kafkaSettingsFromEnv({ ...BASE, ENRICHLOG_EVENTS_TOPIC: "t.x_y-1" }).topic, "t.x_y-1");
});

test("SASL: the three variables, the mechanism in kafkajs' spelling; SSL with no files trusts the system's CAs", () => {
  const settings = kafkaSettingsFromEnv({ ...BASE, KAFKA_SECURITY_PROTOCOL: "sasl_ssl", KAFKA_SASL_MECHANISM: "scram-sha-512",
    KAFKA_SASL_USERNAME: "svc", KAFKA_SASL_PASSWORD: "pw" });
  assert.deepEqual(settings.sasl, { mechanism: "scram-sha-512", username: "svc", password: "pw" });
  assert.equal(settings.ssl, true);
  assert.equal(kafkaSettingsFromEnv({ ...BASE, KAFKA_SECURITY_PROTOCOL: "SSL" }).ssl, true);
});

const BAD = [
  [{}, /^KAFKA_BOOTSTRAP_SERVERS is not set/],
  [{ KAFKA_BOOTSTRAP_SERVERS: " , " }, /^KAFKA_BOOTSTRAP_SERVERS names no broker/],
  [{ KAFKA_BOOTSTRAP_SERVERS: "localhost" }, /^KAFKA_BOOTSTRAP_SERVERS: "localhost" is not host:port/],
  [{ KAFKA_BOOTSTRAP_SERVERS: "a:99999" }, /^KAFKA_BOOTSTRAP_SERVERS: "a:99999"/],
  [{ ...BASE, KAFKA_SECURITY_PROTOCOL: "TLS" }, /^KAFKA_SECURITY_PROTOCOL: "TLS" is not one of/],
  [{ ...BASE, KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT", KAFKA_SASL_USERNAME: "u" },
    /^KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT needs KAFKA_SASL_MECHANISM, KAFKA_SASL_PASSWORD/],
  [{ ...BASE, KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT", KAFKA_SASL_MECHANISM: "GSSAPI", KAFKA_SASL_USERNAME: "u",
    KAFKA_SASL_PASSWORD: "p" }, /^KAFKA_SASL_MECHANISM: "GSSAPI" is not one of/],
  [{ ...BASE, KAFKA_SASL_USERNAME: "u" }, /^KAFKA_SASL_USERNAME set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT/],
  [{ ...BASE, KAFKA_SSL_CAFILE: "/x" }, /^KAFKA_SSL_CAFILE set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS/],
  [{ ...BASE, KAFKA_SECURITY_PROTOCOL: "SSL", KAFKA_SSL_CAFILE: "/nonexistent/ca.pem" }, /^KAFKA_SSL_CAFILE \(\/nonexistent\/ca.pem\) cannot be read/],
  [{ ...BASE, KAFKA_SECURITY_PROTOCOL: "SSL", KAFKA_SSL_KEYFILE: "/k.pem" }, /^KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE/],
  [{ ...BASE, ENRICHLOG_EVENTS_TOPIC: "" }, /^ENRICHLOG_EVENTS_TOPIC must not be empty/],
  [{ ...BASE, ENRICHLOG_EVENTS_TOPIC: "a topic" }, /^ENRICHLOG_EVENTS_TOPIC has characters Kafka refuses/],
  [{ ...BASE, ENRICHLOG_EVENTS_TOPIC: "t".repeat(250) }, /^ENRICHLOG_EVENTS_TOPIC is 250 characters long/],
  [{ ...BASE, ENRICHLOG_EVENTS_TOPIC: ".." }, /^ENRICHLOG_EVENTS_TOPIC must not be '..'/],
];

for (const [env, message] of BAD) {
  test(`bad environment: ${message.source}`, () => {
    assert.throws(() => EnrichmentLog.fromEnv(env), (err) => err instanceof ConfigError && message.test(err.message));
  });
}

test("a CA file that is not PEM is refused, naming its variable", () => {
  const dir = mkdtempSync(join(tmpdir(), "enrichlog-env-"));
  writeFileSync(join(dir, "ca.pem"), "not a certificate");
  assert.throws(() => kafkaSettingsFromEnv({ ...BASE, KAFKA_SECURITY_PROTOCOL: "SSL", KAFKA_SSL_CAFILE: join(dir, "ca.pem") }),
    /^ConfigError: KAFKA_SSL_CAFILE \(.*ca.pem\) holds no PEM certificate/);
});

test("bad options name the option", () => {
  assert.throws(() => new EnrichmentLog({ brokers: [] }), /^ConfigError: brokers is not set/);
  assert.throws(() => new EnrichmentLog({ brokers: ["a:1"], topic: "a/b" }), /^ConfigError: topic has characters/);
  assert.throws(() => new EnrichmentLog({ brokers: ["a:1"], maxBufferedEvents: 0 }), /maxBufferedEvents must be a number >= 1/);
  assert.throws(() => new EnrichmentLog({ brokers: ["a:1"], maxWaitMs: -1 }), /maxWaitMs must be a number >= 0/);
});
