// End to end on real services: BullMQ queues on Redis, Workers whose processors are wrapped by the
// package, FlowProducer trees linked with linkFlow, BullMQ's own retries and backoff. Run by
// tests/e2e/test_bullmq_flow.py, which then reads the projected rows in PostgreSQL.
//
//   REDIS_URL=redis://127.0.0.1:6379 KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 ENRICHLOG_EVENTS_TOPIC=topic \
//     node test/flow/album_flow.mjs [RUN_ID]
//
// The jobs (ids `<run>-<name>`):
//   retried: CHECK_ALBUM_ENRICHMENT <- ENRICH_ALBUM <- CACHE_ALBUM_COVER_ART (fails twice, then succeeds);
//            ENRICH_ALBUM adds SPOTIFY_TRACK_FALLBACK itself (queue.add with childData)
//   partial: the same tree, whose cover-art job throws UnrecoverableError (ignoreDependencyOnFailure:
//            its parent runs on), and its own SPOTIFY_TRACK_FALLBACK
//   no-entity: a CACHE_ARTIST_IMAGE job without entity data: it completes, the log writes no event
//            for it and counts it invalid
// Prints one JSON document ({run, jobs: {name: id}, states: {name: state}, stats}) and exits 0 when
// every job is done and every event was delivered; 1 when not (within the deadline); 2 for a bad
// setting (REDIS_URL, the Kafka variables, a topic that does not exist), with one line saying which.
import { connect } from "node:net";
import { FlowProducer, Queue, UnrecoverableError, Worker } from "bullmq";
import { Kafka, logLevel } from "kafkajs";
import { EnrichmentLog, childData, linkFlow } from "../../dist/index.js";

const DEADLINE_MS = 60_000;
const ALBUM = { type: "ALBUM", id: "0b9c3a52-5c7e-4d1e-9b6e-1f4a2c3d4e5f", artistId: "6f1d2c3b-4a59-4e8d-8c7b-6a5f4e3d2c1b",
  albumId: "0b9c3a52-5c7e-4d1e-9b6e-1f4a2c3d4e5f" };
const RETRIES = { attempts: 3, backoff: { type: "fixed", delay: 20 } };
const JOB_TYPES = ["CHECK_ALBUM_ENRICHMENT", "ENRICH_ALBUM", "CACHE_ALBUM_COVER_ART", "SPOTIFY_TRACK_FALLBACK",
  "CACHE_ARTIST_IMAGE"];

function fail(status, message) {
  console.error(`album_flow: ${message}`);
  process.exit(status);
}

/** host/port/db/password of REDIS_URL; exits 2 naming it when it is not a redis:// URL. */
function redisOptions(text) {
  let url;
  try {
    url = new URL(text ?? "");
  } catch {
    fail(2, `REDIS_URL ${JSON.stringify(text ?? "")} is not a URL: give redis://host:port[/db]`);
  }
  if (url.protocol !== "redis:" || !url.hostname) fail(2, `REDIS_URL ${JSON.stringify(text)} is not redis://host:port[/db]`);
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) fail(2, `REDIS_URL ${JSON.stringify(text)}: the database ${url.pathname.slice(1)} is not a number`);
  return { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 6379), db,
    ...(url.password && { password: decodeURIComponent(url.password) }), maxRetriesPerRequest: null };
}

/** Resolves when Redis answers PING within a few seconds; exits 2 naming REDIS_URL when not. */
function ping({ host, port }) {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 3000 });
    const refuse = (why) => {
      socket.destroy();
      fail(2, `cannot reach Redis at REDIS_URL=${process.env.REDIS_URL}: ${why}`);
    };
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (data) => {
      socket.destroy();
      if (data.toString().startsWith("+PONG")) resolve();
      else refuse(`it answered PING with ${JSON.stringify(data.toString().trim())}`);
    });
    socket.on("timeout", () => refuse("no answer within 3s"));
    socket.on("error", (err) => refuse(err.message));
  });
}

/** Exits 2 when the topic does not exist: the package never creates it, its events would be lost. */
async function topicExists(log) {
  const kafka = new Kafka({ brokers: process.env.KAFKA_BOOTSTRAP_SERVERS.split(","), logLevel: logLevel.NOTHING,
    retry: { retries: 2 } });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const topics = await admin.listTopics();
    if (!topics.includes(log.topic)) {
      fail(2, `topic ${log.topic} (ENRICHLOG_EVENTS_TOPIC) does not exist on ${process.env.KAFKA_BOOTSTRAP_SERVERS}: ` +
        "create it first (the projector does when it starts)");
    }
  } catch (err) {
    fail(2, `cannot reach Kafka at KAFKA_BOOTSTRAP_SERVERS=${process.env.KAFKA_BOOTSTRAP_SERVERS}: ${err.message}`);
  } finally {
    await admin.disconnect();
  }
}

const connection = redisOptions(process.env.REDIS_URL);
await ping(connection);
const warnings = [];
const logger = { warn: (m) => { warnings.push(m); console.error(m); }, error: (m) => { warnings.push(m); console.error(m); } };
let log;
try {
  log = EnrichmentLog.fromEnv(process.env, { flushTimeoutMs: 10_000, logger });
} catch (err) {
  fail(2, err.message);
}
await topicExists(log);

const run = process.argv[2] ?? `flow${Date.now().toString(36)}`;
const prefix = `enrichlog-${run}`;
const queues = Object.fromEntries(JOB_TYPES.map((type) => [type, new Queue(type, { connection, prefix })]));
const id = (name) => `${run}-${name}`;

const processors = {
  CHECK_ALBUM_ENRICHMENT: async (job, _token, ctx) => {
    ctx.detail({ needsEnrichment: true, missingFields: ["coverArt", "genres"], jobsSpawned: 1 });
    return "checked";
  },
  ENRICH_ALBUM: async (job, _token, ctx) => {
    const spotify = `${job.id.replace(/-enrich$/, "")}-spotify`;
    await queues.SPOTIFY_TRACK_FALLBACK.add("SPOTIFY_TRACK_FALLBACK", childData(job, { entity: job.data.entity }),
      { jobId: spotify, ...RETRIES });
    ctx.detail({ sources: ["MUSICBRAINZ", "SPOTIFY"], fieldsEnriched: ["releaseDate", "label"], dataQualityBefore: "LOW",
      dataQualityAfter: "MEDIUM", apiCallCount: 3, musicbrainzIds: ["f27ec8db-af05-4f36-916e-3d57f91ecf5e"] });
    ctx.apiCalls(3);
    ctx.outcome("PARTIAL_SUCCESS");
    return "enriched";
  },
  CACHE_ALBUM_COVER_ART: async (job, _token, ctx) => {
    ctx.detail({ sourceUrl: "https://coverartarchive.org/release/1/front.jpg", urlBefore: "https://coverartarchive.org/release/1/front.jpg" });
    if (job.data.unrecoverable) {
      throw Object.assign(new UnrecoverableError("source image returned 404"), { code: "IMAGE_FETCH_FAILED", kind: "NOT_FOUND" });
    }
    if (job.attemptsMade < job.data.failTimes) {
      throw Object.assign(new Error(`429 Too Many Requests (attempt ${job.attemptsMade + 1})`), { code: "HTTP_429", kind: "RATE_LIMIT" });
    }
    ctx.detail({ sourceUrl: "https://coverartarchive.org/release/1/front.jpg", cloudflareImageId: "cf-7f3a2b", fileSizeBytes: 482133,
      format: "jpeg", dimensions: { width: 1200, height: 1200 }, urlAfter: "https://imagedelivery.net/acct/cf-7f3a2b/public" });
    ctx.apiCalls(1);
    return "cached";
  },
  SPOTIFY_TRACK_FALLBACK: async (job, _token, ctx) => {
    ctx.detail({ tracksLookedUp: 12, tracksMatched: 11, spotifyIds: ["4uLU6hMCjMI75M1A2tKUQC"] });
    return "matched";
  },
  CACHE_ARTIST_IMAGE: async (_job, _token, ctx) => {
    ctx.outcome("SKIPPED");
    return "skipped";
  },
};
const workers = JOB_TYPES.map((type) => new Worker(type, log.wrap(type, processors[type]), { connection, prefix, concurrency: 2 }));
for (const worker of workers) worker.on("error", (err) => console.error(`album_flow: worker ${worker.name}: ${err.message}`));

/** The album tree of `chain`; its cover-art job as `cover` says. */
function albumTree(chain, cover) {
  return linkFlow({
    name: "CHECK_ALBUM_ENRICHMENT", queueName: "CHECK_ALBUM_ENRICHMENT", prefix,
    data: { entity: ALBUM, triggeredBy: "admin", reason: `e2e: ${chain}` }, opts: { jobId: id(`${chain}-check`), ...RETRIES },
    children: [{
      name: "ENRICH_ALBUM", queueName: "ENRICH_ALBUM", prefix, data: { entity: ALBUM }, opts: { jobId: id(`${chain}-enrich`), ...RETRIES },
      children: [{ name: "CACHE_ALBUM_COVER_ART", queueName: "CACHE_ALBUM_COVER_ART", prefix, data: { entity: ALBUM, ...cover },
        opts: { jobId: id(`${chain}-cover`), ...RETRIES, ignoreDependencyOnFailure: true } }],
    }],
  });
}

const flows = new FlowProducer({ connection, prefix });
await flows.add(albumTree("retried", { failTimes: 2 }));
await flows.add(albumTree("partial", { unrecoverable: true }));
await queues.CACHE_ARTIST_IMAGE.add("CACHE_ARTIST_IMAGE", { note: "no entity" }, { jobId: id("no-entity") });

const names = ["retried-check", "retried-enrich", "retried-cover", "retried-spotify",
  "partial-check", "partial-enrich", "partial-cover", "partial-spotify", "no-entity"];
const typeOf = (name) => name === "no-entity" ? "CACHE_ARTIST_IMAGE"
  : { check: "CHECK_ALBUM_ENRICHMENT", enrich: "ENRICH_ALBUM", cover: "CACHE_ALBUM_COVER_ART", spotify: "SPOTIFY_TRACK_FALLBACK" }[name.split("-")[1]];

async function states() {
  const out = {};
  for (const name of names) {
    const job = await queues[typeOf(name)].getJob(id(name));
    out[name] = job ? await job.getState() : "missing";
  }
  return out;
}

const began = Date.now();
let seen = await states();
while (!Object.values(seen).every((s) => s === "completed" || s === "failed")) {
  if (Date.now() - began > DEADLINE_MS) break;
  await new Promise((resolve) => setTimeout(resolve, 100));
  seen = await states();
}
await Promise.all(workers.map((w) => w.close()));
await log.close();
await flows.close();
for (const queue of Object.values(queues)) {
  await queue.obliterate({ force: true });
  await queue.close();
}
const stats = log.stats();
console.log(JSON.stringify({ run, jobs: Object.fromEntries(names.map((n) => [n, id(n)])), states: seen, stats, warnings }));
const done = Object.values(seen).every((s) => s === "completed" || s === "failed");
if (!done) fail(1, `not every job was done within ${DEADLINE_MS / 1000}s: ${JSON.stringify(seen)}`);
if (stats.failed || stats.dropped || stats.buffered) fail(1, `events not delivered: ${JSON.stringify(stats)}`);
