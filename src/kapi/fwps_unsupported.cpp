// kapi/fwps_unsupported.cpp - the stream, packet-injection and net-buffer-list functions of
// fwpsk.h and ndis.h (SPEC S15.3). openwfp classifies at the ALE layers and has no packet path:
// each function fails as documented for an unusable call (STATUS_NOT_SUPPORTED /
// NDIS_STATUS_NOT_SUPPORTED, NULL, FWPS_PACKET_NOT_INJECTED; a void function does nothing) and
// the verifier reports one NotSupported violation that names it. Also the base filtering
// engine state (FwpmBfeStateGet0 / SubscribeChanges0 / UnsubscribeChanges0).
#include <fwpmk.h>
#include <fwpsk.h>

#include <mutex>
#include <set>
#include <string>

#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

namespace {

void notSupported(const char* function, const char* what = "packet injection and net buffer lists") {
  openwfp::Runtime::current().verifier().report(
      {openwfp::verifier::Code::NotSupported,
       std::string(function) + " is not supported by openwfp (" + what + " need a packet path; openwfp classifies at "
           "the ALE layers only)",
       openwfp::verifier::currentDriver(), "", 0});
}

NTSTATUS failStatus(const char* function) {
  notSupported(function);
  return STATUS_NOT_SUPPORTED;
}

std::mutex gBfeMu;
std::set<void*> gBfeSubscriptions;
int gBfeToken;

}  // namespace

#define OPENWFP_NOT_SUPPORTED(name) return failStatus(#name)
#define OPENWFP_NOT_SUPPORTED_VOID(name) notSupported(#name)

extern "C" {

NTSTATUS NTAPI FwpsInjectionHandleCreate0(ADDRESS_FAMILY, UINT32, HANDLE* injectionHandle) {
  if (injectionHandle != nullptr) *injectionHandle = nullptr;
  OPENWFP_NOT_SUPPORTED(FwpsInjectionHandleCreate0);
}
NTSTATUS NTAPI FwpsInjectionHandleDestroy0(HANDLE) { OPENWFP_NOT_SUPPORTED(FwpsInjectionHandleDestroy0); }
NTSTATUS NTAPI FwpsInjectTransportSendAsync0(HANDLE, HANDLE, UINT64, UINT32, FWPS_TRANSPORT_SEND_PARAMS0*,
                                             ADDRESS_FAMILY, COMPARTMENT_ID, NET_BUFFER_LIST*, FWPS_INJECT_COMPLETE0,
                                             HANDLE) {
  OPENWFP_NOT_SUPPORTED(FwpsInjectTransportSendAsync0);
}
NTSTATUS NTAPI FwpsInjectTransportSendAsync1(HANDLE, HANDLE, UINT64, UINT32, FWPS_TRANSPORT_SEND_PARAMS1*,
                                             ADDRESS_FAMILY, COMPARTMENT_ID, NET_BUFFER_LIST*, FWPS_INJECT_COMPLETE0,
                                             HANDLE) {
  OPENWFP_NOT_SUPPORTED(FwpsInjectTransportSendAsync1);
}
NTSTATUS NTAPI FwpsInjectTransportReceiveAsync0(HANDLE, HANDLE, PVOID, UINT32, ADDRESS_FAMILY, COMPARTMENT_ID, IF_INDEX,
                                                IF_INDEX, NET_BUFFER_LIST*, FWPS_INJECT_COMPLETE0, HANDLE) {
  OPENWFP_NOT_SUPPORTED(FwpsInjectTransportReceiveAsync0);
}
NTSTATUS NTAPI FwpsInjectNetworkSendAsync0(HANDLE, HANDLE, UINT32, COMPARTMENT_ID, NET_BUFFER_LIST*,
                                           FWPS_INJECT_COMPLETE0, HANDLE) {
  OPENWFP_NOT_SUPPORTED(FwpsInjectNetworkSendAsync0);
}
NTSTATUS NTAPI FwpsInjectNetworkReceiveAsync0(HANDLE, HANDLE, UINT32, COMPARTMENT_ID, IF_INDEX, IF_INDEX,
                                              NET_BUFFER_LIST*, FWPS_INJECT_COMPLETE0, HANDLE) {
  OPENWFP_NOT_SUPPORTED(FwpsInjectNetworkReceiveAsync0);
}
NTSTATUS NTAPI FwpsInjectForwardAsync0(HANDLE, HANDLE, UINT32, ADDRESS_FAMILY, COMPARTMENT_ID, IF_INDEX,
                                       NET_BUFFER_LIST*, FWPS_INJECT_COMPLETE0, HANDLE) {
  OPENWFP_NOT_SUPPORTED(FwpsInjectForwardAsync0);
}
NTSTATUS NTAPI FwpsInjectMacReceiveAsync0(HANDLE, HANDLE, UINT32, UINT16, IF_INDEX, NDIS_PORT_NUMBER, NET_BUFFER_LIST*,
                                          FWPS_INJECT_COMPLETE0, HANDLE) {
  OPENWFP_NOT_SUPPORTED(FwpsInjectMacReceiveAsync0);
}
NTSTATUS NTAPI FwpsInjectMacSendAsync0(HANDLE, HANDLE, UINT32, UINT16, IF_INDEX, NDIS_PORT_NUMBER, NET_BUFFER_LIST*,
                                       FWPS_INJECT_COMPLETE0, HANDLE) {
  OPENWFP_NOT_SUPPORTED(FwpsInjectMacSendAsync0);
}
NTSTATUS NTAPI FwpsInjectvSwitchEthernetIngressAsync0(HANDLE, HANDLE, UINT32, void*, NDIS_SWITCH_PORT_ID,
                                                      NDIS_SWITCH_NIC_INDEX, NET_BUFFER_LIST*, FWPS_INJECT_COMPLETE0,
                                                      HANDLE) {
  OPENWFP_NOT_SUPPORTED(FwpsInjectvSwitchEthernetIngressAsync0);
}
NTSTATUS NTAPI FwpsInjectvSwitchEthernetEgressAsync0(HANDLE, HANDLE, UINT32, void*, NDIS_SWITCH_PORT_ID,
                                                     NDIS_SWITCH_NIC_INDEX, NET_BUFFER_LIST*, FWPS_INJECT_COMPLETE0,
                                                     HANDLE) {
  OPENWFP_NOT_SUPPORTED(FwpsInjectvSwitchEthernetEgressAsync0);
}
FWPS_PACKET_INJECTION_STATE NTAPI FwpsQueryPacketInjectionState0(HANDLE, const NET_BUFFER_LIST*,
                                                                 HANDLE* injectionContext) {
  if (injectionContext != nullptr) *injectionContext = nullptr;
  notSupported("FwpsQueryPacketInjectionState0");
  return FWPS_PACKET_NOT_INJECTED;
}
NTSTATUS NTAPI FwpsConstructIpHeaderForTransportPacket0(NET_BUFFER_LIST*, ULONG, ADDRESS_FAMILY, const UCHAR*,
                                                        const UCHAR*, IPPROTO, UINT64, const WSACMSGHDR*, ULONG,
                                                        UINT32, PVOID, IF_INDEX, IF_INDEX) {
  OPENWFP_NOT_SUPPORTED(FwpsConstructIpHeaderForTransportPacket0);
}
NTSTATUS NTAPI FwpsAllocateNetBufferAndNetBufferList0(NDIS_HANDLE, USHORT, USHORT, MDL*, ULONG, SIZE_T,
                                                      NET_BUFFER_LIST** netBufferList) {
  if (netBufferList != nullptr) *netBufferList = nullptr;
  OPENWFP_NOT_SUPPORTED(FwpsAllocateNetBufferAndNetBufferList0);
}
void NTAPI FwpsFreeNetBufferList0(NET_BUFFER_LIST*) { OPENWFP_NOT_SUPPORTED_VOID(FwpsFreeNetBufferList0); }
NTSTATUS NTAPI FwpsAllocateCloneNetBufferList0(NET_BUFFER_LIST*, NDIS_HANDLE, NDIS_HANDLE, ULONG,
                                               NET_BUFFER_LIST** netBufferList) {
  if (netBufferList != nullptr) *netBufferList = nullptr;
  OPENWFP_NOT_SUPPORTED(FwpsAllocateCloneNetBufferList0);
}
void NTAPI FwpsFreeCloneNetBufferList0(NET_BUFFER_LIST*, ULONG) { OPENWFP_NOT_SUPPORTED_VOID(FwpsFreeCloneNetBufferList0); }
void NTAPI FwpsReferenceNetBufferList0(NET_BUFFER_LIST*, BOOLEAN) { OPENWFP_NOT_SUPPORTED_VOID(FwpsReferenceNetBufferList0); }
void NTAPI FwpsDereferenceNetBufferList0(NET_BUFFER_LIST*, BOOLEAN) {
  OPENWFP_NOT_SUPPORTED_VOID(FwpsDereferenceNetBufferList0);
}
NTSTATUS NTAPI FwpsReferencevSwitchPacketContext0(HANDLE) { OPENWFP_NOT_SUPPORTED(FwpsReferencevSwitchPacketContext0); }
NTSTATUS NTAPI FwpsDereferencevSwitchPacketContext0(HANDLE) { OPENWFP_NOT_SUPPORTED(FwpsDereferencevSwitchPacketContext0); }
NTSTATUS NTAPI FwpsStreamInjectAsync0(HANDLE, HANDLE, UINT32, UINT64, UINT32, UINT16, UINT32, NET_BUFFER_LIST*, SIZE_T,
                                      FWPS_INJECT_COMPLETE0, HANDLE) {
  OPENWFP_NOT_SUPPORTED(FwpsStreamInjectAsync0);
}
NTSTATUS NTAPI FwpsStreamContinue0(UINT64, UINT32, UINT16, UINT32) { OPENWFP_NOT_SUPPORTED(FwpsStreamContinue0); }
NTSTATUS NTAPI FwpsCloneStreamData0(FWPS_STREAM_DATA0*, NDIS_HANDLE, NDIS_HANDLE, ULONG,
                                    NET_BUFFER_LIST** netBufferListChain) {
  if (netBufferListChain != nullptr) *netBufferListChain = nullptr;
  OPENWFP_NOT_SUPPORTED(FwpsCloneStreamData0);
}
void NTAPI FwpsDiscardClonedStreamData0(NET_BUFFER_LIST*, UINT32, BOOLEAN) {
  OPENWFP_NOT_SUPPORTED_VOID(FwpsDiscardClonedStreamData0);
}
void NTAPI FwpsCopyStreamDataToBuffer0(const FWPS_STREAM_DATA0*, PVOID, SIZE_T, SIZE_T* bytesCopied) {
  if (bytesCopied != nullptr) *bytesCopied = 0;
  OPENWFP_NOT_SUPPORTED_VOID(FwpsCopyStreamDataToBuffer0);
}

// ---- NDIS --------------------------------------------------------------------------------------
NDIS_HANDLE NTAPI NdisAllocateNetBufferListPool(NDIS_HANDLE, PNET_BUFFER_LIST_POOL_PARAMETERS) {
  notSupported("NdisAllocateNetBufferListPool");
  return nullptr;
}
void NTAPI NdisFreeNetBufferListPool(NDIS_HANDLE) { OPENWFP_NOT_SUPPORTED_VOID(NdisFreeNetBufferListPool); }
NDIS_HANDLE NTAPI NdisAllocateNetBufferPool(NDIS_HANDLE, PNET_BUFFER_POOL_PARAMETERS) {
  notSupported("NdisAllocateNetBufferPool");
  return nullptr;
}
void NTAPI NdisFreeNetBufferPool(NDIS_HANDLE) { OPENWFP_NOT_SUPPORTED_VOID(NdisFreeNetBufferPool); }
PNET_BUFFER_LIST NTAPI NdisAllocateNetBufferList(NDIS_HANDLE, USHORT, USHORT) {
  notSupported("NdisAllocateNetBufferList");
  return nullptr;
}
void NTAPI NdisFreeNetBufferList(PNET_BUFFER_LIST) { OPENWFP_NOT_SUPPORTED_VOID(NdisFreeNetBufferList); }
PNDIS_GENERIC_OBJECT NTAPI NdisAllocateGenericObject(struct _DRIVER_OBJECT*, ULONG, USHORT) {
  notSupported("NdisAllocateGenericObject", "NDIS handles");
  return nullptr;
}
void NTAPI NdisFreeGenericObject(PNDIS_GENERIC_OBJECT) { notSupported("NdisFreeGenericObject", "NDIS handles"); }
NDIS_STATUS NTAPI NdisRetreatNetBufferDataStart(PNET_BUFFER, ULONG, ULONG, NET_BUFFER_ALLOCATE_MDL_HANDLER) {
  notSupported("NdisRetreatNetBufferDataStart");
  return NDIS_STATUS_NOT_SUPPORTED;
}
void NTAPI NdisAdvanceNetBufferDataStart(PNET_BUFFER, ULONG, BOOLEAN, NET_BUFFER_FREE_MDL_HANDLER) {
  OPENWFP_NOT_SUPPORTED_VOID(NdisAdvanceNetBufferDataStart);
}
PVOID NTAPI NdisGetDataBuffer(PNET_BUFFER, ULONG, PVOID, UINT, UINT) {
  notSupported("NdisGetDataBuffer");
  return nullptr;
}
NDIS_STATUS NTAPI NdisCopySendNetBufferListInfo(PNET_BUFFER_LIST, PNET_BUFFER_LIST) {
  notSupported("NdisCopySendNetBufferListInfo");
  return NDIS_STATUS_NOT_SUPPORTED;
}
NDIS_STATUS NTAPI NdisCopyReceiveNetBufferListInfo(PNET_BUFFER_LIST, PNET_BUFFER_LIST) {
  notSupported("NdisCopyReceiveNetBufferListInfo");
  return NDIS_STATUS_NOT_SUPPORTED;
}

// ---- Base filtering engine state -----------------------------------------------------------------
FWPM_SERVICE_STATE NTAPI FwpmBfeStateGet0(void) { return FWPM_SERVICE_RUNNING; }

NTSTATUS NTAPI FwpmBfeStateSubscribeChanges0(void* deviceObject, FWPM_SERVICE_STATE_CHANGE_CALLBACK0 callback,
                                             void* context, HANDLE* changeHandle) {
  (void)context;
  if (deviceObject == nullptr || callback == nullptr || changeHandle == nullptr) {
    openwfp::Runtime::current().verifier().report(
        {openwfp::verifier::Code::InvalidArgument,
         "FwpmBfeStateSubscribeChanges0: deviceObject, callback and changeHandle are required",
         openwfp::verifier::currentDriver(), "", 0});
    if (changeHandle != nullptr) *changeHandle = nullptr;
    return STATUS_INVALID_PARAMETER;
  }
  std::lock_guard lock(gBfeMu);
  // A distinct heap cell per subscription is its handle.
  void* handle = new int(gBfeToken++);
  gBfeSubscriptions.insert(handle);
  *changeHandle = handle;
  return STATUS_SUCCESS;
}

NTSTATUS NTAPI FwpmBfeStateUnsubscribeChanges0(HANDLE changeHandle) {
  std::lock_guard lock(gBfeMu);
  if (gBfeSubscriptions.erase(changeHandle) == 0) {
    openwfp::Runtime::current().verifier().report(
        {openwfp::verifier::Code::UseAfterRelease,
         "FwpmBfeStateUnsubscribeChanges0: not a handle from FwpmBfeStateSubscribeChanges0 (or already unsubscribed)",
         openwfp::verifier::currentDriver(), "", 0});
    return STATUS_INVALID_PARAMETER;
  }
  delete static_cast<int*>(changeHandle);
  return STATUS_SUCCESS;
}

}  // extern "C"
