// engine/engine.cpp - the Engine facade: builds its parts and tears them down (engine.h).
#include "engine/engine.h"

#include "engine/connect_pipeline.h"
#include "verifier/verifier.h"

namespace openwfp::engine {

Engine::Engine(EngineServices services)
    : services_(std::move(services)),
      contexts_(services_.pool),
      store_(slots_),
      connections_(slots_),
      handles_(services_, contexts_),
      operations_(services_),
      runner_(services_, store_, handles_, operations_, contexts_),
      pipeline_(std::make_unique<ConnectPipeline>(*this)) {}

Engine::~Engine() {
  // Pended classifies end as BLOCK (their done() runs now), then every classify handle goes.
  runner_.shutdown();
  contexts_.detach();
}

Classifier& Engine::classifier() { return *pipeline_; }

std::vector<Engine::ForcedUnregister> Engine::forceUnregisterOwnedBy(const std::string& owner,
                                                                     std::chrono::milliseconds wait) {
  auto forced = slots_.forceUnregisterOwnedBy(owner, wait);
  for (const auto& f : forced) {
    size_t n = connections_.flowContexts().dropCallout(f.id);
    if (n > 0 && services_.verifier) {
      services_.verifier->report(verifier::Violation{
          verifier::Code::HandleLeak,
          std::to_string(n) + " flow context(s) of callout " + f.key.str() +
              " still associated when its driver unloaded (FwpsFlowRemoveContext0 them before "
              "FwpsCalloutUnregister*; flowDeleteFn not called)",
          owner, f.key.str(), 0});
    }
  }
  return forced;
}

}  // namespace openwfp::engine
