#include "actors/node/io_limit_actor.hpp"
#include "actors/node/io_limits.hpp"

#include "actors/core/errc.hpp"
#include "tests/support/actor_fixture.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json/parse.hpp>

#include <fstream>
#include <sstream>
#include <sys/sysmacros.h>

using namespace olocal;
using namespace olocal::io_limits;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in{p};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(io_limits, limit_from_context) {
  struct row {
    param_map ctx;
    io_limit want;
    bool ok = true;
  };
  std::vector<row> rows = {
    {{}, {}},
    {{{"iops", "100"}}, {0, 0, 100, 100}},
    {{{"bps", "1Mi"}}, {1 << 20, 1 << 20, 0, 0}},
    {{{"bps", "1Mi"}, {"writeBps", "2M"}}, {1 << 20, 2'000'000, 0, 0}},
    {{{"readIops", "5"}, {"writeIops", "7"}, {"readBps", "10"}}, {10, 0, 5, 7}},
    {{{"iops", "ten"}}, {}, false},
    {{{"bps", "-1"}}, {}, false},
    {{{"writeIops", "99999999999999999999999"}}, {}, false},
  };
  for (auto& r : rows) {
    auto got = limit_from_context(r.ctx);
    ASSERT_EQ(static_cast<bool>(got), r.ok);
    if (r.ok)
      EXPECT_EQ(*got, r.want);
    else
      EXPECT_EQ(code_of(got.error()), errc::invalid_argument);
  }
}

TEST(io_limits, device_number) {
  EXPECT_EQ(device_number(makedev(7, 300)), "7:300");
  EXPECT_EQ(device_number(makedev(259, 65536)), "259:65536");
  EXPECT_EQ(device_number(makedev(253, 0)), "253:0");
  EXPECT_EQ(device_number(makedev(8, 255)), "8:255");
  EXPECT_EQ(code_of(block_device_number("/dev/null").error()), errc::invalid_argument);
  EXPECT_EQ(code_of(block_device_number("/nonexistent/dev").error()), errc::not_found);
}

TEST(io_limits, pod_uid_of_target) {
  std::vector<std::pair<std::string, std::string>> rows = {
    {"/var/lib/kubelet/pods/1a-2b/volumes/kubernetes.io~csi/pv1/mount", "1a-2b"},
    {"/data/kubelet/pods/abc/volumes/kubernetes.io~csi/pv1/mount", "abc"},
    {"/var/lib/kubelet/plugins/kubernetes.io/csi/volumeDevices/publish/pv1/u-1", "u-1"},
    {"/opt/k/plugins/kubernetes.io/csi/volumeDevices/publish/pv1/u-2", "u-2"},
    {"/mnt/data/target", ""},
    {"/var/lib/kubelet/pods", ""},
    {"", ""},
  };
  for (auto& [path, uid] : rows)
    EXPECT_EQ(pod_uid_of_target(path), uid) << path;
}

TEST(io_limits, pod_cgroups_every_driver_and_qos) {
  test::temp_dir tmp{"olocal-cg"};
  auto uid = std::string{"12ab-34cd"};
  std::vector<std::string> rows = {
    "kubepods/pod12ab-34cd",
    "kubepods/burstable/pod12ab-34cd",
    "kubepods/besteffort/pod12ab-34cd",
    "kubepods.slice/kubepods-pod12ab_34cd.slice",
    "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12ab_34cd.slice",
    "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12ab_34cd.slice",
    "blkio/kubepods/burstable/pod12ab-34cd",
    // kubelet --cgroup-root elsewhere (found by the bounded search)
    "kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
    "kubelet-kubepods-besteffort-pod12ab_34cd.slice",
  };
  for (auto& rel : rows) {
    test::temp_dir root{"olocal-cg"};
    fs::create_directories(root / rel);
    fs::create_directories(root / "kubepods/podother/c1"); // another pod
    auto search = rel.rfind("blkio/", 0) == 0 ? root.path() / "blkio" : root.path();
    auto found = pod_cgroups(search, uid);
    ASSERT_EQ(found.size(), 1u) << rel;
    EXPECT_EQ(found[0], root / rel);
    EXPECT_TRUE(pod_cgroups(search, "nope").empty());
  }
  // Deeper than 4 levels is not searched.
  test::temp_dir deep{"olocal-cg"};
  fs::create_directories(deep / "a/b/c/d/pod12ab-34cd");
  EXPECT_TRUE(pod_cgroups(deep.path(), uid).empty());
  EXPECT_TRUE(pod_cgroups(deep.path(), "").empty());
}

TEST(io_limits, rendering_and_parsing) {
  EXPECT_EQ(io_max_line("7:300", {1048576, 0, 100, 0}),
            "7:300 rbps=1048576 wbps=max riops=100 wiops=max");
  EXPECT_EQ(io_max_line("7:300", {}), "7:300 rbps=max wbps=max riops=max wiops=max");
  auto m = parse_io_max("8:0 rbps=1 wbps=max riops=max wiops=4\n"
                        "7:300 rbps=5 wbps=max riops=max wiops=max\n"
                        "7:300 rbps=max wbps=max riops=max wiops=max\n"
                        "259:65536 wbps=9\n");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m["8:0"], (io_limit{1, 0, 0, 4}));
  EXPECT_EQ(m["259:65536"], (io_limit{0, 9, 0, 0}));
  EXPECT_EQ(v1_line("7:300", 5), "7:300 5");
  auto v = parse_v1("8:0 10\n7:300 5\n7:300 0\nbogus\n");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v["8:0"], 10u);
  EXPECT_EQ(v1_files().size(), 4u);
}

TEST(io_limits, cgroups_to_write) {
  test::temp_dir root{"olocal-cg"};
  fs::create_directories(root / "pod/c1");
  fs::create_directories(root / "pod/c2/x");
  EXPECT_EQ(cgroups_to_write(root / "pod", cgroup_mode::v2), std::vector<fs::path>{root / "pod"});
  auto v1 = cgroups_to_write(root / "pod", cgroup_mode::v1);
  EXPECT_EQ(
    v1, (std::vector<fs::path>{root / "pod", root / "pod/c1", root / "pod/c2", root / "pod/c2/x"}));
  EXPECT_FALSE(named_cgroup(root.path(), "a/../b"));
  EXPECT_EQ(*named_cgroup(root.path(), "/system.slice/x.service"), root / "system.slice/x.service");
}

// -- the actor on a fake cgroup tree --------------------------------------------------

const std::string uid = "5f1e-77aa";
const dev_t dev = makedev(7, 300);

/// A cgroup directory with the files the kernel would show.
void make_cgroup(const fs::path& dir, cgroup_mode mode) {
  fs::create_directories(dir);
  if (mode == cgroup_mode::v2)
    std::ofstream{dir / "io.max"};
  else
    for (auto& f : v1_files())
      std::ofstream{dir / std::string{f.name}};
}

struct io_actor_test : test::actor_fixture {
  test::temp_dir root{"olocal-cgroot"};
  std::map<std::string, uint64_t> errors;
  std::map<std::string, uint64_t> in_force;
  io_limit_actor actor;
  std::string state_file;   ///< "" = memory only
  bool device_there = true; ///< what resolve_device finds for /dev/vg/lv
  std::vector<std::pair<std::string, std::string>> not_in_force; ///< (pod, error) at reconciles

  io_limit_options options(cgroup_mode mode, std::string parent = {}) {
    if (mode == cgroup_mode::v2)
      std::ofstream{root / "cgroup.controllers"} << "io memory\n";
    io_limit_options o;
    o.cgroup_root = root.path().string();
    o.detached = false;
    o.standalone_parent = std::move(parent);
    o.state_file = state_file;
    o.resolve_device = [this](const std::string& path) -> caf::expected<dev_t> {
      if (path == "/dev/vg/lv" && device_there)
        return dev;
      return make_error(errc::not_found, "device " + path + " is missing");
    };
    o.on_error = [this](std::string_view reason) { ++errors[std::string{reason}]; };
    o.on_in_force = [this](const std::map<std::string, uint64_t>& n) { in_force = n; };
    o.on_not_in_force = [this](const set_io_limit& r, const std::string& error) {
      not_in_force.emplace_back(r.pod_uid, error);
    };
    return o;
  }

  void start(cgroup_mode mode, std::string parent = {}) {
    auto a = spawn_io_limit_actor(sys, options(mode, std::move(parent)));
    ASSERT_TRUE(a) << render(a.error());
    actor = *a;
    run();
  }

  /// The node process stops (its actor with it).
  void stop() {
    anon_send_exit(actor, caf::exit_reason::user_shutdown);
    actor = nullptr;
    run();
  }

  ~io_actor_test() override {
    if (actor)
      anon_send_exit(actor, caf::exit_reason::user_shutdown);
    run();
  }

  set_io_limit req(const std::string& pod = uid) {
    return set_io_limit{
      "vol1",       "/data/kubelet/pods/" + pod + "/volumes/kubernetes.io~csi/vol1/mount",
      "/dev/vg/lv", pod,
      "",           io_limit{1048576, 2097152, 100, 0}};
  }
};

TEST_F(io_actor_test, v2_every_layout_set_and_clear) {
  start(cgroup_mode::v2);
  for (auto rel :
       {"kubepods/pod5f1e-77aa", "kubepods/burstable/pod5f1e-77aa",
        "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod5f1e_77aa.slice",
        "kubepods.slice/kubepods-pod5f1e_77aa.slice"}) {
    fs::remove_all(root / "kubepods");
    fs::remove_all(root / "kubepods.slice");
    make_cgroup(root / rel, cgroup_mode::v2);
    auto got = request<std::vector<std::string>>(actor, req());
    ASSERT_TRUE(got) << render(got.error());
    EXPECT_EQ(*got, std::vector<std::string>{(root / rel).string()});
    EXPECT_EQ(slurp(root / rel / "io.max"),
              "7:300 rbps=1048576 wbps=2097152 riops=100 wiops=max\n");
    EXPECT_EQ(in_force["read_bps"], 1u);
    EXPECT_EQ(in_force["write_iops"], 0u);
    auto cleared = request<bool>(actor, clear_io_limit{"vol1", req().target_path});
    ASSERT_TRUE(cleared);
    EXPECT_TRUE(*cleared);
    EXPECT_TRUE(parse_io_max(slurp(root / rel / "io.max")).empty());
    EXPECT_EQ(in_force["read_bps"], 0u);
  }
  auto again = request<bool>(actor, clear_io_limit{"vol1", req().target_path});
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
}

TEST_F(io_actor_test, v1_pod_and_containers_then_new_container_at_tick) {
  start(cgroup_mode::v1);
  auto pod =
    root / "blkio/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5f1e_77aa.slice";
  make_cgroup(pod, cgroup_mode::v1);
  make_cgroup(pod / "cri-containerd-a.scope", cgroup_mode::v1);
  auto got = request<std::vector<std::string>>(actor, req());
  ASSERT_TRUE(got) << render(got.error());
  EXPECT_EQ(got->size(), 2u);
  for (auto dir : {pod, pod / "cri-containerd-a.scope"}) {
    EXPECT_EQ(slurp(dir / "blkio.throttle.read_bps_device"), "7:300 1048576\n");
    EXPECT_EQ(slurp(dir / "blkio.throttle.write_bps_device"), "7:300 2097152\n");
    EXPECT_EQ(slurp(dir / "blkio.throttle.read_iops_device"), "7:300 100\n");
    EXPECT_EQ(slurp(dir / "blkio.throttle.write_iops_device"), "");
  }
  // A new container: limited at the next reconcile.
  make_cgroup(pod / "cri-containerd-b.scope", cgroup_mode::v1);
  advance(10s);
  EXPECT_EQ(slurp(pod / "cri-containerd-b.scope/blkio.throttle.read_iops_device"), "7:300 100\n");
  // Nothing rewritten where the limit already holds.
  EXPECT_EQ(slurp(pod / "blkio.throttle.read_iops_device"), "7:300 100\n");
  auto cleared = request<bool>(actor, clear_io_limit{"vol1", req().target_path});
  ASSERT_TRUE(cleared);
  EXPECT_EQ(slurp(pod / "cri-containerd-b.scope/blkio.throttle.read_bps_device"),
            "7:300 1048576\n7:300 0\n");
  EXPECT_TRUE(read_limit(pod, cgroup_mode::v1, "7:300")->empty());
}

TEST_F(io_actor_test, recreated_cgroup_gets_the_limit_again) {
  start(cgroup_mode::v2);
  auto pod = root / "kubepods/besteffort/pod5f1e-77aa";
  make_cgroup(pod, cgroup_mode::v2);
  ASSERT_TRUE(request<std::vector<std::string>>(actor, req()));
  fs::remove_all(pod);
  make_cgroup(pod, cgroup_mode::v2); // recreated, empty
  EXPECT_EQ(slurp(pod / "io.max"), "");
  advance(10s);
  EXPECT_EQ(slurp(pod / "io.max"), "7:300 rbps=1048576 wbps=2097152 riops=100 wiops=max\n");
}

TEST_F(io_actor_test, missing_cgroup_is_an_error_naming_the_pod_and_counted) {
  start(cgroup_mode::v2);
  auto got = request<std::vector<std::string>>(actor, req());
  ASSERT_FALSE(got);
  EXPECT_EQ(code_of(got.error()), errc::not_found);
  EXPECT_NE(message_of(got.error()).find("no cgroup for pod " + uid), std::string::npos)
    << message_of(got.error());
  EXPECT_EQ(errors["no_cgroup"], 1u);
  EXPECT_TRUE(not_in_force.empty()) << "the failed publish reports it (kubelet's Event)";
  advance(10s); // still missing: counted again, and reported for an Event on the pod
  EXPECT_EQ(errors["no_cgroup"], 2u);
  ASSERT_EQ(not_in_force.size(), 1u);
  EXPECT_EQ(not_in_force[0].first, uid);
  EXPECT_NE(not_in_force[0].second.find("no cgroup for pod " + uid), std::string::npos)
    << not_in_force[0].second;
  // It appears: the next reconcile applies it.
  auto pod = root / "kubepods/pod5f1e-77aa";
  make_cgroup(pod, cgroup_mode::v2);
  advance(10s);
  EXPECT_EQ(parse_io_max(slurp(pod / "io.max"))["7:300"], req().limit);
  auto bad = req();
  bad.device = "/dev/none";
  EXPECT_EQ(code_of(request<std::vector<std::string>>(actor, bad).error()), errc::not_found);
  EXPECT_EQ(errors["bad_device"], 1u);
}

TEST_F(io_actor_test, standalone_explicit_cgroup_and_parent) {
  start(cgroup_mode::v2, "/open-local.slice");
  make_cgroup(root / "open-local.slice", cgroup_mode::v2);
  make_cgroup(root / "system.slice/app.service", cgroup_mode::v2);
  auto r = req("");
  r.target_path = "/mnt/app/data";
  r.cgroup = "/system.slice/app.service";
  auto got = request<std::vector<std::string>>(actor, r);
  ASSERT_TRUE(got) << render(got.error());
  EXPECT_EQ(parse_io_max(slurp(root / "system.slice/app.service/io.max")).size(), 1u);
  r.volume_id = "vol2";
  r.cgroup.clear();
  got = request<std::vector<std::string>>(actor, r);
  ASSERT_TRUE(got) << render(got.error());
  EXPECT_EQ(*got, std::vector<std::string>{(root / "open-local.slice").string()});
}

TEST_F(io_actor_test, inspect_shows_the_limits) {
  start(cgroup_mode::v2);
  make_cgroup(root / "kubepods/pod5f1e-77aa", cgroup_mode::v2);
  ASSERT_TRUE(request<std::vector<std::string>>(actor, req()));
  auto rep = request<actor_report>(actor, inspect_atom::value);
  ASSERT_TRUE(rep);
  auto doc = boost::json::parse(rep->state_json).as_object();
  EXPECT_EQ(doc["mode"].as_string(), "v2");
  auto& l = doc["limits"].as_array().at(0).as_object();
  EXPECT_EQ(l.at("volume").as_string(), "vol1");
  EXPECT_EQ(l.at("pod").as_string(), uid);
  EXPECT_EQ(l.at("deviceNumber").as_string(), "7:300");
  EXPECT_EQ(l.at("limit").as_object().at("readIops").as_int64(), 100);
  EXPECT_EQ(l.at("cgroups").as_array().size(), 1u);
  EXPECT_GT(l.at("appliedAtMs").as_int64(), 0);
  EXPECT_EQ(l.at("lastError").as_string(), "");
}

// -- kept across restarts ------------------------------------------------------------

TEST(io_limits, limits_file_round_trip) {
  std::vector<set_io_limit> in{
    {"vol1", "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/vol1/mount", "/dev/vg/vol1", "u1",
     "", io_limit{1, 2, 3, 4}},
    {"vol \"2\"", "/mnt/x", "/dev/vg/vol2", "", "/app.slice", io_limit{0, 8388608, 0, 0}}};
  auto text = limits_to_json(in);
  auto out = limits_from_json(text, "f.json");
  ASSERT_TRUE(out) << render(out.error());
  ASSERT_EQ(out->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ((*out)[i].volume_id, in[i].volume_id);
    EXPECT_EQ((*out)[i].target_path, in[i].target_path);
    EXPECT_EQ((*out)[i].device, in[i].device);
    EXPECT_EQ((*out)[i].pod_uid, in[i].pod_uid);
    EXPECT_EQ((*out)[i].cgroup, in[i].cgroup);
    EXPECT_EQ((*out)[i].limit, in[i].limit);
  }
  auto none = limits_from_json(limits_to_json({}), "f.json");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(io_limits, limits_file_errors_name_the_file_and_the_fault) {
  auto entry = [](std::string fields) {
    return R"({"version":1,"limits":[{"volume":"v","target":"/t","device":"/dev/d",)" + fields +
           "}]}";
  };
  struct row {
    std::string text;
    std::string says;
  };
  for (auto& [text, says] : std::vector<row>{
         {"{", "not valid JSON"},
         {"[]", "not a JSON object"},
         {R"({"version":2,"limits":[]})", "\"version\" must be 1"},
         {R"({"version":1})", "\"limits\" must be an array"},
         {R"({"version":1,"limits":[7]})", "limits[0] is not an object"},
         {R"({"version":1,"limits":[{"target":"/t","device":"/d","readBps":1}]})",
          "limits[0] has no \"volume\""},
         {entry(R"("readBps":-1)"), "limits[0].\"readBps\" is not a non-negative integer"},
         {entry(R"("pod":5,"readBps":1)"), "limits[0].\"pod\" is not a string"},
         {entry(R"("readBps":0)"), "limits[0] limits nothing"},
         {R"({"version":1,"limits":[{"volume":"v","target":"","device":"/d","readBps":1}]})",
          "must not be empty"},
         {R"({"version":1,"limits":[{"volume":"v","target":"/t","device":"/d","readBps":1},)"
          R"({"volume":"v","target":"/t","device":"/d","writeBps":1}]})",
          "volume v at /t is listed twice"},
       }) {
    auto got = limits_from_json(text, "/state/io-limits.json");
    ASSERT_FALSE(got) << text;
    EXPECT_EQ(code_of(got.error()), errc::parse_error) << text;
    auto msg = message_of(got.error());
    EXPECT_NE(msg.find("IO limits file /state/io-limits.json: "), std::string::npos) << msg;
    EXPECT_NE(msg.find(says), std::string::npos) << text << " -> " << msg;
  }
}

TEST_F(io_actor_test, limits_survive_a_restart_of_the_node) {
  state_file = (root / "state" / "io-limits.json").string();
  start(cgroup_mode::v2);
  auto pod = root / "kubepods/burstable/pod5f1e-77aa";
  make_cgroup(pod, cgroup_mode::v2);
  ASSERT_TRUE(request<std::vector<std::string>>(actor, req()));
  auto saved = limits_from_json(slurp(state_file), state_file);
  ASSERT_TRUE(saved) << render(saved.error());
  ASSERT_EQ(saved->size(), 1u);
  EXPECT_EQ(saved->front().limit, req().limit);
  EXPECT_EQ(saved->front().pod_uid, uid);
  stop();
  // While the node was down the pod's cgroup was recreated without limits.
  fs::remove_all(pod);
  make_cgroup(pod, cgroup_mode::v2);
  start(cgroup_mode::v2);
  // Restored at start, before any reconcile tick.
  EXPECT_EQ(slurp(pod / "io.max"), "7:300 rbps=1048576 wbps=2097152 riops=100 wiops=max\n");
  EXPECT_EQ(in_force["read_bps"], 1u);
  // The unpublish after the restart removes it, from the cgroup and the file.
  auto cleared = request<bool>(actor, clear_io_limit{"vol1", req().target_path});
  ASSERT_TRUE(cleared);
  EXPECT_TRUE(*cleared);
  EXPECT_TRUE(parse_io_max(slurp(pod / "io.max")).empty());
  EXPECT_TRUE(limits_from_json(slurp(state_file), state_file)->empty());
  stop();
  start(cgroup_mode::v2);
  auto rep = request<actor_report>(actor, inspect_atom::value);
  ASSERT_TRUE(rep);
  EXPECT_TRUE(boost::json::parse(rep->state_json).at("limits").as_array().empty());
  EXPECT_TRUE(errors.empty());
}

TEST_F(io_actor_test, a_restored_limit_waits_for_its_device) {
  state_file = (root / "io-limits.json").string();
  start(cgroup_mode::v2);
  auto pod = root / "kubepods/pod5f1e-77aa";
  make_cgroup(pod, cgroup_mode::v2);
  ASSERT_TRUE(request<std::vector<std::string>>(actor, req()));
  stop();
  fs::remove_all(pod);
  make_cgroup(pod, cgroup_mode::v2);
  device_there = false; // its volume group is not active yet
  start(cgroup_mode::v2);
  EXPECT_EQ(errors["bad_device"], 1u);
  EXPECT_EQ(slurp(pod / "io.max"), "");
  // Kept in the file and registered (a later unpublish finds it).
  EXPECT_EQ(limits_from_json(slurp(state_file), state_file)->size(), 1u);
  advance(10s); // still missing at a reconcile: reported for an Event on the pod
  ASSERT_EQ(not_in_force.size(), 1u);
  EXPECT_NE(not_in_force[0].second.find("/dev/vg/lv is missing"), std::string::npos);
  device_there = true;
  advance(10s);
  EXPECT_EQ(parse_io_max(slurp(pod / "io.max"))["7:300"], req().limit);
  EXPECT_EQ(not_in_force.size(), 1u);
  EXPECT_EQ(in_force["read_bps"], 1u);
}

TEST_F(io_actor_test, an_unreadable_limits_file_stops_the_start_and_is_kept) {
  state_file = (root / "io-limits.json").string();
  std::ofstream{state_file} << "{\"version\":1,\"limits\":[{\"volume\":";
  auto a = spawn_io_limit_actor(sys, options(cgroup_mode::v2));
  ASSERT_FALSE(a);
  EXPECT_EQ(code_of(a.error()), errc::parse_error);
  auto msg = message_of(a.error());
  EXPECT_NE(msg.find(state_file), std::string::npos) << msg;
  EXPECT_NE(msg.find("repair or move the file"), std::string::npos) << msg;
  EXPECT_EQ(slurp(state_file), "{\"version\":1,\"limits\":[{\"volume\":");
}

TEST_F(io_actor_test, a_limit_that_cannot_be_saved_is_still_applied_and_counted) {
  state_file = (root / "state" / "io-limits.json").string();
  start(cgroup_mode::v2);
  std::ofstream{root / "state"} << "x"; // the state directory cannot be made
  auto pod = root / "kubepods/pod5f1e-77aa";
  make_cgroup(pod, cgroup_mode::v2);
  auto got = request<std::vector<std::string>>(actor, req());
  ASSERT_TRUE(got) << render(got.error());
  EXPECT_EQ(parse_io_max(slurp(pod / "io.max"))["7:300"], req().limit);
  EXPECT_EQ(errors["persist_failed"], 1u);
  auto rep = request<actor_report>(actor, inspect_atom::value);
  ASSERT_TRUE(rep);
  EXPECT_NE(rep->last_error.find("write IO limits file " + state_file), std::string::npos)
    << rep->last_error;
}

} // namespace
