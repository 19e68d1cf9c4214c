// For jail tests whose servers live in the test process: tsjail run asynchronously (the servers
// keep serving meanwhile), and TCP servers that count the connections reaching them.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';

export interface Run { status: number | null; stdout: string; stderr: string }

/** Runs argv to its end (killed after `timeoutMs`), with its output. */
export function runAsync(argv: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: options.env });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => p.kill('SIGKILL'), options.timeoutMs ?? 60000);
    p.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

/** A TCP server on each host at `port` answering "hi"; `counts[host]` is how many connections reached it. */
export async function countingServers(hosts: readonly string[], port: number): Promise<{ counts: Record<string, number>; close(): void }> {
  const counts: Record<string, number> = {};
  const servers: Server[] = [];
  for (const host of hosts) {
    counts[host] = 0;
    await new Promise<void>((resolve) => {
      const s = createServer((c) => { counts[host]!++; c.end('hi\n'); });
      s.listen(port, host, () => resolve());
      servers.push(s);
    });
  }
  return { counts, close: () => { for (const s of servers) s.close(); } };
}
