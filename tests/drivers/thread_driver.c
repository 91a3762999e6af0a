/*
 * thread_driver.c - a test driver written as for Windows (C, only <ntddk.h>) with a system
 * worker thread, for the S11.2 thread tests (tests/km/threads_test.cpp).
 *
 * DriverEntry starts a system thread that waits on a stop event and then ends through
 * PsTerminateSystemThread called from a nested C function; it takes a reference to the thread
 * object (ObReferenceObjectByHandle) and closes the handle.
 * Without THREAD_DRIVER_LEAVE_RUNNING in the environment, DriverUnload does the classic unload:
 * set the stop event, wait for the thread object, dereference it.
 * With it, DriverUnload does nothing and the handle is kept open: the thread is left running and
 * the handle unclosed (leaks). The test then calls the exported ThreadDriverStopAndWait().
 */
#include <ntddk.h>
#include <stdlib.h>

DRIVER_INITIALIZE DriverEntry;
DRIVER_UNLOAD ThreadDriverUnload;
KSTART_ROUTINE ThreadDriverWorker;

static KEVENT gStop;
static PVOID gThreadObject;
static HANDLE gThreadHandle;
static volatile LONG gReachedTerminate;
static volatile LONG gPastTerminate;

static void ThreadDriverFinish(NTSTATUS status) {
  InterlockedExchange(&gReachedTerminate, 1);
  PsTerminateSystemThread(status);
  InterlockedExchange(&gPastTerminate, 1); /* never reached */
}

void ThreadDriverWorker(PVOID StartContext) {
  UNREFERENCED_PARAMETER(StartContext);
  KeWaitForSingleObject(&gStop, Executive, KernelMode, FALSE, NULL);
  ThreadDriverFinish(STATUS_SUCCESS);
  InterlockedExchange(&gPastTerminate, 1); /* never reached */
}

/* For the test: 1 when the worker called PsTerminateSystemThread, 2 if code after it ran. */
LONG ThreadDriverState(void) { return gReachedTerminate + 2 * gPastTerminate; }

/* For the test, after a leaving unload: stops the thread and waits for it (10 s guard). */
NTSTATUS ThreadDriverStopAndWait(void) {
  LARGE_INTEGER guard;
  NTSTATUS status;
  guard.QuadPart = -10LL * 1000 * 1000 * 10;
  KeSetEvent(&gStop, IO_NO_INCREMENT, FALSE);
  status = KeWaitForSingleObject(gThreadObject, Executive, KernelMode, FALSE, &guard);
  if (status == STATUS_SUCCESS) ObDereferenceObject(gThreadObject);
  return status;
}

void ThreadDriverUnload(PDRIVER_OBJECT DriverObject) {
  UNREFERENCED_PARAMETER(DriverObject);
  if (getenv("THREAD_DRIVER_LEAVE_RUNNING") != NULL) return;
  KeSetEvent(&gStop, IO_NO_INCREMENT, FALSE);
  KeWaitForSingleObject(gThreadObject, Executive, KernelMode, FALSE, NULL);
  ObDereferenceObject(gThreadObject);
  gThreadObject = NULL;
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath) {
  OBJECT_ATTRIBUTES attributes;
  NTSTATUS status;

  UNREFERENCED_PARAMETER(RegistryPath);
  gReachedTerminate = 0;
  gPastTerminate = 0;
  KeInitializeEvent(&gStop, NotificationEvent, FALSE);
  InitializeObjectAttributes(&attributes, NULL, OBJ_KERNEL_HANDLE, NULL, NULL);
  status = PsCreateSystemThread(&gThreadHandle, THREAD_ALL_ACCESS, &attributes, NULL, NULL,
                                ThreadDriverWorker, NULL);
  if (!NT_SUCCESS(status)) return status;
  status = ObReferenceObjectByHandle(gThreadHandle, THREAD_ALL_ACCESS, *PsThreadType, KernelMode,
                                     &gThreadObject, NULL);
  if (!NT_SUCCESS(status)) return status;
  if (getenv("THREAD_DRIVER_LEAVE_RUNNING") == NULL) {
    ZwClose(gThreadHandle);
    gThreadHandle = NULL;
  }
  DriverObject->DriverUnload = ThreadDriverUnload;
  return STATUS_SUCCESS;
}
