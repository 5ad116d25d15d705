#pragma once

// One operation at a time, in arrival order, inside one actor (STYLE.md rule
// 7: serialize per resource inside an actor, not with mutexes). An operation
// is a function that starts asynchronous work (requests to other actors) and
// calls finish() exactly once when that work is done, on success and on error.
// Only ever used from the owning actor's handlers, so it needs no lock.

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>

namespace olocal {

class serial_queue {
public:
  /// Queues `op`; runs it now when nothing else is running.
  void push(std::function<void()> op) {
    ops_.push_back(std::move(op));
    pump();
  }

  /// Ends the running operation and starts the next one.
  void finish() {
    busy_ = false;
    pump();
  }

  bool busy() const { return busy_; }
  /// Operations waiting behind the running one.
  size_t waiting() const { return ops_.size(); }

private:
  void pump() {
    if (busy_ || ops_.empty())
      return;
    busy_ = true;
    auto op = std::move(ops_.front());
    ops_.pop_front();
    op();
  }

  std::deque<std::function<void()>> ops_;
  bool busy_ = false;
};

/// One serial_queue per key (a volume name), made on first use and dropped
/// when idle, inside one actor's state.
using keyed_queues = std::map<std::string, serial_queue>;

/// Runs `op(rp, done)` in `self` when every earlier operation queued under
/// `key` has finished: `rp` is the promise the handler answers with (returned
/// here), `done` ends the operation and lets the next one for the key start.
/// `queues` must live in `self`'s state.
template <class T, class Self, class Op>
auto serialized(Self* self, keyed_queues& queues, const std::string& key, Op op) {
  auto rp = self->template make_response_promise<T>();
  auto* all = &queues;
  queues[key].push([all, key, op, rp]() mutable {
    op(rp, std::function<void()>{[all, key] {
         auto it = all->find(key);
         if (it == all->end())
           return;
         it->second.finish();
         if (!it->second.busy() && it->second.waiting() == 0)
           all->erase(it);
       }});
  });
  return rp;
}

} // namespace olocal
