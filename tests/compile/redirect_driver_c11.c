/*
 * redirect_driver_c11.c - a connect-redirect callout driver written as for Windows, in C11
 * (SPEC S1.1). It is only compiled (tests/compile/CMakeLists.txt, ctest S1_1_CompileAsC11AndCxx17)
 * with nothing but -I include/openwfp/km: if it builds, a Windows driver of this shape builds.
 *
 * Shape: DriverEntry creates a device, a redirect handle, registers V4/V6 callouts with
 * FwpsCalloutRegister3 and adds provider, sublayer, callouts and filters in one transaction.
 * classifyFn skips its own connections (redirect state), pends the others, and a work item
 * rewrites the destination to a local proxy, attaches the SIO-format redirect records as context,
 * applies, completes and releases. DriverUnload undoes everything.
 */
#define NDIS630 1

#include <initguid.h>

#include <ntddk.h>
#include <wdm.h>
#include <ndis.h>
#include <fwpsk.h>
#include <fwpmk.h>
#include <mstcpip.h>
#include <ws2ipdef.h>

#define REDIR_POOL_TAG 'rdrC'
#define REDIR_PROXY_PORT 8888

DEFINE_GUID(REDIR_PROVIDER_KEY, 0x5c2f6a10, 0x2b1e, 0x4d6a, 0x9c, 0x1f, 0x6e, 0x4b, 0x3a, 0x71, 0x22, 0x01);
DEFINE_GUID(REDIR_SUBLAYER_KEY, 0x5c2f6a10, 0x2b1e, 0x4d6a, 0x9c, 0x1f, 0x6e, 0x4b, 0x3a, 0x71, 0x22, 0x02);
DEFINE_GUID(REDIR_CALLOUT_V4_KEY, 0x5c2f6a10, 0x2b1e, 0x4d6a, 0x9c, 0x1f, 0x6e, 0x4b, 0x3a, 0x71, 0x22, 0x03);
DEFINE_GUID(REDIR_CALLOUT_V6_KEY, 0x5c2f6a10, 0x2b1e, 0x4d6a, 0x9c, 0x1f, 0x6e, 0x4b, 0x3a, 0x71, 0x22, 0x04);

typedef struct _PENDED_CONNECT {
  LIST_ENTRY Link;
  UINT64 ClassifyHandle;
  UINT64 FilterId;
  HANDLE RedirectRecords;
  BOOLEAN IsV6;
  PIO_WORKITEM WorkItem;
} PENDED_CONNECT, *PPENDED_CONNECT;

typedef struct _REDIRECT_CONTEXT {
  SOCKADDR_STORAGE OriginalDestination;
  SIZE_T RecordsSize;
  UCHAR Records[1];
} REDIRECT_CONTEXT, *PREDIRECT_CONTEXT;

static PDEVICE_OBJECT gDeviceObject;
static HANDLE gEngineHandle;
static HANDLE gRedirectHandle;
static UINT32 gCalloutIdV4;
static UINT32 gCalloutIdV6;
static UINT64 gFilterIdV4;
static UINT64 gFilterIdV6;
static KSPIN_LOCK gPendedLock;
static LIST_ENTRY gPendedList;

DRIVER_INITIALIZE DriverEntry;
DRIVER_UNLOAD RedirDriverUnload;
IO_WORKITEM_ROUTINE RedirCompleteWorker;

static void RedirRewriteDestination(_Inout_ FWPS_CONNECT_REQUEST0 *connectRequest, _In_ BOOLEAN isV6) {
  if (!isV6) {
    SOCKADDR_IN *remote = (SOCKADDR_IN *)&connectRequest->remoteAddressAndPort;
    remote->sin_family = AF_INET;
    remote->sin_addr.s_addr = IN4ADDR_LOOPBACK;
    remote->sin_port = RtlUshortByteSwap(REDIR_PROXY_PORT);
  } else {
    SOCKADDR_IN6 *remote6 = (SOCKADDR_IN6 *)&connectRequest->remoteAddressAndPort;
    remote6->sin6_family = AF_INET6;
    IN6_SET_ADDR_LOOPBACK(&remote6->sin6_addr);
    remote6->sin6_port = RtlUshortByteSwap(REDIR_PROXY_PORT);
    remote6->sin6_scope_id = 0;
  }
}

_Use_decl_annotations_
void RedirCompleteWorker(PDEVICE_OBJECT DeviceObject, PVOID Context) {
  PPENDED_CONNECT pended = (PPENDED_CONNECT)Context;
  FWPS_CONNECT_REQUEST0 *connectRequest = NULL;
  FWPS_CLASSIFY_OUT0 classifyOut;
  PREDIRECT_CONTEXT context = NULL;
  SIZE_T needed = 0;
  KIRQL oldIrql;
  NTSTATUS status;

  UNREFERENCED_PARAMETER(DeviceObject);
  RtlZeroMemory(&classifyOut, sizeof(classifyOut));
  classifyOut.actionType = FWP_ACTION_PERMIT;

  KeAcquireSpinLock(&gPendedLock, &oldIrql);
  RemoveEntryList(&pended->Link);
  KeReleaseSpinLock(&gPendedLock, oldIrql);

  status = FwpsAcquireWritableLayerDataPointer0(pended->ClassifyHandle, pended->FilterId, 0,
                                                (PVOID *)&connectRequest, &classifyOut);
  if (!NT_SUCCESS(status)) {
    KdPrintEx((DPFLTR_IHVNETWORK_ID, DPFLTR_ERROR_LEVEL, "redir: writable data 0x%08x\n", (unsigned)status));
    classifyOut.actionType = FWP_ACTION_BLOCK;
    goto complete;
  }

  /* Size probe, then the real query. */
  status = FwpsQueryConnectionSioFormatRedirectRecords0(pended->RedirectRecords, NULL, 0, &needed);
  if (status != STATUS_BUFFER_TOO_SMALL && !NT_SUCCESS(status)) {
    needed = 0;
  }
  context = (PREDIRECT_CONTEXT)ExAllocatePool2(POOL_FLAG_NON_PAGED,
                                               FIELD_OFFSET(REDIRECT_CONTEXT, Records) + needed,
                                               REDIR_POOL_TAG);
  if (context != NULL) {
    RtlCopyMemory(&context->OriginalDestination, &connectRequest->remoteAddressAndPort,
                  sizeof(SOCKADDR_STORAGE));
    context->RecordsSize = 0;
    if (needed != 0) {
      status = FwpsQueryConnectionSioFormatRedirectRecords0(pended->RedirectRecords,
                                                            context->Records, needed,
                                                            &context->RecordsSize);
      ASSERT(NT_SUCCESS(status));
    }
  }

  RedirRewriteDestination(connectRequest, pended->IsV6);
  connectRequest->localRedirectTargetPID = (DWORD)(ULONG_PTR)PsGetCurrentProcessId();
  connectRequest->localRedirectHandle = gRedirectHandle;
  connectRequest->localRedirectContext = context; /* the engine owns it after Apply */
  connectRequest->localRedirectContextSize =
      context != NULL ? FIELD_OFFSET(REDIRECT_CONTEXT, Records) + context->RecordsSize : 0;

  FwpsApplyModifiedLayerData0(pended->ClassifyHandle, connectRequest,
                              FWPS_CLASSIFY_FLAG_REAUTHORIZE_IF_MODIFIED_BY_OTHERS);

complete:
  FwpsCompleteClassify0(pended->ClassifyHandle, 0, &classifyOut);
  FwpsReleaseClassifyHandle0(pended->ClassifyHandle);
  IoFreeWorkItem(pended->WorkItem);
  ExFreePoolWithTag(pended, REDIR_POOL_TAG);
}

static void NTAPI RedirClassify(_In_ const FWPS_INCOMING_VALUES0 *inFixedValues,
                                _In_ const FWPS_INCOMING_METADATA_VALUES0 *inMetaValues,
                                _Inout_opt_ void *layerData, _In_opt_ const void *classifyContext,
                                _In_ const FWPS_FILTER3 *filter, _In_ UINT64 flowContext,
                                _Inout_ FWPS_CLASSIFY_OUT0 *classifyOut) {
  FWPS_CONNECTION_REDIRECT_STATE state;
  void *ownContext = NULL;
  PPENDED_CONNECT pended;
  BOOLEAN isV6 = (BOOLEAN)(inFixedValues->layerId == FWPS_LAYER_ALE_CONNECT_REDIRECT_V6);
  UINT32 protocolIndex = isV6 ? FWPS_FIELD_ALE_CONNECT_REDIRECT_V6_IP_PROTOCOL
                              : FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_IP_PROTOCOL;
  UINT8 protocol = inFixedValues->incomingValue[protocolIndex].value.uint8;
  KIRQL oldIrql;
  NTSTATUS status;

  UNREFERENCED_PARAMETER(layerData);
  UNREFERENCED_PARAMETER(flowContext);

  if ((classifyOut->rights & FWPS_RIGHT_ACTION_WRITE) == 0) {
    return; /* someone with a higher weight decided; only a veto would be allowed */
  }
  if (protocol != IPPROTO_TCP ||
      !FWPS_IS_METADATA_FIELD_PRESENT(inMetaValues, FWPS_METADATA_FIELD_REDIRECT_RECORD_HANDLE)) {
    classifyOut->actionType = FWP_ACTION_PERMIT;
    return;
  }

  state = FwpsQueryConnectionRedirectState0(inMetaValues->redirectRecords, gRedirectHandle,
                                            &ownContext);
  if (state == FWPS_CONNECTION_REDIRECTED_BY_SELF ||
      state == FWPS_CONNECTION_PREVIOUSLY_REDIRECTED_BY_SELF) {
    classifyOut->actionType = FWP_ACTION_PERMIT; /* the proxy's own connection: no loop */
    return;
  }

  pended = (PPENDED_CONNECT)ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*pended), REDIR_POOL_TAG);
  if (pended == NULL) {
    classifyOut->actionType = FWP_ACTION_BLOCK;
    classifyOut->rights &= ~FWPS_RIGHT_ACTION_WRITE;
    return;
  }
  RtlZeroMemory(pended, sizeof(*pended));
  pended->FilterId = filter->filterId;
  pended->RedirectRecords = inMetaValues->redirectRecords;
  pended->IsV6 = isV6;

  status = FwpsAcquireClassifyHandle0((void *)classifyContext, 0, &pended->ClassifyHandle);
  if (!NT_SUCCESS(status)) {
    ExFreePoolWithTag(pended, REDIR_POOL_TAG);
    classifyOut->actionType = FWP_ACTION_PERMIT;
    return;
  }
  status = FwpsPendClassify0(pended->ClassifyHandle, filter->filterId, 0, classifyOut);
  if (!NT_SUCCESS(status)) {
    FwpsReleaseClassifyHandle0(pended->ClassifyHandle);
    ExFreePoolWithTag(pended, REDIR_POOL_TAG);
    classifyOut->actionType = FWP_ACTION_PERMIT;
    return;
  }

  pended->WorkItem = IoAllocateWorkItem(gDeviceObject);
  KeAcquireSpinLock(&gPendedLock, &oldIrql);
  InsertTailList(&gPendedList, &pended->Link);
  KeReleaseSpinLock(&gPendedLock, oldIrql);
  IoQueueWorkItem(pended->WorkItem, RedirCompleteWorker, DelayedWorkQueue, pended);

  classifyOut->actionType = FWP_ACTION_BLOCK;
  classifyOut->rights &= ~FWPS_RIGHT_ACTION_WRITE;
  classifyOut->flags |= FWPS_CLASSIFY_OUT_FLAG_ABSORB;
}

static NTSTATUS NTAPI RedirNotify(_In_ FWPS_CALLOUT_NOTIFY_TYPE notifyType,
                                  _In_ const GUID *filterKey, _Inout_ FWPS_FILTER3 *filter) {
  UNREFERENCED_PARAMETER(filterKey);
  if (notifyType == FWPS_CALLOUT_NOTIFY_ADD_FILTER) {
    filter->context = 0;
  }
  return STATUS_SUCCESS;
}

static NTSTATUS RedirAddFilter(_In_ const GUID *layerKey, _In_ const GUID *calloutKey,
                               _In_ BOOLEAN isV6, _Out_ UINT64 *filterId) {
  FWPM_FILTER0 filter;
  FWPM_FILTER_CONDITION0 conditions[3];
  FWP_V4_ADDR_AND_MASK v4Mask;
  FWP_V6_ADDR_AND_MASK v6Mask;

  RtlZeroMemory(&filter, sizeof(filter));
  RtlZeroMemory(conditions, sizeof(conditions));
  RtlZeroMemory(&v6Mask, sizeof(v6Mask));

  conditions[0].fieldKey = FWPM_CONDITION_IP_PROTOCOL;
  conditions[0].matchType = FWP_MATCH_EQUAL;
  conditions[0].conditionValue.type = FWP_UINT8;
  conditions[0].conditionValue.uint8 = IPPROTO_TCP;

  conditions[1].fieldKey = FWPM_CONDITION_IP_REMOTE_PORT;
  conditions[1].matchType = FWP_MATCH_EQUAL;
  conditions[1].conditionValue.type = FWP_UINT16;
  conditions[1].conditionValue.uint16 = 80;

  conditions[2].fieldKey = FWPM_CONDITION_IP_REMOTE_ADDRESS;
  conditions[2].matchType = FWP_MATCH_EQUAL;
  if (!isV6) {
    v4Mask.addr = 0x7f000000; /* 127.0.0.0/8, host order */
    v4Mask.mask = 0xff000000;
    conditions[2].conditionValue.type = FWP_V4_ADDR_MASK;
    conditions[2].conditionValue.v4AddrMask = &v4Mask;
  } else {
    v6Mask.addr[15] = 1;
    v6Mask.prefixLength = 128;
    conditions[2].conditionValue.type = FWP_V6_ADDR_MASK;
    conditions[2].conditionValue.v6AddrMask = &v6Mask;
  }

  filter.displayData.name = L"openwfp compile-test redirect filter";
  filter.flags = FWPM_FILTER_FLAG_NONE;
  filter.providerKey = (GUID *)&REDIR_PROVIDER_KEY;
  filter.layerKey = *layerKey;
  filter.subLayerKey = REDIR_SUBLAYER_KEY;
  filter.weight.type = FWP_UINT8;
  filter.weight.uint8 = 0xf;
  filter.numFilterConditions = (UINT32)ARRAYSIZE(conditions);
  filter.filterCondition = conditions;
  filter.action.type = FWP_ACTION_CALLOUT_TERMINATING;
  filter.action.calloutKey = *calloutKey;
  return FwpmFilterAdd0(gEngineHandle, &filter, NULL, filterId);
}

static NTSTATUS RedirRegisterCallout(_In_ const GUID *calloutKey, _In_ const GUID *layerKey,
                                     _Out_ UINT32 *calloutId) {
  FWPS_CALLOUT3 sCallout;
  FWPM_CALLOUT0 mCallout;
  NTSTATUS status;

  RtlZeroMemory(&sCallout, sizeof(sCallout));
  sCallout.calloutKey = *calloutKey;
  sCallout.flags = 0;
  sCallout.classifyFn = RedirClassify;
  sCallout.notifyFn = RedirNotify;
  sCallout.flowDeleteFn = NULL;
  status = FwpsCalloutRegister3(gDeviceObject, &sCallout, calloutId);
  if (!NT_SUCCESS(status)) {
    return status;
  }

  RtlZeroMemory(&mCallout, sizeof(mCallout));
  mCallout.calloutKey = *calloutKey;
  mCallout.displayData.name = L"openwfp compile-test callout";
  mCallout.displayData.description = L"redirects loopback port 80 to a local proxy";
  mCallout.providerKey = (GUID *)&REDIR_PROVIDER_KEY;
  mCallout.applicableLayer = *layerKey;
  return FwpmCalloutAdd0(gEngineHandle, &mCallout, NULL, NULL);
}

static NTSTATUS RedirAddObjects(void) {
  FWPM_SESSION0 session;
  FWPM_PROVIDER0 provider;
  FWPM_SUBLAYER0 subLayer;
  NTSTATUS status;

  RtlZeroMemory(&session, sizeof(session));
  session.flags = FWPM_SESSION_FLAG_DYNAMIC;
  status = FwpmEngineOpen0(NULL, RPC_C_AUTHN_WINNT, NULL, &session, &gEngineHandle);
  if (!NT_SUCCESS(status)) {
    return status;
  }
  status = FwpmTransactionBegin0(gEngineHandle, 0);
  if (!NT_SUCCESS(status)) {
    return status;
  }

  RtlZeroMemory(&provider, sizeof(provider));
  provider.providerKey = REDIR_PROVIDER_KEY;
  provider.displayData.name = L"openwfp compile-test provider";
  status = FwpmProviderAdd0(gEngineHandle, &provider, NULL);
  if (!NT_SUCCESS(status) && status != STATUS_FWP_ALREADY_EXISTS) goto abort;

  RtlZeroMemory(&subLayer, sizeof(subLayer));
  subLayer.subLayerKey = REDIR_SUBLAYER_KEY;
  subLayer.displayData.name = L"openwfp compile-test sublayer";
  subLayer.providerKey = (GUID *)&REDIR_PROVIDER_KEY;
  subLayer.weight = 0x100;
  status = FwpmSubLayerAdd0(gEngineHandle, &subLayer, NULL);
  if (!NT_SUCCESS(status)) goto abort;

  status = RedirRegisterCallout(&REDIR_CALLOUT_V4_KEY, &FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &gCalloutIdV4);
  if (!NT_SUCCESS(status)) goto abort;
  status = RedirRegisterCallout(&REDIR_CALLOUT_V6_KEY, &FWPM_LAYER_ALE_CONNECT_REDIRECT_V6, &gCalloutIdV6);
  if (!NT_SUCCESS(status)) goto abort;

  status = RedirAddFilter(&FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &REDIR_CALLOUT_V4_KEY, FALSE, &gFilterIdV4);
  if (!NT_SUCCESS(status)) goto abort;
  status = RedirAddFilter(&FWPM_LAYER_ALE_CONNECT_REDIRECT_V6, &REDIR_CALLOUT_V6_KEY, TRUE, &gFilterIdV6);
  if (!NT_SUCCESS(status)) goto abort;

  return FwpmTransactionCommit0(gEngineHandle);

abort:
  FwpmTransactionAbort0(gEngineHandle);
  return status;
}

/* ---- Proxy channel: a worker system thread and cancelable pended IOCTLs ------------------ */
static KEVENT gStopEvent;
static KEVENT gWorkEvent;
static PKTHREAD gWorkerThread;
static KSPIN_LOCK gIrpLock;
static LIST_ENTRY gIrpQueue;

KSTART_ROUTINE RedirWorker;
DRIVER_CANCEL RedirCancelIrp;
DRIVER_DISPATCH RedirDeviceControl;

static void RedirWorkerExit(_In_ NTSTATUS status) {
  /* Ends the thread from a nested frame: PsTerminateSystemThread does not return. */
  PsTerminateSystemThread(status);
}

_Use_decl_annotations_
void RedirWorker(PVOID StartContext) {
  PVOID objects[2];
  LARGE_INTEGER interval;
  LARGE_INTEGER ticks;
  ULONGLONG started = KeQueryInterruptTime();

  UNREFERENCED_PARAMETER(StartContext);
  objects[0] = &gStopEvent;
  objects[1] = &gWorkEvent;
  interval.QuadPart = -10 * 1000 * 100; /* 100 ms, relative */
  for (;;) {
    NTSTATUS status = KeWaitForMultipleObjects(2, objects, WaitAny, Executive, KernelMode, FALSE,
                                               &interval, NULL);
    if (status == STATUS_WAIT_0) break;
    if (status == STATUS_TIMEOUT) {
      KeQueryTickCount(&ticks);
      KdPrint(("redir: idle, tick %lld (%lu x 100 ns), %llu since start\n", (long long)ticks.QuadPart,
               (unsigned long)KeQueryTimeIncrement(),
               (unsigned long long)(KeQueryInterruptTime() - started)));
      continue;
    }
    /* STATUS_WAIT_1: gWorkEvent is a synchronization event, already reset by the wait. */
    KeDelayExecutionThread(KernelMode, FALSE, &interval);
  }
  ASSERT(KeReadStateEvent(&gStopEvent) != 0);
  ASSERT(PsGetCurrentThread() != NULL && KeGetCurrentThread() != NULL);
  RedirWorkerExit(STATUS_SUCCESS);
}

_Use_decl_annotations_
void RedirCancelIrp(PDEVICE_OBJECT DeviceObject, PIRP Irp) {
  KIRQL irql;

  UNREFERENCED_PARAMETER(DeviceObject);
  IoReleaseCancelSpinLock(Irp->CancelIrql);
  KeAcquireSpinLock(&gIrpLock, &irql);
  RemoveEntryList(&Irp->Tail.Overlay.ListEntry);
  KeReleaseSpinLock(&gIrpLock, irql);
  Irp->IoStatus.Status = STATUS_CANCELLED;
  Irp->IoStatus.Information = 0;
  IoCompleteRequest(Irp, IO_NO_INCREMENT);
}

_Use_decl_annotations_
NTSTATUS RedirDeviceControl(PDEVICE_OBJECT DeviceObject, PIRP Irp) {
  KIRQL irql;

  UNREFERENCED_PARAMETER(DeviceObject);
  KeAcquireSpinLock(&gIrpLock, &irql);
  IoSetCancelRoutine(Irp, RedirCancelIrp);
  if (Irp->Cancel && IoSetCancelRoutine(Irp, NULL) != NULL) {
    KeReleaseSpinLock(&gIrpLock, irql);
    Irp->IoStatus.Status = STATUS_CANCELLED;
    Irp->IoStatus.Information = 0;
    IoCompleteRequest(Irp, IO_NO_INCREMENT);
    return STATUS_CANCELLED;
  }
  IoMarkIrpPending(Irp);
  InsertTailList(&gIrpQueue, &Irp->Tail.Overlay.ListEntry);
  KeReleaseSpinLock(&gIrpLock, irql);
  KeSetEvent(&gWorkEvent, IO_NO_INCREMENT, FALSE);
  return STATUS_PENDING;
}

static NTSTATUS RedirStartWorker(void) {
  HANDLE threadHandle;
  OBJECT_ATTRIBUTES attributes;
  CLIENT_ID clientId;
  NTSTATUS status;

  KeInitializeEvent(&gStopEvent, NotificationEvent, FALSE);
  KeInitializeEvent(&gWorkEvent, SynchronizationEvent, FALSE);
  KeClearEvent(&gWorkEvent);
  (void)KeResetEvent(&gStopEvent);
  KeInitializeSpinLock(&gIrpLock);
  InitializeListHead(&gIrpQueue);
  InitializeObjectAttributes(&attributes, NULL, OBJ_KERNEL_HANDLE, NULL, NULL);
  status = PsCreateSystemThread(&threadHandle, THREAD_ALL_ACCESS, &attributes, NULL, &clientId,
                                RedirWorker, NULL);
  if (!NT_SUCCESS(status)) return status;
  status = ObReferenceObjectByHandle(threadHandle, THREAD_ALL_ACCESS, *PsThreadType, KernelMode,
                                     (PVOID *)&gWorkerThread, NULL);
  ZwClose(threadHandle);
  if (!NT_SUCCESS(status)) {
    KeSetEvent(&gStopEvent, IO_NO_INCREMENT, FALSE);
    gWorkerThread = NULL;
  }
  return status;
}

static void RedirStopWorker(void) {
  KIRQL cancelIrql;

  if (gWorkerThread != NULL) {
    KeSetEvent(&gStopEvent, IO_NO_INCREMENT, FALSE);
    KeWaitForSingleObject(gWorkerThread, Executive, KernelMode, FALSE, NULL);
    ObDereferenceObject(gWorkerThread);
    gWorkerThread = NULL;
  }
  /* Pended IOCTLs still queued: cancel each (the cancel routine completes it). */
  for (;;) {
    PIRP irp = NULL;
    KIRQL irql;
    KeAcquireSpinLock(&gIrpLock, &irql);
    if (!IsListEmpty(&gIrpQueue)) {
      irp = CONTAINING_RECORD(gIrpQueue.Flink, IRP, Tail.Overlay.ListEntry);
    }
    KeReleaseSpinLock(&gIrpLock, irql);
    if (irp == NULL || !IoCancelIrp(irp)) break;
  }
  IoAcquireCancelSpinLock(&cancelIrql);
  IoReleaseCancelSpinLock(cancelIrql);
}

_Use_decl_annotations_
void RedirDriverUnload(PDRIVER_OBJECT DriverObject) {
  UNREFERENCED_PARAMETER(DriverObject);
  RedirStopWorker();
  if (gEngineHandle != NULL) {
    FwpmFilterDeleteById0(gEngineHandle, gFilterIdV4);
    FwpmFilterDeleteById0(gEngineHandle, gFilterIdV6);
    FwpmEngineClose0(gEngineHandle);
    gEngineHandle = NULL;
  }
  FwpsCalloutUnregisterById0(gCalloutIdV4);
  FwpsCalloutUnregisterByKey0(&REDIR_CALLOUT_V6_KEY);
  if (gRedirectHandle != NULL) {
    FwpsRedirectHandleDestroy0(gRedirectHandle);
  }
  if (gDeviceObject != NULL) {
    IoDeleteDevice(gDeviceObject);
  }
}

_Use_decl_annotations_
NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath) {
  NTSTATUS status;
  LARGE_INTEGER now;

  UNREFERENCED_PARAMETER(RegistryPath);
  KeQuerySystemTime(&now);
  KdPrint(("redir: DriverEntry at %lld, IRQL %u\n", (long long)now.QuadPart,
           (unsigned)KeGetCurrentIrql()));

  KeInitializeSpinLock(&gPendedLock);
  InitializeListHead(&gPendedList);
  DriverObject->DriverUnload = RedirDriverUnload;

  status = IoCreateDevice(DriverObject, 0, NULL, FILE_DEVICE_NETWORK, FILE_DEVICE_SECURE_OPEN,
                          FALSE, &gDeviceObject);
  if (!NT_SUCCESS(status)) {
    return status;
  }
  DriverObject->MajorFunction[IRP_MJ_DEVICE_CONTROL] = RedirDeviceControl;
  status = RedirStartWorker();
  if (!NT_SUCCESS(status)) {
    RedirDriverUnload(DriverObject);
    return status;
  }
  status = FwpsRedirectHandleCreate0(&REDIR_PROVIDER_KEY, 0, &gRedirectHandle);
  if (!NT_SUCCESS(status)) {
    RedirDriverUnload(DriverObject);
    return status;
  }
  status = RedirAddObjects();
  if (!NT_SUCCESS(status)) {
    RedirDriverUnload(DriverObject);
  }
  return status;
}
