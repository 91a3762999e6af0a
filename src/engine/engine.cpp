// engine/engine.cpp - the Engine facade: builds its parts and tears them down (engine.h).
#include "engine/engine.h"

#include "engine/connect_pipeline.h"

namespace openwfp::engine {

Engine::Engine(EngineServices services)
    : services_(std::move(services)),
      contexts_(services_.pool),
      store_(slots_),
      connections_(slots_),
      handles_(services_, contexts_),
      runner_(services_, store_, handles_, contexts_),
      pipeline_(std::make_unique<ConnectPipeline>(*this)) {}

Engine::~Engine() {
  // Pended classifies end as BLOCK (their done() runs now), then every classify handle goes.
  runner_.shutdown();
  contexts_.detach();
}

Classifier& Engine::classifier() { return *pipeline_; }

}  // namespace openwfp::engine
