/*
 * tests/linux/control_test_proxy.c - a minimal local proxy in C for the control channel tests: it
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
 *   control_test_proxy vp LISTEN_PORT REACHABLE_PORT CLOSED_PORT
 *     the proxy of the verify_proxy driver (examples/verify_proxy), talking to its device over
 *     the control channel: opens \\.\OpenwfpVerifyProxy, REGISTERs, waits for "go" on stdin,
 *     then for an app connecting to 127.0.0.1:REACHABLE_PORT: NEXT (pended until the driver
 *     has the app's connect), SIO_SET the records, connect upstream, OUTCOME ok, accept the
 *     app, check the context; and for an app connecting to 127.0.0.1:CLOSED_PORT: the upstream
 *     connect is refused, OUTCOME with the error, the app is refused at once and never accepted.
 *   control_test_proxy claim LISTEN_PORT OUT_IP
 *     the transparent proxy of a policy `redirect` rule (drivers/policy): opens \\.\OpenwfpPolicy,
 *     CLAIMs 127.0.0.1:LISTEN_PORT (IOCTL_POLICY_CLAIM), listens there and prints "ready"; accepts
 *     one connection (10 s at most), reads its context (VP_CONTEXT: rule number and original
 *     destination, printed as "context rule=N orig=IP:PORT"), SIO_SETs the records on its
 *     outbound socket (bound to OUT_IP), connects to the original destination and relays the
 *     app's first read upstream and the upstream's bytes back until it closes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "openwfp/device.h"
#include "openwfp/policy_channel.h"
#include "openwfp/verify_proxy_channel.h"
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

/* An app whose connect must be refused at once. */
static int runRefusedApp(int port) {
  int fd = connectTo("127.0.0.1", port);
  if (fd >= 0) return 5;
  return errno == ECONNREFUSED ? 0 : 6;
}

static int nextRequest(int h, VP_REQUEST* req) {
  size_t returned = 0;
  memset(req, 0, sizeof *req);
  if (openwfp_device_ioctl(h, IOCTL_VP_NEXT, NULL, 0, req, sizeof *req, &returned) != 0) return errno;
  return returned == sizeof *req ? 0 : -1;
}

/* A same-uid process outside the supervised tree trying to take the proxy's place: it opens the
 * verify_proxy device (its descriptor grants the engine's uid) and REGISTERs its own port. With
 * a proxy registered the driver must refuse it (STATUS_DEVICE_BUSY, errno EBUSY). Exit 0 only
 * then. */
static int runHijack(int listenPort) {
  VP_REGISTER reg;
  size_t returned = 0;
  int rc, err, h = openwfp_device_open(VP_USER_PATH);
  if (h < 0) {
    printf("hijack device-open errno=%d\n", errno);
    return 1;
  }
  memset(&reg, 0, sizeof reg);
  reg.listenPortV4 = (uint16_t)listenPort;
  rc = openwfp_device_ioctl(h, IOCTL_VP_REGISTER, &reg, sizeof reg, NULL, 0, &returned);
  err = errno;
  openwfp_device_close(h);
  printf("hijack register rc=%d errno=%d\n", rc, rc == 0 ? 0 : err);
  return rc != 0 && err == EBUSY ? 0 : 1;
}

static int runVerifyProxy(int listenPort, int reachablePort, int closedPort) {
  struct sockaddr_in sa;
  VP_REGISTER reg;
  VP_REQUEST req;
  VP_OUTCOME outcome;
  VP_CONTEXT ctx;
  size_t returned = 0;
  int one = 1, rc, h, listener, accepted, outbound, status, err;
  pid_t app;
  char go, hello[5];

  listener = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)listenPort);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  step("listen", bind(listener, (struct sockaddr*)&sa, sizeof sa) == 0 && listen(listener, 8) == 0, errno);

  h = openwfp_device_open(VP_USER_PATH);
  step("device-open", h >= 0, errno);
  if (h < 0) return 1;
  reg.listenPortV4 = (uint16_t)listenPort;
  reg.listenPortV6 = 0;
  reg.pendTimeoutMs = 0;
  rc = openwfp_device_ioctl(h, IOCTL_VP_REGISTER, &reg, sizeof reg, NULL, 0, &returned);
  step("register", rc == 0, errno);
  if (read(0, &go, 1) != 1) return 2;

  /* Reachable destination. */
  app = fork();
  if (app == 0) _exit(runApp("127.0.0.1", reachablePort));
  err = nextRequest(h, &req);
  step("next", err == 0 && req.originalDestination.port == reachablePort && req.appPid == (uint32_t)app &&
                   req.recordsSize > 0,
       err);
  outbound = socket(AF_INET, SOCK_STREAM, 0);
  rc = openwfp_ioctl(outbound, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, req.records, req.recordsSize, NULL, 0, &returned);
  step("set-records", rc == 0, errno);
  sa.sin_port = htons((unsigned short)reachablePort);
  rc = connect(outbound, (struct sockaddr*)&sa, sizeof sa);
  step("upstream-connect", rc == 0, errno);
  step("upstream-send", rc == 0 && write(outbound, "up", 2) == 2, errno);
  outcome.id = req.id;
  outcome.error = rc == 0 ? 0 : errno;
  rc = openwfp_device_ioctl(h, IOCTL_VP_OUTCOME, &outcome, sizeof outcome, NULL, 0, &returned);
  step("outcome", rc == 0, errno);
  accepted = accept(listener, NULL, NULL);
  step("accept", accepted >= 0, errno);
  memset(&ctx, 0, sizeof ctx);
  rc = openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, NULL, 0, &ctx, sizeof ctx, &returned);
  step("context", rc == 0 && returned == sizeof ctx && ctx.id == req.id && ctx.originalDestination.port == reachablePort,
       errno);
  step("app-hello", readExactly(accepted, hello, 5) == 0 && memcmp(hello, "hello", 5) == 0, errno);
  step("app-world", write(accepted, "world", 5) == 5, errno);
  status = -1;
  waitpid(app, &status, 0);
  step("app-exit", WIFEXITED(status) && WEXITSTATUS(status) == 0, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  close(accepted);
  close(outbound);

  /* Unreachable destination. */
  app = fork();
  if (app == 0) _exit(runRefusedApp(closedPort));
  err = nextRequest(h, &req);
  step("next-closed", err == 0 && req.originalDestination.port == closedPort, err);
  outbound = socket(AF_INET, SOCK_STREAM, 0);
  openwfp_ioctl(outbound, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, req.records, req.recordsSize, NULL, 0, &returned);
  sa.sin_port = htons((unsigned short)closedPort);
  rc = connect(outbound, (struct sockaddr*)&sa, sizeof sa);
  step("upstream-refused", rc == -1 && errno == ECONNREFUSED, errno);
  outcome.id = req.id;
  outcome.error = ECONNREFUSED;
  rc = openwfp_device_ioctl(h, IOCTL_VP_OUTCOME, &outcome, sizeof outcome, NULL, 0, &returned);
  step("outcome-refused", rc == 0, errno);
  status = -1;
  waitpid(app, &status, 0);
  step("app-refused", WIFEXITED(status) && WEXITSTATUS(status) == 0, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  close(outbound);
  {
    int flags = 1;
    struct timeval tv = {0, 100000};
    setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    accepted = accept(listener, NULL, NULL);
    flags = accepted < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    step("never-accepted", flags, errno);
  }
  step("device-close", openwfp_device_close(h) == 0, errno);
  close(listener);
  printf("failures %d\n", failures);
  return failures == 0 ? 0 : 1;
}

static int runPolicyClaim(int listenPort, const char* outIp) {
  struct sockaddr_in sa;
  struct pollfd pf;
  unsigned char records[1024];
  char buf[4096], orig[INET_ADDRSTRLEN];
  VP_ENDPOINT ep;
  VP_CONTEXT ctx;
  size_t returned = 0, recordsSize = 0;
  ssize_t n;
  int one = 1, rc, listener, accepted, outbound, h;

  h = openwfp_device_open(POLICY_USER_PATH);
  step("policy-open", h >= 0, errno);
  if (h < 0) return 1;
  memset(&ep, 0, sizeof ep);
  ep.family = 4;
  ep.port = (uint16_t)listenPort;
  ep.addr[0] = 127;
  ep.addr[3] = 1;
  rc = openwfp_device_ioctl(h, IOCTL_POLICY_CLAIM, &ep, sizeof ep, NULL, 0, &returned);
  step("claim", rc == 0, errno);
  if (rc != 0) return 1;
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
  printf("ready\n");
  fflush(stdout);
  pf.fd = listener;
  pf.events = POLLIN;
  pf.revents = 0;
  step("accept-within-10s", poll(&pf, 1, 10000) == 1, errno);
  if (failures) return 1;
  accepted = accept(listener, NULL, NULL);
  step("accept", accepted >= 0, errno);
  if (accepted < 0) return 1;
  rc = openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, NULL, 0, &ctx, sizeof ctx, &returned);
  step("context", rc == 0 && returned == sizeof ctx && ctx.originalDestination.family == 4, errno);
  if (rc != 0) return 1;
  inet_ntop(AF_INET, ctx.originalDestination.addr, orig, sizeof orig);
  printf("context rule=%llu orig=%s:%u\n", (unsigned long long)ctx.id, orig,
         (unsigned)ctx.originalDestination.port);
  rc = openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, NULL, 0, records, sizeof records,
                     &recordsSize);
  step("records", rc == 0 && recordsSize > 0, errno);
  outbound = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  inet_pton(AF_INET, outIp, &sa.sin_addr);
  step("bind-out", bind(outbound, (struct sockaddr*)&sa, sizeof sa) == 0, errno);
  rc = openwfp_ioctl(outbound, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records, recordsSize, NULL, 0, &returned);
  step("set-records", rc == 0, errno);
  sa.sin_port = htons(ctx.originalDestination.port);
  memcpy(&sa.sin_addr, ctx.originalDestination.addr, 4);
  rc = connect(outbound, (struct sockaddr*)&sa, sizeof sa);
  step("upstream-connect", rc == 0, errno);
  if (rc != 0) return 1;
  n = read(accepted, buf, sizeof buf);
  step("app-request", n > 0 && write(outbound, buf, (size_t)n) == n, errno);
  while ((n = read(outbound, buf, sizeof buf)) > 0)
    if (write(accepted, buf, (size_t)n) != n) break;
  close(outbound);
  close(accepted);
  close(listener);
  openwfp_device_close(h);
  printf("failures %d\n", failures);
  return failures == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 4 && strcmp(argv[1], "app") == 0) return runApp(argv[2], atoi(argv[3]));
  if (argc >= 3 && strcmp(argv[1], "hijack") == 0) return runHijack(atoi(argv[2]));
  if (argc >= 4 && strcmp(argv[1], "claim") == 0) return runPolicyClaim(atoi(argv[2]), argv[3]);
  if (argc >= 5 && strcmp(argv[1], "vp") == 0) return runVerifyProxy(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  if (argc >= 6 && strcmp(argv[1], "proxy") == 0) {
    return runProxy(atoi(argv[2]), argv[3], atoi(argv[4]), atoi(argv[5]), argc >= 7 && strcmp(argv[6], "spawn-app") == 0);
  }
  fprintf(stderr, "usage: control_test_proxy proxy LISTEN_PORT ORIG_IP ORIG_PORT UPSTREAM_PORT [spawn-app] | app IP PORT | vp LISTEN REACHABLE CLOSED | hijack PORT | claim LISTEN_PORT OUT_IP\n");
  return 2;
}
