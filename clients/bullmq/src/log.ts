/**
 * `EnrichmentLog`: the package's entry point. It owns the buffer and the Kafka publisher, and wraps
 * BullMQ processors so that each attempt publishes its events (docs/events.md):
 *
 *   job.started                when the attempt begins (with maxAttempts)
 *   job.finished               when the processor returns (outcome, durationMs, apiCallCount, detail)
 *   job.retrying / job.failed  when it throws: failed when permanent (see events.ts), else retrying
 *
 * The processor's result, or its error, reaches BullMQ unchanged (the same object, rethrown).
 * Publishing never throws into a job and waits only when the buffer is full, for at most maxWaitMs.
 */
import type { Job } from "bullmq";
import type { Entity, JobEvent, JobType } from "./generated/events.js";
import { BoundedBuffer, type Message } from "./buffer.js";
import { JobContext } from "./context.js";
import { envelopeOf, type EnvelopeOptions } from "./envelope.js";
import { ConfigError } from "./errors.js";
import {
  errorOf, EventClock, failedAttempt, finished, isControlFlow, isPermanent, maxAttemptsOf, started, type Classify,
} from "./events.js";
import { checkTopic, DEFAULT_TOPIC, kafkaSettingsFromEnv, parseBrokers } from "./env.js";
import { Publisher, type Logger } from "./publisher.js";
import type { SASLOptions } from "kafkajs";
import type { ConnectionOptions } from "node:tls";

/** Key + value limit of one message: the contract's 1 MiB, less room for the record's framing. */
const MAX_RECORD_BYTES = 1_048_576 - 128;

export interface EnrichmentLogOptions {
  brokers: string[];
  topic?: string;
  clientId?: string;
  ssl?: ConnectionOptions | boolean;
  sasl?: SASLOptions;
  /** Events buffered (not yet acknowledged by the broker) at most; beyond, events are dropped. */
  maxBufferedEvents?: number;
  /** How long an event waits for room in a full buffer before it is dropped. */
  maxWaitMs?: number;
  /** How long close() waits for the buffered events to be delivered. */
  flushTimeoutMs?: number;
  /** Events per produce request. */
  batchSize?: number;
  /** How long the sender lets events gather before a request that would not be full. */
  lingerMs?: number;
  /** The pause between two attempts to reach an unreachable broker. */
  reconnectPauseMs?: number;
  /** Connection errors are logged at most once per this interval (events lost always are). */
  errorLogIntervalMs?: number;
  logger?: Logger;
}

export interface WrapOptions<J> extends EnvelopeOptions<J> {
  /** The `error.kind` of an error that carries no `kind` of the contract's own. */
  classify?: Classify;
}

export interface Stats {
  /** Acknowledged by the broker. */
  published: number;
  /** Accepted, not yet acknowledged. */
  buffered: number;
  /** Not accepted: the buffer stayed full for maxWaitMs (or the log was closed). */
  dropped: number;
  /** Accepted and given up: the broker refused or did not acknowledge them, or close() timed out. */
  failed: number;
  /** Not built: the job's envelope breaks the contract (no entity, an id too long ...). */
  invalid: number;
}

/** A processor as a BullMQ Worker takes it. */
export type Processor<D, R, N extends string> = (job: Job<D, R, N>, token?: string, signal?: AbortSignal) => Promise<R>;

/** A processor that reports to the log: the BullMQ arguments and the attempt's context. */
export type LoggedProcessor<J extends JobType, D, R, N extends string> =
  (job: Job<D, R, N>, token: string | undefined, ctx: JobContext<J>) => Promise<R> | R;

function positive(name: string, value: number | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < min) throw new ConfigError(`${name} must be a number >= ${min}, got ${value}`);
  return value;
}

export class EnrichmentLog {
  readonly topic: string;
  private readonly buffer: BoundedBuffer;
  private readonly publisher: Publisher;
  private readonly flushTimeoutMs: number;
  private readonly logger: Logger;
  private readonly clock = new EventClock();
  private invalid = 0;
  private closing: Promise<void> | undefined;

  constructor(options: EnrichmentLogOptions) {
    const brokers = parseBrokers("brokers", options.brokers?.join(","));
    this.topic = checkTopic("topic", options.topic ?? DEFAULT_TOPIC);
    this.logger = options.logger ?? console;
    this.flushTimeoutMs = positive("flushTimeoutMs", options.flushTimeoutMs, 5000);
    const maxEvents = positive("maxBufferedEvents", options.maxBufferedEvents, 10_000, 1);
    this.buffer = new BoundedBuffer(maxEvents, positive("maxWaitMs", options.maxWaitMs, 50));
    const kafka = { brokers, clientId: options.clientId ?? "enrichlog-bullmq",
      ...(options.ssl !== undefined && { ssl: options.ssl }), ...(options.sasl && { sasl: options.sasl }) };
    this.publisher = new Publisher(this.buffer, {
      kafka, topic: this.topic, logger: this.logger,
      batchSize: positive("batchSize", options.batchSize, 500, 1),
      lingerMs: positive("lingerMs", options.lingerMs, 5),
      reconnectPauseMs: positive("reconnectPauseMs", options.reconnectPauseMs, 1000),
      errorLogIntervalMs: positive("errorLogIntervalMs", options.errorLogIntervalMs, 30_000),
    });
    this.buffer.onDrop = (message, why) => this.publisher.dropped(message, why);
  }

  /** A log configured by the KAFKA_* and ENRICHLOG_EVENTS_TOPIC variables (a ConfigError names a bad one). */
  static fromEnv(env: Record<string, string | undefined> = process.env,
                 options: Omit<EnrichmentLogOptions, "brokers" | "topic" | "clientId" | "ssl" | "sasl"> = {}): EnrichmentLog {
    return new EnrichmentLog({ ...kafkaSettingsFromEnv(env), ...options });
  }

  stats(): Stats {
    return { published: this.publisher.published, buffered: this.publisher.pending, dropped: this.buffer.dropped,
      failed: this.publisher.failed, invalid: this.invalid };
  }

  /**
   * Buffers one event for the topic (key: its rootJobId). True when taken; a promise when the buffer
   * is full. Never throws.
   */
  publish(event: JobEvent): boolean | Promise<boolean> {
    const message: Message = { key: event.rootJobId, value: JSON.stringify(event), jobId: event.jobId };
    if (Buffer.byteLength(message.value) + Buffer.byteLength(message.key) > MAX_RECORD_BYTES) {
      this.publisher.lose([message], `larger than the 1 MiB a message may be (${event.kind})`);
      return false;
    }
    this.publisher.start();
    return this.buffer.offer(message);
  }

  /** `processor`, publishing the events of each attempt of a job of type `jobType`. */
  wrap<J extends JobType, D = any, R = any, N extends string = string>(
    jobType: J, processor: LoggedProcessor<J, D, R, N>, options: WrapOptions<Job<D, R, N>> = {},
  ): Processor<D, R, N> {
    return async (job, token, signal) => {
      const began = performance.now();
      const envelope = this.envelope(jobType, job, options);
      if (envelope) {
        const taken = this.publish(started(envelope, this.clock.stamp(), maxAttemptsOf(job)));
        if (taken !== true && taken !== false) await taken;
      }
      const ctx = new JobContext(jobType, job, this.logger, signal);
      let result: R;
      try {
        result = await processor(job, token, ctx);
      } catch (err) {
        if (envelope && !isControlFlow(err)) {
          const taken = this.safely(() => this.publish(failedAttempt(envelope, this.clock.stamp(), performance.now() - began,
            errorOf(err, options.classify), isPermanent(job, err), ctx.reported.detail)));
          if (taken instanceof Promise) await taken;
        }
        throw err;
      }
      if (envelope) {
        const taken = this.safely(() => this.publish(finished(envelope, this.clock.stamp(), performance.now() - began, ctx.reported)));
        if (taken instanceof Promise) await taken;
      }
      return result;
    };
  }

  /** Flushes the buffered events (for at most flushTimeoutMs) and disconnects; later events are dropped. */
  close(): Promise<void> {
    this.closing ??= this.publisher.close(this.flushTimeoutMs);
    return this.closing;
  }

  private envelope<J>(jobType: JobType, job: J & Job, options: EnvelopeOptions<J>) {
    const result = this.safely(() => envelopeOf(jobType, job, options as EnvelopeOptions<Job>));
    if (result === undefined) return undefined;
    if ("problem" in result) {
      this.invalid += 1;
      this.logger.warn(`enrichlog: no events for job ${String(job.id)} (${jobType}): ${result.problem}`);
      return undefined;
    }
    for (const warning of result.warnings) this.logger.warn(`enrichlog: ${warning}`);
    return result.envelope;
  }

  /** Runs `fn`; an exception (a bug, or an option's function that threw) is logged, never raised into the job. */
  private safely<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.invalid += 1;
      this.logger.error(`enrichlog: building an event failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      return undefined;
    }
  }
}

export type { Entity };
