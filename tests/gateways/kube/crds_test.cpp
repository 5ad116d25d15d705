// The shipped CRDs (deploy/crds) keep open-local's contract: group, version,
// scope, names, printer columns and the validations section 2 lists.

#include "gateways/kube/yaml.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace olocal::kube {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

fs::path source_dir() {
  return OLOCAL_SOURCE_DIR; // compiled in (tests/gateways/kube/CMakeLists.txt)
}

json::value load_crd(const std::string& name) {
  auto path = source_dir() / "deploy" / "crds" / name;
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return nullptr;
  }
  std::stringstream text;
  text << in.rdbuf();
  return yaml::parse(text.str());
}

json::value text(std::string_view s) {
  return json::string(s.data(), s.size());
}

/// Follows a path of object keys and array indexes ("0").
const json::value& at(const json::value& root, std::initializer_list<std::string_view> path) {
  const json::value* v = &root;
  for (auto key : path) {
    if (v->is_array()) {
      v = &v->as_array().at(std::stoul(std::string(key)));
    } else {
      v = &v->as_object().at(key);
    }
  }
  return *v;
}

void expect_common(const json::value& crd, std::string_view plural, std::string_view singular,
                   std::string_view kind, std::string_view short_name) {
  EXPECT_EQ(at(crd, {"apiVersion"}), "apiextensions.k8s.io/v1");
  EXPECT_EQ(at(crd, {"kind"}), "CustomResourceDefinition");
  EXPECT_EQ(at(crd, {"metadata", "name"}), text(std::string(plural) + ".csi.aliyun.com"));
  const auto& spec = at(crd, {"spec"});
  EXPECT_EQ(at(spec, {"group"}), "csi.aliyun.com");
  EXPECT_EQ(at(spec, {"scope"}), "Cluster");
  EXPECT_EQ(at(spec, {"names", "plural"}), text(plural));
  EXPECT_EQ(at(spec, {"names", "singular"}), text(singular));
  EXPECT_EQ(at(spec, {"names", "kind"}), text(kind));
  EXPECT_EQ(at(spec, {"names", "listKind"}), text(std::string(kind) + "List"));
  EXPECT_EQ(at(spec, {"names", "shortNames"}), json::array({text(short_name)}));
  const auto& versions = at(spec, {"versions"}).as_array();
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(at(versions[0], {"name"}), "v1alpha1");
  EXPECT_EQ(at(versions[0], {"served"}), true);
  EXPECT_EQ(at(versions[0], {"storage"}), true);
  EXPECT_EQ(at(versions[0], {"schema", "openAPIV3Schema", "type"}), "object");
}

/// The schemas spec of NLS and each section of NLSC share.
void expect_sections(const json::value& props) {
  EXPECT_EQ(at(props, {"spdkConfig", "properties", "deviceType", "maxLength"}), 8);
  EXPECT_EQ(at(props, {"spdkConfig", "properties", "rpcSocket", "maxLength"}), 128);
  for (auto list : {"vgs", "mountPoints", "devices"}) {
    for (auto which : {"include", "exclude"}) {
      SCOPED_TRACE(std::string(list) + "." + which);
      const auto& field = at(props, {"listConfig", "properties", list, "properties", which});
      EXPECT_EQ(at(field, {"type"}), "array");
      EXPECT_EQ(at(field, {"maxItems"}), 50);
      EXPECT_EQ(at(field, {"items", "type"}), "string");
    }
  }
  const auto& init = at(props, {"resourceToBeInited", "properties"});
  EXPECT_EQ(at(init, {"vgs", "maxItems"}), 50);
  const auto& vg = at(init, {"vgs", "items"});
  EXPECT_EQ(at(vg, {"required"}), json::array({"name", "devices"}));
  EXPECT_EQ(at(vg, {"properties", "name", "minLength"}), 1);
  EXPECT_EQ(at(vg, {"properties", "name", "maxLength"}), 128);
  EXPECT_EQ(at(vg, {"properties", "devices", "maxItems"}), 50);

  EXPECT_EQ(at(init, {"mountpoints", "maxItems"}), 50);
  const auto& mp = at(init, {"mountpoints", "items"});
  EXPECT_EQ(at(mp, {"required"}), json::array({"path", "device"}));
  for (auto field : {"path", "device"}) {
    SCOPED_TRACE(field);
    EXPECT_EQ(at(mp, {"properties", field, "pattern"}), "^(/[^/ ]*)+/?$");
    EXPECT_EQ(at(mp, {"properties", field, "minLength"}), 1);
    EXPECT_EQ(at(mp, {"properties", field, "maxLength"}), 128);
  }
  EXPECT_EQ(at(mp, {"properties", "fsType", "default"}), "ext4");
  EXPECT_EQ(at(mp, {"properties", "fsType", "enum"}), json::array({"ext3", "ext4", "xfs"}));
  EXPECT_EQ(at(mp, {"properties", "options", "items", "type"}), "string");
}

TEST(Crds, NodeLocalStorage) {
  auto crd = load_crd("csi.aliyun.com_nodelocalstorages.yaml");
  ASSERT_TRUE(crd.is_object());
  expect_common(crd, "nodelocalstorages", "nodelocalstorage", "NodeLocalStorage", "nls");
  const auto& version = at(crd, {"spec", "versions", "0"});
  EXPECT_EQ(at(version, {"subresources", "status"}), json::object());

  const std::vector<std::pair<std::string, std::string>> columns = {
    {"State", ".status.nodeStorageInfo.state.type"},
    {"Phase", ".status.nodeStorageInfo.phase"},
    {"AgentUpdateAt", ".status.nodeStorageInfo.state.lastHeartbeatTime"},
    {"SchedulerUpdateAt", ".status.filteredStorageInfo.updateStatusInfo.lastUpdateTime"},
    {"SchedulerUpdateStatus", ".status.filteredStorageInfo.updateStatusInfo.updateStatus"},
  };
  const auto& printed = at(version, {"additionalPrinterColumns"}).as_array();
  ASSERT_EQ(printed.size(), columns.size());
  for (std::size_t i = 0; i < columns.size(); ++i) {
    EXPECT_EQ(at(printed[i], {"name"}), text(columns[i].first));
    EXPECT_EQ(at(printed[i], {"jsonPath"}), text(columns[i].second));
    bool is_time = columns[i].first.ends_with("UpdateAt");
    EXPECT_EQ(at(printed[i], {"type"}), is_time ? "date" : "string");
  }

  const auto& schema = at(version, {"schema", "openAPIV3Schema", "properties"});
  const auto& spec = at(schema, {"spec", "properties"});
  EXPECT_EQ(at(spec, {"nodeName", "type"}), "string");
  EXPECT_EQ(at(spec, {"nodeName", "minLength"}), 1);
  EXPECT_EQ(at(spec, {"nodeName", "maxLength"}), 128);
  expect_sections(spec);
  EXPECT_EQ(at(schema, {"spec"}).as_object().count("x-kubernetes-preserve-unknown-fields"), 0u);

  const auto& info = at(schema, {"status", "properties", "nodeStorageInfo"});
  EXPECT_EQ(at(info, {"x-kubernetes-preserve-unknown-fields"}), true);
  const auto& node = at(info, {"properties"});
  const auto& device = at(node, {"deviceInfo", "items", "properties"});
  for (auto f : {"name", "mediaType", "condition"}) {
    EXPECT_EQ(at(device, {f, "type"}), "string") << f;
  }
  EXPECT_EQ(at(device, {"total", "type"}), "integer");
  EXPECT_EQ(at(device, {"total", "format"}), "int64");
  EXPECT_EQ(at(device, {"readOnly", "type"}), "boolean");

  const auto& vg = at(node, {"volumeGroups", "items"});
  EXPECT_EQ(at(vg, {"x-kubernetes-preserve-unknown-fields"}), true);
  for (auto f : {"total", "available", "allocatable"}) {
    EXPECT_EQ(at(vg, {"properties", f, "type"}), "integer") << f;
  }
  EXPECT_EQ(at(vg, {"properties", "physicalVolumes", "items", "type"}), "string");
  const auto& lv = at(vg, {"properties", "logicalVolumes", "items", "properties"});
  for (auto f : {"name", "vgname", "condition"}) {
    EXPECT_EQ(at(lv, {f, "type"}), "string") << f;
  }
  EXPECT_EQ(at(lv, {"total", "type"}), "integer");
  EXPECT_EQ(at(lv, {"readOnly", "type"}), "boolean");

  const auto& mp = at(node, {"mountPoints", "items", "properties"});
  for (auto f : {"name", "fsType", "device", "condition"}) {
    EXPECT_EQ(at(mp, {f, "type"}), "string") << f;
  }
  for (auto f : {"isBind", "readOnly"}) {
    EXPECT_EQ(at(mp, {f, "type"}), "boolean") << f;
  }
  EXPECT_EQ(at(mp, {"options", "items", "type"}), "string");
  EXPECT_EQ(at(node, {"phase", "type"}), "string");
  const auto& state = at(node, {"state", "properties"});
  for (auto f : {"type", "status", "reason", "message"}) {
    EXPECT_EQ(at(state, {f, "type"}), "string") << f;
  }
  EXPECT_EQ(at(state, {"lastHeartbeatTime", "format"}), "date-time");
  EXPECT_EQ(at(state, {"lastTransitionTime", "format"}), "date-time");

  const auto& filtered = at(schema, {"status", "properties", "filteredStorageInfo", "properties"});
  for (auto f : {"volumeGroups", "mountPoints", "devices"}) {
    EXPECT_EQ(at(filtered, {f, "items", "type"}), "string") << f;
  }
  const auto& update = at(filtered, {"updateStatusInfo", "properties"});
  EXPECT_EQ(at(update, {"lastUpdateTime", "format"}), "date-time");
  EXPECT_EQ(at(update, {"updateStatus", "type"}), "string");
  EXPECT_EQ(at(update, {"reason", "type"}), "string");
}

TEST(Crds, NodeLocalStorageInitConfig) {
  auto crd = load_crd("csi.aliyun.com_nodelocalstorageinitconfigs.yaml");
  ASSERT_TRUE(crd.is_object());
  expect_common(crd, "nodelocalstorageinitconfigs", "nodelocalstorageinitconfig",
                "NodeLocalStorageInitConfig", "nlsc");
  const auto& version = at(crd, {"spec", "versions", "0"});
  EXPECT_EQ(version.as_object().count("subresources"), 0u);
  EXPECT_EQ(version.as_object().count("additionalPrinterColumns"), 0u);

  const auto& spec = at(version, {"schema", "openAPIV3Schema", "properties", "spec", "properties"});
  {
    SCOPED_TRACE("globalConfig");
    expect_sections(at(spec, {"globalConfig", "properties"}));
  }
  const auto& nodes = at(spec, {"nodesConfig"});
  EXPECT_EQ(at(nodes, {"type"}), "array");
  const auto& node = at(nodes, {"items", "properties"});
  {
    SCOPED_TRACE("nodesConfig");
    expect_sections(node);
  }
  const auto& selector = at(node, {"selector", "properties"});
  EXPECT_EQ(at(selector, {"matchLabels", "additionalProperties", "type"}), "string");
  const auto& expression = at(selector, {"matchExpressions", "items"});
  EXPECT_EQ(at(expression, {"required"}), json::array({"key", "operator"}));
  EXPECT_EQ(at(expression, {"properties", "values", "items", "type"}), "string");
}

} // namespace
} // namespace olocal::kube
