/* A connect-redirect callout driver that misuses the API on purpose, for the verifier test of
 * `openwfp sim` (SPEC S11.1, S11.2): it applies its modification with
 * FWPS_CLASSIFY_FLAG_REAUTHORIZE_IF_MODIFIED_BY_OTHERS in a classify it did not pend (invalid
 * inline), and leaks one pool allocation (tag 'Leak') that it never frees. */
#include <ntddk.h>
#include <wdm.h>
#include <fwpsk.h>
#include <fwpmk.h>

#define INITGUID
#include <guiddef.h>

DEFINE_GUID(MISUSE_CALLOUT_KEY, 0x3b0f1d2a, 0x6c1e, 0x4a57, 0x8e, 0x22, 0x51, 0x90, 0x0a, 0x7c, 0x3d, 0x01);

static PDEVICE_OBJECT gDevice;
static HANDLE gEngine;
static UINT32 gCalloutId;
static void* gLeak;

static void NTAPI MisuseClassify(const FWPS_INCOMING_VALUES0* inFixedValues,
                                 const FWPS_INCOMING_METADATA_VALUES0* inMetaValues, void* layerData,
                                 const void* classifyContext, const FWPS_FILTER3* filter, UINT64 flowContext,
                                 FWPS_CLASSIFY_OUT0* classifyOut) {
  UINT64 handle = 0;
  FWPS_CONNECT_REQUEST0* request = NULL;
  UNREFERENCED_PARAMETER(inFixedValues);
  UNREFERENCED_PARAMETER(inMetaValues);
  UNREFERENCED_PARAMETER(layerData);
  UNREFERENCED_PARAMETER(flowContext);
  if (!(classifyOut->rights & FWPS_RIGHT_ACTION_WRITE)) return;
  if (!NT_SUCCESS(FwpsAcquireClassifyHandle0((void*)classifyContext, 0, &handle))) return;
  if (NT_SUCCESS(FwpsAcquireWritableLayerDataPointer0(handle, filter->filterId, 0, (PVOID*)&request, classifyOut))) {
    /* Wrong: the re-authorize flag is only valid for a pended classify. */
    FwpsApplyModifiedLayerData0(handle, request, FWPS_CLASSIFY_FLAG_REAUTHORIZE_IF_MODIFIED_BY_OTHERS);
  }
  FwpsReleaseClassifyHandle0(handle);
  classifyOut->actionType = FWP_ACTION_PERMIT;
}

static NTSTATUS NTAPI MisuseNotify(FWPS_CALLOUT_NOTIFY_TYPE type, const GUID* key, FWPS_FILTER3* filter) {
  UNREFERENCED_PARAMETER(type);
  UNREFERENCED_PARAMETER(key);
  UNREFERENCED_PARAMETER(filter);
  return STATUS_SUCCESS;
}

static void NTAPI MisuseUnload(PDRIVER_OBJECT driverObject) {
  UNREFERENCED_PARAMETER(driverObject);
  /* Wrong: gLeak is never freed. */
  FwpmEngineClose0(gEngine);
  FwpsCalloutUnregisterById0(gCalloutId);
  IoDeleteDevice(gDevice);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT driverObject, PUNICODE_STRING registryPath) {
  FWPS_CALLOUT3 sc;
  FWPM_CALLOUT0 mc;
  FWPM_FILTER0 filter;
  NTSTATUS status;
  UNREFERENCED_PARAMETER(registryPath);
  status = IoCreateDevice(driverObject, 0, NULL, FILE_DEVICE_NETWORK, 0, FALSE, &gDevice);
  if (!NT_SUCCESS(status)) return status;
  driverObject->DriverUnload = MisuseUnload;
  gLeak = ExAllocatePool2(POOL_FLAG_NON_PAGED, 100, 'kaeL');

  RtlZeroMemory(&sc, sizeof(sc));
  sc.calloutKey = MISUSE_CALLOUT_KEY;
  sc.classifyFn = MisuseClassify;
  sc.notifyFn = MisuseNotify;
  status = FwpsCalloutRegister3(gDevice, &sc, &gCalloutId);
  if (!NT_SUCCESS(status)) return status;
  status = FwpmEngineOpen0(NULL, RPC_C_AUTHN_WINNT, NULL, NULL, &gEngine);
  if (!NT_SUCCESS(status)) return status;
  RtlZeroMemory(&mc, sizeof(mc));
  mc.calloutKey = MISUSE_CALLOUT_KEY;
  mc.displayData.name = (wchar_t*)L"misuse callout";
  mc.applicableLayer = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  status = FwpmCalloutAdd0(gEngine, &mc, NULL, NULL);
  if (!NT_SUCCESS(status)) return status;
  RtlZeroMemory(&filter, sizeof(filter));
  filter.displayData.name = (wchar_t*)L"misuse: every v4 connect";
  filter.layerKey = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  filter.action.type = FWP_ACTION_CALLOUT_TERMINATING;
  filter.action.calloutKey = MISUSE_CALLOUT_KEY;
  filter.weight.type = FWP_EMPTY;
  return FwpmFilterAdd0(gEngine, &filter, NULL, NULL);
}
