/*
 * split_tunnel.h - the IOCTL interface of the KMDF split-tunnel example (split_tunnel.c) and its
 * configurator (st_config.c). Fixed-width types only, so user mode includes it without the WDK
 * headers. The codes are CTL_CODE(FILE_DEVICE_UNKNOWN, 0x801.., METHOD_BUFFERED,
 * FILE_ANY_ACCESS); the driver checks them against CTL_CODE at compile time.
 */
#ifndef SPLIT_TUNNEL_H
#define SPLIT_TUNNEL_H
#include <stdint.h>

#define ST_DEVICE_PATH "\\\\.\\OpenwfpSplitTunnel"

#define ST_IOCTL_ADD_APP 0x00222004u   /* in: ST_APP_RULE */
#define ST_IOCTL_CLEAR 0x00222008u     /* no buffers: forget every rule */
#define ST_IOCTL_GET_STATS 0x0022200Cu /* out: ST_STATS */

#define ST_MAX_RULES 16
#define ST_PATH_MAX 256

/* One application's rule. Addresses are IPv4 in host byte order; 0 = not used. */
typedef struct ST_APP_RULE {
  char path[ST_PATH_MAX];   /* image path of the application, UTF-8 (ASCII compared exactly) */
  uint32_t connectFrom;     /* redirect this app's connects to this address only (0 = any) */
  uint32_t connectTo;       /* connect redirect: new destination address (0 = none) */
  uint16_t connectToPort;   /* ... and port (0 = keep the original port) */
  uint16_t reserved;
  uint32_t connectTargetPid; /* localRedirectTargetPID: the process that accepts the redirect */
  uint32_t bindTo;          /* bind redirect: new local address, port kept (0 = none) */
} ST_APP_RULE;

typedef struct ST_STATS {
  uint32_t rules;
  uint32_t connectRedirects; /* connects redirected */
  uint32_t bindRedirects;    /* binds moved */
  uint32_t flowsTracked;     /* flow contexts associated (one per redirected connection) */
  uint32_t flowsDeleted;     /* flowDeleteFn calls: redirected connections that ended */
  uint32_t ioctls;           /* EvtIoDeviceControl calls */
} ST_STATS;

#endif /* SPLIT_TUNNEL_H */
