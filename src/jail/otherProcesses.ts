// A jail without a PID namespace sees the host's processes, and the kernel lets a process change
// the limits, priority and scheduling of any other process of the same uid: no capability, no
// ptrace check (so Landlock, which rules ptrace and signals, does not stop them). A jail could
// set RLIMIT_CPU=0 on your editor (it dies of SIGXCPU), RLIMIT_NOFILE=0 on its own keeper (the
// tree then outlives the run), or renice your shell. These rules refuse every such call that
// names another process (pid, group or user): only pid 0, the caller itself, is left to the policy.
//
// They apply whatever the policy is, so they run first: `guardProgram` is their program with
// every "allow" turned into a jump to the policy's own program, which follows it unchanged; a
// supervisor decides the calls they stop by them first too (supervisor.ts refusedByGuard).
import { readFileSync } from 'node:fs';
import { hostAbi, machineAbis, type Abi } from '../arch/abi';
import { BPF_JA, BPF_JMP, BPF_K, BPF_RET, bpfClass, decodeProgram, encodeProgram, type Instruction } from '../kernel/instruction';
import { SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_USER_NOTIF } from '../kernel/seccomp';
import { errno, named, ne } from '../policy/dsl';
import type { Policy, Rule } from '../policy/model';
import { OTHER_PROCESSES_LABEL } from '../policy/jailStops';
import { precompiledGuardPath } from './precompiled';

const PRIO_PROCESS = 0, IOPRIO_WHO_PROCESS = 1;

export function otherProcessRules(): Rule[] {
  return named(OTHER_PROCESSES_LABEL, [
    // Reading another process's limits (new_rlim NULL) changes nothing.
    ...errno('EPERM', 'prlimit64', { pid: ne(0), new_rlim: ne(0) }),
    // which PRIO_PGRP / PRIO_USER reach a whole group or every process of the uid.
    ...errno('EPERM', 'setpriority', { which: ne(PRIO_PROCESS) }), ...errno('EPERM', 'setpriority', { who: ne(0) }),
    ...errno('EPERM', 'ioprio_set', { which: ne(IOPRIO_WHO_PROCESS) }), ...errno('EPERM', 'ioprio_set', { who: ne(0) }),
    ...errno('EPERM', 'sched_setaffinity', { pid: ne(0) }), ...errno('EPERM', 'sched_setscheduler', { pid: ne(0) }),
    ...errno('EPERM', 'sched_setparam', { pid: ne(0) }), ...errno('EPERM', 'sched_setattr', { pid: ne(0) }),
  ]);
}

/** The rules alone as a policy for this host's machine: every other call allowed (then the policy decides). */
export function guardPolicy(abi: Abi = hostAbi()): Policy {
  const allow = { kind: 'allow' } as const;
  return { defaultAction: allow, badArchAction: allow, arches: machineAbis(abi.name), rules: otherProcessRules() };
}

/**
 * The guard's compiled program (`compiled`) as a prefix: an allow jumps past its end; with
 * `notify` a refusal stops at tsjail instead (a watch that explains it, then answers EPERM).
 */
export function guardProgram(compiled: Uint8Array, endian: 'little' | 'big', notify: boolean): Instruction[] {
  const program = decodeProgram(compiled, endian);
  return program.map((ins, i) => {
    if (bpfClass(ins.code) !== BPF_RET) return ins;
    if (ins.code !== (BPF_RET | BPF_K)) throw new Error('internal error: the guard program returns a register');
    if (ins.k === SECCOMP_RET_ALLOW) return { code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: program.length - i - 1 };
    return notify && ((ins.k & SECCOMP_RET_ACTION_FULL) >>> 0) === SECCOMP_RET_ERRNO ? { ...ins, k: SECCOMP_RET_USER_NOTIF } : ins;
  });
}

/** This host's guard, precompiled at build time (compiled here only where the build made none). */
export function hostGuard(notify: boolean): Instruction[] {
  const abi = hostAbi();
  let compiled: Uint8Array;
  try {
    compiled = new Uint8Array(readFileSync(precompiledGuardPath(abi.name)));
  } catch {
    compiled = (require('../bpf/compile') as typeof import('../bpf/compile')).compileProgram(guardPolicy(abi)).bytes;
  }
  return guardProgram(compiled, abi.endian, notify);
}

/** `filter` behind the guard: the calls it refuses fail with EPERM, every other one is decided by `filter`. */
export function guarded(guard: readonly Instruction[], filter: Uint8Array, endian: 'little' | 'big'): Uint8Array {
  return encodeProgram([...guard, ...decodeProgram(filter, endian)], endian);
}
