/*
 * wdf.h - the KMDF subset a WFP callout driver uses (SPEC S15.1), with the WDK names: the
 * driver object, control devices, I/O queues and requests, spin and wait locks, object
 * attributes with typed contexts and cleanup callbacks, object deletion.
 *
 * Written for openwfp from the documented KMDF interface (docs/kmdf.md). KMDF sits on the same
 * device and IRP model as a WDM driver (km/device_io): WdfDriverCreate takes over the driver
 * object's dispatch routines and DriverUnload, a control device is an IoCreateDeviceSecure
 * device, a WDFREQUEST wraps the IRP the I/O manager sent, so a user-mode DeviceIoControl
 * (also over the control channel) reaches the queue's EvtIoDeviceControl.
 *
 * The functions are plain exported functions of libopenwfp (on Windows they are reached
 * through the WdfFunctions table; the names and signatures are the same). Compiles as C11 and
 * as C++17.
 */
#ifndef OPENWFP_KM_WDF_H
#define OPENWFP_KM_WDF_H

#include "wdm.h"
#include "wdmsec.h"

#ifndef KMDF_VERSION_MAJOR
#define KMDF_VERSION_MAJOR 1
#endif
#ifndef KMDF_VERSION_MINOR
#define KMDF_VERSION_MINOR 15
#endif

#ifdef __cplusplus
#define WDF_EXTERN_C extern "C"
#else
#define WDF_EXTERN_C
#endif
#define WDFAPI
#define WDFEXPORT(a) a
#define WDF_DECLARE_HANDLE(h) typedef struct h##__ *h

OPENWFP_BEGIN_DECLS

/* ---- Handles -------------------------------------------------------------------------------- */
typedef HANDLE WDFOBJECT, *PWDFOBJECT;
WDF_DECLARE_HANDLE(WDFDRIVER);
WDF_DECLARE_HANDLE(WDFDEVICE);
WDF_DECLARE_HANDLE(WDFQUEUE);
WDF_DECLARE_HANDLE(WDFREQUEST);
WDF_DECLARE_HANDLE(WDFFILEOBJECT);
WDF_DECLARE_HANDLE(WDFSPINLOCK);
WDF_DECLARE_HANDLE(WDFWAITLOCK);
WDF_DECLARE_HANDLE(WDFMEMORY);
WDF_DECLARE_HANDLE(WDFKEY);
WDF_DECLARE_HANDLE(WDFSTRING);
WDF_DECLARE_HANDLE(WDFCOLLECTION);
WDF_DECLARE_HANDLE(WDFWORKITEM);
WDF_DECLARE_HANDLE(WDFTIMER);
WDF_DECLARE_HANDLE(WDFDPC);
typedef WDFDEVICE *PWDFDEVICE;
typedef WDFQUEUE *PWDFQUEUE;
typedef WDFREQUEST *PWDFREQUEST;
typedef WDFDRIVER *PWDFDRIVER;

/* The framework's device initialization structure (opaque). */
typedef struct WDFDEVICE_INIT WDFDEVICE_INIT, *PWDFDEVICE_INIT;

#define WDF_NO_OBJECT_ATTRIBUTES NULL
#define WDF_NO_EVENT_CALLBACK NULL
#define WDF_NO_HANDLE NULL
#define WDF_NO_CONTEXT NULL
#define WDF_NO_SEND_OPTIONS NULL

typedef enum _WDF_TRI_STATE { WdfFalse = FALSE, WdfTrue = TRUE, WdfUseDefault = 2 } WDF_TRI_STATE, *PWDF_TRI_STATE;

#define WDF_ALIGN_SIZE_UP(Length, AlignTo) (((Length) + (AlignTo) - 1) & ~((AlignTo) - 1))
#define WDF_ALIGN_SIZE_DOWN(Length, AlignTo) ((Length) & ~((AlignTo) - 1))
#define WDF_TIMEOUT_TO_SEC ((LONGLONG)1 * 10 * 1000 * 1000)
#define WDF_REL_TIMEOUT_IN_SEC(Time) ((LONGLONG)(Time) * -WDF_TIMEOUT_TO_SEC)
#define WDF_REL_TIMEOUT_IN_MS(Time) ((LONGLONG)(Time) * -10 * 1000)
#define WDF_REL_TIMEOUT_IN_US(Time) ((LONGLONG)(Time) * -10)
#define WDF_ABS_TIMEOUT_IN_SEC(Time) ((LONGLONG)(Time) * WDF_TIMEOUT_TO_SEC)
#define WDF_ABS_TIMEOUT_IN_MS(Time) ((LONGLONG)(Time) * 10 * 1000)

/* ---- Object attributes and contexts --------------------------------------------------------- */
typedef enum _WDF_EXECUTION_LEVEL {
  WdfExecutionLevelInvalid = 0,
  WdfExecutionLevelInheritFromParent,
  WdfExecutionLevelPassive,
  WdfExecutionLevelDispatch
} WDF_EXECUTION_LEVEL;

typedef enum _WDF_SYNCHRONIZATION_SCOPE {
  WdfSynchronizationScopeInvalid = 0,
  WdfSynchronizationScopeInheritFromParent,
  WdfSynchronizationScopeDevice,
  WdfSynchronizationScopeQueue,
  WdfSynchronizationScopeNone
} WDF_SYNCHRONIZATION_SCOPE;

typedef void EVT_WDF_OBJECT_CONTEXT_CLEANUP(_In_ WDFOBJECT Object);
typedef EVT_WDF_OBJECT_CONTEXT_CLEANUP *PFN_WDF_OBJECT_CONTEXT_CLEANUP;
typedef void EVT_WDF_OBJECT_CONTEXT_DESTROY(_In_ WDFOBJECT Object);
typedef EVT_WDF_OBJECT_CONTEXT_DESTROY *PFN_WDF_OBJECT_CONTEXT_DESTROY;

typedef const struct _WDF_OBJECT_CONTEXT_TYPE_INFO *PCWDF_OBJECT_CONTEXT_TYPE_INFO;
typedef PCWDF_OBJECT_CONTEXT_TYPE_INFO (*PFN_GET_UNIQUE_CONTEXT_TYPE)(void);

typedef struct _WDF_OBJECT_CONTEXT_TYPE_INFO {
  ULONG Size;
  PCHAR ContextName;
  size_t ContextSize;
  PCWDF_OBJECT_CONTEXT_TYPE_INFO UniqueType;
  PFN_GET_UNIQUE_CONTEXT_TYPE EvtDriverGetUniqueContextType;
} WDF_OBJECT_CONTEXT_TYPE_INFO, *PWDF_OBJECT_CONTEXT_TYPE_INFO;

typedef struct _WDF_OBJECT_ATTRIBUTES {
  ULONG Size;
  PFN_WDF_OBJECT_CONTEXT_CLEANUP EvtCleanupCallback;
  PFN_WDF_OBJECT_CONTEXT_DESTROY EvtDestroyCallback;
  WDF_EXECUTION_LEVEL ExecutionLevel;
  WDF_SYNCHRONIZATION_SCOPE SynchronizationScope;
  WDFOBJECT ParentObject;
  size_t ContextSizeOverride;
  PCWDF_OBJECT_CONTEXT_TYPE_INFO ContextTypeInfo;
} WDF_OBJECT_ATTRIBUTES, *PWDF_OBJECT_ATTRIBUTES;

OPENWFP_INLINE void WDF_OBJECT_ATTRIBUTES_INIT(_Out_ PWDF_OBJECT_ATTRIBUTES Attributes) {
  memset(Attributes, 0, sizeof(WDF_OBJECT_ATTRIBUTES));
  Attributes->Size = sizeof(WDF_OBJECT_ATTRIBUTES);
  Attributes->ExecutionLevel = WdfExecutionLevelInheritFromParent;
  Attributes->SynchronizationScope = WdfSynchronizationScopeInheritFromParent;
}

#define WDF_TYPE_NAME_TO_TYPE_INFO(_contexttype) _WDF_##_contexttype##_TYPE_INFO
#define WDF_TYPE_NAME_POINTER_TYPE(_contexttype) WDF_POINTER_TYPE_##_contexttype
#define WDF_GET_CONTEXT_TYPE_INFO(_contexttype) \
  (WDF_TYPE_NAME_TO_TYPE_INFO(_contexttype).UniqueType)

#define WDF_OBJECT_ATTRIBUTES_SET_CONTEXT_TYPE(_attributes, _contexttype) \
  (_attributes)->ContextTypeInfo = WDF_GET_CONTEXT_TYPE_INFO(_contexttype)
#define WDF_OBJECT_ATTRIBUTES_INIT_CONTEXT_TYPE(_attributes, _contexttype) \
  WDF_OBJECT_ATTRIBUTES_INIT(_attributes);                                \
  WDF_OBJECT_ATTRIBUTES_SET_CONTEXT_TYPE(_attributes, _contexttype)

/* The context's type information is one weak (selectany) object per context type; the
 * accessor returns the object's context of that type or NULL. */
#define WDF_DECLARE_CONTEXT_TYPE_WITH_NAME(_contexttype, _castingfunction)                        \
  typedef _contexttype *WDF_TYPE_NAME_POINTER_TYPE(_contexttype);                                \
  WDF_EXTERN_C DECLSPEC_SELECTANY const WDF_OBJECT_CONTEXT_TYPE_INFO                              \
      WDF_TYPE_NAME_TO_TYPE_INFO(_contexttype) = {sizeof(WDF_OBJECT_CONTEXT_TYPE_INFO),           \
                                                  (PCHAR) #_contexttype, sizeof(_contexttype),    \
                                                  &WDF_TYPE_NAME_TO_TYPE_INFO(_contexttype), NULL}; \
  OPENWFP_INLINE _contexttype *_castingfunction(_In_ WDFOBJECT Handle) {                         \
    return (_contexttype *)WdfObjectGetTypedContextWorker(                                        \
        Handle, WDF_GET_CONTEXT_TYPE_INFO(_contexttype));                                         \
  }
#define WDF_DECLARE_CONTEXT_TYPE(_contexttype) \
  WDF_DECLARE_CONTEXT_TYPE_WITH_NAME(_contexttype, WdfObjectGet_##_contexttype)
#define WdfObjectGetTypedContext(handle, type) \
  ((type *)WdfObjectGetTypedContextWorker((WDFOBJECT)(handle), WDF_GET_CONTEXT_TYPE_INFO(type)))

/* ---- Driver ------------------------------------------------------------------------------- */
typedef NTSTATUS EVT_WDF_DRIVER_DEVICE_ADD(_In_ WDFDRIVER Driver, _Inout_ PWDFDEVICE_INIT DeviceInit);
typedef EVT_WDF_DRIVER_DEVICE_ADD *PFN_WDF_DRIVER_DEVICE_ADD;
typedef void EVT_WDF_DRIVER_UNLOAD(_In_ WDFDRIVER Driver);
typedef EVT_WDF_DRIVER_UNLOAD *PFN_WDF_DRIVER_UNLOAD;

typedef enum _WDF_DRIVER_INIT_FLAGS {
  WdfDriverInitNonPnpDriver = 0x00000001,
  WdfDriverInitNoDispatchOverride = 0x00000002,
  WdfVerifyOn = 0x00000004,
  WdfVerifierOn = 0x00000008,
  WdfDriverInitCompanion = 0x00000010
} WDF_DRIVER_INIT_FLAGS;

typedef struct _WDF_DRIVER_CONFIG {
  ULONG Size;
  PFN_WDF_DRIVER_DEVICE_ADD EvtDriverDeviceAdd;
  PFN_WDF_DRIVER_UNLOAD EvtDriverUnload;
  ULONG DriverInitFlags;
  ULONG DriverPoolTag;
} WDF_DRIVER_CONFIG, *PWDF_DRIVER_CONFIG;

OPENWFP_INLINE void WDF_DRIVER_CONFIG_INIT(_Out_ PWDF_DRIVER_CONFIG Config,
                                           _In_opt_ PFN_WDF_DRIVER_DEVICE_ADD EvtDriverDeviceAdd) {
  memset(Config, 0, sizeof(WDF_DRIVER_CONFIG));
  Config->Size = sizeof(WDF_DRIVER_CONFIG);
  Config->EvtDriverDeviceAdd = EvtDriverDeviceAdd;
}

/* ---- Devices and file objects ---------------------------------------------------------------- */
typedef enum _WDF_DEVICE_IO_TYPE {
  WdfDeviceIoUndefined = 0,
  WdfDeviceIoNeither,
  WdfDeviceIoBuffered,
  WdfDeviceIoDirect,
  WdfDeviceIoBufferedOrDirect = 4,
  WdfDeviceIoMaximum
} WDF_DEVICE_IO_TYPE, *PWDF_DEVICE_IO_TYPE;

typedef enum _WDF_FILEOBJECT_CLASS {
  WdfFileObjectInvalid = 0,
  WdfFileObjectNotRequired = 1,
  WdfFileObjectWdfCanUseFsContext = 2,
  WdfFileObjectWdfCanUseFsContext2 = 3,
  WdfFileObjectWdfCannotUseFsContexts = 4,
  WdfFileObjectCanBeOptional = 0x80000000
} WDF_FILEOBJECT_CLASS, *PWDF_FILEOBJECT_CLASS;

typedef void EVT_WDF_DEVICE_FILE_CREATE(_In_ WDFDEVICE Device, _In_ WDFREQUEST Request,
                                        _In_ WDFFILEOBJECT FileObject);
typedef EVT_WDF_DEVICE_FILE_CREATE *PFN_WDF_DEVICE_FILE_CREATE;
typedef void EVT_WDF_FILE_CLOSE(_In_ WDFFILEOBJECT FileObject);
typedef EVT_WDF_FILE_CLOSE *PFN_WDF_FILE_CLOSE;
typedef void EVT_WDF_FILE_CLEANUP(_In_ WDFFILEOBJECT FileObject);
typedef EVT_WDF_FILE_CLEANUP *PFN_WDF_FILE_CLEANUP;

typedef struct _WDF_FILEOBJECT_CONFIG {
  ULONG Size;
  PFN_WDF_DEVICE_FILE_CREATE EvtDeviceFileCreate;
  PFN_WDF_FILE_CLOSE EvtFileClose;
  PFN_WDF_FILE_CLEANUP EvtFileCleanup;
  WDF_TRI_STATE AutoForwardCleanupClose;
  WDF_FILEOBJECT_CLASS FileObjectClass;
} WDF_FILEOBJECT_CONFIG, *PWDF_FILEOBJECT_CONFIG;

OPENWFP_INLINE void WDF_FILEOBJECT_CONFIG_INIT(_Out_ PWDF_FILEOBJECT_CONFIG FileEventCallbacks,
                                               _In_opt_ PFN_WDF_DEVICE_FILE_CREATE EvtDeviceFileCreate,
                                               _In_opt_ PFN_WDF_FILE_CLOSE EvtFileClose,
                                               _In_opt_ PFN_WDF_FILE_CLEANUP EvtFileCleanup) {
  memset(FileEventCallbacks, 0, sizeof(WDF_FILEOBJECT_CONFIG));
  FileEventCallbacks->Size = sizeof(WDF_FILEOBJECT_CONFIG);
  FileEventCallbacks->EvtDeviceFileCreate = EvtDeviceFileCreate;
  FileEventCallbacks->EvtFileClose = EvtFileClose;
  FileEventCallbacks->EvtFileCleanup = EvtFileCleanup;
  FileEventCallbacks->FileObjectClass = WdfFileObjectWdfCannotUseFsContexts;
  FileEventCallbacks->AutoForwardCleanupClose = WdfUseDefault;
}

/* ---- Queues and requests ------------------------------------------------------------------- */
typedef enum _WDF_IO_QUEUE_DISPATCH_TYPE {
  WdfIoQueueDispatchInvalid = 0,
  WdfIoQueueDispatchSequential,
  WdfIoQueueDispatchParallel,
  WdfIoQueueDispatchManual,
  WdfIoQueueDispatchMax
} WDF_IO_QUEUE_DISPATCH_TYPE;

typedef enum _WDF_REQUEST_TYPE {
  WdfRequestTypeCreate = 0x0,
  WdfRequestTypeCreateNamedPipe = 0x1,
  WdfRequestTypeClose = 0x2,
  WdfRequestTypeRead = 0x3,
  WdfRequestTypeWrite = 0x4,
  WdfRequestTypeQueryInformation = 0x5,
  WdfRequestTypeSetInformation = 0x6,
  WdfRequestTypeQueryEA = 0x7,
  WdfRequestTypeSetEA = 0x8,
  WdfRequestTypeFlushBuffers = 0x9,
  WdfRequestTypeQueryVolumeInformation = 0xa,
  WdfRequestTypeSetVolumeInformation = 0xb,
  WdfRequestTypeDirectoryControl = 0xc,
  WdfRequestTypeFileSystemControl = 0xd,
  WdfRequestTypeDeviceControl = 0xe,
  WdfRequestTypeDeviceControlInternal = 0xf,
  WdfRequestTypeShutdown = 0x10,
  WdfRequestTypeLockControl = 0x11,
  WdfRequestTypeCleanup = 0x12,
  WdfRequestTypeCreateMailSlot = 0x13,
  WdfRequestTypeQuerySecurity = 0x14,
  WdfRequestTypeSetSecurity = 0x15,
  WdfRequestTypePower = 0x16,
  WdfRequestTypeSystemControl = 0x17,
  WdfRequestTypeDeviceChange = 0x18,
  WdfRequestTypeQueryQuota = 0x19,
  WdfRequestTypeSetQuota = 0x1A,
  WdfRequestTypePnp = 0x1B,
  WdfRequestTypeOther = 0x1C,
  WdfRequestTypeUsb = 0x40,
  WdfRequestTypeNoFormat = 0xFF,
  WdfRequestTypeMax
} WDF_REQUEST_TYPE;

typedef void EVT_WDF_IO_QUEUE_IO_DEFAULT(_In_ WDFQUEUE Queue, _In_ WDFREQUEST Request);
typedef EVT_WDF_IO_QUEUE_IO_DEFAULT *PFN_WDF_IO_QUEUE_IO_DEFAULT;
typedef void EVT_WDF_IO_QUEUE_IO_READ(_In_ WDFQUEUE Queue, _In_ WDFREQUEST Request, _In_ size_t Length);
typedef EVT_WDF_IO_QUEUE_IO_READ *PFN_WDF_IO_QUEUE_IO_READ;
typedef void EVT_WDF_IO_QUEUE_IO_WRITE(_In_ WDFQUEUE Queue, _In_ WDFREQUEST Request, _In_ size_t Length);
typedef EVT_WDF_IO_QUEUE_IO_WRITE *PFN_WDF_IO_QUEUE_IO_WRITE;
typedef void EVT_WDF_IO_QUEUE_IO_DEVICE_CONTROL(_In_ WDFQUEUE Queue, _In_ WDFREQUEST Request,
                                                _In_ size_t OutputBufferLength,
                                                _In_ size_t InputBufferLength,
                                                _In_ ULONG IoControlCode);
typedef EVT_WDF_IO_QUEUE_IO_DEVICE_CONTROL *PFN_WDF_IO_QUEUE_IO_DEVICE_CONTROL;
typedef void EVT_WDF_IO_QUEUE_IO_INTERNAL_DEVICE_CONTROL(_In_ WDFQUEUE Queue, _In_ WDFREQUEST Request,
                                                         _In_ size_t OutputBufferLength,
                                                         _In_ size_t InputBufferLength,
                                                         _In_ ULONG IoControlCode);
typedef EVT_WDF_IO_QUEUE_IO_INTERNAL_DEVICE_CONTROL *PFN_WDF_IO_QUEUE_IO_INTERNAL_DEVICE_CONTROL;
typedef void EVT_WDF_IO_QUEUE_IO_STOP(_In_ WDFQUEUE Queue, _In_ WDFREQUEST Request, _In_ ULONG ActionFlags);
typedef EVT_WDF_IO_QUEUE_IO_STOP *PFN_WDF_IO_QUEUE_IO_STOP;
typedef void EVT_WDF_IO_QUEUE_IO_RESUME(_In_ WDFQUEUE Queue, _In_ WDFREQUEST Request);
typedef EVT_WDF_IO_QUEUE_IO_RESUME *PFN_WDF_IO_QUEUE_IO_RESUME;
typedef void EVT_WDF_IO_QUEUE_IO_CANCELED_ON_QUEUE(_In_ WDFQUEUE Queue, _In_ WDFREQUEST Request);
typedef EVT_WDF_IO_QUEUE_IO_CANCELED_ON_QUEUE *PFN_WDF_IO_QUEUE_IO_CANCELED_ON_QUEUE;
typedef void EVT_WDF_REQUEST_CANCEL(_In_ WDFREQUEST Request);
typedef EVT_WDF_REQUEST_CANCEL *PFN_WDF_REQUEST_CANCEL;

typedef struct _WDF_IO_QUEUE_CONFIG {
  ULONG Size;
  WDF_IO_QUEUE_DISPATCH_TYPE DispatchType;
  WDF_TRI_STATE PowerManaged;
  BOOLEAN AllowZeroLengthRequests;
  BOOLEAN DefaultQueue;
  PFN_WDF_IO_QUEUE_IO_DEFAULT EvtIoDefault;
  PFN_WDF_IO_QUEUE_IO_READ EvtIoRead;
  PFN_WDF_IO_QUEUE_IO_WRITE EvtIoWrite;
  PFN_WDF_IO_QUEUE_IO_DEVICE_CONTROL EvtIoDeviceControl;
  PFN_WDF_IO_QUEUE_IO_INTERNAL_DEVICE_CONTROL EvtIoInternalDeviceControl;
  PFN_WDF_IO_QUEUE_IO_STOP EvtIoStop;
  PFN_WDF_IO_QUEUE_IO_RESUME EvtIoResume;
  PFN_WDF_IO_QUEUE_IO_CANCELED_ON_QUEUE EvtIoCanceledOnQueue;
  union {
    struct {
      ULONG NumberOfPresentedRequests;
    } Parallel;
  } Settings;
  WDFDRIVER Driver;
} WDF_IO_QUEUE_CONFIG, *PWDF_IO_QUEUE_CONFIG;

OPENWFP_INLINE void WDF_IO_QUEUE_CONFIG_INIT(_Out_ PWDF_IO_QUEUE_CONFIG Config,
                                             _In_ WDF_IO_QUEUE_DISPATCH_TYPE DispatchType) {
  memset(Config, 0, sizeof(WDF_IO_QUEUE_CONFIG));
  Config->Size = sizeof(WDF_IO_QUEUE_CONFIG);
  Config->PowerManaged = WdfUseDefault;
  Config->DispatchType = DispatchType;
  if (DispatchType == WdfIoQueueDispatchParallel) {
    Config->Settings.Parallel.NumberOfPresentedRequests = (ULONG)-1;
  }
}
OPENWFP_INLINE void WDF_IO_QUEUE_CONFIG_INIT_DEFAULT_QUEUE(_Out_ PWDF_IO_QUEUE_CONFIG Config,
                                                           _In_ WDF_IO_QUEUE_DISPATCH_TYPE DispatchType) {
  WDF_IO_QUEUE_CONFIG_INIT(Config, DispatchType);
  Config->DefaultQueue = TRUE;
}

typedef struct _WDF_REQUEST_PARAMETERS {
  USHORT Size;
  UCHAR MinorFunction;
  WDF_REQUEST_TYPE Type;
  union {
    struct {
      PVOID SecurityContext;
      ULONG Options;
      USHORT POINTER_ALIGNMENT FileAttributes;
      USHORT ShareAccess;
      ULONG POINTER_ALIGNMENT EaLength;
    } Create;
    struct {
      size_t Length;
      ULONG POINTER_ALIGNMENT Key;
      LONGLONG DeviceOffset;
    } Read;
    struct {
      size_t Length;
      ULONG POINTER_ALIGNMENT Key;
      LONGLONG DeviceOffset;
    } Write;
    struct {
      size_t OutputBufferLength;
      size_t POINTER_ALIGNMENT InputBufferLength;
      ULONG POINTER_ALIGNMENT IoControlCode;
      PVOID Type3InputBuffer;
    } DeviceIoControl;
    struct {
      PVOID Arg1;
      PVOID Arg2;
      ULONG POINTER_ALIGNMENT IoControlCode;
      PVOID Arg4;
    } Others;
  } Parameters;
} WDF_REQUEST_PARAMETERS, *PWDF_REQUEST_PARAMETERS;

OPENWFP_INLINE void WDF_REQUEST_PARAMETERS_INIT(_Out_ PWDF_REQUEST_PARAMETERS Parameters) {
  memset(Parameters, 0, sizeof(WDF_REQUEST_PARAMETERS));
  Parameters->Size = sizeof(WDF_REQUEST_PARAMETERS);
}

/* ---- Functions (libopenwfp, src/kmdf) ----------------------------------------------------- */
/* Objects. */
PVOID WdfObjectGetTypedContextWorker(_In_ WDFOBJECT Handle,
                                     _In_ PCWDF_OBJECT_CONTEXT_TYPE_INFO TypeInfo);
NTSTATUS WdfObjectAllocateContext(_In_ WDFOBJECT Handle, _In_ PWDF_OBJECT_ATTRIBUTES ContextAttributes,
                                  _Outptr_opt_ PVOID *Context);
WDFOBJECT WdfObjectContextGetObject(_In_ PVOID ContextPointer);
void WdfObjectDelete(_In_ WDFOBJECT Object);
void WdfObjectReferenceActual(_In_ WDFOBJECT Handle, _In_opt_ PVOID Tag, _In_ LONG Line,
                              _In_z_ PCCH File);
void WdfObjectDereferenceActual(_In_ WDFOBJECT Handle, _In_opt_ PVOID Tag, _In_ LONG Line,
                                _In_z_ PCCH File);
#define WdfObjectReference(Handle) WdfObjectReferenceActual(Handle, NULL, __LINE__, __FILE__)
#define WdfObjectReferenceWithTag(Handle, Tag) WdfObjectReferenceActual(Handle, Tag, __LINE__, __FILE__)
#define WdfObjectDereference(Handle) WdfObjectDereferenceActual(Handle, NULL, __LINE__, __FILE__)
#define WdfObjectDereferenceWithTag(Handle, Tag) \
  WdfObjectDereferenceActual(Handle, Tag, __LINE__, __FILE__)

/* Driver. */
NTSTATUS WdfDriverCreate(_In_ PDRIVER_OBJECT DriverObject, _In_ PCUNICODE_STRING RegistryPath,
                         _In_opt_ PWDF_OBJECT_ATTRIBUTES DriverAttributes,
                         _In_ PWDF_DRIVER_CONFIG DriverConfig, _Out_opt_ WDFDRIVER *Driver);
PDRIVER_OBJECT WdfDriverWdmGetDriverObject(_In_ WDFDRIVER Driver);
WDFDRIVER WdfWdmDriverGetWdfDriverHandle(_In_ PDRIVER_OBJECT DriverObject);
WDFDRIVER WdfGetDriver(void);
PWSTR WdfDriverGetRegistryPath(_In_ WDFDRIVER Driver);

/* Devices. */
PWDFDEVICE_INIT WdfControlDeviceInitAllocate(_In_ WDFDRIVER Driver, _In_ PCUNICODE_STRING SDDLString);
void WdfDeviceInitFree(_In_ PWDFDEVICE_INIT DeviceInit);
NTSTATUS WdfDeviceInitAssignName(_In_ PWDFDEVICE_INIT DeviceInit, _In_opt_ PCUNICODE_STRING DeviceName);
NTSTATUS WdfDeviceInitAssignSDDLString(_In_ PWDFDEVICE_INIT DeviceInit,
                                       _In_opt_ PCUNICODE_STRING SDDLString);
void WdfDeviceInitSetExclusive(_In_ PWDFDEVICE_INIT DeviceInit, _In_ BOOLEAN IsExclusive);
void WdfDeviceInitSetDeviceType(_In_ PWDFDEVICE_INIT DeviceInit, _In_ DEVICE_TYPE DeviceType);
void WdfDeviceInitSetCharacteristics(_In_ PWDFDEVICE_INIT DeviceInit, _In_ ULONG DeviceCharacteristics,
                                     _In_ BOOLEAN OrInValues);
void WdfDeviceInitSetIoType(_In_ PWDFDEVICE_INIT DeviceInit, _In_ WDF_DEVICE_IO_TYPE IoType);
void WdfDeviceInitSetFileObjectConfig(_In_ PWDFDEVICE_INIT DeviceInit,
                                      _In_ PWDF_FILEOBJECT_CONFIG FileObjectConfig,
                                      _In_opt_ PWDF_OBJECT_ATTRIBUTES FileObjectAttributes);
NTSTATUS WdfDeviceCreate(_Inout_ PWDFDEVICE_INIT *DeviceInit,
                         _In_opt_ PWDF_OBJECT_ATTRIBUTES DeviceAttributes, _Out_ WDFDEVICE *Device);
NTSTATUS WdfDeviceCreateSymbolicLink(_In_ WDFDEVICE Device, _In_ PCUNICODE_STRING SymbolicLinkName);
void WdfControlFinishInitializing(_In_ WDFDEVICE Device);
PDEVICE_OBJECT WdfDeviceWdmGetDeviceObject(_In_ WDFDEVICE Device);
WDFDEVICE WdfWdmDeviceGetWdfDeviceHandle(_In_ PDEVICE_OBJECT DeviceObject);
WDFDRIVER WdfDeviceGetDriver(_In_ WDFDEVICE Device);
WDFQUEUE WdfDeviceGetDefaultQueue(_In_ WDFDEVICE Device);
NTSTATUS WdfDeviceConfigureRequestDispatching(_In_ WDFDEVICE Device, _In_ WDFQUEUE Queue,
                                              _In_ WDF_REQUEST_TYPE RequestType);

/* File objects. */
WDFDEVICE WdfFileObjectGetDevice(_In_ WDFFILEOBJECT FileObject);
PFILE_OBJECT WdfFileObjectWdmGetFileObject(_In_ WDFFILEOBJECT FileObject);

/* Queues. */
NTSTATUS WdfIoQueueCreate(_In_ WDFDEVICE Device, _In_ PWDF_IO_QUEUE_CONFIG Config,
                          _In_opt_ PWDF_OBJECT_ATTRIBUTES QueueAttributes, _Out_opt_ WDFQUEUE *Queue);
NTSTATUS WdfIoQueueRetrieveNextRequest(_In_ WDFQUEUE Queue, _Out_ WDFREQUEST *OutRequest);
NTSTATUS WdfIoQueueRetrieveRequestByFileObject(_In_ WDFQUEUE Queue, _In_ WDFFILEOBJECT FileObject,
                                               _Out_ WDFREQUEST *OutRequest);
WDFDEVICE WdfIoQueueGetDevice(_In_ WDFQUEUE Queue);
void WdfIoQueuePurgeSynchronously(_In_ WDFQUEUE Queue);

/* Requests. */
NTSTATUS WdfRequestRetrieveInputBuffer(_In_ WDFREQUEST Request, _In_ size_t MinimumRequiredLength,
                                       _Outptr_result_bytebuffer_(*Length) PVOID *Buffer,
                                       _Out_opt_ size_t *Length);
NTSTATUS WdfRequestRetrieveOutputBuffer(_In_ WDFREQUEST Request, _In_ size_t MinimumRequiredSize,
                                        _Outptr_result_bytebuffer_(*Length) PVOID *Buffer,
                                        _Out_opt_ size_t *Length);
void WdfRequestComplete(_In_ WDFREQUEST Request, _In_ NTSTATUS Status);
void WdfRequestCompleteWithInformation(_In_ WDFREQUEST Request, _In_ NTSTATUS Status,
                                       _In_ ULONG_PTR Information);
void WdfRequestCompleteWithPriorityBoost(_In_ WDFREQUEST Request, _In_ NTSTATUS Status,
                                         _In_ CCHAR PriorityBoost);
void WdfRequestSetInformation(_In_ WDFREQUEST Request, _In_ ULONG_PTR Information);
ULONG_PTR WdfRequestGetInformation(_In_ WDFREQUEST Request);
NTSTATUS WdfRequestGetStatus(_In_ WDFREQUEST Request);
void WdfRequestGetParameters(_In_ WDFREQUEST Request, _Out_ PWDF_REQUEST_PARAMETERS Parameters);
NTSTATUS WdfRequestForwardToIoQueue(_In_ WDFREQUEST Request, _In_ WDFQUEUE DestinationQueue);
NTSTATUS WdfRequestRequeue(_In_ WDFREQUEST Request);
void WdfRequestMarkCancelable(_In_ WDFREQUEST Request, _In_ PFN_WDF_REQUEST_CANCEL EvtRequestCancel);
NTSTATUS WdfRequestMarkCancelableEx(_In_ WDFREQUEST Request, _In_ PFN_WDF_REQUEST_CANCEL EvtRequestCancel);
NTSTATUS WdfRequestUnmarkCancelable(_In_ WDFREQUEST Request);
BOOLEAN WdfRequestIsCanceled(_In_ WDFREQUEST Request);
PIRP WdfRequestWdmGetIrp(_In_ WDFREQUEST Request);
WDFFILEOBJECT WdfRequestGetFileObject(_In_ WDFREQUEST Request);
WDFQUEUE WdfRequestGetIoQueue(_In_ WDFREQUEST Request);
KPROCESSOR_MODE WdfRequestGetRequestorMode(_In_ WDFREQUEST Request);

/* Spin locks and wait locks. */
NTSTATUS WdfSpinLockCreate(_In_opt_ PWDF_OBJECT_ATTRIBUTES SpinLockAttributes, _Out_ WDFSPINLOCK *SpinLock);
void WdfSpinLockAcquire(_In_ WDFSPINLOCK SpinLock);
void WdfSpinLockRelease(_In_ WDFSPINLOCK SpinLock);
NTSTATUS WdfWaitLockCreate(_In_opt_ PWDF_OBJECT_ATTRIBUTES LockAttributes, _Out_ WDFWAITLOCK *Lock);
NTSTATUS WdfWaitLockAcquire(_In_ WDFWAITLOCK Lock, _In_opt_ PLONGLONG Timeout);
void WdfWaitLockRelease(_In_ WDFWAITLOCK Lock);

OPENWFP_END_DECLS

#endif /* OPENWFP_KM_WDF_H */
