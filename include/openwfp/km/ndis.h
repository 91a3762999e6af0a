/*
 * ndis.h - the few NDIS names fwpsk.h needs (SPEC S1.1). openwfp classifies at the ALE layers only,
 * so network buffer lists are opaque here; the NDIS_SUPPORT_* / NDISxx macros a driver defines
 * before including this header select the NDIS_SUPPORT_* values (NDIS 6.30 unless an older
 * NDISxx alone is defined).
 */
#ifndef OPENWFP_KM_NDIS_H
#define OPENWFP_KM_NDIS_H

#include "openwfp_km_base.h"
#include "wdm.h"
#include "ifdef.h"
#include "netiodef.h"

typedef PVOID NDIS_HANDLE, *PNDIS_HANDLE;
typedef int NDIS_STATUS, *PNDIS_STATUS;
typedef ULONG NDIS_PORT_NUMBER, *PNDIS_PORT_NUMBER;


/* Hyper-V switch identifiers carried in FWPS_INCOMING_METADATA_VALUES0. */
typedef UINT32 NDIS_SWITCH_PORT_ID, *PNDIS_SWITCH_PORT_ID;
typedef USHORT NDIS_SWITCH_NIC_INDEX, *PNDIS_SWITCH_NIC_INDEX;

#ifndef NDIS_SUPPORT_NDIS6
#define NDIS_SUPPORT_NDIS6 1
#endif
#ifndef NDIS_SUPPORT_NDIS61
#define NDIS_SUPPORT_NDIS61 1
#endif
#ifndef NDIS_SUPPORT_NDIS620
#define NDIS_SUPPORT_NDIS620 1
#endif
#ifndef NDIS_SUPPORT_NDIS630
#if (defined(NDIS60) || defined(NDIS61) || defined(NDIS620)) && !defined(NDIS630) && !defined(NDIS640) && \
    !defined(NDIS650) && !defined(NDIS660) && !defined(NDIS680)
#define NDIS_SUPPORT_NDIS630 0 /* an NDIS 6.0-6.20 driver: FWPS_INCOMING_METADATA_VALUES0 has padding */
#else
#define NDIS_SUPPORT_NDIS630 1
#endif
#endif

#define NDIS_STATUS_SUCCESS ((NDIS_STATUS)0x00000000L)
#define NDIS_STATUS_PENDING ((NDIS_STATUS)0x00000103L)
#define NDIS_STATUS_FAILURE ((NDIS_STATUS)0xC0000001L)
#define NDIS_STATUS_RESOURCES ((NDIS_STATUS)0xC000009AL)

/* ---- Net buffers and net buffer lists (SPEC S15.3) -----------------------------------------
 * The structures carry the WDK member names the NET_BUFFER_* macros read. openwfp classifies at
 * the ALE layers, where layerData is not a packet: no NET_BUFFER_LIST is ever passed to a
 * callout, and the functions that would allocate, clone or inject one fail (NULL or
 * NDIS_STATUS_NOT_SUPPORTED) with a verifier violation naming the function. */
typedef struct _NET_BUFFER NET_BUFFER, *PNET_BUFFER;
typedef struct _NET_BUFFER_LIST NET_BUFFER_LIST, *PNET_BUFFER_LIST;
typedef struct _NET_BUFFER_LIST_CONTEXT NET_BUFFER_LIST_CONTEXT, *PNET_BUFFER_LIST_CONTEXT;

struct _NET_BUFFER {
  PNET_BUFFER Next;
  PMDL CurrentMdl;
  ULONG CurrentMdlOffset;
  union {
    ULONG DataLength;
    SIZE_T stDataLength;
  };
  PMDL MdlChain;
  ULONG DataOffset;
  USHORT ChecksumBias;
  USHORT Reserved;
  NDIS_HANDLE NdisPoolHandle;
  PVOID NdisReserved[2];
  PVOID ProtocolReserved[6];
  PVOID MiniportReserved[4];
  LARGE_INTEGER DataPhysicalAddress;
};

struct _NET_BUFFER_LIST_CONTEXT {
  PNET_BUFFER_LIST_CONTEXT Next;
  USHORT Size;
  USHORT Offset;
  UCHAR ContextData[1];
};

/* NET_BUFFER_LIST.NetBufferListInfo[] indices (the WDK's first members, in its order). */
typedef enum _NDIS_NET_BUFFER_LIST_INFO {
  TcpIpChecksumNetBufferListInfo = 0,
  TcpOffloadBytesTransferred = TcpIpChecksumNetBufferListInfo,
  IPsecOffloadV1NetBufferListInfo,
  IPsecOffloadV2NetBufferListInfo = IPsecOffloadV1NetBufferListInfo,
  TcpLargeSendNetBufferListInfo,
  TcpReceiveNoPush = TcpLargeSendNetBufferListInfo,
  ClassificationHandleNetBufferListInfo,
  Ieee8021QNetBufferListInfo,
  NetBufferListCancelId,
  MediaSpecificInformation,
  NetBufferListFrameType,
  NetBufferListProtocolId = NetBufferListFrameType,
  NetBufferListHashValue,
  NetBufferListHashInfo,
  WfpNetBufferListInfo,
  IPsecOffloadV2TunnelNetBufferListInfo,
  IPsecOffloadV2HeaderNetBufferListInfo,
  NetBufferListCorrelationId,
  NetBufferListFilteringInfo,
  MediaSpecificInformationEx,
  NblOriginalInterfaceIfIndex,
  NblReAuthWfpFlowContext = NblOriginalInterfaceIfIndex,
  TcpReceiveBatchInfo,
  MaxNetBufferListInfo
} NDIS_NET_BUFFER_LIST_INFO, *PNDIS_NET_BUFFER_LIST_INFO;

struct _NET_BUFFER_LIST {
  PNET_BUFFER_LIST Next;
  PNET_BUFFER FirstNetBuffer;
  PNET_BUFFER_LIST_CONTEXT Context;
  PNET_BUFFER_LIST ParentNetBufferList;
  NDIS_HANDLE NdisPoolHandle;
  PVOID NdisReserved[2];
  PVOID ProtocolReserved[4];
  PVOID MiniportReserved[2];
  PVOID Scratch;
  NDIS_HANDLE SourceHandle;
  ULONG NblFlags;
  LONG ChildRefCount;
  ULONG Flags;
  union {
    NDIS_STATUS Status;
    ULONG NdisReserved2;
  };
  PVOID NetBufferListInfo[MaxNetBufferListInfo];
};

#define NET_BUFFER_NEXT_NB(_NB) ((_NB)->Next)
#define NET_BUFFER_FIRST_MDL(_NB) ((_NB)->MdlChain)
#define NET_BUFFER_DATA_LENGTH(_NB) ((_NB)->DataLength)
#define NET_BUFFER_DATA_OFFSET(_NB) ((_NB)->DataOffset)
#define NET_BUFFER_CURRENT_MDL(_NB) ((_NB)->CurrentMdl)
#define NET_BUFFER_CURRENT_MDL_OFFSET(_NB) ((_NB)->CurrentMdlOffset)
#define NET_BUFFER_CHECKSUM_BIAS(_NB) ((_NB)->ChecksumBias)
#define NET_BUFFER_LIST_NEXT_NBL(_NBL) ((_NBL)->Next)
#define NET_BUFFER_LIST_FIRST_NB(_NBL) ((_NBL)->FirstNetBuffer)
#define NET_BUFFER_LIST_FLAGS(_NBL) ((_NBL)->Flags)
#define NET_BUFFER_LIST_NBL_FLAGS(_NBL) ((_NBL)->NblFlags)
#define NET_BUFFER_LIST_STATUS(_NBL) ((_NBL)->Status)
#define NET_BUFFER_LIST_INFO(_NBL, _Id) ((_NBL)->NetBufferListInfo[(_Id)])
#define NET_BUFFER_LIST_CONTEXT_DATA_START(_NBL) \
  ((PUCHAR)(((_NBL)->Context) + 1) + (_NBL)->Context->Offset)
#define NET_BUFFER_LIST_CONTEXT_DATA_SIZE(_NBL) (((_NBL)->Context)->Size)

/* Checksum offload information (NetBufferListInfo[TcpIpChecksumNetBufferListInfo]). */
typedef struct _NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO {
  union {
    struct {
      ULONG IsIPv4 : 1;
      ULONG IsIPv6 : 1;
      ULONG TcpChecksum : 1;
      ULONG UdpChecksum : 1;
      ULONG IpHeaderChecksum : 1;
      ULONG Reserved : 11;
      ULONG TcpHeaderOffset : 10;
    } Transmit;
    struct {
      ULONG TcpChecksumFailed : 1;
      ULONG UdpChecksumFailed : 1;
      ULONG IpChecksumFailed : 1;
      ULONG TcpChecksumSucceeded : 1;
      ULONG UdpChecksumSucceeded : 1;
      ULONG IpChecksumSucceeded : 1;
      ULONG Loopback : 1;
      ULONG TcpChecksumValueInvalid : 1;
      ULONG IpChecksumValueInvalid : 1;
    } Receive;
    PVOID Value;
  };
} NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO, *PNDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO;

/* The NDIS 5 form of the same information, still declared by the WDK. */
typedef struct _NDIS_TCP_IP_CHECKSUM_PACKET_INFO {
  union {
    struct {
      ULONG NdisPacketChecksumV4 : 1;
      ULONG NdisPacketChecksumV6 : 1;
      ULONG NdisPacketTcpChecksum : 1;
      ULONG NdisPacketUdpChecksum : 1;
      ULONG NdisPacketIpChecksum : 1;
    } Transmit;
    struct {
      ULONG NdisPacketTcpChecksumFailed : 1;
      ULONG NdisPacketUdpChecksumFailed : 1;
      ULONG NdisPacketIpChecksumFailed : 1;
      ULONG NdisPacketTcpChecksumSucceeded : 1;
      ULONG NdisPacketUdpChecksumSucceeded : 1;
      ULONG NdisPacketIpChecksumSucceeded : 1;
      ULONG NdisPacketLoopback : 1;
    } Receive;
    ULONG Value;
  };
} NDIS_TCP_IP_CHECKSUM_PACKET_INFO, *PNDIS_TCP_IP_CHECKSUM_PACKET_INFO;

typedef struct _NDIS_OBJECT_HEADER {
  UCHAR Type;
  UCHAR Revision;
  USHORT Size;
} NDIS_OBJECT_HEADER, *PNDIS_OBJECT_HEADER;
#define NDIS_OBJECT_TYPE_DEFAULT 0x80

typedef struct _NET_BUFFER_LIST_POOL_PARAMETERS {
  NDIS_OBJECT_HEADER Header;
  UCHAR ProtocolId;
  BOOLEAN fAllocateNetBuffer;
  USHORT ContextSize;
  ULONG PoolTag;
  ULONG DataSize;
  ULONG Flags;
} NET_BUFFER_LIST_POOL_PARAMETERS, *PNET_BUFFER_LIST_POOL_PARAMETERS;
#define NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 1
#define NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_2 2
#define NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 \
  RTL_SIZEOF_THROUGH_FIELD(NET_BUFFER_LIST_POOL_PARAMETERS, DataSize)
#define NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_2 \
  RTL_SIZEOF_THROUGH_FIELD(NET_BUFFER_LIST_POOL_PARAMETERS, Flags)

typedef struct _NET_BUFFER_POOL_PARAMETERS {
  NDIS_OBJECT_HEADER Header;
  ULONG PoolTag;
  ULONG DataSize;
} NET_BUFFER_POOL_PARAMETERS, *PNET_BUFFER_POOL_PARAMETERS;
#define NET_BUFFER_POOL_PARAMETERS_REVISION_1 1
#define NDIS_SIZEOF_NET_BUFFER_POOL_PARAMETERS_REVISION_1 \
  RTL_SIZEOF_THROUGH_FIELD(NET_BUFFER_POOL_PARAMETERS, DataSize)

#define NDIS_PROTOCOL_ID_DEFAULT 0x00
#define NDIS_PROTOCOL_ID_TCP_IP 0x02
#define NDIS_PROTOCOL_ID_IPX 0x06
#define NDIS_PROTOCOL_ID_NBF 0x07

typedef struct _NDIS_GENERIC_OBJECT {
  NDIS_OBJECT_HEADER Header;
  PVOID Caller;
  PVOID CallersCaller;
  struct _DRIVER_OBJECT *DriverObject;
} NDIS_GENERIC_OBJECT, *PNDIS_GENERIC_OBJECT;

typedef PMDL(NTAPI *NET_BUFFER_ALLOCATE_MDL_HANDLER)(_In_ NDIS_HANDLE PoolHandle, _Out_ PULONG BufferSize);
typedef void(NTAPI *NET_BUFFER_FREE_MDL_HANDLER)(_In_ PMDL Mdl);

#define NDIS_STATUS_NOT_SUPPORTED ((NDIS_STATUS)0xC00000BBL)
#define NDIS_STATUS_INVALID_PARAMETER ((NDIS_STATUS)0xC0000001L)

OPENWFP_BEGIN_DECLS
_IRQL_requires_max_(DISPATCH_LEVEL) NDIS_HANDLE NTAPI
NdisAllocateNetBufferListPool(_In_opt_ NDIS_HANDLE NdisHandle,
                              _In_ PNET_BUFFER_LIST_POOL_PARAMETERS Parameters);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI NdisFreeNetBufferListPool(_In_ NDIS_HANDLE PoolHandle);
_IRQL_requires_max_(DISPATCH_LEVEL) NDIS_HANDLE NTAPI
NdisAllocateNetBufferPool(_In_opt_ NDIS_HANDLE NdisHandle, _In_ PNET_BUFFER_POOL_PARAMETERS Parameters);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI NdisFreeNetBufferPool(_In_ NDIS_HANDLE PoolHandle);
_IRQL_requires_max_(DISPATCH_LEVEL) PNET_BUFFER_LIST NTAPI
NdisAllocateNetBufferList(_In_ NDIS_HANDLE PoolHandle, _In_ USHORT ContextSize,
                          _In_ USHORT ContextBackFill);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI NdisFreeNetBufferList(_In_ PNET_BUFFER_LIST NetBufferList);
_IRQL_requires_max_(DISPATCH_LEVEL) PNDIS_GENERIC_OBJECT NTAPI
NdisAllocateGenericObject(_In_opt_ struct _DRIVER_OBJECT *DriverObject, _In_ ULONG Tag, _In_ USHORT Size);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI NdisFreeGenericObject(_In_ PNDIS_GENERIC_OBJECT NdisObject);
_IRQL_requires_max_(DISPATCH_LEVEL) NDIS_STATUS NTAPI
NdisRetreatNetBufferDataStart(_In_ PNET_BUFFER NetBuffer, _In_ ULONG DataOffsetDelta,
                              _In_ ULONG DataBackFill, _In_opt_ NET_BUFFER_ALLOCATE_MDL_HANDLER AllocateMdlHandler);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI
NdisAdvanceNetBufferDataStart(_In_ PNET_BUFFER NetBuffer, _In_ ULONG DataOffsetDelta, _In_ BOOLEAN FreeMdl,
                              _In_opt_ NET_BUFFER_FREE_MDL_HANDLER FreeMdlHandler);
_IRQL_requires_max_(DISPATCH_LEVEL) PVOID NTAPI
NdisGetDataBuffer(_In_ PNET_BUFFER NetBuffer, _In_ ULONG BytesNeeded, _In_opt_ PVOID Storage,
                  _In_ UINT AlignMultiple, _In_ UINT AlignOffset);
_IRQL_requires_max_(DISPATCH_LEVEL) NDIS_STATUS NTAPI
NdisCopySendNetBufferListInfo(_In_ PNET_BUFFER_LIST DestNetBufferList, _In_ PNET_BUFFER_LIST SrcNetBufferList);
_IRQL_requires_max_(DISPATCH_LEVEL) NDIS_STATUS NTAPI
NdisCopyReceiveNetBufferListInfo(_In_ PNET_BUFFER_LIST DestNetBufferList,
                                 _In_ PNET_BUFFER_LIST SrcNetBufferList);
OPENWFP_END_DECLS

#endif /* OPENWFP_KM_NDIS_H */
