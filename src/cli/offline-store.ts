// Commands on an unmounted store (diff, send, receive, remove-origin): it is opened for the
// one command, never committed to on a timer, and closed after, whatever happened.
import { openFiles, OpenedStore, StoreFiles } from '../engine/open-files';

export async function withStore<T>(files: StoreFiles, readOnly: boolean, fn: (o: OpenedStore) => Promise<T>) {
  // a mount just unmounted may still be committing: wait for it a few seconds, as DESIGN.md says
  const opened = await openFiles(files, { readOnly, commitInterval: 0 });
  try {
    return await fn(opened);
  } finally {
    await opened.close();
  }
}
