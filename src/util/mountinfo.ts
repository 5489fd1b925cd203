// What is mounted where, from /proc/self/mountinfo: "<id> <parent> <dev> <root> <mountpoint>
// ... - <fstype> <source> <options>", with spaces and the like escaped as \ooo.
import { promises as fs } from 'fs';

export interface MountEntry {
  mountpoint: string;
  fstype: string;
}

function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    const mountpoint = left?.split(' ')[4];
    if (!right || mountpoint === undefined) continue;
    out.push({ mountpoint: unescape(mountpoint), fstype: right.split(' ')[0] });
  }
  return out;
}

export async function mounts(): Promise<MountEntry[]> {
  return parseMountinfo(await fs.readFile('/proc/self/mountinfo', 'utf8'));
}
