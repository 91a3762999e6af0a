// linux/connection_table.h - the permitted connections the backend remembers until they close:
// by socket cookie, and by (local, remote) 4-tuple for the control channel. Also the records
// attached to not-yet-connected sockets (SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS).
//
// A connect the supervisor performed knows its tuple at once. A connect answered "continue" is
// made by the kernel after the answer, so its tuple is learnt from sock_diag (applyScan).
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "linux/inet_sockets.h"
#include "openwfp/linux_backend.h"

namespace openwfp::linux_backend {

class ConnectionTable {
 public:
  using Clock = std::chrono::steady_clock;
  using HistoryPtr = std::shared_ptr<redirect::History>;

  // Remembers a permitted connect. An older entry of the same socket (a UDP socket connected
  // again, a TCP socket connecting again after a failure) is replaced: its history is returned
  // so the caller can report it closed.
  HistoryPtr add(const ConnectionInfo& info, Clock::time_point now = Clock::now());
  // Sets the tuple of an entry added before its connect was made (no-op if it is gone).
  void resolve(uint64_t cookie, const Endpoint& local, const Endpoint& remote);
  // Removes the entry of a socket whose connect failed; returns its history.
  HistoryPtr remove(uint64_t cookie);

  std::optional<ConnectionInfo> find(const Endpoint& local, const Endpoint& remote) const;
  // For a lookup that comes a moment before the connect that makes the tuple known has returned
  // (a proxy accepts and asks at once): while an entry going to `remote` has no tuple yet, waits
  // (until `until`) for it to get one. True when (local, remote) is known now; false at once when
  // no entry going to `remote` is unresolved, so other lookups never wait.
  bool waitResolved(const Endpoint& local, const Endpoint& remote, Clock::time_point until) const;
  std::optional<ConnectionInfo> findByCookie(uint64_t cookie) const;
  bool hasUnresolved() const;
  bool empty() const;
  // Which (family, protocol) dumps applyScan needs: bit 0 TCP/v4, 1 TCP/v6, 2 UDP/v4, 3 UDP/v6.
  unsigned scanMask() const;

  // The listings a scan judges by, one per scanMask() bit (null: that pair was not listed).
  using Listings = std::array<std::shared_ptr<const SocketListing>, 4>;
  // Applies sock_diag listings: fills unknown tuples, and removes connections that ended (gone
  // from two listings in a row, or in a final TCP state) and are older than the grace period (a
  // continued connect may not have reached the kernel yet). A listing that started before an
  // entry was added does not judge it at all (the socket may have connected after the walk passed
  // its place, or be a socket reused since; a shared listing can be some milliseconds old), and a
  // listing counts a miss once, however often it is applied (a periodic and an on-demand scan can
  // share one). Returns their histories.
  std::vector<HistoryPtr> applyScan(const Listings& listings, Clock::time_point now = Clock::now());
  // The same with one listing of `sockets`, taken after every entry was added, for every pair in
  // scannedMask.
  std::vector<HistoryPtr> applyScan(const std::vector<DiagSocket>& sockets, unsigned scannedMask,
                                    Clock::time_point now = Clock::now());
  // Removes everything; returns the histories.
  std::vector<HistoryPtr> takeAll();

  void attachRecords(uint64_t cookie, HistoryPtr records, Clock::time_point now = Clock::now());
  HistoryPtr attachedRecords(uint64_t cookie) const;

  static constexpr auto kGrace = std::chrono::seconds(2);
  static constexpr auto kAttachmentLifetime = std::chrono::seconds(120);

 private:
  struct Entry {
    ConnectionInfo info;
    Clock::time_point added;
    int missedScans = 0;
    uint64_t lastMissSerial = 0;  // the listing that counted the last miss (counted once each)
  };
  static std::string tupleKey(const Endpoint& local, const Endpoint& remote);
  static unsigned maskBit(const ConnectionInfo& info);
  void indexLocked(const Entry& e);
  void unindexLocked(const Entry& e);
  static std::string remoteKey(const Endpoint& remote);
  // Counts (delta +1) or uncounts (-1) an entry without a tuple; wakes waitResolved on -1.
  void countUnresolvedLocked(const Entry& e, int delta);

  mutable std::mutex mu_;                              // guards everything below
  mutable std::condition_variable resolved_;           // an unresolved entry was resolved or went
  size_t unresolved_ = 0;                              // entries without a tuple
  std::unordered_map<std::string, size_t> unresolvedByRemote_;  // remoteKey -> how many
  std::unordered_map<uint64_t, Entry> byCookie_;
  std::unordered_map<std::string, uint64_t> byTuple_;  // tupleKey -> cookie (known tuples)
  struct Attachment {
    HistoryPtr records;
    Clock::time_point added;
  };
  std::unordered_map<uint64_t, Attachment> attachments_;  // by socket cookie
};

}  // namespace openwfp::linux_backend
