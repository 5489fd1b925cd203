// Rollback: the origin's content becomes a snapshot's; every snapshot stays as it was.
//
// Starting one (in the store) freezes the target under a hidden leaf, the rollback's
// source, so later writes to the target do not leak into the origin, and commits
// {source, cursor 0}. This job then walks the chunks that have exceptions, in order: where
// the source reads a COW chunk, that data is written to the origin through the ordinary
// origin write (so other snapshots keep the old data, copy-out rule and all). Where the
// source reads the origin, there is nothing to do. After each batch the origin is synced
// and the cursor committed, so a crash resumes; redoing a chunk is harmless. At the end
// the hidden leaf is deleted and reclaimed like any snapshot.
import createDebug from 'debug';
import { ExceptionKind, chunkKey, MAX_CHUNKS } from '../../format/records';
import { Core } from '../metadata/core';
import { Reservation } from '../space';
import { DataPath } from '../io/data-path';

const debug = createDebug('snapfuse:rollback');
const BATCH_CHUNKS = 256;

export class RollbackJob {
  progress = 0;
  private stopping = false;
  /** The origin this job rolls back, and the snapshot whose content it copies (fixed at start). */
  readonly origin: number;
  readonly snapshot: string;

  /** Stop after the current batch; the next open resumes from the committed cursor. */
  stop(): void {
    this.stopping = true;
  }

  constructor(
    private readonly core: Core,
    private readonly data: DataPath,
    private readonly space: Reservation,
  ) {
    // read once: the job's last step clears the background record before its commit,
    // and the status still asks for the job until it has ended
    this.origin = core.bg.rollbackOrigin;
    this.snapshot = core.versions.get(core.bg.rollbackSource)?.source ?? '';
  }

  async run(): Promise<void> {
    const { core, origin } = this;
    const source = core.versions.get(core.bg.rollbackSource);
    if (!source) throw new Error(`rollback source ${core.bg.rollbackSource} is missing`);
    const end = chunkKey(origin + 1, 0);
    const nchunks = Math.max(1, Math.ceil(core.origins.get(origin).size / core.chunkSize));
    debug('rollback of origin %d from version %d at chunk key %d', origin, source.id, core.bg.rollbackCursor);
    for (;;) {
      const from = Math.max(core.bg.rollbackCursor, chunkKey(origin, 0));
      const { keys } = await core.meta.run(() => core.exceptions.chunkKeys(from, end, BATCH_CHUNKS));
      if (keys.length === 0) break;
      if (this.stopping) return;
      await Promise.all(
        keys.map(async (key) => {
          const chunk = key % MAX_CHUNKS;
          await core.gate.withShared(async () => {
            const found = await core.meta.run(() => core.exceptions.nearest(origin, chunk, source));
            if (found?.exception.kind !== ExceptionKind.CHUNK) return;
            const content = await this.data.readChunk(origin, chunk, found);
            await this.data.writeOrigin(origin, content, chunk * core.chunkSize, this.space);
          });
        }),
      );
      await this.data.syncOrigin(origin);
      const next = keys[keys.length - 1] + 1;
      await core.meta.run(async () => core.setBackground({ rollbackCursor: next }));
      await core.commit();
      this.progress = (next % MAX_CHUNKS) / nchunks;
    }
    await core.meta.run(async () => {
      core.versions.markDeleted(source);
      core.setBackground({ rollbackSource: 0, rollbackCursor: 0, rollbackOrigin: 0 });
    });
    await core.commit();
    this.space.release();
    this.progress = 1;
    debug('rollback done');
  }
}
