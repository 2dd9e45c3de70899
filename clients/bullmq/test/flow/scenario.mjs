// Plays the job scenarios of schemas/vectors/scenarios.json with @enrichlog/bullmq: each job is a plain
// object with what a BullMQ job gives a processor (id, data, opts.attempts, attemptsMade), and each
// attempt calls the wrapped processor once, which returns or throws as the scenario says (an Error
// with `code` and `kind`; BullMQ's UnrecoverableError for "unrecoverable"). An attempt's processor
// waits, between its start and its end, until the scenario's order reaches its end, so that the
// events go out in that order. tests/contract/test_scenarios_agree.py compares what the projector
// makes of them with what it makes of the Python producer's (tests/contract/scenario_python.py).
//
//   KAFKA_BOOTSTRAP_SERVERS=... ENRICHLOG_EVENTS_TOPIC=... node test/flow/scenario.mjs SCENARIOS_FILE RUN_ID
//
// Job `name` of scenario `s` gets the id `<RUN_ID>-<s>-<name>`. Prints {run, sent, stats} and exits 0
// when the broker acknowledged every event; 1 when not; 2 for bad arguments or settings.
import { readFileSync } from "node:fs";
import { UnrecoverableError } from "bullmq";
import { EnrichmentLog, childData } from "../../dist/index.js";

function fail(status, message) {
  console.error(`scenario: ${message}`);
  process.exit(status);
}

const [file, run] = process.argv.slice(2);
if (!file || !run) fail(2, "usage: node scenario.mjs SCENARIOS_FILE RUN_ID");
let scenarios;
try {
  scenarios = JSON.parse(readFileSync(file, "utf8")).scenarios;
} catch (err) {
  fail(2, `cannot read the scenarios of ${file}: ${err.message}`);
}
let log;
try {
  log = EnrichmentLog.fromEnv(process.env, { flushTimeoutMs: 10_000 });
} catch (err) {
  fail(2, err.message);
}

/** The error an attempt throws. */
function errorOf(attempt) {
  const { message, code, kind } = attempt.error;
  const err = attempt.ends === "unrecoverable" ? new UnrecoverableError(message) : new Error(message);
  return Object.assign(err, code !== undefined && { code }, kind !== undefined && { kind });
}

/** The wrapped processor of a job type: it waits for its attempt's end, then does what the attempt says. */
const wrapped = new Map();
function processorOf(jobType) {
  if (!wrapped.has(jobType)) {
    wrapped.set(jobType, log.wrap(jobType, async (job, _token, ctx) => {
      const attempt = await job.end;
      if (attempt.detail) ctx.detail(attempt.detail);
      if (attempt.ends !== "success") throw errorOf(attempt);
      if (attempt.outcome) ctx.outcome(attempt.outcome);
      if (attempt.apiCalls !== undefined) ctx.apiCalls(attempt.apiCalls);
      return attempt.outcome ?? "SUCCESS";
    }));
  }
  return wrapped.get(jobType);
}

let sent = 0;
for (const scenario of scenarios) {
  const jobs = new Map();
  for (const spec of scenario.jobs) {
    const own = { entity: spec.entity };
    for (const key of ["triggeredBy", "userId", "reason"]) if (spec[key] !== undefined) own[key] = spec[key];
    const id = `${run}-${scenario.name}-${spec.name}`;
    const data = spec.parent === null ? own : childData(jobs.get(spec.parent).job, own);
    jobs.set(spec.name, { spec, job: { id, data, opts: { attempts: spec.maxAttempts } } });
  }
  const running = new Map();
  for (const [name, number, step] of scenario.order) {
    const { spec, job } = jobs.get(name);
    const key = `${name}#${number}`;
    if (step === "start") {
      let end;
      const attemptJob = { ...job, attemptsMade: number - 1, end: new Promise((resolve) => { end = resolve; }) };
      const result = processorOf(spec.jobType)(attemptJob).then(() => undefined, (err) => err);
      running.set(key, { end, result });
    } else {
      const { end, result } = running.get(key);
      running.delete(key);
      const attempt = spec.attempts[number - 1];
      end(attempt);
      const thrown = await result;
      if ((thrown === undefined) !== (attempt.ends === "success")) {
        fail(1, `${scenario.name}/${name} attempt ${number}: the wrapped processor ${thrown ? `threw ${thrown}` : "returned"}`);
      }
    }
    sent += 1;
  }
}
await log.close();
const stats = log.stats();
console.log(JSON.stringify({ run, sent, stats }));
if (stats.published !== sent || stats.failed || stats.dropped || stats.invalid) fail(1, `not every event was delivered: ${JSON.stringify(stats)}`);
