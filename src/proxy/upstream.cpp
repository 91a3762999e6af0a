#include "proxy/upstream.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace openwfp::proxy {

namespace {

using Clock = std::chrono::steady_clock;

int msLeft(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 3600000));
}

// Waits for `events` on fd until the deadline: 0, ETIMEDOUT or an errno.
int waitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const int ms = msLeft(deadline);
    if (ms == 0) return ETIMEDOUT;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, ms);
    if (n > 0) return 0;
    if (n == 0) return ETIMEDOUT;
    if (errno != EINTR) return errno;
  }
}

int sendAll(int fd, const void* data, size_t len, Clock::time_point deadline) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (len > 0) {
    ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (int e = waitFor(fd, POLLOUT, deadline)) return e;
      continue;
    }
    return n < 0 ? errno : EPIPE;
  }
  return 0;
}

// Reads exactly len bytes (the upstream closing early: ECONNRESET).
int recvAll(int fd, void* data, size_t len, Clock::time_point deadline) {
  auto* p = static_cast<uint8_t*>(data);
  while (len > 0) {
    ssize_t n = ::recv(fd, p, len, 0);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return ECONNRESET;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (int e = waitFor(fd, POLLIN, deadline)) return e;
      continue;
    }
    return errno;
  }
  return 0;
}

int connectTo(const policy::HostPort& hp, Clock::time_point deadline, int* err) {
  int fd = ::socket(hp.family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  sockaddr_storage ss{};
  socklen_t len;
  if (hp.family == 4) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    std::memcpy(&in->sin_addr, hp.addr.data(), 4);
    in->sin_port = htons(hp.port);
    len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    std::memcpy(&in6->sin6_addr, hp.addr.data(), 16);
    in6->sin6_port = htons(hp.port);
    len = sizeof(sockaddr_in6);
  }
  int e = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 ? 0 : errno;
  if (e == EINPROGRESS) {
    e = waitFor(fd, POLLOUT, deadline);
    if (e == 0) {
      socklen_t elen = sizeof e;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0) e = errno;
    }
  }
  if (e != 0) {
    ::close(fd);
    *err = e;
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

const char* socks5ReplyText(uint8_t r) {
  switch (r) {
    case 1: return "general failure";
    case 2: return "connection not allowed by ruleset";
    case 3: return "network unreachable";
    case 4: return "host unreachable";
    case 5: return "connection refused";
    case 6: return "TTL expired";
    case 7: return "command not supported";
    case 8: return "address type not supported";
    default: return "unknown reply";
  }
}

int socks5(int fd, const policy::Upstream& up, const Endpoint& target, Clock::time_point deadline,
           std::string* detail) {
  const bool auth = !up.user.empty();
  const uint8_t hello[3] = {5, 1, static_cast<uint8_t>(auth ? 2 : 0)};
  if (int e = sendAll(fd, hello, sizeof hello, deadline)) return e;
  uint8_t choice[2];
  if (int e = recvAll(fd, choice, 2, deadline)) return e;
  if (choice[0] != 5) {
    *detail = "SOCKS5: the upstream does not speak SOCKS5";
    return EPROTO;
  }
  if (choice[1] != (auth ? 2 : 0)) {
    *detail = choice[1] == 0xFF ? "SOCKS5: no acceptable authentication method" : "SOCKS5: unexpected method";
    return EACCES;
  }
  if (auth) {  // RFC 1929
    std::vector<uint8_t> m{1, static_cast<uint8_t>(up.user.size())};
    m.insert(m.end(), up.user.begin(), up.user.end());
    m.push_back(static_cast<uint8_t>(up.password.size()));
    m.insert(m.end(), up.password.begin(), up.password.end());
    if (int e = sendAll(fd, m.data(), m.size(), deadline)) return e;
    uint8_t status[2];
    if (int e = recvAll(fd, status, 2, deadline)) return e;
    if (status[1] != 0) {
      *detail = "SOCKS5: user/password authentication failed";
      return EACCES;
    }
  }
  std::vector<uint8_t> req{5, 1, 0};
  if (target.version == IpVersion::V4) {
    req.push_back(1);
    req.insert(req.end(), target.addr.begin(), target.addr.begin() + 4);
  } else if (target.isV4Mapped()) {
    req.push_back(1);
    req.insert(req.end(), target.addr.begin() + 12, target.addr.end());
  } else {
    req.push_back(4);
    req.insert(req.end(), target.addr.begin(), target.addr.end());
  }
  req.push_back(static_cast<uint8_t>(target.port >> 8));
  req.push_back(static_cast<uint8_t>(target.port & 0xFF));
  if (int e = sendAll(fd, req.data(), req.size(), deadline)) return e;
  uint8_t head[4];
  if (int e = recvAll(fd, head, 4, deadline)) return e;
  if (head[0] != 5) {
    *detail = "SOCKS5: malformed reply";
    return EPROTO;
  }
  if (head[1] != 0) {
    *detail = "SOCKS5 reply " + std::to_string(head[1]) + " (" + socks5ReplyText(head[1]) + ")";
    return socks5ReplyErrno(head[1]);
  }
  size_t rest = 0;  // the bound address and port that follow
  if (head[3] == 1) {
    rest = 4 + 2;
  } else if (head[3] == 4) {
    rest = 16 + 2;
  } else if (head[3] == 3) {
    uint8_t n;
    if (int e = recvAll(fd, &n, 1, deadline)) return e;
    rest = n + 2u;
  } else {
    *detail = "SOCKS5: reply with an unknown address type";
    return EPROTO;
  }
  uint8_t skip[260];
  return recvAll(fd, skip, rest, deadline);
}

std::string base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8 | uint8_t(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8;
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

int httpConnect(int fd, const policy::Upstream& up, const Endpoint& target, Clock::time_point deadline,
                std::string* detail) {
  std::string authority = target.str();  // "1.2.3.4:80" / "[::1]:80"
  std::string req = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
  if (!up.user.empty()) req += "Proxy-Authorization: Basic " + base64(up.user + ":" + up.password) + "\r\n";
  req += "\r\n";
  if (int e = sendAll(fd, req.data(), req.size(), deadline)) return e;
  // The response head, one byte at a time: nothing after it may be consumed (it is the
  // destination's data).
  std::string head;
  while (head.size() < 8192) {
    char c;
    if (int e = recvAll(fd, &c, 1, deadline)) return e;
    head += c;
    if (head.size() >= 4 && head.compare(head.size() - 4, 4, "\r\n\r\n") == 0) break;
  }
  int status = 0;
  if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12 || std::sscanf(head.c_str() + 9, "%3d", &status) != 1) {
    *detail = "HTTP CONNECT: the upstream's reply is not HTTP";
    return EPROTO;
  }
  if (status >= 200 && status < 300) return 0;
  const auto eol = head.find("\r\n");
  *detail = "HTTP CONNECT: " + head.substr(9, eol == std::string::npos ? std::string::npos : eol - 9);
  return httpStatusErrno(status);
}

}  // namespace

int socks5ReplyErrno(uint8_t reply) {
  switch (reply) {
    case 0: return 0;
    case 1: return ECONNREFUSED;
    case 2: return EACCES;
    case 3: return ENETUNREACH;
    case 4: return EHOSTUNREACH;
    case 5: return ECONNREFUSED;
    case 6: return ETIMEDOUT;
    default: return EPROTO;
  }
}

int httpStatusErrno(int status) {
  if (status >= 200 && status < 300) return 0;
  switch (status) {
    case 403:
    case 407: return EACCES;
    case 502: return ECONNREFUSED;
    case 503: return ENETUNREACH;
    case 504: return ETIMEDOUT;
    default: return ECONNREFUSED;
  }
}

int connectThroughUpstream(const policy::Upstream& up, const Endpoint& target, Clock::time_point deadline,
                           std::string* detail) {
  int err = 0;
  int fd = connectTo(up.server, deadline, &err);
  if (fd < 0) {
    *detail = "upstream " + up.str() + ": " + std::strerror(err);
    return -err;
  }
  err = up.kind == policy::UpstreamKind::Socks5 ? socks5(fd, up, target, deadline, detail)
                                                : httpConnect(fd, up, target, deadline, detail);
  if (err != 0) {
    if (detail->empty()) *detail = "upstream " + up.str() + ": " + std::strerror(err);
    ::close(fd);
    return -err;
  }
  return fd;
}

}  // namespace openwfp::proxy
