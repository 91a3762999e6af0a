// `openwfp fetch ADDR:PORT`: a minimal TCP client (used by the demo as "the application"):
// connects, sends an HTTP/1.0 request, prints how long the connect took and what came back.
// Exit 0 when a response arrived, 1 otherwise.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "commands.h"
#include "host/timeline.h"
#include "net/sockaddr_codec.h"
#include "openwfp/stack.h"

namespace {

void say(const std::string& line) {
  std::printf("%s\n", openwfp::host::stampLine(line).c_str());
  std::fflush(stdout);
}

int fetch(const std::string& target) {
  auto ep = openwfp::Endpoint::parse(target);
  if (!ep) {
    std::fprintf(stderr, "openwfp fetch: '%s' is not ADDR:PORT\n", target.c_str());
    return 2;
  }
  sockaddr_storage ss{};
  socklen_t len = 0;
  const int family = ep->version == openwfp::IpVersion::V4 ? AF_INET : AF_INET6;
  openwfp::net::sockaddrFor(*ep, family, ss, len);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  say("app (pid " + std::to_string(getpid()) + "): connect(" + ep->str() + ")");
  auto t0 = std::chrono::steady_clock::now();
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  int err = rc == 0 ? 0 : errno;
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  char buf[160];
  if (err != 0) {
    std::snprintf(buf, sizeof buf, "app: connect failed after %.2f ms: %s", ms, std::strerror(err));
    say(buf);
    close(fd);
    return 1;
  }
  sockaddr_storage peer{};
  socklen_t plen = sizeof peer;
  getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen);
  auto peerEp = openwfp::net::endpointFromSockaddr(peer, plen);
  const std::string peerText = peerEp ? openwfp::net::formatEndpoint(*peerEp) : "?";
  std::snprintf(buf, sizeof buf, "app: connected after %.2f ms (socket peer %s)", ms, peerText.c_str());
  say(buf);
  std::string request = "GET / HTTP/1.0\r\nHost: " + ep->str() + "\r\n\r\n";
  (void)!write(fd, request.data(), request.size());
  std::string response;
  char rbuf[4096];
  ssize_t n;
  while ((n = read(fd, rbuf, sizeof rbuf)) > 0) response.append(rbuf, static_cast<size_t>(n));
  close(fd);
  size_t body = response.find("\r\n\r\n");
  std::string text = body == std::string::npos ? response : response.substr(body + 4);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  say("app: received " + std::to_string(response.size()) + " bytes: \"" + text + "\"");
  return response.empty() ? 1 : 0;
}

openwfp::cli::RegisterCommand reg([](CLI::App& app, int& exitCode) {
  auto target = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("fetch", "Connect to ADDR:PORT, send an HTTP/1.0 request, print the response");
  cmd->add_option("target", *target, "ADDR:PORT")->required();
  cmd->callback([target, &exitCode] { exitCode = fetch(*target); });
});

}  // namespace
