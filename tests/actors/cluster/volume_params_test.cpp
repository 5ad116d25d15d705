#include "actors/cluster/volume_params.hpp"

#include "actors/core/errc.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

using namespace olocal;

namespace {

constexpr uint64_t ki = 1ull << 10;
constexpr uint64_t mi = 1ull << 20;
constexpr uint64_t gi = 1ull << 30;

struct quantity_case {
  std::string text;
  uint64_t bytes;
};

} // namespace

TEST(parse_quantity, accepts_kubernetes_quantities) {
  const quantity_case cases[] = {
    {"0", 0},
    {"1048576", mi},
    {"1Ki", ki},
    {"1Mi", mi},
    {"4Gi", 4 * gi},
    {"1Ti", 1ull << 40},
    {"1Pi", 1ull << 50},
    {"1Ei", 1ull << 60},
    {"1k", 1000},
    {"1M", 1'000'000},
    {"2G", 2'000'000'000},
    {"1T", 1'000'000'000'000},
    {"1.5Gi", gi + gi / 2},
    {"0.5Ki", 512},
    {"1.0001", 2}, // rounded up to a whole byte
    {"+3", 3},
    {"18446744073709551615", 18446744073709551615ull},
  };
  for (auto& c : cases) {
    auto q = parse_quantity(c.text);
    ASSERT_TRUE(q) << c.text << ": " << render(q.error());
    EXPECT_EQ(*q, c.bytes) << c.text;
  }
}

TEST(parse_quantity, refuses_what_is_not_a_quantity) {
  for (std::string bad : {"", "-1", "1Gb", "1 Gi", "Gi", ".", "1.5.5", "1gi", "16Ei",
                          "18446744073709551616", "1e3", "0x10", "10%"}) {
    auto q = parse_quantity(bad);
    EXPECT_FALSE(q) << "\"" << bad << "\" parsed as " << (q ? *q : 0);
    if (!q) {
      EXPECT_EQ(code_of(q.error()), errc::invalid_argument);
    }
  }
}

TEST(parse_volume_params, defaults_are_open_locals) {
  auto p = parse_volume_params({});
  ASSERT_TRUE(p) << render(p.error());
  EXPECT_EQ(p->volume_type, "LVM");
  EXPECT_EQ(p->fstype, "");
  EXPECT_EQ(p->vg_name, "");
  EXPECT_EQ(p->lvm_type, "linear");
  EXPECT_TRUE(p->wipe) << "secure release is on by default";
  EXPECT_EQ(p->read_iops + p->write_iops + p->read_bps + p->write_bps, 0u);
  EXPECT_EQ(lv_layout(*p), "linear");
}

TEST(parse_volume_params, reads_every_key) {
  auto p = parse_volume_params({{"volumeType", "LVM"},
                                {"csi.storage.k8s.io/fstype", "xfs"},
                                {"vgName", "pool0"},
                                {"lvmType", "striping"},
                                {"iops", "800"},
                                {"bps", "1Mi"},
                                {"writeBps", "2Mi"},
                                {"wipe", "false"},
                                {"csi.storage.k8s.io/pvc/name", "data"}});
  ASSERT_TRUE(p) << render(p.error());
  EXPECT_EQ(p->fstype, "xfs");
  EXPECT_EQ(p->vg_name, "pool0");
  EXPECT_EQ(lv_layout(*p), "striped");
  EXPECT_EQ(p->read_iops, 800u);
  EXPECT_EQ(p->write_iops, 800u);
  EXPECT_EQ(p->read_bps, mi);
  EXPECT_EQ(p->write_bps, 2 * mi) << "the specific key wins over open-local's shared one";
  EXPECT_FALSE(p->wipe);
  auto thin = parse_volume_params({{"lvmType", "thin"}, {"thinPool", "tp"}});
  ASSERT_TRUE(thin);
  EXPECT_EQ(lv_layout(*thin), "thin");
  EXPECT_EQ(thin->thin_pool, "tp");
  auto legacy = parse_volume_params({{"fsType", "ext3"}});
  ASSERT_TRUE(legacy);
  EXPECT_EQ(legacy->fstype, "ext3");
  auto dev = parse_volume_params({{"volumeType", "Device"}, {"mediaType", "hdd"}});
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->volume_type, "Device");
  EXPECT_EQ(dev->media_type, "hdd");
}

TEST(parse_volume_params, bad_values_name_the_key) {
  struct bad_case {
    param_map params;
    std::string names;
  };
  const bad_case cases[] = {
    {{{"volumeType", "lvm"}}, "volumeType"},
    {{{"volumeType", "Quota"}}, "volumeType"},
    {{{"csi.storage.k8s.io/fstype", "btrfs"}}, "csi.storage.k8s.io/fstype"},
    {{{"mediaType", "nvme"}}, "mediaType"},
    {{{"lvmType", "raid1"}}, "lvmType"},
    {{{"iops", "-5"}}, "iops"},
    {{{"iops", "1k"}}, "iops"},
    {{{"bps", "fast"}}, "bps"},
    {{{"readBps", "1Gb"}}, "readBps"},
    {{{"wipe", "maybe"}}, "wipe"},
    {{{"spdk", "true"}}, "spdk"},
    {{{"direct", "true"}}, "direct"},
    {{{"volumeType", "Device"}, {"iops", "10"}}, "IO limits"},
  };
  for (auto& c : cases) {
    auto p = parse_volume_params(c.params);
    ASSERT_FALSE(p) << c.names;
    EXPECT_EQ(code_of(p.error()), errc::invalid_argument);
    EXPECT_NE(render(p.error()).find(c.names), std::string::npos) << render(p.error());
  }
}

TEST(parse_snapshot_params, open_locals_class_and_defaults) {
  auto d = parse_snapshot_params({});
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->read_only);
  EXPECT_EQ(d->initial_bytes, 4 * gi);
  EXPECT_EQ(d->expansion_bytes, gi);
  EXPECT_EQ(d->expansion_threshold_percent, 50u);
  auto s = parse_snapshot_params({{"csi.aliyun.com/readonly", "true"},
                                  {"csi.aliyun.com/snapshot-initial-size", "8Gi"},
                                  {"csi.aliyun.com/snapshot-expansion-size", "512Mi"},
                                  {"csi.aliyun.com/snapshot-expansion-threshold", "70%"}});
  ASSERT_TRUE(s) << render(s.error());
  EXPECT_TRUE(s->read_only);
  EXPECT_EQ(s->initial_bytes, 8 * gi);
  EXPECT_EQ(s->expansion_bytes, 512 * mi);
  EXPECT_EQ(s->expansion_threshold_percent, 70u);
  for (std::string t : {"0%", "101%", "x", "%", "50.5%"}) {
    auto bad = parse_snapshot_params({{"csi.aliyun.com/snapshot-expansion-threshold", t}});
    ASSERT_FALSE(bad) << t;
    EXPECT_NE(render(bad.error()).find("snapshot-expansion-threshold"), std::string::npos);
  }
  EXPECT_FALSE(parse_snapshot_params({{"csi.aliyun.com/snapshot-initial-size", "0"}}));
}

TEST(parse_ephemeral_params, needs_a_vg_and_defaults_to_one_gib) {
  auto e = parse_ephemeral_params({{"vgName", "pool0"}});
  ASSERT_TRUE(e) << render(e.error());
  EXPECT_EQ(e->size_bytes, gi);
  EXPECT_EQ(e->volume.vg_name, "pool0");
  auto sized = parse_ephemeral_params({{"vgName", "pool0"}, {"size", "256Mi"}});
  ASSERT_TRUE(sized);
  EXPECT_EQ(sized->size_bytes, 256 * mi);
  auto missing = parse_ephemeral_params({{"size", "1Gi"}});
  ASSERT_FALSE(missing);
  EXPECT_NE(render(missing.error()).find("vgName is required"), std::string::npos);
  EXPECT_FALSE(parse_ephemeral_params({{"vgName", "p"}, {"size", "big"}}));
  EXPECT_FALSE(parse_ephemeral_params({{"vgName", "p"}, {"volumeType", "Device"}}));
}

TEST(lv_name_for, keeps_short_names_and_hashes_long_ones) {
  EXPECT_EQ(lv_name_for("local-0b1f2c3d-1111-2222-3333-444455556666"),
            "local-0b1f2c3d-1111-2222-3333-444455556666")
    << "open-local's PV names stay LV names";
  EXPECT_EQ(lv_name_for(std::string(64, 'a')), std::string(64, 'a'));
  auto dashes = std::string(33, '-') + std::string(31, 'a'); // 64 bytes, 97 in device-mapper
  auto hashed = lv_name_for(dashes);
  EXPECT_NE(hashed, dashes) << "doubled dashes count";
  auto long_name = std::string(128, 'z');
  auto h = lv_name_for(long_name);
  EXPECT_EQ(h.rfind("olocal-", 0), 0u);
  EXPECT_EQ(h.size(), 7u + 32u);
  EXPECT_TRUE(std::all_of(h.begin() + 7, h.end(), [](char c) { return std::isxdigit(c) != 0; }));
  EXPECT_EQ(lv_name_for(long_name), h) << "deterministic";
  EXPECT_NE(lv_name_for(std::string(127, 'z') + "y"), h);
}
