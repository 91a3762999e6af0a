/*
 * ntsid.h - security identifier basics (SPEC S15.2): the well-known authorities and RIDs and
 * the Rtl*Sid functions over the documented SID layout (openwfp_km_base.h). openwfp has no
 * tokens; SIDs are data a driver builds, compares and copies (ntifs.h includes this header).
 */
#ifndef OPENWFP_KM_NTSID_H
#define OPENWFP_KM_NTSID_H
#include "wdm.h"

#define SID_REVISION 1
#define SID_MAX_SUB_AUTHORITIES 15
#define SID_RECOMMENDED_SUB_AUTHORITIES 1
#define SECURITY_MAX_SID_SIZE (sizeof(SID) - sizeof(ULONG) + (SID_MAX_SUB_AUTHORITIES * sizeof(ULONG)))

#define SECURITY_NULL_SID_AUTHORITY {0, 0, 0, 0, 0, 0}
#define SECURITY_WORLD_SID_AUTHORITY {0, 0, 0, 0, 0, 1}
#define SECURITY_LOCAL_SID_AUTHORITY {0, 0, 0, 0, 0, 2}
#define SECURITY_CREATOR_SID_AUTHORITY {0, 0, 0, 0, 0, 3}
#define SECURITY_NT_AUTHORITY {0, 0, 0, 0, 0, 5}
#define SECURITY_APP_PACKAGE_AUTHORITY {0, 0, 0, 0, 0, 15}
#define SECURITY_MANDATORY_LABEL_AUTHORITY {0, 0, 0, 0, 0, 16}

#define SECURITY_NULL_RID 0x00000000L
#define SECURITY_WORLD_RID 0x00000000L
#define SECURITY_LOCAL_RID 0x00000000L
#define SECURITY_CREATOR_OWNER_RID 0x00000000L
#define SECURITY_DIALUP_RID 0x00000001L
#define SECURITY_NETWORK_RID 0x00000002L
#define SECURITY_BATCH_RID 0x00000003L
#define SECURITY_INTERACTIVE_RID 0x00000004L
#define SECURITY_SERVICE_RID 0x00000006L
#define SECURITY_ANONYMOUS_LOGON_RID 0x00000007L
#define SECURITY_AUTHENTICATED_USER_RID 0x0000000BL
#define SECURITY_RESTRICTED_CODE_RID 0x0000000CL
#define SECURITY_LOCAL_SYSTEM_RID 0x00000012L
#define SECURITY_LOCAL_SERVICE_RID 0x00000013L
#define SECURITY_NETWORK_SERVICE_RID 0x00000014L
#define SECURITY_NT_NON_UNIQUE 0x00000015L
#define SECURITY_BUILTIN_DOMAIN_RID 0x00000020L
#define SECURITY_APP_PACKAGE_BASE_RID 0x00000002L
#define SECURITY_BUILTIN_APP_PACKAGE_RID_COUNT 2L
#define SECURITY_APP_PACKAGE_RID_COUNT 8L
#define SECURITY_BUILTIN_PACKAGE_ANY_PACKAGE 0x00000001L

#define DOMAIN_USER_RID_ADMIN 0x000001F4L
#define DOMAIN_USER_RID_GUEST 0x000001F5L
#define DOMAIN_GROUP_RID_ADMINS 0x00000200L
#define DOMAIN_GROUP_RID_USERS 0x00000201L
#define DOMAIN_ALIAS_RID_ADMINS 0x00000220L
#define DOMAIN_ALIAS_RID_USERS 0x00000221L
#define DOMAIN_ALIAS_RID_GUESTS 0x00000222L
#define DOMAIN_ALIAS_RID_POWER_USERS 0x00000223L
#define DOMAIN_ALIAS_RID_NETWORK_CONFIGURATION_OPS 0x0000022CL

OPENWFP_INLINE ULONG RtlLengthRequiredSid(_In_ ULONG SubAuthorityCount) {
  return (ULONG)(sizeof(SID) - sizeof(ULONG) + SubAuthorityCount * sizeof(ULONG));
}
OPENWFP_INLINE BOOLEAN RtlValidSid(_In_ PSID Sid) {
  const SID *s = (const SID *)Sid;
  return (BOOLEAN)(s != NULL && s->Revision == SID_REVISION && s->SubAuthorityCount <= SID_MAX_SUB_AUTHORITIES);
}
OPENWFP_INLINE ULONG RtlLengthSid(_In_ PSID Sid) {
  return RtlLengthRequiredSid(((const SID *)Sid)->SubAuthorityCount);
}
OPENWFP_INLINE BOOLEAN RtlEqualSid(_In_ PSID Sid1, _In_ PSID Sid2) {
  ULONG n = RtlLengthSid(Sid1);
  return (BOOLEAN)(n == RtlLengthSid(Sid2) && memcmp(Sid1, Sid2, n) == 0);
}
OPENWFP_INLINE NTSTATUS RtlInitializeSid(_Out_ PSID Sid, _In_ PSID_IDENTIFIER_AUTHORITY IdentifierAuthority,
                                         _In_ UCHAR SubAuthorityCount) {
  SID *s = (SID *)Sid;
  if (SubAuthorityCount > SID_MAX_SUB_AUTHORITIES) return STATUS_INVALID_PARAMETER;
  s->Revision = SID_REVISION;
  s->SubAuthorityCount = SubAuthorityCount;
  s->IdentifierAuthority = *IdentifierAuthority;
  return STATUS_SUCCESS;
}
OPENWFP_INLINE PULONG RtlSubAuthoritySid(_In_ PSID Sid, _In_ ULONG SubAuthority) {
  return &((SID *)Sid)->SubAuthority[SubAuthority];
}
OPENWFP_INLINE PUCHAR RtlSubAuthorityCountSid(_In_ PSID Sid) { return &((SID *)Sid)->SubAuthorityCount; }
OPENWFP_INLINE PSID_IDENTIFIER_AUTHORITY RtlIdentifierAuthoritySid(_In_ PSID Sid) {
  return &((SID *)Sid)->IdentifierAuthority;
}
OPENWFP_INLINE NTSTATUS RtlCopySid(_In_ ULONG DestinationSidLength, _Out_ PSID DestinationSid, _In_ PSID SourceSid) {
  ULONG n = RtlLengthSid(SourceSid);
  if (DestinationSidLength < n) return STATUS_BUFFER_TOO_SMALL;
  memmove(DestinationSid, SourceSid, n);
  return STATUS_SUCCESS;
}

#endif /* OPENWFP_KM_NTSID_H */
