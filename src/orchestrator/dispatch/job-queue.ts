/** The bounded FIFO of jobs waiting for a worker: a ring buffer, so enqueue and dequeue are O(1). */
import type { Job } from "./job.js";

export class JobQueue {
  private readonly slots: (Job | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.slots = new Array<Job | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count === this.capacity;
  }

  /** Returns false (and keeps nothing) when the queue is full. */
  push(job: Job): boolean {
    if (this.count === this.capacity) return false;
    this.slots[(this.head + this.count) % this.capacity] = job;
    this.count++;
    return true;
  }

  /** Puts a job back at the head (it is the oldest); false when the queue is full. */
  unshift(job: Job): boolean {
    if (this.count === this.capacity) return false;
    this.head = (this.head + this.capacity - 1) % this.capacity;
    this.slots[this.head] = job;
    this.count++;
    return true;
  }

  /** The oldest job, left in place. */
  peek(): Job | undefined {
    return this.count === 0 ? undefined : this.slots[this.head];
  }

  shift(): Job | undefined {
    if (this.count === 0) return undefined;
    const job = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return job;
  }

  /** The newest job, left in place. */
  peekLast(): Job | undefined {
    return this.count === 0 ? undefined : this.slots[(this.head + this.count - 1) % this.capacity];
  }

  /** Takes the newest job. */
  pop(): Job | undefined {
    if (this.count === 0) return undefined;
    const i = (this.head + this.count - 1) % this.capacity;
    const job = this.slots[i];
    this.slots[i] = undefined;
    this.count--;
    return job;
  }

  /** Empties the queue, returning the jobs in order. */
  drain(): Job[] {
    const jobs: Job[] = [];
    for (let job = this.shift(); job; job = this.shift()) jobs.push(job);
    return jobs;
  }
}
