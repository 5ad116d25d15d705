#include "gateways/kube/nls.hpp"

#include "actors/core/errc.hpp"
#include "tests/gateways/kube/user_guide_nlsc.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <functional>

using namespace olocal;
using namespace olocal::kube;
namespace json = boost::json;
using labels = std::map<std::string, std::string>;
using names = std::vector<std::string>;

namespace {

constexpr uint64_t gib = 1ull << 30;

json::value doc(std::string_view text) {
  return json::parse(text);
}

/// The error text of a failed parse, "" when it succeeded.
template <class T>
std::string error_of(const caf::expected<T>& result) {
  return result ? std::string{} : render(result.error());
}

const json::object& at(const json::object& o, std::initializer_list<std::string_view> path) {
  const json::object* cur = &o;
  for (auto key : path)
    cur = &cur->at(key).as_object();
  return *cur;
}

json::object& mut(json::object& o, std::initializer_list<std::string_view> path) {
  json::object* cur = &o;
  for (auto key : path)
    cur = &cur->at(key).as_object();
  return *cur;
}

names strings(const json::value& v) {
  names out;
  for (auto& s : v.as_array())
    out.emplace_back(s.as_string());
  return out;
}

names item_names(const json::value& v, std::string_view key = "name") {
  names out;
  for (auto& item : v.as_array())
    out.emplace_back(item.as_object().at(key).as_string());
  return out;
}

} // namespace

// -- spec ------------------------------------------------------------------------

TEST(nls_spec, parses_every_field_and_round_trips) {
  auto text = R"({
    "nodeName": "node-1",
    "spdkConfig": {"deviceType": "block", "rpcSocket": "/var/tmp/spdk.sock"},
    "listConfig": {
      "vgs": {"include": ["open-local-pool-[0-9]+"], "exclude": ["open-local-pool-9"]},
      "mountPoints": {"include": ["/mnt/open-local/disk-[0-9]+"]},
      "devices": {"include": ["/dev/vd[b-z]"], "exclude": ["/dev/vdz"]}
    },
    "resourceToBeInited": {
      "vgs": [{"name": "open-local-pool-0", "devices": ["/dev/vdb", "/dev/vdc1"]}],
      "mountpoints": [{"path": "/mnt/open-local/disk-0", "device": "/dev/vdd",
                       "fsType": "xfs", "options": ["noatime", "nodiratime"]}]
    }
  })";
  auto spec = parse_nls_spec(doc(text));
  ASSERT_TRUE(spec) << error_of(spec);
  EXPECT_EQ(spec->node_name, "node-1");
  EXPECT_EQ(spec->spdk.device_type, "block");
  EXPECT_EQ(spec->spdk.rpc_socket, "/var/tmp/spdk.sock");
  EXPECT_EQ(spec->list.vgs.include, names{"open-local-pool-[0-9]+"});
  EXPECT_EQ(spec->list.vgs.exclude, names{"open-local-pool-9"});
  EXPECT_EQ(spec->list.mount_points.include, names{"/mnt/open-local/disk-[0-9]+"});
  EXPECT_TRUE(spec->list.mount_points.exclude.empty());
  EXPECT_EQ(spec->list.devices.exclude, names{"/dev/vdz"});
  ASSERT_EQ(spec->init.vgs.size(), 1u);
  EXPECT_EQ(spec->init.vgs[0].devices, (names{"/dev/vdb", "/dev/vdc1"}));
  ASSERT_EQ(spec->init.mountpoints.size(), 1u);
  EXPECT_EQ(spec->init.mountpoints[0].fs_type, "xfs");
  EXPECT_EQ(spec->init.mountpoints[0].options, (names{"noatime", "nodiratime"}));

  // The JSON is exactly open-local's shape, so it round-trips both ways.
  EXPECT_EQ(json::value(to_json(*spec)), doc(text));
  auto again = parse_nls_spec(to_json(*spec));
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *spec);
}

TEST(nls_spec, defaults_like_open_local) {
  // null and {} are the empty spec; fsType defaults to ext4; unknown fields are ignored.
  for (auto text : {"null", "{}"}) {
    auto spec = parse_nls_spec(doc(text));
    ASSERT_TRUE(spec) << text;
    EXPECT_EQ(*spec, nls_spec{});
  }
  auto spec = parse_nls_spec(doc(R"({"future": 1, "resourceToBeInited": {"mountpoints": [
    {"path": "/mnt/a", "device": "/dev/sdc"},
    {"path": "/mnt/b", "device": "/dev/sdd", "fsType": ""}]}})"));
  ASSERT_TRUE(spec) << error_of(spec);
  EXPECT_EQ(spec->init.mountpoints[0].fs_type, "ext4");
  EXPECT_EQ(spec->init.mountpoints[1].fs_type, "ext4");

  // Go's omitempty: empty strings and lists are left out, the sections stay.
  auto empty = to_json(nls_spec{});
  EXPECT_EQ(json::value(empty), doc(R"({"spdkConfig": {}, "listConfig": {"vgs": {},
    "mountPoints": {}, "devices": {}}, "resourceToBeInited": {}})"));
  nls_spec no_devices;
  no_devices.init.vgs.push_back({"pool", {}});
  EXPECT_EQ(json::value(to_json(no_devices).at("resourceToBeInited")),
            doc(R"({"vgs": [{"name": "pool", "devices": []}]})"))
    << "devices is not omitempty";
}

TEST(nls_spec, errors_name_the_field) {
  struct row {
    const char* spec;
    const char* expected;
  } rows[] = {
    {R"([])", "spec: not an object"},
    {R"({"nodeName": 3})", "spec.nodeName: not a string"},
    {R"({"spdkConfig": []})", "spec.spdkConfig: not an object"},
    {R"({"listConfig": {"vgs": {"include": "pool"}}})", "spec.listConfig.vgs.include: not a list"},
    {R"({"listConfig": {"devices": {"exclude": ["a", 1]}}})",
     "spec.listConfig.devices.exclude[1]: not a string"},
    {R"({"resourceToBeInited": {"vgs": [{"name": "a", "devices": []}, {"devices": []}]}})",
     "spec.resourceToBeInited.vgs[1].name: missing"},
    {R"({"resourceToBeInited": {"vgs": [{"name": "a"}]}})",
     "spec.resourceToBeInited.vgs[0].devices: missing"},
    {R"({"resourceToBeInited": {"vgs": [{"name": "-ff", "devices": []}]}})",
     "spec.resourceToBeInited.vgs[0].name: '-ff' is not a valid volume group name"},
    {R"({"resourceToBeInited": {"vgs": [{"name": "a b", "devices": []}]}})",
     "spec.resourceToBeInited.vgs[0].name: 'a b' is not a valid volume group name"},
    {R"({"resourceToBeInited": {"vgs": [{"name": "a", "devices": ["/dev/sdb", "sdc"]}]}})",
     "spec.resourceToBeInited.vgs[0].devices[1]: 'sdc' is not an absolute path"},
    {R"({"resourceToBeInited": {"mountpoints": [{"device": "/dev/sdb"}]}})",
     "spec.resourceToBeInited.mountpoints[0].path: missing"},
    {R"({"resourceToBeInited": {"mountpoints": [{"path": "/mnt/a", "device": "dev/sdb"}]}})",
     "spec.resourceToBeInited.mountpoints[0].device: 'dev/sdb' is not an absolute path"},
    {R"({"resourceToBeInited": {"mountpoints": [{"path": "/mnt/a b", "device": "/dev/sdb"}]}})",
     "spec.resourceToBeInited.mountpoints[0].path: '/mnt/a b' is not an absolute path"},
    {R"({"resourceToBeInited": {"mountpoints": [
          {"path": "/m", "device": "/d", "fsType": "btrfs"}]}})",
     "spec.resourceToBeInited.mountpoints[0].fsType: 'btrfs' is not ext3, ext4 or xfs"},
    {R"({"resourceToBeInited": {"mountpoints": [
          {"path": "/m", "device": "/d", "options": "ro"}]}})",
     "spec.resourceToBeInited.mountpoints[0].options: not a list"},
    {R"({"resourceToBeInited": {"vgs": {}}})", "spec.resourceToBeInited.vgs: not a list"},
  };
  for (auto& r : rows) {
    auto spec = parse_nls_spec(doc(r.spec));
    ASSERT_FALSE(spec) << r.spec;
    EXPECT_EQ(code_of(spec.error()), errc::invalid_argument);
    EXPECT_NE(error_of(spec).find(r.expected), std::string::npos)
      << r.spec << "\n  got: " << error_of(spec);
  }
}

// -- label selectors -------------------------------------------------------------

TEST(label_selector, open_local_and_kubernetes_semantics) {
  struct row {
    const char* selector;
    labels node;
    bool expected;
  } rows[] = {
    {R"({})", {}, true}, // empty selector: every node
    {R"({"matchLabels": {}})", {{"a", "1"}}, true},
    {R"({"matchLabels": {"a": "1"}})", {{"a", "1"}, {"b", "2"}}, true},
    {R"({"matchLabels": {"a": "1"}})", {{"a", "2"}}, false},
    {R"({"matchLabels": {"a": "1"}})", {}, false},
    {R"({"matchLabels": {"a": "1", "b": "2"}})", {{"a", "1"}}, false}, // ANDed
    {R"({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]})",
     {{"a", "2"}},
     true},
    {R"({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]})", {}, false},
    {R"({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]})", {}, true},
    {R"({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]})",
     {{"a", "1"}},
     false},
    {R"({"matchExpressions": [{"key": "a", "operator": "Exists"}]})", {{"a", ""}}, true},
    {R"({"matchExpressions": [{"key": "a", "operator": "Exists"}]})", {{"b", ""}}, false},
    {R"({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]})", {{"b", ""}}, true},
    {R"({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]})", {{"a", "x"}}, false},
    {R"({"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]})",
     {{"a", "1"}},
     false},
    {R"({"matchExpressions": [{"key": "node-role.kubernetes.io/master", "operator": "In",
        "values": [""]}]})",
     {{"node-role.kubernetes.io/master", ""}},
     true},
  };
  for (auto& r : rows) {
    auto sel = parse_label_selector(doc(r.selector), "selector");
    ASSERT_TRUE(sel) << r.selector << ": " << error_of(sel);
    EXPECT_EQ(sel->matches(r.node), r.expected) << r.selector;
  }
}

TEST(label_selector, parse_errors_are_named) {
  struct row {
    const char* selector;
    const char* expected;
  } rows[] = {
    {R"("x")", "sel: not an object"},
    {R"(null)", "sel: not an object"},
    {R"({"matchLabels": []})", "sel.matchLabels: not an object"},
    {R"({"matchLabels": {"a": 1}})", "sel.matchLabels.a: not a string"},
    {R"({"matchLabels": {"bad key": "1"}})",
     "sel.matchLabels.bad key: 'bad key' is not a valid label key"},
    {R"({"matchLabels": {"a": "-x"}})", "sel.matchLabels.a: '-x' is not a valid label value"},
    {R"({"matchLabels": {"Example.com/a": "1"}})", "is not a valid label key"},
    {R"({"matchExpressions": {}})", "sel.matchExpressions: not a list"},
    {R"({"matchExpressions": [{"key": "a", "operator": "Exists"},
                              {"key": "a", "operator": "in", "values": ["1"]}]})",
     "sel.matchExpressions[1].operator: 'in' is not In, NotIn, Exists or DoesNotExist"},
    {R"({"matchExpressions": [{"key": "a", "operator": "In"}]})",
     "sel.matchExpressions[0].values: must be non-empty for In"},
    {R"({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]})",
     "sel.matchExpressions[0].values: must be non-empty for NotIn"},
    {R"({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["1"]}]})",
     "sel.matchExpressions[0].values: must be empty for Exists"},
    {R"({"matchExpressions": [{"key": "", "operator": "Exists"}]})",
     "sel.matchExpressions[0].key: '' is not a valid label key"},
    {R"({"matchExpressions": [{"key": "a", "operator": "In", "values": ["x y"]}]})",
     "sel.matchExpressions[0].values[0]: 'x y' is not a valid label value"},
  };
  for (auto& r : rows) {
    auto sel = parse_label_selector(doc(r.selector), "sel");
    ASSERT_FALSE(sel) << r.selector;
    EXPECT_NE(error_of(sel).find(r.expected), std::string::npos)
      << r.selector << "\n  got: " << error_of(sel);
  }
}

// -- NodeLocalStorageInitConfig ----------------------------------------------------

using test::user_guide_nlsc;

TEST(init_config, user_guide_example) {
  auto config = parse_init_config(doc(user_guide_nlsc));
  ASSERT_TRUE(config) << error_of(config);
  ASSERT_EQ(config->nodes.size(), 2u);

  // A worker matches no rule: globalConfig.
  auto worker = resolve_spec(*config, "worker-1", {{"kubernetes.io/hostname", "worker-1"}});
  EXPECT_EQ(worker.node_name, "worker-1");
  EXPECT_EQ(worker.list.vgs.include, names{"open-local-pool-[0-9]+"});
  EXPECT_EQ(worker.list.devices.include, names{"/dev/vdc"});
  ASSERT_EQ(worker.init.vgs.size(), 1u);
  EXPECT_EQ(worker.init.vgs[0].name, "open-local-pool-0");
  EXPECT_EQ(worker.init.vgs[0].devices, names{"/dev/vdb3"});

  // A master matches the first rule: all three sections replaced, so no VG to
  // create (the rule has no resourceToBeInited) and only share-pool listed.
  auto master =
    resolve_spec(*config, "master-1",
                 {{"kubernetes.io/hostname", "master-1"}, {"node-role.kubernetes.io/master", ""}});
  EXPECT_EQ(master.list.vgs.include, names{"share-pool"});
  EXPECT_EQ(master.list.devices.include, names{"/dev/vdd"});
  EXPECT_TRUE(master.init.vgs.empty()) << "replaced wholesale, not merged";

  // The named host matches the second rule, whose sections are empty.
  auto host = resolve_spec(*config, "cn-hangzhou.10.0.95.236",
                           {{"kubernetes.io/hostname", "cn-hangzhou.10.0.95.236"}});
  EXPECT_EQ(host.list, list_config{});
  EXPECT_EQ(host.init, resources_to_init{});

  // A master with that hostname matches both: the later rule wins.
  auto both = resolve_spec(*config, "cn-hangzhou.10.0.95.236",
                           {{"kubernetes.io/hostname", "cn-hangzhou.10.0.95.236"},
                            {"node-role.kubernetes.io/master", "true"}});
  EXPECT_EQ(both.list, list_config{}) << "master=true is not In [\"\"]: only rule 2";
  auto both2 = resolve_spec(*config, "cn-hangzhou.10.0.95.236",
                            {{"kubernetes.io/hostname", "cn-hangzhou.10.0.95.236"},
                             {"node-role.kubernetes.io/master", ""}});
  EXPECT_EQ(both2.list, list_config{}) << "both match, the last one wins";
}

TEST(init_config, spdk_and_later_rules_win) {
  auto config = parse_init_config(doc(R"({
    "globalConfig": {"spdkConfig": {"deviceType": "block", "rpcSocket": "/var/tmp/spdk.sock"},
                     "listConfig": {"vgs": {"include": ["global"]}}},
    "nodesConfig": [
      {"selector": {"matchLabels": {"zone": "a"}},
       "listConfig": {"vgs": {"include": ["zone-a"]}}},
      {"selector": {"matchExpressions": [{"key": "ssd", "operator": "Exists"}]},
       "spdkConfig": {"deviceType": "nvme"},
       "resourceToBeInited": {"mountpoints": [{"path": "/mnt/ssd", "device": "/dev/nvme0n1"}]}}
    ]})"));
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->spdk.device_type, "block");

  auto plain = resolve_spec(*config, "n0", {});
  EXPECT_EQ(plain.spdk.device_type, "block");
  EXPECT_EQ(plain.list.vgs.include, names{"global"});

  auto zone_a = resolve_spec(*config, "n1", {{"zone", "a"}});
  EXPECT_EQ(zone_a.list.vgs.include, names{"zone-a"});
  EXPECT_EQ(zone_a.spdk, spdk_config{}) << "a matching rule replaces spdkConfig too";

  auto ssd = resolve_spec(*config, "n2", {{"zone", "a"}, {"ssd", "1"}});
  EXPECT_EQ(ssd.spdk.device_type, "nvme");
  EXPECT_TRUE(ssd.list.vgs.include.empty()) << "the later rule's empty listConfig wins";
  ASSERT_EQ(ssd.init.mountpoints.size(), 1u);
  EXPECT_EQ(ssd.init.mountpoints[0].fs_type, "ext4");
}

TEST(init_config, nil_selector_matches_nothing_empty_matches_everything) {
  // metav1.LabelSelectorAsSelector: nil -> labels.Nothing(), {} -> labels.Everything().
  auto config = parse_init_config(doc(R"({
    "globalConfig": {"listConfig": {"vgs": {"include": ["global"]}}},
    "nodesConfig": [
      {"listConfig": {"vgs": {"include": ["no-selector"]}}},
      {"selector": null, "listConfig": {"vgs": {"include": ["null-selector"]}}}
    ]})"));
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_FALSE(config->nodes[0].selector.has_value());
  EXPECT_FALSE(config->nodes[1].selector.has_value());
  EXPECT_EQ(resolve_spec(*config, "n", {{"a", "b"}}).list.vgs.include, names{"global"});

  auto every = parse_init_config(doc(R"({
    "globalConfig": {"listConfig": {"vgs": {"include": ["global"]}}},
    "nodesConfig": [{"selector": {}, "listConfig": {"vgs": {"include": ["all"]}}}]})"));
  ASSERT_TRUE(every);
  EXPECT_EQ(resolve_spec(*every, "n", {}).list.vgs.include, names{"all"});
}

TEST(init_config, errors_name_the_field) {
  struct row {
    const char* spec;
    const char* expected;
  } rows[] = {
    {R"({"globalConfig": []})", "spec.globalConfig: not an object"},
    {R"({"globalConfig": {"listConfig": {"vgs": {"include": [1]}}}})",
     "spec.globalConfig.listConfig.vgs.include[0]: not a string"},
    {R"({"nodesConfig": {}})", "spec.nodesConfig: not a list"},
    {R"({"nodesConfig": [{}, 3]})", "spec.nodesConfig[1]: not an object"},
    {R"({"nodesConfig": [{}, {"selector": {"matchExpressions": [
          {"key": "a", "operator": "Gt", "values": ["1"]}]}}]})",
     "spec.nodesConfig[1].selector.matchExpressions[0].operator: 'Gt' is not"},
    {R"({"nodesConfig": [{"resourceToBeInited": {"vgs": [{"devices": []}]}}]})",
     "spec.nodesConfig[0].resourceToBeInited.vgs[0].name: missing"},
  };
  for (auto& r : rows) {
    auto config = parse_init_config(doc(r.spec));
    ASSERT_FALSE(config) << r.spec;
    EXPECT_NE(error_of(config).find(r.expected), std::string::npos)
      << r.spec << "\n  got: " << error_of(config);
  }
}

// -- reservations ----------------------------------------------------------------

TEST(reservation, values_in_open_local_grammar) {
  struct row {
    const char* value;
    reservation expected;
  } rows[] = {
    {"100Gi", {100 * gib, 0, false}},
    {"100G", {100 * gib, 0, false}}, // go-units RAMInBytes: binary, as in open-local
    {"100GB", {100 * gib, 0, false}},
    {"100gib", {100 * gib, 0, false}},
    {"100 Gi", {100 * gib, 0, false}},
    {"1.5Gi", {gib + gib / 2, 0, false}},
    {"512m", {512ull << 20, 0, false}},
    {"1048576", {1048576, 0, false}},
    {"2T", {2ull << 40, 0, false}},
    {"1p", {1ull << 50, 0, false}},
    {"7b", {7, 0, false}},
    {"10%", {0, 10, true}},
    {"12.5%", {0, 12.5, true}},
    {"0%", {0, 0, true}},
    {"100%", {0, 100, true}},
  };
  for (auto& r : rows) {
    auto got = parse_reservation(r.value);
    ASSERT_TRUE(got) << r.value << ": " << error_of(got);
    EXPECT_EQ(*got, r.expected) << r.value;
  }
  for (auto bad : {"", "%", "abc", "10x", "-1Gi", "101%", "-5%", "ten%", "1..5G", "1.G", "nan%",
                   "1Ei", "1e9", " 1G", "1G "}) {
    auto got = parse_reservation(bad);
    EXPECT_FALSE(got) << "'" << bad << "'";
  }
}

TEST(reservation, annotation_errors_name_vg_and_value) {
  auto good = parse_reservations(R"({"pool-0": "100Gi", "pool-1": "10%"})");
  ASSERT_TRUE(good) << error_of(good);
  EXPECT_EQ(good->size(), 2u);
  EXPECT_EQ(good->at("pool-1"), (reservation{0, 10, true}));
  auto none = parse_reservations("");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());

  auto bad = parse_reservations(R"({"pool-0": "100Gi", "pool-1": "lots", "pool-2": 5})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(code_of(bad.error()), errc::invalid_argument);
  auto text = error_of(bad);
  EXPECT_NE(text.find("csi.aliyun.com/storage-reserved"), std::string::npos) << text;
  EXPECT_NE(text.find("volume group 'pool-1': 'lots'"), std::string::npos) << text;
  EXPECT_NE(text.find("volume group 'pool-2': 5 is not a string"), std::string::npos) << text;
  EXPECT_EQ(text.find("pool-0"), std::string::npos) << text;

  auto not_json = parse_reservations("pool-0=100Gi");
  ASSERT_FALSE(not_json);
  EXPECT_NE(error_of(not_json).find("'pool-0=100Gi' is not a JSON object"), std::string::npos);
}

TEST(reservation, allocatable_is_lowered_never_raised) {
  vg_fact vg{"pool", {"/dev/sdb"}, 100 * gib, 40 * gib, {}, {}};
  vg.lvs = {{"csi-a", 30 * gib, false, true}, {"root", 30 * gib, false, false}};
  // open-local: total - LVs not ours (ours stay schedulable).
  EXPECT_EQ(vg_allocatable(vg, std::nullopt), 70 * gib);
  EXPECT_EQ(vg_allocatable(vg, reservation{10 * gib, 0, false}), 70 * gib)
    << "100 - 10 = 90 would raise it: kept at 70";
  EXPECT_EQ(vg_allocatable(vg, reservation{50 * gib, 0, false}), 50 * gib);
  EXPECT_EQ(vg_allocatable(vg, reservation{0, 40, true}), 60 * gib) << "40% of 100 GiB";
  EXPECT_EQ(vg_allocatable(vg, reservation{0, 10, true}), 70 * gib)
    << "open-local set allocatable to total here";
  EXPECT_EQ(vg_allocatable(vg, reservation{200 * gib, 0, false}), 0u) << "never negative";
  EXPECT_EQ(vg_allocatable(vg, reservation{0, 100, true}), 0u);
  vg.lvs.push_back({"other", 80 * gib, false, false});
  EXPECT_EQ(vg_allocatable(vg, std::nullopt), 0u) << "foreign LVs beyond total: zero";
}

// -- status ----------------------------------------------------------------------

namespace {

node_storage_facts sample_facts() {
  node_storage_facts f;
  f.devices = {{"/dev/sdc", "hdd", 200 * gib, false},
               {"/dev/sda", "ssd", 50 * gib, false},
               {"/dev/sdb", "ssd", 100 * gib, true}};
  vg_fact pool1{"open-local-pool-1", {"/dev/sde", "/dev/sdd"}, 100 * gib, 60 * gib, {}, {}};
  pool1.lvs = {{"local-b", 10 * gib, false, true},
               {"local-a", 10 * gib, true, true},
               {"backup", 20 * gib, false, false}};
  pool1.thin_pools = {{"thinpool", 20 * gib, 12.5, 3.25, 50 * gib}};
  vg_fact pool0{"open-local-pool-0", {"/dev/sdf"}, 50 * gib, 50 * gib, {}, {}};
  vg_fact system{"ubuntu-vg", {"/dev/sda3"}, 40 * gib, 0, {{"root", 40 * gib, false, false}}, {}};
  f.vgs = {pool1, system, pool0};
  f.mounts = {{"/mnt/open-local/disk-1", "/dev/sdh", "xfs", 10 * gib, 4 * gib, {"rw", "noatime"}},
              {"/mnt/open-local/disk-0", "/dev/sdg", "ext4", 20 * gib, 20 * gib, {"ro"}}};
  return f;
}

nls_spec sample_spec() {
  nls_spec s;
  s.node_name = "node-1";
  s.list.vgs.include = {"open-local-pool-[0-9]+"};
  s.list.mount_points.include = {"/mnt/open-local/disk-[0-9]+"};
  s.list.devices.include = {"/dev/sd[a-z]"};
  s.list.devices.exclude = {"/dev/sda"};
  return s;
}

constexpr auto t0 = "2026-01-01T00:00:00Z";
constexpr auto t1 = "2026-01-01T00:01:00Z";
constexpr auto t2 = "2026-01-01T00:02:00Z";

} // namespace

TEST(nls_status, open_local_fields_units_and_sorted_lists) {
  std::vector<std::string> warnings;
  auto status = build_status(sample_facts(), sample_spec(), {}, t0, std::nullopt, &warnings);
  EXPECT_TRUE(warnings.empty());
  auto& info = at(status, {"nodeStorageInfo"});

  EXPECT_EQ(item_names(info.at("deviceInfo")), (names{"/dev/sda", "/dev/sdb", "/dev/sdc"}));
  EXPECT_EQ(json::value(info.at("deviceInfo").as_array()[1]),
            doc(R"({"name": "/dev/sdb", "mediaType": "ssd", "total": 107374182400,
                    "readOnly": true, "condition": "DiskReady"})"));

  EXPECT_EQ(item_names(info.at("volumeGroups")),
            (names{"open-local-pool-0", "open-local-pool-1", "ubuntu-vg"}));
  EXPECT_EQ(json::value(info.at("volumeGroups").as_array()[1]), doc(R"({
    "name": "open-local-pool-1",
    "physicalVolumes": ["/dev/sdd", "/dev/sde"],
    "logicalVolumes": [
      {"name": "backup", "vgname": "open-local-pool-1", "total": 21474836480, "readOnly": false,
       "condition": "DiskReady"},
      {"name": "local-a", "vgname": "open-local-pool-1", "total": 10737418240, "readOnly": true,
       "condition": "DiskReady"},
      {"name": "local-b", "vgname": "open-local-pool-1", "total": 10737418240, "readOnly": false,
       "condition": "DiskReady"}],
    "total": 107374182400,
    "available": 64424509440,
    "allocatable": 85899345920,
    "condition": "DiskReady",
    "thinPools": [{"name": "thinpool", "total": 21474836480, "dataPercent": 12.5,
                   "metadataPercent": 3.25, "virtualTotal": 53687091200}]})"));
  auto& system_vg = info.at("volumeGroups").as_array()[2].as_object();
  EXPECT_EQ(system_vg.at("condition"), "DiskFull") << "free == 0";
  EXPECT_EQ(system_vg.at("allocatable"), 0);
  EXPECT_TRUE(info.at("volumeGroups").as_array()[0].as_object().at("total").is_int64())
    << "integers, as the API server returns them";

  EXPECT_EQ(item_names(info.at("mountPoints")),
            (names{"/mnt/open-local/disk-0", "/mnt/open-local/disk-1"}));
  EXPECT_EQ(json::value(info.at("mountPoints").as_array()[0]), doc(R"({
    "name": "/mnt/open-local/disk-0", "total": 21474836480, "available": 21474836480,
    "fsType": "ext4", "isBind": false, "options": ["ro"], "device": "/dev/sdg",
    "readOnly": true, "condition": "DiskReady"})"))
    << "readOnly from the ro option";
  EXPECT_EQ(info.at("mountPoints").as_array()[1].as_object().at("options"),
            doc(R"(["rw", "noatime"])"))
    << "options keep their order";

  EXPECT_EQ(info.at("phase"), "Running");
  EXPECT_EQ(json::value(info.at("state")), doc(R"({"type": "DiskReady", "status": "True",
    "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z",
    "reason": "", "message": ""})"))
    << "ubuntu-vg is full but not selected by listConfig";

  auto& filtered = at(status, {"filteredStorageInfo"});
  EXPECT_EQ(strings(filtered.at("volumeGroups")),
            (names{"open-local-pool-0", "open-local-pool-1"}));
  EXPECT_EQ(strings(filtered.at("mountPoints")),
            (names{"/mnt/open-local/disk-0", "/mnt/open-local/disk-1"}));
  EXPECT_EQ(strings(filtered.at("devices")), (names{"/dev/sdb", "/dev/sdc"}));
  EXPECT_EQ(json::value(filtered.at("updateStatusInfo")),
            doc(R"({"lastUpdateTime": "2026-01-01T00:00:00Z", "updateStatus": "accepted",
                    "reason": ""})"));
}

TEST(nls_status, same_output_whatever_the_input_order) {
  auto facts = sample_facts();
  auto reference = build_status(facts, sample_spec(), {}, t0, std::nullopt);
  std::reverse(facts.devices.begin(), facts.devices.end());
  std::reverse(facts.vgs.begin(), facts.vgs.end());
  std::reverse(facts.mounts.begin(), facts.mounts.end());
  for (auto& vg : facts.vgs) {
    std::reverse(vg.lvs.begin(), vg.lvs.end());
    std::reverse(vg.pvs.begin(), vg.pvs.end());
  }
  auto spec = sample_spec();
  spec.list.vgs.include = {"open-local-pool-1", "open-local-pool-0"};
  auto again = build_status(facts, spec, {}, t0, std::nullopt);
  EXPECT_EQ(again, reference);
  EXPECT_EQ(json::serialize(again), json::serialize(reference)) << "byte for byte";
}

TEST(nls_status, empty_node_writes_every_field) {
  auto status = build_status({}, nls_spec{}, {}, t0, std::nullopt);
  EXPECT_EQ(json::value(status), doc(R"({
    "nodeStorageInfo": {"deviceInfo": [], "volumeGroups": [], "mountPoints": [],
      "phase": "Running",
      "state": {"type": "DiskReady", "status": "True", "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "", "message": ""}},
    "filteredStorageInfo": {"volumeGroups": [], "mountPoints": [], "devices": [],
      "updateStatusInfo": {"lastUpdateTime": "2026-01-01T00:00:00Z", "updateStatus": "accepted",
                           "reason": ""}}})"));
}

TEST(nls_status, reservations_lower_allocatable) {
  auto facts = sample_facts(); // pool-1: total 100, foreign 20 -> 80; pool-0: total 50, none
  std::map<std::string, std::string> ann{
    {std::string{storage_reserved_annotation},
     R"({"open-local-pool-1": "30%", "open-local-pool-0": "10Gi", "missing-vg": "1Gi"})"}};
  std::vector<std::string> warnings;
  auto status = build_status(facts, sample_spec(), ann, t0, std::nullopt, &warnings);
  EXPECT_TRUE(warnings.empty());
  auto& vgs = at(status, {"nodeStorageInfo"}).at("volumeGroups").as_array();
  EXPECT_EQ(vgs[0].as_object().at("allocatable"), 40 * gib) << "50 - 10Gi";
  EXPECT_EQ(vgs[1].as_object().at("allocatable"), 70 * gib) << "min(80, 100 - 30%)";

  ann.begin()->second = R"({"open-local-pool-1": "5%"})";
  status = build_status(facts, sample_spec(), ann, t0, std::nullopt);
  EXPECT_EQ(
    at(status, {"nodeStorageInfo"}).at("volumeGroups").as_array()[1].as_object().at("allocatable"),
    80 * gib)
    << "a small reservation does not raise allocatable to 95";
}

TEST(nls_status, bad_reservation_is_ignored_for_that_vg_and_reported) {
  auto facts = sample_facts();
  std::map<std::string, std::string> ann{
    {std::string{storage_reserved_annotation},
     R"({"open-local-pool-1": "lots", "open-local-pool-0": "10Gi"})"}};
  std::vector<std::string> warnings;
  auto status = build_status(facts, sample_spec(), ann, t0, std::nullopt, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("volume group 'open-local-pool-1': 'lots'"), std::string::npos)
    << warnings[0];
  auto& vgs = at(status, {"nodeStorageInfo"}).at("volumeGroups").as_array();
  EXPECT_EQ(vgs[0].as_object().at("allocatable"), 40 * gib) << "the good entry still applies";
  EXPECT_EQ(vgs[1].as_object().at("allocatable"), 80 * gib) << "no reservation";

  ann.begin()->second = "{not json";
  warnings.clear();
  status = build_status(facts, sample_spec(), ann, t0, std::nullopt, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("is not a JSON object"), std::string::npos) << warnings[0];
  EXPECT_EQ(
    at(status, {"nodeStorageInfo"}).at("volumeGroups").as_array()[0].as_object().at("allocatable"),
    50 * gib);
}

TEST(nls_status, bad_list_expression_selects_nothing_and_warns) {
  auto spec = sample_spec();
  spec.list.devices.include = {"/dev/sd[a-"};
  std::vector<std::string> warnings;
  auto status = build_status(sample_facts(), spec, {}, t0, std::nullopt, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("spec.listConfig.devices"), std::string::npos) << warnings[0];
  auto& filtered = at(status, {"filteredStorageInfo"});
  EXPECT_TRUE(filtered.at("devices").as_array().empty());
  EXPECT_EQ(filtered.at("volumeGroups").as_array().size(), 2u) << "other lists unaffected";
}

TEST(nls_status, disk_full_when_a_selected_vg_or_mount_has_no_space) {
  auto facts = sample_facts();
  facts.vgs[2].free = 0; // open-local-pool-0
  auto status = build_status(facts, sample_spec(), {}, t0, std::nullopt);
  auto& state = at(status, {"nodeStorageInfo", "state"});
  EXPECT_EQ(state.at("type"), "DiskFull");
  EXPECT_EQ(state.at("status"), "True");
  EXPECT_EQ(state.at("reason"), "NoFreeSpace");
  EXPECT_EQ(state.at("message"), "no free space in volume groups open-local-pool-0");

  facts.mounts[0].available = 0; // /mnt/open-local/disk-1
  status = build_status(facts, sample_spec(), {}, t0, std::nullopt);
  EXPECT_EQ(at(status, {"nodeStorageInfo", "state"}).at("message"),
            "no free space in volume groups open-local-pool-0 and mount points "
            "/mnt/open-local/disk-1");
  EXPECT_EQ(
    at(status, {"nodeStorageInfo"}).at("mountPoints").as_array()[1].as_object().at("condition"),
    "DiskFull");
}

TEST(nls_status, last_transition_time_kept_until_the_state_changes) {
  auto facts = sample_facts();
  auto first = build_status(facts, sample_spec(), {}, t0, std::nullopt);
  EXPECT_EQ(at(first, {"nodeStorageInfo", "state"}).at("lastTransitionTime"), t0);

  auto second = build_status(facts, sample_spec(), {}, t1, first);
  auto& state2 = at(second, {"nodeStorageInfo", "state"});
  EXPECT_EQ(state2.at("lastTransitionTime"), t0) << "same type: kept";
  EXPECT_EQ(state2.at("lastHeartbeatTime"), t1);

  facts.vgs[2].free = 0;
  auto third = build_status(facts, sample_spec(), {}, t2, second);
  auto& state3 = at(third, {"nodeStorageInfo", "state"});
  EXPECT_EQ(state3.at("type"), "DiskFull");
  EXPECT_EQ(state3.at("lastTransitionTime"), t2) << "type changed: now";

  // A previous status without a transition time (open-local leaves it unset).
  auto legacy = doc(R"({"nodeStorageInfo": {"state": {"type": "DiskReady", "status": "True"}}})");
  auto fourth = build_status(sample_facts(), sample_spec(), {}, t1, legacy.as_object());
  EXPECT_EQ(at(fourth, {"nodeStorageInfo", "state"}).at("lastTransitionTime"), t1);
}

// -- status_changed --------------------------------------------------------------

TEST(nls_status, changed_ignores_only_the_time_fields) {
  auto facts = sample_facts();
  auto a = build_status(facts, sample_spec(), {}, t0, std::nullopt);
  auto b = build_status(facts, sample_spec(), {}, t1, std::nullopt);
  EXPECT_NE(a, b) << "the times differ";
  EXPECT_FALSE(status_changed(a, b));
  EXPECT_FALSE(status_changed(a, a));

  // The same status after a trip through the API server, which may re-encode
  // numbers (5E1 for 50.0) and drop nothing else.
  auto round_trip = json::parse(json::serialize(a)).as_object();
  EXPECT_FALSE(status_changed(a, round_trip));
  auto c = a;
  auto& pool = mut(c, {"nodeStorageInfo"})
                 .at("volumeGroups")
                 .as_array()[1]
                 .as_object()
                 .at("thinPools")
                 .as_array()[0]
                 .as_object();
  pool["dataPercent"] = 12; // was 12.5
  EXPECT_TRUE(status_changed(a, c));
  pool["dataPercent"] = 12.5;
  pool["metadataPercent"] = 3.25;
  EXPECT_FALSE(status_changed(a, c));
  pool["virtualTotal"] = 50.0 * gib; // a double equal to the integer
  EXPECT_FALSE(status_changed(a, c));

  struct change {
    const char* what;
    std::function<void(node_storage_facts&, nls_spec&)> apply;
  } changes[] = {
    {"LV added",
     [](auto& f, auto&) {
       f.vgs[0].lvs.push_back({"csi-x", gib, false, true});
     }},
    {"free space", [](auto& f, auto&) { f.vgs[0].free -= gib; }},
    {"device gone", [](auto& f, auto&) { f.devices.pop_back(); }},
    {"mount usage", [](auto& f, auto&) { f.mounts[0].available -= 1; }},
    {"thin pool usage", [](auto& f, auto&) { f.vgs[0].thin_pools[0].data_percent = 13; }},
    {"listConfig", [](auto&, auto& s) { s.list.devices.exclude.clear(); }},
    {"state", [](auto& f, auto&) { f.vgs[2].free = 0; }},
  };
  for (auto& ch : changes) {
    auto f = sample_facts();
    auto s = sample_spec();
    ch.apply(f, s);
    auto changed = build_status(f, s, {}, t0, std::nullopt);
    EXPECT_TRUE(status_changed(a, changed)) << ch.what;
  }

  // A key present on one side only is a change; a time field is not.
  auto d = a;
  mut(d, {"nodeStorageInfo"})["extra"] = 1;
  EXPECT_TRUE(status_changed(a, d));
  EXPECT_TRUE(status_changed(d, a));
  auto e = a;
  mut(e, {"nodeStorageInfo", "state"}).erase("lastHeartbeatTime");
  EXPECT_FALSE(status_changed(a, e));
}
