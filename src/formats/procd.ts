// OpenWrt procd/ujail seccomp JSON (../shared/upstream/NOTES.md §5) with procd's own meaning,
// which differs from runc's on the same keys: rules are tried in order and the first match
// wins; an argument compare reads one 32-bit word at args[i] (the low half on little-endian,
// the high half on big-endian); unknown syscall names are skipped; an unknown action is KILL.
import { hostAbi, isAbiName, type Abi } from '../arch/abi';
import { isKnownSyscallName } from '../syscalls/table';
import { PolicyError, type Warning } from '../policy/errors';
import type { Action, ArgCondition, CompareOp, Policy, Rule } from '../policy/model';

interface ProcdArg { index: number; value: number | bigint; valueTwo?: number | bigint; op: string }
interface ProcdRule { names: string[]; action: string; errnoRet?: number; args?: ProcdArg[] }
interface ProcdProfile { defaultAction: string; architectures?: string[]; syscalls?: ProcdRule[] }

function action(name: string, errnoRet: number | undefined): Action {
  switch (name) {
    case 'SCMP_ACT_ALLOW': return { kind: 'allow' };
    case 'SCMP_ACT_LOG': return { kind: 'log' };
    case 'SCMP_ACT_KILL_PROCESS': return { kind: 'kill_process' };
    case 'SCMP_ACT_TRAP': return { kind: 'trap' };
    case 'SCMP_ACT_ERRNO': case 'SCMP_ACT_ERROR': return { kind: 'errno', errno: errnoRet ?? 1 };
    case 'SCMP_ACT_TRACE': return { kind: 'trace', data: errnoRet ?? 1 };
    default: return { kind: 'kill_thread' }; // SCMP_ACT_KILL, and what procd does with any unknown name
  }
}

const HIGH = 0xffffffff00000000n;

/** The 32-bit word procd compares (blobmsg_get_u32 of json-c's integer); formats/json.ts reads large integers as BigInt. */
const word = (x: number | bigint): bigint => (typeof x === 'bigint' ? BigInt.asUintN(32, x) : BigInt(x >>> 0));

/**
 * One procd comparison as conditions of our model, alternatives ORed. Little-endian: the low
 * word, at 32 bits. Big-endian: the high word, written as 64-bit compares against value << 32.
 */
function conditions(a: ProcdArg, abi: Abi): ArgCondition[][] {
  const v = word(a.value);
  const two = word(a.valueTwo ?? 0);
  if (abi.endian === 'little') {
    const op = ({ SCMP_CMP_EQ: 'eq', SCMP_CMP_NE: 'ne', SCMP_CMP_LT: 'lt', SCMP_CMP_LE: 'le', SCMP_CMP_GT: 'gt', SCMP_CMP_GE: 'ge', SCMP_CMP_MASKED_EQ: 'masked_eq' } as Record<string, CompareOp>)[a.op];
    if (!op) throw new PolicyError(`unknown operator '${a.op}'`);
    return [[op === 'masked_eq' ? { arg: a.index, op, mask: v, value: two, width: 32 } : { arg: a.index, op, value: v, width: 32 }]];
  }
  const at = (op: CompareOp, value: bigint, mask?: bigint): ArgCondition => ({ arg: a.index, op, value, width: 64, ...(mask !== undefined ? { mask } : {}) });
  switch (a.op) {
    case 'SCMP_CMP_EQ': return [[at('masked_eq', v << 32n, HIGH)]];
    case 'SCMP_CMP_NE': return [[at('lt', v << 32n)], ...(v < 0xffffffffn ? [[at('ge', (v + 1n) << 32n)]] : [])];
    case 'SCMP_CMP_LT': return [[at('lt', v << 32n)]];
    case 'SCMP_CMP_LE': return v < 0xffffffffn ? [[at('lt', (v + 1n) << 32n)]] : [[]];
    case 'SCMP_CMP_GT': return v < 0xffffffffn ? [[at('ge', (v + 1n) << 32n)]] : [];
    case 'SCMP_CMP_GE': return [[at('ge', v << 32n)]];
    case 'SCMP_CMP_MASKED_EQ': return [[at('masked_eq', two << 32n, v << 32n)]];
    default: throw new PolicyError(`unknown operator '${a.op}'`);
  }
}

export function importProcd(json: unknown, file = 'profile.json', abi: Abi = hostAbi()): { policy: Policy; warnings: Warning[] } {
  const p = json as ProcdProfile;
  const loc = { file, line: 0 };
  if (!p || typeof p.defaultAction !== 'string') throw new PolicyError('not a procd seccomp profile: no defaultAction', loc);
  if (p.architectures?.length) {
    const names = p.architectures.map((a) => a.replace(/^SCMP_ARCH_/, '').toLowerCase());
    if (!names.some((n) => isAbiName(n) && n === abi.name)) {
      throw new PolicyError(`the profile's architectures (${p.architectures.join(', ')}) do not include ${abi.name}`, loc, 'procd rejects it on this machine too');
    }
  }
  const warnings: Warning[] = [];
  const rules: Rule[] = [];
  const decided = new Set<string>(); // syscalls an earlier unconditional rule already decides
  (p.syscalls ?? []).forEach((r, i) => {
    const names = (r.names ?? []).filter((n) => isKnownSyscallName(n) && !decided.has(n));
    if (!names.length) return;
    const act = action(r.action, r.errnoRet);
    // The conditions of one rule are ANDed; alternatives (big-endian ne) multiply out.
    let sets: ArgCondition[][] = [[]];
    for (const a of r.args ?? []) sets = sets.flatMap((s) => conditions(a, abi).map((alt) => [...s, ...alt]));
    if ((r.args ?? []).length === 0) names.forEach((n) => decided.add(n));
    const earlier = rules.filter((x) => x.syscalls.some((n) => names.includes(n)) && JSON.stringify(x.action) !== JSON.stringify(act));
    if (earlier.length) {
      warnings.push({ location: loc, message: `syscalls[${i}]: procd tries rules in order, tsjail by precedence: where this rule and an earlier one of another action both match, the two may decide differently` });
    }
    for (const conditions of sets) rules.push({ syscalls: names, action: act, conditions, source: loc, label: `syscalls[${i}]` });
  });
  return { policy: { defaultAction: action(p.defaultAction, undefined), badArchAction: { kind: 'kill_thread' }, arches: [abi.name], rules, origin: file }, warnings };
}
