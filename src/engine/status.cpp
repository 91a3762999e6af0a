// engine/status.cpp - NTSTATUS names of the engine result codes (status.h).
#include "engine/status.h"

namespace openwfp::engine {

const char* toString(Status s) {
  switch (s) {
    case Status::Success: return "STATUS_SUCCESS";
    case Status::Pending: return "STATUS_PENDING";
    case Status::ObjectNameExists: return "STATUS_OBJECT_NAME_EXISTS";
    case Status::Unsuccessful: return "STATUS_UNSUCCESSFUL";
    case Status::DeviceBusy: return "STATUS_DEVICE_BUSY";
    case Status::InvalidHandle: return "STATUS_INVALID_HANDLE";
    case Status::InvalidParameter: return "STATUS_INVALID_PARAMETER";
    case Status::AccessDenied: return "STATUS_ACCESS_DENIED";
    case Status::NoMemory: return "STATUS_NO_MEMORY";
    case Status::BufferTooSmall: return "STATUS_BUFFER_TOO_SMALL";
    case Status::DatatypeMisalignment: return "STATUS_DATATYPE_MISALIGNMENT";
    case Status::InsufficientResources: return "STATUS_INSUFFICIENT_RESOURCES";
    case Status::NotFound: return "STATUS_NOT_FOUND";
    case Status::FwpCalloutNotFound: return "STATUS_FWP_CALLOUT_NOT_FOUND";
    case Status::FwpConditionNotFound: return "STATUS_FWP_CONDITION_NOT_FOUND";
    case Status::FwpFilterNotFound: return "STATUS_FWP_FILTER_NOT_FOUND";
    case Status::FwpLayerNotFound: return "STATUS_FWP_LAYER_NOT_FOUND";
    case Status::FwpProviderNotFound: return "STATUS_FWP_PROVIDER_NOT_FOUND";
    case Status::FwpProviderContextNotFound: return "STATUS_FWP_PROVIDER_CONTEXT_NOT_FOUND";
    case Status::FwpSubLayerNotFound: return "STATUS_FWP_SUBLAYER_NOT_FOUND";
    case Status::FwpNotFound: return "STATUS_FWP_NOT_FOUND";
    case Status::FwpAlreadyExists: return "STATUS_FWP_ALREADY_EXISTS";
    case Status::FwpInUse: return "STATUS_FWP_IN_USE";
    case Status::FwpNoTxnInProgress: return "STATUS_FWP_NO_TXN_IN_PROGRESS";
    case Status::FwpTxnInProgress: return "STATUS_FWP_TXN_IN_PROGRESS";
    case Status::FwpIncompatibleTxn: return "STATUS_FWP_INCOMPATIBLE_TXN";
    case Status::FwpTimeout: return "STATUS_FWP_TIMEOUT";
    case Status::FwpIncompatibleLayer: return "STATUS_FWP_INCOMPATIBLE_LAYER";
    case Status::FwpBuiltinObject: return "STATUS_FWP_BUILTIN_OBJECT";
    case Status::FwpNullPointer: return "STATUS_FWP_NULL_POINTER";
    case Status::FwpInvalidEnumerator: return "STATUS_FWP_INVALID_ENUMERATOR";
    case Status::FwpInvalidFlags: return "STATUS_FWP_INVALID_FLAGS";
    case Status::FwpInvalidNetMask: return "STATUS_FWP_INVALID_NET_MASK";
    case Status::FwpInvalidRange: return "STATUS_FWP_INVALID_RANGE";
    case Status::FwpNullDisplayName: return "STATUS_FWP_NULL_DISPLAY_NAME";
    case Status::FwpInvalidActionType: return "STATUS_FWP_INVALID_ACTION_TYPE";
    case Status::FwpInvalidWeight: return "STATUS_FWP_INVALID_WEIGHT";
    case Status::FwpMatchTypeMismatch: return "STATUS_FWP_MATCH_TYPE_MISMATCH";
    case Status::FwpTypeMismatch: return "STATUS_FWP_TYPE_MISMATCH";
    case Status::FwpOutOfBounds: return "STATUS_FWP_OUT_OF_BOUNDS";
    case Status::FwpActionIncompatibleWithLayer: return "STATUS_FWP_ACTION_INCOMPATIBLE_WITH_LAYER";
    case Status::FwpInvalidParameter: return "STATUS_FWP_INVALID_PARAMETER";
    case Status::FwpCalloutNotificationFailed: return "STATUS_FWP_CALLOUT_NOTIFICATION_FAILED";
    case Status::FwpCannotPend: return "STATUS_FWP_CANNOT_PEND";
  }
  return "STATUS_?";
}

}  // namespace openwfp::engine
