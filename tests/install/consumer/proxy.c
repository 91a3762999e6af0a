/* A proxy's use of libopenwfp in C, built with `pkg-config --cflags --libs openwfp`: the redirect
 * records of a socket that was not redirected (an unconnected one: ENOTCONN, S9), and the
 * version of the library. Prints "proxy: ok <version>" and exits 0 when all is as documented. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "openwfp/version.h"
#include "openwfp/winsock.h"

int main(void) {
  unsigned char buf[512];
  size_t returned = 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return perror("socket"), 1;
  errno = 0;
  int rc = openwfp_ioctl(fd, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, NULL, 0, buf, sizeof buf, &returned);
  if (rc != -1 || errno != ENOTCONN) {
    fprintf(stderr, "proxy: openwfp_ioctl on an unconnected socket: rc %d errno %s, want -1 ENOTCONN\n", rc,
            strerror(errno));
    return 1;
  }
  if (strcmp(openwfp_version(), OPENWFP_VERSION_STRING) != 0) {
    fprintf(stderr, "proxy: library %s, headers %s\n", openwfp_version(), OPENWFP_VERSION_STRING);
    return 1;
  }
  close(fd);
  printf("proxy: ok %s\n", openwfp_version());
  return 0;
}
