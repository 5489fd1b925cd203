// Group commit: everyone who asks for a commit while one is being written waits for the
// next one, which starts as soon as the current one ends and serves them all. Requests
// made in the same turn of the event loop share one commit.

type Waiter = { resolve: () => void; reject: (e: unknown) => void };

export class GroupCommit {
  private waiters: Waiter[] = [];
  private running = false;
  commits = 0;

  constructor(private readonly commitOnce: () => Promise<void>) {}

  /** Resolves once a commit that started after this call is durable. */
  request(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.waiters.length > 0) {
      const batch = this.waiters;
      this.waiters = [];
      try {
        await this.commitOnce();
        this.commits++;
        for (const w of batch) w.resolve();
      } catch (e) {
        for (const w of batch) w.reject(e);
      }
    }
    this.running = false;
  }
}
