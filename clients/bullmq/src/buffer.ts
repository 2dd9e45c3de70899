/**
 * The bounded in-memory buffer between the processors and the Kafka producer: no Kafka in here.
 *
 * `offer` never throws and never waits long: with room, the event is taken at once (no promise);
 * full, the caller waits at most `maxWaitMs` for room, then the event is dropped. While an overflow
 * lasts (from a drop until the buffer has drained to half), later events are dropped without
 * waiting, so an outage costs each job one bounded wait at most, not one per event.
 */

export interface Message {
  key: string;
  value: string;
  jobId: string;
}

export class BoundedBuffer {
  private items: Message[] = [];
  private waiters: Array<() => void> = [];
  private overflowing = false;
  private closed = false;
  dropped = 0;

  /** Told of each dropped event (the log reports them). */
  onDrop: (message: Message, why: string) => void = () => {};

  constructor(readonly maxEvents: number, readonly maxWaitMs: number) {}

  get length(): number {
    return this.items.length;
  }

  /** True when taken; a promise of whether it was taken when the buffer was full. */
  offer(message: Message): boolean | Promise<boolean> {
    return this.offerUntil(message, performance.now() + this.maxWaitMs);
  }

  private offerUntil(message: Message, deadline: number): boolean | Promise<boolean> {
    if (this.closed) return this.drop(message, "the log is closed");
    if (this.items.length < this.maxEvents) {
      this.items.push(message);
      this.wake?.();
      return true;
    }
    const left = deadline - performance.now();
    if (this.overflowing || left <= 0) return this.drop(message, `buffer full for ${this.maxWaitMs} ms`);
    return new Promise<boolean>((resolve) => {
      const waiter = () => {
        clearTimeout(timer);
        resolve(this.offerUntil(message, deadline)); // room again, unless another caller took it first
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        this.overflowing = true;
        resolve(this.drop(message, `buffer full for ${this.maxWaitMs} ms`));
      }, left);
      this.waiters.push(waiter);
    });
  }

  /** Called when an event arrives in an empty buffer (the sender waits on it). */
  wake: (() => void) | undefined;

  /** Takes up to `max` events, oldest first, and lets waiting callers in. */
  take(max: number): Message[] {
    let batch: Message[];
    if (this.items.length <= max) {
      batch = this.items;
      this.items = [];
    } else {
      batch = this.items.splice(0, max);
    }
    if (this.overflowing && this.items.length <= this.maxEvents / 2) this.overflowing = false;
    const room = this.maxEvents - this.items.length;
    for (const waiter of this.waiters.splice(0, room)) waiter();
    return batch;
  }

  /** Puts a batch the broker did not take back in front, oldest first, to be sent again. The
   * buffer may hold up to one batch more than `maxEvents` until it drains: new offers wait meanwhile. */
  requeue(batch: Message[]): void {
    this.items = batch.concat(this.items);
  }

  /** Refuses every later offer (counted dropped) and lets waiting callers go (dropped too). */
  close(): void {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private drop(message: Message, why: string): false {
    this.dropped += 1;
    this.onDrop(message, why);
    return false;
  }
}
