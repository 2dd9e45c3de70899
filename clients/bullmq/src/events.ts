/**
 * Building the contract's events (docs/events.md) from what a BullMQ job knows: pure functions, no
 * Kafka, no clock but the one passed in.
 *
 * - `attempt` is BullMQ's own count: `job.attemptsMade` is the number of attempts that ended
 *   before this one (BullMQ increments it when an attempt completes or fails), so the running
 *   attempt is `attemptsMade + 1`; `maxAttempts` is `job.opts.attempts` (default 1).
 * - An attempt that fails is permanent (`job.failed`) when it is the last one
 *   (`attempt >= maxAttempts`, the test BullMQ's `shouldRetryJob` makes), when the error is an
 *   `UnrecoverableError`, or when the processor called `job.discard()`; otherwise `job.retrying`.
 * - BullMQ's control-flow errors (DelayedError, WaitingError, WaitingChildrenError, and the rate
 *   limiter's RateLimitError) end no attempt: BullMQ moves the job back without counting one. No
 *   event is written for them; the job's next run writes `job.started` again for the same attempt.
 * - Optional fields that would be null are left out.
 */
import { randomUUID } from "node:crypto";
import type {
  Entity, ErrorKind, JobError, JobFailed, JobFinished, JobRetrying, JobStarted, JobType, Outcome,
} from "./generated/events.js";

export type { JobEvent } from "./generated/events.js";
export const SCHEMA_VERSION = "1.0";
export const MAX_ATTEMPT = 1000;
const MAX_DURATION_MS = 2147483647;
const MAX_MESSAGE = 4000;
const MAX_CODE = 50;
const ERROR_KINDS: ReadonlySet<string> = new Set<ErrorKind>([
  "RATE_LIMIT", "NOT_FOUND", "AUTH", "TIMEOUT", "INVALID_INPUT", "UPSTREAM", "INTERNAL", "UNKNOWN",
]);
const CONTROL_FLOW = new Set(["DelayedError", "WaitingError", "WaitingChildrenError", "RateLimitError"]);
const RATE_LIMIT_MESSAGE = "bullmq:rateLimitExceeded"; // BullMQ's RATE_LIMIT_ERROR

/** What event building needs of a BullMQ job (a `Job` has all of it). */
export interface AttemptJob {
  attemptsMade: number;
  opts: { attempts?: number | undefined };
}

/** The envelope fields every event of one job's attempt shares. */
export interface Envelope {
  jobId: string;
  jobType: JobType;
  rootJobId: string;
  parentJobId?: string;
  attempt: number;
  entity: Entity;
  triggeredBy?: string;
  userId?: string;
  reason?: string;
}

function clamp(n: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, Math.trunc(n)));
}

/** The running attempt, first = 1, from BullMQ's counter of attempts made before it. */
export function attemptOf(job: AttemptJob): number {
  const made = Number.isFinite(job.attemptsMade) ? job.attemptsMade : 0;
  return clamp(made + 1, 1, MAX_ATTEMPT);
}

/** The queue's attempt limit: `opts.attempts`, 1 when unset. */
export function maxAttemptsOf(job: AttemptJob): number {
  const attempts = job.opts?.attempts;
  return typeof attempts === "number" && Number.isFinite(attempts) ? clamp(attempts, 1, MAX_ATTEMPT) : 1;
}

function nameOf(err: unknown): string | undefined {
  return err !== null && typeof err === "object" ? String((err as { name?: unknown }).name) : undefined;
}

/** An error BullMQ uses to move a job (delay it, wait for children, rate-limit), not a failure. */
export function isControlFlow(err: unknown): boolean {
  const name = nameOf(err);
  if (name !== undefined && CONTROL_FLOW.has(name)) return true;
  return err instanceof Error && err.message === RATE_LIMIT_MESSAGE;
}

/** Whether the failed attempt is the job's last: BullMQ will not retry it. */
export function isPermanent(job: AttemptJob, err: unknown): boolean {
  const discarded = (job as { discarded?: unknown }).discarded === true; // set by job.discard(); protected in Job
  return attemptOf(job) >= maxAttemptsOf(job) || nameOf(err) === "UnrecoverableError" || discarded;
}

/** Text the contract can carry: well-formed Unicode without NUL, at most `max` characters. */
export function cleanText(value: string, max: number): string {
  let text = value.toWellFormed();
  if (text.includes("\u0000")) text = text.replaceAll("\u0000", "\uFFFD");
  if (text.length > max) {
    const chars = Array.from(text);
    if (chars.length > max) text = chars.slice(0, max).join("");
  }
  return text;
}

/** Sorts an error into the contract's `error.kind`; undefined leaves it to `err.kind` or UNKNOWN. */
export type Classify = (err: unknown) => ErrorKind | undefined;

/** The contract's `error` of what a processor threw: message, `err.code`, `err.kind` (or `classify`). */
export function errorOf(err: unknown, classify?: Classify): JobError {
  const fields = err !== null && typeof err === "object" ? (err as Record<string, unknown>) : {};
  const raw = err instanceof Error ? err.message : typeof fields.message === "string" ? fields.message : String(err);
  const message = cleanText(raw || nameOf(err) || "Error", MAX_MESSAGE) || "Error";
  const out: JobError = { message };
  const code = fields.code;
  if (typeof code === "string" && code.length >= 1 && code.length <= MAX_CODE && !code.includes("\u0000")) {
    out.code = code.toWellFormed();
  }
  const own = typeof fields.kind === "string" && ERROR_KINDS.has(fields.kind) ? (fields.kind as ErrorKind) : undefined;
  const classified = own ?? classify?.(err);
  out.kind = classified !== undefined && ERROR_KINDS.has(classified) ? classified : "UNKNOWN";
  return out;
}

/**
 * occurredAt: RFC 3339 in UTC with microseconds. The clock has milliseconds; the microsecond digits
 * keep the events of one process strictly increasing (each is at least one microsecond after the one
 * before), so two steps of a job in the same millisecond keep their order on a timeline.
 */
export class EventClock {
  private last = 0;

  constructor(private readonly nowMs: () => number = Date.now) {}

  stamp(): string {
    const micros = Math.max(this.nowMs() * 1000, this.last + 1);
    this.last = micros;
    const iso = new Date(Math.floor(micros / 1000)).toISOString(); // ...T12:00:00.123Z
    return `${iso.slice(0, -1)}${String(micros % 1000).padStart(3, "0")}Z`;
  }
}

function base(envelope: Envelope, occurredAt: string) {
  const out: Record<string, unknown> = {
    eventId: randomUUID(),
    schemaVersion: SCHEMA_VERSION,
    jobId: envelope.jobId,
    jobType: envelope.jobType,
    rootJobId: envelope.rootJobId,
  };
  if (envelope.parentJobId !== undefined) out.parentJobId = envelope.parentJobId;
  out.attempt = envelope.attempt;
  out.occurredAt = occurredAt;
  out.entity = envelope.entity;
  if (envelope.triggeredBy !== undefined) out.triggeredBy = envelope.triggeredBy;
  if (envelope.userId !== undefined) out.userId = envelope.userId;
  if (envelope.reason !== undefined) out.reason = envelope.reason;
  return out;
}

export function durationOf(ms: number): number {
  return clamp(Number.isFinite(ms) ? Math.round(ms) : 0, 0, MAX_DURATION_MS);
}

export function started(envelope: Envelope, occurredAt: string, maxAttempts: number): JobStarted {
  return { kind: "job.started", ...base(envelope, occurredAt), maxAttempts } as JobStarted;
}

/** What the processor reported about its attempt through the context. */
export interface Report {
  outcome: Outcome;
  apiCallCount?: number;
  detail?: JobFinished["detail"];
}

export function finished(envelope: Envelope, occurredAt: string, durationMs: number, report: Report): JobFinished {
  const out: Record<string, unknown> = { kind: "job.finished", ...base(envelope, occurredAt) };
  if (report.detail) out.detail = report.detail;
  out.outcome = report.outcome;
  out.durationMs = durationOf(durationMs);
  if (report.apiCallCount !== undefined) out.apiCallCount = report.apiCallCount;
  return out as unknown as JobFinished;
}

/** `job.failed` when `permanent`, else `job.retrying`: an attempt that ended with `error`. */
export function failedAttempt(envelope: Envelope, occurredAt: string, durationMs: number, error: JobError,
                              permanent: boolean, detail?: JobFinished["detail"]): JobFailed | JobRetrying {
  const out: Record<string, unknown> = { kind: permanent ? "job.failed" : "job.retrying", ...base(envelope, occurredAt) };
  if (detail) out.detail = detail;
  out.error = error;
  out.durationMs = durationOf(durationMs);
  return out as unknown as JobFailed | JobRetrying;
}
