/*
 * ndis.h - the few NDIS names fwpsk.h needs (SPEC S1.1). openwfp classifies at the ALE layers only,
 * so network buffer lists are opaque here; the NDIS_SUPPORT_* / NDISxx macros a driver defines
 * before including this header select the NDIS_SUPPORT_* values (NDIS 6.30 unless an older
 * NDISxx alone is defined).
 */
#ifndef OPENWFP_KM_NDIS_H
#define OPENWFP_KM_NDIS_H

#include "openwfp_km_base.h"

typedef PVOID NDIS_HANDLE, *PNDIS_HANDLE;
typedef int NDIS_STATUS, *PNDIS_STATUS;
typedef ULONG NDIS_PORT_NUMBER, *PNDIS_PORT_NUMBER;

typedef struct _NET_BUFFER NET_BUFFER, *PNET_BUFFER;
typedef struct _NET_BUFFER_LIST NET_BUFFER_LIST, *PNET_BUFFER_LIST;
typedef struct _NET_BUFFER_LIST_POOL_PARAMETERS NET_BUFFER_LIST_POOL_PARAMETERS,
    *PNET_BUFFER_LIST_POOL_PARAMETERS;
typedef struct _MDL MDL, *PMDL;

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

#endif /* OPENWFP_KM_NDIS_H */
