// The SDDL subset of device objects (IoCreateDeviceSecure, S14.6) and its mapping to Linux
// openers: SY = the engine's uid, BA = root, WD = everyone, RC = inside a supervised tree.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "km/sddl.h"

namespace sec = openwfp::km::security;

namespace {

sec::Descriptor parsed(const std::string& sddl) {
  std::string error;
  auto d = sec::parse(std::string_view(sddl), error);
  EXPECT_TRUE(d.has_value()) << sddl << ": " << error;
  return d.value_or(sec::Descriptor{});
}

constexpr uint32_t kEngineUid = 1000, kOtherUid = 1001;
sec::Opener engine(bool inside = false) { return {1, kEngineUid, 1000, inside, true}; }
sec::Opener root(bool inside = false) { return {2, 0, 0, inside, false}; }
sec::Opener other(bool inside = false) { return {3, kOtherUid, 1001, inside, false}; }

}  // namespace

TEST(Sddl, S14_6_SddlMapsToUidsAndTree) {
  // The WDK's SDDL_DEVOBJ_* strings.
  const auto kernelOnly = parsed("D:P");
  EXPECT_EQ(sec::grantedAccess(kernelOnly, engine()), 0u);
  EXPECT_EQ(sec::grantedAccess(kernelOnly, root()), 0u);

  const auto sysAll = parsed("D:P(A;;GA;;;SY)");
  EXPECT_EQ(sec::grantedAccess(sysAll, engine()), sec::kAll);
  EXPECT_EQ(sec::grantedAccess(sysAll, root()), 0u) << "BA is not named";
  EXPECT_EQ(sec::grantedAccess(sysAll, other()), 0u);
  EXPECT_EQ(sec::grantedAccess(sysAll, engine(true)), 0u) << "inside a tree: RC is not named";

  const auto admAll = parsed("D:P(A;;GA;;;SY)(A;;GA;;;BA)");
  EXPECT_EQ(sec::grantedAccess(admAll, root()), sec::kAll);
  EXPECT_EQ(sec::grantedAccess(admAll, other()), 0u);

  const auto worldR = parsed("D:P(A;;GA;;;SY)(A;;GRGWGX;;;BA)(A;;GR;;;WD)");
  EXPECT_EQ(sec::grantedAccess(worldR, other()), sec::kRead);
  EXPECT_EQ(sec::grantedAccess(worldR, other(true)), 0u) << "WD does not stand for restricted code";

  const auto worldRwResR = parsed("D:P(A;;GA;;;SY)(A;;GRGWGX;;;BA)(A;;GRGW;;;WD)(A;;GR;;;RC)");
  EXPECT_EQ(sec::grantedAccess(worldRwResR, other()), sec::kRead | sec::kWrite);
  EXPECT_EQ(sec::grantedAccess(worldRwResR, other(true)), sec::kRead) << "uid grants RW, RC only R";
  EXPECT_EQ(sec::grantedAccess(worldRwResR, engine(true)), sec::kRead);

  const auto all = parsed("D:P(A;;GA;;;SY)(A;;GRGWGX;;;BA)(A;;GRGWGX;;;WD)(A;;GRGWGX;;;RC)");
  EXPECT_EQ(sec::grantedAccess(all, other(true)), sec::kAll);

  // Unix uid / gid SIDs, numeric well-known SIDs, hex masks, deny ACEs in order.
  const auto byUid = parsed("D:P(A;;GRGW;;;S-1-22-1-1001)(A;;GR;;;S-1-22-2-0)");
  EXPECT_EQ(sec::grantedAccess(byUid, other()), sec::kRead | sec::kWrite);
  EXPECT_EQ(sec::grantedAccess(byUid, root()), sec::kRead);
  EXPECT_EQ(sec::grantedAccess(byUid, engine()), 0u);
  const auto numeric = parsed("D:P(A;;0x10000000;;;S-1-5-18)(A;;0x80000000;;;S-1-1-0)");
  EXPECT_EQ(sec::grantedAccess(numeric, engine()), sec::kAll);
  EXPECT_EQ(sec::grantedAccess(numeric, other()), sec::kRead);
  const auto denyFirst = parsed("D:(D;;GW;;;S-1-22-1-1001)(A;;GA;;;WD)");
  EXPECT_EQ(sec::grantedAccess(denyFirst, other()), sec::kRead | sec::kExecute);
  EXPECT_EQ(sec::grantedAccess(denyFirst, engine()), sec::kAll);
  const auto allowFirst = parsed("D:(A;;GA;;;WD)(D;;GW;;;S-1-22-1-1001)");
  EXPECT_EQ(sec::grantedAccess(allowFirst, other()), sec::kAll) << "a deny after the grant changes nothing";
  const auto standardOnly = parsed("D:P(A;;RCSDWDWO;;;WD)");
  EXPECT_EQ(sec::grantedAccess(standardOnly, other()), 0u) << "standard rights open no device I/O";
  const auto accounts = parsed("D:P(A;;GA;;;LS)(A;;GA;;;NS)(A;;GA;;;AN)(A;;GA;;;AU)");
  EXPECT_EQ(sec::grantedAccess(accounts, other()), sec::kAll) << "AU: any uid";

  // The default of IoCreateDevice: the engine's uid and root, outside any tree.
  EXPECT_EQ(sec::grantedAccess(sec::defaultDescriptor(), engine()), sec::kAll);
  EXPECT_EQ(sec::grantedAccess(sec::defaultDescriptor(), root()), sec::kAll);
  EXPECT_EQ(sec::grantedAccess(sec::defaultDescriptor(), other()), 0u);
  EXPECT_EQ(sec::grantedAccess(sec::defaultDescriptor(), engine(true)), 0u);

  // Wide strings (what IoCreateDeviceSecure gets).
  std::string error;
  auto wide = sec::parse(std::wstring_view(L"D:P(A;;GA;;;SY)(A;;GR;;;RC)"), error);
  ASSERT_TRUE(wide.has_value()) << error;
  EXPECT_EQ(sec::grantedAccess(*wide, engine(true)), sec::kRead);
}

TEST(Sddl, S14_6_BadSddlIsAOneLineErrorNeverACrash) {
  const std::vector<std::string> bad = {
      "",
      "O:BAD:P(A;;GA;;;SY)",
      "D:P(A;;GA;;;SY",
      "D:P(A;;GA;;;SY))",
      "D:P(X;;GA;;;SY)",
      "D:P(A;OICI;GA;;;SY)",
      "D:P(A;;GQ;;;SY)",
      "D:P(A;;G;;;SY)",
      "D:P(A;;;;;SY)",
      "D:P(A;;0x;;;SY)",
      "D:P(A;;0x1234567890;;;SY)",
      "D:P(A;;0xZZ;;;SY)",
      "D:P(A;;GA;1234;;SY)",
      "D:P(A;;GA;;5678;SY)",
      "D:P(A;;GA;;;XX)",
      "D:P(A;;GA;;;)",
      "D:P(A;;GA;;;S-1-22-1-)",
      "D:P(A;;GA;;;S-1-22-1-99999999999)",
      "D:P(A;;GA;;;S-1-22-1-12a)",
      "D:P(A;;GA)",
      "D:P(A",
      "D:PX",
      "S:P(AU;SA;GA;;;WD)",
      std::string("D:P(A;;GA;;;SY)\0", 16),
  };
  for (const std::string& s : bad) {
    std::string error;
    auto d = sec::parse(std::string_view(s), error);
    EXPECT_FALSE(d.has_value()) << "accepted: " << s;
    EXPECT_FALSE(error.empty()) << s;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    EXPECT_NE(error.find("offset"), std::string::npos) << error;
  }
  std::string longSddl = "D:P";
  for (int i = 0; i < 65; ++i) longSddl += "(A;;GA;;;WD)";
  std::string error;
  EXPECT_FALSE(sec::parse(std::string_view(longSddl), error).has_value());
  EXPECT_NE(error.find("64"), std::string::npos) << error;
  EXPECT_FALSE(sec::parse(std::wstring_view(L"D:P(A;;GA;;;SY)\u00e9"), error).has_value());
  EXPECT_NE(error.find("ASCII"), std::string::npos) << error;
}
