import { test } from "node:test";
import assert from "node:assert/strict";
import { childData, linkFlow, linkOf, LinkError } from "../../dist/index.js";

test("childData: a root's child carries the root's id; a grandchild the same root, at any depth", () => {
  const root = { id: "q-1", data: { entity: 1 } };
  const child = { id: "q-2", data: childData(root, { a: 1 }) };
  assert.deepEqual(child.data, { a: 1, rootJobId: "q-1", parentJobId: "q-1" });
  const grandchild = { id: "q-3", data: childData(child, { b: 2 }) };
  assert.deepEqual(grandchild.data, { b: 2, rootJobId: "q-1", parentJobId: "q-1" });
  assert.deepEqual(childData({ id: "q-4", data: childData(grandchild, {}) }, {}), { rootJobId: "q-1", parentJobId: "q-1" });
});

test("childData refuses a parent without an id", () => {
  assert.throws(() => childData({ data: {} }, {}), LinkError);
});

test("linkOf: root, flat child, own id as root, and a BullMQ parent without rootJobId (guessed, said why)", () => {
  assert.deepEqual(linkOf({ id: "r", data: {} }), { rootJobId: "r" });
  assert.deepEqual(linkOf({ id: "r", data: null }), { rootJobId: "r" });
  assert.deepEqual(linkOf({ id: "c", data: { rootJobId: "r" }, parent: { id: "p" } }), { rootJobId: "r", parentJobId: "r" });
  assert.deepEqual(linkOf({ id: "r", data: { rootJobId: "r" } }), { rootJobId: "r" });
  const guessed = linkOf({ id: "c", data: {}, parent: { id: "p", queueKey: "bull:q" } });
  assert.equal(guessed.rootJobId, "p");
  assert.equal(guessed.parentJobId, "p");
  assert.match(guessed.guessed, /BullMQ parent \(p\) but no rootJobId/);
});

test("linkFlow: the top job gets a uuid jobId when it has none, every descendant its id as rootJobId", () => {
  const tree = {
    name: "check", queueName: "check", data: { x: 1 },
    children: [
      { name: "enrich", queueName: "enrich", data: { y: 2 }, children: [{ name: "cover", queueName: "cover" }] },
      { name: "artist", queueName: "artist", opts: { attempts: 3 } },
    ],
  };
  const linked = linkFlow(tree);
  const id = linked.opts.jobId;
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(linked.data, { x: 1 });
  assert.deepEqual(linked.children[0].data, { y: 2, rootJobId: id, parentJobId: id });
  assert.deepEqual(linked.children[0].children[0], { name: "cover", queueName: "cover", data: { rootJobId: id, parentJobId: id } });
  assert.deepEqual(linked.children[1], { name: "artist", queueName: "artist", opts: { attempts: 3 }, data: { rootJobId: id, parentJobId: id } });
  assert.equal(tree.opts, undefined, "the input tree is not changed");
  assert.equal(tree.children[0].data.rootJobId, undefined);
});

test("linkFlow keeps a given jobId, and a top job that is itself a child passes its root on", () => {
  assert.equal(linkFlow({ name: "a", queueName: "q", opts: { jobId: "mine" }, children: [{ name: "b", queueName: "q" }] })
    .children[0].data.rootJobId, "mine");
  const nested = linkFlow({ name: "a", queueName: "q", data: { rootJobId: "outer" }, children: [{ name: "b", queueName: "q" }] });
  assert.equal(nested.children[0].data.rootJobId, "outer");
  assert.throws(() => linkFlow({ name: "a" }), LinkError);
});

test("the payload of a child the Python producer spawned (both keys) links the same; parentJobId alone names the root", () => {
  assert.deepEqual(linkOf({ id: "c", data: { rootJobId: "r", parentJobId: "r", x: 1 } }), { rootJobId: "r", parentJobId: "r" });
  assert.deepEqual(linkOf({ id: "c", data: { parentJobId: "r" } }), { rootJobId: "r", parentJobId: "r" });
  const fromPython = { id: "c", data: { rootJobId: "r", parentJobId: "r" } };
  assert.deepEqual(childData(fromPython, {}), { rootJobId: "r", parentJobId: "r" });
});
