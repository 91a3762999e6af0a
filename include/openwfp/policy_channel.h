/* policy_channel.h - the channel of the built-in policy callout driver (drivers/policy).
 *
 * The driver creates \Device\OpenwfpPolicy (user path \\.\OpenwfpPolicy). Its rules come from
 * the host after load, as one buffered device I/O control, exactly as a Windows service would
 * hand a driver its configuration with DeviceIoControl:
 *
 *   LOAD    in:  POLICY_RULES (header + count rules)   Replaces the rule set: the filters of the
 *                                                      old set are deleted and the new ones added
 *                                                      in one transaction (all or nothing).
 *   CLEAR   no buffers                                  Deletes every rule filter.
 *   CLAIM   in:  VP_ENDPOINT                            The caller becomes the redirect target
 *                                                      (localRedirectTargetPID) of `redirect`
 *                                                      rules to that endpoint, until the handle
 *                                                      it claimed with closes. A redirect rule
 *                                                      whose endpoint nobody claimed BLOCKs
 *                                                      (fail closed, S14.8).
 *
 * `proxy` rules go through the built-in proxy with the verify-before-accept flow of
 * verify_proxy_channel.h, on this device: IOCTL_VP_REGISTER / IOCTL_VP_OUTCOME as there, and
 * IOCTL_VP_NEXT whose output is a POLICY_PROXY_REQUEST (a VP_REQUEST followed by the upstream the
 * rule named). While no proxy is registered, proxy rules BLOCK.
 *
 * Plain C, fixed-width types, no Windows or Linux headers: the driver and the host include it.
 */
#ifndef OPENWFP_POLICY_CHANNEL_H
#define OPENWFP_POLICY_CHANNEL_H

#include <stdint.h>

#include "verify_proxy_channel.h"

#define POLICY_DEVICE_NAME L"\\Device\\OpenwfpPolicy"
#define POLICY_SYMLINK_NAME L"\\DosDevices\\OpenwfpPolicy"
#define POLICY_USER_PATH "\\\\.\\OpenwfpPolicy"

#define IOCTL_POLICY_LOAD VP_CTL(16)
#define IOCTL_POLICY_CLEAR VP_CTL(17)
#define IOCTL_POLICY_CLAIM VP_CTL(18)

#define POLICY_VERSION 1u
#define POLICY_MAX_RULES 1024u
#define POLICY_MAX_APP 256u        /* app glob, UTF-8, NUL-terminated */
#define POLICY_MAX_CREDENTIAL 256u /* RFC 1929: at most 255 bytes, NUL-terminated here */

/* POLICY_RULE.match bits: which match keys the rule has. */
#define POLICY_MATCH_APP 0x01u
#define POLICY_MATCH_UID 0x02u
#define POLICY_MATCH_REMOTE 0x04u
#define POLICY_MATCH_PORT 0x08u
#define POLICY_MATCH_PROTOCOL 0x10u

/* POLICY_RULE.action */
#define POLICY_ACTION_PERMIT 1u
#define POLICY_ACTION_BLOCK 2u
#define POLICY_ACTION_REDIRECT 3u
#define POLICY_ACTION_PROXY 4u

/* POLICY_UPSTREAM.kind */
#define POLICY_UPSTREAM_DIRECT 1u
#define POLICY_UPSTREAM_SOCKS5 2u
#define POLICY_UPSTREAM_HTTP 3u

typedef struct POLICY_UPSTREAM {
  uint8_t kind;
  uint8_t reserved[3];
  VP_ENDPOINT server;                   /* SOCKS5 / HTTP proxy address (unused for DIRECT) */
  char user[POLICY_MAX_CREDENTIAL];     /* "" = no authentication */
  char password[POLICY_MAX_CREDENTIAL];
} POLICY_UPSTREAM;

typedef struct POLICY_RULE {
  uint32_t match;        /* POLICY_MATCH_* */
  uint32_t action;       /* POLICY_ACTION_* */
  uint32_t uid;
  int32_t blockErrno;    /* BLOCK: the errno the connect fails with */
  uint16_t portLow;      /* PORT: inclusive range, host order */
  uint16_t portHigh;
  uint8_t protocol;      /* PROTOCOL: 6 TCP, 17 UDP */
  uint8_t remoteFamily;  /* REMOTE: 4 or 6 */
  uint8_t remotePrefix;  /* REMOTE: prefix length (32 / 128 for one address) */
  uint8_t reserved;
  uint8_t remote[16];    /* REMOTE: network byte order (v4 in remote[0..3]) */
  uint32_t line;         /* where the rule is in its file (for the driver's log lines) */
  VP_ENDPOINT redirect;  /* REDIRECT: the destination */
  POLICY_UPSTREAM upstream; /* PROXY */
  char app[POLICY_MAX_APP]; /* APP: glob ('*' any run of bytes, '?' one byte) */
} POLICY_RULE;

typedef struct POLICY_RULES {
  uint32_t version; /* POLICY_VERSION */
  uint32_t count;   /* rules that follow; at most POLICY_MAX_RULES */
  /* POLICY_RULE rules[count]; */
} POLICY_RULES;

typedef struct POLICY_PROXY_REQUEST {
  VP_REQUEST request;
  uint32_t ruleIndex; /* 0-based position of the rule in the loaded set */
  uint32_t reserved;
  POLICY_UPSTREAM upstream;
} POLICY_PROXY_REQUEST;

#endif
