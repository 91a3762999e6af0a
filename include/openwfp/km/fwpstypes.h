/*
 * fwpstypes.h - Windows Filtering Platform run-time (FWPS) types shared by user and kernel mode
 * (SPEC S1.3; wfp-facts.md 5.3, 5.4, 5.5, 7.3). Values are the Windows SDK's.
 */
#ifndef OPENWFP_KM_FWPSTYPES_H
#define OPENWFP_KM_FWPSTYPES_H

#include "openwfp_km_base.h"
#include "guiddef.h"
#include "fwptypes.h"
#include "fwpmtypes.h"

/* ---- Run-time filter flags (FWPS_FILTERn.flags; wfp-facts 5.4) --------------------------- */
#define FWPS_FILTER_FLAG_CLEAR_ACTION_RIGHT (0x0001)
#define FWPS_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED (0x0002)
#define FWPS_FILTER_FLAG_OR_CONDITIONS (0x0004)
#define FWPS_FILTER_FLAG_HAS_SECURITY_REALM_PROVIDER_CONTEXT (0x0008)
#define FWPS_FILTER_FLAG_SILENT_MODE (0x0010)
#define FWPS_FILTER_FLAG_IPSEC_NO_ACQUIRE_INITIATE (0x0020)
#define FWPS_FILTER_FLAG_RESERVED0 (0x0040)
#define FWPS_FILTER_FLAG_RESERVED1 (0x0080)

/* ---- Incoming flags (FWPS_INCOMING_METADATA_VALUES0.flags; wfp-facts 5.5) ---------------- */
#define FWPS_INCOMING_FLAG_CACHE_SAFE (0x00000001)
#define FWPS_INCOMING_FLAG_ENFORCE_QUERY (0x00000002)
#define FWPS_INCOMING_FLAG_ABSORB (0x00000004)
#define FWPS_INCOMING_FLAG_CONNECTION_FAILING_INDICATION (0x00000008)
#define FWPS_INCOMING_FLAG_MID_STREAM_INSPECTION (0x00000010)
#define FWPS_INCOMING_FLAG_RECLASSIFY (0x00000020)
#define FWPS_INCOMING_FLAG_IS_LOOSE_SOURCE_FLOW (0x00000040)
#define FWPS_INCOMING_FLAG_IS_LOCAL_ONLY_FLOW (0x00000080)
#define FWPS_INCOMING_FLAG_RESERVED0 (0x00000100)

#define FWPS_L2_INCOMING_FLAG_IS_RAW_IPV4_FRAMING (0x00000001)
#define FWPS_L2_INCOMING_FLAG_IS_RAW_IPV6_FRAMING (0x00000002)
#define FWPS_L2_INCOMING_FLAG_RECLASSIFY_MULTI_DESTINATION (0x00000008)

/* ---- Rights and classify-out flags (wfp-facts 1.2, 5.5) ---------------------------------- */
#define FWPS_RIGHT_ACTION_WRITE (0x00000001)

#define FWPS_CLASSIFY_OUT_FLAG_ABSORB (0x00000001)
#define FWPS_CLASSIFY_OUT_FLAG_BUFFER_LIMIT_REACHED (0x00000002)
#define FWPS_CLASSIFY_OUT_FLAG_NO_MORE_DATA (0x00000004)
#define FWPS_CLASSIFY_OUT_FLAG_ALE_FAST_CACHE_CHECK (0x00000008)
#define FWPS_CLASSIFY_OUT_FLAG_ALE_FAST_CACHE_POSSIBLE (0x00000010)

/* ---- Run-time filters (wfp-facts 7.3) ---------------------------------------------------- */
typedef struct FWPS_FILTER_CONDITION0_ {
  UINT16 fieldId;
  UINT16 reserved;
  FWP_MATCH_TYPE matchType;
  FWP_CONDITION_VALUE0 conditionValue;
} FWPS_FILTER_CONDITION0;

typedef struct FWPS_ACTION0_ {
  FWP_ACTION_TYPE type;
  UINT32 calloutId;
} FWPS_ACTION0;

typedef struct FWPS_FILTER0_ {
  UINT64 filterId;
  FWP_VALUE0 weight;
  UINT16 subLayerWeight;
  UINT16 flags;
  UINT32 numFilterConditions;
  FWPS_FILTER_CONDITION0 *filterCondition;
  FWPS_ACTION0 action;
  UINT64 context;
  FWPM_PROVIDER_CONTEXT0 *providerContext;
} FWPS_FILTER0;

typedef struct FWPS_FILTER1_ {
  UINT64 filterId;
  FWP_VALUE0 weight;
  UINT16 subLayerWeight;
  UINT16 flags;
  UINT32 numFilterConditions;
  FWPS_FILTER_CONDITION0 *filterCondition;
  FWPS_ACTION0 action;
  UINT64 context;
  FWPM_PROVIDER_CONTEXT1 *providerContext;
} FWPS_FILTER1;

typedef struct FWPS_FILTER2_ {
  UINT64 filterId;
  FWP_VALUE0 weight;
  UINT16 subLayerWeight;
  UINT16 flags;
  UINT32 numFilterConditions;
  FWPS_FILTER_CONDITION0 *filterCondition;
  FWPS_ACTION0 action;
  UINT64 context;
  FWPM_PROVIDER_CONTEXT2 *providerContext;
} FWPS_FILTER2;

typedef struct FWPS_FILTER3_ {
  UINT64 filterId;
  FWP_VALUE0 weight;
  UINT16 subLayerWeight;
  UINT16 flags;
  UINT32 numFilterConditions;
  FWPS_FILTER_CONDITION0 *filterCondition;
  FWPS_ACTION0 action;
  UINT64 context;
  FWPM_PROVIDER_CONTEXT3 *providerContext;
} FWPS_FILTER3;

/* ---- Incoming values (index incomingValue[] with the FWPS_FIELD_* enums of fwpsk.h) ------- */
typedef struct FWPS_INCOMING_VALUE0_ {
  FWP_VALUE0 value;
} FWPS_INCOMING_VALUE0;

typedef struct FWPS_INCOMING_VALUES0_ {
  UINT16 layerId;
  UINT32 valueCount;
  FWPS_INCOMING_VALUE0 *incomingValue;
} FWPS_INCOMING_VALUES0;

/* ---- Classify output --------------------------------------------------------------------- */
typedef struct FWPS_CLASSIFY_OUT0_ {
  FWP_ACTION_TYPE actionType;
  UINT64 outContext;
  UINT64 filterId;
  UINT32 rights;
  UINT32 flags;
  UINT32 reserved;
} FWPS_CLASSIFY_OUT0;

/* ---- Discard metadata -------------------------------------------------------------------- */
typedef enum FWPS_DISCARD_MODULE0_ {
  FWPS_DISCARD_MODULE_NETWORK = 0,
  FWPS_DISCARD_MODULE_TRANSPORT = 1,
  FWPS_DISCARD_MODULE_GENERAL = 2,
  FWPS_DISCARD_MODULE_MAX = 3
} FWPS_DISCARD_MODULE0;

typedef enum FWPS_GENERAL_DISCARD_REASON_ {
  FWPS_DISCARD_FIREWALL_POLICY = 0,
  FWPS_DISCARD_IPSEC = 1,
  FWPS_GENERAL_DISCARD_REASON_MAX = 2
} FWPS_GENERAL_DISCARD_REASON;

typedef struct FWPS_DISCARD_METADATA0_ {
  FWPS_DISCARD_MODULE0 discardModule;
  UINT32 discardReason;
  UINT64 filterId;
} FWPS_DISCARD_METADATA0;

/* ---- Callout notifications (wfp-facts 5.3) ----------------------------------------------- */
typedef enum FWPS_CALLOUT_NOTIFY_TYPE_ {
  FWPS_CALLOUT_NOTIFY_ADD_FILTER = 0,
  FWPS_CALLOUT_NOTIFY_DELETE_FILTER = 1,
  FWPS_CALLOUT_NOTIFY_ADD_FILTER_POST_COMMIT = 2,
  FWPS_CALLOUT_NOTIFY_TYPE_MAX = 3
} FWPS_CALLOUT_NOTIFY_TYPE;

#endif /* OPENWFP_KM_FWPSTYPES_H */
