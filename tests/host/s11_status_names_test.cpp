// S11.2 diagnostics: the NTSTATUS names used in load errors (and by the CLI) agree with every
// value the km ntstatus.h defines.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "host/status_names.h"

using openwfp::host::describeNtStatus;
using openwfp::host::ntStatusName;

TEST(S11_2, StatusNamesAgreeWithNtstatusHeader) {
  std::ifstream in(OPENWFP_SOURCE_DIR "/include/openwfp/km/ntstatus.h");
  ASSERT_TRUE(in) << "cannot read ntstatus.h";
  std::stringstream text;
  text << in.rdbuf();
  const std::string header = text.str();
  const std::regex define(R"(#define\s+(STATUS_\w+)\s+\(\(NTSTATUS\)(0x[0-9A-Fa-f]+)L?\))");
  std::map<std::string, uint32_t> defined;
  for (std::sregex_iterator it(header.begin(), header.end(), define), end; it != end; ++it) {
    defined[(*it)[1]] = static_cast<uint32_t>(std::stoul((*it)[2], nullptr, 16));
  }
  ASSERT_GT(defined.size(), 100u);
  for (const auto& [name, value] : defined) {
    const char* mine = ntStatusName(static_cast<int32_t>(value));
    ASSERT_NE(mine, nullptr) << name << " has no name";
    if (name != mine) {
      // An alias (STATUS_WAIT_0 == STATUS_SUCCESS): the name given must be defined with that value.
      ASSERT_TRUE(defined.count(mine)) << name << " named " << mine;
      EXPECT_EQ(defined[mine], value) << name << " vs " << mine;
    }
  }
}

TEST(S11_2, DescribeNtStatusGivesHexAndName) {
  EXPECT_EQ(describeNtStatus(static_cast<int32_t>(0xC0220009)), "0xC0220009 STATUS_FWP_ALREADY_EXISTS");
  EXPECT_EQ(describeNtStatus(0), "0x00000000 STATUS_SUCCESS");
  EXPECT_EQ(describeNtStatus(static_cast<int32_t>(0xC000000D)), "0xC000000D STATUS_INVALID_PARAMETER");
  EXPECT_EQ(describeNtStatus(static_cast<int32_t>(0xC0DE0001)), "0xC0DE0001");
  EXPECT_EQ(ntStatusName(static_cast<int32_t>(0xC0DE0001)), nullptr);
}
