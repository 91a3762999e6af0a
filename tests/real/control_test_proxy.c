/*
 * tests/real/control_test_proxy.c - a minimal local proxy in C for the control channel tests: it
 * uses only openwfp/winsock.h (openwfp_ioctl, WSAIoctl) on real sockets, the way a Windows proxy
 * uses WSAIoctl.
 *
 *   control_test_proxy proxy LISTEN_PORT ORIG_IP ORIG_PORT UPSTREAM_PORT [spawn-app]
 *     listens on 127.0.0.1:LISTEN_PORT, waits for one byte on stdin ("go"), (spawn-app: forks an
 *     app that connects to ORIG_IP:ORIG_PORT, which the engine redirects here), accepts, and
 *     checks the controls:
 *       SIO_QUERY records: size probe (ENOBUFS + size), then the records
 *       SIO_QUERY context: the callout's context bytes, printed as "context <text>"
 *       a forked child (not the target PID) querying the accepted socket gets EACCES
 *       query on the listening socket -> ENOTCONN, on a pipe -> ENOTSOCK
 *       SIO_SET the records on a new socket, connect it to 127.0.0.1:UPSTREAM_PORT, send "up"
 *       SIO_SET again on the connected socket -> EISCONN
 *       relays "hello" from the app and answers "world"
 *     One line per step ("ok STEP" / "fail STEP errno=N"); exit 0 when every step passed.
 *   control_test_proxy app ORIG_IP ORIG_PORT
 *     connects, sends "hello", expects "world"; exit 0 on success.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "openwfp/winsock.h"

static int failures = 0;

static void step(const char* name, int ok, int err) {
  if (ok) {
    printf("ok %s\n", name);
  } else {
    printf("fail %s errno=%d\n", name, err);
    ++failures;
  }
  fflush(stdout);
}

static int connectTo(const char* ip, int port) {
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  inet_pton(AF_INET, ip, &sa.sin_addr);
  if (connect(fd, (struct sockaddr*)&sa, sizeof sa) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static int readExactly(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static int runApp(const char* ip, int port) {
  char reply[5];
  int fd = connectTo(ip, port);
  if (fd < 0) {
    printf("app connect errno=%d\n", errno);
    return 3;
  }
  if (write(fd, "hello", 5) != 5 || readExactly(fd, reply, 5) != 0 || memcmp(reply, "world", 5) != 0) return 4;
  close(fd);
  return 0;
}

static int runProxy(int listenPort, const char* origIp, int origPort, int upstreamPort, int spawnApp) {
  struct sockaddr_in sa;
  unsigned char records[1024];
  char context[256];
  size_t returned = 0, recordsSize = 0;
  int one = 1, rc, listener, accepted, outbound, pipeFds[2], status;
  pid_t app = -1, other;
  char go, hello[5];
  DWORD bytes = 0;

  listener = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)listenPort);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(listener, 8) != 0) {
    step("listen", 0, errno);
    return 1;
  }
  step("listen", 1, 0);
  /* The engine is ready for our controls once it says so. */
  if (read(0, &go, 1) != 1) return 2;
  if (spawnApp) {
    app = fork();
    if (app == 0) _exit(runApp(origIp, origPort));
  }
  accepted = accept(listener, NULL, NULL);
  step("accept", accepted >= 0, errno);
  if (accepted < 0) return 1;

  /* S9.1: size probe, then the records. */
  errno = 0;
  rc = openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, NULL, 0, NULL, 0, &returned);
  step("records-probe", rc == -1 && errno == ENOBUFS && returned > 0 && returned <= sizeof records, errno);
  rc = openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, NULL, 0, records, sizeof records,
                     &recordsSize);
  step("records", rc == 0 && recordsSize == returned, errno);
  printf("records %zu\n", recordsSize);

  /* S9.2: the context, through the Winsock spelling. */
  memset(context, 0, sizeof context);
  rc = WSAIoctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, NULL, 0, context, sizeof context - 1, &bytes,
                NULL, NULL);
  step("context", rc == 0 && bytes > 0, WSAGetLastError());
  printf("context %s\n", context);

  /* S12.1: another process holding the same socket is not the target PID. */
  other = fork();
  if (other == 0) {
    unsigned char buf[1024];
    size_t n = 0;
    int r = openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, NULL, 0, buf, sizeof buf, &n);
    _exit(r == -1 && errno == EACCES ? 0 : 1);
  }
  status = -1;
  waitpid(other, &status, 0);
  step("other-process-eacces", WIFEXITED(status) && WEXITSTATUS(status) == 0, 0);

  /* S9.3: the listening socket, and something that is not a socket. */
  rc = openwfp_ioctl(listener, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, NULL, 0, records, sizeof records, &returned);
  step("listening-enotconn", rc == -1 && errno == ENOTCONN, errno);
  if (pipe(pipeFds) != 0) return 1;
  rc = openwfp_ioctl(pipeFds[0], SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, NULL, 0, records, sizeof records,
                     &returned);
  step("pipe-enotsock", rc == -1 && errno == ENOTSOCK, errno);
  close(pipeFds[0]);
  close(pipeFds[1]);

  /* S9.4: the records on the outbound socket, then its connect. */
  outbound = socket(AF_INET, SOCK_STREAM, 0);
  rc = openwfp_ioctl(outbound, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records, recordsSize, NULL, 0, &returned);
  step("set-records", rc == 0, errno);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)upstreamPort);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  rc = connect(outbound, (struct sockaddr*)&sa, sizeof sa);
  step("upstream-connect", rc == 0, errno);
  step("upstream-send", rc == 0 && write(outbound, "up", 2) == 2, errno);
  rc = openwfp_ioctl(outbound, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records, recordsSize, NULL, 0, &returned);
  step("set-on-connected-eisconn", rc == -1 && errno == EISCONN, errno);

  /* The app's bytes, through us. */
  rc = readExactly(accepted, hello, 5);
  step("app-hello", rc == 0 && memcmp(hello, "hello", 5) == 0, errno);
  step("app-world", write(accepted, "world", 5) == 5, errno);
  if (app > 0) {
    status = -1;
    waitpid(app, &status, 0);
    step("app-exit", WIFEXITED(status) && WEXITSTATUS(status) == 0, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  }
  close(outbound);
  close(accepted);
  close(listener);
  printf("failures %d\n", failures);
  return failures == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 4 && strcmp(argv[1], "app") == 0) return runApp(argv[2], atoi(argv[3]));
  if (argc >= 6 && strcmp(argv[1], "proxy") == 0) {
    return runProxy(atoi(argv[2]), argv[3], atoi(argv[4]), atoi(argv[5]), argc >= 7 && strcmp(argv[6], "spawn-app") == 0);
  }
  fprintf(stderr, "usage: control_test_proxy proxy LISTEN_PORT ORIG_IP ORIG_PORT UPSTREAM_PORT [spawn-app] | app IP PORT\n");
  return 2;
}
