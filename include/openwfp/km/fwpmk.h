/*
 * fwpmk.h - Windows Filtering Platform kernel-mode management API (SPEC S1, S2).
 *
 * Management layer, filtering condition, sublayer and provider GUIDs (wfp-facts.md 1.8, 2, 4),
 * weight and access constants (1.7, 7.4), and the Fwpm* functions libopenwfp implements, in their
 * kernel flavour: same parameters as the user-mode fwpmu.h functions, NTSTATUS results.
 *
 * GUIDs are declared with DEFINE_GUID: include <initguid.h> first in one translation unit to
 * define them there; libopenwfp defines (and exports) all of them in any case.
 */
#ifndef OPENWFP_KM_FWPMK_H
#define OPENWFP_KM_FWPMK_H

#include "openwfp_km_base.h"
#include "ntstatus.h"
#include "winerror.h"
#include "guiddef.h"
#include "fwptypes.h"
#include "fwpmtypes.h"

/* ---- Management layers (wfp-facts sections 2 and 4.1) ---- */
/* 1247d66d-0b60-4a15-8d44-7155d0f53a0c */
DEFINE_GUID(FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V4,
            0x1247d66d, 0x0b60, 0x4a15, 0x8d, 0x44, 0x71, 0x55, 0xd0, 0xf5, 0x3a, 0x0c);
/* 0b5812a2-c3ff-4eca-b88d-c79e20ac6322 */
DEFINE_GUID(FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V4_DISCARD,
            0x0b5812a2, 0xc3ff, 0x4eca, 0xb8, 0x8d, 0xc7, 0x9e, 0x20, 0xac, 0x63, 0x22);
/* 55a650e1-5f0a-4eca-a653-88f53b26aa8c */
DEFINE_GUID(FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V6,
            0x55a650e1, 0x5f0a, 0x4eca, 0xa6, 0x53, 0x88, 0xf5, 0x3b, 0x26, 0xaa, 0x8c);
/* cbc998bb-c51f-4c1a-bb4f-9775fcacab2f */
DEFINE_GUID(FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V6_DISCARD,
            0xcbc998bb, 0xc51f, 0x4c1a, 0xbb, 0x4f, 0x97, 0x75, 0xfc, 0xac, 0xab, 0x2f);
/* 88bb5dad-76d7-4227-9c71-df0a3ed7be7e */
DEFINE_GUID(FWPM_LAYER_ALE_AUTH_LISTEN_V4,
            0x88bb5dad, 0x76d7, 0x4227, 0x9c, 0x71, 0xdf, 0x0a, 0x3e, 0xd7, 0xbe, 0x7e);
/* 371dfada-9f26-45fd-b4eb-c29eb212893f */
DEFINE_GUID(FWPM_LAYER_ALE_AUTH_LISTEN_V4_DISCARD,
            0x371dfada, 0x9f26, 0x45fd, 0xb4, 0xeb, 0xc2, 0x9e, 0xb2, 0x12, 0x89, 0x3f);
/* 7ac9de24-17dd-4814-b4bd-a9fbc95a321b */
DEFINE_GUID(FWPM_LAYER_ALE_AUTH_LISTEN_V6,
            0x7ac9de24, 0x17dd, 0x4814, 0xb4, 0xbd, 0xa9, 0xfb, 0xc9, 0x5a, 0x32, 0x1b);
/* 60703b07-63c8-48e9-ada3-12b1af40a617 */
DEFINE_GUID(FWPM_LAYER_ALE_AUTH_LISTEN_V6_DISCARD,
            0x60703b07, 0x63c8, 0x48e9, 0xad, 0xa3, 0x12, 0xb1, 0xaf, 0x40, 0xa6, 0x17);
/* e1cd9fe7-f4b5-4273-96c0-592e487b8650 */
DEFINE_GUID(FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4,
            0xe1cd9fe7, 0xf4b5, 0x4273, 0x96, 0xc0, 0x59, 0x2e, 0x48, 0x7b, 0x86, 0x50);
/* 9eeaa99b-bd22-4227-919f-0073c63357b1 */
DEFINE_GUID(FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4_DISCARD,
            0x9eeaa99b, 0xbd22, 0x4227, 0x91, 0x9f, 0x00, 0x73, 0xc6, 0x33, 0x57, 0xb1);
/* a3b42c97-9f04-4672-b87e-cee9c483257f */
DEFINE_GUID(FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V6,
            0xa3b42c97, 0x9f04, 0x4672, 0xb8, 0x7e, 0xce, 0xe9, 0xc4, 0x83, 0x25, 0x7f);
/* 89455b97-dbe1-453f-a224-13da895af396 */
DEFINE_GUID(FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V6_DISCARD,
            0x89455b97, 0xdbe1, 0x453f, 0xa2, 0x24, 0x13, 0xda, 0x89, 0x5a, 0xf3, 0x96);
/* c38d57d1-05a7-4c33-904f-7fbceee60e82 */
DEFINE_GUID(FWPM_LAYER_ALE_AUTH_CONNECT_V4,
            0xc38d57d1, 0x05a7, 0x4c33, 0x90, 0x4f, 0x7f, 0xbc, 0xee, 0xe6, 0x0e, 0x82);
/* d632a801-f5ba-4ad6-96e3-607017d9836a */
DEFINE_GUID(FWPM_LAYER_ALE_AUTH_CONNECT_V4_DISCARD,
            0xd632a801, 0xf5ba, 0x4ad6, 0x96, 0xe3, 0x60, 0x70, 0x17, 0xd9, 0x83, 0x6a);
/* 4a72393b-319f-44bc-84c3-ba54dcb3b6b4 */
DEFINE_GUID(FWPM_LAYER_ALE_AUTH_CONNECT_V6,
            0x4a72393b, 0x319f, 0x44bc, 0x84, 0xc3, 0xba, 0x54, 0xdc, 0xb3, 0xb6, 0xb4);
/* c97bc3b8-c9a3-4e33-8695-8e17aad4de09 */
DEFINE_GUID(FWPM_LAYER_ALE_AUTH_CONNECT_V6_DISCARD,
            0xc97bc3b8, 0xc9a3, 0x4e33, 0x86, 0x95, 0x8e, 0x17, 0xaa, 0xd4, 0xde, 0x09);
/* af80470a-5596-4c13-9992-539e6fe57967 */
DEFINE_GUID(FWPM_LAYER_ALE_FLOW_ESTABLISHED_V4,
            0xaf80470a, 0x5596, 0x4c13, 0x99, 0x92, 0x53, 0x9e, 0x6f, 0xe5, 0x79, 0x67);
/* 146ae4a9-a1d2-4d43-a31a-4c42682b8e4f */
DEFINE_GUID(FWPM_LAYER_ALE_FLOW_ESTABLISHED_V4_DISCARD,
            0x146ae4a9, 0xa1d2, 0x4d43, 0xa3, 0x1a, 0x4c, 0x42, 0x68, 0x2b, 0x8e, 0x4f);
/* 7021d2b3-dfa4-406e-afeb-6afaf7e70efd */
DEFINE_GUID(FWPM_LAYER_ALE_FLOW_ESTABLISHED_V6,
            0x7021d2b3, 0xdfa4, 0x406e, 0xaf, 0xeb, 0x6a, 0xfa, 0xf7, 0xe7, 0x0e, 0xfd);
/* 46928636-bbca-4b76-941d-0fa7f5d7d372 */
DEFINE_GUID(FWPM_LAYER_ALE_FLOW_ESTABLISHED_V6_DISCARD,
            0x46928636, 0xbbca, 0x4b76, 0x94, 0x1d, 0x0f, 0xa7, 0xf5, 0xd7, 0xd3, 0x72);
/* c6e63c8c-b784-4562-aa7d-0a67cfcaf9a3 */
DEFINE_GUID(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4,
            0xc6e63c8c, 0xb784, 0x4562, 0xaa, 0x7d, 0x0a, 0x67, 0xcf, 0xca, 0xf9, 0xa3);
/* 587e54a7-8046-42ba-a0aa-b716250fc7fd */
DEFINE_GUID(FWPM_LAYER_ALE_CONNECT_REDIRECT_V6,
            0x587e54a7, 0x8046, 0x42ba, 0xa0, 0xaa, 0xb7, 0x16, 0x25, 0x0f, 0xc7, 0xfd);
/* 66978cad-c704-42ac-86ac-7c1a231bd253 */
DEFINE_GUID(FWPM_LAYER_ALE_BIND_REDIRECT_V4,
            0x66978cad, 0xc704, 0x42ac, 0x86, 0xac, 0x7c, 0x1a, 0x23, 0x1b, 0xd2, 0x53);
/* bef02c9c-606b-4536-8c26-1c2fc7b631d4 */
DEFINE_GUID(FWPM_LAYER_ALE_BIND_REDIRECT_V6,
            0xbef02c9c, 0x606b, 0x4536, 0x8c, 0x26, 0x1c, 0x2f, 0xc7, 0xb6, 0x31, 0xd4);
/* 74365cce-ccb0-401a-bfc1-b89934ad7e15 */
DEFINE_GUID(FWPM_LAYER_ALE_RESOURCE_RELEASE_V4,
            0x74365cce, 0xccb0, 0x401a, 0xbf, 0xc1, 0xb8, 0x99, 0x34, 0xad, 0x7e, 0x15);
/* f4e5ce80-edcc-4e13-8a2f-b91454bb057b */
DEFINE_GUID(FWPM_LAYER_ALE_RESOURCE_RELEASE_V6,
            0xf4e5ce80, 0xedcc, 0x4e13, 0x8a, 0x2f, 0xb9, 0x14, 0x54, 0xbb, 0x05, 0x7b);
/* b4766427-e2a2-467a-bd7e-dbcd1bd85a09 */
DEFINE_GUID(FWPM_LAYER_ALE_ENDPOINT_CLOSURE_V4,
            0xb4766427, 0xe2a2, 0x467a, 0xbd, 0x7e, 0xdb, 0xcd, 0x1b, 0xd8, 0x5a, 0x09);
/* bb536ccd-4755-4ba9-9ff7-f9edf8699c7b */
DEFINE_GUID(FWPM_LAYER_ALE_ENDPOINT_CLOSURE_V6,
            0xbb536ccd, 0x4755, 0x4ba9, 0x9f, 0xf7, 0xf9, 0xed, 0xf8, 0x69, 0x9c, 0x7b);

/* ---- Filtering conditions (wfp-facts 4.2) ---- */
/* b235ae9a-1d64-49b8-a44c-5ff3d9095045 */
DEFINE_GUID(FWPM_CONDITION_IP_REMOTE_ADDRESS,
            0xb235ae9a, 0x1d64, 0x49b8, 0xa4, 0x4c, 0x5f, 0xf3, 0xd9, 0x09, 0x50, 0x45);
/* c35a604d-d22b-4e1a-91b4-68f674ee674b */
DEFINE_GUID(FWPM_CONDITION_IP_REMOTE_PORT,
            0xc35a604d, 0xd22b, 0x4e1a, 0x91, 0xb4, 0x68, 0xf6, 0x74, 0xee, 0x67, 0x4b);
/* d9ee00de-c1ef-4617-bfe3-ffd8f5a08957 */
DEFINE_GUID(FWPM_CONDITION_IP_LOCAL_ADDRESS,
            0xd9ee00de, 0xc1ef, 0x4617, 0xbf, 0xe3, 0xff, 0xd8, 0xf5, 0xa0, 0x89, 0x57);
/* 0c1ba1af-5765-453f-af22-a8f791ac775b */
DEFINE_GUID(FWPM_CONDITION_IP_LOCAL_PORT,
            0x0c1ba1af, 0x5765, 0x453f, 0xaf, 0x22, 0xa8, 0xf7, 0x91, 0xac, 0x77, 0x5b);
/* 3971ef2b-623e-4f9a-8cb1-6e79b806b9a7 */
DEFINE_GUID(FWPM_CONDITION_IP_PROTOCOL,
            0x3971ef2b, 0x623e, 0x4f9a, 0x8c, 0xb1, 0x6e, 0x79, 0xb8, 0x06, 0xb9, 0xa7);
/* d78e1e87-8644-4ea5-9437-d809ecefc971 */
DEFINE_GUID(FWPM_CONDITION_ALE_APP_ID,
            0xd78e1e87, 0x8644, 0x4ea5, 0x94, 0x37, 0xd8, 0x09, 0xec, 0xef, 0xc9, 0x71);
/* af043a0a-b34d-4f86-979c-c90371af6e66 */
DEFINE_GUID(FWPM_CONDITION_ALE_USER_ID,
            0xaf043a0a, 0xb34d, 0x4f86, 0x97, 0x9c, 0xc9, 0x03, 0x71, 0xaf, 0x6e, 0x66);
/* 632ce23b-5167-435c-86d7-e903684aa80c */
DEFINE_GUID(FWPM_CONDITION_FLAGS,
            0x632ce23b, 0x5167, 0x435c, 0x86, 0xd7, 0xe9, 0x03, 0x68, 0x4a, 0xa8, 0x0c);
/* 0e6cd086-e1fb-4212-842f-8a9f993fb3f6 */
DEFINE_GUID(FWPM_CONDITION_ALE_ORIGINAL_APP_ID,
            0x0e6cd086, 0xe1fb, 0x4212, 0x84, 0x2f, 0x8a, 0x9f, 0x99, 0x3f, 0xb3, 0xf6);
/* 4cd62a49-59c3-4969-b7f3-bda5d32890a4 */
DEFINE_GUID(FWPM_CONDITION_IP_LOCAL_INTERFACE,
            0x4cd62a49, 0x59c3, 0x4969, 0xb7, 0xf3, 0xbd, 0xa5, 0xd3, 0x28, 0x90, 0xa4);
/* 1ec1b7c9-4eea-4f5e-b9ef-76beaaaf17ee */
DEFINE_GUID(FWPM_CONDITION_IP_DESTINATION_ADDRESS_TYPE,
            0x1ec1b7c9, 0x4eea, 0x4f5e, 0xb9, 0xef, 0x76, 0xbe, 0xaa, 0xaf, 0x17, 0xee);
/* 6ec7f6c4-376b-45d7-9e9c-d337cedcd237 */
DEFINE_GUID(FWPM_CONDITION_IP_LOCAL_ADDRESS_TYPE,
            0x6ec7f6c4, 0x376b, 0x45d7, 0x9e, 0x9c, 0xd3, 0x37, 0xce, 0xdc, 0xd2, 0x37);
/* 71bc78fa-f17c-4997-a602-6abb261f351c */
DEFINE_GUID(FWPM_CONDITION_ALE_PACKAGE_ID,
            0x71bc78fa, 0xf17c, 0x4997, 0xa6, 0x02, 0x6a, 0xbb, 0x26, 0x1f, 0x35, 0x1c);
/* 37a57699-5883-4963-92b8-3e704688b0ad */
DEFINE_GUID(FWPM_CONDITION_ALE_SECURITY_ATTRIBUTE_FQBN_VALUE,
            0x37a57699, 0x5883, 0x4963, 0x92, 0xb8, 0x3e, 0x70, 0x46, 0x88, 0xb0, 0xad);
/* 35a791ab-04ac-4ff2-a6bb-da6cfac71806 */
DEFINE_GUID(FWPM_CONDITION_COMPARTMENT_ID,
            0x35a791ab, 0x04ac, 0x4ff2, 0xa6, 0xbb, 0xda, 0x6c, 0xfa, 0xc7, 0x18, 0x06);
/* 81bc78fb-f28d-4886-a604-6acc261f261b */
DEFINE_GUID(FWPM_CONDITION_ALE_PACKAGE_FAMILY_NAME,
            0x81bc78fb, 0xf28d, 0x4886, 0xa6, 0x04, 0x6a, 0xcc, 0x26, 0x1f, 0x26, 0x1b);
/* b1277b9a-b781-40fc-9671-e5f1b989f34e */
DEFINE_GUID(FWPM_CONDITION_ALE_EFFECTIVE_NAME,
            0xb1277b9a, 0xb781, 0x40fc, 0x96, 0x71, 0xe5, 0xf1, 0xb9, 0x89, 0xf3, 0x4e);
/* f63073b7-0189-4ab0-95a4-6123cbfab862 */
DEFINE_GUID(FWPM_CONDITION_ALE_REMOTE_USER_ID,
            0xf63073b7, 0x0189, 0x4ab0, 0x95, 0xa4, 0x61, 0x23, 0xcb, 0xfa, 0xb8, 0x62);
/* 1aa47f51-7f93-4508-a271-81abb00c9cab */
DEFINE_GUID(FWPM_CONDITION_ALE_REMOTE_MACHINE_ID,
            0x1aa47f51, 0x7f93, 0x4508, 0xa2, 0x71, 0x81, 0xab, 0xb0, 0x0c, 0x9c, 0xab);
/* daf8cd14-e09e-4c93-a5ae-c5c13b73ffca */
DEFINE_GUID(FWPM_CONDITION_INTERFACE_TYPE,
            0xdaf8cd14, 0xe09e, 0x4c93, 0xa5, 0xae, 0xc5, 0xc1, 0x3b, 0x73, 0xff, 0xca);
/* 77a40437-8779-4868-a261-f5a902f1c0cd */
DEFINE_GUID(FWPM_CONDITION_TUNNEL_TYPE,
            0x77a40437, 0x8779, 0x4868, 0xa2, 0x61, 0xf5, 0xa9, 0x02, 0xf1, 0xc0, 0xcd);
/* 667fd755-d695-434a-8af5-d3835a1259bc */
DEFINE_GUID(FWPM_CONDITION_INTERFACE_INDEX,
            0x667fd755, 0xd695, 0x434a, 0x8a, 0xf5, 0xd3, 0x83, 0x5a, 0x12, 0x59, 0xbc);
/* 0cd42473-d621-4be3-ae8c-72a348d283e1 */
DEFINE_GUID(FWPM_CONDITION_SUB_INTERFACE_INDEX,
            0x0cd42473, 0xd621, 0x4be3, 0xae, 0x8c, 0x72, 0xa3, 0x48, 0xd2, 0x83, 0xe1);
/* 618a9b6d-386b-4136-ad6e-b51587cfb1cd */
DEFINE_GUID(FWPM_CONDITION_IP_ARRIVAL_INTERFACE,
            0x618a9b6d, 0x386b, 0x4136, 0xad, 0x6e, 0xb5, 0x15, 0x87, 0xcf, 0xb1, 0xcd);
/* 89f990de-e798-4e6d-ab76-7c9558292e6f */
DEFINE_GUID(FWPM_CONDITION_ARRIVAL_INTERFACE_TYPE,
            0x89f990de, 0xe798, 0x4e6d, 0xab, 0x76, 0x7c, 0x95, 0x58, 0x29, 0x2e, 0x6f);
/* 511166dc-7a8c-4aa7-b533-95ab59fb0340 */
DEFINE_GUID(FWPM_CONDITION_ARRIVAL_TUNNEL_TYPE,
            0x511166dc, 0x7a8c, 0x4aa7, 0xb5, 0x33, 0x95, 0xab, 0x59, 0xfb, 0x03, 0x40);
/* cc088db3-1792-4a71-b0f9-037d21cd828b */
DEFINE_GUID(FWPM_CONDITION_ARRIVAL_INTERFACE_INDEX,
            0xcc088db3, 0x1792, 0x4a71, 0xb0, 0xf9, 0x03, 0x7d, 0x21, 0xcd, 0x82, 0x8b);
/* ef8a6122-0577-45a7-9aaf-825fbeb4fb95 */
DEFINE_GUID(FWPM_CONDITION_NEXTHOP_SUB_INTERFACE_INDEX,
            0xef8a6122, 0x0577, 0x45a7, 0x9a, 0xaf, 0x82, 0x5f, 0xbe, 0xb4, 0xfb, 0x95);
/* 93ae8f5b-7f6f-4719-98c8-14e97429ef04 */
DEFINE_GUID(FWPM_CONDITION_IP_NEXTHOP_INTERFACE,
            0x93ae8f5b, 0x7f6f, 0x4719, 0x98, 0xc8, 0x14, 0xe9, 0x74, 0x29, 0xef, 0x04);
/* 97537c6c-d9a3-4767-a381-e942675cd920 */
DEFINE_GUID(FWPM_CONDITION_NEXTHOP_INTERFACE_TYPE,
            0x97537c6c, 0xd9a3, 0x4767, 0xa3, 0x81, 0xe9, 0x42, 0x67, 0x5c, 0xd9, 0x20);
/* 72b1a111-987b-4720-99dd-c7c576fa2d4c */
DEFINE_GUID(FWPM_CONDITION_NEXTHOP_TUNNEL_TYPE,
            0x72b1a111, 0x987b, 0x4720, 0x99, 0xdd, 0xc7, 0xc5, 0x76, 0xfa, 0x2d, 0x4c);
/* 138e6888-7ab8-4d65-9ee8-0591bcf6a494 */
DEFINE_GUID(FWPM_CONDITION_NEXTHOP_INTERFACE_INDEX,
            0x138e6888, 0x7ab8, 0x4d65, 0x9e, 0xe8, 0x05, 0x91, 0xbc, 0xf6, 0xa4, 0x94);
/* 46ea1551-2255-492b-8019-aabeee349f40 */
DEFINE_GUID(FWPM_CONDITION_ORIGINAL_PROFILE_ID,
            0x46ea1551, 0x2255, 0x492b, 0x80, 0x19, 0xaa, 0xbe, 0xee, 0x34, 0x9f, 0x40);
/* ab3033c9-c0e3-4759-937d-5758c65d4ae3 */
DEFINE_GUID(FWPM_CONDITION_CURRENT_PROFILE_ID,
            0xab3033c9, 0xc0e3, 0x4759, 0x93, 0x7d, 0x57, 0x58, 0xc6, 0x5d, 0x4a, 0xe3);
/* 11205e8c-11ae-457a-8a44-477026dd764a */
DEFINE_GUID(FWPM_CONDITION_REAUTHORIZE_REASON,
            0x11205e8c, 0x11ae, 0x457a, 0x8a, 0x44, 0x47, 0x70, 0x26, 0xdd, 0x76, 0x4a);
/* 9b539082-eb90-4186-a6cc-de5b63235016 */
DEFINE_GUID(FWPM_CONDITION_PEER_NAME,
            0x9b539082, 0xeb90, 0x4186, 0xa6, 0xcc, 0xde, 0x5b, 0x63, 0x23, 0x50, 0x16);
/* 076dfdbe-c56c-4f72-ae8a-2cfe7e5c8286 */
DEFINE_GUID(FWPM_CONDITION_ORIGINAL_ICMP_TYPE,
            0x076dfdbe, 0xc56c, 0x4f72, 0xae, 0x8a, 0x2c, 0xfe, 0x7e, 0x5c, 0x82, 0x86);
/* cce68d5e-053b-43a8-9a6f-33384c28e4f6 */
DEFINE_GUID(FWPM_CONDITION_INTERFACE_QUARANTINE_EPOCH,
            0xcce68d5e, 0x053b, 0x43a8, 0x9a, 0x6f, 0x33, 0x38, 0x4c, 0x28, 0xe4, 0xf6);

/* ---- Built-in sublayers (wfp-facts 1.8) ---- */
/* 758c84f4-fb48-4de9-9aeb-3ed9551ab1fd */
DEFINE_GUID(FWPM_SUBLAYER_RPC_AUDIT,
            0x758c84f4, 0xfb48, 0x4de9, 0x9a, 0xeb, 0x3e, 0xd9, 0x55, 0x1a, 0xb1, 0xfd);
/* 83f299ed-9ff4-4967-aff4-c309f4dab827 */
DEFINE_GUID(FWPM_SUBLAYER_IPSEC_TUNNEL,
            0x83f299ed, 0x9ff4, 0x4967, 0xaf, 0xf4, 0xc3, 0x09, 0xf4, 0xda, 0xb8, 0x27);
/* eebecc03-ced4-4380-819a-2734397b2b74 */
DEFINE_GUID(FWPM_SUBLAYER_UNIVERSAL,
            0xeebecc03, 0xced4, 0x4380, 0x81, 0x9a, 0x27, 0x34, 0x39, 0x7b, 0x2b, 0x74);
/* 1b75c0ce-ff60-4711-a70f-b4958cc3b2d0 */
DEFINE_GUID(FWPM_SUBLAYER_LIPS,
            0x1b75c0ce, 0xff60, 0x4711, 0xa7, 0x0f, 0xb4, 0x95, 0x8c, 0xc3, 0xb2, 0xd0);
/* 15a66e17-3f3c-4f7b-aa6c-812aa613dd82 */
DEFINE_GUID(FWPM_SUBLAYER_SECURE_SOCKET,
            0x15a66e17, 0x3f3c, 0x4f7b, 0xaa, 0x6c, 0x81, 0x2a, 0xa6, 0x13, 0xdd, 0x82);
/* 337608b9-b7d5-4d5f-82f9-3618618bc058 */
DEFINE_GUID(FWPM_SUBLAYER_TCP_CHIMNEY_OFFLOAD,
            0x337608b9, 0xb7d5, 0x4d5f, 0x82, 0xf9, 0x36, 0x18, 0x61, 0x8b, 0xc0, 0x58);
/* 877519e1-e6a9-41a5-81b4-8c4f118e4a60 */
DEFINE_GUID(FWPM_SUBLAYER_INSPECTION,
            0x877519e1, 0xe6a9, 0x41a5, 0x81, 0xb4, 0x8c, 0x4f, 0x11, 0x8e, 0x4a, 0x60);
/* ba69dc66-5176-4979-9c89-26a7b46a8327 */
DEFINE_GUID(FWPM_SUBLAYER_TEREDO,
            0xba69dc66, 0x5176, 0x4979, 0x9c, 0x89, 0x26, 0xa7, 0xb4, 0x6a, 0x83, 0x27);
/* a5082e73-8f71-4559-8a9a-101cea04ef87 */
DEFINE_GUID(FWPM_SUBLAYER_IPSEC_FORWARD_OUTBOUND_TUNNEL,
            0xa5082e73, 0x8f71, 0x4559, 0x8a, 0x9a, 0x10, 0x1c, 0xea, 0x04, 0xef, 0x87);
/* e076d572-5d3d-48ef-802b-909eddb098bd */
DEFINE_GUID(FWPM_SUBLAYER_IPSEC_DOSP,
            0xe076d572, 0x5d3d, 0x48ef, 0x80, 0x2b, 0x90, 0x9e, 0xdd, 0xb0, 0x98, 0xbd);
/* 24421dcf-0ac5-4caa-9e14-50f6e3636af0 */
DEFINE_GUID(FWPM_SUBLAYER_TCP_TEMPLATES,
            0x24421dcf, 0x0ac5, 0x4caa, 0x9e, 0x14, 0x50, 0xf6, 0xe3, 0x63, 0x6a, 0xf0);
/* 37a57701-5884-4964-92b8-3e704688b0ad */
DEFINE_GUID(FWPM_SUBLAYER_IPSEC_SECURITY_REALM,
            0x37a57701, 0x5884, 0x4964, 0x92, 0xb8, 0x3e, 0x70, 0x46, 0x88, 0xb0, 0xad);
/* b3cdd441-af90-41ba-a745-7c6008ff2300 */
DEFINE_GUID(FWPM_SUBLAYER_MPSSVC_WSH,
            0xb3cdd441, 0xaf90, 0x41ba, 0xa7, 0x45, 0x7c, 0x60, 0x08, 0xff, 0x23, 0x00);
/* b3cdd441-af90-41ba-a745-7c6008ff2301 */
DEFINE_GUID(FWPM_SUBLAYER_MPSSVC_WF,
            0xb3cdd441, 0xaf90, 0x41ba, 0xa7, 0x45, 0x7c, 0x60, 0x08, 0xff, 0x23, 0x01);
/* b3cdd441-af90-41ba-a745-7c6008ff2302 */
DEFINE_GUID(FWPM_SUBLAYER_MPSSVC_QUARANTINE,
            0xb3cdd441, 0xaf90, 0x41ba, 0xa7, 0x45, 0x7c, 0x60, 0x08, 0xff, 0x23, 0x02);
/* 09a47e38-fa97-471b-b123-18bcd7e65071 */
DEFINE_GUID(FWPM_SUBLAYER_MPSSVC_EDP,
            0x09a47e38, 0xfa97, 0x471b, 0xb1, 0x23, 0x18, 0xbc, 0xd7, 0xe6, 0x50, 0x71);
/* 1ec6c7e1-fdd9-478a-b55f-ff8ba1d2c17d */
DEFINE_GUID(FWPM_SUBLAYER_MPSSVC_TENANT_RESTRICTIONS,
            0x1ec6c7e1, 0xfdd9, 0x478a, 0xb5, 0x5f, 0xff, 0x8b, 0xa1, 0xd2, 0xc1, 0x7d);
/* ffe221c3-92a8-4564-a59f-dafb70756020 */
DEFINE_GUID(FWPM_SUBLAYER_MPSSVC_APP_ISOLATION,
            0xffe221c3, 0x92a8, 0x4564, 0xa5, 0x9f, 0xda, 0xfb, 0x70, 0x75, 0x60, 0x20);

/* ---- Built-in providers (learn.microsoft.com "Built-in Provider Identifiers") ---- */
/* 10ad9216-ccde-456c-8b16-e9f04e60a90b */
DEFINE_GUID(FWPM_PROVIDER_IKEEXT,
            0x10ad9216, 0xccde, 0x456c, 0x8b, 0x16, 0xe9, 0xf0, 0x4e, 0x60, 0xa9, 0x0b);
/* 3c6c0519-c05c-4bb9-8338-2327814ce8bf */
DEFINE_GUID(FWPM_PROVIDER_IPSEC_DOS_CONFIG,
            0x3c6c0519, 0xc05c, 0x4bb9, 0x83, 0x38, 0x23, 0x27, 0x81, 0x4c, 0xe8, 0xbf);
/* 896aa19e-9a34-4bcb-ae79-beb9127c84b9 */
DEFINE_GUID(FWPM_PROVIDER_TCP_CHIMNEY_OFFLOAD,
            0x896aa19e, 0x9a34, 0x4bcb, 0xae, 0x79, 0xbe, 0xb9, 0x12, 0x7c, 0x84, 0xb9);
/* 76cfcd30-3394-432d-bed3-441ae50e63c3 */
DEFINE_GUID(FWPM_PROVIDER_TCP_TEMPLATES,
            0x76cfcd30, 0x3394, 0x432d, 0xbe, 0xd3, 0x44, 0x1a, 0xe5, 0x0e, 0x63, 0xc3);

/* Aliases defined by the SDK (no GUID of their own). */
#define FWPM_CONDITION_ICMP_TYPE FWPM_CONDITION_IP_LOCAL_PORT
#define FWPM_CONDITION_ICMP_CODE FWPM_CONDITION_IP_REMOTE_PORT
#define FWPM_CONDITION_INTERFACE FWPM_CONDITION_IP_LOCAL_INTERFACE
#define FWPM_CONDITION_LOCAL_INTERFACE_TYPE FWPM_CONDITION_INTERFACE_TYPE
#define FWPM_CONDITION_LOCAL_TUNNEL_TYPE FWPM_CONDITION_TUNNEL_TYPE
#define FWPM_CONDITION_LOCAL_INTERFACE_INDEX FWPM_CONDITION_INTERFACE_INDEX
#define FWPM_CONDITION_ARRIVAL_SUB_INTERFACE_INDEX FWPM_CONDITION_SUB_INTERFACE_INDEX
/* The conditions of the other builtin layers (MAC, vSwitch, IP forward, ICMP error, ...). */
#include "fwpmconditions.h"
#define FWPM_SUBLAYER_EDGE_TRAVERSAL FWPM_SUBLAYER_TEREDO

/* ---- Weights (wfp-facts 1.7) ------------------------------------------------------------- */
#define FWPM_AUTO_WEIGHT_BITS (60)
#define FWPM_AUTO_WEIGHT_MAX (MAXUINT64 >> (64 - FWPM_AUTO_WEIGHT_BITS))
#define FWPM_WEIGHT_RANGE_MAX (MAXUINT64 >> FWPM_AUTO_WEIGHT_BITS)
#define FWPM_WEIGHT_RANGE_IPSEC (0x0)
#define FWPM_WEIGHT_RANGE_IKE_EXEMPTIONS (0xc)

/* ---- Transactions and access rights (wfp-facts 7.4) -------------------------------------- */
#define FWPM_TXN_READ_ONLY (0x00000001)

#define FWPM_ACTRL_ADD (0x00000001)
#define FWPM_ACTRL_ADD_LINK (0x00000002)
#define FWPM_ACTRL_BEGIN_READ_TXN (0x00000004)
#define FWPM_ACTRL_BEGIN_WRITE_TXN (0x00000008)
#define FWPM_ACTRL_CLASSIFY (0x00000010)
#define FWPM_ACTRL_ENUM (0x00000020)
#define FWPM_ACTRL_OPEN (0x00000040)
#define FWPM_ACTRL_READ (0x00000080)
#define FWPM_ACTRL_READ_STATS (0x00000100)
#define FWPM_ACTRL_SUBSCRIBE (0x00000200)
#define FWPM_ACTRL_WRITE (0x00000400)

/* ---- RPC authentication (FwpmEngineOpen0.authnService) ----------------------------------- */
#ifndef RPC_C_AUTHN_NONE
#define RPC_C_AUTHN_NONE 0
#define RPC_C_AUTHN_DCE_PRIVATE 1
#define RPC_C_AUTHN_DCE_PUBLIC 2
#define RPC_C_AUTHN_DEC_PUBLIC 4
#define RPC_C_AUTHN_GSS_NEGOTIATE 9
#define RPC_C_AUTHN_WINNT 10
#define RPC_C_AUTHN_GSS_SCHANNEL 14
#define RPC_C_AUTHN_GSS_KERBEROS 16
#define RPC_C_AUTHN_DEFAULT 0xFFFFFFFFL
#endif

#ifndef SEC_WINNT_AUTH_IDENTITY_ANSI
#define SEC_WINNT_AUTH_IDENTITY_ANSI 0x1
#define SEC_WINNT_AUTH_IDENTITY_UNICODE 0x2
#endif

#ifndef OPENWFP_KM_SEC_WINNT_AUTH_IDENTITY_DEFINED
#define OPENWFP_KM_SEC_WINNT_AUTH_IDENTITY_DEFINED
typedef struct _SEC_WINNT_AUTH_IDENTITY_W {
  unsigned short *User;
  ULONG UserLength;
  unsigned short *Domain;
  ULONG DomainLength;
  unsigned short *Password;
  ULONG PasswordLength;
  ULONG Flags;
} SEC_WINNT_AUTH_IDENTITY_W, *PSEC_WINNT_AUTH_IDENTITY_W;
#endif

/* ---- Functions (implemented by libopenwfp) ----------------------------------------------- */
/* The user-mode header (include/openwfp/um/fwpmu.h) includes this one for its GUIDs, types and
 * constants and declares its own, DWORD-returning, functions of the same names. */
#ifndef OPENWFP_UM_FWPMU_H
OPENWFP_BEGIN_DECLS

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmEngineOpen0(_In_opt_ const wchar_t *serverName, _In_ UINT32 authnService,
                _In_opt_ SEC_WINNT_AUTH_IDENTITY_W *authIdentity,
                _In_opt_ const FWPM_SESSION0 *session, _Out_ HANDLE *engineHandle);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI FwpmEngineClose0(_Inout_ HANDLE engineHandle);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmTransactionBegin0(_In_ HANDLE engineHandle, _In_ UINT32 flags);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI FwpmTransactionCommit0(_In_ HANDLE engineHandle);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI FwpmTransactionAbort0(_In_ HANDLE engineHandle);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmProviderAdd0(_In_ HANDLE engineHandle, _In_ const FWPM_PROVIDER0 *provider,
                 _In_opt_ PSECURITY_DESCRIPTOR sd);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmProviderDeleteByKey0(_In_ HANDLE engineHandle, _In_ const GUID *key);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmSubLayerAdd0(_In_ HANDLE engineHandle, _In_ const FWPM_SUBLAYER0 *subLayer,
                 _In_opt_ PSECURITY_DESCRIPTOR sd);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmSubLayerDeleteByKey0(_In_ HANDLE engineHandle, _In_ const GUID *key);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmCalloutAdd0(_In_ HANDLE engineHandle, _In_ const FWPM_CALLOUT0 *callout,
                _In_opt_ PSECURITY_DESCRIPTOR sd, _Out_opt_ UINT32 *id);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmCalloutDeleteById0(_In_ HANDLE engineHandle, _In_ UINT32 id);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmCalloutDeleteByKey0(_In_ HANDLE engineHandle, _In_ const GUID *key);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmFilterAdd0(_In_ HANDLE engineHandle, _In_ const FWPM_FILTER0 *filter,
               _In_opt_ PSECURITY_DESCRIPTOR sd, _Out_opt_ UINT64 *id);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmFilterDeleteById0(_In_ HANDLE engineHandle, _In_ UINT64 id);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmFilterDeleteByKey0(_In_ HANDLE engineHandle, _In_ const GUID *key);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmFilterGetById0(_In_ HANDLE engineHandle, _In_ UINT64 id, _Outptr_ FWPM_FILTER0 **filter);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmFilterGetByKey0(_In_ HANDLE engineHandle, _In_ const GUID *key, _Outptr_ FWPM_FILTER0 **filter);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmFilterCreateEnumHandle0(_In_ HANDLE engineHandle,
                            _In_opt_ const FWPM_FILTER_ENUM_TEMPLATE0 *enumTemplate,
                            _Out_ HANDLE *enumHandle);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmFilterEnum0(_In_ HANDLE engineHandle, _In_ HANDLE enumHandle, _In_ UINT32 numEntriesRequested,
                _Outptr_result_buffer_(*numEntriesReturned) FWPM_FILTER0 ***entries,
                _Out_ UINT32 *numEntriesReturned);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmFilterDestroyEnumHandle0(_In_ HANDLE engineHandle, _Inout_ HANDLE enumHandle);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmGetAppIdFromFileName0(_In_ PCWSTR fileName, _Outptr_ FWP_BYTE_BLOB **appId);

_IRQL_requires_max_(PASSIVE_LEVEL) void NTAPI FwpmFreeMemory0(_Inout_ void **p);

/* Lookups and enumerations of callouts, providers and sublayers (SPEC S14.4, S14.7). */
_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmCalloutGetById0(_In_ HANDLE engineHandle, _In_ UINT32 id, _Outptr_ FWPM_CALLOUT0 **callout);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmCalloutGetByKey0(_In_ HANDLE engineHandle, _In_ const GUID *key,
                     _Outptr_ FWPM_CALLOUT0 **callout);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmCalloutCreateEnumHandle0(_In_ HANDLE engineHandle,
                             _In_opt_ const FWPM_CALLOUT_ENUM_TEMPLATE0 *enumTemplate,
                             _Out_ HANDLE *enumHandle);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmCalloutEnum0(_In_ HANDLE engineHandle, _In_ HANDLE enumHandle, _In_ UINT32 numEntriesRequested,
                 _Outptr_result_buffer_(*numEntriesReturned) FWPM_CALLOUT0 ***entries,
                 _Out_ UINT32 *numEntriesReturned);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmCalloutDestroyEnumHandle0(_In_ HANDLE engineHandle, _Inout_ HANDLE enumHandle);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmProviderGetByKey0(_In_ HANDLE engineHandle, _In_ const GUID *key,
                      _Outptr_ FWPM_PROVIDER0 **provider);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmProviderCreateEnumHandle0(_In_ HANDLE engineHandle,
                              _In_opt_ const FWPM_PROVIDER_ENUM_TEMPLATE0 *enumTemplate,
                              _Out_ HANDLE *enumHandle);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmProviderEnum0(_In_ HANDLE engineHandle, _In_ HANDLE enumHandle, _In_ UINT32 numEntriesRequested,
                  _Outptr_result_buffer_(*numEntriesReturned) FWPM_PROVIDER0 ***entries,
                  _Out_ UINT32 *numEntriesReturned);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmProviderDestroyEnumHandle0(_In_ HANDLE engineHandle, _Inout_ HANDLE enumHandle);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmSubLayerGetByKey0(_In_ HANDLE engineHandle, _In_ const GUID *key,
                      _Outptr_ FWPM_SUBLAYER0 **subLayer);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmSubLayerCreateEnumHandle0(_In_ HANDLE engineHandle,
                              _In_opt_ const FWPM_SUBLAYER_ENUM_TEMPLATE0 *enumTemplate,
                              _Out_ HANDLE *enumHandle);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmSubLayerEnum0(_In_ HANDLE engineHandle, _In_ HANDLE enumHandle, _In_ UINT32 numEntriesRequested,
                  _Outptr_result_buffer_(*numEntriesReturned) FWPM_SUBLAYER0 ***entries,
                  _Out_ UINT32 *numEntriesReturned);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmSubLayerDestroyEnumHandle0(_In_ HANDLE engineHandle, _Inout_ HANDLE enumHandle);

OPENWFP_END_DECLS
#endif /* !OPENWFP_UM_FWPMU_H */

#include "fwpvi.h"

/* Base filtering engine state (SPEC S15.2). openwfp's filter engine runs for the whole life of
 * the process: FwpmBfeStateGet0 returns FWPM_SERVICE_RUNNING and the state never changes, so a
 * subscribed callback is not called (as on Windows while the BFE keeps running). */
#ifndef OPENWFP_UM_FWPMU_H
OPENWFP_BEGIN_DECLS
_IRQL_requires_max_(DISPATCH_LEVEL) FWPM_SERVICE_STATE NTAPI FwpmBfeStateGet0(void);
_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI
FwpmBfeStateSubscribeChanges0(_Inout_ void *deviceObject, _In_ FWPM_SERVICE_STATE_CHANGE_CALLBACK0 callback,
                              _In_opt_ void *context, _Out_ HANDLE *changeHandle);
_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS NTAPI FwpmBfeStateUnsubscribeChanges0(_Inout_ HANDLE changeHandle);
OPENWFP_END_DECLS
#define FwpmBfeStateGet FwpmBfeStateGet0
#define FwpmBfeStateSubscribeChanges FwpmBfeStateSubscribeChanges0
#define FwpmBfeStateUnsubscribeChanges FwpmBfeStateUnsubscribeChanges0
#endif

#include "fwplayout.h" /* S15.5: the Windows x64 layouts, checked here */

#endif /* OPENWFP_KM_FWPMK_H */
