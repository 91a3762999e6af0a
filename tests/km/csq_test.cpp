// S1.1 (a Windows callout driver runs unchanged): cancel-safe queues (src/km/csq.cpp):
// IoCsqInitialize, IoCsqInsertIrp, IoCsqRemoveIrp, IoCsqRemoveNextIrp, cancelled IRPs handed to
// CompleteCanceledIrp.
#include <ntddk.h>

#include <gtest/gtest.h>

#include <vector>

#include "km_test_support.h"
#include "verifier/verifier.h"

using kmtest::KernelObjects;
using kmtest::ManualIrp;
using openwfp::verifier::Code;

namespace {

struct TestQueue {
  IO_CSQ csq;  // first: the callbacks get the IO_CSQ
  KSPIN_LOCK lock;
  LIST_ENTRY head;
  std::vector<PIRP> cancelled;
};

TestQueue* queueOf(PIO_CSQ csq) { return CONTAINING_RECORD(csq, TestQueue, csq); }

void NTAPI qInsert(PIO_CSQ csq, PIRP irp) { InsertTailList(&queueOf(csq)->head, &irp->Tail.Overlay.ListEntry); }
void NTAPI qRemove(PIO_CSQ, PIRP irp) { RemoveEntryList(&irp->Tail.Overlay.ListEntry); }
PIRP NTAPI qPeek(PIO_CSQ csq, PIRP irp, PVOID) {
  TestQueue* q = queueOf(csq);
  PLIST_ENTRY next = irp == nullptr ? q->head.Flink : irp->Tail.Overlay.ListEntry.Flink;
  return next == &q->head ? nullptr : CONTAINING_RECORD(next, IRP, Tail.Overlay.ListEntry);
}
void NTAPI qAcquire(PIO_CSQ csq, PKIRQL irql) { KeAcquireSpinLock(&queueOf(csq)->lock, irql); }
void NTAPI qRelease(PIO_CSQ csq, KIRQL irql) { KeReleaseSpinLock(&queueOf(csq)->lock, irql); }
void NTAPI qCompleteCanceled(PIO_CSQ csq, PIRP irp) { queueOf(csq)->cancelled.push_back(irp); }

}  // namespace

TEST_F(KernelObjects, S1_1_CancelSafeQueueInsertCancelRemove) {
  TestQueue q;
  KeInitializeSpinLock(&q.lock);
  InitializeListHead(&q.head);
  ASSERT_EQ(IoCsqInitialize(&q.csq, qInsert, qRemove, qPeek, qAcquire, qRelease, qCompleteCanceled), STATUS_SUCCESS);
  ManualIrp irps[4];
  IO_CSQ_IRP_CONTEXT contexts[4];
  for (int i = 0; i < 3; ++i) IoCsqInsertIrp(&q.csq, &irps[i].irp, &contexts[i]);
  EXPECT_NE(irps[0].stack.Control & SL_PENDING_RETURNED, 0) << "inserted IRPs are marked pending";
  EXPECT_NE(irps[0].irp.CancelRoutine, nullptr) << "and cancelable";

  EXPECT_TRUE(IoCancelIrp(&irps[1].irp));
  ASSERT_EQ(q.cancelled.size(), 1u);
  EXPECT_EQ(q.cancelled[0], &irps[1].irp) << "the cancelled IRP left the queue and went to CompleteCanceledIrp";
  EXPECT_EQ(IoCsqRemoveIrp(&q.csq, &contexts[1]), nullptr) << "already cancelled";

  EXPECT_EQ(IoCsqRemoveIrp(&q.csq, &contexts[2]), &irps[2].irp);
  EXPECT_EQ(IoCsqRemoveNextIrp(&q.csq, nullptr), &irps[0].irp);
  EXPECT_EQ(IoCsqRemoveNextIrp(&q.csq, nullptr), nullptr);
  EXPECT_TRUE(IsListEmpty(&q.head));
  EXPECT_FALSE(IoCancelIrp(&irps[0].irp)) << "a removed IRP is no longer cancelable";
  EXPECT_EQ(q.cancelled.size(), 1u);

  // Cancelled before it was queued: completed as cancelled at once.
  irps[3].irp.Cancel = TRUE;
  IoCsqInsertIrp(&q.csq, &irps[3].irp, nullptr);
  ASSERT_EQ(q.cancelled.size(), 2u);
  EXPECT_EQ(q.cancelled[1], &irps[3].irp);
  EXPECT_TRUE(IsListEmpty(&q.head));
  EXPECT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
  EXPECT_EQ(count(Code::KernelApiMisuse), 0u);
}
