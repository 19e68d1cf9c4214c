/* A jailed program that races the unix socket it connects to, while the main thread connects in
 * a loop: "path": a thread flips sun_path between an allowed and a refused socket path;
 * "symlink": a thread flips the symlink LINK between the two sockets (the main thread connects
 * to LINK). tsjail opens the socket file from its copy of the path and connects to that file, so
 * the refused listener is never reached.
 * usage: unix-race path|symlink ALLOWED REFUSED ROUNDS [LINK]
 * prints: "ok N refused M other K" (connects that succeeded, failed with EACCES, failed otherwise). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_un sa;
static const char *paths[2], *link_path;
static atomic_int stop;

static void *flip_path(void *arg) {
	(void)arg;
	for (unsigned i = 0; !atomic_load(&stop); i++) {
		volatile char *p = sa.sun_path;
		const char *s = paths[i & 1];
		size_t n = strlen(s) + 1;
		for (size_t k = 0; k < n; k++) p[k] = s[k];
	}
	return NULL;
}

static void *flip_link(void *arg) {
	(void)arg;
	char tmp[sizeof sa.sun_path + 8];
	snprintf(tmp, sizeof tmp, "%s.new", link_path);
	for (unsigned i = 0; !atomic_load(&stop); i++) {
		unlink(tmp);
		if (symlink(paths[i & 1], tmp) == 0) rename(tmp, link_path);
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc < 5 || (!strcmp(argv[1], "symlink") && argc != 6)) { fprintf(stderr, "usage: unix-race path|symlink ALLOWED REFUSED ROUNDS [LINK]\n"); return 2; }
	int symlinks = !strcmp(argv[1], "symlink");
	paths[0] = argv[2];
	paths[1] = argv[3];
	link_path = symlinks ? argv[5] : NULL;
	sa.sun_family = AF_UNIX;
	strncpy(sa.sun_path, symlinks ? link_path : paths[0], sizeof sa.sun_path - 1);
	int rounds = atoi(argv[4]), ok = 0, refused = 0, other = 0;
	pthread_t t;
	pthread_create(&t, NULL, symlinks ? flip_link : flip_path, NULL);
	for (int i = 0; i < rounds; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
		int e = errno;
		close(fd);
		if (r == 0) ok++;
		else if (e == EACCES) refused++;
		else other++;
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("ok %d refused %d other %d\n", ok, refused, other);
	return 0;
}
