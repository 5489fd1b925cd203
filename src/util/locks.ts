// Async locks for a single-threaded event loop. Waiters are served in arrival order, and
// a waiting exclusive request holds back later shared ones, so writers never starve.

type Waiter = { exclusive: boolean; wake: () => void };

export class RwLock {
  private shared = 0;
  private exclusive = false;
  private readonly queue: Waiter[] = [];

  get idle(): boolean {
    return !this.exclusive && this.shared === 0 && this.queue.length === 0;
  }

  async acquireShared(): Promise<() => void> {
    if (this.exclusive || this.queue.length > 0) {
      await new Promise<void>((wake) => this.queue.push({ exclusive: false, wake }));
    } else this.shared++;
    return once(() => {
      this.shared--;
      this.dispatch();
    });
  }

  async acquireExclusive(): Promise<() => void> {
    if (this.exclusive || this.shared > 0 || this.queue.length > 0) {
      await new Promise<void>((wake) => this.queue.push({ exclusive: true, wake }));
    } else this.exclusive = true;
    return once(() => {
      this.exclusive = false;
      this.dispatch();
    });
  }

  async withShared<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquireShared();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  async withExclusive<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquireExclusive();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.exclusive) {
      const next = this.queue[0];
      if (next.exclusive) {
        if (this.shared > 0) return;
        this.queue.shift();
        this.exclusive = true;
        next.wake();
        return;
      }
      this.queue.shift();
      this.shared++;
      next.wake();
    }
  }
}

/** A plain mutex: an RwLock used only exclusively. */
export class Mutex {
  private readonly lock = new RwLock();

  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.withExclusive(fn);
  }
}

/** One RwLock per key, made on demand and dropped when idle, so memory follows use. */
export class KeyedRwLock {
  private readonly locks = new Map<number, RwLock>();

  async acquire(key: number, exclusive: boolean): Promise<() => void> {
    let lock = this.locks.get(key);
    if (!lock) this.locks.set(key, (lock = new RwLock()));
    const release = exclusive ? await lock.acquireExclusive() : await lock.acquireShared();
    const held = lock;
    return () => {
      release();
      if (held.idle && this.locks.get(key) === held) this.locks.delete(key);
    };
  }

  get size(): number {
    return this.locks.size;
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      fn();
    }
  };
}
