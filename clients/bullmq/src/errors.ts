/** A setting (an option or an environment variable) that cannot work; the message names it. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** A call that cannot link a job (a parent without an id, a flow tree without a name). */
export class LinkError extends Error {
  override name = "LinkError";
}
