// The open-local binary as users and Kubernetes run it: help, version, bad
// flags, and a graceful stop on SIGTERM and SIGINT with exit code 0.

#include "actors/backends/process.hpp"
#include "gateways/kube/resources.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/http_client.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace olocal;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string binary() {
  const char* path = std::getenv("OLOCAL_BINARY");
  return path ? path : "open-local";
}

command_result run(std::vector<std::string> args) {
  args.insert(args.begin(), binary());
  auto r = run_command({args, 60s});
  EXPECT_TRUE(r) << render_argv(args);
  return r ? *r : command_result{};
}

std::string slurp(const fs::path& file) {
  std::ifstream in{file};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// A running `open-local standalone` whose stderr goes to a file.
struct running_process {
  fs::path dir;
  std::optional<test::child_process> child;
  uint16_t port = 0;

  explicit running_process(std::vector<std::string> extra, std::string command = "standalone") {
    dir = fs::temp_directory_path() / ("olocal-cli-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(dir / "sys" / "block" / "sdq");
    std::vector<std::string> args = {
      binary(),    command, "--http-port", "0",       "--port-file", (dir / "port").string(),
      "--workers", "2",     "--node-name", "cli-node"};
    if (command == "standalone" || command == "node") // the node side's options
      args.insert(args.end(), {"--sysfs", (dir / "sys").string(), "--csi-endpoint", endpoint(),
                               "--state-dir", (dir / "state").string()});
    args.insert(args.end(), extra.begin(), extra.end());
    child.emplace(std::move(args), dir / "stderr.log");
  }

  bool wait_ready() { // up to 20 s: a sanitizer build starts slowly
    auto ready = test::wait_ready(*child, dir / "port", 20s);
    port = ready.value_or(0);
    return ready.has_value();
  }

  /// Sends `sig`; true when it was running.
  bool signal(int sig) { return child->signal(sig); }

  /// Exit status, or -1 if it did not exit within `limit`.
  int wait_exit(std::chrono::milliseconds limit) { return child->wait_exit(limit).value_or(-1); }

  std::string log() const { return slurp(dir / "stderr.log"); }

  std::string endpoint() const { return "unix://" + (dir / "csi.sock").string(); }

  ~running_process() {
    child.reset();
    fs::remove_all(dir);
  }
};

/// A kubeconfig naming only `server` (no credentials: the fake API server
/// runs without them here), written to `file` (its directory is created).
void write_kubeconfig(const fs::path& file, const std::string& server) {
  fs::create_directories(file.parent_path());
  std::ofstream{file} << "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n"
                         "    server: "
                      << server
                      << "\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n"
                         "current-context: fake\n";
}

void expect_graceful_stop_on(int sig) {
  running_process proc{{}};
  ASSERT_TRUE(proc.wait_ready()) << proc.log();
  auto actors = test::http_get(proc.port, "/admin/actors");
  EXPECT_EQ(actors.status, 200);
  EXPECT_NE(actors.body.find("disk/sdq"), std::string::npos) << actors.body;
  ASSERT_TRUE(proc.signal(sig));
  EXPECT_EQ(proc.wait_exit(30s), 0) << proc.log();
  auto log = proc.log();
  EXPECT_NE(log.find(sig == SIGTERM ? "signal=SIGTERM" : "signal=SIGINT"), std::string::npos)
    << log;
  EXPECT_NE(log.find("stopped cleanly"), std::string::npos) << log;
  EXPECT_FALSE(test::can_connect(proc.port));
}

} // namespace

TEST(cli, help_lists_the_commands) {
  auto r = run({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (auto cmd : {"standalone", "discover", "metrics", "version"})
    EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd;
  auto none = run({});
  EXPECT_EQ(none.exit_code, 2) << "no command is a usage error";
  auto sub = run({"standalone", "--help"});
  EXPECT_EQ(sub.exit_code, 0);
  EXPECT_NE(sub.out.find("--drain-timeout DURATION"), std::string::npos) << sub.out;
}

TEST(cli, version) {
  auto r = run({"version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("open-local ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("CAF 0.17"), std::string::npos) << r.out;
}

TEST(cli, bad_input_gets_exit_2_and_names_what_is_wrong) {
  auto unknown = run({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unknown command 'frobnicate'"), std::string::npos);
  auto flag = run({"standalone", "--workers", "lots"});
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_NE(flag.err.find("--workers"), std::string::npos) << flag.err;
  auto open = run({"standalone", "--http-address", "0.0.0.0", "--http-port", "0"});
  EXPECT_EQ(open.exit_code, 2);
  EXPECT_NE(open.err.find("--admin-token-file"), std::string::npos) << open.err;
}

TEST(cli, discover_and_metrics_print_json) {
  auto d = run({"discover", "--format", "json"});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(d.out.rfind("{\"host\":", 0), 0u) << d.out;
  EXPECT_NE(d.out.find("\"blockDevices\":["), std::string::npos);
  auto m = run({"metrics", "--format", "json"});
  EXPECT_EQ(m.exit_code, 0);
  EXPECT_NE(m.out.find("open_local_http_requests_total"), std::string::npos);
}

TEST(cli, sigterm_stops_gracefully_with_exit_0) {
  expect_graceful_stop_on(SIGTERM);
}

TEST(cli, sigint_stops_gracefully_with_exit_0) {
  expect_graceful_stop_on(SIGINT);
}

TEST(cli, config_file_is_read_and_flags_override_it) {
  auto dir = fs::temp_directory_path() / ("olocal-cfg-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream{dir / "config.json"} << R"({"log-format": "json", "log-level": "debug"})";
  running_process proc{{"--config", (dir / "config.json").string(), "--log-level", "info"}};
  ASSERT_TRUE(proc.wait_ready()) << proc.log();
  proc.signal(SIGTERM);
  EXPECT_EQ(proc.wait_exit(30s), 0);
  auto log = proc.log();
  EXPECT_NE(log.find("{\"ts\":"), std::string::npos) << "json format from the file: " << log;
  EXPECT_EQ(log.find("\"level\":\"debug\""), std::string::npos) << "the flag's info level wins";
  fs::remove_all(dir);
}

TEST(cli, the_client_speaks_csi_to_a_running_standalone) {
  running_process proc{{}};
  ASSERT_TRUE(proc.wait_ready()) << proc.log();
  EXPECT_TRUE(fs::is_socket(proc.dir / "csi.sock"));
  auto list = run({"volume", "list", "--endpoint", proc.endpoint()});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("0 volume(s)"), std::string::npos) << list.out;
  // No volume group is managed: a create is refused with CSI's code, named.
  auto create = run({"volume", "create", "pvc-1", "--size", "1Gi", "--endpoint", proc.endpoint()});
  EXPECT_EQ(create.exit_code, 1);
  EXPECT_NE(create.err.find("CreateVolume failed: RESOURCE_EXHAUSTED"), std::string::npos)
    << create.err;
  auto get = run({"volume", "get", "pvc-404", "--endpoint", proc.endpoint()});
  EXPECT_EQ(get.exit_code, 1);
  EXPECT_NE(get.err.find("NOT_FOUND"), std::string::npos) << get.err;
  auto bad = run({"volume", "create", "pvc-1", "--size", "lots", "--endpoint", proc.endpoint()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("lots"), std::string::npos) << bad.err;
  auto verb = run({"snapshot", "rename", "x", "--endpoint", proc.endpoint()});
  EXPECT_EQ(verb.exit_code, 2);
  ASSERT_TRUE(proc.signal(SIGTERM));
  EXPECT_EQ(proc.wait_exit(30s), 0) << proc.log();
  EXPECT_FALSE(fs::exists(proc.dir / "csi.sock")) << "the socket is removed at stop";
}

TEST(cli, node_reports_its_node_local_storage_to_the_api_server) {
  test::fake_apiserver api;
  auto dir = fs::temp_directory_path() / ("olocal-kubeconfig-" + std::to_string(::getpid()));
  write_kubeconfig(dir / "config", api.base_url());
  running_process proc{{"--kubeconfig", (dir / "config").string(), "--report-interval", "100ms"},
                       "node"};
  ASSERT_TRUE(proc.wait_ready()) << proc.log();
  ASSERT_TRUE(test::eventually([&] {
    auto nls = api.get("nodelocalstorages", "", "cli-node");
    return nls && nls->contains("status");
  }))
    << proc.log();
  kube::object nls{*api.get("nodelocalstorages", "", "cli-node")};
  EXPECT_EQ(nls.string_at("spec.nodeName"), "cli-node");
  EXPECT_EQ(nls.string_at("status.nodeStorageInfo.phase"), "Running");
  auto actors = test::http_get(proc.port, "/admin/actors");
  EXPECT_NE(actors.body.find("node-reporter"), std::string::npos) << actors.body;
  // Every actor answers the admin endpoint (the IO-limit Event relay too).
  auto listed = boost::json::parse(actors.body).as_object();
  bool relay = false;
  for (auto& a : listed.at("actors").as_array()) {
    auto& o = a.as_object();
    EXPECT_TRUE(o.at("responsive").as_bool()) << o.at("name").as_string();
    relay = relay || o.at("name").as_string() == "io-limit-events";
  }
  EXPECT_TRUE(relay) << actors.body;
  ASSERT_TRUE(proc.signal(SIGTERM));
  EXPECT_EQ(proc.wait_exit(30s), 0) << proc.log();
  fs::remove_all(dir);
}

TEST(cli, node_without_a_reachable_configuration_names_the_problem) {
  auto r = run(
    {"node", "--kubeconfig", "/nonexistent/kubeconfig", "--csi-endpoint", "", "--http-port", "0"});
  EXPECT_EQ(r.exit_code, 2) << "a configuration error";
  EXPECT_NE(r.err.find("/nonexistent/kubeconfig"), std::string::npos) << r.err;
}

TEST(cli, cluster_mode_without_agent_certificates_names_what_is_missing) {
  auto dir = fs::temp_directory_path() / ("olocal-agent-" + std::to_string(::getpid()));
  write_kubeconfig(dir / "config", "http://127.0.0.1:1");
  fs::create_directories(dir / "sys" / "block");
  auto node = run({"node", "--kubeconfig", (dir / "config").string(), "--csi-endpoint", "",
                   "--http-port", "0", "--sysfs", (dir / "sys").string(), "--state-dir",
                   (dir / "state").string(), "--agent-address", "127.0.0.1:0"});
  EXPECT_EQ(node.exit_code, 2) << node.err;
  EXPECT_NE(node.err.find("--agent-ca"), std::string::npos) << node.err;
  auto controller =
    run({"controller", "--kubeconfig", (dir / "config").string(), "--leader-elect=false",
         "--http-port", "0", "--csi-endpoint", "unix://" + (dir / "csi.sock").string(),
         "--agent-ca", (dir / "missing-ca.pem").string()});
  EXPECT_EQ(controller.exit_code, 2) << controller.err;
  EXPECT_NE(controller.err.find("missing-ca.pem"), std::string::npos) << controller.err;
  fs::remove_all(dir);
}

TEST(cli, controller_writes_node_specs_from_the_init_config_as_the_leader) {
  test::fake_apiserver api;
  for (auto [name, role] : {std::pair{"n1", "worker"}, {"n2", "master"}})
    api.put("nodes",
            boost::json::object{{"apiVersion", "v1"},
                                {"kind", "Node"},
                                {"metadata", {{"name", name}, {"labels", {{"role", role}}}}}});
  api.put("nodelocalstorageinitconfigs",
          boost::json::parse(R"({"apiVersion":"csi.aliyun.com/v1alpha1",
            "kind":"NodeLocalStorageInitConfig","metadata":{"name":"open-local"},
            "spec":{"globalConfig":{"listConfig":{"vgs":{"include":["open-local-pool-[0-9]+"]}}},
                    "nodesConfig":[{"selector":{"matchLabels":{"role":"master"}},
                      "listConfig":{"vgs":{"include":["master-pool"]}}}]}})")
            .as_object());
  auto dir = fs::temp_directory_path() / ("olocal-ctl-" + std::to_string(::getpid()));
  write_kubeconfig(dir / "config", api.base_url());
  running_process proc{{"--kubeconfig", (dir / "config").string()}, "controller"};
  ASSERT_TRUE(proc.wait_ready()) << proc.log();
  auto include_of = [&](const std::string& node) {
    auto nls = api.get("nodelocalstorages", "", node);
    if (!nls)
      return std::string{};
    kube::object o{*nls};
    auto* inc = o.at_path("spec.listConfig.vgs.include");
    return inc != nullptr && inc->is_array() && !inc->as_array().empty()
             ? std::string{inc->as_array()[0].as_string()}
             : std::string{};
  };
  ASSERT_TRUE(test::eventually([&] {
    return include_of("n1") == "open-local-pool-[0-9]+" && include_of("n2") == "master-pool";
  }))
    << proc.log();
  auto lease = api.get("leases", "kube-system", "open-local-controller");
  ASSERT_TRUE(lease);
  EXPECT_EQ(kube::object{*lease}.string_at("spec.holderIdentity").rfind("cli-node_", 0), 0u);
  ASSERT_TRUE(proc.signal(SIGTERM));
  EXPECT_EQ(proc.wait_exit(30s), 0) << proc.log();
  auto released = api.get("leases", "kube-system", "open-local-controller");
  ASSERT_TRUE(released);
  EXPECT_EQ(kube::object{*released}.string_at("spec.holderIdentity"), "")
    << "the lease is released at a clean stop";
  fs::remove_all(dir);
}

namespace {

/// A TCP port that was free a moment ago (the extender's --port takes no 0).
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

boost::json::object nls_with_pool(const std::string& node, const std::string& allocatable) {
  return boost::json::parse(R"({"apiVersion":"csi.aliyun.com/v1alpha1","kind":"NodeLocalStorage",)"
                            R"("metadata":{"name":")" +
                            node + R"("},"spec":{"nodeName":")" + node +
                            R"("},"status":{"nodeStorageInfo":{"volumeGroups":[{"name":"pool0",)"
                            R"("total":)" +
                            allocatable + R"(,"available":)" + allocatable + R"(,"allocatable":)" +
                            allocatable +
                            R"(}]},"filteredStorageInfo":{"volumeGroups":["pool0"]}}})")
    .as_object();
}

} // namespace

TEST(cli, scheduler_answers_kube_schedulers_extender_calls_from_the_cluster_view) {
  test::fake_apiserver api;
  for (auto node : {"n1", "n2"})
    api.put("nodes", boost::json::parse(R"({"apiVersion":"v1","kind":"Node","metadata":)"
                                        R"({"name":")" +
                                        std::string{node} + R"("}})")
                       .as_object());
  api.put("nodelocalstorages", nls_with_pool("n1", "10737418240"));
  api.put("nodelocalstorages", nls_with_pool("n2", "1073741824"));
  api.put("storageclasses",
          boost::json::parse(R"({"apiVersion":"storage.k8s.io/v1","kind":"StorageClass",)"
                             R"("metadata":{"name":"open-local-lvm"},)"
                             R"("provisioner":"local.csi.aliyun.com",)"
                             R"("parameters":{"volumeType":"LVM"},)"
                             R"("volumeBindingMode":"WaitForFirstConsumer"})")
            .as_object());
  api.put("persistentvolumeclaims",
          boost::json::parse(R"({"apiVersion":"v1","kind":"PersistentVolumeClaim",)"
                             R"("metadata":{"name":"data","namespace":"default"},)"
                             R"("spec":{"storageClassName":"open-local-lvm",)"
                             R"("accessModes":["ReadWriteOnce"],)"
                             R"("resources":{"requests":{"storage":"2Gi"}}},)"
                             R"("status":{"phase":"Pending"}})")
            .as_object());
  std::string pod = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-0",)"
                    R"("namespace":"default","uid":"uid-web-0"},"spec":{"containers":)"
                    R"([{"name":"c","image":"nginx"}],"volumes":[{"name":"data",)"
                    R"("persistentVolumeClaim":{"claimName":"data"}}]}})";
  api.put("pods", boost::json::parse(pod).as_object());

  auto dir = fs::temp_directory_path() / ("olocal-sched-" + std::to_string(::getpid()));
  write_kubeconfig(dir / "config", api.base_url());
  auto port = free_port();
  running_process proc{{"--kubeconfig", (dir / "config").string(), "--address", "127.0.0.1",
                        "--port", std::to_string(port), "--publish-capacity",
                        "--capacity-namespace", "open-local", "--capacity-interval", "100ms"},
                       "scheduler"};
  ASSERT_TRUE(proc.wait_ready()) << proc.log();
  ASSERT_TRUE(test::eventually([&] { return test::http_get(port, "/readyz").status == 200; }))
    << proc.log();

  auto filter = test::http_request(port, "POST", "/scheduler/predicates", {},
                                   R"({"pod":)" + pod + R"(,"nodenames":["n1","n2","n3"]})");
  ASSERT_EQ(filter.status, 200) << filter.body;
  auto result = boost::json::parse(filter.body).as_object();
  EXPECT_EQ(boost::json::serialize(result.at("nodenames")), R"(["n1"])") << filter.body;
  auto& failed = result.at("failedNodes").as_object();
  EXPECT_TRUE(failed.contains("n2")) << filter.body;
  EXPECT_TRUE(failed.contains("n3")) << "an unknown node is failed with a reason";

  auto scores = test::http_request(port, "POST", "/scheduler/priorities", {},
                                   R"({"pod":)" + pod + R"(,"nodenames":["n2","n1"]})");
  ASSERT_EQ(scores.status, 200) << scores.body;
  auto list = boost::json::parse(scores.body).as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].as_object().at("host").as_string(), "n2");
  EXPECT_EQ(list[0].as_object().at("score").as_int64(), 0);
  EXPECT_EQ(list[1].as_object().at("score").as_int64(), 2) << "binpack: 2 of 10 GiB";

  auto reserved = test::http_request(port, "POST",
                                     "/apis/scheduling/default/persistentvolumeclaims/data"
                                     "?nodeName=n1&volumeType=LVM");
  ASSERT_EQ(reserved.status, 200) << reserved.body;
  auto r = boost::json::parse(reserved.body).as_object();
  EXPECT_EQ(r.at("node").as_string(), "n1");
  EXPECT_EQ(r.at("vgName").as_string(), "pool0");
  EXPECT_EQ(r.at("volumeType").as_string(), "LVM");
  auto missing =
    test::http_request(port, "POST", "/apis/scheduling/default/persistentvolumeclaims/data");
  EXPECT_EQ(missing.status, 400) << "nodeName is required, with a clear error";

  // The reservation is charged: visible in the cache and the metrics.
  ASSERT_TRUE(test::eventually([&] {
    return test::http_get(port, "/metrics")
             .body.find(R"(local_volume_group_used{nodename="n1",vgname="pool0"} 2147483648)") !=
           std::string::npos;
  }))
    << test::http_get(port, "/metrics").body;
  auto cached = test::http_request(port, "POST", "/cache?nodeName=n1");
  EXPECT_EQ(cached.status, 200);
  EXPECT_NE(cached.body.find("2147483648"), std::string::npos) << cached.body;
  EXPECT_EQ(test::http_get(port, "/cache?nodeName=ghost").status, 400);
  EXPECT_EQ(test::http_get(port, "/version").status, 200);

  // The alternative to the extender: CSIStorageCapacity per node and class,
  // what is left after the reservation.
  auto capacity_of = [&](const std::string& node) -> int64_t {
    for (auto& o : api.list("csistoragecapacities", "open-local")) {
      kube::object c{o};
      auto labels = c.labels();
      if (labels["capacity.csi.aliyun.com/node"] == node &&
          c.string_at("storageClassName") == "open-local-lvm") {
        auto max = c.string_at("maximumVolumeSize");
        return max.empty() ? -1 : std::stoll(max);
      }
    }
    return -1;
  };
  EXPECT_TRUE(test::eventually(
    [&] { return capacity_of("n1") == 8589934592 && capacity_of("n2") == 1073741824; }))
    << capacity_of("n1") << " " << capacity_of("n2");

  ASSERT_TRUE(proc.signal(SIGTERM));
  EXPECT_EQ(proc.wait_exit(30s), 0) << proc.log();
  fs::remove_all(dir);
}
