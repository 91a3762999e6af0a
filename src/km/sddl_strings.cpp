// km/sddl_strings.cpp - the SDDL_DEVOBJ_* UNICODE_STRING constants of wdmsec.h (on Windows they
// come from wdmsec.lib). The strings are the WDK's documented values.
#include <wdmsec.h>

#define OPENWFP_SDDL(name, text) \
  extern "C" const UNICODE_STRING name = RTL_CONSTANT_STRING(text);

OPENWFP_SDDL(SDDL_DEVOBJ_KERNEL_ONLY, L"D:P")
OPENWFP_SDDL(SDDL_DEVOBJ_SYS_ALL, L"D:P(A;;GA;;;SY)")
OPENWFP_SDDL(SDDL_DEVOBJ_SYS_ALL_ADM_ALL, L"D:P(A;;GA;;;SY)(A;;GA;;;BA)")
OPENWFP_SDDL(SDDL_DEVOBJ_SYS_ALL_ADM_RX, L"D:P(A;;GA;;;SY)(A;;GRGX;;;BA)")
OPENWFP_SDDL(SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_R, L"D:P(A;;GA;;;SY)(A;;GRGWGX;;;BA)(A;;GR;;;WD)")
OPENWFP_SDDL(SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_RW_RES_R,
             L"D:P(A;;GA;;;SY)(A;;GRGWGX;;;BA)(A;;GRGW;;;WD)(A;;GR;;;RC)")
OPENWFP_SDDL(SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_RWX_RES_RWX,
             L"D:P(A;;GA;;;SY)(A;;GRGWGX;;;BA)(A;;GRGWGX;;;WD)(A;;GRGWGX;;;RC)")
