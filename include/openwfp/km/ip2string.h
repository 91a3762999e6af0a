/*
 * ip2string.h - RtlIpv4/Ipv6AddressToString(Ex)A/W and RtlIpv4/Ipv6StringToAddressA/W
 * (SPEC S15.2; implemented by libopenwfp, km/ip_strings.cpp). Output as on Windows: IPv4
 * dotted decimal; IPv6 lowercase hex with the longest run of two or more zero groups as "::"
 * and a v4-mapped address as ::ffff:a.b.c.d; the Ex forms add "%scope" and, with a port
 * (network byte order), "[...]:port" / "a.b.c.d:port". Buffers: the non-Ex forms need 16
 * (IPv4) / 46 (IPv6) characters; the Ex forms take the buffer's length in characters and
 * return STATUS_INVALID_PARAMETER with *AddressStringLength set to the length needed
 * (with its NUL) when it does not fit.
 */
#ifndef OPENWFP_KM_IP2STRING_H
#define OPENWFP_KM_IP2STRING_H

#include "openwfp_km_base.h"
#include "ws2def.h"
#include "ws2ipdef.h"

#define INET_ADDRSTRLEN 22
#define INET6_ADDRSTRLEN 65

OPENWFP_BEGIN_DECLS
PSTR NTAPI RtlIpv4AddressToStringA(_In_ const IN_ADDR *Addr, _Out_writes_(16) PSTR S);
PWSTR NTAPI RtlIpv4AddressToStringW(_In_ const IN_ADDR *Addr, _Out_writes_(16) PWSTR S);
NTSTATUS NTAPI RtlIpv4AddressToStringExA(_In_ const IN_ADDR *Address, _In_ USHORT Port,
                                         _Out_writes_to_(*AddressStringLength, *AddressStringLength) PSTR AddressString,
                                         _Inout_ PULONG AddressStringLength);
NTSTATUS NTAPI RtlIpv4AddressToStringExW(_In_ const IN_ADDR *Address, _In_ USHORT Port,
                                         _Out_writes_to_(*AddressStringLength, *AddressStringLength) PWSTR AddressString,
                                         _Inout_ PULONG AddressStringLength);
PSTR NTAPI RtlIpv6AddressToStringA(_In_ const IN6_ADDR *Addr, _Out_writes_(46) PSTR S);
PWSTR NTAPI RtlIpv6AddressToStringW(_In_ const IN6_ADDR *Addr, _Out_writes_(46) PWSTR S);
NTSTATUS NTAPI RtlIpv6AddressToStringExA(_In_ const IN6_ADDR *Address, _In_ ULONG ScopeId, _In_ USHORT Port,
                                         _Out_writes_to_(*AddressStringLength, *AddressStringLength) PSTR AddressString,
                                         _Inout_ PULONG AddressStringLength);
NTSTATUS NTAPI RtlIpv6AddressToStringExW(_In_ const IN6_ADDR *Address, _In_ ULONG ScopeId, _In_ USHORT Port,
                                         _Out_writes_to_(*AddressStringLength, *AddressStringLength) PWSTR AddressString,
                                         _Inout_ PULONG AddressStringLength);
/* Strict dotted-decimal / RFC 4291 text; Terminator points after the address. */
NTSTATUS NTAPI RtlIpv4StringToAddressA(_In_ PCSTR S, _In_ BOOLEAN Strict, _Out_ PCSTR *Terminator,
                                       _Out_ IN_ADDR *Addr);
NTSTATUS NTAPI RtlIpv4StringToAddressW(_In_ PCWSTR S, _In_ BOOLEAN Strict, _Out_ PCWSTR *Terminator,
                                       _Out_ IN_ADDR *Addr);
NTSTATUS NTAPI RtlIpv6StringToAddressA(_In_ PCSTR S, _Out_ PCSTR *Terminator, _Out_ IN6_ADDR *Addr);
NTSTATUS NTAPI RtlIpv6StringToAddressW(_In_ PCWSTR S, _Out_ PCWSTR *Terminator, _Out_ IN6_ADDR *Addr);
OPENWFP_END_DECLS

#ifdef UNICODE
#define RtlIpv4AddressToString RtlIpv4AddressToStringW
#define RtlIpv4AddressToStringEx RtlIpv4AddressToStringExW
#define RtlIpv6AddressToString RtlIpv6AddressToStringW
#define RtlIpv6AddressToStringEx RtlIpv6AddressToStringExW
#define RtlIpv4StringToAddress RtlIpv4StringToAddressW
#define RtlIpv6StringToAddress RtlIpv6StringToAddressW
#else
#define RtlIpv4AddressToString RtlIpv4AddressToStringA
#define RtlIpv4AddressToStringEx RtlIpv4AddressToStringExA
#define RtlIpv6AddressToString RtlIpv6AddressToStringA
#define RtlIpv6AddressToStringEx RtlIpv6AddressToStringExA
#define RtlIpv4StringToAddress RtlIpv4StringToAddressA
#define RtlIpv6StringToAddress RtlIpv6StringToAddressA
#endif

#endif /* OPENWFP_KM_IP2STRING_H */
