/*
 * policy_driver.c - openwfp's built-in callout driver: the rules of a policy file (SPEC S17,
 * docs/policy.md) enforced at ALE_CONNECT_REDIRECT_V4/V6. Written as for Windows, against the WDK
 * API only, plus OPENWFP_SET_BLOCK_ERRNO (openwfp_km_ext.h) for the errno of a BLOCK.
 *
 * The host hands the driver its rules after load with IOCTL_POLICY_LOAD (policy_channel.h); each
 * rule becomes one filter per layer it can match (V4; V6, where a v4 `remote` also matches its
 * v4-mapped form), in this driver's sublayer, with the exact weight POLICY_MAX_RULES - index so
 * that the first rule that matches decides. The filter carries the rule's uid, remote, port and
 * protocol as conditions and, where a condition can say it (a literal path, or a literal followed
 * by one '*'), its app; its context names the rule. The callout (one per layer):
 *   - permits connections whose records say REDIRECTED_BY_SELF (the proxy's own outbound ones);
 *   - checks the app glob and returns CONTINUE when it does not match (the next rule decides);
 *   - permit: PERMIT. block: BLOCK with the rule's errno. redirect: rewrites the destination
 *     (loopback targets need a process that CLAIMed the endpoint: it becomes the redirect target
 *     PID; unclaimed -> BLOCK, fail closed). proxy: the verify-before-accept flow of
 *     examples/verify_proxy (pend, redirect to the registered proxy, hand it the records, the
 *     original destination and the rule's upstream; its OUTCOME completes the connect: PERMIT, or
 *     BLOCK with the upstream's errno). UDP under a socks5/http rule BLOCKs with ENETUNREACH (the
 *     proxy relays TCP only, docs/policy.md); `proxy = "direct"` permits UDP unchanged.
 */
#include <ntddk.h>
#include <wdm.h>
#include <wdmsec.h>
#include <fwpsk.h>
#include <fwpmk.h>
#include <ws2ipdef.h>

#define INITGUID
#include <guiddef.h>

#include "openwfp_km_ext.h"
#include "policy_channel.h"

/* {3c1b7a52-84e0-4f6d-a2c9-5e1d07b4f820} .. keys of this driver's objects */
DEFINE_GUID(PD_PROVIDER_KEY, 0x3c1b7a52, 0x84e0, 0x4f6d, 0xa2, 0xc9, 0x5e, 0x1d, 0x07, 0xb4, 0xf8, 0x20);
DEFINE_GUID(PD_SUBLAYER_KEY, 0x3c1b7a52, 0x84e0, 0x4f6d, 0xa2, 0xc9, 0x5e, 0x1d, 0x07, 0xb4, 0xf8, 0x21);
DEFINE_GUID(PD_CALLOUT_V4_KEY, 0x3c1b7a52, 0x84e0, 0x4f6d, 0xa2, 0xc9, 0x5e, 0x1d, 0x07, 0xb4, 0xf8, 0x22);
DEFINE_GUID(PD_CALLOUT_V6_KEY, 0x3c1b7a52, 0x84e0, 0x4f6d, 0xa2, 0xc9, 0x5e, 0x1d, 0x07, 0xb4, 0xf8, 0x23);

#define PD_TAG 'ylPo'
#define PD_DEVICE_SDDL L"D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;RC)"
#define PD_MAX_CLAIMS 64
#define PD_ECONNREFUSED 111
#define PD_ETIMEDOUT 110
#define PD_ENETUNREACH 101

/* A loaded rule set: the rules and, per rule, the app glob decoded to WCHARs. */
typedef struct PD_RULESET {
  UINT32 generation;
  UINT32 count;
  POLICY_RULE* rules;
  WCHAR (*apps)[POLICY_MAX_APP];
  UINT64* filterIds; /* up to 2 per rule */
  UINT32 filterCount;
} PD_RULESET;

typedef struct PD_PENDING {
  LIST_ENTRY link;
  UINT64 classifyHandle;
  BOOLEAN delivered;
  ULONGLONG deadline;
  POLICY_PROXY_REQUEST request;
} PD_PENDING;

typedef struct PD_CLAIM {
  VP_ENDPOINT endpoint;
  DWORD pid;
  PFILE_OBJECT file;
} PD_CLAIM;

static PDEVICE_OBJECT gDevice;
static HANDLE gEngine;
static HANDLE gRedirectHandle;
static UINT32 gCalloutIdV4, gCalloutIdV6;
static KSPIN_LOCK gLock;        /* guards everything below */
static PD_RULESET gCurrent;     /* the loaded rules */
static PD_RULESET gPrevious;    /* the set before, for classifies still on its filters */
static UINT32 gGeneration;
static LIST_ENTRY gWaitingIrps; /* IOCTL_VP_NEXT requests waiting for work */
static LIST_ENTRY gPending;     /* pended proxy classifies (PD_PENDING) */
static UINT64 gNextId = 1;
static DWORD gProxyPid;         /* 0: no proxy registered, proxy rules BLOCK */
static PFILE_OBJECT gProxyFile;
static UINT16 gProxyPortV4, gProxyPortV6;
static ULONGLONG gPendTimeout;  /* 100 ns units */
static BOOLEAN gSaidNoProxy;
static PD_CLAIM gClaims[PD_MAX_CLAIMS];
static BOOLEAN gStopping;
static KEVENT gWake;
static ULONGLONG gArmed; /* the deadline the expiry thread sleeps until, 0: none (under gLock) */
static PVOID gExpiryThread;
static char gCleanedUp;
static KEVENT gLoadLock;        /* one LOAD/CLEAR at a time: a synchronization event, signaled = free */

/* ---- helpers ------------------------------------------------------------------------------ */

static void PdEndpointFromSockaddr(const SOCKADDR_STORAGE* ss, VP_ENDPOINT* ep) {
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

/* Writes ep into the connect request's destination (same family as the socket's: a v4 endpoint on
 * a v6 socket becomes its v4-mapped form). FALSE when it cannot be expressed. */
static BOOLEAN PdSetDestination(SOCKADDR_STORAGE* ss, const VP_ENDPOINT* ep) {
  if (ss->ss_family == AF_INET) {
    SOCKADDR_IN* in = (SOCKADDR_IN*)ss;
    if (ep->family != 4) return FALSE;
    RtlCopyMemory(&in->sin_addr, ep->addr, 4);
    in->sin_port = RtlUshortByteSwap(ep->port);
  } else {
    SOCKADDR_IN6* in6 = (SOCKADDR_IN6*)ss;
    RtlZeroMemory(&in6->sin6_addr, sizeof(in6->sin6_addr));
    if (ep->family == 4) {
      in6->sin6_addr.u.Byte[10] = 0xff;
      in6->sin6_addr.u.Byte[11] = 0xff;
      RtlCopyMemory(&in6->sin6_addr.u.Byte[12], ep->addr, 4);
    } else {
      RtlCopyMemory(&in6->sin6_addr, ep->addr, 16);
    }
    in6->sin6_port = RtlUshortByteSwap(ep->port);
  }
  return TRUE;
}

static BOOLEAN PdIsLoopback(const VP_ENDPOINT* ep) {
  static const UINT8 v6loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (ep->family == 4) return ep->addr[0] == 127;
  return RtlCompareMemory(ep->addr, v6loop, 16) == 16;
}

static BOOLEAN PdSameEndpoint(const VP_ENDPOINT* a, const VP_ENDPOINT* b) {
  return a->family == b->family && a->port == b->port &&
         RtlCompareMemory(a->addr, b->addr, a->family == 4 ? 4 : 16) == (a->family == 4 ? 4u : 16u);
}

/* '*' any run (also '/'), '?' one character; iterative with one backtrack point. */
static BOOLEAN PdGlobMatch(const WCHAR* pattern, const WCHAR* text) {
  const WCHAR* star = NULL;
  const WCHAR* resume = NULL;
  while (*text) {
    if (*pattern == L'*') {
      star = pattern++;
      resume = text;
    } else if (*pattern == L'?' || *pattern == *text) {
      ++pattern;
      ++text;
    } else if (star) {
      pattern = star + 1;
      text = ++resume;
    } else {
      return FALSE;
    }
  }
  while (*pattern == L'*') ++pattern;
  return *pattern == 0;
}

/* UTF-8 -> WCHAR (code points); FALSE for invalid UTF-8 or when it does not fit. */
static BOOLEAN PdDecodeUtf8(const char* in, WCHAR* out, SIZE_T cap) {
  SIZE_T n = 0;
  const unsigned char* p = (const unsigned char*)in;
  while (*p) {
    UINT32 cp;
    int extra;
    if (*p < 0x80) { cp = *p; extra = 0; }
    else if ((*p & 0xE0) == 0xC0) { cp = *p & 0x1F; extra = 1; }
    else if ((*p & 0xF0) == 0xE0) { cp = *p & 0x0F; extra = 2; }
    else if ((*p & 0xF8) == 0xF0) { cp = *p & 0x07; extra = 3; }
    else return FALSE;
    ++p;
    while (extra-- > 0) {
      if ((*p & 0xC0) != 0x80) return FALSE;
      cp = (cp << 6) | (*p++ & 0x3F);
    }
    if (n + 1 >= cap) return FALSE;
    out[n++] = (WCHAR)cp;
  }
  out[n] = 0;
  return TRUE;
}

/* The app id of the classify (a NUL-terminated WCHAR string in a byte blob), or NULL. */
static const WCHAR* PdAppId(const FWPS_INCOMING_VALUES0* in) {
  const FWP_VALUE0* v = &in->incomingValue[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_ALE_APP_ID].value;
  if (v->type != FWP_BYTE_BLOB_TYPE || v->byteBlob == NULL || v->byteBlob->size < sizeof(WCHAR)) return NULL;
  if (((const WCHAR*)v->byteBlob->data)[v->byteBlob->size / sizeof(WCHAR) - 1] != 0) return NULL;
  return (const WCHAR*)v->byteBlob->data;
}

static void PdFreeRuleset(PD_RULESET* s) {
  if (s->rules) ExFreePoolWithTag(s->rules, PD_TAG);
  if (s->apps) ExFreePoolWithTag(s->apps, PD_TAG);
  if (s->filterIds) ExFreePoolWithTag(s->filterIds, PD_TAG);
  RtlZeroMemory(s, sizeof(*s));
}

static void PdBlock(FWPS_CLASSIFY_OUT0* out, int errnoValue) {
  out->actionType = FWP_ACTION_BLOCK;
  out->rights &= ~FWPS_RIGHT_ACTION_WRITE;
  OPENWFP_SET_BLOCK_ERRNO(out, errnoValue);
}


/* ---- the proxy channel (as examples/verify_proxy) ------------------------------------------ */

/* Cancel-safe NEXT requests: whoever takes one off gWaitingIrps first clears its cancel routine;
 * when that fails the routine owns it. Called with gLock held; TRUE when the caller owns irp. */
static BOOLEAN PdClaimIrpLocked(PIRP irp) {
  RemoveEntryList(&irp->Tail.Overlay.ListEntry);
  if (IoSetCancelRoutine(irp, NULL) == NULL) {
    InitializeListHead(&irp->Tail.Overlay.ListEntry);
    return FALSE;
  }
  return TRUE;
}

static void NTAPI PdCancelNext(PDEVICE_OBJECT device, PIRP irp) {
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

static PIRP PdMatchLocked(void) {
  PLIST_ENTRY e;
  PIRP irp;
  for (e = gPending.Flink; e != &gPending; e = e->Flink) {
    PD_PENDING* p = CONTAINING_RECORD(e, PD_PENDING, link);
    if (p->delivered) continue;
    for (;;) {
      if (IsListEmpty(&gWaitingIrps)) return NULL;
      irp = CONTAINING_RECORD(gWaitingIrps.Flink, IRP, Tail.Overlay.ListEntry);
      if (PdClaimIrpLocked(irp)) break;
    }
    RtlCopyMemory(irp->AssociatedIrp.SystemBuffer, &p->request, sizeof(POLICY_PROXY_REQUEST));
    irp->IoStatus.Status = STATUS_SUCCESS;
    irp->IoStatus.Information = sizeof(POLICY_PROXY_REQUEST);
    p->delivered = TRUE;
    return irp;
  }
  return NULL;
}

static void PdDeliver(void) {
  for (;;) {
    KIRQL irql;
    PIRP irp;
    KeAcquireSpinLock(&gLock, &irql);
    irp = PdMatchLocked();
    KeReleaseSpinLock(&gLock, irql);
    if (irp == NULL) return;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
  }
}

/* Completes a pended proxy classify: PERMIT (error 0) or BLOCK with that errno. */
static void PdComplete(PD_PENDING* p, int error) {
  FWPS_CLASSIFY_OUT0 out;
  RtlZeroMemory(&out, sizeof(out));
  out.rights = FWPS_RIGHT_ACTION_WRITE;
  if (error == 0) {
    out.actionType = FWP_ACTION_PERMIT;
  } else {
    PdBlock(&out, error);
  }
  DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_TRACE_LEVEL, "policy: rule %u: complete id=%llu %s (errno %d)\n",
             (unsigned)p->request.ruleIndex + 1, (unsigned long long)p->request.request.id,
             error == 0 ? "PERMIT" : "BLOCK", error);
  FwpsCompleteClassify0(p->classifyHandle, 0, &out);
  FwpsReleaseClassifyHandle0(p->classifyHandle);
  ExFreePoolWithTag(p, PD_TAG);
}

/* ---- classify ----------------------------------------------------------------------------- */

/* The proxy rule: pend, redirect to the registered proxy, hand it the request. */
static void PdProxy(const FWPS_INCOMING_METADATA_VALUES0* inMetaValues, const void* classifyContext,
                    const FWPS_FILTER3* filter, const POLICY_RULE* rule, UINT32 ruleIndex,
                    FWPS_CLASSIFY_OUT0* classifyOut) {
  FWPS_CONNECT_REQUEST0* request = NULL;
  PD_PENDING* p;
  VP_CONTEXT* ctx;
  UINT64 classifyHandle = 0;
  SIZE_T bytes = 0;
  NTSTATUS status;
  KIRQL irql;
  BOOLEAN wake;
  DWORD proxyPid;
  UINT16 port;
  VP_ENDPOINT proxyEp;

  KeAcquireSpinLock(&gLock, &irql);
  proxyPid = gProxyPid;
  port = 0;
  if (proxyPid != 0) port = gProxyPortV4;
  if (proxyPid == 0 && !gSaidNoProxy) {
    gSaidNoProxy = TRUE;
    KeReleaseSpinLock(&gLock, irql);
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_ERROR_LEVEL,
               "policy: rule %u (line %u) needs the proxy, none is registered: blocking (first: pid %u)\n",
               (unsigned)ruleIndex + 1, (unsigned)rule->line, (unsigned)inMetaValues->processId);
  } else {
    KeReleaseSpinLock(&gLock, irql);
  }
  if (proxyPid == 0) {
    PdBlock(classifyOut, 0);
    return;
  }
  if (FWPS_IS_METADATA_FIELD_PRESENT(inMetaValues, FWPS_METADATA_FIELD_PROCESS_ID) &&
      inMetaValues->processId == proxyPid) {
    classifyOut->actionType = FWP_ACTION_PERMIT; /* the proxy itself */
    return;
  }
  p = (PD_PENDING*)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(PD_PENDING), PD_TAG);
  ctx = (VP_CONTEXT*)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(VP_CONTEXT), PD_TAG);
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
  p->request.request.id = gNextId++;
  p->deadline = KeQueryInterruptTime() + gPendTimeout;
  port = request->remoteAddressAndPort.ss_family == AF_INET ? gProxyPortV4 : gProxyPortV6;
  KeReleaseSpinLock(&gLock, irql);
  p->request.request.deadline = p->deadline;
  p->request.ruleIndex = ruleIndex;
  p->request.upstream = rule->upstream;
  p->classifyHandle = classifyHandle;
  p->delivered = FALSE;
  p->request.request.appPid = (uint32_t)inMetaValues->processId;
  PdEndpointFromSockaddr(&request->remoteAddressAndPort, &p->request.request.originalDestination);
  ctx->id = p->request.request.id;
  ctx->originalDestination = p->request.request.originalDestination;

  RtlZeroMemory(&proxyEp, sizeof(proxyEp));
  if (request->remoteAddressAndPort.ss_family == AF_INET6 && port != 0) {
    proxyEp.family = 6;
    proxyEp.addr[15] = 1; /* ::1 */
  } else {
    proxyEp.family = 4;
    proxyEp.addr[0] = 127;
    proxyEp.addr[3] = 1;
    if (port == 0) port = gProxyPortV4; /* no ::1 listener: the v4-mapped 127.0.0.1 */
  }
  proxyEp.port = port;
  PdSetDestination(&request->remoteAddressAndPort, &proxyEp);
  request->localRedirectTargetPID = proxyPid;
  request->localRedirectHandle = gRedirectHandle;
  request->localRedirectContext = ctx; /* owned by the engine from Apply on */
  request->localRedirectContextSize = sizeof(VP_CONTEXT);
  ctx = NULL;
  FwpsApplyModifiedLayerData0(classifyHandle, request, 0);

  status = FwpsQueryConnectionSioFormatRedirectRecords0(inMetaValues->redirectRecords, p->request.request.records,
                                                        sizeof(p->request.request.records), &bytes);
  if (!NT_SUCCESS(status)) {
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_ERROR_LEVEL, "policy: records unavailable 0x%08x\n", (unsigned)status);
    PdComplete(p, PD_ECONNREFUSED);
    return;
  }
  p->request.request.recordsSize = (uint32_t)bytes;
  KeAcquireSpinLock(&gLock, &irql);
  InsertTailList(&gPending, &p->link);
  /* The expiry thread is woken only when this deadline comes before the one it sleeps until
   * (a later one is found when it wakes then): not once per connection. */
  wake = gArmed == 0 || p->deadline < gArmed;
  KeReleaseSpinLock(&gLock, irql);
  if (wake) KeSetEvent(&gWake, IO_NO_INCREMENT, FALSE);
  PdDeliver();
  classifyOut->actionType = FWP_ACTION_BLOCK; /* pended: the decision comes with completion */
  classifyOut->rights &= ~FWPS_RIGHT_ACTION_WRITE;
  classifyOut->flags |= FWPS_CLASSIFY_OUT_FLAG_ABSORB;
  return;

release:
  FwpsReleaseClassifyHandle0(classifyHandle);
block:
  if (p) ExFreePoolWithTag(p, PD_TAG);
  if (ctx) ExFreePoolWithTag(ctx, PD_TAG);
  PdBlock(classifyOut, 0);
}

/* The redirect rule: rewrite the destination; a loopback target needs its claimant's PID. */
static void PdRedirect(const void* classifyContext, const FWPS_FILTER3* filter, const POLICY_RULE* rule,
                       UINT32 ruleIndex, FWPS_CLASSIFY_OUT0* classifyOut) {
  FWPS_CONNECT_REQUEST0* request = NULL;
  VP_CONTEXT* ctx = NULL;
  UINT64 classifyHandle = 0;
  DWORD pid = 0;
  KIRQL irql;
  int i;
  NTSTATUS status;
  BOOLEAN local = PdIsLoopback(&rule->redirect);
  if (local) {
    KeAcquireSpinLock(&gLock, &irql);
    for (i = 0; i < PD_MAX_CLAIMS; ++i)
      if (gClaims[i].pid != 0 && PdSameEndpoint(&gClaims[i].endpoint, &rule->redirect)) pid = gClaims[i].pid;
    KeReleaseSpinLock(&gLock, irql);
    if (pid == 0) {
      DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_WARNING_LEVEL,
                 "policy: rule %u (line %u): no process claimed the redirect target: blocking\n",
                 (unsigned)ruleIndex + 1, (unsigned)rule->line);
      PdBlock(classifyOut, 0);
      return;
    }
  }
  status = FwpsAcquireClassifyHandle0((void*)classifyContext, 0, &classifyHandle);
  if (!NT_SUCCESS(status)) {
    PdBlock(classifyOut, 0);
    return;
  }
  status = FwpsAcquireWritableLayerDataPointer0(classifyHandle, filter->filterId, 0, (PVOID*)&request, classifyOut);
  if (!NT_SUCCESS(status)) {
    FwpsReleaseClassifyHandle0(classifyHandle);
    PdBlock(classifyOut, 0);
    return;
  }
  ctx = (VP_CONTEXT*)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(VP_CONTEXT), PD_TAG);
  if (ctx != NULL) {
    /* The context (SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT): the rule and the original
     * destination. */
    ctx->id = ruleIndex + 1;
    PdEndpointFromSockaddr(&request->remoteAddressAndPort, &ctx->originalDestination);
  }
  if (ctx == NULL || !PdSetDestination(&request->remoteAddressAndPort, &rule->redirect)) {
    if (ctx) ExFreePoolWithTag(ctx, PD_TAG);
    FwpsApplyModifiedLayerData0(classifyHandle, request, 0);
    FwpsReleaseClassifyHandle0(classifyHandle);
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_WARNING_LEVEL,
               "policy: rule %u (line %u): cannot redirect this connection (family): blocking\n",
               (unsigned)ruleIndex + 1, (unsigned)rule->line);
    PdBlock(classifyOut, 0);
    return;
  }
  if (local) {
    request->localRedirectTargetPID = pid;
    request->localRedirectHandle = gRedirectHandle;
  }
  request->localRedirectContext = ctx;
  request->localRedirectContextSize = sizeof(VP_CONTEXT);
  FwpsApplyModifiedLayerData0(classifyHandle, request, 0);
  FwpsReleaseClassifyHandle0(classifyHandle);
  classifyOut->actionType = FWP_ACTION_PERMIT;
}

static void NTAPI PdClassify(const FWPS_INCOMING_VALUES0* inFixedValues,
                             const FWPS_INCOMING_METADATA_VALUES0* inMetaValues, void* layerData,
                             const void* classifyContext, const FWPS_FILTER3* filter,
                             UINT64 flowContext, FWPS_CLASSIFY_OUT0* classifyOut) {
  FWPS_CONNECTION_REDIRECT_STATE state;
  POLICY_RULE rule;
  WCHAR app[POLICY_MAX_APP];
  UINT32 generation = (UINT32)(filter->context >> 32);
  UINT32 index = (UINT32)(filter->context & 0xFFFFFFFFu) - 1;
  const PD_RULESET* set = NULL;
  const WCHAR* appId;
  UINT8 protocol;
  KIRQL irql;
  UNREFERENCED_PARAMETER(layerData);
  UNREFERENCED_PARAMETER(flowContext);

  if ((classifyOut->rights & FWPS_RIGHT_ACTION_WRITE) == 0) return; /* someone decided hard */

  /* Our own redirects (the proxy's outbound connection carries our records): never again. */
  state = FwpsQueryConnectionRedirectState0(inMetaValues->redirectRecords, gRedirectHandle, NULL);
  if (state == FWPS_CONNECTION_REDIRECTED_BY_SELF || state == FWPS_CONNECTION_PREVIOUSLY_REDIRECTED_BY_SELF) {
    classifyOut->actionType = FWP_ACTION_PERMIT;
    return;
  }
  KeAcquireSpinLock(&gLock, &irql);
  if (gProxyPid != 0 && FWPS_IS_METADATA_FIELD_PRESENT(inMetaValues, FWPS_METADATA_FIELD_PROCESS_ID) &&
      inMetaValues->processId == gProxyPid) {
    KeReleaseSpinLock(&gLock, irql);
    classifyOut->actionType = FWP_ACTION_PERMIT; /* the proxy's own connects (to its upstreams) */
    return;
  }
  if (gCurrent.generation == generation) set = &gCurrent;
  else if (gPrevious.generation == generation) set = &gPrevious;
  if (set != NULL && set->rules != NULL && index < set->count) {
    rule = set->rules[index];
    RtlCopyMemory(app, set->apps[index], sizeof(app));
  } else {
    set = NULL;
  }
  KeReleaseSpinLock(&gLock, irql);
  if (set == NULL) { /* a filter of a rule set that is gone: fail closed */
    PdBlock(classifyOut, 0);
    return;
  }
  if (rule.match & POLICY_MATCH_APP) {
    appId = PdAppId(inFixedValues);
    if (appId == NULL || !PdGlobMatch(app, appId)) {
      classifyOut->actionType = FWP_ACTION_CONTINUE; /* the next rule decides */
      return;
    }
  }
  protocol = inFixedValues->incomingValue[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_IP_PROTOCOL].value.uint8;
  switch (rule.action) {
    case POLICY_ACTION_PERMIT:
      classifyOut->actionType = FWP_ACTION_PERMIT;
      return;
    case POLICY_ACTION_BLOCK:
      PdBlock(classifyOut, rule.blockErrno);
      return;
    case POLICY_ACTION_REDIRECT:
      PdRedirect(classifyContext, filter, &rule, index, classifyOut);
      return;
    case POLICY_ACTION_PROXY:
      if (protocol != IPPROTO_TCP) {
        if (rule.upstream.kind == POLICY_UPSTREAM_DIRECT) {
          classifyOut->actionType = FWP_ACTION_PERMIT;
        } else {
          PdBlock(classifyOut, PD_ENETUNREACH); /* UDP is not relayed through an upstream */
        }
        return;
      }
      PdProxy(inMetaValues, classifyContext, filter, &rule, index, classifyOut);
      return;
    default:
      PdBlock(classifyOut, 0);
  }
}

static NTSTATUS NTAPI PdNotify(FWPS_CALLOUT_NOTIFY_TYPE notifyType, const GUID* filterKey, FWPS_FILTER3* filter) {
  UNREFERENCED_PARAMETER(notifyType);
  UNREFERENCED_PARAMETER(filterKey);
  UNREFERENCED_PARAMETER(filter);
  return STATUS_SUCCESS;
}

/* ---- rules: validation and filters ---------------------------------------------------------- */

static BOOLEAN PdTerminated(const char* s, SIZE_T cap) {
  SIZE_T i;
  for (i = 0; i < cap; ++i)
    if (s[i] == 0) return TRUE;
  return FALSE;
}

static BOOLEAN PdValidRule(const POLICY_RULE* r) {
  if (r->match & ~(UINT32)(POLICY_MATCH_APP | POLICY_MATCH_UID | POLICY_MATCH_REMOTE | POLICY_MATCH_PORT |
                           POLICY_MATCH_PROTOCOL))
    return FALSE;
  if (r->action < POLICY_ACTION_PERMIT || r->action > POLICY_ACTION_PROXY) return FALSE;
  if ((r->match & POLICY_MATCH_REMOTE) &&
      !((r->remoteFamily == 4 && r->remotePrefix <= 32) || (r->remoteFamily == 6 && r->remotePrefix <= 128)))
    return FALSE;
  if ((r->match & POLICY_MATCH_PORT) && (r->portLow == 0 || r->portLow > r->portHigh)) return FALSE;
  if ((r->match & POLICY_MATCH_PROTOCOL) && r->protocol != IPPROTO_TCP && r->protocol != IPPROTO_UDP) return FALSE;
  if (!PdTerminated(r->app, sizeof(r->app)) || ((r->match & POLICY_MATCH_APP) && r->app[0] == 0)) return FALSE;
  if (r->action == POLICY_ACTION_BLOCK && (r->blockErrno < 0 || r->blockErrno >= 4096)) return FALSE;
  if (r->action == POLICY_ACTION_REDIRECT &&
      ((r->redirect.family != 4 && r->redirect.family != 6) || r->redirect.port == 0))
    return FALSE;
  if (r->action == POLICY_ACTION_PROXY) {
    const POLICY_UPSTREAM* u = &r->upstream;
    if (u->kind < POLICY_UPSTREAM_DIRECT || u->kind > POLICY_UPSTREAM_HTTP) return FALSE;
    if (!PdTerminated(u->user, sizeof(u->user)) || !PdTerminated(u->password, sizeof(u->password))) return FALSE;
    if (u->kind != POLICY_UPSTREAM_DIRECT &&
        ((u->server.family != 4 && u->server.family != 6) || u->server.port == 0))
      return FALSE;
  }
  return TRUE;
}

/* The literal part of an app glob that a filter condition can test: EQUAL for a literal, PREFIX
 * for a literal followed by one final '*'; 0 when the glob needs the callout alone. */
static FWP_MATCH_TYPE PdAppMatch(const WCHAR* glob, SIZE_T* literal) {
  SIZE_T n = 0;
  while (glob[n] && glob[n] != L'*' && glob[n] != L'?') ++n;
  *literal = n;
  if (glob[n] == 0) return FWP_MATCH_EQUAL;
  if (glob[n] == L'*' && glob[n + 1] == 0 && n > 0) return FWP_MATCH_PREFIX;
  return FWP_MATCH_TYPE_MAX;
}

/* Adds the filter(s) of rule `index`: V4 and/or V6 by its remote. */
static NTSTATUS PdAddRuleFilters(PD_RULESET* set, UINT32 index) {
  const POLICY_RULE* r = &set->rules[index];
  FWPM_FILTER0 filter;
  FWPM_FILTER_CONDITION0 cond[5];
  FWP_V4_ADDR_AND_MASK v4;
  FWP_V6_ADDR_AND_MASK v6;
  FWP_RANGE0 range;
  FWP_BYTE_BLOB blob;
  WCHAR literal[POLICY_MAX_APP];
  UINT64 weight = (UINT64)(POLICY_MAX_RULES - index);
  NTSTATUS status;
  int layer;
  for (layer = 0; layer < 2; ++layer) {
    UINT32 n = 0;
    BOOLEAN v6layer = layer == 1;
    if ((r->match & POLICY_MATCH_REMOTE) && r->remoteFamily == 6 && !v6layer) continue;
    RtlZeroMemory(cond, sizeof(cond));
    if (r->match & POLICY_MATCH_APP) {
      SIZE_T len;
      FWP_MATCH_TYPE m = PdAppMatch(set->apps[index], &len);
      if (m != FWP_MATCH_TYPE_MAX) {
        RtlCopyMemory(literal, set->apps[index], len * sizeof(WCHAR));
        literal[len] = 0;
        blob.size = (UINT32)((len + 1) * sizeof(WCHAR));
        blob.data = (UINT8*)literal;
        cond[n].fieldKey = FWPM_CONDITION_ALE_APP_ID;
        cond[n].matchType = m;
        cond[n].conditionValue.type = FWP_BYTE_BLOB_TYPE;
        cond[n].conditionValue.byteBlob = &blob;
        ++n;
      }
    }
    if (r->match & POLICY_MATCH_UID) {
      cond[n].fieldKey = FWPM_CONDITION_ALE_USER_ID;
      cond[n].matchType = FWP_MATCH_EQUAL;
      cond[n].conditionValue.type = FWP_UINT32;
      cond[n].conditionValue.uint32 = r->uid;
      ++n;
    }
    if (r->match & POLICY_MATCH_REMOTE) {
      cond[n].fieldKey = FWPM_CONDITION_IP_REMOTE_ADDRESS;
      cond[n].matchType = FWP_MATCH_EQUAL;
      if (!v6layer) {
        v4.addr = ((UINT32)r->remote[0] << 24) | ((UINT32)r->remote[1] << 16) | ((UINT32)r->remote[2] << 8) |
                  r->remote[3];
        v4.mask = r->remotePrefix == 0 ? 0 : 0xFFFFFFFFu << (32 - r->remotePrefix);
        cond[n].conditionValue.type = FWP_V4_ADDR_MASK;
        cond[n].conditionValue.v4AddrMask = &v4;
      } else {
        RtlZeroMemory(&v6, sizeof(v6));
        if (r->remoteFamily == 4) { /* the v4-mapped form, ::ffff:a.b.c.d/(96 + prefix) */
          v6.addr[10] = 0xff;
          v6.addr[11] = 0xff;
          RtlCopyMemory(&v6.addr[12], r->remote, 4);
          v6.prefixLength = (UINT8)(96 + r->remotePrefix);
        } else {
          RtlCopyMemory(v6.addr, r->remote, 16);
          v6.prefixLength = r->remotePrefix;
        }
        cond[n].conditionValue.type = FWP_V6_ADDR_MASK;
        cond[n].conditionValue.v6AddrMask = &v6;
      }
      ++n;
    }
    if (r->match & POLICY_MATCH_PORT) {
      cond[n].fieldKey = FWPM_CONDITION_IP_REMOTE_PORT;
      if (r->portLow == r->portHigh) {
        cond[n].matchType = FWP_MATCH_EQUAL;
        cond[n].conditionValue.type = FWP_UINT16;
        cond[n].conditionValue.uint16 = r->portLow;
      } else {
        RtlZeroMemory(&range, sizeof(range));
        range.valueLow.type = FWP_UINT16;
        range.valueLow.uint16 = r->portLow;
        range.valueHigh.type = FWP_UINT16;
        range.valueHigh.uint16 = r->portHigh;
        cond[n].matchType = FWP_MATCH_RANGE;
        cond[n].conditionValue.type = FWP_RANGE_TYPE;
        cond[n].conditionValue.rangeValue = &range;
      }
      ++n;
    }
    if (r->match & POLICY_MATCH_PROTOCOL) {
      cond[n].fieldKey = FWPM_CONDITION_IP_PROTOCOL;
      cond[n].matchType = FWP_MATCH_EQUAL;
      cond[n].conditionValue.type = FWP_UINT8;
      cond[n].conditionValue.uint8 = r->protocol;
      ++n;
    }
    RtlZeroMemory(&filter, sizeof(filter));
    filter.displayData.name = (wchar_t*)L"openwfp policy rule";
    filter.providerKey = (GUID*)&PD_PROVIDER_KEY;
    filter.layerKey = v6layer ? FWPM_LAYER_ALE_CONNECT_REDIRECT_V6 : FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
    filter.subLayerKey = PD_SUBLAYER_KEY;
    filter.weight.type = FWP_UINT64;
    filter.weight.uint64 = &weight;
    filter.numFilterConditions = n;
    filter.filterCondition = n ? cond : NULL;
    filter.action.type = FWP_ACTION_CALLOUT_UNKNOWN; /* the app glob may CONTINUE */
    filter.action.calloutKey = v6layer ? PD_CALLOUT_V6_KEY : PD_CALLOUT_V4_KEY;
    filter.rawContext = ((UINT64)set->generation << 32) | (UINT64)(index + 1);
    status = FwpmFilterAdd0(gEngine, &filter, NULL, &set->filterIds[set->filterCount]);
    if (!NT_SUCCESS(status)) return status;
    ++set->filterCount;
  }
  return STATUS_SUCCESS;
}

/* IOCTL_POLICY_LOAD (rules != NULL) / CLEAR: the new filters replace the old in one transaction. */
static NTSTATUS PdLoad(const POLICY_RULES* head, ULONG inLen) {
  PD_RULESET next, old;
  UINT32 i;
  NTSTATUS status;
  KIRQL irql;
  RtlZeroMemory(&next, sizeof(next));
  if (head != NULL) {
    if (inLen < sizeof(POLICY_RULES) || head->version != POLICY_VERSION || head->count > POLICY_MAX_RULES ||
        inLen != sizeof(POLICY_RULES) + (SIZE_T)head->count * sizeof(POLICY_RULE))
      return STATUS_INVALID_PARAMETER;
    next.count = head->count;
    if (next.count > 0) {
      next.rules = (POLICY_RULE*)ExAllocatePool2(POOL_FLAG_NON_PAGED, next.count * sizeof(POLICY_RULE), PD_TAG);
      next.apps = (WCHAR(*)[POLICY_MAX_APP])ExAllocatePool2(POOL_FLAG_NON_PAGED,
                                                            next.count * sizeof(*next.apps), PD_TAG);
      next.filterIds = (UINT64*)ExAllocatePool2(POOL_FLAG_NON_PAGED, 2 * next.count * sizeof(UINT64), PD_TAG);
      if (next.rules == NULL || next.apps == NULL || next.filterIds == NULL) {
        PdFreeRuleset(&next);
        return STATUS_INSUFFICIENT_RESOURCES;
      }
      RtlCopyMemory(next.rules, (const UINT8*)head + sizeof(POLICY_RULES), next.count * sizeof(POLICY_RULE));
    }
    for (i = 0; i < next.count; ++i) {
      if (!PdValidRule(&next.rules[i]) || !PdDecodeUtf8(next.rules[i].app, next.apps[i], POLICY_MAX_APP)) {
        DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_ERROR_LEVEL, "policy: LOAD refused: rule %u is invalid\n",
                   (unsigned)i + 1);
        PdFreeRuleset(&next);
        return STATUS_INVALID_PARAMETER;
      }
    }
  }
  KeWaitForSingleObject(&gLoadLock, Executive, KernelMode, FALSE, NULL);
  next.generation = gGeneration + 1;
  status = FwpmTransactionBegin0(gEngine, 0);
  if (!NT_SUCCESS(status)) goto out;
  for (i = 0; i < gCurrent.filterCount; ++i) {
    status = FwpmFilterDeleteById0(gEngine, gCurrent.filterIds[i]);
    if (!NT_SUCCESS(status)) goto abort;
  }
  for (i = 0; i < next.count; ++i) {
    status = PdAddRuleFilters(&next, i);
    if (!NT_SUCCESS(status)) goto abort;
  }
  /* Publish the rules before the filters that name them (and put the old ones back if the
   * commit fails). */
  KeAcquireSpinLock(&gLock, &irql);
  old = gPrevious;
  gPrevious = gCurrent;
  gCurrent = next;
  gGeneration = next.generation;
  KeReleaseSpinLock(&gLock, irql);
  status = FwpmTransactionCommit0(gEngine);
  KeAcquireSpinLock(&gLock, &irql);
  if (NT_SUCCESS(status)) {
    RtlZeroMemory(&next, sizeof(next)); /* now gCurrent */
  } else {
    gCurrent = gPrevious;
    gPrevious = old;
    RtlZeroMemory(&old, sizeof(old)); /* back in gPrevious; next is freed below */
  }
  KeReleaseSpinLock(&gLock, irql);
  PdFreeRuleset(&old);
  if (NT_SUCCESS(status))
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_TRACE_LEVEL, "policy: %u rules loaded as %u filters\n",
               (unsigned)gCurrent.count, (unsigned)gCurrent.filterCount);
  goto out;
abort:
  FwpmTransactionAbort0(gEngine);
out:
  KeSetEvent(&gLoadLock, IO_NO_INCREMENT, FALSE);
  PdFreeRuleset(&next);
  return status;
}

/* ---- device I/O --------------------------------------------------------------------------- */

static NTSTATUS PdCompleteIrp(PIRP irp, NTSTATUS status, ULONG_PTR information) {
  irp->IoStatus.Status = status;
  irp->IoStatus.Information = information;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  return status;
}

static NTSTATUS NTAPI PdDispatchCreate(PDEVICE_OBJECT device, PIRP irp) {
  UNREFERENCED_PARAMETER(device);
  return PdCompleteIrp(irp, STATUS_SUCCESS, 0);
}

/* A handle closed: its NEXT requests fail; its claims end; if the proxy registered with it, the
 * connections pended for the proxy are BLOCKed. */
static NTSTATUS NTAPI PdDispatchCleanup(PDEVICE_OBJECT device, PIRP irp) {
  PFILE_OBJECT file = IoGetCurrentIrpStackLocation(irp)->FileObject;
  LIST_ENTRY irps, pending;
  PLIST_ENTRY e, next;
  KIRQL irql;
  int i;
  UNREFERENCED_PARAMETER(device);
  InitializeListHead(&irps);
  InitializeListHead(&pending);
  KeAcquireSpinLock(&gLock, &irql);
  file->FsContext2 = &gCleanedUp;
  for (e = gWaitingIrps.Flink; e != &gWaitingIrps; e = next) {
    PIRP waiting = CONTAINING_RECORD(e, IRP, Tail.Overlay.ListEntry);
    next = e->Flink;
    if (IoGetCurrentIrpStackLocation(waiting)->FileObject == file && PdClaimIrpLocked(waiting))
      InsertTailList(&irps, e);
  }
  for (i = 0; i < PD_MAX_CLAIMS; ++i)
    if (gClaims[i].file == file) RtlZeroMemory(&gClaims[i], sizeof(gClaims[i]));
  if (gProxyPid != 0 && gProxyFile == file) {
    gProxyPid = 0;
    gProxyFile = NULL;
    while (!IsListEmpty(&gPending)) InsertTailList(&pending, RemoveHeadList(&gPending));
  }
  KeReleaseSpinLock(&gLock, irql);
  while (!IsListEmpty(&irps)) {
    PIRP waiting = CONTAINING_RECORD(RemoveHeadList(&irps), IRP, Tail.Overlay.ListEntry);
    PdCompleteIrp(waiting, STATUS_CANCELLED, 0);
  }
  while (!IsListEmpty(&pending))
    PdComplete(CONTAINING_RECORD(RemoveHeadList(&pending), PD_PENDING, link), PD_ECONNREFUSED);
  return PdCompleteIrp(irp, STATUS_SUCCESS, 0);
}

static NTSTATUS PdRegister(PIO_STACK_LOCATION stack, const VP_REGISTER* reg, ULONG inLen) {
  const DWORD caller = (DWORD)(ULONG_PTR)PsGetCurrentProcessId();
  DWORD live;
  ULONG timeoutMs;
  KIRQL irql;
  if (inLen < 2 * sizeof(UINT16) || reg->listenPortV4 == 0) return STATUS_INVALID_PARAMETER;
  timeoutMs = inLen >= 8 && reg->pendTimeoutMs != 0 ? reg->pendTimeoutMs : VP_DEFAULT_PEND_TIMEOUT_MS;
  KeAcquireSpinLock(&gLock, &irql);
  live = gProxyPid;
  if (live == 0) {
    gProxyPid = caller;
    gProxyFile = stack->FileObject;
    gProxyPortV4 = reg->listenPortV4;
    gProxyPortV6 = reg->listenPortV6;
    gPendTimeout = (ULONGLONG)timeoutMs * 10000;
    gSaidNoProxy = FALSE;
  }
  KeReleaseSpinLock(&gLock, irql);
  if (live != 0) {
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_WARNING_LEVEL,
               "policy: REGISTER from pid %u refused: pid %u is the registered proxy\n", (unsigned)caller,
               (unsigned)live);
    return STATUS_DEVICE_BUSY;
  }
  DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_TRACE_LEVEL, "policy: proxy pid %u registered, port %u\n",
             (unsigned)caller, (unsigned)reg->listenPortV4);
  return STATUS_SUCCESS;
}

static NTSTATUS PdClaim(PIO_STACK_LOCATION stack, const VP_ENDPOINT* ep, ULONG inLen) {
  const DWORD caller = (DWORD)(ULONG_PTR)PsGetCurrentProcessId();
  NTSTATUS status = STATUS_INSUFFICIENT_RESOURCES;
  KIRQL irql;
  int i;
  if (inLen < sizeof(VP_ENDPOINT) || (ep->family != 4 && ep->family != 6) || ep->port == 0)
    return STATUS_INVALID_PARAMETER;
  KeAcquireSpinLock(&gLock, &irql);
  for (i = 0; i < PD_MAX_CLAIMS; ++i) {
    if (gClaims[i].pid != 0 && PdSameEndpoint(&gClaims[i].endpoint, ep)) {
      status = STATUS_DEVICE_BUSY; /* one claimant per endpoint */
      break;
    }
  }
  if (status != STATUS_DEVICE_BUSY) {
    for (i = 0; i < PD_MAX_CLAIMS; ++i) {
      if (gClaims[i].pid == 0) {
        gClaims[i].endpoint = *ep;
        gClaims[i].pid = caller;
        gClaims[i].file = stack->FileObject;
        status = STATUS_SUCCESS;
        break;
      }
    }
  }
  KeReleaseSpinLock(&gLock, irql);
  return status;
}

static NTSTATUS NTAPI PdDispatchDeviceControl(PDEVICE_OBJECT device, PIRP irp) {
  PIO_STACK_LOCATION stack = IoGetCurrentIrpStackLocation(irp);
  ULONG code = stack->Parameters.DeviceIoControl.IoControlCode;
  ULONG inLen = stack->Parameters.DeviceIoControl.InputBufferLength;
  ULONG outLen = stack->Parameters.DeviceIoControl.OutputBufferLength;
  void* buffer = irp->AssociatedIrp.SystemBuffer;
  KIRQL irql;
  UNREFERENCED_PARAMETER(device);

  if (code == IOCTL_POLICY_LOAD) return PdCompleteIrp(irp, buffer ? PdLoad((const POLICY_RULES*)buffer, inLen) : STATUS_INVALID_PARAMETER, 0);
  if (code == IOCTL_POLICY_CLEAR) return PdCompleteIrp(irp, PdLoad(NULL, 0), 0);
  if (code == IOCTL_POLICY_CLAIM) return PdCompleteIrp(irp, PdClaim(stack, (const VP_ENDPOINT*)buffer, inLen), 0);
  if (code == IOCTL_VP_REGISTER) return PdCompleteIrp(irp, PdRegister(stack, (const VP_REGISTER*)buffer, inLen), 0);
  if (code == IOCTL_VP_OUTCOME || code == IOCTL_VP_OUTCOME_NEXT) {
    const VP_OUTCOME* outcome = (const VP_OUTCOME*)buffer;
    PD_PENDING* found = NULL;
    PLIST_ENTRY e;
    if (inLen < sizeof(VP_OUTCOME)) return PdCompleteIrp(irp, STATUS_INVALID_PARAMETER, 0);
    /* OUTCOME_NEXT: checked before the outcome is applied, so a failure means nothing was. */
    if (code == IOCTL_VP_OUTCOME_NEXT && outLen < sizeof(POLICY_PROXY_REQUEST)) return PdCompleteIrp(irp, STATUS_BUFFER_TOO_SMALL, 0);
    KeAcquireSpinLock(&gLock, &irql);
    for (e = gPending.Flink; e != &gPending; e = e->Flink) {
      PD_PENDING* p = CONTAINING_RECORD(e, PD_PENDING, link);
      if (p->request.request.id == outcome->id && p->delivered) {
        RemoveEntryList(&p->link);
        found = p;
        break;
      }
    }
    KeReleaseSpinLock(&gLock, irql);
    if (found == NULL) return PdCompleteIrp(irp, STATUS_NOT_FOUND, 0);
    /* The upstream's errno, or ECONNREFUSED for a value out of range. */
    PdComplete(found, outcome->error == 0 ? 0 : (outcome->error > 0 && outcome->error < 4096 ? outcome->error : PD_ECONNREFUSED));
    if (code == IOCTL_VP_OUTCOME) return PdCompleteIrp(irp, STATUS_SUCCESS, 0);
    /* OUTCOME_NEXT: now waits as a NEXT (its buffer becomes the request's). */
  }
  if (code == IOCTL_VP_NEXT || code == IOCTL_VP_OUTCOME_NEXT) {
    if (outLen < sizeof(POLICY_PROXY_REQUEST)) return PdCompleteIrp(irp, STATUS_BUFFER_TOO_SMALL, 0);
    KeAcquireSpinLock(&gLock, &irql);
    if (stack->FileObject->FsContext2 == &gCleanedUp) {
      KeReleaseSpinLock(&gLock, irql);
      return PdCompleteIrp(irp, STATUS_CANCELLED, 0);
    }
    IoMarkIrpPending(irp);
    IoSetCancelRoutine(irp, PdCancelNext);
    if (irp->Cancel && IoSetCancelRoutine(irp, NULL) != NULL) {
      KeReleaseSpinLock(&gLock, irql);
      PdCompleteIrp(irp, STATUS_CANCELLED, 0);
      return STATUS_PENDING;
    }
    InsertTailList(&gWaitingIrps, &irp->Tail.Overlay.ListEntry);
    KeReleaseSpinLock(&gLock, irql);
    PdDeliver();
    return STATUS_PENDING;
  }
  return PdCompleteIrp(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
}

/* ---- deadlines ---------------------------------------------------------------------------- */

static void NTAPI PdExpiryThread(PVOID context) {
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
      PD_PENDING* p = CONTAINING_RECORD(e, PD_PENDING, link);
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
      PD_PENDING* p = CONTAINING_RECORD(RemoveHeadList(&expired), PD_PENDING, link);
      DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_WARNING_LEVEL, "policy: id=%llu pid=%u not answered in time\n",
                 (unsigned long long)p->request.request.id, p->request.request.appPid);
      PdComplete(p, PD_ETIMEDOUT);
    }
    if (stopping) break;
    wait.QuadPart = earliest == 0 ? 0 : -(LONGLONG)(earliest - now);
    KeWaitForSingleObject(&gWake, Executive, KernelMode, FALSE, earliest == 0 ? NULL : &wait);
  }
  PsTerminateSystemThread(STATUS_SUCCESS);
}

static NTSTATUS PdStartExpiryThread(void) {
  OBJECT_ATTRIBUTES attributes;
  HANDLE thread;
  NTSTATUS status;
  InitializeObjectAttributes(&attributes, NULL, OBJ_KERNEL_HANDLE, NULL, NULL);
  status = PsCreateSystemThread(&thread, THREAD_ALL_ACCESS, &attributes, NULL, NULL, PdExpiryThread, NULL);
  if (!NT_SUCCESS(status)) return status;
  status = ObReferenceObjectByHandle(thread, THREAD_ALL_ACCESS, *PsThreadType, KernelMode, &gExpiryThread, NULL);
  ZwClose(thread);
  return status;
}

static void PdStopExpiryThread(void) {
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

static NTSTATUS PdAddObjects(void) {
  FWPM_PROVIDER0 provider;
  FWPM_SUBLAYER0 sublayer;
  FWPM_CALLOUT0 callout;
  NTSTATUS status;
  int v6;
  status = FwpmEngineOpen0(NULL, RPC_C_AUTHN_WINNT, NULL, NULL, &gEngine);
  if (!NT_SUCCESS(status)) return status;
  status = FwpmTransactionBegin0(gEngine, 0);
  if (!NT_SUCCESS(status)) return status;
  RtlZeroMemory(&provider, sizeof(provider));
  provider.providerKey = PD_PROVIDER_KEY;
  provider.displayData.name = (wchar_t*)L"openwfp policy";
  status = FwpmProviderAdd0(gEngine, &provider, NULL);
  if (!NT_SUCCESS(status)) goto abort;
  RtlZeroMemory(&sublayer, sizeof(sublayer));
  sublayer.subLayerKey = PD_SUBLAYER_KEY;
  sublayer.displayData.name = (wchar_t*)L"openwfp policy rules";
  sublayer.providerKey = (GUID*)&PD_PROVIDER_KEY;
  sublayer.weight = 0x9000;
  status = FwpmSubLayerAdd0(gEngine, &sublayer, NULL);
  if (!NT_SUCCESS(status)) goto abort;
  for (v6 = 0; v6 < 2; ++v6) {
    RtlZeroMemory(&callout, sizeof(callout));
    callout.calloutKey = v6 ? PD_CALLOUT_V6_KEY : PD_CALLOUT_V4_KEY;
    callout.displayData.name = (wchar_t*)L"openwfp policy connect redirect";
    callout.providerKey = (GUID*)&PD_PROVIDER_KEY;
    callout.applicableLayer = v6 ? FWPM_LAYER_ALE_CONNECT_REDIRECT_V6 : FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
    status = FwpmCalloutAdd0(gEngine, &callout, NULL, NULL);
    if (!NT_SUCCESS(status)) goto abort;
  }
  return FwpmTransactionCommit0(gEngine);
abort:
  FwpmTransactionAbort0(gEngine);
  return status;
}

static void NTAPI PdUnload(PDRIVER_OBJECT driverObject) {
  UNICODE_STRING link;
  LIST_ENTRY irps, pending;
  KIRQL irql;
  UNREFERENCED_PARAMETER(driverObject);
  PdStopExpiryThread();
  InitializeListHead(&irps);
  InitializeListHead(&pending);
  KeAcquireSpinLock(&gLock, &irql);
  while (!IsListEmpty(&gWaitingIrps)) {
    PIRP waiting = CONTAINING_RECORD(gWaitingIrps.Flink, IRP, Tail.Overlay.ListEntry);
    if (PdClaimIrpLocked(waiting)) InsertTailList(&irps, &waiting->Tail.Overlay.ListEntry);
  }
  while (!IsListEmpty(&gPending)) InsertTailList(&pending, RemoveHeadList(&gPending));
  gProxyPid = 0;
  gProxyFile = NULL;
  KeReleaseSpinLock(&gLock, irql);
  while (!IsListEmpty(&irps))
    PdCompleteIrp(CONTAINING_RECORD(RemoveHeadList(&irps), IRP, Tail.Overlay.ListEntry), STATUS_CANCELLED, 0);
  while (!IsListEmpty(&pending))
    PdComplete(CONTAINING_RECORD(RemoveHeadList(&pending), PD_PENDING, link), PD_ECONNREFUSED);
  if (gEngine) FwpmEngineClose0(gEngine); /* its filters, callout objects, sublayer, provider */
  gEngine = NULL;
  FwpsCalloutUnregisterById0(gCalloutIdV4);
  FwpsCalloutUnregisterById0(gCalloutIdV6);
  if (gRedirectHandle) FwpsRedirectHandleDestroy0(gRedirectHandle);
  gRedirectHandle = NULL;
  PdFreeRuleset(&gCurrent);
  PdFreeRuleset(&gPrevious);
  RtlInitUnicodeString(&link, POLICY_SYMLINK_NAME);
  IoDeleteSymbolicLink(&link);
  if (gDevice) IoDeleteDevice(gDevice);
  gDevice = NULL;
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
  KeInitializeEvent(&gLoadLock, SynchronizationEvent, TRUE);
  gPendTimeout = (ULONGLONG)VP_DEFAULT_PEND_TIMEOUT_MS * 10000;
  /* Nothing left from an earlier load of the same image (tests load it again). */
  gStopping = FALSE;
  gArmed = 0;
  gSaidNoProxy = FALSE;
  gExpiryThread = NULL;
  gProxyPid = 0;
  gProxyFile = NULL;
  RtlZeroMemory(gClaims, sizeof(gClaims));
  RtlZeroMemory(&gCurrent, sizeof(gCurrent));
  RtlZeroMemory(&gPrevious, sizeof(gPrevious));

  RtlInitUnicodeString(&name, POLICY_DEVICE_NAME);
  RtlInitUnicodeString(&sddl, PD_DEVICE_SDDL);
  status = IoCreateDeviceSecure(driverObject, 0, &name, FILE_DEVICE_NETWORK, FILE_DEVICE_SECURE_OPEN, FALSE, &sddl,
                                NULL, &gDevice);
  if (!NT_SUCCESS(status)) return status;
  RtlInitUnicodeString(&link, POLICY_SYMLINK_NAME);
  status = IoCreateSymbolicLink(&link, &name);
  if (!NT_SUCCESS(status)) goto fail;
  driverObject->MajorFunction[IRP_MJ_CREATE] = PdDispatchCreate;
  driverObject->MajorFunction[IRP_MJ_CLOSE] = PdDispatchCreate;
  driverObject->MajorFunction[IRP_MJ_CLEANUP] = PdDispatchCleanup;
  driverObject->MajorFunction[IRP_MJ_DEVICE_CONTROL] = PdDispatchDeviceControl;
  driverObject->DriverUnload = PdUnload;

  status = FwpsRedirectHandleCreate0(&PD_PROVIDER_KEY, 0, &gRedirectHandle);
  if (!NT_SUCCESS(status)) goto fail;
  RtlZeroMemory(&callout, sizeof(callout));
  callout.classifyFn = PdClassify;
  callout.notifyFn = PdNotify;
  callout.calloutKey = PD_CALLOUT_V4_KEY;
  status = FwpsCalloutRegister3(gDevice, &callout, &gCalloutIdV4);
  if (!NT_SUCCESS(status)) goto fail;
  callout.calloutKey = PD_CALLOUT_V6_KEY;
  status = FwpsCalloutRegister3(gDevice, &callout, &gCalloutIdV6);
  if (!NT_SUCCESS(status)) goto fail;
  status = PdStartExpiryThread();
  if (!NT_SUCCESS(status)) goto fail;
  status = PdAddObjects();
  if (!NT_SUCCESS(status)) goto fail;
  DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_TRACE_LEVEL, "policy: loaded (no rules until IOCTL_POLICY_LOAD)\n");
  return STATUS_SUCCESS;
fail:
  PdUnload(driverObject);
  return status;
}
