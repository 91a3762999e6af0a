// kmdf/fx.h - the framework objects behind the KMDF handles of wdf.h (docs/kmdf.md).
//
// Every handle is a pointer to an FxObject. A live object is registered (gLive), so a stale or
// foreign handle is reported to the verifier (KernelApiMisuse, naming the function) instead of
// being dereferenced. Objects form a tree through their parent (the driver by default, a
// queue's parent its device); WdfObjectDelete deletes the children first, then runs the
// object's EvtCleanupCallbacks, its own teardown, and, when the last reference goes, its
// EvtDestroyCallbacks and frees it.
//
// Locks: the object registry mutex (registry()) guards gLive and parent/child links; a queue's
// mutex guards its list of waiting requests. Neither is held while a driver callback runs.
#pragma once

#include <wdf.h>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace openwfp::kmdf {

enum class Kind { Driver, Device, Queue, Request, FileObject, SpinLock, WaitLock };
const char* kindName(Kind k);

struct FxObject {
  explicit FxObject(Kind k) : kind(k) {}
  virtual ~FxObject() = default;
  FxObject(const FxObject&) = delete;
  FxObject& operator=(const FxObject&) = delete;

  // Type-specific teardown, after the children and the cleanup callbacks (no lock held).
  virtual void teardown() {}

  struct Context {
    PCWDF_OBJECT_CONTEXT_TYPE_INFO type;
    PFN_WDF_OBJECT_CONTEXT_CLEANUP cleanup;
    PFN_WDF_OBJECT_CONTEXT_DESTROY destroy;
    void* block;  // [FxObject* header][context bytes]
    void* data;
  };

  const Kind kind;
  FxObject* parent = nullptr;
  std::vector<FxObject*> children;
  std::vector<Context> contexts;
  std::atomic<int> refs{1};
  bool deleting = false;
  PDRIVER_OBJECT driverObject = nullptr;  // the driver the object belongs to
};

// ---- Registry (objects.cpp) -------------------------------------------------------------------
std::mutex& registry();
// Registers obj (parent from attributes, else defaultParent), applies the attributes (cleanup,
// destroy callbacks and the context), returns STATUS_SUCCESS or the failure (obj freed then).
NTSTATUS registerObject(FxObject* obj, PWDF_OBJECT_ATTRIBUTES attributes, FxObject* defaultParent,
                        const char* fn);
// The live object behind handle of the kind asked, or nullptr after reporting the misuse.
FxObject* lookup(const void* handle, Kind kind, const char* fn);
template <typename T>
T* as(const void* handle, Kind kind, const char* fn) {
  return static_cast<T*>(lookup(handle, kind, fn));
}
// Deletes obj and its children (WdfObjectDelete without the request check).
void deleteObject(FxObject* obj);
void release(FxObject* obj);  // drops a reference; frees at zero
void reportMisuse(const std::string& message);

// ---- Driver and devices (driver.cpp, device.cpp) ------------------------------------------------
struct FxQueue;
struct FxFile;

struct FxDriver : FxObject {
  FxDriver() : FxObject(Kind::Driver) {}
  WDF_DRIVER_CONFIG config{};
  std::wstring registryPath;
  void teardown() override;
};
FxDriver* driverFor(PDRIVER_OBJECT driverObject);

struct FxDevice : FxObject {
  FxDevice() : FxObject(Kind::Device) {}
  PDEVICE_OBJECT wdm = nullptr;
  std::wstring name;
  std::vector<std::wstring> links;
  FxQueue* defaultQueue = nullptr;
  std::map<WDF_REQUEST_TYPE, FxQueue*> dispatch;  // WdfDeviceConfigureRequestDispatching
  WDF_FILEOBJECT_CONFIG fileConfig{};
  bool hasFileConfig = false;
  WDF_OBJECT_ATTRIBUTES fileAttributes{};
  bool hasFileAttributes = false;
  std::map<PFILE_OBJECT, FxFile*> files;  // under registry()
  void teardown() override;
};

struct FxFile : FxObject {
  FxFile() : FxObject(Kind::FileObject) {}
  PFILE_OBJECT wdm = nullptr;
  FxDevice* device = nullptr;
};

// ---- Queues and requests (queue.cpp, request.cpp) -----------------------------------------------
struct FxRequest : FxObject {
  FxRequest() : FxObject(Kind::Request) {}
  PIRP irp = nullptr;
  FxDevice* device = nullptr;
  FxFile* file = nullptr;
  FxQueue* queue = nullptr;      // the queue that presented it or holds it
  bool inQueue = false;          // waiting in queue->waiting (framework-cancelable)
  bool presented = false;        // delivered to the driver (counts for a sequential queue)
  ULONG_PTR information = 0;
  PFN_WDF_REQUEST_CANCEL evtCancel = nullptr;  // WdfRequestMarkCancelable
  std::atomic<bool> completed{false};
};

struct FxQueue : FxObject {
  FxQueue() : FxObject(Kind::Queue) {}
  WDF_IO_QUEUE_CONFIG config{};
  FxDevice* device = nullptr;
  std::mutex mu;
  std::deque<FxRequest*> waiting;
  size_t presentedCount = 0;  // requests presented and not completed (sequential dispatch)
  void teardown() override;
};

// Hands a new request to queue (dispatch or wait, per its dispatch type).
void queueRequest(FxQueue* queue, FxRequest* request);
// Cancels the waiting requests of file (IRP_MJ_CLEANUP) in every queue of device.
void cancelWaitingOf(FxDevice* device, FxFile* file);
// A presented request of a sequential queue completed: present the next one.
void requestDone(FxQueue* queue);

}  // namespace openwfp::kmdf
