// The DNS network of a jail whose rules name hosts: a network namespace of tsjail's own, held by a
// process the helper forks (tsjail_dns_holder), where each resolver the jail connects to is a
// local address with tsjail's DNS server (dnsProxy.ts) listening on its port 53. A jail's connect
// to a resolver gets a socket made there in place of its own (netSupervisor.ts), so every query
// it sends on it, with any call, reaches tsjail's server and nothing else: that network has no
// way out. The reply comes from the resolver's address and port, as glibc's resolver checks.
import { errnoName } from '../kernel/errno';
import { closeFd, dnsNetworkAddress, dnsNetworkListener, dnsNetworkSocket, startDnsHolder, STEPS, waitFor } from './helper';
import { DnsProxy, type DnsDecider } from './dnsProxy';
import type { NetDestination } from './netRules';

const AF_INET = 2, AF_INET6 = 10, SOCK_STREAM = 1, SOCK_DGRAM = 2, IPPROTO_TCP = 6, IPPROTO_UDP = 17;
/** Resolvers one DNS network serves, at most. */
const MAX_RESOLVERS = 16;

const errnoText = (errno: number): string => errnoName(errno) ?? `errno ${errno}`;

/** The address's bytes, in network order. */
function addressBytes(d: NetDestination): Buffer {
  const b = Buffer.alloc(d.family === 4 ? 4 : 16);
  if (d.family === 4) b.writeUInt32BE(Number(d.address));
  else { b.writeBigUInt64BE(d.address >> 64n); b.writeBigUInt64BE(d.address & 0xffff_ffff_ffff_ffffn, 8); }
  return b;
}

export class DnsNetwork {
  private readonly served = new Set<string>();
  private closed = false;

  private constructor(private readonly channel: number, private readonly holder: number, private readonly proxy: DnsProxy) {}

  /** Makes the DNS network; why it cannot be made, as a sentence, where it cannot. */
  static start(decider: DnsDecider): DnsNetwork | string {
    const r = startDnsHolder();
    if ('errno' in r) return `cannot ${STEPS[r.step] ?? `do step ${r.step}`}: ${errnoText(r.errno)}`;
    return new DnsNetwork(r.channel, r.pid, new DnsProxy(decider));
  }

  /** Resolver `d` (port 53) served: its address local in the DNS network, tsjail's server listening there. */
  private serve(d: NetDestination): string | undefined {
    const key = `${d.family}:${d.address}`;
    if (this.served.has(key)) return undefined;
    if (this.served.size >= MAX_RESOLVERS) return `a DNS network serves ${MAX_RESOLVERS} resolvers at most`;
    const family = d.family === 4 ? AF_INET : AF_INET6;
    const bytes = addressBytes(d);
    const added = dnsNetworkAddress(this.channel, family, bytes);
    if (added) return `cannot make the resolver's address local in the DNS network: ${errnoText(added)}`;
    const udp = dnsNetworkListener(this.channel, family, SOCK_DGRAM, IPPROTO_UDP, bytes);
    if ('errno' in udp) return `cannot listen for the resolver in the DNS network: ${errnoText(udp.errno)}`;
    const tcp = dnsNetworkListener(this.channel, family, SOCK_STREAM, IPPROTO_TCP, bytes);
    if ('errno' in tcp) { closeFd(udp.fd); return `cannot listen for the resolver in the DNS network: ${errnoText(tcp.errno)}`; }
    this.proxy.serve(d, udp.fd, tcp.fd);
    this.served.add(key);
    return undefined;
  }

  /**
   * A socket in the DNS network (of the jail socket's `domain`, `type`, `protocol`) for a connect
   * to resolver `d`: it reaches tsjail's server at that address. Or why there is none.
   */
  socketFor(domain: number, type: number, protocol: number, d: NetDestination): { readonly fd: number } | { readonly reason: string } {
    if (this.closed) return { reason: 'the DNS network has ended' };
    const why = this.serve(d);
    if (why) return { reason: why };
    const r = dnsNetworkSocket(this.channel, domain, type, protocol);
    return 'errno' in r ? { reason: `cannot make a socket in the DNS network: ${errnoText(r.errno)}` } : r;
  }

  /** Ends the server and the holder (it exits once its channel is closed). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.proxy.close();
    closeFd(this.channel);
    void waitFor(this.holder).catch(() => undefined);
  }
}
