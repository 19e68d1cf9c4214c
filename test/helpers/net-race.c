/* A jailed program that races its own sockaddr: one thread flips the address between an
 * allowed and a refused one while the main thread connects or sends to it in a loop. tsjail
 * decides on its copy and performs the call with it, so the refused address is never reached.
 * usage: net-race connect|sendto|sendmsg|sendmmsg ALLOWED_IP REFUSED_IP PORT ROUNDS
 * prints: "ok N refused M other K" (calls that succeeded, failed with EPERM, failed otherwise). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in sa;
static struct in_addr addrs[2];
static atomic_int stop;

static void *flipper(void *arg) {
	(void)arg;
	for (unsigned i = 0; !atomic_load(&stop); i++) ((volatile struct sockaddr_in *)&sa)->sin_addr = addrs[i & 1];
	return NULL;
}

int main(int argc, char **argv) {
	if (argc != 6) { fprintf(stderr, "usage: net-race connect|sendto|sendmsg|sendmmsg ALLOWED REFUSED PORT ROUNDS\n"); return 2; }
	const char *mode = argv[1];
	inet_pton(AF_INET, argv[2], &addrs[0]);
	inet_pton(AF_INET, argv[3], &addrs[1]);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(argv[4]));
	sa.sin_addr = addrs[0];
	int rounds = atoi(argv[5]), ok = 0, refused = 0, other = 0;
	pthread_t t;
	pthread_create(&t, NULL, flipper, NULL);
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	for (int i = 0; i < rounds; i++) {
		int r;
		if (!strcmp(mode, "connect")) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
			int e = errno;
			close(fd);
			errno = e;
		} else if (!strcmp(mode, "sendto")) {
			r = (int)sendto(udp, "x", 1, 0, (struct sockaddr *)&sa, sizeof sa);
		} else {
			struct iovec iov = { "x", 1 };
			struct mmsghdr m;
			memset(&m, 0, sizeof m);
			m.msg_hdr.msg_name = &sa;
			m.msg_hdr.msg_namelen = sizeof sa;
			m.msg_hdr.msg_iov = &iov;
			m.msg_hdr.msg_iovlen = 1;
			r = !strcmp(mode, "sendmsg") ? (int)sendmsg(udp, &m.msg_hdr, 0) : sendmmsg(udp, &m, 1, 0) == 1 && m.msg_len == 1 ? 0 : -1;
		}
		if (r >= 0) ok++;
		else if (errno == EPERM) refused++;
		else other++;
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("ok %d refused %d other %d\n", ok, refused, other);
	return 0;
}
