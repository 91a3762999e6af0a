// km/callbacks.cpp - callback objects (ExCreateCallback, ExRegisterCallback,
// ExUnregisterCallback, ExNotifyCallback) and memory descriptor lists (IoAllocateMdl, IoFreeMdl,
// MmBuildMdlForNonPagedPool).
//
// A named callback object is found by name; \Callback\PowerState, \Callback\SetSystemTime and
// \Callback\ProcessorAdd exist from the start. Callback objects live as long as the process (a
// driver's ObDereferenceObject of one is accepted and changes nothing). ExNotifyCallback calls
// every registered function, in registration order, with the object's recursive lock held, so
// that ExUnregisterCallback on another thread returns only after a running notification ended
// (a callback may unregister itself). A registration not removed is the driver's to remove.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "km/internal.h"
#include "km/support.h"
#include "verifier/verifier.h"

struct _CALLBACK_OBJECT {
  std::recursive_mutex mu;
  bool allowMultiple = true;
  struct Registration {
    PCALLBACK_FUNCTION fn;
    PVOID context;
    std::string driver;
  };
  std::vector<Registration*> registrations;
};

namespace {

using openwfp::km::internal::reportMisuse;

struct Directory {
  std::mutex mu;
  std::map<std::wstring, _CALLBACK_OBJECT*> named;
  std::map<_CALLBACK_OBJECT::Registration*, _CALLBACK_OBJECT*> registrations;
};

Directory& directory() {
  static Directory* d = [] {
    auto* created = new Directory;
    for (const wchar_t* name : {L"\\Callback\\PowerState", L"\\Callback\\SetSystemTime", L"\\Callback\\ProcessorAdd"}) {
      created->named[name] = new _CALLBACK_OBJECT;
    }
    return created;
  }();
  return *d;
}

std::wstring nameOf(const OBJECT_ATTRIBUTES* attributes) {
  if (attributes == nullptr || attributes->ObjectName == nullptr || attributes->ObjectName->Buffer == nullptr) return {};
  return std::wstring(attributes->ObjectName->Buffer, attributes->ObjectName->Length / sizeof(WCHAR));
}

constexpr ULONG kMdlTag = 0x6C644D49;  // "IMdl" as a pool tag

}  // namespace

extern "C" {

NTSTATUS NTAPI ExCreateCallback(PCALLBACK_OBJECT* CallbackObject, POBJECT_ATTRIBUTES ObjectAttributes, BOOLEAN Create,
                                BOOLEAN AllowMultipleCallbacks) {
  if (CallbackObject == nullptr || ObjectAttributes == nullptr) {
    reportMisuse("ExCreateCallback: CallbackObject and ObjectAttributes are required");
    return STATUS_INVALID_PARAMETER;
  }
  *CallbackObject = nullptr;
  const std::wstring name = nameOf(ObjectAttributes);
  Directory& d = directory();
  std::lock_guard lock(d.mu);
  if (!name.empty()) {
    auto it = d.named.find(name);
    if (it != d.named.end()) {
      *CallbackObject = it->second;
      return STATUS_SUCCESS;
    }
  }
  if (!Create) return name.empty() ? STATUS_INVALID_PARAMETER : STATUS_OBJECT_NAME_NOT_FOUND;
  auto* object = new _CALLBACK_OBJECT;
  object->allowMultiple = AllowMultipleCallbacks != FALSE;
  if (!name.empty()) d.named[name] = object;  // an unnamed object lives until the process ends too
  *CallbackObject = object;
  return STATUS_SUCCESS;
}

PVOID NTAPI ExRegisterCallback(PCALLBACK_OBJECT CallbackObject, PCALLBACK_FUNCTION CallbackFunction,
                               PVOID CallbackContext) {
  if (CallbackObject == nullptr || CallbackFunction == nullptr) {
    reportMisuse("ExRegisterCallback: CallbackObject and CallbackFunction are required");
    return nullptr;
  }
  std::lock_guard objectLock(CallbackObject->mu);
  if (!CallbackObject->allowMultiple && !CallbackObject->registrations.empty()) return nullptr;
  auto* reg = new _CALLBACK_OBJECT::Registration{CallbackFunction, CallbackContext, openwfp::verifier::currentDriver()};
  CallbackObject->registrations.push_back(reg);
  Directory& d = directory();
  std::lock_guard lock(d.mu);
  d.registrations[reg] = CallbackObject;
  return reg;
}

void NTAPI ExUnregisterCallback(PVOID CallbackRegistration) {
  auto* reg = static_cast<_CALLBACK_OBJECT::Registration*>(CallbackRegistration);
  Directory& d = directory();
  _CALLBACK_OBJECT* object = nullptr;
  {
    std::lock_guard lock(d.mu);
    auto it = d.registrations.find(reg);
    if (it == d.registrations.end()) {
      reportMisuse(fmt::format("ExUnregisterCallback({}): not a registration returned by ExRegisterCallback",
                               CallbackRegistration));
      return;
    }
    object = it->second;
    d.registrations.erase(it);
  }
  std::lock_guard objectLock(object->mu);  // waits for a notification running on another thread
  auto& regs = object->registrations;
  regs.erase(std::remove(regs.begin(), regs.end(), reg), regs.end());
  delete reg;
}

void NTAPI ExNotifyCallback(PVOID CallbackObject, PVOID Argument1, PVOID Argument2) {
  auto* object = static_cast<_CALLBACK_OBJECT*>(CallbackObject);
  if (object == nullptr) {
    reportMisuse("ExNotifyCallback(NULL)");
    return;
  }
  std::lock_guard objectLock(object->mu);
  const std::vector<_CALLBACK_OBJECT::Registration*> snapshot = object->registrations;
  for (auto* reg : snapshot) {
    auto& now = object->registrations;
    if (std::find(now.begin(), now.end(), reg) == now.end()) continue;  // unregistered by an earlier callback
    const PCALLBACK_FUNCTION fn = reg->fn;
    const PVOID context = reg->context;
    openwfp::verifier::CurrentDriverScope scope(reg->driver);
    fn(context, Argument1, Argument2);
  }
}

// ---- MDLs --------------------------------------------------------------------------------------
PMDL NTAPI IoAllocateMdl(PVOID VirtualAddress, ULONG Length, BOOLEAN SecondaryBuffer, BOOLEAN ChargeQuota, PIRP Irp) {
  (void)ChargeQuota;
  if (Length == 0) {
    reportMisuse("IoAllocateMdl: Length 0");
    return nullptr;
  }
  auto* mdl = static_cast<PMDL>(ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(MDL), kMdlTag));
  if (mdl == nullptr) return nullptr;
  mdl->Size = static_cast<CSHORT>(sizeof(MDL));
  mdl->StartVa = VirtualAddress;
  mdl->ByteOffset = 0;
  mdl->ByteCount = Length;
  mdl->MappedSystemVa = VirtualAddress;  // every buffer is mapped in openwfp
  mdl->MdlFlags = 0;
  if (Irp != nullptr) {
    if (!SecondaryBuffer || Irp->MdlAddress == nullptr) {
      Irp->MdlAddress = mdl;
    } else {
      PMDL last = static_cast<PMDL>(Irp->MdlAddress);
      while (last->Next != nullptr) last = last->Next;
      last->Next = mdl;
    }
  }
  return mdl;
}

void NTAPI IoFreeMdl(PMDL Mdl) {
  if (Mdl == nullptr) {
    reportMisuse("IoFreeMdl(NULL)");
    return;
  }
  ExFreePoolWithTag(Mdl, kMdlTag);
}

void NTAPI MmBuildMdlForNonPagedPool(PMDL MemoryDescriptorList) {
  if (MemoryDescriptorList == nullptr) {
    reportMisuse("MmBuildMdlForNonPagedPool(NULL)");
    return;
  }
  MemoryDescriptorList->MdlFlags |= MDL_SOURCE_IS_NONPAGED_POOL;
  MemoryDescriptorList->MappedSystemVa = MmGetMdlVirtualAddress(MemoryDescriptorList);
}

}  // extern "C"
