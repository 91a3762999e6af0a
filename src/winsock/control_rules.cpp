// winsock/control_rules.cpp - the S9 rules over a SocketBackend (see socket_backend.h, control_rules.h).
#include <cerrno>
#include <cstring>
#include <new>
#include <span>
#include <vector>

#include "openwfp/openwfp.h"
#include "openwfp/winsock.h"
#include "redirect/history.h"
#include "redirect/records.h"
#include "winsock/control_rules.h"
#include "winsock/socket_registry.h"

namespace openwfp::winsock {
namespace {

void setReturned(const ControlCall& call, size_t n) {
  if (call.returned != nullptr) *call.returned = n;
}

// Copies bytes to the caller's buffer, or reports the size needed (S9.1/S9.2 size probe).
int deliver(const ControlCall& call, const std::vector<uint8_t>& bytes) {
  if (call.out == nullptr || call.outLen < bytes.size()) {
    setReturned(call, bytes.size());
    return ENOBUFS;
  }
  if (!bytes.empty()) std::memcpy(call.out, bytes.data(), bytes.size());
  setReturned(call, bytes.size());
  return 0;
}

// Checks shared by both queries (S9.3, S12.1). On success facts.history is non-empty.
int checkQuery(SocketBackend& backend, int fd, SocketFacts& facts) {
  if (int err = backend.describe(fd, facts); err != 0) return err == EBADF ? ENOTSOCK : err;
  if (facts.state != SocketState::Connected) return ENOTCONN;
  if (!facts.history || facts.history->empty()) return ENOENT;
  if (facts.redirectTargetPid == 0 || facts.redirectTargetPid != facts.callerPid) return EACCES;
  return 0;
}

int queryRecords(SocketBackend& backend, int fd, const ControlCall& call,
                 const redirect::RecordsSealer& sealer) {
  SocketFacts facts;
  if (int err = checkQuery(backend, fd, facts); err != 0) return err;
  // One snapshot, sealed once: the history may grow (a pended classify applying) between a
  // size probe and the real call; the caller then sees ENOBUFS again with the new size.
  std::vector<uint8_t> sealed = sealer.seal(*facts.history);
  if (sealed.empty()) return EMSGSIZE;  // more entries than the format holds
  return deliver(call, sealed);
}

int queryContext(SocketBackend& backend, int fd, const ControlCall& call) {
  SocketFacts facts;
  if (int err = checkQuery(backend, fd, facts); err != 0) return err;
  std::vector<uint8_t> context;
  if (!facts.history->newestContext(context)) return ENOENT;
  return deliver(call, context);
}

int setRecords(SocketBackend& backend, int fd, const ControlCall& call,
               const redirect::RecordsSealer& sealer, bool handOff) {
  SocketFacts facts;
  if (int err = backend.describeState(fd, facts); err != 0) return err == EBADF ? ENOTSOCK : err;
  if (call.outLen != 0) return EINVAL;
  // SIO_OPENWFP_HAND_OFF_WITH_RECORDS also takes a connected socket (a proxy whose own connects
  // nobody classifies needs no records on it first): only the offer is made then.
  bool attach = true;
  switch (facts.state) {
    case SocketState::Unconnected:
      break;
    case SocketState::Connected:
      if (!handOff) return EISCONN;
      attach = false;
      break;
    case SocketState::Connecting:
      return EISCONN;
    case SocketState::Listening:
      return EINVAL;
  }
  if (call.in == nullptr && call.inLen != 0) return EFAULT;
  if (call.in == nullptr || call.inLen == 0) return EINVAL;
  std::shared_ptr<redirect::History> history =
      sealer.open(std::span(static_cast<const uint8_t*>(call.in), call.inLen));
  if (!history) return EINVAL;
  // S14.9: records are bound to the process they were issued to, the target PID of their
  // newest redirect (the proxy FwpsQueryConnectionSioFormatRedirectRecords0 handed them to, the
  // one SIO_QUERY gave them to). Another process cannot make its connect look like the proxy's.
  if (facts.callerPid == 0 || history->newestTargetPid() == 0 || history->newestTargetPid() != facts.callerPid) {
    return EACCES;
  }
  std::shared_ptr<redirect::History> offered = handOff ? history : nullptr;
  if (attach) {
    if (int err = backend.attachRecords(fd, std::move(history)); err != 0) return err == EBADF ? ENOTSOCK : err;
  }
  // The records are attached as with SIO_SET either way; a refused offer is this call's error
  // (the proxy then relays as usual).
  if (offered) {
    if (int err = backend.offerHandOff(fd, std::move(offered)); err != 0) return err == EBADF ? ENOTSOCK : err;
  }
  setReturned(call, 0);
  return 0;
}

}  // namespace

int applyControlRules(SocketBackend& backend, int fd, const ControlCall& call,
                      const redirect::RecordsSealer& sealer) {
  try {
    switch (call.code) {
      case SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS:
        return queryRecords(backend, fd, call, sealer);
      case SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT:
        return queryContext(backend, fd, call);
      case SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS:
        return setRecords(backend, fd, call, sealer, false);
      case SIO_OPENWFP_HAND_OFF_WITH_RECORDS:
        return setRecords(backend, fd, call, sealer, true);
      default:
        return EOPNOTSUPP;
    }
  } catch (const std::bad_alloc&) {
    return ENOMEM;
  } catch (...) {
    return EINVAL;
  }
}

int SocketBackend::control(int fd, const ControlCall& call) {
  return applyControlRules(*this, fd, call, Runtime::current().sealer());
}

}  // namespace openwfp::winsock
