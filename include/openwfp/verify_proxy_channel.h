/* verify_proxy_channel.h - the channel between the verify_proxy callout driver and its proxy.
 *
 * The driver (examples/verify_proxy) creates the device \Device\OpenwfpVerifyProxy; the proxy
 * talks to it with three buffered device I/O controls, exactly as a Windows proxy would with
 * DeviceIoControl on \\.\OpenwfpVerifyProxy ("inverted call": the proxy keeps a NEXT request
 * outstanding and the driver completes it when a connection needs verifying).
 *
 *   REGISTER  in:  VP_REGISTER        The caller becomes the proxy: its PID is the redirect
 *                                      target PID, its listen ports the redirect destinations.
 *                                      Refused with STATUS_DEVICE_BUSY (EBUSY) while a proxy is
 *                                      registered (until the handle it registered with closes).
 *   NEXT      out: VP_REQUEST         Completed (possibly much later) with the next pended
 *                                      connection: id, original destination, SIO-format records.
 *   OUTCOME   in:  VP_OUTCOME         The proxy's upstream connect result for request `id`; the
 *                                      driver completes the pended connect PERMIT (0) or BLOCK.
 *   OUTCOME_NEXT  in: VP_OUTCOME, out: VP_REQUEST   Both in one request (one crossing of the
 *                                      channel instead of two): the outcome is applied, then the
 *                                      request waits as a NEXT. An outcome that finds nothing
 *                                      completes it at once with STATUS_NOT_FOUND (ENOENT) and no
 *                                      request; any other failure means the outcome was applied.
 *
 * While no proxy is registered, the driver BLOCKs the connects it would redirect (fail closed,
 * SPEC S14.8) and says so in one line per episode. A pended connect is completed BLOCK by the
 * driver when its deadline passes (VP_REGISTER.pendTimeoutMs after it was pended); the request
 * carries that deadline so a proxy that gets it late (it was stopped, overloaded) skips the
 * upstream connect; an OUTCOME for it then finds nothing (STATUS_NOT_FOUND, ENOENT) and changes
 * nothing. Keep pendTimeoutMs below the engine's pend deadline (30 s by default, S6.4), so that
 * the driver, not the engine, ends a pended connect.
 *
 * The accepted socket's redirect context (SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT) is a
 * VP_CONTEXT: the proxy uses `id` to pair the accepted client with the upstream socket it
 * already connected. Plain C, fixed-width types, no Windows or Linux headers: both the driver
 * (built against the WDK headers) and the proxy (a Linux program) include it.
 */
#ifndef OPENWFP_VERIFY_PROXY_CHANNEL_H
#define OPENWFP_VERIFY_PROXY_CHANNEL_H

#include <stdint.h>

#define VP_DEVICE_NAME L"\\Device\\OpenwfpVerifyProxy"
#define VP_SYMLINK_NAME L"\\DosDevices\\OpenwfpVerifyProxy"
#define VP_USER_PATH "\\\\.\\OpenwfpVerifyProxy"

/* CTL_CODE(FILE_DEVICE_NETWORK (0x12), 0x800 + n, METHOD_BUFFERED (0), FILE_ANY_ACCESS (0)) */
#define VP_CTL(n) ((uint32_t)((0x12u << 16) | ((0x800u + (n)) << 2)))
#define IOCTL_VP_REGISTER VP_CTL(0)
#define IOCTL_VP_NEXT VP_CTL(1)
#define IOCTL_VP_OUTCOME VP_CTL(2)
#define IOCTL_VP_OUTCOME_NEXT VP_CTL(4)
/* CTL_CODE(FILE_DEVICE_NETWORK, 0x803, METHOD_BUFFERED, FILE_WRITE_ACCESS (2)): the device's
 * descriptor grants write only to SY (the engine's uid) and BA (root), not to RC (supervised
 * processes), so nothing inside a session can turn the fail-closed default off. */
#define IOCTL_VP_SET_POLICY ((uint32_t)((0x12u << 16) | (2u << 14) | ((0x800u + 3u) << 2)))

/* VP_POLICY.withoutProxy: what the driver does with a connect it would redirect while no proxy
 * is registered. BLOCK is the default (fail closed, SPEC S14.8). */
#define VP_WITHOUT_PROXY_BLOCK 0u
#define VP_WITHOUT_PROXY_PERMIT 1u
typedef struct VP_POLICY {
  uint32_t withoutProxy;
} VP_POLICY;

#define VP_MAX_RECORDS 512
/* The pend timeout when VP_REGISTER.pendTimeoutMs is 0 (below the engine's 30 s default). */
#define VP_DEFAULT_PEND_TIMEOUT_MS 20000u

/* An IP endpoint: family 4 or 6, port in host order, address bytes in network order
 * (a v4 address in addr[0..3]). */
typedef struct VP_ENDPOINT {
  uint8_t family;
  uint8_t reserved;
  uint16_t port;
  uint8_t addr[16];
} VP_ENDPOINT;

/* VP_REGISTER.flags. APPLICATION_SOCKET (openwfp extension, hand-off in place): each NEXT
 * reply to the registered proxy's process also carries the application's own socket of the
 * connection (take it with openwfp_device_take_descriptor; VP_REQUEST.flags then has
 * VP_REQUEST_APPLICATION_SOCKET). The proxy connects that socket to the destination itself and
 * reports the OUTCOME: no socket of its own, no relay, and the application keeps its socket with
 * every option it set. A failed connect must leave it unconnected (connect with AF_UNSPEC). Only
 * for a proxy outside the session (its connects classified by nobody). A driver or stack without
 * it sends no socket, nor for a socket already connected or connecting. */
#define VP_REGISTER_APPLICATION_SOCKET 0x1u
#define VP_REQUEST_APPLICATION_SOCKET 0x1u

typedef struct VP_REGISTER {
  uint16_t listenPortV4; /* the proxy listens on 127.0.0.1:listenPortV4 */
  uint16_t listenPortV6; /* and on [::1]:listenPortV6 (0: no IPv6) */
  uint32_t pendTimeoutMs; /* a pended connect not answered within this is BLOCKed (0: default);
                             optional: a 4-byte REGISTER gets the default */
  uint32_t flags;         /* VP_REGISTER_*; optional: an 8-byte REGISTER has none */
} VP_REGISTER;

typedef struct VP_REQUEST {
  uint64_t id;
  VP_ENDPOINT originalDestination;
  uint32_t appPid; /* the process whose connect is pended */
  uint32_t recordsSize;
  uint32_t flags;                  /* VP_REQUEST_*; keeps deadline and records 8-byte aligned */
  uint64_t deadline;               /* the driver BLOCKs this connect then: KeQueryInterruptTime()
                                      units, 100 ns of the monotonic clock (CLOCK_MONOTONIC in
                                      openwfp; QueryInterruptTime() in Windows user mode) */
  uint8_t records[VP_MAX_RECORDS]; /* FwpsQueryConnectionSioFormatRedirectRecords0 output */
} VP_REQUEST;

typedef struct VP_OUTCOME {
  uint64_t id;
  int32_t error; /* 0: upstream connected; otherwise the errno of the failed connect */
} VP_OUTCOME;

typedef struct VP_CONTEXT {
  uint64_t id;
  VP_ENDPOINT originalDestination;
} VP_CONTEXT;

#endif
