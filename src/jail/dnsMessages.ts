// DNS messages as tsjail's DNS server reads and writes them (RFC 1035 §4): the question of a
// query, a reply that answers it with only a status, and the addresses an answer carries.
import { formatAddress } from './netRules';

/** Reply codes tsjail gives itself. */
export const RCODE = { formErr: 1, servFail: 2, refused: 5 } as const;

const HEADER = 12;

/** The name asked in a DNS query, if it is one with one question. */
export function dnsQueryName(data: Buffer): string | undefined {
  if (data.length < HEADER + 5 || (data[2]! & 0x80) || data.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  for (let at = HEADER; at < data.length;) {
    const len = data[at]!;
    if (len === 0) return labels.length ? labels.join('.') : undefined;
    if (len > 63 || at + 1 + len > data.length) return undefined;
    labels.push(data.subarray(at + 1, at + 1 + len).toString('latin1'));
    at += 1 + len;
  }
  return undefined;
}

/** Where the name at `at` ends (past its last label or its compression pointer); undefined if it runs out. */
function skipName(m: Buffer, at: number): number | undefined {
  while (at < m.length) {
    const len = m[at]!;
    if (len === 0) return at + 1;
    if ((len & 0xc0) === 0xc0) return at + 2 <= m.length ? at + 2 : undefined;
    if (len > 63) return undefined;
    at += 1 + len;
  }
  return undefined;
}

/** A reply to `query` with `rcode` and no records: its id, opcode, RD bit and question kept. Undefined for less than a header. */
export function statusReply(query: Buffer, rcode: number): Buffer | undefined {
  if (query.length < HEADER) return undefined;
  const end = query.readUInt16BE(4) === 1 ? skipName(query, HEADER) : undefined;
  const questionEnd = end !== undefined && end + 4 <= query.length ? end + 4 : HEADER;
  const reply = Buffer.from(query.subarray(0, questionEnd));
  reply[2] = 0x80 | (query[2]! & 0x79); // QR, the opcode and RD
  reply[3] = 0x80 | rcode; // RA
  reply.writeUInt16BE(questionEnd > HEADER ? 1 : 0, 4);
  reply.fill(0, 6, HEADER);
  return reply;
}

/** The A and AAAA records in the answer section of a reply, as addresses. */
export function answerAddresses(reply: Buffer): { readonly family: 4 | 6; readonly address: string }[] {
  if (reply.length < HEADER || !(reply[2]! & 0x80)) return [];
  let at: number | undefined = HEADER;
  for (let q = reply.readUInt16BE(4); q > 0 && at !== undefined; q--) {
    const end = skipName(reply, at);
    at = end === undefined ? undefined : end + 4;
  }
  const out: { family: 4 | 6; address: string }[] = [];
  for (let a = reply.readUInt16BE(6); a > 0 && at !== undefined; a--) {
    const rdata = skipName(reply, at);
    if (rdata === undefined || rdata + 10 > reply.length) break;
    const type = reply.readUInt16BE(rdata), klass = reply.readUInt16BE(rdata + 2), len = reply.readUInt16BE(rdata + 8);
    const start = rdata + 10;
    if (start + len > reply.length) break;
    if (klass === 1 && type === 1 && len === 4) out.push({ family: 4, address: formatAddress(4, BigInt(reply.readUInt32BE(start))) });
    if (klass === 1 && type === 28 && len === 16) {
      out.push({ family: 6, address: formatAddress(6, (reply.readBigUInt64BE(start) << 64n) | reply.readBigUInt64BE(start + 8)) });
    }
    at = start + len;
  }
  return out;
}
