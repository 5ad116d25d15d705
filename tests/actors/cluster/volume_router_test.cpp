#include "actors/cluster/volume_router.hpp"

#include "actors/cluster/volume_manager.hpp"
#include "actors/cluster/volume_params.hpp"
#include "actors/core/errc.hpp"
#include "tests/support/actor_fixture.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>

using namespace olocal;

namespace {

constexpr uint64_t gib = 1ull << 30;

/// What one node has, shared by the test and the node's stub manager.
struct node_model {
  std::string name;
  uint64_t free_bytes = 100 * gib;
  std::map<std::string, volume_record> volumes;
  std::map<std::string, snapshot_record> snapshots;
  bool down = false;                ///< every request answers unavailable
  std::optional<errc> create_error; ///< provision answers this
  int provisions = 0;               ///< provision requests that arrived
  int queries = 0;                  ///< volume_query requests that arrived
  int exits = 0;                    ///< the stub ended
  std::vector<std::string> last_nodes;
  param_map last_params;

  void add_volume(const std::string& id, uint64_t bytes = gib) {
    volumes[id] = volume_record{id, bytes, name, "vg0", {}, {}, {}, false, {}, {}};
  }
  void add_snapshot(const std::string& id, const std::string& source) {
    snapshots[id] = snapshot_record{id, source, gib, 0, true, name, "vg0"};
  }
};

template <class Page, class Entry>
caf::result<Page> page_of(std::vector<Entry> all, uint32_t max_entries, const std::string& token) {
  auto range = page_range(all.size(), max_entries, token);
  if (!range)
    return range.error();
  Page page;
  page.entries.assign(all.begin() + static_cast<ptrdiff_t>(range->first),
                      all.begin() + static_cast<ptrdiff_t>(range->second));
  if (range->second < all.size())
    page.next_token = std::to_string(range->second);
  return page;
}

/// A per-node volume manager over a node_model, answering as the real one does.
volume_manager_actor::behavior_type stub_manager(volume_manager_actor::pointer self,
                                                 std::shared_ptr<node_model> m) {
  self->attach_functor([m](const caf::error&) { ++m->exits; });
  auto down = [m] { return make_error(errc::unavailable, "node " + m->name + " is down"); };
  return {
    [m, down](provision_req& req) -> caf::result<volume_record> {
      ++m->provisions;
      m->last_nodes = req.nodes;
      m->last_params = req.params;
      if (m->down)
        return down();
      if (!req.nodes.empty() &&
          std::find(req.nodes.begin(), req.nodes.end(), m->name) == req.nodes.end())
        return make_error(errc::resource_exhausted, "requirements exclude " + m->name);
      auto id = lv_name_for(req.name);
      if (auto it = m->volumes.find(id); it != m->volumes.end())
        return it->second;
      if (m->create_error)
        return make_error(*m->create_error, "refused by " + m->name);
      auto bytes = req.required_bytes == 0 ? gib : req.required_bytes;
      if (bytes > m->free_bytes)
        return make_error(errc::resource_exhausted, m->name + " has too little free");
      m->free_bytes -= bytes;
      m->add_volume(id, bytes);
      return m->volumes[id];
    },
    [m, down](unprovision_req& req) -> caf::result<bool> {
      if (m->down)
        return down();
      auto it = m->volumes.find(req.id);
      if (it == m->volumes.end())
        return false;
      m->free_bytes += it->second.capacity_bytes;
      m->volumes.erase(it);
      return true;
    },
    [m, down](resize_req& req) -> caf::result<volume_record> {
      if (m->down)
        return down();
      auto it = m->volumes.find(req.id);
      if (it == m->volumes.end())
        return make_error(errc::not_found, "volume " + req.id + " does not exist");
      it->second.capacity_bytes = req.required_bytes;
      return it->second;
    },
    [m, down](snapshot_req& req) -> caf::result<snapshot_record> {
      if (m->down)
        return down();
      if (m->volumes.count(req.source_volume) == 0)
        return make_error(errc::not_found, "volume " + req.source_volume + " does not exist");
      auto id = lv_name_for(req.name);
      if (m->snapshots.count(id) == 0)
        m->add_snapshot(id, req.source_volume);
      return m->snapshots[id];
    },
    [m, down](delete_snapshot_req& req) -> caf::result<bool> {
      if (m->down)
        return down();
      return m->snapshots.erase(req.id) > 0;
    },
    [m, down](list_snapshots_req& req) -> caf::result<snapshot_page> {
      if (m->down)
        return down();
      std::vector<snapshot_record> all;
      for (auto& [id, s] : m->snapshots)
        if ((req.snapshot_id.empty() || id == req.snapshot_id) &&
            (req.source_volume.empty() || s.source_volume == req.source_volume))
          all.push_back(s);
      return page_of<snapshot_page>(all, req.max_entries, req.starting_token);
    },
    [m, down](list_volumes_req& req) -> caf::result<volume_page> {
      if (m->down)
        return down();
      std::vector<volume_record> all;
      for (auto& entry : m->volumes)
        all.push_back(entry.second);
      return page_of<volume_page>(all, req.max_entries, req.starting_token);
    },
    [m, down](capacity_req& req) -> caf::result<uint64_t> {
      if (m->down)
        return down();
      if (!req.nodes.empty() &&
          std::find(req.nodes.begin(), req.nodes.end(), m->name) == req.nodes.end())
        return uint64_t{0};
      return m->free_bytes;
    },
    [m, down](volume_query& req) -> caf::result<volume_record> {
      ++m->queries;
      if (m->down)
        return down();
      auto it = m->volumes.find(req.id);
      if (it == m->volumes.end())
        return make_error(errc::not_found, "volume " + req.id + " does not exist");
      return it->second;
    },
    [m](inspect_atom) {
      return actor_report{"stub " + m->name, "", 0, "{}"};
    },
  };
}

provision_req create(std::string name, std::vector<std::string> nodes, uint64_t bytes = gib) {
  provision_req req;
  req.name = std::move(name);
  req.required_bytes = bytes;
  req.nodes = std::move(nodes);
  return req;
}

class volume_router_test : public test::actor_fixture {
public:
  volume_router_test() {
    router_setup setup;
    setup.make_manager = [this](caf::actor_system& system, const std::string& node,
                                const std::string& address) -> volume_manager_actor {
      ++made[node];
      addresses[node] = address;
      auto handle = system.spawn(stub_manager, model(node));
      handles[node] = handle;
      return handle;
    };
    router = spawn_volume_router(sys, setup);
  }

  ~volume_router_test() override {
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
    run();
  }

  std::shared_ptr<node_model>& model(const std::string& node) {
    auto& m = models[node];
    if (!m) {
      m = std::make_shared<node_model>();
      m->name = node;
    }
    return m;
  }

  void add_nodes(std::vector<std::string> nodes) {
    for (auto& node : nodes) {
      model(node);
      auto changed = request<bool>(router, node_upsert{node, node + ":9000"});
      ASSERT_TRUE(changed);
      EXPECT_TRUE(*changed);
    }
  }

  /// Sends a request without running the system (for concurrent requests).
  template <class T, class Msg>
  std::shared_ptr<std::optional<caf::expected<T>>> send_async(Msg msg) {
    auto answer = std::make_shared<std::optional<caf::expected<T>>>();
    auto dest = router;
    sys.spawn([answer, dest, msg](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, msg)
        .then([answer](T& value) { *answer = std::move(value); },
              [answer](caf::error& err) { *answer = caf::expected<T>{std::move(err)}; });
    });
    return answer;
  }

  size_t total_volumes() const {
    size_t n = 0;
    for (auto& entry : models)
      n += entry.second->volumes.size();
    return n;
  }

  std::map<std::string, std::shared_ptr<node_model>> models;
  std::map<std::string, int> made;
  std::map<std::string, std::string> addresses;
  std::map<std::string, volume_manager_actor> handles; ///< the last one made per node
  volume_router_actor router;
};

template <class T>
void expect_error(const caf::expected<T>& x, errc code, const std::string& mentions = {}) {
  ASSERT_FALSE(x) << "expected " << to_string(code);
  EXPECT_EQ(code_of(x.error()), code) << render(x.error());
  if (!mentions.empty()) {
    EXPECT_NE(render(x.error()).find(mentions), std::string::npos) << render(x.error());
  }
}

} // namespace

TEST_F(volume_router_test, places_on_the_preferred_node_first) {
  add_nodes({"a", "b", "c"});
  auto rec = request<volume_record>(router, create("pv-1", {"b", "a"}));
  ASSERT_TRUE(rec) << render(rec.error());
  EXPECT_EQ(rec->node, "b");
  EXPECT_EQ(models["b"]->last_nodes, std::vector<std::string>{"b"}) << "narrowed to the node";
  EXPECT_EQ(models["a"]->provisions, 0);
  auto any = request<volume_record>(router, create("pv-2", {}));
  ASSERT_TRUE(any);
  EXPECT_EQ(any->node, "a") << "no topology: every node, by name";
  EXPECT_EQ(made["b"], 1);
}

TEST_F(volume_router_test, falls_back_only_on_resource_exhausted) {
  add_nodes({"a", "b", "c"});
  models["a"]->free_bytes = gib;
  auto rec = request<volume_record>(router, create("big", {"a", "b"}, 10 * gib));
  ASSERT_TRUE(rec) << render(rec.error());
  EXPECT_EQ(rec->node, "b");
  EXPECT_EQ(models["a"]->provisions, 1);
  auto none = request<volume_record>(router, create("huge", {"a", "c"}, 1000 * gib));
  expect_error(none, errc::resource_exhausted, "c");
  EXPECT_EQ(total_volumes(), 1u);
}

TEST_F(volume_router_test, other_errors_end_the_search) {
  add_nodes({"a", "b"});
  models["a"]->create_error = errc::invalid_argument;
  expect_error(request<volume_record>(router, create("x", {"a", "b"})), errc::invalid_argument);
  models["a"]->create_error.reset();
  models["a"]->down = true;
  expect_error(request<volume_record>(router, create("y", {"a", "b"})), errc::unavailable, "a");
  EXPECT_EQ(models["b"]->provisions, 0);
  EXPECT_EQ(total_volumes(), 0u);
}

TEST_F(volume_router_test, a_repeat_goes_to_the_remembered_node) {
  add_nodes({"a", "b"});
  auto first = request<volume_record>(router, create("pv", {"a", "b"}));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->node, "a");
  auto again = request<volume_record>(router, create("pv", {"b", "a"}));
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->node, "a");
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(models["b"]->provisions, 0);
  EXPECT_EQ(total_volumes(), 1u);
}

TEST_F(volume_router_test, concurrent_creates_of_one_name_land_once) {
  add_nodes({"a", "b"});
  auto one = send_async<volume_record>(create("pv", {"a", "b"}));
  auto two = send_async<volume_record>(create("pv", {"b", "a"}));
  run();
  ASSERT_TRUE(one->has_value() && two->has_value());
  ASSERT_TRUE(**one);
  ASSERT_TRUE(**two);
  EXPECT_EQ((**one)->node, (**two)->node);
  EXPECT_EQ(total_volumes(), 1u);
}

TEST_F(volume_router_test, finds_volumes_by_asking_every_node_and_remembers) {
  add_nodes({"a", "b"});
  models["b"]->add_volume("v1");
  auto rec = request<volume_record>(router, volume_query{"v1"});
  ASSERT_TRUE(rec) << render(rec.error());
  EXPECT_EQ(rec->node, "b");
  EXPECT_EQ(models["a"]->queries, 1);
  auto grown = request<volume_record>(router, resize_req{"v1", 2 * gib, 0});
  ASSERT_TRUE(grown);
  EXPECT_EQ(grown->capacity_bytes, 2 * gib);
  auto again = request<volume_record>(router, volume_query{"v1"});
  ASSERT_TRUE(again);
  EXPECT_EQ(models["a"]->queries, 1) << "remembered: a is not asked again";
  EXPECT_EQ(models["b"]->queries, 2);
  auto removed = request<bool>(router, unprovision_req{"v1"});
  ASSERT_TRUE(removed);
  EXPECT_TRUE(*removed);
  EXPECT_TRUE(models["b"]->volumes.empty());
  auto twice = request<bool>(router, unprovision_req{"v1"});
  ASSERT_TRUE(twice);
  EXPECT_FALSE(*twice) << "idempotent";
  expect_error(request<volume_record>(router, volume_query{"v1"}), errc::not_found);
  expect_error(request<volume_record>(router, resize_req{"v1", 3 * gib, 0}), errc::not_found);
}

TEST_F(volume_router_test, a_remembered_volume_that_vanished_is_forgotten) {
  add_nodes({"a", "b"});
  auto rec = request<volume_record>(router, create("pv", {"a"}));
  ASSERT_TRUE(rec);
  models["a"]->volumes.clear();
  expect_error(request<volume_record>(router, resize_req{rec->id, 2 * gib, 0}), errc::not_found);
  models["b"]->add_volume(rec->id); // only to see where the router looks now
  auto found = request<volume_record>(router, volume_query{rec->id});
  ASSERT_TRUE(found);
  EXPECT_EQ(found->node, "b");
}

TEST_F(volume_router_test, unknown_ids_are_gone_only_when_every_node_answered) {
  add_nodes({"a", "b"});
  auto gone = request<bool>(router, unprovision_req{"nope"});
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
  expect_error(request<volume_record>(router, volume_query{"nope"}), errc::not_found);
  models["b"]->down = true;
  expect_error(request<bool>(router, unprovision_req{"nope"}), errc::unavailable, "b");
  expect_error(request<volume_record>(router, volume_query{"nope"}), errc::unavailable, "b");
  expect_error(request<bool>(router, delete_snapshot_req{"nope"}), errc::unavailable, "b");
  models["a"]->add_volume("v1");
  auto found = request<volume_record>(router, volume_query{"v1"});
  ASSERT_TRUE(found) << "a hit does not need every node";
  EXPECT_EQ(found->node, "a");
}

TEST_F(volume_router_test, snapshots_go_to_the_source_volume_node) {
  add_nodes({"a", "b", "c"});
  models["b"]->add_volume("v1");
  auto snap = request<snapshot_record>(router, snapshot_req{"snap-1", "v1", {}});
  ASSERT_TRUE(snap) << render(snap.error());
  EXPECT_EQ(snap->node, "b");
  EXPECT_EQ(models["b"]->snapshots.count(snap->id), 1u);
  expect_error(request<snapshot_record>(router, snapshot_req{"snap-2", "nope", {}}),
               errc::not_found);
  list_snapshots_req by_source;
  by_source.source_volume = "v1";
  auto listed = request<snapshot_page>(router, by_source);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->entries.size(), 1u);
  EXPECT_EQ(listed->entries[0].id, snap->id);
  auto deleted = request<bool>(router, delete_snapshot_req{snap->id});
  ASSERT_TRUE(deleted);
  EXPECT_TRUE(*deleted);
  EXPECT_TRUE(models["b"]->snapshots.empty());
}

TEST_F(volume_router_test, delete_snapshot_finds_the_node) {
  add_nodes({"a", "b", "c"});
  models["c"]->add_volume("v1");
  models["c"]->add_snapshot("s1", "v1");
  list_snapshots_req by_id;
  by_id.snapshot_id = "s1";
  auto listed = request<snapshot_page>(router, by_id);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->entries.size(), 1u);
  EXPECT_EQ(listed->entries[0].node, "c");
  auto deleted = request<bool>(router, delete_snapshot_req{"s1"});
  ASSERT_TRUE(deleted);
  EXPECT_TRUE(*deleted);
  EXPECT_TRUE(models["c"]->snapshots.empty());
  auto again = request<bool>(router, delete_snapshot_req{"s1"});
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  auto empty = request<snapshot_page>(router, by_id);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->entries.empty());
}

TEST_F(volume_router_test, listings_merge_and_page_across_nodes) {
  add_nodes({"a", "b", "c"});
  models["a"]->add_volume("v1");
  models["a"]->add_volume("v3");
  models["b"]->add_volume("v2");
  models["b"]->add_volume("v4");
  models["c"]->add_volume("v5");
  models["a"]->add_snapshot("s2", "v1");
  models["c"]->add_snapshot("s1", "v5");
  std::vector<std::string> seen;
  std::string token;
  for (int page = 0; page < 3; ++page) {
    auto got = request<volume_page>(router, list_volumes_req{2, token});
    ASSERT_TRUE(got) << render(got.error());
    for (auto& v : got->entries)
      seen.push_back(v.id);
    token = got->next_token;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"v1", "v2", "v3", "v4", "v5"}));
  EXPECT_EQ(token, "");
  expect_error(request<volume_page>(router, list_volumes_req{2, "x"}), errc::aborted);
  auto snaps = request<snapshot_page>(router, list_snapshots_req{});
  ASSERT_TRUE(snaps);
  ASSERT_EQ(snaps->entries.size(), 2u);
  EXPECT_EQ(snaps->entries[0].id, "s1");
  EXPECT_EQ(snaps->entries[1].id, "s2");
  list_snapshots_req bad;
  bad.starting_token = "7";
  expect_error(request<snapshot_page>(router, bad), errc::aborted);
}

TEST_F(volume_router_test, a_listing_with_an_unreachable_node_is_unavailable) {
  add_nodes({"a", "b"});
  models["a"]->add_volume("v1");
  models["b"]->down = true;
  expect_error(request<volume_page>(router, list_volumes_req{}), errc::unavailable, "b");
  expect_error(request<snapshot_page>(router, list_snapshots_req{}), errc::unavailable, "b");
  models["b"]->down = false;
  auto changed = request<bool>(router, node_upsert{"c", ""});
  ASSERT_TRUE(changed);
  expect_error(request<volume_page>(router, list_volumes_req{}), errc::unavailable, "c");
}

TEST_F(volume_router_test, capacity_is_the_largest_of_the_nodes) {
  add_nodes({"a", "b", "c"});
  models["a"]->free_bytes = 5 * gib;
  models["b"]->free_bytes = 10 * gib;
  models["c"]->free_bytes = 7 * gib;
  EXPECT_EQ(*request<uint64_t>(router, capacity_req{{}, {}}), 10 * gib);
  EXPECT_EQ(*request<uint64_t>(router, capacity_req{{}, {"a", "c", "zz"}}), 7 * gib);
  EXPECT_EQ(*request<uint64_t>(router, capacity_req{{}, {"zz"}}), 0u);
  models["b"]->down = true;
  EXPECT_EQ(*request<uint64_t>(router, capacity_req{{}, {}}), 7 * gib) << "b counts 0";
  models["a"]->down = true;
  models["c"]->down = true;
  expect_error(request<uint64_t>(router, capacity_req{{}, {}}), errc::unavailable);
}

TEST_F(volume_router_test, a_new_address_remakes_the_manager) {
  add_nodes({"a"});
  auto rec = request<volume_record>(router, create("pv", {}));
  ASSERT_TRUE(rec);
  EXPECT_EQ(made["a"], 1);
  EXPECT_EQ(*request<bool>(router, node_upsert{"a", "a:9000"}), false);
  EXPECT_EQ(models["a"]->exits, 0);
  EXPECT_EQ(*request<bool>(router, node_upsert{"a", "a2:9000"}), true);
  EXPECT_EQ(models["a"]->exits, 1) << "the old manager was stopped";
  EXPECT_EQ(made["a"], 1) << "made lazily";
  auto found = request<volume_record>(router, volume_query{rec->id});
  ASSERT_TRUE(found);
  EXPECT_EQ(made["a"], 2);
  EXPECT_EQ(addresses["a"], "a2:9000");
  EXPECT_EQ(models["a"]->queries, 1) << "the location survived the address change";
}

TEST_F(volume_router_test, a_removed_node_is_forgotten) {
  add_nodes({"a", "b"});
  auto rec = request<volume_record>(router, create("pv", {"a"}));
  ASSERT_TRUE(rec);
  EXPECT_TRUE(*request<bool>(router, node_remove{"a"}));
  EXPECT_EQ(models["a"]->exits, 1);
  EXPECT_FALSE(*request<bool>(router, node_remove{"a"}));
  expect_error(request<volume_record>(router, volume_query{rec->id}), errc::not_found);
  expect_error(request<volume_record>(router, create("pv2", {"a"})), errc::resource_exhausted,
               "no known node among a");
  auto page = request<volume_page>(router, list_volumes_req{});
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->entries.empty());
}

TEST_F(volume_router_test, nodes_without_an_address_are_skipped_for_placement) {
  add_nodes({"b"});
  ASSERT_TRUE(*request<bool>(router, node_upsert{"a", ""}));
  auto rec = request<volume_record>(router, create("pv", {"a", "b"}));
  ASSERT_TRUE(rec) << render(rec.error());
  EXPECT_EQ(rec->node, "b");
  EXPECT_EQ(made["a"], 0);
  expect_error(request<volume_record>(router, create("pv2", {"a"})), errc::unavailable, "a");
}

TEST_F(volume_router_test, no_known_node_is_unavailable) {
  expect_error(request<volume_record>(router, create("pv", {})), errc::unavailable, "no node");
  expect_error(request<volume_record>(router, create("pv", {"a"})), errc::unavailable);
  EXPECT_EQ(*request<uint64_t>(router, capacity_req{{}, {}}), 0u);
  auto gone = request<bool>(router, unprovision_req{"nope"});
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
  expect_error(request<volume_record>(router, create("", {})), errc::invalid_argument);
}

TEST_F(volume_router_test, works_through_a_volume_manager_handle) {
  add_nodes({"a", "b"});
  volume_manager_actor manager = router; // the CSI gateway's view
  auto rec = request<volume_record>(manager, create("pv", {"b"}));
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->node, "b");
  auto page = request<volume_page>(manager, list_volumes_req{});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->entries.size(), 1u);
  auto report = request<actor_report>(manager, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_NE(report->summary.find("2 nodes"), std::string::npos) << report->summary;
  EXPECT_NE(report->summary.find("1 located"), std::string::npos) << report->summary;
  EXPECT_NE(report->state_json.find("\"b:9000\""), std::string::npos) << report->state_json;
}

TEST_F(volume_router_test, the_managers_end_with_the_router) {
  add_nodes({"a", "b"});
  ASSERT_TRUE(request<uint64_t>(router, capacity_req{{}, {}}));
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  run();
  EXPECT_EQ(models["a"]->exits, 1);
  EXPECT_EQ(models["b"]->exits, 1);
}

TEST_F(volume_router_test, a_manager_that_ended_is_unavailable) {
  add_nodes({"a", "b"});
  models["b"]->add_volume("v1");
  ASSERT_TRUE(request<uint64_t>(router, capacity_req{{}, {}})); // makes both managers
  caf::anon_send_exit(handles["a"], caf::exit_reason::kill);
  run();
  expect_error(request<volume_record>(router, create("pv", {"a", "b"})), errc::unavailable,
               "node a");
  auto found = request<volume_record>(router, volume_query{"v1"});
  ASSERT_TRUE(found) << render(found.error());
  EXPECT_EQ(found->node, "b");
  expect_error(request<volume_page>(router, list_volumes_req{}), errc::unavailable, "node a");
  EXPECT_EQ(*request<uint64_t>(router, capacity_req{{}, {}}), 100 * gib);
}

TEST_F(volume_router_test, clones_and_restores_go_to_their_sources_node) {
  add_nodes({"a", "b", "c"});
  models["c"]->add_volume("src");
  models["b"]->add_volume("other");
  models["b"]->add_snapshot("snap", "other");
  // The scheduler preferred a, but the copy must live beside its source.
  auto clone = create("clone-1", {"a", "b", "c"});
  clone.source_volume = "src";
  auto rec = request<volume_record>(router, clone);
  ASSERT_TRUE(rec) << render(rec.error());
  EXPECT_EQ(rec->node, "c");
  EXPECT_EQ(models["a"]->provisions, 0);
  auto restore = create("restore-1", {});
  restore.source_snapshot = "snap";
  rec = request<volume_record>(router, restore);
  ASSERT_TRUE(rec) << render(rec.error());
  EXPECT_EQ(rec->node, "b");
  // Requirements that exclude the source's node: refused, naming it.
  auto excluded = create("clone-2", {"a"});
  excluded.source_volume = "src";
  expect_error(request<volume_record>(router, excluded), errc::resource_exhausted, "node c");
  auto missing = create("clone-3", {});
  missing.source_volume = "nope";
  expect_error(request<volume_record>(router, missing), errc::not_found, "nope");
  EXPECT_EQ(models["a"]->provisions, 0);
}

namespace {

/// The scheduler's placement, as the router sees it: answers a group for
/// every PVC, or fails when told to.
placement_advisor_actor::behavior_type
stub_advisor(placement_advisor_actor::pointer, std::shared_ptr<std::vector<placement_query>> seen,
             bool fail) {
  return {
    [seen, fail](placement_query& q) -> caf::result<placement_answer> {
      seen->push_back(q);
      if (fail)
        return make_error(errc::unavailable, "scheduler extender unreachable");
      return placement_answer{q.node, "LVM", "vg-reserved", ""};
    },
  };
}

} // namespace

TEST_F(volume_router_test, the_schedulers_reserved_group_becomes_the_vg_name) {
  auto seen = std::make_shared<std::vector<placement_query>>();
  router_setup setup;
  setup.make_manager = [this](caf::actor_system& system, const std::string& node,
                              const std::string&) -> volume_manager_actor {
    return system.spawn(stub_manager, model(node));
  };
  setup.advisor = sys.spawn(stub_advisor, seen, false);
  auto advised = spawn_volume_router(sys, setup);
  for (auto node : {"a", "b"})
    ASSERT_TRUE(request<bool>(advised, node_upsert{node, std::string{node} + ":1"}));
  auto req = create("pvc-1", {"b", "a"});
  req.params = {{"csi.storage.k8s.io/pvc/name", "data"},
                {"csi.storage.k8s.io/pvc/namespace", "default"}};
  auto rec = request<volume_record>(advised, req);
  ASSERT_TRUE(rec) << render(rec.error());
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0].pvc_namespace, "default");
  EXPECT_EQ((*seen)[0].pvc_name, "data");
  EXPECT_EQ((*seen)[0].node, "b") << "asked for the selected node";
  EXPECT_EQ(models["b"]->last_params["vgName"], "vg-reserved");
  // A StorageClass vgName, another volume type or no PVC name: not asked.
  auto pinned = create("pvc-2", {"b"});
  pinned.params = req.params;
  pinned.params["vgName"] = "fast";
  ASSERT_TRUE(request<volume_record>(advised, pinned));
  auto device = create("pvc-3", {"b"});
  device.params = req.params;
  device.params["volumeType"] = "Device";
  ASSERT_TRUE(request<volume_record>(advised, device));
  ASSERT_TRUE(request<volume_record>(advised, create("pvc-4", {"b"})));
  EXPECT_EQ(seen->size(), 1u);
  EXPECT_EQ(models["b"]->last_params.count("vgName"), 0u);
  caf::anon_send_exit(advised, caf::exit_reason::user_shutdown); // the advisor ends with it
}

TEST_F(volume_router_test, without_the_schedulers_answer_the_node_chooses) {
  auto seen = std::make_shared<std::vector<placement_query>>();
  router_setup setup;
  setup.make_manager = [this](caf::actor_system& system, const std::string& node,
                              const std::string&) -> volume_manager_actor {
    return system.spawn(stub_manager, model(node));
  };
  setup.advisor = sys.spawn(stub_advisor, seen, true);
  auto advised = spawn_volume_router(sys, setup);
  ASSERT_TRUE(request<bool>(advised, node_upsert{"a", "a:1"}));
  auto req = create("pvc-1", {"a"});
  req.params = {{"csi.storage.k8s.io/pvc/name", "data"},
                {"csi.storage.k8s.io/pvc/namespace", "default"}};
  auto rec = request<volume_record>(advised, req);
  ASSERT_TRUE(rec) << render(rec.error());
  EXPECT_EQ(seen->size(), 1u);
  EXPECT_EQ(models["a"]->last_params.count("vgName"), 0u);
  auto report = request<actor_report>(advised, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_NE(report->state_json.find("\"adviceFailures\":1"), std::string::npos)
    << report->state_json;
  caf::anon_send_exit(advised, caf::exit_reason::user_shutdown); // the advisor ends with it
}
