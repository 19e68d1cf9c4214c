// tsjail's messages carry what the jail chose: paths it wrote, names it looked up, sockets it
// made. Written to a terminal as they are, an escape sequence in one could rewrite the screen
// (hide a denial, set the title, move the cursor), and a newline in one could forge a line of
// tsjail's. So control characters are shown as \xNN: in a message, all but tsjail's own line
// breaks and tabs; in a value the jail chose, all of them.

// C0, DEL, C1, and the bidirectional marks, overrides and isolates (they reorder what a line shows).
const CONTROL = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escape = (c: string): string => {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/** `message` safe to write to a terminal as tsjail's lines. */
export function printable(message: string): string {
  return message.replace(CONTROL, (c) => (c === '\n' || c === '\t' ? c : escape(c)));
}

/** `value` (a path, a name, a whole line of a report) on one line, every control character shown. */
export function oneLine(value: string): string {
  return value.replace(CONTROL, escape);
}

/**
 * JSON that stays inert wherever it is pasted or shown: only printable ASCII, and none of `*` (a
 * block comment's end), `<` `>` `&` (markup), backtick; everything else, control characters,
 * U+2028/U+2029 and lone surrogates included, as a \uXXXX escape. Those characters occur only
 * inside JSON strings, where the escape means the same, so JSON.parse gives back exactly the original.
 */
export function inertJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[^\n\x20-\x7e]|[*<>&`]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
