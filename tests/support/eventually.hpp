#pragma once

// Bounded polling for tests that run real threads (a real actor system, an
// HTTP server): waits for an outcome, never for a duration. The limit only
// turns a hang into a failure; nothing is asserted about how long it took.

#include <chrono>
#include <thread>

namespace olocal::test {

/// Polls `pred` every 10 ms until it holds (true) or `limit` passes (false).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds{20}) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return pred();
}

} // namespace olocal::test
