/*
 * initguid.h - after this header, DEFINE_GUID defines GUID objects instead of declaring them
 * (SPEC S1.2). Include it in exactly the translation units that should own the definitions,
 * before the headers whose GUIDs they define; the definitions are weak, so owning a GUID that
 * libopenwfp also exports is harmless.
 */
#ifndef INITGUID
#define INITGUID
#endif
#include "guiddef.h"
