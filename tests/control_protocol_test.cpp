// The control channel's message codec (src/linux/control_protocol.h, docs/control-channel.md):
// every message round-trips, and every field of a frame from outside is bounds-checked (S12.4).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <stdexcept>

#include "linux/control_protocol.h"

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

TEST(S12_4, ControlCodecSurvivesRandomBytes) {
  std::mt19937 rng(12345);
  const auto seed = ctl::encode(9, ctl::DeviceIoctlRequest{1, 2, 16, {1, 2, 3, 4, 5, 6, 7, 8}});
  for (int i = 0; i < 20000; ++i) {
    auto f = seed;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) f[rng() % f.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1));
    ctl::Header h;
    ctl::Message m;
    DecodeError e = f.size() >= ctl::kHeaderSize ? ctl::decode(f, h, m) : DecodeError::BadSize;
    if (e == DecodeError::None) {
      // Whatever decoded re-encodes to the same bytes: nothing was read out of bounds or ignored.
      EXPECT_EQ(ctl::encode(h.request, m), f);
    }
  }
}

}  // namespace
