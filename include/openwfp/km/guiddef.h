/*
 * guiddef.h - GUID, IsEqualGUID and DEFINE_GUID (SPEC S1.2).
 *
 * DEFINE_GUID(name, l, w1, w2, b1..b8) declares `name` as an extern const GUID with C linkage.
 * When INITGUID is defined (by <initguid.h>, or by the includer before this header) it defines the
 * object instead. Definitions are weak (the Windows equivalent is DECLSPEC_SELECTANY), so a driver
 * that defines a GUID itself and libopenwfp, which defines every GUID the headers declare
 * (src/kapi/guids.c), link together in any combination. C and C++ code refer to the same symbol.
 *
 * Like the Windows header, the DEFINE_GUID part below sits outside the include guard, so that
 * including <initguid.h> after <guiddef.h> switches the following DEFINE_GUIDs to definitions.
 */
#ifndef OPENWFP_KM_GUIDDEF_H
#define OPENWFP_KM_GUIDDEF_H

#include "openwfp_km_base.h"

#ifndef GUID_DEFINED
#define GUID_DEFINED
typedef struct _GUID {
  uint32_t Data1;
  uint16_t Data2;
  uint16_t Data3;
  uint8_t Data4[8];
} GUID;
#endif

typedef GUID *LPGUID;
typedef GUID *PGUID;
typedef const GUID *LPCGUID;
typedef const GUID *PCGUID;
typedef GUID IID;
typedef IID *LPIID;
typedef GUID CLSID;
typedef CLSID *LPCLSID;
typedef GUID FMTID;

C_ASSERT(sizeof(GUID) == 16);

#ifdef __cplusplus
#define REFGUID const GUID &
#define REFIID const IID &
#define REFCLSID const IID &
#define REFFMTID const IID &
#else
#define REFGUID const GUID *__MIDL_CONST
#define REFIID const IID *__MIDL_CONST
#define REFCLSID const IID *__MIDL_CONST
#define REFFMTID const IID *__MIDL_CONST
#endif

#ifdef __cplusplus
/* C++: IsEqualGUID takes references, as on Windows, and GUIDs compare with == and !=. */
inline int InlineIsEqualGUID(REFGUID rguid1, REFGUID rguid2) {
  return memcmp(&rguid1, &rguid2, sizeof(GUID)) == 0;
}
inline int IsEqualGUID(REFGUID rguid1, REFGUID rguid2) {
  return memcmp(&rguid1, &rguid2, sizeof(GUID)) == 0;
}
inline bool operator==(REFGUID guidOne, REFGUID guidOther) { return !!IsEqualGUID(guidOne, guidOther); }
inline bool operator!=(REFGUID guidOne, REFGUID guidOther) { return !(guidOne == guidOther); }
#else
/* C: IsEqualGUID takes pointers, as on Windows. */
#define InlineIsEqualGUID(rguid1, rguid2) (!memcmp((rguid1), (rguid2), sizeof(GUID)))
#define IsEqualGUID(rguid1, rguid2) (!memcmp((rguid1), (rguid2), sizeof(GUID)))
#endif
#define IsEqualIID(riid1, riid2) IsEqualGUID(riid1, riid2)
#define IsEqualCLSID(rclsid1, rclsid2) IsEqualGUID(rclsid1, rclsid2)
#define IsEqualFMTID(rfmtid1, rfmtid2) IsEqualGUID(rfmtid1, rfmtid2)

#endif /* OPENWFP_KM_GUIDDEF_H */

/* ---- DEFINE_GUID: re-evaluated on every inclusion --------------------------------------- */
#ifdef DEFINE_GUID
#undef DEFINE_GUID
#endif

#ifdef INITGUID
#ifdef __cplusplus
#define DEFINE_GUID(name, l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8) \
  extern "C" __attribute__((weak, visibility("default"))) const GUID name = \
      {l, w1, w2, {b1, b2, b3, b4, b5, b6, b7, b8}}
#else
#define DEFINE_GUID(name, l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8) \
  __attribute__((weak, visibility("default"))) const GUID name = \
      {l, w1, w2, {b1, b2, b3, b4, b5, b6, b7, b8}}
#endif
#else
#ifdef __cplusplus
#define DEFINE_GUID(name, l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8) \
  extern "C" const GUID name
#else
#define DEFINE_GUID(name, l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8) \
  extern const GUID name
#endif
#endif

#ifndef DEFINE_OLEGUID
#define DEFINE_OLEGUID(name, l, w1, w2) \
  DEFINE_GUID(name, l, w1, w2, 0xC0, 0, 0, 0, 0, 0, 0, 0x46)
#endif

/* The all-zero GUID (IID_NULL / GUID_NULL), an inline constant so it needs no definition. */
#ifndef OPENWFP_KM_GUID_NULL_DEFINED
#define OPENWFP_KM_GUID_NULL_DEFINED
__attribute__((unused)) static const GUID OPENWFP_GUID_NULL = {0, 0, 0, {0, 0, 0, 0, 0, 0, 0, 0}};
#define GUID_NULL OPENWFP_GUID_NULL
#define IID_NULL OPENWFP_GUID_NULL
#define CLSID_NULL OPENWFP_GUID_NULL
#endif
