// The crash harness's devices: memory devices that log every write and every flush in
// one sequence across devices, and, for any cut point in that sequence, build the
// device images a power loss at that moment could leave: writes before the device's
// last flush are there; each later write is there, missing, or torn at 512-byte
// sector granularity.
import { BlockDevice } from '../../src/block/block-device';
import { Random } from '../helpers/random';

const SECTOR = 512;

export type Op = { dev: number; kind: 'write'; pos: number; data: Buffer } | { dev: number; kind: 'flush' };

export class Recorder {
  readonly ops: Op[] = [];
  readonly devices: RecordingDevice[] = [];

  device(image: Buffer, name: string): RecordingDevice {
    const d = new RecordingDevice(this, this.devices.length, Buffer.from(image), name);
    this.devices.push(d);
    return d;
  }

  /**
   * For each cut (ascending op indexes), the images of every device that a crash just
   * before op `cut` could leave. `bases` are the images when recording began. Durable
   * state is carried forward from cut to cut, so a long run stays linear.
   */
  *crashImages(bases: Buffer[], cuts: number[], rnd: Random): Generator<[number, Buffer[]]> {
    const durable = bases.map((b) => Buffer.from(b));
    const pending: Array<Array<Extract<Op, { kind: 'write' }>>> = bases.map(() => []);
    let at = 0;
    for (const cut of cuts) {
      for (; at < cut; at++) {
        const op = this.ops[at];
        if (op.kind === 'write') pending[op.dev].push(op);
        else {
          for (const w of pending[op.dev]) w.data.copy(durable[op.dev], w.pos);
          pending[op.dev] = [];
        }
      }
      yield [
        cut,
        durable.map((d, dev) => {
          const image = Buffer.from(d);
          for (const w of pending[dev]) {
            const fate = rnd.int(3); // 0 lost, 1 landed, 2 torn
            if (fate === 1) w.data.copy(image, w.pos);
            if (fate === 2) {
              for (let s = 0; s < w.data.length; s += SECTOR) {
                if (rnd.next() < 0.5) w.data.copy(image, w.pos + s, s, Math.min(w.data.length, s + SECTOR));
              }
            }
          }
          return image;
        }),
      ];
    }
  }
}

export class RecordingDevice implements BlockDevice {
  constructor(
    private readonly recorder: Recorder,
    private readonly id: number,
    private readonly bytes: Buffer,
    readonly name: string,
  ) {}

  get size(): number {
    return this.bytes.length;
  }

  image(): Buffer {
    return this.bytes;
  }

  async read(buf: Buffer, pos: number): Promise<void> {
    this.bytes.copy(buf, 0, pos, pos + buf.length);
  }

  async write(buf: Buffer, pos: number): Promise<void> {
    this.recorder.ops.push({ dev: this.id, kind: 'write', pos, data: Buffer.from(buf) });
    buf.copy(this.bytes, pos);
  }

  async flush(): Promise<void> {
    this.recorder.ops.push({ dev: this.id, kind: 'flush' });
  }

  async close(): Promise<void> {}
}
