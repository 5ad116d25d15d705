#pragma once

#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace olocal {

class option_set;
class runtime;

/// $POD_NAMESPACE (set by the Helm chart from the pod's namespace), else
/// "kube-system".
std::string default_namespace();

/// Options every long-running sub-command shares.
/// The host name (what kubelet calls the node), "localhost" if unknown.
std::string default_node_name();

struct service_options {
  uint64_t workers = 0;
  std::string log_level = "info";
  std::string log_format = "text";
  std::string http_address = "127.0.0.1";
  uint64_t http_port = 9353;
  std::string admin_token_file;
  std::chrono::milliseconds drain_timeout{30'000};
  std::string sysfs = "/sys";
  std::string port_file;                  ///< where to write the bound HTTP port ("" = nowhere)
  std::vector<std::string> volume_groups; ///< VGs this node manages (one VG actor each)
  std::chrono::milliseconds rescan_interval{60'000}; ///< VG rescan period
  std::string pool_file;                             ///< a file-backed demo pool ("" = none)
  uint64_t pool_size = 4ull << 30;                   ///< size of a new pool file
  std::string pool_vg = "open-local-pool-0";
  std::string csi_endpoint = "unix:///run/open-local/csi.sock";
  std::string driver_name = "local.csi.aliyun.com";
  std::string node_name = default_node_name();
  uint64_t max_volumes = 0;
  std::vector<std::string> csi_allowed_paths = {"/var/lib/kubelet", "/var/lib/open-local"};
  std::string state_dir = "/var/lib/open-local";
  /// IO limits (the node's io-limit actor): where cgroups are mounted, which
  /// version (auto, v1, v2), how often limits are re-checked, and the cgroup
  /// limited when a standalone publish names none ("" = none).
  std::string io_cgroup_root = "/sys/fs/cgroup";
  std::string io_cgroup_mode = "auto";
  std::chrono::milliseconds io_reconcile_interval{10'000};
  std::string io_cgroup_parent;
  /// Devices that may become Device volumes while free (whole-name regular
  /// expressions over the kernel name or the /dev path); none by default.
  std::vector<std::string> device_include;
  std::vector<std::string> device_exclude;
  /// MountPoint volumes: the directory whose mounted subdirectories are
  /// offered (open-local's --path.mount); "" = none.
  std::string mount_path;

  // `open-local node`: report this node to the Kubernetes API.
  bool kube = false;
  std::string kubeconfig; ///< --kubeconfig ("" = KUBECONFIG, in-cluster, ~/.kube/config)
  std::string master;     ///< --master: the API server URL, overriding the kubeconfig's
  std::chrono::milliseconds report_interval{2'000};     ///< NodeLocalStorage status check
  std::chrono::milliseconds heartbeat_interval{60'000}; ///< unchanged status re-written
  bool force_init = false; ///< resourceToBeInited may take devices holding content
  /// Garbage collection of this node's orphaned volumes (`open-local node`):
  /// "delete", "dry-run" (report only) or "off".
  std::string gc_policy = "delete";
  std::chrono::milliseconds gc_grace{3'600'000};
  std::chrono::milliseconds gc_interval{60'000};
  uint64_t kube_qps = 20;
  uint64_t kube_burst = 40;

  // The node agent (cluster mode): `open-local node` serves it to the
  // controller over mutual TLS; `open-local controller` calls it.
  std::string agent_address; ///< node: "0.0.0.0:1736" ("" = no agent)
  std::string agent_ca;      ///< PEM file of the agent CA (both sides)
  std::string agent_cert;    ///< PEM file of this side's certificate
  std::string agent_key;     ///< PEM file of this side's key
  /// node: the client certificate names (CN or SAN) that may call
  std::vector<std::string> agent_allowed_clients = {"open-local-controller"};
  uint64_t agent_port = 1736;                   ///< controller: the nodes' agent port
  std::string node_address_type = "InternalIP"; ///< controller: which Node address to dial
  /// controller: the SAN the nodes' certificates carry ("" = each node's name)
  std::string agent_server_name = "open-local-node";
  std::chrono::milliseconds agent_connect_timeout{5'000};
  std::chrono::milliseconds agent_call_timeout{300'000};
  /// controller: the scheduler extender whose placement API names the group
  /// of a new volume ("" = $EXTENDER_SVC_IP:$EXTENDER_SVC_PORT when set, else
  /// none: the node chooses)
  std::string scheduler_url;

  // `open-local scheduler`: the placement actor and the scheduler extender.
  std::string extender_address = "0.0.0.0";
  uint64_t extender_port = 23000;
  std::string scheduler_strategy = "binpack";
  std::string anti_affinity; ///< --enabled-node-anti-affinity ("MountPoint=5,Device=2")
  std::chrono::milliseconds reservation_ttl{300'000};
  bool publish_capacity = false; ///< CSIStorageCapacity per node and StorageClass
  std::string capacity_namespace = default_namespace();
  std::chrono::milliseconds capacity_interval{10'000};

  // Which parts run: the node side (discovery, node actors, volume manager,
  // CSI) and the cluster controller (`open-local controller`).
  bool node = true;
  bool controller = false;
  bool scheduler = false;
  std::string init_config = "open-local"; ///< the NodeLocalStorageInitConfig's name
  bool leader_elect = true;
  std::string lease_namespace = default_namespace();
  std::string lease_name = "open-local-controller";

  /// Declares the options above in `set` (one place for all sub-commands).
  void declare(option_set& set);
  /// Declares what every long-running command takes (logging, workers, the
  /// HTTP endpoints, the drain, the node name): declare() includes these.
  void declare_common(option_set& set);
  /// Declares the Kubernetes options (the node and controller commands).
  void declare_kube(option_set& set);
  /// Declares the node's NodeLocalStorage options (reporting, initialization).
  void declare_reporting(option_set& set);
  /// Declares the controller's options.
  void declare_controller(option_set& set);
  /// Declares the node agent's options (`open-local node`).
  void declare_agent(option_set& set);
  /// Declares the scheduler extender's options (`open-local scheduler`).
  void declare_scheduler(option_set& set);
};

/// Applies --log-level and --log-format. Errors name the bad value.
caf::error apply_logging(const service_options& opts);

/// A running process core: actor system, registry, node discovery and the
/// observability HTTP server. Sub-commands add their gateways on top.
class service {
public:
  static caf::expected<std::unique_ptr<service>> start(const service_options& opts);
  ~service();

  uint16_t http_port() const;
  runtime& actors();

  /// Graceful stop: readiness off, HTTP intake closed and in-flight requests
  /// drained (up to the drain timeout), every actor stopped, all joined.
  /// Returns the exit code: 0 when everything drained, 1 when the deadline
  /// abandoned requests. Idempotent.
  int stop();

  struct impl;

private:
  explicit service(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// Blocks SIGTERM and SIGINT in the calling thread and every thread it
/// starts later (call first in main), so that wait_for_shutdown_signal sees them.
void block_shutdown_signals();

/// Waits for SIGTERM or SIGINT and returns it. After it returns, a second
/// signal ends the process at once (exit 128 + signal): the operator's way
/// out of a drain that takes too long.
int wait_for_shutdown_signal();

} // namespace olocal
