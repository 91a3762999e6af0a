// km/device_io.cpp - IRPs for named devices: open / device control / cleanup / close, as the
// Windows I/O manager sends them (see km/device_io.h).
//
// Locking: gMu guards gLive (outstanding IRPs); gFilesMu guards gFiles (file objects alive) and
// gOpens; File::mu guards a file's counters and flags (taken after gFilesMu). None is held while
// a dispatch routine or a completion callback runs.
#include "km/device_io.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "km/internal.h"
#include "km/support.h"
#include "verifier/verifier.h"

namespace openwfp::km {
namespace {

thread_local uint64_t tlsRequestorPid = 0;

}  // namespace

uint64_t currentRequestorPid() { return tlsRequestorPid; }
RequestorScope::RequestorScope(uint64_t pid) : previous_(tlsRequestorPid) { tlsRequestorPid = pid; }
RequestorScope::~RequestorScope() { tlsRequestorPid = previous_; }

namespace device {

class File {
 public:
  FILE_OBJECT object{};
  PDEVICE_OBJECT device = nullptr;  // referenced (deviceAddRef) until the File is destroyed
  std::wstring path;                // as opened, for the file object's FileName
  std::mutex mu;                    // guards the fields below
  size_t outstanding = 0;           // IRPs other than CREATE/CLEANUP/CLOSE not yet completed
  bool closing = false;             // close() called: no new requests
  bool cleanedUp = false;           // CLEANUP completed; CLOSE due when outstanding == 0
  bool closeSent = false;
  bool detached = false;            // the driver unloaded: no more IRPs
  uint64_t closerPid = 0;           // requestor of the CLOSE (the process that closed)
  uint32_t granted = security::kAll;  // rights the device's descriptor granted the opener
  uint64_t openerPid = 0;           // the process that opened it (diagnostics)

  ~File();
};

namespace {

constexpr CSHORT kIoTypeIrp = 6;   // IO_TYPE_IRP
constexpr CSHORT kIoTypeFile = 5;  // IO_TYPE_FILE

struct IrpRecord {
  IRP irp{};
  IO_STACK_LOCATION stack{};
  std::vector<uint8_t> buffer;  // the system buffer
  std::shared_ptr<File> file;
  PDEVICE_OBJECT device = nullptr;
  std::string driverName;
  uint64_t requestorPid = 0;
  size_t outLen = 0;
  bool counted = false;  // counted in file->outstanding
  bool pendingReturned = false;  // the dispatch routine returned STATUS_PENDING (gMu)
  Descriptor attached;            // attachDescriptor (gMu)
  IoDone done;
};

std::mutex gMu;
std::unordered_map<const IRP*, std::shared_ptr<IrpRecord>> gLive;
std::mutex gFilesMu;
std::unordered_set<File*> gFiles;
std::map<const DEVICE_OBJECT*, size_t> gOpens;  // file objects per device (DO_EXCLUSIVE)

const char* majorName(UCHAR major) { return majorFunctionName(major); }

void report(const std::string& driver, std::string message) {
  verifier::CurrentDriverScope scope(driver);
  internal::reportMisuse(std::move(message));
}

void finish(const std::shared_ptr<IrpRecord>& rec);
void sendClose(const std::shared_ptr<File>& file);

// Called by IoCompleteRequest (any thread).
void onComplete(void* irpPointer) {
  auto* irp = static_cast<IRP*>(irpPointer);
  std::shared_ptr<IrpRecord> rec;
  {
    std::lock_guard lock(gMu);
    auto it = gLive.find(irp);
    if (it != gLive.end()) {
      rec = std::move(it->second);
      gLive.erase(it);
    }
  }
  if (!rec) {
    internal::reportMisuse(fmt::format(
        "IoCompleteRequest({}): not an outstanding IRP (completed twice, or not from the I/O manager)",
        static_cast<void*>(irp)));
    return;
  }
  finish(rec);
}

}  // namespace

bool attachDescriptor(const void* irp, Descriptor descriptor) {
  Descriptor replaced;  // closed outside the lock
  std::lock_guard lock(gMu);
  auto it = gLive.find(static_cast<const IRP*>(irp));
  if (it == gLive.end() || it->second->stack.MajorFunction != IRP_MJ_DEVICE_CONTROL) return false;
  replaced = std::exchange(it->second->attached, std::move(descriptor));
  return true;
}

namespace {

void installCompletionHandler() {
  static std::once_flag once;
  std::call_once(once, [] { setIrpCompletionHandler(onComplete); });
}

// Delivers the result of a completed (or abandoned) IRP to its requester.
void finish(const std::shared_ptr<IrpRecord>& rec) {
  IoResult result;
  result.status = rec->irp.IoStatus.Status;
  result.information = rec->irp.IoStatus.Information;
  if (result.status == STATUS_PENDING) {
    report(rec->driverName, fmt::format("IoCompleteRequest: {} completed with STATUS_PENDING",
                                        majorName(rec->stack.MajorFunction)));
    result.status = STATUS_UNSUCCESSFUL;
  }
  if (rec->stack.MajorFunction == IRP_MJ_DEVICE_CONTROL && !NT_ERROR(result.status)) {
    size_t n = static_cast<size_t>(result.information);
    if (n > rec->outLen) {
      report(rec->driverName,
             fmt::format("IoCompleteRequest: IRP_MJ_DEVICE_CONTROL code 0x{:08X} Information {} exceeds the "
                         "output buffer length {}",
                         rec->stack.Parameters.DeviceIoControl.IoControlCode, result.information, rec->outLen));
      n = rec->outLen;
    }
    result.output.assign(rec->buffer.begin(), rec->buffer.begin() + static_cast<std::ptrdiff_t>(n));
    result.descriptor = std::move(rec->attached);  // out of gLive (under gMu): nobody attaches now
  } else if (NT_ERROR(result.status)) {
    result.information = 0;
  }
  rec->attached.reset();  // not delivered (an error status): closed
  IoDone done = std::move(rec->done);
  rec->done = nullptr;
  if (done) {
    try {
      done(std::move(result));
    } catch (...) {
    }
  }
  if (!rec->counted) return;
  bool closeNow = false;
  {
    std::lock_guard lock(rec->file->mu);
    --rec->file->outstanding;
    if (rec->file->outstanding == 0 && rec->file->cleanedUp && !rec->file->closeSent && !rec->file->detached) {
      rec->file->closeSent = true;
      closeNow = true;
    }
  }
  if (closeNow) sendClose(rec->file);
}

std::shared_ptr<IrpRecord> makeIrp(const std::shared_ptr<File>& file, UCHAR major, uint64_t requestorPid) {
  auto rec = std::make_shared<IrpRecord>();
  rec->file = file;
  rec->device = file->device;
  rec->requestorPid = requestorPid;
  IRP& irp = rec->irp;
  irp.Type = kIoTypeIrp;
  irp.Size = sizeof(IRP) + sizeof(IO_STACK_LOCATION);
  InitializeListHead(&irp.ThreadListEntry);
  InitializeListHead(&irp.Tail.Overlay.ListEntry);
  irp.RequestorMode = UserMode;
  irp.StackCount = 1;
  irp.CurrentLocation = 1;
  irp.IoStatus.Status = STATUS_SUCCESS;
  irp.Tail.Overlay.CurrentStackLocation = &rec->stack;
  irp.Tail.Overlay.OriginalFileObject = &file->object;
  rec->stack.MajorFunction = major;
  rec->stack.DeviceObject = file->device;
  rec->stack.FileObject = &file->object;
  return rec;
}

// Sends the IRP to the driver. The result goes to rec->done exactly once.
void dispatch(const std::shared_ptr<IrpRecord>& rec) {
  installCompletionHandler();
  PDEVICE_OBJECT device = rec->device;
  DRIVER_OBJECT* driver = device->DriverObject;
  rec->driverName = driverNameOf(driver);
  const UCHAR major = rec->stack.MajorFunction;
  PDRIVER_DISPATCH routine = driver != nullptr ? driver->MajorFunction[major] : nullptr;
  if (routine == nullptr) {
    rec->irp.IoStatus.Status = STATUS_INVALID_DEVICE_REQUEST;
    rec->irp.IoStatus.Information = 0;
    finish(rec);
    return;
  }
  {
    std::lock_guard lock(gMu);
    gLive.emplace(&rec->irp, rec);
  }
  NTSTATUS status;
  {
    verifier::CurrentDriverScope scope(rec->driverName);
    RequestorScope requestor(rec->requestorPid);
    IrqlScope irql(PASSIVE_LEVEL);
    try {
      status = routine(device, &rec->irp);
    } catch (...) {
      status = STATUS_UNSUCCESSFUL;
      spdlog::error("[{}] {} dispatch routine threw an exception", rec->driverName, majorName(major));
    }
  }
  if (status == STATUS_PENDING) {
    if ((rec->stack.Control & SL_PENDING_RETURNED) == 0) {
      report(rec->driverName, fmt::format("{} dispatch returned STATUS_PENDING without IoMarkIrpPending",
                                          majorName(major)));
    }
    std::lock_guard lock(gMu);
    if (auto it = gLive.find(&rec->irp); it != gLive.end()) it->second->pendingReturned = true;
    return;  // completed (or already completed) by IoCompleteRequest
  }
  bool stillLive;
  {
    std::lock_guard lock(gMu);
    stillLive = gLive.erase(&rec->irp) == 1;
  }
  if (stillLive) {
    report(rec->driverName,
           fmt::format("{} dispatch returned 0x{:08X} without completing the IRP (IoCompleteRequest) and without "
                       "STATUS_PENDING; completed by openwfp",
                       majorName(major), static_cast<uint32_t>(status)));
    rec->irp.IoStatus.Status = status;
    finish(rec);
  }
}

// Sends an IRP and waits for its completion.
IoResult dispatchSync(const std::shared_ptr<IrpRecord>& rec) {
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    IoResult result;
  };
  auto wait = std::make_shared<Wait>();
  rec->done = [wait](IoResult r) {
    std::lock_guard lock(wait->mu);
    wait->result = std::move(r);
    wait->done = true;
    wait->cv.notify_all();
  };
  dispatch(rec);
  std::unique_lock lock(wait->mu);
  wait->cv.wait(lock, [&] { return wait->done; });
  return std::move(wait->result);
}

void NTAPI closeWorkItem(PDEVICE_OBJECT, PVOID context);

struct DeferredClose {
  std::shared_ptr<File> file;
  PIO_WORKITEM item = nullptr;
};

void closeNowSync(const std::shared_ptr<File>& file) {
  uint64_t pid;
  {
    std::lock_guard lock(file->mu);
    if (file->detached) return;
    pid = file->closerPid;
  }
  auto rec = makeIrp(file, IRP_MJ_CLOSE, pid);
  dispatchSync(rec);
}

// CLOSE after the last outstanding IRP completed: on a work item, not on the completing thread
// (which may hold the driver's locks).
void sendClose(const std::shared_ptr<File>& file) {
  auto* deferred = new DeferredClose{file, nullptr};
  {
    verifier::CurrentDriverScope scope(driverNameOf(file->device->DriverObject));
    deferred->item = IoAllocateWorkItem(file->device);
  }
  if (deferred->item == nullptr) {
    delete deferred;
    closeNowSync(file);
    return;
  }
  IoQueueWorkItem(deferred->item, closeWorkItem, DelayedWorkQueue, deferred);
}

void NTAPI closeWorkItem(PDEVICE_OBJECT, PVOID context) {
  auto* deferred = static_cast<DeferredClose*>(context);
  IoFreeWorkItem(deferred->item);
  closeNowSync(deferred->file);
  delete deferred;
}

bool startsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

std::wstring widen(const std::string& s) {
  std::wstring out;
  for (unsigned char c : s) out += static_cast<wchar_t>(c);
  return out;
}

}  // namespace

File::~File() {
  {
    std::lock_guard lock(gFilesMu);
    gFiles.erase(this);
    if (auto it = gOpens.find(device); it != gOpens.end() && --it->second == 0) gOpens.erase(it);
  }
  if (device != nullptr) internal::deviceRelease(device);
}

std::shared_ptr<File> open(const std::string& path, uint64_t requestorPid, int32_t& status) {
  const security::Opener engine{requestorPid, static_cast<uint32_t>(::geteuid()), static_cast<uint32_t>(::getegid()),
                                false, true};
  return open(path, engine, status);
}

namespace {

// \\.\Name -> the symbolic links a driver may have created for it; the device, referenced.
PDEVICE_OBJECT resolveDevice(const std::string& path, int32_t& status) {
  static constexpr const char* kDosPrefix = "\\\\.\\";
  static constexpr const char* kGlobalRoot = "\\\\.\\GLOBALROOT\\";
  std::vector<std::wstring> candidates;
  if (startsWith(path, kGlobalRoot) && path.size() > std::strlen(kGlobalRoot)) {
    candidates.push_back(widen(path.substr(std::strlen(kGlobalRoot) - 1)));
  } else if (startsWith(path, kDosPrefix) && path.size() > std::strlen(kDosPrefix) &&
             path.find('\\', std::strlen(kDosPrefix)) == std::string::npos && path.find('\0') == std::string::npos) {
    const std::wstring name = widen(path.substr(std::strlen(kDosPrefix)));
    for (const wchar_t* prefix : {L"\\DosDevices\\", L"\\??\\", L"\\GLOBAL??\\", L"\\DosDevices\\Global\\"}) {
      candidates.push_back(prefix + name);
    }
  } else {
    status = STATUS_OBJECT_NAME_INVALID;
    return nullptr;
  }
  for (const auto& c : candidates) {
    if (PDEVICE_OBJECT device = referenceDeviceByName(c)) return device;
  }
  status = STATUS_OBJECT_NAME_NOT_FOUND;
  return nullptr;
}

}  // namespace

std::shared_ptr<File> open(const std::string& path, const security::Opener& opener, int32_t& status) {
  const uint64_t requestorPid = opener.pid;
  PDEVICE_OBJECT device = resolveDevice(path, status);
  if (device == nullptr) return nullptr;
  const uint32_t granted = deviceAccessFor(device, opener);
  if (granted == 0) {  // the descriptor lets this opener do nothing (S14.6)
    internal::deviceRelease(device);
    status = STATUS_ACCESS_DENIED;
    return nullptr;
  }
  auto file = std::make_shared<File>();
  file->granted = granted;
  file->openerPid = requestorPid;
  file->device = device;  // the reference is released by ~File
  file->path = widen(path);
  file->object.Type = kIoTypeFile;
  file->object.Size = sizeof(FILE_OBJECT);
  file->object.DeviceObject = device;
  file->object.ReadAccess = (granted & security::kRead) != 0;
  file->object.WriteAccess = (granted & security::kWrite) != 0;
  file->object.FileName.Buffer = file->path.data();
  file->object.FileName.Length = static_cast<USHORT>(std::min<size_t>(file->path.size(), 0x7FFF) * sizeof(WCHAR));
  file->object.FileName.MaximumLength = file->object.FileName.Length;
  {
    std::lock_guard lock(gFilesMu);
    size_t& opens = gOpens[device];
    if ((device->Flags & DO_EXCLUSIVE) != 0 && opens > 0) {
      status = STATUS_ACCESS_DENIED;
      file->device = nullptr;  // not counted in gOpens
      internal::deviceRelease(device);
      return nullptr;
    }
    ++opens;
    gFiles.insert(file.get());
  }
  auto rec = makeIrp(file, IRP_MJ_CREATE, requestorPid);
  IoResult result = dispatchSync(rec);
  status = result.status;
  if (NT_SUCCESS(status)) return file;
  return nullptr;  // a failed CREATE: no CLEANUP/CLOSE follow (as on Windows)
}

void ioctl(const std::shared_ptr<File>& file, uint32_t code, std::span<const uint8_t> in, size_t outLen,
           uint64_t requestorPid, IoDone done) {
  auto fail = [&](int32_t status) {
    IoResult r;
    r.status = status;
    if (done) done(std::move(r));
  };
  if (!file) return fail(STATUS_INVALID_HANDLE);
  if (in.size() > kMaxBuffer || outLen > kMaxBuffer) return fail(STATUS_INVALID_PARAMETER);
  if (((code >> 14) & 3u & ~file->granted) != 0) return fail(STATUS_ACCESS_DENIED);  // CTL_CODE access bits
  {
    std::lock_guard lock(file->mu);
    if (file->closing) return fail(STATUS_INVALID_HANDLE);
    if (file->detached || !deviceIsLive(file->device)) return fail(STATUS_DELETE_PENDING);
    ++file->outstanding;
  }
  auto rec = makeIrp(file, IRP_MJ_DEVICE_CONTROL, requestorPid);
  rec->counted = true;
  rec->outLen = outLen;
  rec->done = std::move(done);
  const size_t size = std::max(in.size(), outLen);
  rec->buffer.assign(size, 0);
  if (!in.empty()) std::memcpy(rec->buffer.data(), in.data(), in.size());
  rec->irp.AssociatedIrp.SystemBuffer = size == 0 ? nullptr : rec->buffer.data();
  auto& p = rec->stack.Parameters.DeviceIoControl;
  p.IoControlCode = code;
  p.InputBufferLength = static_cast<ULONG>(in.size());
  p.OutputBufferLength = static_cast<ULONG>(outLen);
  if (METHOD_FROM_CTL_CODE(code) == METHOD_NEITHER) {
    p.Type3InputBuffer = rec->irp.AssociatedIrp.SystemBuffer;
    rec->irp.UserBuffer = rec->irp.AssociatedIrp.SystemBuffer;
  }
  dispatch(rec);
}

IoResult ioctlSync(const std::shared_ptr<File>& file, uint32_t code, std::span<const uint8_t> in, size_t outLen,
                   uint64_t requestorPid) {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  IoResult result;
  // The callback may run on another thread after this frame waits; it only touches the locals
  // above, which outlive the wait.
  ioctl(file, code, in, outLen, requestorPid, [&](IoResult r) {
    std::lock_guard lock(mu);
    result = std::move(r);
    finished = true;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return finished; });
  return result;
}

int32_t close(const std::shared_ptr<File>& file, uint64_t requestorPid) {
  if (!file) return STATUS_INVALID_HANDLE;
  {
    std::lock_guard lock(file->mu);
    if (file->closing) return STATUS_INVALID_HANDLE;
    file->closing = true;
    file->closerPid = requestorPid;
    if (file->detached) return STATUS_SUCCESS;
  }
  auto cleanup = makeIrp(file, IRP_MJ_CLEANUP, requestorPid);
  IoResult result = dispatchSync(cleanup);
  bool closeNow = false;
  {
    std::lock_guard lock(file->mu);
    file->cleanedUp = true;
    if (file->outstanding == 0 && !file->closeSent && !file->detached) {
      file->closeSent = true;
      closeNow = true;
    }
  }
  if (closeNow) closeNowSync(file);
  return result.status;
}

int32_t closeAbandoned(const std::shared_ptr<File>& file, uint64_t requestorPid) {
  if (!file) return STATUS_INVALID_HANDLE;
  std::vector<std::shared_ptr<IrpRecord>> outstanding;  // keep the IRPs alive while cancelling
  {
    std::lock_guard lock(gMu);
    for (const auto& [irp, rec] : gLive) {
      if (rec->file == file && rec->counted) outstanding.push_back(rec);
    }
  }
  for (const auto& rec : outstanding) {
    IrqlScope irql(PASSIVE_LEVEL);
    IoCancelIrp(&rec->irp);  // runs the driver's cancel routine in its driver scope, if set
  }
  return close(file, requestorPid);
}

size_t outstandingIrps() {
  std::lock_guard lock(gMu);
  return gLive.size();
}

std::vector<OpenFileInfo> openFiles() {
  std::vector<OpenFileInfo> out;
  std::vector<const File*> files;
  {
    std::lock_guard lock(gFilesMu);
    for (const File* f : gFiles) {
      if (f->device == nullptr) continue;
      OpenFileInfo i;
      i.path.assign(f->path.begin(), f->path.end());
      for (char& c : i.path) c = (c & 0x80) != 0 ? '?' : c;
      i.openerPid = f->openerPid;
      i.device = f->device;
      out.push_back(std::move(i));
      files.push_back(f);
    }
  }
  std::lock_guard lock(gMu);
  for (size_t k = 0; k < out.size(); ++k) {
    for (const auto& [irp, rec] : gLive) out[k].pendedIrps += rec->file.get() == files[k] && rec->pendingReturned ? 1 : 0;
  }
  return out;
}

const void* deviceIdentity(const std::string& path) {
  int32_t status = 0;
  PDEVICE_OBJECT device = resolveDevice(path, status);
  if (device == nullptr) return nullptr;
  internal::deviceRelease(device);
  return device;
}

size_t pendedIrps() {
  std::lock_guard lock(gMu);
  size_t n = 0;
  for (const auto& [irp, rec] : gLive) n += rec->pendingReturned ? 1 : 0;
  return n;
}

std::vector<std::string> releaseIrpsOf(const DRIVER_OBJECT* driver) {
  std::vector<std::shared_ptr<IrpRecord>> abandoned;
  std::vector<std::string> leaks;
  {
    std::lock_guard lock(gMu);
    for (auto it = gLive.begin(); it != gLive.end();) {
      if (it->second->device->DriverObject == driver) {
        abandoned.push_back(std::move(it->second));
        it = gLive.erase(it);
      } else {
        ++it;
      }
    }
  }
  {
    std::lock_guard lock(gFilesMu);
    for (File* f : gFiles) {
      if (f->device->DriverObject != driver) continue;
      std::lock_guard fileLock(f->mu);
      f->detached = true;
    }
  }
  for (auto& rec : abandoned) {
    std::string what = rec->stack.MajorFunction == IRP_MJ_DEVICE_CONTROL
                           ? fmt::format("IRP_MJ_DEVICE_CONTROL 0x{:08X}", rec->stack.Parameters.DeviceIoControl.IoControlCode)
                           : std::string(majorName(rec->stack.MajorFunction));
    leaks.push_back(fmt::format("{} from process {} not completed (IoCompleteRequest); cancelled", what,
                                rec->requestorPid));
    rec->irp.IoStatus.Status = STATUS_CANCELLED;
    rec->irp.IoStatus.Information = 0;
    {
      std::lock_guard fileLock(rec->file->mu);
      rec->counted = false;  // the file is detached: no CLOSE follows
      if (rec->file->outstanding > 0) --rec->file->outstanding;
    }
    finish(rec);
  }
  return leaks;
}

}  // namespace device
}  // namespace openwfp::km

extern "C" ULONG NTAPI IoGetRequestorProcessId(PIRP Irp) {
  if (Irp == nullptr) return 0;
  {
    std::lock_guard lock(openwfp::km::device::gMu);
    auto it = openwfp::km::device::gLive.find(Irp);
    if (it != openwfp::km::device::gLive.end()) return static_cast<ULONG>(it->second->requestorPid);
  }
  return static_cast<ULONG>(openwfp::km::currentRequestorPid());
}
