// open-local: one binary, one sub-command per process role.

#include "actors/core/errc.hpp"
#include "actors/core/json.hpp"
#include "actors/core/log.hpp"
#include "actors/core/options.hpp"
#include "actors/node/block_devices.hpp"
#include "actors/node/host_probe.hpp"
#include "gateways/cmd/client.hpp"
#include "gateways/cmd/service.hpp"
#include "gateways/cmd/version.hpp"
#include "gateways/metrics/metrics.hpp"

#include <boost/version.hpp>
#include <caf/config.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace olocal {
namespace {

constexpr const char* top_usage = R"(Usage: open-local COMMAND [options]

Local persistent volumes for Kubernetes: LVM volume groups, whole devices and
mount points of each node, with capacity-aware scheduling.

Commands:
  standalone   run the node and cluster actors in one process, without Kubernetes:
               CSI on a unix socket, metrics, health and admin endpoints
  node         run on a Kubernetes node: the node's actors, CSI on a unix socket and
               the node's NodeLocalStorage status
  controller   run the cluster side: every node's NodeLocalStorage spec from the
               NodeLocalStorageInitConfig (leader-elected), CSI Controller over the
               nodes' agents
  scheduler    run the kube-scheduler extender over the placement actor's view
  volume       create, list, get, expand, delete, publish and unpublish volumes
               through the CSI socket (see 'open-local volume --help')
  snapshot     create, list and delete snapshots through the CSI socket
  discover     print what this host offers: block devices, device-mapper,
               cgroups, LVM
  metrics      list every metric this program exports
  version      print the version

Run 'open-local COMMAND --help' for the options of a command.
)";

int fail(const caf::error& err) {
  std::fprintf(stderr, "open-local: %s\n", render(err).c_str());
  return 2;
}

std::string human_bytes(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return buf;
}

int cmd_version(const std::vector<std::string>& args) {
  option_set set{"version"};
  if (auto err = set.parse(args))
    return fail(err);
  if (set.help_requested()) {
    std::cout << set.usage("Prints the version of this program and of its main libraries.");
    return 0;
  }
  std::cout << "open-local " << version_string << " (commit " << git_commit << ", " << build_type
            << " build)\n"
            << "  CAF " << CAF_VERSION / 10000 << '.' << (CAF_VERSION / 100) % 100 << '.'
            << CAF_VERSION % 100 << ", Boost " << BOOST_VERSION / 100000 << '.'
            << (BOOST_VERSION / 100) % 1000 << '.' << BOOST_VERSION % 100 << '\n';
  return 0;
}

int cmd_discover(const std::vector<std::string>& args) {
  std::string sysfs = "/sys";
  std::string format = "text";
  option_set set{"discover"};
  set.add("sysfs", sysfs, "where sysfs is mounted");
  set.add_choice("format", format, {"text", "json"}, "output format");
  if (auto err = set.parse(args))
    return fail(err);
  if (set.help_requested()) {
    std::cout << set.usage("Prints the block devices, device-mapper, cgroup and LVM facts of this "
                           "host, as the node actors see them.");
    return 0;
  }
  auto host = probe_host();
  auto devices = discover_block_devices(sysfs);
  annotate_usage(devices);
  if (format == "json") {
    std::string out = "{\"host\":" + to_json(host) + ",\"blockDevices\":[";
    for (size_t i = 0; i < devices.size(); ++i)
      out += (i ? "," : "") + to_json(devices[i]);
    std::cout << out << "]}\n";
    return 0;
  }
  std::printf("host\n");
  std::printf("  kernel          %s\n", host.kernel.c_str());
  std::printf("  device-mapper   %s\n",
              host.device_mapper ? "present"
                                 : "absent (LVM volumes need it; tests use the VM harness)");
  std::printf("  cgroups         %s%s%s\n", host.cgroup_mode.c_str(),
              host.cgroup_v2_io ? ", v2 io controller" : "",
              host.cgroup_v1_blkio ? ", v1 blkio throttling" : "");
  std::printf("  lvm             %s\n", host.lvm_version.empty()
                                          ? ("missing: " + host.lvm_error).c_str()
                                          : host.lvm_version.c_str());
  std::printf("\nblock devices (%zu)\n", devices.size());
  std::printf("  %-12s %-9s %-7s %10s %-5s %s\n", "NAME", "KIND", "MAJ:MIN", "SIZE", "MEDIA",
              "USE");
  for (auto& d : devices) {
    auto majmin = std::to_string(d.major) + ":" + std::to_string(d.minor);
    auto reason = d.in_use_reason();
    std::printf("  %-12s %-9s %-7s %10s %-5s %s\n", d.name.c_str(), d.kind.c_str(), majmin.c_str(),
                human_bytes(d.size_bytes).c_str(), d.media_type().c_str(),
                reason.empty() ? "free" : ("in use: " + reason).c_str());
  }
  return 0;
}

int cmd_metrics(const std::vector<std::string>& args) {
  std::string format = "text";
  option_set set{"metrics"};
  set.add_choice("format", format, {"text", "json"}, "output format");
  if (auto err = set.parse(args))
    return fail(err);
  if (set.help_requested()) {
    std::cout << set.usage("Lists every metric this program exports: the names dashboards and "
                           "alerts may use.");
    return 0;
  }
  if (format == "json") {
    std::string out = "[";
    bool first = true;
    for (auto& d : metrics::catalogue()) {
      out += first ? "" : ",";
      first = false;
      out += "{\"name\":" + json_quote(d.name) + ",\"type\":" + json_quote(d.kind) +
             ",\"help\":" + json_quote(d.help) + ",\"labels\":[";
      for (size_t i = 0; i < d.labels.size(); ++i)
        out += (i ? "," : "") + json_quote(d.labels[i]);
      out += "]}";
    }
    std::cout << out << "]\n";
    return 0;
  }
  for (auto& d : metrics::catalogue()) {
    std::string labels;
    for (auto& l : d.labels)
      labels += (labels.empty() ? "" : ",") + std::string{l};
    std::cout << d.name << " (" << d.kind << ")" << (labels.empty() ? "" : " {" + labels + "}")
              << "\n    " << d.help << "\n";
  }
  return 0;
}

/// The long-running commands: parses `args` into `opts` (declared in `set`),
/// prints the help, or runs the service until SIGTERM or SIGINT.
int run_service(service_options& opts, option_set& set, const std::vector<std::string>& args,
                const char* about) {
  if (auto err = set.parse(args))
    return fail(err);
  if (set.help_requested()) {
    std::cout << set.usage(about);
    return 0;
  }
  if (auto err = apply_logging(opts))
    return fail(err);
  auto svc = service::start(opts);
  if (!svc)
    return fail(svc.error());
  log::info(
    set.command(), "ready",
    {{"version", version_string}, {"node", opts.node_name}, {"http_port", (*svc)->http_port()}});
  wait_for_shutdown_signal();
  return (*svc)->stop();
}

int cmd_standalone(const std::vector<std::string>& args) {
  service_options opts;
  option_set set{"standalone"};
  opts.declare(set);
  return run_service(
    opts, set, args,
    "Runs open-local on this host without Kubernetes: the node's actors (disks, volume\n"
    "groups, volumes) and the volume manager in one process, CSI on a unix socket, and\n"
    "/metrics, /healthz, /readyz and /admin/actors. Stops gracefully on SIGTERM or SIGINT.");
}

int cmd_node(const std::vector<std::string>& args) {
  service_options opts;
  opts.kube = true;
  option_set set{"node"};
  opts.declare(set);
  opts.declare_kube(set);
  opts.declare_reporting(set);
  opts.declare_agent(set);
  return run_service(
    opts, set, args,
    "Runs the node side of open-local in a Kubernetes cluster: the node's actors (disks,\n"
    "volume groups, volumes), CSI on a unix socket, and the NodeLocalStorage of this\n"
    "node: its spec applied (resourceToBeInited, the groups listConfig selects) and its\n"
    "status written when it changes and as a heartbeat. Connects with --kubeconfig,\n"
    "$KUBECONFIG, the in-cluster service account or ~/.kube/config, in that order.\n"
    "CSI serves Identity and Node (kubelet's); with --agent-address the node agent serves\n"
    "the controller's calls (create, delete, expand, snapshots) over mutual TLS.\n"
    "Stops gracefully on SIGTERM or SIGINT.");
}

int cmd_controller(const std::vector<std::string>& args) {
  service_options opts;
  opts.node = false;
  opts.controller = true;
  opts.csi_endpoint.clear(); // CSI Controller only when asked for (it needs the agent's TLS)
  option_set set{"controller"};
  opts.declare_common(set);
  opts.declare_kube(set);
  opts.declare_controller(set);
  return run_service(
    opts, set, args,
    "Runs the cluster side of open-local: from the NodeLocalStorageInitConfig it creates\n"
    "and updates one NodeLocalStorage spec per node (open-local's resolution: the global\n"
    "config, then every matching nodesConfig entry in order replaces whole sections) and\n"
    "removes the NodeLocalStorage of a deleted node. With replicas, only the holder of\n"
    "the leader Lease works. With --csi-endpoint it also serves CSI Identity and\n"
    "Controller for the sidecars on every replica, acting on each volume's node through\n"
    "the node's agent (mutual TLS; addresses from the Node objects). Stops gracefully on\n"
    "SIGTERM or SIGINT.");
}

int cmd_scheduler(const std::vector<std::string>& args) {
  service_options opts;
  opts.node = false;
  opts.scheduler = true;
  opts.http_port = 9354; // beside a node's 9353 on the same host
  option_set set{"scheduler"};
  opts.declare_common(set);
  opts.declare_kube(set);
  opts.declare_scheduler(set);
  return run_service(
    opts, set, args,
    "Runs the kube-scheduler extender: the placement actor builds the cluster's view of\n"
    "local storage from the API (NodeLocalStorage capacity; PVs, reservations and inline\n"
    "volumes charged) and answers /scheduler/predicates and /scheduler/priorities with\n"
    "open-local's paths and kube-scheduler's extender JSON, the placement API\n"
    "/apis/scheduling/{ns}/persistentvolumeclaims/{name}?nodeName=, /cache, /version and\n"
    "/metrics (local_*) on --port. Not ready until every informer has synced. Stops\n"
    "gracefully on SIGTERM or SIGINT.");
}

} // namespace
} // namespace olocal

int main(int argc, char** argv) {
  using namespace olocal;
  // Before any thread starts: every thread inherits the blocked mask, so the
  // shutdown signals reach only the thread that waits for them.
  block_shutdown_signals();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << top_usage;
    return args.empty() ? 2 : 0;
  }
  auto command = args[0];
  args.erase(args.begin());
  if (command == "version" || command == "--version")
    return cmd_version(args);
  if (command == "discover")
    return cmd_discover(args);
  if (command == "metrics")
    return cmd_metrics(args);
  if (command == "standalone")
    return cmd_standalone(args);
  if (command == "node")
    return cmd_node(args);
  if (command == "controller")
    return cmd_controller(args);
  if (command == "scheduler")
    return cmd_scheduler(args);
  if (command == "volume")
    return run_volume_command(args);
  if (command == "snapshot")
    return run_snapshot_command(args);
  std::fprintf(stderr, "open-local: unknown command '%s'\n\n%s", command.c_str(), top_usage);
  return 2;
}
