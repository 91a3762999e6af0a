/*
 * fwpmtypes.h - Windows Filtering Platform management types (SPEC S1.3; wfp-facts.md 1.7, 5.4,
 * 7.2): providers, provider contexts, sublayers, layers, callouts, filters, sessions, enumeration
 * templates and their flags. Values are the Windows SDK's. Provider-context structs are reduced
 * to their common members (openwfp does not interpret provider contexts).
 */
#ifndef OPENWFP_KM_FWPMTYPES_H
#define OPENWFP_KM_FWPMTYPES_H

#include "openwfp_km_base.h"
#include "guiddef.h"
#include "fwptypes.h"

/* ---- Sessions ---------------------------------------------------------------------------- */
#define FWPM_SESSION_FLAG_DYNAMIC (0x00000001)
#define FWPM_SESSION_FLAG_RESERVED (0x10000000)

typedef struct FWPM_SESSION0_ {
  GUID sessionKey;
  FWPM_DISPLAY_DATA0 displayData;
  UINT32 flags;
  UINT32 txnWaitTimeoutInMSec;
  DWORD processId;
  SID *sid;
  wchar_t *username;
  BOOL kernelMode;
} FWPM_SESSION0;

typedef struct FWPM_SESSION_ENUM_TEMPLATE0_ {
  UINT64 reserved;
} FWPM_SESSION_ENUM_TEMPLATE0;

/* ---- Providers --------------------------------------------------------------------------- */
#define FWPM_PROVIDER_FLAG_PERSISTENT (0x00000001)
#define FWPM_PROVIDER_FLAG_DISABLED (0x00000010)

typedef struct FWPM_PROVIDER0_ {
  GUID providerKey;
  FWPM_DISPLAY_DATA0 displayData;
  UINT32 flags;
  FWP_BYTE_BLOB providerData;
  wchar_t *serviceName;
} FWPM_PROVIDER0;

typedef struct FWPM_PROVIDER_ENUM_TEMPLATE0_ {
  UINT64 reserved;
} FWPM_PROVIDER_ENUM_TEMPLATE0;

/* ---- Provider contexts (reduced) --------------------------------------------------------- */
#define FWPM_PROVIDER_CONTEXT_FLAG_PERSISTENT (0x00000001)
#define FWPM_PROVIDER_CONTEXT_FLAG_DOWNLEVEL (0x00000002)

typedef enum FWPM_PROVIDER_CONTEXT_TYPE_ {
  FWPM_IPSEC_KEYING_CONTEXT = 0,
  FWPM_IPSEC_IKE_QM_TRANSPORT_CONTEXT = 1,
  FWPM_IPSEC_IKE_QM_TUNNEL_CONTEXT = 2,
  FWPM_IPSEC_AUTHIP_QM_TRANSPORT_CONTEXT = 3,
  FWPM_IPSEC_AUTHIP_QM_TUNNEL_CONTEXT = 4,
  FWPM_IPSEC_IKE_MM_CONTEXT = 5,
  FWPM_IPSEC_AUTHIP_MM_CONTEXT = 6,
  FWPM_CLASSIFY_OPTIONS_CONTEXT = 7,
  FWPM_GENERAL_CONTEXT = 8,
  FWPM_IPSEC_IKEV2_QM_TUNNEL_CONTEXT = 9,
  FWPM_IPSEC_IKEV2_MM_CONTEXT = 10,
  FWPM_IPSEC_DOSP_CONTEXT = 11,
  FWPM_IPSEC_IKEV2_QM_TRANSPORT_CONTEXT = 12,
  FWPM_PROVIDER_CONTEXT_TYPE_MAX = 13
} FWPM_PROVIDER_CONTEXT_TYPE;

/* Classify options (provider context FWPM_CLASSIFY_OPTIONS_CONTEXT). */
typedef enum FWP_CLASSIFY_OPTION_TYPE_ {
  FWP_CLASSIFY_OPTION_MULTICAST_STATE = 0,
  FWP_CLASSIFY_OPTION_LOOSE_SOURCE_MAPPING,
  FWP_CLASSIFY_OPTION_UNICAST_LIFETIME,
  FWP_CLASSIFY_OPTION_MCAST_BCAST_LIFETIME,
  FWP_CLASSIFY_OPTION_SECURE_SOCKET_SECURITY_FLAGS,
  FWP_CLASSIFY_OPTION_SECURE_SOCKET_AUTHIP_MM_POLICY_KEY,
  FWP_CLASSIFY_OPTION_SECURE_SOCKET_AUTHIP_QM_POLICY_KEY,
  FWP_CLASSIFY_OPTION_LOCAL_ONLY_MAPPING,
  FWP_CLASSIFY_OPTION_MAX
} FWP_CLASSIFY_OPTION_TYPE;
#define FWP_OPTION_VALUE_ALLOW_MULTICAST_STATE (0x00000000)
#define FWP_OPTION_VALUE_DENY_MULTICAST_STATE (0x00000001)
#define FWP_OPTION_VALUE_ALLOW_GLOBAL_MULTICAST_STATE (0x00000002)
#define FWP_OPTION_VALUE_DISABLE_LOOSE_SOURCE (0x00000000)
#define FWP_OPTION_VALUE_ENABLE_LOOSE_SOURCE (0x00000001)
#define FWP_OPTION_VALUE_DISABLE_LOCAL_ONLY_MAPPING (0x00000000)
#define FWP_OPTION_VALUE_ENABLE_LOCAL_ONLY_MAPPING (0x00000001)

typedef struct FWPM_CLASSIFY_OPTION0_ {
  FWP_CLASSIFY_OPTION_TYPE type;
  FWP_VALUE0 value;
} FWPM_CLASSIFY_OPTION0;
typedef struct FWPM_CLASSIFY_OPTIONS0_ {
  UINT32 numOptions;
  FWPM_CLASSIFY_OPTION0 *options;
} FWPM_CLASSIFY_OPTIONS0;
typedef FWPM_CLASSIFY_OPTION0 FWPM_CLASSIFY_OPTION;
typedef FWPM_CLASSIFY_OPTIONS0 FWPM_CLASSIFY_OPTIONS;

/* IPsec keying policy and DoS protection options (ipsectypes.h): the two provider-context arms
 * whose members drivers copy. */
typedef struct IPSEC_KEYING_POLICY0_ {
  UINT32 numKeyMods;
  GUID *keyModKeys;
} IPSEC_KEYING_POLICY0;
typedef struct IPSEC_KEYING_POLICY1_ {
  UINT32 numKeyMods;
  GUID *keyModKeys;
  UINT32 flags;
} IPSEC_KEYING_POLICY1;
typedef IPSEC_KEYING_POLICY0 IPSEC_KEYING_POLICY;
#define IPSEC_KEYING_POLICY_FLAG_TERMINATING_MATCH (0x00000001)

typedef struct IPSEC_DOSP_OPTIONS0_ {
  UINT32 stateIdleTimeoutSeconds;
  UINT32 perIPRateLimitQueueIdleTimeoutSeconds;
  UINT8 ipV6IPsecUnauthDscp;
  UINT32 ipV6IPsecUnauthRateLimitBytesPerSec;
  UINT32 ipV6IPsecUnauthPerIPRateLimitBytesPerSec;
  UINT8 ipV6IPsecAuthDscp;
  UINT32 ipV6IPsecAuthRateLimitBytesPerSec;
  UINT8 icmpV6Dscp;
  UINT32 icmpV6RateLimitBytesPerSec;
  UINT8 ipV6FilterExemptDscp;
  UINT32 ipV6FilterExemptRateLimitBytesPerSec;
  UINT8 defBlockExemptDscp;
  UINT32 defBlockExemptRateLimitBytesPerSec;
  UINT32 maxStateEntries;
  UINT32 maxPerIPRateLimitQueues;
  UINT32 numPublicIFLuids;
  UINT64 *publicIFLuids;
  UINT32 numInternalIFLuids;
  UINT64 *internalIFLuids;
  FWP_V6_ADDR_AND_MASK publicV6AddrMask;
  FWP_V6_ADDR_AND_MASK internalV6AddrMask;
} IPSEC_DOSP_OPTIONS0;
typedef IPSEC_DOSP_OPTIONS0 IPSEC_DOSP_OPTIONS;

/* Base filtering engine state (FwpmBfeStateGet0). */
typedef enum FWPM_SERVICE_STATE_ {
  FWPM_SERVICE_STOPPED = 0,
  FWPM_SERVICE_START_PENDING,
  FWPM_SERVICE_STOP_PENDING,
  FWPM_SERVICE_RUNNING,
  FWPM_SERVICE_STATE_MAX
} FWPM_SERVICE_STATE;
typedef void(NTAPI *FWPM_SERVICE_STATE_CHANGE_CALLBACK0)(_Inout_ void *context,
                                                          _In_ FWPM_SERVICE_STATE newState);

/* The union arms other than keyingPolicy, dataBuffer, classifyOptions and idpOptions are kept
 * as untyped pointers. */
#define OPENWFP_PROVIDER_CONTEXT_MEMBERS \
  GUID providerContextKey;               \
  FWPM_DISPLAY_DATA0 displayData;        \
  UINT32 flags;                          \
  GUID *providerKey;                     \
  FWP_BYTE_BLOB providerData;            \
  FWPM_PROVIDER_CONTEXT_TYPE type;       \
  union {                                \
    IPSEC_KEYING_POLICY0 *keyingPolicy;  \
    void *ikeQmTransportPolicy;          \
    void *ikeQmTunnelPolicy;             \
    void *authipQmTransportPolicy;       \
    void *authipQmTunnelPolicy;          \
    void *ikeMmPolicy;                   \
    void *authIpMmPolicy;                \
    FWP_BYTE_BLOB *dataBuffer;           \
    FWPM_CLASSIFY_OPTIONS0 *classifyOptions; \
    void *ikeV2QmTunnelPolicy;           \
    void *ikeV2QmTransportPolicy;        \
    void *ikeV2MmPolicy;                 \
    IPSEC_DOSP_OPTIONS0 *idpOptions;     \
  };                                     \
  UINT64 providerContextId;

typedef struct FWPM_PROVIDER_CONTEXT0_ {
  OPENWFP_PROVIDER_CONTEXT_MEMBERS
} FWPM_PROVIDER_CONTEXT0;
typedef struct FWPM_PROVIDER_CONTEXT1_ {
  OPENWFP_PROVIDER_CONTEXT_MEMBERS
} FWPM_PROVIDER_CONTEXT1;
typedef struct FWPM_PROVIDER_CONTEXT2_ {
  OPENWFP_PROVIDER_CONTEXT_MEMBERS
} FWPM_PROVIDER_CONTEXT2;
typedef struct FWPM_PROVIDER_CONTEXT3_ {
  OPENWFP_PROVIDER_CONTEXT_MEMBERS
} FWPM_PROVIDER_CONTEXT3;

typedef struct FWPM_PROVIDER_CONTEXT_ENUM_TEMPLATE0_ {
  GUID *providerKey;
  FWPM_PROVIDER_CONTEXT_TYPE providerContextType;
} FWPM_PROVIDER_CONTEXT_ENUM_TEMPLATE0;

/* ---- Sublayers --------------------------------------------------------------------------- */
#define FWPM_SUBLAYER_FLAG_PERSISTENT (0x00000001)

typedef struct FWPM_SUBLAYER0_ {
  GUID subLayerKey;
  FWPM_DISPLAY_DATA0 displayData;
  UINT32 flags;
  GUID *providerKey;
  FWP_BYTE_BLOB providerData;
  UINT16 weight;
} FWPM_SUBLAYER0;

typedef struct FWPM_SUBLAYER_ENUM_TEMPLATE0_ {
  GUID *providerKey;
} FWPM_SUBLAYER_ENUM_TEMPLATE0;

/* ---- Layers and fields ------------------------------------------------------------------- */
#define FWPM_LAYER_FLAG_KERNEL (0x00000001)
#define FWPM_LAYER_FLAG_BUILTIN (0x00000002)
#define FWPM_LAYER_FLAG_CLASSIFY_MOSTLY (0x00000004)
#define FWPM_LAYER_FLAG_BUFFERED (0x00000008)

typedef enum FWPM_FIELD_TYPE_ {
  FWPM_FIELD_RAW_DATA = 0,
  FWPM_FIELD_IP_ADDRESS = 1,
  FWPM_FIELD_FLAGS = 2,
  FWPM_FIELD_TYPE_MAX = 3
} FWPM_FIELD_TYPE;

typedef struct FWPM_FIELD0_ {
  GUID *fieldKey;
  FWPM_FIELD_TYPE type;
  FWP_DATA_TYPE dataType;
} FWPM_FIELD0;

typedef struct FWPM_LAYER0_ {
  GUID layerKey;
  FWPM_DISPLAY_DATA0 displayData;
  UINT32 flags;
  UINT32 numFields;
  FWPM_FIELD0 *field;
  GUID defaultSubLayerKey;
  UINT16 layerId;
} FWPM_LAYER0;

typedef struct FWPM_LAYER_ENUM_TEMPLATE0_ {
  UINT64 reserved;
} FWPM_LAYER_ENUM_TEMPLATE0;

/* ---- Callouts ---------------------------------------------------------------------------- */
#define FWPM_CALLOUT_FLAG_PERSISTENT (0x00010000)
#define FWPM_CALLOUT_FLAG_USES_PROVIDER_CONTEXT (0x00020000)
#define FWPM_CALLOUT_FLAG_REGISTERED (0x00040000)

typedef struct FWPM_CALLOUT0_ {
  GUID calloutKey;
  FWPM_DISPLAY_DATA0 displayData;
  UINT32 flags;
  GUID *providerKey;
  FWP_BYTE_BLOB providerData;
  GUID applicableLayer;
  UINT32 calloutId;
} FWPM_CALLOUT0;

typedef struct FWPM_CALLOUT_ENUM_TEMPLATE0_ {
  GUID *providerKey;
  GUID layerKey;
} FWPM_CALLOUT_ENUM_TEMPLATE0;

/* ---- Filters (wfp-facts 5.4, 7.2) -------------------------------------------------------- */
typedef struct FWPM_ACTION0_ {
  FWP_ACTION_TYPE type;
  union {
    GUID filterType;
    GUID calloutKey;
  };
} FWPM_ACTION0;

typedef struct FWPM_FILTER_CONDITION0_ {
  GUID fieldKey;
  FWP_MATCH_TYPE matchType;
  FWP_CONDITION_VALUE0 conditionValue;
} FWPM_FILTER_CONDITION0;

#define FWPM_FILTER_FLAG_NONE (0x00000000)
#define FWPM_FILTER_FLAG_PERSISTENT (0x00000001)
#define FWPM_FILTER_FLAG_BOOTTIME (0x00000002)
#define FWPM_FILTER_FLAG_HAS_PROVIDER_CONTEXT (0x00000004)
#define FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT (0x00000008)
#define FWPM_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED (0x00000010)
#define FWPM_FILTER_FLAG_DISABLED (0x00000020)
#define FWPM_FILTER_FLAG_INDEXED (0x00000040)
#define FWPM_FILTER_FLAG_HAS_SECURITY_REALM_PROVIDER_CONTEXT (0x00000080)
#define FWPM_FILTER_FLAG_SYSTEMOS_ONLY (0x00000100)
#define FWPM_FILTER_FLAG_GAMEOS_ONLY (0x00000200)
#define FWPM_FILTER_FLAG_SILENT_MODE (0x00000400)
#define FWPM_FILTER_FLAG_IPSEC_NO_ACQUIRE_INITIATE (0x00000800)
#define FWPM_FILTER_FLAG_RESERVED0 (0x00001000)
#define FWPM_FILTER_FLAG_RESERVED1 (0x00002000)
#define FWPM_FILTER_FLAG_RESERVED2 (0x00004000)

typedef struct FWPM_FILTER0_ {
  GUID filterKey;
  FWPM_DISPLAY_DATA0 displayData;
  UINT32 flags;
  GUID *providerKey;
  FWP_BYTE_BLOB providerData;
  GUID layerKey;
  GUID subLayerKey;
  FWP_VALUE0 weight;
  UINT32 numFilterConditions;
  FWPM_FILTER_CONDITION0 *filterCondition;
  FWPM_ACTION0 action;
  union {
    UINT64 rawContext;
    GUID providerContextKey;
  };
  GUID *reserved;
  UINT64 filterId;
  FWP_VALUE0 effectiveWeight;
} FWPM_FILTER0;

typedef struct FWPM_FILTER_ENUM_TEMPLATE0_ {
  GUID *providerKey;
  GUID layerKey;
  FWP_FILTER_ENUM_TYPE enumType;
  UINT32 flags;
  FWPM_PROVIDER_CONTEXT_ENUM_TEMPLATE0 *providerContextTemplate;
  UINT32 numFilterConditions;
  FWPM_FILTER_CONDITION0 *filterCondition;
  UINT32 actionMask;
  GUID *calloutKey;
} FWPM_FILTER_ENUM_TEMPLATE0;

#endif /* OPENWFP_KM_FWPMTYPES_H */
