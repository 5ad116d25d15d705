// The pure rules of Device and MountPoint volumes (eligibility, choice,
// capacity), the claims file (JSON, atomic save, corrupt files) and the
// refusals of the directory clearing, without actors.

#include "actors/node/device_volumes.hpp"

#include "actors/core/errc.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <sys/sysmacros.h>

using namespace olocal;

namespace {

constexpr uint64_t mib = 1ull << 20;
constexpr uint64_t gib = 1ull << 30;

block_device disk(std::string name, uint64_t bytes, bool hdd = false) {
  block_device d;
  d.name = name;
  d.path = "/dev/" + name;
  d.kind = "disk";
  d.major = 252;
  d.size_bytes = bytes;
  d.rotational = hdd;
  return d;
}

mount_point_facts mount_point(std::string name, uint64_t bytes, std::string fstype = "ext4") {
  mount_point_facts m;
  m.path = "/mnt/ol/" + name;
  m.name = std::move(name);
  m.fstype = std::move(fstype);
  m.source = "/dev/sdz";
  m.total_bytes = bytes;
  m.available_bytes = bytes;
  return m;
}

claim_req request(std::string kind, uint64_t min, std::string media = {}, uint64_t max = 0) {
  return claim_req{"vol-1", std::move(kind), min, max, std::move(media), true};
}

std::string file_text(const std::filesystem::path& p) {
  std::ifstream in{p};
  return {std::istreambuf_iterator<char>{in}, {}};
}

} // namespace

TEST(device_included, by_kernel_name_or_path_minus_the_excluded) {
  auto filter = device_filter::make({"vd[b-z]", "/dev/nvme1n1"}, {"vdz", "/dev/vdy"});
  ASSERT_TRUE(filter);
  EXPECT_TRUE(device_included(*filter, disk("vdb", gib)));
  EXPECT_TRUE(device_included(*filter, disk("nvme1n1", gib))) << "by its /dev path";
  EXPECT_FALSE(device_included(*filter, disk("vdz", gib))) << "excluded";
  EXPECT_FALSE(device_included(*filter, disk("vdy", gib))) << "excluded by its path";
  EXPECT_FALSE(device_included(*filter, disk("vda", gib)));
  EXPECT_FALSE(device_included(*filter, disk("vdbb", gib))) << "whole names only";
  auto none = device_filter::make({}, {});
  ASSERT_TRUE(none);
  EXPECT_FALSE(device_included(*none, disk("vdb", gib))) << "no include: nothing";
  auto bad = device_filter::make({"vd.*"}, {"("});
  ASSERT_FALSE(bad);
  EXPECT_EQ(code_of(bad.error()), errc::invalid_argument);
  EXPECT_NE(render(bad.error()).find("exclude: '('"), std::string::npos) << render(bad.error());
  EXPECT_FALSE(device_filter::make({"["}, {}));
}

TEST(device_unavailable, only_free_whole_devices_are_handed_out) {
  struct row {
    std::string what;
    block_device dev;
    std::string reason; ///< expected substring, "" = eligible
  };
  auto with = [](auto change) {
    auto d = disk("vdb", gib);
    change(d);
    return d;
  };
  std::vector<row> rows = {
    {"free", disk("vdb", gib), ""},
    {"hdd is fine", disk("vdb", gib, true), ""},
    {"filesystem", with([](auto& d) { d.signatures = {"ext4"}; }), "holds ext4"},
    {"a PV", with([](auto& d) { d.signatures = {"LVM2_member"}; }), "holds LVM2_member"},
    {"partition table", with([](auto& d) { d.signatures = {"gpt"}; }), "holds gpt"},
    {"holders", with([](auto& d) { d.holders = {"dm-3"}; }), "held by dm-3"},
    {"partitions", with([](auto& d) { d.partitions = {"vdb1"}; }), "has partitions"},
    {"mounted", with([](auto& d) { d.mountpoints = {"/data"}; }), "mounted at /data"},
    {"read-only", with([](auto& d) { d.read_only = true; }), "read-only"},
    {"unreadable", with([](auto& d) { d.probe_error = "io_error: EIO"; }), "content unknown"},
    {"empty", disk("loop7", 0), "empty"},
    {"logical volume", with([](auto& d) { d.kind = "dm"; }), "device-mapper"},
  };
  for (auto& r : rows) {
    auto why = device_unavailable(r.dev);
    if (r.reason.empty())
      EXPECT_EQ(why, "") << r.what;
    else
      EXPECT_NE(why.find(r.reason), std::string::npos) << r.what << ": " << why;
  }
}

TEST(mount_point_unavailable, only_empty_writable_ext_and_xfs) {
  EXPECT_EQ(mount_point_unavailable(mount_point("a", gib)), "");
  EXPECT_EQ(mount_point_unavailable(mount_point("a", gib, "xfs")), "");
  EXPECT_EQ(mount_point_unavailable(mount_point("a", gib, "ext3")), "");
  EXPECT_NE(mount_point_unavailable(mount_point("a", gib, "btrfs")).find("btrfs"),
            std::string::npos);
  EXPECT_NE(mount_point_unavailable(mount_point("a", gib, "tmpfs")).find("only ext3"),
            std::string::npos);
  auto ro = mount_point("a", gib);
  ro.read_only = true;
  EXPECT_EQ(mount_point_unavailable(ro), "mounted read-only");
  auto used = mount_point("a", gib);
  used.entries = 3;
  EXPECT_NE(mount_point_unavailable(used).find("not empty (3 entries"), std::string::npos);
  auto broken = mount_point("a", gib);
  broken.error = "cannot read /mnt/ol/a: Permission denied";
  EXPECT_EQ(mount_point_unavailable(broken), broken.error);
}

TEST(claim_candidates, lists_included_devices_mount_points_and_claims) {
  auto filter = device_filter::make({"vd.*"}, {});
  ASSERT_TRUE(filter);
  auto busy = disk("vdc", gib);
  busy.signatures = {"xfs"};
  std::vector<block_device> devices = {disk("vdb", 2 * gib), busy, disk("sda", gib),
                                       disk("sdb", 5 * gib)};
  std::vector<mount_point_facts> mps = {mount_point("d1", gib)};
  claim_record on_sdb{"vol-x", "Device", "/dev/sdb", "sdb", 5 * gib, "ssd", "", true, 0};
  claim_record gone{"vol-y", "Device", "/dev/vdq", "vdq", gib, "hdd", "", true, 0};
  claim_record mp_gone{"vol-z", "MountPoint", "/mnt/ol/d9", "d9", gib, "ssd", "xfs", true, 0};
  auto all = claim_candidates(devices, &*filter, mps, {on_sdb, gone, mp_gone});
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all[0].name, "sdb") << "claimed devices are listed even when not included";
  EXPECT_EQ(all[0].claimed_by, "vol-x");
  EXPECT_FALSE(all[0].free());
  EXPECT_EQ(all[1].name, "vdb");
  EXPECT_TRUE(all[1].free());
  EXPECT_EQ(all[2].name, "vdc");
  EXPECT_EQ(all[2].unavailable, "holds xfs");
  EXPECT_EQ(all[3].name, "vdq");
  EXPECT_EQ(all[3].unavailable, "missing");
  EXPECT_EQ(all[3].claimed_by, "vol-y");
  EXPECT_EQ(all[4].kind, "MountPoint");
  EXPECT_EQ(all[4].name, "d1");
  EXPECT_TRUE(all[4].free());
  EXPECT_EQ(all[5].name, "d9");
  EXPECT_EQ(all[5].unavailable, "not mounted");
  auto nothing = claim_candidates(devices, nullptr, {}, {});
  EXPECT_TRUE(nothing.empty()) << "no filter: no device is a candidate";
}

TEST(choose_claim, smallest_free_fit_of_the_media_type) {
  auto filter = device_filter::make({".*"}, {});
  ASSERT_TRUE(filter);
  auto used = disk("vde", 3 * gib);
  used.signatures = {"ext4"};
  std::vector<block_device> devices = {disk("vdb", 4 * gib),       disk("vdc", gib),
                                       disk("vdd", 2 * gib),       used,
                                       disk("sdh", 3 * gib, true), disk("sdi", 8 * gib, true)};
  auto cands = claim_candidates(devices, &*filter, {mount_point("d1", gib)}, {});
  struct row {
    claim_req req;
    std::string chosen; ///< "" = resource_exhausted
  };
  std::vector<row> rows = {
    {request("Device", 0), "vdc"},
    {request("Device", gib), "vdc"},
    {request("Device", gib + 1), "vdd"},
    {request("Device", 2 * gib + 1), "sdh"},
    {request("Device", 2 * gib + 1, "ssd"), "vdb"},
    {request("Device", 0, "hdd"), "sdh"},
    {request("Device", 4 * gib, "hdd"), "sdi"},
    {request("Device", gib + 1, "", 3 * gib), "vdd"},
    {request("Device", 5 * gib, "", 6 * gib), ""},
    {request("Device", 9 * gib), ""},
    {request("MountPoint", 0), "d1"},
    {request("MountPoint", 2 * gib), ""},
  };
  for (auto& r : rows) {
    auto chosen = choose_claim(cands, r.req);
    auto label = r.req.kind + " " + std::to_string(r.req.min_bytes) + " " + r.req.media_type;
    if (r.chosen.empty()) {
      ASSERT_FALSE(chosen) << label << " chose " << chosen->name;
      EXPECT_EQ(code_of(chosen.error()), errc::resource_exhausted) << label;
    } else {
      ASSERT_TRUE(chosen) << label << ": " << render(chosen.error());
      EXPECT_EQ(chosen->name, r.chosen) << label;
    }
  }
}

TEST(choose_claim, nothing_fits_names_what_was_looked_at) {
  auto filter = device_filter::make({".*"}, {});
  ASSERT_TRUE(filter);
  auto used = disk("vde", 8 * gib);
  used.signatures = {"LVM2_member"};
  claim_record claimed{"vol-9", "Device", "/dev/vdf", "vdf", 8 * gib, "ssd", "", true, 0};
  auto cands =
    claim_candidates({disk("vdb", gib), used, disk("vdf", 8 * gib), disk("sdg", 8 * gib, true)},
                     &*filter, {}, {claimed});
  auto none = choose_claim(cands, request("Device", 4 * gib, "ssd"));
  ASSERT_FALSE(none);
  auto text = render(none.error());
  EXPECT_EQ(code_of(none.error()), errc::resource_exhausted);
  EXPECT_NE(text.find("vol-1"), std::string::npos) << text;
  EXPECT_NE(text.find("vdb (1073741824 bytes, too small)"), std::string::npos) << text;
  EXPECT_NE(text.find("vde (holds LVM2_member)"), std::string::npos) << text;
  EXPECT_NE(text.find("vdf (claimed by vol-9)"), std::string::npos) << text;
  EXPECT_NE(text.find("sdg (hdd, not ssd)"), std::string::npos) << text;
  auto empty = choose_claim({}, request("MountPoint", 0));
  ASSERT_FALSE(empty);
  EXPECT_NE(render(empty.error()).find("no mount point to offer"), std::string::npos);
  auto bad_kind = choose_claim(cands, request("LVM", 0));
  ASSERT_FALSE(bad_kind);
  EXPECT_EQ(code_of(bad_kind.error()), errc::invalid_argument);
  auto bad_media = choose_claim(cands, request("Device", 0, "nvme"));
  ASSERT_FALSE(bad_media);
  EXPECT_EQ(code_of(bad_media.error()), errc::invalid_argument);
}

TEST(claim_mismatch, a_repeat_is_answered_while_the_claim_satisfies_it) {
  claim_record c{"vol-1", "Device", "/dev/vdb", "vdb", 2 * gib, "ssd", "", true, 0};
  EXPECT_EQ(claim_mismatch(c, request("Device", 2 * gib)), "");
  EXPECT_EQ(claim_mismatch(c, request("Device", mib)), "") << "a smaller request it satisfies";
  EXPECT_EQ(claim_mismatch(c, request("Device", 0, "ssd", 4 * gib)), "");
  EXPECT_NE(claim_mismatch(c, request("Device", 3 * gib)).find("holds 2147483648 bytes"),
            std::string::npos);
  EXPECT_NE(claim_mismatch(c, request("Device", 0, "", gib)).find("above the limit"),
            std::string::npos);
  EXPECT_NE(claim_mismatch(c, request("Device", 0, "hdd")).find("ssd media"), std::string::npos);
  EXPECT_NE(claim_mismatch(c, request("MountPoint", 0)).find("is a Device volume"),
            std::string::npos);
}

TEST(claim_capacity, is_the_largest_free_candidate) {
  auto filter = device_filter::make({".*"}, {});
  ASSERT_TRUE(filter);
  auto used = disk("vdz", 64 * gib);
  used.holders = {"md0"};
  claim_record claimed{"vol-9", "Device", "/dev/vdy", "vdy", 32 * gib, "ssd", "", true, 0};
  auto cands = claim_candidates(
    {disk("vdb", gib), disk("vdc", 4 * gib), disk("sdd", 8 * gib, true), used,
     disk("vdy", 32 * gib)},
    &*filter, {mount_point("d1", 2 * gib), mount_point("d2", 6 * gib, "btrfs")}, {claimed});
  EXPECT_EQ(claim_capacity(cands, "Device", ""), 8 * gib);
  EXPECT_EQ(claim_capacity(cands, "Device", "ssd"), 4 * gib);
  EXPECT_EQ(claim_capacity(cands, "Device", "hdd"), 8 * gib);
  EXPECT_EQ(claim_capacity(cands, "MountPoint", ""), 2 * gib);
  EXPECT_EQ(claim_capacity({}, "Device", ""), 0u);
}

TEST(claim_lv, describes_the_claimed_storage_without_a_volume_group) {
  claim_record c{"vol-1", "Device", "/dev/vdb", "vdb", gib, "ssd", "", true, 0};
  auto lv = claim_lv(c, "/dev/vdb", 252, 16, gib);
  EXPECT_EQ(lv.name, "vol-1");
  EXPECT_EQ(lv.vg_name, "");
  EXPECT_EQ(lv.path, "/dev/vdb");
  EXPECT_EQ(lv.size_bytes, gib);
  EXPECT_EQ(lv.kernel_major, 252);
  EXPECT_EQ(lv.kernel_minor, 16);
  EXPECT_TRUE(lv.has_tag("olocal/kind=device"));
  EXPECT_TRUE(lv.has_tag("olocal/id=vol-1"));
  c.kind = "MountPoint";
  EXPECT_TRUE(claim_lv(c, "/dev/sdc1", 8, 33, gib).has_tag("olocal/kind=mountpoint"));
  EXPECT_EQ(claim_type_of("mountpoint"), "MountPoint");
  EXPECT_EQ(claim_type_of("volume"), "");
  EXPECT_TRUE(is_claim_kind("device"));
  EXPECT_FALSE(is_claim_kind("clone"));
  EXPECT_EQ(claims_path("/var/lib/open-local/"), "/var/lib/open-local/claims.json");
}

TEST(device_stable_id, wwid_then_serial_then_the_loop_backing_file) {
  test::temp_dir sys{"olocal-sysfs"};
  sys.write("block/sda/device/wwid", "naa.5000c500a1b2c3d4\n");
  sys.write("block/sda/device/serial", "ignored: wwid comes first\n");
  sys.write("block/vdb/serial", "  VIRTIO-7  \n");
  sys.write("block/vdc/serial", "\n"); // present but empty
  sys.write("block/loop3/loop/backing_file", "/var/lib/disk.img\n");
  auto root = sys.path().string();
  auto dev = [](std::string name, std::string parent = {}) {
    auto d = disk(std::move(name), gib);
    d.parent = std::move(parent);
    return d;
  };
  EXPECT_EQ(device_stable_id(root, dev("sda")), "wwid:naa.5000c500a1b2c3d4");
  EXPECT_EQ(device_stable_id(root, dev("sda1", "sda")), "wwid:naa.5000c500a1b2c3d4/sda1");
  EXPECT_EQ(device_stable_id(root, dev("vdb")), "serial:VIRTIO-7");
  EXPECT_EQ(device_stable_id(root, dev("vdc")), "");
  EXPECT_EQ(device_stable_id(root, dev("loop3")), "loop:/var/lib/disk.img");
  EXPECT_EQ(device_stable_id(root, dev("nvme9n1")), "");
}

// -- the claims file ---------------------------------------------------------------------

TEST(claims_json, round_trips) {
  std::vector<claim_record> claims = {
    {"local-1", "Device", "/dev/vdb", "vdb", 2 * gib, "hdd", "", false, 1700000000, "serial:X1"},
    {"local-\"2\"", "MountPoint", "/mnt/ol/d 1", "d 1", gib, "ssd", "xfs", true, 1700000001}};
  auto text = claims_to_json(claims);
  auto back = claims_from_json(text, "test");
  ASSERT_TRUE(back) << render(back.error());
  ASSERT_EQ(back->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    auto& a = claims[i];
    auto& b = (*back)[i];
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.path, b.path);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.size_bytes, b.size_bytes);
    EXPECT_EQ(a.media_type, b.media_type);
    EXPECT_EQ(a.fstype, b.fstype);
    EXPECT_EQ(a.wipe, b.wipe);
    EXPECT_EQ(a.created_s, b.created_s);
    EXPECT_EQ(a.stable_id, b.stable_id);
  }
  auto none = claims_from_json(claims_to_json({}), "test");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(claims_json, refuses_what_it_cannot_trust) {
  auto one = [](std::string fields) { return "{\"version\":1,\"claims\":[{" + fields + "}]}"; };
  std::string ok = R"("id":"a","kind":"Device","path":"/dev/vdb","sizeBytes":1)";
  ASSERT_TRUE(claims_from_json(one(ok), "f"));
  struct row {
    std::string text;
    std::string names;
  };
  std::vector<row> rows = {
    {"", "not valid JSON"},
    {"{\"version\":1,\"claims\":[", "not valid JSON"},
    {"[]", "not a JSON object"},
    {"{\"claims\":[]}", "\"version\" must be 1"},
    {"{\"version\":2,\"claims\":[]}", "\"version\" must be 1"},
    {"{\"version\":1.0,\"claims\":[]}", "\"version\" must be 1"},
    {"{\"version\":1}", "\"claims\" must be an array"},
    {"{\"version\":1,\"claims\":[7]}", "claims[0] is not an object"},
    {one(R"("kind":"Device","path":"/dev/vdb","sizeBytes":1)"), "has no \"id\""},
    {one(R"("id":"","kind":"Device","path":"/dev/vdb","sizeBytes":1)"), "empty \"id\""},
    {one(R"("id":"a","kind":"LVM","path":"/dev/vdb","sizeBytes":1)"), "not Device or MountPoint"},
    {one(R"("id":"a","kind":"Device","path":"vdb","sizeBytes":1)"), "not absolute"},
    {one(R"("id":"a","kind":"Device","path":"/dev/vdb"})"), "not valid JSON"},
    {one(R"("id":"a","kind":"Device","path":"/dev/vdb")"), "has no \"sizeBytes\""},
    {one(R"("id":"a","kind":"Device","path":"/dev/vdb","sizeBytes":-1)"), "non-negative"},
    {one(R"("id":"a","kind":"Device","path":"/dev/vdb","sizeBytes":"1")"), "non-negative"},
    {one(ok + R"(,"wipe":"yes")"), "not a boolean"},
    {one(R"("id":7,"kind":"Device","path":"/dev/vdb","sizeBytes":1)"), "not a string"},
    {"{\"version\":1,\"claims\":[{" + ok + "},{" + ok + "}]}", "claimed twice"},
    {"{\"version\":1,\"claims\":[{" + ok +
       R"(},{"id":"b","kind":"Device","path":"/dev/vdb","sizeBytes":1}]})",
     "/dev/vdb is claimed twice"},
  };
  for (auto& r : rows) {
    auto parsed = claims_from_json(r.text, "/state/claims.json");
    ASSERT_FALSE(parsed) << r.text;
    EXPECT_EQ(code_of(parsed.error()), errc::parse_error) << r.text;
    auto text = render(parsed.error());
    EXPECT_NE(text.find("/state/claims.json"), std::string::npos) << text;
    EXPECT_NE(text.find(r.names), std::string::npos) << r.text << " -> " << text;
  }
}

TEST(claims_file, saves_atomically_and_loads_back) {
  test::temp_dir dir{"olocal-claims"};
  auto path = (dir / "state/sub/claims.json").string();
  auto none = load_claims(path);
  ASSERT_TRUE(none) << render(none.error());
  EXPECT_TRUE(none->empty()) << "a missing file holds no claims";
  std::vector<claim_record> claims = {
    {"local-1", "Device", "/dev/vdb", "vdb", gib, "ssd", "", true, 1}};
  auto written = save_claims(path, claims);
  ASSERT_TRUE(written) << render(written.error());
  EXPECT_EQ(*written, file_text(path).size());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp")) << "the temporary file was renamed";
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto back = load_claims(path);
  ASSERT_TRUE(back) << render(back.error());
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].path, "/dev/vdb");
  ASSERT_TRUE(save_claims(path, {}));
  auto empty = load_claims(path);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(claims_file, a_corrupt_file_is_an_error_naming_it) {
  test::temp_dir dir{"olocal-claims"};
  auto path = dir.write("claims.json", "{\"version\":1,\"claims\":[{\"id\":").string();
  auto loaded = load_claims(path);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(code_of(loaded.error()), errc::parse_error);
  EXPECT_NE(render(loaded.error()).find(path), std::string::npos) << render(loaded.error());
  auto empty = dir.write("empty.json", "");
  EXPECT_FALSE(load_claims(empty.string())) << "an empty file is not \"no claims\"";
  auto unreadable = load_claims(dir.path().string()); // a directory
  ASSERT_FALSE(unreadable);
}

// -- mount points and clearing --------------------------------------------------------------

TEST(scan_mount_points, takes_the_topmost_mount_of_each_direct_child) {
  test::temp_dir dir{"olocal-mp"};
  auto root = dir.path().string();
  std::filesystem::create_directories(dir / "d1");
  std::filesystem::create_directories(dir / "d2/deeper");
  std::filesystem::create_directories(dir / "d1/lost+found");
  dir.write("d2/file", "x");
  auto entry = [](std::string point, std::string fstype, uint32_t minor) {
    fs_ops::mount_entry e;
    e.mount_point = std::move(point);
    e.fstype = std::move(fstype);
    e.source = "/dev/sdz" + std::to_string(minor);
    e.major = 8;
    e.minor = minor;
    e.root = "/";
    return e;
  };
  std::vector<fs_ops::mount_entry> table = {entry(root, "ext4", 1),
                                            entry(root + "/d1", "ext3", 2),
                                            entry(root + "/d2/deeper", "ext4", 3),
                                            entry(root + "/d1", "xfs", 4),
                                            entry(root + "/d2", "ext4", 5),
                                            entry(root + "x/d9", "ext4", 6),
                                            entry(root + "/gone", "ext4", 7)};
  auto found = scan_mount_points(root + "/", table, dir.path().string());
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].name, "d1");
  EXPECT_EQ(found[0].fstype, "xfs") << "the topmost mount";
  EXPECT_EQ(found[0].minor, 4u);
  EXPECT_EQ(found[0].entries, 0u) << "lost+found does not count";
  EXPECT_GT(found[0].total_bytes, 0u);
  EXPECT_EQ(found[0].error, "");
  EXPECT_EQ(found[1].name, "d2");
  EXPECT_EQ(found[1].entries, 2u);
  EXPECT_EQ(found[2].name, "gone");
  EXPECT_NE(found[2].error, "") << "a mount point that cannot be examined says why";
  EXPECT_NE(mount_point_unavailable(found[2]), "");
  EXPECT_TRUE(scan_mount_points("", table).empty());
  EXPECT_TRUE(scan_mount_points("relative", table).empty());
}

TEST(clear_directory, refuses_anything_but_the_root_of_the_named_filesystem) {
  test::temp_dir dir{"olocal-clear"};
  dir.write("inside/keep", "data");
  auto path = dir.path().string();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  auto major = static_cast<uint32_t>(::major(st.st_dev));
  auto minor = static_cast<uint32_t>(::minor(st.st_dev));
  auto not_root = clear_directory(path, major, minor);
  ASSERT_FALSE(not_root);
  EXPECT_EQ(code_of(not_root.error()), errc::failed_precondition);
  EXPECT_NE(render(not_root.error()).find("not a mount point"), std::string::npos);
  auto other_fs = clear_directory(path, major + 1, minor);
  ASSERT_FALSE(other_fs);
  EXPECT_EQ(code_of(other_fs.error()), errc::failed_precondition);
  EXPECT_NE(render(other_fs.error()).find("still mounted"), std::string::npos);
  auto missing = clear_directory(path + "/nope", major, minor);
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::failed_precondition);
  std::filesystem::create_directory_symlink(dir / "inside", dir / "link");
  auto link = clear_directory(path + "/link", major, minor);
  ASSERT_FALSE(link) << "a symlink is never followed";
  EXPECT_FALSE(clear_directory("relative", major, minor));
  EXPECT_TRUE(std::filesystem::exists(dir / "inside/keep")) << "nothing was removed";
}
