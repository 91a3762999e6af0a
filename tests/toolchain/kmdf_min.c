/* S15.6: a minimal KMDF control-device driver, compiled as C11 and (kmdf_min_cxx17.cpp) as
 * C++17 with only the published driver flags. */
#include <ntddk.h>
#include <wdf.h>

typedef struct _CTX {
  ULONG hits;
} CTX;
WDF_DECLARE_CONTEXT_TYPE_WITH_NAME(CTX, GetCtx)

static EVT_WDF_IO_QUEUE_IO_DEVICE_CONTROL MinIoctl;
static void MinIoctl(WDFQUEUE Queue, WDFREQUEST Request, size_t OutLen, size_t InLen, ULONG Code) {
  UNREFERENCED_PARAMETER(OutLen);
  UNREFERENCED_PARAMETER(InLen);
  UNREFERENCED_PARAMETER(Code);
  GetCtx(WdfIoQueueGetDevice(Queue))->hits++;
  WdfRequestCompleteWithInformation(Request, STATUS_SUCCESS, 0);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath) {
  WDF_DRIVER_CONFIG config;
  WDFDRIVER driver;
  WDFDEVICE device;
  WDF_OBJECT_ATTRIBUTES attrs;
  WDF_IO_QUEUE_CONFIG queue;
  PWDFDEVICE_INIT init;
  NTSTATUS status;
  DECLARE_CONST_UNICODE_STRING(name, L"\\Device\\OwfpKmdfMin");
  WDF_DRIVER_CONFIG_INIT(&config, WDF_NO_EVENT_CALLBACK);
  config.DriverInitFlags |= WdfDriverInitNonPnpDriver;
  status = WdfDriverCreate(DriverObject, RegistryPath, WDF_NO_OBJECT_ATTRIBUTES, &config, &driver);
  if (!NT_SUCCESS(status)) return status;
  init = WdfControlDeviceInitAllocate(driver, &SDDL_DEVOBJ_SYS_ALL_ADM_ALL);
  if (init == NULL) return STATUS_INSUFFICIENT_RESOURCES;
  status = WdfDeviceInitAssignName(init, &name);
  if (!NT_SUCCESS(status)) goto fail;
  WDF_OBJECT_ATTRIBUTES_INIT_CONTEXT_TYPE(&attrs, CTX);
  status = WdfDeviceCreate(&init, &attrs, &device);
  if (!NT_SUCCESS(status)) goto fail;
  WDF_IO_QUEUE_CONFIG_INIT_DEFAULT_QUEUE(&queue, WdfIoQueueDispatchSequential);
  queue.EvtIoDeviceControl = MinIoctl;
  status = WdfIoQueueCreate(device, &queue, WDF_NO_OBJECT_ATTRIBUTES, WDF_NO_HANDLE);
  if (!NT_SUCCESS(status)) return status;
  WdfControlFinishInitializing(device);
  return STATUS_SUCCESS;
fail:
  WdfDeviceInitFree(init);
  return status;
}
