/*
 * guids.c - defines every GUID the km headers declare with DEFINE_GUID (layers, conditions,
 * sublayers, providers), so libopenwfp exports them and a driver links whether or not it
 * includes <initguid.h> itself (SPEC S1.2). The definitions are weak: a driver's own copy and
 * this one coexist.
 */
#include <initguid.h>

#include <ntddk.h>
#include <wdm.h>
#include <ntstatus.h>
#include <ndis.h>
#include <fwpsk.h>
#include <fwpmk.h>
#include <fwpvi.h>
#include <fwptypes.h>
#include <fwpmtypes.h>
#include <fwpstypes.h>
#include <mstcpip.h>
#include <ws2def.h>
#include <ws2ipdef.h>
#include <guiddef.h>
