// um/names.h - names for what `openwfp show` prints (SPEC S14.7): the SDK names of the layer,
// condition, sublayer and provider GUIDs fwpmk.h declares, of match types, data types, actions
// and filter flags; GUIDs as text; wide strings as UTF-8.
#pragma once

#include <cstdint>
#include <string>

#include <guiddef.h>

namespace openwfp::um {

std::string guidString(const GUID& g);    // "c38d57d1-05a7-4c33-904f-7fbceee60e82"
const char* knownGuidName(const GUID& g); // "FWPM_LAYER_ALE_AUTH_CONNECT_V4", or nullptr
std::string guidName(const GUID& g);      // the SDK name, else the GUID as text

std::string matchName(uint32_t matchType);    // "FWP_MATCH_EQUAL"
std::string dataTypeName(uint32_t dataType);  // "FWP_UINT16"
std::string actionName(uint32_t actionType);  // "FWP_ACTION_BLOCK"
std::string filterFlagNames(uint32_t flags);  // "FWPM_FILTER_FLAG_PERSISTENT|..." or "none"
std::string utf8(const wchar_t* s);           // "" for NULL

}  // namespace openwfp::um
