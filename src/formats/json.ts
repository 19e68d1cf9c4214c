// JSON read and written as Go's encoding/json reads it into runc's uint64 fields: an integer of
// any size is exact (a BigInt beyond 2^53, where JSON.parse would round it), and every value
// keeps where it stands in the text, so a message can say `profile.json:12:7`.
import { PolicyError } from '../policy/errors';
import type { SourceLocation } from '../policy/model';

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

export interface JsonDocument {
  readonly value: JsonValue;
  /** Where `node` (an object or array read from the text) starts, or where its member `key` does. */
  readonly locate: (node: unknown, key?: string | number) => SourceLocation;
}

/** Deeper nesting is refused with a message (a stack overflow would be a trace). */
const MAX_DEPTH = 512;

const isSafe = (text: string): boolean => Number.isSafeInteger(Number(text));

/** The document in `text`; a syntax error names `file:line:column`. */
export function parseJson(text: string, file: string): JsonDocument {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  const at = (offset: number): SourceLocation => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid; else hi = mid - 1;
    }
    return { file, line: lo + 1, column: offset - lineStarts[lo]! + 1 };
  };
  // Start offsets of each object or array, and of each of its members' values.
  const starts = new Map<object, { self: number; members: Map<string | number, number> }>();
  let pos = 0;

  const fail = (message: string, offset = pos, hint?: string): never => { throw new PolicyError(`invalid JSON: ${message}`, at(offset), hint); };
  const shown = (): string => (pos >= text.length ? 'the end of the text' : `'${text[pos]}'`);
  const skipSpace = (): void => { while (pos < text.length && ' \t\n\r'.includes(text[pos]!)) pos++; };
  const expect = (c: string): void => {
    skipSpace();
    if (text[pos] !== c) fail(`expected '${c}', found ${shown()}`);
    pos++;
  };

  const readString = (): string => {
    const open = pos++;
    let out = '';
    for (;;) {
      if (pos >= text.length) fail('unterminated string', open);
      const c = text[pos]!;
      if (c === '"') { pos++; return out; }
      if (c.charCodeAt(0) < 0x20) fail('control character in a string', pos, 'write it as an escape such as \\n');
      if (c !== '\\') { out += c; pos++; continue; }
      const e = text[pos + 1];
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (e !== undefined && e in simple) { out += simple[e]; pos += 2; continue; }
      if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) { out += String.fromCharCode(Number.parseInt(text.slice(pos + 2, pos + 6), 16)); pos += 6; continue; }
      fail(`bad escape '\\${e ?? ''}'`);
    }
  };

  const readNumber = (): number | bigint => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(pos, pos + 400));
    if (!m) fail(`unexpected ${shown()}`, pos, 'expected a value: an object, array, string, number, true, false or null');
    pos += m![0].length;
    const integer = m![2] === undefined && m![3] === undefined;
    return integer && !isSafe(m![0]) ? BigInt(m![0]) : Number(m![0]);
  };

  const readValue = (depth: number): JsonValue => {
    skipSpace();
    if (depth > MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH} levels`);
    const start = pos;
    const c = text[pos];
    if (c === '{' || c === '[') {
      pos++;
      const members = new Map<string | number, number>();
      const node: JsonValue[] | { [key: string]: JsonValue } = c === '[' ? [] : {};
      starts.set(node, { self: start, members });
      const close = c === '[' ? ']' : '}';
      skipSpace();
      if (text[pos] === close) { pos++; return node; }
      for (;;) {
        skipSpace();
        let key: string | number;
        if (Array.isArray(node)) key = node.length;
        else {
          if (text[pos] !== '"') fail(`expected a member name in quotes, found ${shown()}`);
          key = readString();
          expect(':');
        }
        skipSpace();
        members.set(key, pos);
        const v = readValue(depth + 1);
        // A member named __proto__ is data, as in JSON.parse; a repeated name keeps the last value, as Go does.
        if (Array.isArray(node)) node.push(v); else Object.defineProperty(node, key, { value: v, enumerable: true, writable: true, configurable: true });
        skipSpace();
        if (text[pos] === ',') { pos++; continue; }
        if (text[pos] === close) { pos++; return node; }
        fail(`expected ',' or '${close}', found ${shown()}`);
      }
    }
    if (c === '"') return readString();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, pos)) { pos += word.length; return v; }
    }
    return readNumber();
  };

  const value = readValue(0);
  skipSpace();
  if (pos < text.length) fail(`unexpected ${shown()} after the document`);
  const locate = (node: unknown, key?: string | number): SourceLocation => {
    const s = typeof node === 'object' && node !== null ? starts.get(node) : undefined;
    if (!s) return { file, line: 0 };
    return at(key !== undefined ? s.members.get(key) ?? s.self : s.self);
  };
  return { value, locate };
}

/** `value` as JSON.stringify(value, null, indent) writes it, with BigInts as exact number literals. */
export function formatJson(value: unknown, indent = 2): string {
  const write = (v: unknown, pad: string): string | undefined => {
    if (typeof v === 'bigint') return v.toString();
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return undefined;
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    const inner = pad + ' '.repeat(indent);
    const sep = indent ? `,\n${inner}` : ',';
    const [open, close] = indent ? [`\n${inner}`, `\n${pad}`] : ['', ''];
    if (Array.isArray(v)) {
      if (!v.length) return '[]';
      return `[${open}${v.map((x) => write(x, inner) ?? 'null').join(sep)}${close}]`;
    }
    const members = Object.entries(v).flatMap(([k, x]) => {
      const w = write(x, inner);
      return w === undefined ? [] : [`${JSON.stringify(k)}:${indent ? ' ' : ''}${w}`];
    });
    return members.length ? `{${open}${members.join(sep)}${close}}` : '{}';
  };
  return write(value, '') ?? 'null';
}
