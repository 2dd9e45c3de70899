// The wrapper's bookkeeping, with no broker (an unreachable address: events stay buffered, and
// close() counts them failed): which attempts publish what, and that the job never sees the log.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DelayedError, UnrecoverableError, WaitingChildrenError } from "bullmq";
import { EnrichmentLog } from "../../dist/index.js";
import { ENTITY } from "../contract.mjs";

const warnings = [];
const logger = { warn: (m) => warnings.push(m), error: () => {} };
const newLog = () => new EnrichmentLog({ brokers: ["127.0.0.1:1"], flushTimeoutMs: 50, reconnectPauseMs: 60_000, logger });
const job = (id, data = {}) => ({ id, data: { entity: ENTITY, ...data }, attemptsMade: 0, opts: { attempts: 2 } });

test("BullMQ's control-flow errors are rethrown as they are, with no end event", async () => {
  const log = newLog();
  for (const err of [new DelayedError(), new WaitingChildrenError()]) {
    const processor = log.wrap("ENRICH_ALBUM", async () => { throw err; });
    await assert.rejects(processor(job("cf")), (thrown) => thrown === err);
  }
  assert.equal(log.stats().buffered, 2, "one job.started per run, nothing else");
  const unrecoverable = new UnrecoverableError("gone");
  await assert.rejects(log.wrap("ENRICH_ALBUM", async () => { throw unrecoverable; })(job("u")), (e) => e === unrecoverable);
  assert.equal(log.stats().buffered, 4);
  await log.close();
  assert.equal(log.stats().failed, 4);
});

test("a job whose events would break the contract runs, unlogged, counted invalid and warned", async () => {
  const log = newLog();
  warnings.length = 0;
  const processor = log.wrap("ENRICH_ALBUM", async () => "ran");
  assert.equal(await processor({ id: "no-entity", data: {}, attemptsMade: 0, opts: {} }), "ran");
  const throwing = log.wrap("ENRICH_ALBUM", async () => "ran too", { entity: () => { throw new Error("bad option"); } });
  assert.equal(await throwing(job("x")), "ran too");
  assert.deepEqual(log.stats(), { published: 0, buffered: 0, dropped: 0, failed: 0, invalid: 2 });
  assert.match(warnings[0], /no events for job no-entity \(ENRICH_ALBUM\): no entity/);
  await log.close();
});

test("a child of a flow not linked with linkFlow is linked to its parent, with a warning", async () => {
  const log = newLog();
  warnings.length = 0;
  const processor = log.wrap("CACHE_ALBUM_COVER_ART", async () => 1);
  assert.equal(await processor({ ...job("c"), parent: { id: "p", queueKey: "bull:q" } }), 1);
  assert.equal(log.stats().buffered, 2);
  assert.match(warnings[0], /job c has a BullMQ parent \(p\) but no rootJobId/);
  await log.close();
});
