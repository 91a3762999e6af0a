// tests/support/allocation_meter.cpp - the replaceable global operator new / delete behind
// tests/support/allocation_meter.h: malloc and free, noting the size of each allocation in the
// calling thread's meter when one runs.
#include "support/allocation_meter.h"

#include <cstdlib>
#include <new>

namespace openwfp::testing_support {

size_t*& currentAllocationMeter() {
  static thread_local size_t* meter = nullptr;
  return meter;
}

}  // namespace openwfp::testing_support

namespace {

void* allocate(std::size_t size) {
  if (size_t* m = openwfp::testing_support::currentAllocationMeter(); m != nullptr && size > *m) *m = size;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

}  // namespace

void* operator new(std::size_t size) { return allocate(size); }
void* operator new[](std::size_t size) { return allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
