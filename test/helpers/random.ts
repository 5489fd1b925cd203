// A small seeded PRNG (mulberry32), so every random test names its seed and replays it.
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(n: number): Buffer {
    const buf = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) buf[i] = this.int(256);
    return buf;
  }
}

/** Seeds to run: SEED=n replays one; otherwise `count` seeds from `base`. */
export function seeds(count: number, base = 1): number[] {
  if (process.env.SEED) return [Number(process.env.SEED)];
  const n = Number(process.env.SEEDS ?? count);
  return Array.from({ length: n }, (_, i) => base + i);
}
