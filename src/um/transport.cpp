// um/transport.cpp - the transport factory (transport.h). The socket transport to the engine
// (control's ServiceClient) is the default once the control channel's service frames exist;
// until then, without an installed factory, there is no engine to reach.
#include "um/transport.h"

#include <mutex>

namespace openwfp::um {

namespace {

constexpr uint32_t kEptNotRegistered = 1753;  // EPT_S_NOT_REGISTERED: no engine listens

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
  error = kEptNotRegistered;
  return nullptr;
}

}  // namespace openwfp::um
