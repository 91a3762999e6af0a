/*
 * netioddk.h - the Network Module Registrar header (SPEC S15.2): the NPI types WFP drivers
 * see through fwpsk.h. openwfp has no NMR: the header exists so drivers that include it build;
 * it declares the NPI identifiers and structures.
 */
#ifndef OPENWFP_KM_NETIODDK_H
#define OPENWFP_KM_NETIODDK_H
#include "wdm.h"

typedef GUID NPIID, *PNPIID;
typedef CONST NPIID *PCNPIID;
typedef struct _NPI_MODULEID {
  USHORT Length;
  ULONG Type;
  union {
    GUID Guid;
    LUID IfLuid;
  };
} NPI_MODULEID, *PNPI_MODULEID;
typedef CONST NPI_MODULEID *PCNPI_MODULEID;
typedef enum _NPI_MODULEID_TYPE { MIT_GUID = 1, MIT_IF_LUID } NPI_MODULEID_TYPE;
typedef struct _NPI_CLIENT_CHARACTERISTICS NPI_CLIENT_CHARACTERISTICS, *PNPI_CLIENT_CHARACTERISTICS;
typedef struct _NPI_PROVIDER_CHARACTERISTICS NPI_PROVIDER_CHARACTERISTICS, *PNPI_PROVIDER_CHARACTERISTICS;
typedef struct _NPI_REGISTRATION_INSTANCE {
  USHORT Version;
  USHORT Size;
  PNPIID NpiId;
  PNPI_MODULEID ModuleId;
  ULONG Number;
  CONST VOID *NpiSpecificCharacteristics;
} NPI_REGISTRATION_INSTANCE, *PNPI_REGISTRATION_INSTANCE;
#endif /* OPENWFP_KM_NETIODDK_H */
