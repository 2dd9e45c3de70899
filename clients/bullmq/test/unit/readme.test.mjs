// The TypeScript examples of the package's README and of the repository's README compile against the
// built package (self-referenced as @enrichlog/bullmq), with the few names they leave to the reader
// declared.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE = fileURLToPath(new URL("../..", import.meta.url));
const READMES = [join(PACKAGE, "README.md"), join(PACKAGE, "..", "..", "README.md")];
const DECLARED = `declare const connection: import("bullmq").ConnectionOptions;
declare function cacheCover(id: string): Promise<{ from: string; to: string; size: number } | null>;
`;

function example(readme, heading) {
  const section = readFileSync(readme, "utf8").split(heading)[1];
  const match = /```ts\n([\s\S]*?)```/.exec(section ?? "");
  assert.ok(match, `${readme}: no ts block under ${heading}`);
  return match[1];
}

test("the README examples type-check (tsc --strict) against the built package", () => {
  const dir = mkdtempSync(join(PACKAGE, ".readme-"));
  try {
    const files = [[READMES[0], "## Example"], [READMES[1], "## From a BullMQ worker"]].map(([readme, heading], i) => {
      const file = join(dir, `example${i}.ts`);
      writeFileSync(file, `${DECLARED}${example(readme, heading)}\nexport {};\n`);
      return file;
    });
    const tsc = join(PACKAGE, "node_modules", "typescript", "bin", "tsc");
    try {
      execFileSync(process.execPath, [tsc, "--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext",
        "--target", "es2022", "--types", "node", "--skipLibCheck", ...files], { cwd: PACKAGE, encoding: "utf8" });
    } catch (err) {
      assert.fail(`tsc refused a README example:\n${err.stdout}${err.stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
