/*
 * ntintsafe.h - overflow-checked integer arithmetic and conversions (SPEC S15.2), with the
 * WDK names: Rtl<Type>Add / Sub / Mult and Rtl<From>To<To>. On overflow (or a value that does
 * not fit the target) the result is the type's error value (all bits set for unsigned types,
 * -1 for signed ones) and the status STATUS_INTEGER_OVERFLOW; otherwise STATUS_SUCCESS.
 */
#ifndef OPENWFP_KM_NTINTSAFE_H
#define OPENWFP_KM_NTINTSAFE_H
#include "openwfp_km_base.h"
#include "ntstatus.h"

#define SIZE_T_ERROR ((SIZE_T)-1)
#define ULONG_ERROR 0xffffffffUL
#define UINT_ERROR 0xffffffffU
#define UINT32_ERROR 0xffffffffU
#define ULONGLONG_ERROR 0xffffffffffffffffULL
#define UINT64_ERROR 0xffffffffffffffffULL
#define USHORT_ERROR 0xffff
#define UINT8_ERROR 0xff
#define BYTE_ERROR 0xff
#define ULONG_PTR_ERROR ((ULONG_PTR)-1)
#define DWORD_ERROR 0xffffffffUL
#define LONG_ERROR (-1L)
#define INT_ERROR (-1)
#define LONGLONG_ERROR (-1LL)
#define INT32_ERROR (-1)
#define INT64_ERROR (-1LL)
#define SSIZET_ERROR ((SSIZE_T)-1)
#define LONG_PTR_ERROR ((LONG_PTR)-1)
#define SHORT_ERROR (-1)
#define INTSAFE_E_ARITHMETIC_OVERFLOW ((HRESULT)0x80070216L)

OPENWFP_INLINE NTSTATUS RtlSizeTAdd(_In_ SIZE_T Augend, _In_ SIZE_T Addend, _Out_ SIZE_T *Result) {
  SIZE_T r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (SIZE_T)SIZE_T_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlSizeTSub(_In_ SIZE_T Minuend, _In_ SIZE_T Subtrahend, _Out_ SIZE_T *Result) {
  SIZE_T r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (SIZE_T)SIZE_T_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlSizeTMult(_In_ SIZE_T Multiplicand, _In_ SIZE_T Multiplier, _Out_ SIZE_T *Result) {
  SIZE_T r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (SIZE_T)SIZE_T_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongAdd(_In_ ULONG Augend, _In_ ULONG Addend, _Out_ ULONG *Result) {
  ULONG r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (ULONG)ULONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongSub(_In_ ULONG Minuend, _In_ ULONG Subtrahend, _Out_ ULONG *Result) {
  ULONG r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (ULONG)ULONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongMult(_In_ ULONG Multiplicand, _In_ ULONG Multiplier, _Out_ ULONG *Result) {
  ULONG r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (ULONG)ULONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUIntAdd(_In_ UINT Augend, _In_ UINT Addend, _Out_ UINT *Result) {
  UINT r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (UINT)UINT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUIntSub(_In_ UINT Minuend, _In_ UINT Subtrahend, _Out_ UINT *Result) {
  UINT r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (UINT)UINT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUIntMult(_In_ UINT Multiplicand, _In_ UINT Multiplier, _Out_ UINT *Result) {
  UINT r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (UINT)UINT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUInt32Add(_In_ UINT32 Augend, _In_ UINT32 Addend, _Out_ UINT32 *Result) {
  UINT32 r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (UINT32)UINT32_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUInt32Sub(_In_ UINT32 Minuend, _In_ UINT32 Subtrahend, _Out_ UINT32 *Result) {
  UINT32 r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (UINT32)UINT32_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUInt32Mult(_In_ UINT32 Multiplicand, _In_ UINT32 Multiplier, _Out_ UINT32 *Result) {
  UINT32 r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (UINT32)UINT32_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongLongAdd(_In_ ULONGLONG Augend, _In_ ULONGLONG Addend, _Out_ ULONGLONG *Result) {
  ULONGLONG r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (ULONGLONG)ULONGLONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongLongSub(_In_ ULONGLONG Minuend, _In_ ULONGLONG Subtrahend, _Out_ ULONGLONG *Result) {
  ULONGLONG r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (ULONGLONG)ULONGLONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongLongMult(_In_ ULONGLONG Multiplicand, _In_ ULONGLONG Multiplier, _Out_ ULONGLONG *Result) {
  ULONGLONG r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (ULONGLONG)ULONGLONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUInt64Add(_In_ UINT64 Augend, _In_ UINT64 Addend, _Out_ UINT64 *Result) {
  UINT64 r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (UINT64)UINT64_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUInt64Sub(_In_ UINT64 Minuend, _In_ UINT64 Subtrahend, _Out_ UINT64 *Result) {
  UINT64 r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (UINT64)UINT64_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUInt64Mult(_In_ UINT64 Multiplicand, _In_ UINT64 Multiplier, _Out_ UINT64 *Result) {
  UINT64 r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (UINT64)UINT64_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUShortAdd(_In_ USHORT Augend, _In_ USHORT Addend, _Out_ USHORT *Result) {
  USHORT r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (USHORT)USHORT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUShortSub(_In_ USHORT Minuend, _In_ USHORT Subtrahend, _Out_ USHORT *Result) {
  USHORT r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (USHORT)USHORT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUShortMult(_In_ USHORT Multiplicand, _In_ USHORT Multiplier, _Out_ USHORT *Result) {
  USHORT r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (USHORT)USHORT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUInt8Add(_In_ UINT8 Augend, _In_ UINT8 Addend, _Out_ UINT8 *Result) {
  UINT8 r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (UINT8)UINT8_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUInt8Sub(_In_ UINT8 Minuend, _In_ UINT8 Subtrahend, _Out_ UINT8 *Result) {
  UINT8 r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (UINT8)UINT8_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUInt8Mult(_In_ UINT8 Multiplicand, _In_ UINT8 Multiplier, _Out_ UINT8 *Result) {
  UINT8 r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (UINT8)UINT8_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongPtrAdd(_In_ ULONG_PTR Augend, _In_ ULONG_PTR Addend, _Out_ ULONG_PTR *Result) {
  ULONG_PTR r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (ULONG_PTR)ULONG_PTR_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongPtrSub(_In_ ULONG_PTR Minuend, _In_ ULONG_PTR Subtrahend, _Out_ ULONG_PTR *Result) {
  ULONG_PTR r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (ULONG_PTR)ULONG_PTR_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongPtrMult(_In_ ULONG_PTR Multiplicand, _In_ ULONG_PTR Multiplier, _Out_ ULONG_PTR *Result) {
  ULONG_PTR r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (ULONG_PTR)ULONG_PTR_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlDWordAdd(_In_ DWORD Augend, _In_ DWORD Addend, _Out_ DWORD *Result) {
  DWORD r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (DWORD)DWORD_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlDWordSub(_In_ DWORD Minuend, _In_ DWORD Subtrahend, _Out_ DWORD *Result) {
  DWORD r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (DWORD)DWORD_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlDWordMult(_In_ DWORD Multiplicand, _In_ DWORD Multiplier, _Out_ DWORD *Result) {
  DWORD r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (DWORD)DWORD_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlLongAdd(_In_ LONG Augend, _In_ LONG Addend, _Out_ LONG *Result) {
  LONG r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (LONG)LONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlLongSub(_In_ LONG Minuend, _In_ LONG Subtrahend, _Out_ LONG *Result) {
  LONG r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (LONG)LONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlLongMult(_In_ LONG Multiplicand, _In_ LONG Multiplier, _Out_ LONG *Result) {
  LONG r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (LONG)LONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlIntAdd(_In_ INT Augend, _In_ INT Addend, _Out_ INT *Result) {
  INT r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (INT)INT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlIntSub(_In_ INT Minuend, _In_ INT Subtrahend, _Out_ INT *Result) {
  INT r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (INT)INT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlIntMult(_In_ INT Multiplicand, _In_ INT Multiplier, _Out_ INT *Result) {
  INT r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (INT)INT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlLongLongAdd(_In_ LONGLONG Augend, _In_ LONGLONG Addend, _Out_ LONGLONG *Result) {
  LONGLONG r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (LONGLONG)LONGLONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlLongLongSub(_In_ LONGLONG Minuend, _In_ LONGLONG Subtrahend, _Out_ LONGLONG *Result) {
  LONGLONG r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (LONGLONG)LONGLONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlLongLongMult(_In_ LONGLONG Multiplicand, _In_ LONGLONG Multiplier, _Out_ LONGLONG *Result) {
  LONGLONG r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (LONGLONG)LONGLONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlInt32Add(_In_ INT32 Augend, _In_ INT32 Addend, _Out_ INT32 *Result) {
  INT32 r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (INT32)INT32_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlInt32Sub(_In_ INT32 Minuend, _In_ INT32 Subtrahend, _Out_ INT32 *Result) {
  INT32 r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (INT32)INT32_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlInt32Mult(_In_ INT32 Multiplicand, _In_ INT32 Multiplier, _Out_ INT32 *Result) {
  INT32 r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (INT32)INT32_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlInt64Add(_In_ INT64 Augend, _In_ INT64 Addend, _Out_ INT64 *Result) {
  INT64 r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (INT64)INT64_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlInt64Sub(_In_ INT64 Minuend, _In_ INT64 Subtrahend, _Out_ INT64 *Result) {
  INT64 r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (INT64)INT64_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlInt64Mult(_In_ INT64 Multiplicand, _In_ INT64 Multiplier, _Out_ INT64 *Result) {
  INT64 r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (INT64)INT64_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlSSIZETAdd(_In_ SSIZE_T Augend, _In_ SSIZE_T Addend, _Out_ SSIZE_T *Result) {
  SSIZE_T r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (SSIZE_T)SSIZET_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlSSIZETSub(_In_ SSIZE_T Minuend, _In_ SSIZE_T Subtrahend, _Out_ SSIZE_T *Result) {
  SSIZE_T r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (SSIZE_T)SSIZET_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlSSIZETMult(_In_ SSIZE_T Multiplicand, _In_ SSIZE_T Multiplier, _Out_ SSIZE_T *Result) {
  SSIZE_T r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (SSIZE_T)SSIZET_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlLongPtrAdd(_In_ LONG_PTR Augend, _In_ LONG_PTR Addend, _Out_ LONG_PTR *Result) {
  LONG_PTR r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (LONG_PTR)LONG_PTR_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlLongPtrSub(_In_ LONG_PTR Minuend, _In_ LONG_PTR Subtrahend, _Out_ LONG_PTR *Result) {
  LONG_PTR r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (LONG_PTR)LONG_PTR_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlLongPtrMult(_In_ LONG_PTR Multiplicand, _In_ LONG_PTR Multiplier, _Out_ LONG_PTR *Result) {
  LONG_PTR r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (LONG_PTR)LONG_PTR_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlShortAdd(_In_ SHORT Augend, _In_ SHORT Addend, _Out_ SHORT *Result) {
  SHORT r;
  if (__builtin_add_overflow(Augend, Addend, &r)) {
    *Result = (SHORT)SHORT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlShortSub(_In_ SHORT Minuend, _In_ SHORT Subtrahend, _Out_ SHORT *Result) {
  SHORT r;
  if (__builtin_sub_overflow(Minuend, Subtrahend, &r)) {
    *Result = (SHORT)SHORT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlShortMult(_In_ SHORT Multiplicand, _In_ SHORT Multiplier, _Out_ SHORT *Result) {
  SHORT r;
  if (__builtin_mul_overflow(Multiplicand, Multiplier, &r)) {
    *Result = (SHORT)SHORT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongToUShort(_In_ ULONG Operand, _Out_ USHORT *Result) {
  USHORT r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (USHORT)USHORT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongToUChar(_In_ ULONG Operand, _Out_ UCHAR *Result) {
  UCHAR r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (UCHAR)UINT8_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongToLong(_In_ ULONG Operand, _Out_ LONG *Result) {
  LONG r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (LONG)LONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongToInt(_In_ ULONG Operand, _Out_ INT *Result) {
  INT r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (INT)INT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlSizeTToULong(_In_ SIZE_T Operand, _Out_ ULONG *Result) {
  ULONG r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (ULONG)ULONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlSizeTToUInt(_In_ SIZE_T Operand, _Out_ UINT *Result) {
  UINT r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (UINT)UINT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlSizeTToUShort(_In_ SIZE_T Operand, _Out_ USHORT *Result) {
  USHORT r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (USHORT)USHORT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlSizeTToLong(_In_ SIZE_T Operand, _Out_ LONG *Result) {
  LONG r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (LONG)LONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlSizeTToDWord(_In_ SIZE_T Operand, _Out_ DWORD *Result) {
  DWORD r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (DWORD)DWORD_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongLongToULong(_In_ ULONGLONG Operand, _Out_ ULONG *Result) {
  ULONG r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (ULONG)ULONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongLongToSizeT(_In_ ULONGLONG Operand, _Out_ SIZE_T *Result) {
  SIZE_T r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (SIZE_T)SIZE_T_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongLongToUInt(_In_ ULONGLONG Operand, _Out_ UINT *Result) {
  UINT r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (UINT)UINT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongLongToLongLong(_In_ ULONGLONG Operand, _Out_ LONGLONG *Result) {
  LONGLONG r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (LONGLONG)LONGLONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlLongToULong(_In_ LONG Operand, _Out_ ULONG *Result) {
  ULONG r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (ULONG)ULONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlLongToSizeT(_In_ LONG Operand, _Out_ SIZE_T *Result) {
  SIZE_T r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (SIZE_T)SIZE_T_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlLongToUShort(_In_ LONG Operand, _Out_ USHORT *Result) {
  USHORT r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (USHORT)USHORT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlIntToULong(_In_ INT Operand, _Out_ ULONG *Result) {
  ULONG r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (ULONG)ULONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlIntToSizeT(_In_ INT Operand, _Out_ SIZE_T *Result) {
  SIZE_T r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (SIZE_T)SIZE_T_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlLongLongToULong(_In_ LONGLONG Operand, _Out_ ULONG *Result) {
  ULONG r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (ULONG)ULONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlLongLongToLong(_In_ LONGLONG Operand, _Out_ LONG *Result) {
  LONG r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (LONG)LONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlULongPtrToULong(_In_ ULONG_PTR Operand, _Out_ ULONG *Result) {
  ULONG r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (ULONG)ULONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUIntToUShort(_In_ UINT Operand, _Out_ USHORT *Result) {
  USHORT r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (USHORT)USHORT_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlUShortToUChar(_In_ USHORT Operand, _Out_ UCHAR *Result) {
  UCHAR r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (UCHAR)UINT8_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlSSIZETToULong(_In_ SSIZE_T Operand, _Out_ ULONG *Result) {
  ULONG r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (ULONG)ULONG_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE NTSTATUS RtlSizeTToSSIZET(_In_ SIZE_T Operand, _Out_ SSIZE_T *Result) {
  SSIZE_T r;
  if (__builtin_add_overflow(Operand, 0, &r)) {
    *Result = (SSIZE_T)SSIZET_ERROR;
    return STATUS_INTEGER_OVERFLOW;
  }
  *Result = r;
  return STATUS_SUCCESS;
}
#define RtlUIntPtrAdd RtlULongPtrAdd
#define RtlUIntPtrSub RtlULongPtrSub
#define RtlUIntPtrMult RtlULongPtrMult
#define RtlDWordPtrAdd RtlULongPtrAdd
#define RtlDWordPtrMult RtlULongPtrMult

#endif /* OPENWFP_KM_NTINTSAFE_H */
