// kmdf/objects.cpp - framework objects: the handle registry, attributes and typed contexts,
// references, deletion (WdfObject*; docs/kmdf.md).
#include <cstdlib>
#include <cstring>
#include <new>
#include <unordered_set>

#include "km/internal.h"
#include "kmdf/fx.h"

namespace openwfp::kmdf {
namespace {

std::unordered_set<const FxObject*>& live() {
  static auto* s = new std::unordered_set<const FxObject*>();
  return *s;
}

constexpr size_t kHeader = 16;  // FxObject* before the context, keeps 16-byte alignment

bool sameType(PCWDF_OBJECT_CONTEXT_TYPE_INFO a, PCWDF_OBJECT_CONTEXT_TYPE_INFO b) {
  if (a == b) return true;
  // The same declaration seen from two modules (each has its selectany copy): same name, size.
  return a != nullptr && b != nullptr && a->ContextName != nullptr && b->ContextName != nullptr &&
         std::strcmp(a->ContextName, b->ContextName) == 0 && a->ContextSize == b->ContextSize;
}

PCWDF_OBJECT_CONTEXT_TYPE_INFO uniqueOf(PCWDF_OBJECT_CONTEXT_TYPE_INFO t) {
  if (t != nullptr && t->EvtDriverGetUniqueContextType != nullptr) return t->EvtDriverGetUniqueContextType();
  if (t != nullptr && t->UniqueType != nullptr) return t->UniqueType;
  return t;
}

// Adds a context described by attributes to obj (no lock needed: obj not yet shared, or the
// caller holds registry()).
NTSTATUS addContext(FxObject* obj, const WDF_OBJECT_ATTRIBUTES* a, void** out, const char* fn) {
  PCWDF_OBJECT_CONTEXT_TYPE_INFO type = uniqueOf(a->ContextTypeInfo);
  if (type == nullptr) {
    if (out != nullptr) *out = nullptr;
    return STATUS_SUCCESS;
  }
  for (const auto& c : obj->contexts) {
    if (sameType(c.type, type)) {
      (void)fn;
      if (out != nullptr) *out = c.data;  // as documented: the existing context
      return STATUS_OBJECT_NAME_EXISTS;
    }
  }
  size_t size = type->ContextSize;
  if (a->ContextSizeOverride != 0) {
    if (a->ContextSizeOverride < size) {
      reportMisuse(std::string(fn) + ": ContextSizeOverride is smaller than the context type");
      return STATUS_INVALID_PARAMETER;
    }
    size = a->ContextSizeOverride;
  }
  void* block = std::calloc(1, kHeader + (size == 0 ? 1 : size));
  if (block == nullptr) return STATUS_INSUFFICIENT_RESOURCES;
  *static_cast<FxObject**>(block) = obj;
  void* data = static_cast<char*>(block) + kHeader;
  obj->contexts.push_back({type, a->EvtCleanupCallback, a->EvtDestroyCallback, block, data});
  if (out != nullptr) *out = data;
  return STATUS_SUCCESS;
}

void freeObject(FxObject* obj) {
  for (auto it = obj->contexts.rbegin(); it != obj->contexts.rend(); ++it) {
    if (it->destroy != nullptr) it->destroy(reinterpret_cast<WDFOBJECT>(obj));
  }
  for (auto& c : obj->contexts) std::free(c.block);
  delete obj;
}

}  // namespace

const char* kindName(Kind k) {
  switch (k) {
    case Kind::Driver: return "WDFDRIVER";
    case Kind::Device: return "WDFDEVICE";
    case Kind::Queue: return "WDFQUEUE";
    case Kind::Request: return "WDFREQUEST";
    case Kind::FileObject: return "WDFFILEOBJECT";
    case Kind::SpinLock: return "WDFSPINLOCK";
    case Kind::WaitLock: return "WDFWAITLOCK";
  }
  return "WDFOBJECT";
}

std::mutex& registry() {
  static auto* m = new std::mutex();
  return *m;
}

void reportMisuse(const std::string& message) { km::internal::reportMisuse(message); }

NTSTATUS registerObject(FxObject* obj, PWDF_OBJECT_ATTRIBUTES attributes, FxObject* defaultParent,
                        const char* fn) {
  FxObject* parent = defaultParent;
  if (attributes != nullptr) {
    if (attributes->Size != sizeof(WDF_OBJECT_ATTRIBUTES)) {
      reportMisuse(std::string(fn) + ": WDF_OBJECT_ATTRIBUTES.Size is " +
                   std::to_string(attributes->Size) + " (WDF_OBJECT_ATTRIBUTES_INIT not called?)");
      delete obj;
      return STATUS_INFO_LENGTH_MISMATCH;
    }
    NTSTATUS st = addContext(obj, attributes, nullptr, fn);
    if (!NT_SUCCESS(st)) {
      freeObject(obj);
      return st;
    }
    if (attributes->ContextTypeInfo == nullptr &&
        (attributes->EvtCleanupCallback != nullptr || attributes->EvtDestroyCallback != nullptr)) {
      obj->contexts.push_back({nullptr, attributes->EvtCleanupCallback, attributes->EvtDestroyCallback,
                               nullptr, nullptr});
    }
  }
  std::lock_guard lock(registry());
  if (attributes != nullptr && attributes->ParentObject != nullptr) {
    auto* p = static_cast<FxObject*>(attributes->ParentObject);
    if (live().count(p) == 0 || p->deleting) {
      reportMisuse(std::string(fn) + ": ParentObject is not a live framework object");
      for (auto& c : obj->contexts) std::free(c.block);
      delete obj;
      return STATUS_INVALID_PARAMETER;
    }
    parent = p;
  }
  obj->parent = parent;
  if (parent != nullptr) {
    parent->children.push_back(obj);
    if (obj->driverObject == nullptr) obj->driverObject = parent->driverObject;
  }
  live().insert(obj);
  return STATUS_SUCCESS;
}

FxObject* lookup(const void* handle, Kind kind, const char* fn) {
  std::lock_guard lock(registry());
  auto* obj = static_cast<const FxObject*>(handle);
  if (handle == nullptr || live().count(obj) == 0) {
    reportMisuse(std::string(fn) + ": " + (handle == nullptr ? "NULL" : "stale or invalid") + " " +
                 kindName(kind) + " handle");
    return nullptr;
  }
  if (obj->kind != kind) {
    reportMisuse(std::string(fn) + ": the handle is a " + kindName(obj->kind) + ", not a " +
                 kindName(kind));
    return nullptr;
  }
  return const_cast<FxObject*>(obj);
}

void release(FxObject* obj) {
  if (obj->refs.fetch_sub(1) == 1) freeObject(obj);
}

void deleteObject(FxObject* obj) {
  std::vector<FxObject*> children;
  {
    std::lock_guard lock(registry());
    if (obj->deleting) return;
    obj->deleting = true;
    children = obj->children;
  }
  for (auto it = children.rbegin(); it != children.rend(); ++it) deleteObject(*it);
  for (auto it = obj->contexts.rbegin(); it != obj->contexts.rend(); ++it) {
    if (it->cleanup != nullptr) it->cleanup(reinterpret_cast<WDFOBJECT>(obj));
  }
  obj->teardown();
  {
    std::lock_guard lock(registry());
    live().erase(obj);
    if (obj->parent != nullptr) {
      auto& sib = obj->parent->children;
      for (auto it = sib.begin(); it != sib.end(); ++it) {
        if (*it == obj) {
          sib.erase(it);
          break;
        }
      }
    }
    obj->children.clear();
  }
  release(obj);
}

}  // namespace openwfp::kmdf

using namespace openwfp::kmdf;

extern "C" {

PVOID WdfObjectGetTypedContextWorker(WDFOBJECT Handle, PCWDF_OBJECT_CONTEXT_TYPE_INFO TypeInfo) {
  std::lock_guard lock(registry());
  auto* obj = static_cast<FxObject*>(Handle);
  if (Handle == nullptr || live().count(obj) == 0) {
    reportMisuse("WdfObjectGetTypedContextWorker: stale or invalid handle");
    return nullptr;
  }
  PCWDF_OBJECT_CONTEXT_TYPE_INFO want = uniqueOf(TypeInfo);
  for (const auto& c : obj->contexts) {
    if (c.type != nullptr && sameType(c.type, want)) return c.data;
  }
  return nullptr;
}

NTSTATUS WdfObjectAllocateContext(WDFOBJECT Handle, PWDF_OBJECT_ATTRIBUTES ContextAttributes,
                                  PVOID* Context) {
  if (ContextAttributes == nullptr || ContextAttributes->ContextTypeInfo == nullptr) {
    reportMisuse("WdfObjectAllocateContext: no context type in the attributes");
    return STATUS_INVALID_PARAMETER;
  }
  std::lock_guard lock(registry());
  auto* obj = static_cast<FxObject*>(Handle);
  if (Handle == nullptr || live().count(obj) == 0) {
    reportMisuse("WdfObjectAllocateContext: stale or invalid handle");
    return STATUS_INVALID_HANDLE;
  }
  if (obj->deleting) return STATUS_DELETE_PENDING;
  return addContext(obj, ContextAttributes, Context, "WdfObjectAllocateContext");
}

WDFOBJECT WdfObjectContextGetObject(PVOID ContextPointer) {
  if (ContextPointer == nullptr) return nullptr;
  return reinterpret_cast<WDFOBJECT>(
      *reinterpret_cast<FxObject**>(static_cast<char*>(ContextPointer) - kHeader));
}

void WdfObjectDelete(WDFOBJECT Object) {
  FxObject* obj = nullptr;
  {
    std::lock_guard lock(registry());
    auto* o = static_cast<FxObject*>(Object);
    if (Object != nullptr && live().count(o) != 0 && !o->deleting) obj = o;
  }
  if (obj == nullptr) {
    reportMisuse("WdfObjectDelete: stale or invalid handle (deleted twice?)");
    return;
  }
  if (obj->kind == Kind::Request || obj->kind == Kind::FileObject || obj->kind == Kind::Driver) {
    reportMisuse(std::string("WdfObjectDelete: a ") + kindName(obj->kind) +
                 " is deleted by the framework, not by the driver");
    return;
  }
  deleteObject(obj);
}

void WdfObjectReferenceActual(WDFOBJECT Handle, PVOID, LONG, PCCH) {
  std::lock_guard lock(registry());
  auto* obj = static_cast<FxObject*>(Handle);
  if (Handle == nullptr || live().count(obj) == 0) {
    reportMisuse("WdfObjectReference: stale or invalid handle");
    return;
  }
  obj->refs.fetch_add(1);
}

void WdfObjectDereferenceActual(WDFOBJECT Handle, PVOID, LONG, PCCH) {
  auto* obj = static_cast<FxObject*>(Handle);
  if (Handle == nullptr) {
    reportMisuse("WdfObjectDereference: NULL handle");
    return;
  }
  if (obj->refs.load() <= 1) {
    std::lock_guard lock(registry());
    if (live().count(obj) != 0) {
      reportMisuse("WdfObjectDereference: more dereferences than references");
      return;
    }
  }
  release(obj);
}

}  // extern "C"
