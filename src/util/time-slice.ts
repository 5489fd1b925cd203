// Background work (reclaim, the space recount) shares the one thread with the requests of
// the mount. It holds the metadata lock in short slices, so a request in the foreground
// (a delete, a create, a write's lookup) waits at most about one slice for it; over cached
// metadata a scan never yields on its own (its awaits resolve at once), so the slice is
// timed rather than counted. And while someone is at the control file (a command is
// several requests: lookup, open, truncate, write, release), background work waits until
// it has been quiet for a moment, so that no request of a command queues behind a slice.

export const SLICE_MS = 2;
/** How long after the last request at the control file background work waits. */
export const QUIET_MS = 25;

/** A test of whether `ms` from now have passed. */
export function sliceEnds(ms = SLICE_MS): () => boolean {
  const end = performance.now() + ms;
  return () => performance.now() > end;
}

// process-wide, as the thread is: background work of every store yields to requests of any
let foregroundUntil = 0;

/** A request at the control file: background work waits until it has been quiet for QUIET_MS. */
export function foreground(): void {
  foregroundUntil = performance.now() + QUIET_MS;
}

/** Resolves once no request has come to a control file for QUIET_MS; at once if none did. */
export async function backgroundTurn(): Promise<void> {
  for (;;) {
    const wait = foregroundUntil - performance.now();
    if (wait <= 0) return;
    await new Promise((r) => setTimeout(r, Math.ceil(wait)));
  }
}
