#include "gateways/kube/capacity_publisher.hpp"

#include "actors/core/errc.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/placement_actor.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_apiserver.hpp"

#include <caf/all.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

using namespace olocal;
using namespace olocal::kube;
using namespace std::chrono_literals;
using olocal::test::eventually;

namespace {

namespace json = boost::json;
using placement::exclusive_unit;
using placement::node_state;
using placement::thin_pool_state;
using placement::vg_state;

constexpr uint64_t gi = 1ull << 30;

vg_state vg(const std::string& name, uint64_t capacity, uint64_t charged,
            std::vector<thin_pool_state> pools = {}) {
  vg_state v;
  v.name = name;
  v.capacity = capacity;
  v.charged = charged;
  v.thin_pools = std::move(pools);
  return v;
}

thin_pool_state pool(const std::string& name, uint64_t size, uint64_t charged) {
  thin_pool_state p;
  p.name = name;
  p.size = size;
  p.charged = charged;
  p.overprovision = 2.0;
  return p;
}

exclusive_unit unit(const std::string& name, uint64_t capacity, const std::string& media,
                    bool taken = false) {
  return exclusive_unit{name, capacity, media, taken};
}

/// node-1: vg0 (100Gi, 30Gi charged, pool "thinpool" of 10Gi with 5Gi charged),
/// vg1 (50Gi, 0 charged, pool "tp2" of 20Gi with 50Gi charged); devices ssd
/// 100Gi (taken), ssd 200Gi, ssd 300Gi, hdd 1000Gi; mount points hdd 40Gi and 60Gi.
node_state sample_node() {
  node_state n;
  n.name = "node-1";
  n.reported = true;
  n.vgs = {vg("vg0", 100 * gi, 30 * gi, {pool("thinpool", 10 * gi, 5 * gi)}),
           vg("vg1", 50 * gi, 0, {pool("tp2", 20 * gi, 50 * gi)})};
  n.devices = {unit("/dev/vdb", 100 * gi, "ssd", true), unit("/dev/vdc", 200 * gi, "ssd"),
               unit("/dev/vdd", 300 * gi, "ssd"), unit("/dev/vde", 1000 * gi, "hdd")};
  n.mount_points = {unit("/mnt/a", 40 * gi, "hdd"), unit("/mnt/b", 60 * gi, "hdd")};
  return n;
}

struct capacity_case {
  const char* what;
  std::map<std::string, std::string> params;
  uint64_t capacity;
  uint64_t maximum;
  bool noted; ///< a note explains the zeros
};

// -- pure: the numbers -------------------------------------------------------------------

TEST(capacity_for, table) {
  const capacity_case cases[] = {
    {"LVM without vgName: largest free group, sum of frees", {}, 120 * gi, 70 * gi, false},
    {"explicit LVM type", {{"volumeType", "LVM"}}, 120 * gi, 70 * gi, false},
    {"LVM with vgName", {{"volumeType", "LVM"}, {"vgName", "vg1"}}, 50 * gi, 50 * gi, false},
    {"LVM with a group the node lacks", {{"vgName", "vg9"}}, 0, 0, true},
    {"thin, default pool, any group",
     {{"lvmType", "thin"}},
     15 * gi, // 10Gi x 2 - 5Gi
     15 * gi,
     false},
    {"thin in a named group and pool, overcharged",
     {{"lvmType", "thin"}, {"vgName", "vg1"}, {"thinPool", "tp2"}},
     0,
     0,
     false},
    {"thin pool in another group than vgName",
     {{"lvmType", "thin"}, {"vgName", "vg1"}, {"thinPool", "thinpool"}},
     0,
     0,
     true},
    {"Device ssd: untaken ones only",
     {{"volumeType", "Device"}, {"mediaType", "ssd"}},
     500 * gi,
     300 * gi,
     false},
    {"Device hdd", {{"volumeType", "Device"}, {"mediaType", "hdd"}}, 1000 * gi, 1000 * gi, false},
    {"MountPoint hdd",
     {{"volumeType", "MountPoint"}, {"mediaType", "hdd"}},
     100 * gi,
     60 * gi,
     false},
    {"MountPoint ssd: none", {{"volumeType", "MountPoint"}, {"mediaType", "ssd"}}, 0, 0, false},
    {"Device without mediaType", {{"volumeType", "Device"}}, 0, 0, true},
    {"unknown volumeType", {{"volumeType", "Tape"}}, 0, 0, true},
  };
  auto node = sample_node();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto n = capacity_for(node, c.params);
    EXPECT_EQ(n.capacity, c.capacity);
    EXPECT_EQ(n.maximum_volume_size, c.maximum);
    EXPECT_EQ(!n.note.empty(), c.noted) << n.note;
  }
}

TEST(capacity_for, node_without_storage_has_none) {
  node_state n;
  n.name = "empty";
  n.reported = true;
  auto lvm = capacity_for(n, {});
  EXPECT_EQ(lvm.capacity, 0u);
  EXPECT_EQ(lvm.maximum_volume_size, 0u);
  auto dev = capacity_for(n, {{"volumeType", "Device"}, {"mediaType", "ssd"}});
  EXPECT_EQ(dev.capacity, 0u);
}

TEST(capacity_object, fields_labels_and_stable_name) {
  capacity_options opts;
  opts.namespace_ = "open-local";
  auto o = make_capacity_object(opts, "node-1", "open-local-lvm", {7 * gi, 5 * gi, ""});
  EXPECT_EQ(o.namespace_(), "open-local");
  EXPECT_EQ(o.name(), capacity_object_name(opts.owner, "node-1", "open-local-lvm"));
  EXPECT_EQ(o.name().rfind("olocal-csisc-", 0), 0u);
  EXPECT_EQ(o.name().size(), std::string{"olocal-csisc-"}.size() + 16);
  EXPECT_NE(o.name(), capacity_object_name(opts.owner, "node-2", "open-local-lvm"));
  EXPECT_NE(o.name(), capacity_object_name("someone-else", "node-1", "open-local-lvm"));
  EXPECT_EQ(o.string_at("apiVersion"), "storage.k8s.io/v1");
  EXPECT_EQ(o.string_at("kind"), "CSIStorageCapacity");
  EXPECT_EQ(o.string_at("storageClassName"), "open-local-lvm");
  EXPECT_EQ(o.string_at("capacity"), std::to_string(7 * gi));
  EXPECT_EQ(o.string_at("maximumVolumeSize"), std::to_string(5 * gi));
  auto* match = o.at_path("nodeTopology.matchLabels");
  ASSERT_NE(match, nullptr);
  EXPECT_EQ(json::serialize(*match), R"({"kubernetes.io/hostname":"node-1"})");
  EXPECT_EQ(o.label(capacity_labels::driver_name), "local.csi.aliyun.com");
  EXPECT_EQ(o.label(capacity_labels::managed_by), "open-local-scheduler");
  EXPECT_EQ(o.label(capacity_labels::node), "node-1");
  EXPECT_EQ(o.label(capacity_labels::storage_class), "open-local-lvm");

  // A name that is no valid label value is left out of the labels only.
  std::string long_node(70, 'n');
  auto l = make_capacity_object(opts, long_node, "sc", {});
  EXPECT_EQ(l.label(capacity_labels::node), "");
  EXPECT_EQ(json::serialize(*l.at_path("nodeTopology.matchLabels")),
            R"({"kubernetes.io/hostname":")" + long_node + "\"}");
}

// -- the actor against the fake API server ------------------------------------------------

constexpr const char* ns = "kube-system";

class capacity_publisher_test : public ::testing::Test {
public:
  capacity_publisher_test() : sys(cfg) {}

  ~capacity_publisher_test() override {
    if (actor)
      caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  }

  void start() {
    connection c;
    c.server = server.base_url();
    c.qps = 0;
    c.retry_base = 5ms;
    auto api = std::make_shared<client>(c);
    capacity_options opts;
    opts.namespace_ = ns;
    opts.interval = 20ms;
    actor = spawn_capacity_publisher(sys, api, reader, opts);
  }

  // -- the snapshot ----------------------------------------------------------------------

  static object storage_class(const std::string& name, const std::string& provisioner,
                              json::object params) {
    return object{json::object{{"apiVersion", "storage.k8s.io/v1"},
                               {"kind", "StorageClass"},
                               {"metadata", {{"name", name}}},
                               {"provisioner", provisioner},
                               {"parameters", std::move(params)}}};
  }

  static node_state lvm_node(const std::string& name, uint64_t capacity, uint64_t charged,
                             bool reported = true) {
    node_state n;
    n.name = name;
    n.reported = reported;
    if (reported) {
      n.vgs = {vg("pool0", capacity, charged)};
      n.devices = {unit("/dev/vdc", 200 * gi, "ssd")};
    }
    return n;
  }

  /// Publishes a synced snapshot with `nodes` and the storage classes `classes`.
  void publish(const std::vector<node_state>& nodes, const std::vector<object>& classes) {
    auto view = std::make_shared<placement::cluster_view>();
    view->generation = ++generation;
    for (const auto& n : nodes)
      view->nodes[n.name] = std::make_shared<const node_state>(n);
    auto idx = std::make_shared<object_index>();
    for (const auto& sc : classes)
      idx->storage_classes.emplace(sc.name(), sc);
    reader->publish(std::make_shared<const placement_snapshot>(
      placement_snapshot{std::move(view), std::move(idx), true}));
  }

  std::vector<object> default_classes() {
    return {storage_class("open-local-lvm", "local.csi.aliyun.com", {{"volumeType", "LVM"}}),
            storage_class("yoda-device", "yodaplugin.csi.alibabacloud.com",
                          {{"volumeType", "Device"}, {"mediaType", "ssd"}}),
            storage_class("other", "ebs.csi.aws.com", {})};
  }

  // -- observation -----------------------------------------------------------------------

  std::vector<object> capacities() {
    std::vector<object> out;
    for (auto& o : server.list("csistoragecapacities", ns))
      out.emplace_back(o);
    return out;
  }

  std::vector<object> ours() {
    std::vector<object> out;
    for (auto& o : capacities())
      if (o.label(capacity_labels::managed_by) == "open-local-scheduler")
        out.push_back(o);
    return out;
  }

  std::optional<object> find(const std::string& node, const std::string& sc) {
    for (auto& o : ours())
      if (o.label(capacity_labels::node) == node && o.label(capacity_labels::storage_class) == sc)
        return o;
    return std::nullopt;
  }

  json::object state() {
    json::object out;
    caf::scoped_actor self{sys};
    self->request(actor, 10s, inspect_atom::value)
      .receive([&](actor_report& r) { out = json::parse(r.state_json).as_object(); },
               [&](caf::error& err) { ADD_FAILURE() << render(err); });
    return out;
  }

  uint64_t count(const std::string& key) {
    auto s = state();
    auto* v = s.if_contains(key);
    return v != nullptr ? v->to_number<uint64_t>() : ~0ull;
  }

  /// Waits until `n` more passes have run (each sees the current snapshot).
  bool passes(uint64_t n) {
    auto target = count("passes") + n;
    return eventually([&] { return count("passes") >= target; });
  }

  /// Writes (not reads) to CSIStorageCapacity objects in the request log.
  std::vector<test::request_record> writes(const std::string& name_part = "") {
    std::vector<test::request_record> out;
    for (auto& r : server.request_log())
      if (r.method != "GET" && r.target.find("csistoragecapacities") != std::string::npos &&
          r.target.find(name_part) != std::string::npos)
        out.push_back(r);
    return out;
  }

  void put_foreign(const std::string& name, json::object labels) {
    server.put(
      "csistoragecapacities",
      json::object{{"apiVersion", "storage.k8s.io/v1"},
                   {"kind", "CSIStorageCapacity"},
                   {"metadata", {{"name", name}, {"namespace", ns}, {"labels", std::move(labels)}}},
                   {"nodeTopology", {{"matchLabels", {{"kubernetes.io/hostname", "gone"}}}}},
                   {"storageClassName", "open-local-lvm"},
                   {"capacity", "1Gi"}});
  }

  test::fake_apiserver server;
  caf::actor_system_config cfg;
  caf::actor_system sys;
  std::shared_ptr<placement_reader> reader = std::make_shared<placement_reader>();
  uint64_t generation = 0;
  capacity_publisher_actor actor;
};

} // namespace

TEST_F(capacity_publisher_test, publishes_nothing_before_the_snapshot_syncs) {
  start();
  ASSERT_TRUE(eventually([&] { return state()["informerSynced"].as_bool(); }));
  // Unsynced snapshot (the reader's initial one): ticks pass without a pass.
  auto ticks = count("ticks");
  ASSERT_TRUE(eventually([&] { return count("ticks") >= ticks + 2; }));
  EXPECT_EQ(count("passes"), 0u);
  EXPECT_TRUE(writes().empty());
  publish({lvm_node("node-1", 100 * gi, 0)}, default_classes());
  ASSERT_TRUE(eventually([&] { return ours().size() == 2; }));
}

TEST_F(capacity_publisher_test, one_object_per_reported_node_and_class_of_ours) {
  publish({lvm_node("node-1", 100 * gi, 40 * gi), lvm_node("node-2", 50 * gi, 0),
           lvm_node("node-3", 0, 0, false)},
          default_classes());
  start();
  ASSERT_TRUE(eventually([&] { return ours().size() == 4; }));
  ASSERT_TRUE(passes(2));
  EXPECT_EQ(ours().size(), 4u); // node-3 has no report, "other" is not ours
  auto lvm1 = find("node-1", "open-local-lvm");
  ASSERT_TRUE(lvm1);
  EXPECT_EQ(lvm1->string_at("capacity"), std::to_string(60 * gi));
  EXPECT_EQ(lvm1->string_at("maximumVolumeSize"), std::to_string(60 * gi));
  EXPECT_EQ(lvm1->string_at("storageClassName"), "open-local-lvm");
  EXPECT_EQ(json::serialize(*lvm1->at_path("nodeTopology.matchLabels")),
            R"({"kubernetes.io/hostname":"node-1"})");
  auto dev2 = find("node-2", "yoda-device");
  ASSERT_TRUE(dev2);
  EXPECT_EQ(dev2->string_at("capacity"), std::to_string(200 * gi));
  EXPECT_EQ(count("creates"), 4u);
  EXPECT_EQ(count("objects"), 4u);
  EXPECT_EQ(count("desired"), 4u);
  EXPECT_EQ(count("failures"), 0u);
}

TEST_F(capacity_publisher_test, rewrites_only_what_changed) {
  auto classes = default_classes();
  publish({lvm_node("node-1", 100 * gi, 0), lvm_node("node-2", 100 * gi, 0)}, classes);
  start();
  ASSERT_TRUE(eventually([&] { return ours().size() == 4; }));
  ASSERT_TRUE(passes(2));

  // Nothing changed: several passes, no write at all.
  server.clear_request_log();
  ASSERT_TRUE(passes(5));
  EXPECT_TRUE(writes().empty());
  EXPECT_EQ(count("updates"), 0u);

  // node-1's group fills: exactly its LVM object is rewritten, once.
  auto before = find("node-2", "open-local-lvm");
  ASSERT_TRUE(before);
  publish({lvm_node("node-1", 100 * gi, 75 * gi), lvm_node("node-2", 100 * gi, 0)}, classes);
  ASSERT_TRUE(eventually([&] {
    auto o = find("node-1", "open-local-lvm");
    return o && o->string_at("capacity") == std::to_string(25 * gi);
  }));
  ASSERT_TRUE(passes(3));
  auto name = capacity_object_name("open-local-scheduler", "node-1", "open-local-lvm");
  auto all = writes();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].method, "PUT");
  EXPECT_NE(all[0].target.find(name), std::string::npos);
  EXPECT_EQ(find("node-1", "open-local-lvm")->string_at("maximumVolumeSize"),
            std::to_string(25 * gi));
  EXPECT_EQ(find("node-2", "open-local-lvm")->resource_version(), before->resource_version());
  EXPECT_EQ(count("updates"), 1u);
}

TEST_F(capacity_publisher_test, deletes_objects_of_gone_nodes_and_classes_only_its_own) {
  put_foreign("csisc-abcde", {{"csi.storage.k8s.io/drivername", "local.csi.aliyun.com"},
                              {"csi.storage.k8s.io/managed-by", "external-provisioner"}});
  put_foreign("unlabelled", {});
  // Our label keys with another owner: not ours either.
  put_foreign("other-owner", {{std::string{capacity_labels::managed_by}, "another-scheduler"}});
  auto classes = default_classes();
  publish({lvm_node("node-1", 100 * gi, 0), lvm_node("node-2", 100 * gi, 0)}, classes);
  start();
  ASSERT_TRUE(eventually([&] { return ours().size() == 4; }));
  auto foreign_before = capacities();

  // node-2 leaves the view: its two objects go.
  publish({lvm_node("node-1", 100 * gi, 0)}, classes);
  ASSERT_TRUE(eventually([&] { return ours().size() == 2; }));
  EXPECT_FALSE(find("node-2", "open-local-lvm"));
  EXPECT_TRUE(find("node-1", "yoda-device"));

  // The device class goes: its object goes.
  publish({lvm_node("node-1", 100 * gi, 0)}, {classes[0], classes[2]});
  ASSERT_TRUE(eventually([&] { return ours().size() == 1; }));
  EXPECT_TRUE(find("node-1", "open-local-lvm"));
  ASSERT_TRUE(passes(3));
  EXPECT_EQ(count("deletes"), 3u);
  EXPECT_EQ(count("failures"), 0u);

  // The foreign objects are as they were, and no request ever wrote them.
  for (auto* name : {"csisc-abcde", "unlabelled", "other-owner"}) {
    SCOPED_TRACE(name);
    auto now = server.get("csistoragecapacities", ns, name);
    ASSERT_TRUE(now);
    for (auto& before : foreign_before) {
      if (before.name() == name) {
        EXPECT_EQ(object{*now}.resource_version(), before.resource_version());
      }
    }
    EXPECT_TRUE(writes(std::string{"/"} + name).empty());
  }
}

TEST_F(capacity_publisher_test, recreates_an_object_deleted_by_someone_else) {
  publish({lvm_node("node-1", 100 * gi, 0)}, default_classes());
  start();
  ASSERT_TRUE(eventually([&] { return ours().size() == 2; }));
  auto name = capacity_object_name("open-local-scheduler", "node-1", "open-local-lvm");
  ASSERT_TRUE(server.remove("csistoragecapacities", ns, name));
  ASSERT_TRUE(eventually([&] { return server.get("csistoragecapacities", ns, name).has_value(); }));
  EXPECT_EQ(count("creates"), 3u);
}
