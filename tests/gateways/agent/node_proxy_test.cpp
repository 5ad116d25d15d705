// The node proxy end to end: a real actor system, a real agent server over
// mutual TLS on loopback in front of a stub node supervisor (a small
// in-memory model of one volume group), and the proxy calling it through
// agent_client. Then the real volume manager provisioning, resizing and
// deleting through the proxy, exactly as in standalone mode. Deadlines are
// short only so that failures end quickly; nothing asserts on timing beyond
// "no hang".

#include "gateways/agent/node_proxy.hpp"

#include "actors/cluster/volume_manager.hpp"
#include "actors/core/errc.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/stub_actors.hpp"
#include "tests/support/tls_certs.hpp"

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace olocal;
using namespace std::chrono_literals;
using olocal::test::make_test_pki;
using olocal::test::test_pki;

constexpr uint64_t mib = 1ull << 20;
constexpr uint64_t gib = 1ull << 30;

/// The stub node's model and what it saw. Kept consistent: a created volume
/// is an LV in the group's view and a volume in view.volumes.
struct stub_node {
  std::mutex mu;
  node_view view;
  std::vector<create_volume_req> creates;
  std::vector<delete_volume_req> deletes;
  std::vector<claim_req> claims;
  std::vector<uint64_t> expands;
  std::vector<caf::actor> actors;

  stub_node() {
    vg_view vg;
    vg.vg.name = "pool0";
    vg.vg.size_bytes = 100 * gib;
    vg.vg.free_bytes = 100 * gib;
    vg.vg.extent_size_bytes = 4 * mib;
    vg.vg.pv_count = 1;
    vg.pvs = {{"/dev/vdc", "pool0", "u", 100 * gib, 100 * gib, {}}};
    view.vgs = {vg};
  }

  volume_state* volume(const std::string& id) {
    for (auto& vs : view.volumes)
      if (vs.id == id)
        return &vs;
    return nullptr;
  }

  lvm::lv_info* lv(const std::string& id) {
    for (auto& lv : view.vgs.front().lvs)
      if (lv.name == id)
        return &lv;
    return nullptr;
  }
};

using stub_ptr = std::shared_ptr<stub_node>;

volume_actor spawn_volume(caf::actor_system& sys, stub_ptr stub, std::string id) {
  test::stub_volume_handlers h;
  h.expand = [stub, id](expand_req& req) -> caf::result<volume_state> {
    std::lock_guard<std::mutex> lock{stub->mu};
    stub->expands.push_back(req.size_bytes);
    auto* vs = stub->volume(id);
    auto* lv = stub->lv(id);
    if (vs == nullptr || lv == nullptr)
      return make_error(errc::not_found, "volume " + id + " does not exist");
    if (req.size_bytes > 90 * gib)
      return make_error(errc::resource_exhausted, "pool0 has no room for " + id);
    vs->size_bytes = std::max(vs->size_bytes, req.size_bytes);
    lv->size_bytes = vs->size_bytes;
    return *vs;
  };
  return test::spawn_stub_volume(sys, std::move(h));
}

/// The stub node: "full" and claims above 100 GiB are resource_exhausted.
node_supervisor_actor spawn_stub(caf::actor_system& sys, stub_ptr stub) {
  test::stub_node_handlers h;
  h.create = [stub](node_supervisor_actor::pointer,
                    create_volume_req& req) -> caf::result<volume_state> {
    std::lock_guard<std::mutex> lock{stub->mu};
    stub->creates.push_back(req);
    if (req.lv.name == "full")
      return make_error(errc::resource_exhausted, "pool0 has no room for full");
    if (auto* vs = stub->volume(req.lv.name))
      return *vs;
    auto& vg = stub->view.vgs.front();
    lvm::lv_info lv;
    lv.name = req.lv.name;
    lv.vg_name = req.vg;
    lv.size_bytes = req.lv.size_bytes;
    lv.attr = "-wi-a-----";
    lv.segtype = "linear";
    lv.tags = req.lv.tags;
    lv.tags.push_back("olocal/owner=standalone");
    lv.tags.push_back("olocal/kind=" + req.lv.kind);
    lv.active = true;
    lv.path = "/dev/" + req.vg + "/" + req.lv.name;
    vg.lvs.push_back(lv);
    vg.vg.free_bytes -= lv.size_bytes;
    vg.vg.lv_count = static_cast<uint32_t>(vg.lvs.size());
    volume_state vs;
    vs.id = lv.name;
    vs.vg = req.vg;
    vs.device = lv.path;
    vs.size_bytes = lv.size_bytes;
    vs.kind = req.lv.kind;
    vs.phase = "ready";
    stub->view.volumes.push_back(vs);
    return vs;
  };
  h.claim = [stub](claim_req& req) -> caf::result<volume_state> {
    std::lock_guard<std::mutex> lock{stub->mu};
    stub->claims.push_back(req);
    if (req.min_bytes > 100 * gib)
      return make_error(errc::resource_exhausted, "no free " + req.kind + " of at least " +
                                                    std::to_string(req.min_bytes) + " bytes");
    volume_state vs;
    vs.id = req.id;
    vs.device = "/dev/vdd";
    vs.size_bytes = 200 * gib;
    vs.kind = req.kind;
    vs.phase = "ready";
    return vs;
  };
  h.remove = [stub](delete_volume_req& req) -> caf::result<bool> {
    std::lock_guard<std::mutex> lock{stub->mu};
    stub->deletes.push_back(req);
    auto& vg = stub->view.vgs.front();
    auto& vols = stub->view.volumes;
    auto before = vols.size();
    vols.erase(std::remove_if(vols.begin(), vols.end(),
                              [&](const volume_state& vs) { return vs.id == req.id; }),
               vols.end());
    for (auto it = vg.lvs.begin(); it != vg.lvs.end(); ++it)
      if (it->name == req.id) {
        vg.vg.free_bytes += it->size_bytes;
        vg.lvs.erase(it);
        break;
      }
    vg.vg.lv_count = static_cast<uint32_t>(vg.lvs.size());
    return vols.size() != before;
  };
  h.lookup = [stub](node_supervisor_actor::pointer self,
                    volume_lookup& req) -> caf::result<volume_actor> {
    std::lock_guard<std::mutex> lock{stub->mu};
    if (stub->volume(req.id) == nullptr)
      return make_error(errc::not_found, "volume " + req.id + " does not exist");
    auto vol = spawn_volume(self->system(), stub, req.id);
    stub->actors.push_back(caf::actor_cast<caf::actor>(vol));
    return vol;
  };
  h.view = [stub]() -> caf::result<node_view> {
    std::lock_guard<std::mutex> lock{stub->mu};
    return stub->view;
  };
  h.rescan = [stub]() -> caf::result<uint64_t> {
    std::lock_guard<std::mutex> lock{stub->mu};
    return static_cast<uint64_t>(stub->view.volumes.size());
  };
  return test::spawn_stub_node(sys, std::move(h));
}

caf::actor_system_config& two_threads(caf::actor_system_config& cfg) {
  cfg.set("scheduler.max-threads", 2);
  return cfg;
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then closed).
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class node_proxy_test : public ::testing::Test {
public:
  node_proxy_test() : sys(two_threads(cfg)) {}

  ~node_proxy_test() override { shut_down(); }

  /// gRPC first (its calls' actors end with it), then the proxy (its caller
  /// and volume actors end with it), then the stub's actors.
  void shut_down() {
    if (manager)
      caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
    manager = nullptr;
    if (server)
      server->stop(0ms);
    server.reset();
    if (proxy)
      caf::anon_send_exit(proxy, caf::exit_reason::user_shutdown);
    proxy = nullptr;
    if (node)
      caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    node = nullptr;
    std::lock_guard<std::mutex> lock{stub->mu};
    for (auto& a : stub->actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    stub->actors.clear();
  }

  agent_client_options client_options(int port) {
    agent_client_options opts;
    opts.target = "127.0.0.1:" + std::to_string(port);
    opts.tls = agent_tls{pki.ca.cert, pki.client.cert, pki.client.key};
    opts.connect_timeout = 2s;
    opts.call_timeout = 10s;
    return opts;
  }

  /// Serves the stub node over mutual TLS and spawns the proxy to it.
  void start() {
    pki = make_test_pki(std::string{agent_controller_name});
    node = spawn_stub(sys, stub);
    agent_server_options opts;
    opts.address = "127.0.0.1:0";
    opts.tls = agent_tls{pki.ca.cert, pki.server.cert, pki.server.key};
    opts.node_name = "node-1";
    opts.version = "1.2.3";
    opts.system = &sys;
    opts.node = node;
    opts.change_timeout = 10s;
    opts.read_timeout = 10s;
    auto started = agent_server::start(std::move(opts));
    ASSERT_TRUE(started) << render(started.error());
    server = std::move(*started);
    proxy = spawn_node_proxy(sys, client_options(server->port()), "node-1");
  }

  /// Asks `dest` and waits (bounded) for the answer.
  template <class T, class Dest, class Msg>
  caf::expected<T> ask(const Dest& dest, Msg msg, caf::duration timeout = caf::duration{30s}) {
    caf::scoped_actor self{sys};
    caf::expected<T> out{make_error(errc::internal, "no answer")};
    self->request(dest, timeout, std::move(msg))
      .receive([&](T& value) { out = std::move(value); }, [&](caf::error& err) { out = err; });
    return out;
  }

  caf::actor_system_config cfg;
  caf::actor_system sys;
  stub_ptr stub = std::make_shared<stub_node>();
  test_pki pki;
  node_supervisor_actor node;
  std::unique_ptr<agent_server> server;
  node_supervisor_actor proxy;
  volume_manager_actor manager;
};

create_volume_req create_req(std::string name, uint64_t bytes = 2 * gib) {
  create_volume_req req;
  req.vg = "pool0";
  req.lv.name = std::move(name);
  req.lv.size_bytes = bytes;
  req.lv.kind = "volume";
  return req;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(node_proxy_test, create_claim_delete_view_and_rescan_reach_the_node) {
  start();
  auto vs = ask<volume_state>(proxy, create_req("local-1"));
  ASSERT_TRUE(vs) << render(vs.error());
  EXPECT_EQ(vs->id, "local-1");
  EXPECT_EQ(vs->vg, "pool0");
  EXPECT_EQ(vs->device, "/dev/pool0/local-1");
  EXPECT_EQ(vs->size_bytes, 2 * gib);

  claim_req claim{"local-2", "Device", 10 * gib, 0, "hdd", false};
  auto claimed = ask<volume_state>(proxy, claim);
  ASSERT_TRUE(claimed) << render(claimed.error());
  EXPECT_EQ(claimed->device, "/dev/vdd");
  EXPECT_EQ(claimed->kind, "Device");

  auto view = ask<node_view>(proxy, get_atom::value);
  ASSERT_TRUE(view) << render(view.error());
  {
    std::lock_guard<std::mutex> lock{stub->mu};
    EXPECT_EQ(caf::deep_to_string(*view), caf::deep_to_string(stub->view));
    ASSERT_EQ(stub->claims.size(), 1u);
    EXPECT_EQ(caf::deep_to_string(stub->claims[0]), caf::deep_to_string(claim));
  }
  ASSERT_EQ(view->vgs.size(), 1u);
  ASSERT_EQ(view->vgs[0].lvs.size(), 1u);
  EXPECT_EQ(view->vgs[0].lvs[0].name, "local-1");

  auto volumes = ask<uint64_t>(proxy, rescan_atom::value);
  ASSERT_TRUE(volumes) << render(volumes.error());
  EXPECT_EQ(*volumes, 1u);

  auto deleted = ask<bool>(proxy, delete_volume_req{"local-1", false});
  ASSERT_TRUE(deleted) << render(deleted.error());
  EXPECT_TRUE(*deleted);
  auto again = ask<bool>(proxy, delete_volume_req{"local-1", true});
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_FALSE(*again);
  std::lock_guard<std::mutex> lock{stub->mu};
  ASSERT_EQ(stub->deletes.size(), 2u);
  EXPECT_FALSE(stub->deletes[0].wipe);
  EXPECT_TRUE(stub->deletes[1].wipe);
}

TEST_F(node_proxy_test, the_proxy_volume_actor_expands_gets_and_deletes) {
  start();
  ASSERT_TRUE(ask<volume_state>(proxy, create_req("local-1")));
  auto vol = ask<volume_actor>(proxy, volume_lookup{"local-1"});
  ASSERT_TRUE(vol) << render(vol.error());
  auto same = ask<volume_actor>(proxy, volume_lookup{"local-1"});
  ASSERT_TRUE(same);
  EXPECT_EQ(*vol, *same) << "cached per id";

  auto grown = ask<volume_state>(*vol, expand_req{8 * gib});
  ASSERT_TRUE(grown) << render(grown.error());
  EXPECT_EQ(grown->size_bytes, 8 * gib);
  auto state = ask<volume_state>(*vol, get_atom::value);
  ASSERT_TRUE(state) << render(state.error());
  EXPECT_EQ(state->id, "local-1");
  EXPECT_EQ(state->size_bytes, 8 * gib);

  auto too_big = ask<volume_state>(*vol, expand_req{95 * gib});
  ASSERT_FALSE(too_big);
  EXPECT_EQ(code_of(too_big.error()), errc::resource_exhausted) << render(too_big.error());
  EXPECT_TRUE(contains(message_of(too_big.error()), "pool0 has no room for local-1"));

  auto stage = ask<volume_state>(*vol, stage_req{});
  ASSERT_FALSE(stage);
  EXPECT_EQ(code_of(stage.error()), errc::unimplemented);
  EXPECT_TRUE(contains(message_of(stage.error()), "node's CSI"));
  auto stats = ask<volume_stats>(*vol, stats_atom::value);
  ASSERT_FALSE(stats);
  EXPECT_EQ(code_of(stats.error()), errc::unimplemented);

  auto report = ask<actor_report>(*vol, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_TRUE(contains(report->state_json, "local-1"));

  // An unknown id: the lookup answers an actor, its calls answer not_found.
  auto ghost = ask<volume_actor>(proxy, volume_lookup{"local-9"});
  ASSERT_TRUE(ghost);
  auto ghost_state = ask<volume_state>(*ghost, get_atom::value);
  ASSERT_FALSE(ghost_state);
  EXPECT_EQ(code_of(ghost_state.error()), errc::not_found);
  auto ghost_grow = ask<volume_state>(*ghost, expand_req{gib});
  ASSERT_FALSE(ghost_grow);
  EXPECT_EQ(code_of(ghost_grow.error()), errc::not_found);

  // Delete: the volume goes, the proxy volume actor exits, a new lookup
  // answers a new actor.
  caf::scoped_actor self{sys};
  self->monitor(*vol);
  auto deleted = ask<bool>(*vol, delete_volume_req{"local-1", true});
  ASSERT_TRUE(deleted) << render(deleted.error());
  EXPECT_TRUE(*deleted);
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; }, caf::after(10s) >> [] {});
  EXPECT_TRUE(down);
  auto fresh = ask<volume_actor>(proxy, volume_lookup{"local-1"});
  ASSERT_TRUE(fresh);
  EXPECT_NE(*fresh, *vol);
  std::lock_guard<std::mutex> lock{stub->mu};
  EXPECT_EQ(stub->volume("local-1"), nullptr);
  EXPECT_EQ(stub->expands, (std::vector<uint64_t>{8 * gib, 95 * gib}));
}

TEST_F(node_proxy_test, node_errors_pass_with_their_exact_errc) {
  start();
  auto full = ask<volume_state>(proxy, create_req("full"));
  ASSERT_FALSE(full);
  EXPECT_EQ(code_of(full.error()), errc::resource_exhausted) << render(full.error());
  EXPECT_TRUE(contains(message_of(full.error()), "pool0 has no room for full"));
  auto claim = ask<volume_state>(proxy, claim_req{"local-3", "MountPoint", 200 * gib, 0, "", true});
  ASSERT_FALSE(claim);
  EXPECT_EQ(code_of(claim.error()), errc::resource_exhausted);
  auto invalid = ask<volume_state>(proxy, create_req("../etc"));
  ASSERT_FALSE(invalid);
  EXPECT_EQ(code_of(invalid.error()), errc::invalid_argument);

  auto vgs = ask<uint64_t>(proxy, manage_vgs_req{{"pool0"}});
  ASSERT_FALSE(vgs);
  EXPECT_EQ(code_of(vgs.error()), errc::unimplemented);
  EXPECT_TRUE(contains(message_of(vgs.error()), "not served over the agent"));

  caf::anon_send(proxy, tick_atom::value); // ignored
  auto report = ask<actor_report>(proxy, inspect_atom::value);
  ASSERT_TRUE(report) << render(report.error());
  EXPECT_TRUE(contains(report->summary, "node-1"));
  EXPECT_TRUE(contains(report->summary, "3 calls, 3 failed")) << report->summary;
  EXPECT_TRUE(contains(report->last_error, "invalid_argument")) << report->last_error;
  EXPECT_TRUE(contains(report->state_json, "\"failures\":3")) << report->state_json;
}

TEST_F(node_proxy_test, the_volume_manager_provisions_through_the_proxy) {
  start();
  manager = spawn_volume_manager(sys, manager_setup{"node-1", proxy});
  provision_req req;
  req.name = "pvc-1";
  req.required_bytes = 100 * mib;
  req.params = {{"csi.storage.k8s.io/pvc/name", "data"}};
  auto v = ask<volume_record>(manager, req);
  ASSERT_TRUE(v) << render(v.error());
  EXPECT_EQ(v->id, "pvc-1");
  EXPECT_EQ(v->capacity_bytes, 100 * mib);
  EXPECT_EQ(v->node, "node-1");
  EXPECT_EQ(v->vg, "pool0");
  EXPECT_EQ(v->context["vgName"], "pool0");
  {
    std::lock_guard<std::mutex> lock{stub->mu};
    ASSERT_EQ(stub->creates.size(), 1u);
    EXPECT_EQ(stub->creates[0].vg, "pool0");
    EXPECT_EQ(stub->creates[0].lv.name, "pvc-1");
    EXPECT_EQ(stub->creates[0].lv.size_bytes, 100 * mib);
  }
  // A repeat answers from the node's view (GetNodeView): no second create.
  auto again = ask<volume_record>(manager, req);
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->capacity_bytes, 100 * mib);
  {
    std::lock_guard<std::mutex> lock{stub->mu};
    EXPECT_EQ(stub->creates.size(), 1u);
  }
  // ControllerExpandVolume: volume_lookup + expand_req through the proxy.
  auto grown = ask<volume_record>(manager, resize_req{"pvc-1", 200 * mib, 0});
  ASSERT_TRUE(grown) << render(grown.error());
  EXPECT_EQ(grown->capacity_bytes, 200 * mib);
  // An error of the node reaches the manager's caller with its errc.
  auto too_big = ask<volume_record>(manager, resize_req{"pvc-1", 95 * gib, 0});
  ASSERT_FALSE(too_big);
  EXPECT_EQ(code_of(too_big.error()), errc::resource_exhausted) << render(too_big.error());
  auto gone = ask<bool>(manager, unprovision_req{"pvc-1"});
  ASSERT_TRUE(gone) << render(gone.error());
  EXPECT_TRUE(*gone);
  std::lock_guard<std::mutex> lock{stub->mu};
  EXPECT_EQ(stub->volume("pvc-1"), nullptr);
  EXPECT_EQ(stub->lv("pvc-1"), nullptr);
}

TEST_F(node_proxy_test, a_closed_port_answers_unavailable_without_hanging) {
  pki = make_test_pki(std::string{agent_controller_name});
  auto opts = client_options(closed_port());
  opts.connect_timeout = 1s;
  opts.call_timeout = 3s;
  proxy = spawn_node_proxy(sys, opts, "node-9");
  auto view = ask<node_view>(proxy, get_atom::value, caf::duration{20s});
  ASSERT_FALSE(view);
  EXPECT_EQ(code_of(view.error()), errc::unavailable) << render(view.error());
  auto vs = ask<volume_state>(proxy, create_req("local-1"), caf::duration{20s});
  ASSERT_FALSE(vs);
  EXPECT_EQ(code_of(vs.error()), errc::unavailable) << render(vs.error());
}

TEST_F(node_proxy_test, without_a_client_every_call_answers_config_invalid) {
  agent_client_options opts;
  opts.target = "127.0.0.1:1736"; // no TLS material
  proxy = spawn_node_proxy(sys, opts, "node-2");
  ASSERT_TRUE(proxy);
  auto vs = ask<volume_state>(proxy, create_req("local-1"));
  ASSERT_FALSE(vs);
  EXPECT_EQ(code_of(vs.error()), errc::config_invalid);
  auto view = ask<node_view>(proxy, get_atom::value);
  ASSERT_FALSE(view);
  EXPECT_EQ(code_of(view.error()), errc::config_invalid);
  auto vol = ask<volume_actor>(proxy, volume_lookup{"local-1"});
  ASSERT_FALSE(vol);
  EXPECT_EQ(code_of(vol.error()), errc::config_invalid);
  auto report = ask<actor_report>(proxy, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_TRUE(contains(report->last_error, "config_invalid")) << report->last_error;
}

TEST_F(node_proxy_test, exiting_the_proxy_leaves_no_actor_behind) {
  start();
  ASSERT_TRUE(ask<volume_state>(proxy, create_req("local-1")));
  auto vol = ask<volume_actor>(proxy, volume_lookup{"local-1"});
  ASSERT_TRUE(vol);
  {
    caf::scoped_actor self{sys};
    self->monitor(*vol);
    caf::anon_send_exit(proxy, caf::exit_reason::user_shutdown);
    bool down = false;
    self->receive([&](caf::down_msg&) { down = true; }, caf::after(10s) >> [] {});
    EXPECT_TRUE(down) << "the proxy volume actor exits with the proxy";
  }
  vol = caf::expected<volume_actor>{make_error(errc::internal, "dropped")};
  shut_down();
  // Everything else is gone: the caller (detached) and the proxy volume
  // actors too, or the count never reaches zero.
  test::eventually([&] { return sys.registry().running() == 0; }, 10s);
  EXPECT_EQ(sys.registry().running(), 0u);
}

} // namespace
