import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { generate, OUTPUT_FILE } from "../../scripts/gen-types.mjs";

test("src/generated/events.ts is what `npm run gen` makes from the JSON Schema (run it when this fails)", async () => {
  assert.equal(readFileSync(OUTPUT_FILE, "utf8"), await generate());
});

test("the generated map gives each job type its detail family and SPOTIFY_TRACK_FALLBACK is always a child", async () => {
  const { DETAIL_PROCESSOR, ALWAYS_CHILD } = await import("../../dist/index.js");
  assert.equal(DETAIL_PROCESSOR.CACHE_ARTIST_IMAGE, "CACHE_IMAGE");
  assert.equal(DETAIL_PROCESSOR.ENRICH_TRACK, "ENRICHMENT");
  assert.equal(DETAIL_PROCESSOR.CHECK_ALBUM_ENRICHMENT, "ENRICHMENT_CHECK");
  assert.equal(Object.keys(DETAIL_PROCESSOR).length, 11);
  assert.deepEqual(ALWAYS_CHILD, ["SPOTIFY_TRACK_FALLBACK"]);
});
