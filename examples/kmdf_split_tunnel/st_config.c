/*
 * st_config.c - the user-mode configurator of the KMDF split-tunnel example: sends the rules to
 * the driver's control device as IOCTLs (openwfp/device.h: CreateFile / DeviceIoControl over the
 * control channel when run under `openwfp run`, the driver is in the engine process).
 *
 *   st_config add PATH [--connect-from A] [--connect-to A[:PORT] --target-pid PID] [--bind-to A]
 *   st_config clear
 *   st_config stats      prints: rules=N connect=N bind=N flows=N deleted=N ioctls=N
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openwfp/device.h"
#include "split_tunnel.h"

static int usage(void) {
  fprintf(stderr,
          "usage: st_config add PATH [--connect-from ADDR] [--connect-to ADDR[:PORT] --target-pid PID] "
          "[--bind-to ADDR]\n       st_config clear\n       st_config stats\n");
  return 2;
}

/* "a.b.c.d" or "a.b.c.d:port" -> host-order address (and port); 0 on error. */
static int parseV4(const char* text, uint32_t* addr, uint16_t* port) {
  char buf[64];
  char* colon;
  struct in_addr in;
  if (strlen(text) >= sizeof buf) return 0;
  strcpy(buf, text);
  colon = strchr(buf, ':');
  if (colon) {
    long p;
    char* end;
    if (!port) return 0;
    *colon = '\0';
    p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || p <= 0 || p > 65535) return 0;
    *port = (uint16_t)p;
  }
  if (inet_pton(AF_INET, buf, &in) != 1) return 0;
  *addr = ntohl(in.s_addr);
  return 1;
}

static int fail(const char* what) {
  fprintf(stderr, "st_config: %s: %s (NTSTATUS 0x%08x)\n", what, strerror(errno),
          (unsigned)openwfp_device_last_status());
  return 1;
}

int main(int argc, char** argv) {
  int h, rc = 0;
  if (argc < 2) return usage();
  h = openwfp_device_open(ST_DEVICE_PATH);
  if (h < 0) return fail("open " ST_DEVICE_PATH);
  if (strcmp(argv[1], "add") == 0 && argc >= 3) {
    ST_APP_RULE rule;
    int i;
    memset(&rule, 0, sizeof rule);
    if (strlen(argv[2]) >= sizeof rule.path) return usage();
    strcpy(rule.path, argv[2]);
    for (i = 3; i + 1 < argc; i += 2) {
      int ok;
      if (strcmp(argv[i], "--connect-from") == 0) {
        ok = parseV4(argv[i + 1], &rule.connectFrom, NULL);
      } else if (strcmp(argv[i], "--connect-to") == 0) {
        ok = parseV4(argv[i + 1], &rule.connectTo, &rule.connectToPort);
      } else if (strcmp(argv[i], "--bind-to") == 0) {
        ok = parseV4(argv[i + 1], &rule.bindTo, NULL);
      } else if (strcmp(argv[i], "--target-pid") == 0) {
        rule.connectTargetPid = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        ok = rule.connectTargetPid != 0;
      } else {
        ok = 0;
      }
      if (!ok) {
        fprintf(stderr, "st_config: bad option %s %s\n", argv[i], argv[i + 1]);
        return usage();
      }
    }
    if (i != argc) return usage();
    if (openwfp_device_ioctl(h, ST_IOCTL_ADD_APP, &rule, sizeof rule, NULL, 0, NULL) != 0)
      rc = fail("ST_IOCTL_ADD_APP");
  } else if (strcmp(argv[1], "clear") == 0) {
    if (openwfp_device_ioctl(h, ST_IOCTL_CLEAR, NULL, 0, NULL, 0, NULL) != 0) rc = fail("ST_IOCTL_CLEAR");
  } else if (strcmp(argv[1], "stats") == 0) {
    ST_STATS s;
    size_t n = 0;
    memset(&s, 0, sizeof s);
    if (openwfp_device_ioctl(h, ST_IOCTL_GET_STATS, NULL, 0, &s, sizeof s, &n) != 0 || n != sizeof s) {
      rc = fail("ST_IOCTL_GET_STATS");
    } else {
      printf("rules=%u connect=%u bind=%u flows=%u deleted=%u ioctls=%u\n", s.rules, s.connectRedirects,
             s.bindRedirects, s.flowsTracked, s.flowsDeleted, s.ioctls);
    }
  } else {
    rc = usage();
  }
  openwfp_device_close(h);
  return rc;
}
