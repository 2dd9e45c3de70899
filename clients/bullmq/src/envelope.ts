/**
 * The envelope of a running job's events, read from the BullMQ job and the wrapper's options, and
 * checked against the contract's rules that a mistake in a worker can break (ids, entity, the
 * always-child job types). A job whose envelope breaks them gets no events (counted `invalid`,
 * warned): an event the projector would refuse helps no one, and the job itself runs on.
 */
import type { Entity, JobType } from "./generated/events.js";
import { ALWAYS_CHILD } from "./generated/events.js";
import { attemptOf, cleanText, type Envelope } from "./events.js";
import { linkOf } from "./linking.js";

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const ENTITY_TYPES = new Set(["ARTIST", "ALBUM", "TRACK"]);
const MAX_JOB_ID = 100;

/** A value of the envelope: fixed, or read from the job (undefined: left out). */
export type JobField<J, T> = T | ((job: J) => T | undefined);

/** The parts of a BullMQ job the envelope is read from. */
export interface EnvelopeJob {
  id?: string | undefined;
  data?: any;
  parent?: { id?: string | undefined } | undefined;
  attemptsMade: number;
  opts: { attempts?: number | undefined };
}

export interface EnvelopeOptions<J> {
  /** What the job works on; default: `job.data.entity`. */
  entity?: (job: J) => Entity | undefined;
  /** Default: `job.data.triggeredBy` when it is a string. */
  triggeredBy?: JobField<J, string>;
  /** Default: `job.data.userId` when it is a string. */
  userId?: JobField<J, string>;
  /** Default: `job.data.reason` when it is a string. */
  reason?: JobField<J, string>;
}

/** The envelope, or the reason it cannot be built; `warning`: something guessed or left out. */
export type EnvelopeResult = { envelope: Envelope; warnings: string[] } | { problem: string };

function field<J>(job: J, given: JobField<J, string> | undefined, fromData: unknown): unknown {
  if (given === undefined) return fromData;
  return typeof given === "function" ? given(job) : given;
}

function entityOf(raw: unknown): Entity | string {
  if (raw === null || typeof raw !== "object") return "no entity (job.data.entity, or the entity option): { type, id } is required";
  const e = raw as Record<string, unknown>;
  if (typeof e.type !== "string" || !ENTITY_TYPES.has(e.type)) {
    return `entity.type ${JSON.stringify(e.type)} is not ARTIST, ALBUM or TRACK`;
  }
  if (typeof e.id !== "string" || !UUID.test(e.id)) return `entity.id ${JSON.stringify(e.id)} is not a UUID`;
  const entity: Entity = { type: e.type as Entity["type"], id: e.id };
  for (const key of ["artistId", "albumId", "trackId"] as const) {
    const id = e[key];
    if (id === undefined || id === null) continue;
    if (typeof id !== "string" || !UUID.test(id)) return `entity.${key} ${JSON.stringify(id)} is not a UUID`;
    entity[key] = id;
  }
  return entity;
}

function checkId(name: string, id: unknown): string | undefined {
  return typeof id === "string" && id.length >= 1 && id.length <= MAX_JOB_ID
    ? undefined : `${name} ${JSON.stringify(id)} is not a string of 1..${MAX_JOB_ID} characters`;
}

export function envelopeOf<J extends EnvelopeJob>(jobType: JobType, job: J, options: EnvelopeOptions<J>): EnvelopeResult {
  const jobId = job.id;
  const badId = checkId("jobId (job.id)", jobId);
  if (badId) return { problem: badId };
  const link = linkOf({ id: jobId as string, data: job.data, parent: job.parent });
  const badRoot = checkId("rootJobId", link.rootJobId);
  if (badRoot) return { problem: badRoot };
  if (link.parentJobId === undefined && ALWAYS_CHILD.includes(jobType)) {
    return { problem: `${jobType} always runs inside another job, but job ${jobId} has no rootJobId and no parent` };
  }
  const data = job.data !== null && typeof job.data === "object" ? job.data : {};
  const entity = entityOf(options.entity ? options.entity(job) : data.entity);
  if (typeof entity === "string") return { problem: entity };
  const warnings = link.guessed ? [link.guessed] : [];
  const envelope: Envelope = { jobId: jobId as string, jobType, rootJobId: link.rootJobId, attempt: attemptOf(job), entity };
  if (link.parentJobId !== undefined) envelope.parentJobId = link.parentJobId;
  const texts = { triggeredBy: 50, reason: 2000 } as const;
  for (const [name, max] of Object.entries(texts) as Array<[keyof typeof texts, number]>) {
    const text = field(job, options[name], data[name]);
    if (typeof text === "string" && text.length > 0) envelope[name] = cleanText(text, max);
  }
  const userId = field(job, options.userId, data.userId);
  if (typeof userId === "string" && UUID.test(userId)) envelope.userId = userId;
  else if (userId !== undefined && userId !== null) warnings.push(`userId ${JSON.stringify(userId)} is not a UUID: left out`);
  return { envelope, warnings };
}
