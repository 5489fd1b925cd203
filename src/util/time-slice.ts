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
/** Background work waits no longer than this: then it has a slice, however busy the control file. */
export const MAX_DEFER_MS = 100;

/** A test of whether `ms` from now have passed. */
export function sliceEnds(ms = SLICE_MS): () => boolean {
  const end = performance.now() + ms;
  return () => performance.now() > end;
}

// process-wide, as the thread is: background work of every store yields to requests of any
let foregroundUntil = 0;
let deferredSince = 0; // when background work began to wait, or 0
let grantedUntil = 0; // background work has its slice until then, even if requests come
let sliceFrom = 0; // when background work last let the event loop's requests in

/** A request at the control file: background work waits until it has been quiet for QUIET_MS. */
export function foreground(): void {
  foregroundUntil = performance.now() + QUIET_MS;
}

/**
 * Resolves once no request has come to a control file for QUIET_MS, at once if none did;
 * or, when requests keep coming (a status read every few ms), after MAX_DEFER_MS, for a
 * slice: background work slows down under a busy control file, it does not stop.
 */
export async function backgroundTurn(): Promise<void> {
  for (;;) {
    let now = performance.now();
    if (now - sliceFrom >= SLICE_MS) {
      // awaits on cached metadata resolve at once and never let a request in: every slice,
      // let the event loop take what came meanwhile (a request there calls foreground())
      await new Promise((r) => setImmediate(r));
      now = performance.now();
      sliceFrom = now;
    }
    if (now >= foregroundUntil || now < grantedUntil) {
      deferredSince = 0;
      return;
    }
    if (!deferredSince) deferredSince = now;
    if (now - deferredSince >= MAX_DEFER_MS) {
      grantedUntil = now + SLICE_MS;
      deferredSince = 0;
      return;
    }
    await new Promise((r) => setTimeout(r, Math.ceil(Math.min(foregroundUntil - now, MAX_DEFER_MS))));
  }
}
