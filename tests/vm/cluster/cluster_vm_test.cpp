// Cluster mode on the real kernel: `open-local controller` and two `open-local
// node` processes on loopback (each node on its own volume group over a loop
// device), the Kubernetes API from the fake server, mutual TLS between the
// controller and the nodes' agents with certificates made by the test PKI.
// The test plays the CSI sidecars (external-provisioner, -snapshotter,
// -resizer) on the controller's socket and the API's other writers (PVs,
// VolumeSnapshotContents). Nothing asserts on timing; durations are printed.

#include "actors/core/errc.hpp"
#include "gateways/agent/agent_transport.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/tls_certs.hpp"
#include "tests/vm/node/vm_support.hpp"

#include "csi/v1/csi.grpc.pb.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <arpa/inet.h>
#include <csignal>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace olocal;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace pb = ::csi::v1;

namespace {

constexpr uint64_t mib = 1ull << 20;
constexpr const char* root = "/run/olocal-cluster";
constexpr const char* agent_port = "17360";
constexpr const char* topology_key = "kubernetes.io/hostname";

#ifndef OLOCAL_BINARY_PATH
#define OLOCAL_BINARY_PATH "open-local"
#endif

std::string binary() {
  const char* env = std::getenv("OLOCAL_BINARY");
  return env != nullptr && *env != '\0' ? env : OLOCAL_BINARY_PATH;
}

void write_text(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream{file} << text;
}

std::string slurp(const fs::path& file) {
  std::ifstream in{file};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// One `open-local` process with its stderr in a log file.
struct process {
  std::string name;
  fs::path dir;
  std::optional<test::child_process> child;

  process(std::string who, std::vector<std::string> args) : name(std::move(who)) {
    dir = fs::path{root} / name;
    fs::create_directories(dir);
    args.insert(args.begin(), binary());
    args.insert(args.end(), {"--http-port", "0", "--port-file", (dir / "port").string(),
                             "--workers", "2", "--log-level", "debug"});
    child.emplace(std::move(args), dir / "stderr.log");
  }

  bool wait_ready() { return test::wait_ready(*child, dir / "port", 30s).has_value(); }

  std::string log() const { return name + ":\n" + slurp(dir / "stderr.log"); }

  /// SIGTERM: the exit status, or -1 when it had to be killed after 60 s.
  int stop() { return child->stop(SIGTERM, 60s).value_or(-1); }

  ~process() { stop(); } // graceful, so that its log is complete
};

boost::json::object node_object(const std::string& name, const std::string& ip) {
  return boost::json::parse(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":")" + name +
                            R"(","labels":{"kubernetes.io/hostname":")" + name +
                            R"("}},"status":{"addresses":[{"type":"InternalIP","address":")" + ip +
                            R"("},{"type":"Hostname","address":")" + name + R"("}]}})")
    .as_object();
}

boost::json::object pv_object(const std::string& name, const std::string& handle,
                              const std::string& policy) {
  return boost::json::parse(
           R"({"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":")" + name +
           R"("},"spec":{"capacity":{"storage":"64Mi"},"accessModes":["ReadWriteOnce"],)"
           R"("persistentVolumeReclaimPolicy":")" +
           policy + R"(","csi":{"driver":"local.csi.aliyun.com","volumeHandle":")" + handle +
           R"("}}})")
    .as_object();
}

boost::json::object vsc_object(const std::string& name, const std::string& handle) {
  return boost::json::
    parse(R"({"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshotContent",)"
          R"("metadata":{"name":")" +
          name +
          R"("},"spec":{"driver":"local.csi.aliyun.com","deletionPolicy":"Delete",)"
          R"("source":{"volumeHandle":"x"},"volumeSnapshotRef":{"name":"s","namespace":"default"}},)"
          R"("status":{"snapshotHandle":")" +
          handle + R"(","readyToUse":true}})")
      .as_object();
}

/// The LVs of `vg` as "name tags" lines (empty when lvs fails).
std::vector<std::pair<std::string, std::string>> lvs(const std::string& vg) {
  auto out = test::run_ok({"lvs", "--noheadings", "--separator", "|", "-o", "lv_name,lv_tags", vg});
  std::vector<std::pair<std::string, std::string>> rows;
  std::istringstream in{out};
  std::string line;
  while (std::getline(in, line)) {
    auto bar = line.find('|');
    if (bar == std::string::npos)
      continue;
    auto name = line.substr(0, bar);
    name.erase(0, name.find_first_not_of(' '));
    rows.emplace_back(name, line.substr(bar + 1));
  }
  return rows;
}

bool has_lv(const std::string& vg, const std::string& name) {
  for (auto& [n, tags] : lvs(vg))
    if (n == name)
      return true;
  return false;
}

std::string tags_of(const std::string& vg, const std::string& name) {
  for (auto& [n, tags] : lvs(vg))
    if (n == name)
      return tags;
  return {};
}

pb::Topology host(const std::string& node) {
  pb::Topology t;
  (*t.mutable_segments())[topology_key] = node;
  return t;
}

/// The whole cluster, started once for the suite (one VM boot, one set of
/// processes).
struct cluster {
  std::unique_ptr<test::loop_vg> vg_a, vg_b;
  std::unique_ptr<test::fake_apiserver> api;
  std::unique_ptr<process> node_a, node_b, controller;
  test::test_pki pki;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Controller::Stub> csi;
  std::string error;

  std::string agent_file(const std::string& name) const {
    return (fs::path{root} / "pki" / name).string();
  }

  std::vector<std::string> node_args(const std::string& node, const std::string& ip,
                                     const std::string& vg) {
    auto dir = fs::path{root} / node;
    return {"node",
            "--node-name",
            node,
            "--kubeconfig",
            (fs::path{root} / "kubeconfig").string(),
            "--vg",
            vg,
            "--sysfs",
            "/sys",
            "--csi-endpoint",
            "unix://" + (dir / "csi.sock").string(),
            "--csi-allowed-path",
            root,
            "--state-dir",
            (dir / "state").string(),
            "--agent-address",
            ip + ":" + agent_port,
            "--agent-ca",
            agent_file("ca.pem"),
            "--agent-cert",
            agent_file("node.pem"),
            "--agent-key",
            agent_file("node-key.pem"),
            "--gc-policy",
            "delete",
            "--gc-grace",
            "5s",
            "--gc-interval",
            "1s"};
  }

  void start() {
    fs::remove_all(root);
    fs::create_directories(root);
    vg_a = std::make_unique<test::loop_vg>("olclustera", 256 * mib);
    vg_b = std::make_unique<test::loop_vg>("olclusterb", 256 * mib);
    api = std::make_unique<test::fake_apiserver>();
    api->put("nodes", node_object("node-a", "127.0.0.2"));
    api->put("nodes", node_object("node-b", "127.0.0.3"));
    write_text(fs::path{root} / "kubeconfig",
               "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: " +
                 api->base_url() +
                 "\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n"
                 "current-context: fake\n");
    // One CA; a node certificate shared by the nodes (SAN open-local-node,
    // what a chart's Secret holds) and the controller's client certificate.
    pki = test::make_test_pki("open-local-controller");
    auto node_cert = test::issue_cert(pki.ca, "open-local-node", "DNS:open-local-node", true);
    write_text(agent_file("ca.pem"), pki.ca.cert);
    write_text(agent_file("node.pem"), node_cert.cert);
    write_text(agent_file("node-key.pem"), node_cert.key);
    write_text(agent_file("controller.pem"), pki.client.cert);
    write_text(agent_file("controller-key.pem"), pki.client.key);

    node_a = std::make_unique<process>("node-a", node_args("node-a", "127.0.0.2", vg_a->vg));
    node_b = std::make_unique<process>("node-b", node_args("node-b", "127.0.0.3", vg_b->vg));
    auto ctl_sock = "unix://" + (fs::path{root} / "controller" / "csi.sock").string();
    controller = std::make_unique<process>(
      "controller", std::vector<std::string>{"controller",
                                             "--node-name",
                                             "ctl",
                                             "--kubeconfig",
                                             (fs::path{root} / "kubeconfig").string(),
                                             "--leader-elect=false",
                                             "--csi-endpoint",
                                             ctl_sock,
                                             "--agent-ca",
                                             agent_file("ca.pem"),
                                             "--agent-cert",
                                             agent_file("controller.pem"),
                                             "--agent-key",
                                             agent_file("controller-key.pem"),
                                             "--agent-port",
                                             agent_port,
                                             "--agent-connect-timeout",
                                             "2s",
                                             "--agent-call-timeout",
                                             "120s"});
    for (auto* p : {node_a.get(), node_b.get(), controller.get()})
      if (!p->wait_ready()) {
        error = "not ready: " + p->log();
        return;
      }
    channel = grpc::CreateChannel(ctl_sock, grpc::InsecureChannelCredentials());
    csi = pb::Controller::NewStub(channel);
  }

  std::string logs() const {
    std::string all;
    for (auto* p : {node_a.get(), node_b.get(), controller.get()})
      if (p != nullptr) {
        auto text = p->log();
        all += text.size() > 6000 ? text.substr(text.size() - 6000) : text;
        all += "\n";
      }
    return all;
  }
};

cluster* the_cluster = nullptr;

pb::CreateVolumeRequest create_request(const std::string& name,
                                       const std::vector<std::string>& requisite,
                                       const std::vector<std::string>& preferred) {
  pb::CreateVolumeRequest req;
  req.set_name(name);
  req.mutable_capacity_range()->set_required_bytes(int64_t(32 * mib));
  auto* cap = req.add_volume_capabilities();
  cap->mutable_mount()->set_fs_type("ext4");
  cap->mutable_access_mode()->set_mode(pb::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  for (auto& n : requisite)
    *req.mutable_accessibility_requirements()->add_requisite() = host(n);
  for (auto& n : preferred)
    *req.mutable_accessibility_requirements()->add_preferred() = host(n);
  return req;
}

grpc::Status call_create(const pb::CreateVolumeRequest& req, pb::CreateVolumeResponse& rsp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 180s);
  return the_cluster->csi->CreateVolume(&ctx, req, &rsp);
}

grpc::Status call_delete(const std::string& id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 180s);
  pb::DeleteVolumeRequest req;
  req.set_volume_id(id);
  pb::DeleteVolumeResponse rsp;
  return the_cluster->csi->DeleteVolume(&ctx, req, &rsp);
}

std::string node_of(const pb::CreateVolumeResponse& rsp) {
  if (rsp.volume().accessible_topology_size() != 1)
    return {};
  auto& segs = rsp.volume().accessible_topology(0).segments();
  auto it = segs.find(topology_key);
  return it == segs.end() ? std::string{} : it->second;
}

class cluster_vm : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!test::in_vm())
      return;
    the_cluster = new cluster;
    the_cluster->start();
  }

  static void TearDownTestSuite() {
    delete the_cluster;
    the_cluster = nullptr;
  }

  void SetUp() override {
    if (!test::in_vm())
      GTEST_SKIP() << "needs device-mapper (run inside tests/vm/run-in-vm.sh)";
    ASSERT_TRUE(the_cluster->error.empty()) << the_cluster->error;
  }

  void TearDown() override {
    if (HasFailure())
      std::fprintf(stderr, "%s\n", the_cluster->logs().c_str());
  }

  cluster& c() { return *the_cluster; }
};

} // namespace

TEST_F(cluster_vm, create_lands_on_the_selected_node_idempotently_and_follows_the_volume) {
  // The scheduler selected node-b: preferred leads, requisite allows both.
  auto req = create_request("pvc-cluster-1", {"node-a", "node-b"}, {"node-b", "node-a"});
  pb::CreateVolumeResponse rsp;
  auto started = std::chrono::steady_clock::now();
  auto st = call_create(req, rsp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::fprintf(stderr, "CreateVolume through the controller: %lld ms\n",
               static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - started)
                                        .count()));
  auto id = rsp.volume().volume_id();
  EXPECT_EQ(id, "pvc-cluster-1");
  EXPECT_EQ(node_of(rsp), "node-b");
  c().api->put("persistentvolumes", pv_object("pv-1", id, "Delete"));
  EXPECT_TRUE(has_lv(c().vg_b->vg, id)) << "the LV is on the selected node's group";
  EXPECT_FALSE(has_lv(c().vg_a->vg, id));

  // The sidecar's retry: the same volume, still one LV.
  pb::CreateVolumeResponse again;
  st = call_create(req, again);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(again.volume().volume_id(), id);
  EXPECT_EQ(node_of(again), "node-b");
  size_t count = 0;
  for (auto* vg : {c().vg_a.get(), c().vg_b.get()})
    for (auto& [n, tags] : lvs(vg->vg))
      count += n == id ? 1 : 0;
  EXPECT_EQ(count, 1u);

  // Another volume, for node-a.
  auto req_a = create_request("pvc-cluster-2", {"node-a", "node-b"}, {"node-a"});
  pb::CreateVolumeResponse rsp_a;
  st = call_create(req_a, rsp_a);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(node_of(rsp_a), "node-a");
  EXPECT_TRUE(has_lv(c().vg_a->vg, "pvc-cluster-2"));
  c().api->put("persistentvolumes", pv_object("pv-2", "pvc-cluster-2", "Delete"));

  // Expansion goes to the volume's node.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 180s);
    pb::ControllerExpandVolumeRequest ereq;
    ereq.set_volume_id(id);
    ereq.mutable_capacity_range()->set_required_bytes(int64_t(64 * mib));
    pb::ControllerExpandVolumeResponse ersp;
    st = c().csi->ControllerExpandVolume(&ctx, ereq, &ersp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(ersp.capacity_bytes(), int64_t(64 * mib));
    auto size = test::run_ok({"lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "lv_size",
                              c().vg_b->vg + "/" + id});
    EXPECT_EQ(std::stoull(size), 64 * mib);
  }

  // A snapshot of node-a's volume is made on node-a, then deleted there.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 180s);
    pb::CreateSnapshotRequest sreq;
    sreq.set_name("snap-cluster-1");
    sreq.set_source_volume_id("pvc-cluster-2");
    pb::CreateSnapshotResponse srsp;
    st = c().csi->CreateSnapshot(&ctx, sreq, &srsp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(srsp.snapshot().source_volume_id(), "pvc-cluster-2");
    auto snap = srsp.snapshot().snapshot_id();
    c().api->put("volumesnapshotcontents", vsc_object("vsc-1", snap));
    EXPECT_TRUE(has_lv(c().vg_a->vg, snap));

    // A restore is a copy beside its source: on node-a, though node-b leads.
    auto restore = create_request("pvc-cluster-restore", {"node-a", "node-b"}, {"node-b"});
    restore.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(snap);
    pb::CreateVolumeResponse rrsp;
    st = call_create(restore, rrsp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    c().api->put("persistentvolumes", pv_object("pv-restore", "pvc-cluster-restore", "Delete"));
    EXPECT_EQ(node_of(rrsp), "node-a");
    EXPECT_TRUE(has_lv(c().vg_a->vg, "pvc-cluster-restore"));
    EXPECT_FALSE(has_lv(c().vg_b->vg, "pvc-cluster-restore"));
    st = call_delete("pvc-cluster-restore");
    EXPECT_TRUE(st.ok()) << st.error_message();
    c().api->remove("persistentvolumes", "", "pv-restore");

    grpc::ClientContext dctx;
    dctx.set_deadline(std::chrono::system_clock::now() + 180s);
    pb::DeleteSnapshotRequest dreq;
    dreq.set_snapshot_id(snap);
    pb::DeleteSnapshotResponse drsp;
    st = c().csi->DeleteSnapshot(&dctx, dreq, &drsp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_FALSE(has_lv(c().vg_a->vg, snap));
    c().api->remove("volumesnapshotcontents", "", "vsc-1");
  }

  // Deletion reaches the owning node; a repeat is a success.
  for (auto name : {"pvc-cluster-1", "pvc-cluster-2"}) {
    st = call_delete(name);
    ASSERT_TRUE(st.ok()) << st.error_message();
    st = call_delete(name);
    EXPECT_TRUE(st.ok()) << "a repeated DeleteVolume succeeds: " << st.error_message();
  }
  EXPECT_FALSE(has_lv(c().vg_b->vg, "pvc-cluster-1"));
  EXPECT_FALSE(has_lv(c().vg_a->vg, "pvc-cluster-2"));
  c().api->remove("persistentvolumes", "", "pv-1");
  c().api->remove("persistentvolumes", "", "pv-2");
}

TEST_F(cluster_vm, the_agent_refuses_clients_without_the_controllers_certificate) {
  auto target = std::string{"127.0.0.2:"} + agent_port;
  auto client_with = [&](const test::pem_pair& cert, const std::string& ca) {
    agent_client_options o;
    o.target = target;
    o.expected_server_name = "open-local-node";
    o.tls = {ca, cert.cert, cert.key};
    o.connect_timeout = 5s;
    o.call_timeout = 20s;
    return agent_client::make(o);
  };
  // The controller's certificate: served.
  auto good = client_with(c().pki.client, c().pki.ca.cert);
  ASSERT_TRUE(good);
  auto id = (*good)->identity();
  ASSERT_TRUE(id) << render(id.error());
  EXPECT_EQ(id->node_name, "node-a");

  // Signed by another CA: the handshake fails.
  auto other = test::make_test_pki("open-local-controller");
  auto foreign = client_with(other.client, c().pki.ca.cert);
  ASSERT_TRUE(foreign);
  auto refused = (*foreign)->identity();
  ASSERT_FALSE(refused);
  EXPECT_EQ(code_of(refused.error()), errc::unavailable) << render(refused.error());

  // Signed by our CA but not the controller's identity: PERMISSION_DENIED,
  // and a destructive call is refused the same way.
  auto intruder_cert = test::issue_cert(c().pki.ca, "intruder", "", false);
  auto intruder = client_with(intruder_cert, c().pki.ca.cert);
  ASSERT_TRUE(intruder);
  auto denied = (*intruder)->identity();
  ASSERT_FALSE(denied);
  EXPECT_EQ(code_of(denied.error()), errc::permission_denied) << render(denied.error());
  auto denied_delete = (*intruder)->delete_volume(delete_volume_req{"anything", true});
  ASSERT_FALSE(denied_delete);
  EXPECT_EQ(code_of(denied_delete.error()), errc::permission_denied);

  // Plaintext HTTP/2 gets no HTTP/2 answer (a TLS alert or a closed socket).
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(agent_port)));
  ::inet_pton(AF_INET, "127.0.0.2", &addr.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  static constexpr char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  ASSERT_GT(::write(fd, preface, sizeof preface - 1), 0);
  unsigned char buf[64] = {};
  auto n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  EXPECT_TRUE(n <= 0 || buf[0] == 0x15) << "first byte " << int(buf[0]) << " of " << n;
}

TEST_F(cluster_vm, an_unreachable_node_answers_unavailable_without_hanging) {
  // A node whose agent does not run (nothing listens on its address).
  c().api->put("nodes", node_object("node-c", "127.0.0.9"));
  auto req = create_request("pvc-cluster-unreachable", {"node-c"}, {"node-c"});
  pb::CreateVolumeResponse rsp;
  grpc::Status st;
  // The controller learns the node from its informer within moments; until
  // then the answer is RESOURCE_EXHAUSTED/UNAVAILABLE naming no known node.
  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(test::eventually(
    [&] {
      started = std::chrono::steady_clock::now();
      st = call_create(req, rsp);
      return st.error_code() == grpc::StatusCode::UNAVAILABLE &&
             st.error_message().find("node-c") != std::string::npos;
    },
    30s))
    << st.error_code() << " " << st.error_message();
  std::fprintf(stderr, "UNAVAILABLE for an unreachable node after %lld ms: %s\n",
               static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - started)
                                        .count()),
               st.error_message().c_str());
  c().api->remove("nodes", "", "node-c");
}

TEST_F(cluster_vm, an_orphan_is_collected_after_the_grace_and_a_retain_volume_survives) {
  // The provisioner made the volume, but its PVC was deleted meanwhile: no
  // PersistentVolume ever refers to it.
  auto orphan = create_request("pvc-cluster-orphan", {"node-a", "node-b"}, {"node-a"});
  pb::CreateVolumeResponse rsp;
  auto st = call_create(orphan, rsp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(has_lv(c().vg_a->vg, "pvc-cluster-orphan"));
  auto made = std::chrono::steady_clock::now();

  // A Retain volume: its PV exists, then the administrator deletes the PV.
  auto keep = create_request("pvc-cluster-retain", {"node-a", "node-b"}, {"node-b"});
  pb::CreateVolumeResponse keep_rsp;
  st = call_create(keep, keep_rsp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  c().api->put("persistentvolumes", pv_object("pv-retain", "pvc-cluster-retain", "Retain"));
  EXPECT_TRUE(test::eventually(
    [&] {
      return tags_of(c().vg_b->vg, "pvc-cluster-retain").find("olocal/reclaim=Retain") !=
             std::string::npos;
    },
    60s))
    << "the node records the Retain policy on the LV: "
    << tags_of(c().vg_b->vg, "pvc-cluster-retain");
  c().api->remove("persistentvolumes", "", "pv-retain");

  EXPECT_TRUE(test::eventually([&] { return !has_lv(c().vg_a->vg, "pvc-cluster-orphan"); }, 90s))
    << "the orphan is removed after the grace period";
  std::fprintf(stderr, "orphan collected %lld ms after its creation (grace 5 s)\n",
               static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - made)
                                        .count()));
  // Three more grace periods: the Retain volume, without a PV now, stays.
  std::this_thread::sleep_for(15s);
  EXPECT_TRUE(has_lv(c().vg_b->vg, "pvc-cluster-retain")) << "a Retain volume is never collected";
  // The operator's explicit delete still works.
  st = call_delete("pvc-cluster-retain");
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(has_lv(c().vg_b->vg, "pvc-cluster-retain"));
}
