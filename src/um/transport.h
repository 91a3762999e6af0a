// um/transport.h - how the fwpmu.h client reaches the engine (SPEC S14.4): one Transport per
// engine handle, one request and its reply at a time. The default is a connection to the
// engine's socket; tests install a factory that calls a ManagementService in-process.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace openwfp::um {

struct Reply {
  int32_t status = 0;  // the engine's NTSTATUS
  std::vector<uint8_t> payload;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // nullopt: the connection broke (the client answers RPC_S_CALL_FAILED).
  virtual std::optional<Reply> call(uint32_t op, std::span<const uint8_t> payload) = 0;
};

// Makes a new connection; nullptr with `error` (a Win32 code) when there is no engine.
using TransportFactory = std::function<std::unique_ptr<Transport>(uint32_t& error)>;

// Replaces the factory (nullptr: back to the engine socket). For tests.
void setTransportFactory(TransportFactory factory);
std::unique_ptr<Transport> connectTransport(uint32_t& error);

}  // namespace openwfp::um
