// The control channel's message codec (src/control/protocol.h, docs/control-channel.md):
// every message round-trips, and every field of a frame from outside is bounds-checked (S12.4).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <stdexcept>

#include "control/protocol.h"
#include "support/control_codec_properties.h"

namespace ctl = openwfp::control;
using ctl::DecodeError;

namespace {

ctl::Message roundTrip(const ctl::Message& m, uint64_t request = 7) {
  auto frame = ctl::encode(request, m);
  ctl::Header h;
  ctl::Message out;
  EXPECT_EQ(ctl::decode(frame, h, out), DecodeError::None);
  EXPECT_EQ(h.request, request);
  EXPECT_EQ(h.size, frame.size());
  EXPECT_EQ(h.type, static_cast<uint8_t>(ctl::typeOf(m)));
  return out;
}

DecodeError decodeBytes(const std::vector<uint8_t>& frame) {
  ctl::Header h;
  ctl::Message out;
  return ctl::decode(frame, h, out);
}

void putU32(std::vector<uint8_t>& f, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) f[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

TEST(S12_4, ControlCodecRoundTripsEveryMessage) {
  std::vector<ctl::Message> all = {
      ctl::SocketControlRequest{0x980000DC, 512, {}},
      ctl::SocketControlRequest{0x980000DE, 0, {1, 2, 3, 4, 5}},
      ctl::SocketControlReply{0, 3, {9, 8, 7}},
      ctl::SocketControlReply{105, 154, {}},
      ctl::DeviceOpenRequest{"\\\\.\\OpenwfpVerifyProxy"},
      ctl::DeviceOpenReply{0, 42},
      ctl::DeviceOpenReply{static_cast<int32_t>(0xC0000034), 0},
      ctl::DeviceIoctlRequest{3, 0x00122004, 600, {0xAA, 0xBB}},
      ctl::DeviceIoctlReply{0, 2, {1, 2}},
      ctl::DeviceIoctlReply{static_cast<int32_t>(0x80000005), 4, {1, 2, 3, 4}},
      ctl::DeviceCloseRequest{3},
      ctl::DeviceCloseReply{0},
      ctl::ErrorReply{95},
  };
  for (const auto& m : all) EXPECT_EQ(roundTrip(m), m) << "type " << int(ctl::typeOf(m));
  // Large buffers at the limit.
  ctl::DeviceIoctlRequest big{1, 2, static_cast<uint32_t>(ctl::kMaxBuffer), std::vector<uint8_t>(ctl::kMaxBuffer, 0x5A)};
  EXPECT_EQ(roundTrip(big), ctl::Message(big));
}

TEST(S12_4, ControlCodecHeaderIsLittleEndianAndVersioned) {
  auto frame = ctl::encode(0x0102030405060708ull, ctl::DeviceCloseRequest{0x11223344});
  ASSERT_EQ(frame.size(), ctl::kHeaderSize + 8);
  EXPECT_EQ(frame[0], ctl::kHeaderSize + 8);  // size, low byte first
  EXPECT_EQ(frame[1], 0);
  EXPECT_EQ(frame[4], ctl::kVersion);
  EXPECT_EQ(frame[5], static_cast<uint8_t>(ctl::MsgType::DeviceClose));
  EXPECT_EQ(frame[8], 0x08);   // request, little-endian
  EXPECT_EQ(frame[15], 0x01);
  EXPECT_EQ(frame[16], 0x44);  // handle
}

TEST(S12_4, ControlCodecRejectsBadHeaders) {
  auto good = ctl::encode(1, ctl::DeviceCloseRequest{1});
  auto f = good;
  putU32(f, 0, 8);  // smaller than a header
  EXPECT_EQ(decodeBytes(f), DecodeError::BadSize);
  f = good;
  putU32(f, 0, static_cast<uint32_t>(ctl::kMaxFrame + 1));
  EXPECT_EQ(decodeBytes(f), DecodeError::BadSize);
  f = good;
  putU32(f, 0, static_cast<uint32_t>(good.size() + 1));  // says more than there is
  EXPECT_EQ(decodeBytes(f), DecodeError::BadSize);
  f = good;
  f[4] = 2;
  EXPECT_EQ(decodeBytes(f), DecodeError::BadVersion);
  f = good;
  f[6] = 1;
  EXPECT_EQ(decodeBytes(f), DecodeError::BadReserved);
  f = good;
  f[5] = 0x42;
  EXPECT_EQ(decodeBytes(f), DecodeError::UnknownType);
  ctl::Header h;
  EXPECT_EQ(ctl::parseHeader(f, h), DecodeError::UnknownType);
  EXPECT_EQ(h.size, good.size()) << "an unknown type's size is known, so its payload can be skipped";
  EXPECT_EQ(h.request, 1u);
  EXPECT_EQ(ctl::parseHeader(std::span(good).first(10), h), DecodeError::BadSize);
}

TEST(S12_4, ControlCodecRejectsInconsistentPayloads) {
  // Socket control whose inLen says more than the payload holds.
  auto f = ctl::encode(1, ctl::SocketControlRequest{1, 0, {1, 2, 3}});
  putU32(f, ctl::kHeaderSize + 4, 4);
  EXPECT_EQ(decodeBytes(f), DecodeError::BadPayload);
  // ... or less (trailing bytes).
  putU32(f, ctl::kHeaderSize + 4, 2);
  EXPECT_EQ(decodeBytes(f), DecodeError::BadPayload);
  // outLen above the limit.
  f = ctl::encode(1, ctl::SocketControlRequest{1, 0, {}});
  putU32(f, ctl::kHeaderSize + 8, static_cast<uint32_t>(ctl::kMaxBuffer + 1));
  EXPECT_EQ(decodeBytes(f), DecodeError::BadPayload);
  // Reserved word.
  f = ctl::encode(1, ctl::SocketControlRequest{1, 0, {}});
  f[ctl::kHeaderSize + 12] = 1;
  EXPECT_EQ(decodeBytes(f), DecodeError::BadReserved);
  // Device path: empty, NUL inside, longer than the limit.
  f = ctl::encode(1, ctl::DeviceOpenRequest{"\\\\.\\X"});
  f[ctl::kHeaderSize + 8 + 2] = 0;
  EXPECT_EQ(decodeBytes(f), DecodeError::BadPayload);
  putU32(f, ctl::kHeaderSize, 0);
  EXPECT_EQ(decodeBytes(f), DecodeError::BadPayload);
  std::vector<uint8_t> longPath(ctl::kHeaderSize + 8 + ctl::kMaxPath + 1, 'a');
  auto hdr = ctl::encode(1, ctl::DeviceOpenRequest{"a"});
  std::memcpy(longPath.data(), hdr.data(), ctl::kHeaderSize + 8);
  putU32(longPath, 0, static_cast<uint32_t>(longPath.size()));
  putU32(longPath, ctl::kHeaderSize, static_cast<uint32_t>(ctl::kMaxPath + 1));
  EXPECT_EQ(decodeBytes(longPath), DecodeError::BadPayload);
  // Fixed-size messages with a byte too many or too few.
  for (const ctl::Message& m : {ctl::Message(ctl::DeviceCloseRequest{1}), ctl::Message(ctl::DeviceOpenReply{0, 1}),
                                ctl::Message(ctl::ErrorReply{1}), ctl::Message(ctl::DeviceCloseReply{0})}) {
    auto longer = ctl::encode(1, m);
    longer.push_back(0);
    putU32(longer, 0, static_cast<uint32_t>(longer.size()));
    EXPECT_EQ(decodeBytes(longer), DecodeError::BadPayload);
    auto shorter = ctl::encode(1, m);
    shorter.pop_back();
    putU32(shorter, 0, static_cast<uint32_t>(shorter.size()));
    EXPECT_NE(decodeBytes(shorter), DecodeError::None);
  }
  // Reply counts beyond the payload.
  f = ctl::encode(1, ctl::DeviceIoctlReply{0, 2, {1, 2}});
  putU32(f, ctl::kHeaderSize + 4, 3);
  EXPECT_EQ(decodeBytes(f), DecodeError::BadPayload);
}

TEST(S12_4, ControlCodecEncodeRefusesOversizedFields) {
  EXPECT_THROW(ctl::encode(1, ctl::SocketControlRequest{1, 0, std::vector<uint8_t>(ctl::kMaxBuffer + 1)}),
               std::length_error);
  EXPECT_THROW(ctl::encode(1, ctl::SocketControlRequest{1, static_cast<uint32_t>(ctl::kMaxBuffer + 1), {}}),
               std::length_error);
  EXPECT_THROW(ctl::encode(1, ctl::DeviceOpenRequest{std::string(ctl::kMaxPath + 1, 'x')}), std::length_error);
  EXPECT_THROW(ctl::encode(1, ctl::DeviceOpenRequest{""}), std::length_error);
  EXPECT_THROW(ctl::encode(1, ctl::DeviceOpenRequest{std::string("a\0b", 3)}), std::length_error);
}

// The properties of tests/support/control_codec_properties.h (shared with the libFuzzer target
// fuzz/control_decode_fuzz.cpp) over a deterministic corpus: every truncation of every message's
// frame, with its size field as is and patched to the truncated length, then tens of thousands
// of mutants of valid frames and streams of frames, and messages built from random bytes.
TEST(S12_4, ControlCodecSurvivesRandomInput) {
  namespace props = ctl::props;
  std::vector<std::vector<uint8_t>> seeds;
  for (const ctl::Message& m : std::vector<ctl::Message>{
           ctl::SocketControlRequest{0x980000DC, 512, {}},
           ctl::SocketControlRequest{0x980000DE, 0, {1, 2, 3, 4, 5}},
           ctl::SocketControlReply{0, 3, {9, 8, 7}},
           ctl::SocketControlReply{105, 154, {}},
           ctl::DeviceOpenRequest{"\\\\.\\OpenwfpVerifyProxy"},
           ctl::DeviceOpenRequest{"x"},
           ctl::DeviceOpenReply{0, 42},
           ctl::DeviceIoctlRequest{3, 0x00122004, 600, {0xAA, 0xBB}},
           ctl::DeviceIoctlRequest{1, 2, 16, {1, 2, 3, 4, 5, 6, 7, 8}},
           ctl::DeviceIoctlReply{static_cast<int32_t>(0x80000005), 4, {1, 2, 3, 4}},
           ctl::DeviceCloseRequest{3},
           ctl::DeviceCloseReply{0},
           ctl::ErrorReply{95},
       }) {
    seeds.push_back(ctl::encode(0x1122334455667788ull + seeds.size(), m));
  }
  int failures = 0;
  const auto expectHolds = [&](const std::string& failure, const char* what, std::span<const uint8_t> input,
                               size_t iteration) {
    if (failure.empty()) return;
    ADD_FAILURE() << what << ", input " << iteration << ": " << failure << "\n  input: " << props::hexBytes(input);
    ++failures;
  };

  // Every truncation length, as is (the size field then disagrees) and with the size patched.
  std::vector<uint8_t> stream;
  for (size_t s = 0; s < seeds.size(); ++s) {
    const auto& seed = seeds[s];
    stream.insert(stream.end(), seed.begin(), seed.end());
    for (size_t n = 0; n <= seed.size(); ++n) {
      std::vector<uint8_t> f(seed.begin(), seed.begin() + static_cast<std::ptrdiff_t>(n));
      expectHolds(props::checkFrame(f), "truncated frame", f, s);
      if (n >= 4) {
        putU32(f, 0, static_cast<uint32_t>(n));
        expectHolds(props::checkFrame(f), "truncated frame, size patched", f, s);
      }
    }
  }
  // A stream of every message, cut at every length.
  for (size_t n = 0; n <= stream.size(); ++n) {
    const std::span<const uint8_t> cut = std::span<const uint8_t>(stream).first(n);
    expectHolds(props::checkStream(cut, n % 2 == 1), "truncated stream", cut, n);
    if (failures > 5) return;
  }

  std::mt19937 rng(20261126);
  const uint32_t interesting[] = {0, 1, 7, 8, 15, 16, 17, 24, static_cast<uint32_t>(ctl::kMaxPath),
                                  static_cast<uint32_t>(ctl::kMaxPath + 1), static_cast<uint32_t>(ctl::kMaxBuffer),
                                  static_cast<uint32_t>(ctl::kMaxBuffer + 1), static_cast<uint32_t>(ctl::kMaxFrame),
                                  static_cast<uint32_t>(ctl::kMaxFrame + 1), 0x7fffffffu, 0xffffffffu};
  const uint8_t types[] = {0x01, 0x02, 0x03, 0x04, 0x81, 0x82, 0x83, 0x84, 0xFF, 0x00, 0x05, 0x80, 0x85, 0xFE};
  size_t accepted = 0, rejected = 0;
  for (size_t iter = 0; iter < 40000 && failures <= 5; ++iter) {
    std::vector<uint8_t> f;
    for (int k = rng() % 8 == 0 ? 1 + static_cast<int>(rng() % 3) : 1; k > 0; --k) {
      const auto& seed = seeds[rng() % seeds.size()];
      f.insert(f.end(), seed.begin(), seed.end());
    }
    for (int ops = 1 + static_cast<int>(rng() % 3); ops > 0 && !f.empty(); --ops) {
      switch (rng() % 7) {
        case 0:  // one byte, anywhere
          f[rng() % f.size()] = static_cast<uint8_t>(rng());
          break;
        case 1:  // a length or reserved word of the header or payload
          if (f.size() >= ctl::kHeaderSize + 4) {
            const size_t at = rng() % 2 == 0 ? 0 : ctl::kHeaderSize + 4 * (rng() % ((f.size() - ctl::kHeaderSize) / 4));
            const uint32_t v = rng() % 4 == 0 ? static_cast<uint32_t>(f.size() - rng() % 3)
                                              : interesting[rng() % std::size(interesting)];
            putU32(f, at, v);
          }
          break;
        case 2:  // the type, version or header reserved bytes
          if (f.size() >= 8) {
            const size_t at = 4 + rng() % 4;
            f[at] = at == 5 ? types[rng() % std::size(types)] : static_cast<uint8_t>(rng() % 3);
          }
          break;
        case 3:  // truncate
          f.resize(rng() % (f.size() + 1));
          break;
        case 4:  // append
          for (int n = 1 + static_cast<int>(rng() % 12); n > 0; --n) f.push_back(static_cast<uint8_t>(rng()));
          break;
        case 5:  // a NUL or a byte inside a path
          if (f.size() > ctl::kHeaderSize + 8) f[ctl::kHeaderSize + 8 + rng() % (f.size() - ctl::kHeaderSize - 8)] = 0;
          break;
        default:  // nothing: the seed itself, or what the other ops made of it
          break;
      }
    }
    // Half of the mutants get a size field that matches, so the payload checks are reached.
    if (f.size() >= 4 && rng() % 2 == 0) putU32(f, 0, static_cast<uint32_t>(f.size()));

    expectHolds(props::checkFrame(f), "mutated frame", f, iter);
    ctl::Header h;
    ctl::Message m;
    (f.size() >= ctl::kHeaderSize && ctl::decode(f, h, m) == DecodeError::None ? accepted : rejected) += 1;
    if (iter % 8 == 0) expectHolds(props::checkStream(f, iter % 16 == 0), "mutated stream", f, iter);
    if (iter % 4 == 0) {
      std::vector<uint8_t> desc(rng() % 48);
      for (auto& b : desc) b = static_cast<uint8_t>(rng());
      expectHolds(props::checkMessage(props::messageFromBytes(desc), rng()), "message from bytes", desc, iter);
    }
  }
  // The corpus reaches both sides of the checks.
  EXPECT_GT(accepted, 1000u);
  EXPECT_GT(rejected, 1000u);
}

}  // namespace
