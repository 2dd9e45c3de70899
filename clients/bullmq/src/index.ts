/** @enrichlog/bullmq: BullMQ job events for the enrichment log (docs/events.md). */
export { EnrichmentLog } from "./log.js";
export type { EnrichmentLogOptions, LoggedProcessor, Processor, Stats, WrapOptions } from "./log.js";
export { JobContext } from "./context.js";
export type { DetailInput } from "./context.js";
export { childData, linkFlow, linkOf } from "./linking.js";
export type { FlowNode, Link, LinkedJob } from "./linking.js";
export { attemptOf, errorOf, EventClock, isControlFlow, isPermanent, maxAttemptsOf } from "./events.js";
export type { Classify, Envelope, Report } from "./events.js";
export { BoundedBuffer } from "./buffer.js";
export type { Message } from "./buffer.js";
export { envelopeOf } from "./envelope.js";
export type { EnvelopeOptions, JobField } from "./envelope.js";
export { kafkaSettingsFromEnv, DEFAULT_TOPIC } from "./env.js";
export type { KafkaSettings } from "./env.js";
export { ConfigError, LinkError } from "./errors.js";
export { recordRefusal } from "./publisher.js";
export type { Logger } from "./publisher.js";
export * from "./generated/events.js";
