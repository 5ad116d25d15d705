#pragma once

// The CSI conformance suite: drives a running `open-local standalone` through
// its CSI socket the way kubelet and the CSI sidecars do, and checks every
// answer against the CSI spec (the areas csi-sanity covers) and against the
// real system: the mount table, statvfs, `lvs`, data written and read back.
//
// One global environment (driver_env) starts the real binary on a
// file-backed pool inside the VM harness and tears it all down at the end;
// outside the VM (no device-mapper in /proc/misc) every test is skipped with
// the reason. Each test derives from csi_test, which records what the test
// created (volumes, snapshots, stagings, publications) and removes it in its
// TearDown, like csi-sanity's Resources.Cleanup.

#include "csi/v1/csi.grpc.pb.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace conformance {

namespace pb = ::csi::v1;

using access_mode = pb::VolumeCapability::AccessMode;

inline constexpr uint64_t mib = 1ull << 20;
inline constexpr uint64_t gib = 1ull << 30;

/// What the suite expects of the driver it starts.
inline constexpr const char* driver_name = "local.csi.aliyun.com";
inline constexpr const char* topology_key = "kubernetes.io/hostname";

// -- the system, as the tests observe it ------------------------------------------

/// One line of /proc/self/mountinfo.
struct mount_entry {
  unsigned major = 0;
  unsigned minor = 0;
  std::string root;
  std::string mount_point;
  std::string options; ///< per-mount options ("rw,relatime")
  std::string fstype;
  std::string source;
  std::string super_options;
  bool read_only() const;
};

std::vector<mount_entry> read_mountinfo();

/// The topmost mount at exactly `path`, if any.
std::optional<mount_entry> find_mount(const std::string& path);

/// Every mount point at or below `dir`.
std::vector<std::string> mounts_below(const std::string& dir);

/// One LV of the pool's volume group, as `lvs` reports it.
struct lv_row {
  std::string name;
  uint64_t size_bytes = 0;
  std::string tags; ///< comma-separated
  std::string origin;
  std::string attr;
  int kernel_major = -1;
  int kernel_minor = -1;
  bool has_tag(const std::string& tag) const;
};

/// `lvs` of the pool's volume group (fails the current test when lvs fails).
std::vector<lv_row> list_lvs();
std::optional<lv_row> find_lv(const std::string& name);

struct vg_row {
  uint64_t size_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t extent_bytes = 0;
};

/// `vgs` of the pool's volume group.
vg_row pool_vg();

struct fs_usage {
  uint64_t total_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t available_bytes = 0;
  uint64_t total_inodes = 0;
  uint64_t free_inodes = 0;
};

/// statvfs(2) of `path` (all zero when it fails; the test fails too).
fs_usage usage_of(const std::string& path);

/// `bytes` of reproducible pseudo-random data.
std::string pattern(size_t bytes, uint32_t seed);

/// Writes `data` to `path` (created or truncated) and fsyncs it; "" or why not.
std::string write_file(const std::string& path, const std::string& data);

/// The whole content of `path`; std::nullopt when it cannot be read.
std::optional<std::string> read_file(const std::string& path);

/// Writes at offset 0 of a block device (or file) and fsyncs; "" or why not.
std::string write_device(const std::string& path, const std::string& data);

/// The first `bytes` of a block device.
std::optional<std::string> read_device(const std::string& path, size_t bytes);

/// True when `path` exists (lstat).
bool exists(const std::string& path);

// -- the driver under test ------------------------------------------------------------

struct driver_config {
  std::string binary;
  std::string work = "/run/olocal-conformance"; ///< socket, pool, kubelet-like paths
  std::string vg = "olocal-conformance";
  std::string node = "conformance-node";
  uint64_t pool_bytes = 2 * gib;
  std::chrono::seconds start_timeout{180};
  std::chrono::seconds stop_timeout{60};
};

/// Starts `open-local standalone` once for the whole run and stops it at the end.
class driver_env : public ::testing::Environment {
public:
  explicit driver_env(driver_config cfg);
  ~driver_env() override;

  void SetUp() override;
  void TearDown() override;

  /// The one instance (set by the constructor).
  static driver_env& instance();

  /// Non-empty when the suite cannot run here (no device-mapper, not root).
  const std::string& skip_reason() const { return skip_reason_; }
  /// Non-empty when the driver was supposed to start and did not.
  const std::string& start_error() const { return start_error_; }

  const driver_config& config() const { return cfg_; }
  std::string endpoint() const { return "unix://" + socket_path(); }
  std::string socket_path() const { return cfg_.work + "/csi.sock"; }
  std::string pool_file() const { return cfg_.work + "/pool.img"; }
  /// The kubelet-like root every staging and target path lies below.
  std::string kubelet_dir() const { return cfg_.work + "/kubelet"; }

  /// A volume (16 MiB, never staged, never written) that tests which only
  /// need some existing volume share; deleted at the end. Made on first use.
  /// Tests may snapshot it but must delete their snapshots.
  const pb::Volume& shared_volume();
  /// A test deleted volume `id`: when it was the shared one, the next user
  /// makes it again.
  void forget_if_shared(const std::string& id) {
    if (shared_ && shared_->volume_id() == id)
      shared_.reset();
  }

  pb::Identity::Stub& identity() { return *identity_; }
  pb::Controller::Stub& controller() { return *controller_; }
  pb::Node::Stub& node() { return *node_; }

private:
  std::string start();
  void stop();
  /// Unmounts what is left below the work directory, removes the volume
  /// group, detaches the pool's loop devices and removes the work directory.
  void scrub() const;
  std::string log_tail(size_t lines) const;

  driver_config cfg_;
  std::string skip_reason_;
  std::string start_error_;
  pid_t pid_ = -1;
  std::optional<pb::Volume> shared_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Identity::Stub> identity_;
  std::unique_ptr<pb::Controller::Stub> controller_;
  std::unique_ptr<pb::Node::Stub> node_;
};

// -- calls and checks -----------------------------------------------------------------

/// The deadline of one call (LVM and mkfs under software emulation are slow).
inline constexpr std::chrono::seconds call_deadline{300};

/// Runs one unary call with a deadline: call([&](auto* ctx) { return stub.X(ctx, req, &resp); }).
template <class Call>
grpc::Status call(Call f) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + call_deadline);
  return f(&ctx);
}

std::string code_name(grpc::StatusCode code);

/// "INVALID_ARGUMENT: name is missing".
std::string describe(const grpc::Status& status);

::testing::AssertionResult is_ok(const grpc::Status& status);
::testing::AssertionResult has_code(const grpc::Status& status, grpc::StatusCode code);

/// A mount capability (fs_type "" lets the driver choose ext4).
pb::VolumeCapability mount_cap(access_mode::Mode mode = access_mode::SINGLE_NODE_WRITER,
                               const std::string& fs_type = "");
pb::VolumeCapability block_cap(access_mode::Mode mode = access_mode::SINGLE_NODE_WRITER);

// -- the fixture ----------------------------------------------------------------------

class csi_test : public ::testing::Test {
protected:
  void SetUp() override;
  void TearDown() override;

  /// A name no other test uses ("cf12-tag"): a valid LV name.
  static std::string unique(const std::string& tag);

  pb::Identity::Stub& identity() { return env().identity(); }
  pb::Controller::Stub& controller() { return env().controller(); }
  pb::Node::Stub& node() { return env().node(); }
  static driver_env& env() { return driver_env::instance(); }
  /// driver_env::shared_volume(), failing the test when it cannot be made.
  void shared(pb::Volume* out);

  // Controller calls that record what they create (for the cleanup).
  pb::CreateVolumeRequest volume_request(const std::string& name, uint64_t required_bytes,
                                         const pb::VolumeCapability& cap = mount_cap()) const;
  grpc::Status create_volume(const pb::CreateVolumeRequest& req, pb::CreateVolumeResponse* resp);
  grpc::Status delete_volume(const std::string& id);
  grpc::Status create_snapshot(const std::string& name, const std::string& source,
                               pb::CreateSnapshotResponse* resp);
  grpc::Status delete_snapshot(const std::string& id);

  /// Creates a volume named unique(tag) and asserts success.
  void make_volume(const std::string& tag, uint64_t bytes, pb::Volume* out,
                   const pb::VolumeCapability& cap = mount_cap());
  void make_snapshot(const std::string& tag, const std::string& source, pb::Snapshot* out);

  // Node calls with kubelet's paths; successful ones are undone by the cleanup.
  std::string staging_path(const std::string& volume_id) const;
  /// A publish target (kubelet's pods/<uid>/volumes/.../mount); its parent exists.
  std::string target_path(const std::string& volume_id, const std::string& tag);
  grpc::Status stage(const std::string& volume_id, const pb::VolumeCapability& cap = mount_cap());
  grpc::Status unstage(const std::string& volume_id);
  grpc::Status publish(const std::string& volume_id, const std::string& target,
                       const pb::VolumeCapability& cap = mount_cap(), bool read_only = false);
  grpc::Status unpublish(const std::string& volume_id, const std::string& target);
  /// Stages and publishes a filesystem volume at target_path(id, tag); asserts success.
  void mount_volume(const std::string& volume_id, const std::string& tag, std::string* target);

  grpc::Status list_volumes(int32_t max_entries, const std::string& token,
                            pb::ListVolumesResponse* resp);
  /// Every volume id, walking all pages of `page_size`.
  void all_volume_ids(int32_t page_size, std::vector<std::string>* ids);
  grpc::Status list_snapshots(const pb::ListSnapshotsRequest& req, pb::ListSnapshotsResponse* resp);
  grpc::Status node_info(pb::NodeGetInfoResponse* resp);

private:
  std::vector<std::string> volumes_;
  std::vector<std::string> snapshots_;
  std::vector<std::pair<std::string, std::string>> staged_;    ///< volume, staging path
  std::vector<std::pair<std::string, std::string>> published_; ///< volume, target
};

} // namespace conformance

#define ASSERT_OK(status) ASSERT_TRUE(::conformance::is_ok(status))
#define EXPECT_OK(status) EXPECT_TRUE(::conformance::is_ok(status))
#define EXPECT_CODE(status, code)                                                                  \
  EXPECT_TRUE(::conformance::has_code(status, ::grpc::StatusCode::code))
#define ASSERT_CODE(status, code)                                                                  \
  ASSERT_TRUE(::conformance::has_code(status, ::grpc::StatusCode::code))
