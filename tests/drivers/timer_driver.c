/*
 * timer_driver.c - a test driver written as for Windows (C, only <ntddk.h>) with kernel timers
 * and DPCs, for the S11.2 unload tests (tests/km/timer_unload_test.cpp).
 *
 * DriverEntry sets a one-shot timer due in one hour and a periodic timer (10 ms), each with a
 * DPC. The periodic DPC's first run queues a work item that queues DPC A (it sleeps 500 ms)
 * and then DPC B (queued behind A). Each routine counts its runs in TIMER_DRIVER_FLAGS (the
 * hex address of the test's LONG[5]: one-shot, periodic, A started, A done, B), memory that
 * stays when the driver is gone.
 * With TIMER_DRIVER_CANCEL set, DriverUnload cancels both timers, removes B from the queue and
 * flushes the DPC queue, as a correct driver does; without it, DriverUnload leaves them all.
 */
#include <ntddk.h>
#include <stdlib.h>
#include <unistd.h>

DRIVER_INITIALIZE DriverEntry;
DRIVER_UNLOAD TimerDriverUnload;
KDEFERRED_ROUTINE TimerDriverOneShot;
KDEFERRED_ROUTINE TimerDriverPeriodic;
KDEFERRED_ROUTINE TimerDriverSlowDpc;
KDEFERRED_ROUTINE TimerDriverQueuedDpc;
IO_WORKITEM_ROUTINE TimerDriverWork;

static volatile LONG* gFlags;
static KTIMER gOneShot, gPeriodic;
static KDPC gOneShotDpc, gPeriodicDpc, gSlowDpc, gQueuedDpc;
static PDEVICE_OBJECT gDevice;
static PIO_WORKITEM gItem;

void TimerDriverOneShot(PKDPC Dpc, PVOID Context, PVOID A1, PVOID A2) {
  UNREFERENCED_PARAMETER(Dpc); UNREFERENCED_PARAMETER(Context); UNREFERENCED_PARAMETER(A1); UNREFERENCED_PARAMETER(A2);
  InterlockedIncrement(&gFlags[0]);
}

void TimerDriverPeriodic(PKDPC Dpc, PVOID Context, PVOID A1, PVOID A2) {
  UNREFERENCED_PARAMETER(Dpc); UNREFERENCED_PARAMETER(Context); UNREFERENCED_PARAMETER(A1); UNREFERENCED_PARAMETER(A2);
  if (InterlockedIncrement(&gFlags[1]) == 1) IoQueueWorkItem(gItem, TimerDriverWork, DelayedWorkQueue, NULL);
}

void TimerDriverSlowDpc(PKDPC Dpc, PVOID Context, PVOID A1, PVOID A2) {
  UNREFERENCED_PARAMETER(Dpc); UNREFERENCED_PARAMETER(Context); UNREFERENCED_PARAMETER(A1); UNREFERENCED_PARAMETER(A2);
  InterlockedIncrement(&gFlags[2]);
  usleep(500 * 1000);
  InterlockedIncrement(&gFlags[3]);
}

void TimerDriverQueuedDpc(PKDPC Dpc, PVOID Context, PVOID A1, PVOID A2) {
  UNREFERENCED_PARAMETER(Dpc); UNREFERENCED_PARAMETER(Context); UNREFERENCED_PARAMETER(A1); UNREFERENCED_PARAMETER(A2);
  InterlockedIncrement(&gFlags[4]);
}

void TimerDriverWork(PDEVICE_OBJECT DeviceObject, PVOID Context) {
  UNREFERENCED_PARAMETER(DeviceObject);
  UNREFERENCED_PARAMETER(Context);
  KeInsertQueueDpc(&gSlowDpc, NULL, NULL);
  KeInsertQueueDpc(&gQueuedDpc, NULL, NULL);
}

void TimerDriverUnload(PDRIVER_OBJECT DriverObject) {
  UNREFERENCED_PARAMETER(DriverObject);
  if (getenv("TIMER_DRIVER_CANCEL") != NULL) {
    KeCancelTimer(&gOneShot);
    KeCancelTimer(&gPeriodic);
    KeRemoveQueueDpc(&gQueuedDpc);
    KeFlushQueuedDpcs();
  }
  IoFreeWorkItem(gItem);
  IoDeleteDevice(gDevice);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath) {
  LARGE_INTEGER due;
  NTSTATUS status;
  const char* flags = getenv("TIMER_DRIVER_FLAGS");

  UNREFERENCED_PARAMETER(RegistryPath);
  if (flags == NULL) return STATUS_INVALID_PARAMETER;
  gFlags = (volatile LONG*)(ULONG_PTR)strtoull(flags, NULL, 16);
  status = IoCreateDevice(DriverObject, 0, NULL, FILE_DEVICE_NETWORK, 0, FALSE, &gDevice);
  if (!NT_SUCCESS(status)) return status;
  gItem = IoAllocateWorkItem(gDevice);
  KeInitializeDpc(&gOneShotDpc, TimerDriverOneShot, NULL);
  KeInitializeDpc(&gPeriodicDpc, TimerDriverPeriodic, NULL);
  KeInitializeDpc(&gSlowDpc, TimerDriverSlowDpc, NULL);
  KeInitializeDpc(&gQueuedDpc, TimerDriverQueuedDpc, NULL);
  KeInitializeTimer(&gOneShot);
  KeInitializeTimerEx(&gPeriodic, NotificationTimer);
  due.QuadPart = -3600LL * 1000 * 1000 * 10; /* one hour */
  KeSetTimer(&gOneShot, due, &gOneShotDpc);
  due.QuadPart = -10LL * 1000 * 10; /* 10 ms, then every 10 ms */
  KeSetTimerEx(&gPeriodic, due, 10, &gPeriodicDpc);
  DriverObject->DriverUnload = TimerDriverUnload;
  return STATUS_SUCCESS;
}
