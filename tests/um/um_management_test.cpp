// tests/um/um_management_test.cpp - the user-mode management API against an in-process engine
// (SPEC S14.4-S14.7): examples/manage_filters blocks 127.0.0.9:9 in one transaction; dynamic
// sessions' objects vanish with their connection; persistent objects come back after a restart
// by key; a corrupt state file is set aside with one line; other uids are refused; the return
// codes are fwpuclnt's; `show` renders what netsh shows.
#include <fstream>

#include <nlohmann/json.hpp>

#include "um_test_support.h"

using namespace umtest;
using openwfp::Action;

namespace {

bool same(const GUID& a, const GUID& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

DWORD filterByKey(HANDLE h, const GUID& key, UINT64* id = nullptr) {
  FWPM_FILTER0* f = nullptr;
  DWORD st = FwpmFilterGetByKey0(h, &key, &f);
  if (st == ERROR_SUCCESS) {
    if (id) *id = f->filterId;
    FwpmFreeMemory0(reinterpret_cast<void**>(&f));
  }
  return st;
}

}  // namespace

class Um : public UmTest {};

TEST_F(Um, S14_4_ManagementProgramBlocksConnectInOneTransaction) {
  ASSERT_EQ(connect(kBlocked, 9), Action::Permit);
  std::string out;
  ASSERT_EQ(manage({"add"}, &out), 0) << out;
  for (const char* step : {"FwpmEngineOpen0: ok", "FwpmTransactionBegin0: ok", "FwpmProviderAdd0: ok",
                           "FwpmSubLayerAdd0: ok", "FwpmFilterAdd0: ok", "FwpmTransactionCommit0: ok",
                           "FwpmEngineClose0: ok"})
    EXPECT_NE(out.find(step), std::string::npos) << step << " missing in:\n" << out;
  EXPECT_EQ(connect(kBlocked, 9), Action::Block);
  EXPECT_EQ(connect(kBlocked, 10), Action::Permit) << "the port condition was lost";
  EXPECT_EQ(connect(0x7F000008, 9), Action::Permit) << "the address condition was lost";

  ASSERT_EQ(manage({"list"}, &out), 0) << out;
  EXPECT_NE(out.find("listed 1"), std::string::npos) << out;
  EXPECT_NE(out.find("manage_filters: block 127.0.0.9:9"), std::string::npos) << out;

  // A second add fails at the provider with FWP_E_ALREADY_EXISTS, in hex, and aborts.
  ASSERT_EQ(manage({"add"}, &out), 1);
  EXPECT_NE(out.find("FwpmProviderAdd0: failed 0x80320009"), std::string::npos) << out;
  EXPECT_NE(out.find("FwpmTransactionAbort0: ok"), std::string::npos) << out;

  ASSERT_EQ(manage({"delete"}, &out), 0) << out;
  EXPECT_EQ(connect(kBlocked, 9), Action::Permit);
  ASSERT_EQ(manage({"delete"}, &out), 1);
  EXPECT_NE(out.find("FwpmFilterDeleteByKey0: failed 0x80320003"), std::string::npos) << out;
}

TEST_F(Um, S14_5_DynamicSessionObjectsVanishWhenTheConnectionCloses) {
  // Closing the handle: manage_filters --dynamic exits and its filter is gone.
  std::string out;
  ASSERT_EQ(manage({"--dynamic", "add"}, &out), 0) << out;
  EXPECT_EQ(connect(kBlocked, 9), Action::Permit) << "the dynamic session's filter outlived it";

  // The connection ending without FwpmEngineClose0 (the process died): connectionClosed.
  HANDLE h = open(/*dynamic=*/true);
  FWPM_FILTER0 f{};
  FWPM_FILTER_CONDITION0 c{};
  c.fieldKey = FWPM_CONDITION_IP_REMOTE_PORT;
  c.conditionValue.type = FWP_UINT16;
  c.conditionValue.uint16 = 9;
  f.displayData.name = const_cast<wchar_t*>(L"dynamic block port 9");
  f.layerKey = FWPM_LAYER_ALE_AUTH_CONNECT_V4;
  f.action.type = FWP_ACTION_BLOCK;
  f.numFilterConditions = 1;
  f.filterCondition = &c;
  UINT64 id = 0;
  ASSERT_EQ(FwpmFilterAdd0(h, &f, nullptr, &id), static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_EQ(connect(kBlocked, 9), Action::Block);
  ASSERT_EQ(FwpmTransactionBegin0(h, 0), static_cast<DWORD>(ERROR_SUCCESS));  // left open
  service->connectionClosed(connections->last());
  EXPECT_EQ(connect(kBlocked, 9), Action::Permit);
  HANDLE other = open();
  FWPM_FILTER0* gone = nullptr;
  EXPECT_EQ(FwpmFilterGetById0(other, id, &gone), static_cast<DWORD>(FWP_E_FILTER_NOT_FOUND));
  // The transaction went with the connection: another session can begin one at once.
  EXPECT_EQ(FwpmTransactionBegin0(other, 0), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_EQ(FwpmTransactionAbort0(other), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_EQ(FwpmEngineClose0(h), static_cast<DWORD>(ERROR_INVALID_HANDLE));  // the engine forgot it
  EXPECT_EQ(FwpmEngineClose0(other), static_cast<DWORD>(ERROR_SUCCESS));
}

TEST_F(Um, S14_5_PersistentObjectsAreRestoredByKeyAfterARestart) {
  std::string out;
  ASSERT_EQ(manage({"--persistent", "add"}, &out), 0) << out;
  // A non-persistent filter of a normal session stays in memory only.
  HANDLE h = open();
  FWPM_FILTER0 f{};
  GUID volatileKey = kExampleFilter;
  volatileKey.Data1 ^= 0xFFFF;
  f.filterKey = volatileKey;
  f.displayData.name = const_cast<wchar_t*>(L"not persistent");
  f.layerKey = FWPM_LAYER_ALE_AUTH_CONNECT_V4;
  f.action.type = FWP_ACTION_PERMIT;
  ASSERT_EQ(FwpmFilterAdd0(h, &f, nullptr, nullptr), static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_EQ(FwpmEngineClose0(h), static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_TRUE(std::filesystem::exists(service->statePath()));

  EXPECT_EQ(restart(), std::nullopt);
  EXPECT_EQ(connect(kBlocked, 9), Action::Block) << "the persistent filter did not come back";
  h = open();
  FWPM_FILTER0* back = nullptr;
  ASSERT_EQ(FwpmFilterGetByKey0(h, &kExampleFilter, &back), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_TRUE(same(back->subLayerKey, kExampleSubLayer));
  EXPECT_EQ(back->flags & FWPM_FILTER_FLAG_PERSISTENT, static_cast<UINT32>(FWPM_FILTER_FLAG_PERSISTENT));
  EXPECT_EQ(back->numFilterConditions, 2u);
  FwpmFreeMemory0(reinterpret_cast<void**>(&back));
  EXPECT_EQ(filterByKey(h, volatileKey), static_cast<DWORD>(FWP_E_FILTER_NOT_FOUND));
  FWPM_SUBLAYER0* sub = nullptr;
  ASSERT_EQ(FwpmSubLayerGetByKey0(h, &kExampleSubLayer, &sub), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_EQ(sub->weight, 0x100);
  FwpmFreeMemory0(reinterpret_cast<void**>(&sub));
  ASSERT_EQ(FwpmEngineClose0(h), static_cast<DWORD>(ERROR_SUCCESS));

  // Deleting them rewrites the file: after the next restart nothing comes back.
  ASSERT_EQ(manage({"delete"}, &out), 0) << out;
  EXPECT_EQ(restart(), std::nullopt);
  EXPECT_EQ(connect(kBlocked, 9), Action::Permit);
  h = open();
  EXPECT_EQ(filterByKey(h, kExampleFilter), static_cast<DWORD>(FWP_E_FILTER_NOT_FOUND));
  FWPM_PROVIDER0* prov = nullptr;
  EXPECT_EQ(FwpmProviderGetByKey0(h, &kExampleProvider, &prov), static_cast<DWORD>(FWP_E_PROVIDER_NOT_FOUND));
  ASSERT_EQ(FwpmEngineClose0(h), static_cast<DWORD>(ERROR_SUCCESS));
}

TEST_F(Um, S14_5_PersistentChangesInAnAbortedTransactionAreNotSaved) {
  HANDLE h = open();
  ASSERT_EQ(FwpmTransactionBegin0(h, 0), static_cast<DWORD>(ERROR_SUCCESS));
  FWPM_PROVIDER0 p{};
  p.providerKey = kExampleProvider;
  p.displayData.name = const_cast<wchar_t*>(L"aborted provider");
  p.flags = FWPM_PROVIDER_FLAG_PERSISTENT;
  ASSERT_EQ(FwpmProviderAdd0(h, &p, nullptr), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_FALSE(std::filesystem::exists(service->statePath())) << "saved inside a transaction";
  ASSERT_EQ(FwpmTransactionAbort0(h), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_FALSE(std::filesystem::exists(service->statePath()));
  ASSERT_EQ(FwpmEngineClose0(h), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_EQ(restart(), std::nullopt);
  h = open();
  FWPM_PROVIDER0* prov = nullptr;
  EXPECT_EQ(FwpmProviderGetByKey0(h, &kExampleProvider, &prov), static_cast<DWORD>(FWP_E_PROVIDER_NOT_FOUND));
  ASSERT_EQ(FwpmEngineClose0(h), static_cast<DWORD>(ERROR_SUCCESS));
}

TEST_F(Um, S14_5_CorruptStateFileIsSetAsideWithOneLine) {
  std::string out;
  ASSERT_EQ(manage({"--persistent", "add"}, &out), 0) << out;
  std::string path = service->statePath();
  {  // flip one byte in the middle: the checksum no longer matches
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(40);
    char c = 0;
    f.read(&c, 1);
    f.seekp(40);
    c = static_cast<char>(c ^ 0x5A);
    f.write(&c, 1);
  }
  auto line = restart();
  ASSERT_TRUE(line.has_value()) << "a corrupt file restored silently";
  EXPECT_EQ(line->find('\n'), std::string::npos) << *line;
  EXPECT_NE(line->find(path), std::string::npos) << *line;
  EXPECT_NE(line->find("checksum"), std::string::npos) << *line;
  EXPECT_NE(line->find("set aside as " + path + ".corrupt-"), std::string::npos) << *line;
  EXPECT_FALSE(std::filesystem::exists(path));
  auto names = files();
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].rfind("objects.bin.corrupt-", 0), 0u) << names[0];
  EXPECT_EQ(connect(kBlocked, 9), Action::Permit) << "the engine did not start empty";

  // Garbage from the first byte: the same.
  { std::ofstream(path, std::ios::binary) << "this is not an openwfp state file, just some text"; }
  line = restart();
  ASSERT_TRUE(line.has_value());
  EXPECT_NE(line->find("magic"), std::string::npos) << *line;
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(Um, S14_6_OnlyTheEngineUidAndRootMayCall) {
  stop();
  start(kEngineUid + 1);
  HANDLE h = nullptr;
  EXPECT_EQ(FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, nullptr, &h), static_cast<DWORD>(ERROR_ACCESS_DENIED));
  EXPECT_EQ(h, nullptr);
  std::string out;
  EXPECT_EQ(manage({"add"}, &out), 1);
  EXPECT_NE(out.find("FwpmEngineOpen0: failed 0x00000005"), std::string::npos) << out;
  EXPECT_EQ(connect(kBlocked, 9), Action::Permit);
  // A raw call with a session handle of another connection, from the engine's uid: refused too.
  stop();
  start(0);  // root
  h = open();
  ASSERT_NE(h, nullptr);
  openwfp::control::ServiceRequest raw;
  raw.connection = 999999;
  raw.uid = kEngineUid;
  raw.service = openwfp::control::kServiceManagement;
  raw.op = 3;  // TransactionBegin on session 1 of someone else
  raw.payload = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(static_cast<uint32_t>(service->handle(raw).status), 0xC0000008u);  // STATUS_INVALID_HANDLE
  raw.uid = kEngineUid + 7;
  EXPECT_EQ(static_cast<uint32_t>(service->handle(raw).status), 0xC0000022u);  // STATUS_ACCESS_DENIED
  service->connectionClosed(999999);
  EXPECT_EQ(FwpmEngineClose0(h), static_cast<DWORD>(ERROR_SUCCESS));
}

TEST_F(Um, S14_4_ReturnCodesAreFwpuclntDwords) {
  HANDLE h = open();
  EXPECT_EQ(FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, nullptr, nullptr), static_cast<DWORD>(ERROR_INVALID_PARAMETER));
  HANDLE x = nullptr;
  EXPECT_EQ(FwpmEngineOpen0(L"remote", RPC_C_AUTHN_WINNT, nullptr, nullptr, &x), static_cast<DWORD>(ERROR_INVALID_PARAMETER));
  EXPECT_EQ(FwpmEngineOpen0(nullptr, 12345, nullptr, nullptr, &x), static_cast<DWORD>(ERROR_INVALID_PARAMETER));
  EXPECT_EQ(FwpmFilterAdd0(h, nullptr, nullptr, nullptr), static_cast<DWORD>(ERROR_INVALID_PARAMETER));
  EXPECT_EQ(FwpmProviderDeleteByKey0(h, nullptr), static_cast<DWORD>(ERROR_INVALID_PARAMETER));
  FWPM_FILTER0* f = nullptr;
  EXPECT_EQ(FwpmFilterGetById0(h, 12345, &f), static_cast<DWORD>(FWP_E_FILTER_NOT_FOUND));
  EXPECT_EQ(f, nullptr);
  EXPECT_EQ(FwpmFilterGetById0(h, 1, nullptr), static_cast<DWORD>(ERROR_INVALID_PARAMETER));
  int bogus = 0;
  EXPECT_EQ(FwpmTransactionBegin0(&bogus, 0), static_cast<DWORD>(ERROR_INVALID_HANDLE));
  EXPECT_EQ(FwpmTransactionCommit0(h), static_cast<DWORD>(FWP_E_NO_TXN_IN_PROGRESS));
  FWPM_FILTER0 bad{};
  bad.displayData.name = const_cast<wchar_t*>(L"bad");
  bad.layerKey = kExampleFilter;  // not a layer
  bad.action.type = FWP_ACTION_BLOCK;
  EXPECT_EQ(FwpmFilterAdd0(h, &bad, nullptr, nullptr), static_cast<DWORD>(FWP_E_LAYER_NOT_FOUND));
  bad.layerKey = FWPM_LAYER_ALE_AUTH_CONNECT_V4;
  bad.numFilterConditions = 1;  // and no array: the engine's own check
  EXPECT_EQ(FwpmFilterAdd0(h, &bad, nullptr, nullptr), static_cast<DWORD>(FWP_E_NULL_POINTER));
  FWPM_PROVIDER0 p{};
  p.providerKey = kExampleProvider;
  p.displayData.name = const_cast<wchar_t*>(L"provider");
  EXPECT_EQ(FwpmProviderAdd0(h, &p, nullptr), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_EQ(FwpmProviderAdd0(h, &p, nullptr), static_cast<DWORD>(FWP_E_ALREADY_EXISTS));
  EXPECT_EQ(FwpmEngineClose0(h), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_EQ(FwpmEngineClose0(h), static_cast<DWORD>(ERROR_INVALID_HANDLE));
  // No engine to reach: EPT_S_NOT_REGISTERED (1753).
  connections.reset();
  EXPECT_EQ(FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, nullptr, &x), static_cast<DWORD>(EPT_S_NOT_REGISTERED));
  FWP_BYTE_BLOB* app = nullptr;
  ASSERT_EQ(FwpmGetAppIdFromFileName0(L"/usr/bin/curl", &app), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_EQ(app->size, 14 * sizeof(wchar_t));
  FwpmFreeMemory0(reinterpret_cast<void**>(&app));
  EXPECT_EQ(app, nullptr);
}
