#include "gateways/cmd/service.hpp"

#include "actors/cluster/volume_manager.hpp"
#include "actors/cluster/volume_router.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/log.hpp"
#include "actors/core/options.hpp"
#include "actors/core/runtime.hpp"
#include "actors/node/block_devices.hpp"
#include "actors/node/device_volumes.hpp"
#include "actors/node/io_limit_actor.hpp"
#include "actors/node/node_supervisor.hpp"
#include "gateways/admin/observability.hpp"
#include "gateways/agent/agent_transport.hpp"
#include "gateways/agent/node_proxy.hpp"
#include "gateways/cmd/file_pool.hpp"
#include "gateways/cmd/version.hpp"
#include "gateways/csi/csi_gateway.hpp"
#include "gateways/extender/extender.hpp"
#include "gateways/http/server.hpp"
#include "gateways/kube/capacity_publisher.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/config_controller.hpp"
#include "gateways/kube/io_limit_events.hpp"
#include "gateways/kube/kube_config.hpp"
#include "gateways/kube/leader.hpp"
#include "gateways/kube/node_directory.hpp"
#include "gateways/kube/node_reporter.hpp"
#include "gateways/kube/placement_actor.hpp"
#include "gateways/kube/placement_advisor.hpp"
#include "gateways/kube/volume_gc.hpp"
#include "gateways/metrics/metrics.hpp"

#include <boost/json.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <thread>
#include <unistd.h>

namespace olocal {

std::string default_node_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0')
    return "localhost";
  return name;
}

std::string default_namespace() {
  const char* ns = std::getenv("POD_NAMESPACE");
  return ns != nullptr && *ns != '\0' ? ns : "kube-system";
}

void service_options::declare_common(option_set& set) {
  set.add("workers", workers, "actor scheduler threads (0 = one per core)", 0, 256);
  set.add_choice("log-level", log_level, {"debug", "info", "warn", "error"},
                 "least severe level logged");
  set.add_choice("log-format", log_format, {"text", "json"}, "log line format");
  set.add(
    "http-address", http_address,
    "address of the metrics, health and admin endpoints (non-loopback needs --admin-token-file)");
  set.add("http-port", http_port,
          "port of the metrics, health and admin endpoints (0 = any free port)", 0, 65535);
  set.add("admin-token-file", admin_token_file,
          "file with the bearer token required by /admin/* (at least 16 characters)");
  set.add("drain-timeout", drain_timeout, "how long a stop waits for in-flight work");
  set.add("port-file", port_file, "write the bound HTTP port to this file once serving");
  set.add("node-name", node_name, "this node's name (CSI node id and topology)");
}

void service_options::declare(option_set& set) {
  declare_common(set);
  set.add("sysfs", sysfs, "where sysfs is mounted (a container may mount the host's elsewhere)");
  set.add_list("vg", volume_groups,
               "a volume group this node manages (repeatable); its LVs tagged as ours are "
               "rebuilt from LVM at start");
  set.add("rescan-interval", rescan_interval,
          "how often each volume group is rescanned (one lvm process per scan)");
  set.add("pool-file", pool_file,
          "make (once) and manage a volume group on a loop device over this file (the demo "
          "pool; \"\" = none)");
  set.add("pool-size", pool_size, "size of a new pool file in bytes", 64ull << 20);
  set.add("pool-vg", pool_vg, "name of the pool's volume group");
  set.add("csi-endpoint", csi_endpoint, "the CSI socket (unix:///path; \"\" = no CSI)");
  set.add("driver-name", driver_name,
          "CSI driver name (open-local's; its legacy yodaplugin.csi.alibabacloud.com works too)");
  set.add("max-volumes", max_volumes, "volumes this node takes at most (0 = no limit)");
  set.add_list("csi-allowed-path", csi_allowed_paths,
               "staging and target paths must lie below one of these (repeatable; replaces the "
               "default)");
  set.add("state-dir", state_dir,
          "where inline ephemeral volumes are staged, the claims of Device and MountPoint "
          "volumes are kept (claims.json) and the IO limits in force (io-limits.json)");
  set.add("io-cgroup-root", io_cgroup_root,
          "where the cgroup file system is mounted (IO limits of volumes: v2 io.max, v1 blkio "
          "throttle files)");
  set.add_choice("io-cgroup-mode", io_cgroup_mode, {"auto", "v1", "v2"},
                 "cgroup version for IO limits (auto: v2 when <root>/cgroup.controllers exists)");
  set.add("io-reconcile-interval", io_reconcile_interval,
          "how often IO limits in force are checked and written again where a cgroup lost them "
          "(recreated pod cgroups, new containers)");
  set.add("io-cgroup-parent", io_cgroup_parent,
          "standalone: the cgroup (as /proc/<pid>/cgroup names it) whose IO is limited when a "
          "publish names no pod and no olocal/cgroup (\"\" = such a publish fails)");
  set.add_list("device-include", device_include,
               "a whole-name regular expression over kernel names (vdc) or paths (/dev/vdc): "
               "matching devices may become Device volumes while they are free, i.e. hold no "
               "signature, holder, partition or mount (repeatable)");
  set.add_list("device-exclude", device_exclude,
               "a whole-name regular expression: matching devices never become Device volumes "
               "(repeatable)");
  set.add("mount-path", mount_path,
          "every empty ext3/ext4/xfs mount point directly under this directory may become a "
          "MountPoint volume (\"\" = none)");
}

void service_options::declare_kube(option_set& set) {
  set.add("kubeconfig", kubeconfig,
          "kubeconfig file (\"\" = $KUBECONFIG, then in-cluster, then ~/.kube/config)");
  set.add("master", master, "the API server URL, overriding the kubeconfig's server");
  set.add("kube-api-qps", kube_qps, "requests per second to the API server", 1, 10'000);
  set.add("kube-api-burst", kube_burst, "request burst to the API server", 1, 10'000);
}

void service_options::declare_reporting(option_set& set) {
  set.add("report-interval", report_interval,
          "how often the NodeLocalStorage status is compared with the node (no lvm process)");
  set.add("heartbeat-interval", heartbeat_interval,
          "how often an unchanged NodeLocalStorage status is written again");
  set.add("force-init", force_init,
          "let spec.resourceToBeInited take devices that hold content (a stale LVM label, a "
          "partition table), never a filesystem or a device in use (also: environment "
          "Force_Create_VG=true, open-local's switch)");
  set.add_choice("gc-policy", gc_policy, {"delete", "dry-run", "off"},
                 "what happens to this node's LVs of ours that no PersistentVolume (snapshots: no "
                 "VolumeSnapshotContent; inline ephemeral: no live pod) refers to for --gc-grace: "
                 "securely wiped and removed, only reported, or nothing; LVs whose PV was Retain "
                 "are never removed");
  set.add("gc-grace", gc_grace,
          "how long an LV must be unreferenced, and exist, before collection (covers creates "
          "whose PersistentVolume is not written yet)");
  set.add("gc-interval", gc_interval, "time between collection passes");
}

namespace {

void declare_agent_tls(service_options& o, option_set& set) {
  set.add("agent-ca", o.agent_ca,
          "PEM file of the CA that signs the controller's and the nodes' agent certificates");
  set.add("agent-cert", o.agent_cert, "PEM file of this process's agent certificate");
  set.add("agent-key", o.agent_key, "PEM file of the key of --agent-cert");
}

} // namespace

void service_options::declare_agent(option_set& set) {
  set.add("agent-address", agent_address,
          "serve the node agent (the controller's calls, mutual TLS only) on this address, e.g. "
          "0.0.0.0:1736 (\"\" = no agent: standalone use)");
  declare_agent_tls(*this, set);
  set.add_list("agent-allowed-client", agent_allowed_clients,
               "a client certificate name (CN or SAN) that may call the agent (repeatable; "
               "replaces the default open-local-controller)");
}

void service_options::declare_scheduler(option_set& set) {
  set.add("address", extender_address, "address of the scheduler extender's HTTP endpoints");
  set.add("port", extender_port,
          "port of the scheduler extender (/scheduler/predicates, /scheduler/priorities, "
          "/apis/scheduling/..., /cache, /version, /metrics)",
          1, 65535);
  set.add_choice("scheduler-strategy", scheduler_strategy, {"binpack", "spread"},
                 "binpack fills the fullest volume groups first; spread the emptiest");
  set.add("enabled-node-anti-affinity", anti_affinity,
          "keep pods without Device/MountPoint volumes off nodes that still have free ones: "
          "\"MountPoint=5,Device=2\" (weights 0..10; a bare type weighs 5)");
  set.add("reservation-ttl", reservation_ttl,
          "how long a reservation made for a PVC (the placement API) holds without a PV");
  set.add("publish-capacity", publish_capacity,
          "publish CSIStorageCapacity objects per node and StorageClass of ours, for clusters "
          "whose kube-scheduler cannot call the extender (the CSIDriver needs "
          "storageCapacity: true)");
  set.add("capacity-namespace", capacity_namespace, "namespace of the CSIStorageCapacity objects");
  set.add("capacity-interval", capacity_interval,
          "how often the CSIStorageCapacity objects are compared with the view (writes only "
          "on change)");
}

void service_options::declare_controller(option_set& set) {
  set.add("initconfig", init_config,
          "the NodeLocalStorageInitConfig every node's NodeLocalStorage spec comes from "
          "(open-local's --initconfig)");
  set.add("leader-elect", leader_elect,
          "run the controller only where this process holds the leader Lease (replicas; "
          "--leader-elect=false for a single replica)");
  set.add("lease-namespace", lease_namespace, "namespace of the leader Lease");
  set.add("lease-name", lease_name, "name of the leader Lease");
  set.add("csi-endpoint", csi_endpoint,
          "serve CSI Identity and Controller for the sidecars on this socket, acting on each "
          "volume's node through its agent (unix:///path; \"\" = none)");
  set.add("driver-name", driver_name, "CSI driver name");
  declare_agent_tls(*this, set);
  set.add("agent-port", agent_port, "the port the nodes' agents listen on", 1, 65535);
  set.add("node-address-type", node_address_type,
          "which address of a Node object to dial (InternalIP, ExternalIP, Hostname, ...)");
  set.add("agent-server-name", agent_server_name,
          "the name every node's agent certificate must carry as a SAN (\"\" = the node's own "
          "name, for per-node certificates)");
  set.add("agent-connect-timeout", agent_connect_timeout,
          "how long a call waits to connect to a node before answering UNAVAILABLE");
  set.add("agent-call-timeout", agent_call_timeout,
          "deadline of one call to a node (creation and secure wipes included)");
  set.add("scheduler-url", scheduler_url,
          "the scheduler extender (http://host:23000) whose placement API names the volume group "
          "of a new LVM volume without vgName (\"\" = $EXTENDER_SVC_IP and $EXTENDER_SVC_PORT "
          "when set, open-local's variables; else the node chooses)");
}

caf::error apply_logging(const service_options& opts) {
  auto lvl = log::level_from_string(opts.log_level);
  if (!lvl)
    return make_error(errc::config_invalid, "option --log-level: unknown level " + opts.log_level);
  auto fmt = log::format_from_string(opts.log_format);
  if (!fmt)
    return make_error(errc::config_invalid,
                      "option --log-format: unknown format " + opts.log_format);
  log::set_level(*lvl);
  log::set_format(*fmt);
  return {};
}

struct service::impl {
  service_options opts;
  // Declaration order is destruction order in reverse: the metrics outlive
  // the actors and the HTTP server that write to them.
  metrics::registry metrics;
  std::unique_ptr<runtime> rt;
  std::unique_ptr<observability> http;
  std::unique_ptr<csi_gateway> csi;
  std::unique_ptr<agent_server> agent;
  std::unique_ptr<http::server> extender;
  bool stopped = false;
  int exit_code = 0;
};

namespace {

caf::error write_port_file(const std::string& path, uint16_t port) {
  auto tmp = path + ".tmp";
  {
    std::ofstream out{tmp, std::ios::trunc};
    if (!out)
      return make_error(errc::io_error, "cannot write port file " + tmp);
    out << port << '\n';
    if (!out.flush())
      return make_error(errc::io_error, "cannot write port file " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return make_error(errc::io_error, "cannot rename " + tmp + " to " + path);
  return {};
}

/// The API client from --kubeconfig/--master, $KUBECONFIG, the in-cluster
/// service account or ~/.kube/config (client-go's order).
caf::expected<std::shared_ptr<kube::client>> make_kube_client(const service_options& opts) {
  try {
    kube::resolve_options ro;
    ro.kubeconfig = opts.kubeconfig;
    ro.master = opts.master;
    auto loaded = kube::resolve(ro);
    loaded.conn.qps = static_cast<double>(opts.kube_qps);
    loaded.conn.burst = static_cast<unsigned>(opts.kube_burst);
    loaded.conn.user_agent = std::string{"open-local/"} + version_string;
    log::info("service", "Kubernetes API",
              {{"server", loaded.conn.server}, {"from", loaded.source}});
    return std::make_shared<kube::client>(loaded.conn);
  } catch (const std::exception& e) {
    return make_error(errc::config_invalid, std::string{"Kubernetes configuration: "} + e.what());
  }
}

/// The Kubernetes side of `open-local node`: the NodeLocalStorage reporter.
/// In a cluster: a limit found not in force at a reconcile becomes a
/// Warning Event on its pod. The io-limit actor only sends; a detached
/// relay does the blocking API work, so a slow API server never holds up a
/// publish.
caf::expected<std::function<void(const set_io_limit&, const std::string&)>>
io_limit_event_relay(service::impl& p) {
  auto api = make_kube_client(p.opts);
  if (!api)
    return api.error();
  kube::io_limit_event_options eo;
  eo.node_name = p.opts.node_name;
  auto events = std::make_shared<kube::io_limit_events>(*api, eo);
  auto relay = p.rt->system().spawn<caf::detached>([events](caf::event_based_actor* self) {
    auto counts = std::make_shared<std::pair<uint64_t, uint64_t>>(); // (written, not written)
    return caf::behavior{
      [events, counts](const std::string& pod, const std::string& volume,
                       const std::string& error) {
        if (events->report(pod, volume, error))
          ++counts->first;
        else
          ++counts->second;
      },
      [self, counts](inspect_atom) {
        return make_report(self,
                           std::to_string(counts->first) + " Events written, " +
                             std::to_string(counts->second) +
                             " not (pod not on this node, rate limit or API error)",
                           "",
                           "{\"written\":" + std::to_string(counts->first) +
                             ",\"notWritten\":" + std::to_string(counts->second) + "}");
      },
    };
  });
  if (auto id = p.rt->adopt(relay, "io-limit-events", "kube"); !id) {
    caf::anon_send_exit(relay, caf::exit_reason::user_shutdown);
    return std::move(id.error());
  }
  caf::actor_addr addr = relay.address();
  return [addr](const set_io_limit& req, const std::string& error) {
    if (req.pod_uid.empty())
      return;
    // Only the address is kept: a handle would keep the system from stopping.
    if (auto to = caf::actor_cast<caf::actor>(addr))
      caf::anon_send(to, req.pod_uid, req.volume_id, error);
  };
}

caf::error start_reporter(service::impl& p, const node_supervisor_actor& node) {
  auto& opts = p.opts;
  auto api = make_kube_client(opts);
  if (!api)
    return api.error();
  kube::node_reporter_options ro;
  ro.node_name = opts.node_name;
  ro.poll = opts.report_interval;
  ro.heartbeat = opts.heartbeat_interval;
  ro.sysfs = opts.sysfs;
  ro.vg.rescan_interval = opts.rescan_interval;
  const char* force_env = std::getenv("Force_Create_VG");
  ro.force_init = opts.force_init || (force_env != nullptr && std::string{force_env} == "true");
  ro.static_vgs = opts.volume_groups;
  if (!opts.pool_file.empty())
    ro.static_vgs.push_back(opts.pool_vg);
  auto reporter = kube::spawn_node_reporter(p.rt->system(), *api, node, ro);
  if (auto id = p.rt->adopt(reporter, "node-reporter", "kube"); !id) {
    caf::anon_send_exit(reporter, caf::exit_reason::user_shutdown);
    return std::move(id.error());
  }
  // Garbage collection of orphaned volumes (volumes, snapshots, ephemerals).
  auto policy = kube::parse_gc_policy(opts.gc_policy);
  if (!policy)
    return make_error(errc::config_invalid, "option --gc-policy: " + message_of(policy.error()));
  if (*policy == kube::gc_policy::off)
    return {};
  kube::volume_gc_options go;
  go.node_name = opts.node_name;
  go.policy = *policy;
  go.grace = std::chrono::duration_cast<std::chrono::seconds>(opts.gc_grace);
  go.interval = opts.gc_interval;
  go.metrics = &p.metrics;
  auto gc = kube::spawn_volume_gc(p.rt->system(), *api, node, go);
  if (auto id = p.rt->adopt(caf::actor_cast<caf::actor>(gc), "volume-gc", "kube"); !id) {
    caf::anon_send_exit(gc, caf::exit_reason::user_shutdown);
    return std::move(id.error());
  }
  log::info("service", "volume garbage collection",
            {{"policy", opts.gc_policy}, {"grace_ms", opts.gc_grace.count()}});
  return {};
}

caf::error start_cluster_csi(service::impl& p, const std::shared_ptr<kube::client>& api);

/// `open-local controller`: the config controller (every node's
/// NodeLocalStorage spec from the init config), run only where this process
/// holds the leader Lease when election is on.
caf::error start_controller(service::impl& p) {
  auto& opts = p.opts;
  auto api = make_kube_client(opts);
  if (!api)
    return api.error();
  std::optional<kube::leader_options> election;
  if (opts.leader_elect) {
    kube::leader_options lo;
    lo.ns = opts.lease_namespace;
    lo.name = opts.lease_name;
    lo.identity = opts.node_name + "_" + std::to_string(::getpid());
    election = lo;
  }
  kube::config_controller_options co;
  co.init_config = opts.init_config;
  auto client = *api;
  try {
    auto gate = kube::spawn_while_leading(p.rt->system(), client, election,
                                          [client, co](caf::actor_system& sys) {
                                            return kube::spawn_config_controller(sys, client, co);
                                          });
    if (auto id = p.rt->adopt(gate, "config-controller", "kube"); !id) {
      caf::anon_send_exit(gate, caf::exit_reason::user_shutdown);
      return std::move(id.error());
    }
  } catch (const std::invalid_argument& e) {
    return make_error(errc::config_invalid, std::string{"leader election: "} + e.what());
  }
  log::info("service", "config controller",
            {{"init_config", opts.init_config}, {"leader_elect", opts.leader_elect}});
  // Every replica serves CSI: the sidecars elect their own leader, and only
  // the leader's sidecars call their replica's socket.
  if (!opts.csi_endpoint.empty())
    return start_cluster_csi(p, client);
  return {};
}

/// The agent's TLS material from --agent-ca/--agent-cert/--agent-key; the
/// error says who needs it and which file is wrong.
caf::expected<agent_tls> agent_tls_for(const service_options& opts, const std::string& who) {
  auto tls = load_agent_tls(opts.agent_ca, opts.agent_cert, opts.agent_key);
  if (!tls)
    return make_error(code_of(tls.error()), who +
                                              " needs --agent-ca, --agent-cert and "
                                              "--agent-key: " +
                                              message_of(tls.error()));
  return tls;
}

/// `open-local node --agent-address`: the node agent for the controller,
/// mutual TLS only.
caf::error start_agent(service::impl& p, const node_supervisor_actor& node) {
  auto& opts = p.opts;
  auto tls = agent_tls_for(opts, "the node agent (--agent-address)");
  if (!tls)
    return std::move(tls.error());
  agent_server_options ao;
  ao.address = opts.agent_address;
  ao.tls = std::move(*tls);
  ao.allowed_client_names = opts.agent_allowed_clients;
  ao.node_name = opts.node_name;
  ao.version = version_string;
  ao.system = &p.rt->system();
  ao.node = node;
  auto agent = agent_server::start(std::move(ao));
  if (!agent)
    return std::move(agent.error());
  p.agent = std::move(*agent);
  log::info("service", "serving the node agent",
            {{"address", opts.agent_address}, {"port", p.agent->port()}});
  return {};
}

/// `open-local controller --csi-endpoint`: CSI Identity and Controller for
/// the sidecars, each request routed to its volume's node through that
/// node's agent (a node proxy and a volume manager per node, made when first
/// needed; node addresses from the Node objects).
caf::error start_cluster_csi(service::impl& p, const std::shared_ptr<kube::client>& api) {
  auto& opts = p.opts;
  auto tls = agent_tls_for(opts, "the controller's CSI (--csi-endpoint) reaches nodes through "
                                 "their agents and");
  if (!tls)
    return std::move(tls.error());
  agent_client_options base;
  base.tls = std::move(*tls);
  base.connect_timeout = opts.agent_connect_timeout;
  base.call_timeout = opts.agent_call_timeout;
  auto server_name = opts.agent_server_name;
  router_setup rs;
  rs.make_manager = [base, server_name](caf::actor_system& sys, const std::string& node,
                                        const std::string& address) {
    auto co = base;
    co.target = address;
    co.expected_server_name = server_name.empty() ? node : server_name;
    auto proxy = spawn_node_proxy(sys, co, node);
    auto manager = spawn_volume_manager(sys, manager_setup{node, proxy});
    // The proxy lives as long as its manager.
    caf::actor_cast<caf::abstract_actor*>(manager)->attach_functor(
      [proxy] { caf::anon_send_exit(proxy, caf::exit_reason::user_shutdown); });
    return manager;
  };
  auto url = opts.scheduler_url;
  if (url.empty())
    if (const char* ip = std::getenv("EXTENDER_SVC_IP"); ip != nullptr && *ip != '\0') {
      const char* port = std::getenv("EXTENDER_SVC_PORT");
      std::string host = ip;
      if (host.find(':') != std::string::npos)
        host = "[" + host + "]";
      url = "http://" + host + ":" + (port != nullptr && *port != '\0' ? port : "23000");
    }
  if (!url.empty()) {
    // Owned by the router: it ends with it.
    rs.advisor = kube::spawn_placement_advisor(p.rt->system(), url, rs.advice_timeout);
    log::info("service", "volume groups from the scheduler's placement", {{"url", url}});
  }
  auto router = spawn_volume_router(p.rt->system(), std::move(rs));
  if (auto id = p.rt->adopt(caf::actor_cast<caf::actor>(router), "volume-router", "cluster"); !id) {
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
    return std::move(id.error());
  }
  kube::node_directory_options dopts;
  dopts.address_type = opts.node_address_type;
  dopts.agent_port = static_cast<uint16_t>(opts.agent_port);
  auto directory =
    kube::spawn_node_directory(p.rt->system(), api, caf::actor_cast<caf::actor>(router), dopts);
  if (auto id = p.rt->adopt(directory, "node-directory", "kube"); !id) {
    caf::anon_send_exit(directory, caf::exit_reason::user_shutdown);
    return std::move(id.error());
  }
  csi_options copts;
  copts.endpoint = opts.csi_endpoint;
  copts.driver_name = opts.driver_name;
  copts.version = version_string;
  copts.node_id = opts.node_name;
  copts.controller = true;
  copts.node = false;
  auto csi = csi_gateway::start(p.rt->system(), volume_manager_actor{router}, {}, copts);
  if (!csi)
    return std::move(csi.error());
  p.csi = std::move(*csi);
  log::info("service", "serving CSI Controller",
            {{"endpoint", opts.csi_endpoint},
             {"driver", opts.driver_name},
             {"agent_port", opts.agent_port},
             {"address_type", opts.node_address_type}});
  return {};
}

/// POST /apis/scheduling/{ns}/persistentvolumeclaims/{name}?nodeName=: a
/// reservation through the placement actor, answered with open-local's
/// JSON; 400 for a malformed request, 500 with the reason otherwise.
void reserve_route(caf::actor_system& sys, kube::placement_actor placement,
                   const http::request& req, http::responder respond) {
  auto text = [](unsigned status, std::string body) {
    http::response r;
    r.status = status;
    r.body = std::move(body) + "\n";
    return r;
  };
  constexpr std::string_view prefix = "/apis/scheduling/";
  auto rest = std::string_view{req.path}.substr(prefix.size());
  auto slash = rest.find('/');
  constexpr std::string_view middle = "/persistentvolumeclaims/";
  if (slash == std::string_view::npos || rest.substr(slash, middle.size()) != middle ||
      rest.substr(slash + middle.size()).find('/') != std::string_view::npos || slash == 0 ||
      rest.size() == slash + middle.size())
    return respond(
      text(400, "expected /apis/scheduling/{namespace}/persistentvolumeclaims/{name}"));
  kube::reserve_req r;
  r.pvc_namespace = std::string{rest.substr(0, slash)};
  r.pvc_name = std::string{rest.substr(slash + middle.size())};
  r.node = extender::query_param(req.query, "nodeName");
  if (r.node.empty())
    return respond(text(400, "query parameter nodeName is missing"));
  sys.spawn([placement, r, respond, text](caf::event_based_actor* self) {
    self->request(placement, std::chrono::seconds{30}, r)
      .then(
        [respond, r](kube::pvc_reservation& got) {
          auto& a = got.assignment;
          boost::json::object o{
            {"node", got.node},
            {"vgName", a.vg},
            {"device", a.kind == placement::volume_kind::device ? a.unit : ""},
            {"disk", a.kind == placement::volume_kind::mount_point ? a.unit : ""},
            {"volumeType", placement::to_string(a.kind)},
            {"persistentVolumeClaim", r.pvc_namespace + "/" + r.pvc_name}};
          http::response res;
          res.content_type = "application/json";
          res.body = boost::json::serialize(o);
          respond(std::move(res));
        },
        [respond, text](caf::error& err) { respond(text(500, render(err))); });
  });
}

/// `open-local scheduler`: the placement actor (the cluster's view from
/// informers) and the scheduler extender's HTTP endpoints over it.
caf::error start_scheduler(service::impl& p) {
  auto& opts = p.opts;
  auto api = make_kube_client(opts);
  if (!api)
    return api.error();
  auto weights = extender::parse_anti_affinity(opts.anti_affinity);
  if (!weights)
    return make_error(errc::config_invalid,
                      "option --enabled-node-anti-affinity: " + message_of(weights.error()));
  auto how = opts.scheduler_strategy == "spread" ? placement::strategy::spread
                                                 : placement::strategy::binpack;
  auto reader = std::make_shared<kube::placement_reader>();
  kube::placement_options po;
  po.strategy = how;
  po.reservation_ttl = opts.reservation_ttl;
  auto actor = kube::spawn_placement(p.rt->system(), *api, reader, po);
  if (auto id = p.rt->adopt(caf::actor_cast<caf::actor>(actor), "placement", "cluster"); !id) {
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    return std::move(id.error());
  }
  if (opts.publish_capacity) {
    kube::capacity_options co;
    co.namespace_ = opts.capacity_namespace;
    co.interval = opts.capacity_interval;
    auto publisher = kube::spawn_capacity_publisher(p.rt->system(), *api, reader, co);
    if (auto id = p.rt->adopt(caf::actor_cast<caf::actor>(publisher), "capacity-publisher", "kube");
        !id) {
      caf::anon_send_exit(publisher, caf::exit_reason::user_shutdown);
      return std::move(id.error());
    }
  }
  extender::extender_options eo;
  eo.how = how;
  eo.weights = *weights;
  eo.version = std::string{version_string} + "-" + git_commit;
  http::server_options so;
  so.address = opts.extender_address;
  so.port = static_cast<uint16_t>(opts.extender_port);
  so.threads = 2;
  so.max_body_bytes = 64u << 20; // a whole NodeList (nodeCacheCapable: false) of a big cluster
  auto* sys = &p.rt->system();
  auto handler = [reader, actor, eo, sys](http::request req, http::responder respond) {
    auto snap = reader->current();
    auto& path = req.path;
    bool post = req.method == "POST";
    if (path == "/scheduler/predicates" && post)
      return respond(extender::predicates(req.body, snap.get(), eo));
    if (path == "/scheduler/priorities" && post)
      return respond(extender::priorities(req.body, snap.get(), eo));
    if (path == "/cache" && (post || req.method == "GET"))
      return respond(extender::cache(req.query, snap.get()));
    if (path.rfind("/apis/scheduling/", 0) == 0 && post)
      return reserve_route(*sys, actor, req, std::move(respond));
    http::response r;
    if (req.method != "GET") {
      r.status = 405;
      r.body = req.method + " " + path + " is not served\n";
    } else if (path == "/version") {
      r.body = eo.version + "\n";
    } else if (path == "/metrics") {
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = snap->view ? extender::local_metrics(*snap->view) : std::string{};
    } else if (path == "/healthz") {
      r.body = "ok\n";
    } else if (path == "/readyz") {
      bool ok = snap->synced;
      r.status = ok ? 200 : 503;
      r.body = ok ? "ok\n" : "not synced\n";
    } else {
      r.status = 404;
      r.body = path + " is not served\n";
    }
    respond(std::move(r));
  };
  try {
    p.extender = std::make_unique<http::server>(so, handler);
  } catch (const std::system_error& e) {
    return make_error(errc::io_error, "scheduler extender on " + opts.extender_address + ":" +
                                        std::to_string(opts.extender_port) + ": " + e.what());
  }
  log::info("service", "serving the scheduler extender",
            {{"address", opts.extender_address},
             {"port", p.extender->port()},
             {"strategy", opts.scheduler_strategy}});
  return {};
}

/// The node side: discovery, the node supervisor, the volume manager and the
/// CSI gateway (and, for `open-local node`, the NodeLocalStorage reporter).
caf::error start_node(service::impl& p) {
  auto& opts = p.opts;
  auto& m = p.metrics;
  // Standalone's demo pool: a VG on a loop device over a file (made once).
  auto volume_groups = opts.volume_groups;
  if (!opts.pool_file.empty()) {
    auto loop = ensure_file_pool({opts.pool_file, opts.pool_size, opts.pool_vg});
    if (!loop) {
      return std::move(loop.error());
    }
    if (std::find(volume_groups.begin(), volume_groups.end(), opts.pool_vg) == volume_groups.end())
      volume_groups.push_back(opts.pool_vg);
  }

  // Node discovery (blocking, once, before serving), then the node
  // supervisor: one disk actor per block device, one VG actor per managed
  // group (each with its own runner: groups work in parallel, changes within
  // a group are serialized), one volume actor per volume found in the groups
  // (LVM's tags are the database; mounts are read back from the kernel).
  auto devices = discover_block_devices(opts.sysfs);
  annotate_usage(devices);
  std::map<std::string, double> per_kind;
  for (auto& dev : devices)
    per_kind[dev.kind] += 1;
  for (auto& [kind, n] : per_kind)
    m.block_devices.Add({{"kind", kind}}).Set(n);
  log::info("service", "block devices discovered",
            {{"count", devices.size()}, {"sysfs", opts.sysfs}});
  // Device and MountPoint volumes: bad expressions and an unreadable claims
  // file stop the start with a clear error (the supervisor would refuse
  // every claim; the file is never overwritten).
  if (auto filter = device_filter::make(opts.device_include, opts.device_exclude); !filter) {
    return make_error(errc::config_invalid,
                      "option --device-include/--device-exclude: " + message_of(filter.error()));
  }
  if (!opts.state_dir.empty())
    if (auto claims = load_claims(claims_path(opts.state_dir)); !claims) {
      return make_error(code_of(claims.error()),
                        message_of(claims.error()) +
                          " (repair or move the file: it records which volume holds which device "
                          "or mount point)");
    }
  node_setup setup;
  setup.devices = std::move(devices);
  setup.volume_groups = volume_groups;
  setup.vg.rescan_interval = opts.rescan_interval;
  setup.registry = p.rt->registry();
  setup.device_include = opts.device_include;
  setup.device_exclude = opts.device_exclude;
  setup.mount_path = opts.mount_path;
  setup.state_dir = opts.state_dir;
  setup.sysfs_root = opts.sysfs;
  {
    // Only the registry and the CSI gateway keep the supervisor and the
    // volume manager: a handle held here would keep the actor system from
    // shutting down (the gateway drops its handles when it stops).
    auto node = spawn_node_supervisor(p.rt->system(), std::move(setup));
    if (auto id = p.rt->adopt(caf::actor_cast<caf::actor>(node), "node", "node"); !id)
      return std::move(id.error());
    if (opts.kube)
      if (auto err = start_reporter(p, node)) {
        return err;
      }
    if (!opts.agent_address.empty())
      if (auto err = start_agent(p, node)) {
        return err;
      }
    auto manager = spawn_volume_manager(p.rt->system(), manager_setup{opts.node_name, node});
    if (auto id = p.rt->adopt(caf::actor_cast<caf::actor>(manager), "volume-manager", "cluster");
        !id)
      return std::move(id.error());
    if (!opts.csi_endpoint.empty()) {
      // IO limits: one actor per node, asked by the CSI gateway after a
      // publish whose volume context carries limits (and at unpublish).
      io_limit_options iopts;
      iopts.cgroup_root = opts.io_cgroup_root;
      iopts.mode = opts.io_cgroup_mode;
      iopts.reconcile_interval = opts.io_reconcile_interval;
      iopts.standalone_parent = opts.io_cgroup_parent;
      if (!opts.state_dir.empty())
        iopts.state_file = io_limits_path(opts.state_dir);
      if (opts.kube) {
        auto relay = io_limit_event_relay(p);
        if (!relay)
          return std::move(relay.error());
        iopts.on_not_in_force = std::move(*relay);
      }
      auto* metrics = &p.metrics;
      iopts.on_error = [metrics](std::string_view reason) {
        metrics->io_limit_errors.Add({{"reason", std::string{reason}}}).Increment();
      };
      iopts.on_in_force = [metrics](const std::map<std::string, uint64_t>& n) {
        for (auto& [kind, count] : n)
          metrics->io_limited_volumes.Add({{"kind", kind}}).Set(static_cast<double>(count));
      };
      auto io = spawn_io_limit_actor(p.rt->system(), std::move(iopts));
      if (!io && code_of(io.error()) == errc::config_invalid)
        return make_error(errc::config_invalid,
                          "option --io-cgroup-mode: " + message_of(io.error()));
      if (!io)
        return std::move(io.error());
      if (auto id = p.rt->adopt(caf::actor_cast<caf::actor>(*io), "io-limits", "node"); !id)
        return std::move(id.error());
      csi_options copts;
      copts.io_limits = *io;
      copts.endpoint = opts.csi_endpoint;
      copts.driver_name = opts.driver_name;
      copts.version = version_string;
      copts.node_id = opts.node_name;
      copts.max_volumes = static_cast<int64_t>(opts.max_volumes);
      copts.allowed_paths = opts.csi_allowed_paths;
      copts.state_dir = opts.state_dir;
      // In a cluster (`open-local node`) kubelet needs Identity and Node;
      // the controller serves Controller for the sidecars.
      copts.controller = !opts.kube;
      auto csi = csi_gateway::start(p.rt->system(), manager, node, copts);
      if (!csi) {
        return std::move(csi.error());
      }
      p.csi = std::move(*csi);
      log::info(
        "service", "serving CSI",
        {{"endpoint", opts.csi_endpoint}, {"driver", opts.driver_name}, {"node", opts.node_name}});
    }
  }

  return {};
}

} // namespace

namespace {

/// A start that fails half-way: the gateways go first (they hold actor
/// handles, and a handle to a detached actor, such as the io-limit actor,
/// that outlives the actor system makes its destructor wait forever).
void abandon_start(service::impl& p) {
  if (p.csi) {
    p.csi->stop(std::chrono::milliseconds{0});
    p.csi.reset();
  }
  if (p.agent) {
    p.agent->stop(std::chrono::milliseconds{0});
    p.agent.reset();
  }
  if (p.extender) {
    p.extender->stop(std::chrono::milliseconds{0});
    p.extender.reset();
  }
  p.rt->shutdown();
}

} // namespace

caf::expected<std::unique_ptr<service>> service::start(const service_options& opts) {
  auto p = std::make_unique<impl>();
  p->opts = opts;
  auto& m = p->metrics;
  m.build_info
    .Add({{"version", version_string}, {"commit", git_commit}, {"build_type", build_type}})
    .Set(1);
  m.process_start_time.Add({}).Set(
    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  m.ready.Add({}).Set(0);

  p->rt = std::make_unique<runtime>(runtime_options{opts.workers});
  log::info("service", "actor system started", {{"workers", p->rt->workers()}});

  if (opts.node)
    if (auto err = start_node(*p)) {
      abandon_start(*p);
      return err;
    }
  if (opts.controller)
    if (auto err = start_controller(*p)) {
      abandon_start(*p);
      return err;
    }
  if (opts.scheduler)
    if (auto err = start_scheduler(*p)) {
      abandon_start(*p);
      return err;
    }

  observability_options hopts;
  hopts.address = opts.http_address;
  hopts.port = static_cast<uint16_t>(opts.http_port);
  hopts.admin_token_file = opts.admin_token_file;
  auto http = observability::start(p->rt->system(), p->rt->registry(), m, hopts);
  if (!http) {
    abandon_start(*p);
    return std::move(http.error());
  }
  p->http = std::move(*http);
  log::info("service", "serving metrics, health and admin",
            {{"address", opts.http_address}, {"port", p->http->port()}});
  if (!opts.port_file.empty())
    if (auto err = write_port_file(opts.port_file, p->http->port())) {
      p->http->stop(std::chrono::milliseconds{0});
      abandon_start(*p);
      return err;
    }
  p->http->set_ready(true);
  if (p->csi)
    p->csi->set_ready(true);
  return std::unique_ptr<service>{new service(std::move(p))};
}

service::service(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

service::~service() {
  stop();
}

uint16_t service::http_port() const {
  return impl_->http ? impl_->http->port() : 0;
}

runtime& service::actors() {
  return *impl_->rt;
}

int service::stop() {
  auto& p = *impl_;
  if (p.stopped)
    return p.exit_code;
  p.stopped = true;
  auto started = std::chrono::steady_clock::now();
  log::info("service", "stopping: intake closed, draining in-flight work",
            {{"drain_timeout_ms", p.opts.drain_timeout.count()}});
  size_t abandoned = 0;
  if (p.http) {
    p.http->set_ready(false);
    abandoned = p.http->stop(p.opts.drain_timeout);
  }
  if (p.csi) {
    p.csi->set_ready(false);
    p.csi->stop(p.opts.drain_timeout);
    p.csi.reset(); // drops its actor handles before the actors stop
  }
  if (p.agent) {
    p.agent->stop(p.opts.drain_timeout);
    p.agent.reset();
  }
  if (p.extender) {
    abandoned += p.extender->stop(p.opts.drain_timeout);
    p.extender.reset(); // its handler holds actor handles
  }
  p.rt->shutdown();
  p.http.reset();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - started);
  if (abandoned > 0) {
    log::warn("service", "stopped with abandoned requests",
              {{"abandoned", abandoned}, {"took_ms", took.count()}});
    p.exit_code = 1;
  } else {
    log::info("service", "stopped cleanly", {{"took_ms", took.count()}});
  }
  return p.exit_code;
}

void block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_shutdown_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  log::info("service", "shutdown signal received",
            {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  std::thread{[set] {
    int again = 0;
    while (sigwait(&set, &again) != 0) {
    }
    static constexpr char msg[] = "second shutdown signal: exiting at once\n";
    auto ignored = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void) ignored;
    std::_Exit(128 + again);
  }}.detach();
  return sig;
}

} // namespace olocal
