// The BullMQ package's benchmark (a script, not a test). Needs `npm ci && npm run build` in clients/bullmq,
// a Redis (REDIS_URL, default redis://127.0.0.1:6392) and the broker (KAFKA_BOOTSTRAP_SERVERS).
//
//   node bench/bullmq_producer.mjs [--jobs N] [--events N]
//
// 1. The wrapper's time on a job's path: a real BullMQ Worker (concurrency 1) on the real Redis runs
//    N trivial jobs whose processor times the call of the processor it is given: the bare trivial
//    processor, or the same one wrapped by EnrichmentLog.wrap (two events buffered per job while the
//    publisher delivers them to the real broker). Median and p99 of that call, in microseconds; the
//    difference is what the wrapper adds. Also the Worker's jobs/s both ways (Redis round trips included).
// 2. Throughput: N events (N/2 wrapped calls, outside any Worker) published as fast as the buffer takes
//    them (maxWaitMs large, so that none is dropped); events/s from the first call to the last broker
//    acknowledgement (close()), from one Node process.
// 3. The wrapper's own call, nothing sent: N wrapped calls of the trivial processor outside any Worker,
//    with an unreachable broker and a buffer that holds every event. Median and p99, in microseconds.
// Each phase that sends writes to a fresh topic of 3 partitions.
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { EnrichmentLog } from "../clients/bullmq/dist/index.js";

const packageRequire = createRequire(new URL("../clients/bullmq/package.json", import.meta.url)); // its node_modules
const { Queue, Worker } = packageRequire("bullmq");
const kafkajs = packageRequire("kafkajs");

const args = Object.fromEntries(process.argv.slice(2).join("=").split("=--").map((a) => a.replace(/^--/, "").split("=")));
const JOBS = Number(args.jobs ?? 5000);
const EVENTS = Number(args.events ?? 200000);
const BROKERS = (process.env.KAFKA_BOOTSTRAP_SERVERS ?? "").split(",").filter(Boolean);
if (!BROKERS.length) throw new Error("KAFKA_BOOTSTRAP_SERVERS is not set");
const redis = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6392");
const connection = { host: redis.hostname, port: Number(redis.port || 6379) };
const ENTITY = { type: "ALBUM", id: "0b9c3a52-5c7e-4d1e-9b6e-1f4a2c3d4e5f" };
const quiet = { warn: () => {}, error: (m) => console.error(m) };

async function newTopic() {
  const topic = `bench-bullmq-${randomUUID()}`;
  const admin = new kafkajs.Kafka({ brokers: BROKERS, logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  await admin.disconnect();
  return topic;
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function workerRun(label, processor) {
  const queue = new Queue(`bench-${randomUUID()}`, { connection });
  await queue.addBulk(Array.from({ length: JOBS }, (_, i) => ({ name: "cover", data: { entity: ENTITY, n: i },
    opts: { removeOnComplete: true } })));
  const samples = [];
  let done;
  const finished = new Promise((resolve) => { done = resolve; });
  const began = performance.now();
  const worker = new Worker(queue.name, async (job, token) => {
    const t0 = performance.now();
    const result = await processor(job, token);
    samples.push((performance.now() - t0) * 1000);
    if (samples.length === JOBS) done();
    return result;
  }, { connection, concurrency: 1 });
  await finished;
  const seconds = (performance.now() - began) / 1000;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  samples.sort((a, b) => a - b);
  const row = { label, jobs: JOBS, median_us: +quantile(samples, 0.5).toFixed(1), p99_us: +quantile(samples, 0.99).toFixed(1),
    jobs_per_s: Math.round(JOBS / seconds) };
  console.log(JSON.stringify(row));
  return row;
}

const trivial = async (job) => ({ n: job.data.n });

async function pathCost() {
  await workerRun("warm-up, bare", trivial);
  const bare = await workerRun("bare processor", trivial);
  const log = new EnrichmentLog({ brokers: BROKERS, topic: await newTopic(), logger: quiet });
  const wrapped = await workerRun("wrapped processor", log.wrap("CACHE_ALBUM_COVER_ART", (job, _token, ctx) => {
    ctx.detail({ urlBefore: "https://coverartarchive.org/1.jpg" });
    return trivial(job);
  }));
  await log.close();
  const stats = log.stats();
  console.log(JSON.stringify({ wrapper_adds_median_us: +(wrapped.median_us - bare.median_us).toFixed(1),
    wrapper_adds_p99_us: +(wrapped.p99_us - bare.p99_us).toFixed(1), ...stats }));
}

async function throughput() {
  const log = new EnrichmentLog({ brokers: BROKERS, topic: await newTopic(), logger: quiet, maxWaitMs: 60_000 });
  const processor = log.wrap("CACHE_ALBUM_COVER_ART", async (job) => job.id);
  await processor({ id: "warm-up", data: { entity: ENTITY }, attemptsMade: 0, opts: {} });
  const began = performance.now();
  for (let i = 0; i < EVENTS / 2; i++) {
    await processor({ id: `job-${i}`, data: { entity: ENTITY, rootJobId: `root-${i % 1000}` }, attemptsMade: 0, opts: {} });
  }
  const accepted = performance.now();
  await log.close();
  const seconds = (performance.now() - began) / 1000;
  const stats = log.stats();
  console.log(JSON.stringify({ events: EVENTS, accepted_s: +((accepted - began) / 1000).toFixed(2), seconds: +seconds.toFixed(2),
    events_per_s: Math.round((stats.published - 2) / seconds), ...stats }));
}

async function ownCall() {
  const log = new EnrichmentLog({ brokers: ["127.0.0.1:1"], maxBufferedEvents: 4 * JOBS * 10, flushTimeoutMs: 10,
    reconnectPauseMs: 60_000, logger: { warn: () => {}, error: () => {} } });
  const processor = log.wrap("CACHE_ALBUM_COVER_ART", trivial);
  const samples = [];
  for (let i = 0; i < JOBS * 10; i++) {
    const t0 = performance.now();
    await processor({ id: `own-${i}`, data: { entity: ENTITY, n: i }, attemptsMade: 0, opts: {} });
    samples.push((performance.now() - t0) * 1000);
  }
  await log.close();
  samples.sort((a, b) => a - b);
  console.log(JSON.stringify({ label: "wrapper's own call, nothing sent", calls: samples.length,
    median_us: +quantile(samples, 0.5).toFixed(1), p99_us: +quantile(samples, 0.99).toFixed(1) }));
}

console.log(JSON.stringify({ node: process.version, jobs: JOBS, events: EVENTS, brokers: BROKERS, redis: redis.href }));
await pathCost();
await throughput();
await ownCall();
