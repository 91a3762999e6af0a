/*
 * wdm.h - the Windows kernel support a WFP redirect callout driver uses (SPEC S1.1): driver and
 * device objects, pool allocation, spin locks and IRQL, work items, events and waits, system
 * threads and object references, IRP cancellation and cancel-safe queues, debug output, time,
 * memory and byte-order helpers, doubly linked lists and interlocked operations.
 *
 * Functions are declared here and implemented by libopenwfp (src/kapi); only small helpers are
 * static inline. Names, parameters and values are the WDK's.
 */
#ifndef OPENWFP_KM_WDM_H
#define OPENWFP_KM_WDM_H

#include "openwfp_km_base.h"
#include "ntstatus.h"
#include "guiddef.h"

/* ---- IRQL -------------------------------------------------------------------------------- */
#define PASSIVE_LEVEL 0
#define LOW_LEVEL 0
#define APC_LEVEL 1
#define DISPATCH_LEVEL 2
#define CMCI_LEVEL 5
#define CLOCK_LEVEL 13
#define IPI_LEVEL 14
#define DRS_LEVEL 14
#define POWER_LEVEL 14
#define PROFILE_LEVEL 15
#define HIGH_LEVEL 15

/* ---- Processor modes --------------------------------------------------------------------- */
typedef enum _MODE { KernelMode = 0, UserMode = 1, MaximumMode = 2 } MODE;

/* ---- Spin locks -------------------------------------------------------------------------- */
typedef ULONG_PTR KSPIN_LOCK;
typedef KSPIN_LOCK *PKSPIN_LOCK;

typedef struct _KSPIN_LOCK_QUEUE {
  struct _KSPIN_LOCK_QUEUE *volatile Next;
  PKSPIN_LOCK volatile Lock;
} KSPIN_LOCK_QUEUE, *PKSPIN_LOCK_QUEUE;

typedef struct _KLOCK_QUEUE_HANDLE {
  KSPIN_LOCK_QUEUE LockQueue;
  KIRQL OldIrql;
} KLOCK_QUEUE_HANDLE, *PKLOCK_QUEUE_HANDLE;

/* ---- Pool -------------------------------------------------------------------------------- */
typedef enum _POOL_TYPE {
  NonPagedPool = 0,
  NonPagedPoolExecute = NonPagedPool,
  PagedPool = 1,
  NonPagedPoolMustSucceed = NonPagedPool + 2,
  DontUseThisType = 3,
  NonPagedPoolCacheAligned = NonPagedPool + 4,
  PagedPoolCacheAligned = 5,
  NonPagedPoolCacheAlignedMustS = NonPagedPool + 6,
  MaxPoolType = 7,
  NonPagedPoolBase = 0,
  NonPagedPoolBaseMustSucceed = NonPagedPoolBase + 2,
  NonPagedPoolBaseCacheAligned = NonPagedPoolBase + 4,
  NonPagedPoolBaseCacheAlignedMustS = NonPagedPoolBase + 6,
  NonPagedPoolSession = 32,
  PagedPoolSession = NonPagedPoolSession + 1,
  NonPagedPoolMustSucceedSession = PagedPoolSession + 1,
  DontUseThisTypeSession = NonPagedPoolMustSucceedSession + 1,
  NonPagedPoolCacheAlignedSession = DontUseThisTypeSession + 1,
  PagedPoolCacheAlignedSession = NonPagedPoolCacheAlignedSession + 1,
  NonPagedPoolCacheAlignedMustSSession = PagedPoolCacheAlignedSession + 1,
  NonPagedPoolNx = 512,
  NonPagedPoolNxCacheAligned = NonPagedPoolNx + 4,
  NonPagedPoolSessionNx = NonPagedPoolNx + 32
} POOL_TYPE;

typedef ULONG64 POOL_FLAGS;

#define POOL_FLAG_REQUIRED_START 0x0000000000000001ULL
#define POOL_FLAG_USE_QUOTA 0x0000000000000001ULL
#define POOL_FLAG_UNINITIALIZED 0x0000000000000002ULL
#define POOL_FLAG_SESSION 0x0000000000000004ULL
#define POOL_FLAG_CACHE_ALIGNED 0x0000000000000008ULL
#define POOL_FLAG_RESERVED1 0x0000000000000010ULL
#define POOL_FLAG_RAISE_ON_FAILURE 0x0000000000000020ULL
#define POOL_FLAG_NON_PAGED 0x0000000000000040ULL
#define POOL_FLAG_NON_PAGED_EXECUTE 0x0000000000000080ULL
#define POOL_FLAG_PAGED 0x0000000000000100ULL
#define POOL_FLAG_RESERVED2 0x0000000000000200ULL
#define POOL_FLAG_RESERVED3 0x0000000000000400ULL
#define POOL_FLAG_REQUIRED_END 0x0000000080000000ULL
#define POOL_FLAG_OPTIONAL_START 0x0000000100000000ULL
#define POOL_FLAG_SPECIAL_POOL 0x0000000100000000ULL
#define POOL_FLAG_OPTIONAL_END 0x8000000000000000ULL

/* ---- Work queues ------------------------------------------------------------------------- */
typedef enum _WORK_QUEUE_TYPE {
  CriticalWorkQueue = 0,
  DelayedWorkQueue = 1,
  HyperCriticalWorkQueue = 2,
  NormalWorkQueue = 3,
  BackgroundWorkQueue = 4,
  RealTimeWorkQueue = 5,
  SuperCriticalWorkQueue = 6,
  MaximumWorkQueue = 7,
  CustomPriorityWorkQueue = 32
} WORK_QUEUE_TYPE;

/* ---- Access rights and object attributes ------------------------------------------------- */
#define DELETE 0x00010000L
#define READ_CONTROL 0x00020000L
#define WRITE_DAC 0x00040000L
#define WRITE_OWNER 0x00080000L
#define SYNCHRONIZE 0x00100000L
#define STANDARD_RIGHTS_REQUIRED 0x000F0000L
#define STANDARD_RIGHTS_READ READ_CONTROL
#define STANDARD_RIGHTS_WRITE READ_CONTROL
#define STANDARD_RIGHTS_EXECUTE READ_CONTROL
#define STANDARD_RIGHTS_ALL 0x001F0000L
#define SPECIFIC_RIGHTS_ALL 0x0000FFFFL
#define GENERIC_READ 0x80000000L
#define GENERIC_WRITE 0x40000000L
#define GENERIC_EXECUTE 0x20000000L
#define GENERIC_ALL 0x10000000L
#define THREAD_TERMINATE 0x0001
#define THREAD_SUSPEND_RESUME 0x0002
#define THREAD_ALERT 0x0004
#define THREAD_GET_CONTEXT 0x0008
#define THREAD_SET_CONTEXT 0x0010
#define THREAD_SET_INFORMATION 0x0020
#define THREAD_QUERY_INFORMATION 0x0040
#define THREAD_ALL_ACCESS (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0xFFFF)
#define EVENT_QUERY_STATE 0x0001
#define EVENT_MODIFY_STATE 0x0002
#define EVENT_ALL_ACCESS (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x3)

#define OBJ_INHERIT 0x00000002L
#define OBJ_PERMANENT 0x00000010L
#define OBJ_EXCLUSIVE 0x00000020L
#define OBJ_CASE_INSENSITIVE 0x00000040L
#define OBJ_OPENIF 0x00000080L
#define OBJ_OPENLINK 0x00000100L
#define OBJ_KERNEL_HANDLE 0x00000200L
#define OBJ_FORCE_ACCESS_CHECK 0x00000400L
#define OBJ_VALID_ATTRIBUTES 0x000007F2L

typedef struct _OBJECT_ATTRIBUTES {
  ULONG Length;
  HANDLE RootDirectory;
  PUNICODE_STRING ObjectName;
  ULONG Attributes;
  PVOID SecurityDescriptor;
  PVOID SecurityQualityOfService;
} OBJECT_ATTRIBUTES, *POBJECT_ATTRIBUTES;
typedef const OBJECT_ATTRIBUTES *PCOBJECT_ATTRIBUTES;

#define InitializeObjectAttributes(p, n, a, r, s) \
  do {                                            \
    (p)->Length = sizeof(OBJECT_ATTRIBUTES);      \
    (p)->RootDirectory = (r);                     \
    (p)->Attributes = (a);                        \
    (p)->ObjectName = (n);                        \
    (p)->SecurityDescriptor = (s);                \
    (p)->SecurityQualityOfService = NULL;         \
  } while (0)

typedef struct _CLIENT_ID {
  HANDLE UniqueProcess;
  HANDLE UniqueThread;
} CLIENT_ID, *PCLIENT_ID;

typedef struct _OBJECT_HANDLE_INFORMATION {
  ULONG HandleAttributes;
  ACCESS_MASK GrantedAccess;
} OBJECT_HANDLE_INFORMATION, *POBJECT_HANDLE_INFORMATION;

/* Object types (opaque): pass *PsThreadType to ObReferenceObjectByHandle. */
typedef struct _OBJECT_TYPE *POBJECT_TYPE;

#define NtCurrentProcess() ((HANDLE)(LONG_PTR)-1)
#define ZwCurrentProcess() NtCurrentProcess()
#define NtCurrentThread() ((HANDLE)(LONG_PTR)-2)
#define ZwCurrentThread() NtCurrentThread()

/* ---- Dispatcher objects: events, threads, waits ------------------------------------------ */
/* The header every waitable kernel object starts with (24 bytes on x64). openwfp keeps an
 * object's state in SignalState; WaitListHead is not used (waiters are tracked by address). */
typedef struct _DISPATCHER_HEADER {
  union {
    struct {
      UCHAR Type;
      UCHAR Signalling;
      UCHAR Size;
      UCHAR Reserved1;
    };
    volatile LONG Lock;
  };
  LONG SignalState;
  LIST_ENTRY WaitListHead;
} DISPATCHER_HEADER, *PDISPATCHER_HEADER;

typedef struct _KEVENT {
  DISPATCHER_HEADER Header;
} KEVENT, *PKEVENT, *PRKEVENT;

typedef enum _EVENT_TYPE { NotificationEvent = 0, SynchronizationEvent = 1 } EVENT_TYPE;

typedef enum _WAIT_TYPE { WaitAll = 0, WaitAny = 1, WaitNotification = 2, WaitDequeue = 3, WaitDpc = 4 } WAIT_TYPE;

typedef enum _KWAIT_REASON {
  Executive = 0,
  FreePage = 1,
  PageIn = 2,
  PoolAllocation = 3,
  DelayExecution = 4,
  Suspended = 5,
  UserRequest = 6,
  WrExecutive = 7,
  WrFreePage = 8,
  WrPageIn = 9,
  WrPoolAllocation = 10,
  WrDelayExecution = 11,
  WrSuspended = 12,
  WrUserRequest = 13,
  WrSpare0 = 14,
  WrQueue = 15,
  WrLpcReceive = 16,
  WrLpcReply = 17,
  WrVirtualMemory = 18,
  WrPageOut = 19,
  WrRendezvous = 20,
  WrKeyedEvent = 21,
  WrTerminated = 22,
  WrProcessInSwap = 23,
  WrCpuRateControl = 24,
  WrCalloutStack = 25,
  WrKernel = 26,
  WrResource = 27,
  WrPushLock = 28,
  WrMutex = 29,
  WrQuantumEnd = 30,
  WrDispatchInt = 31,
  WrPreempted = 32,
  WrYieldExecution = 33,
  WrFastMutex = 34,
  WrGuardedMutex = 35,
  WrRundown = 36,
  WrAlertByThreadId = 37,
  WrDeferredPreempt = 38,
  WrPhysicalFault = 39,
  MaximumWaitReason = 40
} KWAIT_REASON;

/* Threads: PKTHREAD and PETHREAD name the same object (a dispatcher object, signaled when the
 * thread has ended), as on Windows. */
typedef struct _KTHREAD *PKTHREAD, *PRKTHREAD;
typedef struct _ETHREAD *PETHREAD;
typedef struct _KPROCESS *PKPROCESS, *PRKPROCESS;
typedef struct _EPROCESS *PEPROCESS;

typedef struct _KWAIT_BLOCK {
  LIST_ENTRY WaitListEntry;
  UCHAR WaitType;
  volatile UCHAR BlockState;
  USHORT WaitKey;
  LONG SpareLong;
  PKTHREAD Thread;
  PVOID Object;
  PVOID SparePtr;
} KWAIT_BLOCK, *PKWAIT_BLOCK, *PRKWAIT_BLOCK;

#define THREAD_WAIT_OBJECTS 3
#define MAXIMUM_WAIT_OBJECTS 64

/* Priority increments (KeSetEvent, IoCompleteRequest); openwfp ignores them. */
#define EVENT_INCREMENT 1
#define IO_DISK_INCREMENT 1
#define SEMAPHORE_INCREMENT 1

typedef void KSTART_ROUTINE(_In_ PVOID StartContext);
typedef KSTART_ROUTINE *PKSTART_ROUTINE;

/* ---- I/O status, IRPs, driver and device objects ----------------------------------------- */
typedef struct _IO_STATUS_BLOCK {
  union {
    NTSTATUS Status;
    PVOID Pointer;
  };
  ULONG_PTR Information;
} IO_STATUS_BLOCK, *PIO_STATUS_BLOCK;

#define IRP_MJ_CREATE 0x00
#define IRP_MJ_CREATE_NAMED_PIPE 0x01
#define IRP_MJ_CLOSE 0x02
#define IRP_MJ_READ 0x03
#define IRP_MJ_WRITE 0x04
#define IRP_MJ_DEVICE_CONTROL 0x0e
#define IRP_MJ_INTERNAL_DEVICE_CONTROL 0x0f
#define IRP_MJ_SHUTDOWN 0x10
#define IRP_MJ_CLEANUP 0x12
#define IRP_MJ_POWER 0x16
#define IRP_MJ_PNP 0x1b
#define IRP_MJ_MAXIMUM_FUNCTION 0x1b

#define IO_NO_INCREMENT 0
#define IO_NETWORK_INCREMENT 2

struct _DEVICE_OBJECT;
struct _DRIVER_OBJECT;
struct _IRP;
struct _FILE_OBJECT;
struct _IO_STACK_LOCATION;

/* x64 POINTER_ALIGNMENT: the member starts on an 8-byte boundary (IO_STACK_LOCATION). */
#ifndef POINTER_ALIGNMENT
#define POINTER_ALIGNMENT DECLSPEC_ALIGN(8)
#endif

typedef void DRIVER_CANCEL(_Inout_ struct _DEVICE_OBJECT *DeviceObject, _Inout_ struct _IRP *Irp);
typedef DRIVER_CANCEL *PDRIVER_CANCEL;

typedef NTSTATUS IO_COMPLETION_ROUTINE(_In_ struct _DEVICE_OBJECT *DeviceObject, _In_ struct _IRP *Irp,
                                       _In_reads_opt_(_Inexpressible_("varies")) PVOID Context);
typedef IO_COMPLETION_ROUTINE *PIO_COMPLETION_ROUTINE;

typedef void IO_APC_ROUTINE(_In_ PVOID ApcContext, _In_ PIO_STATUS_BLOCK IoStatusBlock, _In_ ULONG Reserved);
typedef IO_APC_ROUTINE *PIO_APC_ROUTINE;

typedef struct _KDEVICE_QUEUE_ENTRY {
  LIST_ENTRY DeviceListEntry;
  ULONG SortKey;
  BOOLEAN Inserted;
} KDEVICE_QUEUE_ENTRY, *PKDEVICE_QUEUE_ENTRY;

/* The IRP as documented (the members a driver may use; Tail.Apc is not provided). openwfp
 * allocates one I/O stack location per IRP (StackCount 1): Tail.Overlay.CurrentStackLocation. */
typedef struct _IRP {
  CSHORT Type;
  USHORT Size;
  PVOID MdlAddress;
  ULONG Flags;
  union {
    struct _IRP *MasterIrp;
    LONG IrpCount;
    PVOID SystemBuffer;
  } AssociatedIrp;
  LIST_ENTRY ThreadListEntry;
  IO_STATUS_BLOCK IoStatus;
  KPROCESSOR_MODE RequestorMode;
  BOOLEAN PendingReturned;
  CHAR StackCount;
  CHAR CurrentLocation;
  BOOLEAN Cancel;
  KIRQL CancelIrql;
  CCHAR ApcEnvironment;
  UCHAR AllocationFlags;
  PIO_STATUS_BLOCK UserIosb;
  PVOID UserEvent;
  union {
    struct {
      union {
        PIO_APC_ROUTINE UserApcRoutine;
        PVOID IssuingProcess;
      };
      PVOID UserApcContext;
    } AsynchronousParameters;
    LARGE_INTEGER AllocationSize;
  } Overlay;
  PDRIVER_CANCEL volatile CancelRoutine;
  PVOID UserBuffer;
  union {
    struct {
      union {
        KDEVICE_QUEUE_ENTRY DeviceQueueEntry;
        struct {
          PVOID DriverContext[4];
        };
      };
      PVOID Thread;
      PCHAR AuxiliaryBuffer;
      struct {
        LIST_ENTRY ListEntry;
        union {
          struct _IO_STACK_LOCATION *CurrentStackLocation;
          ULONG PacketType;
        };
      };
      struct _FILE_OBJECT *OriginalFileObject;
    } Overlay;
    PVOID CompletionKey;
  } Tail;
} IRP, *PIRP;

/* The I/O stack location of an IRP: the request's major function and parameters. */
typedef struct _IO_STACK_LOCATION {
  UCHAR MajorFunction;
  UCHAR MinorFunction;
  UCHAR Flags;
  UCHAR Control;
  union {
    struct {
      PVOID SecurityContext;
      ULONG Options;
      USHORT POINTER_ALIGNMENT FileAttributes;
      USHORT ShareAccess;
      ULONG POINTER_ALIGNMENT EaLength;
    } Create;
    struct {
      ULONG Length;
      ULONG POINTER_ALIGNMENT Key;
      ULONG Flags;
      LARGE_INTEGER ByteOffset;
    } Read;
    struct {
      ULONG Length;
      ULONG POINTER_ALIGNMENT Key;
      ULONG Flags;
      LARGE_INTEGER ByteOffset;
    } Write;
    struct {
      ULONG OutputBufferLength;
      ULONG POINTER_ALIGNMENT InputBufferLength;
      ULONG POINTER_ALIGNMENT IoControlCode;
      PVOID Type3InputBuffer;
    } DeviceIoControl;
    struct {
      PVOID Argument1;
      PVOID Argument2;
      PVOID Argument3;
      PVOID Argument4;
    } Others;
  } Parameters;
  struct _DEVICE_OBJECT *DeviceObject;
  struct _FILE_OBJECT *FileObject;
  PIO_COMPLETION_ROUTINE CompletionRoutine;
  PVOID Context;
} IO_STACK_LOCATION, *PIO_STACK_LOCATION;

/* IO_STACK_LOCATION.Control */
#define SL_PENDING_RETURNED 0x01
#define SL_ERROR_RETURNED 0x02
#define SL_INVOKE_ON_CANCEL 0x20
#define SL_INVOKE_ON_SUCCESS 0x40
#define SL_INVOKE_ON_ERROR 0x80

/* The file object behind a handle to a device (reduced: the members a driver uses, in the
 * documented order). FsContext / FsContext2 are the driver's per-handle storage. */
typedef struct _FILE_OBJECT {
  CSHORT Type;
  CSHORT Size;
  struct _DEVICE_OBJECT *DeviceObject;
  PVOID Vpb;
  PVOID FsContext;
  PVOID FsContext2;
  PVOID SectionObjectPointer;
  PVOID PrivateCacheMap;
  NTSTATUS FinalStatus;
  struct _FILE_OBJECT *RelatedFileObject;
  BOOLEAN LockOperation;
  BOOLEAN DeletePending;
  BOOLEAN ReadAccess;
  BOOLEAN WriteAccess;
  BOOLEAN DeleteAccess;
  BOOLEAN SharedRead;
  BOOLEAN SharedWrite;
  BOOLEAN SharedDelete;
  ULONG Flags;
  UNICODE_STRING FileName;
  LARGE_INTEGER CurrentByteOffset;
} FILE_OBJECT, *PFILE_OBJECT;

typedef NTSTATUS DRIVER_INITIALIZE(_In_ struct _DRIVER_OBJECT *DriverObject,
                                   _In_ PUNICODE_STRING RegistryPath);
typedef DRIVER_INITIALIZE *PDRIVER_INITIALIZE;

typedef void DRIVER_UNLOAD(_In_ struct _DRIVER_OBJECT *DriverObject);
typedef DRIVER_UNLOAD *PDRIVER_UNLOAD;

typedef NTSTATUS DRIVER_DISPATCH(_In_ struct _DEVICE_OBJECT *DeviceObject, _Inout_ struct _IRP *Irp);
typedef DRIVER_DISPATCH *PDRIVER_DISPATCH;

typedef void DRIVER_STARTIO(_Inout_ struct _DEVICE_OBJECT *DeviceObject, _Inout_ struct _IRP *Irp);
typedef DRIVER_STARTIO *PDRIVER_STARTIO;

typedef NTSTATUS DRIVER_ADD_DEVICE(_In_ struct _DRIVER_OBJECT *DriverObject,
                                   _In_ struct _DEVICE_OBJECT *PhysicalDeviceObject);
typedef DRIVER_ADD_DEVICE *PDRIVER_ADD_DEVICE;

typedef struct _DRIVER_EXTENSION {
  struct _DRIVER_OBJECT *DriverObject;
  PDRIVER_ADD_DEVICE AddDevice;
  ULONG Count;
  UNICODE_STRING ServiceKeyName;
} DRIVER_EXTENSION, *PDRIVER_EXTENSION;

typedef struct _DEVICE_OBJECT {
  CSHORT Type;
  USHORT Size;
  LONG ReferenceCount;
  struct _DRIVER_OBJECT *DriverObject;
  struct _DEVICE_OBJECT *NextDevice;
  struct _DEVICE_OBJECT *AttachedDevice;
  struct _IRP *CurrentIrp;
  PVOID Timer;
  ULONG Flags;
  ULONG Characteristics;
  PVOID Vpb;
  PVOID DeviceExtension;
  DEVICE_TYPE DeviceType;
  CCHAR StackSize;
  ULONG AlignmentRequirement;
} DEVICE_OBJECT, *PDEVICE_OBJECT;

typedef struct _DRIVER_OBJECT {
  CSHORT Type;
  CSHORT Size;
  PDEVICE_OBJECT DeviceObject;
  ULONG Flags;
  PVOID DriverStart;
  ULONG DriverSize;
  PVOID DriverSection;
  PDRIVER_EXTENSION DriverExtension;
  UNICODE_STRING DriverName;
  PUNICODE_STRING HardwareDatabase;
  PVOID FastIoDispatch;
  PDRIVER_INITIALIZE DriverInit;
  PDRIVER_STARTIO DriverStartIo;
  PDRIVER_UNLOAD DriverUnload;
  PDRIVER_DISPATCH MajorFunction[IRP_MJ_MAXIMUM_FUNCTION + 1];
} DRIVER_OBJECT, *PDRIVER_OBJECT;

/* Device types and characteristics. */
#define FILE_DEVICE_DISK 0x00000007
#define FILE_DEVICE_NETWORK 0x00000012
#define FILE_DEVICE_NULL 0x00000015
#define FILE_DEVICE_TRANSPORT 0x00000021
#define FILE_DEVICE_UNKNOWN 0x00000022
#define FILE_DEVICE_NETWORK_FILE_SYSTEM 0x00000014

#define FILE_REMOVABLE_MEDIA 0x00000001
#define FILE_READ_ONLY_DEVICE 0x00000002
#define FILE_REMOTE_DEVICE 0x00000010
#define FILE_DEVICE_IS_MOUNTED 0x00000020
#define FILE_VIRTUAL_VOLUME 0x00000040
#define FILE_AUTOGENERATED_DEVICE_NAME 0x00000080
#define FILE_DEVICE_SECURE_OPEN 0x00000100

#define DO_VERIFY_VOLUME 0x00000002
#define DO_BUFFERED_IO 0x00000004
#define DO_EXCLUSIVE 0x00000008
#define DO_DIRECT_IO 0x00000010
#define DO_MAP_IO_BUFFER 0x00000020
#define DO_DEVICE_INITIALIZING 0x00000080

#define METHOD_BUFFERED 0
#define METHOD_IN_DIRECT 1
#define METHOD_OUT_DIRECT 2
#define METHOD_NEITHER 3
#define FILE_ANY_ACCESS 0
#define FILE_SPECIAL_ACCESS FILE_ANY_ACCESS
#define FILE_READ_ACCESS 0x0001
#define FILE_WRITE_ACCESS 0x0002
#define FILE_READ_DATA 0x0001
#define FILE_WRITE_DATA 0x0002
#define CTL_CODE(DeviceType, Function, Method, Access) \
  (((DeviceType) << 16) | ((Access) << 14) | ((Function) << 2) | (Method))
#define DEVICE_TYPE_FROM_CTL_CODE(ctrlCode) (((DWORD)((ctrlCode) & 0xffff0000)) >> 16)
#define METHOD_FROM_CTL_CODE(ctrlCode) ((DWORD)((ctrlCode) & 3))

/* Work items. */
typedef struct _IO_WORKITEM IO_WORKITEM, *PIO_WORKITEM;
typedef void IO_WORKITEM_ROUTINE(_In_ PDEVICE_OBJECT DeviceObject, _In_opt_ PVOID Context);
typedef IO_WORKITEM_ROUTINE *PIO_WORKITEM_ROUTINE;


/* Cancel-safe IRP queues (IO_CSQ): the driver supplies the queue and its lock, the system the
 * cancel logic (km/csq.cpp). */
#define IO_TYPE_CSQ_IRP_CONTEXT 1
#define IO_TYPE_CSQ 2
#define IO_TYPE_CSQ_EX 3

struct _IO_CSQ;

typedef struct _IO_CSQ_IRP_CONTEXT {
  ULONG Type;
  struct _IRP *Irp;
  struct _IO_CSQ *Csq;
} IO_CSQ_IRP_CONTEXT, *PIO_CSQ_IRP_CONTEXT;

typedef void IO_CSQ_INSERT_IRP(_In_ struct _IO_CSQ *Csq, _In_ struct _IRP *Irp);
typedef IO_CSQ_INSERT_IRP *PIO_CSQ_INSERT_IRP;
typedef NTSTATUS IO_CSQ_INSERT_IRP_EX(_In_ struct _IO_CSQ *Csq, _In_ struct _IRP *Irp,
                                      _In_ PVOID InsertContext);
typedef IO_CSQ_INSERT_IRP_EX *PIO_CSQ_INSERT_IRP_EX;
typedef void IO_CSQ_REMOVE_IRP(_In_ struct _IO_CSQ *Csq, _In_ struct _IRP *Irp);
typedef IO_CSQ_REMOVE_IRP *PIO_CSQ_REMOVE_IRP;
typedef struct _IRP *IO_CSQ_PEEK_NEXT_IRP(_In_ struct _IO_CSQ *Csq, _In_opt_ struct _IRP *Irp,
                                          _In_opt_ PVOID PeekContext);
typedef IO_CSQ_PEEK_NEXT_IRP *PIO_CSQ_PEEK_NEXT_IRP;
typedef void IO_CSQ_ACQUIRE_LOCK(_In_ struct _IO_CSQ *Csq, _Out_ PKIRQL Irql);
typedef IO_CSQ_ACQUIRE_LOCK *PIO_CSQ_ACQUIRE_LOCK;
typedef void IO_CSQ_RELEASE_LOCK(_In_ struct _IO_CSQ *Csq, _In_ KIRQL Irql);
typedef IO_CSQ_RELEASE_LOCK *PIO_CSQ_RELEASE_LOCK;
typedef void IO_CSQ_COMPLETE_CANCELED_IRP(_In_ struct _IO_CSQ *Csq, _In_ struct _IRP *Irp);
typedef IO_CSQ_COMPLETE_CANCELED_IRP *PIO_CSQ_COMPLETE_CANCELED_IRP;

typedef struct _IO_CSQ {
  ULONG Type;
  PIO_CSQ_INSERT_IRP CsqInsertIrp;
  PIO_CSQ_REMOVE_IRP CsqRemoveIrp;
  PIO_CSQ_PEEK_NEXT_IRP CsqPeekNextIrp;
  PIO_CSQ_ACQUIRE_LOCK CsqAcquireLock;
  PIO_CSQ_RELEASE_LOCK CsqReleaseLock;
  PIO_CSQ_COMPLETE_CANCELED_IRP CsqCompleteCanceledIrp;
  PVOID ReservePointer;
} IO_CSQ, *PIO_CSQ;

/* ---- Debug output ------------------------------------------------------------------------ */
#define DPFLTR_ERROR_LEVEL 0
#define DPFLTR_WARNING_LEVEL 1
#define DPFLTR_TRACE_LEVEL 2
#define DPFLTR_INFO_LEVEL 3
#define DPFLTR_MASK 0x80000000

typedef enum _DPFLTR_TYPE {
  DPFLTR_SYSTEM_ID = 0,
  DPFLTR_TCPIP_ID = 30,
  DPFLTR_IHVDRIVER_ID = 77,
  DPFLTR_IHVVIDEO_ID = 78,
  DPFLTR_IHVAUDIO_ID = 79,
  DPFLTR_IHVNETWORK_ID = 80,
  DPFLTR_IHVSTREAMING_ID = 81,
  DPFLTR_IHVBUS_ID = 82,
  DPFLTR_TCPIP6_ID = 86
} DPFLTR_TYPE;

/* ---- Functions (implemented by libopenwfp) ----------------------------------------------- */
OPENWFP_BEGIN_DECLS

/* Debug output: DbgPrint(Ex) format like printf; KdPrint is always active in openwfp. */
ULONG __cdecl DbgPrint(_In_z_ PCSTR Format, ...);
ULONG __cdecl DbgPrintEx(_In_ ULONG ComponentId, _In_ ULONG Level, _In_z_ PCSTR Format, ...);
void NTAPI RtlAssert(_In_ PVOID VoidFailedAssertion, _In_ PVOID VoidFileName,
                     _In_ ULONG LineNumber, _In_opt_ PSTR MutableMessage);

/* Pool. */
_IRQL_requires_max_(DISPATCH_LEVEL) PVOID NTAPI
ExAllocatePool2(_In_ POOL_FLAGS Flags, _In_ SIZE_T NumberOfBytes, _In_ ULONG Tag);
_IRQL_requires_max_(DISPATCH_LEVEL) PVOID NTAPI
ExAllocatePoolWithTag(_In_ POOL_TYPE PoolType, _In_ SIZE_T NumberOfBytes, _In_ ULONG Tag);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI ExFreePoolWithTag(_In_ PVOID P, _In_ ULONG Tag);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI ExFreePool(_In_ PVOID P);

/* IRQL and spin locks. */
KIRQL NTAPI KeGetCurrentIrql(void);
_IRQL_raises_(DISPATCH_LEVEL) KIRQL NTAPI KeAcquireSpinLockRaiseToDpc(_Inout_ PKSPIN_LOCK SpinLock);
void NTAPI KeReleaseSpinLock(_Inout_ PKSPIN_LOCK SpinLock, _In_ KIRQL NewIrql);
void NTAPI KeAcquireSpinLockAtDpcLevel(_Inout_ PKSPIN_LOCK SpinLock);
void NTAPI KeReleaseSpinLockFromDpcLevel(_Inout_ PKSPIN_LOCK SpinLock);
void NTAPI KeAcquireInStackQueuedSpinLock(_Inout_ PKSPIN_LOCK SpinLock,
                                          _Out_ PKLOCK_QUEUE_HANDLE LockHandle);
void NTAPI KeReleaseInStackQueuedSpinLock(_In_ PKLOCK_QUEUE_HANDLE LockHandle);
void NTAPI KeAcquireInStackQueuedSpinLockAtDpcLevel(_Inout_ PKSPIN_LOCK SpinLock,
                                                    _Out_ PKLOCK_QUEUE_HANDLE LockHandle);
void NTAPI KeReleaseInStackQueuedSpinLockFromDpcLevel(_In_ PKLOCK_QUEUE_HANDLE LockHandle);

/* Time. */
void NTAPI KeQuerySystemTime(_Out_ PLARGE_INTEGER CurrentTime);
LARGE_INTEGER NTAPI KeQueryPerformanceCounter(_Out_opt_ PLARGE_INTEGER PerformanceFrequency);

/* Processes. */
HANDLE NTAPI PsGetCurrentProcessId(void);
HANDLE NTAPI PsGetCurrentThreadId(void);

/* A random (version 4) UUID from the system's random source. */
typedef GUID UUID;
_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI ExUuidCreate(_Out_ UUID *Uuid);

/* Strings. */
void NTAPI RtlInitUnicodeString(_Out_ PUNICODE_STRING DestinationString,
                                _In_opt_z_ PCWSTR SourceString);

/* Devices and IRPs. */
_IRQL_requires_max_(APC_LEVEL) NTSTATUS NTAPI
IoCreateDevice(_In_ PDRIVER_OBJECT DriverObject, _In_ ULONG DeviceExtensionSize,
               _In_opt_ PUNICODE_STRING DeviceName, _In_ DEVICE_TYPE DeviceType,
               _In_ ULONG DeviceCharacteristics, _In_ BOOLEAN Exclusive,
               _Outptr_result_nullonfailure_ PDEVICE_OBJECT *DeviceObject);
_IRQL_requires_max_(APC_LEVEL) void NTAPI IoDeleteDevice(_In_ PDEVICE_OBJECT DeviceObject);
_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
IoCreateSymbolicLink(_In_ PUNICODE_STRING SymbolicLinkName, _In_ PUNICODE_STRING DeviceName);
_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
IoDeleteSymbolicLink(_In_ PUNICODE_STRING SymbolicLinkName);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI IoCompleteRequest(_In_ PIRP Irp,
                                                                 _In_ CCHAR PriorityBoost);
/* The process that sent the request (openwfp: the requestor PID of the IRP). */
ULONG NTAPI IoGetRequestorProcessId(_In_ PIRP Irp);

/* Work items. */
_IRQL_requires_max_(DISPATCH_LEVEL) PIO_WORKITEM NTAPI
IoAllocateWorkItem(_In_ PDEVICE_OBJECT DeviceObject);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI
IoQueueWorkItem(_Inout_ PIO_WORKITEM IoWorkItem, _In_ PIO_WORKITEM_ROUTINE WorkerRoutine,
                _In_ WORK_QUEUE_TYPE QueueType, _In_opt_ PVOID Context);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI IoFreeWorkItem(_In_ PIO_WORKITEM IoWorkItem);


/* Dispatcher objects and waits (km/waits.cpp). Timeouts are in 100 ns units: negative =
 * relative, positive = absolute system time (KeQuerySystemTime), 0 = test only, NULL = forever.
 * A wait that may block (timeout not 0) needs IRQL <= APC_LEVEL; above that the verifier
 * reports it and the wait only tests the objects (openwfp choice: no hang). */
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI
KeInitializeEvent(_Out_ PRKEVENT Event, _In_ EVENT_TYPE Type, _In_ BOOLEAN State);
_IRQL_requires_max_(DISPATCH_LEVEL) LONG NTAPI
KeSetEvent(_Inout_ PRKEVENT Event, _In_ KPRIORITY Increment, _In_ BOOLEAN Wait);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI KeClearEvent(_Inout_ PRKEVENT Event);
_IRQL_requires_max_(DISPATCH_LEVEL) LONG NTAPI KeResetEvent(_Inout_ PRKEVENT Event);
_IRQL_requires_max_(DISPATCH_LEVEL) LONG NTAPI KeReadStateEvent(_In_ PRKEVENT Event);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
KeWaitForSingleObject(_In_ PVOID Object, _In_ KWAIT_REASON WaitReason, _In_ KPROCESSOR_MODE WaitMode,
                      _In_ BOOLEAN Alertable, _In_opt_ PLARGE_INTEGER Timeout);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI
KeWaitForMultipleObjects(_In_ ULONG Count, _In_reads_(Count) PVOID Object[], _In_ WAIT_TYPE WaitType,
                         _In_ KWAIT_REASON WaitReason, _In_ KPROCESSOR_MODE WaitMode,
                         _In_ BOOLEAN Alertable, _In_opt_ PLARGE_INTEGER Timeout,
                         _Out_opt_ PKWAIT_BLOCK WaitBlockArray);
_IRQL_requires_max_(APC_LEVEL) NTSTATUS NTAPI
KeDelayExecutionThread(_In_ KPROCESSOR_MODE WaitMode, _In_ BOOLEAN Alertable,
                       _In_ PLARGE_INTEGER Interval);
/* Ticks since start (one tick = KeQueryTimeIncrement() 100 ns units; openwfp: 156250). */
void NTAPI KeQueryTickCount(_Out_ PLARGE_INTEGER CurrentCount);
ULONG NTAPI KeQueryTimeIncrement(void);
/* 100 ns units since start (monotonic). */
ULONGLONG NTAPI KeQueryInterruptTime(void);

/* System threads and object references (km/threads.cpp). A system thread runs at
 * PASSIVE_LEVEL on behalf of the driver that created it; its thread object is signaled when it
 * ends. At driver unload a thread still running or a handle not closed is reported as a leak. */
_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
PsCreateSystemThread(_Out_ PHANDLE ThreadHandle, _In_ ULONG DesiredAccess,
                     _In_opt_ POBJECT_ATTRIBUTES ObjectAttributes, _In_opt_ HANDLE ProcessHandle,
                     _Out_opt_ PCLIENT_ID ClientId, _In_ PKSTART_ROUTINE StartRoutine,
                     _In_opt_ PVOID StartContext);
/* Ends the calling system thread (does not return; the stack is unwound as by pthread_exit). */
_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI PsTerminateSystemThread(_In_ NTSTATUS ExitStatus);
PETHREAD NTAPI PsGetCurrentThread(void);
PKTHREAD NTAPI KeGetCurrentThread(void);
BOOLEAN NTAPI PsIsSystemThread(_In_ PETHREAD Thread);
_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI ZwClose(_In_ HANDLE Handle);
_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
ObReferenceObjectByHandle(_In_ HANDLE Handle, _In_ ACCESS_MASK DesiredAccess,
                          _In_opt_ POBJECT_TYPE ObjectType, _In_ KPROCESSOR_MODE AccessMode,
                          _Out_ PVOID *Object,
                          _Out_opt_ POBJECT_HANDLE_INFORMATION HandleInformation);
_IRQL_requires_max_(DISPATCH_LEVEL) LONG_PTR FASTCALL ObfReferenceObject(_In_ PVOID Object);
_IRQL_requires_max_(DISPATCH_LEVEL) LONG_PTR FASTCALL ObfDereferenceObject(_In_ PVOID Object);
#define ObReferenceObject(Object) ObfReferenceObject(Object)
#define ObDereferenceObject(Object) ObfDereferenceObject(Object)

/* Object types, as exported by the kernel: pass *PsThreadType. */
extern POBJECT_TYPE *PsThreadType;
extern POBJECT_TYPE *PsProcessType;
extern POBJECT_TYPE *ExEventObjectType;

/* IRP cancellation (km/irp_cancel.cpp). IoCancelIrp sets Irp->Cancel and, when a cancel routine
 * is set, calls it holding the cancel spin lock with Irp->CancelIrql set; the routine must
 * release it with IoReleaseCancelSpinLock(Irp->CancelIrql). */
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI IoAcquireCancelSpinLock(_Out_ PKIRQL Irql);
_IRQL_requires_(DISPATCH_LEVEL) void NTAPI IoReleaseCancelSpinLock(_In_ KIRQL Irql);
_IRQL_requires_max_(DISPATCH_LEVEL) BOOLEAN NTAPI IoCancelIrp(_In_ PIRP Irp);

/* Cancel-safe queues (km/csq.cpp). IoCsqInsertIrp marks the IRP pending and makes it
 * cancelable: a cancel removes it (CsqRemoveIrp under the driver's lock) and hands it to
 * CsqCompleteCanceledIrp. IoCsqRemoveNextIrp / IoCsqRemoveIrp take an IRP out of the queue
 * unless it is being cancelled (then NULL). The queue's IRP is remembered in
 * Irp->Tail.Overlay.DriverContext[3], as on Windows. */
NTSTATUS NTAPI IoCsqInitialize(_Out_ PIO_CSQ Csq, _In_ PIO_CSQ_INSERT_IRP CsqInsertIrp,
                               _In_ PIO_CSQ_REMOVE_IRP CsqRemoveIrp,
                               _In_ PIO_CSQ_PEEK_NEXT_IRP CsqPeekNextIrp,
                               _In_ PIO_CSQ_ACQUIRE_LOCK CsqAcquireLock,
                               _In_ PIO_CSQ_RELEASE_LOCK CsqReleaseLock,
                               _In_ PIO_CSQ_COMPLETE_CANCELED_IRP CsqCompleteCanceledIrp);
NTSTATUS NTAPI IoCsqInitializeEx(_Out_ PIO_CSQ Csq, _In_ PIO_CSQ_INSERT_IRP_EX CsqInsertIrp,
                                 _In_ PIO_CSQ_REMOVE_IRP CsqRemoveIrp,
                                 _In_ PIO_CSQ_PEEK_NEXT_IRP CsqPeekNextIrp,
                                 _In_ PIO_CSQ_ACQUIRE_LOCK CsqAcquireLock,
                                 _In_ PIO_CSQ_RELEASE_LOCK CsqReleaseLock,
                                 _In_ PIO_CSQ_COMPLETE_CANCELED_IRP CsqCompleteCanceledIrp);
void NTAPI IoCsqInsertIrp(_Inout_ PIO_CSQ Csq, _Inout_ PIRP Irp, _Out_opt_ PIO_CSQ_IRP_CONTEXT Context);
NTSTATUS NTAPI IoCsqInsertIrpEx(_Inout_ PIO_CSQ Csq, _Inout_ PIRP Irp,
                                _Out_opt_ PIO_CSQ_IRP_CONTEXT Context, _In_opt_ PVOID InsertContext);
PIRP NTAPI IoCsqRemoveNextIrp(_Inout_ PIO_CSQ Csq, _In_opt_ PVOID PeekContext);
PIRP NTAPI IoCsqRemoveIrp(_Inout_ PIO_CSQ Csq, _Inout_ PIO_CSQ_IRP_CONTEXT Context);
OPENWFP_END_DECLS

/* ---- Macros over the functions above ----------------------------------------------------- */
OPENWFP_INLINE PIO_STACK_LOCATION IoGetCurrentIrpStackLocation(PIRP Irp) {
  return Irp->Tail.Overlay.CurrentStackLocation;
}
/* Marks the IRP pending: the dispatch routine returns STATUS_PENDING and completes it later. */
OPENWFP_INLINE void IoMarkIrpPending(PIRP Irp) {
  IoGetCurrentIrpStackLocation(Irp)->Control |= SL_PENDING_RETURNED;
}

/* Sets (or clears, NULL) the IRP's cancel routine atomically; returns the previous one. */
OPENWFP_INLINE PDRIVER_CANCEL IoSetCancelRoutine(PIRP Irp, PDRIVER_CANCEL CancelRoutine) {
  return __atomic_exchange_n(&Irp->CancelRoutine, CancelRoutine, __ATOMIC_SEQ_CST);
}

#define KeAcquireSpinLock(SpinLock, OldIrql) (*(OldIrql) = KeAcquireSpinLockRaiseToDpc(SpinLock))

OPENWFP_INLINE void KeInitializeSpinLock(PKSPIN_LOCK SpinLock) { *SpinLock = 0; }

#define KdPrint(_x_) DbgPrint _x_
#define KdPrintEx(_x_) DbgPrintEx _x_
#define KdBreakPoint() ((void)0)
#define DbgBreakPoint() ((void)0)

/* ASSERT is active (as in a checked build): a false expression reports through RtlAssert. */
#define ASSERT(exp) \
  ((void)((exp) ? 0 : (RtlAssert((PVOID)(#exp), (PVOID)(__FILE__), (ULONG)(__LINE__), NULL), 0)))
#define ASSERTMSG(msg, exp) \
  ((void)((exp) ? 0 : (RtlAssert((PVOID)(#exp), (PVOID)(__FILE__), (ULONG)(__LINE__), (PSTR)(msg)), 0)))
#define NT_ASSERT(exp) ASSERT(exp)
#define NT_ASSERTMSG(msg, exp) ASSERTMSG(msg, exp)
#define NT_VERIFY(exp) ASSERT(exp)

/* Allocation helpers of newer WDKs, over ExAllocatePoolWithTag: Uninitialized leaves the
 * contents as they are, Zero clears them. */
OPENWFP_INLINE PVOID ExAllocatePoolUninitialized(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag) {
  return ExAllocatePoolWithTag(PoolType, NumberOfBytes, Tag);
}
/* Zeroing allocation helper of newer WDKs, over ExAllocatePoolWithTag. */
OPENWFP_INLINE PVOID ExAllocatePoolZero(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag) {
  PVOID p = ExAllocatePoolWithTag(PoolType, NumberOfBytes, Tag);
  if (p != NULL) memset(p, 0, NumberOfBytes);
  return p;
}

/* ---- Memory and byte-order helpers ------------------------------------------------------- */
OPENWFP_INLINE SIZE_T RtlCompareMemory(const void *Source1, const void *Source2, SIZE_T Length) {
  const UCHAR *a = (const UCHAR *)Source1;
  const UCHAR *b = (const UCHAR *)Source2;
  SIZE_T i = 0;
  while (i < Length && a[i] == b[i]) ++i;
  return i;
}
OPENWFP_INLINE USHORT RtlUshortByteSwap(USHORT Source) { return (USHORT)__builtin_bswap16(Source); }
OPENWFP_INLINE ULONG RtlUlongByteSwap(ULONG Source) { return (ULONG)__builtin_bswap32(Source); }
OPENWFP_INLINE ULONGLONG RtlUlonglongByteSwap(ULONGLONG Source) {
  return (ULONGLONG)__builtin_bswap64(Source);
}

/* ---- Doubly linked lists (inline, as in the WDK) ----------------------------------------- */
OPENWFP_INLINE void InitializeListHead(PLIST_ENTRY ListHead) {
  ListHead->Flink = ListHead->Blink = ListHead;
}
OPENWFP_INLINE BOOLEAN IsListEmpty(const LIST_ENTRY *ListHead) {
  return (BOOLEAN)(ListHead->Flink == ListHead);
}
OPENWFP_INLINE BOOLEAN RemoveEntryList(PLIST_ENTRY Entry) {
  PLIST_ENTRY Flink = Entry->Flink;
  PLIST_ENTRY Blink = Entry->Blink;
  Blink->Flink = Flink;
  Flink->Blink = Blink;
  return (BOOLEAN)(Flink == Blink);
}
OPENWFP_INLINE PLIST_ENTRY RemoveHeadList(PLIST_ENTRY ListHead) {
  PLIST_ENTRY Entry = ListHead->Flink;
  PLIST_ENTRY Flink = Entry->Flink;
  ListHead->Flink = Flink;
  Flink->Blink = ListHead;
  return Entry;
}
OPENWFP_INLINE PLIST_ENTRY RemoveTailList(PLIST_ENTRY ListHead) {
  PLIST_ENTRY Entry = ListHead->Blink;
  PLIST_ENTRY Blink = Entry->Blink;
  ListHead->Blink = Blink;
  Blink->Flink = ListHead;
  return Entry;
}
OPENWFP_INLINE void InsertTailList(PLIST_ENTRY ListHead, PLIST_ENTRY Entry) {
  PLIST_ENTRY Blink = ListHead->Blink;
  Entry->Flink = ListHead;
  Entry->Blink = Blink;
  Blink->Flink = Entry;
  ListHead->Blink = Entry;
}
OPENWFP_INLINE void InsertHeadList(PLIST_ENTRY ListHead, PLIST_ENTRY Entry) {
  PLIST_ENTRY Flink = ListHead->Flink;
  Entry->Flink = Flink;
  Entry->Blink = ListHead;
  Flink->Blink = Entry;
  ListHead->Flink = Entry;
}
OPENWFP_INLINE void AppendTailList(PLIST_ENTRY ListHead, PLIST_ENTRY ListToAppend) {
  PLIST_ENTRY ListEnd = ListHead->Blink;
  ListHead->Blink->Flink = ListToAppend;
  ListHead->Blink = ListToAppend->Blink;
  ListToAppend->Blink->Flink = ListHead;
  ListToAppend->Blink = ListEnd;
}
OPENWFP_INLINE PSINGLE_LIST_ENTRY PopEntryList(PSINGLE_LIST_ENTRY ListHead) {
  PSINGLE_LIST_ENTRY FirstEntry = ListHead->Next;
  if (FirstEntry != NULL) ListHead->Next = FirstEntry->Next;
  return FirstEntry;
}
OPENWFP_INLINE void PushEntryList(PSINGLE_LIST_ENTRY ListHead, PSINGLE_LIST_ENTRY Entry) {
  Entry->Next = ListHead->Next;
  ListHead->Next = Entry;
}

/* ---- Interlocked operations (sequentially consistent, as on Windows) --------------------- */
OPENWFP_INLINE LONG InterlockedIncrement(LONG volatile *Addend) {
  return __atomic_add_fetch(Addend, 1, __ATOMIC_SEQ_CST);
}
OPENWFP_INLINE LONG InterlockedDecrement(LONG volatile *Addend) {
  return __atomic_sub_fetch(Addend, 1, __ATOMIC_SEQ_CST);
}
OPENWFP_INLINE LONG InterlockedAdd(LONG volatile *Addend, LONG Value) {
  return __atomic_add_fetch(Addend, Value, __ATOMIC_SEQ_CST);
}
OPENWFP_INLINE LONG InterlockedExchangeAdd(LONG volatile *Addend, LONG Value) {
  return __atomic_fetch_add(Addend, Value, __ATOMIC_SEQ_CST);
}
OPENWFP_INLINE LONG InterlockedExchange(LONG volatile *Target, LONG Value) {
  return __atomic_exchange_n(Target, Value, __ATOMIC_SEQ_CST);
}
OPENWFP_INLINE LONG InterlockedCompareExchange(LONG volatile *Destination, LONG ExChange,
                                               LONG Comparand) {
  __atomic_compare_exchange_n(Destination, &Comparand, ExChange, 0, __ATOMIC_SEQ_CST,
                              __ATOMIC_SEQ_CST);
  return Comparand;
}
OPENWFP_INLINE LONG64 InterlockedIncrement64(LONG64 volatile *Addend) {
  return __atomic_add_fetch(Addend, 1, __ATOMIC_SEQ_CST);
}
OPENWFP_INLINE LONG64 InterlockedDecrement64(LONG64 volatile *Addend) {
  return __atomic_sub_fetch(Addend, 1, __ATOMIC_SEQ_CST);
}
OPENWFP_INLINE LONG64 InterlockedAdd64(LONG64 volatile *Addend, LONG64 Value) {
  return __atomic_add_fetch(Addend, Value, __ATOMIC_SEQ_CST);
}
OPENWFP_INLINE LONG64 InterlockedExchange64(LONG64 volatile *Target, LONG64 Value) {
  return __atomic_exchange_n(Target, Value, __ATOMIC_SEQ_CST);
}
OPENWFP_INLINE LONG64 InterlockedCompareExchange64(LONG64 volatile *Destination, LONG64 ExChange,
                                                   LONG64 Comparand) {
  __atomic_compare_exchange_n(Destination, &Comparand, ExChange, 0, __ATOMIC_SEQ_CST,
                              __ATOMIC_SEQ_CST);
  return Comparand;
}
OPENWFP_INLINE PVOID InterlockedExchangePointer(PVOID volatile *Target, PVOID Value) {
  return __atomic_exchange_n(Target, Value, __ATOMIC_SEQ_CST);
}
OPENWFP_INLINE PVOID InterlockedCompareExchangePointer(PVOID volatile *Destination,
                                                       PVOID ExChange, PVOID Comparand) {
  __atomic_compare_exchange_n(Destination, &Comparand, ExChange, 0, __ATOMIC_SEQ_CST,
                              __ATOMIC_SEQ_CST);
  return Comparand;
}


/* ---- Checked build (DBG) ------------------------------------------------------------------ */
/* openwfp runs drivers as a checked build: DBG is 1 unless the driver defines it (then, with
 * DBG 0, ASSERT / NT_ASSERT compile to nothing, as in a WDK free build). */
#ifndef DBG
#define DBG 1
#endif
#if !DBG
#undef ASSERT
#undef ASSERTMSG
#undef NT_ASSERT
#undef NT_ASSERTMSG
#undef NT_VERIFY
#define ASSERT(exp) ((void)0)
#define ASSERTMSG(msg, exp) ((void)0)
#define NT_ASSERT(exp) ((void)0)
#define NT_ASSERTMSG(msg, exp) ((void)0)
#define NT_VERIFY(exp) ((void)(exp))
#endif

/* ---- Driver runtime (SPEC S15.2) --------------------------------------------------------- */
/* ExInitializeDriverRuntime(DrvRtPoolNxOptIn) makes NonPagedPool allocations non-executable on
 * Windows. openwfp's pool is ordinary heap memory, never executable, so there is nothing to
 * change. */
#define DrvRtPoolNxOptIn 0x00000001
OPENWFP_INLINE void ExInitializeDriverRuntime(ULONG RuntimeFlags) { (void)RuntimeFlags; }

/* ---- Memory descriptor lists (SPEC S15.2) ------------------------------------------------- */
/* All memory is mapped in openwfp: an MDL describes a driver buffer, MappedSystemVa is that
 * buffer, and MmGetSystemAddressForMdlSafe returns it. */
typedef struct _MDL MDL, *PMDL;
struct _MDL {
  struct _MDL *Next;
  CSHORT Size;
  CSHORT MdlFlags;
  struct _EPROCESS *Process;
  PVOID MappedSystemVa;
  PVOID StartVa;
  ULONG ByteCount;
  ULONG ByteOffset;
};
#define MDL_MAPPED_TO_SYSTEM_VA 0x0001
#define MDL_PAGES_LOCKED 0x0002
#define MDL_SOURCE_IS_NONPAGED_POOL 0x0004
#define MDL_ALLOCATED_FIXED_SIZE 0x0008
#define MDL_PARTIAL 0x0010
typedef enum _MM_PAGE_PRIORITY { LowPagePriority = 0, NormalPagePriority = 16, HighPagePriority = 32 } MM_PAGE_PRIORITY;
#define MdlMappingNoWrite 0x80000000
#define MdlMappingNoExecute 0x40000000
#define MmGetMdlByteCount(Mdl) ((Mdl)->ByteCount)
#define MmGetMdlByteOffset(Mdl) ((Mdl)->ByteOffset)
#define MmGetMdlVirtualAddress(Mdl) ((PVOID)((PCHAR)((Mdl)->StartVa) + (Mdl)->ByteOffset))
#define MmGetSystemAddressForMdlSafe(Mdl, Priority) ((void)(Priority), (Mdl)->MappedSystemVa)
#define MmGetSystemAddressForMdl(Mdl) ((Mdl)->MappedSystemVa)

OPENWFP_BEGIN_DECLS
_IRQL_requires_max_(DISPATCH_LEVEL) PMDL NTAPI
IoAllocateMdl(_In_opt_ PVOID VirtualAddress, _In_ ULONG Length, _In_ BOOLEAN SecondaryBuffer,
              _In_ BOOLEAN ChargeQuota, _Inout_opt_ PIRP Irp);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI IoFreeMdl(PMDL Mdl);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI MmBuildMdlForNonPagedPool(_Inout_ PMDL MemoryDescriptorList);
OPENWFP_END_DECLS

typedef ULONG_PTR KAFFINITY, *PKAFFINITY;

/* ---- DPCs and timers (SPEC S15.2) --------------------------------------------------------- */
/* A queued DPC runs on openwfp's DPC thread at DISPATCH_LEVEL (a threaded DPC at PASSIVE_LEVEL),
 * in the name of the driver that queued it. A timer expires on openwfp's timer thread: it becomes
 * signaled and queues its DPC; a periodic timer is set again for the next period. */
struct _KDPC;
typedef void KDEFERRED_ROUTINE(_In_ struct _KDPC *Dpc, _In_opt_ PVOID DeferredContext,
                               _In_opt_ PVOID SystemArgument1, _In_opt_ PVOID SystemArgument2);
typedef KDEFERRED_ROUTINE *PKDEFERRED_ROUTINE;

typedef struct _KDPC {
  union {
    ULONG TargetInfoAsUlong;
    struct {
      UCHAR Type;
      UCHAR Importance;
      volatile USHORT Number;
    };
  };
  SINGLE_LIST_ENTRY DpcListEntry;
  KAFFINITY ProcessorHistory;
  PKDEFERRED_ROUTINE DeferredRoutine;
  PVOID DeferredContext;
  PVOID SystemArgument1;
  PVOID SystemArgument2;
  volatile PVOID DpcData;
} KDPC, *PKDPC, *PRKDPC;

typedef enum _KDPC_IMPORTANCE { LowImportance, MediumImportance, HighImportance, MediumHighImportance } KDPC_IMPORTANCE;

typedef struct _KTIMER {
  DISPATCHER_HEADER Header;
  ULARGE_INTEGER DueTime;
  LIST_ENTRY TimerListEntry;
  struct _KDPC *Dpc;
  ULONG Processor;
  ULONG Period;
} KTIMER, *PKTIMER, *PRKTIMER;

typedef enum _TIMER_TYPE { NotificationTimer, SynchronizationTimer } TIMER_TYPE;

OPENWFP_BEGIN_DECLS
void NTAPI KeInitializeDpc(_Out_ PRKDPC Dpc, _In_ PKDEFERRED_ROUTINE DeferredRoutine,
                           _In_opt_ PVOID DeferredContext);
void NTAPI KeInitializeThreadedDpc(_Out_ PRKDPC Dpc, _In_ PKDEFERRED_ROUTINE DeferredRoutine,
                                   _In_opt_ PVOID DeferredContext);
_IRQL_requires_max_(HIGH_LEVEL) BOOLEAN NTAPI KeInsertQueueDpc(_Inout_ PRKDPC Dpc, _In_opt_ PVOID SystemArgument1,
                                                               _In_opt_ PVOID SystemArgument2);
_IRQL_requires_max_(HIGH_LEVEL) BOOLEAN NTAPI KeRemoveQueueDpc(_Inout_ PRKDPC Dpc);
_IRQL_requires_(PASSIVE_LEVEL) void NTAPI KeFlushQueuedDpcs(void);
void NTAPI KeSetImportanceDpc(_Inout_ PRKDPC Dpc, _In_ KDPC_IMPORTANCE Importance);
void NTAPI KeSetTargetProcessorDpc(_Inout_ PRKDPC Dpc, _In_ CCHAR Number);
ULONG NTAPI KeGetCurrentProcessorNumber(void);
ULONG NTAPI KeQueryActiveProcessorCount(_Out_opt_ PKAFFINITY ActiveProcessors);

_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI KeInitializeTimer(_Out_ PKTIMER Timer);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI KeInitializeTimerEx(_Out_ PKTIMER Timer, _In_ TIMER_TYPE Type);
_IRQL_requires_max_(DISPATCH_LEVEL) BOOLEAN NTAPI KeSetTimer(_Inout_ PKTIMER Timer, _In_ LARGE_INTEGER DueTime,
                                                             _In_opt_ PKDPC Dpc);
_IRQL_requires_max_(DISPATCH_LEVEL) BOOLEAN NTAPI KeSetTimerEx(_Inout_ PKTIMER Timer, _In_ LARGE_INTEGER DueTime,
                                                               _In_ LONG Period, _In_opt_ PKDPC Dpc);
_IRQL_requires_max_(DISPATCH_LEVEL) BOOLEAN NTAPI KeCancelTimer(_Inout_ PKTIMER Timer);
_IRQL_requires_max_(DISPATCH_LEVEL) BOOLEAN NTAPI KeReadStateTimer(_In_ PKTIMER Timer);
OPENWFP_END_DECLS

/* ---- Mutexes (SPEC S15.2) ----------------------------------------------------------------- */
/* KMUTEX: a dispatcher object acquired by KeWaitForSingleObject, recursively by its owner,
 * released by KeReleaseMutex. FAST_MUTEX (raises to APC_LEVEL) and the guarded mutex (same
 * structure since Windows 8) are not recursive: acquiring one twice on a thread is reported. */
typedef struct _KMUTANT {
  DISPATCHER_HEADER Header;
  LIST_ENTRY MutantListEntry;
  struct _KTHREAD *OwnerThread;
  BOOLEAN Abandoned;
  UCHAR ApcDisable;
} KMUTANT, *PKMUTANT, *PRKMUTANT, KMUTEX, *PKMUTEX, *PRKMUTEX;

typedef struct _FAST_MUTEX {
  volatile LONG Count;
  PVOID Owner;
  ULONG Contention;
  KEVENT Event;
  ULONG OldIrql;
} FAST_MUTEX, *PFAST_MUTEX, KGUARDED_MUTEX, *PKGUARDED_MUTEX;

OPENWFP_BEGIN_DECLS
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI KeInitializeMutex(_Out_ PRKMUTEX Mutex, _In_ ULONG Level);
_IRQL_requires_max_(DISPATCH_LEVEL) LONG NTAPI KeReleaseMutex(_Inout_ PRKMUTEX Mutex, _In_ BOOLEAN Wait);
_IRQL_requires_max_(DISPATCH_LEVEL) LONG NTAPI KeReadStateMutex(_In_ PRKMUTEX Mutex);

_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI ExInitializeFastMutex(_Out_ PFAST_MUTEX FastMutex);
_IRQL_requires_max_(APC_LEVEL) void FASTCALL ExAcquireFastMutex(_Inout_ PFAST_MUTEX FastMutex);
_IRQL_requires_(APC_LEVEL) void FASTCALL ExReleaseFastMutex(_Inout_ PFAST_MUTEX FastMutex);
_IRQL_requires_max_(APC_LEVEL) BOOLEAN FASTCALL ExTryToAcquireFastMutex(_Inout_ PFAST_MUTEX FastMutex);
_IRQL_requires_(APC_LEVEL) void FASTCALL ExAcquireFastMutexUnsafe(_Inout_ PFAST_MUTEX FastMutex);
_IRQL_requires_(APC_LEVEL) void FASTCALL ExReleaseFastMutexUnsafe(_Inout_ PFAST_MUTEX FastMutex);

_IRQL_requires_max_(APC_LEVEL) void NTAPI KeInitializeGuardedMutex(_Out_ PKGUARDED_MUTEX Mutex);
_IRQL_requires_max_(APC_LEVEL) void FASTCALL KeAcquireGuardedMutex(_Inout_ PKGUARDED_MUTEX Mutex);
_IRQL_requires_max_(APC_LEVEL) void FASTCALL KeReleaseGuardedMutex(_Inout_ PKGUARDED_MUTEX Mutex);
_IRQL_requires_max_(APC_LEVEL) BOOLEAN FASTCALL KeTryToAcquireGuardedMutex(_Inout_ PKGUARDED_MUTEX Mutex);
_IRQL_requires_max_(APC_LEVEL) void FASTCALL KeAcquireGuardedMutexUnsafe(_Inout_ PKGUARDED_MUTEX Mutex);
_IRQL_requires_max_(APC_LEVEL) void FASTCALL KeReleaseGuardedMutexUnsafe(_Inout_ PKGUARDED_MUTEX Mutex);

_IRQL_requires_max_(APC_LEVEL) void NTAPI KeEnterCriticalRegion(void);
_IRQL_requires_max_(APC_LEVEL) void NTAPI KeLeaveCriticalRegion(void);
_IRQL_requires_max_(APC_LEVEL) void NTAPI KeEnterGuardedRegion(void);
_IRQL_requires_max_(APC_LEVEL) void NTAPI KeLeaveGuardedRegion(void);
OPENWFP_END_DECLS

/* ---- Executive resources (SPEC S15.2) ----------------------------------------------------- */
/* ERESOURCE: shared / exclusive, recursive for its owners; an exclusive owner may also acquire
 * it shared. The structure is the WDK's size (104 bytes on x64); openwfp keeps its state in an
 * allocation that ExInitializeResourceLite makes and ExDeleteResourceLite frees. */
typedef ULONG_PTR ERESOURCE_THREAD, *PERESOURCE_THREAD;
typedef struct _ERESOURCE {
  PVOID OpenwfpState;
  ULONG_PTR Reserved[12];
} ERESOURCE, *PERESOURCE;

OPENWFP_BEGIN_DECLS
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI ExInitializeResourceLite(_Out_ PERESOURCE Resource);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI ExReinitializeResourceLite(_Inout_ PERESOURCE Resource);
_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS NTAPI ExDeleteResourceLite(_Inout_ PERESOURCE Resource);
_IRQL_requires_max_(APC_LEVEL) BOOLEAN NTAPI ExAcquireResourceExclusiveLite(_Inout_ PERESOURCE Resource,
                                                                            _In_ BOOLEAN Wait);
_IRQL_requires_max_(APC_LEVEL) BOOLEAN NTAPI ExAcquireResourceSharedLite(_Inout_ PERESOURCE Resource,
                                                                         _In_ BOOLEAN Wait);
_IRQL_requires_max_(APC_LEVEL) BOOLEAN NTAPI ExAcquireSharedStarveExclusive(_Inout_ PERESOURCE Resource,
                                                                            _In_ BOOLEAN Wait);
_IRQL_requires_max_(DISPATCH_LEVEL) void FASTCALL ExReleaseResourceLite(_Inout_ PERESOURCE Resource);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI ExReleaseResourceForThreadLite(_Inout_ PERESOURCE Resource,
                                                                              _In_ ERESOURCE_THREAD ResourceThreadId);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI ExConvertExclusiveToSharedLite(_Inout_ PERESOURCE Resource);
_IRQL_requires_max_(DISPATCH_LEVEL) BOOLEAN NTAPI ExIsResourceAcquiredExclusiveLite(_In_ PERESOURCE Resource);
_IRQL_requires_max_(DISPATCH_LEVEL) ULONG NTAPI ExIsResourceAcquiredSharedLite(_In_ PERESOURCE Resource);
ERESOURCE_THREAD NTAPI ExGetCurrentResourceThread(void);
_IRQL_requires_max_(APC_LEVEL) PVOID NTAPI ExEnterCriticalRegionAndAcquireResourceExclusive(_Inout_ PERESOURCE Resource);
_IRQL_requires_max_(APC_LEVEL) PVOID NTAPI ExEnterCriticalRegionAndAcquireResourceShared(_Inout_ PERESOURCE Resource);
_IRQL_requires_max_(APC_LEVEL) void FASTCALL ExReleaseResourceAndLeaveCriticalRegion(_Inout_ PERESOURCE Resource);
OPENWFP_END_DECLS
#define ExAcquireResourceExclusive ExAcquireResourceExclusiveLite
#define ExAcquireResourceShared ExAcquireResourceSharedLite
#define ExReleaseResource ExReleaseResourceLite
#define ExIsResourceAcquiredExclusive ExIsResourceAcquiredExclusiveLite
#define ExIsResourceAcquiredLite ExIsResourceAcquiredSharedLite

/* ---- Rundown protection (SPEC S15.2) ------------------------------------------------------ */
typedef struct _EX_RUNDOWN_REF {
  union {
    volatile ULONG_PTR Count;
    volatile PVOID Ptr;
  };
} EX_RUNDOWN_REF, *PEX_RUNDOWN_REF;

OPENWFP_BEGIN_DECLS
void NTAPI ExInitializeRundownProtection(_Out_ PEX_RUNDOWN_REF RunRef);
void NTAPI ExReInitializeRundownProtection(_Inout_ PEX_RUNDOWN_REF RunRef);
_Must_inspect_result_ BOOLEAN FASTCALL ExAcquireRundownProtection(_Inout_ PEX_RUNDOWN_REF RunRef);
_Must_inspect_result_ BOOLEAN FASTCALL ExAcquireRundownProtectionEx(_Inout_ PEX_RUNDOWN_REF RunRef, _In_ ULONG Count);
void FASTCALL ExReleaseRundownProtection(_Inout_ PEX_RUNDOWN_REF RunRef);
void FASTCALL ExReleaseRundownProtectionEx(_Inout_ PEX_RUNDOWN_REF RunRef, _In_ ULONG Count);
_IRQL_requires_max_(APC_LEVEL) void FASTCALL ExWaitForRundownProtectionRelease(_Inout_ PEX_RUNDOWN_REF RunRef);
void NTAPI ExRundownCompleted(_Out_ PEX_RUNDOWN_REF RunRef);
OPENWFP_END_DECLS

/* ---- Callback objects (SPEC S15.2) -------------------------------------------------------- */
/* Named callback objects live as long as the process; \Callback\PowerState,
 * \Callback\SetSystemTime and \Callback\ProcessorAdd exist from the start (openwfp never
 * notifies them: no power or clock events are simulated). ExUnregisterCallback returns after
 * the callback's running notifications have ended. */
typedef struct _CALLBACK_OBJECT *PCALLBACK_OBJECT;
typedef void CALLBACK_FUNCTION(_In_opt_ PVOID CallbackContext, _In_opt_ PVOID Argument1,
                               _In_opt_ PVOID Argument2);
typedef CALLBACK_FUNCTION *PCALLBACK_FUNCTION;
#define PO_CB_SYSTEM_POWER_POLICY 0
#define PO_CB_AC_STATUS 1
#define PO_CB_BUTTON_COLLAPSED 2
#define PO_CB_SYSTEM_STATE_LOCK 3
#define PO_CB_LID_SWITCH_STATE 4
#define PO_CB_PROCESSOR_POWER_POLICY 5

OPENWFP_BEGIN_DECLS
_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
ExCreateCallback(_Outptr_ PCALLBACK_OBJECT *CallbackObject, _In_ POBJECT_ATTRIBUTES ObjectAttributes,
                 _In_ BOOLEAN Create, _In_ BOOLEAN AllowMultipleCallbacks);
_IRQL_requires_max_(APC_LEVEL) PVOID NTAPI
ExRegisterCallback(_Inout_ PCALLBACK_OBJECT CallbackObject, _In_ PCALLBACK_FUNCTION CallbackFunction,
                   _In_opt_ PVOID CallbackContext);
_IRQL_requires_max_(APC_LEVEL) void NTAPI ExUnregisterCallback(_Inout_ PVOID CallbackRegistration);
_IRQL_requires_max_(DISPATCH_LEVEL) void NTAPI
ExNotifyCallback(_In_ PVOID CallbackObject, _In_opt_ PVOID Argument1, _In_opt_ PVOID Argument2);
OPENWFP_END_DECLS

#endif /* OPENWFP_KM_WDM_H */
