// winsock/socket_registry.cpp - the process-wide list of socket backends.
#include "winsock/socket_registry.h"

#include <algorithm>
#include <utility>

namespace openwfp::winsock {

SocketRegistry& SocketRegistry::instance() {
  static SocketRegistry* registry = new SocketRegistry;  // never destroyed: usable at exit
  return *registry;
}

SocketRegistry::Registration SocketRegistry::add(std::shared_ptr<SocketBackend> backend) {
  SocketBackend* raw = backend.get();
  std::lock_guard lock(mu_);
  backends_.push_back(std::move(backend));
  return Registration(this, raw);
}

void SocketRegistry::remove(SocketBackend* backend) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(backends_.begin(), backends_.end(),
                         [&](const auto& b) { return b.get() == backend; });
  if (it != backends_.end()) backends_.erase(it);
}

std::shared_ptr<SocketBackend> SocketRegistry::find(int fd) const {
  {
    std::lock_guard lock(mu_);
    for (const auto& b : backends_) {
      if (b->owns(fd)) return b;
    }
  }
  return osSocketBackend();
}

SocketRegistry::Registration::Registration(Registration&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)),
      backend_(std::exchange(other.backend_, nullptr)) {}

SocketRegistry::Registration& SocketRegistry::Registration::operator=(
    Registration&& other) noexcept {
  if (this != &other) {
    reset();
    registry_ = std::exchange(other.registry_, nullptr);
    backend_ = std::exchange(other.backend_, nullptr);
  }
  return *this;
}

SocketRegistry::Registration::~Registration() { reset(); }

void SocketRegistry::Registration::reset() {
  if (registry_ != nullptr) registry_->remove(backend_);
  registry_ = nullptr;
  backend_ = nullptr;
}

}  // namespace openwfp::winsock
