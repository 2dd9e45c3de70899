/** What a wrapped processor tells the log about its attempt: `ctx.detail`, `ctx.outcome`, `ctx.apiCalls`. */
import type { DetailByJobType, JobFinished, JobType, Outcome } from "./generated/events.js";
import { DETAIL_PROCESSOR } from "./generated/events.js";
import type { Report } from "./events.js";
import { childData, type LinkedJob } from "./linking.js";
import type { Logger } from "./publisher.js";

const OUTCOMES = new Set<string>(["SUCCESS", "PARTIAL_SUCCESS", "COMPLETED", "NO_DATA_AVAILABLE", "SKIPPED", "PREVIEW"]);
const MAX_COUNT = 2147483647;

/** The detail of job type `J`; `processor` may be left out (it is the one that fits `J`). */
export type DetailInput<J extends JobType> =
  Omit<DetailByJobType[J], "processor"> & { processor?: DetailByJobType[J]["processor"] };

export class JobContext<J extends JobType> {
  private report: Report = { outcome: "SUCCESS" };

  constructor(readonly jobType: J, private readonly job: LinkedJob, private readonly logger: Logger,
              /** BullMQ's abort signal of the attempt, when the worker passes one. */
              readonly signal?: AbortSignal) {}

  /** The per-processor detail of this attempt (replaces an earlier one); sent with its end event. */
  detail(detail: DetailInput<J>): void {
    this.report.detail = { ...detail, processor: DETAIL_PROCESSOR[this.jobType] } as JobFinished["detail"];
  }

  /** The outcome of a successful end (default SUCCESS). */
  outcome(outcome: Outcome): void {
    if (OUTCOMES.has(outcome)) this.report.outcome = outcome;
    else this.logger.warn(`enrichlog: outcome ${JSON.stringify(outcome)} is not one of ${[...OUTCOMES].join(", ")}: ignored`);
  }

  /** Adds `count` (default 1) to the attempt's API calls (`apiCallCount` of job.finished). */
  apiCalls(count = 1): void {
    if (!Number.isInteger(count) || count < 0) {
      this.logger.warn(`enrichlog: apiCalls(${count}): a count is an integer >= 0: ignored`);
      return;
    }
    this.report.apiCallCount = Math.min(MAX_COUNT, (this.report.apiCallCount ?? 0) + count);
  }

  /** The data of a child this job adds with `queue.add`: `childData(job, data)`. */
  child<T extends object>(data: T): T & { rootJobId: string } {
    return childData(this.job, data);
  }

  /** What was reported so far. */
  get reported(): Report {
    return this.report;
  }
}
