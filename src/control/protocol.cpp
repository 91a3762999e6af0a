// control/protocol.cpp - encoding and bounds-checked decoding of control channel frames.
#include "control/protocol.h"

#include <stdexcept>
#include <type_traits>

namespace openwfp::control {
namespace {

class Writer {
 public:
  void u8(uint8_t v) { out.push_back(v); }
  void u16(uint16_t v) {
    for (int i = 0; i < 2; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void bytes(std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }
  std::vector<uint8_t> out;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  bool u32(uint32_t& v) {
    if (b_.size() - pos_ < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(b_[pos_ + i]) << (8 * i);
    pos_ += 4;
    return true;
  }
  bool i32(int32_t& v) {
    uint32_t u;
    if (!u32(u)) return false;
    v = static_cast<int32_t>(u);
    return true;
  }
  bool u64(uint64_t& v) {
    if (b_.size() - pos_ < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(b_[pos_ + i]) << (8 * i);
    pos_ += 8;
    return true;
  }
  // Exactly n bytes, which must be all that is left.
  bool rest(size_t n, std::vector<uint8_t>& out) {
    if (b_.size() - pos_ != n) return false;
    out.assign(b_.begin() + static_cast<std::ptrdiff_t>(pos_), b_.end());
    pos_ = b_.size();
    return true;
  }
  bool done() const { return pos_ == b_.size(); }

 private:
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

uint32_t checkedLength(size_t n, size_t limit) {
  if (n > limit) throw std::length_error("openwfp control message field too long");
  return static_cast<uint32_t>(n);
}

std::span<const uint8_t> asBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

void encodePayload(Writer& w, const Message& m) {
  std::visit(
      [&](const auto& msg) {
        using T = std::decay_t<decltype(msg)>;
        if constexpr (std::is_same_v<T, SocketControlRequest>) {
          w.u32(msg.code);
          w.u32(checkedLength(msg.in.size(), kMaxBuffer));
          w.u32(checkedLength(msg.outLen, kMaxBuffer));
          w.u32(0);
          w.bytes(msg.in);
        } else if constexpr (std::is_same_v<T, SocketControlReply>) {
          w.u32(static_cast<uint32_t>(msg.err));
          w.u32(checkedLength(msg.out.size(), kMaxBuffer));
          w.u64(msg.returned);
          w.bytes(msg.out);
        } else if constexpr (std::is_same_v<T, DeviceOpenRequest>) {
          if (msg.path.empty() || msg.path.find('\0') != std::string::npos) {
            throw std::length_error("openwfp control: bad device path");
          }
          w.u32(checkedLength(msg.path.size(), kMaxPath));
          w.u32(0);
          w.bytes(asBytes(msg.path));
        } else if constexpr (std::is_same_v<T, DeviceOpenReply>) {
          w.u32(static_cast<uint32_t>(msg.status));
          w.u32(msg.handle);
        } else if constexpr (std::is_same_v<T, DeviceIoctlRequest>) {
          w.u32(msg.handle);
          w.u32(msg.code);
          w.u32(checkedLength(msg.in.size(), kMaxBuffer));
          w.u32(checkedLength(msg.outLen, kMaxBuffer));
          w.bytes(msg.in);
        } else if constexpr (std::is_same_v<T, DeviceIoctlReply>) {
          w.u32(static_cast<uint32_t>(msg.status));
          w.u32(checkedLength(msg.out.size(), kMaxBuffer));
          w.u64(msg.information);
          w.bytes(msg.out);
        } else if constexpr (std::is_same_v<T, DeviceCloseRequest>) {
          w.u32(msg.handle);
          w.u32(0);
        } else if constexpr (std::is_same_v<T, DeviceCloseReply>) {
          w.u32(static_cast<uint32_t>(msg.status));
          w.u32(0);
        } else if constexpr (std::is_same_v<T, ServiceCallRequest>) {
          w.u32(msg.service);
          w.u32(msg.op);
          w.u32(checkedLength(msg.payload.size(), kMaxBuffer));
          w.u32(0);
          w.bytes(msg.payload);
        } else if constexpr (std::is_same_v<T, ServiceCallReply>) {
          w.u32(static_cast<uint32_t>(msg.status));
          w.u32(checkedLength(msg.payload.size(), kMaxBuffer));
          w.bytes(msg.payload);
        } else {
          static_assert(std::is_same_v<T, ErrorReply>);
          w.u32(static_cast<uint32_t>(msg.err));
          w.u32(0);
        }
      },
      m);
}

bool zero(Reader& r) {
  uint32_t v;
  return r.u32(v) && v == 0;
}

DecodeError decodeKnown(MsgType type, std::span<const uint8_t> payload, Message& out) {
  Reader r(payload);
  switch (type) {
    case MsgType::SocketControl: {
      SocketControlRequest m;
      uint32_t inLen, outLen, reserved;
      if (!r.u32(m.code) || !r.u32(inLen) || !r.u32(outLen) || !r.u32(reserved)) return DecodeError::BadPayload;
      if (reserved != 0) return DecodeError::BadReserved;
      if (inLen > kMaxBuffer || outLen > kMaxBuffer || !r.rest(inLen, m.in)) return DecodeError::BadPayload;
      m.outLen = outLen;
      out = std::move(m);
      return DecodeError::None;
    }
    case MsgType::SocketControlReply: {
      SocketControlReply m;
      uint32_t count;
      if (!r.i32(m.err) || !r.u32(count) || !r.u64(m.returned)) return DecodeError::BadPayload;
      if (count > kMaxBuffer || !r.rest(count, m.out)) return DecodeError::BadPayload;
      out = std::move(m);
      return DecodeError::None;
    }
    case MsgType::DeviceOpen: {
      DeviceOpenRequest m;
      uint32_t len, reserved;
      std::vector<uint8_t> path;
      if (!r.u32(len) || !r.u32(reserved)) return DecodeError::BadPayload;
      if (reserved != 0) return DecodeError::BadReserved;
      if (len == 0 || len > kMaxPath || !r.rest(len, path)) return DecodeError::BadPayload;
      for (uint8_t c : path) {
        if (c == 0) return DecodeError::BadPayload;
      }
      m.path.assign(path.begin(), path.end());
      out = std::move(m);
      return DecodeError::None;
    }
    case MsgType::DeviceOpenReply: {
      DeviceOpenReply m;
      if (!r.i32(m.status) || !r.u32(m.handle) || !r.done()) return DecodeError::BadPayload;
      out = m;
      return DecodeError::None;
    }
    case MsgType::DeviceIoctl: {
      DeviceIoctlRequest m;
      uint32_t inLen;
      if (!r.u32(m.handle) || !r.u32(m.code) || !r.u32(inLen) || !r.u32(m.outLen)) return DecodeError::BadPayload;
      if (inLen > kMaxBuffer || m.outLen > kMaxBuffer || !r.rest(inLen, m.in)) return DecodeError::BadPayload;
      out = std::move(m);
      return DecodeError::None;
    }
    case MsgType::DeviceIoctlReply: {
      DeviceIoctlReply m;
      uint32_t count;
      if (!r.i32(m.status) || !r.u32(count) || !r.u64(m.information)) return DecodeError::BadPayload;
      if (count > kMaxBuffer || !r.rest(count, m.out)) return DecodeError::BadPayload;
      out = std::move(m);
      return DecodeError::None;
    }
    case MsgType::DeviceClose: {
      DeviceCloseRequest m;
      if (!r.u32(m.handle)) return DecodeError::BadPayload;
      if (!zero(r)) return DecodeError::BadReserved;
      if (!r.done()) return DecodeError::BadPayload;
      out = m;
      return DecodeError::None;
    }
    case MsgType::DeviceCloseReply: {
      DeviceCloseReply m;
      if (!r.i32(m.status)) return DecodeError::BadPayload;
      if (!zero(r)) return DecodeError::BadReserved;
      if (!r.done()) return DecodeError::BadPayload;
      out = m;
      return DecodeError::None;
    }
    case MsgType::Service: {
      ServiceCallRequest m;
      uint32_t len, reserved;
      if (!r.u32(m.service) || !r.u32(m.op) || !r.u32(len) || !r.u32(reserved)) return DecodeError::BadPayload;
      if (reserved != 0) return DecodeError::BadReserved;
      if (len > kMaxBuffer || !r.rest(len, m.payload)) return DecodeError::BadPayload;
      out = std::move(m);
      return DecodeError::None;
    }
    case MsgType::ServiceReply: {
      ServiceCallReply m;
      uint32_t len;
      if (!r.i32(m.status) || !r.u32(len)) return DecodeError::BadPayload;
      if (len > kMaxBuffer || !r.rest(len, m.payload)) return DecodeError::BadPayload;
      out = std::move(m);
      return DecodeError::None;
    }
    case MsgType::Error: {
      ErrorReply m;
      if (!r.i32(m.err)) return DecodeError::BadPayload;
      if (!zero(r)) return DecodeError::BadReserved;
      if (!r.done()) return DecodeError::BadPayload;
      out = m;
      return DecodeError::None;
    }
  }
  return DecodeError::UnknownType;
}

bool knownType(uint8_t t) {
  switch (static_cast<MsgType>(t)) {
    case MsgType::SocketControl:
    case MsgType::DeviceOpen:
    case MsgType::DeviceIoctl:
    case MsgType::DeviceClose:
    case MsgType::SocketControlReply:
    case MsgType::DeviceOpenReply:
    case MsgType::DeviceIoctlReply:
    case MsgType::DeviceCloseReply:
    case MsgType::Service:
    case MsgType::ServiceReply:
    case MsgType::Error:
      return true;
  }
  return false;
}

}  // namespace

MsgType typeOf(const Message& m) {
  static constexpr MsgType kTypes[] = {
      MsgType::SocketControl, MsgType::SocketControlReply, MsgType::DeviceOpen,
      MsgType::DeviceOpenReply, MsgType::DeviceIoctl, MsgType::DeviceIoctlReply,
      MsgType::DeviceClose, MsgType::DeviceCloseReply, MsgType::Error, MsgType::Service,
      MsgType::ServiceReply};
  return kTypes[m.index()];
}

std::vector<uint8_t> encode(uint64_t request, const Message& m) {
  Writer w;
  w.u32(0);  // size, patched below
  w.u8(kVersion);
  w.u8(static_cast<uint8_t>(typeOf(m)));
  w.u16(0);
  w.u64(request);
  encodePayload(w, m);
  if (w.out.size() > kMaxFrame) throw std::length_error("openwfp control frame too long");
  const auto size = static_cast<uint32_t>(w.out.size());
  for (int i = 0; i < 4; ++i) w.out[i] = static_cast<uint8_t>(size >> (8 * i));
  return std::move(w.out);
}

const char* toString(DecodeError e) {
  switch (e) {
    case DecodeError::None:
      return "ok";
    case DecodeError::BadSize:
      return "frame size out of range";
    case DecodeError::BadVersion:
      return "unsupported protocol version";
    case DecodeError::BadReserved:
      return "reserved field not zero";
    case DecodeError::UnknownType:
      return "unknown message type";
    case DecodeError::BadPayload:
      return "malformed payload";
  }
  return "?";
}

DecodeError parseHeader(std::span<const uint8_t> bytes, Header& header) {
  if (bytes.size() < kHeaderSize) return DecodeError::BadSize;
  Reader r(bytes.first(kHeaderSize));
  uint32_t size;
  r.u32(size);
  header.size = size;
  header.version = bytes[4];
  header.type = bytes[5];
  const uint16_t reserved = static_cast<uint16_t>(bytes[6] | (bytes[7] << 8));
  header.request = 0;
  for (int i = 0; i < 8; ++i) header.request |= static_cast<uint64_t>(bytes[8 + i]) << (8 * i);
  if (size < kHeaderSize || size > kMaxFrame) return DecodeError::BadSize;
  if (header.version != kVersion) return DecodeError::BadVersion;
  if (reserved != 0) return DecodeError::BadReserved;
  if (!knownType(header.type)) return DecodeError::UnknownType;
  return DecodeError::None;
}

DecodeError decodePayload(const Header& header, std::span<const uint8_t> payload, Message& out) {
  if (payload.size() + kHeaderSize != header.size) return DecodeError::BadSize;
  if (!knownType(header.type)) return DecodeError::UnknownType;
  return decodeKnown(static_cast<MsgType>(header.type), payload, out);
}

DecodeError decode(std::span<const uint8_t> frame, Header& header, Message& out) {
  DecodeError e = parseHeader(frame, header);
  if (e != DecodeError::None) return e;
  if (frame.size() != header.size) return DecodeError::BadSize;
  return decodePayload(header, frame.subspan(kHeaderSize), out);
}

}  // namespace openwfp::control
