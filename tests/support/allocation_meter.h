// tests/support/allocation_meter.h - the largest single heap allocation the calling thread makes
// while a meter is running (for properties such as "the payload buffer grows as data arrives",
// S14.9). Works through the replaceable global operator new of tests/support/allocation_meter.cpp,
// which the test binary and the fuzz targets that use a meter link in; other threads and code
// outside a meter are not affected (the replacement only forwards to malloc).
#pragma once

#include <cstddef>

namespace openwfp::testing_support {

// The meter of this thread (nullptr: none); set by AllocationMeter.
size_t*& currentAllocationMeter();

class AllocationMeter {
 public:
  AllocationMeter() : previous_(currentAllocationMeter()) { currentAllocationMeter() = &largest_; }
  ~AllocationMeter() { currentAllocationMeter() = previous_; }
  AllocationMeter(const AllocationMeter&) = delete;
  AllocationMeter& operator=(const AllocationMeter&) = delete;
  size_t largest() const { return largest_; }

 private:
  size_t largest_ = 0;
  size_t* previous_;
};

}  // namespace openwfp::testing_support
