// `snapfuse remove-origin`: remove an origin and its snapshots from a store. Given a
// mountpoint (of named origins), through its root control: its directory goes at once,
// and its space returns in the background. Given the COW of an unmounted store: stay
// until reclaim has given their space back.
import { Store } from '../../engine/store';
import { withStore } from '../offline-store';
import { progressReporter } from '../progress';
import { ORIGIN_OPTION, originOptions, storeFilesOf } from '../store-args';
import { defineCommand } from '../usage';
import { liveStore } from '../control-client';

export const removeOriginCommand = defineCommand({
  command: 'remove-origin <cow|mountpoint> <name>',
  describe:
    'remove an origin and all its snapshots: from a mount of named origins (refused while any of its images is open), ' +
    'or from an unmounted store, waiting until their space is back (the origin file is left as it is)',
  builder: (y) =>
    y
      .positional('cow', { type: 'string', demandOption: true, describe: 'the COW, or the mountpoint' })
      .positional('name', { type: 'string', demandOption: true })
      .option('origin', ORIGIN_OPTION),
  handler: async (a) => {
    const live = await liveStore(a.cow);
    if (live) return live(`remove-origin ${a.name}`);
    await withStore(storeFilesOf([a.cow], originOptions(a.origin), true), false, async ({ store }) => {
      await store.removeOrigin(a.name);
      await followReclaim(store, `remove-origin ${a.name}`);
    });
  },
});

/** Wait for the store's reclaim, with progress; for offline commands that free space. */
async function followReclaim(store: Store, label: string): Promise<void> {
  const reporter = progressReporter(label);
  const timer = setInterval(
    () => reporter.update(Math.round((store.status().reclaim ?? 0) * 100), 100, 'reclaim'),
    200,
  );
  try {
    await store.idle();
    reporter.update(100, 100);
  } finally {
    clearInterval(timer);
    reporter.stop();
  }
}
