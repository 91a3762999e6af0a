/*
 * leaky_driver.c - a test driver written as for Windows (C, only <ntddk.h>) that the S11.2 tests
 * load with DriverHost: it leaks one pool allocation tagged 'Leak' (100 bytes) and frees another,
 * creates a device (deleted in DriverUnload) and queues a work item (which frees itself).
 * With LEAKY_DRIVER_FAIL set in the environment, DriverEntry fails with
 * STATUS_FWP_ALREADY_EXISTS after the leaking allocation.
 */
#include <ntddk.h>
#include <stdlib.h>

#define LEAK_TAG 'kaeL' /* pool tags are written backwards: shows as "Leak" */
#define TEMP_TAG 'pmeT' /* "Temp" */

DRIVER_INITIALIZE DriverEntry;
DRIVER_UNLOAD LeakyUnload;
IO_WORKITEM_ROUTINE LeakyWork;

static PVOID gLeak;
static PDEVICE_OBJECT gDevice;
static PIO_WORKITEM gWorkItem;
static volatile LONG gWorkRuns;

void LeakyWork(PDEVICE_OBJECT DeviceObject, PVOID Context) {
  UNREFERENCED_PARAMETER(DeviceObject);
  InterlockedIncrement((LONG volatile *)Context);
  IoFreeWorkItem(gWorkItem); /* the usual pattern: the routine frees its own item */
}

void LeakyUnload(PDRIVER_OBJECT DriverObject) {
  UNREFERENCED_PARAMETER(DriverObject);
  IoDeleteDevice(gDevice); /* deferred by the I/O manager while the work item is still queued */
  DbgPrint("leaky_driver: unloading; the 'Leak' allocation stays\n");
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath) {
  NTSTATUS status;
  PVOID temp;

  gLeak = ExAllocatePool2(POOL_FLAG_NON_PAGED, 100, LEAK_TAG);
  if (gLeak == NULL) return STATUS_INSUFFICIENT_RESOURCES;
  temp = ExAllocatePool2(POOL_FLAG_NON_PAGED, 32, TEMP_TAG);
  if (temp != NULL) ExFreePoolWithTag(temp, TEMP_TAG);

  if (getenv("LEAKY_DRIVER_FAIL") != NULL) return STATUS_FWP_ALREADY_EXISTS;

  status = IoCreateDevice(DriverObject, 64, NULL, FILE_DEVICE_NETWORK, 0, FALSE, &gDevice);
  if (!NT_SUCCESS(status)) return status;
  gWorkItem = IoAllocateWorkItem(gDevice);
  if (gWorkItem != NULL) IoQueueWorkItem(gWorkItem, LeakyWork, DelayedWorkQueue, (PVOID)&gWorkRuns);
  DriverObject->DriverUnload = LeakyUnload;
  DbgPrint("leaky_driver: loaded, registry path %wZ\n", RegistryPath);
  return STATUS_SUCCESS;
}
