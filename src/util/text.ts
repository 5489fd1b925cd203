// User input in a message: made one printable line and cut short, so a refusal can quote
// what was given without breaking a status line or a terminal.

/** How many characters of user input a message quotes. */
export const QUOTE_LIMIT = 80;

// Control, format, surrogate, private-use, unassigned and line/paragraph separators:
// anything that could break a message or a status line, or hide what it says.
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/gu;

/** Make text one printable line: every unprintable character becomes `replacement`. */
export function printable(text: string, replacement: string): string {
  return text.replace(UNPRINTABLE, replacement);
}

/** Quote user input for an error message: at most 80 characters, one printable line. */
export function quote(text: string): string {
  const chars = Array.from(text); // by code point, so a pair is never split
  const cut = chars.length > QUOTE_LIMIT;
  const shown = printable(chars.slice(0, QUOTE_LIMIT).join(''), '?');
  return `"${shown}${cut ? '...' : ''}"`;
}
