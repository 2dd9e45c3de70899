// Validates every test vector with ajv (JSON Schema 2020-12, default strict mode, ajv-formats) and
// prints one JSON document: {"ajv": version, "results": [{"name", "check", "errors"}]}, where
// check is null (accepted), "json" (refused by the JSON text rules) or "json-schema".
//
//   node validate.mjs <schemas/jsonschema dir> <schemas/vectors/events.json>
//
// Exits 2 when a schema does not compile or ajv warns (strict mode's warnings count as failures).
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const require = createRequire(import.meta.url);
const [schemaDir, vectorsFile] = process.argv.slice(2);
if (!schemaDir || !vectorsFile) {
  console.error("usage: node validate.mjs <schema dir> <vectors file>");
  process.exit(64);
}

const warnings = [];
const logger = { log: () => {}, warn: (...args) => warnings.push(args.join(" ")), error: (...args) => warnings.push(args.join(" ")) };
const ajv = new Ajv2020({ logger, allErrors: true });
addFormats(ajv);

const validators = {};
try {
  for (const file of readdirSync(schemaDir).filter((f) => f.endsWith(".schema.json")).sort()) {
    const schema = JSON.parse(readFileSync(join(schemaDir, file), "utf8"));
    validators[file.replace(/\.schema\.json$/, "")] = ajv.compile(schema);
  }
} catch (err) {
  console.error(`ajv refused a schema: ${err.message}`);
  process.exit(2);
}
if (warnings.length) {
  console.error(`ajv warned (strict mode):\n${warnings.join("\n")}`);
  process.exit(2);
}

const doc = JSON.parse(readFileSync(vectorsFile, "utf8"));
const maxDepth = doc.maxDepth;
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }); // keep a BOM: it is refused below

function bytesOf(vector) {
  if ("rawBase64" in vector) return Buffer.from(vector.rawBase64, "base64");
  if ("raw" in vector) return Buffer.from(vector.raw, "utf8");
  return Buffer.from(JSON.stringify(vector.event), "utf8");
}

const LONE_SURROGATE = /[\uD800-\uDFFF]/u; // with the u flag, a pair is one code point and does not match

function walk(value, depth) {
  if (depth > maxDepth) throw new Error(`nested deeper than ${maxDepth} levels`);
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) throw new Error("a lone surrogate");
  } else if (Array.isArray(value)) {
    for (const item of value) walk(item, depth + 1);
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      walk(key, depth);
      walk(item, depth + 1);
    }
  }
}

// The JSON text rules, before any schema: UTF-8 without BOM, RFC 8259 syntax (JSON.parse already
// refuses NaN and Infinity), no lone surrogate escape, at most maxDepth levels.
function jsonValue(bytes) {
  const text = decoder.decode(bytes);
  if (text.startsWith("\uFEFF")) throw new Error("a byte order mark");
  const value = JSON.parse(text);
  walk(value, 1);
  return value;
}

const results = [];
for (const vector of doc.vectors) {
  let value;
  try {
    value = jsonValue(bytesOf(vector));
  } catch (err) {
    results.push({ name: vector.name, check: "json", errors: [String(err.message)] });
    continue;
  }
  const union = validators["job-event"];
  const errors = union(value) ? [] : union.errors.map((e) => `${e.instancePath} ${e.message}`);
  const kind = value && typeof value === "object" ? value.kind : undefined;
  if (typeof kind === "string" && validators[kind]) {
    const own = validators[kind](value);
    if (own !== (errors.length === 0)) {
      results.push({ name: vector.name, check: "disagree", errors: [`union ${JSON.stringify(errors)}, ${kind} file ${own}`] });
      continue;
    }
  }
  results.push({ name: vector.name, check: errors.length ? "json-schema" : null, errors });
}
process.stdout.write(JSON.stringify({ ajv: require("ajv/package.json").version, results }) + "\n");
