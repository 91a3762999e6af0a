// km/sddl.h - the security descriptors of device objects (IoCreateDeviceSecure, SPEC S14.6;
// docs/control-channel.md "Device security").
//
// The SDDL subset IoCreateDeviceSecure documents: "D:P" followed by ACEs "(A;;Access;;;SID)".
// openwfp also takes deny ACEs "(D;;Access;;;SID)" and "D:" without P (nothing is inherited
// anyway). Access: "0x" hex, or two-letter codes GA GR GW GX (generic), FA FR FW FX (file), RC SD
// WD WO (standard rights, which open nothing here). SIDs map to openers (openwfp choice):
//   SY, S-1-5-18      the engine's own uid (the system the drivers run in)
//   BA, S-1-5-32-544  root (uid 0)
//   WD, S-1-1-0       everyone
//   AU, S-1-5-11, BU, S-1-5-32-545   any uid (Linux has no anonymous logon)
//   RC, S-1-5-12      restricted code: a process inside a supervised tree (see below)
//   S-1-22-1-N        uid N;  S-1-22-2-N  primary gid N (Samba's Unix user / group SIDs)
//   LS NS BG AN       parsed, match no opener (no such accounts on Linux)
// Any other SID, ACE type or flag, an object GUID, an owner/group/SACL part is an error.
//
// Access check (Windows semantics for MAXIMUM_ALLOWED): ACEs in order, a deny ACE removes the
// rights it names that are not granted yet, an allow ACE grants the rights not denied yet. A
// process inside a supervised tree is a restricted token: its access is what the ACEs grant to
// its uid AND what they grant to RC (a second pass in which only RC ACEs match). So a tree
// process opens a device only if the descriptor names RC.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace openwfp::km::security {

// Rights as device I/O checks them (CTL_CODE access bits: FILE_READ_ACCESS 1, FILE_WRITE_ACCESS 2).
inline constexpr uint32_t kRead = 1, kWrite = 2, kExecute = 4;
inline constexpr uint32_t kAll = kRead | kWrite | kExecute;

enum class Principal { EngineUid, Root, Everyone, AnyUid, RestrictedCode, Uid, Gid, Nobody };

struct Ace {
  bool allow = true;
  uint32_t rights = 0;  // kRead | kWrite | kExecute
  Principal who = Principal::Nobody;
  uint32_t id = 0;      // for Uid / Gid
};

struct Descriptor {
  std::vector<Ace> aces;
  std::string text;  // as given (UTF-8)
};

// Who opens a device: the kernel's credentials of the request, and whether the process is inside
// a tree the host supervises.
struct Opener {
  uint64_t pid = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool insideTree = false;
  bool engineUid = false;  // counts as SY: the engine's uid (or one the host lists with it)
};

// Parses sddl; on failure returns nullopt and sets error to one line naming the offset.
std::optional<Descriptor> parse(std::wstring_view sddl, std::string& error);
std::optional<Descriptor> parse(std::string_view sddl, std::string& error);

// The rights descriptor grants opener.
uint32_t grantedAccess(const Descriptor& descriptor, const Opener& opener);

// The descriptor of a device created without one (IoCreateDevice): SDDL_DEVOBJ_SYS_ALL_ADM_ALL,
// "D:P(A;;GA;;;SY)(A;;GA;;;BA)": the engine's uid and root, outside any supervised tree.
const Descriptor& defaultDescriptor();

}  // namespace openwfp::km::security
