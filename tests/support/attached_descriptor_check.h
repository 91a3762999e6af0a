// tests/support/attached_descriptor_check.h - what a requester sees of a descriptor the driver
// attached to its IOCTL (km::device::attachDescriptor; OpenwfpIrpAttachApplicationSocket), for
// the in-process route and the control channel alike: test driver "testdev", IOCTL kAttach.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cstdint>

#include "openwfp/device.h"
#include "support/device_test_driver.h"

namespace devtest {

// What a read of fd gives within 5 s: the byte read, -1 at EOF (every write end closed), -2 when
// nothing came (the descriptor is still open somewhere), -3 on an error.
inline int readWithin5s(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 5000) != 1) return -2;
  unsigned char b = 0;
  const ssize_t n = ::read(fd, &b, 1);
  return n == 1 ? b : n == 0 ? -1 : -3;
}

// handle: an open handle of \\.\OwfpTestDev on the route under test.
inline void expectAttachedDescriptorsDelivered(int handle) {
  // A success delivers it, once: the requester writes into the pipe the driver made.
  const uint8_t ok = 0, fail = 1;
  ASSERT_EQ(openwfp_device_ioctl(handle, kAttach, &ok, 1, nullptr, 0, nullptr), 0);
  const int fd = openwfp_device_take_descriptor();
  ASSERT_GE(fd, 0) << "the reply carried no descriptor";
  EXPECT_EQ(openwfp_device_take_descriptor(), -1) << "taken twice";
  int readEnd = takeAttachedReadEnd();
  ASSERT_GE(readEnd, 0);
  ASSERT_EQ(::write(fd, "x", 1), 1);
  EXPECT_EQ(readWithin5s(readEnd), 'x');
  ::close(fd);
  EXPECT_EQ(readWithin5s(readEnd), -1) << "another copy of the write end stayed open (a leak)";
  ::close(readEnd);

  // An error status: not delivered, and closed.
  EXPECT_EQ(openwfp_device_ioctl(handle, kAttach, &fail, 1, nullptr, 0, nullptr), -1);
  EXPECT_EQ(openwfp_device_take_descriptor(), -1);
  readEnd = takeAttachedReadEnd();
  ASSERT_GE(readEnd, 0);
  EXPECT_EQ(readWithin5s(readEnd), -1) << "the descriptor of a failed request was kept open";
  ::close(readEnd);

  // Not taken: the thread's next IOCTL closes it.
  ASSERT_EQ(openwfp_device_ioctl(handle, kAttach, &ok, 1, nullptr, 0, nullptr), 0);
  readEnd = takeAttachedReadEnd();
  ASSERT_GE(readEnd, 0);
  char out[4];
  ASSERT_EQ(openwfp_device_ioctl(handle, kEcho, "abc", 3, out, sizeof out, nullptr), 0);
  EXPECT_EQ(openwfp_device_take_descriptor(), -1);
  EXPECT_EQ(readWithin5s(readEnd), -1) << "an untaken descriptor outlived the next IOCTL";
  ::close(readEnd);
}

}  // namespace devtest
