/*
 * mstcpip.h - the WFP redirect socket ioctls (SPEC S1.3, wfp-facts 5.9) and a few IPv4/IPv6
 * address helpers from the Windows SDK header of the same name.
 */
#ifndef OPENWFP_KM_MSTCPIP_H
#define OPENWFP_KM_MSTCPIP_H

#include "openwfp_km_base.h"
#include "ws2def.h"
#include "ws2ipdef.h"
#include "ip2string.h"

#define SIO_RCVALL _WSAIOW(IOC_VENDOR, 1)
#define SIO_RCVALL_MCAST _WSAIOW(IOC_VENDOR, 2)
#define SIO_RCVALL_IGMPMCAST _WSAIOW(IOC_VENDOR, 3)
#define SIO_KEEPALIVE_VALS _WSAIOW(IOC_VENDOR, 4)
#define SIO_ABSORB_RTRALERT _WSAIOW(IOC_VENDOR, 5)
#define SIO_UCAST_IF _WSAIOW(IOC_VENDOR, 6)
#define SIO_LIMIT_BROADCASTS _WSAIOW(IOC_VENDOR, 7)
#define SIO_INDEX_BIND _WSAIOW(IOC_VENDOR, 8)
#define SIO_INDEX_MCASTIF _WSAIOW(IOC_VENDOR, 9)
#define SIO_INDEX_ADD_MCAST _WSAIOW(IOC_VENDOR, 10)
#define SIO_INDEX_DEL_MCAST _WSAIOW(IOC_VENDOR, 11)
#define SIO_RCVALL_MCAST_IF _WSAIOW(IOC_VENDOR, 13)
#define SIO_RCVALL_IF _WSAIOW(IOC_VENDOR, 14)
#define SIO_LOOPBACK_FAST_PATH _WSAIOW(IOC_VENDOR, 16)
#define SIO_TCP_INITIAL_RTO _WSAIOW(IOC_VENDOR, 17)
#define SIO_APPLY_TRANSPORT_SETTING _WSAIOW(IOC_VENDOR, 19)
#define SIO_QUERY_TRANSPORT_SETTING _WSAIOW(IOC_VENDOR, 20)

/* WFP redirection (wfp-facts 5.9). */
#define SIO_QUERY_WFP_ALE_ENDPOINT_HANDLE _WSAIOR(IOC_VENDOR, 205)
#ifndef SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS /* openwfp/winsock.h may define it first (same value) */
#define SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS _WSAIOW(IOC_VENDOR, 220)
#endif
#ifndef SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT /* openwfp/winsock.h may define it first (same value) */
#define SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT _WSAIOW(IOC_VENDOR, 221)
#endif
#ifndef SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS /* openwfp/winsock.h may define it first (same value) */
#define SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS _WSAIOW(IOC_VENDOR, 222)
#endif

/* IPv4 addresses in network byte order as stored in IN_ADDR.s_addr on little-endian hosts. */
#define IN4ADDR_ANY INADDR_ANY
#define IN4ADDR_LOOPBACK 0x0100007f
#define IN4ADDR_BROADCAST INADDR_BROADCAST
#define IN4ADDR_NONE INADDR_NONE

OPENWFP_INLINE BOOLEAN IN4_IS_ADDR_LOOPBACK(const IN_ADDR *a) {
  return (BOOLEAN)(a->S_un.S_un_b.s_b1 == 0x7f);
}
OPENWFP_INLINE BOOLEAN IN4_IS_ADDR_UNSPECIFIED(const IN_ADDR *a) {
  return (BOOLEAN)(a->S_un.S_addr == 0);
}
OPENWFP_INLINE BOOLEAN IN6_IS_ADDR_UNSPECIFIED(const IN6_ADDR *a) {
  static const UCHAR zero[16] = {0};
  return (BOOLEAN)(memcmp(a->u.Byte, zero, 16) == 0);
}
OPENWFP_INLINE BOOLEAN IN6_IS_ADDR_LOOPBACK(const IN6_ADDR *a) {
  static const UCHAR loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return (BOOLEAN)(memcmp(a->u.Byte, loopback, 16) == 0);
}
OPENWFP_INLINE BOOLEAN IN6_IS_ADDR_V4MAPPED(const IN6_ADDR *a) {
  static const UCHAR prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return (BOOLEAN)(memcmp(a->u.Byte, prefix, 12) == 0);
}
OPENWFP_INLINE BOOLEAN IN6_ADDR_EQUAL(const IN6_ADDR *x, const IN6_ADDR *y) {
  return (BOOLEAN)(memcmp(x->u.Byte, y->u.Byte, 16) == 0);
}
OPENWFP_INLINE BOOLEAN IN4_ADDR_EQUAL(const IN_ADDR *x, const IN_ADDR *y) {
  return (BOOLEAN)(x->S_un.S_addr == y->S_un.S_addr);
}
OPENWFP_INLINE void IN6_SET_ADDR_LOOPBACK(IN6_ADDR *a) {
  memset(a->u.Byte, 0, 16);
  a->u.Byte[15] = 1;
}
OPENWFP_INLINE void IN6_SET_ADDR_UNSPECIFIED(IN6_ADDR *a) { memset(a->u.Byte, 0, 16); }

/* ---- Family-independent address helpers of mstcpip.h (SOCKADDR of AF_INET / AF_INET6) ----- */
OPENWFP_INLINE BOOLEAN IN4_IS_ADDR_BROADCAST(const IN_ADDR *a) {
  return (BOOLEAN)(a->S_un.S_addr == 0xffffffffU);
}
OPENWFP_INLINE BOOLEAN IN4_IS_ADDR_MULTICAST(const IN_ADDR *a) {
  return (BOOLEAN)((a->S_un.S_un_b.s_b1 & 0xf0) == 0xe0);
}
OPENWFP_INLINE BOOLEAN IN4_IS_ADDR_LINKLOCAL(const IN_ADDR *a) {
  return (BOOLEAN)(a->S_un.S_un_b.s_b1 == 169 && a->S_un.S_un_b.s_b2 == 254);
}
OPENWFP_INLINE BOOLEAN IN6_IS_ADDR_MULTICAST(const IN6_ADDR *a) { return (BOOLEAN)(a->u.Byte[0] == 0xff); }
OPENWFP_INLINE BOOLEAN IN6_IS_ADDR_LINKLOCAL(const IN6_ADDR *a) {
  return (BOOLEAN)(a->u.Byte[0] == 0xfe && (a->u.Byte[1] & 0xc0) == 0x80);
}
OPENWFP_INLINE void IN4ADDR_SETANY(PSOCKADDR_IN a) {
  a->sin_family = AF_INET;
  a->sin_port = 0;
  a->sin_addr.S_un.S_addr = 0;
  memset(a->sin_zero, 0, sizeof(a->sin_zero));
}
OPENWFP_INLINE void IN4ADDR_SETLOOPBACK(PSOCKADDR_IN a) {
  IN4ADDR_SETANY(a);
  a->sin_addr.S_un.S_addr = IN4ADDR_LOOPBACK;
}
OPENWFP_INLINE void IN6ADDR_SETANY(PSOCKADDR_IN6 a) {
  memset(a, 0, sizeof(*a));
  a->sin6_family = AF_INET6;
}
OPENWFP_INLINE void IN6ADDR_SETLOOPBACK(PSOCKADDR_IN6 a) {
  IN6ADDR_SETANY(a);
  a->sin6_addr.u.Byte[15] = 1;
}
OPENWFP_INLINE BOOLEAN IN6ADDR_ISANY(const SOCKADDR_IN6 *a) { return IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr); }
OPENWFP_INLINE BOOLEAN IN6ADDR_ISLOOPBACK(const SOCKADDR_IN6 *a) { return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr); }
OPENWFP_INLINE BOOLEAN IN4ADDR_ISANY(const SOCKADDR_IN *a) { return IN4_IS_ADDR_UNSPECIFIED(&a->sin_addr); }
OPENWFP_INLINE BOOLEAN IN4ADDR_ISLOOPBACK(const SOCKADDR_IN *a) { return IN4_IS_ADDR_LOOPBACK(&a->sin_addr); }

/* The address bytes of an AF_INET / AF_INET6 SOCKADDR (network order), NULL otherwise. */
OPENWFP_INLINE PUCHAR INETADDR_ADDRESS(const SOCKADDR *a) {
  if (a->sa_family == AF_INET) return (PUCHAR) & ((PSOCKADDR_IN)a)->sin_addr;
  if (a->sa_family == AF_INET6) return (PUCHAR) & ((PSOCKADDR_IN6)a)->sin6_addr;
  return NULL;
}
/* The port in network byte order. */
OPENWFP_INLINE USHORT INETADDR_PORT(const SOCKADDR *a) {
  return a->sa_family == AF_INET6 ? ((const SOCKADDR_IN6 *)a)->sin6_port : ((const SOCKADDR_IN *)a)->sin_port;
}
OPENWFP_INLINE void INETADDR_SET_PORT(PSOCKADDR a, USHORT Port) {
  if (a->sa_family == AF_INET6) ((PSOCKADDR_IN6)a)->sin6_port = Port;
  else ((PSOCKADDR_IN)a)->sin_port = Port;
}
/* Copies the address bytes (4 or 16 by the family) into a. */
OPENWFP_INLINE void INETADDR_SET_ADDRESS(PSOCKADDR a, const UCHAR *Address) {
  if (a->sa_family == AF_INET6) memcpy(&((PSOCKADDR_IN6)a)->sin6_addr, Address, 16);
  else memcpy(&((PSOCKADDR_IN)a)->sin_addr, Address, 4);
}
OPENWFP_INLINE BOOLEAN INETADDR_ISANY(const SOCKADDR *a) {
  return a->sa_family == AF_INET6 ? IN6ADDR_ISANY((const SOCKADDR_IN6 *)a) : IN4ADDR_ISANY((const SOCKADDR_IN *)a);
}
OPENWFP_INLINE BOOLEAN INETADDR_ISLOOPBACK(const SOCKADDR *a) {
  return a->sa_family == AF_INET6 ? IN6ADDR_ISLOOPBACK((const SOCKADDR_IN6 *)a)
                                  : IN4ADDR_ISLOOPBACK((const SOCKADDR_IN *)a);
}
OPENWFP_INLINE void INETADDR_SETANY(PSOCKADDR a) {
  if (a->sa_family == AF_INET6) IN6ADDR_SETANY((PSOCKADDR_IN6)a);
  else IN4ADDR_SETANY((PSOCKADDR_IN)a);
}
OPENWFP_INLINE void INETADDR_SETLOOPBACK(PSOCKADDR a) {
  if (a->sa_family == AF_INET6) IN6ADDR_SETLOOPBACK((PSOCKADDR_IN6)a);
  else IN4ADDR_SETLOOPBACK((PSOCKADDR_IN)a);
}
OPENWFP_INLINE BOOLEAN INETADDR_ISEQUAL(const SOCKADDR *a, const SOCKADDR *b) {
  if (a->sa_family != b->sa_family) return FALSE;
  if (a->sa_family == AF_INET6) {
    return (BOOLEAN)(IN6_ADDR_EQUAL(&((const SOCKADDR_IN6 *)a)->sin6_addr, &((const SOCKADDR_IN6 *)b)->sin6_addr) &&
                     ((const SOCKADDR_IN6 *)a)->sin6_scope_id == ((const SOCKADDR_IN6 *)b)->sin6_scope_id);
  }
  return IN4_ADDR_EQUAL(&((const SOCKADDR_IN *)a)->sin_addr, &((const SOCKADDR_IN *)b)->sin_addr);
}

#endif /* OPENWFP_KM_MSTCPIP_H */
