/*
 * manage_filters.c - a management program written as a Windows service would write it, with
 * nothing but <windows.h> and <fwpmu.h> (SPEC S14.4; docs/management-api.md): it opens the
 * filter engine and, in one transaction, adds a provider, a sublayer and a filter that blocks
 * connects to 127.0.0.9:9 at FWPM_LAYER_ALE_AUTH_CONNECT_V4; it can delete them again and list
 * the filters of that layer.
 *
 *   manage_filters [--dynamic] [--persistent] [--hold] add
 *   manage_filters delete
 *   manage_filters list
 *
 * --dynamic     open a FWPM_SESSION_FLAG_DYNAMIC session (its objects vanish when it closes)
 * --persistent  add the three objects with their PERSISTENT flags (kept across engine restarts)
 * --hold        after `add`, keep the session open until stdin reaches end of file
 *
 * Output: one line per step, "<function>: ok" or "<function>: failed 0x<DWORD in hex>"; `list`
 * prints "filter <id> <key> weight=0x<effective weight> <name>" per filter, then "listed <n>".
 * Exit status: 0 all steps succeeded, 1 a step failed, 2 usage.
 */
#include <windows.h>
#include <fwpmu.h>

#include <stdio.h>
#include <string.h>

/* {6f3c2a10-8d2b-4c55-9a41-3b7e0c1d2e01} .. e03: the objects this program owns. */
static const GUID kProviderKey = {0x6f3c2a10, 0x8d2b, 0x4c55, {0x9a, 0x41, 0x3b, 0x7e, 0x0c, 0x1d, 0x2e, 0x01}};
static const GUID kSubLayerKey = {0x6f3c2a10, 0x8d2b, 0x4c55, {0x9a, 0x41, 0x3b, 0x7e, 0x0c, 0x1d, 0x2e, 0x02}};
static const GUID kFilterKey = {0x6f3c2a10, 0x8d2b, 0x4c55, {0x9a, 0x41, 0x3b, 0x7e, 0x0c, 0x1d, 0x2e, 0x03}};

static int report(const char* step, DWORD result) {
  if (result == ERROR_SUCCESS) {
    printf("%s: ok\n", step);
  } else {
    printf("%s: failed 0x%08lX\n", step, (unsigned long)result);
  }
  fflush(stdout);
  return result == ERROR_SUCCESS;
}

static void printGuid(const GUID* g) {
  printf("%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", (unsigned long)g->Data1, g->Data2,
         g->Data3, g->Data4[0], g->Data4[1], g->Data4[2], g->Data4[3], g->Data4[4], g->Data4[5],
         g->Data4[6], g->Data4[7]);
}

static int addObjects(HANDLE engine, int persistent) {
  FWPM_PROVIDER0 provider;
  FWPM_SUBLAYER0 subLayer;
  FWPM_FILTER0 filter;
  FWPM_FILTER_CONDITION0 conditions[2];
  UINT64 filterId = 0;

  if (!report("FwpmTransactionBegin0", FwpmTransactionBegin0(engine, 0))) return 0;

  memset(&provider, 0, sizeof provider);
  provider.providerKey = kProviderKey;
  provider.displayData.name = (wchar_t*)L"manage_filters provider";
  provider.flags = persistent ? FWPM_PROVIDER_FLAG_PERSISTENT : 0;
  if (!report("FwpmProviderAdd0", FwpmProviderAdd0(engine, &provider, NULL))) goto abort;

  memset(&subLayer, 0, sizeof subLayer);
  subLayer.subLayerKey = kSubLayerKey;
  subLayer.displayData.name = (wchar_t*)L"manage_filters sublayer";
  subLayer.flags = persistent ? FWPM_SUBLAYER_FLAG_PERSISTENT : 0;
  subLayer.providerKey = (GUID*)&kProviderKey;
  subLayer.weight = 0x100;
  if (!report("FwpmSubLayerAdd0", FwpmSubLayerAdd0(engine, &subLayer, NULL))) goto abort;

  memset(conditions, 0, sizeof conditions);
  conditions[0].fieldKey = FWPM_CONDITION_IP_REMOTE_ADDRESS;
  conditions[0].matchType = FWP_MATCH_EQUAL;
  conditions[0].conditionValue.type = FWP_UINT32;
  conditions[0].conditionValue.uint32 = 0x7F000009; /* 127.0.0.9, host byte order */
  conditions[1].fieldKey = FWPM_CONDITION_IP_REMOTE_PORT;
  conditions[1].matchType = FWP_MATCH_EQUAL;
  conditions[1].conditionValue.type = FWP_UINT16;
  conditions[1].conditionValue.uint16 = 9;

  memset(&filter, 0, sizeof filter);
  filter.filterKey = kFilterKey;
  filter.displayData.name = (wchar_t*)L"manage_filters: block 127.0.0.9:9";
  filter.flags = persistent ? FWPM_FILTER_FLAG_PERSISTENT : FWPM_FILTER_FLAG_NONE;
  filter.providerKey = (GUID*)&kProviderKey;
  filter.layerKey = FWPM_LAYER_ALE_AUTH_CONNECT_V4;
  filter.subLayerKey = kSubLayerKey;
  filter.weight.type = FWP_EMPTY; /* automatic weight */
  filter.numFilterConditions = 2;
  filter.filterCondition = conditions;
  filter.action.type = FWP_ACTION_BLOCK;
  if (!report("FwpmFilterAdd0", FwpmFilterAdd0(engine, &filter, NULL, &filterId))) goto abort;
  printf("filter id %llu\n", (unsigned long long)filterId);

  return report("FwpmTransactionCommit0", FwpmTransactionCommit0(engine));

abort:
  report("FwpmTransactionAbort0", FwpmTransactionAbort0(engine));
  return 0;
}

static int deleteObjects(HANDLE engine) {
  int ok = report("FwpmFilterDeleteByKey0", FwpmFilterDeleteByKey0(engine, &kFilterKey));
  ok &= report("FwpmSubLayerDeleteByKey0", FwpmSubLayerDeleteByKey0(engine, &kSubLayerKey));
  ok &= report("FwpmProviderDeleteByKey0", FwpmProviderDeleteByKey0(engine, &kProviderKey));
  return ok;
}

static int listFilters(HANDLE engine) {
  FWPM_FILTER_ENUM_TEMPLATE0 query;
  HANDLE enumHandle = NULL;
  FWPM_FILTER0** filters = NULL;
  UINT32 count = 0, i;
  DWORD result;

  memset(&query, 0, sizeof query);
  query.layerKey = FWPM_LAYER_ALE_AUTH_CONNECT_V4;
  query.enumType = FWP_FILTER_ENUM_OVERLAPPING;
  query.actionMask = 0xFFFFFFFF;
  if (!report("FwpmFilterCreateEnumHandle0", FwpmFilterCreateEnumHandle0(engine, &query, &enumHandle)))
    return 0;
  result = FwpmFilterEnum0(engine, enumHandle, 0xFFFFFFFF, &filters, &count);
  if (report("FwpmFilterEnum0", result)) {
    for (i = 0; i < count; ++i) {
      const FWPM_FILTER0* f = filters[i];
      printf("filter %llu ", (unsigned long long)f->filterId);
      printGuid(&f->filterKey);
      printf(" weight=0x%016llx %ls\n",
             (unsigned long long)(f->effectiveWeight.type == FWP_UINT64 ? *f->effectiveWeight.uint64 : 0),
             f->displayData.name ? f->displayData.name : L"");
    }
    printf("listed %u\n", (unsigned)count);
    FwpmFreeMemory0((void**)&filters);
  }
  report("FwpmFilterDestroyEnumHandle0", FwpmFilterDestroyEnumHandle0(engine, enumHandle));
  return result == ERROR_SUCCESS;
}

int main(int argc, char** argv) {
  FWPM_SESSION0 session;
  HANDLE engine = NULL;
  int dynamic = 0, persistent = 0, hold = 0, ok = 0, i;
  const char* command = NULL;

  for (i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--dynamic") == 0) dynamic = 1;
    else if (strcmp(argv[i], "--persistent") == 0) persistent = 1;
    else if (strcmp(argv[i], "--hold") == 0) hold = 1;
    else if (!command) command = argv[i];
    else command = "";
  }
  if (!command || (strcmp(command, "add") && strcmp(command, "delete") && strcmp(command, "list"))) {
    fprintf(stderr, "usage: manage_filters [--dynamic] [--persistent] [--hold] add|delete|list\n");
    return 2;
  }

  memset(&session, 0, sizeof session);
  session.displayData.name = (wchar_t*)L"manage_filters";
  session.flags = dynamic ? FWPM_SESSION_FLAG_DYNAMIC : 0;
  if (!report("FwpmEngineOpen0", FwpmEngineOpen0(NULL, RPC_C_AUTHN_WINNT, NULL, &session, &engine)))
    return 1;

  if (strcmp(command, "add") == 0) ok = addObjects(engine, persistent);
  else if (strcmp(command, "delete") == 0) ok = deleteObjects(engine);
  else ok = listFilters(engine);

  if (ok && hold) {
    printf("holding\n");
    fflush(stdout);
    while (getchar() != EOF) {
    }
  }
  report("FwpmEngineClose0", FwpmEngineClose0(engine));
  return ok ? 0 : 1;
}
