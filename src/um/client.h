// um/client.h - the pieces the fwpmu.h functions share (client.cpp, client_enum.cpp): engine
// handles (one Transport each), a call that turns the engine's reply into the DWORD fwpuclnt
// returns, and decoding of returned objects into FwpmFreeMemory0 blocks.
#pragma once

#include <memory>
#include <mutex>

#include "um/codec.h"
#include "um/protocol.h"
#include "um/transport.h"

#include "openwfp/um/fwpmu.h"

namespace openwfp::um {

// Win32 codes the client itself returns.
inline constexpr DWORD kCallFailed = 1726;  // RPC_S_CALL_FAILED: the connection broke

struct ClientEngine {
  std::mutex mu;  // one request and reply at a time on the connection
  std::unique_ptr<Transport> transport;
  uint64_t remote = 0;  // the engine's session handle
};

// The live engine behind a handle, or nullptr (ERROR_INVALID_HANDLE).
std::shared_ptr<ClientEngine> engineOf(HANDLE h);

// Sends op with payload on the engine's connection; the DWORD of the reply. `reply` gets the
// reply payload on success.
DWORD call(ClientEngine& e, Op op, Writer& payload, std::vector<uint8_t>* reply = nullptr);

// A request whose first member is the engine's session handle.
inline Writer request(const ClientEngine& e) {
  Writer w;
  w.u64(e.remote);
  return w;
}

// Decodes one object of type T from a reply into *out (one block).
template <typename T>
DWORD returnObject(const std::vector<uint8_t>& bytes, T** out) {
  bool oom = false;
  T* obj = decodeObject<T>(bytes, &oom);
  if (!obj) return oom ? ERROR_NOT_ENOUGH_MEMORY : ERROR_INVALID_DATA;
  *out = obj;
  return ERROR_SUCCESS;
}

}  // namespace openwfp::um
