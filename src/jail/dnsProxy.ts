// tsjail's DNS server, on Node's event loop: it listens on each resolver's address in the DNS
// network (dnsNetwork.ts), where the jail's sockets connected to a resolver reach it whatever call
// sends on them (write, send, sendmsg; UDP, and TCP with its two-byte length framing). A
// question no rule allows is answered REFUSED at once and reported; an allowed one is asked of
// the real resolver from a socket of tsjail's own on the host, and its answer relayed (bounded:
// a timeout per query, so many outstanding, the reply's id and source matched, its size capped),
// the A and AAAA addresses in it remembered as the name's.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { answerAddresses, dnsQueryName, RCODE, statusReply } from './dnsMessages';
import { formatAddress, type NetDestination } from './netRules';

/** How long the real resolver has to answer one query. */
const QUERY_TIMEOUT_MS = 5_000;
/** Queries asked of the real resolvers at once, at most: past it a query is answered SERVFAIL. */
export const MAX_OUTSTANDING = 128;
/** The largest answer relayed (a TCP message's most); a larger one is dropped. */
const MAX_ANSWER = 65_535;
/** A TCP connection's unframed bytes, at most (one message and its length). */
const MAX_TCP_PENDING = 65_537;
/** The jail's TCP connections to one resolver's server, at most (more are closed as they come). */
const MAX_TCP_CLIENTS = 256;

/** What the server asks of tsjail's rules, and tells it. */
export interface DnsDecider {
  /**
   * Does a rule allow this query (its name; undefined: not a DNS query with one question) to
   * `resolver` from the jail's socket bound to `port`? A refusal is reported by the decider.
   */
  allows(name: string | undefined, resolver: NetDestination, port: number): boolean;
  /** An allowed name's answer carried these addresses. */
  answered(name: string, addresses: readonly { readonly family: 4 | 6; readonly address: string }[]): void;
  /** --log: refused queries are reported and asked nonetheless. */
  readonly logOnly: boolean;
}

export class DnsProxy {
  /** The queries being asked of the real resolvers: each ends its own (a timer, a socket) when given undefined. */
  private readonly asking = new Set<(answer: Buffer | undefined) => void>();
  private readonly closers: (() => void)[] = [];
  private readonly clients = new Set<Socket>();

  constructor(private readonly decider: DnsDecider) {}

  /** Serves `resolver`'s address: `udpFd` and `tcpFd` are sockets bound to it in the DNS network (tcpFd listening). */
  serve(resolver: NetDestination, udpFd: number, tcpFd: number): void {
    const host = formatAddress(resolver.family, resolver.address);
    const udp = createSocket(resolver.family === 4 ? 'udp4' : 'udp6');
    udp.on('message', (query, from) => {
      this.answer({ ...resolver, protocol: 'udp' }, host, query, from.port, (reply) => udp.send(reply, from.port, from.address));
    });
    udp.on('error', () => undefined);
    udp.bind({ fd: udpFd });
    const tcp: Server = createServer((client) => this.serveStream({ ...resolver, protocol: 'tcp' }, host, client));
    tcp.maxConnections = MAX_TCP_CLIENTS;
    tcp.on('error', () => undefined);
    tcp.listen({ fd: tcpFd });
    this.closers.push(() => { udp.close(); tcp.close(); });
  }

  /** Stops serving; the queries still being asked end unanswered (nothing of the server keeps Node's loop alive). */
  close(): void {
    for (const c of this.closers.splice(0)) c();
    for (const client of this.clients) client.destroy();
    for (const end of [...this.asking]) end(undefined);
  }

  /** A TCP client: each framed query answered (in the order the answers come, as RFC 7766 allows). */
  private serveStream(resolver: NetDestination, host: string, client: Socket): void {
    let pending = Buffer.alloc(0);
    this.clients.add(client);
    client.on('close', () => this.clients.delete(client));
    client.on('error', () => client.destroy());
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length > MAX_TCP_PENDING) { client.destroy(); return; }
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const query = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + query.length);
        this.answer(resolver, host, query, client.remotePort ?? 0, (reply) => {
          if (!client.destroyed) client.write(Buffer.concat([frameLength(reply.length), reply]));
        });
      }
    });
  }

  /** One query from the jail's socket bound to `port`: refused, or relayed from the real resolver. */
  private answer(resolver: NetDestination, host: string, query: Buffer, port: number, reply: (m: Buffer) => void): void {
    const name = dnsQueryName(query)?.toLowerCase().replace(/\.$/, '');
    if (!this.decider.allows(name, resolver, port)) {
      if (!this.decider.logOnly) {
        const r = statusReply(query, name === undefined ? RCODE.formErr : RCODE.refused);
        if (r) reply(r);
        return;
      }
    }
    // Not even a header (--log lets it this far): nothing to ask, nothing to match an answer to.
    if (query.length < 12) return;
    if (this.asking.size >= MAX_OUTSTANDING) {
      const r = statusReply(query, RCODE.servFail);
      if (r) reply(r);
      return;
    }
    const done = (answer: Buffer | undefined): void => {
      this.asking.delete(finish);
      if (!answer || answer.length > MAX_ANSWER || answer.length < 12 || answer.readUInt16BE(0) !== query.readUInt16BE(0)) return;
      if (name !== undefined) this.decider.answered(name, answerAddresses(answer));
      reply(answer);
    };
    const finish = resolver.protocol === 'tcp' ? askStream(host, query, done) : askDatagram(resolver.family, host, query, done);
    this.asking.add(finish);
  }
}

function frameLength(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** `done` once: with the answer `finish` is given first, or undefined after QUERY_TIMEOUT_MS; `cleanup` before it. */
function once(cleanup: () => void, done: (answer: Buffer | undefined) => void): (answer: Buffer | undefined) => void {
  let finished = false;
  const finish = (answer: Buffer | undefined): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    cleanup();
    done(answer);
  };
  const timer = setTimeout(() => finish(undefined), QUERY_TIMEOUT_MS);
  return finish;
}

/**
 * Asks the real resolver over UDP from a fresh socket (its own port: only that resolver's reply
 * is taken); `done` once, with the answer or undefined. Gives what ends it early.
 */
function askDatagram(family: 4 | 6, host: string, query: Buffer, done: (answer: Buffer | undefined) => void): (answer: Buffer | undefined) => void {
  const s: UdpSocket = createSocket(family === 4 ? 'udp4' : 'udp6');
  const finish = once(() => s.close(), done);
  s.on('error', () => finish(undefined));
  s.on('message', (m, from) => {
    if (from.address === host && from.port === 53 && m.length >= 2 && m.readUInt16BE(0) === query.readUInt16BE(0)) finish(m);
  });
  s.send(query, 53, host, (e) => { if (e) finish(undefined); });
  return finish;
}

/** Asks the real resolver over TCP, one connection per query; `done` once, with the answer or undefined. Gives what ends it early. */
function askStream(host: string, query: Buffer, done: (answer: Buffer | undefined) => void): (answer: Buffer | undefined) => void {
  let got = Buffer.alloc(0);
  const s = connect(53, host, () => s.write(Buffer.concat([frameLength(query.length), query])));
  const finish = once(() => s.destroy(), done);
  s.on('error', () => finish(undefined));
  s.on('close', () => finish(undefined));
  s.on('data', (chunk: Buffer) => {
    got = Buffer.concat([got, chunk]);
    if (got.length > MAX_TCP_PENDING) return finish(undefined);
    if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) finish(got.subarray(2, 2 + got.readUInt16BE(0)));
    return undefined;
  });
  return finish;
}
