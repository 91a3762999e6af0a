// tests/um/direct_transport.h - the fwpmu.h client talking to an in-process ManagementService:
// each Transport is one "connection" (its own id, the uid the test chooses); destroying it is
// the connection closing (ManagementService::connectionClosed), as when a client process dies.
#pragma once

#include <atomic>
#include <memory>

#include "um/management_service.h"
#include "um/transport.h"

namespace umtest {

class DirectTransport : public openwfp::um::Transport {
 public:
  DirectTransport(openwfp::um::ManagementService& service, uint64_t connection, uint32_t uid)
      : service_(service), connection_(connection), uid_(uid) {}
  ~DirectTransport() override { service_.connectionClosed(connection_); }
  std::optional<openwfp::um::Reply> call(uint32_t op, std::span<const uint8_t> payload) override {
    openwfp::control::ServiceRequest request;
    request.connection = connection_;
    request.pid = 4242;
    request.uid = uid_;
    request.service = openwfp::control::kServiceManagement;
    request.op = op;
    request.payload.assign(payload.begin(), payload.end());
    auto result = service_.handle(request);
    return openwfp::um::Reply{result.status, std::move(result.payload)};
  }

 private:
  openwfp::um::ManagementService& service_;
  uint64_t connection_;
  uint32_t uid_;
};

// Installs a factory connecting every FwpmEngineOpen0 to `service` as `uid`; removed when it goes.
class DirectConnections {
 public:
  DirectConnections(openwfp::um::ManagementService& service, uint32_t uid) {
    openwfp::um::setTransportFactory([&service, uid, this](uint32_t&) {
      return std::make_unique<DirectTransport>(service, ++next_, uid);
    });
  }
  ~DirectConnections() { openwfp::um::setTransportFactory(nullptr); }
  uint64_t last() const { return next_; }  // the connection the latest FwpmEngineOpen0 made

 private:
  std::atomic<uint64_t> next_{0};
};

}  // namespace umtest
