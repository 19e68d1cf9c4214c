/* A jailed DNS client that sends the way tsjail's stopped calls do not see: write() on a
 * connected socket, UDP or TCP (two-byte length framing), as Go, c-ares and glibc's single-family
 * lookups do.
 * usage: dns-probe udp|tcp RESOLVER NAME        one A query; prints "rcode N answers M"
 *        dns-probe flood RESOLVER NAME COUNT    COUNT queries on one connected UDP socket, then
 *                                               reads for 1 s; prints "answers N servfail M"
 *        dns-probe race RESOLVER REFUSED PORT ROUNDS
 *            each round: a thread connects the UDP socket's fd to REFUSED:PORT, or closes it and
 *            puts a new socket at its number, while the main thread connects it to RESOLVER:53;
 *            then the main thread write()s to whatever the fd is. Prints "rounds N". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static size_t query(unsigned char *q, unsigned id, const char *name) {
	unsigned char head[12] = { id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
	memcpy(q, head, 12);
	size_t at = 12;
	for (const char *p = name; *p;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		q[at++] = (unsigned char)len;
		memcpy(q + at, p, len);
		at += len;
		p += len + (dot ? 1 : 0);
	}
	q[at++] = 0;
	q[at++] = 0; q[at++] = 1; /* A */
	q[at++] = 0; q[at++] = 1; /* IN */
	return at;
}

static struct sockaddr_in address(const char *ip, int port) {
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static int readable(int fd, int ms) {
	struct pollfd p = { fd, POLLIN, 0 };
	return poll(&p, 1, ms) == 1;
}

static int one(const char *how, const char *resolver, const char *name) {
	int tcp = !strcmp(how, "tcp");
	int fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	struct sockaddr_in a = address(resolver, 53);
	if (connect(fd, (struct sockaddr *)&a, sizeof a)) { printf("connect: %s\n", strerror(errno)); return 1; }
	unsigned char q[2 + 512], r[2 + 4096];
	size_t n = query(q + 2, 0x4242, name);
	q[0] = (unsigned char)(n >> 8); q[1] = (unsigned char)n;
	if (write(fd, tcp ? q : q + 2, tcp ? n + 2 : n) < 0) { printf("write: %s\n", strerror(errno)); return 1; }
	ssize_t got = 0;
	while (readable(fd, 3000)) {
		ssize_t k = read(fd, r + got, sizeof r - (size_t)got);
		if (k <= 0) break;
		got += k;
		if (!tcp || (got >= 2 && got >= 2 + ((r[0] << 8) | r[1]))) break;
	}
	unsigned char *m = tcp ? r + 2 : r;
	if (got < (tcp ? 14 : 12)) { printf("no answer\n"); return 0; }
	printf("rcode %d answers %d\n", m[3] & 0xf, (m[6] << 8) | m[7]);
	return 0;
}

static int flood(const char *resolver, const char *name, int count) {
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = address(resolver, 53);
	if (connect(fd, (struct sockaddr *)&a, sizeof a)) { printf("connect: %s\n", strerror(errno)); return 1; }
	unsigned char q[512], r[4096];
	int answers = 0, servfail = 0;
	for (int i = 0; i < count; i++) {
		size_t n = query(q, (unsigned)i, name);
		while (write(fd, q, n) < 0 && errno == EAGAIN) {}
		while (readable(fd, 0) && read(fd, r, sizeof r) >= 4) { answers++; servfail += (r[3] & 0xf) == 2; }
	}
	while (readable(fd, 1000)) if (read(fd, r, sizeof r) >= 4) { answers++; servfail += (r[3] & 0xf) == 2; }
	printf("answers %d servfail %d\n", answers, servfail);
	return 0;
}

static int racing_fd;
static struct sockaddr_in refused;
static pthread_barrier_t go;

static void *racer(void *arg) {
	long round = (long)arg;
	pthread_barrier_wait(&go);
	if (round & 1) {
		connect(racing_fd, (struct sockaddr *)&refused, sizeof refused);
	} else {
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		dup2(s, racing_fd);
		close(s);
		connect(racing_fd, (struct sockaddr *)&refused, sizeof refused);
	}
	return NULL;
}

static int race(const char *resolver, const char *refused_ip, int port, int rounds) {
	struct sockaddr_in a = address(resolver, 53);
	refused = address(refused_ip, port);
	unsigned char q[512];
	size_t n = query(q, 7, "race.allowed.test");
	for (long i = 0; i < rounds; i++) {
		racing_fd = socket(AF_INET, SOCK_DGRAM, 0);
		pthread_t t;
		pthread_barrier_init(&go, NULL, 2);
		pthread_create(&t, NULL, racer, (void *)i);
		pthread_barrier_wait(&go);
		connect(racing_fd, (struct sockaddr *)&a, sizeof a);
		pthread_join(t, NULL);
		pthread_barrier_destroy(&go);
		if (write(racing_fd, q, n) < 0) { /* not connected, or refused: nothing sent */ }
		sendto(racing_fd, "x", 1, 0, NULL, 0);
		close(racing_fd);
	}
	printf("rounds %d\n", rounds);
	return 0;
}

int main(int argc, char **argv) {
	if (argc == 4 && (!strcmp(argv[1], "udp") || !strcmp(argv[1], "tcp"))) return one(argv[1], argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "flood")) return flood(argv[2], argv[3], atoi(argv[4]));
	if (argc == 6 && !strcmp(argv[1], "race")) return race(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
	fprintf(stderr, "usage: dns-probe udp|tcp RESOLVER NAME | flood RESOLVER NAME COUNT | race RESOLVER REFUSED PORT ROUNDS\n");
	return 2;
}
