/*
 * split_tunnel.c - a KMDF WFP callout driver in the split-tunnel style (openwfp example, SPEC
 * S15.1/S15.4): per application (by image path) it redirects connects (ALE_CONNECT_REDIRECT_V4)
 * and moves the local address of binds (ALE_BIND_REDIRECT_V4). The rules come from user mode
 * (st_config.c) as IOCTLs on a KMDF control device whose default queue has EvtIoDeviceControl.
 * Every redirected connection carries a flow context; flowDeleteFn counts the ones that ended.
 * Written against the WDK headers only; built with openwfp_add_driver().
 */
#include <ntddk.h>
#include <wdf.h>
#include <fwpsk.h>
#include <fwpmk.h>

#include <initguid.h>

#include "split_tunnel.h"

DEFINE_GUID(ST_CONNECT_CALLOUT_KEY, 0x5d1e0a31, 0x7c2b, 0x4f6e, 0x8a, 0x90, 0x3b, 0x21, 0x6c, 0x44, 0x0e, 0x01);
DEFINE_GUID(ST_BIND_CALLOUT_KEY, 0x5d1e0a31, 0x7c2b, 0x4f6e, 0x8a, 0x90, 0x3b, 0x21, 0x6c, 0x44, 0x0e, 0x02);
DEFINE_GUID(ST_PROVIDER_KEY, 0x5d1e0a31, 0x7c2b, 0x4f6e, 0x8a, 0x90, 0x3b, 0x21, 0x6c, 0x44, 0x0e, 0x03);

#define ST_TAG 'lTtS'

C_ASSERT(ST_IOCTL_ADD_APP == CTL_CODE(FILE_DEVICE_UNKNOWN, 0x801, METHOD_BUFFERED, FILE_ANY_ACCESS));
C_ASSERT(ST_IOCTL_CLEAR == CTL_CODE(FILE_DEVICE_UNKNOWN, 0x802, METHOD_BUFFERED, FILE_ANY_ACCESS));
C_ASSERT(ST_IOCTL_GET_STATS == CTL_CODE(FILE_DEVICE_UNKNOWN, 0x803, METHOD_BUFFERED, FILE_ANY_ACCESS));

/* One redirected connection (its flow context). */
typedef struct ST_FLOW {
  LIST_ENTRY link;
  UINT64 flowId;
} ST_FLOW;

static WDFSPINLOCK gLock; /* guards gRules, gRuleCount, gFlows, gStats */
static ST_APP_RULE gRules[ST_MAX_RULES];
static ULONG gRuleCount;
static LIST_ENTRY gFlows;
static ST_STATS gStats;
static HANDLE gEngine;
static HANDLE gRedirectHandle;
static UINT32 gConnectCalloutId;
static UINT32 gBindCalloutId;
static UINT64 gConnectFilterId;
static UINT64 gBindFilterId;

/* ---- rules ------------------------------------------------------------------------------------ */

/* Does the processPath blob (WCHARs, NUL-terminated) name `path`? */
static BOOLEAN StPathIs(const FWP_BYTE_BLOB* blob, const char* path) {
  const WCHAR* w;
  SIZE_T n, i;
  if (blob == NULL || blob->data == NULL) return FALSE;
  w = (const WCHAR*)blob->data;
  n = blob->size / sizeof(WCHAR);
  for (i = 0; i < n; ++i) {
    unsigned char c = (unsigned char)path[i];
    if (c >= 0x80) return FALSE; /* ASCII paths only in this example */
    if ((ULONG)w[i] != (ULONG)c) return FALSE;
    if (c == 0) return TRUE;
  }
  return FALSE;
}

/* Copies the rule for the classified application into *out; FALSE when there is none. */
static BOOLEAN StFindRule(const FWPS_INCOMING_METADATA_VALUES0* meta, ST_APP_RULE* out) {
  BOOLEAN found = FALSE;
  ULONG i;
  if (!FWPS_IS_METADATA_FIELD_PRESENT(meta, FWPS_METADATA_FIELD_PROCESS_PATH)) return FALSE;
  WdfSpinLockAcquire(gLock);
  for (i = 0; i < gRuleCount && !found; ++i) {
    if (StPathIs(meta->processPath, gRules[i].path)) {
      *out = gRules[i];
      found = TRUE;
    }
  }
  WdfSpinLockRelease(gLock);
  return found;
}

static void StSetV4(SOCKADDR_STORAGE* ss, UINT32 hostOrder, UINT16 portOrZero) {
  SOCKADDR_IN* sin = (SOCKADDR_IN*)ss;
  sin->sin_family = AF_INET;
  sin->sin_addr.S_un.S_addr = RtlUlongByteSwap(hostOrder);
  if (portOrZero != 0) sin->sin_port = RtlUshortByteSwap(portOrZero);
}

/* ---- flow contexts ----------------------------------------------------------------------------- */

static void NTAPI StFlowDelete(UINT16 layerId, UINT32 calloutId, UINT64 flowContext) {
  ST_FLOW* flow = (ST_FLOW*)(ULONG_PTR)flowContext;
  UNREFERENCED_PARAMETER(layerId);
  UNREFERENCED_PARAMETER(calloutId);
  WdfSpinLockAcquire(gLock);
  RemoveEntryList(&flow->link);
  gStats.flowsDeleted++;
  WdfSpinLockRelease(gLock);
  ExFreePoolWithTag(flow, ST_TAG);
}

static void StTrackFlow(const FWPS_INCOMING_METADATA_VALUES0* meta) {
  ST_FLOW* flow;
  if (!FWPS_IS_METADATA_FIELD_PRESENT(meta, FWPS_METADATA_FIELD_FLOW_HANDLE)) return;
  flow = (ST_FLOW*)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(ST_FLOW), ST_TAG);
  if (flow == NULL) return;
  flow->flowId = meta->flowHandle;
  WdfSpinLockAcquire(gLock);
  InsertTailList(&gFlows, &flow->link);
  WdfSpinLockRelease(gLock);
  if (!NT_SUCCESS(FwpsFlowAssociateContext0(meta->flowHandle, FWPS_LAYER_ALE_CONNECT_REDIRECT_V4,
                                            gConnectCalloutId, (UINT64)(ULONG_PTR)flow))) {
    WdfSpinLockAcquire(gLock);
    RemoveEntryList(&flow->link);
    WdfSpinLockRelease(gLock);
    ExFreePoolWithTag(flow, ST_TAG);
    return;
  }
  WdfSpinLockAcquire(gLock);
  gStats.flowsTracked++;
  WdfSpinLockRelease(gLock);
}

/* ---- callouts ---------------------------------------------------------------------------------- */

static void NTAPI StConnectClassify(const FWPS_INCOMING_VALUES0* inFixedValues,
                                    const FWPS_INCOMING_METADATA_VALUES0* inMetaValues, void* layerData,
                                    const void* classifyContext, const FWPS_FILTER3* filter,
                                    UINT64 flowContext, FWPS_CLASSIFY_OUT0* classifyOut) {
  ST_APP_RULE rule;
  UINT64 classifyHandle = 0;
  FWPS_CONNECT_REQUEST0* request = NULL;
  FWPS_CONNECTION_REDIRECT_STATE state;
  UINT32 remote;
  UNREFERENCED_PARAMETER(layerData);
  UNREFERENCED_PARAMETER(flowContext);

  if (!(classifyOut->rights & FWPS_RIGHT_ACTION_WRITE)) return; /* someone decided already */
  classifyOut->actionType = FWP_ACTION_PERMIT;
  state = FwpsQueryConnectionRedirectState0(inMetaValues->redirectRecords, gRedirectHandle, NULL);
  if (state == FWPS_CONNECTION_REDIRECTED_BY_SELF || state == FWPS_CONNECTION_PREVIOUSLY_REDIRECTED_BY_SELF)
    return;
  if (!StFindRule(inMetaValues, &rule) || rule.connectTo == 0) return;
  remote = inFixedValues->incomingValue[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_IP_REMOTE_ADDRESS].value.uint32;
  if (rule.connectFrom != 0 && remote != rule.connectFrom) return;

  if (!NT_SUCCESS(FwpsAcquireClassifyHandle0((void*)classifyContext, 0, &classifyHandle))) return;
  if (NT_SUCCESS(FwpsAcquireWritableLayerDataPointer0(classifyHandle, filter->filterId, 0, (PVOID*)&request,
                                                      classifyOut))) {
    StSetV4(&request->remoteAddressAndPort, rule.connectTo, rule.connectToPort);
    request->localRedirectTargetPID = rule.connectTargetPid;
    request->localRedirectHandle = gRedirectHandle;
    FwpsApplyModifiedLayerData0(classifyHandle, request, 0);
    classifyOut->actionType = FWP_ACTION_PERMIT;
    WdfSpinLockAcquire(gLock);
    gStats.connectRedirects++;
    WdfSpinLockRelease(gLock);
    StTrackFlow(inMetaValues);
  }
  FwpsReleaseClassifyHandle0(classifyHandle);
}

static void NTAPI StBindClassify(const FWPS_INCOMING_VALUES0* inFixedValues,
                                 const FWPS_INCOMING_METADATA_VALUES0* inMetaValues, void* layerData,
                                 const void* classifyContext, const FWPS_FILTER3* filter, UINT64 flowContext,
                                 FWPS_CLASSIFY_OUT0* classifyOut) {
  ST_APP_RULE rule;
  UINT64 classifyHandle = 0;
  FWPS_BIND_REQUEST0* request = NULL;
  UNREFERENCED_PARAMETER(inFixedValues);
  UNREFERENCED_PARAMETER(layerData);
  UNREFERENCED_PARAMETER(flowContext);

  if (!(classifyOut->rights & FWPS_RIGHT_ACTION_WRITE)) return;
  classifyOut->actionType = FWP_ACTION_PERMIT;
  if (!StFindRule(inMetaValues, &rule) || rule.bindTo == 0) return;
  if (!NT_SUCCESS(FwpsAcquireClassifyHandle0((void*)classifyContext, 0, &classifyHandle))) return;
  if (NT_SUCCESS(FwpsAcquireWritableLayerDataPointer0(classifyHandle, filter->filterId, 0, (PVOID*)&request,
                                                      classifyOut))) {
    StSetV4(&request->localAddressAndPort, rule.bindTo, 0); /* the port stays */
    FwpsApplyModifiedLayerData0(classifyHandle, request, 0);
    classifyOut->actionType = FWP_ACTION_PERMIT;
    WdfSpinLockAcquire(gLock);
    gStats.bindRedirects++;
    WdfSpinLockRelease(gLock);
  }
  FwpsReleaseClassifyHandle0(classifyHandle);
}

static NTSTATUS NTAPI StNotify(FWPS_CALLOUT_NOTIFY_TYPE type, const GUID* filterKey, FWPS_FILTER3* filter) {
  UNREFERENCED_PARAMETER(type);
  UNREFERENCED_PARAMETER(filterKey);
  UNREFERENCED_PARAMETER(filter);
  return STATUS_SUCCESS;
}

/* ---- the control device ------------------------------------------------------------------------ */

static VOID StEvtIoDeviceControl(WDFQUEUE queue, WDFREQUEST request, size_t outputBufferLength,
                                 size_t inputBufferLength, ULONG ioControlCode) {
  NTSTATUS status = STATUS_INVALID_DEVICE_REQUEST;
  ULONG_PTR information = 0;
  PVOID buffer = NULL;
  UNREFERENCED_PARAMETER(queue);
  UNREFERENCED_PARAMETER(outputBufferLength);
  UNREFERENCED_PARAMETER(inputBufferLength);

  WdfSpinLockAcquire(gLock);
  gStats.ioctls++;
  WdfSpinLockRelease(gLock);
  switch (ioControlCode) {
    case ST_IOCTL_ADD_APP:
      status = WdfRequestRetrieveInputBuffer(request, sizeof(ST_APP_RULE), &buffer, NULL);
      if (!NT_SUCCESS(status)) break;
      WdfSpinLockAcquire(gLock);
      if (gRuleCount == ST_MAX_RULES) {
        status = STATUS_INSUFFICIENT_RESOURCES;
      } else {
        gRules[gRuleCount] = *(const ST_APP_RULE*)buffer;
        gRules[gRuleCount].path[ST_PATH_MAX - 1] = '\0';
        gStats.rules = ++gRuleCount;
      }
      WdfSpinLockRelease(gLock);
      break;
    case ST_IOCTL_CLEAR:
      WdfSpinLockAcquire(gLock);
      gRuleCount = 0;
      gStats.rules = 0;
      WdfSpinLockRelease(gLock);
      status = STATUS_SUCCESS;
      break;
    case ST_IOCTL_GET_STATS:
      status = WdfRequestRetrieveOutputBuffer(request, sizeof(ST_STATS), &buffer, NULL);
      if (!NT_SUCCESS(status)) break;
      WdfSpinLockAcquire(gLock);
      *(ST_STATS*)buffer = gStats;
      WdfSpinLockRelease(gLock);
      information = sizeof(ST_STATS);
      break;
    default:
      break;
  }
  WdfRequestCompleteWithInformation(request, status, information);
}

/* ---- load / unload ----------------------------------------------------------------------------- */

static NTSTATUS StAddCallout(PDEVICE_OBJECT device, const GUID* key, const GUID* layer,
                             FWPS_CALLOUT_CLASSIFY_FN3 classifyFn, FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0 flowDeleteFn,
                             UINT32* calloutId, UINT64* filterId) {
  FWPS_CALLOUT3 sCallout;
  FWPM_CALLOUT0 mCallout;
  FWPM_FILTER0 filter;
  NTSTATUS status;
  RtlZeroMemory(&sCallout, sizeof sCallout);
  sCallout.calloutKey = *key;
  sCallout.classifyFn = classifyFn;
  sCallout.notifyFn = StNotify;
  sCallout.flowDeleteFn = flowDeleteFn;
  status = FwpsCalloutRegister3(device, &sCallout, calloutId);
  if (!NT_SUCCESS(status)) return status;
  RtlZeroMemory(&mCallout, sizeof mCallout);
  mCallout.calloutKey = *key;
  mCallout.displayData.name = (wchar_t*)L"split tunnel callout";
  mCallout.applicableLayer = *layer;
  status = FwpmCalloutAdd0(gEngine, &mCallout, NULL, NULL);
  if (!NT_SUCCESS(status)) return status;
  RtlZeroMemory(&filter, sizeof filter);
  filter.displayData.name = (wchar_t*)L"split tunnel filter";
  filter.layerKey = *layer;
  filter.weight.type = FWP_EMPTY;
  filter.action.type = FWP_ACTION_CALLOUT_TERMINATING;
  filter.action.calloutKey = *key;
  return FwpmFilterAdd0(gEngine, &filter, NULL, filterId);
}

/* Removes the flow contexts of connections still open (their flowDeleteFn runs now), so that the
 * callout can be unregistered (STATUS_DEVICE_BUSY otherwise). */
static void StRemoveFlowContexts(void) {
  for (;;) {
    ST_FLOW* first;
    UINT64 flowId;
    WdfSpinLockAcquire(gLock);
    if (IsListEmpty(&gFlows)) {
      WdfSpinLockRelease(gLock);
      return;
    }
    first = CONTAINING_RECORD(gFlows.Flink, ST_FLOW, link);
    flowId = first->flowId;
    WdfSpinLockRelease(gLock);
    if (!NT_SUCCESS(FwpsFlowRemoveContext0(flowId, FWPS_LAYER_ALE_CONNECT_REDIRECT_V4, gConnectCalloutId))) {
      /* The flow ended meanwhile and its flowDeleteFn took the node; if not, drop it here. */
      WdfSpinLockAcquire(gLock);
      if (!IsListEmpty(&gFlows) && CONTAINING_RECORD(gFlows.Flink, ST_FLOW, link) == first) {
        RemoveEntryList(&first->link);
        WdfSpinLockRelease(gLock);
        ExFreePoolWithTag(first, ST_TAG);
      } else {
        WdfSpinLockRelease(gLock);
      }
    }
  }
}

static VOID StEvtDriverUnload(WDFDRIVER driver) {
  UNREFERENCED_PARAMETER(driver);
  if (gEngine) {
    if (gConnectFilterId) FwpmFilterDeleteById0(gEngine, gConnectFilterId);
    if (gBindFilterId) FwpmFilterDeleteById0(gEngine, gBindFilterId);
    FwpmCalloutDeleteByKey0(gEngine, &ST_CONNECT_CALLOUT_KEY);
    FwpmCalloutDeleteByKey0(gEngine, &ST_BIND_CALLOUT_KEY);
  }
  StRemoveFlowContexts();
  if (gConnectCalloutId) FwpsCalloutUnregisterById0(gConnectCalloutId);
  if (gBindCalloutId) FwpsCalloutUnregisterById0(gBindCalloutId);
  if (gEngine) FwpmEngineClose0(gEngine);
  if (gRedirectHandle) FwpsRedirectHandleDestroy0(gRedirectHandle);
  gEngine = NULL;
  gRedirectHandle = NULL;
  gConnectCalloutId = gBindCalloutId = 0;
  gConnectFilterId = gBindFilterId = 0;
}

NTSTATUS DriverEntry(PDRIVER_OBJECT driverObject, PUNICODE_STRING registryPath) {
  WDF_DRIVER_CONFIG config;
  WDFDRIVER driver;
  PWDFDEVICE_INIT init;
  WDFDEVICE device;
  WDF_IO_QUEUE_CONFIG queueConfig;
  PDEVICE_OBJECT wdmDevice;
  NTSTATUS status;
  DECLARE_CONST_UNICODE_STRING(deviceName, L"\\Device\\OpenwfpSplitTunnel");
  DECLARE_CONST_UNICODE_STRING(linkName, L"\\DosDevices\\OpenwfpSplitTunnel");

  WDF_DRIVER_CONFIG_INIT(&config, WDF_NO_EVENT_CALLBACK);
  config.DriverInitFlags |= WdfDriverInitNonPnpDriver;
  config.EvtDriverUnload = StEvtDriverUnload;
  status = WdfDriverCreate(driverObject, registryPath, WDF_NO_OBJECT_ATTRIBUTES, &config, &driver);
  if (!NT_SUCCESS(status)) return status;
  status = WdfSpinLockCreate(WDF_NO_OBJECT_ATTRIBUTES, &gLock);
  if (!NT_SUCCESS(status)) return status;
  InitializeListHead(&gFlows);
  RtlZeroMemory(&gStats, sizeof gStats);
  gRuleCount = 0;

  init = WdfControlDeviceInitAllocate(driver, &SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_RW_RES_R);
  if (init == NULL) return STATUS_INSUFFICIENT_RESOURCES;
  WdfDeviceInitSetDeviceType(init, FILE_DEVICE_UNKNOWN);
  status = WdfDeviceInitAssignName(init, &deviceName);
  if (NT_SUCCESS(status)) status = WdfDeviceCreate(&init, WDF_NO_OBJECT_ATTRIBUTES, &device);
  if (!NT_SUCCESS(status)) {
    WdfDeviceInitFree(init);
    return status;
  }
  status = WdfDeviceCreateSymbolicLink(device, &linkName);
  if (!NT_SUCCESS(status)) return status;
  WDF_IO_QUEUE_CONFIG_INIT_DEFAULT_QUEUE(&queueConfig, WdfIoQueueDispatchSequential);
  queueConfig.EvtIoDeviceControl = StEvtIoDeviceControl;
  status = WdfIoQueueCreate(device, &queueConfig, WDF_NO_OBJECT_ATTRIBUTES, WDF_NO_HANDLE);
  if (!NT_SUCCESS(status)) return status;
  WdfControlFinishInitializing(device);
  wdmDevice = WdfDeviceWdmGetDeviceObject(device);

  status = FwpsRedirectHandleCreate0(&ST_PROVIDER_KEY, 0, &gRedirectHandle);
  if (NT_SUCCESS(status)) status = FwpmEngineOpen0(NULL, RPC_C_AUTHN_WINNT, NULL, NULL, &gEngine);
  if (NT_SUCCESS(status))
    status = StAddCallout(wdmDevice, &ST_CONNECT_CALLOUT_KEY, &FWPM_LAYER_ALE_CONNECT_REDIRECT_V4,
                          StConnectClassify, StFlowDelete, &gConnectCalloutId, &gConnectFilterId);
  if (NT_SUCCESS(status))
    status = StAddCallout(wdmDevice, &ST_BIND_CALLOUT_KEY, &FWPM_LAYER_ALE_BIND_REDIRECT_V4, StBindClassify,
                          NULL, &gBindCalloutId, &gBindFilterId);
  if (!NT_SUCCESS(status)) {
    StEvtDriverUnload(driver); /* undo what was done; the framework deletes the device */
    return status;
  }
  return STATUS_SUCCESS;
}
