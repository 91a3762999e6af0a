// openwfp_version() (openwfp/version.h): the version of this libopenwfp, from project(VERSION).
#include "openwfp/version.h"

extern "C" const char* openwfp_version(void) { return OPENWFP_VERSION_STRING; }
