/**
 * The Kafka edge: one sender loop drains the bounded buffer into a kafkajs producer, one batch at a
 * time, so the events of a chain (one key, one partition) reach the broker in the order they were
 * buffered.
 *
 * The producer is idempotent (which makes kafkajs send with acks=all and one request in flight),
 * gzip-compressed (decoded by every client, aiokafka and kafka-python included, with no extra
 * package), keyed by rootJobId with kafkajs' Java-compatible murmur2 partitioner (the partition the
 * Python producer picks for the same key), and never has the broker create the topic.
 *
 * The loop:
 * 1. connects (lazily, on the first event); while the broker is unreachable, events wait in the
 *    buffer (which drops when full) and the loop tries again after a pause;
 * 2. waits up to `lingerMs` for a batch to gather, takes up to `batchSize` events and sends them;
 *    kafkajs retries a failed request itself, and a batch it gives up on goes back to the front of
 *    the buffer to be sent again after a pause, unless the broker refused the records themselves
 *    (too large, invalid, corrupt: sending them again cannot help, so they are counted failed and
 *    logged with their job ids) (at-least-once: the projector folds a repeated event
 *    once, by its eventId), the error logged at most once per `errorLogIntervalMs`; the producer is
 *    replaced by a new one (a new producer id: kafkajs' idempotent producer may otherwise keep
 *    refusing with a sequence error). Meanwhile the buffer fills, and drops when full;
 * 3. on close, stops taking events, drains what is buffered for at most `flushTimeoutMs`, counts
 *    what is left failed (logged with its job ids), and disconnects.
 */
import { CompressionTypes, Kafka, Partitioners, logLevel, type KafkaConfig, type Producer } from "kafkajs";
import type { BoundedBuffer, Message } from "./buffer.js";

export interface Logger {
  warn(message: string): void;
  error(message: string): void;
}

export interface PublisherOptions {
  kafka: KafkaConfig;
  topic: string;
  batchSize: number;
  lingerMs: number;
  reconnectPauseMs: number;
  errorLogIntervalMs: number;
  logger: Logger;
}

const MAX_IDS_LOGGED = 200;

export class Publisher {
  published = 0;
  failed = 0;
  private producer: Producer | undefined;
  private connected = false;
  private inFlight: Message[] = [];
  private running: Promise<void> | undefined;
  private stopping = false;
  private gaveUp = false;
  private pause: (() => void) | undefined;
  private lastErrorLog = -Infinity;
  private unlogged = 0;
  lastError: string | undefined;
  private droppedIds = new Map<string, string[]>();
  private dropTimer: NodeJS.Timeout | undefined;

  constructor(private readonly buffer: BoundedBuffer, private readonly options: PublisherOptions) {}

  get pending(): number {
    return this.buffer.length + this.inFlight.length;
  }

  /** Starts the sender loop (once). */
  start(): void {
    if (this.running || this.stopping) return;
    this.producer = this.newProducer();
    this.running = this.loop();
  }

  private newProducer(): Producer {
    return new Kafka({ ...this.options.kafka, logLevel: logLevel.NOTHING }).producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  /** After a failed batch: a new producer (and producer id), so that a sequence error does not stick. */
  private async replaceProducer(): Promise<void> {
    const old = this.producer as Producer;
    this.producer = this.newProducer();
    this.connected = false;
    await old.disconnect().catch(() => undefined);
  }

  private async loop(): Promise<void> {
    while (!this.gaveUp && !(this.stopping && this.buffer.length === 0)) {
      const producer = this.producer as Producer;
      if (!this.connected) {
        try {
          await producer.connect();
          this.connected = true;
        } catch (err) {
          this.record(`cannot connect to Kafka (${this.options.kafka.brokers}): ${describe(err)}`);
          if (!this.stopping) await this.sleep(this.options.reconnectPauseMs);
          else await this.sleep(Math.min(this.options.reconnectPauseMs, 100));
          continue;
        }
      }
      if (this.buffer.length === 0) {
        await new Promise<void>((resolve) => {
          this.buffer.wake = this.pause = resolve;
        });
        this.buffer.wake = this.pause = undefined;
        continue;
      }
      if (this.options.lingerMs > 0 && this.buffer.length < this.options.batchSize && !this.stopping) {
        await this.sleep(this.options.lingerMs); // let a batch gather: a request per event costs the event loop more
      }
      await this.send(producer, this.buffer.take(this.options.batchSize));
    }
  }

  private async send(producer: Producer, batch: Message[]): Promise<void> {
    this.inFlight = batch;
    try {
      await producer.send({
        topic: this.options.topic,
        acks: -1,
        compression: CompressionTypes.GZIP,
        messages: batch.map((m) => ({ key: m.key, value: m.value })),
      });
      if (!this.gaveUp) this.published += batch.length;
    } catch (err) {
      this.inFlight = [];
      if (this.gaveUp) return; // close() has counted the batch failed
      const refused = recordRefusal(err);
      if (refused !== undefined) {
        this.lose(batch, `refused by the broker (${refused}): ${describe(err)}`);
        await this.replaceProducer();
        return;
      }
      this.buffer.requeue(batch);
      this.record(`not delivered to ${this.options.topic}, kept to send again: ${describe(err)}`);
      await this.replaceProducer();
      await this.sleep(this.stopping ? Math.min(this.options.reconnectPauseMs, 100) : this.options.reconnectPauseMs);
    } finally {
      this.inFlight = [];
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.pause = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Logs dropped events with their job ids, in lines of a few hundred (or one a second). */
  dropped(message: Message, why: string): void {
    const ids = this.droppedIds.get(why) ?? [];
    this.droppedIds.set(why, ids);
    ids.push(message.jobId);
    if (ids.length >= MAX_IDS_LOGGED) this.logDropped();
    else this.dropTimer ??= setTimeout(() => this.logDropped(), 1000).unref();
  }

  private logDropped(): void {
    clearTimeout(this.dropTimer);
    this.dropTimer = undefined;
    for (const [why, ids] of this.droppedIds) {
      this.options.logger.error(`enrichlog: ${ids.length} event(s) dropped (${why}); total dropped=${this.buffer.dropped} ` +
        `failed=${this.failed}; job ids: ${[...new Set(ids)].join(" ")}`);
    }
    this.droppedIds.clear();
  }

  /** Counts `messages` failed and logs them with their job ids. */
  lose(messages: Message[], why: string): void {
    if (messages.length === 0) return;
    this.failed += messages.length;
    this.lastError = why;
    const ids = [...new Set(messages.map((m) => m.jobId))].slice(0, MAX_IDS_LOGGED);
    this.options.logger.error(`enrichlog: ${messages.length} event(s) lost (${why}); total failed=${this.failed} ` +
      `dropped=${this.buffer.dropped}; job ids: ${ids.join(" ")}`);
  }

  /** Keeps the error; logs one line at most once per errorLogIntervalMs. */
  private record(error: string): void {
    this.lastError = error;
    const now = Date.now();
    if (now - this.lastErrorLog < this.options.errorLogIntervalMs) {
      this.unlogged += 1;
      return;
    }
    const suppressed = this.unlogged ? ` (${this.unlogged} similar errors since the last report)` : "";
    this.lastErrorLog = now;
    this.unlogged = 0;
    this.options.logger.error(`enrichlog: ${error}; ${this.pending} event(s) buffered${suppressed}`);
  }

  /** Flushes for at most `timeoutMs`, counts what is left failed, disconnects. */
  async close(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.buffer.close();
    this.logDropped();
    this.pause?.();
    if (this.running) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeoutMs);
      });
      const result = await Promise.race([this.running.then(() => "done" as const), timedOut]);
      clearTimeout(timer);
      if (result === "timeout") {
        this.gaveUp = true;
        this.pause?.();
        this.lose([...this.inFlight, ...this.buffer.take(Number.MAX_SAFE_INTEGER)],
          `not delivered within flushTimeoutMs=${timeoutMs} of close(); last error: ${this.lastError ?? "none"}`);
      }
      await Promise.race([this.producer?.disconnect().catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, Math.min(timeoutMs, 1000)).unref())]);
    }
  }
}

/** The broker's error codes that refuse the records themselves, whatever the broker's state. */
const RECORD_REFUSALS = new Set(["MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE", "INVALID_RECORD", "CORRUPT_MESSAGE"]);

/** The code of a refusal of the records in `err` or its causes; undefined for anything else. */
export function recordRefusal(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === "string" && RECORD_REFUSALS.has(type)) return type;
  }
  return undefined;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error && cause.message !== err.message ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}
