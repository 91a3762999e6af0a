/*
 * verify_proxy.c - a WFP connect-redirect callout driver that does not let an application's
 * connection succeed until its local proxy has reached the real destination (SPEC S10.1).
 *
 * Written as for Windows, against the WDK API only:
 *   classifyFn (ALE_CONNECT_REDIRECT_V4/V6)
 *     - connections whose redirect records say REDIRECTED_BY_SELF (the proxy's own outbound
 *       connection, marked with SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS) are permitted untouched;
 *     - otherwise: acquire the classify handle, pend, redirect to the proxy (target PID, redirect
 *       handle, original destination as context), apply, fetch the records with
 *       FwpsQueryConnectionSioFormatRedirectRecords0 and hand records + original destination to
 *       the proxy (completing its outstanding IOCTL_VP_NEXT request).
 *   IOCTL_VP_OUTCOME from the proxy completes the pended classify: PERMIT when the proxy reached
 *   the destination, BLOCK when it did not (the application sees the refusal at once).
 *   Fail closed (SPEC S14.8): while no proxy is registered, connects are BLOCKed (one log line per
 *   episode) unless IOCTL_VP_SET_POLICY (write access: the engine's uid or root) chose PERMIT; a second REGISTER while one is live is refused (STATUS_DEVICE_BUSY). A pended
 *   connect the proxy does not answer in time is BLOCKed by the expiry thread at its deadline, so
 *   a late OUTCOME finds nothing (STATUS_NOT_FOUND) and never completes a classify twice.
 * The channel is described in verify_proxy_channel.h.
 * One openwfp extension, compiled only where openwfp_km_ext.h exists: a proxy that registers with
 * VP_REGISTER_APPLICATION_SOCKET gets the application's own socket with each NEXT reply
 * (OpenwfpIrpAttachApplicationSocket) and connects it in place (docs/performance.md).
 */
#include <ntddk.h>
#include <wdm.h>
#include <wdmsec.h>
#include <fwpsk.h>
#include <fwpmk.h>
#include <ws2ipdef.h>
#include <openwfp_km_ext.h> /* openwfp only: OpenwfpIrpAttachApplicationSocket (hand-off in place) */

#define INITGUID
#include <guiddef.h>

#include "verify_proxy_channel.h"

/* {6f4d2c1e-5a43-4b8e-9c61-0d3f2a7b9e10} .. keys of this driver's objects */
DEFINE_GUID(VP_PROVIDER_KEY, 0x6f4d2c1e, 0x5a43, 0x4b8e, 0x9c, 0x61, 0x0d, 0x3f, 0x2a, 0x7b, 0x9e, 0x10);
DEFINE_GUID(VP_SUBLAYER_KEY, 0x6f4d2c1e, 0x5a43, 0x4b8e, 0x9c, 0x61, 0x0d, 0x3f, 0x2a, 0x7b, 0x9e, 0x11);
DEFINE_GUID(VP_CALLOUT_V4_KEY, 0x6f4d2c1e, 0x5a43, 0x4b8e, 0x9c, 0x61, 0x0d, 0x3f, 0x2a, 0x7b, 0x9e, 0x12);
DEFINE_GUID(VP_CALLOUT_V6_KEY, 0x6f4d2c1e, 0x5a43, 0x4b8e, 0x9c, 0x61, 0x0d, 0x3f, 0x2a, 0x7b, 0x9e, 0x13);

#define VP_TAG 'xPpV'
/* SY and BA: everything; RC (a proxy inside a supervised session): read and execute, enough for
 * the FILE_ANY_ACCESS IOCTLs of a proxy, not for IOCTL_VP_SET_POLICY (FILE_WRITE_ACCESS). */
#define VP_DEVICE_SDDL L"D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGX;;;RC)"

typedef struct VP_PENDING {
  LIST_ENTRY link;
  UINT64 classifyHandle;
  UINT64 filterId;
  BOOLEAN delivered; /* handed to the proxy */
  ULONGLONG deadline; /* KeQueryInterruptTime(): BLOCKed by the expiry thread then */
  VP_REQUEST request;
} VP_PENDING;

static PDEVICE_OBJECT gDevice;
static HANDLE gEngine;
static HANDLE gRedirectHandle;
static UINT32 gCalloutIdV4, gCalloutIdV6;
static KSPIN_LOCK gLock;          /* guards everything below */
static LIST_ENTRY gWaitingIrps;   /* IOCTL_VP_NEXT requests waiting for work */
static LIST_ENTRY gPending;       /* pended classifies (VP_PENDING) */
static UINT64 gNextId = 1;
static DWORD gProxyPid;           /* 0: no proxy registered, connections are BLOCKed */
static PFILE_OBJECT gProxyFile;   /* the handle (file object) the proxy registered with */
static UINT16 gProxyPortV4, gProxyPortV6;
static ULONGLONG gPendTimeout;    /* in 100 ns units */
static UINT32 gProxyFlags;        /* VP_REGISTER.flags of the registered proxy */
static BOOLEAN gSaidNoProxy;      /* logged the current no-proxy episode */
static ULONG gWithoutProxy;       /* VP_WITHOUT_PROXY_BLOCK (default) or _PERMIT */
static BOOLEAN gStopping;         /* the expiry thread ends */
static KEVENT gWake;
static ULONGLONG gArmed; /* the deadline the expiry thread sleeps until, 0: none (under gLock) */              /* wakes the expiry thread: new pending work, or stop */
static PVOID gExpiryThread;       /* its thread object (referenced) */
static char gCleanedUp;           /* FsContext2 of a file object after its IRP_MJ_CLEANUP */

/* ---- helpers ------------------------------------------------------------------------------ */

static void VpEndpointFromSockaddr(const SOCKADDR_STORAGE* ss, VP_ENDPOINT* ep) {
  RtlZeroMemory(ep, sizeof(*ep));
  if (ss->ss_family == AF_INET) {
    const SOCKADDR_IN* in = (const SOCKADDR_IN*)ss;
    ep->family = 4;
    ep->port = RtlUshortByteSwap(in->sin_port);
    RtlCopyMemory(ep->addr, &in->sin_addr, 4);
  } else {
    const SOCKADDR_IN6* in6 = (const SOCKADDR_IN6*)ss;
    ep->family = 6;
    ep->port = RtlUshortByteSwap(in6->sin6_port);
    RtlCopyMemory(ep->addr, &in6->sin6_addr, 16);
  }
}

static void VpSetProxyDestination(SOCKADDR_STORAGE* ss) {
  if (ss->ss_family == AF_INET) {
    SOCKADDR_IN* in = (SOCKADDR_IN*)ss;
    in->sin_addr.s_addr = RtlUlongByteSwap(INADDR_LOOPBACK);
    in->sin_port = RtlUshortByteSwap(gProxyPortV4);
  } else {
    SOCKADDR_IN6* in6 = (SOCKADDR_IN6*)ss;
    RtlZeroMemory(&in6->sin6_addr, sizeof(in6->sin6_addr));
    in6->sin6_addr.u.Byte[15] = 1; /* ::1 */
    in6->sin6_port = RtlUshortByteSwap(gProxyPortV6);
  }
}

/* NEXT requests are cancel-safe: each queued one has a cancel routine (VpCancelNext), so the I/O
 * manager can cancel it (the requester went away); whoever takes a request off gWaitingIrps
 * first clears the routine, and when that fails the routine already owns the request: it stays
 * linked to itself, and the routine completes it. Called with gLock held; TRUE when the caller
 * now owns irp and must complete it. */
static BOOLEAN VpClaimLocked(PIRP irp) {
  RemoveEntryList(&irp->Tail.Overlay.ListEntry);
  if (IoSetCancelRoutine(irp, NULL) == NULL) {
    InitializeListHead(&irp->Tail.Overlay.ListEntry);
    return FALSE;
  }
  return TRUE;
}

static void NTAPI VpCancelNext(PDEVICE_OBJECT device, PIRP irp) {
  KIRQL irql;
  UNREFERENCED_PARAMETER(device);
  IoReleaseCancelSpinLock(irp->CancelIrql);
  KeAcquireSpinLock(&gLock, &irql);
  RemoveEntryList(&irp->Tail.Overlay.ListEntry);
  InitializeListHead(&irp->Tail.Overlay.ListEntry);
  KeReleaseSpinLock(&gLock, irql);
  irp->IoStatus.Status = STATUS_CANCELLED;
  irp->IoStatus.Information = 0;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
}

/* Completes one waiting NEXT request with `p` if both exist. Called with gLock held; returns the
 * IRP to complete after the lock is released (or NULL). */
static PIRP VpMatchLocked(void) {
  PLIST_ENTRY e;
  PIRP irp;
  for (e = gPending.Flink; e != &gPending; e = e->Flink) {
    VP_PENDING* p = CONTAINING_RECORD(e, VP_PENDING, link);
    if (p->delivered) continue;
    for (;;) {
      if (IsListEmpty(&gWaitingIrps)) return NULL;
      irp = CONTAINING_RECORD(gWaitingIrps.Flink, IRP, Tail.Overlay.ListEntry);
      if (VpClaimLocked(irp)) break;
    }
    RtlCopyMemory(irp->AssociatedIrp.SystemBuffer, &p->request, sizeof(VP_REQUEST));
#ifdef OPENWFP_KM_EXT_H
    /* The classify is pended and its handle held (under gLock nobody completes it meanwhile).
     * Only the registered proxy's own requests get the socket, not another opener's NEXT. */
    if ((gProxyFlags & VP_REGISTER_APPLICATION_SOCKET) != 0 && IoGetRequestorProcessId(irp) == gProxyPid &&
        NT_SUCCESS(OpenwfpIrpAttachApplicationSocket(irp, p->classifyHandle))) {
      ((VP_REQUEST*)irp->AssociatedIrp.SystemBuffer)->flags |= VP_REQUEST_APPLICATION_SOCKET;
    }
#endif
    irp->IoStatus.Status = STATUS_SUCCESS;
    irp->IoStatus.Information = sizeof(VP_REQUEST);
    p->delivered = TRUE;
    return irp;
  }
  return NULL;
}

static void VpDeliver(void) {
  for (;;) {
    KIRQL irql;
    PIRP irp;
    KeAcquireSpinLock(&gLock, &irql);
    irp = VpMatchLocked();
    KeReleaseSpinLock(&gLock, irql);
    if (irp == NULL) return;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
  }
}

/* Completes a pended classify with PERMIT or BLOCK and frees its bookkeeping. */
static void VpComplete(VP_PENDING* p, BOOLEAN permit) {
  FWPS_CLASSIFY_OUT0 out;
  RtlZeroMemory(&out, sizeof(out));
  out.actionType = permit ? FWP_ACTION_PERMIT : FWP_ACTION_BLOCK;
  out.rights = FWPS_RIGHT_ACTION_WRITE;
  if (!permit) out.rights &= ~FWPS_RIGHT_ACTION_WRITE;
  const unsigned long long id = (unsigned long long)p->request.id;
  FwpsCompleteClassify0(p->classifyHandle, 0, &out);
  FwpsReleaseClassifyHandle0(p->classifyHandle);
  ExFreePoolWithTag(p, VP_TAG);
  /* After the completion, at TRACE level (the engine's -v): the application's connect does not
   * wait for it, and the proxy logs each outcome itself. */
  DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_TRACE_LEVEL, "verify_proxy: complete id=%llu %s\n", id,
             permit ? "PERMIT" : "BLOCK");
}

/* ---- classify ----------------------------------------------------------------------------- */

static void NTAPI VpClassify(const FWPS_INCOMING_VALUES0* inFixedValues,
                             const FWPS_INCOMING_METADATA_VALUES0* inMetaValues, void* layerData,
                             const void* classifyContext, const FWPS_FILTER3* filter,
                             UINT64 flowContext, FWPS_CLASSIFY_OUT0* classifyOut) {
  FWPS_CONNECTION_REDIRECT_STATE state;
  FWPS_CONNECT_REQUEST0* request = NULL;
  VP_PENDING* p;
  VP_CONTEXT* ctx;
  UINT64 classifyHandle = 0;
  unsigned long long pendedId = 0;
  unsigned pendedPid = 0;
  SIZE_T bytes = 0;
  NTSTATUS status;
  KIRQL irql;
  BOOLEAN wake;
  DWORD proxyPid;
  ULONG withoutProxy;
  UNREFERENCED_PARAMETER(inFixedValues);
  UNREFERENCED_PARAMETER(layerData);
  UNREFERENCED_PARAMETER(flowContext);

  if ((classifyOut->rights & FWPS_RIGHT_ACTION_WRITE) == 0) return; /* someone decided hard */

  /* Our own proxy's outbound connection carries our records: never redirect it again. */
  state = FwpsQueryConnectionRedirectState0(inMetaValues->redirectRecords, gRedirectHandle, NULL);
  if (state == FWPS_CONNECTION_REDIRECTED_BY_SELF || state == FWPS_CONNECTION_PREVIOUSLY_REDIRECTED_BY_SELF) {
    classifyOut->actionType = FWP_ACTION_PERMIT;
    return;
  }
  KeAcquireSpinLock(&gLock, &irql);
  proxyPid = gProxyPid;
  withoutProxy = gWithoutProxy;
  if (proxyPid == 0 && !gSaidNoProxy) {
    gSaidNoProxy = TRUE;
    KeReleaseSpinLock(&gLock, irql);
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_ERROR_LEVEL,
               withoutProxy == VP_WITHOUT_PROXY_PERMIT
                   ? "verify_proxy: no proxy registered: permitting connects unverified (policy) until one registers (first: pid %u)\n"
                   : "verify_proxy: no proxy registered: blocking connects until one registers (first: pid %u)\n",
               (unsigned)inMetaValues->processId);
  } else {
    KeReleaseSpinLock(&gLock, irql);
  }
  if (proxyPid == 0 && withoutProxy == VP_WITHOUT_PROXY_PERMIT) { /* the administrator chose it */
    classifyOut->actionType = FWP_ACTION_PERMIT;
    return;
  }
  if (proxyPid == 0) { /* nowhere to verify it: fail closed (SPEC S14.8) */
    classifyOut->actionType = FWP_ACTION_BLOCK;
    classifyOut->rights &= ~FWPS_RIGHT_ACTION_WRITE;
    return;
  }
  if (FWPS_IS_METADATA_FIELD_PRESENT(inMetaValues, FWPS_METADATA_FIELD_PROCESS_ID) &&
      inMetaValues->processId == proxyPid) {
    classifyOut->actionType = FWP_ACTION_PERMIT; /* the proxy itself */
    return;
  }

  p = (VP_PENDING*)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(VP_PENDING), VP_TAG);
  ctx = (VP_CONTEXT*)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(VP_CONTEXT), VP_TAG);
  if (p == NULL || ctx == NULL) goto block;

  status = FwpsAcquireClassifyHandle0((void*)classifyContext, 0, &classifyHandle);
  if (!NT_SUCCESS(status)) goto block;
  status = FwpsAcquireWritableLayerDataPointer0(classifyHandle, filter->filterId, 0, (PVOID*)&request, classifyOut);
  if (!NT_SUCCESS(status)) goto release;
  status = FwpsPendClassify0(classifyHandle, filter->filterId, 0, classifyOut);
  if (!NT_SUCCESS(status)) {
    FwpsApplyModifiedLayerData0(classifyHandle, request, 0);
    goto release;
  }

  KeAcquireSpinLock(&gLock, &irql);
  p->request.id = gNextId++;
  p->deadline = KeQueryInterruptTime() + gPendTimeout;
  KeReleaseSpinLock(&gLock, irql);
  p->request.deadline = p->deadline;
  p->classifyHandle = classifyHandle;
  p->filterId = filter->filterId;
  p->delivered = FALSE;
  p->request.appPid = (uint32_t)inMetaValues->processId;
  VpEndpointFromSockaddr(&request->remoteAddressAndPort, &p->request.originalDestination);
  ctx->id = p->request.id;
  ctx->originalDestination = p->request.originalDestination;

  VpSetProxyDestination(&request->remoteAddressAndPort);
  request->localRedirectTargetPID = proxyPid;
  request->localRedirectHandle = gRedirectHandle;
  request->localRedirectContext = ctx; /* owned by the engine from Apply on */
  request->localRedirectContextSize = sizeof(VP_CONTEXT);
  ctx = NULL;
  FwpsApplyModifiedLayerData0(classifyHandle, request, 0);

  status = FwpsQueryConnectionSioFormatRedirectRecords0(inMetaValues->redirectRecords, p->request.records,
                                                        sizeof(p->request.records), &bytes);
  if (!NT_SUCCESS(status)) {
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_ERROR_LEVEL, "verify_proxy: records unavailable 0x%08x\n",
               (unsigned)status);
    VpComplete(p, FALSE);
    return;
  }
  p->request.recordsSize = (uint32_t)bytes;
  pendedId = p->request.id; /* p may be completed and freed once it is delivered */
  pendedPid = p->request.appPid;

  KeAcquireSpinLock(&gLock, &irql);
  InsertTailList(&gPending, &p->link);
  /* The expiry thread is woken only when this deadline comes before the one it sleeps until
   * (a later one is found when it wakes then): not once per connection. */
  wake = gArmed == 0 || p->deadline < gArmed;
  KeReleaseSpinLock(&gLock, irql);
  if (wake) KeSetEvent(&gWake, IO_NO_INCREMENT, FALSE);
  VpDeliver();
  /* Logged once the proxy has the request: it does not wait for the line. */
  DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_INFO_LEVEL,
             "verify_proxy: pended id=%llu pid=%u; FwpsQueryConnectionSioFormatRedirectRecords0: STATUS_SUCCESS, "
             "records=%u bytes for the proxy\n",
             pendedId, pendedPid, (unsigned)bytes);

  classifyOut->actionType = FWP_ACTION_BLOCK; /* pended: the decision comes with completion */
  classifyOut->rights &= ~FWPS_RIGHT_ACTION_WRITE;
  classifyOut->flags |= FWPS_CLASSIFY_OUT_FLAG_ABSORB;
  return;

release:
  FwpsReleaseClassifyHandle0(classifyHandle);
block:
  if (p) ExFreePoolWithTag(p, VP_TAG);
  if (ctx) ExFreePoolWithTag(ctx, VP_TAG);
  classifyOut->actionType = FWP_ACTION_BLOCK;
  classifyOut->rights &= ~FWPS_RIGHT_ACTION_WRITE;
}

static NTSTATUS NTAPI VpNotify(FWPS_CALLOUT_NOTIFY_TYPE notifyType, const GUID* filterKey, FWPS_FILTER3* filter) {
  UNREFERENCED_PARAMETER(notifyType);
  UNREFERENCED_PARAMETER(filterKey);
  UNREFERENCED_PARAMETER(filter);
  return STATUS_SUCCESS;
}

/* ---- device I/O (the proxy channel) ------------------------------------------------------- */

static NTSTATUS VpCompleteIrp(PIRP irp, NTSTATUS status, ULONG_PTR information) {
  irp->IoStatus.Status = status;
  irp->IoStatus.Information = information;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  return status;
}

static NTSTATUS NTAPI VpDispatchCreate(PDEVICE_OBJECT device, PIRP irp) {
  UNREFERENCED_PARAMETER(device);
  return VpCompleteIrp(irp, STATUS_SUCCESS, 0);
}

/* A handle was closed (its last reference: IRP_MJ_CLEANUP is per file object). Fail the NEXT
 * requests that were sent on that handle. Only when it is the handle the proxy registered with
 * does the proxy go away: then block every connection it will never answer for. A proxy may hold
 * other handles (and close them) while it keeps running. */
static NTSTATUS NTAPI VpDispatchCleanup(PDEVICE_OBJECT device, PIRP irp) {
  PFILE_OBJECT file = IoGetCurrentIrpStackLocation(irp)->FileObject;
  LIST_ENTRY irps, pending;
  PLIST_ENTRY e, next;
  KIRQL irql;
  UNREFERENCED_PARAMETER(device);
  InitializeListHead(&irps);
  InitializeListHead(&pending);
  KeAcquireSpinLock(&gLock, &irql);
  file->FsContext2 = &gCleanedUp; /* a NEXT still on its way in is refused (VpDispatchDeviceControl) */
  for (e = gWaitingIrps.Flink; e != &gWaitingIrps; e = next) {
    PIRP waiting = CONTAINING_RECORD(e, IRP, Tail.Overlay.ListEntry);
    next = e->Flink;
    if (IoGetCurrentIrpStackLocation(waiting)->FileObject == file && VpClaimLocked(waiting)) {
      InsertTailList(&irps, e);
    }
  }
  if (gProxyPid != 0 && gProxyFile == file) {
    gProxyPid = 0;
    gProxyFile = NULL;
    while (!IsListEmpty(&gPending)) InsertTailList(&pending, RemoveHeadList(&gPending));
  }
  KeReleaseSpinLock(&gLock, irql);
  while (!IsListEmpty(&irps)) {
    PIRP waiting = CONTAINING_RECORD(RemoveHeadList(&irps), IRP, Tail.Overlay.ListEntry);
    VpCompleteIrp(waiting, STATUS_CANCELLED, 0);
  }
  while (!IsListEmpty(&pending)) VpComplete(CONTAINING_RECORD(RemoveHeadList(&pending), VP_PENDING, link), FALSE);
  return VpCompleteIrp(irp, STATUS_SUCCESS, 0);
}

static NTSTATUS NTAPI VpDispatchDeviceControl(PDEVICE_OBJECT device, PIRP irp) {
  PIO_STACK_LOCATION stack = IoGetCurrentIrpStackLocation(irp);
  ULONG code = stack->Parameters.DeviceIoControl.IoControlCode;
  ULONG inLen = stack->Parameters.DeviceIoControl.InputBufferLength;
  ULONG outLen = stack->Parameters.DeviceIoControl.OutputBufferLength;
  void* buffer = irp->AssociatedIrp.SystemBuffer;
  KIRQL irql;
  UNREFERENCED_PARAMETER(device);

  if (code == IOCTL_VP_REGISTER) {
    const VP_REGISTER* reg = (const VP_REGISTER*)buffer;
    const DWORD caller = (DWORD)(ULONG_PTR)PsGetCurrentProcessId();
    DWORD live;
    ULONG timeoutMs;
    /* pendTimeoutMs is optional: a REGISTER of the first two fields gets the default. */
    if (inLen < 2 * sizeof(UINT16) || reg->listenPortV4 == 0) return VpCompleteIrp(irp, STATUS_INVALID_PARAMETER, 0);
    timeoutMs = inLen >= 8 && reg->pendTimeoutMs != 0 ? reg->pendTimeoutMs : VP_DEFAULT_PEND_TIMEOUT_MS;
    KeAcquireSpinLock(&gLock, &irql);
    live = gProxyPid;
    if (live == 0) {
      gProxyPid = caller;
      gProxyFile = stack->FileObject;
      gProxyPortV4 = reg->listenPortV4;
      gProxyPortV6 = reg->listenPortV6;
      gPendTimeout = (ULONGLONG)timeoutMs * 10000;
      gProxyFlags = inLen >= sizeof(VP_REGISTER) ? reg->flags : 0;
      gSaidNoProxy = FALSE;
    }
    KeReleaseSpinLock(&gLock, irql);
    if (live != 0) { /* one proxy at a time: the first keeps its connections (SPEC S14.8) */
      DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_WARNING_LEVEL,
                 "verify_proxy: REGISTER from pid %u refused: pid %u is the registered proxy\n", (unsigned)caller,
                 (unsigned)live);
      return VpCompleteIrp(irp, STATUS_DEVICE_BUSY, 0);
    }
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_INFO_LEVEL, "verify_proxy: proxy pid %u registered, port %u\n",
               (unsigned)gProxyPid, (unsigned)gProxyPortV4);
    return VpCompleteIrp(irp, STATUS_SUCCESS, 0);
  }
  if (code == IOCTL_VP_SET_POLICY) { /* the I/O manager checked FILE_WRITE_ACCESS already */
    const VP_POLICY* policy = (const VP_POLICY*)buffer;
    if (inLen < sizeof(VP_POLICY) ||
        (policy->withoutProxy != VP_WITHOUT_PROXY_BLOCK && policy->withoutProxy != VP_WITHOUT_PROXY_PERMIT)) {
      return VpCompleteIrp(irp, STATUS_INVALID_PARAMETER, 0);
    }
    KeAcquireSpinLock(&gLock, &irql);
    gWithoutProxy = policy->withoutProxy;
    gSaidNoProxy = FALSE;
    KeReleaseSpinLock(&gLock, irql);
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_WARNING_LEVEL, "verify_proxy: without a proxy, connects are now %s (set by pid %u)\n",
               policy->withoutProxy == VP_WITHOUT_PROXY_PERMIT ? "PERMITTED unverified" : "BLOCKED",
               (unsigned)(ULONG_PTR)PsGetCurrentProcessId());
    return VpCompleteIrp(irp, STATUS_SUCCESS, 0);
  }
  if (code == IOCTL_VP_OUTCOME || code == IOCTL_VP_OUTCOME_NEXT) {
    const VP_OUTCOME* outcome = (const VP_OUTCOME*)buffer;
    VP_PENDING* found = NULL;
    PLIST_ENTRY e;
    if (inLen < sizeof(VP_OUTCOME)) return VpCompleteIrp(irp, STATUS_INVALID_PARAMETER, 0);
    /* OUTCOME_NEXT: checked before the outcome is applied, so a failure means nothing was. */
    if (code == IOCTL_VP_OUTCOME_NEXT && outLen < sizeof(VP_REQUEST)) return VpCompleteIrp(irp, STATUS_BUFFER_TOO_SMALL, 0);
    KeAcquireSpinLock(&gLock, &irql);
    for (e = gPending.Flink; e != &gPending; e = e->Flink) {
      VP_PENDING* p = CONTAINING_RECORD(e, VP_PENDING, link);
      if (p->request.id == outcome->id && p->delivered) {
        RemoveEntryList(&p->link);
        found = p;
        break;
      }
    }
    KeReleaseSpinLock(&gLock, irql);
    if (found == NULL) return VpCompleteIrp(irp, STATUS_NOT_FOUND, 0);
    VpComplete(found, outcome->error == 0);
    if (code == IOCTL_VP_OUTCOME) return VpCompleteIrp(irp, STATUS_SUCCESS, 0);
    /* OUTCOME_NEXT: now waits as a NEXT (its buffer becomes the request's). */
  }
  if (code == IOCTL_VP_NEXT || code == IOCTL_VP_OUTCOME_NEXT) {
    if (outLen < sizeof(VP_REQUEST)) return VpCompleteIrp(irp, STATUS_BUFFER_TOO_SMALL, 0);
    KeAcquireSpinLock(&gLock, &irql);
    if (stack->FileObject->FsContext2 == &gCleanedUp) {
      /* The handle was closed while this request was on its way in: nothing would cancel it. */
      KeReleaseSpinLock(&gLock, irql);
      return VpCompleteIrp(irp, STATUS_CANCELLED, 0);
    }
    IoMarkIrpPending(irp);
    IoSetCancelRoutine(irp, VpCancelNext);
    if (irp->Cancel && IoSetCancelRoutine(irp, NULL) != NULL) {
      /* Cancelled before it was queued, and the routine was not called: complete it here. */
      KeReleaseSpinLock(&gLock, irql);
      VpCompleteIrp(irp, STATUS_CANCELLED, 0);
      return STATUS_PENDING;
    }
    InsertTailList(&gWaitingIrps, &irp->Tail.Overlay.ListEntry);
    KeReleaseSpinLock(&gLock, irql);
    VpDeliver();
    return STATUS_PENDING;
  }
  return VpCompleteIrp(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
}

/* ---- deadlines ---------------------------------------------------------------------------- */

/* BLOCKs the pended connects whose deadline passed (delivered or not): the proxy did not answer
 * in time. Sleeps until the earliest deadline, or until a new connect is pended (gWake). */
static void NTAPI VpExpiryThread(PVOID context) {
  UNREFERENCED_PARAMETER(context);
  for (;;) {
    LIST_ENTRY expired;
    PLIST_ENTRY e, next;
    LARGE_INTEGER wait;
    ULONGLONG now = KeQueryInterruptTime(), earliest = 0;
    KIRQL irql;
    BOOLEAN stopping;
    InitializeListHead(&expired);
    KeAcquireSpinLock(&gLock, &irql);
    stopping = gStopping;
    for (e = gPending.Flink; e != &gPending; e = next) {
      VP_PENDING* p = CONTAINING_RECORD(e, VP_PENDING, link);
      next = e->Flink;
      if (p->deadline <= now) {
        RemoveEntryList(e);
        InsertTailList(&expired, e);
      } else if (earliest == 0 || p->deadline < earliest) {
        earliest = p->deadline;
      }
    }
    gArmed = earliest;
    KeReleaseSpinLock(&gLock, irql);
    while (!IsListEmpty(&expired)) {
      VP_PENDING* p = CONTAINING_RECORD(RemoveHeadList(&expired), VP_PENDING, link);
      DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_WARNING_LEVEL, "verify_proxy: id=%llu pid=%u not answered in time%s\n",
                 (unsigned long long)p->request.id, p->request.appPid, p->delivered ? "" : " (never handed to the proxy)");
      VpComplete(p, FALSE);
    }
    if (stopping) break;
    wait.QuadPart = earliest == 0 ? 0 : -(LONGLONG)(earliest - now);
    KeWaitForSingleObject(&gWake, Executive, KernelMode, FALSE, earliest == 0 ? NULL : &wait);
  }
  PsTerminateSystemThread(STATUS_SUCCESS);
}

static NTSTATUS VpStartExpiryThread(void) {
  OBJECT_ATTRIBUTES attributes;
  HANDLE thread;
  NTSTATUS status;
  InitializeObjectAttributes(&attributes, NULL, OBJ_KERNEL_HANDLE, NULL, NULL);
  status = PsCreateSystemThread(&thread, THREAD_ALL_ACCESS, &attributes, NULL, NULL, VpExpiryThread, NULL);
  if (!NT_SUCCESS(status)) return status;
  status = ObReferenceObjectByHandle(thread, THREAD_ALL_ACCESS, *PsThreadType, KernelMode, &gExpiryThread, NULL);
  ZwClose(thread);
  return status;
}

static void VpStopExpiryThread(void) {
  KIRQL irql;
  if (gExpiryThread == NULL) return;
  KeAcquireSpinLock(&gLock, &irql);
  gStopping = TRUE;
  KeReleaseSpinLock(&gLock, irql);
  KeSetEvent(&gWake, IO_NO_INCREMENT, FALSE);
  KeWaitForSingleObject(gExpiryThread, Executive, KernelMode, FALSE, NULL);
  ObDereferenceObject(gExpiryThread);
  gExpiryThread = NULL;
}

/* ---- load / unload ------------------------------------------------------------------------ */

static NTSTATUS VpAddFilters(void) {
  FWPM_PROVIDER0 provider;
  FWPM_SUBLAYER0 sublayer;
  FWPM_CALLOUT0 callout;
  FWPM_FILTER0 filter;
  FWPM_FILTER_CONDITION0 condition;
  NTSTATUS status;
  int v6;

  status = FwpmEngineOpen0(NULL, RPC_C_AUTHN_WINNT, NULL, NULL, &gEngine);
  if (!NT_SUCCESS(status)) return status;
  status = FwpmTransactionBegin0(gEngine, 0);
  if (!NT_SUCCESS(status)) return status;

  RtlZeroMemory(&provider, sizeof(provider));
  provider.providerKey = VP_PROVIDER_KEY;
  provider.displayData.name = (wchar_t*)L"openwfp verify_proxy";
  status = FwpmProviderAdd0(gEngine, &provider, NULL);
  if (!NT_SUCCESS(status)) goto abort;

  RtlZeroMemory(&sublayer, sizeof(sublayer));
  sublayer.subLayerKey = VP_SUBLAYER_KEY;
  sublayer.displayData.name = (wchar_t*)L"verify_proxy sublayer";
  sublayer.providerKey = (GUID*)&VP_PROVIDER_KEY;
  sublayer.weight = 0x8000;
  status = FwpmSubLayerAdd0(gEngine, &sublayer, NULL);
  if (!NT_SUCCESS(status)) goto abort;

  for (v6 = 0; v6 < 2; ++v6) {
    RtlZeroMemory(&callout, sizeof(callout));
    callout.calloutKey = v6 ? VP_CALLOUT_V6_KEY : VP_CALLOUT_V4_KEY;
    callout.displayData.name = (wchar_t*)L"verify_proxy connect redirect";
    callout.providerKey = (GUID*)&VP_PROVIDER_KEY;
    callout.applicableLayer = v6 ? FWPM_LAYER_ALE_CONNECT_REDIRECT_V6 : FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
    status = FwpmCalloutAdd0(gEngine, &callout, NULL, NULL);
    if (!NT_SUCCESS(status)) goto abort;

    RtlZeroMemory(&condition, sizeof(condition));
    condition.fieldKey = FWPM_CONDITION_IP_PROTOCOL;
    condition.matchType = FWP_MATCH_EQUAL;
    condition.conditionValue.type = FWP_UINT8;
    condition.conditionValue.uint8 = IPPROTO_TCP;

    RtlZeroMemory(&filter, sizeof(filter));
    filter.displayData.name = (wchar_t*)L"verify_proxy: TCP connects";
    filter.providerKey = (GUID*)&VP_PROVIDER_KEY;
    filter.layerKey = callout.applicableLayer;
    filter.subLayerKey = VP_SUBLAYER_KEY;
    filter.weight.type = FWP_EMPTY;
    filter.numFilterConditions = 1;
    filter.filterCondition = &condition;
    filter.action.type = FWP_ACTION_CALLOUT_TERMINATING;
    filter.action.calloutKey = callout.calloutKey;
    status = FwpmFilterAdd0(gEngine, &filter, NULL, NULL);
    if (!NT_SUCCESS(status)) goto abort;
  }
  return FwpmTransactionCommit0(gEngine);
abort:
  FwpmTransactionAbort0(gEngine);
  return status;
}

static void NTAPI VpUnload(PDRIVER_OBJECT driverObject) {
  UNICODE_STRING link;
  LIST_ENTRY irps;
  KIRQL irql;
  UNREFERENCED_PARAMETER(driverObject);
  VpStopExpiryThread();
  /* NEXT requests still waiting on handles that were never closed: cancel them. */
  InitializeListHead(&irps);
  KeAcquireSpinLock(&gLock, &irql);
  while (!IsListEmpty(&gWaitingIrps)) {
    PIRP waiting = CONTAINING_RECORD(gWaitingIrps.Flink, IRP, Tail.Overlay.ListEntry);
    if (VpClaimLocked(waiting)) InsertTailList(&irps, &waiting->Tail.Overlay.ListEntry);
  }
  gProxyPid = 0;
  gProxyFile = NULL;
  KeReleaseSpinLock(&gLock, irql);
  while (!IsListEmpty(&irps))
    VpCompleteIrp(CONTAINING_RECORD(RemoveHeadList(&irps), IRP, Tail.Overlay.ListEntry), STATUS_CANCELLED, 0);
  if (gEngine) FwpmEngineClose0(gEngine);
  FwpsCalloutUnregisterById0(gCalloutIdV4);
  FwpsCalloutUnregisterById0(gCalloutIdV6);
  if (gRedirectHandle) FwpsRedirectHandleDestroy0(gRedirectHandle);
  RtlInitUnicodeString(&link, VP_SYMLINK_NAME);
  IoDeleteSymbolicLink(&link);
  if (gDevice) IoDeleteDevice(gDevice);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT driverObject, PUNICODE_STRING registryPath) {
  UNICODE_STRING name, link, sddl;
  FWPS_CALLOUT3 callout;
  NTSTATUS status;
  UNREFERENCED_PARAMETER(registryPath);

  KeInitializeSpinLock(&gLock);
  InitializeListHead(&gWaitingIrps);
  InitializeListHead(&gPending);
  KeInitializeEvent(&gWake, SynchronizationEvent, FALSE);
  gPendTimeout = (ULONGLONG)VP_DEFAULT_PEND_TIMEOUT_MS * 10000;
  /* Not left from an earlier load of the same image (a driver linked into a test or fuzz target
   * is loaded again without being reloaded from disk): the expiry thread would stop at once. */
  gStopping = FALSE;
  gArmed = 0;
  gSaidNoProxy = FALSE;
  gWithoutProxy = VP_WITHOUT_PROXY_BLOCK;
  gExpiryThread = NULL;

  RtlInitUnicodeString(&name, VP_DEVICE_NAME);
  /* The engine's uid (SY) and root (BA) may open the device, and so may a process of theirs inside
   * a supervised tree (RC: the proxy usually runs in the session it serves); other users may not. */
  RtlInitUnicodeString(&sddl, VP_DEVICE_SDDL);
  status = IoCreateDeviceSecure(driverObject, 0, &name, FILE_DEVICE_NETWORK, FILE_DEVICE_SECURE_OPEN, FALSE, &sddl,
                                NULL, &gDevice);
  if (!NT_SUCCESS(status)) return status;
  RtlInitUnicodeString(&link, VP_SYMLINK_NAME);
  status = IoCreateSymbolicLink(&link, &name);
  if (!NT_SUCCESS(status)) goto fail;
  driverObject->MajorFunction[IRP_MJ_CREATE] = VpDispatchCreate;
  driverObject->MajorFunction[IRP_MJ_CLOSE] = VpDispatchCreate;
  driverObject->MajorFunction[IRP_MJ_CLEANUP] = VpDispatchCleanup;
  driverObject->MajorFunction[IRP_MJ_DEVICE_CONTROL] = VpDispatchDeviceControl;
  driverObject->DriverUnload = VpUnload;

  /* One redirect handle for the V4 and the V6 callout: the proxy's connections must look
   * REDIRECTED_BY_SELF whichever family they use (SPEC S7.3). */
  status = FwpsRedirectHandleCreate0(&VP_PROVIDER_KEY, 0, &gRedirectHandle);
  if (!NT_SUCCESS(status)) goto fail;

  RtlZeroMemory(&callout, sizeof(callout));
  callout.classifyFn = VpClassify;
  callout.notifyFn = VpNotify;
  callout.calloutKey = VP_CALLOUT_V4_KEY;
  status = FwpsCalloutRegister3(gDevice, &callout, &gCalloutIdV4);
  if (!NT_SUCCESS(status)) goto fail;
  callout.calloutKey = VP_CALLOUT_V6_KEY;
  status = FwpsCalloutRegister3(gDevice, &callout, &gCalloutIdV6);
  if (!NT_SUCCESS(status)) goto fail;

  status = VpStartExpiryThread();
  if (!NT_SUCCESS(status)) goto fail;
  status = VpAddFilters();
  if (!NT_SUCCESS(status)) goto fail;
  DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_INFO_LEVEL, "verify_proxy: loaded\n");
  return STATUS_SUCCESS;
fail:
  VpUnload(driverObject);
  return status;
}
