// redirect_driver_cxx17.cpp - a connect-redirect callout driver written as for Windows, in C++17
// (SPEC S1.1, S1.4). It is only compiled (tests/compile/CMakeLists.txt, ctest
// S1_1_CompileAsC11AndCxx17) with nothing but -I include/openwfp/km.
//
// Unlike the C11 driver it uses the version-independent names of fwpvi.h (FWPS_CALLOUT,
// FwpsCalloutRegister, FwpmFilterAdd, ...), redirects inline inside classifyFn, keeps a V4/V6
// auth-connect callout that recognises redirected connections, enumerates its filters, and
// defines its own GUIDs by switching DEFINE_GUID to definitions after the WDK headers
// (#define INITGUID, then <guiddef.h>), so the built-in layer GUIDs come from libopenwfp.
#define NDIS630 1

#include <ntddk.h>
#include <ndis.h>
#include <fwpsk.h>
#include <fwpmk.h>
#include <mstcpip.h>
#include <ws2ipdef.h>

#define INITGUID
#include <guiddef.h>

DEFINE_GUID(CXX_PROVIDER_KEY, 0x7d1e2a44, 0x51c9, 0x4b8e, 0x8a, 0x60, 0x13, 0x0f, 0x9e, 0x2d, 0x44, 0x10);
DEFINE_GUID(CXX_SUBLAYER_KEY, 0x7d1e2a44, 0x51c9, 0x4b8e, 0x8a, 0x60, 0x13, 0x0f, 0x9e, 0x2d, 0x44, 0x11);
DEFINE_GUID(CXX_REDIRECT_V4_KEY, 0x7d1e2a44, 0x51c9, 0x4b8e, 0x8a, 0x60, 0x13, 0x0f, 0x9e, 0x2d, 0x44, 0x12);
DEFINE_GUID(CXX_REDIRECT_V6_KEY, 0x7d1e2a44, 0x51c9, 0x4b8e, 0x8a, 0x60, 0x13, 0x0f, 0x9e, 0x2d, 0x44, 0x13);
DEFINE_GUID(CXX_AUTH_V4_KEY, 0x7d1e2a44, 0x51c9, 0x4b8e, 0x8a, 0x60, 0x13, 0x0f, 0x9e, 0x2d, 0x44, 0x14);

namespace {

// Pool tag "Cxx1" spelled numerically: g++ 12 cannot silence -Wmultichar from a header.
constexpr ULONG kPoolTag = 0x31787843;
constexpr USHORT kProxyPort = 9443;

struct CalloutSpec {
  const GUID *calloutKey;
  const GUID *layerKey;
  FWPS_CALLOUT_CLASSIFY_FN classifyFn;
  UINT32 calloutId;
  UINT64 filterId;
};

PDEVICE_OBJECT gDevice = nullptr;
HANDLE gEngine = nullptr;
HANDLE gRedirectHandle = nullptr;
KSPIN_LOCK gStatsLock;
LONG gRedirected = 0;
UINT64 gAuthorizedRedirects = 0;

class InStackLock {
 public:
  explicit InStackLock(PKSPIN_LOCK lock) { KeAcquireInStackQueuedSpinLock(lock, &handle_); }
  ~InStackLock() { KeReleaseInStackQueuedSpinLock(&handle_); }
  InStackLock(const InStackLock &) = delete;
  InStackLock &operator=(const InStackLock &) = delete;

 private:
  KLOCK_QUEUE_HANDLE handle_;
};

void NTAPI RedirectClassify(_In_ const FWPS_INCOMING_VALUES *inFixedValues,
                            _In_ const FWPS_INCOMING_METADATA_VALUES *inMetaValues,
                            _Inout_opt_ void *layerData, _In_opt_ const void *classifyContext,
                            _In_ const FWPS_FILTER *filter, _In_ UINT64 flowContext,
                            _Inout_ FWPS_CLASSIFY_OUT *classifyOut) {
  UNREFERENCED_PARAMETER(layerData);
  UNREFERENCED_PARAMETER(flowContext);
  if (!(classifyOut->rights & FWPS_RIGHT_ACTION_WRITE)) return;

  const bool isV6 = inFixedValues->layerId == FWPS_LAYER_ALE_CONNECT_REDIRECT_V6;
  const UINT32 portIndex = isV6 ? static_cast<UINT32>(FWPS_FIELD_ALE_CONNECT_REDIRECT_V6_IP_REMOTE_PORT)
                                : static_cast<UINT32>(FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_IP_REMOTE_PORT);
  const UINT16 remotePort = inFixedValues->incomingValue[portIndex].value.uint16;
  if (remotePort == kProxyPort) {
    classifyOut->actionType = FWP_ACTION_PERMIT;
    return;
  }

  HANDLE records = FWPS_IS_METADATA_FIELD_PRESENT(inMetaValues, FWPS_METADATA_FIELD_REDIRECT_RECORD_HANDLE)
                       ? inMetaValues->redirectRecords
                       : nullptr;
  void *previousContext = nullptr;
  switch (FwpsQueryConnectionRedirectState(records, gRedirectHandle, &previousContext)) {
    case FWPS_CONNECTION_REDIRECTED_BY_SELF:
    case FWPS_CONNECTION_PREVIOUSLY_REDIRECTED_BY_SELF:
      classifyOut->actionType = FWP_ACTION_PERMIT;
      return;
    case FWPS_CONNECTION_NOT_REDIRECTED:
    case FWPS_CONNECTION_REDIRECTED_BY_OTHER:
    default:
      break;
  }

  UINT64 classifyHandle = 0;
  if (!NT_SUCCESS(FwpsAcquireClassifyHandle(const_cast<void *>(classifyContext), 0, &classifyHandle))) {
    classifyOut->actionType = FWP_ACTION_PERMIT;
    return;
  }

  FWPS_CONNECT_REQUEST *request = nullptr;
  NTSTATUS status = FwpsAcquireWritableLayerDataPointer(
      classifyHandle, filter->filterId, 0, reinterpret_cast<PVOID *>(&request), classifyOut);
  if (NT_SUCCESS(status)) {
    // Original destination, then the records, as the proxy will want them.
    SIZE_T recordsSize = 0;
    status = FwpsQueryConnectionSioFormatRedirectRecords(records, nullptr, 0, &recordsSize);
    const SIZE_T contextSize = sizeof(SOCKADDR_STORAGE) + (status == STATUS_BUFFER_TOO_SMALL ? recordsSize : 0);
    auto *context = static_cast<UCHAR *>(ExAllocatePool2(POOL_FLAG_NON_PAGED, contextSize, kPoolTag));
    if (context != nullptr) {
      RtlCopyMemory(context, &request->remoteAddressAndPort, sizeof(SOCKADDR_STORAGE));
      if (contextSize > sizeof(SOCKADDR_STORAGE)) {
        SIZE_T written = 0;
        status = FwpsQueryConnectionSioFormatRedirectRecords(
            records, context + sizeof(SOCKADDR_STORAGE), contextSize - sizeof(SOCKADDR_STORAGE),
            &written);
        NT_ASSERT(NT_SUCCESS(status) && written <= recordsSize);
      }
    }

    if (isV6) {
      auto *remote = reinterpret_cast<SOCKADDR_IN6 *>(&request->remoteAddressAndPort);
      IN6_SET_ADDR_LOOPBACK(&remote->sin6_addr);
      remote->sin6_port = RtlUshortByteSwap(kProxyPort);
    } else {
      auto *remote = reinterpret_cast<SOCKADDR_IN *>(&request->remoteAddressAndPort);
      remote->sin_addr.s_addr = RtlUlongByteSwap(INADDR_LOOPBACK);
      remote->sin_port = RtlUshortByteSwap(kProxyPort);
    }
    request->localRedirectTargetPID = static_cast<DWORD>(reinterpret_cast<ULONG_PTR>(PsGetCurrentProcessId()));
    request->localRedirectHandle = gRedirectHandle;
    request->localRedirectContext = context;
    request->localRedirectContextSize = context != nullptr ? contextSize : 0;

    FwpsApplyModifiedLayerData(classifyHandle, request, 0);
    InterlockedIncrement(&gRedirected);
    classifyOut->actionType = FWP_ACTION_PERMIT;
  } else {
    classifyOut->actionType = FWP_ACTION_BLOCK;
    classifyOut->rights &= ~FWPS_RIGHT_ACTION_WRITE;
  }
  FwpsReleaseClassifyHandle(classifyHandle);
}

void NTAPI AuthConnectClassify(_In_ const FWPS_INCOMING_VALUES *inFixedValues,
                               _In_ const FWPS_INCOMING_METADATA_VALUES *inMetaValues,
                               _Inout_opt_ void *layerData, _In_opt_ const void *classifyContext,
                               _In_ const FWPS_FILTER *filter, _In_ UINT64 flowContext,
                               _Inout_ FWPS_CLASSIFY_OUT *classifyOut) {
  UNREFERENCED_PARAMETER(layerData);
  UNREFERENCED_PARAMETER(classifyContext);
  UNREFERENCED_PARAMETER(filter);
  UNREFERENCED_PARAMETER(flowContext);
  const UINT32 flags = inFixedValues->incomingValue[FWPS_FIELD_ALE_AUTH_CONNECT_V4_FLAGS].value.uint32;
  if ((flags & FWP_CONDITION_FLAG_IS_CONNECTION_REDIRECTED) &&
      FWPS_IS_METADATA_FIELD_PRESENT(inMetaValues, FWPS_METADATA_FIELD_LOCAL_REDIRECT_TARGET_PID) &&
      FWPS_IS_METADATA_FIELD_PRESENT(inMetaValues, FWPS_METADATA_FIELD_ORIGINAL_DESTINATION)) {
    const SOCKADDR *original = inMetaValues->originalDestination;
    KdPrintEx((DPFLTR_IHVNETWORK_ID, DPFLTR_TRACE_LEVEL, "cxx: redirected to pid %u, family %u\n",
               static_cast<unsigned>(inMetaValues->localRedirectTargetPID),
               static_cast<unsigned>(original->sa_family)));
    InStackLock lock(&gStatsLock);
    ++gAuthorizedRedirects;
  }
  if (classifyOut->rights & FWPS_RIGHT_ACTION_WRITE) classifyOut->actionType = FWP_ACTION_PERMIT;
}

NTSTATUS NTAPI Notify(_In_ FWPS_CALLOUT_NOTIFY_TYPE notifyType, _In_ const GUID *filterKey,
                      _Inout_ FWPS_FILTER *filter) {
  if (notifyType == FWPS_CALLOUT_NOTIFY_ADD_FILTER && filterKey != nullptr &&
      !IsEqualGUID(*filterKey, GUID_NULL)) {
    filter->context = filter->filterId;
  }
  return STATUS_SUCCESS;
}

void NTAPI FlowDelete(_In_ UINT16 layerId, _In_ UINT32 calloutId, _In_ UINT64 flowContext) {
  UNREFERENCED_PARAMETER(layerId);
  UNREFERENCED_PARAMETER(calloutId);
  UNREFERENCED_PARAMETER(flowContext);
}

CalloutSpec gCallouts[] = {
    {&CXX_REDIRECT_V4_KEY, &FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, RedirectClassify, 0, 0},
    {&CXX_REDIRECT_V6_KEY, &FWPM_LAYER_ALE_CONNECT_REDIRECT_V6, RedirectClassify, 0, 0},
    {&CXX_AUTH_V4_KEY, &FWPM_LAYER_ALE_AUTH_CONNECT_V4, AuthConnectClassify, 0, 0},
};

NTSTATUS AddFilter(CalloutSpec &spec, FWP_BYTE_BLOB *appId) {
  FWPM_FILTER_CONDITION conditions[2] = {};
  UINT32 count = 0;
  conditions[count].fieldKey = FWPM_CONDITION_IP_PROTOCOL;
  conditions[count].matchType = FWP_MATCH_EQUAL;
  conditions[count].conditionValue.type = FWP_UINT8;
  conditions[count].conditionValue.uint8 = IPPROTO_TCP;
  ++count;
  if (appId != nullptr && IsEqualGUID(*spec.layerKey, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4)) {
    conditions[count].fieldKey = FWPM_CONDITION_ALE_APP_ID;
    conditions[count].matchType = FWP_MATCH_EQUAL;
    conditions[count].conditionValue.type = FWP_BYTE_BLOB_TYPE;
    conditions[count].conditionValue.byteBlob = appId;
    ++count;
  }

  UINT64 weight = 0x0F00000000000000ull;
  FWPM_FILTER filter = {};
  filter.displayData.name = const_cast<wchar_t *>(L"openwfp C++ compile-test filter");
  filter.providerKey = const_cast<GUID *>(&CXX_PROVIDER_KEY);
  filter.layerKey = *spec.layerKey;
  filter.subLayerKey = CXX_SUBLAYER_KEY;
  filter.weight.type = FWP_UINT64;
  filter.weight.uint64 = &weight;
  filter.numFilterConditions = count;
  filter.filterCondition = conditions;
  filter.action.type = FWP_ACTION_CALLOUT_UNKNOWN;
  filter.action.calloutKey = *spec.calloutKey;
  filter.flags = FWPM_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED;
  filter.rawContext = 0;
  return FwpmFilterAdd(gEngine, &filter, nullptr, &spec.filterId);
}

NTSTATUS CountOwnFilters(UINT32 *total) {
  *total = 0;
  FWPM_FILTER_ENUM_TEMPLATE0 enumTemplate = {};
  enumTemplate.providerKey = const_cast<GUID *>(&CXX_PROVIDER_KEY);
  enumTemplate.layerKey = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  enumTemplate.enumType = FWP_FILTER_ENUM_OVERLAPPING;
  enumTemplate.actionMask = 0xFFFFFFFF;
  HANDLE enumHandle = nullptr;
  NTSTATUS status = FwpmFilterCreateEnumHandle0(gEngine, &enumTemplate, &enumHandle);
  if (!NT_SUCCESS(status)) return status;
  for (;;) {
    FWPM_FILTER **entries = nullptr;
    UINT32 returned = 0;
    status = FwpmFilterEnum0(gEngine, enumHandle, 16, &entries, &returned);
    if (!NT_SUCCESS(status) || returned == 0) break;
    *total += returned;
    FwpmFreeMemory(reinterpret_cast<void **>(&entries));
  }
  FwpmFilterDestroyEnumHandle0(gEngine, enumHandle);
  if (gCallouts[0].filterId != 0) {
    FWPM_FILTER *one = nullptr;
    if (NT_SUCCESS(FwpmFilterGetById(gEngine, gCallouts[0].filterId, &one))) {
      NT_ASSERT(one->filterId == gCallouts[0].filterId);
      FwpmFreeMemory(reinterpret_cast<void **>(&one));
    }
  }
  return status;
}

NTSTATUS RegisterAll() {
  FWPM_SESSION session = {};
  session.flags = FWPM_SESSION_FLAG_DYNAMIC;
  session.txnWaitTimeoutInMSec = 1000;
  NTSTATUS status = FwpmEngineOpen(nullptr, RPC_C_AUTHN_DEFAULT, nullptr, &session, &gEngine);
  if (!NT_SUCCESS(status)) return status;

  FWP_BYTE_BLOB *appId = nullptr;
  (void)FwpmGetAppIdFromFileName(L"/usr/bin/curl", &appId);

  status = FwpmTransactionBegin(gEngine, 0);
  if (!NT_SUCCESS(status)) return status;

  FWPM_PROVIDER provider = {};
  provider.providerKey = CXX_PROVIDER_KEY;
  provider.displayData.name = const_cast<wchar_t *>(L"openwfp C++ compile-test provider");
  FWPM_SUBLAYER subLayer = {};
  subLayer.subLayerKey = CXX_SUBLAYER_KEY;
  subLayer.displayData.name = const_cast<wchar_t *>(L"openwfp C++ compile-test sublayer");
  subLayer.weight = 0x8000;

  status = FwpmProviderAdd(gEngine, &provider, nullptr);
  if (NT_SUCCESS(status)) status = FwpmSubLayerAdd(gEngine, &subLayer, nullptr);
  for (CalloutSpec &spec : gCallouts) {
    if (!NT_SUCCESS(status)) break;
    FWPS_CALLOUT sCallout = {};
    sCallout.calloutKey = *spec.calloutKey;
    sCallout.flags = FWP_CALLOUT_FLAG_ALLOW_RECLASSIFY;
    sCallout.classifyFn = spec.classifyFn;
    sCallout.notifyFn = Notify;
    sCallout.flowDeleteFn = FlowDelete;
    status = FwpsCalloutRegister(gDevice, &sCallout, &spec.calloutId);
    if (!NT_SUCCESS(status)) break;

    FWPM_CALLOUT mCallout = {};
    mCallout.calloutKey = *spec.calloutKey;
    mCallout.displayData.name = const_cast<wchar_t *>(L"openwfp C++ compile-test callout");
    mCallout.applicableLayer = *spec.layerKey;
    status = FwpmCalloutAdd(gEngine, &mCallout, nullptr, nullptr);
    if (NT_SUCCESS(status)) status = AddFilter(spec, appId);
  }
  if (appId != nullptr) FwpmFreeMemory(reinterpret_cast<void **>(&appId));

  if (!NT_SUCCESS(status)) {
    FwpmTransactionAbort(gEngine);
    return status;
  }
  status = FwpmTransactionCommit(gEngine);
  UINT32 total = 0;
  if (NT_SUCCESS(status)) (void)CountOwnFilters(&total);
  return status;
}

// ---- Proxy channel: a worker system thread and cancelable pended IOCTLs ----------------------
KEVENT gStopEvent;
KEVENT gWorkEvent;
PETHREAD gWorker = nullptr;
KSPIN_LOCK gIrpLock;
LIST_ENTRY gIrpQueue;

void NTAPI WorkerThread(PVOID startContext) {
  UNREFERENCED_PARAMETER(startContext);
  LARGE_INTEGER timeout;
  timeout.QuadPart = -10LL * 1000 * 250;  // 250 ms, relative
  for (;;) {
    PVOID objects[] = {&gStopEvent, &gWorkEvent};
    const NTSTATUS status = KeWaitForMultipleObjects(2, objects, WaitAny, Executive, KernelMode, FALSE,
                                                     &timeout, nullptr);
    if (status == STATUS_WAIT_0) break;
    if (status == STATUS_WAIT_1) {
      LARGE_INTEGER delay;
      delay.QuadPart = -10LL * 1000;  // 1 ms
      KeDelayExecutionThread(KernelMode, FALSE, &delay);
    }
  }
  PsTerminateSystemThread(STATUS_SUCCESS);
}

void NTAPI CancelQueuedIrp(PDEVICE_OBJECT deviceObject, PIRP irp) {
  UNREFERENCED_PARAMETER(deviceObject);
  IoReleaseCancelSpinLock(irp->CancelIrql);
  KLOCK_QUEUE_HANDLE lockHandle;
  KeAcquireInStackQueuedSpinLock(&gIrpLock, &lockHandle);
  RemoveEntryList(&irp->Tail.Overlay.ListEntry);
  KeReleaseInStackQueuedSpinLock(&lockHandle);
  irp->IoStatus.Status = STATUS_CANCELLED;
  irp->IoStatus.Information = 0;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
}

// A cancel-safe queue for notifications waiting for the proxy to read them.
IO_CSQ gNotifyCsq;
LIST_ENTRY gNotifyQueue;
KSPIN_LOCK gNotifyLock;

void NTAPI CsqInsert(PIO_CSQ, PIRP irp) { InsertTailList(&gNotifyQueue, &irp->Tail.Overlay.ListEntry); }
void NTAPI CsqRemove(PIO_CSQ, PIRP irp) { RemoveEntryList(&irp->Tail.Overlay.ListEntry); }
PIRP NTAPI CsqPeek(PIO_CSQ, PIRP irp, PVOID) {
  PLIST_ENTRY next = irp == nullptr ? gNotifyQueue.Flink : irp->Tail.Overlay.ListEntry.Flink;
  return next == &gNotifyQueue ? nullptr : CONTAINING_RECORD(next, IRP, Tail.Overlay.ListEntry);
}
void NTAPI CsqAcquire(PIO_CSQ, PKIRQL irql) { KeAcquireSpinLock(&gNotifyLock, irql); }
void NTAPI CsqRelease(PIO_CSQ, KIRQL irql) { KeReleaseSpinLock(&gNotifyLock, irql); }
void NTAPI CsqCompleteCanceled(PIO_CSQ, PIRP irp) {
  irp->IoStatus.Status = STATUS_CANCELLED;
  irp->IoStatus.Information = 0;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
}

NTSTATUS InitNotifyQueue() {
  KeInitializeSpinLock(&gNotifyLock);
  InitializeListHead(&gNotifyQueue);
  return IoCsqInitialize(&gNotifyCsq, CsqInsert, CsqRemove, CsqPeek, CsqAcquire, CsqRelease, CsqCompleteCanceled);
}

void QueueNotify(PIRP irp, PIO_CSQ_IRP_CONTEXT context) { IoCsqInsertIrp(&gNotifyCsq, irp, context); }

void FlushNotifyQueue() {
  for (PIRP irp = IoCsqRemoveNextIrp(&gNotifyCsq, nullptr); irp != nullptr;
       irp = IoCsqRemoveNextIrp(&gNotifyCsq, nullptr)) {
    irp->IoStatus.Status = STATUS_SUCCESS;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
  }
}

PIRP TakeNotify(PIO_CSQ_IRP_CONTEXT context) { return IoCsqRemoveIrp(&gNotifyCsq, context); }

IO_CSQ_IRP_CONTEXT gNotifyContext;

NTSTATUS NTAPI DeviceControl(PDEVICE_OBJECT deviceObject, PIRP irp) {
  UNREFERENCED_PARAMETER(deviceObject);
  if (IoGetCurrentIrpStackLocation(irp)->Parameters.DeviceIoControl.IoControlCode ==
      CTL_CODE(FILE_DEVICE_UNKNOWN, 0x901, METHOD_BUFFERED, FILE_ANY_ACCESS)) {
    if (PIRP previous = TakeNotify(&gNotifyContext)) CsqCompleteCanceled(&gNotifyCsq, previous);
    QueueNotify(irp, &gNotifyContext);
    return STATUS_PENDING;
  }
  KLOCK_QUEUE_HANDLE lockHandle;
  KeAcquireInStackQueuedSpinLock(&gIrpLock, &lockHandle);
  PDRIVER_CANCEL previous = IoSetCancelRoutine(irp, CancelQueuedIrp);
  ASSERT(previous == nullptr);
  if (irp->Cancel && IoSetCancelRoutine(irp, nullptr) != nullptr) {
    KeReleaseInStackQueuedSpinLock(&lockHandle);
    irp->IoStatus.Status = STATUS_CANCELLED;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return STATUS_CANCELLED;
  }
  IoMarkIrpPending(irp);
  InsertTailList(&gIrpQueue, &irp->Tail.Overlay.ListEntry);
  KeReleaseInStackQueuedSpinLock(&lockHandle);
  (void)KeSetEvent(&gWorkEvent, EVENT_INCREMENT, FALSE);
  return STATUS_PENDING;
}

NTSTATUS StartWorker() {
  NTSTATUS queued = InitNotifyQueue();
  if (!NT_SUCCESS(queued)) return queued;
  KeInitializeEvent(&gStopEvent, NotificationEvent, FALSE);
  KeInitializeEvent(&gWorkEvent, SynchronizationEvent, FALSE);
  KeInitializeSpinLock(&gIrpLock);
  InitializeListHead(&gIrpQueue);
  OBJECT_ATTRIBUTES attributes;
  InitializeObjectAttributes(&attributes, nullptr, OBJ_KERNEL_HANDLE, nullptr, nullptr);
  HANDLE thread = nullptr;
  NTSTATUS status = PsCreateSystemThread(&thread, THREAD_ALL_ACCESS, &attributes, nullptr, nullptr,
                                         WorkerThread, nullptr);
  if (!NT_SUCCESS(status)) return status;
  PVOID object = nullptr;
  status = ObReferenceObjectByHandle(thread, SYNCHRONIZE, *PsThreadType, KernelMode, &object, nullptr);
  ZwClose(thread);
  if (NT_SUCCESS(status)) gWorker = static_cast<PETHREAD>(object);
  return status;
}

void StopWorker() {
  FlushNotifyQueue();
  if (gWorker == nullptr) return;
  KeSetEvent(&gStopEvent, IO_NO_INCREMENT, FALSE);
  LARGE_INTEGER limit;
  limit.QuadPart = -10LL * 1000 * 1000 * 5;  // 5 s
  if (KeWaitForSingleObject(gWorker, Executive, KernelMode, FALSE, &limit) == STATUS_TIMEOUT) {
    KeWaitForSingleObject(gWorker, Executive, KernelMode, FALSE, nullptr);
  }
  ObDereferenceObject(gWorker);
  gWorker = nullptr;
}

}  // namespace

extern "C" DRIVER_INITIALIZE DriverEntry;
extern "C" DRIVER_UNLOAD CxxDriverUnload;

_Use_decl_annotations_ extern "C" void CxxDriverUnload(PDRIVER_OBJECT driverObject) {
  UNREFERENCED_PARAMETER(driverObject);
  StopWorker();
  for (CalloutSpec &spec : gCallouts) {
    if (gEngine != nullptr && spec.filterId != 0) FwpmFilterDeleteById(gEngine, spec.filterId);
  }
  if (gEngine != nullptr) {
    FwpmCalloutDeleteByKey(gEngine, &CXX_AUTH_V4_KEY);
    FwpmCalloutDeleteById(gEngine, gCallouts[0].calloutId);
    FwpmSubLayerDeleteByKey(gEngine, &CXX_SUBLAYER_KEY);
    FwpmProviderDeleteByKey(gEngine, &CXX_PROVIDER_KEY);
    FwpmFilterDeleteByKey(gEngine, &GUID_NULL);
    FwpmEngineClose(gEngine);
    gEngine = nullptr;
  }
  for (CalloutSpec &spec : gCallouts) {
    while (FwpsCalloutUnregisterById(spec.calloutId) == STATUS_DEVICE_BUSY) {
      // flows still carry contexts; a real driver removes them with FwpsFlowRemoveContext0
      (void)FwpsFlowRemoveContext(0, FWPS_LAYER_ALE_AUTH_CONNECT_V4, spec.calloutId);
    }
  }
  if (gRedirectHandle != nullptr) FwpsRedirectHandleDestroy(gRedirectHandle);
  if (gDevice != nullptr) IoDeleteDevice(gDevice);
}

_Use_decl_annotations_ extern "C" NTSTATUS DriverEntry(PDRIVER_OBJECT driverObject,
                                                       PUNICODE_STRING registryPath) {
  UNREFERENCED_PARAMETER(registryPath);
  UNICODE_STRING deviceName;
  RtlInitUnicodeString(&deviceName, L"\\Device\\OpenWfpCxxRedirect");
  LARGE_INTEGER frequency;
  const LARGE_INTEGER start = KeQueryPerformanceCounter(&frequency);
  KeInitializeSpinLock(&gStatsLock);

  driverObject->DriverUnload = CxxDriverUnload;
  NTSTATUS status = IoCreateDevice(driverObject, 0, &deviceName, FILE_DEVICE_UNKNOWN,
                                   FILE_DEVICE_SECURE_OPEN, FALSE, &gDevice);
  if (!NT_SUCCESS(status)) return status;
  driverObject->MajorFunction[IRP_MJ_DEVICE_CONTROL] = DeviceControl;
  status = StartWorker();
  if (NT_SUCCESS(status)) status = FwpsRedirectHandleCreate(&CXX_PROVIDER_KEY, 0, &gRedirectHandle);
  if (NT_SUCCESS(status)) status = RegisterAll();
  if (!NT_SUCCESS(status)) {
    CxxDriverUnload(driverObject);
    return status;
  }
  const LARGE_INTEGER end = KeQueryPerformanceCounter(nullptr);
  DbgPrint("cxx: registered in %lld ticks (%lld Hz)\n",
           static_cast<long long>(end.QuadPart - start.QuadPart),
           static_cast<long long>(frequency.QuadPart));
  return STATUS_SUCCESS;
}
