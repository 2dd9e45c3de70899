import { test } from "node:test";
import assert from "node:assert/strict";
import { BoundedBuffer, recordRefusal } from "../../dist/index.js";

const msg = (n) => ({ key: "r", value: String(n), jobId: `j${n}` });

test("with room an event is taken at once (no promise); take returns them oldest first", () => {
  const buffer = new BoundedBuffer(3, 10);
  assert.equal(buffer.offer(msg(1)), true);
  assert.equal(buffer.offer(msg(2)), true);
  assert.deepEqual(buffer.take(10).map((m) => m.value), ["1", "2"]);
  assert.equal(buffer.length, 0);
});

test("full: the caller waits at most maxWaitMs, then the event is dropped, counted and reported", async () => {
  const buffer = new BoundedBuffer(2, 30);
  const drops = [];
  buffer.onDrop = (m, why) => drops.push([m.jobId, why]);
  buffer.offer(msg(1));
  buffer.offer(msg(2));
  const began = performance.now();
  const taken = buffer.offer(msg(3));
  assert.ok(taken instanceof Promise);
  assert.equal(await taken, false);
  const waited = performance.now() - began;
  assert.ok(waited >= 25 && waited < 500, `waited ${waited} ms`);
  assert.equal(buffer.dropped, 1);
  assert.deepEqual(drops, [["j3", "buffer full for 30 ms"]]);
  assert.equal(buffer.length, 2, "the bound holds");
});

test("while an overflow lasts later events are dropped without waiting, until the buffer drained to half", async () => {
  const buffer = new BoundedBuffer(4, 20);
  for (let i = 0; i < 4; i++) buffer.offer(msg(i));
  assert.equal(await buffer.offer(msg(4)), false);
  assert.equal(buffer.offer(msg(5)), false, "dropped at once");
  buffer.take(1);
  assert.equal(buffer.offer(msg(6)), true, "room again");
  assert.equal(buffer.offer(msg(7)), false, "still overflowing: 4 of 4");
  buffer.take(2);
  assert.equal(buffer.offer(msg(8)), true);
  assert.equal(buffer.dropped, 3);
});

test("a waiting caller gets in when the sender takes events", async () => {
  const buffer = new BoundedBuffer(1, 1000);
  buffer.offer(msg(1));
  const taken = buffer.offer(msg(2));
  setTimeout(() => buffer.take(1), 5);
  assert.equal(await taken, true);
  assert.deepEqual(buffer.take(5).map((m) => m.value), ["2"]);
  assert.equal(buffer.dropped, 0);
});

test("maxWaitMs 0 drops at once when full; a closed buffer drops everything, waiters included", async () => {
  const now = new BoundedBuffer(1, 0);
  now.offer(msg(1));
  assert.equal(now.offer(msg(2)), false);
  assert.equal(now.dropped, 1);
  const closing = new BoundedBuffer(1, 1000);
  closing.offer(msg(1));
  const waiting = closing.offer(msg(2));
  closing.close();
  assert.equal(await waiting, false);
  assert.equal(closing.offer(msg(3)), false);
  assert.equal(closing.dropped, 2);
});

test("room for one wakes one waiter, oldest first; the other is dropped at its own deadline", async () => {
  const buffer = new BoundedBuffer(1, 60);
  buffer.offer(msg(1));
  const began = performance.now();
  const first = buffer.offer(msg(2));
  const second = buffer.offer(msg(3));
  setTimeout(() => buffer.take(1), 20);
  assert.deepEqual(await Promise.all([first, second]), [true, false]);
  const waited = performance.now() - began;
  assert.ok(waited >= 55 && waited < 400, `waited ${waited} ms`);
  assert.deepEqual(buffer.take(5).map((m) => m.value), ["2"]);
});

test("requeue puts a batch the broker did not take back in front, oldest first; new offers wait while over the bound", async () => {
  const buffer = new BoundedBuffer(3, 10);
  [1, 2, 3].forEach((n) => buffer.offer(msg(n)));
  const batch = buffer.take(2);
  buffer.offer(msg(4));
  buffer.requeue(batch);
  assert.equal(buffer.length, 4);
  assert.equal(await buffer.offer(msg(5)), false, "over the bound: the offer waits maxWaitMs, then drops");
  assert.deepEqual(buffer.take(10).map((m) => m.value), ["1", "2", "3", "4"]);
});

test("recordRefusal: the broker refusing the records (in the error or its causes) is told apart from an outage", () => {
  const tooLarge = Object.assign(new Error("The request included a message larger than the max message size"),
    { type: "MESSAGE_TOO_LARGE" });
  assert.equal(recordRefusal(tooLarge), "MESSAGE_TOO_LARGE");
  assert.equal(recordRefusal(new Error("retries exceeded", { cause: tooLarge })), "MESSAGE_TOO_LARGE");
  const missing = Object.assign(new Error("This server does not host this topic-partition"),
    { type: "UNKNOWN_TOPIC_OR_PARTITION" });
  assert.equal(recordRefusal(new Error("retries exceeded", { cause: missing })), undefined);
  assert.equal(recordRefusal(new Error("Connection error: ECONNREFUSED")), undefined);
  assert.equal(recordRefusal("not an error"), undefined);
});
