// proxy/upstream.h - the built-in proxy's upstream protocols (SPEC S17.2, docs/policy.md):
// reaching the original destination through a SOCKS5 server (RFC 1928 CONNECT, with the RFC 1929
// user/password method when the URL has credentials) or an HTTP proxy (CONNECT, Basic
// Proxy-Authorization when the URL has credentials). The upstream's refusal becomes the errno the
// application's connect fails with (verify-before-accept):
//   SOCKS5 reply 1 general failure -> ECONNREFUSED, 2 not allowed by ruleset -> EACCES,
//   3 network unreachable -> ENETUNREACH, 4 host unreachable -> EHOSTUNREACH,
//   5 connection refused -> ECONNREFUSED, 6 TTL expired -> ETIMEDOUT,
//   7 command not supported / 8 address type not supported -> EPROTO (anything else: EPROTO);
//   method refused / authentication failed -> EACCES.
//   HTTP 2xx -> connected; 403 / 407 -> EACCES; 502 -> ECONNREFUSED; 503 -> ENETUNREACH;
//   504 -> ETIMEDOUT; any other status -> ECONNREFUSED; a reply that is not HTTP -> EPROTO.
//   The proxy server itself refusing the connection or not answering: its connect errno
//   (ECONNREFUSED, ETIMEDOUT); the deadline passing during the exchange: ETIMEDOUT.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "openwfp/stack.h"
#include "policy/policy.h"

namespace openwfp::proxy {

int socks5ReplyErrno(uint8_t reply);
int httpStatusErrno(int status);

// Connects a new TCP socket to up.server and asks it for `target` (both blocking, bounded by
// `deadline`). Returns the connected socket (>= 0) or -errno; `detail` gets one line describing a
// failure ("SOCKS5 reply 5 (connection refused)").
int connectThroughUpstream(const policy::Upstream& up, const Endpoint& target,
                           std::chrono::steady_clock::time_point deadline, std::string* detail);

}  // namespace openwfp::proxy
