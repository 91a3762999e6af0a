// engine/connect_pipeline.h - the Classifier stack backends call (include/openwfp/stack.h): runs
// the layers of each StackHook in the order of the engine's table (layers.h, hookLayers): a
// connect runs ALE_CONNECT_REDIRECT, then, if permitted, ALE_AUTH_CONNECT for the final tuple; a
// bind runs ALE_BIND_REDIRECT (SPEC S4.1, S4.4, S5.5, S5.8).
#pragma once

#include "openwfp/stack.h"

namespace openwfp::engine {

class Engine;

class ConnectPipeline final : public Classifier {
 public:
  explicit ConnectPipeline(Engine& engine) : engine_(engine) {}
  void classify(StackHook hook, const StackRequest& request, StackDone done) override;
  void connectionClosed(const std::shared_ptr<redirect::History>& history) override;

 private:
  void runConnect(const ConnectRequest& request, ConnectDone done);
  void runBind(const BindRequest& request, BindDone done);

  Engine& engine_;
};

}  // namespace openwfp::engine
