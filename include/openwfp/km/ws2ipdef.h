/*
 * ws2ipdef.h - IPv6 address and sockaddr structures, SOCKADDR_INET and the IP/IPv6 socket options
 * openwfp needs (SPEC S1.1/S1.3), with the Windows SDK's names and values.
 */
#ifndef OPENWFP_KM_WS2IPDEF_H
#define OPENWFP_KM_WS2IPDEF_H

#include "openwfp_km_base.h"
#include "ws2def.h"

/* IPv6 address (Windows in6addr.h layout); s6_addr and s6_words are macros, as on Windows. */
#ifndef OPENWFP_KM_IN6_ADDR_DEFINED
#define OPENWFP_KM_IN6_ADDR_DEFINED
typedef struct in6_addr {
  union {
    UCHAR Byte[16];
    USHORT Word[8];
  } u;
} IN6_ADDR, *PIN6_ADDR, *LPIN6_ADDR;
#define in_addr6 in6_addr
#define _S6_un u
#define _S6_u8 Byte
#define s6_addr _S6_un._S6_u8
#define s6_bytes u.Byte
#define s6_words u.Word
#endif

typedef struct sockaddr_in6 {
  ADDRESS_FAMILY sin6_family;
  USHORT sin6_port;
  ULONG sin6_flowinfo;
  IN6_ADDR sin6_addr;
  union {
    ULONG sin6_scope_id;
    SCOPE_ID sin6_scope_struct;
  };
} SOCKADDR_IN6_LH, *PSOCKADDR_IN6_LH, *LPSOCKADDR_IN6_LH;
typedef SOCKADDR_IN6_LH SOCKADDR_IN6, *PSOCKADDR_IN6, *LPSOCKADDR_IN6;

C_ASSERT(sizeof(SOCKADDR_IN6) == 28);

typedef struct _sockaddr_in6_pair {
  PSOCKADDR_IN6 SourceAddress;
  PSOCKADDR_IN6 DestinationAddress;
} SOCKADDR_IN6_PAIR, *PSOCKADDR_IN6_PAIR;

typedef union _SOCKADDR_INET {
  SOCKADDR_IN Ipv4;
  SOCKADDR_IN6 Ipv6;
  ADDRESS_FAMILY si_family;
} SOCKADDR_INET, *PSOCKADDR_INET;

#define IN6ADDR_ANY_INIT { { { 0 } } }
#define IN6ADDR_LOOPBACK_INIT { { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 } } }

/* IP-level (IPPROTO_IP) socket options used by WFP redirection (wfp-facts 5.9). */
#define IP_OPTIONS 1
#define IP_HDRINCL 2
#define IP_TOS 3
#define IP_TTL 4
#define IP_PKTINFO 19
#define IP_UNICAST_IF 31
#define IP_ORIGINAL_ARRIVAL_IF 47
#define IP_WFP_REDIRECT_RECORDS 60
#define IP_WFP_REDIRECT_CONTEXT 70

/* IPv6-level (IPPROTO_IPV6) socket options. */
#define IPV6_HOPOPTS 1
#define IPV6_HDRINCL 2
#define IPV6_UNICAST_HOPS 4
#define IPV6_V6ONLY 27
#define IPV6_PKTINFO 19
#define IPV6_UNICAST_IF 31
#define IPV6_WFP_REDIRECT_RECORDS 60
#define IPV6_WFP_REDIRECT_CONTEXT 70

#endif /* OPENWFP_KM_WS2IPDEF_H */
