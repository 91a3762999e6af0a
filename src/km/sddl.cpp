// km/sddl.cpp - the SDDL subset of device objects and its access check (see km/sddl.h).
#include "km/sddl.h"

#include <cctype>
#include <cstdlib>

namespace openwfp::km::security {
namespace {

struct Parser {
  std::string_view s;
  size_t at = 0;
  std::string error;

  bool fail(const std::string& what) {
    if (error.empty()) error = "invalid SDDL \"" + std::string(s) + "\" at offset " + std::to_string(at) + ": " + what;
    return false;
  }
  bool eat(char c) {
    if (at < s.size() && s[at] == c) {
      ++at;
      return true;
    }
    return false;
  }
  // The text up to the next ';' or ')' (not consumed).
  std::string_view field() {
    size_t end = at;
    while (end < s.size() && s[end] != ';' && s[end] != ')') ++end;
    std::string_view f = s.substr(at, end - at);
    at = end;
    return f;
  }

  bool rights(std::string_view f, uint32_t& out) {
    if (f.empty()) return fail("empty access");
    if (f.size() > 2 && f[0] == '0' && (f[1] == 'x' || f[1] == 'X')) {
      uint64_t v = 0;
      for (size_t i = 2; i < f.size(); ++i) {
        if (!std::isxdigit(static_cast<unsigned char>(f[i])) || i >= 10) return fail("bad hex access mask");
        v = v * 16 + static_cast<uint64_t>(std::isdigit(static_cast<unsigned char>(f[i])) ? f[i] - '0'
                                                                                         : (std::tolower(f[i]) - 'a' + 10));
      }
      if (v & 0x10000000u) out |= kAll;                  // GENERIC_ALL
      if (v & 0x80000000u) out |= kRead;                 // GENERIC_READ
      if (v & 0x40000000u) out |= kWrite;                // GENERIC_WRITE
      if (v & 0x20000000u) out |= kExecute;              // GENERIC_EXECUTE
      if (v & 0x0009u) out |= kRead;                     // FILE_READ_DATA | FILE_READ_EA
      if (v & 0x0016u) out |= kWrite;                    // FILE_WRITE_DATA | APPEND_DATA | WRITE_EA
      if (v & 0x0020u) out |= kExecute;                  // FILE_EXECUTE
      return true;
    }
    if (f.size() % 2 != 0) return fail("access codes are two letters each");
    for (size_t i = 0; i < f.size(); i += 2) {
      const std::string_view c = f.substr(i, 2);
      if (c == "GA" || c == "FA") out |= kAll;
      else if (c == "GR" || c == "FR") out |= kRead;
      else if (c == "GW" || c == "FW") out |= kWrite;
      else if (c == "GX" || c == "FX") out |= kExecute;
      else if (c == "RC" || c == "SD" || c == "WD" || c == "WO") continue;  // open no device I/O
      else return fail("unknown access code '" + std::string(c) + "'");
    }
    return true;
  }

  static bool number(std::string_view t, uint32_t& out) {
    if (t.empty() || t.size() > 10) return false;
    uint64_t v = 0;
    for (char c : t) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (v > 0xFFFFFFFFull) return false;
    out = static_cast<uint32_t>(v);
    return true;
  }

  bool sid(std::string_view f, Ace& ace) {
    struct Alias {
      const char* name;
      const char* numeric;
      Principal who;
    };
    static constexpr Alias kAliases[] = {
        {"SY", "S-1-5-18", Principal::EngineUid},   {"BA", "S-1-5-32-544", Principal::Root},
        {"WD", "S-1-1-0", Principal::Everyone},     {"AU", "S-1-5-11", Principal::AnyUid},
        {"BU", "S-1-5-32-545", Principal::AnyUid},  {"RC", "S-1-5-12", Principal::RestrictedCode},
        {"LS", "S-1-5-19", Principal::Nobody},      {"NS", "S-1-5-20", Principal::Nobody},
        {"BG", "S-1-5-32-546", Principal::Nobody},  {"AN", "S-1-5-7", Principal::Nobody},
    };
    for (const Alias& a : kAliases) {
      if (f == a.name || f == a.numeric) {
        ace.who = a.who;
        return true;
      }
    }
    for (auto [prefix, who] : {std::pair{std::string_view("S-1-22-1-"), Principal::Uid},
                               std::pair{std::string_view("S-1-22-2-"), Principal::Gid}}) {
      if (f.substr(0, prefix.size()) == prefix) {
        if (!number(f.substr(prefix.size()), ace.id)) return fail("bad Unix id in SID '" + std::string(f) + "'");
        ace.who = who;
        return true;
      }
    }
    return fail("unsupported SID '" + std::string(f) + "'");
  }

  bool ace(Descriptor& d) {
    Ace a;
    const std::string_view type = field();
    if (type == "A") a.allow = true;
    else if (type == "D") a.allow = false;
    else return fail("unsupported ACE type '" + std::string(type) + "' (A or D)");
    if (!eat(';')) return fail("expected ';'");
    if (!field().empty()) return fail("ACE flags are not supported for device objects");
    if (!eat(';')) return fail("expected ';'");
    if (!rights(field(), a.rights)) return false;
    for (const char* what : {"object GUID", "inherited object GUID"}) {
      if (!eat(';')) return fail("expected ';'");
      if (!field().empty()) return fail(std::string(what) + " is not supported for device objects");
    }
    if (!eat(';')) return fail("expected ';'");
    if (!sid(field(), a)) return false;
    if (!eat(')')) return fail("expected ')'");
    d.aces.push_back(a);
    return true;
  }

  std::optional<Descriptor> run() {
    Descriptor d;
    d.text = std::string(s);
    if (!(eat('D') && eat(':'))) {
      fail("a device SDDL starts with \"D:\" (owner, group and SACL are not supported)");
      return std::nullopt;
    }
    eat('P');
    while (at < s.size()) {
      if (!eat('(')) {
        fail("expected '(' (only \"D:P\" and ACEs)");
        return std::nullopt;
      }
      if (d.aces.size() == 64) {
        fail("more than 64 ACEs");
        return std::nullopt;
      }
      if (!ace(d)) return std::nullopt;
    }
    return d;
  }
};

// One pass of the check; restricted: only RC ACEs match (the restricting SIDs of a tree process).
uint32_t pass(const Descriptor& d, const Opener& o, bool restricted) {
  uint32_t granted = 0, denied = 0;
  for (const Ace& a : d.aces) {
    bool match = false;
    if (restricted) {
      match = a.who == Principal::RestrictedCode;
    } else {
      switch (a.who) {
        case Principal::EngineUid: match = o.engineUid; break;
        case Principal::Root: match = o.uid == 0; break;
        case Principal::Everyone:
        case Principal::AnyUid: match = true; break;
        case Principal::Uid: match = o.uid == a.id; break;
        case Principal::Gid: match = o.gid == a.id; break;
        case Principal::RestrictedCode:
        case Principal::Nobody: match = false; break;
      }
    }
    if (!match) continue;
    if (a.allow) granted |= a.rights & ~denied;
    else denied |= a.rights & ~granted;
  }
  return granted;
}

}  // namespace

std::optional<Descriptor> parse(std::string_view sddl, std::string& error) {
  Parser p{sddl, 0, {}};
  auto d = p.run();
  if (!d) error = p.error;
  return d;
}

std::optional<Descriptor> parse(std::wstring_view sddl, std::string& error) {
  std::string narrow;
  narrow.reserve(sddl.size());
  for (wchar_t c : sddl) {
    if (c == 0 || c > 0x7E || c < 0x20) {
      error = "invalid SDDL: a character outside printable ASCII at offset " + std::to_string(narrow.size());
      return std::nullopt;
    }
    narrow += static_cast<char>(c);
  }
  return parse(std::string_view(narrow), error);
}

uint32_t grantedAccess(const Descriptor& d, const Opener& o) {
  uint32_t granted = pass(d, o, false);
  if (o.insideTree) granted &= pass(d, o, true);
  return granted;
}

const Descriptor& defaultDescriptor() {
  static const Descriptor d = [] {
    std::string error;
    return *parse(std::string_view("D:P(A;;GA;;;SY)(A;;GA;;;BA)"), error);
  }();
  return d;
}

}  // namespace openwfp::km::security
