/*
 * openwfp_wpp.h - what a generated <source>.tmh gives a driver that uses WPP software tracing
 * (the WDK runs the tracewpp preprocessor; openwfp_add_driver(... WPP) and
 * scripts/check-foreign.sh generate a .tmh that includes this header). WPP_INIT_TRACING and
 * WPP_CLEANUP do nothing; DoTraceMessage(flag, fmt, ...) prints through DbgPrintEx with the
 * format's WPP extensions (%!STATUS!, %!IPADDR!, ...) shown as hexadecimal values.
 */
#ifndef OPENWFP_KM_WPP_H
#define OPENWFP_KM_WPP_H

#include "wdm.h"

#ifndef WPP_INIT_TRACING
#define WPP_INIT_TRACING(DriverObject, RegistryPath) ((void)(DriverObject), (void)(RegistryPath))
#endif
#ifndef WPP_CLEANUP
#define WPP_CLEANUP(DriverObject) ((void)(DriverObject))
#endif

OPENWFP_BEGIN_DECLS
/* Prints one trace line "[flag] message" through DbgPrintEx (DPFLTR_IHVDRIVER_ID, INFO). */
void openwfp_WppTrace(_In_z_ PCSTR Flag, _In_z_ PCSTR Format, ...);
OPENWFP_END_DECLS

#ifndef DoTraceMessage
#define DoTraceMessage(Flag, ...) openwfp_WppTrace(#Flag, __VA_ARGS__)
#endif
#ifndef TraceEvents
#define TraceEvents(Level, Flag, ...) openwfp_WppTrace(#Flag, __VA_ARGS__)
#endif

#endif /* OPENWFP_KM_WPP_H */
