// linux/connection_lookup.cpp - the Interceptor's connection table as a ConnectionLookup
// (openwfp/connections.h), so the control server finds connections without knowing the backend.
#include "openwfp/linux_backend.h"

namespace openwfp::linux_backend {
namespace {

class InterceptorLookup final : public ConnectionLookup {
 public:
  explicit InterceptorLookup(Interceptor& i) : interceptor_(i) {}
  std::optional<ConnectionInfo> findBySocketCookie(uint64_t cookie) override {
    return interceptor_.findBySocketCookie(cookie);
  }
  std::optional<ConnectionInfo> findConnection(const Endpoint& local, const Endpoint& remote) override {
    return interceptor_.findConnection(local, remote);
  }
  void attachRecords(uint64_t cookie, std::shared_ptr<redirect::History> records) override {
    interceptor_.attachRecords(cookie, std::move(records));
  }
  int offerHandOff(std::shared_ptr<redirect::History> records, int fd) override {
    return linux_backend::offerHandOff(std::move(records), fd);
  }

 private:
  Interceptor& interceptor_;
};

}  // namespace

std::shared_ptr<ConnectionLookup> connectionLookup(Interceptor& interceptor) {
  return std::make_shared<InterceptorLookup>(interceptor);
}

}  // namespace openwfp::linux_backend
