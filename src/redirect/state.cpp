// redirect/state.cpp - FwpsQueryConnectionRedirectState0 semantics (S7.2, S7.3).
//
// Over entries() oldest first: none -> NotRedirected; newest by `handle` -> BySelf with that
// entry's context; an older one by `handle` but the newest by another -> PreviouslyBySelf with
// the newest own-handle entry's context; none by `handle` -> ByOther with no context.
// Scanning newest first gives the same answer in one pass without copying.
#include "redirect/history.h"

namespace openwfp::redirect {

StateResult queryState(const History* history, uint64_t redirectHandle) {
  StateResult result;
  if (history == nullptr) return result;
  bool sawAny = false;
  history->visitNewestFirst([&](const Entry& e) {
    const bool mine = redirectHandle != 0 && e.redirectHandle == redirectHandle;
    if (!sawAny) {  // the newest entry
      sawAny = true;
      if (mine) {
        result = {RedirectState::BySelf, e.context};
        return false;
      }
      result = {RedirectState::ByOther, nullptr};
      return true;
    }
    if (mine) {
      result = {RedirectState::PreviouslyBySelf, e.context};
      return false;
    }
    return true;
  });
  return result;
}

}  // namespace openwfp::redirect
