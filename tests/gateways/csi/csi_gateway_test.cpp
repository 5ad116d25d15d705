// The CSI gateway end to end: a real gRPC server on a unix socket in a
// temporary directory, a generated client stub, and real actors (node
// supervisor, volume actors, volume manager) on a real scheduler over the
// in-memory LVM and filesystem fakes. Every step waits on a gRPC answer; no
// sleeps. The test reads the fakes' state only between calls: every actor
// involved has answered by then (the answer travels through the actors'
// mailboxes and gRPC, which order the memory accesses).

#include "gateways/csi/csi_gateway.hpp"

#include "actors/cluster/volume_manager.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/log.hpp"
#include "actors/core/runtime.hpp"
#include "actors/node/io_limit_actor.hpp"
#include "actors/node/io_limits.hpp"
#include "actors/node/node_supervisor.hpp"
#include "tests/support/fake_fs.hpp"
#include "tests/support/fake_lvm.hpp"
#include "tests/support/temp_dir.hpp"

#include "csi/v1/csi.grpc.pb.h"

#include <caf/all.hpp>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <gtest/gtest.h>

#include <sys/sysmacros.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

using namespace olocal;
using namespace std::chrono_literals;

namespace pb = ::csi::v1;

namespace {

constexpr uint64_t mib = 1ull << 20;
constexpr uint64_t gib = 1ull << 30;

using access_mode = pb::VolumeCapability::AccessMode;

pb::VolumeCapability mount_cap(access_mode::Mode mode = access_mode::SINGLE_NODE_WRITER,
                               std::string fstype = "ext4") {
  pb::VolumeCapability cap;
  cap.mutable_mount()->set_fs_type(std::move(fstype));
  cap.mutable_access_mode()->set_mode(mode);
  return cap;
}

pb::VolumeCapability block_cap() {
  pb::VolumeCapability cap;
  cap.mutable_block();
  cap.mutable_access_mode()->set_mode(access_mode::SINGLE_NODE_WRITER);
  return cap;
}

/// Runs one unary call with a deadline (a hung gateway fails the test
/// instead of hanging it).
template <class Call>
grpc::Status call(Call f) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 60s);
  return f(&ctx);
}

/// A unix socket file nobody listens on (what a crashed process leaves).
void make_stale_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(addr.sun_path));
  std::copy(path.begin(), path.end(), addr.sun_path);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
}

class csi_gateway_test : public ::testing::Test {
protected:
  void SetUp() override {
    configure(cfg, runtime_options{2});
    sys = std::make_unique<caf::actor_system>(cfg);
    node_setup setup;
    setup.volume_groups = {"vg0"};
    setup.vg.rescan_interval = 0ms;
    setup.vg.watch_interval = 0ms;
    setup.reconcile_interval = 0ms;
    setup.fs_runners = 1; // one fake fs actor: the fake's state is not shared across threads
    setup.make_lvm_runner = [this](caf::actor_system& s) -> lvm_runner_actor {
      auto a = test::spawn_fake_lvm(s, lvm);
      std::lock_guard<std::mutex> guard{fakes_mutex};
      fakes.push_back(caf::actor_cast<caf::actor>(a));
      return a;
    };
    setup.make_fs_runner = [this](caf::actor_system& s) -> fs_runner_actor {
      auto a = test::spawn_fake_fs(s, fs);
      std::lock_guard<std::mutex> guard{fakes_mutex};
      fakes.push_back(caf::actor_cast<caf::actor>(a));
      fs_actor = a;
      return a;
    };
    node = spawn_node_supervisor(*sys, setup);
    { // the first scan of the volume group is done when this answers
      caf::scoped_actor self{*sys};
      bool scanned = false;
      self->request(node, 30s, rescan_atom::value)
        .receive([&](uint64_t) { scanned = true; },
                 [&](caf::error& err) { ADD_FAILURE() << render(err); });
      ASSERT_TRUE(scanned);
    }
    manager = spawn_volume_manager(*sys, manager_setup{"node-1", node});

    kubelet = (dir / "kubelet").string();
    state_dir = (dir / "state").string();
    socket_path = (dir / "run" / "csi.sock").string();
    opts.endpoint = "unix://" + socket_path;
    opts.version = "test-1";
    opts.node_id = "node-1";
    opts.max_volumes = 100;
    opts.allowed_paths = {kubelet};
    opts.state_dir = state_dir;
    opts.call_timeout = 30s;
    // IO limits on a fake cgroup v2 tree of real files.
    cgroup_root = dir / "cgroup";
    test::temp_dir::write_to(cgroup_root / "cgroup.controllers", "io\n");
    io_limit_options io;
    io.cgroup_root = cgroup_root.string();
    io.reconcile_interval = 0ms;
    io.detached = false;
    io.resolve_device = [](const std::string&) -> caf::expected<dev_t> {
      return makedev(254, 300);
    };
    auto io_actor = spawn_io_limit_actor(*sys, io);
    ASSERT_TRUE(io_actor);
    io_limiter = *io_actor;
    opts.io_limits = io_limiter;
    auto gw = csi_gateway::start(*sys, manager, node, opts);
    ASSERT_TRUE(gw) << render(gw.error());
    gateway = std::move(*gw);
    channel = grpc::CreateChannel(opts.endpoint, grpc::InsecureChannelCredentials());
    identity = pb::Identity::NewStub(channel);
    controller = pb::Controller::NewStub(channel);
    node_stub = pb::Node::NewStub(channel);
  }

  void TearDown() override {
    // The gateway first (no call in flight afterwards), then the actors, then
    // the system: no actor handle may outlive it.
    if (gateway)
      gateway->stop(5s);
    gateway.reset();
    identity.reset();
    controller.reset();
    node_stub.reset();
    channel.reset();
    if (!sys)
      return;
    opts.io_limits = nullptr;
    if (io_limiter)
      caf::anon_send_exit(io_limiter, caf::exit_reason::user_shutdown);
    io_limiter = nullptr;
    if (manager)
      caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
    if (node)
      caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    {
      std::lock_guard<std::mutex> guard{fakes_mutex};
      for (auto& f : fakes)
        caf::anon_send_exit(f, caf::exit_reason::user_shutdown);
      fakes.clear();
      fs_actor = nullptr;
    }
    manager = nullptr;
    node = nullptr;
    sys->await_all_actors_done();
    sys.reset();
  }

  // -- helpers ---------------------------------------------------------------------

  std::string staging_of(const std::string& id) const {
    return kubelet + "/plugins/kubernetes.io/csi/pv/" + id + "/globalmount";
  }
  std::string target_of(const std::string& id, const std::string& pod = "pod-1") const {
    return kubelet + "/pods/" + pod + "/volumes/kubernetes.io~csi/" + id + "/mount";
  }

  grpc::Status create(const std::string& name, uint64_t bytes, pb::CreateVolumeResponse* resp,
                      pb::VolumeCapability cap = mount_cap(),
                      std::map<std::string, std::string> params = {}) {
    pb::CreateVolumeRequest req;
    req.set_name(name);
    req.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(bytes));
    *req.add_volume_capabilities() = std::move(cap);
    for (auto& [k, v] : params)
      (*req.mutable_parameters())[k] = v;
    return call([&](auto* c) { return controller->CreateVolume(c, req, resp); });
  }

  /// Creates a volume and makes its LV's device known to the fake filesystem
  /// (the fakes do not know about each other).
  void create_volume(const std::string& name, uint64_t bytes,
                     pb::VolumeCapability cap = mount_cap()) {
    pb::CreateVolumeResponse resp;
    auto st = create(name, bytes, &resp, std::move(cap));
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_TRUE(lvm->lvs.count(name));
    auto& lv = lvm->lvs[name];
    fs->add_device("/dev/vg0/" + name, lv.size_bytes, 254, lv.minor);
  }

  grpc::Status delete_volume(const std::string& id) {
    pb::DeleteVolumeRequest req;
    req.set_volume_id(id);
    pb::DeleteVolumeResponse resp;
    return call([&](auto* c) { return controller->DeleteVolume(c, req, &resp); });
  }

  grpc::Status stage(const std::string& id, const std::string& path,
                     pb::VolumeCapability cap = mount_cap()) {
    pb::NodeStageVolumeRequest req;
    req.set_volume_id(id);
    req.set_staging_target_path(path);
    *req.mutable_volume_capability() = std::move(cap);
    pb::NodeStageVolumeResponse resp;
    return call([&](auto* c) { return node_stub->NodeStageVolume(c, req, &resp); });
  }

  grpc::Status unstage(const std::string& id, const std::string& path) {
    pb::NodeUnstageVolumeRequest req;
    req.set_volume_id(id);
    req.set_staging_target_path(path);
    pb::NodeUnstageVolumeResponse resp;
    return call([&](auto* c) { return node_stub->NodeUnstageVolume(c, req, &resp); });
  }

  grpc::Status publish(const std::string& id, const std::string& staging, const std::string& target,
                       pb::VolumeCapability cap = mount_cap(),
                       std::map<std::string, std::string> context = {}, bool readonly = false) {
    pb::NodePublishVolumeRequest req;
    req.set_volume_id(id);
    req.set_staging_target_path(staging);
    req.set_target_path(target);
    req.set_readonly(readonly);
    *req.mutable_volume_capability() = std::move(cap);
    for (auto& [k, v] : context)
      (*req.mutable_volume_context())[k] = v;
    pb::NodePublishVolumeResponse resp;
    return call([&](auto* c) { return node_stub->NodePublishVolume(c, req, &resp); });
  }

  grpc::Status unpublish(const std::string& id, const std::string& target) {
    pb::NodeUnpublishVolumeRequest req;
    req.set_volume_id(id);
    req.set_target_path(target);
    pb::NodeUnpublishVolumeResponse resp;
    return call([&](auto* c) { return node_stub->NodeUnpublishVolume(c, req, &resp); });
  }

  grpc::Status stats(const std::string& id, const std::string& path,
                     pb::NodeGetVolumeStatsResponse* resp) {
    pb::NodeGetVolumeStatsRequest req;
    req.set_volume_id(id);
    req.set_volume_path(path);
    return call([&](auto* c) { return node_stub->NodeGetVolumeStats(c, req, resp); });
  }

  size_t lvm_runs(const std::string& program) const {
    return static_cast<size_t>(std::count_if(lvm->commands.begin(), lvm->commands.end(),
                                             [&](auto& argv) { return argv[0] == program; }));
  }

  test::temp_dir dir{"olocal-csi"};
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<test::fake_lvm_state> lvm = std::make_shared<test::fake_lvm_state>();
  std::shared_ptr<test::fake_fs_state> fs = std::make_shared<test::fake_fs_state>();
  std::mutex fakes_mutex;
  std::vector<caf::actor> fakes;
  test::fake_fs_actor fs_actor; ///< the one filesystem runner
  node_supervisor_actor node;
  volume_manager_actor manager;
  io_limit_actor io_limiter;
  std::filesystem::path cgroup_root;
  std::string kubelet;
  std::string state_dir;
  std::string socket_path;
  csi_options opts;
  std::unique_ptr<csi_gateway> gateway;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Identity::Stub> identity;
  std::unique_ptr<pb::Controller::Stub> controller;
  std::unique_ptr<pb::Node::Stub> node_stub;
};

void expect_code(const grpc::Status& st, grpc::StatusCode code, const std::string& mentions = {}) {
  EXPECT_EQ(st.error_code(), code) << st.error_message();
  if (!mentions.empty()) {
    EXPECT_NE(st.error_message().find(mentions), std::string::npos)
      << "\"" << st.error_message() << "\" does not mention " << mentions;
  }
}

} // namespace

TEST_F(csi_gateway_test, identity_probe_and_capabilities) {
  struct stat st {};
  ASSERT_EQ(::stat(socket_path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "only root's sidecars may talk to the driver";

  pb::GetPluginInfoResponse info;
  ASSERT_TRUE(call([&](auto* c) { return identity->GetPluginInfo(c, {}, &info); }).ok());
  EXPECT_EQ(info.name(), "local.csi.aliyun.com");
  EXPECT_EQ(info.vendor_version(), "test-1");

  pb::GetPluginCapabilitiesResponse caps;
  ASSERT_TRUE(call([&](auto* c) { return identity->GetPluginCapabilities(c, {}, &caps); }).ok());
  ASSERT_EQ(caps.capabilities_size(), 3);
  EXPECT_EQ(caps.capabilities(0).service().type(),
            pb::PluginCapability::Service::CONTROLLER_SERVICE);

  pb::ProbeResponse probe;
  ASSERT_TRUE(call([&](auto* c) { return identity->Probe(c, {}, &probe); }).ok());
  ASSERT_TRUE(probe.has_ready());
  EXPECT_FALSE(probe.ready().value()) << "not ready until set_ready";
  gateway->set_ready(true);
  ASSERT_TRUE(call([&](auto* c) { return identity->Probe(c, {}, &probe); }).ok());
  EXPECT_TRUE(probe.ready().value());

  pb::ControllerGetCapabilitiesResponse ctrl;
  ASSERT_TRUE(
    call([&](auto* c) { return controller->ControllerGetCapabilities(c, {}, &ctrl); }).ok());
  EXPECT_EQ(ctrl.capabilities_size(), 10);
  pb::NodeGetCapabilitiesResponse ncaps;
  ASSERT_TRUE(call([&](auto* c) { return node_stub->NodeGetCapabilities(c, {}, &ncaps); }).ok());
  EXPECT_EQ(ncaps.capabilities_size(), 5);
  pb::NodeGetInfoResponse ninfo;
  ASSERT_TRUE(call([&](auto* c) { return node_stub->NodeGetInfo(c, {}, &ninfo); }).ok());
  EXPECT_EQ(ninfo.node_id(), "node-1");
  EXPECT_EQ(ninfo.max_volumes_per_node(), 100);
  EXPECT_EQ(ninfo.accessible_topology().segments().at("kubernetes.io/hostname"), "node-1");

  pb::ControllerPublishVolumeResponse cp;
  expect_code(call([&](auto* c) { return controller->ControllerPublishVolume(c, {}, &cp); }),
              grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(gateway->calls(), 8u);

  gateway->stop(5s);
  EXPECT_FALSE(std::filesystem::exists(socket_path)) << "the socket goes with the gateway";
  EXPECT_EQ(gateway->calls(), 8u);
}

TEST_F(csi_gateway_test, create_volume_is_idempotent_and_refuses_bad_requests) {
  pb::CreateVolumeResponse v;
  auto st = create("pvc-1", 64 * mib, &v, mount_cap(), {{"csi.storage.k8s.io/pvc/name", "data"}});
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(v.volume().volume_id(), "pvc-1");
  EXPECT_EQ(v.volume().capacity_bytes(), static_cast<int64_t>(64 * mib));
  EXPECT_EQ(v.volume().volume_context().at("vgName"), "vg0");
  EXPECT_EQ(v.volume().volume_context().at("csi.storage.k8s.io/pvc/name"), "data");
  ASSERT_EQ(v.volume().accessible_topology_size(), 1);
  EXPECT_EQ(v.volume().accessible_topology(0).segments().at("kubernetes.io/hostname"), "node-1");
  pb::CreateVolumeResponse again;
  ASSERT_TRUE(create("pvc-1", 64 * mib, &again).ok());
  EXPECT_EQ(again.volume().volume_id(), "pvc-1");
  EXPECT_EQ(lvm_runs("lvcreate"), 1u) << "a repeated CreateVolume answers the volume it made";

  pb::CreateVolumeResponse r;
  expect_code(create("pvc-1", 128 * mib, &r), grpc::StatusCode::ALREADY_EXISTS);
  expect_code(create("", mib, &r), grpc::StatusCode::INVALID_ARGUMENT, "name is missing");
  expect_code(create("pvc/x", mib, &r), grpc::StatusCode::INVALID_ARGUMENT, "name");
  expect_code(create("pvc-x", mib, &r, mount_cap(access_mode::MULTI_NODE_MULTI_WRITER)),
              grpc::StatusCode::INVALID_ARGUMENT, "MULTI_NODE_MULTI_WRITER");
  expect_code(create("pvc-x", mib, &r, mount_cap(), {{"lvmType", "raid5"}}),
              grpc::StatusCode::INVALID_ARGUMENT, "lvmType");
  expect_code(create("pvc-x", 100 * gib, &r), grpc::StatusCode::RESOURCE_EXHAUSTED);
  pb::CreateVolumeRequest no_caps;
  no_caps.set_name("pvc-x");
  expect_code(call([&](auto* c) { return controller->CreateVolume(c, no_caps, &r); }),
              grpc::StatusCode::INVALID_ARGUMENT, "volume_capabilities is missing");
  pb::CreateVolumeRequest elsewhere;
  elsewhere.set_name("pvc-x");
  *elsewhere.add_volume_capabilities() = mount_cap();
  (*elsewhere.mutable_accessibility_requirements()
      ->add_requisite()
      ->mutable_segments())["kubernetes.io/hostname"] = "node-2";
  expect_code(call([&](auto* c) { return controller->CreateVolume(c, elsewhere, &r); }),
              grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(lvm_runs("lvcreate"), 1u) << "nothing made by a refused request";

  pb::ValidateVolumeCapabilitiesRequest val;
  val.set_volume_id("pvc-1");
  *val.add_volume_capabilities() = mount_cap();
  pb::ValidateVolumeCapabilitiesResponse ok;
  ASSERT_TRUE(
    call([&](auto* c) { return controller->ValidateVolumeCapabilities(c, val, &ok); }).ok());
  EXPECT_TRUE(ok.has_confirmed());
  *val.add_volume_capabilities() = mount_cap(access_mode::MULTI_NODE_READER_ONLY);
  pb::ValidateVolumeCapabilitiesResponse no;
  ASSERT_TRUE(
    call([&](auto* c) { return controller->ValidateVolumeCapabilities(c, val, &no); }).ok());
  EXPECT_FALSE(no.has_confirmed());
  EXPECT_NE(no.message().find("MULTI_NODE_READER_ONLY"), std::string::npos) << no.message();
  val.set_volume_id("pvc-unknown");
  expect_code(call([&](auto* c) { return controller->ValidateVolumeCapabilities(c, val, &no); }),
              grpc::StatusCode::NOT_FOUND);

  pb::ControllerGetVolumeRequest get;
  get.set_volume_id("pvc-1");
  pb::ControllerGetVolumeResponse got;
  ASSERT_TRUE(call([&](auto* c) { return controller->ControllerGetVolume(c, get, &got); }).ok());
  EXPECT_EQ(got.volume().volume_id(), "pvc-1");
  EXPECT_FALSE(got.status().volume_condition().abnormal());

  pb::GetCapacityResponse cap;
  ASSERT_TRUE(call([&](auto* c) { return controller->GetCapacity(c, {}, &cap); }).ok());
  EXPECT_EQ(static_cast<uint64_t>(cap.available_capacity()), lvm->free());

  ASSERT_TRUE(delete_volume("pvc-1").ok());
  EXPECT_FALSE(lvm->lvs.count("pvc-1"));
  EXPECT_TRUE(delete_volume("pvc-1").ok()) << "DeleteVolume is idempotent";
  expect_code(delete_volume(""), grpc::StatusCode::INVALID_ARGUMENT, "volume_id is missing");
}

TEST_F(csi_gateway_test, snapshots_expansion_and_listing) {
  for (auto id : {"pvc-a", "pvc-b", "pvc-c"}) {
    pb::CreateVolumeResponse v;
    ASSERT_TRUE(create(id, 64 * mib, &v).ok());
  }
  pb::ListVolumesRequest lv;
  lv.set_max_entries(2);
  pb::ListVolumesResponse page1;
  ASSERT_TRUE(call([&](auto* c) { return controller->ListVolumes(c, lv, &page1); }).ok());
  ASSERT_EQ(page1.entries_size(), 2);
  EXPECT_EQ(page1.entries(0).volume().volume_id(), "pvc-a");
  EXPECT_TRUE(page1.entries(0).status().has_volume_condition());
  ASSERT_FALSE(page1.next_token().empty());
  lv.set_starting_token(page1.next_token());
  pb::ListVolumesResponse page2;
  ASSERT_TRUE(call([&](auto* c) { return controller->ListVolumes(c, lv, &page2); }).ok());
  ASSERT_EQ(page2.entries_size(), 1);
  EXPECT_EQ(page2.entries(0).volume().volume_id(), "pvc-c");
  EXPECT_TRUE(page2.next_token().empty());
  lv.set_starting_token("not-a-token");
  pb::ListVolumesResponse bad;
  expect_code(call([&](auto* c) { return controller->ListVolumes(c, lv, &bad); }),
              grpc::StatusCode::ABORTED);

  pb::CreateSnapshotRequest snap;
  snap.set_name("snap-1");
  snap.set_source_volume_id("pvc-a");
  pb::CreateSnapshotResponse s;
  ASSERT_TRUE(call([&](auto* c) { return controller->CreateSnapshot(c, snap, &s); }).ok());
  EXPECT_EQ(s.snapshot().snapshot_id(), "snap-1");
  EXPECT_EQ(s.snapshot().source_volume_id(), "pvc-a");
  EXPECT_EQ(s.snapshot().size_bytes(), static_cast<int64_t>(64 * mib));
  EXPECT_TRUE(s.snapshot().ready_to_use());
  EXPECT_GT(s.snapshot().creation_time().seconds(), 0);
  pb::CreateSnapshotResponse s2;
  ASSERT_TRUE(call([&](auto* c) { return controller->CreateSnapshot(c, snap, &s2); }).ok());
  EXPECT_EQ(s2.snapshot().snapshot_id(), "snap-1");
  snap.set_source_volume_id("pvc-b");
  expect_code(call([&](auto* c) { return controller->CreateSnapshot(c, snap, &s2); }),
              grpc::StatusCode::ALREADY_EXISTS);
  snap.set_name("snap-2");
  snap.set_source_volume_id("pvc-zz");
  expect_code(call([&](auto* c) { return controller->CreateSnapshot(c, snap, &s2); }),
              grpc::StatusCode::NOT_FOUND);

  pb::ListSnapshotsRequest ls;
  pb::ListSnapshotsResponse all;
  ASSERT_TRUE(call([&](auto* c) { return controller->ListSnapshots(c, ls, &all); }).ok());
  ASSERT_EQ(all.entries_size(), 1);
  EXPECT_EQ(all.entries(0).snapshot().source_volume_id(), "pvc-a");
  ls.set_source_volume_id("pvc-b");
  pb::ListSnapshotsResponse none;
  ASSERT_TRUE(call([&](auto* c) { return controller->ListSnapshots(c, ls, &none); }).ok());
  EXPECT_EQ(none.entries_size(), 0);

  pb::DeleteSnapshotRequest del;
  del.set_snapshot_id("snap-1");
  pb::DeleteSnapshotResponse d;
  ASSERT_TRUE(call([&](auto* c) { return controller->DeleteSnapshot(c, del, &d); }).ok());
  EXPECT_FALSE(lvm->lvs.count("snap-1"));
  EXPECT_TRUE(call([&](auto* c) { return controller->DeleteSnapshot(c, del, &d); }).ok())
    << "DeleteSnapshot is idempotent";

  pb::ControllerExpandVolumeRequest ex;
  ex.set_volume_id("pvc-a");
  ex.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(128 * mib));
  pb::ControllerExpandVolumeResponse grown;
  ASSERT_TRUE(
    call([&](auto* c) { return controller->ControllerExpandVolume(c, ex, &grown); }).ok());
  EXPECT_EQ(grown.capacity_bytes(), static_cast<int64_t>(128 * mib));
  EXPECT_TRUE(grown.node_expansion_required());
  EXPECT_EQ(lvm->lvs["pvc-a"].size_bytes, 128 * mib);
  ex.set_volume_id("pvc-b");
  *ex.mutable_volume_capability() = block_cap();
  ASSERT_TRUE(
    call([&](auto* c) { return controller->ControllerExpandVolume(c, ex, &grown); }).ok());
  EXPECT_FALSE(grown.node_expansion_required()) << "a raw block volume needs no node step";
  ex.set_volume_id("pvc-zz");
  expect_code(call([&](auto* c) { return controller->ControllerExpandVolume(c, ex, &grown); }),
              grpc::StatusCode::NOT_FOUND);
  ex.clear_capacity_range();
  expect_code(call([&](auto* c) { return controller->ControllerExpandVolume(c, ex, &grown); }),
              grpc::StatusCode::INVALID_ARGUMENT, "capacity_range is missing");
}

TEST_F(csi_gateway_test, a_filesystem_volume_is_staged_published_measured_and_released) {
  create_volume("pvc-n", 64 * mib);
  auto staging = staging_of("pvc-n");
  auto target = target_of("pvc-n");
  ASSERT_TRUE(stage("pvc-n", staging).ok());
  auto* staged = fs->mount_at(staging);
  ASSERT_NE(staged, nullptr);
  EXPECT_EQ(staged->fstype, "ext4");
  EXPECT_EQ(staged->source, "/dev/vg0/pvc-n");
  EXPECT_TRUE(stage("pvc-n", staging).ok()) << "NodeStageVolume is idempotent";

  ASSERT_TRUE(publish("pvc-n", staging, target).ok());
  auto* published = fs->mount_at(target);
  ASSERT_NE(published, nullptr);
  EXPECT_FALSE(published->read_only);
  EXPECT_EQ(published->fstype, "ext4");
  auto ro_target = target_of("pvc-n", "pod-2");
  ASSERT_TRUE(publish("pvc-n", staging, ro_target, mount_cap(), {}, true).ok());
  ASSERT_NE(fs->mount_at(ro_target), nullptr);
  EXPECT_TRUE(fs->mount_at(ro_target)->read_only);

  pb::NodeGetVolumeStatsResponse usage;
  auto st = stats("pvc-n", target, &usage);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(usage.usage_size(), 2);
  EXPECT_EQ(usage.usage(0).unit(), pb::VolumeUsage::BYTES);
  EXPECT_EQ(usage.usage(0).total(), static_cast<int64_t>(64 * mib));
  EXPECT_EQ(usage.usage(1).unit(), pb::VolumeUsage::INODES);
  EXPECT_GT(usage.usage(1).total(), 0);
  EXPECT_FALSE(usage.volume_condition().abnormal());
  EXPECT_TRUE(stats("pvc-n", staging, &usage).ok());
  expect_code(stats("pvc-n", target_of("pvc-n", "pod-9"), &usage), grpc::StatusCode::NOT_FOUND);

  // Expansion: the controller grows the LV, the node the filesystem.
  pb::ControllerExpandVolumeRequest cex;
  cex.set_volume_id("pvc-n");
  cex.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(128 * mib));
  pb::ControllerExpandVolumeResponse cgrown;
  ASSERT_TRUE(
    call([&](auto* c) { return controller->ControllerExpandVolume(c, cex, &cgrown); }).ok());
  fs->resize_device("/dev/vg0/pvc-n", 128 * mib); // the kernel sees the bigger LV
  pb::NodeExpandVolumeRequest nex;
  nex.set_volume_id("pvc-n");
  nex.set_volume_path(target);
  nex.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(128 * mib));
  pb::NodeExpandVolumeResponse ngrown;
  auto ex = call([&](auto* c) { return node_stub->NodeExpandVolume(c, nex, &ngrown); });
  ASSERT_TRUE(ex.ok()) << ex.error_message();
  EXPECT_EQ(ngrown.capacity_bytes(), static_cast<int64_t>(128 * mib));
  EXPECT_EQ(fs->devices["/dev/vg0/pvc-n"].fs_size_bytes, 128 * mib);
  nex.set_volume_path(kubelet + "/pods/other/mount");
  expect_code(call([&](auto* c) { return node_stub->NodeExpandVolume(c, nex, &ngrown); }),
              grpc::StatusCode::NOT_FOUND);

  expect_code(unstage("pvc-n", staging), grpc::StatusCode::FAILED_PRECONDITION, "published");
  expect_code(delete_volume("pvc-n"), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(unpublish("pvc-n", target).ok());
  EXPECT_EQ(fs->mount_at(target), nullptr);
  EXPECT_TRUE(unpublish("pvc-n", target).ok()) << "NodeUnpublishVolume is idempotent";
  ASSERT_TRUE(unpublish("pvc-n", ro_target).ok());
  ASSERT_TRUE(unstage("pvc-n", staging).ok());
  EXPECT_EQ(fs->mount_at(staging), nullptr);
  EXPECT_TRUE(fs->mounts.empty());
  EXPECT_TRUE(unstage("pvc-n", staging).ok()) << "NodeUnstageVolume is idempotent";
  ASSERT_TRUE(delete_volume("pvc-n").ok());
  EXPECT_FALSE(lvm->lvs.count("pvc-n"));
}

TEST_F(csi_gateway_test, a_block_volume_binds_its_device_node) {
  create_volume("pvc-blk", 32 * mib, block_cap());
  auto staging = staging_of("pvc-blk");
  auto target = kubelet + "/plugins/kubernetes.io/csi/volumeDevices/publish/pvc-blk/pod-1";
  ASSERT_TRUE(stage("pvc-blk", staging, block_cap()).ok());
  EXPECT_EQ(fs->mount_at(staging), nullptr) << "nothing is mounted for a raw block volume";
  // staged as block, asked as filesystem
  expect_code(stage("pvc-blk", staging, mount_cap()), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(publish("pvc-blk", staging, target, block_cap()).ok());
  auto* bound = fs->mount_at(target);
  ASSERT_NE(bound, nullptr);
  EXPECT_EQ(bound->fstype, "devtmpfs") << "a bind of the device node";
  pb::NodeGetVolumeStatsResponse usage;
  ASSERT_TRUE(stats("pvc-blk", target, &usage).ok());
  ASSERT_EQ(usage.usage_size(), 1) << "block volumes have bytes, no inodes";
  EXPECT_EQ(usage.usage(0).total(), static_cast<int64_t>(32 * mib));
  ASSERT_TRUE(unpublish("pvc-blk", target).ok());
  EXPECT_EQ(fs->mount_at(target), nullptr);
  ASSERT_TRUE(unstage("pvc-blk", staging).ok());
  EXPECT_TRUE(fs->mounts.empty());
}

TEST_F(csi_gateway_test, node_calls_refuse_foreign_paths_and_unknown_volumes) {
  create_volume("pvc-p", 32 * mib);
  expect_code(stage("pvc-p", "/tmp/elsewhere/globalmount"), grpc::StatusCode::INVALID_ARGUMENT,
              "staging_target_path");
  expect_code(stage("pvc-p", kubelet + "2/plugins/x/globalmount"),
              grpc::StatusCode::INVALID_ARGUMENT, "staging_target_path");
  expect_code(stage("pvc-p", kubelet + "/plugins/../../../etc"), grpc::StatusCode::INVALID_ARGUMENT,
              "..");
  expect_code(stage("pvc-p", ""), grpc::StatusCode::INVALID_ARGUMENT,
              "staging_target_path is missing");
  expect_code(publish("pvc-p", staging_of("pvc-p"), "/etc/target"),
              grpc::StatusCode::INVALID_ARGUMENT, "target_path");
  expect_code(unpublish("pvc-p", kubelet + "2/pods/x/mount"), grpc::StatusCode::INVALID_ARGUMENT,
              "target_path");
  pb::NodeStageVolumeRequest no_cap;
  no_cap.set_volume_id("pvc-p");
  no_cap.set_staging_target_path(staging_of("pvc-p"));
  pb::NodeStageVolumeResponse r;
  expect_code(call([&](auto* c) { return node_stub->NodeStageVolume(c, no_cap, &r); }),
              grpc::StatusCode::INVALID_ARGUMENT, "volume_capability is missing");
  expect_code(stage("pvc-p", staging_of("pvc-p"), mount_cap(access_mode::MULTI_NODE_MULTI_WRITER)),
              grpc::StatusCode::INVALID_ARGUMENT, "volume_capability");

  expect_code(stage("pvc-nope", staging_of("pvc-nope")), grpc::StatusCode::NOT_FOUND);
  expect_code(unstage("pvc-nope", staging_of("pvc-nope")), grpc::StatusCode::NOT_FOUND);
  expect_code(publish("pvc-nope", staging_of("pvc-nope"), target_of("pvc-nope")),
              grpc::StatusCode::NOT_FOUND);
  expect_code(unpublish("pvc-nope", target_of("pvc-nope")), grpc::StatusCode::NOT_FOUND);
  pb::NodeGetVolumeStatsResponse usage;
  expect_code(stats("pvc-nope", target_of("pvc-nope"), &usage), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(fs->count(test::fs_command::mount), 0u) << "nothing reached the filesystem";
  EXPECT_EQ(fs->count(test::fs_command::ensure_fs), 0u);
}

TEST_F(csi_gateway_test, an_inline_ephemeral_volume_lives_as_long_as_its_publication) {
  const std::string id = "csi-0123456789abcdef";
  fs->add_device("/dev/vg0/" + id, 64 * mib, 254, lvm->next_minor); // the LV's device, once made
  std::map<std::string, std::string> attrs = {
    {"csi.storage.k8s.io/ephemeral", "true"}, {"vgName", "vg0"}, {"size", "64Mi"}};
  auto target = target_of(id);
  auto st = publish(id, "", target, mount_cap(access_mode::SINGLE_NODE_WRITER, ""), attrs);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(lvm->lvs.count(id));
  auto& tags = lvm->lvs[id].tags;
  EXPECT_NE(std::find(tags.begin(), tags.end(), "olocal/kind=ephemeral"), tags.end());
  EXPECT_EQ(lvm->lvs[id].size_bytes, 64 * mib);
  auto staging = state_dir + "/ephemeral/" + id;
  EXPECT_TRUE(std::filesystem::is_directory(staging));
  ASSERT_NE(fs->mount_at(staging), nullptr);
  EXPECT_EQ(fs->mount_at(staging)->fstype, "ext4");
  ASSERT_NE(fs->mount_at(target), nullptr);
  pb::NodeGetVolumeStatsResponse usage;
  EXPECT_TRUE(stats(id, target, &usage).ok());

  ASSERT_TRUE(publish(id, "", target, mount_cap(access_mode::SINGLE_NODE_WRITER, ""), attrs).ok())
    << "a repeated publish converges";
  EXPECT_EQ(lvm_runs("lvcreate"), 1u);

  ASSERT_TRUE(unpublish(id, target).ok());
  EXPECT_FALSE(lvm->lvs.count(id)) << "the last unpublish deletes the LV";
  EXPECT_TRUE(fs->mounts.empty());
  EXPECT_FALSE(std::filesystem::exists(staging));
  expect_code(unpublish(id, target), grpc::StatusCode::NOT_FOUND);

  auto no_vg = attrs;
  no_vg.erase("vgName");
  expect_code(publish("csi-x", "", target_of("csi-x"), mount_cap(), no_vg),
              grpc::StatusCode::INVALID_ARGUMENT, "vgName");
  auto other_vg = attrs;
  other_vg["vgName"] = "vg-nope";
  expect_code(publish("csi-x", "", target_of("csi-x"), mount_cap(), other_vg),
              grpc::StatusCode::INVALID_ARGUMENT, "vg-nope");
  expect_code(publish("csi-x", "", target_of("csi-x"), block_cap(), attrs),
              grpc::StatusCode::INVALID_ARGUMENT, "volume_capability");
  EXPECT_EQ(lvm_runs("lvcreate"), 1u);
}

TEST_F(csi_gateway_test, endpoints_must_be_unix_sockets_and_stale_ones_are_replaced) {
  auto with_endpoint = [&](std::string endpoint) {
    auto o = opts;
    o.endpoint = std::move(endpoint);
    return csi_gateway::start(*sys, manager, node, o);
  };
  for (auto bad : {"localhost:10000", "unix://relative/csi.sock", "unix://", "dns:///x"}) {
    auto g = with_endpoint(bad);
    ASSERT_FALSE(g) << bad;
    EXPECT_EQ(code_of(g.error()), errc::invalid_argument) << bad;
  }
  auto o = opts;
  o.node = false;
  o.controller = false;
  auto neither = csi_gateway::start(*sys, manager, node, o);
  ASSERT_FALSE(neither);
  EXPECT_EQ(code_of(neither.error()), errc::invalid_argument);

  auto regular = dir.write("plain/csi.sock", "not a socket");
  auto clash = with_endpoint("unix://" + regular.string());
  ASSERT_FALSE(clash);
  EXPECT_EQ(code_of(clash.error()), errc::io_error);
  EXPECT_TRUE(std::filesystem::exists(regular)) << "never removes what is not a socket";

  std::filesystem::create_directories(dir / "stale");
  auto stale = (dir / "stale" / "csi.sock").string();
  make_stale_socket(stale);
  ASSERT_TRUE(std::filesystem::exists(stale));
  auto g = with_endpoint("unix://" + stale);
  ASSERT_TRUE(g) << render(g.error());
  auto ch = grpc::CreateChannel("unix://" + stale, grpc::InsecureChannelCredentials());
  auto stub = pb::Identity::NewStub(ch);
  pb::GetPluginInfoResponse info;
  EXPECT_TRUE(call([&](auto* c) { return stub->GetPluginInfo(c, {}, &info); }).ok());
  (*g)->stop(5s);
  EXPECT_FALSE(std::filesystem::exists(stale));
  g->reset();
}

TEST_F(csi_gateway_test, stop_answers_the_calls_still_in_flight) {
  create_volume("pvc-d", 32 * mib);
  fs->hold(test::fs_command::ensure_fs); // formatting will not finish by itself
  // The gateway logs each call it hands to an actor: that is the moment the
  // call is in flight (a log sink, not a sleep, tells the test).
  std::mutex m;
  std::condition_variable cv;
  bool started = false;
  struct restore_log {
    olocal::log::level level = olocal::log::current_level();
    ~restore_log() {
      olocal::log::set_sink(nullptr);
      olocal::log::set_level(level);
    }
  } restore;
  olocal::log::set_level(olocal::log::level::debug);
  olocal::log::set_sink([&](std::string_view line) {
    if (line.find("call started") != std::string_view::npos &&
        line.find("NodeStageVolume") != std::string_view::npos) {
      std::lock_guard<std::mutex> guard{m};
      started = true;
      cv.notify_all();
    }
  });
  grpc::Status held;
  std::thread client{[&] { held = stage("pvc-d", staging_of("pvc-d")); }};
  {
    std::unique_lock<std::mutex> lock{m};
    ASSERT_TRUE(cv.wait_for(lock, 60s, [&] { return started; }));
  }
  EXPECT_EQ(gateway->calls(), 1u) << "only CreateVolume has been answered";
  gateway->stop(50ms); // drains for 50 ms, then answers the call itself
  client.join();
  expect_code(held, grpc::StatusCode::UNAVAILABLE, "stopping");
  EXPECT_EQ(gateway->calls(), 2u);
  EXPECT_FALSE(std::filesystem::exists(socket_path));

  // Let the held format finish: its answer reaches a call that has ended and
  // is dropped. The probe from the same sender returns after the release ran.
  caf::scoped_actor self{*sys};
  self->send(fs_actor, test::release_atom::value);
  self->request(fs_actor, 30s, probe_command{"/dev/vg0/pvc-d", "", true})
    .receive([](volume_usage&) {}, [](caf::error& err) { ADD_FAILURE() << render(err); });
  EXPECT_TRUE(fs->held.empty());
}

TEST_F(csi_gateway_test, publish_applies_the_storage_class_io_limits_and_unpublish_removes_them) {
  pb::CreateVolumeResponse created;
  auto st = create("pvc-io", 64 * 1024 * 1024, &created, mount_cap(),
                   {{"iops", "200"}, {"bps", "1Mi"}, {"writeBps", "2Mi"}});
  ASSERT_TRUE(st.ok()) << st.error_message();
  auto& lv = lvm->lvs["pvc-io"];
  fs->add_device("/dev/vg0/pvc-io", lv.size_bytes, 254, lv.minor);
  std::map<std::string, std::string> context{created.volume().volume_context().begin(),
                                             created.volume().volume_context().end()};
  EXPECT_EQ(context["iops"], "200") << "the controller carries the limits to NodePublish";
  ASSERT_TRUE(stage("pvc-io", staging_of("pvc-io")).ok());
  // No cgroup for the pod: the publish fails naming it (kubelet's Event),
  // with a code kubelet does not take as final (the target is mounted).
  expect_code(
    publish("pvc-io", staging_of("pvc-io"), target_of("pvc-io", "p-1"), mount_cap(), context),
    grpc::StatusCode::UNAVAILABLE, "no cgroup for pod p-1");
  auto pod = cgroup_root / "kubepods/burstable/podp-1";
  test::temp_dir::write_to(pod / "io.max", "");
  ASSERT_TRUE(
    publish("pvc-io", staging_of("pvc-io"), target_of("pvc-io", "p-1"), mount_cap(), context).ok());
  auto in_force = io_limits::parse_io_max(test::temp_dir::read(pod / "io.max"));
  ASSERT_EQ(in_force.size(), 1u);
  EXPECT_EQ(in_force["254:300"], (io_limit{1u << 20, 2u << 20, 200, 200}));
  ASSERT_TRUE(unpublish("pvc-io", target_of("pvc-io", "p-1")).ok());
  EXPECT_TRUE(io_limits::parse_io_max(test::temp_dir::read(pod / "io.max")).empty());

  // A pod deleted while its publish kept failing: kubelet unpublishes the
  // uncertain target, and the bind mount and the registered limit both go.
  auto target = target_of("pvc-io", "p-2");
  expect_code(publish("pvc-io", staging_of("pvc-io"), target, mount_cap(), context),
              grpc::StatusCode::UNAVAILABLE, "no cgroup for pod p-2");
  auto mounted = [&] {
    return std::any_of(fs->mounts.begin(), fs->mounts.end(),
                       [&](const fs_ops::mount_entry& m) { return m.mount_point == target; });
  };
  EXPECT_TRUE(mounted()) << "the bind mount was made before the limit failed";
  ASSERT_TRUE(unpublish("pvc-io", target).ok());
  EXPECT_FALSE(mounted());
  caf::scoped_actor self{*sys};
  self->request(io_limiter, 10s, inspect_atom::value)
    .receive(
      [&](actor_report& r) {
        EXPECT_EQ(r.state_json.find("p-2"), std::string::npos) << r.state_json;
      },
      [](caf::error& err) { ADD_FAILURE() << render(err); });
}
