/*
 * openwfp_km_base.h - basic Windows kernel types, SAL annotations and helper macros shared by
 * every WDK/SDK-named header in include/openwfp/km (SPEC S1.2).
 *
 * Written for openwfp from the documented Windows type definitions; the widths hold on LP64
 * Linux: ULONG/DWORD/UINT32 are 32 bits, UINT64 64, SIZE_T pointer-sized, NTSTATUS a signed
 * 32-bit integer, BOOLEAN 8 bits, WCHAR is wchar_t (openwfp choice, so L"..." literals work).
 * Compiles as C11 and as C++ (17 and later).
 */
#ifndef OPENWFP_KM_BASE_H
#define OPENWFP_KM_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <wchar.h>

#include "sdkddkver.h"

/* Multi-character pool tags ('gaTX') are how Windows drivers name their allocations; MSVC
 * accepts them silently and GCC gives them the same value. Silence GCC's -Wmultichar for the
 * rest of the translation unit (effective for C; g++ before 13 ignores this pragma for lexer
 * warnings, so C++ drivers with such tags need -Wno-multichar there). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmultichar"
#endif

/* ---- Linkage helpers -------------------------------------------------------------------- */
#ifdef __cplusplus
#define OPENWFP_EXTERN_C extern "C"
#define OPENWFP_BEGIN_DECLS extern "C" {
#define OPENWFP_END_DECLS }
#else
#define OPENWFP_EXTERN_C extern
#define OPENWFP_BEGIN_DECLS
#define OPENWFP_END_DECLS
#endif

#ifndef EXTERN_C
#ifdef __cplusplus
#define EXTERN_C extern "C"
#else
#define EXTERN_C extern
#endif
#endif

/* Static inline helpers that compile quietly in C and C++. */
#define OPENWFP_INLINE static inline

/* ---- Calling conventions and decoration: nothing on Linux -------------------------------- */
#ifndef NTAPI
#define NTAPI
#endif
#ifndef WINAPI
#define WINAPI
#endif
#ifndef NTSYSAPI
#define NTSYSAPI
#endif
#ifndef NTKERNELAPI
#define NTKERNELAPI
#endif
#ifndef NTHALAPI
#define NTHALAPI
#endif
#ifndef NTSYSCALLAPI
#define NTSYSCALLAPI
#endif
#ifndef CALLBACK
#define CALLBACK
#endif
#ifndef __stdcall
#define __stdcall
#endif
#ifndef __cdecl
#define __cdecl
#endif
#ifndef __fastcall
#define __fastcall
#endif
#ifndef FASTCALL
#define FASTCALL
#endif
#ifndef NTAPI_INLINE
#define NTAPI_INLINE
#endif
#ifndef DECLSPEC_NOINLINE
#define DECLSPEC_NOINLINE
#endif
#ifndef DECLSPEC_SELECTANY
#define DECLSPEC_SELECTANY __attribute__((weak))
#endif
#ifndef DECLSPEC_ALIGN
#define DECLSPEC_ALIGN(x) __attribute__((aligned(x)))
#endif
#ifndef FORCEINLINE
#define FORCEINLINE __inline__ __attribute__((__always_inline__, __unused__))
#endif
#ifndef __forceinline
#define __forceinline __inline__ __attribute__((__always_inline__))
#endif
#ifndef FAR
#define FAR
#endif
#ifndef NEAR
#define NEAR
#endif
#ifndef CONST
#define CONST const
#endif
#ifndef __MIDL_CONST
#define __MIDL_CONST const
#endif
#ifndef UNALIGNED
#define UNALIGNED
#endif
#ifndef POINTER_64
#define POINTER_64
#endif
#ifndef __ptr64
#define __ptr64
#endif
#ifndef __RPC_FAR
#define __RPC_FAR
#endif
#ifndef DUMMYSTRUCTNAME
#define DUMMYSTRUCTNAME
#define DUMMYSTRUCTNAME2
#define DUMMYUNIONNAME
#define DUMMYUNIONNAME2
#endif

/* ---- SAL annotations: all compile to nothing --------------------------------------------- */
#define _In_
#define _In_opt_
#define _In_z_
#define _In_opt_z_
#define _Out_
#define _Out_opt_
#define _Inout_
#define _Inout_opt_
#define _Inout_z_
#define _In_reads_(x)
#define _In_reads_opt_(x)
#define _In_reads_bytes_(x)
#define _In_reads_bytes_opt_(x)
#define _Out_writes_(x)
#define _Out_writes_opt_(x)
#define _Out_writes_bytes_(x)
#define _Out_writes_bytes_opt_(x)
#define _Out_writes_bytes_to_(x, y)
#define _Out_writes_bytes_to_opt_(x, y)
#define _Out_writes_bytes_all_(x)
#define _Out_writes_bytes_all_opt_(x)
#define _Out_writes_to_(x, y)
#define _Out_writes_to_opt_(x, y)
#define _Inout_updates_(x)
#define _Inout_updates_opt_(x)
#define _Inout_updates_bytes_(x)
#define _Inout_updates_bytes_opt_(x)
#define _Outptr_
#define _Outptr_opt_
#define _Outptr_result_maybenull_
#define _Outptr_opt_result_maybenull_
#define _Outptr_opt_result_buffer_maybenull_(x)
#define _Outptr_result_buffer_(x)
#define _Outptr_result_bytebuffer_(x)
#define _Outptr_result_bytebuffer_maybenull_(x)
#define _Deref_out_
#define _Outptr_result_nullonfailure_
#define _Outptr_opt_result_nullonfailure_
#define _Outptr_result_z_
#define _Outptr_opt_result_z_
#define _Outptr_result_bytebuffer_to_(x, y)
#define _Outptr_result_buffer_to_(x, y)
#define _Outptr_result_buffer_maybenull_(x)
#define _Outptr_opt_result_buffer_(x)
#define _Outptr_opt_result_bytebuffer_(x)
#define _Out_writes_z_(x)
#define _Out_writes_opt_z_(x)
#define _Out_writes_all_(x)
#define _Out_writes_all_opt_(x)
#define _In_reads_z_(x)
#define _In_reads_opt_z_(x)
#define _In_reads_or_z_(x)
#define _In_reads_to_ptr_(x)
#define _In_reads_bytes_opt_z_(x)
#define _Inout_updates_z_(x)
#define _Inout_updates_to_(x, y)
#define _Inout_updates_bytes_to_(x, y)
#define _Inout_updates_all_(x)
#define _Inout_opt_z_
#define _Deref_out_range_(a, b)
#define _Deref_in_range_(a, b)
#define _Deref_out_z_
#define _Out_z_
#define _Out_opt_z_
#define _Ret_writes_(x)
#define _Ret_writes_bytes_(x)
#define _Ret_writes_maybenull_(x)
#define _Ret_writes_bytes_maybenull_(x)
#define _Ret_maybenull_z_
#define _Ret_null_
#define _Ret_valid_
#define _Must_inspect_impl_
#define _Check_return_opt_
#define _Check_return_wat_
#define _Pre_equal_to_(x)
#define _Post_equal_to_(x)
#define _Unchanged_(x)
#define _Raises_SEH_exception_
#define _Maybe_raises_SEH_exception_
#define _Kernel_IoGetDmaAdapter_
#define _Kernel_clear_do_init_(x)
#define _Kernel_ptr_
#define _User_
#define _User_always_
#define _Kernel_requires_resource_held_(x)
#define _Param_(n) 
#define _Old_(x) (x)
#define _In_defensive_(x)
#define _Out_defensive_(x)
#define _Inout_defensive_(x)
#define _Pre_null_
#define _Post_null_
#define _Pre_readable_size_(x)
#define _Pre_writable_size_(x)
#define _Pre_readable_byte_size_(x)
#define _Pre_writable_byte_size_(x)
#define _Post_readable_size_(x)
#define _Post_writable_size_(x)
#define _Post_readable_byte_size_(x)
#define _Post_bytecount_(x)
#define _Post_count_(x)
#define _Deref_post_bytecap_(x)
#define _Deref_post_cap_(x)
#define _Deref_pre_z_
#define _Deref_post_z_
#define _Deref_opt_out_
#define _Deref_out_z_
#define _Deref_post_null_
#define _Deref_post_notnull_
#define _Deref_out_opt_
#define _Deref_post_opt_valid_
#define _Must_inspect_result_
#define _Check_return_
#define _Success_(x)
#define _Return_type_success_(x)
#define _When_(a, b)
#define _Use_decl_annotations_
#define _Post_invalid_
#define _Post_ptr_invalid_
#define _Post_valid_
#define _Post_z_
#define _Post_maybenull_
#define _Post_notnull_
#define _Post_writable_byte_size_(x)
#define _Pre_valid_
#define _Pre_notnull_
#define _Pre_maybenull_
#define _Pre_satisfies_(x)
#define _Post_satisfies_(x)
#define _Ret_maybenull_
#define _Ret_notnull_
#define _Ret_z_
#define _Ret_range_(a, b)
#define _Result_nullonfailure_
#define _Result_zeroonfailure_
#define _Null_terminated_
#define _NullNull_terminated_
#define _Field_size_(x)
#define _Field_size_opt_(x)
#define _Field_size_bytes_(x)
#define _Field_size_bytes_opt_(x)
#define _Field_size_part_(x, y)
#define _Field_size_bytes_part_(x, y)
#define _Field_range_(a, b)
#define _Field_z_
#define _Struct_size_bytes_(x)
#define _Reserved_
#define _Frees_ptr_
#define _Frees_ptr_opt_
#define _Notnull_
#define _Maybenull_
#define _Analysis_assume_(x)
#define _Analysis_mode_(x)
#define _In_range_(a, b)
#define _Out_range_(a, b)
#define _Printf_format_string_
#define _Strict_type_match_
#define _Literal_
#define _Const_
#define _Points_to_data_
#define _Interlocked_operand_
#define _Function_class_(x)
#define _Dispatch_type_(x)
#define _IRQL_requires_(x)
#define _IRQL_requires_max_(x)
#define _IRQL_requires_min_(x)
#define _IRQL_raises_(x)
#define _IRQL_saves_
#define _IRQL_restores_
#define _IRQL_saves_global_(kind, param)
#define _IRQL_restores_global_(kind, param)
#define _IRQL_requires_same_
#define _IRQL_uses_cancel_
#define _IRQL_is_cancel_
#define _IRQL_always_function_max_(x)
#define _IRQL_always_function_min_(x)
#define _Kernel_float_saved_
#define _Kernel_float_restored_
#define _Kernel_float_used_
#define _Kernel_requires_resource_held_(x)
#define _Kernel_requires_resource_not_held_(x)
#define _Kernel_acquires_resource_(x)
#define _Kernel_releases_resource_(x)
#define _Kernel_clear_do_init_(x)
#define _Requires_lock_held_(x)
#define _Requires_lock_not_held_(x)
#define _Acquires_lock_(x)
#define _Releases_lock_(x)
#define _Acquires_exclusive_lock_(x)
#define _Releases_exclusive_lock_(x)
#define _Acquires_shared_lock_(x)
#define _Releases_shared_lock_(x)
#define _Guarded_by_(x)
#define _Releases_nonreentrant_lock_(x)
#define _Acquires_nonreentrant_lock_(x)
#define _Requires_exclusive_lock_held_(x)
#define _Requires_shared_lock_held_(x)
#define _Create_lock_level_(x)
#define _Has_lock_kind_(x)
#define _Has_lock_level_(x)
#define _Lock_level_order_(a, b)
#define _Enum_is_bitflag_
#define _Always_(x)
#define _On_failure_(x)
#define _At_(a, b)
#define _At_buffer_(a, b, c, d)
#define _Group_(x)
#define _Readable_bytes_(x)
#define _Writable_bytes_(x)
#define _Readable_elements_(x)
#define _Writable_elements_(x)
#define _Deref_pre_readonly_
#define _Deref_post_maybenull_
#define _Out_z_cap_(x)
#define _When_(a, b)
#define _Inexpressible_(x)
#define _Pre_defensive_
#define _Post_defensive_
#define _Mem_
#define _IRQL_
#define __drv_aliasesMem
#define __drv_freesMem(x)
#define __drv_allocatesMem(x)
#define __drv_when(a, b)
#define __drv_maxIRQL(x)
#define __drv_minIRQL(x)
#define __drv_setsIRQL(x)
#define __drv_savesIRQL
#define __drv_restoresIRQL
#define __drv_requiresIRQL(x)
#define __drv_dispatchType(x)
#define __drv_functionClass(x)
#define __drv_sameIRQL
#define __drv_strictTypeMatch(x)
#define __drv_inTry
#define __drv_notInTry
#define __drv_reportError(x)
#define __drv_preferredFunction(a, b)
#define __drv_valueIs(x)
#define __drv_at(a, b)
#define __drv_in(x)
#define __drv_out(x)
#define __drv_innerMustHoldGlobal(a, b)
#define __drv_acquiresResource(x)
#define __drv_releasesResource(x)
#define __drv_mustHold(x)
#define __drv_neverHold(x)
#define __drv_useCancelIRQL
#define __drv_isCancelIRQL
#define __drv_restoresIRQLGlobal(a, b)
#define __drv_savesIRQLGlobal(a, b)
#define __drv_acquiresCancelSpinLock
#define __drv_releasesCancelSpinLock
#define __drv_mustHoldCancelSpinLock
#define __drv_neverHoldCancelSpinLock
#define __drv_Mode_impl(x)
#define __drv_requiresIRQL(x)
#define __analysis_assume(x)
#define __in_bcount(x)
#define __out_bcount(x)
#define __in_opt
#define __out_opt
#define __inout_opt
#define __deref_out
#define __checkReturn

/* ---- Basic integer types ----------------------------------------------------------------- */
#ifndef VOID
#define VOID void
#endif
typedef void *PVOID;
typedef void *LPVOID;
typedef const void *PCVOID;
typedef const void *LPCVOID;

typedef char CHAR;
typedef short SHORT;
typedef int32_t LONG;
typedef int INT;
typedef int64_t LONGLONG;
typedef int64_t LONG64;
typedef unsigned char UCHAR;
typedef unsigned short USHORT;
typedef uint32_t ULONG;
typedef unsigned int UINT;
typedef uint64_t ULONGLONG;
typedef uint64_t ULONG64;
typedef uint64_t DWORD64;
typedef uint64_t DWORDLONG;
typedef uint32_t ULONG32;
typedef int32_t LONG32;
typedef int32_t HRESULT;

typedef unsigned char BYTE;
typedef unsigned short WORD;
typedef uint32_t DWORD;
typedef int BOOL;
typedef float FLOAT;
typedef double DOUBLE;
typedef UCHAR BOOLEAN;

typedef int8_t INT8;
typedef int16_t INT16;
typedef int32_t INT32;
typedef int64_t INT64;
typedef uint8_t UINT8;
typedef uint16_t UINT16;
typedef uint32_t UINT32;
typedef uint64_t UINT64;
#ifndef __int64
#define __int64 long long
#endif

typedef intptr_t INT_PTR;
typedef uintptr_t UINT_PTR;
typedef intptr_t LONG_PTR;
typedef uintptr_t ULONG_PTR;
typedef uintptr_t DWORD_PTR;
typedef size_t SIZE_T;
typedef ptrdiff_t SSIZE_T;

typedef CHAR *PCHAR, *LPCH, *PCH, *PSTR, *LPSTR;
typedef const CHAR *PCSTR, *LPCSTR, *PCCH;
typedef SHORT *PSHORT;
typedef LONG *PLONG;
typedef INT *PINT;
typedef LONGLONG *PLONGLONG;
typedef LONG64 *PLONG64;
typedef UCHAR *PUCHAR;
typedef USHORT *PUSHORT;
typedef ULONG *PULONG;
typedef UINT *PUINT;
typedef ULONGLONG *PULONGLONG;
typedef ULONG64 *PULONG64;
typedef BYTE *PBYTE, *LPBYTE;
typedef WORD *PWORD;
typedef DWORD *PDWORD, *LPDWORD;
typedef BOOL *PBOOL;
typedef BOOLEAN *PBOOLEAN;
typedef INT8 *PINT8;
typedef INT16 *PINT16;
typedef INT32 *PINT32;
typedef INT64 *PINT64;
typedef UINT8 *PUINT8;
typedef UINT16 *PUINT16;
typedef UINT32 *PUINT32;
typedef UINT64 *PUINT64;
typedef ULONG_PTR *PULONG_PTR;
typedef LONG_PTR *PLONG_PTR;
typedef SIZE_T *PSIZE_T;
typedef SSIZE_T *PSSIZE_T;

/* WCHAR is wchar_t (openwfp choice, SPEC S1.2): L"..." literals are WCHAR strings. */
typedef wchar_t WCHAR;
typedef WCHAR *PWCHAR, *LPWCH, *PWCH, *PWSTR, *LPWSTR, *NWPSTR;
typedef const WCHAR *PCWCHAR, *LPCWCH, *PCWCH, *PCWSTR, *LPCWSTR;

typedef void *HANDLE;
typedef HANDLE *PHANDLE;
typedef LONG NTSTATUS;
typedef NTSTATUS *PNTSTATUS;
typedef UCHAR KIRQL;
typedef KIRQL *PKIRQL;
typedef ULONG LOGICAL;
typedef ULONG *PLOGICAL;
typedef CHAR CCHAR;
typedef SHORT CSHORT;
typedef ULONG CLONG;
typedef ULONG DEVICE_TYPE;
typedef LONG KPRIORITY;
typedef CCHAR KPROCESSOR_MODE;
typedef ULONG ACCESS_MASK;
typedef ACCESS_MASK *PACCESS_MASK;
typedef PVOID PSECURITY_DESCRIPTOR;
typedef PVOID PSID;

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#ifndef MINCHAR
#define MINCHAR 0x80
#define MAXCHAR 0x7f
#define MINSHORT 0x8000
#define MAXSHORT 0x7fff
#define MINLONG 0x80000000
#define MAXLONG 0x7fffffff
#define MAXUCHAR 0xff
#define MAXUSHORT 0xffff
#define MAXULONG 0xffffffffU
#endif
#ifndef MAXUINT8
#define MAXUINT8 ((UINT8)~((UINT8)0))
#define MAXINT8 ((INT8)(MAXUINT8 >> 1))
#define MININT8 ((INT8)~MAXINT8)
#define MAXUINT16 ((UINT16)~((UINT16)0))
#define MAXINT16 ((INT16)(MAXUINT16 >> 1))
#define MININT16 ((INT16)~MAXINT16)
#define MAXUINT32 ((UINT32)~((UINT32)0))
#define MAXINT32 ((INT32)(MAXUINT32 >> 1))
#define MININT32 ((INT32)~MAXINT32)
#define MAXUINT64 ((UINT64)~((UINT64)0))
#define MAXINT64 ((INT64)(MAXUINT64 >> 1))
#define MININT64 ((INT64)~MAXINT64)
#define MAXULONG32 ((ULONG32)~((ULONG32)0))
#define MAXLONG32 ((LONG32)(MAXULONG32 >> 1))
#define MAXULONG64 ((ULONG64)~((ULONG64)0))
#define MAXLONG64 ((LONG64)(MAXULONG64 >> 1))
#define MAXLONGLONG (0x7fffffffffffffffLL)
#define MAXUINT ((UINT)~((UINT)0))
#define MAXINT ((INT)(MAXUINT >> 1))
#define MININT ((INT)~MAXINT)
#define MAXSIZE_T ((SIZE_T)~((SIZE_T)0))
#define MAXULONG_PTR (~((ULONG_PTR)0))
#define MAXDWORD 0xffffffffU
#endif

/* ---- LARGE_INTEGER, strings, lists ------------------------------------------------------- */
typedef union _LARGE_INTEGER {
  struct {
    ULONG LowPart;
    LONG HighPart;
  } DUMMYSTRUCTNAME;
  struct {
    ULONG LowPart;
    LONG HighPart;
  } u;
  LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

typedef union _ULARGE_INTEGER {
  struct {
    ULONG LowPart;
    ULONG HighPart;
  } DUMMYSTRUCTNAME;
  struct {
    ULONG LowPart;
    ULONG HighPart;
  } u;
  ULONGLONG QuadPart;
} ULARGE_INTEGER, *PULARGE_INTEGER;

typedef struct _LUID {
  ULONG LowPart;
  LONG HighPart;
} LUID, *PLUID;

/* Length and MaximumLength are in bytes, as on Windows (here sizeof(WCHAR) == 4). */
typedef struct _UNICODE_STRING {
  USHORT Length;
  USHORT MaximumLength;
  PWCH Buffer;
} UNICODE_STRING, *PUNICODE_STRING;
typedef const UNICODE_STRING *PCUNICODE_STRING;

typedef struct _STRING {
  USHORT Length;
  USHORT MaximumLength;
  PCHAR Buffer;
} STRING, *PSTRING, ANSI_STRING, *PANSI_STRING, OEM_STRING, *POEM_STRING;
typedef const STRING *PCANSI_STRING;

#define RTL_CONSTANT_STRING(s) \
  { (USHORT)(sizeof(s) - sizeof((s)[0])), (USHORT)sizeof(s), (PWCH)(s) }

/* A const counted string over a local literal (the string stays in _var##_buffer). */
#define DECLARE_CONST_UNICODE_STRING(_var, _string)   \
  const WCHAR _var##_buffer[] = _string;              \
  const UNICODE_STRING _var = {(USHORT)(sizeof(_string) - sizeof(WCHAR)), (USHORT)sizeof(_string), \
                               (PWCH)_var##_buffer}
#define DECLARE_GLOBAL_CONST_UNICODE_STRING(_var, _str) \
  extern const DECLSPEC_SELECTANY UNICODE_STRING _var = RTL_CONSTANT_STRING(_str)
#define DECLARE_UNICODE_STRING_SIZE(_var, _size)                                     \
  WCHAR _var##_buffer[_size];                                                         \
  UNICODE_STRING _var = {0, (USHORT)((_size) * sizeof(WCHAR)), _var##_buffer}

typedef struct _LIST_ENTRY {
  struct _LIST_ENTRY *Flink;
  struct _LIST_ENTRY *Blink;
} LIST_ENTRY, *PLIST_ENTRY, *PRLIST_ENTRY;

typedef struct _SINGLE_LIST_ENTRY {
  struct _SINGLE_LIST_ENTRY *Next;
} SINGLE_LIST_ENTRY, *PSINGLE_LIST_ENTRY;

/* ---- Security identifiers (layout as on Windows; PSID stays PVOID as in the SDK) ----------- */
#define ANYSIZE_ARRAY 1
typedef struct _SID_IDENTIFIER_AUTHORITY {
  UCHAR Value[6];
} SID_IDENTIFIER_AUTHORITY, *PSID_IDENTIFIER_AUTHORITY;

typedef struct _SID {
  UCHAR Revision;
  UCHAR SubAuthorityCount;
  SID_IDENTIFIER_AUTHORITY IdentifierAuthority;
  ULONG SubAuthority[ANYSIZE_ARRAY];
} SID, *PISID;

typedef struct _SID_AND_ATTRIBUTES {
  PSID Sid;
  ULONG Attributes;
} SID_AND_ATTRIBUTES, *PSID_AND_ATTRIBUTES;

/* ---- Status helpers ---------------------------------------------------------------------- */
#define NT_SUCCESS(Status) (((NTSTATUS)(Status)) >= 0)
#define NT_INFORMATION(Status) ((((ULONG)(Status)) >> 30) == 1)
#define NT_WARNING(Status) ((((ULONG)(Status)) >> 30) == 2)
#define NT_ERROR(Status) ((((ULONG)(Status)) >> 30) == 3)

#ifndef SUCCEEDED
#define SUCCEEDED(hr) (((HRESULT)(hr)) >= 0)
#define FAILED(hr) (((HRESULT)(hr)) < 0)
#endif

/* ---- Small macros drivers use ------------------------------------------------------------ */
#define UNREFERENCED_PARAMETER(P) ((void)(P))
#define DBG_UNREFERENCED_PARAMETER(P) ((void)(P))
#define DBG_UNREFERENCED_LOCAL_VARIABLE(V) ((void)(V))
#define UNUSED_PARAMETER(P) ((void)(P))

#define FIELD_OFFSET(type, field) ((LONG)offsetof(type, field))
#define UFIELD_OFFSET(type, field) ((ULONG)offsetof(type, field))
#define RTL_FIELD_SIZE(type, field) (sizeof(((type *)0)->field))
#define RTL_SIZEOF_THROUGH_FIELD(type, field) \
  (FIELD_OFFSET(type, field) + RTL_FIELD_SIZE(type, field))
#define CONTAINING_RECORD(address, type, field) \
  ((type *)((PCHAR)(address) - (ULONG_PTR)offsetof(type, field)))
#define RTL_NUMBER_OF(A) (sizeof(A) / sizeof((A)[0]))
#define RTL_NUMBER_OF_V1(A) RTL_NUMBER_OF(A)
#define RTL_NUMBER_OF_V2(A) RTL_NUMBER_OF(A)
#ifndef ARRAYSIZE
#define ARRAYSIZE(A) RTL_NUMBER_OF(A)
#endif
#ifndef _countof
#define _countof(A) RTL_NUMBER_OF(A)
#endif
#define ALIGN_DOWN_BY(length, alignment) ((ULONG_PTR)(length) & ~((ULONG_PTR)(alignment) - 1))
#define ALIGN_UP_BY(length, alignment) \
  (ALIGN_DOWN_BY(((ULONG_PTR)(length) + (alignment) - 1), (alignment)))
#define ALIGN_DOWN_POINTER_BY(address, alignment) ((PVOID)ALIGN_DOWN_BY((ULONG_PTR)(address), (alignment)))
#define ALIGN_UP_POINTER_BY(address, alignment) ((PVOID)ALIGN_UP_BY((ULONG_PTR)(address), (alignment)))
#define ALIGN_DOWN(length, type) ALIGN_DOWN_BY(length, sizeof(type))
#define ALIGN_UP(length, type) ALIGN_UP_BY(length, sizeof(type))
#define POINTER_IS_ALIGNED(Pointer, Alignment) \
  ((((ULONG_PTR)(Pointer)) & (((ULONG_PTR)(Alignment)) - 1)) == 0)
#define FlagOn(_F, _SF) ((_F) & (_SF))
#define BooleanFlagOn(F, SF) ((BOOLEAN)(((F) & (SF)) != 0))
#define SetFlag(_F, _SF) ((_F) |= (_SF))
#define ClearFlag(_F, _SF) ((_F) &= ~(_SF))

#ifndef TYPE_ALIGNMENT
#ifdef __cplusplus
#define TYPE_ALIGNMENT(t) alignof(t)
#else
#define TYPE_ALIGNMENT(t) _Alignof(t)
#endif
#endif
#ifndef MAX_NATURAL_ALIGNMENT
#define MAX_NATURAL_ALIGNMENT sizeof(ULONGLONG)
#endif

#ifndef C_ASSERT
#ifdef __cplusplus
#define C_ASSERT(e) static_assert((e), #e)
#else
#define C_ASSERT(e) _Static_assert((e), #e)
#endif
#endif

/* Memory helpers (Rtl*Memory) map onto the C library. */
#define RtlEqualMemory(Destination, Source, Length) (!memcmp((Destination), (Source), (Length)))
#define RtlMoveMemory(Destination, Source, Length) memmove((Destination), (Source), (Length))
#define RtlCopyMemory(Destination, Source, Length) memcpy((Destination), (Source), (Length))
#define RtlFillMemory(Destination, Length, Fill) memset((Destination), (Fill), (Length))
#define RtlZeroMemory(Destination, Length) memset((Destination), 0, (Length))
#define RtlSecureZeroMemory(Destination, Length) memset((Destination), 0, (Length))
#define RtlCopyBytes RtlCopyMemory
#define RtlZeroBytes RtlZeroMemory
#define RtlFillBytes RtlFillMemory

/* ---- Compile-time sanity of the LP64 widths (SPEC S1.2) ---------------------------------- */
C_ASSERT(sizeof(ULONG) == 4);
C_ASSERT(sizeof(DWORD) == 4);
C_ASSERT(sizeof(UINT64) == 8);
C_ASSERT(sizeof(SIZE_T) == sizeof(void *));
C_ASSERT(sizeof(NTSTATUS) == 4);
C_ASSERT(sizeof(BOOLEAN) == 1);
C_ASSERT(sizeof(LARGE_INTEGER) == 8);

#endif /* OPENWFP_KM_BASE_H */
