// The text of a diff: what the mount's diff/<a>..<b> files hold and `snapfuse diff`
// prints, one "offset length" line per range of bytes where the two images differ.

/** A diff as the mount's diff/<a>..<b> files and `snapfuse diff` print it: "offset length" lines. */
export function formatRanges(ranges: Iterable<{ offset: number; length: number }>): string {
  let text = '';
  for (const r of ranges) text += `${r.offset} ${r.length}\n`;
  return text;
}

export function parseRanges(text: string): Array<{ offset: number; length: number }> {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [offset, length] = line.split(' ').map(Number);
      return { offset, length };
    });
}
