// um/transport.cpp - the transport factory (transport.h). By default each engine handle is one
// control connection (control::ServiceClient) to the engine's socket
// (control::defaultEnginePath(): $OPENWFP_ENGINE, else the engine's default path), carrying
// service frames of control::kServiceManagement.
#include "um/transport.h"

#include <mutex>

#include "control/service_client.h"
#include "openwfp/control.h"

namespace openwfp::um {

namespace {

constexpr uint32_t kEptNotRegistered = 1753;  // EPT_S_NOT_REGISTERED: no engine listens

class SocketTransport : public Transport {
 public:
  explicit SocketTransport(std::unique_ptr<control::ServiceClient> client) : client_(std::move(client)) {}
  std::optional<Reply> call(uint32_t op, std::span<const uint8_t> payload) override {
    auto r = client_->call(control::kServiceManagement, op, payload);
    if (!r) return std::nullopt;
    return Reply{r->status, std::move(r->payload)};
  }

 private:
  std::unique_ptr<control::ServiceClient> client_;
};

std::mutex g_mu;  // guards g_factory
TransportFactory g_factory;

}  // namespace

void setTransportFactory(TransportFactory factory) {
  std::lock_guard lock(g_mu);
  g_factory = std::move(factory);
}

std::unique_ptr<Transport> connectTransport(uint32_t& error) {
  TransportFactory f;
  {
    std::lock_guard lock(g_mu);
    f = g_factory;
  }
  if (f) return f(error);
  std::string why;
  auto client = control::ServiceClient::connect(control::defaultEnginePath(), why);
  if (!client) {
    error = kEptNotRegistered;
    return nullptr;
  }
  return std::make_unique<SocketTransport>(std::move(client));
}

}  // namespace openwfp::um
