// The contract's JSON Schema compiled with ajv (2020-12, strict mode, ajv-formats), for the tests.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const file = fileURLToPath(new URL("../../../schemas/jsonschema/job-event.schema.json", import.meta.url));
const ajv = new Ajv2020({ allErrors: true });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(file, "utf8")));

/** The schema's errors for `value` ([] when valid). */
export function schemaErrors(value) {
  return validate(value) ? [] : validate.errors.map((e) => `${e.instancePath} ${e.message}`);
}

export const ENTITY = { type: "ALBUM", id: "0b9c3a52-5c7e-4d1e-9b6e-1f4a2c3d4e5f" };
