/* netiodef.h - the packet header structures of the WDK's shared netiodef.h (SPEC S15.2): IPv4,
 * IPv6, ICMP, TCP, UDP and Ethernet headers, laid out as on the wire (little-endian bit fields,
 * as on Windows x64). openwfp classifies at the ALE layers and builds no packets; drivers use
 * these to parse buffers of their own. */
#ifndef OPENWFP_KM_NETIODEF_H
#define OPENWFP_KM_NETIODEF_H
#include "openwfp_km_base.h"
#include "ws2def.h"
#include "ws2ipdef.h"

#pragma pack(push, 1)
typedef struct IPV4_HEADER {
  union {
    UINT8 VersionAndHeaderLength;
    struct {
      UINT8 HeaderLength : 4;
      UINT8 Version : 4;
    };
  };
  union {
    UINT8 TypeOfServiceAndEcnField;
    struct {
      UINT8 EcnField : 2;
      UINT8 TypeOfService : 6;
    };
  };
  UINT16 TotalLength;
  UINT16 Identification;
  union {
    UINT16 FlagsAndOffset;
    struct {
      UINT16 DontUse1 : 5;
      UINT16 MoreFragments : 1;
      UINT16 DontFragment : 1;
      UINT16 Reserved : 1;
      UINT16 DontUse2 : 8;
    };
  };
  UINT8 TimeToLive;
  UINT8 Protocol;
  UINT16 HeaderChecksum;
  IN_ADDR SourceAddress;
  IN_ADDR DestinationAddress;
} IPV4_HEADER, *PIPV4_HEADER;

typedef struct IPV6_HEADER {
  union {
    UINT32 VersionClassFlow;
    struct {
      UINT32 : 4;
      UINT32 Version : 4;
      UINT32 : 24;
    };
  };
  UINT16 PayloadLength;
  UINT8 NextHeader;
  UINT8 HopLimit;
  IN6_ADDR SourceAddress;
  IN6_ADDR DestinationAddress;
} IPV6_HEADER, *PIPV6_HEADER;

typedef struct ICMP_HEADER {
  UINT8 Type;
  UINT8 Code;
  UINT16 Checksum;
} ICMP_HEADER, *PICMP_HEADER;

typedef struct ICMP_MESSAGE {
  ICMP_HEADER Header;
  union {
    UINT32 Data32[1];
    UINT16 Data16[2];
    UINT8 Data8[4];
  } Data;
} ICMP_MESSAGE, *PICMP_MESSAGE;
typedef ICMP_MESSAGE ICMPV4_MESSAGE, *PICMPV4_MESSAGE;
typedef ICMP_MESSAGE ICMPV6_MESSAGE, *PICMPV6_MESSAGE;

typedef struct _TCP_HDR {
  UINT16 th_sport;
  UINT16 th_dport;
  UINT32 th_seq;
  UINT32 th_ack;
  UINT8 th_x2 : 4;
  UINT8 th_len : 4;
  UINT8 th_flags;
  UINT16 th_win;
  UINT16 th_sum;
  UINT16 th_urp;
} TCP_HDR, *PTCP_HDR;

typedef struct _UDP_HDR {
  UINT16 uh_sport;
  UINT16 uh_dport;
  UINT16 uh_ulen;
  UINT16 uh_sum;
} UDP_HDR, *PUDP_HDR;

#define ETH_LENGTH_OF_HEADER 14
#define ETH_LENGTH_OF_VLAN_HEADER 4
typedef struct _ETHERNET_HEADER {
  UINT8 Destination[6];
  UINT8 Source[6];
  union {
    UINT16 Type;
    UINT16 Length;
  };
} ETHERNET_HEADER, *PETHERNET_HEADER;
#pragma pack(pop)

#define IPV4_VERSION 4
#define IPV6_VERSION 6
#define ETHERNET_TYPE_IPV4 0x0800
#define ETHERNET_TYPE_ARP 0x0806
#define ETHERNET_TYPE_IPV6 0x86dd
#define ETHERNET_TYPE_802_1Q 0x8100

#endif /* OPENWFP_KM_NETIODEF_H */
