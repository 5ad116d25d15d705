#include "actors/backends/lvm.hpp"

#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/deep_to_string.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <unistd.h>

using namespace olocal;
using namespace olocal::lvm;
using namespace std::chrono_literals;

namespace {

using strings = std::vector<std::string>;

/// "code: message" of an error, or "ok".
template <class T>
std::string outcome(const caf::expected<T>& x) {
  return x ? std::string{"ok"} : render(x.error());
}

// -- report documents, as lvm2 2.03 prints them ---------------------------------

// pvs --reportformat json --units b --nosuffix -o pv_name,vg_name,pv_uuid,pv_size,pv_free,pv_tags
constexpr std::string_view pvs_report = R"(  {
      "report": [
          {
              "pv": [
                  {"pv_name":"/dev/sdb", "vg_name":"vg0", "pv_uuid":"LqTvwO-91Wy-QoUv-6iY5-5vCd-Av7i-ieiUXV", "pv_size":"107369988096", "pv_free":"53687091200", "pv_tags":""},
                  {"pv_name":"/dev/nvme0n1", "vg_name":"vg0", "pv_uuid":"aQR17u-2HxK-LZSs-wlw3-qJeD-q172-NVfcQV", "pv_size":"1000203091968", "pv_free":"1000203091968", "pv_tags":"nvme,rack=r1"},
                  {"pv_name":"/dev/sdc", "vg_name":"", "pv_uuid":"Zc4oZ1-yByg-X8dj-72Zu-4yYA-s16T-oQ2n1G", "pv_size":"10737418240", "pv_free":"10737418240", "pv_tags":""}
              ]
          }
      ]
  }
)";

// vgs ... -o vg_name,vg_uuid,vg_size,vg_free,vg_extent_size,vg_extent_count,vg_free_count,
//            pv_count,lv_count,vg_tags
constexpr std::string_view vgs_report = R"(  {
      "report": [
          {
              "vg": [
                  {"vg_name":"vg0", "vg_uuid":"KymGvz-ACje-u2Nx-icWY-ITbQ-cYG6-uhdh9d", "vg_size":"1107573080064", "vg_free":"1053890183168", "vg_extent_size":"4194304", "vg_extent_count":"264066", "vg_free_count":"251267", "pv_count":"2", "lv_count":"9", "vg_tags":"open-local,class=fast,owner:node-1"},
                  {"vg_name":"share.pool", "vg_uuid":"IsJ15M-oZc4-8v5r-H2Jv-GUxy-zjd6-TPnvVe", "vg_size":"62914560", "vg_free":"0", "vg_extent_size":"4194304", "vg_extent_count":"15", "vg_free_count":"0", "pv_count":"1", "lv_count":"0", "vg_tags":""}
              ]
          }
      ]
  }
)";

// lvs ... -o lv_name,vg_name,lv_uuid,lv_size,lv_attr,segtype,pool_lv,origin,data_percent,
//            metadata_percent,snap_percent,stripes,lv_tags,lv_kernel_major,lv_kernel_minor
// with -a: thin pool internals are listed in brackets. "big" has two segments,
// so lvm2 prints two rows for it.
constexpr std::string_view lvs_report = R"(  {
      "report": [
          {
              "lv": [
                  {"lv_name":"big", "vg_name":"vg0", "lv_uuid":"b1g000-0000-0000-0000-0000-0000-000001", "lv_size":"16777216", "lv_attr":"-wi-a-----", "segtype":"striped", "pool_lv":"", "origin":"", "data_percent":"", "metadata_percent":"", "snap_percent":"", "stripes":"2", "lv_tags":"", "lv_kernel_major":"254", "lv_kernel_minor":"7"},
                  {"lv_name":"big", "vg_name":"vg0", "lv_uuid":"b1g000-0000-0000-0000-0000-0000-000001", "lv_size":"16777216", "lv_attr":"-wi-a-----", "segtype":"linear", "pool_lv":"", "origin":"", "data_percent":"", "metadata_percent":"", "snap_percent":"", "stripes":"1", "lv_tags":"", "lv_kernel_major":"254", "lv_kernel_minor":"7"},
                  {"lv_name":"inactive-1", "vg_name":"vg0", "lv_uuid":"1nact1-0000-0000-0000-0000-0000-000002", "lv_size":"4194304", "lv_attr":"-wi-------", "segtype":"linear", "pool_lv":"", "origin":"", "data_percent":"", "metadata_percent":"", "snap_percent":"", "stripes":"1", "lv_tags":"", "lv_kernel_major":"-1", "lv_kernel_minor":"-1"},
                  {"lv_name":"local-1", "vg_name":"vg0", "lv_uuid":"PVM0qr-yByg-X8dj-72Zu-4yYA-s16T-oQ2n1G", "lv_size":"1073741824", "lv_attr":"-wi-ao----", "segtype":"linear", "pool_lv":"", "origin":"", "data_percent":"", "metadata_percent":"", "snap_percent":"", "stripes":"1", "lv_tags":"csi,pvc=default/data-0,storage.open-local:lvm", "lv_kernel_major":"254", "lv_kernel_minor":"0"},
                  {"lv_name":"[lvol0_pmspare]", "vg_name":"vg0", "lv_uuid":"pmspar-0000-0000-0000-0000-0000-000003", "lv_size":"4194304", "lv_attr":"ewi-------", "segtype":"linear", "pool_lv":"", "origin":"", "data_percent":"", "metadata_percent":"", "snap_percent":"", "stripes":"1", "lv_tags":"", "lv_kernel_major":"-1", "lv_kernel_minor":"-1"},
                  {"lv_name":"origin-1", "vg_name":"vg0", "lv_uuid":"or1g1n-0000-0000-0000-0000-0000-000004", "lv_size":"2147483648", "lv_attr":"owi-aos---", "segtype":"linear", "pool_lv":"", "origin":"", "data_percent":"", "metadata_percent":"", "snap_percent":"", "stripes":"1", "lv_tags":"", "lv_kernel_major":"254", "lv_kernel_minor":"1"},
                  {"lv_name":"pool", "vg_name":"vg0", "lv_uuid":"p00l00-0000-0000-0000-0000-0000-000005", "lv_size":"10737418240", "lv_attr":"twi-aotz--", "segtype":"thin-pool", "pool_lv":"", "origin":"", "data_percent":"12.50", "metadata_percent":"10.55", "snap_percent":"", "stripes":"1", "lv_tags":"open-local", "lv_kernel_major":"254", "lv_kernel_minor":"4"},
                  {"lv_name":"[pool_tdata]", "vg_name":"vg0", "lv_uuid":"tdata0-0000-0000-0000-0000-0000-000006", "lv_size":"10737418240", "lv_attr":"Twi-ao----", "segtype":"linear", "pool_lv":"", "origin":"", "data_percent":"", "metadata_percent":"", "snap_percent":"", "stripes":"1", "lv_tags":"", "lv_kernel_major":"254", "lv_kernel_minor":"3"},
                  {"lv_name":"[pool_tmeta]", "vg_name":"vg0", "lv_uuid":"tmeta0-0000-0000-0000-0000-0000-000007", "lv_size":"12582912", "lv_attr":"ewi-ao----", "segtype":"linear", "pool_lv":"", "origin":"", "data_percent":"", "metadata_percent":"", "snap_percent":"", "stripes":"1", "lv_tags":"", "lv_kernel_major":"254", "lv_kernel_minor":"2"},
                  {"lv_name":"snap-1", "vg_name":"vg0", "lv_uuid":"snap10-0000-0000-0000-0000-0000-000008", "lv_size":"536870912", "lv_attr":"sri-a-s---", "segtype":"linear", "pool_lv":"", "origin":"origin-1", "data_percent":"25.00", "metadata_percent":"", "snap_percent":"25.00", "stripes":"1", "lv_tags":"snapshot,src=origin-1", "lv_kernel_major":"254", "lv_kernel_minor":"8"},
                  {"lv_name":"snap-bad", "vg_name":"vg0", "lv_uuid":"snapbd-0000-0000-0000-0000-0000-000009", "lv_size":"4194304", "lv_attr":"sri-I-s---", "segtype":"linear", "pool_lv":"", "origin":"origin-1", "data_percent":"100.00", "metadata_percent":"", "snap_percent":"100.00", "stripes":"1", "lv_tags":"", "lv_kernel_major":"254", "lv_kernel_minor":"9"},
                  {"lv_name":"thin-1", "vg_name":"vg0", "lv_uuid":"th1n10-0000-0000-0000-0000-0000-000010", "lv_size":"21474836480", "lv_attr":"Vwi-aotz--", "segtype":"thin", "pool_lv":"pool", "origin":"", "data_percent":"5.00", "metadata_percent":"", "snap_percent":"", "stripes":"0", "lv_tags":"", "lv_kernel_major":"254", "lv_kernel_minor":"5"},
                  {"lv_name":"thin-snap", "vg_name":"vg0", "lv_uuid":"thsnap-0000-0000-0000-0000-0000-000011", "lv_size":"21474836480", "lv_attr":"Vri---tz-k", "segtype":"thin", "pool_lv":"pool", "origin":"thin-1", "data_percent":"", "metadata_percent":"", "snap_percent":"", "stripes":"0", "lv_tags":"", "lv_kernel_major":"-1", "lv_kernel_minor":"-1"}
              ]
          }
      ]
  }
)";

const lv_info* find_lv(const std::vector<lv_info>& lvs, std::string_view name) {
  for (auto& lv : lvs)
    if (lv.name == name)
      return &lv;
  return nullptr;
}

} // namespace

// -- parse_pvs / parse_vgs ---------------------------------------------------------

TEST(lvm_parse, pvs_report_with_orphan_and_tags) {
  auto pvs = parse_pvs(pvs_report);
  ASSERT_TRUE(pvs) << outcome(pvs);
  ASSERT_EQ(pvs->size(), 3u);
  auto& sdb = (*pvs)[0];
  EXPECT_EQ(sdb.name, "/dev/sdb");
  EXPECT_EQ(sdb.vg_name, "vg0");
  EXPECT_EQ(sdb.uuid, "LqTvwO-91Wy-QoUv-6iY5-5vCd-Av7i-ieiUXV");
  EXPECT_EQ(sdb.size_bytes, 107369988096u);
  EXPECT_EQ(sdb.free_bytes, 53687091200u);
  EXPECT_TRUE(sdb.tags.empty());
  EXPECT_EQ((*pvs)[1].tags, (strings{"nvme", "rack=r1"}));
  EXPECT_EQ((*pvs)[1].size_bytes, 1000203091968u);
  EXPECT_EQ((*pvs)[2].vg_name, ""); // orphan
}

TEST(lvm_parse, vgs_report) {
  auto vgs = parse_vgs(vgs_report);
  ASSERT_TRUE(vgs) << outcome(vgs);
  ASSERT_EQ(vgs->size(), 2u);
  auto& vg = (*vgs)[0];
  EXPECT_EQ(vg.name, "vg0");
  EXPECT_EQ(vg.uuid, "KymGvz-ACje-u2Nx-icWY-ITbQ-cYG6-uhdh9d");
  EXPECT_EQ(vg.size_bytes, 1107573080064u);
  EXPECT_EQ(vg.free_bytes, 1053890183168u);
  EXPECT_EQ(vg.extent_size_bytes, 4194304u);
  EXPECT_EQ(vg.extent_count, 264066u);
  EXPECT_EQ(vg.free_extent_count, 251267u);
  EXPECT_EQ(vg.pv_count, 2u);
  EXPECT_EQ(vg.lv_count, 9u);
  EXPECT_EQ(vg.tags, (strings{"open-local", "class=fast", "owner:node-1"}));
  EXPECT_EQ((*vgs)[1].name, "share.pool");
  EXPECT_EQ((*vgs)[1].free_bytes, 0u);
  EXPECT_TRUE((*vgs)[1].tags.empty());
}

TEST(lvm_parse, empty_reports_are_empty_lists) {
  // Exactly what lvm2 prints on a host without VGs.
  auto pvs = parse_pvs("  {\n      \"report\": [\n          {\n              \"pv\": [\n"
                       "              ]\n          }\n      ]\n  }\n");
  ASSERT_TRUE(pvs) << outcome(pvs);
  EXPECT_TRUE(pvs->empty());
  auto vgs = parse_vgs(R"({"report":[{"vg":[]}]})");
  ASSERT_TRUE(vgs) << outcome(vgs);
  EXPECT_TRUE(vgs->empty());
  auto lvs = parse_lvs(R"({"report":[{"lv":[]}]})");
  ASSERT_TRUE(lvs) << outcome(lvs);
  EXPECT_TRUE(lvs->empty());
}

// -- parse_lvs -----------------------------------------------------------------------

TEST(lvm_parse, lvs_report_merges_segments_and_keeps_order) {
  auto lvs = parse_lvs(lvs_report);
  ASSERT_TRUE(lvs) << outcome(lvs);
  strings names;
  for (auto& lv : *lvs)
    names.push_back(lv.name);
  EXPECT_EQ(names,
            (strings{"big", "inactive-1", "local-1", "lvol0_pmspare", "origin-1", "pool",
                     "pool_tdata", "pool_tmeta", "snap-1", "snap-bad", "thin-1", "thin-snap"}));
  auto* big = find_lv(*lvs, "big");
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->segment_count, 2u);
  EXPECT_EQ(big->segtype, "striped"); // the first segment's
  EXPECT_EQ(big->stripes, 2u);
  EXPECT_EQ(big->size_bytes, 16777216u); // the LV's size, not a sum of rows
}

/// What parse_lvs decodes for each LV of lvs_report.
struct lv_expectation {
  std::string name;
  std::string segtype;
  bool active;
  bool read_only;
  bool invalid_snapshot;
  bool hidden;
  double data_percent;
  double metadata_percent;
  double snap_percent;
  int32_t kernel_major;
  int32_t kernel_minor;
  std::string path;
  std::string pool_lv;
  std::string origin;
};

TEST(lvm_parse, lvs_report_decodes_every_kind) {
  auto lvs = parse_lvs(lvs_report);
  ASSERT_TRUE(lvs) << outcome(lvs);
  std::vector<lv_expectation> table = {
    // name, segtype, active, ro, invalid, hidden, data, meta, snap, major, minor, path, pool,
    // origin
    {"inactive-1", "linear", false, false, false, false, -1, -1, -1, -1, -1, "/dev/vg0/inactive-1",
     "", ""},
    {"local-1", "linear", true, false, false, false, -1, -1, -1, 254, 0, "/dev/vg0/local-1", "",
     ""},
    {"lvol0_pmspare", "linear", false, false, false, true, -1, -1, -1, -1, -1, "", "", ""},
    {"origin-1", "linear", true, false, false, false, -1, -1, -1, 254, 1, "/dev/vg0/origin-1", "",
     ""},
    {"pool", "thin-pool", true, false, false, false, 12.5, 10.55, -1, 254, 4, "/dev/vg0/pool", "",
     ""},
    {"pool_tdata", "linear", true, false, false, true, -1, -1, -1, 254, 3, "", "", ""},
    {"pool_tmeta", "linear", true, false, false, true, -1, -1, -1, 254, 2, "", "", ""},
    {"snap-1", "linear", true, true, false, false, 25, -1, 25, 254, 8, "/dev/vg0/snap-1", "",
     "origin-1"},
    {"snap-bad", "linear", true, true, true, false, 100, -1, 100, 254, 9, "/dev/vg0/snap-bad", "",
     "origin-1"},
    {"thin-1", "thin", true, false, false, false, 5, -1, -1, 254, 5, "/dev/vg0/thin-1", "pool", ""},
    {"thin-snap", "thin", false, true, false, false, -1, -1, -1, -1, -1, "/dev/vg0/thin-snap",
     "pool", "thin-1"},
  };
  for (auto& want : table) {
    SCOPED_TRACE(want.name);
    auto* lv = find_lv(*lvs, want.name);
    ASSERT_NE(lv, nullptr);
    EXPECT_EQ(lv->vg_name, "vg0");
    EXPECT_EQ(lv->segtype, want.segtype);
    EXPECT_EQ(lv->active, want.active);
    EXPECT_EQ(lv->read_only, want.read_only);
    EXPECT_EQ(lv->invalid_snapshot, want.invalid_snapshot);
    EXPECT_EQ(lv->hidden, want.hidden);
    EXPECT_DOUBLE_EQ(lv->data_percent, want.data_percent);
    EXPECT_DOUBLE_EQ(lv->metadata_percent, want.metadata_percent);
    EXPECT_DOUBLE_EQ(lv->snap_percent, want.snap_percent);
    EXPECT_EQ(lv->kernel_major, want.kernel_major);
    EXPECT_EQ(lv->kernel_minor, want.kernel_minor);
    EXPECT_EQ(lv->path, want.path);
    EXPECT_EQ(lv->pool_lv, want.pool_lv);
    EXPECT_EQ(lv->origin, want.origin);
    EXPECT_EQ(lv->segment_count, 1u);
  }
}

TEST(lvm_parse, lvs_report_attr_helpers_and_tags) {
  auto lvs = parse_lvs(lvs_report);
  ASSERT_TRUE(lvs) << outcome(lvs);
  auto get = [&](std::string_view name) {
    auto* lv = find_lv(*lvs, name);
    EXPECT_NE(lv, nullptr) << name;
    return lv ? *lv : lv_info{};
  };
  auto local = get("local-1");
  EXPECT_EQ(local.tags, (strings{"csi", "pvc=default/data-0", "storage.open-local:lvm"}));
  EXPECT_TRUE(local.has_tag("csi"));
  EXPECT_FALSE(local.has_tag("cs"));
  EXPECT_TRUE(local.device_open());
  EXPECT_EQ(local.full_name(), "vg0/local-1");
  EXPECT_EQ(local.uuid, "PVM0qr-yByg-X8dj-72Zu-4yYA-s16T-oQ2n1G");
  EXPECT_EQ(local.size_bytes, 1073741824u);
  EXPECT_EQ(local.attr, "-wi-ao----");
  auto pool = get("pool");
  EXPECT_TRUE(pool.is_thin_pool());
  EXPECT_FALSE(pool.is_thin_volume());
  EXPECT_EQ(pool.tags, (strings{"open-local"}));
  auto thin = get("thin-1");
  EXPECT_TRUE(thin.is_thin_volume());
  EXPECT_FALSE(thin.is_thin_snapshot());
  EXPECT_EQ(thin.stripes, 0u);
  auto thin_snap = get("thin-snap");
  EXPECT_TRUE(thin_snap.is_thin_snapshot());
  EXPECT_TRUE(thin_snap.skip_activation());
  EXPECT_FALSE(thin_snap.is_cow_snapshot());
  auto snap = get("snap-1");
  EXPECT_TRUE(snap.is_cow_snapshot());
  EXPECT_FALSE(snap.is_thin_snapshot());
  EXPECT_EQ(snap.tags, (strings{"snapshot", "src=origin-1"}));
  EXPECT_TRUE(get("origin-1").is_cow_origin());
  EXPECT_FALSE(get("inactive-1").device_open());
  EXPECT_FALSE(get("inactive-1").partial());
}

TEST(lvm_parse, attr_on_a_host_without_device_mapper) {
  // lvm2 prints X (unknown) for state and open when it cannot ask the kernel.
  auto lvs = parse_lvs(
    R"({"report":[{"lv":[{"lv_name":"lin", "vg_name":"olx_exp", "lv_uuid":"IsJ15M-oZc4-8v5r-H2Jv-GUxy-zjd6-TPnvVe", "lv_size":"8388608", "lv_attr":"-wi-XX----", "segtype":"linear", "pool_lv":"", "origin":"", "data_percent":"", "metadata_percent":"", "snap_percent":"", "stripes":"1", "lv_tags":"k=v,t1", "lv_kernel_major":"-1", "lv_kernel_minor":"-1"}]}]})");
  ASSERT_TRUE(lvs) << outcome(lvs);
  ASSERT_EQ(lvs->size(), 1u);
  EXPECT_FALSE((*lvs)[0].active);
  EXPECT_FALSE((*lvs)[0].device_open());
  EXPECT_EQ((*lvs)[0].tags, (strings{"k=v", "t1"}));
}

TEST(lvm_parse, json_std_values_are_accepted) {
  // lvm2 >= 2.03.17 can print numbers, null and string arrays (json_std).
  auto lvs = parse_lvs(
    R"({"report":[{"lv":[{"lv_name":"a", "vg_name":"vg0", "lv_uuid":"u", "lv_size":1073741824, "lv_attr":"-wi-a-----", "segtype":"linear", "pool_lv":"", "origin":"", "data_percent":null, "metadata_percent":null, "snap_percent":12.5, "stripes":1, "lv_tags":["x","y"], "lv_kernel_major":254, "lv_kernel_minor":1}]}]})");
  ASSERT_TRUE(lvs) << outcome(lvs);
  ASSERT_EQ(lvs->size(), 1u);
  auto& lv = (*lvs)[0];
  EXPECT_EQ(lv.size_bytes, 1073741824u);
  EXPECT_DOUBLE_EQ(lv.data_percent, -1);
  EXPECT_DOUBLE_EQ(lv.snap_percent, 12.5);
  EXPECT_EQ(lv.tags, (strings{"x", "y"}));
  EXPECT_EQ(lv.kernel_major, 254);
}

TEST(lvm_parse, byte_counts_with_a_zero_fraction_are_exact) {
  auto vgs = parse_vgs(
    R"({"report":[{"vg":[{"vg_name":"vg0", "vg_uuid":"u", "vg_size":"1024.00", "vg_free":"0", "vg_extent_size":"4194304", "vg_extent_count":"1", "vg_free_count":"0", "pv_count":"1", "lv_count":"0", "vg_tags":""}]}]})");
  ASSERT_TRUE(vgs) << outcome(vgs);
  EXPECT_EQ((*vgs)[0].size_bytes, 1024u);
}

TEST(lvm_parse, records_are_caf_message_types) {
  auto lvs = parse_lvs(lvs_report);
  ASSERT_TRUE(lvs) << outcome(lvs);
  auto vgs = parse_vgs(vgs_report);
  ASSERT_TRUE(vgs) << outcome(vgs);
  auto pvs = parse_pvs(pvs_report);
  ASSERT_TRUE(pvs) << outcome(pvs);
  auto text = caf::deep_to_string(lvs->front());
  EXPECT_NE(text.find("lvm_lv_info"), std::string::npos) << text;
  EXPECT_NE(caf::deep_to_string(vgs->front()).find("lvm_vg_info"), std::string::npos);
  EXPECT_NE(caf::deep_to_string(pvs->front()).find("lvm_pv_info"), std::string::npos);

  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  ASSERT_FALSE(sink(*lvs, *vgs, *pvs));
  std::vector<lv_info> lvs_back;
  std::vector<vg_info> vgs_back;
  std::vector<pv_info> pvs_back;
  caf::binary_deserializer source{nullptr, buf};
  ASSERT_FALSE(source(lvs_back, vgs_back, pvs_back));
  ASSERT_EQ(lvs_back.size(), lvs->size());
  for (size_t i = 0; i < lvs->size(); ++i) {
    auto& a = (*lvs)[i];
    auto& b = lvs_back[i];
    EXPECT_EQ(caf::deep_to_string(a), caf::deep_to_string(b));
    EXPECT_EQ(a.tags, b.tags);
    EXPECT_DOUBLE_EQ(a.metadata_percent, b.metadata_percent);
    EXPECT_EQ(a.kernel_major, b.kernel_major);
    EXPECT_EQ(a.hidden, b.hidden);
  }
  ASSERT_EQ(vgs_back.size(), vgs->size());
  EXPECT_EQ(vgs_back[0].tags, (*vgs)[0].tags);
  EXPECT_EQ(vgs_back[0].extent_count, (*vgs)[0].extent_count);
  ASSERT_EQ(pvs_back.size(), pvs->size());
  EXPECT_EQ(pvs_back[1].tags, (*pvs)[1].tags);
  EXPECT_EQ(pvs_back[1].size_bytes, (*pvs)[1].size_bytes);
}

// -- malformed reports -----------------------------------------------------------------

namespace {

/// One LV row with every field; `field` gets `raw` (JSON text) instead, or is
/// left out when `raw` is empty.
std::string lv_row(std::string_view field = {}, std::string_view raw = {}) {
  std::vector<std::pair<std::string, std::string>> fields = {
    {"lv_name", R"("lv1")"},        {"vg_name", R"("vg0")"},
    {"lv_uuid", R"("u1")"},         {"lv_size", R"("4194304")"},
    {"lv_attr", R"("-wi-a-----")"}, {"segtype", R"("linear")"},
    {"pool_lv", R"("")"},           {"origin", R"("")"},
    {"data_percent", R"("")"},      {"metadata_percent", R"("")"},
    {"snap_percent", R"("")"},      {"stripes", R"("1")"},
    {"lv_tags", R"("")"},           {"lv_kernel_major", R"("254")"},
    {"lv_kernel_minor", R"("0")"},
  };
  std::string out = "{";
  for (auto& [key, value] : fields) {
    std::string_view v = value;
    if (key == field) {
      if (raw.empty())
        continue;
      v = raw;
    }
    if (out.size() > 1)
      out += ", ";
    out += '"' + key + "\":" + std::string{v};
  }
  return out + "}";
}

std::string lvs_doc(const std::string& rows) {
  return R"({"report":[{"lv":[)" + rows + "]}]}";
}

struct malformed_case {
  std::string name;
  report_kind kind;
  std::string json;
  std::string message; ///< expected part of the rendered error
};

void PrintTo(const malformed_case& c, std::ostream* os) {
  *os << c.name;
}

std::string nested(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

std::vector<malformed_case> malformed_cases() {
  auto vg_row = [](std::string_view count) {
    return R"({"report":[{"vg":[{"vg_name":"vg0", "vg_uuid":"u", "vg_size":"1", "vg_free":"0", "vg_extent_size":"4194304", "vg_extent_count":"1", "vg_free_count":"0", "pv_count":")" +
           std::string{count} + R"(", "lv_count":"0", "vg_tags":""}]}]})";
  };
  return {
    {"not_json", report_kind::lvs, "  Volume group \"vg0\" not found", "not JSON"},
    {"empty_input", report_kind::lvs, "", "not JSON"},
    {"truncated", report_kind::lvs, R"({"report":[{"lv":[)", "not JSON"},
    {"trailing_garbage", report_kind::lvs, R"({"report":[{"lv":[]}]} lvs)", "not JSON"},
    {"too_deep", report_kind::lvs, nested(200), "not JSON"},
    {"root_is_array", report_kind::lvs, "[]", "the document is not an object"},
    {"root_is_string", report_kind::pvs, R"("report")", "the document is not an object"},
    {"no_report_member", report_kind::vgs, R"({"reports":[]})", "no \"report\" member"},
    {"report_is_object", report_kind::lvs, R"({"report":{"lv":[]}})", "\"report\" is not an array"},
    {"section_not_object", report_kind::lvs, R"({"report":[1]})",
     "an element of \"report\" is not an object"},
    {"wrong_section", report_kind::lvs, R"({"report":[{"vg":[]}]})",
     "no \"lv\" list in \"report\""},
    {"empty_report_array", report_kind::pvs, R"({"report":[]})", "no \"pv\" list"},
    {"rows_not_array", report_kind::lvs, R"({"report":[{"lv":{}}]})", "\"lv\" is not an array"},
    {"row_not_object", report_kind::lvs, lvs_doc(lv_row() + ", 7"), "row 2 is not an object"},
    {"missing_size", report_kind::lvs, lvs_doc(lv_row("lv_size")),
     "row 1: field \"lv_size\" is missing"},
    {"missing_attr", report_kind::lvs, lvs_doc(lv_row() + "," + lv_row("lv_attr")),
     "row 2: field \"lv_attr\" is missing"},
    {"size_not_numeric", report_kind::lvs, lvs_doc(lv_row("lv_size", R"("12x")")),
     "field \"lv_size\" is not a non-negative integer: \"12x\""},
    {"size_with_unit", report_kind::lvs, lvs_doc(lv_row("lv_size", R"("4.00m")")),
     "\"lv_size\" is not a non-negative integer: \"4.00m\""},
    {"size_negative", report_kind::lvs, lvs_doc(lv_row("lv_size", R"("-1")")),
     "\"lv_size\" is not a non-negative integer"},
    {"size_fraction", report_kind::lvs, lvs_doc(lv_row("lv_size", R"("1.5")")),
     "\"lv_size\" is not a non-negative integer"},
    {"size_empty", report_kind::lvs, lvs_doc(lv_row("lv_size", R"("")")),
     "\"lv_size\" is not a non-negative integer"},
    {"size_overflow", report_kind::lvs, lvs_doc(lv_row("lv_size", R"("99999999999999999999")")),
     "\"lv_size\" is not a non-negative integer"},
    {"size_negative_number", report_kind::lvs, lvs_doc(lv_row("lv_size", "-5")),
     "\"lv_size\" is not a non-negative integer"},
    {"size_is_object", report_kind::lvs, lvs_doc(lv_row("lv_size", "{}")),
     "\"lv_size\" is not a non-negative integer"},
    {"stripes_too_large", report_kind::lvs, lvs_doc(lv_row("stripes", R"("4294967296")")),
     "\"stripes\" is out of range"},
    {"percent_not_numeric", report_kind::lvs, lvs_doc(lv_row("data_percent", R"("abc")")),
     "field \"data_percent\" is not a percentage: \"abc\""},
    {"percent_nan", report_kind::lvs, lvs_doc(lv_row("snap_percent", R"("nan")")),
     "\"snap_percent\" is not a percentage"},
    {"percent_is_bool", report_kind::lvs, lvs_doc(lv_row("metadata_percent", "true")),
     "\"metadata_percent\" is not a percentage"},
    {"kernel_major_text", report_kind::lvs, lvs_doc(lv_row("lv_kernel_major", R"("x")")),
     "\"lv_kernel_major\" is not an integer: \"x\""},
    {"kernel_major_huge", report_kind::lvs, lvs_doc(lv_row("lv_kernel_major", R"("9999999999")")),
     "\"lv_kernel_major\" is not an integer"},
    {"name_empty", report_kind::lvs, lvs_doc(lv_row("lv_name", R"("")")),
     "field \"lv_name\" is empty"},
    {"name_is_number", report_kind::lvs, lvs_doc(lv_row("lv_name", "5")),
     "field \"lv_name\" is not a string"},
    {"tags_is_number", report_kind::lvs, lvs_doc(lv_row("lv_tags", "5")),
     "field \"lv_tags\" is not a tag list"},
    {"tags_array_of_numbers", report_kind::lvs, lvs_doc(lv_row("lv_tags", "[1]")),
     "\"lv_tags\" holds a value that is not a string"},
    {"pv_name_missing", report_kind::pvs,
     R"({"report":[{"pv":[{"vg_name":"", "pv_uuid":"u", "pv_size":"1", "pv_free":"1", "pv_tags":""}]}]})",
     "pvs report, row 1: field \"pv_name\" is missing"},
    {"pv_free_text", report_kind::pvs,
     R"({"report":[{"pv":[{"pv_name":"/dev/sdb", "vg_name":"", "pv_uuid":"u", "pv_size":"1", "pv_free":"lots", "pv_tags":""}]}]})",
     "field \"pv_free\" is not a non-negative integer: \"lots\""},
    {"vg_pv_count_too_large", report_kind::vgs, vg_row("4294967296"),
     "\"pv_count\" is out of range"},
    {"vg_pv_count_text", report_kind::vgs, vg_row("two"),
     "\"pv_count\" is not a non-negative integer: \"two\""},
  };
}

caf::error parse_any(report_kind kind, std::string_view json) {
  switch (kind) {
  case report_kind::pvs: {
    auto r = parse_pvs(json);
    return r ? caf::error{} : r.error();
  }
  case report_kind::vgs: {
    auto r = parse_vgs(json);
    return r ? caf::error{} : r.error();
  }
  default: {
    auto r = parse_lvs(json);
    return r ? caf::error{} : r.error();
  }
  }
}

} // namespace

class lvm_malformed : public testing::TestWithParam<malformed_case> {};

TEST_P(lvm_malformed, is_a_parse_error_naming_the_problem) {
  auto& c = GetParam();
  auto err = parse_any(c.kind, c.json);
  ASSERT_TRUE(err) << "parsed: " << c.json;
  EXPECT_EQ(code_of(err), errc::parse_error) << render(err);
  EXPECT_NE(render(err).find(c.message), std::string::npos) << render(err);
}

INSTANTIATE_TEST_SUITE_P(table, lvm_malformed, testing::ValuesIn(malformed_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(lvm_parse, the_baseline_row_of_the_malformed_table_parses) {
  auto lvs = parse_lvs(lvs_doc(lv_row() + "," + lv_row("lv_uuid", R"("u2")")));
  ASSERT_TRUE(lvs) << outcome(lvs);
  EXPECT_EQ(lvs->size(), 2u);
}

TEST(lvm_parse, truncations_and_byte_flips_never_crash) {
  // Every prefix and a few byte substitutions at every position: each parse
  // returns a value or a parse_error, nothing else.
  std::string doc{lvs_report};
  auto check = [](std::string_view text) {
    auto lvs = parse_lvs(text);
    if (!lvs) {
      ASSERT_EQ(code_of(lvs.error()), errc::parse_error) << render(lvs.error());
    }
    auto vgs = parse_vgs(text);
    if (!vgs) {
      ASSERT_EQ(code_of(vgs.error()), errc::parse_error) << render(vgs.error());
    }
  };
  for (size_t n = 0; n < doc.size(); n += 3)
    check(std::string_view{doc}.substr(0, n));
  for (size_t i = 0; i < doc.size(); ++i) {
    for (char c : {'"', '}', '0', '\xff'}) {
      auto mutated = doc;
      mutated[i] = c;
      auto lvs = parse_lvs(mutated);
      if (!lvs) {
        ASSERT_EQ(code_of(lvs.error()), errc::parse_error) << render(lvs.error());
      }
    }
  }
}

// -- report argv -------------------------------------------------------------------

TEST(lvm_report, field_lists) {
  EXPECT_EQ(pvs_fields(),
            (strings{"pv_name", "vg_name", "pv_uuid", "pv_size", "pv_free", "pv_tags"}));
  EXPECT_EQ(vgs_fields(),
            (strings{"vg_name", "vg_uuid", "vg_size", "vg_free", "vg_extent_size",
                     "vg_extent_count", "vg_free_count", "pv_count", "lv_count", "vg_tags"}));
  EXPECT_EQ(lvs_fields(),
            (strings{"lv_name", "vg_name", "lv_uuid", "lv_size", "lv_attr", "segtype", "pool_lv",
                     "origin", "data_percent", "metadata_percent", "snap_percent", "stripes",
                     "lv_tags", "lv_kernel_major", "lv_kernel_minor"}));
}

TEST(lvm_report, argv_of_each_report) {
  const std::string lv_fields = "lv_name,vg_name,lv_uuid,lv_size,lv_attr,segtype,pool_lv,origin,"
                                "data_percent,metadata_percent,snap_percent,stripes,lv_tags,"
                                "lv_kernel_major,lv_kernel_minor";
  const std::string vg_fields = "vg_name,vg_uuid,vg_size,vg_free,vg_extent_size,vg_extent_count,"
                                "vg_free_count,pv_count,lv_count,vg_tags";
  const std::string pv_fields = "pv_name,vg_name,pv_uuid,pv_size,pv_free,pv_tags";
  const strings common = {"--reportformat", "json", "--units", "b", "--nosuffix"};
  auto with = [&](std::string program, strings tail) {
    strings argv{std::move(program)};
    argv.insert(argv.end(), common.begin(), common.end());
    argv.insert(argv.end(), tail.begin(), tail.end());
    return argv;
  };
  struct report_case {
    report_kind kind;
    std::string vg;
    bool hidden;
    strings argv;
  };
  std::vector<report_case> table = {
    {report_kind::lvs, "", false, with("lvs", {"-o", lv_fields})},
    {report_kind::lvs, "vg0", false, with("lvs", {"-o", lv_fields, "vg0"})},
    {report_kind::lvs, "vg0", true, with("lvs", {"-a", "-o", lv_fields, "vg0"})},
    {report_kind::vgs, "", false, with("vgs", {"-o", vg_fields})},
    {report_kind::vgs, "vg0", true, with("vgs", {"-o", vg_fields, "vg0"})},
    {report_kind::pvs, "", false, with("pvs", {"-o", pv_fields})},
    {report_kind::pvs, "vg0", false, with("pvs", {"-o", pv_fields, "-S", "vg_name=vg0"})},
  };
  for (auto& c : table) {
    SCOPED_TRACE(c.argv[0] + " " + c.vg + (c.hidden ? " -a" : ""));
    auto argv = report_argv(c.kind, c.vg, c.hidden);
    ASSERT_TRUE(argv) << outcome(argv);
    EXPECT_EQ(*argv, c.argv);
  }
  auto bad = report_argv(report_kind::lvs, "-o");
  ASSERT_FALSE(bad);
  EXPECT_EQ(code_of(bad.error()), errc::invalid_argument);
  EXPECT_NE(render(bad.error()).find("vg filter \"-o\""), std::string::npos) << render(bad.error());
}

// -- name and tag validation ---------------------------------------------------------

namespace {

struct name_case {
  std::string name;
  std::string value;
  bool valid;
  std::string message; ///< expected part of the error when invalid
};

std::vector<name_case> vg_name_cases() {
  return {
    {"simple", "vg0", true, ""},
    {"all_allowed_characters", "Az09+_.-", true, ""},
    {"dots_inside", "a..b", true, ""},
    {"max_length", std::string(127, 'v'), true, ""},
    {"snapshot_is_fine_for_a_vg", "snapshot", true, ""},
    {"empty", "", false, "vg name is empty"},
    {"too_long", std::string(128, 'v'), false, "longer than 127 characters"},
    {"leading_hyphen", "-vg", false, "vg name \"-vg\": starts with '-'"},
    {"dot", ".", false, "reserved by lvm2"},
    {"dot_dot", "..", false, "reserved by lvm2"},
    {"slash", "vg/lv", false, "contains '/'"},
    {"space", "my vg", false, "contains ' '"},
    {"at", "@tag", false, "contains '@'"},
    {"newline", "vg\n", false, "contains '\\x0a'"},
    {"utf8", "v\xc3\xa9", false, "contains '\\xc3'"},
  };
}

std::vector<name_case> lv_name_cases() {
  return {
    {"simple", "local-1", true, ""},
    {"csi_style", "local-3e1f0c4a-52b6-4a3d-9b9c-6ad1e2f0a111", true, ""},
    {"snapshot_inside", "my-snapshot", true, ""},
    {"tdata_without_underscore", "tdata", true, ""},
    {"plus_and_dot", "a+b.c", true, ""},
    {"empty", "", false, "lv name is empty"},
    {"leading_hyphen", "-lv", false, "starts with '-'"},
    {"dot_dot", "..", false, "reserved by lvm2"},
    {"snapshot_prefix", "snapshot0", false, "names starting with \"snapshot\" are reserved"},
    {"pvmove_prefix", "pvmove1", false, "names starting with \"pvmove\" are reserved"},
    {"tdata", "pool_tdata", false, "names containing \"_tdata\" are reserved"},
    {"tmeta", "pool_tmeta", false, "\"_tmeta\""},
    {"mlog", "a_mlog_b", false, "\"_mlog\""},
    {"cdata", "x_cdata", false, "\"_cdata\""},
    {"cmeta", "x_cmeta", false, "\"_cmeta\""},
    {"corig", "x_corig", false, "\"_corig\""},
    {"iorig", "x_iorig", false, "\"_iorig\""},
    {"mimage", "x_mimage_0", false, "\"_mimage\""},
    {"pmspare", "lvol0_pmspare", false, "\"_pmspare\""},
    {"rimage", "x_rimage_1", false, "\"_rimage\""},
    {"rmeta", "x_rmeta_1", false, "\"_rmeta\""},
    {"vdata", "x_vdata", false, "\"_vdata\""},
    {"vorigin", "x_vorigin", false, "\"_vorigin\""},
    {"wcorig", "x_wcorig", false, "\"_wcorig\""},
    {"bracketed", "[pool_tdata]", false, "contains '['"},
    {"too_long", std::string(128, 'l'), false, "longer than 127"},
  };
}

std::vector<name_case> tag_cases() {
  return {
    {"simple", "open-local", true, ""},
    {"all_allowed_characters", "aZ09_+.-/=!:&#", true, ""},
    {"key_value", "pvc=default/data-0", true, ""},
    {"leading_hyphen", "-x", true, ""},
    {"max_length", std::string(1024, 't'), true, ""},
    {"empty", "", false, "tag is empty"},
    {"too_long", std::string(1025, 't'), false, "longer than 1024 characters"},
    {"comma", "a,b", false, "contains ','"},
    {"space", "a b", false, "contains ' '"},
    {"at", "@a", false, "contains '@'"},
    {"quote", "a\"b", false, "contains '\"'"},
    {"star", "a*", false, "contains '*'"},
  };
}

std::vector<name_case> device_cases() {
  return {
    {"disk", "/dev/sdb", true, ""},
    {"by_id", "/dev/disk/by-id/nvme-Samsung_SSD_980_1TB_S649NF0R123456", true, ""},
    {"empty", "", false, "device is empty"},
    {"relative", "sdb", false, "not an absolute device path"},
    {"option", "-ff", false, "not an absolute device path"},
    {"root_only", "/", false, "not an absolute device path"},
    {"newline", "/dev/sdb\n", false, "control character"},
  };
}

void check_names(const std::vector<name_case>& table,
                 const std::function<caf::error(std::string_view)>& validate) {
  for (auto& c : table) {
    SCOPED_TRACE(c.name);
    auto err = validate(c.value);
    if (c.valid) {
      EXPECT_FALSE(err) << render(err);
      continue;
    }
    ASSERT_TRUE(err);
    EXPECT_EQ(code_of(err), errc::invalid_argument);
    EXPECT_NE(render(err).find(c.message), std::string::npos) << render(err);
  }
}

} // namespace

TEST(lvm_names, vg_names) {
  check_names(vg_name_cases(), [](std::string_view v) { return validate_vg_name(v); });
}

TEST(lvm_names, lv_names) {
  check_names(lv_name_cases(), [](std::string_view v) { return validate_lv_name(v); });
}

TEST(lvm_names, tags) {
  check_names(tag_cases(), [](std::string_view v) { return validate_tag(v); });
}

TEST(lvm_names, devices) {
  check_names(device_cases(), [](std::string_view v) { return validate_device(v); });
}

TEST(lvm_names, errors_name_the_field) {
  auto err = validate_lv_name("snapshot1", "origin");
  ASSERT_TRUE(err);
  EXPECT_EQ(render(err), "invalid_argument: origin \"snapshot1\": names starting with "
                         "\"snapshot\" are reserved by lvm2");
  // Long values are cut in messages.
  err = validate_tag(std::string(2000, 'x'));
  ASSERT_TRUE(err);
  EXPECT_LT(render(err).size(), 200u) << render(err);
}

// -- change builders -------------------------------------------------------------------

namespace {

struct builder_case {
  std::string name;
  std::function<argv_result()> build;
  strings argv;
};

void PrintTo(const builder_case& c, std::ostream* os) {
  *os << c.name;
}

constexpr uint64_t gib = 1ull << 30;
constexpr uint64_t mib = 1ull << 20;

std::vector<builder_case> builder_cases() {
  const strings tags = {"open-local", "pvc=default/data-0"};
  return {
    {"linear",
     [] { return lvcreate_linear("vg0", "local-1", gib); },
     {"lvcreate", "-y", "-W", "y", "-Z", "y", "--type", "linear", "-L", "1073741824b", "-n",
      "local-1", "vg0"}},
    {"linear_with_tags",
     [=] { return lvcreate_linear("vg0", "local-1", 512, tags); },
     {"lvcreate", "-y", "-W", "y", "-Z", "y", "--type", "linear", "-L", "512b", "-n", "local-1",
      "--addtag", "open-local", "--addtag", "pvc=default/data-0", "vg0"}},
    {"striped_default_size",
     [] { return lvcreate_striped("vg0", "s1", 8 * mib, 2); },
     {"lvcreate", "-y", "-W", "y", "-Z", "y", "--type", "striped", "-i", "2", "-L", "8388608b",
      "-n", "s1", "vg0"}},
    {"striped_with_size_and_tags",
     [] { return lvcreate_striped("vg0", "s1", 8 * mib, 4, 65536, {"fast"}); },
     {"lvcreate", "-y", "-W", "y", "-Z", "y", "--type", "striped", "-i", "4", "-I", "65536b", "-L",
      "8388608b", "-n", "s1", "--addtag", "fast", "vg0"}},
    {"thin_pool",
     [] { return lvcreate_thin_pool("vg0", "pool", 10 * gib); },
     {"lvcreate", "-y", "-Z", "y", "--type", "thin-pool", "-L", "10737418240b", "-n", "pool",
      "vg0"}},
    {"thin_pool_with_metadata",
     [] { return lvcreate_thin_pool("vg0", "pool", 10 * gib, 64 * mib, {"open-local"}); },
     {"lvcreate", "-y", "-Z", "y", "--type", "thin-pool", "-L", "10737418240b",
      "--poolmetadatasize", "67108864b", "-n", "pool", "--addtag", "open-local", "vg0"}},
    {"thin",
     [=] { return lvcreate_thin("vg0", "pool", "thin-1", 20 * gib, {"csi"}); },
     {"lvcreate", "-y", "-W", "y", "--type", "thin", "-V", "21474836480b", "--thinpool", "pool",
      "-n", "thin-1", "--addtag", "csi", "vg0"}},
    {"cow_snapshot",
     [] { return lvcreate_cow_snapshot("vg0", "local-1", "snap-1", 512 * mib, {"snapshot"}); },
     {"lvcreate", "-y", "-s", "-p", "r", "-L", "536870912b", "-n", "snap-1", "--addtag", "snapshot",
      "vg0/local-1"}},
    {"thin_snapshot",
     [] { return lvcreate_thin_snapshot("vg0", "thin-1", "tsnap-1"); },
     {"lvcreate", "-y", "-s", "-k", "n", "-a", "y", "-n", "tsnap-1", "vg0/thin-1"}},
    {"thin_snapshot_with_tags",
     [] {
       return lvcreate_thin_snapshot("vg0", "thin-1", "tsnap-1", {"a", "b"});
     },
     {"lvcreate", "-y", "-s", "-k", "n", "-a", "y", "-n", "tsnap-1", "--addtag", "a", "--addtag",
      "b", "vg0/thin-1"}},
    {"lvremove", [] { return lvremove("vg0", "local-1"); }, {"lvremove", "-y", "vg0/local-1"}},
    {"lvextend",
     [] { return lvextend("vg0", "local-1", 2 * gib, false); },
     {"lvextend", "-y", "-L", "2147483648b", "vg0/local-1"}},
    {"lvextend_resize_fs",
     [] { return lvextend("vg0", "local-1", 2 * gib, true); },
     {"lvextend", "-y", "-L", "2147483648b", "-r", "vg0/local-1"}},
    {"addtag",
     [] {
       return lvchange_addtag("vg0", "local-1", {"a", "b=c"});
     },
     {"lvchange", "--addtag", "a", "--addtag", "b=c", "vg0/local-1"}},
    {"deltag",
     [] { return lvchange_deltag("vg0", "local-1", {"a"}); },
     {"lvchange", "--deltag", "a", "vg0/local-1"}},
    {"vgcreate",
     [] {
       return vgcreate("vg0", {"/dev/sdb", "/dev/sdc"});
     },
     {"vgcreate", "-qq", "vg0", "/dev/sdb", "/dev/sdc"}},
    {"vgcreate_force_with_tags",
     [] { return vgcreate("vg0", {"/dev/sdb"}, {"open-local"}, true); },
     {"vgcreate", "-f", "-y", "--addtag", "open-local", "vg0", "/dev/sdb"}},
    {"pvcreate",
     [] {
       return pvcreate({"/dev/sdb", "/dev/nvme0n1"});
     },
     {"pvcreate", "-qq", "/dev/sdb", "/dev/nvme0n1"}},
    {"pvcreate_force",
     [] { return pvcreate({"/dev/sdb"}, true); },
     {"pvcreate", "-f", "-y", "/dev/sdb"}},
    {"vgextend",
     [] { return vgextend("vg0", {"/dev/sdd"}); },
     {"vgextend", "-qq", "vg0", "/dev/sdd"}},
    {"vgextend_force",
     [] {
       return vgextend("vg0", {"/dev/sdd", "/dev/sde"}, true);
     },
     {"vgextend", "-f", "-y", "vg0", "/dev/sdd", "/dev/sde"}},
  };
}

struct refusal_case {
  std::string name;
  std::function<argv_result()> build;
  std::string message; ///< expected part of the invalid_argument error
};

void PrintTo(const refusal_case& c, std::ostream* os) {
  *os << c.name;
}

std::vector<refusal_case> refusal_cases() {
  const std::string vg20(20, 'v');
  return {
    {"bad_vg", [] { return lvcreate_linear("-vg", "lv", gib); }, "vg name \"-vg\""},
    {"bad_lv", [] { return lvcreate_linear("vg0", "snapshot1", gib); }, "lv name \"snapshot1\""},
    {"zero_size", [] { return lvcreate_linear("vg0", "lv", 0); }, "size must be positive"},
    {"size_not_sector_multiple", [] { return lvcreate_linear("vg0", "lv", 1000); },
     "size 1000 is not a multiple of 512 bytes"},
    {"bad_tag",
     [] {
       return lvcreate_linear("vg0", "lv", gib, {"ok", "not ok"});
     },
     "tag \"not ok\""},
    {"vg_plus_lv_too_long", [=] { return lvcreate_linear(vg20, std::string(105, 'l'), gib); },
     "longer than lvm2 allows (124 characters for both)"},
    {"thin_pool_name_too_long",
     [=] { return lvcreate_thin_pool(vg20, std::string(100, 'p'), gib); }, "pool name \"ppp"},
    {"stripes_zero", [] { return lvcreate_striped("vg0", "s", gib, 0); },
     "stripes 0 out of range 1..128"},
    {"stripes_too_many", [] { return lvcreate_striped("vg0", "s", gib, 129); },
     "stripes 129 out of range"},
    {"stripe_size_not_power_of_two", [] { return lvcreate_striped("vg0", "s", gib, 2, 12288); },
     "stripe size 12288 is not a power of two"},
    {"stripe_size_too_small", [] { return lvcreate_striped("vg0", "s", gib, 2, 2048); },
     "stripe size 2048"},
    {"thin_pool_metadata_odd", [] { return lvcreate_thin_pool("vg0", "pool", gib, 1000); },
     "metadata size 1000"},
    {"thin_pool_reserved_name", [] { return lvcreate_thin_pool("vg0", "p_tmeta", gib); },
     "pool name \"p_tmeta\""},
    {"thin_bad_pool", [] { return lvcreate_thin("vg0", "[pool]", "t", gib); },
     "pool name \"[pool]\""},
    {"thin_zero_size", [] { return lvcreate_thin("vg0", "pool", "t", 0); },
     "virtual size must be positive"},
    {"cow_bad_origin", [] { return lvcreate_cow_snapshot("vg0", "", "s", gib); },
     "origin is empty"},
    {"cow_bad_name", [] { return lvcreate_cow_snapshot("vg0", "lv", "pvmove0", gib); },
     "snapshot name \"pvmove0\""},
    {"thin_snapshot_bad_origin", [] { return lvcreate_thin_snapshot("vg0", "a/b", "s"); },
     "origin \"a/b\""},
    {"lvremove_bad_vg", [] { return lvremove("vg0/x", "lv"); }, "vg name \"vg0/x\""},
    {"lvextend_zero", [] { return lvextend("vg0", "lv", 0, true); }, "new size must be positive"},
    {"addtag_none", [] { return lvchange_addtag("vg0", "lv", {}); }, "at least one tag"},
    {"deltag_bad", [] { return lvchange_deltag("vg0", "lv", {"a,b"}); }, "tag \"a,b\""},
    {"vgcreate_no_devices", [] { return vgcreate("vg0", {}); }, "at least one device"},
    {"vgcreate_relative_device", [] { return vgcreate("vg0", {"sdb"}); }, "device \"sdb\""},
    {"vgcreate_bad_tag", [] { return vgcreate("vg0", {"/dev/sdb"}, {""}); }, "tag is empty"},
    {"pvcreate_option_device", [] { return pvcreate({"-ff"}); }, "device \"-ff\""},
    {"vgextend_bad_vg", [] { return vgextend("..", {"/dev/sdb"}); }, "vg name \"..\""},
  };
}

} // namespace

class lvm_builder : public testing::TestWithParam<builder_case> {};

TEST_P(lvm_builder, gives_the_exact_argv) {
  auto argv = GetParam().build();
  ASSERT_TRUE(argv) << outcome(argv);
  EXPECT_EQ(*argv, GetParam().argv) << render_argv(*argv);
}

INSTANTIATE_TEST_SUITE_P(table, lvm_builder, testing::ValuesIn(builder_cases()),
                         [](const auto& info) { return info.param.name; });

class lvm_refusal : public testing::TestWithParam<refusal_case> {};

TEST_P(lvm_refusal, is_invalid_argument_naming_the_field) {
  auto argv = GetParam().build();
  ASSERT_FALSE(argv) << render_argv(*argv);
  EXPECT_EQ(code_of(argv.error()), errc::invalid_argument);
  EXPECT_NE(render(argv.error()).find(GetParam().message), std::string::npos)
    << render(argv.error());
}

INSTANTIATE_TEST_SUITE_P(table, lvm_refusal, testing::ValuesIn(refusal_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(lvm_builders, full_name_limit_is_inclusive) {
  // lvm2 2.03 accepts len(vg) + len(lv) up to 124 for a new LV.
  EXPECT_TRUE(lvcreate_linear(std::string(20, 'v'), std::string(104, 'l'), gib));
  EXPECT_FALSE(lvcreate_linear(std::string(20, 'v'), std::string(105, 'l'), gib));
  // The pool leaves room for "<pool>_tdata".
  EXPECT_TRUE(lvcreate_thin_pool(std::string(20, 'v'), std::string(98, 'p'), gib));
  EXPECT_FALSE(lvcreate_thin_pool(std::string(20, 'v'), std::string(99, 'p'), gib));
  // Existing LVs are addressed without that limit.
  EXPECT_TRUE(lvremove(std::string(20, 'v'), std::string(127, 'l')));
}

// -- classify_failure ------------------------------------------------------------------

namespace {

struct failure_case {
  std::string name;
  strings argv;
  int exit_code;
  std::string stderr_text;
  errc code;
  std::string line; ///< the stderr line the message must quote
};

void PrintTo(const failure_case& c, std::ostream* os) {
  *os << c.name;
}

// Messages as lvm2 2.03.16 prints them (captured on loop devices, or taken
// from the strings of the lvm binary where device-mapper was needed).
const std::string no_dm_noise = "  /dev/mapper/control: open failed: No such device\n"
                                "  Failure to communicate with kernel device-mapper driver.\n"
                                "  Check that device-mapper is available in the kernel.\n"
                                "  Incompatible libdevmapper 1.02.185 (2022-05-18) and kernel "
                                "driver (unknown version).\n";

std::vector<failure_case> failure_cases() {
  const strings create = {"lvcreate", "-y", "-L", "1073741824b", "-n", "lv1", "vg0"};
  const strings remove = {"lvremove", "-y", "vg0/lv1"};
  const strings extend = {"lvextend", "-y", "-L", "8388608b", "vg0/lv1"};
  const strings pv = {"pvcreate", "-qq", "/dev/loop0"};
  const strings vg = {"vgcreate", "-qq", "vg0", "/dev/loop0"};
  return {
    // not_found
    {"lv_not_found", remove, 5, "  Failed to find logical volume \"vg0/lv1\"\n", errc::not_found,
     "Failed to find logical volume \"vg0/lv1\""},
    {"lv_not_found_in_vg", extend, 5, "  Logical volume lv1 not found in volume group vg0.\n",
     errc::not_found, "Logical volume lv1 not found in volume group vg0."},
    {"vg_not_found", create, 5,
     "  Volume group \"vg0\" not found\n  Cannot process volume group vg0\n", errc::not_found,
     "Volume group \"vg0\" not found"},
    {"pool_not_found",
     {"lvcreate", "-y", "--type", "thin", "-V", "1073741824b", "--thinpool", "pool", "-n", "t",
      "vg0"},
     5,
     "  Pool pool not found in Volume group vg0.\n",
     errc::not_found,
     "Pool pool not found in Volume group vg0."},
    {"snapshot_origin_not_found",
     {"lvcreate", "-y", "-s", "-k", "n", "-a", "y", "-n", "tsnap-1", "vg0/thin-1"},
     5,
     "  Snapshot origin LV thin-1 not found in Volume group vg0.\n",
     errc::not_found,
     "Snapshot origin LV thin-1 not found in Volume group vg0."},
    {"device_not_found", pv, 5, "  No device found for /dev/loop0.\n", errc::not_found,
     "No device found for /dev/loop0."},
    {"not_found_after_dm_noise", remove, 5,
     no_dm_noise + "  Failed to find logical volume \"vg0/lv1\"\n", errc::not_found,
     "Failed to find logical volume \"vg0/lv1\""},
    // already_exists
    {"lv_exists", create, 5,
     "  WARNING: Activation disabled. No device-mapper interaction will be attempted.\n"
     "  Logical Volume \"lv1\" already exists in volume group \"vg0\"\n",
     errc::already_exists, "Logical Volume \"lv1\" already exists in volume group \"vg0\""},
    {"vg_exists", vg, 5, "  A volume group called vg0 already exists.\n", errc::already_exists,
     "A volume group called vg0 already exists."},
    {"vg_name_in_dev",
     {"vgcreate", "-qq", "disk", "/dev/loop0"},
     5,
     "  /dev/disk: already exists in filesystem\n",
     errc::invalid_argument,
     "/dev/disk: already exists in filesystem"},
    // resource_exhausted
    {"vg_insufficient_space", create, 5,
     "  Volume group \"vg0\" has insufficient free space (26 extents): 256 required.\n",
     errc::resource_exhausted,
     "Volume group \"vg0\" has insufficient free space (26 extents): 256 required."},
    {"insufficient_extents", create, 5,
     "  Insufficient suitable allocatable extents for logical volume lv1: 100 more required\n",
     errc::resource_exhausted,
     "Insufficient suitable allocatable extents for logical volume lv1: 100 more required"},
    {"insufficient_free_space_extents", extend, 5,
     "  Insufficient free space: 300 extents needed, but only 25 available\n",
     errc::resource_exhausted,
     "Insufficient free space: 300 extents needed, but only 25 available"},
    {"too_few_pvs_for_stripes", create, 5,
     "  Using default stripesize 64.00 KiB.\n"
     "  Rounding size (15 extents) down to stripe boundary size (14 extents)\n"
     "  Number of stripes (2) must not exceed number of physical volumes (1)\n",
     errc::resource_exhausted,
     "Number of stripes (2) must not exceed number of physical volumes (1)"},
    {"thin_pool_threshold", create, 5,
     "  Cannot create new thin volume, free space in thin pool vg0/pool reached threshold.\n",
     errc::resource_exhausted,
     "Cannot create new thin volume, free space in thin pool vg0/pool reached threshold."},
    // device_busy
    {"lv_in_use", remove, 5, "  Logical volume vg0/lv1 in use.\n", errc::device_busy,
     "Logical volume vg0/lv1 in use."},
    {"fs_in_use", remove, 5, "  Logical volume vg0/lv1 contains a filesystem in use.\n",
     errc::device_busy, "Logical volume vg0/lv1 contains a filesystem in use."},
    {"not_exclusive", pv, 5, "  Can't open /dev/loop0 exclusively.  Mounted filesystem?\n",
     errc::device_busy, "Can't open /dev/loop0 exclusively.  Mounted filesystem?"},
    {"pv_in_other_vg", vg, 5,
     "  Physical volume '/dev/loop0' is already in volume group 'vg1'\n"
     "  Unable to add physical volume '/dev/loop0' to volume group 'vg1'\n"
     "  /dev/loop0: physical volume not initialized.\n",
     errc::device_busy, "Physical volume '/dev/loop0' is already in volume group 'vg1'"},
    {"signature_not_wiped", pv, 5,
     "WARNING: ext4 signature detected on /dev/loop0 at offset 1080. Wipe it? [y/n]: [n]\n"
     "  Aborted wiping of ext4.\n  1 existing signature left on the device.\n",
     errc::device_busy, "Aborted wiping of ext4."},
    {"pv_of_vg_needs_ff",
     {"pvcreate", "-f", "-y", "/dev/loop0"},
     5,
     "  Can't initialize physical volume \"/dev/loop0\" of volume group \"vg0\" without -ff\n"
     "  /dev/loop0: physical volume not initialized.\n",
     errc::device_busy,
     "Can't initialize physical volume \"/dev/loop0\" of volume group \"vg0\" without -ff"},
    {"device_partitioned", pv, 5, "  Cannot use /dev/sdb: device is partitioned\n",
     errc::device_busy, "Cannot use /dev/sdb: device is partitioned"},
    {"device_md_member", pv, 5, "  Cannot use /dev/sdb: device is an md component\n",
     errc::device_busy, "Cannot use /dev/sdb: device is an md component"},
    {"device_too_small", pv, 5, "  Cannot use /dev/sdb: device is too small (pv_min_size)\n",
     errc::failed_precondition, "Cannot use /dev/sdb: device is too small (pv_min_size)"},
    {"device_filtered", vg, 5, "  Cannot use /dev/sdb: device is rejected by filter config\n",
     errc::failed_precondition, "Cannot use /dev/sdb: device is rejected by filter config"},
    // out_of_range and failed_precondition
    {"extend_same_size", extend, 5, "  New size (2 extents) matches existing size (2 extents).\n",
     errc::out_of_range, "New size (2 extents) matches existing size (2 extents)."},
    {"extend_smaller", extend, 5,
     "  New size given (1 extents) not larger than existing size (2 extents)\n", errc::out_of_range,
     "New size given (1 extents) not larger than existing size (2 extents)"},
    {"resize_fs_inactive",
     {"lvextend", "-y", "-L", "16777216b", "-r", "vg0/lv1"},
     5,
     "  Logical volume vg0/lv1 must be activated before resizing filesystem.\n",
     errc::failed_precondition,
     "Logical volume vg0/lv1 must be activated before resizing filesystem."},
    {"remove_pool_component",
     {"lvremove", "-y", "vg0/pool_tdata"},
     5,
     "  Can't remove logical volume pool_tdata used by a pool.\n",
     errc::failed_precondition,
     "Can't remove logical volume pool_tdata used by a pool."},
    // aborted
    {"lock_held", create, 5, "  Can't get lock for vg0.\n", errc::aborted,
     "Can't get lock for vg0."},
    // no_device_mapper
    {"no_dm_target", create, 3,
     no_dm_noise + "  striped: Required device-mapper target(s) not detected in your kernel.\n"
                   "  Run `lvcreate --help' for more information.\n",
     errc::no_device_mapper,
     "striped: Required device-mapper target(s) not detected in your kernel."},
    {"no_dm_snapshot",
     {"lvcreate", "-y", "-s", "-p", "r", "-L", "4194304b", "-n", "s", "vg0/lv1"},
     5,
     "  WARNING: Activation disabled. No device-mapper interaction will be attempted.\n"
     "  Can't create snapshot without using device-mapper kernel driver.\n",
     errc::no_device_mapper,
     "Can't create snapshot without using device-mapper kernel driver."},
    {"only_dm_noise",
     {"lvchange", "-ay", "vg0/lv1"},
     5,
     no_dm_noise,
     errc::no_device_mapper,
     "Failure to communicate with kernel device-mapper driver."},
    // invalid_argument: lvm2 refused the command line
    {"reserved_name", create, 3,
     "  Names including \"_tdata\" are reserved. Please choose a different LV name.\n"
     "  Run `lvcreate --help' for more information.\n",
     errc::invalid_argument,
     "Names including \"_tdata\" are reserved. Please choose a different LV name."},
    {"bad_option_value",
     {"lvchange", "--addtag", "a b", "vg0/lv1"},
     3,
     "  Invalid argument for --addtag: a b\n  Error during parsing of command line.\n",
     errc::invalid_argument,
     "Invalid argument for --addtag: a b"},
    // command_failed
    {"other_failure", create, 5,
     "  Internal error: LV name \"vg0/lv1\" length 128 is not supported.\n", errc::command_failed,
     "Internal error: LV name \"vg0/lv1\" length 128 is not supported."},
    {"warning_only", create, 5, "  WARNING: Something odd happened.\n", errc::command_failed,
     "WARNING: Something odd happened."},
    {"warning_is_not_the_cause", create, 5,
     "  WARNING: PV /dev/sdb in use by another host.\n  Failed to write metadata.\n",
     errc::command_failed, "Failed to write metadata."},
    {"killed", create, 137, "", errc::command_failed, "failed with exit code 137 and no message"},
  };
}

} // namespace

class lvm_failure : public testing::TestWithParam<failure_case> {};

TEST_P(lvm_failure, is_classified_with_command_and_cause) {
  auto& c = GetParam();
  auto err = classify_failure(c.argv, c.exit_code, c.stderr_text);
  ASSERT_TRUE(err);
  EXPECT_EQ(code_of(err), c.code) << render(err);
  auto text = message_of(err);
  EXPECT_EQ(
    text.rfind(render_argv(c.argv) + " failed with exit code " + std::to_string(c.exit_code), 0),
    0u)
    << text;
  EXPECT_NE(text.find(c.line), std::string::npos) << text;
  EXPECT_EQ(text.find("Run `"), std::string::npos) << text;
  EXPECT_EQ(text.find("Cannot process volume group"), std::string::npos) << text;
}

INSTANTIATE_TEST_SUITE_P(table, lvm_failure, testing::ValuesIn(failure_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(lvm_classify, exact_message) {
  auto err = classify_failure({"lvremove", "-y", "vg0/lv 1"}, 5,
                              "  Failed to find logical volume \"vg0/lv 1\"\n");
  EXPECT_EQ(render(err), "not_found: lvremove -y 'vg0/lv 1' failed with exit code 5: Failed to "
                         "find logical volume \"vg0/lv 1\"");
}

TEST(lvm_classify, long_lines_are_cut) {
  auto err = classify_failure({"lvs"}, 5, std::string(5000, 'x') + "\n");
  EXPECT_EQ(code_of(err), errc::command_failed);
  EXPECT_LT(message_of(err).size(), 600u);
}

// -- run_lvm -------------------------------------------------------------------------

TEST(lvm_run, environment) {
  EXPECT_EQ(lvm_environment(),
            (strings{"LC_ALL=C", "LVM_SUPPRESS_FD_WARNINGS=1", "DM_DISABLE_UDEV=1"}));
}

TEST(lvm_run, runner_passes_the_environment_and_classifies) {
  // Any program works as a stand-in for lvm2 here.
  auto out =
    run_lvm({"sh", "-c", "echo \"$LC_ALL $LVM_SUPPRESS_FD_WARNINGS $DM_DISABLE_UDEV\""}, 10s);
  ASSERT_TRUE(out) << outcome(out);
  EXPECT_EQ(*out, "C 1 1\n");
  auto failed =
    run_lvm({"sh", "-c",
             "echo '  Volume group \"vg9\" not found' >&2; echo '  Cannot process volume "
             "group vg9' >&2; exit 5"},
            10s);
  ASSERT_FALSE(failed);
  EXPECT_EQ(code_of(failed.error()), errc::not_found) << render(failed.error());
  EXPECT_NE(message_of(failed.error()).find("Volume group \"vg9\" not found"), std::string::npos);
  auto slow = run_lvm({"sleep", "30"}, 200ms);
  ASSERT_FALSE(slow);
  EXPECT_EQ(code_of(slow.error()), errc::timeout);
  EXPECT_EQ(message_of(slow.error()), "sleep 30 timed out after 200ms");
  auto missing = run_lvm({"olocal-no-such-lvm-tool"}, 1s);
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found);
}

// -- the real lvm2 of this host ---------------------------------------------------------

namespace {

/// Skips unless lvm2 can report here (installed, and we are root).
#define OLOCAL_REQUIRE_LVM2()                                                                      \
  do {                                                                                             \
    if (::geteuid() != 0)                                                                          \
      GTEST_SKIP() << "lvm2 reports need root";                                                    \
    auto probe = run_command({{"lvs", "--version"}, 30s});                                         \
    if (!probe)                                                                                    \
      GTEST_SKIP() << "lvm2 is not installed: " << render(probe.error());                          \
  } while (false)

/// A report argv that sees no device at all: the same empty answer on every host.
strings without_devices(strings argv) {
  argv.insert(argv.begin() + 1, {"--config", "devices { global_filter = [ \"r|.*|\" ] }"});
  return argv;
}

} // namespace

TEST(lvm_host, empty_reports_of_the_real_lvm2_parse_to_empty_lists) {
  OLOCAL_REQUIRE_LVM2();
  auto pvs = run_lvm(without_devices(*report_argv(report_kind::pvs)), 60s);
  ASSERT_TRUE(pvs) << outcome(pvs);
  auto pv_list = parse_pvs(*pvs);
  ASSERT_TRUE(pv_list) << outcome(pv_list) << "\n" << *pvs;
  EXPECT_TRUE(pv_list->empty());
  auto vgs = run_lvm(without_devices(*report_argv(report_kind::vgs)), 60s);
  ASSERT_TRUE(vgs) << outcome(vgs);
  auto vg_list = parse_vgs(*vgs);
  ASSERT_TRUE(vg_list) << outcome(vg_list) << "\n" << *vgs;
  EXPECT_TRUE(vg_list->empty());
  auto lvs = run_lvm(without_devices(*report_argv(report_kind::lvs, "", true)), 60s);
  ASSERT_TRUE(lvs) << outcome(lvs);
  auto lv_list = parse_lvs(*lvs);
  ASSERT_TRUE(lv_list) << outcome(lv_list) << "\n" << *lvs;
  EXPECT_TRUE(lv_list->empty());
}

TEST(lvm_host, reports_of_this_host_parse_and_agree) {
  // Whatever this host has (nothing on the build machine; the VM has VGs).
  OLOCAL_REQUIRE_LVM2();
  auto pvs = run_lvm(*report_argv(report_kind::pvs), 60s);
  ASSERT_TRUE(pvs) << outcome(pvs);
  auto pv_list = parse_pvs(*pvs);
  ASSERT_TRUE(pv_list) << outcome(pv_list);
  auto vgs = run_lvm(*report_argv(report_kind::vgs), 60s);
  ASSERT_TRUE(vgs) << outcome(vgs);
  auto vg_list = parse_vgs(*vgs);
  ASSERT_TRUE(vg_list) << outcome(vg_list);
  auto lvs = run_lvm(*report_argv(report_kind::lvs), 60s);
  ASSERT_TRUE(lvs) << outcome(lvs);
  auto lv_list = parse_lvs(*lvs);
  ASSERT_TRUE(lv_list) << outcome(lv_list);
  for (auto& pv : *pv_list) {
    if (pv.vg_name.empty())
      continue;
    EXPECT_TRUE(std::any_of(vg_list->begin(), vg_list->end(),
                            [&](const vg_info& vg) { return vg.name == pv.vg_name; }))
      << pv.name;
  }
  for (auto& lv : *lv_list) {
    EXPECT_FALSE(lv.hidden) << lv.name; // not asked for
    EXPECT_TRUE(std::any_of(vg_list->begin(), vg_list->end(),
                            [&](const vg_info& vg) { return vg.name == lv.vg_name; }))
      << lv.full_name();
  }
}

TEST(lvm_host, an_unknown_vg_is_not_found) {
  OLOCAL_REQUIRE_LVM2();
  const std::string vg = "olocal-test-no-such-vg-" + std::to_string(::getpid());
  for (auto kind : {report_kind::vgs, report_kind::lvs}) {
    auto argv = report_argv(kind, vg);
    ASSERT_TRUE(argv) << outcome(argv);
    auto out = run_lvm(*argv, 60s);
    ASSERT_FALSE(out) << *out;
    EXPECT_EQ(code_of(out.error()), errc::not_found) << render(out.error());
    EXPECT_NE(message_of(out.error()).find("Volume group \"" + vg + "\" not found"),
              std::string::npos)
      << render(out.error());
    EXPECT_EQ(message_of(out.error()).rfind(render_argv(*argv), 0), 0u) << render(out.error());
  }
  // pvs filters by selection: an unknown VG has no PVs.
  auto pvs = run_lvm(*report_argv(report_kind::pvs, vg), 60s);
  ASSERT_TRUE(pvs) << outcome(pvs);
  auto pv_list = parse_pvs(*pvs);
  ASSERT_TRUE(pv_list) << outcome(pv_list);
  EXPECT_TRUE(pv_list->empty());
}

// -- fullreport: the whole VG in one process -------------------------------------

TEST(lvm_fullreport, argv_configures_every_section) {
  auto argv = fullreport_argv("vg0");
  ASSERT_TRUE(argv);
  ASSERT_GE(argv->size(), 3u);
  EXPECT_EQ((*argv)[0], "lvm");
  EXPECT_EQ((*argv)[1], "fullreport");
  EXPECT_EQ(argv->back(), "vg0");
  auto section = [&](const std::string& type) -> std::string {
    for (size_t i = 0; i + 3 < argv->size(); ++i)
      if ((*argv)[i] == "--configreport" && (*argv)[i + 1] == type && (*argv)[i + 2] == "-o")
        return (*argv)[i + 3];
    return "";
  };
  EXPECT_NE(section("vg").find("vg_extent_size"), std::string::npos);
  EXPECT_NE(section("pv").find("pv_free"), std::string::npos);
  EXPECT_NE(section("lv").find("lv_tags"), std::string::npos);
  EXPECT_EQ(section("lv").find("segtype"), std::string::npos) << "segment fields go to seg";
  EXPECT_EQ(section("seg"), "lv_uuid,segtype,stripes");
  EXPECT_FALSE(fullreport_argv("bad name"));
  auto all = fullreport_argv();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->back().rfind("pvseg_start", 0), 0u) << "no VG filter";
}

TEST(lvm_fullreport, parses_two_vgs_joining_segments_and_dropping_hidden_lvs) {
  // Shaped like lvm2 2.03's output: one report element per VG.
  auto text = R"({
  "report": [
    {
      "vg": [{"vg_name":"vg0", "vg_uuid":"u0", "vg_size":"1073741824", "vg_free":"805306368", "vg_extent_size":"4194304", "vg_extent_count":"256", "vg_free_count":"192", "pv_count":"1", "lv_count":"3", "vg_tags":""}],
      "pv": [{"pv_name":"/dev/loop0", "vg_name":"vg0", "pv_uuid":"p0", "pv_size":"1073741824", "pv_free":"805306368", "pv_tags":""}],
      "lv": [
        {"lv_name":"local-1", "vg_name":"vg0", "lv_uuid":"l1", "lv_size":"134217728", "lv_attr":"-wi-a-----", "pool_lv":"", "origin":"", "data_percent":"", "metadata_percent":"", "snap_percent":"", "lv_tags":"olocal/owner=standalone,olocal/kind=volume", "lv_kernel_major":"254", "lv_kernel_minor":"0"},
        {"lv_name":"pool", "vg_name":"vg0", "lv_uuid":"p1", "lv_size":"67108864", "lv_attr":"twi-a-tz--", "pool_lv":"", "origin":"", "data_percent":"3.50", "metadata_percent":"10.00", "snap_percent":"", "lv_tags":"", "lv_kernel_major":"254", "lv_kernel_minor":"3"},
        {"lv_name":"[pool_tdata]", "vg_name":"vg0", "lv_uuid":"td", "lv_size":"67108864", "lv_attr":"Twi-ao----", "pool_lv":"", "origin":"", "data_percent":"", "metadata_percent":"", "snap_percent":"", "lv_tags":"", "lv_kernel_major":"254", "lv_kernel_minor":"1"},
        {"lv_name":"thin-1", "vg_name":"vg0", "lv_uuid":"t1", "lv_size":"1073741824", "lv_attr":"Vwi-a-tz--", "pool_lv":"pool", "origin":"", "data_percent":"0.00", "metadata_percent":"", "snap_percent":"", "lv_tags":"", "lv_kernel_major":"254", "lv_kernel_minor":"4"}
      ],
      "pvseg": [{"pvseg_start":"0"}],
      "seg": [
        {"lv_uuid":"l1", "segtype":"linear", "stripes":"1"},
        {"lv_uuid":"l1", "segtype":"linear", "stripes":"1"},
        {"lv_uuid":"p1", "segtype":"thin-pool", "stripes":"1"},
        {"lv_uuid":"td", "segtype":"linear", "stripes":"1"},
        {"lv_uuid":"t1", "segtype":"thin", "stripes":"0"}
      ]
    },
    {
      "vg": [{"vg_name":"vg1", "vg_uuid":"u1", "vg_size":"4194304", "vg_free":"4194304", "vg_extent_size":"4194304", "vg_extent_count":"1", "vg_free_count":"1", "pv_count":"1", "lv_count":"0", "vg_tags":"x"}],
      "pv": [{"pv_name":"/dev/loop1", "vg_name":"vg1", "pv_uuid":"p9", "pv_size":"4194304", "pv_free":"4194304", "pv_tags":""}],
      "lv": [],
      "pvseg": [],
      "seg": []
    }
  ]
})";
  auto reports = parse_fullreport(text);
  ASSERT_TRUE(reports) << render(reports.error());
  ASSERT_EQ(reports->size(), 2u);
  auto& vg0 = (*reports)[0];
  EXPECT_EQ(vg0.vg.name, "vg0");
  EXPECT_EQ(vg0.vg.free_bytes, 805306368u);
  ASSERT_EQ(vg0.pvs.size(), 1u);
  EXPECT_EQ(vg0.pvs[0].name, "/dev/loop0");
  ASSERT_EQ(vg0.lvs.size(), 3u) << "the hidden [pool_tdata] is not a volume";
  EXPECT_EQ(vg0.lvs[0].name, "local-1");
  EXPECT_EQ(vg0.lvs[0].segtype, "linear");
  EXPECT_EQ(vg0.lvs[0].segment_count, 2u);
  EXPECT_TRUE(vg0.lvs[0].has_tag("olocal/kind=volume"));
  EXPECT_TRUE(vg0.lvs[0].active);
  EXPECT_EQ(vg0.lvs[0].path, "/dev/vg0/local-1");
  EXPECT_TRUE(vg0.lvs[1].is_thin_pool());
  EXPECT_DOUBLE_EQ(vg0.lvs[1].data_percent, 3.5);
  EXPECT_EQ(vg0.lvs[2].segtype, "thin");
  EXPECT_EQ(vg0.lvs[2].pool_lv, "pool");
  auto& vg1 = (*reports)[1];
  EXPECT_EQ(vg1.vg.name, "vg1");
  EXPECT_EQ(vg1.pvs.size(), 1u);
  EXPECT_TRUE(vg1.lvs.empty());
}

TEST(lvm_fullreport, malformed_input_is_a_parse_error) {
  for (auto text : {"", "{", "[]", R"({"report":{}})", R"({"report":[{"lv":[]}]})",
                    R"({"report":[{"vg":[{"vg_size":"1"}],"pv":[],"lv":[],"seg":[]}]})",
                    R"({"report":[{"vg":[],"pv":[],"lv":[],"seg":[{"segtype":"linear"}]}]})"}) {
    auto r = parse_fullreport(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(code_of(r.error()), errc::parse_error) << text;
  }
  auto empty = parse_fullreport(R"({"report":[{"vg":[],"pv":[],"lv":[],"seg":[]}]})");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(lvm_fullreport, no_volume_group_at_all_is_an_empty_list) {
  auto none = parse_fullreport("  {\n      \"report\": [\n      ]\n  }\n");
  ASSERT_TRUE(none) << render(none.error());
  EXPECT_TRUE(none->empty());
}

TEST(lvm_fullreport, the_real_lvm2_output_of_this_host_parses) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "lvm2 reports need root";
  auto argv = fullreport_argv();
  ASSERT_TRUE(argv);
  auto out = run_lvm(*argv, std::chrono::seconds{60});
  ASSERT_TRUE(out) << render(out.error());
  auto reports = parse_fullreport(*out);
  ASSERT_TRUE(reports) << render(reports.error()) << "\n" << *out;
  for (auto& r : *reports) {
    EXPECT_FALSE(r.vg.name.empty());
    for (auto& lv : r.lvs)
      EXPECT_EQ(lv.vg_name, r.vg.name);
  }
}
