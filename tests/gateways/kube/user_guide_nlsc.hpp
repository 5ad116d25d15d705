#pragma once

// The NodeLocalStorageInitConfig spec of open-local's user guide
// (docs/api/nlsc_zh_CN.md), as printed there. The second rule's
// "resourceInit"/"vg"/"vgName" are not fields of the type: Go's decoder (and
// the API server's pruning) drops them, so that rule sets empty sections.

namespace olocal::test {

inline constexpr auto user_guide_nlsc = R"({
  "globalConfig": {
    "listConfig": {
      "vgs": {"include": ["open-local-pool-[0-9]+"]},
      "devices": {"include": ["/dev/vdc"]}
    },
    "resourceToBeInited": {
      "vgs": [{"devices": ["/dev/vdb3"], "name": "open-local-pool-0"}]
    }
  },
  "nodesConfig": [
    {
      "selector": {"matchExpressions": [
        {"key": "node-role.kubernetes.io/master", "operator": "In", "values": [""]}]},
      "listConfig": {
        "vgs": {"include": ["share-pool"]},
        "devices": {"include": ["/dev/vdd"]}
      }
    },
    {
      "selector": {"matchLabels": {"kubernetes.io/hostname": "cn-hangzhou.10.0.95.236"}},
      "resourceInit": {"vg": [{"vgName": "share", "devices": ["/dev/vdc"]}]}
    }
  ]
})";

} // namespace olocal::test
