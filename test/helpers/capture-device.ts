// A memory device that, while capturing, keeps a copy of its image (and of any devices
// tied to it) before each of its writes: the states a crash of the process could leave,
// every completed write having landed. (Power-loss reordering is the crash harness's job.)
import { MemoryDevice } from '../../src/block/memory-device';

export class CaptureDevice extends MemoryDevice {
  capturing = false;
  readonly states: Buffer[][] = [];

  constructor(
    image: Buffer,
    private readonly tied: MemoryDevice[] = [],
  ) {
    super(image);
  }

  override async write(buf: Buffer, pos: number): Promise<void> {
    if (this.capturing) this.states.push([Buffer.from(this.image()), ...this.tied.map((d) => Buffer.from(d.image()))]);
    return super.write(buf, pos);
  }
}
