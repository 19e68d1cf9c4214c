// socketcall(2) and ipc(2): on several 32-bit ABIs one syscall multiplexes the socket and
// SysV IPC families, with the call number in the first argument (linux/net.h, linux/ipc.h).
// A filter on `connect` alone leaves socketcall(SYS_CONNECT, ...) open there.

export const SOCKETCALL_CALLS: Readonly<Record<string, number>> = {
  socket: 1, bind: 2, connect: 3, listen: 4, accept: 5, getsockname: 6, getpeername: 7, socketpair: 8, send: 9,
  recv: 10, sendto: 11, recvfrom: 12, shutdown: 13, setsockopt: 14, getsockopt: 15, sendmsg: 16, recvmsg: 17,
  accept4: 18, recvmmsg: 19, sendmmsg: 20,
};

export const IPC_CALLS: Readonly<Record<string, number>> = {
  semop: 1, semget: 2, semctl: 3, semtimedop: 4, msgsnd: 11, msgrcv: 12, msgget: 13, msgctl: 14, shmat: 21,
  shmdt: 22, shmget: 23, shmctl: 24,
};

/** The multiplexer call that also reaches `name`, if any: ['socketcall', SYS_CONNECT]. */
export function multiplexedAs(name: string): readonly [string, number] | undefined {
  if (SOCKETCALL_CALLS[name] !== undefined) return ['socketcall', SOCKETCALL_CALLS[name]!];
  if (IPC_CALLS[name] !== undefined) return ['ipc', IPC_CALLS[name]!];
  return undefined;
}
