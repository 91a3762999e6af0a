// SPEC S14.4: a user-mode management program written for Windows compiles unchanged as C++17
// with nothing but -I include/openwfp/um (the C11 one is examples/manage_filters). It uses what
// such programs use: <windows.h> then <fwpmu.h>, aggregate initialisation, GUID comparison,
// the FWP_E_* codes, enumeration and FwpmFreeMemory0.
#include <windows.h>
#include <fwpmu.h>

#include <cstdio>

static const GUID kSubLayer = {0x11111111, 0x2222, 0x3333, {0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb}};

int main() {
  FWPM_SESSION0 session = {};
  session.flags = FWPM_SESSION_FLAG_DYNAMIC;
  HANDLE engine = nullptr;
  DWORD result = FwpmEngineOpen0(nullptr, RPC_C_AUTHN_DEFAULT, nullptr, &session, &engine);
  if (result != ERROR_SUCCESS) {
    std::printf("open failed 0x%08lx\n", static_cast<unsigned long>(result));
    return 1;
  }
  FWPM_SUBLAYER0 subLayer = {};
  subLayer.subLayerKey = kSubLayer;
  subLayer.displayData.name = const_cast<wchar_t*>(L"compile test");
  subLayer.weight = FWPM_WEIGHT_RANGE_MAX;
  result = FwpmSubLayerAdd0(engine, &subLayer, nullptr);
  if (result == static_cast<DWORD>(FWP_E_ALREADY_EXISTS)) result = ERROR_SUCCESS;

  HANDLE enumHandle = nullptr;
  FWPM_FILTER_ENUM_TEMPLATE0 query = {};
  query.layerKey = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  if (FwpmFilterCreateEnumHandle0(engine, &query, &enumHandle) == ERROR_SUCCESS) {
    FWPM_FILTER0** filters = nullptr;
    UINT32 count = 0;
    if (FwpmFilterEnum0(engine, enumHandle, INFINITE, &filters, &count) == ERROR_SUCCESS) {
      for (UINT32 i = 0; i < count; ++i)
        if (IsEqualGUID(filters[i]->subLayerKey, kSubLayer)) std::printf("ours\n");
      FwpmFreeMemory0(reinterpret_cast<void**>(&filters));
    }
    FwpmFilterDestroyEnumHandle0(engine, enumHandle);
  }
  FwpmEngineClose0(engine);
  return result == ERROR_SUCCESS ? 0 : 1;
}
