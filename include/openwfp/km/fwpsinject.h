/* fwpsinject.h - the stream, packet-injection and net-buffer-list functions of fwpsk.h (SPEC
 * S15.3), declared with the WDK signatures so that a driver using them compiles unchanged.
 *
 * openwfp classifies at the ALE connect, bind and authorization layers, where layerData is not a
 * packet, and has no packet path: none of these functions is supported. Each call returns
 * STATUS_NOT_SUPPORTED (a function returning a pointer or a state: NULL or
 * FWPS_PACKET_NOT_INJECTED; a void function does nothing) and the verifier reports one
 * NotSupported violation naming the function. Included by fwpsk.h. */
#ifndef OPENWFP_KM_FWPSINJECT_H
#define OPENWFP_KM_FWPSINJECT_H

/* ---- Stream data (FWPS_LAYER_STREAM_V4/V6 layerData) -------------------------------------- */
typedef struct FWPS_STREAM_DATA_OFFSET0_ {
  NET_BUFFER_LIST *netBufferList;
  NET_BUFFER *netBuffer;
  MDL *mdl;
  SIZE_T mdlOffset;
  SIZE_T netBufferOffset;
  SIZE_T streamDataOffset;
} FWPS_STREAM_DATA_OFFSET0;

typedef struct FWPS_STREAM_DATA0_ {
  UINT32 flags;
  FWPS_STREAM_DATA_OFFSET0 dataOffset;
  SIZE_T dataLength;
  NET_BUFFER_LIST *netBufferListChain;
} FWPS_STREAM_DATA0;

typedef enum FWPS_STREAM_ACTION_TYPE_ {
  FWPS_STREAM_ACTION_NONE = 0,
  FWPS_STREAM_ACTION_ALLOW_CONNECTION,
  FWPS_STREAM_ACTION_REQUEST_MORE_DATA,
  FWPS_STREAM_ACTION_DROP_CONNECTION,
  FWPS_STREAM_ACTION_DEFER,
  FWPS_STREAM_ACTION_TYPE_MAX
} FWPS_STREAM_ACTION_TYPE;

typedef struct FWPS_STREAM_CALLOUT_IO_PACKET0_ {
  FWPS_STREAM_DATA0 *streamData;
  SIZE_T missedBytes;
  UINT32 countBytesRequired;
  SIZE_T countBytesEnforced;
  FWPS_STREAM_ACTION_TYPE streamAction;
} FWPS_STREAM_CALLOUT_IO_PACKET0;

typedef FWPS_STREAM_DATA0 FWPS_STREAM_DATA;
typedef FWPS_STREAM_DATA_OFFSET0 FWPS_STREAM_DATA_OFFSET;
typedef FWPS_STREAM_CALLOUT_IO_PACKET0 FWPS_STREAM_CALLOUT_IO_PACKET;

#define FWPS_STREAM_FLAG_SEND (0x00000001)
#define FWPS_STREAM_FLAG_SEND_EXPEDITED (0x00000002)
#define FWPS_STREAM_FLAG_SEND_NODELAY (0x00000004)
#define FWPS_STREAM_FLAG_SEND_DISCONNECT (0x00000008)
#define FWPS_STREAM_FLAG_RECEIVE (0x00000010)
#define FWPS_STREAM_FLAG_RECEIVE_EXPEDITED (0x00000020)
#define FWPS_STREAM_FLAG_RECEIVE_DISCONNECT (0x00000040)
#define FWPS_STREAM_FLAG_RECEIVE_ABORT (0x00000080)

/* ---- Injection ---------------------------------------------------------------------------- */
typedef struct FWPS_TRANSPORT_SEND_PARAMS0_ {
  UCHAR *remoteAddress;
  SCOPE_ID remoteScopeId;
  WSACMSGHDR *controlData;
  ULONG controlDataLength;
} FWPS_TRANSPORT_SEND_PARAMS0;

typedef struct FWPS_TRANSPORT_SEND_PARAMS1_ {
  UCHAR *remoteAddress;
  SCOPE_ID remoteScopeId;
  WSACMSGHDR *controlData;
  ULONG controlDataLength;
  UCHAR *headerIncludeHeader;
  ULONG headerIncludeHeaderLength;
} FWPS_TRANSPORT_SEND_PARAMS1;
typedef FWPS_TRANSPORT_SEND_PARAMS1 FWPS_TRANSPORT_SEND_PARAMS;

#define FWPS_INJECTION_TYPE_STREAM (0x00000001)
#define FWPS_INJECTION_TYPE_TRANSPORT (0x00000002)
#define FWPS_INJECTION_TYPE_NETWORK (0x00000004)
#define FWPS_INJECTION_TYPE_FORWARD (0x00000008)
#define FWPS_INJECTION_TYPE_L2 (0x00000010)
#define FWPS_INJECTION_TYPE_VSWITCH (0x00000020)

#define FWPS_ALLOCATE_CLONE_FLAG_NONE (0x00000000)

typedef void(NTAPI *FWPS_INJECT_COMPLETE0)(_In_ void *context, _Inout_ NET_BUFFER_LIST *netBufferList,
                                           _In_ BOOLEAN dispatchLevel);
typedef FWPS_INJECT_COMPLETE0 FWPS_INJECT_COMPLETE;

OPENWFP_BEGIN_DECLS

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpsInjectionHandleCreate0(_In_opt_ ADDRESS_FAMILY addressFamily, _In_ UINT32 flags,
                           _Out_ HANDLE *injectionHandle);
_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI FwpsInjectionHandleDestroy0(_In_ HANDLE injectionHandle);

_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsInjectTransportSendAsync0(_In_ HANDLE injectionHandle, _In_opt_ HANDLE injectionContext,
                              _In_ UINT64 endpointHandle, _In_ UINT32 flags,
                              _In_opt_ FWPS_TRANSPORT_SEND_PARAMS0 *sendArgs, _In_ ADDRESS_FAMILY addressFamily,
                              _In_ COMPARTMENT_ID compartmentId, _Inout_ NET_BUFFER_LIST *netBufferList,
                              _In_ FWPS_INJECT_COMPLETE0 completionFn, _In_opt_ HANDLE completionContext);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsInjectTransportSendAsync1(_In_ HANDLE injectionHandle, _In_opt_ HANDLE injectionContext,
                              _In_ UINT64 endpointHandle, _In_ UINT32 flags,
                              _In_opt_ FWPS_TRANSPORT_SEND_PARAMS1 *sendArgs, _In_ ADDRESS_FAMILY addressFamily,
                              _In_ COMPARTMENT_ID compartmentId, _Inout_ NET_BUFFER_LIST *netBufferList,
                              _In_ FWPS_INJECT_COMPLETE0 completionFn, _In_opt_ HANDLE completionContext);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsInjectTransportReceiveAsync0(_In_ HANDLE injectionHandle, _In_opt_ HANDLE injectionContext,
                                 _Reserved_ PVOID reserved, _In_ UINT32 flags, _In_ ADDRESS_FAMILY addressFamily,
                                 _In_ COMPARTMENT_ID compartmentId, _In_ IF_INDEX interfaceIndex,
                                 _In_ IF_INDEX subInterfaceIndex, _Inout_ NET_BUFFER_LIST *netBufferList,
                                 _In_ FWPS_INJECT_COMPLETE0 completionFn, _In_opt_ HANDLE completionContext);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsInjectNetworkSendAsync0(_In_ HANDLE injectionHandle, _In_opt_ HANDLE injectionContext, _In_ UINT32 flags,
                            _In_ COMPARTMENT_ID compartmentId, _Inout_ NET_BUFFER_LIST *netBufferList,
                            _In_ FWPS_INJECT_COMPLETE0 completionFn, _In_opt_ HANDLE completionContext);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsInjectNetworkReceiveAsync0(_In_ HANDLE injectionHandle, _In_opt_ HANDLE injectionContext, _In_ UINT32 flags,
                               _In_ COMPARTMENT_ID compartmentId, _In_ IF_INDEX interfaceIndex,
                               _In_ IF_INDEX subInterfaceIndex, _Inout_ NET_BUFFER_LIST *netBufferList,
                               _In_ FWPS_INJECT_COMPLETE0 completionFn, _In_opt_ HANDLE completionContext);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsInjectForwardAsync0(_In_ HANDLE injectionHandle, _In_opt_ HANDLE injectionContext, _In_ UINT32 flags,
                        _In_ ADDRESS_FAMILY addressFamily, _In_ COMPARTMENT_ID compartmentId,
                        _In_ IF_INDEX targetInterfaceIndex, _Inout_ NET_BUFFER_LIST *netBufferList,
                        _In_ FWPS_INJECT_COMPLETE0 completionFn, _In_opt_ HANDLE completionContext);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsInjectMacReceiveAsync0(_In_ HANDLE injectionHandle, _In_opt_ HANDLE injectionContext, _In_ UINT32 flags,
                           _In_ UINT16 layerId, _In_ IF_INDEX interfaceIndex, _In_ NDIS_PORT_NUMBER NdisPortNumber,
                           _Inout_ NET_BUFFER_LIST *netBufferLists, _In_ FWPS_INJECT_COMPLETE0 completionFn,
                           _In_opt_ HANDLE completionContext);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsInjectMacSendAsync0(_In_ HANDLE injectionHandle, _In_opt_ HANDLE injectionContext, _In_ UINT32 flags,
                        _In_ UINT16 layerId, _In_ IF_INDEX interfaceIndex, _In_ NDIS_PORT_NUMBER NdisPortNumber,
                        _Inout_ NET_BUFFER_LIST *netBufferLists, _In_ FWPS_INJECT_COMPLETE0 completionFn,
                        _In_opt_ HANDLE completionContext);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsInjectvSwitchEthernetIngressAsync0(_In_ HANDLE injectionHandle, _In_opt_ HANDLE injectionContext,
                                       _In_ UINT32 flags, _Reserved_ void *reserved,
                                       _In_ NDIS_SWITCH_PORT_ID vSwitchSourcePortId,
                                       _In_ NDIS_SWITCH_NIC_INDEX vSwitchSourceNicIndex,
                                       _Inout_ NET_BUFFER_LIST *netBufferLists,
                                       _In_ FWPS_INJECT_COMPLETE0 completionFn, _In_opt_ HANDLE completionContext);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsInjectvSwitchEthernetEgressAsync0(_In_ HANDLE injectionHandle, _In_opt_ HANDLE injectionContext,
                                      _In_ UINT32 flags, _Reserved_ void *reserved,
                                      _In_ NDIS_SWITCH_PORT_ID vSwitchSourcePortId,
                                      _In_ NDIS_SWITCH_NIC_INDEX vSwitchSourceNicIndex,
                                      _Inout_ NET_BUFFER_LIST *netBufferLists,
                                      _In_ FWPS_INJECT_COMPLETE0 completionFn, _In_opt_ HANDLE completionContext);
_IRQL_requires_max_(DISPATCH_LEVEL) FWPS_PACKET_INJECTION_STATE NTAPI
FwpsQueryPacketInjectionState0(_In_ HANDLE injectionHandle, _In_ const NET_BUFFER_LIST *netBufferList,
                               _Out_opt_ HANDLE *injectionContext);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsConstructIpHeaderForTransportPacket0(_Inout_ NET_BUFFER_LIST *netBufferList, _In_ ULONG headerIncludeHeaderLength,
                                         _In_ ADDRESS_FAMILY addressFamily, _In_ const UCHAR *sourceAddress,
                                         _In_ const UCHAR *remoteAddress, _In_ IPPROTO nextProtocol,
                                         _In_opt_ UINT64 endpointHandle, _In_opt_ const WSACMSGHDR *controlData,
                                         _In_ ULONG controlDataLength, _In_ UINT32 flags, _Reserved_ PVOID reserved,
                                         _In_opt_ IF_INDEX interfaceIndex, _In_opt_ IF_INDEX subInterfaceIndex);

/* ---- Net buffer lists ----------------------------------------------------------------------- */
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsAllocateNetBufferAndNetBufferList0(_In_ NDIS_HANDLE poolHandle, _In_ USHORT contextSize,
                                       _In_ USHORT contextBackFill, _In_opt_ MDL *mdlChain, _In_ ULONG dataOffset,
                                       _In_ SIZE_T dataLength, _Outptr_ NET_BUFFER_LIST **netBufferList);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI FwpsFreeNetBufferList0(_In_ NET_BUFFER_LIST *netBufferList);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsAllocateCloneNetBufferList0(_Inout_ NET_BUFFER_LIST *originalNetBufferList,
                                _In_opt_ NDIS_HANDLE netBufferListPoolHandle, _In_opt_ NDIS_HANDLE netBufferPoolHandle,
                                _In_ ULONG allocateCloneFlags, _Outptr_ NET_BUFFER_LIST **netBufferList);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI FwpsFreeCloneNetBufferList0(_In_ NET_BUFFER_LIST *netBufferList,
                                                                           _In_ ULONG freeCloneFlags);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI FwpsReferenceNetBufferList0(_Inout_ NET_BUFFER_LIST *netBufferList,
                                                                           _In_ BOOLEAN intendToModify);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI FwpsDereferenceNetBufferList0(_Inout_ NET_BUFFER_LIST *netBufferList,
                                                                             _In_ BOOLEAN dispatchLevel);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI FwpsReferencevSwitchPacketContext0(_In_ HANDLE vSwitchPacketContext);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI FwpsDereferencevSwitchPacketContext0(_In_ HANDLE vSwitchPacketContext);

/* ---- Streams -------------------------------------------------------------------------------- */
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsStreamInjectAsync0(_In_ HANDLE injectionHandle, _In_opt_ HANDLE injectionContext, _In_ UINT32 flags,
                       _In_ UINT64 flowId, _In_ UINT32 calloutId, _In_ UINT16 layerId, _In_ UINT32 streamFlags,
                       _In_ NET_BUFFER_LIST *netBufferList, _In_ SIZE_T dataLength,
                       _In_ FWPS_INJECT_COMPLETE0 completionFn, _In_opt_ HANDLE completionContext);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI FwpsStreamContinue0(_In_ UINT64 flowId, _In_ UINT32 calloutId,
                                                                       _In_ UINT16 layerId, _In_ UINT32 streamFlags);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
FwpsCloneStreamData0(_Inout_ FWPS_STREAM_DATA0 *calloutStreamData, _In_opt_ NDIS_HANDLE netBufferListPoolHandle,
                     _In_opt_ NDIS_HANDLE netBufferPoolHandle, _In_ ULONG allocateCloneFlags,
                     _Outptr_ NET_BUFFER_LIST **netBufferListChain);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI FwpsDiscardClonedStreamData0(_Inout_ NET_BUFFER_LIST *netBufferListChain,
                                                                            _In_ UINT32 allocateCloneFlags,
                                                                            _In_ BOOLEAN dispatchLevel);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI FwpsCopyStreamDataToBuffer0(_In_ const FWPS_STREAM_DATA0 *calloutStreamData,
                                                                           _Out_ PVOID buffer, _In_ SIZE_T bytesToCopy,
                                                                           _Out_ SIZE_T *bytesCopied);
OPENWFP_END_DECLS

#define FwpsInjectionHandleCreate FwpsInjectionHandleCreate0
#define FwpsInjectionHandleDestroy FwpsInjectionHandleDestroy0
#define FwpsInjectTransportSendAsync FwpsInjectTransportSendAsync1
#define FwpsInjectTransportReceiveAsync FwpsInjectTransportReceiveAsync0
#define FwpsInjectNetworkSendAsync FwpsInjectNetworkSendAsync0
#define FwpsInjectNetworkReceiveAsync FwpsInjectNetworkReceiveAsync0
#define FwpsInjectForwardAsync FwpsInjectForwardAsync0
#define FwpsInjectMacReceiveAsync FwpsInjectMacReceiveAsync0
#define FwpsInjectMacSendAsync FwpsInjectMacSendAsync0
#define FwpsInjectvSwitchEthernetIngressAsync FwpsInjectvSwitchEthernetIngressAsync0
#define FwpsInjectvSwitchEthernetEgressAsync FwpsInjectvSwitchEthernetEgressAsync0
#define FwpsQueryPacketInjectionState FwpsQueryPacketInjectionState0
#define FwpsConstructIpHeaderForTransportPacket FwpsConstructIpHeaderForTransportPacket0
#define FwpsAllocateNetBufferAndNetBufferList FwpsAllocateNetBufferAndNetBufferList0
#define FwpsFreeNetBufferList FwpsFreeNetBufferList0
#define FwpsAllocateCloneNetBufferList FwpsAllocateCloneNetBufferList0
#define FwpsFreeCloneNetBufferList FwpsFreeCloneNetBufferList0
#define FwpsReferenceNetBufferList FwpsReferenceNetBufferList0
#define FwpsDereferenceNetBufferList FwpsDereferenceNetBufferList0
#define FwpsReferencevSwitchPacketContext FwpsReferencevSwitchPacketContext0
#define FwpsDereferencevSwitchPacketContext FwpsDereferencevSwitchPacketContext0
#define FwpsStreamInjectAsync FwpsStreamInjectAsync0
#define FwpsStreamContinue FwpsStreamContinue0
#define FwpsCloneStreamData FwpsCloneStreamData0
#define FwpsDiscardClonedStreamData FwpsDiscardClonedStreamData0
#define FwpsCopyStreamDataToBuffer FwpsCopyStreamDataToBuffer0

#endif /* OPENWFP_KM_FWPSINJECT_H */
