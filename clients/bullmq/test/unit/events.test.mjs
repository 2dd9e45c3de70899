import { test } from "node:test";
import assert from "node:assert/strict";
import { attemptOf, errorOf, EventClock, isControlFlow, isPermanent, maxAttemptsOf } from "../../dist/index.js";
import { envelopeOf } from "../../dist/envelope.js";
import { failedAttempt, finished, started } from "../../dist/events.js";
import { ENTITY, schemaErrors } from "../contract.mjs";

const job = (over = {}) => ({ id: "q-1", data: { entity: ENTITY }, attemptsMade: 0, opts: {}, ...over });
const envelope = (j = job(), jobType = "CACHE_ALBUM_COVER_ART", options = {}) => envelopeOf(jobType, j, options).envelope;
const AT = "2026-02-06T12:00:00.123456Z";

test("attempt is BullMQ's attemptsMade + 1; maxAttempts is opts.attempts, 1 when unset or 0", () => {
  assert.equal(attemptOf(job()), 1);
  assert.equal(attemptOf(job({ attemptsMade: 2 })), 3);
  assert.equal(attemptOf(job({ attemptsMade: 5000 })), 1000);
  assert.equal(maxAttemptsOf(job()), 1);
  assert.equal(maxAttemptsOf(job({ opts: { attempts: 0 } })), 1);
  assert.equal(maxAttemptsOf(job({ opts: { attempts: 3 } })), 3);
});

test("a failure is permanent on the last attempt, for an UnrecoverableError, or after job.discard()", () => {
  const err = new Error("x");
  assert.equal(isPermanent(job({ opts: { attempts: 3 }, attemptsMade: 1 }), err), false);
  assert.equal(isPermanent(job({ opts: { attempts: 3 }, attemptsMade: 2 }), err), true);
  assert.equal(isPermanent(job(), err), true, "no attempts option: one attempt");
  const unrecoverable = Object.assign(new Error("no"), { name: "UnrecoverableError" });
  assert.equal(isPermanent(job({ opts: { attempts: 3 } }), unrecoverable), true);
  assert.equal(isPermanent({ ...job({ opts: { attempts: 3 } }), discarded: true }, err), true);
});

test("BullMQ's control-flow errors are not failures", () => {
  for (const name of ["DelayedError", "WaitingError", "WaitingChildrenError", "RateLimitError"]) {
    assert.equal(isControlFlow(Object.assign(new Error(""), { name })), true, name);
  }
  assert.equal(isControlFlow(new Error("bullmq:rateLimitExceeded")), true);
  assert.equal(isControlFlow(new Error("boom")), false);
  assert.equal(isControlFlow("a string"), false);
});

test("error: message, err.code when a string of 1..50, err.kind when in the enum, else classify, else UNKNOWN", () => {
  assert.deepEqual(errorOf(Object.assign(new Error("429"), { code: "HTTP_429", kind: "RATE_LIMIT" })),
    { message: "429", code: "HTTP_429", kind: "RATE_LIMIT" });
  assert.deepEqual(errorOf(Object.assign(new Error("m"), { code: 42, kind: "weird" })), { message: "m", kind: "UNKNOWN" });
  assert.deepEqual(errorOf(Object.assign(new Error("m"), { code: "X".repeat(51) })), { message: "m", kind: "UNKNOWN" });
  assert.deepEqual(errorOf(new Error("t"), () => "TIMEOUT"), { message: "t", kind: "TIMEOUT" });
  assert.deepEqual(errorOf(Object.assign(new Error("t"), { kind: "AUTH" }), () => "TIMEOUT"), { message: "t", kind: "AUTH" });
  assert.deepEqual(errorOf(new Error("t"), () => "NOPE"), { message: "t", kind: "UNKNOWN" });
  assert.equal(errorOf("thrown string").message, "thrown string");
  assert.equal(errorOf(new Error("")).message, "Error");
  assert.equal(errorOf(new Error("a\u0000b\ud800")).message, "a\uFFFDb\uFFFD");
  assert.equal([...errorOf(new Error("🎵".repeat(5000))).message].length, 4000, "counted in characters");
});

test("occurredAt: UTC, microseconds, strictly increasing within a process", () => {
  let now = Date.parse("2026-02-06T12:00:00.123Z");
  const clock = new EventClock(() => now);
  assert.equal(clock.stamp(), "2026-02-06T12:00:00.123000Z");
  assert.equal(clock.stamp(), "2026-02-06T12:00:00.123001Z");
  now += 1;
  assert.equal(clock.stamp(), "2026-02-06T12:00:00.124000Z");
  now -= 10; // the wall clock stepped back
  assert.equal(clock.stamp(), "2026-02-06T12:00:00.124001Z");
});

test("each kind built from a job is valid against the contract's JSON Schema, with null optionals left out", () => {
  const env = envelope(job({ data: { entity: ENTITY, triggeredBy: "admin", reason: "manual" } }));
  const events = [
    started(env, AT, 3),
    finished(env, AT, 12.6, { outcome: "SKIPPED", apiCallCount: 3, detail: { processor: "CACHE_IMAGE", format: "png" } }),
    finished(env, AT, 1, { outcome: "SUCCESS" }),
    failedAttempt(env, AT, 5, errorOf(new Error("x")), false),
    failedAttempt(env, AT, 5, errorOf(new Error("x")), true, { processor: "CACHE_IMAGE", fileSizeBytes: 10 }),
  ];
  for (const event of events) assert.deepEqual(schemaErrors(event), [], JSON.stringify(event));
  assert.deepEqual(events.map((e) => e.kind), ["job.started", "job.finished", "job.finished", "job.retrying", "job.failed"]);
  assert.equal(events[1].durationMs, 13);
  assert.equal(events[0].maxAttempts, 3);
  assert.equal(events[0].triggeredBy, "admin");
  assert.equal("parentJobId" in events[0] || "userId" in events[0] || "detail" in events[2] || "apiCallCount" in events[2], false);
  assert.match(events[0].eventId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(events[0].eventId, events[1].eventId);
});

test("envelope: a child links flat; SPOTIFY_TRACK_FALLBACK needs a parent; a job without an entity gets no events", () => {
  const child = envelope(job({ id: "q-2", data: { entity: ENTITY, rootJobId: "q-1" } }), "SPOTIFY_TRACK_FALLBACK");
  assert.equal(child.rootJobId, "q-1");
  assert.equal(child.parentJobId, "q-1");
  assert.deepEqual(schemaErrors(finished(child, AT, 1, { outcome: "SUCCESS" })), []);
  assert.match(envelopeOf("SPOTIFY_TRACK_FALLBACK", job(), {}).problem, /always runs inside another job/);
  assert.match(envelopeOf("ENRICH_ALBUM", job({ data: {} }), {}).problem, /no entity/);
  assert.match(envelopeOf("ENRICH_ALBUM", job({ data: { entity: { type: "SONG", id: ENTITY.id } } }), {}).problem, /entity.type/);
  assert.match(envelopeOf("ENRICH_ALBUM", job({ id: "x".repeat(101) }), {}).problem, /jobId/);
  assert.match(envelopeOf("ENRICH_ALBUM", job({ data: { entity: { ...ENTITY, albumId: "nope" } } }), {}).problem, /albumId/);
});

test("envelope options: entity, triggeredBy, userId and reason from functions or values, cut to the contract's limits", () => {
  const user = "2d4f6a8c-1e3b-4d5f-8a9c-0b1d2e3f4a5b";
  const result = envelopeOf("ENRICH_ALBUM", job({ data: { album: ENTITY } }), {
    entity: (j) => j.data.album, triggeredBy: "s".repeat(80), userId: () => user, reason: (j) => `job ${j.id}`,
  });
  assert.deepEqual(result.warnings, []);
  assert.equal(result.envelope.triggeredBy.length, 50);
  assert.equal(result.envelope.userId, user);
  assert.equal(result.envelope.reason, "job q-1");
  const bad = envelopeOf("ENRICH_ALBUM", job({ data: { entity: ENTITY, userId: "admin" } }), {});
  assert.equal(bad.envelope.userId, undefined);
  assert.match(bad.warnings[0], /userId "admin" is not a UUID/);
});
