// The pure part of spec.resourceToBeInited: what plan_init decides from the
// node's facts, and the retry backoff.

#include "gateways/kube/node_init.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace olocal;
using namespace olocal::kube;
using namespace std::chrono_literals;

namespace {

block_device disk(const std::string& name, uint32_t minor, std::vector<std::string> sigs = {}) {
  block_device d;
  d.name = name;
  d.path = "/dev/" + name;
  d.kind = "disk";
  d.major = 8;
  d.minor = minor;
  d.size_bytes = 1ull << 30;
  d.signatures = std::move(sigs);
  return d;
}

lvm::pv_info pv(const std::string& dev, const std::string& vg) {
  lvm::pv_info p;
  p.name = dev;
  p.vg_name = vg;
  return p;
}

fs_ops::mount_entry mounted(const std::string& source, uint32_t minor, const std::string& at) {
  fs_ops::mount_entry m;
  m.major = 8;
  m.minor = minor;
  m.source = source;
  m.mount_point = at;
  m.fstype = "ext4";
  return m;
}

/// The node of most cases: sdb empty, sdc with ext4, sdd with xfs, sde a PV
/// of vg "other", sdf a member of "data", sdg a gpt table, sdh an orphan PV.
init_facts node() {
  init_facts f;
  f.devices = {disk("sdb", 16),
               disk("sdc", 32, {"ext4"}),
               disk("sdd", 48, {"xfs"}),
               disk("sde", 64, {"LVM2_member"}),
               disk("sdf", 80, {"LVM2_member"}),
               disk("sdg", 96, {"gpt"}),
               disk("sdh", 112, {"LVM2_member"})};
  f.pvs = {pv("/dev/sde", "other"), pv("/dev/sdf", "data"), pv("/dev/sdh", "")};
  return f;
}

const init_action* find_action(const init_plan& p, const std::string& resource) {
  auto it = std::find_if(p.actions.begin(), p.actions.end(),
                         [&](const init_action& a) { return a.resource == resource; });
  return it == p.actions.end() ? nullptr : &*it;
}

const init_refusal* find_refusal(const init_plan& p, const std::string& resource) {
  auto it = std::find_if(p.refusals.begin(), p.refusals.end(),
                         [&](const init_refusal& r) { return r.resource == resource; });
  return it == p.refusals.end() ? nullptr : &*it;
}

bool is_unchanged(const init_plan& p, const std::string& resource) {
  return std::find(p.unchanged.begin(), p.unchanged.end(), resource) != p.unchanged.end();
}

mountpoint_to_init mp(const std::string& path, const std::string& device,
                      const std::string& fs = "ext4") {
  mountpoint_to_init m;
  m.path = path;
  m.device = device;
  m.fs_type = fs;
  return m;
}

} // namespace

// -- volume groups ---------------------------------------------------------------------

struct vg_case {
  std::string label;
  vg_to_init vg;
  bool force;
  /// "create", "extend", "unchanged" or the refusal's errc.
  std::string expect;
  std::optional<errc> code;
  size_t commands = 0;
};

TEST(node_init_plan, volume_groups) {
  std::vector<vg_case> cases = {
    {"new from a free device", {"fresh", {"/dev/sdb"}}, false, "create", {}, 2},
    {"new from an orphan pv", {"fresh", {"/dev/sdh"}}, false, "create", {}, 2},
    {"new from a filesystem: refused", {"fresh", {"/dev/sdc"}}, false, "refuse", errc::device_busy},
    {"new from a filesystem with force", {"fresh", {"/dev/sdc"}}, true, "create", {}, 2},
    {"new from another vg's pv: refused even forced",
     {"fresh", {"/dev/sde"}},
     true,
     "refuse",
     errc::already_exists},
    {"new from an unknown device", {"fresh", {"/dev/nope"}}, false, "refuse", errc::not_found},
    {"new with no devices", {"fresh", {}}, false, "refuse", errc::invalid_argument},
    {"existing with its devices", {"data", {"/dev/sdf"}}, false, "unchanged"},
    {"existing grows by a free device", {"data", {"/dev/sdf", "/dev/sdb"}}, false, "extend", {}, 2},
    {"existing grows by an orphan pv (no pvcreate)",
     {"data", {"/dev/sdh"}},
     false,
     "extend",
     {},
     1},
    {"existing: unlisted pvs are kept", {"data", {"/dev/sdb"}}, false, "extend", {}, 2},
    {"existing + another vg's pv: refused",
     {"data", {"/dev/sdf", "/dev/sde"}},
     true,
     "refuse",
     errc::already_exists},
    {"existing + a filesystem: refused",
     {"data", {"/dev/sdc"}},
     false,
     "refuse",
     errc::device_busy},
    {"existing + a gpt disk with force", {"data", {"/dev/sdg"}}, true, "extend", {}, 2},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.label);
    resources_to_init spec;
    spec.vgs = {c.vg};
    auto plan = plan_init(spec, node(), c.force);
    auto resource = "vg:" + c.vg.name;
    if (c.expect == "unchanged") {
      EXPECT_TRUE(is_unchanged(plan, resource));
      EXPECT_TRUE(plan.actions.empty());
      EXPECT_TRUE(plan.refusals.empty());
    } else if (c.expect == "refuse") {
      auto r = find_refusal(plan, resource);
      ASSERT_NE(r, nullptr);
      EXPECT_EQ(r->code, *c.code) << r->reason;
      EXPECT_FALSE(r->reason.empty());
      EXPECT_TRUE(plan.actions.empty());
    } else {
      auto a = find_action(plan, resource);
      ASSERT_NE(a, nullptr) << (plan.refusals.empty() ? "" : plan.refusals.front().reason);
      EXPECT_EQ(a->what,
                c.expect == "create" ? init_action::kind::create_vg : init_action::kind::extend_vg);
      EXPECT_EQ(a->commands.size(), c.commands);
      EXPECT_EQ(a->vg.force, c.force);
    }
  }
}

TEST(node_init_plan, extend_lists_only_new_devices_and_never_removes) {
  resources_to_init spec;
  spec.vgs = {{"data", {"/dev/sdb"}}};
  auto plan = plan_init(spec, node(), false);
  auto a = find_action(plan, "vg:data");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->commands.size(), 2u);
  EXPECT_EQ(a->commands[0].front(), "pvcreate");
  EXPECT_EQ(a->commands[0].back(), "/dev/sdb");
  EXPECT_EQ(a->commands[1], (std::vector<std::string>{"vgextend", "-qq", "data", "/dev/sdb"}));
  for (auto& argv : a->commands)
    for (auto& word : argv) {
      EXPECT_NE(word, "vgreduce");
      EXPECT_NE(word, "/dev/sdf");
    }
}

TEST(node_init_plan, resolved_device_paths_are_matched) {
  auto facts = node();
  facts.resolved["/dev/disk/by-id/wwn-1"] = "/dev/sdf";
  facts.resolved["/dev/disk/by-id/wwn-2"] = "/dev/sdb";
  resources_to_init spec;
  spec.vgs = {{"data", {"/dev/disk/by-id/wwn-1", "/dev/disk/by-id/wwn-2"}}};
  auto plan = plan_init(spec, facts, false);
  auto a = find_action(plan, "vg:data");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->vg.devices, (std::vector<std::string>{"/dev/sdf", "/dev/sdb"}));
  EXPECT_EQ(a->commands.back(), (std::vector<std::string>{"vgextend", "-qq", "data", "/dev/sdb"}));
}

// -- mount points ----------------------------------------------------------------------

struct mp_case {
  std::string label;
  mountpoint_to_init mp;
  bool force;
  std::string expect; ///< "mount", "format", "unchanged", "refuse"
  std::optional<errc> code;
};

TEST(node_init_plan, mount_points) {
  auto facts = node();
  facts.devices.push_back(disk("sdi", 128, {"ext4"}));
  facts.devices.back().mountpoints = {"/mnt/i"};
  facts.mounts = {mounted("/dev/sdi", 128, "/mnt/i")};
  auto held = disk("sdj", 144);
  held.holders = {"dm-0"};
  auto parted = disk("sdk", 160, {"gpt"});
  parted.partitions = {"sdk1"};
  auto ro = disk("sdl", 176);
  ro.read_only = true;
  auto unknown = disk("sdm", 192);
  unknown.probe_error = "EIO";
  auto mixed = disk("sdn", 208, {"ext4", "LVM2_member"});
  facts.devices.insert(facts.devices.end(), {held, parted, ro, unknown, mixed});

  std::vector<mp_case> cases = {
    {"empty device: format and mount", mp("/mnt/b", "/dev/sdb"), false, "format"},
    {"empty device as xfs", mp("/mnt/b", "/dev/sdb", "xfs"), false, "format"},
    {"ext4, path not mounted (after reboot): mount, never format", mp("/mnt/c", "/dev/sdc"), false,
     "mount"},
    {"ext4 even with force: mount, never format", mp("/mnt/c", "/dev/sdc"), true, "mount"},
    {"xfs asked ext4: refused, not formatted", mp("/mnt/d", "/dev/sdd"), true, "refuse",
     errc::failed_precondition},
    {"xfs asked xfs: mount", mp("/mnt/d", "/dev/sdd", "xfs"), false, "mount"},
    {"already mounted at the path", mp("/mnt/i", "/dev/sdi"), false, "unchanged"},
    {"device mounted elsewhere", mp("/mnt/other", "/dev/sdi"), false, "refuse", errc::device_busy},
    {"path is another device's mount", mp("/mnt/i", "/dev/sdb"), false, "refuse",
     errc::already_exists},
    {"gpt without force: refused", mp("/mnt/g", "/dev/sdg"), false, "refuse", errc::device_busy},
    {"gpt with force: format", mp("/mnt/g", "/dev/sdg"), true, "format"},
    {"orphan pv without force: refused", mp("/mnt/h", "/dev/sdh"), false, "refuse",
     errc::device_busy},
    {"orphan pv with force: format", mp("/mnt/h", "/dev/sdh"), true, "format"},
    {"pv of a vg: refused even forced", mp("/mnt/e", "/dev/sde"), true, "refuse",
     errc::device_busy},
    {"held by device-mapper", mp("/mnt/j", "/dev/sdj"), true, "refuse", errc::device_busy},
    {"partitioned", mp("/mnt/k", "/dev/sdk"), true, "refuse", errc::device_busy},
    {"read-only", mp("/mnt/l", "/dev/sdl"), true, "refuse", errc::device_busy},
    {"content unknown", mp("/mnt/m", "/dev/sdm"), true, "refuse", errc::device_busy},
    {"filesystem among other signatures: refused even forced", mp("/mnt/n", "/dev/sdn"), true,
     "refuse", errc::device_busy},
    {"unknown device", mp("/mnt/z", "/dev/nope"), false, "refuse", errc::not_found},
    {"unsupported fsType", mp("/mnt/b", "/dev/sdb", "btrfs"), false, "refuse",
     errc::invalid_argument},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.label);
    resources_to_init spec;
    spec.mountpoints = {c.mp};
    auto plan = plan_init(spec, facts, c.force);
    auto resource = "mountpoint:" + c.mp.path;
    if (c.expect == "unchanged") {
      EXPECT_TRUE(is_unchanged(plan, resource));
      EXPECT_TRUE(plan.actions.empty());
    } else if (c.expect == "refuse") {
      auto r = find_refusal(plan, resource);
      ASSERT_NE(r, nullptr);
      EXPECT_EQ(r->code, *c.code) << r->reason;
      EXPECT_NE(r->reason.find(c.mp.device == "/dev/sdb" ? "" : c.mp.device), std::string::npos)
        << r->reason;
      EXPECT_TRUE(plan.actions.empty());
    } else {
      auto a = find_action(plan, resource);
      ASSERT_NE(a, nullptr) << (plan.refusals.empty() ? "" : plan.refusals.front().reason);
      EXPECT_EQ(a->what, c.expect == "mount" ? init_action::kind::mount_existing
                                             : init_action::kind::format_and_mount);
      EXPECT_EQ(a->mountpoint.fs_type, c.mp.fs_type);
      if (a->what == init_action::kind::format_and_mount) {
        EXPECT_EQ(a->force, c.mp.device != "/dev/sdb") << "force only where content is lost";
      }
    }
  }
}

TEST(node_init_plan, wrong_filesystem_reason_says_it_is_not_formatted) {
  resources_to_init spec;
  spec.mountpoints = {mp("/mnt/d", "/dev/sdd")};
  auto plan = plan_init(spec, node(), true);
  auto r = find_refusal(plan, "mountpoint:/mnt/d");
  ASSERT_NE(r, nullptr);
  EXPECT_NE(r->reason.find("xfs"), std::string::npos) << r->reason;
  EXPECT_NE(r->reason.find("never formatted"), std::string::npos) << r->reason;
}

TEST(node_init_plan, mount_options_and_default_fs_type) {
  resources_to_init spec;
  auto m = mp("/mnt/b", "/dev/sdb", "");
  m.options = {"noatime", "discard"};
  auto bad = mp("/mnt/c", "/dev/sdc");
  bad.options = {"a,b"};
  spec.mountpoints = {m, bad};
  auto plan = plan_init(spec, node(), false);
  auto a = find_action(plan, "mountpoint:/mnt/b");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->mountpoint.fs_type, "ext4");
  EXPECT_EQ(a->mountpoint.options, m.options);
  auto r = find_refusal(plan, "mountpoint:/mnt/c");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->code, errc::invalid_argument);
}

TEST(node_init_plan, resolved_mount_path_and_device) {
  auto facts = node();
  facts.devices.push_back(disk("sdi", 128, {"ext4"}));
  facts.devices.back().mountpoints = {"/mnt/i"};
  facts.mounts = {mounted("/dev/sdi", 128, "/mnt/i")};
  facts.resolved["/data/i"] = "/mnt/i";
  facts.resolved["/dev/disk/by-label/i"] = "/dev/sdi";
  resources_to_init spec;
  spec.mountpoints = {mp("/data/i", "/dev/disk/by-label/i")};
  auto plan = plan_init(spec, facts, false);
  EXPECT_TRUE(is_unchanged(plan, "mountpoint:/data/i"));
}

// -- across resources --------------------------------------------------------------------

TEST(node_init_plan, a_device_listed_twice_is_refused_for_every_resource) {
  resources_to_init spec;
  spec.vgs = {{"fresh", {"/dev/sdb"}}};
  spec.mountpoints = {mp("/mnt/b", "/dev/sdb"), mp("/mnt/c", "/dev/sdc")};
  auto plan = plan_init(spec, node(), true);
  for (auto resource : {"vg:fresh", "mountpoint:/mnt/b"}) {
    auto r = find_refusal(plan, resource);
    ASSERT_NE(r, nullptr) << resource;
    EXPECT_EQ(r->code, errc::conflict);
    EXPECT_NE(r->reason.find("/dev/sdb"), std::string::npos) << r->reason;
  }
  ASSERT_EQ(plan.actions.size(), 1u) << "the other resources go on";
  EXPECT_EQ(plan.actions.front().resource, "mountpoint:/mnt/c");
}

TEST(node_init_plan, a_resource_listed_twice_is_refused) {
  resources_to_init spec;
  spec.mountpoints = {mp("/mnt/b", "/dev/sdb"), mp("/mnt/b", "/dev/sdc")};
  auto plan = plan_init(spec, node(), false);
  EXPECT_EQ(plan.refusals.size(), 2u);
  EXPECT_TRUE(plan.actions.empty());
}

TEST(node_init_plan, order_is_vgs_then_mountpoints_in_spec_order) {
  resources_to_init spec;
  spec.mountpoints = {mp("/mnt/c", "/dev/sdc"), mp("/mnt/b", "/dev/sdb")};
  spec.vgs = {{"fresh", {"/dev/sdh"}}, {"data", {"/dev/sdf", "/dev/sdg"}}};
  auto plan = plan_init(spec, node(), true);
  ASSERT_EQ(plan.actions.size(), 4u);
  EXPECT_EQ(plan.actions[0].resource, "vg:fresh");
  EXPECT_EQ(plan.actions[1].resource, "vg:data");
  EXPECT_EQ(plan.actions[2].resource, "mountpoint:/mnt/c");
  EXPECT_EQ(plan.actions[3].resource, "mountpoint:/mnt/b");
}

TEST(node_init_plan, empty_spec_plans_nothing) {
  auto plan = plan_init({}, node(), true);
  EXPECT_TRUE(plan.actions.empty());
  EXPECT_TRUE(plan.refusals.empty());
  EXPECT_TRUE(plan.unchanged.empty());
}

// -- backoff -----------------------------------------------------------------------------

TEST(node_init_backoff, doubles_up_to_the_cap_and_resets_after_success) {
  init_backoff b{10s, 60s};
  init_backoff::clock::time_point t{}; // the injected clock
  EXPECT_TRUE(b.due("vg:a", t));
  EXPECT_EQ(b.failures("vg:a"), 0u);

  EXPECT_TRUE(b.failed("vg:a", t, "busy")) << "the first failure is logged";
  EXPECT_EQ(b.delay("vg:a"), 10s);
  EXPECT_FALSE(b.due("vg:a", t + 9s));
  EXPECT_TRUE(b.due("vg:a", t + 10s));
  EXPECT_TRUE(b.due("vg:b", t)) << "other resources are not held back";

  std::vector<std::chrono::seconds> waits;
  for (int i = 0; i < 5; ++i) {
    t += std::chrono::duration_cast<init_backoff::clock::duration>(b.delay("vg:a"));
    ASSERT_TRUE(b.due("vg:a", t));
    EXPECT_FALSE(b.failed("vg:a", t, "busy")) << "the same reason again is not logged";
    waits.push_back(std::chrono::duration_cast<std::chrono::seconds>(b.delay("vg:a")));
  }
  EXPECT_EQ(waits, (std::vector<std::chrono::seconds>{20s, 40s, 60s, 60s, 60s}));
  EXPECT_EQ(b.failures("vg:a"), 6u);
  EXPECT_FALSE(b.due("vg:a", t + 59s));
  EXPECT_TRUE(b.failed("vg:a", t, "another reason")) << "a new reason is logged";

  b.succeeded("vg:a");
  EXPECT_TRUE(b.due("vg:a", t));
  EXPECT_EQ(b.failures("vg:a"), 0u);
  EXPECT_EQ(b.delay("vg:a"), init_backoff::clock::duration{});
  EXPECT_TRUE(b.failed("vg:a", t, "busy"));
  EXPECT_EQ(b.delay("vg:a"), 10s) << "back to the initial wait";
}

TEST(node_init_backoff, retain_forgets_resources_no_longer_listed) {
  init_backoff b{1s, 8s};
  init_backoff::clock::time_point t{};
  b.failed("vg:a", t);
  b.failed("vg:b", t);
  b.retain({"vg:b"});
  EXPECT_EQ(b.failures("vg:a"), 0u);
  EXPECT_EQ(b.failures("vg:b"), 1u);
  EXPECT_TRUE(b.due("vg:a", t));
  EXPECT_FALSE(b.due("vg:b", t));
}

TEST(node_init_backoff, cap_below_initial_is_raised_to_initial) {
  init_backoff b{10s, 1s};
  b.failed("x", {});
  b.failed("x", {});
  EXPECT_EQ(b.delay("x"), 10s);
}
