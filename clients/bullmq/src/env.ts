/**
 * The Kafka settings from the environment: the same variables, and the same rules, as the Python side
 * (schemas/kafka_connection.py, schemas/topic_names.py). Each mistake is a ConfigError naming its
 * variable.
 *
 *   KAFKA_BOOTSTRAP_SERVERS   host:port[,host:port...] (required)
 *   KAFKA_SECURITY_PROTOCOL   PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL
 *   KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD   all three with a SASL_* protocol
 *   KAFKA_SSL_CAFILE, KAFKA_SSL_CERTFILE, KAFKA_SSL_KEYFILE, KAFKA_SSL_KEY_PASSWORD   with SSL, SASL_SSL
 *   ENRICHLOG_EVENTS_TOPIC    default enrichment.job-events
 *   ENRICHLOG_PRODUCER_CLIENT_ID   default enrichlog-bullmq
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext, type ConnectionOptions } from "node:tls";
import type { SASLOptions } from "kafkajs";
import { ConfigError } from "./errors.js";

export const DEFAULT_TOPIC = "enrichment.job-events";
const PROTOCOLS = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] as const;
const MECHANISMS = { PLAIN: "plain", "SCRAM-SHA-256": "scram-sha-256", "SCRAM-SHA-512": "scram-sha-512" } as const;
const LEGAL_TOPIC = /^[a-zA-Z0-9._-]+$/;
const MAX_TOPIC = 249;

export interface KafkaSettings {
  brokers: string[];
  topic: string;
  clientId: string;
  ssl?: ConnectionOptions | boolean;
  sasl?: SASLOptions;
}

type Env = Record<string, string | undefined>;

function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

/** `host:port,...` as a list; a ConfigError naming `variable` when an entry is not host:port. */
export function parseBrokers(variable: string, text: string | undefined): string[] {
  if (!text?.trim()) throw new ConfigError(`${variable} is not set: give the Kafka brokers as host:port[,host:port...]`);
  const brokers = text.split(",").map((b) => b.trim()).filter(Boolean);
  for (const broker of brokers) {
    const match = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(broker);
    const port = match ? Number(match[2]) : 0;
    if (!match || port < 1 || port > 65535) {
      throw new ConfigError(`${variable}: ${JSON.stringify(broker)} is not host:port (a port 1..65535)`);
    }
  }
  if (brokers.length === 0) throw new ConfigError(`${variable} names no broker: give host:port[,host:port...]`);
  return brokers;
}

/** `name`, or a ConfigError naming `variable` and the rule of Kafka's that it breaks. */
export function checkTopic(variable: string, name: string): string {
  let problem: string | undefined;
  if (!name) problem = "must not be empty";
  else if (name === "." || name === "..") problem = `must not be '${name}' (Kafka refuses '.' and '..')`;
  else if (name.length > MAX_TOPIC) problem = `is ${name.length} characters long, Kafka's limit is ${MAX_TOPIC}`;
  else if (!LEGAL_TOPIC.test(name)) problem = "has characters Kafka refuses: only ASCII letters, digits, '.', '_' and '-'";
  if (problem) throw new ConfigError(`${variable} ${problem}`);
  return name;
}

function readPem(variable: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`${variable} (${path}) cannot be read: ${(err as Error).message}`);
  }
}

function sasl(env: Env, protocol: string): SASLOptions | undefined {
  const names = ["KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"] as const;
  const given = names.filter((n) => (n === "KAFKA_SASL_PASSWORD" ? env[n] : value(env, n)));
  if (!protocol.startsWith("SASL_")) {
    if (given.length) {
      throw new ConfigError(`${given.join(", ")} set but KAFKA_SECURITY_PROTOCOL=${protocol} logs in without SASL: ` +
        "use SASL_SSL or SASL_PLAINTEXT");
    }
    return undefined;
  }
  const missing = names.filter((n) => !given.includes(n));
  if (missing.length) {
    throw new ConfigError(`KAFKA_SECURITY_PROTOCOL=${protocol} needs ${missing.join(", ")} ` +
      "(set all three: mechanism, user and password)");
  }
  const mechanism = (value(env, "KAFKA_SASL_MECHANISM") as string).toUpperCase();
  if (!(mechanism in MECHANISMS)) {
    throw new ConfigError(`KAFKA_SASL_MECHANISM: ${JSON.stringify(mechanism)} is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`);
  }
  const username = value(env, "KAFKA_SASL_USERNAME") as string;
  const password = env.KAFKA_SASL_PASSWORD as string;
  return { mechanism: MECHANISMS[mechanism as keyof typeof MECHANISMS], username, password } as SASLOptions;
}

function tls(env: Env, protocol: string): ConnectionOptions | undefined {
  const names = ["KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE", "KAFKA_SSL_KEY_PASSWORD"];
  if (!protocol.endsWith("SSL")) {
    const given = names.filter((n) => value(env, n));
    if (given.length) {
      throw new ConfigError(`${given.join(", ")} set but KAFKA_SECURITY_PROTOCOL=${protocol} does not use TLS: use SSL or SASL_SSL`);
    }
    return undefined;
  }
  const [cafile, certfile, keyfile] = names.slice(0, 3).map((n) => value(env, n));
  const passphrase = env.KAFKA_SSL_KEY_PASSWORD || undefined;
  if (keyfile && !certfile) {
    throw new ConfigError("KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE: the client certificate goes with its key");
  }
  if (passphrase && !certfile) throw new ConfigError("KAFKA_SSL_KEY_PASSWORD is set without KAFKA_SSL_CERTFILE");
  const options: ConnectionOptions = {};
  if (cafile) {
    options.ca = readPem("KAFKA_SSL_CAFILE", cafile);
    try {
      new X509Certificate(options.ca); // TLS itself ignores text that holds no certificate
      createSecureContext({ ca: options.ca });
    } catch (err) {
      throw new ConfigError(`KAFKA_SSL_CAFILE (${cafile}) holds no PEM certificate that TLS can read: ${(err as Error).message}`);
    }
  }
  if (certfile) {
    options.cert = readPem("KAFKA_SSL_CERTFILE", certfile);
    options.key = keyfile ? readPem("KAFKA_SSL_KEYFILE", keyfile) : options.cert;
    if (passphrase) options.passphrase = passphrase;
    try {
      createSecureContext({ cert: options.cert, key: options.key, passphrase: passphrase ?? "" });
    } catch (err) {
      throw new ConfigError(`KAFKA_SSL_CERTFILE (${certfile}) and KAFKA_SSL_KEYFILE (${keyfile ?? "none: the key in the certificate file"}) ` +
        `are not a PEM certificate and its private key (or KAFKA_SSL_KEY_PASSWORD does not open the key): ${(err as Error).message}`);
    }
  }
  return options;
}

/** The Kafka settings the environment gives; a ConfigError naming the variable that is wrong. */
export function kafkaSettingsFromEnv(env: Env): KafkaSettings {
  const brokers = parseBrokers("KAFKA_BOOTSTRAP_SERVERS", env.KAFKA_BOOTSTRAP_SERVERS);
  const protocol = (value(env, "KAFKA_SECURITY_PROTOCOL") ?? "PLAINTEXT").toUpperCase();
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new ConfigError(`KAFKA_SECURITY_PROTOCOL: ${JSON.stringify(protocol)} is not one of ${PROTOCOLS.join(", ")}`);
  }
  const topic = checkTopic("ENRICHLOG_EVENTS_TOPIC", env.ENRICHLOG_EVENTS_TOPIC ?? DEFAULT_TOPIC);
  const clientId = env.ENRICHLOG_PRODUCER_CLIENT_ID ?? "enrichlog-bullmq";
  if (clientId.length < 1 || clientId.length > 200) {
    throw new ConfigError("ENRICHLOG_PRODUCER_CLIENT_ID must be 1..200 characters");
  }
  const settings: KafkaSettings = { brokers, topic, clientId };
  const saslOptions = sasl(env, protocol);
  if (saslOptions) settings.sasl = saslOptions;
  const tlsOptions = tls(env, protocol);
  if (tlsOptions) settings.ssl = Object.keys(tlsOptions).length ? tlsOptions : true;
  return settings;
}
