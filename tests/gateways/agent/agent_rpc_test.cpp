// The node agent's volume RPCs end to end: a real actor system with a stub
// node supervisor (and a stub volume actor for ExpandVolume) behind the agent
// server, called by agent_client over real mutual TLS on loopback. Answers
// and errors (with their exact errc) cross both translations; a slow node
// ends in timeout, never a hang. Deadlines are short only so that failures
// end quickly; nothing asserts on timing.

#include "gateways/agent/agent_transport.hpp"

#include "actors/core/errc.hpp"
#include "tests/support/stub_actors.hpp"
#include "tests/support/tls_certs.hpp"

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

namespace {

using namespace olocal;
using namespace std::chrono_literals;
using olocal::test::make_test_pki;
using olocal::test::test_pki;

constexpr auto controller = "open-local-controller";

/// What the stub node saw and what it answers.
struct stub_node {
  std::mutex mu;
  std::vector<create_volume_req> creates;
  std::vector<delete_volume_req> deletes;
  std::vector<claim_req> claims;
  std::vector<uint64_t> expands;
  node_view view;
  /// Answers never given (the "slow" volume) and the volume actors spawned.
  std::vector<caf::typed_response_promise<volume_state>> held;
  std::vector<caf::actor> actors;
};

using stub_ptr = std::shared_ptr<stub_node>;

volume_actor spawn_volume(caf::actor_system& sys, stub_ptr stub, std::string id) {
  test::stub_volume_handlers h;
  h.expand = [stub, id](expand_req& req) -> caf::result<volume_state> {
    std::lock_guard<std::mutex> lock{stub->mu};
    stub->expands.push_back(req.size_bytes);
    volume_state vs;
    vs.id = id;
    vs.vg = "pool0";
    vs.size_bytes = req.size_bytes;
    vs.phase = "staged";
    return vs;
  };
  return test::spawn_stub_volume(sys, std::move(h));
}

/// The stub node: "exists" is already_exists, "slow" is never answered,
/// "busy" cannot be deleted, "missing" is not there, a claim above 100 GiB
/// is resource_exhausted, only "local-1" has a volume actor.
node_supervisor_actor spawn_stub(caf::actor_system& sys, stub_ptr stub) {
  test::stub_node_handlers h;
  h.create = [stub](node_supervisor_actor::pointer self,
                    create_volume_req& req) -> caf::result<volume_state> {
    std::lock_guard<std::mutex> lock{stub->mu};
    stub->creates.push_back(req);
    if (req.lv.name == "slow") {
      stub->held.push_back(self->make_response_promise<volume_state>());
      return stub->held.back();
    }
    if (req.lv.name == "exists")
      return make_error(errc::already_exists, "volume exists has 1 GiB, not " +
                                                std::to_string(req.lv.size_bytes) + " bytes");
    volume_state vs;
    vs.id = req.lv.name;
    vs.vg = req.vg;
    vs.device = "/dev/" + req.vg + "/" + req.lv.name;
    vs.size_bytes = req.lv.size_bytes;
    vs.kind = req.lv.kind;
    vs.phase = "ready";
    return vs;
  };
  h.claim = [stub](claim_req& req) -> caf::result<volume_state> {
    std::lock_guard<std::mutex> lock{stub->mu};
    stub->claims.push_back(req);
    if (req.min_bytes > (100ull << 30))
      return make_error(errc::resource_exhausted, "no free " + req.kind + " of at least " +
                                                    std::to_string(req.min_bytes) + " bytes");
    volume_state vs;
    vs.id = req.id;
    vs.device = "/dev/vdc";
    vs.size_bytes = 200ull << 30;
    vs.kind = req.kind;
    vs.phase = "ready";
    return vs;
  };
  h.remove = [stub](delete_volume_req& req) -> caf::result<bool> {
    std::lock_guard<std::mutex> lock{stub->mu};
    stub->deletes.push_back(req);
    if (req.id == "busy")
      return make_error(errc::failed_precondition, "volume busy is published");
    return req.id != "missing";
  };
  h.lookup = [stub](node_supervisor_actor::pointer self,
                    volume_lookup& req) -> caf::result<volume_actor> {
    if (req.id != "local-1")
      return make_error(errc::not_found, "volume " + req.id + " does not exist");
    auto vol = spawn_volume(self->system(), stub, req.id);
    std::lock_guard<std::mutex> lock{stub->mu};
    stub->actors.push_back(caf::actor_cast<caf::actor>(vol));
    return vol;
  };
  h.view = [stub]() -> caf::result<node_view> {
    std::lock_guard<std::mutex> lock{stub->mu};
    return stub->view;
  };
  h.rescan = []() -> caf::result<uint64_t> { return uint64_t{3}; };
  return test::spawn_stub_node(sys, std::move(h));
}

caf::actor_system_config& two_threads(caf::actor_system_config& cfg) {
  cfg.set("scheduler.max-threads", 2);
  return cfg;
}

class agent_rpc_test : public ::testing::Test {
public:
  agent_rpc_test() : sys(two_threads(cfg)) {}

  ~agent_rpc_test() override {
    // gRPC first (its calls' actors end with it), then the stub's actors.
    client.reset();
    if (server)
      server->stop(0ms);
    server.reset();
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    std::lock_guard<std::mutex> lock{stub->mu};
    for (auto& a : stub->actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    stub->actors.clear();
    stub->held.clear();
  }

  /// Serves with the stub node (unless `with_node` is false) and connects a
  /// client whose certificate names `client_name`.
  void start(std::chrono::milliseconds change_timeout = 10s,
             std::chrono::milliseconds call_timeout = 10s, std::string client_name = controller,
             bool with_node = true) {
    pki = make_test_pki(client_name);
    node = spawn_stub(sys, stub);
    agent_server_options opts;
    opts.address = "127.0.0.1:0";
    opts.tls = agent_tls{pki.ca.cert, pki.server.cert, pki.server.key};
    opts.node_name = "node-1";
    opts.version = "1.2.3";
    if (with_node) {
      opts.system = &sys;
      opts.node = node;
    }
    opts.change_timeout = change_timeout;
    opts.read_timeout = change_timeout;
    auto started = agent_server::start(std::move(opts));
    ASSERT_TRUE(started) << render(started.error());
    server = std::move(*started);
    agent_client_options copts;
    copts.target = "127.0.0.1:" + std::to_string(server->port());
    copts.tls = agent_tls{pki.ca.cert, pki.client.cert, pki.client.key};
    copts.connect_timeout = 5s;
    copts.call_timeout = call_timeout;
    auto made = agent_client::make(std::move(copts));
    ASSERT_TRUE(made) << render(made.error());
    client = std::move(*made);
  }

  caf::actor_system_config cfg;
  caf::actor_system sys;
  stub_ptr stub = std::make_shared<stub_node>();
  node_supervisor_actor node;
  test_pki pki;
  std::unique_ptr<agent_server> server;
  std::unique_ptr<agent_client> client;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

create_volume_req create_req(std::string name, uint64_t bytes = 2ull << 30) {
  create_volume_req req;
  req.vg = "pool0";
  req.lv.name = std::move(name);
  req.lv.size_bytes = bytes;
  req.lv.kind = "ephemeral";
  req.lv.tags = {"olocal/wipe=false"};
  return req;
}

TEST_F(agent_rpc_test, create_volume_round_trip) {
  start();
  auto vs = client->create_volume(create_req("local-1"));
  ASSERT_TRUE(vs) << render(vs.error());
  EXPECT_EQ(vs->id, "local-1");
  EXPECT_EQ(vs->vg, "pool0");
  EXPECT_EQ(vs->device, "/dev/pool0/local-1");
  EXPECT_EQ(vs->size_bytes, 2ull << 30);
  EXPECT_EQ(vs->kind, "ephemeral");
  EXPECT_EQ(vs->phase, "ready");
  std::lock_guard<std::mutex> lock{stub->mu};
  ASSERT_EQ(stub->creates.size(), 1u);
  EXPECT_EQ(caf::deep_to_string(stub->creates[0]), caf::deep_to_string(create_req("local-1")));
}

TEST_F(agent_rpc_test, delete_volume_round_trip) {
  start();
  auto deleted = client->delete_volume({"local-1", false});
  ASSERT_TRUE(deleted) << render(deleted.error());
  EXPECT_TRUE(*deleted);
  auto again = client->delete_volume({"missing", true});
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_FALSE(*again);
  std::lock_guard<std::mutex> lock{stub->mu};
  ASSERT_EQ(stub->deletes.size(), 2u);
  EXPECT_FALSE(stub->deletes[0].wipe);
  EXPECT_TRUE(stub->deletes[1].wipe);
}

TEST_F(agent_rpc_test, expand_volume_goes_to_the_volume_actor) {
  start();
  auto vs = client->expand_volume("local-1", 8ull << 30);
  ASSERT_TRUE(vs) << render(vs.error());
  EXPECT_EQ(vs->size_bytes, 8ull << 30);
  EXPECT_EQ(vs->phase, "staged");
  auto missing = client->expand_volume("local-9", 8ull << 30);
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found);
  EXPECT_TRUE(contains(message_of(missing.error()), "volume local-9 does not exist"));
}

TEST_F(agent_rpc_test, claim_volume_round_trip) {
  start();
  claim_req req{"local-2", "Device", 10ull << 30, 0, "hdd", false};
  auto vs = client->claim_volume(req);
  ASSERT_TRUE(vs) << render(vs.error());
  EXPECT_EQ(vs->id, "local-2");
  EXPECT_EQ(vs->kind, "Device");
  EXPECT_EQ(vs->device, "/dev/vdc");
  std::lock_guard<std::mutex> lock{stub->mu};
  ASSERT_EQ(stub->claims.size(), 1u);
  EXPECT_EQ(caf::deep_to_string(stub->claims[0]), caf::deep_to_string(req));
}

TEST_F(agent_rpc_test, node_view_and_rescan_round_trip) {
  {
    std::lock_guard<std::mutex> lock{stub->mu};
    block_device dev;
    dev.name = "vdc";
    dev.path = "/dev/vdc";
    dev.signatures = {"LVM2_member"};
    stub->view.devices = {dev};
    vg_view vg;
    vg.vg.name = "pool0";
    vg.vg.size_bytes = 100ull << 30;
    vg.pvs = {{"/dev/vdc", "pool0", "u", 100ull << 30, 50ull << 30, {}}};
    lvm::lv_info lv;
    lv.name = "local-1";
    lv.vg_name = "pool0";
    lv.data_percent = 4.5;
    vg.lvs = {lv};
    vg.vg.pv_count = 1;
    vg.vg.lv_count = 1;
    vg.generation = 4;
    stub->view.vgs = {vg};
    volume_state vs;
    vs.id = "local-1";
    vs.targets = {{"/pods/x", true}};
    stub->view.volumes = {vs};
    stub->view.claimables = {{"Device", "vdd", "/dev/vdd", 1 << 30, "ssd", "", "", ""}};
  }
  start();
  auto view = client->get_node_view();
  ASSERT_TRUE(view) << render(view.error());
  {
    std::lock_guard<std::mutex> lock{stub->mu};
    EXPECT_EQ(caf::deep_to_string(*view), caf::deep_to_string(stub->view));
  }
  auto volumes = client->rescan();
  ASSERT_TRUE(volumes) << render(volumes.error());
  EXPECT_EQ(*volumes, 3u);
}

TEST_F(agent_rpc_test, node_errors_arrive_with_their_exact_errc) {
  start();
  auto exists = client->create_volume(create_req("exists"));
  ASSERT_FALSE(exists);
  EXPECT_EQ(code_of(exists.error()), errc::already_exists);
  EXPECT_TRUE(contains(message_of(exists.error()), "volume exists has 1 GiB"));

  auto full = client->claim_volume({"local-3", "MountPoint", 200ull << 30, 0, "", true});
  ASSERT_FALSE(full);
  EXPECT_EQ(code_of(full.error()), errc::resource_exhausted);

  auto busy = client->delete_volume({"busy", true});
  ASSERT_FALSE(busy);
  EXPECT_EQ(code_of(busy.error()), errc::failed_precondition);
  EXPECT_TRUE(contains(message_of(busy.error()), "volume busy is published"));
}

TEST_F(agent_rpc_test, invalid_requests_are_refused_before_the_node) {
  start();
  auto bad = client->create_volume(create_req("../etc"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(code_of(bad.error()), errc::invalid_argument);
  EXPECT_TRUE(contains(message_of(bad.error()), "lv.name"));
  auto no_size = client->expand_volume("local-1", 0);
  ASSERT_FALSE(no_size);
  EXPECT_EQ(code_of(no_size.error()), errc::invalid_argument);
  EXPECT_TRUE(contains(message_of(no_size.error()), "size_bytes"));
  std::lock_guard<std::mutex> lock{stub->mu};
  EXPECT_TRUE(stub->creates.empty());
  EXPECT_TRUE(stub->expands.empty());
}

TEST_F(agent_rpc_test, a_slow_node_times_out_on_the_server) {
  start(/*change_timeout=*/300ms, /*call_timeout=*/10s);
  auto slow = client->create_volume(create_req("slow"));
  ASSERT_FALSE(slow);
  EXPECT_EQ(code_of(slow.error()), errc::timeout) << render(slow.error());
  // The agent still serves.
  EXPECT_TRUE(client->create_volume(create_req("local-1")));
}

TEST_F(agent_rpc_test, a_slow_node_times_out_on_the_client_and_stop_does_not_hang) {
  start(/*change_timeout=*/300s, /*call_timeout=*/300ms);
  auto slow = client->create_volume(create_req("slow"));
  ASSERT_FALSE(slow);
  auto code = code_of(slow.error());
  EXPECT_TRUE(code == errc::timeout || code == errc::unavailable) << render(slow.error());
  // The call is still waiting for the node: stop answers it and ends its actor.
  server->stop(0ms);
}

TEST_F(agent_rpc_test, a_node_certificate_is_refused_on_the_volume_rpcs) {
  start(10s, 10s, "node-7");
  auto create = client->create_volume(create_req("local-1"));
  ASSERT_FALSE(create);
  EXPECT_EQ(code_of(create.error()), errc::permission_denied);
  EXPECT_TRUE(contains(message_of(create.error()), "node-7"));
  auto view = client->get_node_view();
  ASSERT_FALSE(view);
  EXPECT_EQ(code_of(view.error()), errc::permission_denied);
  auto rescan = client->rescan();
  ASSERT_FALSE(rescan);
  EXPECT_EQ(code_of(rescan.error()), errc::permission_denied);
  std::lock_guard<std::mutex> lock{stub->mu};
  EXPECT_TRUE(stub->creates.empty());
}

TEST_F(agent_rpc_test, without_a_node_supervisor_the_volume_rpcs_are_unimplemented) {
  start(10s, 10s, controller, /*with_node=*/false);
  auto create = client->create_volume(create_req("local-1"));
  ASSERT_FALSE(create);
  EXPECT_EQ(code_of(create.error()), errc::unimplemented);
  auto view = client->get_node_view();
  ASSERT_FALSE(view);
  EXPECT_EQ(code_of(view.error()), errc::unimplemented);
  auto id = client->identity();
  ASSERT_TRUE(id) << render(id.error());
  EXPECT_EQ(id->node_name, "node-1");
}

TEST_F(agent_rpc_test, a_node_supervisor_without_a_system_is_refused) {
  agent_server_options opts;
  opts.address = "127.0.0.1:0";
  auto pki = make_test_pki(controller);
  opts.tls = agent_tls{pki.ca.cert, pki.server.cert, pki.server.key};
  opts.node_name = "node-1";
  node = spawn_stub(sys, stub);
  opts.node = node;
  auto started = agent_server::start(std::move(opts));
  ASSERT_FALSE(started);
  EXPECT_EQ(code_of(started.error()), errc::config_invalid);
}

} // namespace
