// control/protocol.h - the messages of the control channel between proxies and the engine
// process (docs/control-channel.md). Pure encoding and decoding: no sockets here. The client
// (src/control/client.cpp) and the server (src/control/server.cpp) share it.
//
// A frame is a 16-byte header followed by a payload; integers are little-endian:
//   u32 size      whole frame in bytes, header included: 16 .. kMaxFrame
//   u8  version   kVersion
//   u8  type      MsgType
//   u16 reserved  0
//   u64 request   chosen by the client, echoed in the reply (replies may come out of order)
// Every length inside a payload is checked against the payload size and the limits below
// (S12.4); a frame that fails a check is malformed and the server closes the connection. A
// well-formed frame of an unknown type gets an Error reply (EOPNOTSUPP).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace openwfp::control {

inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderSize = 16;
inline constexpr size_t kMaxBuffer = 1u << 20;  // in / out bytes of one request
inline constexpr size_t kMaxPath = 1024;         // device path bytes
inline constexpr size_t kMaxFrame = kHeaderSize + 24 + kMaxBuffer;

enum class MsgType : uint8_t {
  SocketControl = 1,  // + one fd (SCM_RIGHTS)
  DeviceOpen = 2,
  DeviceIoctl = 3,
  DeviceClose = 4,
  Service = 5,  // engine service calls (openwfp/control.h ServiceRequest); up to 4 fds
  SocketControlReply = 0x81,
  DeviceOpenReply = 0x82,
  DeviceIoctlReply = 0x83,
  DeviceCloseReply = 0x84,
  ServiceReply = 0x85,
  Error = 0xFF,
};

// u32 code, u32 inLen, u32 outLen, u32 reserved, in[inLen]
struct SocketControlRequest {
  uint32_t code = 0;
  uint32_t outLen = 0;  // the caller's output buffer size (0: none / size probe)
  std::vector<uint8_t> in;
  friend bool operator==(const SocketControlRequest&, const SocketControlRequest&) = default;
};
// i32 err, u32 outCount, u64 returned, out[outCount]
struct SocketControlReply {
  int32_t err = 0;        // errno value, 0 on success
  uint64_t returned = 0;  // bytes written, or the size needed (ENOBUFS)
  std::vector<uint8_t> out;
  friend bool operator==(const SocketControlReply&, const SocketControlReply&) = default;
};
// u32 pathLen, u32 reserved, path[pathLen] (UTF-8, no NUL)
struct DeviceOpenRequest {
  std::string path;
  friend bool operator==(const DeviceOpenRequest&, const DeviceOpenRequest&) = default;
};
// i32 status, u32 handle
struct DeviceOpenReply {
  int32_t status = 0;  // NTSTATUS
  uint32_t handle = 0;
  friend bool operator==(const DeviceOpenReply&, const DeviceOpenReply&) = default;
};
// u32 handle, u32 code, u32 inLen, u32 outLen, in[inLen]
struct DeviceIoctlRequest {
  uint32_t handle = 0;
  uint32_t code = 0;
  uint32_t outLen = 0;
  std::vector<uint8_t> in;
  friend bool operator==(const DeviceIoctlRequest&, const DeviceIoctlRequest&) = default;
};
// i32 status, u32 outCount, u64 information, out[outCount]; plus at most one descriptor
// (SCM_RIGHTS) the driver attached (OpenwfpIrpAttachApplicationSocket), not part of the bytes.
struct DeviceIoctlReply {
  int32_t status = 0;
  uint64_t information = 0;
  std::vector<uint8_t> out;
  std::shared_ptr<int> descriptor = nullptr;  // km::device::Descriptor: closed with its last reference
  friend bool operator==(const DeviceIoctlReply&, const DeviceIoctlReply&) = default;
};
// u32 handle, u32 reserved
struct DeviceCloseRequest {
  uint32_t handle = 0;
  friend bool operator==(const DeviceCloseRequest&, const DeviceCloseRequest&) = default;
};
// i32 status, u32 reserved
struct DeviceCloseReply {
  int32_t status = 0;
  friend bool operator==(const DeviceCloseReply&, const DeviceCloseReply&) = default;
};
// u32 service, u32 op, u32 len, u32 reserved, payload[len]
struct ServiceCallRequest {
  uint32_t service = 0;
  uint32_t op = 0;
  std::vector<uint8_t> payload;
  friend bool operator==(const ServiceCallRequest&, const ServiceCallRequest&) = default;
};
// i32 status, u32 len, payload[len]
struct ServiceCallReply {
  int32_t status = 0;
  std::vector<uint8_t> payload;
  friend bool operator==(const ServiceCallReply&, const ServiceCallReply&) = default;
};
// i32 err, u32 reserved
struct ErrorReply {
  int32_t err = 0;
  friend bool operator==(const ErrorReply&, const ErrorReply&) = default;
};

using Message = std::variant<SocketControlRequest, SocketControlReply, DeviceOpenRequest, DeviceOpenReply,
                             DeviceIoctlRequest, DeviceIoctlReply, DeviceCloseRequest, DeviceCloseReply,
                             ErrorReply, ServiceCallRequest, ServiceCallReply>;

MsgType typeOf(const Message& m);

// The whole frame (header + payload). Throws std::length_error when a field exceeds its limit.
std::vector<uint8_t> encode(uint64_t request, const Message& m);

struct Header {
  uint32_t size = 0;
  uint8_t version = 0;
  uint8_t type = 0;
  uint64_t request = 0;
};

enum class DecodeError {
  None,
  BadSize,      // header size outside 16..kMaxFrame
  BadVersion,   // version != kVersion
  BadReserved,  // a reserved field is not 0
  UnknownType,  // well-formed header, type not known: answer with an Error reply
  BadPayload,   // payload inconsistent with its type (lengths, limits, NUL in a path)
};
const char* toString(DecodeError e);

// Parses the first kHeaderSize bytes (bytes.size() must be >= kHeaderSize).
DecodeError parseHeader(std::span<const uint8_t> bytes, Header& header);
// Decodes the payload (header.size - kHeaderSize bytes) of a frame whose header parsed.
DecodeError decodePayload(const Header& header, std::span<const uint8_t> payload, Message& out);
// Both steps over a complete frame (bytes.size() must equal the header's size).
DecodeError decode(std::span<const uint8_t> frame, Header& header, Message& out);

}  // namespace openwfp::control
