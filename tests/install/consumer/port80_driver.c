/* A connect-redirect callout as a Windows driver is written: TCP connects to port 80 go to a
 * local proxy on 127.0.0.1:8080 (pid 777), the original destination as the redirect context. With
 * -DMISTAKE it frees that context after Apply (the engine owns it): its test must fail. With
 * -DNO_TARGET_PID it leaves localRedirectTargetPID unset: the engine does not apply the redirect
 * (tests/cli: a RedirectNotApplied finding under `openwfp run --verifier`). */
#include <fwpmk.h>
#include <fwpsk.h>
#include <ntddk.h>

#include <initguid.h>

DEFINE_GUID(PORT80_CALLOUT_KEY, 0x1b6e0f43, 0x7c21, 0x4d9a, 0x8e, 0x55, 0x30, 0x61, 0x2f, 0x0a, 0x9c, 0x01);
DEFINE_GUID(PORT80_PROVIDER_KEY, 0x1b6e0f43, 0x7c21, 0x4d9a, 0x8e, 0x55, 0x30, 0x61, 0x2f, 0x0a, 0x9c, 0x02);

static PDEVICE_OBJECT gDevice;
static HANDLE gEngine;
static HANDLE gRedirectHandle;
static UINT32 gCalloutId;

static void NTAPI Classify(const FWPS_INCOMING_VALUES0* inFixedValues,
                           const FWPS_INCOMING_METADATA_VALUES0* inMetaValues, void* layerData,
                           const void* classifyContext, const FWPS_FILTER3* filter, UINT64 flowContext,
                           FWPS_CLASSIFY_OUT0* classifyOut) {
  UINT64 classifyHandle = 0;
  FWPS_CONNECT_REQUEST0* request = NULL;
  SOCKADDR_STORAGE* original;
  SOCKADDR_IN* destination;
  UNREFERENCED_PARAMETER(inFixedValues);
  UNREFERENCED_PARAMETER(inMetaValues);
  UNREFERENCED_PARAMETER(layerData);
  UNREFERENCED_PARAMETER(flowContext);
  if ((classifyOut->rights & FWPS_RIGHT_ACTION_WRITE) == 0) return;
  if (!NT_SUCCESS(FwpsAcquireClassifyHandle0((void*)classifyContext, 0, &classifyHandle))) return;
  if (NT_SUCCESS(FwpsAcquireWritableLayerDataPointer0(classifyHandle, filter->filterId, 0,
                                                      (PVOID*)&request, classifyOut))) {
    original = (SOCKADDR_STORAGE*)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(SOCKADDR_STORAGE), 0x30387450u);
    if (original != NULL) {
      RtlCopyMemory(original, &request->remoteAddressAndPort, sizeof(SOCKADDR_STORAGE));
      destination = (SOCKADDR_IN*)&request->remoteAddressAndPort;
      destination->sin_addr.s_addr = RtlUlongByteSwap(INADDR_LOOPBACK);
      destination->sin_port = RtlUshortByteSwap(8080);
#ifndef NO_TARGET_PID
      request->localRedirectTargetPID = 777;
#endif
      request->localRedirectHandle = gRedirectHandle;
      request->localRedirectContext = original;
      request->localRedirectContextSize = sizeof(SOCKADDR_STORAGE);
    }
    FwpsApplyModifiedLayerData0(classifyHandle, request, 0);
#ifdef MISTAKE
    if (original != NULL) ExFreePoolWithTag(original, 0x30387450u);
#endif
    classifyOut->actionType = FWP_ACTION_PERMIT;
  }
  FwpsReleaseClassifyHandle0(classifyHandle);
}

static NTSTATUS NTAPI Notify(FWPS_CALLOUT_NOTIFY_TYPE type, const GUID* key, FWPS_FILTER3* filter) {
  UNREFERENCED_PARAMETER(type);
  UNREFERENCED_PARAMETER(key);
  UNREFERENCED_PARAMETER(filter);
  return STATUS_SUCCESS;
}

static void NTAPI Unload(PDRIVER_OBJECT driverObject) {
  UNREFERENCED_PARAMETER(driverObject);
  FwpmEngineClose0(gEngine);
  FwpsCalloutUnregisterById0(gCalloutId);
  FwpsRedirectHandleDestroy0(gRedirectHandle);
  IoDeleteDevice(gDevice);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT driverObject, PUNICODE_STRING registryPath) {
  FWPS_CALLOUT3 sCallout;
  FWPM_CALLOUT0 mCallout;
  FWPM_FILTER0 filter;
  FWPM_FILTER_CONDITION0 condition;
  NTSTATUS status;
  UNREFERENCED_PARAMETER(registryPath);
  status = IoCreateDevice(driverObject, 0, NULL, FILE_DEVICE_NETWORK, FILE_DEVICE_SECURE_OPEN, FALSE, &gDevice);
  if (!NT_SUCCESS(status)) return status;
  driverObject->DriverUnload = Unload;
  status = FwpsRedirectHandleCreate0(&PORT80_PROVIDER_KEY, 0, &gRedirectHandle);
  if (!NT_SUCCESS(status)) return status;
  RtlZeroMemory(&sCallout, sizeof(sCallout));
  sCallout.calloutKey = PORT80_CALLOUT_KEY;
  sCallout.classifyFn = Classify;
  sCallout.notifyFn = Notify;
  status = FwpsCalloutRegister3(gDevice, &sCallout, &gCalloutId);
  if (!NT_SUCCESS(status)) return status;
  status = FwpmEngineOpen0(NULL, RPC_C_AUTHN_WINNT, NULL, NULL, &gEngine);
  if (!NT_SUCCESS(status)) return status;
  RtlZeroMemory(&mCallout, sizeof(mCallout));
  mCallout.calloutKey = PORT80_CALLOUT_KEY;
  mCallout.displayData.name = (wchar_t*)L"port 80 to the local proxy";
  mCallout.applicableLayer = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  status = FwpmCalloutAdd0(gEngine, &mCallout, NULL, NULL);
  if (!NT_SUCCESS(status)) return status;
  RtlZeroMemory(&condition, sizeof(condition));
  condition.fieldKey = FWPM_CONDITION_IP_REMOTE_PORT;
  condition.matchType = FWP_MATCH_EQUAL;
  condition.conditionValue.type = FWP_UINT16;
  condition.conditionValue.uint16 = 80;
  RtlZeroMemory(&filter, sizeof(filter));
  filter.displayData.name = (wchar_t*)L"port 80 to the local proxy";
  filter.layerKey = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  filter.weight.type = FWP_EMPTY;
  filter.numFilterConditions = 1;
  filter.filterCondition = &condition;
  filter.action.type = FWP_ACTION_CALLOUT_TERMINATING;
  filter.action.calloutKey = PORT80_CALLOUT_KEY;
  return FwpmFilterAdd0(gEngine, &filter, NULL, NULL);
}
