#include "actors/cluster/volume_router.hpp"

#include "actors/cluster/volume_manager.hpp"
#include "actors/cluster/volume_params.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/json.hpp"
#include "actors/core/serial_queue.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace olocal {

namespace {

struct node_entry {
  std::string address;          ///< "" = known, not reachable
  volume_manager_actor manager; ///< made on first use
};

struct router_state {
  router_setup setup;
  std::map<std::string, node_entry> nodes;    ///< by name (so: sorted)
  std::map<std::string, std::string> located; ///< volume or snapshot id -> node
  keyed_queues by_name;                       ///< per-id serialization
  std::string last_error;
  uint64_t advice_failures = 0; ///< placement advice unavailable: the node chose
  static inline const char* name = "volume-router";

  router_state() = default;
  router_state(const router_state&) = delete;
  router_state& operator=(const router_state&) = delete;

  /// The router owns the managers it made: they end with it.
  ~router_state() {
    for (auto& entry : nodes)
      if (entry.second.manager)
        caf::anon_send_exit(entry.second.manager, caf::exit_reason::user_shutdown);
    if (setup.advisor)
      caf::anon_send_exit(setup.advisor, caf::exit_reason::user_shutdown);
  }
};

using router_pointer = volume_router_actor::stateful_pointer<router_state>;

/// Failures of individual nodes, in the order they arrived.
using node_failures = std::vector<std::pair<std::string, caf::error>>;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (auto& item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string describe(const node_failures& failures) {
  std::string out;
  for (auto& [node, err] : failures)
    out += (out.empty() ? "" : "; ") + node + " (" + render(err) + ")";
  return out;
}

/// A node's failure as the router reports it: our own errors as they are,
/// CAF's request timeout as timeout, anything else (the manager is gone) as
/// unavailable; the last two name the node.
caf::error node_error(const std::string& node, const caf::error& err) {
  if (is_olocal(err))
    return err;
  if (code_of(err) == errc::timeout)
    return make_error(errc::timeout, "node " + node + " did not answer in time");
  return make_error(errc::unavailable, "node " + node + " is unreachable: " + render(err));
}

/// The answer when an object was found nowhere but some nodes did not answer.
caf::error unreachable_error(const std::string& what, const node_failures& failures) {
  return make_error(errc::unavailable,
                    what +
                      " is on none of the nodes that answered; unreachable: " + describe(failures));
}

/// The answer when a listing or a sum misses nodes: the code of the failures
/// when they agree, else unavailable; every failing node is named.
caf::error combined_error(const std::string& what, const node_failures& failures) {
  auto code = code_of(failures.front().second);
  for (auto& f : failures)
    if (code_of(f.second) != code)
      code = errc::unavailable;
  return make_error(code, what + ": " + describe(failures));
}

/// The manager of `node`, made on first use.
caf::expected<volume_manager_actor> manager_for(router_pointer self, const std::string& node) {
  auto& st = self->state;
  auto it = st.nodes.find(node);
  if (it == st.nodes.end())
    return make_error(errc::unavailable, "node " + node + " is not known");
  if (it->second.address.empty())
    return make_error(errc::unavailable, "node " + node + " has no address");
  if (!it->second.manager) {
    it->second.manager = st.setup.make_manager(self->system(), node, it->second.address);
    if (!it->second.manager)
      return make_error(errc::unavailable, "no volume manager for node " + node);
  }
  return it->second.manager;
}

/// Sends `req` to the manager of `node`: `ok(T&)` with the answer, or
/// `fail(caf::error)` with node_error of the failure.
template <class T, class Req, class Ok, class Fail>
void ask(router_pointer self, const std::string& node, Req req, Ok ok, Fail fail) {
  auto manager = manager_for(self, node);
  if (!manager) {
    fail(manager.error());
    return;
  }
  self->request(*manager, self->state.setup.timeout, std::move(req))
    .then([ok](T& x) mutable { ok(x); },
          [fail, node](caf::error& err) mutable { fail(node_error(node, err)); });
}

std::vector<std::string> known_nodes(const router_state& st) {
  std::vector<std::string> out;
  for (auto& entry : st.nodes)
    out.push_back(entry.first);
  return out;
}

/// The node `id` was last seen on, if it is still known.
std::optional<std::string> remembered(router_state& st, const std::string& id) {
  auto it = st.located.find(id);
  if (it == st.located.end())
    return std::nullopt;
  if (st.nodes.count(it->second) == 0) {
    st.located.erase(it);
    return std::nullopt;
  }
  return it->second;
}

/// Asks every node in `nodes` (the request made by `make(node)`) and calls
/// `done(answers, failures)` once all have answered.
template <class T, class Make, class Done>
void gather(router_pointer self, const std::vector<std::string>& nodes, Make make, Done done) {
  struct fan {
    size_t pending;
    std::vector<std::pair<std::string, T>> answers;
    node_failures failures;
    Done done;
  };
  auto f = std::make_shared<fan>(fan{nodes.size(), {}, {}, std::move(done)});
  if (nodes.empty()) {
    f->done(f->answers, f->failures);
    return;
  }
  auto one_done = [f] {
    if (--f->pending == 0)
      f->done(f->answers, f->failures);
  };
  for (auto& node : nodes)
    ask<T>(
      self, node, make(node),
      [f, node, one_done](T& x) {
        f->answers.emplace_back(node, std::move(x));
        one_done();
      },
      [f, node, one_done](caf::error err) {
        f->failures.emplace_back(node, std::move(err));
        one_done();
      });
}

/// Asks every known node `req`; the first answer that `is_hit` settles it:
/// `found(node, answer)`. When none does, `missing(failures)` once all have
/// answered (not_found is a miss, not a failure).
template <class T, class Req, class IsHit, class Found, class Missing>
void probe_all(router_pointer self, Req req, IsHit is_hit, Found found, Missing missing) {
  struct probe {
    size_t pending;
    bool settled = false;
    node_failures failures;
    Found found;
    Missing missing;
  };
  auto nodes = known_nodes(self->state);
  auto p =
    std::make_shared<probe>(probe{nodes.size(), false, {}, std::move(found), std::move(missing)});
  if (nodes.empty()) {
    p->missing(p->failures);
    return;
  }
  auto one_done = [p] {
    if (--p->pending == 0 && !p->settled)
      p->missing(p->failures);
  };
  for (auto& node : nodes)
    ask<T>(
      self, node, req,
      [p, node, is_hit, one_done](T& x) {
        if (!p->settled && is_hit(x)) {
          p->settled = true;
          p->found(node, x);
        }
        one_done();
      },
      [p, node, one_done](caf::error err) {
        if (code_of(err) != errc::not_found)
          p->failures.emplace_back(node, std::move(err));
        one_done();
      });
}

/// Continues with `found(node, record)` on the node holding volume `id`
/// (record: its answer to the search, nullopt when the node was
/// remembered), or `missing(failures)` when no node has it.
template <class Found, class Missing>
void find_volume(router_pointer self, const std::string& id, Found found, Missing missing) {
  if (auto node = remembered(self->state, id)) {
    found(*node, std::optional<volume_record>{});
    return;
  }
  probe_all<volume_record>(
    self, volume_query{id}, [](const volume_record&) { return true; },
    [self, id, found](const std::string& node, volume_record& rec) mutable {
      self->state.located[id] = node;
      found(node, std::optional<volume_record>{std::move(rec)});
    },
    std::move(missing));
}

/// Continues with `found(node)` on the node holding snapshot `id`, or
/// `missing(failures)` when no node has it.
template <class Found, class Missing>
void find_snapshot(router_pointer self, const std::string& id, Found found, Missing missing) {
  if (auto node = remembered(self->state, id)) {
    found(*node);
    return;
  }
  list_snapshots_req query;
  query.snapshot_id = id;
  probe_all<snapshot_page>(
    self, query, [](const snapshot_page& page) { return !page.entries.empty(); },
    [self, id, found](const std::string& node, snapshot_page&) mutable {
      self->state.located[id] = node;
      found(node);
    },
    std::move(missing));
}

/// Runs `op(rp, done)` when every earlier request for `id` has finished (as
/// the volume manager's for_name).
template <class T, class Op>
caf::typed_response_promise<T> for_id(router_pointer self, const std::string& id, Op op) {
  return serialized<T>(self, self->state.by_name, id, std::move(op));
}

/// Answers `err` (remembered as the last error) and ends the operation.
template <class T>
auto failure(router_pointer self, caf::typed_response_promise<T> rp, std::function<void()> done) {
  return [self, rp, done](const caf::error& err) mutable {
    self->state.last_error = render(err);
    rp.deliver(err);
    done();
  };
}

/// Answers `err` (remembered as the last error) outside a per-id operation.
template <class T>
void deliver_error(router_pointer self, caf::typed_response_promise<T>& rp, const caf::error& err) {
  self->state.last_error = render(err);
  rp.deliver(err);
}

/// Answers one page of `all` (sorted by id here), or aborted for a bad token.
template <class Page, class Entry>
void deliver_page(caf::typed_response_promise<Page>& rp, std::vector<Entry> all,
                  uint32_t max_entries, const std::string& token) {
  auto page = make_page<Page>(std::move(all), max_entries, token);
  if (!page)
    rp.deliver(page.error());
  else
    rp.deliver(std::move(*page));
}

// -- CreateVolume ---------------------------------------------------------------------

/// Tries candidates[i], then the next ones while nodes answer resource_exhausted.
void try_candidate(router_pointer self, provision_req req, std::string id,
                   std::shared_ptr<const std::vector<std::string>> candidates, size_t i,
                   std::string exhausted, caf::typed_response_promise<volume_record> rp,
                   std::function<void()> done, std::string advised_vg = {}) {
  auto fail = failure(self, rp, done);
  if (i == candidates->size()) {
    fail(make_error(errc::resource_exhausted,
                    "no acceptable node can hold volume " + req.name + ": " + exhausted));
    return;
  }
  auto node = (*candidates)[i];
  auto forwarded = req;
  forwarded.nodes = {node};
  if (i == 0 && !advised_vg.empty())
    forwarded.params["vgName"] = advised_vg; // where the scheduler charged it
  ask<volume_record>(
    self, node, std::move(forwarded),
    [self, id, node, rp, done](volume_record& rec) mutable {
      auto& st = self->state;
      auto at = !rec.node.empty() && st.nodes.count(rec.node) != 0 ? rec.node : node;
      st.located[rec.id.empty() ? id : rec.id] = at;
      rp.deliver(std::move(rec));
      done();
    },
    [self, req, id, candidates, i, exhausted, node, rp, done, fail](caf::error err) mutable {
      if (code_of(err) != errc::resource_exhausted) {
        fail(err);
        return;
      }
      exhausted += (exhausted.empty() ? "" : "; ") + node + ": " + message_of(err);
      try_candidate(self, std::move(req), std::move(id), std::move(candidates), i + 1,
                    std::move(exhausted), rp, std::move(done));
    });
}

/// The placement query for a new volume, when the scheduler's advice
/// applies: an advisor is set, the volume is LVM without a vgName, and the
/// parameters name its PVC.
std::optional<placement_query> advice_for(const router_state& st, const provision_req& req,
                                          const std::string& node) {
  if (!st.setup.advisor)
    return std::nullopt;
  auto param = [&](const char* key) {
    auto it = req.params.find(key);
    return it == req.params.end() ? std::string{} : it->second;
  };
  auto type = param("volumeType");
  if ((!type.empty() && type != "LVM") || !param("vgName").empty())
    return std::nullopt;
  placement_query q{param("csi.storage.k8s.io/pvc/namespace"), param("csi.storage.k8s.io/pvc/name"),
                    node};
  if (q.pvc_namespace.empty() || q.pvc_name.empty())
    return std::nullopt;
  return q;
}

/// A clone or restore is a copy on the node that holds its source (local
/// storage): found there, it goes there, if the requirements allow it.
void provision_from_source(router_pointer self, provision_req req, std::string id,
                           caf::typed_response_promise<volume_record> rp,
                           std::function<void()> done) {
  auto fail = failure(self, rp, done);
  bool from_snapshot = !req.source_snapshot.empty();
  auto source = from_snapshot ? req.source_snapshot : req.source_volume;
  auto what = std::string{from_snapshot ? "source snapshot " : "source volume "} + source;
  auto place = [self, req, id, what, rp, done, fail](const std::string& node) mutable {
    if (!req.nodes.empty() &&
        std::find(req.nodes.begin(), req.nodes.end(), node) == req.nodes.end())
      return fail(make_error(errc::resource_exhausted,
                             what + " is on node " + node +
                               ", which the accessibility requirements exclude (" +
                               join(req.nodes) + "): a copy is made on its source's node"));
    auto only = std::make_shared<const std::vector<std::string>>(std::vector<std::string>{node});
    try_candidate(self, std::move(req), std::move(id), std::move(only), 0, {}, rp, std::move(done));
  };
  auto missing = [what, fail](const node_failures& failures) mutable {
    if (!failures.empty())
      return fail(unreachable_error(what, failures));
    fail(make_error(errc::not_found, what + " does not exist"));
  };
  if (from_snapshot)
    find_snapshot(self, source, place, missing);
  else
    find_volume(
      self, source,
      [place](const std::string& node, const std::optional<volume_record>&) mutable {
        place(node);
      },
      missing);
}

void provision(router_pointer self, provision_req req, std::string id,
               caf::typed_response_promise<volume_record> rp, std::function<void()> done) {
  auto& st = self->state;
  auto fail = failure(self, rp, done);
  if (!remembered(st, id) && (!req.source_snapshot.empty() || !req.source_volume.empty()))
    return provision_from_source(self, std::move(req), std::move(id), rp, std::move(done));
  std::vector<std::string> candidates;
  if (auto node = remembered(st, id)) {
    candidates.push_back(*node); // a repeat goes where the first one went
  } else {
    if (st.nodes.empty()) {
      fail(make_error(errc::unavailable, "no node is known yet"));
      return;
    }
    // Nodes without an address cannot have received an earlier attempt, so
    // skipping them cannot place a volume twice.
    std::vector<std::string> addressless;
    auto consider = [&](const std::string& node) {
      auto it = st.nodes.find(node);
      if (it == st.nodes.end())
        return;
      if (std::find(candidates.begin(), candidates.end(), node) != candidates.end() ||
          std::find(addressless.begin(), addressless.end(), node) != addressless.end())
        return;
      (it->second.address.empty() ? addressless : candidates).push_back(node);
    };
    if (req.nodes.empty())
      for (auto& entry : st.nodes)
        consider(entry.first);
    else
      for (auto& node : req.nodes)
        consider(node);
    if (candidates.empty()) {
      if (!addressless.empty())
        fail(make_error(errc::unavailable,
                        "no acceptable node is reachable (no address: " + join(addressless) + ")"));
      else
        fail(make_error(errc::resource_exhausted, "no known node among " + join(req.nodes)));
      return;
    }
  }
  auto shared = std::make_shared<const std::vector<std::string>>(std::move(candidates));
  auto query = advice_for(st, req, shared->front());
  if (!query) {
    try_candidate(self, std::move(req), std::move(id), std::move(shared), 0, {}, rp,
                  std::move(done));
    return;
  }
  // Ask where the scheduler reserved the volume; without an answer the node
  // chooses (never a failure of the create itself).
  auto advisor = st.setup.advisor;
  self->request(advisor, st.setup.advice_timeout, *query)
    .then(
      [self, req, id, shared, rp, done](placement_answer& answer) mutable {
        auto vg =
          answer.node == shared->front() && answer.volume_type == "LVM" ? answer.vg : std::string{};
        try_candidate(self, std::move(req), std::move(id), std::move(shared), 0, {}, rp,
                      std::move(done), std::move(vg));
      },
      [self, req, id, shared, rp, done](caf::error& err) mutable {
        ++self->state.advice_failures;
        self->state.last_error = "placement advice for " + req.name + ": " + render(err);
        try_candidate(self, std::move(req), std::move(id), std::move(shared), 0, {}, rp,
                      std::move(done));
      });
}

// -- requests on an existing volume or snapshot ------------------------------------------

/// Asks `node` to remove `id` with `req` (DeleteVolume, DeleteSnapshot):
/// its answer, or false when the node no longer has it (idempotent).
template <class Req>
void remove_on(router_pointer self, const std::string& node, std::string id, Req req,
               caf::typed_response_promise<bool> rp, std::function<void()> done) {
  auto fail = failure(self, rp, done);
  ask<bool>(
    self, node, std::move(req),
    [self, id, rp, done](bool removed) mutable {
      self->state.located.erase(id);
      rp.deliver(removed);
      done();
    },
    [self, id, rp, done, fail](caf::error err) mutable {
      if (code_of(err) != errc::not_found)
        return fail(err);
      self->state.located.erase(id);
      rp.deliver(false);
      done();
    });
}

/// Nothing was found: false (removal is idempotent) when every node
/// answered, unavailable naming the silent nodes otherwise.
auto removed_nowhere(std::string what, caf::typed_response_promise<bool> rp,
                     std::function<void()> done, std::function<void(const caf::error&)> fail) {
  return [what, rp, done, fail](const node_failures& failures) mutable {
    if (!failures.empty())
      return fail(unreachable_error(what, failures));
    rp.deliver(false);
    done();
  };
}

void unprovision(router_pointer self, std::string id, caf::typed_response_promise<bool> rp,
                 std::function<void()> done) {
  find_volume(
    self, id,
    [self, id, rp, done](const std::string& node, std::optional<volume_record>) mutable {
      remove_on(self, node, id, unprovision_req{id}, rp, done);
    },
    removed_nowhere("volume " + id, rp, done, failure(self, rp, done)));
}

void resize(router_pointer self, resize_req req, caf::typed_response_promise<volume_record> rp,
            std::function<void()> done) {
  auto fail = failure(self, rp, done);
  auto id = req.id;
  find_volume(
    self, id,
    [self, req, id, rp, done, fail](const std::string& node, std::optional<volume_record>) mutable {
      ask<volume_record>(
        self, node, req,
        [rp, done](volume_record& rec) mutable {
          rp.deliver(std::move(rec));
          done();
        },
        [self, id, fail](caf::error err) mutable {
          if (code_of(err) == errc::not_found)
            self->state.located.erase(id);
          fail(err);
        });
    },
    [id, fail](const node_failures& failures) mutable {
      if (!failures.empty())
        return fail(unreachable_error("volume " + id, failures));
      fail(make_error(errc::not_found, "volume " + id + " does not exist"));
    });
}

void snapshot(router_pointer self, snapshot_req req,
              caf::typed_response_promise<snapshot_record> rp, std::function<void()> done) {
  auto fail = failure(self, rp, done);
  auto source = req.source_volume;
  find_volume(
    self, source,
    [self, req, source, rp, done, fail](const std::string& node,
                                        std::optional<volume_record>) mutable {
      ask<snapshot_record>(
        self, node, req,
        [self, node, rp, done](snapshot_record& rec) mutable {
          self->state.located[rec.id] = node;
          rp.deliver(std::move(rec));
          done();
        },
        [self, source, fail](caf::error err) mutable {
          if (code_of(err) == errc::not_found)
            self->state.located.erase(source);
          fail(err);
        });
    },
    [source, fail](const node_failures& failures) mutable {
      if (!failures.empty())
        return fail(unreachable_error("source volume " + source, failures));
      fail(make_error(errc::not_found, "source volume " + source + " does not exist"));
    });
}

void delete_snapshot(router_pointer self, std::string id, caf::typed_response_promise<bool> rp,
                     std::function<void()> done) {
  find_snapshot(
    self, id,
    [self, id, rp, done](const std::string& node) mutable {
      remove_on(self, node, id, delete_snapshot_req{id}, rp, done);
    },
    removed_nowhere("snapshot " + id, rp, done, failure(self, rp, done)));
}

void query(router_pointer self, std::string id, caf::typed_response_promise<volume_record> rp) {
  find_volume(
    self, id,
    [self, id, rp](const std::string& node, std::optional<volume_record> found) mutable {
      if (found) {
        rp.deliver(std::move(*found));
        return;
      }
      ask<volume_record>(
        self, node, volume_query{id}, [rp](volume_record& rec) mutable { rp.deliver(rec); },
        [self, id, rp](caf::error err) mutable {
          if (code_of(err) == errc::not_found)
            self->state.located.erase(id);
          deliver_error(self, rp, err);
        });
    },
    [self, id, rp](const node_failures& failures) mutable {
      if (!failures.empty())
        return deliver_error(self, rp, unreachable_error("volume " + id, failures));
      rp.deliver(make_error(errc::not_found, "volume " + id + " does not exist"));
    });
}

// -- listings and capacity -----------------------------------------------------------------

/// ListSnapshots with a filter: forwarded whole to the node that has the
/// snapshot (or the source volume); an empty page when none has it.
void list_filtered_snapshots(router_pointer self, list_snapshots_req req,
                             caf::typed_response_promise<snapshot_page> rp) {
  auto forward = [self, req, rp](const std::string& node) mutable {
    ask<snapshot_page>(
      self, node, req,
      [self, req, rp](snapshot_page& page) mutable {
        if (page.entries.empty() && !req.snapshot_id.empty())
          self->state.located.erase(req.snapshot_id);
        rp.deliver(std::move(page));
      },
      [self, rp](caf::error err) mutable { deliver_error(self, rp, err); });
  };
  auto what =
    req.snapshot_id.empty() ? "volume " + req.source_volume : "snapshot " + req.snapshot_id;
  auto missing = [self, req, what, rp](const node_failures& failures) mutable {
    if (!failures.empty())
      return deliver_error(self, rp, unreachable_error(what, failures));
    // CSI: no match is an empty listing, not an error.
    deliver_page(rp, std::vector<snapshot_record>{}, req.max_entries, req.starting_token);
  };
  if (!req.snapshot_id.empty())
    find_snapshot(self, req.snapshot_id, forward, missing);
  else
    find_volume(
      self, req.source_volume,
      [forward](const std::string& node, std::optional<volume_record>) mutable { forward(node); },
      missing);
}

void list_all_snapshots(router_pointer self, list_snapshots_req req,
                        caf::typed_response_promise<snapshot_page> rp) {
  gather<snapshot_page>(
    self, known_nodes(self->state), [](const std::string&) { return list_snapshots_req{}; },
    [self, req, rp](std::vector<std::pair<std::string, snapshot_page>>& answers,
                    node_failures& failures) mutable {
      if (!failures.empty())
        return deliver_error(self, rp, combined_error("cannot list every node", failures));
      std::vector<snapshot_record> all;
      for (auto& [node, page] : answers)
        for (auto& rec : page.entries) {
          self->state.located[rec.id] = node;
          all.push_back(std::move(rec));
        }
      deliver_page(rp, std::move(all), req.max_entries, req.starting_token);
    });
}

void list_volumes(router_pointer self, list_volumes_req req,
                  caf::typed_response_promise<volume_page> rp) {
  gather<volume_page>(
    self, known_nodes(self->state), [](const std::string&) { return list_volumes_req{}; },
    [self, req, rp](std::vector<std::pair<std::string, volume_page>>& answers,
                    node_failures& failures) mutable {
      if (!failures.empty())
        return deliver_error(self, rp, combined_error("cannot list every node", failures));
      std::vector<volume_record> all;
      for (auto& [node, page] : answers)
        for (auto& rec : page.entries) {
          self->state.located[rec.id] = node;
          all.push_back(std::move(rec));
        }
      deliver_page(rp, std::move(all), req.max_entries, req.starting_token);
    });
}

void capacity(router_pointer self, capacity_req req, caf::typed_response_promise<uint64_t> rp) {
  auto& st = self->state;
  std::vector<std::string> nodes;
  if (req.nodes.empty())
    nodes = known_nodes(st);
  else
    for (auto& node : req.nodes) // unknown nodes have nothing to offer
      if (st.nodes.count(node) != 0 && std::find(nodes.begin(), nodes.end(), node) == nodes.end())
        nodes.push_back(node);
  if (nodes.empty()) {
    rp.deliver(uint64_t{0});
    return;
  }
  gather<uint64_t>(
    self, nodes,
    [req](const std::string& node) {
      auto one = req;
      one.nodes = {node};
      return one;
    },
    [self, rp](std::vector<std::pair<std::string, uint64_t>>& answers,
               node_failures& failures) mutable {
      if (answers.empty())
        return deliver_error(self, rp, combined_error("no node answered", failures));
      uint64_t most = 0;
      for (auto& answer : answers)
        most = std::max(most, answer.second);
      rp.deliver(most);
    });
}

// -- membership and inspection ---------------------------------------------------------------

std::string state_json(const router_state& st) {
  std::string nodes;
  for (auto& [name, entry] : st.nodes)
    nodes += std::string{nodes.empty() ? "" : ","} + "{\"name\":" + json_quote(name) +
             ",\"address\":" + json_quote(entry.address) +
             ",\"manager\":" + (entry.manager ? "true" : "false") + "}";
  return "{\"nodes\":[" + nodes + "],\"located\":" + std::to_string(st.located.size()) +
         ",\"namesInFlight\":" + std::to_string(st.by_name.size()) +
         ",\"adviceFailures\":" + std::to_string(st.advice_failures) + "}";
}

void forget_manager(router_pointer self, node_entry& entry) {
  if (entry.manager)
    self->send_exit(entry.manager, caf::exit_reason::user_shutdown);
  entry.manager = volume_manager_actor{};
}

volume_router_actor::behavior_type router_impl(router_pointer self, router_setup setup) {
  self->state.setup = std::move(setup);
  return {
    [self](provision_req& req) -> caf::result<volume_record> {
      if (req.name.empty())
        return make_error(errc::invalid_argument, "name is missing");
      auto id = lv_name_for(req.name);
      return for_id<volume_record>(
        self, id, [self, req, id](auto rp, std::function<void()> done) mutable {
          provision(self, std::move(req), std::move(id), rp, std::move(done));
        });
    },
    [self](unprovision_req& req) -> caf::result<bool> {
      if (req.id.empty())
        return make_error(errc::invalid_argument, "volume_id is missing");
      return for_id<bool>(self, req.id, [self, id = req.id](auto rp, std::function<void()> done) {
        unprovision(self, id, rp, std::move(done));
      });
    },
    [self](resize_req& req) -> caf::result<volume_record> {
      if (req.id.empty())
        return make_error(errc::invalid_argument, "volume_id is missing");
      return for_id<volume_record>(self, req.id, [self, req](auto rp, std::function<void()> done) {
        resize(self, req, rp, std::move(done));
      });
    },
    [self](snapshot_req& req) -> caf::result<snapshot_record> {
      if (req.name.empty())
        return make_error(errc::invalid_argument, "name is missing");
      if (req.source_volume.empty())
        return make_error(errc::invalid_argument, "source_volume_id is missing");
      return for_id<snapshot_record>(self, lv_name_for(req.name),
                                     [self, req](auto rp, std::function<void()> done) {
                                       snapshot(self, req, rp, std::move(done));
                                     });
    },
    [self](delete_snapshot_req& req) -> caf::result<bool> {
      if (req.id.empty())
        return make_error(errc::invalid_argument, "snapshot_id is missing");
      return for_id<bool>(self, req.id, [self, id = req.id](auto rp, std::function<void()> done) {
        delete_snapshot(self, id, rp, std::move(done));
      });
    },
    [self](list_snapshots_req& req) -> caf::result<snapshot_page> {
      auto rp = self->make_response_promise<snapshot_page>();
      if (!req.snapshot_id.empty() || !req.source_volume.empty())
        list_filtered_snapshots(self, std::move(req), rp);
      else
        list_all_snapshots(self, std::move(req), rp);
      return rp;
    },
    [self](list_volumes_req& req) -> caf::result<volume_page> {
      auto rp = self->make_response_promise<volume_page>();
      list_volumes(self, std::move(req), rp);
      return rp;
    },
    [self](capacity_req& req) -> caf::result<uint64_t> {
      auto rp = self->make_response_promise<uint64_t>();
      capacity(self, std::move(req), rp);
      return rp;
    },
    [self](volume_query& req) -> caf::result<volume_record> {
      if (req.id.empty())
        return make_error(errc::invalid_argument, "volume_id is missing");
      auto rp = self->make_response_promise<volume_record>();
      query(self, std::move(req.id), rp);
      return rp;
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return make_report(self,
                         std::to_string(st.nodes.size()) + " nodes, " +
                           std::to_string(st.located.size()) + " located ids, " +
                           std::to_string(st.by_name.size()) + " names in flight",
                         st.last_error, state_json(st));
    },
    [self](node_upsert& req) -> caf::result<bool> {
      if (req.name.empty())
        return make_error(errc::invalid_argument, "node name is missing");
      auto& st = self->state;
      auto it = st.nodes.find(req.name);
      if (it == st.nodes.end()) {
        st.nodes.emplace(req.name, node_entry{req.address, {}});
        return true;
      }
      if (it->second.address == req.address)
        return false;
      forget_manager(self, it->second); // the next request makes a new one
      it->second.address = req.address;
      return true;
    },
    [self](node_remove& req) -> caf::result<bool> {
      auto& st = self->state;
      auto it = st.nodes.find(req.name);
      if (it == st.nodes.end())
        return false;
      forget_manager(self, it->second);
      st.nodes.erase(it);
      for (auto loc = st.located.begin(); loc != st.located.end();)
        loc = loc->second == req.name ? st.located.erase(loc) : std::next(loc);
      return true;
    },
  };
}

} // namespace

volume_router_actor spawn_volume_router(caf::actor_system& sys, router_setup setup) {
  return sys.spawn(router_impl, std::move(setup));
}

} // namespace olocal
