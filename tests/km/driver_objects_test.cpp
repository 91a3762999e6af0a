// S1.1 (a Windows callout driver runs unchanged): driver and device objects
// (src/km/driver_objects.cpp): IoCreateDevice, IoDeleteDevice, symbolic links, the driver
// object's name, extension and default dispatch routines.
#include <ntddk.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "km/support.h"
#include "km_test_support.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

using kmtest::KernelSupport;
using openwfp::Runtime;
using openwfp::verifier::Code;

TEST_F(KernelSupport, S1_1_IoCreateDeviceZeroesExtensionAndLinksToDriver) {
  PDEVICE_OBJECT first = nullptr, second = nullptr;
  ASSERT_EQ(IoCreateDevice(driver_, 4096, nullptr, FILE_DEVICE_NETWORK, FILE_DEVICE_SECURE_OPEN, FALSE, &first),
            STATUS_SUCCESS);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(first->DeviceExtension, nullptr);
  const auto* ext = static_cast<const unsigned char*>(first->DeviceExtension);
  for (int i = 0; i < 4096; ++i) ASSERT_EQ(ext[i], 0) << i;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first->DeviceExtension) % 16, 0u);
  EXPECT_EQ(first->DriverObject, driver_);
  EXPECT_EQ(driver_->DeviceObject, first);
  EXPECT_EQ(first->DeviceType, static_cast<DEVICE_TYPE>(FILE_DEVICE_NETWORK));
  EXPECT_EQ(first->Characteristics, static_cast<ULONG>(FILE_DEVICE_SECURE_OPEN));
  EXPECT_NE(first->Flags & DO_DEVICE_INITIALIZING, 0u);

  UNICODE_STRING name;
  RtlInitUnicodeString(&name, L"\\Device\\KernelSupportTest");
  ASSERT_EQ(IoCreateDevice(driver_, 0, &name, FILE_DEVICE_NETWORK, 0, TRUE, &second), STATUS_SUCCESS);
  EXPECT_EQ(second->DeviceExtension, nullptr);
  EXPECT_NE(second->Flags & DO_EXCLUSIVE, 0u);
  EXPECT_EQ(driver_->DeviceObject, second);  // newest first
  EXPECT_EQ(second->NextDevice, first);

  PDEVICE_OBJECT clash = reinterpret_cast<PDEVICE_OBJECT>(0x1);
  EXPECT_EQ(IoCreateDevice(driver_, 0, &name, FILE_DEVICE_NETWORK, 0, FALSE, &clash), STATUS_OBJECT_NAME_COLLISION);
  EXPECT_EQ(clash, nullptr);

  UNICODE_STRING link;
  RtlInitUnicodeString(&link, L"\\??\\KernelSupportTest");
  EXPECT_EQ(IoCreateSymbolicLink(&link, &name), STATUS_SUCCESS);
  EXPECT_EQ(IoCreateSymbolicLink(&link, &name), STATUS_OBJECT_NAME_COLLISION);
  EXPECT_EQ(IoDeleteSymbolicLink(&link), STATUS_SUCCESS);
  EXPECT_EQ(IoDeleteSymbolicLink(&link), STATUS_OBJECT_NAME_NOT_FOUND);

  IoDeleteDevice(second);
  EXPECT_EQ(driver_->DeviceObject, first);
  EXPECT_EQ(first->NextDevice, nullptr);
  IoDeleteDevice(first);
  EXPECT_EQ(driver_->DeviceObject, nullptr);
  // The name is free again.
  ASSERT_EQ(IoCreateDevice(driver_, 0, &name, FILE_DEVICE_NETWORK, 0, FALSE, &second), STATUS_SUCCESS);
  IoDeleteDevice(second);
  EXPECT_TRUE(Runtime::current().verifier().violations().empty());

  IoDeleteDevice(second);  // twice
  EXPECT_EQ(count(Code::KernelApiMisuse), 1u);
  EXPECT_EQ(IoCreateDevice(nullptr, 0, nullptr, FILE_DEVICE_NETWORK, 0, FALSE, &first), STATUS_INVALID_PARAMETER);
}

TEST_F(KernelSupport, S1_1_DriverObjectIsNamedAndDispatchDefaultsToInvalidRequest) {
  ASSERT_NE(driver_->DriverName.Buffer, nullptr);
  EXPECT_EQ(std::wstring(driver_->DriverName.Buffer, driver_->DriverName.Length / sizeof(WCHAR)), L"\\Driver\\kdrv");
  ASSERT_NE(driver_->DriverExtension, nullptr);
  EXPECT_EQ(driver_->DriverExtension->DriverObject, driver_);
  EXPECT_EQ(openwfp::km::driverNameOf(driver_), "kdrv");
  IRP irp{};
  void* completed = nullptr;
  openwfp::km::setIrpCompletionHandler([&](void* p) { completed = p; });
  EXPECT_EQ(driver_->MajorFunction[IRP_MJ_DEVICE_CONTROL](nullptr, &irp), STATUS_INVALID_DEVICE_REQUEST);
  openwfp::km::setIrpCompletionHandler(nullptr);
  EXPECT_EQ(irp.IoStatus.Status, STATUS_INVALID_DEVICE_REQUEST);
  EXPECT_EQ(completed, &irp);
}
