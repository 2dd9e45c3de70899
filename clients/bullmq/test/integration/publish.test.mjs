// EnrichmentLog against the real broker (KAFKA_BOOTSTRAP_SERVERS): the events of wrapped processors
// are read back with their keys, in order per key, each valid against the contract's JSON Schema.
// ENRICHLOG_TEST_TOPIC names the topic to write (tests/integration/test_bullmq_package.py reads it
// afterwards); else a topic of its own. A broker that cannot be reached costs a job no more than the
// buffer's bounded wait, and stats() counts what was lost.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { EnrichmentLog, childData } from "../../dist/index.js";
import { ENTITY, schemaErrors } from "../contract.mjs";

const BROKERS = process.env.KAFKA_BOOTSTRAP_SERVERS;
const ROOTS = 20;
const CHILDREN = 4;
const quiet = { warn: () => {}, error: () => {} };

async function createTopic(topic) {
  const admin = new Kafka({ brokers: BROKERS.split(","), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

async function readBack(topic, expected, deadlineMs = 60_000) {
  const kafka = new Kafka({ brokers: BROKERS.split(","), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `read-${randomUUID()}` });
  const got = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let done;
  const all = new Promise((resolve) => { done = resolve; });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      got.push({ partition, key: message.key.toString(), value: JSON.parse(message.value.toString()) });
      if (got.length >= expected) done();
    },
  });
  const timer = setTimeout(done, deadlineMs);
  await all;
  clearTimeout(timer);
  await consumer.disconnect();
  return got;
}

/** A job object with what the wrapper reads of a BullMQ job. */
const job = (id, data, attemptsMade = 0, attempts = 1) => ({ id, data: { entity: ENTITY, ...data }, attemptsMade, opts: { attempts } });

test("wrapped processors' events reach the topic: keyed by rootJobId, in order per key, schema-valid", async () => {
  assert.ok(BROKERS, "KAFKA_BOOTSTRAP_SERVERS must name the broker");
  const topic = process.env.ENRICHLOG_TEST_TOPIC || `bullmq-${randomUUID()}`;
  await createTopic(topic);
  const log = new EnrichmentLog({ brokers: BROKERS.split(","), topic, logger: quiet });
  const check = log.wrap("CHECK_ALBUM_ENRICHMENT", async (j, _token, ctx) => {
    ctx.detail({ needsEnrichment: true, missingFields: ["coverArt"], jobsSpawned: CHILDREN });
    return { spawned: CHILDREN };
  });
  const cover = log.wrap("CACHE_ALBUM_COVER_ART", async (j, _token, ctx) => {
    ctx.detail({ processor: "CACHE_IMAGE", urlBefore: "https://coverartarchive.org/1.jpg", fileSizeBytes: 1000, format: "jpeg",
      dimensions: { width: 10, height: 10 } });
    ctx.apiCalls(2);
    if (j.attemptsMade === 0) throw Object.assign(new Error("429 Too Many Requests"), { code: "HTTP_429", kind: "RATE_LIMIT" });
    ctx.outcome("PARTIAL_SUCCESS");
    return "cached";
  });
  let expected = 0;
  for (let r = 0; r < ROOTS; r++) {
    const root = job(`root-${r}-${randomUUID()}`, { triggeredBy: "admin" });
    await check(root);
    expected += 2;
    for (let c = 0; c < CHILDREN; c++) {
      const child = job(`${root.id}-c${c}`, childData(root, {}), 0, 2);
      await assert.rejects(cover(child), /429/);
      assert.equal(await cover({ ...child, attemptsMade: 1 }), "cached");
      expected += 4;
    }
  }
  await log.close();
  assert.deepEqual(log.stats(), { published: expected, buffered: 0, dropped: 0, failed: 0, invalid: 0 });

  const got = await readBack(topic, expected);
  assert.equal(got.length, expected);
  const byKey = new Map();
  for (const { partition, key, value } of got) {
    assert.deepEqual(schemaErrors(value), [], JSON.stringify(value));
    assert.equal(key, value.rootJobId);
    const seen = byKey.get(key) ?? { partition, events: [] };
    assert.equal(partition, seen.partition, "a chain stays in one partition");
    seen.events.push(value);
    byKey.set(key, seen);
  }
  assert.equal(byKey.size, ROOTS);
  for (const [key, { events }] of byKey) {
    const stamps = events.map((e) => e.occurredAt);
    assert.deepEqual(stamps, [...stamps].sort(), `events of ${key} in the order they were published`);
    assert.deepEqual(events.slice(0, 2).map((e) => e.kind), ["job.started", "job.finished"]);
    const child = events.filter((e) => e.jobId === `${key}-c0`);
    assert.deepEqual(child.map((e) => [e.kind, e.attempt]),
      [["job.started", 1], ["job.retrying", 1], ["job.started", 2], ["job.finished", 2]]);
    assert.equal(child[0].maxAttempts, 2);
    assert.deepEqual(child[1].error, { message: "429 Too Many Requests", code: "HTTP_429", kind: "RATE_LIMIT" });
    assert.equal(child[3].outcome, "PARTIAL_SUCCESS");
    assert.equal(child[3].apiCallCount, 2);
    assert.equal(child[3].parentJobId, key);
    assert.equal(events[0].parentJobId, undefined);
  }
});

test("broker unreachable: the processor's result and error come back at once, the same objects; losses are counted", async () => {
  const log = new EnrichmentLog({ brokers: ["127.0.0.1:1"], topic: "unreachable", maxBufferedEvents: 3, maxWaitMs: 20,
    flushTimeoutMs: 300, reconnectPauseMs: 50, logger: quiet });
  const result = { some: "result" };
  const failure = new Error("boom");
  const ok = log.wrap("ENRICH_ALBUM", async () => result);
  const bad = log.wrap("ENRICH_ALBUM", async () => { throw failure; });
  const began = performance.now();
  assert.equal(await ok(job("u-1", {})), result);
  await assert.rejects(bad(job("u-2", {})), (err) => err === failure);
  const took = performance.now() - began;
  assert.ok(took < 500, `the two jobs took ${took} ms`);
  assert.deepEqual(log.stats(), { published: 0, buffered: 3, dropped: 1, failed: 0, invalid: 0 });
  await log.close();
  assert.deepEqual(log.stats(), { published: 0, buffered: 0, dropped: 1, failed: 3, invalid: 0 });
  assert.equal(await ok(job("u-3", {})), result, "a closed log still runs the processor");
  assert.equal(log.stats().dropped, 3);
});

test("a batch the broker refuses (the topic does not exist) is kept and sent again: once the topic exists, every event arrives in order", async () => {
  const topic = `bullmq-missing-${randomUUID()}`;
  const errors = [];
  const log = new EnrichmentLog({ brokers: BROKERS.split(","), topic, reconnectPauseMs: 200,
    logger: { warn: () => {}, error: (m) => errors.push(m) } });
  const processor = log.wrap("ENRICH_ALBUM", async (j) => j.id);
  assert.equal(await processor(job("missing-1", {})), "missing-1");
  const deadline = Date.now() + 60_000;
  while (!errors.some((m) => m.includes("kept to send again")) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(errors.some((m) => m.includes(`not delivered to ${topic}, kept to send again`)), errors.join("\n"));
  assert.deepEqual(log.stats(), { published: 0, buffered: 2, dropped: 0, failed: 0, invalid: 0 });
  await createTopic(topic);
  assert.equal(await processor(job("missing-2", {})), "missing-2");
  await log.close();
  assert.deepEqual(log.stats(), { published: 4, buffered: 0, dropped: 0, failed: 0, invalid: 0 });
  const got = await readBack(topic, 4);
  assert.deepEqual(got.map((m) => [m.key, m.value.kind]), [["missing-1", "job.started"], ["missing-1", "job.finished"],
    ["missing-2", "job.started"], ["missing-2", "job.finished"]]);
});
