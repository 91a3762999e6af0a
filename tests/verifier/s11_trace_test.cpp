// S11.3 classify trace: the readable text block and the JSON line carry every field; the tracer
// keeps the most recent records and feeds its sinks.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "openwfp/trace.h"

using openwfp::trace::ClassifyRecord;
using openwfp::trace::Tracer;

namespace {

ClassifyRecord sampleRecord() {
  ClassifyRecord r;
  r.id = 42;
  r.layer = "ALE_CONNECT_REDIRECT_V4";
  r.pid = 4242;
  r.app = "/usr/bin/curl";
  r.uid = 1000;
  r.protocol = "tcp";
  r.local = "127.0.0.1:40000";
  r.remote = "127.0.0.2:80";
  r.flags = {"IS_PROXY_CONNECTION"};
  r.filters.push_back({7, "redirect-all", 3, 0x1000, "callout", "{a1b2}", "PENDED", "completed later"});
  r.filters.push_back({9, "static block", 3, 0x10, "block", "", "BLOCK", "overridden by hard permit"});
  r.modifications.push_back({7, "remote 127.0.0.2:80 -> 127.0.0.1:9000, targetPID 77, handle 0x101"});
  r.redirectState = "REDIRECTED_BY_SELF";
  r.startNs = 1'000'000;
  r.pendNs = 1'500'000;      // +0.5 ms
  r.completeNs = 4'000'000;  // +3 ms, held 2.5 ms
  r.endNs = 4'250'000;       // total 3.25 ms
  r.verdict = "PERMIT";
  r.finalDestination = "127.0.0.1:9000";
  r.reasons = {"redirect not applied: localRedirectHandle not set"};
  return r;
}

}  // namespace

TEST(S11_3, TextRecordShowsEveryField) {
  std::string t = sampleRecord().toText();
  for (const char* needle : {"#42", "ALE_CONNECT_REDIRECT_V4", "pid 4242", "uid 1000", "/usr/bin/curl", "tcp",
                             "127.0.0.1:40000 -> 127.0.0.2:80", "IS_PROXY_CONNECTION", "#7", "redirect-all",
                             "{a1b2}", "PENDED", "completed later", "#9", "BLOCK", "overridden by hard permit",
                             "127.0.0.1:9000, targetPID 77", "REDIRECTED_BY_SELF", "+0.500 ms", "+3.000 ms",
                             "held 2.500 ms", "3.250 ms", "PERMIT", "localRedirectHandle not set"}) {
    EXPECT_NE(t.find(needle), std::string::npos) << "missing '" << needle << "' in:\n" << t;
  }
  EXPECT_GT(std::count(t.begin(), t.end(), '\n'), 5);
}

TEST(S11_3, TextRecordSaysWhenNothingMatched) {
  ClassifyRecord r;
  r.layer = "ALE_BIND_REDIRECT_V6";
  r.verdict = "PERMIT";
  std::string t = r.toText();
  EXPECT_NE(t.find("no filter matched"), std::string::npos) << t;
  EXPECT_EQ(t.find("pended"), std::string::npos) << t;
}

TEST(S11_3, JsonLineIsOneParsableObjectWithEveryField) {
  std::string line = sampleRecord().toJsonLine();
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["id"], 42);
  EXPECT_EQ(j["layer"], "ALE_CONNECT_REDIRECT_V4");
  EXPECT_EQ(j["process"]["pid"], 4242);
  EXPECT_EQ(j["process"]["app"], "/usr/bin/curl");
  EXPECT_EQ(j["process"]["uid"], 1000);
  EXPECT_EQ(j["protocol"], "tcp");
  EXPECT_EQ(j["local"], "127.0.0.1:40000");
  EXPECT_EQ(j["remote"], "127.0.0.2:80");
  EXPECT_EQ(j["flags"][0], "IS_PROXY_CONNECTION");
  ASSERT_EQ(j["filters"].size(), 2u);
  EXPECT_EQ(j["filters"][0]["filterId"], 7);
  EXPECT_EQ(j["filters"][0]["callout"], "{a1b2}");
  EXPECT_EQ(j["filters"][0]["result"], "PENDED");
  EXPECT_EQ(j["filters"][1]["kind"], "block");
  EXPECT_EQ(j["filters"][1]["weight"], 0x10);
  ASSERT_EQ(j["modifications"].size(), 1u);
  EXPECT_EQ(j["modifications"][0]["filterId"], 7);
  EXPECT_EQ(j["redirectState"], "REDIRECTED_BY_SELF");
  EXPECT_DOUBLE_EQ(j["times"]["pendMs"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["times"]["completeMs"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(j["times"]["pendedMs"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(j["times"]["totalMs"].get<double>(), 3.25);
  EXPECT_EQ(j["verdict"], "PERMIT");
  EXPECT_EQ(j["finalDestination"], "127.0.0.1:9000");
  EXPECT_EQ(j["reasons"][0], "redirect not applied: localRedirectHandle not set");
}

TEST(S11_3, JsonLineStaysOneLineWithHostileStrings) {
  ClassifyRecord r;
  r.app = "/tmp/evil\nname\"\x01";
  r.reasons = {"line1\nline2"};
  r.filters.push_back({1, "bad utf8 \xff\xfe", 0, 0, "callout", "", "CONTINUE", ""});
  std::string line = r.toJsonLine();
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["process"]["app"], "/tmp/evil\nname\"\x01");
  EXPECT_TRUE(j["times"]["pendMs"].is_null());  // never pended
}

TEST(S11_3, TracerKeepsTheLast4096AndFeedsSinks) {
  Tracer tracer;
  size_t sunk = 0;
  uint64_t lastId = 0;
  tracer.addSink([&](const ClassifyRecord& r) {
    ++sunk;
    lastId = r.id;
  });
  for (uint64_t i = 1; i <= 5000; ++i) {
    ClassifyRecord r;
    r.id = i;
    tracer.emit(r);
  }
  EXPECT_EQ(sunk, 5000u);
  EXPECT_EQ(lastId, 5000u);
  auto recent = tracer.recent();
  ASSERT_EQ(recent.size(), Tracer::kRecentCapacity);
  EXPECT_EQ(recent.front().id, 5000u - 4096u + 1u);  // oldest kept first
  EXPECT_EQ(recent.back().id, 5000u);
  for (size_t i = 1; i < recent.size(); ++i) ASSERT_EQ(recent[i].id, recent[i - 1].id + 1);

  tracer.clearSinks();
  tracer.clear();
  EXPECT_TRUE(tracer.recent().empty());
  ClassifyRecord r;
  r.id = 1;
  tracer.emit(r);
  EXPECT_EQ(sunk, 5000u);
  ASSERT_EQ(tracer.recent().size(), 1u);
  EXPECT_EQ(tracer.recent()[0].id, 1u);
}
