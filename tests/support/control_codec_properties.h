// tests/support/control_codec_properties.h - the properties the control channel's frame codec
// (src/control/protocol.h) and frame reader (src/control/frame_io.h) must keep for any
// input from outside (S12.4). Written once, used by the libFuzzer target
// fuzz/control_decode_fuzz.cpp and by the deterministic replay test
// S12_4.ControlCodecSurvivesRandomInput (tests/control/control_protocol_test.cpp).
//
// Each check returns an empty string when every property holds, else a description of the first
// one that failed (the caller adds the input). The frame layout is restated here from
// docs/control-channel.md as a small reference decoder, so the codec is compared with an
// independent reading of the format, not with itself.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "control/frame_io.h"
#include "control/protocol.h"
#include "net/unique_fd.h"
#include "support/hex_bytes.h"

namespace openwfp::control::props {

using testing_support::hexBytes;

inline uint32_t le32(std::span<const uint8_t> b, size_t at) {
  return uint32_t{b[at]} | uint32_t{b[at + 1]} << 8 | uint32_t{b[at + 2]} << 16 | uint32_t{b[at + 3]} << 24;
}
inline uint64_t le64(std::span<const uint8_t> b, size_t at) {
  return uint64_t{le32(b, at)} | uint64_t{le32(b, at + 4)} << 32;
}

// ---- reference reading of the format ----

// One payload layout: a fixed part of `fixed` bytes, then a tail whose length is the u32 at
// `tailLenAt` (no tail when -1). Words that must be zero, and u32 fields limited to kMaxBuffer.
struct Layout {
  size_t fixed = 0;
  int tailLenAt = -1;
  size_t tailMin = 0;
  size_t tailMax = 0;
  bool tailIsPath = false;  // no NUL byte in the tail
  int reservedAt = -1;
  int limitedAt = -1;  // a second u32 length (outLen) limited to kMaxBuffer
};

inline std::optional<Layout> layoutOf(uint8_t type) {
  switch (type) {
    case 0x01:  // SocketControl: code, inLen, outLen, reserved, in[inLen]
      return Layout{16, 4, 0, kMaxBuffer, false, 12, 8};
    case 0x81:  // SocketControlReply: err, outCount, returned(u64), out[outCount]
      return Layout{16, 4, 0, kMaxBuffer, false, -1, -1};
    case 0x02:  // DeviceOpen: pathLen, reserved, path[pathLen]
      return Layout{8, 0, 1, kMaxPath, true, 4, -1};
    case 0x82:  // DeviceOpenReply: status, handle
      return Layout{8, -1, 0, 0, false, -1, -1};
    case 0x03:  // DeviceIoctl: handle, code, inLen, outLen, in[inLen]
      return Layout{16, 8, 0, kMaxBuffer, false, -1, 12};
    case 0x83:  // DeviceIoctlReply: status, outCount, information(u64), out[outCount]
      return Layout{16, 4, 0, kMaxBuffer, false, -1, -1};
    case 0x05:  // Service: service, op, len, reserved, payload[len]
      return Layout{16, 8, 0, kMaxBuffer, false, 12, -1};
    case 0x85:  // ServiceReply: status, len, payload[len]
      return Layout{8, 4, 0, kMaxBuffer, false, -1, -1};
    case 0x04:  // DeviceClose: handle, reserved
    case 0x84:  // DeviceCloseReply: status, reserved
    case 0xFF:  // Error: err, reserved
      return Layout{8, -1, 0, 0, false, 4, -1};
    default:
      return std::nullopt;
  }
}

// Whether a payload of a known type is well-formed, by the layout table.
inline bool referencePayloadValid(const Layout& l, std::span<const uint8_t> p) {
  if (p.size() < l.fixed) return false;
  if (l.reservedAt >= 0 && le32(p, static_cast<size_t>(l.reservedAt)) != 0) return false;
  if (l.limitedAt >= 0 && le32(p, static_cast<size_t>(l.limitedAt)) > kMaxBuffer) return false;
  if (l.tailLenAt < 0) return p.size() == l.fixed;
  const uint32_t tail = le32(p, static_cast<size_t>(l.tailLenAt));
  if (tail < l.tailMin || tail > l.tailMax || p.size() - l.fixed != tail) return false;
  if (l.tailIsPath && std::find(p.begin() + static_cast<std::ptrdiff_t>(l.fixed), p.end(), 0) != p.end()) return false;
  return true;
}

// The header check the format prescribes, in its order.
inline DecodeError referenceHeader(std::span<const uint8_t> h) {
  const uint32_t size = le32(h, 0);
  if (size < kHeaderSize || size > kMaxFrame) return DecodeError::BadSize;
  if (h[4] != kVersion) return DecodeError::BadVersion;
  if (h[6] != 0 || h[7] != 0) return DecodeError::BadReserved;
  if (!layoutOf(h[5])) return DecodeError::UnknownType;
  return DecodeError::None;
}

// Payload size of a message's encoding, and whether the encoder must refuse it.
inline size_t expectedPayloadSize(const Message& m, bool& refused) {
  refused = false;
  return std::visit(
      [&](const auto& msg) -> size_t {
        using T = std::decay_t<decltype(msg)>;
        if constexpr (std::is_same_v<T, SocketControlRequest>) {
          refused = msg.in.size() > kMaxBuffer || msg.outLen > kMaxBuffer;
          return 16 + msg.in.size();
        } else if constexpr (std::is_same_v<T, SocketControlReply> || std::is_same_v<T, DeviceIoctlReply>) {
          refused = msg.out.size() > kMaxBuffer;
          return 16 + msg.out.size();
        } else if constexpr (std::is_same_v<T, DeviceOpenRequest>) {
          refused = msg.path.empty() || msg.path.size() > kMaxPath || msg.path.find('\0') != std::string::npos;
          return 8 + msg.path.size();
        } else if constexpr (std::is_same_v<T, DeviceIoctlRequest>) {
          refused = msg.in.size() > kMaxBuffer || msg.outLen > kMaxBuffer;
          return 16 + msg.in.size();
        } else if constexpr (std::is_same_v<T, ServiceCallRequest>) {
          refused = msg.payload.size() > kMaxBuffer;
          return 16 + msg.payload.size();
        } else if constexpr (std::is_same_v<T, ServiceCallReply>) {
          refused = msg.payload.size() > kMaxBuffer;
          return 8 + msg.payload.size();
        } else {
          return 8;
        }
      },
      m);
}

// ---- properties ----

// A whole frame from outside (any bytes). Properties:
//  - parseHeader gives the format's verdict on the header, and an UnknownType header still
//    tells the frame size (so the reader can skip it);
//  - decode accepts exactly the frames the reference reading accepts;
//  - an accepted frame re-encodes to the very same bytes (nothing ignored, nothing read past
//    the frame), and that encoding decodes to the same message and request.
inline std::string checkFrame(std::span<const uint8_t> frame) {
  Header h;
  Message m;
  if (frame.size() < kHeaderSize) {
    if (parseHeader(frame, h) != DecodeError::BadSize) return "parseHeader accepted fewer than 16 bytes";
    if (decode(frame, h, m) != DecodeError::BadSize) return "decode accepted fewer than 16 bytes";
    return {};
  }
  const DecodeError header = parseHeader(frame, h);
  const DecodeError want = referenceHeader(frame);
  if (header != want) {
    return std::string("parseHeader said '") + toString(header) + "', the format says '" + toString(want) + "'";
  }
  if (header == DecodeError::None || header == DecodeError::UnknownType) {
    if (h.size != le32(frame, 0) || h.version != frame[4] || h.type != frame[5] || h.request != le64(frame, 8)) {
      return "parseHeader's fields differ from the header bytes";
    }
  }
  Header dh;
  const DecodeError d = decode(frame, dh, m);
  if (header != DecodeError::None) {
    if (d != header) return std::string("decode said '") + toString(d) + "' on a header parseHeader calls '" + toString(header) + "'";
    return {};
  }
  if (frame.size() != h.size) {
    if (d != DecodeError::BadSize) return "decode accepted a frame whose size field is not its length";
    return {};
  }
  const auto payload = frame.subspan(kHeaderSize);
  const bool valid = referencePayloadValid(*layoutOf(h.type), payload);
  if (valid != (d == DecodeError::None)) {
    return std::string("decode said '") + toString(d) + "', the format says the payload is " +
           (valid ? "well-formed" : "malformed");
  }
  Message pm;
  const DecodeError pd = decodePayload(h, payload, pm);
  if (pd != d) return "decodePayload and decode disagree";
  if (d != DecodeError::None) return {};

  if (static_cast<uint8_t>(typeOf(m)) != h.type) return "decoded message has another type than the header";
  if (!(pm == m)) return "decodePayload and decode give different messages";
  std::vector<uint8_t> again;
  try {
    again = encode(dh.request, m);
  } catch (const std::exception& e) {
    return std::string("a decoded message does not re-encode: ") + e.what();
  }
  if (!std::equal(again.begin(), again.end(), frame.begin(), frame.end())) {
    return "re-encoding a decoded message gives other bytes: " + hexBytes(again);
  }
  Header h2;
  Message m2;
  if (decode(again, h2, m2) != DecodeError::None || !(m2 == m) || h2.request != h.request) {
    return "the re-encoded frame does not decode to the same message";
  }
  return {};
}

// A message built from arbitrary bytes (for the encoder's side): the first byte picks the type,
// the next 16 fill the fixed fields, the rest becomes the variable part. Lengths (outLen) come
// raw, so they may exceed the limits.
inline Message messageFromBytes(std::span<const uint8_t> b) {
  uint8_t fixedBytes[17] = {};
  std::copy_n(b.begin(), std::min<size_t>(b.size(), sizeof fixedBytes), fixedBytes);
  const std::span<const uint8_t> f(fixedBytes);
  const auto rest = b.size() > sizeof fixedBytes ? b.subspan(sizeof fixedBytes) : std::span<const uint8_t>();
  const std::vector<uint8_t> tail(rest.begin(), rest.end());
  const auto i32 = [&](size_t at) { return static_cast<int32_t>(le32(f, at)); };
  // outLen: mostly within the limit, sometimes raw.
  const uint32_t outLen = (f[0] & 0x80) != 0 ? le32(f, 5) : le32(f, 5) % (kMaxBuffer + 1);
  switch (f[0] % 11) {
    case 0:
      return SocketControlRequest{le32(f, 1), outLen, tail};
    case 1:
      return SocketControlReply{i32(1), le64(f, 9), tail};
    case 2:
      return DeviceOpenRequest{std::string(tail.begin(), tail.end())};
    case 3:
      return DeviceOpenReply{i32(1), le32(f, 5)};
    case 4:
      return DeviceIoctlRequest{le32(f, 1), le32(f, 9), outLen, tail};
    case 5:
      return DeviceIoctlReply{i32(1), le64(f, 9), tail};
    case 6:
      return DeviceCloseRequest{le32(f, 1)};
    case 7:
      return DeviceCloseReply{i32(1)};
    case 8:
      return ServiceCallRequest{le32(f, 1), le32(f, 5), tail};
    case 9:
      return ServiceCallReply{i32(1), tail};
    default:
      return ErrorReply{i32(1)};
  }
}

// Encoding any message: refused (std::length_error) exactly when a field is beyond its limit;
// otherwise a frame of the documented size that passes checkFrame and decodes back to the
// message and request.
inline std::string checkMessage(const Message& m, uint64_t request) {
  bool refused = false;
  const size_t payloadSize = expectedPayloadSize(m, refused);
  std::vector<uint8_t> frame;
  try {
    frame = encode(request, m);
  } catch (const std::length_error&) {
    return refused ? std::string() : "encode refused a message within the limits";
  }
  if (refused) return "encode accepted a message beyond the limits";
  if (frame.size() != kHeaderSize + payloadSize) return "encoded frame has the wrong size";
  if (std::string f = checkFrame(frame); !f.empty()) return "encoded frame: " + f;
  Header h;
  Message back;
  if (decode(frame, h, back) != DecodeError::None) return "an encoded frame does not decode";
  if (!(back == m) || h.request != request) return "an encoded message decodes to another message";
  return {};
}

// What readFrame must do with a stream whose unread bytes are `rest`, then closed by the peer.
struct ExpectedRead {
  ReadStatus status = ReadStatus::Eof;
  size_t consumed = 0;  // bytes of a frame read (Ok / UnknownType)
};
inline ExpectedRead expectedRead(std::span<const uint8_t> rest) {
  if (rest.empty()) return {ReadStatus::Eof, 0};
  if (rest.size() < kHeaderSize) return {ReadStatus::IoError, 0};
  const DecodeError h = referenceHeader(rest);
  if (h != DecodeError::None && h != DecodeError::UnknownType) return {ReadStatus::Malformed, 0};
  const size_t size = le32(rest, 0);
  if (rest.size() < size) return {ReadStatus::IoError, 0};
  if (h == DecodeError::UnknownType) return {ReadStatus::UnknownType, size};
  const bool valid = referencePayloadValid(*layoutOf(rest[5]), rest.subspan(kHeaderSize, size - kHeaderSize));
  return {valid ? ReadStatus::Ok : ReadStatus::Malformed, size};
}

inline const char* statusName(ReadStatus s) {
  switch (s) {
    case ReadStatus::Ok:
      return "Ok";
    case ReadStatus::Eof:
      return "Eof";
    case ReadStatus::IoError:
      return "IoError";
    case ReadStatus::Malformed:
      return "Malformed";
    case ReadStatus::UnknownType:
      return "UnknownType";
    case ReadStatus::TimedOut:
      return "TimedOut";
  }
  return "?";
}

// At most this many bytes go through a socket pair (fits its buffer without a reader thread).
inline constexpr size_t kMaxStreamBytes = 64 * 1024;

// The bytes as a connection's whole stream (the peer writes them, with a descriptor on the first
// byte when passFd, then closes): readFrame returns frame after frame as the format says, each
// Ok frame being the message its bytes encode, carrying the kernel's credentials of the sender,
// and the descriptor arriving with the first frame only; the stream ends as the format says
// (Eof only at a frame boundary).
inline std::string checkStream(std::span<const uint8_t> bytes, bool passFd) {
  using net::UniqueFd;
  bytes = bytes.first(std::min(bytes.size(), kMaxStreamBytes));
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return "socketpair failed";
  net::UniqueFd reader(sv[0]);
  net::UniqueFd writer(sv[1]);
  int one = 1;
  if (::setsockopt(reader.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) return "SO_PASSCRED failed";
  passFd = passFd && !bytes.empty();
  if (!writeFrame(writer.get(), bytes, passFd ? writer.get() : -1)) return "writeFrame failed";
  ::shutdown(writer.get(), SHUT_WR);

  size_t pos = 0;
  for (int index = 0;; ++index) {
    ReceivedFrame frame;
    const ReadStatus got = readFrame(reader.get(), frame);
    const auto rest = bytes.subspan(pos);
    const ExpectedRead want = expectedRead(rest);
    const std::string where = "frame " + std::to_string(index) + " at byte " + std::to_string(pos) + ": ";
    if (got != want.status) {
      return where + "readFrame returned " + statusName(got) + ", the format says " + statusName(want.status);
    }
    if (got == ReadStatus::Eof || got == ReadStatus::IoError || got == ReadStatus::Malformed) return {};
    const size_t fdsWanted = passFd && index == 0 ? 1 : 0;
    if (frame.fds.size() != fdsWanted) {
      return where + std::to_string(frame.fds.size()) + " descriptors, " + std::to_string(fdsWanted) + " sent";
    }
    if (!frame.credentials.present || frame.credentials.pid != ::getpid() || frame.credentials.uid != ::getuid()) {
      return where + "the sender's credentials are missing or wrong";
    }
    const auto bytesOfFrame = rest.first(want.consumed);
    if (frame.header.size != want.consumed || frame.header.request != le64(bytesOfFrame, 8)) {
      return where + "header differs from the frame's bytes";
    }
    if (got == ReadStatus::Ok) {
      Header h;
      Message m;
      if (decode(bytesOfFrame, h, m) != DecodeError::None || !(m == frame.message)) {
        return where + "the message read is not the one the frame's bytes encode";
      }
    }
    pos += want.consumed;
  }
}

}  // namespace openwfp::control::props
