#!/usr/bin/python3
"""Compiles an OCI/Docker seccomp profile with libseccomp (python3-seccomp) the way
runc does, and writes the BPF. Used by test/libseccomp.test.ts as the reference.

usage: libseccomp_oci.py PROFILE.json HOSTARCH CAPS(comma-separated) KERNEL OUT.bpf
prints JSON: {"unknown": [[arch, name], ...], "errors": [[name, message], ...]}
"""
import json
import sys

import seccomp

GOARCH = {'x86_64': 'amd64', 'x86': '386', 'aarch64': 'arm64', 'arm': 'arm', 'riscv64': 'riscv64',
          'ppc64le': 'ppc64le', 's390x': 's390x', 'loongarch64': 'loong64', 'mips64': 'mips64'}
OPS = {'SCMP_CMP_NE': seccomp.NE, 'SCMP_CMP_LT': seccomp.LT, 'SCMP_CMP_LE': seccomp.LE, 'SCMP_CMP_EQ': seccomp.EQ,
       'SCMP_CMP_GE': seccomp.GE, 'SCMP_CMP_GT': seccomp.GT, 'SCMP_CMP_MASKED_EQ': seccomp.MASKED_EQ}


def action(name, errno_ret):
    if name == 'SCMP_ACT_ALLOW': return seccomp.ALLOW
    if name == 'SCMP_ACT_LOG': return seccomp.LOG
    if name in ('SCMP_ACT_KILL', 'SCMP_ACT_KILL_THREAD'): return seccomp.KILL
    if name == 'SCMP_ACT_KILL_PROCESS': return seccomp.KILL_PROCESS
    if name == 'SCMP_ACT_TRAP': return seccomp.TRAP
    if name == 'SCMP_ACT_ERRNO': return seccomp.ERRNO(1 if errno_ret is None else errno_ret)
    if name == 'SCMP_ACT_TRACE': return seccomp.TRACE(1 if errno_ret is None else errno_ret)
    raise ValueError(name)


def kernel_at_least(kernel, minimum):
    def parse(v):
        return [int(x) for x in v.replace('-', '.').split('.')[:2]]
    return parse(kernel) >= parse(minimum)


def main():
    profile_path, host, caps, kernel, out = sys.argv[1:6]
    caps = set(c for c in caps.split(',') if c)
    profile = json.load(open(profile_path))
    default = action(profile['defaultAction'], profile.get('defaultErrnoRet'))
    f = seccomp.SyscallFilter(defaction=default)
    arches = [host]
    for m in profile.get('archMap') or []:
        if m['architecture'] == 'SCMP_ARCH_' + host.upper():
            arches += [a.replace('SCMP_ARCH_', '').lower() for a in (m.get('subArchitectures') or [])]
    if profile.get('architectures'):
        arches = [a.replace('SCMP_ARCH_', '').lower() for a in profile['architectures']]
    native = seccomp.system_arch() & 0xffffffff
    wanted = [getattr(seccomp.Arch, a.upper()) for a in arches]
    # Remove the native arch first: libseccomp refuses arches of another byte order beside it.
    if native not in [a & 0xffffffff for a in wanted]:
        f.remove_arch(seccomp.Arch.NATIVE)
    for arch in wanted:
        if arch & 0xffffffff != native:
            f.add_arch(arch)
    goarch = GOARCH.get(host, host)
    unknown, errors, calls = [], [], []
    for call in profile.get('syscalls') or []:
        inc, exc = call.get('includes') or {}, call.get('excludes') or {}
        if inc.get('arches') and goarch not in inc['arches']: continue
        if inc.get('caps') and not any(c in caps for c in inc['caps']): continue
        if inc.get('minKernel') and not kernel_at_least(kernel, inc['minKernel']): continue
        if exc.get('arches') and goarch in exc['arches']: continue
        if exc.get('caps') and any(c in caps for c in exc['caps']): continue
        act = action(call['action'], call.get('errnoRet'))
        if act == default: continue  # runc: no point adding a rule with the default action
        conds = []
        for a in call.get('args') or []:
            if a['op'] == 'SCMP_CMP_MASKED_EQ':
                conds.append(seccomp.Arg(a['index'], OPS[a['op']], int(a['value']), int(a.get('valueTwo', 0))))
            else:
                conds.append(seccomp.Arg(a['index'], OPS[a['op']], int(a['value'])))
        indexes = [a['index'] for a in call.get('args') or []]
        split = len(set(indexes)) < len(indexes)
        for name in call.get('names') or [call.get('name')]:
            known = False
            for a in arches:
                try:
                    if seccomp.resolve_syscall(getattr(seccomp.Arch, a.upper()), name) >= 0:
                        known = True
                    else:
                        unknown.append([a, name])
                except Exception:
                    unknown.append([a, name])
            if not known:
                continue  # runc ignores names libseccomp does not know
            raw = [[a['index'], a['op'], int(a['value']), int(a.get('valueTwo', 0))] for a in call.get('args') or []]
            try:
                if split:
                    for c, r in zip(conds, raw):
                        f.add_rule(act, name, c)
                        calls.append([call['action'], call.get('errnoRet'), name, [r]])
                else:
                    f.add_rule(act, name, *conds)
                    calls.append([call['action'], call.get('errnoRet'), name, raw])
            except Exception as e:
                errors.append([name, str(e)])
    with open(out, 'wb') as fh:
        f.export_bpf(fh)
    print(json.dumps({'unknown': unknown, 'errors': errors, 'arches': arches, 'calls': calls,
                      'default': [profile['defaultAction'], profile.get('defaultErrnoRet')]}))


main()
